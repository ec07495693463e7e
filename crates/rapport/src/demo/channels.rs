//! The demo's live chat and phone channel: the widget of the Support inbox set up, visitors'
//! conversations (some waiting, some answered), calls logged on tickets, a ticket opened from
//! a call, and callbacks in every state. Chat messages carry client ids and replies idempotency
//! keys; the rest runs once under its own setting (see `ensure_demo_data`).

use super::{DAY, MINUTE, key};
use rapport_core::phone::{CallDirection, CallOutcome, CallbackWindow};
use rapport_core::{Actor, Channel, MessageKind, Millis, TicketStatus};
use rapport_store::{
    CallbackRequester, ChatPost, ChatVisitor, ChatWidgetPatch, Ctx, NewCall, NewCallTicket,
    NewCallbackRequest, NewMessage, PageRequest, Store, Ticket, TicketFilter,
};

const HOUR: i64 = 60 * MINUTE;

/// A visitor's chat: what they write, minutes ago, and the agent's answer if one came.
struct DemoChat {
    name: &'static str,
    minutes_ago: i64,
    messages: &'static [&'static str],
    answer: Option<(&'static str, &'static str)>,
}

const CHATS: &[DemoChat] = &[
    DemoChat {
        name: "Marta Kowalczyk",
        minutes_ago: 14,
        messages: &[
            "Hi, is there an outage in Friedrichshain? Our office line has been down since 9.",
            "The router shows a red DSL light.",
        ],
        answer: None,
    },
    DemoChat {
        name: "Tom Becker",
        minutes_ago: 6,
        messages: &["Can I move my contract to my new flat next month without a fee?"],
        answer: None,
    },
    DemoChat {
        name: "",
        minutes_ago: 2,
        messages: &["hello? how do I get a second Mesh Kit satellite"],
        answer: None,
    },
    DemoChat {
        name: "Jana Horváth",
        minutes_ago: 38,
        messages: &["My last invoice is 20 EUR higher than usual, why?"],
        answer: Some((
            "mateo@northwind.example",
            "Hi Jana, the 20 EUR is the one-off fee for the technician visit on the 3rd. It will not repeat next month.",
        )),
    },
    DemoChat {
        name: "Peter Lund",
        minutes_ago: 25,
        messages: &["Which port on the Router X2 is for the IP phone?"],
        answer: Some((
            "sam@northwind.example",
            "Hi Peter, use the grey port marked TEL 1 on the back. The yellow ones are for computers.",
        )),
    },
];

pub(super) async fn seed_channels(
    store: &dyn Store,
    admin_id: i64,
    inbox_id: i64,
) -> anyhow::Result<()> {
    let now = rapport_web::now();
    let system = Ctx {
        actor: Actor::SYSTEM,
        at: now,
    };
    // Set once: an admin's later edits stay.
    let widget = store.chat_widget(inbox_id, now).await?;
    if widget.greeting.is_empty() {
        let patch = ChatWidgetPatch {
            enabled: Some(true),
            accent: Some("#0b6e4f".into()),
            greeting: Some(
                "Hi! Ask us anything about your Northwind line. We usually answer within a few minutes during office hours."
                    .into(),
            ),
            ..ChatWidgetPatch::default()
        };
        store.update_chat_widget(system, inbox_id, patch).await?;
    }
    seed_chats(store, admin_id, inbox_id, now).await?;
    seed_phone(store, admin_id, inbox_id, now).await
}

