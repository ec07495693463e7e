//! The phone channel in the workspace: the ticket page's calls and callbacks panel (log a
//! call, schedule or cancel a callback), "New ticket from a call" (`/calls/new`: the number,
//! the customers it matches, pick or create), and the callback queue (`/callbacks`), whose
//! "Log call" keeps the callback.

use super::routing::back_to_ticket;
use super::session::{AgentSession, PortalSession, SessionForm};
use super::{FormFields, PageError, ctx, field, templates};
use crate::{AppState, now};
use axum::Extension;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use rapport_core::phone::{
    CallDirection, CallOutcome, CallbackStatus, CallbackWindow, PhoneNumber, describe_window,
    format_duration, parse_duration,
};
use rapport_core::{Actor, Channel, Permission};
use rapport_store::{
    Call, Callback, CallbackQueue, CallbackRequester, Ctx, NewCall, NewCallTicket,
    NewCallbackRequest, StoreError, Ticket,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;

#[derive(Serialize)]
pub struct CallView {
    id: i64,
    direction: &'static str,
    outcome: &'static str,
    number: String,
    duration: String,
    agent: Option<String>,
    started_at: i64,
    ticket_id: i64,
}

pub fn call_view(call: &Call, agents: &HashMap<i64, String>) -> CallView {
    CallView {
        id: call.id,
        direction: call.direction.as_str(),
        outcome: call.outcome.as_str(),
        number: call.number.clone(),
        duration: format_duration(call.duration_seconds),
        agent: call.agent_id.and_then(|a| agents.get(&a).cloned()),
        started_at: call.started_at.0,
        ticket_id: call.ticket_id,
    }
}

#[derive(Serialize)]
struct CallbackView {
    id: i64,
    ticket_id: i64,
    reference: String,
    number: String,
    /// `tel:` target: the canonical number (`+49…`, or national digits).
    dial: String,
    status: &'static str,
    window_start: i64,
    window_end: i64,
    /// The window in the customer's zone, in words.
    window_customer: String,
    overdue: bool,
}

fn callback_view(cb: &Callback, at: i64) -> CallbackView {
    CallbackView {
        id: cb.id,
        ticket_id: cb.ticket_id,
        reference: cb.reference.clone(),
        number: cb.number.clone(),
        dial: cb.number_canonical.clone(),
        status: cb.status.as_str(),
        window_start: cb.window_start.0,
        window_end: cb.window_end.0,
        window_customer: describe_window(cb.window_start, cb.window_end, &cb.time_zone),
        overdue: cb.status == CallbackStatus::Scheduled && cb.window_end.0 < at,
    }
}

/// How the timeline names a logged call: `outbound · answered · 4:30 · +49 30 1234567`.
pub fn call_event_detail(data: &serde_json::Value) -> String {
    let text = |key: &str| data.get(key).and_then(|v| v.as_str()).unwrap_or_default();
    let seconds = data
        .get("duration_seconds")
        .and_then(|v| v.as_i64())
        .unwrap_or_default();
    format!(
        "{} · {} · {} · {}",
        text("direction"),
        text("outcome").replace('_', " "),
        format_duration(seconds),
        text("number")
    )
}

fn choices() -> Value {
    context! {
        directions => CallDirection::ALL.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        outcomes => CallOutcome::ALL.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
    }
}

/// The ticket page's calls and callbacks panel.
pub async fn ticket_panel(
    state: &AppState,
    ticket: &Ticket,
    agents: &HashMap<i64, String>,
) -> Result<Value, PageError> {
    let (calls, callbacks, customer) = tokio::try_join!(
        state.store.calls(ticket.id),
        state.store.callbacks(ticket.id),
        state.store.customer(ticket.customer.id),
    )?;
    let at = now().0;
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    Ok(context! {
        calls => calls.iter().rev().map(|c| call_view(c, agents)).collect::<Vec<_>>(),
        callbacks => callbacks.iter().rev().map(|c| callback_view(c, at)).collect::<Vec<_>>(),
        number => customer.phone.unwrap_or_default(),
        customer_zone => customer.time_zone.unwrap_or_default(),
        today => today,
        choices => choices(),
    })
}

/// The call form's fields as a new call.
fn call_from_form(form: &FormFields) -> Result<NewCall, PageError> {
    Ok(NewCall {
        direction: CallDirection::parse(field(form, "direction"))?,
        number: field(form, "number").to_string(),
        duration_seconds: parse_duration("duration", field(form, "duration"))?,
        outcome: CallOutcome::parse(field(form, "outcome"))?,
        notes: field(form, "notes").to_string(),
        started_at: None,
    })
}

/// `POST /t/{id}/calls`: log a call; back to the ticket, or to the queue it was logged from.
pub async fn log_call(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_do(Permission::PublicReply)?;
    let result = match call_from_form(&form) {
        Ok(new) => state
            .store
            .log_call(ctx(&session), id, new)
            .await
            .map_err(PageError::from),
        Err(e) => Err(e),
    };
    if result.is_ok() && field(&form, "back") == "queue" {
        return Ok(Redirect::to("/callbacks").into_response());
    }
    back_to_ticket(&state, &session, id, "phone", result).await
}

/// `POST /t/{id}/callbacks`: schedule a callback (times in the customer's zone).
pub async fn schedule(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_do(Permission::PublicReply)?;
    let result = async {
        let window = CallbackWindow::parse(
            field(&form, "date"),
            field(&form, "window_start"),
            field(&form, "window_end"),
            field(&form, "time_zone"),
            now(),
        )?;
        Ok::<_, PageError>(
            state
                .store
                .schedule_callback(
                    ctx(&session),
                    id,
                    field(&form, "phone"),
                    window,
                    field(&form, "note"),
                )
                .await?,
        )
    }
    .await;
    back_to_ticket(&state, &session, id, "phone", result).await
}

/// `POST /t/{id}/callbacks/{callback}/cancel` with a reason.
pub async fn cancel(
    State(state): State<AppState>,
    Path((id, callback)): Path<(i64, i64)>,
    SessionForm { session, form }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_do(Permission::PublicReply)?;
    let result = async {
        // A callback id in a ticket's URL must be one of that ticket's.
        if !state
            .store
            .callbacks(id)
            .await?
            .iter()
            .any(|c| c.id == callback)
        {
            return Err(PageError::not_found());
        }
        Ok(state
            .store
            .cancel_callback(ctx(&session), callback, field(&form, "reason"))
            .await?)
    }
    .await;
    back_to_ticket(&state, &session, id, "phone", result).await
}

#[derive(Deserialize)]
pub struct QueueParams {
    #[serde(default)]
    filter: Option<String>,
}

#[derive(Serialize)]
struct QueueRow {
    #[serde(flatten)]
    callback: CallbackView,
    subject: String,
    customer_id: i64,
    customer: String,
    owner: Option<String>,
}

/// `GET /callbacks`: scheduled callbacks by window start (all, mine, overdue).
pub async fn queue(
    State(state): State<AppState>,
    session: AgentSession,
    Query(params): Query<QueueParams>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ReadTickets)?;
    let at = now();
    let filter = params.filter.as_deref().unwrap_or("all");
    let queue = match filter {
        "mine" => CallbackQueue::Mine(session.agent.id),
        "overdue" => CallbackQueue::OverdueAt(at),
        _ => CallbackQueue::All,
    };
    let (rows, agents) = tokio::try_join!(
        state.store.callback_queue(queue, 200),
        state.store.list_agents()
    )?;
    let names = super::ticket::agent_names(&agents);
    let rows: Vec<QueueRow> = rows
        .into_iter()
        .map(|q| QueueRow {
            callback: callback_view(&q.callback, at.0),
            subject: q.subject,
            customer_id: q.customer.id,
            customer: q.customer.name,
            owner: q.assignee_id.and_then(|a| names.get(&a).cloned()),
        })
        .collect();
    Ok(templates().render(
        "callbacks.html",
        session.lang,
        context! {
            me => session.me(), csrf => &session.csrf, rows => rows, filter => filter,
            can_log => session.agent.role.allows(Permission::PublicReply), choices => choices(),
        },
    ))
}

