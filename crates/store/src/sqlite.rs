//! SQLite backend: the default, embedded, and fast.
//!
//! Statements run as direct calls into the embedded SQLite library (rusqlite) on threads that
//! own their connections, so a statement costs microseconds, not a thread hand-off.
//!
//! One writer thread owns all writes. Requests queue their write as a job; the writer takes
//! every job waiting, runs each inside its own SAVEPOINT of one transaction, commits once (one
//! fsync for the batch, `synchronous=FULL`), and only then answers each request. A failed job
//! rolls back to its savepoint without touching the others; a failed commit fails them all.
//! Reads run on a small pool of read-only connections, so they never wait for the writer.

use crate::sql::{Conn, DbError, Row, SqlBuilder, Value};
use crate::{Result, StoreError};
use futures::future::BoxFuture;
use rapport_core::search_text::{Matcher, SearchDoc, Section};
use rusqlite::{OpenFlags, ToSql, types::ToSqlOutput, types::ValueRef};
use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::{Semaphore, oneshot};

/// Jobs taken into one transaction at most; bounds the latency one commit adds.
const MAX_BATCH: usize = 512;
const READERS: usize = 4;
/// Page cache per connection, in KiB: the writer's holds the indexes every write touches.
const WRITER_CACHE_KIB: u32 = 16_000;
const READER_CACHE_KIB: u32 = 8_000;

/// Runs a write inside the batch transaction; returns whether it succeeded and how to answer
/// its caller once the commit's outcome is known.
type WriteJob = Box<dyn for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, (bool, Reply)> + Send>;
type Reply = Box<dyn FnOnce(Result<()>) + Send>;

pub(crate) struct SqliteEngine {
    jobs: Mutex<Option<mpsc::Sender<WriteJob>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Arc<Readers>,
}

struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    permits: Semaphore,
}

fn db_error(e: rusqlite::Error) -> DbError {
    let unique_violation = matches!(
        &e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    );
    DbError {
        unique_violation,
        message: e.to_string(),
    }
}

fn store_error(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// The file path a `sqlite://path` (or `sqlite:path`) URL names.
pub(crate) fn path_of(url: &str) -> Result<PathBuf> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::Config(
            "the SQLite URL needs a file path (sqlite://path/to/rapport.db); in-memory databases cannot be shared".into(),
        ));
    }
    Ok(PathBuf::from(path))
}

fn open_connection(path: &Path, read_only: bool) -> Result<rusqlite::Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(|e| {
        StoreError::Config(format!(
            "cannot open the SQLite database {}: {e}",
            path.display()
        ))
    })?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(store_error)?;
    // WAL lets readers run beside the writer; FULL makes every acknowledged commit durable.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA temp_store = MEMORY;",
    )
    .map_err(store_error)?;
    // Page caches are private to each connection and count in the process's memory; the
    // operating system caches the file for all of them. A cache miss is a read from that
    // cache (microseconds), so small ones keep a million-ticket desk well under 200 MB.
    let cache_kib = if read_only {
        READER_CACHE_KIB
    } else {
        WRITER_CACHE_KIB
    };
    conn.execute_batch(&format!("PRAGMA cache_size = -{cache_kib};"))
        .map_err(store_error)?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

