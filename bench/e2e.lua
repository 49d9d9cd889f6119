-- wrk script for bench/e2e.sh. BENCH_BODIES: lines "signature<TAB>body" signed at
-- BENCH_TS (requests cycle through them). BENCH_GETS: "path|path|…" for plain GETs with
-- Basic auth instead (the simulator's own rate). A reply counts only with status 200 and,
-- for commands, BENCH_EXPECT in its body; a "Working on it" acknowledgement is counted
-- apart (its answer follows through response_url).
local expect = os.getenv("BENCH_EXPECT") or "Okta"
local ts = os.getenv("BENCH_TS")
local bodies_file = os.getenv("BENCH_BODIES")
local gets = os.getenv("BENCH_GETS")
local reqs, i = {}, 0
ok, bad, deferred = 0, 0, 0
-- Each wrk thread has its own Lua state: done() sums their counters.
local threads = {}
function setup(thread) table.insert(threads, thread) end

function init(args)
  if gets then
    for path in string.gmatch(gets, "[^|]+") do
      reqs[#reqs + 1] = wrk.format("GET", path, {["Authorization"] = "Basic YWRtaW46YWRtaW4="})
    end
    return
  end
  for line in io.lines(bodies_file) do
    local s, b = line:match("^([^\t]+)\t(.*)$")
    if s then
      reqs[#reqs + 1] = wrk.format("POST", nil, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Slack-Request-Timestamp"] = ts,
        ["X-Slack-Signature"] = s,
      }, b)
    end
  end
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end

function response(status, headers, body)
  if status == 200 and (gets or string.find(body, expect, 1, true)) then
    ok = ok + 1
  elseif status == 200 and string.find(body, "Working on it", 1, true) then
    -- Acknowledged within the inline budget; the answer follows through response_url.
    deferred = deferred + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local ok, bad, deferred = 0, 0, 0
  for _, th in ipairs(threads) do
    ok = ok + th:get("ok")
    bad = bad + th:get("bad")
  end
  io.write(string.format("E2E ok=%d deferred=%d bad=%d seconds=%.2f p50_ms=%.2f p99_ms=%.2f\n",
    ok, deferred, bad, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
