//! `rapport bench seed`: a realistic help desk of N historical tickets, written through
//! `Store::import_tickets` in batches with several in flight (so SQLite's group commit and
//! PostgreSQL's pool stay busy).
//!
//! The data is deterministic from `--seed` (each ticket and customer has its own generator, so
//! batch size and concurrency do not change it; only times move with the clock): ~200k
//! customers with a power-law skew (a few with hundreds of tickets), 5% of them in
//! organisations (linked by email domain), two years of tickets leaning recent, mostly solved
//! or closed, priorities mostly normal, tags from a small skewed vocabulary, conversations of
//! ~5 messages (many of 2–3, a tail to 40) written from topic templates in English (~85%),
//! German (~12%), Russian (~2%) and Chinese or Japanese (~1%), with products, places, order
//! and invoice numbers drawn from Zipf-skewed lists, agent replies and internal notes.

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rapport_core::{Actor, Channel, MessageKind, Millis, Priority, Role, TicketStatus};
use rapport_store::{
    Ctx, ImportMessage, ImportTicket, NewAgent, NewOrganization, Requester, Store,
};
use rapport_web::auth;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) const AGENTS: usize = 10;
pub(crate) const PASSWORD: &str = "bench password 123";
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;
/// Tickets span this many days back from now.
const SPAN_DAYS: f64 = 730.0;
/// Share of customers in an organisation, and customers per organisation on average.
const ORG_SHARE: f64 = 0.05;
const CUSTOMERS_PER_ORG: u64 = 20;

pub(crate) struct SeedOptions {
    pub tickets: u64,
    pub messages_per_ticket: f64,
    pub customers: u64,
    pub seed: u64,
    pub batch: usize,
    pub concurrency: usize,
}

/// Where the seeded database goes: a new SQLite file, or a new PostgreSQL database `name` on
/// the server `admin_url` names.
pub(crate) enum SeedTarget {
    Sqlite(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

pub(crate) async fn run(opts: SeedOptions, target: SeedTarget) -> anyhow::Result<()> {
    let url = prepare_target(&target).await?;
    let store = rapport_store::open(&url).await?;
    let result = seed(&store, &opts).await;
    store.close().await;
    let (tickets, messages, customers) = result?;
    let (t, m, c) = counts(&url).await?;
    println!(
        "  imported:   {tickets} tickets, {messages} messages, {customers} distinct customer addresses"
    );
    println!("  in the database: {t} tickets, {m} messages, {c} customers");
    println!("  database:   {}", rapport_store::redact_url(&url));
    Ok(())
}

/// Creates the database (refusing one that exists, so a seed never mixes with other data) and
/// returns its URL.
async fn prepare_target(target: &SeedTarget) -> anyhow::Result<String> {
    match target {
        SeedTarget::Sqlite(path) => {
            anyhow::ensure!(
                !path.exists(),
                "{} exists; seed into a new file (remove it first to reseed)",
                path.display()
            );
            Ok(format!("sqlite://{}", path.display()))
        }
        SeedTarget::Postgres { admin_url, name } => {
            use sqlx::Connection;
            anyhow::ensure!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "--name must be lower-case letters, digits and _"
            );
            let (base, _) = admin_url
                .rsplit_once('/')
                .context("the PostgreSQL URL must end with /DATABASE")?;
            let mut conn = sqlx::PgConnection::connect(admin_url)
                .await
                .with_context(|| {
                    format!("cannot reach {}", rapport_store::redact_url(admin_url))
                })?;
            let exists: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                    .bind(name)
                    .fetch_optional(&mut conn)
                    .await?;
            anyhow::ensure!(
                exists.is_none(),
                "database {name} exists; choose another --name (or drop it to reseed)"
            );
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await?;
            conn.close().await?;
            Ok(format!("{base}/{name}"))
        }
    }
}

/// Tickets, messages and customers as stored (read straight from the tables).
pub(crate) async fn counts(url: &str) -> anyhow::Result<(i64, i64, i64)> {
    const SQL: &str = "SELECT (SELECT count(*) FROM tickets), (SELECT count(*) FROM messages), \
                       (SELECT count(*) FROM customers)";
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.to_string();
        tokio::task::spawn_blocking(move || -> anyhow::Result<(i64, i64, i64)> {
            let conn = rusqlite::Connection::open_with_flags(
                &path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )?;
            Ok(conn.query_row(SQL, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?)
        })
        .await?
    } else {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let row: (i64, i64, i64) = sqlx::query_as(SQL).fetch_one(&mut conn).await?;
        conn.close().await?;
        Ok(row)
    }
}

fn system() -> Ctx {
    Ctx {
        actor: Actor::SYSTEM,
        at: rapport_web::now(),
    }
}

/// Agents (agent0..9@example.com, in the default team), an API token, organisations, then the
/// tickets. Returns (tickets, messages, distinct customer addresses) written.
async fn seed(store: &Arc<dyn Store>, opts: &SeedOptions) -> anyhow::Result<(u64, u64, u64)> {
    let started = Instant::now();
    let hash = auth::hash_password(PASSWORD)?;
    let mut agent_ids = Vec::with_capacity(AGENTS);
    for i in 0..AGENTS {
        let (first, last) = AGENT_NAMES[i % AGENT_NAMES.len()];
        let agent = store
            .create_agent(
                system(),
                NewAgent {
                    email: format!("agent{i}@example.com"),
                    name: format!("{first} {last}"),
                    role: if i == 0 { Role::Admin } else { Role::Agent },
                    password_hash: Some(hash.clone()),
                },
            )
            .await?;
        store.add_team_member(system(), 1, agent.id).await?;
        agent_ids.push(agent.id);
    }
    let token = auth::new_token();
    store
        .create_api_token(system(), agent_ids[0], "bench", &auth::token_hash(&token))
        .await?;
    let orgs = organizations(opts.customers);
    for (i, org) in orgs.iter().enumerate() {
        store
            .create_organization(
                system(),
                NewOrganization {
                    name: org.name.clone(),
                    tier: match i % 10 {
                        0 => rapport_core::contact::Tier::Enterprise,
                        1..=3 => rapport_core::contact::Tier::Business,
                        _ => rapport_core::contact::Tier::Standard,
                    },
                    contract_value_cents: 100_000 * (1 + (i as i64 % 50)),
                    domains: vec![org.domain.clone()],
                    notes: String::new(),
                },
                None,
            )
            .await?;
    }
    println!(
        "bench seed: {} tickets, ~{} messages each, {} customers ({} organisations), seed {}, {} per import, {} in flight ({})",
        opts.tickets,
        opts.messages_per_ticket,
        opts.customers,
        orgs.len(),
        opts.seed,
        opts.batch,
        opts.concurrency,
        store.backend()
    );
    println!(
        "  agents agent0..{}@example.com, password \"{PASSWORD}\"; API token for agent0: {token}",
        AGENTS - 1
    );

    let generator = Arc::new(Generator::new(
        opts.seed,
        opts.tickets,
        opts.customers,
        agent_ids,
        rapport_web::now().0,
        opts.messages_per_ticket,
    ));
    let importing = Instant::now();
    let mut next = 0u64;
    let mut done = 0u64;
    let mut messages = 0u64;
    let mut emails = std::collections::HashSet::new();
    let mut in_flight = tokio::task::JoinSet::new();
    let mut last_report = Instant::now();
    while next < opts.tickets || !in_flight.is_empty() {
        while next < opts.tickets && in_flight.len() < opts.concurrency {
            let from = next;
            let to = (next + opts.batch as u64).min(opts.tickets);
            next = to;
            let generator = generator.clone();
            let store = store.clone();
            in_flight.spawn(async move {
                let batch = tokio::task::spawn_blocking(move || {
                    (from..to).map(|i| generator.ticket(i)).collect::<Vec<_>>()
                })
                .await?;
                let summary: (u64, Vec<String>) = (
                    batch.iter().map(|t| t.messages.len() as u64).sum(),
                    batch.iter().map(|t| t.requester.email.clone()).collect(),
                );
                let ids = store.import_tickets(system(), batch).await?;
                anyhow::Ok((ids.len() as u64, summary))
            });
        }
        if let Some(finished) = in_flight.join_next().await {
            let (n, (m, batch_emails)) = finished??;
            done += n;
            messages += m;
            emails.extend(batch_emails);
            if last_report.elapsed() >= Duration::from_secs(5) {
                last_report = Instant::now();
                let secs = importing.elapsed().as_secs_f64();
                println!(
                    "  {done:>9} tickets  {messages:>10} messages  {:>7.0} tickets/s  {:>6.0}s",
                    done as f64 / secs,
                    secs
                );
            }
        }
    }
    let secs = importing.elapsed().as_secs_f64();
    println!(
        "  done: {done} tickets, {messages} messages in {secs:.1}s: {:.0} tickets/s, {:.0} messages/s (setup and all: {:.1}s)",
        done as f64 / secs,
        messages as f64 / secs,
        started.elapsed().as_secs_f64()
    );
    Ok((done, messages, emails.len() as u64))
}

// ---------------------------------------------------------------------------------------------
// The generator.

/// Samples ranks 0..n with probability ∝ 1/(rank+1)^s.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let mut cdf = Vec::with_capacity(n.max(1));
        for k in 1..=n.max(1) {
            total += 1.0 / (k as f64).powf(s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Self { cdf }
    }

    fn sample(&self, rng: &mut StdRng) -> usize {
        let u: f64 = rng.r#gen();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    En,
    De,
    Ru,
    Zh,
    Ja,
}

pub(crate) struct Org {
    pub name: String,
    pub domain: String,
}

/// Organisations enough for ~5% of customers at ~20 each, named from word lists.
fn organizations(customers: u64) -> Vec<Org> {
    let n = ((customers as f64 * ORG_SHARE) as u64 / CUSTOMERS_PER_ORG).max(1) as usize;
    (0..n)
        .map(|i| {
            let a = ORG_WORDS[i % ORG_WORDS.len()];
            let b = ORG_KINDS[(i / ORG_WORDS.len()) % ORG_KINDS.len()];
            let round = i / (ORG_WORDS.len() * ORG_KINDS.len());
            let suffix = if round == 0 {
                String::new()
            } else {
                format!(" {}", round + 1)
            };
            let tld = if i % 3 == 0 { "de" } else { "com" };
            Org {
                name: format!("{a} {b}{suffix}"),
                domain: format!(
                    "{}-{}{}.{tld}",
                    a.to_lowercase(),
                    b.to_lowercase(),
                    if round == 0 {
                        String::new()
                    } else {
                        (round + 1).to_string()
                    }
                ),
            }
        })
        .collect()
}

struct Customer {
    name: String,
    first: &'static str,
    email: String,
    lang: Lang,
}

struct Generator {
    seed: u64,
    /// Tickets in the whole dataset (ticket i is created at i/total of the span).
    total: u64,
    customers: u64,
    orgs: Vec<Org>,
    agent_ids: Vec<i64>,
    now: i64,
    /// Log of the median message count.
    mu: f64,
    products: Zipf,
    cities: Zipf,
    agent_pick: Zipf,
    /// Topics by how many a language has (the first most common).
    topic_pick: Vec<Zipf>,
    tag_pick: Zipf,
}

impl Generator {
    fn new(
        seed: u64,
        total: u64,
        customers: u64,
        agent_ids: Vec<i64>,
        now: i64,
        mean_messages: f64,
    ) -> Self {
        Self {
            seed,
            total,
            customers: customers.max(1),
            orgs: organizations(customers),
            agent_ids,
            now,
            mu: (mean_messages.max(1.0) * 0.72).ln(),
            products: Zipf::new(PRODUCT_BRANDS.len() * PRODUCT_LINES.len() * 8, 1.05),
            cities: Zipf::new(CITIES.len(), 0.9),
            agent_pick: Zipf::new(AGENTS, 0.6),
            topic_pick: (0..=16).map(|n| Zipf::new(n, 0.8)).collect(),
            tag_pick: Zipf::new(EXTRA_TAGS.len(), 1.1),
        }
    }
}

fn mix(seed: u64, stream: u64, i: u64) -> u64 {
    // SplitMix64 of the three, so neighbouring indexes get unrelated generators.
    let mut z =
        seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.gen_range(0..items.len())]
}

/// An exponentially distributed gap with this mean, at least a minute.
fn gap(rng: &mut StdRng, mean: i64) -> i64 {
    let u: f64 = rng.gen_range(1e-9..1.0);
    ((-u.ln()) * mean as f64) as i64 + MINUTE
}

impl Generator {
    fn customer(&self, index: u64) -> Customer {
        let mut rng = StdRng::seed_from_u64(mix(self.seed, 1, index));
        let lang = match rng.gen_range(0..1000) {
            0..850 => Lang::En,
            850..970 => Lang::De,
            970..990 => Lang::Ru,
            990..995 => Lang::Zh,
            _ => Lang::Ja,
        };
        let names = names_of(lang);
        let (first, first_latin) = names.first[rng.gen_range(0..names.first.len())];
        let (last, last_latin) = names.last[rng.gen_range(0..names.last.len())];
        let domain = if rng.gen_bool(ORG_SHARE) {
            // Bigger organisations have more people writing in.
            let u: f64 = rng.r#gen();
            let i = ((u * u) * self.orgs.len() as f64) as usize;
            self.orgs[i.min(self.orgs.len() - 1)].domain.clone()
        } else {
            pick(&mut rng, names.mail_domains).to_string()
        };
        let name = match lang {
            Lang::Zh => format!("{last}{first}"),
            Lang::Ja => format!("{last} {first}"),
            _ => format!("{first} {last}"),
        };
        Customer {
            name,
            first,
            email: format!("{first_latin}.{last_latin}{index}@{domain}"),
            lang,
        }
    }

