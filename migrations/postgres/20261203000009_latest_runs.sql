-- A cron's newest run without a probe per cron. The dashboard view and the statistics looked it
-- up in the runs' index once per cron and read: a thousand probes into an index that grows with
-- the history (10-15 ms of each read at 10 M runs, the largest part of both). Keeping it on the
-- schedule row from the run triggers cost a fifth of HTTP ingest (an update of a hot row per
-- cron and batch), so it is kept like the roll-ups: the run triggers append the names of the
-- crons they touch to an unindexed table, the fold looks their newest runs up once, and readers
-- look up only the crons still pending.
CREATE TABLE cronmon.cron_latest_runs (
    cron_name    TEXT PRIMARY KEY,
    started_at   TIMESTAMPTZ,
    status       TEXT,
    reason       TEXT,
    completed_at TIMESTAMPTZ
);

CREATE TABLE cronmon.cron_latest_pending (
    cron_name TEXT NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 10000);

INSERT INTO cronmon.cron_latest_runs (cron_name, started_at, status, reason, completed_at)
SELECT s.cron_name, l.started_at, l.status, l.reason, l.completed_at
FROM cronmon.cron_schedules s
LEFT JOIN LATERAL (SELECT e.started_at, e.status, e.reason, e.completed_at FROM cronmon.cron_executions e
                   WHERE e.cron_name = s.cron_name ORDER BY e.started_at DESC LIMIT 1) l ON TRUE;

-- Looks up the newest run of the crons pending (at most 100,000 names a call), in one statement:
-- the names it takes and the runs it reads are of one snapshot, so a write committed after it
-- stays pending and readers look it up themselves. One folder at a time; answers how many
-- names it took.
CREATE FUNCTION cronmon.cron_latest_fold() RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    taken BIGINT;
BEGIN
    IF NOT pg_try_advisory_xact_lock(1718578276, 1) THEN
        RETURN 0;
    END IF;
    WITH moved AS (
        DELETE FROM cronmon.cron_latest_pending
        WHERE ctid = ANY(ARRAY(SELECT ctid FROM cronmon.cron_latest_pending LIMIT 100000))
        RETURNING cron_name),
    latest AS (
        INSERT INTO cronmon.cron_latest_runs AS r (cron_name, started_at, status, reason, completed_at)
        SELECT m.cron_name, l.started_at, l.status, l.reason, l.completed_at
        FROM (SELECT DISTINCT cron_name FROM moved) m
        LEFT JOIN LATERAL (SELECT e.started_at, e.status, e.reason, e.completed_at
                           FROM cronmon.cron_executions e WHERE e.cron_name = m.cron_name
                           ORDER BY e.started_at DESC LIMIT 1) l ON TRUE
        ORDER BY 1
        ON CONFLICT (cron_name) DO UPDATE SET
            started_at = EXCLUDED.started_at, status = EXCLUDED.status,
            reason = EXCLUDED.reason, completed_at = EXCLUDED.completed_at)
    SELECT count(*) INTO taken FROM moved;
    RETURN taken;
END $$;

-- 0004's trigger, noting the crons whose newest run may have changed.
CREATE OR REPLACE FUNCTION cronmon.cron_executions_rollup() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO cronmon.cron_schedules (cron_name)
        SELECT DISTINCT n.cron_name FROM new_rows n
        WHERE NOT EXISTS (SELECT 1 FROM cronmon.cron_schedules s WHERE s.cron_name = n.cron_name)
        ORDER BY 1
        ON CONFLICT DO NOTHING;
        PERFORM cronmon.cron_rollup_apply(ARRAY(
            SELECT (n.cron_name, n.started_at, NULL, NULL, 1)::cronmon.cron_rollup_change FROM new_rows n
            UNION ALL
            SELECT (n.cron_name, n.started_at, n.status, n.duration_ms, 1)::cronmon.cron_rollup_change
            FROM new_rows n WHERE n.status <> 'running'));
        -- A start may serve a slot already written as missed; an ended run counts in streaks.
        -- The sweep's own missed rows need no second look.
        PERFORM cronmon.cron_mark_dirty(ARRAY(
            SELECT DISTINCT n.cron_name FROM new_rows n
            WHERE n.reason IS DISTINCT FROM 'missed'));
        INSERT INTO cronmon.cron_latest_pending (cron_name) SELECT DISTINCT cron_name FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM cronmon.cron_rollup_apply(ARRAY(
            SELECT (o.cron_name, o.started_at, NULL, NULL, -1)::cronmon.cron_rollup_change FROM old_rows o
            UNION ALL
            SELECT (o.cron_name, o.started_at, o.status, o.duration_ms, -1)::cronmon.cron_rollup_change
            FROM old_rows o WHERE o.status <> 'running'));
        INSERT INTO cronmon.cron_latest_pending (cron_name) SELECT DISTINCT cron_name FROM old_rows;
    ELSE
        -- Only runs whose outcome changed: a heartbeat touches no roll-up.
        PERFORM cronmon.cron_rollup_apply(ARRAY(
            SELECT (o.cron_name, o.started_at, o.status, o.duration_ms, -1)::cronmon.cron_rollup_change
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE o.status <> 'running'
              AND (n.status IS DISTINCT FROM o.status OR n.duration_ms IS DISTINCT FROM o.duration_ms)
            UNION ALL
            SELECT (n.cron_name, n.started_at, n.status, n.duration_ms, 1)::cronmon.cron_rollup_change
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status <> 'running'
              AND (n.status IS DISTINCT FROM o.status OR n.duration_ms IS DISTINCT FROM o.duration_ms)));
        PERFORM cronmon.cron_mark_dirty(ARRAY(
            SELECT DISTINCT n.cron_name FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status IS DISTINCT FROM o.status));
        INSERT INTO cronmon.cron_latest_pending (cron_name)
        SELECT DISTINCT n.cron_name FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE n.status IS DISTINCT FROM o.status OR n.reason IS DISTINCT FROM o.reason
           OR n.completed_at IS DISTINCT FROM o.completed_at;
    END IF;
    RETURN NULL;
