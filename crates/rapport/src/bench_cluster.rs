//! `rapport bench cluster`: API and SMTP throughput of N `rapport serve` nodes on one
//! PostgreSQL database against one node, in the same run; every acknowledged ticket and
//! message checked in the database afterwards (nothing lost, nothing stored twice), and where
//! the time goes: round trips per ticket and what PostgreSQL's backends wait on.
//!
//! Each phase gets a fresh database. Its nodes are child processes of this binary running
//! `serve` (configured only through `RAPPORT_*` variables, on free loopback ports, without a
//! relay), started at the same moment so they migrate together under the advisory lock. The
//! load goes round robin over the nodes: HTTP clients create tickets with an `Idempotency-Key`
//! (every tenth request sent twice at once to two nodes, which must answer with one ticket),
//! and pipelining SMTP clients deliver messages that each open a ticket.

use crate::bench::{agent_with_token, bench_customer, ms, percentile};
use crate::bench_smtp::{BODY, expect, read_reply};
use crate::email::{Inbound, reply_secret};
use anyhow::Context;
use rapport_core::{Actor, Channel, Priority, TicketStatus};
use rapport_mail::{Delivery, MailSink, Source};
use rapport_store::{Ctx, Idempotency, InboxPatch, NewTicket, Requester};
use rapport_web::auth;
use sqlx::{Connection, Row};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const INBOX_NAME: &str = "Cluster bench";
const INBOX_ADDRESS: &str = "cluster@bench.rapport.localhost";
const TICKET_BODY: &str = "Since Monday our connection drops every evening between 7 and 9 pm.";
/// Every this many API requests, the same request (key and body) goes to two nodes at once.
const REPEAT_EVERY: u64 = 10;
/// How long a node may take to answer after it was started (migrations included).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// No single request or SMTP transaction may take longer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How often PostgreSQL's backends are sampled during the load.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);
/// Sequential store calls measured for the round trips per ticket and per email.
const ROUND_TRIP_TICKETS: u64 = 300;
const ROUND_TRIP_EMAILS: u64 = 100;

pub struct Options {
    pub nodes: usize,
    pub duration: Duration,
    pub concurrency: usize,
    pub admin_url: String,
    /// Every client asks for the same returning customer at the same moment (as `bench
    /// create` does), instead of each a different one.
    pub hot_customers: bool,
}

pub async fn run(opts: Options) -> anyhow::Result<()> {
    let smtp_clients = (opts.concurrency / 4).max(1);
    let sizes: Vec<usize> = if opts.nodes > 1 {
        vec![1, opts.nodes]
    } else {
        vec![1]
    };
    println!(
        "bench cluster: 1 node, then {} nodes, each phase on a new PostgreSQL database on {}; {} HTTP clients creating tickets and {smtp_clients} SMTP client{} for {}s per phase, round robin over the nodes; half the tickets from 500 returning customers ({})",
        opts.nodes,
        rapport_store::redact_url(&opts.admin_url),
        opts.concurrency,
        if smtp_clients == 1 { "" } else { "s" },
        opts.duration.as_secs(),
        if opts.hot_customers {
            "hot: every client asks for the same one at the same moment"
        } else {
            "spread: at any moment the clients ask for different ones"
        }
    );
    let mut phases = Vec::new();
    for nodes in sizes {
        let phase = phase(&opts, nodes, smtp_clients)
            .await
            .with_context(|| format!("the {nodes}-node phase failed"))?;
        phase.print();
        phases.push(phase);
    }
    if let (Some(one), Some(many)) = (phases.first(), phases.last())
        && phases.len() > 1
    {
        println!(
            "{} nodes ÷ 1 node: API {:.2} ({:.0} → {:.0} tickets/s), SMTP {:.2} ({:.0} → {:.0} messages/s)",
            many.nodes,
            many.api.rate / one.api.rate.max(1e-9),
            one.api.rate,
            many.api.rate,
            many.smtp.rate / one.smtp.rate.max(1e-9),
            one.smtp.rate,
            many.smtp.rate
        );
    }

    println!("where the time goes:");
    match round_trips(&opts.admin_url).await {
        Ok(trips) => trips.print(),
        Err(e) => println!("  round trips: not measured: {e:#}"),
    }
    for phase in &phases {
        phase.print_database();
    }

    let failures: u64 = phases.iter().map(Phase::failures).sum();
    if failures > 0 {
        anyhow::bail!("{failures} errors, duplicates or lost writes (see above)");
    }
    Ok(())
}

/// What one phase measured and found.
struct Phase {
    nodes: usize,
    started_in: Duration,
    /// CPU used during the load.
    cpu: Option<CpuTimes>,
    api: Load,
    smtp: Load,
    /// Idempotent requests sent twice at once to two nodes.
    repeats: u64,
    /// …of which both copies answered with the same ticket, one of them marked replayed.
    repeats_agreed: u64,
    check: Check,
    pg: PgFigures,
    /// Lines the nodes wrote to standard error (warnings and errors; `RAPPORT_LOG=warn`).
    node_log: Vec<String>,
    /// Each node's exit code after SIGTERM (`None`: killed).
    exits: Vec<Option<i32>>,
}

impl Phase {
    fn label(&self) -> String {
        match self.nodes {
            1 => "1 node".into(),
            n => format!("{n} nodes"),
        }
    }

    fn duplicates(&self) -> u64 {
        self.check.duplicates() + self.pair_mismatches()
    }

    /// Pairs whose copies both succeeded but disagreed (two tickets for one key).
    fn pair_mismatches(&self) -> u64 {
        self.api.pair_mismatches
    }

    fn errors(&self) -> u64 {
        self.api.errors + self.smtp.errors
    }

    fn failures(&self) -> u64 {
        self.errors() + self.duplicates() + self.check.lost + self.check.unacknowledged
    }

