//! The phone channel over HTTP: calls on tickets, a ticket from a call, callbacks and their
//! queue for agents (`/api/v1`), and the public `POST /widget/callbacks` the chat widget's
//! "Request a call back" form sends to from customers' sites.
//!
//! Roles: logging a call, opening a ticket from one and scheduling or cancelling a callback
//! need `PublicReply` — an answered call is an answer to the customer and a callback a promise
//! to them, which light agents (notes only) may not give. Anyone who reads tickets reads calls
//! and the queue.

use super::ListOf;
use super::customers::numeric_id;
use super::tickets::ctx;
use crate::auth::Caller;
use crate::extract::{JsonBody, Params, parse_json, ticket_id};
use crate::problem::responses as problems;
use crate::problem::{ApiResult, Problem};
use crate::{AppState, now};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use rapport_core::phone::{
    CallDirection, CallOutcome, CallbackWindow, PhoneNumber, describe_window,
};
use rapport_core::{Actor, Channel, Invalid, Millis, Permission};
use rapport_store::{
    Call, CallTicket, Callback, CallbackQueue, CallbackRequester, Ctx, CustomerSummary, NewCall,
    NewCallTicket, NewCallbackRequest, QueuedCallback,
};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use utoipa::{IntoParams, ToSchema};

/// Callback requests one client address may send per hour, and requests for one number.
const CALLBACKS_PER_CLIENT: i64 = 10;
const CALLBACKS_PER_NUMBER: i64 = 3;
/// A callback request is a few short fields.
pub const WIDGET_BODY_BYTES: usize = 8 * 1024;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallInput {
    /// `inbound` (they called us) or `outbound` (we called them).
    pub direction: CallDirection,
    /// As typed: digits with spaces, `-`, `.`, `/`, parentheses, a leading `+` or `00`.
    pub number: String,
    /// Length in seconds, 0 to 86400.
    #[serde(default)]
    pub duration_seconds: i64,
    /// `answered`, `no_answer`, `voicemail`, `busy` or `wrong_number`. An answered call counts
    /// as a public reply for the SLA clocks; an outbound one other than a wrong number keeps
    /// the ticket's scheduled callbacks.
    pub outcome: CallOutcome,
    /// What was said; kept as an internal note on the ticket (history, search).
    #[serde(default)]
    pub notes: String,
    /// When the call began, RFC 3339; now when absent.
    pub started_at: Option<String>,
}

impl CallInput {
    fn into_new(self, prefix: &str) -> Result<NewCall, Invalid> {
        let started_at = self
            .started_at
            .map(|raw| {
                Millis::parse(&raw).ok_or_else(|| {
                    Invalid::new(format!("{prefix}started_at"), "must be an RFC 3339 time")
                })
            })
            .transpose()?;
        Ok(NewCall {
            direction: self.direction,
            number: self.number,
            duration_seconds: self.duration_seconds,
            outcome: self.outcome,
            notes: self.notes,
            started_at,
        })
    }
}

