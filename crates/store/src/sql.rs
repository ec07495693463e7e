//! The small SQL interface the shared query code is written against, so each query is written
//! once for both databases. Backends implement [`Conn`]: SQLite with direct calls into the
//! embedded library (rusqlite), PostgreSQL with sqlx. Values are typed even when null, because
//! PostgreSQL needs to know a parameter's type.

use crate::{Result, StoreError};
use rapport_core::search_text::{Matcher, SearchDoc, Section};

/// A parameter or a column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(Option<bool>),
    /// Raw bytes (a received email, an attachment): BLOB / BYTEA.
    Bytes(Option<Vec<u8>>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Bool(Some(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(Some(v.to_string()))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(Some(v))
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Self::Text(Some(v.clone()))
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Self::Text(v)
    }
}

impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Self {
        Self::Text(v.clone())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Self::Bytes(Some(v))
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Self::Bytes(Some(v.to_vec()))
    }
}

/// Builds a parameter list: `params![id, &name, None::<i64>]`.
#[macro_export]
#[doc(hidden)]
macro_rules! params {
    ($($value:expr),* $(,)?) => { &[$($crate::sql::Value::from($value)),*][..] };
}
pub use params;

/// One result row, read by column position.
#[derive(Debug, Clone)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn cell(&self, i: usize) -> Result<&Value> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::corrupt(format!("missing column {i}")))
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.cell(i)? {
            Value::Int(v) => Ok(*v),
            Value::Bool(v) => Ok(v.map(i64::from)),
            Value::Text(None) | Value::Bytes(None) => Ok(None),
            other => Err(StoreError::corrupt(format!(
                "column {i} is not an integer: {other:?}"
            ))),
        }
    }

    pub fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?
            .ok_or_else(|| StoreError::corrupt(format!("column {i} is null")))
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.cell(i)? {
            Value::Text(v) => Ok(v.clone()),
            Value::Int(None) | Value::Bool(None) | Value::Bytes(None) => Ok(None),
            other => Err(StoreError::corrupt(format!(
                "column {i} is not text: {other:?}"
            ))),
        }
    }

    pub fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>> {
        match self.cell(i)? {
            Value::Bytes(v) => Ok(v.clone()),
            // SQLite hands back what was stored; text read as bytes is still those bytes.
            Value::Text(v) => Ok(v.as_ref().map(|t| t.as_bytes().to_vec())),
            Value::Int(None) | Value::Bool(None) => Ok(None),
            other => Err(StoreError::corrupt(format!(
                "column {i} is not bytes: {other:?}"
            ))),
        }
    }

    pub fn bytes(&self, i: usize) -> Result<Vec<u8>> {
        self.opt_bytes(i)?
            .ok_or_else(|| StoreError::corrupt(format!("column {i} is null")))
    }

    pub fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::corrupt(format!("column {i} is null")))
    }

    /// SQLite stores booleans as 0/1 integers; PostgreSQL as booleans.
    pub fn bool(&self, i: usize) -> Result<bool> {
        match self.cell(i)? {
            Value::Bool(Some(b)) => Ok(*b),
            Value::Int(Some(n)) => Ok(*n != 0),
            other => Err(StoreError::corrupt(format!(
                "column {i} is not a boolean: {other:?}"
            ))),
        }
    }
}

/// A database error, with unique-constraint violations told apart so callers can say what
/// already exists.
#[derive(Debug, Clone)]
pub struct DbError {
    pub unique_violation: bool,
    pub message: String,
}

impl DbError {
    /// A conflict naming what exists for a unique violation, else a database error.
    pub fn conflict_or(self, what_exists: impl FnOnce() -> String) -> StoreError {
        if self.unique_violation {
            StoreError::Conflict(what_exists())
        } else {
            StoreError::Database(self.message)
        }
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        StoreError::Database(e.message)
    }
}

/// A connection (inside a transaction for writes). The SQL uses `$1`-style placeholders,
/// `RETURNING` and `ON CONFLICT`, which both databases understand; what differs between them is
/// behind the last four methods.
#[async_trait::async_trait]
pub trait Conn: Send {
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError>;
    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError>;

