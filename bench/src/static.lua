-- wrk script: GET one path over kept-alive connections, optionally with an Accept-Encoding.
-- args: path, accept-encoding ("" for none). Counts answers other than 200.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local path, encoding, bad = "/", nil, 0

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
  if status ~= 200 then bad = bad + 1 end
end

function done(summary, latency, requests)
  local wrong = 0
  for _, t in ipairs(threads) do wrong = wrong + (t:get("bad") or 0) end
  io.write(string.format("RESULT %d %f %f %f %d\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, wrong))
end
