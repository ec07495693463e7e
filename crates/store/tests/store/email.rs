//! The email channel's story in the store: receiving, threading, read-backs, bounces and the
//! outbox, on both databases.

use super::*;

const HOUR: i64 = 3_600_000;

fn inbound(inbox_id: i64, message_id: &str, from: &str, subject: &str, body: &str) -> InboundEmail {
    InboundEmail {
        source: "smtp".into(),
        inbox_id,
        envelope_from: Some(from.into()),
        recipients: vec!["support@rapport.localhost".into()],
        raw: format!(
            "Message-ID: <{message_id}>\r\nFrom: {from}\r\nSubject: {subject}\r\n\r\n{body}\r\n"
        )
        .into_bytes(),
        dedupe_key: message_id.into(),
        body_hash: body.into(),
        message_id: Some(message_id.into()),
        from: Some(Requester {
            customer_id: None,
            email: from.into(),
            name: Some("Ann Lee".into()),
        }),
        subject: subject.into(),
        body: body.into(),
        quoted: String::new(),
        html: None,
        attachments: vec![],
        thread: ThreadHints {
            subject_key: subject.to_lowercase(),
            ..ThreadHints::default()
        },
        automatic: None,
        bounce: None,
        correction: false,
        problems: vec![],
    }
}

async fn support_inbox(store: &S) -> Inbox {
    store
        .inbox_by_address("support@rapport.localhost")
        .await
        .unwrap()
        .expect("the default inbox receives at its address")
}

async fn set_status(store: &S, ctx: Ctx, ticket_id: i64, status: TicketStatus) {
    let patch = TicketPatch {
        status: Some(status),
        ..TicketPatch::default()
    };
    store.update_ticket(ctx, ticket_id, patch).await.unwrap();
}

async fn outbox(store: &S, ticket_id: i64) -> Vec<OutboundEmail> {
    store.ticket_emails(ticket_id).await.unwrap()
}

async fn email_threads_by_every_key_in_order(store: S) {
    let inbox = support_inbox(&store).await;
    let first = inbound(
        inbox.id,
        "m1@ann.example",
        "ann@ann.example",
        "Router drops Wi-Fi",
        "It drops every evening.",
    );
    let created = store.ingest_email(ctx(T0), first.clone()).await.unwrap();
    let Ingested::Created {
        ticket_id,
        acknowledged: true,
    } = created
    else {
        panic!("expected a new acknowledged ticket, got {created:?}");
    };
    let ticket = store.ticket(ticket_id).await.unwrap();
    assert_eq!(ticket.channel, Channel::Email);
    assert_eq!(ticket.customer.email.as_deref(), Some("ann@ann.example"));
    let acks = outbox(&store, ticket_id).await;
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].kind, "ack");
    assert_eq!(acks[0].recipient, "ann@ann.example");

    // The same message again (a retried SMTP session, a re-polled mailbox) changes nothing.
    let again = store.ingest_email(ctx(T0 + 1), first).await.unwrap();
    assert_eq!(
        again,
        Ingested::Duplicate {
            ticket_id: Some(ticket_id)
        }
    );
    assert_eq!(
        store
            .list_messages(ticket_id, PageRequest::first(50))
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    // 1. A signed reply address wins even with a foreign subject and no headers.
    let mut by_token = inbound(
        inbox.id,
        "m2@ann.example",
        "colleague@other.example",
        "Something else",
        "Adding my colleague.",
    );
    by_token.thread.token_ticket = Some(ticket_id);
    let r = store.ingest_email(ctx(T0 + 2), by_token).await.unwrap();
    assert_eq!(
        r,
        Ingested::Appended {
            ticket_id,
            reopened: false
        }
    );

    // 2. In-Reply-To naming our read-back (a Message-ID we sent).
    let mut by_reference = inbound(
        inbox.id,
        "m3@ann.example",
        "ann@ann.example",
        "Re: whatever",
        "Any news?",
    );
    by_reference.thread.referenced_ids = vec!["unknown@x".into(), acks[0].email_message_id.clone()];
    assert_eq!(
        store
            .ingest_email(ctx(T0 + 3), by_reference)
            .await
            .unwrap()
            .ticket_id(),
        Some(ticket_id)
    );

    // 3. The reference in the subject, only from the ticket's customer.
    let mut by_subject = inbound(
        inbox.id,
        "m4@ann.example",
        "ann@ann.example",
        "New words [R-x]",
        "By subject ref.",
    );
    by_subject.thread.subject_ticket = Some(ticket_id);
    assert_eq!(
        store
            .ingest_email(ctx(T0 + 4), by_subject)
            .await
            .unwrap()
            .ticket_id(),
        Some(ticket_id)
    );
    let mut stranger = inbound(
        inbox.id,
        "m5@evil.example",
        "mallory@evil.example",
        "Hijack",
        "Let me in.",
    );
    stranger.thread.subject_ticket = Some(ticket_id);
    let r = store.ingest_email(ctx(T0 + 5), stranger).await.unwrap();
    assert!(
        matches!(r, Ingested::Created { ticket_id: other, .. } if other != ticket_id),
        "{r:?}"
    );

    // 4. Sender and subject, only for replies, only within the window.
    let mut reply = inbound(
        inbox.id,
        "m6@ann.example",
        "ann@ann.example",
        "Re: Router drops Wi-Fi",
        "Forgot: model X2.",
    );
    reply.thread.subject_key = "router drops wi-fi".into();
    reply.thread.looks_like_reply = true;
    assert_eq!(
        store
            .ingest_email(ctx(T0 + 6), reply.clone())
            .await
            .unwrap()
            .ticket_id(),
        Some(ticket_id)
    );
    let mut fresh = reply.clone();
    fresh.dedupe_key = "m7@ann.example".into();
    fresh.message_id = Some("m7@ann.example".into());
    fresh.thread.looks_like_reply = false;
    let r = store.ingest_email(ctx(T0 + 7), fresh).await.unwrap();
    assert!(
        matches!(r, Ingested::Created { .. }),
        "a new mail with an old subject is a new request: {r:?}"
    );
    let mut late = reply;
    late.dedupe_key = "m8@ann.example".into();
    late.message_id = Some("m8@ann.example".into());
    let r = store
        .ingest_email(ctx(T0 + 40 * 24 * HOUR), late)
        .await
        .unwrap();
    assert!(
        matches!(r, Ingested::Created { .. }),
        "outside the window: {r:?}"
    );

    // A received Message-ID threads later mail too.
    let mut by_inbound_id = inbound(
        inbox.id,
        "m9@ann.example",
        "ann@ann.example",
        "x",
        "Reply to my own first mail.",
    );
    by_inbound_id.thread.referenced_ids = vec!["m1@ann.example".into()];
    assert_eq!(
        store
            .ingest_email(ctx(T0 + 8), by_inbound_id)
            .await
            .unwrap()
            .ticket_id(),
        Some(ticket_id)
    );

    let messages = store
        .list_messages(ticket_id, PageRequest::first(50))
        .await
        .unwrap()
        .items;
    assert_eq!(messages.len(), 6);
    assert!(
        messages
            .iter()
            .all(|m| m.email_id.is_some() && m.channel == Channel::Email)
    );
    let colleague = &messages[1];
    assert_ne!(
        colleague.author, messages[0].author,
        "the colleague is their own customer record"
    );
}

