//! The statements of batch runs (see [`crate::batch`]), the same on both databases, and the
//! operations built from them. The roll-ups (`batch_stats_daily`, `batch_stats_minutely`) are
//! kept by a trigger (migration 0006); what is read here never scans history.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::sql::Dialect;
use crate::batch::{BatchRunRecord, RecordedBatchKind};
use crate::model::Status;

/// Running runs listed per kind; the others are only counted.
pub const RUNNING_SHOWN_MAX: i64 = 20;

/// The statements, built for one [`Dialect`].
#[derive(Debug)]
pub(super) struct BatchSql {
    pub(super) upsert: String,
    pub(super) state_of: String,
    pub(super) today: String,
    pub(super) last_hour: String,
    pub(super) running: String,
    pub(super) select_runs: String,
    pub(super) run_by_id: String,
    pub(super) report_upsert: String,
    pub(super) fail_stale: String,
    pub(super) cleanup_runs: String,
    pub(super) cleanup_rollups: [String; 2],
}

const RUN_COLUMNS: &str = "id, kind, status, total_items, done_items, failed_items, started_at, \
completed_at, last_progress_at, host, error_message";

impl BatchSql {
    pub(super) fn new<D: Dialect>() -> Self {
        let s = D::SCHEMA.map_or(String::new(), |schema| format!("{schema}."));
        let runs = format!("{s}batch_runs");
        let daily = format!("{s}batch_stats_daily");
        let minutely = format!("{s}batch_stats_minutely");
        BatchSql {
            // Every report carries the run's whole state: the counts only grow, the start is
            // the earliest heard of, and an ended run takes no more reports (nothing matches,
            // and `state_of` tells a repeat from a conflict).
            upsert: format!(
                "INSERT INTO {runs} AS b (id, kind, status, total_items, done_items, failed_items,
                     started_at, completed_at, error_message, host, last_progress_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7,
                     CASE WHEN $3 = 'running' THEN NULL ELSE $8 END, $9, $10, $8)
                 ON CONFLICT (id) DO UPDATE SET
                     status = excluded.status,
                     total_items = coalesce(excluded.total_items, b.total_items),
                     done_items = {},
                     failed_items = {},
                     started_at = {},
                     completed_at = excluded.completed_at,
                     error_message = coalesce(excluded.error_message, b.error_message),
                     host = coalesce(b.host, excluded.host),
                     last_progress_at = {}
                 WHERE b.status = 'running' AND b.kind = excluded.kind",
                D::greatest("b.done_items", "excluded.done_items"),
                D::greatest("b.failed_items", "excluded.failed_items"),
                D::least("b.started_at", "excluded.started_at"),
                D::greatest(
                    "coalesce(b.last_progress_at, excluded.last_progress_at)",
                    "excluded.last_progress_at"
                ),
            ),
            state_of: format!("SELECT kind, status FROM {runs} WHERE id = $1"),
            today: format!(
                "SELECT kind,
                        CAST(sum(CASE WHEN day = $1 THEN items_done ELSE 0 END) AS BIGINT),
                        CAST(sum(CASE WHEN day = $1 THEN items_failed ELSE 0 END) AS BIGINT),
                        CAST(sum(CASE WHEN day = $1 THEN runs_completed ELSE 0 END) AS BIGINT),
                        CAST(sum(CASE WHEN day = $1 THEN runs_failed ELSE 0 END) AS BIGINT)
                 FROM {daily} WHERE day > $1 - 7 AND day <= $1 GROUP BY kind"
            ),
            last_hour: format!(
                "SELECT kind, {} FROM {minutely} WHERE minute >= $1 GROUP BY kind",
                D::sum_f64("items_done + items_failed")
            ),
            running: format!(
                "SELECT {RUN_COLUMNS}, running, pending FROM (
                     SELECT b.*,
                            row_number() OVER (PARTITION BY kind ORDER BY started_at DESC, id DESC) AS rn,
                            count(*) OVER (PARTITION BY kind) AS running,
                            {} OVER (PARTITION BY kind) AS pending
                     FROM {runs} b WHERE status = 'running') r
                 WHERE rn <= {RUNNING_SHOWN_MAX}
                 ORDER BY kind, started_at DESC, id DESC",
                D::sum_f64(
                    "CASE WHEN total_items > done_items + failed_items \
                     THEN total_items - done_items - failed_items ELSE 0 END"
                )
            ),
            select_runs: format!("SELECT {RUN_COLUMNS} FROM {runs}"),
            run_by_id: format!("SELECT {RUN_COLUMNS} FROM {runs} WHERE id = $1"),
            report_upsert: format!(
                "INSERT INTO {s}batch_source_reports (kind, pending, processing, completed_today,
                     failed_today, oldest_pending_at, error, reported_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (kind) DO UPDATE SET pending = excluded.pending,
                     processing = excluded.processing, completed_today = excluded.completed_today,
                     failed_today = excluded.failed_today,
                     oldest_pending_at = excluded.oldest_pending_at, error = excluded.error,
                     reported_at = excluded.reported_at"
            ),
            fail_stale: format!(
                "UPDATE {runs} SET status = 'failed', completed_at = $2, last_progress_at = $2,
                     error_message = $3
                 WHERE status = 'running' AND coalesce(last_progress_at, started_at) < $1"
            ),
            cleanup_runs: format!(
                "DELETE FROM {runs} WHERE id IN (SELECT id FROM {runs}
                     WHERE status <> 'running' AND started_at < $1 LIMIT $2)"
            ),
            cleanup_rollups: [
                format!("DELETE FROM {daily} WHERE day < $1"),
                format!("DELETE FROM {minutely} WHERE minute < $1"),
            ],
        }
    }
}

