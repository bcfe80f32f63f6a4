//! Schedules: `GET /cron-schedules` and `PUT /cron-schedules/{name}`, each row with its next
//! due time.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use cronmon_core::{Schedule, ScheduleUpdate};
use serde::Serialize;
use utoipa::ToSchema;

use crate::Api;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathParams};
use crate::validate::cron_name;

/// A schedule row with its next due time.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ScheduleRow {
    /// The stored row and derived figures.
    #[serde(flatten)]
    pub schedule: Schedule,
    /// Next due time from `cron_expression` in `timezone`; null without a valid expression.
    pub next_run_at: Option<DateTime<Utc>>,
}

impl From<Schedule> for ScheduleRow {
    fn from(schedule: Schedule) -> Self {
        let next_run_at = cronmon_core::rules::next_run_at(
            schedule.cron_expression.as_deref(),
            &schedule.timezone,
            Utc::now(),
        );
        Self {
            schedule,
            next_run_at,
        }
    }
}

/// Answer of `GET /cron-schedules`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SchedulesResponse {
    /// Always true.
    pub success: bool,
    /// Every cron, by name.
    pub schedules: Vec<ScheduleRow>,
}

/// Answer of `PUT /cron-schedules/{name}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ScheduleResponse {
    /// Always true.
    pub success: bool,
    /// The schedule as now stored.
    pub schedule: ScheduleRow,
}

/// Every cron with its settings, derived figures and next due time.
#[utoipa::path(
    get, path = "/cron-schedules", tag = "schedules",
    responses(
        (status = 200, description = "The crons", body = SchedulesResponse),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn schedules(State(api): State<Api>) -> Result<Json<SchedulesResponse>, ApiError> {
    let rows = api.store().schedules().await?;
    Ok(Json(SchedulesResponse {
        success: true,
        schedules: rows.into_iter().map(ScheduleRow::from).collect(),
    }))
}

/// Creates or changes a cron's settings.
#[utoipa::path(
    put, path = "/cron-schedules/{name}", tag = "schedules",
    params(("name" = String, Path, description = "The cron")),
    request_body(content = ScheduleUpdate, description = "Optional: no body registers the cron with the defaults, or changes nothing"),
    responses(
        (status = 200, description = "The schedule as stored", body = ScheduleResponse),
        (status = 400, description = "Bad JSON or a field of the wrong type", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 422, description = "Invalid cron expression, time zone, name or limit (named)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn put_schedule(
    State(api): State<Api>,
    PathParams(name): PathParams<String>,
    JsonBody(mut update): JsonBody<ScheduleUpdate>,
) -> Result<Json<ScheduleResponse>, ApiError> {
    let name = cron_name("name", name)?;
    update.cron_expression = update.cron_expression.map(|e| e.trim().to_owned());
    update.timezone = update.timezone.map(|t| t.trim().to_owned());
    // The store checks every setting (`ScheduleUpdate::validate`): a refusal is a 422 naming
    // the field.
    let store = api.store();
    store.upsert_schedule(&name, &update).await?;
    let schedule = store
        .schedule(&name)
        .await?
        .ok_or_else(|| ApiError::unavailable("the schedule vanished; retry"))?;
    Ok(Json(ScheduleResponse {
        success: true,
        schedule: schedule.into(),
    }))
}
