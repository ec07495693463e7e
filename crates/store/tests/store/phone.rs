//! The phone channel on both databases: calls logged on tickets (history, search, clocks),
//! tickets from calls with the caller matched by number, and callbacks — requested, reminded,
//! kept by a call, missed when the window lapses, cancelled — counted as promises.

use super::*;
use rapport_core::commitment::CommitmentStatus;
use rapport_core::phone::{CallDirection, CallOutcome, CallbackStatus, CallbackWindow};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn call(direction: CallDirection, outcome: CallOutcome, notes: &str) -> NewCall {
    NewCall {
        direction,
        number: "+49 30 1234567".into(),
        duration_seconds: 270,
        outcome,
        notes: notes.into(),
        started_at: None,
    }
}

async fn caller(store: &S, name: &str, phone: &str) -> i64 {
    caller_with_email(store, name, phone, None).await
}

async fn caller_with_email(store: &S, name: &str, phone: &str, email: Option<&str>) -> i64 {
    store
        .create_customer(
            ctx(T0),
            NewCustomer {
                name: name.into(),
                emails: email.into_iter().map(Into::into).collect(),
                organization_id: None,
                phone: Some(phone.into()),
                language: None,
                time_zone: Some("Europe/Berlin".into()),
                preferences: Default::default(),
                notes: String::new(),
            },
            None,
        )
        .await
        .unwrap()
        .value
        .id
}

fn field(e: StoreError) -> String {
    match e {
        StoreError::Invalid(i) => i.field,
        other => panic!("expected a rule broken, got {other:?}"),
    }
}

