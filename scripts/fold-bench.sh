#!/usr/bin/env bash
# The cost of one fold of pending roll-up changes on PostgreSQL, the work a server does about
# once a second while runs are written (`cron_rollup_fold()`, migrations 0007, 0008, 0014).
#
#   scripts/fold-bench.sh postgres://postgres@127.0.0.1/cronmon_fold [CRONS] [FUNCTION]
#
# The database must hold cronmon's schema (start a server on it once). Each round appends one
# pending change per cron for the current hour (run counts and one duration bucket, as a second
# of runs leaves them) and times the fold alone; the first two rounds create the roll-up rows,
# so the timed rounds update rows already there, as under load. Prints ms per fold over 10
# rounds, each its own transaction. FUNCTION (default cronmon.cron_rollup_fold) lets two folds be compared on one
# database. It empties the pending tables and writes roll-up rows for crons named load-N:
# use a scratch database.
set -euo pipefail
db=${1:?a postgres:// URL of a database with the cronmon schema}
crons=${2:-1000}
fold=${3:-cronmon.cron_rollup_fold}

psql -qAt -v ON_ERROR_STOP=1 "$db" <<SQL
TRUNCATE cronmon.cron_rollup_pending, cronmon.cron_durations_pending;
CREATE FUNCTION pg_temp.pending() RETURNS void LANGUAGE sql AS \$\$
    INSERT INTO cronmon.cron_rollup_pending
        (cron_name, bucket, started, completed, failed, duration_sum_ms, duration_count)
    SELECT 'load-' || i, date_trunc('hour', now()), 10, 10, 0, 120, 10
    FROM generate_series(1, $crons) i;
    INSERT INTO cronmon.cron_durations_pending (cron_name, bucket, le, n)
    SELECT 'load-' || i, date_trunc('hour', now()), 3, 10
    FROM generate_series(1, $crons) i;
\$\$;
DO \$\$
DECLARE
    t0 timestamptz;
    total interval := '0';
BEGIN
    FOR round IN 1..12 LOOP
        PERFORM pg_temp.pending();
        t0 := clock_timestamp();
        PERFORM $fold();
        IF round > 2 THEN
            total := total + (clock_timestamp() - t0);
        END IF;
        COMMIT;
    END LOOP;
    RAISE NOTICE '% crons: % ms per fold', $crons,
        round((extract(epoch FROM total) * 100)::numeric, 1);
END \$\$;
SQL
