//! The keys a received message is threaded by, in the order they are trusted: a signed reply
//! address naming the ticket, the Message-IDs it answers, the ticket reference in its
//! subject, and last its normalised subject (matched with the sender by the store).
//!
//! Reply addresses are `local+r10234.<tag>@domain`, where `tag` is an HMAC of the ticket
//! number under the installation's secret: nobody can aim mail at a ticket by guessing
//! numbers, and a forged or mangled tag simply falls through to the next key.

use crate::ParsedMail;
use hmac::{Hmac, Mac};
use rapport_core::TicketRef;
use rapport_core::subject::strip_reply_prefixes;
use sha2::Sha256;

/// Message-IDs looked up per message: In-Reply-To and the newest References. A thread is
/// found by its latest ids; thousands of them would only be an attack on the lookup.
const MAX_REFERENCED_IDS: usize = 50;
/// Longer ids are not ids anyone's mail client made (RFC 5322 lines are 998 characters);
/// they are neither stored nor looked up.
pub const MAX_MESSAGE_ID_BYTES: usize = 250;

/// Hex digits of the HMAC kept in a reply address: 48 bits, short enough for an address,
/// far too many to guess.
const TAG_HEX: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ThreadKeys {
    /// The ticket a verified reply address among the recipients names.
    pub token_ticket: Option<i64>,
    /// Message-IDs this message answers: In-Reply-To first, then References newest first.
    pub referenced_ids: Vec<String>,
    /// The ticket a `[R-10234]` in the subject names (unverified: the store checks the
    /// sender belongs to it).
    pub subject_ticket: Option<i64>,
    /// The subject without reply/forward prefixes, list tags and our reference, lower-case,
    /// white space folded; empty when nothing is left.
    pub normalized_subject: String,
    /// The subject starts with a reply or forward prefix (`Re:`, `AW:`, `Fwd:`).
    pub looks_like_reply: bool,
}

impl ThreadKeys {
    /// The keys of `mail`; `recipients` are the envelope recipients when there was an
    /// envelope (SMTP), and To/Cc are searched for reply addresses as well.
    pub fn of(mail: &ParsedMail, recipients: &[String], secret: &[u8]) -> Self {
        let header_recipients = mail.to.iter().chain(&mail.cc).map(|m| m.email.as_str());
        let token_ticket = recipients
            .iter()
            .map(String::as_str)
            .chain(header_recipients)
            .find_map(|address| token_ticket(address, secret));
        let mut referenced_ids: Vec<String> = Vec::new();
        for id in mail.in_reply_to.iter().chain(mail.references.iter().rev()) {
            if referenced_ids.len() == MAX_REFERENCED_IDS {
                break;
            }
            if !id.is_empty() && id.len() <= MAX_MESSAGE_ID_BYTES && !referenced_ids.contains(id) {
                referenced_ids.push(id.clone());
            }
        }
        Self {
            token_ticket,
            referenced_ids,
            subject_ticket: subject_ticket(&mail.subject),
            normalized_subject: normalize_subject(&mail.subject),
            looks_like_reply: strip_reply_prefixes(&mail.subject).1,
        }
    }
}

