//! Rapport's domain: the rules of customer service as pure code.
//!
//! Architecture invariant: this crate does no I/O — no database, no network, no clock reads, no
//! async. Everything here can be tested with plain values, and every channel and store is an
//! adapter around it.

pub mod access;
pub mod calendar;
pub mod chase;
pub mod chat;
pub mod commitment;
pub mod contact;
pub mod event;
pub mod fields;
#[cfg(test)]
mod labelled;
pub mod macros;
pub mod phone;
pub mod readback;
pub mod routing;
pub mod search;
pub mod search_text;
pub mod sla;
pub mod subject;
pub mod tags;
pub mod ticket;
pub mod time;
pub mod tone;
pub mod update;

pub use access::{Permission, Role};
pub use contact::{Channel, Formality, Preferences};
pub use event::{Actor, ActorKind, Change, EventKind};
pub use fields::{FieldError, FieldType};
pub use ticket::{MessageKind, Priority, TicketRef, TicketStatus};
pub use time::Millis;

/// A value a user or the network sent that breaks a domain rule. `field` names what was wrong
/// (a JSON field, a CLI flag, a config key) so the adapter can say it precisely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct Invalid {
    pub field: String,
    pub problem: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Reads one of a closed set of names (`open`, `pending`, …), or says which names there are.
pub(crate) fn parse_name<T: Copy, const N: usize>(
    field: &str,
    what: &str,
    all: [T; N],
    name: fn(T) -> &'static str,
    text: &str,
) -> Result<T, Invalid> {
    all.into_iter().find(|v| name(*v) == text).ok_or_else(|| {
        Invalid::new(
            field,
            format!(
                "'{text}' is not {what} (expected one of {})",
                all.map(name).join(", ")
            ),
        )
    })
}

/// Required one-line text (a subject, a name): inner white space folded to single spaces,
/// not empty, at most `max_chars` characters.
pub(crate) fn one_line(field: &str, raw: &str, max_chars: usize) -> Result<String, Invalid> {
    let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    if text.chars().count() > max_chars {
        return Err(Invalid::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    Ok(text)
}

/// White space folded to single spaces, at most `max_chars` characters (an ellipsis ends a
/// shortened one): a message's own words quoted back as evidence for a finding.
pub(crate) fn excerpt(text: &str, max_chars: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max_chars {
        return one_line;
    }
    let mut short: String = one_line.chars().take(max_chars.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// The characters people type as an apostrophe.
pub(crate) fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | '´' | '`')
}
