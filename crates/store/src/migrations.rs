//! SQLite schema migrations: numbered SQL files embedded in the binary, each applied once in its
//! own transaction and recorded with a checksum, so an edited migration is caught instead of
//! silently diverging. (PostgreSQL uses sqlx's migrator with the same rule.)

use crate::{Result, StoreError};
use sha2::{Digest, Sha256};

/// Append-only: add new files at the end; never edit one that has shipped.
const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../migrations/sqlite/0001_foundation.sql"),
    ),
    (
        2,
        "email",
        include_str!("../migrations/sqlite/0002_email.sql"),
    ),
    (3, "web", include_str!("../migrations/sqlite/0003_web.sql")),
    (4, "sla", include_str!("../migrations/sqlite/0004_sla.sql")),
    (
        5,
        "routing",
        include_str!("../migrations/sqlite/0005_routing.sql"),
    ),
    (
        6,
        "search",
        include_str!("../migrations/sqlite/0006_search.sql"),
    ),
    (
        7,
        "cluster",
        include_str!("../migrations/sqlite/0007_cluster.sql"),
    ),
    (
        8,
        "chat",
        include_str!("../migrations/sqlite/0008_chat.sql"),
    ),
    (
        9,
        "phone",
        include_str!("../migrations/sqlite/0009_phone.sql"),
    ),
];

fn checksum(sql: &str) -> String {
    Sha256::digest(sql.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn failed(e: rusqlite::Error) -> StoreError {
    StoreError::Database(format!("migration failed: {e}"))
}

pub(crate) fn migrate_sqlite(conn: &mut rusqlite::Connection) -> Result<()> {
    apply(conn, SQLITE)
}

fn apply(conn: &mut rusqlite::Connection, migrations: &[(i64, &str, &str)]) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _rapport_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, \
         checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )
    .map_err(failed)?;
    for (version, description, sql) in migrations {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(failed)?;
        let applied: Option<String> = tx
            .query_row(
                "SELECT checksum FROM _rapport_migrations WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .map(Some)
            .or_else(|e| {
                if e == rusqlite::Error::QueryReturnedNoRows {
                    Ok(None)
                } else {
                    Err(e)
                }
            })
            .map_err(failed)?;
        match applied {
            Some(sum) if sum == checksum(sql) => continue,
            Some(_) => {
                return Err(StoreError::Database(format!(
                    "migration {version} ({description}) differs from the one applied to this database; \
                     migrations must never be edited once released"
                )));
            }
            None => {
                tx.execute_batch(sql).map_err(failed)?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0);
                tx.execute(
                    "INSERT INTO _rapport_migrations (version, description, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![version, description, checksum(sql), now],
                )
                .map_err(failed)?;
                tx.commit().map_err(failed)?;
            }
        }
    }
    Ok(())
}

/// Brings a database at `url` to schema `version` only, then runs `seed` (statements written
/// for that version): a database as an earlier release left it, for upgrade tests.
#[cfg(feature = "testing")]
pub async fn database_at_version(url: &str, version: i64, seed: &str) -> Result<()> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let mut conn = rusqlite::Connection::open(path).map_err(failed)?;
        let upto: Vec<_> = SQLITE.iter().copied().filter(|m| m.0 <= version).collect();
        apply(&mut conn, &upto)?;
        conn.execute_batch(seed).map_err(failed)?;
        return Ok(());
    }
    use sqlx::Connection;
    let database = |e: sqlx::Error| StoreError::Database(e.to_string());
    let mut conn = sqlx::PgConnection::connect(url).await.map_err(database)?;
    sqlx::migrate!("./migrations/postgres")
        .run_to(version, &mut conn)
        .await
        .map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(seed.to_string()))
        .execute(&mut conn)
        .await
        .map_err(database)?;
    conn.close().await.map_err(database)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_once_and_refuses_edited_migrations() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        let v1 = [(1, "one", "CREATE TABLE a (x INTEGER);")];
        apply(&mut conn, &v1).unwrap();
        apply(&mut conn, &v1).unwrap();
        // The next release adds a migration: only it runs.
        let v2 = [
            (1, "one", "CREATE TABLE a (x INTEGER);"),
            (2, "two", "CREATE TABLE b (y INTEGER);"),
        ];
        apply(&mut conn, &v2).unwrap();
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('a', 'b')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 2);
        let edited = [(1, "one", "CREATE TABLE a (x TEXT);")];
        let err = apply(&mut conn, &edited).unwrap_err();
        assert!(err.to_string().contains("never be edited"), "{err}");
    }

    #[test]
    fn a_failing_migration_leaves_nothing_half_done() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        let broken = [(
            1,
            "broken",
            "CREATE TABLE a (x INTEGER); CREATE TABLE oops (;",
        )];
        assert!(apply(&mut conn, &broken).is_err());
        let a: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'a'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(a, 0);
    }
}
