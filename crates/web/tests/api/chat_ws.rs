//! The chat WebSocket protocol over a real socket, on both databases: ordering with agent
//! replies interleaved, acknowledgements and resends, resuming, bad frames, the walls between
//! visitors (tokens, forged tokens, typed addresses, verified identities), limits.

use super::*;
use futures::{SinkExt as _, StreamExt as _};
use rapport_core::Millis;
use rapport_store::ChatWidgetPatch;
use std::collections::HashSet;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Ws {
    socket: Socket,
}

/// The first inbox, open around the clock and of no team (so "online" means any agent is).
async fn inbox_id(store: &Arc<dyn Store>) -> i64 {
    use rapport_core::calendar::{CalendarConfig, IntervalConfig, WeekConfig};
    let id = store.list_inboxes().await.unwrap()[0].id;
    let all_day = vec![IntervalConfig::new("00:00", "24:00")];
    let hours = CalendarConfig {
        time_zone: "UTC".into(),
        hours: WeekConfig::from_days(std::array::from_fn(|_| all_day.clone())),
        holidays: vec![],
    };
    let patch = rapport_store::InboxPatch {
        business_hours: Some(hours),
        team_id: Some(None),
        ..Default::default()
    };
    let ctx = Ctx {
        actor: Actor::SYSTEM,
        at: rapport_web::now(),
    };
    store.update_inbox(ctx, id, patch).await.unwrap();
    let on = rapport_store::ChatWidgetPatch {
        enabled: Some(true),
        ..Default::default()
    };
    store.update_chat_widget(ctx, id, on).await.unwrap();
    id
}

impl Ws {
    async fn open(s: &Server, inbox: i64, origin: Option<&str>) -> Result<Ws, u16> {
        let url = format!(
            "{}/widget/ws?inbox={inbox}",
            s.base.replacen("http", "ws", 1)
        );
        let mut request = url.into_client_request().unwrap();
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(Ws { socket }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(e) => panic!("cannot connect: {e}"),
        }
    }

    /// Connects and says hello; returns the socket and the welcome.
    async fn hello(s: &Server, inbox: i64, hello: Value) -> (Ws, Value) {
        let mut ws = Ws::open(s, inbox, None).await.unwrap();
        let mut frame = json!({"type": "hello", "token": null, "after": 0, "email": "ann@example.com", "name": "Ann"});
        for (k, v) in hello.as_object().unwrap() {
            frame[k] = v.clone();
        }
        ws.send(frame).await;
        let welcome = ws.next_of("welcome").await;
        (ws, welcome)
    }

    async fn send(&mut self, frame: Value) {
        self.socket
            .send(Message::text(frame.to_string()))
            .await
            .unwrap();
    }

    async fn send_raw(&mut self, message: Message) {
        self.socket.send(message).await.unwrap();
    }

    /// The next text frame as JSON (panics after 10 s without one).
    async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("a frame within 10 s")
                .expect("the socket is open")
                .unwrap();
            match message {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                Message::Close(frame) => {
                    return json!({"type": "closed", "code": frame.map(|f| u16::from(f.code))});
                }
                _ => continue,
            }
        }
    }

    async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next().await;
            if frame["type"] == kind {
                return frame;
            }
            assert_ne!(frame["type"], "error", "waiting for {kind}: {frame}");
        }
    }

    /// Collects message frames until `count` arrived; other frames go to `others`.
    async fn messages(&mut self, count: usize, others: &mut Vec<Value>) -> Vec<Value> {
        let mut messages = Vec::new();
        while messages.len() < count {
            let frame = self.next().await;
            if frame["type"] == "message" {
                messages.push(frame);
            } else {
                others.push(frame);
            }
        }
        messages
    }

    /// Nothing more arrives for a moment (the connection answers a ping with only a pong).
    async fn quiet(&mut self) -> Vec<Value> {
        self.send(json!({"type": "ping"})).await;
        let mut before = Vec::new();
        loop {
            let frame = self.next().await;
            if frame["type"] == "pong" {
                return before;
            }
            before.push(frame);
        }
    }
}

