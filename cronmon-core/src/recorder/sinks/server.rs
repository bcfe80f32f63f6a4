//! Reporting to a cronmon server over HTTP (`POST …/cron-executions/start`, `…/complete`,
//! `…/{id}/heartbeat`, `PUT …/cron-schedules/{name}`), with the secret in `X-Cron-Secret`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;
use serde::Serialize;
use uuid::Uuid;

use super::{EventResult, SinkError};
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
struct HeartbeatBody {
    done: Option<i64>,
    total: Option<i64>,
}

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
        let response = match request.send().await {
            Ok(r) => r,
            Err(_) => return Answer::Transient,
        };
        let status = response.status();
        if status.is_success() {
            return Answer::Done;
        }
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
                    StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
                        Answer::Invalid(why)
                    }
                    _ => Answer::Refused(format!("{why}; runs are kept in the spool")),
                }
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send_event(&self, event: &Event) -> Answer {
        match event {
            Event::Start(s) => {
                let req = self
                    .http
                    .post(self.url("/cron-executions/start"))
                    .json(&StartBody::from(s));
                self.send(req).await
            }
            Event::Finish(f) => {
                let req = self
                    .http
                    .post(self.url("/cron-executions/complete"))
                    .json(&CompleteBody::from(f));
                self.send(req).await
            }
            Event::Heartbeat(Heartbeat {
                id, done, total, ..
            }) => {
                let req = self
                    .http
                    .post(self.url(&format!("/cron-executions/{id}/heartbeat")))
                    .json(&HeartbeatBody {
                        done: *done,
                        total: *total,
                    });
                match self.send(req).await {
                    // A heartbeat of a run the server does not know (yet), or refuses: a sign
                    // of life has nothing worth keeping.
                    Answer::Conflict(_) | Answer::Invalid(_) | Answer::Refused(_) => Answer::Done,
                    other => other,
                }
            }
        }
    }

    /// Sends `events` in order; stops at the first transient failure (the rest is retried
    /// with it, keeping each run's start before its end).
    pub(crate) async fn deliver(&self, events: &[Event]) -> Result<Vec<EventResult>, SinkError> {
        let mut results = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            match self.send_event(event).await {
                Answer::Done => results.push(EventResult::Done),
                Answer::Conflict(why) => results.push(EventResult::Conflict(why)),
                Answer::Invalid(why) => results.push(EventResult::Invalid(why)),
                // The whole batch waits in the spool; what it did store is not doubled by the
                // replay (writes are idempotent by run id).
                Answer::Refused(why) => return Err(SinkError::Refused(why)),
                Answer::Transient => {
                    if i == 0 {
                        return Err(SinkError::Transient("server unreachable".into()));
                    }
                    results.extend(events[i..].iter().map(|_| EventResult::Transient));
                    return Ok(results);
                }
                Answer::Unauthorized => {
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
