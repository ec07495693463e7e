//! `rapport bench …`: throughput and latency with a baseline measured in the same run.

use anyhow::Context;
use clap::Subcommand;
use rapport_core::{Actor, Millis, Role};
use rapport_store::{Ctx, NewAgent};
use rapport_web::auth;
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Create tickets through the HTTP API from concurrent clients on a temporary database
    /// (SQLite by default); compare with raw single-row inserts at the same durability.
    Create {
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Run on PostgreSQL instead: a server URL whose user may create databases
        /// (e.g. postgres://postgres@127.0.0.1/postgres). Throwaway databases are created
        /// there and dropped afterwards.
        #[arg(long, value_name = "ADMIN_URL")]
        postgres: Option<String>,
        /// Also create tickets in this seeded SQLite database (from `bench seed`) after the
        /// empty one, and print the ratio.
        #[arg(long, value_name = "PATH", conflicts_with = "postgres_db")]
        sqlite: Option<std::path::PathBuf>,
        /// Also create tickets in this seeded PostgreSQL database (its URL) after the empty one.
        #[arg(long, value_name = "URL")]
        postgres_db: Option<String>,
    },
    /// Send email over SMTP to the listener from concurrent clients on a temporary database;
    /// each message is stored durably (and filed on a ticket) before its 250.
    Smtp {
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Run on PostgreSQL instead (as for `bench create`).
        #[arg(long, value_name = "ADMIN_URL")]
        postgres: Option<String>,
    },
    /// Run N `rapport serve` nodes on one new PostgreSQL database, then one, and compare their
    /// API and SMTP throughput; check that nothing acknowledged was lost or stored twice, and
    /// show where the time goes (round trips per ticket, what PostgreSQL's backends wait on).
    Cluster {
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Seconds of load per phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// HTTP clients creating tickets; a quarter as many SMTP clients run beside them.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// A PostgreSQL server URL whose user may create databases (one is created for each
        /// phase and dropped afterwards).
        #[arg(
            long,
            value_name = "ADMIN_URL",
            default_value = "postgres://postgres@127.0.0.1:5432/postgres"
        )]
        postgres: String,
        /// Every client asks for the same returning customer at the same moment (as `bench
        /// create` does): their tickets take turns on that customer's address lock.
        #[arg(long)]
        hot_customers: bool,
    },
    /// Seed tickets (three messages each), then time the workspace's views and ticket page
    /// one request at a time; the JSON ticket list is the baseline.
    Pages {
        #[arg(long, default_value_t = 20_000)]
        tickets: u64,
        /// Requests per page.
        #[arg(long, default_value_t = 500)]
        rounds: usize,
        /// Run on PostgreSQL instead (as for `bench create`).
        #[arg(long, value_name = "ADMIN_URL")]
        postgres: Option<String>,
    },
    /// Seed tickets with running SLA clocks (a quarter open), then measure how late the
    /// scheduler fires due alarms and how long a calendar change takes to recompute.
    Timers {
        #[arg(long, default_value_t = 100_000)]
        tickets: u64,
        /// Run on PostgreSQL instead (as for `bench create`).
        #[arg(long, value_name = "ADMIN_URL")]
        postgres: Option<String>,
    },
    /// Write a realistic help desk of N historical tickets (customers, organisations, agents
    /// agent0..9@example.com, conversations in four scripts) into a new database through the
    /// store's bulk import, for `bench search|views|memory|create` to run against.
    Seed {
        #[arg(long)]
        tickets: u64,
        /// Mean messages per ticket (many have 2–3, a few up to 40).
        #[arg(long, default_value_t = 5.0)]
        messages_per_ticket: f64,
        #[arg(long, default_value_t = 200_000)]
        customers: u64,
        /// The same seed writes the same tickets (their times follow the clock).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Tickets per import call (one transaction each).
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Import calls in flight at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// A new SQLite file to write.
        #[arg(
            long,
            value_name = "PATH",
            required_unless_present = "postgres",
            conflicts_with = "postgres"
        )]
        sqlite: Option<std::path::PathBuf>,
        /// A PostgreSQL server URL whose user may create databases; `--name` is created there.
        #[arg(long, value_name = "ADMIN_URL", requires = "name")]
        postgres: Option<String>,
        /// The new PostgreSQL database's name.
        #[arg(long, value_name = "DBNAME")]
        name: Option<String>,
    },
    /// Time full-text searches of a realistic mix (common, rare, phrases, prefixes,
    /// exclusions, filters, German, Russian, CJK) one at a time on a seeded database, against
    /// an indexed lookup by id.
    Search {
        #[command(flatten)]
        db: SeededDb,
        /// Times each query is run.
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// Time the workspace's views, ticket pages and search page on a seeded database, one
    /// request at a time, against the JSON ticket list.
    Views {
        #[command(flatten)]
        db: SeededDb,
        /// Requests per page.
        #[arg(long, default_value_t = 300)]
        rounds: usize,
    },
    /// Run `rapport serve` as a child process and report its resident memory idle and under
    /// ~20 s of API creates, views and searches (on a temporary empty database unless one is
    /// given).
    Memory {
        /// A seeded SQLite file to serve.
        #[arg(long, value_name = "PATH", conflicts_with = "postgres")]
        sqlite: Option<std::path::PathBuf>,
        /// A seeded PostgreSQL database's URL to serve.
        #[arg(long, value_name = "URL", alias = "postgres-db")]
        postgres: Option<String>,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Open many chat visitors' WebSockets to one `rapport serve` node (a child process), each
    /// starting a conversation; then agents answer through the API while visitors write. Prints
    /// the node's RSS and the time from an agent's reply to the visitor's socket, beside the
    /// API's own answer time.
    Chat {
        #[arg(long, default_value_t = 10_000)]
        visitors: usize,
        /// Seconds of replies and messages after every visitor arrived.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Agent replies per second (to random conversations).
        #[arg(long, default_value_t = 200)]
        replies_per_second: u32,
        /// Visitor messages per second (spread over all visitors).
        #[arg(long, default_value_t = 200)]
        messages_per_second: u32,
        /// Run on PostgreSQL instead (as for `bench create`).
        #[arg(long, value_name = "ADMIN_URL")]
        postgres: Option<String>,
    },
}

/// A database seeded by `bench seed`.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct SeededDb {
    /// A seeded SQLite file.
    #[arg(long, value_name = "PATH")]
    sqlite: Option<std::path::PathBuf>,
    /// A seeded PostgreSQL database's URL.
    #[arg(long, value_name = "URL", alias = "postgres-db")]
    postgres: Option<String>,
}

