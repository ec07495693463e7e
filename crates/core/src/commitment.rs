//! Commitments (principle 3): what we promised a customer and by when, and whether we kept it.
//!
//! Two kinds: a **promise** ("replacement ships by Friday 17:00") and the **next update** time.
//! A commitment is kept when it is fulfilled on time — the next update by any public reply, a
//! promise by a public reply that says it is done — or when the ticket is solved on time; it
//! is broken when its due time passes while it is still open. The customer sees both.

use crate::calendar::BusinessCalendar;
use crate::{Invalid, Millis};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
/// Further out than this is a plan, not a commitment.
const MAX_AHEAD_MS: i64 = 366 * 24 * HOUR;
/// A quick choice never lands sooner than this: there must be time to do the work.
const MIN_LEAD_MS: i64 = 30 * MINUTE;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CommitmentKind {
    Promise,
    NextUpdate,
}

impl CommitmentKind {
    pub const ALL: [CommitmentKind; 2] = [Self::Promise, Self::NextUpdate];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Promise => "promise",
            Self::NextUpdate => "next_update",
        }
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        crate::parse_name("kind", "a commitment kind", Self::ALL, Self::as_str, text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CommitmentStatus {
    Open,
    Kept,
    Broken,
    /// Withdrawn by an agent (with a reason); not counted either way.
    Cancelled,
}

impl CommitmentStatus {
    pub const ALL: [CommitmentStatus; 4] = [Self::Open, Self::Kept, Self::Broken, Self::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Kept => "kept",
            Self::Broken => "broken",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        crate::parse_name(
            "status",
            "a commitment status",
            Self::ALL,
            Self::as_str,
            text,
        )
    }
}

/// A promise needs words; a next update may go without ("Next update").
pub fn validate_description(kind: CommitmentKind, raw: &str) -> Result<String, Invalid> {
    match kind {
        CommitmentKind::NextUpdate if raw.trim().is_empty() => Ok(String::new()),
        _ => crate::one_line("description", raw, 300),
    }
}

/// A due time must lie ahead, and within a year.
pub fn validate_due(due: Millis, now: Millis) -> Result<Millis, Invalid> {
    if due <= now {
        return Err(Invalid::new("due_at", "must be in the future"));
    }
    if due.0 - now.0 > MAX_AHEAD_MS {
        return Err(Invalid::new("due_at", "must be within a year"));
    }
    Ok(due)
}

/// When the owner is reminded: an hour before it is due, or halfway for shorter commitments.
pub fn remind_at(created: Millis, due: Millis) -> Millis {
    let lead = ((due.0 - created.0) / 2).clamp(0, HOUR);
    Millis(due.0 - lead)
}

/// What fulfilling an open commitment at `at` makes it.
pub fn fulfilment(due: Millis, at: Millis) -> CommitmentStatus {
    if at <= due {
        CommitmentStatus::Kept
    } else {
        CommitmentStatus::Broken
    }
}

/// Kept on time among those that came to an end (kept or broken); `None` before any did.
pub fn kept_rate(kept: i64, broken: i64) -> Option<f64> {
    let due = kept + broken;
    (due > 0).then(|| kept as f64 / due as f64)
}

/// The quick choices an agent picks instead of typing a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum QuickDue {
    /// Two business hours from now, on our calendar.
    InTwoHours,
    /// 17:00 in the customer's zone today, else on our next working day.
    EndOfDay,
    /// 10:00 in the customer's zone on our next working day.
    TomorrowMorning,
    /// 10:00 in the customer's zone on the first working day of next week.
    NextWeek,
}

impl QuickDue {
    pub const ALL: [QuickDue; 4] = [
        Self::InTwoHours,
        Self::EndOfDay,
        Self::TomorrowMorning,
        Self::NextWeek,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InTwoHours => "in_two_hours",
            Self::EndOfDay => "end_of_day",
            Self::TomorrowMorning => "tomorrow_morning",
            Self::NextWeek => "next_week",
        }
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        crate::parse_name("quick", "a quick choice", Self::ALL, Self::as_str, text)
    }

    /// The due time this choice means at `now` for a customer in `zone` (an IANA name),
    /// served on `calendar`. A "working day" is a date (in the customer's zone) on which the
    /// calendar is open at some moment; the search stops after two weeks and then takes the
    /// calendar's next opening.
    pub fn due(
        self,
        now: Millis,
        zone: &str,
        calendar: &BusinessCalendar,
    ) -> Result<Millis, Invalid> {
        if self == Self::InTwoHours {
            return Ok(calendar.add_business_minutes(now, 120));
        }
        let tz = TimeZone::get(zone)
            .map_err(|_| Invalid::new("time_zone", format!("'{zone}' is not an IANA time zone")))?;
        let today = jiff::Timestamp::from_millisecond(now.0)
            .map_err(|_| Invalid::new("now", "is out of range"))?
            .to_zoned(tz.clone())
            .date();
        let (first_day, hour) = match self {
            Self::EndOfDay => (today, 17),
            Self::TomorrowMorning => (today.tomorrow().unwrap_or(today), 10),
            Self::NextWeek => {
                let ahead = 7 - i64::from(today.weekday().to_monday_zero_offset());
                (today.saturating_add(jiff::Span::new().days(ahead)), 10)
            }
            Self::InTwoHours => unreachable!("answered above"),
        };
        let earliest = now.0 + MIN_LEAD_MS;
        let mut day = first_day;
        for _ in 0..14 {
            if let Some(candidate) = local_time(&tz, day, hour)
                && candidate.0 >= earliest
                && working_day(&tz, day, calendar)
            {
                return Ok(candidate);
            }
            day = day.tomorrow().unwrap_or(day);
        }
        Ok(calendar.next_open(Millis(earliest)))
    }
}

