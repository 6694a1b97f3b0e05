-- wrk script: CalDAV free/busy through DavMail, one user per request (a CalDAV
-- scheduling POST to the organizer's outbox with one ATTENDEE, the way CalDAV clients
-- ask for free/busy), for the same users in the same order as freebusy.lua: the
-- mix's requests flattened.
--   LOOKUP_MIX         the mix file (required)
--   LOOKUP_ORGANIZER   the logged-in user, whose outbox is posted to
--   LOOKUP_BASIC       base64 of "login:password" (DavMail's CalDAV side takes Basic only)
--   LOOKUP_ICAL_START, LOOKUP_ICAL_END   the window (iCalendar UTC form)
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local common = require("common")

local users = {}
for _, req in ipairs(common.read_mix()) do
  for _, n in ipairs(req) do users[#users + 1] = n end
end
local counts = {}
for i = 1, #users do counts[i] = 1 end

local prepared = {}

function init(args)
  local organizer = common.env("LOOKUP_ORGANIZER")
  local dtstart = common.env("LOOKUP_ICAL_START", "20310512T000000Z")
  local dtend = common.env("LOOKUP_ICAL_END", "20310519T000000Z")
  local headers = {
    ["Content-Type"] = "text/calendar; charset=utf-8",
    ["Authorization"] = "Basic " .. common.env("LOOKUP_BASIC"),
  }
  local path = "/users/" .. organizer .. "/outbox/"
  for i, n in ipairs(users) do
    local body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calgate//bench lookup//EN\r\nMETHOD:REQUEST\r\n" ..
                 "BEGIN:VFREEBUSY\r\nUID:calgate-bench-" .. i .. "\r\nDTSTAMP:20310501T000000Z\r\n" ..
                 "DTSTART:" .. dtstart .. "\r\nDTEND:" .. dtend .. "\r\n" ..
                 "ORGANIZER:mailto:" .. organizer .. "\r\n" ..
                 "ATTENDEE:mailto:" .. common.address(n) .. "\r\n" ..
                 "END:VFREEBUSY\r\nEND:VCALENDAR\r\n"
    prepared[i] = wrk.format("POST", path, headers, body)
  end
end

common.serve(prepared, counts)
