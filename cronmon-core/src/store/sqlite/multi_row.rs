//! The common batch on SQLite, starts and completions only, in one call to the database: a
//! transaction of one multi-row `INSERT` of the runs (ended already when their finish is in
//! the batch too) and one multi-row `UPDATE … FROM` of the finishes. Statement by statement, a
//! batch of 500 events was 500 hand-offs to sqlx's SQLite worker thread, and under the batch
//! endpoint that thread spent more time in the kernel (the wake-ups) than in SQLite: three
//! times the events a second now. What the statements do not settle goes through the
//! per-event path afterwards ([`RunsPlan`]); every event is idempotent, so that part need not
//! share the transaction.

use std::sync::LazyLock;

use sqlx::pool::PoolConnection;
use sqlx::query_builder::Separated;
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite as Db, SqlitePool};
use uuid::Uuid;

use super::Sqlite;
use crate::error::{Error, Result};
use crate::model::{Event, Finish, Outcome};
use crate::store::db::Db as _;
use crate::store::runs_plan::RunsPlan;
use crate::store::sql::{Dialect as _, finish_applies};

/// Rows a statement writes at most: 19 variables each stays far below SQLite's 32,766.
const ROWS_PER_STATEMENT: usize = 256;

/// A finish's columns, in the order of [`UPDATE_FINISHES`]'s `u` and of the ended runs' tail.
const END_COLUMNS: &str = "status, reason, completed_at, duration_ms, output, output_truncated, \
    error_message, exit_code, cpu_ms, max_rss_kb";

/// The runs, from `VALUES` whose columns SQLite names `column1`…`column19`: a run inserted
/// ended without a duration lasted from its start to its end, as the shared finish computes.
static INSERT_RUNS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO cron_executions
    (id, cron_name, trigger_type, started_at, host, pid, boot_id, version, scheduled_for, {END_COLUMNS})
SELECT column1, column2, column3, column4, column5, column6, column7, column8, column9,
       column10, column11, column12,
       CASE WHEN column10 = 'running' THEN NULL ELSE coalesce(column13, {elapsed}) END,
       column14, column15, column16, column17, column18, column19
FROM (",
        elapsed = Sqlite::elapsed_ms("column4", "column12"),
    )
});

/// After the `VALUES`: `WHERE true` tells SQLite's parser the `ON CONFLICT` is an upsert's.
const INSERT_RUNS_END: &str = ") WHERE true ON CONFLICT (id) DO NOTHING RETURNING TRUE, id";

static UPDATE_FINISHES: LazyLock<String> =
    LazyLock::new(|| format!("WITH u(id, {END_COLUMNS}) AS ("));

static UPDATE_FINISHES_END: LazyLock<String> = LazyLock::new(|| {
    format!(
        ")
UPDATE cron_executions SET
    status = u.status, reason = u.reason, completed_at = u.completed_at,
    duration_ms = coalesce(u.duration_ms, {elapsed}), output = u.output,
    output_truncated = u.output_truncated, error_message = u.error_message,
    exit_code = u.exit_code, cpu_ms = u.cpu_ms, max_rss_kb = u.max_rss_kb
FROM u WHERE cron_executions.id = u.id AND {applies}
RETURNING FALSE, id",
        elapsed = Sqlite::elapsed_ms("cron_executions.started_at", "u.completed_at"),
        applies = finish_applies("cron_executions.", "u.reason"),
    )
});

/// Pushes a finish's ten columns, or a running run's.
fn push_end(row: &mut Separated<'_, Db, &'static str>, f: Option<&Finish>) {
    let Some(f) = f else {
        row.push("'running'")
            .push_unseparated(", NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL");
        return;
    };
    let (output, truncated) = f.stored_output();
    row.push_bind(f.status.as_str())
        .push_bind(f.reason.map(|r| r.as_str()))
        .push_bind(f.completed_at)
        .push_bind(f.duration_ms)
        .push_bind(output.map(Json))
        .push_bind(truncated)
        .push_bind(f.stored_error())
        .push_bind(f.exit_code)
        .push_bind(f.cpu_ms)
        .push_bind(f.max_rss_kb);
}

