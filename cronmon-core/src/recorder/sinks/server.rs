//! Reporting to a cronmon server over HTTP, with the secret in `X-Cron-Secret`: events go in
//! slices to `POST …/cron-executions/events` (one request for up to [`MAX_EVENTS`] events,
//! each answered on its own), schedules to `PUT …/cron-schedules/{name}`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{EventResult, SinkError};
use crate::batch::BatchEvent;
use crate::model::{CronName, Event, Finish, Heartbeat, ScheduleUpdate, Start};

/// An HTTP client made on (and only used from) the recorder thread's runtime.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    secret: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StartBody<'a> {
    cron_name: &'a str,
    trigger_type: &'a str,
    execution_id: Uuid,
    started_at: DateTime<Utc>,
    host: Option<&'a str>,
    pid: Option<i32>,
    boot_id: Option<&'a str>,
    version: Option<&'a str>,
    scheduled_for: Option<DateTime<Utc>>,
}

impl<'a> From<&'a Start> for StartBody<'a> {
    fn from(s: &'a Start) -> Self {
        Self {
            cron_name: s.cron_name.as_str(),
            trigger_type: s.trigger_type.as_str(),
            execution_id: s.id,
            started_at: s.started_at,
            host: s.host.as_deref(),
            pid: s.pid,
            boot_id: s.boot_id.as_deref(),
            version: s.version.as_deref(),
            scheduled_for: s.scheduled_for,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CompleteBody<'a> {
    execution_id: Uuid,
    status: &'a str,
    duration_ms: Option<i64>,
    output: Option<&'a serde_json::Value>,
    // The recorder already cut the output: the server marks it truncated.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    output_truncated: bool,
    error_message: Option<&'a str>,
    exit_code: Option<i32>,
    reason: Option<&'a str>,
    completed_at: DateTime<Utc>,
    cpu_ms: Option<i64>,
    max_rss_kb: Option<i64>,
    // The start again, so a completion whose start was lost still stores the whole run.
    cron_name: Option<&'a str>,
    started_at: Option<DateTime<Utc>>,
    trigger_type: Option<&'a str>,
    host: Option<&'a str>,
    pid: Option<i32>,
    boot_id: Option<&'a str>,
    version: Option<&'a str>,
}

impl<'a> From<&'a Finish> for CompleteBody<'a> {
    fn from(f: &'a Finish) -> Self {
        let s = f.start.as_ref();
        Self {
            execution_id: f.id,
            status: f.status.as_str(),
            duration_ms: f.duration_ms,
            output: f.output.as_ref(),
            output_truncated: f.output_truncated,
            error_message: f.error_message.as_deref(),
            exit_code: f.exit_code,
            reason: f.reason.map(|r| r.as_str()),
            completed_at: f.completed_at,
            cpu_ms: f.cpu_ms,
            max_rss_kb: f.max_rss_kb,
            cron_name: s.map(|s| s.cron_name.as_str()),
            started_at: s.map(|s| s.started_at),
            trigger_type: s.map(|s| s.trigger_type.as_str()),
            host: s.and_then(|s| s.host.as_deref()),
            pid: s.and_then(|s| s.pid),
            boot_id: s.and_then(|s| s.boot_id.as_deref()),
            version: s.and_then(|s| s.version.as_deref()),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HeartbeatBody {
    execution_id: Uuid,
    done: Option<i64>,
    total: Option<i64>,
}

/// A batch run's report, as `POST …/cron-executions/events` reads it (item kind `batch`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchRunBody<'a> {
    batch_run_id: Uuid,
    batch_kind: &'a str,
    status: &'a str,
    started_at: DateTime<Utc>,
    at: DateTime<Utc>,
    total: Option<i64>,
    done: i64,
    failed: i64,
    host: Option<&'a str>,
    error_message: Option<&'a str>,
}

impl<'a> From<&'a BatchEvent> for BatchRunBody<'a> {
    fn from(b: &'a BatchEvent) -> Self {
        Self {
            batch_run_id: b.id,
            batch_kind: &b.batch_kind,
            status: b.status.as_str(),
            started_at: b.started_at,
            at: b.at,
            total: b.total,
            done: b.done,
            failed: b.failed,
            host: b.host.as_deref(),
            error_message: b.error_message.as_deref(),
        }
    }
}

/// One item of a batch, as `POST …/cron-executions/events` reads it.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum ItemBody<'a> {
    Start(StartBody<'a>),
    Complete(CompleteBody<'a>),
    Heartbeat(HeartbeatBody),
    Batch(BatchRunBody<'a>),
}

impl<'a> From<&'a Event> for ItemBody<'a> {
    fn from(event: &'a Event) -> Self {
        match event {
            Event::Start(s) => ItemBody::Start(s.into()),
            Event::Finish(f) => ItemBody::Complete(f.into()),
            Event::Heartbeat(Heartbeat {
                id, done, total, ..
            }) => ItemBody::Heartbeat(HeartbeatBody {
                execution_id: *id,
                done: *done,
                total: *total,
            }),
            Event::Batch(b) => ItemBody::Batch(b.into()),
        }
    }
}

/// The answer to a batch: one result per item, in order.
#[derive(Deserialize)]
struct BatchAnswer {
    results: Vec<ItemAnswer>,
}

#[derive(Deserialize)]
struct ItemAnswer {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Most events in one request (the server takes up to 1000).
pub(crate) const MAX_EVENTS: usize = 1000;

/// Requests a delivery may have in flight at once. One request at a time left the server
/// idle while the answer travelled back and the next body was written (12,400 events/s from
/// one process on 2 cores; see the README's Speed section for what lanes give).
const LANES: usize = 4;

/// Most body bytes of one request: under the server's default limit of 1 MiB (and nginx's),
/// with room to spare. A single completion stays well under it, its output and error being
/// cut to 64 KiB each before they are queued.
const MAX_BODY_BYTES: usize = 768 * 1024;

/// What a batch request met, when it is not one answer per event.
enum BatchFailure {
    /// 413: the body is over the server's (or a proxy's) limit.
    TooLarge,
    /// A 2xx that is not cronmon's answer: something else sits at the URL.
    Garbled,
    /// Any other failure of the request as a whole.
    Answer(Answer),
}

/// A 2xx that is not cronmon's answer to a batch.
const GARBLED_HINT: &str = "the server's answer to a batch is not cronmon's: is the URL the \
     API's mount point, http(s)://host:port/api/admin? Runs are kept in the spool";

/// What one answer means for the event it carried.
enum Answer {
    Done,
    Transient,
    /// 409: the server holds the run with another outcome.
    Conflict(String),
    /// 400 or 422: the server refuses this event for good.
    Invalid(String),
    /// Any other refusal: the destination, not the event, is at fault.
    Refused(String),
    Unauthorized,
}

/// Why a start or completion answered 404: cronmon answers it for neither at the right URL.
const NOT_FOUND_HINT: &str = "the server answered 404 (not found): is the URL the API's mount \
     point, http(s)://host:port/api/admin? Runs are kept in the spool";

impl Client {
    pub(crate) fn new(base: &str, secret: Option<&str>) -> reqwest::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("cronmon/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            secret: secret.map(str::to_owned),
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let request = match &self.secret {
            Some(s) => request.header("X-Cron-Secret", s),
            None => request,
        };
        match request.send().await {
            Ok(r) if r.status().is_success() => Answer::Done,
            Ok(r) => answer_of(r.status(), r).await,
            Err(_) => Answer::Transient,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `events` and returns each one's result, in order. Past one request's worth,
    /// they go in [`LANES`] lanes at once, a run's events always in the same lane and in
    /// their order (a start before its end), since the server answers each request on its
    /// own. A lane refused (a wrong secret, a wrong URL) refuses the whole delivery; a lane
    /// that found the server down leaves its events transient, and all lanes down is the
    /// destination's failure.
    pub(crate) async fn deliver(&self, events: &[Event]) -> Result<Vec<EventResult>, SinkError> {
        if events.len() <= MAX_EVENTS {
            let events: Vec<&Event> = events.iter().collect();
            return self.deliver_in_order(&events).await;
        }
        let mut lanes: [Vec<usize>; LANES] = Default::default();
        for (i, event) in events.iter().enumerate() {
            lanes[(event.execution_id().as_u128() % LANES as u128) as usize].push(i);
        }
        let lane = |at: &[usize]| {
            let lane: Vec<&Event> = at.iter().map(|&i| &events[i]).collect();
            async move {
                if lane.is_empty() {
                    Ok(Vec::new())
                } else {
                    self.deliver_in_order(&lane).await
                }
            }
        };
        let [a, b, c, d] = &lanes;
        let (a, b, c, d) = tokio::join!(lane(a), lane(b), lane(c), lane(d));
        let answers = [a, b, c, d];
        if let Some(Err(e)) = answers
            .iter()
            .find(|r| matches!(r, Err(SinkError::Refused(_))))
        {
            return Err(e.clone());
        }
        let mut any_done = false;
        let mut results: Vec<Option<EventResult>> = events.iter().map(|_| None).collect();
        let mut down = None;
        for (at, answer) in lanes.iter().zip(answers) {
            match answer {
                Ok(lane) => {
                    any_done |= !at.is_empty();
                    for (&i, r) in at.iter().zip(lane) {
                        results[i] = Some(r);
                    }
                }
                Err(e) => down = Some(e),
            }
        }
        match down {
            Some(e) if !any_done => Err(e),
            _ => Ok(results
                .into_iter()
                .map(|r| r.unwrap_or(EventResult::Transient))
                .collect()),
        }
    }

    /// Sends `events` one request after another, in as few requests as the limits allow, and
    /// returns each one's result, in order. A transport failure or a 5xx on the first request
    /// is the destination's failure (an error); on a later one, what is left comes back
    /// transient, to retry.
    async fn deliver_in_order(&self, events: &[&Event]) -> Result<Vec<EventResult>, SinkError> {
        let mut results = Vec::with_capacity(events.len());
        let mut max_bytes = MAX_BODY_BYTES;
        while results.len() < events.len() {
            let rest = &events[results.len()..];
            let (body, n) = batch_body(rest, max_bytes)?;
            let request = self
                .http
                .post(self.url("/cron-executions/events"))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
            match self.send_batch(request, n).await {
                Ok(answers) => {
                    let slice: Vec<EventResult> = rest[..n]
                        .iter()
                        .zip(answers)
                        .map(|(event, answer)| item_result(event, answer))
                        .collect();
                    let all_transient = slice.iter().all(|r| matches!(r, EventResult::Transient));
                    if all_transient && results.is_empty() {
                        return Err(SinkError::Transient(
                            "the server could not store the runs (HTTP 503)".into(),
                        ));
                    }
                    results.extend(slice);
                }
                // A proxy or server with a smaller body limit than ours: halve the slices.
                Err(BatchFailure::TooLarge) if n > 1 => max_bytes = (max_bytes / 2).max(1),
                Err(BatchFailure::TooLarge) => results.push(EventResult::Invalid(
                    "HTTP 413: the server's body limit is smaller than this one event".into(),
                )),
                // (A failed request never reads as `Done`: that arm only completes the match.)
                Err(BatchFailure::Garbled | BatchFailure::Answer(Answer::Done)) => {
                    return Err(SinkError::Refused(GARBLED_HINT.into()));
                }
                Err(BatchFailure::Answer(Answer::Transient)) => {
                    if results.is_empty() {
                        return Err(SinkError::Transient("server unreachable".into()));
                    }
                    results.extend(rest.iter().map(|_| EventResult::Transient));
                }
                // Refused whole although each event is checked on its own: the destination (an
                // older server, a proxy) is at fault, not the events. They wait in the spool.
                Err(BatchFailure::Answer(Answer::Invalid(why) | Answer::Conflict(why))) => {
                    return Err(SinkError::Refused(format!(
                        "{why}; runs are kept in the spool"
                    )));
                }
                Err(BatchFailure::Answer(Answer::Refused(why))) => {
                    return Err(SinkError::Refused(why));
                }
                Err(BatchFailure::Answer(Answer::Unauthorized)) => {
                    return Err(SinkError::Refused(
                        "the server refused the secret (HTTP 401): set CRON_SECRET to the \
                         server's secret; runs are kept in the spool until then"
                            .into(),
                    ));
                }
            }
        }
        Ok(results)
    }

    /// Sends one batch of `n` events: each one's answer, or what the whole request met.
    async fn send_batch(
        &self,
        request: reqwest::RequestBuilder,
        n: usize,
    ) -> Result<Vec<ItemAnswer>, BatchFailure> {
        let request = match &self.secret {
            Some(s) => request.header("X-Cron-Secret", s),
            None => request,
        };
        let response = request
            .send()
            .await
            .map_err(|_| BatchFailure::Answer(Answer::Transient))?;
        match response.status() {
            s if s.is_success() => {}
            StatusCode::PAYLOAD_TOO_LARGE => return Err(BatchFailure::TooLarge),
            s => return Err(BatchFailure::Answer(answer_of(s, response).await)),
        }
        match response.json::<BatchAnswer>().await {
            Ok(answer) if answer.results.len() == n => Ok(answer.results),
            _ => Err(BatchFailure::Garbled),
        }
    }

    pub(crate) async fn upsert_schedule(
        &self,
        name: &CronName,
        u: &ScheduleUpdate,
    ) -> Result<(), SinkError> {
        let path = format!("/cron-schedules/{}", encode_segment(name.as_str()));
        let req = self.http.put(self.url(&path)).json(u);
        match self.send(req).await {
            Answer::Done => Ok(()),
            Answer::Transient => Err(SinkError::Transient("server unreachable".into())),
            Answer::Conflict(why) | Answer::Invalid(why) | Answer::Refused(why) => {
                Err(SinkError::Refused(why))
            }
            Answer::Unauthorized => Err(SinkError::Refused("wrong secret (HTTP 401)".into())),
        }
    }
}

/// What a failed answer means, from its status (and body, for the message).
async fn answer_of(status: StatusCode, response: reqwest::Response) -> Answer {
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Answer::Unauthorized,
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => Answer::Transient,
        s if s.is_server_error() => Answer::Transient,
        StatusCode::NOT_FOUND => Answer::Refused(NOT_FOUND_HINT.into()),
        s => {
            let body = response.text().await.unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            let why = format!("HTTP {s}: {body}");
            match s {
                StatusCode::CONFLICT => Answer::Conflict(why),
                StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => Answer::Invalid(why),
                _ => Answer::Refused(format!("{why}; runs are kept in the spool")),
            }
        }
    }
}

/// The JSON array of as many of `events` as fit in `max_bytes` (at least one) and
/// [`MAX_EVENTS`], and how many it holds.
fn batch_body(events: &[&Event], max_bytes: usize) -> Result<(Vec<u8>, usize), SinkError> {
    let mut body = Vec::with_capacity(1024);
    body.push(b'[');
    let mut n = 0;
    for event in events.iter().take(MAX_EVENTS) {
        let item = serde_json::to_vec(&ItemBody::from(*event))
            .map_err(|e| SinkError::Refused(format!("cannot encode an event: {e}")))?;
        if n > 0 && body.len() + item.len() + 2 > max_bytes {
            break;
        }
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&item);
        n += 1;
    }
    body.push(b']');
    Ok((body, n))
}

/// What one item's answer means for its event.
fn item_result(event: &Event, answer: ItemAnswer) -> EventResult {
    let why = || {
        let detail = answer
            .error
            .as_ref()
            .and_then(|e| e.get("message"))
            .and_then(|m| m.as_str())
            .unwrap_or("");
        format!("HTTP {}: {detail}", answer.status)
    };
    match (answer.status, event) {
        (200..=299, _) => EventResult::Done,
        // A sign of life of a run the server does not know (yet), or refuses: nothing worth
        // keeping.
        (400 | 404 | 409 | 422, Event::Heartbeat(_)) => EventResult::Done,
        (409, _) => EventResult::Conflict(why()),
        (400 | 422, _) => EventResult::Invalid(why()),
        // 404: a completion whose start has not arrived yet (and carries none): later.
        _ => EventResult::Transient,
    }
}

/// What a cron name keeps as is in a URL path: RFC 3986's unreserved characters; everything
/// else (spaces, slashes, any other byte of its UTF-8) is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a path segment (cron names may hold spaces, slashes, anything printable).
fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn segments_are_encoded() {
        assert_eq!(super::encode_segment("a b/c-d"), "a%20b%2Fc-d");
        assert_eq!(super::encode_segment("x~y_z.1%é"), "x~y_z.1%25%C3%A9");
    }
}
