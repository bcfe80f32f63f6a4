//! SQL that reads the same on PostgreSQL and SQLite, and the operations built only from it.
//!
//! What differs between the databases is a [`Dialect`]: where cronmon's objects live and how
//! to subtract timestamps. [`Sql`] builds every shared statement from one once per process;
//! each rule of what gets stored is written in exactly one statement or fragment here. `$n`
//! placeholders work on both databases.

use crate::model::Reason;

/// The SQL fragments in which the databases differ.
pub(super) trait Dialect {
    /// The schema of cronmon's tables, views and functions, if the database has schemas. On
    /// PostgreSQL every name is qualified with it, so the store works on any pool (a host
    /// application's own has its own `search_path`).
    const SCHEMA: Option<&'static str>;

    /// Whole milliseconds from the timestamp `from` to the timestamp `to`, never negative.
    fn elapsed_ms(from: &str, to: &str) -> String;

    /// Whole seconds (rounded) from the timestamp `from` to the timestamp `to`.
    fn elapsed_s(from: &str, to: &str) -> String;

    /// A relation of the runs still running past their cron's max runtime or heartbeat
    /// timeout, with the columns of [`crate::model::StuckRun`].
    fn stuck_runs() -> String;

    /// What makes a `SELECT` skip rows another transaction holds.
    const SKIP_LOCKED: &'static str;

    /// The statement that folds pending roll-up changes into the roll-ups, where writes leave
    /// them pending (PostgreSQL, migration 0007); SQLite's triggers write the roll-ups at once.
    const FOLD_ROLLUPS: Option<&'static str>;

    /// An expression that makes a new random UUID (a notification's id).
    const NEW_UUID: &'static str;

    /// The greater of two values (of a column and its new value in an upsert).
    fn greatest(a: &str, b: &str) -> String;

    /// The lesser of two values.
    fn least(a: &str, b: &str) -> String;

    /// A sum as a float, which no number of rows can overflow (usable as a window function).
    fn sum_f64(expr: &str) -> String;

    /// Milliseconds since the Unix epoch of the timestamp `t`, as an integer.
    fn epoch_ms(t: &str) -> String;

    /// A UUID column as the text notification keys use (the triggers write the same).
    fn uuid_text(id: &str) -> String;

    /// Whether `name` matches the stored pattern `pattern` (see `pattern_of`).
    fn matches(name: &str, pattern: &str) -> String;

    /// A channel's cron glob (`*`, `?`) as the pattern `matches` reads.
    fn pattern_of(glob: &str) -> String;
}

/// The shared statements, built for one [`Dialect`].
#[derive(Debug)]
pub(super) struct Sql {
    pub(super) insert_start: String,
    pub(super) update_finish: String,
    pub(super) insert_finished: String,
    pub(super) status_of: String,
    pub(super) heartbeat: String,
    pub(super) execution_by_id: String,
    /// The runs' table, for the list to count from.
    pub(super) executions: String,
    /// `SELECT … FROM executions`, for the list to append its filters to.
    pub(super) select_executions: String,
    /// The daily roll-up, which the list of one cron counts from.
    pub(super) stats_daily: String,
    /// The daily totals of all crons, which the list of all crons counts from.
    pub(super) stats_days: String,
    pub(super) register_schedule: String,
    pub(super) update_schedule: String,
    /// What decides whether a change of settings moves the judging cursor.
    pub(super) schedule_settings: String,
    pub(super) schedules: String,
    pub(super) schedule: String,
    pub(super) cleanup_batch: String,
    pub(super) cleanup_rollups: [String; 2],
    /// [`Dialect::FOLD_ROLLUPS`].
    pub(super) fold_rollups: Option<&'static str>,
    /// Notifications older than retention that are done with (delivered, given up, muted).
    pub(super) cleanup_notifications: String,
    pub(super) timeline: String,
    pub(super) close_run: String,
    pub(super) running_on_host: String,
    pub(super) stuck_runs: String,
    pub(super) fail_orphans: String,
}

