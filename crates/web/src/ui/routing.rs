//! Routing and ownership in the workspace (principles 4, 5 and 10): the agent's availability
//! in the header, the ticket page's ownership, transfers, tone, internal requests and "can't
//! help — refer" panels, the internal-request lists and pages (staff asking other teams, with
//! or without a ticket), the admin sections for team and agent routing and for tone, and the
//! one-touch and honest-answer part of `/reports`.

use super::session::{AgentSession, SessionForm};
use super::sla::{Countdown, countdown};
use super::{FormFields, ctx, field, invalid};
use super::{PageError, templates};
use crate::{AppState, now};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use rapport_core::routing::{AssignmentMode, Availability, InternalStatus, Referral, TeamRouting};
use rapport_core::tone::ToneConfig;
use rapport_core::{Millis, Permission, Role};
use rapport_store::{
    Agent, AgentRoutingPatch, InternalRequest, InternalRequestFilter, NewInternalRequest,
    StoreError, Team, Ticket,
};
use serde::Serialize;
use std::collections::HashMap;

/// A refusal the page can show (a 4xx other than "not found"), as its status and text.
fn shown_refusal(e: &PageError) -> Option<(StatusCode, String)> {
    let problem = &e.0;
    (problem.status < 500 && problem.status != 404).then(|| {
        (
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST),
            problem.detail.clone(),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Availability

/// `POST /availability`: online, away or offline; back to the page the agent was on.
pub async fn set_availability(
    State(state): State<AppState>,
    headers: HeaderMap,
    SessionForm { session, form }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    let availability = Availability::parse(field(&form, "availability"))?;
    state
        .store
        .set_availability(ctx(&session), session.agent.id, availability)
        .await?;
    Ok(Redirect::to(&back_path(&headers)).into_response())
}

/// The path of the page a form was sent from (our own pages only), else the views.
fn back_path(headers: &HeaderMap) -> String {
    headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<axum::http::Uri>().ok())
        .and_then(|uri| uri.path_and_query().map(|p| p.as_str().to_string()))
        .filter(|p| p.starts_with('/') && !p.starts_with("//") && !p.contains('\\'))
        .unwrap_or_else(|| "/".into())
}

// ---------------------------------------------------------------------------------------------
// Names and views shared by the panels and lists

struct Names {
    agents: HashMap<i64, String>,
    teams: HashMap<i64, String>,
}

impl Names {
    fn new(agents: &[Agent], teams: &[Team]) -> Self {
        Self {
            agents: agents.iter().map(|a| (a.id, a.name.clone())).collect(),
            teams: teams.iter().map(|t| (t.id, t.name.clone())).collect(),
        }
    }

    fn agent(&self, id: Option<i64>) -> Option<String> {
        id.map(|id| self.agents.get(&id).cloned().unwrap_or_else(|| "—".into()))
    }

    fn team(&self, id: Option<i64>) -> Option<String> {
        id.map(|id| self.teams.get(&id).cloned().unwrap_or_else(|| "—".into()))
    }
}

async fn names(state: &AppState) -> Result<Names, PageError> {
    let (agents, teams) = tokio::try_join!(state.store.list_agents(), state.store.list_teams())?;
    Ok(Names::new(&agents, &teams))
}

/// Members of the asked team (and supervisors and admins) answer internal requests.
fn answers_for(agent: &Agent, team_id: i64) -> bool {
    agent.team_ids.contains(&team_id) || matches!(agent.role, Role::Supervisor | Role::Admin)
}

/// Who may see an internal request's own page: the asker and those who answer for the team.
fn may_see(agent: &Agent, request: &InternalRequest) -> bool {
    request.requester_id == agent.id || answers_for(agent, request.team_id)
}

#[derive(Serialize)]
struct ReplyView {
    author: String,
    body: String,
    at: i64,
}

#[derive(Serialize)]
struct RequestView {
    id: i64,
    ticket_id: Option<i64>,
    ticket_subject: Option<String>,
    team_id: i64,
    team: String,
    requester: String,
    assignee: Option<String>,
    body: String,
    /// The start of the body, for lists.
    summary: String,
    status: &'static str,
    due_at: i64,
    countdown: Option<Countdown>,
    escalated: bool,
    created_at: i64,
    closed_at: Option<i64>,
    replies: Vec<ReplyView>,
    /// The viewer answers for the asked team (reply, done, take).
    in_team: bool,
    /// The viewer asked (withdraw).
    asker: bool,
}

fn request_view(r: InternalRequest, names: &Names, me: &Agent, at: Millis) -> RequestView {
    let open = r.status == InternalStatus::Open;
    RequestView {
        id: r.id,
        ticket_id: r.ticket_id,
        ticket_subject: r.ticket_subject,
        team_id: r.team_id,
        team: names.team(Some(r.team_id)).unwrap_or_default(),
        requester: names.agent(Some(r.requester_id)).unwrap_or_default(),
        assignee: names.agent(r.assignee_id),
        summary: summary(&r.body),
        body: r.body,
        status: r.status.as_str(),
        due_at: r.due_at.0,
        countdown: open.then(|| countdown(r.due_at, at)),
        escalated: r.escalated_at.is_some(),
        created_at: r.created_at.0,
        closed_at: r.closed_at.map(|c| c.0),
        replies: r
            .replies
            .into_iter()
            .map(|reply| ReplyView {
                author: names.agent(Some(reply.author_id)).unwrap_or_default(),
                body: reply.body,
                at: reply.created_at.0,
            })
            .collect(),
        in_team: answers_for(me, r.team_id),
        asker: r.requester_id == me.id,
    }
}

// ---------------------------------------------------------------------------------------------
// The ticket page's panels

#[derive(Serialize)]
struct TransferView {
    from_agent: Option<String>,
    from_team: Option<String>,
    to_agent: Option<String>,
    to_team: Option<String>,
    reason: String,
    by: Option<String>,
    at: i64,
}

#[derive(Serialize)]
struct ReasonView {
    rule: &'static str,
    evidence: String,
    points: u32,
}

#[derive(Serialize)]
struct ToneView {
    message_id: i64,
    score: u32,
    irate: bool,
    reasons: Vec<ReasonView>,
    at: i64,
}

/// The ticket page's ownership, transfers, tone, internal requests and referral.
pub async fn ticket_panel(
    state: &AppState,
    session: &AgentSession,
    ticket: &Ticket,
) -> Result<Value, PageError> {
    let filter = InternalRequestFilter {
        ticket_id: Some(ticket.id),
        ..Default::default()
    };
    let (names, transfers, listed, referral, tone) = tokio::try_join!(
        names(state),
        async { Ok(state.store.transfers(ticket.id).await?) },
        async { Ok(state.store.list_internal_requests(&filter).await?) },
        async { Ok(state.store.referral(ticket.id).await?) },
        async { Ok::<_, PageError>(state.store.ticket_tone(ticket.id).await?) },
    )?;
    // Lists leave the replies out; a ticket has a handful of requests.
    let mut requests = Vec::with_capacity(listed.len());
    let at = now();
    for r in listed {
        let full = state.store.internal_request(r.id).await?;
        requests.push(request_view(full, &names, &session.agent, at));
    }
    let transfers: Vec<TransferView> = transfers
        .into_iter()
        .rev()
        .map(|t| TransferView {
            from_agent: names.agent(t.from_agent_id),
            from_team: names.team(t.from_team_id),
            to_agent: names.agent(t.to_agent_id),
            to_team: names.team(t.to_team_id),
            reason: t.reason,
            by: names.agent(t.by_agent_id),
            at: t.created_at.0,
        })
        .collect();
    let tone: Vec<ToneView> = tone
        .into_iter()
        .map(|m| ToneView {
            message_id: m.message_id,
            score: m.score,
            irate: m.irate,
            reasons: m
                .reasons
                .into_iter()
                .map(|r| ReasonView {
                    rule: r.rule.as_str(),
                    evidence: r.evidence,
                    points: r.points,
                })
                .collect(),
            at: m.created_at.0,
        })
        .collect();
    let irate = tone.iter().any(|t| t.irate)
        || ticket
            .tags
            .iter()
            .any(|tag| tag.as_str() == rapport_store::IRATE_TAG);
    let referral = referral.map(|r| {
        context! {
            referred_to => r.referred_to, how_to_reach => r.how_to_reach,
            agent => names.agent(r.agent_id), message_id => r.message_id,
            answered_after => duration_text(r.answered_after_ms), at => r.created_at,
        }
    });
    let role = session.agent.role;
    Ok(context! {
        owner => names.agent(ticket.assignee_id),
        team => names.team(ticket.team_id),
        transfers => transfers,
        tone => tone,
        irate => irate,
        requests => requests,
        referral => referral,
        can_ask => role.allows(Permission::InternalNote),
        can_refer => role.allows(Permission::PublicReply)
            && !matches!(ticket.status, rapport_core::TicketStatus::Solved | rapport_core::TicketStatus::Closed),
    })
}

/// The first line of a text, shortened to 80 characters.
fn summary(text: &str) -> String {
    const MAX: usize = 80;
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > MAX {
        let cut: String = line.chars().take(MAX - 1).collect();
        format!("{cut}…")
    } else {
        line.to_string()
    }
}

/// `3d 4h`, `2h 10m`, `45m`: how long something took.
fn duration_text(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{mins}m"),
        (0, h) => format!("{h}h {mins}m"),
        (d, h) => format!("{d}d {h}h"),
    }
}

/// Back to the ticket (at `anchor`), or the ticket page again with what was refused.
pub(super) async fn back_to_ticket<T>(
    state: &AppState,
    session: &AgentSession,
    id: i64,
    anchor: &str,
    result: Result<T, PageError>,
) -> Result<Response, PageError> {
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/t/{id}#{anchor}")).into_response()),
        Err(e) => match shown_refusal(&e) {
            Some((status, detail)) => {
                let mut page = super::ticket::render_error(state, session, id, detail).await?;
                *page.status_mut() = status;
                Ok(page)
            }
            None => Err(e),
        },
    }
}

