//! The ticket page (conversation, properties, customer context), replying and noting with a
//! stale-view check, and focus mode (principle 2: one ticket, then the next most urgent).

use super::pages::customer_context;
use super::session::{AgentSession, SessionForm};
use super::{PageError, templates};
use crate::{AppState, now};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use rapport_core::update::TicketPatch;
use rapport_core::{Actor, ActorKind, MessageKind, Permission, Priority, TicketStatus};
use rapport_store::{Agent, Ctx, Event, Message, NewMessage, Ticket};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Deserialize, Default)]
pub struct PageParams {
    #[serde(default)]
    focus: Option<String>,
}

/// One entry of the conversation: a message or an event, in the order they happened.
#[derive(Serialize)]
struct Entry {
    at: i64,
    message: Option<MessageView>,
    event: Option<EventView>,
}

#[derive(Serialize)]
struct MessageView {
    id: i64,
    kind: &'static str,
    author: String,
    body: String,
    /// Sanitised HTML of an email, when it had any.
    html: Option<Value>,
    attachments: Vec<rapport_store::Attachment>,
    channel: &'static str,
}

#[derive(Serialize)]
struct EventView {
    kind: String,
    actor: String,
    field: Option<String>,
    before: Option<String>,
    after: Option<String>,
    detail: Option<String>,
}

fn actor_name(actor: &Actor, agents: &HashMap<i64, String>, customer: &str) -> String {
    match actor.kind {
        ActorKind::Agent => actor
            .id
            .and_then(|id| agents.get(&id).cloned())
            .unwrap_or_else(|| "—".into()),
        ActorKind::Customer => customer.to_string(),
        ActorKind::System => "Rapport".into(),
    }
}

fn shown(value: &serde_json::Value, agents: &HashMap<i64, String>, field: &str) -> String {
    match value {
        serde_json::Value::Null => "—".into(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) if field == "assignee_id" => n
            .as_i64()
            .and_then(|id| agents.get(&id).cloned())
            .unwrap_or_else(|| n.to_string()),
        other => other.to_string(),
    }
}

/// Which events the conversation shows between messages: changes and mail, not the
/// "message added" entries the messages themselves stand for.
fn event_view(e: &Event, agents: &HashMap<i64, String>, customer: &str) -> Option<EventView> {
    // Messages stand for themselves; mentions and alerts reach the agent through their views.
    if matches!(
        e.kind.as_str(),
        "message.added" | "agent.mentioned" | "agent.alerted"
    ) {
        return None;
    }
    // What an SLA, commitment or chase event was about: the target, the promise, the reason;
    // a call's number, direction, outcome and length.
    let detail = match e.kind.as_str() {
        "call.logged" => Some(super::phone::call_event_detail(&e.data)),
        _ => ["target", "description", "reason", "number"]
            .iter()
            .find_map(|key| e.data.get(*key).and_then(|v| v.as_str()))
            .filter(|text| !text.is_empty())
            .map(str::to_string),
    };
    let field = e
        .data
        .get("field")
        .and_then(|f| f.as_str())
        .map(str::to_string);
    let (before, after) = match &field {
        Some(f) => (
            e.data.get("before").map(|v| shown(v, agents, f)),
            e.data.get("after").map(|v| shown(v, agents, f)),
        ),
        None => (None, None),
    };
    Some(EventView {
        kind: e.kind.clone(),
        actor: actor_name(&e.actor, agents, customer),
        field,
        before,
        after,
        detail,
    })
}

fn message_view(m: Message, agents: &HashMap<i64, String>, customer: &str) -> MessageView {
    MessageView {
        id: m.id,
        kind: m.kind.as_str(),
        author: actor_name(&m.author, agents, customer),
        html: m
            .html
            .as_deref()
            .map(|h| super::email_html(h, &m.attachments, |id| format!("/attachments/{id}"))),
        body: m.body,
        attachments: m.attachments,
        channel: m.channel.as_str(),
    }
}

struct Conversation {
    entries: Vec<Entry>,
    last_event: i64,
}