/// A batch run as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct BatchRunRow {
    id: Uuid,
    kind: String,
    #[sqlx(try_from = "String")]
    status: Status,
    total_items: Option<i64>,
    done_items: i64,
    failed_items: i64,
    started_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    last_progress_at: Option<DateTime<Utc>>,
    host: Option<String>,
    error_message: Option<String>,
}

impl From<BatchRunRow> for BatchRunRecord {
    fn from(r: BatchRunRow) -> Self {
        BatchRunRecord {
            duration_ms: r
                .completed_at
                .map(|end| (end - r.started_at).num_milliseconds().max(0)),
            id: r.id,
            kind: r.kind,
            status: r.status,
            total: r.total_items,
            done: r.done_items,
            failed: r.failed_items,
            started_at: r.started_at,
            completed_at: r.completed_at,
            last_progress_at: r.last_progress_at,
            host: r.host,
            error_message: r.error_message,
        }
    }
}

/// A running batch run with its kind's count of running runs and items left.
#[derive(sqlx::FromRow)]
pub(crate) struct RunningRow {
    #[sqlx(flatten)]
    run: BatchRunRow,
    running: i64,
    pending: Option<f64>,
}

/// A kind's row of today's roll-up: items done, items failed, runs completed, runs failed.
pub(crate) type TodayRow = (String, Option<i64>, Option<i64>, Option<i64>, Option<i64>);

