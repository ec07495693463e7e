//! The agents' chat queue (`/chats`): open chat conversations waiting for an agent (no owner or
//! no answer yet), oldest first with how long they have waited, then the agent's own. "Take"
//! makes the agent the owner — only while they are online, since an agent away or offline is
//! not offered chats. The conversation itself is worked on the ticket page like any ticket.

use super::session::{AgentSession, NoFields, SessionForm};
use super::{PageError, ctx, templates};
use crate::{AppState, now};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use rapport_core::Permission;
use rapport_core::routing::Availability;
use rapport_core::update::TicketPatch;
use serde::Serialize;

#[derive(Serialize)]
struct ChatRow {
    id: i64,
    reference: String,
    subject: String,
    visitor: String,
    created_at: i64,
    /// Whole minutes since the conversation started.
    waited_minutes: i64,
    last_message_at: i64,
    assignee_id: Option<i64>,
    mine: bool,
}

async fn rows(state: &AppState, session: &AgentSession) -> Result<Vec<ChatRow>, PageError> {
    let at = now().0;
    let me = session.agent.id;
    Ok(state
        .store
        .chat_queue(me)
        .await?
        .into_iter()
        .map(|e| ChatRow {
            id: e.ticket.id,
            reference: e.ticket.reference,
            subject: e.ticket.subject,
            visitor: if e.visitor_name.is_empty() {
                e.ticket.customer.name
            } else {
                e.visitor_name
            },
            created_at: e.ticket.created_at.0,
            waited_minutes: (at - e.ticket.created_at.0).max(0) / 60_000,
            last_message_at: e.last_visitor_message_at.0,
            assignee_id: e.ticket.assignee_id,
            mine: e.ticket.assignee_id == Some(me) && !e.waiting,
        })
        .collect())
}

/// `GET /chats`.
pub async fn page(
    State(state): State<AppState>,
    session: AgentSession,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ReadTickets)?;
    render(&state, &session, None).await
}

async fn render(
    state: &AppState,
    session: &AgentSession,
    error: Option<String>,
) -> Result<Response, PageError> {
    let rows = rows(state, session).await?;
    let (waiting, mine): (Vec<ChatRow>, Vec<ChatRow>) = rows.into_iter().partition(|r| !r.mine);
    let can_take = session
        .availability
        .is_none_or(|a| a == Availability::Online)
        && session.agent.role.allows(Permission::PublicReply);
    Ok(templates().render(
        "chats.html",
        session.lang,
        context! {
            me => session.me(), csrf => &session.csrf, waiting => waiting, mine => mine,
            can_take => can_take, error => error,
        },
    ))
}

/// `GET /chats/count`: how many chats wait for an agent (the header's live count).
pub async fn count(
    State(state): State<AppState>,
    session: AgentSession,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ReadTickets)?;
    let waiting = rows(&state, &session)
        .await?
        .iter()
        .filter(|r| !r.mine)
        .count();
    Ok(axum::Json(serde_json::json!({ "waiting": waiting })).into_response())
}

/// `POST /chats/{id}/take`: the agent owns the conversation from now on.
pub async fn take(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, .. }: SessionForm<AgentSession, NoFields>,
) -> Result<Response, PageError> {
    session.require_to_do(Permission::PublicReply)?;
    let offered = rows(&state, &session).await?;
    let Some(row) = offered.iter().find(|r| r.id == id) else {
        return Err(PageError::not_found());
    };
    let availability = state
        .store
        .agent_routing(session.agent.id, now())
        .await?
        .availability;
    if availability != Availability::Online {
        let mut response = render(
            &state,
            &session,
            Some(super::i18n::text(session.lang, "chats_take_offline")),
        )
        .await?;
        *response.status_mut() = axum::http::StatusCode::CONFLICT;
        return Ok(response);
    }
    if row.assignee_id != Some(session.agent.id) {
        let patch = TicketPatch {
            assignee_id: Some(Some(session.agent.id)),
            // Only chats nobody answered yet are offered to others, so nobody loses a
            // conversation they are in.
            transfer_reason: row
                .assignee_id
                .map(|_| "taken from the chat queue before anyone answered".to_string()),
            ..TicketPatch::default()
        };
        state.store.update_ticket(ctx(&session), id, patch).await?;
    }
    Ok(Redirect::to(&format!("/t/{id}")).into_response())
}

/// The inbox admin page's chat widget part: settings, the identity secret, the snippet.
pub(super) async fn admin_context(
    state: &AppState,
    inbox_id: i64,
) -> Result<minijinja::Value, PageError> {
    let widget = state.store.chat_widget(inbox_id, now()).await?;
    let snippet = format!(
        "<script src=\"{}/widget.js\" data-inbox=\"{inbox_id}\" async></script>",
        state.ui.config.base_url.trim_end_matches('/')
    );
    Ok(context! { secret => widget.identity_secret.clone(), widget => widget, snippet => snippet })
}

#[derive(serde::Deserialize)]
pub struct WidgetForm {
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    accent: String,
    #[serde(default)]
    greeting: String,
    #[serde(default)]
    require_email: Option<String>,
    #[serde(default)]
    verified_history: Option<String>,
    #[serde(default)]
    allowed_origins: String,
    #[serde(default)]
    new_secret: Option<String>,
}

/// `POST /admin/inboxes/{id}/chat`: the inbox's widget settings (admins).
pub async fn save_widget(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, WidgetForm>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ManageSettings)?;
    // Checkboxes are sent only when ticked.
    let patch = rapport_store::ChatWidgetPatch {
        enabled: Some(form.enabled.is_some()),
        accent: Some(form.accent),
        greeting: Some(form.greeting),
        require_email: Some(form.require_email.is_some()),
        verified_history: Some(form.verified_history.is_some()),
        allowed_origins: Some(form.allowed_origins),
        new_secret: form.new_secret.is_some(),
    };
    let result = state
        .store
        .update_chat_widget(ctx(&session), id, patch)
        .await
        .map_err(PageError::from);
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/admin/inboxes?edit={id}")).into_response()),
        Err(e) => super::admin::outcome(&state, &session, "inboxes", Err::<(), _>(e)).await,
    }
}
