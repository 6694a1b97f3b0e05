#pragma once
// Free/busy lookups for Exchange users: calgate's main job.
//
// A lookup resolves its addresses through the directory, then asks each
// mailbox's Exchange endpoint with GetUserAvailability. Work is shared three
// ways:
//   - a cache per mailbox and fetch window (TTL, memory bound);
//   - single flight: lookups that need a mailbox+window already being fetched
//     wait for that fetch instead of starting another;
//   - batching: mailboxes asked for in the same loop turn, by any number of
//     concurrent lookups, go to their endpoint together (the EWS client splits
//     them into requests of at most 100 mailboxes).
// Windows are widened to whole UTC days before fetching, so lookups whose
// windows differ by minutes (a client asking "from now") share fetches and
// cache entries; answers are clipped back to the asked window.
//
// The lookup has one deadline for everything; mailboxes not answered by then
// get a per-user timed_out error while the others are answered. A fetch that
// outlives a lookup's deadline still completes and fills the cache.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "proto/ews/client.hpp"
#include "rt/metrics.hpp"
#include "rt/task.hpp"
#include "rt/task_group.hpp"
#include "rt/ttl_cache.hpp"
#include "svc/busy_merge.hpp"
#include "svc/directory.hpp"

namespace calgate::svc {

// Per-user outcomes.
enum class lookup_errc {
  not_found = 1,     // no such recipient in the directory, or Exchange does not know the mailbox
  invalid_address,   // not an e-mail address
  no_access,         // Exchange refuses the caller free/busy of this mailbox
  directory_failed,  // the directory could not be asked
  upstream_failed,   // Exchange failed (after its retries) or no endpoint serves the mailbox
  timed_out,         // not answered within the lookup's deadline
};
const std::error_category& lookup_category() noexcept;
std::error_code make_error_code(lookup_errc e) noexcept;

enum class details_policy { free_busy, subject_location };

struct lookup_options {
  std::chrono::milliseconds deadline{20000};
  details_policy details = details_policy::free_busy;
  std::chrono::milliseconds cache_ttl{60000};
  std::uint64_t cache_max_bytes = 64u << 20;
  std::chrono::milliseconds max_window{62LL * 24 * 3600 * 1000};
};

// One event as a protocol with details may show it.
struct event_view {
  std::chrono::sys_seconds start, end;  // the event's own times (may extend beyond the window)
  busy_type status = busy_type::busy;
  std::string subject, location;        // empty for private events or under details_policy::free_busy
  bool is_private = false;
};

// A user's busy intervals, shared with the cached answer they were merged from
// (read-only; no copy per lookup). Reads like a const vector.
//
// A protocol may keep its rendering of the intervals with them (a JSON
// fragment, say): every later result of the same cached answer and window then
// finds it instead of formatting the intervals again. The key names everything
// else the rendering depends on (format, window, time zone).
class busy_list {
 public:
  struct shared {
    std::vector<busy_interval> busy;
    // (key, text), oldest first, at most max_rendered. Mutable: a memo on an
    // immutable list, touched only on the loop thread.
    mutable std::vector<std::pair<std::string, std::string>> rendered;
  };
  static constexpr std::size_t max_rendered = 2;

  busy_list() = default;
  explicit busy_list(std::shared_ptr<const shared> v) noexcept : v_(std::move(v)) {}
  const std::vector<busy_interval>& get() const noexcept { return v_ ? v_->busy : none(); }
  auto begin() const noexcept { return get().begin(); }
  auto end() const noexcept { return get().end(); }
  std::size_t size() const noexcept { return get().size(); }
  bool empty() const noexcept { return get().empty(); }
  const busy_interval& operator[](std::size_t i) const noexcept { return get()[i]; }
  friend bool operator==(const busy_list& a, const busy_list& b) { return a.get() == b.get(); }
  friend bool operator==(const busy_list& a, const std::vector<busy_interval>& b) { return a.get() == b; }

  // The rendering kept under key, or nullptr. An empty key names nothing: a
  // caller that cannot name a rendering neither finds nor keeps one.
  const std::string* rendered(std::string_view key) const noexcept {
    if (!v_ || key.empty()) return nullptr;
    for (const auto& [k, text] : v_->rendered)
      if (k == key) return &text;
    return nullptr;
  }
  // Keeps text under key (the oldest rendering goes beyond max_rendered). Nothing
  // is kept for a list that shares nothing (a default one).
  void keep_rendered(std::string_view key, std::string_view text) const {
    if (!v_ || key.empty() || rendered(key)) return;
    auto& r = v_->rendered;
    if (r.size() >= max_rendered) r.erase(r.begin());
    r.emplace_back(std::string(key), std::string(text));
  }

