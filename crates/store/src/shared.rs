//! The query code both backends share. This file is compiled twice, once inside `sqlite` and
//! once inside `postgres`, where `super::Db` names that backend's database type. Each backend
//! provides the same small set of hooks (`write`, `reader`, `index_text`, `search_hits`), and
//! everything else — SQL identical on both — lives here once.

use super::{Backend, Db, index_text, reindex_subject, serialize_on};
use crate::model::*;
use crate::{Result, Store, StoreError};
use rapport_core::contact::{self, Tier};
use rapport_core::fields::{FieldDef, FieldType, check_values};
use rapport_core::tags::normalize_tags;
use rapport_core::ticket::{status_after_message, validate_body, validate_subject};
use rapport_core::update::{TicketPatch, TicketState, plan_update};
use rapport_core::{
    Actor, ActorKind, Change, Channel, EventKind, Invalid, MessageKind, Millis, Priority, Role,
    TicketRef, TicketStatus,
};
use serde_json::{Value, json};
use sqlx::QueryBuilder;
use std::collections::BTreeMap;

type Conn = <Db as sqlx::Database>::Connection;

// ---------------------------------------------------------------------------------------------
// Rows as stored, and their conversion into records.

#[derive(sqlx::FromRow)]
struct TicketRow {
    id: i64,
    subject: String,
    status: String,
    priority: String,
    channel: String,
    customer_id: i64,
    customer_name: String,
    customer_email: Option<String>,
    inbox_id: i64,
    assignee_id: Option<i64>,
    team_id: Option<i64>,
    created_at: i64,
    updated_at: i64,
    solved_at: Option<i64>,
    closed_at: Option<i64>,
}

const TICKET_SELECT: &str = "SELECT t.id, t.subject, t.status, t.priority, t.channel, t.customer_id, \
     c.name AS customer_name, \
     (SELECT e.email FROM customer_emails e WHERE e.customer_id = t.customer_id \
      ORDER BY e.is_primary DESC, e.email LIMIT 1) AS customer_email, \
     t.inbox_id, t.assignee_id, t.team_id, t.created_at, t.updated_at, t.solved_at, t.closed_at \
     FROM tickets t JOIN customers c ON c.id = t.customer_id";

fn parse_channel(text: &str) -> Result<Channel> {
    Channel::parse(text).ok_or_else(|| StoreError::corrupt(format!("channel '{text}'")))
}

impl TicketRow {
    fn into_ticket(
        self,
        tags: Vec<String>,
        custom_fields: BTreeMap<String, Value>,
    ) -> Result<Ticket> {
        Ok(Ticket {
            id: self.id,
            reference: TicketRef(self.id).to_string(),
            subject: self.subject,
            status: TicketStatus::parse(&self.status).map_err(StoreError::corrupt)?,
            priority: Priority::parse(&self.priority).map_err(StoreError::corrupt)?,
            channel: parse_channel(&self.channel)?,
            customer: CustomerSummary {
                id: self.customer_id,
                name: self.customer_name,
                email: self.customer_email,
            },
            inbox_id: self.inbox_id,
            assignee_id: self.assignee_id,
            team_id: self.team_id,
            tags,
            custom_fields,
            created_at: Millis(self.created_at),
            updated_at: Millis(self.updated_at),
            solved_at: self.solved_at.map(Millis),
            closed_at: self.closed_at.map(Millis),
        })
    }
}

#[derive(sqlx::FromRow)]
struct CustomerRow {
    id: i64,
    name: String,
    organization_id: Option<i64>,
    phone: Option<String>,
    language: Option<String>,
    time_zone: Option<String>,
    preferences: String,
    notes: String,
    created_at: i64,
    updated_at: i64,
}

const CUSTOMER_SELECT: &str = "SELECT id, name, organization_id, phone, language, time_zone, preferences, notes, \
     created_at, updated_at FROM customers";

impl CustomerRow {
    fn into_customer(self, emails: Vec<String>) -> Result<Customer> {
        Ok(Customer {
            id: self.id,
            name: self.name,
            emails,
            organization_id: self.organization_id,
            phone: self.phone,
            language: self.language,
            time_zone: self.time_zone,
            preferences: serde_json::from_str(&self.preferences).map_err(StoreError::corrupt)?,
            notes: self.notes,
            created_at: Millis(self.created_at),
            updated_at: Millis(self.updated_at),
        })
    }
}

