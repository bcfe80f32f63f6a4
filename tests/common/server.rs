//! A stand-in cronmon server for the recorder's HTTP tests: the wire contract of
//! `/api/admin/cron-executions/{start,complete,{id}/heartbeat}` and `/cron-schedules/{name}`
//! over a real store. Swap it for the real router once it lands.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use chrono::{DateTime, Utc};
use cronmon::store::Store;
use cronmon::{CronName, Error, Finish, Heartbeat, Outcome, ScheduleUpdate, Start, Status};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Clone)]
struct App {
    store: Arc<dyn Store>,
    secret: Arc<str>,
}

fn error(status: StatusCode, code: &str, message: impl ToString) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message.to_string() } })),
    )
        .into_response()
}

fn from_store(e: Error) -> Response {
    match e {
        Error::UnknownExecution(_) => error(StatusCode::NOT_FOUND, "not_found", e),
        Error::ConflictingOutcome { .. } => error(StatusCode::CONFLICT, "conflict", e),
        Error::InvalidName(_) | Error::InvalidField { .. } => {
            error(StatusCode::BAD_REQUEST, "invalid", e)
        }
        e if e.is_transient() => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e),
        e => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartBody {
    cron_name: CronName,
    trigger_type: Option<String>,
    execution_id: Option<Uuid>,
    started_at: Option<DateTime<Utc>>,
    host: Option<String>,
    pid: Option<i32>,
    boot_id: Option<String>,
    version: Option<String>,
    scheduled_for: Option<DateTime<Utc>>,
}

async fn start(State(app): State<App>, Json(b): Json<StartBody>) -> Response {
    let mut s = Start::now(b.cron_name);
    if let Some(id) = b.execution_id {
        s.id = id;
    }
    if let Some(t) = b.started_at {
        s.started_at = t;
    }
    if let Some(t) = b.trigger_type {
        match t.parse() {
            Ok(t) => s.trigger_type = t,
            Err(e) => return from_store(e),
        }
    }
    s.host = b.host;
    s.pid = b.pid;
    s.boot_id = b.boot_id;
    s.version = b.version;
    s.scheduled_for = b.scheduled_for;
    match app.store.record_start(&s).await {
        Ok(outcome) => {
            let code = match outcome {
                Outcome::Recorded => StatusCode::CREATED,
                Outcome::AlreadyRecorded => StatusCode::OK,
            };
            let body = json!({ "success": true, "executionId": s.id,
                               "cronName": s.cron_name, "startedAt": s.started_at });
            (code, Json(body)).into_response()
        }
        Err(e) => from_store(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompleteBody {
    execution_id: Uuid,
    status: String,
    duration_ms: Option<i64>,
    output: Option<Value>,
    error_message: Option<String>,
    exit_code: Option<i32>,
    reason: Option<String>,
    completed_at: Option<DateTime<Utc>>,
    cpu_ms: Option<i64>,
    max_rss_kb: Option<i64>,
    cron_name: Option<CronName>,
    started_at: Option<DateTime<Utc>>,
    trigger_type: Option<String>,
    host: Option<String>,
    pid: Option<i32>,
    boot_id: Option<String>,
    version: Option<String>,
}

async fn complete(State(app): State<App>, Json(b): Json<CompleteBody>) -> Response {
    let status: Status = match b.status.parse() {
        Ok(s) => s,
        Err(e) => return from_store(e),
    };
    let mut f = Finish::now(b.execution_id, status);
    if let Some(t) = b.completed_at {
        f.completed_at = t;
    }
    f.reason = match b.reason.map(|r| r.parse()).transpose() {
        Ok(r) => r,
        Err(e) => return from_store(e),
    };
    f.duration_ms = b.duration_ms;
    f.output = b.output;
    f.error_message = b.error_message;
    f.exit_code = b.exit_code;
    f.cpu_ms = b.cpu_ms;
    f.max_rss_kb = b.max_rss_kb;
    if let (Some(name), Some(started_at)) = (b.cron_name, b.started_at) {
        let mut s = Start::now(name);
        s.id = b.execution_id;
        s.started_at = started_at;
        if let Some(t) = b.trigger_type.and_then(|t| t.parse().ok()) {
            s.trigger_type = t;
        }
        s.host = b.host;
        s.pid = b.pid;
        s.boot_id = b.boot_id;
        s.version = b.version;
        f.start = Some(s);
    }
    match app.store.record_finish(&f).await {
        Ok(_) => Json(json!({ "success": true, "executionId": f.id, "status": f.status }))
            .into_response(),
        Err(e) => from_store(e),
    }
}

#[derive(Deserialize)]
struct BeatBody {
    done: Option<i64>,
    total: Option<i64>,
}

async fn heartbeat(
    State(app): State<App>,
    Path(id): Path<Uuid>,
    Json(b): Json<BeatBody>,
) -> Response {
    let h = Heartbeat {
        id,
        at: Utc::now(),
        done: b.done,
        total: b.total,
    };
    match app.store.heartbeat(&h).await {
        Ok(running) => Json(json!({ "success": true, "running": running })).into_response(),
        Err(e) => from_store(e),
    }
}

async fn schedule(
    State(app): State<App>,
    Path(name): Path<String>,
    Json(u): Json<Value>,
) -> Response {
    let name = match CronName::new(name) {
        Ok(n) => n,
        Err(e) => return from_store(e),
    };
    let get_i64 = |k: &str| u.get(k).and_then(Value::as_i64);
    let get_str = |k: &str| u.get(k).and_then(Value::as_str).map(str::to_owned);
    let update = ScheduleUpdate {
        display_name: get_str("displayName"),
        cron_expression: get_str("cronExpression"),
        timezone: get_str("timezone"),
        is_enabled: u.get("isEnabled").and_then(Value::as_bool),
        timeout_ms: get_i64("timeoutMs"),
        grace_ms: get_i64("graceMs"),
        heartbeat_timeout_ms: get_i64("heartbeatTimeoutMs"),
        failure_threshold: get_i64("failureThreshold").and_then(|v| i32::try_from(v).ok()),
        recovery_threshold: get_i64("recoveryThreshold").and_then(|v| i32::try_from(v).ok()),
    };
    match app.store.upsert_schedule(&name, &update).await {
        Ok(()) => Json(json!({ "success": true })).into_response(),
        Err(e) => from_store(e),
    }
}

async fn auth(State(app): State<App>, req: Request, next: Next) -> Response {
    let ok = req
        .headers()
        .get("x-cron-secret")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == &*app.secret);
    if !ok {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong or missing secret",
        );
    }
    next.run(req).await
}

/// The router, to nest at `/api/admin`.
pub fn router(store: Arc<dyn Store>, secret: &str) -> Router {
    let app = App {
        store,
        secret: secret.into(),
    };
    Router::new()
        .route("/cron-executions/start", post(start))
        .route("/cron-executions/complete", post(complete))
        .route("/cron-executions/{id}/heartbeat", post(heartbeat))
        .route("/cron-schedules/{name}", put(schedule))
        .layer(axum::middleware::from_fn_with_state(app.clone(), auth))
        .with_state(app)
}

/// A running test server; stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Serves the stand-in API at `http://addr/api/admin` on the current runtime; binds
    /// `addr` if given (to come back on the same port), else a free port.
    pub async fn start(store: Arc<dyn Store>, secret: &str, addr: Option<SocketAddr>) -> Self {
        let listener = tokio::net::TcpListener::bind(addr.unwrap_or(([127, 0, 0, 1], 0).into()))
            .await
            .expect("bind test server");
        let addr = listener.local_addr().expect("local addr");
        let app = Router::new().nest("/api/admin", router(store, secret));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/api/admin", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
