//! `rapport bench pages`: server time of the workspace's main views and the ticket page on a
//! seeded database, against the JSON API's ticket list measured in the same run.

use crate::bench::{Scratch, ms, percentile};
use rapport_core::{Actor, Channel, MessageKind, Priority, Role, TicketStatus};
use rapport_store::{Ctx, NewAgent, NewMessage, NewTicket, Requester, Store};
use rapport_web::auth;
use std::sync::Arc;
use std::time::{Duration, Instant};

const AGENTS: i64 = 10;

pub async fn run(tickets: u64, rounds: usize, postgres: Option<&str>) -> anyhow::Result<()> {
    let scratch = Scratch::new(postgres, "pages").await?;
    let result = run_on(tickets, rounds, &scratch).await;
    scratch.remove().await;
    result
}

fn ctx(actor: Actor) -> Ctx {
    Ctx {
        actor,
        at: rapport_web::now(),
    }
}

/// Tickets with a conversation of three (customer, reply, note), spread over agents,
/// statuses and priorities the way a working desk is: most solved, some open, few urgent.
async fn seed(store: &Arc<dyn Store>, tickets: u64, agent_ids: &[i64]) -> anyhow::Result<()> {
    let workers = 16;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let store = store.clone();
        let agent_ids = agent_ids.to_vec();
        tasks.spawn(async move {
            let mut n = w;
            while n < tickets {
                let status = match n % 10 {
                    0..=5 => TicketStatus::Solved,
                    6 | 7 => TicketStatus::Open,
                    8 => TicketStatus::Pending,
                    _ => TicketStatus::New,
                };
                let priority = match (n / 10) % 20 {
                    0 => Priority::Urgent,
                    1..=4 => Priority::High,
                    5..=7 => Priority::Low,
                    _ => Priority::Normal,
                };
                let assignee = (status != TicketStatus::New)
                    .then(|| agent_ids[(n as usize) % agent_ids.len()]);
                let new = NewTicket {
                    subject: format!("Router drops the connection every evening (#{n})"),
                    requester: Requester {
                        customer_id: None,
                        email: format!("customer{}@example{}.com", n % (tickets / 5 + 1), n % 50),
                        name: Some(format!("Customer {}", n % (tickets / 5 + 1))),
                    },
                    body: "Since Monday our connection drops every evening between 7 and 9 pm. \
                           We restarted the router twice. Order 4711-22."
                        .into(),
                    channel: Channel::Email,
                    priority,
                    status,
                    tags: vec!["connectivity".into()],
                    inbox: None,
                    assignee_id: assignee,
                    team_id: Some(1),
                    custom_fields: Default::default(),
                };
                let id = store
                    .create_ticket(ctx(Actor::SYSTEM), new, None)
                    .await?
                    .value
                    .id;
                for (kind, body) in [
                    (
                        MessageKind::Note,
                        "Known firmware issue, see the 2.4 release notes.",
                    ),
                    (
                        MessageKind::Reply,
                        "Thanks, a firmware update is on its way; we will check in tomorrow.",
                    ),
                ] {
                    let m = NewMessage {
                        kind,
                        channel: Channel::Email,
                        body: body.into(),
                        send_email: false,
                        attachments: Vec::new(),
                    };
                    let author = Actor::agent(agent_ids[(n as usize) % agent_ids.len()]);
                    // Solved and closed tickets take no new messages without reopening;
                    // their conversation is what was written before they were solved.
                    let _ = store.add_message(ctx(author), id, m, None).await;
                }
                n += workers;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

async fn run_on(tickets: u64, rounds: usize, scratch: &Scratch) -> anyhow::Result<()> {
    let store = rapport_store::open(&scratch.url()).await?;
    let password = "bench password 123";
    let hash = auth::hash_password(password)?;
    let mut agent_ids = Vec::new();
    for i in 0..AGENTS {
        let agent = store
            .create_agent(
                ctx(Actor::SYSTEM),
                NewAgent {
                    email: format!("agent{i}@example.com"),
                    name: format!("Agent {i}"),
                    role: Role::Agent,
                    password_hash: Some(hash.clone()),
                },
            )
            .await?;
        store
            .add_team_member(ctx(Actor::SYSTEM), 1, agent.id)
            .await?;
        agent_ids.push(agent.id);
    }
    let token = auth::new_token();
    store
        .create_api_token(
            ctx(Actor::SYSTEM),
            agent_ids[0],
            "bench",
            &auth::token_hash(&token),
        )
        .await?;
    let seeding = Instant::now();
    seed(&store, tickets, &agent_ids).await?;
    println!(
        "bench pages: {tickets} tickets seeded in {:.1}s ({})",
        seeding.elapsed().as_secs_f64(),
        store.backend()
    );

    let server = InProcess::start(store.clone()).await?;
    let base = server.base.clone();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let cookie = sign_in(&client, &base, "agent0@example.com", password).await?;

    let first_ticket = 10_001;
    let pages = vec![
        Page::at("view: my open", "/?view=mine"),
        Page::at("view: unassigned", "/?view=unassigned"),
        Page::at("view: all", "/?view=all"),
        Page::at("view: filtered", "/?priority=high&status=open"),
        Page {
            name: "ticket page".into(),
            paths: (0..rounds)
                .map(|i| format!("/t/{}", first_ticket + (i as u64 * 7919) % tickets.max(1)))
                .collect(),
        },
        Page::at("focus (next)", "/focus"),
    ];
    let report = time_pages(&client, &base, &cookie, &pages, rounds).await?;
    let api = time_api_list(&client, &base, &token, rounds).await?;
    server.stop().await?;
    store.close().await;
    print_report(rounds, &report, &api);
    Ok(())
}

/// The web server on an ephemeral loopback port in this process.
pub(crate) struct InProcess {
    pub base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl InProcess {
    pub(crate) async fn start(store: Arc<dyn Store>) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = rapport_web::AppState::new(
            store,
            rapport_web::ui::UiConfig {
                base_url: base.clone(),
            },
        );
        let server = tokio::spawn(rapport_web::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Ok(Self { base, stop, server })
    }

    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.server.await??;
        Ok(())
    }
}

/// A page to time: round `i` requests `paths[i % paths.len()]`.
pub(crate) struct Page {
    pub name: String,
    pub paths: Vec<String>,
}

impl Page {
    pub(crate) fn at(name: &str, path: &str) -> Self {
        Self {
            name: name.into(),
            paths: vec![path.into()],
        }
    }
}

/// Each page `rounds` times, one request at a time (the time is the server's, not a queue's);
/// sorted times per page. A page that answers neither 2xx nor 3xx stops the run.
pub(crate) async fn time_pages(
    client: &reqwest::Client,
    base: &str,
    cookie: &str,
    pages: &[Page],
    rounds: usize,
) -> anyhow::Result<Vec<(String, Vec<Duration>)>> {
    let mut report = Vec::new();
    for page in pages {
        let mut times = Vec::with_capacity(rounds);
        for i in 0..rounds {
            let Some(path) = page.paths.get(i % page.paths.len().max(1)) else {
                break;
            };
            let sent = Instant::now();
            let response = client
                .get(format!("{base}{path}"))
                .header("cookie", cookie)
                .send()
                .await?;
            let status = response.status();
            response.bytes().await?;
            times.push(sent.elapsed());
            anyhow::ensure!(
                status.is_success() || status.is_redirection(),
                "{path}: {status}"
            );
        }
        times.sort();
        report.push((page.name.clone(), times));
    }
    Ok(report)
}

/// The baseline: the JSON API's first page of tickets, `rounds` times; sorted.
pub(crate) async fn time_api_list(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    rounds: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut api = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let sent = Instant::now();
        let response = client
            .get(format!("{base}/api/v1/tickets?limit=50"))
            .bearer_auth(token)
            .send()
            .await?;
        let status = response.status();
        response.bytes().await?;
        api.push(sent.elapsed());
        anyhow::ensure!(status.is_success(), "/api/v1/tickets: {status}");
    }
    api.sort();
    Ok(api)
}

pub(crate) fn print_report(rounds: usize, report: &[(String, Vec<Duration>)], api: &[Duration]) {
    let baseline = percentile(api, 0.95);
    println!("  {rounds} requests each, one at a time, over loopback HTTP:");
    for (name, times) in report {
        println!(
            "  {name:<22} p50 {:>6.2} ms  p95 {:>6.2} ms  p99 {:>6.2} ms   (p95 ÷ API list p95: {:.2})",
            ms(percentile(times, 0.50)),
            ms(percentile(times, 0.95)),
            ms(percentile(times, 0.99)),
            ms(percentile(times, 0.95)) / ms(baseline).max(1e-9)
        );
    }
    println!(
        "  baseline: GET /api/v1/tickets?limit=50  p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms",
        ms(percentile(api, 0.50)),
        ms(baseline),
        ms(percentile(api, 0.99))
    );
}

pub(crate) async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let login = client.get(format!("{base}/login")).send().await?;
    let login_cookie = cookie_of(login.headers(), "rapport_login")
        .ok_or_else(|| anyhow::anyhow!("the login page set no cookie"))?;
    let form = [
        ("_csrf", login_cookie.as_str()),
        ("email", email),
        ("password", password),
        ("next", "/"),
    ];
    let response = client
        .post(format!("{base}/login"))
        .header("cookie", format!("rapport_login={login_cookie}"))
        .form(&form)
        .send()
        .await?;
    let session = cookie_of(response.headers(), "rapport_session")
        .ok_or_else(|| anyhow::anyhow!("sign-in failed: {}", response.status()))?;
    Ok(format!("rapport_session={session}"))
}

pub(crate) fn cookie_of(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (k, rest) = v.split_once('=')?;
            (k == name).then(|| rest.split(';').next().unwrap_or_default().to_string())
        })
}