    fn ticket(&self, index: u64) -> ImportTicket {
        let mut rng = StdRng::seed_from_u64(mix(self.seed, 2, index));
        // A power law over customers: rank r has weight ~ r^-0.45, so the first few have
        // hundreds of tickets and the tail one or two; ranks are scattered over the ids.
        let u: f64 = rng.r#gen();
        let rank = ((self.customers as f64) * u.powf(1.8)) as u64 % self.customers;
        let step = if self.customers.is_multiple_of(1_000_003) {
            1
        } else {
            1_000_003
        };
        let customer = self.customer((rank * step + 17) % self.customers);
        let text = texts_of(customer.lang);
        let topic = &text.topics[self.topic_pick[text.topics.len()].sample(&mut rng)];

        // Two years, leaning recent (a growing desk: density ∝ √t), in ticket order, so ticket
        // numbers rise with time as they do in a real desk.
        let position = index as f64 / self.total.max(1) as f64;
        let t = position.powf(2.0 / 3.0);
        let age = ((1.0 - t) * SPAN_DAYS * DAY as f64) as i64 + rng.gen_range(0..HOUR);
        let created_at = self.now - age;
        let age_days = age / DAY;
        let roll = rng.gen_range(0..1000);
        let mut status = if age_days < 7 {
            match roll {
                0..350 => TicketStatus::Solved,
                350..650 => TicketStatus::Open,
                650..800 => TicketStatus::Pending,
                800..950 => TicketStatus::New,
                _ => TicketStatus::OnHold,
            }
        } else if age_days < 30 {
            match roll {
                0..400 => TicketStatus::Closed,
                400..850 => TicketStatus::Solved,
                850..930 => TicketStatus::Open,
                930..980 => TicketStatus::Pending,
                _ => TicketStatus::OnHold,
            }
        } else {
            match roll {
                0..800 => TicketStatus::Closed,
                800..970 => TicketStatus::Solved,
                970..985 => TicketStatus::Open,
                985..995 => TicketStatus::Pending,
                _ => TicketStatus::OnHold,
            }
        };
        let priority = match rng.gen_range(0..100) {
            0..12 => Priority::Low,
            12..82 => Priority::Normal,
            82..96 => Priority::High,
            _ => Priority::Urgent,
        };
        let channel = match rng.gen_range(0..100) {
            0..70 => Channel::Email,
            70..82 => Channel::Portal,
            82..90 => Channel::Chat,
            90..96 => Channel::Phone,
            _ => Channel::Api,
        };
        let agent = self.agent_ids[self.agent_pick.sample(&mut rng) % self.agent_ids.len()];
        let agent_index = self
            .agent_ids
            .iter()
            .position(|a| *a == agent)
            .unwrap_or_default();
        let agent_first = AGENT_NAMES[agent_index % AGENT_NAMES.len()].0;

        // Message count: log-normal around the median (mean ≈ --messages-per-ticket), 1..=40.
        let normal = {
            let u1: f64 = rng.gen_range(1e-12..1.0);
            let u2: f64 = rng.r#gen();
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        };
        let mut wanted = ((self.mu + 0.8 * normal).exp().round() as usize).clamp(1, 40);
        if status == TicketStatus::New {
            wanted = wanted.min(2);
        }
        let unanswered =
            status == TicketStatus::New || (status == TicketStatus::Open && rng.gen_bool(0.2));
        if !unanswered {
            wanted = wanted.max(2);
        }

        let say = |rng: &mut StdRng, choices: &[&str]| -> String {
            let template = pick(rng, choices);
            self.fill(rng, template, &customer, agent_first)
        };
        let mut messages = Vec::with_capacity(wanted);
        let mut at = created_at;
        let mut last = MessageKind::Customer;
        let latest = self.now - MINUTE;
        for k in 0..wanted {
            let kind = if k == 0 || unanswered {
                MessageKind::Customer
            } else if rng.gen_bool(0.15) {
                MessageKind::Note
            } else if last != MessageKind::Reply || k + 1 == wanted {
                MessageKind::Reply
            } else {
                MessageKind::Customer
            };
            if k > 0 {
                at += match kind {
                    MessageKind::Note => gap(&mut rng, 20 * MINUTE),
                    MessageKind::Reply => gap(&mut rng, 5 * HOUR),
                    MessageKind::Customer => gap(&mut rng, 14 * HOUR),
                };
            }
            if at > latest {
                break;
            }
            let body = match kind {
                MessageKind::Customer if k == 0 => {
                    let mut b = say(&mut rng, text.greet_customer);
                    b.push_str(&say(&mut rng, topic.opens));
                    for _ in 0..rng.gen_range(0..3) {
                        b.push(' ');
                        b.push_str(&say(&mut rng, topic.details));
                    }
                    b.push_str(&say(&mut rng, text.sign_customer));
                    b
                }
                MessageKind::Customer => {
                    let mut b = if rng.gen_bool(0.5) {
                        say(&mut rng, topic.details)
                    } else {
                        say(&mut rng, text.follow_ups)
                    };
                    b.push_str(&say(&mut rng, text.sign_customer));
                    b
                }
                MessageKind::Reply => {
                    let mut b = say(&mut rng, text.greet_agent);
                    b.push_str(&say(&mut rng, topic.replies));
                    if rng.gen_bool(0.4) {
                        b.push(' ');
                        b.push_str(&say(&mut rng, text.reply_extras));
                    }
                    b.push_str(&say(&mut rng, text.sign_agent));
                    b
                }
                MessageKind::Note => say(&mut rng, topic.notes),
            };
            messages.push(ImportMessage {
                kind,
                body,
                created_at: Millis(at),
                agent_id: (kind != MessageKind::Customer).then_some(agent),
            });
            last = kind;
        }
        let last_at = messages.last().map_or(created_at, |m| m.created_at.0);
        let answered = messages.iter().any(|m| m.kind == MessageKind::Reply);
        if !answered && !matches!(status, TicketStatus::New | TicketStatus::Open) {
            status = TicketStatus::Open;
        }
        if status == TicketStatus::New && answered {
            status = TicketStatus::Open;
        }
        let mut closed_at = None;
        if status == TicketStatus::Closed {
            let at = last_at + rng.gen_range(3 * DAY..8 * DAY);
            if at < latest {
                closed_at = Some(Millis(at));
            } else {
                status = TicketStatus::Solved;
            }
        }
        let solved_at = matches!(status, TicketStatus::Solved | TicketStatus::Closed)
            .then_some(Millis(last_at));
        let updated_at = Millis(closed_at.map_or(last_at, |c| c.0));

        let mut tags = vec![topic.tag.to_string()];
        for _ in 0..rng.gen_range(0..3) {
            let tag = EXTRA_TAGS[self.tag_pick.sample(&mut rng)];
            if !tags.iter().any(|t| t == tag) {
                tags.push(tag.to_string());
            }
        }
        if customer.lang != Lang::En {
            tags.push(
                match customer.lang {
                    Lang::De => "german",
                    Lang::Ru => "russian",
                    Lang::Zh => "chinese",
                    Lang::Ja => "japanese",
                    Lang::En => "english",
                }
                .to_string(),
            );
        }
        let subject = say(&mut rng, topic.subjects);
        ImportTicket {
            subject,
            requester: Requester {
                customer_id: None,
                email: customer.email.clone(),
                name: Some(customer.name.clone()),
            },
            status,
            priority,
            channel,
            inbox: None,
            assignee_id: (status != TicketStatus::New).then_some(agent),
            team_id: None,
            tags,
            created_at: Millis(created_at),
            updated_at,
            solved_at,
            closed_at,
            messages,
        }
    }

