//! Rapport's persistence. One [`Store`] trait, implemented once ([`SqlStore`], in
//! `queries.rs`) over a small SQL interface ([`sql::Conn`]) that two backends provide:
//!
//! - SQLite (the default): direct calls into the embedded library on threads that own their
//!   connections; WAL; one writer thread with group commit, so many concurrent requests share
//!   one durable commit; a pool of read-only connections beside it.
//! - PostgreSQL (for several nodes): a sqlx connection pool, one transaction per write.
//!
//! Every query is written once; what differs (full-text search, locking, the write path,
//! migrations) lives in the backend's own file.
//!
//! Architecture invariant: every write appends its events in the same transaction, so the
//! event log is the complete history and audit trail.

mod error;
mod migrations;
#[cfg(feature = "testing")]
pub use migrations::database_at_version;
pub mod model;
mod postgres;
mod queries;
pub mod scratch;
pub mod sql;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

pub use error::StoreError;
pub use model::*;
pub use postgres::round_trips as postgres_round_trips;
pub use queries::{CHAT_PRESENCE_MS, IRATE_TAG};

use futures::future::BoxFuture;
use rapport_core::calendar::CalendarConfig;
use rapport_core::fields::FieldDef;
use rapport_core::update::TicketPatch;
use rapport_core::{Millis, Role};
use sql::Conn;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Answers when the database does.
    async fn ping(&self) -> Result<()>;
    /// Flushes and closes connections.
    async fn close(&self);

    // Agents, tokens, sessions
    async fn create_agent(&self, ctx: Ctx, new: NewAgent) -> Result<Agent>;
    async fn agent(&self, id: i64) -> Result<Agent>;
    async fn agent_login(&self, email: &str) -> Result<Option<AgentLogin>>;
    async fn list_agents(&self) -> Result<Vec<Agent>>;
    async fn set_agent_password(
        &self,
        ctx: Ctx,
        agent_id: i64,
        password_hash: String,
    ) -> Result<()>;
    async fn create_api_token(
        &self,
        ctx: Ctx,
        agent_id: i64,
        name: &str,
        token_hash: &str,
    ) -> Result<ApiTokenInfo>;
    /// Revokes the agent's unrevoked tokens with this name; returns how many.
    async fn revoke_api_tokens(&self, ctx: Ctx, agent_id: i64, name: &str) -> Result<u64>;
    /// The active agent a live token belongs to.
    async fn principal_by_token(&self, token_hash: &str) -> Result<Option<Principal>>;
    async fn create_session(
        &self,
        id_hash: &str,
        agent_id: i64,
        at: rapport_core::Millis,
        expires_at: rapport_core::Millis,
    ) -> Result<()>;
    async fn session_agent(
        &self,
        id_hash: &str,
        now: rapport_core::Millis,
    ) -> Result<Option<Agent>>;
    async fn delete_session(&self, id_hash: &str) -> Result<()>;

    // Teams, inboxes, custom fields, settings
    async fn create_team(&self, ctx: Ctx, name: &str, description: &str) -> Result<Team>;
    async fn add_team_member(&self, ctx: Ctx, team_id: i64, agent_id: i64) -> Result<()>;
    async fn list_teams(&self) -> Result<Vec<Team>>;
    /// Creates an inbox with any of its settings, in one transaction.
    async fn create_inbox(
        &self,
        ctx: Ctx,
        name: &str,
        address: &str,
        team_id: Option<i64>,
        settings: InboxPatch,
    ) -> Result<Inbox>;
    async fn list_inboxes(&self) -> Result<Vec<Inbox>>;
    async fn inbox(&self, id: i64) -> Result<Inbox>;
    async fn update_inbox(&self, ctx: Ctx, id: i64, patch: InboxPatch) -> Result<Inbox>;
    /// The inbox that receives at this address (lower-case, without `+detail`).
    async fn inbox_by_address(&self, address: &str) -> Result<Option<Inbox>>;
    async fn inbox_by_name(&self, name: &str) -> Result<Option<Inbox>>;
    async fn inbox_templates(&self, inbox_id: i64) -> Result<Vec<InboxTemplate>>;
    async fn set_inbox_template(&self, ctx: Ctx, template: InboxTemplate) -> Result<InboxTemplate>;
    async fn create_custom_field(&self, ctx: Ctx, def: FieldDef) -> Result<FieldDef>;
    async fn list_custom_fields(&self) -> Result<Vec<FieldDef>>;
    async fn setting(&self, key: &str) -> Result<Option<String>>;
    async fn set_setting(&self, key: &str, value: &str) -> Result<()>;
    /// Sets `key` to `value` unless it has a value already; returns the value that holds.
    /// Concurrent callers (several nodes starting at once) all get the same one.
    async fn init_setting(&self, key: &str, value: &str) -> Result<String>;

    // Organisations and customers
    async fn create_organization(
        &self,
        ctx: Ctx,
        new: NewOrganization,
        idem: Option<Idempotency>,
    ) -> Result<Created<Organization>>;
    async fn organization(&self, id: i64) -> Result<Organization>;
    async fn list_organizations(&self, page: PageRequest) -> Result<Page<Organization>>;
    async fn create_customer(
        &self,
        ctx: Ctx,
        new: NewCustomer,
        idem: Option<Idempotency>,
    ) -> Result<Created<Customer>>;
    async fn customer(&self, id: i64) -> Result<Customer>;
    async fn list_customers(
        &self,
        filter: &CustomerFilter,
        page: PageRequest,
    ) -> Result<Page<Customer>>;
    async fn update_customer(&self, ctx: Ctx, id: i64, patch: CustomerPatch) -> Result<Customer>;

    // Tickets, messages, events
    async fn create_ticket(
        &self,
        ctx: Ctx,
        new: NewTicket,
        idem: Option<Idempotency>,
    ) -> Result<Created<Ticket>>;
    /// Writes historical tickets with their conversations as they were (times, status, owner,
    /// first reply), all in one transaction: one failing ticket writes nothing. Customers are
    /// found or created by email; each ticket gets one `ticket.imported` event. Nothing that
    /// reacts to new work runs — no SLA clocks, routing, tone scoring, mentions or outbox
    /// mail. Returns the new ticket ids in input order.
    async fn import_tickets(&self, ctx: Ctx, tickets: Vec<ImportTicket>) -> Result<Vec<i64>>;
    async fn ticket(&self, id: i64) -> Result<Ticket>;
    async fn list_tickets(&self, filter: &TicketFilter, page: PageRequest) -> Result<Page<Ticket>>;
    async fn update_ticket(&self, ctx: Ctx, id: i64, patch: TicketPatch) -> Result<Ticket>;
    async fn add_message(
        &self,
        ctx: Ctx,
        ticket_id: i64,
        new: NewMessage,
        idem: Option<Idempotency>,
    ) -> Result<Created<Message>>;
    async fn list_messages(&self, ticket_id: i64, page: PageRequest) -> Result<Page<Message>>;
    async fn list_events(&self, ticket_id: i64, page: PageRequest) -> Result<Page<Event>>;
    async fn list_tags(&self) -> Result<Vec<TagCount>>;
    // Email
    /// Stores a received email and everything it causes (a ticket, a message, a read-back in
    /// the outbox, a bounce note) in one transaction; the same message again is a no-op.
    async fn ingest_email(&self, ctx: Ctx, mail: InboundEmail) -> Result<Ingested>;
    /// Keeps an email that could not be filed, with the reason; returns its id.
    async fn quarantine_email(&self, ctx: Ctx, mail: InboundEmail, reason: String) -> Result<i64>;
    /// Received emails on no ticket, newest first.
    async fn list_unfiled_emails(&self, page: PageRequest) -> Result<Page<UnfiledEmail>>;
    /// A received email exactly as it arrived.
    async fn raw_email(&self, id: i64) -> Result<Vec<u8>>;
    /// An attachment and its bytes (`None` when withheld).
    async fn attachment(&self, id: i64) -> Result<(Attachment, Option<Vec<u8>>)>;
    /// Leases due outbound emails for `lease_ms`, with what composing them needs.
    async fn claim_outbox(&self, now: Millis, lease_ms: i64, limit: u32)
    -> Result<Vec<OutboxItem>>;
    async fn outbox_composed(&self, id: i64, raw: Vec<u8>) -> Result<()>;
    async fn outbox_attempted(&self, id: i64, at: Millis, result: OutboxResult) -> Result<()>;
    /// The emails sent or queued for a ticket.
    async fn ticket_emails(&self, ticket_id: i64) -> Result<Vec<OutboundEmail>>;

    /// Tickets the searcher may see whose text (subject, messages, attachment names, customer
    /// and organisation) holds every word of `query` and that pass its filters, best first,
    /// each with a snippet.
    async fn search_as(
        &self,
        scope: SearchScope,
        query: &rapport_core::search::SearchQuery,
        limit: u32,
    ) -> Result<Vec<SearchHit>>;
    /// [`Store::search_as`] for staff.
    async fn search(
        &self,
        query: &rapport_core::search::SearchQuery,
        limit: u32,
    ) -> Result<Vec<SearchHit>> {
        self.search_as(SearchScope::Staff, query, limit).await
    }

    // Workspace and portal
    /// Records a failed sign-in under each key (the account, the client address).
    async fn record_login_failure(&self, keys: &[String], at: Millis) -> Result<()>;
    /// Failed sign-ins under `key` since `since`.
    async fn login_failures(&self, key: &str, since: Millis) -> Result<i64>;
    /// Forgets the failures under `key` (after a successful sign-in).
    async fn clear_login_failures(&self, key: &str) -> Result<()>;
    /// Stores a portal sign-in link and queues the email that carries it.
    async fn create_portal_link(&self, ctx: Ctx, link: NewPortalLink) -> Result<()>;
    /// Is this sign-in link unused and unexpired? (Reading it spends nothing.)
    async fn portal_link_valid(&self, token_hash: &str, now: Millis) -> Result<bool>;
    /// Spends a sign-in link and opens a portal session; `None` when the link is unknown,
    /// used or expired.
    async fn redeem_portal_link(
        &self,
        ctx: Ctx,
        token_hash: &str,
        session: NewSession,
    ) -> Result<Option<Customer>>;
    /// The customer a live portal session belongs to.
    async fn portal_session(&self, id_hash: &str, now: Millis) -> Result<Option<Customer>>;
    async fn delete_portal_session(&self, id_hash: &str) -> Result<()>;
    /// Tickets matching each filter, each counted up to `cap`, in one query.
    async fn count_tickets(&self, filters: &[TicketFilter], cap: u32) -> Result<Vec<i64>>;
    /// Events with ids above `after`, oldest first.
    async fn events_since(&self, after: i64, limit: u32) -> Result<Vec<Event>>;
    /// The events with these ids that are committed now, in id order (at most 1,000 ids):
    /// how a follower finds ids it skipped over because their transaction committed late.
    async fn events_with_ids(&self, ids: Vec<i64>) -> Result<Vec<Event>>;
    /// Changes an agent's role and whether they may sign in (a deactivated agent's sessions
    /// and tokens stop working at once).
    async fn update_agent(&self, ctx: Ctx, id: i64, role: Role, active: bool) -> Result<Agent>;
    async fn list_macros(&self) -> Result<Vec<Macro>>;
    async fn macro_by_id(&self, id: i64) -> Result<Macro>;
    /// Creates (`id` None) or replaces a macro.
    async fn save_macro(&self, ctx: Ctx, id: Option<i64>, new: NewMacro) -> Result<Macro>;
    async fn delete_macro(&self, ctx: Ctx, id: i64) -> Result<()>;
    /// An agent's own saved views and the shared ones.
    async fn list_views(&self, agent_id: i64) -> Result<Vec<SavedView>>;
    async fn save_view(&self, ctx: Ctx, view: NewView) -> Result<SavedView>;
    /// Deletes an agent's own view, or a shared one when `may_delete_shared`.
    async fn delete_view(
        &self,
        ctx: Ctx,
        agent_id: i64,
        may_delete_shared: bool,
        id: i64,
    ) -> Result<()>;
    /// Links two tickets as related.
    async fn link_tickets(&self, ctx: Ctx, a: i64, b: i64) -> Result<()>;
    async fn ticket_links(&self, id: i64) -> Result<Vec<TicketLink>>;
    /// Moves `source`'s conversation into `target` and closes `source`.
    async fn merge_tickets(&self, ctx: Ctx, source: i64, target: i64) -> Result<Ticket>;
    /// Copies a message out into a new ticket, linked to its origin.
    async fn split_message(&self, ctx: Ctx, message_id: i64) -> Result<Ticket>;
    /// The agent's TOTP secret and whether it is enabled; `None` without one.
    async fn agent_totp(&self, agent_id: i64) -> Result<Option<(String, bool)>>;
    /// Stores a new unconfirmed TOTP secret (refused while two-factor is on), or (None) turns
    /// two-factor off.
    async fn set_totp_secret(&self, ctx: Ctx, agent_id: i64, secret: Option<String>) -> Result<()>;
    /// Confirms the secret and replaces the recovery codes (their SHA-256).
    async fn enable_totp(
        &self,
        ctx: Ctx,
        agent_id: i64,
        recovery_hashes: Vec<String>,
    ) -> Result<()>;
    /// Spends a recovery code (its SHA-256); false when unknown or used.
    async fn use_recovery_code(&self, ctx: Ctx, agent_id: i64, hash: &str) -> Result<bool>;
    /// Records that the password was right and a second factor is owed.
    async fn create_login_challenge(
        &self,
        id_hash: &str,
        agent_id: i64,
        expires_at: Millis,
    ) -> Result<()>;
    /// Takes one of a challenge's five code attempts; its agent, or `None` when the challenge
    /// is unknown, expired or used up.
    async fn claim_challenge_attempt(&self, id_hash: &str, now: Millis) -> Result<Option<i64>>;
    /// Accepts a TOTP time step for an agent once (codes cannot be replayed).
    async fn use_totp_step(&self, agent_id: i64, step: i64) -> Result<bool>;
    async fn delete_login_challenge(&self, id_hash: &str) -> Result<()>;
    /// The ticket focus mode offers `agent_id` next, never one of `skip`.
    async fn next_ticket_for(&self, agent_id: i64, skip: &[i64]) -> Result<Option<i64>>;
    /// The newest event id (0 when none).
    async fn last_event_id(&self) -> Result<i64>;
    /// The newest event id on a ticket (0 when none).
    async fn last_ticket_event(&self, ticket_id: i64) -> Result<i64>;
    /// Changes every time a write commits in this process: live views wait on it, then read
    /// the event log.
    fn commits(&self) -> tokio::sync::watch::Receiver<u64>;
    /// Sends a short message (under 8,000 bytes) to every process that listens on this
    /// database, this one included: what nodes tell each other that is not data (who is
    /// looking at a ticket). PostgreSQL carries it with NOTIFY; SQLite only within the process.
    async fn broadcast(&self, message: &str) -> Result<()>;
    /// The messages of [`Store::broadcast`], in the order sent by each sender.
    fn broadcasts(&self) -> tokio::sync::broadcast::Receiver<String>;
    /// Takes the lease `name` for `holder` until `until`, or renews it when `holder` has it;
    /// false while someone else holds an unexpired one. Whoever holds a lease does the work it
    /// names (polling an IMAP mailbox); a holder that dies loses it when it expires.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: Millis,
        until: Millis,
    ) -> Result<bool>;
    /// Gives a lease up at once (a clean stop), if `holder` has it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<()>;

    // Webhooks: subscribers get each event they asked for once. Deliveries are written by the
    // transaction that appends the event (a trigger on `events`) and sent like the outbox.
    /// Adds a subscriber with a new signing secret (returned only here).
    async fn create_webhook(&self, ctx: Ctx, new: NewWebhook) -> Result<CreatedWebhook>;
    async fn list_webhooks(&self) -> Result<Vec<Webhook>>;
    /// Removes a subscriber and its pending deliveries.
    async fn delete_webhook(&self, ctx: Ctx, id: i64) -> Result<()>;
    /// Leases up to `limit` due deliveries for `lease_ms`; a delivery whose worker died is due
    /// again once its lease ran out.
    async fn claim_webhook_deliveries(
        &self,
        now: Millis,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>>;
    /// Records an attempt: sent, failed for good, or to be retried.
    async fn webhook_attempted(&self, id: i64, at: Millis, result: OutboxResult) -> Result<()>;

    // SLA: calendars and policies (changing either recomputes open tickets' due times in the
    // background), each ticket's clocks, commitments, the scheduler, kept and chase rates.
    async fn list_calendars(&self) -> Result<Vec<Calendar>>;
    async fn save_calendar(
        &self,
        ctx: Ctx,
        id: Option<i64>,
        name: String,
        config: CalendarConfig,
    ) -> Result<Calendar>;
    /// Refused while a policy uses it.
    async fn delete_calendar(&self, ctx: Ctx, id: i64) -> Result<()>;
    /// In the order they are tried.
    async fn list_sla_policies(&self) -> Result<Vec<SlaPolicy>>;
    async fn save_sla_policy(
        &self,
        ctx: Ctx,
        id: Option<i64>,
        new: NewSlaPolicy,
    ) -> Result<SlaPolicy>;
    async fn delete_sla_policy(&self, ctx: Ctx, id: i64) -> Result<()>;
    /// `None` for a ticket whose clocks never started (created before SLAs, untouched since).
    async fn ticket_sla(&self, ticket_id: i64) -> Result<Option<TicketSla>>;
    /// The most pressing due time of each of these tickets that has one running.
    async fn sla_badges(&self, ticket_ids: &[i64]) -> Result<Vec<SlaBadge>>;
    async fn commitments(&self, ticket_id: i64) -> Result<Vec<Commitment>>;
    async fn make_commitment(
        &self,
        ctx: Ctx,
        ticket_id: i64,
        new: NewCommitment,
    ) -> Result<Commitment>;
    /// A promise is done (kept, or broken if late); refused before a public reply told the
    /// customer.
    async fn fulfil_commitment(&self, ctx: Ctx, id: i64) -> Result<Commitment>;
    async fn cancel_commitment(&self, ctx: Ctx, id: i64, reason: &str) -> Result<Commitment>;
    /// Fires what is due at `now` (at most `limit` alarms of each kind) and does one chunk of
    /// pending recomputation. Safe to run on several nodes at once.
    async fn scheduler_pass(&self, now: Millis, limit: u32) -> Result<SchedulerPass>;
    /// Whether a pass at `now` would find anything: a read, so idle polling writes nothing.
    async fn scheduler_has_work(&self, now: Millis) -> Result<bool>;
    async fn kept_rates(&self, since: Millis) -> Result<Vec<KeptRate>>;
    async fn chase_rates(&self, since: Millis) -> Result<Vec<ChaseRate>>;

    // The phone channel: calls, customers by number, callbacks (see `queries/phone.rs`).
    /// Logs a call on a ticket; an answered call counts as a public reply for the clocks, an
    /// outbound attempt keeps the ticket's scheduled callbacks.
    async fn log_call(&self, ctx: Ctx, ticket_id: i64, new: NewCall) -> Result<Call>;
    async fn calls(&self, ticket_id: i64) -> Result<Vec<Call>>;
    /// The latest calls on a customer's tickets, newest first.
    async fn customer_calls(&self, customer_id: i64) -> Result<Vec<Call>>;
    /// A ticket (channel `phone`) opened from a call, the caller matched or created, the call
    /// logged on it: one transaction. Several customers with the number: a 422 on `customer_id`.
    async fn ticket_from_call(&self, ctx: Ctx, new: NewCallTicket) -> Result<CallTicket>;
    /// Customers whose number matches this one (`rapport_core::phone`'s rule).
    async fn customers_by_phone(&self, phone: &str) -> Result<Vec<CustomerSummary>>;
    async fn callbacks(&self, ticket_id: i64) -> Result<Vec<Callback>>;
    async fn schedule_callback(
        &self,
        ctx: Ctx,
        ticket_id: i64,
        phone: &str,
        window: rapport_core::phone::CallbackWindow,
        note: &str,
    ) -> Result<Callback>;
    /// A customer's request from the portal or the widget: ticket, callback, promise and
    /// read-back email in one transaction.
    async fn request_callback(
        &self,
        ctx: Ctx,
        request: NewCallbackRequest,
    ) -> Result<CallbackRequested>;
    async fn cancel_callback(&self, ctx: Ctx, id: i64, reason: &str) -> Result<Callback>;
    async fn callback_queue(&self, queue: CallbackQueue, limit: u32)
    -> Result<Vec<QueuedCallback>>;
    /// Scheduled callbacks whose window has started at `now`.
    async fn callbacks_due(&self, now: Millis) -> Result<i64>;

    // Routing and ownership (principles 4, 5, 10): availability, skills, team routing,
    // transfers, internal requests, honest noes, tone.
    async fn agent_routing(&self, agent_id: i64, now: Millis) -> Result<AgentRouting>;
    /// Every active agent's routing profile, with load and shift at `now`.
    async fn list_agent_routing(&self, now: Millis) -> Result<Vec<AgentRouting>>;
    async fn set_availability(
        &self,
        ctx: Ctx,
        agent_id: i64,
        availability: rapport_core::routing::Availability,
    ) -> Result<AgentRouting>;
    async fn update_agent_routing(
        &self,
        ctx: Ctx,
        agent_id: i64,
        patch: AgentRoutingPatch,
    ) -> Result<AgentRouting>;
    async fn update_team_routing(
        &self,
        ctx: Ctx,
        team_id: i64,
        routing: rapport_core::routing::TeamRouting,
    ) -> Result<Team>;
    /// A ticket's transfers, oldest first.
    async fn transfers(&self, ticket_id: i64) -> Result<Vec<Transfer>>;
    async fn create_internal_request(
        &self,
        ctx: Ctx,
        new: NewInternalRequest,
    ) -> Result<InternalRequest>;
    /// With its replies.
    async fn internal_request(&self, id: i64) -> Result<InternalRequest>;
    async fn list_internal_requests(
        &self,
        filter: &InternalRequestFilter,
    ) -> Result<Vec<InternalRequest>>;
    /// Writes on an open request; `done` closes it (only the asked team may). The other side
    /// is alerted. The customer never sees any of it.
    async fn reply_internal_request(
        &self,
        ctx: Ctx,
        id: i64,
        body: &str,
        done: bool,
    ) -> Result<InternalRequest>;
    /// A member of the asked team takes the request.
    async fn take_internal_request(&self, ctx: Ctx, id: i64) -> Result<InternalRequest>;
    /// The asker withdraws it.
    async fn cancel_internal_request(
        &self,
        ctx: Ctx,
        id: i64,
        reason: &str,
    ) -> Result<InternalRequest>;
    /// The honest no: a public reply (emailed) with `body` and the referral, the ticket solved
    /// as `referred`, and the time to the honest answer recorded — in one transaction.
    async fn refer_ticket(
        &self,
        ctx: Ctx,
        ticket_id: i64,
        body: &str,
        referral: rapport_core::routing::Referral,
    ) -> Result<ReferralRecord>;
    async fn referral(&self, ticket_id: i64) -> Result<Option<ReferralRecord>>;
    /// The scored customer messages of a ticket, oldest first.
    async fn ticket_tone(&self, ticket_id: i64) -> Result<Vec<MessageTone>>;
    async fn routing_metrics(&self, since: Millis, now: Millis) -> Result<RoutingMetrics>;
    /// Re-offers tickets of owners away too long and gives queued tickets of routed teams an
    /// owner. A read when there is nothing to do; safe on several nodes.
    async fn routing_pass(&self, now: Millis, limit: u32) -> Result<RoutingPass>;
    /// The tone scorer's settings (the defaults until saved).
    async fn tone_config(&self) -> Result<rapport_core::tone::ToneConfig>;
    /// Checks and saves them; messages from now on are scored with them.
    async fn set_tone_config(
        &self,
        config: rapport_core::tone::ToneConfig,
    ) -> Result<rapport_core::tone::ToneConfig>;
    /// Hours without a public reply after which a ticket is at risk of a silent no.
    async fn silent_no_hours(&self) -> Result<u32>;
    async fn set_silent_no_hours(&self, hours: u32) -> Result<u32>;

    // Live chat
    /// The inbox's chat widget; made with defaults and a new identity secret the first time.
    async fn chat_widget(&self, inbox_id: i64, at: Millis) -> Result<ChatWidget>;
    async fn update_chat_widget(
        &self,
        ctx: Ctx,
        inbox_id: i64,
        patch: ChatWidgetPatch,
    ) -> Result<ChatWidget>;
    /// The visitor's conversation `ticket_id` (not-found unless it is theirs), or without an
    /// id their newest one that is not closed.
    async fn chat_conversation(
        &self,
        visitor: ChatVisitor,
        ticket_id: Option<i64>,
    ) -> Result<Option<ChatConversation>>;
    /// Stores a visitor's message once per (visitor, client id); a repeat returns the first.
    async fn post_chat_message(&self, ctx: Ctx, post: ChatPost) -> Result<ChatPosted>;
    /// Public messages of a chat conversation after a message id, oldest first; only of a
    /// conversation that is the visitor's (else not-found).
    async fn chat_messages(
        &self,
        reader: ChatVisitor,
        ticket_id: i64,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ChatMessage>>;
    /// The public messages of many conversations, each after its own message id (pairs of
    /// ticket id and id), oldest first; for fanning out, so no visitor check.
    async fn chat_messages_of(&self, conversations: Vec<(i64, i64)>) -> Result<Vec<ChatMessage>>;
    /// Conversations started from a client address since `since`.
    async fn chats_started_from(&self, address: &str, since: Millis) -> Result<i64>;
    /// The visitor of these conversations is present until `until` (replies are not emailed).
    async fn mark_chat_presence(&self, ticket_ids: Vec<i64>, until: Millis) -> Result<()>;
    /// Queues the conversation's transcript to `email` (remembered as its contact address) or
    /// the address it has; an `email` error when there is none. Returns the address.
    async fn chat_transcript(
        &self,
        ctx: Ctx,
        visitor: ChatVisitor,
        ticket_id: i64,
        email: Option<String>,
    ) -> Result<String>;
    /// The customer a host site vouched for (identity verification): found by address, or
    /// created with it. Returns their id.
    async fn chat_identify(&self, ctx: Ctx, email: &str, name: Option<String>) -> Result<i64>;
    /// The chat queue of an agent: waiting conversations oldest first, then the agent's own.
    async fn chat_queue(&self, agent_id: i64) -> Result<Vec<ChatQueueEntry>>;
}

/// The one [`Store`] implementation, over either backend.
pub struct SqlStore {
    engine: Engine,
    /// Counts committed writes; live views wake on it and read the event log for what changed.
    /// On PostgreSQL the listener bumps it too when another process committed events.
    commits: Arc<tokio::sync::watch::Sender<u64>>,
    /// [`Store::broadcast`] messages as they arrive.
    broadcasts: tokio::sync::broadcast::Sender<String>,
}

enum Engine {
    Sqlite(sqlite::SqliteEngine),
    Postgres(postgres::PgEngine),
}

impl SqlStore {
    fn engine_name(&self) -> &'static str {
        match self.engine {
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// Runs `op` in a transaction; the result is returned once it is durable.
    async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let result = match &self.engine {
            Engine::Sqlite(e) => e.write(op).await,
            Engine::Postgres(e) => e.write(op).await,
        };
        if result.is_ok() {
            self.commits.send_modify(|n| *n = n.wrapping_add(1));
        }
        result
    }

    async fn read<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        match &self.engine {
            Engine::Sqlite(e) => e.read(op).await,
            Engine::Postgres(e) => e.read(op).await,
        }
    }

    async fn send_broadcast(&self, message: &str) -> Result<()> {
        match &self.engine {
            // One process: nobody else could hear it.
            Engine::Sqlite(_) => {
                let _ = self.broadcasts.send(message.to_string());
                Ok(())
            }
            // Every node hears it from its listener, this one too.
            Engine::Postgres(pg) => pg.notify(message).await,
        }
    }

    async fn shutdown(&self) {
        match &self.engine {
            Engine::Sqlite(e) => e.shutdown().await,
            Engine::Postgres(e) => e.shutdown().await,
        }
    }
}

