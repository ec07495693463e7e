//! SLA clocks, commitments and chases in the store, on both databases: the clocks follow the
//! ticket's writes in the same transaction, the scheduler fires each alarm once, a calendar
//! change recomputes open tickets, and the rates count what happened.

use super::*;
use rapport_core::calendar::{CalendarConfig, IntervalConfig, WeekConfig};
use rapport_core::commitment::{CommitmentKind, CommitmentStatus, QuickDue};
use rapport_core::sla::{Actions, Basis, Conditions, Rules, Target, TargetRule, Targets};
use rapport_core::update::TicketPatch;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
/// T0 is Monday 2026-09-21 14:13:20 UTC.
const MONDAY_MIDNIGHT: i64 = T0 - (14 * HOUR + 13 * MIN + 20_000);

fn calendar_rule(minutes: i64) -> Option<TargetRule> {
    Some(TargetRule {
        minutes,
        basis: Basis::Calendar,
    })
}

fn urgent_rules() -> Rules {
    Rules {
        targets: Targets {
            first_response: calendar_rule(60),
            next_response: calendar_rule(30),
            periodic_update: calendar_rule(240),
            resolution: calendar_rule(600),
        },
        warn_before_minutes: 15,
        on_warning: Actions {
            notify_assignee: true,
            ..Actions::default()
        },
        on_breach: Actions {
            notify_assignee: true,
            notify_supervisors: true,
            raise_priority: true,
            reassign_team_id: None,
        },
    }
}

fn office(hours: &str) -> CalendarConfig {
    let (start, end) = hours.split_once('-').expect("start-end");
    CalendarConfig {
        time_zone: "UTC".into(),
        hours: WeekConfig::weekdays(&[IntervalConfig::new(start, end)]),
        holidays: vec![],
    }
}

async fn enterprise_customer_ticket(store: &S, priority: Priority, at: i64) -> Ticket {
    let mut new = new_ticket("Line down at HQ", "ops@bigcorp.example");
    new.priority = priority;
    store
        .create_ticket(ctx(at), new, None)
        .await
        .expect("ticket")
        .value
}

async fn sla(store: &S, id: i64) -> TicketSla {
    store
        .ticket_sla(id)
        .await
        .expect("read")
        .expect("clocks started")
}

fn target(sla: &TicketSla, target: Target) -> SlaTargetState {
    sla.targets
        .iter()
        .find(|t| t.target == target)
        .cloned()
        .expect("the policy sets this target")
}

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

async fn set_up_policies(store: &S) -> (SlaPolicy, SlaPolicy) {
    store
        .create_organization(
            ctx(T0),
            NewOrganization {
                name: "BigCorp".into(),
                tier: Tier::Enterprise,
                contract_value_cents: 10_000_000,
                domains: vec!["bigcorp.example".into()],
                notes: String::new(),
            },
            None,
        )
        .await
        .expect("organisation");
    let urgent = store
        .save_sla_policy(
            ctx(T0),
            None,
            NewSlaPolicy {
                name: "Enterprise urgent".into(),
                position: 1,
                conditions: Conditions {
                    tiers: vec![Tier::Enterprise],
                    priorities: vec![Priority::Urgent],
                    ..Conditions::default()
                },
                rules: urgent_rules(),
                calendar_id: None,
            },
        )
        .await
        .expect("policy");
    let everyone = store
        .save_sla_policy(
            ctx(T0),
            None,
            NewSlaPolicy {
                name: "Everyone".into(),
                position: 2,
                conditions: Conditions::default(),
                rules: Rules::first_response_only(480),
                calendar_id: None,
            },
        )
        .await
        .expect("policy");
    // Saving a policy queues a recomputation of open tickets; let the scheduler finish it.
    while !store
        .scheduler_pass(Millis(T0), 100)
        .await
        .unwrap()
        .is_idle()
    {}
    (urgent, everyone)
}

