-- The folds of pending roll-up changes at a fraction of their cost (issue 14).
--
-- The fold (about once a second while runs are written) spent three quarters of its time on
-- the window roll-ups of migration 0008: every cron and day pending got its five 24-position
-- arrays from 120 filtered sums, then added them to the stored row position by position, each
-- addition through NUMERIC so that it saturates. With 1,000 crons pending a fold took 126-146
-- ms, and 31-36 ms without the window tables, on every fold under load.
--
-- - A cron and day whose pending changes fall in one hour, which is nearly every cron of every
--   fold, gets its arrays straight from that hour's sums (`cron_window_from`: zero before the
--   hour, the sum from it on). Only a cron and day with several hours pending (a fold at the
--   turn of an hour, a run ended hours after its start) is summed position by position.
-- - A fold adds plainly (BIGINT and float additions that fail on overflow), and only when an
--   addition overflows is all of it undone and done again with the saturating additions of
--   0002 and 0008, which now stay in BIGINT (compared against the bound before adding) and
--   add floats directly unless one is near the bound, instead of a detour through NUMERIC.
-- - Each fold (0008's, and 0009's of the newest runs) takes its pending rows by a join on their
--   row ids (`ctid IN (…)`) instead of `ctid = ANY(ARRAY(…))`. The plan of a function's
--   statement is made once per connection, and made while the pending table was small (a
--   fresh database, or a quiet second) it read the whole table and compared every row with
--   every id taken: 49 million comparisons for 7,000 pending rows, once a second, for as long
--   as the connection lived. Measured under one event a request (wrk, 64 connections, a fresh
--   database): 37-39 microseconds of PostgreSQL's CPU per event with the fold held off, 69-86
--   with it, most of it in those comparisons (`perf`: `tideq`, `ExecEvalScalarArrayOp`).
--
-- The figures and the saturation are the same as before. On 1,000 crons' pending changes (one
-- hour each, every row already there, as under load): 126-146 ms a fold before, 83-89 ms with
-- the arrays from one hour and the saturating additions, 67 ms adding plainly.

-- The same sum as 0002's, clamped to BIGINT's range, without leaving BIGINT.
CREATE OR REPLACE FUNCTION cronmon.cron_saturating_add(a BIGINT, b BIGINT) RETURNS BIGINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN b > 0 AND a > 9223372036854775807 - b THEN 9223372036854775807
                WHEN b < 0 AND a < -9223372036854775808 - b THEN -9223372036854775808
                ELSE a + b END
$$;

-- Two floats below 1e307 add within the ±1e308 bound, exactly as a float sum; only a sum near
-- the bound takes 0008's clamp.
CREATE OR REPLACE FUNCTION cronmon.cron_saturating_add_f(a DOUBLE PRECISION, b DOUBLE PRECISION)
RETURNS DOUBLE PRECISION
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN abs(a) < 1e307 AND abs(b) < 1e307 THEN a + b
                ELSE least(greatest(a::numeric + b::numeric, -1e308), 1e308)::float8 END
$$;

