-- wrk script: GET one path over kept-alive connections, optionally with an Accept-Encoding.
-- args: path, accept-encoding ("" for none). Prints one RESULT line and one STATUS line per
-- answer status, like shoppers.lua, for the bench to read.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local path, encoding = "/", nil
-- A global, so `done` can read it from each thread.
statuses = {}

function init(args)
  path = args[1]
  if args[2] ~= nil and args[2] ~= "" then encoding = args[2] end
end

function request()
  local headers = {}
  if encoding then headers["Accept-Encoding"] = encoding end
  return wrk.format("GET", path, headers, nil)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %f %f %f %d\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    e.connect + e.read + e.write + e.timeout))
  local all = {}
  for _, t in ipairs(threads) do
    for status, count in pairs(t:get("statuses") or {}) do
      all[status] = (all[status] or 0) + count
    end
  end
  for status, count in pairs(all) do
    io.write(string.format("STATUS %d %d\n", status, count))
  end
end
