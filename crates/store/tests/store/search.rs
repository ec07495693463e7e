//! Search over whole tickets on both backends: stems in English and German, non-Latin
//! scripts, words spread over a ticket's parts, people and attachment names, ranking,
//! snippets, who may find what, and the index following edits, merges and renames.

use super::{S, T0, agent, ctx, new_ticket, q};
use rapport_core::update::TicketPatch;
use rapport_core::{Channel, MessageKind, Role};
use rapport_store::*;

fn ids(hits: &[SearchHit]) -> Vec<i64> {
    hits.iter().map(|h| h.ticket.id).collect()
}

async fn found(store: &S, query: &str) -> Vec<i64> {
    ids(&store.search(&q(query), 50).await.unwrap())
}

async fn found_as(store: &S, scope: SearchScope, query: &str) -> Vec<i64> {
    ids(&store.search_as(scope, &q(query), 50).await.unwrap())
}

fn message(kind: MessageKind, body: &str) -> NewMessage {
    NewMessage {
        kind,
        channel: Channel::Api,
        body: body.into(),
        send_email: false,
        attachments: Vec::new(),
    }
}

async fn ticket(store: &S, at: i64, subject: &str, email: &str, body: &str) -> Ticket {
    let mut new = new_ticket(subject, email);
    new.body = body.into();
    store.create_ticket(ctx(at), new, None).await.unwrap().value
}

async fn stems_and_scripts(store: S) {
    let en = ticket(
        &store,
        T0,
        "Money back",
        "a@example.com",
        "We refunded the order twice.",
    )
    .await;
    let de = ticket(
        &store,
        T0 + 1,
        "Frage",
        "b@example.de",
        "Meine Rechnungen für März fehlen, Straße unbekannt.",
    )
    .await;
    let ru = ticket(
        &store,
        T0 + 2,
        "Оплата",
        "c@example.ru",
        "Мой заказ не пришёл",
    )
    .await;
    let zh = ticket(
        &store,
        T0 + 3,
        "订单问题",
        "d@example.cn",
        "您好，我的订单没有到。",
    )
    .await;
    let ja = ticket(
        &store,
        T0 + 4,
        "ログイン",
        "e@example.jp",
        "パスワードを忘れました",
    )
    .await;

    assert_eq!(
        found(&store, "refunds").await,
        [en.id],
        "English inflections meet at the stem"
    );
    assert_eq!(found(&store, "refunding").await, [en.id]);
    assert_eq!(
        found(&store, "Rechnung").await,
        [de.id],
        "German plural found by the singular"
    );
    assert_eq!(
        found(&store, "marz strasse").await,
        [de.id],
        "diacritics and ß fold"
    );
    assert_eq!(found(&store, "заказы").await, [ru.id], "Russian stems");
    assert_eq!(
        found(&store, "订单").await,
        [zh.id],
        "a Chinese word inside a sentence"
    );
    assert_eq!(found(&store, "订单没有").await, [zh.id]);
    assert_eq!(
        found(&store, "パスワード").await,
        [ja.id],
        "Japanese inside a sentence"
    );
    assert!(
        found(&store, "没有订单").await.is_empty(),
        "character pairs keep their order"
    );
    assert!(
        found(&store, "\"refunds the order\"").await.is_empty(),
        "phrases match words exactly"
    );
    assert_eq!(found(&store, "\"refunded the order\"").await, [en.id]);
    assert_eq!(found(&store, "refu*").await, [en.id]);
}

