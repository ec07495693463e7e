//! SLA and commitments in the workspace: countdown badges, the ticket's SLA and commitments
//! panel with its forms, the admin sections for calendars and SLA policies, and the
//! supervisors' kept-rate and chase-rate report.

use super::session::{AgentSession, SessionForm};
use super::{FormFields, ctx, field, invalid};
use super::{PageError, templates};
use crate::{AppState, now};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use rapport_core::calendar::{CalendarConfig, IntervalConfig, WEEKDAYS as DAYS, WeekConfig};
use rapport_core::commitment::{CommitmentKind, CommitmentStatus, QuickDue};
use rapport_core::contact::Tier;
use rapport_core::sla::{
    Actions, Basis, Conditions, FieldCondition, Rules, Target, TargetRule, Targets,
};
use rapport_core::{Millis, Permission, Priority};
use rapport_store::{Commitment, Due, NewCommitment, NewSlaPolicy, SlaBadge, TicketSla};
use serde::Serialize;
use std::collections::HashMap;

const HOUR_MS: i64 = 3_600_000;

/// A due time as a list or panel shows it: how long is left (or how late it is) and whether
/// that is comfortable, close (under an hour) or overdue.
#[derive(Serialize, Clone)]
pub struct Countdown {
    pub due_at: i64,
    /// `ok`, `soon` or `overdue`.
    pub state: &'static str,
    /// `2h 10m`, `3d 4h`, `45m`: the distance either way.
    pub text: String,
}

pub fn countdown(due: Millis, now: Millis) -> Countdown {
    let left = due.0 - now.0;
    let state = match left {
        l if l < 0 => "overdue",
        l if l < HOUR_MS => "soon",
        _ => "ok",
    };
    let minutes = left.abs() / 60_000;
    let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    let text = match (days, hours) {
        (0, 0) => format!("{mins}m"),
        (0, h) => format!("{h}h {mins}m"),
        (d, h) => format!("{d}d {h}h"),
    };
    Countdown {
        due_at: due.0,
        state,
        text,
    }
}

/// A list row's SLA badge: the most pressing target and its countdown.
#[derive(Serialize, Clone)]
pub struct BadgeView {
    pub target: &'static str,
    #[serde(flatten)]
    pub countdown: Countdown,
}

pub fn badges(list: Vec<SlaBadge>) -> HashMap<i64, BadgeView> {
    let at = now();
    list.into_iter()
        .map(|b| {
            let view = BadgeView {
                target: b.target.as_str(),
                countdown: countdown(b.due_at, at),
            };
            (b.ticket_id, view)
        })
        .collect()
}

#[derive(Serialize)]
struct TargetView {
    target: &'static str,
    state: String,
    countdown: Option<Countdown>,
    remaining_minutes: Option<i64>,
    met_at: Option<Millis>,
    breached_at: Option<Millis>,
}

#[derive(Serialize)]
struct CommitmentView {
    #[serde(flatten)]
    commitment: Commitment,
    countdown: Option<Countdown>,
}

/// The ticket page's SLA and commitments panel.
pub async fn panel(state: &AppState, ticket_id: i64) -> Result<Value, PageError> {
    let (sla, commitments) = tokio::try_join!(
        state.store.ticket_sla(ticket_id),
        state.store.commitments(ticket_id)
    )?;
    let at = now();
    let targets: Vec<TargetView> = sla
        .as_ref()
        .map(|s: &TicketSla| {
            s.targets
                .iter()
                .map(|tg| TargetView {
                    target: tg.target.as_str(),
                    state: tg.state.clone(),
                    countdown: tg.due_at.map(|d| countdown(d, at)),
                    remaining_minutes: tg.remaining_minutes,
                    met_at: tg.met_at,
                    breached_at: tg.breached_at,
                })
                .collect()
        })
        .unwrap_or_default();
    let commitments: Vec<CommitmentView> = commitments
        .into_iter()
        .rev()
        .map(|c| CommitmentView {
            countdown: (c.status == CommitmentStatus::Open).then(|| countdown(c.due_at, at)),
            commitment: c,
        })
        .collect();
    Ok(context! {
        policy => sla.as_ref().and_then(|s| s.policy_name.clone()),
        paused => sla.as_ref().is_some_and(|s| s.paused),
        breaches => sla.as_ref().map_or(0, |s| s.breaches),
        targets => targets,
        commitments => commitments,
        quick => QuickDue::ALL.iter().map(|q| q.as_str()).collect::<Vec<_>>(),
    })
}