fn message(client_id: &str, body: &str) -> Value {
    json!({"type": "message", "client_id": client_id, "body": body})
}

async fn reply(s: &Server, ticket: i64, body: &str) -> i64 {
    let (status, m) = s
        .post(
            &format!("/api/v1/tickets/{ticket}/messages"),
            json!({"body": body, "public": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    m["id"].as_i64().unwrap()
}

fn seqs(frames: &[Value]) -> Vec<i64> {
    frames.iter().map(|f| f["seq"].as_i64().unwrap()).collect()
}

async fn messages_arrive_in_order_with_acks(store: Arc<dyn Store>) {
    let inbox = inbox_id(&store).await;
    let s = Server::start(store.clone()).await;
    let (mut ws, welcome) = Ws::hello(&s, inbox, json!({})).await;
    assert_eq!(welcome["conversation"], Value::Null);
    assert!(welcome["token"].as_str().unwrap().len() > 32);
    // Open around the clock with agents online (new agents are).
    assert_eq!(welcome["online"], true);
    assert!(welcome["expected"].is_string());

    ws.send(message("c0", "My router keeps dropping")).await;
    let ack = ws.next_of("ack").await;
    assert_eq!(ack["client_id"], "c0");
    let ticket = ack["conversation"].as_i64().unwrap();
    // Visitor messages and agent replies interleaved.
    let mut replies = Vec::new();
    for i in 1..15 {
        ws.send(message(&format!("c{i}"), &format!("message {i}")))
            .await;
        if i % 5 == 0 {
            replies.push(reply(&s, ticket, &format!("<b>reply</b> {i}")).await);
        }
    }
    let mut others = Vec::new();
    let frames = ws.messages(15 + replies.len(), &mut others).await;
    let order = seqs(&frames);
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "in seq order: {order:?}"
    );
    for r in &replies {
        assert!(order.contains(r));
    }
    // Acks come in the order the messages were sent, each with its message's seq.
    others.extend(ws.quiet().await);
    let acks: Vec<&Value> = others.iter().filter(|f| f["type"] == "ack").collect();
    let acked: Vec<String> = std::iter::once("c0".to_string())
        .chain(
            acks.iter()
                .map(|a| a["client_id"].as_str().unwrap().to_string()),
        )
        .collect();
    assert_eq!(acked, (0..15).map(|i| format!("c{i}")).collect::<Vec<_>>());
    for a in &acks {
        let own = frames
            .iter()
            .find(|f| f["client_id"] == a["client_id"])
            .unwrap();
        assert_eq!(own["seq"], a["seq"]);
        assert_eq!(own["from"], "visitor");
    }
    // Agent HTML never reaches the widget as markup: the body is the plain text as written.
    let agent = frames.iter().find(|f| f["from"] == "agent").unwrap();
    assert_eq!(agent["body"], "<b>reply</b> 5");
    assert_eq!(agent["conversation"], ticket);
    assert!(agent.get("client_id").is_none());

    // A second tab with the same token gets the whole conversation, in order, once.
    let token = welcome["token"].clone();
    let (mut tab, welcome2) = Ws::hello(&s, inbox, json!({"token": token})).await;
    assert_eq!(welcome2["conversation"]["id"], ticket);
    assert_eq!(welcome2["token"], token);
    let replay = tab.messages(frames.len(), &mut Vec::new()).await;
    assert_eq!(seqs(&replay), order);
    // …and stays in sync: a message in the first tab shows in the second.
    ws.send(message("c15", "from tab one")).await;
    let synced = tab.next_of("message").await;
    assert_eq!(synced["client_id"], "c15");
    assert!(tab.quiet().await.is_empty());
    s.stop().await;
}

async fn a_second_tab_follows_a_conversation_started_in_the_first(store: Arc<dyn Store>) {
    let inbox = inbox_id(&store).await;
    let s = Server::start(store.clone()).await;
    let (mut first, welcome) = Ws::hello(&s, inbox, json!({})).await;
    // The second tab opens before there is any conversation.
    let (mut second, w) = Ws::hello(&s, inbox, json!({"token": welcome["token"]})).await;
    assert_eq!(w["conversation"], Value::Null);
    first.send(message("f1", "Started in the first tab")).await;
    let ticket = first.next_of("ack").await["conversation"].clone();
    let seen = second.next_of("message").await;
    assert_eq!(
        (seen["client_id"].clone(), seen["conversation"].clone()),
        (json!("f1"), ticket.clone())
    );
    let answer = reply(&s, ticket.as_i64().unwrap(), "Hello both tabs").await;
    assert_eq!(second.next_of("message").await["seq"], answer);
    assert_eq!(first.next_of("message").await["client_id"], "f1");
    assert_eq!(first.next_of("message").await["seq"], answer);
    // Another visitor's tab waiting for a conversation hears nothing of it.
    let (mut stranger, _) = Ws::hello(&s, inbox, json!({})).await;
    first.send(message("f2", "more")).await;
    first.next_of("ack").await;
    assert!(stranger.quiet().await.is_empty());
    s.stop().await;
}

async fn resends_and_resumes_lose_and_repeat_nothing(store: Arc<dyn Store>) {
    let inbox = inbox_id(&store).await;
    let s = Server::start(store.clone()).await;
    let (mut ws, welcome) = Ws::hello(&s, inbox, json!({})).await;
    ws.send(message("m1", "Parcel missing")).await;
    let ack = ws.next_of("ack").await;
    let (ticket, seq) = (
        ack["conversation"].as_i64().unwrap(),
        ack["seq"].as_i64().unwrap(),
    );
    let own = ws.next_of("message").await;
    assert_eq!(own["seq"], seq);
    drop(ws);

    // While the visitor is gone an agent answers; on return they get only what they missed.
    let answer = reply(&s, ticket, "We are looking into it.").await;
    let token = welcome["token"].clone();
    let (mut back, welcome) = Ws::hello(&s, inbox, json!({"token": token, "after": seq})).await;
    assert_eq!(welcome["conversation"]["id"], ticket);
    assert_eq!(welcome["conversation"]["ref"], format!("R-{ticket}"));
    let missed = back.next_of("message").await;
    assert_eq!(missed["seq"], answer);
    assert_eq!(missed["author"], "agent@example.com");
    // The frame sent before the drop, sent again: the same message, not a second one.
    back.send(message("m1", "Parcel missing")).await;
    let again = back.next_of("ack").await;
    assert_eq!(again["seq"], seq);
    assert!(back.quiet().await.is_empty(), "nothing new to show");
    let (_, list) = s.get(&format!("/api/v1/tickets/{ticket}/messages")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let t = store.ticket(ticket).await.unwrap();
    assert_eq!(t.channel, rapport_core::Channel::Chat);
    assert_eq!(t.subject, "Parcel missing");
    s.stop().await;
}

async fn bad_frames_get_errors_and_change_nothing(store: Arc<dyn Store>) {
    let inbox = inbox_id(&store).await;
    let s = Server::start(store.clone()).await;
    let mut ws = Ws::open(&s, inbox, None).await.unwrap();
    ws.send(message("x", "too early")).await;
    assert_eq!(ws.next().await["code"], "hello_first");
    // A name of a page's length is refused at hello (it would travel in presence notes).
    ws.send(json!({"type": "hello", "token": null, "after": 0, "name": "N".repeat(300)}))
        .await;
    let refused = ws.next().await;
    assert_eq!(refused["code"], "invalid", "{refused}");
    assert!(
        refused["detail"].as_str().unwrap_or("").contains("name"),
        "{refused}"
    );
    ws.send(json!({"type": "hello", "token": null, "after": 0, "email": "ann@example.com"}))
        .await;
    ws.next_of("welcome").await;
    let cases: Vec<(Message, &str)> = vec![
        (Message::text("x".repeat(17 * 1024)), "too_large"),
        (Message::binary(vec![1, 2, 3]), "malformed"),
        (Message::text("{\"type\": "), "malformed"),
        (Message::text("[1, 2]"), "invalid"),
        (Message::text("{\"type\": \"dance\"}"), "unknown_type"),
        (Message::text("{\"type\": \"message\"}"), "invalid"),
        (
            Message::text("{\"type\": \"message\", \"client_id\": \"k\"}"),
            "invalid",
        ),
        (
            Message::text(json!({"type": "message", "client_id": "k", "body": ""}).to_string()),
            "invalid",
        ),
        (
            Message::text(
                json!({"type": "message", "client_id": "k", "body": "a".repeat(4001)}).to_string(),
            ),
            "invalid",
        ),
        (
            Message::text(
                json!({"type": "message", "client_id": "k".repeat(65), "body": "hi"}).to_string(),
            ),
            "invalid",
        ),
    ];
    for (frame, code) in cases {
        ws.send_raw(frame).await;
        let error = ws.next().await;
        assert_eq!(
            (error["type"].as_str(), error["code"].as_str()),
            (Some("error"), Some(code)),
            "{error}"
        );
        assert!(error["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    // Another visitor's conversation: not found, nothing stored.
    let (mut other, _) = Ws::hello(&s, inbox, json!({"email": "bob@example.com"})).await;
    other.send(message("b1", "Bob's problem")).await;
    let bobs = other.next_of("ack").await["conversation"].as_i64().unwrap();
    ws.send(
        json!({"type": "message", "client_id": "k2", "body": "let me in", "conversation": bobs}),
    )
    .await;
    let refused = ws.next().await;
    assert_eq!(
        (refused["code"].clone(), refused["client_id"].clone()),
        (json!("not_found"), json!("k2"))
    );
    let (_, list) = s.get(&format!("/api/v1/tickets/{bobs}/messages")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // The connection is still usable…
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(ws.next().await["type"], "pong");
    ws.send(message("k3", "fine now")).await;
    assert_eq!(ws.next_of("ack").await["client_id"], "k3");
    // …until the client keeps abusing it.
    for _ in 0..30 {
        if ws.socket.send(Message::text("nonsense")).await.is_err() {
            break;
        }
    }
    let mut closed = None;
    for _ in 0..40 {
        let frame = ws.next().await;
        if frame["type"] == "closed" {
            closed = Some(frame["code"].clone());
            break;
        }
    }
    assert_eq!(closed, Some(json!(1008)));
    s.stop().await;
}

async fn visitors_never_see_each_others_conversations(store: Arc<dyn Store>) {
    let inbox = inbox_id(&store).await;
    let s = Server::start(store.clone()).await;
    let (mut ann, ann_welcome) = Ws::hello(&s, inbox, json!({})).await;
    ann.send(message("a1", "Ann's private matter")).await;
    let ann_chat = ann.next_of("ack").await["conversation"].as_i64().unwrap();

    // A new visitor typing Ann's address: a new visitor, nothing of Ann's.
    let (mut eve, eve_welcome) = Ws::hello(&s, inbox, json!({"email": "ann@example.com"})).await;
    assert_eq!(eve_welcome["conversation"], Value::Null);
    assert_ne!(eve_welcome["token"], ann_welcome["token"]);
    assert!(eve.quiet().await.is_empty());
    // A forged token (Ann's visitor id, another signature): refused, a new visitor.
    let ann_token = ann_welcome["token"].as_str().unwrap();
    let (visitor_id, _) = ann_token.split_once('.').unwrap();
    let forged = format!("{visitor_id}.{}", "0".repeat(64));
    let (mut forger, forged_welcome) = Ws::hello(&s, inbox, json!({"token": forged})).await;
    assert_eq!(forged_welcome["conversation"], Value::Null);
    assert!(
        !forged_welcome["token"]
            .as_str()
            .unwrap()
            .starts_with(visitor_id)
    );
    assert!(forger.quiet().await.is_empty());
    // Ann's own token works.
    let (mut ann2, w) = Ws::hello(&s, inbox, json!({"token": ann_token})).await;
    assert_eq!(w["conversation"]["id"], ann_chat);
    assert_eq!(
        ann2.next_of("message").await["body"],
        "Ann's private matter"
    );

    // Identity verification: the host site's hash of Carol's address makes any browser Carol.
    let secret = store
        .chat_widget(inbox, Millis(0))
        .await
        .unwrap()
        .identity_secret;
    let hash = rapport_web::chat::identity_hash(&secret, "carol@example.com");
    let identity = json!({"email": "Carol@Example.com", "name": "Carol", "hash": hash});
    let (mut phone, w) = Ws::hello(&s, inbox, json!({"identity": identity, "email": null})).await;
    assert_eq!(w["verified"], true);
    phone.send(message("p1", "Order 77 is late")).await;
    let carol_chat = phone.next_of("ack").await["conversation"].as_i64().unwrap();
    let (mut laptop, w) = Ws::hello(&s, inbox, json!({"identity": identity})).await;
    assert_eq!(w["conversation"]["id"], carol_chat);
    assert_eq!(laptop.next_of("message").await["body"], "Order 77 is late");
    // A wrong hash: told so, and chatting unverified (Carol's conversation stays hidden).
    let wrong = json!({"email": "carol@example.com", "hash": "00".repeat(32)});
    let mut mallory = Ws::open(&s, inbox, None).await.unwrap();
    mallory
        .send(json!({"type": "hello", "token": null, "after": 0, "identity": wrong}))
        .await;
    assert_eq!(mallory.next().await["code"], "invalid");
    let w = mallory.next_of("welcome").await;
    assert_eq!(
        (w["verified"].clone(), w["conversation"].clone()),
        (json!(false), Value::Null)
    );
    assert!(mallory.quiet().await.is_empty());
    // And the verified customer is the ticket's customer.
    let t = store.ticket(carol_chat).await.unwrap();
    assert_eq!(t.customer.email.as_deref(), Some("carol@example.com"));
    s.stop().await;
}

async fn limits_hold(store: Arc<dyn Store>) {
    let inbox = inbox_id(&store).await;
    let s = Server::start(store.clone()).await;
    let (mut ws, _) = Ws::hello(&s, inbox, json!({})).await;
    for i in 0..21 {
        ws.send(message(&format!("r{i}"), "spam")).await;
    }
    let mut acks = 0;
    let mut limited = None;
    while acks + usize::from(limited.is_some()) < 21 {
        let frame = ws.next().await;
        match frame["type"].as_str() {
            Some("ack") => acks += 1,
            Some("error") => limited = Some(frame),
            _ => {}
        }
    }
    let limited = limited.unwrap();
    assert_eq!(
        (limited["code"].clone(), limited["client_id"].clone()),
        (json!("rate_limited"), json!("r20"))
    );
    assert_eq!(acks, 20);
    let ticket = store
        .list_tickets(&Default::default(), rapport_store::PageRequest::first(10))
        .await
        .unwrap()
        .items[0]
        .id;
    let (_, list) = s.get(&format!("/api/v1/tickets/{ticket}/messages")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 20);

    // Allowed origins: another site may not open the widget.
    store
        .update_chat_widget(
            Ctx {
                actor: Actor::SYSTEM,
                at: rapport_web::now(),
            },
            inbox,
            ChatWidgetPatch {
                allowed_origins: Some("https://shop.example".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        Ws::open(&s, inbox, Some("https://evil.example"))
            .await
            .err(),
        Some(403)
    );
    assert!(
        Ws::open(&s, inbox, Some("https://shop.example"))
            .await
            .is_ok()
    );
    // Unknown inboxes and disabled widgets are not there; a bad id is named.
    assert_eq!(Ws::open(&s, 999, None).await.err(), Some(404));
    let resp = s
        .client
        .get(format!("{}/widget/ws?inbox=x", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = resp.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("inbox"),
        "{problem}"
    );

    s.stop().await;
}

async fn offline_visitors_must_leave_an_address(store: Arc<dyn Store>) {
    let inbox = inbox_id(&store).await;
    let s = Server::start(store.clone()).await;
    // Nobody available (asked before anyone connects: the answer is cached for seconds).
    for agent in store.list_agents().await.unwrap() {
        store
            .set_availability(
                Ctx {
                    actor: Actor::agent(agent.id),
                    at: rapport_web::now(),
                },
                agent.id,
                rapport_core::routing::Availability::Offline,
            )
            .await
            .unwrap();
    }
    let config: Value = s
        .client
        .get(format!("{}/widget/config?inbox={inbox}", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["online"], false);
    assert!(config["expected"].as_str().is_some_and(|e| !e.is_empty()));
    let mut anonymous = Ws::open(&s, inbox, None).await.unwrap();
    anonymous
        .send(json!({"type": "hello", "token": null, "after": 0}))
        .await;
    let w = anonymous.next_of("welcome").await;
    assert_eq!(w["online"], false);
    anonymous.send(message("o1", "anyone?")).await;
    assert_eq!(anonymous.next().await["code"], "email_required");
    // The transcript needs an address too; with one it is sent.
    anonymous.send(json!({"type": "transcript"})).await;
    assert_eq!(anonymous.next().await["code"], "not_found");
    s.stop().await;
}

async fn transcripts_are_emailed_on_request(store: Arc<dyn Store>) {
    let inbox = inbox_id(&store).await;
    let s = Server::start(store.clone()).await;
    let (mut ws, _) = Ws::hello(&s, inbox, json!({"email": null})).await;
    ws.send(message("t1", "Question about billing")).await;
    let ticket = ws.next_of("ack").await["conversation"].as_i64().unwrap();
    ws.send(json!({"type": "transcript"})).await;
    let refused = ws.next_of("error").await;
    assert_eq!(refused["code"], "email_required");
    ws.send(json!({"type": "transcript", "email": "ann@example.com"}))
        .await;
    assert_eq!(
        ws.next_of("transcript_sent").await["email"],
        "ann@example.com"
    );
    let emails = store.ticket_emails(ticket).await.unwrap();
    assert_eq!(emails.len(), 1);
    let seen: HashSet<String> = emails.iter().map(|e| e.recipient.clone()).collect();
    assert!(seen.contains("ann@example.com"));
    s.stop().await;
}

/// A widget is off until an admin turns it on; only admins see or change its settings.
async fn widgets_are_off_until_an_admin_turns_them_on(store: Arc<dyn Store>) {
    let id = store.list_inboxes().await.unwrap()[0].id;
    let s = Server::start(store.clone()).await;
    let path = format!("/api/v1/inboxes/{id}/chat");
    let (code, _, widget) = s.call(Method::GET, &path, Some(&s.admin), None).await;
    assert_eq!(code, StatusCode::OK, "{widget}");
    assert_eq!(widget["enabled"], false);
    assert!(widget.get("identity_secret").is_none(), "{widget}");
    assert_eq!(Ws::open(&s, id, None).await.err(), Some(404));

    let (code, _) = s.patch(&path, json!({"enabled": true})).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "agents may not open a widget");
    let (code, _, bad) = s
        .as_admin(Method::PATCH, &path, json!({"accent": "red"}))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.to_string().contains("accent"), "{bad}");
    let (code, _, _) = s
        .as_admin(
            Method::PATCH,
            "/api/v1/inboxes/999/chat",
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(
        !store.chat_widget(id, Millis(0)).await.unwrap().enabled,
        "nothing changed"
    );

    let on = json!({"enabled": true, "allowed_origins": ["https://shop.example"]});
    let (code, _, widget) = s.as_admin(Method::PATCH, &path, on).await;
    assert_eq!(code, StatusCode::OK, "{widget}");
    assert_eq!(widget["allowed_origins"], json!(["https://shop.example"]));
    assert!(Ws::open(&s, id, Some("https://shop.example")).await.is_ok());
    assert!(
        Ws::open(&s, id, Some("https://elsewhere.example"))
            .await
            .is_err()
    );
    s.stop().await;
}

rapport_store::on_both_backends!(
    widgets_are_off_until_an_admin_turns_them_on,
    messages_arrive_in_order_with_acks,
    a_second_tab_follows_a_conversation_started_in_the_first,
    resends_and_resumes_lose_and_repeat_nothing,
    bad_frames_get_errors_and_change_nothing,
    visitors_never_see_each_others_conversations,
    limits_hold,
    offline_visitors_must_leave_an_address,
    transcripts_are_emailed_on_request,
);
