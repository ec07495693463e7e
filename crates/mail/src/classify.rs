//! Recognising mail sent by machines, so Rapport never answers it automatically (RFC 3834)
//! and auto-replies do not reopen tickets or start mail loops.

use mail_parser::Message;

use crate::parse::{one_line, raw_header_values};
use crate::{Automatic, AutomaticKind};

/// Whether `message` was sent by a machine, and which header or rule says so. Rules are
/// checked from the most explicit (RFC 3834 `Auto-Submitted`) to the weakest (sender
/// address and subject conventions); the first that matches decides.
pub fn automatic(message: &Message<'_>) -> Option<Automatic> {
    let headers = |name: &str| raw_header_values(message, name);
    let first = |name: &str| headers(name).into_iter().next();
    let found = |kind, reason: String| Some(Automatic { kind, reason });

    for value in headers("Auto-Submitted") {
        let token = first_token(&value);
        match token.as_str() {
            "" | "no" => {}
            "auto-replied" => {
                return found(AutomaticKind::AutoReply, format!("Auto-Submitted: {token}"));
            }
            _ => return found(AutomaticKind::Generated, format!("Auto-Submitted: {token}")),
        }
    }

    for name in ["X-Autoreply", "X-Autorespond", "X-Autoresponder"] {
        if let Some(value) = first(name)
            && !matches!(first_token(&value).as_str(), "no" | "false" | "0")
        {
            return found(AutomaticKind::AutoReply, format!("{name} header"));
        }
    }

    let precedence = first("Precedence").map(|v| first_token(&v));
    if precedence.as_deref() == Some("auto_reply") {
        return found(AutomaticKind::AutoReply, "Precedence: auto_reply".into());
    }

    let subject = message
        .parts
        .first()
        .and_then(|p| crate::parse::header(&p.headers, &mail_parser::HeaderName::Subject))
        .and_then(|v| v.as_text())
        .map(one_line)
        .unwrap_or_default();
    if let Some(prefix) = auto_reply_subject(&subject) {
        return found(
            AutomaticKind::AutoReply,
            format!("subject starts with \"{prefix}\""),
        );
    }

    if let Some(p) = precedence.as_deref()
        && matches!(p, "bulk" | "list" | "junk")
    {
        return found(AutomaticKind::Bulk, format!("Precedence: {p}"));
    }

    if let Some(value) = first("X-Auto-Response-Suppress") {
        let lower = value.to_ascii_lowercase();
        if lower
            .split(|c: char| c == ',' || c.is_whitespace())
            .any(|t| matches!(t, "all" | "oof" | "autoreply"))
        {
            return found(
                AutomaticKind::Generated,
                format!("X-Auto-Response-Suppress: {}", one_line(&value)),
            );
        }
    }

    for name in ["List-Id", "List-Unsubscribe", "List-Post"] {
        if first(name).is_some() {
            return found(AutomaticKind::Bulk, format!("{name} header"));
        }
    }
    if first("Feedback-ID").is_some() {
        return found(AutomaticKind::Bulk, "Feedback-ID header".into());
    }
    if let Some(mailer) = first("X-Mailer") {
        let lower = mailer.to_ascii_lowercase();
        if let Some(sender) = BULK_MAILERS.iter().find(|m| lower.contains(*m)) {
            return found(
                AutomaticKind::Bulk,
                format!("X-Mailer of bulk sender {sender}"),
            );
        }
    }

    if first("X-Loop").is_some() {
        return found(AutomaticKind::Generated, "X-Loop header".into());
    }

    let from_local = message
        .parts
        .first()
        .and_then(|p| crate::parse::header(&p.headers, &mail_parser::HeaderName::From))
        .and_then(|v| v.as_address())
        .and_then(|a| a.first())
        .and_then(|a| a.address.as_deref())
        .and_then(|a| {
            a.rsplit_once('@')
                .map(|(local, _)| local.to_ascii_lowercase())
        });
    if let Some(local) = from_local
        && is_machine_local_part(&local)
    {
        return found(AutomaticKind::Generated, format!("From address {local}@…"));
    }

    if let Some(rp) = first("Return-Path")
        && rp
            .trim_matches(|c: char| c == '<' || c == '>' || c.is_whitespace())
            .is_empty()
    {
        return found(AutomaticKind::Generated, "empty Return-Path <>".into());
    }

    None
}

