//! Schedule health: which crons are late, failing or stuck, the slots nobody ran, incidents,
//! pauses and maintenance windows.
//!
//! The [`Sweeper`] judges; the [`Store`](crate::Store) keeps what it decides. Each round
//! ([`Sweeper::sweep`], with the clock passed in so tests need not wait):
//!
//! 1. records the sweeper's heartbeat, and notices a gap in it (cronmon itself was down);
//! 2. judges every slot whose start deadline passed, from a stored next-deadline column (so
//!    the cost follows the crons due now, not all crons): a slot no start served becomes a
//!    `missed` row, once per slot whatever the number of sweepers (a unique key on cron and
//!    slot). Slots whose deadline fell in a gap wait for a settling delay, so runs spooled
//!    while cronmon was down arrive first;
//! 3. re-reads the crons whose runs changed since the last round (a flag the database sets) and
//!    opens or resolves their incident, drops `missed` rows that a late start served, and
//!    flags runs of unusual duration.
//!
//! A cron's [`CronState`] is derived when it is read, from its runs, pause, next deadline and
//! incident: it never goes stale.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::model::text_enum;

mod judge;
mod state;
mod streak;
mod sweeper;

pub use state::StateInputs;
pub use sweeper::{SweepConfig, SweepReport, Sweeper};

pub(crate) use judge::judge_slots;
pub(crate) use streak::evaluate;

text_enum!(
    /// What a cron is doing now. One at a time, the first that holds in this order:
    /// `paused`, `stuck`, `running`, `late`, `failing`, `up`, `new`.
    CronState, "state" {
        /// No run recorded yet.
        New = "new",
        /// The last run completed and no slot is overdue.
        Up = "up",
        /// A slot's start deadline passed with no start (it is or will be a `missed` row).
        Late = "late",
        /// A run is in progress, within its limits.
        Running = "running",
        /// The last run failed, or an incident is open.
        Failing = "failing",
        /// A run is past its max runtime or its heartbeat timeout.
        Stuck = "stuck",
        /// Paused or disabled: no slot is judged, no incident opens.
        Paused = "paused",
    }
);

text_enum!(
    /// A run's duration far from the cron's usual.
    Anomaly, "anomaly" {
        /// Slower than `anomalyFactor` × the p95 of the last 7 days.
        Slow = "slow",
        /// Completed faster than the cron's `minDurationMs`.
        Fast = "fast",
    }
);

text_enum!(
    /// What opened an incident: the failure that crossed the cron's threshold.
    IncidentKind, "kind" {
        /// Runs ended in failure.
        Failed = "failed",
        /// Slots passed with no start.
        Missed = "missed",
        /// A run ran past its limit and cronmon closed it.
        TimedOut = "timed_out",
        /// A run is past its max runtime or heartbeat timeout, still running.
        Stuck = "stuck",
        /// A run's duration was an anomaly (when the cron counts those).
        Anomaly = "anomaly",
    }
);

text_enum!(
    /// What an [`IncidentEvent`] records.
    IncidentEventKind, "kind" {
        /// An incident opened.
        Opened = "opened",
        /// An incident resolved.
        Resolved = "resolved",
        /// The first judgement after cronmon's own downtime: what it opened, in one record.
        OutageSummary = "outage_summary",
    }
);

/// The open incident of a cron, as its schedule shows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentRef {
    /// Incident id.
    pub id: Uuid,
    /// What opened it.
    pub kind: IncidentKind,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
}

/// A cron that crossed its failure threshold, from its opening to its resolution. The runs in
/// between are the cron's runs from `opened_from` to `resolved_at` (or now).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    /// Incident id.
    pub id: Uuid,
    /// The cron.
    pub cron_name: String,
    /// What opened it.
    pub kind: IncidentKind,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// The run whose failure crossed the threshold.
    pub opening_execution_id: Option<Uuid>,
    /// Start of the first failed run of the streak that opened it.
    pub opened_from: DateTime<Utc>,
    /// The error of the opening run, cut to 1 KiB.
    pub error_message: Option<String>,
    /// When it resolved; none while open.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The run whose success resolved it.
    pub resolving_execution_id: Option<Uuid>,
    /// Whether it opened in the first judgement after cronmon's own downtime.
    pub after_outage: bool,
}

/// Which incidents to list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentFilter {
    /// Only this cron.
    pub cron_name: Option<String>,
    /// Only open (`true`) or only resolved (`false`) ones.
    pub open: Option<bool>,
    /// Only those opened at or after.
    pub from: Option<DateTime<Utc>>,
    /// Only those opened before.
    pub to: Option<DateTime<Utc>>,
}

