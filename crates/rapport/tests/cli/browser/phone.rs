//! The phone channel in a real browser: a customer asks for a call back in the portal, an agent
//! finds it in the callback queue and logs a call a day early, which keeps nothing (the promise
//! is kept by a call in the window: see the store's and web's tests); an agent opens
//! a ticket from a call whose number matches a customer and logs another call on it.

use super::*;

const CARL: (&str, &str) = ("carl@customer.example", "Carl Jansen");

/// Tomorrow's date in UTC: a window then lies ahead in any browser's zone.
fn tomorrow() -> String {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    today.tomorrow().expect("a tomorrow").to_string()
}

impl Desk {
    /// Gives the customer of `ticket` a phone number; returns the customer's id.
    async fn give_number(&self, ticket: &Value, phone: &str) -> i64 {
        let customer = ticket["customer"]["id"].as_i64().expect("customer id");
        let (code, body) = self
            .api(
                "PATCH",
                &format!("/customers/{customer}"),
                Some(json!({ "phone": phone })),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        customer
    }

    /// A portal sign-in link's path, as `rapport admin portal-link` hands it over.
    fn portal_link(&self, email: &str) -> String {
        let out = block_in_place(|| {
            run(
                &self.dir,
                &self.url,
                &["admin", "portal-link", "--email", email],
            )
        });
        assert!(out.status.success(), "{}", text(&out.stderr));
        let printed = text(&out.stdout);
        let at = printed.find("/portal/auth/").expect("a link");
        printed[at..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

impl Browser {
    /// Sets a date or time input the way a picker would (typing into them depends on the
    /// browser's locale).
    async fn set_value(&self, css: &str, value: &str) {
        self.wait_for(css).await;
        self.client
            .execute(
                "const el = document.querySelector(arguments[0]); el.value = arguments[1]; \
                 el.dispatchEvent(new Event('input', {bubbles: true}));",
                vec![json!(css), json!(value)],
            )
            .await
            .expect("set the field");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_requests_a_callback_that_an_agent_keeps() {
    let Some(mut s) = Session::start("customer_requests_a_callback_that_an_agent_keeps").await
    else {
        return;
    };
    let first = s
        .desk
        .ticket(
            "Router setup",
            CARL,
            "How do I set up the router?",
            json!({}),
        )
        .await;
    s.desk.give_number(&first, "+49 30 2345678").await;

    // The customer: signed in by a handed-over link, asks for a call back tomorrow morning.
    let c = s.browser().await;
    c.goto(&s.desk.portal_link(CARL.0)).await;
    c.click("form#portal-confirm button").await;
    c.wait_for_path(|p| p == "/portal", "/portal").await;
    c.click("#portal-callback-link").await;
    c.wait_for_path(|p| p == "/portal/callback", "/portal/callback")
        .await;
    assert_eq!(
        c.attr("#portal-callback input[name=phone]", "value")
            .await
            .as_deref(),
        Some("+49 30 2345678"),
        "the number on record is prefilled"
    );
    let zone = c.attr("#callback-zone", "value").await.unwrap_or_default();
    assert!(!zone.is_empty(), "the browser's zone is filled in");
    assert_eq!(c.text("#callback-zone-name").await, zone);
    c.set_value("#portal-callback input[name=date]", &tomorrow())
        .await;
    c.set_value("#portal-callback input[name=window_start]", "10:00")
        .await;
    c.set_value("#portal-callback input[name=window_end]", "11:30")
        .await;
    c.fill(
        "#portal-callback textarea[name=note]",
        "The new router will not connect.",
    )
    .await;
    c.screenshots("portal-callback-form").await;
    c.click("#portal-callback-submit").await;
    let page = c
        .wait_for_path(|p| p.starts_with("/portal/t/"), "/portal/t/…")
        .await;
    let ticket: i64 = page
        .trim_start_matches("/portal/t/")
        .parse()
        .expect("a ticket id");
    let shown = c.wait_for(".callback-scheduled").await;
    let shown = shown.text().await.unwrap_or_default();
    assert!(
        shown.contains("+49 30 2345678") && shown.contains("10:00–11:30"),
        "{shown}"
    );
    c.wait_for("#human-contact").await;
    c.screenshots("portal-callback-scheduled").await;
    // The read-back by email: the number, the window and the reference.
    let mail = s
        .desk
        .wait_for_mail(CARL.0, "Please call me back on +49 30 2345678")
        .await;
    assert!(mail.contains(&format!("R-{ticket}")), "{mail}");

    // The agent: the request is in the callback queue.
    let a = s.browser().await;
    a.login(SAM.0).await;
    a.click("#callbacks-link").await;
    let row = format!(".callback-row[data-ticket='{ticket}']");
    a.wait_for(&row).await;
    assert_eq!(
        a.attr(&format!("{row} a.dial"), "href").await.as_deref(),
        Some("tel:+49302345678")
    );
    let when = a.text(&format!("{row} .callback-when")).await;
    assert!(when.contains(&format!("10:00–11:30 ({zone})")), "{when}");
    a.screenshots("callback-queue").await;
    // "Log call": answered, three minutes — but a day before the window the customer asked
    // for, so it is not the call promised: the callback stays in the queue, its promise open.
    a.select(&format!("{row} select[name=outcome]"), "answered")
        .await;
    a.fill(&format!("{row} input[name=duration]"), "3:10").await;
    a.fill(
        &format!("{row} input[name=notes]"),
        "Reset the router together; it works.",
    )
    .await;
    a.click(&format!("{row} button[type=submit]")).await;
    // Back on the queue once the call is stored (the row stays, so wait for the call itself).
    let mut logged = false;
    for _ in 0..100 {
        let (_, calls) = s
            .desk
            .api("GET", &format!("/tickets/{ticket}/calls"), None)
            .await;
        if calls["items"].as_array().is_some_and(|c| !c.is_empty()) {
            logged = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(logged, "the call from the queue was stored");
    // The ticket page shows the call, the callback still scheduled and the promise open.
    a.goto(&format!("/t/{ticket}")).await;
    a.wait_for_text("#calls .call", "3:10").await;
    a.wait_for(".callback-scheduled").await;
    a.wait_for(".commitment-open").await;
    a.wait_for_text(".event[data-event='call.logged']", "answered")
        .await;
    let (code, commitments) = s
        .desk
        .api("GET", &format!("/tickets/{ticket}/commitments"), None)
        .await;
    assert_eq!(code, 200, "{commitments}");
    assert_eq!(commitments["items"][0]["status"], "open", "{commitments}");
    a.goto("/callbacks").await;
    a.wait_for(&row).await;
    a.screenshots("ticket-callback-called-early").await;
    c.close().await;
    a.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_opens_a_ticket_from_a_call_by_a_known_number() {
    let Some(mut s) = Session::start("agent_opens_a_ticket_from_a_call_by_a_known_number").await
    else {
        return;
    };
    let earlier = s
        .desk
        .ticket(
            "Billing address",
            BOB,
            "Please change my address.",
            json!({}),
        )
        .await;
    let bob = s.desk.give_number(&earlier, "+44 20 7946 0958").await;

    let a = s.browser().await;
    a.login(SAM.0).await;
    a.click("#new-call-link").await;
    a.fill("#call-lookup input[name=phone]", "020 7946 0958")
        .await;
    a.click("#call-lookup button").await;
    // The number is Bob's: he is picked.
    let picked = a.wait_for(&format!("#caller input[value='{bob}']")).await;
    assert!(picked.is_selected().await.unwrap_or(false), "Bob is picked");
    a.select("#call-ticket-form select[name=direction]", "inbound")
        .await;
    a.select("#call-ticket-form select[name=outcome]", "answered")
        .await;
    a.fill("#call-ticket-form input[name=duration]", "6:00")
        .await;
    a.fill(
        "#call-ticket-form textarea[name=notes]",
        "Wants the invoice split across two cost centres.",
    )
    .await;
    a.screenshots("call-new").await;
    a.click("#create-from-call").await;
    let page = a.wait_for_path(|p| p.starts_with("/t/"), "/t/…").await;
    let ticket: i64 = page
        .trim_start_matches("/t/")
        .split('#')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("a ticket id");
    let made = s.desk.get_ticket(ticket).await;
    assert_eq!(made["customer"]["id"], bob, "{made}");
    assert_eq!(made["channel"], "phone");
    assert_eq!(made["status"], "open", "an answered call is an answer");

    // A second call, logged on the ticket page: voicemail, two minutes.
    a.click("#log-call summary").await;
    a.select("#log-call-form select[name=outcome]", "voicemail")
        .await;
    a.fill("#log-call-form input[name=duration]", "2:00").await;
    a.fill(
        "#log-call-form textarea[name=notes]",
        "Left a message about the split.",
    )
    .await;
    a.click("#log-call-submit").await;
    a.wait_for_text("#calls .call", "2:00").await;
    assert_eq!(a.all("#calls .call").await.len(), 2);
    a.wait_for_text(".message.kind-note", "Left a message about the split.")
        .await;
    a.screenshots("ticket-calls").await;
    // Bob's page lists both calls.
    a.goto(&format!("/customers/{bob}")).await;
    a.wait_for("#customer-calls .call").await;
    assert_eq!(a.all("#customer-calls .call").await.len(), 2);
    a.close().await;
}
