-- wrk script: replay pre-signed requests, each exactly once, and report JSON.
--
--   wrk -t2 -c16 -d15s -s bench/requests.lua http://host:port -- requests.txt POST /graphql 2
--   (the last argument repeats wrk's -t: each thread's Lua state cannot see the others)
--
-- requests.txt holds one request per line: "<headers>\t<body>", headers as "Name: value|Name: value"
-- (may be empty). Thread k of n sends lines k, k+n, k+2n, ...: no two requests share a signature.
-- A response counts as an error unless its status is 200 and its body has no "errors" entry.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local path, method, target = args[1], args[2], args[3]
  local id, nthreads = tonumber(wrk.thread:get("id")), tonumber(args[4])
  requests, index, sent_all = {}, 0, false
  errors, samples = 0, {}
  local line_number = 0
  for line in io.lines(path) do
    if line_number % nthreads == id then
      local headers_text, body = line:match("^([^\t]*)\t(.*)$")
      local headers = { ["Content-Type"] = "application/json" }
      for header in string.gmatch(headers_text, "[^|]+") do
        local name, value = header:match("^([^:]+):%s*(.*)$")
        headers[name] = value
      end
      table.insert(requests, wrk.format(method, target, headers, body))
    end
    line_number = line_number + 1
  end
end

function request()
  index = index + 1
  if index > #requests then
    index, sent_all = 1, true -- replays now: they will show up as errors
  end
  return requests[index]
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    errors = errors + 1
    if #samples < 3 then
      table.insert(samples, status .. " " .. string.sub(body, 1, 200))
    end
  end
end

local function quote(text)
  return '"' .. text:gsub('\\', '\\\\'):gsub('"', '\\"'):gsub("[%c]", " ") .. '"'
end

function done(summary, latency, requests_stats)
  local total_errors, ran_out, examples = 0, false, {}
  for _, thread in ipairs(threads) do
    total_errors = total_errors + thread:get("errors")
    ran_out = ran_out or thread:get("sent_all")
    for _, sample in ipairs(thread:get("samples")) do
      table.insert(examples, quote(sample))
    end
  end
  local status_errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "seconds": %.3f, "errors": %d, "socket_or_status_errors": %d, '
      .. '"ran_out": %s, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, '
      .. '"mean_ms": %.3f, "bytes": %d, "samples": [%s]}\n',
    summary.requests, summary.duration / 1e6, total_errors, status_errors, tostring(ran_out),
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, latency.mean / 1e3, summary.bytes, table.concat(examples, ", ")
  ))
end