impl SqliteEngine {
    /// Opens (creating if needed) the database at a `sqlite://path` URL and migrates it.
    pub(crate) async fn open(url: &str) -> Result<Self> {
        let path = path_of(url)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Config(format!(
                    "cannot create the directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let writer_path = path.clone();
        let mut writer = tokio::task::spawn_blocking(move || -> Result<rusqlite::Connection> {
            let mut conn = open_connection(&writer_path, false)?;
            crate::migrations::migrate_sqlite(&mut conn)?;
            Ok(conn)
        })
        .await
        .map_err(|e| StoreError::Database(format!("opening SQLite failed: {e}")))??;
        let (tx, rx) = mpsc::channel::<WriteJob>();
        let handle = std::thread::Builder::new()
            .name("rapport-sqlite-writer".into())
            .spawn(move || run_writer(&mut writer, rx))
            .map_err(|e| StoreError::Database(format!("cannot start the SQLite writer: {e}")))?;
        Ok(Self {
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            readers: Arc::new(Readers {
                path,
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(READERS),
            }),
        })
    }

    /// Runs `op` in the shared write transaction and returns its result once it is durable.
    pub(crate) async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<Result<T>>();
        let job: WriteJob = Box::new(move |conn| {
            Box::pin(async move {
                let result = op(conn).await;
                let ok = result.is_ok();
                let reply: Reply = Box::new(move |commit: Result<()>| {
                    let _ = answer.send(commit.and(result));
                });
                (ok, reply)
            })
        });
        let sender = self
            .jobs
            .lock()
            .map_err(|_| closed())?
            .clone()
            .ok_or_else(closed)?;
        sender
            .send(job)
            .map_err(|_| StoreError::Database("the SQLite writer has stopped".into()))?;
        answered.await.map_err(|_| {
            StoreError::Database(
                "the write was abandoned (writer failure); nothing was committed".into(),
            )
        })?
    }

    /// Runs `op` on a read-only connection (a consistent snapshot for its duration).
    pub(crate) async fn read<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let _permit = self.readers.permits.acquire().await.map_err(|_| closed())?;
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let idle = readers.idle.lock().map_err(|_| closed())?.pop();
            let mut conn = match idle {
                Some(c) => c,
                None => open_connection(&readers.path, true)?,
            };
            let result = run_read(&mut conn, op);
            if let Ok(mut idle) = readers.idle.lock() {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Database(format!("a read failed: {e}")))?
    }

    pub(crate) async fn shutdown(&self) {
        let sender = self.jobs.lock().ok().and_then(|mut j| j.take());
        drop(sender);
        let handle = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        self.readers.permits.close();
        if let Ok(mut idle) = self.readers.idle.lock() {
            idle.clear();
        }
    }
}

fn closed() -> StoreError {
    StoreError::Database("the store is closed".into())
}

/// Reads see one snapshot: a deferred transaction around the whole operation.
fn run_read<T, F>(conn: &mut rusqlite::Connection, op: F) -> Result<T>
where
    F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T>>,
{
    conn.execute_batch("BEGIN").map_err(store_error)?;
    let result = futures::executor::block_on(op(&mut SqliteConn::new(conn)));
    let _ = conn.execute_batch("COMMIT");
    result
}

fn run_writer(conn: &mut rusqlite::Connection, jobs: mpsc::Receiver<WriteJob>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let replies = run_batch(conn, batch);
        let outcome = if replies.is_empty() {
            Ok(())
        } else {
            conn.execute_batch("COMMIT").map_err(|e| {
                tracing::error!(error = %e, "SQLite group commit failed; the batch is rolled back");
                let _ = conn.execute_batch("ROLLBACK");
                StoreError::Database(format!("commit failed: {e}"))
            })
        };
        for reply in replies {
            reply(outcome.clone());
        }
    }
}

/// Runs a parameterless statement through the statement cache (the per-job savepoint
/// statements run thousands of times a second).
fn run_cached(conn: &rusqlite::Connection, sql: &str) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute([])
}

/// Runs each job in its own savepoint of one `BEGIN IMMEDIATE` transaction. A job that panics
/// is rolled back and its caller told (its answer channel is dropped).
fn run_batch(conn: &mut rusqlite::Connection, batch: Vec<WriteJob>) -> Vec<Reply> {
    let mut replies = Vec::with_capacity(batch.len());
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "SQLite writer could not begin a transaction");
        return replies;
    }
    let mut touched = BTreeSet::new();
    for job in batch {
        if run_cached(conn, "SAVEPOINT job").is_err() {
            continue;
        }
        let mut job_conn = SqliteConn::new(conn);
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
            futures::executor::block_on(job(&mut job_conn))
        }));
        let job_touched = std::mem::take(&mut job_conn.touched);
        let keep = matches!(ran, Ok((true, _)));
        if keep {
            touched.extend(job_touched);
        }
        let undone = keep || run_cached(conn, "ROLLBACK TO job").is_ok();
        if undone {
            let _ = run_cached(conn, "RELEASE job");
        }
        if let Ok((_, reply)) = ran {
            replies.push(reply);
        }
    }
    let refreshed = futures::executor::block_on(crate::queries::refresh_search(
        &mut SqliteConn::new(conn),
        touched,
    ));
    if let Err(e) = refreshed {
        // The index must match the data: without it, the whole batch is refused.
        tracing::error!(error = %e, "updating the search index failed; the batch is rolled back");
        let _ = conn.execute_batch("ROLLBACK");
        let failure = StoreError::Database(format!("search index update failed: {e}"));
        for reply in replies {
            reply(Err(failure.clone()));
        }
        return Vec::new();
    }
    if replies.is_empty() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    replies
}

