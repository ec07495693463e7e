//! The phone channel over HTTP, on SQLite and PostgreSQL: calls (roles, 422s naming fields,
//! 404s), a ticket from a call, customers by number, callbacks and their queue, and the public
//! `POST /widget/callbacks` (CORS preflight, read-back, limits on size and rate).

use super::{Server, ticket_body};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

/// The field a 422 names.
fn field(p: &Value) -> &str {
    p["errors"][0]["field"].as_str().unwrap_or_default()
}

/// Tomorrow's date in UTC (`YYYY-MM-DD`): windows must lie ahead of the real clock.
pub(super) fn tomorrow() -> String {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    today.tomorrow().unwrap().to_string()
}

/// A callback window that is on now (opened ten minutes ago, ends in an hour): a call now
/// keeps it.
pub(super) fn window_on_now() -> rapport_core::phone::CallbackWindow {
    let at = rapport_web::now();
    rapport_core::phone::CallbackWindow::new(
        rapport_core::Millis(at.0 - 10 * 60_000),
        rapport_core::Millis(at.0 + 60 * 60_000),
        "Europe/Berlin",
        at,
    )
    .unwrap()
}

impl Server {
    async fn light_post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self
            .call(Method::POST, path, Some(&self.light), Some(body))
            .await;
        (s, v)
    }
}

async fn calls_over_http(store: Arc<dyn rapport_store::Store>) {
    let s = Server::start(store).await;
    let (_, t) = s
        .post("/api/v1/tickets", ticket_body("Router", "ann@example.com"))
        .await;
    let id = t["id"].as_i64().unwrap();
    let calls = format!("/api/v1/tickets/{id}/calls");
    let call = json!({"direction": "outbound", "number": "+49 30 1234567", "duration_seconds": 95,
                      "outcome": "answered", "notes": "Explained the bill"});
    let (status, logged) = s.post(&calls, call.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{logged}");
    assert_eq!(logged["number_canonical"], "+49301234567");
    assert_eq!(logged["agent_id"], s.agent_id);
    let (status, listed) = s.get(&calls).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let (_, ticket) = s.get(&format!("/api/v1/tickets/{id}")).await;
    assert_eq!(ticket["status"], "open", "an answered call is an answer");

    // Light agents write notes, never to the customer: no calls.
    let (status, p) = s.light_post(&calls, call.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{p}");
    // Bad values name their field; unknown tickets are 404.
    for (change, expected) in [
        (json!({"number": "ring ring"}), "number"),
        (json!({"outcome": "hung_up"}), "outcome"),
        (json!({"direction": "sideways"}), "direction"),
        (json!({"duration_seconds": -5}), "duration_seconds"),
        (json!({"started_at": "yesterday"}), "started_at"),
    ] {
        let mut body = call.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, p) = s.post(&calls, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert_eq!(field(&p), expected, "{p}");
    }
    let (status, _) = s.post("/api/v1/tickets/99999/calls", call.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.get("/api/v1/tickets/99999/calls").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A ticket from a call: an unknown number needs a name, then makes the customer, who is
    // found by number from then on.
    let from_call = json!({"call": {"direction": "inbound", "number": "0171 555 0101",
                                    "outcome": "answered", "duration_seconds": 300}});
    let (status, p) = s.post("/api/v1/calls", from_call.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "name");
    let mut named = from_call.clone();
    named["name"] = json!("Carl Caller");
    let (status, made) = s.post("/api/v1/calls", named).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["customer_created"], true);
    assert_eq!(made["ticket"]["channel"], "phone");
    assert_eq!(made["ticket"]["subject"], "Phone call from 0171 555 0101");
    let (status, found) = s.get("/api/v1/customers?phone=%2B49%20171%205550101").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["items"][0]["name"], "Carl Caller");
    assert_eq!(found["items"][0]["phone"], "0171 555 0101");
    let (status, again) = s.post("/api/v1/calls", from_call).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["customer_created"], false);
    assert_eq!(
        again["ticket"]["customer"]["id"],
        made["ticket"]["customer"]["id"]
    );
    let (status, p) = s.get("/api/v1/customers?phone=abc").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "phone");
    s.stop().await;
}

