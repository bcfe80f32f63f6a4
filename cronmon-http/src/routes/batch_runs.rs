//! Batch runs over HTTP, for jobs in other languages and shell: `POST /batch-runs/start`,
//! `POST /batch-runs/{id}/advance`, `POST /batch-runs/{id}/complete`, the history
//! (`GET /batch-runs`, keyset paged; `GET /batch-runs/export.csv`) and one run
//! (`GET /batch-runs/{id}`); and the `batch` item of `POST /cron-executions/events`, which is
//! what a recorder sends.
//!
//! Every write is a [`BatchEvent`] carrying the run's whole state so far (counts since the
//! start, not increments), sent through the group commit like the runs of crons: a request
//! sent twice stores nothing twice, and reports that arrive out of order never lower a count.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use cronmon_core::batch::{BatchEvent, BatchRunFilter, BatchRunRecord};
use cronmon_core::{Event, Outcome, PageRequest, Status};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::export::{CHUNK, CsvOut, Field, Key, Pages, csv_response};
use crate::Api;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PathParams, QueryParams};
use crate::params::{optional_bound, parse_id, parse_number, status_filter};
use crate::validate::parse_enum;

/// A batch run's whole state so far, as the recorder reports it: counts since the start (not
/// increments), so a report sent twice stores nothing twice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchRunItem {
    /// The batch run (a UUIDv7 made by the client).
    pub batch_run_id: Uuid,
    /// The batch kind: 1 to 64 of letters, digits, `-`, `_`, `.`.
    #[schema(example = "kbIndexation")]
    pub batch_kind: String,
    /// `running` (a start or progress), `completed` or `failed` (the end).
    #[schema(example = "running")]
    pub status: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When this report was made; now when absent.
    pub at: Option<DateTime<Utc>>,
    /// Items in all, when known.
    pub total: Option<i64>,
    /// Items done so far.
    #[serde(default)]
    pub done: i64,
    /// Items failed so far.
    #[serde(default)]
    pub failed: i64,
    /// Host name of the job.
    pub host: Option<String>,
    /// Why the run failed.
    pub error_message: Option<String>,
}

impl BatchRunItem {
    /// The report as an event, its texts made storable. Its bounds are checked once, by the
    /// store that writes it ([`BatchEvent::validate`]): a 422 naming the field.
    pub(crate) fn into_event(self) -> Result<BatchEvent, ApiError> {
        let mut event = BatchEvent {
            id: self.batch_run_id,
            batch_kind: self.batch_kind,
            status: parse_enum::<Status>("status", &self.status)?,
            started_at: self.started_at,
            at: self.at.unwrap_or_else(Utc::now),
            total: self.total,
            done: self.done,
            failed: self.failed,
            host: self.host,
            error_message: self.error_message,
        };
        event.sanitize();
        Ok(event)
    }
}

/// Body of `POST /batch-runs/start`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartBatchRequest {
    /// The batch kind: 1 to 64 of letters, digits, `-`, `_`, `.`; a new one appears with its
    /// first run.
    #[schema(example = "kbIndexation")]
    pub batch_kind: String,
    /// Client-made id (UUIDv7 advised) so a retried start is idempotent; made by the server
    /// when absent.
    pub batch_run_id: Option<Uuid>,
    /// Items in all, when known.
    pub total: Option<i64>,
    /// RFC 3339 with offset; now when absent.
    pub started_at: Option<DateTime<Utc>>,
    /// Host name of the job.
    pub host: Option<String>,
}

/// Answer of `POST /batch-runs/start`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartBatchResponse {
    /// Always true.
    pub success: bool,
    /// The run's id: send it with its progress and its end.
    pub batch_run_id: Uuid,
    /// The kind.
    pub batch_kind: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
}

/// Body of `POST /batch-runs/{id}/advance`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AdvanceBatchRequest {
    /// Items done so far, since the start (not since the last report): a retried request
    /// changes nothing, and an older report arriving late never lowers the count.
    pub done: i64,
    /// Items failed so far, since the start (default 0: the stored count stays).
    pub failed: Option<i64>,
    /// Items in all, when known (absent: the stored total stays).
    pub total: Option<i64>,
    /// The run's kind. Without it the run is looked up (404 if unknown); with it, a run whose
    /// start was lost is stored from this report.
    pub batch_kind: Option<String>,
    /// With `batchKind`, when the run started (now when absent; the earliest time heard of
    /// is kept).
    pub started_at: Option<DateTime<Utc>>,
}