    /// Fills `{placeholders}`: numbers, products, places, people.
    fn fill(&self, rng: &mut StdRng, template: &str, customer: &Customer, agent: &str) -> String {
        let mut out = String::with_capacity(template.len() + 32);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let key = &rest[open + 1..open + close];
            match key {
                "order" => out.push_str(&format!("{}", rng.gen_range(100_000..999_999))),
                "invoice" => out.push_str(&format!(
                    "INV-{}-{:05}",
                    rng.gen_range(2023..2027),
                    rng.gen_range(0..100_000)
                )),
                "amount" => out.push_str(&format!(
                    "{}.{:02}",
                    rng.gen_range(5..900),
                    rng.gen_range(0..100)
                )),
                "tracking" => out.push_str(&format!(
                    "{}{:010}",
                    pick(rng, &["1Z", "JJD", "DHL", "GM"]),
                    rng.gen_range(0..10_000_000_000u64)
                )),
                "product" => {
                    let i = self.products.sample(rng);
                    let brand = PRODUCT_BRANDS[i % PRODUCT_BRANDS.len()];
                    let line = PRODUCT_LINES[(i / PRODUCT_BRANDS.len()) % PRODUCT_LINES.len()];
                    let model = 100 + (i / (PRODUCT_BRANDS.len() * PRODUCT_LINES.len())) * 110;
                    out.push_str(&format!("{brand} {line} {model}"));
                }
                "city" => out.push_str(CITIES[self.cities.sample(rng)]),
                "code" => out.push_str(pick(rng, ERROR_CODES)),
                "days" => out.push_str(&rng.gen_range(2..15).to_string()),
                "first" => out.push_str(customer.first),
                "agent" => out.push_str(agent),
                "name" => out.push_str(&customer.name),
                other => {
                    out.push('{');
                    out.push_str(other);
                    out.push('}');
                }
            }
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Word lists and templates.

struct Names {
    /// (as written, in Latin letters for the address)
    first: &'static [(&'static str, &'static str)],
    last: &'static [(&'static str, &'static str)],
    mail_domains: &'static [&'static str],
}

fn names_of(lang: Lang) -> &'static Names {
    match lang {
        Lang::En => &EN_NAMES,
        Lang::De => &DE_NAMES,
        Lang::Ru => &RU_NAMES,
        Lang::Zh => &ZH_NAMES,
        Lang::Ja => &JA_NAMES,
    }
}

struct Topic {
    tag: &'static str,
    subjects: &'static [&'static str],
    opens: &'static [&'static str],
    details: &'static [&'static str],
    replies: &'static [&'static str],
    notes: &'static [&'static str],
}

struct Texts {
    greet_customer: &'static [&'static str],
    sign_customer: &'static [&'static str],
    follow_ups: &'static [&'static str],
    greet_agent: &'static [&'static str],
    reply_extras: &'static [&'static str],
    sign_agent: &'static [&'static str],
    topics: &'static [Topic],
}

fn texts_of(lang: Lang) -> &'static Texts {
    match lang {
        Lang::En => &EN,
        Lang::De => &DE,
        Lang::Ru => &RU,
        Lang::Zh => &ZH,
        Lang::Ja => &JA,
    }
}

pub(crate) const AGENT_NAMES: [(&str, &str); 10] = [
    ("Maya", "Fischer"),
    ("Tom", "Berger"),
    ("Lena", "Novak"),
    ("Omar", "Haddad"),
    ("Sara", "Lindqvist"),
    ("Jonas", "Weber"),
    ("Priya", "Raman"),
    ("Luca", "Moretti"),
    ("Hannah", "Kowalski"),
    ("Ben", "Okafor"),
];

/// The small tag vocabulary beside each topic's own tag, most common first.
pub(crate) const EXTRA_TAGS: &[&str] = &[
    "follow-up",
    "vip",
    "bug",
    "how-to",
    "complaint",
    "escalated",
    "feature-request",
    "duplicate",
    "mobile",
    "b2b",
    "callback",
    "chargeback",
];

const ORG_WORDS: &[&str] = &[
    "Nordwind",
    "Alpen",
    "Harbor",
    "Bluebird",
    "Kestrel",
    "Sonnen",
    "Granite",
    "Lindenhof",
    "Riverside",
    "Falken",
    "Meridian",
    "Eichen",
    "Coastal",
    "Silberberg",
    "Pioneer",
    "Brightline",
    "Rhein",
    "Summit",
    "Tannen",
    "Oakridge",
    "Weser",
    "Redwood",
    "Elbe",
    "Aurora",
    "Birken",
    "Northgate",
    "Isar",
    "Westbrook",
    "Mosel",
    "Ironwood",
];
const ORG_KINDS: &[&str] = &[
    "Logistik",
    "Consulting",
    "Foods",
    "Dental",
    "Robotics",
    "Energie",
    "Media",
    "Architekten",
    "Pharma",
    "Textil",
    "Systems",
    "Bau",
    "Travel",
    "Finanz",
    "Studios",
];

