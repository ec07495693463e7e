//! Webhooks: admins name an address and the event kinds to POST there; each event is delivered
//! once, signed with the subscriber's secret (Standard Webhooks: `webhook-id`,
//! `webhook-timestamp`, `webhook-signature`), which is shown once, when it is created.

use super::ListOf;
use super::customers::numeric_id;
use super::tickets::ctx;
use crate::AppState;
use crate::auth::Caller;
use crate::extract::JsonBody;
use crate::problem::ApiResult;
use crate::problem::responses as problems;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rapport_core::Permission;
use rapport_store::{CreatedWebhook, NewWebhook, Webhook};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where events are POSTed: an `http://` or `https://` address.
    pub url: String,
    /// Event kinds to send (`ticket.created`, `message.added`, …), or `["*"]` for all.
    pub events: Vec<String>,
}

/// Adds a subscriber. The answer carries its signing secret; it is never shown again.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = CreateWebhook,
    responses((status = 201, body = CreatedWebhook), problems::Auth, problems::Body),
    security(("bearer" = [])))]
pub async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<CreateWebhook>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    caller.require(Permission::ManageSettings, "create webhooks")?;
    let CreateWebhook { url, events } = body.value;
    let created = state
        .store
        .create_webhook(ctx(&caller), NewWebhook { url, events })
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Every subscriber, without secrets.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    responses((status = 200, body = ListOf<Webhook>), problems::Auth), security(("bearer" = [])))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListOf<Webhook>>> {
    caller.require(Permission::ManageSettings, "list webhooks")?;
    Ok(Json(ListOf::all(state.store.list_webhooks().await?)))
}

/// Removes a subscriber; nothing more is sent to it, including retries still pending.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path)),
    responses((status = 204, description = "Deleted"), problems::Auth, problems::Query, problems::NotFound),
    security(("bearer" = [])))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Permission::ManageSettings, "delete webhooks")?;
    let id = numeric_id("webhook", &id)?;
    state.store.delete_webhook(ctx(&caller), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