/// A due time typed in the form (`datetime-local` in the agent's zone), or none.
fn typed_due(form: &FormFields) -> Result<Option<Millis>, PageError> {
    match field(form, "due_at") {
        "" => Ok(None),
        text => {
            let zone = match field(form, "tz") {
                "" => "UTC",
                zone => zone,
            };
            super::sla::local_time(text, zone).map(Some)
        }
    }
}

fn new_request(form: &FormFields, ticket_id: Option<i64>) -> Result<NewInternalRequest, PageError> {
    let team_id = field(form, "team")
        .parse()
        .map_err(|_| invalid("team", "choose the team to ask"))?;
    Ok(NewInternalRequest {
        ticket_id,
        team_id,
        body: field(form, "body").to_string(),
        due_at: typed_due(form)?,
    })
}

/// `POST /t/{id}/requests`: ask another team for something specific, by a due time.
pub async fn ask(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ReadTickets)?;
    session.require_to_do(Permission::InternalNote)?;
    state.store.ticket(id).await?;
    let result = async {
        let new = new_request(&form, Some(id))?;
        Ok(state
            .store
            .create_internal_request(ctx(&session), new)
            .await?)
    }
    .await;
    back_to_ticket(&state, &session, id, "requests", result).await
}

/// `POST /t/{id}/refer`: the honest no — a reply naming who can help and how to reach them,
/// and the ticket solved.
pub async fn refer(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_do(Permission::PublicReply)?;
    let referral = Referral {
        referred_to: field(&form, "referred_to").to_string(),
        how_to_reach: field(&form, "how_to_reach").to_string(),
    };
    let result = state
        .store
        .refer_ticket(ctx(&session), id, field(&form, "body"), referral)
        .await
        .map_err(PageError::from);
    back_to_ticket(&state, &session, id, "referral", result).await
}

