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
    c.execute(
        "INSERT INTO outbox (kind, inbox_id, recipient, email_message_id, automatic, raw, status, \
         next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7)",
        params![
            OutboxKind::PortalLink.as_str(),
            link.mail.inbox_id,
            &link.mail.recipient,
            &link.mail.email_message_id,
            true,
            link.mail.raw,
            ctx.at.0
        ],
    )
    .await?;
    append_event(
        c,
        ctx,
        EventKind::PortalLinkSent,
        None,
        "customer",
        link.customer_id,
        json!({ "recipient": link.mail.recipient }),
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

/// How many tickets match, counting no further than `cap` (a view shows "999+" rather than
/// scanning a million rows to say exactly how many).
pub(super) async fn count_tickets(
    c: &mut dyn Conn,
    filter: &TicketFilter,
    cap: u32,
) -> Result<i64> {
    let mut q = SqlBuilder::new("SELECT count(*) FROM (SELECT 1 FROM tickets t");
    if filter.organization_id.is_some() {
        q.push(" JOIN customers c ON c.id = t.customer_id");
    }
    q.push(" WHERE 1 = 1");
    push_ticket_filter(&mut q, filter);
    q.push(" LIMIT ").bind(i64::from(cap)).push(") AS capped");
    let (sql, params) = q.parts();
    c.query_one(sql, params).await?.int(0)
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
/// `skip`.
pub(super) async fn next_for_agent(
    c: &mut dyn Conn,
    agent_id: i64,
    skip: &[i64],
) -> Result<Option<i64>> {
    let team_ids = agent_team_ids(c, agent_id).await?;
    let mut rank = String::from("CASE t.priority");
    for (i, p) in rapport_core::ticket::FOCUS_ORDER.iter().enumerate() {
        rank.push_str(&format!(" WHEN '{}' THEN {i}", p.as_str()));
    }
    rank.push_str(" ELSE 9 END");
    let mut candidates = vec![(true, Vec::new())];
    if !team_ids.is_empty() {
        candidates.push((false, team_ids));
    }
    for (mine, teams) in candidates {
        let mut q = SqlBuilder::new("SELECT t.id FROM tickets t WHERE t.status IN ('new', 'open')");
        if mine {
            q.push(" AND t.assignee_id = ").bind(agent_id);
        } else {
            q.push(" AND t.assignee_id IS NULL AND t.team_id IN (")
                .bind_list(teams)
                .push(")");
        }
        if !skip.is_empty() {
            q.push(" AND t.id NOT IN (")
                .bind_list(skip.to_vec())
                .push(")");
        }
        q.push(&format!(" ORDER BY {rank}, t.updated_at, t.id LIMIT 1"));
        let (sql, params) = q.parts();
        if let Some(row) = c.query(sql, params).await?.into_iter().next() {
            return Ok(Some(row.int(0)?));
        }
    }
    Ok(None)
}