const PRODUCT_BRANDS: &[&str] = &[
    "Nordlicht",
    "Skylark",
    "Polaris",
    "Fjord",
    "Helix",
    "Quasar",
    "Lumen",
    "Vento",
    "Orbit",
    "Tundra",
    "Zephyr",
    "Kairo",
];
const PRODUCT_LINES: &[&str] = &[
    "Router",
    "Mesh",
    "Repeater",
    "Modem",
    "Switch",
    "Camera",
    "Doorbell",
    "Thermostat",
    "Hub",
    "Powerline",
];

const CITIES: &[&str] = &[
    "London",
    "Berlin",
    "Hamburg",
    "Munich",
    "Manchester",
    "Vienna",
    "Zurich",
    "Cologne",
    "Frankfurt",
    "Leeds",
    "Dublin",
    "Amsterdam",
    "Bristol",
    "Leipzig",
    "Dresden",
    "Stuttgart",
    "Edinburgh",
    "Glasgow",
    "Bremen",
    "Hanover",
    "Nuremberg",
    "Graz",
    "Basel",
    "Rotterdam",
    "Cardiff",
    "Belfast",
    "Aachen",
    "Kiel",
    "Rostock",
    "Freiburg",
    "Mainz",
    "Heidelberg",
    "Augsburg",
    "Innsbruck",
    "Salzburg",
    "Lucerne",
    "Utrecht",
    "Antwerp",
    "Ghent",
    "Bruges",
    "Norwich",
    "Oxford",
    "Cambridge",
    "York",
    "Bath",
    "Exeter",
    "Plymouth",
    "Brighton",
    "Sheffield",
    "Nottingham",
    "Liverpool",
    "Newcastle",
    "Aberdeen",
    "Inverness",
    "Swansea",
    "Regensburg",
    "Passau",
    "Bamberg",
    "Würzburg",
    "Erfurt",
    "Jena",
    "Weimar",
    "Potsdam",
    "Lübeck",
    "Flensburg",
    "Osnabrück",
    "Münster",
    "Bielefeld",
    "Paderborn",
    "Kassel",
    "Göttingen",
    "Marburg",
    "Gießen",
    "Darmstadt",
    "Wiesbaden",
    "Koblenz",
    "Trier",
    "Saarbrücken",
    "Karlsruhe",
    "Mannheim",
    "Ulm",
    "Konstanz",
    "Lindau",
    "Garmisch",
];

const ERROR_CODES: &[&str] = &[
    "HTTP 500",
    "HTTP 502",
    "HTTP 503",
    "HTTP 429",
    "HTTP 401",
    "HTTP 403",
    "HTTP 404",
    "E1042",
    "E2201",
    "ERR_TIMEOUT",
    "ECONNRESET",
    "invalid_grant",
    "rate_limited",
    "signature_mismatch",
];

static EN_NAMES: Names = Names {
    first: &[
        ("James", "james"),
        ("Olivia", "olivia"),
        ("Oliver", "oliver"),
        ("Amelia", "amelia"),
        ("Harry", "harry"),
        ("Isla", "isla"),
        ("Jack", "jack"),
        ("Emily", "emily"),
        ("George", "george"),
        ("Sophie", "sophie"),
        ("Noah", "noah"),
        ("Grace", "grace"),
        ("Charlie", "charlie"),
        ("Chloe", "chloe"),
        ("Jacob", "jacob"),
        ("Lucy", "lucy"),
        ("Thomas", "thomas"),
        ("Ella", "ella"),
        ("William", "william"),
        ("Mia", "mia"),
        ("Daniel", "daniel"),
        ("Hannah", "hannah"),
        ("Samuel", "samuel"),
        ("Ruby", "ruby"),
        ("Michael", "michael"),
        ("Laura", "laura"),
        ("David", "david"),
        ("Sarah", "sarah"),
        ("Ethan", "ethan"),
        ("Megan", "megan"),
        ("Ryan", "ryan"),
        ("Zoe", "zoe"),
    ],
    last: &[
        ("Smith", "smith"),
        ("Jones", "jones"),
        ("Taylor", "taylor"),
        ("Brown", "brown"),
        ("Williams", "williams"),
        ("Wilson", "wilson"),
        ("Johnson", "johnson"),
        ("Davies", "davies"),
        ("Robinson", "robinson"),
        ("Wright", "wright"),
        ("Thompson", "thompson"),
        ("Evans", "evans"),
        ("Walker", "walker"),
        ("White", "white"),
        ("Roberts", "roberts"),
        ("Green", "green"),
        ("Hall", "hall"),
        ("Wood", "wood"),
        ("Jackson", "jackson"),
        ("Clarke", "clarke"),
        ("Patel", "patel"),
        ("Khan", "khan"),
        ("Lewis", "lewis"),
        ("Harris", "harris"),
        ("Murphy", "murphy"),
        ("O'Brien", "obrien"),
        ("Kelly", "kelly"),
        ("Hughes", "hughes"),
        ("Edwards", "edwards"),
        ("Turner", "turner"),
        ("Cooper", "cooper"),
        ("Hill", "hill"),
        ("Ward", "ward"),
        ("Morris", "morris"),
        ("Moore", "moore"),
        ("Clark", "clark"),
    ],
    mail_domains: &[
        "gmail.com",
        "gmail.com",
        "gmail.com",
        "outlook.com",
        "outlook.com",
        "yahoo.co.uk",
        "hotmail.com",
        "icloud.com",
        "btinternet.com",
        "protonmail.com",
        "aol.com",
        "sky.com",
    ],
};

static DE_NAMES: Names = Names {
    first: &[
        ("Anna", "anna"),
        ("Lukas", "lukas"),
        ("Lea", "lea"),
        ("Jonas", "jonas"),
        ("Marie", "marie"),
        ("Felix", "felix"),
        ("Sophie", "sophie"),
        ("Maximilian", "maximilian"),
        ("Jürgen", "juergen"),
        ("Sabine", "sabine"),
        ("Klaus", "klaus"),
        ("Petra", "petra"),
        ("Stefan", "stefan"),
        ("Katrin", "katrin"),
        ("Uwe", "uwe"),
        ("Birgit", "birgit"),
        ("Jörg", "joerg"),
        ("Monika", "monika"),
        ("Matthias", "matthias"),
        ("Ursula", "ursula"),
    ],
    last: &[
        ("Müller", "mueller"),
        ("Schmidt", "schmidt"),
        ("Schneider", "schneider"),
        ("Fischer", "fischer"),
        ("Weber", "weber"),
        ("Meyer", "meyer"),
        ("Wagner", "wagner"),
        ("Becker", "becker"),
        ("Schulz", "schulz"),
        ("Hoffmann", "hoffmann"),
        ("Schäfer", "schaefer"),
        ("Koch", "koch"),
        ("Bauer", "bauer"),
        ("Richter", "richter"),
        ("Klein", "klein"),
        ("Wolf", "wolf"),
        ("Schröder", "schroeder"),
        ("Neumann", "neumann"),
        ("Schwarz", "schwarz"),
        ("Zimmermann", "zimmermann"),
        ("Krüger", "krueger"),
        ("Hartmann", "hartmann"),
        ("Lange", "lange"),
        ("Köhler", "koehler"),
    ],
    mail_domains: &[
        "web.de",
        "gmx.de",
        "gmx.de",
        "t-online.de",
        "gmail.com",
        "posteo.de",
        "freenet.de",
        "outlook.de",
        "mailbox.org",
        "gmx.at",
        "bluewin.ch",
    ],
};

static RU_NAMES: Names = Names {
    first: &[
        ("Иван", "ivan"),
        ("Анна", "anna"),
        ("Дмитрий", "dmitry"),
        ("Мария", "maria"),
        ("Сергей", "sergey"),
        ("Елена", "elena"),
        ("Алексей", "alexey"),
        ("Ольга", "olga"),
        ("Андрей", "andrey"),
        ("Наталья", "natalya"),
        ("Михаил", "mikhail"),
        ("Татьяна", "tatyana"),
    ],
    last: &[
        ("Иванов", "ivanov"),
        ("Смирнов", "smirnov"),
        ("Кузнецов", "kuznetsov"),
        ("Попов", "popov"),
        ("Васильев", "vasilyev"),
        ("Петров", "petrov"),
        ("Соколов", "sokolov"),
        ("Михайлов", "mikhailov"),
        ("Новиков", "novikov"),
        ("Фёдоров", "fedorov"),
        ("Морозов", "morozov"),
        ("Волков", "volkov"),
    ],
    mail_domains: &[
        "yandex.ru",
        "mail.ru",
        "gmail.com",
        "rambler.ru",
        "inbox.ru",
    ],
};