/// A `datetime-local` value (`2026-11-27T17:00`) read in the agent's zone.
pub(super) fn local_time(text: &str, zone: &str) -> Result<Millis, PageError> {
    let civil: jiff::civil::DateTime = text
        .parse()
        .map_err(|_| invalid("due_at", "is not a date and time"))?;
    let tz = jiff::tz::TimeZone::get(zone)
        .map_err(|_| invalid("tz", format!("'{zone}' is not an IANA time zone")))?;
    // A time a clock change skips is read as the moment after the gap, as calendars do.
    let zoned = civil
        .to_zoned(tz)
        .map_err(|_| invalid("due_at", "is out of range"))?;
    Ok(Millis(zoned.timestamp().as_millisecond()))
}

/// `POST /t/{id}/commitments`: a quick choice (the button pressed) or a typed time.
pub async fn make(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_do(Permission::PublicReply)?;
    let result = async {
        let kind = CommitmentKind::parse(field(&form, "kind"))?;
        let due = match field(&form, "quick") {
            "" => Due::At(local_time(field(&form, "due_at"), field(&form, "tz"))?),
            quick => Due::Quick(QuickDue::parse(quick)?),
        };
        let new = NewCommitment {
            kind,
            description: field(&form, "description").to_string(),
            due,
        };
        state.store.make_commitment(ctx(&session), id, new).await?;
        Ok(())
    }
    .await;
    back_to_ticket(&state, &session, id, result).await
}

/// `POST /t/{id}/commitments/{commitment}/fulfil`.
pub async fn fulfil(
    State(state): State<AppState>,
    Path((id, commitment)): Path<(i64, i64)>,
    SessionForm { session, .. }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_do(Permission::PublicReply)?;
    let result = of_ticket(&state, id, commitment).await;
    let result = match result {
        Ok(()) => state
            .store
            .fulfil_commitment(ctx(&session), commitment)
            .await
            .map(|_| ())
            .map_err(PageError::from),
        Err(e) => Err(e),
    };
    back_to_ticket(&state, &session, id, result).await
}

/// `POST /t/{id}/commitments/{commitment}/cancel` with a reason.
pub async fn cancel(
    State(state): State<AppState>,
    Path((id, commitment)): Path<(i64, i64)>,
    SessionForm { session, form }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_do(Permission::PublicReply)?;
    let result = match of_ticket(&state, id, commitment).await {
        Ok(()) => state
            .store
            .cancel_commitment(ctx(&session), commitment, field(&form, "reason"))
            .await
            .map(|_| ())
            .map_err(PageError::from),
        Err(e) => Err(e),
    };
    back_to_ticket(&state, &session, id, result).await
}

/// A commitment id in a ticket's URL must be one of that ticket's.
async fn of_ticket(state: &AppState, ticket: i64, commitment: i64) -> Result<(), PageError> {
    let list = state.store.commitments(ticket).await?;
    if list.iter().any(|c| c.id == commitment) {
        Ok(())
    } else {
        Err(PageError::not_found())
    }
}

