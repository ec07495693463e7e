//! What the store hands out (records) and takes in (new values, filters, pages).

use rapport_core::calendar::CalendarConfig;
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
    /// Sees all of the organisation's tickets in the portal.
    pub org_admin: bool,
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
    /// How new tickets get an owner, continuity, re-offering, internal requests' due time.
    pub routing: rapport_core::routing::TeamRouting,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Inbox {
    pub id: i64,
    pub name: String,
    /// The address mail is sent from; always one of `addresses`.
    pub address: String,
    /// Every address mail is received at.
    pub addresses: Vec<String>,
    pub team_id: Option<i64>,
    /// The display name outbound mail is sent under ("Northwind Support").
    pub from_name: String,
    pub signature: String,
    /// The language of automatic messages when the customer's is unknown (`en`, `de`).
    pub language: String,
    /// How to reach a person (phone number and hours), shown in every automatic message.
    pub human_contact: String,
    /// Opening hours the expected first answer is computed on.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub business_hours: CalendarConfig,
    /// The first-answer target in business minutes.
    pub first_response_minutes: i64,
    /// Whether new requests get a read-back acknowledgement.
    pub acknowledge: bool,
    pub created_at: Millis,
}

/// An inbox edit; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct InboxPatch {
    pub name: Option<String>,
    pub address: Option<String>,
    /// Replaces all receiving addresses (the sending address is always kept among them).
    pub addresses: Option<Vec<String>>,
    pub team_id: Option<Option<i64>>,
    pub from_name: Option<String>,
    pub signature: Option<String>,
    pub language: Option<String>,
    pub human_contact: Option<String>,
    pub business_hours: Option<CalendarConfig>,
    pub first_response_minutes: Option<i64>,
    pub acknowledge: Option<bool>,
}

impl InboxPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        let Self {
            name,
            address,
            addresses,
            team_id,
            from_name,
            signature,
            language,
            human_contact,
            business_hours,
            first_response_minutes,
            acknowledge,
        } = self;
        name.is_none()
            && address.is_none()
            && addresses.is_none()
            && team_id.is_none()
            && from_name.is_none()
            && signature.is_none()
            && language.is_none()
            && human_contact.is_none()
            && business_hours.is_none()
            && first_response_minutes.is_none()
            && acknowledge.is_none()
    }
}

/// An editable text of an inbox (`kind` `ack`), per language.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InboxTemplate {
    pub inbox_id: i64,
    pub kind: String,
    pub language: String,
    pub subject: String,
    pub body: String,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    pub id: i64,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    /// Content-ID an inline image is referenced by from the HTML (`cid:`).
    pub content_id: Option<String>,
    pub inline: bool,
    /// Why the bytes were not kept (too large, …); the raw email still holds them.
    pub withheld: Option<String>,
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
    /// The new text (for email: without quoted history and signature).
    pub body: String,
    /// Sanitised HTML as the sender wrote it, when there was HTML.
    pub html: Option<String>,
    /// Quoted history and signature cut from an email's text.
    pub quoted: String,
    pub attachments: Vec<Attachment>,
    /// The received email this message came from (its raw bytes are kept).
    pub email_id: Option<i64>,
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

