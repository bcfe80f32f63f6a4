//! The SQLite store: one file in WAL mode with a busy timeout, so many job processes can
//! write it at once.

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::db;
use super::sql::{Dialect, Sql};
use super::{Backend, MIGRATIONS_TABLE, Store};
use crate::model::{CronName, CronStats, Event, StuckRun, TimelineDay};

mod multi_row;

super::health::health_ops!(sqlx::Sqlite, super::HEALTH_SQL);
super::notify::notify_ops!(sqlx::Sqlite, super::NOTIFY_SQL, super::Sqlite);
super::sql::shared_ops!(sqlx::Sqlite, SQL);
super::batch_runs::batch_ops!(sqlx::Sqlite, super::BATCH_SQL);

/// SQLite's fragments of the shared SQL. Timestamps are RFC 3339 text, which `julianday`
/// reads.
#[derive(Debug)]
pub(super) struct Sqlite;

impl Dialect for Sqlite {
    const SKIP_LOCKED: &'static str = "";

    const FOLD_ROLLUPS: Option<&'static str> = None;

    const SCHEMA: Option<&'static str> = None;

    fn elapsed_ms(from: &str, to: &str) -> String {
        format!("max(0, CAST(round((julianday({to}) - julianday({from})) * 86400000) AS INTEGER))")
    }

    fn elapsed_s(from: &str, to: &str) -> String {
        format!("CAST(round((julianday({to}) - julianday({from})) * 86400) AS INTEGER)")
    }

    /// Runs past their cron's max runtime (one hour, the table's default, for a run whose
    /// cron has no schedule row) or silent past its heartbeat timeout.
    fn stuck_runs() -> String {
        "(SELECT execution_id, cron_name, started_at,
        CAST(round(running) AS INTEGER) AS running_ms, timeout_ms, last_heartbeat_at, host, pid
 FROM (SELECT e.id AS execution_id, e.cron_name, e.started_at, e.last_heartbeat_at, e.host,
              e.pid, coalesce(s.timeout_ms, 3600000) AS timeout_ms, s.heartbeat_timeout_ms,
              (julianday('now') - julianday(e.started_at)) * 86400000 AS running,
              (julianday('now') - julianday(coalesce(e.last_heartbeat_at, e.started_at)))
                  * 86400000 AS silent
       FROM cron_executions e
       LEFT JOIN cron_schedules s ON s.cron_name = e.cron_name
       WHERE e.status = 'running')
 WHERE running > timeout_ms
    OR (heartbeat_timeout_ms IS NOT NULL AND silent > heartbeat_timeout_ms))"
            .to_owned()
    }
    /// A version 4 UUID, as the migration's triggers make them.
    const NEW_UUID: &'static str = "unhex(substr(printf('%016x', random()), 1, 12) || '4' \
        || substr(printf('%016x', random()), 1, 3) || substr('89ab', (random() & 3) + 1, 1) \
        || substr(printf('%016x', random()), 1, 15))";

    fn greatest(a: &str, b: &str) -> String {
        format!("max({a}, {b})")
    }

    fn least(a: &str, b: &str) -> String {
        format!("min({a}, {b})")
    }

    fn sum_f64(expr: &str) -> String {
        format!("total({expr})")
    }
    fn epoch_ms(t: &str) -> String {
        format!("CAST((julianday({t}) - 2440587.5) * 86400000 AS INTEGER)")
    }

    fn uuid_text(id: &str) -> String {
        format!("lower(hex({id}))")
    }

    fn matches(name: &str, pattern: &str) -> String {
        format!("{name} GLOB {pattern}")
    }

    fn pattern_of(glob: &str) -> String {
        crate::notify::glob_to_sqlite(glob)
    }
}

static BATCH_SQL: LazyLock<super::batch_runs::BatchSql> =
    LazyLock::new(super::batch_runs::BatchSql::new::<Sqlite>);
static SQL: LazyLock<Sql> = LazyLock::new(Sql::new::<Sqlite>);
static NOTIFY_SQL: LazyLock<super::notify::NotifySql> =
    LazyLock::new(super::notify::NotifySql::new::<Sqlite>);
static HEALTH_SQL: LazyLock<super::health::HealthSql> =
    LazyLock::new(super::health::HealthSql::new::<Sqlite>);

/// cronmon's SQLite migrations, tracked apart from the host app's in [`MIGRATIONS_TABLE`].
pub static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| Migrator {
    table_name: Cow::Borrowed(MIGRATIONS_TABLE),
    ..sqlx::migrate!("migrations/sqlite")
});

