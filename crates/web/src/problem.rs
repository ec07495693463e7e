//! Errors as RFC 7807 problem details (`application/problem+json`), each with a `detail` that
//! says which field or header was wrong and how.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rapport_core::Invalid;
use rapport_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, e.g. `/problems/invalid-value`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For invalid values: each field and what was wrong with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub problem: String,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Self {
            // A relative URI (RFC 7807 §3.1): resolved against the Rapport server itself.
            kind: format!("/problems/{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn invalid(invalid: Invalid) -> Self {
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-value",
            invalid.to_string(),
        );
        p.errors.push(FieldProblem {
            field: invalid.field,
            problem: invalid.problem,
        });
        p
    }

    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"rapport\""),
            );
        }
        response
    }
}

impl From<Invalid> for Problem {
    fn from(invalid: Invalid) -> Self {
        Self::invalid(invalid)
    }
}

impl From<StoreError> for Problem {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { .. } => Self::not_found(err.to_string()),
            StoreError::Invalid(invalid) => Self::invalid(invalid),
            StoreError::Conflict(detail) => Self::new(StatusCode::CONFLICT, "conflict", detail),
            StoreError::IdempotencyMismatch => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                err.to_string(),
            ),
            StoreError::Config(_) | StoreError::Database(_) => {
                // The cause goes to the log, not to the client.
                tracing::error!(error = %err, "request failed in the store");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the server could not complete the request; nothing was changed",
                )
            }
        }
    }
}

pub type ApiResult<T> = Result<T, Problem>;

/// The problem responses endpoints share, documented once for the OpenAPI document.
pub mod responses {
    use std::collections::BTreeMap;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, response::Response};

    fn problem(description: &str) -> RefOr<Response> {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
            .into()
    }

    fn set(entries: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
        entries
            .iter()
            .map(|(status, description)| (status.to_string(), problem(description)))
            .collect()
    }

    /// 401 and 403: every endpoint that needs a token.
    pub struct Auth;

    impl utoipa::IntoResponses for Auth {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            set(&[
                ("401", "No token, or an unknown, revoked or deactivated one"),
                ("403", "The caller's role may not do this"),
            ])
        }
    }

    /// What a JSON body can be refused for.
    pub struct Body;

    impl utoipa::IntoResponses for Body {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            set(&[
                (
                    "400",
                    "The body is not valid JSON, or a header is malformed",
                ),
                ("413", "The body is larger than 1 MiB"),
                ("415", "The body is not sent as application/json"),
                ("422", "A value is invalid; `errors` names the field"),
            ])
        }
    }

    /// What query parameters and path ids can be refused for.
    pub struct Query;

    impl utoipa::IntoResponses for Query {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            set(&[
                (
                    "400",
                    "A query parameter or path id has the wrong type, or is unknown",
                ),
                (
                    "422",
                    "A query parameter's value is out of range or invalid",
                ),
            ])
        }
    }

    pub struct NotFound;

    impl utoipa::IntoResponses for NotFound {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            set(&[(
                "404",
                "The id names nothing that exists (or something it refers to does not)",
            )])
        }
    }

    pub struct Conflict;

    impl utoipa::IntoResponses for Conflict {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            set(&[(
                "409",
                "It conflicts with what exists (a duplicate name or address, a closed ticket)",
            )])
        }
    }

    pub struct Unavailable;

    impl utoipa::IntoResponses for Unavailable {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            set(&[("503", "The database does not answer")])
        }
    }
}
