-- Times every reader can decode. PostgreSQL takes 'infinity' and years up to 294276, which no
-- client date type holds (sqlx's chrono decoding panics on them), so one row written by hand
-- could break every read that returns it. The API and the store accept run times within a day
-- ahead and ten years back; the database itself keeps every run time within years 1 to 9999.
-- NOT VALID: checked for every new write at no cost to existing tables (rows stored by older
-- versions were written through the same bounds on the year).
ALTER TABLE cronmon.cron_executions
    ADD CONSTRAINT cron_executions_times_finite CHECK (
        started_at BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00'
        AND (completed_at IS NULL
             OR completed_at BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00')
        AND (last_heartbeat_at IS NULL
             OR last_heartbeat_at BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00')
        AND (scheduled_for IS NULL
             OR scheduled_for BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00')
    ) NOT VALID;

ALTER TABLE cronmon.batch_runs
    ADD CONSTRAINT batch_runs_times_finite CHECK (
        started_at BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00'
        AND (completed_at IS NULL
             OR completed_at BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00')
    ) NOT VALID;
