//! Throwaway PostgreSQL databases, for the test suites and `rapport bench`: a uniquely named
//! database created on a server the caller may create databases on, and dropped afterwards.

use crate::{Result, StoreError};
use sqlx::Connection;
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name no other process or call uses: prefix, process id, a counter and the clock.
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

async fn admin(admin_url: &str) -> Result<sqlx::PgConnection> {
    sqlx::PgConnection::connect(admin_url).await.map_err(|e| {
        StoreError::Config(format!(
            "cannot reach PostgreSQL at {}: {e}",
            crate::redact_url(admin_url)
        ))
    })
}

/// Creates a fresh database next to the one `admin_url` names and returns its URL.
pub async fn create_postgres_database(admin_url: &str, prefix: &str) -> Result<String> {
    let (base, _) = admin_url
        .rsplit_once('/')
        .ok_or_else(|| StoreError::Config("the PostgreSQL URL must end with /DATABASE".into()))?;
    let name = unique_name(prefix);
    let mut conn = admin(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .map_err(|e| StoreError::Database(format!("cannot create database {name}: {e}")))?;
    let _ = conn.close().await;
    Ok(format!("{base}/{name}"))
}

/// Drops a database made by [`create_postgres_database`], disconnecting anyone still on it.
pub async fn drop_postgres_database(admin_url: &str, url: &str) -> Result<()> {
    let name = url.rsplit('/').next().unwrap_or_default();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::Config(format!(
            "'{name}' is not a database this code created"
        )));
    }
    let mut conn = admin(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .map_err(|e| StoreError::Database(format!("cannot drop database {name}: {e}")))?;
    Ok(())
}
