//! The agent workspace (at `/`) and the customer portal (at `/portal`): server-rendered
//! pages (minijinja templates, vendored htmx, a small hand-written script) over the same
//! store the API uses. Sessions are cookies whose SHA-256 the store keeps; every form carries
//! a CSRF token derived from the session; every string comes from the `i18n` catalogue.

mod admin;
mod chats;
pub mod i18n;
mod live;
mod login;
mod pages;
mod phone;
pub mod portal;
mod routing;
pub(crate) mod session;
mod sla;
mod ticket;
mod two_factor;

pub use live::{Live, LiveMessage, VISITOR_VIEWER};
pub(crate) use session::client_key;

use crate::AppState;
use crate::problem::Problem;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::{Environment, UndefinedBehavior, Value, context};
use rapport_core::Millis;

/// Settings the pages need from the server's configuration.
#[derive(Debug, Clone)]
pub struct UiConfig {
    /// Where users reach Rapport (links in emails; `https://` turns on `Secure` cookies).
    pub base_url: String,
}

impl UiConfig {
    fn secure_cookies(&self) -> bool {
        self.base_url.starts_with("https://")
    }
}

/// The templates, compiled once per process.
pub fn templates() -> &'static Templates {
    static TEMPLATES: std::sync::LazyLock<Templates> = std::sync::LazyLock::new(Templates::new);
    &TEMPLATES
}

/// What the pages share: the configuration and the live-update hub.
pub struct UiState {
    pub config: UiConfig,
    pub live: std::sync::Arc<Live>,
    pub trusted_proxies: crate::TrustedProxies,
}

/// A page that failed: shown as a page (not JSON), with the status the API would give.
#[derive(Debug)]
pub struct PageError(pub Problem);

impl PageError {
    pub fn internal(cause: String) -> Self {
        tracing::error!(%cause, "page failed");
        Self(Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server could not complete the request; nothing was changed",
        ))
    }

    pub fn not_found() -> Self {
        Self(Problem::not_found(
            "there is nothing here, or it is not yours to see",
        ))
    }
}

impl<E: Into<Problem>> From<E> for PageError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = templates().render(
            "error.html",
            "en",
            context! { status => self.0.status, title => self.0.title, detail => self.0.detail },
        );
        *response.status_mut() = status;
        response
    }
}

/// The compiled templates: every page and partial, embedded in the binary.
pub struct Templates {
    env: Environment<'static>,
}

/// Every template, by its path under `templates/`, compiled into the binary.
macro_rules! embed {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/", $name)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = embed![
    "admin.html",
    "base.html",
    "call_new.html",
    "callbacks.html",
    "chats.html",
    "conversation.html",
    "customer.html",
    "customer_card.html",
    "error.html",
    "login.html",
    "login_2fa.html",
    "organization.html",
    "password.html",
    "reports.html",
    "request.html",
    "request_item.html",
    "requests.html",
    "search.html",
    "phone_panel.html",
    "ticket.html",
    "ticket_rows.html",
    "views.html",
    "portal/base.html",
    "portal/callback.html",
    "portal/error.html",
    "portal/login.html",
    "portal/new.html",
    "portal/ticket.html",
    "portal/tickets.html",
];

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            // Templates are compiled in and each is rendered by the tests; a syntax error is
            // a build defect, reported at the first render of that page.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        env.add_filter("datetime", format_datetime);
        env.add_filter("mentions", mark_mentions);
        Self { env }
    }

    /// Renders `name` with `ctx` plus the strings of `language` as `t`.
    pub fn render(&self, name: &str, language: &str, ctx: Value) -> Response {
        let ctx = context! { t => i18n::catalogue(language), lang => language, ..ctx };
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => Html(html).into_response(),
            Err(e) => {
                tracing::error!(template = name, error = %e, "template failed to render");
                // Debug builds (tests, development) say why; release builds keep it in the log.
                let detail = if cfg!(debug_assertions) {
                    let mut chain = format!(": {e:#}");
                    let mut source = std::error::Error::source(&e);
                    while let Some(cause) = source {
                        chain.push_str(&format!(": {cause:#}"));
                        source = cause.source();
                    }
                    chain
                } else {
                    String::new()
                };
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the page could not be rendered{detail}"),
                )
                    .into_response()
            }
        }
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

