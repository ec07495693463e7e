//! SLA clocks, commitments and chases: what a ticket's writes do to its clocks (in the same
//! transaction as the write), the scheduler's due alarms, recomputation after a calendar or
//! policy changes, and the kept and chase rates.
//!
//! Timers are rows: `ticket_sla.alarm_at` and `commitments.alarm_at`, indexed. A scheduler pass
//! claims due rows inside the transaction that acts on them (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, the single writer on SQLite), so a crash rolls the claim back with the action
//! and a second node skips rows another is working on: every alarm fires once.

use super::*;
use rapport_core::calendar::{BusinessCalendar, CalendarConfig};
use rapport_core::chase::detect_chase;
use rapport_core::commitment::{self, CommitmentKind, CommitmentStatus};
use rapport_core::phone;
use rapport_core::sla::{AlarmKind, Conditions, Rules, SlaClocks, Target, TicketFacts};
use std::collections::HashMap;

/// A customer writing again this soon after their last message is adding detail, not chasing.
const CHASE_GRACE_MS: i64 = 10 * 60_000;
/// Tickets recomputed per scheduler step after a calendar or policy change: one transaction,
/// which holds SQLite's writer for about a tenth of a second.
const RECOMPUTE_CHUNK: i64 = 2_000;

// ---------------------------------------------------------------------------------------------
// Calendars and policies

const CALENDAR_SELECT: &str = "SELECT id, name, config, created_at, updated_at FROM calendars";
const POLICY_SELECT: &str = "SELECT id, name, position, conditions, rules, calendar_id, created_at, updated_at FROM sla_policies";

fn calendar_from(r: &Row) -> Result<Calendar> {
    Ok(Calendar {
        id: r.int(0)?,
        name: r.text(1)?,
        config: json_text(&r.text(2)?)?,
        created_at: Millis(r.int(3)?),
        updated_at: Millis(r.int(4)?),
    })
}

fn policy_from(r: &Row) -> Result<SlaPolicy> {
    Ok(SlaPolicy {
        id: r.int(0)?,
        name: r.text(1)?,
        position: r.int(2)?,
        conditions: json_text(&r.text(3)?)?,
        rules: json_text(&r.text(4)?)?,
        calendar_id: r.opt_int(5)?,
        created_at: Millis(r.int(6)?),
        updated_at: Millis(r.int(7)?),
    })
}

pub(super) async fn list_calendars(c: &mut dyn Conn) -> Result<Vec<Calendar>> {
    let rows = c
        .query(&format!("{CALENDAR_SELECT} ORDER BY name, id"), params![])
        .await?;
    rows.iter().map(calendar_from).collect()
}

pub(super) async fn list_policies(c: &mut dyn Conn) -> Result<Vec<SlaPolicy>> {
    let rows = c
        .query(&format!("{POLICY_SELECT} ORDER BY position, id"), params![])
        .await?;
    rows.iter().map(policy_from).collect()
}

async fn load_calendar(c: &mut dyn Conn, id: i64) -> Result<Calendar> {
    let row = row_by_id(c, CALENDAR_SELECT, "id", id, || {
        StoreError::not_found("calendar", id)
    })
    .await?;
    calendar_from(&row)
}

async fn load_policy(c: &mut dyn Conn, id: i64) -> Result<SlaPolicy> {
    let row = row_by_id(c, POLICY_SELECT, "id", id, || {
        StoreError::not_found("SLA policy", id)
    })
    .await?;
    policy_from(&row)
}

fn check_name(name: &str) -> Result<String> {
    Ok(rapport_core::contact::validate_name("name", name)?)
}

/// Refuses a name another row of `table` has (case-insensitive).
async fn unique_name(c: &mut dyn Conn, table: &str, name: &str, id: Option<i64>) -> Result<()> {
    let clash = c
        .int_opt(
            &format!("SELECT id FROM {table} WHERE lower(name) = lower($1)"),
            params![name],
        )
        .await?;
    match clash {
        Some(other) if Some(other) != id => {
            Err(StoreError::Conflict(format!("the name '{name}' is taken")))
        }
        _ => Ok(()),
    }
}

pub(super) async fn save_calendar(
    c: &mut dyn Conn,
    ctx: Ctx,
    id: Option<i64>,
    name: String,
    config: CalendarConfig,
) -> Result<Calendar> {
    let name = check_name(&name)?;
    // Parsing is the check: a calendar that parses can answer every question.
    let config = BusinessCalendar::new(&config)?.config();
    if let Some(id) = id {
        load_calendar(c, id).await?;
    }
    unique_name(c, "calendars", &name, id).await?;
    let id = match id {
        Some(id) => {
            c.execute(
                "UPDATE calendars SET name = $1, config = $2, updated_at = $3 WHERE id = $4",
                params![&name, to_json(&config), ctx.at.0, id],
            )
            .await?;
            queue_recompute(c, ctx, &format!("calendar {id} changed"), false).await?;
            id
        }
        None => c
            .query_one(
                "INSERT INTO calendars (name, config, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id",
                params![&name, to_json(&config), ctx.at.0],
            )
            .await?
            .int(0)?,
    };
    append_event(
        c,
        ctx,
        EventKind::CalendarSaved,
        None,
        "calendar",
        id,
        json!({"name": name}),
    )
    .await?;
    load_calendar(c, id).await
}

pub(super) async fn delete_calendar(c: &mut dyn Conn, ctx: Ctx, id: i64) -> Result<()> {
    let calendar = load_calendar(c, id).await?;
    let users = c
        .query(
            "SELECT name FROM sla_policies WHERE calendar_id = $1 ORDER BY name",
            params![id],
        )
        .await?;
    if !users.is_empty() {
        let names = users
            .iter()
            .map(|r| r.text(0))
            .collect::<Result<Vec<_>>>()?;
        return Err(StoreError::Conflict(format!(
            "calendar '{}' is used by the SLA policies {}",
            calendar.name,
            names.join(", ")
        )));
    }
    c.execute("DELETE FROM calendars WHERE id = $1", params![id])
        .await?;
    append_event(
        c,
        ctx,
        EventKind::CalendarDeleted,
        None,
        "calendar",
        id,
        json!({"name": calendar.name}),
    )
    .await
}

