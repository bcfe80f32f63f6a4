-- A failure streak read in a bounded time. The dashboard view counted a cron's consecutive
-- failures over its whole streak, and looked for its newest completion through every run it
-- ever had: for a cron failing for three weeks, 30,000 index entries twice on every read, the
-- one part of the schedules read that grew with history. The newest completion is now looked
-- for among the cron's newest 1,000 runs, and 1,000 failed runs are counted at most.
--
-- The 7-day success rate is read from one range of the daily roll-ups for all crons, not seven
-- rows a cron through its key (12 ms of the read for 1,000 crons).

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
           GROUP BY r.cron_name) p ON p.cron_name = s.cron_name;
