//! Agent sign-in, sign-out and password change. Sign-in is rate-limited per client address
//! and locks an account for a while after repeated failures; both counts live in the
//! database, so they hold across restarts and nodes. The answer to a wrong email and to a
//! wrong password is the same, and takes the same Argon2 time.

use super::i18n::text;
use super::session::{
    AGENT_COOKIE, AGENT_SESSION_MS, AgentSession, LOGIN_CSRF_COOKIE, SessionForm, cookie,
    csrf_refused, language, same_token, set_cookie,
};
use super::{PageError, templates};
use crate::auth::{hash_password, new_secret, token_hash, verify_password};
use crate::{AppState, now};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use minijinja::context;
use rapport_core::{Actor, Millis};
use rapport_store::Ctx;
use serde::Deserialize;
use std::net::SocketAddr;

/// Failures of one account within the window that lock it.
pub const ACCOUNT_FAILURES: i64 = 5;
/// Failures from one client address within the window that pause it.
pub const ADDRESS_FAILURES: i64 = 20;
pub const WINDOW_MS: i64 = 15 * 60_000;
pub const MIN_PASSWORD_CHARS: usize = 10;

/// A hash to verify against when the account does not exist, so that answer takes as long
/// as a wrong password.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("not a password of anyone").unwrap_or_default());

#[derive(Deserialize, Default)]
pub struct Next {
    next: Option<String>,
}

/// Only paths on this site: an open redirect would let a phishing link borrow our login.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> Response {
    render_form(&state, &headers, q.next.as_deref(), None, StatusCode::OK)
}

fn render_form(
    state: &AppState,
    headers: &HeaderMap,
    next: Option<&str>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let lang = language(headers);
    // Keep the visitor's token if they already have one, so two open tabs both work.
    let token = cookie(headers, LOGIN_CSRF_COOKIE)
        .map(str::to_string)
        .unwrap_or_else(|| new_secret(""));
    let mut response = templates().render(
        "login.html",
        lang,
        context! { csrf => token, next => safe_next(next), error => error },
    );
    *response.status_mut() = status;
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(
            LOGIN_CSRF_COOKIE,
            &token,
            3600,
            state.ui.config.secure_cookies(),
        ),
    );
    response
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let lang = language(&headers);
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_token(&form.csrf, expected) {
        return Ok(csrf_refused());
    }
    let email = form.email.trim().to_lowercase();
    let account_key = format!("account:{email}");
    let address_key = match peer {
        Some(Extension(ConnectInfo(addr))) => format!("address:{}", addr.ip()),
        None => "address:unknown".to_string(),
    };
    let since = Millis(now().0 - WINDOW_MS);
    let refuse = |key: &str, status| {
        render_form(
            &state,
            &headers,
            form.next.as_deref(),
            Some(text(lang, key)),
            status,
        )
    };
    if state.store.login_failures(&address_key, since).await? >= ADDRESS_FAILURES {
        return Ok(refuse("login_rate_limited", StatusCode::TOO_MANY_REQUESTS));
    }
    if state.store.login_failures(&account_key, since).await? >= ACCOUNT_FAILURES {
        return Ok(refuse("login_locked", StatusCode::TOO_MANY_REQUESTS));
    }
    let login = state.store.agent_login(&email).await?;
    let (agent, hash) = match login {
        Some(l) if l.agent.active && l.agent.role.is_staff() => {
            (Some(l.agent), l.password_hash.unwrap_or_default())
        }
        _ => (None, DUMMY_HASH.clone()),
    };
    let password = form.password.clone();
    let verified = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let Some(agent) = agent.filter(|_| verified) else {
        state
            .store
            .record_login_failure(&[account_key, address_key], now())
            .await?;
        return Ok(refuse("login_failed", StatusCode::UNAUTHORIZED));
    };
    state.store.clear_login_failures(&account_key).await?;
    let secret = new_secret("");
    let at = now();
    state
        .store
        .create_session(
            &token_hash(&secret),
            agent.id,
            at,
            Millis(at.0 + AGENT_SESSION_MS),
        )
        .await?;
    let mut response = Redirect::to(&safe_next(form.next.as_deref())).into_response();
    let secure = state.ui.config.secure_cookies();
    let headers = response.headers_mut();
    headers.append(
        SET_COOKIE,
        set_cookie(AGENT_COOKIE, &secret, AGENT_SESSION_MS / 1000, secure),
    );
    headers.append(SET_COOKIE, set_cookie(LOGIN_CSRF_COOKIE, "", 0, secure));
    Ok(response)
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn logout(
    State(state): State<AppState>,
    SessionForm { session, .. }: SessionForm<AgentSession, Empty>,
) -> Result<Response, PageError> {
    state.store.delete_session(&session.id_hash).await?;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(AGENT_COOKIE, "", 0, state.ui.config.secure_cookies()),
    );
    Ok(response)
}

pub async fn password_form(session: AgentSession) -> Response {
    password_page(&session, None, None, StatusCode::OK)
}

fn password_page(
    session: &AgentSession,
    error: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> Response {
    let mut response = templates().render(
        "password.html",
        session.lang,
        context! { me => &session.agent, csrf => &session.csrf, error => error, notice => notice },
    );
    *response.status_mut() = status;
    response
}

#[derive(Deserialize)]
pub struct PasswordChange {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

/// Changes the agent's password; every other session of theirs ends, this one is renewed.
pub async fn change_password(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm<AgentSession, PasswordChange>,
) -> Result<Response, PageError> {
    let lang = session.lang;
    let fail = |key: &str| {
        Ok(password_page(
            &session,
            Some(text(lang, key)),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ))
    };
    if form.new.chars().count() < MIN_PASSWORD_CHARS {
        return fail("password_too_short");
    }
    if form.new != form.confirm {
        return fail("password_mismatch");
    }
    let hash = state
        .store
        .agent_login(&session.agent.email)
        .await?
        .and_then(|l| l.password_hash)
        .unwrap_or_default();
    let (current, new) = (form.current.clone(), form.new.clone());
    let new_hash = tokio::task::spawn_blocking(move || {
        verify_password(&current, &hash).then(|| hash_password(&new))
    })
    .await
    .map_err(|e| PageError::internal(format!("password check failed: {e}")))?;
    let new_hash = match new_hash {
        None => return fail("password_current_wrong"),
        Some(h) => h.map_err(|e| PageError::internal(e.to_string()))?,
    };
    let ctx = Ctx {
        actor: Actor::agent(session.agent.id),
        at: now(),
    };
    state
        .store
        .set_agent_password(ctx, session.agent.id, new_hash)
        .await?;
    let secret = new_secret("");
    state
        .store
        .create_session(
            &token_hash(&secret),
            session.agent.id,
            ctx.at,
            Millis(ctx.at.0 + AGENT_SESSION_MS),
        )
        .await?;
    let renewed = AgentSession {
        csrf: super::session::csrf_token(&secret),
        ..session
    };
    let mut response = password_page(
        &renewed,
        None,
        Some(text(lang, "password_changed")),
        StatusCode::OK,
    );
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(
            AGENT_COOKIE,
            &secret,
            AGENT_SESSION_MS / 1000,
            state.ui.config.secure_cookies(),
        ),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/t/10001")), "/t/10001");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
