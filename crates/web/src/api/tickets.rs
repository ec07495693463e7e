use super::ListOf;
use crate::auth::Caller;
use crate::extract::{IdempotencyKey, JsonBody, Params, page_request, ticket_id};
use crate::problem::responses as problems;
use crate::problem::{ApiResult, Problem};
use crate::{AppState, now};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use rapport_core::contact::Tier;
use rapport_core::update::TicketPatch;
use rapport_core::{Channel, Invalid, MessageKind, Millis, Permission, Priority, TicketStatus};
use rapport_store::{
    AssigneeFilter, Created, Ctx, Event, Message, NewMessage, NewTicket, Requester, Ticket,
    TicketFilter,
};
use serde::{Deserialize, Deserializer};
use utoipa::{IntoParams, ToSchema};

/// Absent stays `None`; `null` becomes `Some(None)`: lets PATCH tell "leave" from "clear".
pub(crate) fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    /// Found by this address, or created when new.
    pub email: String,
    pub name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FirstMessage {
    pub body: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    pub subject: String,
    pub customer: CustomerInput,
    /// The customer's request, as the first message.
    pub message: FirstMessage,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Inbox name; the first inbox when absent.
    pub inbox: Option<String>,
    pub assignee_id: Option<i64>,
    pub team_id: Option<i64>,
    /// The channel the request came by (default `api`).
    pub channel: Option<Channel>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

/// Creates a ticket from a customer's request. The customer is found by email or created.
#[utoipa::path(post, path = "/tickets", tag = "tickets", request_body = CreateTicket,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key; a repeat returns the first ticket")),
    responses((status = 201, body = Ticket), problems::Auth, problems::Body, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn create_ticket(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    body: JsonBody<CreateTicket>,
) -> ApiResult<(StatusCode, HeaderMap, Json<Ticket>)> {
    caller.require(Permission::CreateTickets, "create tickets")?;
    let idem = key.for_request(caller.0.agent_id, "POST /tickets", &body.fingerprint);
    let req = body.value;
    if req.assignee_id.is_some() || req.team_id.is_some() {
        caller.require(Permission::UpdateTickets, "assign tickets")?;
    }
    let new = NewTicket {
        subject: req.subject,
        requester: Requester {
            customer_id: None,
            email: req.customer.email,
            name: req.customer.name,
        },
        body: req.message.body,
        channel: req.channel.unwrap_or(Channel::Api),
        priority: req.priority,
        status: TicketStatus::New,
        tags: req.tags,
        inbox: req.inbox,
        assignee_id: req.assignee_id,
        team_id: req.team_id,
        custom_fields: req.custom_fields,
    };
    let created = state.store.create_ticket(ctx(&caller), new, idem).await?;
    Ok(created_response(created))
}

pub(crate) fn ctx(caller: &Caller) -> Ctx {
    Ctx {
        actor: caller.actor(),
        at: now(),
    }
}

/// 201 with the record; a replayed idempotent request says so in a header.
pub(crate) fn created_response<T>(created: Created<T>) -> (StatusCode, HeaderMap, Json<T>) {
    let mut headers = HeaderMap::new();
    if created.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    (StatusCode::CREATED, headers, Json(created.value))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// Comma-separated statuses, e.g. `open,pending`.
    pub status: Option<String>,
    /// An agent id, `me`, or `none` for unassigned.
    pub assignee: Option<String>,
    pub team: Option<i64>,
    pub tag: Option<String>,
    /// Comma-separated priorities, e.g. `high,urgent`.
    pub priority: Option<String>,
    /// Tickets of customers whose organisation has this tier.
    pub tier: Option<String>,
    /// A custom field and its value, `key:value` (numbers and `true`/`false` as such).
    pub field: Option<String>,
    pub customer: Option<i64>,
    pub organization: Option<i64>,
    /// RFC 3339 time or date; tickets updated at or after it.
    pub updated_since: Option<String>,
    /// `true`: only tickets at risk of a silent no (unsolved, never answered publicly, older
    /// than the silent-no setting's hours).
    pub at_risk: Option<bool>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// A comma-separated list of names, each parsed.
fn name_list<T, E>(list: Option<&str>, parse: impl Fn(&str) -> Result<T, E>) -> Result<Vec<T>, E> {
    list.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse)
        .collect()
}

impl TicketQuery {
    /// The store's filter; `me` is `agent_id`.
    pub fn filter(&self, agent_id: i64) -> Result<TicketFilter, Problem> {
        let statuses = name_list(self.status.as_deref(), TicketStatus::parse)?;
        let priorities = name_list(self.priority.as_deref(), Priority::parse)?;
        let tier = self.tier.as_deref().map(Tier::parse).transpose()?;
        let field = match self.field.as_deref() {
            None => None,
            Some(pair) => {
                let (key, value) = pair
                    .split_once(':')
                    .ok_or_else(|| Invalid::new("field", format!("'{pair}' is not key:value")))?;
                // Stored values are JSON: a number or checkbox as such, anything else as text.
                let value = serde_json::from_str::<serde_json::Value>(value)
                    .ok()
                    .filter(|v| v.is_number() || v.is_boolean())
                    .unwrap_or_else(|| serde_json::Value::String(value.to_string()));
                Some((key.trim().to_string(), value))
            }
        };
        let assignee = match self.assignee.as_deref() {
            None => None,
            Some("me") => Some(AssigneeFilter::Agent(agent_id)),
            Some("none") => Some(AssigneeFilter::Unassigned),
            Some(id) => Some(AssigneeFilter::Agent(id.parse().map_err(|_| {
                Invalid::new(
                    "assignee",
                    format!("'{id}' is not an agent id, 'me' or 'none'"),
                )
            })?)),
        };
        let updated_since = self
            .updated_since
            .as_deref()
            .map(|t| {
                Millis::parse(t).ok_or_else(|| {
                    Invalid::new(
                        "updated_since",
                        format!("'{t}' is not an RFC 3339 time or date"),
                    )
                })
            })
            .transpose()?;
        let tag = self
            .tag
            .as_deref()
            .map(rapport_core::tags::normalize_tag)
            .transpose()?;
        Ok(TicketFilter {
            statuses,
            assignee,
            team_id: self.team,
            tag,
            priorities,
            tier,
            field,
            customer_id: self.customer,
            organization_id: self.organization,
            updated_since,
            mentioned: None,
            alerted: None,
            unanswered_before: None,
            ticket_ids: None,
            oldest_first: false,
        })
    }
}

/// Tickets, most recently updated first, with filters.
#[utoipa::path(get, path = "/tickets", tag = "tickets", params(TicketQuery),
    responses((status = 200, body = ListOf<Ticket>), problems::Auth, problems::Query),
    security(("bearer" = [])))]
