//! HTML from strangers, made safe to show, and made readable as plain text.
//!
//! The raw message is always kept; this is only what a browser gets to see. Remote images
//! are held back because loading them tells the sender the mail was opened (and from where):
//! their address moves to `data-remote-src` so a UI can offer "load remote images".

use std::collections::HashSet;

use ammonia::{Builder, UrlRelative};

/// The attribute that holds a remote image's address instead of `src`.
pub const REMOTE_SRC_ATTR: &str = "data-remote-src";

/// A scheme no real URL has: the attribute filter tags remote image sources with it, and the
/// serialised output is then rewritten to move them into `data-remote-src`. Sources that
/// arrive with this scheme already fail ammonia's scheme check before the filter runs.
const REMOTE_MARKER: &str = "x-rapport-remote:";

/// Sanitises an HTML body for display: no scripts, styles sheets, frames, objects or forms,
/// no event handlers, no `javascript:` (or other active) URLs, links open in a new tab
/// without referrer, remote images held back, `cid:` and raster `data:` images allowed.
pub fn sanitize_html(html: &str) -> String {
    let mut builder = Builder::default();
    builder
        .add_tags(["font", "center"])
        .add_tag_attributes("font", ["color", "face", "size"])
        .add_tag_attributes("td", ["valign", "width", "height", "bgcolor", "nowrap"])
        .add_tag_attributes("th", ["valign", "width", "height", "bgcolor", "nowrap"])
        .add_tag_attributes(
            "table",
            ["width", "border", "cellpadding", "cellspacing", "bgcolor"],
        )
        .add_tag_attributes("tr", ["valign", "bgcolor"])
        .add_tag_attributes("div", ["align"])
        .add_tag_attributes("p", ["align"])
        .add_generic_attributes(["style", "dir"])
        .filter_style_properties(HashSet::from([
            "color",
            "background-color",
            "font-weight",
            "font-style",
            "font-size",
            "font-family",
            "text-align",
            "text-decoration",
            "vertical-align",
            "line-height",
            "white-space",
            "margin",
            "margin-top",
            "margin-bottom",
            "margin-left",
            "margin-right",
            "padding",
            "padding-top",
            "padding-bottom",
            "padding-left",
            "padding-right",
            "border",
            "border-collapse",
            "width",
            "height",
            "max-width",
        ]))
        .add_clean_content_tags(["title"])
        .add_url_schemes(["cid", "data"])
        // Relative URLs would resolve against Rapport's own origin.
        .url_relative(UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .set_tag_attribute_value("a", "target", "_blank")
        .attribute_filter(|element, attribute, value| {
            let lower = value.trim().to_ascii_lowercase();
            if element == "img" && attribute == "src" {
                if lower.starts_with("cid:") || is_raster_data_url(&lower) {
                    Some(value.into())
                } else if lower.starts_with("http://") || lower.starts_with("https://") {
                    Some(format!("{REMOTE_MARKER}{}", value.trim()).into())
                } else {
                    None
                }
            } else if lower.starts_with("data:") || lower.starts_with("cid:") {
                // data: links can carry whole HTML documents; cid: means nothing outside img.
                None
            } else {
                Some(value.into())
            }
        });
    let cleaned = builder.clean(html).to_string();
    // Attribute values are serialised with `"` escaped, so ` src="x-rapport-remote:` can only
    // be an attribute the filter wrote.
    cleaned.replace(
        &format!(" src=\"{REMOTE_MARKER}"),
        &format!(" {REMOTE_SRC_ATTR}=\""),
    )
}

fn is_raster_data_url(lower: &str) -> bool {
    ["png", "jpeg", "jpg", "gif", "webp"].iter().any(|t| {
        lower.starts_with(&format!("data:image/{t};"))
            || lower.starts_with(&format!("data:image/{t},"))
    })
}

/// Readable plain text from HTML: block elements and `<br>` become line breaks, list items
/// get a dash, `<blockquote>` content is prefixed with `> ` (so quote detection works on
/// HTML-only replies), entities are decoded, scripts and styles dropped.
pub fn html_to_text(html: &str) -> String {
    // ammonia (html5ever underneath) does the hard part: it parses the HTML as a browser
    // would and re-serialises it with only the structure tags below, no attributes, text
    // escaped. That output is regular enough for the small scanner that follows.
    let mut builder = Builder::empty();
    builder
        .tags(HashSet::from(STRUCTURE_TAGS))
        .clean_content_tags(HashSet::from([
            "script", "style", "title", "head", "template",
        ]))
        .tag_attributes(Default::default())
        .generic_attributes(HashSet::new())
        .link_rel(None);
    let structured = builder.clean(html).to_string();
    TextWriter::default().run(&structured)
}

const STRUCTURE_TAGS: [&str; 27] = [
    "p",
    "br",
    "div",
    "li",
    "ul",
    "ol",
    "tr",
    "td",
    "th",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "hr",
    "dt",
    "dd",
    "dl",
    "section",
    "article",
    "header",
    "footer",
    "address",
];

#[derive(Default)]
struct TextWriter {
    lines: Vec<String>,
    line: String,
    quote_depth: usize,
    pre_depth: usize,
}

impl TextWriter {
    fn run(mut self, structured: &str) -> String {
        let mut rest = structured;
        while !rest.is_empty() {
            match rest.find('<') {
                Some(0) => {
                    let end = rest.find('>').map_or(rest.len(), |i| i + 1);
                    let tag = &rest[..end];
                    self.tag(tag);
                    rest = &rest[end..];
                }
                Some(i) => {
                    self.text(&rest[..i]);
                    rest = &rest[i..];
                }
                None => {
                    self.text(rest);
                    rest = "";
                }
            }
        }
        self.flush();
        let text = self.lines.join("\n");
        collapse_blank_lines(&text)
    }

    fn tag(&mut self, tag: &str) {
        let closing = tag.starts_with("</");
        let name: String = tag
            .trim_start_matches(['<', '/'])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match name.as_str() {
            "br" => self.break_line(),
            "hr" => {
                self.flush();
                self.lines.push(self.prefix() + "----");
            }
            "blockquote" => {
                self.flush();
                self.blank();
                if closing {
                    self.quote_depth = self.quote_depth.saturating_sub(1);
                } else {
                    self.quote_depth += 1;
                }
            }
            "pre" => {
                self.flush();
                if closing {
                    self.pre_depth = self.pre_depth.saturating_sub(1);
                } else {
                    self.pre_depth += 1;
                }
            }
            "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "table" | "ul" | "ol" | "dl" => {
                self.flush();
                self.blank();
            }
            "li" if !closing => {
                self.flush();
                self.line.push_str("- ");
            }
            "td" | "th" if !closing => {
                if !self.line.trim().is_empty() {
                    self.line.push(' ');
                }
            }
            _ => self.flush(),
        }
    }

    fn text(&mut self, escaped: &str) {
        let text = decode_entities(escaped);
        if self.pre_depth > 0 {
            let mut parts = text.split('\n');
            if let Some(first) = parts.next() {
                self.line.push_str(first);
            }
            for part in parts {
                self.break_line();
                self.line.push_str(part);
            }
            return;
        }
        let starts_with_space = text.starts_with(|c: char| c.is_whitespace());
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.is_empty() {
            if !text.is_empty() && !self.line.is_empty() && !self.line.ends_with(' ') {
                self.line.push(' ');
            }
            return;
        }
        if starts_with_space && !self.line.is_empty() && !self.line.ends_with(' ') {
            self.line.push(' ');
        }
        self.line.push_str(&words.join(" "));
        if text.ends_with(|c: char| c.is_whitespace()) {
            self.line.push(' ');
        }
    }

    fn prefix(&self) -> String {
        "> ".repeat(self.quote_depth)
    }

    fn break_line(&mut self) {
        let line = self.prefix() + self.line.trim_end();
        self.lines.push(line.trim_end().to_string());
        self.line.clear();
    }

    fn flush(&mut self) {
        if !self.line.trim().is_empty() {
            self.break_line();
        } else {
            self.line.clear();
        }
    }

    fn blank(&mut self) {
        if self.lines.last().is_some_and(|l| !l.is_empty()) {
            self.lines.push(String::new());
        }
    }
}

