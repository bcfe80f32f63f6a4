#!/usr/bin/env bash
# cronmon's speed figures next to PostgreSQL's own, measured in the same run: this machine is
# shared and its absolute figures move by half from one hour to the next, so compare ratios.
#
#   scripts/bench.sh            # builds the release examples, then measures
#   scripts/bench.sh DIR        # measures the binaries in DIR (server, loadgen, recorder_bench,
#                               # start_bench, sweep_bench), e.g. a copy of another commit's
#                               # target/release/examples
#
# Prints: PostgreSQL's single-row commits/s (pgbench, 64 clients), CronRun::start, the direct
# recorder's events/s to PostgreSQL, and HTTP ingest on PostgreSQL at 64 connections (events/s,
# p99, server RSS; with wrk installed also its 401 ceiling and the bound it sets with the
# grouped writes) and through the batch endpoint (100 events a request), each with its ratio
# to PostgreSQL's commits/s, then the same two and the direct recorder on a SQLite file; one
# sweep of schedule health with 1,000 of 10,000 crons due (then an idle one), on SQLite and on
# PostgreSQL; the notification outbox (written with
# failed runs, then delivered) on both; and batch kinds: BatchRun::advance next to
# CronRun::start, and GET /cron-executions/batches with 20 kinds and a million batch runs of
# history on both. Last, the dashboard's reads on PostgreSQL with 1,000 crons each running once a
# minute, at 1, 10 and 30 million runs of history (CRONMON_BENCH_READS sets the sizes; loading
# 30 million takes some minutes); then, with wrk, one event a request onto the crons of the
# last of those histories.
set -euo pipefail
cd "$(dirname "$0")/.."

pg=${CRONMON_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --release --features postgres,notify,remote --example server --example loadgen \
    --example recorder_bench --example start_bench --example sweep_bench --example notify_bench \
    --example batch_bench --example query_bench
  bin=target/release/examples
fi
port=${CRONMON_BENCH_PORT:-18080}
secret=bench

fresh_db() {
  psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
}

# The server on database URL $1, in the background ($server), once it answers.
server=
trap 'kill $server 2>/dev/null || true' EXIT
start_server() {
  CRON_SECRET=$secret "$bin/server" --database-url "$1" \
    --bind "127.0.0.1:$port" >/tmp/cronmon-bench-server.log 2>&1 &
  server=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/api/admin/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
}
stop_server() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}

# One event a request from wrk (scripts/wrk-pairs.lua, 64 connections) with secret $1 for $2
# seconds: "events/s p99". $CRONS passes through to the script.
wrk_line() {
  SECRET=$1 wrk -t2 -c64 -d"$2"s --latency -s scripts/wrk-pairs.lua "http://127.0.0.1:$port" |
    awk '/ 99%/ { p99 = $2 } /Requests\/sec/ { rps = $2 } END { printf "%.0f %s", rps, p99 }'
}

# PostgreSQL alone: one-row INSERT transactions, the unit of a naive monitor's write.
fresh_db cronmon_bench_pg
psql -q "$pg/cronmon_bench_pg" -c "CREATE TABLE t (id bigserial PRIMARY KEY, v int)" >/dev/null
script=$(mktemp)
echo 'INSERT INTO t (v) VALUES (1);' >"$script"
pg_tps=$(pgbench -n -c 64 -j 2 -T 10 -f "$script" "$pg/cronmon_bench_pg" 2>/dev/null |
  sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
rm -f "$script"
echo "postgresql  single-row commits/s (pgbench -c 64 -T 10): $pg_tps"

ratio() { awk -v a="$1" -v b="$pg_tps" 'BEGIN { printf "%.2f", a / b }'; }

# PostgreSQL alone, grouped: transactions of 50 runs (one multi-row INSERT of starts, then one
# UPDATE closing them) on a table of the same columns without triggers or roll-ups, the
# ceiling a group commit could reach on this machine. Rows (events) per second.
psql -q "$pg/cronmon_bench_pg" -c "CREATE TABLE r (id uuid PRIMARY KEY, cron_name text NOT NULL,
  status text NOT NULL, started_at timestamptz NOT NULL, completed_at timestamptz,
  duration_ms bigint, output jsonb)" -c "CREATE INDEX ON r (cron_name, started_at DESC)" >/dev/null
