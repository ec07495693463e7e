//! The live chat widget's side of Rapport: `/widget.js`, its configuration
//! (`/widget/config`), a demo host page, and the WebSocket `/widget/ws` speaking the chat
//! protocol (see `socket.rs` and the README's "Live chat").
//!
//! Visitors are anonymous: a visitor id (128 random bits) signed with a secret setting made on
//! first start is their token. A host site may vouch for a visitor's email with an identity
//! hash (HMAC-SHA256 of the lowercased address with the inbox's identity secret); an address
//! typed into the pre-chat form is never taken as proof of who someone is.

mod hub;
mod socket;

pub use hub::ChatHub;

use crate::auth::hex;
use crate::problem::Problem;
use crate::{AppState, now};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hmac::{Hmac, Mac};
use rapport_core::calendar::BusinessCalendar;
use rapport_core::{Invalid, Millis};
use rapport_store::{ChatWidget, Inbox, StoreError};
use serde::Deserialize;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The setting holding the key visitor tokens are signed with.
const VISITOR_SECRET_SETTING: &str = "chat.visitor_secret";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/widget.js", get(widget_js))
        .route("/widget/config", get(config))
        .route("/widget/demo", get(demo))
        .route("/widget/ws", get(socket::upgrade))
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn mac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    for part in parts {
        mac.update(part);
    }
    mac
}

/// A visitor's token: their id and its signature, `<32 hex>.<64 hex>`.
fn sign_visitor(secret: &[u8], visitor_id: &str) -> String {
    let signature = mac(secret, &[b"chat-visitor:", visitor_id.as_bytes()]).finalize();
    format!("{visitor_id}.{}", hex(&signature.into_bytes()))
}

/// The visitor id of a genuine token; `None` for anything else (checked in constant time).
fn verify_visitor(secret: &[u8], token: &str) -> Option<String> {
    let (visitor_id, signature) = token.split_once('.')?;
    if visitor_id.len() != 32 || !visitor_id.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let signature = unhex(signature)?;
    mac(secret, &[b"chat-visitor:", visitor_id.as_bytes()])
        .verify_slice(&signature)
        .ok()?;
    Some(visitor_id.to_ascii_lowercase())
}

fn new_visitor_id() -> String {
    hex(&rand::random::<[u8; 16]>())
}

/// Whether `hash` is the inbox's HMAC of this address (lowercased), as a host site computes
/// it on its server to vouch for a signed-in customer.
pub fn identity_hash_valid(identity_secret: &str, email: &str, hash: &str) -> bool {
    let Some(hash) = unhex(hash.trim()) else {
        return false;
    };
    mac(
        identity_secret.as_bytes(),
        &[email.trim().to_lowercase().as_bytes()],
    )
    .verify_slice(&hash)
    .is_ok()
}

/// The identity hash a host site sends for `email` (used by the admin page's example and tests).
pub fn identity_hash(identity_secret: &str, email: &str) -> String {
    hex(&mac(
        identity_secret.as_bytes(),
        &[email.trim().to_lowercase().as_bytes()],
    )
    .finalize()
    .into_bytes())
}

/// What the widget shows before and while chatting.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WidgetInfo {
    pub inbox: i64,
    pub name: String,
    pub accent: String,
    /// Button text colour with enough contrast on the accent.
    pub accent_text: String,
    pub greeting: String,
    pub require_email: bool,
    /// Inside office hours and an agent of the inbox's team is available.
    pub online: bool,
    /// When the first answer can be expected, in the inbox's language and zone.
    pub expected: String,
    pub human_contact: String,
}

fn default_greeting(language: &str) -> &'static str {
    if language.starts_with("de") {
        "Hallo! Wie können wir helfen?"
    } else {
        "Hi! How can we help?"
    }
}

