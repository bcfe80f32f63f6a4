//! The sweep's per-cron steps on PostgreSQL as one statement each, the crons passed as arrays
//! through `unnest`: reading the starts of the due crons, writing their judgements (cursors and
//! `missed` rows), reading the crons to evaluate and their recent runs, writing what their
//! evaluation decided (replaced `missed` rows, anomaly flags, incidents and their events). A
//! sweep of 1,000 due crons is then a few round trips instead of several thousand (and one run
//! of the roll-up trigger for its `missed` rows, not one per row), which is what keeps it well
//! under a second (`examples/sweep_bench.rs`). SQLite keeps the loops of `store/health.rs`: in-process, a
//! statement per cron costs no round trip.
//!
//! Each answers exactly what the loop answers, in the same order.

use std::collections::HashSet;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::Connection as _;
use uuid::Uuid;

use super::batch::LOCK_SPACE;
use crate::error::Result;
use crate::health::{DirtyCron, HealthChange, IncidentEventKind, Judgement, RunBrief};
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

/// The crons marked for a second look, in name order (claimed by [`CLAIM_DIRTY`]).
const DIRTY_NAMES: &str = "\
SELECT cron_name FROM cronmon.cron_schedules WHERE health_dirty ORDER BY cron_name LIMIT $1";

/// Clears the marks of `$1` still set, under their crons' locks; answers the crons claimed.
const CLAIM_DIRTY: &str = "\
UPDATE cronmon.cron_schedules SET health_dirty = FALSE
WHERE cron_name = ANY($1) AND health_dirty
RETURNING cron_name";

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

/// The multi-row forms of the statements of `apply_health` (`store/health.rs`).
const DELETE_MISSED: &str = "\
DELETE FROM cronmon.cron_executions e
USING unnest($1::text[], $2::timestamptz[]) AS d(cron_name, slot)
WHERE e.cron_name = d.cron_name AND e.reason = 'missed' AND e.scheduled_for = d.slot";

const FLAG_ANOMALIES: &str = "\
UPDATE cronmon.cron_executions e SET anomaly = u.anomaly
FROM unnest($1::uuid[], $2::text[]) AS u(id, anomaly)
WHERE e.id = u.id AND e.anomaly IS NULL";

const ANOMALIES_CHECKED: &str = "\
UPDATE cronmon.cron_schedules s SET anomaly_checked_at = u.at
FROM unnest($1::text[], $2::timestamptz[]) AS u(cron_name, at)
WHERE s.cron_name = u.cron_name";

const RESOLVE_INCIDENTS: &str = "\
UPDATE cronmon.incidents i SET resolved_at = u.at, resolving_execution_id = u.by
FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[]) AS u(id, at, by)
WHERE i.id = u.id AND i.resolved_at IS NULL
RETURNING i.id";

/// The unique index on open incidents turns a second open one into nothing.
const OPEN_INCIDENTS: &str = "\
INSERT INTO cronmon.incidents (id, cron_name, kind, opened_at, opening_execution_id,
    opened_from, error_message, resolved_at, resolving_execution_id, after_outage)
SELECT o.id, o.cron_name, o.kind, o.opened_at, o.opening, o.opened_from, o.error_message,
       NULL, NULL, o.after_outage
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::uuid[],
            $6::timestamptz[], $7::text[], $8::bool[])
    AS o(id, cron_name, kind, opened_at, opening, opened_from, error_message, after_outage)
ON CONFLICT DO NOTHING
RETURNING id";

/// The events in the order given, which is the order of their ids (the outbox's order).
const INSERT_EVENTS: &str = "\
INSERT INTO cronmon.incident_events (kind, incident_id, cron_name, at)
SELECT e.kind, e.incident_id, e.cron_name, e.at
FROM unnest($1::text[], $2::uuid[], $3::text[], $4::timestamptz[]) WITH ORDINALITY
    AS e(kind, incident_id, cron_name, at, n)
ORDER BY e.n";

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
    // Every judged cron, not only those with missed rows: a writer may hold one's schedule row
    // (its roll-up trigger marks it dirty) while waiting for another's that this transaction
    // would lock first. Under the writers' advisory locks, taken before any row, the two queue.
    lock_crons(&mut tx, &names).await?;
    lock_schedules(&mut tx, &names).await?;
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
    let marked: Vec<String> = sqlx::query_scalar(DIRTY_NAMES)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&mut *conn)
        .await
        .db()?;
    let mut names = Vec::new();
    if !marked.is_empty() {
        // Writers mark a cron without locking its row when the mark is already set, so a
        // claim could land between a writer's mark and its commit, and this sweep read the
        // cron without that writer's runs. Under the crons' locks, which every writer holds
        // from its first statement to its commit, the claim waits for the writers in flight
        // (and a second sweeper for the first, finding nothing left to claim).
        let mut tx = conn.begin().await.db()?;
        let keys: Vec<&str> = marked.iter().map(String::as_str).collect();
        lock_crons(&mut tx, &keys).await?;
        names = sqlx::query_scalar(CLAIM_DIRTY)
            .bind(&marked)
            .persistent(false)
            .fetch_all(&mut *tx)
            .await
            .db()?;
        tx.commit().await.db()?;
    }
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

/// Takes the advisory lock of each cron of `names` (see [`LOCK_CRONS`]).
async fn lock_crons(conn: &mut sqlx::PgConnection, names: &[&str]) -> Result<()> {
    if !names.is_empty() {
        sqlx::query(LOCK_CRONS)
            .bind(names)
            .bind(LOCK_SPACE)
            .execute(&mut *conn)
            .await
            .db()?;
    }
    Ok(())
}