/// The ticket's calls, oldest first.
#[utoipa::path(get, path = "/tickets/{id}/calls", tag = "phone",
    params(("id" = String, Path, description = "Ticket number or reference")),
    responses((status = 200, body = ListOf<Call>), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn list_calls(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ListOf<Call>>> {
    caller.require(Permission::ReadTickets, "read tickets")?;
    Ok(Json(ListOf::all(state.store.calls(ticket_id(&id)?).await?)))
}

/// Logs a call on a ticket (closed tickets: 409).
#[utoipa::path(post, path = "/tickets/{id}/calls", tag = "phone", request_body = CallInput,
    params(("id" = String, Path, description = "Ticket number or reference")),
    responses((status = 201, body = Call), problems::Auth, problems::Body, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn log_call(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody<CallInput>,
) -> ApiResult<(StatusCode, Json<Call>)> {
    caller.require(Permission::PublicReply, "log calls with customers")?;
    let id = ticket_id(&id)?;
    let new = body.value.into_new("")?;
    let call = state.store.log_call(ctx(&caller), id, new).await?;
    Ok((StatusCode::CREATED, Json(call)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallTicketInput {
    /// Inbox name; the first inbox when absent.
    pub inbox: Option<String>,
    /// The caller, when known or picked among several customers with the number.
    pub customer_id: Option<i64>,
    /// A new caller's name (required when nobody has the number).
    pub name: Option<String>,
    /// A new caller's address, if they gave one.
    pub email: Option<String>,
    /// Default: "Phone call from <number>".
    pub subject: Option<String>,
    pub call: CallInput,
}

/// Opens a ticket (channel `phone`, owned by the caller of this API) from a call and logs the
/// call on it. The caller is the customer given, else the one customer whose number matches,
/// else a new customer (`name` required). Several customers with the number: 422 on
/// `customer_id` — list them with `GET /customers?phone=`.
#[utoipa::path(post, path = "/calls", tag = "phone", request_body = CallTicketInput,
    responses((status = 201, body = CallTicket), problems::Auth, problems::Body, problems::NotFound),
    security(("bearer" = [])))]
pub async fn ticket_from_call(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<CallTicketInput>,
) -> ApiResult<(StatusCode, Json<CallTicket>)> {
    caller.require(Permission::CreateTickets, "create tickets")?;
    caller.require(Permission::PublicReply, "log calls with customers")?;
    let input = body.value;
    let subject = input
        .subject
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| format!("Phone call from {}", input.call.number.trim()));
    let new = NewCallTicket {
        inbox: input.inbox,
        customer_id: input.customer_id,
        name: input.name,
        email: input.email,
        subject,
        call: input.call.into_new("call.")?,
    };
    let made = state.store.ticket_from_call(ctx(&caller), new).await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// A callback window as customers give it: a date and two times in their zone.
#[derive(Deserialize, ToSchema)]
pub struct WindowInput {
    /// `YYYY-MM-DD`, within 14 days.
    pub date: String,
    /// `HH:MM` in `time_zone`.
    pub window_start: String,
    /// `HH:MM` in `time_zone`, after the start, at most 12 hours later, at least 15 minutes
    /// from now.
    pub window_end: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbackInput {
    /// The number to call; default: the customer's.
    pub phone: Option<String>,
    pub date: String,
    pub window_start: String,
    pub window_end: String,
    /// The customer's IANA zone the times are in; default: the customer's time zone.
    pub time_zone: Option<String>,
    #[serde(default)]
    pub note: String,
}

/// A callback with its window described in the customer's zone (and the agent's, when the
/// query gives `time_zone`).
#[derive(Serialize, ToSchema)]
pub struct CallbackView {
    #[serde(flatten)]
    pub callback: Callback,
    /// E.g. `Mon 7 Dec 2026, 14:00–16:00 (Europe/Berlin)`.
    pub window_customer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_agent: Option<String>,
}

impl CallbackView {
    fn of(callback: Callback, agent_zone: Option<&str>) -> Self {
        let window = |zone: &str| describe_window(callback.window_start, callback.window_end, zone);
        Self {
            window_customer: window(&callback.time_zone),
            window_agent: agent_zone.map(window),
            callback,
        }
    }
}

/// An agent schedules a callback on a ticket (the customer asked for one on the phone or in a
/// message): a promise due at the window's end, reminded at its start, kept by logging an
/// outbound call.
#[utoipa::path(post, path = "/tickets/{id}/callbacks", tag = "phone", request_body = CallbackInput,
    params(("id" = String, Path, description = "Ticket number or reference")),
    responses((status = 201, body = CallbackView), problems::Auth, problems::Body, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn schedule_callback(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody<CallbackInput>,
) -> ApiResult<(StatusCode, Json<CallbackView>)> {
    caller.require(Permission::PublicReply, "promise customers a call back")?;
    let id = ticket_id(&id)?;
    let input = body.value;
    let customer = state
        .store
        .customer(state.store.ticket(id).await?.customer.id)
        .await?;
    let zone = input
        .time_zone
        .or(customer.time_zone)
        .ok_or_else(|| Invalid::new("time_zone", "the customer has no time zone: give one"))?;
    let phone = input
        .phone
        .or(customer.phone)
        .ok_or_else(|| Invalid::new("phone", "the customer has no number: give one"))?;
    let window = CallbackWindow::parse(
        &input.date,
        &input.window_start,
        &input.window_end,
        &zone,
        now(),
    )?;
    let callback = state
        .store
        .schedule_callback(ctx(&caller), id, &phone, window, &input.note)
        .await?;
    Ok((StatusCode::CREATED, Json(CallbackView::of(callback, None))))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// `all` (default), `mine` (on tickets you own) or `overdue` (the window has ended).
    pub filter: Option<String>,
    /// Your IANA zone: each callback's window is also described in it (`window_agent`).
    pub time_zone: Option<String>,
    /// 1 to 500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct QueuedCallbackView {
    #[serde(flatten)]
    pub callback: CallbackView,
    pub subject: String,
    pub customer: CustomerSummary,
    pub assignee_id: Option<i64>,
    pub team_id: Option<i64>,
}

/// The callback queue: scheduled callbacks by window start.
#[utoipa::path(get, path = "/callbacks", tag = "phone", params(CallbackQuery),
    responses((status = 200, body = ListOf<QueuedCallbackView>), problems::Auth, problems::Query),
    security(("bearer" = [])))]
pub async fn callback_queue(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<CallbackQuery>,
) -> ApiResult<Json<ListOf<QueuedCallbackView>>> {
    caller.require(Permission::ReadTickets, "read tickets")?;
    let queue = match q.filter.as_deref().unwrap_or("all") {
        "all" => CallbackQueue::All,
        "mine" => CallbackQueue::Mine(caller.0.agent_id),
        "overdue" => CallbackQueue::OverdueAt(now()),
        other => {
            return Err(Invalid::new(
                "filter",
                format!("'{other}' is not a filter (expected all, mine or overdue)"),
            )
            .into());
        }
    };
    let zone = q
        .time_zone
        .as_deref()
        .map(rapport_core::contact::validate_time_zone)
        .transpose()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(Invalid::new("limit", "must be 1 to 500").into());
    }
    let items = state.store.callback_queue(queue, limit).await?;
    Ok(Json(ListOf::all(
        items
            .into_iter()
            .map(|q| queued_view(q, zone.as_deref()))
            .collect(),
    )))
}

fn queued_view(q: QueuedCallback, agent_zone: Option<&str>) -> QueuedCallbackView {
    QueuedCallbackView {
        callback: CallbackView::of(q.callback, agent_zone),
        subject: q.subject,
        customer: q.customer,
        assignee_id: q.assignee_id,
        team_id: q.team_id,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelCallbackInput {
    /// Why (one line): the promise is withdrawn and counted neither kept nor broken.
    pub reason: String,
}

/// Withdraws a scheduled callback (409 when it is no longer scheduled).
#[utoipa::path(post, path = "/callbacks/{id}/cancel", tag = "phone", request_body = CancelCallbackInput,
    params(("id" = i64, Path)),
    responses((status = 200, body = CallbackView), problems::Auth, problems::Body, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn cancel_callback(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody<CancelCallbackInput>,
) -> ApiResult<Json<CallbackView>> {
    caller.require(Permission::PublicReply, "withdraw promises to customers")?;
    let id = numeric_id("callback", &id)?;
    let callback = state
        .store
        .cancel_callback(ctx(&caller), id, &body.value.reason)
        .await?;
    Ok(Json(CallbackView::of(callback, None)))
}

// ---------------------------------------------------------------------------------------------
// The public endpoint the widget posts to

/// The widget's "Request a call back" form.
#[derive(Deserialize)]
pub struct WidgetCallbackInput {
    pub inbox: i64,
    pub name: String,
    pub phone: String,
    pub email: Option<String>,
    pub window_start: String,
    pub window_end: String,
    pub date: String,
    pub time_zone: String,
    pub note: Option<String>,
    /// The chat visitor's token: not needed for a callback (the request stands alone).
    #[serde(rename = "token")]
    pub _token: Option<String>,
}

#[derive(Serialize)]
pub struct WidgetCallbackAnswer {
    pub reference: String,
    /// The window's start, UTC milliseconds.
    pub scheduled_for: i64,
    /// What we understood — number, window in the visitor's zone, reference — and how to
    /// reach a person.
    pub readback: String,
}

/// The `login_failures` key counting accepted callback requests for one number.
fn number_key(number: &PhoneNumber) -> String {
    format!("callback-number:{}", number.canonical)
}

/// Whether another callback request from this client (`client_key`) for this number is within
/// the hourly limits. The client's request is counted before it is checked, so parallel
/// requests cannot all slip under. A number counts only requests accepted for it
/// ([`callback_accepted`]): refused ones — over the client's limit, bad input — must not lock a
/// stranger's number out.
pub(crate) async fn callback_allowed(
    state: &AppState,
    client: &str,
    number: &PhoneNumber,
    at: Millis,
) -> Result<bool, rapport_store::StoreError> {
    state
        .store
        .record_login_failure(&[client.to_string()], at)
        .await?;
    let hour_ago = Millis(at.0 - 3_600_000);
    Ok(
        state.store.login_failures(client, hour_ago).await? <= CALLBACKS_PER_CLIENT
            && state
                .store
                .login_failures(&number_key(number), hour_ago)
                .await?
                < CALLBACKS_PER_NUMBER,
    )
}

/// Counts a callback request accepted for this number toward its hourly limit.
pub(crate) async fn callback_accepted(
    state: &AppState,
    number: &PhoneNumber,
    at: Millis,
) -> Result<(), rapport_store::StoreError> {
    state
        .store
        .record_login_failure(&[number_key(number)], at)
        .await
}

/// `POST /widget/callbacks` (and its CORS preflight): public, answered to any origin, since
/// the widget runs on customers' own sites. No cookies are read, so no origin can act as
/// anyone; the limits are per client address and per number.
pub fn widget_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/widget/callbacks",
            axum::routing::post(widget_callback)
                .options(preflight)
                .layer(DefaultBodyLimit::max(WIDGET_BODY_BYTES)),
        )
        .layer(axum::middleware::map_response(
            |response: Response| async move { crate::chat::with_cors(response) },
        ))
}

async fn preflight() -> impl IntoResponse {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_METHODS, "POST, OPTIONS"),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type"),
            (header::ACCESS_CONTROL_MAX_AGE, "86400"),
        ],
    )
}

async fn widget_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<(StatusCode, Json<WidgetCallbackAnswer>)> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!(
                    "the request is larger than {} KiB",
                    WIDGET_BODY_BYTES / 1024
                ),
            )
        } else {
            Problem::bad_request("the request could not be read")
        }
    })?;
    // Only a JSON body: a form or text/plain POST needs no preflight, so any page could send
    // one unseen; a JSON one can only come from a fetch the browser checked first.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the request as application/json",
        ));
    }
    let input: WidgetCallbackInput = parse_json(&bytes)?;
    let at = now();
    // The inbox's widget settings hold here as on `/widget/ws`: enabled, and embedded only by
    // the sites it allows.
    let inbox = state.store.inbox(input.inbox).await?;
    let widget = state.store.chat_widget(inbox.id, at).await?;
    if !widget.enabled {
        return Err(Problem::not_found(
            "this inbox takes no requests from the widget",
        ));
    }
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if !rapport_core::chat::origin_allowed(&widget.allowed_origins, origin) {
        return Err(Problem::forbidden(
            "this site may not send call-back requests to this inbox",
        ));
    }
    let number = PhoneNumber::parse("phone", &input.phone)?;
    let window = CallbackWindow::parse(
        &input.date,
        &input.window_start,
        &input.window_end,
        &input.time_zone,
        at,
    )?;
    let client = crate::ui::session::client_key(&state, "callback-client", peer, &headers);
    if !callback_allowed(&state, &client, &number, at).await? {
        return Err(Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-requests",
            "We already have several call-back requests from you. Please try again in an hour, \
             or call us.",
        ));
    }
    let lang = crate::ui::session::language(&headers);
    let requested = state
        .store
        .request_callback(
            Ctx {
                actor: Actor::SYSTEM,
                at,
            },
            NewCallbackRequest {
                inbox_id: input.inbox,
                requester: CallbackRequester::Visitor {
                    name: input.name,
                    email: input.email,
                },
                phone: number.typed.clone(),
                window,
                note: input.note.unwrap_or_default(),
                origin: Channel::Chat,
            },
        )
        .await?;
    callback_accepted(&state, &number, at).await?;
    let human = crate::ui::portal::human_contact(&inbox, lang);
    Ok((
        StatusCode::CREATED,
        Json(WidgetCallbackAnswer {
            reference: requested.ticket.reference,
            scheduled_for: requested.callback.window_start.0,
            readback: format!("{} {human}", requested.readback),
        }),
    ))
}
