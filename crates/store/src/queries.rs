//! Every query, written once for both databases against the [`Conn`] interface, and the
//! [`Store`] implementation that runs them through the backend's read or write path.

use crate::model::*;
use crate::params;
use crate::sql::{Conn, Row, SqlBuilder};
use crate::{Result, SqlStore, Store, StoreError};
use rapport_core::contact::{self, Tier};
use rapport_core::fields::{FieldDef, FieldType, check_values};
use rapport_core::search::{AssigneeRef, Bound, Filter, FilterTerm, SearchQuery};
use rapport_core::tags::normalize_tags;
use rapport_core::ticket::{status_after_message, validate_body, validate_subject};
use rapport_core::update::{TicketPatch, TicketState, plan_update};
use rapport_core::{
    Actor, ActorKind, Change, Channel, EventKind, Invalid, MessageKind, Millis, Priority, Role,
    TicketRef, TicketStatus,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;

mod chat;
mod delivery;
mod email;
mod import;
mod phone;
mod routing;
mod search;
mod sla;
mod web;
mod webhooks;

pub(crate) use phone::backfill_phone_keys;
pub(crate) use search::{catch_up as index_older_tickets, refresh_search};

pub use chat::PRESENCE_MS as CHAT_PRESENCE_MS;
pub use routing::IRATE_TAG;
use routing::{SILENT_NO_SETTING, TONE_SETTING};

// ---------------------------------------------------------------------------------------------
// Rows as stored, and their conversion into records. Column order follows the SELECTs below.

fn parse_channel(text: &str) -> Result<Channel> {
    Channel::parse(text).ok_or_else(|| StoreError::corrupt(format!("channel '{text}'")))
}

fn json_text<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(StoreError::corrupt)
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

const TICKET_SELECT: &str = "SELECT t.id, t.subject, t.status, t.priority, t.channel, t.customer_id, c.name, \
     (SELECT e.email FROM customer_emails e WHERE e.customer_id = t.customer_id \
      ORDER BY e.is_primary DESC, e.email LIMIT 1), \
     t.inbox_id, t.assignee_id, t.team_id, t.created_at, t.updated_at, t.solved_at, t.closed_at \
     FROM tickets t JOIN customers c ON c.id = t.customer_id";

fn ticket_from(
    r: &Row,
    tags: Vec<String>,
    custom_fields: BTreeMap<String, Value>,
) -> Result<Ticket> {
    let id = r.int(0)?;
    Ok(Ticket {
        id,
        reference: TicketRef(id).to_string(),
        subject: r.text(1)?,
        status: TicketStatus::parse(&r.text(2)?).map_err(StoreError::corrupt)?,
        priority: Priority::parse(&r.text(3)?).map_err(StoreError::corrupt)?,
        channel: parse_channel(&r.text(4)?)?,
        customer: CustomerSummary {
            id: r.int(5)?,
            name: r.text(6)?,
            email: r.opt_text(7)?,
        },
        inbox_id: r.int(8)?,
        assignee_id: r.opt_int(9)?,
        team_id: r.opt_int(10)?,
        tags,
        custom_fields,
        created_at: Millis(r.int(11)?),
        updated_at: Millis(r.int(12)?),
        solved_at: r.opt_int(13)?.map(Millis),
        closed_at: r.opt_int(14)?.map(Millis),
    })
}

const CUSTOMER_SELECT: &str = "SELECT id, name, organization_id, phone, language, time_zone, preferences, notes, created_at, updated_at, org_admin FROM customers";

fn customer_from(r: &Row, emails: Vec<String>) -> Result<Customer> {
    Ok(Customer {
        id: r.int(0)?,
        name: r.text(1)?,
        emails,
        organization_id: r.opt_int(2)?,
        phone: r.opt_text(3)?,
        language: r.opt_text(4)?,
        time_zone: r.opt_text(5)?,
        preferences: json_text(&r.text(6)?)?,
        notes: r.text(7)?,
        created_at: Millis(r.int(8)?),
        updated_at: Millis(r.int(9)?),
        org_admin: r.bool(10)?,
    })
}

const ORGANIZATION_SELECT: &str =
    "SELECT id, name, tier, contract_value_cents, notes, created_at, updated_at FROM organizations";

const AGENT_SELECT: &str =
    "SELECT id, email, name, role, active, created_at, password_hash FROM agents";

fn agent_login_from(r: &Row, team_ids: Vec<i64>) -> Result<AgentLogin> {
    Ok(AgentLogin {
        agent: Agent {
            id: r.int(0)?,
            email: r.text(1)?,
            name: r.text(2)?,
            role: Role::parse(&r.text(3)?).map_err(StoreError::corrupt)?,
            active: r.bool(4)?,
            team_ids,
            created_at: Millis(r.int(5)?),
        },
        password_hash: r.opt_text(6)?,
    })
}

const MESSAGE_SELECT: &str = "SELECT id, ticket_id, kind, channel, author_agent_id, author_customer_id, body, created_at, \
     html, quoted, email_id FROM messages";

fn message_from(r: &Row, attachments: Vec<Attachment>) -> Result<Message> {
    let kind_text = r.text(2)?;
    let kind = MessageKind::parse(&kind_text)
        .ok_or_else(|| StoreError::corrupt(format!("message kind '{kind_text}'")))?;
    let author = match (r.opt_int(4)?, r.opt_int(5)?) {
        (Some(id), _) => Actor::agent(id),
        (None, Some(id)) => Actor::customer(id),
        (None, None) => Actor::SYSTEM,
    };
    Ok(Message {
        id: r.int(0)?,
        ticket_id: r.int(1)?,
        kind,
        public: kind.is_public(),
        channel: parse_channel(&r.text(3)?)?,
        author,
        body: r.text(6)?,
        html: r.opt_text(8)?,
        quoted: r.text(9)?,
        attachments,
        email_id: r.opt_int(10)?,
        created_at: Millis(r.int(7)?),
    })
}

fn event_from(r: &Row) -> Result<Event> {
    let actor_text = r.text(3)?;
    let kind = ActorKind::parse(&actor_text)
        .ok_or_else(|| StoreError::corrupt(format!("actor '{actor_text}'")))?;
    Ok(Event {
        id: r.int(0)?,
        ticket_id: r.opt_int(1)?,
        kind: r.text(2)?,
        actor: Actor {
            kind,
            id: r.opt_int(4)?,
        },
        subject_type: r.text(5)?,
        subject_id: r.int(6)?,
        data: json_text(&r.text(7)?)?,
        created_at: Millis(r.int(8)?),
    })
}

fn field_from(r: &Row) -> Result<FieldDef> {
    Ok(FieldDef {
        key: r.text(0)?,
        label: r.text(1)?,
        field_type: FieldType::parse(&r.text(2)?).map_err(StoreError::corrupt)?,
        options: json_text(&r.text(3)?)?,
    })
}

fn page_of<T>(mut items: Vec<T>, limit: i64, key: impl Fn(&T) -> Cursor) -> Page<T> {
    let more = items.len() as i64 > limit;
    items.truncate(limit.max(0) as usize);
    let next = if more { items.last().map(key) } else { None };
    Page { items, next }
}

fn to_value(change: &Change) -> Value {
    serde_json::to_value(change).unwrap_or(Value::Null)
}

// ---------------------------------------------------------------------------------------------
// Pieces every write uses: the event log and idempotency keys.

#[allow(clippy::too_many_arguments)]
async fn append_event(
    c: &mut dyn Conn,
    ctx: Ctx,
    kind: EventKind,
    ticket_id: Option<i64>,
    subject_type: &str,
    subject_id: i64,
    data: Value,
) -> Result<()> {
    c.execute(
        "INSERT INTO events (ticket_id, kind, actor_kind, actor_id, subject_type, subject_id, data, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        params![ticket_id, kind.as_str(), ctx.actor.kind.as_str(), ctx.actor.id, subject_type, subject_id, data.to_string(), ctx.at.0],
    )
    .await?;
    Ok(())
}

/// The id an earlier request with this key created, if any. A key reused for a different
/// request is refused rather than silently answered with the wrong record.
async fn replayed_id(
    c: &mut dyn Conn,
    idem: &Option<Idempotency>,
    resource_type: &str,
) -> Result<Option<i64>> {
    let Some(idem) = idem else { return Ok(None) };
    c.serialize_on(&format!("idempotency:{}:{}", idem.agent_id, idem.key))
        .await?;
    let row = c
        .query_opt(
            "SELECT fingerprint, resource_type, resource_id FROM idempotency_keys WHERE agent_id = $1 AND key = $2",
            params![idem.agent_id, &idem.key],
        )
        .await?;
    match row {
        None => Ok(None),
        Some(r) if r.text(0)? == idem.fingerprint && r.text(1)? == resource_type => {
            Ok(Some(r.int(2)?))
        }
        Some(_) => Err(StoreError::IdempotencyMismatch),
    }
}

async fn remember_key(
    c: &mut dyn Conn,
    idem: &Option<Idempotency>,
    resource_type: &str,
    id: i64,
    at: Millis,
) -> Result<()> {
    let Some(idem) = idem else { return Ok(()) };
    c.execute(
        "INSERT INTO idempotency_keys (agent_id, key, fingerprint, resource_type, resource_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        params![idem.agent_id, &idem.key, &idem.fingerprint, resource_type, id, at.0],
    )
    .await
    .map_err(|e| e.conflict_or(|| "this Idempotency-Key is being used by a concurrent request".into()))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Loading records (used by reads and by writes inside their transaction).

/// The row `select` finds where `column = id`, or the not-found error `missing` makes.
async fn row_by_id(
    c: &mut dyn Conn,
    select: &str,
    column: &str,
    id: i64,
    missing: impl FnOnce() -> StoreError,
) -> Result<Row> {
    let mut q = SqlBuilder::new(select);
    q.push(" WHERE ").push(column).push(" = ").bind(id);
    let (sql, params) = q.parts();
    c.query_opt(sql, params).await?.ok_or_else(missing)
}

async fn load_agent(c: &mut dyn Conn, id: i64) -> Result<Agent> {
    let row = row_by_id(c, AGENT_SELECT, "id", id, || {
        StoreError::not_found("agent", id)
    })
    .await?;
    let teams = agent_team_ids(c, id).await?;
    Ok(agent_login_from(&row, teams)?.agent)
}

async fn agent_team_ids(c: &mut dyn Conn, agent_id: i64) -> Result<Vec<i64>> {
    let rows = c
        .query(
            "SELECT team_id FROM team_members WHERE agent_id = $1 ORDER BY team_id",
            params![agent_id],
        )
        .await?;
    rows.iter().map(|r| r.int(0)).collect()
}

/// Every (team, agent) membership, by team then agent, for listing teams or agents whole.
async fn team_memberships(c: &mut dyn Conn) -> Result<Vec<(i64, i64)>> {
    let rows = c
        .query(
            "SELECT team_id, agent_id FROM team_members ORDER BY team_id, agent_id",
            params![],
        )
        .await?;
    rows.iter().map(|m| Ok((m.int(0)?, m.int(1)?))).collect()
}

async fn load_teams(c: &mut dyn Conn) -> Result<Vec<Team>> {
    let rows = c
        .query(
            &format!(
                "SELECT id, name, description, created_at, {} FROM teams ORDER BY id",
                routing::TEAM_ROUTING_COLUMNS
            ),
            params![],
        )
        .await?;
    let members = team_memberships(c).await?;
    rows.iter()
        .map(|r| {
            let id = r.int(0)?;
            Ok(Team {
                id,
                name: r.text(1)?,
                description: r.text(2)?,
                member_ids: members
                    .iter()
                    .filter(|(t, _)| *t == id)
                    .map(|(_, a)| *a)
                    .collect(),
                created_at: Millis(r.int(3)?),
                routing: routing::team_routing_from(r, 4)?,
            })
        })
        .collect()
}

async fn load_customer(c: &mut dyn Conn, id: i64) -> Result<Customer> {
    let row = row_by_id(c, CUSTOMER_SELECT, "id", id, || {
        StoreError::not_found("customer", id)
    })
    .await?;
    let emails = customer_emails(c, id).await?;
    customer_from(&row, emails)
}

async fn customer_emails(c: &mut dyn Conn, customer_id: i64) -> Result<Vec<String>> {
    let rows = c
        .query("SELECT email FROM customer_emails WHERE customer_id = $1 ORDER BY is_primary DESC, email", params![customer_id])
        .await?;
    rows.iter().map(|r| r.text(0)).collect()
}

async fn load_organization(c: &mut dyn Conn, id: i64) -> Result<Organization> {
    let row = row_by_id(c, ORGANIZATION_SELECT, "id", id, || {
        StoreError::not_found("organization", id)
    })
    .await?;
    organization_from(c, &row).await
}

async fn organization_from(c: &mut dyn Conn, r: &Row) -> Result<Organization> {
    let id = r.int(0)?;
    let domains = c
        .query(
            "SELECT domain FROM organization_domains WHERE organization_id = $1 ORDER BY domain",
            params![id],
        )
        .await?;
    Ok(Organization {
        id,
        name: r.text(1)?,
        tier: Tier::parse(&r.text(2)?).map_err(StoreError::corrupt)?,
        contract_value_cents: r.int(3)?,
        domains: domains.iter().map(|d| d.text(0)).collect::<Result<_>>()?,
        notes: r.text(4)?,
        created_at: Millis(r.int(5)?),
        updated_at: Millis(r.int(6)?),
    })
}

async fn load_ticket(c: &mut dyn Conn, id: i64) -> Result<Ticket> {
    let row = row_by_id(c, TICKET_SELECT, "t.id", id, || {
        StoreError::not_found("ticket", TicketRef(id))
    })
    .await?;
    let mut tickets = complete_tickets(c, vec![row]).await?;
    tickets
        .pop()
        .ok_or_else(|| StoreError::not_found("ticket", TicketRef(id)))
}

/// Adds tags and custom field values to ticket rows with two queries for the whole list.
async fn complete_tickets(c: &mut dyn Conn, rows: Vec<Row>) -> Result<Vec<Ticket>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids = rows
        .iter()
        .map(|r| r.int(0))
        .collect::<Result<Vec<i64>>>()?;
    let mut tags: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    let mut q = SqlBuilder::new("SELECT ticket_id, tag FROM ticket_tags WHERE ticket_id IN (");
    q.bind_list(ids.iter().copied())
        .push(") ORDER BY ticket_id, tag");
    let (sql, params) = q.parts();
    for r in c.query(sql, params).await? {
        tags.entry(r.int(0)?).or_default().push(r.text(1)?);
    }
    let mut fields: BTreeMap<i64, BTreeMap<String, Value>> = BTreeMap::new();
    let mut q = SqlBuilder::new(
        "SELECT ticket_id, field_key, value FROM ticket_field_values WHERE ticket_id IN (",
    );
    q.bind_list(ids.iter().copied()).push(")");
    let (sql, params) = q.parts();
    for r in c.query(sql, params).await? {
        fields
            .entry(r.int(0)?)
            .or_default()
            .insert(r.text(1)?, json_text(&r.text(2)?)?);
    }
    rows.iter()
        .map(|row| {
            let id = row.int(0)?;
            ticket_from(
                row,
                tags.remove(&id).unwrap_or_default(),
                fields.remove(&id).unwrap_or_default(),
            )
        })
        .collect()
}

async fn load_message(c: &mut dyn Conn, id: i64) -> Result<Message> {
    let row = row_by_id(c, MESSAGE_SELECT, "id", id, || {
        StoreError::not_found("message", id)
    })
    .await?;
    let mut messages = complete_messages(c, vec![row]).await?;
    messages
        .pop()
        .ok_or_else(|| StoreError::not_found("message", id))
}

/// The attachments of the messages in `rows` (message id first), by message id, in upload
/// order.
async fn attachments_of(c: &mut dyn Conn, rows: &[Row]) -> Result<BTreeMap<i64, Vec<Attachment>>> {
    if rows.is_empty() {
        return Ok(BTreeMap::new());
    }
    let message_ids = rows
        .iter()
        .map(|r| r.int(0))
        .collect::<Result<Vec<i64>>>()?;
    let mut q = SqlBuilder::new(
        "SELECT message_id, id, filename, content_type, size_bytes, content_id, inline, withheld FROM attachments WHERE message_id IN (",
    );
    q.bind_list(message_ids.iter().copied())
        .push(") ORDER BY id");
    let (sql, params) = q.parts();
    let mut attachments: BTreeMap<i64, Vec<Attachment>> = BTreeMap::new();
    for r in c.query(sql, params).await? {
        attachments.entry(r.int(0)?).or_default().push(Attachment {
            id: r.int(1)?,
            filename: r.text(2)?,
            content_type: r.text(3)?,
            size_bytes: r.int(4)?,
            content_id: r.opt_text(5)?,
            inline: r.bool(6)?,
            withheld: r.opt_text(7)?,
        });
    }
    Ok(attachments)
}

async fn complete_messages(c: &mut dyn Conn, rows: Vec<Row>) -> Result<Vec<Message>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut attachments = attachments_of(c, &rows).await?;
    rows.iter()
        .map(|row| {
            let id = row.int(0)?;
            message_from(row, attachments.remove(&id).unwrap_or_default())
        })
        .collect()
}