fn tag(ticket_id: i64, secret: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail; an empty key still yields a tag.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(format!("r{ticket_id}").as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(TAG_HEX);
    for byte in digest.iter().take(TAG_HEX / 2) {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// The reply address for `ticket_id` on an inbox address: `support+r10234.<tag>@example.com`.
pub fn reply_address(inbox_address: &str, ticket_id: i64, secret: &[u8]) -> String {
    let base = base_address(inbox_address);
    let (local, domain) = split_address(&base);
    format!("{local}+r{ticket_id}.{}@{domain}", tag(ticket_id, secret))
}

/// The ticket a reply address names, when its tag verifies.
pub fn token_ticket(address: &str, secret: &[u8]) -> Option<i64> {
    let address = address.trim().trim_matches(|c| c == '<' || c == '>');
    let (local, _) = address.rsplit_once('@')?;
    let (_, detail) = local.split_once('+')?;
    let (number, given) = detail.split_once('.')?;
    let number = number.strip_prefix(['r', 'R'])?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ticket_id: i64 = number.parse().ok().filter(|n| *n > 0)?;
    let expected = tag(ticket_id, secret);
    // Compared in constant time so the tag cannot be found byte by byte.
    let given = given.to_ascii_lowercase();
    let same = given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    same.then_some(ticket_id)
}

/// An address without its `+detail`, lower-case: `Support+r1.x@Example.com` →
/// `support@example.com`. Inboxes are configured by base address.
pub fn base_address(address: &str) -> String {
    let address = address
        .trim()
        .trim_matches(|c| c == '<' || c == '>')
        .to_lowercase();
    let (local, domain) = split_address(&address);
    let local = local.split_once('+').map_or(local, |(base, _)| base);
    if domain.is_empty() {
        local.to_string()
    } else {
        format!("{local}@{domain}")
    }
}

fn split_address(address: &str) -> (&str, &str) {
    address.rsplit_once('@').unwrap_or((address, ""))
}

/// The ticket a `[R-10234]` (or `(R-10234)`, `R-10234:`) in a subject names.
pub fn subject_ticket(subject: &str) -> Option<i64> {
    subject
        .split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | '(' | ')' | ':' | ','))
        .filter(|word| {
            word.len() > TicketRef::PREFIX.len()
                && word
                    .get(..TicketRef::PREFIX.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(TicketRef::PREFIX))
        })
        .find_map(|word| TicketRef::parse(word).map(|r| r.0))
}

/// A subject reduced to what identifies a conversation: `Re: AW: [ext] Router drops Wi-Fi
/// [R-10234]` → `router drops wi-fi`.
pub fn normalize_subject(subject: &str) -> String {
    strip_reply_prefixes(subject)
        .0
        .split_whitespace()
        .filter(|word| {
            let bare = word.trim_matches(|c| matches!(c, '[' | ']' | '(' | ')'));
            TicketRef::parse(bare).is_none() || !bare.to_ascii_uppercase().starts_with("R-")
        })
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mailbox;

    const SECRET: &[u8] = b"test-secret";

    #[test]
    fn reply_addresses_verify_and_forgeries_do_not() {
        let address = reply_address("Support@Example.test", 10234, SECRET);
        assert!(address.starts_with("support+r10234."), "{address}");
        assert!(address.ends_with("@example.test"));
        assert_eq!(token_ticket(&address, SECRET), Some(10234));
        assert_eq!(token_ticket(&address.to_uppercase(), SECRET), Some(10234));
        assert_eq!(token_ticket(&format!("<{address}>"), SECRET), Some(10234));
        // Another ticket's number with this tag, another secret, a cut tag: all refused.
        let forged = address.replace("r10234", "r10235");
        assert_eq!(token_ticket(&forged, SECRET), None);
        assert_eq!(token_ticket(&address, b"other"), None);
        let cut = &address[..address.find('@').unwrap() - 1];
        assert_eq!(token_ticket(&format!("{cut}@example.test"), SECRET), None);
        for junk in [
            "",
            "@",
            "a+@b",
            "a+r.x@b",
            "a+rx.y@b",
            "a+r-1.ab@b",
            "support@example.test",
        ] {
            assert_eq!(token_ticket(junk, SECRET), None, "{junk}");
        }
    }

    #[test]
    fn base_addresses_drop_the_detail() {
        assert_eq!(
            base_address(" <Support+r1.ab@Example.COM>"),
            "support@example.com"
        );
        assert_eq!(base_address("billing@x.test"), "billing@x.test");
        assert_eq!(base_address("nobody"), "nobody");
    }

    #[test]
    fn subjects_name_tickets_only_with_the_prefix() {
        assert_eq!(subject_ticket("Re: Router [R-10234]"), Some(10234));
        assert_eq!(subject_ticket("AW: (r-77) Frage"), Some(77));
        assert_eq!(subject_ticket("R-10001: hello"), Some(10001));
        assert_eq!(subject_ticket("Order 10234 is late"), None);
        assert_eq!(subject_ticket("HR-500 form"), None);
        assert_eq!(subject_ticket("R-abc"), None);
    }

    #[test]
    fn subjects_normalise_across_prefixes_and_languages() {
        let want = "router drops wi-fi";
        for subject in [
            "Router drops Wi-Fi",
            "Re: Router drops Wi-Fi",
            "RE: AW: Router drops  Wi-Fi",
            "Fwd[2]: [ext] Re: Router drops Wi-Fi",
            "SV: Router drops Wi-Fi [R-10234]",
            "Re : WG: Router drops Wi-Fi",
        ] {
            assert_eq!(normalize_subject(subject), want, "{subject}");
        }
        assert_eq!(normalize_subject("Re: "), "");
        assert_eq!(normalize_subject("Reminder: invoice"), "reminder: invoice");
        assert_eq!(normalize_subject("[unterminated tag"), "[unterminated tag");
    }

    #[test]
    fn keys_come_from_envelope_headers_and_subject() {
        let address = reply_address("support@example.test", 42, SECRET);
        let mail = ParsedMail {
            subject: "Re: Printer [R-42]".into(),
            in_reply_to: vec!["b@x".into()],
            references: vec!["a@x".into(), "b@x".into(), "c@x".into()],
            cc: vec![Mailbox {
                email: address.clone(),
                name: None,
            }],
            ..ParsedMail::default()
        };
        let keys = ThreadKeys::of(&mail, &["support@example.test".into()], SECRET);
        assert_eq!(keys.token_ticket, Some(42));
        assert_eq!(keys.referenced_ids, vec!["b@x", "c@x", "a@x"]);
        assert_eq!(keys.subject_ticket, Some(42));
        assert_eq!(keys.normalized_subject, "printer");
        assert!(keys.looks_like_reply);
        let flood = ParsedMail {
            in_reply_to: vec!["x".repeat(MAX_MESSAGE_ID_BYTES + 1)],
            references: (0..70_000).map(|i| format!("{i}@x")).collect(),
            ..ParsedMail::default()
        };
        let keys = ThreadKeys::of(&flood, &[], SECRET);
        assert_eq!(keys.referenced_ids.len(), MAX_REFERENCED_IDS);
        assert_eq!(
            keys.referenced_ids[0], "69999@x",
            "the newest first, the overlong one left out"
        );
        let none = ThreadKeys::of(&ParsedMail::default(), &[], SECRET);
        assert_eq!(none, ThreadKeys::default());
    }
}