/// Who is searching, and so what they may find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchScope {
    /// Staff: every ticket, internal notes included.
    Staff,
    /// A customer in the portal: their own tickets (an organisation's admin: the
    /// organisation's too), never internal notes.
    Customer {
        customer_id: i64,
        organization_id: Option<i64>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiTokenInfo {
    pub id: i64,
    pub agent_id: i64,
    pub name: String,
    pub created_at: Millis,
}

/// The person a new ticket is from: a known customer by id (who may have no address — a caller,
/// a chat visitor), or else found by email and created if new.
#[derive(Debug, Clone)]
pub struct Requester {
    /// A known customer; `email` must then be empty and `name` is not used.
    pub customer_id: Option<i64>,
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
    /// For a public reply: also email it to the customer (queued in the same transaction).
    pub send_email: bool,
    /// Files uploaded with it (the portal's).
    pub attachments: Vec<NewAttachment>,
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
    pub org_admin: Option<bool>,
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
    /// Any of these priorities; all when empty.
    pub priorities: Vec<Priority>,
    /// Tickets of customers whose organisation has this tier.
    pub tier: Option<Tier>,
    /// A custom field (key) with this value.
    pub field: Option<(String, Value)>,
    pub customer_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub updated_since: Option<Millis>,
    /// Tickets whose internal notes mention this agent (the latest 1,000 mentions).
    pub mentioned: Option<i64>,
    /// Tickets with SLA or commitment alerts for this agent (their latest 1,000).
    pub alerted: Option<i64>,
    /// Unsolved tickets created before this time that never had a public reply: at risk of a
    /// silent no.
    pub unanswered_before: Option<Millis>,
    /// Only these tickets (the store fills it from `mentioned`).
    pub ticket_ids: Option<Vec<i64>>,
    /// List the longest-waiting first (oldest update) instead of the newest.
    pub oldest_first: bool,
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

// ---------------------------------------------------------------------------------------------
// Email

/// A received email, parsed and threaded-by keys computed, ready to be stored in one
/// transaction with everything it causes.
#[derive(Debug, Clone)]
pub struct InboundEmail {
    /// `smtp`, `imap` or `pipe`.
    pub source: String,
    pub inbox_id: i64,
    pub envelope_from: Option<String>,
    pub recipients: Vec<String>,
    pub raw: Vec<u8>,
    /// The Message-ID, else a hash of the bytes: the same message is stored once, whichever
    /// of our addresses it reached.
    pub dedupe_key: String,
    /// A hash of the message body: a different message reusing a Message-ID is still stored.
    pub body_hash: String,
    pub message_id: Option<String>,
    /// The sender; `None` when no address could be read from the message or the envelope.
    pub from: Option<Requester>,
    pub subject: String,
    /// What the sender wrote this time.
    pub body: String,
    pub quoted: String,
    pub html: Option<String>,
    pub attachments: Vec<NewAttachment>,
    pub thread: ThreadHints,
    /// Why this was sent by a machine, when it was; such mail is never answered automatically.
    pub automatic: Option<String>,
    pub bounce: Option<BounceReport>,
    /// The text reads as a correction of our read-back.
    pub correction: bool,
    /// What was malformed in the message.
    pub problems: Vec<String>,
}

/// The keys an email is threaded by, most trusted first.
#[derive(Debug, Clone, Default)]
pub struct ThreadHints {
    /// From a signed reply address.
    pub token_ticket: Option<i64>,
    /// In-Reply-To and References, most recent first.
    pub referenced_ids: Vec<String>,
    /// From `[R-10234]` in the subject; trusted only when the sender is the ticket's customer.
    pub subject_ticket: Option<i64>,
    /// Matched with the sender against recent open tickets, only for replies.
    pub subject_key: String,
    /// The subject carried a reply prefix (`Re:`, `AW:`).
    pub looks_like_reply: bool,
}

#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub filename: String,
    pub content_type: String,
    pub content_id: Option<String>,
    pub inline: bool,
    pub size_bytes: i64,
    /// `None` when the bytes are withheld; `withheld` says why.
    pub data: Option<Vec<u8>>,
    pub withheld: Option<String>,
}

/// A delivery-status notification about mail we sent.
#[derive(Debug, Clone)]
pub struct BounceReport {
    pub original_message_id: Option<String>,
    /// Addresses whose delivery failed for good.
    pub failed: Vec<String>,
    /// A readable account for the ticket (recipients, status codes, diagnostics).
    pub summary: String,
}

/// What storing a received email did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// A new ticket; `acknowledged` when a read-back is queued.
    Created { ticket_id: i64, acknowledged: bool },
    /// Added to an existing ticket.
    Appended { ticket_id: i64, reopened: bool },
    /// The ticket it answers was closed: a follow-up was opened and linked to it.
    FollowUp {
        ticket_id: i64,
        closed_ticket_id: i64,
    },
    /// A bounce, noted on the ticket whose mail bounced when it is known.
    Bounce { ticket_id: Option<i64> },
    /// Stored before; nothing changed.
    Duplicate { ticket_id: Option<i64> },
    /// Kept as received but not filed on a ticket: it could not be (see
    /// `Store::quarantine_email`), or it was automatic mail to a closed ticket.
    Unfiled { email_id: i64 },
}

