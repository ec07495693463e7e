//! Bulk import of historical tickets: a whole batch in one transaction, each ticket written as
//! it was (its own times, status, owner and conversation), with one `ticket.imported` event.
//!
//! Historical data is not live work, so nothing that reacts to new work runs: no SLA clocks,
//! no routing, no tone scoring, no read-backs or other outbox mail, no mentions. Checks run
//! before anything is written; reads are one per distinct customer, inbox, agent and team of
//! the batch rather than per row, and on PostgreSQL the messages go in multi-row statements.

use super::*;
use std::collections::{HashMap, HashSet};

/// Rows per multi-row `INSERT` where a statement is a network round trip. SQLite's statements
/// cost a microsecond, so there each row is its own cached statement (one SQL text, instead of
/// one per chunk size crowding the statement cache).
const ROWS_PER_STATEMENT: usize = 200;

/// A ticket checked and normalised, ready to write.
struct Checked {
    ticket: ImportTicket,
    subject: String,
    tags: Vec<String>,
    email: String,
    solved_at: Option<i64>,
    closed_at: Option<i64>,
    first_reply_at: Option<i64>,
}

fn at_index(i: usize, e: Invalid) -> StoreError {
    Invalid::new(format!("tickets[{i}].{}", e.field), e.problem).into()
}

/// The checks `insert_ticket` makes (subject, bodies, tags, address) plus the history's own:
/// times in order, solved/closed times only where the status has them, authors that fit.
fn check(i: usize, ticket: ImportTicket) -> Result<Checked> {
    let bad = |field: &str, problem: &str| at_index(i, Invalid::new(field, problem));
    let subject = validate_subject(&ticket.subject).map_err(|e| at_index(i, e))?;
    let tags = normalize_tags(&ticket.tags).map_err(|e| at_index(i, e))?;
    if ticket.requester.customer_id.is_some() {
        return Err(bad(
            "customer.id",
            "imported tickets find their customers by address",
        ));
    }
    let email = contact::normalize_email("customer.email", &ticket.requester.email)
        .map_err(|e| at_index(i, e))?;
    if ticket.messages.is_empty() {
        return Err(bad("messages", "a ticket needs at least one message"));
    }
    if ticket.updated_at < ticket.created_at {
        return Err(bad("updated_at", "must not be before created_at"));
    }
    for (m, message) in ticket.messages.iter().enumerate() {
        validate_body(&format!("messages[{m}].body"), &message.body).map_err(|e| at_index(i, e))?;
        if message.created_at < ticket.created_at || message.created_at > ticket.updated_at {
            return Err(bad(
                &format!("messages[{m}].created_at"),
                "must be between the ticket's created_at and updated_at",
            ));
        }
        if message.kind == MessageKind::Customer && message.agent_id.is_some() {
            return Err(bad(
                &format!("messages[{m}].agent_id"),
                "a customer message is the customer's, not an agent's",
            ));
        }
    }
    let solved = matches!(ticket.status, TicketStatus::Solved | TicketStatus::Closed);
    let closed = ticket.status == TicketStatus::Closed;
    let within = |at: Millis, field: &str| -> Result<i64> {
        if at < ticket.created_at || at > ticket.updated_at {
            return Err(bad(field, "must be between created_at and updated_at"));
        }
        Ok(at.0)
    };
    let solved_at = match (solved, ticket.solved_at) {
        (true, Some(at)) => Some(within(at, "solved_at")?),
        (true, None) => Some(ticket.updated_at.0),
        (false, Some(_)) => {
            return Err(bad("solved_at", "only solved and closed tickets have one"));
        }
        (false, None) => None,
    };
    let closed_at = match (closed, ticket.closed_at) {
        (true, Some(at)) => Some(within(at, "closed_at")?),
        (true, None) => Some(ticket.updated_at.0),
        (false, Some(_)) => return Err(bad("closed_at", "only closed tickets have one")),
        (false, None) => None,
    };
    let first_reply_at = ticket
        .messages
        .iter()
        .filter(|m| m.kind == MessageKind::Reply)
        .map(|m| m.created_at.0)
        .min();
    Ok(Checked {
        ticket,
        subject,
        tags,
        email,
        solved_at,
        closed_at,
        first_reply_at,
    })
}