/// Back to the ticket, or the ticket page again with what was refused.
async fn back_to_ticket(
    state: &AppState,
    session: &AgentSession,
    id: i64,
    result: Result<(), PageError>,
) -> Result<Response, PageError> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/t/{id}#commitments")).into_response()),
        Err(PageError(problem)) if problem.status < 500 && problem.status != 404 => {
            let status = axum::http::StatusCode::from_u16(problem.status)
                .unwrap_or(axum::http::StatusCode::BAD_REQUEST);
            let mut page = super::ticket::render_error(state, session, id, problem.detail).await?;
            *page.status_mut() = status;
            Ok(page)
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Admin: calendars and SLA policies

/// The data of the `calendars` and `sla` admin sections.
pub async fn admin_section(
    state: &AppState,
    section: &str,
    edit: Option<i64>,
) -> Result<Option<Value>, PageError> {
    Ok(Some(match section {
        "calendars" => {
            let calendars = state.store.list_calendars().await?;
            let editing = edit.and_then(|id| calendars.iter().find(|c| c.id == id).cloned());
            let form = editing.as_ref().map(|c| calendar_form(&c.config));
            context! { calendars => calendars, editing => editing, form => form, days => DAYS }
        }
        "sla" => {
            let (policies, calendars, inboxes, teams) = tokio::try_join!(
                state.store.list_sla_policies(),
                state.store.list_calendars(),
                state.store.list_inboxes(),
                state.store.list_teams(),
            )?;
            let editing = edit.and_then(|id| policies.iter().find(|p| p.id == id).cloned());
            context! {
                policies => policies, editing => editing, calendars => calendars,
                inboxes => inboxes, teams => teams,
                targets => Target::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                priorities => Priority::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                tiers => Tier::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            }
        }
        _ => return Ok(None),
    }))
}

/// A calendar as the form shows it: one line of intervals per day, one holiday per line.
fn calendar_form(config: &CalendarConfig) -> Value {
    let days: HashMap<&str, String> = DAYS
        .iter()
        .zip(config.hours.days())
        .map(|(name, intervals)| {
            let text = intervals
                .iter()
                .map(|i| format!("{}-{}", i.start, i.end))
                .collect::<Vec<_>>()
                .join(", ");
            (*name, text)
        })
        .collect();
    context! { time_zone => config.time_zone, days => days, holidays => config.holidays.join("\n") }
}

/// `09:00-12:00, 13:00-17:30` per day; holidays one per line.
fn parse_calendar(form: &FormFields) -> Result<CalendarConfig, PageError> {
    let mut days: [Vec<IntervalConfig>; 7] = Default::default();
    for (i, day) in DAYS.iter().enumerate() {
        for part in field(form, &format!("day.{day}"))
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (start, end) = part.split_once('-').ok_or_else(|| {
                invalid(
                    &format!("hours.{day}"),
                    format!("'{part}' is not an interval like 09:00-17:00"),
                )
            })?;
            days[i].push(IntervalConfig::new(start.trim(), end.trim()));
        }
    }
    Ok(CalendarConfig {
        time_zone: field(form, "time_zone").to_string(),
        hours: WeekConfig::from_days(days),
        holidays: field(form, "holidays")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
    })
}

fn optional_id(text: &str, name: &str) -> Result<Option<i64>, PageError> {
    match text {
        "" => Ok(None),
        id => id
            .parse()
            .map(Some)
            .map_err(|_| invalid(name, "is not an id")),
    }
}

/// `POST /admin/calendars/save` (new, or `id` to change one).
pub async fn save_calendar(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ManageSettings)?;
    let result = async {
        let id = optional_id(field(&form, "id"), "id")?;
        let config = parse_calendar(&form)?;
        let name = field(&form, "name").to_string();
        state
            .store
            .save_calendar(ctx(&session), id, name, config)
            .await?;
        Ok(())
    }
    .await;
    super::admin::outcome(&state, &session, "calendars", result).await
}

pub async fn delete_calendar(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, .. }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ManageSettings)?;
    let result = state
        .store
        .delete_calendar(ctx(&session), id)
        .await
        .map_err(PageError::from);
    super::admin::outcome(&state, &session, "calendars", result).await
}

fn checked(form: &FormFields, name: &str) -> bool {
    form.contains_key(name)
}

