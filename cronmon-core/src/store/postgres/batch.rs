//! Group commit on PostgreSQL with multi-row statements: a batch's starts are one `INSERT …
//! SELECT FROM UNNEST`, its finishes one `UPDATE … FROM UNNEST`, in one transaction. What
//! those statements do not settle (an unknown id, a finished run, a repeated id in the batch)
//! goes through the per-event path, in the same transaction, for its exact result. Any
//! database error falls back to the per-event batch, so results never depend on the path.
//!
//! Within a batch, starts are applied first, then heartbeats, then finishes: a run started
//! and finished in one batch is recorded whole whatever the order of its events.
//!
//! One lock order for every writer: each statement's roll-up trigger takes its roll-up rows in
//! key order, but a transaction of several statements (starts, then finishes) would take them
//! out of order, and two such transactions (two servers, or a server and a job's recorder, on
//! one database) could deadlock. So a batch transaction first takes a transaction-scoped
//! advisory lock per cron it touches, in sorted order ([`lock_crons`]): two batches that share
//! a cron queue on its lock before either touches a row, and batches with no cron in common
//! touch no common row. Rows are also written in id order, for the rest.

use std::collections::HashSet;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Postgres;
use crate::error::{Error, Result};
use crate::model::{Event, Finish, Outcome, Start};
use crate::store::db::Db as _;
use crate::store::sql::{Dialect as _, finish_applies};

const INSERT_STARTS: &str = "\
INSERT INTO cronmon.cron_executions
    (id, cron_name, status, trigger_type, started_at, host, pid, boot_id, version, scheduled_for)
SELECT u.id, u.cron_name, 'running', u.trigger_type, u.started_at, u.host, u.pid, u.boot_id,
       u.version, u.scheduled_for
FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::int4[],
            $7::text[], $8::text[], $9::timestamptz[])
    AS u(id, cron_name, trigger_type, started_at, host, pid, boot_id, version, scheduled_for)
ON CONFLICT (id) DO NOTHING
RETURNING id";

/// The multi-row form of the shared finish: the same duration and the same rule of which
/// finishes apply.
static UPDATE_FINISHES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE cronmon.cron_executions e SET
    status = u.status, reason = u.reason, completed_at = u.completed_at,
    duration_ms = coalesce(u.duration_ms, {elapsed}),
    output = u.output::jsonb, output_truncated = u.truncated, error_message = u.error_message,
    exit_code = u.exit_code, cpu_ms = u.cpu_ms, max_rss_kb = u.max_rss_kb
FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::int8[], $6::text[],
            $7::bool[], $8::text[], $9::int4[], $10::int8[], $11::int8[])
    AS u(id, status, reason, completed_at, duration_ms, output, truncated, error_message,
         exit_code, cpu_ms, max_rss_kb)
WHERE e.id = u.id AND {applies}
RETURNING e.id",
        elapsed = Postgres::elapsed_ms("e.started_at", "u.completed_at"),
        applies = finish_applies("e.", "u.reason"),
    )
});

/// Runs' starts, as the multi-row statements' arrays take them (bound by [`bind_starts!`]).
#[derive(Default)]
pub(super) struct StartColumns {
    pub(super) id: Vec<Uuid>,
    pub(super) cron_name: Vec<String>,
    pub(super) trigger_type: Vec<&'static str>,
    pub(super) started_at: Vec<DateTime<Utc>>,
    pub(super) host: Vec<Option<String>>,
    pub(super) pid: Vec<Option<i32>>,
    pub(super) boot_id: Vec<Option<String>>,
    pub(super) version: Vec<Option<String>>,
    pub(super) scheduled_for: Vec<Option<DateTime<Utc>>>,
}

