//! Live chat in a real browser: a shop's page on another origin embeds `/widget.js`; a visitor
//! chats, an agent takes the chat from the queue and answers, and the visitor sees it live;
//! the visitor leaves and comes back (nothing lost, nothing twice); with nobody available the
//! widget says so honestly, asks for an address, and the agent's later answer arrives by email.

use super::*;

/// The widget's shadow root on the host page.
const ROOT: &str = "document.querySelector('#rapport-chat').shadowRoot";

/// A shop's web page on `localhost` (another origin than Rapport's `127.0.0.1`) embedding the
/// widget of `inbox`. Serves the same page for every path.
async fn host_page(rapport: &str, inbox: i64) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("host page port");
    let port = listener.local_addr().expect("address").port();
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Northwind Shop</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <style>body{{font-family:Georgia,serif;margin:40px;background:#fbf8f1}} button{{all:unset}}</style></head>\
         <body><h1>Northwind Shop</h1><p>Routers, modems and cables.</p><a id=\"away\" href=\"/other\">Other page</a>\
         <script src=\"{rapport}/widget.js\" data-inbox=\"{inbox}\" async></script></body></html>"
    );
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            let page = page.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://localhost:{port}")
}

async fn widget(b: &Browser, script: &str, args: Vec<Value>) -> Value {
    b.client
        .execute(script, args)
        .await
        .unwrap_or_else(|e| panic!("widget script {script}: {e}"))
}