async fn field_defs(c: &mut dyn Conn) -> Result<Vec<FieldDef>> {
    let rows = c
        .query(
            "SELECT key, label, field_type, options FROM custom_fields ORDER BY id",
            params![],
        )
        .await?;
    rows.iter().map(field_from).collect()
}

async fn ensure_exists(c: &mut dyn Conn, sql: &str, what: &'static str, id: i64) -> Result<()> {
    c.int_opt(sql, params![id])
        .await?
        .map(|_| ())
        .ok_or_else(|| StoreError::not_found(what, id))
}

async fn ensure_agent(c: &mut dyn Conn, id: i64) -> Result<()> {
    ensure_exists(c, "SELECT id FROM agents WHERE id = $1", "agent", id).await
}

async fn ensure_team(c: &mut dyn Conn, id: i64) -> Result<()> {
    ensure_exists(c, "SELECT id FROM teams WHERE id = $1", "team", id).await
}

async fn ensure_organization(c: &mut dyn Conn, id: i64) -> Result<()> {
    ensure_exists(
        c,
        "SELECT id FROM organizations WHERE id = $1",
        "organization",
        id,
    )
    .await
}

async fn ticket_status(c: &mut dyn Conn, ticket_id: i64) -> Result<TicketStatus> {
    let row = c
        .query_opt(
            "SELECT status FROM tickets WHERE id = $1",
            params![ticket_id],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("ticket", TicketRef(ticket_id)))?;
    TicketStatus::parse(&row.text(0)?).map_err(StoreError::corrupt)
}

// ---------------------------------------------------------------------------------------------
// Writes, each run inside one transaction by the backend's write path.

async fn insert_customer(c: &mut dyn Conn, ctx: Ctx, new: NewCustomer) -> Result<i64> {
    let name = contact::validate_name("name", &new.name)?;
    let emails = normalize_emails(&new.emails)?;
    let language = new
        .language
        .as_deref()
        .map(contact::validate_language)
        .transpose()?;
    let time_zone = new
        .time_zone
        .as_deref()
        .map(contact::validate_time_zone)
        .transpose()?;
    new.preferences.validate()?;
    let organization_id = match new.organization_id {
        Some(id) => {
            ensure_organization(c, id).await?;
            Some(id)
        }
        None => match emails.first() {
            Some(email) => organization_for_domain(c, contact::email_domain(email)).await?,
            None => None,
        },
    };
    let row = c
        .query_one(
            "INSERT INTO customers (name, organization_id, phone, phone_key, language, time_zone, preferences, notes, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
            params![&name, organization_id, &new.phone, phone_key(&new.phone), language, time_zone,
                    to_json(&new.preferences), &new.notes, ctx.at.0],
        )
        .await?;
    let id = row.int(0)?;
    insert_emails(c, id, &emails).await?;
    append_event(
        c,
        ctx,
        EventKind::CustomerCreated,
        None,
        "customer",
        id,
        json!({"name": name, "emails": emails}),
    )
    .await?;
    Ok(id)
}

/// The key a customer's number is found by (`rapport_core::phone::match_key`).
fn phone_key(phone: &Option<String>) -> Option<String> {
    phone.as_deref().and_then(rapport_core::phone::match_key)
}

fn normalize_emails(raw: &[String]) -> Result<Vec<String>> {
    let mut emails: Vec<String> = Vec::with_capacity(raw.len());
    for (i, e) in raw.iter().enumerate() {
        let email = contact::normalize_email(&format!("emails[{i}]"), e)?;
        if !emails.contains(&email) {
            emails.push(email);
        }
    }
    Ok(emails)
}

async fn insert_emails(c: &mut dyn Conn, customer_id: i64, emails: &[String]) -> Result<()> {
    for (i, email) in emails.iter().enumerate() {
        c.execute(
            "INSERT INTO customer_emails (email, customer_id, is_primary) VALUES ($1, $2, $3)",
            params![email, customer_id, i == 0],
        )
        .await
        .map_err(|e| {
            e.conflict_or(|| format!("the email address {email} belongs to another customer"))
        })?;
    }
    Ok(())
}

async fn organization_for_domain(c: &mut dyn Conn, domain: &str) -> Result<Option<i64>> {
    c.int_opt(
        "SELECT organization_id FROM organization_domains WHERE domain = $1",
        params![domain],
    )
    .await
}

/// The lock under which a customer with this address is looked up and created.
fn customer_email_key(email: &str) -> String {
    format!("customer-email:{email}")
}

/// The customer a ticket is from: the known customer named by id, or the customer with this
/// address, created (named after the address if no name is given) when we have never heard
/// from them.
async fn find_or_create_customer(
    c: &mut dyn Conn,
    ctx: Ctx,
    requester: &Requester,
) -> Result<CustomerSummary> {
    if let Some(id) = requester.customer_id {
        if !requester.email.is_empty() {
            return Err(Invalid::new(
                "customer.email",
                "give either a known customer's id or an address, not both",
            )
            .into());
        }
        return customer_by_id(c, id).await;
    }
    let email = contact::normalize_email("customer.email", &requester.email)?;
    if let Some(known) = customer_with_email(c, &email).await? {
        return Ok(known);
    }
    // Only a new address needs the lock: concurrent requests creating the same customer take
    // turns and the later ones find the first's. (Holding it for known customers made one
    // customer's simultaneous tickets queue through their whole transactions.)
    c.serialize_on(&customer_email_key(&email)).await?;
    if let Some(known) = customer_with_email(c, &email).await? {
        return Ok(known);
    }
    let name = match requester.name.as_deref().map(str::trim) {
        Some(n) if !n.is_empty() => contact::validate_name("customer.name", n)?,
        _ => email.split('@').next().unwrap_or("customer").to_string(),
    };
    let new = NewCustomer {
        name: name.clone(),
        emails: vec![email.clone()],
        ..NewCustomer::default()
    };
    let id = insert_customer(c, ctx, new).await?;
    Ok(CustomerSummary {
        id,
        name,
        email: Some(email),
    })
}

/// A customer's id, name and primary address (`c` is the customer row).
const CUSTOMER_SUMMARY: &str = "SELECT c.id, c.name, (SELECT p.email FROM customer_emails p \
     WHERE p.customer_id = c.id ORDER BY p.is_primary DESC, p.email LIMIT 1)";

fn customer_summary(r: &Row) -> Result<CustomerSummary> {
    Ok(CustomerSummary {
        id: r.int(0)?,
        name: r.text(1)?,
        email: r.opt_text(2)?,
    })
}

async fn customer_by_id(c: &mut dyn Conn, id: i64) -> Result<CustomerSummary> {
    let sql = format!("{CUSTOMER_SUMMARY} FROM customers c WHERE c.id = $1");
    let row = c.query_opt(&sql, params![id]).await?;
    customer_summary(&row.ok_or_else(|| StoreError::not_found("customer", id))?)
}

async fn customer_with_email(c: &mut dyn Conn, email: &str) -> Result<Option<CustomerSummary>> {
    let sql = format!(
        "{CUSTOMER_SUMMARY} FROM customer_emails e JOIN customers c ON c.id = e.customer_id \
         WHERE e.email = $1"
    );
    let known = c.query_opt(&sql, params![email]).await?;
    known.as_ref().map(customer_summary).transpose()
}

async fn inbox_for(c: &mut dyn Conn, name: Option<&str>) -> Result<(i64, Option<i64>)> {
    let row = match name {
        Some(name) => {
            c.query_opt(
                "SELECT id, team_id FROM inboxes WHERE lower(name) = lower($1)",
                params![name],
            )
            .await?
        }
        None => {
            c.query_opt(
                "SELECT id, team_id FROM inboxes ORDER BY id LIMIT 1",
                params![],
            )
            .await?
        }
    };
    match (row, name) {
        (Some(r), _) => Ok((r.int(0)?, r.opt_int(1)?)),
        (None, Some(n)) => Err(Invalid::new("inbox", format!("no inbox is named '{n}'")).into()),
        (None, None) => Err(StoreError::Conflict(
            "there is no inbox yet; create one first".into(),
        )),
    }
}