static ZH_NAMES: Names = Names {
    first: &[
        ("伟", "wei"),
        ("芳", "fang"),
        ("娜", "na"),
        ("敏", "min"),
        ("静", "jing"),
        ("丽", "li"),
        ("强", "qiang"),
        ("磊", "lei"),
        ("军", "jun"),
        ("洋", "yang"),
    ],
    last: &[
        ("王", "wang"),
        ("李", "li"),
        ("张", "zhang"),
        ("刘", "liu"),
        ("陈", "chen"),
        ("杨", "yang"),
        ("赵", "zhao"),
        ("黄", "huang"),
        ("周", "zhou"),
        ("吴", "wu"),
    ],
    mail_domains: &["qq.com", "163.com", "126.com", "gmail.com", "sina.com"],
};

static JA_NAMES: Names = Names {
    first: &[
        ("健", "ken"),
        ("陽子", "yoko"),
        ("翔", "sho"),
        ("美咲", "misaki"),
        ("大輔", "daisuke"),
        ("由美", "yumi"),
        ("拓也", "takuya"),
        ("さくら", "sakura"),
        ("直樹", "naoki"),
        ("恵", "megumi"),
    ],
    last: &[
        ("佐藤", "sato"),
        ("鈴木", "suzuki"),
        ("高橋", "takahashi"),
        ("田中", "tanaka"),
        ("渡辺", "watanabe"),
        ("伊藤", "ito"),
        ("山本", "yamamoto"),
        ("中村", "nakamura"),
        ("小林", "kobayashi"),
        ("加藤", "kato"),
    ],
    mail_domains: &[
        "docomo.ne.jp",
        "yahoo.co.jp",
        "gmail.com",
        "softbank.ne.jp",
        "nifty.com",
    ],
};

