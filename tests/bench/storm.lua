-- wrk script: every request is a new Alertmanager alert in one of 50 groups.
-- Each wrk thread numbers its requests; the thread id keeps fingerprints unique across threads,
-- and BENCH_RUN across runs.
-- `tid` is a global on purpose: setup() sets it in each thread's own Lua state.
local counter = 0
local next_tid = 0
local groups = tonumber(os.getenv("BENCH_GROUPS") or "50")
local token = os.getenv("BENCH_TOKEN") or ""
local run = os.getenv("BENCH_RUN") or "0"  -- a new value per wrk run keeps alerts new

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

function init(args)
  counter = 0
end

request = function()
  counter = counter + 1
  local group = counter % groups
  local fingerprint = string.format("r%s-t%d-%d", run, tid, counter)
  local body = string.format(
    '{"receiver":"bench","status":"firing","version":"4",' ..
    '"groupKey":"{}:{alertname=\\"Storm\\", group=\\"g%d\\"}",' ..
    '"groupLabels":{"alertname":"Storm","group":"g%d"},"commonLabels":{},"commonAnnotations":{},' ..
    '"externalURL":"http://alertmanager.bench","truncatedAlerts":0,' ..
    '"alerts":[{"status":"firing","labels":{"alertname":"Storm","group":"g%d","instance":"%s",' ..
    '"severity":"warning"},"annotations":{"summary":"bench"},' ..
    '"startsAt":"2026-11-25T15:41:34Z","endsAt":"0001-01-01T00:00:00Z",' ..
    '"generatorURL":"","fingerprint":"%s"}]}',
    group, group, group, fingerprint, fingerprint)
  return wrk.format("POST", "/webhooks/alertmanager",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
