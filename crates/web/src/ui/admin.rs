//! Admin pages: agents and roles, teams, inboxes (addresses, signature, business hours, the
//! human-contact line, the read-back template), custom fields, tags and macros. Only roles
//! with `ManageSettings` (or `ManageAgents` for agents) get past the first check; everyone
//! else gets a 404, as for anything that is not theirs.

use super::session::{AgentSession, SessionForm};
use super::{PageError, templates};
use super::{ctx, invalid};
use crate::auth::hash_password;
use crate::problem::Problem;
use crate::{AppState, now};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use rapport_core::fields::{FieldDef, FieldType};
use rapport_core::macros::MacroActions;
use rapport_core::{Permission, Priority, Role, TicketStatus};
use rapport_store::{InboxPatch, InboxTemplate, NewAgent, NewMacro, StoreError};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct AdminQuery {
    #[serde(default)]
    edit: Option<i64>,
    #[serde(default)]
    error: Option<String>,
}

/// `GET /admin` and `GET /admin/{section}`.
pub async fn page(
    State(state): State<AppState>,
    session: AgentSession,
    section: Option<Path<String>>,
    Query(q): Query<AdminQuery>,
) -> Result<Response, PageError> {
    let section = section.map(|Path(s)| s).unwrap_or_else(|| "agents".into());
    render(&state, &session, &section, q.edit, q.error, StatusCode::OK).await
}

async fn render(
    state: &AppState,
    session: &AgentSession,
    section: &str,
    edit: Option<i64>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let permission = if section == "agents" {
        Permission::ManageAgents
    } else {
        Permission::ManageSettings
    };
    session.require_to_see(permission)?;
    let data = match section {
        "agents" => context! {
            agents => state.store.list_agents().await?,
            roles => Role::ALL.iter().filter(|r| r.is_staff()).map(|r| r.as_str()).collect::<Vec<_>>(),
            teams => state.store.list_teams().await?,
        },
        "teams" => context! {
            teams => state.store.list_teams().await?,
            agents => state.store.list_agents().await?,
        },
        "inboxes" => {
            let inboxes = state.store.list_inboxes().await?;
            let editing = match edit {
                Some(id) => {
                    let inbox = state.store.inbox(id).await?;
                    let templates = state.store.inbox_templates(id).await?;
                    let hours =
                        serde_json::to_string_pretty(&inbox.business_hours).unwrap_or_default();
                    let chat = super::chats::admin_context(state, id).await?;
                    Some(
                        context! { inbox => inbox, templates => templates, hours => hours, chat => chat },
                    )
                }
                None => None,
            };
            context! { inboxes => inboxes, editing => editing, teams => state.store.list_teams().await? }
        }
        "fields" => context! {
            fields => state.store.list_custom_fields().await?,
            types => FieldType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        },
        "tags" => context! { tags => state.store.list_tags().await? },
        "macros" => {
            let macros = state.store.list_macros().await?;
            let editing = edit.and_then(|id| macros.iter().find(|m| m.id == id).cloned());
            context! {
                macros => macros, editing => editing,
                placeholders => rapport_core::macros::PLACEHOLDERS,
                statuses => TicketStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                priorities => Priority::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            }
        }
        other => match super::sla::admin_section(state, other, edit).await? {
            Some(data) => data,
            None => super::routing::admin_section(state, other)
                .await?
                .ok_or_else(PageError::not_found)?,
        },
    };
    let mut response = templates().render(
        "admin.html",
        session.lang,
        context! { me => session.me(), csrf => &session.csrf, section => section, error => error, ..data },
    );
    *response.status_mut() = status;
    Ok(response)
}

/// After a change: back to the section; a refused change shows the section with the reason.
pub(super) async fn outcome<T>(
    state: &AppState,
    session: &AgentSession,
    section: &str,
    result: Result<T, PageError>,
) -> Result<Response, PageError> {
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/admin/{section}")).into_response()),
        Err(PageError(problem)) if problem.status < 500 && problem.status != 404 => {
            let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST);
            render(state, session, section, None, Some(problem.detail), status).await
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct AgentForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    team: String,
}

