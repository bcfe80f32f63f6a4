//! What cronmon records and reports: cron names, runs, their outcomes, and the figures derived
//! from them. Field names are those of the tables `cron_executions` and `cron_schedules`,
//! which older clients of these tables and of the JSON API already use.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::rules;

/// Largest output or error message stored as is; anything longer is truncated and marked.
pub const MAX_TEXT_BYTES: usize = rules::limits::MAX_TEXT_BYTES;

/// A validated cron name: 1 to 128 characters, no control characters, no white space at
/// either end ([`rules::cron_name`]).
///
/// ```
/// use cronmon_core::CronName;
/// assert!(CronName::new("nightly-report").is_ok());
/// assert!(CronName::new("").is_err());
/// assert!(CronName::new("bad\nname").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CronName(String);

impl CronName {
    /// Longest accepted name, in characters.
    pub const MAX_CHARS: usize = rules::limits::CRON_NAME_MAX_CHARS;

    /// Checks `name` against [`rules::cron_name`] and wraps it.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        rules::cron_name(&name).map_err(|e| Error::InvalidName(e.message))?;
        Ok(Self(name))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CronName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CronName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CronName::new(s).map_err(serde::de::Error::custom)
    }
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident, $field:literal { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as stored and as the API writes it.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        // Rows decode their text columns through this (`#[sqlx(try_from = "String")]`).
        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                s.parse()
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(Error::InvalidField {
                        field: $field,
                        message: format!(
                            "`{}` is not one of: {}",
                            other.chars().take(64).collect::<String>(),
                            [$($text),+].join(", ")
                        ),
                    }),
                }
            }
        }
    };
}
pub(crate) use text_enum;

text_enum!(
    /// The three statuses of a run (`running`, `completed`, `failed`); [`Reason`] says more.
    Status, "status" {
        /// Started, not finished yet.
        Running = "running",
        /// Finished successfully.
        Completed = "completed",
        /// Finished unsuccessfully (see [`Reason`] for why).
        Failed = "failed",
    }
);

text_enum!(
    /// Why a run failed, finer than [`Status`].
    Reason, "reason" {
        /// The job returned an error.
        Error = "error",
        /// The job panicked.
        Panicked = "panicked",
        /// The job was stopped by a signal (SIGTERM, Ctrl-C).
        Interrupted = "interrupted",
        /// The job's process died without a word (kill -9, OOM, power loss).
        Crashed = "crashed",
        /// The job ended without reporting completion (early return, dropped future).
        Abandoned = "abandoned",
        /// cronmon closed the run after it ran past its limit with no news.
        TimedOut = "timed_out",
        /// A scheduled slot passed with no start.
        Missed = "missed",
    }
);

text_enum!(
    /// What started a run.
    TriggerType, "triggerType" {
        /// Started by its schedule (cron, systemd timer, …).
        Scheduled = "scheduled",
        /// Started by hand.
        Manual = "manual",
    }
);

impl Status {
    /// Whether the run has ended.
    pub fn is_finished(self) -> bool {
        self != Status::Running
    }
}

/// The start of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Start {
    /// Run id, a UUIDv7 made by the client.
    pub id: Uuid,
    /// Which cron ran.
    pub cron_name: CronName,
    /// What started it.
    pub trigger_type: TriggerType,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Host name of the job's machine.
    pub host: Option<String>,
    /// Process id of the job.
    pub pid: Option<i32>,
    /// Boot id of the job's machine, to tell a reused pid after a reboot.
    pub boot_id: Option<String>,
    /// Version of the job's program.
    pub version: Option<String>,
    /// The schedule slot this run serves, when known.
    pub scheduled_for: Option<DateTime<Utc>>,
}

impl Start {
    /// A start of `cron_name` now, with a fresh UUIDv7 and no process details.
    pub fn now(cron_name: CronName) -> Self {
        Self {
            id: Uuid::now_v7(),
            cron_name,
            trigger_type: TriggerType::Scheduled,
            started_at: Utc::now(),
            host: None,
            pid: None,
            boot_id: None,
            version: None,
            scheduled_for: None,
        }
    }

