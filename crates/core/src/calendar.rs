//! Business-hours calendars, and the one implementation of "due in N business minutes".
//!
//! A calendar is a time zone, weekly opening hours in local wall-clock time, and holidays. Every
//! question it answers (is it open, when does it open next, how much business time lies between
//! two instants, when are N business minutes used up) walks the same sequence of open UTC spans,
//! so the answers always agree with each other.
//!
//! Wall-clock times that a DST change skips or repeats resolve "compatibly", as RFC 5545 and
//! Temporal do: a time in a gap is read with the offset from before the gap (so 02:30 on the day
//! Berlin springs forward is 03:30 CEST), and a repeated time means its first occurrence. So on
//! the spring-forward day an interval 01:30–03:30 is open one real hour and 02:00–03:00 not at
//! all; on the fall-back day 02:00–03:00 is open two real hours.

use crate::{Invalid, Millis};
use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::{Offset, TimeZone};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::fmt;

const MINUTES_PER_DAY: i16 = 24 * 60;
const MS_PER_MINUTE: i64 = 60_000;

/// No UTC offset reaches 26 hours (jiff's bound is ±25:59:59), so a local wall-clock time always
/// names an instant within this distance of the same digits read as UTC.
const MAX_OFFSET_MS: i64 = 26 * 60 * MS_PER_MINUTE;

/// How far [`BusinessCalendar::add_business_minutes`] and [`BusinessCalendar::next_open`] search
/// before giving up: 50 Gregorian years. Only a calendar whose holidays close nearly every open
/// day can reach it.
pub const SEARCH_LIMIT_MS: i64 = 50 * 31_556_952_000;

/// The days of a week as calendars name them, Monday first.
pub const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// A calendar as it is stored and sent: plain strings, checked by [`BusinessCalendar::new`].
///
/// ```json
/// {"time_zone": "Europe/Berlin",
///  "hours": {"monday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:30"}]},
///  "holidays": ["12-25", "2026-12-24"]}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// An IANA time zone name (`Europe/Berlin`); hours and holidays are local to it.
    pub time_zone: String,
    pub hours: WeekConfig,
    /// Days closed all day: `YYYY-MM-DD` for one date, `MM-DD` for that date every year
    /// (`02-29` closes only leap days; it does not move to another day in other years).
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// Opening intervals per weekday; a day without intervals is closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeekConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monday: Vec<IntervalConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tuesday: Vec<IntervalConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wednesday: Vec<IntervalConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thursday: Vec<IntervalConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub friday: Vec<IntervalConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub saturday: Vec<IntervalConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sunday: Vec<IntervalConfig>,
}

impl WeekConfig {
    /// The same intervals Monday to Friday; the weekend closed.
    pub fn weekdays(intervals: &[IntervalConfig]) -> Self {
        Self::from_days(std::array::from_fn(|i| {
            if i < 5 { intervals.to_vec() } else { vec![] }
        }))
    }

    /// Builds a week from seven days, Monday first.
    pub fn from_days(days: [Vec<IntervalConfig>; 7]) -> Self {
        let [
            monday,
            tuesday,
            wednesday,
            thursday,
            friday,
            saturday,
            sunday,
        ] = days;
        Self {
            monday,
            tuesday,
            wednesday,
            thursday,
            friday,
            saturday,
            sunday,
        }
    }

    /// The seven days, Monday first.
    pub fn days(&self) -> [&[IntervalConfig]; 7] {
        [
            &self.monday,
            &self.tuesday,
            &self.wednesday,
            &self.thursday,
            &self.friday,
            &self.saturday,
            &self.sunday,
        ]
    }
}

/// Open from `start` up to (not including) `end`, both `HH:MM` local time; `end` may be `24:00`,
/// midnight at the end of the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntervalConfig {
    pub start: String,
    pub end: String,
}

impl IntervalConfig {
    pub fn new(start: impl Into<String>, end: impl Into<String>) -> Self {
        Self {
            start: start.into(),
            end: end.into(),
        }
    }
}

/// When a team works: a time zone, weekly opening hours and holidays, validated.
///
/// Stored and sent as a [`CalendarConfig`]; deserializing runs the same checks as
/// [`BusinessCalendar::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CalendarConfig", into = "CalendarConfig")]
pub struct BusinessCalendar {
    time_zone: String,
    tz: TimeZone,
    /// Monday first; each day's intervals sorted and disjoint.
    week: [Vec<Interval>; 7],
    holidays: BTreeSet<Date>,
    /// (month, day) pairs closed every year.
    yearly_holidays: BTreeSet<(i8, i8)>,
}

/// Local wall-clock minutes after midnight, `[start, end)`; `end` may be 1440 (24:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Interval {
    start: i16,
    end: i16,
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", clock(self.start), clock(self.end))
    }
}

impl BusinessCalendar {
    /// Checks a configuration; errors name the field (`hours.monday[1]`, `holidays[0]`).
    pub fn new(config: &CalendarConfig) -> Result<Self, Invalid> {
        let tz = parse_time_zone(&config.time_zone)?;
        let mut week: [Vec<Interval>; 7] = Default::default();
        for ((name, intervals), day) in WEEKDAYS.iter().zip(config.hours.days()).zip(&mut week) {
            *day = parse_day(&format!("hours.{name}"), intervals)?;
        }
        // Without open hours "add N minutes" could never finish.
        if week.iter().all(Vec::is_empty) {
            return Err(Invalid::new(
                "hours",
                "no day has opening hours; a calendar must be open at some time of the week",
            ));
        }
        let mut holidays = BTreeSet::new();
        let mut yearly_holidays = BTreeSet::new();
        for (i, text) in config.holidays.iter().enumerate() {
            match parse_holiday(&format!("holidays[{i}]"), text)? {
                Holiday::Once(date) => holidays.insert(date),
                Holiday::Yearly { month, day } => yearly_holidays.insert((month, day)),
            };
        }
        Ok(Self {
            // The database's spelling, so `europe/berlin` is stored as `Europe/Berlin`.
            time_zone: tz.iana_name().unwrap_or(&config.time_zone).to_string(),
            tz,
            week,
            holidays,
            yearly_holidays,
        })
    }

