//! Storage of runs and schedules on PostgreSQL or SQLite.
//!
//! [`Store`] is the one interface; [`connect`] picks the backend from the URL, and
//! `PgStore::from_pool` / `SqliteStore::from_pool` take a pool the application already has.
//! Queries whose SQL is the same on both databases live in `sql`, built from each backend's
//! dialect (where the tables live, time arithmetic); each backend keeps only what differs
//! (percentiles, stuck-run detection, connection set-up). Rows are decoded in `rows` and
//! errors classified in `db`, so no sqlx type crosses this module's boundary.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::health::{
    DirtyCron, DueCron, HealthChange, Incident, IncidentEvent, IncidentFilter, Judgement,
    MaintenanceWindow, RunBrief, SweeperStatus,
};
use crate::model::{
    CronName, CronStats, Event, Execution, ExecutionFilter, Finish, Heartbeat, Outcome, Page,
    PageRequest, RunningRun, Schedule, ScheduleUpdate, Start, Status, StuckRun, TimelineDay,
};
use crate::notify::{Attempt, Channel, Claimed, Notification, NotificationFilter};

pub(crate) mod batch_runs;
mod db;
mod health;
pub(crate) mod notify;
#[cfg(feature = "postgres")]
mod postgres;
mod rows;
mod runs_plan;
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "postgres")]
pub use postgres::PgStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// Which database a store writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL, objects in the schema `cronmon`.
    Postgres,
    /// SQLite, in WAL mode.
    Sqlite,
}

/// Name of cronmon's own migrations table, so it can share a database with a host app whose
/// migrations use sqlx's default table. On PostgreSQL it lives in the schema `cronmon`.
pub const MIGRATIONS_TABLE: &str = "_cronmon_migrations";

