//! SLAs over HTTP, on SQLite and PostgreSQL: calendars and policies (precise problems, who may
//! write them, a used calendar kept), a ticket's clocks under its policy, commitments made by
//! time and by quick choice, fulfilled only after the customer was told, cancelled with a
//! reason, and the kept and chase rates.

use super::{Server, ticket_body};
use rapport_core::{Actor, Channel, MessageKind, Millis};
use rapport_store::{Ctx, NewMessage, Store};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

const MINUTE: i64 = 60_000;

/// Open every minute of every day in UTC: business time is elapsed time.
pub(super) fn always_open() -> Value {
    let all_day = json!([{"start": "00:00", "end": "24:00"}]);
    let hours: serde_json::Map<String, Value> = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
    .into_iter()
    .map(|day| (day.to_string(), all_day.clone()))
    .collect();
    json!({"time_zone": "UTC", "hours": hours})
}

fn millis(v: &Value) -> Millis {
    Millis::parse(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
        .unwrap_or_else(|| panic!("not a time: {v}"))
}

/// The field a 422 names.
fn field(p: &Value) -> &str {
    p["errors"][0]["field"].as_str().unwrap_or_default()
}

impl Server {
    async fn admin_call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (s, _, v) = self.call(method, path, Some(&self.admin), body).await;
        (s, v)
    }

    /// A body that is not JSON at all, sent as JSON by the admin.
    async fn admin_raw(&self, path: &str, body: &str) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.admin)
            .header("content-type", "application/json")
            .header("connection", "close")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }
}

