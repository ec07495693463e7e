//! SLA policies and the clocks they run on (principle 3: silence is a defect).
//!
//! A policy is chosen by conditions (the first of an ordered list that matches) and sets up to
//! four targets, each in business or calendar time:
//! - **first response**: from creation to the first public reply;
//! - **next response**: from a customer message (once we have answered before) to our next
//!   public reply;
//! - **periodic update**: no customer-visible silence longer than N while the ticket is open
//!   (restarts with every public reply);
//! - **resolution**: from creation to solved (a reopened ticket continues where it stopped).
//!
//! A ticket's [`SlaClocks`] track all four whether or not its policy has a target for them, so
//! a new policy (priority raised, tag added) or a changed calendar only re-schedules due times
//! and never needs the ticket's history. Every clock pauses while the ticket waits on the
//! customer (pending), is on hold, or is solved, and resumes where it stopped.

use crate::calendar::BusinessCalendar;
use crate::contact::Tier;
use crate::time::millis_as_int;
use crate::{Invalid, Millis, Priority, TicketStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

const MS_PER_MINUTE: i64 = 60_000;
/// A target longer than a year is a typo, not a promise.
const MAX_TARGET_MINUTES: i64 = 366 * 24 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Target {
    FirstResponse,
    NextResponse,
    PeriodicUpdate,
    Resolution,
}

impl Target {
    pub const ALL: [Target; 4] = [
        Self::FirstResponse,
        Self::NextResponse,
        Self::PeriodicUpdate,
        Self::Resolution,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstResponse => "first_response",
            Self::NextResponse => "next_response",
            Self::PeriodicUpdate => "periodic_update",
            Self::Resolution => "resolution",
        }
    }
}

/// Whether a target counts opening hours only or every minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    #[default]
    Business,
    Calendar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TargetRule {
    pub minutes: i64,
    #[serde(default)]
    pub basis: Basis,
}

impl TargetRule {
    pub fn business(minutes: i64) -> Self {
        Self {
            minutes,
            basis: Basis::Business,
        }
    }

    fn ms(self) -> i64 {
        self.minutes.saturating_mul(MS_PER_MINUTE)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response: Option<TargetRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_response: Option<TargetRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periodic_update: Option<TargetRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<TargetRule>,
}

impl Targets {
    pub fn get(&self, target: Target) -> Option<TargetRule> {
        match target {
            Target::FirstResponse => self.first_response,
            Target::NextResponse => self.next_response,
            Target::PeriodicUpdate => self.periodic_update,
            Target::Resolution => self.resolution,
        }
    }

    fn validate(&self) -> Result<(), Invalid> {
        for target in Target::ALL {
            if let Some(rule) = self.get(target)
                && !(1..=MAX_TARGET_MINUTES).contains(&rule.minutes)
            {
                return Err(Invalid::new(
                    format!("targets.{}.minutes", target.as_str()),
                    format!("must be between 1 and {MAX_TARGET_MINUTES} (a year)"),
                ));
            }
        }
        Ok(())
    }
}

/// What a breach or a warning does, besides recording an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Actions {
    #[serde(default)]
    pub notify_assignee: bool,
    /// The supervisors of the ticket's team (all supervisors when it has none).
    #[serde(default)]
    pub notify_supervisors: bool,
    /// One step up (low → normal → high → urgent).
    #[serde(default)]
    pub raise_priority: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassign_team_id: Option<i64>,
}

/// A policy's targets and what happens as they come due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub targets: Targets,
    /// Warn this many minutes before a target is due; 0 for no warning.
    #[serde(default)]
    pub warn_before_minutes: i64,
    #[serde(default = "notify_assignee")]
    pub on_warning: Actions,
    #[serde(default = "notify_assignee_and_supervisors")]
    pub on_breach: Actions,
}

fn notify_assignee() -> Actions {
    Actions {
        notify_assignee: true,
        ..Actions::default()
    }
}

fn notify_assignee_and_supervisors() -> Actions {
    Actions {
        notify_assignee: true,
        notify_supervisors: true,
        ..Actions::default()
    }
}

