//! Agent sign-in, sign-out and password change. Sign-in is rate-limited per client address
//! and locks an account for a while after repeated failures; both counts live in the
//! database, so they hold across restarts and nodes. The answer to a wrong email and to a
//! wrong password is the same, and takes the same Argon2 time.

use super::i18n::text;
use super::session::{
    AGENT_COOKIE, AGENT_SESSION_MS, AgentSession, LOGIN_CSRF_COOKIE, SessionForm, cookie,
    csrf_refused, language, same_token, set_cookie,
};
use super::{PageError, templates, two_factor};
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
/// Browsers drop tabs and newlines from URLs and read `\\` as `/`, so any of those could
/// turn `/…` into `//elsewhere`: such paths are refused outright.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.chars()
                    .all(|c| !c.is_control() && !c.is_whitespace() && c != '\\') =>
        {
            n.to_string()
        }
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
    let account_key = account_key(&email);
    let address_key = super::session::client_key(&state, "address", peer, &headers);
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
    if !count_account_attempt(&state, &account_key).await? {
        return Ok(refuse("login_locked", StatusCode::TOO_MANY_REQUESTS));
    }
    let login = state.store.agent_login(&email).await?;
    let (agent, hash) = match login {
        Some(l) if l.agent.active && l.agent.role.is_staff() => {
            let hash = l.password_hash.unwrap_or_else(|| DUMMY_HASH.clone());
            (Some(l.agent), hash)
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
            .record_login_failure(&[address_key], now())
            .await?;
        return Ok(refuse("login_failed", StatusCode::UNAUTHORIZED));
    };
    if state
        .store
        .agent_totp(agent.id)
        .await?
        .is_some_and(|(_, on)| on)
    {
        // The password was right; the session starts only with the second factor.
        let challenge = new_secret("");
        let expires = Millis(now().0 + CHALLENGE_MS);
        state
            .store
            .create_login_challenge(&token_hash(&challenge), agent.id, expires)
            .await?;
        let mut response =
            second_factor_page(lang, &challenge, form.next.as_deref(), None, StatusCode::OK);
        response.headers_mut().append(
            SET_COOKIE,
            set_cookie(
                CHALLENGE_COOKIE,
                &challenge,
                CHALLENGE_MS / 1000,
                state.ui.config.secure_cookies(),
            ),
        );
        return Ok(response);
    }
    state.store.clear_login_failures(&account_key).await?;
    start_session(&state, agent.id, form.next.as_deref()).await
}

/// Signs the agent in: a new session cookie, and the sign-in's own cookies cleared.
async fn start_session(
    state: &AppState,
    agent_id: i64,
    next: Option<&str>,
) -> Result<Response, PageError> {
    let secret = new_secret("");
    let at = now();
    state
        .store
        .create_session(
            &token_hash(&secret),
            agent_id,
            at,
            Millis(at.0 + AGENT_SESSION_MS),
        )
        .await?;
    let mut response = Redirect::to(&safe_next(next)).into_response();
    let secure = state.ui.config.secure_cookies();
    let headers = response.headers_mut();
    headers.append(
        SET_COOKIE,
        set_cookie(AGENT_COOKIE, &secret, AGENT_SESSION_MS / 1000, secure),
    );
    headers.append(SET_COOKIE, set_cookie(LOGIN_CSRF_COOKIE, "", 0, secure));
    headers.append(SET_COOKIE, set_cookie(CHALLENGE_COOKIE, "", 0, secure));
    Ok(response)
}

/// Between password and code: the challenge cookie, valid this long.
const CHALLENGE_COOKIE: &str = "rapport_2fa";
const CHALLENGE_MS: i64 = 5 * 60_000;

fn second_factor_page(
    lang: &str,
    challenge: &str,
    next: Option<&str>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let mut response = templates().render(
        "login_2fa.html",
        lang,
        context! { csrf => super::session::csrf_token(challenge), next => safe_next(next), error => error },
    );
    *response.status_mut() = status;
    response
}