    /// Open every minute of every day (00:00–24:00 local, no holidays): business time is
    /// elapsed real time.
    pub fn always_open(time_zone: &str) -> Result<Self, Invalid> {
        let all_day = vec![IntervalConfig::new("00:00", "24:00")];
        Self::new(&CalendarConfig {
            time_zone: time_zone.to_string(),
            hours: WeekConfig::from_days(std::array::from_fn(|_| all_day.clone())),
            holidays: vec![],
        })
    }

    /// The IANA name of the calendar's time zone.
    pub fn time_zone(&self) -> &str {
        &self.time_zone
    }

    /// The configuration form, normalised: each day's intervals in order, yearly holidays
    /// first, each kind sorted and without duplicates.
    pub fn config(&self) -> CalendarConfig {
        let days = self.week.each_ref().map(|day| {
            day.iter()
                .map(|iv| IntervalConfig::new(clock(iv.start), clock(iv.end)))
                .collect()
        });
        let yearly = self
            .yearly_holidays
            .iter()
            .map(|(month, day)| format!("{month:02}-{day:02}"));
        let once = self.holidays.iter().map(Date::to_string);
        CalendarConfig {
            time_zone: self.time_zone.clone(),
            hours: WeekConfig::from_days(days),
            holidays: yearly.chain(once).collect(),
        }
    }

    /// Whether `at` lies inside opening hours.
    pub fn is_open_at(&self, at: Millis) -> bool {
        self.open_spans(at.0, at.0.saturating_add(1))
            .next()
            .is_some()
    }

    /// `at` itself if open, else the start of the next opening. If the calendar stays closed
    /// for [`SEARCH_LIMIT_MS`] (holidays on nearly every open day), returns `at` plus that.
    pub fn next_open(&self, at: Millis) -> Millis {
        let limit = at.0.saturating_add(SEARCH_LIMIT_MS);
        Millis(
            self.open_spans(at.0, limit)
                .next()
                .map_or(limit, |span| span.start),
        )
    }

    /// The earliest instant `t >= start` with exactly `minutes` of business time in
    /// `[start, t]`: `start` itself for 0 (and for negative minutes, which count as 0), otherwise
    /// always inside or at the end of an opening, never at the start of the next one.
    ///
    /// Walks opening by opening, so the cost grows with the number of days crossed, not with
    /// `minutes`. If fewer than `minutes` are open within [`SEARCH_LIMIT_MS`] of `start`
    /// (holidays on nearly every open day), returns `start` plus that limit: a due time that
    /// never arrives in practice.
    pub fn add_business_minutes(&self, start: Millis, minutes: i64) -> Millis {
        self.add_business_ms(start, minutes.saturating_mul(MS_PER_MINUTE))
    }

    /// [`Self::add_business_minutes`] to the millisecond: for clocks that paused part-way
    /// through a minute.
    pub fn add_business_ms(&self, start: Millis, ms: i64) -> Millis {
        let mut remaining = ms.max(0);
        if remaining == 0 {
            return start;
        }
        let limit = start.0.saturating_add(SEARCH_LIMIT_MS);
        for span in self.open_spans(start.0, limit) {
            let length = span.end - span.start;
            if remaining <= length {
                return Millis(span.start + remaining);
            }
            remaining -= length;
        }
        Millis(limit)
    }

    /// Whole business minutes in `[from, to)`, rounded down; 0 when `to <= from`.
    ///
    /// `business_minutes_between(start, add_business_minutes(start, m)) == m` for every `m`
    /// reachable within the search limit.
    pub fn business_minutes_between(&self, from: Millis, to: Millis) -> i64 {
        self.business_ms_between(from, to) / MS_PER_MINUTE
    }

    /// Business time in `[from, to)` in milliseconds; 0 when `to <= from`. The cost grows with
    /// the number of days between them.
    pub fn business_ms_between(&self, from: Millis, to: Millis) -> i64 {
        self.open_spans(from.0, to.0)
            .map(|span| span.end.min(to.0) - span.start)
            .sum()
    }

    /// The open time from `from` on, as disjoint increasing spans, ending before the first span
    /// that would start at or after `until`.
    fn open_spans(&self, from: i64, until: i64) -> OpenSpans<'_> {
        // A date's spans end before its following midnight read as UTC plus MAX_OFFSET_MS, so
        // no date earlier than two days before `from`'s UTC date is still open at `from`.
        let from_date = Offset::UTC.to_datetime(clamp_to_timestamp(from)).date();
        let first = from_date
            .checked_sub(jiff::Span::new().days(2))
            .unwrap_or(Date::MIN);
        OpenSpans {
            calendar: self,
            next_date: Some(first).filter(|date| earliest_start(*date) < until),
            pending: BinaryHeap::new(),
            cursor: from,
            until,
        }
    }

    /// The open spans one local date contributes, unsorted and possibly overlapping (in a DST
    /// gap two wall-clock intervals can name the same instants).
    fn day_spans(&self, date: Date) -> impl Iterator<Item = Span> + '_ {
        let intervals: &[Interval] = if self.is_holiday(date) {
            &[]
        } else {
            &self.week[weekday_index(date)]
        };
        intervals.iter().filter_map(move |iv| {
            let start = self.instant(date, iv.start)?;
            let end = self.instant(date, iv.end)?;
            // A DST gap can make an interval empty, or even reversed (02:30–03:00 in a gap
            // from 02:00 to 03:00): no open time.
            (end > start).then_some(Span { start, end })
        })
    }

    fn is_holiday(&self, date: Date) -> bool {
        self.holidays.contains(&date) || self.yearly_holidays.contains(&(date.month(), date.day()))
    }

    /// The instant a local date and wall-clock minute name (1440 is the next day's midnight),
    /// resolved compatibly; `None` only at the edges of jiff's range.
    fn instant(&self, date: Date, minute: i16) -> Option<i64> {
        let (date, minute) = if minute == MINUTES_PER_DAY {
            (date.tomorrow().ok()?, 0)
        } else {
            (date, minute)
        };
        let hour = i8::try_from(minute / 60).ok()?;
        let minute = i8::try_from(minute % 60).ok()?;
        let wall = date.to_datetime(Time::new(hour, minute, 0, 0).ok()?);
        let ts = self.tz.to_timestamp(wall).ok()?;
        Some(ts.as_millisecond())
    }
}

