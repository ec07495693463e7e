//! Fresh databases for tests: a temporary SQLite file, or a uniquely named PostgreSQL
//! database on the server at `RAPPORT_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//! dropped afterwards. When `CI=true`, an unreachable PostgreSQL fails the test instead of
//! skipping it.

use crate::Store;
use crate::scratch::{create_postgres_database, drop_postgres_database, unique_name};
use std::path::PathBuf;
use std::sync::Arc;

pub struct TestDb {
    pub store: Arc<dyn Store>,
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Postgres { admin_url: String, url: String },
}

pub fn postgres_admin_url() -> String {
    std::env::var("RAPPORT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl TestDb {
    /// A temporary directory for files a test makes; removed by `finish`.
    pub fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(unique_name("rapport-test"));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        dir
    }

    pub async fn sqlite() -> Self {
        let dir = Self::temp_dir();
        let url = format!("sqlite://{}", dir.join("rapport.db").display());
        let store = crate::open(&url).await.expect("open SQLite test database");
        Self {
            store,
            url,
            cleanup: Cleanup::Dir(dir),
        }
    }

    /// A fresh PostgreSQL database, or `None` (with a note on stderr) when the server cannot
    /// be reached outside CI.
    pub async fn postgres() -> Option<Self> {
        let admin_url = postgres_admin_url();
        let url = match create_postgres_database(&admin_url, "rapport_test").await {
            Ok(url) => url,
            Err(e) if !required() => {
                eprintln!("skipping PostgreSQL test: {e}");
                return None;
            }
            Err(e) => panic!("CI=true requires PostgreSQL: {e}"),
        };
        let store = crate::open(&url)
            .await
            .expect("open PostgreSQL test database");
        Some(Self {
            store,
            url: url.clone(),
            cleanup: Cleanup::Postgres { admin_url, url },
        })
    }

    /// Closes the store and removes the database.
    pub async fn finish(self) {
        self.store.close().await;
        match self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, url } => {
                let _ = drop_postgres_database(&admin_url, &url).await;
            }
        }
    }
}

/// Runs a test body on a fresh database and removes the database afterwards, also when the
/// body fails (the failure is then passed on).
pub async fn run_on<F, Fut>(db: TestDb, body: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures::FutureExt;
    let outcome = std::panic::AssertUnwindSafe(body(db.store.clone()))
        .catch_unwind()
        .await;
    db.finish().await;
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure);
    }
}

/// Generates, for each named async test function taking `Arc<dyn Store>`, a module with a
/// `sqlite` and a `postgres` test that run it on a fresh database.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::testing::TestDb::sqlite().await;
                $crate::testing::run_on(db, super::$name).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::testing::TestDb::postgres().await {
                    $crate::testing::run_on(db, super::$name).await;
                }
            }
        }
    )*};
}
