-- Reads flat with history (issue 14). The statistics of a window (`stats(hours)`, 24 h on the
-- dashboard) summed the hourly roll-ups: 25 rows per cron for the figures and a hundred more for
-- the duration histogram, so a thousand crons cost over 100,000 rows a read (110-170 ms at 1 M
-- runs, `examples/query_bench.rs`). Here each cron has one row per UTC day whose arrays hold,
-- at position k, the sum over the day's hours before k (cumulative: position 24 is the whole
-- day). A window from hour H of day D is `a[24] - a[H]` of day D plus `a[24]` of each later
-- day: two rows per cron for a day's window, whatever the rate of runs or the length of the
-- history. The fold keeps them beside the other roll-ups; readers add what is pending.

-- Keyed by day first: every read asks for the days from one on, for all crons.
CREATE TABLE cronmon.cron_stats_window (
    day             DATE NOT NULL,
    cron_name       TEXT NOT NULL,
    started         BIGINT[] NOT NULL,
    completed       BIGINT[] NOT NULL,
    failed          BIGINT[] NOT NULL,
    -- Floats: a sum of durations never overflows, and is exact up to 2^53 ms.
    duration_sum_ms DOUBLE PRECISION[] NOT NULL,
    duration_count  BIGINT[] NOT NULL,
    PRIMARY KEY (day, cron_name)
);

CREATE TABLE cronmon.cron_durations_window (
    day       DATE NOT NULL,
    cron_name TEXT NOT NULL,
    le        SMALLINT NOT NULL,
    n         BIGINT[] NOT NULL,
    PRIMARY KEY (day, cron_name, le)
);

-- All crons together per UTC day: what the timeline and the list's total read, one row a day
-- instead of one per cron and day.
CREATE TABLE cronmon.cron_stats_days (
    day       DATE PRIMARY KEY,
    started   BIGINT NOT NULL,
    completed BIGINT NOT NULL,
    failed    BIGINT NOT NULL
);

INSERT INTO cronmon.cron_stats_days (day, started, completed, failed)
SELECT day, cronmon.cron_clamp(sum(started)), cronmon.cron_clamp(sum(completed)),
       cronmon.cron_clamp(sum(failed))
FROM cronmon.cron_stats_daily
GROUP BY day;

-- Folded and pending together, as the other `_live` views.
CREATE VIEW cronmon.cron_stats_days_live AS
SELECT day, cronmon.cron_clamp(sum(started)) AS started,
       cronmon.cron_clamp(sum(completed)) AS completed, cronmon.cron_clamp(sum(failed)) AS failed
FROM (SELECT day, started, completed, failed FROM cronmon.cron_stats_days
      UNION ALL
      SELECT (bucket AT TIME ZONE 'UTC')::date, started, completed, failed
      FROM cronmon.cron_rollup_pending) r
GROUP BY day;

-- A sum of floats kept within ±1e308: float arithmetic that overflows is an error in SQL.
CREATE FUNCTION cronmon.cron_saturating_add_f(a DOUBLE PRECISION, b DOUBLE PRECISION)
RETURNS DOUBLE PRECISION
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(greatest(a::numeric + b::numeric, -1e308), 1e308)::float8
$$;

-- The SQL below repeats an expression for each of a day's 24 positions; these write it out.
-- `cumulative('x')`: the array whose position k sums `x` over the grouped rows with hour `h < k`.
CREATE FUNCTION pg_temp.cumulative(col TEXT) RETURNS TEXT LANGUAGE sql AS $$
    SELECT 'ARRAY[' || string_agg(format('cronmon.cron_clamp(sum(%s) FILTER (WHERE h < %s))', col, k),
                                  ', ' ORDER BY k) || ']'
    FROM generate_series(1, 24) k
$$;
CREATE FUNCTION pg_temp.cumulative_f(col TEXT) RETURNS TEXT LANGUAGE sql AS $$
    SELECT 'ARRAY[' || string_agg(format('coalesce(sum(%s) FILTER (WHERE h < %s), 0)::float8', col, k),
                                  ', ' ORDER BY k) || ']'
    FROM generate_series(1, 24) k
$$;
-- `added('x', 'f')`: the stored array `w.x` plus the new one, position by position, with `f`,
-- an addition that saturates (a row made by hand at the edge never fails the fold).
CREATE FUNCTION pg_temp.added(col TEXT, f TEXT) RETURNS TEXT LANGUAGE sql AS $$
    SELECT format('%1$s = ARRAY[', col)
           || string_agg(format('%3$s(w.%1$s[%2$s], EXCLUDED.%1$s[%2$s])', col, k, f), ', ' ORDER BY k)
           || ']'
    FROM generate_series(1, 24) k
