//! Routing and ownership: agents' availability, capacity and skills; how a team's new tickets
//! get an owner; a ticket's transfers; internal requests between teams (staff as internal
//! customers); the honest no (a referral that solves the ticket); the tone of customer
//! messages; the one-touch and honesty metrics; and the tone and silent-no settings.
//!
//! Values the store checks are checked here first too where the body's spelling differs from
//! the store's (`referral.how_to_reach`, `extra_phrases[2][0]`), so a problem names the field
//! as the body spells it.

use super::ListOf;
use super::customers::numeric_id;
use super::tickets::{ctx, nullable};
use crate::auth::Caller;
use crate::extract::{JsonBody, Params, ticket_id};
use crate::problem::responses as problems;
use crate::problem::{ApiResult, Problem};
use crate::{AppState, now};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rapport_core::routing::{Availability, Referral, TeamRouting};
use rapport_core::tone::ToneConfig;
use rapport_core::{Invalid, Millis, Permission, Role, TicketRef};
use rapport_store::{
    AgentRouting, AgentRoutingPatch, InternalRequest, InternalRequestFilter, MessageTone,
    NewInternalRequest, ReferralRecord, RoutingMetrics, Team, Transfer,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// How far back the routing metrics look when `days` is not given.
const DEFAULT_METRIC_DAYS: i64 = 30;
/// Longest period the routing metrics look back over, in days.
const MAX_METRIC_DAYS: i64 = 3650;

/// Supervisors and admins see and act on every internal request; other staff only on those
/// they asked and those asked of their teams.
fn sees_everything(caller: &Caller) -> bool {
    matches!(caller.0.role, Role::Supervisor | Role::Admin)
}

/// An agent id in a path: a number, or `me` for the caller.
fn agent_id(caller: &Caller, raw: &str) -> Result<i64, Problem> {
    if raw == "me" {
        Ok(caller.0.agent_id)
    } else {
        numeric_id("agent", raw)
    }
}

// ---------------------------------------------------------------------------------------------
// Availability and agents' routing profiles

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityInput {
    /// `online` (routing gives you tickets), `away` or `offline` (it does not; after your
    /// team's re-offer delay your open tickets go back to the team).
    pub availability: Availability,
}

/// The caller's routing profile: availability and since when, capacity, skills, load now.
/// Any staff member.
#[utoipa::path(get, path = "/agents/me/availability", tag = "routing",
    responses((status = 200, body = AgentRouting), problems::Auth, problems::Conflict),
    security(("bearer" = [])))]
pub async fn get_availability(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<AgentRouting>> {
    // Any staff member: the Caller extractor has already refused everyone else.
    Ok(Json(
        state.store.agent_routing(caller.0.agent_id, now()).await?,
    ))
}

/// Says whether the caller can take tickets now. Changing it is recorded in the history.
#[utoipa::path(put, path = "/agents/me/availability", tag = "routing",
    request_body = AvailabilityInput,
    responses((status = 200, body = AgentRouting), problems::Auth, problems::Body, problems::Conflict),
    security(("bearer" = [])))]
pub async fn set_availability(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<AvailabilityInput>,
) -> ApiResult<Json<AgentRouting>> {
    // Any staff member: the Caller extractor has already refused everyone else.
    Ok(Json(
        state
            .store
            .set_availability(ctx(&caller), caller.0.agent_id, body.value.availability)
            .await?,
    ))
}

/// Every active agent's routing profile, with their load and whether they are on shift now.
#[utoipa::path(get, path = "/routing/agents", tag = "routing",
    responses((status = 200, body = ListOf<AgentRouting>), problems::Auth),
    security(("bearer" = [])))]
