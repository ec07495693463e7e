//! The customer portal at `/portal`: sign-in by a single-use emailed link, the customer's
//! own tickets (an organisation admin's: the organisation's) and a search over their subjects
//! and public messages, a ticket's public conversation, replying with a file, opening a new
//! request. A ticket that is not theirs is a 404, never a 403: the portal does not confirm
//! that another customer's ticket exists.

use super::session::{
    PORTAL_COOKIE, PORTAL_SESSION_MS, PortalSession, SessionForm, csrf_refused, language,
    same_token, set_cookie,
};
use super::{PageError, templates};
use crate::auth::{new_secret, token_hash};
use crate::{AppState, now};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Multipart, Path, RawQuery, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use minijinja::{Value, context};
use rapport_core::calendar::BusinessCalendar;
use rapport_core::search::{Filter, SearchQuery};
use rapport_core::{Actor, Channel, MessageKind, Millis, TicketStatus};
use rapport_mail::compose::{OutboundEmail, compose};
use rapport_mail::templates::format_expected;
use rapport_store::{
    ComposedMail, Ctx, Customer, CustomerFilter, Inbox, NewAttachment, NewMessage, NewPortalLink,
    NewSession, NewTicket, PageRequest, Requester, SearchScope, Ticket, TicketFilter,
};
use serde::Deserialize;
use std::net::SocketAddr;

/// A sign-in link works once, for this long.
pub const LINK_MS: i64 = 20 * 60_000;
/// Links one address may request per hour, and one client address.
const LINKS_PER_EMAIL: i64 = 5;
const LINKS_PER_CLIENT: i64 = 30;
/// Largest upload with a portal reply.
pub const MAX_UPLOAD_BYTES: usize = 20 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal/login", get(login_form).post(request_link))
        .route("/portal/auth/{token}", get(confirm_link).post(redeem))
        .route("/portal/logout", post(logout))
        .route("/portal", get(tickets))
        .route("/portal/new", get(new_form).post(create))
        .route("/portal/t/{id}", get(ticket_page))
        .route(
            "/portal/t/{id}/reply",
            post(reply).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES + 64 * 1024)),
        )
        .route("/portal/t/{id}/attachments/{attachment}", get(attachment))
}

/// The inbox that speaks to this customer: the one of their latest ticket, else the first.
pub(super) async fn inbox_for(
    state: &AppState,
    customer_id: Option<i64>,
) -> Result<Inbox, PageError> {
    if let Some(id) = customer_id {
        let filter = TicketFilter {
            customer_id: Some(id),
            ..Default::default()
        };
        if let Some(t) = state
            .store
            .list_tickets(&filter, PageRequest::first(1))
            .await?
            .items
            .first()
        {
            return Ok(state.store.inbox(t.inbox_id).await?);
        }
    }
    let inboxes = state.store.list_inboxes().await?;
    inboxes
        .into_iter()
        .min_by_key(|i| i.id)
        .ok_or_else(|| PageError::internal("there is no inbox".into()))
}

/// How to reach a person (principle 12): shown on every portal page and in the sign-in
/// email. Without a configured line, the page names the inbox's address.
pub(crate) fn human_contact(inbox: &Inbox, lang: &str) -> String {
    match inbox.human_contact.trim() {
        "" => super::i18n::text(lang, "portal_human_default").replace("{address}", &inbox.address),
        line => line.to_string(),
    }
}