async fn email_reopens_solved_and_follows_up_closed(store: S) {
    let inbox = support_inbox(&store).await;
    let agent = agent(&store, "sam@rapport.example", Role::Agent).await;
    let Ingested::Created { ticket_id, .. } = store
        .ingest_email(
            ctx(T0),
            inbound(
                inbox.id,
                "a1@x.example",
                "bo@x.example",
                "Invoice wrong",
                "Invoice 77 is wrong.",
            ),
        )
        .await
        .unwrap()
    else {
        panic!("created")
    };
    let reply = store
        .add_message(
            agent_ctx(agent.id, T0 + 1),
            ticket_id,
            NewMessage {
                send_email: true,
                attachments: Vec::new(),
                kind: MessageKind::Reply,
                channel: Channel::Api,
                body: "Fixed, a new invoice is on its way.".into(),
            },
            None,
        )
        .await
        .unwrap()
        .value;
    let emails = outbox(&store, ticket_id).await;
    assert_eq!(
        emails.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["ack", "reply"]
    );
    set_status(
        &store,
        agent_ctx(agent.id, T0 + 2),
        ticket_id,
        TicketStatus::Solved,
    )
    .await;

    // The customer answers the reply: the solved ticket reopens.
    let mut answer = inbound(
        inbox.id,
        "a2@x.example",
        "bo@x.example",
        "Re: Invoice wrong",
        "Still wrong, sorry.",
    );
    answer.thread.referenced_ids = vec![emails[1].email_message_id.clone()];
    let r = store.ingest_email(ctx(T0 + 3), answer).await.unwrap();
    assert_eq!(
        r,
        Ingested::Appended {
            ticket_id,
            reopened: true
        }
    );
    assert_eq!(
        store.ticket(ticket_id).await.unwrap().status,
        TicketStatus::Open
    );

    // An out-of-office answer to a pending ticket is kept but changes nothing.
    set_status(
        &store,
        agent_ctx(agent.id, T0 + 4),
        ticket_id,
        TicketStatus::Pending,
    )
    .await;
    let mut ooo = inbound(
        inbox.id,
        "a3@x.example",
        "bo@x.example",
        "Automatic reply: Invoice wrong",
        "I am away.",
    );
    ooo.thread.token_ticket = Some(ticket_id);
    ooo.automatic = Some("Auto-Submitted: auto-replied".into());
    assert_eq!(
        store.ingest_email(ctx(T0 + 5), ooo).await.unwrap(),
        Ingested::Appended {
            ticket_id,
            reopened: false
        }
    );
    assert_eq!(
        store.ticket(ticket_id).await.unwrap().status,
        TicketStatus::Pending
    );

    // Closed: a new message opens a follow-up linked to it, acknowledged like any request.
    for (i, status) in [TicketStatus::Solved, TicketStatus::Closed]
        .into_iter()
        .enumerate()
    {
        set_status(
            &store,
            agent_ctx(agent.id, T0 + 6 + i as i64),
            ticket_id,
            status,
        )
        .await;
    }
    let mut late = inbound(
        inbox.id,
        "a4@x.example",
        "bo@x.example",
        "Re: Invoice wrong",
        "It happened again.",
    );
    late.thread.token_ticket = Some(ticket_id);
    let r = store.ingest_email(ctx(T0 + 10), late).await.unwrap();
    let Ingested::FollowUp {
        ticket_id: follow_up,
        closed_ticket_id,
    } = r
    else {
        panic!("expected a follow-up, got {r:?}");
    };
    assert_eq!(closed_ticket_id, ticket_id);
    assert_eq!(
        store.ticket(ticket_id).await.unwrap().status,
        TicketStatus::Closed
    );
    let events = store
        .list_events(follow_up, PageRequest::first(50))
        .await
        .unwrap()
        .items;
    assert!(
        events
            .iter()
            .any(|e| e.kind == "ticket.linked" && e.data["of"] == json!(ticket_id))
    );
    assert_eq!(outbox(&store, follow_up).await[0].kind, "ack");
    assert_eq!(reply.kind, MessageKind::Reply);
}

