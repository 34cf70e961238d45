-- wrk script: every request is a new Alertmanager alert in one of 50 groups. With BENCH_REPEAT=1
-- it also carries again the alert this thread sent to the same group one round before, as
-- Alertmanager's notifications repeat a group's firing alerts.
-- Each wrk thread numbers its requests; the thread id keeps fingerprints unique across threads,
-- and BENCH_RUN across runs.
-- `tid` and `counter` are globals on purpose: setup() sets `tid` in each thread's own Lua state,
-- and done() reads every thread's `counter` to print how many requests were sent (wrk's own
-- count leaves out those still in flight when the run ends, which the server may still store).
counter = 0
repeats = 0  -- requests that carried a repeat (done() prints the sum, as for `counter`)
local next_tid = 0
local threads = {}
local groups = tonumber(os.getenv("BENCH_GROUPS") or "50")
local token = os.getenv("BENCH_TOKEN") or ""
local run = os.getenv("BENCH_RUN") or "0"  -- a new value per wrk run keeps alerts new
local repeat_alerts = os.getenv("BENCH_REPEAT") == "1"
local alert_format = '{"status":"firing","labels":{"alertname":"Storm","group":"g%d",' ..
  '"instance":"%s","severity":"warning"},"annotations":{"summary":"bench"},' ..
  '"startsAt":"2026-11-25T15:41:34Z","endsAt":"0001-01-01T00:00:00Z",' ..
  '"generatorURL":"","fingerprint":"%s"}'

function setup(thread)
  thread:set("tid", next_tid)
  table.insert(threads, thread)
  next_tid = next_tid + 1
end

function init(args)
  counter = 0
  repeats = 0
end

request = function()
  counter = counter + 1
  local group = counter % groups
  local fingerprint = string.format("r%s-t%d-%d", run, tid, counter)
  local alerts = string.format(alert_format, group, fingerprint, fingerprint)
  -- counter 1 of thread 0 went to wrk's check of the script, never sent: start after it
  if repeat_alerts and counter - groups >= 2 then
    repeats = repeats + 1
    local earlier = string.format("r%s-t%d-%d", run, tid, counter - groups)
    alerts = string.format(alert_format, group, earlier, earlier) .. "," .. alerts
  end
  local body = string.format(
    '{"receiver":"bench","status":"firing","version":"4",' ..
    '"groupKey":"{}:{alertname=\\"Storm\\", group=\\"g%d\\"}",' ..
    '"groupLabels":{"alertname":"Storm","group":"g%d"},"commonLabels":{},"commonAnnotations":{},' ..
    '"externalURL":"http://alertmanager.bench","truncatedAlerts":0,"alerts":[%s]}',
    group, group, alerts)
  return wrk.format("POST", "/webhooks/alertmanager",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end

-- wrk calls thread 0's request() once before the run to check the script (wrk.c main:
-- script_verify_request); that request is never sent, hence the start at -1.
function done(summary, latency, requests)
  local sent, repeated = -1, 0
  for _, thread in ipairs(threads) do
    sent = sent + thread:get("counter")
    repeated = repeated + thread:get("repeats")
  end
  io.write(string.format("sent %d\nrepeats %d\n", sent, repeated))
end
