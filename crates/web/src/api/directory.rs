use super::ListOf;
use crate::AppState;
use crate::auth::Caller;
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::State;
use rapport_core::Permission;
use rapport_store::{Agent, Inbox, TagCount, Team};

#[utoipa::path(get, path = "/agents", tag = "directory",
    responses((status = 200, body = ListOf<Agent>), (status = 401, body = Problem)), security(("bearer" = [])))]
pub async fn list_agents(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListOf<Agent>>> {
    caller.require(Permission::ReadDirectory, "list agents")?;
    Ok(Json(ListOf::all(state.store.list_agents().await?)))
}

#[utoipa::path(get, path = "/teams", tag = "directory",
    responses((status = 200, body = ListOf<Team>), (status = 401, body = Problem)), security(("bearer" = [])))]
pub async fn list_teams(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListOf<Team>>> {
    caller.require(Permission::ReadDirectory, "list teams")?;
    Ok(Json(ListOf::all(state.store.list_teams().await?)))
}

#[utoipa::path(get, path = "/inboxes", tag = "directory",
    responses((status = 200, body = ListOf<Inbox>), (status = 401, body = Problem)), security(("bearer" = [])))]
pub async fn list_inboxes(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListOf<Inbox>>> {
    caller.require(Permission::ReadDirectory, "list inboxes")?;
    Ok(Json(ListOf::all(state.store.list_inboxes().await?)))
}

/// Tags in use, most used first, with how many tickets carry each.
#[utoipa::path(get, path = "/tags", tag = "directory",
    responses((status = 200, body = ListOf<TagCount>), (status = 401, body = Problem)), security(("bearer" = [])))]
pub async fn list_tags(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListOf<TagCount>>> {
    caller.require(Permission::ReadDirectory, "list tags")?;
    Ok(Json(ListOf::all(state.store.list_tags().await?)))
}
