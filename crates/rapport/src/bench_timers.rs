//! `rapport bench timers`: on a database of N tickets with running SLA clocks, how late the
//! scheduler fires due alarms (lag: when the breach was recorded minus when it was due), and
//! how long recomputing every open ticket's due times takes after a calendar change.

use crate::bench::{Scratch, ms, percentile};
use rapport_core::calendar::{CalendarConfig, IntervalConfig, WeekConfig};
use rapport_core::sla::{Basis, Conditions, Rules, TargetRule, Targets};
use rapport_core::{Actor, Channel, Millis, Priority, TicketStatus};
use rapport_store::{Ctx, NewSlaPolicy, NewTicket, PageRequest, Requester, Store, TicketFilter};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Tickets that come due during the lag measurement, one every `LAG_SPACING_MS`.
const LAG_TICKETS: i64 = 2_000;
const LAG_SPACING_MS: i64 = 5;

pub async fn run(tickets: u64, postgres: Option<&str>) -> anyhow::Result<()> {
    let scratch = Scratch::new(postgres, "timers").await?;
    let result = run_on(tickets, &scratch).await;
    scratch.remove().await;
    result
}

fn ctx(at: Millis) -> Ctx {
    Ctx {
        actor: Actor::SYSTEM,
        at,
    }
}

fn office(start: &str, end: &str) -> CalendarConfig {
    CalendarConfig {
        time_zone: "Europe/Berlin".into(),
        hours: WeekConfig::weekdays(&[IntervalConfig::new(start, end)]),
        holidays: vec!["12-25".into(), "01-01".into()],
    }
}

fn ticket(n: u64, status: TicketStatus, tag: &str) -> NewTicket {
    NewTicket {
        subject: format!("Invoice question (#{n})"),
        requester: Requester {
            customer_id: None,
            email: format!("customer{}@example{}.com", n % 200_000, n % 50),
            name: None,
        },
        body: "Why was I charged twice this month?".into(),
        channel: Channel::Email,
        priority: Priority::Normal,
        status,
        tags: vec![tag.into()],
        inbox: None,
        assignee_id: None,
        team_id: None,
        custom_fields: Default::default(),
    }
}

