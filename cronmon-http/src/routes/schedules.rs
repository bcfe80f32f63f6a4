//! Schedules: `GET /cron-schedules` and `PUT /cron-schedules/{name}`, each row with its next
//! due time.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use cronmon_core::{Schedule, ScheduleUpdate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Api;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathParams};
use crate::schedule::{next_run_at, validate_update};
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
        let next_run_at = next_run_at(
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

/// Body of `PUT /cron-schedules/{name}`; absent fields keep what is stored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduleRequest {
    /// Name for people.
    pub display_name: Option<String>,
    /// 5-field crontab expression (`0 9 * * *`).
    pub cron_expression: Option<String>,
    /// IANA time zone of the expression (`Europe/Paris`; default `UTC`).
    pub timezone: Option<String>,
    /// Whether it is monitored.
    pub is_enabled: Option<bool>,
    /// Max runtime, ms (default 1 h).
    pub timeout_ms: Option<i64>,
    /// Start deadline after the due time, ms (default 5 min).
    pub grace_ms: Option<i64>,
    /// Longest silence of a running run, ms.
    pub heartbeat_timeout_ms: Option<i64>,
    /// Consecutive failures before alerting (default 3).
    pub failure_threshold: Option<i32>,
    /// Successes before an alert resolves (default 1).
    pub recovery_threshold: Option<i32>,
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
    request_body = ScheduleRequest,
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
    JsonBody(body): JsonBody<ScheduleRequest>,
) -> Result<Json<ScheduleResponse>, ApiError> {
    let name = cron_name("name", name)?;
    let update = ScheduleUpdate {
        display_name: body.display_name,
        cron_expression: body.cron_expression.map(|e| e.trim().to_owned()),
        timezone: body.timezone.map(|t| t.trim().to_owned()),
        is_enabled: body.is_enabled,
        timeout_ms: body.timeout_ms,
        grace_ms: body.grace_ms,
        heartbeat_timeout_ms: body.heartbeat_timeout_ms,
        failure_threshold: body.failure_threshold,
        recovery_threshold: body.recovery_threshold,
    };
    validate_update(&update)?;
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
