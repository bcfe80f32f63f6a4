-- Fewer statements per write. Under ingest of one event a request (batches of about 8 runs),
-- each statement that wrote runs ran 6 to 8 more in its triggers, and marking the crons dirty
-- for the sweep was a fifth of PostgreSQL's time: two statements planned afresh at each call,
-- one of them a row lock (a WAL record) on every schedule row named, dirty already or not.
--
-- Now each trigger runs two statements (a data-modifying WITH over one join of the transition
-- tables, then the marking), and a schedule row is written only when its mark is not set yet. The row lock let a
-- sweep's claim of a mark wait for a writer still in flight; the claim now waits on the
-- writers' cron locks instead (`PgStore::dirty_crons`), which every writer already holds.

CREATE OR REPLACE FUNCTION cronmon.cron_mark_dirty(names TEXT[]) RETURNS void
LANGUAGE plpgsql
-- Through the primary key whatever the table's size when the plan was made: a generic plan made
-- while `cron_schedules` was small read the whole table on every call (0007), and planning
-- each call afresh (0007's cure) cost more than the update.
SET enable_seqscan = off
AS $$
BEGIN
    IF cardinality(names) > 0 THEN
        UPDATE cronmon.cron_schedules s SET health_dirty = TRUE
        WHERE s.cron_name = ANY(names) AND NOT s.health_dirty;
    END IF;
END $$;

-- 0009's trigger, the same changes in one statement per operation.
CREATE OR REPLACE FUNCTION cronmon.cron_executions_rollup() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH changes AS (
            SELECT n.cron_name, n.started_at, NULL::text AS status, NULL::bigint AS duration_ms, 1 AS sign
            FROM new_rows n
            UNION ALL
            SELECT n.cron_name, n.started_at, n.status, n.duration_ms, 1
            FROM new_rows n WHERE n.status <> 'running'),
        schedules AS (
            INSERT INTO cronmon.cron_schedules (cron_name)
            SELECT DISTINCT n.cron_name FROM new_rows n
            WHERE NOT EXISTS (SELECT 1 FROM cronmon.cron_schedules s WHERE s.cron_name = n.cron_name)
            ORDER BY 1
            ON CONFLICT DO NOTHING),
        rollups AS (
            INSERT INTO cronmon.cron_rollup_pending
                (cron_name, bucket, started, completed, failed, duration_sum_ms, duration_count)
            SELECT c.cron_name, date_trunc('hour', c.started_at),
                   coalesce(sum(c.sign) FILTER (WHERE c.status IS NULL), 0),
                   coalesce(sum(c.sign) FILTER (WHERE c.status = 'completed'), 0),
                   coalesce(sum(c.sign) FILTER (WHERE c.status = 'failed'), 0),
                   coalesce(sum(c.sign * cronmon.cron_rollup_duration(c.duration_ms))
                            FILTER (WHERE c.status IN ('completed', 'failed')), 0),
                   coalesce(sum(c.sign) FILTER (WHERE c.status IN ('completed', 'failed') AND c.duration_ms IS NOT NULL), 0)
            FROM changes c
            GROUP BY 1, 2),
        durations AS (
            INSERT INTO cronmon.cron_durations_pending (cron_name, bucket, le, n)
            SELECT c.cron_name, date_trunc('hour', c.started_at),
                   cronmon.cron_duration_le(c.duration_ms), sum(c.sign)
            FROM changes c
            WHERE c.status IN ('completed', 'failed') AND c.duration_ms >= 0
            GROUP BY 1, 2, 3)
        INSERT INTO cronmon.cron_latest_pending (cron_name) SELECT DISTINCT cron_name FROM new_rows;
        -- After the schedule rows exist. A start may serve a slot already written as missed;
        -- an ended run counts in streaks. The sweep's own missed rows need no second look.
        PERFORM cronmon.cron_mark_dirty(ARRAY(
            SELECT DISTINCT n.cron_name FROM new_rows n
            WHERE n.reason IS DISTINCT FROM 'missed'));
    ELSIF TG_OP = 'DELETE' THEN
        WITH changes AS (
            SELECT o.cron_name, o.started_at, NULL::text AS status, NULL::bigint AS duration_ms, -1 AS sign
            FROM old_rows o
            UNION ALL
            SELECT o.cron_name, o.started_at, o.status, o.duration_ms, -1
            FROM old_rows o WHERE o.status <> 'running'),
        rollups AS (
            INSERT INTO cronmon.cron_rollup_pending
                (cron_name, bucket, started, completed, failed, duration_sum_ms, duration_count)
            SELECT c.cron_name, date_trunc('hour', c.started_at),
                   coalesce(sum(c.sign) FILTER (WHERE c.status IS NULL), 0),
                   coalesce(sum(c.sign) FILTER (WHERE c.status = 'completed'), 0),
                   coalesce(sum(c.sign) FILTER (WHERE c.status = 'failed'), 0),
                   coalesce(sum(c.sign * cronmon.cron_rollup_duration(c.duration_ms))
                            FILTER (WHERE c.status IN ('completed', 'failed')), 0),
                   coalesce(sum(c.sign) FILTER (WHERE c.status IN ('completed', 'failed') AND c.duration_ms IS NOT NULL), 0)
            FROM changes c
            GROUP BY 1, 2),
        durations AS (
            INSERT INTO cronmon.cron_durations_pending (cron_name, bucket, le, n)
            SELECT c.cron_name, date_trunc('hour', c.started_at),
                   cronmon.cron_duration_le(c.duration_ms), sum(c.sign)
            FROM changes c
            WHERE c.status IN ('completed', 'failed') AND c.duration_ms >= 0
            GROUP BY 1, 2, 3)
        INSERT INTO cronmon.cron_latest_pending (cron_name) SELECT DISTINCT cron_name FROM old_rows;
    ELSE
        -- One join of the transition tables, kept to the runs whose outcome, reason or end
        -- changed: a heartbeat touches no roll-up.
        WITH changed AS (
            SELECT o.cron_name, o.started_at,
                   o.status AS old_status, o.duration_ms AS old_duration_ms,
                   n.status AS new_status, n.duration_ms AS new_duration_ms,
                   (n.status IS DISTINCT FROM o.status
                    OR n.duration_ms IS DISTINCT FROM o.duration_ms) AS outcome_changed
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status IS DISTINCT FROM o.status OR n.duration_ms IS DISTINCT FROM o.duration_ms
               OR n.reason IS DISTINCT FROM o.reason OR n.completed_at IS DISTINCT FROM o.completed_at),
        changes AS (
            SELECT c.cron_name, c.started_at, c.old_status AS status, c.old_duration_ms AS duration_ms, -1 AS sign
            FROM changed c WHERE c.outcome_changed AND c.old_status <> 'running'
            UNION ALL
            SELECT c.cron_name, c.started_at, c.new_status, c.new_duration_ms, 1
            FROM changed c WHERE c.outcome_changed AND c.new_status <> 'running'),
        rollups AS (
            INSERT INTO cronmon.cron_rollup_pending
                (cron_name, bucket, started, completed, failed, duration_sum_ms, duration_count)
            SELECT c.cron_name, date_trunc('hour', c.started_at),
                   coalesce(sum(c.sign) FILTER (WHERE c.status IS NULL), 0),
                   coalesce(sum(c.sign) FILTER (WHERE c.status = 'completed'), 0),
                   coalesce(sum(c.sign) FILTER (WHERE c.status = 'failed'), 0),
                   coalesce(sum(c.sign * cronmon.cron_rollup_duration(c.duration_ms))
                            FILTER (WHERE c.status IN ('completed', 'failed')), 0),
                   coalesce(sum(c.sign) FILTER (WHERE c.status IN ('completed', 'failed') AND c.duration_ms IS NOT NULL), 0)
            FROM changes c
            GROUP BY 1, 2),
        durations AS (
            INSERT INTO cronmon.cron_durations_pending (cron_name, bucket, le, n)
            SELECT c.cron_name, date_trunc('hour', c.started_at),
                   cronmon.cron_duration_le(c.duration_ms), sum(c.sign)
            FROM changes c
            WHERE c.status IN ('completed', 'failed') AND c.duration_ms >= 0
            GROUP BY 1, 2, 3)
        INSERT INTO cronmon.cron_latest_pending (cron_name) SELECT DISTINCT c.cron_name FROM changed c;
        -- (A statement of its own: marking is planned with the names, see cron_mark_dirty.)
        PERFORM cronmon.cron_mark_dirty(ARRAY(
            SELECT DISTINCT n.cron_name FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status IS DISTINCT FROM o.status));
    END IF;
    RETURN NULL;
END $$;