    /// Makes the texts a job's own process reports about itself storable rather than
    /// refused: the host, boot id and version lose their NULs (U+FFFD instead) and are cut at
    /// [`rules::limits::SHORT_TEXT_MAX_BYTES`].
    pub fn sanitize(&mut self) {
        for text in [&mut self.host, &mut self.boot_id, &mut self.version]
            .into_iter()
            .flatten()
        {
            scrub_text(text);
            cut_text(text, rules::limits::SHORT_TEXT_MAX_BYTES);
        }
    }
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finish {
    /// Run id.
    pub id: Uuid,
    /// `completed` or `failed`.
    pub status: Status,
    /// Why it failed, when it did.
    pub reason: Option<Reason>,
    /// When it ended.
    pub completed_at: DateTime<Utc>,
    /// How long it ran, from the job's monotonic clock.
    pub duration_ms: Option<i64>,
    /// What the job reported (any JSON).
    pub output: Option<serde_json::Value>,
    /// Whether `output` is already the cut of a larger one ([`Finish::sanitize`] cut it), so
    /// the store marks it truncated however short it is now.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub output_truncated: bool,
    /// The error, with its source chain.
    pub error_message: Option<String>,
    /// Exit code of the job's process.
    pub exit_code: Option<i32>,
    /// CPU time (user + system) the run used.
    pub cpu_ms: Option<i64>,
    /// Peak resident memory of the process, in KiB.
    pub max_rss_kb: Option<i64>,
    /// The run's start, so a completion that arrives before its start can still be stored.
    pub start: Option<Start>,
}

impl Finish {
    /// A finish of run `id` now with `status`, nothing else known.
    pub fn now(id: Uuid, status: Status) -> Self {
        Self {
            id,
            status,
            reason: None,
            completed_at: Utc::now(),
            duration_ms: None,
            output: None,
            output_truncated: false,
            error_message: None,
            exit_code: None,
            cpu_ms: None,
            max_rss_kb: None,
            start: None,
        }
    }

    /// Makes the texts of the finish storable everywhere, identically for every destination:
    /// NUL characters (which PostgreSQL refuses) become U+FFFD in the output (keys and
    /// strings) and the error message; an output whose JSON is over [`MAX_TEXT_BYTES`]
    /// becomes a JSON string of its first bytes (at a character boundary, at most
    /// [`MAX_TEXT_BYTES`] once written as JSON) and is marked truncated; an error message over
    /// [`MAX_TEXT_BYTES`] is cut there. Applying it twice changes nothing more. (The start it
    /// may carry is [`Start::sanitize`]'s: [`Event::sanitize`] applies both.)
    ///
    /// ```
    /// use cronmon_core::{Finish, Status};
    ///
    /// let mut finish = Finish::now(uuid::Uuid::now_v7(), Status::Failed);
    /// finish.error_message = Some("bad\0byte".into());
    /// finish.output = Some(serde_json::json!("x".repeat(100_000)));
    /// finish.sanitize();
    /// assert_eq!(finish.error_message.as_deref(), Some("bad\u{FFFD}byte"));
    /// assert!(finish.output_truncated);
    /// assert!(finish.output.unwrap().to_string().len() <= cronmon_core::rules::limits::MAX_TEXT_BYTES);
    /// ```
    pub fn sanitize(&mut self) {
        if let Some(output) = &mut self.output {
            scrub_json(output);
            let text = output.to_string();
            if text.len() > MAX_TEXT_BYTES {
                *output = serde_json::Value::String(cut_to_json_string(&text, MAX_TEXT_BYTES));
                self.output_truncated = true;
            }
        }
        if let Some(error) = &mut self.error_message {
            scrub_text(error);
            cut_text(error, MAX_TEXT_BYTES);
        }
    }

