//! What the agent workspace and the customer portal need beyond the API: sign-in failures
//! (rate limits and lockout), the portal's single-use sign-in links and sessions, view counts,
//! and the event log read in order for live updates.

use super::*;

pub(super) async fn record_login_failure(
    c: &mut dyn Conn,
    keys: &[String],
    at: Millis,
) -> Result<()> {
    for key in keys {
        c.execute(
            "INSERT INTO login_failures (key, at) VALUES ($1, $2)",
            params![key, at.0],
        )
        .await?;
    }
    // Old failures tell nothing; keep the table small.
    c.execute(
        "DELETE FROM login_failures WHERE at < $1",
        params![at.0 - 24 * 3_600_000],
    )
    .await?;
    Ok(())
}

pub(super) async fn login_failures(c: &mut dyn Conn, key: &str, since: Millis) -> Result<i64> {
    c.query_one(
        "SELECT count(*) FROM login_failures WHERE key = $1 AND at >= $2",
        params![key, since.0],
    )
    .await?
    .int(0)
}

/// A sign-in link for a customer, and the email carrying it, in one transaction: the link
/// exists exactly when its email is queued.
pub(super) async fn create_portal_link(
    c: &mut dyn Conn,
    ctx: Ctx,
    link: NewPortalLink,
) -> Result<()> {
    ensure_exists(
        c,
        "SELECT 1 FROM customers WHERE id = $1",
        "customer",
        link.customer_id,
    )
    .await?;
    c.execute(
        "INSERT INTO portal_links (token_hash, customer_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        params![&link.token_hash, link.customer_id, ctx.at.0, link.expires_at.0],
    )
    .await?;
    let recipient = link.mail.as_ref().map(|m| m.recipient.clone());
    if let Some(mail) = link.mail {
        c.execute(
            "INSERT INTO outbox (kind, inbox_id, recipient, email_message_id, automatic, raw, status, \
             next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7)",
            params![
                OutboxKind::PortalLink.as_str(),
                mail.inbox_id,
                &mail.recipient,
                &mail.email_message_id,
                true,
                mail.raw,
                ctx.at.0
            ],
        )
        .await?;
    }
    append_event(
        c,
        ctx,
        EventKind::PortalLinkSent,
        None,
        "customer",
        link.customer_id,
        json!({ "recipient": recipient }),
    )
    .await
}

/// Spends a sign-in link (once, before it expires) and opens a portal session with it.
pub(super) async fn redeem_portal_link(
    c: &mut dyn Conn,
    ctx: Ctx,
    token_hash: &str,
    session: NewSession,
) -> Result<Option<Customer>> {
    let customer_id = c
        .int_opt(
            "UPDATE portal_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL \
             AND expires_at > $1 RETURNING customer_id",
            params![ctx.at.0, token_hash],
        )
        .await?;
    let Some(customer_id) = customer_id else {
        return Ok(None);
    };
    c.execute(
        "INSERT INTO customer_sessions (id_hash, customer_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        params![&session.id_hash, customer_id, ctx.at.0, session.expires_at.0],
    )
    .await?;
    append_event(
        c,
        ctx,
        EventKind::PortalSignedIn,
        None,
        "customer",
        customer_id,
        json!({}),
    )
    .await?;
    Ok(Some(load_customer(c, customer_id).await?))
}

pub(super) async fn portal_session(
    c: &mut dyn Conn,
    id_hash: &str,
    now: Millis,
) -> Result<Option<Customer>> {
    let id = c
        .int_opt(
            "SELECT customer_id FROM customer_sessions WHERE id_hash = $1 AND expires_at > $2",
            params![id_hash, now.0],
        )
        .await?;
    match id {
        Some(id) => Ok(Some(load_customer(c, id).await?)),
        None => Ok(None),
    }
}

/// How many tickets match each filter, counting no further than `cap` (a view shows "1000+"
/// rather than scanning a million rows to say exactly how many), in one round trip.
pub(super) async fn count_tickets(
    c: &mut dyn Conn,
    filters: Vec<TicketFilter>,
    cap: u32,
) -> Result<Vec<i64>> {
    if filters.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = SqlBuilder::new("SELECT ");
    for (i, filter) in filters.into_iter().enumerate() {
        let filter = resolve_mentions(c, filter).await?;
        if i > 0 {
            q.push(", ");
        }
        q.push("(SELECT count(*) FROM (SELECT 1");
        push_filtered_tickets(&mut q, &filter);
        q.push(" LIMIT ")
            .bind(i64::from(cap))
            .push(&format!(") AS capped{i})"));
    }
    let (sql, params) = q.parts();
    let row = c.query_one(sql, params).await?;
    (0..row.0.len()).map(|i| row.int(i)).collect()
}

