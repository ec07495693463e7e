//! The email channel's queries: inboxes with their addresses and settings, storing a received
//! email with everything it causes in one transaction (threading, a new ticket or a follow-up,
//! attachments, bounces, the read-back), and the outbox the delivery worker drains.

use super::*;
use rapport_core::calendar::{BusinessCalendar, CalendarConfig, IntervalConfig, WeekConfig};

// ---------------------------------------------------------------------------------------------
// Inboxes

const INBOX_SELECT: &str = "SELECT id, name, address, team_id, from_name, signature, language, human_contact, \
     business_hours, first_response_minutes, acknowledge, created_at FROM inboxes";

/// Monday to Friday, 09:00–17:00 UTC: what an inbox promises until it is told its hours.
pub(crate) fn default_business_hours() -> CalendarConfig {
    CalendarConfig {
        time_zone: "UTC".into(),
        hours: WeekConfig::weekdays(&[IntervalConfig::new("09:00", "17:00")]),
        holidays: Vec::new(),
    }
}

fn inbox_from(r: &Row, addresses: Vec<String>) -> Result<Inbox> {
    let hours = r.text(8)?;
    let business_hours = if hours.is_empty() {
        default_business_hours()
    } else {
        json_text(&hours)?
    };
    Ok(Inbox {
        id: r.int(0)?,
        name: r.text(1)?,
        address: r.text(2)?,
        addresses,
        team_id: r.opt_int(3)?,
        from_name: r.text(4)?,
        signature: r.text(5)?,
        language: r.text(6)?,
        human_contact: r.text(7)?,
        business_hours,
        first_response_minutes: r.int(9)?,
        acknowledge: r.bool(10)?,
        created_at: Millis(r.int(11)?),
    })
}

async fn addresses_by_inbox(c: &mut dyn Conn) -> Result<BTreeMap<i64, Vec<String>>> {
    let mut map: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for r in c
        .query(
            "SELECT inbox_id, address FROM inbox_addresses ORDER BY address",
            params![],
        )
        .await?
    {
        map.entry(r.int(0)?).or_default().push(r.text(1)?);
    }
    Ok(map)
}

pub(super) async fn list_inboxes(c: &mut dyn Conn) -> Result<Vec<Inbox>> {
    let mut addresses = addresses_by_inbox(c).await?;
    let rows = c
        .query(&format!("{INBOX_SELECT} ORDER BY id"), params![])
        .await?;
    rows.iter()
        .map(|r| inbox_from(r, addresses.remove(&r.int(0)?).unwrap_or_default()))
        .collect()
}

pub(super) async fn load_inbox(c: &mut dyn Conn, id: i64) -> Result<Inbox> {
    let row = row_by_id(c, INBOX_SELECT, "id", id, || {
        StoreError::not_found("inbox", id)
    })
    .await?;
    let addresses = c
        .query(
            "SELECT address FROM inbox_addresses WHERE inbox_id = $1 ORDER BY address",
            params![id],
        )
        .await?
        .iter()
        .map(|r| r.text(0))
        .collect::<Result<Vec<_>>>()?;
    inbox_from(&row, addresses)
}

fn taken(address: &str) -> impl FnOnce() -> String + '_ {
    move || format!("the address {address} already belongs to an inbox")
}

async fn add_address(c: &mut dyn Conn, ctx: Ctx, inbox_id: i64, address: &str) -> Result<()> {
    c.execute(
        "INSERT INTO inbox_addresses (address, inbox_id, created_at) VALUES ($1, $2, $3)",
        params![address, inbox_id, ctx.at.0],
    )
    .await
    .map_err(|e| e.conflict_or(taken(address)))?;
    Ok(())
}

pub(super) async fn insert_inbox(
    c: &mut dyn Conn,
    ctx: Ctx,
    name: String,
    address: String,
    team_id: Option<i64>,
) -> Result<Inbox> {
    if let Some(t) = team_id {
        ensure_team(c, t).await?;
    }
    let id = insert_returning_id(
        c,
        "INSERT INTO inboxes (name, address, team_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        params![&name, &address, team_id, ctx.at.0],
        || format!("an inbox named '{name}' or with the address {address} already exists"),
    )
    .await?;
    add_address(c, ctx, id, &address).await?;
    append_event(
        c,
        ctx,
        EventKind::InboxCreated,
        None,
        "inbox",
        id,
        json!({"name": name, "address": address}),
    )
    .await?;
    load_inbox(c, id).await
}

/// Checks an inbox edit without touching the database.
pub(crate) fn check_inbox_patch(patch: &mut InboxPatch) -> Result<()> {
    if let Some(name) = &patch.name {
        patch.name = Some(contact::validate_name("name", name)?);
    }
    if let Some(address) = &patch.address {
        patch.address = Some(contact::normalize_email("address", address)?);
    }
    if let Some(addresses) = &patch.addresses {
        let mut checked = Vec::with_capacity(addresses.len());
        for (i, a) in addresses.iter().enumerate() {
            let a = contact::normalize_email(&format!("addresses[{i}]"), a)?;
            if !checked.contains(&a) {
                checked.push(a);
            }
        }
        patch.addresses = Some(checked);
    }
    if let Some(from_name) = &patch.from_name
        && (from_name.contains(['\r', '\n']) || from_name.chars().count() > 200)
    {
        return Err(Invalid::new("from_name", "must be one line of at most 200 characters").into());
    }
    if let Some(language) = &patch.language {
        patch.language = Some(contact::validate_language(language)?);
    }
    if let Some(hours) = &patch.business_hours {
        BusinessCalendar::new(hours).map_err(|mut e| {
            e.field = format!("business_hours.{}", e.field);
            e
        })?;
    }
    if let Some(minutes) = patch.first_response_minutes
        && !(1..=60 * 24 * 30).contains(&minutes)
    {
        return Err(Invalid::new(
            "first_response_minutes",
            "must be between 1 and 43200 (30 days of minutes)",
        )
        .into());
    }
    for (field, text) in [
        ("signature", &patch.signature),
        ("human_contact", &patch.human_contact),
    ] {
        if text.as_ref().is_some_and(|t| t.len() > 4096) {
            return Err(Invalid::new(field, "must be at most 4096 bytes").into());
        }
    }
    Ok(())
}