/// The columns of [`crate::model::Execution`], in its order. The output is read as text and
/// parsed by the row (`rows::output_of`), so an output no JSON parser of ours takes (nested
/// too deep, a number out of range, text that is not JSON in SQLite) reads as its text
/// instead of failing the read.
const EXECUTION_COLUMNS: &str = "\
id, cron_name, status, reason, trigger_type, started_at, completed_at, duration_ms,
CAST(output AS TEXT) AS output, output_truncated, error_message, exit_code, host, pid, version, cpu_ms, max_rss_kb,
last_heartbeat_at, progress_done, progress_total, scheduled_for, anomaly, slots_missed";

/// The reasons of the ends cronmon itself writes (the sweeper's `timed_out`, crash
/// detection's `crashed`), as an SQL list.
fn guessed_reasons() -> String {
    [Reason::TimedOut, Reason::Crashed]
        .map(|r| format!("'{}'", r.as_str()))
        .join(", ")
}

/// Whether a finish with reason `new_reason` may be written over the run `row` (a prefix:
/// `e.` or empty): a running run takes any end, and an end cronmon guessed (`timed_out`,
/// `crashed`) is replaced by the job's real end; cronmon's guesses never replace each other.
pub(super) fn finish_applies(row: &str, new_reason: &str) -> String {
    let guessed = guessed_reasons();
    format!(
        "({row}status = 'running' OR ({row}reason IN ({guessed}) \
         AND coalesce({new_reason}, '') NOT IN ({guessed})))"
    )
}

