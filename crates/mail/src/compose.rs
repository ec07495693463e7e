//! Outbound messages as bytes: one [`OutboundEmail`] in, one RFC 5322 message out.
//!
//! Deterministic: the same input gives the same bytes (no clock, no random MIME boundary), so
//! a send job that is retried resends exactly what it first tried, and a stored copy matches
//! what left.

use lettre::message::header::{ContentType, HeaderName, HeaderValue, MIME_VERSION_1_0};
use lettre::message::{Mailbox as LettreMailbox, MultiPart, SinglePart};
use lettre::{Address, Message};
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime};

/// References keeps the thread's root and the most recent ids, at most this many in all:
/// enough for every client to thread, short enough that long conversations don't grow the
/// header without bound (some servers refuse headers over a few kilobytes).
pub const MAX_REFERENCES: usize = 20;

/// The last millisecond of the year 9999: RFC 5322 dates have four-digit years.
const MAX_DATE_MILLIS: i64 = 253_402_300_799_999;

#[derive(Debug, Clone)]
pub struct OutboundEmail {
    pub from: crate::Mailbox,
    /// A bare address (the ticket's reply address), when replies should go elsewhere than `from`.
    pub reply_to: Option<String>,
    pub to: crate::Mailbox,
    pub subject: String,
    /// Without angle brackets.
    pub message_id: String,
    /// The message this answers, without angle brackets.
    pub in_reply_to: Option<String>,
    /// The thread's ids, oldest first, without angle brackets.
    pub references: Vec<String>,
    /// An acknowledgement or notification, not a person's reply.
    pub automatic: bool,
    /// UTC milliseconds.
    pub date: i64,
    pub text: String,
    /// May be empty: the message is then text/plain alone.
    pub html: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    #[error("{field}: '{value}' is not a valid email address")]
    Address { field: &'static str, value: String },
    #[error(
        "message_id: '{0}' is not a valid message id (printable ASCII as id-left@id-right, \
         without angle brackets or spaces)"
    )]
    MessageId(String),
    #[error("date: {0} ms is outside the years 1970 to 9999")]
    Date(i64),
    #[error("message: {0}")]
    Build(String),
}

impl ComposeError {
    /// The field of [`OutboundEmail`] that was wrong.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Address { field, .. } => field,
            Self::MessageId(_) => "message_id",
            Self::Date(_) => "date",
            Self::Build(_) => "message",
        }
    }
}

/// The message as it goes over SMTP (CRLF line endings, 7-bit safe headers).
///
/// Subjects and display names are folded to one line (a CR or LF in them could otherwise
/// start a header of the customer's choosing) and RFC 2047-encoded when not ASCII. Ids of
/// other people's messages (`in_reply_to`, `references`) that cannot be written safely are
/// left out rather than failing the send: a reply that threads slightly worse is better than
/// a reply that never leaves. Our own `message_id`, the addresses and the date must be valid.
pub fn compose(email: &OutboundEmail) -> Result<Vec<u8>, ComposeError> {
    if !is_safe_id(&email.message_id) || !email.message_id.contains('@') {
        return Err(ComposeError::MessageId(email.message_id.clone()));
    }
    if !(0..=MAX_DATE_MILLIS).contains(&email.date) {
        return Err(ComposeError::Date(email.date));
    }
    let date = SystemTime::UNIX_EPOCH + Duration::from_millis(email.date.unsigned_abs());

    let mut builder = Message::builder()
        .from(mailbox("from", &email.from)?)
        .to(mailbox("to", &email.to)?)
        .subject(one_line(&email.subject))
        .date(date)
        .message_id(Some(format!("<{}>", email.message_id)));
    if let Some(reply_to) = &email.reply_to {
        builder = builder.reply_to(LettreMailbox::new(None, address("reply_to", reply_to)?));
    }
    if let Some(parent) = email.in_reply_to.as_deref().filter(|id| is_safe_id(id)) {
        builder = builder.in_reply_to(format!("<{parent}>"));
    }
    let references = capped_references(&email.references);
    if !references.is_empty() {
        builder = builder.references(
            references
                .iter()
                .map(|id| format!("<{id}>"))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    if email.automatic {
        // RFC 3834: marks this as an automatic response, so well-behaved responders (and our
        // own intake, see `classify`) never answer it, which is what prevents mail loops.
        // RFC 3834 advises against `Precedence`, so it is not sent.
        builder = builder.raw_header(raw_header("Auto-Submitted", "auto-replied"));
        // Exchange and Outlook ignore Auto-Submitted for their out-of-office and rule replies
        // and honour this instead. Only OOF and AutoReply are suppressed, not "All": "All"
        // also suppresses non-delivery reports, and bounces of our acknowledgements are how
        // a wrong customer address gets noticed.
        builder = builder.raw_header(raw_header("X-Auto-Response-Suppress", "OOF, AutoReply"));
    }
    // A person's reply carries neither header: an out-of-office answer to it tells the agent
    // the customer is away (useful for the commitment), and intake recognises such answers as
    // automatic, so they never trigger an acknowledgement and cannot loop.

    let message = if email.html.is_empty() {
        // A top-level body rather than a single MIME part: lettre ends a part with an extra
        // line break, which would add a blank line to the customer's text.
        builder
            .header(MIME_VERSION_1_0)
            .header(ContentType::TEXT_PLAIN)
            .body(email.text.clone())
    } else {
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(email.text.clone());
        let html = SinglePart::builder()
            .header(ContentType::TEXT_HTML)
            .body(email.html.clone());
        builder.multipart(
            MultiPart::alternative()
                .boundary(boundary(email))
                .singlepart(text)
                .singlepart(html),
        )
    }
    .map_err(|e| ComposeError::Build(e.to_string()))?;
    Ok(message.formatted())
}

/// The root (first) id and the most recent ones, at most [`MAX_REFERENCES`], without ids
/// that are unsafe to write or repeated.
fn capped_references(ids: &[String]) -> Vec<&str> {
    let mut unique: Vec<&str> = Vec::with_capacity(ids.len());
    for id in ids.iter().map(String::as_str).filter(|id| is_safe_id(id)) {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    if unique.len() <= MAX_REFERENCES {
        return unique;
    }
    let mut kept = vec![unique[0]];
    kept.extend_from_slice(&unique[unique.len() - (MAX_REFERENCES - 1)..]);
    kept
}

/// Printable ASCII without white space or angle brackets: what can go between `<` and `>`
/// without changing the header's structure.
fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 250
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
}

/// Derived from everything the body holds, so retries repeat it, and a customer who quotes
/// text back at us cannot make it appear inside a part (they would need a SHA-256 preimage).
fn boundary(email: &OutboundEmail) -> String {
    let mut hash = Sha256::new();
    for part in [&email.message_id, &email.text, &email.html] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    // "=_" cannot occur in quoted-printable or base64 text.
    format!("=_rapport_{hex}")
}

fn raw_header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_owned())
}

fn mailbox(field: &'static str, mailbox: &crate::Mailbox) -> Result<LettreMailbox, ComposeError> {
    let name = mailbox
        .name
        .as_deref()
        .map(one_line)
        .filter(|n| !n.is_empty());
    Ok(LettreMailbox::new(name, address(field, &mailbox.email)?))
}

fn address(field: &'static str, email: &str) -> Result<Address, ComposeError> {
    email
        .trim()
        .parse::<Address>()
        .map_err(|_| ComposeError::Address {
            field,
            value: email.to_owned(),
        })
}

/// Control characters (CR and LF among them) and runs of white space become one space.
fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
