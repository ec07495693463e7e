//! PostgreSQL backend: for several Rapport nodes on one database. A pool of connections; each
//! write is its own transaction (PostgreSQL groups concurrent commits itself). Migrations take
//! sqlx's advisory lock, so nodes starting together migrate once.

use crate::sql::{Conn, DbError, Row, SqlBuilder, Value};
use crate::{Result, StoreError};
use futures::future::BoxFuture;
use rapport_core::search_text::{Matcher, SearchDoc, Section};
use sqlx::postgres::{PgArguments, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Column, PgConnection, Row as _, TypeInfo};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Round trips to PostgreSQL made by this process (statements, BEGIN, COMMIT): benchmarks
/// divide it by the work done to show where a cluster's time goes.
static ROUND_TRIPS: AtomicU64 = AtomicU64::new(0);

pub fn round_trips() -> u64 {
    ROUND_TRIPS.load(Ordering::Relaxed)
}

fn count_round_trips(n: u64) {
    ROUND_TRIPS.fetch_add(n, Ordering::Relaxed);
}

/// NOTIFY payloads must be shorter than this.
pub(crate) const MAX_NOTIFY_BYTES: usize = 8000;
/// Where a process announces that it committed writes.
const EVENTS_CHANNEL: &str = "rapport_events";
/// Where [`crate::Store::broadcast`] messages travel.
const BROADCAST_CHANNEL: &str = "rapport_broadcast";

pub(crate) struct PgEngine {
    pool: PgPool,
    /// Hears other processes' commits and broadcasts; stopped with the engine.
    listener: tokio::task::JoinHandle<()>,
    /// Tells the other processes about this one's commits; stopped with the engine.
    announcer: tokio::task::JoinHandle<()>,
    commits_to_announce: Arc<Announcements>,
}

/// Commits not yet announced. A NOTIFY inside a write transaction would hold PostgreSQL's
/// notification queue lock from before its commit until its WAL flush, so every writer of the
/// cluster would commit one at a time (measured: 3 nodes did 0.7× the work of one). The
/// announcement is sent after the commit instead, from its own statement, and commits that
/// happen meanwhile share the next one.
#[derive(Default)]
struct Announcements {
    pending: std::sync::atomic::AtomicBool,
    wake: tokio::sync::Notify,
}

impl Drop for PgEngine {
    fn drop(&mut self) {
        self.listener.abort();
        self.announcer.abort();
    }
}

fn db_error(e: sqlx::Error) -> DbError {
    let unique_violation = matches!(&e, sqlx::Error::Database(db) if db.is_unique_violation());
    DbError {
        unique_violation,
        message: e.to_string(),
    }
}

impl PgEngine {
    pub(crate) async fn open(
        url: &str,
        commits: Arc<watch::Sender<u64>>,
        broadcasts: broadcast::Sender<String>,
    ) -> Result<Self> {
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
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        let mut listener = PgListener::connect_with(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("cannot LISTEN: {e}")))?;
        listener
            .listen_all([EVENTS_CHANNEL, BROADCAST_CHANNEL])
            .await
            .map_err(|e| StoreError::Database(format!("cannot LISTEN: {e}")))?;
        let listener = tokio::spawn(listen(listener, commits, broadcasts));
        let commits_to_announce = Arc::new(Announcements::default());
        let announcer = tokio::spawn(announce(pool.clone(), commits_to_announce.clone()));
        Ok(Self {
            pool,
            listener,
            announcer,
            commits_to_announce,
        })
    }

    /// Sends the announcement of commits made since the last one, if any.
    async fn announce_now(&self) {
        if self
            .commits_to_announce
            .pending
            .swap(false, Ordering::AcqRel)
        {
            let _ = send_notify(&self.pool, EVENTS_CHANNEL, "").await;
        }
    }

    /// Sends `message` to every listening process, outside any transaction.
    pub(crate) async fn notify(&self, message: &str) -> Result<()> {
        send_notify(&self.pool, BROADCAST_CHANNEL, message).await
    }

    pub(crate) async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        count_round_trips(2);
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| StoreError::from(db_error(e)))?;
        let mut conn = PgConn::new(&mut tx);
        let mut result = op(&mut conn).await;
        if result.is_ok() {
            let touched = std::mem::take(&mut conn.touched);
            if let Err(e) = crate::queries::refresh_search(&mut conn, touched).await {
                result = Err(e);
            }
        }
        match result {
            Ok(value) => {
                tx.commit()
                    .await
                    .map_err(|e| StoreError::from(db_error(e)))?;
                self.commits_to_announce
                    .pending
                    .store(true, Ordering::Release);
                self.commits_to_announce.wake.notify_one();
                Ok(value)
            }
            Err(e) => {
                tx.rollback()
                    .await
                    .map_err(|e| StoreError::from(db_error(e)))?;
                Err(e)
            }
        }
    }

    pub(crate) async fn read<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        // One snapshot for the whole read, so a list and the details loaded for it agree.
        count_round_trips(2);
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(|e| StoreError::from(db_error(e)))?;
        let result = op(&mut PgConn::new(&mut tx)).await;
        tx.commit()
            .await
            .map_err(|e| StoreError::from(db_error(e)))?;
        result
    }

    pub(crate) async fn shutdown(&self) {
        // A short-lived process (`mail-in`) announces its last commit before it goes.
        self.announcer.abort();
        self.announce_now().await;
        self.listener.abort();
        self.pool.close().await;
    }
}

