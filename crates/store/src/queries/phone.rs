//! The phone channel: calls logged on tickets (and tickets opened from a call), customers found
//! by number, and callbacks — a promise to call within a window, carried by a commitment of
//! kind `promise` due at the window's end, so it is reminded of, lapses and counts in the kept
//! rate like every other promise.
//!
//! What a call does (`rapport_core::phone::call_effect`): an **answered** call is a real
//! answer, so it moves the SLA clocks like a public reply (first and next response, next-update
//! times kept, a new ticket opened); the notes become an internal note (history, search). An
//! outbound attempt other than a wrong number keeps the ticket's scheduled callbacks to the
//! number dialled, judged by when the call started (`rapport_core::phone::callback_verdict`).

use super::sla;
use super::*;
use rapport_core::commitment::{CommitmentKind, CommitmentStatus};
use rapport_core::phone::{
    self, CallDirection, CallOutcome, CallbackStatus, CallbackVerdict, CallbackWindow, PhoneNumber,
    call_effect,
};

const CALL_SELECT: &str = "SELECT id, ticket_id, agent_id, direction, number, number_canonical, duration_seconds, \
     outcome, notes, message_id, started_at, created_at FROM calls";

fn call_from(r: &Row) -> Result<Call> {
    Ok(Call {
        id: r.int(0)?,
        ticket_id: r.int(1)?,
        agent_id: r.opt_int(2)?,
        direction: CallDirection::parse(&r.text(3)?)?,
        number: r.text(4)?,
        number_canonical: r.text(5)?,
        duration_seconds: r.int(6)?,
        outcome: CallOutcome::parse(&r.text(7)?)?,
        notes: r.text(8)?,
        message_id: r.opt_int(9)?,
        started_at: Millis(r.int(10)?),
        created_at: Millis(r.int(11)?),
    })
}

const CALLBACK_SELECT: &str = "SELECT b.id, b.ticket_id, b.number, b.number_canonical, b.window_start, b.window_end, \
     b.time_zone, b.status, b.commitment_id, b.origin, b.note, b.requested_at, b.requested_by, b.done_at, b.call_id \
     FROM callbacks b";

fn callback_from(r: &Row) -> Result<Callback> {
    let ticket_id = r.int(1)?;
    Ok(Callback {
        id: r.int(0)?,
        ticket_id,
        reference: TicketRef(ticket_id).to_string(),
        number: r.text(2)?,
        number_canonical: r.text(3)?,
        window_start: Millis(r.int(4)?),
        window_end: Millis(r.int(5)?),
        time_zone: r.text(6)?,
        status: CallbackStatus::parse(&r.text(7)?)?,
        commitment_id: r.int(8)?,
        origin: parse_channel(&r.text(9)?)?,
        note: r.text(10)?,
        requested_at: Millis(r.int(11)?),
        requested_by: r.opt_int(12)?,
        done_at: r.opt_int(13)?.map(Millis),
        call_id: r.opt_int(14)?,
    })
}

async fn load_call(c: &mut dyn Conn, id: i64) -> Result<Call> {
    let row = c
        .query_opt(&format!("{CALL_SELECT} WHERE id = $1"), params![id])
        .await?
        .ok_or_else(|| StoreError::not_found("call", id))?;
    call_from(&row)
}

async fn load_callback(c: &mut dyn Conn, id: i64) -> Result<Callback> {
    let row = c
        .query_opt(&format!("{CALLBACK_SELECT} WHERE b.id = $1"), params![id])
        .await?
        .ok_or_else(|| StoreError::not_found("callback", id))?;
    callback_from(&row)
}

pub(super) async fn calls(c: &mut dyn Conn, ticket_id: i64) -> Result<Vec<Call>> {
    ticket_status(c, ticket_id).await?;
    c.query(
        &format!("{CALL_SELECT} WHERE ticket_id = $1 ORDER BY id"),
        params![ticket_id],
    )
    .await?
    .iter()
    .map(call_from)
    .collect()
}

pub(super) async fn customer_calls(c: &mut dyn Conn, customer_id: i64) -> Result<Vec<Call>> {
    c.query(
        "SELECT k.id, k.ticket_id, k.agent_id, k.direction, k.number, k.number_canonical, k.duration_seconds, \
         k.outcome, k.notes, k.message_id, k.started_at, k.created_at FROM calls k \
         JOIN tickets t ON t.id = k.ticket_id WHERE t.customer_id = $1 ORDER BY k.id DESC LIMIT 100",
        params![customer_id],
    )
    .await?
    .iter()
    .map(call_from)
    .collect()
}