async fn run_on(tickets: u64, scratch: &Scratch) -> anyhow::Result<()> {
    let store = rapport_store::open(&scratch.url()).await?;
    let now = rapport_web::now;
    let calendar = store
        .save_calendar(ctx(now()), None, "Office".into(), office("09:00", "17:00"))
        .await?;
    let business = |minutes| {
        Some(TargetRule {
            minutes,
            basis: Basis::Business,
        })
    };
    // Tickets tagged `lag` are due a minute after they were created, in calendar time.
    store
        .save_sla_policy(
            ctx(now()),
            None,
            NewSlaPolicy {
                name: "Lag probe".into(),
                position: 1,
                conditions: Conditions {
                    tags: vec!["lag".into()],
                    ..Conditions::default()
                },
                rules: Rules {
                    targets: Targets {
                        first_response: Some(TargetRule {
                            minutes: 1,
                            basis: Basis::Calendar,
                        }),
                        ..Targets::default()
                    },
                    warn_before_minutes: 0,
                    ..Rules::first_response_only(1)
                },
                calendar_id: None,
            },
        )
        .await?;
    store
        .save_sla_policy(
            ctx(now()),
            None,
            NewSlaPolicy {
                name: "Standard".into(),
                position: 2,
                conditions: Conditions::default(),
                rules: Rules {
                    targets: Targets {
                        first_response: business(240),
                        periodic_update: business(480),
                        resolution: business(2_400),
                        next_response: business(120),
                    },
                    warn_before_minutes: 30,
                    ..Rules::first_response_only(240)
                },
                calendar_id: Some(calendar.id),
            },
        )
        .await?;
    while crate::scheduler::pass(store.as_ref()).await? {}

    let seeding = Instant::now();
    seed(&store, tickets).await?;
    let open = tickets - tickets * 3 / 4;
    println!(
        "bench timers: {tickets} tickets ({open} open) seeded in {:.1}s ({})",
        seeding.elapsed().as_secs_f64(),
        store.backend()
    );

    // Lag: tickets whose first response came due a minute after a back-dated creation, spread
    // over the next LAG_TICKETS × LAG_SPACING_MS, with the scheduler running as `serve` runs it.
    let marker = store.last_event_id().await?;
    let start = now().0 + 2_000;
    for i in 0..LAG_TICKETS {
        let created = Millis(start - 60_000 + i * LAG_SPACING_MS);
        store
            .create_ticket(
                ctx(created),
                ticket(i as u64, TicketStatus::New, "lag"),
                None,
            )
            .await?;
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(crate::scheduler::run(store.clone(), stopped));
    let until = start + LAG_TICKETS * LAG_SPACING_MS + 3_000;
    tokio::time::sleep(Duration::from_millis((until - now().0).max(0) as u64)).await;
    let _ = stop.send(true);
    scheduler.await?;
    let mut lags = breach_lags(&store, marker).await?;
    anyhow::ensure!(
        lags.len() == LAG_TICKETS as usize,
        "{} of {LAG_TICKETS} breaches recorded",
        lags.len()
    );
    lags.sort_unstable();
    println!(
        "  due-timer lag:     p50 {}  p95 {}  p99 {}  max {}  ({} alarms over {:.0}s; poll interval 200 ms)",
        ms(percentile(&lags, 0.50)),
        ms(percentile(&lags, 0.95)),
        ms(percentile(&lags, 0.99)),
        ms(*lags.last().unwrap_or(&Duration::ZERO)),
        lags.len(),
        (LAG_TICKETS * LAG_SPACING_MS) as f64 / 1000.0
    );

    // Recompute: the office hours change; every open ticket's due times are recomputed. An
    // open ticket's due time must move with the hours.
    let open_billing = TicketFilter {
        statuses: vec![TicketStatus::Open],
        tag: Some("billing".into()),
        ..TicketFilter::default()
    };
    let probe = store
        .list_tickets(&open_billing, PageRequest::first(1))
        .await?
        .items
        .first()
        .map(|t| t.id)
        .ok_or_else(|| anyhow::anyhow!("no open ticket was seeded"))?;
    let before = store.ticket_sla(probe).await?.and_then(|s| s.due_at);
    let changed = Instant::now();
    store
        .save_calendar(
            ctx(now()),
            Some(calendar.id),
            "Office".into(),
            office("08:00", "18:00"),
        )
        .await?;
    let mut recomputed = 0u64;
    loop {
        let pass = store.scheduler_pass(now(), 200).await?;
        if pass.is_idle() {
            break;
        }
        recomputed += u64::from(pass.recomputed);
    }
    let took = changed.elapsed();
    let after = store.ticket_sla(probe).await?.and_then(|s| s.due_at);
    anyhow::ensure!(
        before.is_some() && after.is_some() && before != after,
        "ticket {probe}'s due time did not move with the calendar: {before:?} → {after:?}"
    );
    println!(
        "  recompute:         {recomputed} open tickets in {:.2}s after a calendar change ({:.0} tickets/s)",
        took.as_secs_f64(),
        recomputed as f64 / took.as_secs_f64().max(1e-9)
    );
    store.close().await;
    Ok(())
}

/// A desk's mix: a quarter of the tickets open or waiting, the rest solved.
async fn seed(store: &Arc<dyn Store>, tickets: u64) -> anyhow::Result<()> {
    let workers = 16;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let store = store.clone();
        tasks.spawn(async move {
            let mut n = w;
            while n < tickets {
                let status = match n % 20 {
                    0..=3 => TicketStatus::Open,
                    4 => TicketStatus::Pending,
                    _ => TicketStatus::Solved,
                };
                store
                    .create_ticket(ctx(rapport_web::now()), ticket(n, status, "billing"), None)
                    .await?;
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

/// For each breach recorded after event `marker`: how long after its due time.
async fn breach_lags(store: &Arc<dyn Store>, mut marker: i64) -> anyhow::Result<Vec<Duration>> {
    let mut lags = Vec::new();
    loop {
        let events = store.events_since(marker, 1_000).await?;
        let Some(last) = events.last() else {
            return Ok(lags);
        };
        marker = last.id;
        for event in events.iter().filter(|e| e.kind == "sla.breached") {
            let due = event.data["due_at"]
                .as_str()
                .and_then(Millis::parse)
                .ok_or_else(|| anyhow::anyhow!("a breach without a due time"))?;
            lags.push(Duration::from_millis(
                (event.created_at.0 - due.0).max(0) as u64
            ));
        }
    }
}
