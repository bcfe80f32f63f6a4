//! The PostgreSQL store: objects in the schema `cronmon`, migrations in
//! `cronmon._cronmon_migrations`.

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use chrono::{DurationRound, Timelike};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::db;
use super::sql::{Dialect, Sql};
use super::{Backend, MIGRATIONS_TABLE, Store};
use crate::model::{CronName, CronStats, Event, StuckRun, TimelineDay};

super::health::health_ops!(sqlx::Postgres, super::HEALTH_SQL);
super::notify::notify_ops!(sqlx::Postgres, super::NOTIFY_SQL, super::Postgres);
super::sql::shared_ops!(sqlx::Postgres, SQL);
super::batch_runs::batch_ops!(sqlx::Postgres, super::BATCH_SQL);

mod batch;
mod one_statement;
mod sweep;

/// The schema that holds every object of cronmon's. The migration, and the statements below
/// that only PostgreSQL runs, spell it out; the shared statements take it from here.
pub(super) const SCHEMA: &str = "cronmon";

/// PostgreSQL's fragments of the shared SQL.
#[derive(Debug)]
pub(super) struct Postgres;

impl Dialect for Postgres {
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";

    const FOLD_ROLLUPS: Option<&'static str> = Some(FOLD_ROLLUPS);

    const SCHEMA: Option<&'static str> = Some(SCHEMA);

    fn elapsed_ms(from: &str, to: &str) -> String {
        format!("greatest(0, (extract(epoch FROM {to} - {from}) * 1000)::bigint)")
    }

    fn elapsed_s(from: &str, to: &str) -> String {
        format!("round(extract(epoch FROM {to} - {from}))::bigint")
    }

    /// The migration's `detect_stuck_crons()`, which holds the rule (and the one-hour default
    /// max runtime of a run with no schedule).
    fn stuck_runs() -> String {
        "cronmon.detect_stuck_crons()".to_owned()
    }

    const NEW_UUID: &'static str = "gen_random_uuid()";

    fn greatest(a: &str, b: &str) -> String {
        format!("greatest({a}, {b})")
    }

    fn least(a: &str, b: &str) -> String {
        format!("least({a}, {b})")
    }

    fn sum_f64(expr: &str) -> String {
        format!("sum(CAST({expr} AS DOUBLE PRECISION))")
    }
    fn epoch_ms(t: &str) -> String {
        format!("cronmon.epoch_ms({t})")
    }

    fn uuid_text(id: &str) -> String {
        format!("{id}::text")
    }

    fn matches(name: &str, pattern: &str) -> String {
        format!("{name} LIKE {pattern} ESCAPE '\\'")
    }

    fn pattern_of(glob: &str) -> String {
        crate::notify::glob_to_like(glob)
    }
}

static BATCH_SQL: LazyLock<super::batch_runs::BatchSql> =
    LazyLock::new(super::batch_runs::BatchSql::new::<Postgres>);
static SQL: LazyLock<Sql> = LazyLock::new(Sql::new::<Postgres>);
static NOTIFY_SQL: LazyLock<super::notify::NotifySql> =
    LazyLock::new(super::notify::NotifySql::new::<Postgres>);
static HEALTH_SQL: LazyLock<super::health::HealthSql> =
    LazyLock::new(super::health::HealthSql::new::<Postgres>);

/// cronmon's PostgreSQL migrations, tracked apart from the host app's in
/// `cronmon.`[`MIGRATIONS_TABLE`].
pub static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| Migrator {
    table_name: Cow::Owned(format!("{SCHEMA}.{MIGRATIONS_TABLE}")),
    create_schemas: Cow::Borrowed(&[Cow::Borrowed(SCHEMA)]),
    ..sqlx::migrate!("migrations/postgres")
});

