//! Inboxes: where customers write to, how the desk answers from them (sender name, signature,
//! hours, first-answer target, read-back), and the texts of their automatic messages.

use super::ListOf;
use super::customers::numeric_id;
use super::tickets::{ctx, nullable};
use crate::AppState;
use crate::auth::Caller;
use crate::extract::JsonBody;
use crate::problem::ApiResult;
use crate::problem::responses as problems;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rapport_core::calendar::CalendarConfig;
use rapport_core::{Invalid, Permission, contact};
use rapport_mail::templates::{Template, validate_template};
use rapport_store::{ChatWidget, ChatWidgetPatch, Inbox, InboxPatch, InboxTemplate};
use serde::Deserialize;
use utoipa::ToSchema;

/// The template kinds an admin can edit.
const TEMPLATE_KINDS: [&str; 1] = ["ack"];

#[utoipa::path(get, path = "/inboxes", tag = "directory",
    responses((status = 200, body = ListOf<Inbox>), problems::Auth), security(("bearer" = [])))]
pub async fn list_inboxes(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListOf<Inbox>>> {
    caller.require(Permission::ReadDirectory, "list inboxes")?;
    Ok(Json(ListOf::all(state.store.list_inboxes().await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInbox {
    pub name: String,
    /// The address customers write to and replies are sent from, e.g. `support@example.com`.
    pub address: String,
    /// The team new tickets in this inbox go to.
    pub team_id: Option<i64>,
    /// Further addresses mail is received at (the sending address is always among them).
    pub addresses: Option<Vec<String>>,
    /// The display name outbound mail is sent under ("Northwind Support").
    pub from_name: Option<String>,
    pub signature: Option<String>,
    /// The language of automatic messages when the customer's is unknown (`en`, `de`).
    pub language: Option<String>,
    /// How to reach a person (phone number and hours), shown in every automatic message.
    pub human_contact: Option<String>,
    /// Opening hours: `{"time_zone": "Europe/Berlin", "hours": {"monday": [{"start": "09:00",
    /// "end": "17:00"}]}, "holidays": ["12-25"]}`.
    #[schema(value_type = Option<Object>)]
    pub business_hours: Option<CalendarConfig>,
    /// The first-answer target in business minutes, 1 to 43200.
    pub first_response_minutes: Option<i64>,
    /// Whether new requests get a read-back acknowledgement.
    pub acknowledge: Option<bool>,
}

/// Creates an inbox, with any of its settings. A refused request creates nothing.
#[utoipa::path(post, path = "/inboxes", tag = "directory", request_body = CreateInbox,
    responses((status = 201, body = Inbox), problems::Auth, problems::Body, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn create_inbox(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<CreateInbox>,
) -> ApiResult<(StatusCode, Json<Inbox>)> {
    caller.require(Permission::ManageSettings, "create inboxes")?;
    let i = body.value;
    let settings = InboxPatch {
        addresses: i.addresses,
        from_name: i.from_name,
        signature: i.signature,
        language: i.language,
        human_contact: i.human_contact,
        business_hours: i.business_hours,
        first_response_minutes: i.first_response_minutes,
        acknowledge: i.acknowledge,
        ..InboxPatch::default()
    };
    let inbox = state
        .store
        .create_inbox(ctx(&caller), &i.name, &i.address, i.team_id, settings)
        .await?;
    Ok((StatusCode::CREATED, Json(inbox)))
}

/// One inbox with all its settings.
#[utoipa::path(get, path = "/inboxes/{id}", tag = "directory",
    params(("id" = i64, Path)),
    responses((status = 200, body = Inbox), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn get_inbox(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Inbox>> {
    caller.require(Permission::ReadDirectory, "read inboxes")?;
    Ok(Json(state.store.inbox(numeric_id("inbox", &id)?).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateInbox {
    pub name: Option<String>,
    /// The sending address; it is added to `addresses` when not among them.
    pub address: Option<String>,
    /// Replaces every receiving address (the sending address is always kept).
    pub addresses: Option<Vec<String>>,
    /// A team id, or `null` to clear.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub team_id: Option<Option<i64>>,
    pub from_name: Option<String>,
    pub signature: Option<String>,
    pub language: Option<String>,
    pub human_contact: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub business_hours: Option<CalendarConfig>,
    /// 1 to 43200.
    pub first_response_minutes: Option<i64>,
    pub acknowledge: Option<bool>,
}

/// Changes an inbox; absent fields stay as they are.
#[utoipa::path(patch, path = "/inboxes/{id}", tag = "directory", request_body = UpdateInbox,
    params(("id" = i64, Path)),
    responses((status = 200, body = Inbox), problems::Auth, problems::Body, problems::NotFound, problems::Conflict),
    security(("bearer" = [])))]
pub async fn update_inbox(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody<UpdateInbox>,
) -> ApiResult<Json<Inbox>> {
    caller.require(Permission::ManageSettings, "change inboxes")?;
    let id = numeric_id("inbox", &id)?;
    let u = body.value;
    let patch = InboxPatch {
        name: u.name,
        address: u.address,
        addresses: u.addresses,
        team_id: u.team_id,
        from_name: u.from_name,
        signature: u.signature,
        language: u.language,
        human_contact: u.human_contact,
        business_hours: u.business_hours,
        first_response_minutes: u.first_response_minutes,
        acknowledge: u.acknowledge,
    };
    Ok(Json(
        state.store.update_inbox(ctx(&caller), id, patch).await?,
    ))
}

/// The inbox's own texts for automatic messages, by kind and language. Where none is set,
/// the built-in text is used.
#[utoipa::path(get, path = "/inboxes/{id}/templates", tag = "directory",
    params(("id" = i64, Path)),
    responses((status = 200, body = ListOf<InboxTemplate>), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn list_templates(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ListOf<InboxTemplate>>> {
    caller.require(Permission::ReadDirectory, "read inbox templates")?;
    let id = numeric_id("inbox", &id)?;
    Ok(Json(ListOf::all(state.store.inbox_templates(id).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    /// One line with placeholders, e.g. `We received your request [{{ reference }}]`.
    pub subject: String,
    /// Plain text with placeholders; must include `{{ human_contact }}` and name the ticket
    /// (`{{ reference }}`, here or in the subject).
    pub body: String,
}

/// Sets the inbox's text for one kind of automatic message (`ack`: the read-back of a new
/// request) in one language. It is checked by rendering it with sample data.
#[utoipa::path(put, path = "/inboxes/{id}/templates/{kind}/{language}", tag = "directory",
    request_body = TemplateInput,
    params(("id" = i64, Path),
        ("kind" = String, Path, description = "`ack`"),
        ("language" = String, Path, description = "A language tag such as `en` or `de-CH`")),
    responses((status = 200, body = InboxTemplate), problems::Auth, problems::Body, problems::NotFound),
    security(("bearer" = [])))]
pub async fn set_template(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, kind, language)): Path<(String, String, String)>,
    body: JsonBody<TemplateInput>,
) -> ApiResult<Json<InboxTemplate>> {
    caller.require(Permission::ManageSettings, "change inbox templates")?;
    let inbox_id = numeric_id("inbox", &id)?;
    if !TEMPLATE_KINDS.contains(&kind.as_str()) {
        return Err(Invalid::new(
            "kind",
            format!(
                "'{kind}' is not a template kind; use one of: {}",
                TEMPLATE_KINDS.join(", ")
            ),
        )
        .into());
    }
    let language = contact::validate_language(&language)?;
    let template = Template {
        subject: body.value.subject,
        body: body.value.body,
    };
    validate_template(&template).map_err(|e| {
        // Named as the body names them: `subject`, `body`.
        let field = match e.field.strip_prefix("template.") {
            Some(field) => field.to_string(),
            None => e.field,
        };
        Invalid::new(field, e.problem)
    })?;
    let stored = InboxTemplate {
        inbox_id,
        kind,
        language,
        subject: template.subject,
        body: template.body,
        updated_at: crate::now(),
    };
    Ok(Json(
        state.store.set_inbox_template(ctx(&caller), stored).await?,
    ))
}

/// The inbox's chat widget settings (a new widget is off).
#[utoipa::path(get, path = "/inboxes/{id}/chat", tag = "directory",
    params(("id" = i64, Path)),
    responses((status = 200, body = ChatWidget), problems::Auth, problems::NotFound),
    security(("bearer" = [])))]
pub async fn get_chat_widget(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ChatWidget>> {
    caller.require(Permission::ManageSettings, "read chat widget settings")?;
    let id = numeric_id("inbox", &id)?;
    Ok(Json(state.store.chat_widget(id, crate::now()).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChatWidget {
    pub enabled: Option<bool>,
    /// `#rrggbb`.
    pub accent: Option<String>,
    pub greeting: Option<String>,
    pub require_email: Option<bool>,
    pub verified_history: Option<bool>,
    /// Origins that may embed the widget (`https://shop.example`); empty: any.
    pub allowed_origins: Option<Vec<String>>,
    /// `true`: replace the identity secret with a new random one.
    #[serde(default)]
    pub new_secret: bool,
}

/// Changes the inbox's chat widget; absent fields stay as they are.
#[utoipa::path(patch, path = "/inboxes/{id}/chat", tag = "directory", request_body = UpdateChatWidget,
    params(("id" = i64, Path)),
    responses((status = 200, body = ChatWidget), problems::Auth, problems::Body, problems::NotFound),
    security(("bearer" = [])))]
pub async fn update_chat_widget(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody<UpdateChatWidget>,
) -> ApiResult<Json<ChatWidget>> {
    caller.require(Permission::ManageSettings, "change chat widgets")?;
    let id = numeric_id("inbox", &id)?;
    let u = body.value;
    let patch = ChatWidgetPatch {
        enabled: u.enabled,
        accent: u.accent,
        greeting: u.greeting,
        require_email: u.require_email,
        verified_history: u.verified_history,
        allowed_origins: u.allowed_origins.map(|o| o.join("\n")),
        new_secret: u.new_secret,
    };
    Ok(Json(
        state
            .store
            .update_chat_widget(ctx(&caller), id, patch)
            .await?,
    ))
}
