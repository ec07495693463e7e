//! The store's story, told once and run on SQLite and PostgreSQL.

use rapport_core::contact::Tier;
use rapport_core::fields::{FieldDef, FieldType};
use rapport_core::search::SearchQuery;
use rapport_core::update::TicketPatch;
use rapport_core::{Actor, Channel, MessageKind, Millis, Priority, Role, TicketStatus};
use rapport_store::*;
use serde_json::json;
use std::sync::Arc;

type S = Arc<dyn Store>;

/// One upgrade story (`story(url)` given a fresh database URL) as two tests, `<story>::sqlite`
/// and `<story>::postgres` (the PostgreSQL one is required when `CI=true`).
macro_rules! upgrade_on_both_backends {
    ($($story:ident),+ $(,)?) => {
        $(
            mod $story {
                #[tokio::test]
                async fn sqlite() {
                    let dir = rapport_store::testing::TestDb::temp_dir();
                    super::$story(format!("sqlite://{}", dir.join("old.db").display())).await;
                    let _ = std::fs::remove_dir_all(dir);
                }

                #[tokio::test]
                async fn postgres() {
                    crate::on_scratch_postgres(super::$story).await;
                }
            }
        )+
    };
}

/// Runs an upgrade test on a fresh PostgreSQL database (required when `CI=true`).
pub(crate) async fn on_scratch_postgres<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let admin = rapport_store::testing::postgres_admin_url();
    let url =
        match rapport_store::scratch::create_postgres_database(&admin, "rapport_upgrade").await {
            Ok(url) => url,
            Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("skipping PostgreSQL upgrade test: {e}");
                return;
            }
            Err(e) => panic!("CI=true requires PostgreSQL: {e}"),
        };
    test(url.clone()).await;
    rapport_store::scratch::drop_postgres_database(&admin, &url)
        .await
        .unwrap();
}

#[path = "store/chat.rs"]
mod chat;
#[path = "store/cluster.rs"]
mod cluster;
#[path = "store/email.rs"]
mod email;
#[path = "store/import.rs"]
mod import;
#[path = "store/phone.rs"]
mod phone;
#[path = "store/routing.rs"]
mod routing;
#[path = "store/search.rs"]
mod search;
#[path = "store/sla.rs"]
mod sla;
#[path = "store/webhooks.rs"]
mod webhooks;

const T0: i64 = 1_790_000_000_000;

fn q(text: &str) -> SearchQuery {
    SearchQuery::parse(text).unwrap()
}

fn ctx(at: i64) -> Ctx {
    Ctx {
        actor: Actor::SYSTEM,
        at: Millis(at),
    }
}

fn agent_ctx(agent: i64, at: i64) -> Ctx {
    Ctx {
        actor: Actor::agent(agent),
        at: Millis(at),
    }
}

fn new_ticket(subject: &str, email: &str) -> NewTicket {
    NewTicket {
        subject: subject.into(),
        requester: Requester {
            customer_id: None,
            email: email.into(),
            name: Some("Ann Lee".into()),
        },
        body: "My router keeps dropping the connection every evening.".into(),
        channel: Channel::Api,
        priority: Priority::Normal,
        status: TicketStatus::New,
        tags: vec![],
        inbox: None,
        assignee_id: None,
        team_id: None,
        custom_fields: Default::default(),
    }
}

async fn agent(store: &S, email: &str, role: Role) -> Agent {
    store
        .create_agent(
            ctx(T0),
            NewAgent {
                email: email.into(),
                name: "Sam Agent".into(),
                role,
                password_hash: None,
            },
        )
        .await
        .unwrap()
}

