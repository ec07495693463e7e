//! Reading received bytes into a [`ParsedMail`].
//!
//! mail-parser does the MIME work; this module decides what Rapport keeps of it, makes every
//! field safe to show (decoded, sanitised, file names that are never paths) and writes down
//! what was malformed. It never fails: any bytes at all give a `ParsedMail`.

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::{
    Address, Header, HeaderName, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders,
    PartType,
};

use crate::{Mailbox, ParsedAttachment, ParsedMail, bounce, classify, quote, sanitize};

/// How the problem noted when the MIME parser panicked begins; the panic message follows.
/// The message is then kept as plain text. mail-parser checks its own state with
/// `debug_assert!`, so debug builds see this for some corrupt MIME that release builds read.
pub const INTERNAL_FAILURE: &str = "the MIME parser failed on this message";

/// Parses one message. Never panics and never fails: malformed input is read as well as
/// possible and noted in `problems`.
pub fn parse(raw: &[u8]) -> ParsedMail {
    // mail-parser is third-party code fed by strangers; if it ever panics on some input, one
    // bad message must not take the SMTP session or the IMAP poller down with it.
    match catch_unwind(AssertUnwindSafe(|| parse_inner(raw))) {
        Ok(parsed) => parsed,
        Err(payload) => {
            let reason = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let mut parsed = ParsedMail::default();
            parsed.problems.push(format!(
                "{INTERNAL_FAILURE} ({}); its bytes are kept as plain text",
                one_line(&reason)
            ));
            parsed.text = String::from_utf8_lossy(raw).into_owned();
            fill_split(&mut parsed);
            parsed
        }
    }
}

