//! The OpenAPI 3 document, generated from the handlers' annotations (utoipa). The row types
//! of `cronmon-core` are described here by mirror types, so the core stays free of utoipa.

#![allow(dead_code)]

use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, Utc};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use uuid::Uuid;

use crate::api;
use crate::error::{ErrorBody, ErrorDetail};

/// One run as stored (`cron_executions` row).
#[derive(Debug, ToSchema)]
#[schema(as = Execution)]
pub struct ExecutionRow {
    id: Uuid,
    cron_name: String,
    /// `running`, `completed`, `failed`.
    status: String,
    /// `error`, `panicked`, `interrupted`, `crashed`, `abandoned`, `timed_out`, `missed`.
    reason: Option<String>,
    /// `scheduled`, `manual`.
    trigger_type: String,
    started_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    duration_ms: Option<i64>,
    #[schema(value_type = Option<Object>)]
    output: Option<serde_json::Value>,
    /// Whether `output` was cut at 64 KiB.
    output_truncated: bool,
    error_message: Option<String>,
    exit_code: Option<i32>,
    host: Option<String>,
    pid: Option<i32>,
    version: Option<String>,
    cpu_ms: Option<i64>,
    max_rss_kb: Option<i64>,
    last_heartbeat_at: Option<DateTime<Utc>>,
    progress_done: Option<i64>,
    progress_total: Option<i64>,
    scheduled_for: Option<DateTime<Utc>>,
}

/// Figures of one cron over the window.
#[derive(Debug, ToSchema)]
#[schema(as = CronStats)]
pub struct CronStatsRow {
    cron_name: String,
    total_executions: i64,
    completed_count: i64,
    failed_count: i64,
    running_count: i64,
    /// Percent of finished runs that completed.
    success_rate: Option<f64>,
    avg_duration_ms: Option<i64>,
    p95_duration_ms: Option<i64>,
    last_execution_at: Option<DateTime<Utc>>,
    last_status: Option<String>,
}

/// A run still running past its limit.
#[derive(Debug, ToSchema)]
#[schema(as = StuckRun)]
pub struct StuckRunRow {
    execution_id: Uuid,
    cron_name: String,
    started_at: DateTime<Utc>,
    running_ms: i64,
    timeout_ms: i64,
    last_heartbeat_at: Option<DateTime<Utc>>,
    host: Option<String>,
    pid: Option<i32>,
}

/// Runs of one UTC day by status.
#[derive(Debug, ToSchema)]
#[schema(as = TimelineDay)]
pub struct TimelineDayRow {
    date: NaiveDate,
    completed: i64,
    failed: i64,
    running: i64,
    total: i64,
}

/// A cron with its settings, derived figures and next due time.
#[derive(Debug, ToSchema)]
#[schema(as = Schedule)]
pub struct ScheduleRowDoc {
    cron_name: String,
    display_name: Option<String>,
    cron_expression: Option<String>,
    timezone: String,
    is_enabled: bool,
    timeout_ms: i64,
    grace_ms: i64,
    heartbeat_timeout_ms: Option<i64>,
    failure_threshold: i32,
    recovery_threshold: i32,
    running_count: i64,
    failures_24h: i64,
    consecutive_failures: i64,
    success_rate_7d: Option<f64>,
    last_execution_at: Option<DateTime<Utc>>,
    last_status: Option<String>,
    /// Next due time; null without a valid expression.
    next_run_at: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "secret",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Cron-Secret"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's OpenAPI description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "cronmon",
        description = "Monitor cron jobs and batch jobs. Paths are relative to the mount point \
                       (`/api/admin` in the standalone server). Every endpoint but `/health` \
                       needs the secret (`X-Cron-Secret` or `Authorization: Bearer`). Errors \
                       are `{\"error\": {\"code\", \"message\", \"field\"?}}`."
    ),
    paths(
        api::start, api::complete, api::heartbeat, api::stats, api::list, api::execution,
        api::schedules, api::put_schedule, api::batches, api::health, api::openapi,
        crate::export::export_csv, crate::metrics::metrics
    ),
    components(schemas(
        ErrorBody, ErrorDetail, ExecutionRow, CronStatsRow, StuckRunRow, TimelineDayRow,
        ScheduleRowDoc
    )),
    modifiers(&Security)
)]
pub struct ApiDoc;

/// The document as JSON, built once.
pub fn document_json() -> String {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|_| "{}".to_owned())
    })
    .clone()
}
