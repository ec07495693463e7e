//! Recognising bounces: which recipients failed and which of our messages it was.
//!
//! Standard delivery-status notifications (RFC 3464, `multipart/report`) are read field by
//! field; the plain-text bounces some MTAs still send (qmail, Exim, old Postfix, hosted
//! mail) are read best effort from their well-known wording.

use mail_parser::{HeaderName, HeaderValue, Message, MessagePart, MimeHeaders, PartType};

use crate::parse::header;
use crate::{Bounce, BouncedRecipient};

/// The bounce `message` is, if it is one.
pub fn detect(message: &Message<'_>) -> Option<Bounce> {
    dsn(message).or_else(|| text_bounce(message))
}

fn is_type(part: &MessagePart<'_>, ctype: &str, subtypes: &[&str]) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case(ctype)
            && ct
                .subtype()
                .is_some_and(|s| subtypes.iter().any(|t| s.eq_ignore_ascii_case(t)))
    })
}

fn part_text(part: &MessagePart<'_>) -> String {
    String::from_utf8_lossy(part.contents()).into_owned()
}

/// A standard DSN: a `message/delivery-status` part, inside a `multipart/report` when the
/// sender follows RFC 3464 (we do not insist).
fn dsn(message: &Message<'_>) -> Option<Bounce> {
    let status_part = message
        .parts
        .iter()
        .find(|p| is_type(p, "message", &["delivery-status", "global-delivery-status"]))?;
    let recipients = parse_delivery_status(&part_text(status_part));
    Some(Bounce {
        recipients,
        original_message_id: returned_message_id(message),
    })
}

/// The Message-ID of the message a bounce returns: from an attached `message/rfc822` (or
/// its headers alone), else from headers quoted in the text.
fn returned_message_id(message: &Message<'_>) -> Option<String> {
    for part in &message.parts {
        if let PartType::Message(nested) = &part.body
            && let Some(id) = nested
                .parts
                .first()
                .and_then(|p| header(&p.headers, &HeaderName::MessageId))
                .and_then(first_id)
        {
            return Some(id);
        }
        let headers_only = is_type(part, "text", &["rfc822-headers"])
            || is_type(
                part,
                "message",
                &["rfc822-headers", "global-headers", "rfc822", "global"],
            );
        if headers_only && let Some(id) = find_message_id(&part_text(part)) {
            return Some(id);
        }
    }
    None
}

fn first_id(value: &HeaderValue<'_>) -> Option<String> {
    let id = match value {
        HeaderValue::Text(t) => t.as_ref(),
        HeaderValue::TextList(list) => list.first()?.as_ref(),
        _ => return None,
    };
    clean_id(id)
}

fn clean_id(id: &str) -> Option<String> {
    let id = id.trim().trim_matches(|c| c == '<' || c == '>').trim();
    (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| id.to_string())
}

/// The first `Message-ID:` header in `text` (which may be quoted with `>` or indented, and
/// folded onto the next line).
pub fn find_message_id(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let l = line.trim_start_matches(|c: char| c == '>' || c.is_whitespace());
        let Some(name) = l.get(..11) else {
            continue;
        };
        if !name.eq_ignore_ascii_case("message-id:") {
            continue;
        }
        let mut value = l[11..].trim().to_string();
        if value.is_empty()
            && let Some(next) = lines.get(i + 1)
        {
            value = next.trim().to_string();
        }
        let id = match (value.find('<'), value.find('>')) {
            (Some(open), Some(close)) if open < close => &value[open + 1..close],
            _ => value.split_whitespace().next().unwrap_or_default(),
        };
        if let Some(id) = clean_id(id) {
            return Some(id);
        }
    }
    None
}

