-- Read paths that stay fast as history grows: a daily roll-up (7 rows a cron for the timeline
-- and success rates), roll-ups that follow deletions (so they count exactly what is stored and
-- can answer the list's totals), and the newest run's status readable from the index alone.

CREATE TABLE cron_stats_daily (
    cron_name       TEXT NOT NULL,
    day             TEXT NOT NULL,
    started         INTEGER NOT NULL DEFAULT 0,
    completed       INTEGER NOT NULL DEFAULT 0,
    failed          INTEGER NOT NULL DEFAULT 0,
    duration_sum_ms INTEGER NOT NULL DEFAULT 0,
    duration_count  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (cron_name, day)
) WITHOUT ROWID;
CREATE INDEX cron_stats_daily_day_idx ON cron_stats_daily (day);

INSERT INTO cron_stats_daily
SELECT cron_name, substr(bucket, 1, 10), sum(started), sum(completed), sum(failed),
       sum(duration_sum_ms), sum(duration_count)
FROM cron_stats_hourly GROUP BY 1, 2;

DROP TRIGGER cron_executions_rollup_ins;
DROP TRIGGER cron_executions_rollup_upd;

-- One statement per roll-up and per sign: SQLite triggers have no procedures, so the same
-- upsert is spelled for inserted (+1) and removed (-1) rows.
CREATE TRIGGER cron_executions_rollup_ins AFTER INSERT ON cron_executions
BEGIN
    INSERT INTO cron_schedules (cron_name) VALUES (NEW.cron_name) ON CONFLICT DO NOTHING;
    INSERT INTO cron_stats_hourly (cron_name, bucket, started, completed, failed, duration_sum_ms, duration_count)
    VALUES (NEW.cron_name, substr(NEW.started_at, 1, 13) || ':00:00+00:00', 1,
            NEW.status = 'completed', NEW.status = 'failed',
            CASE WHEN NEW.status <> 'running' THEN coalesce(NEW.duration_ms, 0) ELSE 0 END,
            NEW.status <> 'running' AND NEW.duration_ms IS NOT NULL)
    ON CONFLICT (cron_name, bucket) DO UPDATE SET
        started = started + excluded.started, completed = completed + excluded.completed,
        failed = failed + excluded.failed, duration_sum_ms = duration_sum_ms + excluded.duration_sum_ms,
        duration_count = duration_count + excluded.duration_count;
    INSERT INTO cron_stats_daily (cron_name, day, started, completed, failed, duration_sum_ms, duration_count)
    VALUES (NEW.cron_name, substr(NEW.started_at, 1, 10), 1,
            NEW.status = 'completed', NEW.status = 'failed',
            CASE WHEN NEW.status <> 'running' THEN coalesce(NEW.duration_ms, 0) ELSE 0 END,
            NEW.status <> 'running' AND NEW.duration_ms IS NOT NULL)
    ON CONFLICT (cron_name, day) DO UPDATE SET
        started = started + excluded.started, completed = completed + excluded.completed,
        failed = failed + excluded.failed, duration_sum_ms = duration_sum_ms + excluded.duration_sum_ms,
        duration_count = duration_count + excluded.duration_count;
END;

CREATE TRIGGER cron_executions_rollup_del AFTER DELETE ON cron_executions
BEGIN
    UPDATE cron_stats_hourly SET
        started = started - 1,
        completed = completed - (OLD.status = 'completed'),
        failed = failed - (OLD.status = 'failed'),
        duration_sum_ms = duration_sum_ms - CASE WHEN OLD.status <> 'running' THEN coalesce(OLD.duration_ms, 0) ELSE 0 END,
        duration_count = duration_count - (OLD.status <> 'running' AND OLD.duration_ms IS NOT NULL)
    WHERE cron_name = OLD.cron_name AND bucket = substr(OLD.started_at, 1, 13) || ':00:00+00:00';
    UPDATE cron_stats_daily SET
        started = started - 1,
        completed = completed - (OLD.status = 'completed'),
        failed = failed - (OLD.status = 'failed'),
        duration_sum_ms = duration_sum_ms - CASE WHEN OLD.status <> 'running' THEN coalesce(OLD.duration_ms, 0) ELSE 0 END,
        duration_count = duration_count - (OLD.status <> 'running' AND OLD.duration_ms IS NOT NULL)
    WHERE cron_name = OLD.cron_name AND day = substr(OLD.started_at, 1, 10);
END;

CREATE TRIGGER cron_executions_rollup_upd AFTER UPDATE OF status, duration_ms ON cron_executions
WHEN NEW.status IS NOT OLD.status OR NEW.duration_ms IS NOT OLD.duration_ms
BEGIN
    UPDATE cron_stats_hourly SET
        completed = completed + (NEW.status = 'completed') - (OLD.status = 'completed'),
        failed = failed + (NEW.status = 'failed') - (OLD.status = 'failed'),
        duration_sum_ms = duration_sum_ms
            + CASE WHEN NEW.status <> 'running' THEN coalesce(NEW.duration_ms, 0) ELSE 0 END
            - CASE WHEN OLD.status <> 'running' THEN coalesce(OLD.duration_ms, 0) ELSE 0 END,
        duration_count = duration_count
            + (NEW.status <> 'running' AND NEW.duration_ms IS NOT NULL)
            - (OLD.status <> 'running' AND OLD.duration_ms IS NOT NULL)
    WHERE cron_name = NEW.cron_name AND bucket = substr(NEW.started_at, 1, 13) || ':00:00+00:00';
    UPDATE cron_stats_daily SET
        completed = completed + (NEW.status = 'completed') - (OLD.status = 'completed'),
        failed = failed + (NEW.status = 'failed') - (OLD.status = 'failed'),
        duration_sum_ms = duration_sum_ms
            + CASE WHEN NEW.status <> 'running' THEN coalesce(NEW.duration_ms, 0) ELSE 0 END
            - CASE WHEN OLD.status <> 'running' THEN coalesce(OLD.duration_ms, 0) ELSE 0 END,
        duration_count = duration_count
            + (NEW.status <> 'running' AND NEW.duration_ms IS NOT NULL)
            - (OLD.status <> 'running' AND OLD.duration_ms IS NOT NULL)
    WHERE cron_name = NEW.cron_name AND day = substr(NEW.started_at, 1, 10);
END;

CREATE INDEX cron_executions_name_started_status_idx ON cron_executions (cron_name, started_at DESC, status);
DROP INDEX cron_executions_name_started_idx;

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
       (SELECT count(*) FROM cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'failed'
           AND e.started_at > coalesce((SELECT max(c.started_at) FROM cron_executions c
                                        WHERE c.cron_name = s.cron_name AND c.status = 'completed'),
                                       '')) AS consecutive_failures,
       (SELECT CASE WHEN sum(d.completed + d.failed) = 0 THEN NULL
                    ELSE round(100.0 * sum(d.completed) / sum(d.completed + d.failed), 2) END
          FROM cron_stats_daily d
         WHERE d.cron_name = s.cron_name
           AND d.day > strftime('%Y-%m-%d', 'now', '-7 days')) AS success_rate_7d,
       (SELECT max(e.started_at) FROM cron_executions e
         WHERE e.cron_name = s.cron_name) AS last_execution_at,
       (SELECT e.status FROM cron_executions e
         WHERE e.cron_name = s.cron_name ORDER BY e.started_at DESC LIMIT 1) AS last_status
FROM cron_schedules s;
