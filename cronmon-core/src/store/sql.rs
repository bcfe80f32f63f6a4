//! SQL that reads the same on PostgreSQL and SQLite, and the operations built only from it.
//!
//! On PostgreSQL the pool's `search_path` is `cronmon`, so unqualified names resolve there as
//! they do in SQLite. `$n` placeholders work on both.

pub(super) const INSERT_START: &str = "\
INSERT INTO cron_executions
    (id, cron_name, status, trigger_type, started_at, host, pid, boot_id, version, scheduled_for)
VALUES ($1, $2, 'running', $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (id) DO NOTHING";

/// Closes a running run, or replaces the end cronmon itself wrote for one (`timed_out`,
/// `crashed`) by the job's real end. Without a duration (`$5` null), the duration is the
/// time from the stored start to `$4`: `$elapsed` is that in the backend's dialect.
macro_rules! update_finish {
    ($elapsed:literal) => {
        concat!(
            "UPDATE cron_executions SET
    status = $2, reason = $3, completed_at = $4, duration_ms = coalesce($5, ",
            $elapsed,
            "), output = $6,
    output_truncated = $7, error_message = $8, exit_code = $9, cpu_ms = $10, max_rss_kb = $11
WHERE id = $1
  AND (status = 'running' OR (reason IN ('timed_out', 'crashed') AND $12))"
        )
    };
}

/// A run whose completion arrived before its start: stored whole in one go.
pub(super) const INSERT_FINISHED: &str = "\
INSERT INTO cron_executions
    (id, cron_name, status, trigger_type, started_at, host, pid, boot_id, version, scheduled_for,
     reason, completed_at, duration_ms, output, output_truncated, error_message, exit_code,
     cpu_ms, max_rss_kb)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
ON CONFLICT (id) DO NOTHING";

pub(super) const STATUS_OF: &str = "SELECT status FROM cron_executions WHERE id = $1";

pub(super) const HEARTBEAT: &str = "\
UPDATE cron_executions SET
    last_heartbeat_at = $2,
    progress_done = coalesce($3, progress_done),
    progress_total = coalesce($4, progress_total)
WHERE id = $1 AND status = 'running'";

pub(super) const EXECUTION_COLUMNS: &str = "\
id, cron_name, status, reason, trigger_type, started_at, completed_at, duration_ms, output,
output_truncated, error_message, exit_code, host, pid, version, cpu_ms, max_rss_kb,
last_heartbeat_at, progress_done, progress_total, scheduled_for";

pub(super) const EXECUTION_BY_ID: &str = "\
SELECT id, cron_name, status, reason, trigger_type, started_at, completed_at, duration_ms, output,
output_truncated, error_message, exit_code, host, pid, version, cpu_ms, max_rss_kb,
last_heartbeat_at, progress_done, progress_total, scheduled_for
FROM cron_executions WHERE id = $1";

pub(super) const UPSERT_SCHEDULE: &str = "\
INSERT INTO cron_schedules AS s
    (cron_name, display_name, cron_expression, timezone, is_enabled, timeout_ms, grace_ms,
     heartbeat_timeout_ms, failure_threshold, recovery_threshold, updated_at)
VALUES ($1, $2, $3, coalesce($4, 'UTC'), coalesce($5, TRUE), coalesce($6, 3600000),
        coalesce($7, 300000), $8, coalesce($9, 3), coalesce($10, 1), $11)
ON CONFLICT (cron_name) DO UPDATE SET
    display_name = coalesce($2, s.display_name),
    cron_expression = coalesce($3, s.cron_expression),
    timezone = coalesce($4, s.timezone),
    is_enabled = coalesce($5, s.is_enabled),
    timeout_ms = coalesce($6, s.timeout_ms),
    grace_ms = coalesce($7, s.grace_ms),
    heartbeat_timeout_ms = coalesce($8, s.heartbeat_timeout_ms),
    failure_threshold = coalesce($9, s.failure_threshold),
    recovery_threshold = coalesce($10, s.recovery_threshold),
    updated_at = $11";

pub(super) const SCHEDULES: &str = "\
SELECT cron_name, display_name, cron_expression, timezone, is_enabled, timeout_ms, grace_ms,
       heartbeat_timeout_ms, failure_threshold, recovery_threshold, running_count, failures_24h,
       consecutive_failures, CAST(success_rate_7d AS DOUBLE PRECISION) AS success_rate_7d,
       last_execution_at, last_status
FROM vw_cron_monitoring_dashboard
ORDER BY cron_name";

/// Deletes one bounded batch of finished runs started before `$1`.
pub(super) const CLEANUP_BATCH: &str = "\
DELETE FROM cron_executions WHERE id IN (
    SELECT id FROM cron_executions
    WHERE started_at < $1 AND status <> 'running'
    ORDER BY started_at
    LIMIT $2)";

pub(super) const CLEANUP_ROLLUP: &str = "DELETE FROM cron_stats_hourly WHERE bucket < $1";

/// Closes one running run as the sweeper or crash detector decided.
pub(super) const CLOSE_RUN: &str = "\
UPDATE cron_executions SET
    status = 'failed', reason = $2, completed_at = $3, duration_ms = $4, error_message = $5
WHERE id = $1 AND status = 'running'";

/// Appends the list filters to `qb` (after a `WHERE TRUE`).
macro_rules! push_filters {
    ($qb:expr, $f:expr) => {{
        let f: &$crate::model::ExecutionFilter = $f;
        if let Some(name) = &f.cron_name {
            $qb.push(" AND cron_name = ").push_bind(name.clone());
        }
        if let Some(status) = f.status {
            $qb.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(from) = f.from {
            $qb.push(" AND started_at >= ").push_bind(from);
        }
        if let Some(to) = f.to {
            $qb.push(" AND started_at < ").push_bind(to);
        }
    }};
}

/// The operations whose SQL is the same on both databases, written once for each pool type.
/// (sqlx's generic executor bounds cost more to read than this macro does.)
macro_rules! shared_ops {
    ($Db:ty) => {
        use sqlx::types::Json;
        use $crate::error::{Error, Result};
        use $crate::model::{
            Execution, ExecutionFilter, Finish, Heartbeat, Outcome, Page, PageRequest, Schedule,
            ScheduleUpdate, Start, Status,
        };
        use $crate::store::sql;

        type Pool = sqlx::Pool<$Db>;
        type Conn = <$Db as sqlx::Database>::Connection;

        pub(super) async fn record_start(conn: &mut Conn, s: &Start) -> Result<Outcome> {
            let done = sqlx::query(sql::INSERT_START)
                .bind(s.id)
                .bind(s.cron_name.as_str())
                .bind(s.trigger_type.as_str())
                .bind(s.started_at)
                .bind(s.host.as_deref())
                .bind(s.pid)
                .bind(s.boot_id.as_deref())
                .bind(s.version.as_deref())
                .bind(s.scheduled_for)
                .execute(&mut *conn)
                .await?;
            Ok(if done.rows_affected() > 0 {
                Outcome::Recorded
            } else {
                Outcome::AlreadyRecorded
            })
        }

        pub(super) async fn record_finish(conn: &mut Conn, f: &Finish) -> Result<Outcome> {
            f.validate()?;
            let (output, truncated) = f.stored_output();
            let error = f.stored_error();
            let output = output.map(Json);
            let reason = f.reason.map(|r| r.as_str());
            // A job's own report may replace cronmon's guess; cronmon's guesses never replace
            // each other.
            let real_end = !matches!(
                f.reason,
                Some($crate::model::Reason::TimedOut | $crate::model::Reason::Crashed)
            );
            // Twice at most: a start may be inserted between the update and the look-up.
            for _ in 0..2 {
                let updated = sqlx::query(UPDATE_FINISH)
                    .bind(f.id)
                    .bind(f.status.as_str())
                    .bind(reason)
                    .bind(f.completed_at)
                    .bind(f.duration_ms)
                    .bind(&output)
                    .bind(truncated)
                    .bind(error.as_deref())
                    .bind(f.exit_code)
                    .bind(f.cpu_ms)
                    .bind(f.max_rss_kb)
                    .bind(real_end)
                    .execute(&mut *conn)
                    .await?;
                if updated.rows_affected() > 0 {
                    return Ok(Outcome::Recorded);
                }
                let existing: Option<String> = sqlx::query_scalar(sql::STATUS_OF)
                    .bind(f.id)
                    .fetch_optional(&mut *conn)
                    .await?;
                match existing.map(|s| s.parse::<Status>()).transpose()? {
                    Some(Status::Running) => continue,
                    Some(existing) => {
                        return $crate::store::finish_conflict(f.id, Some(existing), f.status);
                    }
                    None => {
                        let Some(s) = &f.start else {
                            return Err(Error::UnknownExecution(f.id));
                        };
                        let inserted = sqlx::query(sql::INSERT_FINISHED)
                            .bind(f.id)
                            .bind(s.cron_name.as_str())
                            .bind(f.status.as_str())
                            .bind(s.trigger_type.as_str())
                            .bind(s.started_at)
                            .bind(s.host.as_deref())
                            .bind(s.pid)
                            .bind(s.boot_id.as_deref())
                            .bind(s.version.as_deref())
                            .bind(s.scheduled_for)
                            .bind(reason)
                            .bind(f.completed_at)
                            .bind(f.duration_ms)
                            .bind(&output)
                            .bind(truncated)
                            .bind(error.as_deref())
                            .bind(f.exit_code)
                            .bind(f.cpu_ms)
                            .bind(f.max_rss_kb)
                            .execute(&mut *conn)
                            .await?;
                        if inserted.rows_affected() > 0 {
                            return Ok(Outcome::Recorded);
                        }
                    }
                }
            }
            Err(Error::UnknownExecution(f.id))
        }

        pub(super) async fn heartbeat(conn: &mut Conn, h: &Heartbeat) -> Result<bool> {
            if h.done.is_some_and(|d| d < 0) || h.total.is_some_and(|t| t < 0) {
                return Err(Error::InvalidField {
                    field: "progress",
                    message: "progress counts cannot be negative".into(),
                });
            }
            let done = sqlx::query(sql::HEARTBEAT)
                .bind(h.id)
                .bind(h.at)
                .bind(h.done)
                .bind(h.total)
                .execute(&mut *conn)
                .await?;
            if done.rows_affected() > 0 {
                return Ok(true);
            }
            let exists: Option<String> = sqlx::query_scalar(sql::STATUS_OF)
                .bind(h.id)
                .fetch_optional(&mut *conn)
                .await?;
            match exists {
                Some(_) => Ok(false),
                None => Err(Error::UnknownExecution(h.id)),
            }
        }

        /// Records `events` in one transaction (group commit). Each event gets its own
        /// result; if the database itself fails mid-way, the batch is replayed one event at a
        /// time, so one bad event never costs the others.
        pub(super) async fn record_batch(
            pool: &Pool,
            events: &[$crate::model::Event],
        ) -> Result<Vec<Result<Outcome>>> {
            let mut tx = pool.begin().await?;
            let mut results = Vec::with_capacity(events.len());
            let mut broken = false;
            for event in events {
                let r = record_event(&mut tx, event).await;
                if matches!(r, Err(Error::Database(_) | Error::Unreachable(_))) {
                    broken = true;
                    break;
                }
                results.push(r);
            }
            if !broken {
                tx.commit().await?;
                return Ok(results);
            }
            drop(tx);
            let mut conn = pool.acquire().await?;
            let mut results = Vec::with_capacity(events.len());
            for event in events {
                results.push(record_event(&mut conn, event).await);
            }
            Ok(results)
        }

        pub(super) async fn record_event(
            conn: &mut Conn,
            event: &$crate::model::Event,
        ) -> Result<Outcome> {
            use $crate::model::Event;
            match event {
                Event::Start(s) => record_start(conn, s).await,
                Event::Finish(f) => record_finish(conn, f).await,
                Event::Heartbeat(h) => Ok(if heartbeat(conn, h).await? {
                    Outcome::Recorded
                } else {
                    Outcome::AlreadyRecorded
                }),
            }
        }

        pub(super) async fn execution(pool: &Pool, id: uuid::Uuid) -> Result<Option<Execution>> {
            Ok(sqlx::query_as(sql::EXECUTION_BY_ID)
                .bind(id)
                .fetch_optional(pool)
                .await?)
        }

        pub(super) async fn list_executions(
            pool: &Pool,
            filter: &ExecutionFilter,
            page: PageRequest,
        ) -> Result<Page<Execution>> {
            let mut count =
                sqlx::QueryBuilder::<$Db>::new("SELECT count(*) FROM cron_executions WHERE TRUE");
            $crate::store::sql::push_filters!(count, filter);
            let total: i64 = count.build_query_scalar().fetch_one(pool).await?;

            let mut rows = sqlx::QueryBuilder::<$Db>::new("SELECT ");
            rows.push(sql::EXECUTION_COLUMNS)
                .push(" FROM cron_executions WHERE TRUE");
            $crate::store::sql::push_filters!(rows, filter);
            rows.push(" ORDER BY started_at DESC, id DESC LIMIT ")
                .push_bind(i64::from(page.limit))
                .push(" OFFSET ")
                .push_bind(page.offset());
            let items = rows.build_query_as().fetch_all(pool).await?;
            Ok($crate::store::page_of(items, page, total))
        }

        pub(super) async fn schedules(pool: &Pool) -> Result<Vec<Schedule>> {
            Ok(sqlx::query_as(sql::SCHEDULES).fetch_all(pool).await?)
        }

        pub(super) async fn upsert_schedule(
            pool: &Pool,
            name: &$crate::model::CronName,
            u: &ScheduleUpdate,
        ) -> Result<()> {
            u.validate()?;
            sqlx::query(sql::UPSERT_SCHEDULE)
                .bind(name.as_str())
                .bind(u.display_name.as_deref())
                .bind(u.cron_expression.as_deref())
                .bind(u.timezone.as_deref())
                .bind(u.is_enabled)
                .bind(u.timeout_ms)
                .bind(u.grace_ms)
                .bind(u.heartbeat_timeout_ms)
                .bind(u.failure_threshold)
                .bind(u.recovery_threshold)
                .bind(chrono::Utc::now())
                .execute(pool)
                .await?;
            Ok(())
        }

        pub(super) async fn close_run(pool: &Pool, f: &Finish) -> Result<bool> {
            let done = sqlx::query(sql::CLOSE_RUN)
                .bind(f.id)
                .bind(f.reason.map(|r| r.as_str()))
                .bind(f.completed_at)
                .bind(f.duration_ms)
                .bind(f.stored_error())
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        }

        pub(super) async fn cleanup(
            pool: &Pool,
            retention: std::time::Duration,
            batch: u32,
        ) -> Result<u64> {
            let retention =
                chrono::Duration::from_std(retention).map_err(|_| Error::InvalidField {
                    field: "retention",
                    message: "retention is too long".into(),
                })?;
            let before = chrono::Utc::now() - retention;
            let mut deleted = 0;
            loop {
                let n = sqlx::query(sql::CLEANUP_BATCH)
                    .bind(before)
                    .bind(i64::from(batch.max(1)))
                    .execute(pool)
                    .await?
                    .rows_affected();
                deleted += n;
                if n < u64::from(batch.max(1)) {
                    break;
                }
            }
            // The roll-up outlives the history: the timeline and 7-day rates still need it.
            let rollup_before = chrono::Utc::now() - retention.max(chrono::Duration::days(35));
            sqlx::query(sql::CLEANUP_ROLLUP)
                .bind(rollup_before)
                .execute(pool)
                .await?;
            Ok(deleted)
        }
    };
}

pub(super) use {push_filters, shared_ops, update_finish};
