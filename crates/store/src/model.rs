//! What the store hands out (records) and takes in (new values, filters, pages).

use rapport_core::contact::Tier;
use rapport_core::{
    Actor, Channel, MessageKind, Millis, Preferences, Priority, Role, TicketStatus,
};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Who is writing and when. Every write carries one, so imports and the demo can write history
/// with its real times and the event log always names the actor.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub actor: Actor,
    pub at: Millis,
}

/// A client's `Idempotency-Key` with a fingerprint of the request it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub agent_id: i64,
    pub key: String,
    pub fingerprint: String,
}

/// The result of a create: the record, and whether an earlier request with the same
/// idempotency key had already created it.
#[derive(Debug, Clone)]
pub struct Created<T> {
    pub value: T,
    pub replayed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerSummary {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ticket {
    pub id: i64,
    /// The reference customers quote, `R-10234`.
    pub reference: String,
    pub subject: String,
    pub status: TicketStatus,
    pub priority: Priority,
    pub channel: Channel,
    pub customer: CustomerSummary,
    pub inbox_id: i64,
    pub assignee_id: Option<i64>,
    pub team_id: Option<i64>,
    pub tags: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub custom_fields: BTreeMap<String, Value>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub solved_at: Option<Millis>,
    pub closed_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Customer {
    pub id: i64,
    pub name: String,
    /// The primary address first.
    pub emails: Vec<String>,
    pub organization_id: Option<i64>,
    pub phone: Option<String>,
    pub language: Option<String>,
    pub time_zone: Option<String>,
    pub preferences: Preferences,
    pub notes: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Organization {
    pub id: i64,
    pub name: String,
    pub tier: Tier,
    pub contract_value_cents: i64,
    pub domains: Vec<String>,
    pub notes: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Agent {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub team_ids: Vec<i64>,
    pub created_at: Millis,
}

/// Who an API token speaks for: just what access checks need, in one indexed lookup per
/// request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub agent_id: i64,
    pub role: Role,
}

/// An agent with the secret needed to check a login. Never serialised.
#[derive(Debug, Clone)]
pub struct AgentLogin {
    pub agent: Agent,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub member_ids: Vec<i64>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Inbox {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub team_id: Option<i64>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    pub id: i64,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: i64,
    pub ticket_id: i64,
    pub kind: MessageKind,
    /// Whether the customer sees it (false for internal notes).
    pub public: bool,
    pub channel: Channel,
    pub author: Actor,
    pub body: String,
    pub attachments: Vec<Attachment>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub id: i64,
    pub ticket_id: Option<i64>,
    /// `ticket.created`, `ticket.changed`, `message.added`, …
    pub kind: String,
    pub actor: Actor,
    pub subject_type: String,
    pub subject_id: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: Value,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TagCount {
    pub tag: String,
    pub tickets: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchHit {
    pub ticket: Ticket,
    /// Where the words matched, with matches between `[` and `]`.
    pub snippet: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiTokenInfo {
    pub id: i64,
    pub agent_id: i64,
    pub name: String,
    pub created_at: Millis,
}

/// The person a new ticket is from: found by email, created if new.
#[derive(Debug, Clone)]
pub struct Requester {
    pub email: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewTicket {
    pub subject: String,
    pub requester: Requester,
    pub body: String,
    pub channel: Channel,
    pub priority: Priority,
    /// Starting status; `new` unless an import or the demo knows better.
    pub status: TicketStatus,
    pub tags: Vec<String>,
    /// Inbox name; the first inbox when absent.
    pub inbox: Option<String>,
    pub assignee_id: Option<i64>,
    pub team_id: Option<i64>,
    pub custom_fields: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub kind: MessageKind,
    pub channel: Channel,
    pub body: String,
}

#[derive(Debug, Clone, Default)]
pub struct NewCustomer {
    pub name: String,
    pub emails: Vec<String>,
    pub organization_id: Option<i64>,
    pub phone: Option<String>,
    pub language: Option<String>,
    pub time_zone: Option<String>,
    pub preferences: Preferences,
    pub notes: String,
}

/// A customer edit; `None` leaves a field alone, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct CustomerPatch {
    pub name: Option<String>,
    /// Replaces all addresses; the first becomes primary.
    pub emails: Option<Vec<String>>,
    pub organization_id: Option<Option<i64>>,
    pub phone: Option<Option<String>>,
    pub language: Option<Option<String>>,
    pub time_zone: Option<Option<String>>,
    pub preferences: Option<Preferences>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NewOrganization {
    pub name: String,
    pub tier: Tier,
    pub contract_value_cents: i64,
    pub domains: Vec<String>,
    pub notes: String,
}

#[derive(Debug, Clone)]
pub struct NewAgent {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssigneeFilter {
    Unassigned,
    Agent(i64),
}

#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    /// Any of these statuses; all when empty.
    pub statuses: Vec<TicketStatus>,
    pub assignee: Option<AssigneeFilter>,
    pub team_id: Option<i64>,
    pub tag: Option<String>,
    pub customer_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub updated_since: Option<Millis>,
}

#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    pub organization_id: Option<i64>,
    pub email: Option<String>,
}

/// Where a list continues: the sort key of the last item seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The sort time for lists ordered by time (tickets), else 0.
    pub at: i64,
    pub id: i64,
}

/// One page of a list: `next` is set when more items follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub after: Option<Cursor>,
    pub limit: u32,
}

impl PageRequest {
    pub const MAX_LIMIT: u32 = 200;

    pub fn first(limit: u32) -> Self {
        Self { after: None, limit }
    }

    /// The limit the store uses: 1 to `MAX_LIMIT`.
    pub fn clamped_limit(&self) -> i64 {
        i64::from(self.limit.clamp(1, Self::MAX_LIMIT))
    }
}
