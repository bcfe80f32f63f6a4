-- The failure streak read in a bounded time, as on PostgreSQL (its migration 0011): the newest
-- completion looked for among the cron's newest 1,000 runs, 1,000 failed runs counted at most.

DROP VIEW vw_cron_monitoring_dashboard;
CREATE VIEW vw_cron_monitoring_dashboard AS
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
       (SELECT count(*) FROM cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'running') AS running_count,
       (SELECT count(*) FROM cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'failed'
           AND e.started_at >= strftime('%Y-%m-%dT%H:%M:%S', 'now', '-24 hours')) AS failures_24h,
       -- A missed row that counts several slots counts each; the newest completion looked
       -- for among the cron's newest 1,000 runs, and 1,000 failed runs at most, as on
       -- PostgreSQL.
       (SELECT CAST(coalesce(sum(coalesce(f.slots_missed, 1)), 0) AS BIGINT)
          FROM (SELECT e.slots_missed FROM cron_executions e
                 WHERE e.cron_name = s.cron_name AND e.status = 'failed'
                   AND e.started_at > coalesce(
                       (SELECT c.started_at
                          FROM (SELECT c.started_at, c.status FROM cron_executions c
                                 WHERE c.cron_name = s.cron_name
                                 ORDER BY c.started_at DESC LIMIT 1000) c
                         WHERE c.status = 'completed'
                         ORDER BY c.started_at DESC LIMIT 1),
                       '')
                 ORDER BY e.started_at DESC LIMIT 1000) f) AS consecutive_failures,
       (SELECT CASE WHEN sum(d.completed + d.failed) = 0 THEN NULL
                    ELSE round(100.0 * sum(d.completed) / sum(d.completed + d.failed), 2) END
          FROM cron_stats_daily d
         WHERE d.cron_name = s.cron_name
           AND d.day > strftime('%Y-%m-%d', 'now', '-7 days')) AS success_rate_7d,
       l.started_at AS last_execution_at,
       l.status AS last_status,
       s.anomaly_factor,
       s.min_duration_ms,
       s.anomaly_incidents,
       s.paused_at,
       s.paused_until,
       s.next_deadline_at,
       s.judged_through,
       s.created_at,
       s.updated_at,
       l.reason AS last_reason,
       l.completed_at AS last_completed_at,
       (SELECT min(e.started_at) FROM cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'running') AS oldest_running_at,
       -- The oldest stuck run's start; the reader works out when it crossed its limit.
       (SELECT min(e.started_at)
          FROM cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'running'
           AND (julianday(e.started_at) + s.timeout_ms / 86400000.0 < julianday('now')
                OR (s.heartbeat_timeout_ms IS NOT NULL
                    AND julianday(coalesce(e.last_heartbeat_at, e.started_at))
                        + s.heartbeat_timeout_ms / 86400000.0 < julianday('now')))) AS stuck_since,
       i.id AS incident_id,
       i.kind AS incident_kind,
       i.opened_at AS incident_opened_at
FROM cron_schedules s
LEFT JOIN cron_executions l ON l.id = (SELECT e.id FROM cron_executions e
                                        WHERE e.cron_name = s.cron_name
                                        ORDER BY e.started_at DESC LIMIT 1)
LEFT JOIN incidents i ON i.cron_name = s.cron_name AND i.resolved_at IS NULL;
