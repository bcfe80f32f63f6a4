//! Rows as the databases return them, decoded here and turned into the public model, so the
//! model's types carry no sqlx trait.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::model::{
    CronStats, Execution, Reason, RunningRun, Schedule, Status, StuckRun, TriggerType,
};

/// One run as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct ExecutionRow {
    id: Uuid,
    cron_name: String,
    #[sqlx(try_from = "String")]
    status: Status,
    #[sqlx(try_from = "OptText")]
    reason: Option<Reason>,
    #[sqlx(try_from = "String")]
    trigger_type: TriggerType,
    started_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    duration_ms: Option<i64>,
    output: Option<String>,
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

impl From<ExecutionRow> for Execution {
    fn from(r: ExecutionRow) -> Self {
        Execution {
            id: r.id,
            cron_name: r.cron_name,
            status: r.status,
            reason: r.reason,
            trigger_type: r.trigger_type,
            started_at: r.started_at,
            completed_at: r.completed_at,
            duration_ms: r.duration_ms,
            output: r.output.map(output_of),
            output_truncated: r.output_truncated,
            error_message: r.error_message,
            exit_code: r.exit_code,
            host: r.host,
            pid: r.pid,
            version: r.version,
            cpu_ms: r.cpu_ms,
            max_rss_kb: r.max_rss_kb,
            last_heartbeat_at: r.last_heartbeat_at,
            progress_done: r.progress_done,
            progress_total: r.progress_total,
            scheduled_for: r.scheduled_for,
        }
    }
}

/// A stored output as the model holds it: its JSON, or, when it is not JSON that serde_json
/// takes (nested deeper than 128, a number beyond `f64`, text an older version or another
/// writer left in SQLite), a JSON string of the stored text, so no row ever fails a read.
pub(crate) fn output_of(text: String) -> serde_json::Value {
    serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
}

/// An optional text column decoded into an enum.
#[derive(Debug)]
pub(crate) struct OptText(Option<String>);

impl<DB: sqlx::Database> sqlx::Type<DB> for OptText
where
    String: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <String as sqlx::Type<DB>>::type_info()
    }
    fn compatible(ty: &DB::TypeInfo) -> bool {
        <String as sqlx::Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for OptText
where
    Option<String>: sqlx::Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(OptText(<Option<String> as sqlx::Decode<'r, DB>>::decode(
            value,
        )?))
    }
}

impl TryFrom<OptText> for Option<Reason> {
    type Error = Error;
    fn try_from(t: OptText) -> Result<Self> {
        t.0.map(|s| s.parse()).transpose()
    }
}

/// Figures of one cron over a window.
#[derive(sqlx::FromRow)]
pub(crate) struct CronStatsRow {
    cron_name: String,
    total_executions: i64,
    completed_count: i64,
    failed_count: i64,
    running_count: i64,
    success_rate: Option<f64>,
    avg_duration_ms: Option<i64>,
    p95_duration_ms: Option<i64>,
    last_execution_at: Option<DateTime<Utc>>,
    last_status: Option<String>,
}

impl From<CronStatsRow> for CronStats {
    fn from(r: CronStatsRow) -> Self {
        CronStats {
            cron_name: r.cron_name,
            total_executions: r.total_executions,
            completed_count: r.completed_count,
            failed_count: r.failed_count,
            running_count: r.running_count,
            success_rate: r.success_rate,
            avg_duration_ms: r.avg_duration_ms,
            p95_duration_ms: r.p95_duration_ms,
            last_execution_at: r.last_execution_at,
            last_status: r.last_status,
        }
    }
}

/// A cron with its settings and derived figures, from the dashboard view.
#[derive(sqlx::FromRow)]
pub(crate) struct ScheduleRow {
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
}

impl From<ScheduleRow> for Schedule {
    fn from(r: ScheduleRow) -> Self {
        Schedule {
            cron_name: r.cron_name,
            display_name: r.display_name,
            cron_expression: r.cron_expression,
            timezone: r.timezone,
            is_enabled: r.is_enabled,
            timeout_ms: r.timeout_ms,
            grace_ms: r.grace_ms,
            heartbeat_timeout_ms: r.heartbeat_timeout_ms,
            failure_threshold: r.failure_threshold,
            recovery_threshold: r.recovery_threshold,
            running_count: r.running_count,
            failures_24h: r.failures_24h,
            consecutive_failures: r.consecutive_failures,
            success_rate_7d: r.success_rate_7d,
            last_execution_at: r.last_execution_at,
            last_status: r.last_status,
        }
    }
}

/// A run still running past its limit.
#[derive(sqlx::FromRow)]
pub(crate) struct StuckRunRow {
    execution_id: Uuid,
    cron_name: String,
    started_at: DateTime<Utc>,
    running_ms: i64,
    timeout_ms: i64,
    last_heartbeat_at: Option<DateTime<Utc>>,
    host: Option<String>,
    pid: Option<i32>,
}

impl From<StuckRunRow> for StuckRun {
    fn from(r: StuckRunRow) -> Self {
        StuckRun {
            execution_id: r.execution_id,
            cron_name: r.cron_name,
            started_at: r.started_at,
            running_ms: r.running_ms,
            timeout_ms: r.timeout_ms,
            last_heartbeat_at: r.last_heartbeat_at,
            host: r.host,
            pid: r.pid,
        }
    }
}

/// A running run as crash detection sees it.
#[derive(sqlx::FromRow)]
pub(crate) struct RunningRunRow {
    id: Uuid,
    cron_name: String,
    started_at: DateTime<Utc>,
    pid: Option<i32>,
    boot_id: Option<String>,
}

impl From<RunningRunRow> for RunningRun {
    fn from(r: RunningRunRow) -> Self {
        RunningRun {
            id: r.id,
            cron_name: r.cron_name,
            started_at: r.started_at,
            pid: r.pid,
            boot_id: r.boot_id,
        }
    }
}

/// Rows decoded as `R`, turned into the model's `T`.
pub(crate) fn into_model<R: Into<T>, T>(rows: Vec<R>) -> Vec<T> {
    rows.into_iter().map(Into::into).collect()
}