impl TryFrom<CalendarConfig> for BusinessCalendar {
    type Error = Invalid;

    fn try_from(config: CalendarConfig) -> Result<Self, Invalid> {
        Self::new(&config)
    }
}

impl From<BusinessCalendar> for CalendarConfig {
    fn from(calendar: BusinessCalendar) -> Self {
        calendar.config()
    }
}

/// Open time in UTC milliseconds, `[start, end)`. Ordered by start first, so a min-heap of
/// spans yields the earliest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Span {
    start: i64,
    end: i64,
}

/// Turns local dates into UTC spans, in order, without overlaps.
///
/// Dates are expanded one by one, but a span is only handed out once no later date can produce
/// an earlier one. Usually each date's spans follow the previous date's, but around DST changes
/// (and zones that skipped whole days) wall-clock order and real-time order can disagree, so
/// spans wait in a heap until every date that could precede them has been expanded.
struct OpenSpans<'a> {
    calendar: &'a BusinessCalendar,
    /// The next local date to expand; `None` once past `until` or jiff's range.
    next_date: Option<Date>,
    pending: BinaryHeap<Reverse<Span>>,
    /// Everything before this has been handed out, or lies before `from`.
    cursor: i64,
    until: i64,
}

impl OpenSpans<'_> {
    /// Whether a span starting at `start` precedes everything the unexpanded dates can hold.
    fn settled(&self, start: i64) -> bool {
        self.next_date
            .is_none_or(|date| start <= earliest_start(date))
    }

    fn expand_next_date(&mut self) {
        let Some(date) = self.next_date else { return };
        self.pending
            .extend(self.calendar.day_spans(date).map(Reverse));
        self.next_date = date
            .tomorrow()
            .ok()
            .filter(|next| earliest_start(*next) < self.until);
    }
}

impl Iterator for OpenSpans<'_> {
    type Item = Span;

    fn next(&mut self) -> Option<Span> {
        loop {
            let settled = match self.pending.peek() {
                Some(Reverse(span)) => self.settled(span.start),
                None if self.next_date.is_none() => return None,
                None => false,
            };
            if !settled {
                self.expand_next_date();
                continue;
            }
            let Reverse(span) = self.pending.pop()?;
            // Clip what an earlier span (or `from`) already covered.
            let start = span.start.max(self.cursor);
            if start >= self.until {
                self.pending.clear();
                self.next_date = None;
                return None;
            }
            if span.end > start {
                self.cursor = span.end;
                return Some(Span {
                    start,
                    end: span.end,
                });
            }
        }
    }
}

/// A lower bound on when any span of `date` or a later date starts.
fn earliest_start(date: Date) -> i64 {
    Offset::UTC
        .to_timestamp(date.to_datetime(Time::midnight()))
        .map_or(i64::MIN, |ts| ts.as_millisecond() - MAX_OFFSET_MS)
}