async fn whole_tickets_people_and_files(store: S) {
    let sam = agent(&store, "sam@desk.example", Role::Agent).await;
    let org = store
        .create_organization(
            ctx(T0),
            NewOrganization {
                name: "Globex Logistics".into(),
                tier: rapport_core::contact::Tier::Standard,
                contract_value_cents: 0,
                domains: vec![],
                notes: String::new(),
            },
            None,
        )
        .await
        .unwrap()
        .value;
    let t = ticket(
        &store,
        T0,
        "Router resets",
        "zoe.ångström@example.com",
        "It resets at night.",
    )
    .await;
    store
        .update_customer(
            ctx(T0 + 1),
            t.customer.id,
            CustomerPatch {
                organization_id: Some(Some(org.id)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut reply = message(
        MessageKind::Reply,
        "Please send the invoice from last month.",
    );
    reply.attachments.push(NewAttachment {
        filename: "firmware-changelog.pdf".into(),
        content_type: "application/pdf".into(),
        content_id: None,
        inline: false,
        size_bytes: 4,
        data: Some(b"%PDF".to_vec()),
        withheld: None,
    });
    store
        .add_message(super::agent_ctx(sam.id, T0 + 2), t.id, reply, None)
        .await
        .unwrap();
    let other = ticket(
        &store,
        T0 + 3,
        "Invoice question",
        "x@example.com",
        "Where is my router?",
    )
    .await;

    assert_eq!(
        found(&store, "router invoice month").await,
        [t.id],
        "words from the subject and a reply together"
    );
    assert_eq!(found(&store, "router invoice").await, [other.id, t.id]);
    assert_eq!(
        found(&store, "angstrom resets").await,
        [t.id],
        "the customer's name"
    );
    assert_eq!(
        found(&store, "globex").await,
        [t.id],
        "the organisation's name"
    );
    assert_eq!(found(&store, "changelog").await, [t.id], "attachment names");
    assert_eq!(
        found(&store, "\"example com\" zoe").await,
        [t.id],
        "addresses"
    );
}

async fn ranking_and_snippets(store: S) {
    let body_only = ticket(
        &store,
        T0,
        "Question",
        "a@example.com",
        "By the way the modem blinks red and the modem is hot.",
    )
    .await;
    let in_subject = ticket(
        &store,
        T0 + 1,
        "Modem blinks red",
        "b@example.com",
        "Since yesterday.",
    )
    .await;
    let hits = store.search(&q("modem"), 10).await.unwrap();
    assert_eq!(
        ids(&hits),
        [in_subject.id, body_only.id],
        "a subject match ranks first"
    );
    assert!(hits[0].snippet.contains("[Modem]"), "{}", hits[0].snippet);
    assert!(
        hits[1].snippet.contains("[modem] blinks"),
        "{}",
        hits[1].snippet
    );
    assert!(
        !hits[1].snippet.contains("Question"),
        "the snippet is where the words are"
    );
    // Filters narrow text matches, exclusions drop them.
    store
        .update_ticket(
            ctx(T0 + 2),
            body_only.id,
            TicketPatch {
                priority: Some(rapport_core::Priority::High),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(found(&store, "modem priority:high").await, [body_only.id]);
    assert_eq!(found(&store, "modem -hot").await, [in_subject.id]);
    assert_eq!(found(&store, "-hot status:new").await, [in_subject.id]);
}

async fn customers_find_their_own_public_words_only(store: S) {
    let sam = agent(&store, "sam@desk.example", Role::Agent).await;
    let ann = ticket(
        &store,
        T0,
        "Broken charger",
        "ann@acme.example",
        "The charger sparks.",
    )
    .await;
    let bob = ticket(
        &store,
        T0 + 1,
        "Charger too",
        "bob@other.example",
        "My charger sparks as well.",
    )
    .await;
    store
        .add_message(
            super::agent_ctx(sam.id, T0 + 2),
            ann.id,
            message(
                MessageKind::Note,
                "Supplier recall batch 77, do not mention yet",
            ),
            None,
        )
        .await
        .unwrap();
    let as_ann = SearchScope::Customer {
        customer_id: ann.customer.id,
        organization_id: None,
    };
    assert_eq!(
        found(&store, "charger").await.len(),
        2,
        "staff see every ticket"
    );
    assert_eq!(
        found_as(&store, as_ann, "charger").await,
        [ann.id],
        "never another customer's"
    );
    assert_eq!(found(&store, "recall").await, [ann.id], "staff find notes");
    assert!(
        found_as(&store, as_ann, "recall").await.is_empty(),
        "customers never match notes"
    );
    assert!(found_as(&store, as_ann, "charger recall").await.is_empty());
    let hits = store.search_as(as_ann, &q("sparks"), 10).await.unwrap();
    assert!(!hits[0].snippet.contains("recall"));
    assert!(
        found_as(&store, as_ann, "status:new").await == [ann.id],
        "filters stay in the scope"
    );
    // An organisation's admin searches the organisation's tickets.
    let org = store
        .create_organization(
            ctx(T0),
            NewOrganization {
                name: "Other Ltd".into(),
                tier: rapport_core::contact::Tier::Standard,
                contract_value_cents: 0,
                domains: vec![],
                notes: String::new(),
            },
            None,
        )
        .await
        .unwrap()
        .value;
    for customer in [ann.customer.id, bob.customer.id] {
        store
            .update_customer(
                ctx(T0 + 3),
                customer,
                CustomerPatch {
                    organization_id: Some(Some(org.id)),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    let as_org_admin = SearchScope::Customer {
        customer_id: bob.customer.id,
        organization_id: Some(org.id),
    };
    let mut both = found_as(&store, as_org_admin, "charger").await;
    both.sort();
    assert_eq!(both, [ann.id, bob.id]);
}

async fn the_index_follows_edits_merges_and_renames(store: S) {
    let a = ticket(
        &store,
        T0,
        "Printer jam",
        "ann@example.com",
        "Paper stuck in tray two.",
    )
    .await;
    let b = ticket(
        &store,
        T0 + 1,
        "Another printer thing",
        "ann@example.com",
        "Toner smudges everywhere.",
    )
    .await;
    store
        .update_ticket(
            ctx(T0 + 2),
            a.id,
            TicketPatch {
                subject: Some("Scanner offline".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        found(&store, "jam").await.is_empty(),
        "the old subject is gone"
    );
    assert_eq!(found(&store, "scanner").await, [a.id]);
    store.merge_tickets(ctx(T0 + 3), b.id, a.id).await.unwrap();
    assert_eq!(
        found(&store, "toner").await,
        [a.id],
        "merged messages are found on the target"
    );
    assert_eq!(found(&store, "toner scanner").await, [a.id]);
    store
        .update_customer(
            ctx(T0 + 4),
            a.customer.id,
            CustomerPatch {
                name: Some("Annabel Quist".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        found(&store, "quist").await.contains(&a.id),
        "a renamed customer is found by the new name"
    );
    assert!(
        found(&store, "scanner lee").await.is_empty(),
        "and no longer by the old"
    );
    let added = store
        .add_message(
            ctx(T0 + 5),
            a.id,
            message(MessageKind::Customer, "Also the fax hums."),
            None,
        )
        .await
        .unwrap();
    assert!(!added.replayed);
    assert_eq!(found(&store, "hums").await, [a.id]);
}

/// Concurrent writes to one ticket's text (messages, the customer's rename) each leave their
/// words in its document: none overwrites another's.
async fn concurrent_writes_keep_every_word(store: S) {
    let t = ticket(
        &store,
        T0,
        "Busy ticket",
        "busy@example.com",
        "First words.",
    )
    .await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .add_message(
                    ctx(T0 + 1 + i),
                    t.id,
                    message(MessageKind::Note, &format!("marker{i}word")),
                    None,
                )
                .await
                .map(|_| ())
        });
    }
    let renamer = store.clone();
    let customer = t.customer.id;
    tasks.spawn(async move {
        renamer
            .update_customer(
                ctx(T0 + 50),
                customer,
                CustomerPatch {
                    name: Some("Quentin Zebulon".into()),
                    ..Default::default()
                },
            )
            .await
            .map(|_| ())
    });
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    for i in 0..12 {
        assert_eq!(
            found(&store, &format!("marker{i}word")).await,
            [t.id],
            "marker{i}word"
        );
    }
    assert_eq!(found(&store, "zebulon").await, [t.id]);
}

fn imported(n: i64, email: &str, priority: rapport_core::Priority) -> ImportTicket {
    let at = rapport_core::Millis(T0 + n);
    ImportTicket {
        subject: format!("Router trouble {n}"),
        requester: Requester {
            customer_id: None,
            email: email.into(),
            name: None,
        },
        status: rapport_core::TicketStatus::Open,
        priority,
        channel: Channel::Email,
        inbox: None,
        assignee_id: None,
        team_id: None,
        tags: vec![],
        created_at: at,
        updated_at: at,
        solved_at: None,
        closed_at: None,
        messages: vec![ImportMessage {
            kind: MessageKind::Customer,
            body: "The router drops again.".into(),
            created_at: at,
            agent_id: None,
        }],
    }
}

/// A word in thousands of tickets, with filters that only old ones pass: found all the same,
/// whether the filters leave few tickets (searched within them) or many (the index read
/// further back, window by window).
async fn filters_find_old_matches_of_common_words(store: S) {
    use rapport_core::Priority::{Low, Normal};
    let batch: Vec<ImportTicket> = (0..2_100)
        .map(|n| {
            let email = if n == 0 {
                "first@old.example".to_string()
            } else {
                format!("c{}@example.com", n % 300)
            };
            imported(n, &email, if n < 1_050 { Low } else { Normal })
        })
        .collect();
    let ids = store.import_tickets(ctx(T0), batch).await.unwrap();
    let hits = found(&store, "router customer:first@old.example").await;
    assert_eq!(hits, [ids[0]], "a selective filter finds the oldest match");
    let low = store.search(&q("router priority:low"), 50).await.unwrap();
    assert_eq!(low.len(), 50, "the index is read past the newest thousand");
    assert!(low.iter().all(|h| h.ticket.priority == Low));
    assert_eq!(found(&store, "router").await.len(), 50);
}

/// A database from the release before whole-ticket search: its tickets are indexed when the
/// store opens, and found afterwards.
async fn upgrade_from_the_routing_release(url: String) {
    const ROUTING_DATA: &str = "
        INSERT INTO customers (id, name, created_at, updated_at) VALUES (7, 'Ann Lee', 1, 1);
        INSERT INTO customer_emails (email, customer_id, is_primary) VALUES ('ann@ann.example', 7, TRUE);
        INSERT INTO tickets (id, subject, status, priority, channel, customer_id, inbox_id, created_at, updated_at)
            VALUES (10001, 'Invoices missing', 'open', 'normal', 'email', 7, 1, 1, 1),
                   (10002, 'Router', 'new', 'normal', 'email', 7, 1, 2, 2);
        INSERT INTO messages (ticket_id, kind, channel, author_customer_id, body, created_at)
            VALUES (10001, 'customer', 'email', 7, 'Where are my invoices?', 1),
                   (10002, 'customer', 'email', 7, 'It drops every evening.', 2);";
    rapport_store::database_at_version(&url, 5, ROUTING_DATA)
        .await
        .unwrap();
    let store: S = rapport_store::open(&url).await.unwrap();
    assert_eq!(found(&store, "invoice").await, [10001]);
    assert_eq!(found(&store, "evenings").await, [10002]);
    assert_eq!(found(&store, "ann").await.len(), 2);
    store.close().await;
    // Opening again finds nothing left to index.
    let store: S = rapport_store::open(&url).await.unwrap();
    assert_eq!(found(&store, "invoice").await, [10001]);
    store.close().await;
}

rapport_store::on_both_backends!(
    stems_and_scripts,
    whole_tickets_people_and_files,
    ranking_and_snippets,
    customers_find_their_own_public_words_only,
    the_index_follows_edits_merges_and_renames,
    concurrent_writes_keep_every_word,
    filters_find_old_matches_of_common_words,
);

upgrade_on_both_backends!(upgrade_from_the_routing_release);