/// One opening or resolution of an incident (or one summary after an outage), in the order
/// they happened: what notifications are sent for. Written in the transaction that opens or
/// resolves the incident.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentEvent {
    /// Increasing id: read the events after the last one handled.
    pub id: i64,
    /// What happened.
    pub kind: IncidentEventKind,
    /// The incident (none for a summary).
    pub incident_id: Option<Uuid>,
    /// The cron (none for a summary).
    pub cron_name: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// For a summary: the outage (`gapFrom`, `gapUntil`) and the incidents it opened.
    pub details: Option<serde_json::Value>,
}

/// A recurring window during which slots are not judged and incidents do not open: it starts
/// at each time `cron_expression` is due in `timezone` and lasts `duration_ms`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceWindow {
    /// Window id.
    pub id: Uuid,
    /// The cron it applies to; none for every cron.
    #[serde(default)]
    pub cron_name: Option<String>,
    /// When each window starts (5-field crontab).
    pub cron_expression: String,
    /// Time zone of the expression (default `UTC`).
    #[serde(default = "utc")]
    pub timezone: String,
    /// How long each window lasts, ms (at most 30 days).
    pub duration_ms: i64,
    /// What it is for, for people.
    #[serde(default)]
    pub description: Option<String>,
}

fn utc() -> String {
    "UTC".to_owned()
}

impl MaintenanceWindow {
    /// Checks the window against cronmon's rules.
    ///
    /// ```
    /// use cronmon_core::health::MaintenanceWindow;
    /// let w = MaintenanceWindow {
    ///     id: uuid::Uuid::now_v7(),
    ///     cron_name: None,
    ///     cron_expression: "0 2 * * 0".into(),
    ///     timezone: "Europe/Paris".into(),
    ///     duration_ms: 2 * 3_600_000,
    ///     description: Some("Sunday backups".into()),
    /// };
    /// assert!(w.validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<()> {
        use crate::rules;
        if let Some(name) = &self.cron_name {
            rules::cron_name(name).map_err(|e| Error::InvalidName(e.message))?;
        }
        rules::cron_expression(&self.cron_expression)?;
        rules::timezone(&self.timezone)?;
        rules::maintenance_duration_ms(self.duration_ms)?;
        if let Some(d) = &self.description
            && d.len() > rules::limits::DESCRIPTION_MAX_BYTES
        {
            return Err(Error::InvalidField {
                field: "description",
                message: format!(
                    "is longer than {} bytes",
                    rules::limits::DESCRIPTION_MAX_BYTES
                ),
            });
        }
        Ok(())
    }

    /// Whether `t` falls in one of this window's occurrences.
    pub fn covers(&self, t: DateTime<Utc>) -> bool {
        OpenWindows::parse(std::slice::from_ref(self)).covers(None, t)
    }
}

/// Maintenance windows parsed once, for a sweep that asks about many slots.
#[derive(Debug, Default)]
pub(crate) struct OpenWindows(Vec<(Option<String>, crate::rules::CronSchedule, TimeDelta)>);

impl OpenWindows {
    /// The windows whose expression parses (a stored one that no longer does covers nothing).
    pub(crate) fn parse(windows: &[MaintenanceWindow]) -> Self {
        Self(
            windows
                .iter()
                .filter_map(|w| {
                    let schedule =
                        crate::rules::CronSchedule::new(&w.cron_expression, &w.timezone).ok()?;
                    let length = TimeDelta::try_milliseconds(w.duration_ms)?;
                    Some((w.cron_name.clone(), schedule, length))
                })
                .collect(),
        )
    }

    /// Whether `t` falls in a window that applies to `cron` (its own or one for every cron);
    /// with no cron, in any window.
    pub(crate) fn covers(&self, cron: Option<&str>, t: DateTime<Utc>) -> bool {
        self.0.iter().any(|(only, schedule, length)| {
            cron.is_none_or(|cron| only.as_deref().is_none_or(|n| n == cron))
                && schedule
                    .latest_at_or_before(t)
                    .and_then(|start| start.checked_add_signed(*length))
                    .is_some_and(|end| t < end)
        })
    }
}

/// The sweeper's own heartbeat, shared by every instance: when it last swept, and the last
/// gap it noticed in its heartbeat (cronmon or its database was down).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweeperStatus {
    /// Last round of any instance.
    pub last_beat_at: DateTime<Utc>,
    /// Which instance swept last.
    pub instance: String,
    /// The last gap: from the beat before it …
    pub gap_from: Option<DateTime<Utc>>,
    /// … to the beat after it.
    pub gap_until: Option<DateTime<Utc>>,
    /// Slots due in the gap are judged from then on.
    pub settle_until: Option<DateTime<Utc>>,
}