    fn print(&self) {
        println!(
            "phase: {} (answering {:.1}s after starting together; migrated under the advisory lock)",
            self.label(),
            self.started_in.as_secs_f64()
        );
        println!(
            "  API:        {:.0} tickets/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} tickets acknowledged in {:.1}s; {} requests)",
            self.api.rate,
            ms(percentile(&self.api.latencies, 0.50)),
            ms(percentile(&self.api.latencies, 0.99)),
            ms(self.api.latencies.last().copied().unwrap_or_default()),
            self.api.acknowledged.len(),
            self.api.elapsed,
            self.api.latencies.len() + self.api.errors as usize
        );
        println!(
            "  SMTP:       {:.0} messages/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} messages acknowledged with 250 in {:.1}s)",
            self.smtp.rate,
            ms(percentile(&self.smtp.latencies, 0.50)),
            ms(percentile(&self.smtp.latencies, 0.99)),
            ms(self.smtp.latencies.last().copied().unwrap_or_default()),
            self.smtp.acknowledged.len(),
            self.smtp.elapsed
        );
        println!(
            "  stored:     {} tickets = {} by API + {} by email; acknowledged {} + {}: {}",
            self.check.tickets,
            self.check.api_tickets,
            self.check.email_tickets,
            self.api.acknowledged.len(),
            self.smtp.acknowledged.len(),
            if self.check.tickets
                == (self.api.acknowledged.len() + self.smtp.acknowledged.len()) as i64
            {
                "equal"
            } else {
                "NOT EQUAL"
            }
        );
        println!(
            "  repeats:    {} requests sent twice at once to {}; {} answered with one ticket (one copy marked replayed)",
            self.repeats,
            if self.nodes > 1 {
                "two nodes"
            } else {
                "the node"
            },
            self.repeats_agreed
        );
        if let Some(cpu) = &self.cpu {
            let cores = |t: f64| t / cpu.wall.max(1e-9);
            let done = (self.api.acknowledged.len() + self.smtp.acknowledged.len()).max(1) as f64;
            println!(
                "  CPU:        the machine {:.0}% busy ({:.2} of {} cores): nodes {:.2} cores, PostgreSQL {:.2}, this load generator {:.2}, everything else {:.2}",
                cpu.machine_busy * 100.0 / cpu.machine_total.max(1e-9),
                cores(cpu.machine_busy),
                cpu.cores,
                cores(cpu.nodes),
                cores(cpu.postgres),
                cores(cpu.bench),
                cores((cpu.machine_busy - cpu.nodes - cpu.bench - cpu.postgres).max(0.0))
            );
            println!(
                "              per acknowledged ticket or message: PostgreSQL {:.2} ms of CPU, the nodes {:.2} ms",
                cpu.postgres * 1000.0 / done,
                cpu.nodes * 1000.0 / done
            );
        }
        let mut errors = String::new();
        for (what, load) in [("API", &self.api), ("SMTP", &self.smtp)] {
            if load.errors > 0 {
                errors.push_str(&format!(
                    " — {what} {}: {}",
                    load.errors,
                    load.error_samples.join("; ")
                ));
            }
        }
        println!("  errors:     {}{errors}", self.errors());
        println!(
            "  duplicates: {} (tickets with the same subject {}, Idempotency-Keys stored twice {}, Message-IDs stored twice {}, Message-IDs on two tickets {}, keys answered with two tickets {}, customers without an address {})",
            self.duplicates(),
            self.check.duplicate_subjects,
            self.check.duplicate_keys,
            self.check.duplicate_message_ids,
            self.check.message_ids_on_two_tickets,
            self.pair_mismatches(),
            self.check.orphan_customers
        );
        for sample in &self.api.mismatch_samples {
            println!("    {sample}");
        }
        println!(
            "  lost:       {} (acknowledged, not stored); stored without acknowledgement: {}",
            self.check.lost, self.check.unacknowledged
        );
        let clean = self.exits.iter().filter(|e| **e == Some(0)).count();
        println!(
            "  nodes:      {clean} of {} stopped cleanly on SIGTERM; {} lines on their standard error{}",
            self.exits.len(),
            self.node_log.len(),
            if self.node_log.is_empty() { "" } else { ":" }
        );
        for line in self.node_log.iter().take(5) {
            println!("    {line}");
        }
    }

    fn print_database(&self) {
        let pg = &self.pg;
        let tickets = (self.api.acknowledged.len() + self.smtp.acknowledged.len()) as f64;
        println!(
            "  PostgreSQL during the {} phase ({:.1}s of load):",
            self.label(),
            pg.window
        );
        if let Some(db) = &pg.database {
            println!(
                "    {:.0} commits/s in the database ({:.1} transactions per acknowledged ticket or message, reads included), {} rollbacks, {} deadlocks",
                db.commits as f64 / pg.window.max(1e-9),
                db.commits as f64 / tickets.max(1.0),
                db.rollbacks,
                db.deadlocks
            );
        }
        if let Some(wal) = &pg.wal {
            println!(
                "    WAL (whole server): {:.0} fsyncs/s ({:.1} acknowledged tickets or messages per fsync: group commit), {:.0} writes/s, {:.1} MB/s, {:.0} records/s",
                wal.syncs as f64 / pg.window.max(1e-9),
                tickets / (wal.syncs.max(1) as f64),
                wal.writes as f64 / pg.window.max(1e-9),
                wal.bytes / 1e6 / pg.window.max(1e-9),
                wal.records as f64 / pg.window.max(1e-9)
            );
        }
        let a = &pg.activity;
        if a.samples == 0 {
            println!("    backends: no samples");
            return;
        }
        println!(
            "    backends in a transaction: {:.1} on average, at most {} ({} samples every {} ms; {} connections open across the nodes at most)",
            a.busy as f64 / a.samples as f64,
            a.max_busy,
            a.samples,
            SAMPLE_EVERY.as_millis(),
            a.max_connections
        );
        let mut pings = a.pings.clone();
        pings.sort();
        println!(
            "    one SELECT 1 round trip under this load: p50 {:.2} ms, p99 {:.2} ms ({} times)",
            ms(percentile(&pings, 0.50)),
            ms(percentile(&pings, 0.99)),
            pings.len()
        );
        let mut shares: Vec<(&String, &u64)> = a.by_wait.iter().collect();
        shares.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
        let total = a.busy.max(1) as f64;
        let listed: Vec<String> = shares
            .iter()
            .map(|(label, n)| format!("{label} {:.1}%", **n as f64 * 100.0 / total))
            .collect();
        println!("    what they were doing: {}", listed.join(", "));
        let mut waits: Vec<(&(String, String), &u64)> = a.lock_statements.iter().collect();
        waits.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
        for ((wait, statement), n) in waits.into_iter().take(6) {
            println!(
                "    waiting on {wait}{} ({:.1}%): {statement}",
                explain(wait, statement),
                *n as f64 * 100.0 / total
            );
        }
    }
}

