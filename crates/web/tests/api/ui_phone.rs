//! The phone channel in the workspace and the portal over real HTTP, on SQLite and PostgreSQL:
//! logging a call on the ticket page (CSRF, what is refused names its field), a ticket from a
//! call with the caller matched by number, the callback queue and its header count, "Log call"
//! from the queue keeping the promise, the customer page's calls, and the portal's call-back
//! request (prefilled number, refused windows, the callback shown on the ticket).

use super::phone::tomorrow;
use super::ui::{PASSWORD, Visitor, ctx, customer_signed_in, open_desk};
use rapport_core::Actor;
use rapport_core::phone::CallbackStatus;
use rapport_store::CustomerPatch;
use reqwest::StatusCode;
use std::sync::Arc;

/// Text as the templates write it (minijinja escapes `/` too).
fn esc(text: &str) -> String {
    text.replace('/', "&#x2f;")
}

async fn give_number(store: &Arc<dyn rapport_store::Store>, customer: i64, phone: &str) {
    let patch = CustomerPatch {
        phone: Some(Some(phone.into())),
        ..Default::default()
    };
    store
        .update_customer(ctx(Actor::SYSTEM), customer, patch)
        .await
        .unwrap();
}

async fn agents_log_calls_and_work_the_callback_queue(store: Arc<dyn rapport_store::Store>) {
    let desk = open_desk(store.clone()).await;
    give_number(&store, desk.carla, "+49 30 1234567").await;
    let mut ann = Visitor::new(&desk.base);
    ann.sign_in("ann@example.com", PASSWORD).await;

    // The ticket page: the call form, the number prefilled from the customer.
    let page = ann.get(&format!("/t/{}", desk.urgent)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"log-call-form\""), "{}", page.body);
    assert!(page.body.contains("value=\"+49 30 1234567\""));
    let csrf = page.csrf();
    let call = |csrf: &str, duration: &'static str| {
        vec![
            ("_csrf", csrf.to_string()),
            ("direction", "outbound".to_string()),
            ("number", "+49 30 1234567".to_string()),
            ("duration", duration.to_string()),
            ("outcome", "answered".to_string()),
            ("notes", "Router replaced under warranty".to_string()),
        ]
    };
    let as_pairs = |v: &Vec<(&'static str, String)>| {
        v.iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect::<Vec<(&str, String)>>()
    };
    let form = as_pairs(&call(&csrf, "4:75"));
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = ann.post(&format!("/t/{}/calls", desk.urgent), &refs).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("duration"), "{}", refused.body);
    let form = as_pairs(&call("forged", "4:30"));
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let forged = ann.post(&format!("/t/{}/calls", desk.urgent), &refs).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(
        store.calls(desk.urgent).await.unwrap().is_empty(),
        "nothing refused is stored"
    );
    let form = as_pairs(&call(&csrf, "4:30"));
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let logged = ann.post(&format!("/t/{}/calls", desk.urgent), &refs).await;
    assert_eq!(
        logged.location(),
        format!("/t/{}#phone", desk.urgent),
        "{}",
        logged.body
    );
    let page = ann.get(&format!("/t/{}", desk.urgent)).await;
    assert!(
        page.body.contains("data-event=\"call.logged\""),
        "the call is in the timeline"
    );
    assert!(
        page.body
            .contains("outbound · answered · 4:30 · +49 30 1234567")
    );
    assert!(
        page.body.contains("Router replaced under warranty"),
        "the notes are a note"
    );

    // A callback scheduled on the ticket shows in the queue and the header's count once due.
    let scheduled = ann
        .post(
            &format!("/t/{}/callbacks", desk.normal),
            &[
                ("_csrf", &csrf),
                ("phone", "+49 30 1234567"),
                ("date", &tomorrow()),
                ("window_start", "10:00"),
                ("window_end", "12:00"),
                ("time_zone", "Europe/Berlin"),
            ],
        )
        .await;
    assert_eq!(
        scheduled.location(),
        format!("/t/{}#phone", desk.normal),
        "{}",
        scheduled.body
    );
    let queue = ann.get("/callbacks").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(
        queue.body.contains("href=\"tel:+49301234567\""),
        "{}",
        queue.body
    );
    assert!(queue.body.contains(&esc("10:00–12:00 (Europe/Berlin)")));
    assert!(queue.body.contains("Invoice question"));
    assert!(
        !queue.body.contains("class=\"count-badge\""),
        "not due before its window"
    );
    let mine = ann.get("/callbacks?filter=mine").await;
    assert!(
        mine.body.contains("Invoice question"),
        "Ann owns the ticket"
    );
    let overdue = ann.get("/callbacks?filter=overdue").await;
    assert!(overdue.body.contains("id=\"callbacks-empty\""));

    // "Log call" from the queue keeps the callback whose window is on now, not tomorrow's:
    // back to the queue, which still lists tomorrow's.
    let now_window = super::phone::window_on_now();
    store
        .schedule_callback(
            ctx(Actor::SYSTEM),
            desk.normal,
            "+49 30 1234567",
            now_window,
            "",
        )
        .await
        .unwrap();
    let logged = ann
        .post(
            &format!("/t/{}/calls", desk.normal),
            &[
                ("_csrf", &csrf),
                ("back", "queue"),
                ("direction", "outbound"),
                ("number", "+49 30 1234567"),
                ("outcome", "voicemail"),
                ("duration", "0:40"),
                ("notes", ""),
            ],
        )
        .await;
    assert_eq!(logged.location(), "/callbacks");
    let queue = ann.get("/callbacks").await;
    assert!(
        queue.body.contains(&esc("10:00–12:00 (Europe/Berlin)")),
        "{}",
        queue.body
    );
    assert_eq!(
        store
            .callbacks(desk.normal)
            .await
            .unwrap()
            .iter()
            .map(|c| c.status)
            .collect::<Vec<_>>(),
        [CallbackStatus::Scheduled, CallbackStatus::Done],
        "a call long before tomorrow's window does not keep it"
    );

    // A ticket from a call: the number finds Carla.
    let lookup = ann.get("/calls/new?phone=030%201234567").await;
    assert_eq!(lookup.status, StatusCode::OK);
    assert!(
        lookup
            .body
            .contains(&format!("value=\"{}\" checked", desk.carla)),
        "{}",
        lookup.body
    );
    let made = ann
        .post(
            "/calls/new",
            &[
                ("_csrf", &csrf),
                ("number", "030 1234567"),
                ("customer", &desk.carla.to_string()),
                ("subject", ""),
                ("direction", "inbound"),
                ("outcome", "answered"),
                ("duration", "2:00"),
                ("notes", "Asked about the new contract"),
            ],
        )
        .await;
    let location = made.location();
    assert!(location.starts_with("/t/"), "{}", made.body);
    let page = ann.get(&location).await;
    assert!(page.body.contains("Phone call from 030 1234567"));
    // Someone new without a name is refused on the same page, saying why.
    let refused = ann
        .post(
            "/calls/new",
            &[
                ("_csrf", &csrf),
                ("number", "0170 9999999"),
                ("customer", "new"),
                ("direction", "inbound"),
                ("outcome", "answered"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("give the caller&#x27;s name"),
        "{}",
        refused.body
    );
    // The customer page lists the calls.
    let customer = ann.get(&format!("/customers/{}", desk.carla)).await;
    assert_eq!(
        customer.body.matches("class=\"call\"").count(),
        3,
        "{}",
        customer.body
    );
    // German pages render.
    ann.language = "de";
    assert!(ann.get("/callbacks").await.body.contains("Rückrufe"));
    assert!(
        ann.get(&format!("/t/{}", desk.urgent))
            .await
            .body
            .contains("Anruf erfassen")
    );
    let _ = desk.stop.send(());
}

async fn customers_request_callbacks_in_the_portal(store: Arc<dyn rapport_store::Store>) {
    let desk = open_desk(store.clone()).await;
    give_number(&store, desk.carla, "+49 30 7777777").await;
    store
        .update_inbox(
            ctx(Actor::SYSTEM),
            1,
            rapport_store::InboxPatch {
                human_contact: Some("Call 030 555 0 weekdays 9-17".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // The sign-in link's mail says how to reach a person, like every automated mail.
    let mut carla = Visitor::new(&desk.base);
    let sent = carla
        .post("/portal/login", &[("email", "carla@acme.example")])
        .await;
    assert!(
        sent.body.contains("Call 030 555 0 weekdays 9-17"),
        "the page too"
    );
    // The link is queued in the background: look until it is there.
    let mut mail = None;
    for _ in 0..50 {
        mail = store
            .claim_outbox(rapport_core::Millis(i64::MAX / 2), 60_000, 50)
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.kind == rapport_store::OutboxKind::PortalLink);
        if mail.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mail = mail.expect("a sign-in link by email");
    let text = rapport_mail::parse::parse(&mail.raw.expect("composed when queued")).text;
    assert!(text.contains("Call 030 555 0 weekdays 9-17"), "{text}");
    let mut carla = customer_signed_in(&desk, "carla@acme.example").await;
    let form = carla.get("/portal/callback").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body.contains("value=\"+49 30 7777777\""),
        "prefilled from the record"
    );
    assert!(
        form.body.contains(&esc("value=\"Europe/Berlin\"")),
        "her zone until the browser's"
    );
    assert!(form.body.contains("id=\"human-contact\""));
    let csrf = form.csrf();
    let ask = |start: &'static str, end: &'static str| {
        vec![
            ("_csrf", csrf.clone()),
            ("phone", "+49 30 7777777".to_string()),
            ("date", tomorrow()),
            ("window_start", start.to_string()),
            ("window_end", end.to_string()),
            ("time_zone", "Europe/Berlin".to_string()),
            ("note", "The new router".to_string()),
        ]
    };
    let bad = ask("15:00", "14:00");
    let refs: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = carla.post("/portal/callback", &refs).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("window_end"), "{}", refused.body);
    assert!(
        refused.body.contains("The new router"),
        "nothing typed is lost"
    );
    let good = ask("14:00", "15:30");
    let refs: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let made = carla.post("/portal/callback", &refs).await;
    let location = made.location();
    assert!(location.starts_with("/portal/t/"), "{}", made.body);
    let ticket = carla.get(&location).await;
    assert!(
        ticket.body.contains("We will call you back on"),
        "{}",
        ticket.body
    );
    assert!(ticket.body.contains(&esc("14:00–15:30 (Europe/Berlin)")));
    let id: i64 = location.trim_start_matches("/portal/t/").parse().unwrap();
    let callbacks = store.callbacks(id).await.unwrap();
    assert_eq!(callbacks[0].origin, rapport_core::Channel::Portal);
    assert_eq!(store.ticket(id).await.unwrap().customer.id, desk.carla);
    // Another customer cannot see it.
    let mut dan = customer_signed_in(&desk, "dan@acme.example").await;
    assert_eq!(dan.get(&location).await.status, StatusCode::NOT_FOUND);
    let _ = desk.stop.send(());
}

rapport_store::on_both_backends!(
    agents_log_calls_and_work_the_callback_queue,
    customers_request_callbacks_in_the_portal,
);
