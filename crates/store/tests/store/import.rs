//! Bulk import of historical tickets, on both databases: a batch is written as it was (times,
//! statuses, conversations, customers found once by email, tags, first reply), with one event
//! per ticket and nothing live (no SLA clocks); one bad ticket writes nothing.

use super::*;

const DAY: i64 = 86_400_000;
/// Long before T0: imports are history.
const PAST: i64 = T0 - 400 * DAY;

fn message(kind: MessageKind, body: &str, at: i64, agent_id: Option<i64>) -> ImportMessage {
    ImportMessage {
        kind,
        body: body.into(),
        created_at: Millis(at),
        agent_id,
    }
}

fn historical(subject: &str, email: &str, status: TicketStatus, at: i64) -> ImportTicket {
    ImportTicket {
        subject: subject.into(),
        requester: Requester {
            customer_id: None,
            email: email.into(),
            name: Some("Ann Lee".into()),
        },
        status,
        priority: Priority::Normal,
        channel: Channel::Email,
        inbox: None,
        assignee_id: None,
        team_id: None,
        tags: vec![],
        created_at: Millis(at),
        updated_at: Millis(at + DAY),
        solved_at: None,
        closed_at: None,
        messages: vec![message(
            MessageKind::Customer,
            "My invoice 2024-117 was charged twice.",
            at,
            None,
        )],
    }
}

