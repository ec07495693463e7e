//! Routing and ownership in the store, on both databases: assignment under capacity,
//! availability, skills and continuity; owners away too long; transfers with reasons and the
//! one-touch rate; internal requests answered and escalated; the honest no; irate customers.

use super::*;
use rapport_core::routing::{AssignmentMode, Availability, InternalStatus, Referral, TeamRouting};

const MIN: i64 = 60_000;

async fn events_of(store: &S, ticket: i64, kind: &str) -> Vec<Event> {
    store
        .list_events(ticket, PageRequest::first(200))
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect()
}

/// A team routing by `mode`, with these agents (capacity 2 each).
async fn routed_team(store: &S, name: &str, mode: AssignmentMode, agents: &[&Agent]) -> Team {
    let team = store.create_team(ctx(T0), name, "").await.unwrap();
    for a in agents {
        store.add_team_member(ctx(T0), team.id, a.id).await.unwrap();
        store
            .update_agent_routing(
                ctx(T0),
                a.id,
                AgentRoutingPatch {
                    capacity: Some(2),
                    ..AgentRoutingPatch::default()
                },
            )
            .await
            .unwrap();
    }
    store
        .update_team_routing(
            ctx(T0),
            team.id,
            TeamRouting {
                assignment: mode,
                ..TeamRouting::default()
            },
        )
        .await
        .unwrap()
}

async fn ticket_in(store: &S, team: i64, email: &str, at: i64) -> Ticket {
    let mut new = new_ticket("Printer offline", email);
    new.team_id = Some(team);
    store.create_ticket(ctx(at), new, None).await.unwrap().value
}

async fn customer_says(store: &S, ticket: &Ticket, body: &str, at: i64) {
    store
        .add_message(
            Ctx {
                actor: Actor::customer(ticket.customer.id),
                at: Millis(at),
            },
            ticket.id,
            NewMessage {
                kind: MessageKind::Customer,
                channel: Channel::Email,
                body: body.into(),
                send_email: false,
                attachments: vec![],
            },
            None,
        )
        .await
        .unwrap();
}

async fn assignment_respects_capacity_availability_and_continuity(store: S) {
    let ann = agent(&store, "ann@desk.example", Role::Agent).await;
    let bob = agent(&store, "bob@desk.example", Role::Agent).await;
    let cid = agent(&store, "cid@desk.example", Role::Agent).await;
    let team = routed_team(
        &store,
        "Printers",
        AssignmentMode::RoundRobin,
        &[&ann, &bob, &cid],
    )
    .await;
    store
        .set_availability(agent_ctx(cid.id, T0), cid.id, Availability::Away)
        .await
        .unwrap();

    // Round robin over the available agents; Cid is away and gets nothing.
    let mut created = Vec::new();
    for i in 0..4 {
        created.push(
            ticket_in(
                &store,
                team.id,
                &format!("c{i}@shop.example"),
                T0 + i * 1_000,
            )
            .await,
        );
    }
    assert_eq!(
        created.iter().map(|t| t.assignee_id).collect::<Vec<_>>(),
        vec![Some(ann.id), Some(bob.id), Some(ann.id), Some(bob.id)]
    );
    let t = ticket_in(&store, team.id, "c0@shop.example", T0 + 10_000).await;
    assert_eq!(
        t.assignee_id, None,
        "everyone available is at capacity: queued"
    );
    assert!(events_of(&store, t.id, "ticket.routed").await.is_empty());
    let first = &created[0];
    let why = &events_of(&store, first.id, "ticket.routed").await[0].data;
    assert_eq!(why["reason"], "round_robin");

    // Cid comes back: the routing pass gives him the queued ticket.
    store
        .set_availability(agent_ctx(cid.id, T0 + 20_000), cid.id, Availability::Online)
        .await
        .unwrap();
    let pass = store.routing_pass(Millis(T0 + 21_000), 50).await.unwrap();
    assert_eq!(pass.routed, 1);
    assert_eq!(store.ticket(t.id).await.unwrap().assignee_id, Some(cid.id));
    assert_eq!(
        store.routing_pass(Millis(T0 + 22_000), 50).await.unwrap(),
        RoutingPass::default(),
        "nothing left to do"
    );

    // A returning customer goes back to who helped them last, when that agent has room.
    store
        .update_ticket(
            agent_ctx(ann.id, T0 + 30_000),
            first.id,
            TicketPatch {
                status: Some(TicketStatus::Solved),
                ..TicketPatch::default()
            },
        )
        .await
        .unwrap();
    let again = ticket_in(&store, team.id, "c0@shop.example", T0 + 40_000).await;
    assert_eq!(
        again.assignee_id,
        Some(ann.id),
        "Ann solved c0's ticket last"
    );
    let why = &events_of(&store, again.id, "ticket.routed").await[0].data;
    assert_eq!(why["reason"], "continuity");
    let profiles = store.list_agent_routing(Millis(T0 + 40_000)).await.unwrap();
    let load = |id: i64| profiles.iter().find(|p| p.agent_id == id).unwrap().load;
    assert_eq!((load(ann.id), load(bob.id), load(cid.id)), (2, 2, 1));
}