async fn automatic_mail_is_never_answered_and_acks_are_rate_limited(store: S) {
    let inbox = support_inbox(&store).await;
    let mut bulk = inbound(
        inbox.id,
        "n1@news.example",
        "news@news.example",
        "Our newsletter",
        "Deals!",
    );
    bulk.automatic = Some("List-Id".into());
    let r = store.ingest_email(ctx(T0), bulk).await.unwrap();
    assert!(
        matches!(
            r,
            Ingested::Created {
                acknowledged: false,
                ..
            }
        ),
        "{r:?}"
    );
    // Mail from our own address is a loop: stored, never answered.
    let own = inbound(
        inbox.id,
        "n2@rapport.localhost",
        "support@rapport.localhost",
        "Loop",
        "Hello me.",
    );
    assert!(matches!(
        store.ingest_email(ctx(T0), own).await.unwrap(),
        Ingested::Created {
            acknowledged: false,
            ..
        }
    ));
    // A burst of new requests from one address: three read-backs an hour, then silence.
    let mut acked = 0;
    for i in 0..5 {
        let mail = inbound(
            inbox.id,
            &format!("b{i}@cy.example"),
            "cy@cy.example",
            &format!("Question {i}"),
            "Hello?",
        );
        if let Ingested::Created {
            acknowledged: true, ..
        } = store.ingest_email(ctx(T0 + i), mail).await.unwrap()
        {
            acked += 1;
        }
    }
    assert_eq!(acked, 3);
    let later = inbound(
        inbox.id,
        "b9@cy.example",
        "cy@cy.example",
        "Next hour",
        "Hello again",
    );
    assert!(matches!(
        store.ingest_email(ctx(T0 + 2 * HOUR), later).await.unwrap(),
        Ingested::Created {
            acknowledged: true,
            ..
        }
    ));
    // An inbox can switch read-backs off.
    store
        .update_inbox(
            ctx(T0),
            inbox.id,
            InboxPatch {
                acknowledge: Some(false),
                ..InboxPatch::default()
            },
        )
        .await
        .unwrap();
    let quiet = inbound(inbox.id, "q1@dee.example", "dee@dee.example", "Hi", "Hello");
    assert!(matches!(
        store.ingest_email(ctx(T0), quiet).await.unwrap(),
        Ingested::Created {
            acknowledged: false,
            ..
        }
    ));
}