impl Rules {
    /// An inbox without a matching policy still promises its first-answer target.
    pub fn first_response_only(minutes: i64) -> Self {
        Self {
            targets: Targets {
                first_response: Some(TargetRule::business(minutes.max(1))),
                ..Targets::default()
            },
            warn_before_minutes: 0,
            on_warning: notify_assignee(),
            on_breach: notify_assignee_and_supervisors(),
        }
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        self.targets.validate()?;
        if !(0..=MAX_TARGET_MINUTES).contains(&self.warn_before_minutes) {
            return Err(Invalid::new(
                "warn_before_minutes",
                format!("must be between 0 and {MAX_TARGET_MINUTES}"),
            ));
        }
        Ok(())
    }
}

/// When a policy applies. Every condition given must hold; a list holds when any of its
/// entries does; an empty policy condition matches every ticket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inbox_ids: Vec<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priorities: Vec<Priority>,
    /// Customers without an organisation count as `standard`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<Tier>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// A custom field and the value it must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<FieldCondition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FieldCondition {
    pub key: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub value: Value,
}

/// What policy selection looks at.
#[derive(Debug, Clone, Copy)]
pub struct TicketFacts<'a> {
    pub inbox_id: i64,
    pub priority: Priority,
    pub tier: Tier,
    pub tags: &'a [String],
    pub custom_fields: &'a BTreeMap<String, Value>,
}

impl Conditions {
    pub fn matches(&self, facts: &TicketFacts) -> bool {
        let any = |empty: bool, hit: bool| empty || hit;
        any(
            self.inbox_ids.is_empty(),
            self.inbox_ids.contains(&facts.inbox_id),
        ) && any(
            self.priorities.is_empty(),
            self.priorities.contains(&facts.priority),
        ) && any(self.tiers.is_empty(), self.tiers.contains(&facts.tier))
            && any(
                self.tags.is_empty(),
                self.tags.iter().any(|t| facts.tags.contains(t)),
            )
            && self
                .field
                .as_ref()
                .is_none_or(|f| facts.custom_fields.get(&f.key) == Some(&f.value))
    }
}

/// The first of `policies` (in their order) whose conditions match.
pub fn first_match<'p, P>(
    policies: &'p [P],
    conditions: impl Fn(&P) -> &Conditions,
    facts: &TicketFacts,
) -> Option<&'p P> {
    policies.iter().find(|p| conditions(p).matches(facts))
}

/// One target's clock. A cycle starts (`started_at`), counts while running, pauses and
/// resumes, and ends when met; the time used before the current run is kept both ways, so
/// the target's basis can change without the history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "millis_as_int"
    )]
    pub started_at: Option<Millis>,
    /// `None` while paused.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "millis_as_int"
    )]
    pub running_since: Option<Millis>,
    #[serde(default)]
    pub used_business_ms: i64,
    #[serde(default)]
    pub used_calendar_ms: i64,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "millis_as_int"
    )]
    pub met_at: Option<Millis>,
    /// When the target is due, while it runs and the policy has it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "millis_as_int"
    )]
    pub due_at: Option<Millis>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "millis_as_int"
    )]
    pub warn_at: Option<Millis>,
    #[serde(default)]
    pub warned: bool,
    /// When this cycle's target was missed (the due time, not when it was noticed).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "millis_as_int"
    )]
    pub breached_at: Option<Millis>,
}

impl Clock {
    /// A cycle is under way and not yet met.
    pub fn is_active(&self) -> bool {
        self.started_at.is_some() && self.met_at.is_none()
    }

    fn begin(&mut self, at: Millis, paused: bool) {
        *self = Self {
            started_at: Some(at),
            running_since: (!paused).then_some(at),
            ..Self::default()
        };
    }

    fn pause(&mut self, at: Millis, calendar: &BusinessCalendar) {
        if let Some(since) = self.running_since.take() {
            self.used_business_ms += calendar.business_ms_between(since, at);
            self.used_calendar_ms += (at.0 - since.0).max(0);
        }
        self.due_at = None;
        self.warn_at = None;
    }