/// The per-recipient blocks of a `message/delivery-status` body.
pub fn parse_delivery_status(text: &str) -> Vec<BouncedRecipient> {
    let mut recipients = Vec::new();
    for block in field_blocks(text) {
        let field = |name: &str| {
            block
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        // The original recipient is the address we sent to; the final one may be where an
        // alias or forward led.
        let email = field("Original-Recipient")
            .and_then(typed_address)
            .or_else(|| field("Final-Recipient").and_then(typed_address));
        let Some(email) = email else {
            continue;
        };
        let diagnostic = field("Diagnostic-Code")
            .map(strip_type)
            .filter(|d| !d.is_empty());
        let status = field("Status")
            .and_then(|s| s.split_whitespace().next())
            .map(str::to_string)
            .or_else(|| diagnostic.as_deref().and_then(status_in))
            .unwrap_or_default();
        let action = field("Action")
            .and_then(|a| a.split_whitespace().next())
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| {
                match status.chars().next() {
                    Some('2') => "delivered",
                    Some('4') => "delayed",
                    _ => "failed",
                }
                .to_string()
            });
        recipients.push(BouncedRecipient {
            email,
            action,
            status,
            diagnostic,
        });
    }
    recipients
}

/// Header-like blocks separated by blank lines, with folded lines joined.
fn field_blocks(text: &str) -> Vec<Vec<(String, String)>> {
    let mut blocks = Vec::new();
    let mut block: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if !block.is_empty() {
                blocks.push(std::mem::take(&mut block));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = block.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            block.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    if !block.is_empty() {
        blocks.push(block);
    }
    blocks
}

/// `rfc822; <Ann@Example.com>` → `ann@example.com`.
fn typed_address(value: &str) -> Option<String> {
    let address = strip_type(value);
    let address = address
        .trim()
        .trim_matches(|c| c == '<' || c == '>')
        .trim()
        .to_lowercase();
    (!address.is_empty() && !address.contains(char::is_whitespace)).then_some(address)
}

/// Drops an RFC 3464 type prefix (`rfc822;`, `smtp;`, `X-Postfix;`).
fn strip_type(value: &str) -> String {
    match value.split_once(';') {
        Some((kind, rest))
            if !kind.trim().is_empty()
                && kind
                    .trim()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-') =>
        {
            rest.trim().to_string()
        }
        _ => value.trim().to_string(),
    }
}

/// An enhanced status code (`5.1.1`) in free text, else one derived from an SMTP reply code.
fn status_in(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if !matches!(b, b'2' | b'4' | b'5') || bytes.get(i + 1) != Some(&b'.') {
            continue;
        }
        if i > 0 && (bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b'.') {
            continue;
        }
        let rest = &text[i + 2..];
        let subject_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=3).contains(&subject_len) || rest.as_bytes().get(subject_len) != Some(&b'.') {
            continue;
        }
        let detail = &rest[subject_len + 1..];
        let detail_len = detail.bytes().take_while(u8::is_ascii_digit).count();
        if (1..=3).contains(&detail_len) {
            return Some(format!(
                "{}.{}.{}",
                b as char,
                &rest[..subject_len],
                &detail[..detail_len]
            ));
        }
    }
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 3 && (w.starts_with('4') || w.starts_with('5')))
        .map(|code| format!("{}.0.0", &code[..1]))
}

