//! Runs: `POST /cron-executions/start`, `POST /cron-executions/complete`,
//! `POST /cron-executions/{id}/heartbeat`, `GET /cron-executions/{id}` and
//! `GET /cron-executions/list`. Bodies come in camelCase; runs go out as stored (snake_case).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use cronmon_core::rules;
use cronmon_core::{
    Event, Execution, Finish, Heartbeat, Outcome, Reason, Start, Status, TriggerType,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::Api;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::params::{FilterQuery, PageQuery, parse_id};
use crate::validate::{cron_name, parse_enum, refused};

/// Body of `POST /cron-executions/start`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartRequest {
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
pub(crate) struct StartResponse {
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
pub(crate) struct CompleteRequest {
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
    /// True when `output` is already the cut of a larger output (the recorder cuts before it
    /// sends): stored marked truncated.
    pub output_truncated: Option<bool>,
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
pub(crate) struct CompleteResponse {
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
pub(crate) struct HeartbeatRequest {
    /// Items done so far.
    pub done: Option<i64>,
    /// Items in all.
    pub total: Option<i64>,
}

/// Answer of a heartbeat.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct HeartbeatResponse {
    /// Always true.
    pub success: bool,
    /// Whether the run is still running (false: it had already finished; nothing changed).
    pub running: bool,
}

/// Page figures of a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Pagination {
    /// This page.
    pub page: u32,
    /// Rows a page.
    pub limit: u32,
    /// Rows in all pages.
    pub total: i64,
    /// Number of pages.
    pub total_pages: i64,
}

impl Pagination {
    /// The figures of `page`, without its rows.
    pub(crate) fn of<T>(page: &cronmon_core::Page<T>) -> Self {
        Self {
            page: page.page,
            limit: page.limit,
            total: page.total,
            total_pages: page.total_pages,
        }
    }
}

/// Answer of `GET /cron-executions/list`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ListResponse {
    /// Always true.
    pub success: bool,
    /// Newest first.
    pub executions: Vec<Execution>,
    /// Page figures.
    pub pagination: Pagination,
}

/// Answer of `GET /cron-executions/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExecutionResponse {
    /// Always true.
    pub success: bool,
    /// The run.
    pub execution: Execution,
}

impl HeartbeatRequest {
    /// A sign of life of run `id`, timed by the server's clock. Its bounds are checked once,
    /// by the store that writes it ([`Heartbeat::validate`]): a 422 naming the field.
    pub(crate) fn into_heartbeat(self, id: Uuid) -> Result<Heartbeat, ApiError> {
        Ok(Heartbeat {
            id,
            at: Utc::now(),
            done: self.done,
            total: self.total,
        })
    }
}

impl StartRequest {
    /// The start the request describes. Its bounds are checked once, by the store that writes
    /// it ([`Start::validate`]): a 422 naming the field.
    pub(crate) fn into_start(self) -> Result<Start, ApiError> {
        Ok(Start {
            id: self.execution_id.unwrap_or_else(Uuid::now_v7),
            cron_name: cron_name("cronName", self.cron_name)?,
            trigger_type: match self.trigger_type.as_deref() {
                None => TriggerType::Scheduled,
                Some(t) => parse_enum::<TriggerType>("triggerType", t)?,
            },
            started_at: self.started_at.unwrap_or_else(Utc::now),
            host: self.host,
            pid: self.pid,
            boot_id: self.boot_id,
            version: self.version,
            scheduled_for: self.scheduled_for,
        })
    }
}

impl CompleteRequest {
    /// The finish the request describes, its texts made storable ([`Finish::sanitize`]: NULs
    /// replaced, output and error cut at 64 KiB). Its bounds are checked once, by the store
    /// that writes it ([`Finish::validate`]): a 422 naming the field.
    pub(crate) fn into_finish(self) -> Result<Finish, ApiError> {
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
        let completed_at = self.completed_at.unwrap_or_else(Utc::now);
        let start = match (self.cron_name, self.started_at) {
            (Some(name), Some(started_at)) => Some(Start {
                id: self.execution_id,
                cron_name: cron_name("cronName", name)?,
                trigger_type: match self.trigger_type.as_deref() {
                    None => TriggerType::Scheduled,
                    Some(t) => parse_enum::<TriggerType>("triggerType", t)?,
                },
                started_at,
                host: self.host,
                pid: self.pid,
                boot_id: self.boot_id,
                version: self.version,
                scheduled_for: None,
            }),
            _ => None,
        };
        let mut duration_ms = self.duration_ms;
        if duration_ms.is_none()
            && let Some(s) = &start
        {
            duration_ms = Some((completed_at - s.started_at).num_milliseconds().max(0));
        }
        let mut finish = Finish {
            id: self.execution_id,
            status,
            reason,
            completed_at,
            duration_ms,
            output: self.output,
            output_truncated: self.output_truncated.unwrap_or(false),
            error_message: self.error_message,
            exit_code: self.exit_code,
            cpu_ms: self.cpu_ms,
            max_rss_kb: self.max_rss_kb,
            start,
        };
        finish.sanitize();
        Ok(finish)
    }
}

impl CompleteRequest {
    /// Checks the fields the conversion reads only in some cases (a reason with `completed`;
    /// the start's fields without both `cronName` and `startedAt`): a value the document
    /// forbids is refused wherever it is sent, never silently ignored.
    fn check_fields_read_sometimes(&self) -> Result<(), ApiError> {
        if let Some(r) = &self.reason {
            parse_enum::<Reason>("reason", r)?;
        }
        if let Some(t) = &self.trigger_type {
            parse_enum::<TriggerType>("triggerType", t)?;
        }
        if let Some(name) = &self.cron_name {
            rules::cron_name(name).map_err(refused)?;
        }
        for (field, text) in [
            ("host", &self.host),
            ("bootId", &self.boot_id),
            ("version", &self.version),
        ] {
            if let Some(text) = text {
                rules::short_text(field, text).map_err(refused)?;
            }
        }
        Ok(())
    }
}

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
pub(crate) async fn start(
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
pub(crate) async fn complete(
    State(api): State<Api>,
    JsonBody(body): JsonBody<CompleteRequest>,
) -> Result<Json<CompleteResponse>, ApiError> {
    body.check_fields_read_sometimes()?;
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
    request_body(content = HeartbeatRequest, description = "Optional: no body (or an empty one) is a heartbeat without progress"),
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
pub(crate) async fn heartbeat(
    State(api): State<Api>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    let heartbeat = body.into_heartbeat(parse_id(&id)?)?;
    let outcome = api.ingest().submit(Event::Heartbeat(heartbeat)).await?;
    Ok(Json(HeartbeatResponse {
        success: true,
        running: outcome == Outcome::Recorded,
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
pub(crate) async fn list(
    State(api): State<Api>,
    QueryParams(q): QueryParams<PageQuery>,
    QueryParams(filter): QueryParams<FilterQuery>,
) -> Result<Json<ListResponse>, ApiError> {
    let request = q.into_request()?;
    let filter = filter.into_filter()?;
    let found = api.reader().list_executions(&filter, request).await?;
    Ok(Json(ListResponse {
        success: true,
        pagination: Pagination::of(&found),
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
pub(crate) async fn execution(
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
