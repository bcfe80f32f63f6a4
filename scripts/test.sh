#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: starts (or installs) what the tests need,
# then `cargo test --workspace --all-features`. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
if ! pg_up; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "== installing PostgreSQL"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  echo "== starting PostgreSQL"
  for v in $(ls /etc/postgresql); do
    pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
  done
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "PostgreSQL did not start" >&2; exit 1; }
fi
export CRONMON_TEST_PG_URL="${CRONMON_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

if [ -f scripts/ensure-chromium.sh ]; then bash scripts/ensure-chromium.sh; fi

cargo test --workspace --all-features "$@"