    fn resume(&mut self, at: Millis) {
        if self.is_active() && self.running_since.is_none() {
            self.running_since = Some(at);
        }
    }

    fn meet(&mut self, at: Millis, calendar: &BusinessCalendar) {
        if self.is_active() {
            self.pause(at, calendar);
            self.met_at = Some(at);
        }
    }

    fn used_ms(&self, basis: Basis) -> i64 {
        match basis {
            Basis::Business => self.used_business_ms,
            Basis::Calendar => self.used_calendar_ms,
        }
    }

    /// What is left of `rule` at the last pause (negative once overdue); for paused clocks.
    pub fn remaining_ms(&self, rule: TargetRule) -> i64 {
        rule.ms() - self.used_ms(rule.basis)
    }

    fn schedule(&mut self, rule: Option<TargetRule>, warn_before_ms: i64, cal: &BusinessCalendar) {
        let (Some(rule), Some(since), true) = (rule, self.running_since, self.is_active()) else {
            self.due_at = None;
            self.warn_at = None;
            return;
        };
        let remaining = self.remaining_ms(rule);
        let due = match rule.basis {
            // Overdue before it paused: due that long before it resumed.
            _ if remaining <= 0 => Millis(since.0 + remaining),
            Basis::Business => cal.add_business_ms(since, remaining),
            Basis::Calendar => Millis(since.0.saturating_add(remaining)),
        };
        if self.due_at.is_some_and(|before| due > before) {
            // A new policy or calendar gave more time: warn and breach against the new due.
            self.warned = false;
            if self.breached_at.is_some_and(|missed| due > missed) {
                self.breached_at = None;
            }
        }
        self.due_at = Some(due);
        self.warn_at = (warn_before_ms > 0).then(|| Millis((due.0 - warn_before_ms).max(since.0)));
    }

    /// The next moment something happens to this clock: its warning, else its breach.
    fn next_alarm(&self) -> Option<Millis> {
        if self.breached_at.is_some() {
            return None;
        }
        match (self.warned, self.warn_at) {
            (false, Some(warn)) => Some(warn),
            _ => self.due_at,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    Warning,
    Breach,
}

/// A warning or breach that came due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Alarm {
    pub target: Target,
    pub kind: AlarmKind,
    pub due_at: Millis,
}

/// The four clocks of one ticket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaClocks {
    /// Pending, on hold, solved or closed: nothing counts.
    #[serde(default)]
    pub paused: bool,
    /// Solved or closed.
    #[serde(default)]
    pub solved: bool,
    /// We have replied publicly at least once (next-response cycles start after that).
    #[serde(default)]
    pub answered: bool,
    pub first_response: Clock,
    pub next_response: Clock,
    pub periodic_update: Clock,
    pub resolution: Clock,
}

/// Statuses in which no SLA clock counts.
pub fn pauses(status: TicketStatus) -> bool {
    !matches!(status, TicketStatus::New | TicketStatus::Open)
}

fn is_solved(status: TicketStatus) -> bool {
    matches!(status, TicketStatus::Solved | TicketStatus::Closed)
}

impl SlaClocks {
    /// A new ticket: first response, periodic update and resolution start now.
    pub fn start(at: Millis, status: TicketStatus) -> Self {
        let paused = pauses(status);
        let mut clocks = Self {
            paused,
            solved: is_solved(status),
            ..Self::default()
        };
        for target in [
            Target::FirstResponse,
            Target::PeriodicUpdate,
            Target::Resolution,
        ] {
            clocks.clock_mut(target).begin(at, paused);
        }
        if clocks.solved {
            clocks.resolution.met_at = Some(at);
        }
        clocks
    }

    pub fn clock(&self, target: Target) -> &Clock {
        match target {
            Target::FirstResponse => &self.first_response,
            Target::NextResponse => &self.next_response,
            Target::PeriodicUpdate => &self.periodic_update,
            Target::Resolution => &self.resolution,
        }
    }

