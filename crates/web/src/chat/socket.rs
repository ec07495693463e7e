//! One widget connection: `GET /widget/ws?inbox=<id>` upgraded to a WebSocket speaking the
//! chat protocol (JSON text frames; the README's "Live chat" lists them).
//!
//! Bad frames (over 16 KiB, binary, malformed JSON, an unknown type, a missing or wrong field,
//! anything before `hello`) get an `error` frame and change nothing; a client that keeps
//! sending them is closed with 1008. Message frames reach a socket strictly in seq order and
//! at most once: every path that sends one (the replay after `hello`, the read after the
//! visitor's own message, the hub's fan-out) goes through [`Connection::push`], which skips
//! what this connection already sent.

use super::hub::{AddressGuard, Outbound, QUEUE, message_frame};
use super::{WidgetInfo, identity_hash_valid, new_visitor_id, sign_visitor, verify_visitor};
use crate::{AppState, now, problem::Problem};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rapport_core::{Actor, Millis};
use rapport_store::{ChatMessage, ChatPost, ChatVisitor, ChatWidget, Ctx, Inbox, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::mpsc;

/// Largest frame taken in; larger ones get `too_large`.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// Frames past this are not even read: the connection ends (a client this far off is not a
/// widget).
const HARD_FRAME_BYTES: usize = 64 * 1024;
/// Messages per connection per 10 seconds.
pub const CONNECTION_MESSAGES: usize = 20;
/// Conversations a client address may start per hour.
pub const CONVERSATIONS_PER_HOUR: i64 = 20;
/// Bad frames a connection may send before it is closed.
const MAX_ERRORS: u32 = 20;
/// A connection silent this long is closed (the widget pings every 25 s).
const IDLE: Duration = Duration::from_secs(90);
/// An unverified visitor's token resumes a conversation this long after they were last there
/// when the inbox wants verification to see past conversations.
const UNVERIFIED_RESUME_MS: i64 = 30 * 60_000;

#[derive(Deserialize)]
pub struct WsQuery {
    inbox: Option<String>,
}

/// `GET /widget/ws?inbox=<id>`.
pub async fn upgrade(
    State(state): State<AppState>,
    Query(q): Query<WsQuery>,
    headers: HeaderMap,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(inbox_id) = q
        .inbox
        .as_deref()
        .and_then(|i| i.trim().parse::<i64>().ok())
    else {
        return Problem::invalid(rapport_core::Invalid::new(
            "inbox",
            "give the inbox id as a number",
        ))
        .into_response();
    };
    let (inbox, widget, info) = match super::widget_info(&state, inbox_id).await {
        Ok(Some(found)) => found,
        Ok(None) => return Problem::not_found("no chat widget for this inbox").into_response(),
        Err(e) => return Problem::from(e).into_response(),
    };
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if !rapport_core::chat::origin_allowed(&widget.allowed_origins, origin) {
        return Problem::forbidden("this site may not embed the chat widget of this inbox")
            .into_response();
    }
    // Checked after the inbox, so a plain request learns what is wrong with its address.
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let client_key = crate::ui::client_key(&state, "chat", peer, &headers);
    let Some(guard) = state.chat.admit(&client_key) else {
        return Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "too many chat connections from this address",
        )
        .into_response();
    };
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(HARD_FRAME_BYTES)
        .max_frame_size(HARD_FRAME_BYTES)
        .on_upgrade(move |socket| {
            let connection = Connection {
                socket_id: state.chat.new_socket_id(),
                state,
                inbox,
                widget,
                info,
                client_key,
                session: None,
                following: None,
                lobby: None,
                last_sent: 0,
                recent: VecDeque::new(),
                errors: 0,
                _guard: guard,
            };
            connection.run(socket)
        })
}

/// The visitor after `hello`.
struct Session {
    visitor: ChatVisitor,
    name: Option<String>,
    email: Option<String>,
    conversation: Option<i64>,
}