/// Messages and events of a ticket merged in time order (the first 200 of each).
async fn conversation_of(
    state: &AppState,
    ticket: &Ticket,
    agents: &HashMap<i64, String>,
) -> Result<Conversation, PageError> {
    let (messages, events, last_event) = tokio::try_join!(
        super::whole_list(|page| state.store.list_messages(ticket.id, page)),
        super::whole_list(|page| state.store.list_events(ticket.id, page)),
        async { Ok::<_, PageError>(state.store.last_ticket_event(ticket.id).await?) },
    )?;
    let customer = &ticket.customer.name;
    let mut entries: Vec<Entry> = messages
        .into_iter()
        .map(|m| Entry {
            at: m.created_at.0,
            message: Some(message_view(m, agents, customer)),
            event: None,
        })
        .collect();
    entries.extend(events.iter().filter_map(|e| {
        event_view(e, agents, customer).map(|v| Entry {
            at: e.created_at.0,
            message: None,
            event: Some(v),
        })
    }));
    // Stable: a message and the change it caused keep their written order.
    entries.sort_by_key(|e| e.at);
    Ok(Conversation {
        entries,
        last_event,
    })
}

pub(super) fn agent_names(agents: &[Agent]) -> HashMap<i64, String> {
    agents.iter().map(|a| (a.id, a.name.clone())).collect()
}

/// A stale-view warning: what changed on the ticket since the page was rendered.
#[derive(Serialize, Clone)]
struct Stale {
    changes: Vec<String>,
    body: String,
    kind: String,
}

struct Draft {
    body: String,
    stale: Option<Stale>,
    error: Option<String>,
}

/// The ticket page again, with what a form on it had refused.
pub(super) async fn render_error(
    state: &AppState,
    session: &AgentSession,
    id: i64,
    error: String,
) -> Result<Response, PageError> {
    let draft = Draft {
        body: String::new(),
        stale: None,
        error: Some(error),
    };
    render_page(state, session, id, false, draft).await
}

async fn render_page(
    state: &AppState,
    session: &AgentSession,
    id: i64,
    focus: bool,
    draft: Draft,
) -> Result<Response, PageError> {
    let (ticket, agents) = tokio::try_join!(state.store.ticket(id), state.store.list_agents())?;
    let names = agent_names(&agents);
    // Independent reads side by side: on PostgreSQL each is a round trip.
    let (conversation, customer, sla, routing, phone, (teams, fields, inbox, links, macros)) = tokio::try_join!(
        conversation_of(state, &ticket, &names),
        customer_context(state, ticket.customer.id, Some(ticket.id), &agents),
        super::sla::panel(state, ticket.id),
        super::routing::ticket_panel(state, session, &ticket),
        super::phone::ticket_panel(state, &ticket, &names),
        async {
            tokio::try_join!(
                state.store.list_teams(),
                state.store.list_custom_fields(),
                state.store.inbox(ticket.inbox_id),
                state.store.ticket_links(ticket.id),
                state.store.list_macros(),
            )
            .map_err(PageError::from)
        },
    )?;
    let viewers = state.ui.live.others(ticket.id, session.agent.id);
    let role = session.agent.role;
    Ok(templates().render(
        "ticket.html",
        session.lang,
        context! {
            me => session.me(), csrf => &session.csrf, focus => focus,
            ticket => &ticket, entries => conversation.entries, last_event => conversation.last_event,
            c => customer, agents => agents.iter().filter(|a| a.active && a.role.is_staff()).collect::<Vec<_>>(),
            teams => teams, fields => fields, viewers => viewers, inbox => inbox,
            links => links, macros => macros, sla => sla, routing => routing, phone => phone,
            statuses => TicketStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            priorities => Priority::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            can_reply => role.allows(Permission::PublicReply),
            can_update => role.allows(Permission::UpdateTickets),
            can_ask => role.allows(Permission::InternalNote),
            draft => draft.body, stale => draft.stale, error => draft.error,
        },
    ))
}

/// `GET /t/{id}`.
pub async fn page(
    State(state): State<AppState>,
    session: AgentSession,
    Path(id): Path<i64>,
    Query(params): Query<PageParams>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ReadTickets)?;
    let draft = Draft {
        body: String::new(),
        stale: None,
        error: None,
    };
    render_page(&state, &session, id, params.focus.is_some(), draft).await
}

/// `GET /t/{id}/conversation`: the conversation alone, for live refreshes.
pub async fn conversation(
    State(state): State<AppState>,
    session: AgentSession,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ReadTickets)?;
    let ticket = state.store.ticket(id).await?;
    let agents = state.store.list_agents().await?;
    let conversation = conversation_of(&state, &ticket, &agent_names(&agents)).await?;
    Ok(templates().render(
        "conversation.html",
        session.lang,
        context! {
            ticket => &ticket, entries => conversation.entries, last_event => conversation.last_event,
            csrf => &session.csrf, can_update => session.agent.role.allows(Permission::UpdateTickets),
        },
    ))
}

