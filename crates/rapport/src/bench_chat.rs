//! `rapport bench chat`: many concurrent chat visitors on one `rapport serve` node.
//!
//! The real binary runs as a child process (its RSS is read from /proc). Every visitor opens a
//! WebSocket to `/widget/ws`, says hello and starts a conversation (a ticket). Then, for the
//! measured period, agents answer random conversations through the API while visitors keep
//! writing; each agent reply carries the time it was sent, so the visitor's socket measures
//! the whole way: the API write, its commit, the event follower, the chat hub and the socket.
//! The API's own answer time is the baseline: what the delivery adds is the difference.
//!
//! Visitors come from distinct addresses through a trusted proxy (`X-Forwarded-For`), as they
//! would in production behind a load balancer, so per-address limits see 10,000 people, not
//! one client.

use crate::bench::{Scratch, ms, percentile};
use crate::bench_memory::{ServeChild, mib};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Semaphore, watch};
use tokio_tungstenite::tungstenite::{
    self, Message, client::IntoClientRequest, protocol::WebSocketConfig,
};

pub struct Options {
    pub visitors: usize,
    pub seconds: u64,
    /// Agent replies per second, spread over random conversations.
    pub replies_per_second: u32,
    /// Visitor messages per second, spread over all visitors.
    pub messages_per_second: u32,
    pub postgres: Option<String>,
}

/// How many sockets connect at the same moment while the crowd arrives.
const CONNECTING_AT_ONCE: usize = 200;
const REPLY_MARK: &str = "bench reply at ";

pub async fn run(options: Options) -> anyhow::Result<()> {
    let scratch = Scratch::new(options.postgres.as_deref(), "chat").await?;
    let result = run_on(&scratch.url(), &options).await;
    scratch.remove().await;
    result
}

/// What every visitor task reports, shared.
#[derive(Default)]
struct Tally {
    /// Agent reply → visitor socket, measured from just before the API request.
    delivered: Mutex<Vec<Duration>>,
    /// Visitor message → its `ack`.
    acked: Mutex<Vec<Duration>>,
    /// Conversations (ticket ids) the visitors started, for the agents to answer.
    conversations: Mutex<Vec<i64>>,
    errors: AtomicU64,
    unexpected_frames: AtomicU64,
    duplicates: AtomicU64,
}

async fn run_on(url: &str, options: &Options) -> anyhow::Result<()> {
    let (token, inbox_id) = prepare(url).await?;
    let mut child = ServeChild::start_with(
        url,
        "rapport-bench-chat",
        &[("RAPPORT_TRUSTED_PROXIES", "127.0.0.1")],
    )?;
    let result = measure(&mut child, &token, inbox_id, options).await;
    child.stop().await?;
    result
}

/// An API token for the answering agents and the inbox whose widget the visitors use.
async fn prepare(url: &str) -> anyhow::Result<(String, i64)> {
    let store = rapport_store::open(url).await?;
    let token =
        crate::bench::agent_with_token(&*store, "chat-bench@example.com", "Chat Bench").await?;
    let inbox = store
        .list_inboxes()
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("the database has no inbox"))?;
    let ctx = rapport_store::Ctx {
        actor: rapport_core::Actor::SYSTEM,
        at: rapport_web::now(),
    };
    let on = rapport_store::ChatWidgetPatch {
        enabled: Some(true),
        ..Default::default()
    };
    store.update_chat_widget(ctx, inbox.id, on).await?;
    store.close().await;
    Ok((token, inbox.id))
}