/// The kinds' figures from the three reads: today's, the last hour's, the running runs.
pub(crate) fn recorded_kinds(
    today: Vec<TodayRow>,
    last_hour: Vec<(String, Option<f64>)>,
    running: Vec<RunningRow>,
) -> Vec<RecordedBatchKind> {
    use std::collections::BTreeMap;
    let mut kinds: BTreeMap<String, RecordedBatchKind> = BTreeMap::new();
    let kind_of = |kinds: &mut BTreeMap<String, RecordedBatchKind>, kind: &str| {
        kinds
            .entry(kind.to_owned())
            .or_insert_with(|| RecordedBatchKind {
                kind: kind.to_owned(),
                ..RecordedBatchKind::default()
            })
            .kind
            .clone()
    };
    for (kind, done, failed, completed, runs_failed) in today {
        let key = kind_of(&mut kinds, &kind);
        if let Some(k) = kinds.get_mut(&key) {
            k.items_done_today = done.unwrap_or(0);
            k.items_failed_today = failed.unwrap_or(0);
            k.runs_completed_today = completed.unwrap_or(0);
            k.runs_failed_today = runs_failed.unwrap_or(0);
        }
    }
    for (kind, items) in last_hour {
        let key = kind_of(&mut kinds, &kind);
        if let Some(k) = kinds.get_mut(&key) {
            let per_min = items.unwrap_or(0.0) / 60.0;
            k.throughput_per_min = (per_min * 10.0).round() / 10.0;
        }
    }
    for row in running {
        let key = kind_of(&mut kinds, &row.run.kind);
        if let Some(k) = kinds.get_mut(&key) {
            k.running_count = row.running;
            // `as` saturates: a sum past i64 reads as i64::MAX, never as an error.
            k.items_left = row.pending.unwrap_or(0.0) as i64;
            k.running.push(row.run.into());
        }
    }
    kinds.into_values().collect()
}

