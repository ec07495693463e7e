//! Webhooks on both databases: deliveries are written with the event they carry (never for a
//! rolled-back write, never for events before the subscriber existed), once per subscriber,
//! claimed under a lease a dead node's successor can take over, and finished for good once sent.

use super::*;

/// Far enough ahead that every delivery is due.
const LATER: i64 = T0 + 86_400_000;

fn hook(url: &str, events: &[&str]) -> NewWebhook {
    NewWebhook {
        url: url.into(),
        events: events.iter().map(|e| e.to_string()).collect(),
    }
}

async fn claim_all(store: &S, now: i64) -> Vec<WebhookDelivery> {
    store
        .claim_webhook_deliveries(Millis(now), 60_000, 1_000)
        .await
        .unwrap()
}

async fn deliveries_are_written_once_per_matching_event(store: S) {
    // Before any subscriber: nothing is ever delivered for this ticket's events.
    store
        .create_ticket(ctx(T0), new_ticket("Before", "early@example.com"), None)
        .await
        .unwrap();
    let created = store
        .create_webhook(
            ctx(T0 + 1),
            hook("https://hooks.example.com/a", &["ticket.created"]),
        )
        .await
        .unwrap();
    assert!(created.secret.starts_with("whsec_") && created.secret.len() == 6 + 44);
    let all = store
        .create_webhook(ctx(T0 + 1), hook("http://127.0.0.1:9/b", &["*"]))
        .await
        .unwrap();
    let other = store
        .create_webhook(
            ctx(T0 + 1),
            hook("https://hooks.example.com/c", &["sla.breached"]),
        )
        .await
        .unwrap();
    let gone = store
        .create_webhook(
            ctx(T0 + 1),
            hook("https://hooks.example.com/d", &["ticket.created"]),
        )
        .await
        .unwrap();
    store
        .delete_webhook(ctx(T0 + 2), gone.webhook.id)
        .await
        .unwrap();
    // Subscribers' own events (webhook.created/deleted) are never delivered.
    assert!(claim_all(&store, LATER).await.is_empty());

    let t = store
        .create_ticket(ctx(T0 + 3), new_ticket("After", "late@example.com"), None)
        .await
        .unwrap()
        .value;
    let got = claim_all(&store, LATER).await;
    let to_a: Vec<_> = got
        .iter()
        .filter(|d| d.webhook_id == created.webhook.id)
        .collect();
    assert_eq!(to_a.len(), 1, "{got:?}");
    assert_eq!(to_a[0].event.kind, "ticket.created");
    assert_eq!(to_a[0].event.ticket_id, Some(t.id));
    assert_eq!(to_a[0].url, "https://hooks.example.com/a");
    assert_eq!(to_a[0].secret, created.secret);
    assert_eq!(to_a[0].attempts, 0);
    // `*` gets every event of the write, each once; the others nothing.
    let to_all: Vec<_> = got
        .iter()
        .filter(|d| d.webhook_id == all.webhook.id)
        .collect();
    assert!(to_all.len() >= 2, "{to_all:?}");
    assert!(to_all.iter().any(|d| d.event.kind == "ticket.created"));
    assert!(
        to_all
            .iter()
            .all(|d| d.event.ticket_id.is_none() || d.event.ticket_id == Some(t.id))
    );
    let mut ids: Vec<_> = to_all.iter().map(|d| d.event.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        to_all.len(),
        "one delivery per event per subscriber"
    );
    assert!(!got.iter().any(|d| d.webhook_id == other.webhook.id));
    assert!(!got.iter().any(|d| d.webhook_id == gone.webhook.id));
    assert_eq!(got.len(), to_a.len() + to_all.len());

    // Listing never shows a secret; deleting twice is a not-found.
    let listed = store.list_webhooks().await.unwrap();
    assert_eq!(
        listed.iter().map(|w| w.id).collect::<Vec<_>>(),
        vec![created.webhook.id, all.webhook.id, other.webhook.id]
    );
    assert_eq!(listed[0].events, vec!["ticket.created".to_string()]);
    assert!(listed.iter().all(|w| w.active));
    assert!(matches!(
        store.delete_webhook(ctx(T0 + 4), gone.webhook.id).await,
        Err(StoreError::NotFound {
            what: "webhook",
            ..
        })
    ));
}