pub(super) async fn save_policy(
    c: &mut dyn Conn,
    ctx: Ctx,
    id: Option<i64>,
    new: NewSlaPolicy,
) -> Result<SlaPolicy> {
    let name = check_name(&new.name)?;
    new.rules.validate()?;
    if let Some(id) = id {
        load_policy(c, id).await?;
    }
    unique_name(c, "sla_policies", &name, id).await?;
    if let Some(calendar) = new.calendar_id {
        load_calendar(c, calendar).await?;
    }
    if let Some(team) = new.rules.on_warning.reassign_team_id {
        ensure_team(c, team).await?;
    }
    if let Some(team) = new.rules.on_breach.reassign_team_id {
        ensure_team(c, team).await?;
    }
    for inbox in &new.conditions.inbox_ids {
        ensure_exists(c, "SELECT id FROM inboxes WHERE id = $1", "inbox", *inbox).await?;
    }
    let conditions = Conditions {
        tags: normalize_tags(&new.conditions.tags)?,
        ..new.conditions
    };
    let (conditions, rules) = (to_json(&conditions), to_json(&new.rules));
    let id = match id {
        Some(id) => {
            c.execute(
                "UPDATE sla_policies SET name = $1, position = $2, conditions = $3, rules = $4, calendar_id = $5, \
                 updated_at = $6 WHERE id = $7",
                params![&name, new.position, &conditions, &rules, new.calendar_id, ctx.at.0, id],
            )
            .await?;
            id
        }
        None => c
            .query_one(
                "INSERT INTO sla_policies (name, position, conditions, rules, calendar_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
                params![&name, new.position, &conditions, &rules, new.calendar_id, ctx.at.0],
            )
            .await?
            .int(0)?,
    };
    // Conditions and order decide which policy every open ticket has: all are looked at again.
    queue_recompute(c, ctx, &format!("SLA policy {id} saved"), true).await?;
    append_event(
        c,
        ctx,
        EventKind::SlaPolicySaved,
        None,
        "sla_policy",
        id,
        json!({"name": name}),
    )
    .await?;
    load_policy(c, id).await
}

pub(super) async fn delete_policy(c: &mut dyn Conn, ctx: Ctx, id: i64) -> Result<()> {
    let policy = load_policy(c, id).await?;
    c.execute(
        "UPDATE ticket_sla SET policy_id = NULL WHERE policy_id = $1",
        params![id],
    )
    .await?;
    c.execute("DELETE FROM sla_policies WHERE id = $1", params![id])
        .await?;
    queue_recompute(c, ctx, &format!("SLA policy {id} deleted"), true).await?;
    append_event(
        c,
        ctx,
        EventKind::SlaPolicyDeleted,
        None,
        "sla_policy",
        id,
        json!({"name": policy.name}),
    )
    .await
}

/// Queues a recomputation of every open ticket's due times; with `reselect`, their policies
/// are chosen again too (conditions or order changed), else only the hours did.
pub(super) async fn queue_recompute(
    c: &mut dyn Conn,
    ctx: Ctx,
    reason: &str,
    reselect: bool,
) -> Result<()> {
    // A recomputation reads the configuration as it is when it runs, so a new one makes any
    // queued or half-done one redundant (keeping the stronger kind).
    let pending = c
        .query("SELECT reselect FROM sla_recompute", params![])
        .await?;
    let mut reselect = reselect;
    for r in pending {
        reselect |= r.bool(0)?;
    }
    c.execute("DELETE FROM sla_recompute", params![]).await?;
    c.execute(
        "INSERT INTO sla_recompute (reason, reselect, created_at) VALUES ($1, $2, $3)",
        params![reason, reselect, ctx.at.0],
    )
    .await?;
    Ok(())
}

/// Everything policy selection and scheduling read, loaded once per write or per chunk.
struct Setup {
    policies: Vec<SlaPolicy>,
    calendars: HashMap<i64, BusinessCalendar>,
    /// Per inbox: its hours and first-answer target (the SLA of tickets no policy matches).
    inboxes: HashMap<i64, (BusinessCalendar, i64)>,
}

impl Setup {
    async fn load(c: &mut dyn Conn) -> Result<Self> {
        let policies = list_policies(c).await?;
        let mut calendars = HashMap::new();
        for r in c
            .query("SELECT id, config FROM calendars", params![])
            .await?
        {
            let config: CalendarConfig = json_text(&r.text(1)?)?;
            let calendar = BusinessCalendar::new(&config).map_err(StoreError::corrupt)?;
            calendars.insert(r.int(0)?, calendar);
        }
        let mut inboxes = HashMap::new();
        for r in c
            .query(
                "SELECT id, business_hours, first_response_minutes FROM inboxes",
                params![],
            )
            .await?
        {
            let hours = r.text(1)?;
            let config = if hours.is_empty() {
                email::default_business_hours()
            } else {
                json_text(&hours)?
            };
            let calendar = BusinessCalendar::new(&config).map_err(StoreError::corrupt)?;
            inboxes.insert(r.int(0)?, (calendar, r.int(2)?));
        }
        Ok(Self {
            policies,
            calendars,
            inboxes,
        })
    }

    fn select(&self, facts: &TicketFacts) -> Option<i64> {
        rapport_core::sla::first_match(&self.policies, |p| &p.conditions, facts).map(|p| p.id)
    }