/// The value up to any parameters or comment, lower-cased: `auto-replied; owner=x` →
/// `auto-replied`.
fn first_token(value: &str) -> String {
    value
        .split([';', '(', ','])
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

const BULK_MAILERS: [&str; 7] = [
    "mailchimp",
    "sendinblue",
    "brevo",
    "campaign monitor",
    "constant contact",
    "mailjet",
    "klaviyo",
];

fn is_machine_local_part(local: &str) -> bool {
    let compact: String = local
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .collect();
    matches!(
        compact.as_str(),
        "mailerdaemon"
            | "postmaster"
            | "noreply"
            | "donotreply"
            | "dontreply"
            | "bounce"
            | "bounces"
    ) || compact.starts_with("noreply")
        || compact.starts_with("donotreply")
}

/// The auto-reply subject prefix `subject` starts with (after any `Re:`/`AW:`), if any.
fn auto_reply_subject(subject: &str) -> Option<&'static str> {
    const PREFIXES: [&str; 12] = [
        "Out of Office",
        "Out-of-Office",
        "Automatic reply",
        "Auto-Reply",
        "Autoreply",
        "Auto Reply",
        "Abwesenheitsnotiz",
        "Automatische Antwort",
        "Abwesend",
        "Réponse automatique",
        "Absence du bureau",
        "Respuesta automática",
    ];
    let mut rest = subject.trim();
    loop {
        let lower = rest.to_lowercase();
        let stripped = ["re:", "aw:", "fwd:", "fw:", "wg:", "[auto]", "[autoreply]"]
            .iter()
            .find(|p| lower.starts_with(*p))
            .map(|p| p.len());
        match stripped {
            Some(n) if rest.is_char_boundary(n) => rest = rest[n..].trim_start(),
            _ => break,
        }
    }
    let lower = rest.to_lowercase();
    PREFIXES
        .iter()
        .find(|p| lower.starts_with(&p.to_lowercase()))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    fn classify(raw: &str) -> Option<Automatic> {
        let message = MessageParser::default().parse(raw.as_bytes())?;
        automatic(&message)
    }

    fn kind(raw: &str) -> Option<AutomaticKind> {
        classify(raw).map(|a| a.kind)
    }

    const PLAIN: &str = "From: Ann <ann@example.com>\r\nSubject: Printer\r\n\r\nHello";

    #[test]
    fn a_person_is_not_automatic() {
        assert_eq!(classify(PLAIN), None);
        assert_eq!(kind(&format!("Auto-Submitted: no\r\n{PLAIN}")), None);
        assert_eq!(kind(&format!("Precedence: first-class\r\n{PLAIN}")), None);
    }

    #[test]
    fn auto_submitted() {
        let a = classify(&format!(
            "Auto-Submitted: auto-replied (vacation)\r\n{PLAIN}"
        ));
        assert_eq!(a.as_ref().map(|a| a.kind), Some(AutomaticKind::AutoReply));
        assert_eq!(
            a.map(|a| a.reason).as_deref(),
            Some("Auto-Submitted: auto-replied")
        );
        assert_eq!(
            kind(&format!("Auto-Submitted: Auto-Generated\r\n{PLAIN}")),
            Some(AutomaticKind::Generated)
        );
        assert_eq!(
            kind(&format!("Auto-Submitted: auto-notified\r\n{PLAIN}")),
            Some(AutomaticKind::Generated)
        );
    }

    #[test]
    fn autoreply_headers_and_precedence() {
        assert_eq!(
            kind(&format!("X-Autoreply: yes\r\n{PLAIN}")),
            Some(AutomaticKind::AutoReply)
        );
        assert_eq!(
            kind(&format!("X-Autorespond: 1\r\n{PLAIN}")),
            Some(AutomaticKind::AutoReply)
        );
        assert_eq!(
            kind(&format!("Precedence: bulk\r\n{PLAIN}")),
            Some(AutomaticKind::Bulk)
        );
        assert_eq!(
            kind(&format!("Precedence: list\r\n{PLAIN}")),
            Some(AutomaticKind::Bulk)
        );
        assert_eq!(
            kind(&format!("Precedence: junk\r\n{PLAIN}")),
            Some(AutomaticKind::Bulk)
        );
        assert_eq!(
            kind(&format!("Precedence: auto_reply\r\n{PLAIN}")),
            Some(AutomaticKind::AutoReply)
        );
        assert_eq!(
            kind(&format!(
                "X-Auto-Response-Suppress: DR, OOF, AutoReply\r\n{PLAIN}"
            )),
            Some(AutomaticKind::Generated)
        );
        assert_eq!(
            kind(&format!("X-Auto-Response-Suppress: DR\r\n{PLAIN}")),
            None
        );
    }

    #[test]
    fn lists_and_bulk() {
        assert_eq!(
            kind(&format!("List-Id: <users.lists.example.org>\r\n{PLAIN}")),
            Some(AutomaticKind::Bulk)
        );
        assert_eq!(
            kind(&format!(
                "List-Unsubscribe: <https://x.example/u>\r\n{PLAIN}"
            )),
            Some(AutomaticKind::Bulk)
        );
        assert_eq!(
            kind(&format!("Feedback-ID: 1:2:3\r\n{PLAIN}")),
            Some(AutomaticKind::Bulk)
        );
        assert_eq!(
            kind(&format!("X-Mailer: MailChimp Mailer\r\n{PLAIN}")),
            Some(AutomaticKind::Bulk)
        );
        assert_eq!(
            kind(&format!("X-Loop: helpdesk\r\n{PLAIN}")),
            Some(AutomaticKind::Generated)
        );
    }

    #[test]
    fn machine_senders() {
        for from in [
            "MAILER-DAEMON@mx.example.com",
            "postmaster@example.com",
            "no-reply@example.com",
            "noreply@example.com",
            "donotreply@example.com",
            "do-not-reply@example.com",
            "noreply+abc@example.com",
        ] {
            assert_eq!(
                kind(&format!("From: {from}\r\nSubject: x\r\n\r\nbody")),
                Some(AutomaticKind::Generated),
                "{from}"
            );
        }
        assert_eq!(
            kind(&format!("Return-Path: <>\r\n{PLAIN}")),
            Some(AutomaticKind::Generated)
        );
        assert_eq!(
            kind(&format!("Return-Path: <ann@example.com>\r\n{PLAIN}")),
            None
        );
    }

    #[test]
    fn auto_reply_subjects() {
        for subject in [
            "Out of Office: Printer",
            "Automatic reply: Printer",
            "AW: Abwesenheitsnotiz: Drucker",
            "Automatische Antwort: Drucker",
            "RE: Out of office",
        ] {
            assert_eq!(
                kind(&format!(
                    "From: a@example.com\r\nSubject: {subject}\r\n\r\nbody"
                )),
                Some(AutomaticKind::AutoReply),
                "{subject}"
            );
        }
        assert_eq!(
            kind("From: a@example.com\r\nSubject: My office is out of paper\r\n\r\nbody"),
            None
        );
    }
}