/// Days of history kept unless told otherwise.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Every operation cronmon performs on its database.
///
/// Writes are idempotent by execution id: a retried or replayed start, finish or heartbeat
/// never doubles a run.
#[async_trait::async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// Which database this is.
    fn backend(&self) -> Backend;

    /// Records a start. A repeat of the same start is a no-op; an unknown cron name
    /// registers a schedule.
    async fn record_start(&self, start: &Start) -> Result<Outcome>;

    /// Records the end of a run. A repeat of the same outcome is a no-op; another outcome for
    /// a finished run is [`Error::ConflictingOutcome`]; an unknown id is
    /// [`Error::UnknownExecution`] unless `finish.start` lets the run be stored whole. A run
    /// that cronmon itself closed (`timed_out`, `crashed`) still accepts its real end.
    async fn record_finish(&self, finish: &Finish) -> Result<Outcome>;

    /// Records a sign of life (and progress) of a running run. Returns whether the run was
    /// running; a heartbeat for a finished run changes nothing.
    async fn heartbeat(&self, heartbeat: &Heartbeat) -> Result<bool>;

    /// Records many events in one transaction (group commit), each with its own result.
    /// Events of one run must come in order (start before finish).
    async fn record_batch(&self, events: &[Event]) -> Result<Vec<Result<Outcome>>>;

    /// One run by id.
    async fn execution(&self, id: Uuid) -> Result<Option<Execution>>;

    /// Runs matching `filter`, newest first.
    async fn list_executions(
        &self,
        filter: &ExecutionFilter,
        page: PageRequest,
    ) -> Result<Page<Execution>>;

    /// Runs matching `filter`, newest first (by `started_at`, then id), that come after the
    /// run `after` (its `started_at` and id) in that order; at most `limit` (1 to
    /// [`PageRequest::MAX_LIMIT`]), counting nothing. Keyset paging, for reading every match
    /// (the CSV export): a run that changes meanwhile is never skipped nor repeated, and each
    /// page costs the same however deep it is.
    async fn executions_after(
        &self,
        filter: &ExecutionFilter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: u32,
    ) -> Result<Vec<Execution>>;

    /// Per-cron figures over the last `hours` hours.
    async fn stats(&self, hours: u32) -> Result<Vec<CronStats>>;

    /// Runs per day by status, the last `days` days (UTC) including today, oldest first.
    async fn timeline(&self, days: u32) -> Result<Vec<TimelineDay>>;

    /// Every cron with its settings and derived figures.
    async fn schedules(&self) -> Result<Vec<Schedule>>;

    /// One cron with its settings and derived figures; none if it was never registered.
    async fn schedule(&self, name: &CronName) -> Result<Option<Schedule>>;

    /// Creates or changes a cron's settings.
    async fn upsert_schedule(&self, name: &CronName, update: &ScheduleUpdate) -> Result<()>;

    /// Runs still running past their cron's max runtime or heartbeat timeout.
    async fn stuck_runs(&self) -> Result<Vec<StuckRun>>;

    /// Closes as `failed`/`timed_out` the runs that are stuck and started more than
    /// `older_than` ago. Safe to run from several processes at once: each run is closed once.
    async fn fail_orphans(&self, older_than: Duration) -> Result<u64>;

    /// Closes one running run as `failed` with `reason` (for crash detection). Returns whether
    /// this call closed it.
    async fn close_run(&self, finish: &Finish) -> Result<bool>;

    /// Each kind's figures from its recorded batch runs (kinds with a run in the last 7 days
    /// or one running): today's items and runs, the last hour's throughput, the running runs.
    /// Read from roll-ups, never from history.
    async fn batch_kinds_recorded(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::batch::RecordedBatchKind>>;

    /// Batch runs matching `filter`, newest first (by `started_at`, then id), after the run
    /// `before` in that order (keyset paging); at most `limit` (1 to
    /// [`PageRequest::MAX_LIMIT`]).
    async fn batch_runs(
        &self,
        filter: &crate::batch::BatchRunFilter,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: u32,
    ) -> Result<Vec<crate::batch::BatchRunRecord>>;

    /// One batch run by id.
    async fn batch_run(&self, id: Uuid) -> Result<Option<crate::batch::BatchRunRecord>>;

    /// Stores what each batch source answered (its figures, or its error) at `now`, for
    /// `vw_batch_executions_unified`.
    async fn put_batch_reports(
        &self,
        reports: &[(
            String,
            std::result::Result<crate::batch::BatchFigures, String>,
        )],
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// Closes as `failed` with `message` the batch runs still running whose last report is
    /// older than `before` (their process died without a word). Returns how many.
    async fn fail_stale_batch_runs(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
        message: &str,
    ) -> Result<u64>;

    /// Deletes finished runs older than `retention`, `batch` rows per transaction, so
    /// ingestion never waits long, and notifications as old that are done with (delivered,
    /// given up or muted). Returns how many runs went.
    async fn cleanup(&self, retention: Duration, batch: u32) -> Result<u64>;

    /// Closes the pool.
    async fn close(&self);

    /// Runs still running that were started on `host`, oldest first, so a monitor on that
    /// host can close those whose process is gone (crash detection).
    async fn running_on_host(&self, host: &str) -> Result<Vec<RunningRun>>;

    /// Checks that the database answers, as cheaply as it can (for health probes).
    async fn ping(&self) -> Result<()>;

    // Schedule health (see [`crate::health`]).

    /// Pauses cron `name` from `now`, until `until` or until resumed: its slots are not
    /// judged and no incident opens. Returns whether the cron exists.
    async fn pause(
        &self,
        name: &CronName,
        now: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> Result<bool>;

    /// Ends the pause of cron `name`; slots due from `now` on are judged. Returns whether the
    /// cron exists.
    async fn resume(&self, name: &CronName, now: DateTime<Utc>) -> Result<bool>;

    /// Incidents matching `filter`, newest first.
    async fn incidents(&self, filter: &IncidentFilter, page: PageRequest)
    -> Result<Page<Incident>>;

    /// One incident by id.
    async fn incident(&self, id: Uuid) -> Result<Option<Incident>>;

    /// Openings, resolutions and outage summaries with an id greater than `after`, oldest
    /// first, at most `limit`.
    async fn incident_events(&self, after: i64, limit: u32) -> Result<Vec<IncidentEvent>>;

    /// Every maintenance window.
    async fn maintenance_windows(&self) -> Result<Vec<MaintenanceWindow>>;

    /// Creates or replaces a maintenance window (by id). Returns whether it was created.
    async fn put_maintenance_window(&self, window: &MaintenanceWindow) -> Result<bool>;

    /// Deletes a maintenance window. Returns whether it existed.
    async fn delete_maintenance_window(&self, id: Uuid) -> Result<bool>;

    /// The sweeper's shared heartbeat; none before any sweep.
    async fn sweeper_status(&self) -> Result<Option<SweeperStatus>>;

    /// Records a sweep by `instance` at `now`; answers the shared status and the beat before
    /// this one. A beat more than `gap_after` after the last one records a gap, whose slots
    /// wait until `now + settle`.
    async fn sweeper_beat(
        &self,
        instance: &str,
        now: DateTime<Utc>,
        gap_after: Duration,
        settle: Duration,
    ) -> Result<(SweeperStatus, Option<DateTime<Utc>>)>;

    /// Crons with a schedule whose next start deadline is at or before `until`, earliest
    /// first, at most `limit`.
    async fn due_crons(&self, until: DateTime<Utc>, limit: u32) -> Result<Vec<DueCron>>;

    /// For each `(cron, from, to)`: the start times of its runs (not `missed` rows) started
    /// from `from` to `to`, in one read.
    async fn starts_between(
        &self,
        windows: &[(String, DateTime<Utc>, DateTime<Utc>)],
    ) -> Result<Vec<Vec<DateTime<Utc>>>>;

    /// Writes judgements in one transaction: their `missed` rows (one per slot, whatever the
    /// number of sweepers) and each cron's new cursor. A judgement whose cron's cursor is no
    /// longer `judged_through_was` (another sweeper judged it) writes nothing and answers
    /// false.
    async fn record_judgements(&self, judgements: &[Judgement]) -> Result<Vec<bool>>;

    /// Takes the crons whose runs changed since they were last taken (at most `limit`), and
    /// also the crons named in `also`, with their settings.
    async fn dirty_crons(&self, limit: u32, also: &[String]) -> Result<Vec<DirtyCron>>;

    /// Marks crons for the next sweep to evaluate again (as a write of one of their runs
    /// does): for crons taken by [`Store::dirty_crons`] whose evaluation could not be written.
    async fn mark_dirty(&self, names: &[String]) -> Result<()>;

    /// For each cron of `names`: its newest runs by start, at most `limit`.
    async fn recent_runs(&self, names: &[String], limit: u32) -> Result<Vec<Vec<RunBrief>>>;

    /// How many runs of `name` finished since `since`, and the p95 of their durations: of the
    /// newest [`ANOMALY_BASELINE_RUNS`](crate::rules::limits::ANOMALY_BASELINE_RUNS) at most.
    async fn duration_p95(&self, name: &str, since: DateTime<Utc>) -> Result<(i64, Option<i64>)>;

    /// Writes what the evaluation of crons decided, in one transaction: deletes replaced
    /// `missed` rows, flags anomalies, opens or resolves incidents with an [`IncidentEvent`]
    /// for each. An incident that would be a second open one for its cron is not written.
    /// Answers the ids of the incidents opened.
    async fn apply_health(&self, changes: &[HealthChange]) -> Result<Vec<Uuid>>;

    /// Records the summary of what the first judgement after an outage opened.
    async fn record_outage_summary(
        &self,
        at: DateTime<Utc>,
        details: &serde_json::Value,
    ) -> Result<()>;

    // ---- notifications (see `crate::notify`)

    /// Every channel, by name (settings with their secrets: the API shows
    /// [`Channel::view`]).
    async fn channels(&self) -> Result<Vec<Channel>>;

    /// One channel.
    async fn channel(&self, name: &str) -> Result<Option<Channel>>;

    /// Creates or replaces a channel defined by the API, after [`Channel::validate`]. Answers
    /// whether it was created.
    async fn put_channel(&self, channel: &Channel, now: DateTime<Utc>) -> Result<bool>;

    /// Deletes a channel and its notifications. Answers whether it existed.
    async fn delete_channel(&self, name: &str) -> Result<bool>;

    /// Makes the channels of the server's config file these (each validated first; the
    /// config's channels no longer listed are deleted; one of the API with the same name is
    /// replaced), in one transaction.
    async fn replace_config_channels(&self, channels: &[Channel], now: DateTime<Utc>)
    -> Result<()>;

    /// Writes what only time makes due: reminders of incidents still open (channels with a
    /// repeat) and notifications of runs found stuck. Each once, whatever the number of
    /// notifiers. Answers how many were written.
    async fn enqueue_due_notifications(&self, now: DateTime<Utc>) -> Result<u64>;

    /// Claims up to `limit` notifications due at `now` (pending, or sending under a lease that
    /// ended), for `lease`. Rows another transaction is claiming are skipped.
    async fn claim_notifications(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Claimed>>;

    /// Records the outcome of an attempt, and the channel's health with it, if the claim
    /// still holds (answers whether it did).
    async fn record_attempt(&self, claimed: &Claimed, attempt: &Attempt) -> Result<bool>;

    /// Notifications, newest first.
    async fn notifications(
        &self,
        filter: &NotificationFilter,
        page: PageRequest,
    ) -> Result<Page<Notification>>;

    /// One notification.
    async fn notification(&self, id: Uuid) -> Result<Option<Notification>>;

    /// Runs a batch source's query (see [`crate::batch::SqlBatchSource`]) and reads its one
    /// row; a missing or mistyped column is an error naming it.
    async fn batch_figures(&self, sql: &str) -> Result<crate::batch::BatchFigures>;
}

/// Opens the store that `url` names (`postgres://…` or `sqlite://…`), creating and migrating
/// the schema as needed.
///
/// ```no_run
/// # async fn demo() -> cronmon_core::Result<()> {
/// let store = cronmon_core::store::connect("sqlite://cronmon.db").await?;
/// println!("{:?}", store.schedules().await?);
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    // The scheme by its prefix, not by a URL parser: SQLite accepts file paths that are not
    // valid URLs (`sqlite://my jobs.db`) and `sqlite::memory:`.
    match url.split_once(':').map(|(scheme, _)| scheme) {
        #[cfg(feature = "postgres")]
        Some("postgres" | "postgresql") => Ok(Arc::new(PgStore::connect(url).await?)),
        #[cfg(feature = "sqlite")]
        Some("sqlite") => Ok(Arc::new(SqliteStore::connect(url).await?)),
        _ => Err(Error::UnsupportedUrl(redact(url))),
    }
}

/// Opens the store at `url` to read only (a PostgreSQL read replica for the dashboard): see
/// [`PgStore::connect_read_only`]. SQLite has no replicas: its URLs are refused.
///
/// ```no_run
/// # async fn demo() -> cronmon_core::Result<()> {
/// let reads = cronmon_core::store::connect_read_only("postgres://cronmon@replica/cronmon").await?;
/// # Ok(()) }
/// ```
pub async fn connect_read_only(url: &str) -> Result<Arc<dyn Store>> {
    match url.split_once(':').map(|(scheme, _)| scheme) {
        #[cfg(feature = "postgres")]
        Some("postgres" | "postgresql") => Ok(Arc::new(PgStore::connect_read_only(url).await?)),
        _ => Err(Error::InvalidField {
            field: "read database URL",
            message: format!(
                "`{}`: a read database is a PostgreSQL replica (postgres://…)",
                redact(url)
            ),
        }),
    }
}

/// `url` without its password, fit for messages and logs. Never fails: text that is not a
/// URL comes back as it is, unless it holds a `user:password@` part, which is hidden.
///
/// ```
/// use cronmon_core::store::redact;
/// assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
/// ```
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => match parsed.set_password(Some("***")) {
            Ok(()) => parsed.into(),
            Err(()) => redact_unparsed(url),
        },
        Ok(_) => url.to_owned(),
        Err(_) => redact_unparsed(url),
    }
}

