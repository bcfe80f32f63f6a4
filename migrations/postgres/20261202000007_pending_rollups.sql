-- Ingest without contended roll-up rows. Until now each statement that wrote runs upserted its
-- crons' rows of the three roll-up tables: half of PostgreSQL's time under load
-- (pg_stat_statements), and every batch touching a cron locked the same hot rows. Now a
-- statement appends its changes, grouped, to two tables without an index, and a folder
-- (`cron_rollup_fold()`, called by the writers about once a second) moves them into the
-- roll-ups in one statement per table: a thousand crons cost a thousand upserts a second
-- whatever the rate of runs. Reads add what is still pending (the `_live` views), so every
-- figure stays exact the moment a write commits.

CREATE TABLE cronmon.cron_rollup_pending (
    cron_name       TEXT NOT NULL,
    bucket          TIMESTAMPTZ NOT NULL,
    started         BIGINT NOT NULL,
    completed       BIGINT NOT NULL,
    failed          BIGINT NOT NULL,
    duration_sum_ms BIGINT NOT NULL,
    duration_count  BIGINT NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 10000);

CREATE TABLE cronmon.cron_durations_pending (
    cron_name TEXT NOT NULL,
    bucket    TIMESTAMPTZ NOT NULL,
    le        SMALLINT NOT NULL,
    n         BIGINT NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 10000);

-- A duration's histogram bucket, floor(4 * log2(ms + 1)) as 0002 defines it, in floating point:
-- NUMERIC's log cost a seventh of PostgreSQL's time under ingest. Within 1e-6 of a whole number
-- (an exact power of 2^(1/4), where a float could round to either side) NUMERIC decides, so
-- every bucket is the one 0002 gives (checked for every duration up to 2,000,000 ms).
CREATE FUNCTION cronmon.cron_duration_le(ms BIGINT) RETURNS SMALLINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN abs(4 * ln(cronmon.cron_rollup_duration(ms) + 1.0::float8) / ln(2.0::float8)
                 - round(4 * ln(cronmon.cron_rollup_duration(ms) + 1.0::float8) / ln(2.0::float8))) < 1e-6
        THEN floor(4 * log(2, cronmon.cron_rollup_duration(ms) + 1))
        ELSE floor(4 * ln(cronmon.cron_rollup_duration(ms) + 1.0::float8) / ln(2.0::float8))
    END::smallint
$$;