pub async fn create_agent(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm<AgentSession, AgentForm>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ManageAgents)?;
    let result = async {
        let role = staff_role(&form.role)?;
        if form.password.chars().count() < super::login::MIN_PASSWORD_CHARS {
            return Err(PageError(Problem::invalid(rapport_core::Invalid::new(
                "password",
                format!(
                    "needs at least {} characters",
                    super::login::MIN_PASSWORD_CHARS
                ),
            ))));
        }
        let password = form.password.clone();
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| PageError::internal(e.to_string()))?
            .map_err(|e| PageError::internal(e.to_string()))?;
        let new = NewAgent {
            email: form.email.clone(),
            name: form.name.clone(),
            role,
            password_hash: Some(hash),
        };
        let agent = state.store.create_agent(ctx(&session), new).await?;
        if let Ok(team) = form.team.parse::<i64>() {
            state
                .store
                .add_team_member(ctx(&session), team, agent.id)
                .await?;
        }
        Ok(agent)
    }
    .await;
    outcome(&state, &session, "agents", result).await
}

#[derive(Deserialize)]
pub struct TeamForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

pub async fn create_team(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm<AgentSession, TeamForm>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ManageSettings)?;
    let result = state
        .store
        .create_team(ctx(&session), &form.name, &form.description)
        .await
        .map_err(PageError::from);
    outcome(&state, &session, "teams", result).await
}

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    agent: String,
}

pub async fn add_member(
    State(state): State<AppState>,
    Path(team): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, MemberForm>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ManageSettings)?;
    let result = match form.agent.parse::<i64>() {
        Ok(agent) => state
            .store
            .add_team_member(ctx(&session), team, agent)
            .await
            .map_err(PageError::from),
        Err(_) => Err(PageError(Problem::invalid(rapport_core::Invalid::new(
            "agent",
            "choose an agent",
        )))),
    };
    outcome(&state, &session, "teams", result).await
}

#[derive(Deserialize)]
pub struct InboxForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
    /// Further addresses, one per line or comma-separated.
    #[serde(default)]
    addresses: Option<String>,
    #[serde(default)]
    from_name: Option<String>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    human_contact: Option<String>,
    #[serde(default)]
    first_response_minutes: Option<String>,
    #[serde(default)]
    acknowledge: Option<String>,
    /// Business hours as JSON (zone, weekly hours, holidays).
    #[serde(default)]
    business_hours: Option<String>,
    #[serde(default)]
    ack_subject: Option<String>,
    #[serde(default)]
    ack_body: Option<String>,
}

/// A role an agent can have (customers sign in to the portal, never here).
fn staff_role(text: &str) -> Result<Role, PageError> {
    let role = Role::parse(text)?;
    if role.is_staff() {
        Ok(role)
    } else {
        Err(invalid("role", "customers are not agents"))
    }
}

impl InboxForm {
    fn patch(&self, editing: bool) -> Result<InboxPatch, PageError> {
        let minutes = match self.first_response_minutes.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(m) => Some(m.parse::<i64>().map_err(|_| {
                invalid(
                    "first_response_minutes",
                    "must be a whole number of minutes",
                )
            })?),
        };
        let hours = match self.business_hours.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(json) => Some(
                serde_json::from_str(json)
                    .map_err(|e| invalid("business_hours", format!("is not valid: {e}")))?,
            ),
        };
        let addresses = self.addresses.as_deref().map(|a| {
            a.split([',', '\n'])
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        });
        Ok(InboxPatch {
            name: editing.then(|| self.name.clone()),
            address: editing.then(|| self.address.clone()),
            addresses,
            from_name: self.from_name.clone(),
            signature: self.signature.clone(),
            language: self.language.clone().filter(|l| !l.trim().is_empty()),
            human_contact: self.human_contact.clone(),
            business_hours: hours,
            first_response_minutes: minutes,
            // A checkbox is absent when unticked: on the edit form, absent means off.
            acknowledge: editing.then_some(self.acknowledge.is_some()),
            ..Default::default()
        })
    }
}

