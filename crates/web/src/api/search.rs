use super::ListOf;
use crate::AppState;
use crate::auth::Caller;
use crate::extract::Params;
use crate::problem::ApiResult;
use crate::problem::responses as problems;
use axum::Json;
use axum::extract::State;
use rapport_core::{Invalid, Permission};
use rapport_store::SearchHit;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words to find in ticket subjects and messages (all must match).
    #[param(min_length = 1, max_length = 1000)]
    pub q: String,
    /// 1 to 200, default 25.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Full-text search over tickets, best matches first, with a highlighted snippet.
#[utoipa::path(get, path = "/search", tag = "search", params(SearchQuery),
    responses((status = 200, body = ListOf<SearchHit>), problems::Auth, problems::Query),
    security(("bearer" = [])))]
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<SearchQuery>,
) -> ApiResult<Json<ListOf<SearchHit>>> {
    caller.require(Permission::ReadTickets, "search tickets")?;
    if q.q.trim().is_empty() {
        return Err(Invalid::new("q", "must contain at least one word").into());
    }
    if q.q.len() > 1_000 {
        return Err(Invalid::new("q", "must be at most 1000 characters").into());
    }
    let limit = q.limit.unwrap_or(25);
    if !(1..=200).contains(&limit) {
        return Err(Invalid::new("limit", "must be 1 to 200").into());
    }
    Ok(Json(ListOf::all(state.store.search(&q.q, limit).await?)))
}
