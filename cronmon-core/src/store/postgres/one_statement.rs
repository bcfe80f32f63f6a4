//! The common batch, starts and completions only, in one statement: the cron locks, the
//! inserted starts and the applied finishes are one `WITH` that commits on its own. The
//! transaction of [`record_batch_fast`](super::batch::record_batch_fast) takes seven round
//! trips to the database (`BEGIN`, the locks, the starts, the finishes, `COMMIT`, two of them
//! planned afresh); under one event a request, with batches of about eight runs, those round
//! trips were most of a writer's time.
//!
//! One statement has one snapshot: a finish cannot see a start inserted beside it. So a run
//! whose start and end are both in the batch is inserted ended, as a start followed by its
//! finish would leave it (the duration, when not given, from its start to its end). What the
//! statement does not settle (a repeated id, a finish that did not apply, a run started and
//! ended whose row was already there) is recorded afterwards by the per-event path, in a
//! transaction of its own, for its exact result; every event is idempotent, so the batch need
//! not be one transaction.
//!
//! The statement runs as the body of a function (`cronmon.cron_record_runs`, PostgreSQL
//! migration 0015) so that it is planned once per connection: planned at every call it cost
//! PostgreSQL about as much to plan as to run. The function's planner settings keep that one
//! plan on the primary key even when it was made on an empty table
//! (`store_batch::the_batch_plan_made_on_an_empty_table_looks_runs_up_by_id`).

use uuid::Uuid;

use super::batch::{
    Ends, Finishes, LOCK_SPACE, StartColumns, bind_ends, bind_starts, lock_keys, record_batch_fast,
    record_batch_locked,
};
use crate::error::{Error, Result};
use crate::model::{Event, Outcome};
use crate::store::db::Db as _;
use crate::store::runs_plan::RunsPlan;

/// The statement, as the body of `cronmon.cron_record_runs` (PostgreSQL migration 0015): the
/// function plans it once per connection, under settings that keep every lookup on the primary
/// key whatever the table's size or statistics, instead of at every call. Its text is
/// `tests::RECORD_RUNS`, which the unit test checks against the migration.
const CALL_RECORD_RUNS: &str = "SELECT run_started, run_id FROM cronmon.cron_record_runs(
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
    $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33)";

impl Ends {
    fn push_running(&mut self) {
        self.status.push("running");
        self.reason.push(None);
        self.completed_at.push(None);
        self.duration_ms.push(None);
        self.output.push(None);
        self.truncated.push(false);
        self.error_message.push(None);
        self.exit_code.push(None);
        self.cpu_ms.push(None);
        self.max_rss_kb.push(None);
    }
}

