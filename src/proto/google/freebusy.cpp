#include "proto/google/freebusy.hpp"

#include <algorithm>
#include <unordered_set>

#include "proto/json/view.hpp"
#include "proto/json/writer.hpp"
#include "rt/datetime.hpp"

namespace calgate::proto::google {

namespace {

using interval = std::pair<std::chrono::sys_seconds, std::chrono::sys_seconds>;

api_error make_error(int status, std::string domain, std::string reason, std::string message,
                     std::string location = {}, std::string location_type = {}) {
  api_error e;
  e.status = status;
  e.domain = std::move(domain);
  e.reason = std::move(reason);
  e.message = std::move(message);
  e.location = std::move(location);
  e.location_type = std::move(location_type);
  return e;
}

// Client text echoed in a message is cut short so a hostile request cannot
// make the error body large; the cut backs off to a UTF-8 boundary.
std::string echo(std::string_view s) {
  constexpr std::size_t max_echo = 64;
  if (s.size() <= max_echo) return std::string(s);
  std::size_t n = max_echo;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n)) + "...";
}

api_error parse_error() { return make_error(400, "global", "parseError", "Parse Error"); }

// One of timeMin/timeMax: required, an RFC 3339 string with an explicit offset
// (Google answers 400 badRequest to times without one, google.md §1.2).
std::variant<std::chrono::sys_seconds, api_error> read_time(const json::view& root, std::string_view name) {
  std::optional<json::view> v = root.member(name);
  if (!v || v->is_null())
    return make_error(400, "global", "required", "Missing " + std::string(name) + " parameter.", std::string(name),
                      "parameter");
  auto s = v->as_string();
  std::optional<rt::parsed_datetime> t;
  if (s) t = rt::parse_datetime(*s);
  if (!t || !t->had_offset)
    return make_error(400, "global", "badRequest",
                      "Invalid " + std::string(name) + ": expected an RFC 3339 date-time with a time zone offset.",
                      std::string(name), "parameter");
  return t->utc;
}

// groupExpansionMax / calendarExpansionMax: an integer in 1..max when present.
std::variant<std::optional<int>, api_error> read_expansion(const json::view& root, std::string_view name, int max) {
  std::optional<json::view> v = root.member(name);
  if (!v || v->is_null()) return std::optional<int>{};
  auto n = v->as_int();
  if (!n || *n < 1 || *n > max)
    return make_error(400, "global", "invalid",
                      "Invalid value for " + std::string(name) + ": must be an integer from 1 to " +
                          std::to_string(max) + ".",
                      std::string(name), "parameter");
  return std::optional<int>(static_cast<int>(*n));
}

api_error invalid_items(std::string message) {
  return make_error(400, "global", "invalid", std::move(message), "items", "parameter");
}

// "2030-01-07T00:00:00.000Z": Google's echo of the window carries milliseconds
// (google.md §1.3); our instants are whole seconds, so they are always .000.
std::string format_utc_millis(std::chrono::sys_seconds t) {
  std::string s = rt::format_utc(t);
  s.insert(s.size() - 1, ".000");
  return s;
}

// Which ids were written: a scan over the usual few dozen, a hash set beyond.
class seen_ids {
 public:
  bool insert(std::string_view id) {
    if (many_.empty()) {
      if (std::find(few_.begin(), few_.end(), id) != few_.end()) return false;
      few_.push_back(id);
      if (few_.size() > 64) many_.insert(few_.begin(), few_.end());
      return true;
    }
    return many_.insert(id).second;
  }

 private:
  std::vector<std::string_view> few_;
  std::unordered_set<std::string_view> many_;
};

// {"start":"2030-01-07T10:00:00+01:00","end":"..."} in buf (reused), for json::writer::raw_value.
std::string_view interval_object(std::string& buf, std::chrono::sys_seconds start, std::chrono::sys_seconds end,
                                 const std::optional<rt::time_zone>& zone) {
  auto offset = [&](std::chrono::sys_seconds t) { return zone ? zone->offset_at(t) : std::chrono::minutes(0); };
  buf.assign(R"({"start":")");
  rt::append_with_offset(buf, start, offset(start));
  buf += R"(","end":")";
  rt::append_with_offset(buf, end, offset(end));
  buf += R"("})";
  return buf;
}

