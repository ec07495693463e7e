//! Cookies, sessions and CSRF for the pages. A session cookie holds 256 random bits; the
//! store keeps only their SHA-256. The CSRF token of a session is derived from its secret, so
//! it needs no storage and a page from one session is useless in another. Cookies are
//! `HttpOnly` and `SameSite=Lax`, and `Secure` when Rapport is served over HTTPS.

use super::{PageError, i18n};
use crate::AppState;
use crate::auth::{hex, token_hash};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use rapport_store::{Agent, Customer};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

pub const AGENT_COOKIE: &str = "rapport_session";
pub const PORTAL_COOKIE: &str = "rapport_portal";
/// Before sign-in there is no session: the login form's token is a random cookie that the
/// form must repeat (double submit).
pub const LOGIN_CSRF_COOKIE: &str = "rapport_login";
/// An agent's session lasts a working day and a bit.
pub const AGENT_SESSION_MS: i64 = 12 * 3_600_000;
/// A customer's portal session lasts a week.
pub const PORTAL_SESSION_MS: i64 = 7 * 24 * 3_600_000;
/// Largest form accepted by the pages (a long reply fits easily).
const MAX_FORM_BYTES: usize = 1024 * 1024;

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value; `max_age_secs` 0 deletes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// The CSRF token of a session: derived from its secret, never stored.
pub fn csrf_token(session_secret: &str) -> String {
    hex(&Sha256::digest(
        format!("csrf\0{session_secret}").as_bytes(),
    ))[..32]
        .to_string()
}

/// Equal without telling, by timing, how much of a guess was right.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The language to answer in.
pub fn language(headers: &HeaderMap) -> &'static str {
    i18n::negotiate(
        cookie(headers, "lang"),
        headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()),
    )
}

/// A signed-in agent, with the token their forms must carry.
pub struct AgentSession {
    pub agent: Agent,
    pub csrf: String,
    pub lang: &'static str,
    /// The SHA-256 of the session secret (to end the session).
    pub id_hash: String,
    /// What the agent said about being reachable, for the header's control; read for pages
    /// only (not for live streams and page fragments).
    pub availability: Option<rapport_core::routing::Availability>,
    /// Scheduled callbacks whose window has started, for the header's link; pages only.
    pub callbacks_due: Option<i64>,
}

/// The signed-in agent as templates see them (`me`): the agent and their availability.
#[derive(serde::Serialize)]
pub struct Me<'a> {
    #[serde(flatten)]
    pub agent: &'a Agent,
    pub availability: Option<&'static str>,
    pub callbacks_due: Option<i64>,
}

impl FromRequestParts<AppState> for AgentSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let lang = language(&parts.headers);
        let to_login = || {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            // htmx follows this header instead of swapping a login page into a fragment.
            let target = format!("/login?next={}", urlencode(next));
            let mut response = Redirect::to(&target).into_response();
            if let Ok(v) = HeaderValue::from_str(&target) {
                response.headers_mut().insert("hx-redirect", v);
            }
            response
        };
        let Some(secret) = cookie(&parts.headers, AGENT_COOKIE) else {
            return Err(to_login());
        };
        let id_hash = token_hash(secret);
        let agent = state
            .store
            .session_agent(&id_hash, crate::now())
            .await
            .map_err(|e| crate::problem::Problem::from(e).into_response())?;
        match agent {
            Some(agent) if agent.role.is_staff() => {
                // Pages show the agent's availability in the header; form posts, fragments
                // and the live stream do not need it.
                let path = parts.uri.path();
                let fragment = parts.method != axum::http::Method::GET
                    || parts.headers.contains_key("hx-request")
                    || path == "/live"
                    || path == "/rows"
                    || path.ends_with("/conversation")
                    || path.ends_with("/typing");
                let (availability, callbacks_due) = if fragment {
                    (None, None)
                } else {
                    let at = crate::now();
                    let (routing, due) = tokio::join!(
                        state.store.agent_routing(agent.id, at),
                        state.store.callbacks_due(at)
                    );
                    (routing.ok().map(|r| r.availability), due.ok())
                };
                Ok(AgentSession {
                    agent,
                    csrf: csrf_token(secret),
                    lang,
                    id_hash,
                    availability,
                    callbacks_due,
                })
            }
            _ => Err(to_login()),
        }
    }
}

