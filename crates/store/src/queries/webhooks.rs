//! Webhooks: subscribers, and their deliveries claimed under a lease like the outbox.
//!
//! Delivery rows are not written here: a trigger on `events` (migration 0007) writes one per
//! matching subscriber inside the transaction that appends the event, so every write path
//! gets them and a rolled-back write gets none. The unique `(webhook_id, event_id)` keeps each
//! event to one row per subscriber; the worker's lease keeps it to one sender at a time.

use super::*;
use base64::Engine as _;

const WEBHOOK_SELECT: &str = "SELECT id, url, events, active, created_at FROM webhooks";
/// Longer addresses are almost certainly a mistake (and would be stored on every listing).
const MAX_URL_LEN: usize = 2_000;

fn webhook_from(r: &Row) -> Result<Webhook> {
    Ok(Webhook {
        id: r.int(0)?,
        url: r.text(1)?,
        events: r.text(2)?.split(',').map(str::to_string).collect(),
        active: r.bool(3)?,
        created_at: Millis(r.int(4)?),
    })
}

/// Checks a new webhook before any transaction starts: the address must be an absolute
/// http(s) URL with a host, and every event name `*` or a kind subscribers can receive.
pub(super) fn validate(new: NewWebhook) -> Result<NewWebhook> {
    let url = new.url.trim().to_string();
    check_url(&url)?;
    if new.events.is_empty() {
        return Err(
            Invalid::new("events", "name at least one event kind, or \"*\" for all").into(),
        );
    }
    let mut events: Vec<String> = Vec::with_capacity(new.events.len());
    for (i, event) in new.events.iter().enumerate() {
        let event = event.trim();
        // Events about webhooks are never delivered (see the trigger), so they cannot be
        // subscribed to either.
        let known = event == "*"
            || EventKind::ALL
                .iter()
                .any(|k| k.as_str() == event && !event.starts_with("webhook."));
        if !known {
            return Err(Invalid::new(
                format!("events[{i}]"),
                format!(
                    "'{event}' is not an event kind (e.g. ticket.created, message.added, or \"*\")"
                ),
            )
            .into());
        }
        if !events.iter().any(|e| e == event) {
            events.push(event.to_string());
        }
    }
    // `*` already means everything; keeping other names beside it would only confuse.
    if events.iter().any(|e| e == "*") {
        events = vec!["*".to_string()];
    }
    Ok(NewWebhook { url, events })
}

fn check_url(url: &str) -> Result<()> {
    let invalid = |problem: &str| -> Result<()> { Err(Invalid::new("url", problem).into()) };
    if url.len() > MAX_URL_LEN {
        return invalid("must be at most 2000 characters");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("must not contain spaces or control characters");
    }
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    else {
        return invalid("must start with http:// or https://");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return invalid("must not carry a user name or password; sign with the secret instead");
    }
    let host = match authority.rsplit_once(':') {
        // An IPv6 literal's colons are inside brackets; only a colon after `]` starts a port.
        Some((host, port)) if !port.contains(']') => {
            if port.is_empty() || port.parse::<u16>().is_err() {
                return invalid("has an invalid port");
            }
            host
        }
        _ => authority,
    };
    if host.is_empty() {
        return invalid("must name a host");
    }
    Ok(())
}

pub(super) async fn create_webhook(
    c: &mut dyn Conn,
    ctx: Ctx,
    new: NewWebhook,
) -> Result<CreatedWebhook> {
    // The Standard Webhooks form: `whsec_` and the base64 of the key's 32 random bytes, so
    // receivers can verify with that standard's libraries as well as by hand.
    let key: [u8; 32] = rand::random();
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    let events = new.events.join(",");
    let id = c
        .query_one(
            "INSERT INTO webhooks (url, secret, events, active, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            params![&new.url, &secret, &events, true, ctx.at.0],
        )
        .await?
        .int(0)?;
    // The secret stays out of the event log: the log is readable by more people than it is.
    append_event(
        c,
        ctx,
        EventKind::WebhookCreated,
        None,
        "webhook",
        id,
        json!({"url": new.url, "events": new.events}),
    )
    .await?;
    Ok(CreatedWebhook {
        webhook: load_webhook(c, id).await?,
        secret,
    })
}

async fn load_webhook(c: &mut dyn Conn, id: i64) -> Result<Webhook> {
    let r = c
        .query_opt(&format!("{WEBHOOK_SELECT} WHERE id = $1"), params![id])
        .await?
        .ok_or_else(|| StoreError::not_found("webhook", id))?;
    webhook_from(&r)
}

pub(super) async fn list_webhooks(c: &mut dyn Conn) -> Result<Vec<Webhook>> {
    c.query(&format!("{WEBHOOK_SELECT} ORDER BY id"), &[])
        .await?
        .iter()
        .map(webhook_from)
        .collect()
}

pub(super) async fn delete_webhook(c: &mut dyn Conn, ctx: Ctx, id: i64) -> Result<()> {
    let hook = load_webhook(c, id).await?;
    // Its deliveries go with it (ON DELETE CASCADE): nothing more is sent to a removed address.
    c.execute("DELETE FROM webhooks WHERE id = $1", params![id])
        .await?;
    append_event(
        c,
        ctx,
        EventKind::WebhookDeleted,
        None,
        "webhook",
        id,
        json!({"url": hook.url}),
    )
    .await
}

/// Leases up to `limit` due deliveries for `lease_ms` with their event and subscriber.
pub(super) async fn claim(
    c: &mut dyn Conn,
    now: Millis,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<WebhookDelivery>> {
    let ids = delivery::lease_due(c, delivery::Deliveries::Webhooks, now, lease_ms, limit).await?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        let r = c
            .query_one(
                "SELECT d.id, d.webhook_id, w.url, w.secret, d.attempts, \
                 e.id, e.ticket_id, e.kind, e.actor_kind, e.actor_id, e.subject_type, e.subject_id, e.data, e.created_at \
                 FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.id = d.event_id \
                 WHERE d.id = $1",
                params![id],
            )
            .await?;
        // The event's columns are the row's tail, in `event_from`'s order.
        let event = event_from(&Row(r.0.get(5..).unwrap_or_default().to_vec()))?;
        items.push(WebhookDelivery {
            id: r.int(0)?,
            webhook_id: r.int(1)?,
            url: r.text(2)?,
            secret: r.text(3)?,
            attempts: r.int(4)?,
            event,
        });
    }
    Ok(items)
}