    /// The output as stored, and whether it is truncated: as [`Finish::sanitize`] leaves it.
    pub(crate) fn stored_output(&self) -> (Option<serde_json::Value>, bool) {
        match &self.output {
            None | Some(serde_json::Value::Null) => (None, false),
            Some(v) => {
                let mut v = v.clone();
                scrub_json(&mut v);
                let text = v.to_string();
                if text.len() <= MAX_TEXT_BYTES {
                    (Some(v), self.output_truncated)
                } else {
                    let cut = cut_to_json_string(&text, MAX_TEXT_BYTES);
                    (Some(serde_json::Value::String(cut)), true)
                }
            }
        }
    }

    /// The error message as stored: as [`Finish::sanitize`] leaves it.
    pub(crate) fn stored_error(&self) -> Option<String> {
        self.error_message.as_deref().map(|e| {
            let mut e = truncate_at_char(e, MAX_TEXT_BYTES).to_owned();
            scrub_text(&mut e);
            e
        })
    }
}

/// What replaces a NUL character: PostgreSQL's `text` and `jsonb` refuse NUL, and a run is
/// never lost for what its output holds.
const NUL_REPLACEMENT: &str = "\u{FFFD}";

/// Replaces the NULs of `text` in place.
pub(crate) fn scrub_text(text: &mut String) {
    if text.contains('\0') {
        *text = text.replace('\0', NUL_REPLACEMENT);
    }
}

/// Replaces the NULs of every string and key of `value`.
fn scrub_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => scrub_text(s),
        Value::Array(items) => items.iter_mut().for_each(scrub_json),
        Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                let old = std::mem::take(map);
                for (k, v) in old {
                    map.insert(k.replace('\0', NUL_REPLACEMENT), v);
                }
            }
            map.values_mut().for_each(scrub_json);
        }
        _ => {}
    }
}

/// Cuts `text` in place to at most `max` bytes without splitting a character.
pub(crate) fn cut_text(text: &mut String, max: usize) {
    let end = truncate_at_char(text, max).len();
    text.truncate(end);
}

/// The longest start of `text` (cut at a character boundary) that, written as a JSON string,
/// takes at most `max` bytes: so a cut output stays under the limit wherever it is written
/// again, and cutting it again changes nothing.
fn cut_to_json_string(text: &str, max: usize) -> String {
    let mut cut = truncate_at_char(text, max.saturating_sub(2));
    loop {
        let written = serde_json::Value::String(cut.to_owned()).to_string().len();
        if written <= max {
            return cut.to_owned();
        }
        // Each byte dropped shrinks the written form by at least one byte.
        cut = truncate_at_char(cut, cut.len().saturating_sub(written - max));
    }
}

/// Cuts `s` to at most `max` bytes without splitting a character.
pub(crate) fn truncate_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A sign of life from a running run, optionally with its progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Run id.
    pub id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// Items done so far.
    pub done: Option<i64>,
    /// Items in all.
    pub total: Option<i64>,
}

/// One thing a job reports, as the recorder queues it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A run started.
    Start(Start),
    /// A run ended.
    Finish(Finish),
    /// A run is alive.
    Heartbeat(Heartbeat),
    /// A batch run started, advanced or ended ([`crate::batch::BatchRun`]).
    Batch(crate::batch::BatchEvent),
}

impl Event {
    /// Makes the event's texts storable everywhere ([`Start::sanitize`],
    /// [`Finish::sanitize`], and the start a finish carries); the recorder applies it to every event it accepts, before any
    /// queue, spool or destination sees it.
    pub fn sanitize(&mut self) {
        match self {
            Event::Start(s) => s.sanitize(),
            Event::Finish(f) => {
                f.sanitize();
                if let Some(start) = &mut f.start {
                    start.sanitize();
                }
            }
            Event::Heartbeat(_) => {}
            Event::Batch(b) => b.sanitize(),
        }
    }