/// Per-cron figures since the hour `$1` (UTC day `$2`, hour of the day `$3`), counted by whole
/// hours from the roll-ups and never from the history itself: per cron, one row of the window
/// roll-ups (migration 0008) per day the window touches, plus what is pending. The p95 comes
/// from [`HISTOGRAM`], read beside it. `get_cron_monitoring_stats()` gives the exact figures for
/// psql, at the cost of a scan. Sums are clamped to what a BIGINT holds, so no stored row,
/// however extreme, fails the read.
const STATS: &str = "\
WITH since AS (SELECT $1::timestamptz AS t, $2::date AS day, $3::int AS h),
-- A window row's part: the whole day, less the hours before the window on its first day (as
-- NUMERIC, which no stored value overflows).
runs AS (
    SELECT w.cron_name,
           w.started[24]::numeric
               - CASE WHEN w.day = since.day THEN coalesce(w.started[since.h], 0)::numeric ELSE 0 END AS started,
           w.completed[24]::numeric
               - CASE WHEN w.day = since.day THEN coalesce(w.completed[since.h], 0)::numeric ELSE 0 END AS completed,
           w.failed[24]::numeric
               - CASE WHEN w.day = since.day THEN coalesce(w.failed[since.h], 0)::numeric ELSE 0 END AS failed,
           w.duration_sum_ms[24]::numeric
               - CASE WHEN w.day = since.day THEN coalesce(w.duration_sum_ms[since.h], 0)::numeric ELSE 0 END AS dsum,
           w.duration_count[24]::numeric
               - CASE WHEN w.day = since.day THEN coalesce(w.duration_count[since.h], 0)::numeric ELSE 0 END AS dn
    FROM cronmon.cron_stats_window w, since
    WHERE w.day >= $2
    UNION ALL
    SELECT p.cron_name, p.started, p.completed, p.failed, p.duration_sum_ms, p.duration_count
    FROM cronmon.cron_rollup_pending p, since
    WHERE p.bucket >= since.t
),
h AS (
    SELECT cron_name, cronmon.cron_clamp(sum(started)) AS total,
           cronmon.cron_clamp(sum(completed)) AS completed, cronmon.cron_clamp(sum(failed)) AS failed,
           sum(dsum) AS dsum, sum(dn) AS dn
    FROM runs
    GROUP BY cron_name HAVING sum(started) > 0
)
SELECT h.cron_name, h.total AS total_executions, h.completed AS completed_count,
       h.failed AS failed_count, h.total - h.completed - h.failed AS running_count,
       CASE WHEN h.completed + h.failed = 0 THEN NULL
            ELSE round(100.0 * h.completed / (h.completed + h.failed), 2)::float8 END AS success_rate,
       CASE WHEN h.dn = 0 THEN NULL
            ELSE least(greatest(round(h.dsum / h.dn), 0), 9223372036854775807)::int8 END AS avg_duration_ms,
       NULL::int8 AS p95_duration_ms,
       CASE WHEN lp.cron_name IS NULL THEN lr.started_at ELSE l.started_at END AS last_execution_at,
       CASE WHEN lp.cron_name IS NULL THEN lr.status ELSE l.status END AS last_status
FROM h
-- The newest run as last folded (migration 0009), or looked up where a write since left the
-- cron pending.
LEFT JOIN cronmon.cron_latest_runs lr ON lr.cron_name = h.cron_name
LEFT JOIN (SELECT DISTINCT cron_name FROM cronmon.cron_latest_pending) lp ON lp.cron_name = h.cron_name
LEFT JOIN LATERAL (SELECT e.started_at, e.status FROM cronmon.cron_executions e
                   WHERE lp.cron_name IS NOT NULL AND e.cron_name = h.cron_name
                   ORDER BY e.started_at DESC LIMIT 1) l ON TRUE
ORDER BY h.cron_name";

/// The duration histogram of [`STATS`]' window: per cron (in order) and bucket `le` (in order),
/// how many runs ended with a duration in it. Counts as floats: exact up to 2^53, and far cheaper
/// to sum than NUMERIC.
const HISTOGRAM: &str = "\
SELECT cron_name, le, sum(n::float8) AS n
FROM (SELECT w.cron_name, w.le,
             w.n[24]::float8 - CASE WHEN w.day = $2 THEN coalesce(w.n[$3], 0)::float8 ELSE 0 END AS n
      FROM cronmon.cron_durations_window w
      WHERE w.day >= $2
      UNION ALL
      SELECT p.cron_name, p.le, p.n
      FROM cronmon.cron_durations_pending p
      WHERE p.bucket >= $1) d
GROUP BY cron_name, le HAVING sum(n::float8) > 0
ORDER BY cron_name, le";

