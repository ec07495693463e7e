//! Live chat rules that need no I/O: what a visitor may send, a new conversation's subject,
//! and the widget's settings (accent colour, allowed origins).

use crate::Invalid;

/// Longest visitor message, in characters (the protocol's limit).
pub const MAX_BODY_CHARS: usize = 4_000;
/// Longest client message id.
pub const MAX_CLIENT_ID_CHARS: usize = 64;
/// Words of the first message a new conversation's subject is made of.
const SUBJECT_WORDS: usize = 8;
/// Longest greeting an admin may set.
pub const MAX_GREETING_CHARS: usize = 500;

/// A visitor message's text, as it is stored: plain text with control characters (other than
/// line breaks and tabs) removed and the ends trimmed. HTML is kept as the characters typed and
/// escaped wherever it is shown, so markup never becomes markup.
pub fn clean_body(field: &str, body: &str) -> Result<String, Invalid> {
    let cleaned: String = body
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect();
    let cleaned = cleaned.trim().to_string();
    if cleaned.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    if cleaned.chars().count() > MAX_BODY_CHARS {
        return Err(Invalid::new(
            field,
            format!("must be at most {MAX_BODY_CHARS} characters"),
        ));
    }
    Ok(cleaned)
}

/// A client message id: 1 to 64 printable ASCII characters.
pub fn check_client_id(client_id: &str) -> Result<(), Invalid> {
    let fine = !client_id.is_empty()
        && client_id.chars().count() <= MAX_CLIENT_ID_CHARS
        && client_id.chars().all(|c| c.is_ascii_graphic());
    if fine {
        Ok(())
    } else {
        Err(Invalid::new(
            "client_id",
            "must be 1 to 64 printable ASCII characters",
        ))
    }
}

/// The subject of a conversation: the first words of its first message, or "Chat with
/// <name>" when the message has no words worth a subject.
pub fn subject_for(first_message: &str, visitor_name: &str) -> String {
    let words: Vec<&str> = first_message.split_whitespace().collect();
    let letters = words.iter().any(|w| w.chars().any(char::is_alphanumeric));
    if !letters {
        let name = visitor_name.trim();
        return if name.is_empty() {
            "Chat".to_string()
        } else {
            format!("Chat with {name}")
        };
    }
    let mut subject = words
        .iter()
        .take(SUBJECT_WORDS)
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    if subject.chars().count() > 120 {
        subject = subject.chars().take(119).collect();
        subject.push('…');
    } else if words.len() > SUBJECT_WORDS {
        subject.push('…');
    }
    subject
}

/// An accent colour: `#rrggbb`, stored lower case.
pub fn check_accent(accent: &str) -> Result<String, Invalid> {
    let accent = accent.trim();
    let fine = accent.len() == 7
        && accent.starts_with('#')
        && accent[1..].chars().all(|c| c.is_ascii_hexdigit());
    if fine {
        Ok(accent.to_ascii_lowercase())
    } else {
        Err(Invalid::new("accent", "must be a colour like #1f5fbf"))
    }
}

/// Allowed origins, one per line (`https://shop.example`, with a port if not the default):
/// checked and normalised (lower case, no trailing slash). Empty means any origin.
pub fn parse_origins(text: &str) -> Result<Vec<String>, Invalid> {
    let mut origins = Vec::new();
    for (i, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let origin = line.trim_end_matches('/').to_ascii_lowercase();
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        let fine = rest.is_some_and(|host| {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        });
        if !fine {
            return Err(Invalid::new(
                format!("allowed_origins[{i}]"),
                format!("'{line}' is not an origin like https://shop.example"),
            ));
        }
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

/// Whether a page on `origin` (the browser's `Origin` header) may open the widget.
pub fn origin_allowed(allowed: &[String], origin: Option<&str>) -> bool {
    if allowed.is_empty() {
        return true;
    }
    origin.is_some_and(|o| {
        let o = o.trim_end_matches('/').to_ascii_lowercase();
        allowed.contains(&o)
    })
}

/// The contrast ratio of white text on `accent` (WCAG 2), so the widget can pick white or
/// near-black text that stays readable on any colour an admin chooses.
pub fn white_contrast(accent: &str) -> f64 {
    let channel = |i: usize| {
        let v = u8::from_str_radix(accent.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0);
        let c = f64::from(v) / 255.0;
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
    1.05 / (l + 0.05)
}

/// The text colour for buttons on `accent`: white when it reads at 4.5:1 or better, else
/// near-black.
pub fn text_on(accent: &str) -> &'static str {
    if white_contrast(accent) >= 4.5 {
        "#ffffff"
    } else {
        "#111111"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_plain_text_within_limits() {
        assert_eq!(
            clean_body("body", "  hi\u{0}\u{7}\nthere ").unwrap(),
            "hi\nthere"
        );
        assert_eq!(clean_body("body", "<b>x</b>").unwrap(), "<b>x</b>");
        assert_eq!(clean_body("body", " \u{1} ").unwrap_err().field, "body");
        assert!(clean_body("body", &"é".repeat(4_000)).is_ok());
        assert!(clean_body("body", &"é".repeat(4_001)).is_err());
    }

    #[test]
    fn client_ids_are_short_printable_ascii() {
        assert!(check_client_id("c-1").is_ok());
        assert!(check_client_id(&"x".repeat(64)).is_ok());
        assert!(check_client_id(&"x".repeat(65)).is_err());
        assert!(check_client_id("").is_err());
        assert!(check_client_id("a b").is_err());
    }

    #[test]
    fn subjects_come_from_the_first_words() {
        assert_eq!(
            subject_for("My router keeps dropping", "Ann"),
            "My router keeps dropping"
        );
        assert_eq!(
            subject_for("one two three four five six seven eight nine", ""),
            "one two three four five six seven eight…"
        );
        assert_eq!(subject_for("?? !!", "Ann"), "Chat with Ann");
        assert_eq!(subject_for("…", " "), "Chat");
        assert!(subject_for(&"x".repeat(500), "").chars().count() <= 120);
    }

    #[test]
    fn accents_and_origins_are_checked() {
        assert_eq!(check_accent("#1F5FBF").unwrap(), "#1f5fbf");
        assert!(check_accent("red").is_err());
        assert!(check_accent("#12345g").is_err());
        let origins = parse_origins("https://Shop.example/\n\nhttp://localhost:8080").unwrap();
        assert_eq!(origins, ["https://shop.example", "http://localhost:8080"]);
        assert_eq!(
            parse_origins("ftp://x").unwrap_err().field,
            "allowed_origins[0]"
        );
        assert!(origin_allowed(&[], None));
        assert!(origin_allowed(&origins, Some("https://shop.example")));
        assert!(!origin_allowed(&origins, Some("https://evil.example")));
        assert!(!origin_allowed(&origins, None));
    }

    #[test]
    fn button_text_stays_readable() {
        assert_eq!(text_on("#1f5fbf"), "#ffffff");
        assert_eq!(text_on("#ffd700"), "#111111");
        assert!(white_contrast("#000000") > 20.0);
    }
}
