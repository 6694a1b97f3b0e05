#pragma once
// The Google Calendar API v3 freeBusy.query wire format (reference/google.md §1),
// as a pure codec: request body -> freebusy_request or Google's error, answers ->
// response body. No HTTP, no I/O: routes, auth and lookups live elsewhere.
//
// The aim is that the official Google clients cannot tell us from Google, so
// validation, error reasons, messages and locations copy Google's (§1.2, §1.4,
// §1.6). Where Google's behaviour is not confirmed the choice is noted below.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "rt/timezone.hpp"

namespace calgate::proto::google {

// Documented ceilings for the two optional request members (google.md §1.2).
// Google answers at most 50 calendars per query; the caller enforces that by
// giving the excess entries tooManyCalendarsRequested (§1.6), not an HTTP error.
inline constexpr int max_calendar_expansion = 50;
inline constexpr int max_group_expansion = 100;

// One whole-request failure, in Google's error envelope (google.md §1.5).
struct api_error {
  int status = 400;
  std::string domain = "global", reason = "badRequest", message;
  std::string location, location_type;  // e.g. "timeMax", "parameter"; empty = omitted
};

// Calendar ids in request order, kept in one buffer: a request's ids cost two
// allocations, not one each. Reads like a vector of string_views (valid until
// the list is next changed).
class id_list {
 public:
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = std::string_view;
    iterator() = default;
    iterator(const id_list* l, std::size_t i) noexcept : l_(l), i_(i) {}
    std::string_view operator*() const noexcept { return (*l_)[i_]; }
    iterator& operator++() noexcept {
      ++i_;
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator t = *this;
      ++i_;
      return t;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.i_ == b.i_ && a.l_ == b.l_; }

   private:
    const id_list* l_ = nullptr;
    std::size_t i_ = 0;
  };

  id_list() = default;
  id_list(std::initializer_list<std::string_view> ids) {
    for (std::string_view id : ids) push_back(id);
  }
  void reserve(std::size_t ids, std::size_t bytes) {
    spans_.reserve(ids);
    text_.reserve(bytes);
  }
  void push_back(std::string_view id) {
    spans_.push_back({text_.size(), id.size()});
    text_.append(id);
  }
  std::size_t size() const noexcept { return spans_.size(); }
  bool empty() const noexcept { return spans_.empty(); }
  std::string_view operator[](std::size_t i) const noexcept {
    return {text_.data() + spans_[i].first, spans_[i].second};
  }
  std::string_view at(std::size_t i) const { return i < size() ? (*this)[i] : throw std::out_of_range("id_list::at"); }
  iterator begin() const noexcept { return {this, 0}; }
  iterator end() const noexcept { return {this, size()}; }
  friend bool operator==(const id_list& a, const std::vector<std::string>& b) noexcept {
    return a.size() == b.size() && std::equal(b.begin(), b.end(), a.begin());
  }

 private:
  std::string text_;                                       // the ids, back to back
  std::vector<std::pair<std::size_t, std::size_t>> spans_;  // (offset, size) of each
};

struct freebusy_request {
  std::chrono::sys_seconds time_min{}, time_max{};  // UTC instants (fractions of a second dropped)
  std::optional<rt::time_zone> zone;                // the request's timeZone (nullopt: UTC output with "Z")
  id_list items;                                    // calendar ids in request order (as sent, duplicates kept)
  // Accepted and range-checked; nullopt when absent or null. The caller decides
  // what to do with them (no group expansion is done here).
  std::optional<int> group_expansion_max{}, calendar_expansion_max{};
};

struct request_limits {
  // ~62 days: the smaller of Google's undocumented ~90 days and Exchange's 62 (§1.6).
  std::chrono::seconds max_window{62 * 24 * 3600};
  std::size_t max_body_bytes = 1 << 20;
};

// Validates like Google (google.md §1.2, §1.4, §1.6). Errors, in check order:
// - body over max_body_bytes -> 413 global/requestTooLarge (not Google's, which
//   answers from its front end; the HTTP layer should stop such bodies first);
// - not JSON (syntax, bad UTF-8, a raw NUL, duplicate member names, nesting
//   deeper than 64) or not an object -> 400 global/parseError "Parse Error";
// - timeMin/timeMax absent or null -> 400 global/required "Missing timeMin parameter."
//   (location the field, type "parameter");
// - a time that is not an RFC 3339 string with an offset -> 400 global/badRequest
//   naming the field (location the field, type "parameter");
// - timeMax <= timeMin -> 400 calendar/timeRangeEmpty, location timeMax;
// - window > max_window -> 400 calendar/timeRangeTooLong, location timeMax;
// - timeZone not a known IANA name -> 400 global/invalid, location timeZone;
// - groupExpansionMax outside 1..100, calendarExpansionMax outside 1..50, or
//   not integers -> 400 global/invalid, location the field;
// - items not an array of objects with a non-empty string "id" -> 400
//   global/invalid, location "items".
// Unknown members (also inside items) are ignored, as Google does. An absent
// or null items gives an empty list.
std::variant<freebusy_request, api_error> parse_request(std::string_view body, const request_limits& lim = {});