async fn a_refused_batch_delivers_nothing(store: S) {
    store
        .create_webhook(
            ctx(T0),
            hook("https://hooks.example.com/", &["ticket.imported"]),
        )
        .await
        .unwrap();
    let ticket = |subject: &str| ImportTicket {
        subject: subject.into(),
        requester: Requester {
            customer_id: None,
            email: "old@example.com".into(),
            name: None,
        },
        status: TicketStatus::Solved,
        priority: Priority::Normal,
        channel: Channel::Email,
        inbox: None,
        assignee_id: None,
        team_id: None,
        tags: vec![],
        created_at: Millis(T0 - 1_000),
        updated_at: Millis(T0 - 500),
        solved_at: None,
        closed_at: None,
        messages: vec![ImportMessage {
            kind: MessageKind::Customer,
            body: "An old question.".into(),
            created_at: Millis(T0 - 1_000),
            agent_id: None,
        }],
    };
    // A refused batch appends no events, so it delivers nothing; the rollback of an event
    // already written is `an_event_rolled_back_takes_its_delivery_with_it`.
    let mut ghost = ticket("Second");
    ghost.assignee_id = Some(999_999);
    let e = store
        .import_tickets(ctx(T0), vec![ticket("First"), ghost])
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound { .. }), "{e:?}");
    assert!(claim_all(&store, LATER).await.is_empty());

    store
        .import_tickets(ctx(T0), vec![ticket("First"), ticket("Second")])
        .await
        .unwrap();
    assert_eq!(claim_all(&store, LATER).await.len(), 2);
}

async fn a_claim_is_leased_until_sent_or_expired(store: S) {
    store
        .create_webhook(
            ctx(T0),
            hook("https://hooks.example.com/", &["ticket.created"]),
        )
        .await
        .unwrap();
    store
        .create_ticket(ctx(T0 + 10), new_ticket("Lease", "lease@example.com"), None)
        .await
        .unwrap();
    // Not due before the event's time.
    assert!(claim_all(&store, T0 + 9).await.is_empty());
    let first = store
        .claim_webhook_deliveries(Millis(T0 + 10), 30_000, 10)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    // Another node sees nothing while the lease runs.
    assert!(claim_all(&store, T0 + 10 + 29_999).await.is_empty());
    // The first node died: once the lease ran out the delivery is claimed again, same event.
    let again = claim_all(&store, T0 + 10 + 30_000).await;
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].id, again[0].event.id),
        (first[0].id, first[0].event.id)
    );

    // A retry waits for its time and counts the attempt.
    store
        .webhook_attempted(
            again[0].id,
            Millis(T0 + 40_000),
            OutboxResult::Retry {
                error: "HTTP 500".into(),
                at: Millis(T0 + 100_000),
            },
        )
        .await
        .unwrap();
    assert!(claim_all(&store, T0 + 99_999).await.is_empty());
    let retried = claim_all(&store, T0 + 100_000).await;
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].attempts, 1);

    // Sent is final: never claimed again, even long after its lease.
    store
        .webhook_attempted(retried[0].id, Millis(T0 + 100_001), OutboxResult::Sent)
        .await
        .unwrap();
    assert!(claim_all(&store, LATER * 2).await.is_empty());
}