pub async fn create_inbox(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm<AgentSession, InboxForm>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ManageSettings)?;
    let result = async {
        let patch = form.patch(false)?;
        Ok(state
            .store
            .create_inbox(ctx(&session), &form.name, &form.address, None, patch)
            .await?)
    }
    .await;
    outcome(&state, &session, "inboxes", result).await
}

pub async fn update_inbox(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, InboxForm>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ManageSettings)?;
    let result = async {
        let patch = form.patch(true)?;
        let inbox = state.store.update_inbox(ctx(&session), id, patch).await?;
        if let (Some(subject), Some(body)) = (&form.ack_subject, &form.ack_body)
            && !body.trim().is_empty()
        {
            let template = rapport_mail::templates::Template {
                subject: subject.clone(),
                body: body.clone(),
            };
            rapport_mail::templates::validate_template(&template)
                .map_err(|e| invalid("ack_body", e.to_string()))?;
            let template = InboxTemplate {
                inbox_id: id,
                kind: "ack".into(),
                language: inbox.language.clone(),
                subject: subject.clone(),
                body: body.clone(),
                updated_at: now(),
            };
            state
                .store
                .set_inbox_template(ctx(&session), template)
                .await?;
        }
        Ok(inbox)
    }
    .await;
    outcome(&state, &session, "inboxes", result).await
}

#[derive(Deserialize)]
pub struct FieldForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    field_type: String,
    /// Dropdown options, one per line.
    #[serde(default)]
    options: String,
}

pub async fn create_field(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm<AgentSession, FieldForm>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ManageSettings)?;
    let result = async {
        let field_type = FieldType::parse(&form.field_type)?;
        let options = form
            .options
            .lines()
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect();
        let def = FieldDef {
            key: form.key.trim().to_string(),
            label: form.label.clone(),
            field_type,
            options,
        };
        Ok(state.store.create_custom_field(ctx(&session), def).await?)
    }
    .await;
    outcome(&state, &session, "fields", result).await
}

#[derive(Deserialize)]
pub struct MacroForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    add_tags: String,
}

pub async fn save_macro(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm<AgentSession, MacroForm>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ManageSettings)?;
    let result = async {
        let actions = MacroActions {
            status: (!form.status.is_empty())
                .then(|| TicketStatus::parse(&form.status))
                .transpose()?,
            priority: (!form.priority.is_empty())
                .then(|| Priority::parse(&form.priority))
                .transpose()?,
            add_tags: form
                .add_tags
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
        };
        let new = NewMacro {
            name: form.name.clone(),
            body: form.body.clone(),
            actions,
        };
        Ok(state
            .store
            .save_macro(ctx(&session), form.id.parse().ok(), new)
            .await?)
    }
    .await;
    outcome(&state, &session, "macros", result).await
}

pub async fn delete_macro(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, .. }: SessionForm<AgentSession, super::session::NoFields>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ManageSettings)?;
    match state.store.delete_macro(ctx(&session), id).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => {
            Ok(Redirect::to("/admin/macros").into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct AgentChange {
    #[serde(default)]
    role: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    active: Option<String>,
}

/// `POST /admin/agents/{id}`: a new role, or (un)deactivating. Admins cannot lock themselves
/// out: their own role and access stay.
pub async fn update_agent(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    SessionForm { session, form }: SessionForm<AgentSession, AgentChange>,
) -> Result<Response, PageError> {
    session.require_to_see(Permission::ManageAgents)?;
    let result = async {
        let role = staff_role(&form.role)?;
        let active = form.active.is_some();
        if id == session.agent.id && (role != session.agent.role || !active) {
            return Err(invalid(
                "role",
                "you cannot change your own role or deactivate yourself; ask another admin",
            ));
        }
        Ok(state
            .store
            .update_agent(ctx(&session), id, role, active)
            .await?)
    }
    .await;
    outcome(&state, &session, "agents", result).await
}
