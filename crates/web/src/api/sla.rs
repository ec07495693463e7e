//! SLAs and commitments: business-hours calendars, SLA policies (which tickets they apply to,
//! their targets and escalations), each ticket's clocks, what agents promised customers and
//! by when, and the kept and chase rates supervisors read.
//!
//! Values the store checks are checked here first too, so a problem names the field as the
//! body spells it (`config.hours.monday[0].end`, `rules.targets.first_response.minutes`)
//! rather than as the store's own types do.

use super::ListOf;
use super::customers::numeric_id;
use super::tickets::ctx;
use crate::auth::Caller;
use crate::extract::{JsonBody, Params, ticket_id};
use crate::problem::responses as problems;
use crate::problem::{ApiResult, Problem};
use crate::{AppState, now};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rapport_core::calendar::{BusinessCalendar, CalendarConfig};
use rapport_core::commitment::{CommitmentKind, QuickDue};
use rapport_core::sla::{Conditions, Rules};
use rapport_core::{Invalid, Millis, Permission, TicketRef};
use rapport_store::{
    Calendar, ChaseRate, Commitment, Due, KeptRate, NewCommitment, NewSlaPolicy, SlaPolicy,
    TicketSla,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// How far back the rates look when `since` is not given.
const DEFAULT_RATE_DAYS: i64 = 30;

/// `invalid` with its field moved under `parent` (`time_zone` → `config.time_zone`).
fn under(parent: &str, invalid: Invalid) -> Invalid {
    Invalid::new(format!("{parent}.{}", invalid.field), invalid.problem)
}

// ---------------------------------------------------------------------------------------------
// Calendars

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarInput {
    pub name: String,
    /// `{"time_zone": "Europe/Berlin", "hours": {"monday": [{"start": "09:00", "end":
    /// "17:00"}]}, "holidays": ["12-25", "2026-12-24"]}`: an IANA zone, opening intervals per
    /// weekday (`HH:MM`, `end` may be `24:00`; a day left out is closed) and days closed all
    /// day (`MM-DD` every year, `YYYY-MM-DD` once).
    #[schema(value_type = Object)]
    pub config: CalendarConfig,
}

impl CalendarInput {
    /// The name and the calendar, checked (errors name `config.…`).
    fn checked(self) -> Result<(String, CalendarConfig), Invalid> {
        let calendar = BusinessCalendar::new(&self.config).map_err(|e| under("config", e))?;
        Ok((self.name, calendar.config()))
    }
}

/// Business-hours calendars, by name.
#[utoipa::path(get, path = "/calendars", tag = "sla",
    responses((status = 200, body = ListOf<Calendar>), problems::Auth), security(("bearer" = [])))]
pub async fn list_calendars(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListOf<Calendar>>> {
    caller.require(Permission::ReadDirectory, "read calendars")?;
    Ok(Json(ListOf::all(state.store.list_calendars().await?)))
}

/// Creates a business-hours calendar for SLA policies to count on. The calendar is stored
/// normalised (intervals sorted, holidays sorted and without duplicates).
#[utoipa::path(post, path = "/calendars", tag = "sla", request_body = CalendarInput,
    responses((status = 201, body = Calendar), problems::Auth, problems::Body, problems::Conflict),
    security(("bearer" = [])))]
pub async fn create_calendar(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<CalendarInput>,
) -> ApiResult<(StatusCode, Json<Calendar>)> {
    caller.require(Permission::ManageSettings, "create calendars")?;
    let (name, config) = body.value.checked()?;
    let calendar = state
        .store
        .save_calendar(ctx(&caller), None, name, config)
        .await?;
    Ok((StatusCode::CREATED, Json(calendar)))
}

async fn find_calendar(state: &AppState, id: i64) -> ApiResult<Calendar> {
    state
        .store
        .list_calendars()
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| Problem::not_found(format!("calendar {id} does not exist")))
}