async fn webhooks_are_validated_naming_the_field(store: S) {
    let refused = |new: NewWebhook| {
        let store = store.clone();
        async move { store.create_webhook(ctx(T0), new).await.unwrap_err() }
    };
    let field = |e: StoreError| match e {
        StoreError::Invalid(i) => i.field,
        e => panic!("{e:?}"),
    };
    for url in [
        "",
        "ftp://example.com/",
        "example.com/hook",
        "https://",
        "https:///path",
        "https://user:pw@example.com/",
        "https://exa mple.com/",
        "https://example.com:99999/",
    ] {
        assert_eq!(field(refused(hook(url, &["*"])).await), "url", "{url:?}");
    }
    assert_eq!(
        field(refused(hook("https://example.com/", &[])).await),
        "events"
    );
    assert_eq!(
        field(refused(hook("https://example.com/", &["ticket.exploded"])).await),
        "events[0]"
    );
    assert_eq!(
        field(
            refused(hook(
                "https://example.com/",
                &["ticket.created", "webhook.created"]
            ))
            .await
        ),
        "events[1]"
    );
    assert!(store.list_webhooks().await.unwrap().is_empty());
    // Accepted forms: ports, IPv6 literals, `*` swallowing the rest.
    for url in [
        "https://example.com:8443/h?x=1",
        "http://[::1]:8080/",
        "HTTPS://Example.com",
    ] {
        store
            .create_webhook(ctx(T0), hook(url, &["ticket.created"]))
            .await
            .unwrap();
    }
    let w = store
        .create_webhook(
            ctx(T0),
            hook("https://example.com/", &["ticket.created", "*"]),
        )
        .await
        .unwrap();
    assert_eq!(w.webhook.events, vec!["*".to_string()]);
}

/// Appends one event by hand inside a transaction that is rolled back, then one that commits:
/// the trigger's delivery row exists inside the transaction and goes with its rollback.
const EVENT_SQL: &str = "INSERT INTO events (ticket_id, kind, actor_kind, actor_id, subject_type, subject_id, data, created_at) \
     VALUES (NULL, 'customer.created', 'system', NULL, 'customer', 1, '{}', 1790000000000)";
const COUNT_SQL: &str = "SELECT count(*) FROM webhook_deliveries";

async fn subscribed(db: &rapport_store::testing::TestDb) {
    db.store
        .create_webhook(ctx(T0), hook("https://hooks.example.com/", &["*"]))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_rolled_back_takes_its_delivery_with_it_sqlite() {
    let db = rapport_store::testing::TestDb::sqlite().await;
    subscribed(&db).await;
    let path = db.url.trim_start_matches("sqlite://").to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = rusqlite::Connection::open(path).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        for commit in [false, true] {
            let tx = conn.transaction().unwrap();
            tx.execute(EVENT_SQL, []).unwrap();
            let inside: i64 = tx.query_row(COUNT_SQL, [], |r| r.get(0)).unwrap();
            assert_eq!(inside, 1, "written by the event's own transaction");
            if commit {
                tx.commit().unwrap()
            } else {
                tx.rollback().unwrap()
            }
        }
    })
    .await
    .unwrap();
    let got = claim_all(&db.store, LATER).await;
    assert_eq!(got.len(), 1, "only the committed event is delivered");
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_rolled_back_takes_its_delivery_with_it_postgres() {
    use sqlx::{Connection, Row};
    let Some(db) = rapport_store::testing::TestDb::postgres().await else {
        return;
    };
    subscribed(&db).await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    for commit in [false, true] {
        let mut tx = conn.begin().await.unwrap();
        sqlx::query(EVENT_SQL).execute(&mut *tx).await.unwrap();
        let inside: i64 = sqlx::query(COUNT_SQL)
            .fetch_one(&mut *tx)
            .await
            .unwrap()
            .get(0);
        assert_eq!(inside, 1, "written by the event's own transaction");
        if commit {
            tx.commit().await.unwrap()
        } else {
            tx.rollback().await.unwrap()
        }
    }
    conn.close().await.unwrap();
    let got = claim_all(&db.store, LATER).await;
    assert_eq!(got.len(), 1, "only the committed event is delivered");
    db.finish().await;
}

rapport_store::on_both_backends!(
    deliveries_are_written_once_per_matching_event,
    a_refused_batch_delivers_nothing,
    a_claim_is_leased_until_sent_or_expired,
    webhooks_are_validated_naming_the_field,
);
