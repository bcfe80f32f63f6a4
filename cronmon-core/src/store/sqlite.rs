//! The SQLite store: one file in WAL mode with a busy timeout, so many job processes can
//! write it at once.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use chrono::NaiveDate;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{Backend, Store};
use crate::model::{CronName, CronStats, Event, StuckRun, TimelineDay};

super::sql::shared_ops!(sqlx::Sqlite);

const UPDATE_FINISH: &str = super::sql::update_finish!(
    "max(0, CAST(round((julianday($4) - julianday(started_at)) * 86400000) AS INTEGER))"
);

/// cronmon's SQLite migrations, tracked apart from the host app's.
pub static MIGRATOR: Migrator = Migrator {
    table_name: Cow::Borrowed("_cronmon_migrations"),
    ..sqlx::migrate!("migrations/sqlite")
};

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

const STUCK: &str = "\
SELECT e.id AS execution_id, e.cron_name, e.started_at,
       CAST((julianday('now') - julianday(e.started_at)) * 86400000 AS INTEGER) AS running_ms,
       coalesce(s.timeout_ms, 3600000) AS timeout_ms,
       e.last_heartbeat_at, e.host, e.pid
FROM cron_executions e
LEFT JOIN cron_schedules s ON s.cron_name = e.cron_name
WHERE e.status = 'running'
  AND ((julianday('now') - julianday(e.started_at)) * 86400000 > coalesce(s.timeout_ms, 3600000)
       OR (s.heartbeat_timeout_ms IS NOT NULL
           AND (julianday('now') - julianday(coalesce(e.last_heartbeat_at, e.started_at))) * 86400000
               > s.heartbeat_timeout_ms))
ORDER BY e.started_at";

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
            .map_err(Error::Unreachable)?;
        MIGRATOR.run(&pool).await?;
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
        record_start(&mut *self.pool.acquire().await?, s).await
    }

    async fn record_finish(&self, f: &Finish) -> Result<Outcome> {
        record_finish(&mut *self.pool.acquire().await?, f).await
    }

    async fn heartbeat(&self, h: &Heartbeat) -> Result<bool> {
        heartbeat(&mut *self.pool.acquire().await?, h).await
    }

    async fn record_batch(&self, events: &[Event]) -> Result<Vec<Result<Outcome>>> {
        record_batch(&self.pool, events).await
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

    async fn stats(&self, hours: u32) -> Result<Vec<CronStats>> {
        let hours = super::clamp_hours(hours)?;
        Ok(sqlx::query_as(STATS)
            .bind(since(chrono::Duration::hours(i64::from(hours))))
            .fetch_all(&self.pool)
            .await?)
    }

    async fn timeline(&self, days: u32) -> Result<Vec<TimelineDay>> {
        let days = days.clamp(1, 366);
        let first = chrono::Utc::now().date_naive() - chrono::Days::new(u64::from(days - 1));
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT substr(bucket, 1, 10) AS day, sum(completed), sum(failed), sum(started)
             FROM cron_stats_hourly WHERE bucket >= $1 GROUP BY 1",
        )
        .bind(first.format("%Y-%m-%d").to_string())
        .fetch_all(&self.pool)
        .await?;
        let rows = rows
            .into_iter()
            .filter_map(|(d, c, f, t)| Some((NaiveDate::from_str(&d).ok()?, c, f, t)))
            .collect();
        Ok(super::fill_timeline(days, rows))
    }

    async fn schedules(&self) -> Result<Vec<Schedule>> {
        schedules(&self.pool).await
    }

    async fn upsert_schedule(&self, name: &CronName, u: &ScheduleUpdate) -> Result<()> {
        upsert_schedule(&self.pool, name, u).await
    }

    async fn stuck_runs(&self) -> Result<Vec<StuckRun>> {
        Ok(sqlx::query_as(STUCK).fetch_all(&self.pool).await?)
    }

    async fn fail_orphans(&self, older_than: Duration) -> Result<u64> {
        let older_than = chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::MAX);
        let now = chrono::Utc::now();
        let stuck: Vec<StuckRun> = sqlx::query_as(STUCK).fetch_all(&self.pool).await?;
        let mut closed = 0;
        for run in stuck
            .into_iter()
            .filter(|r| r.started_at < now - older_than)
        {
            let mut f = Finish::now(run.execution_id, Status::Failed);
            f.reason = Some(crate::model::Reason::TimedOut);
            f.completed_at = now;
            f.duration_ms = Some((now - run.started_at).num_milliseconds());
            f.error_message = Some(format!(
                "closed by cronmon: still running after {} s with no end reported",
                (now - run.started_at).num_seconds()
            ));
            if close_run(&self.pool, &f).await? {
                closed += 1;
            }
        }
        Ok(closed)
    }

    async fn close_run(&self, f: &Finish) -> Result<bool> {
        close_run(&self.pool, f).await
    }

    async fn cleanup(&self, retention: Duration, batch: u32) -> Result<u64> {
        cleanup(&self.pool, retention, batch).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