fn actions(form: &FormFields, prefix: &str) -> Result<Actions, PageError> {
    Ok(Actions {
        notify_assignee: checked(form, &format!("{prefix}.notify_assignee")),
        notify_supervisors: checked(form, &format!("{prefix}.notify_supervisors")),
        raise_priority: checked(form, &format!("{prefix}.raise_priority")),
        reassign_team_id: optional_id(
            field(form, &format!("{prefix}.reassign_team_id")),
            "reassign_team_id",
        )?,
    })
}

fn minutes(form: &FormFields, name: &str) -> Result<Option<i64>, PageError> {
    match field(form, name) {
        "" => Ok(None),
        text => text
            .parse()
            .map(Some)
            .map_err(|_| invalid(name, "is not a whole number of minutes")),
    }
}

/// The policy form: conditions as one checkbox per option (`priority.urgent`), targets as
/// minutes and a basis each.
fn parse_policy(form: &FormFields) -> Result<NewSlaPolicy, PageError> {
    let chosen = |prefix: &str| -> Vec<String> {
        let mut keys: Vec<String> = form
            .keys()
            .filter_map(|k| k.strip_prefix(prefix).map(String::from))
            .collect();
        keys.sort();
        keys
    };
    let mut targets = Targets::default();
    for target in Target::ALL {
        let name = target.as_str();
        let Some(minutes) = minutes(form, &format!("{name}.minutes"))? else {
            continue;
        };
        let basis = match field(form, &format!("{name}.basis")) {
            "calendar" => Basis::Calendar,
            _ => Basis::Business,
        };
        let rule = Some(TargetRule { minutes, basis });
        match target {
            Target::FirstResponse => targets.first_response = rule,
            Target::NextResponse => targets.next_response = rule,
            Target::PeriodicUpdate => targets.periodic_update = rule,
            Target::Resolution => targets.resolution = rule,
        }
    }
    let field_condition = match (field(form, "field.key"), field(form, "field.value")) {
        ("", _) => None,
        (key, value) => Some(FieldCondition {
            key: key.to_string(),
            // Numbers and true/false as JSON values; anything else as text.
            value: serde_json::from_str(value).unwrap_or_else(|_| value.into()),
        }),
    };
    let conditions = Conditions {
        inbox_ids: chosen("inbox.")
            .iter()
            .map(|id| id.parse().map_err(|_| invalid("inbox_ids", "is not an id")))
            .collect::<Result<_, _>>()?,
        priorities: chosen("priority.")
            .iter()
            .map(|p| Priority::parse(p))
            .collect::<Result<_, _>>()?,
        tiers: chosen("tier.")
            .iter()
            .map(|t| Tier::parse(t))
            .collect::<Result<_, _>>()?,
        tags: field(form, "tags")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect(),
        field: field_condition,
    };
    Ok(NewSlaPolicy {
        name: field(form, "name").to_string(),
        position: match field(form, "position") {
            "" => 1,
            text => text
                .parse()
                .map_err(|_| invalid("position", "is not a whole number"))?,
        },
        conditions,
        rules: Rules {
            targets,
            warn_before_minutes: minutes(form, "warn_before_minutes")?.unwrap_or(0),
            on_warning: actions(form, "on_warning")?,
            on_breach: actions(form, "on_breach")?,
        },
        calendar_id: optional_id(field(form, "calendar_id"), "calendar_id")?,
    })
}

/// `POST /admin/sla/save` (new, or `id` to change one).
pub async fn save_policy(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ManageSettings)?;
    let result = async {
        let id = optional_id(field(&form, "id"), "id")?;
        let new = parse_policy(&form)?;
        state.store.save_sla_policy(ctx(&session), id, new).await?;
        Ok(())
    }
    .await;
    super::admin::outcome(&state, &session, "sla", result).await
}