fn collapse_blank_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.lines() {
        let trimmed = line.trim_end();
        let is_blank = trimmed.trim_start_matches(['>', ' ']).is_empty();
        if is_blank {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(trimmed);
        out.push('\n');
    }
    out.trim_matches('\n').to_string()
}

/// Decodes the entities html5ever's serialiser writes (and numeric ones, in case).
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let window = &rest.as_bytes()[..rest.len().min(12)];
        let Some(semi) = window.iter().position(|&b| b == b';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_active_urls_are_removed() {
        let dirty = r#"<p onclick="x()">Hi<script>alert(1)</script></p>
            <a href="javascript:alert(1)">click</a><a href="https://example.com/x">ok</a>
            <a href="data:text/html;base64,PHNjcmlwdD4=">d</a>
            <iframe src="https://evil.example"></iframe><object data="x"></object>
            <form action="https://evil.example"><input name=a></form>
            <style>body{display:none}</style><img src=x onerror="alert(1)">"#;
        let clean = sanitize_html(dirty);
        for bad in [
            "<script",
            "onclick",
            "onerror",
            "javascript:",
            "<iframe",
            "<object",
            "<form",
            "<input",
            "<style",
            "data:text",
        ] {
            assert!(!clean.contains(bad), "{bad} survived in {clean}");
        }
        assert!(clean.contains(r#"href="https://example.com/x""#));
        assert!(clean.contains("noopener noreferrer nofollow"));
        assert!(clean.contains(r#"target="_blank""#));
    }

    #[test]
    fn remote_images_are_held_back() {
        let clean = sanitize_html(
            r#"<img src="https://tracker.example/p.gif?u=1&amp;v=2" alt="t"><img src="cid:logo@x"><img src="data:image/png;base64,iVBORw0KGgo="><img src="//evil.example/x.png"><img src="/relative.png"><img src="x-rapport-remote:https://a.example/">"#,
        );
        assert!(!clean.contains(r#" src="https://"#), "{clean}");
        assert!(
            clean.contains(r#"data-remote-src="https://tracker.example/p.gif?u=1&amp;v=2""#),
            "{clean}"
        );
        assert!(clean.contains(r#"src="cid:logo@x""#));
        assert!(clean.contains(r#"src="data:image/png;base64,"#));
        assert!(!clean.contains("evil.example"));
        assert!(!clean.contains("relative.png"));
        assert_eq!(clean.matches(REMOTE_SRC_ATTR).count(), 1, "{clean}");
    }

    #[test]
    fn svg_data_images_are_not_allowed() {
        let clean = sanitize_html(r#"<img src="data:image/svg+xml;base64,PHN2Zz4=">"#);
        assert!(!clean.contains("data:"), "{clean}");
    }

    #[test]
    fn html_becomes_readable_text() {
        let text = html_to_text(
            "<html><head><title>T</title><style>p{}</style></head><body><p>Hello&nbsp;there,</p>\
             <p>line one<br>line two</p><ul><li>first</li><li>second &amp; last</li></ul>\
             <script>var x = 1;</script><blockquote><p>old text</p></blockquote><p>5 &lt; 6</p></body></html>",
        );
        assert_eq!(
            text,
            "Hello there,\n\nline one\nline two\n\n- first\n- second & last\n\n> old text\n\n5 < 6"
        );
    }

    #[test]
    fn html_to_text_handles_junk() {
        assert_eq!(html_to_text(""), "");
        assert_eq!(html_to_text("<<<>>>&&&;"), "<<<>>>&&&;");
        assert_eq!(
            html_to_text("&#x1F600; &#128512; &#xD800; &bogus;"),
            "😀 😀 \u{FFFD} &bogus;"
        );
        let _ = html_to_text("<pre>a\n  b</pre><table><tr><td>x</td><td>y</td></tr></table>");
    }
}