/// Per-cron figures over a window; p95 by linear interpolation, as PostgreSQL's
/// `percentile_cont` computes it.
const STATS: &str = "\
WITH w AS (
    SELECT cron_name, status, started_at, duration_ms FROM cron_executions WHERE started_at >= $1
), agg AS (
    SELECT cron_name,
           count(*) AS total_executions,
           sum(status = 'completed') AS completed_count,
           sum(status = 'failed') AS failed_count,
           sum(status = 'running') AS running_count,
           CAST(round(avg(CASE WHEN status <> 'running' THEN duration_ms END)) AS INTEGER) AS avg_duration_ms,
           max(started_at) AS last_execution_at
    FROM w GROUP BY cron_name
), ranked AS (
    SELECT cron_name, duration_ms,
           row_number() OVER (PARTITION BY cron_name ORDER BY duration_ms) AS rn,
           0.95 * (count(*) OVER (PARTITION BY cron_name) - 1) + 1 AS pos
    FROM w WHERE status <> 'running' AND duration_ms IS NOT NULL
), p95 AS (
    SELECT cron_name,
           CAST(round(sum(CASE
               WHEN rn = CAST(pos AS INTEGER) THEN duration_ms * (1 - (pos - CAST(pos AS INTEGER)))
               WHEN rn = CAST(pos AS INTEGER) + 1 THEN duration_ms * (pos - CAST(pos AS INTEGER))
               ELSE 0 END)) AS INTEGER) AS p95_duration_ms
    FROM ranked GROUP BY cron_name
), last AS (
    SELECT cron_name, status AS last_status, max(started_at) FROM w GROUP BY cron_name
)
SELECT agg.cron_name, total_executions, completed_count, failed_count, running_count,
       CASE WHEN completed_count + failed_count = 0 THEN NULL
            ELSE round(100.0 * completed_count / (completed_count + failed_count), 2) END AS success_rate,
       avg_duration_ms, p95_duration_ms, last_execution_at, last_status
FROM agg
LEFT JOIN p95 ON p95.cron_name = agg.cron_name
LEFT JOIN last ON last.cron_name = agg.cron_name
ORDER BY agg.cron_name";

/// cronmon on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: Pool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database `url` names and migrates it. `sqlite::memory:`
    /// gives a private in-memory database.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|_| Error::UnsupportedUrl(super::redact(url)))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // An in-memory database lives in one connection; a file is shared by a few.
        let max = if url.contains(":memory:") || url.contains("mode=memory") {
            1
        } else {
            4
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            // A file does not hang up as a server does; a ping before each use was a round
            // trip to sqlx's worker thread on every write.
            .test_before_acquire(false)
            .min_connections(if max == 1 { 1 } else { 0 })
            .idle_timeout(if max == 1 {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if max == 1 {
                None
            } else {
                Some(Duration::from_secs(1800))
            })
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(options)
            .await
            .map_err(db::unreachable)?;
        Self::from_pool(pool).await
    }

    /// A store on the host application's own pool: migrates cronmon's tables (tracked in
    /// [`MIGRATIONS_TABLE`], apart from the application's migrations) and keeps the pool.
    /// Many job processes writing one file need WAL mode and a busy timeout, as
    /// [`SqliteStore::connect`] sets them.
    ///
    /// ```no_run
    /// # async fn demo() -> cronmon_core::Result<()> {
    /// let pool = sqlx::SqlitePool::connect_lazy("sqlite://app.db").expect("url");
    /// let store = cronmon_core::store::SqliteStore::from_pool(pool).await?;
    /// # Ok(()) }
    /// ```
    pub async fn from_pool(pool: sqlx::SqlitePool) -> Result<Self> {
        MIGRATOR.run(&pool).await.map_err(db::migrate)?;
        Ok(Self { pool })
    }

    /// The pool, for queries of the host app's own.
    pub fn pool(&self) -> &sqlx::SqlitePool {
        &self.pool
    }
}

