-- Notifications: channels, and the outbox their messages are delivered from.

CREATE TABLE notification_channels (
    name                 TEXT PRIMARY KEY,
    kind                 TEXT NOT NULL
        CHECK (kind IN ('webhook', 'slack', 'discord', 'teams', 'ntfy', 'email')),
    -- The kind's settings, secrets included (the API never returns them).
    settings             TEXT NOT NULL,
    -- Bits of what it is sent: 1 opened, 2 resolved, 4 failed_run, 8 missed, 16 stuck,
    -- 32 anomaly.
    on_mask              INTEGER NOT NULL,
    -- The cron name patterns as given; none: every cron.
    crons                TEXT NOT NULL DEFAULT '[]',
    all_crons            BOOLEAN NOT NULL,
    repeat_every_ms      INTEGER CHECK (repeat_every_ms > 0),
    muted_until          TEXT,
    source               TEXT NOT NULL CHECK (source IN ('config', 'api')),
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failing_since        TEXT,
    last_error           TEXT,
    last_delivered_at    TEXT
);

-- The patterns as `GLOB` patterns (case-sensitive, unlike `LIKE`), for the triggers to match.
CREATE TABLE notification_channel_crons (
    channel TEXT NOT NULL REFERENCES notification_channels (name) ON DELETE CASCADE,
    pattern TEXT NOT NULL,
    PRIMARY KEY (channel, pattern)
);

-- One row per notification and channel. Its id is the idempotency key the receiver sees.
CREATE TABLE notifications (
    id                BLOB PRIMARY KEY,
    channel           TEXT NOT NULL REFERENCES notification_channels (name) ON DELETE CASCADE,
    -- What makes it once: `event:<incident event>`, `run:<run>:<kind>`, `reminder:<incident>:<n>`.
    dedup_key         TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('incident_opened', 'incident_resolved',
        'incident_reminder', 'outage_summary', 'failed_run', 'missed', 'stuck', 'anomaly', 'test')),
    cron_name         TEXT,
    incident_id       BLOB,
    execution_id      BLOB,
    incident_event_id INTEGER,
    created_at        TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'delivered', 'given_up', 'muted')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    -- Epoch ms: when a pending row is due, or when a sending row's claim (lease) ends.
    due_ms            INTEGER NOT NULL,
    claim             BLOB,
    delivered_at      TEXT,
    last_status       INTEGER,
    last_error        TEXT,
    UNIQUE (channel, dedup_key)
);
CREATE INDEX notifications_due_idx ON notifications (due_ms)
    WHERE status IN ('pending', 'sending');
CREATE INDEX notifications_created_idx ON notifications (created_at DESC);

-- The triggers below write one notification to each channel that wants it, in the
-- transaction that records what it is about. Its id is a random (version 4) UUID, as
-- PostgreSQL's gen_random_uuid() makes: receivers may store the idempotency key as one.

CREATE TRIGGER incident_events_notify AFTER INSERT ON incident_events
BEGIN
    INSERT INTO notifications (id, channel, dedup_key, kind, cron_name, incident_id,
                               incident_event_id, created_at, due_ms)
    SELECT unhex(substr(printf('%016x', random()), 1, 12) || '4' || substr(printf('%016x', random()), 1, 3) || substr('89ab', (random() & 3) + 1, 1) || substr(printf('%016x', random()), 1, 15)),
           c.name, 'event:' || NEW.id,
           CASE NEW.kind WHEN 'opened' THEN 'incident_opened'
                         WHEN 'resolved' THEN 'incident_resolved'
                         ELSE 'outage_summary' END,
           NEW.cron_name, NEW.incident_id, NEW.id,
           strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
    FROM notification_channels c
    WHERE c.on_mask & (CASE NEW.kind WHEN 'resolved' THEN 2 ELSE 1 END) <> 0
      -- Openings after cronmon's own downtime are told by the summary.
      AND NOT (NEW.kind = 'opened' AND EXISTS (
          SELECT 1 FROM incidents i WHERE i.id = NEW.incident_id AND i.after_outage))
      AND (NEW.cron_name IS NULL OR c.all_crons OR EXISTS (
          SELECT 1 FROM notification_channel_crons p
          WHERE p.channel = c.name AND NEW.cron_name GLOB p.pattern))
    ON CONFLICT (channel, dedup_key) DO NOTHING;