async fn set_tags(c: &mut dyn Conn, ticket_id: i64, tags: &[String]) -> Result<()> {
    c.execute(
        "DELETE FROM ticket_tags WHERE ticket_id = $1",
        params![ticket_id],
    )
    .await?;
    add_tags(c, ticket_id, tags).await
}

async fn add_tags(c: &mut dyn Conn, ticket_id: i64, tags: &[String]) -> Result<()> {
    for tag in tags {
        c.execute(
            "INSERT INTO ticket_tags (ticket_id, tag) VALUES ($1, $2)",
            params![ticket_id, tag],
        )
        .await?;
    }
    Ok(())
}

async fn set_field_value(c: &mut dyn Conn, ticket_id: i64, key: &str, value: &Value) -> Result<()> {
    if value.is_null() {
        c.execute(
            "DELETE FROM ticket_field_values WHERE ticket_id = $1 AND field_key = $2",
            params![ticket_id, key],
        )
        .await?;
    } else {
        c.execute(
            "INSERT INTO ticket_field_values (ticket_id, field_key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (ticket_id, field_key) DO UPDATE SET value = excluded.value",
            params![ticket_id, key, value.to_string()],
        )
        .await?;
    }
    Ok(())
}

fn status_times(status: TicketStatus, at: Millis) -> (Option<i64>, Option<i64>) {
    match status {
        TicketStatus::Solved => (Some(at.0), None),
        TicketStatus::Closed => (Some(at.0), Some(at.0)),
        _ => (None, None),
    }
}

async fn insert_ticket(
    c: &mut dyn Conn,
    ctx: Ctx,
    new: NewTicket,
    idem: Option<Idempotency>,
) -> Result<Created<Ticket>> {
    if let Some(id) = replayed_id(c, &idem, "ticket").await? {
        return Ok(Created {
            value: load_ticket(c, id).await?,
            replayed: true,
        });
    }
    let subject = validate_subject(&new.subject)?;
    validate_body("message.body", &new.body)?;
    let tags = normalize_tags(&new.tags)?;
    let fields = if new.custom_fields.is_empty() {
        Vec::new()
    } else {
        check_values(&field_defs(c).await?, &new.custom_fields)?
    };
    let (inbox_id, inbox_team) = inbox_for(c, new.inbox.as_deref()).await?;
    if let Some(id) = new.assignee_id {
        ensure_agent(c, id).await?;
    }
    if let Some(id) = new.team_id {
        ensure_team(c, id).await?;
    }
    let team_id = new.team_id.or(inbox_team);
    let customer = find_or_create_customer(c, ctx, &new.requester).await?;
    let customer_id = customer.id;
    let (solved_at, closed_at) = status_times(new.status, ctx.at);
    let row = c
        .query_one(
            "INSERT INTO tickets (subject, status, priority, channel, customer_id, inbox_id, assignee_id, team_id, \
             created_at, updated_at, solved_at, closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11) RETURNING id",
            params![
                &subject,
                new.status.as_str(),
                new.priority.as_str(),
                new.channel.as_str(),
                customer_id,
                inbox_id,
                new.assignee_id,
                team_id,
                ctx.at.0,
                solved_at,
                closed_at
            ],
        )
        .await?;
    let id = row.int(0)?;
    add_tags(c, id, &tags).await?;
    for (key, value) in &fields {
        set_field_value(c, id, key, value).await?;
    }
    c.touch_search(id);
    append_event(
        c,
        ctx,
        EventKind::TicketCreated,
        Some(id),
        "ticket",
        id,
        json!({"subject": subject, "status": new.status, "priority": new.priority, "channel": new.channel,
               "customer_id": customer_id, "inbox_id": inbox_id, "assignee_id": new.assignee_id,
               "team_id": team_id, "tags": tags}),
    )
    .await?;
    let first = NewMessage {
        kind: MessageKind::Customer,
        channel: new.channel,
        body: new.body,
        send_email: false,
        attachments: Vec::new(),
    };
    let first_id = insert_message_row(c, ctx, id, Actor::customer(customer_id), &first).await?;
    let first_body = first.body;
    remember_key(c, &idem, "ticket", id, ctx.at).await?;
    // Everything stored is known here, so the ticket is built rather than read back (this is
    // the hottest write; the store tests check it equals what a read returns).
    let mut sorted_tags = tags;
    sorted_tags.sort();
    let ticket = Ticket {
        id,
        reference: TicketRef(id).to_string(),
        subject,
        status: new.status,
        priority: new.priority,
        channel: new.channel,
        customer,
        inbox_id,
        assignee_id: new.assignee_id,
        team_id,
        tags: sorted_tags,
        custom_fields: fields.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        created_at: ctx.at,
        updated_at: ctx.at,
        solved_at: solved_at.map(Millis),
        closed_at: closed_at.map(Millis),
    };
    sla::start_clocks(c, ctx, &ticket).await?;
    let system = Ctx {
        actor: Actor::SYSTEM,
        ..ctx
    };
    let irate = routing::on_customer_message(c, ctx, id, first_id, &first_body).await?;
    let routed = ticket.assignee_id.is_none() && routing::route_ticket(c, system, id).await?;
    let ticket = if irate || routed {
        load_ticket(c, id).await?
    } else {
        ticket
    };
    Ok(Created {
        value: ticket,
        replayed: false,
    })
}

async fn insert_message_row(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    author: Actor,
    new: &NewMessage,
) -> Result<i64> {
    let (agent_id, customer_id) = match author.kind {
        ActorKind::Agent => (author.id, None),
        ActorKind::Customer => (None, author.id),
        ActorKind::System => (None, None),
    };
    let row = c
        .query_one(
            "INSERT INTO messages (ticket_id, kind, channel, author_agent_id, author_customer_id, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            params![ticket_id, new.kind.as_str(), new.channel.as_str(), agent_id, customer_id, &new.body, ctx.at.0],
        )
        .await?;
    let id = row.int(0)?;
    c.touch_search(ticket_id);
    append_event(
        c,
        ctx,
        EventKind::MessageAdded,
        Some(ticket_id),
        "message",
        id,
        json!({"kind": new.kind, "public": new.kind.is_public(), "channel": new.channel, "author": author}),
    )
    .await?;
    Ok(id)
}

/// Writers of one ticket's messages take turns, so its messages commit in id order. On
/// PostgreSQL ids are taken at insert: without this a later id could commit first, and a reader
/// following a conversation by id (the chat hub, a widget resuming after its last seq) would
/// pass over the earlier message for good. SQLite has one writer; nothing to do there.
async fn lock_conversation(c: &mut dyn Conn, ticket_id: i64) -> Result<()> {
    c.serialize_on(&format!("ticket-messages:{ticket_id}"))
        .await
}

async fn insert_message(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    new: NewMessage,
    idem: Option<Idempotency>,
) -> Result<Created<Message>> {
    if let Some(id) = replayed_id(c, &idem, "message").await? {
        return Ok(Created {
            value: load_message(c, id).await?,
            replayed: true,
        });
    }
    validate_body("body", &new.body)?;
    lock_conversation(c, ticket_id).await?;
    let status = ticket_status(c, ticket_id).await?;
    let next =
        status_after_message(status, new.kind).map_err(|e| StoreError::Conflict(e.problem))?;
    let id = insert_message_row(c, ctx, ticket_id, ctx.actor, &new).await?;
    email::insert_attachments(c, ctx, id, &new.attachments).await?;
    if new.kind == MessageKind::Note {
        web::record_mentions(c, ctx, ticket_id, id, &new.body).await?;
    }
    if next != status {
        write_status(c, ctx, ticket_id, status, next).await?;
    }
    // A chat conversation's replies are emailed by its own rule (when the visitor is away).
    if new.kind == MessageKind::Reply
        && !chat::after_reply(c, ctx, ticket_id, id).await?
        && new.send_email
    {
        email::queue_reply(c, ctx, ticket_id, id).await?;
    }
    match new.kind {
        MessageKind::Customer => {
            sla::on_customer_message(c, ctx, ticket_id, id, &new.body, status).await?;
            routing::on_customer_message(c, ctx, ticket_id, id, &new.body).await?;
        }
        MessageKind::Reply => {
            sla::on_ticket_event(c, ctx, ticket_id, sla::SlaEvent::PublicReply).await?
        }
        _ => {}
    }
    // Only a public reply touches first_reply_at: SQLite rewrites an index whenever its
    // column is SET, changed or not.
    let touch = if new.kind == MessageKind::Reply {
        "UPDATE tickets SET updated_at = $1, first_reply_at = COALESCE(first_reply_at, $1) WHERE id = $2"
    } else {
        "UPDATE tickets SET updated_at = $1 WHERE id = $2"
    };
    c.execute(touch, params![ctx.at.0, ticket_id]).await?;
    remember_key(c, &idem, "message", id, ctx.at).await?;
    Ok(Created {
        value: load_message(c, id).await?,
        replayed: false,
    })
}

async fn write_status(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    before: TicketStatus,
    after: TicketStatus,
) -> Result<()> {
    let (solved_at, closed_at) = status_times(after, ctx.at);
    c.execute(
        "UPDATE tickets SET status = $1, solved_at = CASE WHEN $2 IS NULL THEN NULL ELSE COALESCE(solved_at, $2) END, \
         closed_at = $3 WHERE id = $4",
        params![after.as_str(), solved_at, closed_at, ticket_id],
    )
    .await?;
    if before == TicketStatus::Solved && after != TicketStatus::Closed {
        // Reopened: whatever resolved it (an honest no) no longer does.
        c.execute(
            "UPDATE tickets SET resolution = NULL WHERE id = $1",
            params![ticket_id],
        )
        .await?;
    }
    let change = Change::new("status", before, after);
    append_event(
        c,
        ctx,
        EventKind::TicketChanged,
        Some(ticket_id),
        "ticket",
        ticket_id,
        to_value(&change),
    )
    .await?;
    sla::on_ticket_event(c, ctx, ticket_id, sla::SlaEvent::Status(after)).await
}

async fn apply_ticket_patch(
    c: &mut dyn Conn,
    ctx: Ctx,
    id: i64,
    patch: TicketPatch,
) -> Result<Ticket> {
    let ticket = load_ticket(c, id).await?;
    let current = TicketState {
        subject: ticket.subject.clone(),
        status: ticket.status,
        priority: ticket.priority,
        assignee_id: ticket.assignee_id,
        team_id: ticket.team_id,
        tags: ticket.tags.clone(),
        custom_fields: ticket.custom_fields.clone(),
    };
    let defs = field_defs(c).await?;
    let (next, changes) = plan_update(&current, &patch, &defs)?;
    if changes.is_empty() {
        return Ok(ticket);
    }
    if let Some(agent) = next.assignee_id.filter(|a| Some(*a) != current.assignee_id) {
        ensure_agent(c, agent).await?;
    }
    if let Some(team) = next.team_id.filter(|t| Some(*t) != current.team_id) {
        ensure_team(c, team).await?;
    }
    // One owner: a ticket moving away from its owner or team is a transfer, with a reason.
    let owner_moved = current.assignee_id.is_some() && next.assignee_id != current.assignee_id;
    let team_moved = current.team_id.is_some() && next.team_id != current.team_id;
    if owner_moved || team_moved {
        routing::record_transfer(
            c,
            ctx,
            id,
            (current.assignee_id, current.team_id),
            (next.assignee_id, next.team_id),
            patch.transfer_reason.as_deref(),
        )
        .await?;
    }
    for change in &changes {
        match change.field.as_str() {
            "status" => {
                write_status(c, ctx, id, current.status, next.status).await?;
                continue;
            }
            "subject" => {
                c.execute(
                    "UPDATE tickets SET subject = $1 WHERE id = $2",
                    params![&next.subject, id],
                )
                .await?;
                c.touch_search(id);
            }
            "priority" => {
                c.execute(
                    "UPDATE tickets SET priority = $1 WHERE id = $2",
                    params![next.priority.as_str(), id],
                )
                .await?;
            }
            "assignee_id" => {
                c.execute(
                    "UPDATE tickets SET assignee_id = $1 WHERE id = $2",
                    params![next.assignee_id, id],
                )
                .await?;
            }
            "team_id" => {
                c.execute(
                    "UPDATE tickets SET team_id = $1 WHERE id = $2",
                    params![next.team_id, id],
                )
                .await?;
            }
            "tags" => set_tags(c, id, &next.tags).await?,
            field => {
                let key = field.trim_start_matches("custom_fields.");
                set_field_value(c, id, key, &change.after).await?;
            }
        }
        append_event(
            c,
            ctx,
            EventKind::TicketChanged,
            Some(id),
            "ticket",
            id,
            to_value(change),
        )
        .await?;
    }
    c.execute(
        "UPDATE tickets SET updated_at = $1 WHERE id = $2",
        params![ctx.at.0, id],
    )
    .await?;
    // What SLA policy applies depends on these.
    if changes.iter().any(|ch| {
        matches!(ch.field.as_str(), "priority" | "tags" | "team_id")
            || ch.field.starts_with("custom_fields.")
    }) {
        sla::on_ticket_event(c, ctx, id, sla::SlaEvent::Reselect).await?;
    }
    load_ticket(c, id).await
}