#[utoipa::path(get, path = "/calendars/{id}", tag = "sla",
    params(("id" = i64, Path)),
    responses((status = 200, body = Calendar), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn get_calendar(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Calendar>> {
    caller.require(Permission::ReadDirectory, "read calendars")?;
    Ok(Json(
        find_calendar(&state, numeric_id("calendar", &id)?).await?,
    ))
}

/// Replaces a calendar's name and hours. Open tickets whose SLA counts on it get their due
/// times recomputed in the background.
#[utoipa::path(put, path = "/calendars/{id}", tag = "sla", request_body = CalendarInput,
    params(("id" = i64, Path)),
    responses((status = 200, body = Calendar), problems::Auth, problems::Body, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn update_calendar(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody<CalendarInput>,
) -> ApiResult<Json<Calendar>> {
    caller.require(Permission::ManageSettings, "change calendars")?;
    let id = numeric_id("calendar", &id)?;
    let (name, config) = body.value.checked()?;
    Ok(Json(
        state
            .store
            .save_calendar(ctx(&caller), Some(id), name, config)
            .await?,
    ))
}

/// Deletes a calendar. Refused (409) while an SLA policy uses it; the problem names them.
#[utoipa::path(delete, path = "/calendars/{id}", tag = "sla",
    params(("id" = i64, Path)),
    responses((status = 204, description = "Deleted"), problems::Auth, problems::Query, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn delete_calendar(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Permission::ManageSettings, "delete calendars")?;
    let id = numeric_id("calendar", &id)?;
    state.store.delete_calendar(ctx(&caller), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// SLA policies

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicyInput {
    pub name: String,
    /// Policies are tried in this order (lowest first); the first whose conditions match a
    /// ticket applies. On create, absent means after the last policy; on replace, absent
    /// keeps the policy's place.
    pub position: Option<i64>,
    /// When the policy applies; absent or `{}` matches every ticket.
    #[serde(default)]
    pub conditions: Conditions,
    /// Targets (`first_response`, `next_response`, `periodic_update`, `resolution`, each
    /// `{"minutes": 60, "basis": "business"|"calendar"}`), `warn_before_minutes`, and what
    /// `on_warning` and `on_breach` do.
    pub rules: Rules,
    /// The calendar business time counts on; absent or `null`: the ticket's inbox hours.
    pub calendar_id: Option<i64>,
}

impl SlaPolicyInput {
    /// The store's input, checked (errors name `rules.…` and `conditions.…`); `position`
    /// when the body gives none.
    fn checked(self, position: i64) -> Result<NewSlaPolicy, Invalid> {
        self.rules.validate().map_err(|e| under("rules", e))?;
        for (i, tag) in self.conditions.tags.iter().enumerate() {
            rapport_core::tags::normalize_tag(tag)
                .map_err(|e| Invalid::new(format!("conditions.tags[{i}]"), e.problem))?;
        }
        Ok(NewSlaPolicy {
            name: self.name,
            position: self.position.unwrap_or(position),
            conditions: self.conditions,
            rules: self.rules,
            calendar_id: self.calendar_id,
        })
    }
}

/// SLA policies in the order they are tried.
#[utoipa::path(get, path = "/sla-policies", tag = "sla",
    responses((status = 200, body = ListOf<SlaPolicy>), problems::Auth), security(("bearer" = [])))]
pub async fn list_sla_policies(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListOf<SlaPolicy>>> {
    caller.require(Permission::ReadDirectory, "read SLA policies")?;
    Ok(Json(ListOf::all(state.store.list_sla_policies().await?)))
}

/// Creates an SLA policy. New tickets get it when it is the first to match; open tickets are
/// looked at again in the background. An unknown `calendar_id`, inbox or team is a 404.
#[utoipa::path(post, path = "/sla-policies", tag = "sla", request_body = SlaPolicyInput,
    responses((status = 201, body = SlaPolicy), problems::Auth, problems::Body, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn create_sla_policy(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<SlaPolicyInput>,
) -> ApiResult<(StatusCode, Json<SlaPolicy>)> {
    caller.require(Permission::ManageSettings, "create SLA policies")?;
    let last = state
        .store
        .list_sla_policies()
        .await?
        .iter()
        .map(|p| p.position)
        .max();
    let new = body
        .value
        .checked(last.map_or(1, |p| p.saturating_add(1)))?;
    let policy = state.store.save_sla_policy(ctx(&caller), None, new).await?;
    Ok((StatusCode::CREATED, Json(policy)))
}

async fn find_policy(state: &AppState, id: i64) -> ApiResult<SlaPolicy> {
    state
        .store
        .list_sla_policies()
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| Problem::not_found(format!("SLA policy {id} does not exist")))
}

#[utoipa::path(get, path = "/sla-policies/{id}", tag = "sla",
    params(("id" = i64, Path)),
    responses((status = 200, body = SlaPolicy), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn get_sla_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SlaPolicy>> {
    caller.require(Permission::ReadDirectory, "read SLA policies")?;
    Ok(Json(
        find_policy(&state, numeric_id("SLA policy", &id)?).await?,
    ))
}

/// Replaces a policy (absent `conditions` match every ticket again; absent `position` keeps
/// its place). Open tickets are looked at again in the background.
#[utoipa::path(put, path = "/sla-policies/{id}", tag = "sla", request_body = SlaPolicyInput,
    params(("id" = i64, Path)),
    responses((status = 200, body = SlaPolicy), problems::Auth, problems::Body, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn update_sla_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody<SlaPolicyInput>,
) -> ApiResult<Json<SlaPolicy>> {
    caller.require(Permission::ManageSettings, "change SLA policies")?;
    let id = numeric_id("SLA policy", &id)?;
    let current = find_policy(&state, id).await?;
    let new = body.value.checked(current.position)?;
    Ok(Json(
        state
            .store
            .save_sla_policy(ctx(&caller), Some(id), new)
            .await?,
    ))
}

/// Deletes a policy. Its tickets fall back to the next matching policy (or their inbox's
/// first-answer target) in the background.
#[utoipa::path(delete, path = "/sla-policies/{id}", tag = "sla",
    params(("id" = i64, Path)),
    responses((status = 204, description = "Deleted"), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn delete_sla_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Permission::ManageSettings, "delete SLA policies")?;
    let id = numeric_id("SLA policy", &id)?;
    state.store.delete_sla_policy(ctx(&caller), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// A ticket's clocks and commitments

/// A ticket's SLA: the policy chosen (none: the inbox's first-answer target), each target's
/// state (`running`, `paused`, `met`, `idle`) and due time, the most pressing due time, and
/// the breaches so far.
///
/// 404 with type `/problems/not-found` when the ticket does not exist, and with type
/// `/problems/no-sla-clocks` when it exists but its clocks never started: a ticket created
/// before SLAs existed and not touched since. Its clocks start with its next message or
/// change.
#[utoipa::path(get, path = "/tickets/{id}/sla", tag = "sla",
    params(("id" = String, Path, description = "Ticket number or reference")),
    responses((status = 200, body = TicketSla), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn ticket_sla(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<TicketSla>> {
    caller.require(Permission::ReadTickets, "read tickets")?;
    let id = ticket_id(&id)?;
    if let Some(sla) = state.store.ticket_sla(id).await? {
        return Ok(Json(sla));
    }
    // No clocks: an unknown ticket is a plain 404, a known one says why it has none.
    state.store.ticket(id).await?;
    Err(Problem::new(
        StatusCode::NOT_FOUND,
        "no-sla-clocks",
        format!(
            "ticket {} has no SLA clocks yet: it was created before SLAs and has not changed \
             since; they start with its next message or change",
            TicketRef(id)
        ),
    ))
}

/// The ticket's commitments, oldest first: open, kept, broken and cancelled.
#[utoipa::path(get, path = "/tickets/{id}/commitments", tag = "sla",
    params(("id" = String, Path, description = "Ticket number or reference")),
    responses((status = 200, body = ListOf<Commitment>), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn list_commitments(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ListOf<Commitment>>> {
    caller.require(Permission::ReadTickets, "read tickets")?;
    let id = ticket_id(&id)?;
    // The store lists nothing for an unknown ticket; the API says it does not exist.
    state.store.ticket(id).await?;
    Ok(Json(ListOf::all(state.store.commitments(id).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitmentInput {
    /// `promise` ("replacement ships by Friday") or `next_update` (when the customer hears
    /// from us next; a new one replaces the open one).
    pub kind: CommitmentKind,
    /// What was promised, one line; may be empty for a `next_update`.
    #[serde(default)]
    pub description: String,
    /// When it is due, RFC 3339 (`2026-11-27T17:00:00+01:00`); in the future, within a year.
    /// Give this or `quick`.
    pub due_at: Option<String>,
    /// A quick choice instead of a time, resolved in the customer's time zone on the ticket's
    /// SLA calendar: `in_two_hours` (business hours), `end_of_day` (17:00),
    /// `tomorrow_morning` (10:00 on the next working day), `next_week` (10:00 on the first
    /// working day of next week).
    pub quick: Option<QuickDue>,
}

impl CommitmentInput {
    fn due(&self) -> Result<Due, Invalid> {
        match (&self.due_at, self.quick) {
            (Some(_), Some(_)) => Err(Invalid::new(
                "quick",
                "give either due_at or quick, not both",
            )),
            (None, None) => Err(Invalid::new(
                "due_at",
                "is required (an RFC 3339 time), unless quick is given",
            )),
            (None, Some(quick)) => Ok(Due::Quick(quick)),
            (Some(text), None) => Millis::parse(text).map(Due::At).ok_or_else(|| {
                Invalid::new(
                    "due_at",
                    format!("'{text}' is not an RFC 3339 time (like 2026-11-27T17:00:00Z)"),
                )
            }),
        }
    }
}

/// Records what was promised to the customer and by when. Its owner is the ticket's assignee
/// (else the caller); they are reminded before it is due, and it breaks if it passes while
/// still open. Refused (409) on a solved or closed ticket.
///
/// `Idempotency-Key` is not supported here: the store keeps no key for commitments, and the
/// header is ignored.
#[utoipa::path(post, path = "/tickets/{id}/commitments", tag = "sla", request_body = CommitmentInput,
    params(("id" = String, Path, description = "Ticket number or reference")),
    responses((status = 201, body = Commitment), problems::Auth, problems::Body, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn make_commitment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody<CommitmentInput>,
) -> ApiResult<(StatusCode, Json<Commitment>)> {
    caller.require(Permission::PublicReply, "make commitments to customers")?;
    let id = ticket_id(&id)?;
    let input = body.value;
    let new = NewCommitment {
        due: input.due()?,
        kind: input.kind,
        description: input.description,
    };
    let commitment = state.store.make_commitment(ctx(&caller), id, new).await?;
    Ok((StatusCode::CREATED, Json(commitment)))
}

/// Marks a commitment done: `kept` when on time, else `broken`. Refused (409) until a public
/// reply since the commitment told the customer, and when it is no longer open. (A public
/// reply keeps an open `next_update` by itself.)
#[utoipa::path(post, path = "/commitments/{id}/fulfil", tag = "sla",
    params(("id" = i64, Path)),
    responses((status = 200, body = Commitment), problems::Auth, problems::Query, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn fulfil_commitment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Commitment>> {
    caller.require(Permission::PublicReply, "fulfil commitments")?;
    let id = numeric_id("commitment", &id)?;
    Ok(Json(state.store.fulfil_commitment(ctx(&caller), id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelCommitment {
    /// Why it no longer stands, one line; kept as the commitment's `note`.
    pub reason: String,
}

/// Withdraws an open commitment, with a reason. Cancelled commitments count neither as kept
/// nor as broken. Refused (409) when it is no longer open.
#[utoipa::path(post, path = "/commitments/{id}/cancel", tag = "sla", request_body = CancelCommitment,
    params(("id" = i64, Path)),
    responses((status = 200, body = Commitment), problems::Auth, problems::Body, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn cancel_commitment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody<CancelCommitment>,
) -> ApiResult<Json<Commitment>> {
    caller.require(Permission::PublicReply, "cancel commitments")?;
    let id = numeric_id("commitment", &id)?;
    Ok(Json(
        state
            .store
            .cancel_commitment(ctx(&caller), id, &body.value.reason)
            .await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Rates

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RateQuery {
    /// RFC 3339 time or date: count what was made or created at or after it. Default: 30 days
    /// ago.
    pub since: Option<String>,
}

impl RateQuery {
    fn since(&self) -> Result<Millis, Invalid> {
        match self.since.as_deref() {
            None => Ok(now().plus_minutes(-DEFAULT_RATE_DAYS * 24 * 60)),
            Some(text) => Millis::parse(text).ok_or_else(|| {
                Invalid::new("since", format!("'{text}' is not an RFC 3339 time or date"))
            }),
        }
    }
}

/// Kept rates of commitments made since `since` (cancelled ones left out): the `overall`
/// row first, then one per `team` and one per `agent` (the owner). `rate` is kept / (kept +
/// broken), absent until one came due. Supervisors and admins only.
#[utoipa::path(get, path = "/metrics/commitments", tag = "sla", params(RateQuery),
    responses((status = 200, body = ListOf<KeptRate>), problems::Auth, problems::Query),
    security(("bearer" = [])))]
pub async fn kept_rates(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<RateQuery>,
) -> ApiResult<Json<ListOf<KeptRate>>> {
    caller.require(Permission::ReadAudit, "read commitment rates")?;
    Ok(Json(ListOf::all(state.store.kept_rates(q.since()?).await?)))
}

/// Of the tickets created since `since`, how many the customer had to chase (ask for status,
/// or write again before any answer): everyone first (no `team_id`), then per team (the
/// ticket's team now). Supervisors and admins only.
#[utoipa::path(get, path = "/metrics/chases", tag = "sla", params(RateQuery),
    responses((status = 200, body = ListOf<ChaseRate>), problems::Auth, problems::Query),
    security(("bearer" = [])))]
pub async fn chase_rates(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<RateQuery>,
) -> ApiResult<Json<ListOf<ChaseRate>>> {
    caller.require(Permission::ReadAudit, "read chase rates")?;
    Ok(Json(ListOf::all(
        state.store.chase_rates(q.since()?).await?,
    )))
}