    /// The rules and calendar a ticket of `inbox_id` runs on under `policy_id`.
    fn rules(&self, policy_id: Option<i64>, inbox_id: i64) -> Result<(Rules, &BusinessCalendar)> {
        let (inbox_hours, first_response) = self
            .inboxes
            .get(&inbox_id)
            .ok_or_else(|| StoreError::not_found("inbox", inbox_id))?;
        let policy = policy_id.and_then(|id| self.policies.iter().find(|p| p.id == id));
        Ok(match policy {
            Some(p) => {
                let calendar = p
                    .calendar_id
                    .and_then(|id| self.calendars.get(&id))
                    .unwrap_or(inbox_hours);
                (p.rules.clone(), calendar)
            }
            None => (Rules::first_response_only(*first_response), inbox_hours),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// What a ticket's writes do to its clocks

/// What happened to a ticket, as far as its clocks care.
#[derive(Debug, Clone, Copy)]
pub(super) enum SlaEvent {
    CustomerMessage,
    PublicReply,
    Status(TicketStatus),
    /// Priority, tags, fields or team changed: the policy is chosen again.
    Reselect,
}

struct SlaRow {
    policy_id: Option<i64>,
    clocks: SlaClocks,
    breaches: i64,
}

async fn sla_row(c: &mut dyn Conn, ticket_id: i64) -> Result<Option<SlaRow>> {
    let Some(r) = c
        .query_opt(
            "SELECT policy_id, clocks, breaches FROM ticket_sla WHERE ticket_id = $1",
            params![ticket_id],
        )
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(SlaRow {
        policy_id: r.opt_int(0)?,
        clocks: json_text(&r.text(1)?)?,
        breaches: r.int(2)?,
    }))
}

/// How a ticket's SLA row is written.
#[derive(Clone, Copy, PartialEq)]
enum Write {
    Insert,
    Update,
}

/// The columns derived from the clocks: their JSON, the most pressing due time and the alarm.
fn schedule_columns(clocks: &SlaClocks) -> [crate::sql::Value; 4] {
    let due = clocks.nearest_due();
    [
        to_json(clocks).into(),
        due.map(|d| d.0.as_str().to_string()).into(),
        due.map(|d| d.1.0).into(),
        clocks.next_alarm().map(|m| m.0).into(),
    ]
}

async fn write_sla_row(c: &mut dyn Conn, ticket_id: i64, row: &SlaRow, how: Write) -> Result<()> {
    let sql = match how {
        Write::Insert => {
            "INSERT INTO ticket_sla (clocks, due_target, due_at, alarm_at, policy_id, breaches, open, ticket_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        }
        Write::Update => {
            "UPDATE ticket_sla SET clocks = $1, due_target = $2, due_at = $3, alarm_at = $4, policy_id = $5, \
             breaches = $6, open = $7 WHERE ticket_id = $8"
        }
    };
    let mut values = schedule_columns(&row.clocks).to_vec();
    values.extend_from_slice(params![
        row.policy_id,
        row.breaches,
        !row.clocks.solved,
        ticket_id
    ]);
    c.execute(sql, &values).await?;
    Ok(())
}

/// Recomputed schedules (and policies) of many tickets: on PostgreSQL one statement (one round
/// trip) for the chunk. Only these columns change, so the other indexes are left alone.
async fn write_schedules(c: &mut dyn Conn, rows: &[(i64, SlaRow)], policy: bool) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    // SQLite rewrites an index whenever its column is SET, changed or not: the policy is set
    // only when it was chosen again.
    let set_policy = if policy {
        ", policy_id = v.column6"
    } else {
        ""
    };
    if !c.statements_are_round_trips() {
        // SQLite: single-row updates by primary key beat its join over a VALUES list.
        let sql = if policy {
            "UPDATE ticket_sla SET clocks = $1, due_target = $2, due_at = $3, alarm_at = $4, \
             policy_id = $5 WHERE ticket_id = $6"
        } else {
            "UPDATE ticket_sla SET clocks = $1, due_target = $2, due_at = $3, alarm_at = $4 \
             WHERE ticket_id = $5"
        };
        for (ticket_id, row) in rows {
            let mut values = schedule_columns(&row.clocks).to_vec();
            if policy {
                values.extend_from_slice(params![row.policy_id]);
            }
            values.extend_from_slice(params![*ticket_id]);
            c.execute(sql, &values).await?;
        }
        return Ok(());
    }
    let mut q = SqlBuilder::new(&format!(
        "UPDATE ticket_sla SET clocks = v.column2, due_target = v.column3, due_at = v.column4, \
         alarm_at = v.column5{set_policy} FROM (VALUES "
    ));
    for (i, (ticket_id, row)) in rows.iter().enumerate() {
        q.push(if i == 0 { "(" } else { ", (" }).bind(*ticket_id);
        for value in schedule_columns(&row.clocks) {
            q.push(", ").bind(value);
        }
        if policy {
            q.push(", ").bind(row.policy_id);
        }
        q.push(")");
    }
    q.push(") AS v WHERE ticket_sla.ticket_id = v.column1");
    let (sql, params) = q.parts();
    c.execute(sql, params).await?;
    Ok(())
}

/// What policy selection reads about a stored ticket.
struct Facts {
    inbox_id: i64,
    priority: Priority,
    status: TicketStatus,
    tier: Tier,
    tags: Vec<String>,
    custom_fields: BTreeMap<String, Value>,
}

impl Facts {
    fn view(&self) -> TicketFacts<'_> {
        TicketFacts {
            inbox_id: self.inbox_id,
            priority: self.priority,
            tier: self.tier,
            tags: &self.tags,
            custom_fields: &self.custom_fields,
        }
    }
}

/// The facts of these tickets: one query, plus tags and fields only when a policy asks.
async fn load_facts(c: &mut dyn Conn, setup: &Setup, ids: &[i64]) -> Result<HashMap<i64, Facts>> {
    let mut facts = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(facts);
    }
    let mut q = SqlBuilder::new(
        "SELECT t.id, t.inbox_id, t.priority, t.status, o.tier FROM tickets t \
         JOIN customers c ON c.id = t.customer_id LEFT JOIN organizations o ON o.id = c.organization_id \
         WHERE t.id IN (",
    );
    q.bind_list(ids.iter().copied()).push(")");
    let (sql, params) = q.parts();
    for r in c.query(sql, params).await? {
        let tier = match r.opt_text(4)? {
            Some(t) => Tier::parse(&t)?,
            None => Tier::default(),
        };
        let ticket = Facts {
            inbox_id: r.int(1)?,
            priority: Priority::parse(&r.text(2)?)?,
            status: TicketStatus::parse(&r.text(3)?)?,
            tier,
            tags: Vec::new(),
            custom_fields: BTreeMap::new(),
        };
        facts.insert(r.int(0)?, ticket);
    }
    let wants = |f: fn(&Conditions) -> bool| setup.policies.iter().any(|p| f(&p.conditions));
    if wants(|c| !c.tags.is_empty()) {
        let mut q = SqlBuilder::new("SELECT ticket_id, tag FROM ticket_tags WHERE ticket_id IN (");
        q.bind_list(ids.iter().copied()).push(")");
        let (sql, params) = q.parts();
        for r in c.query(sql, params).await? {
            if let Some(f) = facts.get_mut(&r.int(0)?) {
                f.tags.push(r.text(1)?);
            }
        }
    }
    if wants(|c| c.field.is_some()) {
        let mut q = SqlBuilder::new(
            "SELECT ticket_id, field_key, value FROM ticket_field_values WHERE ticket_id IN (",
        );
        q.bind_list(ids.iter().copied()).push(")");
        let (sql, params) = q.parts();
        for r in c.query(sql, params).await? {
            if let Some(f) = facts.get_mut(&r.int(0)?) {
                f.custom_fields.insert(r.text(1)?, json_text(&r.text(2)?)?);
            }
        }
    }
    Ok(facts)
}

async fn customer_tier(c: &mut dyn Conn, customer_id: i64) -> Result<Tier> {
    let tier = c
        .query_opt(
            "SELECT o.tier FROM customers c JOIN organizations o ON o.id = c.organization_id WHERE c.id = $1",
            params![customer_id],
        )
        .await?;
    match tier {
        Some(r) => Ok(Tier::parse(&r.text(0)?)?),
        None => Ok(Tier::default()),
    }
}

/// A new ticket's clocks start, under the policy its facts choose.
pub(super) async fn start_clocks(c: &mut dyn Conn, ctx: Ctx, ticket: &Ticket) -> Result<()> {
    let setup = Setup::load(c).await?;
    // Without policies there is nothing to choose, so the tier is not worth a query.
    let tier = if setup.policies.is_empty() {
        Tier::default()
    } else {
        customer_tier(c, ticket.customer.id).await?
    };
    let policy_id = setup.select(&TicketFacts {
        inbox_id: ticket.inbox_id,
        priority: ticket.priority,
        tier,
        tags: &ticket.tags,
        custom_fields: &ticket.custom_fields,
    });
    let (rules, calendar) = setup.rules(policy_id, ticket.inbox_id)?;
    let mut clocks = SlaClocks::start(ctx.at, ticket.status);
    clocks.schedule(&rules, calendar);
    let row = SlaRow {
        policy_id,
        clocks,
        breaches: 0,
    };
    write_sla_row(c, ticket.id, &row, Write::Insert).await
}

/// Applies `event` to a ticket's clocks and reschedules them.
pub(super) async fn on_ticket_event(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    event: SlaEvent,
) -> Result<()> {
    let setup = Setup::load(c).await?;
    let existing = sla_row(c, ticket_id).await?;
    let (mut row, inbox_id) = match (existing, event) {
        (Some(row), SlaEvent::CustomerMessage | SlaEvent::PublicReply | SlaEvent::Status(_)) => {
            let inbox = c
                .query_one(
                    "SELECT inbox_id FROM tickets WHERE id = $1",
                    params![ticket_id],
                )
                .await?
                .int(0)?;
            (row, inbox)
        }
        (existing, _) => {
            // The policy is chosen again, or for the first time: a ticket from before SLAs
            // existed starts its clocks now.
            let ticket = load_facts(c, &setup, &[ticket_id])
                .await?
                .remove(&ticket_id)
                .ok_or_else(|| StoreError::not_found("ticket", TicketRef(ticket_id)))?;
            let policy_id = setup.select(&ticket.view());
            let row = match existing {
                Some(row) => SlaRow { policy_id, ..row },
                None => {
                    let row = SlaRow {
                        policy_id,
                        clocks: SlaClocks::start(ctx.at, ticket.status),
                        breaches: 0,
                    };
                    write_sla_row(c, ticket_id, &row, Write::Insert).await?;
                    row
                }
            };
            (row, ticket.inbox_id)
        }
    };
    let (rules, calendar) = setup.rules(row.policy_id, inbox_id)?;
    match event {
        SlaEvent::CustomerMessage => row.clocks.customer_message(ctx.at),
        SlaEvent::PublicReply => row.clocks.public_reply(ctx.at, calendar),
        SlaEvent::Status(to) => row.clocks.status_changed(to, ctx.at, calendar),
        SlaEvent::Reselect => {}
    }
    row.clocks.schedule(&rules, calendar);
    write_sla_row(c, ticket_id, &row, Write::Update).await?;
    match event {
        SlaEvent::PublicReply => {
            keep_commitments(c, ctx, ticket_id, Some(CommitmentKind::NextUpdate)).await
        }
        SlaEvent::Status(TicketStatus::Solved | TicketStatus::Closed) => {
            keep_commitments(c, ctx, ticket_id, None).await
        }
        _ => Ok(()),
    }
}

/// A customer message arrived on a ticket that was `status_before`: its clocks, and whether
/// it is a chase (asking for status, or writing again before any answer).
pub(super) async fn on_customer_message(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    message_id: i64,
    body: &str,
    status_before: TicketStatus,
) -> Result<()> {
    on_ticket_event(c, ctx, ticket_id, SlaEvent::CustomerMessage).await?;
    if !matches!(
        status_before,
        TicketStatus::New | TicketStatus::Open | TicketStatus::OnHold
    ) {
        return Ok(());
    }
    let reason = match detect_chase(body) {
        Some(signal) => format!("asked for status: \"{}\"", signal.phrase),
        None if wrote_again_unanswered(c, ctx, ticket_id, message_id).await? => {
            "wrote again before any answer".to_string()
        }
        None => return Ok(()),
    };
    c.execute(
        "INSERT INTO chases (ticket_id, message_id, reason, at) VALUES ($1, $2, $3, $4)",
        params![ticket_id, message_id, &reason, ctx.at.0],
    )
    .await?;
    append_event(
        c,
        ctx,
        EventKind::TicketChased,
        Some(ticket_id),
        "message",
        message_id,
        json!({"reason": reason}),
    )
    .await
}

/// The public message before `message_id` is also the customer's, and not from a moment ago.
async fn wrote_again_unanswered(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    message_id: i64,
) -> Result<bool> {
    let previous = c
        .query_opt(
            "SELECT kind, created_at FROM messages WHERE ticket_id = $1 AND id < $2 AND kind IN ('customer', 'reply') \
             ORDER BY id DESC LIMIT 1",
            params![ticket_id, message_id],
        )
        .await?;
    Ok(match previous {
        Some(r) => r.text(0)? == "customer" && ctx.at.0 - r.int(1)? > CHASE_GRACE_MS,
        None => false,
    })
}

// ---------------------------------------------------------------------------------------------
// Reading a ticket's SLA

pub(super) async fn ticket_sla(c: &mut dyn Conn, ticket_id: i64) -> Result<Option<TicketSla>> {
    let Some(row) = sla_row(c, ticket_id).await? else {
        return Ok(None);
    };
    let setup = Setup::load(c).await?;
    let inbox_id = c
        .query_one(
            "SELECT inbox_id FROM tickets WHERE id = $1",
            params![ticket_id],
        )
        .await?
        .int(0)?;
    let (rules, _) = setup.rules(row.policy_id, inbox_id)?;
    let policy_name = row
        .policy_id
        .and_then(|id| setup.policies.iter().find(|p| p.id == id))
        .map(|p| p.name.clone());
    let targets = Target::ALL
        .iter()
        .filter_map(|target| {
            let rule = rules.targets.get(*target)?;
            let clock = row.clocks.clock(*target);
            let state = match (clock.started_at, clock.met_at, clock.running_since) {
                (None, _, _) => "idle",
                (Some(_), Some(_), _) => "met",
                (Some(_), None, Some(_)) => "running",
                // Solved without this target being reached: it no longer counts.
                (Some(_), None, None) if row.clocks.solved => "stopped",
                (Some(_), None, None) => "paused",
            };
            Some(SlaTargetState {
                target: *target,
                minutes: rule.minutes,
                basis: rule.basis,
                state: state.to_string(),
                due_at: clock.due_at,
                remaining_minutes: (state == "paused").then(|| clock.remaining_ms(rule) / 60_000),
                met_at: clock.met_at,
                breached_at: clock.breached_at,
            })
        })
        .collect();
    let due = row.clocks.nearest_due();
    Ok(Some(TicketSla {
        ticket_id,
        policy_id: row.policy_id,
        policy_name,
        paused: row.clocks.paused,
        targets,
        due_target: due.map(|d| d.0),
        due_at: due.map(|d| d.1),
        breaches: row.breaches,
    }))
}

/// When the first response is due, while it runs.
pub(super) async fn first_response_due(c: &mut dyn Conn, ticket_id: i64) -> Result<Option<Millis>> {
    Ok(sla_row(c, ticket_id)
        .await?
        .and_then(|row| row.clocks.first_response.due_at))
}

pub(super) async fn sla_badges(c: &mut dyn Conn, ids: &[i64]) -> Result<Vec<SlaBadge>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = SqlBuilder::new(
        "SELECT ticket_id, due_target, due_at FROM ticket_sla WHERE due_at IS NOT NULL AND ticket_id IN (",
    );
    q.bind_list(ids.iter().copied()).push(")");
    let (sql, params) = q.parts();
    let mut badges = Vec::new();
    for r in c.query(sql, params).await? {
        let target = r.text(1)?;
        let Some(target) = Target::ALL.into_iter().find(|t| t.as_str() == target) else {
            return Err(StoreError::corrupt(format!("SLA target '{target}'")));
        };
        badges.push(SlaBadge {
            ticket_id: r.int(0)?,
            target,
            due_at: Millis(r.int(2)?),
        });
    }
    Ok(badges)
}