async fn apply_customer_patch(
    c: &mut dyn Conn,
    ctx: Ctx,
    id: i64,
    patch: CustomerPatch,
) -> Result<Customer> {
    let before = load_customer(c, id).await?;
    let mut after = before.clone();
    if let Some(name) = &patch.name {
        after.name = contact::validate_name("name", name)?;
    }
    if let Some(org) = patch.organization_id {
        if let Some(org_id) = org {
            ensure_organization(c, org_id).await?;
        }
        after.organization_id = org;
    }
    if let Some(phone) = patch.phone {
        after.phone = phone;
    }
    if let Some(language) = patch.language {
        after.language = language
            .as_deref()
            .map(contact::validate_language)
            .transpose()?;
    }
    if let Some(tz) = patch.time_zone {
        after.time_zone = tz.as_deref().map(contact::validate_time_zone).transpose()?;
    }
    if let Some(prefs) = patch.preferences {
        prefs.validate()?;
        after.preferences = prefs;
    }
    if let Some(notes) = patch.notes {
        after.notes = notes;
    }
    if let Some(org_admin) = patch.org_admin {
        after.org_admin = org_admin;
    }
    if let Some(emails) = &patch.emails {
        after.emails = normalize_emails(emails)?;
    }
    let changes = customer_changes(&before, &after);
    if changes.is_empty() {
        return Ok(before);
    }
    c.execute(
        "UPDATE customers SET name = $1, organization_id = $2, phone = $3, phone_key = $4, language = $5, \
         time_zone = $6, preferences = $7, notes = $8, updated_at = $9, org_admin = $10 WHERE id = $11",
        params![
            &after.name,
            after.organization_id,
            &after.phone,
            phone_key(&after.phone),
            &after.language,
            &after.time_zone,
            to_json(&after.preferences),
            &after.notes,
            ctx.at.0,
            after.org_admin,
            id
        ],
    )
    .await?;
    let searchable = after.name != before.name
        || after.organization_id != before.organization_id
        || after.emails != before.emails;
    if searchable {
        // Their tickets are found by the customer's name, addresses and organisation.
        for row in c
            .query("SELECT id FROM tickets WHERE customer_id = $1", params![id])
            .await?
        {
            c.touch_search(row.int(0)?);
        }
    }
    if after.emails != before.emails {
        c.execute(
            "DELETE FROM customer_emails WHERE customer_id = $1",
            params![id],
        )
        .await?;
        insert_emails(c, id, &after.emails).await?;
    }
    for change in &changes {
        append_event(
            c,
            ctx,
            EventKind::CustomerChanged,
            None,
            "customer",
            id,
            to_value(change),
        )
        .await?;
    }
    load_customer(c, id).await
}

fn customer_changes(before: &Customer, after: &Customer) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut diff = |field: &str, b: Value, a: Value| {
        if a != b {
            changes.push(Change {
                field: field.into(),
                before: b,
                after: a,
            });
        }
    };
    diff("name", json!(before.name), json!(after.name));
    diff("emails", json!(before.emails), json!(after.emails));
    diff(
        "organization_id",
        json!(before.organization_id),
        json!(after.organization_id),
    );
    diff("phone", json!(before.phone), json!(after.phone));
    diff("language", json!(before.language), json!(after.language));
    diff("time_zone", json!(before.time_zone), json!(after.time_zone));
    diff(
        "preferences",
        json!(before.preferences),
        json!(after.preferences),
    );
    diff("notes", json!(before.notes), json!(after.notes));
    diff("org_admin", json!(before.org_admin), json!(after.org_admin));
    changes
}

async fn insert_organization(
    c: &mut dyn Conn,
    ctx: Ctx,
    new: NewOrganization,
    idem: Option<Idempotency>,
) -> Result<Created<Organization>> {
    if let Some(id) = replayed_id(c, &idem, "organization").await? {
        return Ok(Created {
            value: load_organization(c, id).await?,
            replayed: true,
        });
    }
    let name = contact::validate_name("name", &new.name)?;
    if new.contract_value_cents < 0 {
        return Err(Invalid::new("contract_value_cents", "must not be negative").into());
    }
    let domains = new
        .domains
        .iter()
        .map(|d| contact::normalize_domain(d))
        .collect::<Result<Vec<_>, _>>()?;
    let row = c
        .query(
            "INSERT INTO organizations (name, tier, contract_value_cents, notes, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            params![&name, new.tier.as_str(), new.contract_value_cents, &new.notes, ctx.at.0],
        )
        .await
        .map_err(|e| e.conflict_or(|| format!("an organization named '{name}' already exists")))?;
    let id = row
        .first()
        .ok_or_else(|| StoreError::Database("no id returned".into()))?
        .int(0)?;
    for domain in &domains {
        c.execute(
            "INSERT INTO organization_domains (domain, organization_id) VALUES ($1, $2)",
            params![domain, id],
        )
        .await
        .map_err(|e| {
            e.conflict_or(|| format!("the domain {domain} belongs to another organization"))
        })?;
    }
    append_event(
        c,
        ctx,
        EventKind::OrganizationCreated,
        None,
        "organization",
        id,
        json!({"name": name, "tier": new.tier, "contract_value_cents": new.contract_value_cents, "domains": domains}),
    )
    .await?;
    remember_key(c, &idem, "organization", id, ctx.at).await?;
    Ok(Created {
        value: load_organization(c, id).await?,
        replayed: false,
    })
}

async fn insert_customer_idem(
    c: &mut dyn Conn,
    ctx: Ctx,
    new: NewCustomer,
    idem: Option<Idempotency>,
) -> Result<Created<Customer>> {
    if let Some(id) = replayed_id(c, &idem, "customer").await? {
        return Ok(Created {
            value: load_customer(c, id).await?,
            replayed: true,
        });
    }
    let id = insert_customer(c, ctx, new).await?;
    remember_key(c, &idem, "customer", id, ctx.at).await?;
    Ok(Created {
        value: load_customer(c, id).await?,
        replayed: false,
    })
}

/// An insert that returns the new id, turning a unique violation into a conflict that says
/// what already exists.
async fn insert_returning_id(
    c: &mut dyn Conn,
    sql: &str,
    params: &[crate::sql::Value],
    exists: impl FnOnce() -> String,
) -> Result<i64> {
    let rows = c
        .query(sql, params)
        .await
        .map_err(|e| e.conflict_or(exists))?;
    rows.first()
        .ok_or_else(|| StoreError::Database("no id returned".into()))?
        .int(0)
}

async fn insert_agent(c: &mut dyn Conn, ctx: Ctx, new: NewAgent) -> Result<Agent> {
    let email = contact::normalize_email("email", &new.email)?;
    let name = contact::validate_name("name", &new.name)?;
    let id = insert_returning_id(
        c,
        "INSERT INTO agents (email, name, role, password_hash, active, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        params![
            &email,
            &name,
            new.role.as_str(),
            &new.password_hash,
            true,
            ctx.at.0
        ],
        || format!("an agent with the email {email} already exists"),
    )
    .await?;
    append_event(
        c,
        ctx,
        EventKind::AgentCreated,
        None,
        "agent",
        id,
        json!({"email": email, "name": name, "role": new.role}),
    )
    .await?;
    load_agent(c, id).await
}

/// `%text%` for LIKE, with the user's `%`, `_` and `\` taken literally.
/// The ids of one page of `filter`'s tickets, newest update first.
fn push_page_of_ids(q: &mut SqlBuilder, filter: &TicketFilter, after: Option<Cursor>, limit: i64) {
    q.push("SELECT t.id");
    push_filtered_tickets(q, filter);
    push_after(q, after, filter.oldest_first);
    q.push(order_by(filter.oldest_first))
        .push(" LIMIT ")
        .bind(limit);
}

/// Ticket lists run by last update, newest first unless asked for the longest waiting.
fn order_by(oldest_first: bool) -> &'static str {
    if oldest_first {
        " ORDER BY t.updated_at, t.id"
    } else {
        " ORDER BY t.updated_at DESC, t.id DESC"
    }
}

/// Keyset paging: tickets after the cursor in the list's order.
fn push_after(q: &mut SqlBuilder, after: Option<Cursor>, oldest_first: bool) {
    if let Some(after) = after {
        let beyond = if oldest_first { " > " } else { " < " };
        q.push(" AND (t.updated_at")
            .push(beyond)
            .bind(after.at)
            .push(" OR (t.updated_at = ")
            .bind(after.at);
        q.push(" AND t.id").push(beyond).bind(after.id).push("))");
    }
}

/// `FROM tickets t … WHERE` the filter: customers join in only for an organisation filter.
fn push_filtered_tickets(q: &mut SqlBuilder, filter: &TicketFilter) {
    q.push(" FROM tickets t");
    if filter.organization_id.is_some() {
        q.push(" JOIN customers c ON c.id = t.customer_id");
    }
    q.push(" WHERE 1 = 1");
    push_ticket_filter(q, filter);
}

/// The view filter as SQL conditions on `t` (tickets) and, for the organisation, `c`
/// (customers); each uses an index that starts with its column.
fn push_ticket_filter(q: &mut SqlBuilder, filter: &TicketFilter) {
    if !filter.statuses.is_empty() {
        q.push(" AND t.status IN (")
            .bind_list(filter.statuses.iter().map(|s| s.as_str()))
            .push(")");
    }
    if !filter.priorities.is_empty() {
        q.push(" AND t.priority IN (")
            .bind_list(filter.priorities.iter().map(|p| p.as_str()))
            .push(")");
    }
    match filter.assignee {
        Some(AssigneeFilter::Unassigned) => {
            q.push(" AND t.assignee_id IS NULL");
        }
        Some(AssigneeFilter::Agent(id)) => {
            q.push(" AND t.assignee_id = ").bind(id);
        }
        None => {}
    }
    if let Some(team) = filter.team_id {
        q.push(" AND t.team_id = ").bind(team);
    }
    if let Some(tag) = &filter.tag {
        q.push(" AND EXISTS (SELECT 1 FROM ticket_tags g WHERE g.ticket_id = t.id AND g.tag = ")
            .bind(tag.clone())
            .push(")");
    }
    if let Some((key, value)) = &filter.field {
        q.push(
            " AND EXISTS (SELECT 1 FROM ticket_field_values f WHERE f.ticket_id = t.id AND f.field_key = ",
        )
        .bind(key.clone())
        .push(" AND f.value = ")
        .bind(value.to_string())
        .push(")");
    }
    if let Some(tier) = filter.tier {
        q.push(
            " AND t.customer_id IN (SELECT cu.id FROM customers cu JOIN organizations o \
             ON o.id = cu.organization_id WHERE o.tier = ",
        )
        .bind(tier.as_str())
        .push(")");
    }
    if let Some(customer) = filter.customer_id {
        q.push(" AND t.customer_id = ").bind(customer);
    }
    if let Some(org) = filter.organization_id {
        q.push(" AND c.organization_id = ").bind(org);
    }
    if let Some(since) = filter.updated_since {
        q.push(" AND t.updated_at >= ").bind(since.0);
    }
    if let Some(before) = filter.unanswered_before {
        q.push(" AND t.first_reply_at IS NULL AND t.status IN ('new', 'open', 'on_hold') AND t.created_at < ")
            .bind(before.0);
    }
    if let Some(ids) = &filter.ticket_ids {
        if ids.is_empty() {
            q.push(" AND 1 = 0");
        } else {
            q.push(" AND t.id IN (").bind_list(ids.clone()).push(")");
        }
    }
}

