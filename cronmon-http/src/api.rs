//! The endpoints: request and response bodies (camelCase in, the seed's snake_case rows out)
//! and their handlers.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use cronmon_core::{
    CronName, CronStats, Event, Execution, ExecutionFilter, Finish, Heartbeat, Outcome,
    PageRequest, Reason, Schedule, ScheduleUpdate, Start, Status, StuckRun, TimelineDay,
    TriggerType,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::Api;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::schedule::{next_run_at, validate_expression, validate_timezone};

/// Longest host, boot id, version or display name accepted, in bytes.
const MAX_SHORT_TEXT: usize = 1024;

// ---------------------------------------------------------------------------------------------
// Bodies

/// Body of `POST /cron-executions/start`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartRequest {
    /// The cron; an unknown name registers it.
    #[schema(example = "monitor-openai")]
    pub cron_name: String,
    /// `scheduled` (default) or `manual`.
    #[schema(example = "scheduled")]
    pub trigger_type: Option<String>,
    /// Client-made id (UUIDv7 advised) so a retried start is idempotent; made by the server
    /// when absent.
    pub execution_id: Option<Uuid>,
    /// RFC 3339 with offset; now when absent.
    pub started_at: Option<DateTime<Utc>>,
    /// Host name of the job.
    pub host: Option<String>,
    /// Process id of the job.
    pub pid: Option<i32>,
    /// Boot id of the job's machine.
    pub boot_id: Option<String>,
    /// Version of the job's program.
    pub version: Option<String>,
    /// The schedule slot this run serves.
    pub scheduled_for: Option<DateTime<Utc>>,
}

/// Answer of `POST /cron-executions/start`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartResponse {
    /// Always true.
    pub success: bool,
    /// The run's id: send it with the completion.
    pub execution_id: Uuid,
    /// The cron.
    pub cron_name: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
}

/// Body of `POST /cron-executions/complete`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompleteRequest {
    /// The run, as the start answered.
    pub execution_id: Uuid,
    /// `completed` or `failed`.
    #[schema(example = "completed")]
    pub status: String,
    /// How long it ran; computed from the stored start when absent.
    pub duration_ms: Option<i64>,
    /// Anything the job reports (JSON); over 64 KiB it is stored truncated and marked.
    #[schema(value_type = Option<Object>)]
    pub output: Option<serde_json::Value>,
    /// The error (over 64 KiB: truncated).
    pub error_message: Option<String>,
    /// Exit code of the job.
    pub exit_code: Option<i32>,
    /// Why it failed: `error` (default for `failed`), `panicked`, `interrupted`, `crashed`,
    /// `abandoned`, `timed_out`, `missed`.
    pub reason: Option<String>,
    /// RFC 3339 with offset; now when absent.
    pub completed_at: Option<DateTime<Utc>>,
    /// CPU time of the run.
    pub cpu_ms: Option<i64>,
    /// Peak resident memory, KiB.
    pub max_rss_kb: Option<i64>,
    /// With `startedAt`: the run's start, so a completion whose start was lost is stored whole.
    pub cron_name: Option<String>,
    /// With `cronName`: when the run started.
    pub started_at: Option<DateTime<Utc>>,
    /// Of the start carried along.
    pub trigger_type: Option<String>,
    /// Of the start carried along.
    pub host: Option<String>,
    /// Of the start carried along.
    pub pid: Option<i32>,
    /// Of the start carried along.
    pub boot_id: Option<String>,
    /// Of the start carried along.
    pub version: Option<String>,
}

/// Answer of `POST /cron-executions/complete`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompleteResponse {
    /// Always true.
    pub success: bool,
    /// The run.
    pub execution_id: Uuid,
    /// The outcome recorded.
    pub status: String,
}

/// Body of `POST /cron-executions/{id}/heartbeat` (may be empty).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatRequest {
    /// Items done so far.
    pub done: Option<i64>,
    /// Items in all.
    pub total: Option<i64>,
}