/// Batch-run operations, written once for each pool type.
macro_rules! batch_ops {
    ($Db:ty, $sql:path) => {
        mod batch_ops {
            use chrono::{DateTime, Utc};

            use $crate::batch::{
                BatchEvent, BatchFigures, BatchRunFilter, BatchRunRecord, RecordedBatchKind,
            };
            use $crate::error::{Error, Result};
            use $crate::model::{Outcome, PageRequest, Status};
            use $crate::store::batch_runs::{BatchRunRow, RunningRow, recorded_kinds};
            use $crate::store::db::Db as _;

            type Pool = sqlx::Pool<$Db>;
            type Conn = <$Db as sqlx::Database>::Connection;

            pub(crate) async fn record(conn: &mut Conn, e: &BatchEvent) -> Result<Outcome> {
                e.validate(Utc::now())?;
                let written = sqlx::query($sql.upsert.as_str())
                    .bind(e.id)
                    .bind(&e.batch_kind)
                    .bind(e.status.as_str())
                    .bind(e.total)
                    .bind(e.done)
                    .bind(e.failed)
                    .bind(e.started_at)
                    .bind(e.at)
                    .bind(e.stored_error())
                    .bind(e.host.as_deref())
                    .execute(&mut *conn)
                    .await
                    .db()?;
                if written.rows_affected() > 0 {
                    return Ok(Outcome::Recorded);
                }
                let stored: Option<(String, String)> = sqlx::query_as($sql.state_of.as_str())
                    .bind(e.id)
                    .fetch_optional(&mut *conn)
                    .await
                    .db()?;
                let Some((kind, status)) = stored else {
                    return Err(Error::UnknownExecution(e.id));
                };
                if kind != e.batch_kind {
                    return Err(Error::InvalidField {
                        field: "batchKind",
                        message: format!("batch run {} is of the kind `{kind}`", e.id),
                    });
                }
                match e.status {
                    // A report of progress that comes after the end: the end stands.
                    Status::Running => Ok(Outcome::AlreadyRecorded),
                    requested => {
                        $crate::store::finish_conflict(e.id, Some(status.parse()?), requested)
                    }
                }
            }

            pub(crate) async fn recorded(
                pool: &Pool,
                now: DateTime<Utc>,
            ) -> Result<Vec<RecordedBatchKind>> {
                let today = now.timestamp().div_euclid(86_400);
                let minute = now.timestamp().div_euclid(60) - 59;
                let daily = sqlx::query_as($sql.today.as_str())
                    .bind(today)
                    .fetch_all(pool)
                    .await
                    .db()?;
                let hour = sqlx::query_as($sql.last_hour.as_str())
                    .bind(minute)
                    .fetch_all(pool)
                    .await
                    .db()?;
                let running: Vec<RunningRow> = sqlx::query_as($sql.running.as_str())
                    .fetch_all(pool)
                    .await
                    .db()?;
                Ok(recorded_kinds(daily, hour, running))
            }

            pub(crate) async fn runs(
                pool: &Pool,
                filter: &BatchRunFilter,
                before: Option<(DateTime<Utc>, uuid::Uuid)>,
                limit: u32,
            ) -> Result<Vec<BatchRunRecord>> {
                PageRequest::new(1, limit)?;
                let mut q = sqlx::QueryBuilder::<$Db>::new($sql.select_runs.as_str());
                q.push(" WHERE TRUE");
                if let Some(kind) = &filter.kind {
                    q.push(" AND kind = ").push_bind(kind.clone());
                }
                if let Some(status) = filter.status {
                    q.push(" AND status = ").push_bind(status.as_str());
                }
                if let Some(from) = filter.from {
                    q.push(" AND started_at >= ").push_bind(from);
                }
                if let Some(to) = filter.to {
                    q.push(" AND started_at < ").push_bind(to);
                }
                $crate::store::sql::push_before!(q, before);
                // A literal: with `LIMIT $n` PostgreSQL's generic plan sorts instead of
                // walking the index.
                q.push(" ORDER BY started_at DESC, id DESC LIMIT ")
                    .push(limit);
                let rows: Vec<BatchRunRow> = q.build_query_as().fetch_all(pool).await.db()?;
                Ok(rows.into_iter().map(BatchRunRecord::from).collect())
            }

            pub(crate) async fn run(pool: &Pool, id: uuid::Uuid) -> Result<Option<BatchRunRecord>> {
                let row: Option<BatchRunRow> = sqlx::query_as($sql.run_by_id.as_str())
                    .bind(id)
                    .fetch_optional(pool)
                    .await
                    .db()?;
                Ok(row.map(BatchRunRecord::from))
            }

            pub(crate) async fn put_reports(
                pool: &Pool,
                reports: &[(String, std::result::Result<BatchFigures, String>)],
                now: DateTime<Utc>,
            ) -> Result<()> {
                let mut tx = pool.begin().await.db()?;
                for (kind, report) in reports {
                    let figures = report.as_ref().ok();
                    sqlx::query($sql.report_upsert.as_str())
                        .bind(kind)
                        .bind(figures.map(|f| f.pending))
                        .bind(figures.map(|f| f.processing))
                        .bind(figures.map(|f| f.completed_today))
                        .bind(figures.map(|f| f.failed_today))
                        .bind(figures.and_then(|f| f.oldest_pending_at))
                        .bind(report.as_ref().err())
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .db()?;
                }
                tx.commit().await.db()?;
                Ok(())
            }

            pub(crate) async fn fail_stale(
                pool: &Pool,
                before: DateTime<Utc>,
                now: DateTime<Utc>,
                message: &str,
            ) -> Result<u64> {
                Ok(sqlx::query($sql.fail_stale.as_str())
                    .bind(before)
                    .bind(now)
                    .bind(message)
                    .execute(pool)
                    .await
                    .db()?
                    .rows_affected())
            }

            pub(crate) async fn cleanup(
                pool: &Pool,
                before: DateTime<Utc>,
                batch: u32,
            ) -> Result<u64> {
                let deleted =
                    super::delete_in_batches(pool, $sql.cleanup_runs.as_str(), before, batch)
                        .await?;
                // Minutes are read for the last hour only; two days leave room for any clock.
                let minute = Utc::now().timestamp().div_euclid(60) - 2 * 1440;
                sqlx::query($sql.cleanup_rollups[0].as_str())
                    .bind(before.timestamp().div_euclid(86_400))
                    .execute(pool)
                    .await
                    .db()?;
                sqlx::query($sql.cleanup_rollups[1].as_str())
                    .bind(minute)
                    .execute(pool)
                    .await
                    .db()?;
                Ok(deleted)
            }
        }
    };
}
pub(super) use batch_ops;