 private:
  static const std::vector<busy_interval>& none() noexcept {
    static const std::vector<busy_interval> empty;
    return empty;
  }
  std::shared_ptr<const shared> v_;
};

struct user_result {
  mailbox_ptr mailbox;    // the resolved mailbox (null when not resolved)
  std::error_code error;  // lookup_errc; empty on success
  std::string detail;     // why, for logs (never shown to callers verbatim)
  busy_list busy;                   // sorted, non-overlapping, inside the window
  std::vector<event_view> events;   // with_events: blocking events overlapping the window, by start (details policy applies)
};

class lookup_service {
 public:
  // The EWS client of an endpoint name, or nullptr when none is configured.
  using endpoint_lookup = std::function<proto::ews::client*(std::string_view)>;

  lookup_service(directory& dir, endpoint_lookup endpoints, lookup_options o);
  ~lookup_service();
  lookup_service(const lookup_service&) = delete;
  lookup_service& operator=(const lookup_service&) = delete;

  // One result per address, in order; never fails as a whole. Callers
  // validate the window: an empty one, or one longer than max_window, gives
  // every user rt::errc::bad_input.
  // with_events: also fill user_result::events (protocols that show single events).
  // The addresses are borrowed: the strings must live until the task is done
  // (as they do when the caller co_awaits the call directly).
  [[nodiscard]] rt::task<std::vector<user_result>> lookup(std::vector<std::string_view> addresses,
                                                          std::chrono::sys_seconds start,
                                                          std::chrono::sys_seconds end, bool with_events = false);
  [[nodiscard]] rt::task<std::vector<user_result>> lookup(const std::vector<std::string>& addresses,
                                                          std::chrono::sys_seconds start,
                                                          std::chrono::sys_seconds end, bool with_events = false) {
    return lookup(std::vector<std::string_view>(addresses.begin(), addresses.end()), start, end, with_events);
  }

  // Must be awaited before destruction: ends fetches in flight.
  [[nodiscard]] rt::task<void> stop();

  const lookup_options& options() const noexcept { return opts_; }
  std::size_t cache_entries() const noexcept { return cache_.size(); }
  std::uint64_t cache_bytes() const noexcept { return cache_.cost(); }
  std::uint64_t upstream_calls() const noexcept { return upstream_calls_; }

 private:
  struct fetched;  // one mailbox's answer for one fetch window (cached)
  using fetched_ptr = std::shared_ptr<const fetched>;
  struct flight;
  struct waiter;
  struct batch_key {
    std::string endpoint;
    std::int64_t start, end;  // fetch window, seconds since the epoch
    bool operator<(const batch_key& o) const noexcept;
  };

  fetched_ptr cached(std::string_view key);
  void remember(const std::string& key, fetched_ptr value);
  void schedule_flush();
  void flush();
  struct queued {
    std::string key;      // cache and flight key
    mailbox_ptr mailbox;  // whose
  };
  rt::task<void> fetch(batch_key k, std::vector<queued> mailboxes);
  void complete(const std::string& key, const fetched_ptr& value);

  directory& dir_;
  endpoint_lookup endpoints_;
  lookup_options opts_;
  rt::ttl_cache<fetched_ptr> cache_;  // cost: approximate bytes
  std::unordered_map<std::string, std::unique_ptr<flight>> inflight_;
  std::map<batch_key, std::vector<queued>> queue_;
  bool flush_scheduled_ = false;
  std::string key_scratch_;  // lookup()'s cache keys (reused: no allocation per lookup)
  struct probe {
    std::size_t at;  // the key's offset in key_scratch_
    std::size_t hash;
    const fetched_ptr* hit;  // into the cache: valid until it is next changed
  };
  std::vector<probe> probe_scratch_;  // lookup()'s first cache probes (reused likewise)
  std::uint64_t upstream_calls_ = 0;
  rt::task_group fetches_{"lookup-fetch"};

  struct outcome_counters {  // calgate_lookup_users_total by outcome, bound once
    metrics::counter &cache_hit, &joined, &fetched, &not_found, &directory_error, &timed_out;
    static outcome_counters make();
  };
  outcome_counters users_;
  metrics::counter& batches_;
};

}  // namespace calgate::svc

template <>
struct std::is_error_code_enum<calgate::svc::lookup_errc> : std::true_type {};
