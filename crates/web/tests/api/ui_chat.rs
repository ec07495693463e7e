//! The workspace's side of live chat over real HTTP, on SQLite and PostgreSQL: the chat queue
//! and its count, taking a chat (only while online, only with the form's CSRF token), the chat
//! ticket page showing the visitor's words as text, and the inbox admin's widget settings.

use super::ui::{Desk, PASSWORD, Visitor, ctx, open_desk};
use rapport_core::routing::Availability;
use rapport_core::{Actor, Role};
use rapport_store::{ChatPost, ChatVisitor, NewAgent, Store};
use rapport_web::auth;
use reqwest::StatusCode;
use std::sync::Arc;

async fn signed_in(desk: &Desk, email: &str) -> Visitor {
    let mut v = Visitor::new(&desk.base);
    let page = v.sign_in(email, PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{email}: {}", page.body);
    v
}

async fn visitor_writes(desk: &Desk, visitor: &str, body: &str) -> i64 {
    desk.store
        .post_chat_message(
            ctx(Actor::SYSTEM),
            ChatPost {
                visitor: ChatVisitor {
                    inbox_id: 1,
                    visitor_id: visitor.into(),
                    verified_customer_id: None,
                },
                client_id: format!("{visitor}-1"),
                body: body.into(),
                conversation: None,
                name: Some("Vera Visitor".into()),
                email: Some("vera@example.com".into()),
                client_address: "chat:203.0.113.9".into(),
            },
        )
        .await
        .unwrap()
        .conversation
        .ticket_id
}

async fn agents_take_chats_from_the_queue(store: Arc<dyn Store>) {
    let desk = open_desk(store.clone()).await;
    let chat = visitor_writes(&desk, "v1", "Hello <b>there</b>, my modem blinks red").await;
    let mut ann = signed_in(&desk, "ann@example.com").await;

    let page = ann.get("/chats").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&format!("R-{chat}")), "{}", page.body);
    assert!(page.body.contains("Vera Visitor"));
    assert!(page.body.contains(&format!("/chats/{chat}/take")));
    assert!(page.body.contains("id=\"chats-link\""));
    let count = ann.get("/chats/count").await;
    let count: serde_json::Value = serde_json::from_str(&count.body).unwrap();
    assert_eq!(count["waiting"], 1);

    // Without the form's token nothing happens.
    let forged = ann.post(&format!("/chats/{chat}/take"), &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let csrf = page.csrf();
    let taken = ann
        .post(&format!("/chats/{chat}/take"), &[("_csrf", &csrf)])
        .await;
    assert_eq!(taken.status, StatusCode::SEE_OTHER, "{}", taken.body);
    assert_eq!(taken.location(), format!("/t/{chat}"));
    assert_eq!(
        store.ticket(chat).await.unwrap().assignee_id,
        Some(desk.ann)
    );

    // The ticket page shows the visitor's words as text, never as markup.
    let ticket = ann.get(&format!("/t/{chat}")).await;
    assert_eq!(ticket.status, StatusCode::OK);
    assert!(
        ticket.body.contains("Hello &lt;b&gt;there&lt;&#x2f;b&gt;"),
        "{}",
        ticket.body
    );

    // An agent who is away is not offered chats and cannot take one.
    let other = visitor_writes(&desk, "v2", "Second question").await;
    store
        .set_availability(ctx(Actor::agent(desk.bo)), desk.bo, Availability::Away)
        .await
        .unwrap();
    let mut bo = signed_in(&desk, "bo@example.com").await;
    let page = bo.get("/chats").await;
    assert!(page.body.contains("id=\"chats-offline\""));
    assert!(!page.body.contains(&format!("/chats/{other}/take\"")));
    let refused = bo
        .post(&format!("/chats/{other}/take"), &[("_csrf", &page.csrf())])
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body.contains("Set yourself online"));
    assert_ne!(
        store.ticket(other).await.unwrap().assignee_id,
        Some(desk.bo)
    );
    // A ticket that is no chat is not in the queue.
    let not_chat = bo
        .post(
            &format!("/chats/{}/take", desk.urgent),
            &[("_csrf", &page.csrf())],
        )
        .await;
    assert_eq!(not_chat.status, StatusCode::NOT_FOUND);
    let _ = desk.stop.send(());
}

async fn admins_set_up_the_widget(store: Arc<dyn Store>) {
    let desk = open_desk(store.clone()).await;
    store
        .create_agent(
            ctx(Actor::SYSTEM),
            NewAgent {
                email: "root@example.com".into(),
                name: "Root".into(),
                role: Role::Admin,
                password_hash: Some(auth::hash_password(PASSWORD).unwrap()),
            },
        )
        .await
        .unwrap();
    let mut admin = signed_in(&desk, "root@example.com").await;
    let page = admin.get("/admin/inboxes?edit=1").await;
    assert_eq!(page.status, StatusCode::OK);
    let secret = store
        .chat_widget(1, rapport_web::now())
        .await
        .unwrap()
        .identity_secret;
    assert!(page.body.contains(&secret), "{}", page.body);
    assert!(
        page.body
            .contains("widget.js&quot; data-inbox=&quot;1&quot; async&gt;"),
        "the snippet, escaped: {}",
        page.body
    );
    let csrf = page.csrf();
    let saved = admin
        .post(
            "/admin/inboxes/1/chat",
            &[
                ("_csrf", csrf.as_str()),
                ("enabled", "on"),
                ("accent", "#AA0000"),
                ("greeting", "Moin!"),
                ("require_email", "on"),
                ("allowed_origins", "https://shop.example"),
                ("new_secret", "on"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let widget = store.chat_widget(1, rapport_web::now()).await.unwrap();
    assert_eq!(
        (widget.accent.as_str(), widget.greeting.as_str()),
        ("#aa0000", "Moin!")
    );
    assert!(widget.require_email && !widget.verified_history);
    assert_eq!(widget.allowed_origins, ["https://shop.example"]);
    assert_ne!(widget.identity_secret, secret);
    let bad = admin
        .post(
            "/admin/inboxes/1/chat",
            &[
                ("_csrf", csrf.as_str()),
                ("accent", "red"),
                ("allowed_origins", ""),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("accent"), "{}", bad.body);
    // Agents see no admin section.
    let mut ann = signed_in(&desk, "ann@example.com").await;
    let csrf = ann.get("/chats").await.csrf();
    let refused = ann
        .post(
            "/admin/inboxes/1/chat",
            &[("_csrf", csrf.as_str()), ("accent", "#000000")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    let _ = desk.stop.send(());
}

rapport_store::on_both_backends!(agents_take_chats_from_the_queue, admins_set_up_the_widget);