async fn import_writes_history_as_it_was(store: S) {
    let sam = agent(&store, "sam@example.com", Role::Agent).await;
    let acme = store
        .create_organization(
            ctx(T0),
            NewOrganization {
                name: "Acme".into(),
                domains: vec!["acme.example".into()],
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap()
        .value;

    // A solved ticket with a reply and a note, assigned, tagged.
    let mut solved = historical(
        "Charged twice",
        "Ann@Acme.example",
        TicketStatus::Solved,
        PAST,
    );
    solved.assignee_id = Some(sam.id);
    solved.priority = Priority::High;
    solved.tags = vec!["Billing".into(), "refund".into()];
    solved.solved_at = Some(Millis(PAST + DAY / 2));
    solved.messages.extend([
        message(
            MessageKind::Note,
            "Duplicate capture, refund via the payment provider.",
            PAST + 1_000,
            Some(sam.id),
        ),
        message(
            MessageKind::Reply,
            "Sorry about that, the refund is on its way.",
            PAST + 2_000,
            Some(sam.id),
        ),
        message(
            MessageKind::Reply,
            "The refund has been sent.",
            PAST + 3_000,
            Some(sam.id),
        ),
    ]);
    // The same customer again (address spelled differently), still open, never answered.
    let open = historical(
        "Invoice address",
        "ann@acme.EXAMPLE",
        TicketStatus::Open,
        PAST + DAY,
    );
    // Closed, from someone else.
    let mut closed = historical(
        "Router drops",
        "bob@example.com",
        TicketStatus::Closed,
        PAST,
    );
    closed.closed_at = Some(Millis(PAST + DAY));
    closed.channel = Channel::Phone;
    closed.messages.push(message(
        MessageKind::Reply,
        "Firmware 2.4 fixes it.",
        PAST + 5_000,
        Some(sam.id),
    ));

    let importer = agent_ctx(sam.id, T0);
    let ids = store
        .import_tickets(importer, vec![solved, open, closed])
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);

    let t = store.ticket(ids[0]).await.unwrap();
    assert_eq!(t.status, TicketStatus::Solved);
    assert_eq!(t.priority, Priority::High);
    assert_eq!(t.assignee_id, Some(sam.id));
    assert_eq!(t.team_id, Some(1), "the default inbox's team");
    assert_eq!(t.tags, vec!["billing", "refund"]);
    assert_eq!(t.created_at, Millis(PAST));
    assert_eq!(t.updated_at, Millis(PAST + DAY));
    assert_eq!(t.solved_at, Some(Millis(PAST + DAY / 2)));
    assert_eq!(t.closed_at, None);
    assert_eq!(t.customer.email.as_deref(), Some("ann@acme.example"));
    assert_eq!(t.customer.name, "Ann Lee");

    let customer = store.customer(t.customer.id).await.unwrap();
    assert_eq!(customer.organization_id, Some(acme.id), "linked by domain");
    assert_eq!(
        customer.created_at,
        Millis(PAST),
        "created when they first wrote"
    );
    let second = store.ticket(ids[1]).await.unwrap();
    assert_eq!(
        second.customer.id, t.customer.id,
        "one customer per address"
    );
    assert_eq!(second.status, TicketStatus::Open);
    assert_eq!(second.solved_at, None);
    let third = store.ticket(ids[2]).await.unwrap();
    assert_eq!(third.status, TicketStatus::Closed);
    assert_eq!(third.channel, Channel::Phone);
    assert_eq!(
        third.solved_at,
        Some(Millis(PAST + DAY)),
        "closed implies solved"
    );
    assert_eq!(third.closed_at, Some(Millis(PAST + DAY)));
    assert_ne!(third.customer.id, t.customer.id);
    let customers = store
        .list_customers(&CustomerFilter::default(), PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(customers.items.len(), 2);

    // The conversation, in order, with its authors and times.
    let messages = store
        .list_messages(ids[0], PageRequest::first(10))
        .await
        .unwrap()
        .items;
    let kinds: Vec<_> = messages
        .iter()
        .map(|m| (m.kind, m.author, m.created_at))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (
                MessageKind::Customer,
                Actor::customer(t.customer.id),
                Millis(PAST)
            ),
            (
                MessageKind::Note,
                Actor::agent(sam.id),
                Millis(PAST + 1_000)
            ),
            (
                MessageKind::Reply,
                Actor::agent(sam.id),
                Millis(PAST + 2_000)
            ),
            (
                MessageKind::Reply,
                Actor::agent(sam.id),
                Millis(PAST + 3_000)
            ),
        ]
    );
    assert!(!messages[1].public);
    assert_eq!(messages[0].channel, Channel::Email);

    // One event per ticket, naming the importer; no SLA clocks, no routing.
    let events = store
        .list_events(ids[0], PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].kind, "ticket.imported");
    assert_eq!(events[0].actor, Actor::agent(sam.id));
    assert_eq!(events[0].data["messages"], json!(4));
    assert_eq!(events[0].data["status"], json!("solved"));
    assert!(store.ticket_sla(ids[1]).await.unwrap().is_none());

    // first_reply_at: the open ticket was never answered, so it is at risk of a silent no;
    // an open ticket whose history has a reply is not.
    let mut answered = historical("Answered", "carol@example.com", TicketStatus::Open, PAST);
    answered.messages.push(message(
        MessageKind::Reply,
        "We are on it.",
        PAST + 60_000,
        Some(sam.id),
    ));
    let answered = store.import_tickets(ctx(T0), vec![answered]).await.unwrap()[0];
    let at_risk = store
        .list_tickets(
            &TicketFilter {
                unanswered_before: Some(Millis(T0)),
                ..TicketFilter::default()
            },
            PageRequest::first(50),
        )
        .await
        .unwrap();
    let at_risk: Vec<i64> = at_risk.items.iter().map(|t| t.id).collect();
    assert!(at_risk.contains(&ids[1]), "{at_risk:?}");
    assert!(!at_risk.contains(&answered), "{at_risk:?}");

    // Listed like any ticket, filters included.
    let listed = store
        .list_tickets(&TicketFilter::default(), PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 4);
    let billing = store
        .list_tickets(
            &TicketFilter {
                tag: Some("billing".into()),
                ..TicketFilter::default()
            },
            PageRequest::first(50),
        )
        .await
        .unwrap();
    assert_eq!(
        billing.items.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![ids[0]]
    );
    let mine = store
        .list_tickets(
            &TicketFilter {
                assignee: Some(AssigneeFilter::Agent(sam.id)),
                statuses: vec![TicketStatus::Solved],
                ..TicketFilter::default()
            },
            PageRequest::first(50),
        )
        .await
        .unwrap();
    assert_eq!(mine.items.len(), 1);
}

