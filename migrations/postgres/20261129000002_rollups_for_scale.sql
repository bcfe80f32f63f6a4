-- Read paths that stay fast at 10 million runs (SPEC section 11):
-- * a daily roll-up, so the 7-day timeline and success rates read 7 rows a cron, not 168;
-- * a duration histogram per cron and hour (quarter-octave buckets), so the p95 of a window
--   never sorts the window's runs;
-- * roll-ups that follow deletions, so they count exactly what is stored and can answer the
--   list's totals;
-- * the newest run's status readable from the index alone.

CREATE TABLE cronmon.cron_stats_daily (
    cron_name       TEXT NOT NULL,
    day             DATE NOT NULL,
    started         BIGINT NOT NULL DEFAULT 0,
    completed       BIGINT NOT NULL DEFAULT 0,
    failed          BIGINT NOT NULL DEFAULT 0,
    duration_sum_ms BIGINT NOT NULL DEFAULT 0,
    duration_count  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (cron_name, day)
);
CREATE INDEX cron_stats_daily_day_idx ON cronmon.cron_stats_daily (day);

INSERT INTO cronmon.cron_stats_daily
SELECT cron_name, (bucket AT TIME ZONE 'UTC')::date, sum(started), sum(completed), sum(failed),
       sum(duration_sum_ms), sum(duration_count)
FROM cronmon.cron_stats_hourly GROUP BY 1, 2;

-- `le` is floor(4 * log2(duration_ms + 1)): bucket `le` holds durations from
-- 2^(le/4) - 1 to 2^((le+1)/4) - 1 ms, a 19 % wide step.
CREATE TABLE cronmon.cron_durations_hourly (
    cron_name TEXT NOT NULL,
    bucket    TIMESTAMPTZ NOT NULL,
    le        SMALLINT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (cron_name, bucket, le)
);
CREATE INDEX cron_durations_hourly_bucket_idx ON cronmon.cron_durations_hourly (bucket);

INSERT INTO cronmon.cron_durations_hourly
SELECT cron_name, date_trunc('hour', started_at), floor(4 * log(2, duration_ms + 1))::smallint, count(*)
FROM cronmon.cron_executions
WHERE status <> 'running' AND duration_ms IS NOT NULL AND duration_ms >= 0
GROUP BY 1, 2, 3;

