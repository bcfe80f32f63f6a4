-- Notifications: channels, and the outbox their messages are delivered from.

CREATE TABLE cronmon.notification_channels (
    name                 TEXT PRIMARY KEY,
    kind                 TEXT NOT NULL
        CHECK (kind IN ('webhook', 'slack', 'discord', 'teams', 'ntfy', 'email')),
    -- The kind's settings, secrets included (the API never returns them).
    settings             JSONB NOT NULL,
    -- Bits of what it is sent: 1 opened, 2 resolved, 4 failed_run, 8 missed, 16 stuck,
    -- 32 anomaly.
    on_mask              INTEGER NOT NULL,
    -- The cron name patterns as given; none: every cron.
    crons                JSONB NOT NULL DEFAULT '[]',
    all_crons            BOOLEAN NOT NULL,
    repeat_every_ms      BIGINT CHECK (repeat_every_ms > 0),
    muted_until          TIMESTAMPTZ,
    source               TEXT NOT NULL CHECK (source IN ('config', 'api')),
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failing_since        TIMESTAMPTZ,
    last_error           TEXT,
    last_delivered_at    TIMESTAMPTZ
);

-- The patterns as `LIKE … ESCAPE '\'` patterns, for the triggers to match.
CREATE TABLE cronmon.notification_channel_crons (
    channel TEXT NOT NULL REFERENCES cronmon.notification_channels (name) ON DELETE CASCADE,
    pattern TEXT NOT NULL,
    PRIMARY KEY (channel, pattern)
);

-- One row per notification and channel. Its id is the idempotency key the receiver sees.
CREATE TABLE cronmon.notifications (
    id                UUID PRIMARY KEY,
    channel           TEXT NOT NULL REFERENCES cronmon.notification_channels (name) ON DELETE CASCADE,
    -- What makes it once: `event:<incident event>`, `run:<run>:<kind>`, `reminder:<incident>:<n>`.
    dedup_key         TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('incident_opened', 'incident_resolved',
        'incident_reminder', 'outage_summary', 'failed_run', 'missed', 'stuck', 'anomaly', 'test')),
    cron_name         TEXT,
    incident_id       UUID,
    execution_id      UUID,
    incident_event_id BIGINT,
    created_at        TIMESTAMPTZ NOT NULL,
    status            TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'delivered', 'given_up', 'muted')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    -- Epoch ms: when a pending row is due, or when a sending row's claim (lease) ends.
    due_ms            BIGINT NOT NULL,
    claim             UUID,
    delivered_at      TIMESTAMPTZ,
    last_status       INTEGER,
    last_error        TEXT,
    UNIQUE (channel, dedup_key)
);
CREATE INDEX notifications_due_idx ON cronmon.notifications (due_ms)
    WHERE status IN ('pending', 'sending');
CREATE INDEX notifications_created_idx ON cronmon.notifications (created_at DESC);

CREATE FUNCTION cronmon.epoch_ms(t TIMESTAMPTZ) RETURNS BIGINT
LANGUAGE sql IMMUTABLE AS $$ SELECT (extract(epoch FROM t) * 1000)::BIGINT $$;

-- Writes one notification to each channel that wants it (`bit` in its mask, `cron` matching
-- one of its patterns; a summary, with no cron, goes to every channel with the bit). Runs in
-- the transaction that records what it is about: the outbox is never behind the facts.
CREATE FUNCTION cronmon.notify_enqueue(
    n_kind TEXT, n_bit INTEGER, n_dedup TEXT, n_cron TEXT, n_incident UUID, n_execution UUID,
    n_event BIGINT
) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO cronmon.notifications (id, channel, dedup_key, kind, cron_name, incident_id,
                                       execution_id, incident_event_id, created_at, due_ms)
    SELECT gen_random_uuid(), c.name, n_dedup, n_kind, n_cron, n_incident, n_execution, n_event,
           now(), cronmon.epoch_ms(now())
    FROM cronmon.notification_channels c
    WHERE c.on_mask & n_bit <> 0
      AND (n_cron IS NULL OR c.all_crons OR EXISTS (
          SELECT 1 FROM cronmon.notification_channel_crons p
          WHERE p.channel = c.name AND n_cron LIKE p.pattern ESCAPE '\'))
    ON CONFLICT (channel, dedup_key) DO NOTHING
$$;

-- Openings (not those after cronmon's own downtime: the summary tells them), resolutions and
-- summaries.
CREATE FUNCTION cronmon.incident_events_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'opened' THEN
        IF NOT EXISTS (SELECT 1 FROM cronmon.incidents i
                       WHERE i.id = NEW.incident_id AND i.after_outage) THEN
            PERFORM cronmon.notify_enqueue('incident_opened', 1, 'event:' || NEW.id, NEW.cron_name,
                                           NEW.incident_id, NULL, NEW.id);
        END IF;
    ELSIF NEW.kind = 'resolved' THEN
        PERFORM cronmon.notify_enqueue('incident_resolved', 2, 'event:' || NEW.id, NEW.cron_name,
                                       NEW.incident_id, NULL, NEW.id);
    ELSIF NEW.kind = 'outage_summary' THEN
        PERFORM cronmon.notify_enqueue('outage_summary', 1, 'event:' || NEW.id, NULL, NULL, NULL,
                                       NEW.id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER incident_events_notify AFTER INSERT ON cronmon.incident_events
FOR EACH ROW EXECUTE FUNCTION cronmon.incident_events_notify();

-- Failed runs and missed slots as they are written, flagged durations as they are flagged. A
-- statement-level trigger, like the roll-ups: one look at the channels per statement, none at
-- all while no channel wants runs.
CREATE FUNCTION cronmon.cron_executions_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM cronmon.notification_channels WHERE on_mask & 44 <> 0) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM cronmon.notify_enqueue(k.kind, k.bit, 'run:' || k.id || ':' || k.kind,
                                       k.cron_name, NULL, k.id, NULL)
        FROM (SELECT n.id, n.cron_name,
                     CASE WHEN n.reason = 'missed' THEN 'missed' ELSE 'failed_run' END AS kind,
                     CASE WHEN n.reason = 'missed' THEN 8 ELSE 4 END AS bit
              FROM new_rows n WHERE n.status = 'failed') k;
    ELSE
        PERFORM cronmon.notify_enqueue(k.kind, k.bit, 'run:' || k.id || ':' || k.kind,
                                       k.cron_name, NULL, k.id, NULL)
        FROM (SELECT n.id, n.cron_name, 'failed_run' AS kind, 4 AS bit
              FROM old_rows o JOIN new_rows n ON n.id = o.id
              WHERE n.status = 'failed' AND o.status IS DISTINCT FROM 'failed'
              UNION ALL
              SELECT n.id, n.cron_name, 'anomaly', 32
              FROM old_rows o JOIN new_rows n ON n.id = o.id
              WHERE n.anomaly IS NOT NULL AND o.anomaly IS NULL) k;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER cron_executions_notify_ins AFTER INSERT ON cronmon.cron_executions
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION cronmon.cron_executions_notify();

CREATE TRIGGER cron_executions_notify_upd AFTER UPDATE ON cronmon.cron_executions
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION cronmon.cron_executions_notify();