pub(super) async fn update_inbox(
    c: &mut dyn Conn,
    ctx: Ctx,
    id: i64,
    patch: InboxPatch,
) -> Result<Inbox> {
    let before = load_inbox(c, id).await?;
    if let Some(Some(team)) = patch.team_id {
        ensure_team(c, team).await?;
    }
    let hours = patch.business_hours.as_ref().map(to_json);
    c.execute(
        "UPDATE inboxes SET name = COALESCE($1, name), address = COALESCE($2, address), \
         from_name = COALESCE($3, from_name), signature = COALESCE($4, signature), \
         language = COALESCE($5, language), human_contact = COALESCE($6, human_contact), \
         business_hours = COALESCE($7, business_hours), \
         first_response_minutes = COALESCE($8, first_response_minutes), \
         acknowledge = COALESCE($9, acknowledge) WHERE id = $10",
        &[
            patch.name.clone().into(),
            patch.address.clone().into(),
            patch.from_name.clone().into(),
            patch.signature.clone().into(),
            patch.language.clone().into(),
            patch.human_contact.clone().into(),
            hours.into(),
            patch.first_response_minutes.into(),
            crate::sql::Value::Bool(patch.acknowledge),
            id.into(),
        ],
    )
    .await
    .map_err(|e| e.conflict_or(|| "another inbox has this name or address".into()))?;
    if patch.business_hours.is_some() || patch.first_response_minutes.is_some() {
        // Tickets without a policy (or on a policy without a calendar) count on these.
        sla::queue_recompute(c, ctx, &format!("inbox {id} hours changed"), false).await?;
    }
    if let Some(team) = patch.team_id {
        c.execute(
            "UPDATE inboxes SET team_id = $1 WHERE id = $2",
            params![team, id],
        )
        .await?;
    }
    // The sending address is always one the inbox receives at.
    let sending = patch.address.clone().unwrap_or(before.address.clone());
    let wanted = match &patch.addresses {
        Some(list) => {
            let mut list = list.clone();
            if !list.contains(&sending) {
                list.push(sending);
            }
            Some(list)
        }
        None if !before.addresses.contains(&sending) => {
            let mut list = before.addresses.clone();
            list.push(sending);
            Some(list)
        }
        None => None,
    };
    if let Some(wanted) = wanted {
        c.execute(
            "DELETE FROM inbox_addresses WHERE inbox_id = $1",
            params![id],
        )
        .await?;
        for address in &wanted {
            add_address(c, ctx, id, address).await?;
        }
    }
    let after = load_inbox(c, id).await?;
    let changes = inbox_changes(&before, &after);
    if !changes.is_empty() {
        append_event(
            c,
            ctx,
            EventKind::InboxChanged,
            None,
            "inbox",
            id,
            json!({ "changes": changes }),
        )
        .await?;
    }
    Ok(after)
}

fn inbox_changes(before: &Inbox, after: &Inbox) -> Vec<Change> {
    let mut changes = Vec::new();
    let b = serde_json::to_value(before).unwrap_or(Value::Null);
    let a = serde_json::to_value(after).unwrap_or(Value::Null);
    if let (Value::Object(b), Value::Object(a)) = (b, a) {
        for (field, after_value) in a {
            let before_value = b.get(&field).cloned().unwrap_or(Value::Null);
            if before_value != after_value {
                changes.push(Change::new(field, before_value, after_value));
            }
        }
    }
    changes
}

pub(super) async fn inbox_for_address(c: &mut dyn Conn, address: &str) -> Result<Option<Inbox>> {
    match c
        .int_opt(
            "SELECT inbox_id FROM inbox_addresses WHERE address = $1",
            params![address],
        )
        .await?
    {
        Some(id) => Ok(Some(load_inbox(c, id).await?)),
        None => Ok(None),
    }
}

pub(super) async fn inbox_by_name(c: &mut dyn Conn, name: &str) -> Result<Option<Inbox>> {
    match c
        .int_opt(
            "SELECT id FROM inboxes WHERE lower(name) = lower($1)",
            params![name],
        )
        .await?
    {
        Some(id) => Ok(Some(load_inbox(c, id).await?)),
        None => Ok(None),
    }
}

const TEMPLATE_SELECT: &str =
    "SELECT inbox_id, kind, language, subject, body, updated_at FROM inbox_templates";

fn template_from(r: &Row) -> Result<InboxTemplate> {
    Ok(InboxTemplate {
        inbox_id: r.int(0)?,
        kind: r.text(1)?,
        language: r.text(2)?,
        subject: r.text(3)?,
        body: r.text(4)?,
        updated_at: Millis(r.int(5)?),
    })
}

pub(super) async fn inbox_templates(c: &mut dyn Conn, inbox_id: i64) -> Result<Vec<InboxTemplate>> {
    ensure_exists(c, "SELECT 1 FROM inboxes WHERE id = $1", "inbox", inbox_id).await?;
    c.query(
        &format!("{TEMPLATE_SELECT} WHERE inbox_id = $1 ORDER BY kind, language"),
        params![inbox_id],
    )
    .await?
    .iter()
    .map(template_from)
    .collect()
}

