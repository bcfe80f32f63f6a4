-- The schedules read in fewer probes per cron (issue 14: its p95 was 30-40 ms at 10 and 30
-- million runs in some timings, its p50 19-23 ms, for 1,000 crons).
--
-- `failures_24h` counted each cron's failed runs of the last 24 hours through its own key of
-- the failed runs' index: a thousand probes and some 30,000 index entries a read, half of the
-- view's time. It now comes, for all crons at once, from the window roll-ups for the whole UTC
-- hours of the window (two rows a cron), what is pending, and, for the part of an hour the
-- window begins with, one range of a new index of failed runs by start. The same count, as
-- exact as before (the roll-ups count failed runs by the hour they started).
--
-- The running runs' three figures (how many, the oldest, the oldest stuck) are one range of
-- the running runs' index per cron instead of three.
--
-- The index is built here, under the migration's lock: it covers failed runs only, but the
-- build reads the whole table once (seconds per ten million runs), and writers wait that long.
CREATE INDEX cron_executions_failed_started_idx ON cronmon.cron_executions (started_at)
    INCLUDE (cron_name) WHERE status = 'failed';

CREATE OR REPLACE VIEW cronmon.vw_cron_monitoring_dashboard AS
-- The last 24 hours: the whole UTC hours from `t` on (on UTC day `day`, from hour `h`), and the
-- part of an hour before them, from `since`.
WITH b AS (SELECT x.since, x.t, (x.t AT TIME ZONE 'UTC')::date AS day,
                  extract(hour FROM x.t AT TIME ZONE 'UTC')::int AS h
           FROM (SELECT now() - interval '24 hours' AS since,
                        date_trunc('hour', now() - interval '24 hours', 'UTC') + interval '1 hour' AS t) x)
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
       rn.running_count,
       coalesce(f24.failed, 0) AS failures_24h,
       -- A missed row that counts several slots counts each. When the last run completed
       -- there is none, and most crons are read without looking further. Otherwise the failed
       -- runs after the newest completion, looked for among the cron's newest 1,000 runs (an
       -- index range that stops at the first completion), and 1,000 of them at most: two
       -- bounded ranges, however long the cron has been failing.
       CASE WHEN (CASE WHEN lp.cron_name IS NULL THEN lr.status ELSE l.status END) = 'completed' THEN 0 ELSE
       (SELECT CAST(coalesce(sum(coalesce(f.slots_missed, 1)), 0) AS BIGINT)
          FROM (SELECT e.slots_missed FROM cronmon.cron_executions e
                 WHERE e.cron_name = s.cron_name AND e.status = 'failed'
                   AND e.started_at > coalesce(
                       (SELECT c.started_at
                          FROM (SELECT c.started_at, c.status FROM cronmon.cron_executions c
                                 WHERE c.cron_name = s.cron_name
                                 ORDER BY c.started_at DESC LIMIT 1000) c
                         WHERE c.status = 'completed'
                         ORDER BY c.started_at DESC LIMIT 1),
                       '-infinity')
                 ORDER BY e.started_at DESC LIMIT 1000) f) END AS consecutive_failures,
       CASE WHEN coalesce(d.ended, 0) + coalesce(p.ended, 0) = 0 THEN NULL
            ELSE round(100.0 * (coalesce(d.completed, 0) + coalesce(p.completed, 0))
                       / (coalesce(d.ended, 0) + coalesce(p.ended, 0)), 2) END AS success_rate_7d,
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
       rn.oldest_running_at,
       rn.stuck_since,
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
-- The cron's running runs, one range of their index: how many, the oldest, and the oldest
-- stuck one's start (the time it crossed its limit is worked out by the reader, with checked
-- arithmetic, so no stored time can overflow this view).
LEFT JOIN LATERAL (
    SELECT count(*) AS running_count, min(e.started_at) AS oldest_running_at,
           min(e.started_at) FILTER (
               -- In milliseconds as numbers, as detect_stuck_crons() does: no interval overflows.
               WHERE extract(epoch FROM now() - e.started_at) * 1000 > s.timeout_ms
                  OR (s.heartbeat_timeout_ms IS NOT NULL
                      AND extract(epoch FROM now() - coalesce(e.last_heartbeat_at, e.started_at)) * 1000
                          > s.heartbeat_timeout_ms)) AS stuck_since
    FROM cronmon.cron_executions e
    WHERE e.cron_name = s.cron_name AND e.status = 'running') rn ON TRUE
LEFT JOIN cronmon.incidents i ON i.cron_name = s.cron_name AND i.resolved_at IS NULL
-- The last 7 days' roll-ups, read once for all crons (one range of the day index) rather than
-- seven rows a cron through its key.
LEFT JOIN (SELECT d.cron_name, sum(d.completed) AS completed, sum(d.completed + d.failed) AS ended
           FROM cronmon.cron_stats_daily d
           WHERE d.day > (now() AT TIME ZONE 'UTC')::date - 7
           GROUP BY d.cron_name) d ON d.cron_name = s.cron_name
-- What is not folded yet, read once for all crons rather than once per cron.
LEFT JOIN (SELECT r.cron_name, sum(r.completed) AS completed, sum(r.completed + r.failed) AS ended
           FROM cronmon.cron_rollup_pending r
           WHERE (r.bucket AT TIME ZONE 'UTC')::date > (now() AT TIME ZONE 'UTC')::date - 7
           GROUP BY r.cron_name) p ON p.cron_name = s.cron_name
-- The failed runs of the last 24 hours for all crons at once: the whole hours from the window
-- roll-ups and what is pending, the first hour's part from the runs (one range of the failed
-- runs' start index), rather than a count through each cron's failed runs.
LEFT JOIN (SELECT f.cron_name, cronmon.cron_clamp(sum(f.n)) AS failed
           FROM (SELECT w.cron_name,
                        w.failed[24]::numeric
                          - CASE WHEN w.day = b.day THEN coalesce(w.failed[b.h], 0)::numeric ELSE 0 END AS n
                 FROM cronmon.cron_stats_window w, b
                 WHERE w.day >= b.day
                 UNION ALL
                 SELECT r.cron_name, r.failed
                 FROM cronmon.cron_rollup_pending r, b
                 WHERE r.bucket >= b.t
                 UNION ALL
                 SELECT e.cron_name, count(*)
                 FROM cronmon.cron_executions e, b
                 WHERE e.status = 'failed' AND e.started_at >= b.since AND e.started_at < b.t
                 GROUP BY e.cron_name) f
           GROUP BY f.cron_name) f24 ON f24.cron_name = s.cron_name;
