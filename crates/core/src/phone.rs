//! The phone channel: numbers as people type them and as we match them, calls, and callback
//! windows (principle 8: customers choose their channel; principle 3: a callback is a promise).
//!
//! **Matching rule.** A number is kept as typed for display. For matching it is reduced to its
//! digits: an international number (written with `+` or `00`) keeps its country code behind a
//! `+` (`+49 (0)30 1234-567` → `+49301234567`: the `(0)` trunk digit is dropped); a national
//! number keeps its digits without leading trunk zeros (`030 1234567` → `301234567`). Two
//! international numbers match when equal. Otherwise the shorter number's digits (at least
//! [`MIN_MATCH_DIGITS`] of them) must be the tail of the other's: `030 1234567` matches
//! `+49 30 1234567`, and a number that differs in any digit never matches. The store indexes
//! the last [`KEY_DIGITS`] digits ([`match_key`]) — every match shares them — and applies
//! [`same_number`] to the few rows that do.

use crate::{Invalid, Millis};
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

/// Digits a national number needs before it may match a stored one.
pub const MIN_MATCH_DIGITS: usize = 6;
/// How many trailing digits the store indexes for matching: no more than a match needs.
pub const KEY_DIGITS: usize = MIN_MATCH_DIGITS;
/// E.164 allows 15 digits; a few more leave room for an extension typed without a marker.
const MAX_DIGITS: usize = 17;
const MAX_TYPED_CHARS: usize = 40;
/// A call longer than a day was not a call.
pub const MAX_CALL_SECONDS: i64 = 24 * 60 * 60;
/// Call notes are a note on the ticket; they share its limit in characters.
pub const MAX_NOTES_CHARS: usize = 10_000;
/// A callback window is at most this long: "some time this week" is not a window.
const MAX_WINDOW_MS: i64 = 12 * HOUR;
/// How far ahead a callback may be requested.
pub const MAX_DAYS_AHEAD: i64 = 14;
const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;
/// A window must leave us this long to call: one ending sooner cannot be kept.
const MIN_LEAD_MS: i64 = 15 * MINUTE;

/// A phone number as typed, and its canonical form for matching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhoneNumber {
    /// What the person typed (white space folded), shown everywhere.
    pub typed: String,
    /// `+` and digits for an international number, digits for a national one.
    pub canonical: String,
}

impl PhoneNumber {
    /// Reads a number someone typed: digits with the usual separators (space, `-`, `.`, `/`,
    /// parentheses), optionally a leading `+` or `00`. `field` names it in errors.
    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        let typed = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if typed.is_empty() {
            return Err(Invalid::new(field, "must not be empty"));
        }
        if typed.chars().count() > MAX_TYPED_CHARS {
            return Err(Invalid::new(
                field,
                format!("must be at most {MAX_TYPED_CHARS} characters"),
            ));
        }
        if let Some(bad) = typed
            .chars()
            .find(|c| !(c.is_ascii_digit() || " +-./()".contains(*c)))
        {
            return Err(Invalid::new(
                field,
                format!(
                    "'{bad}' is not allowed in a phone number (digits, spaces, + - . / ( ) only)"
                ),
            ));
        }
        if typed.chars().skip(1).any(|c| c == '+') {
            return Err(Invalid::new(field, "'+' may only start the number"));
        }
        let canonical = canonical(&typed);
        let digits = canonical.trim_start_matches('+').len();
        if digits < MIN_MATCH_DIGITS {
            return Err(Invalid::new(
                field,
                format!("must have at least {MIN_MATCH_DIGITS} digits"),
            ));
        }
        if digits > MAX_DIGITS {
            return Err(Invalid::new(
                field,
                format!("must have at most {MAX_DIGITS} digits"),
            ));
        }
        Ok(Self { typed, canonical })
    }

    /// Whether this number and a stored one (any text) are the same line, by the rule above.
    pub fn matches(&self, stored: &str) -> bool {
        same_number(&self.canonical, &canonical(stored))
    }
}

