//! SQLite backend: the default, embedded, and fast.
//!
//! One writer connection owns all writes. Requests queue their write as a job; the writer
//! takes every job waiting, runs each inside its own SAVEPOINT of one transaction, commits once
//! (one fsync for the batch, `synchronous=FULL`), and only then answers each request. A failed
//! job rolls back to its savepoint without touching the others; a failed commit fails them all.
//! Readers use a separate read-only pool, so reads never wait for the writer.

use crate::{Result, StoreError};
use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use std::panic::AssertUnwindSafe;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc, oneshot};

pub(crate) type Db = sqlx::Sqlite;
pub(crate) const NAME: &str = "sqlite";

/// Jobs taken into one transaction at most; bounds the latency one commit adds.
const MAX_BATCH: usize = 512;

/// Runs a write inside the batch transaction; returns whether it succeeded and how to answer
/// its caller once the commit's outcome is known.
type Job = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, (bool, Reply)> + Send>;
type Reply = Box<dyn FnOnce(Result<()>) + Send>;

pub struct SqliteStore {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    readers: SqlitePool,
}

pub(crate) type Backend = SqliteStore;

// Deliberately compiled once per backend: the shared SQL, typed for this backend's `Db`.
#[allow(clippy::duplicate_mod)]
#[path = "shared.rs"]
mod shared;

impl SqliteStore {
    /// Opens (creating if needed) the database at a `sqlite://path` URL and migrates it.
    pub async fn open(url: &str) -> Result<Self> {
        let path = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
            .split('?')
            .next()
            .unwrap_or_default();
        if path.is_empty() || path == ":memory:" {
            return Err(StoreError::Config(
                "the SQLite URL needs a file path (sqlite://path/to/rapport.db); in-memory databases cannot be shared".into(),
            ));
        }
        if let Some(dir) = std::path::Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Config(format!(
                    "cannot create the directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(|e| StoreError::Config(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-32000")
            .log_statements(tracing::log::LevelFilter::Trace);
        let mut writer = options.connect().await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut writer)
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options.read_only(true))
            .await?;
        let (tx, rx) = mpsc::channel::<Job>(4096);
        let handle = tokio::spawn(run_writer(writer, rx));
        Ok(Self {
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            readers,
        })
    }

    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.readers
    }

    /// Runs `op` in the shared write transaction and returns its result once it is durable.
    pub(crate) async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let result = op(conn).await;
                let ok = result.is_ok();
                let reply: Reply = Box::new(move |commit: Result<()>| {
                    let _ = answer.send(commit.and(result));
                });
                (ok, reply)
            })
        });
        let sender = self.jobs.lock().await.clone();
        let sender = sender.ok_or_else(|| StoreError::Database("the store is closed".into()))?;
        sender
            .send(job)
            .await
            .map_err(|_| StoreError::Database("the SQLite writer has stopped".into()))?;
        answered.await.map_err(|_| {
            StoreError::Database(
                "the write was abandoned (writer failure); nothing was committed".into(),
            )
        })?
    }

    pub(crate) async fn shutdown(&self) {
        self.jobs.lock().await.take();
        if let Some(handle) = self.writer.lock().await.take() {
            let _ = handle.await;
        }
        self.readers.close().await;
    }
}

async fn run_writer(mut conn: SqliteConnection, mut jobs: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let replies = run_batch(&mut conn, batch.drain(..)).await;
        let outcome = match replies.is_empty() {
            true => Ok(()),
            false => sqlx::query("COMMIT").execute(&mut conn).await.map(|_| ()),
        };
        let outcome = outcome.map_err(|e| {
            tracing::error!(error = %e, "SQLite group commit failed; the batch is rolled back");
            StoreError::Database(format!("commit failed: {e}"))
        });
        if outcome.is_err() {
            let _ = sqlx::query("ROLLBACK").execute(&mut conn).await;
        }
        for reply in replies {
            reply(outcome.clone());
        }
    }
    let _ = conn.close().await;
}

/// Runs each job in its own savepoint of one `BEGIN IMMEDIATE` transaction. A job that panics
/// is rolled back and its caller told (its answer channel is dropped).
async fn run_batch(conn: &mut SqliteConnection, batch: impl Iterator<Item = Job>) -> Vec<Reply> {
    let mut replies = Vec::new();
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
        tracing::error!(error = %e, "SQLite writer could not begin a transaction");
        return replies;
    }
    for job in batch {
        if sqlx::query("SAVEPOINT job")
            .execute(&mut *conn)
            .await
            .is_err()
        {
            continue;
        }
        let ran = AssertUnwindSafe(job(&mut *conn)).catch_unwind().await;
        let keep = matches!(ran, Ok((true, _)));
        let undo = if keep {
            "RELEASE job"
        } else {
            "ROLLBACK TO job"
        };
        let undone = sqlx::query(undo).execute(&mut *conn).await.is_ok();
        if !keep && undone {
            let _ = sqlx::query("RELEASE job").execute(&mut *conn).await;
        }
        if let Ok((_, reply)) = ran {
            replies.push(reply);
        }
    }
    if replies.is_empty() {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
    }
    replies
}

/// Adds text to the full-text index in the same transaction as the write it belongs to.
pub(crate) async fn index_text(
    c: &mut SqliteConnection,
    ticket_id: i64,
    kind: &str,
    text: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO search_index (ticket_id, kind, text) VALUES ($1, $2, $3)")
        .bind(ticket_id)
        .bind(kind)
        .bind(text)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub(crate) async fn reindex_subject(
    c: &mut SqliteConnection,
    ticket_id: i64,
    subject: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM search_index WHERE ticket_id = $1 AND kind = 'subject'")
        .bind(ticket_id)
        .execute(&mut *c)
        .await?;
    index_text(c, ticket_id, "subject", subject).await
}

/// Writes are already serialised by the single writer, so there is nothing to wait for.
pub(crate) async fn serialize_on(_: &mut SqliteConnection, _: &str) -> Result<()> {
    Ok(())
}

/// FTS5 query for the user's words: each word quoted (so `-`, `:` and `"` are text, not
/// syntax), all words required.
fn fts_query(query: &str) -> Option<String> {
    let words: Vec<String> = query
        .split_whitespace()
        .map(|w| w.replace('"', ""))
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\""))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// Best-matching tickets (id and snippet), one row per ticket: the best-ranked rows are read
/// in order and each ticket keeps its first (best) one.
pub(crate) async fn search_hits(
    c: &mut SqliteConnection,
    query: &str,
    limit: i64,
) -> Result<Vec<(i64, String)>> {
    let Some(fts) = fts_query(query) else {
        return Ok(Vec::new());
    };
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT ticket_id, snippet(search_index, 2, '[', ']', '…', 16) FROM search_index \
         WHERE search_index MATCH $1 ORDER BY bm25(search_index), ticket_id DESC LIMIT $2",
    )
    .bind(fts)
    .bind(limit.saturating_mul(8))
    .fetch_all(&mut *c)
    .await?;
    let mut seen = std::collections::HashSet::new();
    Ok(rows
        .into_iter()
        .filter(|(id, _)| seen.insert(*id))
        .take(usize::try_from(limit).unwrap_or(0))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn user_words_never_become_fts_syntax() {
        assert_eq!(
            fts_query("refund  order-17"),
            Some("\"refund\" \"order-17\"".into())
        );
        assert_eq!(
            fts_query("say \"hi\" NOT"),
            Some("\"say\" \"hi\" \"NOT\"".into())
        );
        assert_eq!(fts_query("  \"\" "), None);
    }
}
