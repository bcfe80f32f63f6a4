-- Batch runs recorded through cronmon and their roll-ups (see the PostgreSQL migration of the
-- same number): items per kind and UTC day, and per minute, days and minutes counted from the
-- Unix epoch.

ALTER TABLE batch_runs ADD COLUMN host TEXT;
ALTER TABLE batch_runs ADD COLUMN last_progress_at TEXT;
UPDATE batch_runs SET last_progress_at = coalesce(completed_at, started_at);

CREATE INDEX batch_runs_running_idx ON batch_runs (kind, started_at DESC) WHERE status = 'running';
CREATE INDEX batch_runs_started_idx ON batch_runs (started_at DESC, id DESC);

CREATE TABLE batch_stats_daily (
    kind           TEXT NOT NULL,
    day            INTEGER NOT NULL,
    items_done     INTEGER NOT NULL DEFAULT 0,
    items_failed   INTEGER NOT NULL DEFAULT 0,
    runs_completed INTEGER NOT NULL DEFAULT 0,
    runs_failed    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, day)
);

CREATE TABLE batch_stats_minutely (
    kind         TEXT NOT NULL,
    minute       INTEGER NOT NULL,
    items_done   INTEGER NOT NULL DEFAULT 0,
    items_failed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, minute)
);
CREATE INDEX batch_stats_minutely_minute_idx ON batch_stats_minutely (minute);

-- Counts only grow (the store keeps the greatest reported); a run counts once as completed or
-- failed, when it leaves `running`. Sums saturate far below the integer range.
CREATE TRIGGER batch_runs_rollup_ins AFTER INSERT ON batch_runs
BEGIN
    INSERT INTO batch_stats_daily (kind, day, items_done, items_failed, runs_completed, runs_failed)
    VALUES (NEW.kind,
            CAST(julianday(coalesce(NEW.last_progress_at, NEW.started_at)) - 2440587.5 AS INTEGER),
            NEW.done_items, NEW.failed_items, NEW.status = 'completed', NEW.status = 'failed')
    ON CONFLICT (kind, day) DO UPDATE SET
        items_done = min(items_done + excluded.items_done, 4611686018427387903),
        items_failed = min(items_failed + excluded.items_failed, 4611686018427387903),
        runs_completed = min(runs_completed + excluded.runs_completed, 4611686018427387903),
        runs_failed = min(runs_failed + excluded.runs_failed, 4611686018427387903);
    INSERT INTO batch_stats_minutely (kind, minute, items_done, items_failed)
    SELECT NEW.kind,
           CAST((julianday(coalesce(NEW.last_progress_at, NEW.started_at)) - 2440587.5) * 1440 AS INTEGER),
           NEW.done_items, NEW.failed_items
    WHERE NEW.done_items <> 0 OR NEW.failed_items <> 0
    ON CONFLICT (kind, minute) DO UPDATE SET
        items_done = min(items_done + excluded.items_done, 4611686018427387903),
        items_failed = min(items_failed + excluded.items_failed, 4611686018427387903);
END;

CREATE TRIGGER batch_runs_rollup_upd AFTER UPDATE ON batch_runs
WHEN NEW.done_items <> OLD.done_items OR NEW.failed_items <> OLD.failed_items
     OR (OLD.status = 'running' AND NEW.status <> 'running')
BEGIN
    INSERT INTO batch_stats_daily (kind, day, items_done, items_failed, runs_completed, runs_failed)
    VALUES (NEW.kind,
            CAST(julianday(coalesce(NEW.last_progress_at, NEW.started_at)) - 2440587.5 AS INTEGER),
            NEW.done_items - OLD.done_items, NEW.failed_items - OLD.failed_items,
            OLD.status = 'running' AND NEW.status = 'completed',
            OLD.status = 'running' AND NEW.status = 'failed')
    ON CONFLICT (kind, day) DO UPDATE SET
        items_done = min(items_done + excluded.items_done, 4611686018427387903),
        items_failed = min(items_failed + excluded.items_failed, 4611686018427387903),
        runs_completed = min(runs_completed + excluded.runs_completed, 4611686018427387903),
        runs_failed = min(runs_failed + excluded.runs_failed, 4611686018427387903);
    INSERT INTO batch_stats_minutely (kind, minute, items_done, items_failed)
    SELECT NEW.kind,
           CAST((julianday(coalesce(NEW.last_progress_at, NEW.started_at)) - 2440587.5) * 1440 AS INTEGER),
           NEW.done_items - OLD.done_items, NEW.failed_items - OLD.failed_items
    WHERE NEW.done_items <> OLD.done_items OR NEW.failed_items <> OLD.failed_items
    ON CONFLICT (kind, minute) DO UPDATE SET
        items_done = min(items_done + excluded.items_done, 4611686018427387903),
        items_failed = min(items_failed + excluded.items_failed, 4611686018427387903);
END;

CREATE TABLE batch_source_reports (
    kind              TEXT PRIMARY KEY,
    pending           INTEGER,
    processing        INTEGER,
    completed_today   INTEGER,
    failed_today      INTEGER,
    oldest_pending_at TEXT,
    error             TEXT,
    reported_at       TEXT NOT NULL
);

DROP VIEW vw_batch_executions_unified;
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
       b.error_message,
       'run' AS source,
       b.host,
       b.last_progress_at,
       NULL AS pending,
       NULL AS processing,
       NULL AS completed_today,
       NULL AS failed_today,
       NULL AS reported_at
FROM batch_runs b
UNION ALL
SELECT r.kind, NULL,
       CASE WHEN r.error IS NULL THEN 'reported' ELSE 'error' END,
       NULL, NULL, NULL, NULL, NULL, NULL,
       r.error,
       'report', NULL, NULL,
       r.pending, r.processing, r.completed_today, r.failed_today, r.reported_at
FROM batch_source_reports r;
