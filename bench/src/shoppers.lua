-- wrk script: every request a Buy (POST to the path) by the next shopper of a cookie file, so
-- each request takes the path its cookies lead to. args: cookie file, path, threads, and
-- "stop" (a thread stops when its shoppers run out: a repeat would take another path) or
-- "cycle" (start again from the first). With an empty cookie file, requests carry no cookie.
-- Prints one RESULT line and one STATUS line per answer status, for the bench to read.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local cookies, next_cookie, path, cycle = {}, 0, "/", false
local exhausted = false
-- A global, so `done` can read it from each thread.
statuses = {}

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

-- After the last shopper, a thread still has to return a request: a health check, whose
-- 200 is never a Buy's answer, so it cannot be mistaken for one.
local function filler() return wrk.format("GET", "/healthz") end

function request()
  if exhausted then return filler() end
  next_cookie = next_cookie + 1
  local c = cookies[next_cookie]
  if #cookies > 0 and c == nil then
    if not cycle then
      exhausted = true
      wrk.thread:stop()
      return filler()
    end
    next_cookie = 1
    c = cookies[1]
  end
  local headers = {}
  if c ~= nil then headers["Cookie"] = c end
  return wrk.format("POST", path, headers, nil)
end

function response(status, headers, body)
  if not (exhausted and status == 200) then
    statuses[status] = (statuses[status] or 0) + 1
  end
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