fn parse_inner(raw: &[u8]) -> ParsedMail {
    let mut out = ParsedMail::default();
    if raw.is_empty() {
        out.problems.push("empty message".into());
        return out;
    }
    if raw.contains(&0) {
        out.problems.push("message contains NUL bytes".into());
    }

    // Old Mac mail uses bare CR line endings, which mail-parser does not see as line breaks
    // at all: the whole message would be one header. Only rewrite when there is no LF
    // anywhere, so binary 8-bit parts of ordinary messages are never touched.
    let normalized: Cow<'_, [u8]> = if !raw.contains(&b'\n') && raw.contains(&b'\r') {
        out.problems
            .push("line endings are bare CR; read as line feeds".into());
        Cow::Owned(
            raw.iter()
                .map(|&b| if b == b'\r' { b'\n' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    };
    let raw = normalized.as_ref();

    note_header_lines_without_colon(raw, &mut out.problems);

    let message = MessageParser::default().parse(raw);
    let root = message.as_ref().and_then(|m| m.parts.first());
    // Text without a header block still reaches us (piped files, broken clients); mail-parser
    // either finds nothing or takes the last line for a header name, and keeps no body.
    let has_real_header = root.is_some_and(|r| {
        r.headers
            .iter()
            .any(|h| !matches!(h.name, HeaderName::Other(_)) || !h.value.is_empty())
    });
    let (Some(message), Some(root), true) = (message.as_ref(), root, has_real_header) else {
        out.problems
            .push("no header fields found; the whole message is read as plain text".into());
        out.text = String::from_utf8_lossy(raw).into_owned();
        fill_split(&mut out);
        return out;
    };
    let headers = root.headers.as_slice();

    out.message_id =
        header(headers, &HeaderName::MessageId).and_then(|v| ids(v).into_iter().next());
    if out.message_id.is_none() {
        out.problems.push("no Message-ID header".into());
    }
    out.in_reply_to = header(headers, &HeaderName::InReplyTo)
        .map(ids)
        .unwrap_or_default();
    out.references = header(headers, &HeaderName::References)
        .map(ids)
        .unwrap_or_default();

    out.from = header(headers, &HeaderName::From)
        .and_then(HeaderValue::as_address)
        .and_then(|a| mailboxes(a).into_iter().next());
    if out.from.is_none() {
        out.problems
            .push(if header(headers, &HeaderName::From).is_some() {
                "From header holds no usable address".into()
            } else {
                "no From header".into()
            });
    }
    out.reply_to = header(headers, &HeaderName::ReplyTo)
        .and_then(HeaderValue::as_address)
        .and_then(|a| mailboxes(a).into_iter().next());
    out.to = address_list(headers, &HeaderName::To);
    out.cc = address_list(headers, &HeaderName::Cc);

    out.subject = header(headers, &HeaderName::Subject)
        .and_then(HeaderValue::as_text)
        .map(one_line)
        .unwrap_or_default();

    match header(headers, &HeaderName::Date) {
        Some(HeaderValue::DateTime(dt)) if dt.is_valid() => {
            out.date = dt.to_timestamp().checked_mul(1000);
        }
        Some(_) => out.problems.push("Date header does not parse".into()),
        None => out.problems.push("no Date header".into()),
    }

    read_bodies(message, &mut out);
    read_attachments(message, &mut out);
    note_part_problems(message, raw, &mut out.problems);

    out.bounce = bounce::detect(message);
    // MTAs mark bounces `Auto-Submitted: auto-replied`; what matters downstream is that a
    // bounce is a system notification, not somebody's out-of-office.
    out.automatic = if out.bounce.is_some() {
        Some(crate::Automatic {
            kind: crate::AutomaticKind::Generated,
            reason: "delivery-status notification (bounce)".into(),
        })
    } else {
        classify::automatic(message)
    };

    fill_split(&mut out);
    if out.problems.len() > MAX_PROBLEMS {
        let more = out.problems.len() - (MAX_PROBLEMS - 1);
        out.problems.truncate(MAX_PROBLEMS - 1);
        out.problems
            .push(format!("{more} more problems not listed"));
    }
    out
}

const MAX_PROBLEMS: usize = 25;

fn fill_split(out: &mut ParsedMail) {
    // NUL cannot be stored in a PostgreSQL text column and is never meaningful in mail text.
    if out.text.contains(['\r', '\0']) {
        out.text = out
            .text
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .replace('\0', "");
    }
    let split = quote::split(&out.text);
    out.new_text = split.new_text;
    out.quoted = split.quoted;
    out.signature = split.signature;
}

/// The first header of that name among `headers`.
pub(crate) fn header<'a, 'x>(
    headers: &'a [Header<'x>],
    name: &HeaderName<'_>,
) -> Option<&'a HeaderValue<'x>> {
    headers.iter().find(|h| &h.name == name).map(|h| &h.value)
}

/// Every value of the header called `name` (any case), as raw text with folding undone.
/// Read from the raw bytes so headers mail-parser types (or ignores) read the same.
pub(crate) fn raw_header_values(message: &Message<'_>, name: &str) -> Vec<String> {
    let Some(root) = message.parts.first() else {
        return Vec::new();
    };
    root.headers
        .iter()
        .filter(|h| h.name.as_str().eq_ignore_ascii_case(name))
        .map(|h| {
            let bytes = message
                .raw_message
                .get(h.offset_start as usize..h.offset_end as usize)
                .unwrap_or_default();
            one_line(&String::from_utf8_lossy(bytes))
        })
        .collect()
}

/// Folds white space (including line folding) to single spaces and drops control characters.
pub(crate) fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Message ids from an id header: bare, without angle brackets, empty ones dropped.
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let raw: Vec<&str> = match value {
        HeaderValue::Text(t) => vec![t.as_ref()],
        HeaderValue::TextList(list) => list.iter().map(|t| t.as_ref()).collect(),
        _ => Vec::new(),
    };
    // Brackets separate ids as well as white space does: `<a@x><b@y>` is two ids.
    raw.into_iter()
        .flat_map(|t| t.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | ',')))
        .filter(|t| !t.is_empty() && !t.chars().any(char::is_control))
        .map(str::to_string)
        .collect()
}

