//! Rows as the databases return them, decoded here and turned into the public model, so the
//! model's types carry no sqlx trait.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::health::{
    Anomaly, CronState, DirtyCron, DueCron, Incident, IncidentEvent, IncidentEventKind,
    IncidentKind, IncidentRef, MaintenanceWindow, OpenIncident, RunBrief, StateInputs,
    SweeperStatus,
};
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
    #[sqlx(try_from = "OptText")]
    anomaly: Option<Anomaly>,
    slots_missed: Option<i64>,
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
            anomaly: r.anomaly,
            slots_missed: r.slots_missed,
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

macro_rules! opt_text_enum {
    ($($t:ty),+) => {$(
        impl TryFrom<OptText> for Option<$t> {
            type Error = Error;
            fn try_from(t: OptText) -> Result<Self> {
                t.0.map(|s| s.parse()).transpose()
            }
        }
    )+};
}
opt_text_enum!(Reason, Anomaly, IncidentKind);

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
    anomaly_factor: f64,
    min_duration_ms: Option<i64>,
    anomaly_incidents: bool,
    paused_at: Option<DateTime<Utc>>,
    paused_until: Option<DateTime<Utc>>,
    next_deadline_at: Option<DateTime<Utc>>,
    judged_through: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[sqlx(try_from = "OptText")]
    last_reason: Option<Reason>,
    last_completed_at: Option<DateTime<Utc>>,
    oldest_running_at: Option<DateTime<Utc>>,
    stuck_since: Option<DateTime<Utc>>,
    incident_id: Option<Uuid>,
    #[sqlx(try_from = "OptText")]
    incident_kind: Option<IncidentKind>,
    incident_opened_at: Option<DateTime<Utc>>,
}

impl From<ScheduleRow> for Schedule {
    fn from(r: ScheduleRow) -> Self {
        let now = Utc::now();
        let inputs = StateInputs {
            is_enabled: r.is_enabled,
            paused_at: r.paused_at,
            paused_until: r.paused_until,
            created_at: r.created_at,
            updated_at: r.updated_at,
            oldest_running_at: r.oldest_running_at,
            // Crossed its limit at its start plus its max runtime, or earlier for a heartbeat
            // timeout: never later than now.
            stuck_since: r.stuck_since.map(|start| {
                start
                    .checked_add_signed(chrono::TimeDelta::milliseconds(r.timeout_ms))
                    .map_or(now, |t| t.min(now))
            }),
            last_status: r.last_status.as_deref().and_then(|s| s.parse().ok()),
            last_reason: r.last_reason,
            last_completed_at: r.last_completed_at,
            next_deadline_at: r.next_deadline_at,
            judged_through: r.judged_through,
            incident_opened_at: r.incident_opened_at,
        };
        let (state, state_since) = inputs.state(now);
        let open_incident = match (r.incident_id, r.incident_kind, r.incident_opened_at) {
            (Some(id), Some(kind), Some(opened_at)) => Some(IncidentRef {
                id,
                kind,
                opened_at,
            }),
            _ => None,
        };
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
            anomaly_factor: r.anomaly_factor,
            min_duration_ms: r.min_duration_ms,
            anomaly_incidents: r.anomaly_incidents,
            state,
            state_since,
            paused_at: r.paused_at.filter(|_| state == CronState::Paused),
            paused_until: r.paused_until.filter(|_| state == CronState::Paused),
            next_deadline_at: r
                .next_deadline_at
                .filter(|d| r.judged_through.is_none_or(|j| *d > j)),
            open_incident,
        }
    }
}

/// A cron due for judging.
#[derive(sqlx::FromRow)]
pub(crate) struct DueCronRow {
    cron_name: String,
    cron_expression: String,
    timezone: String,
    grace_ms: i64,
    judged_through: DateTime<Utc>,
    paused_at: Option<DateTime<Utc>>,
    paused_until: Option<DateTime<Utc>>,
    is_enabled: bool,
    missed_in_row: i64,
    missed_rest_slot: Option<DateTime<Utc>>,
}

impl From<DueCronRow> for DueCron {
    fn from(r: DueCronRow) -> Self {
        DueCron {
            cron_name: r.cron_name,
            cron_expression: r.cron_expression,
            timezone: r.timezone,
            grace_ms: r.grace_ms,
            judged_through: r.judged_through,
            paused_at: r.paused_at,
            paused_until: r.paused_until,
            is_enabled: r.is_enabled,
            missed_in_row: r.missed_in_row,
            missed_rest_slot: r.missed_rest_slot,
        }
    }
}

/// A cron to evaluate, with its open incident.
#[derive(sqlx::FromRow)]
pub(crate) struct DirtyCronRow {
    cron_name: String,
    cron_expression: Option<String>,
    timezone: String,
    timeout_ms: i64,
    heartbeat_timeout_ms: Option<i64>,
    failure_threshold: i32,
    recovery_threshold: i32,
    anomaly_factor: f64,
    min_duration_ms: Option<i64>,
    anomaly_incidents: bool,
    paused_at: Option<DateTime<Utc>>,
    paused_until: Option<DateTime<Utc>>,
    is_enabled: bool,
    anomaly_checked_at: Option<DateTime<Utc>>,
    incident_id: Option<Uuid>,
    incident_opened_at: Option<DateTime<Utc>>,
    incident_opened_from: Option<DateTime<Utc>>,
}