impl Ingested {
    pub fn ticket_id(&self) -> Option<i64> {
        match *self {
            Self::Created { ticket_id, .. }
            | Self::Appended { ticket_id, .. }
            | Self::FollowUp { ticket_id, .. } => Some(ticket_id),
            Self::Bounce { ticket_id } | Self::Duplicate { ticket_id } => ticket_id,
            Self::Unfiled { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    /// A read-back acknowledgement of a new request.
    Ack,
    /// An agent's public reply.
    Reply,
    /// A portal sign-in link; composed when queued (it belongs to no ticket).
    PortalLink,
    /// An alert to an agent about a ticket (SLA warning or breach, commitment reminder or
    /// lapse); not part of the customer's thread.
    Alert,
    /// A chat conversation's public messages, asked for by the visitor; its text is written
    /// when queued.
    Transcript,
}

impl OutboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ack => "ack",
            Self::Reply => "reply",
            Self::PortalLink => "portal_link",
            Self::Alert => "alert",
            Self::Transcript => "transcript",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Ack,
            Self::Reply,
            Self::PortalLink,
            Self::Alert,
            Self::Transcript,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// An outbound email claimed for delivery, with what is needed to compose it.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    pub kind: OutboxKind,
    pub attempts: i64,
    /// The composed bytes, once composed; every retry sends these.
    pub raw: Option<Vec<u8>>,
    pub recipient: String,
    pub email_message_id: String,
    pub created_at: Millis,
    /// `None` for mail that belongs to no ticket (kind `portal_link`, composed when queued).
    pub ticket: Option<Ticket>,
    pub inbox: Inbox,
    pub customer_language: Option<String>,
    pub customer_time_zone: Option<String>,
    /// The reply's text (kind `reply`), the request's first message (kind `ack`), or the
    /// alert's text (kind `alert`).
    pub body: String,
    /// Message-IDs of the ticket's thread, oldest first, without this one.
    pub thread_ids: Vec<String>,
    /// The inbox's template for this kind in the customer's language, when one is set.
    pub template: Option<InboxTemplate>,
    /// When the ticket's SLA says the first answer is due (the read-back promises it).
    pub first_response_due: Option<Millis>,
    /// The ticket's open commitments when the mail is composed (a reply repeats them).
    pub commitments: Vec<Commitment>,
}

/// A received email that is on no ticket: it could not be filed, or needed no ticket
/// (automatic mail to a closed one). Its raw bytes are kept for an admin to read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnfiledEmail {
    pub id: i64,
    pub inbox_id: i64,
    /// `smtp`, `imap` or `pipe`.
    pub source: String,
    pub envelope_from: Option<String>,
    pub message_id: Option<String>,
    /// `quarantined` (could not be filed) or `unfiled` (needed no ticket).
    pub outcome: String,
    /// What was wrong with the message, and why it was not filed.
    pub problems: Vec<String>,
    pub size_bytes: i64,
    pub received_at: Millis,
}

/// How one delivery attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxResult {
    Sent,
    /// A temporary failure: try again at `at`.
    Retry {
        error: String,
        at: Millis,
    },
    /// A permanent failure (the relay refused the recipient); not retried.
    Failed {
        error: String,
    },
}

/// An outbound email as listed for a ticket.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboundEmail {
    pub id: i64,
    /// `ack` or `reply`.
    pub kind: String,
    pub recipient: String,
    pub email_message_id: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub sent_at: Option<Millis>,
}

// ---------------------------------------------------------------------------------------------
// Workspace and portal

/// A new web session: the SHA-256 of its random id, and when it ends.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id_hash: String,
    pub expires_at: Millis,
}

