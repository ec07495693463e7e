//! `rapport bench search`: full-text search on a seeded database, one query at a time, with a
//! realistic mix of queries (common and rare words, two words, phrases, prefixes, exclusions,
//! field filters, German, Russian and CJK words), words and addresses taken from the data so
//! rare queries really hit; an indexed lookup of a ticket by id is the baseline.

use crate::bench::{ms, percentile};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rapport_core::search::SearchQuery;
use rapport_store::{PageRequest, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const FIRST_TICKET: i64 = 10_001;

pub async fn run(url: &str, rounds: usize) -> anyhow::Result<()> {
    let store = rapport_store::open(url).await?;
    let result = run_on(&store, url, rounds).await;
    store.close().await;
    result
}

/// What the queries are built from, read from the database.
struct Sample {
    emails: Vec<String>,
    rare_numbers: Vec<String>,
    orgs: Vec<String>,
    refs: Vec<i64>,
    ids: Vec<i64>,
}

/// Reads a few hundred random tickets (by id, so frequent customers come up more often, as
/// they do in a desk's searches) with their customers, organisations and messages.
async fn sample(store: &Arc<dyn Store>, tickets: i64, rng: &mut StdRng) -> anyhow::Result<Sample> {
    let mut s = Sample {
        emails: Vec::new(),
        rare_numbers: Vec::new(),
        orgs: Vec::new(),
        refs: Vec::new(),
        ids: Vec::new(),
    };
    for _ in 0..300 {
        let id = FIRST_TICKET + rng.gen_range(0..tickets.max(1));
        let Ok(ticket) = store.ticket(id).await else {
            continue;
        };
        s.ids.push(id);
        if s.refs.len() < 10 {
            s.refs.push(id);
        }
        if let Some(email) = ticket.customer.email.clone()
            && s.emails.len() < 10
        {
            s.emails.push(email);
        }
        if s.orgs.len() < 5
            && let Some(org) = store.customer(ticket.customer.id).await?.organization_id
        {
            let name = store.organization(org).await?.name;
            if !s.orgs.contains(&name) {
                s.orgs.push(name);
            }
        }
        if s.rare_numbers.len() < 10 {
            let messages = store.list_messages(id, PageRequest::first(5)).await?;
            if let Some(number) = messages
                .items
                .iter()
                .flat_map(|m| m.body.split(|c: char| !c.is_ascii_digit()))
                .find(|w| w.len() == 6)
            {
                s.rare_numbers.push(number.to_string());
            }
        }
    }
    anyhow::ensure!(
        !s.ids.is_empty(),
        "no tickets found: is this a database seeded by `rapport bench seed`?"
    );
    Ok(s)
}

fn day(at_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(at_ms)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| "2026-01-01".into())
}

