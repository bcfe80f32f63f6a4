#!/usr/bin/env bash
# The cost of one call of `cronmon.cron_record_runs` inside PostgreSQL, the statement that
# records a batch of starts and finishes (PostgreSQL migration 0015), without HTTP or a client.
#
#   scripts/record-runs-bench.sh postgres://postgres@127.0.0.1/cronmon_scratch [JIT]
#
# The database must hold cronmon's schema (start a server on it once; some history makes the
# figures closer to a live one). Calls with 1 and with 32 starts, then as many finishes of those
# runs, 500 of each in 10 rounds, and prints the quickest call of each kind in ms: the minimum
# is steady on a shared machine where a mean is not. JIT (default off, as the server's own
# connections have it) sets the session's `jit`, as a host application's pool may have it on.
# Everything is written in one transaction, rolled back at the end; the cron locks are taken
# in cronmon's lock space (1668444014, `LOCK_SPACE`), as a server's calls take them.
set -euo pipefail
db=${1:?a postgres:// URL of a database with the cronmon schema}
jit=${2:-off}
case $jit in on | off) ;; *) echo "JIT is on or off, not '$jit'" >&2; exit 2 ;; esac

psql -qAt -v ON_ERROR_STOP=1 "$db" <<SQL 2>&1 | sed -n 's/.*NOTICE:  //p'
SET jit = $jit;
BEGIN;
CREATE OR REPLACE FUNCTION pg_temp.starts(n int, ids uuid[]) RETURNS bigint LANGUAGE plpgsql AS \$\$ BEGIN RETURN (SELECT count(*) FROM cronmon.cron_record_runs(
  (SELECT array_agg('load-' || (i % 1000)) FROM generate_series(1, n) i), '{}'::uuid[], 1668444014,
  ids, (SELECT array_agg('load-' || (i % 1000)) FROM generate_series(1, n) i),
  array_fill('scheduled'::text, ARRAY[n]), array_fill(now(), ARRAY[n]), array_fill(NULL::text, ARRAY[n]),
  array_fill(NULL::int4, ARRAY[n]), array_fill(NULL::text, ARRAY[n]), array_fill(NULL::text, ARRAY[n]),
  array_fill(NULL::timestamptz, ARRAY[n]), array_fill('running'::text, ARRAY[n]), array_fill(NULL::text, ARRAY[n]),
  array_fill(NULL::timestamptz, ARRAY[n]), array_fill(NULL::int8, ARRAY[n]), array_fill(NULL::text, ARRAY[n]),
  array_fill(false, ARRAY[n]), array_fill(NULL::text, ARRAY[n]), array_fill(NULL::int4, ARRAY[n]),
  array_fill(NULL::int8, ARRAY[n]), array_fill(NULL::int8, ARRAY[n]),
  '{}'::uuid[], '{}'::text[], '{}'::text[], '{}'::timestamptz[], '{}'::int8[], '{}'::text[], '{}'::bool[], '{}'::text[], '{}'::int4[], '{}'::int8[], '{}'::int8[])); END
\$\$;
CREATE OR REPLACE FUNCTION pg_temp.finishes(n int, ids uuid[]) RETURNS bigint LANGUAGE plpgsql AS \$\$ BEGIN RETURN (SELECT count(*) FROM cronmon.cron_record_runs(
  '{}'::text[], ids, 1668444014,
  '{}'::uuid[], '{}'::text[], '{}'::text[], '{}'::timestamptz[], '{}'::text[], '{}'::int4[], '{}'::text[], '{}'::text[], '{}'::timestamptz[],
  '{}'::text[], '{}'::text[], '{}'::timestamptz[], '{}'::int8[], '{}'::text[], '{}'::bool[], '{}'::text[], '{}'::int4[], '{}'::int8[], '{}'::int8[],
  ids, array_fill('completed'::text, ARRAY[n]), array_fill(NULL::text, ARRAY[n]), array_fill(now(), ARRAY[n]),
  array_fill(12::int8, ARRAY[n]), array_fill(NULL::text, ARRAY[n]), array_fill(false, ARRAY[n]), array_fill(NULL::text, ARRAY[n]),
  array_fill(NULL::int4, ARRAY[n]), array_fill(NULL::int8, ARRAY[n]), array_fill(NULL::int8, ARRAY[n]))); END
\$\$;
DO \$\$
DECLARE t0 timestamptz; ids uuid[]; d float8; best_s1 float8 := 1e9; best_f1 float8 := 1e9; best_s32 float8 := 1e9; best_f32 float8 := 1e9; n int; rep int;
BEGIN
  FOR rep IN 1..10 LOOP
    FOREACH n IN ARRAY ARRAY[1, 32] LOOP
      FOR r IN 1..50 LOOP
        ids := ARRAY(SELECT gen_random_uuid() FROM generate_series(1, n));
        t0 := clock_timestamp(); PERFORM pg_temp.starts(n, ids); d := extract(epoch FROM clock_timestamp() - t0) * 1000;
        IF n = 1 THEN best_s1 := least(best_s1, d); ELSE best_s32 := least(best_s32, d); END IF;
        t0 := clock_timestamp(); PERFORM pg_temp.finishes(n, ids); d := extract(epoch FROM clock_timestamp() - t0) * 1000;
        IF n = 1 THEN best_f1 := least(best_f1, d); ELSE best_f32 := least(best_f32, d); END IF;
      END LOOP;
    END LOOP;
  END LOOP;
  RAISE NOTICE 'min ms: start1 % finish1 % start32 % finish32 %', round(best_s1::numeric, 3), round(best_f1::numeric, 3), round(best_s32::numeric, 3), round(best_f32::numeric, 3);
END \$\$;
ROLLBACK;
SQL