fn like_contains(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

fn push_search_filters(q: &mut SqlBuilder, filters: &[FilterTerm]) -> Result<()> {
    for term in filters {
        // A negated filter keeps tickets where the condition is false *or unknown* (an
        // unassigned ticket is not assigned to agent 5).
        q.push(if term.exclude {
            " AND NOT COALESCE(("
        } else {
            " AND (("
        });
        match &term.filter {
            Filter::Status(list) => {
                q.push("t.status IN (")
                    .bind_list(list.iter().map(|s| s.as_str()))
                    .push(")");
            }
            Filter::Priority(p) => {
                q.push("t.priority = ").bind(p.as_str());
            }
            Filter::Tag(tag) => {
                q.push("EXISTS (SELECT 1 FROM ticket_tags g WHERE g.ticket_id = t.id AND g.tag = ")
                    .bind(tag)
                    .push(")");
            }
            Filter::Assignee(AssigneeRef::Nobody) => {
                q.push("t.assignee_id IS NULL");
            }
            Filter::Assignee(AssigneeRef::Id(id)) => {
                q.push("t.assignee_id = ").bind(*id);
            }
            Filter::Assignee(AssigneeRef::Email(email)) => {
                q.push("t.assignee_id IN (SELECT id FROM agents WHERE email = ")
                    .bind(email)
                    .push(")");
            }
            Filter::Assignee(AssigneeRef::Me) => {
                return Err(Invalid::new("q", "assignee:me needs to know who is searching").into());
            }
            Filter::Customer(who) if who.contains('@') => {
                q.push("t.customer_id IN (SELECT customer_id FROM customer_emails WHERE email = ")
                    .bind(who)
                    .push(")");
            }
            Filter::Customer(name) => {
                q.push("lower(c.name) LIKE ")
                    .bind(like_contains(name))
                    .push(" ESCAPE '\\'");
            }
            Filter::Organization(name) => {
                q.push(
                    "c.organization_id IN (SELECT id FROM organizations WHERE lower(name) LIKE ",
                );
                q.bind(like_contains(name)).push(" ESCAPE '\\')");
            }
            Filter::Reference(id) => {
                q.push("t.id = ").bind(*id);
            }
            Filter::Created(bound, at) | Filter::Updated(bound, at) => {
                let column = if matches!(term.filter, Filter::Created(..)) {
                    "t.created_at"
                } else {
                    "t.updated_at"
                };
                q.push(column)
                    .push(if *bound == Bound::From { " >= " } else { " < " })
                    .bind(at.0);
            }
        }
        q.push(if term.exclude { "), FALSE)" } else { "))" });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The trait.

impl SqlStore {
    /// Leases due rows of a delivery table with `claim`, once a read says there are any: the
    /// workers poll twice a second on every node, and an idle poll that wrote would also be
    /// announced to every node's live pages.
    async fn claim_deliveries<T, F>(
        &self,
        table: delivery::Deliveries,
        now: Millis,
        claim: F,
    ) -> Result<Vec<T>>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> futures::future::BoxFuture<'c, Result<Vec<T>>>
            + Send
            + 'static,
    {
        if !self
            .read(move |c| Box::pin(delivery::any_due(c, table, now)))
            .await?
        {
            return Ok(Vec::new());
        }
        self.write(claim).await
    }
}

#[async_trait::async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        self.engine_name()
    }

    async fn ping(&self) -> Result<()> {
        self.read(|c| Box::pin(async move { c.query_one("SELECT 1", params![]).await.map(|_| ()) }))
            .await
    }

    async fn close(&self) {
        self.shutdown().await;
    }

    async fn create_agent(&self, ctx: Ctx, new: NewAgent) -> Result<Agent> {
        self.write(move |c| Box::pin(insert_agent(c, ctx, new)))
            .await
    }

    async fn agent(&self, id: i64) -> Result<Agent> {
        self.read(move |c| Box::pin(load_agent(c, id))).await
    }

    async fn agent_login(&self, email: &str) -> Result<Option<AgentLogin>> {
        let email = email.trim().to_lowercase();
        self.read(move |c| {
            Box::pin(async move {
                let mut q = SqlBuilder::new(AGENT_SELECT);
                q.push(" WHERE email = ").bind(email);
                let (sql, params) = q.parts();
                match c.query_opt(sql, params).await? {
                    None => Ok(None),
                    Some(row) => {
                        let teams = agent_team_ids(c, row.int(0)?).await?;
                        Ok(Some(agent_login_from(&row, teams)?))
                    }
                }
            })
        })
        .await
    }

    async fn list_agents(&self) -> Result<Vec<Agent>> {
        self.read(|c| {
            Box::pin(async move {
                let mut q = SqlBuilder::new(AGENT_SELECT);
                q.push(" ORDER BY id");
                let (sql, params) = q.parts();
                let rows = c.query(sql, params).await?;
                let members = team_memberships(c).await?;
                rows.iter()
                    .map(|row| {
                        let id = row.int(0)?;
                        let teams = members
                            .iter()
                            .filter(|(_, a)| *a == id)
                            .map(|(t, _)| *t)
                            .collect();
                        agent_login_from(row, teams).map(|l| l.agent)
                    })
                    .collect()
            })
        })
        .await
    }

    async fn set_agent_password(
        &self,
        ctx: Ctx,
        agent_id: i64,
        password_hash: String,
    ) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                ensure_agent(c, agent_id).await?;
                c.execute(
                    "UPDATE agents SET password_hash = $1, updated_at = $2 WHERE id = $3",
                    params![&password_hash, ctx.at.0, agent_id],
                )
                .await?;
                // Sessions of the old password end with it.
                c.execute(
                    "DELETE FROM sessions WHERE agent_id = $1",
                    params![agent_id],
                )
                .await?;
                append_event(
                    c,
                    ctx,
                    EventKind::AgentPasswordSet,
                    None,
                    "agent",
                    agent_id,
                    json!({}),
                )
                .await
            })
        })
        .await
    }

    async fn create_api_token(
        &self,
        ctx: Ctx,
        agent_id: i64,
        name: &str,
        token_hash: &str,
    ) -> Result<ApiTokenInfo> {
        let name = contact::validate_name("name", name)?;
        let token_hash = token_hash.to_string();
        self.write(move |c| {
            Box::pin(async move {
                ensure_agent(c, agent_id).await?;
                let id = insert_returning_id(
                    c,
                    "INSERT INTO api_tokens (agent_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                    params![agent_id, &name, &token_hash, ctx.at.0],
                    || "this token already exists".into(),
                )
                .await?;
                append_event(c, ctx, EventKind::TokenCreated, None, "agent", agent_id, json!({"token_id": id, "name": name})).await?;
                Ok(ApiTokenInfo { id, agent_id, name, created_at: ctx.at })
            })
        })
        .await
    }

    async fn revoke_api_tokens(&self, ctx: Ctx, agent_id: i64, name: &str) -> Result<u64> {
        let name = name.to_string();
        self.write(move |c| {
            Box::pin(async move {
                Ok(c.execute(
                    "UPDATE api_tokens SET revoked_at = $1 WHERE agent_id = $2 AND name = $3 AND revoked_at IS NULL",
                    params![ctx.at.0, agent_id, &name],
                )
                .await?)
            })
        })
        .await
    }

    async fn principal_by_token(&self, token_hash: &str) -> Result<Option<Principal>> {
        let token_hash = token_hash.to_string();
        self.read(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT a.id, a.role FROM api_tokens t JOIN agents a ON a.id = t.agent_id \
                         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND a.active = $2",
                        params![&token_hash, true],
                    )
                    .await?;
                match row {
                    Some(r) => Ok(Some(Principal {
                        agent_id: r.int(0)?,
                        role: Role::parse(&r.text(1)?).map_err(StoreError::corrupt)?,
                    })),
                    None => Ok(None),
                }
            })
        })
        .await
    }

    async fn create_session(
        &self,
        id_hash: &str,
        agent_id: i64,
        at: Millis,
        expires_at: Millis,
    ) -> Result<()> {
        let id_hash = id_hash.to_string();
        self.write(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO sessions (id_hash, agent_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                    params![&id_hash, agent_id, at.0, expires_at.0],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn session_agent(&self, id_hash: &str, now: Millis) -> Result<Option<Agent>> {
        let id_hash = id_hash.to_string();
        self.read(move |c| {
            Box::pin(async move {
                let id = c
                    .int_opt(
                        "SELECT a.id FROM sessions s JOIN agents a ON a.id = s.agent_id \
                         WHERE s.id_hash = $1 AND s.expires_at > $2 AND a.active = $3",
                        params![&id_hash, now.0, true],
                    )
                    .await?;
                match id {
                    Some(id) => Ok(Some(load_agent(c, id).await?)),
                    None => Ok(None),
                }
            })
        })
        .await
    }

    async fn delete_session(&self, id_hash: &str) -> Result<()> {
        let id_hash = id_hash.to_string();
        self.write(move |c| {
            Box::pin(async move {
                c.execute("DELETE FROM sessions WHERE id_hash = $1", params![&id_hash])
                    .await?;
                Ok(())
            })
        })
        .await
    }

    async fn create_team(&self, ctx: Ctx, name: &str, description: &str) -> Result<Team> {
        let name = contact::validate_name("name", name)?;
        let description = description.trim().to_string();
        self.write(move |c| {
            Box::pin(async move {
                let id = insert_returning_id(
                    c,
                    "INSERT INTO teams (name, description, created_at) VALUES ($1, $2, $3) RETURNING id",
                    params![&name, &description, ctx.at.0],
                    || format!("a team named '{name}' already exists"),
                )
                .await?;
                append_event(c, ctx, EventKind::TeamCreated, None, "team", id, json!({"name": name})).await?;
                Ok(Team { id, name, description, member_ids: Vec::new(), created_at: ctx.at, routing: Default::default() })
            })
        })
        .await
    }

    async fn add_team_member(&self, ctx: Ctx, team_id: i64, agent_id: i64) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                ensure_team(c, team_id).await?;
                ensure_agent(c, agent_id).await?;
                let added = c
                    .execute(
                        "INSERT INTO team_members (team_id, agent_id) VALUES ($1, $2) ON CONFLICT (team_id, agent_id) DO NOTHING",
                        params![team_id, agent_id],
                    )
                    .await?;
                if added == 0 {
                    return Ok(());
                }
                append_event(c, ctx, EventKind::TeamMemberAdded, None, "team", team_id, json!({"agent_id": agent_id})).await
            })
        })
        .await
    }

    async fn list_teams(&self) -> Result<Vec<Team>> {
        self.read(|c| Box::pin(load_teams(c))).await
    }

    async fn create_inbox(
        &self,
        ctx: Ctx,
        name: &str,
        address: &str,
        team_id: Option<i64>,
        mut settings: InboxPatch,
    ) -> Result<Inbox> {
        let name = contact::validate_name("name", name)?;
        let address = contact::normalize_email("address", address)?;
        email::check_inbox_patch(&mut settings)?;
        self.write(move |c| {
            Box::pin(async move {
                let inbox = email::insert_inbox(c, ctx, name, address, team_id).await?;
                if settings.is_empty() {
                    return Ok(inbox);
                }
                email::update_inbox(c, ctx, inbox.id, settings).await
            })
        })
        .await
    }

    async fn list_inboxes(&self) -> Result<Vec<Inbox>> {
        self.read(|c| Box::pin(email::list_inboxes(c))).await
    }

    async fn inbox(&self, id: i64) -> Result<Inbox> {
        self.read(move |c| Box::pin(email::load_inbox(c, id))).await
    }

    async fn update_inbox(&self, ctx: Ctx, id: i64, mut patch: InboxPatch) -> Result<Inbox> {
        email::check_inbox_patch(&mut patch)?;
        self.write(move |c| Box::pin(email::update_inbox(c, ctx, id, patch)))
            .await
    }

    async fn inbox_by_address(&self, address: &str) -> Result<Option<Inbox>> {
        let address = address.trim().to_lowercase();
        self.read(move |c| Box::pin(async move { email::inbox_for_address(c, &address).await }))
            .await
    }

    async fn inbox_by_name(&self, name: &str) -> Result<Option<Inbox>> {
        let name = name.to_string();
        self.read(move |c| Box::pin(async move { email::inbox_by_name(c, &name).await }))
            .await
    }

    async fn inbox_templates(&self, inbox_id: i64) -> Result<Vec<InboxTemplate>> {
        self.read(move |c| Box::pin(email::inbox_templates(c, inbox_id)))
            .await
    }

    async fn set_inbox_template(&self, ctx: Ctx, template: InboxTemplate) -> Result<InboxTemplate> {
        self.write(move |c| Box::pin(email::set_inbox_template(c, ctx, template)))
            .await
    }

    async fn ingest_email(&self, ctx: Ctx, mail: InboundEmail) -> Result<Ingested> {
        self.write(move |c| Box::pin(email::ingest(c, ctx, mail)))
            .await
    }

    async fn quarantine_email(&self, ctx: Ctx, mail: InboundEmail, reason: String) -> Result<i64> {
        self.write(move |c| Box::pin(email::quarantine(c, ctx, mail, reason)))
            .await
    }

    async fn list_unfiled_emails(&self, page: PageRequest) -> Result<Page<UnfiledEmail>> {
        self.read(move |c| Box::pin(email::list_unfiled(c, page)))
            .await
    }

    async fn raw_email(&self, id: i64) -> Result<Vec<u8>> {
        self.read(move |c| Box::pin(email::raw_email(c, id))).await
    }

    async fn attachment(&self, id: i64) -> Result<(Attachment, Option<Vec<u8>>)> {
        self.read(move |c| Box::pin(email::attachment(c, id))).await
    }

    async fn claim_outbox(
        &self,
        now: Millis,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxItem>> {
        let limit = i64::from(limit.max(1));
        self.claim_deliveries(delivery::Deliveries::Outbox, now, move |c| {
            Box::pin(email::claim_outbox(c, now, lease_ms, limit))
        })
        .await
    }

    async fn outbox_composed(&self, id: i64, raw: Vec<u8>) -> Result<()> {
        self.write(move |c| Box::pin(email::outbox_composed(c, id, raw)))
            .await
    }

    async fn outbox_attempted(&self, id: i64, at: Millis, result: OutboxResult) -> Result<()> {
        self.write(move |c| {
            Box::pin(delivery::record_attempt(
                c,
                delivery::Deliveries::Outbox,
                id,
                at,
                result,
            ))
        })
        .await
    }

    async fn ticket_emails(&self, ticket_id: i64) -> Result<Vec<OutboundEmail>> {
        self.read(move |c| Box::pin(email::ticket_emails(c, ticket_id)))
            .await
    }

    async fn create_custom_field(&self, ctx: Ctx, def: FieldDef) -> Result<FieldDef> {
        FieldDef::validate_key(&def.key)?;
        let label = contact::validate_name("label", &def.label)?;
        if def.field_type == FieldType::Dropdown && def.options.is_empty() {
            return Err(Invalid::new("options", "a dropdown needs at least one option").into());
        }
        let def = FieldDef { label, ..def };
        self.write(move |c| {
            Box::pin(async move {
                let id = insert_returning_id(
                    c,
                    "INSERT INTO custom_fields (key, label, field_type, options, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    params![&def.key, &def.label, def.field_type.as_str(), to_json(&def.options), ctx.at.0],
                    || format!("a custom field with the key '{}' already exists", def.key),
                )
                .await?;
                append_event(c, ctx, EventKind::FieldCreated, None, "custom_field", id, serde_json::to_value(&def).unwrap_or(Value::Null))
                    .await?;
                Ok(def)
            })
        })
        .await
    }

    async fn list_custom_fields(&self) -> Result<Vec<FieldDef>> {
        self.read(|c| Box::pin(field_defs(c))).await
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_string();
        self.read(move |c| {
            Box::pin(async move {
                match c
                    .query_opt("SELECT value FROM settings WHERE key = $1", params![&key])
                    .await?
                {
                    Some(r) => Ok(Some(r.text(0)?)),
                    None => Ok(None),
                }
            })
        })
        .await
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        let (key, value) = (key.to_string(), value.to_string());
        self.write(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![&key, &value],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn init_setting(&self, key: &str, value: &str) -> Result<String> {
        let (key, value) = (key.to_string(), value.to_string());
        self.write(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                    params![&key, &value],
                )
                .await?;
                c.query_one("SELECT value FROM settings WHERE key = $1", params![&key])
                    .await?
                    .text(0)
            })
        })
        .await
    }

    async fn create_organization(
        &self,
        ctx: Ctx,
        new: NewOrganization,
        idem: Option<Idempotency>,
    ) -> Result<Created<Organization>> {
        self.write(move |c| Box::pin(insert_organization(c, ctx, new, idem)))
            .await
    }

    async fn organization(&self, id: i64) -> Result<Organization> {
        self.read(move |c| Box::pin(load_organization(c, id))).await
    }

    async fn list_organizations(&self, page: PageRequest) -> Result<Page<Organization>> {
        let limit = page.clamped_limit();
        let after = page.after.map_or(0, |cur| cur.id);
        self.read(move |c| {
            Box::pin(async move {
                let mut q = SqlBuilder::new(ORGANIZATION_SELECT);
                q.push(" WHERE id > ")
                    .bind(after)
                    .push(" ORDER BY id LIMIT ")
                    .bind(limit + 1);
                let (sql, params) = q.parts();
                let rows = c.query(sql, params).await?;
                let mut items = Vec::with_capacity(rows.len());
                for row in &rows {
                    items.push(organization_from(c, row).await?);
                }
                Ok(page_of(items, limit, |o| Cursor { at: 0, id: o.id }))
            })
        })
        .await
    }

    async fn create_customer(
        &self,
        ctx: Ctx,
        new: NewCustomer,
        idem: Option<Idempotency>,
    ) -> Result<Created<Customer>> {
        self.write(move |c| Box::pin(insert_customer_idem(c, ctx, new, idem)))
            .await
    }

    async fn customer(&self, id: i64) -> Result<Customer> {
        self.read(move |c| Box::pin(load_customer(c, id))).await
    }

    async fn list_customers(
        &self,
        filter: &CustomerFilter,
        page: PageRequest,
    ) -> Result<Page<Customer>> {
        let limit = page.clamped_limit();
        let mut q = SqlBuilder::new(CUSTOMER_SELECT);
        q.push(" WHERE 1 = 1");
        if let Some(after) = page.after {
            q.push(" AND id < ").bind(after.id);
        }
        if let Some(org) = filter.organization_id {
            q.push(" AND organization_id = ").bind(org);
        }
        if let Some(email) = &filter.email {
            q.push(" AND id IN (SELECT customer_id FROM customer_emails WHERE email = ")
                .bind(email.trim().to_lowercase())
                .push(")");
        }
        q.push(" ORDER BY id DESC LIMIT ").bind(limit + 1);
        self.read(move |c| {
            Box::pin(async move {
                let (sql, params) = q.parts();
                let rows = c.query(sql, params).await?;
                let mut items = Vec::with_capacity(rows.len());
                for row in &rows {
                    let emails = customer_emails(c, row.int(0)?).await?;
                    items.push(customer_from(row, emails)?);
                }
                Ok(page_of(items, limit, |cu| Cursor { at: 0, id: cu.id }))
            })
        })
        .await
    }

    async fn update_customer(&self, ctx: Ctx, id: i64, patch: CustomerPatch) -> Result<Customer> {
        self.write(move |c| Box::pin(apply_customer_patch(c, ctx, id, patch)))
            .await
    }

    async fn create_ticket(
        &self,
        ctx: Ctx,
        new: NewTicket,
        idem: Option<Idempotency>,
    ) -> Result<Created<Ticket>> {
        self.write(move |c| Box::pin(insert_ticket(c, ctx, new, idem)))
            .await
    }

    async fn import_tickets(&self, ctx: Ctx, tickets: Vec<ImportTicket>) -> Result<Vec<i64>> {
        self.write(move |c| Box::pin(import::import_tickets(c, ctx, tickets)))
            .await
    }

    async fn ticket(&self, id: i64) -> Result<Ticket> {
        self.read(move |c| Box::pin(load_ticket(c, id))).await
    }

    async fn list_tickets(&self, filter: &TicketFilter, page: PageRequest) -> Result<Page<Ticket>> {
        let limit = page.clamped_limit();
        let filter = filter.clone();
        self.read(move |c| {
            Box::pin(async move {
                let filter = &web::resolve_mentions(c, filter).await?;
                let mut q = SqlBuilder::new(TICKET_SELECT);
                if filter.statuses.len() > 1 {
                    // A view of several statuses is the newest of each status's own newest: every
                    // branch walks an index in order and stops at the page size, where one query with
                    // `status IN (…)` would sort every matching ticket first.
                    q.push(" WHERE t.id IN (");
                    for (i, status) in filter.statuses.iter().enumerate() {
                        if i > 0 {
                            q.push(" UNION ALL ");
                        }
                        let one = TicketFilter {
                            statuses: vec![*status],
                            ..filter.clone()
                        };
                        q.push("SELECT id FROM (");
                        push_page_of_ids(&mut q, &one, page.after, limit + 1);
                        q.push(&format!(") AS s{i}"));
                    }
                    q.push(")");
                } else {
                    q.push(" WHERE 1 = 1");
                    push_ticket_filter(&mut q, filter);
                    push_after(&mut q, page.after, filter.oldest_first);
                }
                q.push(order_by(filter.oldest_first))
                    .push(" LIMIT ")
                    .bind(limit + 1);
                let (sql, params) = q.parts();
                let rows = c.query(sql, params).await?;
                let items = complete_tickets(c, rows).await?;
                Ok(page_of(items, limit, |t| Cursor {
                    at: t.updated_at.0,
                    id: t.id,
                }))
            })
        })
        .await
    }

    async fn update_ticket(&self, ctx: Ctx, id: i64, patch: TicketPatch) -> Result<Ticket> {
        self.write(move |c| Box::pin(apply_ticket_patch(c, ctx, id, patch)))
            .await
    }

    async fn add_message(
        &self,
        ctx: Ctx,
        ticket_id: i64,
        new: NewMessage,
        idem: Option<Idempotency>,
    ) -> Result<Created<Message>> {
        self.write(move |c| Box::pin(insert_message(c, ctx, ticket_id, new, idem)))
            .await
    }

    async fn list_messages(&self, ticket_id: i64, page: PageRequest) -> Result<Page<Message>> {
        let limit = page.clamped_limit();
        let after = page.after.map_or(0, |cur| cur.id);
        self.read(move |c| {
            Box::pin(async move {
                ticket_status(c, ticket_id).await?;
                let mut q = SqlBuilder::new(MESSAGE_SELECT);
                q.push(" WHERE ticket_id = ")
                    .bind(ticket_id)
                    .push(" AND id > ")
                    .bind(after);
                q.push(" ORDER BY id LIMIT ").bind(limit + 1);
                let (sql, params) = q.parts();
                let rows = c.query(sql, params).await?;
                let items = complete_messages(c, rows).await?;
                Ok(page_of(items, limit, |m| Cursor { at: 0, id: m.id }))
            })
        })
        .await
    }

    async fn list_events(&self, ticket_id: i64, page: PageRequest) -> Result<Page<Event>> {
        let limit = page.clamped_limit();
        let after = page.after.map_or(0, |cur| cur.id);
        self.read(move |c| {
            Box::pin(async move {
                ticket_status(c, ticket_id).await?;
                let rows = c
                    .query(
                        "SELECT id, ticket_id, kind, actor_kind, actor_id, subject_type, subject_id, data, created_at FROM events \
                         WHERE ticket_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                        params![ticket_id, after, limit + 1],
                    )
                    .await?;
                let items = rows.iter().map(event_from).collect::<Result<Vec<_>>>()?;
                Ok(page_of(items, limit, |e| Cursor { at: 0, id: e.id }))
            })
        })
        .await
    }

    async fn list_tags(&self) -> Result<Vec<TagCount>> {
        self.read(|c| {
            Box::pin(async move {
                let rows = c
                    .query("SELECT tag, count(*) FROM ticket_tags GROUP BY tag ORDER BY count(*) DESC, tag", params![])
                    .await?;
                rows.iter().map(|r| Ok(TagCount { tag: r.text(0)?, tickets: r.int(1)? })).collect()
            })
        })
        .await
    }

    async fn search_as(
        &self,
        scope: SearchScope,
        query: &SearchQuery,
        limit: u32,
    ) -> Result<Vec<SearchHit>> {
        let limit = PageRequest::first(limit).clamped_limit();
        let query = query.clone();
        self.read(move |c| Box::pin(search::search_tickets(c, query, scope, limit)))
            .await
    }

    async fn record_login_failure(&self, keys: &[String], at: Millis) -> Result<()> {
        let keys = keys.to_vec();
        self.write(move |c| Box::pin(async move { web::record_login_failure(c, &keys, at).await }))
            .await
    }

    async fn login_failures(&self, key: &str, since: Millis) -> Result<i64> {
        let key = key.to_string();
        self.read(move |c| Box::pin(async move { web::login_failures(c, &key, since).await }))
            .await
    }

    async fn clear_login_failures(&self, key: &str) -> Result<()> {
        let key = key.to_string();
        self.write(move |c| {
            Box::pin(async move {
                c.execute("DELETE FROM login_failures WHERE key = $1", params![&key])
                    .await?;
                Ok(())
            })
        })
        .await
    }

    async fn create_portal_link(&self, ctx: Ctx, link: NewPortalLink) -> Result<()> {
        self.write(move |c| Box::pin(web::create_portal_link(c, ctx, link)))
            .await
    }

    async fn portal_link_valid(&self, token_hash: &str, now: Millis) -> Result<bool> {
        let token_hash = token_hash.to_string();
        self.read(move |c| {
            Box::pin(async move {
                Ok(c.int_opt(
                    "SELECT 1 FROM portal_links WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
                    params![&token_hash, now.0],
                )
                .await?
                .is_some())
            })
        })
        .await
    }

    async fn redeem_portal_link(
        &self,
        ctx: Ctx,
        token_hash: &str,
        session: NewSession,
    ) -> Result<Option<Customer>> {
        let token_hash = token_hash.to_string();
        self.write(move |c| {
            Box::pin(async move { web::redeem_portal_link(c, ctx, &token_hash, session).await })
        })
        .await
    }

    async fn portal_session(&self, id_hash: &str, now: Millis) -> Result<Option<Customer>> {
        let id_hash = id_hash.to_string();
        self.read(move |c| Box::pin(async move { web::portal_session(c, &id_hash, now).await }))
            .await
    }

    async fn delete_portal_session(&self, id_hash: &str) -> Result<()> {
        let id_hash = id_hash.to_string();
        self.write(move |c| {
            Box::pin(async move {
                c.execute(
                    "DELETE FROM customer_sessions WHERE id_hash = $1",
                    params![&id_hash],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn count_tickets(&self, filters: &[TicketFilter], cap: u32) -> Result<Vec<i64>> {
        let filters = filters.to_vec();
        self.read(move |c| Box::pin(web::count_tickets(c, filters, cap)))
            .await
    }

    async fn events_since(&self, after: i64, limit: u32) -> Result<Vec<Event>> {
        let limit = i64::from(limit.clamp(1, 1000));
        self.read(move |c| Box::pin(web::events_since(c, after, limit)))
            .await
    }

    async fn events_with_ids(&self, mut ids: Vec<i64>) -> Result<Vec<Event>> {
        ids.truncate(1_000);
        self.read(move |c| Box::pin(async move { web::events_with_ids(c, &ids).await }))
            .await
    }

    async fn update_agent(&self, ctx: Ctx, id: i64, role: Role, active: bool) -> Result<Agent> {
        self.write(move |c| Box::pin(web::update_agent(c, ctx, id, role, active)))
            .await
    }

    async fn list_macros(&self) -> Result<Vec<Macro>> {
        self.read(|c| Box::pin(web::list_macros(c))).await
    }

    async fn macro_by_id(&self, id: i64) -> Result<Macro> {
        self.read(move |c| Box::pin(web::load_macro(c, id))).await
    }

    async fn save_macro(&self, ctx: Ctx, id: Option<i64>, new: NewMacro) -> Result<Macro> {
        self.write(move |c| Box::pin(web::save_macro(c, ctx, id, new)))
            .await
    }

    async fn delete_macro(&self, ctx: Ctx, id: i64) -> Result<()> {
        self.write(move |c| Box::pin(web::delete_macro(c, ctx, id)))
            .await
    }

    async fn list_views(&self, agent_id: i64) -> Result<Vec<SavedView>> {
        self.read(move |c| Box::pin(web::list_views(c, agent_id)))
            .await
    }

    async fn save_view(&self, ctx: Ctx, view: NewView) -> Result<SavedView> {
        self.write(move |c| Box::pin(web::save_view(c, ctx, view)))
            .await
    }

    async fn delete_view(
        &self,
        ctx: Ctx,
        agent_id: i64,
        may_delete_shared: bool,
        id: i64,
    ) -> Result<()> {
        self.write(move |c| Box::pin(web::delete_view(c, ctx, agent_id, may_delete_shared, id)))
            .await
    }

    async fn link_tickets(&self, ctx: Ctx, a: i64, b: i64) -> Result<()> {
        self.write(move |c| Box::pin(web::link_tickets(c, ctx, a, b)))
            .await
    }

    async fn ticket_links(&self, id: i64) -> Result<Vec<TicketLink>> {
        self.read(move |c| Box::pin(web::ticket_links(c, id))).await
    }

    async fn merge_tickets(&self, ctx: Ctx, source: i64, target: i64) -> Result<Ticket> {
        self.write(move |c| Box::pin(web::merge_tickets(c, ctx, source, target)))
            .await
    }

    async fn split_message(&self, ctx: Ctx, message_id: i64) -> Result<Ticket> {
        self.write(move |c| Box::pin(web::split_message(c, ctx, message_id)))
            .await
    }

    async fn agent_totp(&self, agent_id: i64) -> Result<Option<(String, bool)>> {
        self.read(move |c| Box::pin(web::agent_totp(c, agent_id)))
            .await
    }

    async fn set_totp_secret(&self, ctx: Ctx, agent_id: i64, secret: Option<String>) -> Result<()> {
        self.write(move |c| Box::pin(web::set_totp_secret(c, ctx, agent_id, secret)))
            .await
    }

    async fn enable_totp(
        &self,
        ctx: Ctx,
        agent_id: i64,
        recovery_hashes: Vec<String>,
    ) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move { web::enable_totp(c, ctx, agent_id, &recovery_hashes).await })
        })
        .await
    }

    async fn use_recovery_code(&self, ctx: Ctx, agent_id: i64, hash: &str) -> Result<bool> {
        let hash = hash.to_string();
        self.write(move |c| {
            Box::pin(async move { web::use_recovery_code(c, ctx, agent_id, &hash).await })
        })
        .await
    }

    async fn create_login_challenge(
        &self,
        id_hash: &str,
        agent_id: i64,
        expires_at: Millis,
    ) -> Result<()> {
        let id_hash = id_hash.to_string();
        self.write(move |c| {
            Box::pin(async move {
                // Expired challenges are of no use to anyone.
                c.execute("DELETE FROM login_challenges WHERE expires_at < $1", params![expires_at.0 - 3_600_000])
                    .await?;
                c.execute(
                    "INSERT INTO login_challenges (id_hash, agent_id, expires_at) VALUES ($1, $2, $3)",
                    params![&id_hash, agent_id, expires_at.0],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn claim_challenge_attempt(&self, id_hash: &str, now: Millis) -> Result<Option<i64>> {
        let id_hash = id_hash.to_string();
        self.write(move |c| {
            Box::pin(async move { web::claim_challenge_attempt(c, &id_hash, now).await })
        })
        .await
    }

    async fn use_totp_step(&self, agent_id: i64, step: i64) -> Result<bool> {
        self.write(move |c| Box::pin(web::use_totp_step(c, agent_id, step)))
            .await
    }

    async fn delete_login_challenge(&self, id_hash: &str) -> Result<()> {
        let id_hash = id_hash.to_string();
        self.write(move |c| {
            Box::pin(async move {
                c.execute(
                    "DELETE FROM login_challenges WHERE id_hash = $1",
                    params![&id_hash],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn next_ticket_for(&self, agent_id: i64, skip: &[i64]) -> Result<Option<i64>> {
        let skip = skip.to_vec();
        self.read(move |c| Box::pin(async move { web::next_for_agent(c, agent_id, &skip).await }))
            .await
    }

    async fn last_event_id(&self) -> Result<i64> {
        self.read(|c| {
            Box::pin(async move {
                c.query_one("SELECT coalesce(max(id), 0) FROM events", params![])
                    .await?
                    .int(0)
            })
        })
        .await
    }

    async fn last_ticket_event(&self, ticket_id: i64) -> Result<i64> {
        self.read(move |c| Box::pin(web::last_ticket_event(c, ticket_id)))
            .await
    }

    fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }

    async fn broadcast(&self, message: &str) -> Result<()> {
        if message.len() >= crate::postgres::MAX_NOTIFY_BYTES {
            return Err(StoreError::Invalid(rapport_core::Invalid::new(
                "message",
                format!(
                    "a broadcast holds at most {} bytes",
                    crate::postgres::MAX_NOTIFY_BYTES - 1
                ),
            )));
        }
        self.send_broadcast(message).await
    }

    fn broadcasts(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.broadcasts.subscribe()
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: Millis,
        until: Millis,
    ) -> Result<bool> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.write(move |c| {
            Box::pin(async move {
                let held = c
                    .query(
                        "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                         WHERE leases.holder = excluded.holder OR leases.expires_at <= $4 RETURNING holder",
                        params![&name, &holder, until.0, now.0],
                    )
                    .await?;
                Ok(!held.is_empty())
            })
        })
        .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.write(move |c| {
            Box::pin(async move {
                c.execute(
                    "DELETE FROM leases WHERE name = $1 AND holder = $2",
                    params![&name, &holder],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn create_webhook(&self, ctx: Ctx, new: NewWebhook) -> Result<CreatedWebhook> {
        let new = webhooks::validate(new)?;
        self.write(move |c| Box::pin(webhooks::create_webhook(c, ctx, new)))
            .await
    }

    async fn list_webhooks(&self) -> Result<Vec<Webhook>> {
        self.read(|c| Box::pin(webhooks::list_webhooks(c))).await
    }

    async fn delete_webhook(&self, ctx: Ctx, id: i64) -> Result<()> {
        self.write(move |c| Box::pin(webhooks::delete_webhook(c, ctx, id)))
            .await
    }

    async fn claim_webhook_deliveries(
        &self,
        now: Millis,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>> {
        let limit = i64::from(limit.max(1));
        self.claim_deliveries(delivery::Deliveries::Webhooks, now, move |c| {
            Box::pin(webhooks::claim(c, now, lease_ms, limit))
        })
        .await
    }

    async fn webhook_attempted(&self, id: i64, at: Millis, result: OutboxResult) -> Result<()> {
        self.write(move |c| {
            Box::pin(delivery::record_attempt(
                c,
                delivery::Deliveries::Webhooks,
                id,
                at,
                result,
            ))
        })
        .await
    }

    async fn list_calendars(&self) -> Result<Vec<Calendar>> {
        self.read(|c| Box::pin(sla::list_calendars(c))).await
    }

    async fn save_calendar(
        &self,
        ctx: Ctx,
        id: Option<i64>,
        name: String,
        config: rapport_core::calendar::CalendarConfig,
    ) -> Result<Calendar> {
        self.write(move |c| Box::pin(sla::save_calendar(c, ctx, id, name, config)))
            .await
    }

    async fn delete_calendar(&self, ctx: Ctx, id: i64) -> Result<()> {
        self.write(move |c| Box::pin(sla::delete_calendar(c, ctx, id)))
            .await
    }

    async fn list_sla_policies(&self) -> Result<Vec<SlaPolicy>> {
        self.read(|c| Box::pin(sla::list_policies(c))).await
    }

    async fn save_sla_policy(
        &self,
        ctx: Ctx,
        id: Option<i64>,
        new: NewSlaPolicy,
    ) -> Result<SlaPolicy> {
        self.write(move |c| Box::pin(sla::save_policy(c, ctx, id, new)))
            .await
    }

    async fn delete_sla_policy(&self, ctx: Ctx, id: i64) -> Result<()> {
        self.write(move |c| Box::pin(sla::delete_policy(c, ctx, id)))
            .await
    }

    async fn ticket_sla(&self, ticket_id: i64) -> Result<Option<TicketSla>> {
        self.read(move |c| Box::pin(sla::ticket_sla(c, ticket_id)))
            .await
    }

    async fn sla_badges(&self, ticket_ids: &[i64]) -> Result<Vec<SlaBadge>> {
        let ids = ticket_ids.to_vec();
        self.read(move |c| Box::pin(async move { sla::sla_badges(c, &ids).await }))
            .await
    }

    async fn commitments(&self, ticket_id: i64) -> Result<Vec<Commitment>> {
        self.read(move |c| Box::pin(sla::commitments(c, ticket_id)))
            .await
    }

    async fn make_commitment(
        &self,
        ctx: Ctx,
        ticket_id: i64,
        new: NewCommitment,
    ) -> Result<Commitment> {
        self.write(move |c| Box::pin(sla::make_commitment(c, ctx, ticket_id, new)))
            .await
    }

    async fn fulfil_commitment(&self, ctx: Ctx, id: i64) -> Result<Commitment> {
        self.write(move |c| Box::pin(sla::fulfil_commitment(c, ctx, id)))
            .await
    }

    async fn cancel_commitment(&self, ctx: Ctx, id: i64, reason: &str) -> Result<Commitment> {
        let reason = reason.to_string();
        self.write(move |c| {
            Box::pin(async move { sla::cancel_commitment(c, ctx, id, &reason).await })
        })
        .await
    }

    async fn log_call(&self, ctx: Ctx, ticket_id: i64, new: NewCall) -> Result<Call> {
        self.write(move |c| Box::pin(phone::log_call(c, ctx, ticket_id, new)))
            .await
    }

    async fn calls(&self, ticket_id: i64) -> Result<Vec<Call>> {
        self.read(move |c| Box::pin(phone::calls(c, ticket_id)))
            .await
    }

    async fn customer_calls(&self, customer_id: i64) -> Result<Vec<Call>> {
        self.read(move |c| Box::pin(phone::customer_calls(c, customer_id)))
            .await
    }

    async fn ticket_from_call(&self, ctx: Ctx, new: NewCallTicket) -> Result<CallTicket> {
        self.write(move |c| Box::pin(phone::ticket_from_call(c, ctx, new)))
            .await
    }

    async fn customers_by_phone(&self, phone: &str) -> Result<Vec<CustomerSummary>> {
        let phone = phone.to_string();
        self.read(move |c| Box::pin(async move { phone::customers_by_phone(c, &phone).await }))
            .await
    }

    async fn callbacks(&self, ticket_id: i64) -> Result<Vec<Callback>> {
        self.read(move |c| Box::pin(phone::callbacks(c, ticket_id)))
            .await
    }

    async fn schedule_callback(
        &self,
        ctx: Ctx,
        ticket_id: i64,
        phone: &str,
        window: rapport_core::phone::CallbackWindow,
        note: &str,
    ) -> Result<Callback> {
        let (number, note) = (phone.to_string(), note.to_string());
        self.write(move |c| {
            Box::pin(async move {
                phone::schedule_callback(c, ctx, ticket_id, &number, window, &note).await
            })
        })
        .await
    }

    async fn request_callback(
        &self,
        ctx: Ctx,
        request: NewCallbackRequest,
    ) -> Result<CallbackRequested> {
        self.write(move |c| Box::pin(phone::request_callback(c, ctx, request)))
            .await
    }

    async fn cancel_callback(&self, ctx: Ctx, id: i64, reason: &str) -> Result<Callback> {
        let reason = reason.to_string();
        self.write(move |c| {
            Box::pin(async move { phone::cancel_callback(c, ctx, id, &reason).await })
        })
        .await
    }

    async fn callback_queue(
        &self,
        queue: CallbackQueue,
        limit: u32,
    ) -> Result<Vec<QueuedCallback>> {
        self.read(move |c| Box::pin(phone::callback_queue(c, queue, i64::from(limit))))
            .await
    }

    async fn callbacks_due(&self, now: Millis) -> Result<i64> {
        self.read(move |c| Box::pin(phone::callbacks_due(c, now)))
            .await
    }

    async fn scheduler_pass(&self, now: Millis, limit: u32) -> Result<SchedulerPass> {
        self.write(move |c| Box::pin(sla::scheduler_pass(c, now, i64::from(limit))))
            .await
    }

    async fn scheduler_has_work(&self, now: Millis) -> Result<bool> {
        self.read(move |c| Box::pin(sla::scheduler_has_work(c, now)))
            .await
    }

    async fn kept_rates(&self, since: Millis) -> Result<Vec<KeptRate>> {
        self.read(move |c| Box::pin(sla::kept_rates(c, since)))
            .await
    }

    async fn chase_rates(&self, since: Millis) -> Result<Vec<ChaseRate>> {
        self.read(move |c| Box::pin(sla::chase_rates(c, since)))
            .await
    }

    async fn agent_routing(&self, agent_id: i64, now: Millis) -> Result<AgentRouting> {
        self.read(move |c| Box::pin(routing::profile(c, agent_id, now)))
            .await
    }

    async fn list_agent_routing(&self, now: Millis) -> Result<Vec<AgentRouting>> {
        self.read(move |c| Box::pin(routing::profiles(c, None, now)))
            .await
    }

    async fn set_availability(
        &self,
        ctx: Ctx,
        agent_id: i64,
        availability: rapport_core::routing::Availability,
    ) -> Result<AgentRouting> {
        self.write(move |c| Box::pin(routing::set_availability(c, ctx, agent_id, availability)))
            .await
    }

    async fn update_agent_routing(
        &self,
        ctx: Ctx,
        agent_id: i64,
        patch: AgentRoutingPatch,
    ) -> Result<AgentRouting> {
        self.write(move |c| Box::pin(routing::update_agent_routing(c, ctx, agent_id, patch)))
            .await
    }

    async fn update_team_routing(
        &self,
        ctx: Ctx,
        team_id: i64,
        settings: rapport_core::routing::TeamRouting,
    ) -> Result<Team> {
        self.write(move |c| {
            Box::pin(async move {
                routing::update_team_routing(c, ctx, team_id, settings).await?;
                load_teams(c)
                    .await?
                    .into_iter()
                    .find(|t| t.id == team_id)
                    .ok_or_else(|| StoreError::not_found("team", team_id))
            })
        })
        .await
    }

    async fn transfers(&self, ticket_id: i64) -> Result<Vec<Transfer>> {
        self.read(move |c| Box::pin(routing::transfers(c, ticket_id)))
            .await
    }

    async fn create_internal_request(
        &self,
        ctx: Ctx,
        new: NewInternalRequest,
    ) -> Result<InternalRequest> {
        self.write(move |c| Box::pin(routing::create_request(c, ctx, new)))
            .await
    }

    async fn internal_request(&self, id: i64) -> Result<InternalRequest> {
        self.read(move |c| Box::pin(routing::load_request(c, id)))
            .await
    }

    async fn list_internal_requests(
        &self,
        filter: &InternalRequestFilter,
    ) -> Result<Vec<InternalRequest>> {
        let filter = filter.clone();
        self.read(move |c| Box::pin(async move { routing::list_requests(c, &filter).await }))
            .await
    }

    async fn reply_internal_request(
        &self,
        ctx: Ctx,
        id: i64,
        body: &str,
        done: bool,
    ) -> Result<InternalRequest> {
        let body = body.to_string();
        self.write(move |c| {
            Box::pin(async move { routing::reply_request(c, ctx, id, &body, done).await })
        })
        .await
    }

    async fn take_internal_request(&self, ctx: Ctx, id: i64) -> Result<InternalRequest> {
        self.write(move |c| Box::pin(routing::take_request(c, ctx, id)))
            .await
    }

    async fn cancel_internal_request(
        &self,
        ctx: Ctx,
        id: i64,
        reason: &str,
    ) -> Result<InternalRequest> {
        let reason = reason.to_string();
        self.write(move |c| {
            Box::pin(async move { routing::cancel_request(c, ctx, id, &reason).await })
        })
        .await
    }

    async fn refer_ticket(
        &self,
        ctx: Ctx,
        ticket_id: i64,
        body: &str,
        referral: rapport_core::routing::Referral,
    ) -> Result<ReferralRecord> {
        let body = body.to_string();
        self.write(move |c| {
            Box::pin(async move { routing::refer_ticket(c, ctx, ticket_id, &body, referral).await })
        })
        .await
    }

    async fn referral(&self, ticket_id: i64) -> Result<Option<ReferralRecord>> {
        self.read(move |c| Box::pin(routing::referral_of(c, ticket_id)))
            .await
    }

    async fn ticket_tone(&self, ticket_id: i64) -> Result<Vec<MessageTone>> {
        self.read(move |c| Box::pin(routing::ticket_tone(c, ticket_id)))
            .await
    }

    async fn routing_metrics(&self, since: Millis, now: Millis) -> Result<RoutingMetrics> {
        self.read(move |c| Box::pin(routing::routing_metrics(c, since, now)))
            .await
    }

    async fn tone_config(&self) -> Result<rapport_core::tone::ToneConfig> {
        self.read(|c| Box::pin(routing::tone_config(c))).await
    }

    async fn set_tone_config(
        &self,
        config: rapport_core::tone::ToneConfig,
    ) -> Result<rapport_core::tone::ToneConfig> {
        let config = config.validated()?;
        self.set_setting(TONE_SETTING, &to_json(&config)).await?;
        Ok(config)
    }

    async fn silent_no_hours(&self) -> Result<u32> {
        self.read(|c| Box::pin(routing::silent_no_hours(c))).await
    }

    async fn set_silent_no_hours(&self, hours: u32) -> Result<u32> {
        let hours = rapport_core::routing::silent_no_hours(hours)?;
        self.set_setting(SILENT_NO_SETTING, &hours.to_string())
            .await?;
        Ok(hours)
    }

    async fn chat_widget(&self, inbox_id: i64, at: Millis) -> Result<ChatWidget> {
        // Read first: the widget row exists after the first time, and every visitor asks.
        if let Some(widget) = self
            .read(move |c| Box::pin(chat::widget(c, inbox_id)))
            .await?
        {
            return Ok(widget);
        }
        let ctx = Ctx {
            actor: Actor::SYSTEM,
            at,
        };
        self.write(move |c| Box::pin(chat::ensure_widget(c, ctx, inbox_id)))
            .await
    }

    async fn update_chat_widget(
        &self,
        ctx: Ctx,
        inbox_id: i64,
        patch: ChatWidgetPatch,
    ) -> Result<ChatWidget> {
        self.write(move |c| Box::pin(chat::update_widget(c, ctx, inbox_id, patch)))
            .await
    }

    async fn chat_conversation(
        &self,
        visitor: ChatVisitor,
        ticket_id: Option<i64>,
    ) -> Result<Option<ChatConversation>> {
        self.read(move |c| {
            Box::pin(async move { chat::conversation(c, &visitor, ticket_id).await })
        })
        .await
    }

    async fn post_chat_message(&self, ctx: Ctx, post: ChatPost) -> Result<ChatPosted> {
        self.write(move |c| Box::pin(chat::post(c, ctx, post)))
            .await
    }

    async fn chat_messages(
        &self,
        reader: ChatVisitor,
        ticket_id: i64,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ChatMessage>> {
        self.read(move |c| {
            Box::pin(async move {
                chat::conversation(c, &reader, Some(ticket_id)).await?;
                chat::messages(c, ticket_id, after, i64::from(limit.clamp(1, 1_000))).await
            })
        })
        .await
    }

    async fn chat_messages_of(&self, conversations: Vec<(i64, i64)>) -> Result<Vec<ChatMessage>> {
        self.read(move |c| Box::pin(async move { chat::messages_of(c, &conversations).await }))
            .await
    }

    async fn chats_started_from(&self, address: &str, since: Millis) -> Result<i64> {
        let address = address.to_string();
        self.read(move |c| Box::pin(async move { chat::started_from(c, &address, since).await }))
            .await
    }

    async fn mark_chat_presence(&self, ticket_ids: Vec<i64>, until: Millis) -> Result<()> {
        if ticket_ids.is_empty() {
            return Ok(());
        }
        self.write(move |c| {
            Box::pin(async move { chat::mark_present(c, &ticket_ids, until).await })
        })
        .await
    }

    async fn chat_transcript(
        &self,
        ctx: Ctx,
        visitor: ChatVisitor,
        ticket_id: i64,
        email: Option<String>,
    ) -> Result<String> {
        self.write(move |c| {
            Box::pin(async move { chat::transcript(c, ctx, &visitor, ticket_id, email).await })
        })
        .await
    }

    async fn chat_identify(&self, ctx: Ctx, email: &str, name: Option<String>) -> Result<i64> {
        let requester = Requester {
            customer_id: None,
            email: email.to_string(),
            name,
        };
        self.write(move |c| {
            Box::pin(async move { Ok(find_or_create_customer(c, ctx, &requester).await?.id) })
        })
        .await
    }

    async fn chat_queue(&self, agent_id: i64) -> Result<Vec<ChatQueueEntry>> {
        self.read(move |c| Box::pin(chat::queue(c, agent_id, 200)))
            .await
    }

    async fn routing_pass(&self, now: Millis, limit: u32) -> Result<RoutingPass> {
        if !self
            .read(move |c| Box::pin(routing::routing_has_work(c, now)))
            .await?
        {
            return Ok(RoutingPass::default());
        }
        self.write(move |c| Box::pin(routing::routing_pass(c, now, i64::from(limit))))
            .await
    }
}