/// A portal page for a failure: the portal's header, the reason, and how to reach a person;
/// never the workspace's error page.
async fn error_page(state: &AppState, lang: &str, error: PageError) -> Response {
    let status = StatusCode::from_u16(error.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let inbox = match inbox_for(state, None).await {
        Ok(inbox) => inbox,
        Err(_) => return error.into_response(),
    };
    let mut response = page(
        "portal/error.html",
        lang,
        &inbox,
        context! { status => error.0.status, detail => error.0.detail },
    );
    *response.status_mut() = status;
    response
}

/// The page, or the portal's page for why not.
async fn or_error_page(
    state: &AppState,
    lang: &str,
    result: Result<Response, PageError>,
) -> Response {
    match result {
        Ok(response) => response,
        Err(e) => error_page(state, lang, e).await,
    }
}

pub(super) fn page(name: &str, lang: &str, inbox: &Inbox, ctx: minijinja::Value) -> Response {
    templates().render(
        name,
        lang,
        context! { human_contact => human_contact(inbox, lang), inbox_name => &inbox.name, ..ctx },
    )
}

async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let lang = language(&headers);
    let inbox = inbox_for(&state, None).await?;
    Ok(page(
        "portal/login.html",
        lang,
        &inbox,
        context! { sent => false, error => None::<String> },
    ))
}

#[derive(Deserialize)]
struct LinkRequest {
    #[serde(default)]
    email: String,
}

/// Sends a sign-in link when the address is a customer's. The answer is the same either way,
/// so the form does not tell who is a customer.
async fn request_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<LinkRequest>,
) -> Result<Response, PageError> {
    let lang = language(&headers);
    let email = form.email.trim().to_lowercase();
    let client_key = super::session::client_key(&state, "portal-client", peer, &headers);
    let email_key = format!("portal-email:{email}");
    let hour_ago = Millis(now().0 - 3_600_000);
    let inbox = inbox_for(&state, None).await?;
    if state.store.login_failures(&client_key, hour_ago).await? >= LINKS_PER_CLIENT
        || state.store.login_failures(&email_key, hour_ago).await? >= LINKS_PER_EMAIL
    {
        let mut response = page(
            "portal/login.html",
            lang,
            &inbox,
            context! { sent => false, error => super::i18n::text(lang, "portal_too_many_links"), confirm => None::<String> },
        );
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        return Ok(response);
    }
    state
        .store
        .record_login_failure(&[client_key, email_key], now())
        .await?;
    let customer = state
        .store
        .list_customers(
            &CustomerFilter {
                email: Some(email.clone()),
                ..Default::default()
            },
            PageRequest::first(1),
        )
        .await?
        .items
        .into_iter()
        .next();
    if let Some(customer) = customer {
        // In the background: a known address must not answer measurably later than an unknown.
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = send_link(&state, &customer, &email, lang).await {
                tracing::error!(customer = customer.id, error = ?e.0, "cannot send a portal sign-in link");
            }
        });
    }
    Ok(page(
        "portal/login.html",
        lang,
        &inbox,
        context! { sent => true, error => None::<String> },
    ))
}

async fn send_link(
    state: &AppState,
    customer: &Customer,
    email: &str,
    lang: &str,
) -> Result<(), PageError> {
    let inbox = inbox_for(state, Some(customer.id)).await?;
    let token = new_secret("");
    let at = now();
    let link = format!(
        "{}/portal/auth/{token}",
        state.ui.config.base_url.trim_end_matches('/')
    );
    let lang = customer.language.as_deref().unwrap_or(lang);
    let text = |key: &str| super::i18n::text(lang, key);
    let body = format!(
        "{}\n\n{link}\n\n{}\n\n{}\n",
        text("portal_mail_intro"),
        text("portal_mail_expiry"),
        human_contact(&inbox, lang)
    );
    let domain = inbox
        .address
        .rsplit_once('@')
        .map_or("rapport.localhost", |(_, d)| d);
    let message_id = format!(
        "portal.{}.{:016x}@{domain}",
        customer.id,
        rand::random::<u64>()
    );
    let from_name = if inbox.from_name.is_empty() {
        inbox.name.clone()
    } else {
        inbox.from_name.clone()
    };
    let raw = compose(&OutboundEmail {
        from: rapport_mail::Mailbox {
            email: inbox.address.clone(),
            name: Some(from_name),
        },
        reply_to: None,
        to: rapport_mail::Mailbox {
            email: email.to_string(),
            name: Some(customer.name.clone()),
        },
        subject: text("portal_mail_subject"),
        message_id: message_id.clone(),
        in_reply_to: None,
        references: Vec::new(),
        automatic: true,
        date: at.0,
        text: body,
        html: String::new(),
    })
    .map_err(|e| PageError::internal(format!("cannot compose the sign-in email: {e}")))?;
    let ctx = Ctx {
        actor: Actor::customer(customer.id),
        at,
    };
    let link = NewPortalLink {
        customer_id: customer.id,
        token_hash: token_hash(&token),
        expires_at: Millis(at.0 + LINK_MS),
        mail: Some(ComposedMail {
            inbox_id: inbox.id,
            recipient: email.to_string(),
            email_message_id: message_id,
            raw,
        }),
    };
    state.store.create_portal_link(ctx, link).await?;
    Ok(())
}