async fn seed_chats(
    store: &dyn Store,
    admin_id: i64,
    inbox_id: i64,
    now: Millis,
) -> anyhow::Result<()> {
    let agents = store.list_agents().await?;
    for (i, chat) in CHATS.iter().enumerate() {
        let visitor = ChatVisitor {
            inbox_id,
            visitor_id: format!("demo-visitor-{i}"),
            verified_customer_id: None,
        };
        let mut conversation = None;
        for (m, body) in chat.messages.iter().enumerate() {
            let posted = store
                .post_chat_message(
                    Ctx {
                        actor: Actor::SYSTEM,
                        at: Millis(now.0 - (chat.minutes_ago - m as i64) * MINUTE),
                    },
                    ChatPost {
                        visitor: visitor.clone(),
                        client_id: format!("demo-{i}-{m}"),
                        body: (*body).into(),
                        conversation,
                        name: (!chat.name.is_empty()).then(|| chat.name.into()),
                        email: None,
                        client_address: "demo".into(),
                    },
                )
                .await?;
            conversation = Some(posted.conversation.ticket_id);
        }
        let (Some(ticket_id), Some((email, answer))) = (conversation, chat.answer) else {
            continue;
        };
        let Some(agent) = agents.iter().find(|a| a.email == email) else {
            continue;
        };
        let ctx = Ctx {
            actor: Actor::agent(agent.id),
            at: Millis(now.0 - (chat.minutes_ago - 3) * MINUTE),
        };
        // The agent takes the conversation from whoever routing gave it to, then answers.
        if store.ticket(ticket_id).await?.assignee_id != Some(agent.id) {
            let take = rapport_core::update::TicketPatch {
                assignee_id: Some(Some(agent.id)),
                transfer_reason: Some("Answering the chat from the queue".into()),
                ..Default::default()
            };
            store.update_ticket(ctx, ticket_id, take).await?;
        }
        let reply = NewMessage {
            kind: MessageKind::Reply,
            channel: Channel::Chat,
            body: answer.into(),
            send_email: false,
            attachments: Vec::new(),
        };
        store
            .add_message(
                ctx,
                ticket_id,
                reply,
                key(admin_id, format!("demo-chat-{i}")),
            )
            .await?;
    }
    Ok(())
}

/// An open ticket with its customer's number and time zone.
struct Caller {
    ticket: Ticket,
    phone: String,
    time_zone: String,
}

/// Open tickets whose customers have a number, for calls and callbacks.
async fn callers(store: &dyn Store, wanted: usize) -> anyhow::Result<Vec<Caller>> {
    let open = TicketFilter {
        statuses: vec![TicketStatus::Open, TicketStatus::Pending],
        ..TicketFilter::default()
    };
    let mut found = Vec::new();
    for ticket in store
        .list_tickets(&open, PageRequest::first(80))
        .await?
        .items
    {
        let customer = store.customer(ticket.customer.id).await?;
        if let Some(phone) = customer.phone
            && !found
                .iter()
                .any(|c: &Caller| c.ticket.customer.id == ticket.customer.id)
        {
            found.push(Caller {
                time_zone: customer.time_zone.unwrap_or_else(|| "Europe/Berlin".into()),
                phone,
                ticket,
            });
            if found.len() == wanted {
                break;
            }
        }
    }
    Ok(found)
}

fn window(start: i64, hours: i64, time_zone: &str) -> CallbackWindow {
    CallbackWindow {
        start: Millis(start),
        end: Millis(start + hours * HOUR),
        time_zone: time_zone.into(),
    }
}

/// `from`–`to` on the day `days` from today, both in `zone`, as a customer would ask for it.
fn local_window(
    zone: &str,
    days: i64,
    from: &str,
    to: &str,
    now: Millis,
) -> anyhow::Result<CallbackWindow> {
    let today = jiff::Timestamp::from_millisecond(now.0)?
        .to_zoned(jiff::tz::TimeZone::get(zone)?)
        .date();
    let day = today.checked_add(jiff::Span::new().days(days))?;
    // Checked as if asked three days ago, so yesterday's windows pass too.
    Ok(CallbackWindow::parse(
        &day.to_string(),
        from,
        to,
        zone,
        Millis(now.0 - 3 * DAY),
    )?)
}

