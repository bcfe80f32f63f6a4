-- wrk script: one event a request, as examples/loadgen.rs sends them, from an independent client
-- written in C. A request either starts a run or completes one whose start was answered (its
-- id read from the answer). The secret comes from $SECRET (default "load"), the crons' names
-- from $CRONS (default "load-": load-0 to load-999; "cron-" writes to examples/query_bench.rs's
-- crons, to measure ingest on top of their history):
--   SECRET=load wrk -t2 -c64 -d10s --latency -s scripts/wrk-pairs.lua http://127.0.0.1:18080
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Cron-Secret"] = os.getenv("SECRET") or "load"
local started = {}
local n = 0
local base = "/api/admin/cron-executions/"
local crons = os.getenv("CRONS") or "load-"
request = function()
  local id = table.remove(started)
  if id then
    return wrk.format(nil, base .. "complete",
      nil, '{"executionId":"' .. id .. '","status":"completed","durationMs":12}')
  end
  n = n + 1
  return wrk.format(nil, base .. "start", nil, '{"cronName":"' .. crons .. (n % 1000) .. '"}')
end
-- Only a start's answer names the cron after the id: a completion's answer is not taken again.
response = function(status, headers, body)
  local id = body:match('"executionId":"([^"]+)","cronName"')
  if id then table.insert(started, id) end
end
