//! `POST /cron-executions/events`: many starts, completions and heartbeats in one request, each
//! answered on its own as its single endpoint would answer it. This is what the recorder sends
//! (one request per slice of events instead of one per event), so a spool of hundreds of runs
//! replays in a few round trips even over a slow link.
//!
//! Every item is as idempotent as its single endpoint: a retried batch stores nothing twice.
//! A malformed item is answered 400 on its own; the other items are still recorded.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cronmon_core::{Event, Outcome};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::batch_runs::BatchRunItem;
use super::executions::{CompleteRequest, HeartbeatRequest, StartRequest};
use crate::Api;
use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::extract::{JsonBody, parse_value};

/// Most events one request carries.
pub const MAX_EVENTS: usize = 1000;

/// One item of `POST /cron-executions/events`, told apart by `kind`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum EventRequest {
    /// A run started: the fields of `POST /cron-executions/start`.
    Start(StartRequest),
    /// A run ended: the fields of `POST /cron-executions/complete`.
    Complete(CompleteRequest),
    /// A run is alive: the fields of a heartbeat, with the run's id.
    Heartbeat(HeartbeatItem),
    /// A batch run's report: its whole state so far.
    Batch(BatchRunItem),
}

/// A heartbeat in a batch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HeartbeatItem {
    /// The run.
    pub execution_id: Uuid,
    /// Items done so far.
    pub done: Option<i64>,
    /// Items in all.
    pub total: Option<i64>,
}

/// Answer of `POST /cron-executions/events`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventsResponse {
    /// Always true: the request was read; each item says how it went.
    pub success: bool,
    /// One per item, in the order sent.
    pub results: Vec<EventAnswer>,
}

/// How one item went.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventAnswer {
    /// The status its single endpoint would answer: 201 (start recorded), 200 (recorded, or
    /// already recorded), 400 (malformed item), 404 (unknown run), 409 (the run ended with
    /// another outcome), 422 (a value cronmon does not accept), 503 (retry later).
    pub status: u16,
    /// The run, when the item named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<Uuid>,
    /// `recorded` or `already_recorded` (for a heartbeat: the run had already finished) when
    /// the item succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Why the item failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

impl EventAnswer {
    fn failed(execution_id: Option<Uuid>, e: ApiError) -> Self {
        Self {
            status: e.status.as_u16(),
            execution_id,
            outcome: None,
            error: Some(ErrorDetail {
                code: e.code.to_owned(),
                message: e.message,
                field: e.field,
            }),
        }
    }
}

/// The item as an event, or why not.
fn parse_item(item: serde_json::Value) -> Result<Event, ApiError> {
    if !item.is_object() {
        // serde would read a struct from an array too; the document says an object.
        return Err(ApiError::bad_field("body", "each event is a JSON object"));
    }
    Ok(match parse_value::<EventRequest>(item)? {
        EventRequest::Start(s) => Event::Start(s.into_start()?),
        EventRequest::Complete(c) => Event::Finish(c.into_finish()?),
        EventRequest::Heartbeat(h) => Event::Heartbeat(
            HeartbeatRequest {
                done: h.done,
                total: h.total,
            }
            .into_heartbeat(h.execution_id)?,
        ),
        EventRequest::Batch(b) => Event::Batch(b.into_event()?),
    })
}

/// Records many starts, completions and heartbeats at once.
#[utoipa::path(
    post, path = "/cron-executions/events", tag = "executions",
    request_body(content = Vec<EventRequest>, description = "1 to 1000 events, in order: a run's start before its end"),
    responses(
        (status = 200, description = "Read; each item answered in `results`", body = EventsResponse),
        (status = 400, description = "Not a JSON array", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "No events, or more than 1000", body = ErrorBody),
    ),
    security(("secret" = []), ("bearer" = []))
)]
pub(crate) async fn events(
    State(api): State<Api>,
    JsonBody(items): JsonBody<Vec<serde_json::Value>>,
) -> Result<Json<EventsResponse>, ApiError> {
    if items.is_empty() || items.len() > MAX_EVENTS {
        return Err(ApiError::unprocessable(
            "body",
            format!("from 1 to {MAX_EVENTS} events a request"),
        ));
    }
    let mut results: Vec<Option<EventAnswer>> = Vec::with_capacity(items.len());
    let mut events = Vec::with_capacity(items.len());
    for item in items {
        // Echoed back even when the rest of the item is malformed.
        let named_id = item
            .get("executionId")
            .or_else(|| item.get("batchRunId"))
            .and_then(|v| v.as_str())
            .and_then(|s| Uuid::parse_str(s).ok());
        match parse_item(item) {
            Ok(event) => {
                results.push(None);
                events.push(event);
            }
            Err(e) => results.push(Some(EventAnswer::failed(named_id, e))),
        }
    }
    let kinds: Vec<_> = events
        .iter()
        .map(|e| (e.execution_id(), matches!(e, Event::Start(_))))
        .collect();
    let mut written = api
        .ingest()
        .submit_many(events)
        .await
        .into_iter()
        .zip(kinds);
    let results = results
        .into_iter()
        .map(|answer| match answer {
            Some(answer) => answer,
            None => match written.next() {
                Some((Ok(outcome), (id, is_start))) => EventAnswer {
                    status: match (outcome, is_start) {
                        (Outcome::Recorded, true) => StatusCode::CREATED,
                        _ => StatusCode::OK,
                    }
                    .as_u16(),
                    execution_id: Some(id),
                    outcome: Some(
                        match outcome {
                            Outcome::Recorded => "recorded",
                            Outcome::AlreadyRecorded => "already_recorded",
                        }
                        .to_owned(),
                    ),
                    error: None,
                },
                Some((Err(e), (id, _))) => EventAnswer::failed(Some(id), e),
                None => EventAnswer::failed(None, ApiError::internal()),
            },
        })
        .collect();
    Ok(Json(EventsResponse {
        success: true,
        results,
    }))
}