/// A calendar open around the clock and a policy for every ticket counting on it.
async fn around_the_clock_policy(s: &Server, rules: Value) -> (i64, i64) {
    let (status, cal) = s
        .admin_call(
            Method::POST,
            "/api/v1/calendars",
            Some(json!({"name": "Around the clock", "config": always_open()})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cal}");
    let (status, policy) = s
        .admin_call(
            Method::POST,
            "/api/v1/sla-policies",
            Some(json!({"name": "Everyone", "rules": rules, "calendar_id": cal["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    (cal["id"].as_i64().unwrap(), policy["id"].as_i64().unwrap())
}

async fn calendars_and_policies_set_ticket_clocks(store: Arc<dyn Store>) {
    let s = Server::start(store).await;
    let calendar = json!({"name": "Around the clock", "config": always_open()});

    // Who may: anyone without a token nothing; agents and light agents read, admins write.
    let (status, _, _) = s.call(Method::GET, "/api/v1/calendars", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, p) = s.post("/api/v1/calendars", calendar.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("agent"), "{p}");
    let (status, _, _) = s
        .call(
            Method::POST,
            "/api/v1/calendars",
            Some(&s.light),
            Some(calendar.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, list) = s.get("/api/v1/calendars").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"], json!([]));
    let (status, _, _) = s
        .call(Method::GET, "/api/v1/sla-policies", Some(&s.light), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Refusals name what was wrong, as the body spells it.
    let (status, p) = s
        .admin_raw("/api/v1/calendars", r#"{"name": "X", "config": "#)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    let mut extra = calendar.clone();
    extra["colour"] = json!("red");
    let (status, p) = s
        .admin_call(Method::POST, "/api/v1/calendars", Some(extra))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("colour"), "{p}");
    let mut typo = calendar.clone();
    typo["config"]["hours"]["mondy"] = json!([]);
    let (status, p) = s
        .admin_call(Method::POST, "/api/v1/calendars", Some(typo))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("mondy"), "{p}");
    let mut zone = calendar.clone();
    zone["config"]["time_zone"] = json!("Mars/Olympus");
    let (status, p) = s
        .admin_call(Method::POST, "/api/v1/calendars", Some(zone))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "config.time_zone", "{p}");
    let mut late = calendar.clone();
    late["config"]["hours"]["monday"] = json!([{"start": "09:00", "end": "25:00"}]);
    let (status, p) = s
        .admin_call(Method::POST, "/api/v1/calendars", Some(late))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "config.hours.monday[0].end", "{p}");
    let (status, p) = s
        .admin_call(
            Method::POST,
            "/api/v1/calendars",
            Some(json!({"name": "Closed", "config": {"time_zone": "UTC", "hours": {}}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "config.hours", "{p}");

    // A calendar: created, read, renamed; names are unique.
    let (status, cal) = s
        .admin_call(Method::POST, "/api/v1/calendars", Some(calendar.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cal}");
    let cal_id = cal["id"].as_i64().unwrap();
    assert_eq!(cal["name"], "Around the clock");
    assert_eq!(cal["config"]["time_zone"], "UTC");
    assert_eq!(cal["config"]["hours"]["sunday"][0]["end"], "24:00");
    let (status, p) = s
        .admin_call(Method::POST, "/api/v1/calendars", Some(calendar.clone()))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    let cal_path = format!("/api/v1/calendars/{cal_id}");
    let (status, got) = s.get(&cal_path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, cal);
    assert_eq!(
        s.get("/api/v1/calendars/99999999").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("/api/v1/calendars/abc").await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, renamed) = s
        .admin_call(
            Method::PUT,
            &cal_path,
            Some(json!({"name": "24/7", "config": always_open()})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "24/7");
    assert_eq!(renamed["id"], cal_id);
    let (status, _, _) = s
        .call(
            Method::PUT,
            &cal_path,
            Some(&s.agent),
            Some(json!({"name": "Mine", "config": always_open()})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s
        .admin_call(
            Method::PUT,
            "/api/v1/calendars/99999999",
            Some(json!({"name": "Nobody's", "config": always_open()})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Policies: refusals first.
    let urgent = json!({
        "name": "Urgent",
        "conditions": {"priorities": ["urgent"]},
        "rules": {"targets": {"first_response": {"minutes": 60},
                              "resolution": {"minutes": 480, "basis": "calendar"}},
                  "warn_before_minutes": 15},
        "calendar_id": cal_id,
    });
    let mut zero = urgent.clone();
    zero["rules"]["targets"]["first_response"]["minutes"] = json!(0);
    let (status, p) = s
        .admin_call(Method::POST, "/api/v1/sla-policies", Some(zero))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "rules.targets.first_response.minutes", "{p}");
    let mut unknown_target = urgent.clone();
    unknown_target["rules"]["targets"]["first_reply"] = json!({"minutes": 5});
    let (status, p) = s
        .admin_call(Method::POST, "/api/v1/sla-policies", Some(unknown_target))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("first_reply"), "{p}");
    let mut bad_basis = urgent.clone();
    bad_basis["rules"]["targets"]["resolution"]["basis"] = json!("lunar");
    let (status, p) = s
        .admin_call(Method::POST, "/api/v1/sla-policies", Some(bad_basis))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "rules.targets.resolution.basis", "{p}");
    let mut bad_tag = urgent.clone();
    bad_tag["conditions"]["tags"] = json!(["vip", "no/slash"]);
    let (status, p) = s
        .admin_call(Method::POST, "/api/v1/sla-policies", Some(bad_tag))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "conditions.tags[1]", "{p}");
    let (status, p) = s
        .admin_call(
            Method::POST,
            "/api/v1/sla-policies",
            Some(json!({"name": "No rules"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("rules"), "{p}");
    let mut nowhere = urgent.clone();
    nowhere["calendar_id"] = json!(99999999);
    let (status, p) = s
        .admin_call(Method::POST, "/api/v1/sla-policies", Some(nowhere))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("calendar"), "{p}");
    let (status, _) = s.post("/api/v1/sla-policies", urgent.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Two policies: the urgent one first, everyone else after it.
    let (status, first) = s
        .admin_call(Method::POST, "/api/v1/sla-policies", Some(urgent.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let urgent_id = first["id"].as_i64().unwrap();
    assert_eq!(first["position"], 1);
    assert_eq!(first["calendar_id"], cal_id);
    // Defaults are filled in: the escalations a policy does not name.
    assert_eq!(first["rules"]["on_breach"]["notify_supervisors"], true);
    let (status, rest) = s
        .admin_call(
            Method::POST,
            "/api/v1/sla-policies",
            Some(json!({"name": "Everyone", "rules": {"targets": {"first_response": {"minutes": 240}}}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rest}");
    let rest_id = rest["id"].as_i64().unwrap();
    assert_eq!(rest["position"], 2);
    assert_eq!(rest["conditions"], json!({}));
    assert_eq!(rest["calendar_id"], Value::Null);
    let rest_path = format!("/api/v1/sla-policies/{rest_id}");
    let (status, renamed) = s
        .admin_call(
            Method::PUT,
            &rest_path,
            Some(json!({"name": "Everyone else", "rules": {"targets": {"first_response": {"minutes": 240}}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "Everyone else");
    assert_eq!(
        renamed["position"], 2,
        "a replace without position keeps it"
    );
    let (status, list) = s.get("/api/v1/sla-policies").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Urgent", "Everyone else"]);
    let (status, got) = s.get(&format!("/api/v1/sla-policies/{urgent_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, first);
    assert_eq!(
        s.get("/api/v1/sla-policies/99999999").await.0,
        StatusCode::NOT_FOUND
    );

    // An urgent ticket runs on the urgent policy, counted on the calendar open around the
    // clock: due exactly its target after it was created.
    let mut body = ticket_body("Site down", "ann@example.com");
    body["priority"] = json!("urgent");
    let (status, t) = s.post("/api/v1/tickets", body).await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    let created = millis(&t["created_at"]);
    let sla_path = format!("/api/v1/tickets/{}/sla", t["id"]);
    let (status, sla) = s.get(&sla_path).await;
    assert_eq!(status, StatusCode::OK, "{sla}");
    assert_eq!(sla["ticket_id"], t["id"]);
    assert_eq!(sla["policy_id"], urgent_id);
    assert_eq!(sla["policy_name"], "Urgent");
    assert_eq!(sla["paused"], false);
    assert_eq!(sla["breaches"], 0);
    assert_eq!(sla["due_target"], "first_response");
    assert_eq!(millis(&sla["due_at"]), created.plus_minutes(60));
    let targets = sla["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2, "{sla}");
    assert_eq!(targets[0]["target"], "first_response");
    assert_eq!(targets[0]["state"], "running");
    assert_eq!(targets[0]["minutes"], 60);
    assert_eq!(targets[0]["basis"], "business");
    assert_eq!(millis(&targets[0]["due_at"]), created.plus_minutes(60));
    assert_eq!(targets[1]["target"], "resolution");
    assert_eq!(targets[1]["basis"], "calendar");
    assert_eq!(millis(&targets[1]["due_at"]), created.plus_minutes(480));
    // Light agents read tickets, so they read their SLA too.
    let (status, _, _) = s.call(Method::GET, &sla_path, Some(&s.light), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = s.call(Method::GET, &sla_path, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The first public reply meets the first-response target; resolution keeps running.
    let (status, _) = s
        .post(
            &format!("/api/v1/tickets/{}/messages", t["id"]),
            json!({"body": "We are on it."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, sla) = s.get(&sla_path).await;
    assert_eq!(sla["targets"][0]["state"], "met", "{sla}");
    assert!(sla["targets"][0]["met_at"].is_string(), "{sla}");
    assert_eq!(sla["due_target"], "resolution");
    assert_eq!(millis(&sla["due_at"]), created.plus_minutes(480));

    // A normal ticket falls through to the policy for everyone else.
    let (_, normal) = s
        .post("/api/v1/tickets", ticket_body("Question", "bo@example.com"))
        .await;
    let (status, sla) = s
        .get(&format!("/api/v1/tickets/R-{}/sla", normal["id"]))
        .await;
    assert_eq!(status, StatusCode::OK, "{sla}");
    assert_eq!(sla["policy_id"], rest_id);
    assert_eq!(sla["targets"][0]["minutes"], 240);
    let (status, p) = s.get("/api/v1/tickets/99999999/sla").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{p}");
    assert_eq!(p["type"], "/problems/not-found");
    assert_eq!(
        s.get("/api/v1/tickets/nope/sla").await.0,
        StatusCode::BAD_REQUEST
    );

    // A calendar a policy counts on stays; the problem says which policy.
    let (status, p) = s.admin_call(Method::DELETE, &cal_path, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("Urgent"), "{p}");
    let urgent_path = format!("/api/v1/sla-policies/{urgent_id}");
    let (status, _, _) = s
        .call(Method::DELETE, &urgent_path, Some(&s.agent), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = s
        .call(Method::DELETE, &cal_path, Some(&s.light), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, gone) = s.admin_call(Method::DELETE, &urgent_path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{gone}");
    assert_eq!(s.get(&urgent_path).await.0, StatusCode::NOT_FOUND);
    let (status, _) = s.admin_call(Method::DELETE, &urgent_path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.admin_call(Method::DELETE, &cal_path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(s.get(&cal_path).await.0, StatusCode::NOT_FOUND);
    let (_, list) = s.get("/api/v1/calendars").await;
    assert_eq!(list["items"], json!([]));
    s.stop().await;
}

async fn commitments_are_made_kept_and_counted(store: Arc<dyn Store>) {
    let s = Server::start(store.clone()).await;
    around_the_clock_policy(&s, json!({"targets": {"first_response": {"minutes": 60}}})).await;
    let (_, t) = s
        .post(
            "/api/v1/tickets",
            ticket_body("Broken router", "ann@example.com"),
        )
        .await;
    let id = t["id"].as_i64().unwrap();
    let path = format!("/api/v1/tickets/{id}/commitments");

    // By quick choice: two business hours on a calendar open around the clock.
    let (status, next) = s
        .post(
            &path,
            json!({"kind": "next_update", "quick": "in_two_hours"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{next}");
    assert_eq!(next["kind"], "next_update");
    assert_eq!(next["status"], "open");
    assert_eq!(next["ticket_id"], id);
    assert_eq!(next["description"], "");
    assert_eq!(
        next["owner_id"], s.agent_id,
        "unassigned: the caller owns it"
    );
    assert_eq!(next["created_by"], s.agent_id);
    let made = millis(&next["created_at"]);
    assert_eq!(millis(&next["due_at"]), made.plus_minutes(120));
    assert_eq!(millis(&next["remind_at"]), made.plus_minutes(60));

    // By time.
    let due = Millis(millis(&t["created_at"]).0 + 24 * 60 * MINUTE);
    let (status, promise) = s
        .post(
            &path,
            json!({"kind": "promise", "description": "Replacement ships", "due_at": due.to_string()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{promise}");
    assert_eq!(millis(&promise["due_at"]), due);
    assert_eq!(promise["description"], "Replacement ships");

    // Refusals name the field.
    for (body, named) in [
        (
            json!({"kind": "promise", "description": "Yesterday", "due_at": "2020-01-01T00:00:00Z"}),
            "due_at",
        ),
        (
            json!({"kind": "promise", "description": "Soon", "due_at": "soon"}),
            "due_at",
        ),
        (json!({"kind": "promise", "description": "When?"}), "due_at"),
        (
            json!({"kind": "promise", "description": "Both", "due_at": due.to_string(), "quick": "next_week"}),
            "quick",
        ),
        (
            json!({"kind": "promise", "description": "Later", "quick": "someday"}),
            "quick",
        ),
        (
            json!({"kind": "vow", "description": "x", "quick": "next_week"}),
            "kind",
        ),
        (
            json!({"kind": "promise", "quick": "next_week"}),
            "description",
        ),
    ] {
        let (status, p) = s.post(&path, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {p}");
        assert_eq!(field(&p), named, "{body}: {p}");
    }
    let (status, p) = s
        .post(
            &path,
            json!({"kind": "promise", "description": "x", "quick": "next_week", "owner": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("owner"), "{p}");
    // Light agents never promise the customer anything; nobody promises on unknown tickets.
    let (status, _, p) = s
        .call(
            Method::POST,
            &path,
            Some(&s.light),
            Some(json!({"kind": "next_update", "quick": "end_of_day"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{p}");
    let (status, _) = s
        .post(
            "/api/v1/tickets/99999999/commitments",
            json!({"kind": "next_update", "quick": "end_of_day"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        s.get("/api/v1/tickets/99999999/commitments").await.0,
        StatusCode::NOT_FOUND
    );

    // A promise is fulfilled only once a public reply told the customer.
    let fulfil = format!("/api/v1/commitments/{}/fulfil", promise["id"]);
    let (status, p) = s.post(&fulfil, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("public reply"),
        "{p}"
    );
    let (status, _) = s
        .post(
            &format!("/api/v1/tickets/{id}/messages"),
            json!({"body": "The replacement ships today."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, kept) = s.post(&fulfil, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["status"], "kept");
    assert!(kept["resolved_at"].is_string(), "{kept}");
    let (status, p) = s.post(&fulfil, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("kept"), "{p}");
    let (status, _, _) = s.call(Method::POST, &fulfil, Some(&s.light), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        s.post("/api/v1/commitments/99999999/fulfil", json!({}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.post("/api/v1/commitments/abc/fulfil", json!({})).await.0,
        StatusCode::BAD_REQUEST
    );

    // Cancelled with a reason, once.
    let (status, later) = s
        .post(
            &path,
            json!({"kind": "promise", "description": "Call back", "quick": "tomorrow_morning"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{later}");
    assert!(millis(&later["due_at"]) > millis(&later["created_at"]));
    let cancel = format!("/api/v1/commitments/{}/cancel", later["id"]);
    let (status, p) = s.post(&cancel, json!({"reason": " "})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "reason", "{p}");
    let (status, p) = s.post(&cancel, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (status, cancelled) = s
        .post(&cancel, json!({"reason": "The customer will call us"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["note"], "The customer will call us");
    let (status, _) = s.post(&cancel, json!({"reason": "Again"})).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The public reply kept the next-update time by itself.
    let (status, list) = s.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<(&str, &str)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("next_update", "kept"),
            ("promise", "kept"),
            ("promise", "cancelled")
        ]
    );

    // A second ticket: the customer asks for news before any answer, then it is solved.
    let (_, other) = s
        .post("/api/v1/tickets", ticket_body("Invoice", "bo@example.com"))
        .await;
    let other_id = other["id"].as_i64().unwrap();
    store
        .add_message(
            Ctx {
                actor: Actor::customer(other["customer"]["id"].as_i64().unwrap()),
                at: rapport_web::now(),
            },
            other_id,
            NewMessage {
                kind: MessageKind::Customer,
                channel: Channel::Email,
                body: "Any update on my invoice?".into(),
                send_email: false,
                attachments: Vec::new(),
            },
            None,
        )
        .await
        .unwrap();
    let (status, _) = s
        .patch(
            &format!("/api/v1/tickets/{other_id}"),
            json!({"status": "solved"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, p) = s
        .post(
            &format!("/api/v1/tickets/{other_id}/commitments"),
            json!({"kind": "next_update", "quick": "end_of_day"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("solved"), "{p}");

    // The rates: supervisors and admins only.
    let (status, p) = s.get("/api/v1/metrics/commitments").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{p}");
    assert_eq!(
        s.get("/api/v1/metrics/chases").await.0,
        StatusCode::FORBIDDEN
    );
    let (status, rates) = s
        .admin_call(Method::GET, "/api/v1/metrics/commitments", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{rates}");
    let overall = &rates["items"][0];
    assert_eq!(overall["scope"], "overall", "{rates}");
    assert_eq!(overall["kept"], 2, "{rates}");
    assert_eq!(overall["broken"], 0);
    assert_eq!(overall["open"], 0);
    assert_eq!(overall["rate"], 1.0);
    let mine = rates["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scope"] == "agent")
        .unwrap_or_else(|| panic!("an agent row: {rates}"));
    assert_eq!(mine["id"], s.agent_id);
    assert_eq!(mine["name"], "agent@example.com");
    assert_eq!(mine["kept"], 2);
    let (status, future) = s
        .admin_call(
            Method::GET,
            "/api/v1/metrics/commitments?since=2100-01-01",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{future}");
    assert_eq!(future["items"][0]["kept"], 0);
    assert_eq!(future["items"][0]["rate"], Value::Null);
    let (status, p) = s
        .admin_call(Method::GET, "/api/v1/metrics/commitments?since=soon", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "since");
    let (status, p) = s
        .admin_call(Method::GET, "/api/v1/metrics/chases?until=2020-01-01", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    let (status, chases) = s
        .admin_call(
            Method::GET,
            "/api/v1/metrics/chases?since=2020-01-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{chases}");
    let everyone = &chases["items"][0];
    assert_eq!(everyone["team_id"], Value::Null, "{chases}");
    assert_eq!(everyone["tickets"], 2, "{chases}");
    assert_eq!(everyone["chased"], 1, "{chases}");
    assert_eq!(everyone["chases"], 1);
    assert_eq!(everyone["rate"], 0.5);
    s.stop().await;
}

rapport_store::on_both_backends!(
    calendars_and_policies_set_ticket_clocks,
    commitments_are_made_kept_and_counted,
);