// ---------------------------------------------------------------------------------------------
// Commitments

const COMMITMENT_SELECT: &str = "SELECT id, ticket_id, kind, description, due_at, remind_at, status, owner_id, team_id, \
     created_by, created_at, resolved_at, reminded_at, note FROM commitments";

fn commitment_from(r: &Row) -> Result<Commitment> {
    Ok(Commitment {
        id: r.int(0)?,
        ticket_id: r.int(1)?,
        kind: CommitmentKind::parse(&r.text(2)?)?,
        description: r.text(3)?,
        due_at: Millis(r.int(4)?),
        remind_at: Millis(r.int(5)?),
        status: CommitmentStatus::parse(&r.text(6)?)?,
        owner_id: r.opt_int(7)?,
        team_id: r.opt_int(8)?,
        created_by: r.opt_int(9)?,
        created_at: Millis(r.int(10)?),
        resolved_at: r.opt_int(11)?.map(Millis),
        reminded_at: r.opt_int(12)?.map(Millis),
        note: r.text(13)?,
    })
}

pub(super) async fn commitments(c: &mut dyn Conn, ticket_id: i64) -> Result<Vec<Commitment>> {
    let rows = c
        .query(
            &format!("{COMMITMENT_SELECT} WHERE ticket_id = $1 ORDER BY id"),
            params![ticket_id],
        )
        .await?;
    rows.iter().map(commitment_from).collect()
}

