-- The common batch's one statement (starts and completions, `postgres/one_statement.rs`)
-- planned once per connection instead of at every call (issue 14).
--
-- Planning it took about as long as running it: under one event a request, batches of 16 to
-- 32 events, 0.44 ms of planning against 1.75 ms of execution per batch (pg_stat_statements),
-- 30-40 microseconds of PostgreSQL's time per event. It was planned at every call on purpose:
-- a plan cached while the runs table is young (a fresh database, or before its first
-- ANALYZE) joins the batch's ids to the table by reading it whole, and a connection keeps
-- that plan as the table grows: a fifth of the ingest rate, measured.
--
-- Here the statement is the body of a function that brings the planner settings under which
-- only one plan makes sense for it: every run looked up by its id through the primary key,
-- whatever the table's size or statistics. The plan is made once per connection (generic) and
-- kept. The triggers its writes fire keep their own settings (the end of this file). The text
-- below is `RECORD_RUNS` of `one_statement.rs`, word for word, which its unit test checks.
--
-- Measured (wrk, one event a request, 64 connections, a fresh database, builds alternated; the
-- README's Speed section): 9,300-11,200 events/s and 80-98 microseconds of PostgreSQL's CPU
-- per event planned at every call; 13,200-16,700 events/s and 43-75 microseconds planned once.
CREATE FUNCTION cronmon.cron_record_runs(
    TEXT[], UUID[], INT4,
    UUID[], TEXT[], TEXT[], TIMESTAMPTZ[], TEXT[], INT4[], TEXT[], TEXT[], TIMESTAMPTZ[],
    TEXT[], TEXT[], TIMESTAMPTZ[], INT8[], TEXT[], BOOL[], TEXT[], INT4[], INT8[], INT8[],
    UUID[], TEXT[], TEXT[], TIMESTAMPTZ[], INT8[], TEXT[], BOOL[], TEXT[], INT4[], INT8[], INT8[])
RETURNS TABLE (run_started BOOLEAN, run_id UUID)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
SET jit = off
AS $fn$
BEGIN
    RETURN QUERY
    WITH locked AS MATERIALIZED (SELECT count(pg_advisory_xact_lock($3, k.key)) AS locked FROM (
        SELECT DISTINCT hashtext(n) AS key FROM (
            SELECT unnest($1::text[]) AS n
            UNION SELECT cron_name FROM cronmon.cron_executions WHERE id = ANY($2::uuid[])
        ) names
        ORDER BY 1
    ) k),
    started AS (
        INSERT INTO cronmon.cron_executions
            (id, cron_name, status, trigger_type, started_at, host, pid, boot_id, version,
             scheduled_for, reason, completed_at, duration_ms, output, output_truncated,
             error_message, exit_code, cpu_ms, max_rss_kb)
        SELECT u.id, u.cron_name, u.status, u.trigger_type, u.started_at, u.host, u.pid, u.boot_id,
               u.version, u.scheduled_for, u.reason, u.completed_at,
               CASE WHEN u.status = 'running' THEN NULL ELSE coalesce(u.duration_ms, greatest(0, (extract(epoch FROM u.completed_at - u.started_at) * 1000)::bigint)) END,
               u.output::jsonb, u.truncated, u.error_message, u.exit_code, u.cpu_ms, u.max_rss_kb
        FROM UNNEST($4::uuid[], $5::text[], $6::text[], $7::timestamptz[], $8::text[], $9::int4[],
                    $10::text[], $11::text[], $12::timestamptz[],
                    $13::text[], $14::text[], $15::timestamptz[], $16::int8[], $17::text[],
                    $18::bool[], $19::text[], $20::int4[], $21::int8[], $22::int8[])
            AS u(id, cron_name, trigger_type, started_at, host, pid, boot_id, version, scheduled_for,
                 status, reason, completed_at, duration_ms, output, truncated, error_message,
                 exit_code, cpu_ms, max_rss_kb)
        WHERE (SELECT locked FROM locked) >= 0
        ON CONFLICT (id) DO NOTHING
        RETURNING id),
    finished AS (
        UPDATE cronmon.cron_executions e SET
            status = u.status, reason = u.reason, completed_at = u.completed_at,
            duration_ms = coalesce(u.duration_ms, greatest(0, (extract(epoch FROM u.completed_at - e.started_at) * 1000)::bigint)),
            output = u.output::jsonb, output_truncated = u.truncated, error_message = u.error_message,
            exit_code = u.exit_code, cpu_ms = u.cpu_ms, max_rss_kb = u.max_rss_kb
        FROM UNNEST($23::uuid[], $24::text[], $25::text[], $26::timestamptz[], $27::int8[],
                    $28::text[], $29::bool[], $30::text[], $31::int4[], $32::int8[], $33::int8[])
            AS u(id, status, reason, completed_at, duration_ms, output, truncated, error_message,
                 exit_code, cpu_ms, max_rss_kb)
        WHERE e.id = u.id AND (e.status = 'running' OR (e.reason IN ('timed_out', 'crashed') AND coalesce(u.reason, '') NOT IN ('timed_out', 'crashed'))) AND (SELECT locked FROM locked) >= 0
        RETURNING e.id)
    SELECT TRUE AS started, id FROM started
    UNION ALL
    SELECT FALSE, id FROM finished;
END
$fn$;

-- The triggers that the function's writes fire join a statement's old and new rows by id. They
-- plan as they did before, not under the function's settings: without hash joins, a nested
-- loop over two transition tables grows with the square of the batch (under those settings an
-- UPDATE that finishes 512 runs took 75-100 ms against 22-23 ms, of 2,000 runs 500-730 ms
-- against 46-58 ms).
--
-- A function that turns sequential scans off also turns JIT off. A table that can only be read
-- whole (the notification trigger's check of its channels) is then priced at the planner's
-- "disabled" cost, far above `jit_above_cost`, and a connection with JIT on (the server's own
-- connections have it off, a host application's pool may not) compiles the statement at every
-- call: with the triggers under this function's settings, each call of one event took 31-34 ms
-- against 0.29-0.33 ms (scripts/record-runs-bench.sh, JIT on and off). The test
-- `store_batch::functions_that_turn_seq_scans_off_turn_jit_off` holds every function to it.
ALTER FUNCTION cronmon.cron_executions_rollup()
    SET plan_cache_mode = auto SET enable_seqscan = on SET enable_hashjoin = on
    SET enable_mergejoin = on;
ALTER FUNCTION cronmon.cron_executions_notify()
    SET plan_cache_mode = auto SET enable_seqscan = on SET enable_hashjoin = on
    SET enable_mergejoin = on;
ALTER FUNCTION cronmon.cron_mark_dirty(TEXT[]) SET jit = off;
ALTER FUNCTION cronmon.detect_stuck_crons() SET jit = off;