// Sorted, non-overlapping, inside the window (§1.6): Exchange may return
// overlapping items and items that stick out of the asked window, and clients
// (and our own Sync-side consumers) assume Google's clean shape.
const std::vector<interval>& normalise(const std::vector<interval>& busy, std::chrono::sys_seconds lo,
                                      std::chrono::sys_seconds hi, std::vector<interval>& scratch) {
  // Usually already clean (calgate's own lookups): then no copy at all.
  bool clean = true;
  for (std::size_t i = 0; i < busy.size() && clean; ++i) {
    const interval& b = busy[i];
    clean = b.first >= lo && b.second <= hi && b.first < b.second && (i == 0 || busy[i - 1].second < b.first);
  }
  if (clean) return busy;
  std::vector<interval> sorted = busy;
  for (auto& b : sorted) {
    b.first = std::max(b.first, lo);
    b.second = std::min(b.second, hi);
  }
  std::erase_if(sorted, [](const interval& b) { return b.second <= b.first; });
  std::sort(sorted.begin(), sorted.end());
  scratch.clear();
  for (const auto& b : sorted) {
    if (!scratch.empty() && b.first <= scratch.back().second)
      scratch.back().second = std::max(scratch.back().second, b.second);
    else
      scratch.push_back(b);
  }
  return scratch;
}

void write_calendar_error(json::writer& w, std::string_view domain, std::string_view reason) {
  w.begin_object();
  w.key("errors").begin_array().begin_object();
  w.member("domain", domain).member("reason", reason);
  w.end_object().end_array();
  w.key("busy").begin_array().end_array();
  w.end_object();
}

std::variant<freebusy_request, api_error> read_request(const json::view& root, const request_limits& lim) {
  freebusy_request out;

  auto tmin = read_time(root, "timeMin");
  if (auto* e = std::get_if<api_error>(&tmin)) return std::move(*e);
  auto tmax = read_time(root, "timeMax");
  if (auto* e = std::get_if<api_error>(&tmax)) return std::move(*e);
  out.time_min = std::get<std::chrono::sys_seconds>(tmin);
  out.time_max = std::get<std::chrono::sys_seconds>(tmax);

  if (out.time_max <= out.time_min)
    return make_error(400, "calendar", "timeRangeEmpty", "The specified time range is empty.", "timeMax", "parameter");
  if (out.time_max - out.time_min > lim.max_window)
    return make_error(400, "calendar", "timeRangeTooLong", "The requested time range is too long.", "timeMax",
                      "parameter");

  if (std::optional<json::view> z = root.member("timeZone"); z && !z->is_null()) {
    auto name = z->as_string();
    if (name) out.zone = rt::time_zone::find(*name);
    if (!out.zone)
      return make_error(400, "global", "invalid",
                        name ? "Invalid time zone: " + echo(*name) + "." : std::string("Invalid time zone."),
                        "timeZone", "parameter");
  }

  auto group = read_expansion(root, "groupExpansionMax", max_group_expansion);
  if (auto* e = std::get_if<api_error>(&group)) return std::move(*e);
  out.group_expansion_max = std::get<std::optional<int>>(group);
  auto cals = read_expansion(root, "calendarExpansionMax", max_calendar_expansion);
  if (auto* e = std::get_if<api_error>(&cals)) return std::move(*e);
  out.calendar_expansion_max = std::get<std::optional<int>>(cals);

  if (std::optional<json::view> items = root.member("items"); items && !items->is_null()) {
    if (!items->is_array()) return invalid_items("Invalid items: expected an array of {\"id\": string}.");
    out.items.reserve(items->size());
    std::optional<api_error> bad;
    items->each_item([&](const json::view& item) {
      std::optional<json::view> id = item.member("id");  // nullopt for a non-object too
      std::optional<std::string_view> s;
      if (id)
        if (auto v = id->as_string()) s = *v;
      if (!s) bad = invalid_items("Invalid items: each entry must be an object with a string id.");
      else if (s->empty()) bad = invalid_items("Invalid items: empty calendar id.");
      else out.items.emplace_back(*s);
      return !bad;
    });
    if (bad) return std::move(*bad);
  }
  return out;
}

}  // namespace