/// An email composed outside the store (it belongs to no ticket), queued as it is.
#[derive(Debug, Clone)]
pub struct ComposedMail {
    pub inbox_id: i64,
    pub recipient: String,
    pub email_message_id: String,
    pub raw: Vec<u8>,
}

/// A single-use portal sign-in link (its token's SHA-256) and the email that carries it
/// (`None` when an admin hands the link over themselves).
#[derive(Debug, Clone)]
pub struct NewPortalLink {
    pub customer_id: i64,
    pub token_hash: String,
    pub expires_at: Millis,
    pub mail: Option<ComposedMail>,
}

/// A canned reply: text with placeholders, and the ticket changes it makes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Macro {
    pub id: i64,
    pub name: String,
    pub body: String,
    pub actions: rapport_core::macros::MacroActions,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A view an agent saved: a name and the filter's query string (`status=open&tag=vip`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SavedView {
    pub id: i64,
    /// `None` for a view shared with every agent.
    pub agent_id: Option<i64>,
    pub name: String,
    pub query: String,
    pub created_at: Millis,
}

/// Another ticket linked to this one, and how.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketLink {
    /// `related`, `follow_up`, `merged_into`, `merged_from`, `split_from` or `split_into`,
    /// read from this ticket's side.
    pub kind: String,
    pub ticket_id: i64,
    pub reference: String,
    pub subject: String,
    pub status: TicketStatus,
}

/// A macro as written by an admin.
#[derive(Debug, Clone, Default)]
pub struct NewMacro {
    pub name: String,
    pub body: String,
    pub actions: rapport_core::macros::MacroActions,
}

/// A view to save: `agent_id` None shares it with every agent.
#[derive(Debug, Clone)]
pub struct NewView {
    pub agent_id: Option<i64>,
    pub name: String,
    pub query: String,
}

/// A named business-hours calendar SLA policies count on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Calendar {
    pub id: i64,
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: CalendarConfig,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// An SLA policy: when it applies, its targets and escalations, and the calendar they count on
/// (none: the ticket's inbox hours).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaPolicy {
    pub id: i64,
    pub name: String,
    /// Policies are tried in this order; the first whose conditions match applies.
    pub position: i64,
    pub conditions: rapport_core::sla::Conditions,
    pub rules: rapport_core::sla::Rules,
    pub calendar_id: Option<i64>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewSlaPolicy {
    pub name: String,
    pub position: i64,
    pub conditions: rapport_core::sla::Conditions,
    pub rules: rapport_core::sla::Rules,
    pub calendar_id: Option<i64>,
}

/// One target of a ticket's SLA as agents and customers see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaTargetState {
    pub target: rapport_core::sla::Target,
    pub minutes: i64,
    pub basis: rapport_core::sla::Basis,
    /// `running`, `paused`, `met`, `stopped` (the ticket was solved first) or `idle` (no cycle
    /// under way).
    pub state: String,
    pub due_at: Option<Millis>,
    /// Business or calendar time left when paused, in minutes (negative: overdue).
    pub remaining_minutes: Option<i64>,
    pub met_at: Option<Millis>,
    pub breached_at: Option<Millis>,
}

/// A ticket's SLA: the policy chosen and each target it sets.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketSla {
    pub ticket_id: i64,
    /// `None`: no policy matched and the inbox's first-answer target applies.
    pub policy_id: Option<i64>,
    pub policy_name: Option<String>,
    pub paused: bool,
    pub targets: Vec<SlaTargetState>,
    /// The most pressing running target and when it is due (in the past: overdue).
    pub due_target: Option<rapport_core::sla::Target>,
    pub due_at: Option<Millis>,
    /// Targets missed on this ticket so far.
    pub breaches: i64,
}

/// The most pressing SLA due time of a ticket, for badges in lists.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SlaBadge {
    pub ticket_id: i64,
    pub target: rapport_core::sla::Target,
    pub due_at: Millis,
}

