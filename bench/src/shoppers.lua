-- wrk script: every request a Buy by the next shopper of a cookie file, so each request takes
-- the path its cookies lead to (distinct shoppers: the success path). args: cookie file, path,
-- threads, and "stop" (a thread stops when its shoppers run out: a repeat would not be the
-- success path) or "cycle" (start again from the first). With an empty cookie file, requests
-- carry no cookie (the unauthorized path).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
  thread:set("nthreads", 0)
end

local cookies, next_cookie, path, bad, cycle = {}, 0, "/", 0, false

function init(args)
  path = args[2]
  cycle = args[4] == "cycle"
  local n, i = 0, 0
  for line in io.lines(args[1]) do
    i = i + 1
    -- Thread t of T takes lines t, t+T, t+2T...: shoppers never repeat across threads.
    if (i - tid) % tonumber(args[3]) == 0 then
      n = n + 1
      cookies[n] = line
    end
  end
end

function request()
  next_cookie = next_cookie + 1
  local c = cookies[next_cookie]
  if #cookies > 0 and c == nil then
    if not cycle then wrk.thread:stop() end
    next_cookie = 1
    c = cookies[1]
  end
  local headers = {}
  if c ~= nil then headers["Cookie"] = c end
  return wrk.format("POST", path, headers, nil)
end

function response(status, headers, body)
  if status ~= tonumber(expect) then bad = bad + 1 end
end

function done(summary, latency, requests)
  local wrong = 0
  for _, t in ipairs(threads) do wrong = wrong + (t:get("bad") or 0) end
  io.write(string.format("RESULT %d %f %f %f %d\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, wrong))
end