-- A day's cumulative array for a sum `v` of hour `h` (0 to 23) alone: position k holds the sums
-- of the hours before k, so positions 1 to h are zero and h + 1 to 24 are `v`.
CREATE FUNCTION cronmon.cron_window_from(h INT, v BIGINT) RETURNS BIGINT[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_fill(0::bigint, ARRAY[h]) || array_fill(v, ARRAY[24 - h])
$$;
CREATE FUNCTION cronmon.cron_window_from_f(h INT, v DOUBLE PRECISION) RETURNS DOUBLE PRECISION[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_fill(0::float8, ARRAY[h]) || array_fill(v, ARRAY[24 - h])
$$;

-- 0008's writers of the 24-position expressions, for the cron and days with several hours.
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
CREATE FUNCTION pg_temp.stats_added(add TEXT, add_f TEXT) RETURNS TEXT LANGUAGE sql AS $$
    SELECT concat_ws(', ', pg_temp.added('started', add), pg_temp.added('completed', add),
                     pg_temp.added('failed', add), pg_temp.added('duration_sum_ms', add_f),
                     pg_temp.added('duration_count', add))
$$;

-- 0008's fold, its window roll-ups built as above, as the text of a function `fname` whose
-- additions are `add` (BIGINT) and `add_f` (floats): %1$s to %4$s are the 24-position
-- expressions written out.
CREATE FUNCTION pg_temp.fold(fname TEXT, add TEXT, add_f TEXT) RETURNS TEXT LANGUAGE sql AS $$
SELECT format($def$
CREATE OR REPLACE FUNCTION cronmon.%5$s() RETURNS BIGINT
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
        WHERE ctid IN (SELECT ctid FROM cronmon.cron_rollup_pending LIMIT 100000)
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
            started = %6$s(h.started, EXCLUDED.started),
            completed = %6$s(h.completed, EXCLUDED.completed),
            failed = %6$s(h.failed, EXCLUDED.failed),
            duration_sum_ms = %6$s(h.duration_sum_ms, EXCLUDED.duration_sum_ms),
            duration_count = %6$s(h.duration_count, EXCLUDED.duration_count)),
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
            started = %6$s(h.started, EXCLUDED.started),
            completed = %6$s(h.completed, EXCLUDED.completed),
            failed = %6$s(h.failed, EXCLUDED.failed),
            duration_sum_ms = %6$s(h.duration_sum_ms, EXCLUDED.duration_sum_ms),
            duration_count = %6$s(h.duration_count, EXCLUDED.duration_count)),
    days AS (
        INSERT INTO cronmon.cron_stats_days AS d (day, started, completed, failed)
        SELECT (p.bucket AT TIME ZONE 'UTC')::date, cronmon.cron_clamp(sum(p.started)),
               cronmon.cron_clamp(sum(p.completed)), cronmon.cron_clamp(sum(p.failed))
        FROM per_hour p
        GROUP BY 1
        ORDER BY 1
        ON CONFLICT (day) DO UPDATE SET
            started = %6$s(d.started, EXCLUDED.started),
            completed = %6$s(d.completed, EXCLUDED.completed),
            failed = %6$s(d.failed, EXCLUDED.failed)),
    hours AS (
        SELECT (p.bucket AT TIME ZONE 'UTC')::date AS day, p.cron_name,
               extract(hour FROM p.bucket AT TIME ZONE 'UTC')::int AS h,
               p.started, p.completed, p.failed, p.duration_sum_ms, p.duration_count,
               count(*) OVER (PARTITION BY p.cron_name, (p.bucket AT TIME ZONE 'UTC')::date) AS hours
        FROM per_hour p),
    windowed AS (
        INSERT INTO cronmon.cron_stats_window AS w
            (day, cron_name, started, completed, failed, duration_sum_ms, duration_count)
        SELECT * FROM (
            SELECT day, cron_name, cronmon.cron_window_from(h, started),
                   cronmon.cron_window_from(h, completed), cronmon.cron_window_from(h, failed),
                   cronmon.cron_window_from_f(h, duration_sum_ms::float8),
                   cronmon.cron_window_from(h, duration_count)
            FROM hours
            WHERE hours = 1
            UNION ALL
            SELECT day, cron_name, %1$s
            FROM hours
            WHERE hours > 1
            GROUP BY 1, 2) n
        ORDER BY 1, 2
        ON CONFLICT (day, cron_name) DO UPDATE SET %2$s)
    SELECT count(*) INTO runs FROM moved;

    WITH moved AS (
        DELETE FROM cronmon.cron_durations_pending
        WHERE ctid IN (SELECT ctid FROM cronmon.cron_durations_pending LIMIT 100000)
        RETURNING *),
    per_hour AS (
        SELECT m.cron_name, m.bucket, m.le, cronmon.cron_clamp(sum(m.n)) AS n
        FROM moved m
        GROUP BY 1, 2, 3),
    hourly AS (
        INSERT INTO cronmon.cron_durations_hourly AS h (cron_name, bucket, le, n)
        SELECT * FROM per_hour
        ORDER BY 1, 2, 3
        ON CONFLICT (cron_name, bucket, le) DO UPDATE SET n = %6$s(h.n, EXCLUDED.n)),
    hours AS (
        SELECT (p.bucket AT TIME ZONE 'UTC')::date AS day, p.cron_name, p.le,
               extract(hour FROM p.bucket AT TIME ZONE 'UTC')::int AS h, p.n,
               count(*) OVER (PARTITION BY p.cron_name, p.le, (p.bucket AT TIME ZONE 'UTC')::date) AS hours
        FROM per_hour p),
    windowed AS (
        INSERT INTO cronmon.cron_durations_window AS w (day, cron_name, le, n)
        SELECT * FROM (
            SELECT day, cron_name, le, cronmon.cron_window_from(h, n)
            FROM hours
            WHERE hours = 1
            UNION ALL
            SELECT day, cron_name, le, %3$s
            FROM hours
            WHERE hours > 1
            GROUP BY 1, 2, 3) n
        ORDER BY 1, 2, 3
        ON CONFLICT (day, cron_name, le) DO UPDATE SET %4$s)
    SELECT count(*) INTO durations FROM moved;
    RETURN runs + durations;
END $fold$ $def$, pg_temp.stats_arrays(), pg_temp.stats_added(add, add_f), pg_temp.cumulative('n'),
              pg_temp.added('n', add), fname, add)