/// What [`redact`] answers for text the URL parser refuses: everything between the scheme
/// and the last `@` could be credentials, so all of it goes.
fn redact_unparsed(url: &str) -> String {
    match url.rsplit_once('@') {
        Some((before, host)) => match before.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://***@{host}"),
            None => format!("***@{host}"),
        },
        None => url.to_owned(),
    }
}

/// Fills the days with no runs, so a timeline always has `days` entries, oldest first.
pub(crate) fn fill_timeline(days: u32, rows: Vec<(NaiveDate, i64, i64, i64)>) -> Vec<TimelineDay> {
    let today = Utc::now().date_naive();
    (0..days)
        .rev()
        .filter_map(|back| today.checked_sub_days(chrono::Days::new(u64::from(back))))
        .map(|date| {
            let (completed, failed, total) = rows
                .iter()
                .find(|r| r.0 == date)
                .map_or((0, 0, 0), |r| (r.1, r.2, r.3));
            TimelineDay {
                date,
                completed,
                failed,
                running: (total - completed - failed).max(0),
                total,
            }
        })
        .collect()
}

pub(crate) fn page_of<T>(items: Vec<T>, page: PageRequest, total: i64) -> Page<T> {
    let limit = i64::from(page.limit);
    Page {
        items,
        page: page.page,
        limit: page.limit,
        total,
        total_pages: (total + limit - 1) / limit,
    }
}