pub(super) async fn set_inbox_template(
    c: &mut dyn Conn,
    ctx: Ctx,
    template: InboxTemplate,
) -> Result<InboxTemplate> {
    ensure_exists(
        c,
        "SELECT 1 FROM inboxes WHERE id = $1",
        "inbox",
        template.inbox_id,
    )
    .await?;
    c.execute(
        "INSERT INTO inbox_templates (inbox_id, kind, language, subject, body, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (inbox_id, kind, language) \
         DO UPDATE SET subject = excluded.subject, body = excluded.body, updated_at = excluded.updated_at",
        params![
            template.inbox_id,
            &template.kind,
            &template.language,
            &template.subject,
            &template.body,
            ctx.at.0
        ],
    )
    .await?;
    append_event(
        c,
        ctx,
        EventKind::InboxChanged,
        None,
        "inbox",
        template.inbox_id,
        json!({"template": {"kind": template.kind, "language": template.language}}),
    )
    .await?;
    Ok(InboxTemplate {
        updated_at: ctx.at,
        ..template
    })
}

/// The template for `kind` in the first of `languages` that has one.
async fn template_for(
    c: &mut dyn Conn,
    inbox_id: i64,
    kind: &str,
    languages: &[&str],
) -> Result<Option<InboxTemplate>> {
    for language in languages {
        if let Some(r) = c
            .query_opt(
                &format!("{TEMPLATE_SELECT} WHERE inbox_id = $1 AND kind = $2 AND language = $3"),
                params![inbox_id, kind, *language],
            )
            .await?
        {
            return Ok(Some(template_from(&r)?));
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// Receiving

/// Who mail without any readable sender is filed under, so it is still stored and shown.
const UNKNOWN_SENDER: &str = "unknown-sender@rapport.invalid";
/// Automatic mail (read-backs) to one address per hour, at most: two help desks
/// acknowledging each other stop after a few rounds even if every other guard fails.
const AUTOMATIC_PER_HOUR: i64 = 3;
const HOUR_MS: i64 = 3_600_000;
/// How long a bounce stops read-backs to an address.
const BOUNCE_PAUSE_MS: i64 = 24 * HOUR_MS;
/// How far back a reply is matched by sender and subject alone.
const SUBJECT_WINDOW_MS: i64 = 30 * 24 * HOUR_MS;

/// Stores a received email and what it causes, in the caller's transaction.
pub(super) async fn ingest(c: &mut dyn Conn, ctx: Ctx, mut mail: InboundEmail) -> Result<Ingested> {
    if let Some((_, ticket_id)) = stored_before(c, &mut mail).await? {
        return Ok(Ingested::Duplicate { ticket_id });
    }
    let email_id = insert_inbound(c, ctx, &mail, "received", None).await?;
    let bounce = match &mail.bounce {
        Some(bounce) => ingest_bounce(c, ctx, bounce, email_id).await?,
        None => None,
    };
    // A report about mail that is not ours is filed like any automatic mail.
    let outcome = match bounce {
        Some(outcome) => outcome,
        None => thread_or_open(c, ctx, &mail, email_id).await?,
    };
    let label = match outcome {
        Ingested::Created { .. } => "created",
        Ingested::Appended { .. } => "appended",
        Ingested::FollowUp { .. } => "follow_up",
        Ingested::Bounce { .. } => "bounce",
        Ingested::Duplicate { .. } => "duplicate",
        Ingested::Unfiled { .. } => "unfiled",
    };
    c.execute(
        "UPDATE inbound_emails SET outcome = $1, ticket_id = $2 WHERE id = $3",
        params![label, outcome.ticket_id(), email_id],
    )
    .await?;
    Ok(outcome)
}

/// The email id and ticket of this very message when it was stored before. Waits for any
/// concurrent delivery of it to commit first. Another message reusing a Message-ID (form
/// mailers and monitoring tools do) gets a key of its own instead of passing for a redelivery.
async fn stored_before(
    c: &mut dyn Conn,
    mail: &mut InboundEmail,
) -> Result<Option<(i64, Option<i64>)>> {
    for attempt in 0..2 {
        c.serialize_on(&format!("email:{}", mail.dedupe_key))
            .await?;
        let Some(r) = c
            .query_opt(
                "SELECT id, ticket_id, body_hash FROM inbound_emails WHERE dedupe_key = $1",
                params![&mail.dedupe_key],
            )
            .await?
        else {
            return Ok(None);
        };
        if r.text(2)? == mail.body_hash || attempt == 1 {
            return Ok(Some((r.int(0)?, r.opt_int(1)?)));
        }
        mail.dedupe_key = format!("{}#{}", mail.dedupe_key, mail.body_hash);
    }
    Ok(None)
}

async fn insert_inbound(
    c: &mut dyn Conn,
    ctx: Ctx,
    mail: &InboundEmail,
    outcome: &str,
    problem: Option<&str>,
) -> Result<i64> {
    let mut problems = mail.problems.clone();
    problems.extend(problem.map(str::to_string));
    let row = c
        .query_one(
            "INSERT INTO inbound_emails (inbox_id, source, envelope_from, recipients, dedupe_key, message_id, raw, \
             size_bytes, outcome, problems, received_at, body_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            &[
                mail.inbox_id.into(),
                mail.source.as_str().into(),
                mail.envelope_from.clone().into(),
                to_json(&mail.recipients).into(),
                mail.dedupe_key.as_str().into(),
                mail.message_id.clone().into(),
                mail.raw.as_slice().into(),
                (mail.raw.len() as i64).into(),
                outcome.into(),
                to_json(&problems).into(),
                ctx.at.0.into(),
                mail.body_hash.as_str().into(),
            ],
        )
        .await?;
    row.int(0)
}

/// Keeps a received email that could not be filed (so nothing accepted is ever lost), with
/// the reason; an admin can read it and its raw bytes.
pub(super) async fn quarantine(
    c: &mut dyn Conn,
    ctx: Ctx,
    mut mail: InboundEmail,
    reason: String,
) -> Result<i64> {
    if let Some((id, _)) = stored_before(c, &mut mail).await? {
        return Ok(id);
    }
    insert_inbound(c, ctx, &mail, "quarantined", Some(&reason)).await
}

/// The ticket a message belongs to, by the threading keys in order of trust.
async fn find_thread(
    c: &mut dyn Conn,
    ctx: Ctx,
    mail: &InboundEmail,
    sender: &str,
) -> Result<Option<i64>> {
    let hints = &mail.thread;
    if let Some(id) = hints.token_ticket
        && c.int_opt("SELECT id FROM tickets WHERE id = $1", params![id])
            .await?
            .is_some()
    {
        return Ok(Some(id));
    }
    // Its own Message-ID first: another copy of a message we have (changed on the way by a
    // list footer or a gateway) belongs where the first copy went.
    let ids: Vec<&String> = mail
        .message_id
        .iter()
        .chain(hints.referenced_ids.iter())
        .collect();
    if !ids.is_empty() {
        let mut q = SqlBuilder::new(
            "SELECT message_id, ticket_id FROM email_message_ids WHERE message_id IN (",
        );
        q.bind_list(ids.iter().map(|id| id.as_str()))
            .push(") ORDER BY ticket_id DESC");
        let (sql, params) = q.parts();
        let found = c.query(sql, params).await?;
        for wanted in ids {
            for r in &found {
                if &r.text(0)? == wanted {
                    return Ok(Some(r.int(1)?));
                }
            }
        }
    }
    if let Some(id) = hints.subject_ticket
        && c.int_opt(
            "SELECT t.id FROM tickets t JOIN customer_emails e ON e.customer_id = t.customer_id \
                 WHERE t.id = $1 AND e.email = $2",
            params![id, sender],
        )
        .await?
        .is_some()
    {
        return Ok(Some(id));
    }
    if hints.looks_like_reply && !hints.subject_key.is_empty() {
        return c
            .int_opt(
                "SELECT t.id FROM tickets t JOIN customer_emails e ON e.customer_id = t.customer_id \
                 WHERE e.email = $1 AND t.subject_key = $2 AND t.status <> 'closed' AND t.updated_at >= $3 \
                 ORDER BY t.updated_at DESC, t.id DESC LIMIT 1",
                params![sender, &hints.subject_key, ctx.at.0 - SUBJECT_WINDOW_MS],
            )
            .await;
    }
    Ok(None)
}

async fn thread_or_open(
    c: &mut dyn Conn,
    ctx: Ctx,
    mail: &InboundEmail,
    email_id: i64,
) -> Result<Ingested> {
    let requester = mail.from.clone().unwrap_or(Requester {
        customer_id: None,
        email: UNKNOWN_SENDER.into(),
        name: Some("Unknown sender".into()),
    });
    let sender = contact::normalize_email("from", &requester.email)
        .unwrap_or_else(|_| UNKNOWN_SENDER.to_string());
    let requester = Requester {
        customer_id: None,
        email: sender.clone(),
        name: requester.name,
    };
    // Mail from one of our own addresses is a loop in the making: file it, never answer it.
    let own_address = c
        .int_opt(
            "SELECT 1 FROM inbox_addresses WHERE address = $1",
            params![&sender],
        )
        .await?
        .is_some();
    let automatic = mail.automatic.is_some() || own_address;
    let Some(ticket_id) = find_thread(c, ctx, mail, &sender).await? else {
        return open_ticket(c, ctx, mail, email_id, requester, automatic, None).await;
    };
    let status = ticket_status(c, ticket_id).await?;
    if status == TicketStatus::Closed {
        if automatic {
            // An out-of-office answer to a closed conversation is no new request; it is kept,
            // saying what it answered.
            let mut problems = mail.problems.clone();
            problems.push(format!(
                "automatic mail to the closed ticket {}; no ticket opened",
                TicketRef(ticket_id)
            ));
            c.execute(
                "UPDATE inbound_emails SET problems = $1 WHERE id = $2",
                params![to_json(&problems), email_id],
            )
            .await?;
            return Ok(Ingested::Unfiled { email_id });
        }
        return open_ticket(
            c,
            ctx,
            mail,
            email_id,
            requester,
            automatic,
            Some(ticket_id),
        )
        .await;
    }
    let author = find_or_create_customer(c, ctx, &requester).await?;
    let new = NewMessage {
        kind: MessageKind::Customer,
        channel: Channel::Email,
        body: mail.body.clone(),
        send_email: false,
        attachments: Vec::new(),
    };
    lock_conversation(c, ticket_id).await?;
    let message_id =
        insert_message_row(c, ctx, ticket_id, Actor::customer(author.id), &new).await?;
    // An out-of-office answer to our reply is kept on the ticket but changes nothing.
    let next = if automatic {
        status
    } else {
        status_after_message(status, MessageKind::Customer).unwrap_or(status)
    };
    let as_customer = Ctx {
        actor: Actor::customer(author.id),
        ..ctx
    };
    if next != status {
        write_status(c, as_customer, ticket_id, status, next).await?;
    }
    if !automatic {
        sla::on_customer_message(c, as_customer, ticket_id, message_id, &mail.body, status).await?;
        routing::on_customer_message(c, as_customer, ticket_id, message_id, &mail.body).await?;
    }
    c.execute(
        "UPDATE tickets SET updated_at = $1 WHERE id = $2",
        params![ctx.at.0, ticket_id],
    )
    .await?;
    attach_email_parts(c, ctx, ticket_id, message_id, email_id, mail).await?;
    if mail.correction && !automatic {
        flag_correction(c, ctx, ticket_id, message_id).await?;
    }
    Ok(Ingested::Appended {
        ticket_id,
        reopened: matches!(status, TicketStatus::Solved | TicketStatus::Pending)
            && next == TicketStatus::Open,
    })
}

async fn open_ticket(
    c: &mut dyn Conn,
    ctx: Ctx,
    mail: &InboundEmail,
    email_id: i64,
    requester: Requester,
    automatic: bool,
    follow_up_of: Option<i64>,
) -> Result<Ingested> {
    let inbox_name = c
        .query_one(
            "SELECT name FROM inboxes WHERE id = $1",
            params![mail.inbox_id],
        )
        .await?
        .text(0)?;
    let subject = if mail.subject.trim().is_empty() {
        "(no subject)".to_string()
    } else {
        mail.subject.clone()
    };
    let new = NewTicket {
        subject,
        requester,
        body: mail.body.clone(),
        channel: Channel::Email,
        priority: Priority::Normal,
        status: TicketStatus::New,
        tags: Vec::new(),
        inbox: Some(inbox_name),
        assignee_id: None,
        team_id: None,
        custom_fields: serde_json::Map::new(),
    };
    let ticket = insert_ticket(c, ctx, new, None).await?.value;
    let customer_id = ticket.customer.id;
    // insert_ticket wrote the first message as the customer; the event actor is the customer.
    let message_id = c
        .query_one(
            "SELECT id FROM messages WHERE ticket_id = $1 ORDER BY id LIMIT 1",
            params![ticket.id],
        )
        .await?
        .int(0)?;
    if !mail.thread.subject_key.is_empty() {
        c.execute(
            "UPDATE tickets SET subject_key = $1 WHERE id = $2",
            params![&mail.thread.subject_key, ticket.id],
        )
        .await?;
    }
    attach_email_parts(c, ctx, ticket.id, message_id, email_id, mail).await?;
    if let Some(closed) = follow_up_of {
        c.execute(
            "INSERT INTO ticket_links (ticket_id, other_ticket_id, kind, created_at) VALUES ($1, $2, 'follow_up', $3)",
            params![ticket.id, closed, ctx.at.0],
        )
        .await?;
        for (on, other) in [(ticket.id, closed), (closed, ticket.id)] {
            append_event(
                c,
                Ctx {
                    actor: Actor::customer(customer_id),
                    ..ctx
                },
                EventKind::TicketLinked,
                Some(on),
                "ticket",
                on,
                json!({"kind": "follow_up", "follow_up": ticket.id, "of": closed, "other": other}),
            )
            .await?;
        }
    }
    let acknowledged = !automatic
        && mail.from.is_some()
        && may_acknowledge(c, ctx, mail.inbox_id, &ticket).await?;
    if acknowledged {
        let recipient = ticket.customer.email.clone().unwrap_or_default();
        queue(c, ctx, OutboxKind::Ack, ticket.id, None, &recipient, true).await?;
    }
    Ok(match follow_up_of {
        Some(closed_ticket_id) => Ingested::FollowUp {
            ticket_id: ticket.id,
            closed_ticket_id,
        },
        None => Ingested::Created {
            ticket_id: ticket.id,
            acknowledged,
        },
    })
}

/// Whether a new ticket gets a read-back: the inbox sends them, the address is not bouncing,
/// and it has not had its share of automatic mail this hour.
/// Whether mail to this address bounced within the last day. A bounce pauses automatic mail
/// to it for a day: a full mailbox empties, and a customer who keeps writing gets mail again.
pub(super) async fn bouncing(c: &mut dyn Conn, address: &str, at: Millis) -> Result<bool> {
    Ok(c.int_opt(
        "SELECT 1 FROM customer_emails WHERE email = $1 AND bounced_at > $2",
        params![address, at.0 - BOUNCE_PAUSE_MS],
    )
    .await?
    .is_some())
}

pub(super) async fn may_acknowledge(
    c: &mut dyn Conn,
    ctx: Ctx,
    inbox_id: i64,
    ticket: &Ticket,
) -> Result<bool> {
    let Some(address) = &ticket.customer.email else {
        return Ok(false);
    };
    let on = c
        .query_one(
            "SELECT acknowledge FROM inboxes WHERE id = $1",
            params![inbox_id],
        )
        .await?
        .bool(0)?;
    if !on {
        return Ok(false);
    }
    if bouncing(c, address, ctx.at).await? {
        return Ok(false);
    }
    let recent = c
        .query_one(
            "SELECT count(*) FROM outbox WHERE recipient = $1 AND automatic = $2 AND created_at > $3",
            params![address, true, ctx.at.0 - HOUR_MS],
        )
        .await?
        .int(0)?;
    Ok(recent < AUTOMATIC_PER_HOUR)
}

/// Stores a message's attachments, with their bytes unless withheld.
pub(super) async fn insert_attachments(
    c: &mut dyn Conn,
    ctx: Ctx,
    message_id: i64,
    attachments: &[NewAttachment],
) -> Result<()> {
    for a in attachments {
        let id = c
            .query_one(
                "INSERT INTO attachments (message_id, filename, content_type, size_bytes, created_at, content_id, inline, withheld) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                params![
                    message_id,
                    &a.filename,
                    &a.content_type,
                    a.size_bytes,
                    ctx.at.0,
                    a.content_id.clone(),
                    a.inline,
                    a.withheld.clone()
                ],
            )
            .await?
            .int(0)?;
        if let Some(data) = &a.data {
            c.execute(
                "INSERT INTO attachment_blobs (attachment_id, data) VALUES ($1, $2)",
                params![id, data.as_slice()],
            )
            .await?;
        }
    }
    Ok(())
}

/// Links the stored message to its email: HTML, quoted text, attachments and Message-ID.
async fn attach_email_parts(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    message_id: i64,
    email_id: i64,
    mail: &InboundEmail,
) -> Result<()> {
    c.execute(
        "UPDATE messages SET html = $1, quoted = $2, email_id = $3 WHERE id = $4",
        params![mail.html.clone(), &mail.quoted, email_id, message_id],
    )
    .await?;
    insert_attachments(c, ctx, message_id, &mail.attachments).await?;
    if let Some(id) = &mail.message_id {
        remember_message_id(c, ctx, id, ticket_id, false).await?;
    }
    Ok(())
}

async fn remember_message_id(
    c: &mut dyn Conn,
    ctx: Ctx,
    message_id: &str,
    ticket_id: i64,
    outbound: bool,
) -> Result<()> {
    c.execute(
        "INSERT INTO email_message_ids (message_id, ticket_id, outbound, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (message_id, ticket_id) DO NOTHING",
        params![message_id, ticket_id, outbound, ctx.at.0],
    )
    .await?;
    Ok(())
}

/// The customer answered our read-back saying we got it wrong: tag the ticket so the owner
/// sees it, and log it (the first correction only: later ones are the conversation).
async fn flag_correction(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    message_id: i64,
) -> Result<()> {
    const TAG: &str = "readback-corrected";
    let acknowledged = c
        .int_opt(
            "SELECT 1 FROM outbox WHERE ticket_id = $1 AND kind = 'ack'",
            params![ticket_id],
        )
        .await?
        .is_some();
    let already = c
        .int_opt(
            "SELECT 1 FROM ticket_tags WHERE ticket_id = $1 AND tag = $2",
            params![ticket_id, TAG],
        )
        .await?
        .is_some();
    if !acknowledged || already {
        return Ok(());
    }
    add_tags(c, ticket_id, &[TAG.to_string()]).await?;
    append_event(
        c,
        ctx,
        EventKind::ReadbackCorrected,
        Some(ticket_id),
        "message",
        message_id,
        json!({"tag": TAG}),
    )
    .await
}

/// Notes a bounce of our own mail on its ticket and marks the address it could not reach;
/// `None` when the report is about mail we did not send (it is then filed like other mail).
async fn ingest_bounce(
    c: &mut dyn Conn,
    ctx: Ctx,
    bounce: &BounceReport,
    email_id: i64,
) -> Result<Option<Ingested>> {
    let Some(original) = &bounce.original_message_id else {
        return Ok(None);
    };
    let Some(ours) = c
        .query_opt(
            "SELECT ticket_id, recipient FROM outbox WHERE email_message_id = $1",
            params![original],
        )
        .await?
    else {
        return Ok(None);
    };
    let (ticket_id, recipient) = (ours.int(0)?, ours.text(1)?);
    // Only the address that mail went to: a report cannot mark anyone else as bouncing.
    let failed: Vec<&String> = bounce
        .failed
        .iter()
        .filter(|a| a.eq_ignore_ascii_case(&recipient))
        .collect();
    for address in &failed {
        c.execute(
            "UPDATE customer_emails SET bounced_at = $1 WHERE email = $2",
            params![ctx.at.0, address.to_lowercase()],
        )
        .await?;
    }
    let note = NewMessage {
        kind: MessageKind::Note,
        channel: Channel::Email,
        body: bounce.summary.clone(),
        send_email: false,
        attachments: Vec::new(),
    };
    let system = Ctx {
        actor: Actor::SYSTEM,
        ..ctx
    };
    let message_id = insert_message_row(c, system, ticket_id, Actor::SYSTEM, &note).await?;
    // The note links the notification itself, so its raw text is one click away.
    c.execute(
        "UPDATE messages SET email_id = $1 WHERE id = $2",
        params![email_id, message_id],
    )
    .await?;
    append_event(
        c,
        system,
        EventKind::EmailBounced,
        Some(ticket_id),
        "message",
        message_id,
        json!({"failed": failed, "original_message_id": original}),
    )
    .await?;
    Ok(Some(Ingested::Bounce {
        ticket_id: Some(ticket_id),
    }))
}

pub(super) async fn list_unfiled(
    c: &mut dyn Conn,
    page: PageRequest,
) -> Result<Page<UnfiledEmail>> {
    let limit = page.clamped_limit();
    let mut q = SqlBuilder::new(
        "SELECT id, inbox_id, source, envelope_from, message_id, outcome, problems, size_bytes, received_at \
         FROM inbound_emails WHERE outcome IN ('quarantined', 'unfiled')",
    );
    if let Some(after) = page.after {
        q.push(" AND id < ").bind(after.id);
    }
    q.push(" ORDER BY id DESC LIMIT ").bind(limit + 1);
    let (sql, params) = q.parts();
    let items = c
        .query(sql, params)
        .await?
        .iter()
        .map(|r| {
            Ok(UnfiledEmail {
                id: r.int(0)?,
                inbox_id: r.int(1)?,
                source: r.text(2)?,
                envelope_from: r.opt_text(3)?,
                message_id: r.opt_text(4)?,
                outcome: r.text(5)?,
                problems: json_text(&r.text(6)?)?,
                size_bytes: r.int(7)?,
                received_at: Millis(r.int(8)?),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(page_of(items, limit, |e| Cursor { at: 0, id: e.id }))
}

pub(super) async fn raw_email(c: &mut dyn Conn, id: i64) -> Result<Vec<u8>> {
    c.query_opt("SELECT raw FROM inbound_emails WHERE id = $1", params![id])
        .await?
        .ok_or_else(|| StoreError::not_found("email", id))?
        .bytes(0)
}

pub(super) async fn attachment(c: &mut dyn Conn, id: i64) -> Result<(Attachment, Option<Vec<u8>>)> {
    let r = c
        .query_opt(
            "SELECT a.id, a.filename, a.content_type, a.size_bytes, a.content_id, a.inline, a.withheld, b.data \
             FROM attachments a LEFT JOIN attachment_blobs b ON b.attachment_id = a.id WHERE a.id = $1",
            params![id],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("attachment", id))?;
    Ok((
        Attachment {
            id: r.int(0)?,
            filename: r.text(1)?,
            content_type: r.text(2)?,
            size_bytes: r.int(3)?,
            content_id: r.opt_text(4)?,
            inline: r.bool(5)?,
            withheld: r.opt_text(6)?,
        },
        r.opt_bytes(7)?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Sending

/// Queues an agent's public reply to the customer by email.
pub(super) async fn queue_reply(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    message_id: i64,
) -> Result<()> {
    let recipient = c
        .int_opt(
            "SELECT customer_id FROM tickets WHERE id = $1",
            params![ticket_id],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("ticket", ticket_id))?;
    let emails = customer_emails(c, recipient).await?;
    // A customer without an address (a phone contact) gets no email; the reply is on the
    // ticket for the portal.
    let Some(address) = emails.first() else {
        return Ok(());
    };
    queue(
        c,
        ctx,
        OutboxKind::Reply,
        ticket_id,
        Some(message_id),
        address,
        false,
    )
    .await
}

/// A Message-ID for mail about a ticket, in the domain of the inbox it came to.
async fn new_message_id(
    c: &mut dyn Conn,
    kind: OutboxKind,
    ticket_id: i64,
    message_row_id: Option<i64>,
) -> Result<String> {
    let from = c
        .query_one(
            "SELECT i.address FROM inboxes i JOIN tickets t ON t.inbox_id = i.id WHERE t.id = $1",
            params![ticket_id],
        )
        .await?
        .text(0)?;
    let domain = from
        .rsplit_once('@')
        .map_or("rapport.localhost", |(_, d)| d);
    let reference = TicketRef(ticket_id);
    // Random as well as unique: a Message-ID threads whatever answers it, so nobody may be
    // able to guess one and write into someone else's ticket.
    let nonce = format!("{:016x}", rand::random::<u64>());
    Ok(match message_row_id {
        Some(m) => format!("{reference}.m{m}.{nonce}@{domain}"),
        None => format!("{reference}.{}.{nonce}@{domain}", kind.as_str()),
    })
}

/// An email to an active agent about a ticket. Its Message-ID stays out of the ticket's thread,
/// so an agent answering it never writes into the customer's conversation.
pub(super) async fn queue_alert(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    agent_id: i64,
    text: &str,
) -> Result<()> {
    let Some(recipient) = c
        .query_opt(
            "SELECT email FROM agents WHERE id = $1 AND active = $2",
            params![agent_id, true],
        )
        .await?
    else {
        return Ok(());
    };
    let email_message_id = new_message_id(c, OutboxKind::Alert, ticket_id, None).await?;
    c.execute(
        "INSERT INTO outbox (kind, ticket_id, recipient, email_message_id, automatic, status, next_attempt_at, \
         created_at, body) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6, $7)",
        params![OutboxKind::Alert.as_str(), ticket_id, recipient.text(0)?, &email_message_id, true, ctx.at.0, text],
    )
    .await?;
    Ok(())
}

/// Writes an outbox row with its final Message-ID, and records that id in the ticket's
/// thread so an answer threads even before the mail has left.
pub(super) async fn queue(
    c: &mut dyn Conn,
    ctx: Ctx,
    kind: OutboxKind,
    ticket_id: i64,
    message_row_id: Option<i64>,
    recipient: &str,
    automatic: bool,
) -> Result<()> {
    queue_with_text(
        c,
        ctx,
        kind,
        ticket_id,
        message_row_id,
        recipient,
        automatic,
        None,
    )
    .await
}

/// [`queue`] for mail whose text is written when it is queued (a chat transcript): the text is
/// kept on the row and composed like the rest.
#[allow(clippy::too_many_arguments)]
pub(super) async fn queue_with_text(
    c: &mut dyn Conn,
    ctx: Ctx,
    kind: OutboxKind,
    ticket_id: i64,
    message_row_id: Option<i64>,
    recipient: &str,
    automatic: bool,
    text: Option<&str>,
) -> Result<()> {
    let email_message_id = new_message_id(c, kind, ticket_id, message_row_id).await?;
    let id = c
        .query_one(
            "INSERT INTO outbox (kind, ticket_id, message_row_id, recipient, email_message_id, automatic, status, \
             next_attempt_at, created_at, body) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7, $8) RETURNING id",
            params![kind.as_str(), ticket_id, message_row_id, recipient, &email_message_id, automatic, ctx.at.0, text.map(str::to_string)],
        )
        .await?
        .int(0)?;
    remember_message_id(c, ctx, &email_message_id, ticket_id, true).await?;
    append_event(
        c,
        ctx,
        EventKind::EmailQueued,
        Some(ticket_id),
        "email",
        id,
        json!({"kind": kind.as_str(), "to": recipient, "message_id": email_message_id}),
    )
    .await
}

/// Leases up to `limit` due outbox rows for `lease_ms` and loads what composing them needs.
pub(super) async fn claim_outbox(
    c: &mut dyn Conn,
    now: Millis,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<OutboxItem>> {
    let mut items = Vec::new();
    for id in delivery::lease_due(c, delivery::Deliveries::Outbox, now, lease_ms, limit).await? {
        items.push(outbox_item(c, id).await?);
    }
    Ok(items)
}

async fn outbox_item(c: &mut dyn Conn, id: i64) -> Result<OutboxItem> {
    let r = c
        .query_one(
            "SELECT o.id, o.kind, o.attempts, o.raw, o.recipient, o.email_message_id, o.created_at, o.ticket_id, \
             o.message_row_id, cu.language, cu.time_zone, o.inbox_id, o.body FROM outbox o \
             LEFT JOIN tickets t ON t.id = o.ticket_id LEFT JOIN customers cu ON cu.id = t.customer_id \
             WHERE o.id = $1",
            params![id],
        )
        .await?;
    let kind_text = r.text(1)?;
    let kind = OutboxKind::parse(&kind_text)
        .ok_or_else(|| StoreError::corrupt(format!("outbox kind '{kind_text}'")))?;
    let email_message_id = r.text(5)?;
    let customer_language = r.opt_text(9)?;
    let ticket = match r.opt_int(7)? {
        Some(ticket_id) => Some(load_ticket(c, ticket_id).await?),
        None => None,
    };
    // Mail that belongs to no ticket was composed when it was queued; it names its inbox.
    let inbox_id = match (&ticket, r.opt_int(11)?) {
        (Some(t), _) => t.inbox_id,
        (None, Some(inbox_id)) => inbox_id,
        (None, None) => {
            return Err(StoreError::corrupt(format!(
                "outbox row {id} has no ticket and no inbox"
            )));
        }
    };
    let inbox = load_inbox(c, inbox_id).await?;
    let mut item = OutboxItem {
        id: r.int(0)?,
        kind,
        attempts: r.int(2)?,
        raw: r.opt_bytes(3)?,
        recipient: r.text(4)?,
        email_message_id,
        created_at: Millis(r.int(6)?),
        ticket: None,
        inbox,
        customer_language,
        customer_time_zone: r.opt_text(10)?,
        body: String::new(),
        thread_ids: Vec::new(),
        template: None,
        first_response_due: None,
        commitments: Vec::new(),
    };
    let Some(ticket) = ticket else {
        return Ok(item);
    };
    let body_sql = match r.opt_int(8)? {
        Some(m) => ("SELECT body FROM messages WHERE id = $1", m),
        None => (
            "SELECT body FROM messages WHERE ticket_id = $1 ORDER BY id LIMIT 1",
            ticket.id,
        ),
    };
    item.body = match (kind, r.opt_text(12)?) {
        (OutboxKind::Alert | OutboxKind::Transcript, Some(text)) => text,
        _ => c
            .query_opt(body_sql.0, params![body_sql.1])
            .await?
            .map(|r| r.text(0))
            .transpose()?
            .unwrap_or_default(),
    };
    item.thread_ids = c
        .query(
            "SELECT message_id FROM email_message_ids WHERE ticket_id = $1 AND message_id <> $2 \
             ORDER BY created_at, message_id",
            params![ticket.id, &item.email_message_id],
        )
        .await?
        .iter()
        .map(|r| r.text(0))
        .collect::<Result<Vec<_>>>()?;
    let languages: Vec<&str> = item
        .customer_language
        .iter()
        .map(String::as_str)
        .chain([item.inbox.language.as_str()])
        .collect();
    item.template = template_for(c, item.inbox.id, kind.as_str(), &languages).await?;
    item.first_response_due = sla::first_response_due(c, ticket.id).await?;
    item.commitments = sla::commitments(c, ticket.id)
        .await?
        .into_iter()
        .filter(|c| c.status == rapport_core::commitment::CommitmentStatus::Open)
        .collect();
    item.ticket = Some(ticket);
    Ok(item)
}

/// Keeps the composed bytes so every later attempt sends exactly these.
pub(super) async fn outbox_composed(c: &mut dyn Conn, id: i64, raw: Vec<u8>) -> Result<()> {
    c.execute(
        "UPDATE outbox SET raw = $1 WHERE id = $2 AND raw IS NULL",
        params![raw, id],
    )
    .await?;
    Ok(())
}

pub(super) async fn ticket_emails(c: &mut dyn Conn, ticket_id: i64) -> Result<Vec<OutboundEmail>> {
    ensure_exists(
        c,
        "SELECT 1 FROM tickets WHERE id = $1",
        "ticket",
        ticket_id,
    )
    .await?;
    c.query(
        "SELECT id, kind, recipient, email_message_id, status, attempts, last_error, created_at, sent_at \
         FROM outbox WHERE ticket_id = $1 ORDER BY id",
        params![ticket_id],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(OutboundEmail {
            id: r.int(0)?,
            kind: r.text(1)?,
            recipient: r.text(2)?,
            email_message_id: r.text(3)?,
            status: r.text(4)?,
            attempts: r.int(5)?,
            last_error: r.opt_text(6)?,
            created_at: Millis(r.int(7)?),
            sent_at: r.opt_int(8)?.map(Millis),
        })
    })
    .collect()
}
