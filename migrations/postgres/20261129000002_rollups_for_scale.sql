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

-- The roll-ups are kept per statement, not per row: a group commit that inserts or closes
-- hundreds of runs in one statement costs one upsert per (cron, hour) and per (cron, day), not
-- a trigger call per run. Upserts take their rows in key order, so concurrent batches lock
-- them in the same order.
DROP TRIGGER cron_executions_rollup_ins ON cronmon.cron_executions;
DROP TRIGGER cron_executions_rollup_upd ON cronmon.cron_executions;
DROP FUNCTION cronmon.cron_executions_rollup();

-- One signed run: +1 when it appears (or takes a new outcome), -1 when it goes (or leaves an
-- outcome). `le` is its histogram bucket, floor(4 * log2(duration_ms + 1)): bucket `le` holds
-- 2^(le/4) - 1 to 2^((le+1)/4) - 1 ms, a 19 % wide step.
CREATE TYPE cronmon.cron_rollup_change AS (
    cron_name TEXT, started_at TIMESTAMPTZ, status TEXT, duration_ms BIGINT, sign INTEGER
);

-- PL/pgSQL, not SQL: its statements' plans are cached per session instead of made per call.
CREATE FUNCTION cronmon.cron_rollup_apply(changes cronmon.cron_rollup_change[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cronmon.cron_stats_hourly AS h
        (cron_name, bucket, started, completed, failed, duration_sum_ms, duration_count)
    SELECT c.cron_name, date_trunc('hour', c.started_at),
           coalesce(sum(c.sign) FILTER (WHERE c.status IS NULL), 0),
           coalesce(sum(c.sign) FILTER (WHERE c.status = 'completed'), 0),
           coalesce(sum(c.sign) FILTER (WHERE c.status = 'failed'), 0),
           coalesce(sum(c.sign * c.duration_ms) FILTER (WHERE c.status IN ('completed', 'failed')), 0),
           coalesce(sum(c.sign) FILTER (WHERE c.status IN ('completed', 'failed') AND c.duration_ms IS NOT NULL), 0)
    FROM unnest(changes) c
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (cron_name, bucket) DO UPDATE SET
        started = h.started + EXCLUDED.started,
        completed = h.completed + EXCLUDED.completed,
        failed = h.failed + EXCLUDED.failed,
        duration_sum_ms = h.duration_sum_ms + EXCLUDED.duration_sum_ms,
        duration_count = h.duration_count + EXCLUDED.duration_count;

    INSERT INTO cronmon.cron_stats_daily AS h
        (cron_name, day, started, completed, failed, duration_sum_ms, duration_count)
    SELECT c.cron_name, (c.started_at AT TIME ZONE 'UTC')::date,
           coalesce(sum(c.sign) FILTER (WHERE c.status IS NULL), 0),
           coalesce(sum(c.sign) FILTER (WHERE c.status = 'completed'), 0),
           coalesce(sum(c.sign) FILTER (WHERE c.status = 'failed'), 0),
           coalesce(sum(c.sign * c.duration_ms) FILTER (WHERE c.status IN ('completed', 'failed')), 0),
           coalesce(sum(c.sign) FILTER (WHERE c.status IN ('completed', 'failed') AND c.duration_ms IS NOT NULL), 0)
    FROM unnest(changes) c
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (cron_name, day) DO UPDATE SET
        started = h.started + EXCLUDED.started,
        completed = h.completed + EXCLUDED.completed,
        failed = h.failed + EXCLUDED.failed,
        duration_sum_ms = h.duration_sum_ms + EXCLUDED.duration_sum_ms,
        duration_count = h.duration_count + EXCLUDED.duration_count;

    INSERT INTO cronmon.cron_durations_hourly AS h (cron_name, bucket, le, n)
    SELECT c.cron_name, date_trunc('hour', c.started_at),
           floor(4 * log(2, c.duration_ms + 1))::smallint, sum(c.sign)
    FROM unnest(changes) c
    WHERE c.status IN ('completed', 'failed') AND c.duration_ms >= 0
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (cron_name, bucket, le) DO UPDATE SET n = h.n + EXCLUDED.n;
END
$$;

-- A run counts once in `started` (the change with status NULL) and once per outcome it holds.
CREATE FUNCTION cronmon.cron_executions_rollup() RETURNS trigger
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
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER cron_executions_rollup_ins AFTER INSERT ON cronmon.cron_executions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cronmon.cron_executions_rollup();
CREATE TRIGGER cron_executions_rollup_upd AFTER UPDATE ON cronmon.cron_executions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cronmon.cron_executions_rollup();
CREATE TRIGGER cron_executions_rollup_del AFTER DELETE ON cronmon.cron_executions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cronmon.cron_executions_rollup();

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