/// What a lock wait usually means here.
fn explain(wait: &str, statement: &str) -> &'static str {
    match wait {
        "Lock/object" if statement.starts_with("COMMIT") => {
            " [NOTIFY's lock, one committing transaction at a time server-wide]"
        }
        "Lock/advisory" => " [serialize_on: one customer address or Idempotency-Key at a time]",
        "Lock/transactionid" | "Lock/tuple" => " [a row another transaction is changing]",
        "LWLock/WALWrite" => " [waiting for another commit's WAL flush]",
        _ => "",
    }
}

/// One kind of load's outcome.
#[derive(Default)]
struct Load {
    /// Subjects of the tickets acknowledged (each unique).
    acknowledged: Vec<String>,
    latencies: Vec<Duration>,
    errors: u64,
    error_samples: Vec<String>,
    pair_mismatches: u64,
    mismatch_samples: Vec<String>,
    elapsed: f64,
    rate: f64,
}

impl Load {
    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.error_samples.len() < 5 && !self.error_samples.contains(&what) {
            self.error_samples.push(what);
        }
    }

    fn merge(&mut self, other: Load) {
        self.acknowledged.extend(other.acknowledged);
        self.latencies.extend(other.latencies);
        self.pair_mismatches += other.pair_mismatches;
        for m in other.mismatch_samples {
            if self.mismatch_samples.len() < 5 {
                self.mismatch_samples.push(m);
            }
        }
        for e in other.error_samples {
            if self.error_samples.len() < 5 && !self.error_samples.contains(&e) {
                self.error_samples.push(e);
            }
        }
        self.errors += other.errors;
    }

    fn finish(&mut self, elapsed: f64) {
        self.latencies.sort();
        self.elapsed = elapsed;
        self.rate = self.acknowledged.len() as f64 / elapsed.max(1e-9);
    }
}

async fn phase(opts: &Options, nodes: usize, smtp_clients: usize) -> anyhow::Result<Phase> {
    let url =
        rapport_store::scratch::create_postgres_database(&opts.admin_url, "rapport_bench_cluster")
            .await?;
    let result = phase_on(opts, nodes, smtp_clients, &url).await;
    if let Err(e) = rapport_store::scratch::drop_postgres_database(&opts.admin_url, &url).await {
        eprintln!("rapport: could not drop the benchmark database: {e}");
    }
    result
}

async fn phase_on(
    opts: &Options,
    nodes: usize,
    smtp_clients: usize,
    url: &str,
) -> anyhow::Result<Phase> {
    let dir = TempDir::new("rapport-bench-cluster")?;
    let mut cluster = Cluster::start(nodes, url, &dir.0)?;
    let started_in = cluster.wait_ready().await?;
    let setup = setup(url).await?;
    let database = url.rsplit('/').next().unwrap_or_default().to_string();

    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_activity(
        opts.admin_url.clone(),
        database.clone(),
        stop_sampling.clone(),
    ));
    let before = pg_counters(&opts.admin_url, &database).await;
    let pids: Vec<u32> = cluster.nodes.iter().map(|n| n.child.id()).collect();
    let cpu_before = CpuTimes::now(&pids);
    let window = Instant::now();
    let http: Vec<String> = cluster.nodes.iter().map(|n| n.http.clone()).collect();
    let smtp: Vec<String> = cluster.nodes.iter().map(|n| n.smtp.clone()).collect();
    let deadline = Instant::now() + opts.duration;
    let (api, smtp_load) = tokio::join!(
        api_load(
            &http,
            &setup.token,
            opts.concurrency,
            opts.hot_customers,
            deadline
        ),
        smtp_load(&smtp, smtp_clients, deadline)
    );
    let cpu = cpu_since(CpuTimes::now(&pids), &cpu_before);
    let after = pg_counters(&opts.admin_url, &database).await;
    let window = window.elapsed().as_secs_f64();
    stop_sampling.store(true, Ordering::Relaxed);
    let activity = match sampler.await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            eprintln!("rapport: sampling pg_stat_activity failed: {e:#}");
            Activity::default()
        }
        Err(e) => {
            eprintln!("rapport: the pg_stat_activity sampler stopped: {e}");
            Activity::default()
        }
    };
    let (api, repeats, repeats_agreed) = api?;
    let smtp_load = smtp_load?;

    let exits = tokio::task::spawn_blocking(move || {
        let exits = cluster.stop();
        (exits, cluster)
    })
    .await?;
    let (exits, cluster) = exits;
    let node_log = cluster.logs();
    drop(cluster);

    let check = check(url, &api.acknowledged, &smtp_load.acknowledged).await?;
    let pg = PgFigures {
        window,
        database: match (&before, &after) {
            (Ok(b), Ok(a)) => Some(DatabaseCounters {
                commits: a.database.commits - b.database.commits,
                rollbacks: a.database.rollbacks - b.database.rollbacks,
                deadlocks: a.database.deadlocks - b.database.deadlocks,
            }),
            _ => None,
        },
        wal: match (&before, &after) {
            (Ok(b), Ok(a)) => match (&b.wal, &a.wal) {
                (Some(b), Some(a)) => Some(WalCounters {
                    records: a.records - b.records,
                    bytes: a.bytes - b.bytes,
                    writes: a.writes - b.writes,
                    syncs: a.syncs - b.syncs,
                }),
                _ => None,
            },
            _ => None,
        },
        activity,
    };
    drop(dir);
    Ok(Phase {
        nodes,
        started_in,
        cpu,
        api,
        smtp: smtp_load,
        repeats,
        repeats_agreed,
        check,
        pg,
        node_log,
        exits,
    })
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(rapport_store::scratch::unique_name(prefix));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Node {
    child: std::process::Child,
    http: String,
    smtp: String,
    log: PathBuf,
}