async fn bounces_mark_addresses_and_note_the_ticket(store: S) {
    let inbox = support_inbox(&store).await;
    let Ingested::Created { ticket_id, .. } = store
        .ingest_email(
            ctx(T0),
            inbound(
                inbox.id,
                "c1@typo.example",
                "eve@typo.example",
                "Help",
                "Please help.",
            ),
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    let ack = outbox(&store, ticket_id).await.remove(0);
    let mut dsn = inbound(
        inbox.id,
        "dsn1@mx.example",
        "mailer-daemon@mx.example",
        "Undelivered Mail Returned to Sender",
        "The mail system could not deliver.",
    );
    dsn.automatic = Some("Auto-Submitted: auto-replied".into());
    dsn.bounce = Some(BounceReport {
        original_message_id: Some(ack.email_message_id.clone()),
        failed: vec!["EVE@typo.example".into()],
        summary: "Delivery to eve@typo.example failed: 5.1.1 user unknown".into(),
    });
    assert_eq!(
        store.ingest_email(ctx(T0 + 1), dsn).await.unwrap(),
        Ingested::Bounce {
            ticket_id: Some(ticket_id)
        }
    );
    let messages = store
        .list_messages(ticket_id, PageRequest::first(10))
        .await
        .unwrap()
        .items;
    let note = messages.last().unwrap();
    assert_eq!(note.kind, MessageKind::Note);
    assert!(note.body.contains("5.1.1"));
    let dsn_raw = store
        .raw_email(note.email_id.expect("the note links the notification"))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&dsn_raw).contains("dsn1@mx.example"));
    let events = store
        .list_events(ticket_id, PageRequest::first(50))
        .await
        .unwrap()
        .items;
    assert!(events.iter().any(|e| e.kind == "email.bounced"));
    // A bouncing address gets no more read-backs.
    let again = inbound(
        inbox.id,
        "c2@typo.example",
        "eve@typo.example",
        "Help again",
        "Hello?",
    );
    assert!(matches!(
        store.ingest_email(ctx(T0 + 2), again).await.unwrap(),
        Ingested::Created {
            acknowledged: false,
            ..
        }
    ));
    // A report about mail we never sent marks nobody and is filed like other automatic mail.
    let mut stray = inbound(
        inbox.id,
        "dsn2@mx.example",
        "mailer-daemon@mx.example",
        "Undeliverable",
        "x",
    );
    stray.automatic = Some("Generated: bounce".into());
    stray.bounce = Some(BounceReport {
        original_message_id: Some("not-ours@x".into()),
        failed: vec!["ann@ann.example".into()],
        summary: "x".into(),
    });
    let r = store.ingest_email(ctx(T0 + 3), stray).await.unwrap();
    assert!(
        matches!(
            r,
            Ingested::Created {
                acknowledged: false,
                ..
            }
        ),
        "{r:?}"
    );
    // A report on our mail marks only the address that mail went to.
    let mut forged = inbound(
        inbox.id,
        "dsn3@mx.example",
        "mailer-daemon@mx.example",
        "Undeliverable",
        "x",
    );
    forged.bounce = Some(BounceReport {
        original_message_id: Some(ack.email_message_id.clone()),
        failed: vec!["victim@other.example".into()],
        summary: "x".into(),
    });
    let victim = inbound(
        inbox.id,
        "v1@other.example",
        "victim@other.example",
        "Hi",
        "Hello",
    );
    store.ingest_email(ctx(T0 + 4), victim).await.unwrap();
    store.ingest_email(ctx(T0 + 5), forged).await.unwrap();
    let victim_again = inbound(
        inbox.id,
        "v2@other.example",
        "victim@other.example",
        "Hi again",
        "Hello?",
    );
    assert!(matches!(
        store
            .ingest_email(ctx(T0 + 2 * HOUR), victim_again)
            .await
            .unwrap(),
        Ingested::Created {
            acknowledged: true,
            ..
        }
    ));
    // A day later read-backs to that address resume.
    let back = inbound(
        inbox.id,
        "c3@typo.example",
        "eve@typo.example",
        "Fixed my mailbox",
        "Hello again",
    );
    let Ingested::Created {
        ticket_id: later,
        acknowledged: true,
    } = store.ingest_email(ctx(T0 + 25 * HOUR), back).await.unwrap()
    else {
        panic!("read-backs resume after a day");
    };
    // That read-back bounces too: the pause starts again from this bounce.
    let second_ack = outbox(&store, later).await.remove(0);
    let mut second = inbound(
        inbox.id,
        "dsn4@mx.example",
        "mailer-daemon@mx.example",
        "Undeliverable",
        "x",
    );
    second.bounce = Some(BounceReport {
        original_message_id: Some(second_ack.email_message_id),
        failed: vec!["eve@typo.example".into()],
        summary: "Delivery to eve@typo.example failed: 5.2.2 mailbox full".into(),
    });
    store
        .ingest_email(ctx(T0 + 26 * HOUR), second)
        .await
        .unwrap();
    let after = inbound(
        inbox.id,
        "c4@typo.example",
        "eve@typo.example",
        "Anyone?",
        "Hello?",
    );
    assert!(matches!(
        store
            .ingest_email(ctx(T0 + 27 * HOUR), after)
            .await
            .unwrap(),
        Ingested::Created {
            acknowledged: false,
            ..
        }
    ));
}