static EN: Texts = Texts {
    greet_customer: &[
        "Hello, ",
        "Hi, ",
        "Hi there, ",
        "Dear support team, ",
        "Good morning, ",
        "",
    ],
    sign_customer: &[
        "\n\nThanks, {first}",
        "\n\nBest regards,\n{name}",
        "\n\nCheers, {first}",
        "\n\nKind regards,\n{name}",
        "",
        "\n\nSent from my phone",
    ],
    follow_ups: &[
        "Any update on this? It has been {days} days.",
        "Thanks, that worked!",
        "I tried that but it is still not working.",
        "Just following up on my previous message, I still have not heard back.",
        "Could you please call me back? I am available after 3pm.",
        "Great, thank you for the quick help.",
        "Sorry, I forgot to attach the screenshot. It shows {code}.",
        "I restarted everything as you suggested, same problem.",
        "That makes sense. Please go ahead.",
        "Is there anyone who can actually help me with this?",
    ],
    greet_agent: &[
        "Hi {first},\n\n",
        "Hello {first},\n\n",
        "Dear {name},\n\n",
        "Hi {first}, thanks for reaching out.\n\n",
    ],
    reply_extras: &[
        "If anything else comes up, just reply to this email.",
        "I have added a note to your account so my colleagues have the full picture.",
        "Let me know if the problem comes back and we will look into it straight away.",
        "Sorry again for the trouble this caused.",
        "You can also follow the status in the customer portal.",
    ],
    sign_agent: &[
        "\n\nBest,\n{agent}",
        "\n\nKind regards,\n{agent}\nCustomer Support",
        "\n\nCheers,\n{agent}",
        "\n\n{agent}",
    ],
    topics: &[
        Topic {
            tag: "billing",
            subjects: &[
                "Charged twice this month",
                "Question about my bill",
                "Wrong amount charged",
                "Billing problem",
                "Why was I charged {amount} EUR?",
            ],
            opens: &[
                "I was charged twice for my subscription this month, {amount} EUR each time.",
                "My card statement shows a payment of {amount} EUR that I do not recognise.",
                "I downgraded my plan last month but I am still being billed for the premium tier.",
                "The direct debit failed and now my account says it is overdue. Can you help?",
            ],
            details: &[
                "My customer number is {order}.",
                "The charge appeared on my card ending in 4{days}2.",
                "I have been a customer for years and this never happened before.",
                "Please send me a corrected bill.",
                "I bought the {product} in your {city} store if that matters.",
            ],
            replies: &[
                "I checked your account and you are right, the second payment of {amount} EUR was a duplicate. I have reversed it and you will see the money back within {days} working days.",
                "The charge is for the annual renewal of your plan. I can switch you to monthly billing if you prefer.",
                "I have corrected the plan on your account, and the difference will be credited on your next bill.",
                "The payment failed because the card on file expired. You can update it under Account > Billing and I have paused the reminder fees.",
            ],
            notes: &[
                "Duplicate capture by the payment provider again, same pattern as last week.",
                "Checked the ledger: one charge is a pre-authorisation that drops off by itself.",
                "Customer is on the legacy plan, billing migration did not pick them up.",
            ],
        },
        Topic {
            tag: "refund",
            subjects: &[
                "Refund request",
                "Where is my refund?",
                "Refund for order {order}",
                "Money back please",
                "Refund not received",
            ],
            opens: &[
                "I returned the {product} two weeks ago but I have not received my refund yet.",
                "I would like a refund for order {order}, the item arrived damaged.",
                "You promised a refund of {amount} EUR on the phone but nothing has arrived.",
                "I cancelled within the 14 day period, please refund the full amount.",
            ],
            details: &[
                "The return tracking number is {tracking}.",
                "The parcel was delivered back to your warehouse on Monday according to the courier.",
                "I paid with PayPal.",
                "The box was opened and the {product} had a crack on the side.",
                "This is the second time I have had to ask.",
            ],
            replies: &[
                "Your refund of {amount} EUR was issued today. Depending on your bank it takes {days} days to show up.",
                "We received the return and the refund is being processed. You will get a confirmation email once it is sent.",
                "I am sorry about the damaged item. I have refunded order {order} in full, you do not need to send it back.",
                "I could not find a return for this order yet. Could you send me the tracking number so I can check with the warehouse?",
            ],
            notes: &[
                "Warehouse confirmed the return scan, refund approved.",
                "Refund over 200 EUR needs a second approval, asked finance.",
                "Customer has had three refunds this year, flagging for review.",
            ],
        },
        Topic {
            tag: "shipping",
            subjects: &[
                "Where is my order?",
                "Order {order} not delivered",
                "Delivery delayed",
                "Parcel lost",
                "Wrong address on my order",
            ],
            opens: &[
                "My order {order} was supposed to arrive on Friday but it is still not here.",
                "The tracking for {tracking} has not updated in {days} days.",
                "The courier says the parcel was delivered but I never got it.",
                "I entered the wrong delivery address, can you still change it to {city}?",
            ],
            details: &[
                "I ordered the {product} as a gift and need it by the weekend.",
                "Nobody rang the bell, I was at home all day.",
                "The tracking page just says in transit since it left the depot in {city}.",
                "I paid extra for express shipping.",
            ],
            replies: &[
                "I checked with the courier: the parcel is at the depot in {city} and will be delivered tomorrow.",
                "The parcel seems to be lost in transit. I have sent a replacement with express delivery at no cost, tracking number {tracking}.",
                "I have updated the delivery address before dispatch. Your order will now go to {city}.",
                "I have opened an investigation with the courier. It usually takes {days} days; I will get back to you as soon as I hear from them.",
            ],
            notes: &[
                "Courier claim opened, reference {order}.",
                "Depot in {city} has a backlog this week, several tickets about it.",
                "Address change made in the warehouse system before pick.",
            ],
        },
        Topic {
            tag: "login",
            subjects: &[
                "Cannot log in",
                "Password reset not working",
                "Locked out of my account",
                "Two-factor code not accepted",
                "Login problem",
            ],
            opens: &[
                "I cannot log in to my account, it says my password is wrong but I am sure it is right.",
                "The password reset email never arrives, I checked my spam folder too.",
                "My account has been locked after too many attempts.",
                "I got a new phone and now I cannot get the two-factor code anymore.",
            ],
            details: &[
                "I am using the app on Android.",
                "It worked fine until yesterday.",
                "The error message says {code}.",
                "My username is the same as this email address.",
            ],
            replies: &[
                "I have unlocked your account. You can now reset your password with the link on the login page.",
                "I have sent a new reset link. It is valid for 30 minutes, so please use it right away.",
                "For security I cannot disable two-factor by email. Please use one of your recovery codes, or reply with the last four digits of your payment card so I can verify you.",
                "The reset emails were blocked by your mail provider. I have whitelisted the address and sent a new one.",
            ],
            notes: &[
                "Identity verified via last four digits of card, 2FA reset.",
                "Known issue with the reset mails to this provider, see the incident channel.",
                "Account locked by the fraud check, cleared after review.",
            ],
        },
        Topic {
            tag: "connectivity",
            subjects: &[
                "Internet keeps dropping",
                "Router disconnects every evening",
                "No connection since yesterday",
                "Slow WiFi",
                "{product} keeps rebooting",
            ],
            opens: &[
                "Since Monday our connection drops every evening between 7 and 9 pm.",
                "My {product} keeps losing the connection and I have to restart it several times a day.",
                "The WiFi is extremely slow upstairs, downstairs it is fine.",
                "We have had no internet at all since yesterday afternoon. The light on the router is blinking red.",
            ],
            details: &[
                "We restarted the router twice and reset it to factory settings.",
                "Other people in our street in {city} have the same problem.",
                "I work from home so this is really urgent.",
                "The speed test shows 2 Mbit/s instead of 100.",
                "The {product} is on firmware 2.3.",
            ],
            replies: &[
                "There was a fault at the street cabinet in {city} which our technicians fixed this morning. Your line should be stable again.",
                "I can see many disconnects on your line. A firmware update for the {product} fixes this; it installs automatically tonight.",
                "For better coverage upstairs I recommend a mesh repeater. I have sent you a {product} free of charge.",
                "I have booked a technician visit for you. They will call one hour before arriving.",
            ],
            notes: &[
                "Line test shows high CRC errors, booked technician.",
                "Firmware 2.4 fixes the nightly reboot, see the release notes.",
                "Area outage in {city}, linked to the master incident.",
            ],
        },
        Topic {
            tag: "invoice",
            subjects: &[
                "Invoice {invoice}",
                "Need a copy of my invoice",
                "VAT number missing on invoice",
                "Invoice address wrong",
                "Invoice for order {order}",
            ],
            opens: &[
                "Could you send me a copy of invoice {invoice}? I need it for my tax return.",
                "Our VAT number is missing on invoice {invoice}, please reissue it.",
                "The invoice is addressed to my old company name, please correct it.",
                "I cannot find the invoice for order {order} in my account.",
            ],
            details: &[
                "Our accounting department needs it by the end of the month.",
                "The company is registered in {city}.",
                "Please send it as PDF.",
                "We need the purchase order number on it as well.",
            ],
            replies: &[
                "I have attached a copy of invoice {invoice}. You can also download all invoices under Account > Documents.",
                "I have reissued the invoice with your VAT number and cancelled the old one.",
                "The invoice address is now updated; future invoices will use the new company name.",
                "Invoices are created when the order ships. Order {order} shipped today, so you will receive it by email shortly.",
            ],
            notes: &[
                "Credit note created and new invoice issued.",
                "Customer needs reverse charge, checked the VAT ID in VIES.",
            ],
        },
        Topic {
            tag: "api",
            subjects: &[
                "API returns {code}",
                "Webhook not firing",
                "API rate limit too low",
                "Integration broken after update",
                "OAuth token expired",
            ],
            opens: &[
                "Since this morning every call to the orders endpoint returns {code}.",
                "Our webhook stopped receiving events after your update last night.",
                "We keep hitting the rate limit with only a few requests per second.",
                "The OAuth refresh fails with {code} and our integration is down.",
            ],
            details: &[
                "Request id: {order}.",
                "We are on API version 2 and did not change anything on our side.",
                "This affects our production system, around {amount} orders per hour.",
                "The same request works in the sandbox.",
            ],
            replies: &[
                "We had a partial outage of the API between 09:10 and 09:45 UTC. It is resolved; please retry the failed requests.",
                "The webhook was disabled after repeated timeouts from your endpoint. I have re-enabled it; please make sure it answers within 10 seconds.",
                "I have raised your rate limit to 50 requests per second. Please use the bulk endpoint for large imports.",
                "The signature check changed in version 2.1. Please see the changelog; the old scheme will keep working until the end of the quarter.",
            ],
            notes: &[
                "Forwarded to the platform team, trace id in the logs.",
                "Customer's endpoint returns 502 on our retries, not our bug.",
                "Rate limit raised after approval by the API product owner.",
            ],
        },
        Topic {
            tag: "account-deletion",
            subjects: &[
                "Delete my account",
                "Please remove my data",
                "GDPR request",
                "Close my account",
                "Unsubscribe and delete",
            ],
            opens: &[
                "Please delete my account and all my personal data.",
                "Under GDPR I request a copy of all data you hold about me and then its deletion.",
                "I no longer use your service, please close my account.",
                "I keep getting emails even though I unsubscribed. Please remove me completely.",
            ],
            details: &[
                "My account email is this address.",
                "I also have an old account from when I lived in {city}.",
                "Please confirm in writing once it is done.",
            ],
            replies: &[
                "Your account is scheduled for deletion. All personal data will be removed within 30 days, and you will get a confirmation by email.",
                "I have attached an export of your data. Reply to confirm and we will delete the account.",
                "You are removed from all mailing lists. I am sorry for the emails you received after unsubscribing.",
            ],
            notes: &[
                "GDPR request logged in the privacy register.",
                "Open invoice on the account, deletion after settlement.",
            ],
        },
        Topic {
            tag: "order-change",
            subjects: &[
                "Change my order",
                "Cancel order {order}",
                "Add an item to my order",
                "Wrong size ordered",
            ],
            opens: &[
                "Can I still change the colour of the {product} in order {order}?",
                "Please cancel order {order}, I ordered by mistake.",
                "I ordered the wrong model, I need the {product} instead.",
            ],
            details: &[
                "It has not shipped yet according to my account.",
                "I am happy to pay the difference.",
            ],
            replies: &[
                "I have cancelled order {order} and refunded the payment.",
                "The order was already packed, so I could not change it. You can return it for free once it arrives.",
                "I have swapped the item in your order for the {product}; the difference of {amount} EUR is refunded.",
            ],
            notes: &["Changed before pick in the warehouse system."],
        },
        Topic {
            tag: "defect",
            subjects: &[
                "{product} stopped working",
                "Broken on arrival",
                "Warranty claim",
                "Device makes a clicking noise",
            ],
            opens: &[
                "My {product} stopped working after {days} days. It does not turn on anymore.",
                "The {product} arrived broken, the screen is cracked.",
                "I would like to make a warranty claim for my {product}, bought in {city}.",
            ],
            details: &[
                "Serial number SN{order}.",
                "I tried a different power supply.",
                "The LED blinks orange three times.",
            ],
            replies: &[
                "That sounds like a faulty power board. I have arranged a free replacement; the courier will pick up the old one.",
                "Please send the device to our repair centre with the prepaid label attached to this email.",
                "Under the warranty we replace the {product}. The new one ships tomorrow.",
            ],
            notes: &[
                "Known batch issue with these power boards.",
                "RMA created, SN{order}.",
            ],
        },
    ],
};