#[derive(Deserialize)]
pub struct NewCallParams {
    #[serde(default)]
    phone: Option<String>,
}

/// `GET /calls/new?phone=`: the number typed, the customers it matches, and the form.
pub async fn new_call(
    State(state): State<AppState>,
    session: AgentSession,
    Query(params): Query<NewCallParams>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::CreateTickets)?;
    let phone = params.phone.unwrap_or_default();
    new_call_page(&state, &session, phone.trim(), None).await
}

async fn new_call_page(
    state: &AppState,
    session: &AgentSession,
    phone: &str,
    error: Option<String>,
) -> Result<Response, PageError> {
    let (matches, lookup_error) = if phone.is_empty() {
        (Vec::new(), None)
    } else {
        match state.store.customers_by_phone(phone).await {
            Ok(found) => (found, None),
            Err(StoreError::Invalid(i)) => (Vec::new(), Some(i.to_string())),
            Err(e) => return Err(e.into()),
        }
    };
    Ok(templates().render(
        "call_new.html",
        session.lang,
        context! {
            me => session.me(), csrf => &session.csrf, phone => phone, matches => matches,
            looked_up => !phone.is_empty() && lookup_error.is_none(),
            error => error.or(lookup_error), choices => choices(),
        },
    ))
}

/// `POST /calls/new`: the ticket from the call, for the customer picked (or a new one).
pub async fn create_from_call(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm<AgentSession, FormFields>,
) -> Result<Response, PageError> {
    session.require_to_do(Permission::CreateTickets)?;
    session.require_to_do(Permission::PublicReply)?;
    let phone = field(&form, "number");
    let result = async {
        let customer_id = match field(&form, "customer") {
            "" | "new" => None,
            id => Some(
                id.parse::<i64>()
                    .map_err(|_| super::invalid("customer", "is not a customer"))?,
            ),
        };
        let subject = match field(&form, "subject") {
            "" => format!("Phone call from {phone}"),
            s => s.to_string(),
        };
        let new = NewCallTicket {
            inbox: None,
            customer_id,
            name: Some(field(&form, "name").to_string()).filter(|n| !n.is_empty()),
            email: Some(field(&form, "email").to_string()).filter(|e| !e.is_empty()),
            subject,
            call: call_from_form(&form)?,
        };
        Ok::<_, PageError>(state.store.ticket_from_call(ctx(&session), new).await?)
    }
    .await;
    match result {
        Ok(made) => Ok(Redirect::to(&format!("/t/{}", made.ticket.id)).into_response()),
        Err(e) if e.0.status < 500 && e.0.status != 404 => {
            let mut page = new_call_page(&state, &session, phone, Some(e.0.detail)).await?;
            *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(page)
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// The portal: a signed-in customer asks for a call back, and sees it on the ticket

/// A ticket's callbacks as its customer sees them: the number and the window in their zone.
pub async fn portal_callbacks(state: &AppState, ticket_id: i64) -> Result<Vec<Value>, PageError> {
    Ok(state
        .store
        .callbacks(ticket_id)
        .await?
        .iter()
        .map(|cb| {
            context! {
                id => cb.id, status => cb.status.as_str(), number => &cb.number,
                window => describe_window(cb.window_start, cb.window_end, &cb.time_zone),
            }
        })
        .collect())
}

#[derive(Deserialize, Default)]
pub struct PortalCallbackForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    window_start: String,
    #[serde(default)]
    window_end: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    note: String,
}

async fn portal_form_page(
    state: &AppState,
    session: &PortalSession,
    form: PortalCallbackForm,
    error: Option<String>,
) -> Result<Response, PageError> {
    let inbox = super::portal::inbox_for(state, Some(session.customer.id)).await?;
    let zone = match form.time_zone.as_str() {
        "" => session
            .customer
            .time_zone
            .clone()
            .unwrap_or_else(|| inbox.business_hours.time_zone.clone()),
        zone => zone.to_string(),
    };
    let phone = match form.phone.as_str() {
        "" => session.customer.phone.clone().unwrap_or_default(),
        typed => typed.to_string(),
    };
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    Ok(super::portal::page(
        "portal/callback.html",
        session.lang,
        &inbox,
        context! {
            customer => &session.customer, csrf => &session.csrf, error => error, zone => zone,
            phone => phone, date => form.date, window_start => form.window_start,
            window_end => form.window_end, note => form.note, today => today,
        },
    ))
}

/// `GET /portal/callback`: the form, the number prefilled from the customer's record.
pub async fn portal_form(
    State(state): State<AppState>,
    session: PortalSession,
) -> Result<Response, PageError> {
    portal_form_page(&state, &session, PortalCallbackForm::default(), None).await
}

/// `POST /portal/callback`: the request becomes a ticket with its callback; the customer lands
/// on it (the read-back goes by email).
pub async fn portal_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    SessionForm { session, form }: SessionForm<PortalSession, PortalCallbackForm>,
) -> Result<Response, PageError> {
    let at = now();
    let checked = PhoneNumber::parse("phone", &form.phone).and_then(|number| {
        CallbackWindow::parse(
            &form.date,
            &form.window_start,
            &form.window_end,
            &form.time_zone,
            at,
        )
        .map(|window| (number, window))
    });
    let (number, window) = match checked {
        Ok(ok) => ok,
        Err(invalid) => return refused(&state, &session, form, invalid.to_string()).await,
    };
    let client = super::session::client_key(&state, "callback-client", peer, &headers);
    if !crate::api::phone::callback_allowed(&state, &client, &number, at).await? {
        let text = super::i18n::text(session.lang, "portal_callback_too_many");
        let mut page = portal_form_page(&state, &session, form, Some(text)).await?;
        *page.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        return Ok(page);
    }
    let inbox = super::portal::inbox_for(&state, Some(session.customer.id)).await?;
    let request = NewCallbackRequest {
        inbox_id: inbox.id,
        requester: CallbackRequester::Known(session.customer.id),
        phone: number.typed.clone(),
        window,
        note: form.note.clone(),
        origin: Channel::Portal,
    };
    let ctx = Ctx {
        actor: Actor::customer(session.customer.id),
        at,
    };
    match state.store.request_callback(ctx, request).await {
        Ok(made) => {
            crate::api::phone::callback_accepted(&state, &number, at).await?;
            Ok(Redirect::to(&format!("/portal/t/{}", made.ticket.id)).into_response())
        }
        Err(StoreError::Invalid(invalid)) => {
            refused(&state, &session, form, invalid.to_string()).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn refused(
    state: &AppState,
    session: &PortalSession,
    form: PortalCallbackForm,
    error: String,
) -> Result<Response, PageError> {
    let mut page = portal_form_page(state, session, form, Some(error)).await?;
    *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(page)
}
