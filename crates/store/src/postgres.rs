//! PostgreSQL backend: for several Rapport nodes on one database. A pool of connections; each
//! write is its own transaction (PostgreSQL groups concurrent commits itself). Migrations take
//! sqlx's advisory lock, so nodes starting together migrate once.

use crate::sql::{Conn, DbError, Row, SqlBuilder, Value};
use crate::{Result, StoreError};
use futures::future::BoxFuture;
use rapport_core::search::{Text, TextTerm};
use sqlx::postgres::{PgArguments, PgPool, PgPoolOptions, PgRow};
use sqlx::{Column, PgConnection, Row as _, TypeInfo};
use std::time::Duration;

pub(crate) struct PgEngine {
    pool: PgPool,
}

fn db_error(e: sqlx::Error) -> DbError {
    let unique_violation = matches!(&e, sqlx::Error::Database(db) if db.is_unique_violation());
    DbError {
        unique_violation,
        message: e.to_string(),
    }
}

impl PgEngine {
    pub(crate) async fn open(url: &str) -> Result<Self> {
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
        Ok(Self { pool })
    }

    pub(crate) async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| StoreError::from(db_error(e)))?;
        let result = op(&mut PgConn { db: &mut tx }).await;
        match result {
            Ok(value) => {
                tx.commit()
                    .await
                    .map_err(|e| StoreError::from(db_error(e)))?;
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
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(|e| StoreError::from(db_error(e)))?;
        let result = op(&mut PgConn { db: &mut tx }).await;
        tx.commit()
            .await
            .map_err(|e| StoreError::from(db_error(e)))?;
        result
    }

    pub(crate) async fn shutdown(&self) {
        self.pool.close().await;
    }
}

struct PgConn<'a> {
    db: &'a mut PgConnection,
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
        let query = bind(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())), params);
        Ok(query
            .execute(&mut *self.db)
            .await
            .map_err(db_error)?
            .rows_affected())
    }

    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
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

    /// Subjects and messages are indexed by generated `tsvector` columns: nothing to write.
    async fn index_text(&mut self, _: i64, _: &str, _: &str) -> Result<()> {
        Ok(())
    }

    async fn reindex_subject(&mut self, _: i64, _: &str) -> Result<()> {
        Ok(())
    }

    /// The index is a column of `messages`: moving the rows moved it.
    async fn move_indexed_messages(&mut self, _: i64, _: i64) -> Result<()> {
        Ok(())
    }

    /// One row per ticket, subject matches weighing double.
    async fn search_hits(
        &mut self,
        required: &[TextTerm],
        excluded: &[TextTerm],
        limit: i64,
    ) -> Result<Vec<(i64, String)>> {
        let Some(matching) = tsquery(required, " & ") else {
            return Ok(Vec::new());
        };
        let mut q = SqlBuilder::new("WITH q AS (SELECT to_tsquery('simple', ");
        q.bind(matching).push(
            ") AS q), \
             hits AS ( \
               SELECT t.id AS ticket_id, t.subject AS text, ts_rank(t.search, q.q) * 2 AS score FROM tickets t, q WHERE t.search @@ q.q \
               UNION ALL \
               SELECT m.ticket_id, m.body, ts_rank(m.search, q.q) FROM messages m, q WHERE m.search @@ q.q), \
             best AS (SELECT DISTINCT ON (ticket_id) ticket_id, text, score FROM hits ORDER BY ticket_id, score DESC) \
             SELECT t.id, ts_headline('simple', best.text, q.q, 'StartSel=[, StopSel=], MaxWords=24, MinWords=8') \
             FROM best JOIN tickets t ON t.id = best.ticket_id, q WHERE 1 = 1",
        );
        self.push_text_exclusion(&mut q, excluded);
        q.push(" ORDER BY best.score DESC, t.id DESC LIMIT ")
            .bind(limit);
        let (sql, params) = q.parts();
        let rows = self.query(sql, params).await?;
        rows.iter().map(|r| Ok((r.int(0)?, r.text(1)?))).collect()
    }

    fn skip_locked(&self) -> &'static str {
        " FOR UPDATE SKIP LOCKED"
    }

    fn statements_are_round_trips(&self) -> bool {
        true
    }

    fn push_text_exclusion(&self, q: &mut SqlBuilder, excluded: &[TextTerm]) {
        if let Some(unwanted) = tsquery(excluded, " | ") {
            q.push(" AND NOT (t.search @@ to_tsquery('simple', ")
                .bind(unwanted.clone())
                .push("))");
            q.push(" AND NOT EXISTS (SELECT 1 FROM messages me WHERE me.ticket_id = t.id AND me.search @@ to_tsquery('simple', ");
            q.bind(unwanted).push("))");
        }
    }
}

/// A `to_tsquery` expression for search terms. Words are letters and digits only (the query
/// parser splits on everything else), and each is quoted as a lexeme, so nothing a user types
/// becomes tsquery syntax.
fn tsquery(terms: &[TextTerm], join: &str) -> Option<String> {
    let lexeme = |w: &str| format!("'{}'", w.replace('\'', "''"));
    let parts: Vec<String> = terms
        .iter()
        .map(|t| match &t.text {
            Text::Word(w) => lexeme(w),
            Text::Prefix(w) => format!("{}:*", lexeme(w)),
            Text::Phrase(ws) => format!(
                "({})",
                ws.iter()
                    .map(|w| lexeme(w))
                    .collect::<Vec<_>>()
                    .join(" <-> ")
            ),
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(join))
}

#[cfg(test)]
mod tests {
    use super::tsquery;
    use rapport_core::search::SearchQuery;

    #[test]
    fn search_terms_become_quoted_lexemes() {
        let terms = SearchQuery::parse(r#"refund order-17 rout* "credit card""#)
            .unwrap()
            .text;
        assert_eq!(
            tsquery(&terms, " & ").unwrap(),
            "'refund' & ('order' <-> '17') & 'rout':* & ('credit' <-> 'card')"
        );
        assert_eq!(tsquery(&[], " & "), None);
    }
}
