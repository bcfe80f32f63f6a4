//! The sweep's per-cron steps on PostgreSQL as one statement each, the crons passed as arrays
//! through `unnest`: reading the starts of the due crons, writing their judgements (cursors and
//! `missed` rows), reading the crons to evaluate and their recent runs. A sweep of 1,000 due
//! crons is then a few round trips instead of a few thousand (and one run of the roll-up
//! trigger for its `missed` rows, not one per row), which is what keeps it under a second
//! (`examples/sweep_bench.rs`). SQLite keeps the loops of `store/health.rs`: in-process, a
//! statement per cron costs no round trip.
//!
//! Each answers exactly what the loop answers, in the same order.

use std::collections::HashSet;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::batch::LOCK_SPACE;
use crate::error::Result;
use crate::health::{DirtyCron, Judgement, RunBrief};
use crate::store::db::Db as _;
use crate::store::health::{RUN_BRIEF_COLUMNS, dirty_cron_select, missed_row};
use crate::store::rows;

type Pool = sqlx::PgPool;

/// Starts within each window, the window's place in the arrays beside each (from 1). One index
/// scan per cron, as the loop does: the lateral join keeps the planner from scanning the runs
/// of every cron.
const STARTS_BETWEEN: &str = "\
SELECT w.i, e.started_at
FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY
    AS w(cron_name, since, until, i)
CROSS JOIN LATERAL (
    SELECT started_at FROM cronmon.cron_executions e
    WHERE e.cron_name = w.cron_name AND e.started_at >= w.since AND e.started_at <= w.until
      AND (e.reason IS NULL OR e.reason <> 'missed')
) e";

/// The advisory lock of each cron named, in key order: the protocol of every writer of runs
/// (see `batch.rs`), which the `missed` rows are.
const LOCK_CRONS: &str = "\
SELECT count(pg_advisory_xact_lock($2, k.key)) FROM (
    SELECT DISTINCT hashtext(n) AS key FROM unnest($1::text[]) n ORDER BY 1
) k";

/// The schedule rows, locked in name order (as writers lock them) before one statement
/// updates them in whatever order its plan takes.
const LOCK_SCHEDULES: &str = "\
SELECT count(*) FROM (
    SELECT 1 FROM cronmon.cron_schedules WHERE cron_name = ANY($1::text[])
    ORDER BY cron_name FOR NO KEY UPDATE
) l";

/// Moves each cursor still where the judgement read it (the loop's compare-and-set).
const ADVANCE_CURSORS: &str = "\
UPDATE cronmon.cron_schedules s SET judged_through = j.judged_through,
    next_deadline_at = j.next_deadline_at, missed_in_row = j.missed_in_row,
    missed_rest_slot = j.missed_rest_slot
FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::int8[], $5::timestamptz[],
            $6::timestamptz[])
    AS j(cron_name, judged_through, next_deadline_at, missed_in_row, missed_rest_slot, was)
WHERE s.cron_name = j.cron_name AND s.judged_through = j.was
RETURNING s.cron_name";

/// The multi-row form of `insert_missed` (`store/health.rs`).
const INSERT_MISSED: &str = "\
INSERT INTO cronmon.cron_executions
    (id, cron_name, status, reason, trigger_type, started_at, completed_at, error_message,
     scheduled_for, slots_missed)
SELECT m.id, m.cron_name, 'failed', 'missed', 'scheduled', m.slot, m.deadline, m.message,
       m.slot, m.count
FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[],
            $6::int8[])
    AS m(id, cron_name, slot, deadline, message, count)
ON CONFLICT (cron_name, scheduled_for) WHERE reason = 'missed'
DO UPDATE SET completed_at = excluded.completed_at, error_message = excluded.error_message,
    slots_missed = excluded.slots_missed";

static DIRTY_CRONS: LazyLock<String> = LazyLock::new(|| {
    format!(
        // In byte order, the order of the names as the loop sorts them.
        "{} WHERE s.cron_name = ANY($1::text[]) ORDER BY s.cron_name COLLATE \"C\"",
        dirty_cron_select("cronmon.cron_schedules", "cronmon.incidents")
    )
});

/// The newest runs of each cron, the cron's place in the array beside each (from 1).
static RECENT_RUNS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT n.i, r.* FROM unnest($1::text[]) WITH ORDINALITY AS n(cron_name, i)
CROSS JOIN LATERAL (
    SELECT {RUN_BRIEF_COLUMNS} FROM cronmon.cron_executions e
    WHERE e.cron_name = n.cron_name ORDER BY e.started_at DESC LIMIT $2
) r
ORDER BY n.i, r.started_at DESC"
    )
});

#[derive(sqlx::FromRow)]
struct IndexedRun {
    i: i64,
    #[sqlx(flatten)]
    run: rows::RunBriefRow,
}

/// The list at place `i` (from 1) of `lists`; none for a place out of range, which the
/// statements above never answer.
fn at<T>(lists: &mut [Vec<T>], i: i64) -> Option<&mut Vec<T>> {
    usize::try_from(i)
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| lists.get_mut(i))
}

