//! What several nodes on one database rely on: leases, broadcasts between processes, and
//! hearing other processes' commits.

use super::*;
use std::time::Duration;

async fn a_lease_has_one_holder_until_it_expires(store: S) {
    let (now, later) = (Millis(T0), Millis(T0 + 10_000));
    assert!(
        store
            .acquire_lease("imap:1", "node-a", now, later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease("imap:1", "node-b", Millis(T0 + 5_000), Millis(T0 + 15_000))
            .await
            .unwrap(),
        "node-b waits while node-a's lease runs"
    );
    assert!(
        store
            .acquire_lease("imap:2", "node-b", now, later)
            .await
            .unwrap(),
        "other work is free"
    );
    // node-a renews before expiry and keeps it past the first end.
    assert!(
        store
            .acquire_lease("imap:1", "node-a", Millis(T0 + 9_000), Millis(T0 + 19_000))
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease("imap:1", "node-b", Millis(T0 + 12_000), Millis(T0 + 22_000))
            .await
            .unwrap()
    );
    // node-a dies: once its lease ran out, node-b takes over and node-a cannot come back.
    assert!(
        store
            .acquire_lease("imap:1", "node-b", Millis(T0 + 19_000), Millis(T0 + 29_000))
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease("imap:1", "node-a", Millis(T0 + 20_000), Millis(T0 + 30_000))
            .await
            .unwrap()
    );
    // Releasing is only for the holder; a released lease is free at once.
    store.release_lease("imap:1", "node-a").await.unwrap();
    assert!(
        !store
            .acquire_lease("imap:1", "node-a", Millis(T0 + 21_000), Millis(T0 + 31_000))
            .await
            .unwrap()
    );
    store.release_lease("imap:1", "node-b").await.unwrap();
    assert!(
        store
            .acquire_lease("imap:1", "node-a", Millis(T0 + 21_000), Millis(T0 + 31_000))
            .await
            .unwrap()
    );
}

async fn nodes_racing_for_a_lease_get_one_holder(store: S) {
    let takers = (0..12).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let holder = format!("node-{i}");
            let won = store
                .acquire_lease("imap:race", &holder, Millis(T0), Millis(T0 + 60_000))
                .await
                .unwrap();
            won.then_some(holder)
        })
    });
    let winners: Vec<String> = futures::future::join_all(takers)
        .await
        .into_iter()
        .filter_map(|r| r.unwrap())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one holder: {winners:?}");
}

async fn broadcasts_reach_this_process_and_oversized_ones_are_refused(store: S) {
    let mut heard = store.broadcasts();
    store.broadcast("{\"presence\":1}").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), heard.recv())
        .await
        .expect("the broadcast arrives")
        .unwrap();
    assert_eq!(got, "{\"presence\":1}");
    let e = store.broadcast(&"x".repeat(8_000)).await.unwrap_err();
    assert!(matches!(e, StoreError::Invalid(_)), "{e:?}");
}

rapport_store::on_both_backends!(
    a_lease_has_one_holder_until_it_expires,
    nodes_racing_for_a_lease_get_one_holder,
    broadcasts_reach_this_process_and_oversized_ones_are_refused,
);

/// Two stores on one PostgreSQL database are two nodes: each hears the other's broadcasts,
/// and a commit on one wakes the other's live pages (NOTIFY sent after the commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_nodes_hear_each_others_commits_and_broadcasts() {
    let Some(db) = rapport_store::testing::TestDb::postgres().await else {
        return;
    };
    let node_a = db.store.clone();
    let node_b: S = rapport_store::open(&db.url).await.unwrap();
    let mut commits_b = node_b.commits();
    commits_b.borrow_and_update();
    let mut heard_b = node_b.broadcasts();
    let after = node_b.last_event_id().await.unwrap();

    let ticket = node_a
        .create_ticket(ctx(T0), new_ticket("Router drops", "ann@example.com"), None)
        .await
        .unwrap()
        .value;
    tokio::time::timeout(Duration::from_secs(5), commits_b.changed())
        .await
        .expect("node b hears node a's commit")
        .unwrap();
    let events = node_b.events_since(after, 100).await.unwrap();
    assert!(
        events.iter().any(|e| e.ticket_id == Some(ticket.id)),
        "node b reads the new events: {events:?}"
    );

    node_a.broadcast("hello from a").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), heard_b.recv())
        .await
        .expect("node b hears node a's broadcast")
        .unwrap();
    assert_eq!(got, "hello from a");

    // A rolled-back write announces nothing.
    commits_b.borrow_and_update();
    let refused = node_a
        .create_ticket(ctx(T0), new_ticket("", "ann@example.com"), None)
        .await;
    assert!(refused.is_err());
    assert!(
        tokio::time::timeout(Duration::from_millis(500), commits_b.changed())
            .await
            .is_err(),
        "nothing committed, nothing announced"
    );
    node_b.close().await;
    db.finish().await;
}

async fn upgrade_from_the_search_release(url: String) {
    const SEARCH_DATA: &str = "
        INSERT INTO customers (id, name, created_at, updated_at) VALUES (7, 'Ann Lee', 1, 1);
        INSERT INTO customer_emails (email, customer_id, is_primary) VALUES ('ann@ann.example', 7, TRUE);
        INSERT INTO tickets (id, subject, status, priority, channel, customer_id, inbox_id, created_at, updated_at)
            VALUES (10001, 'Invoices missing', 'open', 'normal', 'email', 7, 1, 1, 1);";
    rapport_store::database_at_version(&url, 6, SEARCH_DATA)
        .await
        .unwrap();
    let store: S = rapport_store::open(&url).await.unwrap();
    assert_eq!(
        store.ticket(10001).await.unwrap().subject,
        "Invoices missing"
    );
    assert!(
        store
            .acquire_lease("imap:1", "node-a", Millis(T0), Millis(T0 + 1))
            .await
            .unwrap()
    );
    store.close().await;
}

upgrade_on_both_backends!(upgrade_from_the_search_release);
