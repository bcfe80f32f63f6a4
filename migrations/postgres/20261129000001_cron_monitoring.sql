-- cronmon on PostgreSQL: every object lives in the schema `cronmon` under the seed's names.
CREATE SCHEMA IF NOT EXISTS cronmon;

-- One row per cron. A start for an unknown name registers it (see trigger below).
CREATE TABLE cronmon.cron_schedules (
    cron_name            TEXT PRIMARY KEY,
    display_name         TEXT,
    cron_expression      TEXT,
    timezone             TEXT NOT NULL DEFAULT 'UTC',
    is_enabled           BOOLEAN NOT NULL DEFAULT TRUE,
    timeout_ms           BIGINT NOT NULL DEFAULT 3600000 CHECK (timeout_ms > 0),
    grace_ms             BIGINT NOT NULL DEFAULT 300000 CHECK (grace_ms >= 0),
    heartbeat_timeout_ms BIGINT CHECK (heartbeat_timeout_ms > 0),
    failure_threshold    INTEGER NOT NULL DEFAULT 3 CHECK (failure_threshold > 0),
    recovery_threshold   INTEGER NOT NULL DEFAULT 1 CHECK (recovery_threshold > 0),
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per run. `id` is a UUIDv7 made by the client, so every write is idempotent.
CREATE TABLE cronmon.cron_executions (
    id                UUID PRIMARY KEY,
    cron_name         TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    reason            TEXT CHECK (reason IN ('error', 'panicked', 'interrupted', 'crashed', 'abandoned', 'timed_out', 'missed')),
    trigger_type      TEXT NOT NULL DEFAULT 'scheduled' CHECK (trigger_type IN ('scheduled', 'manual')),
    started_at        TIMESTAMPTZ NOT NULL,
    completed_at      TIMESTAMPTZ,
    duration_ms       BIGINT,
    output            JSONB,
    output_truncated  BOOLEAN NOT NULL DEFAULT FALSE,
    error_message     TEXT,
    exit_code         INTEGER,
    host              TEXT,
    pid               INTEGER,
    boot_id           TEXT,
    version           TEXT,
    cpu_ms            BIGINT,
    max_rss_kb        BIGINT,
    last_heartbeat_at TIMESTAMPTZ,
    progress_done     BIGINT,
    progress_total    BIGINT,
    scheduled_for     TIMESTAMPTZ
);

-- History of one cron, newest first, with the status (last run and its status index-only).
CREATE INDEX cron_executions_name_started_status_idx
    ON cronmon.cron_executions (cron_name, started_at DESC) INCLUDE (status);
-- History across crons, newest first (list, stats window, retention).
CREATE INDEX cron_executions_started_idx ON cronmon.cron_executions (started_at DESC);
-- Running runs stay few: stuck detection and running counts read only this.
CREATE INDEX cron_executions_running_idx ON cronmon.cron_executions (cron_name, started_at) WHERE status = 'running';
-- Failures stay few too: failures_24h and the status filter of the list.
CREATE INDEX cron_executions_failed_idx ON cronmon.cron_executions (cron_name, started_at DESC) WHERE status = 'failed';

-- Roll-ups kept by triggers, so the timeline, success rates, list totals and stats never scan
-- the history: per cron and hour, per cron and day, and a duration histogram per cron and hour
-- (for the p95 of any window). They follow inserts, changes of outcome and deletions, so they
-- count exactly what is stored.
CREATE TABLE cronmon.cron_stats_hourly (
    cron_name       TEXT NOT NULL,
    bucket          TIMESTAMPTZ NOT NULL,
    started         BIGINT NOT NULL DEFAULT 0,
    completed       BIGINT NOT NULL DEFAULT 0,
    failed          BIGINT NOT NULL DEFAULT 0,
    duration_sum_ms BIGINT NOT NULL DEFAULT 0,
    duration_count  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (cron_name, bucket)
);
CREATE INDEX cron_stats_hourly_bucket_idx ON cronmon.cron_stats_hourly (bucket);

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

-- The roll-ups are kept per statement, not per row: a group commit that inserts or closes
-- hundreds of runs in one statement costs one upsert per (cron, hour) and per (cron, day), not
-- a trigger call per run. Upserts take their rows in key order, so concurrent batches lock
-- them in the same order.
--
-- One signed run: +1 when it appears (or takes a new outcome), -1 when it goes (or leaves an
-- outcome).
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

-- Runs of batch kinds (SPEC section 7); the seed's unified batch view reads them.
CREATE TABLE cronmon.batch_runs (
    id           UUID PRIMARY KEY,
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    total_items  BIGINT,
    done_items   BIGINT NOT NULL DEFAULT 0,
    failed_items BIGINT NOT NULL DEFAULT 0,
    started_at   TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ,
    error_message TEXT
);
CREATE INDEX batch_runs_kind_started_idx ON cronmon.batch_runs (kind, started_at DESC);

-- The seed's SQL surface, for operators in psql.

-- Per-cron figures over the last `hours` hours.
CREATE FUNCTION cronmon.get_cron_monitoring_stats(hours INTEGER DEFAULT 24)
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
           round(avg(e.duration_ms) FILTER (WHERE e.status <> 'running'))::bigint,
           round(percentile_cont(0.95) WITHIN GROUP (ORDER BY e.duration_ms)
                 FILTER (WHERE e.status <> 'running'))::bigint,
           max(e.started_at),
           (array_agg(e.status ORDER BY e.started_at DESC))[1]
    FROM cronmon.cron_executions e
    WHERE e.started_at >= now() - make_interval(hours => hours)
    GROUP BY e.cron_name
    ORDER BY e.cron_name
$$;

-- Runs still running past their cron's max runtime (default one hour).
CREATE FUNCTION cronmon.detect_stuck_crons()
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
      AND (e.started_at < now() - make_interval(secs => coalesce(s.timeout_ms, 3600000) / 1000.0)
           OR (s.heartbeat_timeout_ms IS NOT NULL
               AND coalesce(e.last_heartbeat_at, e.started_at)
                   < now() - make_interval(secs => s.heartbeat_timeout_ms / 1000.0)))
    ORDER BY e.started_at
$$;

-- Deletes finished runs older than `retention_days`, in batches; returns how many went. The
-- roll-ups follow the deletions (triggers); their emptied rows go too.
CREATE FUNCTION cronmon.cleanup_old_cron_executions(retention_days INTEGER DEFAULT 7)
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

-- One row per cron with what the dashboard shows of it.
CREATE VIEW cronmon.vw_cron_monitoring_dashboard AS
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

-- Batch runs of every kind in one shape.
CREATE VIEW cronmon.vw_batch_executions_unified AS
SELECT b.kind AS batch_type,
       b.id,
       b.status,
       b.total_items,
       b.done_items,
       b.failed_items,
       b.started_at,
       b.completed_at,
       (extract(epoch FROM coalesce(b.completed_at, now()) - b.started_at) * 1000)::bigint AS duration_ms,
       b.error_message
FROM cronmon.batch_runs b;