END $$;

-- 0007's dashboard view, the newest run read as above, and a cron's failure streak read only
-- when its newest run did not complete.
CREATE OR REPLACE VIEW cronmon.vw_cron_monitoring_dashboard AS
SELECT s.cron_name,
       s.display_name,
       s.cron_expression,
       s.timezone,
       s.is_enabled,
       s.timeout_ms,
       s.grace_ms,
       s.heartbeat_timeout_ms,
       s.failure_threshold,
       s.recovery_threshold,
       (SELECT count(*) FROM cronmon.cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'running') AS running_count,
       (SELECT count(*) FROM cronmon.cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'failed'
           AND e.started_at >= now() - interval '24 hours') AS failures_24h,
       -- A missed row that counts several slots counts each. When the last run completed
       -- there is none, and most crons are read without looking further.
       CASE WHEN (CASE WHEN lp.cron_name IS NULL THEN lr.status ELSE l.status END) = 'completed' THEN 0 ELSE
       (SELECT CAST(coalesce(sum(coalesce(e.slots_missed, 1)), 0) AS BIGINT) FROM cronmon.cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'failed'
           AND e.started_at > coalesce((SELECT max(c.started_at) FROM cronmon.cron_executions c
                                        WHERE c.cron_name = s.cron_name AND c.status = 'completed'),
                                       '-infinity')) END AS consecutive_failures,
       (SELECT CASE WHEN coalesce(sum(d.completed + d.failed), 0) + coalesce(p.ended, 0) = 0 THEN NULL
                    ELSE round(100.0 * (coalesce(sum(d.completed), 0) + coalesce(p.completed, 0))
                               / (coalesce(sum(d.completed + d.failed), 0) + coalesce(p.ended, 0)), 2) END
          FROM cronmon.cron_stats_daily d
         WHERE d.cron_name = s.cron_name
           AND d.day > (now() AT TIME ZONE 'UTC')::date - 7) AS success_rate_7d,
       CASE WHEN lp.cron_name IS NULL THEN lr.started_at ELSE l.started_at END AS last_execution_at,
       CASE WHEN lp.cron_name IS NULL THEN lr.status ELSE l.status END AS last_status,
       s.anomaly_factor,
       s.min_duration_ms,
       s.anomaly_incidents,
       s.paused_at,
       s.paused_until,
       s.next_deadline_at,
       s.judged_through,
       s.created_at,
       s.updated_at,
       CASE WHEN lp.cron_name IS NULL THEN lr.reason ELSE l.reason END AS last_reason,
       CASE WHEN lp.cron_name IS NULL THEN lr.completed_at ELSE l.completed_at END AS last_completed_at,
       (SELECT min(e.started_at) FROM cronmon.cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'running') AS oldest_running_at,
       -- The oldest stuck run's start; the time it crossed its limit is worked out by the
       -- reader, with checked arithmetic, so no stored time can overflow this view.
       (SELECT min(e.started_at)
          FROM cronmon.cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'running'
           -- In milliseconds as numbers, as detect_stuck_crons() does: no interval overflows.
           AND (extract(epoch FROM now() - e.started_at) * 1000 > s.timeout_ms
                OR (s.heartbeat_timeout_ms IS NOT NULL
                    AND extract(epoch FROM now() - coalesce(e.last_heartbeat_at, e.started_at)) * 1000
                        > s.heartbeat_timeout_ms))) AS stuck_since,
       i.id AS incident_id,
       i.kind AS incident_kind,
       i.opened_at AS incident_opened_at
FROM cronmon.cron_schedules s
-- The newest run as last folded, or looked up where a write since has left it pending.
LEFT JOIN cronmon.cron_latest_runs lr ON lr.cron_name = s.cron_name
LEFT JOIN (SELECT DISTINCT cron_name FROM cronmon.cron_latest_pending) lp ON lp.cron_name = s.cron_name
LEFT JOIN LATERAL (SELECT e.started_at, e.status, e.reason, e.completed_at FROM cronmon.cron_executions e
                   WHERE lp.cron_name IS NOT NULL AND e.cron_name = s.cron_name
                   ORDER BY e.started_at DESC LIMIT 1) l ON TRUE
LEFT JOIN cronmon.incidents i ON i.cron_name = s.cron_name AND i.resolved_at IS NULL
-- What is not folded yet, read once for all crons rather than once per cron.
LEFT JOIN (SELECT r.cron_name, sum(r.completed) AS completed, sum(r.completed + r.failed) AS ended
           FROM cronmon.cron_rollup_pending r
           WHERE (r.bucket AT TIME ZONE 'UTC')::date > (now() AT TIME ZONE 'UTC')::date - 7
           GROUP BY r.cron_name) p ON p.cron_name = s.cron_name;