impl Sql {
    /// Every shared statement in the dialect `D`.
    pub(super) fn new<D: Dialect>() -> Self {
        let s = D::SCHEMA.map_or(String::new(), |schema| format!("{schema}."));
        let s = s.as_str();
        let executions = format!("{s}cron_executions");
        let schedules = format!("{s}cron_schedules");
        Sql {
            insert_start: format!(
                "INSERT INTO {executions}
    (id, cron_name, status, trigger_type, started_at, host, pid, boot_id, version, scheduled_for)
VALUES ($1, $2, 'running', $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (id) DO NOTHING"
            ),
            // Without a duration (`$5` null), the duration is the time from the stored start
            // to the end `$4`.
            update_finish: format!(
                "UPDATE {executions} SET
    status = $2, reason = $3, completed_at = $4, duration_ms = coalesce($5, {elapsed}), output = $6,
    output_truncated = $7, error_message = $8, exit_code = $9, cpu_ms = $10, max_rss_kb = $11
WHERE id = $1 AND {applies}",
                elapsed = D::elapsed_ms("started_at", "$4"),
                applies = finish_applies("", "$3"),
            ),
            // A run whose completion arrived before its start: stored whole in one go.
            insert_finished: format!(
                "INSERT INTO {executions}
    (id, cron_name, status, trigger_type, started_at, host, pid, boot_id, version, scheduled_for,
     reason, completed_at, duration_ms, output, output_truncated, error_message, exit_code,
     cpu_ms, max_rss_kb)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
ON CONFLICT (id) DO NOTHING"
            ),
            status_of: format!("SELECT status FROM {executions} WHERE id = $1"),
            heartbeat: format!(
                "UPDATE {executions} SET
    last_heartbeat_at = $2,
    progress_done = coalesce($3, progress_done),
    progress_total = coalesce($4, progress_total)
WHERE id = $1 AND status = 'running'"
            ),
            execution_by_id: format!(
                "SELECT {EXECUTION_COLUMNS} FROM {executions} WHERE id = $1"
            ),
            select_executions: format!("SELECT {EXECUTION_COLUMNS} FROM {executions}"),
            executions: executions.clone(),
            // Folded and pending changes together (the roll-up as of the last commit).
            stats_daily: format!("{s}cron_stats_daily_live"),
            stats_days: format!("{s}cron_stats_days_live"),
            // A new cron takes the table's defaults (one hour max runtime, …); the update
            // then sets what was given.
            register_schedule: format!(
                "INSERT INTO {schedules} (cron_name) VALUES ($1) ON CONFLICT (cron_name) DO NOTHING"
            ),
            update_schedule: format!(
                "UPDATE {schedules} SET
    display_name = coalesce($2, display_name),
    cron_expression = coalesce($3, cron_expression),
    timezone = coalesce($4, timezone),
    is_enabled = coalesce($5, is_enabled),
    timeout_ms = coalesce($6, timeout_ms),
    grace_ms = coalesce($7, grace_ms),
    heartbeat_timeout_ms = coalesce($8, heartbeat_timeout_ms),
    failure_threshold = coalesce($9, failure_threshold),
    recovery_threshold = coalesce($10, recovery_threshold),
    updated_at = $11,
    anomaly_factor = coalesce($12, anomaly_factor),
    min_duration_ms = coalesce($13, min_duration_ms),
    anomaly_incidents = coalesce($14, anomaly_incidents),
    -- New thresholds or anomaly settings may open or resolve an incident with the runs as
    -- they are: the sweep looks at the cron again.
    health_dirty = TRUE,
    judged_through = CASE WHEN $15 THEN $11 ELSE judged_through END,
    next_deadline_at = CASE WHEN coalesce($3, cron_expression) IS NULL THEN NULL
                            WHEN $15 THEN $11
                            WHEN $16 THEN judged_through
                            ELSE next_deadline_at END
WHERE cron_name = $1"
            ),
            schedule_settings: format!(
                "SELECT cron_expression, timezone, grace_ms, is_enabled, judged_through
FROM {schedules} WHERE cron_name = $1"
            ),
            schedules: format!("{} ORDER BY cron_name", schedule_columns(s)),
            schedule: format!("{} WHERE cron_name = $1", schedule_columns(s)),
            // One bounded batch of finished runs started before `$1`.
            cleanup_batch: format!(
                "DELETE FROM {executions} WHERE id IN (
    SELECT id FROM {executions}
    WHERE started_at < $1 AND status <> 'running'
    ORDER BY started_at
    LIMIT $2)"
            ),
            cleanup_notifications: format!(
                "DELETE FROM {s}notifications WHERE id IN (
    SELECT id FROM {s}notifications
    WHERE created_at < $1 AND status NOT IN ('pending', 'sending')
    LIMIT $2)"
            ),
            // Roll-up rows that retention emptied.
            fold_rollups: D::FOLD_ROLLUPS,
            cleanup_rollups: [
                format!("DELETE FROM {s}cron_stats_hourly WHERE started <= 0"),
                format!("DELETE FROM {s}cron_stats_daily WHERE started <= 0"),
            ],
            // Runs per UTC day from the daily totals of all crons.
            timeline: format!(
                "SELECT day, CAST(sum(completed) AS BIGINT), CAST(sum(failed) AS BIGINT), \
                 CAST(sum(started) AS BIGINT)
FROM {s}cron_stats_days_live WHERE day >= $1 GROUP BY day"
            ),
            // Closes one running run as crash detection decided.
            close_run: format!(
                "UPDATE {executions} SET
    status = 'failed', reason = $2, completed_at = $3, duration_ms = $4, error_message = $5
WHERE id = $1 AND status = 'running'"
            ),
            // The partial index on running runs keeps this small.
            running_on_host: format!(
                "SELECT id, cron_name, started_at, pid, boot_id FROM {executions}
WHERE status = 'running' AND host = $1
ORDER BY started_at"
            ),
            stuck_runs: format!(
                "SELECT execution_id, cron_name, started_at, running_ms, timeout_ms, \
                 last_heartbeat_at, host, pid FROM {} ORDER BY started_at",
                D::stuck_runs()
            ),
            // Closes at `$1` the stuck runs started before `$2`, once each even when several
            // processes sweep at the same time (the update re-checks `running`).
            fail_orphans: format!(
                "UPDATE {executions} SET
    status = 'failed', reason = '{timed_out}', completed_at = $1,
    duration_ms = {elapsed_ms},
    error_message = 'closed by cronmon: still running after ' || {elapsed_s} || ' s with no end reported'
WHERE status = 'running' AND started_at < $2
  AND id IN (SELECT execution_id FROM {stuck})",
                timed_out = Reason::TimedOut.as_str(),
                elapsed_ms = D::elapsed_ms("started_at", "$1"),
                elapsed_s = D::elapsed_s("started_at", "$1"),
                stuck = D::stuck_runs(),
            ),
        }
    }
}

