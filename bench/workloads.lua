-- The REST workloads of the benchmark, for wrk (https://github.com/wg/wrk, Lua 5.1 API).
--
--   BENCH_WORKLOAD=post1 BENCH_PROJECT=p BENCH_QUEUE=q BENCH_CLIENT=<uuid> \
--   [BENCH_RATE=requests/s BENCH_CONNECTIONS=n] wrk ... -s bench/workloads.lua URL
--
-- (wrk decides whether the script paces requests when it loads it, before any argument is
-- handed over, so the parameters come from the environment.)
--
-- BENCH_WORKLOAD is one of:
--   post1         POST one ~200-byte JSON message per request
--   post10        POST ten such messages per request
--   list          GET /messages?limit=10 from a queue that holds at least 100 messages
--   claim_delete  POST a claim of 10 messages, then DELETE them in bulk with their claim id
--   notify        POST one message as post1 does, its body starting with "sent": the
--                 CLOCK_MONOTONIC microseconds when the request is made (just before it is
--                 sent), which the notifications carry to bench/webhook_receiver.py
-- BENCH_RATE (requests/s over all BENCH_CONNECTIONS, unset for as fast as possible) paces
-- each connection with wrk's delay(), for latency at a given load.  BENCH_TOKEN, when set,
-- is sent as X-Auth-Token (a server in Keystone mode).
--
-- done() prints one line "BENCH {json}" that bench/zaqar_bench.py reads: the counts, the
-- run time, the latency percentiles (microseconds) and the workload's own counters.

-- A message body of about 200 bytes once encoded as JSON (the "body" value alone).
local BODY = '{"event":"order.created","order":{"id":"ord-0001-8841","customer":"cust-2071",'
  .. '"items":[{"sku":"SKU-1138","qty":2,"price":19.99},{"sku":"SKU-2187","qty":1,'
  .. '"price":5.25}],"total":45.23,"currency":"EUR"},"source":"bench"}'
local MESSAGE = '{"ttl":3600,"body":' .. BODY .. '}'

local function messages(n)
  local parts = {}
  for i = 1, n do
    parts[i] = MESSAGE
  end
  return '{"messages":[' .. table.concat(parts, ',') .. ']}'
end

-- notify: a function reading CLOCK_MONOTONIC in microseconds (wrk is built on LuaJIT, whose
-- FFI calls clock_gettime; Python's time.monotonic_ns reads the same clock).
local function monotonic_us()
  local ffi = require("ffi")
  ffi.cdef("typedef struct { long tv_sec; long tv_nsec; } bench_timespec;"
    .. "int clock_gettime(int clock_id, bench_timespec *tp);")
  local now = ffi.new("bench_timespec")
  local CLOCK_MONOTONIC = 1
  return function()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, now)
    return tonumber(now.tv_sec) * 1000000 + math.floor(tonumber(now.tv_nsec) / 1000)
  end
end

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

-- Per thread: the workload, its fixed requests, and counters read by done().
local workload = os.getenv("BENCH_WORKLOAD")
local rate = tonumber(os.getenv("BENCH_RATE") or "") or 0
local connections = tonumber(os.getenv("BENCH_CONNECTIONS") or "") or 1
local base, headers
local post_request, list_request, claim_request
local notify_path, now_us
local pending = {}     -- claim_delete: DELETE paths waiting to be sent
claimed = 0            -- claim_delete: messages received in claims
claims_sent = 0
claims_ok = 0
deletes_sent = 0
listed = 0             -- list: messages received in pages
pages = 0
unexpected = 0         -- responses with a status the workload did not expect

function init(_)
  math.randomseed(os.time() * 1000 + (id or 0))  -- id: set by setup() in each thread
  local project, queue = os.getenv("BENCH_PROJECT"), os.getenv("BENCH_QUEUE")
  local client = os.getenv("BENCH_CLIENT")
  base = "/v2/queues/" .. queue
  headers = {
    ["Client-ID"] = client,
    ["X-Project-ID"] = project,
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json",
  }
  local token = os.getenv("BENCH_TOKEN")
  if token and token ~= "" then
    headers["X-Auth-Token"] = token
  end
  if workload == "post1" then
    post_request = wrk.format("POST", base .. "/messages", headers, messages(1))
  elseif workload == "post10" then
    post_request = wrk.format("POST", base .. "/messages", headers, messages(10))
  elseif workload == "list" then
    list_request = wrk.format("GET", base .. "/messages?limit=10", headers)
  elseif workload == "claim_delete" then
    claim_request = wrk.format(
      "POST", base .. "/claims?limit=10", headers, '{"ttl":300,"grace":60}')
  elseif workload == "notify" then
    notify_path = base .. "/messages"
    now_us = monotonic_us()
  else
    error("unknown workload " .. tostring(workload))
  end
end

if rate > 0 then
  -- Defined only when pacing (a defined delay() costs a timer per request even when it
  -- returns 0): wrk waits this many ms before each request of a connection.  The waits are
  -- random (exponential, so the connections together send as a Poisson process), or the
  -- connections would fall into step and send in bursts.
  local mean_ms = connections * 1000 / rate
  function delay()
    return math.floor(-math.log(1 - math.random()) * mean_ms + 0.5)
  end
end

function request()
  if post_request then
    return post_request
  elseif list_request then
    return list_request
  elseif notify_path then
    return wrk.format("POST", notify_path, headers, string.format(
      '{"messages":[{"ttl":3600,"body":{"sent":%.0f,%s}]}', now_us(),
      string.sub(BODY, 2)))
  end
  local path = table.remove(pending)
  if path then
    deletes_sent = deletes_sent + 1
    return wrk.format("DELETE", path, headers)
  end
  claims_sent = claims_sent + 1
  return claim_request
end

function response(status, _, body)
  if workload == "claim_delete" then
    if status == 201 then
      claims_ok = claims_ok + 1
      local ids, claim = {}, nil
      for id, cid in string.gmatch(body, '/messages/([%w%-]+)%?claim_id=([%w%-]+)') do
        ids[#ids + 1] = id
        claim = cid
      end
      claimed = claimed + #ids
      if #ids > 0 then
        pending[#pending + 1] = base .. "/messages?ids=" .. table.concat(ids, ",")
          .. "&claim_ids=" .. claim
      end
    elseif status ~= 204 then
      unexpected = unexpected + 1
    end
  elseif workload == "list" then
    if status == 200 then
      pages = pages + 1
      for _ in string.gmatch(body, '"href"%s*:%s*"/v2/queues/[^"]-/messages/') do
        listed = listed + 1
      end
    else
      unexpected = unexpected + 1
    end
  elseif status ~= 201 then
    unexpected = unexpected + 1
  end
end

local function sum(name)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + (tonumber(thread:get(name)) or 0)
  end
  return total
end

function done(summary, latency, _)
  local errors = summary.errors
  local fields = {
    string.format('"requests":%d', summary.requests),
    string.format('"duration_us":%d', summary.duration),
    string.format('"bytes":%d', summary.bytes),
    string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
      errors.connect, errors.read, errors.write, errors.status, errors.timeout),
    string.format('"p50_us":%d', latency:percentile(50)),
    string.format('"p90_us":%d', latency:percentile(90)),
    string.format('"p99_us":%d', latency:percentile(99)),
    string.format('"max_us":%d', latency.max),
    string.format('"mean_us":%.1f', latency.mean),
  }
  for _, name in ipairs({"claimed", "claims_sent", "claims_ok", "deletes_sent",
                         "listed", "pages", "unexpected"}) do
    fields[#fields + 1] = string.format('"%s":%d', name, sum(name))
  end
  io.write("BENCH {" .. table.concat(fields, ",") .. "}\n")
end