// ---------------------------------------------------------------------------------------------
// Internal requests: lists, one request, and acting on it

/// A request the agent may see, or "not found".
async fn visible_request(
    state: &AppState,
    session: &AgentSession,
    id: i64,
) -> Result<InternalRequest, PageError> {
    let request = state.store.internal_request(id).await?;
    if may_see(&session.agent, &request) {
        Ok(request)
    } else {
        Err(PageError::not_found())
    }
}

/// `GET /requests` (asked of my teams) and `GET /requests/mine` (asked by me).
async fn list_page(
    state: &AppState,
    session: &AgentSession,
    scope: &'static str,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ReadTickets)?;
    let filter = match scope {
        "mine" => Some(InternalRequestFilter {
            requester_id: Some(session.agent.id),
            ..Default::default()
        }),
        // An agent in no team is asked nothing (an empty filter would list everyone's).
        _ if session.agent.team_ids.is_empty() => None,
        _ => Some(InternalRequestFilter {
            team_ids: session.agent.team_ids.clone(),
            ..Default::default()
        }),
    };
    let (names, teams) = tokio::try_join!(names(state), async {
        Ok::<_, PageError>(state.store.list_teams().await?)
    })?;
    let listed = match &filter {
        Some(f) => state.store.list_internal_requests(f).await?,
        None => Vec::new(),
    };
    let at = now();
    let requests: Vec<RequestView> = listed
        .into_iter()
        .map(|r| request_view(r, &names, &session.agent, at))
        .collect();
    let mut response = templates().render(
        "requests.html",
        session.lang,
        context! {
            me => session.me(), csrf => &session.csrf, scope => scope, requests => requests,
            teams => teams, error => error,
            can_ask => session.agent.role.allows(Permission::InternalNote),
        },
    );
    *response.status_mut() = status;
    Ok(response)
}