/// Records `events` (already checked by [`Event::validate`]): starts and finishes in one
/// statement, then the per-event path for what it did not settle; a batch with heartbeats or
/// batch-run reports in [`record_batch_fast`]'s transaction. `None` when the database refused
/// the data (the caller then takes the per-event path for the whole batch).
pub(super) async fn record_runs(
    pool: &sqlx::PgPool,
    events: &[Event],
) -> Result<Option<Vec<Result<Outcome>>>> {
    let Some(plan) = RunsPlan::of(events, false) else {
        return record_batch_fast(pool, events).await;
    };
    let mut starts = StartColumns::default();
    let mut ends = Ends::default();
    for row in &plan.rows {
        starts.push(row.start);
        match row.finish {
            Some((_, f)) => ends.push(f),
            None => ends.push_running(),
        }
    }
    let mut updates = Finishes::default();
    for &(i, f) in &plan.updates {
        updates.push(i, f);
    }

    let (names, ids) = lock_keys(events);
    let query = sqlx::query_as(CALL_RECORD_RUNS)
        .bind(&names)
        .bind(&ids)
        .bind(LOCK_SPACE);
    let query = bind_ends!(bind_starts!(query, starts), ends).bind(&updates.id);
    let written: Vec<(bool, Uuid)> = match bind_ends!(query, updates.end).fetch_all(pool).await.db()
    {
        Ok(written) => written,
        Err(Error::Database(e)) if !e.is_transient() => {
            tracing::debug!(error = %e, "one-statement batch refused; recording event by event");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let settled = plan.settle(events.len(), &written);
    let rest = settled.rest(events);
    let rest = if rest.is_empty() {
        Vec::new()
    } else {
        record_batch_locked(pool, &rest).await?
    };
    Ok(Some(settled.finish(rest)))
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use crate::store::postgres::Postgres;
    use crate::store::postgres::batch::LOCK_CRONS;
    use crate::store::sql::{Dialect as _, finish_applies};

    /// The cron locks first ([`LOCK_CRONS`], an init plan that gates both writes, so no row
    /// is touched before every cron is locked, in key order), then the starts and the
    /// finishes.
    static RECORD_RUNS: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH locked AS MATERIALIZED ({LOCK_CRONS}),
    started AS (
        INSERT INTO cronmon.cron_executions
            (id, cron_name, status, trigger_type, started_at, host, pid, boot_id, version,
             scheduled_for, reason, completed_at, duration_ms, output, output_truncated,
             error_message, exit_code, cpu_ms, max_rss_kb)
        SELECT u.id, u.cron_name, u.status, u.trigger_type, u.started_at, u.host, u.pid, u.boot_id,
               u.version, u.scheduled_for, u.reason, u.completed_at,
               CASE WHEN u.status = 'running' THEN NULL ELSE coalesce(u.duration_ms, {started_elapsed}) END,
               u.output::jsonb, u.truncated, u.error_message, u.exit_code, u.cpu_ms, u.max_rss_kb
        FROM UNNEST($4::uuid[], $5::text[], $6::text[], $7::timestamptz[], $8::text[], $9::int4[],
                    $10::text[], $11::text[], $12::timestamptz[],
                    $13::text[], $14::text[], $15::timestamptz[], $16::int8[], $17::text[],
                    $18::bool[], $19::text[], $20::int4[], $21::int8[], $22::int8[])
            AS u(id, cron_name, trigger_type, started_at, host, pid, boot_id, version, scheduled_for,
                 status, reason, completed_at, duration_ms, output, truncated, error_message,
                 exit_code, cpu_ms, max_rss_kb)
        WHERE (SELECT locked FROM locked) >= 0
        ON CONFLICT (id) DO NOTHING
        RETURNING id),
    finished AS (
        UPDATE cronmon.cron_executions e SET
            status = u.status, reason = u.reason, completed_at = u.completed_at,
            duration_ms = coalesce(u.duration_ms, {elapsed}),
            output = u.output::jsonb, output_truncated = u.truncated, error_message = u.error_message,
            exit_code = u.exit_code, cpu_ms = u.cpu_ms, max_rss_kb = u.max_rss_kb
        FROM UNNEST($23::uuid[], $24::text[], $25::text[], $26::timestamptz[], $27::int8[],
                    $28::text[], $29::bool[], $30::text[], $31::int4[], $32::int8[], $33::int8[])
            AS u(id, status, reason, completed_at, duration_ms, output, truncated, error_message,
                 exit_code, cpu_ms, max_rss_kb)
        WHERE e.id = u.id AND {applies} AND (SELECT locked FROM locked) >= 0
        RETURNING e.id)
    SELECT TRUE AS started, id FROM started
    UNION ALL
    SELECT FALSE, id FROM finished",
            started_elapsed = Postgres::elapsed_ms("u.started_at", "u.completed_at"),
            elapsed = Postgres::elapsed_ms("e.started_at", "u.completed_at"),
            applies = finish_applies("e.", "u.reason"),
        )
    });

    /// The migration that made the statement a function holds it word for word: a change to
    /// the statement here (or to the rules it is written from) needs a migration that
    /// replaces the function.
    #[test]
    fn the_function_runs_this_statement() {
        let migration = include_str!(
            "../../../../migrations/postgres/20261205000015_one_statement_planned_once.sql"
        );
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            words(migration).contains(&words(&RECORD_RUNS)),
            "migration 0015 no longer runs RECORD_RUNS: replace cronmon.cron_record_runs"
        );
    }
}