/// Answer of a heartbeat.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HeartbeatResponse {
    /// Always true.
    pub success: bool,
    /// Whether the run is still running (false: it had already finished; nothing changed).
    pub running: bool,
}

/// Query of `GET /cron-executions/stats`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Window in hours, 1 to 8784 (default 24).
    #[param(value_type = Option<u32>)]
    pub hours: Option<String>,
}

/// Answer of `GET /cron-executions/stats`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsResponse {
    /// Always true.
    pub success: bool,
    /// Per cron over the window.
    #[schema(value_type = Vec<crate::openapi::CronStatsRow>)]
    pub stats: Vec<CronStats>,
    /// Runs past their max runtime or heartbeat timeout.
    #[schema(value_type = Vec<crate::openapi::StuckRunRow>)]
    pub stuck_crons: Vec<StuckRun>,
    /// The last 7 days (UTC), oldest first.
    #[schema(value_type = Vec<crate::openapi::TimelineDayRow>)]
    pub timeline: Vec<TimelineDay>,
}

/// Paging of `GET /cron-executions/list` (its filters are [`FilterQuery`]).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page (default 1).
    #[param(value_type = Option<u32>)]
    pub page: Option<String>,
    /// Rows a page, 1 to 200 (default 50; more is cut to 200).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
}

/// The run filters of `/cron-executions/list` and `/cron-executions/export.csv`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct FilterQuery {
    /// `running`, `completed` or `failed` (`all` or empty: any).
    pub status: Option<String>,
    /// Only this cron.
    pub cron_name: Option<String>,
    /// Started at or after: RFC 3339, or a date (`2026-02-13`, start of that day UTC).
    pub from: Option<String>,
    /// Started before: RFC 3339, or a date (inclusive: up to the end of that day UTC).
    pub to: Option<String>,
}

/// Page figures of a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    /// This page.
    pub page: u32,
    /// Rows a page.
    pub limit: u32,
    /// Rows in all pages.
    pub total: i64,
    /// Number of pages.
    pub total_pages: i64,
}

/// Answer of `GET /cron-executions/list`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse {
    /// Always true.
    pub success: bool,
    /// Newest first.
    #[schema(value_type = Vec<crate::openapi::ExecutionRow>)]
    pub executions: Vec<Execution>,
    /// Page figures.
    pub pagination: Pagination,
}

/// Answer of `GET /cron-executions/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionResponse {
    /// Always true.
    pub success: bool,
    /// The run.
    #[schema(value_type = crate::openapi::ExecutionRow)]
    pub execution: Execution,
}

/// A schedule row with its next due time.
#[derive(Debug, Serialize)]
pub struct ScheduleRow {
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
pub struct SchedulesResponse {
    /// Always true.
    pub success: bool,
    /// Every cron, by name.
    #[schema(value_type = Vec<crate::openapi::ScheduleRowDoc>)]
    pub schedules: Vec<ScheduleRow>,
}

/// Body of `PUT /cron-schedules/{name}`; absent fields keep what is stored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRequest {
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
pub struct ScheduleResponse {
    /// Always true.
    pub success: bool,
    /// The schedule as now stored.
    #[schema(value_type = crate::openapi::ScheduleRowDoc)]
    pub schedule: ScheduleRow,
}

/// Answer of `GET /cron-executions/batches`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchesResponse {
    /// Always true.
    pub success: bool,
    /// Batch kinds by name (empty until batch kinds are recorded).
    #[schema(value_type = Object)]
    pub batches: BTreeMap<String, serde_json::Value>,
}

/// Answer of `GET /health`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// True when the database answers.
    pub success: bool,
    /// `ok`.
    pub status: String,
    /// `postgres` or `sqlite`.
    pub database: String,
}

// ---------------------------------------------------------------------------------------------
// Validation helpers

fn text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.contains('\0') => Err(ApiError::unprocessable(
            field,
            "cannot hold a NUL character",
        )),
        Some(v) if v.len() > max => Err(ApiError::unprocessable(
            field,
            format!("at most {max} bytes"),
        )),
        v => Ok(v),
    }
}