pub async fn team_requests(
    State(state): State<AppState>,
    session: AgentSession,
) -> Result<Response, PageError> {
    list_page(&state, &session, "teams", None, StatusCode::OK).await
}

pub async fn my_requests(
    State(state): State<AppState>,
    session: AgentSession,
) -> Result<Response, PageError> {
    list_page(&state, &session, "mine", None, StatusCode::OK).await
}

async fn render_request(
    state: &AppState,
    session: &AgentSession,
    id: i64,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ReadTickets)?;
    let request = visible_request(state, session, id).await?;
    let names = names(state).await?;
    let view = request_view(request, &names, &session.agent, now());
    let mut response = templates().render(
        "request.html",
        session.lang,
        context! {
            me => session.me(), csrf => &session.csrf, r => view, error => error,
            can_ask => session.agent.role.allows(Permission::InternalNote), request_page => true,
        },
    );
    *response.status_mut() = status;
    Ok(response)
}

/// `GET /requests/{id}`: one request and its thread (the asker and the asked team only).
pub async fn request_page(
    State(state): State<AppState>,
    session: AgentSession,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    render_request(&state, &session, id, None, StatusCode::OK).await
}

/// `POST /requests/new`: staff asking a team as internal customers, without a ticket.
pub async fn ask_internal(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_do(Permission::InternalNote)?;
    let result = async {
        let new = new_request(&form, None)?;
        Ok::<_, PageError>(
            state
                .store
                .create_internal_request(ctx(&session), new)
                .await?,
        )
    }
    .await;
    match result {
        Ok(created) => Ok(Redirect::to(&format!("/requests/{}", created.id)).into_response()),
        Err(e) => match shown_refusal(&e) {
            Some((status, detail)) => {
                list_page(&state, &session, "mine", Some(detail), status).await
            }
            None => Err(e),
        },
    }
}

/// After acting on a request: back where the form was (the ticket, or the request's page),
/// or that page again with what was refused.
async fn after_request_action<T>(
    state: &AppState,
    session: &AgentSession,
    request: &InternalRequest,
    form: &FormFields,
    result: Result<T, StoreError>,
) -> Result<Response, PageError> {
    let on_ticket = request
        .ticket_id
        .filter(|_| field(form, "back") != "request");
    match (result.map_err(PageError::from), on_ticket) {
        (Ok(_), Some(ticket)) => {
            Ok(Redirect::to(&format!("/t/{ticket}#request-{}", request.id)).into_response())
        }
        (Ok(_), None) => Ok(Redirect::to(&format!("/requests/{}", request.id)).into_response()),
        (Err(e), place) => match shown_refusal(&e) {
            Some((status, detail)) => match place {
                Some(ticket) => {
                    let mut page =
                        super::ticket::render_error(state, session, ticket, detail).await?;
                    *page.status_mut() = status;
                    Ok(page)
                }
                None => render_request(state, session, request.id, Some(detail), status).await,
            },
            None => Err(e),
        },
    }
}

/// `POST /requests/{id}/reply`: a reply on the thread; "done" (the asked team) closes it.
pub async fn reply_request(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_do(Permission::InternalNote)?;
    let request = visible_request(&state, &session, id).await?;
    let done = !field(&form, "done").is_empty();
    let result = state
        .store
        .reply_internal_request(ctx(&session), id, field(&form, "body"), done)
        .await;
    after_request_action(&state, &session, &request, &form, result).await
}