/// Body of `POST /batch-runs/{id}/complete` (may be empty: completed, counts as reported).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CompleteBatchRequest {
    /// `completed` (default) or `failed`.
    #[schema(example = "completed")]
    pub status: Option<String>,
    /// Items done in all (absent: the last count reported stays).
    pub done: Option<i64>,
    /// Items failed in all (absent: the last count reported stays).
    pub failed: Option<i64>,
    /// Items in all.
    pub total: Option<i64>,
    /// Why it failed (over 64 KiB: truncated).
    pub error_message: Option<String>,
    /// The run's kind. Without it the run is looked up (404 if unknown); with it, a run whose
    /// start was lost is stored whole from this report.
    pub batch_kind: Option<String>,
    /// With `batchKind`, when the run started (now when absent).
    pub started_at: Option<DateTime<Utc>>,
}

/// Answer of an advance.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AdvanceBatchResponse {
    /// Always true.
    pub success: bool,
    /// The run.
    pub batch_run_id: Uuid,
    /// `recorded`, or `already_recorded`: the run had already ended, and its end stands.
    #[schema(example = "recorded")]
    pub outcome: &'static str,
}

/// Answer of a completion.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CompleteBatchResponse {
    /// Always true.
    pub success: bool,
    /// The run.
    pub batch_run_id: Uuid,
    /// The outcome recorded: `completed` or `failed`.
    pub status: Status,
    /// `recorded`, or `already_recorded` (the same end was stored before).
    #[schema(example = "recorded")]
    pub outcome: &'static str,
}

/// Query of `GET /batch-runs` and `GET /batch-runs/export.csv`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BatchRunsQuery {
    /// Only this kind (empty: any).
    pub kind: Option<String>,
    /// `running`, `completed` or `failed` (`all` or empty: any).
    pub status: Option<String>,
    /// Started at or after: RFC 3339, or a date (`2026-02-13`, start of that day UTC).
    pub from: Option<String>,
    /// Started before: RFC 3339, or a date (inclusive: up to the end of that day UTC).
    pub to: Option<String>,
}

/// Paging of `GET /batch-runs`: newest first, by keyset.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BatchPageQuery {
    /// Rows a page, 1 to 200 (default 50); more is a 400.
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// The `nextBefore` of the previous page (an opaque cursor): the runs after it, in the
    /// list's order. Absent or empty: the newest.
    pub before: Option<String>,
}

/// Answer of `GET /batch-runs`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchRunsResponse {
    /// Always true.
    pub success: bool,
    /// Newest first (by start, then id).
    pub batch_runs: Vec<BatchRunRecord>,
    /// The cursor of the next page (`before=`), when there may be more; null at the end.
    pub next_before: Option<String>,
}

/// Answer of `GET /batch-runs/{id}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchRunResponse {
    /// Always true.
    pub success: bool,
    /// The run.
    pub batch_run: BatchRunRecord,
}

impl BatchRunsQuery {
    /// The filter these parameters name (empty means absent), or a 400 naming the bad one.
    fn into_filter(self) -> Result<BatchRunFilter, ApiError> {
        let kind = match self.kind.filter(|k| !k.is_empty()) {
            None => None,
            Some(kind) => {
                cronmon_core::batch::batch_kind(&kind).map_err(|e| match e {
                    cronmon_core::Error::InvalidField { message, .. } => {
                        ApiError::bad_query("kind", message)
                    }
                    other => ApiError::from(other),
                })?;
                Some(kind)
            }
        };
        Ok(BatchRunFilter {
            kind,
            status: status_filter(self.status.as_deref())?,
            from: optional_bound("from", self.from.as_deref(), false)?,
            to: optional_bound("to", self.to.as_deref(), true)?,
        })
    }
}

impl BatchPageQuery {
    /// The limit and the cursor, or a 400 naming the bad one.
    fn parse(self) -> Result<(u32, Option<Key>), ApiError> {
        let limit = match self.limit.as_deref() {
            None => PageRequest::DEFAULT_LIMIT,
            Some(l) => parse_number::<u32>("limit", l)?,
        };
        PageRequest::new(1, limit).map_err(|e| match e {
            cronmon_core::Error::InvalidField { field, message } => {
                ApiError::bad_query(field, message)
            }
            other => other.into(),
        })?;
        let before = match self.before.as_deref().filter(|b| !b.is_empty()) {
            None => None,
            Some(b) => Some(
                cursor::decode(b)
                    .ok_or_else(|| ApiError::bad_query("before", "not a cursor this API gave"))?,
            ),
        };
        Ok((limit, before))
    }
}