/// The dashboard view's columns, for one schedule or all.
fn schedule_columns(schema: &str) -> String {
    format!(
        "SELECT cron_name, display_name, cron_expression, timezone, is_enabled, timeout_ms, grace_ms,
       heartbeat_timeout_ms, failure_threshold, recovery_threshold, running_count, failures_24h,
       consecutive_failures, CAST(success_rate_7d AS DOUBLE PRECISION) AS success_rate_7d,
       last_execution_at, last_status, anomaly_factor, min_duration_ms, anomaly_incidents,
       paused_at, paused_until, next_deadline_at, judged_through, created_at, updated_at,
       last_reason, last_completed_at, oldest_running_at, stuck_since, incident_id,
       incident_kind, incident_opened_at
FROM {schema}vw_cron_monitoring_dashboard"
    )
}

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

/// Appends the keyset condition "after the row `(started_at, id)` in the order `started_at
/// DESC, id DESC`" to `qb`, if `after` names one. Spelled out rather than a row comparison,
/// which SQLite plans less well.
macro_rules! push_before {
    ($qb:expr, $after:expr) => {{
        if let Some((started_at, id)) = $after {
            $qb.push(" AND (started_at < ")
                .push_bind(started_at)
                .push(" OR (started_at = ")
                .push_bind(started_at)
                .push(" AND id < ")
                .push_bind(id)
                .push("))");
        }
    }};
}

/// The longest the per-event fallback of a refused batch may take in all
/// (`record_each_alone`): each event alone may wait for the busy or lock timeout, and a
/// batch holds up to 512 of them.
pub(crate) const FALLBACK_BUDGET: std::time::Duration = std::time::Duration::from_secs(15);

/// The transient error of an event the per-event fallback had no time left for.
pub(crate) fn fallback_exhausted() -> crate::error::Error {
    crate::error::Error::Unreachable(crate::error::DatabaseError::new(
        Box::new(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the database was too slow to record this event alone; retry",
        )),
        None,
        true,
        false,
    ))
}