fn address_list(headers: &[Header<'_>], name: &HeaderName<'_>) -> Vec<Mailbox> {
    headers
        .iter()
        .filter(|h| &h.name == name)
        .filter_map(|h| h.value.as_address())
        .flat_map(mailboxes)
        .collect()
}

fn mailboxes(address: &Address<'_>) -> Vec<Mailbox> {
    address
        .iter()
        .filter_map(|addr| {
            let name = addr.name.as_deref().map(one_line).filter(|n| !n.is_empty());
            // "From: ann@example.com" without brackets sometimes lands in the name.
            let email = addr
                .address
                .as_deref()
                .or_else(|| addr.name.as_deref().filter(|n| n.contains('@')))?;
            let email = email
                .trim()
                .trim_matches(|c| c == '<' || c == '>')
                .trim()
                .to_lowercase();
            if email.is_empty()
                || email
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ','))
            {
                return None;
            }
            let name = name.filter(|n| !n.eq_ignore_ascii_case(&email));
            Some(Mailbox { email, name })
        })
        .collect()
}

fn read_bodies(message: &Message<'_>, out: &mut ParsedMail) {
    let mut texts = Vec::new();
    for &id in &message.text_body {
        match message.parts.get(id as usize).map(|p| &p.body) {
            Some(PartType::Text(t)) => texts.push(t.to_string()),
            Some(PartType::Html(h)) => texts.push(sanitize::html_to_text(h)),
            _ => {}
        }
    }
    let mut htmls = Vec::new();
    for &id in &message.html_body {
        if let Some(PartType::Html(h)) = message.parts.get(id as usize).map(|p| &p.body) {
            htmls.push(sanitize::sanitize_html(h));
        }
    }
    // A message whose only body is HTML gets its text from the HTML; one that lists the HTML
    // only as an alternative never reaches here with empty `texts`.
    if texts.is_empty() && !htmls.is_empty() {
        for &id in &message.html_body {
            if let Some(PartType::Html(h)) = message.parts.get(id as usize).map(|p| &p.body) {
                texts.push(sanitize::html_to_text(h));
            }
        }
    }
    out.text = texts
        .iter()
        .map(|t| t.replace("\r\n", "\n"))
        .collect::<Vec<_>>()
        .join("\n");
    out.html = if htmls.is_empty() {
        None
    } else {
        Some(htmls.join("\n"))
    };
}

fn read_attachments(message: &Message<'_>, out: &mut ParsedMail) {
    for &id in &message.attachments {
        let Some(part) = message.parts.get(id as usize) else {
            continue;
        };
        let n = out.attachments.len() + 1;
        let attachment = match &part.body {
            PartType::Message(nested) => {
                let subject = nested
                    .parts
                    .first()
                    .and_then(|p| header(&p.headers, &HeaderName::Subject))
                    .and_then(HeaderValue::as_text)
                    .map(one_line)
                    .unwrap_or_default();
                let filename = safe_filename(&format!("{subject}.eml"))
                    .filter(|f| f != ".eml" && f != "eml")
                    .unwrap_or_else(|| format!("message-{n}.eml"));
                ParsedAttachment {
                    filename,
                    content_type: declared_type(part).unwrap_or_else(|| "message/rfc822".into()),
                    sniffed_type: None,
                    content_id: content_id(part),
                    inline: false,
                    data: part.contents().to_vec(),
                }
            }
            PartType::Multipart(_) => continue,
            _ => {
                let data = attachment_bytes(part);
                let default_type = match &part.body {
                    PartType::Text(_) => "text/plain",
                    PartType::Html(_) => "text/html",
                    _ => "application/octet-stream",
                };
                let content_type = declared_type(part).unwrap_or_else(|| default_type.into());
                let filename = part
                    .attachment_name()
                    .and_then(safe_filename)
                    .unwrap_or_else(|| format!("attachment-{n}.{}", extension_for(&content_type)));
                let content_id = content_id(part);
                let disposition_attachment = part
                    .content_disposition()
                    .is_some_and(|d| d.is_attachment());
                ParsedAttachment {
                    filename,
                    content_type,
                    sniffed_type: sniff(&data),
                    inline: content_id.is_some() && !disposition_attachment,
                    content_id,
                    data,
                }
            }
        };
        out.attachments.push(attachment);
    }
}