/// The keyset cursor of `GET /batch-runs`: a run's start and id, written
/// `<seconds>.<nanoseconds>.<id in hex>`. Clients treat it as opaque; it is read back exactly,
/// so a page starts right after the last row of the one before, whatever the precision of the
/// stored times.
pub(crate) mod cursor {
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    use super::Key;

    /// Most digits of the seconds: 11 reach the year 5138, within the years a run is stored
    /// with, so every text of the documented pattern is a valid cursor.
    pub(crate) const SECONDS_DIGITS_MAX: usize = 11;

    /// The pattern the document gives (empty: no cursor).
    pub(crate) fn pattern() -> String {
        format!(r"^([0-9]{{1,{SECONDS_DIGITS_MAX}}}\.[0-9]{{9}}\.[0-9a-f]{{32}})?$")
    }

    /// The cursor after `key`.
    pub(crate) fn encode((at, id): Key) -> String {
        format!(
            "{}.{:09}.{}",
            at.timestamp(),
            at.timestamp_subsec_nanos(),
            id.simple()
        )
    }

    /// The key a cursor stands for; `None` for anything [`encode`] does not write.
    pub(crate) fn decode(text: &str) -> Option<Key> {
        let mut parts = text.split('.');
        let (secs, nanos, id) = (parts.next()?, parts.next()?, parts.next()?);
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let ok = parts.next().is_none()
            && (1..=SECONDS_DIGITS_MAX).contains(&secs.len())
            && digits(secs)
            && nanos.len() == 9
            && digits(nanos)
            && id.len() == 32
            && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !ok {
            return None;
        }
        let at = DateTime::<Utc>::from_timestamp(secs.parse().ok()?, nanos.parse().ok()?)?;
        Some((at, Uuid::parse_str(id).ok()?))
    }
}

fn outcome_text(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Recorded => "recorded",
        Outcome::AlreadyRecorded => "already_recorded",
    }
}

/// The kind and start of run `id`: as sent (`batchKind`, `startedAt` or now), or as stored
/// when the kind is not sent (404 if unknown).
async fn kind_and_start(
    api: &Api,
    id: Uuid,
    kind: Option<String>,
    started_at: Option<DateTime<Utc>>,
) -> Result<(String, DateTime<Utc>), ApiError> {
    if let Some(kind) = kind {
        return Ok((kind, started_at.unwrap_or_else(Utc::now)));
    }
    match api.store().batch_run(id).await? {
        Some(run) => Ok((run.kind, run.started_at)),
        None => Err(ApiError::not_found(format!(
            "unknown batch run {id} (send batchKind to store a run whose start was lost)"
        ))),
    }
}