/// The operations whose SQL is the same on both databases, written once for each pool type.
/// (sqlx's generic executor bounds cost more to read than this macro does.)
macro_rules! shared_ops {
    ($Db:ty, $sql:path) => {
        use sqlx::types::Json;
        use $crate::error::{Error, Result};
        use $crate::model::{
            Execution, ExecutionFilter, Finish, Heartbeat, Outcome, Page, PageRequest, Schedule,
            ScheduleUpdate, Start, Status,
        };
        use $crate::store::db::Db as _;
        use $crate::store::rows;

        type Pool = sqlx::Pool<$Db>;
        type Conn = <$Db as sqlx::Database>::Connection;

        pub(super) async fn record_start(conn: &mut Conn, s: &Start) -> Result<Outcome> {
            s.validate(chrono::Utc::now())?;
            let done = sqlx::query($sql.insert_start.as_str())
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
                .await
                .db()?;
            Ok(if done.rows_affected() > 0 {
                Outcome::Recorded
            } else {
                Outcome::AlreadyRecorded
            })
        }

        pub(super) async fn record_finish(conn: &mut Conn, f: &Finish) -> Result<Outcome> {
            f.validate(chrono::Utc::now())?;
            let (output, truncated) = f.stored_output();
            let error = f.stored_error();
            let output = output.map(Json);
            let reason = f.reason.map(|r| r.as_str());
            // Twice at most: a start may be inserted between the update and the look-up.
            for _ in 0..2 {
                let updated = sqlx::query($sql.update_finish.as_str())
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
                    .execute(&mut *conn)
                    .await
                    .db()?;
                if updated.rows_affected() > 0 {
                    return Ok(Outcome::Recorded);
                }
                let existing: Option<String> = sqlx::query_scalar($sql.status_of.as_str())
                    .bind(f.id)
                    .fetch_optional(&mut *conn)
                    .await
                    .db()?;
                match existing.map(|s| s.parse::<Status>()).transpose()? {
                    Some(Status::Running) => continue,
                    Some(existing) => {
                        return $crate::store::finish_conflict(f.id, Some(existing), f.status);
                    }
                    None => {
                        let Some(s) = &f.start else {
                            return Err(Error::UnknownExecution(f.id));
                        };
                        let inserted = sqlx::query($sql.insert_finished.as_str())
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
                            .await
                            .db()?;
                        if inserted.rows_affected() > 0 {
                            return Ok(Outcome::Recorded);
                        }
                    }
                }
            }
            Err(Error::UnknownExecution(f.id))
        }

        pub(super) async fn heartbeat(conn: &mut Conn, h: &Heartbeat) -> Result<bool> {
            h.validate(chrono::Utc::now())?;
            let done = sqlx::query($sql.heartbeat.as_str())
                .bind(h.id)
                .bind(h.at)
                .bind(h.done)
                .bind(h.total)
                .execute(&mut *conn)
                .await
                .db()?;
            if done.rows_affected() > 0 {
                return Ok(true);
            }
            let exists: Option<String> = sqlx::query_scalar($sql.status_of.as_str())
                .bind(h.id)
                .fetch_optional(&mut *conn)
                .await
                .db()?;
            match exists {
                Some(_) => Ok(false),
                None => Err(Error::UnknownExecution(h.id)),
            }
        }

        /// Records `events` in one transaction (group commit). Each event gets its own
        /// result; if the database refuses an event mid-way, the batch is replayed one event
        /// at a time ([`record_each_alone`]), so one bad event never costs the others. A
        /// transient failure (busy, timed out, unreachable) fails the whole batch instead: one
        /// event at a time would only wait for the same database again, event after event.
        #[allow(dead_code, reason = "PostgreSQL's own takes cron locks first (postgres/batch.rs)")]
        pub(super) async fn record_batch(
            pool: &Pool,
            events: &[$crate::model::Event],
        ) -> Result<Vec<Result<Outcome>>> {
            let mut tx = pool.begin().await.db()?;
            let mut results = Vec::with_capacity(events.len());
            for event in events {
                let r = record_event(&mut tx, event).await;
                match r {
                    Err(e) if e.is_transient() => return Err(e),
                    Err(Error::Database(_) | Error::Unreachable(_)) => {
                        drop(tx);
                        return record_each_alone(pool, events).await;
                    }
                    r => results.push(r),
                }
            }
            tx.commit().await.db()?;
            Ok(results)
        }

        /// Records each event in a statement of its own, for a batch the database refused
        /// as a whole. Bounded: past the first transient failure, or past
        /// [`FALLBACK_BUDGET`]($crate::store::sql::FALLBACK_BUDGET) in all, the events left
        /// are answered with a transient error (to retry) instead of each waiting for a busy
        /// database in turn.
        pub(super) async fn record_each_alone(
            pool: &Pool,
            events: &[$crate::model::Event],
        ) -> Result<Vec<Result<Outcome>>> {
            let deadline = std::time::Instant::now() + $crate::store::sql::FALLBACK_BUDGET;
            let mut conn = pool.acquire().await.db()?;
            let mut results = Vec::with_capacity(events.len());
            let mut stalled = false;
            for event in events {
                if stalled || std::time::Instant::now() >= deadline {
                    results.push(Err($crate::store::sql::fallback_exhausted()));
                    continue;
                }
                let r = record_event(&mut conn, event).await;
                stalled = matches!(&r, Err(e) if e.is_transient());
                results.push(r);
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
                Event::Batch(b) => batch_ops::record(conn, b).await,
            }
        }

        pub(super) async fn execution(pool: &Pool, id: uuid::Uuid) -> Result<Option<Execution>> {
            let row: Option<rows::ExecutionRow> = sqlx::query_as($sql.execution_by_id.as_str())
                .bind(id)
                .fetch_optional(pool)
                .await
                .db()?;
            Ok(row.map(Execution::from))
        }

        pub(super) async fn list_executions(
            pool: &Pool,
            filter: &ExecutionFilter,
            page: PageRequest,
        ) -> Result<Page<Execution>> {
            let total: i64 = if filter.from.is_none() && filter.to.is_none() {
                // The daily roll-ups count exactly what is stored: a row a day (a row a day of
                // the one cron) to read instead of the whole history.
                let counted = match filter.status {
                    None => "started",
                    Some(Status::Completed) => "completed",
                    Some(Status::Failed) => "failed",
                    Some(Status::Running) => "started - completed - failed",
                };
                let mut count = sqlx::QueryBuilder::<$Db>::new("SELECT CAST(coalesce(sum(");
                count.push(counted).push("), 0) AS BIGINT) FROM ");
                if let Some(name) = &filter.cron_name {
                    count
                        .push($sql.stats_daily.as_str())
                        .push(" WHERE cron_name = ")
                        .push_bind(name.clone());
                } else {
                    count.push($sql.stats_days.as_str());
                }
                count.build_query_scalar().fetch_one(pool).await.db()?
            } else {
                let mut count = sqlx::QueryBuilder::<$Db>::new("SELECT count(*) FROM ");
                count.push($sql.executions.as_str()).push(" WHERE TRUE");
                $crate::store::sql::push_filters!(count, filter);
                count.build_query_scalar().fetch_one(pool).await.db()?
            };

            let mut rows = sqlx::QueryBuilder::<$Db>::new($sql.select_executions.as_str());
            rows.push(" WHERE TRUE");
            $crate::store::sql::push_filters!(rows, filter);
            // Literals, not parameters: with `LIMIT $n` PostgreSQL's generic plan assumes a
            // large limit and sorts the whole table instead of walking the index.
            rows.push(" ORDER BY started_at DESC, id DESC LIMIT ")
                .push(page.limit)
                .push(" OFFSET ")
                .push(page.offset());
            let items: Vec<rows::ExecutionRow> =
                rows.build_query_as().fetch_all(pool).await.db()?;
            Ok($crate::store::page_of(rows::into_model(items), page, total))
        }

        pub(super) async fn executions_after(
            pool: &Pool,
            filter: &ExecutionFilter,
            after: Option<(chrono::DateTime<chrono::Utc>, uuid::Uuid)>,
            limit: u32,
        ) -> Result<Vec<Execution>> {
            PageRequest::new(1, limit)?;
            let mut rows = sqlx::QueryBuilder::<$Db>::new($sql.select_executions.as_str());
            rows.push(" WHERE TRUE");
            $crate::store::sql::push_filters!(rows, filter);
            $crate::store::sql::push_before!(rows, after);
            rows.push(" ORDER BY started_at DESC, id DESC LIMIT ")
                .push(limit);
            let items: Vec<rows::ExecutionRow> =
                rows.build_query_as().fetch_all(pool).await.db()?;
            Ok(rows::into_model(items))
        }

        pub(super) async fn timeline(
            pool: &Pool,
            days: u32,
        ) -> Result<Vec<$crate::model::TimelineDay>> {
            let days = days.clamp(1, crate::rules::limits::TIMELINE_DAYS_MAX);
            let first = chrono::Utc::now().date_naive() - chrono::Days::new(u64::from(days - 1));
            let rows: Vec<(chrono::NaiveDate, i64, i64, i64)> =
                sqlx::query_as($sql.timeline.as_str())
                    .bind(first)
                    .fetch_all(pool)
                    .await
                    .db()?;
            Ok($crate::store::fill_timeline(days, rows))
        }

        pub(super) async fn schedules(pool: &Pool) -> Result<Vec<Schedule>> {
            let rows: Vec<rows::ScheduleRow> = sqlx::query_as($sql.schedules.as_str())
                .fetch_all(pool)
                .await
                .db()?;
            Ok(rows::into_model(rows))
        }

        pub(super) async fn schedule(
            pool: &Pool,
            name: &$crate::model::CronName,
        ) -> Result<Option<Schedule>> {
            let row: Option<rows::ScheduleRow> = sqlx::query_as($sql.schedule.as_str())
                .bind(name.as_str())
                .fetch_optional(pool)
                .await
                .db()?;
            Ok(row.map(Schedule::from))
        }

        pub(super) async fn upsert_schedule(
            pool: &Pool,
            name: &$crate::model::CronName,
            u: &ScheduleUpdate,
        ) -> Result<()> {
            u.validate()?;
            let mut tx = pool.begin().await.db()?;
            sqlx::query($sql.register_schedule.as_str())
                .bind(name.as_str())
                .execute(&mut *tx)
                .await
                .db()?;
            type Settings = (
                Option<String>,
                String,
                i64,
                bool,
                Option<chrono::DateTime<chrono::Utc>>,
            );
            let (expression, timezone, grace, enabled, judged): Settings =
                sqlx::query_as($sql.schedule_settings.as_str())
                    .bind(name.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .db()?;
            let new_expression = u.cron_expression.as_deref().map(str::trim);
            // A new schedule (or zone) is judged from now on; a new grace or a change of
            // `isEnabled` only asks the sweep to compute the next deadline again.
            let reset = new_expression.or(expression.as_deref()).is_some()
                && (judged.is_none()
                    || new_expression.is_some_and(|e| Some(e) != expression.as_deref())
                    || u.timezone.as_deref().is_some_and(|t| t != timezone));
            let recompute = u.grace_ms.is_some_and(|g| g != grace)
                || u.is_enabled.is_some_and(|e| e != enabled);
            sqlx::query($sql.update_schedule.as_str())
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
                .bind(u.anomaly_factor)
                .bind(u.min_duration_ms)
                .bind(u.anomaly_incidents)
                .bind(reset)
                .bind(recompute)
                .execute(&mut *tx)
                .await
                .db()?;
            tx.commit().await.db()
        }

        pub(super) async fn stuck_runs(pool: &Pool) -> Result<Vec<$crate::model::StuckRun>> {
            let rows: Vec<rows::StuckRunRow> = sqlx::query_as($sql.stuck_runs.as_str())
                .fetch_all(pool)
                .await
                .db()?;
            Ok(rows::into_model(rows))
        }

        pub(super) async fn fail_orphans(
            pool: &Pool,
            older_than: std::time::Duration,
        ) -> Result<u64> {
            let now = chrono::Utc::now();
            let older_than =
                chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::MAX);
            let before = now
                .checked_sub_signed(older_than)
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
            let done = sqlx::query($sql.fail_orphans.as_str())
                .bind(now)
                .bind(before)
                .execute(pool)
                .await
                .db()?;
            Ok(done.rows_affected())
        }

        pub(super) async fn close_run(pool: &Pool, f: &Finish) -> Result<bool> {
            let done = sqlx::query($sql.close_run.as_str())
                .bind(f.id)
                .bind(f.reason.map(|r| r.as_str()))
                .bind(f.completed_at)
                .bind(f.duration_ms)
                .bind(f.stored_error())
                .execute(pool)
                .await
                .db()?;
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
            let deleted = delete_in_batches(pool, $sql.cleanup_batch.as_str(), before, batch).await?;
            // What retention took out is pending: folded first, the emptied rows show.
            if let Some(fold) = $sql.fold_rollups {
                sqlx::query(fold).execute(pool).await.db()?;
            }
            for statement in &$sql.cleanup_rollups {
                sqlx::query(statement.as_str()).execute(pool).await.db()?;
            }
            delete_in_batches(pool, $sql.cleanup_notifications.as_str(), before, batch).await?;
            batch_ops::cleanup(pool, before, batch).await?;
            Ok(deleted)
        }

        /// Runs `sql` (a `DELETE` of at most `$2` rows older than `$1`) until it deletes fewer
        /// than `batch`: each transaction short, so ingestion never waits long. Returns how
        /// many rows went.
        pub(super) async fn delete_in_batches(
            pool: &Pool,
            sql: &'static str,
            before: chrono::DateTime<chrono::Utc>,
            batch: u32,
        ) -> Result<u64> {
            let batch = batch.max(1);
            let mut deleted = 0;
            loop {
                let n = sqlx::query(sql)
                    .bind(before)
                    .bind(i64::from(batch))
                    .execute(pool)
                    .await
                    .db()?
                    .rows_affected();
                deleted += n;
                if n < u64::from(batch) {
                    return Ok(deleted);
                }
            }
        }

        pub(super) async fn running_on_host(
            pool: &Pool,
            host: &str,
        ) -> Result<Vec<$crate::model::RunningRun>> {
            let rows: Vec<rows::RunningRunRow> = sqlx::query_as($sql.running_on_host.as_str())
                .bind(host)
                .fetch_all(pool)
                .await
                .db()?;
            Ok(rows::into_model(rows))
        }

        pub(super) async fn ping(pool: &Pool) -> Result<()> {
            sqlx::query("SELECT 1").execute(pool).await.db()?;
            Ok(())
        }

        pub(super) async fn batch_figures(
            pool: &Pool,
            sql: &str,
        ) -> Result<$crate::batch::BatchFigures> {
            use sqlx::Row as _;
            let row = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_optional(pool)
                .await
                .db()?
                .ok_or_else(|| Error::InvalidField {
                    field: "sql",
                    message: "the batch query returned no row".into(),
                })?;
            let column = |name: &'static str| -> Result<i64> {
                // `count(*)` is a BIGINT, a literal `0` an INTEGER on PostgreSQL: either reads.
                row.try_get::<Option<i64>, _>(name)
                    .or_else(|e| match e {
                        sqlx::Error::ColumnDecode { .. } => row
                            .try_get::<Option<i32>, _>(name)
                            .map(|v| v.map(i64::from)),
                        e => Err(e),
                    })
                    .map(Option::unwrap_or_default)
                    .map_err(|e| Error::InvalidField {
                        field: "sql",
                        message: format!(
                            "the batch query's `{name}` column: {e} (it returns the integer columns {})",
                            $crate::batch::BATCH_COLUMNS.join(", ")
                        ),
                    })
            };
            let oldest = match row.try_get::<Option<chrono::DateTime<chrono::Utc>>, _>("oldest_pending_at") {
                Ok(t) => t,
                Err(sqlx::Error::ColumnNotFound(_)) => None,
                Err(e) => {
                    return Err(Error::InvalidField {
                        field: "sql",
                        message: format!("the batch query's `oldest_pending_at` column: {e}"),
                    });
                }
            };
            Ok($crate::batch::BatchFigures::new(
                column("pending")?,
                column("processing")?,
                column("completed_today")?,
                column("failed_today")?,
                oldest,
            ))
        }
    };
}

pub(super) use {push_before, push_filters, shared_ops};