#[derive(sqlx::FromRow)]
struct OrganizationRow {
    id: i64,
    name: String,
    tier: String,
    contract_value_cents: i64,
    notes: String,
    created_at: i64,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct AgentRow {
    id: i64,
    email: String,
    name: String,
    role: String,
    active: bool,
    created_at: i64,
    password_hash: Option<String>,
}

impl AgentRow {
    fn into_login(self, team_ids: Vec<i64>) -> Result<AgentLogin> {
        Ok(AgentLogin {
            agent: Agent {
                id: self.id,
                email: self.email,
                name: self.name,
                role: Role::parse(&self.role).map_err(StoreError::corrupt)?,
                active: self.active,
                team_ids,
                created_at: Millis(self.created_at),
            },
            password_hash: self.password_hash,
        })
    }
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    ticket_id: i64,
    kind: String,
    channel: String,
    author_agent_id: Option<i64>,
    author_customer_id: Option<i64>,
    body: String,
    created_at: i64,
}

impl MessageRow {
    fn into_message(self, attachments: Vec<Attachment>) -> Result<Message> {
        let kind = MessageKind::parse(&self.kind)
            .ok_or_else(|| StoreError::corrupt(format!("message kind '{}'", self.kind)))?;
        let author = match (self.author_agent_id, self.author_customer_id) {
            (Some(id), _) => Actor::agent(id),
            (None, Some(id)) => Actor::customer(id),
            (None, None) => Actor::SYSTEM,
        };
        Ok(Message {
            id: self.id,
            ticket_id: self.ticket_id,
            kind,
            public: kind.is_public(),
            channel: parse_channel(&self.channel)?,
            author,
            body: self.body,
            attachments,
            created_at: Millis(self.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    ticket_id: Option<i64>,
    kind: String,
    actor_kind: String,
    actor_id: Option<i64>,
    subject_type: String,
    subject_id: i64,
    data: String,
    created_at: i64,
}

impl EventRow {
    fn into_event(self) -> Result<Event> {
        let kind = ActorKind::parse(&self.actor_kind)
            .ok_or_else(|| StoreError::corrupt(format!("actor '{}'", self.actor_kind)))?;
        Ok(Event {
            id: self.id,
            ticket_id: self.ticket_id,
            kind: self.kind,
            actor: Actor {
                kind,
                id: self.actor_id,
            },
            subject_type: self.subject_type,
            subject_id: self.subject_id,
            data: serde_json::from_str(&self.data).map_err(StoreError::corrupt)?,
            created_at: Millis(self.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
struct FieldRow {
    key: String,
    label: String,
    field_type: String,
    options: String,
}

impl FieldRow {
    fn into_def(self) -> Result<FieldDef> {
        Ok(FieldDef {
            key: self.key,
            label: self.label,
            field_type: FieldType::parse(&self.field_type).map_err(StoreError::corrupt)?,
            options: serde_json::from_str(&self.options).map_err(StoreError::corrupt)?,
        })
    }
}

fn page_of<T>(mut items: Vec<T>, limit: i64, key: impl Fn(&T) -> Cursor) -> Page<T> {
    let more = items.len() as i64 > limit;
    items.truncate(limit.max(0) as usize);
    let next = if more { items.last().map(key) } else { None };
    Page { items, next }
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

// ---------------------------------------------------------------------------------------------
// Pieces every write uses: the event log and idempotency keys.

#[allow(clippy::too_many_arguments)]
async fn append_event(
    c: &mut Conn,
    ctx: Ctx,
    kind: EventKind,
    ticket_id: Option<i64>,
    subject_type: &str,
    subject_id: i64,
    data: Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO events (ticket_id, kind, actor_kind, actor_id, subject_type, subject_id, data, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(ticket_id)
    .bind(kind.as_str())
    .bind(ctx.actor.kind.as_str())
    .bind(ctx.actor.id)
    .bind(subject_type)
    .bind(subject_id)
    .bind(data.to_string())
    .bind(ctx.at.0)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// The id an earlier request with this key created, if any. A key reused for a different
/// request is refused rather than silently answered with the wrong record.
async fn replayed_id(
    c: &mut Conn,
    idem: &Option<Idempotency>,
    resource_type: &str,
) -> Result<Option<i64>> {
    let Some(idem) = idem else { return Ok(None) };
    serialize_on(c, &format!("idempotency:{}:{}", idem.agent_id, idem.key)).await?;
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT fingerprint, resource_type, resource_id FROM idempotency_keys WHERE agent_id = $1 AND key = $2",
    )
    .bind(idem.agent_id)
    .bind(&idem.key)
    .fetch_optional(&mut *c)
    .await?;
    match row {
        None => Ok(None),
        Some((fp, rt, id)) if fp == idem.fingerprint && rt == resource_type => Ok(Some(id)),
        Some(_) => Err(StoreError::IdempotencyMismatch),
    }
}

async fn remember_key(
    c: &mut Conn,
    idem: &Option<Idempotency>,
    resource_type: &str,
    id: i64,
    at: Millis,
) -> Result<()> {
    let Some(idem) = idem else { return Ok(()) };
    sqlx::query(
        "INSERT INTO idempotency_keys (agent_id, key, fingerprint, resource_type, resource_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(idem.agent_id)
    .bind(&idem.key)
    .bind(&idem.fingerprint)
    .bind(resource_type)
    .bind(id)
    .bind(at.0)
    .execute(&mut *c)
    .await
    .map_err(|e| StoreError::from_db(e, || "this Idempotency-Key is being used by a concurrent request".into()))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Loading records (used by reads on a reader connection and by writes inside their transaction).

async fn load_agent(c: &mut Conn, id: i64) -> Result<Agent> {
    let row: AgentRow = sqlx::query_as(
        "SELECT id, email, name, role, active, created_at, password_hash FROM agents WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await?
    .ok_or_else(|| StoreError::not_found("agent", id))?;
    let teams = agent_team_ids(c, id).await?;
    Ok(row.into_login(teams)?.agent)
}

async fn agent_team_ids(c: &mut Conn, agent_id: i64) -> Result<Vec<i64>> {
    Ok(
        sqlx::query_scalar("SELECT team_id FROM team_members WHERE agent_id = $1 ORDER BY team_id")
            .bind(agent_id)
            .fetch_all(&mut *c)
            .await?,
    )
}

async fn load_customer(c: &mut Conn, id: i64) -> Result<Customer> {
    let row: CustomerRow = sqlx::query_as(
        "SELECT id, name, organization_id, phone, language, time_zone, preferences, notes, created_at, updated_at \
         FROM customers WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await?
    .ok_or_else(|| StoreError::not_found("customer", id))?;
    let emails = customer_emails(c, id).await?;
    row.into_customer(emails)
}

async fn customer_emails(c: &mut Conn, customer_id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT email FROM customer_emails WHERE customer_id = $1 ORDER BY is_primary DESC, email",
    )
    .bind(customer_id)
    .fetch_all(&mut *c)
    .await?)
}

async fn load_organization(c: &mut Conn, id: i64) -> Result<Organization> {
    let row: OrganizationRow = sqlx::query_as(
        "SELECT id, name, tier, contract_value_cents, notes, created_at, updated_at FROM organizations WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await?
    .ok_or_else(|| StoreError::not_found("organization", id))?;
    organization_from_row(c, row).await
}

async fn organization_from_row(c: &mut Conn, row: OrganizationRow) -> Result<Organization> {
    let domains = sqlx::query_scalar(
        "SELECT domain FROM organization_domains WHERE organization_id = $1 ORDER BY domain",
    )
    .bind(row.id)
    .fetch_all(&mut *c)
    .await?;
    Ok(Organization {
        id: row.id,
        name: row.name,
        tier: Tier::parse(&row.tier).map_err(StoreError::corrupt)?,
        contract_value_cents: row.contract_value_cents,
        domains,
        notes: row.notes,
        created_at: Millis(row.created_at),
        updated_at: Millis(row.updated_at),
    })
}

async fn load_ticket(c: &mut Conn, id: i64) -> Result<Ticket> {
    let mut query = QueryBuilder::<Db>::new(TICKET_SELECT);
    query.push(" WHERE t.id = ").push_bind(id);
    let row: TicketRow = query
        .build_query_as()
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| StoreError::not_found("ticket", TicketRef(id)))?;
    let mut tickets = complete_tickets(c, vec![row]).await?;
    tickets
        .pop()
        .ok_or_else(|| StoreError::not_found("ticket", TicketRef(id)))
}

/// Adds tags and custom field values to ticket rows with two queries for the whole list.
async fn complete_tickets(c: &mut Conn, rows: Vec<TicketRow>) -> Result<Vec<Ticket>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut tags: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    let mut q =
        QueryBuilder::<Db>::new("SELECT ticket_id, tag FROM ticket_tags WHERE ticket_id IN (");
    push_ids(&mut q, &ids);
    q.push(") ORDER BY ticket_id, tag");
    for (ticket_id, tag) in q
        .build_query_as::<(i64, String)>()
        .fetch_all(&mut *c)
        .await?
    {
        tags.entry(ticket_id).or_default().push(tag);
    }
    let mut fields: BTreeMap<i64, BTreeMap<String, Value>> = BTreeMap::new();
    let mut q = QueryBuilder::<Db>::new(
        "SELECT ticket_id, field_key, value FROM ticket_field_values WHERE ticket_id IN (",
    );
    push_ids(&mut q, &ids);
    q.push(")");
    for (ticket_id, key, value) in q
        .build_query_as::<(i64, String, String)>()
        .fetch_all(&mut *c)
        .await?
    {
        let value = serde_json::from_str(&value).map_err(StoreError::corrupt)?;
        fields.entry(ticket_id).or_default().insert(key, value);
    }
    rows.into_iter()
        .map(|row| {
            let id = row.id;
            row.into_ticket(
                tags.remove(&id).unwrap_or_default(),
                fields.remove(&id).unwrap_or_default(),
            )
        })
        .collect()
}

fn push_ids(q: &mut QueryBuilder<Db>, ids: &[i64]) {
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
}

async fn load_message(c: &mut Conn, id: i64) -> Result<Message> {
    let row: MessageRow = sqlx::query_as(
        "SELECT id, ticket_id, kind, channel, author_agent_id, author_customer_id, body, created_at FROM messages WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await?
    .ok_or_else(|| StoreError::not_found("message", id))?;
    let mut messages = complete_messages(c, vec![row]).await?;
    messages
        .pop()
        .ok_or_else(|| StoreError::not_found("message", id))
}

async fn complete_messages(c: &mut Conn, rows: Vec<MessageRow>) -> Result<Vec<Message>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut q = QueryBuilder::<Db>::new(
        "SELECT message_id, id, filename, content_type, size_bytes FROM attachments WHERE message_id IN (",
    );
    push_ids(&mut q, &ids);
    q.push(") ORDER BY id");
    let mut attachments: BTreeMap<i64, Vec<Attachment>> = BTreeMap::new();
    for (message_id, id, filename, content_type, size_bytes) in q
        .build_query_as::<(i64, i64, String, String, i64)>()
        .fetch_all(&mut *c)
        .await?
    {
        attachments.entry(message_id).or_default().push(Attachment {
            id,
            filename,
            content_type,
            size_bytes,
        });
    }
    rows.into_iter()
        .map(|row| {
            let id = row.id;
            row.into_message(attachments.remove(&id).unwrap_or_default())
        })
        .collect()
}

async fn field_defs(c: &mut Conn) -> Result<Vec<FieldDef>> {
    let rows: Vec<FieldRow> =
        sqlx::query_as("SELECT key, label, field_type, options FROM custom_fields ORDER BY id")
            .fetch_all(&mut *c)
            .await?;
    rows.into_iter().map(FieldRow::into_def).collect()
}

async fn ensure_exists(
    c: &mut Conn,
    table_sql: &'static str,
    what: &'static str,
    id: i64,
) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar(table_sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    found
        .map(|_| ())
        .ok_or_else(|| StoreError::not_found(what, id))
}

async fn ensure_agent(c: &mut Conn, id: i64) -> Result<()> {
    ensure_exists(c, "SELECT id FROM agents WHERE id = $1", "agent", id).await
}

async fn ensure_team(c: &mut Conn, id: i64) -> Result<()> {
    ensure_exists(c, "SELECT id FROM teams WHERE id = $1", "team", id).await
}

async fn ensure_organization(c: &mut Conn, id: i64) -> Result<()> {
    ensure_exists(
        c,
        "SELECT id FROM organizations WHERE id = $1",
        "organization",
        id,
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Writes, each run inside one transaction by the backend's `write`.

async fn insert_customer(c: &mut Conn, ctx: Ctx, new: NewCustomer) -> Result<i64> {
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
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO customers (name, organization_id, phone, language, time_zone, preferences, notes, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
    )
    .bind(&name)
    .bind(organization_id)
    .bind(&new.phone)
    .bind(&language)
    .bind(&time_zone)
    .bind(to_json(&new.preferences))
    .bind(&new.notes)
    .bind(ctx.at.0)
    .fetch_one(&mut *c)
    .await?;
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

async fn insert_emails(c: &mut Conn, customer_id: i64, emails: &[String]) -> Result<()> {
    for (i, email) in emails.iter().enumerate() {
        sqlx::query(
            "INSERT INTO customer_emails (email, customer_id, is_primary) VALUES ($1, $2, $3)",
        )
        .bind(email)
        .bind(customer_id)
        .bind(i == 0)
        .execute(&mut *c)
        .await
        .map_err(|e| {
            StoreError::from_db(e, || {
                format!("the email address {email} belongs to another customer")
            })
        })?;
    }
    Ok(())
}

async fn organization_for_domain(c: &mut Conn, domain: &str) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT organization_id FROM organization_domains WHERE domain = $1")
            .bind(domain)
            .fetch_optional(&mut *c)
            .await?,
    )
}

async fn customer_by_email(c: &mut Conn, email: &str) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT customer_id FROM customer_emails WHERE email = $1")
            .bind(email)
            .fetch_optional(&mut *c)
            .await?,
    )
}

/// The customer with this address, created (named after the address if no name is given)
/// when we have never heard from them.
async fn find_or_create_customer(c: &mut Conn, ctx: Ctx, requester: &Requester) -> Result<i64> {
    let email = contact::normalize_email("customer.email", &requester.email)?;
    serialize_on(c, &format!("customer-email:{email}")).await?;
    if let Some(id) = customer_by_email(c, &email).await? {
        return Ok(id);
    }
    let name = match requester.name.as_deref().map(str::trim) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => email.split('@').next().unwrap_or("customer").to_string(),
    };
    let new = NewCustomer {
        name,
        emails: vec![email],
        ..NewCustomer::default()
    };
    insert_customer(c, ctx, new).await.map_err(|e| match e {
        StoreError::Invalid(inv) if inv.field == "name" => {
            StoreError::Invalid(Invalid::new("customer.name", inv.problem))
        }
        other => other,
    })
}

async fn inbox_for(c: &mut Conn, name: Option<&str>) -> Result<(i64, Option<i64>)> {
    let row: Option<(i64, Option<i64>)> = match name {
        Some(name) => {
            sqlx::query_as("SELECT id, team_id FROM inboxes WHERE lower(name) = lower($1)")
                .bind(name)
                .fetch_optional(&mut *c)
                .await?
        }
        None => {
            sqlx::query_as("SELECT id, team_id FROM inboxes ORDER BY id LIMIT 1")
                .fetch_optional(&mut *c)
                .await?
        }
    };
    row.ok_or_else(|| match name {
        Some(n) => StoreError::Invalid(Invalid::new("inbox", format!("no inbox is named '{n}'"))),
        None => StoreError::Conflict("there is no inbox yet; create one first".into()),
    })
}

async fn set_tags(c: &mut Conn, ticket_id: i64, tags: &[String]) -> Result<()> {
    sqlx::query("DELETE FROM ticket_tags WHERE ticket_id = $1")
        .bind(ticket_id)
        .execute(&mut *c)
        .await?;
    for tag in tags {
        sqlx::query("INSERT INTO ticket_tags (ticket_id, tag) VALUES ($1, $2)")
            .bind(ticket_id)
            .bind(tag)
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

async fn set_field_value(c: &mut Conn, ticket_id: i64, key: &str, value: &Value) -> Result<()> {
    if value.is_null() {
        sqlx::query("DELETE FROM ticket_field_values WHERE ticket_id = $1 AND field_key = $2")
            .bind(ticket_id)
            .bind(key)
            .execute(&mut *c)
            .await?;
    } else {
        sqlx::query(
            "INSERT INTO ticket_field_values (ticket_id, field_key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (ticket_id, field_key) DO UPDATE SET value = excluded.value",
        )
        .bind(ticket_id)
        .bind(key)
        .bind(value.to_string())
        .execute(&mut *c)
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
    c: &mut Conn,
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
    let defs = field_defs(c).await?;
    let fields = check_values(&defs, &new.custom_fields)?;
    let (inbox_id, inbox_team) = inbox_for(c, new.inbox.as_deref()).await?;
    if let Some(id) = new.assignee_id {
        ensure_agent(c, id).await?;
    }
    if let Some(id) = new.team_id {
        ensure_team(c, id).await?;
    }
    let team_id = new.team_id.or(inbox_team);
    let customer_id = find_or_create_customer(c, ctx, &new.requester).await?;
    let (solved_at, closed_at) = status_times(new.status, ctx.at);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO tickets (subject, status, priority, channel, customer_id, inbox_id, assignee_id, team_id, \
         created_at, updated_at, solved_at, closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11) RETURNING id",
    )
    .bind(&subject)
    .bind(new.status.as_str())
    .bind(new.priority.as_str())
    .bind(new.channel.as_str())
    .bind(customer_id)
    .bind(inbox_id)
    .bind(new.assignee_id)
    .bind(team_id)
    .bind(ctx.at.0)
    .bind(solved_at)
    .bind(closed_at)
    .fetch_one(&mut *c)
    .await?;
    set_tags(c, id, &tags).await?;
    for (key, value) in &fields {
        set_field_value(c, id, key, value).await?;
    }
    index_text(c, id, "subject", &subject).await?;
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
    };
    let author = Actor::customer(customer_id);
    insert_message_row(c, ctx, id, author, &first).await?;
    remember_key(c, &idem, "ticket", id, ctx.at).await?;
    Ok(Created {
        value: load_ticket(c, id).await?,
        replayed: false,
    })
}

async fn insert_message_row(
    c: &mut Conn,
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
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (ticket_id, kind, channel, author_agent_id, author_customer_id, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(ticket_id)
    .bind(new.kind.as_str())
    .bind(new.channel.as_str())
    .bind(agent_id)
    .bind(customer_id)
    .bind(&new.body)
    .bind(ctx.at.0)
    .fetch_one(&mut *c)
    .await?;
    index_text(c, ticket_id, new.kind.as_str(), &new.body).await?;
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

async fn ticket_status(c: &mut Conn, ticket_id: i64) -> Result<TicketStatus> {
    let status: String = sqlx::query_scalar("SELECT status FROM tickets WHERE id = $1")
        .bind(ticket_id)
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| StoreError::not_found("ticket", TicketRef(ticket_id)))?;
    TicketStatus::parse(&status).map_err(StoreError::corrupt)
}

async fn insert_message(
    c: &mut Conn,
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
    let status = ticket_status(c, ticket_id).await?;
    let next =
        status_after_message(status, new.kind).map_err(|e| StoreError::Conflict(e.problem))?;
    let id = insert_message_row(c, ctx, ticket_id, ctx.actor, &new).await?;
    if next != status {
        write_status(c, ctx, ticket_id, status, next).await?;
    }
    sqlx::query("UPDATE tickets SET updated_at = $1 WHERE id = $2")
        .bind(ctx.at.0)
        .bind(ticket_id)
        .execute(&mut *c)
        .await?;
    remember_key(c, &idem, "message", id, ctx.at).await?;
    Ok(Created {
        value: load_message(c, id).await?,
        replayed: false,
    })
}

async fn write_status(
    c: &mut Conn,
    ctx: Ctx,
    ticket_id: i64,
    before: TicketStatus,
    after: TicketStatus,
) -> Result<()> {
    let (solved_at, closed_at) = status_times(after, ctx.at);
    sqlx::query(
        "UPDATE tickets SET status = $1, solved_at = CASE WHEN $2 IS NULL THEN NULL ELSE COALESCE(solved_at, $2) END, \
         closed_at = $3 WHERE id = $4",
    )
    .bind(after.as_str())
    .bind(solved_at)
    .bind(closed_at)
    .bind(ticket_id)
    .execute(&mut *c)
    .await?;
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
    .await
}

fn to_value(change: &Change) -> Value {
    serde_json::to_value(change).unwrap_or(Value::Null)
}

async fn apply_ticket_patch(c: &mut Conn, ctx: Ctx, id: i64, patch: TicketPatch) -> Result<Ticket> {
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
    for change in &changes {
        match change.field.as_str() {
            "status" => {
                write_status(c, ctx, id, current.status, next.status).await?;
                continue;
            }
            "subject" => {
                sqlx::query("UPDATE tickets SET subject = $1 WHERE id = $2")
                    .bind(&next.subject)
                    .bind(id)
                    .execute(&mut *c)
                    .await?;
                reindex_subject(c, id, &next.subject).await?;
            }
            "priority" => {
                sqlx::query("UPDATE tickets SET priority = $1 WHERE id = $2")
                    .bind(next.priority.as_str())
                    .bind(id)
                    .execute(&mut *c)
                    .await?;
            }
            "assignee_id" => {
                sqlx::query("UPDATE tickets SET assignee_id = $1 WHERE id = $2")
                    .bind(next.assignee_id)
                    .bind(id)
                    .execute(&mut *c)
                    .await?;
            }
            "team_id" => {
                sqlx::query("UPDATE tickets SET team_id = $1 WHERE id = $2")
                    .bind(next.team_id)
                    .bind(id)
                    .execute(&mut *c)
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
    sqlx::query("UPDATE tickets SET updated_at = $1 WHERE id = $2")
        .bind(ctx.at.0)
        .bind(id)
        .execute(&mut *c)
        .await?;
    load_ticket(c, id).await
}

async fn apply_customer_patch(
    c: &mut Conn,
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
    if let Some(emails) = &patch.emails {
        after.emails = normalize_emails(emails)?;
    }
    let changes = customer_changes(&before, &after);
    if changes.is_empty() {
        return Ok(before);
    }
    sqlx::query(
        "UPDATE customers SET name = $1, organization_id = $2, phone = $3, language = $4, time_zone = $5, \
         preferences = $6, notes = $7, updated_at = $8 WHERE id = $9",
    )
    .bind(&after.name)
    .bind(after.organization_id)
    .bind(&after.phone)
    .bind(&after.language)
    .bind(&after.time_zone)
    .bind(to_json(&after.preferences))
    .bind(&after.notes)
    .bind(ctx.at.0)
    .bind(id)
    .execute(&mut *c)
    .await?;
    if after.emails != before.emails {
        sqlx::query("DELETE FROM customer_emails WHERE customer_id = $1")
            .bind(id)
            .execute(&mut *c)
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
    changes
}

async fn insert_organization(
    c: &mut Conn,
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
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO organizations (name, tier, contract_value_cents, notes, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(&name)
    .bind(new.tier.as_str())
    .bind(new.contract_value_cents)
    .bind(&new.notes)
    .bind(ctx.at.0)
    .fetch_one(&mut *c)
    .await
    .map_err(|e| StoreError::from_db(e, || format!("an organization named '{name}' already exists")))?;
    for domain in &domains {
        sqlx::query("INSERT INTO organization_domains (domain, organization_id) VALUES ($1, $2)")
            .bind(domain)
            .bind(id)
            .execute(&mut *c)
            .await
            .map_err(|e| {
                StoreError::from_db(e, || {
                    format!("the domain {domain} belongs to another organization")
                })
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
    c: &mut Conn,
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

async fn insert_agent(c: &mut Conn, ctx: Ctx, new: NewAgent) -> Result<Agent> {
    let email = contact::normalize_email("email", &new.email)?;
    let name = contact::validate_name("name", &new.name)?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO agents (email, name, role, password_hash, active, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(&email)
    .bind(&name)
    .bind(new.role.as_str())
    .bind(&new.password_hash)
    .bind(true)
    .bind(ctx.at.0)
    .fetch_one(&mut *c)
    .await
    .map_err(|e| {
        StoreError::from_db(e, || {
            format!("an agent with the email {email} already exists")
        })
    })?;
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

// ---------------------------------------------------------------------------------------------
// The trait, for this backend.

#[async_trait::async_trait]
impl Store for Backend {
    fn backend(&self) -> &'static str {
        super::NAME
    }

    async fn ping(&self) -> Result<()> {
        let one: i64 = sqlx::query_scalar("SELECT CAST(1 AS BIGINT)")
            .fetch_one(self.reader())
            .await?;
        if one == 1 {
            Ok(())
        } else {
            Err(StoreError::Database("SELECT 1 answered wrongly".into()))
        }
    }

    async fn close(&self) {
        self.shutdown().await;
    }

    async fn create_agent(&self, ctx: Ctx, new: NewAgent) -> Result<Agent> {
        self.write(move |c| Box::pin(insert_agent(c, ctx, new)))
            .await
    }

    async fn agent(&self, id: i64) -> Result<Agent> {
        let mut c = self.reader().acquire().await?;
        load_agent(&mut c, id).await
    }

    async fn agent_login(&self, email: &str) -> Result<Option<AgentLogin>> {
        let email = email.trim().to_lowercase();
        let mut c = self.reader().acquire().await?;
        let row: Option<AgentRow> = sqlx::query_as("SELECT id, email, name, role, active, created_at, password_hash FROM agents WHERE email = $1")
            .bind(&email)
            .fetch_optional(&mut *c)
            .await?;
        match row {
            None => Ok(None),
            Some(row) => {
                let teams = agent_team_ids(&mut c, row.id).await?;
                Ok(Some(row.into_login(teams)?))
            }
        }
    }

    async fn list_agents(&self) -> Result<Vec<Agent>> {
        let mut c = self.reader().acquire().await?;
        let rows: Vec<AgentRow> = sqlx::query_as("SELECT id, email, name, role, active, created_at, password_hash FROM agents ORDER BY id").fetch_all(&mut *c).await?;
        let members: Vec<(i64, i64)> =
            sqlx::query_as("SELECT agent_id, team_id FROM team_members ORDER BY team_id")
                .fetch_all(&mut *c)
                .await?;
        rows.into_iter()
            .map(|row| {
                let teams = members
                    .iter()
                    .filter(|(a, _)| *a == row.id)
                    .map(|(_, t)| *t)
                    .collect();
                row.into_login(teams).map(|l| l.agent)
            })
            .collect()
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
                sqlx::query("UPDATE agents SET password_hash = $1, updated_at = $2 WHERE id = $3")
                    .bind(&password_hash)
                    .bind(ctx.at.0)
                    .bind(agent_id)
                    .execute(&mut *c)
                    .await?;
                // Sessions of the old password end with it.
                sqlx::query("DELETE FROM sessions WHERE agent_id = $1")
                    .bind(agent_id)
                    .execute(&mut *c)
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
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO api_tokens (agent_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(agent_id)
                .bind(&name)
                .bind(&token_hash)
                .bind(ctx.at.0)
                .fetch_one(&mut *c)
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
                let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE agent_id = $2 AND name = $3 AND revoked_at IS NULL")
                    .bind(ctx.at.0)
                    .bind(agent_id)
                    .bind(&name)
                    .execute(&mut *c)
                    .await?;
                Ok(done.rows_affected())
            })
        })
        .await
    }

    async fn agent_by_token(&self, token_hash: &str) -> Result<Option<Agent>> {
        let mut c = self.reader().acquire().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT a.id FROM api_tokens t JOIN agents a ON a.id = t.agent_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND a.active = $2",
        )
        .bind(token_hash)
        .bind(true)
        .fetch_optional(&mut *c)
        .await?;
        match id {
            Some(id) => Ok(Some(load_agent(&mut c, id).await?)),
            None => Ok(None),
        }
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
                sqlx::query("INSERT INTO sessions (id_hash, agent_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                    .bind(&id_hash)
                    .bind(agent_id)
                    .bind(at.0)
                    .bind(expires_at.0)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    async fn session_agent(&self, id_hash: &str, now: Millis) -> Result<Option<Agent>> {
        let mut c = self.reader().acquire().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT a.id FROM sessions s JOIN agents a ON a.id = s.agent_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND a.active = $3",
        )
        .bind(id_hash)
        .bind(now.0)
        .bind(true)
        .fetch_optional(&mut *c)
        .await?;
        match id {
            Some(id) => Ok(Some(load_agent(&mut c, id).await?)),
            None => Ok(None),
        }
    }

    async fn delete_session(&self, id_hash: &str) -> Result<()> {
        let id_hash = id_hash.to_string();
        self.write(move |c| {
            Box::pin(async move {
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                    .bind(&id_hash)
                    .execute(&mut *c)
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
                let id: i64 = sqlx::query_scalar("INSERT INTO teams (name, description, created_at) VALUES ($1, $2, $3) RETURNING id")
                    .bind(&name)
                    .bind(&description)
                    .bind(ctx.at.0)
                    .fetch_one(&mut *c)
                    .await
                    .map_err(|e| StoreError::from_db(e, || format!("a team named '{name}' already exists")))?;
                append_event(c, ctx, EventKind::TeamCreated, None, "team", id, json!({"name": name})).await?;
                Ok(Team { id, name, description, member_ids: Vec::new(), created_at: ctx.at })
            })
        })
        .await
    }

    async fn add_team_member(&self, ctx: Ctx, team_id: i64, agent_id: i64) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                ensure_team(c, team_id).await?;
                ensure_agent(c, agent_id).await?;
                sqlx::query("INSERT INTO team_members (team_id, agent_id) VALUES ($1, $2) ON CONFLICT (team_id, agent_id) DO NOTHING")
                    .bind(team_id)
                    .bind(agent_id)
                    .execute(&mut *c)
                    .await?;
                append_event(c, ctx, EventKind::TeamMemberAdded, None, "team", team_id, json!({"agent_id": agent_id})).await
            })
        })
        .await
    }

    async fn list_teams(&self) -> Result<Vec<Team>> {
        let mut c = self.reader().acquire().await?;
        let rows: Vec<(i64, String, String, i64)> =
            sqlx::query_as("SELECT id, name, description, created_at FROM teams ORDER BY id")
                .fetch_all(&mut *c)
                .await?;
        let members: Vec<(i64, i64)> =
            sqlx::query_as("SELECT team_id, agent_id FROM team_members ORDER BY agent_id")
                .fetch_all(&mut *c)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, description, created_at)| Team {
                id,
                name,
                description,
                member_ids: members
                    .iter()
                    .filter(|(t, _)| *t == id)
                    .map(|(_, a)| *a)
                    .collect(),
                created_at: Millis(created_at),
            })
            .collect())
    }

    async fn create_inbox(
        &self,
        ctx: Ctx,
        name: &str,
        address: &str,
        team_id: Option<i64>,
    ) -> Result<Inbox> {
        let name = contact::validate_name("name", name)?;
        let address = contact::normalize_email("address", address)?;
        self.write(move |c| {
            Box::pin(async move {
                if let Some(t) = team_id {
                    ensure_team(c, t).await?;
                }
                let id: i64 = sqlx::query_scalar("INSERT INTO inboxes (name, address, team_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
                    .bind(&name)
                    .bind(&address)
                    .bind(team_id)
                    .bind(ctx.at.0)
                    .fetch_one(&mut *c)
                    .await
                    .map_err(|e| StoreError::from_db(e, || format!("an inbox named '{name}' or with the address {address} already exists")))?;
                append_event(c, ctx, EventKind::InboxCreated, None, "inbox", id, json!({"name": name, "address": address})).await?;
                Ok(Inbox { id, name, address, team_id, created_at: ctx.at })
            })
        })
        .await
    }

    async fn list_inboxes(&self) -> Result<Vec<Inbox>> {
        let rows: Vec<(i64, String, String, Option<i64>, i64)> = sqlx::query_as(
            "SELECT id, name, address, team_id, created_at FROM inboxes ORDER BY id",
        )
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, address, team_id, created_at)| Inbox {
                id,
                name,
                address,
                team_id,
                created_at: Millis(created_at),
            })
            .collect())
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
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO custom_fields (key, label, field_type, options, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(&def.key)
                .bind(&def.label)
                .bind(def.field_type.as_str())
                .bind(to_json(&def.options))
                .bind(ctx.at.0)
                .fetch_one(&mut *c)
                .await
                .map_err(|e| StoreError::from_db(e, || format!("a custom field with the key '{}' already exists", def.key)))?;
                append_event(c, ctx, EventKind::FieldCreated, None, "custom_field", id, serde_json::to_value(&def).unwrap_or(Value::Null)).await?;
                Ok(def)
            })
        })
        .await
    }

    async fn list_custom_fields(&self) -> Result<Vec<FieldDef>> {
        let mut c = self.reader().acquire().await?;
        field_defs(&mut c).await
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(self.reader())
                .await?,
        )
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        let (key, value) = (key.to_string(), value.to_string());
        self.write(move |c| {
            Box::pin(async move {
                sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                    .bind(&key)
                    .bind(&value)
                    .execute(&mut *c)
                    .await?;
                Ok(())
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
        let mut c = self.reader().acquire().await?;
        load_organization(&mut c, id).await
    }

    async fn list_organizations(&self, page: PageRequest) -> Result<Page<Organization>> {
        let limit = page.clamped_limit();
        let after = page.after.map_or(0, |cur| cur.id);
        let mut c = self.reader().acquire().await?;
        let rows: Vec<OrganizationRow> = sqlx::query_as(
            "SELECT id, name, tier, contract_value_cents, notes, created_at, updated_at FROM organizations \
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit + 1)
        .fetch_all(&mut *c)
        .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            items.push(organization_from_row(&mut c, row).await?);
        }
        Ok(page_of(items, limit, |o| Cursor { at: 0, id: o.id }))
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
        let mut c = self.reader().acquire().await?;
        load_customer(&mut c, id).await
    }

    async fn list_customers(
        &self,
        filter: &CustomerFilter,
        page: PageRequest,
    ) -> Result<Page<Customer>> {
        let limit = page.clamped_limit();
        let mut q = QueryBuilder::<Db>::new(CUSTOMER_SELECT);
        q.push(" WHERE 1 = 1");
        if let Some(after) = page.after {
            q.push(" AND id < ").push_bind(after.id);
        }
        if let Some(org) = filter.organization_id {
            q.push(" AND organization_id = ").push_bind(org);
        }
        if let Some(email) = &filter.email {
            q.push(" AND id IN (SELECT customer_id FROM customer_emails WHERE email = ")
                .push_bind(email.trim().to_lowercase())
                .push(")");
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(limit + 1);
        let mut c = self.reader().acquire().await?;
        let rows: Vec<CustomerRow> = q.build_query_as().fetch_all(&mut *c).await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let emails = customer_emails(&mut c, row.id).await?;
            items.push(row.into_customer(emails)?);
        }
        Ok(page_of(items, limit, |cu| Cursor { at: 0, id: cu.id }))
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

    async fn ticket(&self, id: i64) -> Result<Ticket> {
        let mut c = self.reader().acquire().await?;
        load_ticket(&mut c, id).await
    }

    async fn list_tickets(&self, filter: &TicketFilter, page: PageRequest) -> Result<Page<Ticket>> {
        let limit = page.clamped_limit();
        let mut q = QueryBuilder::<Db>::new(TICKET_SELECT);
        q.push(" WHERE 1 = 1");
        if !filter.statuses.is_empty() {
            q.push(" AND t.status IN (");
            let mut list = q.separated(", ");
            for s in &filter.statuses {
                list.push_bind(s.as_str());
            }
            q.push(")");
        }
        match filter.assignee {
            Some(AssigneeFilter::Unassigned) => {
                q.push(" AND t.assignee_id IS NULL");
            }
            Some(AssigneeFilter::Agent(id)) => {
                q.push(" AND t.assignee_id = ").push_bind(id);
            }
            None => {}
        }
        if let Some(team) = filter.team_id {
            q.push(" AND t.team_id = ").push_bind(team);
        }
        if let Some(tag) = &filter.tag {
            q.push(
                " AND EXISTS (SELECT 1 FROM ticket_tags g WHERE g.ticket_id = t.id AND g.tag = ",
            )
            .push_bind(tag.clone())
            .push(")");
        }
        if let Some(customer) = filter.customer_id {
            q.push(" AND t.customer_id = ").push_bind(customer);
        }
        if let Some(org) = filter.organization_id {
            q.push(" AND c.organization_id = ").push_bind(org);
        }
        if let Some(since) = filter.updated_since {
            q.push(" AND t.updated_at >= ").push_bind(since.0);
        }
        if let Some(after) = page.after {
            q.push(" AND (t.updated_at < ")
                .push_bind(after.at)
                .push(" OR (t.updated_at = ")
                .push_bind(after.at)
                .push(" AND t.id < ")
                .push_bind(after.id)
                .push("))");
        }
        q.push(" ORDER BY t.updated_at DESC, t.id DESC LIMIT ")
            .push_bind(limit + 1);
        let mut c = self.reader().acquire().await?;
        let rows: Vec<TicketRow> = q.build_query_as().fetch_all(&mut *c).await?;
        let items = complete_tickets(&mut c, rows).await?;
        Ok(page_of(items, limit, |t| Cursor {
            at: t.updated_at.0,
            id: t.id,
        }))
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
        let mut c = self.reader().acquire().await?;
        ticket_status(&mut c, ticket_id).await?;
        let rows: Vec<MessageRow> = sqlx::query_as(
            "SELECT id, ticket_id, kind, channel, author_agent_id, author_customer_id, body, created_at FROM messages \
             WHERE ticket_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(ticket_id)
        .bind(page.after.map_or(0, |cur| cur.id))
        .bind(limit + 1)
        .fetch_all(&mut *c)
        .await?;
        let items = complete_messages(&mut c, rows).await?;
        Ok(page_of(items, limit, |m| Cursor { at: 0, id: m.id }))
    }

    async fn list_events(&self, ticket_id: i64, page: PageRequest) -> Result<Page<Event>> {
        let limit = page.clamped_limit();
        let mut c = self.reader().acquire().await?;
        ticket_status(&mut c, ticket_id).await?;
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, ticket_id, kind, actor_kind, actor_id, subject_type, subject_id, data, created_at FROM events \
             WHERE ticket_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(ticket_id)
        .bind(page.after.map_or(0, |cur| cur.id))
        .bind(limit + 1)
        .fetch_all(&mut *c)
        .await?;
        let items = rows
            .into_iter()
            .map(EventRow::into_event)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, limit, |e| Cursor { at: 0, id: e.id }))
    }

    async fn list_tags(&self) -> Result<Vec<TagCount>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT tag, count(*) FROM ticket_tags GROUP BY tag ORDER BY count(*) DESC, tag",
        )
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(tag, tickets)| TagCount { tag, tickets })
            .collect())
    }

    async fn search(&self, query: &str, limit: u32) -> Result<Vec<SearchHit>> {
        let limit = PageRequest::first(limit).clamped_limit();
        let mut c = self.reader().acquire().await?;
        let hits = super::search_hits(&mut c, query, limit).await?;
        let mut out = Vec::with_capacity(hits.len());
        for (ticket_id, snippet) in hits {
            out.push(SearchHit {
                ticket: load_ticket(&mut c, ticket_id).await?,
                snippet,
            });
        }
        Ok(out)
    }
}