    fn clock_mut(&mut self, target: Target) -> &mut Clock {
        match target {
            Target::FirstResponse => &mut self.first_response,
            Target::NextResponse => &mut self.next_response,
            Target::PeriodicUpdate => &mut self.periodic_update,
            Target::Resolution => &mut self.resolution,
        }
    }

    fn each(&mut self, mut f: impl FnMut(&mut Clock)) {
        for target in Target::ALL {
            f(self.clock_mut(target));
        }
    }

    /// The customer wrote (not the first message, which `start` covers). After our first
    /// answer, a next-response cycle starts unless one is already under way.
    pub fn customer_message(&mut self, at: Millis) {
        if self.answered && !self.next_response.is_active() {
            let paused = self.paused;
            self.next_response.begin(at, paused);
        }
    }

    /// We replied publicly: first and next response are met, the periodic update restarts.
    pub fn public_reply(&mut self, at: Millis, cal: &BusinessCalendar) {
        self.answered = true;
        self.first_response.meet(at, cal);
        self.next_response.meet(at, cal);
        if !self.solved {
            let paused = self.paused;
            self.periodic_update.begin(at, paused);
        }
    }

    /// The status changed to `to`.
    pub fn status_changed(&mut self, to: TicketStatus, at: Millis, cal: &BusinessCalendar) {
        let paused = pauses(to);
        if paused && !self.paused {
            self.each(|c| c.pause(at, cal));
        }
        if is_solved(to) && !self.solved {
            self.resolution.meet(at, cal);
        }
        if !is_solved(to) && self.solved {
            // Reopened: resolution continues from where it stopped; the customer has not
            // heard from us since, so the periodic update starts afresh.
            self.resolution.met_at = None;
            self.periodic_update.begin(at, paused);
        }
        if !paused && self.paused {
            self.each(|c| c.resume(at));
        }
        self.paused = paused;
        self.solved = is_solved(to);
    }

    /// Sets each running clock's due and warning times under `rules` and `cal`.
    pub fn schedule(&mut self, rules: &Rules, cal: &BusinessCalendar) {
        let warn_before = rules.warn_before_minutes.saturating_mul(MS_PER_MINUTE);
        for target in Target::ALL {
            let rule = rules.targets.get(target);
            self.clock_mut(target).schedule(rule, warn_before, cal);
        }
    }

    /// Warnings and breaches due at `now`, each reported once.
    pub fn fire(&mut self, now: Millis) -> Vec<Alarm> {
        let mut alarms = Vec::new();
        for target in Target::ALL {
            let clock = self.clock_mut(target);
            let (Some(due), None) = (clock.due_at, clock.breached_at) else {
                continue;
            };
            if due <= now {
                clock.breached_at = Some(due);
                clock.warned = true;
                alarms.push(Alarm {
                    target,
                    kind: AlarmKind::Breach,
                    due_at: due,
                });
            } else if !clock.warned && clock.warn_at.is_some_and(|w| w <= now) {
                clock.warned = true;
                alarms.push(Alarm {
                    target,
                    kind: AlarmKind::Warning,
                    due_at: due,
                });
            }
        }
        alarms
    }

    /// When [`Self::fire`] next has something to report.
    pub fn next_alarm(&self) -> Option<Millis> {
        Target::ALL
            .iter()
            .filter_map(|t| self.clock(*t).next_alarm())
            .min()
    }