impl AgentSession {
    /// The agent as templates see them.
    pub fn me(&self) -> Me<'_> {
        Me {
            agent: &self.agent,
            availability: self.availability.map(|a| a.as_str()),
            callbacks_due: self.callbacks_due,
        }
    }

    /// Pages the role may not see do not exist for it (404, as for anything not theirs).
    pub fn require_to_see(&self, permission: rapport_core::Permission) -> Result<(), PageError> {
        if self.agent.role.allows(permission) {
            Ok(())
        } else {
            Err(PageError::not_found())
        }
    }

    /// Changes the role may not make are refused, saying why (403).
    pub fn require_to_do(&self, permission: rapport_core::Permission) -> Result<(), PageError> {
        if self.agent.role.allows(permission) {
            Ok(())
        } else {
            Err(PageError(crate::problem::Problem::forbidden(format!(
                "your role ({}) may not do this",
                self.agent.role.as_str()
            ))))
        }
    }

    /// Supervisors and admins look after what everyone shares (views, for one).
    pub fn manages_shared(&self) -> bool {
        self.agent
            .role
            .allows(rapport_core::Permission::ManageSettings)
            || self.agent.role == rapport_core::Role::Supervisor
    }
}

/// The key rate limits count a client under: `prefix:` and its address (behind a trusted
/// proxy, the address the proxy spoke for).
pub fn client_key(
    state: &AppState,
    prefix: &str,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: &HeaderMap,
) -> String {
    match peer {
        Some(axum::Extension(axum::extract::ConnectInfo(addr))) => {
            let client = state.ui.trusted_proxies.client(addr.ip(), headers);
            format!("{prefix}:{client}")
        }
        None => format!("{prefix}:unknown"),
    }
}

pub fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A signed-in portal customer, with the token their forms must carry.
pub struct PortalSession {
    pub customer: Customer,
    pub csrf: String,
    pub lang: &'static str,
    pub id_hash: String,
}

impl FromRequestParts<AppState> for PortalSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let lang = language(&parts.headers);
        let Some(secret) = cookie(&parts.headers, PORTAL_COOKIE) else {
            return Err(Redirect::to("/portal/login").into_response());
        };
        let id_hash = token_hash(secret);
        let customer = state
            .store
            .portal_session(&id_hash, crate::now())
            .await
            .map_err(|e| crate::problem::Problem::from(e).into_response())?;
        match customer {
            Some(customer) => Ok(PortalSession {
                customer,
                csrf: csrf_token(secret),
                lang,
                id_hash,
            }),
            None => Err(Redirect::to("/portal/login").into_response()),
        }
    }
}

/// Something that can vouch for a form: a session with its CSRF token.
pub trait HasCsrf {
    fn csrf(&self) -> &str;
}

impl HasCsrf for AgentSession {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl HasCsrf for PortalSession {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A form that carries nothing but its CSRF token (sign out, delete, typing reports).
#[derive(serde::Deserialize)]
pub struct NoFields {}

/// A POSTed form from a session `S`, accepted only with that session's CSRF token (in the
/// `_csrf` field, or the `X-CSRF-Token` header that htmx requests carry).
pub struct SessionForm<S, T> {
    pub session: S,
    pub form: T,
}

impl<S, T> FromRequest<AppState> for SessionForm<S, T>
where
    S: FromRequestParts<AppState, Rejection = Response> + HasCsrf + Send,
    T: DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let session = S::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                (StatusCode::PAYLOAD_TOO_LARGE, "the form is too large").into_response()
            })?;
        let field = form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "_csrf")
            .map(|(_, v)| v.into_owned());
        let header = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let provided = field.or(header).unwrap_or_default();
        if !same_token(&provided, session.csrf()) {
            return Err(csrf_refused());
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the form is not valid: {e}"),
            )
                .into_response()
        })?;
        Ok(SessionForm { session, form })
    }
}

pub fn csrf_refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        "This form has expired or did not come from Rapport. Reload the page and try again.",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; rapport_session=xyz; b="),
        );
        assert_eq!(cookie(&headers, AGENT_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "b"), None);
        assert_eq!(cookie(&headers, "c"), None);
    }

    #[test]
    fn csrf_tokens_belong_to_one_session() {
        assert_eq!(csrf_token("s1"), csrf_token("s1"));
        assert_ne!(csrf_token("s1"), csrf_token("s2"));
        assert!(same_token(&csrf_token("s1"), &csrf_token("s1")));
        assert!(!same_token(&csrf_token("s1"), &csrf_token("s2")));
        assert!(!same_token("", &csrf_token("s1")));
    }

    #[test]
    fn cookies_are_http_only_and_secure_over_https() {
        let plain = set_cookie(AGENT_COOKIE, "v", 60, false);
        assert!(plain.to_str().unwrap().contains("HttpOnly; SameSite=Lax"));
        assert!(!plain.to_str().unwrap().contains("Secure"));
        assert!(
            set_cookie(AGENT_COOKIE, "v", 60, true)
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
    }
}