fn local_time(tz: &TimeZone, day: Date, hour: i8) -> Option<Millis> {
    let zoned = day.at(hour, 0, 0, 0).to_zoned(tz.clone()).ok()?;
    Some(Millis(zoned.timestamp().as_millisecond()))
}

fn working_day(tz: &TimeZone, day: Date, calendar: &BusinessCalendar) -> bool {
    let start = local_time(tz, day, 0);
    let end = day.tomorrow().ok().and_then(|next| local_time(tz, next, 0));
    match (start, end) {
        (Some(start), Some(end)) => calendar.business_ms_between(start, end) > 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{CalendarConfig, IntervalConfig, WeekConfig};

    fn berlin_office() -> BusinessCalendar {
        BusinessCalendar::new(&CalendarConfig {
            time_zone: "Europe/Berlin".into(),
            hours: WeekConfig::weekdays(&[IntervalConfig::new("09:00", "17:00")]),
            holidays: vec!["12-25".into()],
        })
        .expect("valid calendar")
    }

    fn utc(text: &str) -> Millis {
        Millis::parse(text).expect("a time")
    }

    #[test]
    fn quick_choices_use_the_customers_zone_and_our_working_days() {
        let cal = berlin_office();
        // Friday 2026-11-27 14:00 UTC (15:00 Berlin, 09:00 New York).
        let now = utc("2026-11-27T14:00:00Z");
        assert_eq!(
            QuickDue::EndOfDay.due(now, "America/New_York", &cal),
            Ok(utc("2026-11-27T22:00:00Z")),
            "17:00 in New York today: Friday is a working day for us"
        );
        assert_eq!(
            QuickDue::TomorrowMorning.due(now, "America/New_York", &cal),
            Ok(utc("2026-11-30T15:00:00Z")),
            "the weekend is skipped: Monday 10:00 New York"
        );
        assert_eq!(
            QuickDue::InTwoHours.due(now, "America/New_York", &cal),
            Ok(utc("2026-11-27T16:00:00Z")),
            "two business hours in Berlin: 15–17 on Friday"
        );
        assert_eq!(
            QuickDue::NextWeek.due(now, "Europe/Berlin", &cal),
            Ok(utc("2026-11-30T09:00:00Z"))
        );
        // Late on Friday in Berlin, end of day moves to Monday.
        let late = utc("2026-11-27T16:45:00Z");
        assert_eq!(
            QuickDue::EndOfDay.due(late, "Europe/Berlin", &cal),
            Ok(utc("2026-11-30T16:00:00Z"))
        );
        // Christmas Day is skipped.
        let christmas_eve = utc("2026-12-24T12:00:00Z");
        assert_eq!(
            QuickDue::TomorrowMorning.due(christmas_eve, "Europe/Berlin", &cal),
            Ok(utc("2026-12-28T09:00:00Z")),
            "Dec 25 is a holiday, Dec 26-27 a weekend"
        );
        assert!(QuickDue::EndOfDay.due(now, "Mars/Olympus", &cal).is_err());
    }

    #[test]
    fn reminders_come_an_hour_before_or_halfway() {
        let created = Millis(0);
        assert_eq!(remind_at(created, Millis(5 * HOUR)), Millis(4 * HOUR));
        assert_eq!(remind_at(created, Millis(40 * MINUTE)), Millis(20 * MINUTE));
    }

    #[test]
    fn outcomes_and_rates() {
        assert_eq!(fulfilment(Millis(10), Millis(10)), CommitmentStatus::Kept);
        assert_eq!(fulfilment(Millis(10), Millis(11)), CommitmentStatus::Broken);
        assert_eq!(kept_rate(0, 0), None);
        assert_eq!(kept_rate(3, 1), Some(0.75));
        assert!(validate_due(Millis(5), Millis(5)).is_err());
        assert!(validate_due(Millis(MAX_AHEAD_MS + 6), Millis(5)).is_err());
        assert_eq!(
            validate_description(CommitmentKind::NextUpdate, "  "),
            Ok(String::new())
        );
        assert!(validate_description(CommitmentKind::Promise, " ").is_err());
    }
}