impl StartColumns {
    pub(super) fn push(&mut self, s: &Start) {
        self.id.push(s.id);
        self.cron_name.push(s.cron_name.as_str().to_owned());
        self.trigger_type.push(s.trigger_type.as_str());
        self.started_at.push(s.started_at);
        self.host.push(s.host.clone());
        self.pid.push(s.pid);
        self.boot_id.push(s.boot_id.clone());
        self.version.push(s.version.clone());
        self.scheduled_for.push(s.scheduled_for);
    }
}

/// Binds the nine arrays of a [`StartColumns`], in its fields' order.
macro_rules! bind_starts {
    ($query:expr, $s:expr) => {
        $query
            .bind(&$s.id)
            .bind(&$s.cron_name)
            .bind(&$s.trigger_type)
            .bind(&$s.started_at)
            .bind(&$s.host)
            .bind(&$s.pid)
            .bind(&$s.boot_id)
            .bind(&$s.version)
            .bind(&$s.scheduled_for)
    };
}

/// Binds the ten arrays of an [`Ends`], in its fields' order.
macro_rules! bind_ends {
    ($query:expr, $e:expr) => {
        $query
            .bind(&$e.status)
            .bind(&$e.reason)
            .bind(&$e.completed_at)
            .bind(&$e.duration_ms)
            .bind(&$e.output)
            .bind(&$e.truncated)
            .bind(&$e.error_message)
            .bind(&$e.exit_code)
            .bind(&$e.cpu_ms)
            .bind(&$e.max_rss_kb)
    };
}
pub(super) use {bind_ends, bind_starts};

/// The starts one `INSERT … FROM UNNEST` writes, each with its index in the batch.
#[derive(Default)]
struct Starts {
    at: Vec<usize>,
    columns: StartColumns,
}

/// Runs' ends, as the multi-row statements' arrays take them.
#[derive(Default)]
pub(super) struct Ends {
    pub(super) status: Vec<&'static str>,
    pub(super) reason: Vec<Option<&'static str>>,
    pub(super) completed_at: Vec<Option<DateTime<Utc>>>,
    pub(super) duration_ms: Vec<Option<i64>>,
    pub(super) output: Vec<Option<String>>,
    pub(super) truncated: Vec<bool>,
    pub(super) error_message: Vec<Option<String>>,
    pub(super) exit_code: Vec<Option<i32>>,
    pub(super) cpu_ms: Vec<Option<i64>>,
    pub(super) max_rss_kb: Vec<Option<i64>>,
}

impl Ends {
    pub(super) fn push(&mut self, f: &Finish) {
        let (output, truncated) = f.stored_output();
        self.status.push(f.status.as_str());
        self.reason.push(f.reason.map(|r| r.as_str()));
        self.completed_at.push(Some(f.completed_at));
        self.duration_ms.push(f.duration_ms);
        self.output.push(output.map(|o| o.to_string()));
        self.truncated.push(truncated);
        self.error_message.push(f.stored_error());
        self.exit_code.push(f.exit_code);
        self.cpu_ms.push(f.cpu_ms);
        self.max_rss_kb.push(f.max_rss_kb);
    }
}

/// The finishes one `UPDATE … FROM UNNEST` applies: each one's index in the batch, its run, its
/// end.
#[derive(Default)]
pub(super) struct Finishes {
    pub(super) at: Vec<usize>,
    pub(super) id: Vec<Uuid>,
    pub(super) end: Ends,
}

impl Finishes {
    pub(super) fn push(&mut self, at: usize, f: &Finish) {
        self.at.push(at);
        self.id.push(f.id);
        self.end.push(f);
    }
}

/// The first key of cronmon's advisory locks (`pg_advisory_xact_lock(int4, int4)`), so they
/// never collide with the host application's one-key locks: "cron" in ASCII.
pub(super) const LOCK_SPACE: i32 = 0x6372_6f6e;

