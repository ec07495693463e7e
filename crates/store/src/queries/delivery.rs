//! What the email outbox and webhook deliveries share: rows a worker claims under a lease
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so nodes never take the same row), attempts, and
//! records as sent, to be retried at a time, or failed.

use super::*;

/// A table of deliveries: `status`, `next_attempt_at`, `lease_until`, `attempts`,
/// `last_error`, `sent_at`.
#[derive(Clone, Copy)]
pub(super) enum Deliveries {
    Outbox,
    Webhooks,
}

impl Deliveries {
    fn table(self) -> &'static str {
        match self {
            Deliveries::Outbox => "outbox",
            Deliveries::Webhooks => "webhook_deliveries",
        }
    }
}

/// Pending, due at `$1`, and not leased to a worker (or its lease ran out: a dead node's).
const DUE: &str =
    "status = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)";

/// Whether anything is due: a read, so an idle worker's poll is not a write.
pub(super) async fn any_due(c: &mut dyn Conn, table: Deliveries, now: Millis) -> Result<bool> {
    Ok(c.query_opt(
        &format!("SELECT 1 FROM {} WHERE {DUE} LIMIT 1", table.table()),
        params![now.0],
    )
    .await?
    .is_some())
}

/// Leases up to `limit` due rows for `lease_ms`, oldest due first; their ids.
pub(super) async fn lease_due(
    c: &mut dyn Conn,
    table: Deliveries,
    now: Millis,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<i64>> {
    let due = c
        .query(
            &format!(
                "SELECT id FROM {} WHERE {DUE} ORDER BY next_attempt_at, id LIMIT $2{}",
                table.table(),
                c.skip_locked()
            ),
            params![now.0, limit],
        )
        .await?;
    let mut ids = Vec::with_capacity(due.len());
    for r in due {
        let id = r.int(0)?;
        c.execute(
            &format!(
                "UPDATE {} SET lease_until = $1 WHERE id = $2",
                table.table()
            ),
            params![now.0 + lease_ms, id],
        )
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

/// Records an attempt: sent, failed for good, or to be retried at the time given.
pub(super) async fn record_attempt(
    c: &mut dyn Conn,
    table: Deliveries,
    id: i64,
    at: Millis,
    result: OutboxResult,
) -> Result<()> {
    let (status, error, next) = match result {
        OutboxResult::Sent => ("sent", None, None),
        OutboxResult::Retry { error, at: next } => ("pending", Some(error), Some(next.0)),
        OutboxResult::Failed { error } => ("failed", Some(error), None),
    };
    c.execute(
        &format!(
            "UPDATE {} SET status = $1, attempts = attempts + 1, last_error = $2, \
             next_attempt_at = COALESCE($3, next_attempt_at), lease_until = NULL, \
             sent_at = CASE WHEN $1 = 'sent' THEN $4 ELSE sent_at END WHERE id = $5",
            table.table()
        ),
        params![status, error, next, at.0, id],
    )
    .await?;
    Ok(())
}
