-- cronmon on SQLite. Timestamps are RFC 3339 text in UTC (as sqlx writes them), which sorts in
-- time order; ids are 16-byte UUID blobs.

CREATE TABLE cron_schedules (
    cron_name            TEXT PRIMARY KEY,
    display_name         TEXT,
    cron_expression      TEXT,
    timezone             TEXT NOT NULL DEFAULT 'UTC',
    is_enabled           BOOLEAN NOT NULL DEFAULT TRUE,
    timeout_ms           INTEGER NOT NULL DEFAULT 3600000 CHECK (timeout_ms > 0),
    grace_ms             INTEGER NOT NULL DEFAULT 300000 CHECK (grace_ms >= 0),
    heartbeat_timeout_ms INTEGER CHECK (heartbeat_timeout_ms > 0),
    failure_threshold    INTEGER NOT NULL DEFAULT 3 CHECK (failure_threshold > 0),
    recovery_threshold   INTEGER NOT NULL DEFAULT 1 CHECK (recovery_threshold > 0),
    created_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);

CREATE TABLE cron_executions (
    id                BLOB PRIMARY KEY,
    cron_name         TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    reason            TEXT CHECK (reason IN ('error', 'panicked', 'interrupted', 'crashed', 'abandoned', 'timed_out', 'missed')),
    trigger_type      TEXT NOT NULL DEFAULT 'scheduled' CHECK (trigger_type IN ('scheduled', 'manual')),
    started_at        TEXT NOT NULL,
    completed_at      TEXT,
    duration_ms       INTEGER,
    output            TEXT,
    output_truncated  BOOLEAN NOT NULL DEFAULT FALSE,
    error_message     TEXT,
    exit_code         INTEGER,
    host              TEXT,
    pid               INTEGER,
    boot_id           TEXT,
    version           TEXT,
    cpu_ms            INTEGER,
    max_rss_kb        INTEGER,
    last_heartbeat_at TEXT,
    progress_done     INTEGER,
    progress_total    INTEGER,
    scheduled_for     TEXT
) WITHOUT ROWID;

CREATE INDEX cron_executions_name_started_status_idx ON cron_executions (cron_name, started_at DESC, status);
CREATE INDEX cron_executions_started_idx ON cron_executions (started_at DESC);
CREATE INDEX cron_executions_running_idx ON cron_executions (cron_name, started_at) WHERE status = 'running';
CREATE INDEX cron_executions_failed_idx ON cron_executions (cron_name, started_at DESC) WHERE status = 'failed';

-- Roll-ups per cron and hour and per cron and day, kept by triggers that follow inserts, changes
-- of outcome and deletions (so they count exactly what is stored): the timeline, success rates
-- and the list's totals read them, never the history.
CREATE TABLE cron_stats_hourly (
    cron_name       TEXT NOT NULL,
    bucket          TEXT NOT NULL,
    started         INTEGER NOT NULL DEFAULT 0,
    completed       INTEGER NOT NULL DEFAULT 0,
    failed          INTEGER NOT NULL DEFAULT 0,
    duration_sum_ms INTEGER NOT NULL DEFAULT 0,
    duration_count  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (cron_name, bucket)
) WITHOUT ROWID;
CREATE INDEX cron_stats_hourly_bucket_idx ON cron_stats_hourly (bucket);

CREATE TABLE cron_stats_daily (
    cron_name       TEXT NOT NULL,
    day             TEXT NOT NULL,
    started         INTEGER NOT NULL DEFAULT 0,
    completed       INTEGER NOT NULL DEFAULT 0,
    failed          INTEGER NOT NULL DEFAULT 0,
    duration_sum_ms INTEGER NOT NULL DEFAULT 0,
    duration_count  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (cron_name, day)
) WITHOUT ROWID;
CREATE INDEX cron_stats_daily_day_idx ON cron_stats_daily (day);

-- One statement per roll-up and per sign: SQLite triggers have no procedures, so the same
-- upsert is spelled for inserted (+1) and removed (-1) rows.
CREATE TRIGGER cron_executions_rollup_ins AFTER INSERT ON cron_executions
BEGIN
    INSERT INTO cron_schedules (cron_name) VALUES (NEW.cron_name) ON CONFLICT DO NOTHING;
    INSERT INTO cron_stats_hourly (cron_name, bucket, started, completed, failed, duration_sum_ms, duration_count)
    VALUES (NEW.cron_name, substr(NEW.started_at, 1, 13) || ':00:00+00:00', 1,
            NEW.status = 'completed', NEW.status = 'failed',
            CASE WHEN NEW.status <> 'running' THEN coalesce(NEW.duration_ms, 0) ELSE 0 END,
            NEW.status <> 'running' AND NEW.duration_ms IS NOT NULL)
    ON CONFLICT (cron_name, bucket) DO UPDATE SET
        started = started + excluded.started, completed = completed + excluded.completed,
        failed = failed + excluded.failed, duration_sum_ms = duration_sum_ms + excluded.duration_sum_ms,
        duration_count = duration_count + excluded.duration_count;
    INSERT INTO cron_stats_daily (cron_name, day, started, completed, failed, duration_sum_ms, duration_count)
    VALUES (NEW.cron_name, substr(NEW.started_at, 1, 10), 1,
            NEW.status = 'completed', NEW.status = 'failed',
            CASE WHEN NEW.status <> 'running' THEN coalesce(NEW.duration_ms, 0) ELSE 0 END,
            NEW.status <> 'running' AND NEW.duration_ms IS NOT NULL)
    ON CONFLICT (cron_name, day) DO UPDATE SET
        started = started + excluded.started, completed = completed + excluded.completed,
        failed = failed + excluded.failed, duration_sum_ms = duration_sum_ms + excluded.duration_sum_ms,
        duration_count = duration_count + excluded.duration_count;