async fn send_notify(pool: &PgPool, channel: &str, message: &str) -> Result<()> {
    count_round_trips(1);
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(message)
        .execute(pool)
        .await
        .map_err(|e| StoreError::from(db_error(e)))?;
    Ok(())
}

/// Announces this process's commits to the others, one NOTIFY for all commits since the last.
/// A failed announcement only delays the others: they read the event log every second anyway.
async fn announce(pool: PgPool, commits: Arc<Announcements>) {
    loop {
        commits.wake.notified().await;
        while commits.pending.swap(false, Ordering::AcqRel) {
            if let Err(e) = send_notify(&pool, EVENTS_CHANNEL, "").await {
                tracing::debug!(error = %e, "cannot announce a commit");
            }
        }
    }
}

/// Turns notifications into local signals: new events bump `commits` (live pages then read the
/// event log), broadcasts are passed on. After a lost connection sqlx reconnects and listens
/// again; what was sent meanwhile is lost, so `commits` is bumped and readers catch up from
/// the event log.
async fn listen(
    mut listener: PgListener,
    commits: Arc<watch::Sender<u64>>,
    broadcasts: broadcast::Sender<String>,
) {
    let bump = || commits.send_modify(|n| *n = n.wrapping_add(1));
    loop {
        match listener.try_recv().await {
            Ok(Some(note)) if note.channel() == BROADCAST_CHANNEL => {
                let _ = broadcasts.send(note.payload().to_string());
            }
            Ok(Some(_)) => bump(),
            Ok(None) => {
                tracing::warn!("the PostgreSQL listener lost its connection; reconnecting");
                bump();
            }
            Err(e) => {
                tracing::warn!(error = %e, "the PostgreSQL listener failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                bump();
            }
        }
    }
}

struct PgConn<'a> {
    db: &'a mut PgConnection,
    /// Tickets whose search documents this transaction changed; rebuilt before the commit.
    touched: BTreeSet<i64>,
}

impl<'a> PgConn<'a> {
    fn new(db: &'a mut PgConnection) -> Self {
        Self {
            db,
            touched: BTreeSet::new(),
        }
    }
}

fn bind<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Postgres, PgArguments>,
    params: &[Value],
) -> sqlx::query::Query<'q, sqlx::Postgres, PgArguments> {
    for p in params {
        query = match p {
            Value::Int(v) => query.bind(*v),
            Value::Text(v) => query.bind(v.clone()),
            Value::Bool(v) => query.bind(*v),
            Value::Bytes(v) => query.bind(v.clone()),
        };
    }
    query
}