/// The canonical form of any text (lenient: for numbers stored before numbers were checked).
pub fn canonical(text: &str) -> String {
    let trimmed = text.trim_start();
    let international = trimmed.starts_with('+') || trimmed.starts_with("00");
    // "(0)" after a country code is the trunk prefix people write for national callers.
    let without_trunk = if international {
        trimmed.replace("(0)", "")
    } else {
        trimmed.to_string()
    };
    let digits: String = without_trunk.chars().filter(char::is_ascii_digit).collect();
    if international {
        let national = if trimmed.starts_with("00") {
            &digits[2..]
        } else {
            &digits[..]
        };
        format!("+{national}")
    } else {
        digits.trim_start_matches('0').to_string()
    }
}

/// Whether two canonical numbers are the same line (see the module's matching rule).
pub fn same_number(a: &str, b: &str) -> bool {
    let (a_intl, b_intl) = (a.starts_with('+'), b.starts_with('+'));
    let (a_digits, b_digits) = (a.trim_start_matches('+'), b.trim_start_matches('+'));
    if a_intl && b_intl {
        return a_digits == b_digits;
    }
    let (short, long) = if a_digits.len() <= b_digits.len() {
        (a_digits, b_digits)
    } else {
        (b_digits, a_digits)
    };
    short.len() >= MIN_MATCH_DIGITS && long.ends_with(short)
}

/// The store's index key: the last [`KEY_DIGITS`] digits of the canonical form; `None` for
/// text with too few digits to match anything.
pub fn match_key(text: &str) -> Option<String> {
    let canonical = canonical(text);
    let digits = canonical.trim_start_matches('+');
    (digits.len() >= MIN_MATCH_DIGITS)
        .then(|| digits[digits.len().saturating_sub(KEY_DIGITS)..].to_string())
}

/// Which way a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallDirection {
    /// The customer called us.
    Inbound,
    /// We called the customer.
    Outbound,
}

impl CallDirection {
    pub const ALL: [CallDirection; 2] = [Self::Inbound, Self::Outbound];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        crate::parse_name(
            "direction",
            "a call direction",
            Self::ALL,
            Self::as_str,
            text,
        )
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// We spoke to the customer.
    Answered,
    NoAnswer,
    /// We left a message.
    Voicemail,
    Busy,
    /// The number is not the customer's.
    WrongNumber,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 5] = [
        Self::Answered,
        Self::NoAnswer,
        Self::Voicemail,
        Self::Busy,
        Self::WrongNumber,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::NoAnswer => "no_answer",
            Self::Voicemail => "voicemail",
            Self::Busy => "busy",
            Self::WrongNumber => "wrong_number",
        }
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        crate::parse_name("outcome", "a call outcome", Self::ALL, Self::as_str, text)
    }
}

/// Where a callback stands. Scheduled until an outbound call keeps it (`done`), its window
/// lapses (`missed`, its commitment broken) or an agent withdraws it with a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallbackStatus {
    Scheduled,
    Done,
    Missed,
    Cancelled,
}

impl CallbackStatus {
    pub const ALL: [CallbackStatus; 4] =
        [Self::Scheduled, Self::Done, Self::Missed, Self::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Done => "done",
            Self::Missed => "missed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        crate::parse_name("status", "a callback status", Self::ALL, Self::as_str, text)
    }
}

/// What a logged call means for the ticket's clocks and promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallEffect {
    /// The customer heard from a person: like a public reply, it meets the first-response and
    /// next-response targets and keeps next-update times (Zendesk counts a call as a public
    /// comment too). Only an answered call: a voicemail or a ring nobody picked up told the
    /// customer nothing they can act on.
    pub counts_as_reply: bool,
    /// The call keeps a scheduled callback: we called when we said we would. An attempt that
    /// reached nobody still keeps it (we cannot make them pick up; the agent can schedule
    /// another); a wrong number does not — the promise to that customer is still open.
    pub keeps_callback: bool,
}

pub fn call_effect(direction: CallDirection, outcome: CallOutcome) -> CallEffect {
    CallEffect {
        counts_as_reply: outcome == CallOutcome::Answered,
        keeps_callback: direction == CallDirection::Outbound && outcome != CallOutcome::WrongNumber,
    }
}

/// How long after a callback's window ends a call may still start and keep it: the agent's
/// clock, dialling and the customer's clock are not to the second.
pub const CALLBACK_GRACE_MS: i64 = 5 * 60_000;
/// How long before the window opens a call may start and still keep it; a call earlier than
/// that is not the call we promised (the customer asked for the window for a reason).
pub const CALLBACK_EARLY_MS: i64 = 15 * 60_000;