/// The phase's `rapport serve` processes: SIGTERM to all (then killed after 10 s) when
/// stopped or dropped, so no node outlives the benchmark, even on an error.
struct Cluster {
    nodes: Vec<Node>,
}

/// `count` distinct free loopback ports (all held until every one is chosen).
fn free_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    let held = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(held
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()?)
}

impl Cluster {
    /// Starts every node at once on the same (empty) database.
    fn start(count: usize, url: &str, dir: &Path) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut cluster = Self { nodes: Vec::new() };
        let ports = free_ports(count * 2)?;
        for k in 0..count {
            let http = format!("127.0.0.1:{}", ports[2 * k]);
            let smtp = format!("127.0.0.1:{}", ports[2 * k + 1]);
            let home = dir.join(format!("node{k}"));
            std::fs::create_dir_all(&home)?;
            let log = home.join("stderr.log");
            let mut cmd = std::process::Command::new(&exe);
            cmd.arg("serve").current_dir(&home);
            // Only what is set here: no relay, no configuration of the caller's.
            for (name, _) in std::env::vars_os() {
                if name.to_string_lossy().starts_with("RAPPORT_") {
                    cmd.env_remove(name);
                }
            }
            let child = cmd
                .env("RAPPORT_DATABASE_URL", url)
                .env("RAPPORT_HTTP", &http)
                .env("RAPPORT_SMTP", &smtp)
                .env("RAPPORT_DATA_DIR", home.join("data"))
                .env("RAPPORT_LOG", "warn")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(&log)?)
                .spawn()
                .with_context(|| format!("cannot start {}", exe.display()))?;
            cluster.nodes.push(Node {
                child,
                http,
                smtp,
                log,
            });
        }
        Ok(cluster)
    }

    /// Waits until every node answers `/healthz` (its SMTP listener is bound before that).
    async fn wait_ready(&mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        for k in 0..self.nodes.len() {
            loop {
                if let Some(status) = self.nodes[k].child.try_wait()? {
                    let log = std::fs::read_to_string(&self.nodes[k].log).unwrap_or_default();
                    anyhow::bail!(
                        "node {k} (rapport serve on {}) exited before answering: {status}\n{}",
                        self.nodes[k].http,
                        log.trim_end()
                    );
                }
                let url = format!("http://{}/healthz", self.nodes[k].http);
                if client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    break;
                }
                anyhow::ensure!(
                    started.elapsed() < START_TIMEOUT,
                    "node {k} did not answer on {} within {}s",
                    self.nodes[k].http,
                    START_TIMEOUT.as_secs()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(started.elapsed())
    }

    /// SIGTERM to every node, then waits up to 10 s for all, then kills the rest. Returns
    /// each node's exit code (`None` when it had to be killed).
    fn stop(&mut self) -> Vec<Option<i32>> {
        for node in &mut self.nodes {
            if let Ok(None) = node.child.try_wait() {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &node.child.id().to_string()])
                    .status();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut exits = vec![None; self.nodes.len()];
        loop {
            let mut running = 0;
            for (k, node) in self.nodes.iter_mut().enumerate() {
                match node.child.try_wait() {
                    Ok(Some(status)) => exits[k] = Some(status.code().unwrap_or(-1)),
                    Ok(None) => running += 1,
                    Err(_) => {}
                }
            }
            if running == 0 || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for (k, node) in self.nodes.iter_mut().enumerate() {
            if let Ok(None) = node.child.try_wait() {
                eprintln!("rapport: node {k} did not stop within 10 s of SIGTERM; killing it");
                let _ = node.child.kill();
                let _ = node.child.wait();
                exits[k] = None;
            }
        }
        exits
    }

    /// Every line the nodes wrote to standard error, prefixed with the node.
    fn logs(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (k, node) in self.nodes.iter().enumerate() {
            let text = std::fs::read_to_string(&node.log).unwrap_or_default();
            lines.extend(
                text.lines()
                    .map(strip_ansi)
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| format!("node {k}: {l}")),
            );
        }
        lines
    }
}

/// A log line without its terminal colours (`ESC [ … m`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self
            .nodes
            .iter_mut()
            .any(|n| matches!(n.child.try_wait(), Ok(None)))
        {
            self.stop();
        }
    }
}

struct Setup {
    token: String,
}

/// An agent with an API token and an inbox for the SMTP load, written through the store in
/// this process (the nodes have migrated the database by now).
async fn setup(url: &str) -> anyhow::Result<Setup> {
    let store = rapport_store::open(url).await?;
    let result = async {
        let ctx = system();
        let token =
            agent_with_token(store.as_ref(), "cluster-bench@example.com", "Cluster Bench").await?;
        store
            .create_inbox(
                ctx,
                INBOX_NAME,
                INBOX_ADDRESS,
                None,
                InboxPatch {
                    addresses: Some(vec![INBOX_ADDRESS.into()]),
                    ..InboxPatch::default()
                },
            )
            .await?;
        anyhow::Ok(Setup { token })
    }
    .await;
    store.close().await;
    result
}