/// What an agent promised on a ticket, by when, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Commitment {
    pub id: i64,
    pub ticket_id: i64,
    pub kind: rapport_core::commitment::CommitmentKind,
    pub description: String,
    pub due_at: Millis,
    pub remind_at: Millis,
    pub status: rapport_core::commitment::CommitmentStatus,
    pub owner_id: Option<i64>,
    pub team_id: Option<i64>,
    pub created_by: Option<i64>,
    pub created_at: Millis,
    /// When it was kept, broken or cancelled.
    pub resolved_at: Option<Millis>,
    pub reminded_at: Option<Millis>,
    /// Why it was cancelled.
    pub note: String,
}

/// When a new commitment is due: a time, or a quick choice resolved in the customer's time
/// zone on the ticket's calendar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Due {
    At(Millis),
    Quick(rapport_core::commitment::QuickDue),
}

#[derive(Debug, Clone)]
pub struct NewCommitment {
    pub kind: rapport_core::commitment::CommitmentKind,
    pub description: String,
    pub due: Due,
}

/// Kept commitments among those that came due, for one agent, team, or everyone.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeptRate {
    /// `agent`, `team` or `overall`.
    pub scope: String,
    pub id: Option<i64>,
    pub name: String,
    pub kept: i64,
    pub broken: i64,
    /// Still open (not counted in the rate).
    pub open: i64,
    /// kept / (kept + broken); `None` until one came due.
    pub rate: Option<f64>,
}

/// Tickets whose customer had to ask for status, per team.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChaseRate {
    pub team_id: Option<i64>,
    pub name: String,
    /// Tickets created in the period.
    pub tickets: i64,
    /// Of those, tickets with at least one chase.
    pub chased: i64,
    pub chases: i64,
    pub rate: Option<f64>,
}

/// What one scheduler pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SchedulerPass {
    /// Internal requests escalated for being overdue.
    pub overdue_requests: u32,
    pub warnings: u32,
    pub breaches: u32,
    pub reminders: u32,
    pub broken: u32,
    /// Tickets whose due times were recomputed after a calendar or policy change.
    pub recomputed: u32,
}

impl SchedulerPass {
    pub fn is_idle(&self) -> bool {
        *self == Self::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Routing, one touch, internal requests, honest answers, tone (principles 4, 5, 10)

/// An agent as routing sees them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentRouting {
    pub agent_id: i64,
    pub availability: rapport_core::routing::Availability,
    pub availability_since: Millis,
    /// Most open tickets (new, open) routing gives them.
    pub capacity: u32,
    /// Working hours; none: always on shift.
    pub calendar_id: Option<i64>,
    pub skills: Vec<String>,
    /// Open tickets (new, open) they own now.
    pub load: u32,
    /// Inside their working hours now.
    pub on_shift: bool,
    /// When routing last gave them a ticket (round robin's order).
    pub last_assigned_at: Millis,
}

/// A change to an agent's routing profile; `None` keeps a value.
#[derive(Debug, Clone, Default)]
pub struct AgentRoutingPatch {
    pub capacity: Option<u32>,
    pub calendar_id: Option<Option<i64>>,
    pub skills: Option<Vec<String>>,
}

/// A ticket changing hands: owner or team, from someone to someone else (or the queue).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transfer {
    pub id: i64,
    pub ticket_id: i64,
    pub from_agent_id: Option<i64>,
    pub to_agent_id: Option<i64>,
    pub from_team_id: Option<i64>,
    pub to_team_id: Option<i64>,
    pub reason: String,
    /// Who moved it; `None` when routing or an escalation did.
    pub by_agent_id: Option<i64>,
    pub created_at: Millis,
}