async fn skills_route_language_and_least_load(store: S) {
    let ann = agent(&store, "ann@desk.example", Role::Agent).await;
    let udo = agent(&store, "udo@desk.example", Role::Agent).await;
    let team = routed_team(
        &store,
        "Billing",
        AssignmentMode::LeastLoaded,
        &[&ann, &udo],
    )
    .await;
    let udo_profile = store
        .update_agent_routing(
            ctx(T0),
            udo.id,
            AgentRoutingPatch {
                skills: Some(vec!["DE".into(), "Billing".into()]),
                capacity: Some(5),
                ..AgentRoutingPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(udo_profile.skills, vec!["billing", "de"]);
    let bad = store
        .update_agent_routing(
            ctx(T0),
            udo.id,
            AgentRoutingPatch {
                capacity: Some(0),
                ..AgentRoutingPatch::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(bad, StoreError::Invalid(ref i) if i.field == "capacity"),
        "{bad:?}"
    );
    // A German customer: Udo (the only German speaker), though Ann is just as free.
    let hans = store
        .create_customer(
            ctx(T0),
            NewCustomer {
                name: "Hans".into(),
                emails: vec!["hans@firma.example".into()],
                organization_id: None,
                phone: None,
                language: Some("de".into()),
                time_zone: None,
                preferences: Default::default(),
                notes: String::new(),
            },
            None,
        )
        .await
        .unwrap()
        .value;
    let t = ticket_in(&store, team.id, "hans@firma.example", T0 + 1_000).await;
    assert_eq!(t.customer.id, hans.id);
    assert_eq!(t.assignee_id, Some(udo.id));
    let why = &events_of(&store, t.id, "ticket.routed").await[0].data;
    assert_eq!(why["matched"], json!(["de"]));
    // No needs: the least loaded relative to capacity (Udo has 1 of 5, Ann 0 of 2).
    let t = ticket_in(&store, team.id, "x@shop.example", T0 + 2_000).await;
    assert_eq!(t.assignee_id, Some(ann.id));
    let t = ticket_in(&store, team.id, "y@shop.example", T0 + 3_000).await;
    assert_eq!(t.assignee_id, Some(udo.id), "1/5 is freer than Ann's 1/2");
}

async fn absent_owners_tickets_are_offered_again(store: S) {
    let ann = agent(&store, "ann@desk.example", Role::Agent).await;
    let bob = agent(&store, "bob@desk.example", Role::Agent).await;
    let team = routed_team(
        &store,
        "Printers",
        AssignmentMode::RoundRobin,
        &[&ann, &bob],
    )
    .await;
    let t = ticket_in(&store, team.id, "c@shop.example", T0).await;
    assert_eq!(t.assignee_id, Some(ann.id));
    // A team that assigns by hand keeps its owners however long they are away.
    let by_hand = routed_team(&store, "By hand", AssignmentMode::Manual, &[&ann, &bob]).await;
    let mut new = new_ticket("Kept", "k@shop.example");
    new.team_id = Some(by_hand.id);
    new.assignee_id = Some(ann.id);
    let kept = store.create_ticket(ctx(T0), new, None).await.unwrap().value;
    store
        .set_availability(agent_ctx(ann.id, T0 + MIN), ann.id, Availability::Offline)
        .await
        .unwrap();
    let early = store.routing_pass(Millis(T0 + 30 * MIN), 50).await.unwrap();
    assert_eq!(early, RoutingPass::default(), "29 minutes away is not long");
    let pass = store.routing_pass(Millis(T0 + 31 * MIN), 50).await.unwrap();
    assert_eq!((pass.reoffered, pass.routed), (1, 1));
    let t = store.ticket(t.id).await.unwrap();
    assert_eq!(t.assignee_id, Some(bob.id));
    let transfers = store.transfers(t.id).await.unwrap();
    assert_eq!(transfers.len(), 1);
    assert_eq!(transfers[0].from_agent_id, Some(ann.id));
    assert_eq!(
        transfers[0].to_agent_id, None,
        "back to the team, then routed"
    );
    assert!(transfers[0].reason.contains("away"));
    assert_eq!(transfers[0].by_agent_id, None);
    assert_eq!(
        store.ticket(kept.id).await.unwrap().assignee_id,
        Some(ann.id)
    );

    // A deactivated owner is gone at once, whatever their availability says.
    let t = ticket_in(&store, team.id, "d@shop.example", T0 + 32 * MIN).await;
    assert_eq!(t.assignee_id, Some(bob.id));
    store
        .update_agent(ctx(T0 + 33 * MIN), bob.id, Role::Agent, false)
        .await
        .unwrap();
    let pass = store.routing_pass(Millis(T0 + 33 * MIN), 50).await.unwrap();
    assert_eq!(pass.reoffered, 2, "both of Bob's open tickets");
    assert_eq!(
        store.ticket(t.id).await.unwrap().assignee_id,
        None,
        "nobody left to take it"
    );
}

async fn transfers_need_a_reason_and_count_against_one_touch(store: S) {
    let ann = agent(&store, "ann@desk.example", Role::Agent).await;
    let bob = agent(&store, "bob@desk.example", Role::Agent).await;
    let mut new = new_ticket("Refund", "c@shop.example");
    new.assignee_id = Some(ann.id);
    let moved = store
        .create_ticket(ctx(T0), new.clone(), None)
        .await
        .unwrap()
        .value;
    new.requester.email = "d@shop.example".into();
    let kept = store.create_ticket(ctx(T0), new, None).await.unwrap().value;
    let to_bob = |reason: Option<&str>| TicketPatch {
        assignee_id: Some(Some(bob.id)),
        transfer_reason: reason.map(str::to_string),
        ..TicketPatch::default()
    };
    let err = store
        .update_ticket(agent_ctx(ann.id, T0 + 1_000), moved.id, to_bob(None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid(ref i) if i.field == "transfer_reason"),
        "{err:?}"
    );
    assert_eq!(
        store.ticket(moved.id).await.unwrap().assignee_id,
        Some(ann.id),
        "nothing changed"
    );
    assert!(store.transfers(moved.id).await.unwrap().is_empty());
    store
        .update_ticket(
            agent_ctx(ann.id, T0 + 2_000),
            moved.id,
            to_bob(Some("Bob knows refunds")),
        )
        .await
        .unwrap();
    let transfers = store.transfers(moved.id).await.unwrap();
    assert_eq!(transfers.len(), 1);
    assert_eq!(
        (
            transfers[0].from_agent_id,
            transfers[0].to_agent_id,
            transfers[0].by_agent_id
        ),
        (Some(ann.id), Some(bob.id), Some(ann.id))
    );
    assert_eq!(transfers[0].reason, "Bob knows refunds");
    assert_eq!(
        events_of(&store, moved.id, "ticket.transferred")
            .await
            .len(),
        1
    );
    let solve = TicketPatch {
        status: Some(TicketStatus::Solved),
        ..TicketPatch::default()
    };
    for t in [&moved, &kept] {
        store
            .update_ticket(ctx(T0 + 3_000), t.id, solve.clone())
            .await
            .unwrap();
    }
    let m = store
        .routing_metrics(Millis(T0), Millis(T0 + 4_000))
        .await
        .unwrap();
    assert_eq!((m.resolved, m.one_touch), (2, 1));
    assert_eq!(m.one_touch_rate, Some(0.5));
    assert_eq!(m.transfers_per_ticket, Some(0.5));
}

async fn internal_requests_round_trip_and_escalate(store: S) {
    let owner = agent(&store, "owner@desk.example", Role::Agent).await;
    let clerk = agent(&store, "clerk@desk.example", Role::LightAgent).await;
    let lead = agent(&store, "lead@desk.example", Role::Agent).await;
    let outsider = agent(&store, "out@desk.example", Role::Agent).await;
    let finance = store.create_team(ctx(T0), "Finance", "").await.unwrap();
    store
        .add_team_member(ctx(T0), finance.id, clerk.id)
        .await
        .unwrap();
    store
        .update_team_routing(
            ctx(T0),
            finance.id,
            TeamRouting {
                internal_due_minutes: 60,
                lead_agent_id: Some(lead.id),
                ..TeamRouting::default()
            },
        )
        .await
        .unwrap();
    let mut new = new_ticket("Refund missing", "c@shop.example");
    new.assignee_id = Some(owner.id);
    let t = store.create_ticket(ctx(T0), new, None).await.unwrap().value;
    let ask = |body: &str| NewInternalRequest {
        ticket_id: Some(t.id),
        team_id: finance.id,
        body: body.into(),
        due_at: None,
    };
    let empty = store
        .create_internal_request(agent_ctx(owner.id, T0), ask("  "))
        .await
        .unwrap_err();
    assert!(matches!(empty, StoreError::Invalid(ref i) if i.field == "body"));
    let r = store
        .create_internal_request(agent_ctx(owner.id, T0), ask("Was refund 4711 paid out?"))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.due_at),
        (InternalStatus::Open, Millis(T0 + 60 * MIN))
    );
    let hidden = store
        .reply_internal_request(agent_ctx(outsider.id, T0 + MIN), r.id, "me?", false)
        .await
        .unwrap_err();
    assert!(matches!(hidden, StoreError::NotFound { .. }), "{hidden:?}");
    let not_asker = store
        .reply_internal_request(agent_ctx(owner.id, T0 + MIN), r.id, "done myself", true)
        .await
        .unwrap_err();
    assert!(
        matches!(not_asker, StoreError::Conflict(_)),
        "only the team calls it done"
    );
    let done = store
        .reply_internal_request(
            agent_ctx(clerk.id, T0 + 20 * MIN),
            r.id,
            "Paid on Monday.",
            true,
        )
        .await
        .unwrap();
    assert_eq!(done.status, InternalStatus::Done);
    assert_eq!(done.assignee_id, Some(clerk.id));
    assert_eq!(done.replies.len(), 1);
    assert_eq!(
        store.ticket(t.id).await.unwrap().assignee_id,
        Some(owner.id),
        "the owner stays"
    );
    let alerts = events_of(&store, t.id, "agent.alerted").await;
    assert!(
        alerts.iter().any(|e| e.subject_id == owner.id),
        "the asker is told"
    );
    let again = store
        .reply_internal_request(agent_ctx(clerk.id, T0 + 21 * MIN), r.id, "more", false)
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "done is final");
    // No message to the customer came of it.
    let public = store
        .list_messages(t.id, PageRequest::first(50))
        .await
        .unwrap()
        .items;
    assert_eq!(public.len(), 1);

    // The second request is overdue: escalated once, to the lead.
    let late = store
        .create_internal_request(agent_ctx(owner.id, T0 + MIN), ask("Refund 4712 too?"))
        .await
        .unwrap();
    assert!(
        !store
            .scheduler_has_work(Millis(T0 + 60 * MIN))
            .await
            .unwrap()
    );
    assert!(
        store
            .scheduler_has_work(Millis(T0 + 61 * MIN))
            .await
            .unwrap()
    );
    let pass = store
        .scheduler_pass(Millis(T0 + 62 * MIN), 50)
        .await
        .unwrap();
    assert_eq!(pass.overdue_requests, 1);
    let pass = store
        .scheduler_pass(Millis(T0 + 63 * MIN), 50)
        .await
        .unwrap();
    assert_eq!(pass.overdue_requests, 0, "escalated once");
    let overdue = events_of(&store, t.id, "internal_request.overdue").await;
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].data["notified"], json!([lead.id]));
    let late = store.internal_request(late.id).await.unwrap();
    assert_eq!(late.escalated_at, Some(Millis(T0 + 62 * MIN)));
    let withdrawn = store
        .cancel_internal_request(
            agent_ctx(owner.id, T0 + 70 * MIN),
            late.id,
            "Found it myself",
        )
        .await
        .unwrap();
    assert_eq!(withdrawn.status, InternalStatus::Cancelled);

    // Staff ask as internal customers, without a ticket.
    let own = store
        .create_internal_request(
            agent_ctx(outsider.id, T0 + 80 * MIN),
            NewInternalRequest {
                ticket_id: None,
                team_id: finance.id,
                body: "New laptop budget?".into(),
                due_at: Some(Millis(T0 + 200 * MIN)),
            },
        )
        .await
        .unwrap();
    // The asker of a ticketless request is alerted too; their ticket alerts still list.
    store
        .reply_internal_request(
            agent_ctx(clerk.id, T0 + 81 * MIN),
            own.id,
            "Which model?",
            false,
        )
        .await
        .unwrap();
    let alerted = TicketFilter {
        alerted: Some(outsider.id),
        ..TicketFilter::default()
    };
    let listed = store
        .list_tickets(&alerted, PageRequest::first(10))
        .await
        .unwrap();
    assert!(listed.items.is_empty());
    let mine = store
        .list_internal_requests(&InternalRequestFilter {
            team_ids: vec![finance.id],
            open_only: true,
            ..InternalRequestFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.iter().map(|r| r.id).collect::<Vec<_>>(), vec![own.id]);
    let m = store
        .routing_metrics(Millis(T0), Millis(T0 + 90 * MIN))
        .await
        .unwrap();
    let wait = &m.internal[0];
    assert_eq!((wait.asked, wait.open, wait.overdue), (3, 1, 1));
    // 20 (done) + 69 (withdrawn) + 10 (open until now) minutes waited on Finance.
    assert_eq!(wait.waited_minutes, 99);
    assert_eq!(wait.median_minutes_to_done, Some(20));
}