#[derive(Deserialize)]
pub struct SecondFactorForm {
    #[serde(default)]
    code: String,
    next: Option<String>,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /login/2fa`: the code from the authenticator app, or a recovery code.
pub async fn second_factor(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<SecondFactorForm>,
) -> Result<Response, PageError> {
    let lang = language(&headers);
    let Some(challenge) = cookie(&headers, CHALLENGE_COOKIE).map(str::to_string) else {
        return Ok(Redirect::to("/login").into_response());
    };
    if !same_token(&form.csrf, &super::session::csrf_token(&challenge)) {
        return Ok(csrf_refused());
    }
    // Each try spends one of the challenge's five attempts, atomically.
    let Some(agent_id) = state
        .store
        .claim_challenge_attempt(&token_hash(&challenge), now())
        .await?
    else {
        // Expired or used up: start again from the password.
        return Ok(Redirect::to("/login").into_response());
    };
    let agent = state.store.agent(agent_id).await?;
    let account_key = account_key(&agent.email);
    let since = Millis(now().0 - WINDOW_MS);
    if state.store.login_failures(&account_key, since).await? >= ACCOUNT_FAILURES {
        state
            .store
            .delete_login_challenge(&token_hash(&challenge))
            .await?;
        let locked = Some(text(lang, "login_locked"));
        return Ok(render_form(
            &state,
            &headers,
            form.next.as_deref(),
            locked,
            StatusCode::TOO_MANY_REQUESTS,
        ));
    }
    let secret = state
        .store
        .agent_totp(agent_id)
        .await?
        .map(|(s, _)| s)
        .unwrap_or_default();
    let unix = u64::try_from(now().0 / 1000).unwrap_or_default();
    let ctx = Ctx {
        actor: Actor::agent(agent_id),
        at: now(),
    };
    let passed = match two_factor::code_step(&secret, &form.code, unix) {
        Some(step) => state.store.use_totp_step(agent_id, step).await?,
        None => {
            state
                .store
                .use_recovery_code(ctx, agent_id, &two_factor::recovery_hash(&form.code))
                .await?
        }
    };
    if !passed {
        let address_key = super::session::client_key(&state, "address", peer, &headers);
        state
            .store
            .record_login_failure(&[account_key, address_key], now())
            .await?;
        let wrong = Some(text(lang, "two_factor_wrong"));
        return Ok(second_factor_page(
            lang,
            &challenge,
            form.next.as_deref(),
            wrong,
            StatusCode::UNAUTHORIZED,
        ));
    }
    state
        .store
        .delete_login_challenge(&token_hash(&challenge))
        .await?;
    state.store.clear_login_failures(&account_key).await?;
    start_session(&state, agent_id, form.next.as_deref()).await
}

pub async fn logout(
    State(state): State<AppState>,
    SessionForm { session, .. }: SessionForm<AgentSession, super::session::NoFields>,
) -> Result<Response, PageError> {
    state.store.delete_session(&session.id_hash).await?;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(AGENT_COOKIE, "", 0, state.ui.config.secure_cookies()),
    );
    Ok(response)
}

pub async fn password_form(
    State(state): State<AppState>,
    session: AgentSession,
) -> Result<Response, PageError> {
    account_page(&state, &session, Account::default(), StatusCode::OK).await
}

/// What the account page shows besides the forms.
#[derive(Default)]
struct Account {
    error: Option<String>,
    notice: Option<String>,
    /// While setting up two-factor: the secret and its `otpauth://` address.
    setup: Option<(String, String)>,
    /// Right after enabling: the recovery codes, shown this once.
    recovery_codes: Vec<String>,
}

async fn account_page(
    state: &AppState,
    session: &AgentSession,
    account: Account,
    status: StatusCode,
) -> Result<Response, PageError> {
    let totp = state.store.agent_totp(session.agent.id).await?;
    let mut response = templates().render(
        "password.html",
        session.lang,
        context! {
            me => session.me(), csrf => &session.csrf, error => account.error, notice => account.notice,
            two_factor_on => totp.is_some_and(|(_, on)| on),
            setup => account.setup.map(|(secret, url)| {
                // Our own SVG, made from our own URL: safe to put in the page as it is.
                let qr = two_factor::setup_qr(&url).map(minijinja::Value::from_safe_string);
                context! { secret => secret, url => url, qr => qr }
            }),
            recovery_codes => account.recovery_codes,
        },
    );
    *response.status_mut() = status;
    Ok(response)
}

/// The key an account's password attempts are counted under.
fn account_key(email: &str) -> String {
    format!("account:{}", email.trim().to_lowercase())
}

/// Counts a password attempt on an account before it is checked (a success forgets the
/// account's attempts), so guesses sent in parallel cannot all slip under the limit
/// together. False once the account is locked.
async fn count_account_attempt(state: &AppState, account_key: &str) -> Result<bool, PageError> {
    let key = account_key.to_string();
    state.store.record_login_failure(&[key], now()).await?;
    let since = Millis(now().0 - WINDOW_MS);
    Ok(state.store.login_failures(account_key, since).await? <= ACCOUNT_FAILURES)
}