/// The widget's face for an inbox; `None` when the inbox has no enabled widget.
async fn widget_info(
    state: &AppState,
    inbox_id: i64,
) -> Result<Option<(Inbox, ChatWidget, WidgetInfo)>, StoreError> {
    let inbox = match state.store.inbox(inbox_id).await {
        Ok(inbox) => inbox,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let widget = state.store.chat_widget(inbox_id, now()).await?;
    if !widget.enabled {
        return Ok(None);
    }
    let at = now();
    let calendar = BusinessCalendar::new(&inbox.business_hours).ok();
    let open = calendar.as_ref().is_none_or(|c| c.is_open_at(at));
    let online = open && state.chat.agent_available(state, &inbox, at).await?;
    let due = calendar
        .as_ref()
        .map_or(Millis(at.0 + inbox.first_response_minutes * 60_000), |c| {
            c.add_business_minutes(at, inbox.first_response_minutes)
        });
    let expected = rapport_mail::templates::format_expected(
        due.0,
        &inbox.business_hours.time_zone,
        &inbox.language,
    );
    let greeting = match widget.greeting.trim() {
        "" => default_greeting(&inbox.language).to_string(),
        g => g.to_string(),
    };
    let info = WidgetInfo {
        inbox: inbox.id,
        name: inbox.name.clone(),
        accent: widget.accent.clone(),
        accent_text: rapport_core::chat::text_on(&widget.accent).to_string(),
        greeting,
        require_email: widget.require_email,
        online,
        expected,
        human_contact: inbox.human_contact.clone(),
    };
    Ok(Some((inbox, widget, info)))
}

#[derive(Deserialize)]
pub struct InboxQuery {
    inbox: Option<String>,
}

fn inbox_param(q: &InboxQuery) -> Option<i64> {
    q.inbox.as_deref()?.trim().parse().ok()
}

/// Public, anonymous data read by pages on other sites (no cookies are sent with it): the
/// widget's config here and `api::phone`'s `/widget/callbacks`.
pub(crate) fn with_cors(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// `GET /widget/config?inbox=<id>`: colours, greeting, office hours answer, human contact.
async fn config(State(state): State<AppState>, Query(q): Query<InboxQuery>) -> Response {
    let Some(inbox_id) = inbox_param(&q) else {
        return with_cors(
            Problem::invalid(Invalid::new("inbox", "give the inbox id as a number"))
                .into_response(),
        );
    };
    with_cors(match widget_info(&state, inbox_id).await {
        Ok(Some((_, _, info))) => axum::Json(info).into_response(),
        Ok(None) => Problem::not_found("no chat widget for this inbox").into_response(),
        Err(e) => Problem::from(e).into_response(),
    })
}

const WIDGET_JS: &str = include_str!("../../assets/widget.js");

/// `GET /widget.js`: the embeddable widget, cached for a day (it carries no per-site data).
async fn widget_js() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        WIDGET_JS,
    )
        .into_response()
}

/// `GET /widget/demo?inbox=<id>`: a host page embedding the widget, to try it out.
async fn demo(Query(q): Query<InboxQuery>) -> Response {
    let inbox = inbox_param(&q).unwrap_or(1);
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Chat widget demo</title></head><body>\
         <h1>Chat widget demo</h1><p>The chat button is in the corner of this page.</p>\
         <script src=\"/widget.js\" data-inbox=\"{inbox}\" async></script></body></html>"
    );
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; script-src 'self'; connect-src 'self' ws: wss:; style-src 'unsafe-inline'",
                ),
            ),
        ],
        page,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visitor_tokens_are_signed() {
        let secret = b"secret";
        let id = new_visitor_id();
        let token = sign_visitor(secret, &id);
        assert_eq!(verify_visitor(secret, &token).as_deref(), Some(id.as_str()));
        assert_eq!(verify_visitor(b"other", &token), None);
        let other = new_visitor_id();
        let (_, signature) = token.split_once('.').unwrap();
        assert_eq!(
            verify_visitor(secret, &format!("{other}.{signature}")),
            None
        );
        assert_eq!(verify_visitor(secret, "garbage"), None);
        assert_eq!(verify_visitor(secret, &format!("{id}.zz")), None);
    }

    #[test]
    fn identity_hashes_use_the_lowercased_address() {
        let hash = identity_hash("k", "Ann@Example.com");
        assert!(identity_hash_valid("k", "ann@example.com", &hash));
        assert!(!identity_hash_valid("k2", "ann@example.com", &hash));
        assert!(!identity_hash_valid("k", "bob@example.com", &hash));
        assert!(!identity_hash_valid("k", "ann@example.com", "not hex"));
    }
}