/// A scheduled callback, as far as a call can keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduledCallback<'a> {
    /// The promised number's canonical form.
    pub number_canonical: &'a str,
    pub window_start: Millis,
    pub window_end: Millis,
    /// When it was asked for: a call from before then was not made to keep it.
    pub requested_at: Millis,
}

/// What a logged call does to one scheduled callback on its ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackVerdict {
    /// Not the call promised (inbound, a wrong number, another number, or made long before the
    /// window): the callback stays scheduled.
    Untouched,
    /// Made to the promised number from a little before the window until its end (plus
    /// [`CALLBACK_GRACE_MS`]).
    Kept,
    /// Made to the promised number, but after the window (and its grace): done, promise broken.
    Late,
}

/// Whether the call (`effect`, dialled `dialled_canonical`, started at `started_at`) keeps the
/// callback — judged by when the call started, not when it was logged.
pub fn callback_verdict(
    effect: CallEffect,
    dialled_canonical: &str,
    started_at: Millis,
    callback: &ScheduledCallback<'_>,
) -> CallbackVerdict {
    let too_early = started_at.0 < callback.window_start.0 - CALLBACK_EARLY_MS
        || started_at < callback.requested_at;
    if !effect.keeps_callback
        || !same_number(dialled_canonical, callback.number_canonical)
        || too_early
    {
        CallbackVerdict::Untouched
    } else if started_at.0 <= callback.window_end.0 + CALLBACK_GRACE_MS {
        CallbackVerdict::Kept
    } else {
        CallbackVerdict::Late
    }
}

/// What may end a promise. The general rule (see `commitment`) is that a promise is fulfilled
/// by telling the customer; a callback promise is fulfilled only by the call itself — solving
/// the ticket or writing to the customer is not calling them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    PublicReply,
    Solved,
    Call(CallEffect),
}

pub fn fulfils_promise(is_callback: bool, evidence: Evidence) -> bool {
    match evidence {
        Evidence::Call(effect) => {
            if is_callback {
                effect.keeps_callback
            } else {
                effect.counts_as_reply
            }
        }
        Evidence::PublicReply | Evidence::Solved => !is_callback,
    }
}

/// A call's length in seconds: not negative, at most a day.
pub fn validate_duration(seconds: i64) -> Result<i64, Invalid> {
    if seconds < 0 {
        return Err(Invalid::new("duration_seconds", "must not be negative"));
    }
    if seconds > MAX_CALL_SECONDS {
        return Err(Invalid::new(
            "duration_seconds",
            "must be at most a day (86400 seconds)",
        ));
    }
    Ok(seconds)
}

/// Reads `mm:ss` (or `h:mm:ss`, or plain seconds) as typed into the call form.
pub fn parse_duration(field: &str, raw: &str) -> Result<i64, Invalid> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(0);
    }
    let parts: Vec<&str> = raw.split(':').collect();
    let numbers = parts
        .iter()
        .map(|p| p.parse::<i64>().ok().filter(|n| *n >= 0 && p.len() <= 5))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| Invalid::new(field, "must be minutes:seconds, like 4:30"))?;
    let seconds = match numbers[..] {
        [s] => s,
        [m, s] if s < 60 => m * 60 + s,
        [h, m, s] if m < 60 && s < 60 => h * 3600 + m * 60 + s,
        _ => return Err(Invalid::new(field, "must be minutes:seconds, like 4:30")),
    };
    validate_duration(seconds).map_err(|e| Invalid::new(field, e.problem))
}

/// A duration as the call form shows it: `m:ss`, or `h:mm:ss` from an hour.
pub fn format_duration(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// Optional notes (a call's, a callback request's): trimmed, at most [`MAX_NOTES_CHARS`].
pub fn validate_notes(field: &str, raw: &str) -> Result<String, Invalid> {
    let notes = raw.trim();
    if notes.chars().count() > MAX_NOTES_CHARS {
        return Err(Invalid::new(
            field,
            format!("must be at most {MAX_NOTES_CHARS} characters"),
        ));
    }
    Ok(notes.to_string())
}

/// When a customer wants to be called: a date and two wall-clock times in their zone, resolved
/// to UTC (DST-correct: a time in a spring-forward gap moves forward, one in a fall-back
/// overlap takes the earlier instant, like the business calendars).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackWindow {
    pub start: Millis,
    pub end: Millis,
    pub time_zone: String,
}