async fn measure(
    child: &mut ServeChild,
    token: &str,
    inbox_id: i64,
    options: &Options,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()?;
    child.wait_until_answering(&client).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = child.rss_kib().unwrap_or(0);
    println!(
        "bench chat: {} visitors on one `rapport serve` node (pid {}), {}",
        options.visitors,
        child.pid(),
        if options.postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    println!("  idle RSS: {:.1} MiB", mib(idle));

    let base = Instant::now();
    let tally = Arc::new(Tally::default());
    let (stop_tx, stop) = watch::channel(false);
    let ws_url = format!("ws://{}/widget/ws?inbox={inbox_id}", child.http);
    let gate = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
    let started = Arc::new(AtomicU64::new(0));
    let arriving = Instant::now();
    let mut visitors = tokio::task::JoinSet::new();
    let message_every = Duration::from_secs_f64(
        options.visitors as f64 / options.messages_per_second.max(1) as f64,
    );
    for i in 0..options.visitors {
        let visitor = Visitor {
            index: i,
            url: ws_url.clone(),
            base,
            tally: tally.clone(),
            stop: stop.clone(),
            gate: gate.clone(),
            started: started.clone(),
            message_every,
        };
        visitors.spawn(visitor.run());
    }
    // The crowd has arrived when every visitor started a conversation (or failed trying).
    while (started.load(Ordering::Relaxed) + tally.errors.load(Ordering::Relaxed))
        < options.visitors as u64
    {
        anyhow::ensure!(
            arriving.elapsed() < Duration::from_secs(600),
            "visitors still arriving after 600 s ({} started)",
            started.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let arrived_in = arriving.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let connected = child.rss_kib().unwrap_or(0);
    let conversations = tally.conversations.lock().await.clone();
    println!(
        "  arrival: {} conversations started in {:.1}s ({:.0}/s: connect, hello, first message, ack), {} errors",
        conversations.len(),
        arrived_in.as_secs_f64(),
        conversations.len() as f64 / arrived_in.as_secs_f64(),
        tally.errors.load(Ordering::Relaxed)
    );
    println!(
        "  RSS with {} sockets open: {:.1} MiB ({:.1} KiB per visitor above idle)",
        conversations.len(),
        mib(connected),
        connected.saturating_sub(idle) as f64 / conversations.len().max(1) as f64
    );
    anyhow::ensure!(
        !conversations.is_empty(),
        "no visitor started a conversation"
    );
    tally.acked.lock().await.clear();

    let (api_times, peak) =
        agents_reply(child, &client, token, &conversations, options, base, &tally).await?;
    // Late deliveries still count; then everyone leaves.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop_tx.send(true);
    while visitors.join_next().await.is_some() {}

    let mut delivered = tally.delivered.lock().await.clone();
    let mut acked = tally.acked.lock().await.clone();
    let mut api = api_times;
    delivered.sort();
    acked.sort();
    api.sort();
    println!(
        "  agent replies: {} sent through the API over {}s, {} delivered to visitors' sockets",
        api.len(),
        options.seconds,
        delivered.len()
    );
    print_latencies("API answer (baseline)", &api);
    print_latencies("reply → visitor socket", &delivered);
    if let (Some(a), Some(d)) = (
        api.get(api.len().saturating_sub(1) * 99 / 100),
        delivered.get(delivered.len().saturating_sub(1) * 99 / 100),
    ) {
        println!(
            "    delivery adds {:.1} ms at p99 over the API's own answer",
            ms(*d) - ms(*a)
        );
    }
    print_latencies("visitor message → ack", &acked);
    println!(
        "  peak RSS under load: {:.1} MiB; errors {}, unexpected frames {}, duplicate deliveries {}",
        mib(peak),
        tally.errors.load(Ordering::Relaxed),
        tally.unexpected_frames.load(Ordering::Relaxed),
        tally.duplicates.load(Ordering::Relaxed)
    );
    Ok(())
}

fn print_latencies(what: &str, sorted: &[Duration]) {
    println!(
        "    {what:<24} p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
        ms(percentile(sorted, 0.50)),
        ms(percentile(sorted, 0.95)),
        ms(percentile(sorted, 0.99)),
        ms(sorted.last().copied().unwrap_or_default()),
        sorted.len()
    );
}

/// Agents answer random conversations at the given rate for the measured period; returns the
/// API's answer times and the node's peak RSS meanwhile.
async fn agents_reply(
    child: &ServeChild,
    client: &reqwest::Client,
    token: &str,
    conversations: &[i64],
    options: &Options,
    base: Instant,
    tally: &Arc<Tally>,
) -> anyhow::Result<(Vec<Duration>, u64)> {
    let api_times = Arc::new(Mutex::new(Vec::new()));
    let in_flight = Arc::new(Semaphore::new(64));
    let every = Duration::from_secs_f64(1.0 / options.replies_per_second.max(1) as f64);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let until = Instant::now() + Duration::from_secs(options.seconds);
    let mut peak = 0;
    let mut last_sample = Instant::now();
    let mut sent = tokio::task::JoinSet::new();
    let mut n: u64 = 0;
    while Instant::now() < until {
        tick.tick().await;
        n += 1;
        let ticket = conversations[(rand::random::<u64>() % conversations.len() as u64) as usize];
        let permit = in_flight.clone().acquire_owned().await?;
        let request = client
            .post(format!(
                "http://{}/api/v1/tickets/{ticket}/messages",
                child.http
            ))
            .bearer_auth(token);
        let api_times = api_times.clone();
        let tally = tally.clone();
        sent.spawn(async move {
            let at = Instant::now();
            let body = format!("{REPLY_MARK}{} (#{n})", at.duration_since(base).as_micros());
            let answer = request
                .json(&json!({"body": body, "public": true}))
                .send()
                .await;
            match answer {
                Ok(r) if r.status().is_success() => api_times.lock().await.push(at.elapsed()),
                _ => {
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            drop(permit);
        });
        if last_sample.elapsed() >= Duration::from_millis(100) {
            peak = child.rss_kib().unwrap_or(0).max(peak);
            last_sample = Instant::now();
        }
    }
    while sent.join_next().await.is_some() {}
    let times = api_times.lock().await.clone();
    Ok((times, peak.max(child.rss_kib().unwrap_or(0))))
}

struct Visitor {
    index: usize,
    url: String,
    base: Instant,
    tally: Arc<Tally>,
    stop: watch::Receiver<bool>,
    gate: Arc<Semaphore>,
    started: Arc<AtomicU64>,
    message_every: Duration,
}

impl Visitor {
    async fn run(mut self) {
        if let Err(e) = self.chat().await {
            self.tally.errors.fetch_add(1, Ordering::Relaxed);
            if self.tally.errors.load(Ordering::Relaxed) <= 5 {
                eprintln!("visitor {}: {e:#}", self.index);
            }
        }
    }

    /// A request from a distinct address behind the trusted proxy.
    fn request(&self) -> anyhow::Result<tungstenite::handshake::client::Request> {
        let mut request = self.url.as_str().into_client_request()?;
        let i = self.index as u32 + 1;
        let address = format!("10.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
        request
            .headers_mut()
            .insert("x-forwarded-for", address.parse()?);
        Ok(request)
    }

    async fn chat(&mut self) -> anyhow::Result<()> {
        let permit = self.gate.acquire().await?;
        // Small buffers: ten thousand sockets of tungstenite's default 128 KiB would make the
        // load generator, on the same machine, the memory hog.
        let config = WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(0);
        let (socket, _) =
            tokio_tungstenite::connect_async_with_config(self.request()?, Some(config), false)
                .await?;
        let (mut tx, mut rx) = socket.split();
        let hello = json!({
            "type": "hello", "token": null, "after": 0,
            "name": format!("Visitor {}", self.index),
            "email": format!("visitor{}@example.com", self.index),
        });
        tx.send(Message::text(hello.to_string())).await?;
        expect_frame(&mut rx, "welcome").await?;
        let first = json!({"type": "message", "client_id": "first", "body": "Hello, my router keeps dropping the connection."});
        tx.send(Message::text(first.to_string())).await?;
        let ack = expect_frame(&mut rx, "ack").await?;
        let conversation = ack["conversation"]
            .as_i64()
            .ok_or_else(|| anyhow::anyhow!("ack without a conversation: {ack}"))?;
        drop(permit);
        self.tally.conversations.lock().await.push(conversation);
        self.started.fetch_add(1, Ordering::Relaxed);

        // Each visitor writes every `message_every`, starting at a random moment in it.
        let phase = self.message_every.mul_f64(rand::random::<f64>());
        let mut next_message = tokio::time::Instant::now() + phase;
        let mut sent_at: Option<(String, Instant)> = None;
        let mut last_seq = 0;
        let mut written = 0u64;
        loop {
            tokio::select! {
                _ = self.stop.changed() => break,
                _ = tokio::time::sleep_until(next_message), if sent_at.is_none() => {
                    written += 1;
                    let client_id = format!("m{written}");
                    let frame = json!({"type": "message", "client_id": client_id, "body": format!("Still there? ({written})")});
                    tx.send(Message::text(frame.to_string())).await?;
                    sent_at = Some((client_id, Instant::now()));
                    next_message += self.message_every;
                }
                frame = rx.next() => {
                    let Some(frame) = frame else { anyhow::bail!("the server closed the socket") };
                    let Message::Text(text) = frame? else { continue };
                    let value: Value = serde_json::from_str(text.as_str())?;
                    match value["type"].as_str() {
                        Some("ack") => match &sent_at {
                            Some((id, at)) if value["client_id"].as_str() == Some(id) => {
                                self.tally.acked.lock().await.push(at.elapsed());
                                sent_at = None;
                            }
                            _ => {
                                self.tally.unexpected_frames.fetch_add(1, Ordering::Relaxed);
                            }
                        },
                        Some("message") => {
                            let seq = value["seq"].as_i64().unwrap_or(0);
                            if seq <= last_seq {
                                self.tally.duplicates.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            last_seq = seq;
                            if let Some(latency) = reply_latency(&value, self.base) {
                                self.tally.delivered.lock().await.push(latency);
                            }
                        }
                        Some("typing") | Some("pong") => {}
                        _ => {
                            self.tally.unexpected_frames.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
        let _ = tx.send(Message::Close(None)).await;
        Ok(())
    }
}

/// An agent reply's time on the way, from the send time it carries.
fn reply_latency(frame: &Value, base: Instant) -> Option<Duration> {
    if frame["from"].as_str() != Some("agent") {
        return None;
    }
    let body = frame["body"].as_str()?;
    let micros: u64 = body
        .strip_prefix(REPLY_MARK)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(base.elapsed().saturating_sub(Duration::from_micros(micros)))
}

/// The next text frame, which must be of type `kind`.
async fn expect_frame<S>(rx: &mut S, kind: &str) -> anyhow::Result<Value>
where
    S: futures::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), rx.next())
            .await
            .map_err(|_| anyhow::anyhow!("no {kind} within 60 s"))?
            .ok_or_else(|| anyhow::anyhow!("the server closed the socket before {kind}"))??;
        let Message::Text(text) = frame else { continue };
        let value: Value = serde_json::from_str(text.as_str())?;
        if value["type"] == kind {
            return Ok(value);
        }
        if value["type"] == "error" {
            anyhow::bail!("error instead of {kind}: {value}");
        }
    }
}