async fn sla_clocks_follow_the_ticket_and_alarms_fire_once(store: S) {
    let (urgent, everyone) = set_up_policies(&store).await;
    let owner = agent(&store, "owner@rapport.localhost", Role::Agent).await;
    let boss = agent(&store, "boss@rapport.localhost", Role::Supervisor).await;

    // A normal ticket falls to the catch-all: 8 business hours on the inbox's 09–17 UTC
    // calendar, from Monday 14:13 → Tuesday 14:13.
    let normal = enterprise_customer_ticket(&store, Priority::Normal, T0).await;
    let state = sla(&store, normal.id).await;
    assert_eq!(state.policy_id, Some(everyone.id));
    assert_eq!(state.due_target, Some(Target::FirstResponse));
    assert_eq!(state.due_at, Some(Millis(T0 + 24 * HOUR)));
    // Raising the priority chooses the urgent policy, keeping the time already used.
    store
        .update_ticket(
            ctx(T0 + 10 * MIN),
            normal.id,
            TicketPatch {
                priority: Some(Priority::Urgent),
                ..TicketPatch::default()
            },
        )
        .await
        .expect("raise");
    let state = sla(&store, normal.id).await;
    assert_eq!(state.policy_id, Some(urgent.id));
    assert_eq!(state.policy_name.as_deref(), Some("Enterprise urgent"));
    assert_eq!(
        target(&state, Target::FirstResponse).due_at,
        Some(Millis(T0 + HOUR))
    );

    // An urgent enterprise ticket owned by an agent.
    let ticket = enterprise_customer_ticket(&store, Priority::Urgent, T0).await;
    store
        .update_ticket(
            ctx(T0),
            ticket.id,
            TicketPatch {
                assignee_id: Some(Some(owner.id)),
                priority: Some(Priority::High),
                ..TicketPatch::default()
            },
        )
        .await
        .expect("assign");
    // High is not urgent: the catch-all applies; back to urgent for the rest of the story.
    assert_eq!(sla(&store, ticket.id).await.policy_id, Some(everyone.id));
    store
        .update_ticket(
            ctx(T0),
            ticket.id,
            TicketPatch {
                priority: Some(Priority::Urgent),
                ..TicketPatch::default()
            },
        )
        .await
        .expect("urgent again");

    // Nothing is due yet.
    let pass = store
        .scheduler_pass(Millis(T0 + 44 * MIN), 100)
        .await
        .expect("pass");
    assert!(pass.is_idle(), "{pass:?}");
    // 15 minutes before the first response is due: a warning to the owner, once.
    let pass = store
        .scheduler_pass(Millis(T0 + 45 * MIN), 100)
        .await
        .expect("pass");
    assert_eq!(pass.warnings, 2, "both urgent tickets are warned");
    let pass = store
        .scheduler_pass(Millis(T0 + 46 * MIN), 100)
        .await
        .expect("pass");
    assert!(pass.is_idle(), "a warning fires once: {pass:?}");
    let warnings = events_of(&store, ticket.id, "sla.warning").await;
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].data["target"], "first_response");
    assert_eq!(warnings[0].data["notified"], json!([owner.id]));

    // Missed: breach, the owner and the supervisors are told.
    let pass = store
        .scheduler_pass(Millis(T0 + 61 * MIN), 100)
        .await
        .expect("pass");
    assert_eq!(pass.breaches, 2);
    let breach = &events_of(&store, ticket.id, "sla.breached").await[0];
    assert_eq!(breach.data["due_at"], json!(Millis(T0 + HOUR)));
    let mut notified: Vec<i64> = serde_json::from_value(breach.data["notified"].clone()).unwrap();
    notified.sort();
    assert!(
        notified.contains(&owner.id) && notified.contains(&boss.id),
        "{notified:?}"
    );
    let alerts = events_of(&store, ticket.id, "agent.alerted").await;
    assert!(alerts.iter().any(|e| e.subject_id == boss.id));
    // Each alert is also emailed to its agent, outside the customer's thread.
    let mails: Vec<OutboxItem> = store
        .claim_outbox(Millis(T0 + 62 * MIN), 60_000, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| {
            m.kind == OutboxKind::Alert && m.ticket.as_ref().map(|t| t.id) == Some(ticket.id)
        })
        .collect();
    let to_boss = mails
        .iter()
        .find(|m| m.recipient == boss.email && m.body.starts_with("SLA target missed"))
        .expect("the supervisor is emailed the breach");
    assert!(
        to_boss.body.contains("first response was due at"),
        "{}",
        to_boss.body
    );
    assert!(
        mails
            .iter()
            .any(|m| m.recipient == owner.email && m.body.starts_with("SLA warning"))
    );
    assert!(
        mails
            .iter()
            .all(|m| m.thread_ids.iter().all(|id| id != &m.email_message_id))
    );
    let state = sla(&store, ticket.id).await;
    assert_eq!(state.breaches, 1);
    assert_eq!(
        target(&state, Target::FirstResponse).breached_at,
        Some(Millis(T0 + HOUR))
    );
    assert_eq!(
        state.due_at,
        Some(Millis(T0 + HOUR)),
        "overdue is the most pressing"
    );

    // The reply meets first response; the periodic update runs from it.
    store
        .add_message(
            agent_ctx(owner.id, T0 + 70 * MIN),
            ticket.id,
            NewMessage {
                kind: MessageKind::Reply,
                channel: Channel::Email,
                body: "We are on it.".into(),
                send_email: false,
                attachments: vec![],
            },
            None,
        )
        .await
        .expect("reply");
    let state = sla(&store, ticket.id).await;
    assert_eq!(target(&state, Target::FirstResponse).state, "met");
    assert_eq!(
        target(&state, Target::PeriodicUpdate).due_at,
        Some(Millis(T0 + 70 * MIN + 240 * MIN))
    );
    // Waiting on the customer: everything pauses.
    store
        .update_ticket(
            agent_ctx(owner.id, T0 + 80 * MIN),
            ticket.id,
            TicketPatch {
                status: Some(TicketStatus::Pending),
                ..TicketPatch::default()
            },
        )
        .await
        .expect("pending");
    let state = sla(&store, ticket.id).await;
    assert!(state.paused);
    assert_eq!(state.due_at, None);
    let resolution = target(&state, Target::Resolution);
    assert_eq!(resolution.state, "paused");
    assert_eq!(resolution.remaining_minutes, Some(600 - 80));
    // The customer answers two hours later: the ticket reopens and the clocks resume.
    store
        .add_message(
            Ctx {
                actor: Actor::customer(ticket.customer.id),
                at: Millis(T0 + 200 * MIN),
            },
            ticket.id,
            NewMessage {
                kind: MessageKind::Customer,
                channel: Channel::Email,
                body: "Here are the logs you asked for.".into(),
                send_email: false,
                attachments: vec![],
            },
            None,
        )
        .await
        .expect("customer reply");
    let state = sla(&store, ticket.id).await;
    assert!(!state.paused);
    assert_eq!(
        target(&state, Target::NextResponse).due_at,
        Some(Millis(T0 + 230 * MIN))
    );
    assert_eq!(
        target(&state, Target::Resolution).due_at,
        Some(Millis(T0 + 200 * MIN + 520 * MIN))
    );
    assert_eq!(
        target(&state, Target::PeriodicUpdate).due_at,
        Some(Millis(T0 + 200 * MIN + 230 * MIN)),
        "240 minutes of silence, 10 used before the pause"
    );
    // A breach raises the priority (already urgent for these: nothing to raise), and badges
    // list every running ticket.
    let badges = store
        .sla_badges(&[normal.id, ticket.id])
        .await
        .expect("badges");
    assert_eq!(badges.len(), 2);
}