async fn ticket_lifecycle(store: S) {
    let sam = agent(&store, "sam@example.com", Role::Agent).await;
    store
        .create_custom_field(
            ctx(T0),
            FieldDef {
                key: "order".into(),
                label: "Order".into(),
                field_type: FieldType::Text,
                options: vec![],
            },
        )
        .await
        .unwrap();
    let mut new = new_ticket("Router drops Wi-Fi", "Ann@Example.com");
    new.tags = vec!["WiFi".into(), "router".into()];
    new.custom_fields = json!({"order": "A-17"}).as_object().unwrap().clone();
    let created = store
        .create_ticket(agent_ctx(sam.id, T0), new, None)
        .await
        .unwrap();
    assert!(!created.replayed);
    let t = created.value;
    assert!(t.id > 10_000, "ticket numbers start at 10001, got {}", t.id);
    assert_eq!(t.reference, format!("R-{}", t.id));
    assert_eq!(t.status, TicketStatus::New);
    assert_eq!(t.customer.email.as_deref(), Some("ann@example.com"));
    assert_eq!(t.customer.name, "Ann Lee");
    assert_eq!(t.tags, vec!["router", "wifi"]);
    assert_eq!(t.custom_fields["order"], json!("A-17"));
    assert_eq!(t.team_id, Some(1), "the default inbox routes to its team");
    assert_eq!(
        store.ticket(t.id).await.unwrap(),
        t,
        "what create returns is what is stored"
    );

    // The customer's first message is on the ticket; an agent reply opens it; a note is private.
    let reply = store
        .add_message(
            agent_ctx(sam.id, T0 + 1_000),
            t.id,
            NewMessage {
                send_email: false,
                attachments: Vec::new(),
                kind: MessageKind::Reply,
                channel: Channel::Email,
                body: "Hi Ann, which router model?".into(),
            },
            None,
        )
        .await
        .unwrap()
        .value;
    assert!(reply.public);
    assert_eq!(reply.author, Actor::agent(sam.id));
    store
        .add_message(
            agent_ctx(sam.id, T0 + 2_000),
            t.id,
            NewMessage {
                send_email: false,
                attachments: Vec::new(),
                kind: MessageKind::Note,
                channel: Channel::Api,
                body: "Known firmware bug".into(),
            },
            None,
        )
        .await
        .unwrap();
    let messages = store
        .list_messages(t.id, PageRequest::first(50))
        .await
        .unwrap()
        .items;
    let kinds: Vec<_> = messages.iter().map(|m| (m.kind, m.public)).collect();
    assert_eq!(
        kinds,
        [
            (MessageKind::Customer, true),
            (MessageKind::Reply, true),
            (MessageKind::Note, false)
        ]
    );
    assert_eq!(messages[0].author.kind, rapport_core::ActorKind::Customer);
    let t = store.ticket(t.id).await.unwrap();
    assert_eq!(
        t.status,
        TicketStatus::Open,
        "our first public reply opens a new ticket"
    );
    assert_eq!(t.updated_at, Millis(T0 + 2_000));

    // An edit records each change with before and after.
    let patch = TicketPatch {
        status: Some(TicketStatus::Solved),
        priority: Some(Priority::High),
        assignee_id: Some(Some(sam.id)),
        tags: Some(vec!["router".into()]),
        custom_fields: Some(json!({"order": null}).as_object().unwrap().clone()),
        ..Default::default()
    };
    let solved = store
        .update_ticket(agent_ctx(sam.id, T0 + 3_000), t.id, patch)
        .await
        .unwrap();
    assert_eq!(solved.status, TicketStatus::Solved);
    assert_eq!(solved.solved_at, Some(Millis(T0 + 3_000)));
    assert_eq!(solved.assignee_id, Some(sam.id));
    assert!(solved.custom_fields.is_empty());
    let events = store
        .list_events(t.id, PageRequest::first(100))
        .await
        .unwrap()
        .items;
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds[0], "ticket.created");
    assert!(kinds.contains(&"message.added"));
    let status_changes: Vec<_> = events
        .iter()
        .filter(|e| e.data["field"] == "status")
        .map(|e| (e.data["before"].clone(), e.data["after"].clone()))
        .collect();
    assert_eq!(
        status_changes,
        [
            (json!("new"), json!("open")),
            (json!("open"), json!("solved"))
        ]
    );
    let priority = events
        .iter()
        .find(|e| e.data["field"] == "priority")
        .unwrap();
    assert_eq!(priority.actor, Actor::agent(sam.id));
    assert_eq!(priority.created_at, Millis(T0 + 3_000));

    // Forbidden moves are refused and change nothing.
    let to_new = TicketPatch {
        status: Some(TicketStatus::New),
        ..Default::default()
    };
    assert!(matches!(
        store.update_ticket(ctx(T0 + 4_000), t.id, to_new).await,
        Err(StoreError::Invalid(_))
    ));
    let unknown_agent = TicketPatch {
        assignee_id: Some(Some(999_999)),
        ..Default::default()
    };
    assert!(matches!(
        store
            .update_ticket(ctx(T0 + 4_000), t.id, unknown_agent)
            .await,
        Err(StoreError::NotFound { what: "agent", .. })
    ));
    assert_eq!(
        store
            .list_events(t.id, PageRequest::first(100))
            .await
            .unwrap()
            .items
            .len(),
        events.len()
    );

    // The customer writing again reopens it; once closed it takes no more messages.
    let customer = Ctx {
        actor: Actor::customer(t.customer.id),
        at: Millis(T0 + 5_000),
    };
    store
        .add_message(
            customer,
            t.id,
            NewMessage {
                send_email: false,
                attachments: Vec::new(),
                kind: MessageKind::Customer,
                channel: Channel::Email,
                body: "Still broken".into(),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(store.ticket(t.id).await.unwrap().status, TicketStatus::Open);
    for status in [TicketStatus::Solved, TicketStatus::Closed] {
        store
            .update_ticket(
                ctx(T0 + 6_000),
                t.id,
                TicketPatch {
                    status: Some(status),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    let late = store
        .add_message(
            customer,
            t.id,
            NewMessage {
                send_email: false,
                attachments: Vec::new(),
                kind: MessageKind::Customer,
                channel: Channel::Email,
                body: "Hello?".into(),
            },
            None,
        )
        .await;
    assert!(matches!(late, Err(StoreError::Conflict(_))), "{late:?}");
    assert!(matches!(
        store.ticket(1).await,
        Err(StoreError::NotFound { what: "ticket", .. })
    ));
}

async fn bad_input_is_refused_precisely(store: S) {
    let mut empty_subject = new_ticket("   ", "a@example.com");
    empty_subject.subject = " ".into();
    let err = store
        .create_ticket(ctx(T0), empty_subject, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(i) if i.field == "subject"),
        "{err}"
    );
    let err = store
        .create_ticket(ctx(T0), new_ticket("Hi", "not-an-email"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(i) if i.field == "customer.email"),
        "{err}"
    );
    let mut unknown_field = new_ticket("Hi", "a@example.com");
    unknown_field.custom_fields = json!({"colour": "red"}).as_object().unwrap().clone();
    let err = store
        .create_ticket(ctx(T0), unknown_field, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(i) if i.field == "custom_fields.colour"),
        "{err}"
    );
    let mut unknown_inbox = new_ticket("Hi", "a@example.com");
    unknown_inbox.inbox = Some("Nowhere".into());
    assert!(matches!(
        store.create_ticket(ctx(T0), unknown_inbox, None).await,
        Err(StoreError::Invalid(_))
    ));
    // Nothing of the refused requests was kept: not even the customer the first step created.
    assert!(
        store
            .list_tickets(&TicketFilter::default(), PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        store
            .list_customers(&CustomerFilter::default(), PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn customers_and_organizations(store: S) {
    let acme = store
        .create_organization(
            ctx(T0),
            NewOrganization {
                name: "Acme".into(),
                tier: Tier::Enterprise,
                contract_value_cents: 12_000_000,
                domains: vec!["Acme.com".into()],
                notes: String::new(),
            },
            None,
        )
        .await
        .unwrap()
        .value;
    assert_eq!(acme.domains, ["acme.com"]);
    let dup = store
        .create_organization(
            ctx(T0),
            NewOrganization {
                name: "ACME".into(),
                ..Default::default()
            },
            None,
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");

    // A new customer from the organisation's domain joins it.
    let t = store
        .create_ticket(ctx(T0), new_ticket("Invoice", "bob@acme.com"), None)
        .await
        .unwrap()
        .value;
    let bob = store.customer(t.customer.id).await.unwrap();
    assert_eq!(bob.organization_id, Some(acme.id));
    // A second ticket from the same address finds the same customer.
    let t2 = store
        .create_ticket(
            ctx(T0 + 1),
            new_ticket("Invoice again", "BOB@acme.com"),
            None,
        )
        .await
        .unwrap()
        .value;
    assert_eq!(t2.customer.id, bob.id);

    let carol = store
        .create_customer(
            ctx(T0),
            NewCustomer {
                name: "Carol".into(),
                emails: vec!["carol@example.org".into(), "c@example.org".into()],
                time_zone: Some("Europe/Berlin".into()),
                language: Some("de".into()),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap()
        .value;
    assert_eq!(carol.emails, ["carol@example.org", "c@example.org"]);
    // Writing from a secondary address: the ticket shows the customer's primary one, and what
    // create returns is what a read returns.
    let mut from_secondary = new_ticket("Second address", "c@example.org");
    from_secondary.tags = vec!["zeta".into(), "Alpha".into()];
    let t3 = store
        .create_ticket(ctx(T0 + 2), from_secondary, None)
        .await
        .unwrap()
        .value;
    assert_eq!(
        (t3.customer.id, t3.customer.email.as_deref()),
        (carol.id, Some("carol@example.org"))
    );
    assert_eq!(t3.customer.name, "Carol");
    assert_eq!(store.ticket(t3.id).await.unwrap(), t3);
    let taken = store
        .create_customer(
            ctx(T0),
            NewCustomer {
                name: "Imposter".into(),
                emails: vec!["c@example.org".into()],
                ..Default::default()
            },
            None,
        )
        .await;
    assert!(
        matches!(&taken, Err(StoreError::Conflict(m)) if m.contains("c@example.org")),
        "{taken:?}"
    );
    let bad_tz = store
        .create_customer(
            ctx(T0),
            NewCustomer {
                name: "X".into(),
                time_zone: Some("Mars/Base".into()),
                ..Default::default()
            },
            None,
        )
        .await;
    assert!(matches!(&bad_tz, Err(StoreError::Invalid(i)) if i.field == "time_zone"));

    let patch = CustomerPatch {
        organization_id: Some(Some(acme.id)),
        phone: Some(Some("+49 30 1234".into())),
        ..Default::default()
    };
    let carol2 = store
        .update_customer(ctx(T0 + 10), carol.id, patch)
        .await
        .unwrap();
    assert_eq!(carol2.organization_id, Some(acme.id));
    assert_eq!(carol2.updated_at, Millis(T0 + 10));
    let missing_org = CustomerPatch {
        organization_id: Some(Some(424_242)),
        ..Default::default()
    };
    assert!(matches!(
        store.update_customer(ctx(T0), carol.id, missing_org).await,
        Err(StoreError::NotFound {
            what: "organization",
            ..
        })
    ));

    let members = store
        .list_customers(
            &CustomerFilter {
                organization_id: Some(acme.id),
                email: None,
            },
            PageRequest::first(10),
        )
        .await
        .unwrap();
    let mut ids: Vec<_> = members.items.iter().map(|c| c.id).collect();
    ids.sort();
    assert_eq!(ids, [bob.id, carol.id]);
    let by_email = store
        .list_customers(
            &CustomerFilter {
                organization_id: None,
                email: Some("C@Example.org".into()),
            },
            PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(by_email.items.len(), 1);
    let org_tickets = store
        .list_tickets(
            &TicketFilter {
                organization_id: Some(acme.id),
                ..Default::default()
            },
            PageRequest::first(10),
        )
        .await
        .unwrap();
    // Bob's two tickets, and Carol's since she joined Acme: the filter follows the customer.
    assert_eq!(org_tickets.items.len(), 3);
}

async fn idempotent_creates(store: S) {
    let sam = agent(&store, "sam@example.com", Role::Agent).await;
    let key = |fp: &str| {
        Some(Idempotency {
            agent_id: sam.id,
            key: "k-1".into(),
            fingerprint: fp.into(),
        })
    };
    let first = store
        .create_ticket(
            agent_ctx(sam.id, T0),
            new_ticket("Once", "a@example.com"),
            key("fp"),
        )
        .await
        .unwrap();
    let again = store
        .create_ticket(
            agent_ctx(sam.id, T0 + 5),
            new_ticket("Once", "a@example.com"),
            key("fp"),
        )
        .await
        .unwrap();
    assert!(!first.replayed);
    assert!(again.replayed);
    assert_eq!(first.value.id, again.value.id);
    let other = store
        .create_ticket(
            agent_ctx(sam.id, T0),
            new_ticket("Different", "a@example.com"),
            key("other"),
        )
        .await;
    assert!(matches!(other, Err(StoreError::IdempotencyMismatch)));
    let all = store
        .list_tickets(&TicketFilter::default(), PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1);

    // Concurrent retries of one request create one ticket.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let idem = Some(Idempotency {
                agent_id: sam.id,
                key: "k-2".into(),
                fingerprint: "fp2".into(),
            });
            tokio::spawn(async move {
                store
                    .create_ticket(
                        agent_ctx(sam.id, T0),
                        new_ticket("Race", "r@example.com"),
                        idem,
                    )
                    .await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap().value.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(
        store
            .list_tickets(&TicketFilter::default(), PageRequest::first(10))
            .await
            .unwrap()
            .items
            .len(),
        2
    );
}

async fn lists_filter_and_page(store: S) {
    let sam = agent(&store, "sam@example.com", Role::Agent).await;
    let team = store
        .create_team(ctx(T0), "Billing", "Invoices")
        .await
        .unwrap();
    for i in 0..25i64 {
        let mut t = new_ticket(&format!("Ticket {i}"), &format!("c{}@example.com", i % 5));
        t.tags = if i % 3 == 0 {
            vec!["vip".into()]
        } else {
            vec![]
        };
        t.assignee_id = (i % 2 == 0).then_some(sam.id);
        t.team_id = (i % 5 == 0).then_some(team.id);
        t.status = if i % 4 == 0 {
            TicketStatus::Pending
        } else {
            TicketStatus::Open
        };
        // Several tickets share a time, so the cursor must break ties by id.
        store
            .create_ticket(ctx(T0 + (i / 3) * 1_000), t, None)
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut page = PageRequest::first(7);
    loop {
        let got = store
            .list_tickets(&TicketFilter::default(), page)
            .await
            .unwrap();
        assert!(got.items.len() <= 7);
        seen.extend(got.items.iter().map(|t| (t.updated_at, t.id)));
        match got.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, each ticket exactly once");

    let count = |f: TicketFilter| {
        let store = store.clone();
        async move {
            store
                .list_tickets(&f, PageRequest::first(100))
                .await
                .unwrap()
                .items
                .len()
        }
    };
    assert_eq!(
        count(TicketFilter {
            tag: Some("vip".into()),
            ..Default::default()
        })
        .await,
        9
    );
    assert_eq!(
        count(TicketFilter {
            assignee: Some(AssigneeFilter::Agent(sam.id)),
            ..Default::default()
        })
        .await,
        13
    );
    assert_eq!(
        count(TicketFilter {
            assignee: Some(AssigneeFilter::Unassigned),
            ..Default::default()
        })
        .await,
        12
    );
    assert_eq!(
        count(TicketFilter {
            team_id: Some(team.id),
            ..Default::default()
        })
        .await,
        5
    );
    assert_eq!(
        count(TicketFilter {
            statuses: vec![TicketStatus::Pending],
            ..Default::default()
        })
        .await,
        7
    );
    assert_eq!(
        count(TicketFilter {
            statuses: vec![TicketStatus::Pending, TicketStatus::Open],
            ..Default::default()
        })
        .await,
        25
    );
    assert_eq!(
        count(TicketFilter {
            updated_since: Some(Millis(T0 + 7_000)),
            ..Default::default()
        })
        .await,
        4
    );
    let tags = store.list_tags().await.unwrap();
    assert_eq!(
        tags,
        [TagCount {
            tag: "vip".into(),
            tickets: 9
        }]
    );
}

async fn search_finds_words_in_any_script(store: S) {
    let a = store
        .create_ticket(
            ctx(T0),
            new_ticket("Refund for order 1234", "a@example.com"),
            None,
        )
        .await
        .unwrap()
        .value;
    let mut cyr = new_ticket("Проблема с оплатой", "b@example.com");
    cyr.body = "Не могу оплатить счёт картой".into();
    let b = store.create_ticket(ctx(T0), cyr, None).await.unwrap().value;
    let hits = store.search(&q("refund"), 10).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.ticket.id).collect::<Vec<_>>(), [a.id]);
    assert!(hits[0].snippet.contains("[Refund]"), "{}", hits[0].snippet);
    assert_eq!(
        store.search(&q("оплатить"), 10).await.unwrap()[0].ticket.id,
        b.id
    );
    assert_eq!(
        store.search(&q("router evening"), 10).await.unwrap()[0]
            .ticket
            .id,
        a.id,
        "message bodies are searched"
    );
    assert!(
        store
            .search(&q("refund nonexistentword"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .search(&q("\"re-fund\" OR NOT* ( ^"), 10)
            .await
            .is_ok(),
        "query syntax characters are text"
    );
    // Edits keep the index in step.
    store
        .update_ticket(
            ctx(T0 + 1),
            a.id,
            TicketPatch {
                subject: Some("Chargeback dispute".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(store.search(&q("refund"), 10).await.unwrap().is_empty());
    assert_eq!(
        store.search(&q("chargeback"), 10).await.unwrap()[0]
            .ticket
            .id,
        a.id
    );
    store
        .add_message(
            ctx(T0 + 2),
            b.id,
            NewMessage {
                send_email: false,
                attachments: Vec::new(),
                kind: MessageKind::Note,
                channel: Channel::Api,
                body: "escalated to payments".into(),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        store.search(&q("payments"), 10).await.unwrap()[0].ticket.id,
        b.id
    );
}

async fn agents_tokens_and_sessions(store: S) {
    let admin = agent(&store, "Admin@Example.com", Role::Admin).await;
    assert_eq!(admin.email, "admin@example.com");
    let dup = store
        .create_agent(
            ctx(T0),
            NewAgent {
                email: "admin@example.com".into(),
                name: "X".into(),
                role: Role::Agent,
                password_hash: None,
            },
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
    let team = store.create_team(ctx(T0), "Support EU", "").await.unwrap();
    store
        .add_team_member(ctx(T0), team.id, admin.id)
        .await
        .unwrap();
    store
        .add_team_member(ctx(T0), team.id, admin.id)
        .await
        .unwrap();
    assert_eq!(store.agent(admin.id).await.unwrap().team_ids, [team.id]);
    let teams = store.list_teams().await.unwrap();
    assert_eq!(
        teams.iter().find(|t| t.id == team.id).unwrap().member_ids,
        [admin.id]
    );

    store
        .create_api_token(ctx(T0), admin.id, "ci", "hash-1")
        .await
        .unwrap();
    assert_eq!(
        store
            .principal_by_token("hash-1")
            .await
            .unwrap()
            .map(|p| (p.agent_id, p.role)),
        Some((admin.id, Role::Admin))
    );
    assert!(store.principal_by_token("hash-2").await.unwrap().is_none());
    assert_eq!(
        store
            .revoke_api_tokens(ctx(T0), admin.id, "ci")
            .await
            .unwrap(),
        1
    );
    assert!(store.principal_by_token("hash-1").await.unwrap().is_none());

    store
        .create_session("s-1", admin.id, Millis(T0), Millis(T0 + 60_000))
        .await
        .unwrap();
    assert!(
        store
            .session_agent("s-1", Millis(T0 + 1))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .session_agent("s-1", Millis(T0 + 60_001))
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    store
        .set_agent_password(ctx(T0), admin.id, "argon2-hash".into())
        .await
        .unwrap();
    assert!(
        store
            .session_agent("s-1", Millis(T0 + 1))
            .await
            .unwrap()
            .is_none(),
        "a new password ends sessions"
    );
    // Logging out deletes the session.
    store
        .create_session("s-2", admin.id, Millis(T0), Millis(T0 + 60_000))
        .await
        .unwrap();
    assert!(
        store
            .session_agent("s-2", Millis(T0 + 1))
            .await
            .unwrap()
            .is_some()
    );
    store.delete_session("s-2").await.unwrap();
    assert!(
        store
            .session_agent("s-2", Millis(T0 + 1))
            .await
            .unwrap()
            .is_none()
    );
    let login = store
        .agent_login(" ADMIN@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(login.password_hash.as_deref(), Some("argon2-hash"));
    assert!(matches!(
        store.set_agent_password(ctx(T0), 777_777, "x".into()).await,
        Err(StoreError::NotFound { .. })
    ));

    let inbox = store
        .create_inbox(
            ctx(T0),
            "Billing",
            "Billing@Example.com",
            Some(team.id),
            InboxPatch::default(),
        )
        .await
        .unwrap();
    assert_eq!(inbox.address, "billing@example.com");
    assert!(matches!(
        store
            .create_inbox(
                ctx(T0),
                "billing",
                "x@example.com",
                None,
                InboxPatch::default()
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.list_inboxes().await.unwrap().len(), 2);
    store.set_setting("demo", "1").await.unwrap();
    store.set_setting("demo", "2").await.unwrap();
    assert_eq!(store.setting("demo").await.unwrap().as_deref(), Some("2"));
}

async fn concurrent_tickets_from_one_new_customer_make_one_customer(store: S) {
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .create_ticket(
                        ctx(T0 + i),
                        new_ticket(&format!("Burst {i}"), "new@example.com"),
                        None,
                    )
                    .await
            })
        })
        .collect();
    let mut customers = Vec::new();
    for t in tasks {
        customers.push(t.await.unwrap().unwrap().value.customer.id);
    }
    customers.dedup();
    assert_eq!(customers.len(), 1);
}

async fn concurrent_writes_share_commits_without_losing_any(store: S) {
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                // Every fifth request is invalid: it must fail alone.
                let email = if i % 5 == 0 {
                    "broken".to_string()
                } else {
                    format!("c{i}@example.com")
                };
                store
                    .create_ticket(ctx(T0 + i), new_ticket(&format!("Load {i}"), &email), None)
                    .await
            })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Invalid(_)) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((ok, refused), (160, 40));
    let mut ids = Vec::new();
    let mut page = PageRequest::first(200);
    loop {
        let got = store
            .list_tickets(&TicketFilter::default(), page)
            .await
            .unwrap();
        ids.extend(got.items.iter().map(|t| t.id));
        match got.next {
            Some(n) => page.after = Some(n),
            None => break,
        }
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 160);
    assert_eq!(
        store
            .list_customers(&CustomerFilter::default(), PageRequest::first(200))
            .await
            .unwrap()
            .items
            .len(),
        160
    );
}

async fn search_filters_phrases_and_exclusions(store: S) {
    let sam = agent(&store, "sam@example.com", Role::Agent).await;
    let acme = store
        .create_organization(
            ctx(T0),
            NewOrganization {
                name: "Acme Logistics".into(),
                domains: vec!["acme.com".into()],
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap()
        .value;
    let make = |subject: &'static str,
                email: &'static str,
                body: &'static str,
                tags: &[&str],
                priority: Priority,
                assignee: Option<i64>,
                at: i64| {
        let store = store.clone();
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        async move {
            let mut t = new_ticket(subject, email);
            // Named after their address: ann, bob.
            t.requester.name = None;
            t.body = body.into();
            t.tags = tags;
            t.priority = priority;
            t.assignee_id = assignee;
            store.create_ticket(ctx(at), t, None).await.unwrap().value
        }
    };
    let a = make(
        "Router drops every evening",
        "ann@acme.com",
        "It drops every evening at 7",
        &["vip"],
        Priority::High,
        Some(sam.id),
        T0,
    )
    .await;
    let b = make(
        "Router firmware",
        "bob@example.com",
        "Evening every day it reboots",
        &[],
        Priority::Normal,
        None,
        T0 + 10_000,
    )
    .await;
    let c = make(
        "Invoice copy",
        "ann@acme.com",
        "Please send the invoice again",
        &["billing", "vip"],
        Priority::Low,
        None,
        T0 + 20_000,
    )
    .await;
    let ids = |hits: Vec<SearchHit>| hits.into_iter().map(|h| h.ticket.id).collect::<Vec<_>>();
    let find = |text: &'static str| {
        let store = store.clone();
        async move {
            let mut found = ids(store.search(&q(text).resolve_me(sam.id), 50).await.unwrap());
            found.sort();
            found
        }
    };
    assert_eq!(find("router").await, [a.id, b.id]);
    assert_eq!(
        find("\"every evening\"").await,
        [a.id],
        "phrases keep word order"
    );
    assert_eq!(find("rout*").await, [a.id, b.id], "prefixes");
    assert_eq!(find("router -firmware").await, [a.id], "exclusions");
    assert_eq!(
        find("router -reboots").await,
        [a.id],
        "exclusions reach message bodies"
    );
    assert_eq!(find("tag:vip").await, [a.id, c.id]);
    assert_eq!(find("tag:vip -tag:billing").await, [a.id]);
    assert_eq!(find("router priority:high").await, [a.id]);
    assert_eq!(find("assignee:me").await, [a.id]);
    assert_eq!(find("assignee:none").await, [b.id, c.id]);
    assert_eq!(
        find("-assignee:me").await,
        [b.id, c.id],
        "a negated filter keeps unassigned tickets"
    );
    assert_eq!(find("assignee:sam@example.com router").await, [a.id]);
    assert_eq!(find("customer:ann@acme.com").await, [a.id, c.id]);
    assert_eq!(find("customer:bob").await, [b.id], "customer by name");
    assert_eq!(find("org:acme").await, [a.id, c.id]);
    assert_eq!(find("status:new -org:acme").await, [b.id]);
    assert_eq!(
        store
            .search(&q(&format!("ref:R-{}", c.id)), 10)
            .await
            .unwrap()[0]
            .ticket
            .id,
        c.id
    );
    assert_eq!(find("created<1790000005000").await, [a.id]);
    assert_eq!(find("updated>1790000015000").await, [c.id]);
    assert_eq!(
        find("customer:100%_ann").await,
        Vec::<i64>::new(),
        "LIKE wildcards are literal"
    );
    // Filter-only searches list the most recently updated first.
    let recent = ids(store.search(&q("status:new"), 2).await.unwrap());
    assert_eq!(recent, [c.id, b.id]);
    assert_eq!(
        store.customer(a.customer.id).await.unwrap().organization_id,
        Some(acme.id)
    );
}

/// Views of several statuses page through exactly the tickets one query would, newest first;
/// counts stop at their cap; focus mode offers the most urgent, longest-waiting ticket.
async fn views_of_several_statuses_page_and_focus_picks_the_most_urgent(store: S) {
    let ann = agent(&store, "ann@desk.example", Role::Agent).await;
    store.add_team_member(ctx(T0), 1, ann.id).await.unwrap();
    let statuses = [
        TicketStatus::New,
        TicketStatus::Open,
        TicketStatus::Pending,
        TicketStatus::Solved,
    ];
    let priorities = [Priority::Low, Priority::Normal, Priority::High];
    let mut made = Vec::new();
    for n in 0..36_i64 {
        let mut t = new_ticket(&format!("Ticket {n}"), &format!("c{}@shop.example", n % 5));
        t.status = statuses[(n % 4) as usize];
        t.priority = priorities[(n % 3) as usize];
        t.assignee_id = (n % 2 == 0).then_some(ann.id);
        t.team_id = Some(1);
        // Several tickets share an update time, so paging must break ties by id.
        let created = store
            .create_ticket(ctx(T0 + (n / 3) * 1000), t, None)
            .await
            .unwrap()
            .value;
        made.push(created);
    }
    let filter = TicketFilter {
        statuses: vec![TicketStatus::New, TicketStatus::Open, TicketStatus::Pending],
        ..Default::default()
    };
    let mut expected: Vec<&Ticket> = made
        .iter()
        .filter(|t| filter.statuses.contains(&t.status))
        .collect();
    expected.sort_by_key(|t| std::cmp::Reverse((t.updated_at, t.id)));
    let mut seen = Vec::new();
    let mut page = PageRequest::first(7);
    loop {
        let got = store.list_tickets(&filter, page).await.unwrap();
        seen.extend(got.items.iter().map(|t| t.id));
        match got.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected.iter().map(|t| t.id).collect::<Vec<_>>());
    // Longest waiting first pages through the same tickets in the opposite order.
    let oldest = TicketFilter {
        oldest_first: true,
        ..filter.clone()
    };
    let mut seen_oldest = Vec::new();
    let mut page = PageRequest::first(5);
    loop {
        let got = store.list_tickets(&oldest, page).await.unwrap();
        seen_oldest.extend(got.items.iter().map(|t| t.id));
        match got.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    seen_oldest.reverse();
    assert_eq!(seen_oldest, seen);
    let mine = TicketFilter {
        assignee: Some(AssigneeFilter::Agent(ann.id)),
        ..filter.clone()
    };
    let listed = store
        .list_tickets(&mine, PageRequest::first(100))
        .await
        .unwrap()
        .items;
    assert!(
        listed
            .iter()
            .all(|t| t.assignee_id == Some(ann.id) && t.status != TicketStatus::Solved)
    );
    let solved = TicketFilter {
        statuses: vec![TicketStatus::Solved],
        ..Default::default()
    };
    assert_eq!(
        store
            .count_tickets(&[filter.clone(), solved, mine.clone()], 1000)
            .await
            .unwrap(),
        vec![expected.len() as i64, 9, listed.len() as i64]
    );
    assert_eq!(
        store
            .count_tickets(std::slice::from_ref(&filter), 5)
            .await
            .unwrap(),
        vec![5],
        "counts stop at the cap"
    );
    assert!(store.count_tickets(&[], 5).await.unwrap().is_empty());

    // Focus: Ann's own new/open tickets, high before normal before low, oldest first.
    let first = store.next_ticket_for(ann.id, &[]).await.unwrap().unwrap();
    let oldest_high = made
        .iter()
        .filter(|t| t.assignee_id == Some(ann.id) && t.priority == Priority::High)
        .filter(|t| matches!(t.status, TicketStatus::New | TicketStatus::Open))
        .min_by_key(|t| (t.updated_at, t.id))
        .unwrap();
    assert_eq!(first, oldest_high.id);
    let mut skip = Vec::new();
    let mut offered = Vec::new();
    while let Some(next) = store.next_ticket_for(ann.id, &skip).await.unwrap() {
        offered.push(store.ticket(next).await.unwrap());
        skip.push(next);
    }
    // Her own first, then the team's unassigned ones; each group by priority.
    let split = offered
        .iter()
        .position(|t| t.assignee_id.is_none())
        .unwrap();
    assert!(
        offered[..split]
            .iter()
            .all(|t| t.assignee_id == Some(ann.id))
    );
    assert!(offered[split..].iter().all(|t| t.assignee_id.is_none()));
    let rank = |p: Priority| {
        rapport_core::ticket::FOCUS_ORDER
            .iter()
            .position(|x| *x == p)
            .unwrap()
    };
    for group in [&offered[..split], &offered[split..]] {
        assert!(
            group
                .windows(2)
                .all(|w| rank(w[0].priority) <= rank(w[1].priority))
        );
    }
    assert!(
        offered
            .iter()
            .all(|t| matches!(t.status, TicketStatus::New | TicketStatus::Open))
    );
}

/// A caller or chat visitor may have no address: their tickets name the customer by id.
async fn tickets_for_a_known_customer_without_an_address(store: S) {
    let caller = store
        .create_customer(
            ctx(T0),
            NewCustomer {
                name: "Caller Without Mail".into(),
                phone: Some("+49 30 1234567".into()),
                ..NewCustomer::default()
            },
            None,
        )
        .await
        .unwrap()
        .value;
    let mut new = new_ticket("Line is dead", "");
    new.requester = Requester {
        customer_id: Some(caller.id),
        email: String::new(),
        name: None,
    };
    let ticket = store
        .create_ticket(ctx(T0), new.clone(), None)
        .await
        .unwrap()
        .value;
    assert_eq!(ticket.customer.id, caller.id);
    assert_eq!(ticket.customer.email, None);
    assert_eq!(ticket.customer.name, "Caller Without Mail");

    new.requester.email = "someone@example.com".into();
    let both = store
        .create_ticket(ctx(T0), new.clone(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&both, StoreError::Invalid(i) if i.field == "customer.email"),
        "{both:?}"
    );
    new.requester = Requester {
        customer_id: Some(caller.id + 1000),
        email: String::new(),
        name: None,
    };
    let unknown = store.create_ticket(ctx(T0), new, None).await.unwrap_err();
    assert!(
        matches!(
            unknown,
            StoreError::NotFound {
                what: "customer",
                ..
            }
        ),
        "{unknown:?}"
    );
    let page = store
        .list_tickets(&TicketFilter::default(), PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        page.items.len(),
        1,
        "the refused tickets left nothing behind"
    );
}

/// A follower looks up ids it skipped over in one read: only committed ones come back.
async fn events_are_found_by_id(store: S) {
    store
        .create_ticket(ctx(T0), new_ticket("One", "one@example.com"), None)
        .await
        .unwrap();
    let all = store.events_since(0, 100).await.unwrap();
    assert!(all.len() >= 2, "{all:?}");
    let wanted = vec![all[1].id, 999_999, all[0].id];
    let found = store.events_with_ids(wanted).await.unwrap();
    assert_eq!(
        found.iter().map(|e| e.id).collect::<Vec<_>>(),
        [all[0].id, all[1].id]
    );
    assert_eq!(found[1].kind, all[1].kind);
    assert!(store.events_with_ids(vec![]).await.unwrap().is_empty());
}

rapport_store::on_both_backends!(
    events_are_found_by_id,
    tickets_for_a_known_customer_without_an_address,
    views_of_several_statuses_page_and_focus_picks_the_most_urgent,
    search_filters_phrases_and_exclusions,
    ticket_lifecycle,
    bad_input_is_refused_precisely,
    customers_and_organizations,
    idempotent_creates,
    lists_filter_and_page,
    search_finds_words_in_any_script,
    agents_tokens_and_sessions,
    concurrent_tickets_from_one_new_customer_make_one_customer,
    concurrent_writes_share_commits_without_losing_any,
);

#[tokio::test]
async fn sqlite_writes_survive_a_reopen() {
    let db = rapport_store::testing::TestDb::sqlite().await;
    let id = db
        .store
        .create_ticket(ctx(T0), new_ticket("Durable", "d@example.com"), None)
        .await
        .unwrap()
        .value
        .id;
    db.store.close().await;
    let reopened = rapport_store::open(&db.url).await.unwrap();
    assert_eq!(reopened.ticket(id).await.unwrap().subject, "Durable");
    reopened.close().await;
    db.finish().await;
}

#[tokio::test]
async fn unknown_database_urls_are_refused() {
    for url in ["mysql://x", "sqlite://", "sqlite::memory:"] {
        let err = rapport_store::open(url).await.err().expect("refused");
        assert!(matches!(err, StoreError::Config(_)), "{url}: {err}");
    }
}