#[derive(Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    body: String,
    #[serde(default)]
    kind: String,
    /// The newest event id the agent saw (when they started writing, or on the warning page
    /// they confirmed).
    #[serde(default)]
    seen: i64,
    #[serde(default)]
    focus: Option<String>,
}

/// What others changed on a ticket after event `seen`, as lines for the warning.
async fn changes_since(
    state: &AppState,
    ticket_id: i64,
    seen: i64,
    me: i64,
    lang: &str,
) -> Result<Vec<String>, PageError> {
    let events =
        super::whole_list_after(seen, |page| state.store.list_events(ticket_id, page)).await?;
    let agents = agent_names(&state.store.list_agents().await?);
    let ticket = state.store.ticket(ticket_id).await?;
    let mut lines = Vec::new();
    for e in events.iter().filter(|e| e.actor.agent_id() != Some(me)) {
        let who = actor_name(&e.actor, &agents, &ticket.customer.name);
        let line = match e.kind.as_str() {
            "message.added" => {
                let kind = e
                    .data
                    .get("kind")
                    .and_then(|k| k.as_str())
                    .unwrap_or("reply");
                format!(
                    "{who}: {}",
                    super::i18n::text(lang, &format!("stale_{kind}"))
                )
            }
            "ticket.changed" => match event_view(e, &agents, &ticket.customer.name) {
                Some(v) => format!(
                    "{who}: {} {} → {}",
                    v.field.unwrap_or_default(),
                    v.before.unwrap_or_default(),
                    v.after.unwrap_or_default()
                ),
                None => continue,
            },
            // Another ticket's conversation moved in.
            "ticket.merged" if e.data.get("target").and_then(|t| t.as_i64()) == Some(ticket_id) => {
                format!("{who}: {}", super::i18n::text(lang, "stale_merged"))
            }
            _ => continue,
        };
        lines.push(line);
    }
    Ok(lines)
}