-- Adds a change of one cron's counts at one start time to the hourly and daily roll-ups.
CREATE FUNCTION cronmon.cron_rollup_add(
    name TEXT, started_at TIMESTAMPTZ,
    d_started INTEGER, d_completed INTEGER, d_failed INTEGER, d_sum BIGINT, d_count INTEGER
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cronmon.cron_stats_hourly AS h
        (cron_name, bucket, started, completed, failed, duration_sum_ms, duration_count)
    VALUES (name, date_trunc('hour', started_at), d_started, d_completed, d_failed, d_sum, d_count)
    ON CONFLICT (cron_name, bucket) DO UPDATE SET
        started = h.started + EXCLUDED.started,
        completed = h.completed + EXCLUDED.completed,
        failed = h.failed + EXCLUDED.failed,
        duration_sum_ms = h.duration_sum_ms + EXCLUDED.duration_sum_ms,
        duration_count = h.duration_count + EXCLUDED.duration_count;
    INSERT INTO cronmon.cron_stats_daily AS h
        (cron_name, day, started, completed, failed, duration_sum_ms, duration_count)
    VALUES (name, (started_at AT TIME ZONE 'UTC')::date, d_started, d_completed, d_failed, d_sum, d_count)
    ON CONFLICT (cron_name, day) DO UPDATE SET
        started = h.started + EXCLUDED.started,
        completed = h.completed + EXCLUDED.completed,
        failed = h.failed + EXCLUDED.failed,
        duration_sum_ms = h.duration_sum_ms + EXCLUDED.duration_sum_ms,
        duration_count = h.duration_count + EXCLUDED.duration_count;
END $$;

-- Adds `sign` (1 or -1) to the duration histogram for a finished run.
CREATE FUNCTION cronmon.cron_histogram_add(r cronmon.cron_executions, sign INTEGER) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO cronmon.cron_durations_hourly AS h (cron_name, bucket, le, n)
    SELECT r.cron_name, date_trunc('hour', r.started_at),
           floor(4 * log(2, r.duration_ms + 1))::smallint, sign
    WHERE r.status <> 'running' AND r.duration_ms IS NOT NULL AND r.duration_ms >= 0
    ON CONFLICT (cron_name, bucket, le) DO UPDATE SET n = h.n + EXCLUDED.n
$$;

CREATE OR REPLACE FUNCTION cronmon.cron_executions_rollup() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r cronmon.cron_executions := coalesce(NEW, OLD);
    sign INTEGER := CASE WHEN TG_OP = 'DELETE' THEN -1 ELSE 1 END;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO cronmon.cron_schedules (cron_name) VALUES (NEW.cron_name) ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP IN ('INSERT', 'DELETE') THEN
        PERFORM cronmon.cron_rollup_add(
            r.cron_name, r.started_at, sign,
            sign * (r.status = 'completed')::int, sign * (r.status = 'failed')::int,
            CASE WHEN r.status <> 'running' THEN sign * coalesce(r.duration_ms, 0) ELSE 0 END,
            sign * (r.status <> 'running' AND r.duration_ms IS NOT NULL)::int);
        PERFORM cronmon.cron_histogram_add(r, sign);
    ELSIF NEW.status IS DISTINCT FROM OLD.status OR NEW.duration_ms IS DISTINCT FROM OLD.duration_ms THEN
        -- One upsert per roll-up with the difference, not a removal and an addition.
        PERFORM cronmon.cron_rollup_add(
            NEW.cron_name, NEW.started_at, 0,
            (NEW.status = 'completed')::int - (OLD.status = 'completed')::int,
            (NEW.status = 'failed')::int - (OLD.status = 'failed')::int,
            CASE WHEN NEW.status <> 'running' THEN coalesce(NEW.duration_ms, 0) ELSE 0 END
                - CASE WHEN OLD.status <> 'running' THEN coalesce(OLD.duration_ms, 0) ELSE 0 END,
            (NEW.status <> 'running' AND NEW.duration_ms IS NOT NULL)::int
                - (OLD.status <> 'running' AND OLD.duration_ms IS NOT NULL)::int);
        IF OLD.status <> 'running' THEN
            PERFORM cronmon.cron_histogram_add(OLD, -1);
        END IF;
        PERFORM cronmon.cron_histogram_add(NEW, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER cron_executions_rollup_del AFTER DELETE ON cronmon.cron_executions
    FOR EACH ROW EXECUTE FUNCTION cronmon.cron_executions_rollup();

-- The newest run of a cron and its status, from the index alone.
CREATE INDEX cron_executions_name_started_status_idx
    ON cronmon.cron_executions (cron_name, started_at DESC) INCLUDE (status);
DROP INDEX cronmon.cron_executions_name_started_idx;

-- Retention now deletes roll-up rows along with runs; the roll-ups go when they are empty.
CREATE OR REPLACE FUNCTION cronmon.cleanup_old_cron_executions(retention_days INTEGER DEFAULT 7)
RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    deleted BIGINT := 0;
    batch BIGINT;
BEGIN
    LOOP
        DELETE FROM cronmon.cron_executions
        WHERE id IN (SELECT id FROM cronmon.cron_executions
                     WHERE started_at < now() - make_interval(days => retention_days)
                       AND status <> 'running'
                     ORDER BY started_at
                     LIMIT 5000);
        GET DIAGNOSTICS batch = ROW_COUNT;
        deleted := deleted + batch;
        EXIT WHEN batch = 0;
    END LOOP;
    DELETE FROM cronmon.cron_stats_hourly WHERE started <= 0 AND bucket < now() - interval '1 day';
    DELETE FROM cronmon.cron_stats_daily WHERE started <= 0 AND day < current_date - 1;
    DELETE FROM cronmon.cron_durations_hourly WHERE n <= 0;
    RETURN deleted;
END $$;

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
       (SELECT count(*) FROM cronmon.cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'failed'
           AND e.started_at > coalesce((SELECT max(c.started_at) FROM cronmon.cron_executions c
                                        WHERE c.cron_name = s.cron_name AND c.status = 'completed'),
                                       '-infinity')) AS consecutive_failures,
       (SELECT CASE WHEN sum(d.completed + d.failed) = 0 THEN NULL
                    ELSE round(100.0 * sum(d.completed) / sum(d.completed + d.failed), 2) END
          FROM cronmon.cron_stats_daily d
         WHERE d.cron_name = s.cron_name
           AND d.day > (now() AT TIME ZONE 'UTC')::date - 7) AS success_rate_7d,
       l.started_at AS last_execution_at,
       l.status AS last_status
FROM cronmon.cron_schedules s
LEFT JOIN LATERAL (SELECT e.started_at, e.status FROM cronmon.cron_executions e
                   WHERE e.cron_name = s.cron_name
                   ORDER BY e.started_at DESC LIMIT 1) l ON TRUE;
