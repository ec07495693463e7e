//! `rapport bench …`: throughput and latency with a baseline measured in the same run.

use anyhow::Context;
use clap::Subcommand;
use rapport_core::{Actor, Millis, Role};
use rapport_store::{Ctx, NewAgent};
use rapport_web::auth;
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Create tickets through the HTTP API from concurrent clients on a temporary SQLite
    /// database; compare with raw single-row SQLite inserts at the same durability.
    Create {
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Create {
            concurrency,
            seconds,
        } => create(concurrency.max(1), Duration::from_secs(seconds.max(1))).await,
    }
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> anyhow::Result<TempDir> {
    let dir = std::env::temp_dir().join(format!("rapport-bench-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(TempDir(dir))
}

async fn create(concurrency: usize, duration: Duration) -> anyhow::Result<()> {
    let dir = temp_dir("create")?;
    let url = format!("sqlite://{}", dir.0.join("rapport.db").display());
    let store = rapport_store::open(&url).await?;
    let ctx = Ctx {
        actor: Actor::SYSTEM,
        at: rapport_web::now(),
    };
    let agent = store
        .create_agent(
            ctx,
            NewAgent {
                email: "bench@example.com".into(),
                name: "Bench".into(),
                role: Role::Agent,
                password_hash: None,
            },
        )
        .await?;
    let token = auth::new_token();
    store
        .create_api_token(ctx, agent.id, "bench", &auth::token_hash(&token))
        .await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(rapport_web::serve(
        listener,
        rapport_web::AppState {
            store: store.clone(),
        },
        async {
            let _ = stopped.await;
        },
    ));

    println!(
        "bench create: {concurrency} concurrent clients for {}s against http://{addr} (SQLite, WAL, synchronous=FULL)",
        duration.as_secs()
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let started = Instant::now();
    let deadline = started + duration;
    let mut clients = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let client = client.clone();
        let endpoint = format!("http://{addr}/api/v1/tickets");
        let auth_header = format!("Bearer {token}");
        clients.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let customer = bench_customer(worker, n);
                let body = serde_json::json!({
                    "subject": format!("Router keeps dropping (#{n})"),
                    "customer": {"email": customer, "name": "Bench Customer"},
                    "message": {"body": "Since Monday our connection drops every evening between 7 and 9 pm."},
                    "priority": "normal",
                    "tags": ["bench", "connectivity"],
                });
                let sent = Instant::now();
                let ok = client
                    .post(&endpoint)
                    .header("authorization", &auth_header)
                    .json(&body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == reqwest::StatusCode::CREATED);
                if ok {
                    latencies.push(sent.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        });
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    while let Some(result) = clients.join_next().await {
        let (l, e) = result?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    server.await??;
    store.close().await;

    latencies.sort();
    let rate = latencies.len() as f64 / elapsed;
    println!("  tickets created:  {} ({errors} errors)", latencies.len());
    println!("  throughput:       {rate:.0} tickets/s");
    println!(
        "  latency:          p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default())
    );

    let store_rate = store_only_creates(concurrency, duration.min(Duration::from_secs(5))).await?;
    println!(
        "  store alone:      {store_rate:.0} tickets/s (same creates without HTTP, {concurrency} tasks)"
    );

    let baseline_for = duration.min(Duration::from_secs(5));
    let baseline = raw_sqlite_inserts(baseline_for).await?;
    println!(
        "  baseline:         {baseline:.0} raw single-row SQLite inserts/s (one commit each, WAL, synchronous=FULL, {}s)",
        baseline_for.as_secs()
    );
    println!(
        "  ratio:            {:.2} (API tickets/s ÷ raw inserts/s; ≥ 1.0 means group commit beats one fsync per write)",
        rate / baseline.max(1e-9)
    );
    if errors > 0 {
        anyhow::bail!("{errors} requests failed");
    }
    Ok(())
}

/// The same ticket creates straight into the store: what HTTP adds is the difference.
async fn store_only_creates(concurrency: usize, duration: Duration) -> anyhow::Result<f64> {
    let dir = temp_dir("store")?;
    let store =
        rapport_store::open(&format!("sqlite://{}", dir.0.join("rapport.db").display())).await?;
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let store = store.clone();
        tasks.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let customer = bench_customer(worker, n);
                let new = rapport_store::NewTicket {
                    subject: format!("Router keeps dropping (#{n})"),
                    requester: rapport_store::Requester {
                        email: customer,
                        name: Some("Bench Customer".into()),
                    },
                    body: "Since Monday our connection drops every evening between 7 and 9 pm."
                        .into(),
                    channel: rapport_core::Channel::Api,
                    priority: rapport_core::Priority::Normal,
                    status: rapport_core::TicketStatus::New,
                    tags: vec!["bench".into(), "connectivity".into()],
                    inbox: None,
                    assignee_id: None,
                    team_id: None,
                    custom_fields: Default::default(),
                };
                store
                    .create_ticket(
                        Ctx {
                            actor: Actor::SYSTEM,
                            at: rapport_web::now(),
                        },
                        new,
                        None,
                    )
                    .await?;
            }
            anyhow::Ok(n)
        });
    }
    let mut total = 0;
    while let Some(result) = tasks.join_next().await {
        total += result??;
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    store.close().await;
    Ok(rate)
}

/// The simplest durable write SQLite can do: one row, one transaction, one fsync, with the
/// same library, journal mode and synchronous setting the store uses.
async fn raw_sqlite_inserts(duration: Duration) -> anyhow::Result<f64> {
    let dir = temp_dir("baseline")?;
    let path = dir.0.join("baseline.db");
    tokio::task::spawn_blocking(move || -> anyhow::Result<f64> {
        let conn = rusqlite::Connection::open(&path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             CREATE TABLE t (id INTEGER PRIMARY KEY, subject TEXT NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL);",
        )?;
        let mut insert = conn.prepare("INSERT INTO t (subject, body, created_at) VALUES (?1, ?2, ?3)")?;
        let started = Instant::now();
        let mut rows = 0u64;
        while started.elapsed() < duration {
            insert.execute(rusqlite::params![
                "Router keeps dropping",
                "Since Monday our connection drops every evening between 7 and 9 pm.",
                Millis(0).0
            ])?;
            rows += 1;
        }
        Ok(rows as f64 / started.elapsed().as_secs_f64())
    })
    .await?
}

/// Half the requests come from returning customers, half from new ones.
fn bench_customer(worker: usize, n: u64) -> String {
    if n.is_multiple_of(2) {
        format!("returning{}@example.com", n % 500)
    } else {
        format!("w{worker}-n{n}@example.com")
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
