//! `rapport bench memory`: the real binary's resident memory (`VmRSS`), idle and under load.
//! `rapport serve` runs as a child process configured through `RAPPORT_*` variables on free
//! loopback ports; this process drives ticket creates through the API, views and searches
//! from concurrent clients and samples the child's RSS every 100 ms.

use crate::bench::Scratch;
use crate::bench_pages::sign_in;
use crate::bench_seed::PASSWORD;
use rapport_core::{Actor, Role};
use rapport_store::{Ctx, NewAgent};
use rapport_web::auth;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub async fn run(
    seeded: Option<String>,
    duration: Duration,
    concurrency: usize,
) -> anyhow::Result<()> {
    let scratch = match &seeded {
        Some(_) => None,
        None => Some(Scratch::new(None, "memory").await?),
    };
    let url = match (&seeded, &scratch) {
        (Some(url), _) => url.clone(),
        (None, Some(scratch)) => scratch.url(),
        (None, None) => anyhow::bail!("no database"),
    };
    let result = run_on(&url, seeded.is_some(), duration, concurrency).await;
    if let Some(scratch) = scratch {
        scratch.remove().await;
    }
    result
}

/// An agent who can sign in (agent0, made on an empty database) and a fresh API token.
async fn prepare(url: &str) -> anyhow::Result<String> {
    let store = rapport_store::open(url).await?;
    let ctx = Ctx {
        actor: Actor::SYSTEM,
        at: rapport_web::now(),
    };
    let agent = match store.agent_login("agent0@example.com").await? {
        Some(login) => login.agent,
        None => {
            store
                .create_agent(
                    ctx,
                    NewAgent {
                        email: "agent0@example.com".into(),
                        name: "Agent 0".into(),
                        role: Role::Admin,
                        password_hash: Some(auth::hash_password(PASSWORD)?),
                    },
                )
                .await?
        }
    };
    let token = auth::new_token();
    store
        .create_api_token(
            ctx,
            agent.id,
            &rapport_store::scratch::unique_name("bench-memory"),
            &auth::token_hash(&token),
        )
        .await?;
    store.close().await;
    Ok(token)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `rapport serve` as a child process on free loopback ports, stopped with SIGTERM (killed
/// after 10 s) when stopped or dropped; its home directory is removed afterwards.
pub(crate) struct ServeChild {
    child: std::process::Child,
    /// `host:port` of its HTTP listener.
    pub(crate) http: String,
    dir: std::path::PathBuf,
}

impl ServeChild {
    pub(crate) fn start(url: &str, name: &str) -> anyhow::Result<Self> {
        Self::start_with(url, name, &[])
    }

    /// Started with these extra `RAPPORT_*` settings.
    pub(crate) fn start_with(url: &str, name: &str, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let http = format!("127.0.0.1:{}", free_port()?);
        let smtp = format!("127.0.0.1:{}", free_port()?);
        let dir = std::env::temp_dir().join(rapport_store::scratch::unique_name(name));
        std::fs::create_dir_all(&dir)?;
        let child = std::process::Command::new(std::env::current_exe()?)
            .arg("serve")
            .current_dir(&dir)
            .env("RAPPORT_DATABASE_URL", url)
            .env("RAPPORT_HTTP", &http)
            .env("RAPPORT_SMTP", &smtp)
            .env("RAPPORT_DATA_DIR", dir.join("data"))
            .env("RAPPORT_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .spawn()?;
        Ok(ServeChild { child, http, dir })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until its sign-in page answers; how long that took.
    pub(crate) async fn wait_until_answering(
        &mut self,
        client: &reqwest::Client,
    ) -> anyhow::Result<Duration> {
        let starting = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("rapport serve exited before answering: {status}");
            }
            if client
                .get(format!("http://{}/login", self.http))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(starting.elapsed());
            }
            anyhow::ensure!(
                starting.elapsed() < Duration::from_secs(120),
                "rapport serve did not answer within 120 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Its resident set in KiB, from /proc.
    pub(crate) fn rss_kib(&self) -> Option<u64> {
        let pid = self.pid();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// SIGTERM, then prints how it stopped.
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut code = None;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                code = Some(status.code());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        match code {
            Some(Some(0)) => println!("  stopped cleanly on SIGTERM"),
            Some(Some(code)) => println!("  exited with {code} after SIGTERM"),
            Some(None) => println!("  was stopped by a signal after SIGTERM"),
            None => {
                println!("  did not stop within 10 s of SIGTERM; killed");
                self.child.kill()?;
                self.child.wait()?;
            }
        }
        Ok(())
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

async fn run_on(
    url: &str,
    seeded: bool,
    duration: Duration,
    concurrency: usize,
) -> anyhow::Result<()> {
    let token = prepare(url).await?;
    let (tickets, _, _) = crate::bench_seed::counts(url).await?;
    let mut child = ServeChild::start(url, "rapport-bench-memory")?;
    let result = measure(&mut child, &token, seeded, tickets, duration, concurrency).await;
    child.stop().await?;
    result
}

async fn measure(
    child: &mut ServeChild,
    token: &str,
    seeded: bool,
    tickets: i64,
    duration: Duration,
    concurrency: usize,
) -> anyhow::Result<()> {
    let pid = child.pid();
    let base = format!("http://{}", child.http);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let started_in = child.wait_until_answering(&client).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = child
        .rss_kib()
        .ok_or_else(|| anyhow::anyhow!("cannot read /proc/{pid}/status"))?;
    println!(
        "bench memory: rapport serve (pid {pid}) on {} ({tickets} tickets), answering after {:.1}s",
        if seeded {
            "the seeded database"
        } else {
            "an empty temporary database"
        },
        started_in.as_secs_f64()
    );
    println!(
        "  idle RSS:   {:.1} MiB (3 s after it first answered)",
        mib(idle)
    );

    let cookie = sign_in(&client, &base, "agent0@example.com", PASSWORD).await?;
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let mut clients = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let client = client.clone();
        let base = base.clone();
        let auth_header = format!("Bearer {token}");
        let cookie = cookie.clone();
        let done = done.clone();
        let errors = errors.clone();
        clients.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let request = match n % 10 {
                    0..=5 => client
                        .post(format!("{base}/api/v1/tickets"))
                        .header("authorization", &auth_header)
                        .json(&serde_json::json!({
                            "subject": format!("Router keeps dropping (#{worker}-{n})"),
                            "customer": {"email": format!("memory{}@example.com", n % 1000), "name": "Memory Bench"},
                            "message": {"body": "Since Monday our connection drops every evening between 7 and 9 pm."},
                            "tags": ["bench"],
                        })),
                    6 => client.get(format!("{base}/?view=all")).header("cookie", &cookie),
                    7 => client.get(format!("{base}/?view=unassigned")).header("cookie", &cookie),
                    8 => client
                        .get(format!("{base}/search?q={}", ["refund", "router+firmware", "status%3Aopen+password", "invoic*"][(n as usize / 10) % 4]))
                        .header("cookie", &cookie),
                    _ => client
                        .get(format!("{base}/t/{}", 10_001 + (n as i64 * 7_919 + worker as i64) % tickets.max(1)))
                        .header("cookie", &cookie),
                };
                match request.send().await {
                    Ok(r) if r.status().is_success() || r.status().is_redirection() => {
                        let _ = r.bytes().await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    let mut peak = idle;
    let mut samples = 0u64;
    let load_started = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(rss) = child.rss_kib() {
            peak = peak.max(rss);
            samples += 1;
        }
    }
    while clients.join_next().await.is_some() {}
    let after = child.rss_kib().unwrap_or(0);
    let secs = load_started.elapsed().as_secs_f64();
    println!(
        "  under load: peak RSS {:.1} MiB ({samples} samples every 100 ms over {secs:.0}s; {} requests, {:.0}/s, {} errors; 60% ticket creates, 20% views, 10% search, 10% ticket pages; {concurrency} clients)",
        mib(peak),
        done.load(Ordering::Relaxed),
        done.load(Ordering::Relaxed) as f64 / secs,
        errors.load(Ordering::Relaxed)
    );
    println!("  after load: {:.1} MiB", mib(after));
    Ok(())
}
