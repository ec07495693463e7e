//! Routing and ownership over HTTP, on SQLite and PostgreSQL: availability and routing
//! profiles (who may change them, skills normalised, precise problems), team routing giving
//! new tickets an owner by round robin and least loaded under capacity and availability,
//! transfers with their reason, internal requests between teams (walls for outsiders, light
//! agents answering, the asker alerted), the honest no, irate customers flagged, the one-touch
//! rate, the tone and silent-no settings, and tickets at risk of a silent no.

use super::{Server, staff, ticket_body};
use rapport_core::{Actor, Channel, Millis, Priority, Role, TicketStatus};
use rapport_store::{Ctx, NewTicket, Requester, Store};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

const HOUR: i64 = 3_600_000;

/// The field a 422 names.
fn field(p: &Value) -> &str {
    p["errors"][0]["field"].as_str().unwrap_or_default()
}

fn items(list: &Value) -> &Vec<Value> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
}

impl Server {
    async fn as_(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (s, _, v) = self.call(method, path, Some(token), body).await;
        (s, v)
    }

    /// The id of one of the three agents `Server::start` made.
    async fn id_of(&self, email: &str) -> i64 {
        let (_, agents) = self.get("/api/v1/agents").await;
        items(&agents)
            .iter()
            .find(|a| a["email"] == email)
            .unwrap_or_else(|| panic!("no {email}: {agents}"))["id"]
            .as_i64()
            .unwrap()
    }