async fn reused_message_ids_and_automatic_mail_to_closed_tickets(store: S) {
    let inbox = support_inbox(&store).await;
    let alert = |body: &str| InboundEmail {
        body_hash: format!("hash of {body}"),
        ..inbound(
            inbox.id,
            "alert@monitor.example",
            "monitor@acme.example",
            "Disk full",
            body,
        )
    };
    let first = store
        .ingest_email(ctx(T0), alert("disk 91% full"))
        .await
        .unwrap();
    let second = store
        .ingest_email(ctx(T0 + 1), alert("disk 97% full"))
        .await
        .unwrap();
    assert!(matches!(first, Ingested::Created { .. }), "{first:?}");
    // A reused Message-ID does not swallow the new message: it joins the first one's ticket.
    assert_eq!(
        second,
        Ingested::Appended {
            ticket_id: first.ticket_id().unwrap(),
            reopened: false
        }
    );
    assert!(matches!(
        store
            .ingest_email(ctx(T0 + 2), alert("disk 97% full"))
            .await
            .unwrap(),
        Ingested::Duplicate { .. }
    ));
    // The same message sent to a second of our inboxes as well is one ticket, not two.
    let ops = store
        .create_inbox(
            ctx(T0),
            "Ops",
            "ops@rapport.localhost",
            None,
            InboxPatch::default(),
        )
        .await
        .unwrap();
    let copy = InboundEmail {
        inbox_id: ops.id,
        ..alert("disk 91% full")
    };
    assert_eq!(
        store.ingest_email(ctx(T0 + 2), copy).await.unwrap(),
        Ingested::Duplicate {
            ticket_id: first.ticket_id()
        }
    );

    let agent = agent(&store, "ida@rapport.example", Role::Agent).await;
    let ticket_id = first.ticket_id().unwrap();
    for status in [TicketStatus::Solved, TicketStatus::Closed] {
        set_status(&store, agent_ctx(agent.id, T0 + 3), ticket_id, status).await;
    }
    let mut away = inbound(
        inbox.id,
        "ooo@acme.example",
        "monitor@acme.example",
        "Automatic reply: Disk full",
        "Away.",
    );
    away.thread.token_ticket = Some(ticket_id);
    away.automatic = Some("AutoReply: Auto-Submitted".into());
    let r = store.ingest_email(ctx(T0 + 4), away).await.unwrap();
    let Ingested::Unfiled { email_id } = r else {
        panic!("an out-of-office to a closed ticket opens nothing: {r:?}");
    };
    let unfiled = store
        .list_unfiled_emails(PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(unfiled.len(), 1);
    assert!(
        unfiled[0]
            .problems
            .iter()
            .any(|p| p.contains("closed ticket R-")),
        "says what it answered: {:?}",
        unfiled[0].problems
    );
    assert_eq!(
        (unfiled[0].id, unfiled[0].outcome.as_str()),
        (email_id, "unfiled")
    );
    let quarantined = store
        .quarantine_email(ctx(T0 + 5), alert("broken"), "no usable text".into())
        .await
        .unwrap();
    let page = store
        .list_unfiled_emails(PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(page.items[0].id, quarantined, "newest first");
    assert!(page.items[0].problems.iter().any(|p| p == "no usable text"));
    let rest = store
        .list_unfiled_emails(PageRequest {
            after: page.next,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
}

async fn corrections_attachments_and_raw_bytes_are_kept(store: S) {
    let inbox = support_inbox(&store).await;
    let mut first = inbound(
        inbox.id,
        "d1@fay.example",
        "fay@fay.example",
        "Order 4711 missing",
        "Order 4711 never arrived.",
    );
    // Raw bytes need not be UTF-8: they are kept exactly.
    first.raw = b"Subject: =?iso-8859-1?q?Gr=FC=DFe?=\r\n\r\nGr\xfc\xdfe \xff\x00 end\r\n".to_vec();
    first.html = Some("<p>Order 4711 never arrived.</p>".into());
    first.quoted = "> earlier".into();
    first.attachments = vec![
        NewAttachment {
            filename: "photo.png".into(),
            content_type: "image/png".into(),
            content_id: Some("img1@fay".into()),
            inline: true,
            size_bytes: 4,
            data: Some(vec![0x89, b'P', b'N', b'G']),
            withheld: None,
        },
        NewAttachment {
            filename: "huge.zip".into(),
            content_type: "application/zip".into(),
            content_id: None,
            inline: false,
            size_bytes: 90_000_000,
            data: None,
            withheld: Some("larger than the 25 MiB attachment limit".into()),
        },
    ];
    let Ingested::Created { ticket_id, .. } =
        store.ingest_email(ctx(T0), first.clone()).await.unwrap()
    else {
        panic!()
    };
    let message = store
        .list_messages(ticket_id, PageRequest::first(10))
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(
        message.html.as_deref(),
        Some("<p>Order 4711 never arrived.</p>")
    );
    assert_eq!(message.quoted, "> earlier");
    assert_eq!(
        store.raw_email(message.email_id.unwrap()).await.unwrap(),
        first.raw
    );
    assert_eq!(message.attachments.len(), 2);
    let (png, data) = store.attachment(message.attachments[0].id).await.unwrap();
    assert!(png.inline);
    assert_eq!(png.content_id.as_deref(), Some("img1@fay"));
    assert_eq!(data.unwrap(), vec![0x89, b'P', b'N', b'G']);
    let (zip, data) = store.attachment(message.attachments[1].id).await.unwrap();
    assert!(data.is_none() && zip.withheld.is_some());
    assert!(matches!(
        store.attachment(999_999).await,
        Err(StoreError::NotFound { .. })
    ));

    // The customer says the read-back got it wrong: the ticket is flagged once.
    for (i, id) in ["d2@fay.example", "d3@fay.example"].into_iter().enumerate() {
        let mut correction = inbound(
            inbox.id,
            id,
            "fay@fay.example",
            "Re: Order 4711 missing",
            "Not quite: it is order 4712.",
        );
        correction.thread.subject_ticket = Some(ticket_id);
        correction.correction = true;
        store
            .ingest_email(ctx(T0 + 1 + i as i64), correction)
            .await
            .unwrap();
    }
    let ticket = store.ticket(ticket_id).await.unwrap();
    assert_eq!(ticket.tags, vec!["readback-corrected".to_string()]);
    let events = store
        .list_events(ticket_id, PageRequest::first(50))
        .await
        .unwrap()
        .items;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == "readback.corrected")
            .count(),
        1
    );

    // What cannot be filed is still kept, once.
    let mut broken = first.clone();
    broken.dedupe_key = "sha256:abc".into();
    let id = store
        .quarantine_email(ctx(T0), broken.clone(), "no usable text".into())
        .await
        .unwrap();
    assert_eq!(
        store
            .quarantine_email(ctx(T0), broken, "again".into())
            .await
            .unwrap(),
        id
    );
    assert_eq!(store.raw_email(id).await.unwrap(), first.raw);
}

async fn outbox_leases_retries_and_sends_once(store: S) {
    let inbox = support_inbox(&store).await;
    for i in 0..3 {
        store
            .ingest_email(
                ctx(T0 + i),
                inbound(
                    inbox.id,
                    &format!("o{i}@g.example"),
                    &format!("g{i}@g.example"),
                    "Hi",
                    "Hello",
                ),
            )
            .await
            .unwrap();
    }
    let now = Millis(T0 + 10);
    let claimed = store.claim_outbox(now, 60_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 3);
    let item = &claimed[0];
    assert_eq!(item.kind, OutboxKind::Ack);
    assert_eq!(item.inbox.id, inbox.id);
    assert_eq!(item.body, "Hello");
    assert!(item.raw.is_none());
    // Leased rows are not handed out twice, even to a concurrent claimer.
    assert!(
        store
            .claim_outbox(now, 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );

    store
        .outbox_composed(item.id, b"composed bytes".to_vec())
        .await
        .unwrap();
    store
        .outbox_composed(item.id, b"other bytes".to_vec())
        .await
        .unwrap();
    store
        .outbox_attempted(
            item.id,
            now,
            OutboxResult::Retry {
                error: "421 try later".into(),
                at: Millis(T0 + 1_000),
            },
        )
        .await
        .unwrap();
    store
        .outbox_attempted(claimed[1].id, now, OutboxResult::Sent)
        .await
        .unwrap();
    store
        .outbox_attempted(
            claimed[2].id,
            now,
            OutboxResult::Failed {
                error: "550 no such user".into(),
            },
        )
        .await
        .unwrap();
    // Before its retry time nothing is due; after it, only the retried one, with its bytes.
    assert!(
        store
            .claim_outbox(Millis(T0 + 999), 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let retry = store
        .claim_outbox(Millis(T0 + 1_000), 60_000, 10)
        .await
        .unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].id, item.id);
    assert_eq!(retry[0].attempts, 1);
    assert_eq!(
        retry[0].raw.as_deref(),
        Some(&b"composed bytes"[..]),
        "composed once, resent identically"
    );
    // An expired lease is taken over.
    let taken = store
        .claim_outbox(Millis(T0 + 1_000 + 60_000), 60_000, 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    let statuses: Vec<String> = outbox(&store, claimed[1].ticket.as_ref().unwrap().id)
        .await
        .into_iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(statuses, ["sent"]);
    let failed = outbox(&store, claimed[2].ticket.as_ref().unwrap().id)
        .await
        .remove(0);
    assert_eq!(
        (failed.status.as_str(), failed.last_error.as_deref()),
        ("failed", Some("550 no such user"))
    );
}

async fn inboxes_have_addresses_settings_and_templates(store: S) {
    let team = store.create_team(ctx(T0), "Billing", "").await.unwrap();
    let inbox = store
        .create_inbox(
            ctx(T0),
            "Billing",
            "Billing@Example.test",
            Some(team.id),
            InboxPatch::default(),
        )
        .await
        .unwrap();
    assert_eq!(inbox.addresses, vec!["billing@example.test".to_string()]);
    assert!(inbox.acknowledge);
    assert_eq!(inbox.business_hours.time_zone, "UTC");
    let patch = InboxPatch {
        addresses: Some(vec![
            "invoices@example.test".into(),
            "INVOICES@example.test".into(),
        ]),
        from_name: Some("Northwind Billing".into()),
        signature: Some("-- \nNorthwind Billing".into()),
        language: Some("de".into()),
        human_contact: Some("+49 30 1234567, Mo–Fr 9–17 Uhr".into()),
        first_response_minutes: Some(240),
        ..InboxPatch::default()
    };
    let updated = store
        .update_inbox(ctx(T0 + 1), inbox.id, patch)
        .await
        .unwrap();
    assert_eq!(
        updated.addresses,
        vec!["billing@example.test", "invoices@example.test"],
        "the sending address stays"
    );
    assert_eq!(
        (updated.language.as_str(), updated.first_response_minutes),
        ("de", 240)
    );
    assert_eq!(
        store
            .inbox_by_address("invoices@example.test")
            .await
            .unwrap()
            .unwrap()
            .id,
        inbox.id
    );
    assert!(
        store
            .inbox_by_address("nobody@example.test")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.inbox_by_name("billing").await.unwrap().unwrap().id,
        inbox.id
    );
    // An address belongs to one inbox only; bad values name their field.
    let taken = store
        .update_inbox(
            ctx(T0),
            inbox.id,
            InboxPatch {
                addresses: Some(vec!["support@rapport.localhost".into()]),
                ..InboxPatch::default()
            },
        )
        .await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    let bad = store
        .update_inbox(
            ctx(T0),
            inbox.id,
            InboxPatch {
                addresses: Some(vec!["not-an-address".into()]),
                ..InboxPatch::default()
            },
        )
        .await;
    assert!(
        matches!(bad, Err(StoreError::Invalid(ref e)) if e.field == "addresses[0]"),
        "{bad:?}"
    );
    assert!(matches!(
        store
            .update_inbox(ctx(T0), 4242, InboxPatch::default())
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.inbox(inbox.id).await.unwrap(), updated);

    let template = InboxTemplate {
        inbox_id: inbox.id,
        kind: "ack".into(),
        language: "de".into(),
        subject: "[{{ reference }}] Eingang".into(),
        body: "Danke.".into(),
        updated_at: Millis(0),
    };
    store
        .set_inbox_template(ctx(T0 + 2), template.clone())
        .await
        .unwrap();
    store
        .set_inbox_template(
            ctx(T0 + 3),
            InboxTemplate {
                body: "Vielen Dank.".into(),
                ..template
            },
        )
        .await
        .unwrap();
    let templates = store.inbox_templates(inbox.id).await.unwrap();
    assert_eq!(templates.len(), 1);
    assert_eq!(
        (templates[0].body.as_str(), templates[0].updated_at),
        ("Vielen Dank.", Millis(T0 + 3))
    );
    // The outbox hands the template in the inbox's language to the composer.
    store
        .ingest_email(
            ctx(T0 + 4),
            inbound(
                inbox.id,
                "t1@h.example",
                "hal@h.example",
                "Rechnung",
                "Rechnung falsch",
            ),
        )
        .await
        .unwrap();
    let item = store
        .claim_outbox(Millis(T0 + 5), 1_000, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        item.template.map(|t| t.body),
        Some("Vielen Dank.".to_string())
    );
    assert_eq!(item.inbox.from_name, "Northwind Billing");
}

rapport_store::on_both_backends!(
    email_threads_by_every_key_in_order,
    email_reopens_solved_and_follows_up_closed,
    automatic_mail_is_never_answered_and_acks_are_rate_limited,
    bounces_mark_addresses_and_note_the_ticket,
    corrections_attachments_and_raw_bytes_are_kept,
    outbox_leases_retries_and_sends_once,
    reused_message_ids_and_automatic_mail_to_closed_tickets,
    inboxes_have_addresses_settings_and_templates,
);

/// A database the foundation release made, with its data, upgrades to the email schema: the
/// inbox keeps its address (now receiving at it), tickets and messages read as before, and
/// mail files into them.
async fn upgrade_from_the_foundation_release(url: String) {
    const FOUNDATION_DATA: &str = "
        INSERT INTO customers (id, name, created_at, updated_at) VALUES (7, 'Ann Lee', 1, 1);
        INSERT INTO customer_emails (email, customer_id, is_primary) VALUES ('ann@ann.example', 7, TRUE);
        INSERT INTO tickets (id, subject, status, priority, channel, customer_id, inbox_id, created_at, updated_at)
            VALUES (10001, 'Router drops Wi-Fi', 'open', 'normal', 'api', 7, 1, 1, 1);
        INSERT INTO messages (ticket_id, kind, channel, author_customer_id, body, created_at)
            VALUES (10001, 'customer', 'api', 7, 'It drops every evening.', 1);";
    rapport_store::database_at_version(&url, 1, FOUNDATION_DATA)
        .await
        .unwrap();
    let store = rapport_store::open(&url).await.unwrap();
    let inbox = support_inbox(&store).await;
    assert_eq!(
        inbox.addresses,
        vec!["support@rapport.localhost".to_string()]
    );
    assert!(inbox.acknowledge && inbox.from_name.is_empty());
    let message = store
        .list_messages(10001, PageRequest::first(10))
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(
        (
            message.body.as_str(),
            message.html.as_deref(),
            message.email_id
        ),
        ("It drops every evening.", None, None)
    );
    let mut reply = inbound(
        inbox.id,
        "u1@ann.example",
        "ann@ann.example",
        "Re: Router drops Wi-Fi",
        "Still.",
    );
    reply.thread.subject_ticket = Some(10001);
    assert_eq!(
        store.ingest_email(ctx(T0), reply).await.unwrap(),
        Ingested::Appended {
            ticket_id: 10001,
            reopened: false
        }
    );
    store.close().await;
}

/// A database the email release made, with mail waiting in the outbox, upgrades to the
/// workspace schema: the outbox (rebuilt on SQLite) keeps its rows, their Message-IDs and
/// leases, and customers start as ordinary portal users.
async fn upgrade_from_the_email_release(url: String) {
    const EMAIL_DATA: &str = "
        INSERT INTO customers (id, name, created_at, updated_at) VALUES (7, 'Ann Lee', 1, 1);
        INSERT INTO customer_emails (email, customer_id, is_primary) VALUES ('ann@ann.example', 7, TRUE);
        INSERT INTO tickets (id, subject, status, priority, channel, customer_id, inbox_id, created_at, updated_at)
            VALUES (10001, 'Router drops Wi-Fi', 'open', 'normal', 'email', 7, 1, 1, 1);
        INSERT INTO messages (id, ticket_id, kind, channel, author_customer_id, body, created_at)
            VALUES (1, 10001, 'customer', 'email', 7, 'It drops every evening.', 1);
        INSERT INTO outbox (kind, ticket_id, recipient, email_message_id, automatic, status, next_attempt_at, created_at)
            VALUES ('ack', 10001, 'ann@ann.example', 'R-10001.ack.1@rapport.localhost', TRUE, 'pending', 5, 1);";
    rapport_store::database_at_version(&url, 2, EMAIL_DATA)
        .await
        .unwrap();
    let store = rapport_store::open(&url).await.unwrap();
    let items = store.claim_outbox(Millis(10), 1_000, 10).await.unwrap();
    assert_eq!(items.len(), 1, "the queued read-back survives the upgrade");
    assert_eq!(items[0].email_message_id, "R-10001.ack.1@rapport.localhost");
    assert_eq!(items[0].ticket.as_ref().map(|t| t.id), Some(10001));
    assert_eq!(items[0].body, "It drops every evening.");
    assert!(!store.customer(7).await.unwrap().org_admin);
    assert!(
        store
            .claim_outbox(Millis(11), 1_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "and its lease holds"
    );
    store.close().await;
}

upgrade_on_both_backends!(
    upgrade_from_the_foundation_release,
    upgrade_from_the_email_release
);
