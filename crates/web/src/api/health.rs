use crate::AppState;
use crate::problem::Problem;
use crate::problem::responses as problems;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
}

/// Liveness and readiness: 200 when the database answers, 503 when it does not.
#[utoipa::path(get, path = "/healthz", tag = "directory",
    responses((status = 200, body = Health), problems::Unavailable))]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, Problem> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(Health {
            status: "ok",
            database: state.store.backend(),
        })),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database does not answer");
            Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database does not answer",
            ))
        }
    }
}