pub(super) async fn callbacks(c: &mut dyn Conn, ticket_id: i64) -> Result<Vec<Callback>> {
    ticket_status(c, ticket_id).await?;
    c.query(
        &format!("{CALLBACK_SELECT} WHERE b.ticket_id = $1 ORDER BY b.id"),
        params![ticket_id],
    )
    .await?
    .iter()
    .map(callback_from)
    .collect()
}

/// Customers whose stored number is this one (the matching rule of `rapport_core::phone`).
async fn matching_customers(c: &mut dyn Conn, number: &PhoneNumber) -> Result<Vec<i64>> {
    let Some(key) = phone::match_key(&number.canonical) else {
        return Ok(Vec::new());
    };
    let rows = c
        .query(
            "SELECT id, phone FROM customers WHERE phone_key = $1 ORDER BY id LIMIT 200",
            params![key],
        )
        .await?;
    let mut ids = Vec::new();
    for r in rows {
        if r.opt_text(1)?.is_some_and(|stored| number.matches(&stored)) {
            ids.push(r.int(0)?);
        }
    }
    Ok(ids)
}

/// Where the backfill of `customers.phone_key` has got to (the last customer id done); set by
/// migration 0009, removed when every customer has been keyed.
const KEY_BACKFILL_SETTING: &str = "phone.key_backfill_after";
const KEY_BACKFILL_CHUNK: i64 = 2_000;

/// Gives customers stored before migration 0009 their `phone_key`, by `match_key` itself, a
/// chunk per write, until none is left; a no-op once done. Runs when the store opens.
pub(crate) async fn backfill_phone_keys(store: &SqlStore) -> Result<()> {
    if store.setting(KEY_BACKFILL_SETTING).await?.is_none() {
        return Ok(());
    }
    loop {
        let done = store
            .write(|c| Box::pin(backfill_phone_keys_chunk(c)))
            .await?;
        if done {
            return Ok(());
        }
    }
}

/// One chunk of the backfill; whether it was the last.
async fn backfill_phone_keys_chunk(c: &mut dyn Conn) -> Result<bool> {
    // Read inside the write: another node may have finished meanwhile.
    let Some(row) = c
        .query_opt(
            "SELECT value FROM settings WHERE key = $1",
            params![KEY_BACKFILL_SETTING],
        )
        .await?
    else {
        return Ok(true);
    };
    let after: i64 = row.text(0)?.parse().unwrap_or(0);
    let rows = c
        .query(
            "SELECT id, phone FROM customers WHERE id > $1 ORDER BY id LIMIT $2",
            params![after, KEY_BACKFILL_CHUNK],
        )
        .await?;
    let mut last = after;
    for r in &rows {
        let id = r.int(0)?;
        last = id;
        if let Some(key) = r.opt_text(1)?.as_deref().and_then(phone::match_key) {
            c.execute(
                "UPDATE customers SET phone_key = $1 WHERE id = $2",
                params![key, id],
            )
            .await?;
        }
    }
    let finished = (rows.len() as i64) < KEY_BACKFILL_CHUNK;
    if finished {
        c.execute(
            "DELETE FROM settings WHERE key = $1",
            params![KEY_BACKFILL_SETTING],
        )
        .await?;
    } else {
        c.execute(
            "UPDATE settings SET value = $1 WHERE key = $2",
            params![last.to_string(), KEY_BACKFILL_SETTING],
        )
        .await?;
    }
    Ok(finished)
}

pub(super) async fn customers_by_phone(
    c: &mut dyn Conn,
    raw: &str,
) -> Result<Vec<CustomerSummary>> {
    let number = PhoneNumber::parse("phone", raw)?;
    let mut found = Vec::new();
    for id in matching_customers(c, &number).await? {
        found.push(customer_by_id(c, id).await?);
    }
    Ok(found)
}