/// A sign-in link an admin hands to a customer themselves (`rapport admin portal-link`; the
/// demo prints one): single-use and expiring like an emailed one, but sent by nobody.
pub async fn handed_over_link(
    store: &dyn rapport_store::Store,
    base_url: &str,
    customer_id: i64,
) -> Result<String, rapport_store::StoreError> {
    let token = new_secret("");
    let at = now();
    let link = NewPortalLink {
        customer_id,
        token_hash: token_hash(&token),
        expires_at: Millis(at.0 + LINK_MS),
        mail: None,
    };
    store
        .create_portal_link(
            Ctx {
                actor: Actor::SYSTEM,
                at,
            },
            link,
        )
        .await?;
    Ok(format!(
        "{}/portal/auth/{token}",
        base_url.trim_end_matches('/')
    ))
}

/// `GET /portal/auth/{token}`: asks the customer to confirm. Only the POST spends the link:
/// mail scanners (Safe Links and the like) open every link in a message before its reader
/// does, and a GET that signed in would use the link up for them.
async fn confirm_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let lang = language(&headers);
    let inbox = inbox_for(&state, None).await?;
    let valid = state
        .store
        .portal_link_valid(&token_hash(&token), now())
        .await?;
    let (error, status) = if valid {
        (None, StatusCode::OK)
    } else {
        (
            Some(super::i18n::text(lang, "portal_link_invalid")),
            StatusCode::GONE,
        )
    };
    // Only this browser may spend the link: another site cannot sign a visitor in to someone
    // else's account by posting a link it holds (double-submit, as for the agents' sign-in).
    let csrf = new_secret("");
    let mut response = page(
        "portal/login.html",
        lang,
        &inbox,
        context! { sent => false, error => error, confirm => valid.then_some(token), csrf => &csrf },
    );
    *response.status_mut() = status;
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(
            LINK_CSRF_COOKIE,
            &csrf,
            LINK_MS / 1000,
            state.ui.config.secure_cookies(),
        ),
    );
    Ok(response)
}

/// The confirmation page's double-submit cookie.
const LINK_CSRF_COOKIE: &str = "rapport_portal_link";