async fn commitments_are_kept_broken_and_counted(store: S) {
    let owner = agent(&store, "owner@rapport.localhost", Role::Agent).await;
    let other = agent(&store, "other@rapport.localhost", Role::Agent).await;
    let ticket = enterprise_customer_ticket(&store, Priority::Normal, T0).await;
    store
        .update_ticket(
            ctx(T0),
            ticket.id,
            TicketPatch {
                assignee_id: Some(Some(owner.id)),
                ..TicketPatch::default()
            },
        )
        .await
        .expect("assign");
    let by_owner = |at| agent_ctx(owner.id, at);
    // "Tomorrow morning" for a customer without a zone: the inbox calendar's (UTC), Tuesday 10:00.
    let next_update = store
        .make_commitment(
            by_owner(T0),
            ticket.id,
            NewCommitment {
                kind: CommitmentKind::NextUpdate,
                description: String::new(),
                due: Due::Quick(QuickDue::TomorrowMorning),
            },
        )
        .await
        .expect("next update");
    assert_eq!(
        next_update.due_at,
        Millis(MONDAY_MIDNIGHT + 24 * HOUR + 10 * HOUR)
    );
    assert_eq!(next_update.owner_id, Some(owner.id));
    assert_eq!(next_update.remind_at, Millis(next_update.due_at.0 - HOUR));
    let promise = store
        .make_commitment(
            by_owner(T0),
            ticket.id,
            NewCommitment {
                kind: CommitmentKind::Promise,
                description: "Replacement router ships by Wednesday".into(),
                due: Due::At(Millis(T0 + 2 * 24 * HOUR)),
            },
        )
        .await
        .expect("promise");
    // Bad input changes nothing.
    let refused = store
        .make_commitment(
            by_owner(T0),
            ticket.id,
            NewCommitment {
                kind: CommitmentKind::Promise,
                description: "  ".into(),
                due: Due::At(Millis(T0 + HOUR)),
            },
        )
        .await;
    assert!(matches!(refused, Err(StoreError::Invalid(ref e)) if e.field == "description"));
    let past = store
        .make_commitment(
            by_owner(T0),
            ticket.id,
            NewCommitment {
                kind: CommitmentKind::Promise,
                description: "Done yesterday".into(),
                due: Due::At(Millis(T0 - HOUR)),
            },
        )
        .await;
    assert!(matches!(past, Err(StoreError::Invalid(ref e)) if e.field == "due_at"));
    assert_eq!(store.commitments(ticket.id).await.unwrap().len(), 2);

    // A promise is fulfilled only once the customer was told.
    assert!(matches!(
        store
            .fulfil_commitment(by_owner(T0 + HOUR), promise.id)
            .await,
        Err(StoreError::Conflict(_))
    ));
    // A public reply keeps the next-update time (before it was due).
    store
        .add_message(
            by_owner(T0 + 2 * HOUR),
            ticket.id,
            NewMessage {
                kind: MessageKind::Reply,
                channel: Channel::Email,
                body: "The replacement is booked.".into(),
                send_email: false,
                attachments: vec![],
            },
            None,
        )
        .await
        .expect("reply");
    let now = store.commitments(ticket.id).await.unwrap();
    assert_eq!(now[0].status, CommitmentStatus::Kept);
    assert_eq!(now[1].status, CommitmentStatus::Open);
    let kept = store
        .fulfil_commitment(by_owner(T0 + 3 * HOUR), promise.id)
        .await
        .expect("fulfil");
    assert_eq!(kept.status, CommitmentStatus::Kept);
    assert!(matches!(
        store
            .fulfil_commitment(by_owner(T0 + 3 * HOUR), promise.id)
            .await,
        Err(StoreError::Conflict(_))
    ));

    // A next update that nobody gives: reminded an hour before, broken when it lapses,
    // escalated to the owner and supervisors; each once.
    let lapsing = store
        .make_commitment(
            agent_ctx(other.id, T0 + 4 * HOUR),
            ticket.id,
            NewCommitment {
                kind: CommitmentKind::NextUpdate,
                description: "We'll call you".into(),
                due: Due::At(Millis(T0 + 8 * HOUR)),
            },
        )
        .await
        .expect("commitment");
    assert_eq!(
        lapsing.owner_id,
        Some(owner.id),
        "the ticket's owner answers for it"
    );
    let pass = store
        .scheduler_pass(Millis(T0 + 7 * HOUR), 10)
        .await
        .unwrap();
    assert_eq!(pass.reminders, 1);
    assert!(
        store
            .scheduler_pass(Millis(T0 + 7 * HOUR + MIN), 10)
            .await
            .unwrap()
            .is_idle()
    );
    let pass = store
        .scheduler_pass(Millis(T0 + 8 * HOUR + MIN), 10)
        .await
        .unwrap();
    assert_eq!(pass.broken, 1);
    assert!(
        store
            .scheduler_pass(Millis(T0 + 9 * HOUR), 10)
            .await
            .unwrap()
            .is_idle()
    );
    let broken = &store.commitments(ticket.id).await.unwrap()[2];
    assert_eq!(broken.status, CommitmentStatus::Broken);
    assert_eq!(
        events_of(&store, ticket.id, "commitment.broken")
            .await
            .len(),
        1
    );
    assert_eq!(
        events_of(&store, ticket.id, "commitment.reminded")
            .await
            .len(),
        1
    );

    // Cancelling needs a reason and is not counted; solving keeps what is open on time.
    let cancelled = store
        .make_commitment(
            by_owner(T0 + 10 * HOUR),
            ticket.id,
            NewCommitment {
                kind: CommitmentKind::Promise,
                description: "Engineer visit".into(),
                due: Due::At(Millis(T0 + 30 * HOUR)),
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .cancel_commitment(by_owner(T0 + 11 * HOUR), cancelled.id, " ")
            .await
            .is_err()
    );
    let cancelled = store
        .cancel_commitment(by_owner(T0 + 11 * HOUR), cancelled.id, "Customer fixed it")
        .await
        .unwrap();
    assert_eq!(cancelled.status, CommitmentStatus::Cancelled);
    let last = store
        .make_commitment(
            by_owner(T0 + 12 * HOUR),
            ticket.id,
            NewCommitment {
                kind: CommitmentKind::Promise,
                description: "Credit note by Friday".into(),
                due: Due::At(Millis(T0 + 72 * HOUR)),
            },
        )
        .await
        .unwrap();
    store
        .update_ticket(
            by_owner(T0 + 13 * HOUR),
            ticket.id,
            TicketPatch {
                status: Some(TicketStatus::Solved),
                ..TicketPatch::default()
            },
        )
        .await
        .unwrap();
    let all = store.commitments(ticket.id).await.unwrap();
    assert_eq!(
        all.iter().find(|c| c.id == last.id).unwrap().status,
        CommitmentStatus::Kept
    );
    assert!(matches!(
        store
            .make_commitment(
                by_owner(T0 + 14 * HOUR),
                ticket.id,
                NewCommitment {
                    kind: CommitmentKind::Promise,
                    description: "More".into(),
                    due: Due::At(Millis(T0 + 20 * HOUR)),
                },
            )
            .await,
        Err(StoreError::Conflict(_))
    ));

    // Kept 3 (next update, promise, credit note), broken 1: 0.75 overall and for the owner.
    let rates = store.kept_rates(Millis(T0 - HOUR)).await.unwrap();
    let overall = &rates[0];
    assert_eq!(
        (overall.scope.as_str(), overall.kept, overall.broken),
        ("overall", 3, 1)
    );
    assert_eq!(overall.rate, Some(0.75));
    let owners = rates
        .iter()
        .find(|r| r.scope == "agent" && r.id == Some(owner.id))
        .unwrap();
    assert_eq!((owners.kept, owners.broken), (3, 1));
    assert!(rates.iter().any(|r| r.scope == "team"), "the inbox's team");
}

async fn chases_are_detected_and_counted_per_team(store: S) {
    let owner = agent(&store, "owner@rapport.localhost", Role::Agent).await;
    let ticket = enterprise_customer_ticket(&store, Priority::Normal, T0).await;
    let customer = |at| Ctx {
        actor: Actor::customer(ticket.customer.id),
        at: Millis(at),
    };
    let say = |body: &str| NewMessage {
        kind: MessageKind::Customer,
        channel: Channel::Email,
        body: body.into(),
        send_email: false,
        attachments: vec![],
    };
    // Adding a detail a few minutes later is not chasing.
    store
        .add_message(
            customer(T0 + 5 * MIN),
            ticket.id,
            say("Forgot to say: model RX-200."),
            None,
        )
        .await
        .unwrap();
    assert!(
        events_of(&store, ticket.id, "ticket.chased")
            .await
            .is_empty()
    );
    // Writing again a day later without an answer is.
    store
        .add_message(
            customer(T0 + 24 * HOUR),
            ticket.id,
            say("I also tried another cable, same result."),
            None,
        )
        .await
        .unwrap();
    // Asking for status after an answer is too; a thank-you is not.
    store
        .add_message(
            agent_ctx(owner.id, T0 + 25 * HOUR),
            ticket.id,
            NewMessage {
                kind: MessageKind::Reply,
                ..say("Looking into it.")
            },
            None,
        )
        .await
        .unwrap();
    store
        .add_message(
            customer(T0 + 26 * HOUR),
            ticket.id,
            say("Thanks for the update!"),
            None,
        )
        .await
        .unwrap();
    store
        .add_message(
            customer(T0 + 50 * HOUR),
            ticket.id,
            say("Any update on this?"),
            None,
        )
        .await
        .unwrap();
    let chases = events_of(&store, ticket.id, "ticket.chased").await;
    assert_eq!(chases.len(), 2, "{chases:?}");
    assert_eq!(chases[0].data["reason"], "wrote again before any answer");
    assert!(
        chases[1].data["reason"]
            .as_str()
            .unwrap()
            .starts_with("asked for status")
    );
    // A second, quiet ticket in the same team: half the tickets were chased.
    enterprise_customer_ticket(&store, Priority::Normal, T0).await;
    let rates = store.chase_rates(Millis(T0 - HOUR)).await.unwrap();
    assert_eq!(
        (rates[0].tickets, rates[0].chased, rates[0].chases),
        (2, 1, 2)
    );
    assert_eq!(rates[0].rate, Some(0.5));
    let team = rates.iter().find(|r| r.team_id == ticket.team_id).unwrap();
    assert_eq!(team.name, "Support");
}

async fn calendar_changes_recompute_open_tickets(store: S) {
    let cal = store
        .save_calendar(ctx(T0), None, "Berlin office".into(), office("09:00-17:00"))
        .await
        .expect("calendar");
    // Business-hours targets on that calendar for every ticket.
    store
        .save_sla_policy(
            ctx(T0),
            None,
            NewSlaPolicy {
                name: "Office hours".into(),
                position: 1,
                conditions: Conditions::default(),
                rules: Rules::first_response_only(120),
                calendar_id: Some(cal.id),
            },
        )
        .await
        .expect("policy");
    while !store
        .scheduler_pass(Millis(T0), 100)
        .await
        .unwrap()
        .is_idle()
    {}
    let open = enterprise_customer_ticket(&store, Priority::Normal, T0).await;
    let solved = enterprise_customer_ticket(&store, Priority::Normal, T0).await;
    store
        .update_ticket(
            ctx(T0 + MIN),
            solved.id,
            TicketPatch {
                status: Some(TicketStatus::Solved),
                ..TicketPatch::default()
            },
        )
        .await
        .unwrap();
    // Monday 14:13 + 2 business hours = 16:13.
    assert_eq!(
        sla(&store, open.id).await.due_at,
        Some(Millis(T0 + 2 * HOUR))
    );
    // The office closes at 15:00 now: 47 minutes today, 73 on Tuesday from 09:00 → 10:13.
    store
        .save_calendar(
            ctx(T0 + 2 * MIN),
            Some(cal.id),
            "Berlin office".into(),
            office("09:00-15:00"),
        )
        .await
        .expect("change");
    assert_eq!(
        sla(&store, open.id).await.due_at,
        Some(Millis(T0 + 2 * HOUR)),
        "recomputed by the scheduler, not in the request"
    );
    let mut recomputed = 0;
    loop {
        let pass = store
            .scheduler_pass(Millis(T0 + 3 * MIN), 100)
            .await
            .unwrap();
        if pass.is_idle() {
            break;
        }
        recomputed += pass.recomputed;
    }
    assert_eq!(recomputed, 1, "only the open ticket");
    assert_eq!(
        sla(&store, open.id).await.due_at,
        Some(Millis(
            MONDAY_MIDNIGHT + 24 * HOUR + 10 * HOUR + 13 * MIN + 20_000
        ))
    );
    // A calendar in use stays; bad calendars are refused with the field.
    assert!(matches!(
        store.delete_calendar(ctx(T0), cal.id).await,
        Err(StoreError::Conflict(_))
    ));
    let bad = store
        .save_calendar(
            ctx(T0),
            None,
            "Mars".into(),
            CalendarConfig {
                time_zone: "Mars/Olympus".into(),
                ..office("09:00-17:00")
            },
        )
        .await;
    assert!(matches!(bad, Err(StoreError::Invalid(ref e)) if e.field == "time_zone"));
    let dup = store
        .save_calendar(ctx(T0), None, "berlin OFFICE".into(), office("09:00-17:00"))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
    assert_eq!(store.list_calendars().await.unwrap().len(), 1);
}

/// Two scheduler passes at once (two nodes) fire every alarm exactly once.
async fn concurrent_scheduler_passes_fire_each_alarm_once(store: S) {
    store
        .save_sla_policy(
            ctx(T0),
            None,
            NewSlaPolicy {
                name: "Fast".into(),
                position: 1,
                conditions: Conditions::default(),
                rules: Rules {
                    targets: Targets {
                        first_response: calendar_rule(10),
                        ..Targets::default()
                    },
                    warn_before_minutes: 0,
                    on_warning: Actions::default(),
                    on_breach: Actions::default(),
                },
                calendar_id: None,
            },
        )
        .await
        .unwrap();
    for i in 0..30 {
        enterprise_customer_ticket(&store, Priority::Normal, T0 + i).await;
    }
    let now = Millis(T0 + HOUR);
    let mut breaches = 0;
    loop {
        let (a, b) = tokio::join!(store.scheduler_pass(now, 7), store.scheduler_pass(now, 7));
        let (a, b) = (a.unwrap(), b.unwrap());
        if a.is_idle() && b.is_idle() {
            break;
        }
        breaches += a.breaches + b.breaches;
    }
    assert_eq!(breaches, 30);
}

rapport_store::on_both_backends!(
    sla_clocks_follow_the_ticket_and_alarms_fire_once,
    commitments_are_kept_broken_and_counted,
    chases_are_detected_and_counted_per_team,
    calendar_changes_recompute_open_tickets,
    concurrent_scheduler_passes_fire_each_alarm_once,
);

/// A database the workspace release made upgrades to the SLA schema: its open ticket has no
/// clocks until something happens to it, then they start from that moment under the inbox's
/// first-answer target, and commitments can be made on it.
async fn upgrade_from_the_workspace_release(url: String) {
    const WEB_DATA: &str = "
        INSERT INTO customers (id, name, created_at, updated_at) VALUES (7, 'Ann Lee', 1, 1);
        INSERT INTO customer_emails (email, customer_id, is_primary) VALUES ('ann@ann.example', 7, TRUE);
        INSERT INTO tickets (id, subject, status, priority, channel, customer_id, inbox_id, created_at, updated_at)
            VALUES (10001, 'Router drops Wi-Fi', 'open', 'normal', 'email', 7, 1, 1, 1);
        INSERT INTO messages (ticket_id, kind, channel, author_customer_id, body, created_at)
            VALUES (10001, 'customer', 'email', 7, 'It drops every evening.', 1);";
    rapport_store::database_at_version(&url, 3, WEB_DATA)
        .await
        .unwrap();
    let store: S = rapport_store::open(&url).await.unwrap();
    assert!(store.ticket_sla(10001).await.unwrap().is_none());
    assert!(
        store
            .scheduler_pass(Millis(T0), 10)
            .await
            .unwrap()
            .is_idle()
    );
    store
        .add_message(
            Ctx {
                actor: Actor::customer(7),
                at: Millis(T0),
            },
            10001,
            NewMessage {
                kind: MessageKind::Customer,
                channel: Channel::Email,
                body: "Still dropping.".into(),
                send_email: false,
                attachments: vec![],
            },
            None,
        )
        .await
        .unwrap();
    let state = sla(&store, 10001).await;
    assert_eq!(state.policy_id, None);
    // The inbox's default 480 business minutes on 09–17 UTC from Monday 14:13: Tuesday 14:13.
    assert_eq!(state.due_at, Some(Millis(T0 + 24 * HOUR)));
    let made = store
        .make_commitment(
            ctx(T0),
            10001,
            NewCommitment {
                kind: CommitmentKind::NextUpdate,
                description: String::new(),
                due: Due::Quick(QuickDue::InTwoHours),
            },
        )
        .await
        .unwrap();
    assert_eq!(made.due_at, Millis(T0 + 2 * HOUR));
    store.close().await;
}

upgrade_on_both_backends!(upgrade_from_the_workspace_release);