/// `{{ at | datetime(zone) }}`: a time (UTC milliseconds, or RFC 3339 text as records
/// serialise it) as local `YYYY-MM-DD HH:MM` in an IANA zone (UTC when the zone is unknown).
fn format_datetime(at: Value, zone: Option<String>) -> String {
    let ts = match (i64::try_from(at.clone()), at.as_str()) {
        (Ok(ms), _) => jiff::Timestamp::from_millisecond(ms).ok(),
        (_, Some(text)) => text.parse::<jiff::Timestamp>().ok(),
        _ => None,
    };
    let Some(ts) = ts else {
        return String::new();
    };
    let tz = zone
        .as_deref()
        .and_then(|z| jiff::tz::TimeZone::get(z).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    ts.to_zoned(tz).strftime("%Y-%m-%d %H:%M").to_string()
}

/// `{{ body | mentions }}`: the text escaped, with each `@name` mention marked.
fn mark_mentions(text: &str) -> Value {
    let mut out = String::with_capacity(text.len() + 16);
    let mut shown = 0;
    for span in rapport_core::macros::mention_spans(text) {
        // `span` starts after the `@`, which is one byte.
        out.push_str(&escape(&text[shown..span.start - 1]));
        out.push_str(&format!(
            "<strong class=\"mention\">@{}</strong>",
            escape(&text[span.clone()])
        ));
        shown = span.end;
    }
    out.push_str(&escape(&text[shown..]));
    Value::from_safe_string(out)
}

fn escape(text: &str) -> String {
    minijinja::HtmlEscape(text).to_string()
}

/// A search hit's snippet as HTML: the store marks matches with `[` and `]`; the page shows
/// them as `<mark>`, everything else escaped. (The workspace's search and the portal's.)
pub(crate) fn snippet_html(snippet: &str) -> Value {
    let escaped = snippet
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('[', "<mark>")
        .replace(']', "</mark>");
    Value::from_safe_string(escaped)
}

/// The most items a page reads of one ticket's messages or events.
const LIST_CAP: usize = 2_000;

/// Every item of a paged store list (up to `LIST_CAP`), oldest first.
pub(crate) async fn whole_list<T, F, Fut>(fetch: F) -> Result<Vec<T>, PageError>
where
    F: Fn(rapport_store::PageRequest) -> Fut,
    Fut: std::future::Future<Output = rapport_store::Result<rapport_store::Page<T>>>,
{
    whole_list_after(0, fetch).await
}

/// Every item after the one with id `after` (lists ordered by id).
pub(crate) async fn whole_list_after<T, F, Fut>(after: i64, fetch: F) -> Result<Vec<T>, PageError>
where
    F: Fn(rapport_store::PageRequest) -> Fut,
    Fut: std::future::Future<Output = rapport_store::Result<rapport_store::Page<T>>>,
{
    let mut items = Vec::new();
    let mut page = rapport_store::PageRequest {
        after: (after > 0).then_some(rapport_store::Cursor { at: 0, id: after }),
        limit: rapport_store::PageRequest::MAX_LIMIT,
    };
    loop {
        let got = fetch(page).await?;
        items.extend(got.items);
        match got.next {
            Some(next) if items.len() < LIST_CAP => page.after = Some(next),
            _ => return Ok(items),
        }
    }
}

/// An email's HTML made safe to show, with its inline images (`cid:`) pointing at the
/// attachment URLs `url` makes.
pub fn email_html(
    html: &str,
    attachments: &[rapport_store::Attachment],
    url: impl Fn(i64) -> String,
) -> Value {
    let mut safe = rapport_mail::sanitize::sanitize_html(html);
    for a in attachments {
        if let Some(cid) = a.content_id.as_deref().filter(|c| !c.is_empty()) {
            let cid = cid.trim_start_matches('<').trim_end_matches('>');
            safe = safe.replace(&format!("\"cid:{cid}\""), &format!("\"{}\"", url(a.id)));
        }
    }
    Value::from_safe_string(safe)
}

/// The local wall-clock time in a zone, for "it is 14:05 for the customer".
pub fn local_time(now: Millis, zone: &str) -> Option<String> {
    let tz = jiff::tz::TimeZone::get(zone).ok()?;
    let ts = jiff::Timestamp::from_millisecond(now.0).ok()?;
    Some(ts.to_zoned(tz).strftime("%a %H:%M").to_string())
}

/// The workspace's and the portal's routes, and their static assets.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assets/htmx.min.js", get(htmx_js))
        .route("/assets/app.js", get(app_js))
        .route("/assets/app.css", get(app_css))
        .route("/assets/callback.js", get(callback_js))
        .route("/login", get(login::form).post(login::submit))
        .route("/login/2fa", post(login::second_factor))
        .route("/logout", post(login::logout))
        .route("/password/2fa/start", post(login::start_two_factor))
        .route("/password/2fa/confirm", post(login::confirm_two_factor))
        .route("/password/2fa/disable", post(login::disable_two_factor))
        .route(
            "/password",
            get(login::password_form).post(login::change_password),
        )
        .route("/", get(pages::views))
        .route("/rows", get(pages::rows))
        .route("/search", get(pages::search))
        .route("/customers/{id}", get(pages::customer))
        .route("/organizations/{id}", get(pages::organization))
        .route("/views/save", post(pages::save_view))
        .route("/views/{id}/delete", post(pages::delete_view))
        .route("/attachments/{id}", get(pages::attachment))
        .route("/focus", get(ticket::focus))
        .route("/t/{id}", get(ticket::page))
        .route("/t/{id}/conversation", get(ticket::conversation))
        .route("/t/{id}/reply", post(ticket::reply))
        .route("/t/{id}/props", post(ticket::update))
        .route("/t/{id}/done", post(ticket::done))
        .route("/t/{id}/link", post(ticket::link))
        .route("/t/{id}/merge", post(ticket::merge))
        .route("/t/{id}/split/{message}", post(ticket::split))
        .route("/t/{id}/macro", post(ticket::apply_macro))
        .route("/t/{id}/typing", post(live::typing))
        .route("/live", get(live::stream))
        .route("/admin", get(admin::page))
        .route("/admin/{section}", get(admin::page))
        .route("/admin/agents/new", post(admin::create_agent))
        .route("/admin/agents/{id}", post(admin::update_agent))
        .route("/admin/teams/new", post(admin::create_team))
        .route("/admin/teams/{id}/members", post(admin::add_member))
        .route("/admin/inboxes/new", post(admin::create_inbox))
        .route("/admin/inboxes/{id}", post(admin::update_inbox))
        .route("/admin/fields/new", post(admin::create_field))
        .route("/admin/macros/save", post(admin::save_macro))
        .route("/admin/macros/{id}/delete", post(admin::delete_macro))
        .route("/admin/calendars/save", post(sla::save_calendar))
        .route("/admin/calendars/{id}/delete", post(sla::delete_calendar))
        .route("/admin/sla/save", post(sla::save_policy))
        .route("/admin/sla/{id}/delete", post(sla::delete_policy))
        .route("/t/{id}/calls", post(phone::log_call))
        .route("/t/{id}/callbacks", post(phone::schedule))
        .route("/t/{id}/callbacks/{callback}/cancel", post(phone::cancel))
        .route("/callbacks", get(phone::queue))
        .route(
            "/portal/callback",
            get(phone::portal_form).post(phone::portal_request),
        )
        .route(
            "/calls/new",
            get(phone::new_call).post(phone::create_from_call),
        )
        .route("/t/{id}/commitments", post(sla::make))
        .route("/t/{id}/commitments/{commitment}/fulfil", post(sla::fulfil))
        .route("/t/{id}/commitments/{commitment}/cancel", post(sla::cancel))
        .route("/reports", get(sla::report))
        .route("/availability", post(routing::set_availability))
        .route("/t/{id}/requests", post(routing::ask))
        .route("/t/{id}/refer", post(routing::refer))
        .route("/chats", get(chats::page))
        .route("/chats/count", get(chats::count))
        .route("/chats/{id}/take", post(chats::take))
        .route("/admin/inboxes/{id}/chat", post(chats::save_widget))
        .route("/requests", get(routing::team_requests))
        .route("/requests/mine", get(routing::my_requests))
        .route("/requests/new", post(routing::ask_internal))
        .route("/requests/{id}", get(routing::request_page))
        .route("/requests/{id}/reply", post(routing::reply_request))
        .route("/requests/{id}/take", post(routing::take_request))
        .route("/requests/{id}/cancel", post(routing::cancel_request))
        .route(
            "/admin/routing/teams/{id}",
            post(routing::save_team_routing),
        )
        .route(
            "/admin/routing/agents/{id}",
            post(routing::save_agent_routing),
        )
        .route("/admin/tone/save", post(routing::save_tone))
        .merge(portal::routes())
        .layer(axum::middleware::map_response(page_headers))
}

