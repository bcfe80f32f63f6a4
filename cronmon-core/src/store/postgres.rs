//! The PostgreSQL store: objects in the schema `cronmon`, migrations in
//! `cronmon._cronmon_migrations`.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use chrono::NaiveDate;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{Backend, Store};
use crate::model::{CronName, CronStats, Event, StuckRun, TimelineDay};

super::sql::shared_ops!(sqlx::Postgres);

const UPDATE_FINISH: &str =
    super::sql::update_finish!("greatest(0, (extract(epoch FROM $4 - started_at) * 1000)::bigint)");

/// cronmon's PostgreSQL migrations, tracked apart from the host app's.
pub static MIGRATOR: Migrator = Migrator {
    table_name: Cow::Borrowed("cronmon._cronmon_migrations"),
    create_schemas: Cow::Borrowed(&[Cow::Borrowed("cronmon")]),
    ..sqlx::migrate!("migrations/postgres")
};

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
        Ok(sqlx::query_as(
            "SELECT cron_name, total_executions, completed_count, failed_count, running_count,
                    success_rate::float8 AS success_rate, avg_duration_ms, p95_duration_ms,
                    last_execution_at, last_status
             FROM get_cron_monitoring_stats($1)",
        )
        .bind(hours as i32)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn timeline(&self, days: u32) -> Result<Vec<TimelineDay>> {
        let days = days.clamp(1, 366);
        let rows: Vec<(NaiveDate, i64, i64, i64)> = sqlx::query_as(
            "SELECT (bucket AT TIME ZONE 'UTC')::date AS day,
                    sum(completed)::int8, sum(failed)::int8, sum(started)::int8
             FROM cron_stats_hourly
             WHERE bucket >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                             - make_interval(days => $1 - 1)
             GROUP BY 1",
        )
        .bind(days as i32)
        .fetch_all(&self.pool)
        .await?;
        Ok(super::fill_timeline(days, rows))
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
        cleanup(&self.pool, retention, batch).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