pub(super) async fn log_call(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    new: NewCall,
) -> Result<Call> {
    let number = PhoneNumber::parse("number", &new.number)?;
    let duration = phone::validate_duration(new.duration_seconds)?;
    let notes = phone::validate_notes("notes", &new.notes)?;
    let started = new.started_at.unwrap_or(ctx.at);
    if started > ctx.at {
        return Err(Invalid::new("started_at", "must not be in the future").into());
    }
    let status = ticket_status(c, ticket_id).await?;
    if status == TicketStatus::Closed {
        return Err(StoreError::Conflict(format!(
            "ticket {} is closed: log the call on a follow-up ticket",
            TicketRef(ticket_id)
        )));
    }
    let message_id = if notes.is_empty() {
        None
    } else {
        let note = NewMessage {
            kind: MessageKind::Note,
            channel: Channel::Phone,
            body: format!(
                "Phone call ({}, {}, {}) with {}:\n\n{notes}",
                new.direction.as_str(),
                new.outcome.as_str().replace('_', " "),
                phone::format_duration(duration),
                number.typed
            ),
            send_email: false,
            attachments: Vec::new(),
        };
        Some(insert_message_row(c, ctx, ticket_id, ctx.actor, &note).await?)
    };
    let id = c
        .query_one(
            "INSERT INTO calls (ticket_id, agent_id, direction, number, number_canonical, duration_seconds, outcome, \
             notes, message_id, started_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            params![ticket_id, ctx.actor.agent_id(), new.direction.as_str(), &number.typed, &number.canonical,
                    duration, new.outcome.as_str(), &notes, message_id, started.0, ctx.at.0],
        )
        .await?
        .int(0)?;
    append_event(
        c,
        ctx,
        EventKind::CallLogged,
        Some(ticket_id),
        "call",
        id,
        json!({"direction": new.direction, "number": number.typed, "outcome": new.outcome,
               "duration_seconds": duration, "message_id": message_id}),
    )
    .await?;
    let effect = call_effect(new.direction, new.outcome);
    if effect.counts_as_reply {
        let next = status_after_message(status, MessageKind::Reply)
            .map_err(|e| StoreError::Conflict(e.problem))?;
        if next != status {
            write_status(c, ctx, ticket_id, status, next).await?;
        }
        sla::on_ticket_event(c, ctx, ticket_id, sla::SlaEvent::PublicReply).await?;
        c.execute(
            "UPDATE tickets SET updated_at = $1, first_reply_at = COALESCE(first_reply_at, $1) WHERE id = $2",
            params![ctx.at.0, ticket_id],
        )
        .await?;
    } else {
        c.execute(
            "UPDATE tickets SET updated_at = $1 WHERE id = $2",
            params![ctx.at.0, ticket_id],
        )
        .await?;
    }
    if effect.keeps_callback {
        let scheduled = c
            .query(
                "SELECT id, number_canonical, window_start, window_end, requested_at, commitment_id FROM callbacks \
                 WHERE ticket_id = $1 AND status = 'scheduled' ORDER BY id",
                params![ticket_id],
            )
            .await?;
        for r in scheduled {
            let number_canonical = r.text(1)?;
            let callback = phone::ScheduledCallback {
                number_canonical: &number_canonical,
                window_start: Millis(r.int(2)?),
                window_end: Millis(r.int(3)?),
                requested_at: Millis(r.int(4)?),
            };
            let outcome =
                match phone::callback_verdict(effect, &number.canonical, started, &callback) {
                    CallbackVerdict::Untouched => continue,
                    CallbackVerdict::Kept => CommitmentStatus::Kept,
                    CallbackVerdict::Late => CommitmentStatus::Broken,
                };
            c.execute(
                "UPDATE callbacks SET call_id = $1 WHERE id = $2",
                params![id, r.int(0)?],
            )
            .await?;
            sla::fulfil_by_call(c, ctx, r.int(5)?, outcome).await?;
        }
    }
    load_call(c, id).await
}