/// `POST /requests/{id}/take`: a member of the asked team works it.
pub async fn take_request(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_do(Permission::InternalNote)?;
    let request = visible_request(&state, &session, id).await?;
    let result = state.store.take_internal_request(ctx(&session), id).await;
    after_request_action(&state, &session, &request, &form, result).await
}

/// `POST /requests/{id}/cancel`: the asker withdraws it, saying why.
pub async fn cancel_request(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_do(Permission::InternalNote)?;
    let request = visible_request(&state, &session, id).await?;
    let result = state
        .store
        .cancel_internal_request(ctx(&session), id, field(&form, "reason"))
        .await;
    after_request_action(&state, &session, &request, &form, result).await
}

// ---------------------------------------------------------------------------------------------
// The "at risk of a silent no" view

/// The at-risk view's filter: unsolved tickets without a public reply older than the setting.
pub async fn at_risk_filter(state: &AppState) -> Result<rapport_store::TicketFilter, PageError> {
    let hours = state.store.silent_no_hours().await?;
    Ok(rapport_store::TicketFilter {
        unanswered_before: Some(Millis(now().0 - i64::from(hours) * 3_600_000)),
        ..Default::default()
    })
}

/// Who sees the at-risk view: supervisors and admins.
pub fn sees_at_risk(session: &AgentSession) -> bool {
    session.agent.role.allows(Permission::ReadAudit)
}

// ---------------------------------------------------------------------------------------------
// Admin: team and agent routing, tone and the silent-no hours

/// The data of the `routing` and `tone` admin sections.
pub async fn admin_section(state: &AppState, section: &str) -> Result<Option<Value>, PageError> {
    Ok(Some(match section {
        "routing" => {
            let (teams, agents, profiles, calendars) = tokio::try_join!(
                state.store.list_teams(),
                state.store.list_agents(),
                state.store.list_agent_routing(now()),
                state.store.list_calendars(),
            )?;
            let profiles: HashMap<i64, _> = profiles.into_iter().map(|p| (p.agent_id, p)).collect();
            let rows: Vec<Value> = agents
                .iter()
                .filter(|a| a.active && a.role.is_staff())
                .filter_map(|a| {
                    let p = profiles.get(&a.id)?;
                    Some(context! {
                        agent => a, availability => p.availability.as_str(), capacity => p.capacity,
                        calendar_id => p.calendar_id, skills => p.skills.join(", "), load => p.load,
                        on_shift => p.on_shift,
                    })
                })
                .collect();
            let staff: Vec<&Agent> = agents
                .iter()
                .filter(|a| a.active && a.role.is_staff())
                .collect();
            context! {
                teams => teams, routing_agents => rows, staff => staff, calendars => calendars,
                modes => AssignmentMode::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
            }
        }
        "tone" => {
            let config = state.store.tone_config().await?;
            let phrases = config
                .extra_phrases
                .iter()
                .map(|(p, points)| format!("{p} = {points}"))
                .collect::<Vec<_>>()
                .join("\n");
            context! {
                threshold => config.threshold, phrases => phrases,
                silent_no_hours => state.store.silent_no_hours().await?,
            }
        }
        _ => return Ok(None),
    }))
}

fn number<T: std::str::FromStr>(form: &FormFields, name: &str, what: &str) -> Result<T, PageError> {
    field(form, name)
        .parse()
        .map_err(|_| invalid(name, format!("is not {what}")))
}

fn optional_id(form: &FormFields, name: &str) -> Result<Option<i64>, PageError> {
    match field(form, name) {
        "" => Ok(None),
        _ => number(form, name, "an id").map(Some),
    }
}

/// `POST /admin/routing/teams/{id}`.
pub async fn save_team_routing(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ManageSettings)?;
    let result = async {
        let routing = TeamRouting {
            assignment: AssignmentMode::parse(field(&form, "assignment"))?,
            continuity: form.contains_key("continuity"),
            reoffer_after_minutes: number(
                &form,
                "reoffer_after_minutes",
                "a whole number of minutes",
            )?,
            internal_due_minutes: number(
                &form,
                "internal_due_minutes",
                "a whole number of minutes",
            )?,
            lead_agent_id: optional_id(&form, "lead_agent_id")?,
        };
        routing.validate()?;
        Ok::<_, PageError>(
            state
                .store
                .update_team_routing(ctx(&session), id, routing)
                .await?,
        )
    }
    .await;
    super::admin::outcome(&state, &session, "routing", result).await
}

