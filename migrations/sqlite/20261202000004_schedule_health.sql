-- Schedule health: judged slots, pauses, incidents, maintenance windows, the sweeper's heartbeat.

ALTER TABLE cron_schedules ADD COLUMN paused_at TEXT;
ALTER TABLE cron_schedules ADD COLUMN paused_until TEXT;
-- Slots at or before this are judged; the next one's start deadline is `next_deadline_at`
-- (null: no schedule, or it never fires again). The sweep reads only crons due now.
ALTER TABLE cron_schedules ADD COLUMN judged_through TEXT;
ALTER TABLE cron_schedules ADD COLUMN next_deadline_at TEXT;
ALTER TABLE cron_schedules ADD COLUMN missed_in_row INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cron_schedules ADD COLUMN missed_rest_slot TEXT;
-- Set when a run of the cron is inserted or changes outcome; the sweep takes and clears it.
ALTER TABLE cron_schedules ADD COLUMN health_dirty BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE cron_schedules ADD COLUMN anomaly_factor REAL NOT NULL DEFAULT 3
    CHECK (anomaly_factor >= 1 AND anomaly_factor <= 1000);
ALTER TABLE cron_schedules ADD COLUMN min_duration_ms INTEGER CHECK (min_duration_ms >= 0);
ALTER TABLE cron_schedules ADD COLUMN anomaly_incidents BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE cron_schedules ADD COLUMN anomaly_checked_at TEXT;
-- Crons that already have a schedule are judged from now on: a deadline at the cursor is not
-- a real one (those come after it), it only asks the sweep to compute the next.
-- Whole seconds, written as sqlx writes them (RFC 3339, no fraction), so the sweep's
-- compare-and-set of the cursor matches the text it reads back.
UPDATE cron_schedules
SET judged_through = strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'),
    next_deadline_at = strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')
WHERE cron_expression IS NOT NULL;
CREATE INDEX cron_schedules_deadline_idx ON cron_schedules (next_deadline_at)
    WHERE next_deadline_at IS NOT NULL;
CREATE INDEX cron_schedules_dirty_idx ON cron_schedules (cron_name) WHERE health_dirty;

ALTER TABLE cron_executions ADD COLUMN anomaly TEXT CHECK (anomaly IN ('slow', 'fast'));
ALTER TABLE cron_executions ADD COLUMN slots_missed INTEGER CHECK (slots_missed > 0);
-- One `missed` row per slot, whatever the number of sweepers.
CREATE UNIQUE INDEX cron_executions_missed_slot_idx
    ON cron_executions (cron_name, scheduled_for) WHERE reason = 'missed';

CREATE TABLE incidents (
    id                     BLOB PRIMARY KEY,
    cron_name              TEXT NOT NULL,
    kind                   TEXT NOT NULL
        CHECK (kind IN ('failed', 'missed', 'timed_out', 'stuck', 'anomaly')),
    opened_at              TEXT NOT NULL,
    opening_execution_id   BLOB,
    opened_from            TEXT NOT NULL,
    error_message          TEXT,
    resolved_at            TEXT,
    resolving_execution_id BLOB,
    after_outage           BOOLEAN NOT NULL DEFAULT FALSE
);
-- At most one open incident per cron.
CREATE UNIQUE INDEX incidents_one_open_idx ON incidents (cron_name) WHERE resolved_at IS NULL;
CREATE INDEX incidents_opened_idx ON incidents (opened_at DESC);
CREATE INDEX incidents_cron_opened_idx ON incidents (cron_name, opened_at DESC);

-- Each opening and resolution (and each summary after an outage), in order: what
-- notifications are sent from.
CREATE TABLE incident_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('opened', 'resolved', 'outage_summary')),
    incident_id BLOB,
    cron_name   TEXT,
    at          TEXT NOT NULL,
    details     TEXT
);

CREATE TABLE maintenance_windows (
    id              BLOB PRIMARY KEY,
    cron_name       TEXT,
    cron_expression TEXT NOT NULL,
    timezone        TEXT NOT NULL DEFAULT 'UTC',
    duration_ms     INTEGER NOT NULL CHECK (duration_ms > 0),
    description     TEXT
);

-- The sweeper's heartbeat, one row shared by every instance.
CREATE TABLE sweeper_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    last_beat_at TEXT NOT NULL,
    instance     TEXT NOT NULL,
    gap_from     TEXT,
    gap_until    TEXT,
    settle_until TEXT
);

-- A start may serve a slot already written as missed; an ended run counts in streaks. The
-- sweep's own missed rows need no second look.
CREATE TRIGGER cron_executions_dirty_ins AFTER INSERT ON cron_executions
WHEN NEW.reason IS NOT 'missed'
BEGIN
    UPDATE cron_schedules SET health_dirty = TRUE
    WHERE cron_name = NEW.cron_name AND NOT health_dirty;
END;

CREATE TRIGGER cron_executions_dirty_upd AFTER UPDATE OF status ON cron_executions
WHEN NEW.status IS NOT OLD.status
BEGIN
    UPDATE cron_schedules SET health_dirty = TRUE
    WHERE cron_name = NEW.cron_name AND NOT health_dirty;
END;

DROP VIEW vw_cron_monitoring_dashboard;
CREATE VIEW vw_cron_monitoring_dashboard AS
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
       (SELECT count(*) FROM cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'running') AS running_count,
       (SELECT count(*) FROM cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'failed'
           AND e.started_at >= strftime('%Y-%m-%dT%H:%M:%S', 'now', '-24 hours')) AS failures_24h,
       -- A missed row that counts several slots counts each.
       (SELECT CAST(coalesce(sum(coalesce(e.slots_missed, 1)), 0) AS BIGINT) FROM cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'failed'
           AND e.started_at > coalesce((SELECT max(c.started_at) FROM cron_executions c
                                        WHERE c.cron_name = s.cron_name AND c.status = 'completed'),
                                       '')) AS consecutive_failures,
       (SELECT CASE WHEN sum(d.completed + d.failed) = 0 THEN NULL
                    ELSE round(100.0 * sum(d.completed) / sum(d.completed + d.failed), 2) END
          FROM cron_stats_daily d
         WHERE d.cron_name = s.cron_name
           AND d.day > strftime('%Y-%m-%d', 'now', '-7 days')) AS success_rate_7d,
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
       (SELECT min(e.started_at) FROM cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'running') AS oldest_running_at,
       -- The oldest stuck run's start; the reader works out when it crossed its limit.
       (SELECT min(e.started_at)
          FROM cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'running'
           AND (julianday(e.started_at) + s.timeout_ms / 86400000.0 < julianday('now')
                OR (s.heartbeat_timeout_ms IS NOT NULL
                    AND julianday(coalesce(e.last_heartbeat_at, e.started_at))
                        + s.heartbeat_timeout_ms / 86400000.0 < julianday('now')))) AS stuck_since,
       i.id AS incident_id,
       i.kind AS incident_kind,
       i.opened_at AS incident_opened_at
FROM cron_schedules s
LEFT JOIN cron_executions l ON l.id = (SELECT e.id FROM cron_executions e
                                        WHERE e.cron_name = s.cron_name
                                        ORDER BY e.started_at DESC LIMIT 1)
LEFT JOIN incidents i ON i.cron_name = s.cron_name AND i.resolved_at IS NULL;