struct SqliteConn<'a> {
    db: &'a mut rusqlite::Connection,
    /// Tickets whose search documents the current job changed.
    touched: BTreeSet<i64>,
}

// FTS5 flushes its pending index data at every savepoint, and each write job runs in one, so
// indexing inside jobs would write a tiny index segment per job (and merge them endlessly).
// Instead a job notes the tickets it touched; the batch rebuilds their documents once, after
// the jobs and before the commit — still in the same transaction as the writes they index.

impl<'a> SqliteConn<'a> {
    fn new(db: &'a mut rusqlite::Connection) -> Self {
        Self {
            db,
            touched: BTreeSet::new(),
        }
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Int(Some(v)) => ToSqlOutput::from(*v),
            Value::Text(Some(v)) => ToSqlOutput::from(v.as_str()),
            Value::Bool(Some(v)) => ToSqlOutput::from(i64::from(*v)),
            Value::Bytes(Some(v)) => ToSqlOutput::from(v.as_slice()),
            Value::Int(None) | Value::Text(None) | Value::Bool(None) | Value::Bytes(None) => {
                ToSqlOutput::from(rusqlite::types::Null)
            }
        })
    }
}

/// A cached prepared statement. SQLite treats `$1` as a named parameter and numbers named
/// parameters by first appearance; the shared SQL always introduces `$n` in ascending order, so
/// binding by position is binding by number. Debug builds (and so every test) check that.
fn prepare<'c>(
    db: &'c rusqlite::Connection,
    sql: &str,
) -> Result<rusqlite::CachedStatement<'c>, DbError> {
    let stmt = db.prepare_cached(sql).map_err(db_error)?;
    debug_assert!(
        (1..=stmt.parameter_count())
            .all(|i| stmt.parameter_name(i) == Some(format!("${i}").as_str())),
        "placeholders must first appear as $1, $2, … in order: {sql}"
    );
    Ok(stmt)
}

fn cell(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Int(None),
        ValueRef::Integer(i) => Value::Int(Some(i)),
        ValueRef::Real(f) => Value::Text(Some(f.to_string())),
        ValueRef::Text(t) => Value::Text(Some(String::from_utf8_lossy(t).into_owned())),
        ValueRef::Blob(b) => Value::Bytes(Some(b.to_vec())),
    }
}

impl SqliteConn<'_> {
    fn run_query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let mut stmt = prepare(self.db, sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(db_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db_error)? {
            let mut cells = Vec::with_capacity(columns);
            for i in 0..columns {
                cells.push(cell(row.get_ref(i).map_err(db_error)?));
            }
            out.push(Row(cells));
        }
        Ok(out)
    }
}

/// `"word"` for FTS5: everything inside is text. Tokens hold letters, digits and the stem
/// mark only, but a quote is doubled all the same.
fn fts_string(word: &str) -> String {
    format!("\"{}\"", word.replace('"', "\"\""))
}

fn fts_matcher(m: &Matcher) -> String {
    match m {
        Matcher::Word(forms) => {
            let forms: Vec<String> = forms.iter().map(|f| fts_string(f)).collect();
            format!("({})", forms.join(" OR "))
        }
        Matcher::Prefix(p) => format!("{}*", fts_string(p)),
        Matcher::Phrase {
            words,
            last_is_prefix,
        } => format!(
            "{}{}",
            fts_string(&words.join(" ")),
            if *last_is_prefix { "*" } else { "" }
        ),
    }
}

fn column_of(section: Section) -> &'static str {
    match section {
        Section::Subject => "subject",
        Section::People => "people",
        Section::Public => "public",
        Section::Notes => "notes",
    }
}

