//! The statements of schedule health (see [`crate::health`]), the same on both databases, and
//! the operations built from them.

use super::sql::Dialect;

/// The statements, built for one [`Dialect`].
#[derive(Debug)]
pub(super) struct HealthSql {
    pub(super) pause: String,
    pub(super) resume: String,
    pub(super) incidents_select: String,
    pub(super) incidents_count: String,
    pub(super) incident_by_id: String,
    pub(super) incident_events: String,
    pub(super) windows: String,
    pub(super) window_touch: String,
    pub(super) window_upsert: String,
    pub(super) window_delete: String,
    pub(super) sweeper_read: String,
    pub(super) sweeper_touch: String,
    pub(super) sweeper_write: String,
    pub(super) due_crons: String,
    pub(super) starts_between: String,
    pub(super) advance_cursor: String,
    pub(super) insert_missed: String,
    pub(super) claim_dirty: String,
    pub(super) mark_dirty: String,
    pub(super) dirty_cron: String,
    pub(super) recent_runs: String,
    pub(super) durations: String,
    pub(super) delete_missed: String,
    pub(super) flag_anomaly: String,
    pub(super) anomaly_checked: String,
    pub(super) open_incident: String,
    pub(super) resolve_incident: String,
    pub(super) insert_event: String,
}

/// The columns of an incident, in the order of `rows::IncidentRow`.
const INCIDENT_COLUMNS: &str = "id, cron_name, kind, opened_at, opening_execution_id, opened_from, \
error_message, resolved_at, resolving_execution_id, after_outage";

/// The columns of a recent run, in the order of `rows::RunBriefRow`.
pub(super) const RUN_BRIEF_COLUMNS: &str = "id, status, reason, started_at, completed_at, \
duration_ms, anomaly, error_message, last_heartbeat_at";

/// A cron to evaluate with its open incident (`rows::DirtyCronRow`), before the `WHERE` that
/// picks the crons (on `s.cron_name`).
pub(super) fn dirty_cron_select(schedules: &str, incidents: &str) -> String {
    format!(
        "SELECT s.cron_name, s.cron_expression, s.timezone, s.timeout_ms,
       s.heartbeat_timeout_ms, s.failure_threshold, s.recovery_threshold, s.anomaly_factor,
       s.min_duration_ms, s.anomaly_incidents, s.paused_at, s.paused_until, s.is_enabled,
       s.anomaly_checked_at, i.id AS incident_id, i.opened_at AS incident_opened_at,
       i.opened_from AS incident_opened_from
FROM {schedules} s
LEFT JOIN {incidents} i ON i.cron_name = s.cron_name AND i.resolved_at IS NULL"
    )
}

/// The `missed` row of slot `m` of judgement `j`: its id (a UUIDv7 of the slot's time), the
/// slots it counts and its error message.
pub(super) fn missed_row(
    j: &crate::health::Judgement,
    m: &crate::health::MissedSlot,
) -> (uuid::Uuid, i64, String) {
    let rest = j.missed_rest_slot == Some(m.slot);
    let count = if rest {
        (j.missed_in_row - crate::rules::limits::MISSED_ROWS_MAX).max(1)
    } else {
        1
    };
    let message = if rest {
        format!(
            "missed {count} slots in a row from {} to {}: no start by their deadlines",
            m.slot.to_rfc3339(),
            m.deadline.to_rfc3339()
        )
    } else {
        format!("missed: no start by {}", m.deadline.to_rfc3339())
    };
    let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        u64::try_from(m.slot.timestamp()).unwrap_or(0),
        m.slot.timestamp_subsec_nanos(),
    ));
    (id, count, message)
}