$$;
CREATE FUNCTION pg_temp.stats_arrays() RETURNS TEXT LANGUAGE sql AS $$
    SELECT concat_ws(', ', pg_temp.cumulative('started'), pg_temp.cumulative('completed'),
                     pg_temp.cumulative('failed'), pg_temp.cumulative_f('duration_sum_ms'),
                     pg_temp.cumulative('duration_count'))
$$;
CREATE FUNCTION pg_temp.stats_added() RETURNS TEXT LANGUAGE sql AS $$
    SELECT concat_ws(', ', pg_temp.added('started', 'cronmon.cron_saturating_add'),
                     pg_temp.added('completed', 'cronmon.cron_saturating_add'),
                     pg_temp.added('failed', 'cronmon.cron_saturating_add'),
                     pg_temp.added('duration_sum_ms', 'cronmon.cron_saturating_add_f'),
                     pg_temp.added('duration_count', 'cronmon.cron_saturating_add'))
$$;

-- What is folded so far.
DO $$ BEGIN
EXECUTE format($sql$
    INSERT INTO cronmon.cron_stats_window
        (day, cron_name, started, completed, failed, duration_sum_ms, duration_count)
    SELECT day, cron_name, %s
    FROM (SELECT (bucket AT TIME ZONE 'UTC')::date AS day, cron_name,
                 extract(hour FROM bucket AT TIME ZONE 'UTC')::int AS h,
                 started, completed, failed, duration_sum_ms, duration_count
          FROM cronmon.cron_stats_hourly) g
    GROUP BY 1, 2 $sql$, pg_temp.stats_arrays());
EXECUTE format($sql$
    INSERT INTO cronmon.cron_durations_window (day, cron_name, le, n)
    SELECT day, cron_name, le, %s
    FROM (SELECT (bucket AT TIME ZONE 'UTC')::date AS day, cron_name, le,
                 extract(hour FROM bucket AT TIME ZONE 'UTC')::int AS h, n
          FROM cronmon.cron_durations_hourly) g
    GROUP BY 1, 2, 3 $sql$, pg_temp.cumulative('n'));
END $$;