impl CallbackWindow {
    /// Checks a requested window at `now`: times `HH:MM`, start before end, at most 12 hours
    /// long, ending at least 15 minutes from now, starting within two weeks.
    pub fn parse(
        date: &str,
        start: &str,
        end: &str,
        time_zone: &str,
        now: Millis,
    ) -> Result<Self, Invalid> {
        let tz = TimeZone::get(time_zone).map_err(|_| {
            Invalid::new(
                "time_zone",
                format!("'{time_zone}' is not an IANA time zone (like Europe/Berlin)"),
            )
        })?;
        let day: Date = date
            .trim()
            .parse()
            .map_err(|_| Invalid::new("date", "must be a date like 2026-12-07"))?;
        let at = |field: &str, raw: &str| -> Result<Millis, Invalid> {
            let time =
                parse_hh_mm(raw).ok_or_else(|| Invalid::new(field, "must be a time like 14:30"))?;
            day.to_datetime(time)
                .to_zoned(tz.clone())
                .map(|z| Millis(z.timestamp().as_millisecond()))
                .map_err(|_| Invalid::new(field, "is out of range"))
        };
        let start = at("window_start", start)?;
        let end = at("window_end", end)?;
        Self::new(start, end, time_zone, now)
    }

    /// Checks a window given in UTC (an agent scheduling on the customer's behalf).
    pub fn new(start: Millis, end: Millis, time_zone: &str, now: Millis) -> Result<Self, Invalid> {
        TimeZone::get(time_zone).map_err(|_| {
            Invalid::new(
                "time_zone",
                format!("'{time_zone}' is not an IANA time zone"),
            )
        })?;
        if end <= start {
            return Err(Invalid::new(
                "window_end",
                "must be after the window's start",
            ));
        }
        if end.0 - start.0 > MAX_WINDOW_MS {
            return Err(Invalid::new(
                "window_end",
                "the window may be at most 12 hours long",
            ));
        }
        if end.0 < now.0 + MIN_LEAD_MS {
            return Err(Invalid::new(
                "window_end",
                "must be at least 15 minutes from now: that time has passed",
            ));
        }
        if start.0 > now.0 + MAX_DAYS_AHEAD * 24 * HOUR {
            return Err(Invalid::new(
                "date",
                format!("must be within {MAX_DAYS_AHEAD} days"),
            ));
        }
        Ok(Self {
            start,
            end,
            time_zone: time_zone.to_string(),
        })
    }

    /// The window in `zone` (the customer's, or an agent's), e.g.
    /// `Mon 7 Dec 2026, 14:00–16:00 (Europe/Berlin)`; a window crossing midnight there names
    /// both days.
    pub fn describe_in(&self, zone: &str) -> String {
        describe_window(self.start, self.end, zone)
    }

    pub fn describe(&self) -> String {
        self.describe_in(&self.time_zone)
    }
}

/// A window in `zone` (UTC if it is not a zone), e.g. `Mon 7 Dec 2026, 14:00–16:00 (Europe/Berlin)`.
pub fn describe_window(start: Millis, end: Millis, zone: &str) -> String {
    let (tz, name) = match TimeZone::get(zone) {
        Ok(tz) => (tz, zone),
        Err(_) => (TimeZone::UTC, "UTC"),
    };
    let local = |m: Millis| {
        jiff::Timestamp::from_millisecond(m.0)
            .ok()
            .map(|t| t.to_zoned(tz.clone()))
    };
    match (local(start), local(end)) {
        (Some(s), Some(e)) if s.date() == e.date() => format!(
            "{}, {}–{} ({name})",
            s.strftime("%a %-d %b %Y"),
            s.strftime("%H:%M"),
            e.strftime("%H:%M")
        ),
        (Some(s), Some(e)) => format!(
            "{} – {} ({name})",
            s.strftime("%a %-d %b %Y %H:%M"),
            e.strftime("%a %-d %b %Y %H:%M")
        ),
        _ => format!("{start} – {end}"),
    }
}

/// The sentence that tells a customer what we understood (principle 1): the number, the window
/// in their zone and the reference. The human-contact line is added by whoever shows it.
pub fn callback_readback(number: &str, window: &CallbackWindow, reference: &str) -> String {
    format!(
        "We will call you back on {number} on {} — your reference is {reference}. \
         If that is not right, reply or call us.",
        window.describe()
    )
}