pub async fn delete_policy(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, .. }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ManageSettings)?;
    let result = state
        .store
        .delete_sla_policy(ctx(&session), id)
        .await
        .map_err(PageError::from);
    super::admin::outcome(&state, &session, "sla", result).await
}

// ---------------------------------------------------------------------------------------------
// The report

/// `GET /reports`: kept rates, chase rates, one touch, honest noes and internal waits of the
/// last 30 days, for supervisors.
pub async fn report(
    State(state): State<AppState>,
    session: AgentSession,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ReadAudit)?;
    let since = Millis(now().0 - 30 * 24 * HOUR_MS);
    let (kept, chases, routing) = tokio::try_join!(
        async { Ok::<_, PageError>(state.store.kept_rates(since).await?) },
        async { Ok(state.store.chase_rates(since).await?) },
        super::routing::report(&state, since),
    )?;
    Ok(templates().render(
        "reports.html",
        session.lang,
        context! { me => session.me(), csrf => &session.csrf, kept => kept, chases => chases, routing => routing, since => since },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdowns_read_both_ways() {
        let now = Millis(1_000_000_000_000);
        let c = countdown(Millis(now.0 + 2 * HOUR_MS + 10 * 60_000), now);
        assert_eq!((c.state, c.text.as_str()), ("ok", "2h 10m"));
        let c = countdown(Millis(now.0 + 45 * 60_000), now);
        assert_eq!((c.state, c.text.as_str()), ("soon", "45m"));
        let c = countdown(Millis(now.0 - (3 * 24 + 4) * HOUR_MS), now);
        assert_eq!((c.state, c.text.as_str()), ("overdue", "3d 4h"));
    }

    #[test]
    fn calendar_forms_round_trip() {
        let mut form = FormFields::new();
        form.insert("time_zone".into(), "Europe/Berlin".into());
        form.insert("day.monday".into(), "09:00-12:00, 13:00-17:30".into());
        form.insert("day.saturday".into(), "10:00-14:00".into());
        form.insert("holidays".into(), "12-25\n 2026-12-24 \n".into());
        let config = parse_calendar(&form).expect("parses");
        assert_eq!(config.hours.days()[0].len(), 2);
        assert_eq!(config.holidays, vec!["12-25", "2026-12-24"]);
        let shown = calendar_form(&config);
        assert_eq!(
            shown
                .get_attr("days")
                .unwrap()
                .get_attr("monday")
                .unwrap()
                .to_string(),
            "09:00-12:00, 13:00-17:30"
        );
        form.insert("day.tuesday".into(), "9 to 5".into());
        assert!(parse_calendar(&form).is_err());
    }

    #[test]
    fn policy_forms_read_conditions_and_targets() {
        let form: FormFields = [
            ("name", "Enterprise"),
            ("priority.urgent", "on"),
            ("priority.high", "on"),
            ("tier.enterprise", "on"),
            ("tags", "vip, outage"),
            ("first_response.minutes", "60"),
            ("first_response.basis", "calendar"),
            ("resolution.minutes", "2400"),
            ("warn_before_minutes", "15"),
            ("on_breach.raise_priority", "on"),
            ("field.key", "seats"),
            ("field.value", "50"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let policy = parse_policy(&form).expect("parses");
        assert_eq!(
            policy.conditions.priorities,
            vec![Priority::High, Priority::Urgent]
        );
        assert_eq!(policy.conditions.tiers, vec![Tier::Enterprise]);
        assert_eq!(policy.conditions.tags, vec!["vip", "outage"]);
        assert_eq!(
            policy.conditions.field.map(|f| f.value),
            Some(serde_json::json!(50))
        );
        assert_eq!(
            policy.rules.targets.first_response,
            Some(TargetRule {
                minutes: 60,
                basis: Basis::Calendar
            })
        );
        assert_eq!(
            policy.rules.targets.resolution.map(|r| r.basis),
            Some(Basis::Business)
        );
        assert!(policy.rules.on_breach.raise_priority);
        assert!(!policy.rules.on_warning.notify_assignee);
    }
}
