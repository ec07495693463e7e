//! Rapport's email channel. Pure pieces (parse, sanitise, quote/signature split, auto-reply and
//! bounce detection, threading keys, composing outbound messages, acknowledgement templates)
//! and the network adapters around them (SMTP listener, IMAP poller, SMTP sender).
//!
//! API boundary: this crate knows nothing of the database. Received mail goes to a
//! [`MailSink`] (the binary wires it to the store); outbound mail comes in as an
//! [`compose::OutboundEmail`] and leaves as bytes over SMTP.

pub mod bounce;
pub mod classify;
pub mod compose;
pub mod imap;
pub mod parse;
pub mod quote;
pub mod sanitize;
pub mod sender;
pub mod smtp_server;
pub mod templates;
#[cfg(feature = "testing")]
pub mod testing;
pub mod thread;

pub use parse::parse;

/// An address with its display name, as it appeared in a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// Lower-cased, trimmed, without angle brackets.
    pub email: String,
    pub name: Option<String>,
}

/// What Rapport understood of one received message. Produced by [`parse()`] for any bytes
/// at all: malformed input is read as well as possible and what was odd is listed in
/// `problems`, never an error or a panic.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedMail {
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    /// In-Reply-To ids, without angle brackets.
    pub in_reply_to: Vec<String>,
    /// References ids, oldest first, without angle brackets.
    pub references: Vec<String>,
    pub from: Option<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// Decoded (RFC 2047), white space folded to one line; may be empty.
    pub subject: String,
    /// The Date header as UTC milliseconds, when it parses.
    pub date: Option<i64>,
    /// The whole plain-text body: text/plain when there is one, else text derived from HTML.
    pub text: String,
    /// What the sender wrote this time: `text` without quoted history and signature.
    pub new_text: String,
    /// The quoted history cut from `text`.
    pub quoted: String,
    /// The signature cut from `text`.
    pub signature: String,
    /// The HTML body, sanitised (no scripts, no event handlers, remote images held back).
    pub html: Option<String>,
    pub attachments: Vec<ParsedAttachment>,
    /// Set when the message was sent by a machine (auto-reply, bulk, list); such mail is
    /// never answered automatically (RFC 3834).
    pub automatic: Option<Automatic>,
    /// Set for a delivery-status notification (a bounce).
    pub bounce: Option<Bounce>,
    /// What was malformed and how it was read anyway.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAttachment {
    /// Never empty, never a path: a safe file name.
    pub filename: String,
    /// The content type the message declared, lower-case `type/subtype`.
    pub content_type: String,
    /// The type the bytes show (magic numbers), when recognised.
    pub sniffed_type: Option<&'static str>,
    /// Content-ID without angle brackets, for inline images referenced as `cid:`.
    pub content_id: Option<String>,
    pub inline: bool,
    pub data: Vec<u8>,
}

impl ParsedAttachment {
    /// Whether the bytes are a program (Windows PE or ELF), whatever the name and type say.
    pub fn is_executable(&self) -> bool {
        matches!(
            self.sniffed_type,
            Some("application/x-msdownload" | "application/x-executable")
        )
    }

    /// Whether the bytes contradict the declared type, e.g. an executable sent as
    /// `application/pdf`. ZIP-based formats (docx, xlsx, odt, jar, …) count as ZIP; a vague
    /// declaration (`application/octet-stream`) contradicts nothing.
    pub fn type_mismatch(&self) -> bool {
        let Some(sniffed) = self.sniffed_type else {
            return false;
        };
        let declared = self.content_type.as_str();
        if declared == sniffed
            || matches!(
                declared,
                "application/octet-stream" | "application/binary" | ""
            )
        {
            return false;
        }
        match sniffed {
            "application/zip" => {
                !(declared.contains("zip")
                    || declared.contains("openxmlformats")
                    || declared.contains("opendocument")
                    || declared.contains("java-archive")
                    || declared.contains("epub"))
            }
            "image/jpeg" => !matches!(declared, "image/jpg" | "image/pjpeg"),
            "application/gzip" => !declared.contains("gzip") && !declared.contains("tar"),
            "application/x-msdownload" => !matches!(
                declared,
                "application/x-msdos-program"
                    | "application/x-dosexec"
                    | "application/vnd.microsoft.portable-executable"
                    | "application/x-ms-dos-executable"
            ),
            "application/x-executable" => {
                !declared.contains("elf") && !declared.contains("sharedlib")
            }
            _ => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutomaticKind {
    /// Out-of-office, vacation, "we received your message" (RFC 3834 auto-replied).
    AutoReply,
    /// Bulk or list mail, newsletters (Precedence: bulk/list/junk, List-Id, …).
    Bulk,
    /// A system notification (Auto-Submitted: auto-generated, no-reply senders, DSNs).
    Generated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Automatic {
    pub kind: AutomaticKind,
    /// The header or rule that decided it, e.g. `Auto-Submitted: auto-replied`.
    pub reason: String,
}

/// A delivery-status notification (RFC 3464): which of our recipients failed, and which
/// message of ours bounced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    pub recipients: Vec<BouncedRecipient>,
    /// Message-ID of the message that bounced (from the returned message or its headers).
    pub original_message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BouncedRecipient {
    pub email: String,
    /// `failed`, `delayed`, `delivered`, … (Action field).
    pub action: String,
    /// `5.1.1` etc. (Status field).
    pub status: String,
    pub diagnostic: Option<String>,
}

impl Bounce {
    /// The recipients whose delivery failed for good (action `failed`, status 5.x.x).
    pub fn permanent_failures(&self) -> impl Iterator<Item = &BouncedRecipient> {
        self.recipients
            .iter()
            .filter(|r| r.action.eq_ignore_ascii_case("failed") || r.status.starts_with('5'))
    }
}

/// Which channel adapter received a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Smtp,
    Imap,
    Pipe,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Smtp => "smtp",
            Self::Imap => "imap",
            Self::Pipe => "pipe",
        }
    }
}

/// One received message on its way to storage.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub source: Source,
    /// SMTP `MAIL FROM` (empty for bounces); `None` where there is no envelope.
    pub envelope_from: Option<String>,
    /// SMTP `RCPT TO` addresses that were accepted; empty for IMAP and pipe.
    pub recipients: Vec<String>,
    /// The inbox by name when the adapter knows it (IMAP mailbox, `mail-in --inbox`).
    pub inbox: Option<String>,
    /// The message exactly as received.
    pub raw: Vec<u8>,
}

/// Why a delivery or a recipient was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Try again later (SMTP 4xx; IMAP leaves the message unmarked; `mail-in` exits 75).
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Will never succeed (SMTP 5xx).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// Where received mail goes. Implemented by the binary over the store.
#[async_trait::async_trait]
pub trait MailSink: Send + Sync + 'static {
    /// Whether mail to `address` is accepted here (an inbox address, or one of its
    /// plus-addressed reply addresses). Checked at `RCPT TO`, before any data is sent.
    async fn accepts(&self, address: &str) -> Result<bool, DeliveryError>;
    /// Stores the message durably; `Ok` only once it is committed, so an SMTP `250` or an
    /// IMAP `\Seen` flag never promises more than the database holds.
    async fn deliver(&self, delivery: Delivery) -> Result<(), DeliveryError>;
}