/// Records `events` (already checked by [`Event::validate`]) with multi-row statements in one
/// transaction, then the per-event path for what they did not settle, for heartbeats and for
/// batch-run reports. `None` when the batch holds a heartbeat of a run it also ends, nothing
/// but heartbeats and reports, or when the database refused the data: the caller then records
/// it event by event.
pub(super) async fn record_runs(
    pool: &SqlitePool,
    events: &[Event],
) -> Result<Option<Vec<Result<Outcome>>>> {
    let Some(plan) = RunsPlan::of(events, true) else {
        return Ok(None);
    };
    match write(pool, events, &plan).await {
        Ok(results) => Ok(Some(results)),
        Err(e) if e.is_transient() => Err(e),
        Err(Error::Database(e)) => {
            tracing::debug!(error = %e, "multi-row batch refused; recording event by event");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The pool connection of a transaction begun by hand, closed rather than returned to the
/// pool unless it was seen to end: a future dropped mid-write (or a failed rollback) must not
/// hand the next user a connection inside an open transaction.
struct Unfinished(Option<PoolConnection<Db>>);

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(conn) = &mut self.0 {
            conn.close_on_drop();
        }
    }
}

async fn write(
    pool: &SqlitePool,
    events: &[Event],
    plan: &RunsPlan<'_>,
) -> Result<Vec<Result<Outcome>>> {
    // `BEGIN IMMEDIATE`: the write lock at once, waiting out the busy timeout for another
    // process's writer, instead of failing to upgrade a read lock half-way.
    let mut q = QueryBuilder::<Db>::new("BEGIN IMMEDIATE;\n");
    for chunk in plan.rows.chunks(ROWS_PER_STATEMENT) {
        q.push(INSERT_RUNS.as_str());
        q.push_values(chunk, |mut row, run| {
            let s = run.start;
            row.push_bind(s.id)
                .push_bind(s.cron_name.as_str())
                .push_bind(s.trigger_type.as_str())
                .push_bind(s.started_at)
                .push_bind(s.host.as_deref())
                .push_bind(s.pid)
                .push_bind(s.boot_id.as_deref())
                .push_bind(s.version.as_deref())
                .push_bind(s.scheduled_for);
            push_end(&mut row, run.finish.map(|(_, f)| f));
        });
        q.push(INSERT_RUNS_END).push(";\n");
    }
    for chunk in plan.updates.chunks(ROWS_PER_STATEMENT) {
        q.push(UPDATE_FINISHES.as_str());
        q.push_values(chunk, |mut row, &(_, f)| {
            row.push_bind(f.id);
            push_end(&mut row, Some(f));
        });
        q.push(UPDATE_FINISHES_END.as_str()).push(";\n");
    }
    q.push("COMMIT");

    let mut conn = Unfinished(None);
    let c = conn.0.insert(pool.acquire().await.db()?);
    let written: Vec<(bool, Uuid)> = match q
        .build_query_as()
        // One text per mix of batch sizes: kept out of the statement cache, which would
        // otherwise drop the dashboard's statements for them.
        .persistent(false)
        .fetch_all(&mut **c)
        .await
        .db()
    {
        Ok(written) => written,
        Err(e) => {
            // Refused mid-way, the transaction is still open (or never began: then the
            // rollback fails too and the connection is closed, which costs nothing here).
            if sqlx::query("ROLLBACK").execute(&mut **c).await.is_ok() {
                conn.0.take();
            }
            return Err(e);
        }
    };
    conn.0.take();
    let settled = plan.settle(events.len(), &written);
    let rest = settled.rest(events);
    let rest = if rest.is_empty() {
        Vec::new()
    } else {
        super::record_batch(pool, &rest).await?
    };
    Ok(settled.finish(rest))
}
