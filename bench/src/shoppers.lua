-- wrk script: every request a Buy (POST to the path) by the next shopper of a cookie file, so
-- each request takes the path its cookies lead to. args: cookie file, path, threads,
-- "stop" (each shopper once: the run ends when they are out and answered, or at -d) or
-- "cycle" (start again from the first until -d), an empty folder for "stop" to mark
-- finished threads in, and the method (POST when absent). With an empty cookie file, requests
-- carry no cookie. A line may carry a form body after a tab: "cookie<TAB>a=1&b=2".
-- Prints one RESULT line and one STATUS line per answer status, for the bench to read.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local cookies, next_cookie, path, cycle, done_dir, nthreads = {}, 0, "/", false, "", 1
local method, bodies = "POST", {}
-- Buys sent and answered by this thread; whether its shoppers ran out; whether it finished.
local sent, answered, exhausted, finished = 0, 0, false, false
-- A global, so `done` can read it from each thread.
statuses = {}

function init(args)
  path = args[2]
  nthreads = tonumber(args[3])
  cycle = args[4] == "cycle"
  done_dir = args[5]
  method = args[6] or "POST"
  local n, i = 0, 0
  for line in io.lines(args[1]) do
    i = i + 1
    -- Thread t of T takes lines t, t+T, t+2T...: shoppers never repeat across threads.
    if (i - tid) % nthreads == 0 then
      n = n + 1
      local tab = string.find(line, "\t", 1, true)
      if tab then
        cookies[n] = string.sub(line, 1, tab - 1)
        bodies[n] = string.sub(line, tab + 1)
      else
        cookies[n] = line
      end
    end
  end
end

-- The thread's shoppers are out and every Buy it sent is answered: it stops and leaves a mark
-- in the folder. wrk's main thread sleeps the whole -d whatever its threads do, so the bench
-- watches the folder and, when every thread has marked it, stops wrk with SIGINT (as Ctrl-C
-- would; wrk then reports the time actually taken).
local function finish()
  if finished then return end
  finished = true
  wrk.thread:stop()
  local mark = io.open(done_dir .. "/" .. tid, "w")
  if mark ~= nil then mark:close() end
end

-- After the last shopper a thread must still return requests until its own are answered:
-- GET /getOne, whose 405 no measured request gets (a join or a status poll answers 200, so a
-- health check could not be told apart), so they are not counted.
local function filler() return wrk.format("GET", "/getOne") end

-- wrk calls request() once on the first thread before the run, to check the request it
-- returns, and never sends that one: it must not use up a shopper or count as sent.
local checked = false

function request()
  if tid == 1 and not checked then
    checked = true
    return wrk.format(method, path)
  end
  if not exhausted then
    next_cookie = next_cookie + 1
    local c = cookies[next_cookie]
    if #cookies > 0 and c == nil then
      if cycle then
        next_cookie = 1
        c = cookies[1]
      else
        exhausted = true
      end
    end
    if not exhausted then
      sent = sent + 1
      local headers = {}
      if c ~= nil then headers["Cookie"] = c end
      local body = bodies[next_cookie]
      if body ~= nil then
        headers["Content-Type"] = "application/x-www-form-urlencoded"
      end
      return wrk.format(method, path, headers, body)
    end
  end
  if answered == sent then finish() end
  return filler()
end

function response(status, headers, body)
  if exhausted and status == 405 then return end
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if exhausted and answered == sent then finish() end
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