async fn the_honest_no_tells_the_customer_who_can_help(store: S) {
    let ann = agent(&store, "ann@desk.example", Role::Agent).await;
    let t = store
        .create_ticket(ctx(T0), new_ticket("Bank charge", "c@shop.example"), None)
        .await
        .unwrap()
        .value;
    let unanswered = store
        .create_ticket(
            ctx(T0 + 1_000),
            new_ticket("Old one", "d@shop.example"),
            None,
        )
        .await
        .unwrap()
        .value;
    // Both unanswered two days on: at risk of a silent no.
    let at_risk = |before: i64| TicketFilter {
        unanswered_before: Some(Millis(before)),
        ..TicketFilter::default()
    };
    let risky = store
        .list_tickets(&at_risk(T0 + 2_000), PageRequest::first(50))
        .await
        .unwrap()
        .items;
    assert_eq!(risky.len(), 2);
    let missing = store
        .refer_ticket(
            agent_ctx(ann.id, T0 + 3 * MIN),
            t.id,
            "Sorry.",
            Referral {
                referred_to: "Your bank".into(),
                how_to_reach: " ".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::Invalid(ref i) if i.field == "referral.how_to_reach"));
    let referral = Referral {
        referred_to: "Your bank".into(),
        how_to_reach: "the number on the back of your card".into(),
    };
    let record = store
        .refer_ticket(
            agent_ctx(ann.id, T0 + 3 * MIN),
            t.id,
            "We cannot reverse card charges.",
            referral.clone(),
        )
        .await
        .unwrap();
    assert_eq!(record.answered_after_ms, 3 * MIN);
    let solved = store.ticket(t.id).await.unwrap();
    assert_eq!(solved.status, TicketStatus::Solved);
    let messages = store
        .list_messages(t.id, PageRequest::first(50))
        .await
        .unwrap()
        .items;
    let reply = messages.last().unwrap();
    assert!(reply.public);
    assert!(
        reply.body.contains("Who can help: Your bank"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("the number on the back of your card"));
    let emails = store.ticket_emails(t.id).await.unwrap();
    assert!(
        emails
            .iter()
            .any(|e| e.kind == "reply" && e.recipient == "c@shop.example")
    );
    let again = store
        .refer_ticket(agent_ctx(ann.id, T0 + 4 * MIN), t.id, "Again.", referral)
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)));
    assert_eq!(store.referral(t.id).await.unwrap(), Some(record));
    // The referred ticket was answered; the other is still at risk.
    let risky = store
        .list_tickets(&at_risk(T0 + 5 * MIN), PageRequest::first(50))
        .await
        .unwrap()
        .items;
    assert_eq!(
        risky.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![unanswered.id]
    );
    let m = store
        .routing_metrics(Millis(T0), Millis(T0 + 10 * MIN))
        .await
        .unwrap();
    assert_eq!(
        (m.referred, m.median_minutes_to_honest_answer),
        (1, Some(3))
    );
}