/// Checks a signed-in agent's current password, under the same per-account limit as
/// sign-in, so a borrowed session cannot guess it: `Err` carries the message key.
async fn check_current_password(
    state: &AppState,
    session: &AgentSession,
    password: &str,
) -> Result<Result<(), &'static str>, PageError> {
    let account_key = account_key(&session.agent.email);
    if !count_account_attempt(state, &account_key).await? {
        return Ok(Err("login_locked"));
    }
    let hash = state
        .store
        .agent_login(&session.agent.email)
        .await?
        .and_then(|l| l.password_hash)
        .unwrap_or_else(|| DUMMY_HASH.clone());
    let password = password.to_string();
    let right = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    if !right {
        return Ok(Err("password_current_wrong"));
    }
    state.store.clear_login_failures(&account_key).await?;
    Ok(Ok(()))
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
    let refused = |key: &str| Account {
        error: Some(text(lang, key)),
        ..Default::default()
    };
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    if form.new.chars().count() < MIN_PASSWORD_CHARS {
        return account_page(
            &state,
            &session,
            refused("password_too_short"),
            unprocessable,
        )
        .await;
    }
    if form.new != form.confirm {
        return account_page(
            &state,
            &session,
            refused("password_mismatch"),
            unprocessable,
        )
        .await;
    }
    if let Err(key) = check_current_password(&state, &session, &form.current).await? {
        return account_page(&state, &session, refused(key), unprocessable).await;
    }
    let new = form.new.clone();
    let new_hash = tokio::task::spawn_blocking(move || hash_password(&new))
        .await
        .map_err(|e| PageError::internal(format!("password hashing failed: {e}")))?
        .map_err(|e| PageError::internal(e.to_string()))?;
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
    let changed = Account {
        notice: Some(text(lang, "password_changed")),
        ..Default::default()
    };
    let mut response = account_page(&state, &renewed, changed, StatusCode::OK).await?;
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
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/\n/evil.example")), "/");
        assert_eq!(safe_next(Some("/ /evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }
}

/// `POST /password/2fa/start`: a new secret to scan; two-factor is on once a code is confirmed.
pub async fn start_two_factor(
    State(state): State<AppState>,
    SessionForm { session, .. }: SessionForm<AgentSession, super::session::NoFields>,
) -> Result<Response, PageError> {
    let secret = two_factor::new_secret();
    let url = two_factor::setup_url(&secret, &session.agent.email)
        .ok_or_else(|| PageError::internal("cannot make a TOTP address".into()))?;
    let ctx = Ctx {
        actor: Actor::agent(session.agent.id),
        at: now(),
    };
    match state
        .store
        .set_totp_secret(ctx, session.agent.id, Some(secret.clone()))
        .await
    {
        Ok(()) => {}
        Err(rapport_store::StoreError::Conflict(why)) => {
            let refused = Account {
                error: Some(why),
                ..Default::default()
            };
            return account_page(&state, &session, refused, StatusCode::CONFLICT).await;
        }
        Err(e) => return Err(e.into()),
    }
    let setup = Account {
        setup: Some((secret, url)),
        ..Default::default()
    };
    account_page(&state, &session, setup, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
}

/// `POST /password/2fa/confirm`: a code from the app proves the setup; recovery codes follow.
pub async fn confirm_two_factor(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm<AgentSession, CodeForm>,
) -> Result<Response, PageError> {
    let lang = session.lang;
    let Some((secret, false)) = state.store.agent_totp(session.agent.id).await? else {
        return Ok(Redirect::to("/password").into_response());
    };
    let unix = u64::try_from(now().0 / 1000).unwrap_or_default();
    let step = two_factor::code_step(&secret, &form.code, unix);
    // The code that confirms the setup is spent: it cannot sign anyone in afterwards.
    let accepted = match step {
        Some(step) => state.store.use_totp_step(session.agent.id, step).await?,
        None => false,
    };
    if !accepted {
        let url = two_factor::setup_url(&secret, &session.agent.email).unwrap_or_default();
        let again = Account {
            error: Some(text(lang, "two_factor_wrong")),
            setup: Some((secret, url)),
            ..Default::default()
        };
        return account_page(&state, &session, again, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let codes = two_factor::recovery_codes();
    let hashes = codes.iter().map(|c| two_factor::recovery_hash(c)).collect();
    let ctx = Ctx {
        actor: Actor::agent(session.agent.id),
        at: now(),
    };
    state
        .store
        .enable_totp(ctx, session.agent.id, hashes)
        .await?;
    let done = Account {
        notice: Some(text(lang, "two_factor_enabled")),
        recovery_codes: codes,
        ..Default::default()
    };
    account_page(&state, &session, done, StatusCode::OK).await
}

/// `POST /password/2fa/disable`: needs the password, so a borrowed session cannot do it.
pub async fn disable_two_factor(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm<AgentSession, CodeForm>,
) -> Result<Response, PageError> {
    let lang = session.lang;
    if let Err(key) = check_current_password(&state, &session, &form.password).await? {
        let refused = Account {
            error: Some(text(lang, key)),
            ..Default::default()
        };
        return account_page(&state, &session, refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let ctx = Ctx {
        actor: Actor::agent(session.agent.id),
        at: now(),
    };
    state
        .store
        .set_totp_secret(ctx, session.agent.id, None)
        .await?;
    let done = Account {
        notice: Some(text(lang, "two_factor_disabled")),
        ..Default::default()
    };
    account_page(&state, &session, done, StatusCode::OK).await
}