/// Turns "mentions this agent" (and "alerts for this agent") into the tickets of their latest
/// 1,000 such events: a short list of ids the database looks up directly, where a subquery in
/// the filter would have it walk every open ticket asking whether it is among them.
pub(super) async fn resolve_mentions(
    c: &mut dyn Conn,
    mut filter: TicketFilter,
) -> Result<TicketFilter> {
    let wanted = [
        (filter.mentioned.take(), EventKind::AgentMentioned),
        (filter.alerted.take(), EventKind::AgentAlerted),
    ];
    for (agent, kind) in wanted {
        let Some(agent) = agent else { continue };
        let mut ids = c
            .query(
                // Alerts about an internal request without a ticket have none.
                "SELECT ticket_id FROM events WHERE subject_type = 'agent' AND subject_id = $1 \
                 AND kind = $2 AND ticket_id IS NOT NULL ORDER BY id DESC LIMIT 1000",
                params![agent, kind.as_str()],
            )
            .await?
            .iter()
            .map(|r| r.int(0))
            .collect::<Result<Vec<i64>>>()?;
        ids.sort_unstable();
        ids.dedup();
        filter.ticket_ids = Some(match filter.ticket_ids.take() {
            Some(only) => ids.into_iter().filter(|id| only.contains(id)).collect(),
            None => ids,
        });
    }
    Ok(filter)
}

/// Events after `after`, oldest first: what live views have not yet shown.
pub(super) async fn events_since(c: &mut dyn Conn, after: i64, limit: i64) -> Result<Vec<Event>> {
    c.query(
        "SELECT id, ticket_id, kind, actor_kind, actor_id, subject_type, subject_id, data, created_at \
         FROM events WHERE id > $1 ORDER BY id LIMIT $2",
        params![after, limit],
    )
    .await?
    .iter()
    .map(event_from)
    .collect()
}

/// The events with these ids that exist (committed) now, in id order.
pub(super) async fn events_with_ids(c: &mut dyn Conn, ids: &[i64]) -> Result<Vec<Event>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = SqlBuilder::new(
        "SELECT id, ticket_id, kind, actor_kind, actor_id, subject_type, subject_id, data, created_at \
         FROM events WHERE id IN (",
    );
    q.bind_list(ids.iter().copied()).push(") ORDER BY id");
    let (sql, params) = q.parts();
    c.query(sql, params).await?.iter().map(event_from).collect()
}

/// The newest event id on a ticket: a reply form carries it to tell whether what the agent
/// saw is still current when they send.
pub(super) async fn last_ticket_event(c: &mut dyn Conn, ticket_id: i64) -> Result<i64> {
    c.query_one(
        "SELECT coalesce(max(id), 0) FROM events WHERE ticket_id = $1",
        params![ticket_id],
    )
    .await?
    .int(0)
}

