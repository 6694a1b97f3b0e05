#include "app/lookup_routes.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <memory>
#include <span>
#include <unordered_set>

#include "proto/connector/lookup_protocol.hpp"
#include "proto/google/freebusy.hpp"
#include "rt/log.hpp"
#include "rt/text.hpp"

namespace calgate::app {

namespace {

namespace google = proto::google;
namespace connector = proto::connector;
using net::http::request;
using net::http::response;
using svc::lookup_errc;

// Compares without leaking where the first difference is (tokens are secrets;
// their length is not).
bool same_secret(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  unsigned diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

bool authorized(const request& r, const std::vector<std::string>& tokens) {
  auto h = r.headers.get("Authorization");
  if (!h || h->size() < 7 || !net::http::iequals(h->substr(0, 7), "bearer ")) return false;
  std::string_view token = h->substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  bool ok = false;
  for (const auto& t : tokens) ok |= same_secret(token, t);
  return ok && !token.empty();
}

response google_json(int status, std::string body) {
  // Google's own header (google.md §1.5), not response::json's.
  response out;
  out.status = status;
  out.body = std::move(body);
  out.add_static_header({"Content-Type", "application/json; charset=UTF-8"});
  out.add_static_header({"Cache-Control", "no-cache, no-store, max-age=0, must-revalidate"});
  return out;
}

response google_error(const google::api_error& e, const request& r) {
  response out = google_json(e.status, google::format_error(e));
  if (e.status == 401) out.headers.add("WWW-Authenticate", "Bearer realm=\"calgate\"");
  if (e.status >= 500) log::warn("freeBusy failed", {{"request_id", r.request_id}, {"status", e.status}, {"reason", e.reason}});
  return out;
}

bool transient(std::error_code ec) {
  if (!ec || ec.category() != svc::lookup_category()) return false;
  switch (static_cast<lookup_errc>(ec.value())) {
    case lookup_errc::directory_failed:
    case lookup_errc::upstream_failed:
    case lookup_errc::timed_out: return true;
    default: return false;
  }
}

// The key of a freeBusy busy list's kept rendering: the format, the window
// (intervals are clipped to it) and the output time zone. Built on the stack;
// empty (busy_list then neither finds nor keeps one) in the unlikely case a
// zone name does not fit.
class freebusy_rendering {
 public:
  explicit freebusy_rendering(const google::freebusy_request& q) {
    char* p = buf_;
    char* const end = buf_ + sizeof buf_;
    const std::string_view tag = "google-busy-1|";
    p = std::copy(tag.begin(), tag.end(), p);
    p = std::to_chars(p, end, q.time_min.time_since_epoch().count()).ptr;
    *p++ = '|';
    p = std::to_chars(p, end, q.time_max.time_since_epoch().count()).ptr;
    *p++ = '|';
    const std::string_view zone = q.zone ? q.zone->name() : std::string_view("Z");
    if (zone.size() > static_cast<std::size_t>(end - p)) return;
    p = std::copy(zone.begin(), zone.end(), p);
    size_ = static_cast<std::size_t>(p - buf_);
  }
  std::string_view key() const noexcept { return {buf_, size_}; }

 private:
  char buf_[192];  // the tag, two int64s and any IANA zone name fit
  std::size_t size_ = 0;
};

void add_freebusy_route(net::http::router& routes, svc::lookup_service* lookups, const config::root& cfg) {
  const config::freebusy_api api = cfg.freebusy_api;
  google::request_limits limits;
  limits.max_window = std::chrono::duration_cast<std::chrono::seconds>(cfg.lookup.max_window);
  limits.max_body_bytes = static_cast<std::size_t>(cfg.server.max_body_bytes);
  routes.add("POST", "/calendar/v3/freeBusy", [lookups, api, limits](request& r) -> rt::task<response> {
    if (!authorized(r, api.tokens)) co_return google_error(google::auth_error(), r);
    auto parsed = google::parse_request(r.body, limits);
    if (auto* e = std::get_if<google::api_error>(&parsed)) co_return google_error(*e, r);
    auto& q = std::get<google::freebusy_request>(parsed);
    if (!lookups) co_return google_error(google::backend_error(), r);

    // The first max_calendars distinct ids are looked up; the rest are refused one by one.
    // Each distinct id is answered once, where it first appears (a JSON object names a member once).
    std::vector<std::string_view> asked;  // borrowed from q, which outlives the lookup
    asked.reserve(std::min<std::size_t>(q.items.size(), api.max_calendars));
    constexpr std::ptrdiff_t refused = -1, repeat = -2;
    // Per id: its place in asked, or refused, or repeat (inline for the usual request).
    constexpr std::size_t inline_ids = 64;
    std::array<std::ptrdiff_t, inline_ids> small_index;
    std::vector<std::ptrdiff_t> large_index;
    if (q.items.size() > inline_ids) large_index.resize(q.items.size());
    const std::span<std::ptrdiff_t> index_of =
        q.items.size() > inline_ids ? std::span<std::ptrdiff_t>(large_index)
                                    : std::span<std::ptrdiff_t>(small_index.data(), q.items.size());
    // Repeats: found by a scan over the usual few earlier ids, a hash set for large requests.
    constexpr std::size_t scan_limit = 16;
    std::unordered_set<std::string_view> seen;
    if (q.items.size() > scan_limit) seen.reserve(q.items.size());
    auto first_time = [&](std::size_t i) {
      if (q.items.size() <= scan_limit) {
        for (std::size_t j = 0; j < i; ++j)
          if (q.items[j] == q.items[i]) return false;
        return true;
      }
      return seen.insert(q.items[i]).second;
    };
    for (std::size_t i = 0; i < q.items.size(); ++i) {
      index_of[i] = refused;
      if (!first_time(i)) {
        index_of[i] = repeat;
        continue;
      }
      if (asked.size() >= api.max_calendars) continue;  // refused
      index_of[i] = static_cast<std::ptrdiff_t>(asked.size());
      asked.push_back(q.items[i]);
    }
    auto results = co_await lookups->lookup(std::move(asked), q.time_min, q.time_max);

    // Nothing could be answered because Exchange or the directory is down: a whole-request error.
    const auto failed = std::count_if(results.begin(), results.end(), [](const auto& u) { return transient(u.error); });
    if (!results.empty() && static_cast<std::size_t>(failed) == results.size()) {
      log::warn("freeBusy: no calendar could be read",
                {{"request_id", r.request_id}, {"calendars", results.size()}, {"error", results.front().detail}});
      co_return google_error(google::backend_error(), r);
    }
    std::size_t intervals = 0;
    for (const auto& u : results) intervals += u.busy.size();
    // What a kept rendering of a busy list depends on besides the intervals.
    const freebusy_rendering rendering(q);
    google::response_writer out(q, q.items.size(), intervals);
    for (std::size_t i = 0; i < q.items.size(); ++i) {
      const std::string_view id = q.items[i];
      if (index_of[i] == repeat) continue;
      if (index_of[i] == refused) {
        out.error(id, "calendar", "tooManyCalendarsRequested");
        continue;
      }
      const svc::user_result& u = results[static_cast<std::size_t>(index_of[i])];
      if (transient(u.error)) {
        out.error(id, "global", "internalError");
      } else if (u.error) {
        out.error(id, "global", "notFound");  // unknown, not an address, or not shared: Google says notFound for all
      } else if (const std::string* kept = u.busy.rendered(rendering.key())) {
        out.busy_written(id, *kept);
      } else {
        // Sorted and inside the window; statuses are dropped (Google knows only "busy") and
        // the writer joins intervals that now touch. What it wrote is kept with the
        // intervals (shared with the cached answer) for the next request of this
        // window and zone.
        out.begin_busy(id);
        for (const auto& b : u.busy) out.busy(b.start, b.end);
        u.busy.keep_rendered(rendering.key(), out.end_busy());
      }
    }
    co_return google_json(200, out.finish());
  });
}

response legacy_page(const config::legacy_lookup& cfg, const request& r, const std::string& expression) {
  auto referer = r.headers.get("Referer");
  std::string action = connector::mailslot_url(cfg.mailslot_url, referer ? *referer : std::string_view{}, cfg.default_ssl);
  response out = response::text(200, connector::html_page(action, expression), "text/html; charset=utf-8");
  out.headers.add("Cache-Control", "no-store");
  out.headers.add("Expires", "0");
  return out;
}

connector::entry_status legacy_status(svc::busy_type b) {
  return b == svc::busy_type::tentative ? connector::entry_status::tentative : connector::entry_status::accepted;
}

void add_legacy_route(net::http::router& routes, svc::lookup_service* lookups, svc::directory* dir,
                      const config::root& cfg) {
  const config::legacy_lookup lc = cfg.legacy_lookup;
  connector::request_limits limits;
  limits.max_users = lc.max_users;
  const auto max_window = cfg.lookup.max_window;
  const bool with_details = cfg.lookup.details == "subject_location";
  auto handler = [lookups, dir, lc, limits, max_window, with_details](request& r) -> rt::task<response> {
    std::optional<std::string> text;
    if (r.method == "POST") text = connector::form_field(r.body, "text");
    if (!text || text->empty())
      co_return legacy_page(lc, r, connector::format_error("0", "0", connector::error_code::malformed_request,
                                                           "GCalRequest is null or empty"));
    auto parsed = connector::parse_request(*text, limits);
    if (auto* f = std::get_if<connector::parse_failure>(&parsed)) {
      log::info("legacy lookup refused", {{"request_id", r.request_id}, {"code", static_cast<int>(f->code)}, {"error", f->message}});
      co_return legacy_page(lc, r, connector::format_error("0", "0", f->code, f->message));
    }
    auto& q = std::get<connector::request>(parsed);
    if (q.end - q.start > max_window)
      co_return legacy_page(lc, r, connector::format_error(q.version, q.message_id, connector::error_code::malformed_request,
                                                           "The requested time range is too long"));
    if (!lookups || !dir)
      co_return legacy_page(lc, r, connector::format_error(q.version, q.message_id, connector::error_code::directory_error,
                                                           "No directory is configured"));
    auto results = co_await lookups->lookup(q.emails, q.start, q.end, with_details);

    std::vector<connector::user> users;
    std::size_t directory_failures = 0, exchange_failures = 0, resolved = 0;
    for (const auto& u : results) {
      if (u.error == lookup_errc::directory_failed) ++directory_failures;
      if (!u.mailbox) continue;  // unknown users are omitted, as the original did
      ++resolved;
      connector::user out;
      out.display_name = u.mailbox->display_name;
      out.email = dir->to_external(u.mailbox->address);
      if (u.error) {
        // No data for this user (not shared, or Exchange failed): listed with access level 0 and
        // no entries, never as an empty (free) calendar the caller could trust.
        out.access_level = 0;
        if (transient(u.error)) ++exchange_failures;
        users.push_back(std::move(out));
        continue;
      }
      if (with_details) {
        for (const auto& e : u.events) {
          connector::entry en;
          en.start = e.start;
          en.end = e.end;
          en.status = legacy_status(e.status);
          en.subject = e.subject;
          en.location = e.location;
          en.organizer = u.mailbox->display_name;
          out.entries.push_back(std::move(en));
        }
      } else {
        for (const auto& b : u.busy) {
          connector::entry en;
          en.start = b.start;
          en.end = b.end;
          en.status = legacy_status(b.status);
          en.organizer = u.mailbox->display_name;
          out.entries.push_back(std::move(en));
        }
      }
      users.push_back(std::move(out));
    }
    if (!results.empty() && directory_failures == results.size()) {
      log::warn("legacy lookup: the directory failed", {{"request_id", r.request_id}, {"error", results.front().detail}});
      co_return legacy_page(lc, r, connector::format_error(q.version, q.message_id, connector::error_code::directory_error,
                                                           "Error occured while resolving users in the directory"));
    }
    if (resolved > 0 && exchange_failures == resolved) {
      log::warn("legacy lookup: Exchange failed", {{"request_id", r.request_id}, {"users", resolved}});
      co_return legacy_page(lc, r, connector::format_error(q.version, q.message_id, connector::error_code::exchange_unreachable,
                                                           "Error occured while retrieving free busy ranges"));
    }
    co_return legacy_page(lc, r, connector::format_response(q, users));
  };
  routes.add("POST", lc.path, handler);
  routes.add("GET", lc.path, handler);
}

}  // namespace

void add_lookup_routes(net::http::router& routes, svc::lookup_service* lookups, svc::directory* dir,
                       const config::root& cfg) {
  if (cfg.freebusy_api.enabled) add_freebusy_route(routes, lookups, cfg);
  if (cfg.legacy_lookup.enabled) add_legacy_route(routes, lookups, dir, cfg);
}

}  // namespace calgate::app