    /// The most pressing running target: the earliest due (an overdue one is earliest).
    pub fn nearest_due(&self) -> Option<(Target, Millis)> {
        Target::ALL
            .iter()
            .filter_map(|t| self.clock(*t).due_at.map(|due| (*t, due)))
            .min_by_key(|(_, due)| *due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{CalendarConfig, IntervalConfig, WeekConfig};
    use proptest::prelude::*;

    const MIN: i64 = MS_PER_MINUTE;
    const HOUR: i64 = 60 * MIN;
    /// Monday 2026-03-02 00:00 UTC.
    const MONDAY: i64 = 1_772_409_600_000;

    fn nine_to_five() -> BusinessCalendar {
        BusinessCalendar::new(&CalendarConfig {
            time_zone: "UTC".into(),
            hours: WeekConfig::weekdays(&[IntervalConfig::new("09:00", "17:00")]),
            holidays: vec![],
        })
        .expect("valid calendar")
    }

    fn always() -> BusinessCalendar {
        BusinessCalendar::always_open("UTC").expect("UTC")
    }

    fn rules(first: i64, next: i64, periodic: i64, resolution: i64) -> Rules {
        Rules {
            targets: Targets {
                first_response: Some(TargetRule::business(first)),
                next_response: Some(TargetRule::business(next)),
                periodic_update: Some(TargetRule::business(periodic)),
                resolution: Some(TargetRule::business(resolution)),
            },
            warn_before_minutes: 30,
            on_warning: notify_assignee(),
            on_breach: notify_assignee_and_supervisors(),
        }
    }

    fn at(ms: i64) -> Millis {
        Millis(MONDAY + ms)
    }

    #[test]
    fn first_response_counts_business_hours_only() {
        let cal = nine_to_five();
        // Monday 16:00, 2 business hours: 1 today, 1 on Tuesday → Tuesday 10:00.
        let mut clocks = SlaClocks::start(at(16 * HOUR), TicketStatus::New);
        clocks.schedule(&rules(120, 60, 480, 2400), &cal);
        assert_eq!(
            clocks.first_response.due_at,
            Some(at(24 * HOUR + 10 * HOUR))
        );
        assert_eq!(
            clocks.first_response.warn_at,
            Some(at(24 * HOUR + 9 * HOUR + 30 * MIN))
        );
        assert!(clocks.next_response.due_at.is_none(), "no answer yet");
    }

    #[test]
    fn calendar_basis_counts_every_minute() {
        let cal = nine_to_five();
        let mut rules = rules(120, 60, 480, 2400);
        rules.targets.first_response = Some(TargetRule {
            minutes: 120,
            basis: Basis::Calendar,
        });
        let mut clocks = SlaClocks::start(at(16 * HOUR), TicketStatus::New);
        clocks.schedule(&rules, &cal);
        assert_eq!(clocks.first_response.due_at, Some(at(18 * HOUR)));
    }

    #[test]
    fn pending_pauses_and_resumes_where_it_stopped() {
        let cal = always();
        let rules = rules(60, 60, 600, 600);
        let mut clocks = SlaClocks::start(at(0), TicketStatus::New);
        clocks.schedule(&rules, &cal);
        assert_eq!(clocks.resolution.due_at, Some(at(600 * MIN)));
        // 100 minutes in, waiting on the customer for a day.
        clocks.status_changed(TicketStatus::Pending, at(100 * MIN), &cal);
        clocks.schedule(&rules, &cal);
        assert_eq!(clocks.resolution.due_at, None, "paused clocks are not due");
        assert_eq!(clocks.next_alarm(), None);
        assert_eq!(
            clocks
                .resolution
                .remaining_ms(rules.targets.resolution.expect("rule")),
            500 * MIN
        );
        clocks.status_changed(TicketStatus::Open, at(24 * HOUR), &cal);
        clocks.schedule(&rules, &cal);
        assert_eq!(clocks.resolution.due_at, Some(at(24 * HOUR + 500 * MIN)));
        assert_eq!(
            clocks.first_response.due_at,
            Some(at(24 * HOUR - 40 * MIN)),
            "overdue when it paused"
        );
    }

    #[test]
    fn replies_meet_and_restart_the_right_clocks() {
        let cal = always();
        let rules = rules(60, 30, 240, 6000);
        let mut clocks = SlaClocks::start(at(0), TicketStatus::New);
        clocks.public_reply(at(10 * MIN), &cal);
        clocks.schedule(&rules, &cal);
        assert_eq!(clocks.first_response.met_at, Some(at(10 * MIN)));
        assert_eq!(clocks.first_response.due_at, None);
        assert_eq!(
            clocks.periodic_update.due_at,
            Some(at(10 * MIN + 240 * MIN))
        );
        // The customer writes: next response due in 30; a second message does not restart it.
        clocks.customer_message(at(HOUR));
        clocks.schedule(&rules, &cal);
        assert_eq!(clocks.next_response.due_at, Some(at(HOUR + 30 * MIN)));
        clocks.customer_message(at(HOUR + 10 * MIN));
        clocks.schedule(&rules, &cal);
        assert_eq!(clocks.next_response.due_at, Some(at(HOUR + 30 * MIN)));
        clocks.public_reply(at(HOUR + 20 * MIN), &cal);
        clocks.schedule(&rules, &cal);
        assert_eq!(clocks.next_response.met_at, Some(at(HOUR + 20 * MIN)));
        assert_eq!(
            clocks.nearest_due(),
            Some((Target::PeriodicUpdate, at(HOUR + 260 * MIN)))
        );
    }

    #[test]
    fn solved_meets_resolution_and_reopening_continues_it() {
        let cal = always();
        let rules = rules(60, 30, 240, 600);
        let mut clocks = SlaClocks::start(at(0), TicketStatus::New);
        clocks.public_reply(at(10 * MIN), &cal);
        clocks.status_changed(TicketStatus::Solved, at(100 * MIN), &cal);
        clocks.schedule(&rules, &cal);
        assert_eq!(clocks.resolution.met_at, Some(at(100 * MIN)));
        assert_eq!(clocks.nearest_due(), None);
        clocks.status_changed(TicketStatus::Open, at(10 * HOUR), &cal);
        clocks.customer_message(at(10 * HOUR));
        clocks.schedule(&rules, &cal);
        assert_eq!(clocks.resolution.met_at, None);
        assert_eq!(clocks.resolution.due_at, Some(at(10 * HOUR + 500 * MIN)));
        assert_eq!(
            clocks.periodic_update.due_at,
            Some(at(10 * HOUR + 240 * MIN))
        );
        assert_eq!(clocks.next_response.due_at, Some(at(10 * HOUR + 30 * MIN)));
    }

    #[test]
    fn warnings_and_breaches_fire_once() {
        let cal = always();
        let rules = rules(60, 30, 240, 600);
        let mut clocks = SlaClocks::start(at(0), TicketStatus::New);
        clocks.schedule(&rules, &cal);
        assert_eq!(clocks.next_alarm(), Some(at(30 * MIN)));
        assert!(clocks.fire(at(29 * MIN)).is_empty());
        let warned = clocks.fire(at(30 * MIN));
        assert_eq!(
            warned,
            vec![Alarm {
                target: Target::FirstResponse,
                kind: AlarmKind::Warning,
                due_at: at(HOUR)
            }]
        );
        assert!(clocks.fire(at(31 * MIN)).is_empty(), "a warning fires once");
        assert_eq!(clocks.next_alarm(), Some(at(HOUR)));
        let breached = clocks.fire(at(2 * HOUR));
        assert_eq!(breached[0].kind, AlarmKind::Breach);
        assert_eq!(clocks.first_response.breached_at, Some(at(HOUR)));
        assert!(
            clocks
                .fire(at(3 * HOUR))
                .iter()
                .all(|a| a.target != Target::FirstResponse)
        );
        // Still unanswered: it stays the most pressing, overdue.
        assert_eq!(
            clocks.nearest_due(),
            Some((Target::FirstResponse, at(HOUR)))
        );
    }

    #[test]
    fn a_later_due_after_a_policy_change_lifts_the_breach() {
        let cal = always();
        let mut clocks = SlaClocks::start(at(0), TicketStatus::New);
        clocks.schedule(&rules(60, 30, 240, 600), &cal);
        clocks.fire(at(61 * MIN));
        assert!(clocks.first_response.breached_at.is_some());
        clocks.schedule(&rules(240, 30, 240, 600), &cal);
        assert_eq!(clocks.first_response.breached_at, None);
        assert_eq!(clocks.first_response.due_at, Some(at(4 * HOUR)));
    }

    #[test]
    fn conditions_match_every_given_condition() {
        let tags = vec!["vip".to_string()];
        let fields = BTreeMap::from([("product".to_string(), Value::from("router"))]);
        let facts = TicketFacts {
            inbox_id: 1,
            priority: Priority::Urgent,
            tier: Tier::Enterprise,
            tags: &tags,
            custom_fields: &fields,
        };
        assert!(Conditions::default().matches(&facts));
        let enterprise_urgent = Conditions {
            priorities: vec![Priority::High, Priority::Urgent],
            tiers: vec![Tier::Enterprise],
            ..Conditions::default()
        };
        assert!(enterprise_urgent.matches(&facts));
        let other_inbox = Conditions {
            inbox_ids: vec![2],
            ..enterprise_urgent.clone()
        };
        assert!(!other_inbox.matches(&facts));
        let by_field = Conditions {
            field: Some(FieldCondition {
                key: "product".into(),
                value: Value::from("switch"),
            }),
            ..Conditions::default()
        };
        assert!(!by_field.matches(&facts));
        let by_tag = Conditions {
            tags: vec!["billing".into(), "vip".into()],
            ..Conditions::default()
        };
        assert!(by_tag.matches(&facts));
        let policies = [("strict", other_inbox), ("enterprise", enterprise_urgent)];
        let chosen = first_match(&policies, |p| &p.1, &facts).map(|p| p.0);
        assert_eq!(chosen, Some("enterprise"));
    }

    #[test]
    fn rules_are_checked() {
        let mut bad = rules(0, 30, 240, 600);
        assert_eq!(
            bad.validate().map_err(|e| e.field),
            Err("targets.first_response.minutes".to_string())
        );
        bad.targets.first_response = Some(TargetRule::business(60));
        bad.warn_before_minutes = -1;
        assert!(bad.validate().is_err());
        let parsed: Rules =
            serde_json::from_str(r#"{"targets": {"first_response": {"minutes": 60}}}"#)
                .expect("defaults fill in");
        assert!(parsed.on_breach.notify_supervisors);
        assert!(
            serde_json::from_str::<Rules>(r#"{"targets": {"first": {"minutes": 6}}}"#).is_err()
        );
    }

    fn any_status() -> impl Strategy<Value = TicketStatus> {
        prop::sample::select(TicketStatus::ALL.to_vec())
    }

    #[derive(Debug, Clone)]
    enum Step {
        Customer,
        Reply,
        Status(TicketStatus),
    }

    fn any_step() -> impl Strategy<Value = Step> {
        prop_oneof![
            Just(Step::Customer),
            Just(Step::Reply),
            any_status().prop_map(Step::Status),
        ]
    }

    proptest! {
        /// Whatever happens, time used only grows, only running clocks are due, never before
        /// their cycle began, and a paused ticket has nothing due.
        #[test]
        fn clocks_stay_consistent(steps in prop::collection::vec((any_step(), 0i64..3 * 24 * 60), 1..40)) {
            let cal = nine_to_five();
            let rules = rules(60, 30, 240, 2400);
            let mut now = at(0);
            let mut clocks = SlaClocks::start(now, TicketStatus::New);
            for (step, gap) in steps {
                let before = clocks.clone();
                now = Millis(now.0 + gap * MIN);
                match step {
                    Step::Customer => clocks.customer_message(now),
                    Step::Reply => clocks.public_reply(now, &cal),
                    Step::Status(s) => clocks.status_changed(s, now, &cal),
                }
                clocks.schedule(&rules, &cal);
                prop_assert!(clocks.resolution.used_business_ms >= before.resolution.used_business_ms);
                prop_assert!(clocks.resolution.used_calendar_ms >= before.resolution.used_calendar_ms);
                for target in Target::ALL {
                    let clock = clocks.clock(target);
                    if let Some(due) = clock.due_at {
                        prop_assert!(!clocks.paused);
                        prop_assert!(clock.running_since.is_some(), "due only while running");
                        prop_assert!(due >= clock.started_at.expect("a cycle"));
                    }
                }
                if clocks.paused {
                    prop_assert_eq!(clocks.next_alarm(), None);
                }
                clocks.fire(now);
            }
        }
    }
}