/// Locks the schedule rows of `names` in name order (see [`LOCK_SCHEDULES`]).
async fn lock_schedules(conn: &mut sqlx::PgConnection, names: &[&str]) -> Result<()> {
    if !names.is_empty() {
        sqlx::query(LOCK_SCHEDULES)
            .bind(names)
            .execute(&mut *conn)
            .await
            .db()?;
    }
    Ok(())
}

/// Writes every change in one transaction, a statement per kind of change; answers the ids of
/// the incidents it opened, in the order of `changes`. Within a cron, a resolution comes
/// before an opening (all resolutions are written before any opening), as in the loop.
pub(super) async fn apply_health(pool: &Pool, changes: &[HealthChange]) -> Result<Vec<Uuid>> {
    let mut tx = pool.begin().await.db()?;
    // The writers' protocol for every cron this touches, before any row: the statements below
    // lock runs and schedule rows that a writer's batch, holding some of them, may also want
    // (a deadlock, found only after `deadlock_timeout`, which stalled ingest for a second).
    let mut touched: Vec<&str> = changes.iter().map(|c| c.cron_name.as_str()).collect();
    touched.sort_unstable();
    touched.dedup();
    lock_crons(&mut tx, &touched).await?;

    let (crons, slots): (Vec<&str>, Vec<DateTime<Utc>>) = changes
        .iter()
        .flat_map(|c| {
            c.replaced_missed
                .iter()
                .map(move |slot| (c.cron_name.as_str(), *slot))
        })
        .unzip();
    if !crons.is_empty() {
        sqlx::query(DELETE_MISSED)
            .bind(&crons)
            .bind(&slots)
            .execute(&mut *tx)
            .await
            .db()?;
    }

    let (ids, anomalies): (Vec<Uuid>, Vec<&str>) = changes
        .iter()
        .flat_map(|c| c.anomalies.iter().map(|(id, a)| (*id, a.as_str())))
        .unzip();
    if !ids.is_empty() {
        sqlx::query(FLAG_ANOMALIES)
            .bind(&ids)
            .bind(&anomalies)
            .execute(&mut *tx)
            .await
            .db()?;
    }

    let (names, ats): (Vec<&str>, Vec<DateTime<Utc>>) = changes
        .iter()
        .filter_map(|c| c.anomaly_checked_at.map(|at| (c.cron_name.as_str(), at)))
        .unzip();
    if !names.is_empty() {
        lock_schedules(&mut tx, &names).await?;
        sqlx::query(ANOMALIES_CHECKED)
            .bind(&names)
            .bind(&ats)
            .execute(&mut *tx)
            .await
            .db()?;
    }

    let resolves: Vec<(Uuid, DateTime<Utc>, Option<Uuid>)> =
        changes.iter().filter_map(|c| c.resolve).collect();
    let resolved: HashSet<Uuid> = if resolves.is_empty() {
        HashSet::new()
    } else {
        let ids: Vec<Uuid> = sqlx::query_scalar(RESOLVE_INCIDENTS)
            .bind(resolves.iter().map(|r| r.0).collect::<Vec<_>>())
            .bind(resolves.iter().map(|r| r.1).collect::<Vec<_>>())
            .bind(resolves.iter().map(|r| r.2).collect::<Vec<_>>())
            .fetch_all(&mut *tx)
            .await
            .db()?;
        ids.into_iter().collect()
    };

    let opens: Vec<&crate::health::Incident> =
        changes.iter().filter_map(|c| c.open.as_ref()).collect();
    let opened: HashSet<Uuid> = if opens.is_empty() {
        HashSet::new()
    } else {
        let ids: Vec<Uuid> = sqlx::query_scalar(OPEN_INCIDENTS)
            .bind(opens.iter().map(|i| i.id).collect::<Vec<_>>())
            .bind(
                opens
                    .iter()
                    .map(|i| i.cron_name.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(opens.iter().map(|i| i.kind.as_str()).collect::<Vec<_>>())
            .bind(opens.iter().map(|i| i.opened_at).collect::<Vec<_>>())
            .bind(
                opens
                    .iter()
                    .map(|i| i.opening_execution_id)
                    .collect::<Vec<_>>(),
            )
            .bind(opens.iter().map(|i| i.opened_from).collect::<Vec<_>>())
            .bind(
                opens
                    .iter()
                    .map(|i| i.error_message.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(opens.iter().map(|i| i.after_outage).collect::<Vec<_>>())
            .fetch_all(&mut *tx)
            .await
            .db()?;
        ids.into_iter().collect()
    };

    // The events of what took effect, in the loop's order: per change, its resolution, then
    // its opening.
    let mut kinds: Vec<&str> = Vec::new();
    let mut incidents: Vec<Uuid> = Vec::new();
    let mut event_crons: Vec<&str> = Vec::new();
    let mut times: Vec<DateTime<Utc>> = Vec::new();
    let mut opened_in_order = Vec::new();
    for c in changes {
        if let Some((id, at, _)) = c.resolve
            && resolved.contains(&id)
        {
            kinds.push(IncidentEventKind::Resolved.as_str());
            incidents.push(id);
            event_crons.push(c.cron_name.as_str());
            times.push(at);
        }
        if let Some(i) = &c.open
            && opened.contains(&i.id)
        {
            kinds.push(IncidentEventKind::Opened.as_str());
            incidents.push(i.id);
            event_crons.push(i.cron_name.as_str());
            times.push(i.opened_at);
            opened_in_order.push(i.id);
        }
    }
    if !kinds.is_empty() {
        sqlx::query(INSERT_EVENTS)
            .bind(&kinds)
            .bind(&incidents)
            .bind(&event_crons)
            .bind(&times)
            .execute(&mut *tx)
            .await
            .db()?;
    }
    tx.commit().await.db()?;
    Ok(opened_in_order)
}
