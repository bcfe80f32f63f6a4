//! Schedules: `GET /cron-schedules`, `PUT /cron-schedules/{name}`, and the pause of a cron
//! (`POST /cron-schedules/{name}/pause`, `POST /cron-schedules/{name}/resume`), each row with
//! its next due time and its state.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use cronmon_core::{CronName, Schedule, ScheduleUpdate};
use serde::{Deserialize, Serialize};
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

/// Body of `POST /cron-schedules/{name}/pause` (may be empty).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PauseRequest {
    /// When the pause ends by itself: after now, at most 366 days ahead. Absent or null: until
    /// resumed.
    pub until: Option<DateTime<Utc>>,
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
    let rows = api.reader().schedules().await?;
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

/// The schedule of `name` as now stored, for the answer of a change.
async fn stored(api: &Api, name: &CronName) -> Result<Json<ScheduleResponse>, ApiError> {
    let schedule = api
        .store()
        .schedule(name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("unknown cron {name}")))?;
    Ok(Json(ScheduleResponse {
        success: true,
        schedule: schedule.into(),
    }))
}

/// Pauses a cron: its slots are not judged and no incident opens, until `until` or until
/// resumed. A paused cron's state is `paused`, never `late`. Pausing again replaces the pause.
#[utoipa::path(
    post, path = "/cron-schedules/{name}/pause", tag = "schedules",
    params(("name" = String, Path, description = "The cron")),
    request_body(content = PauseRequest, description = "Optional: no body pauses until resumed"),
    responses(
        (status = 200, description = "Paused: the schedule as stored", body = ScheduleResponse),
        (status = 400, description = "Bad JSON or a field of the wrong type", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 404, description = "Unknown cron", body = ErrorBody),
        (status = 422, description = "A bad cron name, or `until` not in the future or more than 366 days ahead", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn pause(
    State(api): State<Api>,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<PauseRequest>,
) -> Result<Json<ScheduleResponse>, ApiError> {
    let name = cron_name("name", name)?;
    // The store checks `until` (`rules::pause_until`): a refusal is a 422 naming it.
    if !api.store().pause(&name, Utc::now(), body.until).await? {
        return Err(ApiError::not_found(format!("unknown cron {name}")));
    }
    stored(&api, &name).await
}

/// Ends the pause of a cron: slots due from now on are judged (those due while it was paused
/// never are). Resuming a cron that is not paused changes nothing.
#[utoipa::path(
    post, path = "/cron-schedules/{name}/resume", tag = "schedules",
    params(("name" = String, Path, description = "The cron")),
    responses(
        (status = 200, description = "Resumed: the schedule as stored", body = ScheduleResponse),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 404, description = "Unknown cron", body = ErrorBody),
        (status = 422, description = "A bad cron name", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn resume(
    State(api): State<Api>,
    PathParams(name): PathParams<String>,
) -> Result<Json<ScheduleResponse>, ApiError> {
    let name = cron_name("name", name)?;
    let store = api.store();
    let Some(current) = store.schedule(&name).await? else {
        return Err(ApiError::not_found(format!("unknown cron {name}")));
    };
    let now = Utc::now();
    // Resuming moves the cron's judging cursor to now: for a cron that is not paused, that
    // would drop the slot it is waiting on, so only a pause in force is ended.
    let paused = current.paused_at.is_some_and(|at| at <= now)
        && current.paused_until.is_none_or(|until| now < until);
    if paused && !store.resume(&name, now).await? {
        return Err(ApiError::not_found(format!("unknown cron {name}")));
    }
    stored(&api, &name).await
}
