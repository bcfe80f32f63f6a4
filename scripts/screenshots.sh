#!/usr/bin/env bash
# Regenerates docs/screenshots/ from the example server with demo data, in headless Chromium.
#   scripts/screenshots.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-chromium.sh

profile=()
[ "${1:-}" = "--release" ] && profile=(--release)
cargo build "${profile[@]}" --example server
bin=target/debug/examples/server
[ "${1:-}" = "--release" ] && bin=target/release/examples/server

tmp=$(mktemp -d)
port=${CRONMON_SHOT_PORT:-18080}
secret="screenshots-$$"
CRON_SECRET="$secret" CRONMON_LOG=warn "$bin" --demo --bind "127.0.0.1:$port" \
  --database-url "sqlite://$tmp/demo.db" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$tmp"' EXIT

for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/api/admin/health" >/dev/null 2>&1 && break
  sleep 0.2
done
(cd tests/browser && node screenshots.mjs "http://127.0.0.1:$port/api/admin" "$secret" ../../docs/screenshots)
