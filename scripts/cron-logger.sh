#!/usr/bin/env bash
# cron-logger.sh — report shell cron jobs to cronmon over HTTP with curl.
#
#   source /path/to/cron-logger.sh
#   export CRON_API_BASE="http://127.0.0.1:8080"   # the server; the API is under /api/admin
#   export CRON_SECRET="…"
#
#   cron_start "my-cron" "scheduled"               # exports CRON_EXECUTION_ID
#   trap 'cron_fail "Script error" $?' EXIT
#   do_work
#   trap - EXIT
#   cron_complete '{"items": 42, "status": "ok"}'
#
#   cron_wrap "my-cron" some-command --with args   # start, run, complete or fail; keeps the exit code
#
#   id=$(cron_batch_start kbIndexation 245)        # batch runs: see "Batch runs" below
#   cron_batch_advance "$id" 120 3; cron_batch_complete "$id"
#
# A monitor that is down or slow costs the job a warning on stderr, never a failure: every call
# has a timeout (CRON_CURL_TIMEOUT, 5 s) and every error is ignored. The completion carries
# the run's name and start time, so a run whose start was lost is still recorded whole.
#
# Settings: CRON_API_BASE (default http://127.0.0.1:8080), CRON_API_PATH (default /api/admin),
# CRON_SECRET, CRON_CURL_TIMEOUT. Needs bash, curl and GNU date.

_cron_warn() { echo "[CRON WARN] $*" >&2; }

_cron_now_ms() { date +%s%3N 2>/dev/null || echo $(( $(date +%s) * 1000 )); }