/// Waits until `check` (a script returning a boolean) holds.
async fn wait_until(b: &Browser, check: &str, args: Vec<Value>, what: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if widget(b, check, args.clone()).await == Value::Bool(true) {
            return;
        }
        if Instant::now() >= deadline {
            let texts = texts(b, ".msg, .banner, .note").await;
            b.fail(&format!("the widget never {what}; it shows {texts:?}"))
                .await;
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn texts(b: &Browser, css: &str) -> Vec<String> {
    let script = "const r = document.querySelector('#rapport-chat'); if (!r) return []; \
         return Array.from(r.shadowRoot.querySelectorAll(arguments[0])).map(e => e.textContent);";
    widget(b, script, vec![json!(css)])
        .await
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn click(b: &Browser, css: &str) {
    wait_until(
        b,
        "const r = document.querySelector('#rapport-chat'); return !!r && !!r.shadowRoot.querySelector(arguments[0]) \
         && !r.shadowRoot.querySelector(arguments[0]).closest('[hidden]');",
        vec![json!(css)],
        &format!("showed {css}"),
    )
    .await;
    widget(
        b,
        &format!("{ROOT}.querySelector(arguments[0]).click();"),
        vec![json!(css)],
    )
    .await;
}

/// Types into a field of the widget (the focused element inside the shadow root).
async fn fill(b: &Browser, css: &str, text: &str) {
    click(b, css).await;
    widget(
        b,
        &format!(
            "const e = {ROOT}.querySelector(arguments[0]); e.focus(); e.value = arguments[1]; \
             e.dispatchEvent(new Event('input', {{bubbles: true}}));"
        ),
        vec![json!(css), json!(text)],
    )
    .await;
}

async fn send(b: &Browser, text: &str) {
    fill(b, "#rc-text", text).await;
    click(b, "form[aria-label='Write a message'] button[type=submit]").await;
}

/// How many message bubbles contain `needle`.
async fn count(b: &Browser, needle: &str) -> usize {
    texts(b, ".msg")
        .await
        .iter()
        .filter(|t| t.contains(needle))
        .count()
}

async fn wait_for_message(b: &Browser, needle: &str) {
    wait_until(
        b,
        &format!(
            "return Array.from({ROOT}.querySelectorAll('.msg:not(.sending)')).some(e => e.textContent.includes(arguments[0]));"
        ),
        vec![json!(needle)],
        &format!("showed {needle:?}"),
    )
    .await;
}

/// The "Help" inbox, open around the clock and of `team` (none: any agent takes its chats).
async fn chat_inbox(desk: &Desk, admin: &str, team: Option<i64>) -> i64 {
    let (code, inboxes) = desk.api_as(admin, "GET", "/inboxes", Value::Null).await;
    assert_eq!(code, 200, "{inboxes}");
    let inboxes = inboxes["items"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| inboxes.as_array().cloned().unwrap_or_default());
    let id = inboxes
        .iter()
        .find(|i| i["name"] == "Help")
        .and_then(|i| i["id"].as_i64())
        .expect("the Help inbox");
    let all_day = json!([{"start": "00:00", "end": "24:00"}]);
    let week: serde_json::Map<String, Value> = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
    .iter()
    .map(|d| (d.to_string(), all_day.clone()))
    .collect();
    let (code, body) = desk
        .api_as(
            admin,
            "PATCH",
            &format!("/inboxes/{id}"),
            json!({
                "team_id": team,
                "human_contact": "+1 555 0100, Mon–Fri 9–17",
                "business_hours": {"time_zone": "UTC", "hours": week},
            }),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let path = format!("/inboxes/{id}/chat");
    let (code, body) = desk
        .api_as(admin, "PATCH", &path, json!({"enabled": true}))
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["enabled"], true);
    id
}

/// Opens the shop's page and the chat panel.
async fn open_widget(visitor: &Browser, shop: &str) {
    visitor
        .client
        .goto(&format!("{shop}/"))
        .await
        .expect("the shop");
    click(visitor, ".launch").await;
}

/// A session whose shop page embeds the always-open "Help" inbox's widget, and a visitor on
/// that page with the chat panel open. Returns the shop's address too.
async fn visitor_with_widget(name: &'static str) -> Option<(Session, Browser, String)> {
    let mut s = Session::start(name).await?;
    let admin = s.desk.admin_token().await;
    let inbox = chat_inbox(&s.desk, &admin, None).await;
    let shop = host_page(&s.desk.base(), inbox).await;
    let visitor = s.browser().await;
    open_widget(&visitor, &shop).await;
    Some((s, visitor, shop))
}

/// A public reply through the API (as any agent tool writes one).
async fn public_reply(desk: &Desk, ticket: i64, body: &str) {
    let (code, answer) = desk
        .api(
            "POST",
            &format!("/tickets/{ticket}/messages"),
            Some(json!({"body": body, "public": true})),
        )
        .await;
    assert_eq!(code, 201, "{answer}");
}

/// The chat ticket whose subject starts with `words`, once it exists.
async fn chat_ticket(desk: &Desk, words: &str) -> i64 {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (code, list) = desk.api("GET", "/tickets?limit=100", None).await;
        assert_eq!(code, 200, "{list}");
        if let Some(id) = list["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|t| {
                    t["channel"] == "chat"
                        && t["subject"].as_str().is_some_and(|s| s.starts_with(words))
                })
                .and_then(|t| t["id"].as_i64())
        }) {
            return id;
        }
        if Instant::now() >= deadline {
            panic!("no chat ticket {words:?}: {list}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A visitor chats, an agent takes it from the queue and answers live; the visitor leaves and
/// returns to find the conversation whole, each message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_chats_and_an_agent_answers_live() {
    let Some((mut s, visitor, shop)) =
        visitor_with_widget("a_visitor_chats_and_an_agent_answers_live").await
    else {
        return;
    };
    // A new visitor meets the pre-chat form; the launcher says what it does.
    wait_until(
        &visitor,
        &format!(
            "return {ROOT}.querySelector('.launch').getAttribute('aria-expanded') === 'true';"
        ),
        vec![],
        "opened",
    )
    .await;
    fill(&visitor, "#rc-name", "Vera").await;
    fill(&visitor, "#rc-email", "vera@shop.example").await;
    click(
        &visitor,
        "form[aria-label='Before we start'] button[type=submit]",
    )
    .await;
    send(&visitor, "My modem blinks red since this morning").await;
    wait_for_message(&visitor, "My modem blinks red").await;
    let ticket = chat_ticket(&s.desk, "My modem blinks red").await;

    // Sam sees it waiting in the chat queue, takes it, and answers on the ticket page.
    let agent = s.browser().await;
    agent.login(SAM.0).await;
    agent.goto("/chats").await;
    agent
        .wait_for_text(&format!("tr.chat-row[data-ticket='{ticket}']"), "Vera")
        .await;
    agent.screenshots("chat-queue").await;
    agent
        .click(&format!(
            "tr.chat-row[data-ticket='{ticket}'] button.chat-take"
        ))
        .await;
    agent
        .wait_for_path(|p| p == format!("/t/{ticket}"), "the ticket page")
        .await;
    agent
        .wait_for_text("#conversation", "My modem blinks red")
        .await;
    // The visitor writes again; it shows on the agent's page without a reload.
    send(&visitor, "It is the DSL light").await;
    agent
        .wait_for_text("#conversation", "It is the DSL light")
        .await;
    // Typing shows both ways: the visitor's on the ticket page, the agent's in the widget.
    // (The widget reports typing at most every 3 seconds, so keep typing until it shows.)
    let deadline = Instant::now() + PATIENCE;
    loop {
        fill(&visitor, "#rc-text", "Also").await;
        if agent
            .texts("#presence")
            .await
            .iter()
            .any(|t| t.contains("Vera (chat)"))
        {
            break;
        }
        if Instant::now() >= deadline {
            agent.fail("the visitor's typing never showed").await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    fill(&visitor, "#rc-text", "").await;
    agent
        .fill(
            "form#reply textarea[name=body]",
            "Thanks Vera — please unplug it for ten seconds.",
        )
        .await;
    wait_until(
        &visitor,
        &format!(
            "return {ROOT}.querySelector('.typing').textContent.includes('Sam Reyes is typing');"
        ),
        vec![],
        "showed the agent typing",
    )
    .await;
    agent
        .click("form#reply button[name=kind][value=reply]")
        .await;
    wait_for_message(&visitor, "unplug it for ten seconds").await;
    let owner = s.desk.get_ticket(ticket).await["assignee_id"].clone();
    assert_eq!(owner, json!(s.desk.agent_id(SAM.0).await));
    visitor.resize(DESKTOP).await;
    visitor.screenshot("chat-widget-desktop").await;
    visitor.resize(PHONE).await;
    visitor.screenshot("chat-widget-phone").await;
    visitor.resize(DESKTOP).await;

    // The visitor's connection goes (they leave the page); Sam answers meanwhile; they come back.
    visitor
        .client
        .goto(&format!("{shop}/other"))
        .await
        .expect("away");
    public_reply(&s.desk, ticket, "Is the light green now?").await;
    visitor
        .client
        .goto(&format!("{shop}/"))
        .await
        .expect("back");
    wait_for_message(&visitor, "Is the light green now?").await;
    for needle in [
        "My modem blinks red",
        "It is the DSL light",
        "unplug it for ten seconds",
        "Is the light green now?",
    ] {
        assert_eq!(count(&visitor, needle).await, 1, "{needle} once");
    }
    // The message list announces new messages to screen readers.
    let log = widget(&visitor, &format!("const l = {ROOT}.querySelector('.log'); return [l.getAttribute('role'), l.getAttribute('aria-live')];"), vec![]).await;
    assert_eq!(log, json!(["log", "polite"]));
    // The conversation is one ticket with every message once.
    assert_eq!(s.desk.messages(ticket).await.len(), 4);
    visitor.close().await;
    agent.close().await;
}

/// Nobody available: the widget says so, gives the expected answer time and the way to a
/// person, requires an address, and the agent's later answer reaches the visitor by email.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_chats_continue_by_email() {
    let Some(mut s) = Session::start("offline_chats_continue_by_email").await else {
        return;
    };
    let admin = s.desk.admin_token().await;
    // A team nobody is in: nobody can take this inbox's chats.
    let (code, team) = s
        .desk
        .api_as(
            &admin,
            "POST",
            "/teams",
            json!({"name": "Night shift", "description": ""}),
        )
        .await;
    assert_eq!(code, 201, "{team}");
    let inbox = chat_inbox(&s.desk, &admin, team["id"].as_i64()).await;
    let shop = host_page(&s.desk.base(), inbox).await;

    let visitor = s.browser().await;
    open_widget(&visitor, &shop).await;
    wait_until(
        &visitor,
        &format!("const b = {ROOT}.querySelector('.banner'); return !b.hidden && b.textContent.includes('not online');"),
        vec![],
        "said it is offline",
    )
    .await;
    let banner = texts(&visitor, ".banner").await.join(" ");
    assert!(
        banner.contains("We usually answer by") && banner.contains("+1 555 0100"),
        "{banner}"
    );
    visitor.screenshots("chat-widget-offline").await;
    // The address is required: without it the chat does not start.
    let required = widget(
        &visitor,
        &format!("return {ROOT}.querySelector('#rc-email').required;"),
        vec![],
    )
    .await;
    assert_eq!(required, json!(true));
    fill(&visitor, "#rc-name", "Olga").await;
    fill(&visitor, "#rc-email", "olga@shop.example").await;
    click(
        &visitor,
        "form[aria-label='Before we start'] button[type=submit]",
    )
    .await;
    send(&visitor, "Invoice 4471 is charged twice").await;
    wait_for_message(&visitor, "Invoice 4471").await;
    let ticket = chat_ticket(&s.desk, "Invoice 4471").await;
    // The visitor leaves; later an agent answers, and the answer goes by email.
    visitor.client.goto("about:blank").await.expect("leave");
    visitor.close().await;
    // The server notices the closed socket at once; give its "visitor left" write a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    public_reply(&s.desk, ticket, "We refunded the second charge.").await;
    let mail = s
        .desk
        .wait_for_mail("olga@shop.example", "We refunded the second charge")
        .await;
    assert!(mail.contains(&format!("R-{ticket}")), "{mail}");
}

/// A visitor asks for a call back from the widget: the widget reads back the reference and
/// the window the desk understood, and the request waits in the agents' callback queue with
/// the visitor's number to dial.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_requests_a_call_back_from_the_widget() {
    let Some((mut s, visitor, _)) =
        visitor_with_widget("a_visitor_requests_a_call_back_from_the_widget").await
    else {
        return;
    };
    click(&visitor, ".tools button[aria-expanded]").await;
    wait_until(
        &visitor,
        &format!(
            "const b = {ROOT}.querySelector('.tools button[aria-expanded]'); \
             return b.getAttribute('aria-expanded') === 'true' && {ROOT}.activeElement === {ROOT}.querySelector('#rc-cb-name');"
        ),
        vec![],
        "opened the call-back form with the name focused",
    )
    .await;
    // The chat's own forms step aside while the visitor asks for a call.
    let chat_forms = widget(
        &visitor,
        &format!(
            "return Array.from({ROOT}.querySelectorAll('.chat-only')).map(e => getComputedStyle(e).display);"
        ),
        vec![],
    )
    .await;
    assert!(
        chat_forms
            .as_array()
            .is_some_and(|d| !d.is_empty() && d.iter().all(|d| d == "none")),
        "{chat_forms}"
    );
    // Tomorrow in the visitor's own zone, which the widget sends along.
    let local = widget(
        &visitor,
        "const d = new Date(Date.now() + 86400000); \
         const pad = n => String(n).padStart(2, '0'); \
         return [d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()), \
                 Intl.DateTimeFormat().resolvedOptions().timeZone];",
        vec![],
    )
    .await;
    let (Some(date), Some(zone)) = (local[0].as_str(), local[1].as_str()) else {
        panic!("the visitor's date and zone: {local}");
    };
    fill(&visitor, "#rc-cb-name", "Rita Gomez").await;
    fill(&visitor, "#rc-cb-phone", "+1 415 555 0142").await;
    fill(&visitor, "#rc-cb-date", date).await;
    fill(&visitor, "#rc-cb-from", "10:00").await;
    fill(&visitor, "#rc-cb-to", "12:30").await;
    fill(&visitor, "#rc-cb-note", "About moving our line").await;
    visitor.screenshots("chat-widget-callback-form").await;
    click(
        &visitor,
        "form[aria-label='Request a call back'] button[type=submit]",
    )
    .await;

    // The desk has it: one scheduled callback from the widget with the visitor's number.
    let deadline = Instant::now() + PATIENCE;
    let callback = loop {
        let (code, list) = s.desk.api("GET", "/callbacks?filter=all", None).await;
        assert_eq!(code, 200, "{list}");
        let items = list["items"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| list.as_array().cloned().unwrap_or_default());
        if let Some(found) = items.into_iter().find(|c| c["number"] == "+1 415 555 0142") {
            break found;
        }
        if Instant::now() >= deadline {
            visitor
                .fail(&format!("no callback in the queue: {list}"))
                .await;
        }
        tokio::time::sleep(POLL).await;
    };
    assert_eq!(callback["origin"], "chat", "{callback}");
    assert_eq!(callback["time_zone"], zone, "{callback}");
    let reference = callback["reference"]
        .as_str()
        .expect("a reference")
        .to_string();
    let ticket = callback["ticket_id"].as_i64().expect("a ticket");

    // The widget reads back what was understood: number, window in the visitor's zone, and
    // the reference to quote; the form closes.
    wait_until(
        &visitor,
        &format!("const c = {ROOT}.querySelector('.confirm'); return !c.hidden && c.textContent.includes(arguments[0]);"),
        vec![json!(reference)],
        "read back the reference",
    )
    .await;
    let readback = texts(&visitor, ".confirm").await.join(" ");
    for needle in ["+1 415 555 0142", "10:00–12:30", zone, &reference] {
        assert!(readback.contains(needle), "{needle:?} in {readback:?}");
    }
    let form_hidden = widget(
        &visitor,
        &format!(
            "return [{ROOT}.querySelector(\"form[aria-label='Request a call back']\").hidden, \
             {ROOT}.querySelector('.tools button[aria-expanded]').getAttribute('aria-expanded')];"
        ),
        vec![],
    )
    .await;
    assert_eq!(form_hidden, json!([true, "false"]));
    visitor.screenshots("chat-widget-callback-readback").await;

    // Sam finds it in the callback queue, the number ready to dial.
    let agent = s.browser().await;
    agent.login(SAM.0).await;
    agent.goto("/callbacks").await;
    let row = format!("li.callback-row[data-ticket='{ticket}']");
    agent.wait_for_text(&row, "Rita Gomez").await;
    assert_eq!(
        agent.text(&format!("{row} a.dial")).await.trim(),
        "+1 415 555 0142"
    );
    assert_eq!(
        agent
            .attr(&format!("{row} a.dial"), "href")
            .await
            .as_deref(),
        Some("tel:+14155550142")
    );
    assert!(agent.text(&row).await.contains(&reference));
    visitor.close().await;
    agent.close().await;
}

/// Presses a key in whatever has the keyboard focus, as a person at the keyboard would.
async fn press(b: &Browser, key: fantoccini::key::Key) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let key = char::from(key);
    let actions = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    b.client
        .perform_actions(actions)
        .await
        .expect("press a key");
}

/// The id or class of the element focused inside the widget ("" when the focus is elsewhere).
async fn focused(b: &Browser) -> String {
    widget(
        b,
        &format!(
            "if (document.activeElement !== document.querySelector('#rapport-chat')) return ''; \
             const e = {ROOT}.activeElement; return e ? (e.id || e.className) : '';"
        ),
        vec![],
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// Keyboard and screen-reader basics: opening the panel moves the focus into it, Escape
/// closes it and gives the focus back to the launcher (which Enter opens again), and the
/// message list is a polite live log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_works_from_the_keyboard() {
    let Some((_desk_runs_while_this_lives, visitor, _)) =
        visitor_with_widget("the_widget_works_from_the_keyboard").await
    else {
        return;
    };
    wait_until(
        &visitor,
        &format!("return {ROOT}.activeElement === {ROOT}.querySelector('#rc-name');"),
        vec![],
        "moved the focus to the first field on opening",
    )
    .await;
    press(&visitor, fantoccini::key::Key::Escape).await;
    wait_until(
        &visitor,
        &format!(
            "return {ROOT}.querySelector('.panel').hidden && {ROOT}.activeElement === {ROOT}.querySelector('.launch');"
        ),
        vec![],
        "closed on Escape with the focus back on the launcher",
    )
    .await;
    assert_eq!(focused(&visitor).await, "launch");
    let expanded = widget(
        &visitor,
        &format!("return {ROOT}.querySelector('.launch').getAttribute('aria-expanded');"),
        vec![],
    )
    .await;
    assert_eq!(expanded, json!("false"));
    // Enter on the focused launcher opens the panel again, the focus inside it.
    press(&visitor, fantoccini::key::Key::Enter).await;
    wait_until(
        &visitor,
        &format!("return !{ROOT}.querySelector('.panel').hidden;"),
        vec![],
        "opened again on Enter",
    )
    .await;
    assert_eq!(focused(&visitor).await, "rc-name");
    let log = widget(
        &visitor,
        &format!(
            "const l = {ROOT}.querySelector('.log'); \
             return [l.getAttribute('role'), l.getAttribute('aria-live'), l.getAttribute('aria-label')];"
        ),
        vec![],
    )
    .await;
    assert_eq!(log, json!(["log", "polite", "Messages"]));
    let dialog = widget(
        &visitor,
        &format!(
            "const p = {ROOT}.querySelector('.panel'); return [p.getAttribute('role'), p.getAttribute('aria-label')];"
        ),
        vec![],
    )
    .await;
    assert_eq!(dialog, json!(["dialog", "Chat"]));
    visitor.close().await;
}
