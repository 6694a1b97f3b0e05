-- Shared by the wrk scripts of bench/lookup.sh: reads the request mix written by
-- mix.py (one line per request: the user numbers it asks for) from $LOOKUP_MIX.
-- Everything is precomputed when the script loads or in init(), so request() only
-- hands out the next prepared string (wrk's Lua cost per request stays constant).
local M = {}

function M.env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then
    if default == nil then error("bench/lookup: environment variable " .. name .. " is not set") end
    return default
  end
  return v
end

-- {{17, 4031}, {5}, ...}
function M.read_mix()
  local path = M.env("LOOKUP_MIX")
  local f = assert(io.open(path, "r"), "bench/lookup: cannot open the mix " .. path)
  local reqs = {}
  for line in f:lines() do
    local users = {}
    for n in line:gmatch("%d+") do users[#users + 1] = tonumber(n) end
    if #users > 0 then reqs[#reqs + 1] = users end
  end
  f:close()
  assert(#reqs > 0, "bench/lookup: the mix " .. path .. " is empty")
  return reqs
end

function M.address(n)
  return string.format("user%05d@%s", n, M.env("LOOKUP_DOMAIN", "corp.example"))
end

-- Prints, after wrk's own report, one line the benchmark script parses:
--   LOOKUP requests=N users=M
-- users: the user lookups in the first N prepared requests (taken in order, cycling),
-- i.e. what the completed requests asked for (up to the requests still in flight
-- when wrk stopped: at most one per connection).
function M.done(summary, per_request_users)
  local n, users = summary.requests, 0
  local k = #per_request_users
  local full = math.floor(n / k)
  if full > 0 then
    local all = 0
    for i = 1, k do all = all + per_request_users[i] end
    users = full * all
  end
  for i = 1, n - full * k do users = users + per_request_users[i] end
  io.write(string.format("LOOKUP requests=%d users=%d\n", n, users))
end

-- Defines wrk's request() (the prepared requests in turn, cycling) and done() (the
-- LOOKUP line) over `prepared` (filled later, in init()) and the users per request.
function M.serve(prepared, per_request_users)
  local next_index = 1
  request = function()
    local r = prepared[next_index]
    next_index = next_index + 1
    if next_index > #prepared then next_index = 1 end
    return r
  end
  done = function(summary, latency, requests)
    M.done(summary, per_request_users)
  end
end

return M