static DE: Texts = Texts {
    greet_customer: &[
        "Hallo, ",
        "Guten Tag, ",
        "Sehr geehrte Damen und Herren, ",
        "Hallo zusammen, ",
        "",
    ],
    sign_customer: &[
        "\n\nDanke, {first}",
        "\n\nMit freundlichen Grüßen\n{name}",
        "\n\nViele Grüße\n{first}",
        "\n\nLG {first}",
        "",
    ],
    follow_ups: &[
        "Gibt es schon etwas Neues? Es sind jetzt {days} Tage vergangen.",
        "Danke, jetzt funktioniert es!",
        "Das habe ich versucht, leider ohne Erfolg.",
        "Ich warte immer noch auf eine Antwort.",
        "Können Sie mich bitte zurückrufen? Ich bin ab 15 Uhr erreichbar.",
        "Vielen Dank für die schnelle Hilfe.",
        "Die Fehlermeldung lautet {code}.",
    ],
    greet_agent: &[
        "Hallo {first},\n\n",
        "Guten Tag {name},\n\n",
        "Liebe/r {name},\n\n",
    ],
    reply_extras: &[
        "Wenn noch etwas ist, antworten Sie einfach auf diese E-Mail.",
        "Entschuldigen Sie bitte die Unannehmlichkeiten.",
        "Den Status können Sie jederzeit im Kundenportal verfolgen.",
    ],
    sign_agent: &[
        "\n\nViele Grüße\n{agent}",
        "\n\nMit freundlichen Grüßen\n{agent}\nKundenservice",
        "\n\n{agent}",
    ],
    topics: &[
        Topic {
            tag: "billing",
            subjects: &[
                "Doppelte Abbuchung",
                "Frage zur Rechnung",
                "Falscher Betrag abgebucht",
                "Lastschrift zurückgegangen",
            ],
            opens: &[
                "Mir wurden diesen Monat {amount} EUR doppelt abgebucht.",
                "Auf meinem Kontoauszug ist eine Abbuchung, die ich nicht zuordnen kann.",
                "Ich habe meinen Tarif gekündigt, zahle aber immer noch den alten Betrag.",
            ],
            details: &[
                "Meine Kundennummer ist {order}.",
                "Bitte erstatten Sie mir den Betrag.",
                "Ich bin seit Jahren Kunde und das ist mir noch nie passiert.",
            ],
            replies: &[
                "Sie haben recht, die zweite Abbuchung über {amount} EUR war ein Fehler. Ich habe sie storniert, das Geld ist in {days} Werktagen zurück.",
                "Die Abbuchung betrifft die jährliche Verlängerung Ihres Tarifs. Auf Wunsch stelle ich auf monatliche Zahlung um.",
                "Ich habe den Tarif korrigiert; die Differenz wird mit der nächsten Rechnung gutgeschrieben.",
            ],
            notes: &[
                "Doppelte Buchung beim Zahlungsanbieter, wie letzte Woche.",
                "Altkunde, Tarifumstellung hat nicht gegriffen.",
            ],
        },
        Topic {
            tag: "refund",
            subjects: &[
                "Rückerstattung",
                "Wo bleibt meine Erstattung?",
                "Geld zurück für Bestellung {order}",
                "Widerruf",
            ],
            opens: &[
                "Ich habe den {product} vor zwei Wochen zurückgeschickt, aber noch keine Erstattung erhalten.",
                "Ich widerrufe den Kauf von Bestellung {order} und bitte um Rückzahlung.",
                "Die Ware kam beschädigt an, ich möchte mein Geld zurück.",
            ],
            details: &[
                "Die Sendungsnummer der Rücksendung ist {tracking}.",
                "Ich habe mit PayPal bezahlt.",
                "Der Karton war offen und das Gerät zerkratzt.",
            ],
            replies: &[
                "Ihre Erstattung über {amount} EUR wurde heute veranlasst. Je nach Bank dauert es {days} Tage.",
                "Die Rücksendung ist angekommen, die Erstattung wird bearbeitet.",
                "Es tut mir leid wegen der beschädigten Ware. Ich habe Bestellung {order} vollständig erstattet.",
            ],
            notes: &[
                "Lager hat Rücksendung bestätigt, Erstattung freigegeben.",
                "Betrag über 200 EUR, Freigabe durch Buchhaltung angefragt.",
            ],
        },
        Topic {
            tag: "shipping",
            subjects: &[
                "Wo ist meine Bestellung?",
                "Lieferung verspätet",
                "Paket nicht angekommen",
                "Lieferadresse ändern",
            ],
            opens: &[
                "Meine Bestellung {order} sollte am Freitag kommen, ist aber immer noch nicht da.",
                "Laut Sendungsverfolgung wurde das Paket zugestellt, ich habe aber nichts bekommen.",
                "Kann ich die Lieferadresse noch auf {city} ändern?",
            ],
            details: &[
                "Die Sendungsnummer ist {tracking}.",
                "Ich war den ganzen Tag zu Hause.",
                "Ich habe extra für Expressversand bezahlt.",
            ],
            replies: &[
                "Das Paket liegt im Depot {city} und wird morgen zugestellt.",
                "Das Paket ist leider verloren gegangen. Ich habe kostenlos Ersatz per Express verschickt, Sendungsnummer {tracking}.",
                "Ich habe die Lieferadresse vor dem Versand geändert.",
            ],
            notes: &[
                "Nachforschungsauftrag beim Paketdienst gestellt.",
                "Depot {city} hat diese Woche Rückstau.",
            ],
        },
        Topic {
            tag: "login",
            subjects: &[
                "Anmeldung nicht möglich",
                "Passwort zurücksetzen funktioniert nicht",
                "Konto gesperrt",
                "Zwei-Faktor-Code wird nicht akzeptiert",
            ],
            opens: &[
                "Ich kann mich nicht mehr anmelden, angeblich ist mein Passwort falsch.",
                "Die E-Mail zum Zurücksetzen des Passworts kommt nicht an, auch nicht im Spam.",
                "Mein Konto wurde nach mehreren Versuchen gesperrt.",
            ],
            details: &[
                "Ich nutze die App auf dem iPhone.",
                "Bis gestern ging alles.",
                "Die Fehlermeldung lautet {code}.",
            ],
            replies: &[
                "Ich habe Ihr Konto entsperrt. Sie können Ihr Passwort jetzt über die Anmeldeseite zurücksetzen.",
                "Ich habe Ihnen einen neuen Link geschickt, er ist 30 Minuten gültig.",
                "Ihr E-Mail-Anbieter hat unsere Mails blockiert. Ich habe einen neuen Link gesendet.",
            ],
            notes: &[
                "Identität geprüft, Zwei-Faktor zurückgesetzt.",
                "Bekanntes Problem mit diesem Mailanbieter.",
            ],
        },
        Topic {
            tag: "connectivity",
            subjects: &[
                "Internet bricht ständig ab",
                "Router verliert abends die Verbindung",
                "Kein Internet seit gestern",
                "WLAN sehr langsam",
                "Störung in {city}",
            ],
            opens: &[
                "Seit Montag bricht unsere Verbindung jeden Abend zwischen 19 und 21 Uhr ab.",
                "Mein {product} verliert ständig die Verbindung und muss mehrmals am Tag neu gestartet werden.",
                "Seit gestern Nachmittag haben wir überhaupt kein Internet, die Lampe am Router blinkt rot.",
            ],
            details: &[
                "Wir haben den Router zweimal neu gestartet und auf Werkseinstellungen zurückgesetzt.",
                "Die Nachbarn in {city} haben dasselbe Problem.",
                "Ich arbeite im Homeoffice, es ist dringend.",
            ],
            replies: &[
                "Am Verteilerkasten in {city} gab es eine Störung, die heute Morgen behoben wurde. Ihre Leitung sollte wieder stabil sein.",
                "Ein Firmware-Update für den {product} behebt das Problem; es wird heute Nacht automatisch installiert.",
                "Ich habe einen Technikertermin für Sie gebucht. Der Techniker ruft eine Stunde vorher an.",
            ],
            notes: &[
                "Leitungstest zeigt viele CRC-Fehler, Techniker gebucht.",
                "Gebietsstörung {city}, mit dem Hauptticket verknüpft.",
            ],
        },
        Topic {
            tag: "invoice",
            subjects: &[
                "Rechnung {invoice}",
                "Rechnungskopie benötigt",
                "Umsatzsteuer-ID fehlt auf der Rechnung",
                "Rechnungsadresse falsch",
            ],
            opens: &[
                "Bitte senden Sie mir eine Kopie der Rechnung {invoice}, ich brauche sie für die Steuererklärung.",
                "Auf der Rechnung {invoice} fehlt unsere Umsatzsteuer-ID.",
                "Die Rechnung ist noch auf unseren alten Firmennamen ausgestellt.",
            ],
            details: &[
                "Unsere Buchhaltung braucht sie bis Monatsende.",
                "Die Firma sitzt in {city}.",
            ],
            replies: &[
                "Anbei die Kopie der Rechnung {invoice}. Alle Rechnungen finden Sie auch unter Konto > Dokumente.",
                "Ich habe die Rechnung mit Ihrer Umsatzsteuer-ID neu ausgestellt und die alte storniert.",
            ],
            notes: &["Gutschrift erstellt und Rechnung neu ausgestellt."],
        },
        Topic {
            tag: "account-deletion",
            subjects: &[
                "Konto löschen",
                "Kündigung meines Vertrags",
                "Datenauskunft nach DSGVO",
            ],
            opens: &[
                "Bitte löschen Sie mein Konto und alle meine Daten.",
                "Hiermit kündige ich meinen Vertrag zum nächstmöglichen Zeitpunkt.",
                "Nach Art. 15 DSGVO bitte ich um Auskunft über meine gespeicherten Daten.",
            ],
            details: &[
                "Bitte bestätigen Sie die Kündigung schriftlich.",
                "Meine Kundennummer ist {order}.",
            ],
            replies: &[
                "Ihre Kündigung ist eingegangen, der Vertrag endet zum Monatsende. Sie erhalten eine Bestätigung per E-Mail.",
                "Ihr Konto wird gelöscht; alle personenbezogenen Daten werden innerhalb von 30 Tagen entfernt.",
            ],
            notes: &["DSGVO-Anfrage im Datenschutzregister erfasst."],
        },
    ],
};