/// The p95 of each cron in `hist` (rows of [`HISTOGRAM`], in its order), in ms: the bucket that
/// holds it, interpolated inside (bucket `le` holds 2^(le/4) - 1 to 2^((le+1)/4) - 1 ms, 19 %
/// wide). Clamped to 0..=9e18, so no stored bucket, however extreme, breaks the read.
fn p95_of(hist: &[(String, i16, f64)]) -> std::collections::HashMap<&str, i64> {
    let mut p95 = std::collections::HashMap::new();
    for cron in hist.chunk_by(|a, b| a.0 == b.0) {
        let total: f64 = cron.iter().map(|(_, _, n)| n).sum();
        let mut before = 0.0;
        for (name, le, n) in cron {
            // (before + n) / total >= 0.95, exactly for whole counts below 2^48.
            if (before + n) * 20.0 >= total * 19.0 {
                let low = 2f64.powf(f64::from(*le) / 4.0);
                let high = 2f64.powf((f64::from(*le) + 1.0) / 4.0);
                // A bucket too high for a float (only a hand-made row) is past every bound.
                let ms = if high.is_finite() {
                    (low - 1.0) + (high - low) * ((0.95 * total - before) / n)
                } else {
                    f64::INFINITY
                };
                // The clamp keeps every value in range (and a NaN casts to 0).
                p95.insert(name.as_str(), ms.round().clamp(0.0, 9e18) as i64);
                break;
            }
            before += n;
        }
    }
    p95
}

/// Times a batch is run again after the database rolled it back on a deadlock or a
/// serialization failure, before the error is returned (and the caller retries later).
const MAX_LOCK_CONFLICTS: u64 = 3;

/// `statement_timeout` of cronmon's own connections unless the URL sets one: no statement of
/// cronmon's takes long, and one that hangs must fail instead of holding a writer.
pub const DEFAULT_STATEMENT_TIMEOUT: &str = "30s";

/// `lock_timeout` of cronmon's own connections unless the URL sets one: a write that waits
/// this long for a lock (a table locked by a migration or by hand) fails as transient, so the
/// API answers 503 and recorders retry, instead of every writer queueing behind it.
pub const DEFAULT_LOCK_TIMEOUT: &str = "10s";

/// Folds the roll-up changes that writes leave pending (migration 0007) into the roll-ups.
/// Also looks up the newest run of the crons written since (migration 0009).
const FOLD_ROLLUPS: &str = "SELECT cronmon.cron_rollup_fold() + cronmon.cron_latest_fold()";

/// How often a store folds pending roll-up changes while it writes. Reads add what is pending,
/// so this bounds the work a read does, not what it sees.
const FOLD_EVERY_MS: i64 = 1000;

/// cronmon on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: Pool,
    /// When this store (and its clones) last started a fold, in ms since the epoch.
    folded_at: Arc<AtomicI64>,
}

impl PgStore {
    /// Connects to `url` and migrates the `cronmon` schema.
    ///
    /// Every connection gets a `statement_timeout` ([`DEFAULT_STATEMENT_TIMEOUT`]) and a
    /// `lock_timeout` ([`DEFAULT_LOCK_TIMEOUT`]) unless the URL sets its own, e.g.
    /// `postgres://…/db?options=-c%20lock_timeout%3D2s` or `?options[statement_timeout]=60s`
    /// (`0` turns one off).
    pub async fn connect(url: &str) -> Result<Self> {
        Self::from_pool(Self::pool_for(url, false).await?).await
    }