async fn callbacks_over_http(store: Arc<dyn rapport_store::Store>) {
    let s = Server::start(store.clone()).await;
    let (_, t) = s
        .post(
            "/api/v1/tickets",
            ticket_body("Contract", "ann@example.com"),
        )
        .await;
    let id = t["id"].as_i64().unwrap();
    let path = format!("/api/v1/tickets/{id}/callbacks");
    let body = json!({"phone": "+49 30 1234567", "date": tomorrow(), "window_start": "14:00",
                      "window_end": "16:00", "time_zone": "Europe/Berlin"});
    // The customer has no number or zone on record: both must be given.
    let (status, p) = s
        .post(
            &path,
            json!({"date": tomorrow(), "window_start": "14:00",
                                            "window_end": "16:00"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "time_zone");
    let mut backwards = body.clone();
    backwards["window_end"] = json!("13:00");
    let (status, p) = s.post(&path, backwards).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "window_end");
    let (status, p) = s.light_post(&path, body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{p}");
    let (status, cb) = s.post(&path, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{cb}");
    assert_eq!(cb["status"], "scheduled");
    assert_eq!(cb["origin"], "phone");
    assert!(
        cb["window_customer"]
            .as_str()
            .unwrap()
            .ends_with("14:00–16:00 (Europe/Berlin)"),
        "{cb}"
    );
    let (_, commitments) = s.get(&format!("/api/v1/tickets/{id}/commitments")).await;
    assert_eq!(commitments["items"][0]["id"], cb["commitment_id"]);
    assert_eq!(commitments["items"][0]["kind"], "promise");

    // The queue, with the window in the agent's zone too; mine is empty (nobody owns it).
    let (status, queue) = s.get("/api/v1/callbacks?time_zone=America/New_York").await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let row = &queue["items"][0];
    assert_eq!(row["id"], cb["id"]);
    assert_eq!(row["customer"]["email"], "ann@example.com");
    assert!(
        row["window_agent"]
            .as_str()
            .unwrap()
            .ends_with("08:00–10:00 (America/New_York)"),
        "{row}"
    );
    let (_, mine) = s.get("/api/v1/callbacks?filter=mine").await;
    assert_eq!(mine["items"], json!([]));
    let (status, p) = s.get("/api/v1/callbacks?filter=soon").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "filter");
    let (status, p) = s.get("/api/v1/callbacks?time_zone=Mars/Base").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "time_zone");

    // An outbound call now, long before tomorrow's window, does not keep it; one to the number
    // in a window that is on now does.
    let calls_path = format!("/api/v1/tickets/{id}/calls");
    let log_outbound = || {
        s.post(
            &calls_path,
            json!({"direction": "outbound", "number": "+49 30 1234567", "outcome": "answered"}),
        )
    };
    assert_eq!(log_outbound().await.0, StatusCode::CREATED);
    let (_, queue) = s.get("/api/v1/callbacks").await;
    assert_eq!(queue["items"][0]["id"], cb["id"], "{queue}");
    let at = rapport_web::now();
    let on_now = window_on_now();
    let now_cb = store
        .schedule_callback(
            rapport_store::Ctx {
                actor: rapport_core::Actor::SYSTEM,
                at,
            },
            id,
            "030 1234567",
            on_now,
            "",
        )
        .await
        .unwrap();
    assert_eq!(log_outbound().await.0, StatusCode::CREATED);
    let (_, queue) = s.get("/api/v1/callbacks").await;
    assert_eq!(queue["items"].as_array().unwrap().len(), 1, "{queue}");
    assert_eq!(queue["items"][0]["id"], cb["id"], "{queue}");
    let (_, commitments) = s.get(&format!("/api/v1/tickets/{id}/commitments")).await;
    let kept: Vec<_> = commitments["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "kept")
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(kept, [json!(now_cb.commitment_id)], "{commitments}");

    // Cancelling: a reason, once; unknown ones 404.
    let (_, second) = s.post(&path, body).await;
    let cancel = format!("/api/v1/callbacks/{}/cancel", second["id"]);
    let (status, p) = s.post(&cancel, json!({"reason": ""})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "reason");
    let (status, cancelled) = s
        .post(&cancel, json!({"reason": "They emailed instead"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let (status, _) = s.post(&cancel, json!({"reason": "again"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = s
        .post("/api/v1/callbacks/999999/cancel", json!({"reason": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

/// Sets inbox 1's chat widget on or off, and the sites allowed to embed it (one per line).
async fn set_widget(store: &Arc<dyn rapport_store::Store>, enabled: bool, origins: &str) {
    store
        .update_chat_widget(
            rapport_store::Ctx {
                actor: rapport_core::Actor::SYSTEM,
                at: rapport_web::now(),
            },
            1,
            rapport_store::ChatWidgetPatch {
                enabled: Some(enabled),
                allowed_origins: Some(origins.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

fn widget_request(phone: &str) -> Value {
    json!({"inbox": 1, "name": "Vera Visitor", "phone": phone, "date": tomorrow(),
        "window_start": "09:30", "window_end": "11:00", "time_zone": "Europe/London"})
}

/// `/widget/callbacks` honours the inbox's widget like `/widget/ws`: off means 404, a site
/// not allowed gets a 403, and only JSON is taken (a form POST needs no preflight).
async fn widget_callbacks_follow_the_widget_settings(store: Arc<dyn rapport_store::Store>) {
    let s = Server::start(store.clone()).await;
    let url = format!("{}/widget/callbacks", s.base);
    let post = |origin: Option<&'static str>, body: Value| {
        let mut request = s.client.post(&url).json(&body);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let queue_len = || async {
        let (_, queue) = s.get("/api/v1/callbacks").await;
        queue["items"].as_array().map_or(0, Vec::len)
    };

    set_widget(&store, false, "").await;
    let off = post(
        Some("https://shop.example"),
        widget_request("+44 20 7946 0100"),
    )
    .await
    .unwrap();
    assert_eq!(off.status(), StatusCode::NOT_FOUND);
    let p: Value = off.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().contains("widget"), "{p}");

    set_widget(&store, true, "https://shop.example").await;
    for origin in [Some("https://evil.example"), None] {
        let refused = post(origin, widget_request("+44 20 7946 0101"))
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{origin:?}");
        assert_eq!(
            refused.headers()["content-type"],
            "application/problem+json"
        );
    }
    // A cross-site form or text/plain POST (no preflight) is refused before anything else.
    let plain = s
        .client
        .post(&url)
        .header("origin", "https://shop.example")
        .header("content-type", "text/plain")
        .body(widget_request("+44 20 7946 0102").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(queue_len().await, 0, "nothing refused was filed");

    let allowed = post(
        Some("https://shop.example/"),
        widget_request("+44 20 7946 0103"),
    )
    .await
    .unwrap();
    assert_eq!(allowed.status(), StatusCode::CREATED);
    assert_eq!(queue_len().await, 1);
    s.stop().await;
}

async fn widget_callbacks_are_public_and_limited(store: Arc<dyn rapport_store::Store>) {
    let s = Server::start(store.clone()).await;
    set_widget(&store, true, "").await;
    let (_, _, inbox) = s
        .call(
            Method::PATCH,
            "/api/v1/inboxes/1",
            Some(&s.admin),
            Some(json!({"human_contact": "Call +49 30 999 (Mon–Fri 9–17)"})),
        )
        .await;
    assert_eq!(
        inbox["human_contact"], "Call +49 30 999 (Mon–Fri 9–17)",
        "{inbox}"
    );
    let url = format!("{}/widget/callbacks", s.base);

    // The preflight of a cross-origin fetch from a customer's site.
    let pre = s
        .client
        .request(Method::OPTIONS, &url)
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), StatusCode::NO_CONTENT);
    assert_eq!(pre.headers()["access-control-allow-origin"], "*");
    assert!(
        pre.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        pre.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("content-type")
    );

    let request = json!({"inbox": 1, "name": "Vera Visitor", "phone": "+44 20 7946 0001",
        "email": "vera@example.com", "date": tomorrow(), "window_start": "09:30",
        "window_end": "11:00", "time_zone": "Europe/London", "note": "About my order",
        "token": "visitor-token"});
    let post = |body: Value| {
        s.client
            .post(&url)
            .header("origin", "https://shop.example")
            .json(&body)
            .send()
    };
    let answer = post(request.clone()).await.unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
    assert_eq!(answer.headers()["access-control-allow-origin"], "*");
    let answer: Value = answer.json().await.unwrap();
    let reference = answer["reference"].as_str().unwrap();
    assert!(reference.starts_with("R-"), "{answer}");
    assert!(answer["scheduled_for"].as_i64().unwrap() > rapport_web::now().0);
    let readback = answer["readback"].as_str().unwrap();
    for part in [
        "+44 20 7946 0001",
        "09:30–11:00 (Europe/London)",
        reference,
        "Call +49 30 999 (Mon–Fri 9–17)",
    ] {
        assert!(readback.contains(part), "{part} missing: {readback}");
    }
    // It reached the queue, on a chat ticket, with the read-back mailed.
    let (_, queue) = s.get("/api/v1/callbacks").await;
    assert_eq!(queue["items"][0]["reference"], reference, "{queue}");
    assert_eq!(queue["items"][0]["origin"], "chat");
    let ticket = reference.trim_start_matches("R-");
    let (_, emails) = s.get(&format!("/api/v1/tickets/{ticket}/emails")).await;
    assert_eq!(emails["items"][0]["kind"], "ack", "{emails}");

    // Problems the widget shows as they are, with CORS so it can read them.
    let mut bad = request.clone();
    bad["phone"] = json!("call me");
    let refused = post(bad).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.headers()["access-control-allow-origin"], "*");
    let p: Value = refused.json().await.unwrap();
    assert_eq!(field(&p), "phone");
    assert!(p["detail"].as_str().unwrap().contains("phone"));
    for (key, value, expected) in [
        ("window_end", json!("08:00"), "window_end"),
        ("time_zone", json!("Moon/Crater"), "time_zone"),
        ("date", json!("tomorrow"), "date"),
        ("name", json!(" "), "name"),
        ("email", json!("not an address"), "email"),
    ] {
        let mut bad = request.clone();
        bad["phone"] = json!("+44 20 7946 0002");
        bad[key] = value;
        let p: Value = post(bad).await.unwrap().json().await.unwrap();
        assert_eq!(field(&p), expected, "{p}");
    }
    let mut no_inbox = request.clone();
    no_inbox["inbox"] = json!(999);
    no_inbox["phone"] = json!("+44 20 7946 0003");
    assert_eq!(
        post(no_inbox).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let mut huge = request.clone();
    huge["note"] = json!("x".repeat(20_000));
    assert_eq!(
        post(huge).await.unwrap().status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let p: Value = post(json!({"inbox": 1}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["status"], 422, "{p}");

    // Refused requests do not count toward a number's limit: three with the number but no
    // name leave it open to the request that follows.
    for _ in 0..3 {
        let mut nameless = request.clone();
        nameless["phone"] = json!("+44 20 7946 0099");
        nameless["name"] = json!(" ");
        assert_eq!(
            post(nameless).await.unwrap().status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    let mut victim = request.clone();
    victim["phone"] = json!("+44 20 7946 0099");
    assert_eq!(post(victim).await.unwrap().status(), StatusCode::CREATED);

    // One number: three requests an hour.
    let mut last = StatusCode::OK;
    for _ in 0..3 {
        last = post(request.clone()).await.unwrap().status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    let limited: Value = post(request.clone()).await.unwrap().json().await.unwrap();
    assert!(
        limited["detail"].as_str().unwrap().contains("try again"),
        "{limited}"
    );
    // One client address: ten an hour, whatever the number.
    let mut statuses = Vec::new();
    for n in 10..20 {
        let mut other = request.clone();
        other["phone"] = json!(format!("+44 20 7946 00{n}"));
        statuses.push(post(other).await.unwrap().status());
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    s.stop().await;
}

rapport_store::on_both_backends!(
    calls_over_http,
    callbacks_over_http,
    widget_callbacks_are_public_and_limited,
    widget_callbacks_follow_the_widget_settings,
);
