//! Tickets: statuses and how they may change, priorities, the human reference.

use crate::Invalid;
use serde::{Deserialize, Serialize};

/// Where a ticket stands. `New` is only ever the first status; `Closed` is final (a customer
/// who writes to a closed ticket starts a follow-up), and only a solved ticket can be closed,
/// so nothing is closed without first being marked as solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    New,
    Open,
    Pending,
    OnHold,
    Solved,
    Closed,
}

impl TicketStatus {
    pub const ALL: [TicketStatus; 6] = [
        Self::New,
        Self::Open,
        Self::Pending,
        Self::OnHold,
        Self::Solved,
        Self::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Open => "open",
            Self::Pending => "pending",
            Self::OnHold => "on_hold",
            Self::Solved => "solved",
            Self::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        crate::parse_name("status", "a status", Self::ALL, Self::as_str, text)
    }

    /// Open work: anything not solved or closed.
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Solved | Self::Closed)
    }

    /// Whether a ticket in `self` may move to `to`. Staying put is always allowed.
    pub fn can_become(self, to: TicketStatus) -> bool {
        if self == to {
            return true;
        }
        match (self, to) {
            (_, Self::New) => false,
            (Self::Closed, _) => false,
            (from, Self::Closed) => from == Self::Solved,
            _ => true,
        }
    }

    pub fn transition(self, to: TicketStatus) -> Result<TicketStatus, Invalid> {
        if self.can_become(to) {
            Ok(to)
        } else {
            let why = match (self, to) {
                (_, Self::New) => "a ticket cannot go back to new",
                (Self::Closed, _) => "a closed ticket is final; open a follow-up ticket instead",
                _ => "only a solved ticket can be closed; solve it first",
            };
            Err(Invalid::new(
                "status",
                format!(
                    "cannot change from {} to {}: {why}",
                    self.as_str(),
                    to.as_str()
                ),
            ))
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Self::Low, Self::Normal, Self::High, Self::Urgent];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
            Self::Urgent => "urgent",
        }
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        crate::parse_name("priority", "a priority", Self::ALL, Self::as_str, text)
    }

    /// One step more urgent; `None` for urgent.
    pub fn raised(self) -> Option<Self> {
        match self {
            Self::Low => Some(Self::Normal),
            Self::Normal => Some(Self::High),
            Self::High => Some(Self::Urgent),
            Self::Urgent => None,
        }
    }
}

/// Focus mode's order (principle 2): the most urgent priority first; among equals, the
/// ticket that has waited longest since it last changed.
pub const FOCUS_ORDER: [Priority; 4] = [
    Priority::Urgent,
    Priority::High,
    Priority::Normal,
    Priority::Low,
];

/// What a message is: the customer writing, our public reply, or an internal note that the
/// customer never sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Customer,
    Reply,
    Note,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Reply => "reply",
            Self::Note => "note",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Customer, Self::Reply, Self::Note]
            .into_iter()
            .find(|k| k.as_str() == text)
    }

    /// Whether the customer sees this message.
    pub fn is_public(self) -> bool {
        self != Self::Note
    }
}

/// The reference customers quote: `R-10234`. The number is the ticket's id, so a reference
/// never changes and never needs a lookup table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TicketRef(pub i64);

impl TicketRef {
    pub const PREFIX: &'static str = "R-";

    /// Accepts `R-10234`, `r-10234`, `[R-10234]` or a bare `10234`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().trim_start_matches('[').trim_end_matches(']');
        let digits = match text.get(..2) {
            Some(p) if p.eq_ignore_ascii_case(Self::PREFIX) => &text[2..],
            _ => text,
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().filter(|n| *n > 0).map(Self)
    }
}

impl std::fmt::Display for TicketRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", Self::PREFIX, self.0)
    }
}

/// Checks a subject line: required, one line, at most 500 characters.
pub fn validate_subject(subject: &str) -> Result<String, Invalid> {
    crate::one_line("subject", subject, 500)
}

/// Checks a message body: required (not only white space), at most 256 KiB of text.
pub fn validate_body(field: &str, body: &str) -> Result<(), Invalid> {
    if body.trim().is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(Invalid::new(
            field,
            format!(
                "is {} bytes; at most {MAX_BODY_BYTES} are accepted",
                body.len()
            ),
        ));
    }
    Ok(())
}