static RU: Texts = Texts {
    greet_customer: &["Здравствуйте! ", "Добрый день! ", ""],
    sign_customer: &["\n\nСпасибо, {first}", "\n\nС уважением,\n{name}", ""],
    follow_ups: &[
        "Есть новости? Прошло уже {days} дней.",
        "Спасибо, всё работает!",
        "Я попробовал, но проблема осталась.",
    ],
    greet_agent: &["Здравствуйте, {first}!\n\n", "Добрый день, {name}!\n\n"],
    reply_extras: &[
        "Если возникнут вопросы, просто ответьте на это письмо.",
        "Приносим извинения за неудобства.",
    ],
    sign_agent: &["\n\nС уважением,\n{agent}", "\n\n{agent}, служба поддержки"],
    topics: &[
        Topic {
            tag: "shipping",
            subjects: &[
                "Где мой заказ?",
                "Заказ {order} не доставлен",
                "Посылка задерживается",
            ],
            opens: &[
                "Мой заказ {order} должен был прийти в пятницу, но его до сих пор нет.",
                "Трек-номер {tracking} не обновляется уже {days} дней.",
            ],
            details: &["Доставка в город {city}.", "Я оплатил экспресс-доставку."],
            replies: &[
                "Посылка находится на складе и будет доставлена завтра.",
                "Посылка потерялась, мы бесплатно отправили замену, трек-номер {tracking}.",
            ],
            notes: &["Customer writes Russian; courier claim opened."],
        },
        Topic {
            tag: "refund",
            subjects: &["Возврат денег", "Где мой возврат?"],
            opens: &[
                "Я вернул {product} две недели назад, но деньги так и не пришли.",
                "Прошу вернуть деньги за заказ {order}, товар пришёл повреждённым.",
            ],
            details: &["Я платил картой.", "Коробка была вскрыта."],
            replies: &[
                "Возврат {amount} EUR оформлен сегодня, деньги поступят в течение {days} дней.",
            ],
            notes: &["Refund approved, return scanned in the warehouse."],
        },
        Topic {
            tag: "login",
            subjects: &[
                "Не могу войти в аккаунт",
                "Не приходит письмо для сброса пароля",
            ],
            opens: &[
                "Не могу войти в личный кабинет, пишет неверный пароль.",
                "Письмо для сброса пароля не приходит.",
            ],
            details: &["Ошибка {code}.", "Вчера всё работало."],
            replies: &[
                "Я разблокировал ваш аккаунт, теперь можно сбросить пароль на странице входа.",
            ],
            notes: &["Unlocked after identity check."],
        },
        Topic {
            tag: "connectivity",
            subjects: &["Пропадает интернет", "Роутер отключается каждый вечер"],
            opens: &[
                "С понедельника интернет пропадает каждый вечер.",
                "Мой {product} постоянно теряет соединение.",
            ],
            details: &[
                "Мы уже перезагружали роутер.",
                "Соседи жалуются на то же самое.",
            ],
            replies: &[
                "Обновление прошивки для {product} устраняет эту проблему, оно установится сегодня ночью.",
            ],
            notes: &["Firmware 2.4 fixes it."],
        },
    ],
};

static ZH: Texts = Texts {
    greet_customer: &["您好，", "你好，", ""],
    sign_customer: &["\n\n谢谢！{name}", "\n\n{name}", ""],
    follow_ups: &[
        "请问有进展吗？已经{days}天了。",
        "谢谢，现在可以用了！",
        "我试过了，还是不行。",
    ],
    greet_agent: &["{name}您好，\n\n"],
    reply_extras: &["如有其他问题，请直接回复此邮件。"],
    sign_agent: &["\n\n{agent}\n客户服务部"],
    topics: &[
        Topic {
            tag: "shipping",
            subjects: &["我的订单在哪里？", "订单{order}未送达", "包裹延迟"],
            opens: &[
                "我的订单{order}应该周五到达，但是现在还没有收到。",
                "物流信息{tracking}已经{days}天没有更新了。",
            ],
            details: &["收货地址在{city}。", "我付了加急运费。"],
            replies: &[
                "您的包裹目前在仓库，明天送达。",
                "包裹在运输中丢失，我们已免费为您补发，物流单号{tracking}。",
            ],
            notes: &["Customer writes Chinese; courier claim opened."],
        },
        Topic {
            tag: "refund",
            subjects: &["申请退款", "退款还没到账"],
            opens: &[
                "我两周前退回了{product}，但是还没有收到退款。",
                "订单{order}的商品损坏了，请给我退款。",
            ],
            details: &["我是用信用卡付款的。"],
            replies: &["您的退款{amount}欧元已于今天处理，预计{days}天内到账。"],
            notes: &["Refund approved."],
        },
        Topic {
            tag: "login",
            subjects: &["无法登录账户", "收不到重置密码邮件"],
            opens: &[
                "我无法登录我的账户，提示密码错误。",
                "重置密码的邮件一直收不到。",
            ],
            details: &["错误代码{code}。"],
            replies: &["我已经解锁了您的账户，现在可以在登录页面重置密码。"],
            notes: &["Unlocked after identity check."],
        },
    ],
};

static JA: Texts = Texts {
    greet_customer: &["お世話になっております。", "こんにちは。", ""],
    sign_customer: &["\n\nよろしくお願いいたします。\n{name}", "\n\n{name}"],
    follow_ups: &[
        "その後いかがでしょうか。もう{days}日経ちました。",
        "ありがとうございます、解決しました。",
        "試しましたが、まだ直りません。",
    ],
    greet_agent: &["{name}様\n\n"],
    reply_extras: &["ご不明な点がございましたら、このメールにご返信ください。"],
    sign_agent: &["\n\n{agent}\nカスタマーサポート"],
    topics: &[
        Topic {
            tag: "shipping",
            subjects: &["注文した商品が届きません", "注文{order}の配送について"],
            opens: &[
                "注文{order}の商品が金曜日に届く予定でしたが、まだ届いていません。",
                "追跡番号{tracking}が{days}日間更新されていません。",
            ],
            details: &["配送先は{city}です。"],
            replies: &["お荷物は配送センターにあり、明日お届けします。"],
            notes: &["Customer writes Japanese; courier claim opened."],
        },
        Topic {
            tag: "login",
            subjects: &["ログインできません", "パスワードの再設定メールが届きません"],
            opens: &[
                "アカウントにログインできません。パスワードが間違っていると表示されます。",
                "パスワード再設定のメールが届きません。",
            ],
            details: &["エラーコードは{code}です。"],
            replies: &[
                "アカウントのロックを解除しました。ログインページからパスワードを再設定してください。",
            ],
            notes: &["Unlocked after identity check."],
        },
        Topic {
            tag: "defect",
            subjects: &["製品の故障について", "{product}が動きません"],
            opens: &["{product}が{days}日で動かなくなりました。電源が入りません。"],
            details: &["別の電源アダプターも試しました。"],
            replies: &["保証期間内ですので、新しい{product}を明日発送いたします。"],
            notes: &["RMA created."],
        },
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    fn generator(customers: u64) -> Generator {
        Generator::new(
            7,
            2_000,
            customers,
            (1..=10).collect(),
            1_790_000_000_000,
            5.0,
        )
    }

    #[test]
    fn tickets_are_deterministic_and_valid_history() {
        let g = generator(20_000);
        let a: Vec<_> = (0..2_000).map(|i| g.ticket(i)).collect();
        let b: Vec<_> = (0..2_000).map(|i| g.ticket(i)).collect();
        let mut messages = 0;
        let mut customers = std::collections::HashMap::new();
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.subject, y.subject);
            assert_eq!(x.requester.email, y.requester.email);
            assert_eq!(x.messages.len(), y.messages.len());
            assert!(!x.messages.is_empty());
            assert!(x.messages.len() <= 40);
            assert!(x.updated_at >= x.created_at);
            for m in &x.messages {
                assert!(m.created_at >= x.created_at && m.created_at <= x.updated_at);
                assert!(!m.body.contains('{'), "unfilled: {}", m.body);
            }
            assert!(!x.subject.contains('{'), "unfilled: {}", x.subject);
            messages += x.messages.len();
            *customers.entry(x.requester.email.clone()).or_insert(0) += 1;
        }
        let mean = messages as f64 / a.len() as f64;
        assert!((4.0..6.0).contains(&mean), "mean messages {mean}");
        let most = customers.values().max().copied().unwrap_or(0);
        assert!(most >= 5, "a skew towards frequent customers: {most}");
    }
}