    /// A team with these members, made by the admin.
    async fn team(&self, name: &str, members: &[i64]) -> i64 {
        let (status, team) = self
            .as_(
                &self.admin,
                Method::POST,
                "/api/v1/teams",
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{team}");
        let id = team["id"].as_i64().unwrap();
        for member in members {
            let (status, t) = self
                .as_(
                    &self.admin,
                    Method::POST,
                    &format!("/api/v1/teams/{id}/members"),
                    Some(json!({"agent_id": member})),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{t}");
        }
        id
    }

    /// A ticket created by the agent, with extra fields.
    async fn ticket_with(&self, subject: &str, email: &str, extra: Value) -> Value {
        let mut body = ticket_body(subject, email);
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, t) = self.post("/api/v1/tickets", body).await;
        assert_eq!(status, StatusCode::CREATED, "{t}");
        t
    }

    async fn events(&self, ticket: i64) -> Vec<Value> {
        let (status, events) = self
            .get(&format!("/api/v1/tickets/{ticket}/events?limit=200"))
            .await;
        assert_eq!(status, StatusCode::OK, "{events}");
        items(&events).clone()
    }
}

async fn availability_and_routing_profiles(store: Arc<dyn Store>) {
    let s = Server::start(store).await;
    let admin_id = s.id_of("admin@example.com").await;
    let light_id = s.id_of("light@example.com").await;

    // Everyone on staff reads and sets their own availability; it is recorded.
    let (status, me) = s.get("/api/v1/agents/me/availability").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["agent_id"], s.agent_id);
    assert_eq!(me["availability"], "online");
    assert_eq!(me["skills"], json!([]));
    assert_eq!(me["load"], 0);
    let (status, me) = s
        .as_(
            &s.agent,
            Method::PUT,
            "/api/v1/agents/me/availability",
            Some(json!({"availability": "away"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["availability"], "away");
    let (_, me) = s.get("/api/v1/agents/me/availability").await;
    assert_eq!(me["availability"], "away");
    let (status, p) = s
        .as_(
            &s.agent,
            Method::PUT,
            "/api/v1/agents/me/availability",
            Some(json!({"availability": "busy"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "availability", "{p}");
    let (status, p) = s
        .as_(
            &s.agent,
            Method::PUT,
            "/api/v1/agents/me/availability",
            Some(json!({"availability": "online", "until": "5pm"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (status, light) = s
        .as_(
            &s.light,
            Method::PUT,
            "/api/v1/agents/me/availability",
            Some(json!({"availability": "offline"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{light}");
    assert_eq!(light["agent_id"], light_id);
    assert_eq!(light["availability"], "offline");

    // Profiles: everyone reads them.
    let (status, list) = s
        .as_(&s.light, Method::GET, "/api/v1/routing/agents", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(items(&list).len(), 3, "{list}");
    let path = format!("/api/v1/agents/{admin_id}/routing");
    let (status, profile) = s.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(profile["agent_id"], admin_id);
    let (status, mine) = s.get("/api/v1/agents/me/routing").await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["agent_id"], s.agent_id);
    assert_eq!(
        s.get("/api/v1/agents/99999999/routing").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("/api/v1/agents/abc/routing").await.0,
        StatusCode::BAD_REQUEST
    );

    // Only admins change them; agents and light agents are refused, for others and themselves.
    let change = json!({"capacity": 5});
    let (status, p) = s.patch(&path, change.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{p}");
    let (status, _) = s
        .as_(&s.light, Method::PATCH, &path, Some(change.clone()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s.patch("/api/v1/agents/me/routing", change.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Skills are stored as tags spell them, once each; bad values name their field.
    let agent_path = format!("/api/v1/agents/{}/routing", s.agent_id);
    let (status, changed) = s
        .as_(
            &s.admin,
            Method::PATCH,
            &agent_path,
            Some(json!({"capacity": 5, "skills": ["Billing", " DE ", "billing", "De-Escalation"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["capacity"], 5);
    assert_eq!(
        changed["skills"],
        json!(["billing", "de", "de-escalation"]),
        "{changed}"
    );
    for (body, name) in [
        (json!({"capacity": 0}), "capacity"),
        (json!({"capacity": 1001}), "capacity"),
        (json!({"capacity": -3}), "capacity"),
        (json!({"skills": ["a b!"]}), "skills"),
        (json!({"skills": "billing"}), "skills"),
    ] {
        let (status, p) = s
            .as_(&s.admin, Method::PATCH, &agent_path, Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {p}");
        assert_eq!(field(&p), name, "{body}: {p}");
    }
    let (status, p) = s
        .as_(
            &s.admin,
            Method::PATCH,
            &agent_path,
            Some(json!({"calendar_id": 99999999})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{p}");
    let (status, p) = s
        .as_(
            &s.admin,
            Method::PATCH,
            &agent_path,
            Some(json!({"shift": "early"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    // Working hours: agents on a calendar open around the clock are on shift.
    let (status, cal) = s
        .as_(
            &s.admin,
            Method::POST,
            "/api/v1/calendars",
            Some(json!({"name": "Always", "config": super::sla::always_open()})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cal}");
    for agent in [s.agent_id, admin_id] {
        let (status, shifted) = s
            .as_(
                &s.admin,
                Method::PATCH,
                &format!("/api/v1/agents/{agent}/routing"),
                Some(json!({"calendar_id": cal["id"]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{shifted}");
        assert_eq!(shifted["calendar_id"], cal["id"]);
        assert_eq!(shifted["on_shift"], true, "{shifted}");
    }
    let (_, list) = s.get("/api/v1/routing/agents").await;
    assert!(
        items(&list)
            .iter()
            .all(|p| p["on_shift"] == true && p["capacity"].is_u64()),
        "{list}"
    );
    // Refusals changed nothing; absent fields are kept, `null` clears the calendar.
    let (status, same) = s
        .as_(
            &s.admin,
            Method::PATCH,
            &agent_path,
            Some(json!({"calendar_id": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(same["capacity"], 5);
    assert_eq!(same["calendar_id"], Value::Null);
    assert_eq!(same["skills"], changed["skills"]);
    assert_eq!(
        s.as_(
            &s.admin,
            Method::PATCH,
            "/api/v1/agents/99999999/routing",
            Some(change)
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    s.stop().await;
}

async fn teams_route_new_tickets(store: Arc<dyn Store>) {
    let s = Server::start(store.clone()).await;
    let ann = s.agent_id;
    let (bob, _) = staff(&store, "bob@example.com", Role::Agent).await;
    let (cat, cat_token) = staff(&store, "cat@example.com", Role::Agent).await;
    let team = s.team("Front line", &[ann, bob, cat]).await;
    let (status, _) = s
        .as_(
            &cat_token,
            Method::PUT,
            "/api/v1/agents/me/availability",
            Some(json!({"availability": "away"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Only admins set a team's routing; its values are checked.
    let path = format!("/api/v1/teams/{team}/routing");
    let (status, p) = s
        .as_(
            &s.agent,
            Method::PUT,
            &path,
            Some(json!({"assignment": "round_robin"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{p}");
    for (body, name) in [
        (json!({"reoffer_after_minutes": 0}), "reoffer_after_minutes"),
        (
            json!({"internal_due_minutes": 50000}),
            "internal_due_minutes",
        ),
        (json!({"assignment": "random"}), "assignment"),
    ] {
        let (status, p) = s
            .as_(&s.admin, Method::PUT, &path, Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {p}");
        assert_eq!(field(&p), name, "{body}: {p}");
    }
    let (status, p) = s
        .as_(&s.admin, Method::PUT, &path, Some(json!({"colour": "red"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (status, _) = s
        .as_(
            &s.admin,
            Method::PUT,
            "/api/v1/teams/99999999/routing",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, t) = s
        .as_(
            &s.admin,
            Method::PUT,
            &path,
            Some(json!({"assignment": "round_robin"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["id"], team);
    assert_eq!(t["routing"]["assignment"], "round_robin");
    assert_eq!(t["routing"]["continuity"], true);

    // Round robin between the available members, in turn; the away one gets nothing.
    let mut owners = Vec::new();
    let mut last_id = 0;
    for i in 0..4 {
        let t = s
            .ticket_with(
                &format!("Question {i}"),
                &format!("c{i}@example.com"),
                json!({"team_id": team}),
            )
            .await;
        owners.push(t["assignee_id"].as_i64().unwrap_or_else(|| panic!("{t}")));
        last_id = t["id"].as_i64().unwrap();
    }
    assert_eq!(owners, [ann, bob, ann, bob]);
    let routed = s
        .events(last_id)
        .await
        .into_iter()
        .find(|e| e["kind"] == "ticket.routed")
        .unwrap_or_else(|| panic!("no ticket.routed event"));
    assert_eq!(routed["data"]["agent_id"], bob, "{routed}");
    assert_eq!(routed["data"]["reason"], "round_robin", "{routed}");
    let (_, cat_profile) = s.get(&format!("/api/v1/agents/{cat}/routing")).await;
    assert_eq!(cat_profile["load"], 0, "{cat_profile}");
    let (_, bob_profile) = s.get(&format!("/api/v1/agents/{bob}/routing")).await;
    assert_eq!(bob_profile["load"], 2, "{bob_profile}");

    // Least loaded under capacity: Bob is full at 2, so Ann gets the next one even though
    // round robin would have chosen Bob.
    let (status, t) = s
        .as_(
            &s.admin,
            Method::PUT,
            &path,
            Some(json!({"assignment": "least_loaded"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let (status, _) = s
        .as_(
            &s.admin,
            Method::PATCH,
            &format!("/api/v1/agents/{bob}/routing"),
            Some(json!({"capacity": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let t = s
        .ticket_with("Question 5", "c5@example.com", json!({"team_id": team}))
        .await;
    assert_eq!(t["assignee_id"], ann, "{t}");

    // Nobody available: Ann goes away too, and the next ticket waits in the queue.
    let (status, _) = s
        .as_(
            &s.agent,
            Method::PUT,
            "/api/v1/agents/me/availability",
            Some(json!({"availability": "away"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let t = s
        .ticket_with("Question 6", "c6@example.com", json!({"team_id": team}))
        .await;
    assert_eq!(t["assignee_id"], Value::Null, "{t}");
    assert_eq!(t["team_id"], team);
    let (_, cat_profile) = s.get(&format!("/api/v1/agents/{cat}/routing")).await;
    assert_eq!(cat_profile["load"], 0, "{cat_profile}");

    // A manual team never routes.
    let (status, _) = s
        .as_(
            &s.admin,
            Method::PUT,
            &path,
            Some(json!({"assignment": "manual"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s
        .as_(
            &s.agent,
            Method::PUT,
            "/api/v1/agents/me/availability",
            Some(json!({"availability": "online"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let t = s
        .ticket_with("Question 7", "c7@example.com", json!({"team_id": team}))
        .await;
    assert_eq!(t["assignee_id"], Value::Null, "{t}");
    s.stop().await;
}

async fn transfers_need_a_reason(store: Arc<dyn Store>) {
    let s = Server::start(store).await;
    let admin_id = s.id_of("admin@example.com").await;
    let t = s.ticket_with("Printer", "pat@example.com", json!({})).await;
    let id = t["id"].as_i64().unwrap();
    let path = format!("/api/v1/tickets/{id}");
    let transfers = format!("/api/v1/tickets/{id}/transfers");

    // Taking an unowned ticket is no transfer.
    let (status, owned) = s.patch(&path, json!({"assignee_id": s.agent_id})).await;
    assert_eq!(status, StatusCode::OK, "{owned}");
    let (status, list) = s.get(&transfers).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["items"], json!([]));

    // Handing it on is, and needs a reason.
    let (status, p) = s.patch(&path, json!({"assignee_id": admin_id})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "transfer_reason", "{p}");
    let (status, p) = s
        .patch(
            &path,
            json!({"assignee_id": admin_id, "transfer_reason": "  "}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "transfer_reason", "{p}");
    let (_, unchanged) = s.get(&path).await;
    assert_eq!(unchanged["assignee_id"], s.agent_id);
    let (status, moved) = s
        .patch(
            &path,
            json!({"assignee_id": admin_id, "transfer_reason": "Needs  a refund  approval"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["assignee_id"], admin_id);
    let (status, list) = s.as_(&s.light, Method::GET, &transfers, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let all = items(&list);
    assert_eq!(all.len(), 1, "{list}");
    assert_eq!(all[0]["ticket_id"], id);
    assert_eq!(all[0]["from_agent_id"], s.agent_id);
    assert_eq!(all[0]["to_agent_id"], admin_id);
    assert_eq!(all[0]["reason"], "Needs a refund approval");
    assert_eq!(all[0]["by_agent_id"], s.agent_id);
    assert!(
        s.events(id)
            .await
            .iter()
            .any(|e| e["kind"] == "ticket.transferred")
    );
    assert_eq!(
        s.get("/api/v1/tickets/99999999/transfers").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("/api/v1/tickets/abc/transfers").await.0,
        StatusCode::BAD_REQUEST
    );
    s.stop().await;
}

async fn internal_requests_between_teams(store: Arc<dyn Store>) {
    let s = Server::start(store.clone()).await;
    let owner = s.agent_id;
    let light_id = s.id_of("light@example.com").await;
    let (mia, mia_token) = staff(&store, "mia@example.com", Role::Agent).await;
    let (_, otto_token) = staff(&store, "otto@example.com", Role::Agent).await;
    let billing = s.team("Billing", &[mia, light_id]).await;
    let t = s
        .ticket_with("Refund", "rita@example.com", json!({"assignee_id": owner}))
        .await;
    let ticket = t["id"].as_i64().unwrap();

    // Asking: the values are checked and named.
    let ask =
        json!({"ticket_id": ticket, "team_id": billing, "body": "Was invoice 4411 refunded?"});
    for (change, name) in [
        (json!({"body": "  "}), "body"),
        (json!({"due_at": "tomorrow"}), "due_at"),
        (json!({"due_at": "2001-01-01T00:00:00Z"}), "due_at"),
        (json!({"team_id": "billing"}), "team_id"),
    ] {
        let mut body = ask.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, p) = s.post("/api/v1/internal-requests", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {p}");
        assert_eq!(field(&p), name, "{body}: {p}");
    }
    let mut unknown = ask.clone();
    unknown["team_id"] = json!(99999999);
    assert_eq!(
        s.post("/api/v1/internal-requests", unknown).await.0,
        StatusCode::NOT_FOUND
    );
    let mut unknown = ask.clone();
    unknown["ticket_id"] = json!(99999999);
    assert_eq!(
        s.post("/api/v1/internal-requests", unknown).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, request) = s.post("/api/v1/internal-requests", ask.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    assert_eq!(request["status"], "open");
    assert_eq!(request["requester_id"], owner);
    assert_eq!(request["team_id"], billing);
    assert_eq!(request["ticket_id"], ticket);
    assert_eq!(request["ticket_subject"], "Refund");
    assert_eq!(request["assignee_id"], Value::Null);
    let id = request["id"].as_i64().unwrap();
    let path = format!("/api/v1/internal-requests/{id}");
    let replies = format!("{path}/replies");

    // An agent neither asking nor in the team is told it does not exist.
    let (status, _) = s.as_(&otto_token, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .as_(
            &otto_token,
            Method::POST,
            &replies,
            Some(json!({"body": "Let me see"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .as_(&otto_token, Method::POST, &format!("{path}/take"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, list) = s
        .as_(&otto_token, Method::GET, "/api/v1/internal-requests", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["items"], json!([]));
    // The admin sees it; the team and the asker list it.
    let (status, _) = s.as_(&s.admin, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = s
        .as_(
            &s.light,
            Method::GET,
            "/api/v1/internal-requests?team=mine&open=true",
            None,
        )
        .await;
    assert_eq!(items(&list).len(), 1, "{list}");
    let (_, list) = s
        .get(&format!(
            "/api/v1/internal-requests?requester=me&ticket={ticket}"
        ))
        .await;
    assert_eq!(items(&list).len(), 1, "{list}");
    let (_, list) = s.get("/api/v1/internal-requests?team=mine").await;
    assert_eq!(list["items"], json!([]), "the asker is in no team");
    let (_, list) = s
        .as_(
            &otto_token,
            Method::GET,
            &format!("/api/v1/internal-requests?team={billing}"),
            None,
        )
        .await;
    assert_eq!(list["items"], json!([]));
    let (status, p) = s.get("/api/v1/internal-requests?team=billing").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "team");

    // A light agent of the team answers: it becomes theirs, and the asker is alerted.
    let (status, answered) = s
        .as_(
            &s.light,
            Method::POST,
            &replies,
            Some(json!({"body": "Checking with the bank"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answered}");
    assert_eq!(answered["assignee_id"], light_id);
    assert_eq!(answered["status"], "open");
    // The asker cannot call it done.
    let (status, p) = s
        .post(&replies, json!({"body": "Thanks, done", "done": true}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    // A member of the team finishes it.
    let (status, done) = s
        .as_(
            &mia_token,
            Method::POST,
            &replies,
            Some(json!({"body": "Refunded on 3 March.", "done": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "done");
    assert!(done["closed_at"].is_string(), "{done}");
    let (status, got) = s.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    let bodies: Vec<&str> = got["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["Checking with the bank", "Refunded on 3 March."]);
    let alerts: Vec<Value> = s
        .events(ticket)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "agent.alerted" && e["subject_id"] == owner)
        .collect();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(
        alerts[1]["data"]["text"]
            .as_str()
            .unwrap()
            .contains("finished"),
        "{alerts:?}"
    );
    // Closed is closed.
    let (status, _) = s
        .as_(
            &mia_token,
            Method::POST,
            &replies,
            Some(json!({"body": "One more thing"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, list) = s
        .as_(
            &s.light,
            Method::GET,
            "/api/v1/internal-requests?team=mine&open=true",
            None,
        )
        .await;
    assert_eq!(list["items"], json!([]));

    // Staff as internal customers: a light agent asks without a ticket; a member takes it; only
    // the asker withdraws it, with a reason.
    let (status, own) = s
        .as_(
            &s.light,
            Method::POST,
            "/api/v1/internal-requests",
            Some(json!({"team_id": billing, "body": "New laptop?", "due_at": "2099-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{own}");
    assert_eq!(field(&own), "due_at");
    let (status, own) = s
        .as_(
            &s.light,
            Method::POST,
            "/api/v1/internal-requests",
            Some(json!({"team_id": billing, "body": "New laptop?"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    assert_eq!(own["ticket_id"], Value::Null);
    let own_path = format!("/api/v1/internal-requests/{}", own["id"]);
    let (status, taken) = s
        .as_(&mia_token, Method::POST, &format!("{own_path}/take"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{taken}");
    assert_eq!(taken["assignee_id"], mia);
    let cancel = format!("{own_path}/cancel");
    let (status, p) = s
        .as_(
            &mia_token,
            Method::POST,
            &cancel,
            Some(json!({"reason": "Not ours"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    let (status, p) = s
        .as_(
            &s.light,
            Method::POST,
            &cancel,
            Some(json!({"reason": " "})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "reason");
    let (status, cancelled) = s
        .as_(
            &s.light,
            Method::POST,
            &cancel,
            Some(json!({"reason": "Got one from IT"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let (status, _) = s
        .as_(
            &s.light,
            Method::POST,
            &cancel,
            Some(json!({"reason": "Again"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The admin lists everything; ids that are not numbers are 400s.
    let (_, all) = s
        .as_(&s.admin, Method::GET, "/api/v1/internal-requests", None)
        .await;
    assert_eq!(items(&all).len(), 2, "{all}");
    assert_eq!(
        s.get("/api/v1/internal-requests/abc").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        s.get("/api/v1/internal-requests/99999999").await.0,
        StatusCode::NOT_FOUND
    );
    s.stop().await;
}

async fn honest_noes_solve_and_tell_the_customer(store: Arc<dyn Store>) {
    let s = Server::start(store).await;
    let t = s
        .ticket_with("Card blocked", "vera@example.com", json!({}))
        .await;
    let id = t["id"].as_i64().unwrap();
    let refer = format!("/api/v1/tickets/{id}/refer");
    let referral = format!("/api/v1/tickets/{id}/referral");
    let good = json!({"body": "I am sorry: we cannot unblock cards.",
        "referral": {"referred_to": "Your bank", "how_to_reach": "The number on the back of your card"}});

    let (status, p) = s.get(&referral).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{p}");
    assert_eq!(p["type"], "/problems/no-referral", "{p}");
    let (status, p) = s.get("/api/v1/tickets/99999999/referral").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{p}");
    assert_eq!(p["type"], "/problems/not-found", "{p}");

    // Light agents never write to customers; the referral must say who and how.
    let (status, _) = s
        .as_(&s.light, Method::POST, &refer, Some(good.clone()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, p) = s
        .post(
            &refer,
            json!({"body": "Sorry.", "referral": {"referred_to": "Your bank"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "referral.how_to_reach", "{p}");
    let (status, p) = s
        .post(
            &refer,
            json!({"body": "Sorry.", "referral": {"referred_to": " ", "how_to_reach": "x"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "referral.referred_to", "{p}");
    let (status, p) = s
        .post(
            &refer,
            json!({"body": "Sorry.", "referral": {"referred_to": "A", "how_to_reach": "B", "fax": "C"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("fax"), "{p}");
    let (status, p) = s
        .post(
            &refer,
            json!({"body": " ", "referral": {"referred_to": "A", "how_to_reach": "B"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "body", "{p}");
    let (_, still) = s.get(&format!("/api/v1/tickets/{id}")).await;
    assert_ne!(still["status"], "solved");

    // The honest no: a reply naming who and how, the ticket solved, the customer emailed.
    let (status, record) = s.post(&refer, good.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    assert_eq!(record["ticket_id"], id);
    assert_eq!(record["referred_to"], "Your bank");
    assert_eq!(record["agent_id"], s.agent_id);
    assert!(
        record["answered_after_ms"].as_i64().unwrap() >= 0,
        "{record}"
    );
    let (_, ticket) = s.get(&format!("/api/v1/tickets/{id}")).await;
    assert_eq!(ticket["status"], "solved", "{ticket}");
    let (_, messages) = s.get(&format!("/api/v1/tickets/{id}/messages")).await;
    let reply = items(&messages)
        .iter()
        .find(|m| m["id"] == record["message_id"])
        .unwrap_or_else(|| panic!("the reply: {messages}"));
    let text = reply["body"].as_str().unwrap();
    assert!(
        text.starts_with("I am sorry: we cannot unblock cards."),
        "{text}"
    );
    assert!(text.contains("Who can help: Your bank"), "{text}");
    assert!(
        text.contains("How to reach them: The number on the back of your card"),
        "{text}"
    );
    let (status, emails) = s.get(&format!("/api/v1/tickets/{id}/emails")).await;
    assert_eq!(status, StatusCode::OK, "{emails}");
    assert!(
        items(&emails)
            .iter()
            .any(|e| e["kind"] == "reply" && e["recipient"] == "vera@example.com"),
        "{emails}"
    );
    let (status, got) = s.as_(&s.light, Method::GET, &referral, None).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got, record);
    assert!(
        s.events(id)
            .await
            .iter()
            .any(|e| e["kind"] == "ticket.referred")
    );

    // Once solved, there is nothing left to refer.
    let (status, p) = s.post(&refer, good).await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("solved"), "{p}");
    let (_, messages) = s.get(&format!("/api/v1/tickets/{id}/messages")).await;
    assert_eq!(items(&messages).len(), 2, "{messages}");
    s.stop().await;
}

async fn irate_customers_are_flagged(store: Arc<dyn Store>) {
    let s = Server::start(store).await;

    // A furious customer: the tone says why, the ticket is tagged and raised.
    let furious = json!({"subject": "Still broken", "customer": {"email": "max@example.com"},
        "message": {"body": "This is the THIRD time I am writing and nobody answers. This is \
            absolutely unacceptable and I am furious!!! If this is not fixed today I will cancel \
            and talk to my lawyer."}});
    let (status, t) = s.post("/api/v1/tickets", furious).await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    let id = t["id"].as_i64().unwrap();
    let (status, tone) = s
        .as_(
            &s.light,
            Method::GET,
            &format!("/api/v1/tickets/{id}/tone"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tone}");
    let scored = items(&tone);
    assert_eq!(scored.len(), 1, "{tone}");
    assert_eq!(scored[0]["irate"], true, "{tone}");
    assert!(scored[0]["score"].as_u64().unwrap() >= 50, "{tone}");
    let reasons = scored[0]["reasons"].as_array().unwrap();
    assert!(!reasons.is_empty(), "{tone}");
    assert!(
        reasons.iter().any(|r| r["rule"] == "legal_threat"),
        "{tone}"
    );
    assert!(reasons.iter().all(|r| r["evidence"].is_string()), "{tone}");
    let (_, ticket) = s.get(&format!("/api/v1/tickets/{id}")).await;
    assert!(
        ticket["tags"].as_array().unwrap().contains(&json!("irate")),
        "{ticket}"
    );
    assert_eq!(ticket["priority"], "high", "{ticket}");
    assert!(
        s.events(id)
            .await
            .iter()
            .any(|e| e["kind"] == "ticket.irate")
    );

    // A calm one: nothing irate.
    let t = s
        .ticket_with(
            "Password",
            "lea@example.com",
            json!({"message": {"body": "Hello, could you tell me how to change my password? Thank you!"}}),
        )
        .await;
    let calm = t["id"].as_i64().unwrap();
    let (status, tone) = s.get(&format!("/api/v1/tickets/{calm}/tone")).await;
    assert_eq!(status, StatusCode::OK, "{tone}");
    assert!(items(&tone).iter().all(|m| m["irate"] == false), "{tone}");
    assert!(
        !t["tags"].as_array().unwrap().contains(&json!("irate")),
        "{t}"
    );
    assert_eq!(t["priority"], "normal");
    assert_eq!(
        s.get("/api/v1/tickets/99999999/tone").await.0,
        StatusCode::NOT_FOUND
    );

    // The settings: admins only, every value checked and named.
    let (status, _) = s.get("/api/v1/settings/tone").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, defaults) = s
        .as_(&s.admin, Method::GET, "/api/v1/settings/tone", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{defaults}");
    assert_eq!(defaults, json!({"threshold": 50, "extra_phrases": []}));
    let (status, _) = s
        .as_(
            &s.agent,
            Method::PUT,
            "/api/v1/settings/tone",
            Some(defaults.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let too_many: Vec<Value> = (0..201).map(|i| json!([format!("word{i}"), 5])).collect();
    for (body, name) in [
        (json!({"threshold": 0}), "threshold"),
        (json!({"threshold": 101}), "threshold"),
        (
            json!({"threshold": 50, "extra_phrases": [["  ", 10]]}),
            "extra_phrases[0][0]",
        ),
        (
            json!({"threshold": 50, "extra_phrases": [["fine", 10], ["x".repeat(101), 10]]}),
            "extra_phrases[1][0]",
        ),
        (
            json!({"threshold": 50, "extra_phrases": [["bad", 0]]}),
            "extra_phrases[0][1]",
        ),
        (
            json!({"threshold": 50, "extra_phrases": [["bad", 101]]}),
            "extra_phrases[0][1]",
        ),
        (
            json!({"threshold": 50, "extra_phrases": too_many}),
            "extra_phrases",
        ),
        (json!({"threshold": "high"}), "threshold"),
    ] {
        let (status, p) = s
            .as_(
                &s.admin,
                Method::PUT,
                "/api/v1/settings/tone",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert_eq!(field(&p), name, "{p}");
    }
    let (status, p) = s
        .as_(
            &s.admin,
            Method::PUT,
            "/api/v1/settings/tone",
            Some(json!({"threshold": 50, "extra_phrases": [["only a phrase"]]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (status, saved) = s
        .as_(
            &s.admin,
            Method::PUT,
            "/api/v1/settings/tone",
            Some(json!({"threshold": 40, "extra_phrases": [["  Acme   Router ", 60]]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(
        saved,
        json!({"threshold": 40, "extra_phrases": [["Acme Router", 60]]})
    );
    let (_, got) = s
        .as_(&s.admin, Method::GET, "/api/v1/settings/tone", None)
        .await;
    assert_eq!(got, saved);
    // The scorer uses them from now on.
    let t = s
        .ticket_with(
            "Router",
            "ida@example.com",
            json!({"message": {"body": "My acme router lost its settings."}}),
        )
        .await;
    let (_, tone) = s.get(&format!("/api/v1/tickets/{}/tone", t["id"])).await;
    assert_eq!(tone["items"][0]["irate"], true, "{tone}");
    assert!(
        tone["items"][0]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"] == "custom_phrase"),
        "{tone}"
    );
    s.stop().await;
}

async fn one_touch_is_measured(store: Arc<dyn Store>) {
    let s = Server::start(store).await;
    let admin_id = s.id_of("admin@example.com").await;
    let mut ids = Vec::new();
    for (subject, email) in [("One", "a1@example.com"), ("Two", "a2@example.com")] {
        let t = s
            .ticket_with(subject, email, json!({"assignee_id": s.agent_id}))
            .await;
        ids.push(t["id"].as_i64().unwrap());
    }
    let (status, t) = s
        .patch(
            &format!("/api/v1/tickets/{}", ids[0]),
            json!({"assignee_id": admin_id, "transfer_reason": "Admin knows the contract"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    for id in &ids {
        let (status, t) = s
            .as_(
                &s.admin,
                Method::PATCH,
                &format!("/api/v1/tickets/{id}"),
                Some(json!({"status": "solved"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{t}");
    }

    // Supervisors and admins only.
    let (status, p) = s.get("/api/v1/metrics/routing").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{p}");
    let (status, m) = s
        .as_(
            &s.admin,
            Method::GET,
            "/api/v1/metrics/routing?days=30",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(m["resolved"], 2, "{m}");
    assert_eq!(m["one_touch"], 1, "{m}");
    assert_eq!(m["one_touch_rate"], 0.5, "{m}");
    assert_eq!(m["transfers_per_ticket"], 0.5, "{m}");
    assert_eq!(m["referred"], 0, "{m}");
    assert_eq!(m["internal"], json!([]), "{m}");
    let (status, default) = s
        .as_(&s.admin, Method::GET, "/api/v1/metrics/routing", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(default, m);
    for bad in ["0", "3651", "-1"] {
        let (status, p) = s
            .as_(
                &s.admin,
                Method::GET,
                &format!("/api/v1/metrics/routing?days={bad}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {p}");
        assert_eq!(field(&p), "days");
    }
    let (status, _) = s
        .as_(
            &s.admin,
            Method::GET,
            "/api/v1/metrics/routing?days=many",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s
        .as_(
            &s.admin,
            Method::GET,
            "/api/v1/metrics/routing?weeks=2",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    s.stop().await;
}

async fn tickets_at_risk_of_a_silent_no(store: Arc<dyn Store>) {
    let s = Server::start(store.clone()).await;

    // The setting: supervisors and admins read it, admins write it.
    let (status, _) = s.get("/api/v1/settings/silent-no").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, got) = s
        .as_(&s.admin, Method::GET, "/api/v1/settings/silent-no", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got, json!({"hours": 48}));
    let (status, _) = s
        .as_(
            &s.agent,
            Method::PUT,
            "/api/v1/settings/silent-no",
            Some(json!({"hours": 24})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for bad in [
        json!({"hours": 0}),
        json!({"hours": 721}),
        json!({"hours": -5}),
        json!({}),
    ] {
        let (status, p) = s
            .as_(
                &s.admin,
                Method::PUT,
                "/api/v1/settings/silent-no",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {p}");
        assert_eq!(
            field(&p),
            if bad == json!({}) { "body" } else { "hours" },
            "{p}"
        );
    }

    // Three tickets: old and unanswered, old and answered, new.
    let now = rapport_web::now();
    let old = Ctx {
        actor: Actor::SYSTEM,
        at: Millis(now.0 - 30 * HOUR),
    };
    let mut ids = Vec::new();
    for (subject, email) in [
        ("Forgotten", "f@example.com"),
        ("Answered", "g@example.com"),
    ] {
        let t = store
            .create_ticket(
                old,
                NewTicket {
                    subject: subject.into(),
                    requester: Requester {
                        customer_id: None,
                        email: email.into(),
                        name: None,
                    },
                    body: "Can you help?".into(),
                    channel: Channel::Email,
                    priority: Priority::Normal,
                    status: TicketStatus::Open,
                    tags: Vec::new(),
                    inbox: None,
                    assignee_id: None,
                    team_id: None,
                    custom_fields: Default::default(),
                },
                None,
            )
            .await
            .unwrap()
            .value;
        ids.push(t.id);
    }
    let (status, _) = s
        .post(
            &format!("/api/v1/tickets/{}/messages", ids[1]),
            json!({"body": "Yes: restart it."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let fresh = s.ticket_with("Fresh", "h@example.com", json!({})).await;

    let listed = |list: &Value| -> Vec<i64> {
        items(list)
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect()
    };
    // 48 hours by default: none yet.
    let (status, list) = s.get("/api/v1/tickets?at_risk=true").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(listed(&list), Vec::<i64>::new());
    let (status, saved) = s
        .as_(
            &s.admin,
            Method::PUT,
            "/api/v1/settings/silent-no",
            Some(json!({"hours": 24})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved, json!({"hours": 24}));
    let (status, got) = s
        .as_(&s.admin, Method::GET, "/api/v1/settings/silent-no", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, saved);
    // 24 hours: the forgotten one only, with other filters too.
    let (_, list) = s.get("/api/v1/tickets?at_risk=true").await;
    assert_eq!(listed(&list), [ids[0]], "{list}");
    let (_, list) = s.get("/api/v1/tickets?at_risk=true&status=open").await;
    assert_eq!(listed(&list), [ids[0]], "{list}");
    let (_, list) = s.get("/api/v1/tickets?at_risk=true&status=new").await;
    assert_eq!(listed(&list), Vec::<i64>::new());
    let (_, list) = s.get("/api/v1/tickets?at_risk=false").await;
    assert_eq!(listed(&list).len(), 3, "{list}");
    assert!(listed(&list).contains(&fresh["id"].as_i64().unwrap()));
    let (status, _) = s.get("/api/v1/tickets?at_risk=maybe").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    s.stop().await;
}

rapport_store::on_both_backends!(
    availability_and_routing_profiles,
    teams_route_new_tickets,
    transfers_need_a_reason,
    internal_requests_between_teams,
    honest_noes_solve_and_tell_the_customer,
    irate_customers_are_flagged,
    one_touch_is_measured,
    tickets_at_risk_of_a_silent_no,
);