/// Half the requests come from 500 returning customers, half from new ones. Spread (the
/// default): at any moment the clients ask for different returning customers, as a desk's
/// traffic does. Hot: every client asks for the same one at the same moment (`bench create`'s
/// pattern), so their tickets take turns on that address's lock.
fn customer(worker: usize, n: u64, hot: bool) -> String {
    if hot {
        bench_customer(worker, n)
    } else if n.is_multiple_of(2) {
        format!(
            "returning{}@example.com",
            (n / 2 + worker as u64 * 31) % 500
        )
    } else {
        format!("w{worker}-n{n}@example.com")
    }
}

fn system() -> Ctx {
    Ctx {
        actor: Actor::SYSTEM,
        at: rapport_web::now(),
    }
}

/// What one POST answered: the ticket id and whether it was a replay, or why it failed.
type Answer = Result<(i64, bool), String>;

async fn post_ticket(
    client: &reqwest::Client,
    node: &str,
    token: &str,
    key: &str,
    body: &str,
) -> Answer {
    let response = client
        .post(format!("http://{node}/api/v1/tickets"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("{node}: {e}"))?;
    let status = response.status();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let text = response
        .text()
        .await
        .map_err(|e| format!("{node}: reading the answer: {e}"))?;
    if status != reqwest::StatusCode::CREATED {
        let text: String = text.chars().take(200).collect();
        return Err(format!("{node}: HTTP {status}: {text}"));
    }
    let id = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("id").and_then(|id| id.as_i64()))
        .ok_or_else(|| format!("{node}: 201 without a ticket id"))?;
    Ok((id, replayed))
}

/// `concurrency` clients creating tickets until the deadline, request k of client w going
/// to node (w + k) mod N. Returns the load, the repeats sent and the repeats that agreed.
async fn api_load(
    nodes: &[String],
    token: &str,
    concurrency: usize,
    hot_customers: bool,
    deadline: Instant,
) -> anyhow::Result<(Load, u64, u64)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency * 2)
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let client = client.clone();
        let nodes = nodes.to_vec();
        let token = token.to_string();
        clients.spawn(async move {
            let mut load = Load::default();
            let (mut repeats, mut agreed) = (0u64, 0u64);
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let key = format!("cluster-w{worker}-n{n}");
                let subject = format!("Router keeps dropping ({key})");
                let body = serde_json::json!({
                    "subject": subject,
                    "customer": {"email": customer(worker, n, hot_customers), "name": "Bench Customer"},
                    "message": {"body": TICKET_BODY},
                    "priority": "normal",
                    "tags": ["bench", "cluster"],
                })
                .to_string();
                let node = &nodes[(worker + n as usize) % nodes.len()];
                if n.is_multiple_of(REPEAT_EVERY) {
                    // The same request to two nodes at once: one ticket, one of them replayed.
                    let other = &nodes[(worker + n as usize + 1) % nodes.len()];
                    repeats += 1;
                    let sent = Instant::now();
                    let first = async {
                        let a = post_ticket(&client, node, &token, &key, &body).await;
                        (a, sent.elapsed())
                    };
                    let second = async {
                        let b = post_ticket(&client, other, &token, &key, &body).await;
                        (b, sent.elapsed())
                    };
                    let ((a, la), (b, lb)) = tokio::join!(first, second);
                    let mut stored = false;
                    for (answer, latency) in [(&a, la), (&b, lb)] {
                        match answer {
                            Ok(_) => {
                                load.latencies.push(latency);
                                stored = true;
                            }
                            Err(e) => load.error(e.clone()),
                        }
                    }
                    if let (Ok((ia, ra)), Ok((ib, rb))) = (&a, &b) {
                        if ia == ib && (*ra ^ *rb) {
                            agreed += 1;
                        } else if ia != ib {
                            load.pair_mismatches += 1;
                            if load.mismatch_samples.len() < 5 {
                                load.mismatch_samples.push(format!(
                                    "key {key} answered with tickets {ia} and {ib}"
                                ));
                            }
                        } else {
                            load.error(format!(
                                "key {key}: both copies answered ticket {ia} with replayed = {ra}/{rb}"
                            ));
                        }
                    }
                    if stored {
                        load.acknowledged.push(subject);
                    }
                } else {
                    let sent = Instant::now();
                    match post_ticket(&client, node, &token, &key, &body).await {
                        Ok(_) => {
                            load.latencies.push(sent.elapsed());
                            load.acknowledged.push(subject);
                        }
                        Err(e) => load.error(e),
                    }
                }
            }
            (load, repeats, agreed)
        });
    }
    let mut total = Load::default();
    let (mut repeats, mut agreed) = (0, 0);
    while let Some(result) = clients.join_next().await {
        let (load, r, a) = result?;
        total.merge(load);
        repeats += r;
        agreed += a;
    }
    total.finish(started.elapsed().as_secs_f64());
    Ok((total, repeats, agreed))
}

/// One SMTP session (EHLO done) with one node.
struct SmtpConn {
    lines: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
    line: String,
}

impl SmtpConn {
    async fn open(addr: &str) -> anyhow::Result<Self> {
        let stream = tokio::time::timeout(REQUEST_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| anyhow::anyhow!("{addr}: connect timed out"))??;
        let (read, write) = stream.into_split();
        let mut conn = Self {
            lines: BufReader::new(read),
            write,
            line: String::new(),
        };
        tokio::time::timeout(REQUEST_TIMEOUT, async {
            expect(&mut conn.lines, &mut conn.line, "220").await?;
            conn.write.write_all(b"EHLO bench.example\r\n").await?;
            expect(&mut conn.lines, &mut conn.line, "250").await
        })
        .await
        .map_err(|_| anyhow::anyhow!("{addr}: greeting timed out"))??;
        Ok(conn)
    }