/// The decoded bytes of an attachment. When its base64 is damaged (truncated upload, stray
/// characters) mail-parser keeps the encoded text; for binary types that is useless, so the
/// readable base64 characters are decoded leniently instead.
fn attachment_bytes(part: &MessagePart<'_>) -> Vec<u8> {
    let contents = part.contents();
    let declared_base64 = part
        .content_transfer_encoding()
        .is_some_and(|e| e.trim().eq_ignore_ascii_case("base64"));
    let textual = part
        .content_type()
        .is_none_or(|ct| ct.ctype().eq_ignore_ascii_case("text"));
    if part.is_encoding_problem
        && declared_base64
        && !textual
        && let Some(decoded) = lenient_base64(contents)
    {
        return decoded;
    }
    contents.to_vec()
}

fn lenient_base64(encoded: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let mut clean: Vec<u8> = encoded
        .iter()
        .copied()
        .take_while(|&b| b != b'=')
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        .collect();
    // A lone trailing character cannot encode a byte.
    if clean.len() % 4 == 1 {
        clean.pop();
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(&clean).ok()
}

fn declared_type(part: &MessagePart<'_>) -> Option<String> {
    let ct = part.content_type()?;
    let main = ct.ctype().trim().to_ascii_lowercase();
    let sub = ct.subtype()?.trim().to_ascii_lowercase();
    let valid = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    (valid(&main) && valid(&sub)).then(|| format!("{main}/{sub}"))
}

fn content_id(part: &MessagePart<'_>) -> Option<String> {
    let value = header(&part.headers, &HeaderName::ContentId)?;
    ids(value).into_iter().next()
}

const MAX_FILENAME_BYTES: usize = 200;

/// A file name safe to store and to offer for download: the last path component only, no
/// control characters, no characters Windows refuses, no leading dots. `None` when nothing
/// usable is left.
pub fn safe_filename(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c => c,
        })
        .collect();
    let cleaned = one_line(&cleaned);
    let cleaned = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if cleaned.is_empty() {
        return None;
    }
    Some(truncate_keeping_extension(cleaned, MAX_FILENAME_BYTES))
}

fn truncate_keeping_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if name.len() - dot <= 16 => name.split_at(dot),
        _ => (name, ""),
    };
    let mut end = max.saturating_sub(ext.len()).min(stem.len());
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ext}", &stem[..end])
}

fn extension_for(content_type: &str) -> &'static str {
    match content_type {
        "application/pdf" => "pdf",
        "image/png" => "png",
        "image/jpeg" | "image/jpg" | "image/pjpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/svg+xml" => "svg",
        "application/zip" => "zip",
        "application/gzip" | "application/x-gzip" => "gz",
        "text/plain" => "txt",
        "text/html" => "html",
        "text/csv" => "csv",
        "text/calendar" => "ics",
        "message/rfc822" => "eml",
        "message/delivery-status" | "text/rfc822-headers" => "txt",
        "application/json" => "json",
        _ => "bin",
    }
}

/// The type the bytes show by their magic numbers, for the common types a help desk sees
/// and the dangerous ones worth flagging. Office Open XML files are ZIP archives and sniff
/// as `application/zip`.
pub fn sniff(data: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| data.starts_with(magic);
    if starts(b"%PDF-") {
        Some("application/pdf")
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if starts(b"RIFF") && data.get(8..12) == Some(b"WEBP") {
        Some("image/webp")
    } else if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08") {
        Some("application/zip")
    } else if starts(&[0x1F, 0x8B]) {
        Some("application/gzip")
    } else if starts(b"MZ") {
        Some("application/x-msdownload")
    } else if starts(b"\x7FELF") {
        Some("application/x-executable")
    } else {
        None
    }
}

/// Notes header lines mail-parser skipped because they have no colon.
fn note_header_lines_without_colon(raw: &[u8], problems: &mut Vec<String>) {
    let mut count = 0usize;
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            continue;
        }
        if !line.contains(&b':') {
            count += 1;
        }
    }
    // A message without any header reads as plain text; that is noted elsewhere.
    if count > 0
        && raw
            .split(|&b| b == b'\n')
            .next()
            .is_some_and(|l| l.contains(&b':'))
    {
        problems.push(format!("{count} header line(s) without a colon ignored"));
    }
}

