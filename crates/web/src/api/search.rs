use super::ListOf;
use crate::AppState;
use crate::auth::Caller;
use crate::extract::{Params, checked_limit};
use crate::problem::ApiResult;
use crate::problem::responses as problems;
use axum::Json;
use axum::extract::State;
use rapport_core::search::SearchQuery;
use rapport_core::{Invalid, Permission};
use rapport_store::SearchHit;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words (all must match), `"phrases"`, `prefix*`, `-excluded` words and filters:
    /// `status:open,pending`, `priority:high`, `tag:billing`, `assignee:me|none|ID|EMAIL`,
    /// `customer:EMAIL|NAME`, `org:NAME`, `ref:R-10234`, `created>2026-01-01`,
    /// `updated<2026-02-01`; a `-` before a filter negates it.
    #[param(min_length = 1, max_length = 1000)]
    pub q: String,
    /// 1 to 200, default 25.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Full-text search over whole tickets — subject, messages and internal notes, attachment
/// names, the customer's name and addresses, the organisation — with English and German
/// stemming (`refunds` finds "refunded") and Chinese, Japanese and Korean words found inside
/// sentences. Text matches are ranked among the 2,000 newest matching tickets, best first;
/// with only filters, most recently updated first. Each hit has a snippet with its matches
/// between `[` and `]`.
#[utoipa::path(get, path = "/search", tag = "search", params(SearchParams),
    responses((status = 200, body = ListOf<SearchHit>), problems::Auth, problems::Query),
    security(("bearer" = [])))]
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<SearchParams>,
) -> ApiResult<Json<ListOf<SearchHit>>> {
    caller.require(Permission::ReadTickets, "search tickets")?;
    if q.q.len() > 1_000 {
        return Err(Invalid::new("q", "must be at most 1000 characters").into());
    }
    let limit = checked_limit(q.limit, 25)?;
    let query = SearchQuery::parse(&q.q)?.resolve_me(caller.0.agent_id);
    Ok(Json(ListOf::all(state.store.search(&query, limit).await?)))
}