/// Opens the store a URL names (`sqlite://path` or `postgres://…`) and brings its schema up
/// to date.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    let commits = Arc::new(tokio::sync::watch::channel(0).0);
    let broadcasts = tokio::sync::broadcast::channel(1024).0;
    let engine = if url.starts_with("sqlite:") {
        Engine::Sqlite(sqlite::SqliteEngine::open(url).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Engine::Postgres(postgres::PgEngine::open(url, commits.clone(), broadcasts.clone()).await?)
    } else {
        return Err(StoreError::Config(format!(
            "unsupported database URL '{}': use sqlite://PATH or postgres://…",
            redact_url(url)
        )));
    };
    let store = SqlStore {
        engine,
        commits,
        broadcasts,
    };
    queries::index_older_tickets(&store).await?;
    queries::backfill_phone_keys(&store).await?;
    Ok(Arc::new(store))
}

/// A database URL with any password replaced, safe to log or print.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_show_in_urls() {
        assert_eq!(
            redact_url("postgres://bob:s3cret@db:5432/x"),
            "postgres://bob:***@db:5432/x"
        );
        assert_eq!(redact_url("postgres://bob@db/x"), "postgres://bob@db/x");
        assert_eq!(redact_url("sqlite://data/r.db"), "sqlite://data/r.db");
    }
}