struct calendar_answer {
  std::string id;  // as requested
  // [start, end) UTC intervals. format_response sorts them, merges overlapping
  // and touching ones and clips them to the request window, so callers may
  // pass Exchange's raw list.
  std::vector<std::pair<std::chrono::sys_seconds, std::chrono::sys_seconds>> busy;
  std::string error_reason;  // "" = ok; else "notFound", "internalError", "tooManyCalendarsRequested", ...
  std::string error_domain = "global";
};

// {"kind":"calendar#freeBusy","timeMin":...,"timeMax":...,"calendars":{id:{"busy":[...]} or
//  {"errors":[{"domain","reason"}],"busy":[]}}}
// timeMin/timeMax are echoed as UTC with milliseconds ("2030-01-07T00:00:00.000Z").
// Busy start/end carry the request zone's offset at each instant
// ("2030-01-07T10:00:00+01:00"); an offset of zero is written "Z" (no zone,
// UTC, or e.g. Europe/London in winter; RFC 3339 makes both forms equal).
// Calendars appear in the order written. format_response writes an id
// answered twice once (the first answer), and gives a requested id with no
// answer at all global/internalError rather than letting it vanish: a missing
// calendar must never read as "free". Output is valid JSON whatever bytes the
// ids hold.
//
// response_writer writes it calendar by calendar, straight from the caller's
// own data (the freeBusy route writes from lookup results, with no copies).
// The caller writes each distinct id exactly once (a JSON object names each
// member once), and every requested id.
class response_writer {
 public:
  // r must outlive the writer. expected_calendars and expected_intervals size the buffer.
  explicit response_writer(const freebusy_request& r, std::size_t expected_calendars = 0,
                           std::size_t expected_intervals = 0);

  // One calendar's busy time: begin_busy(id), then busy() for each interval in
  // order of start, then end_busy(). Intervals are clipped to the request
  // window; overlapping and touching ones are joined.
  void begin_busy(std::string_view id);
  void busy(std::chrono::sys_seconds start, std::chrono::sys_seconds end);
  // Returns what was written between the list's brackets (valid until the next
  // write): it depends only on the intervals, the window and the time zone, so a
  // caller may keep it and write it again with busy_written().
  std::string_view end_busy();
  // One calendar's busy list as end_busy() returned it for the same window and zone.
  void busy_written(std::string_view id, std::string_view intervals);
  // A calendar that could not be answered.
  void error(std::string_view id, std::string_view domain, std::string_view reason);
  // The body.
  std::string finish();

 private:
  void open_calendar(std::string_view id);  // ,"id":{
  void flush_pending();
  // Where to write next, with room for n bytes.
  char* room(std::size_t n) {
    if (n > out_.size() - at_) grow(n);
    return out_.data() + at_;
  }
  void grow(std::size_t n);
  void put(std::string_view s) {
    std::memcpy(room(s.size()), s.data(), s.size());
    at_ += s.size();
  }
  void put_json_string(std::string_view s);
  void put_utc_millis(std::chrono::sys_seconds t);

  // The body, written directly: its shape is fixed, and only ids need escaping.
  // out_ is sized ahead (resized, never appended to) and cut to at_ by finish().
  const freebusy_request& r_;
  std::string out_;
  std::size_t at_ = 0;  // bytes written
  std::size_t busy_at_ = 0;  // where the open busy list's intervals begin
  bool first_calendar_ = true, first_interval_ = true;
  std::optional<std::pair<std::chrono::sys_seconds, std::chrono::sys_seconds>> pending_;  // not yet written (may grow)
};

std::string format_response(const freebusy_request& r, const std::vector<calendar_answer>& answers);

// {"error":{"code":..,"message":..,"errors":[{"domain","reason","message"[,"location","locationType"]}],
//  "status":"INVALID_ARGUMENT"|...}}
// status from the HTTP code: 400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED,
// 404 NOT_FOUND, 409 ABORTED, 412 FAILED_PRECONDITION, 429 RESOURCE_EXHAUSTED, 500 INTERNAL,
// 501 UNIMPLEMENTED, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED; any other 4xx INVALID_ARGUMENT,
// any other code INTERNAL.
std::string format_error(const api_error& e);
std::string_view rpc_status(int http_status) noexcept;

// Common whole-request errors (google.md §1.5).
api_error auth_error();     // 401 global/authError "Invalid Credentials", location Authorization, type header
api_error backend_error();  // 503 global/backendError "Backend Error"
api_error rate_limited();   // 429 usageLimits/rateLimitExceeded "Rate Limit Exceeded"

}  // namespace calgate::proto::google
