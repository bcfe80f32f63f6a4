-- Schedule health: judged slots, pauses, incidents, maintenance windows, the sweeper's heartbeat.

ALTER TABLE cronmon.cron_schedules
    ADD COLUMN paused_at          TIMESTAMPTZ,
    ADD COLUMN paused_until       TIMESTAMPTZ,
    -- Slots at or before this are judged; the next one's start deadline is `next_deadline_at`
    -- (null: no schedule, or it never fires again). The sweep reads only crons due now.
    ADD COLUMN judged_through     TIMESTAMPTZ,
    ADD COLUMN next_deadline_at   TIMESTAMPTZ,
    ADD COLUMN missed_in_row      BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN missed_rest_slot   TIMESTAMPTZ,
    -- Set when a run of the cron is inserted or changes outcome; the sweep takes and clears it.
    ADD COLUMN health_dirty       BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN anomaly_factor     DOUBLE PRECISION NOT NULL DEFAULT 3
        CHECK (anomaly_factor >= 1 AND anomaly_factor <= 1000),
    ADD COLUMN min_duration_ms    BIGINT CHECK (min_duration_ms >= 0),
    ADD COLUMN anomaly_incidents  BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN anomaly_checked_at TIMESTAMPTZ;
-- Crons that already have a schedule are judged from now on: a deadline at the cursor is not
-- a real one (those come after it), it only asks the sweep to compute the next.
UPDATE cronmon.cron_schedules SET judged_through = now(), next_deadline_at = now()
WHERE cron_expression IS NOT NULL;
CREATE INDEX cron_schedules_deadline_idx ON cronmon.cron_schedules (next_deadline_at)
    WHERE next_deadline_at IS NOT NULL;
CREATE INDEX cron_schedules_dirty_idx ON cronmon.cron_schedules (cron_name) WHERE health_dirty;

ALTER TABLE cronmon.cron_executions
    ADD COLUMN anomaly      TEXT CHECK (anomaly IN ('slow', 'fast')),
    ADD COLUMN slots_missed BIGINT CHECK (slots_missed > 0);
-- One `missed` row per slot, whatever the number of sweepers.
CREATE UNIQUE INDEX cron_executions_missed_slot_idx
    ON cronmon.cron_executions (cron_name, scheduled_for) WHERE reason = 'missed';

-- At most one open incident per cron.
CREATE TABLE cronmon.incidents (
    id                     UUID PRIMARY KEY,
    cron_name              TEXT NOT NULL,
    kind                   TEXT NOT NULL
        CHECK (kind IN ('failed', 'missed', 'timed_out', 'stuck', 'anomaly')),
    opened_at              TIMESTAMPTZ NOT NULL,
    opening_execution_id   UUID,
    opened_from            TIMESTAMPTZ NOT NULL,
    error_message          TEXT,
    resolved_at            TIMESTAMPTZ,
    resolving_execution_id UUID,
    after_outage           BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX incidents_one_open_idx ON cronmon.incidents (cron_name) WHERE resolved_at IS NULL;
CREATE INDEX incidents_opened_idx ON cronmon.incidents (opened_at DESC);
CREATE INDEX incidents_cron_opened_idx ON cronmon.incidents (cron_name, opened_at DESC);

-- Each opening and resolution (and each summary after an outage), in order: what
-- notifications are sent from.
CREATE TABLE cronmon.incident_events (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('opened', 'resolved', 'outage_summary')),
    incident_id UUID,
    cron_name   TEXT,
    at          TIMESTAMPTZ NOT NULL,
    details     JSONB
);

CREATE TABLE cronmon.maintenance_windows (
    id              UUID PRIMARY KEY,
    cron_name       TEXT,
    cron_expression TEXT NOT NULL,
    timezone        TEXT NOT NULL DEFAULT 'UTC',
    duration_ms     BIGINT NOT NULL CHECK (duration_ms > 0),
    description     TEXT
);

-- The sweeper's heartbeat, one row shared by every instance.
CREATE TABLE cronmon.sweeper_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    last_beat_at TIMESTAMPTZ NOT NULL,
    instance     TEXT NOT NULL,
    gap_from     TIMESTAMPTZ,
    gap_until    TIMESTAMPTZ,
    settle_until TIMESTAMPTZ
);

-- Marks the crons whose runs appeared or changed outcome, for the sweep to evaluate. The rows
-- are locked even when already marked, in name order (so concurrent writers lock them in one
-- order): the sweep's clearing of the mark then waits for this transaction, and reads what it
-- wrote, instead of clearing a mark this change relied on.
CREATE FUNCTION cronmon.cron_mark_dirty(names TEXT[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM cronmon.cron_schedules s
    WHERE s.cron_name = ANY(names)
    ORDER BY s.cron_name FOR NO KEY UPDATE;
    UPDATE cronmon.cron_schedules s SET health_dirty = TRUE
    WHERE s.cron_name = ANY(names) AND NOT s.health_dirty;
END $$;

CREATE OR REPLACE FUNCTION cronmon.cron_executions_rollup() RETURNS trigger
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
        -- A start may serve a slot already written as missed; an ended run counts in streaks.
        -- The sweep's own missed rows need no second look.
        PERFORM cronmon.cron_mark_dirty(ARRAY(
            SELECT DISTINCT n.cron_name FROM new_rows n
            WHERE n.reason IS DISTINCT FROM 'missed'));
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
        PERFORM cronmon.cron_mark_dirty(ARRAY(
            SELECT DISTINCT n.cron_name FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status IS DISTINCT FROM o.status));
    END IF;
    RETURN NULL;
END $$;

-- One row per cron with what the dashboard shows of it, and what its state is derived from.
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
       (SELECT CASE WHEN sum(d.completed + d.failed) = 0 THEN NULL
                    ELSE round(100.0 * sum(d.completed) / sum(d.completed + d.failed), 2) END
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
LEFT JOIN cronmon.incidents i ON i.cron_name = s.cron_name AND i.resolved_at IS NULL;