-- Same signature and the same arithmetic as before (0002): only where the sums go changes.
CREATE OR REPLACE FUNCTION cronmon.cron_rollup_apply(changes cronmon.cron_rollup_change[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cronmon.cron_rollup_pending
        (cron_name, bucket, started, completed, failed, duration_sum_ms, duration_count)
    SELECT c.cron_name, date_trunc('hour', c.started_at),
           coalesce(sum(c.sign) FILTER (WHERE c.status IS NULL), 0),
           coalesce(sum(c.sign) FILTER (WHERE c.status = 'completed'), 0),
           coalesce(sum(c.sign) FILTER (WHERE c.status = 'failed'), 0),
           coalesce(sum(c.sign * cronmon.cron_rollup_duration(c.duration_ms))
                    FILTER (WHERE c.status IN ('completed', 'failed')), 0),
           coalesce(sum(c.sign) FILTER (WHERE c.status IN ('completed', 'failed') AND c.duration_ms IS NOT NULL), 0)
    FROM unnest(changes) c
    GROUP BY 1, 2;

    INSERT INTO cronmon.cron_durations_pending (cron_name, bucket, le, n)
    SELECT c.cron_name, date_trunc('hour', c.started_at),
           cronmon.cron_duration_le(c.duration_ms), sum(c.sign)
    FROM unnest(changes) c
    WHERE c.status IN ('completed', 'failed') AND c.duration_ms >= 0
    GROUP BY 1, 2, 3;
END
$$;

-- Moves pending changes into the roll-ups, at most 100,000 rows of each table a call, so a
-- backlog (folds failing for a while, a bulk load) is drained over several calls instead of
-- making one that outlasts the statement timeout again and again; answers how many pending
-- rows it folded. One folder at a time (others answer 0 at once): the roll-up rows are then
-- only ever written by one transaction, in key order, and the rows it picks by `ctid` cannot
-- move under it (writers only insert). Deleting and upserting in one statement per table keeps
-- it exact if it fails: the changes stay pending.
CREATE FUNCTION cronmon.cron_rollup_fold() RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    runs BIGINT;
    durations BIGINT;
BEGIN
    -- "fold" in ASCII: apart from the cron locks' key space ("cron").
    IF NOT pg_try_advisory_xact_lock(1718578276, 0) THEN
        RETURN 0;
    END IF;

    WITH moved AS (
        DELETE FROM cronmon.cron_rollup_pending
        WHERE ctid = ANY(ARRAY(SELECT ctid FROM cronmon.cron_rollup_pending LIMIT 100000))
        RETURNING *),
    hourly AS (
        INSERT INTO cronmon.cron_stats_hourly AS h
            (cron_name, bucket, started, completed, failed, duration_sum_ms, duration_count)
        SELECT m.cron_name, m.bucket, cronmon.cron_clamp(sum(m.started)),
               cronmon.cron_clamp(sum(m.completed)), cronmon.cron_clamp(sum(m.failed)),
               cronmon.cron_clamp(sum(m.duration_sum_ms)), cronmon.cron_clamp(sum(m.duration_count))
        FROM moved m
        GROUP BY 1, 2
        ORDER BY 1, 2
        ON CONFLICT (cron_name, bucket) DO UPDATE SET
            started = cronmon.cron_saturating_add(h.started, EXCLUDED.started),
            completed = cronmon.cron_saturating_add(h.completed, EXCLUDED.completed),
            failed = cronmon.cron_saturating_add(h.failed, EXCLUDED.failed),
            duration_sum_ms = cronmon.cron_saturating_add(h.duration_sum_ms, EXCLUDED.duration_sum_ms),
            duration_count = cronmon.cron_saturating_add(h.duration_count, EXCLUDED.duration_count)
    ),
    daily AS (
        INSERT INTO cronmon.cron_stats_daily AS h
            (cron_name, day, started, completed, failed, duration_sum_ms, duration_count)
        SELECT m.cron_name, (m.bucket AT TIME ZONE 'UTC')::date, cronmon.cron_clamp(sum(m.started)),
               cronmon.cron_clamp(sum(m.completed)), cronmon.cron_clamp(sum(m.failed)),
               cronmon.cron_clamp(sum(m.duration_sum_ms)), cronmon.cron_clamp(sum(m.duration_count))
        FROM moved m
        GROUP BY 1, 2
        ORDER BY 1, 2
        ON CONFLICT (cron_name, day) DO UPDATE SET
            started = cronmon.cron_saturating_add(h.started, EXCLUDED.started),
            completed = cronmon.cron_saturating_add(h.completed, EXCLUDED.completed),
            failed = cronmon.cron_saturating_add(h.failed, EXCLUDED.failed),
            duration_sum_ms = cronmon.cron_saturating_add(h.duration_sum_ms, EXCLUDED.duration_sum_ms),
            duration_count = cronmon.cron_saturating_add(h.duration_count, EXCLUDED.duration_count)
    )
    SELECT count(*) INTO runs FROM moved;

    WITH moved AS (
        DELETE FROM cronmon.cron_durations_pending
        WHERE ctid = ANY(ARRAY(SELECT ctid FROM cronmon.cron_durations_pending LIMIT 100000))
        RETURNING *)
    , folded AS (
        INSERT INTO cronmon.cron_durations_hourly AS h (cron_name, bucket, le, n)
        SELECT m.cron_name, m.bucket, m.le, cronmon.cron_clamp(sum(m.n))
        FROM moved m
        GROUP BY 1, 2, 3
        ORDER BY 1, 2, 3
        ON CONFLICT (cron_name, bucket, le) DO UPDATE SET n = cronmon.cron_saturating_add(h.n, EXCLUDED.n)
    )
    SELECT count(*) INTO durations FROM moved;
    RETURN runs + durations;
END $$;

-- A NUMERIC sum clamped to what a BIGINT holds.
CREATE FUNCTION cronmon.cron_clamp(v NUMERIC) RETURNS BIGINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(greatest(coalesce(v, 0), -9223372036854775808), 9223372036854775807)::bigint
$$;

-- The roll-ups as readers see them: folded and pending together. Filters on the grouping
-- columns (cron, hour, day) are pushed into both sides, so the folded side is read through its
-- key as before; the pending side holds about a second of changes.
CREATE VIEW cronmon.cron_stats_hourly_live AS
SELECT cron_name, bucket,
       cronmon.cron_clamp(sum(started)) AS started, cronmon.cron_clamp(sum(completed)) AS completed,
       cronmon.cron_clamp(sum(failed)) AS failed,
       cronmon.cron_clamp(sum(duration_sum_ms)) AS duration_sum_ms,
       cronmon.cron_clamp(sum(duration_count)) AS duration_count
FROM (SELECT cron_name, bucket, started, completed, failed, duration_sum_ms, duration_count
      FROM cronmon.cron_stats_hourly
      UNION ALL
      SELECT cron_name, bucket, started, completed, failed, duration_sum_ms, duration_count
      FROM cronmon.cron_rollup_pending) r
GROUP BY cron_name, bucket;

CREATE VIEW cronmon.cron_stats_daily_live AS
SELECT cron_name, day,
       cronmon.cron_clamp(sum(started)) AS started, cronmon.cron_clamp(sum(completed)) AS completed,
       cronmon.cron_clamp(sum(failed)) AS failed,
       cronmon.cron_clamp(sum(duration_sum_ms)) AS duration_sum_ms,
       cronmon.cron_clamp(sum(duration_count)) AS duration_count
FROM (SELECT cron_name, day, started, completed, failed, duration_sum_ms, duration_count
      FROM cronmon.cron_stats_daily
      UNION ALL
      SELECT cron_name, (bucket AT TIME ZONE 'UTC')::date, started, completed, failed,
             duration_sum_ms, duration_count
      FROM cronmon.cron_rollup_pending) r
GROUP BY cron_name, day;

CREATE VIEW cronmon.cron_durations_hourly_live AS
SELECT cron_name, bucket, le, cronmon.cron_clamp(sum(n)) AS n
FROM (SELECT cron_name, bucket, le, n FROM cronmon.cron_durations_hourly
      UNION ALL
      SELECT cron_name, bucket, le, n FROM cronmon.cron_durations_pending) r
GROUP BY cron_name, bucket, le;

-- The schedule rows a batch marks dirty are looked up by `cron_name = ANY(names)`. PL/pgSQL
-- caches a generic plan per connection after a few calls; one made while `cron_schedules` was
-- small reads the whole table on every call for as long as the connection lives (5.4 million
-- rows read in ten seconds of ingest on a fresh database). Planned with the names each time,
-- it reads the rows named, through the primary key.
ALTER FUNCTION cronmon.cron_mark_dirty(TEXT[]) SET plan_cache_mode = force_custom_plan;

-- The dashboard view of 0004, its 7-day success rate counting the pending changes too.
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
       -- A missed row that counts several slots counts each.
       (SELECT CAST(coalesce(sum(coalesce(e.slots_missed, 1)), 0) AS BIGINT) FROM cronmon.cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'failed'
           AND e.started_at > coalesce((SELECT max(c.started_at) FROM cronmon.cron_executions c
                                        WHERE c.cron_name = s.cron_name AND c.status = 'completed'),
                                       '-infinity')) AS consecutive_failures,
       (SELECT CASE WHEN coalesce(sum(d.completed + d.failed), 0) + coalesce(p.ended, 0) = 0 THEN NULL
                    ELSE round(100.0 * (coalesce(sum(d.completed), 0) + coalesce(p.completed, 0))
                               / (coalesce(sum(d.completed + d.failed), 0) + coalesce(p.ended, 0)), 2) END
          FROM cronmon.cron_stats_daily d
         WHERE d.cron_name = s.cron_name
           AND d.day > (now() AT TIME ZONE 'UTC')::date - 7) AS success_rate_7d,
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
LEFT JOIN LATERAL (SELECT e.started_at, e.status, e.reason, e.completed_at FROM cronmon.cron_executions e
                   WHERE e.cron_name = s.cron_name
                   ORDER BY e.started_at DESC LIMIT 1) l ON TRUE
LEFT JOIN cronmon.incidents i ON i.cron_name = s.cron_name AND i.resolved_at IS NULL
-- What is not folded yet, read once for all crons rather than once per cron.
LEFT JOIN (SELECT r.cron_name, sum(r.completed) AS completed, sum(r.completed + r.failed) AS ended
           FROM cronmon.cron_rollup_pending r
           WHERE (r.bucket AT TIME ZONE 'UTC')::date > (now() AT TIME ZONE 'UTC')::date - 7
           GROUP BY r.cron_name) p ON p.cron_name = s.cron_name;