# Milliseconds on a clock that never steps back (the kernel's uptime), for durations; the wall
# clock where there is no /proc/uptime.
_cron_mono_ms() {
  local up frac
  if read -r up _ </proc/uptime 2>/dev/null && [[ $up =~ ^([0-9]+)\.([0-9]+)$ ]]; then
    frac="${BASH_REMATCH[2]}000"
    echo $(( BASH_REMATCH[1] * 1000 + 10#${frac:0:3} ))
  else
    _cron_now_ms
  fi
}

# An exit code as JSON: $1 if it is an integer that fits, else 1.
_cron_exit_code() {
  if [[ ${1-} =~ ^(-?)([0-9]{1,9})$ ]]; then
    printf '%s%d' "${BASH_REMATCH[1]}" "$((10#${BASH_REMATCH[2]}))"
  else
    printf 1
  fi
}

# $1 without what cannot be UTF-8 text: bytes of a character cut at the start (as `tail -c`
# leaves them), or, with --ascii, every byte that is not ASCII.
_cron_text() {
  if [ "${2-}" = --ascii ]; then
    printf '%s' "$1" | LC_ALL=C tr -d '\200-\377'
  else
    printf '%s' "$1" | LC_ALL=C sed '1s/^[\x80-\xbf]*//'
  fi
}

_cron_now_iso() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ; }

_cron_uuid() {
  if [ -r /proc/sys/kernel/random/uuid ]; then
    cat /proc/sys/kernel/random/uuid
  elif command -v uuidgen >/dev/null 2>&1; then
    uuidgen | tr 'A-Z' 'a-z'
  else
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n' |
      sed -E 's/^(.{8})(.{4}).(.{3}).(.{3})(.{12}).*$/\1-\2-4\3-a\4-\5/'
  fi
}

# JSON string literal of $1 (quotes included).
_cron_json_string() {
  local s=${1-}
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  s=$(printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037')
  printf '"%s"' "$s"
}

# POSTs JSON $2 to the API path $1; prints the answer; never fails.
_cron_post() {
  local base=${CRON_API_BASE:-http://127.0.0.1:8080}
  local url="${base%/}${CRON_API_PATH-/api/admin}$1"
  local answer code
  if ! command -v curl >/dev/null 2>&1; then
    _cron_warn "curl not found; run not reported"
    return 0
  fi
  CRON_LAST_HTTP_CODE=000
  # The secret goes through a file descriptor, never on curl's command line (which every
  # local user can read in `ps`).
  local secret=${CRON_SECRET:-}
  secret=${secret//[$'\r\n']/}
  answer=$(curl -sS --max-time "${CRON_CURL_TIMEOUT:-5}" -X POST \
    -H "Content-Type: application/json" \
    -H @<(printf 'X-Cron-Secret: %s\n' "$secret") \
    --data-binary @- -w $'\n%{http_code}' "$url" <<<"$2" 2>/dev/null) || {
    _cron_warn "monitor unreachable at $base; continuing"
    return 0
  }
  code=${answer##*$'\n'}
  answer=${answer%$'\n'*}
  CRON_LAST_HTTP_CODE=$code
  case "$code" in
    2??) printf '%s' "$answer" ;;
    *) _cron_warn "monitor answered $code: $answer" ;;
  esac
  return 0
}

# cron_start NAME [scheduled|manual]
cron_start() {
  local name=${1:?cron_start needs a cron name}
  local trigger=${2:-scheduled}
  CRON_NAME=$name
  CRON_EXECUTION_ID=$(_cron_uuid)
  CRON_STARTED_AT=$(_cron_now_iso)
  CRON_START_MS=$(_cron_mono_ms)
  export CRON_NAME CRON_EXECUTION_ID CRON_STARTED_AT CRON_START_MS
  _cron_post /cron-executions/start "{\"cronName\":$(_cron_json_string "$name"),\"triggerType\":$(_cron_json_string "$trigger"),\"executionId\":\"$CRON_EXECUTION_ID\",\"startedAt\":\"$CRON_STARTED_AT\",\"host\":$(_cron_json_string "$(hostname 2>/dev/null || echo unknown)"),\"pid\":$$}" >/dev/null
  echo "[CRON START] $name (execution: $CRON_EXECUTION_ID)" >&2
  return 0
}

_cron_finish() { # status output_json error_message exit_code
  if [ -z "${CRON_EXECUTION_ID:-}" ]; then
    _cron_warn "no run started (call cron_start first)"
    return 0
  fi
  local now
  now=$(_cron_mono_ms)
  local duration=$(( now - ${CRON_START_MS:-$now} ))
  # A start taken on another clock (an older client, another boot) must not give a negative
  # duration, which the server refuses.
  (( duration < 0 )) && duration=0
  local body="{\"executionId\":\"$CRON_EXECUTION_ID\",\"status\":\"$1\",\"durationMs\":$duration"
  if [ -n "${CRON_STARTED_AT:-}" ] && [ -n "${CRON_NAME:-}" ]; then
    body+=",\"cronName\":$(_cron_json_string "$CRON_NAME"),\"startedAt\":\"$CRON_STARTED_AT\""
  fi
  local rest=""
  [ -n "$3" ] && rest+=",\"errorMessage\":$(_cron_json_string "$3")"
  [ -n "$4" ] && rest+=",\"exitCode\":$(_cron_exit_code "$4")"
  if [ -n "$2" ]; then
    _cron_post /cron-executions/complete "$body,\"output\":$2$rest}" >/dev/null
    # An output the server could not read must not cost the completion: send it as text.
    if [ "${CRON_LAST_HTTP_CODE:-}" = 400 ]; then
      _cron_post /cron-executions/complete "$body,\"output\":$(_cron_json_string "$2")$rest}" >/dev/null
    fi
  else
    _cron_post /cron-executions/complete "$body$rest}" >/dev/null
  fi
  # Nor text with bytes that are not UTF-8: send its ASCII part.
  if [ "${CRON_LAST_HTTP_CODE:-}" = 400 ]; then
    rest=""
    [ -n "$2" ] && rest+=",\"output\":$(_cron_json_string "$(_cron_text "$2" --ascii)")"
    [ -n "$3" ] && rest+=",\"errorMessage\":$(_cron_json_string "$(_cron_text "$3" --ascii)")"
    [ -n "$4" ] && rest+=",\"exitCode\":$(_cron_exit_code "$4")"
    _cron_post /cron-executions/complete "$body$rest}" >/dev/null
  fi
  CRON_LAST_DURATION_MS=$duration
  return 0
}

# cron_complete [output_json]
cron_complete() {
  local output=${1:-'{}'}
  # Not JSON? Send it as a string rather than lose the completion.
  case "${output#"${output%%[![:space:]]*}"}" in
    \{*|\[*) ;;
    *) output=$(_cron_json_string "$output") ;;
  esac
  _cron_finish completed "$output" "" 0
  echo "[CRON COMPLETE] ${CRON_NAME:-?} (${CRON_LAST_DURATION_MS:-?}ms)" >&2
  return 0
}

# cron_fail "message" [exit_code]
cron_fail() {
  _cron_finish failed "" "${1:-failed}" "$(_cron_exit_code "${2:-1}")"
  echo "[CRON FAIL] ${CRON_NAME:-?} (${CRON_LAST_DURATION_MS:-?}ms): ${1:-failed}" >&2
  return 0
}

# cron_wrap NAME command [args…]   (or cron_wrap NAME "command args" as one string, as older scripts call it)
# Runs the command, reports it (its stderr's tail as the error), and returns its exit code.
cron_wrap() {
  local name=${1:?cron_wrap needs a cron name}
  shift
  local errlog status
  errlog=$(mktemp 2>/dev/null || echo "/tmp/cron-wrap.$$")
  cron_start "$name" "${CRON_TRIGGER:-scheduled}"
  # In an `if`, a failing command does not end a `set -e` script before its failure is
  # recorded; the status is returned, so the script still stops (or not) as it would have.
  if [ $# -eq 1 ] && [[ "$1" == *" "* ]]; then
    if bash -c "$1" 2>"$errlog"; then status=0; else status=$?; fi
  else
    if "$@" 2>"$errlog"; then status=0; else status=$?; fi
  fi
  cat "$errlog" >&2 2>/dev/null || true
  if [ "$status" -eq 0 ]; then
    cron_complete '{}'
  else
    cron_fail "exit $status: $(_cron_text "$(tail -c 2000 "$errlog" 2>/dev/null)")" "$status"
  fi
  rm -f "$errlog"
  return "$status"
}

# Batch runs: one run of a batch kind (a crawl of 5,000 pages, an indexation of 245 documents),
# with its progress.
#
#   id=$(cron_batch_start kbIndexation 245)        # prints the run's id
#   cron_batch_advance "$id" 120 3                 # 120 done and 3 failed SO FAR (not since the last call)
#   cron_batch_complete "$id"                      # or: cron_batch_complete "$id" failed "index locked"
#
# The counts are totals since the start, so a call repeated (or sent late) changes nothing.
# As for crons, a monitor that is down costs a warning on stderr, never a failure: the id is
# made here, so the job goes on with it either way. The run's kind and start are kept in a
# small file (${TMPDIR:-/tmp}/cron-batch-ID, removed at the end) and sent with each report, so a
# run whose start was lost is still recorded from its next report.

# A whole number for a count: $1 if it is one, else empty (the caller leaves the field out).
_cron_count() {
  if [[ ${1-} =~ ^[0-9]{1,15}$ ]]; then
    printf '%d' "$((10#$1))"
  fi
}

_cron_batch_file() { printf '%s/cron-batch-%s' "${TMPDIR:-/tmp}" "$1"; }

# `,"batchKind":…,"startedAt":…` of batch run $1 as its start wrote them down, or nothing.
_cron_batch_known() {
  local kind started
  { IFS= read -r kind && IFS= read -r started; } <"$(_cron_batch_file "$1")" 2>/dev/null || return 0
  [[ $started =~ ^[0-9T:.Z-]+$ ]] || return 0
  printf ',"batchKind":%s,"startedAt":"%s"' "$(_cron_json_string "$kind")" "$started"
}

# Whether $2 is a batch run id as cron_batch_start prints them; warns for function $1 if not.
_cron_batch_id() {
  if [[ ${2-} =~ ^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$ ]]; then
    return 0
  fi
  _cron_warn "$1 needs the id cron_batch_start printed (got '${2-}'); not reported"
  return 1
}

# cron_batch_start KIND [TOTAL]   — prints the batch run's id on stdout
cron_batch_start() {
  local kind=${1:?cron_batch_start needs a batch kind}
  local total id started
  total=$(_cron_count "${2-}")
  id=$(_cron_uuid)
  started=$(_cron_now_iso)
  printf '%s\n%s\n' "${kind//$'\n'/ }" "$started" >"$(_cron_batch_file "$id")" 2>/dev/null || true
  local body="{\"batchKind\":$(_cron_json_string "$kind"),\"batchRunId\":\"$id\",\"startedAt\":\"$started\",\"host\":$(_cron_json_string "$(hostname 2>/dev/null || echo unknown)")"
  [ -n "$total" ] && body+=",\"total\":$total"
  _cron_post /batch-runs/start "$body}" >/dev/null
  echo "[CRON BATCH START] $kind (batch run: $id)" >&2
  printf '%s\n' "$id"
  return 0
}

# cron_batch_advance ID DONE [FAILED]   — the counts so far, since the start
cron_batch_advance() {
  local id=${1-} done failed
  _cron_batch_id cron_batch_advance "$id" || return 0
  done=$(_cron_count "${2-}")
  failed=$(_cron_count "${3-}")
  if [ -z "$done" ]; then
    _cron_warn "cron_batch_advance: '${2-}' is not a count of items done; not reported"
    return 0
  fi
  local body="{\"done\":$done"
  [ -n "$failed" ] && body+=",\"failed\":$failed"
  _cron_post "/batch-runs/$id/advance" "$body$(_cron_batch_known "$id")}" >/dev/null
  return 0
}

# cron_batch_complete ID [failed MESSAGE]
cron_batch_complete() {
  local id=${1-}
  _cron_batch_id cron_batch_complete "$id" || return 0
  local known status=completed rest=""
  known=$(_cron_batch_known "$id")
  if [ "${2-}" = failed ]; then
    status=failed
    rest=",\"errorMessage\":$(_cron_json_string "${3:-failed}")"
  fi
  _cron_post "/batch-runs/$id/complete" "{\"status\":\"$status\"$rest$known}" >/dev/null
  # Nor a message with bytes that are not UTF-8: send its ASCII part.
  if [ "${CRON_LAST_HTTP_CODE:-}" = 400 ] && [ -n "$rest" ]; then
    rest=",\"errorMessage\":$(_cron_json_string "$(_cron_text "${3:-failed}" --ascii)")"
    _cron_post "/batch-runs/$id/complete" "{\"status\":\"$status\"$rest$known}" >/dev/null
  fi
  rm -f "$(_cron_batch_file "$id")" 2>/dev/null || true
  echo "[CRON BATCH $( [ "$status" = failed ] && echo FAIL || echo COMPLETE )] $id" >&2
  return 0
}