script=$(mktemp)
cat >"$script" <<'SQL'
\set seed random(1, 1000000000000)
BEGIN;
INSERT INTO r (id, cron_name, status, started_at)
SELECT md5(:seed::text || '-' || g)::uuid, 'load-' || ((:seed + g) % 1000), 'running', now()
FROM generate_series(1, 50) g;
UPDATE r SET status = 'completed', completed_at = now(), duration_ms = 12, output = '{"n":1}'
WHERE id IN (SELECT md5(:seed::text || '-' || g)::uuid FROM generate_series(1, 50) g);
COMMIT;
SQL
pg_grouped=$(pgbench -n -c 8 -j 2 -T 10 -f "$script" "$pg/cronmon_bench_pg" 2>/dev/null |
  sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
rm -f "$script"
pg_grouped=$(awk -v t="$pg_grouped" 'BEGIN { printf "%.0f", t * 100 }')
echo "postgresql  50-run transactions, events/s (pgbench -c 8 -T 10): $pg_grouped  (× single-row commits/s: $(ratio "$pg_grouped"))"

start=$("$bin/start_bench" 2>/dev/null | grep 'CronRun::start')
echo "start       $start"

fresh_db cronmon_bench_rec
rec=$("$bin/recorder_bench" "$pg/cronmon_bench_rec" 200000 2>/dev/null | grep -m1 'events/s' || true)
rec_eps=$(echo "$rec" | grep -o '[0-9.]* events/s' | head -1 | cut -d' ' -f1)
echo "recorder    ${rec%% (*}  (× PostgreSQL commits/s: $(ratio "${rec_eps:-0}"))"

# One sweep with 1,000 of 10,000 crons due, each missing its slot and opening an incident.
sweep() {
  local out due idle
  out=$("$bin/sweep_bench" "$@" 2>/dev/null || true)
  due=$(echo "$out" | sed -n 's/^due sweep: //p')
  idle=$(echo "$out" | sed -n 's/^idle sweep: \([^ ]*\).*/\1/p')
  echo "$due; idle sweep $idle"
}
echo "sweep       sqlite: $(sweep)"
echo "sweep       postgresql: $(sweep --database-url "$pg/postgres")"

# The outbox: failed runs written with and without a channel wanting each, then delivered to
# a loopback webhook receiver by one notifier.
notify() {
  "$bin/notify_bench" "$@" 2>/dev/null | sed 's/^/            /' || true
}
echo "notify      sqlite:"
notify
echo "notify      postgresql:"
notify --database-url "$pg/postgres"

# Batch kinds: the job's cost of advance (throttled, and sending every time) next to
# CronRun::start; then the batches endpoint over loopback, 500 requests one after another.
batches=$("$bin/batch_bench" --database-url "$pg/postgres" 2>/dev/null || true)
echo "$batches" | grep -E '^(BatchRun|CronRun|advance)' | sed 's/^/batch       /'
batches_line() {
  local line rps
  line=$(echo "$1" | grep 'GET /cron-executions/batches' || true)
  rps=$(echo "$line" | sed -n 's/.* \([0-9]*\) requests\/s.*/\1/p')
  echo "batch       $line  (× PostgreSQL commits/s: $(ratio "${rps:-0}"))"
}
batches_line "$batches"
batches_line "$("$bin/batch_bench" --endpoint-only 2>/dev/null || true)"

fresh_db cronmon_bench_load
start_server "$pg/cronmon_bench_load"
load=$(CRON_SECRET=$secret "$bin/loadgen" --url "http://127.0.0.1:$port/api/admin" \
  --connections 64 --seconds 10 2>/dev/null | grep 'events/s')
rss_kb=$(ps -o rss= -p "$server" | tr -d ' ')
load_eps=$(echo "$load" | sed -n 's/.* = \([0-9]*\) events\/s.*/\1/p')
echo "http ingest $load; server RSS $((rss_kb / 1024)) MB  (× PostgreSQL commits/s: $(ratio "${load_eps:-0}"))"
# The same with an independent client written in C, when wrk is installed (Debian's wrk); and
# the server's ceiling without a database: the same requests with a wrong secret (401).
if command -v wrk >/dev/null; then
  read -r wrk_eps wrk_p99 <<<"$(wrk_line "$secret" 10)"
  echo "http wrk    one event a request, 64 connections: $wrk_eps events/s, p99 $wrk_p99  (× PostgreSQL commits/s: $(ratio "${wrk_eps:-0}"))"
  read -r wrk_eps wrk_p99 <<<"$(wrk_line wrong 10)"
  echo "http wrk    the same refused 401, no database: $wrk_eps answers/s, p99 $wrk_p99  (× PostgreSQL commits/s: $(ratio "${wrk_eps:-0}"))"
  # What no design could pass on these cores: each event costs at least its HTTP answer (the
  # 401 line, client included) plus PostgreSQL's share of a bare grouped insert and update
  # (the 50-run line), both paid from the same two cores.
  bound=$(awk -v h="$wrk_eps" -v g="$pg_grouped" 'BEGIN { if (h > 0 && g > 0) printf "%.0f", 1 / (1 / h + 1 / g); else print 0 }')
  echo "http bound  one event a request on these cores, HTTP answer plus a bare grouped write: $bound events/s  (× PostgreSQL commits/s: $(ratio "$bound"))"
fi
# The recorder's way: 100 events a request to the batch endpoint, 16 connections.
batch=$(CRON_SECRET=$secret "$bin/loadgen" --url "http://127.0.0.1:$port/api/admin" \
  --connections 16 --batch 100 --seconds 10 2>/dev/null | grep 'events/s')
batch_eps=$(echo "$batch" | sed -n 's/.* = \([0-9]*\) events\/s.*/\1/p')
echo "http batch  $batch  (× PostgreSQL commits/s: $(ratio "${batch_eps:-0}"))"
# The recorder of one job process, through the batch endpoint of the server.
remote=$(CRON_SECRET=$secret "$bin/recorder_bench" "http://127.0.0.1:$port/api/admin" 200000 \
  2>/dev/null | grep -m1 'events/s' || true)
remote_eps=$(echo "$remote" | grep -o '[0-9.]* events/s' | head -1 | cut -d' ' -f1)
echo "remote rec  ${remote%% (*}  (× PostgreSQL commits/s: $(ratio "${remote_eps:-0}"))"
# The top of the minute: 10,000 distinct crons start within one second, then complete.
burst=$(CRON_SECRET=$secret "$bin/loadgen" --url "http://127.0.0.1:$port/api/admin" \
  --burst 10000 --connections 512 2>/dev/null | grep '^burst')
echo "$burst; server RSS $(( $(ps -o rss= -p "$server" | tr -d ' ') / 1024 )) MB"
stop_server

# The same ingest on the embedded default: a fresh SQLite file, one writer.
lite=$(mktemp -d)
start_server "sqlite://$lite/bench.db"
for args in "--connections 64" "--connections 16 --batch 100"; do
  # shellcheck disable=SC2086 # the words of $args are the load generator's flags
  line=$(CRON_SECRET=$secret "$bin/loadgen" --url "http://127.0.0.1:$port/api/admin" $args \
    --seconds 10 2>/dev/null | grep 'events/s')
  eps=$(echo "$line" | sed -n 's/.* = \([0-9]*\) events\/s.*/\1/p')
  echo "sqlite http $line  (× PostgreSQL commits/s: $(ratio "${eps:-0}"))"
done
stop_server
rec=$("$bin/recorder_bench" "sqlite://$lite/recorder.db" 200000 2>/dev/null | grep -m1 'events/s' || true)
rec_eps=$(echo "$rec" | grep -o '[0-9.]* events/s' | head -1 | cut -d' ' -f1)
echo "sqlite rec  ${rec%% (*}  (× PostgreSQL commits/s: $(ratio "${rec_eps:-0}"))"
rm -rf "$lite"

# Reads flat with history: the same last day of runs behind more and more history.
for rows in ${CRONMON_BENCH_READS:-1000000 10000000 30000000}; do
  "$bin/query_bench" "$pg/postgres" "$rows" 1000 2>/dev/null | sed "s/^/reads $rows  /"
done

# Ingest onto that history, not onto an empty database: one event a request to the crons the
# last read benchmark filled (its runs, indexes and the sweep's reads of them), when wrk is
# installed.
if command -v wrk >/dev/null; then
  start_server "$pg/cronmon_bench"
  read -r hist_eps hist_p99 <<<"$(CRONS=cron- wrk_line "$secret" 25)"
  echo "history     one event a request onto the last read benchmark's runs, 64 connections, 25 s: $hist_eps events/s, p99 $hist_p99  (× PostgreSQL commits/s: $(ratio "${hist_eps:-0}"))"
  stop_server
fi