/// Takes the advisory lock of every cron whose rows or roll-ups `events` may touch, in sorted
/// key order, for the rest of the transaction: the crons named by starts (and by finishes that
/// carry their start), and the crons of the runs already stored that finishes and heartbeats
/// name. A run whose start is not committed yet is not seen here; the rare deadlock that can
/// still cause is retried by the caller ([`is_lock_conflict`]).
pub(super) async fn lock_crons(conn: &mut sqlx::PgConnection, events: &[Event]) -> Result<()> {
    let (names, ids) = lock_keys(events);
    sqlx::query(LOCK_CRONS)
        .bind(&names)
        .bind(&ids)
        .bind(LOCK_SPACE)
        // Planned with the batch's own ids each time: a plan cached on a young database looks
        // the ids up by scanning the whole table, and a connection keeps it for its lifetime
        // (it scanned every run ever stored, once per batch).
        .persistent(false)
        .execute(&mut *conn)
        .await
        .db()?;
    Ok(())
}

/// Takes the advisory locks of the crons named by `$1` and of the stored runs whose ids are
/// `$2` (in the key space `$3`): the keys are sorted in the subquery and locked in that order
/// by the aggregate over it. Answers how many keys it locked, as `locked`.
pub(super) const LOCK_CRONS: &str = "\
SELECT count(pg_advisory_xact_lock($3, k.key)) AS locked FROM (
    SELECT DISTINCT hashtext(n) AS key FROM (
        SELECT unnest($1::text[]) AS n
        UNION SELECT cron_name FROM cronmon.cron_executions WHERE id = ANY($2::uuid[])
    ) names
    ORDER BY 1
) k";

/// What [`LOCK_CRONS`] takes for `events`: the crons named by starts (and by finishes that
/// carry their start), and the runs that finishes and heartbeats name.
pub(super) fn lock_keys(events: &[Event]) -> (Vec<&str>, Vec<Uuid>) {
    let mut names: Vec<&str> = Vec::new();
    let mut ids: Vec<Uuid> = Vec::new();
    for event in events {
        match event {
            Event::Start(s) => names.push(s.cron_name.as_str()),
            Event::Finish(f) => {
                ids.push(f.id);
                if let Some(s) = &f.start {
                    names.push(s.cron_name.as_str());
                }
            }
            Event::Heartbeat(h) => ids.push(h.id),
            // Batch runs touch no cron's rows; their roll-up rows are locked by kind, in
            // order (`record_batch_fast`).
            Event::Batch(_) => {}
        }
    }
    (names, ids)
}

/// A deadlock (40P01) or serialization failure (40001): the database rolled the transaction
/// back, and running it again is the cure.
pub(super) fn is_lock_conflict(e: &Error) -> bool {
    matches!(e, Error::Database(d) if matches!(d.code(), Some("40P01" | "40001")))
}

