#include "proto/google/freebusy.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "proto/json/view.hpp"
#include "proto/json/writer.hpp"
#include "rt/datetime.hpp"
#include "rt/json_string.hpp"

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
// The request's members this codec reads, found in one pass (the last of
// duplicates, as json::view::member; the parse refuses duplicates anyway).
struct request_members {
  std::optional<json::view> time_min, time_max, time_zone, group_expansion_max, calendar_expansion_max, items;

  explicit request_members(const json::view& root) {
    root.each_member([&](std::string_view k, const json::view& v) {
      if (k == "timeMin") time_min = v;
      else if (k == "timeMax") time_max = v;
      else if (k == "timeZone") time_zone = v;
      else if (k == "groupExpansionMax") group_expansion_max = v;
      else if (k == "calendarExpansionMax") calendar_expansion_max = v;
      else if (k == "items") items = v;
      return true;
    });
  }
};

std::variant<std::chrono::sys_seconds, api_error> read_time(const std::optional<json::view>& v, std::string_view name) {
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
std::variant<std::optional<int>, api_error> read_expansion(const std::optional<json::view>& v, std::string_view name,
                                                           int max) {
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

std::variant<freebusy_request, api_error> read_request(const json::view& root, const request_limits& lim,
                                                       std::size_t body_bytes) {
  freebusy_request out;
  const request_members m(root);

  auto tmin = read_time(m.time_min, "timeMin");
  if (auto* e = std::get_if<api_error>(&tmin)) return std::move(*e);
  auto tmax = read_time(m.time_max, "timeMax");
  if (auto* e = std::get_if<api_error>(&tmax)) return std::move(*e);
  out.time_min = std::get<std::chrono::sys_seconds>(tmin);
  out.time_max = std::get<std::chrono::sys_seconds>(tmax);

  if (out.time_max <= out.time_min)
    return make_error(400, "calendar", "timeRangeEmpty", "The specified time range is empty.", "timeMax", "parameter");
  if (out.time_max - out.time_min > lim.max_window)
    return make_error(400, "calendar", "timeRangeTooLong", "The requested time range is too long.", "timeMax",
                      "parameter");

  if (const std::optional<json::view>& z = m.time_zone; z && !z->is_null()) {
    auto name = z->as_string();
    if (name) out.zone = rt::time_zone::find(*name);
    if (!out.zone)
      return make_error(400, "global", "invalid",
                        name ? "Invalid time zone: " + echo(*name) + "." : std::string("Invalid time zone."),
                        "timeZone", "parameter");
  }

  auto group = read_expansion(m.group_expansion_max, "groupExpansionMax", max_group_expansion);
  if (auto* e = std::get_if<api_error>(&group)) return std::move(*e);
  out.group_expansion_max = std::get<std::optional<int>>(group);
  auto cals = read_expansion(m.calendar_expansion_max, "calendarExpansionMax", max_calendar_expansion);
  if (auto* e = std::get_if<api_error>(&cals)) return std::move(*e);
  out.calendar_expansion_max = std::get<std::optional<int>>(cals);

  if (const std::optional<json::view>& items = m.items; items && !items->is_null()) {
    if (!items->is_array()) return invalid_items("Invalid items: expected an array of {\"id\": string}.");
    // Room for the usual ids at once (they cannot be longer than the body).
    out.items.reserve(items->size(), std::min(body_bytes, 64 * items->size()));
    std::optional<api_error> bad;
    items->each_item([&](const json::view& item) {
      std::optional<json::view> id = item.member("id");  // nullopt for a non-object too
      std::optional<std::string_view> s;
      if (id)
        if (auto v = id->as_string()) s = *v;
      if (!s) bad = invalid_items("Invalid items: each entry must be an object with a string id.");
      else if (s->empty()) bad = invalid_items("Invalid items: empty calendar id.");
      else out.items.push_back(*s);
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
    if (root.is_object()) out = read_request(root, lim, body.size());
  });
  if (!parsed) return parse_error();
  return out;
}

response_writer::response_writer(const freebusy_request& r, std::size_t expected_calendars,
                                 std::size_t expected_intervals)
    : r_(r) {
  std::size_t ids = 0;
  for (std::string_view id : r.items) ids += id.size();
  // What the answer usually needs, and the most any single write asks room for
  // (an interval asks for more than it writes), so that it is not outgrown.
  out_.resize(160 + ids + 48 * std::max(expected_calendars, r.items.size()) + 70 * expected_intervals + 128);
  put(R"({"kind":"calendar#freeBusy","timeMin":")");
  put_utc_millis(r.time_min);
  put(R"(","timeMax":")");
  put_utc_millis(r.time_max);
  put(R"(","calendars":{)");
}

void response_writer::grow(std::size_t n) { out_.resize(std::max(2 * out_.size(), at_ + n)); }

// "2030-01-07T00:00:00.000Z": Google's echo of the window carries milliseconds
// (google.md §1.3); our instants are whole seconds, so they are always .000.
void response_writer::put_utc_millis(std::chrono::sys_seconds t) {
  char* start = room(rt::max_datetime_chars + 4);
  char* p = rt::write_with_offset(start, t, std::chrono::minutes(0));  // ends in 'Z'
  std::memcpy(p - 1, ".000Z", 5);
  at_ += static_cast<std::size_t>(p + 4 - start);
}

void response_writer::put_json_string(std::string_view s) {
  if (rt::json_plain_size(s) == s.size()) {
    char* p = room(s.size() + 2);
    *p = '"';
    std::memcpy(p + 1, s.data(), s.size());
    p[s.size() + 1] = '"';
    at_ += s.size() + 2;
    return;
  }
  // Escaping appends to the string itself: cut it to what is written, append,
  // then give back the room ahead.
  const std::size_t sized = out_.size();
  out_.resize(at_);
  rt::append_json_string(out_, s);
  at_ = out_.size();
  if (at_ < sized) out_.resize(sized);
}

void response_writer::open_calendar(std::string_view id) {
  if (!first_calendar_) put(",");
  first_calendar_ = false;
  put_json_string(id);
  put(":{");
}

void response_writer::begin_busy(std::string_view id) {
  open_calendar(id);
  put(R"("busy":[)");
  first_interval_ = true;
  busy_at_ = at_;
}

void response_writer::busy_written(std::string_view id, std::string_view intervals) {
  open_calendar(id);
  put(R"("busy":[)");
  put(intervals);
  put("]}");
}

void response_writer::busy(std::chrono::sys_seconds start, std::chrono::sys_seconds end) {
  start = std::max(start, r_.time_min);
  end = std::min(end, r_.time_max);
  if (end <= start) return;
  if (pending_ && start <= pending_->second) {
    pending_->second = std::max(pending_->second, end);
    return;
  }
  flush_pending();
  pending_.emplace(start, end);
}

void response_writer::flush_pending() {
  if (!pending_) return;
  auto offset = [&](std::chrono::sys_seconds t) { return r_.zone ? r_.zone->offset_at(t) : std::chrono::minutes(0); };
  // One interval, written at once.
  constexpr std::string_view open = R"(,{"start":")", middle = R"(","end":")", close = R"("})";
  char* const start = room(open.size() + middle.size() + close.size() + 2 * rt::max_datetime_chars);
  char* p = start;
  const std::string_view lead = first_interval_ ? open.substr(1) : open;
  first_interval_ = false;
  p = std::copy(lead.begin(), lead.end(), p);
  p = rt::write_with_offset(p, pending_->first, offset(pending_->first));
  p = std::copy(middle.begin(), middle.end(), p);
  p = rt::write_with_offset(p, pending_->second, offset(pending_->second));
  p = std::copy(close.begin(), close.end(), p);
  at_ += static_cast<std::size_t>(p - start);
  pending_.reset();
}

std::string_view response_writer::end_busy() {
  flush_pending();
  const std::size_t from = busy_at_, size = at_ - busy_at_;
  put("]}");
  return {out_.data() + from, size};
}

void response_writer::error(std::string_view id, std::string_view domain, std::string_view reason) {
  open_calendar(id);
  put(R"("errors":[{"domain":)");
  put_json_string(domain);
  put(R"(,"reason":)");
  put_json_string(reason);
  put(R"(}],"busy":[]})");
}

std::string response_writer::finish() {
  put("}}");
  out_.resize(at_);
  at_ = 0;
  return std::move(out_);
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

std::string format_response(const freebusy_request& r, const std::vector<calendar_answer>& answers) {
  std::size_t intervals = 0;
  for (const auto& a : answers) intervals += a.busy.size();
  response_writer out(r, answers.size(), intervals);
  seen_ids written;
  std::vector<interval> sorted;
  for (const calendar_answer& a : answers) {
    if (!written.insert(a.id)) continue;  // the first answer wins
    if (!a.error_reason.empty()) {
      out.error(a.id, a.error_domain, a.error_reason);
      continue;
    }
    out.begin_busy(a.id);
    const std::vector<interval>* busy = &a.busy;
    if (!std::is_sorted(a.busy.begin(), a.busy.end())) {
      sorted = a.busy;
      std::sort(sorted.begin(), sorted.end());
      busy = &sorted;
    }
    for (const auto& [start, end] : *busy) out.busy(start, end);
    out.end_busy();
  }
  for (std::string_view id : r.items)
    if (written.insert(id)) out.error(id, "global", "internalError");
  return out.finish();
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