async fn load_commitment(c: &mut dyn Conn, id: i64) -> Result<Commitment> {
    let row = row_by_id(c, COMMITMENT_SELECT, "id", id, || {
        StoreError::not_found("commitment", id)
    })
    .await?;
    commitment_from(&row)
}

/// The calendar a ticket's SLA runs on and the time zone its customer lives in (the
/// calendar's when unknown): what quick choices are resolved with.
async fn ticket_calendar(c: &mut dyn Conn, ticket_id: i64) -> Result<(BusinessCalendar, String)> {
    let row = c
        .query_opt(
            "SELECT t.inbox_id, s.policy_id, cu.time_zone FROM tickets t JOIN customers cu ON cu.id = t.customer_id \
             LEFT JOIN ticket_sla s ON s.ticket_id = t.id WHERE t.id = $1",
            params![ticket_id],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("ticket", TicketRef(ticket_id)))?;
    let setup = Setup::load(c).await?;
    let (_, calendar) = setup.rules(row.opt_int(1)?, row.int(0)?)?;
    let zone = row
        .opt_text(2)?
        .unwrap_or_else(|| calendar.time_zone().to_string());
    Ok((calendar.clone(), zone))
}

pub(super) async fn make_commitment(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    new: NewCommitment,
) -> Result<Commitment> {
    let description = commitment::validate_description(new.kind, &new.description)?;
    let status = ticket_status(c, ticket_id).await?;
    if matches!(status, TicketStatus::Solved | TicketStatus::Closed) {
        return Err(StoreError::Conflict(format!(
            "ticket {} is {}: reopen it before promising more",
            TicketRef(ticket_id),
            status.as_str()
        )));
    }
    let due = match new.due {
        Due::At(at) => at,
        Due::Quick(quick) => {
            let (calendar, zone) = ticket_calendar(c, ticket_id).await?;
            quick.due(ctx.at, &zone, &calendar)?
        }
    };
    let due = commitment::validate_due(due, ctx.at)?;
    let remind = commitment::remind_at(ctx.at, due);
    let owner = c
        .query_one(
            "SELECT assignee_id, team_id FROM tickets WHERE id = $1",
            params![ticket_id],
        )
        .await?;
    let owner_id = owner.opt_int(0)?.or(ctx.actor.agent_id());
    if new.kind == CommitmentKind::NextUpdate {
        // One next-update time at a time: a new one replaces the open one.
        cancel_open_next_updates(c, ctx, ticket_id).await?;
    }
    let id = c
        .query_one(
            "INSERT INTO commitments (ticket_id, kind, description, due_at, remind_at, status, owner_id, team_id, \
             created_by, created_at, alarm_at) VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9, $5) RETURNING id",
            params![ticket_id, new.kind.as_str(), &description, due.0, remind.0, owner_id, owner.opt_int(1)?,
                    ctx.actor.agent_id(), ctx.at.0],
        )
        .await?
        .int(0)?;
    append_event(
        c,
        ctx,
        EventKind::CommitmentMade,
        Some(ticket_id),
        "commitment",
        id,
        json!({"kind": new.kind, "description": description, "due_at": due, "owner_id": owner_id}),
    )
    .await?;
    load_commitment(c, id).await
}

async fn cancel_open_next_updates(c: &mut dyn Conn, ctx: Ctx, ticket_id: i64) -> Result<()> {
    let open = c
        .query(
            "SELECT id FROM commitments WHERE ticket_id = $1 AND kind = 'next_update' AND status = 'open'",
            params![ticket_id],
        )
        .await?;
    for r in open {
        end_commitment(
            c,
            ctx,
            r.int(0)?,
            CommitmentStatus::Cancelled,
            "replaced by a new next-update time",
        )
        .await?;
    }
    Ok(())
}

/// Ends an open commitment: kept, broken or cancelled, with its event.
async fn end_commitment(
    c: &mut dyn Conn,
    ctx: Ctx,
    id: i64,
    status: CommitmentStatus,
    note: &str,
) -> Result<Commitment> {
    let changed = c
        .execute(
            "UPDATE commitments SET status = $1, resolved_at = $2, note = $3, alarm_at = NULL \
             WHERE id = $4 AND status = 'open'",
            params![status.as_str(), ctx.at.0, note, id],
        )
        .await?;
    let commitment = load_commitment(c, id).await?;
    if changed == 0 {
        return Err(StoreError::Conflict(format!(
            "commitment {id} is already {}",
            commitment.status.as_str()
        )));
    }
    super::phone::commitment_ended(c, ctx, id, status).await?;
    let kind = match status {
        CommitmentStatus::Kept => EventKind::CommitmentKept,
        CommitmentStatus::Broken => EventKind::CommitmentBroken,
        _ => EventKind::CommitmentCancelled,
    };
    append_event(
        c,
        ctx,
        kind,
        Some(commitment.ticket_id),
        "commitment",
        id,
        json!({"kind": commitment.kind, "description": commitment.description, "due_at": commitment.due_at,
               "note": note}),
    )
    .await?;
    Ok(commitment)
}