/// `POST /admin/routing/agents/{id}`: skills (comma-separated), capacity, working hours.
pub async fn save_agent_routing(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ManageSettings)?;
    let result = async {
        let patch = AgentRoutingPatch {
            capacity: Some(number(&form, "capacity", "a whole number of tickets")?),
            calendar_id: Some(optional_id(&form, "calendar_id")?),
            skills: Some(
                field(&form, "skills")
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
            ),
        };
        Ok::<_, PageError>(
            state
                .store
                .update_agent_routing(ctx(&session), id, patch)
                .await?,
        )
    }
    .await;
    super::admin::outcome(&state, &session, "routing", result).await
}

/// Extra tone phrases, one `phrase = points` per line.
fn parse_phrases(text: &str) -> Result<Vec<(String, u32)>, PageError> {
    let mut phrases = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let problem = || {
            invalid(
                "extra_phrases",
                format!("line {} ('{line}') is not 'phrase = points'", n + 1),
            )
        };
        let (phrase, points) = line.rsplit_once('=').ok_or_else(problem)?;
        let phrase = phrase.split_whitespace().collect::<Vec<_>>().join(" ");
        // The phrase and points themselves are checked with the rest of the settings.
        let points: u32 = points.trim().parse().map_err(|_| problem())?;
        phrases.push((phrase, points));
    }
    Ok(phrases)
}

/// `POST /admin/tone`: the irate threshold, extra phrases and the silent-no hours.
pub async fn save_tone(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ManageSettings)?;
    let result = async {
        let threshold: u32 = number(&form, "threshold", "a whole number")?;
        let hours: u32 = number(&form, "silent_no_hours", "a whole number of hours")?;
        let config = ToneConfig {
            threshold,
            extra_phrases: parse_phrases(field(&form, "extra_phrases"))?,
        };
        // Both are checked before either is saved.
        rapport_core::routing::silent_no_hours(hours)
            .map_err(|e| invalid("silent_no_hours", e.problem))?;
        state.store.set_tone_config(config).await?;
        state.store.set_silent_no_hours(hours).await?;
        Ok(())
    }
    .await;
    super::admin::outcome(&state, &session, "tone", result).await
}

// ---------------------------------------------------------------------------------------------
// The report

/// One touch, transfers, honest noes and internal waits since `since`.
pub async fn report(state: &AppState, since: Millis) -> Result<Value, PageError> {
    let m = state.store.routing_metrics(since, now()).await?;
    Ok(Value::from_serialize(&m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_read_one_per_line() {
        let phrases = parse_phrases("Acme Cloud = 30\n\n  never   again=20 \n").unwrap();
        assert_eq!(
            phrases,
            vec![
                ("Acme Cloud".to_string(), 30),
                ("never again".to_string(), 20)
            ]
        );
        assert!(parse_phrases("no points here").is_err());
        assert!(parse_phrases("x = many").is_err());
        // Ranges and empty phrases are the settings' own rule, checked when they are saved.
        for line in ["x = 0", "x = 101", " = 5"] {
            let config = ToneConfig {
                threshold: 50,
                extra_phrases: parse_phrases(line).unwrap(),
            };
            assert!(config.validated().is_err(), "{line}");
        }
    }

    #[test]
    fn forms_go_back_only_to_our_own_pages() {
        let mut headers = HeaderMap::new();
        assert_eq!(back_path(&headers), "/");
        headers.insert(
            header::REFERER,
            "http://desk.example/t/5?focus=1".parse().unwrap(),
        );
        assert_eq!(back_path(&headers), "/t/5?focus=1");
        headers.insert(
            header::REFERER,
            "http://desk.example//evil.example/".parse().unwrap(),
        );
        assert_eq!(back_path(&headers), "/");
    }

    #[test]
    fn durations_read_like_countdowns() {
        assert_eq!(duration_text(45 * 60_000), "45m");
        assert_eq!(duration_text(130 * 60_000), "2h 10m");
        assert_eq!(duration_text((3 * 24 + 4) * 3_600_000), "3d 4h");
    }
}