END;

-- Failed runs and missed slots as they are written.
CREATE TRIGGER cron_executions_notify_ins AFTER INSERT ON cron_executions
WHEN NEW.status = 'failed'
BEGIN
    INSERT INTO notifications (id, channel, dedup_key, kind, cron_name, execution_id,
                               created_at, due_ms)
    SELECT unhex(substr(printf('%016x', random()), 1, 12) || '4' || substr(printf('%016x', random()), 1, 3) || substr('89ab', (random() & 3) + 1, 1) || substr(printf('%016x', random()), 1, 15)),
           c.name,
           'run:' || lower(hex(NEW.id)) || ':'
               || (CASE WHEN NEW.reason = 'missed' THEN 'missed' ELSE 'failed_run' END),
           CASE WHEN NEW.reason = 'missed' THEN 'missed' ELSE 'failed_run' END,
           NEW.cron_name, NEW.id,
           strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
    FROM notification_channels c
    WHERE c.on_mask & (CASE WHEN NEW.reason = 'missed' THEN 8 ELSE 4 END) <> 0
      AND (c.all_crons OR EXISTS (
          SELECT 1 FROM notification_channel_crons p
          WHERE p.channel = c.name AND NEW.cron_name GLOB p.pattern))
    ON CONFLICT (channel, dedup_key) DO NOTHING;
END;

-- Runs that end failed.
CREATE TRIGGER cron_executions_notify_upd AFTER UPDATE OF status ON cron_executions
WHEN NEW.status = 'failed' AND OLD.status IS NOT 'failed'
BEGIN
    INSERT INTO notifications (id, channel, dedup_key, kind, cron_name, execution_id,
                               created_at, due_ms)
    SELECT unhex(substr(printf('%016x', random()), 1, 12) || '4' || substr(printf('%016x', random()), 1, 3) || substr('89ab', (random() & 3) + 1, 1) || substr(printf('%016x', random()), 1, 15)),
           c.name, 'run:' || lower(hex(NEW.id)) || ':failed_run', 'failed_run',
           NEW.cron_name, NEW.id,
           strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
    FROM notification_channels c
    WHERE c.on_mask & 4 <> 0
      AND (c.all_crons OR EXISTS (
          SELECT 1 FROM notification_channel_crons p
          WHERE p.channel = c.name AND NEW.cron_name GLOB p.pattern))
    ON CONFLICT (channel, dedup_key) DO NOTHING;
END;

-- Durations as they are flagged.
CREATE TRIGGER cron_executions_notify_anomaly AFTER UPDATE OF anomaly ON cron_executions
WHEN NEW.anomaly IS NOT NULL AND OLD.anomaly IS NULL
BEGIN
    INSERT INTO notifications (id, channel, dedup_key, kind, cron_name, execution_id,
                               created_at, due_ms)
    SELECT unhex(substr(printf('%016x', random()), 1, 12) || '4' || substr(printf('%016x', random()), 1, 3) || substr('89ab', (random() & 3) + 1, 1) || substr(printf('%016x', random()), 1, 15)),
           c.name, 'run:' || lower(hex(NEW.id)) || ':anomaly', 'anomaly',
           NEW.cron_name, NEW.id,
           strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
    FROM notification_channels c
    WHERE c.on_mask & 32 <> 0
      AND (c.all_crons OR EXISTS (
          SELECT 1 FROM notification_channel_crons p
          WHERE p.channel = c.name AND NEW.cron_name GLOB p.pattern))
    ON CONFLICT (channel, dedup_key) DO NOTHING;
END;