/// A public reply keeps open next-update times; solving keeps everything open (`kind` None).
/// Open ones past due are already broken by the scheduler; any it has not reached yet break
/// here.
async fn keep_commitments(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    kind: Option<CommitmentKind>,
) -> Result<()> {
    let open = c
        .query(
            "SELECT id, kind, due_at FROM commitments WHERE ticket_id = $1 AND status = 'open'",
            params![ticket_id],
        )
        .await?;
    for r in open {
        let this_kind = r.text(1)?;
        if kind.is_some_and(|k| k.as_str() != this_kind) {
            continue;
        }
        let id = r.int(0)?;
        if kind.is_none()
            && !phone::fulfils_promise(
                super::phone::is_callback_promise(c, id).await?,
                phone::Evidence::Solved,
            )
        {
            // Solving a ticket is not calling the customer back: the callback stays open.
            continue;
        }
        let outcome = commitment::fulfilment(Millis(r.int(2)?), ctx.at);
        end_commitment(c, ctx, id, outcome, "").await?;
    }
    Ok(())
}

/// A callback's promise ended by the call just logged: kept, or broken when the call started
/// after the window — judged by the call's start (`rapport_core::phone::callback_verdict`),
/// not by when it was logged.
pub(super) async fn fulfil_by_call(
    c: &mut dyn Conn,
    ctx: Ctx,
    id: i64,
    outcome: CommitmentStatus,
) -> Result<Commitment> {
    end_commitment(c, ctx, id, outcome, "").await
}

/// Ends a commitment as fulfilled now: kept when on time, else broken.
async fn end_fulfilled(c: &mut dyn Conn, ctx: Ctx, commitment: &Commitment) -> Result<Commitment> {
    let outcome = commitment::fulfilment(commitment.due_at, ctx.at);
    end_commitment(c, ctx, commitment.id, outcome, "").await
}

/// An agent says a promise is done. It counts only once the customer was told: there must be
/// a public reply since the promise was made.
pub(super) async fn fulfil_commitment(c: &mut dyn Conn, ctx: Ctx, id: i64) -> Result<Commitment> {
    let commitment = load_commitment(c, id).await?;
    if commitment.status != CommitmentStatus::Open {
        return Err(StoreError::Conflict(format!(
            "commitment {id} is already {}",
            commitment.status.as_str()
        )));
    }
    if !phone::fulfils_promise(
        super::phone::is_callback_promise(c, id).await?,
        phone::Evidence::PublicReply,
    ) {
        return Err(StoreError::Conflict(
            "a callback is kept by calling: log the outbound call on the ticket".into(),
        ));
    }
    let told = c
        .int_opt(
            "SELECT id FROM messages WHERE ticket_id = $1 AND kind = 'reply' AND created_at >= $2 LIMIT 1",
            params![commitment.ticket_id, commitment.created_at.0],
        )
        .await?;
    if told.is_none() {
        return Err(StoreError::Conflict(
            "tell the customer first: a commitment is fulfilled by a public reply".into(),
        ));
    }
    end_fulfilled(c, ctx, &commitment).await
}

pub(super) async fn cancel_commitment(
    c: &mut dyn Conn,
    ctx: Ctx,
    id: i64,
    reason: &str,
) -> Result<Commitment> {
    let reason = rapport_core::contact::validate_name("reason", reason)?;
    end_commitment(c, ctx, id, CommitmentStatus::Cancelled, &reason).await
}

// ---------------------------------------------------------------------------------------------
// The scheduler

/// Fires what is due at `now`: SLA warnings and breaches, commitment reminders and lapses, then
/// one chunk of pending recomputation. At most `limit` alarms of each kind per pass.
pub(super) async fn scheduler_pass(
    c: &mut dyn Conn,
    now: Millis,
    limit: i64,
) -> Result<SchedulerPass> {
    let mut pass = SchedulerPass {
        overdue_requests: routing::fire_overdue_requests(c, now, limit).await?,
        ..SchedulerPass::default()
    };
    let ctx = Ctx {
        actor: Actor::SYSTEM,
        at: now,
    };
    let due = c
        .query(
            &format!(
                "SELECT ticket_id FROM ticket_sla WHERE alarm_at <= $1 ORDER BY alarm_at LIMIT $2{}",
                c.skip_locked()
            ),
            params![now.0, limit],
        )
        .await?;
    if !due.is_empty() {
        let setup = Setup::load(c).await?;
        for r in due {
            fire_sla(c, ctx, &setup, r.int(0)?, &mut pass).await?;
        }
    }
    let due = c
        .query(
            &format!(
                "SELECT id FROM commitments WHERE alarm_at <= $1 ORDER BY alarm_at LIMIT $2{}",
                c.skip_locked()
            ),
            params![now.0, limit],
        )
        .await?;
    for r in due {
        fire_commitment(c, ctx, r.int(0)?, &mut pass).await?;
    }
    pass.recomputed = recompute_step(c).await?;
    Ok(pass)
}

pub(super) async fn scheduler_has_work(c: &mut dyn Conn, now: Millis) -> Result<bool> {
    let due = c
        .int_opt(
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM ticket_sla WHERE alarm_at <= $1) \
             OR EXISTS (SELECT 1 FROM commitments WHERE alarm_at <= $1) \
             OR EXISTS (SELECT 1 FROM internal_requests WHERE alarm_at <= $1) \
             OR EXISTS (SELECT 1 FROM sla_recompute)",
            params![now.0],
        )
        .await?;
    Ok(due.is_some())
}

async fn fire_sla(
    c: &mut dyn Conn,
    ctx: Ctx,
    setup: &Setup,
    ticket_id: i64,
    pass: &mut SchedulerPass,
) -> Result<()> {
    let Some(mut row) = sla_row(c, ticket_id).await? else {
        return Ok(());
    };
    let alarms = row.clocks.fire(ctx.at);
    row.breaches += alarms
        .iter()
        .filter(|a| a.kind == AlarmKind::Breach)
        .count() as i64;
    write_sla_row(c, ticket_id, &row, Write::Update).await?;
    let inbox_id = c
        .query_one(
            "SELECT inbox_id FROM tickets WHERE id = $1",
            params![ticket_id],
        )
        .await?
        .int(0)?;
    let (rules, _) = setup.rules(row.policy_id, inbox_id)?;
    for alarm in alarms {
        let (kind, actions) = match alarm.kind {
            AlarmKind::Warning => {
                pass.warnings += 1;
                (EventKind::SlaWarning, &rules.on_warning)
            }
            AlarmKind::Breach => {
                pass.breaches += 1;
                (EventKind::SlaBreached, &rules.on_breach)
            }
        };
        let why = sla_alert(alarm.kind, alarm.target, alarm.due_at);
        let notified = escalate(c, ctx, ticket_id, actions, &why).await?;
        append_event(
            c,
            ctx,
            kind,
            Some(ticket_id),
            "ticket",
            ticket_id,
            json!({"target": alarm.target, "due_at": alarm.due_at, "policy_id": row.policy_id,
                   "notified": notified, "actions": actions}),
        )
        .await?;
    }
    Ok(())
}