    /// Connects to `url` to read only: a read replica (a hot standby) for the dashboard's
    /// reads. Nothing is migrated and every transaction is read-only
    /// (`default_transaction_read_only`); the schema must already be at this version's last
    /// migration (the primary's, replicated), else the error says how far behind it is.
    ///
    /// ```no_run
    /// # async fn demo() -> cronmon_core::Result<()> {
    /// let replica = cronmon_core::store::PgStore::connect_read_only("postgres://cronmon@replica/cronmon").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_read_only(url: &str) -> Result<Self> {
        let pool = Self::pool_for(url, true).await?;
        let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let applied: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT max(version) FROM {SCHEMA}.{MIGRATIONS_TABLE} WHERE success"
        )))
        .fetch_one(&pool)
        .await
        .map_err(|e| {
            Error::Migrate(crate::error::DatabaseError::new(
                Box::new(std::io::Error::other(format!(
                    "the read database has no cronmon schema ({e}); point it at a replica of \
                     the primary, which the server migrates"
                ))),
                None,
                false,
                false,
            ))
        })?;
        if applied.unwrap_or(0) < latest {
            return Err(Error::Migrate(crate::error::DatabaseError::new(
                Box::new(std::io::Error::other(format!(
                    "the read database's schema is at migration {}, this version needs {latest}: \
                     let the replica catch up with the primary",
                    applied.unwrap_or(0)
                ))),
                None,
                false,
                false,
            )));
        }
        Ok(Self::on(pool))
    }

    /// A pool on `url` with cronmon's connection settings, read-only if asked.
    async fn pool_for(url: &str, read_only: bool) -> Result<Pool> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|_| Error::UnsupportedUrl(super::redact(url)))?
            // cronmon's own SQL names its schema; the search path serves the host app's
            // queries on `pool()`, which may name cronmon's tables unqualified, and batch
            // sources' queries, which name the application's tables (in `public`).
            .options([("search_path", "cronmon,public")])
            .application_name("cronmon");
        for (setting, default) in [
            ("statement_timeout", DEFAULT_STATEMENT_TIMEOUT),
            ("lock_timeout", DEFAULT_LOCK_TIMEOUT),
            // JIT compiles any statement the planner estimates dear; cronmon's reads are
            // estimated dear on a large history yet run in milliseconds, and compiling them
            // would cost more than running them.
            ("jit", "off"),
        ] {
            if !options.get_options().is_some_and(|o| o.contains(setting)) {
                options = options.options([(setting, default)]);
            }
        }
        if read_only {
            options = options.options([("default_transaction_read_only", "on")]);
        }
        PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(db::unreachable)
    }

    /// A store on the host application's own pool: migrates the `cronmon` schema (tracked in
    /// `cronmon._cronmon_migrations`, apart from the application's migrations) and keeps the
    /// pool. cronmon names every object with its schema, so the pool needs no `search_path`.
    ///
    /// ```no_run
    /// # async fn demo() -> cronmon_core::Result<()> {
    /// let pool = sqlx::PgPool::connect_lazy("postgres://app@localhost/app").expect("url");
    /// let store = cronmon_core::store::PgStore::from_pool(pool).await?;
    /// # Ok(()) }
    /// ```
    pub async fn from_pool(pool: sqlx::PgPool) -> Result<Self> {
        MIGRATOR.run(&pool).await.map_err(db::migrate)?;
        Ok(Self::on(pool))
    }

    /// The pool, for queries of the host app's own.
    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }

    fn on(pool: Pool) -> Self {
        Self {
            pool,
            folded_at: Arc::default(),
        }
    }

    /// Starts a fold of the pending roll-up changes if none started in the last second, beside
    /// the writes rather than in their way. A fold that fails or is cut short loses nothing:
    /// the changes stay pending (and counted by reads) for the next.
    fn fold_if_due(&self) {
        let now = chrono::Utc::now().timestamp_millis();
        let last = self.folded_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) < FOLD_EVERY_MS
            || self
                .folded_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pool = self.pool.clone();
        runtime.spawn(async move {
            if let Err(e) = sqlx::query(FOLD_ROLLUPS).execute(&pool).await {
                // At most once a second: pending changes that keep growing slow every read.
                tracing::warn!(error = %e, "roll-up changes stay pending until the next fold");
            }
        });
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
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
        // The multi-row path writes starts without looking at them: refuse the invalid events
        // here, once, and write the others.
        let (verdicts, valid) = super::valid_events(events);
        let valid = valid.as_deref().unwrap_or(events);
        // The cron locks leave no deadlock between cronmon's batches; a run whose start was
        // not yet committed when they were taken, or another writer of the host app's, can
        // still close a cycle, and then the whole transaction is run again.
        let mut conflicts = 0;
        let written = loop {
            let attempt = match one_statement::record_runs(&self.pool, valid).await {
                Ok(Some(results)) => Ok(results),
                Ok(None) => batch::record_batch_locked(&self.pool, valid).await,
                Err(e) => Err(e),
            };
            match attempt {
                Err(e) if batch::is_lock_conflict(&e) && conflicts < MAX_LOCK_CONFLICTS => {
                    conflicts += 1;
                    tracing::debug!(error = %e, conflicts, "batch rolled back on a lock conflict; again");
                    tokio::time::sleep(Duration::from_millis(fastrand::u64(5..50) * conflicts))
                        .await;
                }
                other => break other?,
            }
        };
        self.fold_if_due();
        Ok(super::merge_verdicts(verdicts, written))
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
        // Whole hours, so a window of 24 covers 24 to 25 hours.
        let since = chrono::Utc::now() - chrono::Duration::hours(i64::from(hours));
        let since = since
            .duration_trunc(chrono::Duration::hours(1))
            .unwrap_or(since);
        // Planned with their values each time (`persistent(false)`): the days asked for pick
        // the window rows through their key, where a generic plan would read the whole table.
        // The two run side by side, on two connections.
        let (rows, hist) = tokio::try_join!(
            sqlx::query_as::<_, super::rows::CronStatsRow>(STATS)
                .bind(since)
                .bind(since.date_naive())
                .bind(since.hour() as i32)
                .persistent(false)
                .fetch_all(&self.pool),
            sqlx::query_as::<_, (String, i16, f64)>(HISTOGRAM)
                .bind(since)
                .bind(since.date_naive())
                .bind(since.hour() as i32)
                .persistent(false)
                .fetch_all(&self.pool),
        )
        .db()?;
        let p95 = p95_of(&hist);
        let mut rows: Vec<CronStats> = super::rows::into_model(rows);
        for row in &mut rows {
            row.p95_duration_ms = p95.get(row.cron_name.as_str()).copied();
        }
        Ok(rows)
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
        let deleted = cleanup(&self.pool, retention, batch).await?;
        sqlx::query("DELETE FROM cronmon.cron_durations_hourly WHERE n <= 0")
            .execute(&self.pool)
            .await
            .db()?;
        // Window rows that retention emptied: only days it reached (their key comes first).
        let Some(last_day) = chrono::Utc::now()
            .date_naive()
            .checked_sub_days(chrono::Days::new(retention.as_secs() / 86_400))
        else {
            return Ok(deleted);
        };
        for emptied in [
            "DELETE FROM cronmon.cron_stats_window WHERE day <= $1 AND started[24] <= 0",
            "DELETE FROM cronmon.cron_durations_window WHERE day <= $1 AND n[24] <= 0",
            "DELETE FROM cronmon.cron_stats_days WHERE day <= $1 AND started <= 0",
        ] {
            sqlx::query(emptied)
                .bind(last_day)
                .execute(&self.pool)
                .await
                .db()?;
        }
        Ok(deleted)
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
        sweep::starts_between(&self.pool, windows).await
    }

    async fn record_judgements(
        &self,
        judgements: &[crate::health::Judgement],
    ) -> Result<Vec<bool>> {
        match sweep::record_judgements(&self.pool, judgements).await? {
            Some(applied) => Ok(applied),
            None => health_ops::record_judgements(&self.pool, judgements).await,
        }
    }

    async fn mark_dirty(&self, names: &[String]) -> Result<()> {
        health_ops::mark_dirty(&self.pool, names).await
    }

    async fn dirty_crons(
        &self,
        limit: u32,
        also: &[String],
    ) -> Result<Vec<crate::health::DirtyCron>> {
        sweep::dirty_crons(&self.pool, limit, also).await
    }

    async fn recent_runs(
        &self,
        names: &[String],
        limit: u32,
    ) -> Result<Vec<Vec<crate::health::RunBrief>>> {
        sweep::recent_runs(&self.pool, names, limit).await
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
        sweep::apply_health(&self.pool, changes).await
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

#[cfg(test)]
mod tests {
    use super::p95_of;

    fn hist(rows: &[(&str, i16, f64)]) -> Vec<(String, i16, f64)> {
        rows.iter()
            .map(|(c, le, n)| ((*c).to_owned(), *le, *n))
            .collect()
    }

    #[test]
    fn the_p95_is_interpolated_in_its_bucket() {
        // 19 runs in bucket 40 (1023 to 1216 ms), one in bucket 48 (4095 to 4869 ms): the 95th
        // percentile is the last of bucket 40.
        let rows = hist(&[("a", 40, 19.0), ("a", 48, 1.0), ("b", 0, 1.0)]);
        let p95 = p95_of(&rows);
        assert_eq!(p95["a"], 1217);
        assert_eq!(p95["b"], 0);
    }

    #[test]
    fn no_stored_bucket_breaks_the_read() {
        let rows = hist(&[
            ("huge", i16::MAX, 1.0),
            ("tiny", i16::MIN, 1.0),
            ("odd", 7, f64::MAX),
        ]);
        let p95 = p95_of(&rows);
        assert_eq!(p95["huge"], 9_000_000_000_000_000_000);
        assert_eq!(p95["tiny"], 0);
        assert!(p95["odd"] >= 0);
    }
}