pub(super) async fn starts_between(
    pool: &Pool,
    windows: &[(String, DateTime<Utc>, DateTime<Utc>)],
) -> Result<Vec<Vec<DateTime<Utc>>>> {
    let mut all = vec![Vec::new(); windows.len()];
    if windows.is_empty() {
        return Ok(all);
    }
    let names: Vec<&str> = windows.iter().map(|w| w.0.as_str()).collect();
    let since: Vec<DateTime<Utc>> = windows.iter().map(|w| w.1).collect();
    let until: Vec<DateTime<Utc>> = windows.iter().map(|w| w.2).collect();
    let rows: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(STARTS_BETWEEN)
        .bind(&names)
        .bind(&since)
        .bind(&until)
        .fetch_all(pool)
        .await
        .db()?;
    for (i, started_at) in rows {
        if let Some(starts) = at(&mut all, i) {
            starts.push(started_at);
        }
    }
    Ok(all)
}

pub(super) async fn record_judgements(
    pool: &Pool,
    judgements: &[Judgement],
) -> Result<Option<Vec<bool>>> {
    let mut seen = HashSet::with_capacity(judgements.len());
    if !judgements.iter().all(|j| seen.insert(j.cron_name.as_str())) {
        // A cron judged twice: only the loop applies its compare-and-set one after the other.
        return Ok(None);
    }
    if judgements.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let names: Vec<&str> = judgements.iter().map(|j| j.cron_name.as_str()).collect();
    let mut tx = pool.begin().await.db()?;
    let missing: Vec<&str> = judgements
        .iter()
        .filter(|j| !j.missed.is_empty())
        .map(|j| j.cron_name.as_str())
        .collect();
    if !missing.is_empty() {
        sqlx::query(LOCK_CRONS)
            .bind(&missing)
            .bind(LOCK_SPACE)
            .execute(&mut *tx)
            .await
            .db()?;
    }
    sqlx::query(LOCK_SCHEDULES)
        .bind(&names)
        .execute(&mut *tx)
        .await
        .db()?;
    let moved: Vec<String> = sqlx::query_scalar(ADVANCE_CURSORS)
        .bind(&names)
        .bind(
            judgements
                .iter()
                .map(|j| j.judged_through)
                .collect::<Vec<_>>(),
        )
        .bind(
            judgements
                .iter()
                .map(|j| j.next_deadline_at)
                .collect::<Vec<_>>(),
        )
        .bind(
            judgements
                .iter()
                .map(|j| j.missed_in_row)
                .collect::<Vec<_>>(),
        )
        .bind(
            judgements
                .iter()
                .map(|j| j.missed_rest_slot)
                .collect::<Vec<_>>(),
        )
        .bind(
            judgements
                .iter()
                .map(|j| j.judged_through_was)
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut *tx)
        .await
        .db()?;
    let moved: HashSet<&str> = moved.iter().map(String::as_str).collect();
    let applied: Vec<bool> = judgements
        .iter()
        .map(|j| moved.contains(j.cron_name.as_str()))
        .collect();

    let mut ids: Vec<Uuid> = Vec::new();
    let mut crons: Vec<&str> = Vec::new();
    let mut slots: Vec<DateTime<Utc>> = Vec::new();
    let mut deadlines: Vec<DateTime<Utc>> = Vec::new();
    let mut messages: Vec<String> = Vec::new();
    let mut counts: Vec<i64> = Vec::new();
    for (j, _) in judgements.iter().zip(&applied).filter(|(_, a)| **a) {
        for m in &j.missed {
            let (id, count, message) = missed_row(j, m);
            ids.push(id);
            crons.push(j.cron_name.as_str());
            slots.push(m.slot);
            deadlines.push(m.deadline);
            messages.push(message);
            counts.push(count);
        }
    }
    if !ids.is_empty() {
        sqlx::query(INSERT_MISSED)
            .bind(&ids)
            .bind(&crons)
            .bind(&slots)
            .bind(&deadlines)
            .bind(&messages)
            .bind(&counts)
            .execute(&mut *tx)
            .await
            .db()?;
    }
    tx.commit().await.db()?;
    Ok(Some(applied))
}

/// The crons whose mark this claims (see `claim_dirty`), and those of `also`, in name order.
pub(super) async fn dirty_crons(
    pool: &Pool,
    limit: u32,
    also: &[String],
) -> Result<Vec<DirtyCron>> {
    let mut conn = pool.acquire().await.db()?;
    let mut names: Vec<String> = sqlx::query_scalar(super::HEALTH_SQL.claim_dirty.as_str())
        .bind(i64::from(limit.max(1)))
        .fetch_all(&mut *conn)
        .await
        .db()?;
    names.extend(also.iter().cloned());
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<rows::DirtyCronRow> = sqlx::query_as(DIRTY_CRONS.as_str())
        .bind(&names)
        .fetch_all(&mut *conn)
        .await
        .db()?;
    Ok(rows::into_model(rows))
}

pub(super) async fn recent_runs(
    pool: &Pool,
    names: &[String],
    limit: u32,
) -> Result<Vec<Vec<RunBrief>>> {
    let mut all = vec![Vec::new(); names.len()];
    if names.is_empty() {
        return Ok(all);
    }
    let rows: Vec<IndexedRun> = sqlx::query_as(RECENT_RUNS.as_str())
        .bind(names)
        .bind(i64::from(limit.max(1)))
        .fetch_all(pool)
        .await
        .db()?;
    for r in rows {
        if let Some(runs) = at(&mut all, r.i) {
            runs.push(RunBrief::from(r.run));
        }
    }
    Ok(all)
}