END;

CREATE TRIGGER cron_executions_rollup_del AFTER DELETE ON cron_executions
BEGIN
    UPDATE cron_stats_hourly SET
        started = started - 1,
        completed = completed - (OLD.status = 'completed'),
        failed = failed - (OLD.status = 'failed'),
        duration_sum_ms = duration_sum_ms - CASE WHEN OLD.status <> 'running' THEN coalesce(OLD.duration_ms, 0) ELSE 0 END,
        duration_count = duration_count - (OLD.status <> 'running' AND OLD.duration_ms IS NOT NULL)
    WHERE cron_name = OLD.cron_name AND bucket = substr(OLD.started_at, 1, 13) || ':00:00+00:00';
    UPDATE cron_stats_daily SET
        started = started - 1,
        completed = completed - (OLD.status = 'completed'),
        failed = failed - (OLD.status = 'failed'),
        duration_sum_ms = duration_sum_ms - CASE WHEN OLD.status <> 'running' THEN coalesce(OLD.duration_ms, 0) ELSE 0 END,
        duration_count = duration_count - (OLD.status <> 'running' AND OLD.duration_ms IS NOT NULL)
    WHERE cron_name = OLD.cron_name AND day = substr(OLD.started_at, 1, 10);
END;

CREATE TRIGGER cron_executions_rollup_upd AFTER UPDATE OF status, duration_ms ON cron_executions
WHEN NEW.status IS NOT OLD.status OR NEW.duration_ms IS NOT OLD.duration_ms
BEGIN
    UPDATE cron_stats_hourly SET
        completed = completed + (NEW.status = 'completed') - (OLD.status = 'completed'),
        failed = failed + (NEW.status = 'failed') - (OLD.status = 'failed'),
        duration_sum_ms = duration_sum_ms
            + CASE WHEN NEW.status <> 'running' THEN coalesce(NEW.duration_ms, 0) ELSE 0 END
            - CASE WHEN OLD.status <> 'running' THEN coalesce(OLD.duration_ms, 0) ELSE 0 END,
        duration_count = duration_count
            + (NEW.status <> 'running' AND NEW.duration_ms IS NOT NULL)
            - (OLD.status <> 'running' AND OLD.duration_ms IS NOT NULL)
    WHERE cron_name = NEW.cron_name AND bucket = substr(NEW.started_at, 1, 13) || ':00:00+00:00';
    UPDATE cron_stats_daily SET
        completed = completed + (NEW.status = 'completed') - (OLD.status = 'completed'),
        failed = failed + (NEW.status = 'failed') - (OLD.status = 'failed'),
        duration_sum_ms = duration_sum_ms
            + CASE WHEN NEW.status <> 'running' THEN coalesce(NEW.duration_ms, 0) ELSE 0 END
            - CASE WHEN OLD.status <> 'running' THEN coalesce(OLD.duration_ms, 0) ELSE 0 END,
        duration_count = duration_count
            + (NEW.status <> 'running' AND NEW.duration_ms IS NOT NULL)
            - (OLD.status <> 'running' AND OLD.duration_ms IS NOT NULL)
    WHERE cron_name = NEW.cron_name AND day = substr(NEW.started_at, 1, 10);
END;

CREATE TABLE batch_runs (
    id            BLOB PRIMARY KEY,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    total_items   INTEGER,
    done_items    INTEGER NOT NULL DEFAULT 0,
    failed_items  INTEGER NOT NULL DEFAULT 0,
    started_at    TEXT NOT NULL,
    completed_at  TEXT,
    error_message TEXT
);
CREATE INDEX batch_runs_kind_started_idx ON batch_runs (kind, started_at DESC);

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
       (SELECT count(*) FROM cron_executions e
         WHERE e.cron_name = s.cron_name AND e.status = 'failed'
           AND e.started_at > coalesce((SELECT max(c.started_at) FROM cron_executions c
                                        WHERE c.cron_name = s.cron_name AND c.status = 'completed'),
                                       '')) AS consecutive_failures,
       (SELECT CASE WHEN sum(d.completed + d.failed) = 0 THEN NULL
                    ELSE round(100.0 * sum(d.completed) / sum(d.completed + d.failed), 2) END
          FROM cron_stats_daily d
         WHERE d.cron_name = s.cron_name
           AND d.day > strftime('%Y-%m-%d', 'now', '-7 days')) AS success_rate_7d,
       (SELECT max(e.started_at) FROM cron_executions e
         WHERE e.cron_name = s.cron_name) AS last_execution_at,
       (SELECT e.status FROM cron_executions e
         WHERE e.cron_name = s.cron_name ORDER BY e.started_at DESC LIMIT 1) AS last_status
FROM cron_schedules s;

CREATE VIEW vw_batch_executions_unified AS
SELECT b.kind AS batch_type,
       b.id,
       b.status,
       b.total_items,
       b.done_items,
       b.failed_items,
       b.started_at,
       b.completed_at,
       CAST(round((julianday(coalesce(b.completed_at, 'now')) - julianday(b.started_at)) * 86400000) AS INTEGER) AS duration_ms,
       b.error_message
FROM batch_runs b;