impl SeededDb {
    pub(crate) fn url(&self) -> anyhow::Result<String> {
        seeded_url(self.sqlite.as_deref(), self.postgres.as_deref())?.ok_or_else(|| {
            anyhow::anyhow!("name a seeded database: --sqlite PATH or --postgres URL")
        })
    }
}

/// The URL of an existing seeded database (an SQLite path must exist: opening would create an
/// empty one).
pub(crate) fn seeded_url(
    sqlite: Option<&std::path::Path>,
    postgres: Option<&str>,
) -> anyhow::Result<Option<String>> {
    match (sqlite, postgres) {
        (Some(path), _) => {
            anyhow::ensure!(
                path.is_file(),
                "{} does not exist; run `rapport bench seed --sqlite {}` first",
                path.display(),
                path.display()
            );
            Ok(Some(format!("sqlite://{}", path.display())))
        }
        (None, Some(url)) => Ok(Some(url.to_string())),
        (None, None) => Ok(None),
    }
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Create {
            concurrency,
            seconds,
            postgres,
            sqlite,
            postgres_db,
        } => {
            let seeded = seeded_url(sqlite.as_deref(), postgres_db.as_deref())?;
            create(
                concurrency.max(1),
                Duration::from_secs(seconds.max(1)),
                postgres,
                seeded,
            )
            .await
        }
        BenchCommand::Seed {
            tickets,
            messages_per_ticket,
            customers,
            seed,
            batch,
            concurrency,
            sqlite,
            postgres,
            name,
        } => {
            let target = match (sqlite, postgres, name) {
                (Some(path), _, _) => crate::bench_seed::SeedTarget::Sqlite(path),
                (None, Some(admin_url), Some(name)) => {
                    crate::bench_seed::SeedTarget::Postgres { admin_url, name }
                }
                _ => {
                    anyhow::bail!("give --sqlite PATH, or --postgres ADMIN_URL with --name DBNAME")
                }
            };
            crate::bench_seed::run(
                crate::bench_seed::SeedOptions {
                    tickets,
                    messages_per_ticket,
                    customers: customers.max(1),
                    seed,
                    batch: batch.max(1),
                    concurrency: concurrency.max(1),
                },
                target,
            )
            .await
        }
        BenchCommand::Search { db, rounds } => {
            crate::bench_search::run(&db.url()?, rounds.max(1)).await
        }
        BenchCommand::Views { db, rounds } => {
            crate::bench_views::run(&db.url()?, rounds.max(1)).await
        }
        BenchCommand::Memory {
            sqlite,
            postgres,
            seconds,
            concurrency,
        } => {
            let seeded = seeded_url(sqlite.as_deref(), postgres.as_deref())?;
            crate::bench_memory::run(
                seeded,
                Duration::from_secs(seconds.max(1)),
                concurrency.max(1),
            )
            .await
        }
        BenchCommand::Pages {
            tickets,
            rounds,
            postgres,
        } => crate::bench_pages::run(tickets.max(1), rounds.max(1), postgres.as_deref()).await,
        BenchCommand::Chat {
            visitors,
            seconds,
            replies_per_second,
            messages_per_second,
            postgres,
        } => {
            crate::bench_chat::run(crate::bench_chat::Options {
                visitors: visitors.max(1),
                seconds,
                replies_per_second,
                messages_per_second,
                postgres,
            })
            .await
        }
        BenchCommand::Cluster {
            nodes,
            seconds,
            concurrency,
            postgres,
            hot_customers,
        } => {
            crate::bench_cluster::run(crate::bench_cluster::Options {
                nodes: nodes.max(1),
                duration: Duration::from_secs(seconds.max(1)),
                concurrency: concurrency.max(1),
                admin_url: postgres,
                hot_customers,
            })
            .await
        }
        BenchCommand::Timers { tickets, postgres } => {
            crate::bench_timers::run(tickets.max(1), postgres.as_deref()).await
        }
        BenchCommand::Smtp {
            concurrency,
            seconds,
            postgres,
        } => {
            let scratch = Scratch::new(postgres.as_deref(), "smtp").await?;
            let result = crate::bench_smtp::run(
                concurrency.max(1),
                Duration::from_secs(seconds.max(1)),
                &scratch.url(),
                postgres.is_some(),
            )
            .await;
            let baseline = match &result {
                Ok(_) => Some(raw_inserts(Duration::from_secs(5), postgres.as_deref()).await),
                Err(_) => None,
            };
            scratch.remove().await;
            let rate = result?;
            if let Some(baseline) = baseline {
                let baseline = baseline?;
                println!(
                    "  baseline:         {baseline:.0} raw single-row inserts/s (one commit each, same durability, 5s)"
                );
                println!(
                    "  ratio:            {:.2} (messages/s ÷ raw inserts/s)",
                    rate / baseline.max(1e-9)
                );
            }
            Ok(())
        }
    }
}