-- 0007's fold, folding into the day totals and the window tables too. Its text is built here once: %1$s to %4$s
-- are the 24-position expressions written out.
DO $$ BEGIN
EXECUTE format($def$
CREATE OR REPLACE FUNCTION cronmon.cron_rollup_fold() RETURNS BIGINT
LANGUAGE plpgsql AS $fold$
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
    per_hour AS (
        SELECT m.cron_name, m.bucket, cronmon.cron_clamp(sum(m.started)) AS started,
               cronmon.cron_clamp(sum(m.completed)) AS completed,
               cronmon.cron_clamp(sum(m.failed)) AS failed,
               cronmon.cron_clamp(sum(m.duration_sum_ms)) AS duration_sum_ms,
               cronmon.cron_clamp(sum(m.duration_count)) AS duration_count
        FROM moved m
        GROUP BY 1, 2),
    hourly AS (
        INSERT INTO cronmon.cron_stats_hourly AS h
            (cron_name, bucket, started, completed, failed, duration_sum_ms, duration_count)
        SELECT * FROM per_hour
        ORDER BY 1, 2
        ON CONFLICT (cron_name, bucket) DO UPDATE SET
            started = cronmon.cron_saturating_add(h.started, EXCLUDED.started),
            completed = cronmon.cron_saturating_add(h.completed, EXCLUDED.completed),
            failed = cronmon.cron_saturating_add(h.failed, EXCLUDED.failed),
            duration_sum_ms = cronmon.cron_saturating_add(h.duration_sum_ms, EXCLUDED.duration_sum_ms),
            duration_count = cronmon.cron_saturating_add(h.duration_count, EXCLUDED.duration_count)),
    daily AS (
        INSERT INTO cronmon.cron_stats_daily AS h
            (cron_name, day, started, completed, failed, duration_sum_ms, duration_count)
        SELECT p.cron_name, (p.bucket AT TIME ZONE 'UTC')::date, cronmon.cron_clamp(sum(p.started)),
               cronmon.cron_clamp(sum(p.completed)), cronmon.cron_clamp(sum(p.failed)),
               cronmon.cron_clamp(sum(p.duration_sum_ms)), cronmon.cron_clamp(sum(p.duration_count))
        FROM per_hour p
        GROUP BY 1, 2
        ORDER BY 1, 2
        ON CONFLICT (cron_name, day) DO UPDATE SET
            started = cronmon.cron_saturating_add(h.started, EXCLUDED.started),
            completed = cronmon.cron_saturating_add(h.completed, EXCLUDED.completed),
            failed = cronmon.cron_saturating_add(h.failed, EXCLUDED.failed),
            duration_sum_ms = cronmon.cron_saturating_add(h.duration_sum_ms, EXCLUDED.duration_sum_ms),
            duration_count = cronmon.cron_saturating_add(h.duration_count, EXCLUDED.duration_count)),
    days AS (
        INSERT INTO cronmon.cron_stats_days AS d (day, started, completed, failed)
        SELECT (p.bucket AT TIME ZONE 'UTC')::date, cronmon.cron_clamp(sum(p.started)),
               cronmon.cron_clamp(sum(p.completed)), cronmon.cron_clamp(sum(p.failed))
        FROM per_hour p
        GROUP BY 1
        ORDER BY 1
        ON CONFLICT (day) DO UPDATE SET
            started = cronmon.cron_saturating_add(d.started, EXCLUDED.started),
            completed = cronmon.cron_saturating_add(d.completed, EXCLUDED.completed),
            failed = cronmon.cron_saturating_add(d.failed, EXCLUDED.failed)),
    windowed AS (
        INSERT INTO cronmon.cron_stats_window AS w
            (day, cron_name, started, completed, failed, duration_sum_ms, duration_count)
        SELECT day, cron_name, %1$s
        FROM (SELECT (p.bucket AT TIME ZONE 'UTC')::date AS day, p.cron_name,
                     extract(hour FROM p.bucket AT TIME ZONE 'UTC')::int AS h,
                     p.started, p.completed, p.failed, p.duration_sum_ms, p.duration_count
              FROM per_hour p) g
        GROUP BY 1, 2
        ORDER BY 1, 2
        ON CONFLICT (day, cron_name) DO UPDATE SET %2$s)
    SELECT count(*) INTO runs FROM moved;

    WITH moved AS (
        DELETE FROM cronmon.cron_durations_pending
        WHERE ctid = ANY(ARRAY(SELECT ctid FROM cronmon.cron_durations_pending LIMIT 100000))
        RETURNING *),
    per_hour AS (
        SELECT m.cron_name, m.bucket, m.le, cronmon.cron_clamp(sum(m.n)) AS n
        FROM moved m
        GROUP BY 1, 2, 3),
    hourly AS (
        INSERT INTO cronmon.cron_durations_hourly AS h (cron_name, bucket, le, n)
        SELECT * FROM per_hour
        ORDER BY 1, 2, 3
        ON CONFLICT (cron_name, bucket, le) DO UPDATE SET n = cronmon.cron_saturating_add(h.n, EXCLUDED.n)),
    windowed AS (
        INSERT INTO cronmon.cron_durations_window AS w (day, cron_name, le, n)
        SELECT day, cron_name, le, %3$s
        FROM (SELECT (p.bucket AT TIME ZONE 'UTC')::date AS day, p.cron_name, p.le,
                     extract(hour FROM p.bucket AT TIME ZONE 'UTC')::int AS h, p.n
              FROM per_hour p) g
        GROUP BY 1, 2, 3
        ORDER BY 1, 2, 3
        ON CONFLICT (day, cron_name, le) DO UPDATE SET %4$s)
    SELECT count(*) INTO durations FROM moved;
    RETURN runs + durations;
END $fold$ $def$, pg_temp.stats_arrays(), pg_temp.stats_added(), pg_temp.cumulative('n'), pg_temp.added('n', 'cronmon.cron_saturating_add'));
END $$;

DROP FUNCTION pg_temp.stats_added();
DROP FUNCTION pg_temp.stats_arrays();
DROP FUNCTION pg_temp.added(TEXT, TEXT);
DROP FUNCTION pg_temp.cumulative_f(TEXT);
DROP FUNCTION pg_temp.cumulative(TEXT);

-- A failure streak is summed from this index alone (no heap page per failed run): a cron that
-- has failed for weeks is read in a few milliseconds instead of one page read per failure.
-- Rebuilt here, under the migration's lock: it covers failed runs only, but the build reads
-- the whole table once (seconds per ten million runs), and writers wait that long.
DROP INDEX cronmon.cron_executions_failed_idx;
CREATE INDEX cron_executions_failed_idx ON cronmon.cron_executions (cron_name, started_at DESC)
    INCLUDE (slots_missed) WHERE status = 'failed';