/// (class, query) pairs.
fn queries(s: &Sample, now: i64) -> Vec<(&'static str, String)> {
    let mut q: Vec<(&'static str, String)> = Vec::new();
    for w in [
        "refund",
        "invoice",
        "router",
        "password",
        "order",
        "connection",
    ] {
        q.push(("word: common", w.into()));
    }
    for n in &s.rare_numbers {
        q.push(("word: rare (order no.)", n.clone()));
    }
    for w in ["Garmisch", "thermostat", "ECONNRESET", "Innsbruck"] {
        q.push(("word: rare", w.into()));
    }
    for w in [
        "refund paypal",
        "router firmware",
        "password reset",
        "invoice vat",
        "parcel courier",
    ] {
        q.push(("two words", w.into()));
    }
    for w in [
        "\"password reset\"",
        "\"charged twice\"",
        "\"street cabinet\"",
        "\"tracking number\"",
    ] {
        q.push(("phrase", w.into()));
    }
    for w in ["refun*", "rout*", "invoic*", "passw*", "deliv*"] {
        q.push(("prefix", w.into()));
    }
    for w in [
        "refund -paypal",
        "router -firmware",
        "invoice -vat",
        "login -android",
    ] {
        q.push(("exclusion", w.into()));
    }
    q.push(("filter only", "status:open".into()));
    q.push(("filter only", "tag:billing".into()));
    q.push(("filter only", "priority:high".into()));
    q.push(("filter only", "status:pending priority:urgent".into()));
    q.push(("filter + word", "status:open router".into()));
    q.push(("filter + word", "tag:billing charged".into()));
    q.push(("filter + word", "priority:high refund".into()));
    q.push((
        "filter + word",
        format!("created>{} password", day(now - 60 * 86_400_000)),
    ));
    q.push((
        "filter only",
        format!("created>{}", day(now - 30 * 86_400_000)),
    ));
    for e in s.emails.iter().take(5) {
        q.push(("customer:", format!("customer:{e}")));
    }
    for o in &s.orgs {
        q.push(("org:", format!("org:\"{o}\"")));
    }
    for r in s.refs.iter().take(5) {
        q.push(("ref:", format!("ref:R-{r}")));
    }
    for a in [0, 3, 7] {
        q.push((
            "assignee:",
            format!("assignee:agent{a}@example.com status:open"),
        ));
    }
    for w in [
        "Rechnung",
        "Erstattung",
        "Verbindung",
        "Kündigung",
        "Lieferadresse",
    ] {
        q.push(("German", w.into()));
    }
    for w in ["заказ", "возврат", "интернет"] {
        q.push(("Russian", w.into()));
    }
    for w in ["订单", "退款", "ログイン", "パスワード"] {
        q.push(("CJK", w.into()));
    }
    q
}

async fn run_on(store: &Arc<dyn Store>, url: &str, rounds: usize) -> anyhow::Result<()> {
    let (tickets, messages, customers) = crate::bench_seed::counts(url).await?;
    let mut rng = StdRng::seed_from_u64(7);
    let s = sample(store, tickets, &mut rng).await?;
    let now = rapport_web::now().0;
    let queries = queries(&s, now);
    let parsed: Vec<(&str, String, SearchQuery)> = queries
        .into_iter()
        .map(|(class, text)| {
            let query =
                SearchQuery::parse(&text).map_err(|e| anyhow::anyhow!("{text}: {}", e.problem))?;
            anyhow::Ok((class, text, query))
        })
        .collect::<anyhow::Result<_>>()?;
    println!(
        "bench search: {} queries × {rounds} rounds, one at a time, limit 50, on {tickets} tickets, {messages} messages, {customers} customers ({})",
        parsed.len(),
        store.backend()
    );

    let mut by_class: BTreeMap<&str, (Vec<Duration>, Vec<usize>)> = BTreeMap::new();
    let mut all = Vec::new();
    let mut slowest: Vec<(Duration, String)> = Vec::new();
    for round in 0..rounds {
        for (class, text, query) in &parsed {
            let started = Instant::now();
            let hits = store.search(query, 50).await?;
            let took = started.elapsed();
            let entry = by_class.entry(class).or_default();
            entry.0.push(took);
            if round == 0 {
                entry.1.push(hits.len());
            }
            all.push(took);
            slowest.push((took, text.clone()));
        }
    }
    let mut lookups = Vec::with_capacity(all.len());
    for _ in 0..all.len() {
        let id = s.ids[rng.gen_range(0..s.ids.len())];
        let started = Instant::now();
        store.ticket(id).await?;
        lookups.push(started.elapsed());
    }
    all.sort();
    lookups.sort();
    println!(
        "  {:<24} {:>7} {:>14} {:>8} {:>8} {:>8} {:>8}",
        "class", "queries", "hits (min–max)", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for (class, (times, hits)) in &mut by_class {
        times.sort();
        let mean = hits.iter().sum::<usize>() as f64 / hits.len().max(1) as f64;
        println!(
            "  {class:<24} {:>7} {:>5.0} ({}–{}) {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            hits.len(),
            mean,
            hits.iter().min().copied().unwrap_or(0),
            hits.iter().max().copied().unwrap_or(0),
            ms(percentile(times, 0.50)),
            ms(percentile(times, 0.95)),
            ms(percentile(times, 0.99)),
            ms(times.last().copied().unwrap_or_default())
        );
    }
    println!(
        "  {:<24} {:>7} {:>14} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        "all",
        parsed.len(),
        "",
        ms(percentile(&all, 0.50)),
        ms(percentile(&all, 0.95)),
        ms(percentile(&all, 0.99)),
        ms(all.last().copied().unwrap_or_default())
    );
    println!(
        "  baseline: ticket by id    p50 {:.3} ms  p95 {:.3} ms  p99 {:.3} ms   (search p95 ÷ lookup p95: {:.1})",
        ms(percentile(&lookups, 0.50)),
        ms(percentile(&lookups, 0.95)),
        ms(percentile(&lookups, 0.99)),
        ms(percentile(&all, 0.95)) / ms(percentile(&lookups, 0.95)).max(1e-9)
    );
    slowest.sort_by_key(|b| std::cmp::Reverse(b.0));
    slowest.dedup_by(|a, b| a.1 == b.1);
    let worst: Vec<String> = slowest
        .iter()
        .take(5)
        .map(|(d, q)| format!("{q} ({:.1} ms)", ms(*d)))
        .collect();
    println!("  slowest: {}", worst.join(", "));
    let misses: Vec<&str> = parsed
        .iter()
        .zip(by_class_hits(&by_class, &parsed))
        .filter(|(_, h)| *h == 0)
        .map(|((_, text, _), _)| text.as_str())
        .collect();
    if !misses.is_empty() {
        println!("  no hits: {}", misses.join(", "));
    }
    Ok(())
}

/// Hits of each query of the first round, in query order.
fn by_class_hits(
    by_class: &BTreeMap<&str, (Vec<Duration>, Vec<usize>)>,
    parsed: &[(&str, String, SearchQuery)],
) -> Vec<usize> {
    let mut next: BTreeMap<&str, usize> = BTreeMap::new();
    parsed
        .iter()
        .map(|(class, _, _)| {
            let i = next.entry(class).or_default();
            let hits = by_class
                .get(class)
                .and_then(|(_, h)| h.get(*i))
                .copied()
                .unwrap_or(0);
            *i += 1;
            hits
        })
        .collect()
}