/// The timestamp nearest to `ms` that jiff can represent (years -9999 to 9999).
fn clamp_to_timestamp(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

fn weekday_index(date: Date) -> usize {
    // 0 for Monday up to 6 for Sunday, so the cast cannot lose anything.
    date.weekday().to_monday_zero_offset() as usize
}

fn clock(minutes: i16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn parse_time_zone(name: &str) -> Result<TimeZone, Invalid> {
    TimeZone::get(name).map_err(|_| {
        Invalid::new(
            "time_zone",
            format!("'{name}' is not an IANA time zone (like Europe/Berlin or America/New_York)"),
        )
    })
}

/// One day's intervals, sorted; `field` is `hours.monday` and errors point into it.
fn parse_day(field: &str, intervals: &[IntervalConfig]) -> Result<Vec<Interval>, Invalid> {
    let mut parsed = intervals
        .iter()
        .enumerate()
        .map(|(i, iv)| Ok((i, parse_interval(&format!("{field}[{i}]"), iv)?)))
        .collect::<Result<Vec<_>, Invalid>>()?;
    parsed.sort_by_key(|(_, iv)| iv.start);
    for pair in parsed.windows(2) {
        let ((i, earlier), (j, later)) = (pair[0], pair[1]);
        if later.start < earlier.end {
            // Blame whichever of the two the admin wrote second.
            let ((blamed, blamed_iv), (other, other_iv)) = if i < j {
                ((j, later), (i, earlier))
            } else {
                ((i, earlier), (j, later))
            };
            return Err(Invalid::new(
                format!("{field}[{blamed}]"),
                format!("{blamed_iv} overlaps {other_iv} ({field}[{other}])"),
            ));
        }
    }
    Ok(parsed.into_iter().map(|(_, iv)| iv).collect())
}

fn parse_interval(field: &str, config: &IntervalConfig) -> Result<Interval, Invalid> {
    let start_field = format!("{field}.start");
    let start = parse_clock(&start_field, &config.start)?;
    let end = parse_clock(&format!("{field}.end"), &config.end)?;
    if start == MINUTES_PER_DAY {
        return Err(Invalid::new(start_field, "24:00 can only end an interval"));
    }
    if start >= end {
        return Err(Invalid::new(
            field,
            format!(
                "starts at {} but ends at {}; an interval must end after it starts (hours past \
                 midnight are two intervals: up to 24:00, and from 00:00 the next day)",
                config.start, config.end
            ),
        ));
    }
    Ok(Interval { start, end })
}

/// `HH:MM` from 00:00 to 24:00, as minutes after midnight.
fn parse_clock(field: &str, text: &str) -> Result<i16, Invalid> {
    let parsed = text
        .split_once(':')
        .and_then(|(h, m)| Some((digits(h, 2)?, digits(m, 2)?)));
    match parsed {
        Some((h, m)) if (h < 24 && m < 60) || (h == 24 && m == 0) => Ok(h * 60 + m),
        _ => Err(Invalid::new(
            field,
            format!("'{text}' is not a time of day (HH:MM, from 00:00 to 24:00)"),
        )),
    }
}

enum Holiday {
    Once(Date),
    Yearly { month: i8, day: i8 },
}

/// `YYYY-MM-DD` (one date) or `MM-DD` (every year; `02-29` only in leap years).
fn parse_holiday(field: &str, text: &str) -> Result<Holiday, Invalid> {
    let parts: Vec<&str> = text.split('-').collect();
    let holiday = match parts.as_slice() {
        [year, month, day] => month_day(month, day).and_then(|(month, day)| {
            let date = Date::new(digits(year, 4)?, month, day).ok()?;
            Some(Holiday::Once(date))
        }),
        // A leap year, so that 02-29 is accepted.
        [month, day] => month_day(month, day)
            .filter(|&(month, day)| Date::new(2000, month, day).is_ok())
            .map(|(month, day)| Holiday::Yearly { month, day }),
        _ => None,
    };
    holiday.ok_or_else(|| {
        Invalid::new(
            field,
            format!("'{text}' is not a date (YYYY-MM-DD for one day, MM-DD for every year)"),
        )
    })
}

fn month_day(month: &str, day: &str) -> Option<(i8, i8)> {
    let month = i8::try_from(digits(month, 2)?).ok()?;
    let day = i8::try_from(digits(day, 2)?).ok()?;
    Some((month, day))
}

/// Exactly `len` ASCII digits (no sign, no spaces) as a number.
fn digits(text: &str, len: usize) -> Option<i16> {
    let all_digits = text.len() == len && text.bytes().all(|b| b.is_ascii_digit());
    all_digits.then(|| text.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::DateTime;
    use proptest::prelude::*;
    use serde_json::json;

    const MS_PER_DAY: i64 = 24 * 60 * MS_PER_MINUTE;

    fn calendar(zone: &str, hours: WeekConfig, holidays: &[&str]) -> BusinessCalendar {
        BusinessCalendar::new(&CalendarConfig {
            time_zone: zone.to_string(),
            hours,
            holidays: holidays.iter().map(|h| h.to_string()).collect(),
        })
        .unwrap()
    }

    fn intervals(pairs: &[(&str, &str)]) -> Vec<IntervalConfig> {
        pairs
            .iter()
            .map(|(start, end)| IntervalConfig::new(*start, *end))
            .collect()
    }

    /// Monday to Friday 09:00–17:00.
    fn office(zone: &str, holidays: &[&str]) -> BusinessCalendar {
        let hours = WeekConfig::weekdays(&intervals(&[("09:00", "17:00")]));
        calendar(zone, hours, holidays)
    }

    /// Open only on Sundays, which is when Europe and the US change their clocks.
    fn sundays(zone: &str, pairs: &[(&str, &str)]) -> BusinessCalendar {
        let hours = WeekConfig {
            sunday: intervals(pairs),
            ..WeekConfig::default()
        };
        calendar(zone, hours, &[])
    }

    /// A local wall-clock time (`2026-03-06T16:00`), resolved compatibly.
    fn at(cal: &BusinessCalendar, text: &str) -> Millis {
        let wall: DateTime = text.parse().unwrap();
        Millis(cal.tz.to_timestamp(wall).unwrap().as_millisecond())
    }

    /// An instant as local time, `Mon 2026-03-09 10:00`.
    fn local(cal: &BusinessCalendar, ms: Millis) -> String {
        let ts = ms.to_timestamp().unwrap();
        cal.tz.to_datetime(ts).strftime("%a %F %R").to_string()
    }

    /// An instant as local time with its offset, for days with two of them.
    fn local_offset(cal: &BusinessCalendar, ms: Millis) -> String {
        let ts = ms.to_timestamp().unwrap();
        ts.to_zoned(cal.tz.clone())
            .strftime("%a %F %R%:z")
            .to_string()
    }

    fn due(cal: &BusinessCalendar, start: &str, minutes: i64) -> String {
        local(cal, cal.add_business_minutes(at(cal, start), minutes))
    }

    #[test]
    fn friday_afternoon_plus_two_hours_is_monday_morning() {
        let cal = office("Europe/Berlin", &[]);
        assert_eq!(due(&cal, "2026-03-06T16:00", 120), "Mon 2026-03-09 10:00");
        let start = at(&cal, "2026-03-06T16:00");
        let monday = at(&cal, "2026-03-09T10:00");
        assert_eq!(cal.business_minutes_between(start, monday), 120);
    }

    #[test]
    fn holidays_push_the_due_time_to_the_next_open_day() {
        let once = office("Europe/Berlin", &["2026-03-09"]);
        assert_eq!(due(&once, "2026-03-06T16:00", 120), "Tue 2026-03-10 10:00");
        let yearly = office("Europe/Berlin", &["03-09"]);
        assert_eq!(
            due(&yearly, "2026-03-06T16:00", 120),
            "Tue 2026-03-10 10:00"
        );
        // Yearly holidays repeat; that one-off date does not.
        assert_eq!(
            due(&yearly, "2027-03-08T16:00", 120),
            "Wed 2027-03-10 10:00"
        );
        assert_eq!(due(&once, "2027-03-08T16:00", 120), "Tue 2027-03-09 10:00");
    }

    #[test]
    fn christmas_and_new_year_cross_the_year() {
        let cal = office("Europe/Berlin", &["2026-12-24", "12-25", "12-26", "01-01"]);
        assert_eq!(due(&cal, "2026-12-23T16:00", 120), "Mon 2026-12-28 10:00");
        assert_eq!(due(&cal, "2026-12-31T16:30", 60), "Mon 2027-01-04 09:30");
    }

    #[test]
    fn lunch_breaks_are_skipped() {
        let hours = WeekConfig::weekdays(&intervals(&[("09:00", "12:00"), ("13:00", "17:30")]));
        let cal = calendar("Europe/Berlin", hours, &[]);
        assert_eq!(due(&cal, "2026-03-09T11:00", 90), "Mon 2026-03-09 13:30");
        assert_eq!(due(&cal, "2026-03-09T12:15", 30), "Mon 2026-03-09 13:30");
        assert_eq!(due(&cal, "2026-03-09T17:00", 60), "Tue 2026-03-10 09:30");
        assert!(!cal.is_open_at(at(&cal, "2026-03-09T12:30")));
        assert_eq!(
            local(&cal, cal.next_open(at(&cal, "2026-03-09T12:30"))),
            "Mon 2026-03-09 13:00"
        );
        let day = cal
            .business_minutes_between(at(&cal, "2026-03-09T08:00"), at(&cal, "2026-03-10T08:00"));
        assert_eq!(day, 3 * 60 + 4 * 60 + 30);
    }

    #[test]
    fn a_saturday_start_waits_for_monday() {
        let cal = office("Europe/Berlin", &[]);
        let saturday = at(&cal, "2026-03-07T10:00");
        assert_eq!(cal.add_business_minutes(saturday, 0), saturday);
        assert_eq!(due(&cal, "2026-03-07T10:00", 1), "Mon 2026-03-09 09:01");
        assert!(!cal.is_open_at(saturday));
        assert_eq!(local(&cal, cal.next_open(saturday)), "Mon 2026-03-09 09:00");
    }

    #[test]
    fn boundaries_are_half_open() {
        let cal = office("Europe/Berlin", &[]);
        let opening = at(&cal, "2026-03-09T09:00");
        let closing = at(&cal, "2026-03-09T17:00");
        assert!(cal.is_open_at(opening));
        assert!(!cal.is_open_at(Millis(opening.0 - 1)));
        assert!(cal.is_open_at(Millis(closing.0 - 1)));
        assert!(!cal.is_open_at(closing));
        assert_eq!(cal.next_open(opening), opening);
        // The last minute ends at closing time, not at the next opening.
        assert_eq!(due(&cal, "2026-03-09T16:00", 60), "Mon 2026-03-09 17:00");
        assert_eq!(cal.add_business_minutes(closing, 0), closing);
        assert_eq!(due(&cal, "2026-03-09T17:00", 1), "Tue 2026-03-10 09:01");
        assert_eq!(due(&cal, "2026-03-09T08:59", 1), "Mon 2026-03-09 09:01");
        // Negative minutes count as none.
        assert_eq!(cal.add_business_minutes(opening, -30), opening);
        assert_eq!(cal.business_minutes_between(closing, opening), 0);
        // Minutes are rounded down.
        assert_eq!(
            cal.business_ms_between(opening, Millis(opening.0 + 90_000)),
            90_000
        );
        assert_eq!(
            cal.business_minutes_between(opening, Millis(opening.0 + 90_000)),
            1
        );
    }

    #[test]
    fn adjacent_intervals_and_24_00_run_on() {
        let hours = WeekConfig {
            monday: intervals(&[("20:00", "22:00"), ("22:00", "24:00")]),
            tuesday: intervals(&[("00:00", "02:00")]),
            ..WeekConfig::default()
        };
        let cal = calendar("Europe/Berlin", hours, &[]);
        assert_eq!(due(&cal, "2026-03-09T21:00", 240), "Tue 2026-03-10 01:00");
        assert!(cal.is_open_at(at(&cal, "2026-03-10T00:00")));
        assert_eq!(due(&cal, "2026-03-09T20:00", 360), "Tue 2026-03-10 02:00");
    }

    #[test]
    fn always_open_counts_real_minutes_even_across_dst() {
        let cal = BusinessCalendar::always_open("Europe/Berlin").unwrap();
        let start = at(&cal, "2026-03-28T23:00");
        let due = cal.add_business_minutes(start, 240);
        assert_eq!(due, start.plus_minutes(240));
        assert_eq!(local(&cal, due), "Sun 2026-03-29 04:00");
        assert_eq!(cal.next_open(start), start);
        let year = cal
            .business_minutes_between(at(&cal, "2026-01-01T00:00"), at(&cal, "2027-01-01T00:00"));
        assert_eq!(year, 365 * 24 * 60);
    }

    #[test]
    fn berlin_spring_forward_shortens_intervals_over_the_gap() {
        let day_start = "2026-03-29T00:00";
        let day_end = "2026-03-30T00:00";
        let minutes = |cal: &BusinessCalendar| {
            cal.business_minutes_between(at(cal, day_start), at(cal, day_end))
        };
        // 02:00–03:00 does not exist that day.
        let cal = sundays("Europe/Berlin", &[("01:00", "04:00")]);
        assert_eq!(minutes(&cal), 120);
        assert_eq!(
            local_offset(
                &cal,
                cal.add_business_minutes(at(&cal, "2026-03-29T01:00"), 60)
            ),
            "Sun 2026-03-29 03:00+02:00"
        );
        assert_eq!(due(&cal, "2026-03-29T01:00", 120), "Sun 2026-03-29 04:00");
        assert_eq!(due(&cal, "2026-03-29T01:00", 121), "Sun 2026-04-05 01:01");
        assert_eq!(
            minutes(&sundays("Europe/Berlin", &[("01:30", "03:30")])),
            60
        );
        assert_eq!(minutes(&sundays("Europe/Berlin", &[("02:00", "03:00")])), 0);
        // A time in the gap reads with the old offset: 02:00–02:30 becomes 03:00–03:30 CEST,
        // the same instants as 03:00–03:30, and is counted once.
        let twins = sundays("Europe/Berlin", &[("02:00", "02:30"), ("03:00", "03:30")]);
        assert_eq!(minutes(&twins), 30);
    }

    #[test]
    fn berlin_fall_back_lengthens_intervals_over_the_fold() {
        let minutes = |cal: &BusinessCalendar| {
            cal.business_minutes_between(at(cal, "2026-10-25T00:00"), at(cal, "2026-10-26T00:00"))
        };
        let cal = sundays("Europe/Berlin", &[("01:00", "04:00")]);
        assert_eq!(minutes(&cal), 240);
        assert_eq!(
            minutes(&sundays("Europe/Berlin", &[("02:00", "03:00")])),
            120
        );
        // 02:00 means its first occurrence (CEST); 90 minutes on is the second 02:30 (CET).
        assert_eq!(
            local_offset(
                &cal,
                cal.add_business_minutes(at(&cal, "2026-10-25T02:00"), 90)
            ),
            "Sun 2026-10-25 02:30+01:00"
        );
        assert_eq!(due(&cal, "2026-10-25T01:00", 240), "Sun 2026-10-25 04:00");
    }

    #[test]
    fn new_york_keeps_local_hours_through_dst() {
        let cal = office("America/New_York", &[]);
        // Across the spring-forward weekend: still Monday 10:00 local, one real hour less.
        let start = at(&cal, "2026-03-06T16:00");
        let due = cal.add_business_minutes(start, 120);
        assert_eq!(local_offset(&cal, due), "Mon 2026-03-09 10:00-04:00");
        assert_eq!(due.0 - start.0, 65 * 60 * MS_PER_MINUTE);
        assert_eq!(
            local_offset(
                &cal,
                cal.add_business_minutes(at(&cal, "2026-10-30T16:00"), 120)
            ),
            "Mon 2026-11-02 10:00-05:00"
        );
        let all_day = sundays("America/New_York", &[("00:00", "24:00")]);
        let sunday = |date: &str, next: &str| {
            all_day.business_minutes_between(at(&all_day, date), at(&all_day, next))
        };
        assert_eq!(sunday("2026-03-08T00:00", "2026-03-09T00:00"), 23 * 60);
        assert_eq!(sunday("2026-11-01T00:00", "2026-11-02T00:00"), 25 * 60);
    }

    #[test]
    fn a_skipped_day_still_yields_open_time_in_real_time_order() {
        // Samoa skipped Friday 2011-12-30, moving from UTC-10 to UTC+14. Read with the old
        // offset, that Friday's 09:00-17:00 lands after Saturday's 00:00-08:00 in real time,
        // although Friday comes first on the calendar.
        let hours = WeekConfig {
            friday: intervals(&[("09:00", "17:00")]),
            saturday: intervals(&[("00:00", "08:00")]),
            ..WeekConfig::default()
        };
        let cal = calendar("Pacific/Apia", hours, &[]);
        let thursday = at(&cal, "2011-12-29T20:00");
        assert_eq!(
            local_offset(&cal, cal.add_business_minutes(thursday, 60)),
            "Sat 2011-12-31 01:00+14:00"
        );
        assert_eq!(
            local_offset(&cal, cal.add_business_minutes(thursday, 8 * 60 + 1)),
            "Sat 2011-12-31 09:01+14:00"
        );
        let week = cal.business_minutes_between(thursday, at(&cal, "2012-01-02T00:00"));
        assert_eq!(week, 16 * 60);
    }

    #[test]
    fn large_amounts_walk_day_by_day() {
        let cal = office("UTC", &[]);
        // 100,000 minutes are 208 days of 8 hours and 160 minutes, counted from Thursday.
        assert_eq!(
            due(&cal, "2026-01-01T09:00", 100_000),
            "Tue 2026-10-20 11:40"
        );
        let holidays = office("Europe/Berlin", &["12-25", "12-26", "01-01", "2026-04-03"]);
        let start = at(&holidays, "2026-01-01T00:00");
        let due = holidays.add_business_minutes(start, 100_000);
        assert_eq!(holidays.business_minutes_between(start, due), 100_000);
    }

    #[test]
    fn a_calendar_closed_by_holidays_gives_up_after_the_search_limit() {
        let every_day: Vec<String> = (1..=12)
            .flat_map(|m| (1..=31).map(move |d| format!("{m:02}-{d:02}")))
            .filter(|md| parse_holiday("", md).is_ok())
            .collect();
        assert_eq!(every_day.len(), 366);
        let every_day: Vec<&str> = every_day.iter().map(String::as_str).collect();
        let cal = office("Europe/Berlin", &every_day);
        let start = at(&cal, "2026-03-09T10:00");
        let limit = Millis(start.0 + SEARCH_LIMIT_MS);
        assert!(!cal.is_open_at(start));
        assert_eq!(cal.next_open(start), limit);
        assert_eq!(cal.add_business_minutes(start, 1), limit);
        assert_eq!(cal.business_minutes_between(start, limit), 0);
    }

    #[test]
    fn instants_beyond_jiffs_range_do_not_panic() {
        let cal = office("Europe/Berlin", &[]);
        assert_eq!(
            cal.add_business_minutes(Millis(i64::MAX), 10),
            Millis(i64::MAX)
        );
        assert_eq!(
            cal.add_business_minutes(Millis(i64::MIN), 10),
            Millis(i64::MIN + SEARCH_LIMIT_MS)
        );
        assert!(!cal.is_open_at(Millis(i64::MIN)));
        assert_eq!(
            cal.business_minutes_between(Millis(i64::MAX - 10), Millis(i64::MAX)),
            0
        );
        assert_eq!(
            cal.add_business_minutes(Millis(0), i64::MAX),
            Millis(SEARCH_LIMIT_MS)
        );
    }

    #[test]
    fn configuration_round_trips_through_json() {
        let text = json!({
            "time_zone": "europe/berlin",
            "hours": {
                "monday": [{"start": "13:00", "end": "17:30"}, {"start": "09:00", "end": "12:00"}],
                "saturday": [{"start": "10:00", "end": "24:00"}]
            },
            "holidays": ["2026-12-24", "12-25", "02-29", "12-25"]
        });
        let cal: BusinessCalendar = serde_json::from_value(text).unwrap();
        assert_eq!(cal.time_zone(), "Europe/Berlin");
        let stored = serde_json::to_value(&cal).unwrap();
        assert_eq!(
            stored,
            json!({
                "time_zone": "Europe/Berlin",
                "hours": {
                    "monday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:30"}],
                    "saturday": [{"start": "10:00", "end": "24:00"}]
                },
                "holidays": ["02-29", "12-25", "2026-12-24"]
            })
        );
        assert_eq!(
            serde_json::from_value::<BusinessCalendar>(stored).unwrap(),
            cal
        );
    }

    #[test]
    fn deserializing_runs_the_checks() {
        let text = json!({
            "time_zone": "Europe/Berlin",
            "hours": {"monday": [{"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]}
        });
        let err = serde_json::from_value::<BusinessCalendar>(text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "hours.monday[1]: 11:00-13:00 overlaps 09:00-12:00 (hours.monday[0])"
        );
        let typo = json!({"time_zone": "UTC", "hours": {"munday": []}});
        assert!(serde_json::from_value::<BusinessCalendar>(typo).is_err());
    }

    #[test]
    fn invalid_configurations_name_the_field() {
        let check = |zone: &str, hours: WeekConfig, holidays: &[&str]| {
            BusinessCalendar::new(&CalendarConfig {
                time_zone: zone.to_string(),
                hours,
                holidays: holidays.iter().map(|h| h.to_string()).collect(),
            })
            .unwrap_err()
        };
        let monday = |pairs: &[(&str, &str)]| WeekConfig {
            monday: intervals(pairs),
            ..WeekConfig::default()
        };
        let nine_to_five = || monday(&[("09:00", "17:00")]);

        let err = check("Mars/Olympus", nine_to_five(), &[]);
        assert_eq!(err.field, "time_zone");
        assert!(
            err.problem
                .contains("'Mars/Olympus' is not an IANA time zone")
        );

        let err = check(
            "UTC",
            monday(&[("09:00", "12:00"), ("17:00", "13:00")]),
            &[],
        );
        assert_eq!(err.field, "hours.monday[1]");
        assert!(
            err.problem.starts_with("starts at 17:00 but ends at 13:00"),
            "{err}"
        );

        let err = check("UTC", monday(&[("09:00", "09:00")]), &[]);
        assert_eq!(err.field, "hours.monday[0]");

        // The interval written second is blamed, whatever their order in the day.
        let err = check(
            "UTC",
            monday(&[("12:00", "14:00"), ("09:00", "12:30")]),
            &[],
        );
        assert_eq!(err.field, "hours.monday[1]");
        assert_eq!(
            err.problem,
            "09:00-12:30 overlaps 12:00-14:00 (hours.monday[0])"
        );

        let err = check("UTC", monday(&[("24:00", "24:00")]), &[]);
        assert_eq!(err.field, "hours.monday[0].start");
        assert_eq!(err.problem, "24:00 can only end an interval");

        for bad in [
            "9:00", "09:60", "24:01", "25:00", "0900", "09:00:00", " 09:00", "+9:00",
        ] {
            let err = check("UTC", monday(&[("08:00", bad)]), &[]);
            assert_eq!(err.field, "hours.monday[0].end", "{bad}");
            assert!(err.problem.contains("is not a time of day"), "{bad}");
        }

        let err = check("UTC", WeekConfig::default(), &[]);
        assert_eq!(err.field, "hours");

        for bad in [
            "2026-02-29",
            "02-30",
            "13-01",
            "2026-1-01",
            "12/25",
            "",
            "2026-12-24T00:00",
        ] {
            let err = check("UTC", nine_to_five(), &["12-25", bad]);
            assert_eq!(err.field, "holidays[1]", "{bad}");
            assert!(err.problem.contains("is not a date"), "{bad}");
        }
    }

    // Property tests: random calendars in zones with DST (some with half-hour shifts, some
    // changing at midnight), random starts, some of them close to a clock change.

    const ZONES: [&str; 8] = [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Sydney",
        "Australia/Lord_Howe",
        "America/Santiago",
        "Pacific/Chatham",
        "Asia/Kolkata",
    ];

    /// Up to three intervals cut from sorted distinct minute marks, or a closed day.
    fn any_day() -> impl Strategy<Value = Vec<IntervalConfig>> {
        let marks = prop::collection::btree_set(0..=MINUTES_PER_DAY, 2..=6);
        let open = marks.prop_map(|marks| {
            let marks: Vec<i16> = marks.into_iter().collect();
            marks
                .chunks_exact(2)
                .map(|pair| IntervalConfig::new(clock(pair[0]), clock(pair[1])))
                .collect()
        });
        prop_oneof![1 => Just(vec![]), 2 => open]
    }

    fn any_holiday() -> impl Strategy<Value = String> {
        prop_oneof![
            (2025..=2027i16, 1..=12i8, 1..=28i8).prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")),
            (1..=12i8, 1..=28i8).prop_map(|(m, d)| format!("{m:02}-{d:02}")),
        ]
    }

    fn any_calendar() -> impl Strategy<Value = BusinessCalendar> {
        let zone = prop::sample::select(ZONES.to_vec());
        let week = prop::array::uniform7(any_day());
        let holidays = prop::collection::vec(any_holiday(), 0..6);
        (zone, week, holidays).prop_map(|(zone, mut days, holidays)| {
            if days.iter().all(Vec::is_empty) {
                days[2] = vec![IntervalConfig::new("09:00", "17:00")];
            }
            let config = CalendarConfig {
                time_zone: zone.to_string(),
                hours: WeekConfig::from_days(days),
                holidays,
            };
            BusinessCalendar::new(&config).unwrap()
        })
    }

    /// Open wall-clock minutes per week: used to size minute counts so a sparse calendar is
    /// asked for a few weeks of work, not centuries.
    fn weekly_minutes(cal: &BusinessCalendar) -> i64 {
        cal.week
            .iter()
            .flatten()
            .map(|iv| i64::from(iv.end - iv.start))
            .sum()
    }

    /// Some instant in 2025–2026; with `near_change`, moved within two days of the zone's next
    /// clock change, if it has one.
    fn instant(cal: &BusinessCalendar, offset: i64, near_change: bool) -> Millis {
        let base = Millis(1_735_689_600_000 + offset.rem_euclid(2 * 365 * MS_PER_DAY));
        if !near_change {
            return base;
        }
        let next_change = cal.tz.following(base.to_timestamp().unwrap()).next();
        match next_change {
            Some(change) => Millis(change.timestamp().as_millisecond() + offset % (2 * MS_PER_DAY)),
            None => base,
        }
    }

    /// Whether the instant's local wall clock reads an open time on a non-holiday: the plain
    /// definition, exact on days without clock changes.
    fn open_by_wall_clock(cal: &BusinessCalendar, at: Millis) -> bool {
        let wall = cal.tz.to_datetime(at.to_timestamp().unwrap());
        let minute = i16::from(wall.hour()) * 60 + i16::from(wall.minute());
        !cal.is_holiday(wall.date())
            && cal.week[weekday_index(wall.date())]
                .iter()
                .any(|iv| iv.start <= minute && minute < iv.end)
    }

    fn clock_changes_near(cal: &BusinessCalendar, at: Millis) -> bool {
        let from = Millis(at.0 - 3 * MS_PER_DAY).to_timestamp().unwrap();
        let change = cal.tz.following(from).next();
        change.is_some_and(|c| c.timestamp().as_millisecond() < at.0 + 3 * MS_PER_DAY)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn due_time_round_trips_and_is_the_earliest(
            cal in any_calendar(),
            offset in any::<i64>(),
            near_change in any::<bool>(),
            permille in 0..=1000i64,
        ) {
            let start = instant(&cal, offset, near_change);
            // Up to about eight weeks of this calendar's work.
            let minutes = weekly_minutes(&cal) * 8 * permille / 1000;
            let due = cal.add_business_minutes(start, minutes);
            prop_assert!(due >= start);
            prop_assert_eq!(cal.business_minutes_between(start, due), minutes);
            prop_assert_eq!(cal.business_ms_between(start, due), minutes * MS_PER_MINUTE);
            if minutes > 0 {
                // The last millisecond counted is open, and the one before due is not enough.
                prop_assert!(cal.is_open_at(Millis(due.0 - 1)));
                prop_assert_eq!(
                    cal.business_ms_between(start, Millis(due.0 - 1)),
                    minutes * MS_PER_MINUTE - 1
                );
            } else {
                prop_assert_eq!(due, start);
            }
        }

        #[test]
        fn more_minutes_or_a_later_start_never_give_an_earlier_due_time(
            cal in any_calendar(),
            offset in any::<i64>(),
            near_change in any::<bool>(),
            later_by in 0..3 * MS_PER_DAY,
            permilles in (0..=1000i64, 0..=1000i64),
        ) {
            let start = instant(&cal, offset, near_change);
            let later = Millis(start.0 + later_by);
            let scale = weekly_minutes(&cal) * 4;
            let (a, b) = (scale * permilles.0 / 1000, scale * permilles.1 / 1000);
            let (fewer, more) = (a.min(b), a.max(b));
            prop_assert!(cal.add_business_minutes(start, fewer) <= cal.add_business_minutes(start, more));
            prop_assert!(cal.add_business_minutes(start, more) <= cal.add_business_minutes(later, more));
        }

        #[test]
        fn business_time_adds_up_and_next_open_skips_only_closed_time(
            cal in any_calendar(),
            offset in any::<i64>(),
            near_change in any::<bool>(),
            steps in (0..4 * MS_PER_DAY, 0..4 * MS_PER_DAY),
        ) {
            let a = instant(&cal, offset, near_change);
            let b = Millis(a.0 + steps.0);
            let c = Millis(b.0 + steps.1);
            prop_assert_eq!(
                cal.business_ms_between(a, c),
                cal.business_ms_between(a, b) + cal.business_ms_between(b, c)
            );
            prop_assert_eq!(cal.is_open_at(a), cal.business_ms_between(a, Millis(a.0 + 1)) == 1);
            let open = cal.next_open(a);
            prop_assert!(cal.is_open_at(open));
            prop_assert_eq!(cal.business_ms_between(a, open), 0);
            prop_assert_eq!(open == a, cal.is_open_at(a));
        }

        #[test]
        fn away_from_clock_changes_open_means_the_wall_clock_reads_open(
            cal in any_calendar(),
            offset in any::<i64>(),
        ) {
            let at = instant(&cal, offset, false);
            prop_assume!(!clock_changes_near(&cal, at));
            prop_assert_eq!(cal.is_open_at(at), open_by_wall_clock(&cal, at));
        }

        #[test]
        fn configuration_round_trips(cal in any_calendar()) {
            prop_assert_eq!(BusinessCalendar::new(&cal.config()).unwrap(), cal.clone());
            let json = serde_json::to_string(&cal).unwrap();
            prop_assert_eq!(serde_json::from_str::<BusinessCalendar>(&json).unwrap(), cal);
        }
    }
}