/// Which of `ids` exist in `table`, in one query; the first missing one is a not-found.
async fn ensure_all(
    c: &mut dyn Conn,
    table: &str,
    what: &'static str,
    ids: HashSet<i64>,
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut q = SqlBuilder::new(&format!("SELECT id FROM {table} WHERE id IN ("));
    q.bind_list(ids.iter().copied()).push(")");
    let (sql, params) = q.parts();
    let found: HashSet<i64> = c
        .query(sql, params)
        .await?
        .iter()
        .map(|r| r.int(0))
        .collect::<Result<_>>()?;
    match ids.into_iter().filter(|id| !found.contains(id)).min() {
        Some(missing) => Err(StoreError::not_found(what, missing)),
        None => Ok(()),
    }
}

/// The customers these (normalised) addresses already belong to, in chunked `IN` lists.
async fn known_customers(c: &mut dyn Conn, emails: &[&str]) -> Result<HashMap<String, i64>> {
    let per_statement = rows_per_statement(c);
    let mut known = HashMap::with_capacity(emails.len());
    for chunk in emails.chunks(per_statement) {
        let mut q = SqlBuilder::new("SELECT email, customer_id FROM customer_emails WHERE email ");
        if let [one] = chunk {
            q.push("= ").bind(*one);
        } else {
            q.push("IN (").bind_list(chunk.iter().copied()).push(")");
        }
        let (sql, params) = q.parts();
        for r in c.query(sql, params).await? {
            known.insert(r.text(0)?, r.int(1)?);
        }
    }
    Ok(known)
}

fn rows_per_statement(c: &dyn Conn) -> usize {
    if c.statements_are_round_trips() {
        ROWS_PER_STATEMENT
    } else {
        1
    }
}

/// Writes the messages of the batch's tickets, several rows per statement where statements are
/// round trips.
async fn insert_messages(c: &mut dyn Conn, rows: &[(i64, i64, &Checked)]) -> Result<()> {
    let all: Vec<(i64, i64, Channel, &ImportMessage)> = rows
        .iter()
        .flat_map(|(ticket_id, customer_id, checked)| {
            checked
                .ticket
                .messages
                .iter()
                .map(move |m| (*ticket_id, *customer_id, checked.ticket.channel, m))
        })
        .collect();
    for chunk in all.chunks(rows_per_statement(c)) {
        let mut q = SqlBuilder::new(
            "INSERT INTO messages (ticket_id, kind, channel, author_agent_id, author_customer_id, body, created_at) VALUES ",
        );
        for (n, (ticket_id, customer_id, channel, m)) in chunk.iter().enumerate() {
            let (agent, customer) = match m.kind {
                MessageKind::Customer => (None, Some(*customer_id)),
                MessageKind::Reply | MessageKind::Note => (m.agent_id, None),
            };
            q.push(if n == 0 { "(" } else { ", (" })
                .bind(*ticket_id)
                .push(", ")
                .bind(m.kind.as_str())
                .push(", ")
                .bind(channel.as_str())
                .push(", ")
                .bind(agent)
                .push(", ")
                .bind(customer)
                .push(", ")
                .bind(m.body.as_str())
                .push(", ")
                .bind(m.created_at.0)
                .push(")");
        }
        let (sql, params) = q.parts();
        c.execute(sql, params).await?;
    }
    Ok(())
}