/// A throwaway database: a temporary SQLite file, or a fresh PostgreSQL database.
pub(crate) enum Scratch {
    Sqlite { dir: std::path::PathBuf },
    Postgres { admin_url: String, url: String },
}

impl Scratch {
    pub(crate) async fn new(postgres: Option<&str>, name: &str) -> anyhow::Result<Self> {
        match postgres {
            Some(admin_url) => {
                let url =
                    rapport_store::scratch::create_postgres_database(admin_url, "rapport_bench")
                        .await?;
                Ok(Self::Postgres {
                    admin_url: admin_url.to_string(),
                    url,
                })
            }
            None => {
                let dir = std::env::temp_dir().join(rapport_store::scratch::unique_name(&format!(
                    "rapport-bench-{name}"
                )));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                Ok(Self::Sqlite { dir })
            }
        }
    }

    pub(crate) fn url(&self) -> String {
        match self {
            Self::Sqlite { dir } => format!("sqlite://{}", dir.join("rapport.db").display()),
            Self::Postgres { url, .. } => url.clone(),
        }
    }

    pub(crate) async fn remove(self) {
        match self {
            Self::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Self::Postgres { admin_url, url } => {
                if let Err(e) =
                    rapport_store::scratch::drop_postgres_database(&admin_url, &url).await
                {
                    eprintln!("rapport: could not drop the benchmark database: {e}");
                }
            }
        }
    }
}