async fn seed_phone(
    store: &dyn Store,
    admin_id: i64,
    inbox_id: i64,
    now: Millis,
) -> anyhow::Result<()> {
    let callers = callers(store, 9).await?;
    let [
        logged_a,
        logged_b,
        soon,
        tomorrow,
        later,
        missed,
        done,
        from_call,
        ..,
    ] = callers.as_slice()
    else {
        anyhow::bail!("the demo has too few open tickets with a customer's number");
    };
    // Whole hours, so windows read like the ones people ask for.
    let hour = now.0 - now.0 % HOUR;
    let as_owner = |t: &Ticket, at: i64| Ctx {
        actor: Actor::agent(t.assignee_id.unwrap_or(admin_id)),
        at: Millis(at),
    };
    let call = |c: &Caller, direction, outcome, seconds, notes: &str, at: i64| NewCall {
        direction,
        number: c.phone.clone(),
        duration_seconds: seconds,
        outcome,
        notes: notes.into(),
        started_at: Some(Millis(at)),
    };

    let at = now.0 - 3 * HOUR;
    store
        .log_call(
            as_owner(&logged_a.ticket, at + 10 * MINUTE),
            logged_a.ticket.id,
            call(logged_a, CallDirection::Inbound, CallOutcome::Answered, 420,
                 "Customer called about this ticket. Walked them through restarting the router; they will watch it tonight.", at),
        )
        .await?;
    let at = now.0 - 5 * HOUR;
    store
        .log_call(
            as_owner(&logged_b.ticket, at + 2 * MINUTE),
            logged_b.ticket.id,
            call(
                logged_b,
                CallDirection::Outbound,
                CallOutcome::Voicemail,
                45,
                "Left a message asking them to call back or reply to the email.",
                at,
            ),
        )
        .await?;

    // The next one soon, whatever the hour; the others at the customer's own office times.
    store
        .schedule_callback(
            as_owner(&soon.ticket, now.0 - 20 * MINUTE),
            soon.ticket.id,
            &soon.phone,
            window(hour + 2 * HOUR, 2, &soon.time_zone),
            "Wants to go through the new contract on the phone.",
        )
        .await?;
    let local = [
        (
            tomorrow,
            1,
            ("14:00", "16:00"),
            "Prefers a call after lunch.",
        ),
        (later, 2, ("09:00", "12:00"), "Technician visit to arrange."),
        // Promised yesterday, nobody called: the scheduler marks it missed.
        (
            missed,
            -1,
            ("10:00", "11:00"),
            "Asked for a call before their meeting.",
        ),
        (done, -1, ("15:00", "17:00"), ""),
    ];
    for (c, days, (from, to), note) in local {
        let window = local_window(&c.time_zone, days, from, to, now)?;
        store
            .schedule_callback(
                as_owner(&c.ticket, window.start.0.min(now.0) - DAY),
                c.ticket.id,
                &c.phone,
                window,
                note,
            )
            .await?;
    }
    // Yesterday's afternoon call kept its promise.
    let at = local_window(&done.time_zone, -1, "15:30", "16:00", now)?
        .start
        .0;
    store
        .log_call(
            as_owner(&done.ticket, at + 15 * MINUTE),
            done.ticket.id,
            call(
                done,
                CallDirection::Outbound,
                CallOutcome::Answered,
                600,
                "Called back as promised; refund confirmed on the phone.",
                at,
            ),
        )
        .await?;

    // A known customer rings in with something new: the number finds them.
    let customer = store.customer(from_call.ticket.customer.id).await?;
    let matches = store.customers_by_phone(&from_call.phone).await?;
    let at = now.0 - 50 * MINUTE;
    store
        .ticket_from_call(
            Ctx {
                actor: Actor::agent(admin_id),
                at: Millis(at + 8 * MINUTE),
            },
            NewCallTicket {
                inbox: Some("Technical".into()),
                // Several customers share the number: the agent picks the caller.
                customer_id: (matches.len() != 1).then_some(customer.id),
                name: Some(customer.name.clone()),
                email: None,
                        subject: "Wi-Fi keeps dropping in the meeting room".into(),
                call: call(from_call, CallDirection::Inbound, CallOutcome::Answered, 480,
                           "Meeting room is far from the router; suggested a Mesh Kit satellite and sent the offer.", at),
            },
        )
        .await?;

    // A visitor asked from the chat widget to be called tomorrow morning.
    store
        .request_callback(
            Ctx {
                actor: Actor::SYSTEM,
                at: Millis(now.0 - 90 * MINUTE),
            },
            NewCallbackRequest {
                inbox_id,
                requester: CallbackRequester::Visitor {
                    name: "Henrik Sørensen".into(),
                    email: None,
                },
                phone: "+45 32 12 34 56".into(),
                window: local_window("Europe/Copenhagen", 1, "09:00", "11:00", now)?,
                note: "Question about fibre for a new shop.".into(),
                origin: Channel::Chat,
            },
        )
        .await?;
    Ok(())
}