/// Every page: scripts and styles only from Rapport itself (the email HTML shown inside may
/// keep its inline styles, nothing else), never framed, no referrer to other sites.
async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
             form-action 'self'; base-uri 'none'; object-src 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}

async fn htmx_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/htmx.min.js"),
    )
}

async fn app_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    )
}

async fn callback_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/callback.js"),
    )
}

async fn app_css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../assets/app.css"),
    )
}

/// What an agent's page action writes as: the agent, now.
fn ctx(session: &session::AgentSession) -> rapport_store::Ctx {
    rapport_store::Ctx {
        actor: rapport_core::Actor::agent(session.agent.id),
        at: crate::now(),
    }
}

/// A form value the page refuses, naming the field.
fn invalid(field: &str, problem: impl Into<String>) -> PageError {
    PageError(Problem::invalid(rapport_core::Invalid::new(field, problem)))
}

/// A page form's fields by name, for forms whose fields vary.
type FormFields = std::collections::HashMap<String, String>;

/// A form field, trimmed; empty when absent.
fn field<'f>(form: &'f FormFields, name: &str) -> &'f str {
    form.get(name).map(|v| v.trim()).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir)
            .unwrap()
            .chain(std::fs::read_dir(dir.join("portal")).unwrap())
        {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "html") {
                files.push(
                    path.strip_prefix(&dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
        for file in &files {
            assert!(
                TEMPLATES.iter().any(|(name, _)| name == file),
                "{file} is not in TEMPLATES"
            );
        }
        assert_eq!(files.len(), TEMPLATES.len());
    }

    /// Principle 12: every page a customer sees says how to reach a person. Each portal page
    /// extends the portal's base, whose footer shows the inbox's human-contact line outside
    /// any block a page could replace.
    #[test]
    fn every_portal_page_shows_how_to_reach_a_person() {
        let source = |name: &str| {
            TEMPLATES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, s)| *s)
                .unwrap_or_default()
        };
        let base = source("portal/base.html");
        let footer = base
            .find("id=\"human-contact\"")
            .expect("the base shows the line");
        assert!(base[footer..].contains("{{ human_contact }}"));
        let main_ends = base.rfind("{% endblock %}").expect("a main block");
        assert!(
            main_ends < footer,
            "the line is outside the replaceable block"
        );
        for (name, body) in TEMPLATES.iter().filter(|(n, _)| n.starts_with("portal/")) {
            if *name != "portal/base.html" {
                assert!(
                    body.starts_with("{% extends \"portal/base.html\" %}"),
                    "{name} does not extend the portal's base"
                );
            }
        }
    }

    #[test]
    fn every_template_compiles() {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                panic!("{name}: {e:#}");
            }
        }
    }

    #[test]
    fn mentions_are_marked_and_everything_else_escaped() {
        let marked = mark_mentions("@Ann see <b>this</b>, mail ann@example.com. @bo.").to_string();
        assert_eq!(
            marked,
            "<strong class=\"mention\">@Ann</strong> see &lt;b&gt;this&lt;&#x2f;b&gt;, mail ann@example.com. <strong class=\"mention\">@bo</strong>."
        );
    }

    #[test]
    fn snippets_mark_matches_and_escape_everything_else() {
        let shown = snippet_html("…was [refunded] to <b>your</b> \"card\" & more").to_string();
        assert_eq!(
            shown,
            "…was <mark>refunded</mark> to &lt;b&gt;your&lt;/b&gt; &quot;card&quot; &amp; more"
        );
    }

    #[test]
    fn inline_images_point_at_their_attachments_and_scripts_go() {
        let attachment = rapport_store::Attachment {
            id: 42,
            filename: "logo.png".into(),
            content_type: "image/png".into(),
            size_bytes: 10,
            content_id: Some("logo@mail".into()),
            inline: true,
            withheld: None,
        };
        let html = r#"<p>Hi<img src="cid:logo@mail"><script>alert(1)</script></p>"#;
        let shown = email_html(html, &[attachment], |id| format!("/attachments/{id}")).to_string();
        assert!(shown.contains(r#"src="/attachments/42""#), "{shown}");
        assert!(!shown.contains("script"));
    }

    #[test]
    fn times_show_in_the_zone_asked_for() {
        let at = Value::from(1_790_000_000_000_i64);
        assert_eq!(
            format_datetime(at, Some("Europe/Berlin".into())),
            "2026-09-21 16:13"
        );
        let text = Value::from("2026-09-21T14:13:20Z");
        assert_eq!(format_datetime(text, None), "2026-09-21 14:13");
        assert_eq!(format_datetime(Value::from("not a time"), None), "");
        assert_eq!(
            local_time(Millis(1_790_000_000_000), "Asia/Tokyo").as_deref(),
            Some("Mon 23:13")
        );
        assert_eq!(local_time(Millis(0), "Not/AZone"), None);
    }
}