pub async fn list_agent_routing(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListOf<AgentRouting>>> {
    caller.require(Permission::ReadDirectory, "read routing profiles")?;
    Ok(Json(ListOf::all(
        state.store.list_agent_routing(now()).await?,
    )))
}

/// One agent's routing profile (`me` for the caller).
#[utoipa::path(get, path = "/agents/{id}/routing", tag = "routing",
    params(("id" = String, Path, description = "Agent id, or `me`")),
    responses((status = 200, body = AgentRouting), problems::Auth, problems::Query, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn get_agent_routing(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<AgentRouting>> {
    caller.require(Permission::ReadDirectory, "read routing profiles")?;
    let id = agent_id(&caller, &id)?;
    Ok(Json(state.store.agent_routing(id, now()).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentRoutingInput {
    /// Most open tickets (new, open) routing gives them: 1 to 1000.
    #[schema(minimum = 1, maximum = 1000)]
    pub capacity: Option<u32>,
    /// Their working hours (a calendar); `null`: always on shift.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub calendar_id: Option<Option<i64>>,
    /// Replaces their skills: languages (`de`), products and topics as tags spell them
    /// (`billing`), `de-escalation`. Stored lower-case, without duplicates; at most 50.
    pub skills: Option<Vec<String>>,
}

/// Changes an agent's capacity, working hours or skills; absent fields are kept. Admins only.
#[utoipa::path(patch, path = "/agents/{id}/routing", tag = "routing",
    request_body = AgentRoutingInput,
    params(("id" = String, Path, description = "Agent id, or `me`")),
    responses((status = 200, body = AgentRouting), problems::Auth, problems::Body, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn update_agent_routing(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody<AgentRoutingInput>,
) -> ApiResult<Json<AgentRouting>> {
    caller.require(Permission::ManageAgents, "change agents' routing")?;
    let id = agent_id(&caller, &id)?;
    let input = body.value;
    if input.capacity.is_some_and(|c| !(1..=1000).contains(&c)) {
        return Err(Invalid::new("capacity", "must be between 1 and 1000 open tickets").into());
    }
    let skills = input
        .skills
        .map(|raw| rapport_core::routing::normalize_skills(&raw).map(|s| s.into_iter().collect()))
        .transpose()?;
    let patch = AgentRoutingPatch {
        capacity: input.capacity,
        calendar_id: input.calendar_id,
        skills,
    };
    Ok(Json(
        state
            .store
            .update_agent_routing(ctx(&caller), id, patch)
            .await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Teams

/// Replaces how a team's new tickets get an owner (`manual`, `round_robin`, `least_loaded`),
/// continuity, the re-offer delay, internal requests' default due time and the lead they
/// escalate to. Absent fields take their defaults. Admins only.
#[utoipa::path(put, path = "/teams/{id}/routing", tag = "routing", request_body = TeamRouting,
    params(("id" = i64, Path)),
    responses((status = 200, body = Team), problems::Auth, problems::Body, problems::NotFound),
    security(("bearer" = [])))]
pub async fn update_team_routing(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody<TeamRouting>,
) -> ApiResult<Json<Team>> {
    caller.require(Permission::ManageSettings, "change team routing")?;
    let id = numeric_id("team", &id)?;
    body.value.validate()?;
    Ok(Json(
        state
            .store
            .update_team_routing(ctx(&caller), id, body.value)
            .await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Transfers

/// The ticket's transfers, oldest first: each change of owner or team away from someone, with
/// its reason and who made it (`null`: routing or an escalation).
#[utoipa::path(get, path = "/tickets/{id}/transfers", tag = "routing",
    params(("id" = String, Path, description = "Ticket number or reference")),
    responses((status = 200, body = ListOf<Transfer>), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn list_transfers(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ListOf<Transfer>>> {
    caller.require(Permission::ReadTickets, "read tickets")?;
    Ok(Json(ListOf::all(
        state.store.transfers(ticket_id(&id)?).await?,
    )))
}

// ---------------------------------------------------------------------------------------------
// Internal requests

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InternalRequestInput {
    /// The customer's ticket it helps with; absent when staff ask as internal customers.
    pub ticket_id: Option<i64>,
    /// The team asked.
    pub team_id: i64,
    /// What exactly is needed, up to 10,000 characters. The customer never sees it.
    pub body: String,
    /// When it is needed by, RFC 3339, in the future and within four weeks. Absent: the team's
    /// `internal_due_minutes` from now.
    pub due_at: Option<String>,
}

/// Asks another team for something specific, by a due time. The team's lead (or its
/// supervisors) is alerted once it is overdue. Light agents may ask too.
#[utoipa::path(post, path = "/internal-requests", tag = "routing",
    request_body = InternalRequestInput,
    responses((status = 201, body = InternalRequest), problems::Auth, problems::Body, problems::NotFound),
    security(("bearer" = [])))]
pub async fn create_internal_request(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<InternalRequestInput>,
) -> ApiResult<(StatusCode, Json<InternalRequest>)> {
    caller.require(Permission::InternalNote, "ask other teams")?;
    let input = body.value;
    let due_at = input
        .due_at
        .as_deref()
        .map(|text| {
            Millis::parse(text).ok_or_else(|| {
                Invalid::new(
                    "due_at",
                    format!("'{text}' is not an RFC 3339 time (like 2026-11-27T17:00:00Z)"),
                )
            })
        })
        .transpose()?;
    let new = NewInternalRequest {
        ticket_id: input.ticket_id,
        team_id: input.team_id,
        body: input.body,
        due_at,
    };
    let request = state
        .store
        .create_internal_request(ctx(&caller), new)
        .await?;
    Ok((StatusCode::CREATED, Json(request)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InternalRequestQuery {
    /// `mine` (asked of the caller's teams) or a team id.
    pub team: Option<String>,
    /// `me` (asked by the caller) or an agent id.
    pub requester: Option<String>,
    /// Ticket number or reference.
    pub ticket: Option<String>,
    /// `true`: only open requests.
    pub open: Option<bool>,
}

/// The teams `agent_id` is a member of.
async fn teams_of(state: &AppState, agent_id: i64) -> ApiResult<Vec<i64>> {
    Ok(state
        .store
        .list_teams()
        .await?
        .into_iter()
        .filter(|t| t.member_ids.contains(&agent_id))
        .map(|t| t.id)
        .collect())
}

/// Internal requests, newest first (at most 200, without their replies). Supervisors and
/// admins see every request; other staff those they asked and those asked of their teams.
#[utoipa::path(get, path = "/internal-requests", tag = "routing", params(InternalRequestQuery),
    responses((status = 200, body = ListOf<InternalRequest>), problems::Auth, problems::Query),
    security(("bearer" = [])))]
pub async fn list_internal_requests(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<InternalRequestQuery>,
) -> ApiResult<Json<ListOf<InternalRequest>>> {
    caller.require(Permission::ReadTickets, "read internal requests")?;
    let me = caller.0.agent_id;
    let mine = teams_of(&state, me).await?;
    let teams: Option<Vec<i64>> = match q.team.as_deref() {
        None => None,
        Some("mine") => Some(mine.clone()),
        Some(raw) => Some(vec![raw.parse().map_err(|_| {
            Invalid::new("team", format!("'{raw}' is not a team id or 'mine'"))
        })?]),
    };
    let requester = match q.requester.as_deref() {
        None => None,
        Some("me") => Some(me),
        Some(raw) => Some(raw.parse().map_err(|_| {
            Invalid::new("requester", format!("'{raw}' is not an agent id or 'me'"))
        })?),
    };
    let base = InternalRequestFilter {
        team_ids: Vec::new(),
        requester_id: requester,
        ticket_id: q.ticket.as_deref().map(ticket_id).transpose()?,
        open_only: q.open.unwrap_or(false),
    };
    // `team=mine` for someone in no team asks for nothing.
    if teams.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Json(ListOf::all(Vec::new())));
    }
    if sees_everything(&caller) {
        let filter = InternalRequestFilter {
            team_ids: teams.unwrap_or_default(),
            ..base
        };
        return Ok(Json(ListOf::all(
            state.store.list_internal_requests(&filter).await?,
        )));
    }
    // Everyone else: what was asked of their teams, and what they asked themselves.
    let mut items = Vec::new();
    let of_my_teams: Vec<i64> = match &teams {
        None => mine.clone(),
        Some(asked) => asked.iter().copied().filter(|t| mine.contains(t)).collect(),
    };
    if !of_my_teams.is_empty() {
        let filter = InternalRequestFilter {
            team_ids: of_my_teams,
            ..base.clone()
        };
        items.extend(state.store.list_internal_requests(&filter).await?);
    }
    if requester.is_none_or(|r| r == me) {
        let filter = InternalRequestFilter {
            team_ids: teams.unwrap_or_default(),
            requester_id: Some(me),
            ..base
        };
        items.extend(state.store.list_internal_requests(&filter).await?);
    }
    items.sort_by_key(|r| std::cmp::Reverse(r.id));
    items.dedup_by_key(|r| r.id);
    items.truncate(200);
    Ok(Json(ListOf::all(items)))
}

/// The request, if the caller may see it: its asker, members of the asked team, supervisors
/// and admins. Anyone else is told it does not exist, as the store does on writes.
async fn visible_request(state: &AppState, caller: &Caller, id: i64) -> ApiResult<InternalRequest> {
    let request = state.store.internal_request(id).await?;
    if sees_everything(caller)
        || request.requester_id == caller.0.agent_id
        || teams_of(state, caller.0.agent_id)
            .await?
            .contains(&request.team_id)
    {
        Ok(request)
    } else {
        Err(rapport_store::StoreError::not_found("internal request", id).into())
    }
}

/// One internal request with its replies, oldest first. 404 for staff who neither asked it
/// nor are in the asked team (supervisors and admins see every request).
#[utoipa::path(get, path = "/internal-requests/{id}", tag = "routing",
    params(("id" = i64, Path)),
    responses((status = 200, body = InternalRequest), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn get_internal_request(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<InternalRequest>> {
    caller.require(Permission::ReadTickets, "read internal requests")?;
    let id = numeric_id("internal request", &id)?;
    Ok(Json(visible_request(&state, &caller, id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InternalReplyInput {
    pub body: String,
    /// `true`: the asked team's answer closes the request as done (only the asked team may).
    #[serde(default)]
    pub done: bool,
}

/// Writes on an open request; the other side is alerted. The asked team's first answer makes
/// its writer the request's assignee. Refused (409) when the request is no longer open, or
/// when the asker says `done` (they withdraw it instead).
#[utoipa::path(post, path = "/internal-requests/{id}/replies", tag = "routing",
    request_body = InternalReplyInput,
    params(("id" = i64, Path)),
    responses((status = 200, body = InternalRequest), problems::Auth, problems::Body, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn reply_internal_request(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody<InternalReplyInput>,
) -> ApiResult<Json<InternalRequest>> {
    caller.require(Permission::InternalNote, "answer internal requests")?;
    let id = numeric_id("internal request", &id)?;
    let input = body.value;
    Ok(Json(
        state
            .store
            .reply_internal_request(ctx(&caller), id, &input.body, input.done)
            .await?,
    ))
}

/// A member of the asked team takes the request: they become its assignee. Refused (409) for
/// anyone else and when it is no longer open.
#[utoipa::path(post, path = "/internal-requests/{id}/take", tag = "routing",
    params(("id" = i64, Path)),
    responses((status = 200, body = InternalRequest), problems::Auth, problems::Query, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn take_internal_request(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<InternalRequest>> {
    caller.require(Permission::InternalNote, "take internal requests")?;
    let id = numeric_id("internal request", &id)?;
    Ok(Json(
        state.store.take_internal_request(ctx(&caller), id).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelInternalRequest {
    /// Why it is no longer needed, one line; the assignee is told.
    pub reason: String,
}

/// The asker (or a supervisor or admin) withdraws an open request, with a reason. Refused
/// (409) for anyone else and when it is no longer open.
#[utoipa::path(post, path = "/internal-requests/{id}/cancel", tag = "routing",
    request_body = CancelInternalRequest,
    params(("id" = i64, Path)),
    responses((status = 200, body = InternalRequest), problems::Auth, problems::Body, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn cancel_internal_request(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody<CancelInternalRequest>,
) -> ApiResult<Json<InternalRequest>> {
    caller.require(Permission::InternalNote, "withdraw internal requests")?;
    let id = numeric_id("internal request", &id)?;
    Ok(Json(
        state
            .store
            .cancel_internal_request(ctx(&caller), id, &body.value.reason)
            .await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// The honest no

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferralInput {
    /// Who can help ("Your bank"), one line. Required.
    #[serde(default)]
    pub referred_to: String,
    /// How to reach them (a phone number, an address, a web page), one line. Required.
    #[serde(default)]
    pub how_to_reach: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferInput {
    /// The reply's own words, before the referral paragraph the customer also reads.
    pub body: String,
    pub referral: ReferralInput,
}

/// The honest no: "we can't help — but they can". Sends a public reply (emailed) with `body`
/// and a paragraph in the customer's language naming who can help and how to reach them,
/// solves the ticket as referred and records how long the honest answer took. Refused (409)
/// on a solved or closed ticket.
#[utoipa::path(post, path = "/tickets/{id}/refer", tag = "routing", request_body = ReferInput,
    params(("id" = String, Path, description = "Ticket number or reference")),
    responses((status = 201, body = ReferralRecord), problems::Auth, problems::Body, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn refer_ticket(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody<ReferInput>,
) -> ApiResult<(StatusCode, Json<ReferralRecord>)> {
    caller.require(Permission::PublicReply, "refer customers elsewhere")?;
    let id = ticket_id(&id)?;
    let input = body.value;
    let referral = Referral {
        referred_to: input.referral.referred_to,
        how_to_reach: input.referral.how_to_reach,
    }
    .validate()?;
    let record = state
        .store
        .refer_ticket(ctx(&caller), id, &input.body, referral)
        .await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// Who the ticket's customer was referred to, and how long the honest answer took. 404 with
/// type `/problems/not-found` when the ticket does not exist, and `/problems/no-referral`
/// when it was never referred.
#[utoipa::path(get, path = "/tickets/{id}/referral", tag = "routing",
    params(("id" = String, Path, description = "Ticket number or reference")),
    responses((status = 200, body = ReferralRecord), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn get_referral(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ReferralRecord>> {
    caller.require(Permission::ReadTickets, "read tickets")?;
    let id = ticket_id(&id)?;
    if let Some(record) = state.store.referral(id).await? {
        return Ok(Json(record));
    }
    state.store.ticket(id).await?;
    Err(Problem::new(
        StatusCode::NOT_FOUND,
        "no-referral",
        format!("ticket {} was not referred elsewhere", TicketRef(id)),
    ))
}

// ---------------------------------------------------------------------------------------------
// Tone

/// The tone of the ticket's customer messages, oldest first: each scored message's score,
/// whether it counted as irate, and the reasons (rule, words, points). Messages with nothing
/// to score are left out.
#[utoipa::path(get, path = "/tickets/{id}/tone", tag = "routing",
    params(("id" = String, Path, description = "Ticket number or reference")),
    responses((status = 200, body = ListOf<MessageTone>), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn ticket_tone(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ListOf<MessageTone>>> {
    caller.require(Permission::ReadTickets, "read tickets")?;
    let id = ticket_id(&id)?;
    // The store lists nothing for an unknown ticket; the API says it does not exist.
    state.store.ticket(id).await?;
    Ok(Json(ListOf::all(state.store.ticket_tone(id).await?)))
}

// ---------------------------------------------------------------------------------------------
// Metrics

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MetricsQuery {
    /// How many days back to count (tickets solved, noes given, requests asked since then):
    /// 1 to 3650, default 30.
    #[param(minimum = 1, maximum = 3650)]
    pub days: Option<i64>,
}

/// One touch and honesty over the last `days`: tickets solved and how many never changed
/// hands, transfers per ticket, honest noes and the median time to them, and per team asked
/// the internal requests and the time spent waiting on them. Supervisors and admins only.
#[utoipa::path(get, path = "/metrics/routing", tag = "routing", params(MetricsQuery),
    responses((status = 200, body = RoutingMetrics), problems::Auth, problems::Query),
    security(("bearer" = [])))]
pub async fn routing_metrics(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<MetricsQuery>,
) -> ApiResult<Json<RoutingMetrics>> {
    caller.require(Permission::ReadAudit, "read routing metrics")?;
    let days = q.days.unwrap_or(DEFAULT_METRIC_DAYS);
    if !(1..=MAX_METRIC_DAYS).contains(&days) {
        return Err(
            Invalid::new("days", format!("must be between 1 and {MAX_METRIC_DAYS}")).into(),
        );
    }
    let at = now();
    Ok(Json(
        state
            .store
            .routing_metrics(at.plus_minutes(-days * 24 * 60), at)
            .await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Settings

/// How irate customers are recognised.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToneSettings {
    /// Score (1–100) from which a customer message counts as irate: its ticket gets the
    /// `irate` tag, a higher priority and an agent trained in de-escalation.
    #[schema(minimum = 1, maximum = 100)]
    pub threshold: u32,
    /// Extra phrases, each `[phrase, points]`: a phrase (whole words, any language, a trailing
    /// `*` matches any word ending; up to 100 characters) and the points (1–100) it adds. At
    /// most 200.
    #[serde(default)]
    #[schema(value_type = Vec<Vec<Object>>)]
    pub extra_phrases: Vec<(String, u32)>,
}

impl From<ToneSettings> for ToneConfig {
    fn from(settings: ToneSettings) -> Self {
        Self {
            threshold: settings.threshold,
            extra_phrases: settings.extra_phrases,
        }
    }
}

impl From<ToneConfig> for ToneSettings {
    fn from(config: ToneConfig) -> Self {
        Self {
            threshold: config.threshold,
            extra_phrases: config.extra_phrases,
        }
    }
}

/// The tone scorer's settings (the defaults until saved). Admins only.
#[utoipa::path(get, path = "/settings/tone", tag = "routing",
    responses((status = 200, body = ToneSettings), problems::Auth),
    security(("bearer" = [])))]
pub async fn get_tone_settings(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ToneSettings>> {
    caller.require(Permission::ManageSettings, "read the tone settings")?;
    Ok(Json(state.store.tone_config().await?.into()))
}

/// Replaces the tone scorer's settings; messages from now on are scored with them. Admins only.
#[utoipa::path(put, path = "/settings/tone", tag = "routing", request_body = ToneSettings,
    responses((status = 200, body = ToneSettings), problems::Auth, problems::Body),
    security(("bearer" = [])))]
pub async fn set_tone_settings(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<ToneSettings>,
) -> ApiResult<Json<ToneSettings>> {
    caller.require(Permission::ManageSettings, "change the tone settings")?;
    let config = state.store.set_tone_config(body.value.into()).await?;
    Ok(Json(config.into()))
}

/// After how long without a public reply a ticket is at risk of a silent no.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilentNoSettings {
    /// Hours, 1 to 720 (default 48).
    #[schema(minimum = 1, maximum = 720)]
    pub hours: u32,
}

/// When an unanswered ticket counts as at risk of a silent no (`GET /tickets?at_risk=true`
/// lists them). Supervisors and admins.
#[utoipa::path(get, path = "/settings/silent-no", tag = "routing",
    responses((status = 200, body = SilentNoSettings), problems::Auth),
    security(("bearer" = [])))]
pub async fn get_silent_no(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<SilentNoSettings>> {
    caller.require(Permission::ReadAudit, "read the silent-no setting")?;
    Ok(Json(SilentNoSettings {
        hours: state.store.silent_no_hours().await?,
    }))
}

/// Sets after how many hours without a public reply a ticket is at risk of a silent no.
/// Admins only.
#[utoipa::path(put, path = "/settings/silent-no", tag = "routing", request_body = SilentNoSettings,
    responses((status = 200, body = SilentNoSettings), problems::Auth, problems::Body),
    security(("bearer" = [])))]
pub async fn set_silent_no(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<SilentNoSettings>,
) -> ApiResult<Json<SilentNoSettings>> {
    caller.require(Permission::ManageSettings, "change the silent-no setting")?;
    let hours = state.store.set_silent_no_hours(body.value.hours).await?;
    Ok(Json(SilentNoSettings { hours }))
}