/// A ticket opened from a call, with the call logged on it, in one transaction.
pub(super) async fn ticket_from_call(
    c: &mut dyn Conn,
    ctx: Ctx,
    new: NewCallTicket,
) -> Result<CallTicket> {
    let number = PhoneNumber::parse("call.number", &new.call.number)?;
    let (customer_id, customer_created) = match new.customer_id {
        Some(id) => (customer_by_id(c, id).await?.id, false),
        None => match matching_customers(c, &number).await?[..] {
            [one] => (one, false),
            [] => {
                let name = new.name.as_deref().unwrap_or_default();
                if name.trim().is_empty() {
                    return Err(Invalid::new(
                        "name",
                        "nobody has this number yet: give the caller's name",
                    )
                    .into());
                }
                let id = new_caller(c, ctx, name, new.email.as_deref(), &number).await?;
                (id, true)
            }
            _ => {
                return Err(Invalid::new(
                    "customer_id",
                    "several customers have this number: pick one",
                )
                .into());
            }
        },
    };
    let body = match phone::validate_notes("call.notes", &new.call.notes)? {
        notes if notes.is_empty() => format!("Phone call with {}.", number.typed),
        notes => notes,
    };
    let ticket = insert_ticket(
        c,
        ctx,
        NewTicket {
            subject: new.subject,
            requester: Requester {
                customer_id: Some(customer_id),
                email: String::new(),
                name: None,
            },
            body,
            channel: Channel::Phone,
            priority: Priority::Normal,
            status: TicketStatus::New,
            tags: Vec::new(),
            inbox: new.inbox,
            assignee_id: ctx.actor.agent_id(),
            team_id: None,
            custom_fields: serde_json::Map::new(),
        },
        None,
    )
    .await?
    .value;
    // The notes are the ticket's first message already: the call itself carries none.
    let call = log_call(
        c,
        ctx,
        ticket.id,
        NewCall {
            notes: String::new(),
            ..new.call
        },
    )
    .await?;
    Ok(CallTicket {
        ticket: load_ticket(c, ticket.id).await?,
        call,
        customer_created,
    })
}

/// A customer known only by name and number (an address too, when they gave one).
async fn new_caller(
    c: &mut dyn Conn,
    ctx: Ctx,
    name: &str,
    email: Option<&str>,
    number: &PhoneNumber,
) -> Result<i64> {
    if let Some(email) = email.filter(|e| !e.trim().is_empty()) {
        // Checked here so a bad address is named as the caller's form names it.
        let email = contact::normalize_email("email", email)?;
        let known = find_or_create_customer(
            c,
            ctx,
            &Requester {
                customer_id: None,
                email,
                name: Some(name.to_string()),
            },
        )
        .await?;
        return Ok(known.id);
    }
    insert_caller(c, ctx, name, Vec::new(), number).await
}

/// A new customer with this name, number and addresses, who prefers the phone.
async fn insert_caller(
    c: &mut dyn Conn,
    ctx: Ctx,
    name: &str,
    emails: Vec<String>,
    number: &PhoneNumber,
) -> Result<i64> {
    insert_customer(
        c,
        ctx,
        NewCustomer {
            name: name.to_string(),
            emails,
            organization_id: None,
            phone: Some(number.typed.clone()),
            language: None,
            time_zone: None,
            preferences: rapport_core::Preferences {
                channel: Channel::Phone,
                ..Default::default()
            },
            notes: String::new(),
        },
    )
    .await
}

/// The customer an anonymous callback request (the public widget) is filed under: always a new
/// one, since nothing proves the visitor is whoever already has the address or the number they
/// typed. An address nobody has yet becomes the new customer's (as a new email request's does);
/// an address an existing customer has is returned, to be quoted in the ticket's text only, so
/// the request neither shows in that customer's portal nor mails them.
async fn anonymous_caller(
    c: &mut dyn Conn,
    ctx: Ctx,
    name: &str,
    email: Option<&str>,
    number: &PhoneNumber,
) -> Result<(i64, Option<String>)> {
    let email = match email.filter(|e| !e.trim().is_empty()) {
        Some(raw) => Some(contact::normalize_email("email", raw)?),
        None => None,
    };
    let (emails, unconfirmed) = match email {
        Some(address) => {
            // Taken in turns with every other request creating a customer for this address, so
            // two parallel requests cannot both claim it.
            c.serialize_on(&customer_email_key(&address)).await?;
            if customer_with_email(c, &address).await?.is_some() {
                (Vec::new(), Some(address))
            } else {
                (vec![address], None)
            }
        }
        None => (Vec::new(), None),
    };
    let id = insert_caller(c, ctx, name, emails, number).await?;
    Ok((id, unconfirmed))
}

