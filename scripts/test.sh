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

# `crontab` itself, for the test of `cronmon crontab install --user` (tests/it/cli_crontab.rs);
# best effort: without it that test says it skipped, the file tests still run.
if ! command -v crontab >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "== installing cron (for crontab)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cron >/dev/null 2>&1 \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cron >/dev/null 2>&1; } \
    || echo "cron could not be installed; the crontab(1) test will skip"
fi

# schemathesis (PyPI, pinned) for tests/it/http_fuzz.rs, in a venv kept across runs; the test
# also looks for it at this path when CRONMON_SCHEMATHESIS is not set.
SCHEMATHESIS_VERSION=4.32.5
st_venv="${XDG_CACHE_HOME:-$HOME/.cache}/cronmon/schemathesis-$SCHEMATHESIS_VERSION"
if ! "$st_venv/bin/st" --version >/dev/null 2>&1; then
  echo "== installing schemathesis $SCHEMATHESIS_VERSION into $st_venv"
  rm -rf "$st_venv"
  if ! python3 -m venv "$st_venv" >/dev/null 2>&1; then
    # Debian's python3 has venv (and ensurepip) in a package of its own.
    rm -rf "$st_venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$st_venv"
  fi
  "$st_venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
export CRONMON_SCHEMATHESIS="$st_venv/bin/st"

# aiosmtpd (PyPI, pinned): the real SMTP server the email channel is tested against
# (tests/it/notify.rs), in a venv of its own next to schemathesis'.
AIOSMTPD_VERSION=1.4.6
smtp_venv="${XDG_CACHE_HOME:-$HOME/.cache}/cronmon/aiosmtpd-$AIOSMTPD_VERSION"
if ! "$smtp_venv/bin/python" -c "import aiosmtpd" >/dev/null 2>&1; then
  echo "== installing aiosmtpd $AIOSMTPD_VERSION into $smtp_venv"
  rm -rf "$smtp_venv"
  python3 -m venv "$smtp_venv"
  "$smtp_venv/bin/pip" install -q --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
fi
export CRONMON_AIOSMTPD_PYTHON="$smtp_venv/bin/python"

cargo test --workspace --all-features "$@"