impl HealthSql {
    pub(super) fn new<D: Dialect>() -> Self {
        let s = D::SCHEMA.map_or(String::new(), |schema| format!("{schema}."));
        let s = s.as_str();
        let schedules = format!("{s}cron_schedules");
        let executions = format!("{s}cron_executions");
        let incidents = format!("{s}incidents");
        let events = format!("{s}incident_events");
        let windows = format!("{s}maintenance_windows");
        let skip_locked = D::SKIP_LOCKED;
        HealthSql {
            pause: format!(
                "UPDATE {schedules} SET paused_at = $2, paused_until = $3, updated_at = $2
WHERE cron_name = $1"
            ),
            // Slots due while paused are not judged after the pause either: the cursor moves to
            // now and the next deadline is computed again (a deadline at the cursor asks for it).
            resume: format!(
                "UPDATE {schedules} SET paused_at = NULL, paused_until = NULL, updated_at = $2,
    judged_through = CASE WHEN cron_expression IS NULL THEN judged_through ELSE $2 END,
    next_deadline_at = CASE WHEN cron_expression IS NULL THEN NULL ELSE $2 END,
    missed_in_row = 0, missed_rest_slot = NULL
WHERE cron_name = $1"
            ),
            incidents_select: format!("SELECT {INCIDENT_COLUMNS} FROM {incidents} WHERE TRUE"),
            incidents_count: format!("SELECT count(*) FROM {incidents} WHERE TRUE"),
            incident_by_id: format!("SELECT {INCIDENT_COLUMNS} FROM {incidents} WHERE id = $1"),
            incident_events: format!(
                "SELECT id, kind, incident_id, cron_name, at, CAST(details AS TEXT) AS details
FROM {events} WHERE id > $1 ORDER BY id LIMIT $2"
            ),
            windows: format!(
                "SELECT id, cron_name, cron_expression, timezone, duration_ms, description
FROM {windows} ORDER BY cron_name, id"
            ),
            window_touch: format!("UPDATE {windows} SET id = id WHERE id = $1"),
            window_upsert: format!(
                "INSERT INTO {windows} (id, cron_name, cron_expression, timezone, duration_ms, description)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET cron_name = excluded.cron_name,
    cron_expression = excluded.cron_expression, timezone = excluded.timezone,
    duration_ms = excluded.duration_ms, description = excluded.description"
            ),
            window_delete: format!("DELETE FROM {windows} WHERE id = $1"),
            sweeper_read: format!(
                "SELECT last_beat_at, instance, gap_from, gap_until, settle_until
FROM {s}sweeper_state WHERE id = 1"
            ),
            sweeper_touch: format!("UPDATE {s}sweeper_state SET instance = instance WHERE id = 1"),
            sweeper_write: format!(
                "INSERT INTO {s}sweeper_state (id, last_beat_at, instance, gap_from, gap_until, settle_until)
VALUES (1, $1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET last_beat_at = excluded.last_beat_at,
    instance = excluded.instance, gap_from = excluded.gap_from,
    gap_until = excluded.gap_until, settle_until = excluded.settle_until"
            ),
            // The partial index on `next_deadline_at` keeps this to the crons due now.
            due_crons: format!(
                "SELECT cron_name, cron_expression, timezone, grace_ms, judged_through, paused_at,
       paused_until, is_enabled, missed_in_row, missed_rest_slot
FROM {schedules}
WHERE next_deadline_at IS NOT NULL AND next_deadline_at <= $1
  AND cron_expression IS NOT NULL AND judged_through IS NOT NULL
ORDER BY next_deadline_at
LIMIT $2"
            ),
            starts_between: format!(
                "SELECT started_at FROM {executions}
WHERE cron_name = $1 AND started_at >= $2 AND started_at <= $3
  AND (reason IS NULL OR reason <> 'missed')"
            ),
            advance_cursor: format!(
                "UPDATE {schedules} SET judged_through = $2, next_deadline_at = $3,
    missed_in_row = $4, missed_rest_slot = $5
WHERE cron_name = $1 AND judged_through = $6"
            ),
            // A row that counts several slots is written again with the count so far.
            insert_missed: format!(
                "INSERT INTO {executions}
    (id, cron_name, status, reason, trigger_type, started_at, completed_at, error_message,
     scheduled_for, slots_missed)
VALUES ($1, $2, 'failed', 'missed', 'scheduled', $3, $4, $5, $3, $6)
ON CONFLICT (cron_name, scheduled_for) WHERE reason = 'missed'
DO UPDATE SET completed_at = excluded.completed_at, error_message = excluded.error_message,
    slots_missed = excluded.slots_missed"
            ),
            mark_dirty: format!(
                "UPDATE {schedules} SET health_dirty = TRUE WHERE cron_name = $1 AND NOT health_dirty"
            ),
            claim_dirty: format!(
                "UPDATE {schedules} SET health_dirty = FALSE
WHERE cron_name IN (SELECT cron_name FROM {schedules} WHERE health_dirty
                    ORDER BY cron_name LIMIT $1{skip_locked})
RETURNING cron_name"
            ),
            dirty_cron: format!(
                "{} WHERE s.cron_name = $1",
                dirty_cron_select(&schedules, &incidents)
            ),
            recent_runs: format!(
                "SELECT {RUN_BRIEF_COLUMNS}
FROM {executions} WHERE cron_name = $1 ORDER BY started_at DESC LIMIT $2"
            ),
            durations: format!(
                "SELECT duration_ms FROM {executions}
WHERE cron_name = $1 AND started_at >= $2 AND status <> 'running'
  AND (reason IS NULL OR reason <> 'missed') AND duration_ms IS NOT NULL
  AND anomaly IS NULL
ORDER BY started_at DESC LIMIT {baseline}",
                baseline = crate::rules::limits::ANOMALY_BASELINE_RUNS,
            ),
            delete_missed: format!(
                "DELETE FROM {executions} WHERE cron_name = $1 AND reason = 'missed' AND scheduled_for = $2"
            ),
            flag_anomaly: format!(
                "UPDATE {executions} SET anomaly = $2 WHERE id = $1 AND anomaly IS NULL"
            ),
            anomaly_checked: format!(
                "UPDATE {schedules} SET anomaly_checked_at = $2 WHERE cron_name = $1"
            ),
            // The unique index on open incidents turns a second open one into nothing.
            open_incident: format!(
                "INSERT INTO {incidents} ({INCIDENT_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, $8)
ON CONFLICT DO NOTHING"
            ),
            resolve_incident: format!(
                "UPDATE {incidents} SET resolved_at = $2, resolving_execution_id = $3
WHERE id = $1 AND resolved_at IS NULL"
            ),
            insert_event: format!(
                "INSERT INTO {events} (kind, incident_id, cron_name, at, details) VALUES ($1, $2, $3, $4, $5)"
            ),
        }
    }
}

/// Schedule-health operations, written once for each pool type.
macro_rules! health_ops {
    ($Db:ty, $sql:path) => {
        mod health_ops {
            use chrono::{DateTime, Utc};
            use sqlx::types::Json;
            use uuid::Uuid;

            use $crate::error::Result;
            use $crate::health::{
                DirtyCron, DueCron, HealthChange, Incident, IncidentEvent, IncidentEventKind,
                IncidentFilter, Judgement, MaintenanceWindow, RunBrief, SweeperStatus,
            };
            use $crate::model::{CronName, Page, PageRequest};
            use $crate::store::db::Db as _;
            use $crate::store::rows;

            type Pool = sqlx::Pool<$Db>;

            fn to_delta(d: std::time::Duration) -> chrono::TimeDelta {
                chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
            }

            pub(crate) async fn pause(
                pool: &Pool,
                name: &CronName,
                now: DateTime<Utc>,
                until: Option<DateTime<Utc>>,
            ) -> Result<bool> {
                if let Some(until) = until {
                    $crate::rules::pause_until(until, now)?;
                }
                let done = sqlx::query($sql.pause.as_str())
                    .bind(name.as_str())
                    .bind(now)
                    .bind(until)
                    .execute(pool)
                    .await
                    .db()?;
                Ok(done.rows_affected() > 0)
            }

            pub(crate) async fn resume(
                pool: &Pool,
                name: &CronName,
                now: DateTime<Utc>,
            ) -> Result<bool> {
                let done = sqlx::query($sql.resume.as_str())
                    .bind(name.as_str())
                    .bind(now)
                    .execute(pool)
                    .await
                    .db()?;
                Ok(done.rows_affected() > 0)
            }

            fn push_incident_filters(qb: &mut sqlx::QueryBuilder<$Db>, f: &IncidentFilter) {
                if let Some(name) = &f.cron_name {
                    qb.push(" AND cron_name = ").push_bind(name.clone());
                }
                match f.open {
                    Some(true) => {
                        qb.push(" AND resolved_at IS NULL");
                    }
                    Some(false) => {
                        qb.push(" AND resolved_at IS NOT NULL");
                    }
                    None => {}
                }
                if let Some(from) = f.from {
                    qb.push(" AND opened_at >= ").push_bind(from);
                }
                if let Some(to) = f.to {
                    qb.push(" AND opened_at < ").push_bind(to);
                }
            }

            pub(crate) async fn incidents(
                pool: &Pool,
                filter: &IncidentFilter,
                page: PageRequest,
            ) -> Result<Page<Incident>> {
                $crate::rules::page(page.page, page.limit)?;
                let mut count = sqlx::QueryBuilder::<$Db>::new($sql.incidents_count.as_str());
                push_incident_filters(&mut count, filter);
                let total: i64 = count.build_query_scalar().fetch_one(pool).await.db()?;
                let mut qb = sqlx::QueryBuilder::<$Db>::new($sql.incidents_select.as_str());
                push_incident_filters(&mut qb, filter);
                qb.push(" ORDER BY opened_at DESC, id DESC LIMIT ")
                    .push(page.limit)
                    .push(" OFFSET ")
                    .push(page.offset());
                let rows: Vec<rows::IncidentRow> =
                    qb.build_query_as().fetch_all(pool).await.db()?;
                Ok($crate::store::page_of(rows::into_model(rows), page, total))
            }

            pub(crate) async fn incident(pool: &Pool, id: Uuid) -> Result<Option<Incident>> {
                let row: Option<rows::IncidentRow> = sqlx::query_as($sql.incident_by_id.as_str())
                    .bind(id)
                    .fetch_optional(pool)
                    .await
                    .db()?;
                Ok(row.map(Into::into))
            }

            pub(crate) async fn incident_events(
                pool: &Pool,
                after: i64,
                limit: u32,
            ) -> Result<Vec<IncidentEvent>> {
                let rows: Vec<rows::IncidentEventRow> =
                    sqlx::query_as($sql.incident_events.as_str())
                        .bind(after)
                        .bind(i64::from(limit.clamp(1, 1000)))
                        .fetch_all(pool)
                        .await
                        .db()?;
                Ok(rows::into_model(rows))
            }

            pub(crate) async fn maintenance_windows(pool: &Pool) -> Result<Vec<MaintenanceWindow>> {
                let rows: Vec<rows::MaintenanceWindowRow> = sqlx::query_as($sql.windows.as_str())
                    .fetch_all(pool)
                    .await
                    .db()?;
                Ok(rows::into_model(rows))
            }

            pub(crate) async fn put_maintenance_window(
                pool: &Pool,
                w: &MaintenanceWindow,
            ) -> Result<bool> {
                w.validate()?;
                let mut tx = pool.begin().await.db()?;
                // A write first (see `sweeper_beat`), which also says whether it exists.
                let existing = sqlx::query($sql.window_touch.as_str())
                    .bind(w.id)
                    .execute(&mut *tx)
                    .await
                    .db()?
                    .rows_affected();
                sqlx::query($sql.window_upsert.as_str())
                    .bind(w.id)
                    .bind(w.cron_name.as_deref())
                    .bind(w.cron_expression.trim())
                    .bind(w.timezone.as_str())
                    .bind(w.duration_ms)
                    .bind(w.description.as_deref())
                    .execute(&mut *tx)
                    .await
                    .db()?;
                tx.commit().await.db()?;
                Ok(existing == 0)
            }

            pub(crate) async fn delete_maintenance_window(pool: &Pool, id: Uuid) -> Result<bool> {
                let done = sqlx::query($sql.window_delete.as_str())
                    .bind(id)
                    .execute(pool)
                    .await
                    .db()?;
                Ok(done.rows_affected() > 0)
            }

            pub(crate) async fn sweeper_status(pool: &Pool) -> Result<Option<SweeperStatus>> {
                let row: Option<rows::SweeperRow> = sqlx::query_as($sql.sweeper_read.as_str())
                    .fetch_optional(pool)
                    .await
                    .db()?;
                Ok(row.map(Into::into))
            }

            pub(crate) async fn sweeper_beat(
                pool: &Pool,
                instance: &str,
                now: DateTime<Utc>,
                gap_after: std::time::Duration,
                settle: std::time::Duration,
            ) -> Result<(SweeperStatus, Option<DateTime<Utc>>)> {
                let mut tx = pool.begin().await.db()?;
                // A write first: it locks the row on PostgreSQL, and on SQLite it makes this a
                // write transaction from the start (one that reads first could only fail when
                // another sweeper writes meanwhile, not wait for it).
                sqlx::query($sql.sweeper_touch.as_str())
                    .execute(&mut *tx)
                    .await
                    .db()?;
                let row: Option<rows::SweeperRow> = sqlx::query_as($sql.sweeper_read.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .db()?;
                let before: Option<SweeperStatus> = row.map(Into::into);
                let previous = before.as_ref().map(|b| b.last_beat_at);
                let mut status = SweeperStatus {
                    last_beat_at: now,
                    instance: instance.chars().take(256).collect(),
                    gap_from: before.as_ref().and_then(|b| b.gap_from),
                    gap_until: before.as_ref().and_then(|b| b.gap_until),
                    settle_until: before.as_ref().and_then(|b| b.settle_until),
                };
                if let Some(previous) = previous
                    && now - previous > to_delta(gap_after)
                {
                    // A gap that begins while the last one is still settling extends it.
                    let settling = status.settle_until.is_some_and(|s| s > previous);
                    status.gap_from = match status.gap_from {
                        Some(from) if settling => Some(from),
                        _ => Some(previous),
                    };
                    status.gap_until = Some(now);
                    status.settle_until = now.checked_add_signed(to_delta(settle)).or(Some(now));
                }
                sqlx::query($sql.sweeper_write.as_str())
                    .bind(status.last_beat_at)
                    .bind(status.instance.as_str())
                    .bind(status.gap_from)
                    .bind(status.gap_until)
                    .bind(status.settle_until)
                    .execute(&mut *tx)
                    .await
                    .db()?;
                tx.commit().await.db()?;
                Ok((status, previous))
            }

            pub(crate) async fn due_crons(
                pool: &Pool,
                until: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<DueCron>> {
                let rows: Vec<rows::DueCronRow> = sqlx::query_as($sql.due_crons.as_str())
                    .bind(until)
                    .bind(i64::from(limit.max(1)))
                    .fetch_all(pool)
                    .await
                    .db()?;
                Ok(rows::into_model(rows))
            }

            // A statement per cron, for SQLite (in-process); PostgreSQL sends one for all
            // (`postgres/sweep.rs`).
            #[allow(dead_code, reason = "PostgreSQL's store has its own")]
            pub(crate) async fn starts_between(
                pool: &Pool,
                windows: &[(String, DateTime<Utc>, DateTime<Utc>)],
            ) -> Result<Vec<Vec<DateTime<Utc>>>> {
                let mut conn = pool.acquire().await.db()?;
                let mut all = Vec::with_capacity(windows.len());
                for (name, from, to) in windows {
                    let starts: Vec<DateTime<Utc>> =
                        sqlx::query_scalar($sql.starts_between.as_str())
                            .bind(name.as_str())
                            .bind(*from)
                            .bind(*to)
                            .fetch_all(&mut *conn)
                            .await
                            .db()?;
                    all.push(starts);
                }
                Ok(all)
            }

            pub(crate) async fn record_judgements(
                pool: &Pool,
                judgements: &[Judgement],
            ) -> Result<Vec<bool>> {
                let mut tx = pool.begin().await.db()?;
                let mut applied = Vec::with_capacity(judgements.len());
                for j in judgements {
                    let moved = sqlx::query($sql.advance_cursor.as_str())
                        .bind(j.cron_name.as_str())
                        .bind(j.judged_through)
                        .bind(j.next_deadline_at)
                        .bind(j.missed_in_row)
                        .bind(j.missed_rest_slot)
                        .bind(j.judged_through_was)
                        .execute(&mut *tx)
                        .await
                        .db()?;
                    if moved.rows_affected() == 0 {
                        applied.push(false);
                        continue;
                    }
                    for m in &j.missed {
                        let (id, count, message) = $crate::store::health::missed_row(j, m);
                        sqlx::query($sql.insert_missed.as_str())
                            .bind(id)
                            .bind(j.cron_name.as_str())
                            .bind(m.slot)
                            .bind(m.deadline)
                            .bind(message)
                            .bind(count)
                            .execute(&mut *tx)
                            .await
                            .db()?;
                    }
                    applied.push(true);
                }
                tx.commit().await.db()?;
                Ok(applied)
            }

            // Only after a failed evaluation: a statement per cron on both databases.
            pub(crate) async fn mark_dirty(pool: &Pool, names: &[String]) -> Result<()> {
                let mut conn = pool.acquire().await.db()?;
                for name in names {
                    sqlx::query($sql.mark_dirty.as_str())
                        .bind(name.as_str())
                        .execute(&mut *conn)
                        .await
                        .db()?;
                }
                Ok(())
            }

            // A statement per cron, for SQLite (in-process); PostgreSQL sends one for all
            // (`postgres/sweep.rs`).
            #[allow(dead_code, reason = "PostgreSQL's store has its own")]
            pub(crate) async fn dirty_crons(
                pool: &Pool,
                limit: u32,
                also: &[String],
            ) -> Result<Vec<DirtyCron>> {
                let mut conn = pool.acquire().await.db()?;
                let mut names: Vec<String> = sqlx::query_scalar($sql.claim_dirty.as_str())
                    .bind(i64::from(limit.max(1)))
                    .fetch_all(&mut *conn)
                    .await
                    .db()?;
                names.extend(also.iter().cloned());
                names.sort();
                names.dedup();
                let mut crons = Vec::with_capacity(names.len());
                for name in &names {
                    let row: Option<rows::DirtyCronRow> = sqlx::query_as($sql.dirty_cron.as_str())
                        .bind(name.as_str())
                        .fetch_optional(&mut *conn)
                        .await
                        .db()?;
                    crons.extend(row.map(DirtyCron::from));
                }
                Ok(crons)
            }

            // A statement per cron, for SQLite (in-process); PostgreSQL sends one for all
            // (`postgres/sweep.rs`).
            #[allow(dead_code, reason = "PostgreSQL's store has its own")]
            pub(crate) async fn recent_runs(
                pool: &Pool,
                names: &[String],
                limit: u32,
            ) -> Result<Vec<Vec<RunBrief>>> {
                let mut conn = pool.acquire().await.db()?;
                let mut all = Vec::with_capacity(names.len());
                for name in names {
                    let rows: Vec<rows::RunBriefRow> = sqlx::query_as($sql.recent_runs.as_str())
                        .bind(name.as_str())
                        .bind(i64::from(limit.max(1)))
                        .fetch_all(&mut *conn)
                        .await
                        .db()?;
                    all.push(rows::into_model(rows));
                }
                Ok(all)
            }

            pub(crate) async fn duration_p95(
                pool: &Pool,
                name: &str,
                since: DateTime<Utc>,
            ) -> Result<(i64, Option<i64>)> {
                let mut durations: Vec<i64> = sqlx::query_scalar($sql.durations.as_str())
                    .bind(name)
                    .bind(since)
                    .fetch_all(pool)
                    .await
                    .db()?;
                durations.sort_unstable();
                let n = durations.len();
                let p95 = (n > 0).then(|| durations[((n - 1) * 95).div_ceil(100).min(n - 1)]);
                Ok((i64::try_from(n).unwrap_or(i64::MAX), p95))
            }

            // Statements per change, for SQLite; PostgreSQL's are per kind of change.
            #[allow(dead_code, reason = "PostgreSQL's store has its own")]
            pub(crate) async fn apply_health(
                pool: &Pool,
                changes: &[HealthChange],
            ) -> Result<Vec<Uuid>> {
                let mut tx = pool.begin().await.db()?;
                let mut opened = Vec::new();
                for c in changes {
                    for slot in &c.replaced_missed {
                        sqlx::query($sql.delete_missed.as_str())
                            .bind(c.cron_name.as_str())
                            .bind(*slot)
                            .execute(&mut *tx)
                            .await
                            .db()?;
                    }
                    for (id, anomaly) in &c.anomalies {
                        sqlx::query($sql.flag_anomaly.as_str())
                            .bind(*id)
                            .bind(anomaly.as_str())
                            .execute(&mut *tx)
                            .await
                            .db()?;
                    }
                    if let Some(at) = c.anomaly_checked_at {
                        sqlx::query($sql.anomaly_checked.as_str())
                            .bind(c.cron_name.as_str())
                            .bind(at)
                            .execute(&mut *tx)
                            .await
                            .db()?;
                    }
                    if let Some((id, at, by)) = c.resolve {
                        let done = sqlx::query($sql.resolve_incident.as_str())
                            .bind(id)
                            .bind(at)
                            .bind(by)
                            .execute(&mut *tx)
                            .await
                            .db()?;
                        if done.rows_affected() > 0 {
                            insert_event(
                                &mut tx,
                                IncidentEventKind::Resolved,
                                Some(id),
                                Some(&c.cron_name),
                                at,
                                None,
                            )
                            .await?;
                        }
                    }
                    if let Some(i) = &c.open {
                        let done = sqlx::query($sql.open_incident.as_str())
                            .bind(i.id)
                            .bind(i.cron_name.as_str())
                            .bind(i.kind.as_str())
                            .bind(i.opened_at)
                            .bind(i.opening_execution_id)
                            .bind(i.opened_from)
                            .bind(i.error_message.as_deref())
                            .bind(i.after_outage)
                            .execute(&mut *tx)
                            .await
                            .db()?;
                        if done.rows_affected() > 0 {
                            insert_event(
                                &mut tx,
                                IncidentEventKind::Opened,
                                Some(i.id),
                                Some(&i.cron_name),
                                i.opened_at,
                                None,
                            )
                            .await?;
                            opened.push(i.id);
                        }
                    }
                }
                tx.commit().await.db()?;
                Ok(opened)
            }

            async fn insert_event(
                tx: &mut sqlx::Transaction<'_, $Db>,
                kind: IncidentEventKind,
                incident: Option<Uuid>,
                cron: Option<&str>,
                at: DateTime<Utc>,
                details: Option<&serde_json::Value>,
            ) -> Result<()> {
                sqlx::query($sql.insert_event.as_str())
                    .bind(kind.as_str())
                    .bind(incident)
                    .bind(cron)
                    .bind(at)
                    .bind(details.map(Json))
                    .execute(&mut **tx)
                    .await
                    .db()?;
                Ok(())
            }

            pub(crate) async fn record_outage_summary(
                pool: &Pool,
                at: DateTime<Utc>,
                details: &serde_json::Value,
            ) -> Result<()> {
                let mut tx = pool.begin().await.db()?;
                insert_event(
                    &mut tx,
                    IncidentEventKind::OutageSummary,
                    None,
                    None,
                    at,
                    Some(details),
                )
                .await?;
                tx.commit().await.db()
            }
        }
    };
}

pub(super) use health_ops;
