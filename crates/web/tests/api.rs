//! The JSON API over real HTTP, on SQLite and PostgreSQL.

use rapport_core::{Actor, Role};
use rapport_store::{
    Ctx, InboundEmail, Ingested, NewAgent, NewAttachment, Requester, Store, ThreadHints,
};
use rapport_web::auth;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

#[path = "api/chat_ws.rs"]
mod chat_ws;
#[path = "api/phone.rs"]
mod phone;
#[path = "api/routing.rs"]
mod routing;
#[path = "api/sla.rs"]
mod sla;
#[path = "api/ui.rs"]
mod ui;
#[path = "api/ui_chat.rs"]
mod ui_chat;
#[path = "api/ui_phone.rs"]
mod ui_phone;
#[path = "api/ui_portal_search.rs"]
mod ui_portal_search;
#[path = "api/ui_routing.rs"]
mod ui_routing;
#[path = "api/ui_sla.rs"]
mod ui_sla;
#[path = "api/webhooks.rs"]
mod webhooks;

/// A staff member with an API token: their id and the token.
async fn staff(store: &Arc<dyn Store>, email: &str, role: Role) -> (i64, String) {
    let ctx = Ctx {
        actor: Actor::SYSTEM,
        at: rapport_web::now(),
    };
    let agent = store
        .create_agent(
            ctx,
            NewAgent {
                email: email.into(),
                name: email.into(),
                role,
                password_hash: None,
            },
        )
        .await
        .unwrap();
    let token = auth::new_token();
    store
        .create_api_token(ctx, agent.id, "test", &auth::token_hash(&token))
        .await
        .unwrap();
    (agent.id, token)
}

struct Server {
    base: String,
    client: reqwest::Client,
    admin: String,
    agent: String,
    light: String,
    agent_id: i64,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    async fn start(store: Arc<dyn Store>) -> Self {
        let mut tokens = Vec::new();
        let mut ids = Vec::new();
        for (email, role) in [
            ("admin@example.com", Role::Admin),
            ("agent@example.com", Role::Agent),
            ("light@example.com", Role::LightAgent),
        ] {
            let (id, token) = staff(&store, email, role).await;
            tokens.push(token);
            ids.push(id);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(rapport_web::serve(
            listener,
            rapport_web::AppState::new(
                store,
                rapport_web::ui::UiConfig {
                    base_url: base.clone(),
                },
            ),
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            base,
            client: reqwest::Client::new(),
            admin: tokens[0].clone(),
            agent: tokens[1].clone(),
            light: tokens[2].clone(),
            agent_id: ids[1],
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, value)
    }

    async fn as_admin(
        &self,
        method: Method,
        path: &str,
        body: Value,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        self.call(method, path, Some(&self.admin), Some(body)).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::GET, path, Some(&self.agent), None).await;
        (s, v)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self
            .call(Method::POST, path, Some(&self.agent), Some(body))
            .await;
        (s, v)
    }

    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self
            .call(Method::PATCH, path, Some(&self.agent), Some(body))
            .await;
        (s, v)
    }

    async fn raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.agent)
            .header("content-type", content_type)
            // A refused body may be left unread; the server then closes this connection, so
            // it must not go back to the client's pool for the next request.
            .header("connection", "close")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        (status, resp.json().await.unwrap())
    }

    /// A download: the bytes as they are, not parsed as JSON.
    async fn download(
        &self,
        path: &str,
        token: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        (status, headers, resp.bytes().await.unwrap().to_vec())
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
    }
}

fn ticket_body(subject: &str, email: &str) -> Value {
    json!({"subject": subject, "customer": {"email": email, "name": "Ann Lee"}, "message": {"body": "The router drops every evening."}})
}