/// A callback on a ticket: its promise (reminded at the window's start, due at its end) and the
/// callback row.
async fn insert_callback(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    number: &PhoneNumber,
    window: &CallbackWindow,
    origin: Channel,
    note: &str,
) -> Result<Callback> {
    let commitment = sla::make_commitment(
        c,
        ctx,
        ticket_id,
        NewCommitment {
            kind: CommitmentKind::Promise,
            description: phone::callback_promise(&number.typed, window),
            due: Due::At(window.end),
        },
    )
    .await?;
    if window.start > ctx.at {
        // The reminder belongs at the start of the window, when calling should begin.
        c.execute(
            "UPDATE commitments SET remind_at = $1, alarm_at = $1 WHERE id = $2",
            params![window.start.0, commitment.id],
        )
        .await?;
    }
    let id = c
        .query_one(
            "INSERT INTO callbacks (ticket_id, number, number_canonical, window_start, window_end, time_zone, status, \
             commitment_id, origin, note, requested_at, requested_by) \
             VALUES ($1, $2, $3, $4, $5, $6, 'scheduled', $7, $8, $9, $10, $11) RETURNING id",
            params![ticket_id, &number.typed, &number.canonical, window.start.0, window.end.0, &window.time_zone,
                    commitment.id, origin.as_str(), note, ctx.at.0, ctx.actor.agent_id()],
        )
        .await?
        .int(0)?;
    append_event(
        c,
        ctx,
        EventKind::CallbackScheduled,
        Some(ticket_id),
        "callback",
        id,
        json!({"number": number.typed, "window_start": window.start, "window_end": window.end,
               "time_zone": window.time_zone, "origin": origin, "commitment_id": commitment.id}),
    )
    .await?;
    load_callback(c, id).await
}

/// An agent schedules a callback on a ticket (the customer asked on the phone or in a message).
pub(super) async fn schedule_callback(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    phone_number: &str,
    window: CallbackWindow,
    note: &str,
) -> Result<Callback> {
    let number = PhoneNumber::parse("phone", phone_number)?;
    let note = phone::validate_notes("note", note)?;
    insert_callback(c, ctx, ticket_id, &number, &window, Channel::Phone, &note).await
}

/// A customer asks to be called back (portal or widget): a new ticket on the inbox, its
/// callback and promise, and — when we have their address — the read-back by email, in one
/// transaction. A signed-in customer is themselves; an anonymous visitor is always a new
/// customer (`anonymous_caller`).
pub(super) async fn request_callback(
    c: &mut dyn Conn,
    ctx: Ctx,
    request: NewCallbackRequest,
) -> Result<CallbackRequested> {
    let number = PhoneNumber::parse("phone", &request.phone)?;
    let note = phone::validate_notes("note", &request.note)?;
    let inbox = email::load_inbox(c, request.inbox_id).await?;
    let (customer_id, unconfirmed_address) = match &request.requester {
        CallbackRequester::Known(id) => (customer_by_id(c, *id).await?.id, None),
        CallbackRequester::Visitor { name, email } => {
            let name = contact::validate_name("name", name)?;
            anonymous_caller(c, ctx, &name, email.as_deref(), &number).await?
        }
    };
    let ctx = Ctx {
        actor: Actor::customer(customer_id),
        ..ctx
    };
    let mut body = phone::callback_request_text(&number.typed, &request.window, &note);
    if let Some(address) = &unconfirmed_address {
        body = format!("{body}\n\n{}", phone::unconfirmed_address_line(address));
    }
    let ticket = insert_ticket(
        c,
        ctx,
        NewTicket {
            subject: format!("Call back {}", number.typed),
            requester: Requester {
                customer_id: Some(customer_id),
                email: String::new(),
                name: None,
            },
            body,
            channel: request.origin,
            priority: Priority::Normal,
            status: TicketStatus::New,
            tags: vec!["callback".to_string()],
            inbox: Some(inbox.name.clone()),
            assignee_id: None,
            team_id: None,
            custom_fields: serde_json::Map::new(),
        },
        None,
    )
    .await?
    .value;
    let callback = insert_callback(
        c,
        ctx,
        ticket.id,
        &number,
        &request.window,
        request.origin,
        &note,
    )
    .await?;
    // The new-request read-back restates the request (whose first sentence is the number and
    // the window) with the reference and the human-contact line — under the rules every
    // read-back follows (an address, the inbox's setting, no recent bounce, a cap per address
    // per hour: nobody can make us mail a stranger's address over and over).
    if email::may_acknowledge(c, ctx, inbox.id, &ticket).await?
        && let Some(address) = &ticket.customer.email
    {
        email::queue(c, ctx, OutboxKind::Ack, ticket.id, None, address, true).await?;
    }
    let readback = phone::callback_readback(&number.typed, &request.window, &ticket.reference);
    Ok(CallbackRequested {
        ticket,
        callback,
        readback,
    })
}