async fn a_bad_ticket_writes_nothing(store: S) {
    let sam = agent(&store, "sam@example.com", Role::Agent).await;
    let good = || historical("Fine", "dora@example.com", TicketStatus::Solved, PAST);
    let refused = |bad: ImportTicket| {
        let store = store.clone();
        async move {
            store
                .import_tickets(ctx(T0), vec![good(), bad, good()])
                .await
                .unwrap_err()
        }
    };

    let mut blank = good();
    blank.subject = "  ".into();
    let e = refused(blank).await;
    assert!(
        matches!(&e, StoreError::Invalid(i) if i.field == "tickets[1].subject"),
        "{e:?}"
    );
    let mut empty_body = good();
    empty_body.messages[0].body = "\n".into();
    let e = refused(empty_body).await;
    assert!(
        matches!(&e, StoreError::Invalid(i) if i.field == "tickets[1].messages[0].body"),
        "{e:?}"
    );
    let mut no_messages = good();
    no_messages.messages.clear();
    assert!(matches!(refused(no_messages).await, StoreError::Invalid(_)));
    let mut early = good();
    early.messages[0].created_at = Millis(PAST - 1);
    assert!(matches!(refused(early).await, StoreError::Invalid(_)));
    let mut open_but_solved = good();
    open_but_solved.status = TicketStatus::Open;
    open_but_solved.solved_at = Some(Millis(PAST));
    assert!(matches!(
        refused(open_but_solved).await,
        StoreError::Invalid(_)
    ));
    let mut bad_tag = good();
    bad_tag.tags = vec!["refund/urgent".into()];
    assert!(matches!(refused(bad_tag).await, StoreError::Invalid(_)));
    let mut bad_email = good();
    bad_email.requester.email = "not an address".into();
    assert!(matches!(refused(bad_email).await, StoreError::Invalid(_)));

    let mut ghost_agent = good();
    ghost_agent.assignee_id = Some(sam.id + 1_000);
    assert!(matches!(
        refused(ghost_agent).await,
        StoreError::NotFound { what: "agent", .. }
    ));
    let mut ghost_author = good();
    ghost_author.messages.push(message(
        MessageKind::Reply,
        "Hello",
        PAST + 1,
        Some(sam.id + 7),
    ));
    assert!(matches!(
        refused(ghost_author).await,
        StoreError::NotFound { what: "agent", .. }
    ));
    let mut ghost_team = good();
    ghost_team.team_id = Some(999);
    assert!(matches!(
        refused(ghost_team).await,
        StoreError::NotFound { what: "team", .. }
    ));
    let mut ghost_inbox = good();
    ghost_inbox.inbox = Some("Nowhere".into());
    assert!(matches!(refused(ghost_inbox).await, StoreError::Invalid(_)));

    // Nothing of any refused batch was written: no tickets, no customers, no events.
    let tickets = store
        .list_tickets(&TicketFilter::default(), PageRequest::first(10))
        .await
        .unwrap();
    assert!(tickets.items.is_empty(), "{:?}", tickets.items);
    let customers = store
        .list_customers(&CustomerFilter::default(), PageRequest::first(10))
        .await
        .unwrap();
    assert!(customers.items.is_empty());
    assert!(store.search(&q("fine"), 10).await.unwrap().is_empty());

    // The same batch with the bad ticket fixed goes in whole.
    let ids = store
        .import_tickets(ctx(T0), vec![good(), good(), good()])
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids in input order");
}

async fn imported_tickets_are_found_by_search(store: S) {
    let mut t = historical("Kündigung", "erik@example.de", TicketStatus::Closed, PAST);
    t.messages[0].body = "Bitte bestätigen Sie die Kündigung meines Vertrags.".into();
    let ids = store.import_tickets(ctx(T0), vec![t]).await.unwrap();
    let hits = store.search(&q("vertrags"), 10).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.ticket.id).collect::<Vec<_>>(), ids);
    let hits = store.search(&q("kündigung"), 10).await.unwrap();
    assert_eq!(hits.len(), 1);
}

/// Batches in flight together that share new customers, listed in opposite orders, all
/// land (each takes its address locks in one order, so none waits on another forever).
async fn concurrent_batches_sharing_customers_all_land(store: S) {
    let emails: Vec<String> = (0..40).map(|i| format!("shared{i}@example.com")).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for round in 0..6 {
        let store = store.clone();
        let mut order = emails.clone();
        if round % 2 == 1 {
            order.reverse();
        }
        tasks.spawn(async move {
            let batch = order
                .iter()
                .map(|e| historical("Shared", e, TicketStatus::Open, T0 + round))
                .collect();
            store.import_tickets(ctx(T0), batch).await
        });
    }
    let mut imported = 0;
    while let Some(done) = tasks.join_next().await {
        imported += done.unwrap().unwrap().len();
    }
    assert_eq!(imported, 240);
    let customers = store
        .list_customers(&CustomerFilter::default(), PageRequest::first(200))
        .await
        .unwrap()
        .items;
    assert_eq!(
        customers
            .iter()
            .filter(|c| c.emails[0].starts_with("shared"))
            .count(),
        40,
        "one customer per address"
    );
}

rapport_store::on_both_backends!(
    concurrent_batches_sharing_customers_all_land,
    import_writes_history_as_it_was,
    a_bad_ticket_writes_nothing,
    imported_tickets_are_found_by_search,
);