/// Records `events` (already checked by [`Event::validate`], in `PgStore::record_batch`) in
/// one transaction with multi-row statements; `None` when the database refused the data (the caller then takes the per-event path). A transient failure (a lock
/// or statement timeout, a deadlock, a lost connection) is returned as is: the per-event path
/// would only wait for the same database again.
pub(super) async fn record_batch_fast(
    pool: &sqlx::PgPool,
    events: &[Event],
) -> Result<Option<Vec<Result<Outcome>>>> {
    let mut results: Vec<Option<Result<Outcome>>> = events.iter().map(|_| None).collect();
    let mut starts = Starts::default();
    let mut finishes = Finishes::default();
    let mut later = Vec::new(); // (index) settled one by one, after the multi-row statements
    let mut heartbeats = Vec::new();
    let mut batch_runs = Vec::new();
    let mut seen_starts = HashSet::new();
    let mut seen_finishes = HashSet::new();
    // Rows in id order: two batches that write the same runs lock them in the same order.
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| events[i].execution_id());
    for i in order {
        let event = &events[i];
        match event {
            Event::Start(s) => {
                if !seen_starts.insert(s.id) {
                    later.push(i);
                    continue;
                }
                starts.at.push(i);
                starts.columns.push(s);
            }
            Event::Heartbeat(_) => heartbeats.push(i),
            Event::Batch(_) => batch_runs.push(i),
            Event::Finish(f) => {
                if !seen_finishes.insert(f.id) {
                    later.push(i);
                    continue;
                }
                finishes.push(i, f);
            }
        }
    }

    let mut tx = pool.begin().await.db()?;
    let attempt: Result<()> = async {
        lock_crons(&mut tx, events).await?;
        if !starts.at.is_empty() {
            let inserted: Vec<Uuid> =
                bind_starts!(sqlx::query_scalar(INSERT_STARTS), starts.columns)
                    .fetch_all(&mut *tx)
                    .await
                    .db()?;
            let inserted: HashSet<Uuid> = inserted.into_iter().collect();
            for (&i, id) in starts.at.iter().zip(&starts.columns.id) {
                results[i] = Some(Ok(if inserted.contains(id) {
                    Outcome::Recorded
                } else {
                    Outcome::AlreadyRecorded
                }));
            }
        }
        // Each batch run's report is one upsert; by kind, so two transactions lock the
        // kinds' roll-up rows in the same order.
        batch_runs.sort_by(|&a, &b| match (&events[a], &events[b]) {
            (Event::Batch(x), Event::Batch(y)) => {
                (&x.batch_kind, x.id, a).cmp(&(&y.batch_kind, y.id, b))
            }
            _ => a.cmp(&b),
        });
        for &i in batch_runs.iter().chain(&heartbeats) {
            let r = super::record_event(&mut tx, &events[i]).await;
            if matches!(r, Err(Error::Database(_) | Error::Unreachable(_))) {
                return r.map(|_| ());
            }
            results[i] = Some(r);
        }
        if !finishes.id.is_empty() {
            let update = sqlx::query_scalar(UPDATE_FINISHES.as_str()).bind(&finishes.id);
            let updated: Vec<Uuid> = bind_ends!(update, finishes.end)
                // Planned afresh each time: a cached generic plan made while the table was
                // small joins by seq-scanning it long after it has grown (it halved ingest on a
                // young database until the next ANALYZE).
                .persistent(false)
                .fetch_all(&mut *tx)
                .await
                .db()?;
            let updated: HashSet<Uuid> = updated.into_iter().collect();
            for (&i, id) in finishes.at.iter().zip(&finishes.id) {
                if updated.contains(id) {
                    results[i] = Some(Ok(Outcome::Recorded));
                } else {
                    later.push(i);
                }
            }
        }
        later.sort_unstable();
        for &i in &later {
            let r = super::record_event(&mut tx, &events[i]).await;
            if matches!(r, Err(Error::Database(_) | Error::Unreachable(_))) {
                return r.map(|_| ());
            }
            results[i] = Some(r);
        }
        Ok(())
    }
    .await;
    match attempt {
        Ok(()) => {
            tx.commit().await.db()?;
            Ok(Some(
                results
                    .into_iter()
                    .map(|r| r.unwrap_or(Err(Error::UnknownExecution(Uuid::nil()))))
                    .collect(),
            ))
        }
        Err(Error::Database(e)) if !e.is_transient() => {
            tracing::debug!(error = %e, "multi-row batch refused; recording event by event");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The per-event path in one transaction, under the same cron locks as the multi-row one; if
/// the database refuses an event, each event is recorded alone (bounded, as on SQLite).
pub(super) async fn record_batch_locked(
    pool: &sqlx::PgPool,
    events: &[Event],
) -> Result<Vec<Result<Outcome>>> {
    let mut tx = pool.begin().await.db()?;
    lock_crons(&mut tx, events).await?;
    let mut results = Vec::with_capacity(events.len());
    for event in events {
        match super::record_event(&mut tx, event).await {
            Err(e) if e.is_transient() => return Err(e),
            Err(Error::Database(_) | Error::Unreachable(_)) => {
                drop(tx);
                return super::record_each_alone(pool, events).await;
            }
            r => results.push(r),
        }
    }
    tx.commit().await.db()?;
    Ok(results)
}