fn note_part_problems(message: &Message<'_>, raw: &[u8], problems: &mut Vec<String>) {
    // Each check scans the whole message; a hostile one can declare thousands of multiparts.
    let mut boundaries_checked = std::collections::HashSet::new();
    for (i, part) in message.parts.iter().enumerate() {
        if part.is_encoding_problem {
            problems.push(format!(
                "part {i}: body could not be decoded as declared; kept as raw text"
            ));
        }
        let Some(ct) = part.content_type() else {
            continue;
        };
        if ct.ctype().eq_ignore_ascii_case("multipart") {
            match ct.attribute("boundary") {
                None => problems.push(format!(
                    "part {i}: multipart without a boundary; read as text"
                )),
                Some(b) if boundaries_checked.len() < 16 && boundaries_checked.insert(b) => {
                    let closing = format!("--{b}--");
                    if !contains(raw, closing.as_bytes()) {
                        problems.push(format!(
                            "part {i}: multipart boundary \"{}\" is never closed",
                            one_line(b)
                        ));
                    }
                }
                Some(_) => {}
            }
        }
        if let Some(charset) = ct.attribute("charset")
            && ct.ctype().eq_ignore_ascii_case("text")
            && !is_known_charset(charset)
        {
            problems.push(format!(
                "part {i}: unknown charset {} read as UTF-8 with replacements",
                one_line(charset)
            ));
        }
    }
}

fn is_known_charset(charset: &str) -> bool {
    let c = charset.trim().to_ascii_lowercase();
    matches!(
        c.as_str(),
        "utf-8" | "utf8" | "us-ascii" | "ascii" | "unicode-1-1-utf-8" | "x-unicode20utf8"
    ) || charset_decoder(c.as_bytes()).is_some()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn filenames_are_never_paths() {
        assert_eq!(safe_filename("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(
            safe_filename("C:\\Users\\ann\\report.pdf").as_deref(),
            Some("report.pdf")
        );
        assert_eq!(safe_filename(".."), None);
        assert_eq!(safe_filename("  "), None);
        assert_eq!(safe_filename("a\u{0}b\nc.txt").as_deref(), Some("abc.txt"));
        assert_eq!(safe_filename(".htaccess").as_deref(), Some("htaccess"));
        let long = format!("{}.pdf", "é".repeat(300));
        let cut = safe_filename(&long).unwrap_or_default();
        assert!(cut.len() <= MAX_FILENAME_BYTES && cut.ends_with(".pdf"));
    }

    #[test]
    fn sniffs_magic_numbers() {
        assert_eq!(sniff(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(sniff(b"MZ\x90\x00"), Some("application/x-msdownload"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"RIFF"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn empty_and_headerless_input() {
        let p = parse(b"");
        assert!(p.problems.iter().any(|p| p.contains("empty")));
        let p = parse(b"just some words\nand more");
        assert!(p.text.contains("just some words"));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse(&data);
        }

        #[test]
        fn mime_shaped_bytes_never_panic(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("Content-Type: multipart/mixed; boundary=b\r\n".to_string()),
                    Just("Content-Type: message/rfc822\r\n".to_string()),
                    Just("Content-Transfer-Encoding: base64\r\n".to_string()),
                    Just("Content-Transfer-Encoding: quoted-printable\r\n".to_string()),
                    Just("--b\r\n".to_string()),
                    Just("--b--\r\n".to_string()),
                    Just("\r\n".to_string()),
                    Just("Subject: =?utf-8?B?w6k=?=\r\n".to_string()),
                    Just("From: <a@b>\r\n".to_string()),
                    "[ -~]{0,20}\r\n",
                    "\\PC{0,10}",
                ],
                0..40,
            )
        ) {
            let _ = parse(parts.concat().as_bytes());
        }
    }
}
