-- Batch runs recorded through cronmon (BatchRun, POST /batch-runs/…) and the figures the
-- dashboard reads from them without scanning history: items done and failed per kind and UTC
-- day (for "today") and per minute (for the throughput of the last hour), kept by a trigger as
-- runs are written. Days and minutes are counted from the Unix epoch, so both databases and
-- the reader compute the same bucket.

ALTER TABLE cronmon.batch_runs
    ADD COLUMN host TEXT,
    ADD COLUMN last_progress_at TIMESTAMPTZ;
UPDATE cronmon.batch_runs SET last_progress_at = coalesce(completed_at, started_at);
ALTER TABLE cronmon.batch_runs
    ADD CONSTRAINT batch_runs_progress_finite CHECK (
        last_progress_at IS NULL
        OR last_progress_at BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00'
    );

-- The running runs the batches endpoint lists, and the history without a kind.
CREATE INDEX batch_runs_running_idx ON cronmon.batch_runs (kind, started_at DESC)
    WHERE status = 'running';
CREATE INDEX batch_runs_started_idx ON cronmon.batch_runs (started_at DESC, id DESC);

CREATE TABLE cronmon.batch_stats_daily (
    kind           TEXT NOT NULL,
    day            BIGINT NOT NULL,
    items_done     BIGINT NOT NULL DEFAULT 0,
    items_failed   BIGINT NOT NULL DEFAULT 0,
    runs_completed BIGINT NOT NULL DEFAULT 0,
    runs_failed    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, day)
);

CREATE TABLE cronmon.batch_stats_minutely (
    kind         TEXT NOT NULL,
    minute       BIGINT NOT NULL,
    items_done   BIGINT NOT NULL DEFAULT 0,
    items_failed BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, minute)
);
CREATE INDEX batch_stats_minutely_minute_idx ON cronmon.batch_stats_minutely (minute);

-- Counts only grow (the store keeps the greatest reported), so a change is a delta to add;
-- a run counts once as completed or failed, when it leaves `running`. Sums saturate far
-- below the BIGINT range, so no stored figure can make a read overflow.
CREATE FUNCTION cronmon.batch_runs_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was_running BOOLEAN := TG_OP = 'INSERT' OR OLD.status = 'running';
    d_done BIGINT := NEW.done_items - CASE WHEN TG_OP = 'UPDATE' THEN OLD.done_items ELSE 0 END;
    d_failed BIGINT := NEW.failed_items - CASE WHEN TG_OP = 'UPDATE' THEN OLD.failed_items ELSE 0 END;
    ended_ok BIGINT := (was_running AND NEW.status = 'completed')::int;
    ended_bad BIGINT := (was_running AND NEW.status = 'failed')::int;
    at_s DOUBLE PRECISION := extract(epoch FROM coalesce(NEW.last_progress_at, NEW.started_at));
    cap CONSTANT BIGINT := 4611686018427387903;
BEGIN
    IF d_done = 0 AND d_failed = 0 AND ended_ok = 0 AND ended_bad = 0 THEN
        RETURN NULL;
    END IF;
    INSERT INTO cronmon.batch_stats_daily AS s
        (kind, day, items_done, items_failed, runs_completed, runs_failed)
    VALUES (NEW.kind, floor(at_s / 86400)::bigint, d_done, d_failed, ended_ok, ended_bad)
    ON CONFLICT (kind, day) DO UPDATE SET
        items_done = least(s.items_done + excluded.items_done, cap),
        items_failed = least(s.items_failed + excluded.items_failed, cap),
        runs_completed = least(s.runs_completed + excluded.runs_completed, cap),
        runs_failed = least(s.runs_failed + excluded.runs_failed, cap);
    IF d_done <> 0 OR d_failed <> 0 THEN
        INSERT INTO cronmon.batch_stats_minutely AS s (kind, minute, items_done, items_failed)
        VALUES (NEW.kind, floor(at_s / 60)::bigint, d_done, d_failed)
        ON CONFLICT (kind, minute) DO UPDATE SET
            items_done = least(s.items_done + excluded.items_done, cap),
            items_failed = least(s.items_failed + excluded.items_failed, cap);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER batch_runs_rollup AFTER INSERT OR UPDATE ON cronmon.batch_runs
    FOR EACH ROW EXECUTE FUNCTION cronmon.batch_runs_rollup();

-- What each batch source answered last (the batches endpoint writes it after asking them),
-- so psql sees the figures the dashboard shows.
CREATE TABLE cronmon.batch_source_reports (
    kind              TEXT PRIMARY KEY,
    pending           BIGINT,
    processing        BIGINT,
    completed_today   BIGINT,
    failed_today      BIGINT,
    oldest_pending_at TIMESTAMPTZ,
    error             TEXT,
    reported_at       TIMESTAMPTZ NOT NULL
);

-- The seed's unified view: every recorded batch run (source 'run') and, one row a kind, what
-- its source reported last (source 'report', status 'reported' or 'error').
CREATE OR REPLACE VIEW cronmon.vw_batch_executions_unified AS
SELECT b.kind AS batch_type,
       b.id,
       b.status,
       b.total_items,
       b.done_items,
       b.failed_items,
       b.started_at,
       b.completed_at,
       (extract(epoch FROM coalesce(b.completed_at, now()) - b.started_at) * 1000)::bigint AS duration_ms,
       b.error_message,
       'run'::text AS source,
       b.host,
       b.last_progress_at,
       NULL::bigint AS pending,
       NULL::bigint AS processing,
       NULL::bigint AS completed_today,
       NULL::bigint AS failed_today,
       NULL::timestamptz AS reported_at
FROM cronmon.batch_runs b
UNION ALL
SELECT r.kind, NULL::uuid,
       CASE WHEN r.error IS NULL THEN 'reported' ELSE 'error' END,
       NULL, NULL, NULL, NULL, NULL, NULL,
       r.error,
       'report', NULL, NULL,
       r.pending, r.processing, r.completed_today, r.failed_today, r.reported_at
FROM cronmon.batch_source_reports r;
