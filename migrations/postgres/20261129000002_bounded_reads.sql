-- Reads and roll-ups that survive any row the tables hold. The API and the store refuse values
-- out of bounds (a run of 366 days at most, a cron's timeout 30 days at most), but rows written
-- by older versions or by hand may hold anything a column takes: a duration of i64::MAX - 1,
-- a timeout of 10^15 ms. Such a row must cost nothing more than its own figure.

-- `a + b` clamped to what a BIGINT holds, instead of failing the statement (and with it the
-- write of every run of the batch).
CREATE FUNCTION cronmon.cron_saturating_add(a BIGINT, b BIGINT) RETURNS BIGINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(greatest(a::numeric + b, -9223372036854775808), 9223372036854775807)::bigint
$$;

-- A run's duration as the roll-ups count it: 0 to 366 days (31622400000 ms, the longest run
-- the rules accept). Applied the same way when a run is counted and when it is taken out, so
-- the sums stay exact for every run within the bounds.
CREATE FUNCTION cronmon.cron_rollup_duration(ms BIGINT) RETURNS BIGINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(greatest(ms, 0), 31622400000)
$$;

CREATE OR REPLACE FUNCTION cronmon.cron_rollup_apply(changes cronmon.cron_rollup_change[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cronmon.cron_stats_hourly AS h
        (cron_name, bucket, started, completed, failed, duration_sum_ms, duration_count)
    SELECT c.cron_name, date_trunc('hour', c.started_at),
           coalesce(sum(c.sign) FILTER (WHERE c.status IS NULL), 0),
           coalesce(sum(c.sign) FILTER (WHERE c.status = 'completed'), 0),
           coalesce(sum(c.sign) FILTER (WHERE c.status = 'failed'), 0),
           coalesce(sum(c.sign * cronmon.cron_rollup_duration(c.duration_ms))
                    FILTER (WHERE c.status IN ('completed', 'failed')), 0),
           coalesce(sum(c.sign) FILTER (WHERE c.status IN ('completed', 'failed') AND c.duration_ms IS NOT NULL), 0)
    FROM unnest(changes) c
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (cron_name, bucket) DO UPDATE SET
        started = cronmon.cron_saturating_add(h.started, EXCLUDED.started),
        completed = cronmon.cron_saturating_add(h.completed, EXCLUDED.completed),
        failed = cronmon.cron_saturating_add(h.failed, EXCLUDED.failed),
        duration_sum_ms = cronmon.cron_saturating_add(h.duration_sum_ms, EXCLUDED.duration_sum_ms),
        duration_count = cronmon.cron_saturating_add(h.duration_count, EXCLUDED.duration_count);

    INSERT INTO cronmon.cron_stats_daily AS h
        (cron_name, day, started, completed, failed, duration_sum_ms, duration_count)
    SELECT c.cron_name, (c.started_at AT TIME ZONE 'UTC')::date,
           coalesce(sum(c.sign) FILTER (WHERE c.status IS NULL), 0),
           coalesce(sum(c.sign) FILTER (WHERE c.status = 'completed'), 0),
           coalesce(sum(c.sign) FILTER (WHERE c.status = 'failed'), 0),
           coalesce(sum(c.sign * cronmon.cron_rollup_duration(c.duration_ms))
                    FILTER (WHERE c.status IN ('completed', 'failed')), 0),
           coalesce(sum(c.sign) FILTER (WHERE c.status IN ('completed', 'failed') AND c.duration_ms IS NOT NULL), 0)
    FROM unnest(changes) c
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (cron_name, day) DO UPDATE SET
        started = cronmon.cron_saturating_add(h.started, EXCLUDED.started),
        completed = cronmon.cron_saturating_add(h.completed, EXCLUDED.completed),
        failed = cronmon.cron_saturating_add(h.failed, EXCLUDED.failed),
        duration_sum_ms = cronmon.cron_saturating_add(h.duration_sum_ms, EXCLUDED.duration_sum_ms),
        duration_count = cronmon.cron_saturating_add(h.duration_count, EXCLUDED.duration_count);

    INSERT INTO cronmon.cron_durations_hourly AS h (cron_name, bucket, le, n)
    SELECT c.cron_name, date_trunc('hour', c.started_at),
           floor(4 * log(2, cronmon.cron_rollup_duration(c.duration_ms) + 1))::smallint, sum(c.sign)
    FROM unnest(changes) c
    WHERE c.status IN ('completed', 'failed') AND c.duration_ms >= 0
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (cron_name, bucket, le) DO UPDATE SET n = cronmon.cron_saturating_add(h.n, EXCLUDED.n);
END
$$;

-- Stuck runs compared in milliseconds as numbers, never as `now() - interval`: a timeout of
-- 10^15 ms (31 700 years) would take the timestamp out of range and fail every read that
-- joins this function.
CREATE OR REPLACE FUNCTION cronmon.detect_stuck_crons()
RETURNS TABLE (
    execution_id UUID,
    cron_name TEXT,
    started_at TIMESTAMPTZ,
    running_ms BIGINT,
    timeout_ms BIGINT,
    last_heartbeat_at TIMESTAMPTZ,
    host TEXT,
    pid INTEGER
)
LANGUAGE sql STABLE AS $$
    SELECT e.id, e.cron_name, e.started_at,
           (extract(epoch FROM now() - e.started_at) * 1000)::bigint,
           coalesce(s.timeout_ms, 3600000),
           e.last_heartbeat_at, e.host, e.pid
    FROM cronmon.cron_executions e
    LEFT JOIN cronmon.cron_schedules s ON s.cron_name = e.cron_name
    WHERE e.status = 'running'
      AND (extract(epoch FROM now() - e.started_at) * 1000 > coalesce(s.timeout_ms, 3600000)
           OR (s.heartbeat_timeout_ms IS NOT NULL
               AND extract(epoch FROM now() - coalesce(e.last_heartbeat_at, e.started_at)) * 1000
                   > s.heartbeat_timeout_ms))
    ORDER BY e.started_at
$$;

-- The exact figures for psql, with the percentile and the mean clamped to what a BIGINT holds.
CREATE OR REPLACE FUNCTION cronmon.get_cron_monitoring_stats(hours INTEGER DEFAULT 24)
RETURNS TABLE (
    cron_name TEXT,
    total_executions BIGINT,
    completed_count BIGINT,
    failed_count BIGINT,
    running_count BIGINT,
    success_rate NUMERIC,
    avg_duration_ms BIGINT,
    p95_duration_ms BIGINT,
    last_execution_at TIMESTAMPTZ,
    last_status TEXT
)
LANGUAGE sql STABLE AS $$
    SELECT e.cron_name,
           count(*),
           count(*) FILTER (WHERE e.status = 'completed'),
           count(*) FILTER (WHERE e.status = 'failed'),
           count(*) FILTER (WHERE e.status = 'running'),
           CASE WHEN count(*) FILTER (WHERE e.status <> 'running') = 0 THEN NULL
                ELSE round(100.0 * count(*) FILTER (WHERE e.status = 'completed')
                           / count(*) FILTER (WHERE e.status <> 'running'), 2) END,
           least(greatest(round(avg(e.duration_ms) FILTER (WHERE e.status <> 'running')),
                          -9223372036854775808), 9223372036854775807)::bigint,
           least(greatest(round((percentile_cont(0.95) WITHIN GROUP (ORDER BY e.duration_ms)
                                 FILTER (WHERE e.status <> 'running'))::numeric),
                          -9223372036854775808), 9223372036854775807)::bigint,
           max(e.started_at),
           (array_agg(e.status ORDER BY e.started_at DESC))[1]
    FROM cronmon.cron_executions e
    WHERE e.started_at >= now() - make_interval(hours => hours)
    GROUP BY e.cron_name
    ORDER BY e.cron_name
$$;
