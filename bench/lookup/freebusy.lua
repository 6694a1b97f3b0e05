-- wrk script: POST /calendar/v3/freeBusy (Google Calendar API v3 freeBusy.query) with
-- the request mix of mix.py: one prepared request per mix line, in order, cycling.
--   LOOKUP_MIX      the mix file (required)
--   LOOKUP_TOKEN    the bearer token ([freebusy_api] tokens)
--   LOOKUP_TIME_MIN, LOOKUP_TIME_MAX   the window, the same for every request
-- Also used against nginx (same requests, static answer of the same size).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local common = require("common")

local mix = common.read_mix()
local counts = {}
for i, users in ipairs(mix) do counts[i] = #users end

local prepared = {}

function init(args)
  local token = common.env("LOOKUP_TOKEN")
  local time_min = common.env("LOOKUP_TIME_MIN", "2031-05-12T00:00:00Z")
  local time_max = common.env("LOOKUP_TIME_MAX", "2031-05-19T00:00:00Z")
  local path = common.env("LOOKUP_PATH", "/calendar/v3/freeBusy")
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }
  for i, users in ipairs(mix) do
    local items = {}
    for j, n in ipairs(users) do items[j] = '{"id":"' .. common.address(n) .. '"}' end
    local body = '{"timeMin":"' .. time_min .. '","timeMax":"' .. time_max .. '","items":[' ..
                 table.concat(items, ",") .. ']}'
    prepared[i] = wrk.format("POST", path, headers, body)
  end
end

common.serve(prepared, counts)