/// A callback request as the ticket's first message, in the customer's words: its first
/// sentence is what the new-request read-back restates (number and window).
pub fn callback_request_text(number: &str, window: &CallbackWindow, note: &str) -> String {
    let request = format!("Please call me back on {number} on {}.", window.describe());
    match note.trim() {
        "" => request,
        note => format!("{request}\n\n{note}"),
    }
}

/// What a widget request's first message adds when the typed address is an existing
/// customer's: agents see it, but nothing proves the visitor owns it.
pub fn unconfirmed_address_line(address: &str) -> String {
    format!(
        "The caller typed the address {address}, which belongs to an existing customer. Nothing \
         confirms it is theirs: this request is not filed under that customer and nothing was \
         mailed to it."
    )
}

/// The promise a callback makes, in the words the agents see.
pub fn callback_promise(number: &str, window: &CallbackWindow) -> String {
    format!("Call back {number} between {}", window.describe())
}

fn parse_hh_mm(raw: &str) -> Option<Time> {
    let (h, m) = raw.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m) = (h.parse::<i8>().ok()?, m.parse::<i8>().ok()?);
    Time::new(h, m, 0, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callback_is_kept_by_a_timely_call_to_its_number() {
        use CallDirection::*;
        use CallOutcome::*;
        const MIN: i64 = 60_000;
        let callback = ScheduledCallback {
            number_canonical: "+491705551234",
            window_start: Millis(100 * MIN),
            window_end: Millis(160 * MIN),
            requested_at: Millis(0),
        };
        let verdict = |outcome, dialled: &str, minute: i64| {
            callback_verdict(
                call_effect(Outbound, outcome),
                &canonical(dialled),
                Millis(minute * MIN),
                &callback,
            )
        };
        let us = "+49 170 5551234";
        assert_eq!(verdict(Answered, us, 120), CallbackVerdict::Kept);
        assert_eq!(
            verdict(NoAnswer, "0170 5551234", 120),
            CallbackVerdict::Kept,
            "same line"
        );
        assert_eq!(
            verdict(Voicemail, us, 90),
            CallbackVerdict::Kept,
            "a little early"
        );
        assert_eq!(
            verdict(Answered, us, 164),
            CallbackVerdict::Kept,
            "within the grace"
        );
        assert_eq!(verdict(Answered, us, 166), CallbackVerdict::Late);
        assert_eq!(
            verdict(Answered, us, 30),
            CallbackVerdict::Untouched,
            "long before"
        );
        assert_eq!(
            verdict(Answered, "+49 30 1234567", 120),
            CallbackVerdict::Untouched
        );
        assert_eq!(verdict(WrongNumber, us, 120), CallbackVerdict::Untouched);
        assert_eq!(
            callback_verdict(
                call_effect(Inbound, Answered),
                &canonical(us),
                Millis(120 * MIN),
                &callback
            ),
            CallbackVerdict::Untouched,
            "they called us"
        );
        let asked_late = ScheduledCallback {
            requested_at: Millis(95 * MIN),
            ..callback
        };
        assert_eq!(
            callback_verdict(
                call_effect(Outbound, Answered),
                &canonical(us),
                Millis(90 * MIN),
                &asked_late
            ),
            CallbackVerdict::Untouched,
            "a call from before the request"
        );
    }
    use proptest::prelude::*;

    fn utc(text: &str) -> Millis {
        Millis::parse(text).expect("a time")
    }

    #[test]
    fn numbers_keep_what_was_typed_and_match_by_canonical_form() {
        let n = PhoneNumber::parse("phone", "  +49 (0)30  1234-567 ").unwrap();
        assert_eq!(n.typed, "+49 (0)30 1234-567");
        assert_eq!(n.canonical, "+49301234567");
        assert_eq!(
            PhoneNumber::parse("phone", "0049 30 1234567")
                .unwrap()
                .canonical,
            "+49301234567"
        );
        assert_eq!(
            PhoneNumber::parse("phone", "030 / 123 45 67")
                .unwrap()
                .canonical,
            "301234567"
        );
        assert!(n.matches("0049-30-1234567"));
        assert!(
            n.matches("030 1234567"),
            "a national number matches by its tail"
        );
        assert!(n.matches("(030) 123.45.67"));
        assert!(
            !n.matches("+44 30 1234567"),
            "another country is another line"
        );
        assert!(!n.matches("030 1234568"));
        assert!(!n.matches("4567"), "too few digits never match");
        assert!(!n.matches(""));
    }

    #[test]
    fn bad_numbers_name_the_field_and_say_why() {
        for (raw, says) in [
            ("", "empty"),
            ("call me", "not allowed"),
            ("12+345678", "'+'"),
            ("12345", "at least 6"),
            ("+1234567890123456789", "at most 17"),
            (&"1".repeat(41), "40 characters"),
        ] {
            let e = PhoneNumber::parse("phone", raw).unwrap_err();
            assert_eq!(e.field, "phone");
            assert!(e.problem.contains(says), "{raw}: {}", e.problem);
        }
    }

    #[test]
    fn match_keys_are_the_trailing_digits() {
        assert_eq!(match_key("+49 30 1234567").as_deref(), Some("234567"));
        assert_eq!(match_key("030 1234567").as_deref(), Some("234567"));
        assert_eq!(match_key("123456").as_deref(), Some("123456"));
        assert_eq!(match_key("12345"), None);
        assert_eq!(match_key("no number"), None);
    }

    proptest! {
        /// Matching is symmetric, and a number matches its own international and national
        /// spellings, whatever the separators; a key always indexes the matches.
        #[test]
        fn spellings_of_one_number_match(
            country in "[1-9][0-9]{0,2}",
            national in "[1-9][0-9]{5,10}",
            seps in proptest::collection::vec(prop_oneof![Just(""), Just(" "), Just("-"), Just("/")], 12),
        ) {
            let spaced: String = national
                .chars()
                .zip(seps.iter().cycle())
                .map(|(c, s)| format!("{c}{s}"))
                .collect();
            let intl = PhoneNumber::parse("p", &format!("+{country} {spaced}")).unwrap();
            let zero = format!("00{country}{national}");
            let trunk = format!("0{spaced}");
            prop_assert!(intl.matches(&zero));
            prop_assert!(intl.matches(&trunk));
            let trunk_parsed = PhoneNumber::parse("p", &trunk).unwrap();
            prop_assert!(trunk_parsed.matches(&intl.typed));
            prop_assert_eq!(match_key(&intl.typed), match_key(&trunk));
        }

        #[test]
        fn same_number_is_symmetric(a in "\\+?[0-9]{0,12}", b in "\\+?[0-9]{0,12}") {
            prop_assert_eq!(same_number(&a, &b), same_number(&b, &a));
        }
    }

    #[test]
    fn calls_count_as_replies_only_when_answered_and_keep_callbacks_when_attempted() {
        use CallDirection::*;
        use CallOutcome::*;
        assert!(call_effect(Outbound, Answered).counts_as_reply);
        assert!(call_effect(Inbound, Answered).counts_as_reply);
        assert!(!call_effect(Outbound, Voicemail).counts_as_reply);
        assert!(call_effect(Outbound, NoAnswer).keeps_callback);
        assert!(call_effect(Outbound, Voicemail).keeps_callback);
        assert!(!call_effect(Outbound, WrongNumber).keeps_callback);
        assert!(
            !call_effect(Inbound, Answered).keeps_callback,
            "they called us"
        );
        let call = Evidence::Call(call_effect(Outbound, Answered));
        assert!(fulfils_promise(true, call));
        assert!(
            fulfils_promise(false, call),
            "an answered call tells the customer"
        );
        assert!(!fulfils_promise(true, Evidence::PublicReply));
        assert!(!fulfils_promise(true, Evidence::Solved));
        assert!(fulfils_promise(false, Evidence::PublicReply));
        assert!(!fulfils_promise(
            false,
            Evidence::Call(call_effect(Outbound, NoAnswer))
        ));
        assert_eq!(CallOutcome::parse("busy"), Ok(Busy));
        assert_eq!(CallOutcome::parse("hung_up").unwrap_err().field, "outcome");
        assert_eq!(
            CallDirection::parse("sideways").unwrap_err().field,
            "direction"
        );
    }

    #[test]
    fn durations_and_notes() {
        assert_eq!(parse_duration("duration", "4:30"), Ok(270));
        assert_eq!(parse_duration("duration", "1:02:03"), Ok(3723));
        assert_eq!(parse_duration("duration", "95"), Ok(95));
        assert_eq!(parse_duration("duration", ""), Ok(0));
        for bad in ["4:75", "-3", "a:b", "1:2:3:4", "25:00:00"] {
            assert_eq!(
                parse_duration("duration", bad).unwrap_err().field,
                "duration",
                "{bad}"
            );
        }
        assert!(validate_duration(-1).is_err());
        assert!(validate_duration(MAX_CALL_SECONDS + 1).is_err());
        assert_eq!(validate_notes("notes", "  ok  "), Ok("ok".into()));
        assert_eq!(
            validate_notes("notes", &"x".repeat(MAX_NOTES_CHARS + 1))
                .unwrap_err()
                .field,
            "notes"
        );
        assert_eq!(format_duration(270), "4:30");
        assert_eq!(format_duration(3723), "1:02:03");
        assert_eq!(parse_duration("d", &format_duration(3723)), Ok(3723));
    }

    #[test]
    fn windows_resolve_in_the_customers_zone_across_dst() {
        let now = utc("2026-03-25T12:00:00Z");
        // Berlin switches to summer time on Sunday 2026-03-29.
        let before =
            CallbackWindow::parse("2026-03-28", "14:00", "16:00", "Europe/Berlin", now).unwrap();
        assert_eq!(
            (before.start, before.end),
            (utc("2026-03-28T13:00:00Z"), utc("2026-03-28T15:00:00Z"))
        );
        let after =
            CallbackWindow::parse("2026-03-30", "14:00", "16:00", "Europe/Berlin", now).unwrap();
        assert_eq!(
            (after.start, after.end),
            (utc("2026-03-30T12:00:00Z"), utc("2026-03-30T14:00:00Z"))
        );
        // 02:30 does not exist that night: it moves forward to 03:30 CEST.
        let gap =
            CallbackWindow::parse("2026-03-29", "02:30", "04:00", "Europe/Berlin", now).unwrap();
        assert_eq!(gap.start, utc("2026-03-29T01:30:00Z"));
        assert_eq!(
            after.describe(),
            "Mon 30 Mar 2026, 14:00–16:00 (Europe/Berlin)"
        );
        assert_eq!(
            after.describe_in("America/New_York"),
            "Mon 30 Mar 2026, 08:00–10:00 (America/New_York)"
        );
        let request = callback_request_text("+49 30 1234567", &after, "The router.");
        let summary = crate::readback::read_back("Call back +49 30 1234567", &request).summary;
        assert!(
            summary.contains("+49 30 1234567") && summary.contains("14:00–16:00 (Europe/Berlin)"),
            "the read-back restates number and window: {summary}"
        );
        let readback = callback_readback("+49 30 1234567", &after, "R-10002");
        assert!(
            readback.contains("+49 30 1234567")
                && readback.contains("14:00–16:00 (Europe/Berlin)")
                && readback.contains("R-10002")
        );
    }

    #[test]
    fn windows_must_be_ahead_ordered_and_near() {
        let now = utc("2026-12-07T12:00:00Z");
        let err = |d: &str, s: &str, e: &str, z: &str| {
            CallbackWindow::parse(d, s, e, z, now).unwrap_err().field
        };
        assert_eq!(err("2026-12-08", "16:00", "14:00", "UTC"), "window_end");
        assert_eq!(err("2026-12-08", "14:00", "14:00", "UTC"), "window_end");
        assert_eq!(
            err("2026-12-07", "10:00", "12:10", "UTC"),
            "window_end",
            "ends too soon"
        );
        assert_eq!(
            err("2026-12-22", "10:00", "12:00", "UTC"),
            "date",
            "over two weeks ahead"
        );
        assert_eq!(
            err("2026-12-08", "00:00", "23:00", "UTC"),
            "window_end",
            "too long"
        );
        assert_eq!(err("08.12.2026", "10:00", "12:00", "UTC"), "date");
        assert_eq!(err("2026-12-08", "25:00", "26:00", "UTC"), "window_start");
        assert_eq!(err("2026-12-08", "10:00", "1230", "UTC"), "window_end");
        assert_eq!(
            err("2026-12-08", "10:00", "12:00", "Mars/Olympus"),
            "time_zone"
        );
        // A window already running is fine while enough of it is left.
        assert!(CallbackWindow::parse("2026-12-07", "11:00", "13:00", "UTC", now).is_ok());
    }
}
