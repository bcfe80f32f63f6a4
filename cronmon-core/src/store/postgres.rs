//! The PostgreSQL store: objects in the schema `cronmon`, migrations in
//! `cronmon._cronmon_migrations`.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{Backend, Store};
use crate::model::{CronName, CronStats, Event, StuckRun, TimelineDay};

super::sql::shared_ops!(sqlx::Postgres);

mod batch;

const UPDATE_FINISH: &str =
    super::sql::update_finish!("greatest(0, (extract(epoch FROM $4 - started_at) * 1000)::bigint)");

/// cronmon's PostgreSQL migrations, tracked apart from the host app's.
pub static MIGRATOR: Migrator = Migrator {
    table_name: Cow::Borrowed("cronmon._cronmon_migrations"),
    create_schemas: Cow::Borrowed(&[Cow::Borrowed("cronmon")]),
    ..sqlx::migrate!("migrations/postgres")
};

/// Per-cron figures over the last `$1` hours, counted by whole hours from the roll-ups (so a
/// window of 24 covers 24 to 25 hours) and never from the history itself. The p95 comes from
/// the duration histogram: the bucket that holds it, interpolated inside (buckets are 19 %
/// wide). `get_cron_monitoring_stats()` gives the exact figures for psql, at the cost of a
/// scan.
const STATS: &str = "\
WITH since AS (SELECT date_trunc('hour', now() - make_interval(hours => $1)) AS t),
h AS (
    SELECT cron_name, sum(started)::int8 AS total, sum(completed)::int8 AS completed,
           sum(failed)::int8 AS failed, sum(duration_sum_ms) AS dsum, sum(duration_count) AS dn
    FROM cron_stats_hourly, since WHERE bucket >= since.t
    GROUP BY cron_name HAVING sum(started) > 0
),
hist AS (
    SELECT cron_name, le, sum(n) AS n
    FROM cron_durations_hourly, since WHERE bucket >= since.t
    GROUP BY cron_name, le HAVING sum(n) > 0
),
cum AS (
    SELECT cron_name, le, n,
           sum(n) OVER (PARTITION BY cron_name ORDER BY le) - n AS before,
           sum(n) OVER (PARTITION BY cron_name) AS total
    FROM hist
),
p95 AS (
    SELECT DISTINCT ON (cron_name) cron_name,
           round((2 ^ (le / 4.0) - 1)
                 + (2 ^ ((le + 1) / 4.0) - 2 ^ (le / 4.0)) * (0.95 * total - before) / n)::int8 AS ms
    FROM cum WHERE before + n >= 0.95 * total
    ORDER BY cron_name, le
)
SELECT h.cron_name, h.total AS total_executions, h.completed AS completed_count,
       h.failed AS failed_count, h.total - h.completed - h.failed AS running_count,
       CASE WHEN h.completed + h.failed = 0 THEN NULL
            ELSE round(100.0 * h.completed / (h.completed + h.failed), 2)::float8 END AS success_rate,
       CASE WHEN h.dn = 0 THEN NULL ELSE round(h.dsum / h.dn)::int8 END AS avg_duration_ms,
       p95.ms AS p95_duration_ms,
       l.started_at AS last_execution_at, l.status AS last_status
FROM h
LEFT JOIN p95 ON p95.cron_name = h.cron_name
LEFT JOIN LATERAL (SELECT e.started_at, e.status FROM cron_executions e
                   WHERE e.cron_name = h.cron_name
                   ORDER BY e.started_at DESC LIMIT 1) l ON TRUE
ORDER BY h.cron_name";

/// cronmon on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    /// Connects to `url` and migrates the `cronmon` schema.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| Error::UnsupportedUrl(super::redact(url)))?
            .options([("search_path", "cronmon")])
            .application_name("cronmon");
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(Error::Unreachable)?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool, for queries of the host app's own.
    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
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
        match batch::record_batch_fast(&self.pool, events).await? {
            Some(results) => Ok(results),
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

    async fn stats(&self, hours: u32) -> Result<Vec<CronStats>> {
        let hours = super::clamp_hours(hours)?;
        Ok(sqlx::query_as(STATS)
            .bind(hours as i32)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn timeline(&self, days: u32) -> Result<Vec<TimelineDay>> {
        timeline(&self.pool, days).await
    }

    async fn schedules(&self) -> Result<Vec<Schedule>> {
        schedules(&self.pool).await
    }

    async fn upsert_schedule(&self, name: &CronName, u: &ScheduleUpdate) -> Result<()> {
        upsert_schedule(&self.pool, name, u).await
    }

    async fn stuck_runs(&self) -> Result<Vec<StuckRun>> {
        Ok(sqlx::query_as("SELECT * FROM detect_stuck_crons()")
            .fetch_all(&self.pool)
            .await?)
    }

    async fn fail_orphans(&self, older_than: Duration) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE cron_executions e SET
                 status = 'failed', reason = 'timed_out', completed_at = now(),
                 duration_ms = (extract(epoch FROM now() - e.started_at) * 1000)::bigint,
                 error_message = 'closed by cronmon: still running after '
                     || round(extract(epoch FROM now() - e.started_at))::bigint || ' s with no end reported'
             FROM detect_stuck_crons() s
             WHERE e.id = s.execution_id AND e.status = 'running'
               AND e.started_at < now() - make_interval(secs => $1)",
        )
        .bind(older_than.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn close_run(&self, f: &Finish) -> Result<bool> {
        close_run(&self.pool, f).await
    }

    async fn cleanup(&self, retention: Duration, batch: u32) -> Result<u64> {
        let deleted = cleanup(&self.pool, retention, batch).await?;
        sqlx::query("DELETE FROM cron_durations_hourly WHERE n <= 0")
            .execute(&self.pool)
            .await?;
        Ok(deleted)
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn running_on_host(&self, host: &str) -> Result<Vec<crate::model::RunningRun>> {
        running_on_host(&self.pool, host).await
    }
}