fn time(field: &str, t: Option<DateTime<Utc>>) -> Result<Option<DateTime<Utc>>, ApiError> {
    match t {
        Some(t) if !(1970..=9999).contains(&t.year()) => Err(ApiError::unprocessable(
            field,
            "the year must be from 1970 to 9999",
        )),
        t => Ok(t),
    }
}

fn cron_name(field: &str, name: String) -> Result<CronName, ApiError> {
    CronName::new(name).map_err(|e| match e {
        cronmon_core::Error::InvalidName(m) => ApiError::unprocessable(field, m),
        other => ApiError::from(other),
    })
}

fn parse_enum<T: std::str::FromStr>(field: &str, value: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e: T::Err| {
        let message = e.to_string();
        let message = message
            .split_once(": ")
            .map_or(message.as_str(), |(_, m)| m)
            .to_owned();
        ApiError::bad_field(field, message)
    })
}

fn non_negative(field: &str, v: Option<i64>) -> Result<Option<i64>, ApiError> {
    match v {
        Some(v) if v < 0 => Err(ApiError::unprocessable(field, "cannot be negative")),
        v => Ok(v),
    }
}

/// Replaces NUL characters (which PostgreSQL's `jsonb` refuses) in an output, so a
/// completion is never lost for what its output holds.
fn scrub_output(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        Value::Array(items) => items.iter_mut().for_each(scrub_output),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                let old = std::mem::take(map);
                for (k, v) in old {
                    map.insert(k.replace('\0', "\u{FFFD}"), v);
                }
            }
            map.values_mut().for_each(scrub_output);
        }
        _ => {}
    }
}

impl StartRequest {
    fn into_start(self) -> Result<Start, ApiError> {
        Ok(Start {
            id: self.execution_id.unwrap_or_else(Uuid::now_v7),
            cron_name: cron_name("cronName", self.cron_name)?,
            trigger_type: match self.trigger_type.as_deref() {
                None => TriggerType::Scheduled,
                Some(t) => parse_enum::<TriggerType>("triggerType", t)?,
            },
            started_at: time("startedAt", self.started_at)?.unwrap_or_else(Utc::now),
            host: text("host", self.host, MAX_SHORT_TEXT)?,
            pid: self.pid,
            boot_id: text("bootId", self.boot_id, MAX_SHORT_TEXT)?,
            version: text("version", self.version, MAX_SHORT_TEXT)?,
            scheduled_for: time("scheduledFor", self.scheduled_for)?,
        })
    }
}

impl CompleteRequest {
    fn into_finish(self) -> Result<Finish, ApiError> {
        let status: Status = parse_enum("status", &self.status)?;
        if status == Status::Running {
            return Err(ApiError::bad_field(
                "status",
                "a finished run is `completed` or `failed`",
            ));
        }
        let reason = match (status, self.reason.as_deref()) {
            (Status::Completed, _) => None,
            (_, None) => Some(Reason::Error),
            (_, Some(r)) => Some(parse_enum::<Reason>("reason", r)?),
        };
        let completed_at = time("completedAt", self.completed_at)?.unwrap_or_else(Utc::now);
        let started_at = time("startedAt", self.started_at)?;
        let start = match (self.cron_name, started_at) {
            (Some(name), Some(started_at)) => Some(Start {
                id: self.execution_id,
                cron_name: cron_name("cronName", name)?,
                trigger_type: match self.trigger_type.as_deref() {
                    None => TriggerType::Scheduled,
                    Some(t) => parse_enum::<TriggerType>("triggerType", t)?,
                },
                started_at,
                host: text("host", self.host, MAX_SHORT_TEXT)?,
                pid: self.pid,
                boot_id: text("bootId", self.boot_id, MAX_SHORT_TEXT)?,
                version: text("version", self.version, MAX_SHORT_TEXT)?,
                scheduled_for: None,
            }),
            _ => None,
        };
        let mut duration_ms = non_negative("durationMs", self.duration_ms)?;
        if duration_ms.is_none()
            && let Some(s) = &start
        {
            duration_ms = Some((completed_at - s.started_at).num_milliseconds().max(0));
        }
        let mut output = self.output;
        if let Some(o) = &mut output {
            scrub_output(o);
        }
        let error_message = self.error_message.map(|m| m.replace('\0', "\u{FFFD}"));
        Ok(Finish {
            id: self.execution_id,
            status,
            reason,
            completed_at,
            duration_ms,
            output,
            error_message,
            exit_code: self.exit_code,
            cpu_ms: non_negative("cpuMs", self.cpu_ms)?,
            max_rss_kb: non_negative("maxRssKb", self.max_rss_kb)?,
            start,
        })
    }
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", "id: not a UUID").with_field("id")
    })
}

