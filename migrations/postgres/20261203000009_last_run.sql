-- A cron's newest run on its schedule row. The dashboard view and the statistics looked it up
-- in the runs' index once per cron and read: a thousand probes into an index that grows with the
-- history (10-15 ms of each read at 10 M runs, the largest part of both). The run triggers now
-- write it as they write the runs: the schedule rows they touch are the ones each batch already
-- locks (`cron_mark_dirty`), under the writers' per-cron locks, so no new lock order appears.
-- Retention, which may delete a cron's newest run, sets it again from what is left
-- (`PgStore::cleanup`).
ALTER TABLE cronmon.cron_schedules
    ADD COLUMN last_started_at   TIMESTAMPTZ,
    ADD COLUMN last_status       TEXT,
    ADD COLUMN last_reason       TEXT,
    ADD COLUMN last_completed_at TIMESTAMPTZ,
    -- The start of the newest run that completed: where the failure streak begins.
    ADD COLUMN last_success_at   TIMESTAMPTZ;

UPDATE cronmon.cron_schedules s
SET (last_started_at, last_status, last_reason, last_completed_at) =
    (SELECT e.started_at, e.status, e.reason, e.completed_at FROM cronmon.cron_executions e
     WHERE e.cron_name = s.cron_name ORDER BY e.started_at DESC LIMIT 1);
UPDATE cronmon.cron_schedules s
SET last_success_at = (SELECT max(e.started_at) FROM cronmon.cron_executions e
                       WHERE e.cron_name = s.cron_name AND e.status = 'completed');

-- Moves each cron's `last_success_at` on to the newest of `runs` (completed runs), never back.
-- Retention needs no care here: the newest completed run goes only with every ended run before
-- it, so counting the failures after it counts what is left.
CREATE FUNCTION cronmon.cron_note_successes(runs cronmon.cron_rollup_change[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE cronmon.cron_schedules s SET last_success_at = r.started_at
    FROM (SELECT c.cron_name, max(c.started_at) AS started_at FROM unnest(runs) c GROUP BY 1) r
    WHERE s.cron_name = r.cron_name
      AND (s.last_success_at IS NULL OR r.started_at > s.last_success_at)
$$;

-- 0004's trigger, keeping the newest run too.
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
        UPDATE cronmon.cron_schedules s
        SET last_started_at = n.started_at, last_status = n.status, last_reason = n.reason,
            last_completed_at = n.completed_at
        FROM (SELECT DISTINCT ON (cron_name) cron_name, started_at, status, reason, completed_at
              FROM new_rows ORDER BY cron_name, started_at DESC) n
        WHERE s.cron_name = n.cron_name
          AND (s.last_started_at IS NULL OR n.started_at >= s.last_started_at);
        PERFORM cronmon.cron_note_successes(ARRAY(
            SELECT (n.cron_name, n.started_at, n.status, n.duration_ms, 1)::cronmon.cron_rollup_change
            FROM new_rows n WHERE n.status = 'completed'));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM cronmon.cron_rollup_apply(ARRAY(
            SELECT (o.cron_name, o.started_at, NULL, NULL, -1)::cronmon.cron_rollup_change FROM old_rows o
            UNION ALL
            SELECT (o.cron_name, o.started_at, o.status, o.duration_ms, -1)::cronmon.cron_rollup_change
            FROM old_rows o WHERE o.status <> 'running'));
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
        -- The end of a cron's newest run (an older run's end changes nothing here).
        UPDATE cronmon.cron_schedules s
        SET last_status = n.status, last_reason = n.reason, last_completed_at = n.completed_at
        FROM (SELECT DISTINCT ON (n.cron_name) n.cron_name, n.started_at, n.status, n.reason, n.completed_at
              FROM old_rows o JOIN new_rows n ON n.id = o.id
              WHERE n.status IS DISTINCT FROM o.status OR n.reason IS DISTINCT FROM o.reason
                 OR n.completed_at IS DISTINCT FROM o.completed_at
              ORDER BY n.cron_name, n.started_at DESC) n
        WHERE s.cron_name = n.cron_name AND n.started_at = s.last_started_at;
        PERFORM cronmon.cron_note_successes(ARRAY(
            SELECT (n.cron_name, n.started_at, n.status, n.duration_ms, 1)::cronmon.cron_rollup_change
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status = 'completed' AND o.status IS DISTINCT FROM 'completed'));
    END IF;
    RETURN NULL;
END $$;

-- 0008's dashboard view, the newest run and the last success read from the schedule row.
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
       CASE WHEN s.last_status = 'completed' THEN 0 ELSE
       (SELECT CAST(coalesce(sum(coalesce(e.slots_missed, 1)), 0) AS BIGINT) FROM cronmon.cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'failed'
           AND e.started_at > coalesce(s.last_success_at, '-infinity')) END AS consecutive_failures,
       (SELECT CASE WHEN coalesce(sum(d.completed + d.failed), 0) + coalesce(p.ended, 0) = 0 THEN NULL
                    ELSE round(100.0 * (coalesce(sum(d.completed), 0) + coalesce(p.completed, 0))
                               / (coalesce(sum(d.completed + d.failed), 0) + coalesce(p.ended, 0)), 2) END
          FROM cronmon.cron_stats_daily d
         WHERE d.cron_name = s.cron_name
           AND d.day > (now() AT TIME ZONE 'UTC')::date - 7) AS success_rate_7d,
       s.last_started_at AS last_execution_at,
       s.last_status AS last_status,
       s.anomaly_factor,
       s.min_duration_ms,
       s.anomaly_incidents,
       s.paused_at,
       s.paused_until,
       s.next_deadline_at,
       s.judged_through,
       s.created_at,
       s.updated_at,
       s.last_reason AS last_reason,
       s.last_completed_at AS last_completed_at,
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
LEFT JOIN cronmon.incidents i ON i.cron_name = s.cron_name AND i.resolved_at IS NULL
-- What is not folded yet, read once for all crons rather than once per cron.
LEFT JOIN (SELECT r.cron_name, sum(r.completed) AS completed, sum(r.completed + r.failed) AS ended
           FROM cronmon.cron_rollup_pending r
           WHERE (r.bucket AT TIME ZONE 'UTC')::date > (now() AT TIME ZONE 'UTC')::date - 7
           GROUP BY r.cron_name) p ON p.cron_name = s.cron_name;
