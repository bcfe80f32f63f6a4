#!/usr/bin/env bash
# Makes the dashboard's browser test runnable on a fresh machine (scripts/test.sh calls this):
# Debian's Chromium at /usr/bin/chromium, and tests/browser/node_modules (playwright-core, from
# the lockfile; it drives the system Chromium, it never downloads a browser).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then
    apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing Debian's chromium"
  apt_install chromium fonts-dejavu-core
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "== installing node and npm"
  apt_install nodejs npm
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "== npm ci in tests/browser"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