fn cells(row: &PgRow) -> Result<Row, DbError> {
    let mut out = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let value = match column.type_info().name() {
            "INT8" => Value::Int(row.try_get::<Option<i64>, _>(i).map_err(db_error)?),
            "INT4" => Value::Int(
                row.try_get::<Option<i32>, _>(i)
                    .map_err(db_error)?
                    .map(i64::from),
            ),
            "INT2" => Value::Int(
                row.try_get::<Option<i16>, _>(i)
                    .map_err(db_error)?
                    .map(i64::from),
            ),
            "BYTEA" => Value::Bytes(row.try_get::<Option<Vec<u8>>, _>(i).map_err(db_error)?),
            "BOOL" => Value::Bool(row.try_get::<Option<bool>, _>(i).map_err(db_error)?),
            "FLOAT4" | "FLOAT8" => Value::Text(
                row.try_get::<Option<f64>, _>(i)
                    .map_err(db_error)?
                    .map(|f| f.to_string()),
            ),
            _ => Value::Text(row.try_get::<Option<String>, _>(i).map_err(db_error)?),
        };
        out.push(value);
    }
    Ok(Row(out))
}

#[async_trait::async_trait]
impl Conn for PgConn<'_> {
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        count_round_trips(1);
        let query = bind(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())), params);
        Ok(query
            .execute(&mut *self.db)
            .await
            .map_err(db_error)?
            .rows_affected())
    }

    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        count_round_trips(1);
        let query = bind(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())), params);
        let rows = query.fetch_all(&mut *self.db).await.map_err(db_error)?;
        rows.iter().map(cells).collect()
    }

    /// A transaction-scoped advisory lock on the key's hash.
    async fn serialize_on(&mut self, key: &str) -> Result<()> {
        self.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            crate::params![key],
        )
        .await?;
        Ok(())
    }

    fn touch_search(&mut self, ticket_id: i64) {
        self.touched.insert(ticket_id);
    }

    async fn write_search_doc(&mut self, ticket_id: i64, doc: &SearchDoc) -> Result<()> {
        self.execute(
            "INSERT INTO ticket_search (ticket_id, doc) VALUES ($1, $2::tsvector) \
             ON CONFLICT (ticket_id) DO UPDATE SET doc = excluded.doc",
            crate::params![ticket_id, tsvector_literal(doc)],
        )
        .await?;
        Ok(())
    }

    /// The newest matches with `ts_rank` (sections weighted A subject 1.0, B people 0.6,
    /// C public 0.4, D notes 0.2). A common word walks the ticket ids backwards and stops at
    /// the window; a rare one comes from the GIN index — the planner picks by the word's
    /// statistics.
    async fn search_hits(
        &mut self,
        required: &[Matcher],
        excluded: &[Matcher],
        sections: &[Section],
        within: Option<&[i64]>,
        before: Option<i64>,
        window: i64,
    ) -> Result<Vec<(i64, f64)>> {
        let Some(mut query) = tsquery(required, " & ", sections) else {
            return Ok(Vec::new());
        };
        if let Some(unwanted) = tsquery(excluded, " | ", sections) {
            query = format!("({query}) & !({unwanted})");
        }
        // The query is a parameter the planner sees (a custom plan every time): a rare word
        // is then read from the GIN index, a common one by walking ticket ids backwards.
        // Behind a subquery, or in a generic plan, the planner guesses the same for every
        // word and a rare one walked the whole table.
        self.execute("SET LOCAL plan_cache_mode = force_custom_plan", &[])
            .await?;
        let mut q = SqlBuilder::new("SELECT s.ticket_id, ts_rank('{0.2, 0.4, 0.6, 1.0}', s.doc, ");
        q.bind(query.clone())
            .push("::tsquery)::float8 FROM ticket_search s WHERE s.doc @@ ")
            .bind(query)
            .push("::tsquery");
        crate::sql::push_hits_window(&mut q, "s.ticket_id", within, before, window);
        let (sql, params) = q.parts();
        self.query(sql, params)
            .await?
            .iter()
            .map(|r| Ok((r.int(0)?, r.text(1)?.parse::<f64>().unwrap_or(0.0))))
            .collect()
    }

    fn skip_locked(&self) -> &'static str {
        " FOR UPDATE SKIP LOCKED"
    }

    fn statements_are_round_trips(&self) -> bool {
        true
    }

    fn push_text_exclusion(&self, q: &mut SqlBuilder, excluded: &[Matcher], sections: &[Section]) {
        if let Some(unwanted) = tsquery(excluded, " | ", sections) {
            q.push(
                " AND NOT EXISTS (SELECT 1 FROM ticket_search s WHERE s.ticket_id = t.id AND s.doc @@ ",
            )
            .bind(unwanted)
            .push("::tsquery)");
        }
    }
}