    /// The run (or batch run) this event is about.
    pub fn execution_id(&self) -> Uuid {
        match self {
            Event::Start(s) => s.id,
            Event::Finish(f) => f.id,
            Event::Heartbeat(h) => h.id,
            Event::Batch(b) => b.id,
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The write changed what is stored.
    Recorded,
    /// The same write had already been stored; nothing changed.
    AlreadyRecorded,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
/// One run as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    /// Run id.
    pub id: Uuid,
    /// Which cron.
    pub cron_name: String,
    /// `running`, `completed` or `failed`.
    pub status: Status,
    /// Why it failed.
    pub reason: Option<Reason>,
    /// What started it.
    pub trigger_type: TriggerType,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub completed_at: Option<DateTime<Utc>>,
    /// Duration from the job's monotonic clock.
    pub duration_ms: Option<i64>,
    /// What the job reported.
    pub output: Option<serde_json::Value>,
    /// Whether `output` was cut at 64 KiB.
    pub output_truncated: bool,
    /// The error with its source chain.
    pub error_message: Option<String>,
    /// Exit code.
    pub exit_code: Option<i32>,
    /// Host of the job.
    pub host: Option<String>,
    /// Pid of the job.
    pub pid: Option<i32>,
    /// Version of the job's program.
    pub version: Option<String>,
    /// CPU time of the run.
    pub cpu_ms: Option<i64>,
    /// Peak resident memory, KiB.
    pub max_rss_kb: Option<i64>,
    /// Last sign of life.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// Items done.
    pub progress_done: Option<i64>,
    /// Items in all.
    pub progress_total: Option<i64>,
    /// The schedule slot this run served.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// A duration far from the cron's usual: `slow` or `fast`.
    pub anomaly: Option<crate::health::Anomaly>,
    /// For a `missed` row that stands for several slots in a row: how many.
    pub slots_missed: Option<i64>,
}

/// Which runs to list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecutionFilter {
    /// Only this cron.
    pub cron_name: Option<String>,
    /// Only runs with this status.
    pub status: Option<Status>,
    /// Only runs started at or after.
    pub from: Option<DateTime<Utc>>,
    /// Only runs started before.
    pub to: Option<DateTime<Utc>>,
}

/// A page request: 1-based page, `limit` rows (at most [`PageRequest::MAX_LIMIT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    /// 1-based page number.
    pub page: u32,
    /// Rows a page.
    pub limit: u32,
}

impl PageRequest {
    /// Most rows a page.
    pub const MAX_LIMIT: u32 = rules::limits::PAGE_LIMIT_MAX;
    /// Rows a page unless told.
    pub const DEFAULT_LIMIT: u32 = rules::limits::PAGE_LIMIT_DEFAULT;

    /// Checks the page and limit ([`rules::page`]).
    pub fn new(page: u32, limit: u32) -> Result<Self> {
        rules::page(page, limit)?;
        Ok(Self { page, limit })
    }