/// The events of a batch that pass [`Event::validate`] (a copy only when some do not), and
/// each event's verdict, for [`merge_verdicts`] to put the refusals back in their places.
pub(crate) fn valid_events(events: &[Event]) -> (Vec<Result<()>>, Option<Vec<Event>>) {
    let now = Utc::now();
    let verdicts: Vec<Result<()>> = events.iter().map(|e| e.validate(now)).collect();
    if verdicts.iter().all(Result::is_ok) {
        return (verdicts, None);
    }
    let valid = events
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| v.is_ok())
        .map(|(e, _)| e.clone())
        .collect();
    (verdicts, Some(valid))
}

/// One result per event: the refusal of an invalid one, the outcome written for a valid one
/// (`written` holds those, in order).
pub(crate) fn merge_verdicts(
    verdicts: Vec<Result<()>>,
    written: Vec<Result<Outcome>>,
) -> Vec<Result<Outcome>> {
    let mut written = written.into_iter();
    verdicts
        .into_iter()
        .map(|verdict| match verdict {
            Err(refused) => Err(refused),
            // A writer answers once per event; were it not to, the event stays unconfirmed.
            Ok(()) => written.next().unwrap_or_else(|| {
                Err(Error::InvalidField {
                    field: "event",
                    message: "the store gave no result for this event".into(),
                })
            }),
        })
        .collect()
}