/// The section's weight letter in the document.
fn weight_of(section: Section) -> char {
    match section {
        Section::Subject => 'A',
        Section::People => 'B',
        Section::Public => 'C',
        Section::Notes => 'D',
    }
}

/// A lexeme as tsquery and tsvector text: quoted, so nothing in it is syntax.
fn lexeme(word: &str) -> String {
    format!("'{}'", word.replace('\\', "\\\\").replace('\'', "''"))
}

/// PostgreSQL keeps positions up to this and at most this many per lexeme.
const MAX_POSITION: usize = 16_383;
const MAX_POSITIONS_PER_LEXEME: usize = 256;

/// The document as a tsvector literal: each word at its position with its section's
/// weight, its marked stems at the same position (so phrases still match word by word).
fn tsvector_literal(doc: &SearchDoc) -> String {
    let mut lexemes: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut position = 0usize;
    for section in Section::ALL {
        let weight = weight_of(section);
        for token in doc.section(section) {
            position = (position + 1).min(MAX_POSITION);
            for word in std::iter::once(&token.word).chain(&token.stems) {
                let positions = lexemes.entry(word.as_str()).or_default();
                if positions.len() < MAX_POSITIONS_PER_LEXEME {
                    positions.push(format!("{position}{weight}"));
                }
            }
        }
    }
    let mut out = String::new();
    for (word, positions) in lexemes {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&lexeme(word));
        out.push(':');
        out.push_str(&positions.join(","));
    }
    out
}

/// A tsquery literal (taken as written, unlike `to_tsquery`, which would re-parse `_stem`)
/// joining the matchers, each limited to `sections` by weight.
fn tsquery(matchers: &[Matcher], join: &str, sections: &[Section]) -> Option<String> {
    let weights: String = if sections.len() == Section::ALL.len() {
        String::new()
    } else {
        sections.iter().map(|s| weight_of(*s)).collect()
    };
    let term = |word: &str, prefix: bool| {
        let flags = format!("{}{weights}", if prefix { "*" } else { "" });
        if flags.is_empty() {
            lexeme(word)
        } else {
            format!("{}:{flags}", lexeme(word))
        }
    };
    let parts: Vec<String> = matchers
        .iter()
        .map(|m| match m {
            Matcher::Word(forms) => format!(
                "({})",
                forms
                    .iter()
                    .map(|f| term(f, false))
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
            Matcher::Prefix(p) => term(p, true),
            Matcher::Phrase {
                words,
                last_is_prefix,
            } => format!(
                "({})",
                words
                    .iter()
                    .enumerate()
                    .map(|(i, w)| term(w, *last_is_prefix && i + 1 == words.len()))
                    .collect::<Vec<_>>()
                    .join(" <-> ")
            ),
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(join))
}

#[cfg(test)]
mod tests {
    use super::{Matcher, SearchDoc, Section, tsquery, tsvector_literal};
    use rapport_core::search::SearchQuery;

    fn matchers(q: &str) -> Vec<Matcher> {
        SearchQuery::parse(q)
            .unwrap()
            .text
            .iter()
            .filter_map(|t| Matcher::of(&t.text))
            .collect()
    }

    #[test]
    fn search_terms_become_quoted_lexemes() {
        assert_eq!(
            tsquery(
                &matchers(r#"refunds order-17 rout* "credit card""#),
                " & ",
                &Section::ALL
            )
            .unwrap(),
            "('refunds' | '_refund' | 'refund') & ('order' <-> '17') & 'rout':* & ('credit' <-> 'card')"
        );
        assert_eq!(
            tsquery(
                &matchers("rout* it's"),
                " & ",
                &[Section::Subject, Section::Public]
            )
            .unwrap(),
            "'rout':*AC & ('it':AC <-> 's':AC)"
        );
        assert_eq!(tsquery(&[], " & ", &Section::ALL), None);
    }

    #[test]
    fn documents_put_stems_beside_their_words() {
        let mut doc = SearchDoc::default();
        doc.add(Section::Subject, "Refunds");
        doc.add(Section::Notes, "refunds o'brien");
        assert_eq!(
            tsvector_literal(&doc),
            "'_refund':1A,2D 'brien':4D 'o':3D 'refunds':1A,2D"
        );
    }
}