/// The ticket focus mode offers an agent next: their own new or open tickets first, then
/// unassigned ones of their teams; by `FOCUS_ORDER`, longest waiting first; never one in
/// `skip`. Each candidate is one index seek per priority and status (`tickets_focus`), so the
/// answer does not depend on how many tickets the agent has.
pub(super) async fn next_for_agent(
    c: &mut dyn Conn,
    agent_id: i64,
    skip: &[i64],
) -> Result<Option<i64>> {
    let team_ids = agent_team_ids(c, agent_id).await?;
    let mut owners = vec![Some(agent_id)];
    if !team_ids.is_empty() {
        owners.push(None);
    }
    for owner in owners {
        for priority in rapport_core::ticket::FOCUS_ORDER {
            let mut best: Option<(i64, i64)> = None;
            for status in [TicketStatus::New, TicketStatus::Open] {
                let mut q =
                    SqlBuilder::new("SELECT t.updated_at, t.id FROM tickets t WHERE t.status = ");
                q.bind(status.as_str())
                    .push(" AND t.priority = ")
                    .bind(priority.as_str());
                match owner {
                    Some(agent) => {
                        q.push(" AND t.assignee_id = ").bind(agent);
                    }
                    None => {
                        // `+` keeps the planner on `tickets_focus`: the team index would walk
                        // every new ticket of the team looking for a priority that may not be there.
                        q.push(" AND t.assignee_id IS NULL AND +t.team_id IN (")
                            .bind_list(team_ids.clone())
                            .push(")");
                    }
                }
                if !skip.is_empty() {
                    q.push(" AND t.id NOT IN (")
                        .bind_list(skip.to_vec())
                        .push(")");
                }
                q.push(" ORDER BY t.updated_at, t.id LIMIT 1");
                let (sql, params) = q.parts();
                if let Some(row) = c.query(sql, params).await?.into_iter().next() {
                    let found = (row.int(0)?, row.int(1)?);
                    best = Some(best.map_or(found, |b| b.min(found)));
                }
            }
            if let Some((_, id)) = best {
                return Ok(Some(id));
            }
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// Macros and saved views

const MACRO_SELECT: &str = "SELECT id, name, body, actions, created_at, updated_at FROM macros";

fn macro_from(r: &Row) -> Result<Macro> {
    Ok(Macro {
        id: r.int(0)?,
        name: r.text(1)?,
        body: r.text(2)?,
        actions: json_text(&r.text(3)?)?,
        created_at: Millis(r.int(4)?),
        updated_at: Millis(r.int(5)?),
    })
}

pub(super) async fn list_macros(c: &mut dyn Conn) -> Result<Vec<Macro>> {
    c.query(
        &format!("{MACRO_SELECT} ORDER BY lower(name), id"),
        params![],
    )
    .await?
    .iter()
    .map(macro_from)
    .collect()
}

pub(super) async fn load_macro(c: &mut dyn Conn, id: i64) -> Result<Macro> {
    let row = row_by_id(c, MACRO_SELECT, "id", id, || {
        StoreError::not_found("macro", id)
    })
    .await?;
    macro_from(&row)
}

/// Creates (`id` None) or replaces a macro; names are unique regardless of case.
pub(super) async fn save_macro(
    c: &mut dyn Conn,
    ctx: Ctx,
    id: Option<i64>,
    new: NewMacro,
) -> Result<Macro> {
    let actions = rapport_core::macros::validate(&new.name, &new.body, &new.actions)?;
    let name = new.name.trim().to_string();
    let clash = c
        .int_opt(
            "SELECT id FROM macros WHERE lower(name) = lower($1)",
            params![&name],
        )
        .await?;
    if clash.is_some() && clash != id {
        return Err(StoreError::Conflict(format!(
            "a macro named '{name}' exists"
        )));
    }
    let id = match id {
        Some(id) => {
            load_macro(c, id).await?;
            c.execute(
                "UPDATE macros SET name = $1, body = $2, actions = $3, updated_at = $4 WHERE id = $5",
                params![&name, &new.body, to_json(&actions), ctx.at.0, id],
            )
            .await?;
            id
        }
        None => {
            c.query_one(
                "INSERT INTO macros (name, body, actions, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
                params![&name, &new.body, to_json(&actions), ctx.at.0],
            )
            .await?
            .int(0)?
        }
    };
    append_event(
        c,
        ctx,
        EventKind::MacroSaved,
        None,
        "macro",
        id,
        json!({"name": name}),
    )
    .await?;
    load_macro(c, id).await
}

pub(super) async fn delete_macro(c: &mut dyn Conn, ctx: Ctx, id: i64) -> Result<()> {
    let m = load_macro(c, id).await?;
    c.execute("DELETE FROM macros WHERE id = $1", params![id])
        .await?;
    append_event(
        c,
        ctx,
        EventKind::MacroDeleted,
        None,
        "macro",
        id,
        json!({"name": m.name}),
    )
    .await
}

fn view_from(r: &Row) -> Result<SavedView> {
    Ok(SavedView {
        id: r.int(0)?,
        agent_id: r.opt_int(1)?,
        name: r.text(2)?,
        query: r.text(3)?,
        created_at: Millis(r.int(4)?),
    })
}

/// An agent's own views and the shared ones.
pub(super) async fn list_views(c: &mut dyn Conn, agent_id: i64) -> Result<Vec<SavedView>> {
    c.query(
        "SELECT id, agent_id, name, query, created_at FROM saved_views \
         WHERE agent_id = $1 OR agent_id IS NULL ORDER BY lower(name), id",
        params![agent_id],
    )
    .await?
    .iter()
    .map(view_from)
    .collect()
}

pub(super) async fn save_view(c: &mut dyn Conn, ctx: Ctx, view: NewView) -> Result<SavedView> {
    let name = rapport_core::contact::validate_name("name", &view.name)?;
    if view.query.trim().is_empty() {
        return Err(rapport_core::Invalid::new("query", "a view needs at least one filter").into());
    }
    let id = c
        .query_one(
            "INSERT INTO saved_views (agent_id, name, query, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            params![view.agent_id, &name, &view.query, ctx.at.0],
        )
        .await?
        .int(0)?;
    append_event(
        c,
        ctx,
        EventKind::ViewSaved,
        None,
        "view",
        id,
        json!({"name": name, "shared": view.agent_id.is_none()}),
    )
    .await?;
    let row = row_by_id(
        c,
        "SELECT id, agent_id, name, query, created_at FROM saved_views",
        "id",
        id,
        || StoreError::not_found("view", id),
    )
    .await?;
    view_from(&row)
}

/// Deletes a view: an agent's own, or a shared one when `may_delete_shared`.
pub(super) async fn delete_view(
    c: &mut dyn Conn,
    ctx: Ctx,
    agent_id: i64,
    may_delete_shared: bool,
    id: i64,
) -> Result<()> {
    let deleted = c
        .execute(
            "DELETE FROM saved_views WHERE id = $1 AND (agent_id = $2 OR (agent_id IS NULL AND $3))",
            params![id, agent_id, may_delete_shared],
        )
        .await?;
    if deleted == 0 {
        return Err(StoreError::not_found("view", id));
    }
    append_event(c, ctx, EventKind::ViewDeleted, None, "view", id, json!({})).await
}

// ---------------------------------------------------------------------------------------------
// Links, merge, split

/// Links two tickets as related (once; either order).
pub(super) async fn link_tickets(c: &mut dyn Conn, ctx: Ctx, a: i64, b: i64) -> Result<()> {
    if a == b {
        return Err(
            rapport_core::Invalid::new("ticket", "a ticket cannot be linked to itself").into(),
        );
    }
    load_ticket(c, a).await?;
    load_ticket(c, b).await?;
    let exists = c
        .int_opt(
            "SELECT 1 FROM ticket_links WHERE (ticket_id = $1 AND other_ticket_id = $2) \
             OR (ticket_id = $2 AND other_ticket_id = $1)",
            params![a, b],
        )
        .await?;
    if exists.is_some() {
        return Ok(());
    }
    insert_link(c, ctx, a, b, "related").await
}

async fn insert_link(c: &mut dyn Conn, ctx: Ctx, from: i64, to: i64, kind: &str) -> Result<()> {
    c.execute(
        "INSERT INTO ticket_links (ticket_id, other_ticket_id, kind, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (ticket_id, other_ticket_id, kind) DO NOTHING",
        params![from, to, kind, ctx.at.0],
    )
    .await?;
    for (on, other) in [(from, to), (to, from)] {
        append_event(
            c,
            ctx,
            EventKind::TicketLinked,
            Some(on),
            "ticket",
            on,
            json!({"kind": kind, "other": other}),
        )
        .await?;
    }
    Ok(())
}

/// The tickets linked to one, each with the link's meaning from this ticket's side.
pub(super) async fn ticket_links(c: &mut dyn Conn, id: i64) -> Result<Vec<TicketLink>> {
    load_ticket(c, id).await?;
    let rows = c
        .query(
            "SELECT l.kind, l.other_ticket_id, 0 FROM ticket_links l WHERE l.ticket_id = $1 \
             UNION ALL SELECT l.kind, l.ticket_id, 1 FROM ticket_links l WHERE l.other_ticket_id = $1",
            params![id],
        )
        .await?;
    let mut links = Vec::with_capacity(rows.len());
    for r in &rows {
        let (kind, other, reverse) = (r.text(0)?, r.int(1)?, r.int(2)? == 1);
        let kind = match (kind.as_str(), reverse) {
            ("merged", false) => "merged_into",
            ("merged", true) => "merged_from",
            ("split", false) => "split_into",
            ("split", true) => "split_from",
            ("follow_up", _) => "follow_up",
            _ => "related",
        };
        let t = load_ticket(c, other).await?;
        links.push(TicketLink {
            kind: kind.to_string(),
            ticket_id: t.id,
            reference: t.reference,
            subject: t.subject,
            status: t.status,
        });
    }
    links.sort_by_key(|l| l.ticket_id);
    Ok(links)
}

/// Merges `source` into `target`: its messages (and their email threading) move over, its
/// tags join the target's, and it is closed with a link saying where it went.
pub(super) async fn merge_tickets(
    c: &mut dyn Conn,
    ctx: Ctx,
    source: i64,
    target: i64,
) -> Result<Ticket> {
    if source == target {
        return Err(
            rapport_core::Invalid::new("target", "a ticket cannot be merged into itself").into(),
        );
    }
    let from = load_ticket(c, source).await?;
    let into = load_ticket(c, target).await?;
    if from.status == TicketStatus::Closed {
        return Err(StoreError::Conflict(format!(
            "{} is closed; closed tickets stay as they are",
            from.reference
        )));
    }
    if from.customer.id != into.customer.id {
        // The target's customer would see the other's conversation in the portal, and replies
        // to the other's mail would thread to them: never silently.
        return Err(StoreError::Conflict(format!(
            "{} is {}'s and {} is {}'s; only tickets of the same customer can be merged (link them instead)",
            from.reference, from.customer.name, into.reference, into.customer.name
        )));
    }
    if into.status == TicketStatus::Closed {
        return Err(StoreError::Conflict(format!(
            "{} is closed; merge into an open ticket",
            into.reference
        )));
    }
    c.execute(
        "UPDATE messages SET ticket_id = $1 WHERE ticket_id = $2",
        params![target, source],
    )
    .await?;
    c.touch_search(source);
    c.touch_search(target);
    // Replies to mail of the merged ticket thread into the target from now on.
    c.execute(
        "INSERT INTO email_message_ids (message_id, ticket_id, outbound, created_at) \
         SELECT message_id, $1, outbound, created_at FROM email_message_ids WHERE ticket_id = $2 \
         ON CONFLICT (message_id, ticket_id) DO NOTHING",
        params![target, source],
    )
    .await?;
    c.execute(
        "DELETE FROM email_message_ids WHERE ticket_id = $1",
        params![source],
    )
    .await?;
    add_tags(c, target, &from.tags).await?;
    // A merge ends the source for good: solved and closed at once.
    if from.status != TicketStatus::Solved {
        write_status(c, ctx, source, from.status, TicketStatus::Solved).await?;
    }
    write_status(c, ctx, source, TicketStatus::Solved, TicketStatus::Closed).await?;
    c.execute(
        "UPDATE tickets SET updated_at = $1 WHERE id IN ($2, $3)",
        params![ctx.at.0, source, target],
    )
    .await?;
    insert_link(c, ctx, source, target, "merged").await?;
    for on in [source, target] {
        append_event(
            c,
            ctx,
            EventKind::TicketMerged,
            Some(on),
            "ticket",
            on,
            json!({"source": source, "target": target}),
        )
        .await?;
    }
    load_ticket(c, target).await
}

/// Copies one message out into a new ticket of the same customer, owned by the agent who
/// split it, linked both ways. The original conversation stays whole.
pub(super) async fn split_message(c: &mut dyn Conn, ctx: Ctx, message_id: i64) -> Result<Ticket> {
    let message = load_message(c, message_id).await?;
    let source = load_ticket(c, message.ticket_id).await?;
    let owner = ctx.actor.agent_id();
    let status = if owner.is_some() {
        TicketStatus::Open
    } else {
        TicketStatus::New
    };
    let id = c
        .query_one(
            "INSERT INTO tickets (subject, status, priority, channel, customer_id, inbox_id, assignee_id, team_id, \
             created_at, updated_at) SELECT subject, $1, priority, channel, customer_id, inbox_id, $2, team_id, $3, $3 \
             FROM tickets WHERE id = $4 RETURNING id",
            params![status.as_str(), owner, ctx.at.0, source.id],
        )
        .await?
        .int(0)?;
    c.touch_search(id);
    append_event(
        c,
        ctx,
        EventKind::TicketCreated,
        Some(id),
        "ticket",
        id,
        json!({"subject": source.subject, "status": status, "split_from": source.id, "customer_id": source.customer.id}),
    )
    .await?;
    let copy = NewMessage {
        kind: message.kind,
        channel: message.channel,
        body: message.body.clone(),
        send_email: false,
        attachments: Vec::new(),
    };
    let copied = insert_message_row(c, ctx, id, message.author, &copy).await?;
    c.execute(
        "UPDATE messages SET html = $1, quoted = $2, email_id = $3 WHERE id = $4",
        params![
            message.html.clone(),
            &message.quoted,
            message.email_id,
            copied
        ],
    )
    .await?;
    for a in &message.attachments {
        let new_id = c
            .query_one(
                "INSERT INTO attachments (message_id, filename, content_type, size_bytes, created_at, content_id, inline, withheld) \
                 SELECT $1, filename, content_type, size_bytes, $2, content_id, inline, withheld FROM attachments WHERE id = $3 RETURNING id",
                params![copied, ctx.at.0, a.id],
            )
            .await?
            .int(0)?;
        c.execute(
            "INSERT INTO attachment_blobs (attachment_id, data) SELECT $1, data FROM attachment_blobs WHERE attachment_id = $2",
            params![new_id, a.id],
        )
        .await?;
    }
    insert_link(c, ctx, source.id, id, "split").await?;
    for on in [source.id, id] {
        append_event(
            c,
            ctx,
            EventKind::TicketSplit,
            Some(on),
            "message",
            message_id,
            json!({"source": source.id, "ticket": id}),
        )
        .await?;
    }
    load_ticket(c, id).await
}

// ---------------------------------------------------------------------------------------------
// Two-factor sign-in

/// The agent's TOTP secret and whether it is confirmed (enabled).
pub(super) async fn agent_totp(c: &mut dyn Conn, agent_id: i64) -> Result<Option<(String, bool)>> {
    let row = c
        .query_opt(
            "SELECT totp_secret, totp_enabled FROM agents WHERE id = $1",
            params![agent_id],
        )
        .await?
        .ok_or_else(|| StoreError::not_found("agent", agent_id))?;
    Ok(match row.opt_text(0)? {
        Some(secret) => Some((secret, row.bool(1)?)),
        None => None,
    })
}

/// Sets a new, not yet confirmed secret, or (None) turns two-factor off with its codes.
pub(super) async fn set_totp_secret(
    c: &mut dyn Conn,
    ctx: Ctx,
    agent_id: i64,
    secret: Option<String>,
) -> Result<()> {
    let was_enabled = agent_totp(c, agent_id).await?.is_some_and(|(_, on)| on);
    if was_enabled && secret.is_some() {
        // A new secret would switch the old one off: turning it off asks for the password.
        return Err(StoreError::Conflict(
            "two-factor sign-in is on; turn it off (with the password) before setting it up again"
                .into(),
        ));
    }
    c.execute(
        "UPDATE agents SET totp_secret = $1, totp_enabled = $2, updated_at = $3 WHERE id = $4",
        params![secret.clone(), false, ctx.at.0, agent_id],
    )
    .await?;
    c.execute(
        "DELETE FROM recovery_codes WHERE agent_id = $1",
        params![agent_id],
    )
    .await?;
    if was_enabled {
        append_event(
            c,
            ctx,
            EventKind::TwoFactorChanged,
            None,
            "agent",
            agent_id,
            json!({"enabled": false}),
        )
        .await?;
    }
    Ok(())
}

/// Turns two-factor on (its code was confirmed) with a fresh set of recovery codes.
pub(super) async fn enable_totp(
    c: &mut dyn Conn,
    ctx: Ctx,
    agent_id: i64,
    recovery_hashes: &[String],
) -> Result<()> {
    if agent_totp(c, agent_id).await?.is_none() {
        return Err(StoreError::Conflict(
            "no two-factor secret to confirm".into(),
        ));
    }
    c.execute(
        "UPDATE agents SET totp_enabled = $1, updated_at = $2 WHERE id = $3",
        params![true, ctx.at.0, agent_id],
    )
    .await?;
    c.execute(
        "DELETE FROM recovery_codes WHERE agent_id = $1",
        params![agent_id],
    )
    .await?;
    for hash in recovery_hashes {
        c.execute(
            "INSERT INTO recovery_codes (agent_id, code_hash) VALUES ($1, $2)",
            params![agent_id, hash],
        )
        .await?;
    }
    append_event(
        c,
        ctx,
        EventKind::TwoFactorChanged,
        None,
        "agent",
        agent_id,
        json!({"enabled": true}),
    )
    .await
}

/// Spends a recovery code; false when it is unknown or used.
pub(super) async fn use_recovery_code(
    c: &mut dyn Conn,
    ctx: Ctx,
    agent_id: i64,
    hash: &str,
) -> Result<bool> {
    let used = c
        .execute(
            "UPDATE recovery_codes SET used_at = $1 WHERE agent_id = $2 AND code_hash = $3 AND used_at IS NULL",
            params![ctx.at.0, agent_id, hash],
        )
        .await?;
    if used == 1 {
        append_event(
            c,
            ctx,
            EventKind::TwoFactorChanged,
            None,
            "agent",
            agent_id,
            json!({"recovery_code_used": true}),
        )
        .await?;
    }
    Ok(used == 1)
}

/// Takes one of a sign-in challenge's five code attempts (password right, code still owed):
/// the agent it belongs to, or `None` when it is unknown, expired or used up. Counting and
/// checking are one statement, so parallel guesses cannot share an attempt.
pub(super) async fn claim_challenge_attempt(
    c: &mut dyn Conn,
    id_hash: &str,
    now: Millis,
) -> Result<Option<i64>> {
    c.int_opt(
        "UPDATE login_challenges SET attempts = attempts + 1 \
         WHERE id_hash = $1 AND expires_at > $2 AND attempts < 5 RETURNING agent_id",
        params![id_hash, now.0],
    )
    .await
}

/// Accepts a TOTP time step once: false when this step (or a later one) was used already.
pub(super) async fn use_totp_step(c: &mut dyn Conn, agent_id: i64, step: i64) -> Result<bool> {
    let used = c
        .execute(
            "UPDATE agents SET totp_last_step = $1 WHERE id = $2 \
             AND (totp_last_step IS NULL OR totp_last_step < $1)",
            params![step, agent_id],
        )
        .await?;
    Ok(used == 1)
}

/// Records each active staff member an internal note mentions (`@first name` or the part of
/// their address before the @), so it reaches them in their Mentions view.
pub(super) async fn record_mentions(
    c: &mut dyn Conn,
    ctx: Ctx,
    ticket_id: i64,
    message_id: i64,
    body: &str,
) -> Result<()> {
    let names = rapport_core::macros::mentions(body);
    if names.is_empty() {
        return Ok(());
    }
    let agents = c
        .query(
            "SELECT id, name, email FROM agents WHERE active = $1",
            params![true],
        )
        .await?;
    let mut mentioned = Vec::new();
    for r in &agents {
        let (id, name, email) = (
            r.int(0)?,
            r.text(1)?.to_lowercase(),
            r.text(2)?.to_lowercase(),
        );
        let first = name
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        let local = email.split('@').next().unwrap_or_default().to_string();
        if names.iter().any(|n| *n == first || *n == local) && !mentioned.contains(&id) {
            mentioned.push(id);
        }
    }
    for agent in mentioned {
        append_event(
            c,
            ctx,
            EventKind::AgentMentioned,
            Some(ticket_id),
            "agent",
            agent,
            json!({"message_id": message_id}),
        )
        .await?;
    }
    Ok(())
}

pub(super) async fn update_agent(
    c: &mut dyn Conn,
    ctx: Ctx,
    id: i64,
    role: Role,
    active: bool,
) -> Result<Agent> {
    let before = load_agent(c, id).await?;
    if before.role == role && before.active == active {
        return Ok(before);
    }
    c.execute(
        "UPDATE agents SET role = $1, active = $2, updated_at = $3 WHERE id = $4",
        params![role.as_str(), active, ctx.at.0, id],
    )
    .await?;
    if !active {
        c.execute("DELETE FROM sessions WHERE agent_id = $1", params![id])
            .await?;
    }
    let change = json!({
        "role": {"before": before.role.as_str(), "after": role.as_str()},
        "active": {"before": before.active, "after": active},
    });
    append_event(c, ctx, EventKind::AgentChanged, None, "agent", id, change).await?;
    load_agent(c, id).await
}