pub async fn list_tickets(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<TicketQuery>,
) -> ApiResult<Json<ListOf<Ticket>>> {
    caller.require(Permission::ReadTickets, "read tickets")?;
    let mut filter = q.filter(caller.0.agent_id)?;
    if q.at_risk == Some(true) {
        let hours = state.store.silent_no_hours().await?;
        filter.unanswered_before = Some(now().plus_minutes(-i64::from(hours) * 60));
    }
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    Ok(Json(ListOf::from_page(
        state.store.list_tickets(&filter, page).await?,
    )))
}

/// One ticket, by number (`10234`) or reference (`R-10234`).
#[utoipa::path(get, path = "/tickets/{id}", tag = "tickets",
    params(("id" = String, Path, description = "Ticket number or reference")),
    responses((status = 200, body = Ticket), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn get_ticket(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Ticket>> {
    caller.require(Permission::ReadTickets, "read tickets")?;
    Ok(Json(state.store.ticket(ticket_id(&id)?).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicket {
    pub subject: Option<String>,
    pub status: Option<TicketStatus>,
    pub priority: Option<Priority>,
    /// An agent id, or `null` to unassign.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub assignee_id: Option<Option<i64>>,
    /// A team id, or `null` to clear.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub team_id: Option<Option<i64>>,
    /// Replaces the tag list.
    pub tags: Option<Vec<String>>,
    /// Sets the named fields; `null` clears one.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// Why the ticket changes hands: required when the owner or team changes away from
    /// someone (a transfer, counted against the one-touch rate).
    pub transfer_reason: Option<String>,
}

/// Changes a ticket. Each changed field is recorded in its history with before and after.
#[utoipa::path(patch, path = "/tickets/{id}", tag = "tickets", request_body = UpdateTicket,
    params(("id" = String, Path, description = "Ticket number or reference")),
    responses((status = 200, body = Ticket), problems::Auth, problems::Body, problems::NotFound),
    security(("bearer" = [])))]
pub async fn update_ticket(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody<UpdateTicket>,
) -> ApiResult<Json<Ticket>> {
    caller.require(Permission::UpdateTickets, "change tickets")?;
    let id = ticket_id(&id)?;
    let u = body.value;
    let patch = TicketPatch {
        subject: u.subject,
        status: u.status,
        priority: u.priority,
        assignee_id: u.assignee_id,
        team_id: u.team_id,
        tags: u.tags,
        custom_fields: u.custom_fields,
        transfer_reason: u.transfer_reason,
    };
    Ok(Json(
        state.store.update_ticket(ctx(&caller), id, patch).await?,
    ))
}

fn default_public() -> bool {
    true
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMessage {
    pub body: String,
    /// `true` (default): a reply the customer sees; `false`: an internal note.
    #[serde(default = "default_public")]
    pub public: bool,
}

/// Adds a public reply or an internal note.
#[utoipa::path(post, path = "/tickets/{id}/messages", tag = "tickets", request_body = AddMessage,
    params(("id" = String, Path, description = "Ticket number or reference"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key")),
    responses((status = 201, body = Message), problems::Auth, problems::Body, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn add_message(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    Path(id): Path<String>,
    body: JsonBody<AddMessage>,
) -> ApiResult<(StatusCode, HeaderMap, Json<Message>)> {
    let id = ticket_id(&id)?;
    let kind = if body.value.public {
        caller.require(Permission::PublicReply, "reply to customers")?;
        MessageKind::Reply
    } else {
        caller.require(Permission::InternalNote, "add internal notes")?;
        MessageKind::Note
    };
    let idem = key.for_request(
        caller.0.agent_id,
        &format!("POST /tickets/{id}/messages"),
        &body.fingerprint,
    );
    let new = NewMessage {
        send_email: body.value.public,
        attachments: Vec::new(),
        kind,
        channel: Channel::Api,
        body: body.value.body,
    };
    Ok(created_response(
        state.store.add_message(ctx(&caller), id, new, idem).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// The conversation, oldest first: customer messages, replies and internal notes.
#[utoipa::path(get, path = "/tickets/{id}/messages", tag = "tickets",
    params(("id" = String, Path, description = "Ticket number or reference"), PageQuery),
    responses((status = 200, body = ListOf<Message>), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<ListOf<Message>>> {
    caller.require(Permission::ReadTickets, "read tickets")?;
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    Ok(Json(ListOf::from_page(
        state.store.list_messages(ticket_id(&id)?, page).await?,
    )))
}

/// The ticket's history, oldest first: every change with who made it, before and after.
#[utoipa::path(get, path = "/tickets/{id}/events", tag = "tickets",
    params(("id" = String, Path, description = "Ticket number or reference"), PageQuery),
    responses((status = 200, body = ListOf<Event>), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<PageQuery>,
) -> ApiResult<Json<ListOf<Event>>> {
    caller.require(Permission::ReadTickets, "read tickets")?;
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    Ok(Json(ListOf::from_page(
        state.store.list_events(ticket_id(&id)?, page).await?,
    )))
}