/// Plain-text bounces: sent by a mailer daemon and worded like one. A person's mail about an
/// "undeliverable parcel" is neither, so it stays a request.
fn text_bounce(message: &Message<'_>) -> Option<Bounce> {
    let root = message.parts.first()?;
    let from = header(&root.headers, &HeaderName::From)
        .and_then(|v| v.as_address())
        .and_then(|a| a.first());
    let from_daemon = from.is_some_and(|a| {
        let local = a
            .address
            .as_deref()
            .and_then(|e| e.rsplit_once('@'))
            .map(|(l, _)| l.to_ascii_lowercase())
            .unwrap_or_default();
        let name = a.name.as_deref().unwrap_or_default().to_ascii_lowercase();
        matches!(
            local.as_str(),
            "mailer-daemon" | "postmaster" | "mailerdaemon"
        ) || name.contains("mail delivery")
    });
    let subject = header(&root.headers, &HeaderName::Subject)
        .and_then(|v| v.as_text())
        .unwrap_or_default()
        .to_lowercase();
    let subject_bounce = [
        "undeliver",
        "delivery status notification",
        "mail delivery failed",
        "returned mail",
        "failure notice",
        "delivery failure",
        "delivery has failed",
        "nondeliverable",
        "mail delivery delayed",
    ]
    .iter()
    .any(|s| subject.contains(s));
    if !from_daemon {
        return None;
    }

    let text: String = message
        .text_body
        .iter()
        .filter_map(|&id| message.parts.get(id as usize))
        .filter_map(|p| match &p.body {
            PartType::Text(t) => Some(t.as_ref()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let lower = text.to_lowercase();
    let marker = [
        "qmail-send program",
        "address(es) failed",
        "could not be delivered to one or more",
        "following recipient",
        "following addresses had permanent",
        "delivery to the following",
        "message could not be delivered",
        "undeliverable",
    ]
    .iter()
    .any(|m| lower.contains(m));

    let mut recipients = angle_recipients(&text);
    if recipients.is_empty() {
        recipients = listed_recipients(&text);
    }
    if !marker && !subject_bounce {
        return None;
    }
    let delayed = [
        "delayed",
        "will retry",
        "still trying",
        "not yet been delivered",
    ]
    .iter()
    .any(|w| subject.contains(w) || lower.contains(w));
    let recipients = recipients
        .into_iter()
        .map(|(email, diagnostic)| {
            let status = diagnostic
                .as_deref()
                .and_then(status_in)
                .unwrap_or_else(|| if delayed { "4.0.0" } else { "5.0.0" }.into());
            BouncedRecipient {
                email,
                action: if delayed { "delayed" } else { "failed" }.into(),
                status,
                diagnostic,
            }
        })
        .collect();
    let original_message_id = returned_message_id(message).or_else(|| find_message_id(&text));
    Some(Bounce {
        recipients,
        original_message_id,
    })
}

const MAX_DIAGNOSTIC: usize = 1000;

fn push_diagnostic(diagnostic: &mut String, text: &str) {
    if diagnostic.len() < MAX_DIAGNOSTIC {
        if !diagnostic.is_empty() {
            diagnostic.push(' ');
        }
        diagnostic.push_str(text.trim());
    }
}

fn looks_like_address(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches(':').trim();
    let s = s.trim_matches(|c| c == '<' || c == '>');
    let (local, domain) = s.rsplit_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !s.contains(char::is_whitespace)
        && !s.contains(['<', '>', '(', ')', ',', ';', '"']);
    ok.then(|| s.to_lowercase())
}

/// qmail and Postfix: `<ann@example.com>:` at the start of a line, the reason after it and on
/// the following lines up to a blank one.
fn angle_recipients(text: &str) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let trimmed = line.trim_end_matches('\r');
        if trimmed.starts_with('<')
            && let Some(close) = trimmed.find(">:")
            && let Some(email) = looks_like_address(&trimmed[1..close])
        {
            if let Some((e, d)) = current.take() {
                out.push((e, Some(d).filter(|d| !d.is_empty())));
            }
            let mut diagnostic = String::new();
            push_diagnostic(&mut diagnostic, &trimmed[close + 2..]);
            current = Some((email, diagnostic));
        } else if let Some((_, diagnostic)) = current.as_mut() {
            if trimmed.trim().is_empty() {
                if let Some((e, d)) = current.take() {
                    out.push((e, Some(d).filter(|d| !d.is_empty())));
                }
            } else {
                push_diagnostic(diagnostic, trimmed);
            }
        }
    }
    if let Some((e, d)) = current.take() {
        out.push((e, Some(d).filter(|d| !d.is_empty())));
    }
    out
}

/// Exim and others: a sentence like "The following address(es) failed:", then each address on
/// its own indented line with the reason indented further below.
fn listed_recipients(text: &str) -> Vec<(String, Option<String>)> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| {
        let l = l.to_lowercase();
        l.contains("address(es) failed")
            || l.contains("following recipient")
            || l.contains("following address")
            || l.contains("could not be delivered to the following")
    }) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut current: Option<(String, String, usize)> = None;
    for line in &lines[start + 1..] {
        let indent = line.len() - line.trim_start().len();
        let content = line.trim();
        if content.is_empty() {
            if let Some((e, d, _)) = current.take() {
                out.push((e, Some(d).filter(|d| !d.is_empty())));
            }
            continue;
        }
        if content.starts_with("------") {
            break;
        }
        let address = content
            .split_whitespace()
            .next()
            .and_then(looks_like_address);
        match (&mut current, address) {
            (Some((_, diagnostic, base)), _) if indent > *base => {
                push_diagnostic(diagnostic, content);
            }
            (_, Some(email)) => {
                if let Some((e, d, _)) = current.take() {
                    out.push((e, Some(d).filter(|d| !d.is_empty())));
                }
                let rest = content
                    .split_once(char::is_whitespace)
                    .map(|(_, r)| r)
                    .unwrap_or_default();
                let mut diagnostic = String::new();
                if !rest.trim().is_empty() {
                    push_diagnostic(&mut diagnostic, rest);
                }
                current = Some((email, diagnostic, indent));
            }
            (Some((_, diagnostic, _)), None) => push_diagnostic(diagnostic, content),
            (None, None) => {
                if !out.is_empty() && indent == 0 {
                    break;
                }
            }
        }
    }
    if let Some((e, d, _)) = current.take() {
        out.push((e, Some(d).filter(|d| !d.is_empty())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_writing_about_undeliverable_things_are_not_bounces() {
        for raw in [
            "From: Ann <ann@example.com>\r\nSubject: Undeliverable parcel\r\n\r\nMy package is undeliverable. Order 12345.\r\n",
            "From: Bo <bo@example.com>\r\nSubject: Fwd: Mail delivery failed\r\n\r\nWhat does this mean?\r\n<billing@shop.test>: 550 no such user\r\n",
        ] {
            let message = mail_parser::MessageParser::default()
                .parse(raw.as_bytes())
                .expect("parses");
            assert_eq!(detect(&message), None, "{raw}");
        }
        let daemon = "From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\nThis is the mail system.\r\n<gone@example.org>: host said: 550 5.1.1 unknown\r\n";
        let message = mail_parser::MessageParser::default()
            .parse(daemon.as_bytes())
            .expect("parses");
        let bounce = detect(&message).expect("a daemon's bounce");
        assert_eq!(bounce.recipients[0].email, "gone@example.org");
    }

    #[test]
    fn delivery_status_fields() {
        let text = "Reporting-MTA: dns; mx.example.com\r\nX-Postfix-Queue-ID: 4Z\r\nArrival-Date: Tue, 5 Mar 2024\r\n\r\nFinal-Recipient: rfc822; Nobody@Example.org\r\nOriginal-Recipient: rfc822;nobody@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.example.org\r\nDiagnostic-Code: smtp; 550 5.1.1 <nobody@example.org>: Recipient\r\n    address rejected: User unknown\r\n\r\nFinal-Recipient: rfc822; slow@example.net\r\nAction: delayed\r\nStatus: 4.4.1 (timeout)\r\n";
        let r = parse_delivery_status(text);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].email, "nobody@example.org");
        assert_eq!(r[0].action, "failed");
        assert_eq!(r[0].status, "5.1.1");
        assert_eq!(
            r[0].diagnostic.as_deref(),
            Some("550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown")
        );
        assert_eq!(r[1].email, "slow@example.net");
        assert_eq!(r[1].action, "delayed");
        assert_eq!(r[1].status, "4.4.1");
    }

    #[test]
    fn status_codes_in_text() {
        assert_eq!(
            status_in("550 5.1.1 User unknown").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(status_in("v1.5.1.1 and 452 full").as_deref(), Some("4.0.0"));
        assert_eq!(status_in("550 no such user").as_deref(), Some("5.0.0"));
        assert_eq!(status_in("no code here").as_deref(), None);
        assert_eq!(status_in("5.").as_deref(), None);
        assert_eq!(status_in("é5.1.1é").as_deref(), Some("5.1.1"));
    }

    #[test]
    fn message_ids_in_quoted_headers() {
        assert_eq!(
            find_message_id("Subject: x\nMessage-Id: <abc@example.com>\n").as_deref(),
            Some("abc@example.com")
        );
        assert_eq!(
            find_message_id("  Message-ID:\n    <folded@example.com>\n").as_deref(),
            Some("folded@example.com")
        );
        assert_eq!(find_message_id("Message-ID:").as_deref(), None);
        assert_eq!(find_message_id("Message-IDé").as_deref(), None);
    }
}