$$;

-- The fold, twice: with plain additions, and with the saturating ones. Only sums made by hand or
-- by an older version reach BIGINT's edge, so a fold adds plainly, and when an addition
-- overflows, all of it is undone (the exception block's subtransaction) and done again with
-- the saturating additions: the same figures either way.
CREATE FUNCTION cronmon.cron_add(a BIGINT, b BIGINT) RETURNS BIGINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT a + b $$;
CREATE FUNCTION cronmon.cron_add_f(a DOUBLE PRECISION, b DOUBLE PRECISION) RETURNS DOUBLE PRECISION
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT least(greatest(a + b, -1e308), 1e308) $$;

DO $$ BEGIN
EXECUTE pg_temp.fold('cron_rollup_fold_plain', 'cronmon.cron_add', 'cronmon.cron_add_f');
EXECUTE pg_temp.fold('cron_rollup_fold_saturating', 'cronmon.cron_saturating_add',
                     'cronmon.cron_saturating_add_f');
END $$;

CREATE OR REPLACE FUNCTION cronmon.cron_rollup_fold() RETURNS BIGINT
LANGUAGE plpgsql AS $$
BEGIN
    RETURN cronmon.cron_rollup_fold_plain();
EXCEPTION WHEN numeric_value_out_of_range THEN
    RETURN cronmon.cron_rollup_fold_saturating();
END $$;

DROP FUNCTION pg_temp.fold(TEXT, TEXT, TEXT);
DROP FUNCTION pg_temp.stats_added(TEXT, TEXT);
DROP FUNCTION pg_temp.stats_arrays();
DROP FUNCTION pg_temp.added(TEXT, TEXT);
DROP FUNCTION pg_temp.cumulative_f(TEXT);
DROP FUNCTION pg_temp.cumulative(TEXT);

-- 0009's fold of the newest runs, taking its pending rows as above.
CREATE OR REPLACE FUNCTION cronmon.cron_latest_fold() RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    taken BIGINT;
BEGIN
    IF NOT pg_try_advisory_xact_lock(1718578276, 1) THEN
        RETURN 0;
    END IF;
    WITH moved AS (
        DELETE FROM cronmon.cron_latest_pending
        WHERE ctid IN (SELECT ctid FROM cronmon.cron_latest_pending LIMIT 100000)
        RETURNING cron_name),
    latest AS (
        INSERT INTO cronmon.cron_latest_runs AS r (cron_name, started_at, status, reason, completed_at)
        SELECT m.cron_name, l.started_at, l.status, l.reason, l.completed_at
        FROM (SELECT DISTINCT cron_name FROM moved) m
        LEFT JOIN LATERAL (SELECT e.started_at, e.status, e.reason, e.completed_at
                           FROM cronmon.cron_executions e WHERE e.cron_name = m.cron_name
                           ORDER BY e.started_at DESC LIMIT 1) l ON TRUE
        ORDER BY 1
        ON CONFLICT (cron_name) DO UPDATE SET
            started_at = EXCLUDED.started_at, status = EXCLUDED.status,
            reason = EXCLUDED.reason, completed_at = EXCLUDED.completed_at)
    SELECT count(*) INTO taken FROM moved;
    RETURN taken;
END $$;