    /// One pipelined transaction; `Ok` only for the final 250 after the data.
    async fn send(&mut self, message: &str) -> anyhow::Result<()> {
        self.write.write_all(message.as_bytes()).await?;
        let mut replies = Vec::new();
        for _ in 0..4 {
            replies.push(read_reply(&mut self.lines, &mut self.line).await?);
        }
        for (reply, want) in replies.iter().zip(["250", "250", "354", "250"]) {
            if !reply.starts_with(want) {
                anyhow::bail!("expected {want}, got {}", reply.trim_end());
            }
        }
        Ok(())
    }
}

/// `clients` SMTP clients, each with a session on every node, sending message k to node
/// k mod N; every message has its own Message-ID and subject, so each opens a ticket.
async fn smtp_load(nodes: &[String], clients: usize, deadline: Instant) -> anyhow::Result<Load> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..clients {
        let nodes = nodes.to_vec();
        tasks.spawn(async move {
            let mut load = Load::default();
            let mut conns: Vec<Option<SmtpConn>> = Vec::new();
            for node in &nodes {
                match SmtpConn::open(node).await {
                    Ok(c) => conns.push(Some(c)),
                    Err(e) => {
                        load.error(format!("{e:#}"));
                        conns.push(None);
                    }
                }
            }
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let k = (worker + n as usize) % nodes.len();
                if conns[k].is_none() {
                    match SmtpConn::open(&nodes[k]).await {
                        Ok(c) => conns[k] = Some(c),
                        Err(e) => {
                            load.error(format!("{e:#}"));
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    }
                }
                let Some(conn) = conns[k].as_mut() else {
                    continue;
                };
                let sender = format!(
                    "customer{}@shop{worker}.example",
                    (worker as u64 * 7919 + n) % 2000
                );
                let id = format!("cluster-smtp-w{worker}-n{n}");
                let subject = format!("Router drops the connection every evening ({id})");
                let message = format!(
                    "MAIL FROM:<{sender}>\r\nRCPT TO:<{INBOX_ADDRESS}>\r\nDATA\r\n\
                     From: Ann Customer <{sender}>\r\nTo: Support <{INBOX_ADDRESS}>\r\n\
                     Subject: {subject}\r\nMessage-ID: <{id}@shop.example>\r\n\
                     Date: Tue, 24 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n\
                     Content-Type: text/plain; charset=utf-8\r\n\r\n{BODY}.\r\n"
                );
                let sent = Instant::now();
                match tokio::time::timeout(REQUEST_TIMEOUT, conn.send(&message)).await {
                    Ok(Ok(())) => {
                        load.latencies.push(sent.elapsed());
                        load.acknowledged.push(subject);
                    }
                    Ok(Err(e)) => {
                        load.error(format!("{}: {e:#}", nodes[k]));
                        // The session's state is unknown after a refusal: start a new one.
                        conns[k] = None;
                    }
                    Err(_) => {
                        load.error(format!("{}: no answer within 30 s", nodes[k]));
                        conns[k] = None;
                    }
                }
            }
            for mut conn in conns.into_iter().flatten() {
                let _ = conn.write.write_all(b"QUIT\r\n").await;
            }
            load
        });
    }
    let mut total = Load::default();
    while let Some(result) = tasks.join_next().await {
        total.merge(result?);
    }
    total.finish(started.elapsed().as_secs_f64());
    Ok(total)
}

/// What the database holds after a phase, against what was acknowledged.
#[derive(Default)]
struct Check {
    tickets: i64,
    api_tickets: i64,
    email_tickets: i64,
    duplicate_subjects: u64,
    duplicate_keys: u64,
    duplicate_message_ids: u64,
    message_ids_on_two_tickets: u64,
    orphan_customers: u64,
    lost: u64,
    unacknowledged: u64,
}

impl Check {
    fn duplicates(&self) -> u64 {
        self.duplicate_subjects
            + self.duplicate_keys
            + self.duplicate_message_ids
            + self.message_ids_on_two_tickets
            + self.orphan_customers
    }
}

async fn count(conn: &mut sqlx::PgConnection, sql: &'static str) -> anyhow::Result<i64> {
    let row = sqlx::query(sql)
        .fetch_one(&mut *conn)
        .await
        .with_context(|| format!("check failed: {sql}"))?;
    Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(0))
}

async fn check(url: &str, api: &[String], smtp: &[String]) -> anyhow::Result<Check> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let rows = sqlx::query("SELECT subject, channel FROM tickets")
        .fetch_all(&mut conn)
        .await?;
    let mut stored: HashMap<String, u64> = HashMap::new();
    let mut by_channel: HashMap<String, i64> = HashMap::new();
    for row in &rows {
        let subject: String = row.try_get(0)?;
        let channel: String = row.try_get(1)?;
        *stored.entry(subject).or_default() += 1;
        *by_channel.entry(channel).or_default() += 1;
    }
    let acknowledged: HashSet<&str> = api.iter().chain(smtp).map(String::as_str).collect();
    let mut check = Check {
        tickets: rows.len() as i64,
        api_tickets: by_channel.get("api").copied().unwrap_or(0),
        email_tickets: by_channel.get("email").copied().unwrap_or(0),
        duplicate_subjects: stored.values().map(|n| n - 1).sum(),
        lost: acknowledged
            .iter()
            .filter(|s| !stored.contains_key(**s))
            .count() as u64,
        unacknowledged: stored
            .keys()
            .filter(|s| !acknowledged.contains(s.as_str()))
            .count() as u64,
        ..Check::default()
    };
    check.duplicate_keys = count(
        &mut conn,
        "SELECT count(*) - count(DISTINCT (agent_id, key)) FROM idempotency_keys",
    )
    .await? as u64
        + count(
            &mut conn,
            "SELECT count(*) - count(DISTINCT resource_id) FROM idempotency_keys WHERE resource_type = 'ticket'",
        )
        .await? as u64;
    check.duplicate_message_ids = count(
        &mut conn,
        "SELECT count(message_id) - count(DISTINCT message_id) FROM inbound_emails",
    )
    .await? as u64;
    check.message_ids_on_two_tickets = count(
        &mut conn,
        "SELECT count(*) FROM (SELECT message_id FROM email_message_ids WHERE NOT outbound \
         GROUP BY message_id HAVING count(DISTINCT ticket_id) > 1) twice",
    )
    .await? as u64;
    check.orphan_customers = count(
        &mut conn,
        "SELECT count(*) FROM customers c WHERE NOT EXISTS \
         (SELECT 1 FROM customer_emails e WHERE e.customer_id = c.id)",
    )
    .await? as u64;
    let _ = conn.close().await;
    Ok(check)
}

