//! PostgreSQL backend: for several Rapport nodes on one database. A pool of connections; each
//! write is its own transaction (PostgreSQL groups concurrent commits itself). Migrations take
//! sqlx's advisory lock, so nodes starting together migrate once.

use crate::{Result, StoreError};
use futures::future::BoxFuture;
use sqlx::PgConnection;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

pub(crate) type Db = sqlx::Postgres;
pub(crate) const NAME: &str = "postgres";

pub struct PgStore {
    pool: PgPool,
}

pub(crate) type Backend = PgStore;

// Deliberately compiled once per backend: the shared SQL, typed for this backend's `Db`.
#[allow(clippy::duplicate_mod)]
#[path = "shared.rs"]
mod shared;

impl PgStore {
    pub async fn open(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| {
                StoreError::Database(format!(
                    "cannot connect to PostgreSQL at {}: {e}",
                    crate::redact_url(url)
                ))
            })?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    pub(crate) fn reader(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let mut tx = self.pool.begin().await?;
        let result = op(&mut tx).await;
        match result {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(e) => {
                tx.rollback().await?;
                Err(e)
            }
        }
    }

    pub(crate) async fn shutdown(&self) {
        self.pool.close().await;
    }
}

/// PostgreSQL indexes subjects and messages through generated `tsvector` columns, so there is
/// nothing to write by hand.
pub(crate) async fn index_text(_: &mut PgConnection, _: i64, _: &str, _: &str) -> Result<()> {
    Ok(())
}

pub(crate) async fn reindex_subject(_: &mut PgConnection, _: i64, _: &str) -> Result<()> {
    Ok(())
}

/// Makes concurrent transactions that touch the same natural key (an email address, an
/// idempotency key) take turns until commit, so the second finds what the first created
/// instead of failing on a unique constraint.
pub(crate) async fn serialize_on(c: &mut PgConnection, key: &str) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(key)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Best-matching tickets (id and snippet), one row per ticket: subject matches weigh double.
pub(crate) async fn search_hits(
    c: &mut PgConnection,
    query: &str,
    limit: i64,
) -> Result<Vec<(i64, String)>> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "WITH q AS (SELECT plainto_tsquery('simple', $1) AS q), \
         hits AS ( \
           SELECT t.id AS ticket_id, t.subject AS text, ts_rank(t.search, q.q) * 2 AS score FROM tickets t, q WHERE t.search @@ q.q \
           UNION ALL \
           SELECT m.ticket_id, m.body, ts_rank(m.search, q.q) FROM messages m, q WHERE m.search @@ q.q), \
         best AS (SELECT DISTINCT ON (ticket_id) ticket_id, text, score FROM hits ORDER BY ticket_id, score DESC) \
         SELECT best.ticket_id, ts_headline('simple', best.text, q.q, 'StartSel=[, StopSel=], MaxWords=24, MinWords=8') \
         FROM best, q ORDER BY best.score DESC, best.ticket_id DESC LIMIT $2",
    )
    .bind(query)
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows)
}