/// The owner (or a staff member) asking another team for something specific, by a due time.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InternalRequest {
    pub id: i64,
    /// The customer's ticket it helps with; `None` when staff ask as internal customers.
    pub ticket_id: Option<i64>,
    /// The ticket's subject, for lists.
    pub ticket_subject: Option<String>,
    pub requester_id: i64,
    pub team_id: i64,
    /// The team member working it, once someone took it.
    pub assignee_id: Option<i64>,
    pub body: String,
    pub status: rapport_core::routing::InternalStatus,
    pub due_at: Millis,
    /// When it was escalated to the team's lead for being overdue.
    pub escalated_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Done or cancelled.
    pub closed_at: Option<Millis>,
    /// Oldest first; empty in lists.
    pub replies: Vec<InternalReply>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InternalReply {
    pub id: i64,
    pub author_id: i64,
    pub body: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewInternalRequest {
    pub ticket_id: Option<i64>,
    pub team_id: i64,
    pub body: String,
    /// Else the team's `internal_due_minutes` from now.
    pub due_at: Option<Millis>,
}

/// Which internal requests to list (newest first, at most 200).
#[derive(Debug, Clone, Default)]
pub struct InternalRequestFilter {
    /// Asked of any of these teams.
    pub team_ids: Vec<i64>,
    pub requester_id: Option<i64>,
    pub ticket_id: Option<i64>,
    /// Only open ones.
    pub open_only: bool,
}

/// The tone of one customer message (see `rapport_core::tone`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageTone {
    pub message_id: i64,
    pub score: u32,
    pub irate: bool,
    pub reasons: Vec<rapport_core::tone::Reason>,
    pub created_at: Millis,
}

/// An honest no: who we referred the customer to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralRecord {
    pub ticket_id: i64,
    pub message_id: i64,
    pub referred_to: String,
    pub how_to_reach: String,
    pub agent_id: Option<i64>,
    /// From the ticket's creation to the reply that told the customer.
    pub answered_after_ms: i64,
    pub created_at: Millis,
}

/// Ownership and honesty over a period (tickets solved / requests closed since then).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoutingMetrics {
    /// Tickets solved in the period.
    pub resolved: i64,
    /// Of those, tickets that never changed hands.
    pub one_touch: i64,
    pub one_touch_rate: Option<f64>,
    /// Transfers per solved ticket.
    pub transfers_per_ticket: Option<f64>,
    /// Honest noes given in the period.
    pub referred: i64,
    /// Median time from a ticket's creation to its honest no, in minutes.
    pub median_minutes_to_honest_answer: Option<i64>,
    /// Per team asked: internal requests and the time spent waiting on them.
    pub internal: Vec<InternalWait>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InternalWait {
    pub team_id: i64,
    pub name: String,
    /// Asked in the period.
    pub asked: i64,
    /// Still open now (of those asked in the period).
    pub open: i64,
    /// Escalated for being overdue.
    pub overdue: i64,
    /// Minutes waited on this team: closed requests until closed, open ones until now.
    pub waited_minutes: i64,
    /// Median minutes from asking to done, over those done.
    pub median_minutes_to_done: Option<i64>,
}

/// What one routing pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RoutingPass {
    /// Queued tickets given an owner.
    pub routed: u32,
    /// Tickets taken back from owners away too long.
    pub reoffered: u32,
}

/// A historical ticket for [`crate::Store::import_tickets`]: written as it was, with its own
/// times, status and conversation.
#[derive(Debug, Clone)]
pub struct ImportTicket {
    pub subject: String,
    /// Found by email (created if new), as for a new ticket.
    pub requester: Requester,
    pub status: TicketStatus,
    pub priority: Priority,
    pub channel: Channel,
    /// Inbox name; the first inbox when absent.
    pub inbox: Option<String>,
    pub assignee_id: Option<i64>,
    /// The inbox's team when absent.
    pub team_id: Option<i64>,
    pub tags: Vec<String>,
    pub created_at: Millis,
    /// At or after `created_at` and every message.
    pub updated_at: Millis,
    /// For solved and closed tickets; `updated_at` when absent. Refused for other statuses.
    pub solved_at: Option<Millis>,
    /// For closed tickets; `updated_at` when absent. Refused for other statuses.
    pub closed_at: Option<Millis>,
    /// The conversation, at least one message, each at or after `created_at`.
    pub messages: Vec<ImportMessage>,
}