async fn irate_customers_reach_de_escalation(store: S) {
    let ann = agent(&store, "ann@desk.example", Role::Agent).await;
    let kai = agent(&store, "kai@desk.example", Role::Agent).await;
    let boss = agent(&store, "boss@desk.example", Role::Supervisor).await;
    let team = routed_team(&store, "Care", AssignmentMode::Manual, &[&ann, &kai, &boss]).await;
    store
        .update_agent_routing(
            ctx(T0),
            kai.id,
            AgentRoutingPatch {
                skills: Some(vec!["de-escalation".into()]),
                ..AgentRoutingPatch::default()
            },
        )
        .await
        .unwrap();
    let mut new = new_ticket("Router", "c@shop.example");
    new.team_id = Some(team.id);
    new.assignee_id = Some(ann.id);
    let t = store.create_ticket(ctx(T0), new, None).await.unwrap().value;
    assert!(
        store.ticket_tone(t.id).await.unwrap().is_empty(),
        "a calm first message"
    );
    customer_says(&store, &t, "Thanks, I will try that tonight.", T0 + MIN).await;
    let angry = "This is the THIRD time I'm writing. Absolutely unacceptable!!! \
                 Fix it today or I'm cancelling and telling everyone.";
    customer_says(&store, &t, angry, T0 + 2 * MIN).await;
    let tone = store.ticket_tone(t.id).await.unwrap();
    let last = tone.last().unwrap();
    assert!(last.irate && last.score >= 50, "{last:?}");
    assert!(!last.reasons.is_empty());
    let flagged = store.ticket(t.id).await.unwrap();
    assert!(flagged.tags.contains(&IRATE_TAG.to_string()));
    assert_eq!(flagged.priority, Priority::High, "raised one step");
    assert_eq!(
        flagged.assignee_id,
        Some(kai.id),
        "handed to the trained agent"
    );
    let transfer = &store.transfers(t.id).await.unwrap()[0];
    assert!(transfer.reason.contains("de-escalation"));
    assert_eq!(events_of(&store, t.id, "ticket.irate").await.len(), 1);
    // Angry again: recorded, not raised again, and Kai keeps it.
    customer_says(&store, &t, angry, T0 + 3 * MIN).await;
    let t2 = store.ticket(t.id).await.unwrap();
    assert_eq!(
        (t2.priority, t2.assignee_id),
        (Priority::High, Some(kai.id))
    );
    assert_eq!(events_of(&store, t.id, "ticket.irate").await.len(), 2);

    // Nobody trained can take it: the supervisors are alerted instead.
    store
        .set_availability(agent_ctx(kai.id, T0), kai.id, Availability::Offline)
        .await
        .unwrap();
    let mut new = new_ticket("Furious", "e@shop.example");
    new.team_id = Some(team.id);
    new.body = angry.into();
    let t3 = store
        .create_ticket(ctx(T0 + 4 * MIN), new, None)
        .await
        .unwrap()
        .value;
    assert!(
        t3.tags.contains(&IRATE_TAG.to_string()),
        "the first message counts too"
    );
    assert_eq!(t3.assignee_id, None);
    let alerts = events_of(&store, t3.id, "agent.alerted").await;
    assert_eq!(
        alerts.iter().map(|e| e.subject_id).collect::<Vec<_>>(),
        vec![boss.id]
    );
}

