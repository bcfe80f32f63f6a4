//! About the API itself: `GET /health` (open to all), `GET /openapi.json`, and the JSON
//! answers for unknown paths (404) and methods (405).

use std::time::{Duration, Instant};

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

/// How long a health check's result is answered before the database is asked again: the
/// probe needs no secret, so its rate is the caller's to choose, not the database's load.
pub(crate) const HEALTH_CACHE: Duration = Duration::from_secs(2);

/// Longest a health check waits for the database: past it, the database counts as down.
pub(crate) const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// The last health check: when it ran and whether the database answered. Behind an async
/// mutex so that one request at a time checks, and the others wait for its result instead of
/// each asking the database.
#[derive(Debug, Default)]
pub(crate) struct HealthCache {
    last: tokio::sync::Mutex<Option<(Instant, bool)>>,
}

impl HealthCache {
    /// Whether the database answers: the last result if fresh, else a new bounded check.
    async fn database_answers(&self, store: &dyn cronmon_core::Store) -> bool {
        let mut last = self.last.lock().await;
        if let Some((at, up)) = *last
            && at.elapsed() < HEALTH_CACHE
        {
            return up;
        }
        let up = match tokio::time::timeout(HEALTH_TIMEOUT, store.ping()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "health check failed");
                false
            }
            Err(_) => {
                tracing::warn!("health check: the database did not answer in time");
                false
            }
        };
        *last = Some((Instant::now(), up));
        up
    }
}

/// Health probe: whether the database answers (checked at most once every two seconds,
/// whatever the request rate). Needs no secret.
#[utoipa::path(
    get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "The database answers", body = HealthResponse),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn health(State(api): State<Api>) -> Result<Json<HealthResponse>, ApiError> {
    let store = api.store();
    if !api.health().database_answers(store.as_ref()).await {
        return Err(ApiError::unavailable("the database is unavailable"));
    }
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