/// Why agents are alerted: the event kind (in their Alerts view) and a sentence (emailed).
pub(super) struct Why {
    pub(super) kind: EventKind,
    pub(super) text: String,
}

fn sla_alert(kind: AlarmKind, target: Target, due: Millis) -> Why {
    let target = target.as_str().replace('_', " ");
    match kind {
        AlarmKind::Warning => Why {
            kind: EventKind::SlaWarning,
            text: format!("SLA warning: the {target} is due at {due}."),
        },
        AlarmKind::Breach => Why {
            kind: EventKind::SlaBreached,
            text: format!("SLA target missed: the {target} was due at {due}."),
        },
    }
}

fn commitment_alert(kind: EventKind, commitment: &Commitment) -> Why {
    let what = match commitment.description.as_str() {
        "" => "the next update".to_string(),
        text => format!("\"{text}\""),
    };
    let due = commitment.due_at;
    let text = match kind {
        EventKind::CommitmentReminded => format!("Reminder: {what} is due at {due}."),
        _ => format!("Commitment broken: {what} was due at {due}."),
    };
    Why { kind, text }
}

/// Carries out `actions` on a ticket; returns the agents notified.
async fn escalate(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    actions: &rapport_core::sla::Actions,
    why: &Why,
) -> Result<Vec<i64>> {
    let ticket = c
        .query_one(
            "SELECT assignee_id, team_id, priority FROM tickets WHERE id = $1",
            params![ticket_id],
        )
        .await?;
    let (assignee, team) = (ticket.opt_int(0)?, ticket.opt_int(1)?);
    let mut notify = Vec::new();
    if actions.notify_assignee {
        notify.extend(assignee);
    }
    if actions.notify_supervisors {
        notify.extend(supervisors(c, team).await?);
    }
    notify.sort_unstable();
    notify.dedup();
    for agent in &notify {
        alert(c, ctx, ticket_id, *agent, why).await?;
    }
    let priority = Priority::parse(&ticket.text(2)?)?;
    let patch = TicketPatch {
        priority: priority.raised().filter(|_| actions.raise_priority),
        team_id: actions
            .reassign_team_id
            .filter(|t| Some(*t) != team)
            .map(Some),
        transfer_reason: Some(format!("Escalation: {}", why.text)),
        ..TicketPatch::default()
    };
    if patch.priority.is_some() || patch.team_id.is_some() {
        apply_ticket_patch(c, ctx, ticket_id, patch).await?;
    }
    Ok(notify)
}

/// Active supervisors of `team` (every active supervisor and admin when it has none).
pub(super) async fn supervisors(c: &mut dyn Conn, team: Option<i64>) -> Result<Vec<i64>> {
    let rows = match team {
        Some(team) => {
            c.query(
                "SELECT a.id FROM agents a JOIN team_members m ON m.agent_id = a.id \
                 WHERE m.team_id = $1 AND a.active = $2 AND a.role = 'supervisor'",
                params![team, true],
            )
            .await?
        }
        None => Vec::new(),
    };
    let rows = if rows.is_empty() {
        c.query(
            "SELECT id FROM agents WHERE active = $1 AND role IN ('supervisor', 'admin')",
            params![true],
        )
        .await?
    } else {
        rows
    };
    rows.iter().map(|r| r.int(0)).collect()
}

/// An alert for one agent about a ticket: it shows in their Alerts view and live, and is
/// emailed to them.
pub(super) async fn alert(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    agent_id: i64,
    why: &Why,
) -> Result<()> {
    append_event(
        c,
        ctx,
        EventKind::AgentAlerted,
        Some(ticket_id),
        "agent",
        agent_id,
        json!({"reason": why.kind.as_str(), "text": why.text}),
    )
    .await?;
    email::queue_alert(c, ctx, ticket_id, agent_id, &why.text).await
}

async fn fire_commitment(
    c: &mut dyn Conn,
    ctx: Ctx,
    id: i64,
    pass: &mut SchedulerPass,
) -> Result<()> {
    let commitment = load_commitment(c, id).await?;
    if commitment.status != CommitmentStatus::Open {
        return Ok(());
    }
    if ctx.at < commitment.due_at {
        pass.reminders += 1;
        c.execute(
            "UPDATE commitments SET reminded_at = $1, alarm_at = due_at WHERE id = $2",
            params![ctx.at.0, id],
        )
        .await?;
        let why = commitment_alert(EventKind::CommitmentReminded, &commitment);
        for agent in reminded(c, &commitment).await? {
            alert(c, ctx, commitment.ticket_id, agent, &why).await?;
        }
        return append_event(
            c,
            ctx,
            EventKind::CommitmentReminded,
            Some(commitment.ticket_id),
            "commitment",
            id,
            json!({"owner_id": commitment.owner_id, "due_at": commitment.due_at,
                   "description": commitment.description}),
        )
        .await;
    }
    pass.broken += 1;
    end_commitment(c, ctx, id, CommitmentStatus::Broken, "lapsed").await?;
    let actions = rapport_core::sla::Actions {
        notify_assignee: true,
        notify_supervisors: true,
        ..Default::default()
    };
    let why = commitment_alert(EventKind::CommitmentBroken, &commitment);
    let notified = escalate(c, ctx, commitment.ticket_id, &actions, &why).await?;
    // The one who made the promise hears of it even if the ticket changed hands since.
    if let Some(owner) = commitment.owner_id.filter(|o| !notified.contains(o)) {
        alert(c, ctx, commitment.ticket_id, owner, &why).await?;
    }
    Ok(())
}

/// Who is reminded of a commitment: whoever answers for it; when nobody does (a promise made
/// on an unowned ticket, like a customer's callback request), the ticket's owner now, else its
/// team's supervisors — a reminder nobody receives is no reminder.
async fn reminded(c: &mut dyn Conn, commitment: &Commitment) -> Result<Vec<i64>> {
    if let Some(owner) = commitment.owner_id {
        return Ok(vec![owner]);
    }
    let ticket = c
        .query_one(
            "SELECT assignee_id, team_id FROM tickets WHERE id = $1",
            params![commitment.ticket_id],
        )
        .await?;
    match ticket.opt_int(0)? {
        Some(assignee) => Ok(vec![assignee]),
        None => supervisors(c, ticket.opt_int(1)?).await,
    }
}