struct Connection {
    state: AppState,
    socket_id: u64,
    inbox: Inbox,
    widget: ChatWidget,
    info: WidgetInfo,
    client_key: String,
    session: Option<Session>,
    /// The conversation this socket follows through the hub, and the hub's queue for it.
    following: Option<(i64, mpsc::Receiver<Outbound>)>,
    /// Before the visitor has a conversation: told when another tab of theirs starts one.
    lobby: Option<tokio::sync::oneshot::Receiver<i64>>,
    /// The newest message id sent on this connection (of the conversation it follows).
    last_sent: i64,
    /// When this connection's recent messages came (the per-connection limit).
    recent: VecDeque<i64>,
    errors: u32,
    _guard: AddressGuard,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Identity {
    email: String,
    #[serde(default)]
    name: Option<String>,
    hash: String,
}

#[derive(Deserialize)]
struct Hello {
    #[serde(default)]
    token: Option<String>,
    after: i64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    identity: Option<Identity>,
}

#[derive(Deserialize)]
struct Post {
    client_id: String,
    body: String,
    #[serde(default)]
    conversation: Option<i64>,
}

#[derive(Deserialize)]
struct Transcript {
    /// Where to send it, when the visitor gave no address before.
    #[serde(default)]
    email: Option<String>,
}

fn error(code: &str, detail: &str, client_id: Option<&str>) -> String {
    let mut frame = json!({"type": "error", "code": code, "detail": detail});
    if let Some(id) = client_id {
        frame["client_id"] = Value::String(id.to_string());
    }
    frame.to_string()
}

/// A frame's fields read into `T`, or the `invalid` error naming what is wrong.
fn fields<T: serde::de::DeserializeOwned>(frame: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(frame).map_err(|e| {
        let path = e.path().to_string();
        error("invalid", &format!("{path}: {}", e.inner()), None)
    })
}

impl Connection {
    async fn run(mut self, mut socket: WebSocket) {
        let mut idle = Box::pin(tokio::time::sleep(IDLE));
        loop {
            let fanned = async {
                match &mut self.following {
                    Some((_, rx)) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let started = async {
                match &mut self.lobby {
                    Some(rx) => rx.await.ok(),
                    None => std::future::pending().await,
                }
            };
            let mut out: Vec<String> = Vec::new();
            tokio::select! {
                incoming = socket.recv() => {
                    idle.as_mut().reset(tokio::time::Instant::now() + IDLE);
                    match incoming {
                        Some(Ok(Message::Text(text))) => self.on_text(text.as_str(), &mut out).await,
                        Some(Ok(Message::Binary(_))) => {
                            self.errors += 1;
                            out.push(error("malformed", "frames must be JSON text, not binary", None));
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    }
                }
                frame = fanned => match frame {
                    Some(frame) => {
                        if frame.seq.is_none_or(|seq| seq > self.last_sent) {
                            self.last_sent = self.last_sent.max(frame.seq.unwrap_or(0));
                            out.push(frame.text.to_string());
                        }
                    }
                    // The hub dropped this socket: it could not keep up. The widget resumes.
                    None => {
                        close(&mut socket, close_code::AGAIN, "too slow; reconnect and resume").await;
                        break;
                    }
                },
                ticket = started => {
                    self.lobby = None;
                    if let Some(ticket_id) = ticket {
                        self.join_started(ticket_id, &mut out).await;
                    }
                }
                _ = &mut idle => {
                    close(&mut socket, close_code::NORMAL, "idle").await;
                    break;
                }
            }
            let mut failed = false;
            for text in out {
                if socket.send(Message::text(text)).await.is_err() {
                    failed = true;
                    break;
                }
            }
            if failed {
                break;
            }
            if self.errors > MAX_ERRORS {
                close(&mut socket, close_code::POLICY, "too many bad frames").await;
                break;
            }
        }
        self.unfollow();
        if let Some(session) = &self.session {
            self.state
                .chat
                .leave_lobby(&session.visitor.visitor_id, self.socket_id);
        }
    }

    /// Another tab of this visitor started a conversation: this one follows it from the start.
    async fn join_started(&mut self, ticket_id: i64, out: &mut Vec<String>) {
        if let Some(session) = &mut self.session {
            if session.conversation.is_some() {
                return;
            }
            session.conversation = Some(ticket_id);
        }
        self.follow(ticket_id, 0).await;
        self.catch_up(out).await;
    }

    async fn on_text(&mut self, text: &str, out: &mut Vec<String>) {
        if text.len() > MAX_FRAME_BYTES {
            self.errors += 1;
            out.push(error("too_large", "frames must be at most 16 KiB", None));
            return;
        }
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            self.errors += 1;
            out.push(error("malformed", "the frame is not JSON", None));
            return;
        };
        let Some(kind) = frame
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            self.errors += 1;
            out.push(error(
                "invalid",
                "type: missing (a frame is an object with a \"type\")",
                None,
            ));
            return;
        };
        if kind != "hello" && self.session.is_none() {
            self.errors += 1;
            out.push(error("hello_first", "send hello first", None));
            return;
        }
        let handled = match kind.as_str() {
            "hello" => match fields::<Hello>(frame) {
                Ok(hello) => {
                    self.on_hello(hello, out).await;
                    Ok(())
                }
                Err(e) => Err(e),
            },
            "message" => {
                let client_id = frame
                    .get("client_id")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                match fields::<Post>(frame) {
                    Ok(post) => {
                        self.on_message(post, out).await;
                        Ok(())
                    }
                    Err(_) if client_id.is_some() => Err(error(
                        "invalid",
                        "a message needs client_id and body as strings, conversation as a number",
                        client_id.as_deref(),
                    )),
                    Err(e) => Err(e),
                }
            }
            "typing" => {
                self.on_typing();
                Ok(())
            }
            "transcript" => match fields::<Transcript>(frame) {
                Ok(t) => {
                    self.on_transcript(t, out).await;
                    Ok(())
                }
                Err(e) => Err(e),
            },
            "ping" => {
                out.push(json!({"type": "pong"}).to_string());
                Ok(())
            }
            other => Err(error(
                "unknown_type",
                &format!(
                    "'{}' is not a frame type",
                    other.chars().take(40).collect::<String>()
                ),
                None,
            )),
        };
        if let Err(e) = handled {
            self.errors += 1;
            out.push(e);
        }
    }

    fn ctx(&self, customer_id: Option<i64>) -> Ctx {
        Ctx {
            actor: customer_id.map_or(Actor::SYSTEM, Actor::customer),
            at: now(),
        }
    }

    async fn on_hello(&mut self, hello: Hello, out: &mut Vec<String>) {
        if self.session.is_some() {
            self.errors += 1;
            out.push(error(
                "invalid",
                "hello was already sent on this connection",
                None,
            ));
            return;
        }
        // Checked here, not only when a message is stored: the name also travels in presence
        // notes to the ticket page (and to other nodes, whose notifications are size-limited).
        let name = match hello.name.as_deref().map(str::trim) {
            Some(n) if !n.is_empty() => match rapport_core::contact::validate_name("name", n) {
                Ok(n) => Some(n),
                Err(e) => {
                    self.errors += 1;
                    return out.push(error("invalid", &e.to_string(), None));
                }
            },
            _ => None,
        };
        let store = self.state.store.clone();
        let secret = match self.state.chat.secret(store.as_ref()).await {
            Ok(s) => s.to_vec(),
            Err(e) => return out.push(unavailable(&e)),
        };
        let mut verified = None;
        let mut email = hello.email.clone().filter(|e| !e.trim().is_empty());
        if let Some(identity) = &hello.identity {
            if identity_hash_valid(
                &self.widget.identity_secret,
                &identity.email,
                &identity.hash,
            ) {
                match store
                    .chat_identify(self.ctx(None), &identity.email, identity.name.clone())
                    .await
                {
                    Ok(id) => {
                        verified = Some(id);
                        email = Some(identity.email.trim().to_lowercase());
                    }
                    Err(StoreError::Invalid(e)) => out.push(error("invalid", &e.to_string(), None)),
                    Err(e) => return out.push(unavailable(&e)),
                }
            } else {
                // Not an error of the connection: the visitor chats unverified.
                out.push(error(
                    "invalid",
                    "identity: the hash does not match this address; chatting unverified",
                    None,
                ));
            }
        }
        let mut visitor_id = hello
            .token
            .as_deref()
            .and_then(|t| verify_visitor(&secret, t))
            .unwrap_or_else(new_visitor_id);
        let mut visitor = ChatVisitor {
            inbox_id: self.inbox.id,
            visitor_id: visitor_id.clone(),
            verified_customer_id: verified,
        };
        let mut conversation = match store.chat_conversation(visitor.clone(), None).await {
            Ok(c) => c,
            Err(e) => return out.push(unavailable(&e)),
        };
        // Where verification is needed to see past conversations, an unverified token only
        // continues a conversation the visitor was in lately; otherwise they start afresh.
        if self.widget.verified_history
            && verified.is_none()
            && conversation
                .as_ref()
                .is_some_and(|c| c.visitor_present_until.0 + UNVERIFIED_RESUME_MS < now().0)
        {
            visitor_id = new_visitor_id();
            visitor.visitor_id = visitor_id.clone();
            conversation = None;
        }
        let token = sign_visitor(&secret, &visitor_id);
        let conversation_json = conversation.as_ref().map_or(
            Value::Null,
            |c| json!({"id": c.ticket_id, "ref": c.reference, "status": c.status}),
        );
        out.push(
            json!({
                "type": "welcome",
                "token": token,
                "conversation": conversation_json,
                "online": self.info.online,
                "expected": self.info.expected,
                "human_contact": self.info.human_contact,
                "greeting": self.info.greeting,
                "require_email": self.info.require_email,
                "accent": self.info.accent,
                "accent_text": self.info.accent_text,
                "verified": verified.is_some(),
            })
            .to_string(),
        );
        self.session = Some(Session {
            visitor,
            name,
            email: email.or_else(|| conversation.as_ref().and_then(|c| c.contact_email.clone())),
            conversation: conversation.as_ref().map(|c| c.ticket_id),
        });
        match conversation {
            Some(c) => {
                self.follow(c.ticket_id, hello.after.max(0)).await;
                self.catch_up(out).await;
            }
            None => {
                self.lobby = Some(
                    self.state
                        .chat
                        .await_conversation(&visitor_id, self.socket_id),
                );
            }
        }
    }

    /// Follows a conversation through the hub; the first socket of it on this node says the
    /// visitor is here (their replies are not emailed while they are).
    async fn follow(&mut self, ticket_id: i64, after: i64) {
        if self
            .following
            .as_ref()
            .is_some_and(|(t, _)| *t == ticket_id)
        {
            return;
        }
        self.unfollow();
        let (tx, rx) = mpsc::channel(QUEUE);
        // Joined before reading, so nothing committed from here on is missed.
        let first = self.state.chat.join(ticket_id, self.socket_id, after, tx);
        self.following = Some((ticket_id, rx));
        self.last_sent = after;
        if first {
            let until = Millis(now().0 + rapport_store::CHAT_PRESENCE_MS);
            if let Err(e) = self
                .state
                .store
                .mark_chat_presence(vec![ticket_id], until)
                .await
            {
                tracing::warn!(error = %e, "cannot record a chat visitor's presence");
            }
        }
    }

    fn unfollow(&mut self) {
        let Some((ticket_id, _)) = self.following.take() else {
            return;
        };
        if self.state.chat.leave(ticket_id, self.socket_id) {
            self.state.ui.live.visitor_left(ticket_id);
            // The last socket here closed: replies from now on are emailed (unless another
            // node still renews it).
            let store = self.state.store.clone();
            tokio::spawn(async move {
                let _ = store.mark_chat_presence(vec![ticket_id], now()).await;
            });
        }
    }

    /// Sends the followed conversation's messages after the last one sent, in order.
    async fn catch_up(&mut self, out: &mut Vec<String>) {
        let (Some((ticket_id, _)), Some(session)) = (&self.following, &self.session) else {
            return;
        };
        let (ticket_id, visitor) = (*ticket_id, session.visitor.clone());
        loop {
            let page = match self
                .state
                .store
                .chat_messages(visitor.clone(), ticket_id, self.last_sent, 500)
                .await
            {
                Ok(page) => page,
                Err(e) => return out.push(unavailable(&e)),
            };
            let full = page.len() == 500;
            for m in &page {
                self.push(m, out);
            }
            if !full {
                self.state
                    .chat
                    .caught_up(ticket_id, self.socket_id, self.last_sent);
                return;
            }
        }
    }

    fn push(&mut self, m: &ChatMessage, out: &mut Vec<String>) {
        if m.seq > self.last_sent {
            self.last_sent = m.seq;
            out.push(message_frame(m).text.to_string());
        }
    }

    fn over_connection_limit(&mut self, at: i64) -> bool {
        while self.recent.front().is_some_and(|t| at - t >= 10_000) {
            self.recent.pop_front();
        }
        if self.recent.len() >= CONNECTION_MESSAGES {
            return true;
        }
        self.recent.push_back(at);
        false
    }

    async fn on_message(&mut self, post: Post, out: &mut Vec<String>) {
        let client_id = post.client_id.clone();
        let cid = Some(client_id.as_str());
        if let Err(e) = rapport_core::chat::check_client_id(&post.client_id)
            .and_then(|()| rapport_core::chat::clean_body("body", &post.body).map(|_| ()))
        {
            self.errors += 1;
            return out.push(error("invalid", &e.to_string(), cid));
        }
        let at = now();
        if self.over_connection_limit(at.0) {
            return out.push(error(
                "rate_limited",
                "at most 20 messages per 10 seconds",
                cid,
            ));
        }
        let Some(session) = &self.session else { return };
        if !self
            .state
            .chat
            .visitor_may_send(&session.visitor.visitor_id, at)
        {
            return out.push(error("rate_limited", "at most 60 messages a minute", cid));
        }
        let starting = post.conversation.is_none() && session.conversation.is_none();
        if starting {
            let needs_email = self.widget.require_email || !self.info.online;
            if needs_email && session.email.is_none() {
                return out.push(error(
                    "email_required",
                    "give an email address first: we answer there",
                    cid,
                ));
            }
            let since = Millis(at.0 - 3_600_000);
            match self
                .state
                .store
                .chats_started_from(&self.client_key, since)
                .await
            {
                Ok(n) if n >= CONVERSATIONS_PER_HOUR => {
                    return out.push(error(
                        "rate_limited",
                        "too many new conversations from this address; try again later",
                        cid,
                    ));
                }
                Ok(_) => {}
                Err(e) => return out.push(unavailable(&e)),
            }
        }
        let chat_post = ChatPost {
            visitor: session.visitor.clone(),
            client_id: post.client_id,
            body: post.body,
            conversation: post.conversation.or(session.conversation),
            name: session.name.clone(),
            email: session.email.clone(),
            client_address: self.client_key.clone(),
        };
        let posted = match self
            .state
            .store
            .post_chat_message(self.ctx(session.visitor.verified_customer_id), chat_post)
            .await
        {
            Ok(p) => p,
            Err(StoreError::NotFound { .. }) => {
                return out.push(error("not_found", "no such conversation", cid));
            }
            Err(StoreError::Invalid(e)) => {
                return out.push(error("invalid", &e.to_string(), cid));
            }
            Err(StoreError::Conflict(problem)) => {
                return out.push(error("invalid", &problem, cid));
            }
            Err(e) => return out.push(unavailable(&e)),
        };
        let ticket_id = posted.conversation.ticket_id;
        if let Some(session) = &mut self.session {
            session.conversation = Some(ticket_id);
        }
        out.push(
            json!({"type": "ack", "client_id": client_id, "seq": posted.message.seq, "conversation": ticket_id})
                .to_string(),
        );
        let switching = self.following.as_ref().is_none_or(|(t, _)| *t != ticket_id);
        if switching {
            if let Some(session) = &self.session {
                let visitor_id = session.visitor.visitor_id.clone();
                self.state.chat.leave_lobby(&visitor_id, self.socket_id);
                self.lobby = None;
                if posted.created_conversation {
                    self.state.chat.conversation_started(&visitor_id, ticket_id);
                }
            }
            self.follow(ticket_id, 0).await;
        }
        // Everything up to this message (an agent's answer may be just before it), in order.
        self.catch_up(out).await;
    }

    fn on_typing(&mut self) {
        let Some(session) = &self.session else { return };
        let Some(ticket_id) = session.conversation else {
            return;
        };
        let name = session
            .name
            .clone()
            .unwrap_or_else(|| "Visitor".to_string());
        self.state
            .ui
            .live
            .visitor_typing(ticket_id, &format!("{name} (chat)"));
    }

    async fn on_transcript(&mut self, t: Transcript, out: &mut Vec<String>) {
        let Some(session) = &self.session else { return };
        let Some(ticket_id) = session.conversation else {
            return out.push(error("not_found", "there is no conversation yet", None));
        };
        let email = t
            .email
            .filter(|e| !e.trim().is_empty())
            .or(session.email.clone());
        let visitor = session.visitor.clone();
        match self
            .state
            .store
            .chat_transcript(
                self.ctx(visitor.verified_customer_id),
                visitor,
                ticket_id,
                email,
            )
            .await
        {
            Ok(to) => {
                if let Some(session) = &mut self.session {
                    session.email = Some(to.clone());
                }
                out.push(json!({"type": "transcript_sent", "email": to}).to_string());
            }
            Err(StoreError::Invalid(e)) if e.field == "email" => {
                out.push(error("email_required", &e.problem, None));
            }
            Err(StoreError::Invalid(e)) => out.push(error("invalid", &e.to_string(), None)),
            Err(StoreError::NotFound { .. }) => {
                out.push(error("not_found", "no such conversation", None));
            }
            Err(StoreError::Conflict(problem)) => out.push(error("rate_limited", &problem, None)),
            Err(e) => out.push(unavailable(&e)),
        }
    }
}

/// A failure of ours, not the visitor's: logged, and said without detail.
fn unavailable(e: &StoreError) -> String {
    tracing::error!(error = %e, "chat socket cannot reach the store");
    error(
        "unavailable",
        "the chat is unavailable right now; try again shortly",
        None,
    )
}

/// Sends a close frame and waits (briefly) for the client's answer, so the client reads the
/// code instead of a reset connection.
async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let sent = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
    if sent.is_err() {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}