/// Records the start of a batch run.
#[utoipa::path(
    post, path = "/batch-runs/start", tag = "batches",
    request_body = StartBatchRequest,
    responses(
        (status = 201, description = "Recorded", body = StartBatchResponse),
        (status = 200, description = "Already recorded (same batchRunId): nothing changed", body = StartBatchResponse),
        (status = 400, description = "Bad JSON or a field of the wrong type", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "A value cronmon does not accept (kind, count, time), or a batchRunId of another kind", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn start(
    State(api): State<Api>,
    JsonBody(body): JsonBody<StartBatchRequest>,
) -> Result<(StatusCode, Json<StartBatchResponse>), ApiError> {
    let now = Utc::now();
    // A repeat of a start (same batchRunId) is a report like any other for the store, which
    // merges it; it is answered 200 with the run as stored, as a repeated cron start is.
    let stored = match body.batch_run_id {
        Some(id) => api.store().batch_run(id).await?,
        None => None,
    };
    let mut event = BatchEvent {
        id: body.batch_run_id.unwrap_or_else(Uuid::now_v7),
        batch_kind: body.batch_kind,
        status: Status::Running,
        // Microseconds, as PostgreSQL stores them: the answer is the start as stored.
        started_at: body.started_at.unwrap_or(now).trunc_subsecs(6),
        at: now,
        total: body.total,
        done: 0,
        failed: 0,
        host: body.host,
        error_message: None,
    };
    event.sanitize();
    let (id, kind, mut started_at) = (event.id, event.batch_kind.clone(), event.started_at);
    let outcome = api.ingest().submit(Event::Batch(event)).await?;
    let status = match (outcome, &stored) {
        (Outcome::Recorded, None) => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    // The store keeps the earliest start heard of.
    if let Some(run) = stored {
        started_at = started_at.min(run.started_at);
    }
    Ok((
        status,
        Json(StartBatchResponse {
            success: true,
            batch_run_id: id,
            batch_kind: kind,
            started_at,
        }),
    ))
}

/// Records the progress of a running batch run: its counts so far.
#[utoipa::path(
    post, path = "/batch-runs/{id}/advance", tag = "batches",
    params(("id" = Uuid, Path, description = "The batch run")),
    request_body = AdvanceBatchRequest,
    responses(
        (status = 200, description = "Recorded, or the run had already ended (outcome already_recorded; nothing changed)", body = AdvanceBatchResponse),
        (status = 400, description = "Bad id, bad JSON, a field of the wrong type", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 404, description = "Unknown run (and no batchKind to store it)", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "A count or time cronmon does not accept, or the run is of another kind", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn advance(
    State(api): State<Api>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<AdvanceBatchRequest>,
) -> Result<Json<AdvanceBatchResponse>, ApiError> {
    let id = parse_id(&id)?;
    let (kind, started_at) = kind_and_start(&api, id, body.batch_kind, body.started_at).await?;
    let event = BatchEvent {
        id,
        batch_kind: kind,
        status: Status::Running,
        started_at,
        at: Utc::now(),
        total: body.total,
        done: body.done,
        failed: body.failed.unwrap_or(0),
        host: None,
        error_message: None,
    };
    let outcome = api.ingest().submit(Event::Batch(event)).await?;
    Ok(Json(AdvanceBatchResponse {
        success: true,
        batch_run_id: id,
        outcome: outcome_text(outcome),
    }))
}

/// Records the end of a batch run.
#[utoipa::path(
    post, path = "/batch-runs/{id}/complete", tag = "batches",
    params(("id" = Uuid, Path, description = "The batch run")),
    request_body(content = CompleteBatchRequest, description = "Optional: no body (or an empty one) completes the run with the counts last reported"),
    responses(
        (status = 200, description = "Recorded, or the same end was already recorded", body = CompleteBatchResponse),
        (status = 400, description = "Bad id, bad JSON, a field of the wrong type, an unknown status", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 404, description = "Unknown run (and no batchKind to store it)", body = ErrorBody),
        (status = 409, description = "The run already ended with the other status", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "A count or time cronmon does not accept, or the run is of another kind", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn complete(
    State(api): State<Api>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<CompleteBatchRequest>,
) -> Result<Json<CompleteBatchResponse>, ApiError> {
    let id = parse_id(&id)?;
    let status = match body.status.as_deref() {
        None => Status::Completed,
        Some(s) => parse_enum::<Status>("status", s)?,
    };
    if status == Status::Running {
        return Err(ApiError::bad_field(
            "status",
            "an ended batch run is `completed` or `failed`",
        ));
    }
    let (kind, started_at) = kind_and_start(&api, id, body.batch_kind, body.started_at).await?;
    let now = Utc::now();
    let mut event = BatchEvent {
        id,
        batch_kind: kind,
        status,
        // A start sent later than the end (a client's clock) would make a negative duration.
        started_at: started_at.min(now),
        at: now,
        total: body.total,
        done: body.done.unwrap_or(0),
        failed: body.failed.unwrap_or(0),
        host: None,
        error_message: body.error_message,
    };
    event.sanitize();
    let outcome = api.ingest().submit(Event::Batch(event)).await?;
    Ok(Json(CompleteBatchResponse {
        success: true,
        batch_run_id: id,
        status,
        outcome: outcome_text(outcome),
    }))
}

/// Batch runs, newest first, filtered, a page at a time after a cursor.
#[utoipa::path(
    get, path = "/batch-runs", tag = "batches",
    params(BatchRunsQuery, BatchPageQuery),
    responses(
        (status = 200, description = "A page of batch runs, and the cursor of the next one", body = BatchRunsResponse),
        (status = 400, description = "A bad parameter (named)", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn list(
    State(api): State<Api>,
    QueryParams(filter): QueryParams<BatchRunsQuery>,
    QueryParams(page): QueryParams<BatchPageQuery>,
) -> Result<Json<BatchRunsResponse>, ApiError> {
    let filter = filter.into_filter()?;
    let (limit, before) = page.parse()?;
    let runs = api.reader().batch_runs(&filter, before, limit).await?;
    // A full page may have a next one; a short page is the last.
    let next_before = (runs.len() == limit as usize)
        .then(|| runs.last().map(|r| cursor::encode((r.started_at, r.id))))
        .flatten();
    Ok(Json(BatchRunsResponse {
        success: true,
        batch_runs: runs,
        next_before,
    }))
}

/// One batch run.
#[utoipa::path(
    get, path = "/batch-runs/{id}", tag = "batches",
    params(("id" = Uuid, Path, description = "The batch run")),
    responses(
        (status = 200, description = "The batch run", body = BatchRunResponse),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 404, description = "Unknown batch run", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn run(
    State(api): State<Api>,
    PathParams(id): PathParams<String>,
) -> Result<Json<BatchRunResponse>, ApiError> {
    let id = parse_id(&id)?;
    match api.store().batch_run(id).await? {
        Some(batch_run) => Ok(Json(BatchRunResponse {
            success: true,
            batch_run,
        })),
        None => Err(ApiError::not_found(format!("unknown batch run {id}"))),
    }
}

/// The CSV columns of batch runs, in order.
pub(crate) const CSV_COLUMNS: [&str; 12] = [
    "id",
    "kind",
    "status",
    "total",
    "done",
    "failed",
    "started_at",
    "completed_at",
    "duration_ms",
    "last_progress_at",
    "host",
    "error_message",
];

/// Every matching batch run as CSV, newest first.
#[utoipa::path(
    get, path = "/batch-runs/export.csv", tag = "batches",
    params(BatchRunsQuery),
    responses(
        (status = 200, description = "RFC 4180 CSV with a header row; columns id, kind, status, \
            total, done, failed, started_at, completed_at, duration_ms, last_progress_at, host, \
            error_message. Text fields starting with =, +, -, @, tab or CR get a leading ' \
            (spreadsheet formula guard). Every matching run, read from the store a page at a \
            time.",
            content_type = "text/csv; charset=utf-8", body = String),
        (status = 400, description = "A bad parameter (named)", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn export_csv(
    State(api): State<Api>,
    QueryParams(filter): QueryParams<BatchRunsQuery>,
) -> Result<Response, ApiError> {
    let filter = filter.into_filter()?;
    let store = api.reader();
    // The first page is read before answering, so a failing database is a 503, not a cut body.
    let first = store.batch_runs(&filter, None, CHUNK).await?;
    let pages = Pages {
        next: Box::new(move |after| {
            let (store, filter) = (store.clone(), filter.clone());
            Box::pin(async move { store.batch_runs(&filter, after, CHUNK).await })
        }),
        key: |r: &BatchRunRecord| (r.started_at, r.id),
        write: write_batch_run,
        after: None,
        pending: Some(first),
        sent: 0,
        max: usize::MAX,
        done: false,
    };
    Ok(csv_response("batch-runs.csv", &CSV_COLUMNS, pages))
}

fn write_batch_run(out: &mut CsvOut, r: &BatchRunRecord) -> std::io::Result<()> {
    let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let num = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let id = r.id.to_string();
    let total = num(r.total);
    let done = r.done.to_string();
    let failed = r.failed.to_string();
    let started = time(&r.started_at);
    let completed = r.completed_at.as_ref().map(time).unwrap_or_default();
    let duration = num(r.duration_ms);
    let progress = r.last_progress_at.as_ref().map(time).unwrap_or_default();
    out.row([
        Field::Plain(&id),
        Field::Text(&r.kind),
        Field::Plain(r.status.as_str()),
        Field::Plain(&total),
        Field::Plain(&done),
        Field::Plain(&failed),
        Field::Plain(&started),
        Field::Plain(&completed),
        Field::Plain(&duration),
        Field::Plain(&progress),
        Field::Text(r.host.as_deref().unwrap_or_default()),
        Field::Text(r.error_message.as_deref().unwrap_or_default()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_exactly() {
        let at = DateTime::<Utc>::from_timestamp(1_771_015_637, 884_123_456).unwrap();
        let id = Uuid::now_v7();
        let text = cursor::encode((at, id));
        assert_eq!(cursor::decode(&text), Some((at, id)));
        let re_ok = |t: &str| cursor::decode(t).is_some();
        assert!(re_ok("0.000000000.0195f1d2000070008000000000000000"));
        assert!(re_ok(
            "99999999999.999999999.0195f1d2000070008000000000000000"
        ));
        for bad in [
            "",
            "x",
            "+1.000000000.0195f1d2000070008000000000000000",
            "1.00000000.0195f1d2000070008000000000000000",
            "1.000000000.0195F1D2000070008000000000000000",
            "1.000000000.0195f1d2-0000-7000-8000-000000000000",
            "999999999999.000000000.0195f1d2000070008000000000000000",
            "1.000000000.0195f1d2000070008000000000000000.1",
        ] {
            assert!(!re_ok(bad), "{bad}");
        }
    }
}