#[derive(Deserialize)]
struct ConfirmForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// `POST /portal/auth/{token}`: spends the link and signs the customer in.
async fn redeem(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, PageError> {
    let lang = language(&headers);
    let expected = super::session::cookie(&headers, LINK_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_token(&form.csrf, expected) {
        return Ok(csrf_refused());
    }
    let secret = new_secret("");
    let at = now();
    let session = NewSession {
        id_hash: token_hash(&secret),
        expires_at: Millis(at.0 + PORTAL_SESSION_MS),
    };
    let ctx = Ctx {
        actor: Actor::SYSTEM,
        at,
    };
    match state
        .store
        .redeem_portal_link(ctx, &token_hash(&token), session)
        .await?
    {
        Some(_) => {
            let mut response = Redirect::to("/portal").into_response();
            response.headers_mut().append(
                SET_COOKIE,
                set_cookie(
                    PORTAL_COOKIE,
                    &secret,
                    PORTAL_SESSION_MS / 1000,
                    state.ui.config.secure_cookies(),
                ),
            );
            Ok(response)
        }
        None => {
            let inbox = inbox_for(&state, None).await?;
            let mut response = page(
                "portal/login.html",
                lang,
                &inbox,
                context! { sent => false, error => super::i18n::text(lang, "portal_link_invalid"), confirm => None::<String> },
            );
            *response.status_mut() = StatusCode::GONE;
            Ok(response)
        }
    }
}

async fn logout(
    State(state): State<AppState>,
    SessionForm { session, .. }: SessionForm<PortalSession, super::session::NoFields>,
) -> Result<Response, PageError> {
    state.store.delete_portal_session(&session.id_hash).await?;
    let mut response = Redirect::to("/portal/login").into_response();
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(PORTAL_COOKIE, "", 0, state.ui.config.secure_cookies()),
    );
    Ok(response)
}

/// The organisation whose tickets this customer sees besides their own: theirs, when they are
/// its admin. The list, the search and every ticket page go by this one rule.
fn organization_reach(customer: &Customer) -> Option<i64> {
    customer.organization_id.filter(|_| customer.org_admin)
}

/// May this customer see this ticket? Their own, or their organisation's when they are its admin.
fn may_see(customer: &Customer, ticket: &Ticket, ticket_org: Option<i64>) -> bool {
    ticket.customer.id == customer.id
        || organization_reach(customer).is_some_and(|org| ticket_org == Some(org))
}

async fn visible_ticket(
    state: &AppState,
    customer: &Customer,
    id: i64,
) -> Result<Ticket, PageError> {
    let ticket = match state.store.ticket(id).await {
        Ok(t) => t,
        Err(rapport_store::StoreError::NotFound { .. }) => return Err(PageError::not_found()),
        Err(e) => return Err(e.into()),
    };
    let ticket_org = if customer.org_admin && ticket.customer.id != customer.id {
        state
            .store
            .customer(ticket.customer.id)
            .await?
            .organization_id
    } else {
        None
    };
    if may_see(customer, &ticket, ticket_org) {
        Ok(ticket)
    } else {
        Err(PageError::not_found())
    }
}

/// Search hits one portal page shows.
const SEARCH_LIMIT: u32 = 50;

/// `GET /portal`: the customer's tickets (an organisation admin's: the organisation's), or
/// with `?q=words` those of them that match, each with where the words matched.
async fn tickets(
    State(state): State<AppState>,
    session: PortalSession,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = ticket_list(&state, &session, raw.as_deref().unwrap_or("")).await;
    or_error_page(&state, session.lang, result).await
}

async fn ticket_list(
    state: &AppState,
    session: &PortalSession,
    raw_query: &str,
) -> Result<Response, PageError> {
    let customer = &session.customer;
    // The first `q`; a query string that does not parse is an empty search, not an error.
    let q = serde_urlencoded::from_str::<Vec<(String, String)>>(raw_query)
        .unwrap_or_default()
        .into_iter()
        .find_map(|(k, v)| (k == "q").then_some(v))
        .unwrap_or_default();
    let q = q.trim().to_string();
    let (items, error) = if q.is_empty() {
        let filter = match organization_reach(customer) {
            Some(org) => TicketFilter {
                organization_id: Some(org),
                ..Default::default()
            },
            None => TicketFilter {
                customer_id: Some(customer.id),
                ..Default::default()
            },
        };
        let list = state
            .store
            .list_tickets(&filter, PageRequest::first(100))
            .await?;
        let items = list
            .items
            .into_iter()
            .map(|tk| context! { tk => tk, snippet => None::<String> })
            .collect();
        (items, None)
    } else {
        match search(state, customer, session.lang, &q).await? {
            Ok(hits) => (hits, None),
            Err(message) => (Vec::new(), Some(message)),
        }
    };
    let inbox = inbox_for(state, Some(customer.id)).await?;
    let mut response = page(
        "portal/tickets.html",
        session.lang,
        &inbox,
        context! { customer => customer, csrf => &session.csrf, items => items, q => &q,
        error => &error },
    );
    if error.is_some() {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

/// The customer's tickets matching `q` (subject and public messages only: the store's
/// customer scope never reads internal notes), or why the query cannot be run.
async fn search(
    state: &AppState,
    customer: &Customer,
    lang: &str,
    q: &str,
) -> Result<Result<Vec<Value>, String>, PageError> {
    let query = match SearchQuery::parse(q) {
        Ok(query) => query,
        Err(e) => return Ok(Err(e.problem)),
    };
    // Tags, priority and owner are the team's working notes, not the customer's: a filter on
    // them would tell a customer (say) that their ticket is tagged `irate`.
    let internal = query.filters.iter().any(|f| {
        matches!(
            f.filter,
            Filter::Tag(_) | Filter::Priority(_) | Filter::Assignee(_)
        )
    });
    if internal {
        return Ok(Err(super::i18n::text(
            lang,
            "portal_search_internal_filter",
        )));
    }
    let scope = SearchScope::Customer {
        customer_id: customer.id,
        organization_id: organization_reach(customer),
    };
    match state.store.search_as(scope, &query, SEARCH_LIMIT).await {
        Ok(hits) => Ok(Ok(hits
            .into_iter()
            .map(|hit| context! { tk => hit.ticket, snippet => super::snippet_html(&hit.snippet) })
            .collect())),
        Err(rapport_store::StoreError::Invalid(i)) => Ok(Err(i.problem)),
        Err(e) => Err(e.into()),
    }
}

/// What we promised and by when: until the first public answer, the expected answer time (the
/// ticket's SLA first-response due time; the inbox's target when its clocks never started),
/// in the customer's zone.
async fn promise(
    state: &AppState,
    ticket: &Ticket,
    inbox: &Inbox,
    zone: &str,
    lang: &str,
    answered: bool,
) -> Result<Option<String>, PageError> {
    if answered || !matches!(ticket.status, TicketStatus::New | TicketStatus::Open) {
        return Ok(None);
    }
    let sla_due = state.store.ticket_sla(ticket.id).await?.and_then(|sla| {
        sla.targets
            .into_iter()
            .find(|t| t.target == rapport_core::sla::Target::FirstResponse)
            .and_then(|t| t.due_at)
    });
    let due = match sla_due {
        Some(due) => due,
        None => {
            let Ok(calendar) = BusinessCalendar::new(&inbox.business_hours) else {
                return Ok(None);
            };
            calendar.add_business_minutes(ticket.created_at, inbox.first_response_minutes)
        }
    };
    Ok(Some(format_expected(due.0, zone, lang)))
}

/// The commitments still open on a ticket, with their due times in the customer's zone.
async fn open_commitments(
    state: &AppState,
    ticket: &Ticket,
    zone: &str,
    lang: &str,
) -> Result<Vec<Value>, PageError> {
    Ok(state
        .store
        .commitments(ticket.id)
        .await?
        .into_iter()
        .filter(|c| c.status == rapport_core::commitment::CommitmentStatus::Open)
        .map(|c| {
            context! { kind => c.kind, description => c.description,
            due => format_expected(c.due_at.0, zone, lang) }
        })
        .collect())
}

async fn render_ticket(
    state: &AppState,
    session: &PortalSession,
    ticket: Ticket,
    error: Option<String>,
) -> Result<Response, PageError> {
    let messages: Vec<_> = super::whole_list(|page| state.store.list_messages(ticket.id, page))
        .await?
        .into_iter()
        .filter(|m| m.public)
        .collect();
    let answered = messages.iter().any(|m| m.kind == MessageKind::Reply);
    let inbox = state.store.inbox(ticket.inbox_id).await?;
    // Times in the customer's zone; the inbox's when we do not know theirs.
    let zone = session
        .customer
        .time_zone
        .clone()
        .unwrap_or_else(|| inbox.business_hours.time_zone.clone());
    let (expected, commitments, callbacks) = tokio::try_join!(
        promise(state, &ticket, &inbox, &zone, session.lang, answered),
        open_commitments(state, &ticket, &zone, session.lang),
        super::phone::portal_callbacks(state, ticket.id),
    )?;
    let views: Vec<_> = messages
        .into_iter()
        .map(|m| {
            let html = m
                .html
                .as_deref()
                .map(|h| {
                    super::email_html(h, &m.attachments, |id| {
                        format!("/portal/t/{}/attachments/{id}", ticket.id)
                    })
                });
            context! { id => m.id, kind => m.kind.as_str(), from_us => m.kind == MessageKind::Reply,
                body => m.body, html => html, attachments => m.attachments, created_at => m.created_at.0 }
        })
        .collect();
    Ok(page(
        "portal/ticket.html",
        session.lang,
        &inbox,
        context! { customer => &session.customer, csrf => &session.csrf, ticket => ticket,
        messages => views, expected => expected, commitments => commitments, callbacks => callbacks,
        error => error },
    ))
}

async fn ticket_page(
    State(state): State<AppState>,
    session: PortalSession,
    Path(id): Path<i64>,
) -> Response {
    let result = match visible_ticket(&state, &session.customer, id).await {
        Ok(ticket) => render_ticket(&state, &session, ticket, None).await,
        Err(e) => Err(e),
    };
    or_error_page(&state, session.lang, result).await
}

/// `POST /portal/t/{id}/reply` (multipart: `_csrf`, `body`, optional `file`).
async fn reply(
    State(state): State<AppState>,
    session: PortalSession,
    Path(id): Path<i64>,
    multipart: Multipart,
) -> Response {
    let lang = session.lang;
    let result = store_reply(&state, session, id, multipart).await;
    or_error_page(&state, lang, result).await
}

async fn store_reply(
    state: &AppState,
    session: PortalSession,
    id: i64,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let (mut csrf, mut body, mut files) = (String::new(), String::new(), Vec::new());
    let too_large = || {
        PageError(crate::problem::Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!("files may be at most {} MB", MAX_UPLOAD_BYTES / 1024 / 1024),
        ))
    };
    while let Some(field) = multipart.next_field().await.map_err(|_| too_large())? {
        match field.name().unwrap_or_default() {
            "_csrf" => csrf = field.text().await.unwrap_or_default(),
            "body" => body = field.text().await.unwrap_or_default(),
            "file" => {
                let name = field.file_name().unwrap_or_default().to_string();
                let data = field.bytes().await.map_err(|_| too_large())?;
                if !data.is_empty() {
                    files.push(upload(&name, data.to_vec()));
                }
            }
            _ => {}
        }
    }
    if !same_token(&csrf, &session.csrf) {
        return Ok(csrf_refused());
    }
    let ticket = visible_ticket(state, &session.customer, id).await?;
    if body.trim().is_empty() && !files.is_empty() {
        body = super::i18n::text(session.lang, "portal_file_only");
    }
    let new = NewMessage {
        kind: MessageKind::Customer,
        channel: Channel::Portal,
        body,
        send_email: false,
        attachments: files,
    };
    let ctx = Ctx {
        actor: Actor::customer(session.customer.id),
        at: now(),
    };
    match state.store.add_message(ctx, ticket.id, new, None).await {
        Ok(_) => Ok(Redirect::to(&format!("/portal/t/{id}")).into_response()),
        Err(rapport_store::StoreError::Invalid(i)) => {
            let mut r = render_ticket(state, &session, ticket, Some(i.to_string())).await?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Err(rapport_store::StoreError::Conflict(detail)) => {
            let mut r = render_ticket(state, &session, ticket, Some(detail)).await?;
            *r.status_mut() = StatusCode::CONFLICT;
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

/// An uploaded file as the store keeps it: a safe name and a type sniffed from its bytes
/// (never the browser's claim).
fn upload(name: &str, data: Vec<u8>) -> NewAttachment {
    let filename = rapport_mail::parse::safe_filename(name).unwrap_or_else(|| "upload".into());
    let content_type = rapport_mail::parse::sniff(&data)
        .unwrap_or("application/octet-stream")
        .to_string();
    NewAttachment {
        filename,
        content_type,
        content_id: None,
        inline: false,
        size_bytes: data.len() as i64,
        data: Some(data),
        withheld: None,
    }
}

async fn new_form(
    State(state): State<AppState>,
    session: PortalSession,
) -> Result<Response, PageError> {
    let inbox = inbox_for(&state, Some(session.customer.id)).await?;
    Ok(page(
        "portal/new.html",
        session.lang,
        &inbox,
        context! { customer => &session.customer, csrf => &session.csrf, error => None::<String>, subject => "", body => "" },
    ))
}

#[derive(Deserialize)]
struct NewRequest {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
}

/// `POST /portal/new`: a new request from the signed-in customer.
async fn create(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm<PortalSession, NewRequest>,
) -> Result<Response, PageError> {
    let customer = &session.customer;
    let inbox = inbox_for(&state, Some(customer.id)).await?;
    let Some(email) = customer.emails.first() else {
        return Err(PageError(crate::problem::Problem::bad_request(
            "your account has no email address",
        )));
    };
    let new = NewTicket {
        subject: form.subject.clone(),
        requester: Requester {
            customer_id: None,
            email: email.clone(),
            name: Some(customer.name.clone()),
        },
        body: form.body.clone(),
        channel: Channel::Portal,
        priority: Default::default(),
        status: TicketStatus::New,
        tags: Vec::new(),
        inbox: Some(inbox.name.clone()),
        assignee_id: None,
        team_id: None,
        custom_fields: Default::default(),
    };
    let ctx = Ctx {
        actor: Actor::customer(customer.id),
        at: now(),
    };
    match state.store.create_ticket(ctx, new, None).await {
        Ok(created) => Ok(Redirect::to(&format!("/portal/t/{}", created.value.id)).into_response()),
        Err(rapport_store::StoreError::Invalid(i)) => {
            let mut r = page(
                "portal/new.html",
                session.lang,
                &inbox,
                context! { customer => customer, csrf => &session.csrf,
                error => i.to_string(), subject => form.subject, body => form.body },
            );
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /portal/t/{id}/attachments/{attachment}`: a file on a public message of a visible ticket.
async fn attachment(
    State(state): State<AppState>,
    session: PortalSession,
    Path((id, attachment)): Path<(i64, i64)>,
) -> Response {
    let result = public_attachment(&state, &session, id, attachment).await;
    or_error_page(&state, session.lang, result).await
}

async fn public_attachment(
    state: &AppState,
    session: &PortalSession,
    id: i64,
    attachment: i64,
) -> Result<Response, PageError> {
    let ticket = visible_ticket(state, &session.customer, id).await?;
    let messages = super::whole_list(|page| state.store.list_messages(ticket.id, page)).await?;
    let public = messages
        .iter()
        .filter(|m| m.public)
        .any(|m| m.attachments.iter().any(|a| a.id == attachment));
    if !public {
        return Err(PageError::not_found());
    }
    Ok(crate::api::emails::attachment_download(state, attachment)
        .await?
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_get_safe_names_and_sniffed_types() {
        let a = upload("../../etc/passwd", b"%PDF-1.4 hello".to_vec());
        assert!(!a.filename.contains('/'));
        assert_eq!(a.content_type, "application/pdf");
        assert_eq!(a.size_bytes, 14);
        let b = upload("", b"plain words".to_vec());
        assert_eq!(b.filename, "upload");
    }
}
