//! Maintenance windows: `GET /maintenance-windows`, `PUT /maintenance-windows/{id}` (create or
//! replace) and `DELETE /maintenance-windows/{id}`. During a window no slot of the crons it
//! covers is judged and no incident of theirs opens. Bodies come in camelCase; windows go out
//! snake_case, like schedules.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cronmon_core::health::MaintenanceWindow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::Api;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathParams};
use crate::params::parse_id;

/// Body of `PUT /maintenance-windows/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WindowRequest {
    /// The cron it applies to; absent or null for every cron.
    #[schema(example = "nightly-backup")]
    pub cron_name: Option<String>,
    /// When each window starts (5-field crontab or an alias).
    #[schema(example = "0 2 * * 0")]
    pub cron_expression: String,
    /// IANA time zone of the expression (default `UTC`).
    #[schema(example = "Europe/Paris")]
    pub timezone: Option<String>,
    /// How long each window lasts, ms (at most 30 days).
    #[schema(example = 7_200_000)]
    pub duration_ms: i64,
    /// What it is for, for people (at most 1 KiB).
    pub description: Option<String>,
}

/// A maintenance window as stored.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WindowRow {
    /// Window id.
    pub id: Uuid,
    /// The cron it applies to; null for every cron.
    pub cron_name: Option<String>,
    /// When each window starts.
    pub cron_expression: String,
    /// Time zone of the expression.
    pub timezone: String,
    /// How long each window lasts, ms.
    pub duration_ms: i64,
    /// What it is for.
    pub description: Option<String>,
}

impl From<MaintenanceWindow> for WindowRow {
    fn from(w: MaintenanceWindow) -> Self {
        Self {
            id: w.id,
            cron_name: w.cron_name,
            cron_expression: w.cron_expression,
            timezone: w.timezone,
            duration_ms: w.duration_ms,
            description: w.description,
        }
    }
}

/// Answer of `GET /maintenance-windows`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WindowsResponse {
    /// Always true.
    pub success: bool,
    /// Every window, the global ones first.
    pub windows: Vec<WindowRow>,
}

/// Answer of `PUT /maintenance-windows/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WindowResponse {
    /// Always true.
    pub success: bool,
    /// The window as stored.
    pub window: WindowRow,
}

impl WindowRequest {
    /// The window this body describes under `id`. Its rules are checked by the store
    /// ([`MaintenanceWindow::validate`]): a refusal is a 422 naming the field.
    fn into_window(self, id: Uuid) -> Result<MaintenanceWindow, ApiError> {
        if self
            .description
            .as_deref()
            .is_some_and(|d| d.contains('\0'))
        {
            // PostgreSQL cannot store it; said here with the field's name.
            return Err(ApiError::unprocessable(
                "description",
                "cannot hold a NUL character",
            ));
        }
        Ok(MaintenanceWindow {
            id,
            cron_name: self.cron_name,
            cron_expression: self.cron_expression.trim().to_owned(),
            timezone: self
                .timezone
                .map_or_else(|| "UTC".to_owned(), |t| t.trim().to_owned()),
            duration_ms: self.duration_ms,
            description: self.description,
        })
    }
}

/// Every maintenance window.
#[utoipa::path(
    get, path = "/maintenance-windows", tag = "maintenance",
    responses(
        (status = 200, description = "The windows", body = WindowsResponse),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn list(State(api): State<Api>) -> Result<Json<WindowsResponse>, ApiError> {
    let windows = api.store().maintenance_windows().await?;
    Ok(Json(WindowsResponse {
        success: true,
        windows: windows.into_iter().map(WindowRow::from).collect(),
    }))
}

/// Creates or replaces a maintenance window: from each time `cronExpression` is due in
/// `timezone`, for `durationMs`, no slot of the cron (or of every cron) is judged and no
/// incident opens. The client picks the id (a UUID), so a retried request is harmless.
#[utoipa::path(
    put, path = "/maintenance-windows/{id}", tag = "maintenance",
    params(("id" = Uuid, Path, description = "The window")),
    request_body = WindowRequest,
    responses(
        (status = 201, description = "Created", body = WindowResponse),
        (status = 200, description = "Replaced", body = WindowResponse),
        (status = 400, description = "Bad id, bad JSON or a field of the wrong type", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 422, description = "Invalid cron name, cron expression, time zone, duration or description (named)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn put(
    State(api): State<Api>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<WindowRequest>,
) -> Result<(StatusCode, Json<WindowResponse>), ApiError> {
    let window = body.into_window(parse_id(&id)?)?;
    let created = api.store().put_maintenance_window(&window).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(WindowResponse {
            success: true,
            window: window.into(),
        }),
    ))
}

/// Deletes a maintenance window.
#[utoipa::path(
    delete, path = "/maintenance-windows/{id}", tag = "maintenance",
    params(("id" = Uuid, Path, description = "The window")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 404, description = "Unknown window", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn delete(
    State(api): State<Api>,
    PathParams(id): PathParams<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    if api.store().delete_maintenance_window(id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!(
            "unknown maintenance window {id}"
        )))
    }
}