std::variant<freebusy_request, api_error> parse_request(std::string_view body, const request_limits& lim) {
  if (body.size() > lim.max_body_bytes)
    return make_error(413, "global", "requestTooLarge", "The request body is too large.");

  json::limits jl;
  jl.max_bytes = lim.max_body_bytes;
  std::variant<freebusy_request, api_error> out = parse_error();
  // Read straight from the parser's buffers (no tree): everything kept is copied out.
  auto parsed = json::read(body, jl, [&](const json::view& root) {
    if (root.is_object()) out = read_request(root, lim);
  });
  if (!parsed) return parse_error();
  return out;
}

std::string format_response(const freebusy_request& r, const std::vector<calendar_answer>& answers) {
  json::writer w;
  std::size_t expected = 160;
  for (const auto& a : answers) expected += a.id.size() + 48 + a.busy.size() * 70;
  w.reserve(expected);
  std::string scratch;
  std::vector<interval> merged;
  w.begin_object();
  w.member("kind", "calendar#freeBusy");
  w.member("timeMin", format_utc_millis(r.time_min));
  w.member("timeMax", format_utc_millis(r.time_max));
  w.key("calendars").begin_object();
  // A JSON object names each member once; the first answer wins.
  seen_ids written;
  for (const calendar_answer& a : answers) {
    if (!written.insert(a.id)) continue;
    w.key(a.id);
    if (!a.error_reason.empty()) {
      write_calendar_error(w, a.error_domain, a.error_reason);
      continue;
    }
    w.begin_object().key("busy").begin_array();
    for (const auto& [start, end] : normalise(a.busy, r.time_min, r.time_max, merged)) {
      // Fixed keys and times that need no JSON escaping: written straight into a reused buffer.
      w.raw_value(interval_object(scratch, start, end, r.zone));
    }
    w.end_array().end_object();
  }
  for (const std::string& id : r.items) {
    if (!written.insert(id)) continue;
    w.key(id);
    write_calendar_error(w, "global", "internalError");
  }
  w.end_object();
  w.end_object();
  return w.take();
}

std::string_view rpc_status(int http_status) noexcept {
  switch (http_status) {
    case 400: return "INVALID_ARGUMENT";
    case 401: return "UNAUTHENTICATED";
    case 403: return "PERMISSION_DENIED";
    case 404: return "NOT_FOUND";
    case 409: return "ABORTED";
    case 412: return "FAILED_PRECONDITION";
    case 429: return "RESOURCE_EXHAUSTED";
    case 500: return "INTERNAL";
    case 501: return "UNIMPLEMENTED";
    case 503: return "UNAVAILABLE";
    case 504: return "DEADLINE_EXCEEDED";
    default: return http_status >= 400 && http_status < 500 ? "INVALID_ARGUMENT" : "INTERNAL";
  }
}

std::string format_error(const api_error& e) {
  json::writer w;
  w.begin_object().key("error").begin_object();
  w.member("code", e.status);
  w.member("message", e.message);
  w.key("errors").begin_array().begin_object();
  w.member("domain", e.domain).member("reason", e.reason).member("message", e.message);
  if (!e.location.empty()) w.member("location", e.location);
  if (!e.location_type.empty()) w.member("locationType", e.location_type);
  w.end_object().end_array();
  w.member("status", rpc_status(e.status));
  w.end_object().end_object();
  return w.take();
}

api_error auth_error() {
  return make_error(401, "global", "authError", "Invalid Credentials", "Authorization", "header");
}
api_error backend_error() { return make_error(503, "global", "backendError", "Backend Error"); }
api_error rate_limited() { return make_error(429, "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded"); }

}  // namespace calgate::proto::google
