//! About the API itself: `GET /health` (open to all), `GET /openapi.json`, and the JSON
//! answers for unknown paths (404) and methods (405).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Api;
use crate::error::{ApiError, ErrorBody};

/// Answer of `GET /health`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct HealthResponse {
    /// True when the database answers.
    pub success: bool,
    /// `ok`.
    pub status: String,
    /// `postgres` or `sqlite`.
    pub database: String,
}

/// Health probe: checks the database. Needs no secret.
#[utoipa::path(
    get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "The database answers", body = HealthResponse),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn health(State(api): State<Api>) -> Result<Json<HealthResponse>, ApiError> {
    let store = api.store();
    store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "health check failed");
        ApiError::unavailable("the database is unavailable")
    })?;
    Ok(Json(HealthResponse {
        success: true,
        status: "ok".into(),
        database: match store.backend() {
            cronmon_core::Backend::Postgres => "postgres",
            cronmon_core::Backend::Sqlite => "sqlite",
        }
        .into(),
    }))
}

/// The OpenAPI document of this API.
#[utoipa::path(
    get, path = "/openapi.json", tag = "meta",
    responses(
        (status = 200, description = "OpenAPI 3 document", content_type = "application/json"),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn openapi() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::openapi::document_json(),
    )
        .into_response()
}

/// JSON 404 for paths the API does not have.
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// JSON 405 for a known path with another method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take this method",
    )
}