impl From<DirtyCronRow> for DirtyCron {
    fn from(r: DirtyCronRow) -> Self {
        let open_incident = match (r.incident_id, r.incident_opened_at, r.incident_opened_from) {
            (Some(id), Some(opened_at), Some(opened_from)) => Some(OpenIncident {
                id,
                opened_at,
                opened_from,
            }),
            _ => None,
        };
        DirtyCron {
            cron_name: r.cron_name,
            cron_expression: r.cron_expression,
            timezone: r.timezone,
            timeout_ms: r.timeout_ms,
            heartbeat_timeout_ms: r.heartbeat_timeout_ms,
            failure_threshold: r.failure_threshold,
            recovery_threshold: r.recovery_threshold,
            anomaly_factor: r.anomaly_factor,
            min_duration_ms: r.min_duration_ms,
            anomaly_incidents: r.anomaly_incidents,
            paused_at: r.paused_at,
            paused_until: r.paused_until,
            is_enabled: r.is_enabled,
            anomaly_checked_at: r.anomaly_checked_at,
            open_incident,
        }
    }
}

/// A recent run, as the evaluation reads it.
#[derive(sqlx::FromRow)]
pub(crate) struct RunBriefRow {
    id: Uuid,
    #[sqlx(try_from = "String")]
    status: Status,
    #[sqlx(try_from = "OptText")]
    reason: Option<Reason>,
    started_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    duration_ms: Option<i64>,
    #[sqlx(try_from = "OptText")]
    anomaly: Option<Anomaly>,
    error_message: Option<String>,
    last_heartbeat_at: Option<DateTime<Utc>>,
}

impl From<RunBriefRow> for RunBrief {
    fn from(r: RunBriefRow) -> Self {
        RunBrief {
            id: r.id,
            status: r.status,
            reason: r.reason,
            started_at: r.started_at,
            completed_at: r.completed_at,
            duration_ms: r.duration_ms,
            anomaly: r.anomaly,
            error_message: r.error_message,
            last_heartbeat_at: r.last_heartbeat_at,
        }
    }
}

/// An incident as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct IncidentRow {
    id: Uuid,
    cron_name: String,
    #[sqlx(try_from = "String")]
    kind: IncidentKind,
    opened_at: DateTime<Utc>,
    opening_execution_id: Option<Uuid>,
    opened_from: DateTime<Utc>,
    error_message: Option<String>,
    resolved_at: Option<DateTime<Utc>>,
    resolving_execution_id: Option<Uuid>,
    after_outage: bool,
}

impl From<IncidentRow> for Incident {
    fn from(r: IncidentRow) -> Self {
        Incident {
            id: r.id,
            cron_name: r.cron_name,
            kind: r.kind,
            opened_at: r.opened_at,
            opening_execution_id: r.opening_execution_id,
            opened_from: r.opened_from,
            error_message: r.error_message,
            resolved_at: r.resolved_at,
            resolving_execution_id: r.resolving_execution_id,
            after_outage: r.after_outage,
        }
    }
}

/// An incident event as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct IncidentEventRow {
    id: i64,
    #[sqlx(try_from = "String")]
    kind: IncidentEventKind,
    incident_id: Option<Uuid>,
    cron_name: Option<String>,
    at: DateTime<Utc>,
    details: Option<String>,
}

impl From<IncidentEventRow> for IncidentEvent {
    fn from(r: IncidentEventRow) -> Self {
        IncidentEvent {
            id: r.id,
            kind: r.kind,
            incident_id: r.incident_id,
            cron_name: r.cron_name,
            at: r.at,
            details: r.details.map(output_of),
        }
    }
}

/// A maintenance window as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct MaintenanceWindowRow {
    id: Uuid,
    cron_name: Option<String>,
    cron_expression: String,
    timezone: String,
    duration_ms: i64,
    description: Option<String>,
}

impl From<MaintenanceWindowRow> for MaintenanceWindow {
    fn from(r: MaintenanceWindowRow) -> Self {
        MaintenanceWindow {
            id: r.id,
            cron_name: r.cron_name,
            cron_expression: r.cron_expression,
            timezone: r.timezone,
            duration_ms: r.duration_ms,
            description: r.description,
        }
    }
}

/// The sweeper's shared heartbeat.
#[derive(sqlx::FromRow)]
pub(crate) struct SweeperRow {
    last_beat_at: DateTime<Utc>,
    instance: String,
    gap_from: Option<DateTime<Utc>>,
    gap_until: Option<DateTime<Utc>>,
    settle_until: Option<DateTime<Utc>>,
}

impl From<SweeperRow> for SweeperStatus {
    fn from(r: SweeperRow) -> Self {
        SweeperStatus {
            last_beat_at: r.last_beat_at,
            instance: r.instance,
            gap_from: r.gap_from,
            gap_until: r.gap_until,
            settle_until: r.settle_until,
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