pub(super) async fn cancel_callback(
    c: &mut dyn Conn,
    ctx: Ctx,
    id: i64,
    reason: &str,
) -> Result<Callback> {
    let callback = load_callback(c, id).await?;
    if callback.status != CallbackStatus::Scheduled {
        return Err(StoreError::Conflict(format!(
            "callback {id} is already {}",
            callback.status.as_str()
        )));
    }
    sla::cancel_commitment(c, ctx, callback.commitment_id, reason).await?;
    load_callback(c, id).await
}

/// A callback's promise ended (kept by a call, broken when its window lapsed, cancelled): the
/// callback follows it, with its event. Called by `sla::end_commitment` for every commitment.
pub(super) async fn commitment_ended(
    c: &mut dyn Conn,
    ctx: Ctx,
    commitment_id: i64,
    status: CommitmentStatus,
) -> Result<()> {
    let (to, kind) = match status {
        CommitmentStatus::Kept => (CallbackStatus::Done, EventKind::CallbackDone),
        CommitmentStatus::Broken => (CallbackStatus::Missed, EventKind::CallbackMissed),
        CommitmentStatus::Cancelled => (CallbackStatus::Cancelled, EventKind::CallbackCancelled),
        CommitmentStatus::Open => return Ok(()),
    };
    let Some(row) = c
        .query_opt(
            "UPDATE callbacks SET status = $1, done_at = $2 WHERE commitment_id = $3 AND status = 'scheduled' \
             RETURNING id, ticket_id, call_id",
            params![to.as_str(), ctx.at.0, commitment_id],
        )
        .await?
    else {
        return Ok(());
    };
    append_event(
        c,
        ctx,
        kind,
        Some(row.int(1)?),
        "callback",
        row.int(0)?,
        json!({"status": to, "call_id": row.opt_int(2)?}),
    )
    .await
}

/// Whether this commitment is a callback's promise (kept only by a call).
pub(super) async fn is_callback_promise(c: &mut dyn Conn, commitment_id: i64) -> Result<bool> {
    Ok(c.int_opt(
        "SELECT id FROM callbacks WHERE commitment_id = $1",
        params![commitment_id],
    )
    .await?
    .is_some())
}

/// Scheduled callbacks by window start, with their tickets' customers and owners.
pub(super) async fn callback_queue(
    c: &mut dyn Conn,
    queue: CallbackQueue,
    limit: i64,
) -> Result<Vec<QueuedCallback>> {
    let mut q = SqlBuilder::new(
        "SELECT b.id, b.ticket_id, b.number, b.number_canonical, b.window_start, b.window_end, b.time_zone, \
         b.status, b.commitment_id, b.origin, b.note, b.requested_at, b.requested_by, b.done_at, b.call_id, \
         t.subject, t.assignee_id, t.team_id, c.id, c.name, (SELECT p.email FROM customer_emails p \
         WHERE p.customer_id = c.id ORDER BY p.is_primary DESC, p.email LIMIT 1) \
         FROM callbacks b JOIN tickets t ON t.id = b.ticket_id JOIN customers c ON c.id = t.customer_id \
         WHERE b.status = 'scheduled'",
    );
    match queue {
        CallbackQueue::All => {}
        CallbackQueue::Mine(agent) => {
            q.push(" AND t.assignee_id = ").bind(agent);
        }
        CallbackQueue::OverdueAt(now) => {
            q.push(" AND b.window_end < ").bind(now.0);
        }
    }
    q.push(" ORDER BY b.window_start, b.id LIMIT ").bind(limit);
    let (sql, values) = q.parts();
    let rows = c.query(sql, values).await?;
    rows.iter()
        .map(|r| {
            Ok(QueuedCallback {
                callback: callback_from(r)?,
                subject: r.text(15)?,
                assignee_id: r.opt_int(16)?,
                team_id: r.opt_int(17)?,
                customer: CustomerSummary {
                    id: r.int(18)?,
                    name: r.text(19)?,
                    email: r.opt_text(20)?,
                },
            })
        })
        .collect()
}

/// How many scheduled callbacks are due (their window has started) at `now`: the header's count.
pub(super) async fn callbacks_due(c: &mut dyn Conn, now: Millis) -> Result<i64> {
    c.query_one(
        "SELECT count(*) FROM callbacks WHERE status = 'scheduled' AND window_start <= $1",
        params![now.0],
    )
    .await?
    .int(0)
}