/// What to answer when an update of a finished run matched nothing: the stored status decides.
pub(crate) fn finish_conflict(
    id: Uuid,
    existing: Option<Status>,
    requested: Status,
) -> Result<Outcome> {
    match existing {
        None => Err(Error::UnknownExecution(id)),
        Some(s) if s == requested => Ok(Outcome::AlreadyRecorded),
        Some(existing) => Err(Error::ConflictingOutcome {
            id,
            existing,
            requested,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_password_only() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
        assert_eq!(redact("sqlite::memory:"), "sqlite::memory:");
        // An `@` in the password: the parser takes the last one as the end of it.
        assert_eq!(
            redact("postgres://u:p@ss@h/db?sslmode=require"),
            "postgres://u:***@h/db?sslmode=require"
        );
        // Not URLs at all: unchanged, except what could be credentials.
        assert_eq!(redact("not a url"), "not a url");
        assert_eq!(redact("postgres://u:pw@[::1/db"), "postgres://***@[::1/db");
        for garbage in ["", ":", "://", "@", "postgres://:@", "postgres://u@"] {
            redact(garbage);
        }
        for garbage in [
            "postgres://u:pw@",
            "postgres://u:pw@h:99999/db",
            "::pw@@::",
            "\u{0}:pw@\u{7f}",
            "é://é:pw@é",
            "postgres://u:pw@h/%zz",
        ] {
            let redacted = redact(garbage);
            assert!(!redacted.contains("pw"), "{garbage:?} -> {redacted:?}");
        }
    }

    #[test]
    fn timeline_has_every_day() {
        let today = Utc::now().date_naive();
        let t = fill_timeline(7, vec![(today, 3, 1, 5)]);
        assert_eq!(t.len(), 7);
        assert_eq!(t[6].date, today);
        assert_eq!((t[6].completed, t[6].failed, t[6].running), (3, 1, 1));
        assert_eq!(t[0].total, 0);
    }
}