/// One message of an [`ImportTicket`]. Customer messages are the ticket's customer's; replies
/// and notes are the agent's named by `agent_id` (no author when `None`).
#[derive(Debug, Clone)]
pub struct ImportMessage {
    pub kind: MessageKind,
    pub body: String,
    pub created_at: Millis,
    /// The writing agent of a reply or note; must be `None` for a customer message.
    pub agent_id: Option<i64>,
}

/// A webhook subscriber: where events are POSTed, and which. The signing secret is shown once,
/// when the webhook is created ([`CreatedWebhook`]), and never listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    /// `*` (every kind) or event kinds such as `ticket.created`.
    pub events: Vec<String>,
    pub active: bool,
    pub created_at: Millis,
}

/// A new webhook with its signing secret (`whsec_` + the base64 of 32 random bytes, as in
/// Standard Webhooks), returned only here.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<String>,
}

/// A claimed webhook delivery: the event and where and how to sign and send it.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDelivery {
    pub id: i64,
    pub webhook_id: i64,
    pub url: String,
    pub secret: String,
    /// Attempts made before this one.
    pub attempts: i64,
    pub event: Event,
}

/// A phone call an agent logged on a ticket.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Call {
    pub id: i64,
    pub ticket_id: i64,
    /// Who logged it.
    pub agent_id: Option<i64>,
    pub direction: rapport_core::phone::CallDirection,
    /// As typed.
    pub number: String,
    /// `+` and digits, or a national number's digits (see `rapport_core::phone`).
    pub number_canonical: String,
    pub duration_seconds: i64,
    pub outcome: rapport_core::phone::CallOutcome,
    pub notes: String,
    /// The internal note that carries the notes in the ticket's history (none without notes).
    pub message_id: Option<i64>,
    pub started_at: Millis,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewCall {
    pub direction: rapport_core::phone::CallDirection,
    pub number: String,
    pub duration_seconds: i64,
    pub outcome: rapport_core::phone::CallOutcome,
    pub notes: String,
    /// When the call began; the time of logging when absent.
    pub started_at: Option<Millis>,
}

/// A ticket opened from a call: the caller is a known customer (by id), else matched by number
/// (exactly one customer with it), else created with `name` (and `email` when given).
#[derive(Debug, Clone)]
pub struct NewCallTicket {
    pub inbox: Option<String>,
    pub customer_id: Option<i64>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub subject: String,
    pub call: NewCall,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallTicket {
    pub ticket: Ticket,
    pub call: Call,
    /// The caller was not known: a customer was created for them.
    pub customer_created: bool,
}

/// A promise to call a customer back within a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Callback {
    pub id: i64,
    pub ticket_id: i64,
    /// The ticket's reference, `R-10002`.
    pub reference: String,
    /// As the customer typed it.
    pub number: String,
    pub number_canonical: String,
    pub window_start: Millis,
    pub window_end: Millis,
    /// The customer's IANA zone: the window is shown to them (and beside the agent's) in it.
    pub time_zone: String,
    pub status: rapport_core::phone::CallbackStatus,
    /// The promise (kind `promise`, due at the window's end) that counts in the kept rate.
    pub commitment_id: i64,
    /// Where the request came from: `portal`, `chat` (the widget) or `phone` (an agent).
    pub origin: rapport_core::Channel,
    pub note: String,
    pub requested_at: Millis,
    pub requested_by: Option<i64>,
    pub done_at: Option<Millis>,
    /// The call that kept it.
    pub call_id: Option<i64>,
}

/// Who asks for a callback from outside: a signed-in customer, or a visitor by name (and
/// address if given).
#[derive(Debug, Clone)]
pub enum CallbackRequester {
    Known(i64),
    Visitor { name: String, email: Option<String> },
}