/// `POST /t/{id}/reply`: a public reply (emailed to the customer) or an internal note. When
/// someone else changed the ticket since the agent's page was rendered, the agent sees what
/// changed and decides, instead of answering a conversation they have not read.
pub async fn reply(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, ReplyForm>,
) -> Result<Response, PageError> {
    let kind = match form.kind.as_str() {
        "note" => MessageKind::Note,
        _ => MessageKind::Reply,
    };
    let permission = if kind == MessageKind::Note {
        Permission::InternalNote
    } else {
        Permission::PublicReply
    };
    if !session.agent.role.allows(permission) {
        return Err(PageError(crate::problem::Problem::forbidden(format!(
            "your role ({}) may not send this",
            session.agent.role.as_str()
        ))));
    }
    let focus = form.focus.is_some();
    // Always checked: "Send anyway" carries the warning page's `seen`, so only changes made
    // after the agent read the warning stop it again.
    {
        let changes = changes_since(&state, id, form.seen, session.agent.id, session.lang).await?;
        if !changes.is_empty() {
            let stale = Stale {
                changes,
                body: form.body.clone(),
                kind: kind.as_str().into(),
            };
            let draft = Draft {
                body: form.body,
                stale: Some(stale),
                error: None,
            };
            let mut response = render_page(&state, &session, id, focus, draft).await?;
            *response.status_mut() = StatusCode::CONFLICT;
            return Ok(response);
        }
    }
    // The reply goes out on the ticket's own channel (email for email, and so on).
    let channel = state.store.ticket(id).await?.channel;
    let new = NewMessage {
        kind,
        channel,
        body: form.body.clone(),
        send_email: kind == MessageKind::Reply,
        attachments: Vec::new(),
    };
    let ctx = Ctx {
        actor: Actor::agent(session.agent.id),
        at: now(),
    };
    match state.store.add_message(ctx, id, new, None).await {
        Ok(_) => Ok(Redirect::to(&ticket_url(id, focus)).into_response()),
        Err(rapport_store::StoreError::Invalid(invalid)) => {
            let draft = Draft {
                body: form.body,
                stale: None,
                error: Some(invalid.to_string()),
            };
            let mut response = render_page(&state, &session, id, focus, draft).await?;
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

fn ticket_url(id: i64, focus: bool) -> String {
    if focus {
        format!("/t/{id}?focus=1")
    } else {
        format!("/t/{id}")
    }
}

#[derive(Deserialize)]
pub struct PropsForm {
    status: Option<String>,
    priority: Option<String>,
    /// An agent id, or empty for nobody.
    assignee: Option<String>,
    team: Option<String>,
    /// Comma-separated.
    tags: Option<String>,
    /// Why the ticket changes hands (required when its owner or team changes away from
    /// someone).
    #[serde(default)]
    transfer_reason: Option<String>,
    #[serde(default)]
    focus: Option<String>,
    #[serde(flatten)]
    rest: HashMap<String, String>,
}

fn optional_id(raw: Option<&str>) -> Result<Option<Option<i64>>, PageError> {
    match raw.map(str::trim) {
        None => Ok(None),
        Some("") => Ok(Some(None)),
        Some(n) => n.parse().map(|id| Some(Some(id))).map_err(|_| {
            PageError(crate::problem::Problem::bad_request(format!(
                "'{n}' is not an id"
            )))
        }),
    }
}

/// `POST /t/{id}/props`: status, priority, owner, team, tags and custom fields in one change.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, PropsForm>,
) -> Result<Response, PageError> {
    session.require_to_do(Permission::UpdateTickets)?;
    let mut fields = serde_json::Map::new();
    for def in state.store.list_custom_fields().await? {
        if let Some(raw) = form.rest.get(&format!("field.{}", def.key)) {
            fields.insert(def.key.clone(), field_value(raw, &def));
        }
    }
    let patch = TicketPatch {
        status: form
            .status
            .as_deref()
            .map(TicketStatus::parse)
            .transpose()?,
        priority: form.priority.as_deref().map(Priority::parse).transpose()?,
        assignee_id: optional_id(form.assignee.as_deref())?,
        team_id: optional_id(form.team.as_deref())?,
        tags: form.tags.as_deref().map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        }),
        custom_fields: (!fields.is_empty()).then_some(fields),
        // Empty means none given: the store then says a reason is needed, when it is.
        transfer_reason: form
            .transfer_reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string),
        ..Default::default()
    };
    let ctx = Ctx {
        actor: Actor::agent(session.agent.id),
        at: now(),
    };
    let focus = form.focus.is_some();
    match state.store.update_ticket(ctx, id, patch).await {
        Ok(_) => Ok(Redirect::to(&ticket_url(id, focus)).into_response()),
        Err(rapport_store::StoreError::Invalid(invalid)) => {
            let draft = Draft {
                body: String::new(),
                stale: None,
                error: Some(invalid.to_string()),
            };
            let mut response = render_page(&state, &session, id, focus, draft).await?;
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

/// A form's text as the field's JSON value: empty clears, numbers and checkboxes typed.
fn field_value(raw: &str, def: &rapport_core::fields::FieldDef) -> serde_json::Value {
    use rapport_core::fields::FieldType;
    let raw = raw.trim();
    if raw.is_empty() {
        return serde_json::Value::Null;
    }
    match def.field_type {
        FieldType::Number => raw
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| serde_json::Value::String(raw.into())),
        FieldType::Checkbox => serde_json::Value::Bool(matches!(raw, "true" | "on" | "1")),
        _ => serde_json::Value::String(raw.into()),
    }
}

/// `GET /focus`: the most urgent ticket for this agent, alone on screen.
pub async fn focus(
    State(state): State<AppState>,
    session: AgentSession,
) -> Result<Response, PageError> {
    match state.store.next_ticket_for(session.agent.id, &[]).await? {
        Some(id) => Ok(Redirect::to(&ticket_url(id, true)).into_response()),
        None => Ok(templates().render(
            "ticket.html",
            session.lang,
            context! { me => session.me(), csrf => &session.csrf, focus => true, ticket => None::<Ticket>, all_done => true },
        )),
    }
}

#[derive(Deserialize)]
pub struct DoneForm {
    /// The status to leave the ticket in: solved (default) or pending.
    #[serde(default)]
    status: Option<String>,
}

/// `POST /t/{id}/done`: solve (or set pending) and open the next most urgent ticket.
pub async fn done(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, DoneForm>,
) -> Result<Response, PageError> {
    session.require_to_do(Permission::UpdateTickets)?;
    let status = match form.status.as_deref() {
        Some("pending") => TicketStatus::Pending,
        _ => TicketStatus::Solved,
    };
    let ctx = Ctx {
        actor: Actor::agent(session.agent.id),
        at: now(),
    };
    let patch = TicketPatch {
        status: Some(status),
        ..Default::default()
    };
    state.store.update_ticket(ctx, id, patch).await?;
    match state.store.next_ticket_for(session.agent.id, &[id]).await? {
        Some(next) => Ok(Redirect::to(&ticket_url(next, true)).into_response()),
        None => Ok(Redirect::to("/focus").into_response()),
    }
}

/// A ticket named the way agents type it: `R-10234`, `r-10234` or `10234`.
fn ticket_named(text: &str) -> Result<i64, PageError> {
    rapport_core::TicketRef::parse(text)
        .map(|r| r.0)
        .ok_or_else(|| {
            PageError(crate::problem::Problem::invalid(
                rapport_core::Invalid::new(
                    "ticket",
                    format!("'{text}' is not a ticket reference like R-10234"),
                ),
            ))
        })
}

fn agent_ctx(session: &AgentSession) -> Ctx {
    Ctx {
        actor: Actor::agent(session.agent.id),
        at: now(),
    }
}

#[derive(Deserialize)]
pub struct OtherTicket {
    #[serde(default)]
    other: String,
}

/// `POST /t/{id}/link`: relates this ticket to another.
pub async fn link(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, OtherTicket>,
) -> Result<Response, PageError> {
    session.require_to_do(Permission::UpdateTickets)?;
    let other = ticket_named(&form.other)?;
    state
        .store
        .link_tickets(agent_ctx(&session), id, other)
        .await?;
    Ok(Redirect::to(&ticket_url(id, false)).into_response())
}

/// `POST /t/{id}/merge`: moves this conversation into another ticket and opens that one.
pub async fn merge(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, OtherTicket>,
) -> Result<Response, PageError> {
    session.require_to_do(Permission::UpdateTickets)?;
    let target = ticket_named(&form.other)?;
    let merged = state
        .store
        .merge_tickets(agent_ctx(&session), id, target)
        .await?;
    Ok(Redirect::to(&ticket_url(merged.id, false)).into_response())
}

/// `POST /t/{id}/split/{message}`: copies a message out into a new ticket and opens it.
pub async fn split(
    State(state): State<AppState>,
    Path((id, message)): Path<(i64, i64)>,
    SessionForm { session, .. }: SessionForm<AgentSession, OtherTicket>,
) -> Result<Response, PageError> {
    session.require_to_do(Permission::UpdateTickets)?;
    let belongs = super::whole_list(|page| state.store.list_messages(id, page))
        .await?
        .iter()
        .any(|m| m.id == message);
    if !belongs {
        return Err(PageError::not_found());
    }
    let created = state
        .store
        .split_message(agent_ctx(&session), message)
        .await?;
    Ok(Redirect::to(&ticket_url(created.id, false)).into_response())
}

#[derive(Deserialize)]
pub struct MacroForm {
    #[serde(default)]
    body: String,
    /// A macro id; empty when none was chosen.
    #[serde(default, rename = "macro")]
    macro_id: String,
    #[serde(default)]
    focus: Option<String>,
}

/// `POST /t/{id}/macro`: applies a macro's ticket changes and puts its text, with the
/// placeholders filled, into the reply box (after what the agent already wrote) to review.
pub async fn apply_macro(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, MacroForm>,
) -> Result<Response, PageError> {
    let focus = form.focus.is_some();
    let Ok(macro_id) = form.macro_id.parse::<i64>() else {
        let draft = Draft {
            body: form.body,
            stale: None,
            error: None,
        };
        return render_page(&state, &session, id, focus, draft).await;
    };
    let chosen = state.store.macro_by_id(macro_id).await?;
    let ticket = state.store.ticket(id).await?;
    let actions = &chosen.actions;
    if actions.status.is_some() || actions.priority.is_some() || !actions.add_tags.is_empty() {
        session.require_to_do(Permission::UpdateTickets)?;
        let mut tags = ticket.tags.clone();
        tags.extend(actions.add_tags.iter().cloned());
        let patch = TicketPatch {
            status: actions.status,
            priority: actions.priority,
            tags: (!actions.add_tags.is_empty()).then_some(tags),
            ..Default::default()
        };
        state
            .store
            .update_ticket(agent_ctx(&session), id, patch)
            .await?;
    }
    let values = rapport_core::macros::MacroValues {
        customer_name: ticket.customer.name.clone(),
        agent_name: session.agent.name.clone(),
        reference: ticket.reference.clone(),
        subject: ticket.subject.clone(),
    };
    let text = rapport_core::macros::render(&chosen.body, &values);
    let body = match form.body.trim_end() {
        "" => text,
        written => format!("{written}\n\n{text}"),
    };
    // The page comes back whole, so the draft is based on the conversation as it is now.
    render_page(
        &state,
        &session,
        id,
        focus,
        Draft {
            body,
            stale: None,
            error: None,
        },
    )
    .await
}