#[derive(Default)]
struct Activity {
    samples: u64,
    /// Backends in a transaction summed over samples.
    busy: u64,
    max_busy: u64,
    max_connections: u64,
    /// `SELECT 1` round trips from the sampler's connection during the load.
    pings: Vec<Duration>,
    by_wait: BTreeMap<String, u64>,
    /// (wait, statement) for backends waiting on a lock.
    lock_statements: HashMap<(String, String), u64>,
}

/// Samples the phase database's client backends every 20 ms from its own connection (to the
/// admin database, so its queries do not count in the phase database's commits).
async fn sample_activity(
    admin_url: String,
    database: String,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Activity> {
    let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
    let mut activity = Activity::default();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let rows = sqlx::query(
            "SELECT state, wait_event_type, wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) \
             FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'",
        )
        .bind(&database)
        .fetch_all(&mut conn)
        .await?;
        activity.samples += 1;
        activity.max_connections = activity.max_connections.max(rows.len() as u64);
        let mut busy = 0;
        for row in rows {
            let state: Option<String> = row.try_get(0)?;
            let wait_type: Option<String> = row.try_get(1)?;
            let wait: Option<String> = row.try_get(2)?;
            let query: Option<String> = row.try_get(3)?;
            let label = match (state.as_deref(), wait_type, wait) {
                (Some("active"), None, _) | (Some("active"), _, None) => {
                    "CPU (running, no wait)".to_string()
                }
                (Some("active"), Some(t), Some(w)) => format!("{t}/{w}"),
                (Some("idle in transaction"), _, _) => {
                    "Client/ClientRead in a transaction (waiting for the node's next statement)"
                        .to_string()
                }
                _ => continue,
            };
            busy += 1;
            if label.starts_with("Lock/") || label.starts_with("LWLock/") {
                *activity
                    .lock_statements
                    .entry((label.clone(), query.unwrap_or_default()))
                    .or_default() += 1;
            }
            *activity.by_wait.entry(label).or_default() += 1;
        }
        activity.busy += busy;
        activity.max_busy = activity.max_busy.max(busy);
        let sent = Instant::now();
        sqlx::query("SELECT 1").execute(&mut conn).await?;
        activity.pings.push(sent.elapsed());
    }
    let _ = conn.close().await;
    Ok(activity)
}

struct PgFigures {
    window: f64,
    database: Option<DatabaseCounters>,
    wal: Option<WalCounters>,
    activity: Activity,
}

struct DatabaseCounters {
    commits: i64,
    rollbacks: i64,
    deadlocks: i64,
}

struct WalCounters {
    records: i64,
    bytes: f64,
    writes: i64,
    syncs: i64,
}

struct Counters {
    database: DatabaseCounters,
    wal: Option<WalCounters>,
}

/// The database's commit counters and the server's WAL counters (`pg_stat_wal`,
/// PostgreSQL 14 and later; cluster-wide).
async fn pg_counters(admin_url: &str, database: &str) -> anyhow::Result<Counters> {
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    let row = sqlx::query(
        "SELECT xact_commit, xact_rollback, deadlocks FROM pg_stat_database WHERE datname = $1",
    )
    .bind(database)
    .fetch_one(&mut conn)
    .await?;
    let database = DatabaseCounters {
        commits: row.try_get(0)?,
        rollbacks: row.try_get(1)?,
        deadlocks: row.try_get(2)?,
    };
    let wal = match sqlx::query(
        "SELECT wal_records, wal_bytes::float8, wal_write, wal_sync FROM pg_stat_wal",
    )
    .fetch_one(&mut conn)
    .await
    {
        Ok(row) => Some(WalCounters {
            records: row.try_get(0)?,
            bytes: row.try_get(1)?,
            writes: row.try_get(2)?,
            syncs: row.try_get(3)?,
        }),
        Err(_) => None,
    };
    let _ = conn.close().await;
    Ok(Counters { database, wal })
}

/// Round trips through the store in this process, one call at a time on a fresh database.
struct RoundTrips {
    ping: Duration,
    auth: f64,
    create: f64,
    ticket_time: Duration,
    email: f64,
    email_time: Duration,
}

impl RoundTrips {
    fn print(&self) {
        let per_ticket = self.auth + self.create;
        println!(
            "  round trips per API ticket: {per_ticket:.1} ({:.1} reading the token + {:.1} creating the ticket; statements, BEGIN and COMMIT counted by the store)",
            self.auth, self.create
        );
        println!(
            "    one at a time: {:.2} ms per ticket; one SELECT 1 round trip {:.3} ms, so {:.2} ms ({:.0}%) of each ticket is round-trip latency",
            ms(self.ticket_time),
            ms(self.ping),
            per_ticket * ms(self.ping),
            per_ticket * ms(self.ping) * 100.0 / ms(self.ticket_time).max(1e-9)
        );
        println!(
            "  round trips per SMTP message: {:.1} (the RCPT check and storing it), {:.2} ms each one at a time",
            self.email,
            ms(self.email_time)
        );
    }
}