pub(super) async fn import_tickets(
    c: &mut dyn Conn,
    ctx: Ctx,
    tickets: Vec<ImportTicket>,
) -> Result<Vec<i64>> {
    let checked: Vec<Checked> = tickets
        .into_iter()
        .enumerate()
        .map(|(i, t)| check(i, t))
        .collect::<Result<_>>()?;

    // Everything the batch refers to, read once.
    let agents: HashSet<i64> = checked
        .iter()
        .flat_map(|t| {
            t.ticket
                .assignee_id
                .into_iter()
                .chain(t.ticket.messages.iter().filter_map(|m| m.agent_id))
        })
        .collect();
    ensure_all(c, "agents", "agent", agents).await?;
    let teams: HashSet<i64> = checked.iter().filter_map(|t| t.ticket.team_id).collect();
    ensure_all(c, "teams", "team", teams).await?;
    let mut inboxes: HashMap<Option<String>, (i64, Option<i64>)> = HashMap::new();
    let mut inbox_of = Vec::with_capacity(checked.len());
    for t in &checked {
        let key = t.ticket.inbox.as_ref().map(|n| n.to_lowercase());
        let inbox = match inboxes.get(&key) {
            Some(inbox) => *inbox,
            None => {
                let inbox = inbox_for(c, t.ticket.inbox.as_deref()).await?;
                inboxes.insert(key, inbox);
                inbox
            }
        };
        inbox_of.push(inbox);
    }
    let mut emails: Vec<&str> = checked.iter().map(|t| t.email.as_str()).collect();
    emails.sort_unstable();
    emails.dedup();
    let mut customers = known_customers(c, &emails).await?;
    // New customers are created under a lock per address (as for a new ticket). Batches in
    // flight together may share addresses, so each takes its locks in one order — sorted —
    // before creating any, or two could each wait for a lock the other holds.
    for email in emails.iter().filter(|e| !customers.contains_key(**e)) {
        c.serialize_on(&customer_email_key(email)).await?;
    }

    // Rows whose ids are needed come first: a statement with RETURNING opens a statement
    // journal, and on SQLite each one's release walks the job's whole sub-journal, which grows
    // with every page the job has changed — so they run while it is still small.
    let mut customer_of = Vec::with_capacity(checked.len());
    for t in &checked {
        let customer_id = match customers.get(&t.email) {
            Some(id) => *id,
            None => {
                // New customers appear when they first wrote.
                let first_contact = Ctx {
                    at: t.ticket.created_at,
                    ..ctx
                };
                let requester = Requester {
                    customer_id: None,
                    email: t.email.clone(),
                    name: t.ticket.requester.name.clone(),
                };
                let id = find_or_create_customer(c, first_contact, &requester)
                    .await?
                    .id;
                customers.insert(t.email.clone(), id);
                id
            }
        };
        customer_of.push(customer_id);
    }
    let mut written = Vec::with_capacity(checked.len());
    for ((t, (inbox_id, inbox_team)), customer_id) in checked.iter().zip(inbox_of).zip(customer_of)
    {
        let team_id = t.ticket.team_id.or(inbox_team);
        let id = c
            .query_one(
                "INSERT INTO tickets (subject, status, priority, channel, customer_id, inbox_id, assignee_id, team_id, \
                 created_at, updated_at, solved_at, closed_at, first_reply_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
                params![
                    &t.subject,
                    t.ticket.status.as_str(),
                    t.ticket.priority.as_str(),
                    t.ticket.channel.as_str(),
                    customer_id,
                    inbox_id,
                    t.ticket.assignee_id,
                    team_id,
                    t.ticket.created_at.0,
                    t.ticket.updated_at.0,
                    t.solved_at,
                    t.closed_at,
                    t.first_reply_at
                ],
            )
            .await?
            .int(0)?;
        written.push((id, customer_id, inbox_id, team_id, t));
    }
    for &(id, customer_id, inbox_id, team_id, t) in &written {
        add_tags(c, id, &t.tags).await?;
        c.touch_search(id);
        append_event(
            c,
            ctx,
            EventKind::TicketImported,
            Some(id),
            "ticket",
            id,
            json!({"subject": t.subject, "status": t.ticket.status, "priority": t.ticket.priority,
                   "channel": t.ticket.channel, "customer_id": customer_id, "inbox_id": inbox_id,
                   "assignee_id": t.ticket.assignee_id, "team_id": team_id, "tags": t.tags,
                   "messages": t.ticket.messages.len(), "created_at": t.ticket.created_at,
                   "updated_at": t.ticket.updated_at}),
        )
        .await?;
    }
    let rows: Vec<(i64, i64, &Checked)> = written
        .iter()
        .map(|&(id, customer_id, _, _, t)| (id, customer_id, t))
        .collect();
    insert_messages(c, &rows).await?;
    Ok(rows.into_iter().map(|(id, _, _)| id).collect())
}