async fn create(
    concurrency: usize,
    duration: Duration,
    postgres: Option<String>,
    seeded: Option<String>,
) -> anyhow::Result<()> {
    let scratch = Scratch::new(postgres.as_deref(), "create").await?;
    let result = create_on(
        concurrency,
        duration,
        &scratch,
        postgres.as_deref(),
        seeded.as_deref(),
    )
    .await;
    scratch.remove().await;
    result
}

/// What one run of API creates measured.
struct ApiCreates {
    rate: f64,
    latencies: Vec<Duration>,
    errors: u64,
}

impl ApiCreates {
    fn print(&self) {
        println!(
            "  tickets created:  {} ({} errors)",
            self.latencies.len(),
            self.errors
        );
        println!("  throughput:       {:.0} tickets/s", self.rate);
        println!(
            "  latency:          p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(percentile(&self.latencies, 0.50)),
            ms(percentile(&self.latencies, 0.99)),
            ms(self.latencies.last().copied().unwrap_or_default())
        );
    }
}

async fn create_on(
    concurrency: usize,
    duration: Duration,
    scratch: &Scratch,
    postgres: Option<&str>,
    seeded: Option<&str>,
) -> anyhow::Result<()> {
    let durability = if postgres.is_some() {
        "PostgreSQL, synchronous_commit as configured"
    } else {
        "SQLite, WAL, synchronous=FULL"
    };
    let store = rapport_store::open(&scratch.url()).await?;
    let empty = api_creates(&store, concurrency, duration, durability).await;
    store.close().await;
    let empty = empty?;
    empty.print();
    let mut errors = empty.errors;
    if let Some(url) = seeded {
        let store = rapport_store::open(url).await?;
        let (tickets, _, _) = crate::bench_seed::counts(url).await?;
        println!(
            "bench create on the seeded database {} ({tickets} tickets):",
            rapport_store::redact_url(url)
        );
        let full = api_creates(&store, concurrency, duration, store.backend()).await;
        store.close().await;
        let full = full?;
        full.print();
        errors += full.errors;
        println!(
            "  seeded ÷ empty:   {:.2} (tickets/s at {tickets} tickets ÷ tickets/s on an empty database)",
            full.rate / empty.rate.max(1e-9)
        );
    }

    let store_rate =
        store_only_creates(concurrency, duration.min(Duration::from_secs(5)), postgres).await?;
    println!(
        "  store alone:      {store_rate:.0} tickets/s (same creates without HTTP on an empty database, {concurrency} tasks)"
    );

    let baseline_for = duration.min(Duration::from_secs(5));
    let baseline = raw_inserts(baseline_for, postgres).await?;
    println!(
        "  baseline:         {baseline:.0} raw single-row inserts/s (one commit each, {durability}, {}s)",
        baseline_for.as_secs()
    );
    println!(
        "  ratio:            {:.2} (API tickets/s on the empty database ÷ raw inserts/s; ≥ 1.0 means group commit beats one fsync per write)",
        empty.rate / baseline.max(1e-9)
    );
    if errors > 0 {
        anyhow::bail!("{errors} requests failed");
    }
    Ok(())
}

/// A new agent (no password: API only) and an API token for it, for load through the API.
pub(crate) async fn agent_with_token(
    store: &dyn rapport_store::Store,
    email: &str,
    name: &str,
) -> anyhow::Result<String> {
    let ctx = Ctx {
        actor: Actor::SYSTEM,
        at: rapport_web::now(),
    };
    let agent = store
        .create_agent(
            ctx,
            NewAgent {
                email: email.into(),
                name: name.into(),
                role: Role::Agent,
                password_hash: None,
            },
        )
        .await?;
    let token = auth::new_token();
    store
        .create_api_token(ctx, agent.id, "bench", &auth::token_hash(&token))
        .await?;
    Ok(token)
}