async fn round_trips(admin_url: &str) -> anyhow::Result<RoundTrips> {
    let url =
        rapport_store::scratch::create_postgres_database(admin_url, "rapport_bench_cluster_rt")
            .await?;
    let result = round_trips_on(&url).await;
    if let Err(e) = rapport_store::scratch::drop_postgres_database(admin_url, &url).await {
        eprintln!("rapport: could not drop the benchmark database: {e}");
    }
    result
}

async fn round_trips_on(url: &str) -> anyhow::Result<RoundTrips> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let mut pings = Vec::new();
    for _ in 0..500 {
        let sent = Instant::now();
        sqlx::query("SELECT 1").execute(&mut conn).await?;
        pings.push(sent.elapsed());
    }
    pings.sort();
    let _ = conn.close().await;

    let setup = setup(url).await?;
    let store = rapport_store::open(url).await?;
    let result = async {
        let hash = auth::token_hash(&setup.token);
        let (mut auth_trips, mut create_trips) = (0u64, 0u64);
        let started = Instant::now();
        for n in 0..ROUND_TRIP_TICKETS {
            let before = rapport_store::postgres_round_trips();
            let principal = store
                .principal_by_token(&hash)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the bench token is not found"))?;
            let middle = rapport_store::postgres_round_trips();
            let key = format!("rt-{n}");
            store
                .create_ticket(
                    system(),
                    NewTicket {
                        subject: format!("Router keeps dropping ({key})"),
                        requester: Requester {
                            customer_id: None,
                            email: customer(0, n + 1, false),
                            name: Some("Bench Customer".into()),
                        },
                        body: TICKET_BODY.into(),
                        channel: Channel::Api,
                        priority: Priority::Normal,
                        status: TicketStatus::New,
                        tags: vec!["bench".into(), "cluster".into()],
                        inbox: None,
                        assignee_id: None,
                        team_id: None,
                        custom_fields: Default::default(),
                    },
                    Some(Idempotency {
                        agent_id: principal.agent_id,
                        key: key.clone(),
                        fingerprint: format!("POST /tickets:{key}"),
                    }),
                )
                .await?;
            let after = rapport_store::postgres_round_trips();
            auth_trips += middle - before;
            create_trips += after - middle;
        }
        let ticket_time = started.elapsed() / ROUND_TRIP_TICKETS as u32;

        let sink = Inbound {
            secret: reply_secret(store.as_ref()).await?,
            store: store.clone(),
            max_attachment_bytes: 20 * 1024 * 1024,
        };
        let before = rapport_store::postgres_round_trips();
        let started = Instant::now();
        for n in 0..ROUND_TRIP_EMAILS {
            let sender = format!("customer{n}@shop.example");
            let raw = format!(
                "From: Ann Customer <{sender}>\r\nTo: Support <{INBOX_ADDRESS}>\r\n\
                 Subject: Router drops the connection every evening (rt-{n})\r\n\
                 Message-ID: <rt-{n}@shop.example>\r\nDate: Tue, 24 Nov 2026 09:00:00 +0000\r\n\
                 MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{BODY}"
            );
            anyhow::ensure!(
                sink.accepts(INBOX_ADDRESS).await?,
                "the bench inbox refuses mail"
            );
            sink.deliver(Delivery {
                source: Source::Smtp,
                envelope_from: Some(sender),
                recipients: vec![INBOX_ADDRESS.into()],
                inbox: None,
                raw: raw.into_bytes(),
            })
            .await?;
        }
        let email_time = started.elapsed() / ROUND_TRIP_EMAILS as u32;
        let email_trips = rapport_store::postgres_round_trips() - before;
        anyhow::Ok(RoundTrips {
            ping: percentile(&pings, 0.5),
            auth: auth_trips as f64 / ROUND_TRIP_TICKETS as f64,
            create: create_trips as f64 / ROUND_TRIP_TICKETS as f64,
            ticket_time,
            email: email_trips as f64 / ROUND_TRIP_EMAILS as f64,
            email_time,
        })
    }
    .await;
    store.close().await;
    result
}

/// CPU seconds from /proc: the whole machine (busy and total, summed over cores), the nodes
/// and this process. Linux reports both in USER_HZ ticks, 100 per second.
struct CpuTimes {
    wall: f64,
    cores: usize,
    machine_busy: f64,
    machine_total: f64,
    nodes: f64,
    bench: f64,
    /// Every process named `postgres` (other databases' backends too).
    postgres: f64,
    at: Instant,
}

const USER_HZ: f64 = 100.0;

impl CpuTimes {
    fn now(pids: &[u32]) -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let ticks: Vec<f64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        let field = |i: usize| ticks.get(i).copied().unwrap_or(0.0);
        let idle = field(3) + field(4);
        let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
        let mut nodes = 0.0;
        for pid in pids {
            nodes += process_cpu(&pid.to_string())?;
        }
        Some(Self {
            wall: 0.0,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            machine_busy: busy / USER_HZ,
            machine_total: (busy + idle) / USER_HZ,
            nodes,
            bench: process_cpu("self")?,
            postgres: postgres_cpu(),
            at: Instant::now(),
        })
    }
}

/// The CPU used between two snapshots.
fn cpu_since(now: Option<CpuTimes>, before: &Option<CpuTimes>) -> Option<CpuTimes> {
    let (now, before) = (now?, before.as_ref()?);
    Some(CpuTimes {
        wall: now.at.duration_since(before.at).as_secs_f64(),
        cores: now.cores,
        machine_busy: now.machine_busy - before.machine_busy,
        machine_total: now.machine_total - before.machine_total,
        nodes: now.nodes - before.nodes,
        bench: now.bench - before.bench,
        postgres: now.postgres - before.postgres,
        at: now.at,
    })
}

/// CPU seconds of every process named `postgres` (the server and its backends).
fn postgres_cpu() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .filter_map(|pid| process_cpu(&pid))
        .sum()
}

/// User + system CPU seconds of a process (`self` for this one).
fn process_cpu(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}