fn parse_number<T: std::str::FromStr>(field: &str, v: &str) -> Result<T, ApiError> {
    v.trim()
        .parse()
        .map_err(|_| ApiError::bad_query(field, "not a valid number in range"))
}

fn parse_bound(field: &str, v: &str, end_of_day: bool) -> Result<DateTime<Utc>, ApiError> {
    let v = v.trim();
    let t = if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        t.with_timezone(&Utc)
    } else if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        let d = if end_of_day {
            d.succ_opt().unwrap_or(d)
        } else {
            d
        };
        d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
    } else {
        return Err(ApiError::bad_query(
            field,
            "expected RFC 3339 (2026-02-13T21:47:17Z) or a date (2026-02-13)",
        ));
    };
    if !(1970..=9999).contains(&t.year()) {
        return Err(ApiError::bad_query(
            field,
            "the year must be from 1970 to 9999",
        ));
    }
    Ok(t)
}

impl FilterQuery {
    /// The filter these parameters name (empty means absent), or a 400 naming the bad one.
    pub(crate) fn into_filter(self) -> Result<ExecutionFilter, ApiError> {
        let status = match self.status.as_deref().map(str::trim) {
            None | Some("" | "all") => None,
            Some(s) => Some(s.parse::<Status>().map_err(|_| {
                ApiError::bad_query("status", "expected running, completed or failed")
            })?),
        };
        let bound = |field: &str, v: Option<&str>, end_of_day: bool| {
            v.filter(|v| !v.trim().is_empty())
                .map(|v| parse_bound(field, v, end_of_day))
                .transpose()
        };
        Ok(ExecutionFilter {
            cron_name: self.cron_name.filter(|n| !n.is_empty()),
            status,
            from: bound("from", self.from.as_deref(), false)?,
            to: bound("to", self.to.as_deref(), true)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// Records the start of a run.
#[utoipa::path(
    post, path = "/cron-executions/start", tag = "executions",
    request_body = StartRequest,
    responses(
        (status = 201, description = "Recorded", body = StartResponse),
        (status = 200, description = "Already recorded (same executionId): nothing changed", body = StartResponse),
        (status = 400, description = "Bad JSON or a field of the wrong type", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "A value cronmon does not accept (cron name, time)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub async fn start(
    State(api): State<Api>,
    JsonBody(body): JsonBody<StartRequest>,
) -> Result<(StatusCode, Json<StartResponse>), ApiError> {
    let start = body.into_start()?;
    let (id, name, started_at) = (start.id, start.cron_name.to_string(), start.started_at);
    match api.ingest().submit(Event::Start(start)).await? {
        Outcome::Recorded => Ok((
            StatusCode::CREATED,
            Json(StartResponse {
                success: true,
                execution_id: id,
                cron_name: name,
                started_at,
            }),
        )),
        Outcome::AlreadyRecorded => {
            // A repeat: answer what was stored the first time.
            let stored = api.store().execution(id).await?;
            let (cron_name, started_at) =
                stored.map_or((name, started_at), |e| (e.cron_name, e.started_at));
            Ok((
                StatusCode::OK,
                Json(StartResponse {
                    success: true,
                    execution_id: id,
                    cron_name,
                    started_at,
                }),
            ))
        }
    }
}

/// Records the end of a run.
#[utoipa::path(
    post, path = "/cron-executions/complete", tag = "executions",
    request_body = CompleteRequest,
    responses(
        (status = 200, description = "Recorded, or the same outcome was already recorded", body = CompleteResponse),
        (status = 400, description = "Bad JSON, a field of the wrong type, an unknown status", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 404, description = "Unknown executionId (and no cronName + startedAt to store the run whole)", body = ErrorBody),
        (status = 409, description = "The run already finished with another outcome", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "A value cronmon does not accept", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub async fn complete(
    State(api): State<Api>,
    JsonBody(body): JsonBody<CompleteRequest>,
) -> Result<Json<CompleteResponse>, ApiError> {
    let finish = body.into_finish()?;
    let (id, status) = (finish.id, finish.status);
    api.ingest().submit(Event::Finish(finish)).await?;
    Ok(Json(CompleteResponse {
        success: true,
        execution_id: id,
        status: status.to_string(),
    }))
}

/// Records a sign of life of a running run, optionally with its progress.
#[utoipa::path(
    post, path = "/cron-executions/{id}/heartbeat", tag = "executions",
    params(("id" = Uuid, Path, description = "The run")),
    request_body(content = HeartbeatRequest, description = "May be empty"),
    responses(
        (status = 200, description = "Recorded (running: true), or the run had finished (running: false)", body = HeartbeatResponse),
        (status = 400, description = "Bad id or body", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 404, description = "Unknown run", body = ErrorBody),
        (status = 422, description = "Negative progress", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub async fn heartbeat(
    State(api): State<Api>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    let id = parse_id(&id)?;
    let heartbeat = Heartbeat {
        id,
        at: Utc::now(),
        done: non_negative("done", body.done)?,
        total: non_negative("total", body.total)?,
    };
    let outcome = api.ingest().submit(Event::Heartbeat(heartbeat)).await?;
    Ok(Json(HeartbeatResponse {
        success: true,
        running: outcome == Outcome::Recorded,
    }))
}

/// Figures per cron, stuck runs and the 7-day timeline.
#[utoipa::path(
    get, path = "/cron-executions/stats", tag = "executions",
    params(StatsQuery),
    responses(
        (status = 200, description = "Figures", body = StatsResponse),
        (status = 400, description = "Bad hours", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub async fn stats(
    State(api): State<Api>,
    QueryParams(q): QueryParams<StatsQuery>,
) -> Result<Json<StatsResponse>, ApiError> {
    let hours = match q.hours.as_deref() {
        None | Some("") => 24,
        Some(h) => parse_number::<u32>("hours", h)?,
    };
    if !(1..=8784).contains(&hours) {
        return Err(ApiError::bad_query("hours", "hours is from 1 to 8784"));
    }
    let store = api.store();
    let (stats, stuck, timeline) =
        tokio::try_join!(store.stats(hours), store.stuck_runs(), store.timeline(7))?;
    Ok(Json(StatsResponse {
        success: true,
        stats,
        stuck_crons: stuck,
        timeline,
    }))
}

/// Runs, newest first, filtered and paged.
#[utoipa::path(
    get, path = "/cron-executions/list", tag = "executions",
    params(PageQuery, FilterQuery),
    responses(
        (status = 200, description = "A page of runs", body = ListResponse),
        (status = 400, description = "A bad parameter (named)", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub async fn list(
    State(api): State<Api>,
    QueryParams(q): QueryParams<PageQuery>,
    QueryParams(filter): QueryParams<FilterQuery>,
) -> Result<Json<ListResponse>, ApiError> {
    let page = match q.page.as_deref() {
        None | Some("") => 1,
        Some(p) => parse_number::<u32>("page", p)?,
    };
    if page == 0 {
        return Err(ApiError::bad_query("page", "pages start at 1"));
    }
    let limit = match q.limit.as_deref() {
        None | Some("") => PageRequest::DEFAULT_LIMIT,
        Some(l) => parse_number::<u64>("limit", l)?.min(u64::from(PageRequest::MAX_LIMIT)) as u32,
    };
    if limit == 0 {
        return Err(ApiError::bad_query("limit", "limit is from 1 to 200"));
    }
    let filter = filter.into_filter()?;
    let request = PageRequest::new(page, limit)?;
    let found = api.store().list_executions(&filter, request).await?;
    Ok(Json(ListResponse {
        success: true,
        pagination: Pagination {
            page: found.page,
            limit: found.limit,
            total: found.total,
            total_pages: found.total_pages,
        },
        executions: found.items,
    }))
}

/// One run.
#[utoipa::path(
    get, path = "/cron-executions/{id}", tag = "executions",
    params(("id" = Uuid, Path, description = "The run")),
    responses(
        (status = 200, description = "The run", body = ExecutionResponse),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 404, description = "Unknown run", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub async fn execution(
    State(api): State<Api>,
    PathParams(id): PathParams<String>,
) -> Result<Json<ExecutionResponse>, ApiError> {
    let id = parse_id(&id)?;
    match api.store().execution(id).await? {
        Some(execution) => Ok(Json(ExecutionResponse {
            success: true,
            execution,
        })),
        None => Err(ApiError::not_found(format!("unknown execution {id}"))),
    }
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
pub async fn schedules(State(api): State<Api>) -> Result<Json<SchedulesResponse>, ApiError> {
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
pub async fn put_schedule(
    State(api): State<Api>,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<ScheduleRequest>,
) -> Result<Json<ScheduleResponse>, ApiError> {
    let name = cron_name("name", name)?;
    if let Some(e) = &body.cron_expression {
        validate_expression(e)?;
    }
    if let Some(tz) = &body.timezone {
        validate_timezone(tz)?;
    }
    let positive = |field: &str, v: Option<i64>| match v {
        Some(v) if v <= 0 => Err(ApiError::unprocessable(field, "must be greater than 0")),
        _ => Ok(()),
    };
    positive("timeoutMs", body.timeout_ms)?;
    positive("heartbeatTimeoutMs", body.heartbeat_timeout_ms)?;
    positive("failureThreshold", body.failure_threshold.map(i64::from))?;
    positive("recoveryThreshold", body.recovery_threshold.map(i64::from))?;
    non_negative("graceMs", body.grace_ms)?;
    let update = ScheduleUpdate {
        display_name: text("displayName", body.display_name, 256)?,
        cron_expression: body.cron_expression.map(|e| e.trim().to_owned()),
        timezone: body.timezone.map(|t| t.trim().to_owned()),
        is_enabled: body.is_enabled,
        timeout_ms: body.timeout_ms,
        grace_ms: body.grace_ms,
        heartbeat_timeout_ms: body.heartbeat_timeout_ms,
        failure_threshold: body.failure_threshold,
        recovery_threshold: body.recovery_threshold,
    };
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

/// Batch kinds and their figures (empty until batch kinds are recorded).
#[utoipa::path(
    get, path = "/cron-executions/batches", tag = "executions",
    responses(
        (status = 200, description = "Batch kinds", body = BatchesResponse),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub async fn batches() -> Json<BatchesResponse> {
    Json(BatchesResponse {
        success: true,
        batches: BTreeMap::new(),
    })
}

/// Health probe: checks the database. Needs no secret.
#[utoipa::path(
    get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "The database answers", body = HealthResponse),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
pub async fn health(State(api): State<Api>) -> Result<Json<HealthResponse>, ApiError> {
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
pub async fn openapi() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::openapi::document_json(),
    )
        .into_response()
}

/// JSON 404 for paths the API does not have.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// JSON 405 for a known path with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take this method",
    )
}