async fn event_kinds(store: &S, ticket: i64) -> Vec<String> {
    store
        .list_events(ticket, PageRequest::first(200))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

async fn calls_are_logged_on_tickets(store: S) {
    let sam = agent(&store, "sam@example.com", Role::Agent).await;
    let t = store
        .create_ticket(ctx(T0), new_ticket("Router", "ann@example.com"), None)
        .await
        .unwrap()
        .value;
    // An unanswered call is logged but is no answer: the ticket stays new, unanswered.
    let missed = store
        .log_call(
            agent_ctx(sam.id, T0 + MIN),
            t.id,
            call(CallDirection::Outbound, CallOutcome::NoAnswer, ""),
        )
        .await
        .unwrap();
    assert_eq!(missed.message_id, None, "no notes, no note");
    assert_eq!(missed.number_canonical, "+49301234567");
    assert_eq!(store.ticket(t.id).await.unwrap().status, TicketStatus::New);
    let sla = store.ticket_sla(t.id).await.unwrap().unwrap();
    assert!(
        sla.targets.iter().all(|t| t.met_at.is_none()),
        "nothing met"
    );

    // An answered call with notes: the notes are an internal note in the history and found by
    // search; the call is a real answer, so the ticket opens and its first response is met.
    let answered = store
        .log_call(
            agent_ctx(sam.id, T0 + 2 * MIN),
            t.id,
            call(
                CallDirection::Outbound,
                CallOutcome::Answered,
                "Walked her through the firmware flash",
            ),
        )
        .await
        .unwrap();
    let note = answered.message_id.expect("a note carries the notes");
    let messages = store
        .list_messages(t.id, PageRequest::first(10))
        .await
        .unwrap()
        .items;
    let m = messages.iter().find(|m| m.id == note).unwrap();
    assert_eq!((m.kind, m.public), (MessageKind::Note, false));
    assert!(m.body.contains("outbound, answered, 4:30") && m.body.contains("firmware flash"));
    let hits = store.search(&q("firmware flash"), 10).await.unwrap();
    assert_eq!(hits.iter().map(|h| h.ticket.id).collect::<Vec<_>>(), [t.id]);
    assert_eq!(store.ticket(t.id).await.unwrap().status, TicketStatus::Open);
    let sla = store.ticket_sla(t.id).await.unwrap().unwrap();
    assert!(
        sla.targets
            .iter()
            .any(|t| t.met_at == Some(Millis(T0 + 2 * MIN))),
        "the call met the first response: {sla:?}"
    );
    let kinds = event_kinds(&store, t.id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "call.logged").count(), 2);
    let calls = store.calls(t.id).await.unwrap();
    assert_eq!(calls, [missed, answered.clone()]);
    assert_eq!(calls[1].agent_id, Some(sam.id));
    assert_eq!(
        store
            .customer_calls(t.customer.id)
            .await
            .unwrap()
            .first()
            .map(|c| c.id),
        Some(answered.id)
    );

    // Bad input names its field and leaves nothing behind.
    let bad = |f: fn(&mut NewCall)| {
        let mut c = call(CallDirection::Inbound, CallOutcome::Answered, "x");
        f(&mut c);
        c
    };
    for (new, expected) in [
        (bad(|c| c.number = "call me".into()), "number"),
        (bad(|c| c.duration_seconds = -1), "duration_seconds"),
        (bad(|c| c.notes = "x".repeat(10_001)), "notes"),
        (
            bad(|c| c.started_at = Some(Millis(T0 + HOUR))),
            "started_at",
        ),
    ] {
        let e = store
            .log_call(agent_ctx(sam.id, T0 + 3 * MIN), t.id, new)
            .await
            .unwrap_err();
        assert_eq!(field(e), expected);
    }
    assert_eq!(store.calls(t.id).await.unwrap().len(), 2);
    assert!(matches!(
        store
            .log_call(
                agent_ctx(sam.id, T0),
                999_999,
                call(CallDirection::Inbound, CallOutcome::Answered, "")
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn tickets_from_calls_match_callers_by_number(store: S) {
    let sam = agent(&store, "sam@example.com", Role::Agent).await;
    let ann = caller(&store, "Ann Lee", "+49 (0)30 1234-567").await;
    caller(&store, "Bob Roe", "+44 20 7946 0958").await;
    let found = store.customers_by_phone("030 123 45 67").await.unwrap();
    assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), [ann]);
    assert!(
        store
            .customers_by_phone("+1 30 1234567")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        field(store.customers_by_phone("abc").await.unwrap_err()),
        "phone"
    );

    // A known number: the ticket is Ann's, opened and answered by the call.
    let mut new_call = call(
        CallDirection::Inbound,
        CallOutcome::Answered,
        "Bill is wrong",
    );
    new_call.number = "030 1234567".into();
    let made = store
        .ticket_from_call(
            agent_ctx(sam.id, T0 + MIN),
            NewCallTicket {
                inbox: None,
                customer_id: None,
                name: None,
                email: None,
                subject: "Invoice question".into(),
                call: new_call.clone(),
            },
        )
        .await
        .unwrap();
    assert!(!made.customer_created);
    assert_eq!(made.ticket.customer.id, ann);
    assert_eq!(made.ticket.channel, Channel::Phone);
    assert_eq!(made.ticket.status, TicketStatus::Open);
    assert_eq!(
        made.ticket.assignee_id,
        Some(sam.id),
        "who took the call owns it"
    );
    assert_eq!(made.call.ticket_id, made.ticket.id);
    let first = &store
        .list_messages(made.ticket.id, PageRequest::first(5))
        .await
        .unwrap()
        .items[0];
    assert_eq!(first.body, "Bill is wrong");

    // An unknown number needs a name, then makes a customer with the number (no address).
    let mut stranger = new_call.clone();
    stranger.number = "+33 1 23 45 67 89".into();
    let request = |name: Option<&str>, customer_id: Option<i64>, call: NewCall| NewCallTicket {
        inbox: None,
        customer_id,
        name: name.map(String::from),
        email: None,
        subject: "Question".into(),
        call,
    };
    assert_eq!(
        field(
            store
                .ticket_from_call(ctx(T0), request(None, None, stranger.clone()))
                .await
                .unwrap_err()
        ),
        "name"
    );
    let created = store
        .ticket_from_call(ctx(T0), request(Some("Chloé Martin"), None, stranger))
        .await
        .unwrap();
    assert!(created.customer_created);
    assert_eq!(created.ticket.customer.email, None);
    let chloe = store.customer(created.ticket.customer.id).await.unwrap();
    assert_eq!(chloe.phone.as_deref(), Some("+33 1 23 45 67 89"));
    assert_eq!(
        store.customers_by_phone("01 23 45 67 89").await.unwrap()[0].id,
        chloe.id,
        "found by number from now on"
    );

    // Two customers with one number: the agent must pick.
    let ann2 = caller(&store, "Ann Lee (work)", "0049 30 1234567").await;
    let e = store
        .ticket_from_call(ctx(T0), request(None, None, new_call.clone()))
        .await
        .unwrap_err();
    assert_eq!(field(e), "customer_id");
    let picked = store
        .ticket_from_call(ctx(T0), request(None, Some(ann2), new_call))
        .await
        .unwrap();
    assert_eq!(picked.ticket.customer.id, ann2);
    // A number edited on the customer is found by its new key.
    store
        .update_customer(
            ctx(T0),
            ann2,
            CustomerPatch {
                phone: Some(Some("+49 89 7654321".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.customers_by_phone("089 7654321").await.unwrap()[0].id,
        ann2
    );
}

fn window(start: i64, end: i64) -> CallbackWindow {
    CallbackWindow::new(Millis(start), Millis(end), "Europe/Berlin", Millis(T0)).unwrap()
}

async fn callbacks_are_promises_kept_by_calling(store: S) {
    let sam = agent(&store, "sam@example.com", Role::Agent).await;
    let sue = agent(&store, "sue@example.com", Role::Supervisor).await;
    // A visitor with an address asks from the portal: ticket, promise, callback and read-back.
    let asked = store
        .request_callback(
            ctx(T0),
            NewCallbackRequest {
                inbox_id: 1,
                requester: CallbackRequester::Visitor {
                    name: "Dana Fox".into(),
                    email: Some("dana@example.com".into()),
                },
                phone: "+49 170 5551234".into(),
                window: window(T0 + 2 * HOUR, T0 + 4 * HOUR),
                note: "About my contract".into(),
                origin: Channel::Portal,
            },
        )
        .await
        .unwrap();
    let (t, cb) = (&asked.ticket, &asked.callback);
    assert_eq!(t.channel, Channel::Portal);
    assert_eq!(t.customer.email.as_deref(), Some("dana@example.com"));
    assert_eq!(cb.status, CallbackStatus::Scheduled);
    assert_eq!(cb.reference, t.reference);
    assert!(asked.readback.contains("+49 170 5551234") && asked.readback.contains(&t.reference));
    assert!(asked.readback.contains("(Europe/Berlin)"));
    let promise = store.commitments(t.id).await.unwrap().pop().unwrap();
    assert_eq!(promise.id, cb.commitment_id);
    assert_eq!(promise.due_at, Millis(T0 + 4 * HOUR));
    assert_eq!(
        promise.remind_at,
        Millis(T0 + 2 * HOUR),
        "reminded when the window opens"
    );
    assert!(
        promise
            .description
            .starts_with("Call back +49 170 5551234 between")
    );
    let mails = store.ticket_emails(t.id).await.unwrap();
    assert_eq!(
        mails
            .iter()
            .map(|m| (m.kind.as_str(), m.recipient.as_str()))
            .collect::<Vec<_>>(),
        [("ack", "dana@example.com")]
    );
    let first = &store
        .list_messages(t.id, PageRequest::first(5))
        .await
        .unwrap()
        .items[0];
    assert!(
        first
            .body
            .starts_with("Please call me back on +49 170 5551234 on ")
    );

    // Solving the ticket or saying it is done is not calling: the promise stays open.
    assert!(matches!(
        store
            .fulfil_commitment(agent_ctx(sam.id, T0 + MIN), promise.id)
            .await,
        Err(StoreError::Conflict(_))
    ));

    // Nobody owns the ticket: the reminder goes to the supervisors.
    store
        .scheduler_pass(Millis(T0 + 2 * HOUR), 100)
        .await
        .unwrap();
    let alerted: Vec<_> = store
        .list_events(t.id, PageRequest::first(100))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.kind == "agent.alerted")
        .map(|e| e.subject_id)
        .collect();
    assert!(alerted.contains(&sue.id), "{alerted:?}");

    // In the queue: all and overdue (not yet), mine once Sam owns it.
    let queue = store.callback_queue(CallbackQueue::All, 50).await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].customer.name, "Dana Fox");
    assert!(
        store
            .callback_queue(CallbackQueue::Mine(sam.id), 50)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.callbacks_due(Millis(T0 + 2 * HOUR)).await.unwrap(), 1);
    assert_eq!(store.callbacks_due(Millis(T0)).await.unwrap(), 0);

    // A wrong number keeps nothing; the outbound call that reaches voicemail keeps it.
    store
        .log_call(
            agent_ctx(sam.id, T0 + 2 * HOUR + MIN),
            t.id,
            call(CallDirection::Outbound, CallOutcome::WrongNumber, ""),
        )
        .await
        .unwrap();
    assert_eq!(
        store.callbacks(t.id).await.unwrap()[0].status,
        CallbackStatus::Scheduled
    );
    let kept_by = store
        .log_call(
            agent_ctx(sam.id, T0 + 2 * HOUR + 2 * MIN),
            t.id,
            NewCall {
                number: "0170 5551234".into(),
                ..call(CallDirection::Outbound, CallOutcome::Voicemail, "")
            },
        )
        .await
        .unwrap();
    let done = store.callbacks(t.id).await.unwrap().remove(0);
    assert_eq!(done.status, CallbackStatus::Done);
    assert_eq!(done.call_id, Some(kept_by.id));
    assert_eq!(done.done_at, Some(Millis(T0 + 2 * HOUR + 2 * MIN)));
    let kept = store.commitments(t.id).await.unwrap().pop().unwrap();
    assert_eq!(kept.status, CommitmentStatus::Kept);
    assert!(
        event_kinds(&store, t.id)
            .await
            .contains(&"callback.done".to_string())
    );
    assert!(
        store
            .callback_queue(CallbackQueue::All, 50)
            .await
            .unwrap()
            .is_empty()
    );

    // An agent schedules one on the phone for a known customer; solving does not keep it, and
    // when its window lapses it is missed and the promise broken.
    let known = caller(&store, "Eve", "+49 40 1112223").await;
    let mut new = new_ticket("Modem", "eve@example.com");
    new.requester = Requester {
        customer_id: Some(known),
        email: String::new(),
        name: None,
    };
    new.assignee_id = Some(sam.id);
    let t2 = store.create_ticket(ctx(T0), new, None).await.unwrap().value;
    let late = store
        .schedule_callback(
            agent_ctx(sam.id, T0),
            t2.id,
            "+49 40 1112223",
            window(T0 + HOUR, T0 + 3 * HOUR),
            "",
        )
        .await
        .unwrap();
    assert_eq!(late.origin, Channel::Phone);
    assert_eq!(late.requested_by, Some(sam.id));
    let mine = store
        .callback_queue(CallbackQueue::Mine(sam.id), 50)
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].callback.id, late.id);
    assert_eq!(
        store
            .callback_queue(CallbackQueue::OverdueAt(Millis(T0 + 3 * HOUR + 1)), 50)
            .await
            .unwrap()
            .len(),
        1
    );
    store
        .update_ticket(
            agent_ctx(sam.id, T0 + MIN),
            t2.id,
            rapport_core::update::TicketPatch {
                status: Some(TicketStatus::Solved),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.callbacks(t2.id).await.unwrap()[0].status,
        CallbackStatus::Scheduled,
        "solving is not calling back"
    );
    store
        .scheduler_pass(Millis(T0 + 3 * HOUR + 1), 100)
        .await
        .unwrap();
    assert_eq!(
        store.callbacks(t2.id).await.unwrap()[0].status,
        CallbackStatus::Missed
    );
    assert!(
        event_kinds(&store, t2.id)
            .await
            .contains(&"callback.missed".to_string())
    );
    let rates = store.kept_rates(Millis(T0 - HOUR)).await.unwrap();
    assert_eq!((rates[0].kept, rates[0].broken), (1, 1));

    // Cancelling takes a reason, ends the promise uncounted, and happens once.
    let third = store
        .schedule_callback(
            agent_ctx(sam.id, T0 + 4 * HOUR),
            t.id,
            "+49 170 5551234",
            window(T0 + 5 * HOUR, T0 + 6 * HOUR),
            "",
        )
        .await
        .unwrap();
    assert_eq!(
        field(
            store
                .cancel_callback(agent_ctx(sam.id, T0 + 4 * HOUR), third.id, " ")
                .await
                .unwrap_err()
        ),
        "reason"
    );
    let cancelled = store
        .cancel_callback(
            agent_ctx(sam.id, T0 + 4 * HOUR),
            third.id,
            "Customer wrote back",
        )
        .await
        .unwrap();
    assert_eq!(cancelled.status, CallbackStatus::Cancelled);
    assert!(matches!(
        store
            .cancel_callback(agent_ctx(sam.id, T0 + 4 * HOUR), third.id, "again")
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.cancel_callback(ctx(T0), 999_999, "x").await,
        Err(StoreError::NotFound { .. })
    ));

    // A visitor without an address whose number is one customer's is still a new customer
    // (nothing proves it is them); bad input names its field.
    let by_number = store
        .request_callback(
            ctx(T0),
            NewCallbackRequest {
                inbox_id: 1,
                requester: CallbackRequester::Visitor {
                    name: "E.".into(),
                    email: None,
                },
                phone: "040 1112223".into(),
                window: window(T0 + HOUR, T0 + 2 * HOUR),
                note: String::new(),
                origin: Channel::Chat,
            },
        )
        .await
        .unwrap();
    assert_ne!(by_number.ticket.customer.id, known);
    assert!(
        store
            .ticket_emails(by_number.ticket.id)
            .await
            .unwrap()
            .is_empty(),
        "no address, no mail"
    );
    let e = store
        .request_callback(
            ctx(T0),
            NewCallbackRequest {
                inbox_id: 999,
                requester: CallbackRequester::Known(known),
                phone: "040 1112223".into(),
                window: window(T0 + HOUR, T0 + 2 * HOUR),
                note: String::new(),
                origin: Channel::Portal,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound { .. }), "{e:?}");
}

/// The widget is public: whatever address or number a visitor types, the request must not
/// land under the customer who has it (their portal, their mail, their history on the agent's
/// screen while calling the visitor's number).
async fn anonymous_callback_requests_never_join_existing_customers(store: S) {
    let ann = caller_with_email(
        &store,
        "Ann Lee",
        "+49 30 1234567",
        Some("ann@corp.example"),
    )
    .await;
    let visitor = |email: Option<&str>, phone: &str| NewCallbackRequest {
        inbox_id: 1,
        requester: CallbackRequester::Visitor {
            name: "Mallory".into(),
            email: email.map(Into::into),
        },
        phone: phone.into(),
        window: window(T0 + HOUR, T0 + 2 * HOUR),
        note: String::new(),
        origin: Channel::Chat,
    };
    // Ann's address (typed differently): a new customer with name and number only, the
    // address quoted in the first message, and no read-back to Ann.
    let by_address = store
        .request_callback(
            ctx(T0),
            visitor(Some(" ANN@corp.example"), "+44 20 7946 0000"),
        )
        .await
        .unwrap();
    let t = &by_address.ticket;
    assert_ne!(t.customer.id, ann);
    assert_eq!(t.customer.email, None);
    assert_eq!(t.customer.name, "Mallory");
    assert!(
        store.ticket_emails(t.id).await.unwrap().is_empty(),
        "no mail to Ann"
    );
    let first = &store
        .list_messages(t.id, PageRequest::first(5))
        .await
        .unwrap()
        .items[0];
    assert!(first.body.contains("ann@corp.example"), "{}", first.body);
    assert_eq!(
        store.customers_by_phone("+44 20 7946 0000").await.unwrap()[0].id,
        t.customer.id,
        "the new customer keeps the number"
    );
    // Ann's number without an address: a new customer too.
    let by_number = store
        .request_callback(ctx(T0), visitor(None, "030 1234567"))
        .await
        .unwrap();
    assert_ne!(by_number.ticket.customer.id, ann);
    assert_ne!(by_number.ticket.customer.id, t.customer.id);
    // Nothing was filed under Ann.
    let anns = store
        .list_tickets(
            &TicketFilter {
                customer_id: Some(ann),
                ..Default::default()
            },
            PageRequest::first(10),
        )
        .await
        .unwrap();
    assert!(anns.items.is_empty(), "{:?}", anns.items);
    // An address nobody has becomes the new customer's, and gets the read-back.
    let fresh = store
        .request_callback(ctx(T0), visitor(Some("new@corp.example"), "030 1234567"))
        .await
        .unwrap();
    assert_ne!(fresh.ticket.customer.id, ann);
    assert_eq!(
        fresh.ticket.customer.email.as_deref(),
        Some("new@corp.example")
    );
    assert_eq!(
        store.ticket_emails(fresh.ticket.id).await.unwrap()[0].recipient,
        "new@corp.example"
    );
    // The signed-in customer still files under themselves.
    let signed_in = store
        .request_callback(
            ctx(T0),
            NewCallbackRequest {
                requester: CallbackRequester::Known(ann),
                ..visitor(None, "030 1234567")
            },
        )
        .await
        .unwrap();
    assert_eq!(signed_in.ticket.customer.id, ann);
}

/// Only a call to the promised number keeps a callback, judged by when the call started: not
/// a call to another number, not one made long before the window, and one logged late but
/// made in time still keeps it.
async fn callbacks_are_kept_only_by_a_timely_call_to_their_number(store: S) {
    let sam = agent(&store, "sam@example.com", Role::Agent).await;
    let dana = caller(&store, "Dana", "+49 170 5551234").await;
    let ask = |start: i64, end: i64| NewCallbackRequest {
        inbox_id: 1,
        requester: CallbackRequester::Known(dana),
        phone: "+49 170 5551234".into(),
        window: window(start, end),
        note: String::new(),
        origin: Channel::Portal,
    };
    let asked = store
        .request_callback(ctx(T0), ask(T0 + 2 * HOUR, T0 + 4 * HOUR))
        .await
        .unwrap();
    let t = asked.ticket.id;
    let dial = |number: &str, started: i64| NewCall {
        number: number.into(),
        started_at: Some(Millis(started)),
        ..call(CallDirection::Outbound, CallOutcome::Answered, "")
    };
    let status = || async { store.callbacks(t).await.unwrap()[0].status };
    // Another number, in the window: the promise to Dana's number stands.
    store
        .log_call(
            agent_ctx(sam.id, T0 + 2 * HOUR + MIN),
            t,
            dial("+49 30 1234567", T0 + 2 * HOUR),
        )
        .await
        .unwrap();
    assert_eq!(status().await, CallbackStatus::Scheduled);
    // Her number, but long before the window opened (logged inside it): not the call promised.
    store
        .log_call(
            agent_ctx(sam.id, T0 + 2 * HOUR + 2 * MIN),
            t,
            dial("+49 170 5551234", T0 + 10 * MIN),
        )
        .await
        .unwrap();
    assert_eq!(status().await, CallbackStatus::Scheduled);
    // Made at the end of the window, logged an hour later: kept.
    let made = store
        .log_call(
            agent_ctx(sam.id, T0 + 5 * HOUR),
            t,
            dial("0170 5551234", T0 + 4 * HOUR - MIN),
        )
        .await
        .unwrap();
    let done = store.callbacks(t).await.unwrap().remove(0);
    assert_eq!(done.status, CallbackStatus::Done);
    assert_eq!(done.call_id, Some(made.id));
    assert_eq!(
        store.commitments(t).await.unwrap().pop().unwrap().status,
        CommitmentStatus::Kept
    );
    // A call after the window (and its grace) ends the callback, but the promise is broken.
    let second = store
        .request_callback(ctx(T0), ask(T0 + HOUR, T0 + 2 * HOUR))
        .await
        .unwrap();
    store
        .log_call(
            agent_ctx(sam.id, T0 + 3 * HOUR),
            second.ticket.id,
            dial("+49 170 5551234", T0 + 3 * HOUR),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .commitments(second.ticket.id)
            .await
            .unwrap()
            .pop()
            .unwrap()
            .status,
        CommitmentStatus::Broken
    );
}

rapport_store::on_both_backends!(
    anonymous_callback_requests_never_join_existing_customers,
    callbacks_are_kept_only_by_a_timely_call_to_their_number,
    calls_are_logged_on_tickets,
    tickets_from_calls_match_callers_by_number,
    callbacks_are_promises_kept_by_calling,
);

async fn upgrade_from_the_cluster_release(url: String) {
    const CLUSTER_DATA: &str = "
        INSERT INTO customers (id, name, phone, created_at, updated_at) VALUES (7, 'Ann Lee', '+49 (30) 123-4567', 1, 1);
        INSERT INTO customers (id, name, phone, created_at, updated_at) VALUES (8, 'No Number', 'ask reception', 1, 1);
        INSERT INTO customers (id, name, phone, created_at, updated_at) VALUES (9, 'Bo Mobile', '089 7654321 (mobile)', 1, 1);
        INSERT INTO customers (id, name, phone, created_at, updated_at) VALUES (10, 'Cy Intl', '0049 (0) 40 98 76 54 x', 1, 1);";
    rapport_store::database_at_version(&url, 7, CLUSTER_DATA)
        .await
        .unwrap();
    let store: S = rapport_store::open(&url).await.unwrap();
    let found = store.customers_by_phone("030 1234567").await.unwrap();
    assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), [7]);
    // Keyed by `match_key` itself, whatever else the stored text holds.
    let ids =
        |found: Vec<rapport_store::CustomerSummary>| found.iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.customers_by_phone("+49 89 7654321").await.unwrap()),
        [9]
    );
    assert_eq!(
        ids(store.customers_by_phone("+49 40 987654").await.unwrap()),
        [10]
    );
    assert!(
        store
            .customers_by_phone("+49 30 7654321")
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await;
}

upgrade_on_both_backends!(upgrade_from_the_cluster_release);
