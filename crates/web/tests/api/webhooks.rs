//! Webhooks over HTTP, on SQLite and PostgreSQL: only admins manage them, problems name the
//! field, the secret is shown once (in the create answer) and never listed, unknown ids 404.

use super::Server;
use rapport_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

/// The field a 422 names.
fn field(p: &Value) -> &str {
    p["errors"][0]["field"].as_str().unwrap_or_default()
}

async fn admins_manage_webhooks_and_see_the_secret_once(store: Arc<dyn Store>) {
    let s = Server::start(store).await;
    let admin = |method: Method, path: &'static str, body: Option<Value>| {
        let s = &s;
        async move {
            let (status, _, v) = s.call(method, path, Some(&s.admin), body).await;
            (status, v)
        }
    };
    let hook = json!({"url": "https://hooks.example.com/rapport", "events": ["ticket.created"]});

    // Agents and light agents are refused, like other settings.
    for token in [&s.agent, &s.light] {
        let (status, _, p) = s
            .call(
                Method::POST,
                "/api/v1/webhooks",
                Some(token),
                Some(hook.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{p}");
        let (status, _, _) = s
            .call(Method::GET, "/api/v1/webhooks", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = s
            .call(Method::DELETE, "/api/v1/webhooks/1", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    // Problems name the field.
    let (status, p) = admin(
        Method::POST,
        "/api/v1/webhooks",
        Some(json!({"url": "ftp://example.com/", "events": ["*"]})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "url", "{p}");
    let (status, p) = admin(
        Method::POST,
        "/api/v1/webhooks",
        Some(json!({"url": "https://example.com/", "events": ["ticket.exploded"]})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(field(&p), "events[0]", "{p}");
    let (status, p) = admin(
        Method::POST,
        "/api/v1/webhooks",
        Some(json!({"url": "https://example.com/", "events": ["*"], "secret": "mine"})),
    )
    .await;
    assert!(
        status.is_client_error(),
        "unknown fields are refused: {status} {p}"
    );

    let (status, created) = admin(Method::POST, "/api/v1/webhooks", Some(hook.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{created}");
    assert_eq!(created["url"], "https://hooks.example.com/rapport");
    assert_eq!(created["events"], json!(["ticket.created"]));
    assert_eq!(created["active"], true);
    let id = created["id"].as_i64().unwrap();

    let (status, list) = admin(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], id);
    assert!(list["items"][0].get("secret").is_none(), "{list}");
    assert!(!list.to_string().contains(&secret));
    // Nor is it in the event log's answer anywhere an agent could read it.
    let (_, _, events) = s
        .call(Method::GET, "/api/v1/tickets?limit=1", Some(&s.admin), None)
        .await;
    assert!(!events.to_string().contains(&secret));

    let (status, p) = admin(Method::DELETE, "/api/v1/webhooks/999999", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{p}");
    let (status, _, _) = s
        .call(
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = admin(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list["items"], json!([]));
    let (status, _, _) = s
        .call(
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

rapport_store::on_both_backends!(admins_manage_webhooks_and_see_the_secret_once);
