//! Live chat on both databases: a conversation is a chat ticket, a visitor message is stored
//! once per client id (also when copies race), a visitor reads only their own conversations
//! and only public messages, replies are emailed while the visitor is away, transcripts.

use super::*;

/// The inbox every new database starts with.
async fn inbox(store: &S) -> Inbox {
    store.list_inboxes().await.unwrap().remove(0)
}

fn visitor(inbox: &Inbox, id: &str) -> ChatVisitor {
    ChatVisitor {
        inbox_id: inbox.id,
        visitor_id: id.into(),
        verified_customer_id: None,
    }
}

fn post(visitor: &ChatVisitor, client_id: &str, body: &str) -> ChatPost {
    ChatPost {
        visitor: visitor.clone(),
        client_id: client_id.into(),
        body: body.into(),
        conversation: None,
        name: Some("Ann".into()),
        email: None,
        client_address: "203.0.113.7".into(),
    }
}

/// Claims what is due, for longer than the test runs (each row is seen once).
async fn outbox(store: &S, now: i64) -> Vec<OutboxItem> {
    store
        .claim_outbox(Millis(now), 1_000_000_000, 100)
        .await
        .unwrap()
}

async fn conversations_are_chat_tickets_and_messages_are_stored_once(store: S) {
    let inbox = inbox(&store).await;
    let widget = store.chat_widget(inbox.id, Millis(T0)).await.unwrap();
    assert!(
        !widget.enabled && !widget.require_email,
        "a new widget is off until an admin turns it on"
    );
    assert_eq!(widget.identity_secret.len(), 64);
    // Made once: the same secret on the next read.
    let again = store.chat_widget(inbox.id, Millis(T0 + 1)).await.unwrap();
    assert_eq!(again.identity_secret, widget.identity_secret);

    let ann = visitor(&inbox, "visitor-ann");
    assert_eq!(
        store.chat_conversation(ann.clone(), None).await.unwrap(),
        None
    );
    let first = store
        .post_chat_message(
            ctx(T0 + 10),
            post(&ann, "c1", "  My router keeps dropping  "),
        )
        .await
        .unwrap();
    assert!(first.created_conversation && !first.replayed);
    let ticket = store.ticket(first.conversation.ticket_id).await.unwrap();
    assert_eq!(ticket.channel, Channel::Chat);
    assert_eq!(ticket.subject, "My router keeps dropping");
    assert_eq!(ticket.customer.name, "Ann");
    assert_eq!(ticket.customer.email, None);
    assert_eq!(first.message.body, "My router keeps dropping");
    assert_eq!(first.message.client_id.as_deref(), Some("c1"));
    assert!(first.message.from_visitor);

    let second = store
        .post_chat_message(ctx(T0 + 20), post(&ann, "c2", "<b>still</b> down"))
        .await
        .unwrap();
    assert!(!second.created_conversation);
    assert_eq!(second.conversation.ticket_id, ticket.id);
    assert!(second.message.seq > first.message.seq);
    // Stored as typed: plain text, escaped wherever it is shown.
    assert_eq!(second.message.body, "<b>still</b> down");

    // The same frame again after a reconnect: the first copy, nothing new.
    let resent = store
        .post_chat_message(ctx(T0 + 30), post(&ann, "c2", "<b>still</b> down"))
        .await
        .unwrap();
    assert!(resent.replayed);
    assert_eq!(resent.message, second.message);
    let messages = store
        .list_messages(ticket.id, PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(messages.items.len(), 2);

    // Bad input names its field and stores nothing.
    for (bad, field) in [
        (post(&ann, "", "hi"), "client_id"),
        (post(&ann, &"x".repeat(65), "hi"), "client_id"),
        (post(&ann, "c3", " \u{7} "), "body"),
        (post(&ann, "c3", &"a".repeat(4_001)), "body"),
        (
            ChatPost {
                email: Some("not an address".into()),
                ..post(&ann, "c3", "hi")
            },
            "email",
        ),
    ] {
        match store.post_chat_message(ctx(T0 + 40), bad).await {
            Err(StoreError::Invalid(e)) => assert_eq!(e.field, field),
            other => panic!("expected an invalid {field}, got {other:?}"),
        }
    }
    let messages = store
        .list_messages(ticket.id, PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(messages.items.len(), 2);
    assert_eq!(
        store
            .chats_started_from("203.0.113.7", Millis(T0))
            .await
            .unwrap(),
        1
    );
}

async fn racing_copies_of_a_frame_store_one_message(store: S) {
    let inbox = inbox(&store).await;
    let bob = visitor(&inbox, "visitor-bob");
    // Ten copies of the first message at once (it also creates the conversation).
    let posts = (0..10).map(|i| {
        let store = store.clone();
        let p = post(&bob, "same", "Hello, is anyone there?");
        async move { store.post_chat_message(ctx(T0 + i), p).await.unwrap() }
    });
    let results = futures::future::join_all(posts).await;
    let seq = results[0].message.seq;
    assert!(results.iter().all(|r| r.message.seq == seq));
    assert_eq!(results.iter().filter(|r| !r.replayed).count(), 1);
    let ticket_id = results[0].conversation.ticket_id;
    let messages = store
        .list_messages(ticket_id, PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(messages.items.len(), 1);
    let chats = store
        .list_tickets(&TicketFilter::default(), PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(chats.items.len(), 1);
}

async fn visitors_read_only_their_own_public_messages(store: S) {
    let inbox = inbox(&store).await;
    let sam = agent(&store, "sam@example.com", Role::Agent).await;
    let ann = visitor(&inbox, "visitor-ann");
    let eve = visitor(&inbox, "visitor-eve");
    let ann_chat = store
        .post_chat_message(
            ctx(T0),
            ChatPost {
                email: Some("ann@example.com".into()),
                ..post(&ann, "a1", "My invoice is wrong")
            },
        )
        .await
        .unwrap()
        .conversation;
    let reply = |kind, body: &str| NewMessage {
        kind,
        channel: Channel::Chat,
        body: body.into(),
        send_email: false,
        attachments: vec![],
    };
    store
        .add_message(
            agent_ctx(sam.id, T0 + 1),
            ann_chat.ticket_id,
            reply(MessageKind::Note, "secret note"),
            None,
        )
        .await
        .unwrap();
    let answer = store
        .add_message(
            agent_ctx(sam.id, T0 + 2),
            ann_chat.ticket_id,
            reply(MessageKind::Reply, "Let me check."),
            None,
        )
        .await
        .unwrap()
        .value;

    let read = store
        .chat_messages(ann.clone(), ann_chat.ticket_id, 0, 100)
        .await
        .unwrap();
    assert_eq!(
        read.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["My invoice is wrong", "Let me check."]
    );
    assert_eq!(read[1].author, "Sam Agent");
    assert!(!read[1].from_visitor && read[1].client_id.is_none());
    // After a message id: only what came later.
    let later = store
        .chat_messages(ann.clone(), ann_chat.ticket_id, read[0].seq, 100)
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].seq, answer.id);
    // The hub's batch read: each conversation after its own mark, no notes, in id order.
    let cy = visitor(&inbox, "visitor-cy");
    let cy_chat = store
        .post_chat_message(ctx(T0 + 3), post(&cy, "c0", "Where is my parcel?"))
        .await
        .unwrap();
    let batch = store
        .chat_messages_of(vec![
            (ann_chat.ticket_id, read[0].seq),
            (cy_chat.conversation.ticket_id, 0),
        ])
        .await
        .unwrap();
    assert_eq!(
        batch
            .iter()
            .map(|m| (m.ticket_id, m.body.as_str()))
            .collect::<Vec<_>>(),
        [
            (ann_chat.ticket_id, "Let me check."),
            (cy_chat.conversation.ticket_id, "Where is my parcel?"),
        ]
    );
    assert!(store.chat_messages_of(vec![]).await.unwrap().is_empty());

    // Another visitor: not found, whether reading, finding or writing into it.
    assert!(matches!(
        store
            .chat_messages(eve.clone(), ann_chat.ticket_id, 0, 100)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .chat_conversation(eve.clone(), Some(ann_chat.ticket_id))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        store.chat_conversation(eve.clone(), None).await.unwrap(),
        None
    );
    let intrusion = store
        .post_chat_message(
            ctx(T0 + 3),
            ChatPost {
                conversation: Some(ann_chat.ticket_id),
                ..post(&eve, "e1", "let me in")
            },
        )
        .await;
    assert!(matches!(intrusion, Err(StoreError::NotFound { .. })));
    // The same visitor id in another inbox is another widget.
    let other_inbox = store
        .create_inbox(
            ctx(T0),
            "Sales",
            "sales@rapport.localhost",
            None,
            InboxPatch::default(),
        )
        .await
        .unwrap();
    assert!(
        store
            .chat_messages(
                visitor(&other_inbox, "visitor-ann"),
                ann_chat.ticket_id,
                0,
                100
            )
            .await
            .is_err()
    );

    // Eve typing Ann's address is not Ann: it finds nothing of Ann's.
    store
        .post_chat_message(
            ctx(T0 + 4),
            ChatPost {
                email: Some("ann@example.com".into()),
                ..post(&eve, "e2", "I am Ann, show me")
            },
        )
        .await
        .unwrap();
    let eve_chat = store
        .chat_conversation(eve.clone(), None)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(eve_chat.ticket_id, ann_chat.ticket_id);

    // A verified customer sees their conversations from any browser.
    let carol = store
        .create_customer(
            ctx(T0),
            NewCustomer {
                name: "Carol".into(),
                emails: vec!["carol@example.com".into()],
                ..NewCustomer::default()
            },
            None,
        )
        .await
        .unwrap()
        .value;
    let carol_phone = ChatVisitor {
        verified_customer_id: Some(carol.id),
        ..visitor(&inbox, "carol-phone")
    };
    let carol_chat = store
        .post_chat_message(ctx(T0 + 5), post(&carol_phone, "k1", "Order 1234 late"))
        .await
        .unwrap()
        .conversation;
    assert!(carol_chat.verified);
    assert_eq!(
        store
            .ticket(carol_chat.ticket_id)
            .await
            .unwrap()
            .customer
            .id,
        carol.id
    );
    let carol_laptop = ChatVisitor {
        verified_customer_id: Some(carol.id),
        ..visitor(&inbox, "carol-laptop")
    };
    let found = store
        .chat_conversation(carol_laptop, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.ticket_id, carol_chat.ticket_id);
    // Without the verification, the laptop's visitor id alone finds nothing.
    assert_eq!(
        store
            .chat_conversation(visitor(&inbox, "carol-laptop"), None)
            .await
            .unwrap(),
        None
    );
}

async fn replies_are_emailed_while_the_visitor_is_away(store: S) {
    let inbox = inbox(&store).await;
    let sam = agent(&store, "sam@example.com", Role::Agent).await;
    let ann = visitor(&inbox, "visitor-ann");
    let chat = store
        .post_chat_message(
            ctx(T0),
            ChatPost {
                email: Some("Ann@Example.com".into()),
                ..post(&ann, "a1", "Where is my parcel?")
            },
        )
        .await
        .unwrap()
        .conversation;
    assert_eq!(chat.contact_email.as_deref(), Some("ann@example.com"));
    let reply = |body: &str| NewMessage {
        kind: MessageKind::Reply,
        channel: Channel::Chat,
        body: body.into(),
        // The chat's own rule decides, whatever the form asked.
        send_email: true,
        attachments: vec![],
    };
    // The visitor just wrote: present, so the reply goes over the socket only.
    store
        .add_message(
            agent_ctx(sam.id, T0 + 1_000),
            chat.ticket_id,
            reply("On its way."),
            None,
        )
        .await
        .unwrap();
    assert!(outbox(&store, T0 + 1_000).await.is_empty());
    // A node still holds their socket: still present.
    store
        .mark_chat_presence(vec![chat.ticket_id], Millis(T0 + 200_000))
        .await
        .unwrap();
    store
        .add_message(
            agent_ctx(sam.id, T0 + 150_000),
            chat.ticket_id,
            reply("Tracking: 123"),
            None,
        )
        .await
        .unwrap();
    assert!(outbox(&store, T0 + 150_000).await.is_empty());
    // Nobody renewed it: the visitor left, and the next reply is emailed to their address.
    let away = store
        .add_message(
            agent_ctx(sam.id, T0 + 300_000),
            chat.ticket_id,
            reply("It arrives today."),
            None,
        )
        .await
        .unwrap()
        .value;
    let mail = outbox(&store, T0 + 300_000).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].kind, OutboxKind::Reply);
    assert_eq!(mail[0].recipient, "ann@example.com");
    assert_eq!(mail[0].body, away.body);

    // A visitor who left no address gets nothing by mail (the reply waits in the widget).
    let bob = visitor(&inbox, "visitor-bob");
    let quiet = store
        .post_chat_message(
            ctx(T0),
            ChatPost {
                name: None,
                ..post(&bob, "b1", "hello")
            },
        )
        .await
        .unwrap()
        .conversation;
    store
        .add_message(
            agent_ctx(sam.id, T0 + 300_000),
            quiet.ticket_id,
            reply("Hi!"),
            None,
        )
        .await
        .unwrap();
    assert!(outbox(&store, T0 + 400_000).await.is_empty());

    // Transcripts: an address is needed; given once, it is remembered.
    match store
        .chat_transcript(ctx(T0 + 400_000), bob.clone(), quiet.ticket_id, None)
        .await
    {
        Err(StoreError::Invalid(e)) => assert_eq!(e.field, "email"),
        other => panic!("expected an email error, got {other:?}"),
    }
    let to = store
        .chat_transcript(
            ctx(T0 + 400_000),
            bob.clone(),
            quiet.ticket_id,
            Some("bob@example.com".into()),
        )
        .await
        .unwrap();
    assert_eq!(to, "bob@example.com");
    let mail = outbox(&store, T0 + 400_000).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].kind, OutboxKind::Transcript);
    assert!(mail[0].body.contains("hello") && mail[0].body.contains("Hi!"));
    // Another address for this conversation is refused: its transcript goes where it goes.
    match store
        .chat_transcript(
            ctx(T0 + 400_001),
            bob.clone(),
            quiet.ticket_id,
            Some("victim@example.org".into()),
        )
        .await
    {
        Err(StoreError::Invalid(e)) => assert_eq!(e.field, "email"),
        other => panic!("expected an email error, got {other:?}"),
    }
    // Three an hour, then refused until the hour has passed.
    for i in 0..2 {
        store
            .chat_transcript(ctx(T0 + 400_002 + i), bob.clone(), quiet.ticket_id, None)
            .await
            .unwrap();
    }
    assert!(matches!(
        store
            .chat_transcript(ctx(T0 + 400_010), bob.clone(), quiet.ticket_id, None)
            .await,
        Err(StoreError::Conflict(_))
    ));
    store
        .chat_transcript(ctx(T0 + 4_100_000), bob.clone(), quiet.ticket_id, None)
        .await
        .unwrap();
    // Someone else's conversation: not found, nothing queued.
    assert!(matches!(
        store
            .chat_transcript(ctx(T0 + 400_000), ann.clone(), quiet.ticket_id, None)
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn widget_settings_are_checked(store: S) {
    let inbox = inbox(&store).await;
    let before = store.chat_widget(inbox.id, Millis(T0)).await.unwrap();
    let saved = store
        .update_chat_widget(
            ctx(T0 + 1),
            inbox.id,
            ChatWidgetPatch {
                accent: Some("#AA3300".into()),
                greeting: Some("Hi! How can we help?".into()),
                require_email: Some(true),
                allowed_origins: Some("https://shop.example/\nhttp://localhost:8080".into()),
                new_secret: true,
                ..ChatWidgetPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(saved.accent, "#aa3300");
    assert!(saved.require_email);
    assert_eq!(
        saved.allowed_origins,
        ["https://shop.example", "http://localhost:8080"]
    );
    assert_ne!(saved.identity_secret, before.identity_secret);
    for (patch, field) in [
        (
            ChatWidgetPatch {
                accent: Some("blue".into()),
                ..ChatWidgetPatch::default()
            },
            "accent",
        ),
        (
            ChatWidgetPatch {
                allowed_origins: Some("shop.example".into()),
                ..ChatWidgetPatch::default()
            },
            "allowed_origins[0]",
        ),
        (
            ChatWidgetPatch {
                greeting: Some("x".repeat(501)),
                ..ChatWidgetPatch::default()
            },
            "greeting",
        ),
    ] {
        match store.update_chat_widget(ctx(T0 + 2), inbox.id, patch).await {
            Err(StoreError::Invalid(e)) => assert_eq!(e.field, field),
            other => panic!("expected an invalid {field}, got {other:?}"),
        }
    }
    assert_eq!(
        store.chat_widget(inbox.id, Millis(T0)).await.unwrap(),
        saved
    );
    assert!(matches!(
        store.chat_widget(999, Millis(T0)).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// The chat queue: conversations nobody answered first (oldest first), then the agent's own.
async fn the_queue_puts_waiting_chats_first(store: S) {
    let inbox = inbox(&store).await;
    let sam = agent(&store, "sam@example.com", Role::Agent).await;
    let mut tickets = Vec::new();
    for (i, who) in ["visitor-a", "visitor-b", "visitor-c"].iter().enumerate() {
        let posted = store
            .post_chat_message(
                ctx(T0 + i as i64),
                post(&visitor(&inbox, who), "first", "Hello?"),
            )
            .await
            .unwrap();
        tickets.push(posted.conversation.ticket_id);
    }
    // Sam takes and answers the oldest one.
    let take = TicketPatch {
        assignee_id: Some(Some(sam.id)),
        ..TicketPatch::default()
    };
    store
        .update_ticket(agent_ctx(sam.id, T0 + 10), tickets[0], take)
        .await
        .unwrap();
    let answer = NewMessage {
        kind: MessageKind::Reply,
        channel: Channel::Chat,
        body: "Hi, Sam here.".into(),
        send_email: false,
        attachments: vec![],
    };
    store
        .add_message(agent_ctx(sam.id, T0 + 11), tickets[0], answer, None)
        .await
        .unwrap();
    let queue = store.chat_queue(sam.id).await.unwrap();
    assert_eq!(
        queue
            .iter()
            .map(|e| (e.ticket.id, e.waiting))
            .collect::<Vec<_>>(),
        [(tickets[1], true), (tickets[2], true), (tickets[0], false)]
    );
    assert_eq!(queue[0].ticket.subject, queue[1].ticket.subject);
}

rapport_store::on_both_backends!(
    the_queue_puts_waiting_chats_first,
    conversations_are_chat_tickets_and_messages_are_stored_once,
    racing_copies_of_a_frame_store_one_message,
    visitors_read_only_their_own_public_messages,
    replies_are_emailed_while_the_visitor_is_away,
    widget_settings_are_checked,
);

async fn upgrade_from_the_cluster_release(url: String) {
    const CLUSTER_DATA: &str = "
        INSERT INTO inboxes (id, name, address, created_at) VALUES (5, 'Old', 'old@rapport.localhost', 1);";
    rapport_store::database_at_version(&url, 7, CLUSTER_DATA)
        .await
        .unwrap();
    let store: S = rapport_store::open(&url).await.unwrap();
    let widget = store.chat_widget(5, Millis(T0)).await.unwrap();
    assert!(
        !widget.enabled,
        "an upgrade opens no inbox to the web: its widget is off"
    );
    let posted = store
        .post_chat_message(
            ctx(T0),
            post(
                &visitor(&store.inbox(5).await.unwrap(), "v"),
                "c",
                "hi there",
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .ticket(posted.conversation.ticket_id)
            .await
            .unwrap()
            .inbox_id,
        5
    );
    store.close().await;
}

upgrade_on_both_backends!(upgrade_from_the_cluster_release);