    pub(crate) fn offset(self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.limit)
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            page: 1,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// The page.
    pub page: u32,
    /// Rows a page.
    pub limit: u32,
    /// Rows in all pages.
    pub total: i64,
    /// Number of pages.
    #[serde(rename = "totalPages")]
    pub total_pages: i64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
/// Figures of one cron over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CronStats {
    /// The cron.
    pub cron_name: String,
    /// Runs started in the window.
    pub total_executions: i64,
    /// Of which completed.
    pub completed_count: i64,
    /// Of which failed.
    pub failed_count: i64,
    /// Of which still running.
    pub running_count: i64,
    /// Completed / finished, in percent; none when nothing finished.
    pub success_rate: Option<f64>,
    /// Mean duration of finished runs.
    pub avg_duration_ms: Option<i64>,
    /// 95th percentile of durations of finished runs (linear interpolation).
    pub p95_duration_ms: Option<i64>,
    /// Start of the newest run.
    pub last_execution_at: Option<DateTime<Utc>>,
    /// Status of the newest run.
    pub last_status: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
/// Runs of one day (UTC) by status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineDay {
    /// The day.
    pub date: NaiveDate,
    /// Completed runs started that day.
    pub completed: i64,
    /// Failed runs started that day.
    pub failed: i64,
    /// Runs started that day and still running.
    pub running: i64,
    /// All runs started that day.
    pub total: i64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
/// A cron with its settings and derived figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    /// The cron.
    pub cron_name: String,
    /// Name for people.
    pub display_name: Option<String>,
    /// 5-field crontab expression.
    pub cron_expression: Option<String>,
    /// Time zone of the expression.
    pub timezone: String,
    /// Whether it is monitored.
    pub is_enabled: bool,
    /// Max runtime before a run counts as stuck.
    pub timeout_ms: i64,
    /// Start deadline after the due time.
    pub grace_ms: i64,
    /// Longest silence of a running run before it counts as stuck.
    pub heartbeat_timeout_ms: Option<i64>,
    /// Consecutive failures before alerting.
    pub failure_threshold: i32,
    /// Successes before an alert resolves.
    pub recovery_threshold: i32,
    /// Runs running now.
    pub running_count: i64,
    /// Failures in the last 24 hours.
    pub failures_24h: i64,
    /// Failures since the last completed run, that completion looked for among the cron's
    /// newest 1,000 runs; 1,000 failed runs counted at most (a missed row counts its slots).
    pub consecutive_failures: i64,
    /// Completed / finished over 7 days, percent.
    pub success_rate_7d: Option<f64>,
    /// Start of the newest run.
    pub last_execution_at: Option<DateTime<Utc>>,
    /// Status of the newest run.
    pub last_status: Option<String>,
    /// See [`ScheduleUpdate::anomaly_factor`].
    pub anomaly_factor: f64,
    /// See [`ScheduleUpdate::min_duration_ms`].
    pub min_duration_ms: Option<i64>,
    /// See [`ScheduleUpdate::anomaly_incidents`].
    pub anomaly_incidents: bool,
    /// What the cron is doing now, judged from its runs, slots, pause and incident.
    pub state: crate::health::CronState,
    /// Since when the cron has been in `state`.
    pub state_since: DateTime<Utc>,
    /// When the cron was paused; none when it is not.
    pub paused_at: Option<DateTime<Utc>>,
    /// When a pause ends by itself; none for a pause until resumed.
    pub paused_until: Option<DateTime<Utc>>,
    /// Start deadline of the next slot to judge (its due time plus the grace); none without a
    /// schedule.
    pub next_deadline_at: Option<DateTime<Utc>>,
    /// The open incident, if any.
    pub open_incident: Option<crate::health::IncidentRef>,
}

/// Settings of a cron to create or change; `None` keeps what is stored (or the default).
///
/// Also the body of `PUT /cron-schedules/{name}` as it travels (camelCase, absent fields left
/// out), so the server, its clients and the OpenAPI document share this one definition.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleUpdate {
    /// Name for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// 5-field crontab expression (`0 9 * * *`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron_expression: Option<String>,
    /// IANA time zone of the expression (`Europe/Paris`; default `UTC`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Whether it is monitored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
    /// Max runtime, ms (default 1 h).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<i64>,
    /// Start deadline after the due time, ms (default 5 min).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_ms: Option<i64>,
    /// Longest silence of a running run, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_timeout_ms: Option<i64>,
    /// Consecutive failures before alerting (default 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i32>,
    /// Successes before an alert resolves (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_threshold: Option<i32>,
    /// A finished run slower than this many times the p95 of the cron's last 7 days is flagged
    /// `slow` (default 3; judged once the cron has 20 runs in those days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anomaly_factor: Option<f64>,
    /// A completed run shorter than this, ms, is flagged `fast` (default: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_duration_ms: Option<i64>,
    /// Whether flagged runs count as failures toward `failureThreshold` (default false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anomaly_incidents: Option<bool>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
/// A run still running past its limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StuckRun {
    /// Run id.
    pub execution_id: Uuid,
    /// The cron.
    pub cron_name: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// How long it has run.
    pub running_ms: i64,
    /// Its cron's max runtime.
    pub timeout_ms: i64,
    /// Last sign of life.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// Host of the job.
    pub host: Option<String>,
    /// Pid of the job.
    pub pid: Option<i32>,
}

/// A run still running, as crash detection sees it: where it runs and since when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunningRun {
    /// Run id.
    pub id: Uuid,
    /// The cron.
    pub cron_name: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// Pid of the job.
    pub pid: Option<i32>,
    /// Boot id of the job's machine.
    pub boot_id: Option<String>,
}