/// An FTS5 expression: all of `required` (or, with `any`, one of them) within `sections`.
fn fts_expression(matchers: &[Matcher], any: bool, sections: &[Section]) -> Option<String> {
    let parts: Vec<String> = matchers.iter().map(fts_matcher).collect();
    if parts.is_empty() {
        return None;
    }
    let joined = parts.join(if any { " OR " } else { " AND " });
    Some(if sections.len() == Section::ALL.len() {
        joined
    } else {
        let columns: Vec<&str> = sections.iter().map(|s| column_of(*s)).collect();
        format!("{{{}}} : ({joined})", columns.join(" "))
    })
}

#[async_trait::async_trait]
impl Conn for SqliteConn<'_> {
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let mut stmt = prepare(self.db, sql)?;
        let changed = stmt
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(db_error)?;
        Ok(changed as u64)
    }

    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        self.run_query(sql, params)
    }

    /// Writes are already serialised by the single writer: nothing to wait for.
    async fn serialize_on(&mut self, _key: &str) -> Result<()> {
        Ok(())
    }

    fn touch_search(&mut self, ticket_id: i64) {
        self.touched.insert(ticket_id);
    }

    async fn write_search_doc(&mut self, ticket_id: i64, doc: &SearchDoc) -> Result<()> {
        let line = |s| doc.section_line(s);
        self.db
            .prepare_cached(
                "INSERT OR REPLACE INTO ticket_search (rowid, subject, people, public, notes) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut insert| {
                insert.execute(rusqlite::params![
                    ticket_id,
                    line(Section::Subject),
                    line(Section::People),
                    line(Section::Public),
                    line(Section::Notes)
                ])
            })
            .map_err(store_error)?;
        Ok(())
    }

    /// The newest matches, scored by where the words are: 1, plus 4 when the subject holds
    /// them all, plus 2 when the customer's name, addresses or organisation do. (FTS5's BM25
    /// reads every match of each word once per query to weigh rare words, ~10–20 ms for a
    /// common word at a million tickets; these are two more lookups within the window's ids,
    /// well under a millisecond.)
    async fn search_hits(
        &mut self,
        required: &[Matcher],
        excluded: &[Matcher],
        sections: &[Section],
        within: Option<&[i64]>,
        before: Option<i64>,
        window: i64,
    ) -> Result<Vec<(i64, f64)>> {
        let Some(mut expression) = fts_expression(required, false, sections) else {
            return Ok(Vec::new());
        };
        if let Some(unwanted) = fts_expression(excluded, true, sections) {
            expression = format!("({expression}) NOT ({unwanted})");
        }
        let mut q = SqlBuilder::new("SELECT rowid FROM ticket_search WHERE ticket_search MATCH ");
        q.bind(expression);
        crate::sql::push_hits_window(&mut q, "rowid", within, before, window);
        let (sql, params) = q.parts();
        let mut hits: Vec<(i64, f64)> = self
            .run_query(sql, params)?
            .iter()
            .map(|r| Ok((r.int(0)?, 1.0)))
            .collect::<Result<_>>()?;
        let (Some(newest), Some(oldest)) = (hits.first(), hits.last()) else {
            return Ok(hits);
        };
        let (newest, oldest) = (newest.0, oldest.0);
        for (section, weight) in [(Section::Subject, 4.0), (Section::People, 2.0)] {
            if !sections.contains(&section) {
                continue;
            }
            let Some(there) = fts_expression(required, false, &[section]) else {
                continue;
            };
            let mut q =
                SqlBuilder::new("SELECT rowid FROM ticket_search WHERE ticket_search MATCH ");
            q.bind(there)
                .push(" AND rowid >= ")
                .bind(oldest)
                .push(" AND rowid <= ")
                .bind(newest);
            let (sql, params) = q.parts();
            let matched: BTreeSet<i64> = self
                .run_query(sql, params)?
                .iter()
                .map(|r| r.int(0))
                .collect::<Result<_>>()?;
            for (id, score) in &mut hits {
                if matched.contains(id) {
                    *score += weight;
                }
            }
        }
        Ok(hits)
    }

    fn skip_locked(&self) -> &'static str {
        ""
    }

    fn statements_are_round_trips(&self) -> bool {
        false
    }

    fn push_text_exclusion(&self, q: &mut SqlBuilder, excluded: &[Matcher], sections: &[Section]) {
        if let Some(unwanted) = fts_expression(excluded, true, sections) {
            q.push(" AND t.id NOT IN (SELECT rowid FROM ticket_search WHERE ticket_search MATCH ")
                .bind(unwanted)
                .push(")");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Matcher, SearchDoc, Section, SqliteEngine, fts_expression, prepare};
    use crate::StoreError;
    use rapport_core::search::SearchQuery;

    fn matchers(q: &str) -> Vec<Matcher> {
        SearchQuery::parse(q)
            .unwrap()
            .text
            .iter()
            .filter_map(|t| Matcher::of(&t.text))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_job_leaves_neither_rows_nor_index_entries() {
        let dir = std::env::temp_dir().join(format!("rapport-sqlite-unit-{}", std::process::id()));
        let engine = SqliteEngine::open(&format!("sqlite://{}", dir.join("t.db").display()))
            .await
            .unwrap();
        let engine = std::sync::Arc::new(engine);
        let mut tasks = Vec::new();
        for i in 0..40i64 {
            let engine = engine.clone();
            tasks.push(tokio::spawn(async move {
                engine
                    .write(move |c| {
                        Box::pin(async move {
                            c.execute(
                                "INSERT INTO settings (key, value) VALUES ($1, 'x')",
                                crate::params![format!("k{i}")],
                            )
                            .await?;
                            let mut doc = SearchDoc::default();
                            doc.add(
                                Section::Subject,
                                &format!(
                                    "word{} marker{i}",
                                    if i % 2 == 0 { "kept" } else { "ghost" }
                                ),
                            );
                            c.write_search_doc(i + 1, &doc).await?;
                            if i % 2 == 1 {
                                return Err(StoreError::Conflict("refused after writing".into()));
                            }
                            Ok(())
                        })
                    })
                    .await
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap().is_ok(), i % 2 == 0);
        }
        let all = Section::ALL;
        let (rows, kept, ghosts) = engine
            .read(move |c| {
                Box::pin(async move {
                    let rows = c
                        .query(
                            "SELECT key FROM settings WHERE key LIKE 'k%'",
                            crate::params![],
                        )
                        .await?
                        .len();
                    let kept = c
                        .search_hits(&matchers("wordkept"), &[], &all, None, None, 100)
                        .await?
                        .len();
                    let ghosts = c
                        .search_hits(&matchers("wordghost"), &[], &all, None, None, 100)
                        .await?
                        .len();
                    Ok((rows, kept, ghosts))
                })
            })
            .await
            .unwrap();
        assert_eq!((rows, kept, ghosts), (20, 20, 0));
        engine.shutdown().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn search_terms_never_become_fts_syntax() {
        assert_eq!(
            fts_expression(
                &matchers(r#"refunds order-17 rout* "credit card""#),
                false,
                &Section::ALL
            )
            .unwrap(),
            r#"("refunds" OR "_refund" OR "refund") AND "order 17" AND "rout"* AND "credit card""#
        );
        assert_eq!(
            fts_expression(&matchers("NOT OR AND"), false, &Section::ALL).unwrap(),
            r#"("not" OR "_not") AND ("or") AND ("and" OR "_and")"#
        );
        assert_eq!(
            fts_expression(
                &matchers("invoice"),
                true,
                &[Section::Subject, Section::Public]
            )
            .unwrap(),
            r#"{subject public} : (("invoice" OR "_invoic" OR "invoic"))"#
        );
        assert_eq!(fts_expression(&[], false, &Section::ALL), None);
    }

    #[test]
    fn placeholders_in_order_bind_by_number() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        let stmt = prepare(&db, "SELECT $1, $2, $1").unwrap();
        assert_eq!(stmt.parameter_count(), 2);
    }

    #[test]
    #[should_panic(expected = "in order")]
    fn placeholders_out_of_order_are_caught() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        let _ = prepare(&db, "SELECT $2, $1");
    }
}