fn since(d: chrono::Duration) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - d
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn record_start(&self, s: &Start) -> Result<Outcome> {
        record_start(&mut *self.pool.acquire().await.db()?, s).await
    }

    async fn record_finish(&self, f: &Finish) -> Result<Outcome> {
        record_finish(&mut *self.pool.acquire().await.db()?, f).await
    }

    async fn heartbeat(&self, h: &Heartbeat) -> Result<bool> {
        heartbeat(&mut *self.pool.acquire().await.db()?, h).await
    }

    async fn record_batch(&self, events: &[Event]) -> Result<Vec<Result<Outcome>>> {
        let (verdicts, valid) = super::valid_events(events);
        match multi_row::record_runs(&self.pool, valid.as_deref().unwrap_or(events)).await? {
            Some(written) => Ok(super::merge_verdicts(verdicts, written)),
            // The per-event path checks each event itself.
            None => record_batch(&self.pool, events).await,
        }
    }

    async fn execution(&self, id: uuid::Uuid) -> Result<Option<Execution>> {
        execution(&self.pool, id).await
    }

    async fn list_executions(
        &self,
        filter: &ExecutionFilter,
        page: PageRequest,
    ) -> Result<Page<Execution>> {
        list_executions(&self.pool, filter, page).await
    }

    async fn executions_after(
        &self,
        filter: &ExecutionFilter,
        after: Option<(chrono::DateTime<chrono::Utc>, uuid::Uuid)>,
        limit: u32,
    ) -> Result<Vec<Execution>> {
        executions_after(&self.pool, filter, after, limit).await
    }

    async fn stats(&self, hours: u32) -> Result<Vec<CronStats>> {
        crate::rules::stats_hours(hours)?;
        let rows: Vec<super::rows::CronStatsRow> = sqlx::query_as(STATS)
            .bind(since(chrono::Duration::hours(i64::from(hours))))
            .fetch_all(&self.pool)
            .await
            .db()?;
        Ok(super::rows::into_model(rows))
    }

    async fn timeline(&self, days: u32) -> Result<Vec<TimelineDay>> {
        timeline(&self.pool, days).await
    }

    async fn schedules(&self) -> Result<Vec<Schedule>> {
        schedules(&self.pool).await
    }

    async fn schedule(&self, name: &CronName) -> Result<Option<Schedule>> {
        schedule(&self.pool, name).await
    }

    async fn upsert_schedule(&self, name: &CronName, u: &ScheduleUpdate) -> Result<()> {
        upsert_schedule(&self.pool, name, u).await
    }

    async fn stuck_runs(&self) -> Result<Vec<StuckRun>> {
        stuck_runs(&self.pool).await
    }

    async fn fail_orphans(&self, older_than: Duration) -> Result<u64> {
        fail_orphans(&self.pool, older_than).await
    }

    async fn close_run(&self, f: &Finish) -> Result<bool> {
        close_run(&self.pool, f).await
    }

    async fn batch_kinds_recorded(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> crate::Result<Vec<crate::batch::RecordedBatchKind>> {
        batch_ops::recorded(&self.pool, now).await
    }

    async fn batch_runs(
        &self,
        filter: &crate::batch::BatchRunFilter,
        before: Option<(chrono::DateTime<chrono::Utc>, uuid::Uuid)>,
        limit: u32,
    ) -> crate::Result<Vec<crate::batch::BatchRunRecord>> {
        batch_ops::runs(&self.pool, filter, before, limit).await
    }

    async fn batch_run(
        &self,
        id: uuid::Uuid,
    ) -> crate::Result<Option<crate::batch::BatchRunRecord>> {
        batch_ops::run(&self.pool, id).await
    }

    async fn put_batch_reports(
        &self,
        reports: &[(
            String,
            std::result::Result<crate::batch::BatchFigures, String>,
        )],
        now: chrono::DateTime<chrono::Utc>,
    ) -> crate::Result<()> {
        batch_ops::put_reports(&self.pool, reports, now).await
    }

    async fn fail_stale_batch_runs(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
        message: &str,
    ) -> crate::Result<u64> {
        batch_ops::fail_stale(&self.pool, before, now, message).await
    }

    async fn cleanup(&self, retention: Duration, batch: u32) -> Result<u64> {
        cleanup(&self.pool, retention, batch).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn running_on_host(&self, host: &str) -> Result<Vec<crate::model::RunningRun>> {
        running_on_host(&self.pool, host).await
    }

    async fn ping(&self) -> Result<()> {
        ping(&self.pool).await
    }

    async fn batch_figures(&self, sql: &str) -> Result<crate::batch::BatchFigures> {
        batch_figures(&self.pool, sql).await
    }
    async fn pause(
        &self,
        name: &CronName,
        now: chrono::DateTime<chrono::Utc>,
        until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<bool> {
        health_ops::pause(&self.pool, name, now, until).await
    }

    async fn resume(&self, name: &CronName, now: chrono::DateTime<chrono::Utc>) -> Result<bool> {
        health_ops::resume(&self.pool, name, now).await
    }

    async fn incidents(
        &self,
        filter: &crate::health::IncidentFilter,
        page: PageRequest,
    ) -> Result<Page<crate::health::Incident>> {
        health_ops::incidents(&self.pool, filter, page).await
    }

    async fn incident(&self, id: uuid::Uuid) -> Result<Option<crate::health::Incident>> {
        health_ops::incident(&self.pool, id).await
    }

    async fn incident_events(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<crate::health::IncidentEvent>> {
        health_ops::incident_events(&self.pool, after, limit).await
    }

    async fn maintenance_windows(&self) -> Result<Vec<crate::health::MaintenanceWindow>> {
        health_ops::maintenance_windows(&self.pool).await
    }

    async fn put_maintenance_window(&self, w: &crate::health::MaintenanceWindow) -> Result<bool> {
        health_ops::put_maintenance_window(&self.pool, w).await
    }

    async fn delete_maintenance_window(&self, id: uuid::Uuid) -> Result<bool> {
        health_ops::delete_maintenance_window(&self.pool, id).await
    }

    async fn sweeper_status(&self) -> Result<Option<crate::health::SweeperStatus>> {
        health_ops::sweeper_status(&self.pool).await
    }

    async fn sweeper_beat(
        &self,
        instance: &str,
        now: chrono::DateTime<chrono::Utc>,
        gap_after: Duration,
        settle: Duration,
    ) -> Result<(
        crate::health::SweeperStatus,
        Option<chrono::DateTime<chrono::Utc>>,
    )> {
        health_ops::sweeper_beat(&self.pool, instance, now, gap_after, settle).await
    }

    async fn due_crons(
        &self,
        until: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<Vec<crate::health::DueCron>> {
        health_ops::due_crons(&self.pool, until, limit).await
    }

    async fn starts_between(
        &self,
        windows: &[(
            String,
            chrono::DateTime<chrono::Utc>,
            chrono::DateTime<chrono::Utc>,
        )],
    ) -> Result<Vec<Vec<chrono::DateTime<chrono::Utc>>>> {
        health_ops::starts_between(&self.pool, windows).await
    }

    async fn record_judgements(
        &self,
        judgements: &[crate::health::Judgement],
    ) -> Result<Vec<bool>> {
        health_ops::record_judgements(&self.pool, judgements).await
    }

    async fn mark_dirty(&self, names: &[String]) -> Result<()> {
        health_ops::mark_dirty(&self.pool, names).await
    }

    async fn dirty_crons(
        &self,
        limit: u32,
        also: &[String],
    ) -> Result<Vec<crate::health::DirtyCron>> {
        health_ops::dirty_crons(&self.pool, limit, also).await
    }

    async fn recent_runs(
        &self,
        names: &[String],
        limit: u32,
    ) -> Result<Vec<Vec<crate::health::RunBrief>>> {
        health_ops::recent_runs(&self.pool, names, limit).await
    }

    async fn duration_p95(
        &self,
        name: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<(i64, Option<i64>)> {
        health_ops::duration_p95(&self.pool, name, since).await
    }

    async fn apply_health(
        &self,
        changes: &[crate::health::HealthChange],
    ) -> Result<Vec<uuid::Uuid>> {
        health_ops::apply_health(&self.pool, changes).await
    }

    async fn record_outage_summary(
        &self,
        at: chrono::DateTime<chrono::Utc>,
        details: &serde_json::Value,
    ) -> Result<()> {
        health_ops::record_outage_summary(&self.pool, at, details).await
    }
    async fn channels(&self) -> Result<Vec<crate::notify::Channel>> {
        notify_ops::channels(&self.pool).await
    }

    async fn channel(&self, name: &str) -> Result<Option<crate::notify::Channel>> {
        notify_ops::channel(&self.pool, name).await
    }

    async fn put_channel(
        &self,
        channel: &crate::notify::Channel,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        notify_ops::put_channel(&self.pool, channel, now).await
    }

    async fn delete_channel(&self, name: &str) -> Result<bool> {
        notify_ops::delete_channel(&self.pool, name).await
    }

    async fn replace_config_channels(
        &self,
        channels: &[crate::notify::Channel],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        notify_ops::replace_config_channels(&self.pool, channels, now).await
    }

    async fn enqueue_due_notifications(&self, now: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        notify_ops::enqueue_due(&self.pool, now).await
    }

    async fn claim_notifications(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<crate::notify::Claimed>> {
        notify_ops::claim_notifications(&self.pool, now, lease, limit).await
    }

    async fn record_attempt(
        &self,
        claimed: &crate::notify::Claimed,
        attempt: &crate::notify::Attempt,
    ) -> Result<bool> {
        notify_ops::record_attempt(&self.pool, claimed, attempt).await
    }

    async fn notifications(
        &self,
        filter: &crate::notify::NotificationFilter,
        page: PageRequest,
    ) -> Result<crate::model::Page<crate::notify::Notification>> {
        notify_ops::notifications(&self.pool, filter, page).await
    }

    async fn notification(&self, id: uuid::Uuid) -> Result<Option<crate::notify::Notification>> {
        notify_ops::notification(&self.pool, id).await
    }
}
