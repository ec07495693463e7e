use super::ListOf;
use super::customers::numeric_id;
use super::tickets::ctx;
use crate::AppState;
use crate::auth::Caller;
use crate::extract::JsonBody;
use crate::problem::responses as problems;
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rapport_core::fields::FieldDef;
use rapport_core::{Invalid, Permission, Role};
use rapport_store::{Agent, NewAgent, TagCount, Team};
use serde::Deserialize;
use utoipa::ToSchema;

#[utoipa::path(get, path = "/agents", tag = "directory",
    responses((status = 200, body = ListOf<Agent>), problems::Auth), security(("bearer" = [])))]
pub async fn list_agents(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListOf<Agent>>> {
    caller.require(Permission::ReadDirectory, "list agents")?;
    Ok(Json(ListOf::all(state.store.list_agents().await?)))
}

#[utoipa::path(get, path = "/teams", tag = "directory",
    responses((status = 200, body = ListOf<Team>), problems::Auth), security(("bearer" = [])))]
pub async fn list_teams(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListOf<Team>>> {
    caller.require(Permission::ReadDirectory, "list teams")?;
    Ok(Json(ListOf::all(state.store.list_teams().await?)))
}

/// Tags in use, most used first, with how many tickets carry each.
#[utoipa::path(get, path = "/tags", tag = "directory",
    responses((status = 200, body = ListOf<TagCount>), problems::Auth), security(("bearer" = [])))]
pub async fn list_tags(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListOf<TagCount>>> {
    caller.require(Permission::ReadDirectory, "list tags")?;
    Ok(Json(ListOf::all(state.store.list_tags().await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    pub email: String,
    pub name: String,
    /// `admin`, `supervisor`, `agent` or `light_agent`.
    pub role: Role,
}

/// Adds a staff member. They sign in once a password is set (`rapport admin reset-password`).
#[utoipa::path(post, path = "/agents", tag = "directory", request_body = CreateAgent,
    responses((status = 201, body = Agent), problems::Auth, problems::Body, problems::Conflict),
    security(("bearer" = [])))]
pub async fn create_agent(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<CreateAgent>,
) -> ApiResult<(StatusCode, Json<Agent>)> {
    caller.require(Permission::ManageAgents, "add agents")?;
    let a = body.value;
    if !a.role.is_staff() {
        return Err(Invalid::new(
            "role",
            "customers are not agents; use admin, supervisor, agent or light_agent",
        )
        .into());
    }
    let new = NewAgent {
        email: a.email,
        name: a.name,
        role: a.role,
        password_hash: None,
    };
    Ok((
        StatusCode::CREATED,
        Json(state.store.create_agent(ctx(&caller), new).await?),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeam {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[utoipa::path(post, path = "/teams", tag = "directory", request_body = CreateTeam,
    responses((status = 201, body = Team), problems::Auth, problems::Body, problems::Conflict),
    security(("bearer" = [])))]
pub async fn create_team(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<CreateTeam>,
) -> ApiResult<(StatusCode, Json<Team>)> {
    caller.require(Permission::ManageSettings, "create teams")?;
    let team = state
        .store
        .create_team(ctx(&caller), &body.value.name, &body.value.description)
        .await?;
    Ok((StatusCode::CREATED, Json(team)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    pub agent_id: i64,
}

/// Adds an agent to a team (adding one who is already a member changes nothing).
#[utoipa::path(post, path = "/teams/{id}/members", tag = "directory", request_body = AddMember,
    params(("id" = i64, Path)),
    responses((status = 200, body = Team), problems::Auth, problems::Body, problems::NotFound),
    security(("bearer" = [])))]
pub async fn add_team_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody<AddMember>,
) -> ApiResult<Json<Team>> {
    caller.require(Permission::ManageAgents, "change team membership")?;
    let team_id = numeric_id("team", &id)?;
    state
        .store
        .add_team_member(ctx(&caller), team_id, body.value.agent_id)
        .await?;
    let teams = state.store.list_teams().await?;
    let team = teams
        .into_iter()
        .find(|t| t.id == team_id)
        .ok_or_else(|| Problem::not_found(format!("team {team_id} does not exist")))?;
    Ok(Json(team))
}

/// The custom fields tickets can carry, with their types and choices.
#[utoipa::path(get, path = "/custom-fields", tag = "directory",
    responses((status = 200, body = ListOf<FieldDef>), problems::Auth), security(("bearer" = [])))]
pub async fn list_custom_fields(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ListOf<FieldDef>>> {
    caller.require(Permission::ReadDirectory, "list custom fields")?;
    Ok(Json(ListOf::all(state.store.list_custom_fields().await?)))
}

/// Defines a custom field (`text`, `number`, `checkbox`, `date` or `dropdown` with `options`).
#[utoipa::path(post, path = "/custom-fields", tag = "directory", request_body = FieldDef,
    responses((status = 201, body = FieldDef), problems::Auth, problems::Body, problems::Conflict),
    security(("bearer" = [])))]
pub async fn create_custom_field(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<FieldDef>,
) -> ApiResult<(StatusCode, Json<FieldDef>)> {
    caller.require(Permission::ManageSettings, "define custom fields")?;
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .store
                .create_custom_field(ctx(&caller), body.value)
                .await?,
        ),
    ))
}