/// One chunk of the oldest pending recomputation: open tickets after its cursor get their
/// policy chosen again and their due times rescheduled.
async fn recompute_step(c: &mut dyn Conn) -> Result<u32> {
    // A job with nothing (left) to do is finished here and the next one looked at, so a pass
    // is idle only when no recomputation remains.
    let (job_id, ids, reselect) = loop {
        let Some(job) = c
            .query_opt(
                &format!(
                    "SELECT id, after_ticket_id, reselect FROM sla_recompute ORDER BY id LIMIT 1{}",
                    c.skip_locked()
                ),
                params![],
            )
            .await?
        else {
            return Ok(0);
        };
        let (job_id, after, reselect) = (job.int(0)?, job.int(1)?, job.bool(2)?);
        let ids = c
            .query(
                "SELECT ticket_id FROM ticket_sla WHERE open AND ticket_id > $1 \
                 ORDER BY ticket_id LIMIT $2",
                params![after, RECOMPUTE_CHUNK],
            )
            .await?
            .iter()
            .map(|r| r.int(0))
            .collect::<Result<Vec<_>>>()?;
        if !ids.is_empty() {
            break (job_id, ids, reselect);
        }
        c.execute("DELETE FROM sla_recompute WHERE id = $1", params![job_id])
            .await?;
    };
    let last = ids[ids.len() - 1];
    let setup = Setup::load(c).await?;
    let mut q = SqlBuilder::new(
        "SELECT ticket_id, policy_id, clocks, breaches FROM ticket_sla WHERE ticket_id IN (",
    );
    q.bind_list(ids.iter().copied()).push(")");
    let (sql, params) = q.parts();
    let mut rows = HashMap::new();
    for r in c.query(sql, params).await? {
        let row = SlaRow {
            policy_id: r.opt_int(1)?,
            clocks: json_text(&r.text(2)?)?,
            breaches: r.int(3)?,
        };
        rows.insert(r.int(0)?, row);
    }
    let mut done = 0;
    let mut changed = Vec::new();
    let facts = load_facts(c, &setup, &ids).await?;
    for id in &ids {
        let (Some(mut row), Some(ticket)) = (rows.remove(id), facts.get(id)) else {
            continue;
        };
        let before = (row.policy_id, row.clocks.clone());
        if reselect {
            row.policy_id = setup.select(&ticket.view());
        }
        let (rules, calendar) = setup.rules(row.policy_id, ticket.inbox_id)?;
        row.clocks.schedule(&rules, calendar);
        if (row.policy_id, &row.clocks) != (before.0, &before.1) {
            changed.push((*id, row));
        }
        done += 1;
    }
    write_schedules(c, &changed, reselect).await?;
    c.execute(
        "UPDATE sla_recompute SET after_ticket_id = $1 WHERE id = $2",
        params![last, job_id],
    )
    .await?;
    Ok(done)
}

// ---------------------------------------------------------------------------------------------
// Rates

pub(super) async fn names(c: &mut dyn Conn, table: &str) -> Result<HashMap<i64, String>> {
    let rows = c
        .query(&format!("SELECT id, name FROM {table}"), params![])
        .await?;
    rows.iter().map(|r| Ok((r.int(0)?, r.text(1)?))).collect()
}

/// Kept rates of commitments made since `since`: overall, then per team, then per agent.
pub(super) async fn kept_rates(c: &mut dyn Conn, since: Millis) -> Result<Vec<KeptRate>> {
    let rows = c
        .query(
            "SELECT owner_id, team_id, status, count(*) FROM commitments \
             WHERE created_at >= $1 AND status <> 'cancelled' GROUP BY owner_id, team_id, status",
            params![since.0],
        )
        .await?;
    let (agents, teams) = (names(c, "agents").await?, names(c, "teams").await?);
    let mut overall = KeptRate {
        scope: "overall".into(),
        id: None,
        name: String::new(),
        kept: 0,
        broken: 0,
        open: 0,
        rate: None,
    };
    let mut by_team: BTreeMap<i64, KeptRate> = BTreeMap::new();
    let mut by_agent: BTreeMap<i64, KeptRate> = BTreeMap::new();
    for r in rows {
        let status = CommitmentStatus::parse(&r.text(2)?)?;
        let n = r.int(3)?;
        let mut scopes = vec![&mut overall];
        if let Some(team) = r.opt_int(1)? {
            scopes.push(
                by_team
                    .entry(team)
                    .or_insert_with(|| rate_for("team", team, &teams)),
            );
        }
        if let Some(agent) = r.opt_int(0)? {
            scopes.push(
                by_agent
                    .entry(agent)
                    .or_insert_with(|| rate_for("agent", agent, &agents)),
            );
        }
        for scope in scopes {
            match status {
                CommitmentStatus::Kept => scope.kept += n,
                CommitmentStatus::Broken => scope.broken += n,
                _ => scope.open += n,
            }
        }
    }
    let mut all = vec![overall];
    all.extend(by_team.into_values());
    all.extend(by_agent.into_values());
    for rate in &mut all {
        rate.rate = commitment::kept_rate(rate.kept, rate.broken);
    }
    Ok(all)
}

fn rate_for(scope: &str, id: i64, names: &HashMap<i64, String>) -> KeptRate {
    KeptRate {
        scope: scope.into(),
        id: Some(id),
        name: names.get(&id).cloned().unwrap_or_default(),
        kept: 0,
        broken: 0,
        open: 0,
        rate: None,
    }
}

/// Per team (the ticket's team now), of tickets created since `since`: how many had to be
/// chased. The first row (no team id) is everyone.
pub(super) async fn chase_rates(c: &mut dyn Conn, since: Millis) -> Result<Vec<ChaseRate>> {
    let created = c
        .query(
            "SELECT team_id, count(*) FROM tickets WHERE created_at >= $1 GROUP BY team_id",
            params![since.0],
        )
        .await?;
    let chased = c
        .query(
            "SELECT t.team_id, count(DISTINCT ch.ticket_id), count(*) FROM chases ch \
             JOIN tickets t ON t.id = ch.ticket_id WHERE t.created_at >= $1 GROUP BY t.team_id",
            params![since.0],
        )
        .await?;
    let teams = names(c, "teams").await?;
    let mut rates: BTreeMap<Option<i64>, ChaseRate> = BTreeMap::new();
    let entry = |team: Option<i64>| -> ChaseRate {
        ChaseRate {
            team_id: team,
            name: team
                .and_then(|t| teams.get(&t).cloned())
                .unwrap_or_default(),
            tickets: 0,
            chased: 0,
            chases: 0,
            rate: None,
        }
    };
    let mut overall = entry(None);
    for r in created {
        let team = r.opt_int(0)?;
        let n = r.int(1)?;
        overall.tickets += n;
        rates.entry(team).or_insert_with(|| entry(team)).tickets += n;
    }
    for r in chased {
        let team = r.opt_int(0)?;
        let rate = rates.entry(team).or_insert_with(|| entry(team));
        rate.chased += r.int(1)?;
        rate.chases += r.int(2)?;
        overall.chased += r.int(1)?;
        overall.chases += r.int(2)?;
    }
    let mut all = vec![overall];
    all.extend(rates.into_values().filter(|r| r.team_id.is_some()));
    for rate in &mut all {
        rate.rate = (rate.tickets > 0).then(|| rate.chased as f64 / rate.tickets as f64);
    }
    Ok(all)
}