    /// Makes concurrent transactions on the same natural key (an email address, an
    /// idempotency key) take turns until commit, so the second finds what the first created.
    async fn serialize_on(&mut self, key: &str) -> Result<()>;
    /// Notes that a ticket's searchable text changed (subject, messages, attachments, its
    /// customer or organisation). Its search document is rebuilt once, before the commit, in
    /// the same transaction.
    fn touch_search(&mut self, ticket_id: i64);
    /// Replaces a ticket's search document.
    async fn write_search_doc(&mut self, ticket_id: i64, doc: &SearchDoc) -> Result<()>;
    /// Of the tickets whose document, within `sections`, matches every `required` matcher and
    /// none of the `excluded` — only those `within` when given, only ids below `before` when
    /// given — the `window` most recent (highest ids) with a relevance score (higher is
    /// better).
    async fn search_hits(
        &mut self,
        required: &[Matcher],
        excluded: &[Matcher],
        sections: &[Section],
        within: Option<&[i64]>,
        before: Option<i64>,
        window: i64,
    ) -> Result<Vec<(i64, f64)>>;
    /// Appends to a query over `tickets t` a condition leaving out tickets whose document,
    /// within `sections`, matches any of `excluded`.
    fn push_text_exclusion(&self, q: &mut SqlBuilder, excluded: &[Matcher], sections: &[Section]);
    /// What to append to a `SELECT … LIMIT n` that picks rows to claim, so that concurrent
    /// claimers on other nodes skip rows already being claimed (PostgreSQL). SQLite has one
    /// writer, so its claims never overlap.
    fn skip_locked(&self) -> &'static str;
    /// Whether a statement costs a network round trip (PostgreSQL), so many small statements
    /// are worth folding into one; SQLite's cost about a microsecond each.
    fn statements_are_round_trips(&self) -> bool;
}

/// Conveniences over [`Conn`], for every backend.
impl dyn Conn + '_ {
    pub async fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    pub async fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Row> {
        self.query_opt(sql, params)
            .await?
            .ok_or_else(|| StoreError::Database(format!("no row from: {sql}")))
    }

    /// The first column of the first row, when it is an integer.
    pub async fn int_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<i64>> {
        match self.query_opt(sql, params).await? {
            Some(row) => row.opt_int(0),
            None => Ok(None),
        }
    }
}

/// SQL with `$n` placeholders built piece by piece, for queries whose filters vary.
pub struct SqlBuilder {
    sql: String,
    params: Vec<Value>,
}

impl SqlBuilder {
    pub fn new(sql: &str) -> Self {
        Self {
            sql: sql.to_string(),
            params: Vec::new(),
        }
    }

    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.params.push(value.into());
        self.sql.push_str(&format!("${}", self.params.len()));
        self
    }

    /// Appends `$a, $b, …` for each value.
    pub fn bind_list<V: Into<Value>>(&mut self, values: impl IntoIterator<Item = V>) -> &mut Self {
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.bind(v);
        }
        self
    }

    pub fn parts(&self) -> (&str, &[Value]) {
        (&self.sql, &self.params)
    }
}

/// The end of a search-hits query over an index keyed by ticket id (`id`): only the tickets
/// `within`, only ids below `before`, the newest `window` first.
pub(crate) fn push_hits_window(
    q: &mut SqlBuilder,
    id: &str,
    within: Option<&[i64]>,
    before: Option<i64>,
    window: i64,
) {
    if let Some(ids) = within {
        q.push(" AND ")
            .push(id)
            .push(" IN (")
            .bind_list(ids.iter().copied())
            .push(")");
    }
    if let Some(before) = before {
        q.push(" AND ").push(id).push(" < ").bind(before);
    }
    q.push(" ORDER BY ")
        .push(id)
        .push(" DESC LIMIT ")
        .bind(window);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_numbers_placeholders_in_order() {
        let mut b = SqlBuilder::new("SELECT * FROM t WHERE a = ");
        b.bind(1i64)
            .push(" AND b IN (")
            .bind_list(["x", "y"])
            .push(")");
        let (sql, params) = b.parts();
        assert_eq!(sql, "SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)");
        assert_eq!(params.len(), 3);
    }

    #[test]
    fn rows_read_typed_cells() {
        let row = Row(vec![
            Value::Int(Some(7)),
            Value::Text(None),
            Value::Int(Some(1)),
            Value::Bool(Some(false)),
        ]);
        assert_eq!(row.int(0).unwrap(), 7);
        assert_eq!(row.opt_text(1).unwrap(), None);
        assert!(row.bool(2).unwrap());
        assert!(!row.bool(3).unwrap());
        assert!(row.text(0).is_err());
        assert!(row.int(9).is_err());
    }
}