/// A cron whose next slot's deadline has passed, with what judging it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DueCron {
    /// The cron.
    pub cron_name: String,
    /// Its schedule.
    pub cron_expression: String,
    /// The schedule's time zone.
    pub timezone: String,
    /// Start deadline after each slot.
    pub grace_ms: i64,
    /// Slots at or before this are judged.
    pub judged_through: DateTime<Utc>,
    /// Paused since.
    pub paused_at: Option<DateTime<Utc>>,
    /// Pause ends.
    pub paused_until: Option<DateTime<Utc>>,
    /// Whether it is monitored at all.
    pub is_enabled: bool,
    /// Missed slots in a row so far.
    pub missed_in_row: i64,
    /// The row that counts missed slots past [`MISSED_ROWS_MAX`](crate::rules::limits::MISSED_ROWS_MAX).
    pub missed_rest_slot: Option<DateTime<Utc>>,
}

/// A slot nobody started, as the sweeper writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct MissedSlot {
    /// The due time.
    pub slot: DateTime<Utc>,
    /// The start deadline (due time plus grace).
    pub deadline: DateTime<Utc>,
    /// How many slots the row stands for (1, or more for the row that counts the rest).
    pub count: i64,
}

/// What one judgement of a cron's due slots decided: written whole, or not at all if another
/// sweeper moved the cron's cursor first.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The cron.
    pub cron_name: String,
    /// The cursor as read (the write applies only if it is unchanged).
    pub judged_through_was: DateTime<Utc>,
    /// The new cursor: the last slot judged.
    pub judged_through: DateTime<Utc>,
    /// Deadline of the next slot after it; none if the schedule never fires again.
    pub next_deadline_at: Option<DateTime<Utc>>,
    /// Rows for slots nobody started (the last may count several).
    pub missed: Vec<MissedSlot>,
    /// Missed slots in a row after this judgement.
    pub missed_in_row: i64,
    /// The row counting the rest, after this judgement.
    pub missed_rest_slot: Option<DateTime<Utc>>,
}

/// A cron whose runs changed since it was last evaluated, with its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DirtyCron {
    /// The cron.
    pub cron_name: String,
    /// Its schedule, if any (to tell which slot a late start served).
    pub cron_expression: Option<String>,
    /// The schedule's time zone.
    pub timezone: String,
    /// Max runtime of a run.
    pub timeout_ms: i64,
    /// Longest silence of a running run.
    pub heartbeat_timeout_ms: Option<i64>,
    /// Consecutive failures that open an incident.
    pub failure_threshold: i32,
    /// Consecutive successes that resolve it.
    pub recovery_threshold: i32,
    /// Slow-run factor.
    pub anomaly_factor: f64,
    /// Fast-run floor.
    pub min_duration_ms: Option<i64>,
    /// Whether anomalies count as failures.
    pub anomaly_incidents: bool,
    /// Paused since.
    pub paused_at: Option<DateTime<Utc>>,
    /// Pause ends.
    pub paused_until: Option<DateTime<Utc>>,
    /// Whether it is monitored.
    pub is_enabled: bool,
    /// Runs finished before this were already checked for anomalies.
    pub anomaly_checked_at: Option<DateTime<Utc>>,
    /// The open incident.
    pub open_incident: Option<OpenIncident>,
}

/// An open incident as the evaluation needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenIncident {
    /// Incident id.
    pub id: Uuid,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// Start of the first failure of its streak.
    pub opened_from: DateTime<Utc>,
}

/// One recent run, as the evaluation reads it (newest first).
#[derive(Debug, Clone, PartialEq)]
pub struct RunBrief {
    /// Run id.
    pub id: Uuid,
    /// Status.
    pub status: crate::model::Status,
    /// Reason of a failure.
    pub reason: Option<crate::model::Reason>,
    /// Start (for a missed row: the slot).
    pub started_at: DateTime<Utc>,
    /// End.
    pub completed_at: Option<DateTime<Utc>>,
    /// Duration.
    pub duration_ms: Option<i64>,
    /// Flag already set.
    pub anomaly: Option<Anomaly>,
    /// Error text.
    pub error_message: Option<String>,
    /// Last sign of life of a running run.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

/// What the evaluation of one dirty cron decided, written in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthChange {
    /// The cron.
    pub cron_name: String,
    /// `missed` rows (by slot) that a late start served: deleted.
    pub replaced_missed: Vec<DateTime<Utc>>,
    /// Runs to flag.
    pub anomalies: Vec<(Uuid, Anomaly)>,
    /// Runs finished up to here are checked for anomalies.
    pub anomaly_checked_at: Option<DateTime<Utc>>,
    /// An incident to open.
    pub open: Option<Incident>,
    /// The incident to resolve: id, time and resolving run.
    pub resolve: Option<(Uuid, DateTime<Utc>, Option<Uuid>)>,
}