async fn tickets_over_http(store: Arc<dyn Store>) {
    let s = Server::start(store).await;
    let mut body = ticket_body("Router drops Wi-Fi", "ann@example.com");
    body["priority"] = json!("high");
    body["tags"] = json!(["WiFi"]);
    let (status, t) = s.post("/api/v1/tickets", body).await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    let id = t["id"].as_i64().unwrap();
    assert_eq!(t["reference"], format!("R-{id}"));
    assert_eq!(t["status"], "new");
    assert_eq!(t["priority"], "high");
    assert_eq!(t["tags"], json!(["wifi"]));
    assert_eq!(t["customer"]["email"], "ann@example.com");
    assert!(t["created_at"].as_str().unwrap().ends_with('Z'));

    let (status, by_ref) = s.get(&format!("/api/v1/tickets/R-{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_ref["id"], id);
    let (status, p) = s.get("/api/v1/tickets/99999999").await;
    assert_eq!(
        (status, p["status"].as_i64()),
        (StatusCode::NOT_FOUND, Some(404))
    );
    assert!(p["detail"].as_str().unwrap().contains("R-99999999"), "{p}");
    assert_eq!(
        s.get("/api/v1/tickets/abc").await.0,
        StatusCode::BAD_REQUEST
    );

    // Reply and note; the conversation lists both with visibility.
    let (status, m) = s
        .post(
            &format!("/api/v1/tickets/{id}/messages"),
            json!({"body": "Which model?", "public": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    assert_eq!(m["kind"], "reply");
    let (status, n) = s
        .post(
            &format!("/api/v1/tickets/{id}/messages"),
            json!({"body": "Firmware bug", "public": false}),
        )
        .await;
    assert_eq!(
        (status, n["public"].clone()),
        (StatusCode::CREATED, json!(false))
    );
    let (_, list) = s.get(&format!("/api/v1/tickets/{id}/messages")).await;
    let kinds: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["customer", "reply", "note"]);

    // Changes: allowed ones recorded with before/after, forbidden ones refused precisely.
    let (status, p) = s
        .patch(
            &format!("/api/v1/tickets/{id}"),
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "status");
    assert!(
        p["detail"].as_str().unwrap().contains("solve it first"),
        "{p}"
    );
    let (status, t) = s
        .patch(
            &format!("/api/v1/tickets/{id}"),
            json!({"status": "solved", "assignee_id": s.agent_id, "tags": ["wifi", "router"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["status"], "solved");
    assert!(t["solved_at"].is_string());
    let (status, t) = s
        .patch(
            &format!("/api/v1/tickets/{id}"),
            json!({"assignee_id": null, "transfer_reason": "Back to the queue"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert!(t["assignee_id"].is_null());
    let (status, p) = s
        .patch(
            &format!("/api/v1/tickets/{id}"),
            json!({"priority": "extreme"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "priority", "{p}");
    let (status, p) = s
        .patch(
            &format!("/api/v1/tickets/{id}"),
            json!({"assignee_id": 424242}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{p}");

    let (_, events) = s.get(&format!("/api/v1/tickets/{id}/events")).await;
    let events = events["items"].as_array().unwrap();
    assert_eq!(events[0]["kind"], "ticket.created");
    let status_change = events
        .iter()
        .find(|e| e["data"]["field"] == "status" && e["data"]["after"] == "solved")
        .unwrap();
    assert_eq!(status_change["data"]["before"], "open");
    assert_eq!(
        status_change["actor"],
        json!({"kind": "agent", "id": s.agent_id})
    );
    let unassign = events
        .iter()
        .find(|e| e["data"]["field"] == "assignee_id" && e["data"]["after"].is_null())
        .unwrap();
    assert_eq!(unassign["data"]["before"], s.agent_id);
    s.stop().await;
}

async fn bad_requests_get_precise_problems(store: Arc<dyn Store>) {
    let s = Server::start(store).await;
    let (status, p) = s
        .raw(
            "/api/v1/tickets",
            "application/json",
            b"{\"subject\": ".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        p["detail"].as_str().unwrap().contains("not valid JSON"),
        "{p}"
    );
    let (status, p) = s
        .post(
            "/api/v1/tickets",
            json!({"subject": "x", "customer": {"email": 5}, "message": {"body": "b"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "customer.email", "{p}");
    assert_eq!(p["type"], "/problems/invalid-value");
    assert_eq!(p["title"], "Unprocessable Entity");
    let (status, p) = s
        .post(
            "/api/v1/tickets",
            json!({"customer": {"email": "a@example.com"}, "message": {"body": "b"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p["detail"].as_str().unwrap().contains("subject"), "{p}");
    let (status, p) = s.post("/api/v1/tickets", json!({"subject": "x", "customer": {"email": "a@example.com"}, "message": {"body": "b"}, "colour": "red"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p["detail"].as_str().unwrap().contains("colour"), "{p}");
    let (status, p) = s
        .post("/api/v1/tickets", ticket_body("x", "not-an-email"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "customer.email");
    assert!(
        p["errors"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("no '@'"),
        "{p}"
    );
    let mut body = ticket_body("x", "a@example.com");
    body["custom_fields"] = json!({"nope": 1});
    let (status, p) = s.post("/api/v1/tickets", body).await;
    assert_eq!(
        (status, p["errors"][0]["field"].clone()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!("custom_fields.nope")
        )
    );
    let (status, _) = s
        .raw("/api/v1/tickets", "text/plain", b"hello".to_vec())
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let mut big = ticket_body("x", "a@example.com");
    big["message"]["body"] = json!("x".repeat(2 * 1024 * 1024));
    let (status, p) = s
        .raw(
            "/api/v1/tickets",
            "application/json",
            serde_json::to_vec(&big).unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{p}");
    let (status, _) = s.get("/api/v1/tickets?limit=0").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, p) = s.get("/api/v1/tickets?limit=lots").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(p["detail"].as_str().unwrap().contains("limit"), "{p}");
    assert_eq!(
        s.get("/api/v1/tickets?cursor=forged").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        s.get("/api/v1/tickets?status=done").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(s.get("/api/v1/nothing-here").await.0, StatusCode::NOT_FOUND);
    let (status, headers, p) = s
        .call(Method::DELETE, "/api/v1/tickets", Some(&s.agent), None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(p["detail"].as_str().unwrap().contains("DELETE"), "{p}");
    // None of the refused requests left anything behind.
    let (_, list) = s.get("/api/v1/tickets").await;
    assert_eq!(list["items"], json!([]));
    let (_, customers) = s.get("/api/v1/customers").await;
    assert_eq!(customers["items"], json!([]));
    s.stop().await;
}

async fn only_the_right_callers_get_in(store: Arc<dyn Store>) {
    let s = Server::start(store).await;
    let (status, headers, p) = s.call(Method::GET, "/api/v1/tickets", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert!(p["detail"].as_str().unwrap().contains("Bearer"));
    let (status, _, _) = s
        .call(Method::GET, "/api/v1/tickets", Some("rpt_forged"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Every API route refuses an anonymous caller: all of them, as the OpenAPI document lists
    // them, so a new route cannot be forgotten here.
    let (_, _, doc) = s
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if path == "/healthz" {
            continue;
        }
        let concrete = path
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    match part {
                        "{kind}" => "ack",
                        "{language}" => "en",
                        _ => "1",
                    }
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in ops.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, _, _) = s
                .call(method.clone(), &concrete, None, Some(json!({})))
                .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {concrete}");
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} routes checked");

    let (_, t) = s
        .post("/api/v1/tickets", ticket_body("Help", "a@example.com"))
        .await;
    let id = t["id"].as_i64().unwrap();
    // A light agent (another department) helps with notes but never writes to the customer.
    let (status, _, note) = s
        .call(
            Method::POST,
            &format!("/api/v1/tickets/{id}/messages"),
            Some(&s.light),
            Some(json!({"body": "Refund approved", "public": false})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    let (status, _, p) = s
        .call(
            Method::POST,
            &format!("/api/v1/tickets/{id}/messages"),
            Some(&s.light),
            Some(json!({"body": "Hi!"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(p["detail"].as_str().unwrap().contains("light_agent"), "{p}");
    let (status, _, _) = s
        .call(
            Method::PATCH,
            &format!("/api/v1/tickets/{id}"),
            Some(&s.light),
            Some(json!({"status": "solved"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = s
        .call(
            Method::POST,
            "/api/v1/organizations",
            Some(&s.light),
            Some(json!({"name": "X"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = s
        .call(
            Method::GET,
            &format!("/api/v1/tickets/{id}"),
            Some(&s.light),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = s
        .call(
            Method::POST,
            "/api/v1/organizations",
            Some(&s.admin),
            Some(json!({"name": "X"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    s.stop().await;
}

async fn retried_posts_do_not_duplicate(store: Arc<dyn Store>) {
    let s = Server::start(store).await;
    let send = |key: &'static str, body: Value| {
        let req = s
            .client
            .post(format!("{}/api/v1/tickets", s.base))
            .bearer_auth(&s.agent)
            .header("idempotency-key", key)
            .json(&body);
        async move {
            let resp = req.send().await.unwrap();
            let replayed = resp.headers().get("idempotent-replayed").is_some();
            (resp.status(), replayed, resp.json::<Value>().await.unwrap())
        }
    };
    let (s1, r1, t1) = send("order-17", ticket_body("Once", "a@example.com")).await;
    let (s2, r2, t2) = send("order-17", ticket_body("Once", "a@example.com")).await;
    assert_eq!(
        (s1, r1, s2, r2),
        (StatusCode::CREATED, false, StatusCode::CREATED, true)
    );
    assert_eq!(t1["id"], t2["id"]);
    let (s3, _, p) = send("order-17", ticket_body("Different", "a@example.com")).await;
    assert_eq!(s3, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (_, list) = s.get("/api/v1/tickets").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (status, _, _) = s
        .call(Method::GET, "/api/v1/tickets", Some(&s.agent), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    s.stop().await;
}

async fn customers_organizations_and_directory(store: Arc<dyn Store>) {
    let s = Server::start(store).await;
    let (status, org) = s.post("/api/v1/organizations", json!({"name": "Acme", "tier": "enterprise", "contract_value_cents": 1200000, "domains": ["acme.com"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    let org_id = org["id"].as_i64().unwrap();
    assert_eq!(
        s.post("/api/v1/organizations", json!({"name": "acme"}))
            .await
            .0,
        StatusCode::CONFLICT
    );
    let (status, p) = s
        .post(
            "/api/v1/organizations",
            json!({"name": "B", "tier": "gold"}),
        )
        .await;
    assert_eq!(
        (status, p["errors"][0]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("tier"))
    );

    let (status, c) = s.post("/api/v1/customers", json!({"name": "Bob", "email": "bob@acme.com", "time_zone": "Europe/Berlin", "preferences": {"channel": "phone", "formality": "formal"}})).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["organization_id"], org_id, "joined by email domain");
    assert_eq!(c["preferences"]["channel"], "phone");
    let cid = c["id"].as_i64().unwrap();
    let (status, p) = s
        .post(
            "/api/v1/customers",
            json!({"name": "Bobby", "email": "BOB@acme.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(p["detail"].as_str().unwrap().contains("bob@acme.com"));
    let (status, c) = s
        .patch(
            &format!("/api/v1/customers/{cid}"),
            json!({"phone": "+49 30 1", "language": "de", "organization_id": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(
        (c["phone"].clone(), c["organization_id"].clone()),
        (json!("+49 30 1"), Value::Null)
    );
    let (status, p) = s
        .patch(
            &format!("/api/v1/customers/{cid}"),
            json!({"time_zone": "Moon/Base"}),
        )
        .await;
    assert_eq!(
        (status, p["errors"][0]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("time_zone"))
    );
    assert_eq!(
        s.get(&format!("/api/v1/customers/{cid}")).await.1["language"],
        "de"
    );
    assert_eq!(
        s.get("/api/v1/customers/777777").await.0,
        StatusCode::NOT_FOUND
    );
    let (_, found) = s.get("/api/v1/customers?email=bob%40acme.com").await;
    assert_eq!(found["items"][0]["id"], cid);
    assert_eq!(
        s.get(&format!("/api/v1/organizations/{org_id}")).await.1["tier"],
        "enterprise"
    );
    assert_eq!(
        s.get("/api/v1/organizations").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let (_, agents) = s.get("/api/v1/agents").await;
    assert_eq!(agents["items"].as_array().unwrap().len(), 3);
    assert!(agents["items"][0].get("password_hash").is_none());
    assert_eq!(
        s.get("/api/v1/teams").await.1["items"][0]["name"],
        "Support"
    );
    assert_eq!(
        s.get("/api/v1/inboxes").await.1["items"][0]["name"],
        "Support"
    );
    let mut body = ticket_body("Tagged", "c@example.com");
    body["tags"] = json!(["billing"]);
    s.post("/api/v1/tickets", body).await;
    assert_eq!(
        s.get("/api/v1/tags").await.1["items"],
        json!([{"tag": "billing", "tickets": 1}])
    );
    s.stop().await;
}

async fn lists_page_and_filter_and_search_finds(store: Arc<dyn Store>) {
    let s = Server::start(store).await;
    for i in 0..12 {
        let mut body = ticket_body(
            &format!("Invoice question {i}"),
            &format!("c{}@example.com", i % 3),
        );
        if i % 4 == 0 {
            body["tags"] = json!(["vip"]);
        }
        assert_eq!(s.post("/api/v1/tickets", body).await.0, StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/tickets?limit=5".to_string();
    loop {
        let (status, page) = s.get(&path).await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/tickets?limit=5&cursor={c}"),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (12, 12));
    assert_eq!(
        s.get("/api/v1/tickets?tag=VIP").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        s.get("/api/v1/tickets?status=new,open").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        12
    );
    assert_eq!(
        s.get("/api/v1/tickets?status=solved").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        s.get("/api/v1/tickets?assignee=none").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        12
    );
    assert_eq!(
        s.get("/api/v1/tickets?assignee=me").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        s.get("/api/v1/tickets?updated_since=2000-01-01").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        12
    );
    assert_eq!(
        s.get("/api/v1/tickets?updated_since=2999-01-01").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        s.get("/api/v1/tickets?updated_since=someday").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let (status, hits) = s.get("/api/v1/search?q=invoice%207").await;
    assert_eq!(status, StatusCode::OK, "{hits}");
    let hits = hits["items"].as_array().unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["ticket"]["subject"], "Invoice question 7");
    assert!(hits[0]["snippet"].as_str().unwrap().contains('['));
    assert_eq!(
        s.get("/api/v1/search?q=").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(s.get("/api/v1/search").await.0, StatusCode::BAD_REQUEST);
    let (status, p) = s.get("/api/v1/search?q=status%3Adone").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p["detail"].as_str().unwrap().contains("not a status"),
        "{p}"
    );
    // Tickets 0, 4 and 8 are tagged vip; all are about invoices and unassigned.
    let (status, vip) = s.get("/api/v1/search?q=tag%3Avip%20assignee%3Anone").await;
    assert_eq!(status, StatusCode::OK, "{vip}");
    assert_eq!(vip["items"].as_array().unwrap().len(), 3);
    let (_, none) = s.get("/api/v1/search?q=tag%3Avip%20-invoice").await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    s.stop().await;
}

async fn health_and_openapi_cover_everything(store: Arc<dyn Store>) {
    let s = Server::start(store.clone()).await;
    let (status, _, health) = s.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["database"], store.backend());
    let (status, _, doc) = s
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let expected = [
        ("/api/v1/tickets", "get"),
        ("/api/v1/tickets", "post"),
        ("/api/v1/tickets/{id}", "get"),
        ("/api/v1/tickets/{id}", "patch"),
        ("/api/v1/tickets/{id}/messages", "get"),
        ("/api/v1/tickets/{id}/messages", "post"),
        ("/api/v1/tickets/{id}/events", "get"),
        ("/api/v1/tickets/{id}/emails", "get"),
        ("/api/v1/emails/unfiled", "get"),
        ("/api/v1/emails/{id}/raw", "get"),
        ("/api/v1/attachments/{id}", "get"),
        ("/api/v1/customers", "get"),
        ("/api/v1/customers", "post"),
        ("/api/v1/customers/{id}", "get"),
        ("/api/v1/customers/{id}", "patch"),
        ("/api/v1/organizations", "get"),
        ("/api/v1/organizations", "post"),
        ("/api/v1/organizations/{id}", "get"),
        ("/api/v1/agents", "get"),
        ("/api/v1/teams", "get"),
        ("/api/v1/inboxes", "get"),
        ("/api/v1/tags", "get"),
        ("/api/v1/agents", "post"),
        ("/api/v1/teams", "post"),
        ("/api/v1/teams/{id}/members", "post"),
        ("/api/v1/inboxes", "post"),
        ("/api/v1/inboxes/{id}", "get"),
        ("/api/v1/inboxes/{id}", "patch"),
        ("/api/v1/inboxes/{id}/templates", "get"),
        ("/api/v1/inboxes/{id}/chat", "get"),
        ("/api/v1/inboxes/{id}/chat", "patch"),
        ("/api/v1/inboxes/{id}/templates/{kind}/{language}", "put"),
        ("/api/v1/custom-fields", "get"),
        ("/api/v1/custom-fields", "post"),
        ("/api/v1/search", "get"),
        ("/api/v1/calendars", "get"),
        ("/api/v1/calendars", "post"),
        ("/api/v1/calendars/{id}", "get"),
        ("/api/v1/calendars/{id}", "put"),
        ("/api/v1/calendars/{id}", "delete"),
        ("/api/v1/sla-policies", "get"),
        ("/api/v1/sla-policies", "post"),
        ("/api/v1/sla-policies/{id}", "get"),
        ("/api/v1/sla-policies/{id}", "put"),
        ("/api/v1/sla-policies/{id}", "delete"),
        ("/api/v1/tickets/{id}/sla", "get"),
        ("/api/v1/tickets/{id}/commitments", "get"),
        ("/api/v1/tickets/{id}/commitments", "post"),
        ("/api/v1/commitments/{id}/fulfil", "post"),
        ("/api/v1/commitments/{id}/cancel", "post"),
        ("/api/v1/metrics/commitments", "get"),
        ("/api/v1/metrics/chases", "get"),
        ("/api/v1/agents/me/availability", "get"),
        ("/api/v1/agents/me/availability", "put"),
        ("/api/v1/routing/agents", "get"),
        ("/api/v1/agents/{id}/routing", "get"),
        ("/api/v1/agents/{id}/routing", "patch"),
        ("/api/v1/teams/{id}/routing", "put"),
        ("/api/v1/tickets/{id}/transfers", "get"),
        ("/api/v1/internal-requests", "get"),
        ("/api/v1/internal-requests", "post"),
        ("/api/v1/internal-requests/{id}", "get"),
        ("/api/v1/internal-requests/{id}/replies", "post"),
        ("/api/v1/internal-requests/{id}/take", "post"),
        ("/api/v1/internal-requests/{id}/cancel", "post"),
        ("/api/v1/tickets/{id}/refer", "post"),
        ("/api/v1/tickets/{id}/referral", "get"),
        ("/api/v1/tickets/{id}/tone", "get"),
        ("/api/v1/metrics/routing", "get"),
        ("/api/v1/settings/tone", "get"),
        ("/api/v1/settings/tone", "put"),
        ("/api/v1/settings/silent-no", "get"),
        ("/api/v1/settings/silent-no", "put"),
        ("/api/v1/webhooks", "get"),
        ("/api/v1/webhooks", "post"),
        ("/api/v1/webhooks/{id}", "delete"),
        ("/api/v1/tickets/{id}/calls", "get"),
        ("/api/v1/tickets/{id}/calls", "post"),
        ("/api/v1/calls", "post"),
        ("/api/v1/tickets/{id}/callbacks", "post"),
        ("/api/v1/callbacks", "get"),
        ("/api/v1/callbacks/{id}/cancel", "post"),
        ("/healthz", "get"),
    ];
    let paths = doc["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        expected.len(),
        "every route is documented once: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (path, method) in expected {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        if path != "/healthz" {
            assert_eq!(op["security"], json!([{"bearer": []}]), "{method} {path}");
        }
    }
    assert!(doc["components"]["schemas"]["Ticket"].is_object());
    assert!(doc["components"]["schemas"]["TicketSla"].is_object());
    assert!(
        doc["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "sla")
            && doc["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["name"] == "routing"),
        "{}",
        doc["tags"]
    );
    // Downloads are documented as bytes of their own media type, not JSON.
    let raw = &doc["paths"]["/api/v1/emails/{id}/raw"]["get"]["responses"]["200"]["content"];
    assert_eq!(
        raw["message/rfc822"]["schema"],
        json!({"type": "string", "format": "binary"}),
        "{raw}"
    );
    let file = &doc["paths"]["/api/v1/attachments/{id}"]["get"]["responses"];
    assert!(file["200"]["content"]["*/*"].is_object(), "{file}");
    assert!(
        file["410"]["content"]["application/problem+json"].is_object(),
        "{file}"
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    s.stop().await;
}

async fn admins_configure_the_desk(store: Arc<dyn Store>) {
    let s = Server::start(store).await;
    // Only admins configure; agents and light agents are told why not.
    let (status, p) = s.post("/api/v1/teams", json!({"name": "Billing"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(p["detail"].as_str().unwrap().contains("agent"), "{p}");
    let (status, _, team) = s
        .as_admin(
            Method::POST,
            "/api/v1/teams",
            json!({"name": "Billing", "description": "Invoices"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    let team_id = team["id"].as_i64().unwrap();
    assert_eq!(
        s.as_admin(Method::POST, "/api/v1/teams", json!({"name": "billing"}))
            .await
            .0,
        StatusCode::CONFLICT
    );

    let members_path = format!("/api/v1/teams/{team_id}/members");
    let (status, _, team) = s
        .as_admin(Method::POST, &members_path, json!({"agent_id": s.agent_id}))
        .await;
    assert_eq!(status, StatusCode::OK, "{team}");
    assert_eq!(team["member_ids"], json!([s.agent_id]));
    assert_eq!(
        s.as_admin(Method::POST, &members_path, json!({"agent_id": 999_999}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.as_admin(
            Method::POST,
            "/api/v1/teams/x/members",
            json!({"agent_id": 1})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );

    let (status, _, inbox) = s
        .as_admin(
            Method::POST,
            "/api/v1/inboxes",
            json!({"name": "Billing", "address": "Billing@Example.com", "team_id": team_id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inbox}");
    assert_eq!(inbox["address"], "billing@example.com");
    let (status, _, p) = s
        .as_admin(
            Method::POST,
            "/api/v1/inboxes",
            json!({"name": "Sales", "address": "sales"}),
        )
        .await;
    assert_eq!(
        (status, p["errors"][0]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("address"))
    );
    assert_eq!(
        s.as_admin(
            Method::POST,
            "/api/v1/inboxes",
            json!({"name": "Sales", "address": "s@example.com", "team_id": 4242})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );

    let (status, _, field) = s
        .as_admin(
            Method::POST,
            "/api/v1/custom-fields",
            json!({"key": "order_number", "label": "Order number", "field_type": "text"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{field}");
    let (status, _, p) = s
        .as_admin(
            Method::POST,
            "/api/v1/custom-fields",
            json!({"key": "product", "label": "Product", "field_type": "dropdown"}),
        )
        .await;
    assert_eq!(
        (status, p["errors"][0]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("options"))
    );
    let (status, _, p) = s
        .as_admin(
            Method::POST,
            "/api/v1/custom-fields",
            json!({"key": "Order Nr", "label": "x", "field_type": "text"}),
        )
        .await;
    assert_eq!(
        (status, p["errors"][0]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("key"))
    );
    assert_eq!(
        s.as_admin(
            Method::POST,
            "/api/v1/custom-fields",
            json!({"key": "order_number", "label": "Again", "field_type": "text"})
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        s.get("/api/v1/custom-fields").await.1["items"][0]["key"],
        "order_number"
    );

    // What was configured is usable at once.
    let mut body = ticket_body("Invoice", "a@example.com");
    body["inbox"] = json!("billing");
    body["custom_fields"] = json!({"order_number": "NW-1"});
    let (status, t) = s.post("/api/v1/tickets", body).await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!(
        (t["inbox_id"].clone(), t["team_id"].clone()),
        (inbox["id"].clone(), json!(team_id))
    );
    assert_eq!(t["custom_fields"]["order_number"], "NW-1");

    let (status, _, agent) = s
        .as_admin(
            Method::POST,
            "/api/v1/agents",
            json!({"email": "new@example.com", "name": "New Agent", "role": "agent"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    assert_eq!(agent["role"], "agent");
    assert_eq!(
        s.as_admin(
            Method::POST,
            "/api/v1/agents",
            json!({"email": "NEW@example.com", "name": "Again", "role": "agent"})
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    let (status, _, p) = s
        .as_admin(
            Method::POST,
            "/api/v1/agents",
            json!({"email": "c@example.com", "name": "C", "role": "customer"}),
        )
        .await;
    assert_eq!(
        (status, p["errors"][0]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("role"))
    );
    let (status, _, _) = s
        .call(
            Method::POST,
            "/api/v1/agents",
            Some(&s.light),
            Some(json!({"email": "x@example.com", "name": "X", "role": "admin"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "nobody below admin hands out roles"
    );
    s.stop().await;
}

fn berlin_hours() -> Value {
    json!({
        "time_zone": "Europe/Berlin",
        "hours": {"monday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:30"}],
                  "friday": [{"start": "09:00", "end": "15:00"}]},
        "holidays": ["12-25"]
    })
}

async fn admins_configure_inboxes_and_their_texts(store: Arc<dyn Store>) {
    let s = Server::start(store).await;
    let (_, _, team) = s
        .as_admin(Method::POST, "/api/v1/teams", json!({"name": "Billing"}))
        .await;
    let team_id = team["id"].as_i64().unwrap();
    let full = json!({
        "name": "Billing", "address": "Billing@Example.com", "team_id": team_id,
        "addresses": ["invoices@example.com"], "from_name": "Northwind Billing",
        "signature": "Northwind Networks, Billing", "language": "de",
        "human_contact": "+49 30 1234 (Mo-Fr 9-17)", "business_hours": berlin_hours(),
        "first_response_minutes": 240, "acknowledge": false
    });
    let (status, _, inbox) = s
        .as_admin(Method::POST, "/api/v1/inboxes", full.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inbox}");
    let id = inbox["id"].as_i64().unwrap();
    assert_eq!(inbox["address"], "billing@example.com");
    assert_eq!(
        inbox["addresses"],
        json!(["billing@example.com", "invoices@example.com"])
    );
    assert_eq!(inbox["team_id"], team_id);
    assert_eq!(inbox["from_name"], "Northwind Billing");
    assert_eq!(inbox["language"], "de");
    assert_eq!(inbox["human_contact"], "+49 30 1234 (Mo-Fr 9-17)");
    assert_eq!(inbox["business_hours"], berlin_hours());
    assert_eq!(
        (
            inbox["first_response_minutes"].clone(),
            inbox["acknowledge"].clone()
        ),
        (json!(240), json!(false))
    );
    // Agents read it back as it was set.
    let path = format!("/api/v1/inboxes/{id}");
    assert_eq!(s.get(&path).await, (StatusCode::OK, inbox.clone()));

    // A refused create leaves nothing behind, whichever setting was wrong.
    let before = s.get("/api/v1/inboxes").await.1["items"]
        .as_array()
        .unwrap()
        .len();
    for (change, field) in [
        (
            json!({"business_hours": {"time_zone": "Moon/Base", "hours": {}}}),
            "business_hours.time_zone",
        ),
        (
            json!({"business_hours": {"time_zone": "UTC", "hours": {}}}),
            "business_hours.hours",
        ),
        (
            json!({"business_hours": {"time_zone": "UTC", "hours": {"monday": [{"start": "17:00", "end": "09:00"}]}}}),
            "business_hours.hours.monday[0]",
        ),
        (
            json!({"first_response_minutes": 0}),
            "first_response_minutes",
        ),
        (
            json!({"first_response_minutes": 43201}),
            "first_response_minutes",
        ),
        (json!({"language": "english!"}), "language"),
        (
            json!({"addresses": ["ok@example.com", "nope"]}),
            "addresses[1]",
        ),
        (json!({"from_name": "Two\nlines"}), "from_name"),
        (
            json!({"business_hours": {"time_zone": "UTC", "hours": {"monday": "all day"}}}),
            "business_hours.hours.monday",
        ),
    ] {
        let mut body = json!({"name": "Sales", "address": "sales@example.com"});
        body.as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        let (status, _, p) = s.as_admin(Method::POST, "/api/v1/inboxes", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{change}: {p}");
        assert_eq!(p["errors"][0]["field"], field, "{change}: {p}");
    }
    let (status, _, p) = s
        .as_admin(
            Method::POST,
            "/api/v1/inboxes",
            json!({"name": "Sales", "address": "sales@example.com", "addresses": ["Invoices@example.com"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("invoices@example.com"),
        "{p}"
    );
    assert_eq!(
        s.get("/api/v1/inboxes").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        before,
        "refused creates leave no inbox"
    );

    // PATCH: addresses are replaced (the sending address stays), null clears, absent stays.
    let (status, _, patched) = s
        .as_admin(
            Method::PATCH,
            &path,
            json!({"addresses": ["help@example.com"], "team_id": null, "first_response_minutes": 60}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        patched["addresses"],
        json!(["billing@example.com", "help@example.com"])
    );
    assert!(patched["team_id"].is_null());
    assert_eq!(patched["first_response_minutes"], 60);
    for kept in [
        "name",
        "address",
        "from_name",
        "signature",
        "language",
        "human_contact",
        "business_hours",
        "acknowledge",
    ] {
        assert_eq!(patched[kept], inbox[kept], "{kept}");
    }
    let (status, _, patched) = s
        .as_admin(
            Method::PATCH,
            &path,
            json!({"team_id": team_id, "acknowledge": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        (patched["team_id"].clone(), patched["acknowledge"].clone()),
        (json!(team_id), json!(true))
    );
    for (body, field) in [
        (
            json!({"first_response_minutes": 50000}),
            "first_response_minutes",
        ),
        (json!({"language": "x"}), "language"),
        (
            json!({"business_hours": {"time_zone": "UTC", "hours": {}}}),
            "business_hours.hours",
        ),
        (json!({"addresses": ["nope"]}), "addresses[0]"),
        (json!({"colour": "red"}), "body"),
    ] {
        let (status, _, p) = s.as_admin(Method::PATCH, &path, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {p}");
        assert!(
            p["errors"][0]["field"] == field || p["detail"].as_str().unwrap().contains("colour"),
            "{body}: {p}"
        );
    }
    let (status, _, p) = s
        .as_admin(
            Method::PATCH,
            &path,
            json!({"addresses": ["support@rapport.localhost"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    assert_eq!(
        s.as_admin(
            Method::PATCH,
            "/api/v1/inboxes/999999",
            json!({"name": "X"})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("/api/v1/inboxes/999999").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("/api/v1/inboxes/abc").await.0,
        StatusCode::BAD_REQUEST
    );

    // Only admins change inboxes and their texts; agents are told why not.
    let template_path = format!("{path}/templates/ack/de");
    let template = json!({
        "subject": "Wir haben Ihre Anfrage erhalten [{{ reference }}]",
        "body": "Hallo {{ customer_name }},\n\nwir melden uns.\n\n{{ human_contact }}"
    });
    for (method, route, body) in [
        (Method::POST, "/api/v1/inboxes".to_string(), full.clone()),
        (Method::PATCH, path.clone(), json!({"name": "Mine"})),
        (Method::PUT, template_path.clone(), template.clone()),
    ] {
        for token in [&s.agent, &s.light] {
            let (status, _, p) = s
                .call(method.clone(), &route, Some(token), Some(body.clone()))
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {route}: {p}");
            assert!(p["detail"].as_str().unwrap().contains("may not"), "{p}");
        }
    }

    // Templates: set, replace, list; each part checked.
    let (status, _, t) = s
        .as_admin(Method::PUT, &template_path, template.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(
        (
            t["inbox_id"].clone(),
            t["kind"].clone(),
            t["language"].clone()
        ),
        (json!(id), json!("ack"), json!("de"))
    );
    let mut changed = template.clone();
    changed["subject"] = json!("Anfrage {{ reference }} erhalten");
    assert_eq!(
        s.as_admin(Method::PUT, &template_path, changed).await.0,
        StatusCode::OK
    );
    let (status, list) = s.get(&format!("{path}/templates")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["subject"], "Anfrage {{ reference }} erhalten");
    assert_eq!(items[0]["body"], template["body"]);
    let (status, p) = s.get("/api/v1/inboxes/999999/templates").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{p}");

    let (status, _, p) = s
        .as_admin(
            Method::PUT,
            &format!("{path}/templates/reply/de"),
            template.clone(),
        )
        .await;
    assert_eq!(
        (status, p["errors"][0]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("kind")),
        "{p}"
    );
    assert!(p["detail"].as_str().unwrap().contains("ack"), "{p}");
    let (status, _, p) = s
        .as_admin(
            Method::PUT,
            &format!("{path}/templates/ack/deutsch!"),
            template.clone(),
        )
        .await;
    assert_eq!(
        (status, p["errors"][0]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("language")),
        "{p}"
    );
    for (broken, field) in [
        (
            json!({"subject": "Hallo {{ unclosed", "body": template["body"]}),
            "subject",
        ),
        (
            json!({"subject": template["subject"], "body": "{{ unclosed\n{{ human_contact }}"}),
            "body",
        ),
        (
            json!({"subject": template["subject"], "body": "No way to reach anyone."}),
            "body",
        ),
        (json!({"subject": "", "body": template["body"]}), "subject"),
    ] {
        let (status, _, p) = s
            .as_admin(Method::PUT, &template_path, broken.clone())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{broken}: {p}");
        assert_eq!(p["errors"][0]["field"], field, "{broken}: {p}");
    }
    let (status, _, p) = s
        .as_admin(Method::PUT, &template_path, json!({"subject": "x"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(
        s.as_admin(
            Method::PUT,
            "/api/v1/inboxes/999999/templates/ack/de",
            template.clone()
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    // A refused template changed nothing.
    assert_eq!(
        s.get(&format!("{path}/templates")).await.1["items"][0]["subject"],
        "Anfrage {{ reference }} erhalten"
    );
    s.stop().await;
}

fn attachment(
    filename: &str,
    content_type: &str,
    data: Option<&[u8]>,
    withheld: Option<&str>,
) -> NewAttachment {
    NewAttachment {
        filename: filename.into(),
        content_type: content_type.into(),
        content_id: None,
        inline: false,
        size_bytes: data.map_or(30 * 1024 * 1024, |d| d.len() as i64),
        data: data.map(<[u8]>::to_vec),
        withheld: withheld.map(Into::into),
    }
}

async fn received_email_and_its_parts_over_http(store: Arc<dyn Store>) {
    let s = Server::start(store.clone()).await;
    let inbox = store
        .inbox_by_address("support@rapport.localhost")
        .await
        .unwrap()
        .unwrap();
    // Not UTF-8 (Latin-1 'ä'): the raw email must come back byte for byte.
    let raw = b"Message-ID: <m1@ann.example>\r\nFrom: Ann Lee <ann@ann.example>\r\nSubject: Router\r\n\r\nGr\xe4\xdfe, it drops.\r\n".to_vec();
    let png = b"\x89PNG\r\n\x1a\nnot really".to_vec();
    let pdf = b"%PDF-1.7 ...".to_vec();
    let mail = InboundEmail {
        source: "smtp".into(),
        inbox_id: inbox.id,
        envelope_from: Some("ann@ann.example".into()),
        recipients: vec!["support@rapport.localhost".into()],
        raw: raw.clone(),
        dedupe_key: "m1@ann.example".into(),
        body_hash: "h1".into(),
        message_id: Some("m1@ann.example".into()),
        from: Some(Requester {
            customer_id: None,
            email: "ann@ann.example".into(),
            name: Some("Ann Lee".into()),
        }),
        subject: "Router".into(),
        body: "Grüße, it drops.".into(),
        quoted: String::new(),
        html: None,
        attachments: vec![
            NewAttachment {
                content_id: Some("logo@ann".into()),
                inline: true,
                ..attachment("logo.png", "image/png", Some(&png), None)
            },
            attachment("Rechnung März.pdf", "application/pdf", Some(&pdf), None),
            attachment(
                "page.html",
                "text/html",
                Some(b"<script>alert(1)</script>"),
                None,
            ),
            attachment(
                "backup.zip",
                "application/zip",
                None,
                Some("larger than the 25 MiB limit"),
            ),
        ],
        thread: ThreadHints {
            subject_key: "router".into(),
            ..ThreadHints::default()
        },
        automatic: None,
        bounce: None,
        correction: false,
        problems: vec![],
    };
    let ctx = Ctx {
        actor: Actor::SYSTEM,
        at: rapport_web::now(),
    };
    let Ingested::Created {
        ticket_id,
        acknowledged: true,
    } = store.ingest_email(ctx, mail.clone()).await.unwrap()
    else {
        panic!("a new acknowledged ticket")
    };
    let (_, messages) = s
        .get(&format!("/api/v1/tickets/{ticket_id}/messages"))
        .await;
    let first = &messages["items"][0];
    let email_id = first["email_id"].as_i64().unwrap();
    let attachments = first["attachments"].as_array().unwrap();
    let id_of = |name: &str| {
        attachments
            .iter()
            .find(|a| a["filename"] == name)
            .unwrap_or_else(|| panic!("{name} in {attachments:?}"))["id"]
            .as_i64()
            .unwrap()
    };

    // The email as it arrived; light agents may read it too.
    for token in [&s.agent, &s.light] {
        let (status, headers, bytes) = s
            .download(&format!("/api/v1/emails/{email_id}/raw"), token)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(bytes, raw);
        assert_eq!(headers["content-type"], "message/rfc822");
        assert!(
            headers["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with(&format!("attachment; filename=\"email-{email_id}.eml\"")),
            "{headers:?}"
        );
    }

    // Attachments: images inline, anything else a download; never sniffed, never scripted.
    let (status, headers, bytes) = s
        .download(
            &format!("/api/v1/attachments/{}", id_of("logo.png")),
            &s.light,
        )
        .await;
    assert_eq!((status, bytes), (StatusCode::OK, png));
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(
        headers["content-disposition"],
        "inline; filename=\"logo.png\"; filename*=UTF-8''logo.png"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["content-security-policy"], "sandbox");
    let (status, headers, bytes) = s
        .download(
            &format!("/api/v1/attachments/{}", id_of("Rechnung März.pdf")),
            &s.agent,
        )
        .await;
    assert_eq!((status, bytes), (StatusCode::OK, pdf));
    assert_eq!(headers["content-type"], "application/pdf");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment; "), "{disposition}");
    assert!(
        disposition.ends_with("filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf"),
        "{disposition}"
    );
    let (status, headers, _) = s
        .download(
            &format!("/api/v1/attachments/{}", id_of("page.html")),
            &s.agent,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; ")
    );
    assert_eq!(headers["content-security-policy"], "sandbox");
    assert_eq!(headers["x-content-type-options"], "nosniff");

    let (status, headers, p) = s
        .call(
            Method::GET,
            &format!("/api/v1/attachments/{}", id_of("backup.zip")),
            Some(&s.agent),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::GONE, "{p}");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("larger than the 25 MiB limit"),
        "{p}"
    );
    assert_eq!(
        s.get("/api/v1/attachments/999999").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("/api/v1/attachments/x").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        s.get("/api/v1/emails/999999/raw").await.0,
        StatusCode::NOT_FOUND
    );
    // Mail that could not be filed is listed for people to read.
    let mut broken = mail.clone();
    broken.dedupe_key = "sha256:broken".into();
    let kept = store
        .quarantine_email(ctx, broken, "could not be filed: subject: too long".into())
        .await
        .unwrap();
    let (status, unfiled) = s.get("/api/v1/emails/unfiled").await;
    assert_eq!(status, StatusCode::OK, "{unfiled}");
    assert_eq!(unfiled["items"][0]["id"], kept);
    assert_eq!(unfiled["items"][0]["outcome"], "quarantined");
    assert_eq!(unfiled["items"].as_array().map(Vec::len), Some(1));

    // The read-back is queued; a public reply queues an email, a note does not.
    let emails_path = format!("/api/v1/tickets/{ticket_id}/emails");
    let (status, emails) = s.get(&emails_path).await;
    assert_eq!(status, StatusCode::OK, "{emails}");
    let items = emails["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{emails}");
    assert_eq!(
        (
            items[0]["kind"].clone(),
            items[0]["status"].clone(),
            items[0]["attempts"].clone(),
            items[0]["recipient"].clone()
        ),
        (
            json!("ack"),
            json!("pending"),
            json!(0),
            json!("ann@ann.example")
        )
    );
    assert!(items[0]["last_error"].is_null());
    assert!(items[0]["email_message_id"].as_str().unwrap().contains('@'));
    let messages_path = format!("/api/v1/tickets/R-{ticket_id}/messages");
    assert_eq!(
        s.post(&messages_path, json!({"body": "Internal", "public": false}))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        s.post(&messages_path, json!({"body": "Which model do you have?"}))
            .await
            .0,
        StatusCode::CREATED
    );
    let (_, emails) = s
        .get(&format!("/api/v1/tickets/R-{ticket_id}/emails"))
        .await;
    let kinds: Vec<_> = emails["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].clone())
        .collect();
    assert_eq!(kinds, [json!("ack"), json!("reply")], "{emails}");
    assert_eq!(emails["items"][1]["status"], "pending");
    let (status, _, _) = s
        .call(Method::GET, &emails_path, Some(&s.light), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        s.get("/api/v1/tickets/99999999/emails").await.0,
        StatusCode::NOT_FOUND
    );
    s.stop().await;
}

rapport_store::on_both_backends!(
    admins_configure_the_desk,
    tickets_over_http,
    bad_requests_get_precise_problems,
    only_the_right_callers_get_in,
    retried_posts_do_not_duplicate,
    customers_organizations_and_directory,
    lists_page_and_filter_and_search_finds,
    health_and_openapi_cover_everything,
    admins_configure_inboxes_and_their_texts,
    received_email_and_its_parts_over_http,
);