async fn concurrent_routing_is_fair(store: S) {
    let ann = agent(&store, "ann@desk.example", Role::Agent).await;
    let bob = agent(&store, "bob@desk.example", Role::Agent).await;
    let cid = agent(&store, "cid@desk.example", Role::Agent).await;
    let team = routed_team(
        &store,
        "Rush",
        AssignmentMode::RoundRobin,
        &[&ann, &bob, &cid],
    )
    .await;
    for a in [&ann, &bob, &cid] {
        store
            .update_agent_routing(
                ctx(T0),
                a.id,
                AgentRoutingPatch {
                    capacity: Some(100),
                    ..AgentRoutingPatch::default()
                },
            )
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..30 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut new = new_ticket("Rush", &format!("r{i}@shop.example"));
            new.team_id = Some(team.id);
            store
                .create_ticket(ctx(T0 + i), new, None)
                .await
                .unwrap()
                .value
        }));
    }
    let mut per_agent = std::collections::BTreeMap::new();
    for t in tasks {
        let t = t.await.unwrap();
        *per_agent.entry(t.assignee_id.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(
        per_agent.values().copied().collect::<Vec<_>>(),
        vec![10, 10, 10]
    );
}

rapport_store::on_both_backends!(
    assignment_respects_capacity_availability_and_continuity,
    skills_route_language_and_least_load,
    absent_owners_tickets_are_offered_again,
    transfers_need_a_reason_and_count_against_one_touch,
    internal_requests_round_trip_and_escalate,
    the_honest_no_tells_the_customer_who_can_help,
    irate_customers_reach_de_escalation,
    concurrent_routing_is_fair,
);

/// A database the SLA release made upgrades: answered tickets get their first reply time,
/// teams route manually as before, and an old open ticket can be transferred.
async fn upgrade_from_the_sla_release(url: String) {
    const SLA_DATA: &str = "
        INSERT INTO agents (id, email, name, role, created_at, updated_at) VALUES (5, 'ann@desk.example', 'Ann', 'agent', 1, 1);
        INSERT INTO customers (id, name, created_at, updated_at) VALUES (7, 'Ann Lee', 1, 1);
        INSERT INTO customer_emails (email, customer_id, is_primary) VALUES ('ann@ann.example', 7, TRUE);
        INSERT INTO tickets (id, subject, status, priority, channel, customer_id, inbox_id, assignee_id, created_at, updated_at)
            VALUES (10001, 'Answered', 'open', 'normal', 'email', 7, 1, 5, 1, 1),
                   (10002, 'Waiting', 'new', 'normal', 'email', 7, 1, NULL, 2, 2);
        INSERT INTO messages (ticket_id, kind, channel, author_customer_id, body, created_at)
            VALUES (10001, 'customer', 'email', 7, 'It drops.', 1), (10002, 'customer', 'email', 7, 'Hello?', 2);
        INSERT INTO messages (ticket_id, kind, channel, author_agent_id, body, created_at)
            VALUES (10001, 'reply', 'email', 5, 'Which model?', 50);";
    rapport_store::database_at_version(&url, 4, SLA_DATA)
        .await
        .unwrap();
    let store: S = rapport_store::open(&url).await.unwrap();
    let at_risk = TicketFilter {
        unanswered_before: Some(Millis(100)),
        ..TicketFilter::default()
    };
    let risky = store
        .list_tickets(&at_risk, PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(risky.iter().map(|t| t.id).collect::<Vec<_>>(), vec![10002]);
    let teams = store.list_teams().await.unwrap();
    assert!(
        teams
            .iter()
            .all(|t| t.routing.assignment == AssignmentMode::Manual)
    );
    let ann = store.agent_routing(5, Millis(T0)).await.unwrap();
    assert_eq!((ann.availability, ann.load), (Availability::Online, 1));
    store
        .update_ticket(
            agent_ctx(5, T0),
            10001,
            TicketPatch {
                assignee_id: Some(None),
                transfer_reason: Some("Going on leave".into()),
                ..TicketPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(store.transfers(10001).await.unwrap().len(), 1);
    store.close().await;
}

upgrade_on_both_backends!(upgrade_from_the_sla_release);