#[derive(Debug, Clone)]
pub struct NewCallbackRequest {
    pub inbox_id: i64,
    pub requester: CallbackRequester,
    pub phone: String,
    pub window: rapport_core::phone::CallbackWindow,
    pub note: String,
    /// `portal` or `chat`: the new ticket's channel.
    pub origin: rapport_core::Channel,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallbackRequested {
    pub ticket: Ticket,
    pub callback: Callback,
    /// What we understood, in the customer's zone (`rapport_core::phone::callback_readback`).
    pub readback: String,
}

/// A scheduled callback with what the queue shows beside it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueuedCallback {
    pub callback: Callback,
    pub subject: String,
    pub customer: CustomerSummary,
    pub assignee_id: Option<i64>,
    pub team_id: Option<i64>,
}

/// Which scheduled callbacks the queue lists (always by window start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackQueue {
    All,
    /// On tickets this agent owns.
    Mine(i64),
    /// Whose window ended before this time.
    OverdueAt(Millis),
}

/// An inbox's chat widget settings (made with defaults the first time they are read; a new
/// widget is off until an admin turns it on).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatWidget {
    pub inbox_id: i64,
    pub enabled: bool,
    /// `#rrggbb`.
    pub accent: String,
    pub greeting: String,
    /// The pre-chat form asks for an email address (else name and address are optional).
    pub require_email: bool,
    /// Signs identity hashes: HMAC-SHA256(secret, lowercased email), hex. Never serialised.
    #[serde(skip)]
    pub identity_secret: String,
    /// Past conversations are shown only to visitors whose identity the host site verified.
    pub verified_history: bool,
    /// Origins that may embed the widget; empty means any.
    pub allowed_origins: Vec<String>,
    pub updated_at: Millis,
}

/// A widget settings edit; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct ChatWidgetPatch {
    pub enabled: Option<bool>,
    pub accent: Option<String>,
    pub greeting: Option<String>,
    pub require_email: Option<bool>,
    pub verified_history: Option<bool>,
    /// One origin per line.
    pub allowed_origins: Option<String>,
    /// Replace the identity secret with a new random one.
    pub new_secret: bool,
}

/// Who is chatting: a visitor id from their signed token, and the customer the host site
/// vouched for with an identity hash (never an address the visitor merely typed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatVisitor {
    pub inbox_id: i64,
    pub visitor_id: String,
    pub verified_customer_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatConversation {
    pub ticket_id: i64,
    pub reference: String,
    pub status: TicketStatus,
    pub inbox_id: i64,
    pub visitor_id: String,
    /// The ticket's customer.
    pub customer_id: i64,
    /// Whether the conversation belongs to a verified customer.
    pub verified: bool,
    pub visitor_name: String,
    /// Where replies (while the visitor is away) and transcripts go.
    pub contact_email: Option<String>,
    pub created_at: Millis,
    pub visitor_present_until: Millis,
}

/// A visitor's message as the widget sends it.
#[derive(Debug, Clone)]
pub struct ChatPost {
    pub visitor: ChatVisitor,
    pub client_id: String,
    pub body: String,
    /// The conversation it continues; the visitor's open one (or a new one) when absent.
    pub conversation: Option<i64>,
    /// From the pre-chat form.
    pub name: Option<String>,
    pub email: Option<String>,
    /// The rate-limit key of the visitor's address (`session::client_key`).
    pub client_address: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatPosted {
    pub conversation: ChatConversation,
    pub message: ChatMessage,
    /// The client id had been stored before: this is the first copy, nothing new was written.
    pub replayed: bool,
    pub created_conversation: bool,
}

/// A public message of a chat conversation, as the widget shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatMessage {
    /// The message id: increasing within a conversation.
    pub seq: i64,
    pub ticket_id: i64,
    pub from_visitor: bool,
    /// The display name of the author.
    pub author: String,
    /// Plain text (an agent's HTML never reaches the widget).
    pub body: String,
    pub at: Millis,
    /// The visitor's own messages carry their client id.
    pub client_id: Option<String>,
    pub attachments: Vec<Attachment>,
}

/// An open chat conversation in the agents' chat queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatQueueEntry {
    pub ticket: Ticket,
    pub visitor_name: String,
    /// No agent has answered yet.
    pub waiting: bool,
    /// When the visitor's latest message was written.
    pub last_visitor_message_at: Millis,
}