/// Ticket creates through the HTTP API from `concurrency` clients for `duration`, as a new
/// agent with a new token (so a seeded database can be used again).
async fn api_creates(
    store: &std::sync::Arc<dyn rapport_store::Store>,
    concurrency: usize,
    duration: Duration,
    durability: &str,
) -> anyhow::Result<ApiCreates> {
    let email = format!(
        "{}@example.com",
        rapport_store::scratch::unique_name("bench")
    );
    let token = agent_with_token(store.as_ref(), &email, "Bench").await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(rapport_web::serve(
        listener,
        rapport_web::AppState::new(
            store.clone(),
            rapport_web::ui::UiConfig {
                base_url: format!("http://{addr}"),
            },
        ),
        async {
            let _ = stopped.await;
        },
    ));

    println!(
        "bench create: {concurrency} concurrent clients for {}s against http://{addr} ({durability})",
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
    latencies.sort();
    Ok(ApiCreates {
        rate: latencies.len() as f64 / elapsed,
        latencies,
        errors,
    })
}

/// The same ticket creates straight into the store: what HTTP adds is the difference.
async fn store_only_creates(
    concurrency: usize,
    duration: Duration,
    postgres: Option<&str>,
) -> anyhow::Result<f64> {
    let scratch = Scratch::new(postgres, "store").await?;
    let result = store_only_creates_on(concurrency, duration, &scratch).await;
    scratch.remove().await;
    result
}

async fn store_only_creates_on(
    concurrency: usize,
    duration: Duration,
    scratch: &Scratch,
) -> anyhow::Result<f64> {
    let store = rapport_store::open(&scratch.url()).await?;
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
                        customer_id: None,
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
async fn raw_inserts(duration: Duration, postgres: Option<&str>) -> anyhow::Result<f64> {
    let scratch = Scratch::new(postgres, "baseline").await?;
    let result = match &scratch {
        Scratch::Sqlite { dir } => raw_sqlite_inserts(dir.join("baseline.db"), duration).await,
        Scratch::Postgres { url, .. } => raw_postgres_inserts(url, duration).await,
    };
    scratch.remove().await;
    result
}

const BASELINE_TABLE: &str = "CREATE TABLE t (id BIGINT PRIMARY KEY, subject TEXT NOT NULL, body TEXT NOT NULL, created_at BIGINT NOT NULL)";
const BASELINE_SUBJECT: &str = "Router keeps dropping";
const BASELINE_BODY: &str = "Since Monday our connection drops every evening between 7 and 9 pm.";

async fn raw_sqlite_inserts(path: std::path::PathBuf, duration: Duration) -> anyhow::Result<f64> {
    tokio::task::spawn_blocking(move || -> anyhow::Result<f64> {
        let conn = rusqlite::Connection::open(&path)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
        conn.execute_batch(BASELINE_TABLE)?;
        let mut insert =
            conn.prepare("INSERT INTO t (id, subject, body, created_at) VALUES (?1, ?2, ?3, ?4)")?;
        let started = Instant::now();
        let mut rows = 0i64;
        while started.elapsed() < duration {
            rows += 1;
            insert.execute(rusqlite::params![
                rows,
                BASELINE_SUBJECT,
                BASELINE_BODY,
                Millis(0).0
            ])?;
        }
        Ok(rows as f64 / started.elapsed().as_secs_f64())
    })
    .await?
}

async fn raw_postgres_inserts(url: &str, duration: Duration) -> anyhow::Result<f64> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query(BASELINE_TABLE).execute(&mut conn).await?;
    let started = Instant::now();
    let mut rows = 0i64;
    while started.elapsed() < duration {
        rows += 1;
        sqlx::query("INSERT INTO t (id, subject, body, created_at) VALUES ($1, $2, $3, $4)")
            .bind(rows)
            .bind(BASELINE_SUBJECT)
            .bind(BASELINE_BODY)
            .bind(Millis(0).0)
            .execute(&mut conn)
            .await?;
    }
    let rate = rows as f64 / started.elapsed().as_secs_f64();
    conn.close().await?;
    Ok(rate)
}

/// Half the requests come from returning customers, half from new ones.
pub(crate) fn bench_customer(worker: usize, n: u64) -> String {
    if n.is_multiple_of(2) {
        format!("returning{}@example.com", n % 500)
    } else {
        format!("w{worker}-n{n}@example.com")
    }
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