/// The status a ticket moves to when a message arrives: the customer writing reopens a
/// pending or solved ticket; our first public reply takes a new ticket to open. A closed
/// ticket takes no more messages (the channel opens a follow-up instead).
pub fn status_after_message(
    current: TicketStatus,
    kind: MessageKind,
) -> Result<TicketStatus, Invalid> {
    use TicketStatus::*;
    match (current, kind) {
        (Closed, _) => Err(Invalid::new(
            "ticket",
            "the ticket is closed and takes no more messages; open a follow-up ticket",
        )),
        (Pending | Solved, MessageKind::Customer) => Ok(Open),
        (New, MessageKind::Reply) => Ok(Open),
        (status, _) => Ok(status),
    }
}

pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_status() -> impl Strategy<Value = TicketStatus> {
        proptest::sample::select(TicketStatus::ALL.to_vec())
    }

    #[test]
    fn new_is_only_a_start_and_closed_is_final() {
        for s in TicketStatus::ALL {
            assert_eq!(s.can_become(TicketStatus::New), s == TicketStatus::New);
            assert_eq!(
                TicketStatus::Closed.can_become(s),
                s == TicketStatus::Closed
            );
        }
    }

    #[test]
    fn only_solved_tickets_close() {
        let closable: Vec<_> = TicketStatus::ALL
            .into_iter()
            .filter(|s| *s != TicketStatus::Closed && s.can_become(TicketStatus::Closed))
            .collect();
        assert_eq!(closable, vec![TicketStatus::Solved]);
        let err = TicketStatus::Open
            .transition(TicketStatus::Closed)
            .unwrap_err();
        assert_eq!(err.field, "status");
        assert!(err.problem.contains("solve it first"), "{err}");
    }

    #[test]
    fn open_work_moves_freely() {
        use TicketStatus::*;
        for from in [New, Open, Pending, OnHold, Solved] {
            for to in [Open, Pending, OnHold, Solved] {
                assert!(from.can_become(to), "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn parses_names_and_rejects_others_with_the_choices() {
        assert_eq!(TicketStatus::parse("on_hold"), Ok(TicketStatus::OnHold));
        let err = TicketStatus::parse("done").unwrap_err();
        assert!(
            err.problem
                .contains("new, open, pending, on_hold, solved, closed")
        );
        assert_eq!(Priority::parse("urgent"), Ok(Priority::Urgent));
        assert!(Priority::parse("URGENT").is_err());
    }

    #[test]
    fn references_read_the_way_customers_write_them() {
        assert_eq!(TicketRef::parse("R-10234"), Some(TicketRef(10234)));
        assert_eq!(TicketRef::parse("[r-10234]"), Some(TicketRef(10234)));
        assert_eq!(TicketRef::parse("10234"), Some(TicketRef(10234)));
        for bad in [
            "",
            "R-",
            "R-12a",
            "X-1",
            "-5",
            "R-0",
            "R-99999999999999999999",
        ] {
            assert_eq!(TicketRef::parse(bad), None, "{bad}");
        }
        assert_eq!(TicketRef(10234).to_string(), "R-10234");
    }

    #[test]
    fn messages_move_tickets_the_way_people_expect() {
        use MessageKind::*;
        use TicketStatus::*;
        assert_eq!(status_after_message(Solved, Customer), Ok(Open));
        assert_eq!(status_after_message(Pending, Customer), Ok(Open));
        assert_eq!(status_after_message(New, Reply), Ok(Open));
        assert_eq!(status_after_message(New, Note), Ok(New));
        assert_eq!(status_after_message(Pending, Note), Ok(Pending));
        assert_eq!(status_after_message(OnHold, Customer), Ok(OnHold));
        assert!(status_after_message(Closed, Customer).is_err());
    }

    #[test]
    fn subjects_are_one_trimmed_line() {
        assert_eq!(
            validate_subject("  Broken\n  login ").unwrap(),
            "Broken login"
        );
        assert!(validate_subject(" \t").is_err());
        assert!(validate_subject(&"x".repeat(501)).is_err());
    }

    proptest! {
        #[test]
        fn every_status_path_reaches_closed_only_through_solved(path in proptest::collection::vec(any_status(), 1..20)) {
            let mut current = TicketStatus::New;
            for next in path {
                if let Ok(to) = current.transition(next) {
                    if to == TicketStatus::Closed && current != TicketStatus::Closed {
                        prop_assert_eq!(current, TicketStatus::Solved);
                    }
                    current = to;
                }
            }
        }

        #[test]
        fn reference_display_parse_round_trips(n in 1i64..i64::MAX) {
            prop_assert_eq!(TicketRef::parse(&TicketRef(n).to_string()), Some(TicketRef(n)));
        }

        #[test]
        fn reference_parse_never_panics(text in ".{0,30}") {
            let _ = TicketRef::parse(&text);
        }
    }
}
