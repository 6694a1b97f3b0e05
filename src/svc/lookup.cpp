#include "svc/lookup.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

#include "proto/ldap/error.hpp"
#include "rt/error.hpp"
#include "rt/log.hpp"
#include "rt/countdown.hpp"
#include "rt/loop.hpp"
#include "rt/stop.hpp"
#include "rt/text.hpp"
#include "rt/with_timeout.hpp"

namespace calgate::svc {

namespace {

using std::chrono::sys_seconds;
constexpr std::int64_t day = 24 * 3600;

class lookup_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "calgate.lookup"; }
  std::string message(int c) const override {
    switch (static_cast<lookup_errc>(c)) {
      case lookup_errc::not_found: return "no such mailbox";
      case lookup_errc::invalid_address: return "not an e-mail address";
      case lookup_errc::no_access: return "free/busy of this mailbox is not shared with calgate";
      case lookup_errc::directory_failed: return "the directory could not be asked";
      case lookup_errc::upstream_failed: return "Exchange could not be asked";
      case lookup_errc::timed_out: return "Exchange did not answer in time";
    }
    return "lookup error " + std::to_string(c);
  }
};

std::int64_t floor_day(sys_seconds t) {
  std::int64_t s = t.time_since_epoch().count();
  std::int64_t r = s % day;
  return r < 0 ? s - r - day : s - r;
}
std::int64_t ceil_day(sys_seconds t) {
  std::int64_t f = floor_day(t);
  return f == t.time_since_epoch().count() ? f : f + day;
}

// What follows the address in a cache and flight key: "|start|end" of the fetch window.
class window_suffix {
 public:
  window_suffix(std::int64_t start, std::int64_t end) {
    char* p = buf_;
    *p++ = '|';
    p = std::to_chars(p, buf_ + sizeof buf_, start).ptr;
    *p++ = '|';
    p = std::to_chars(p, buf_ + sizeof buf_, end).ptr;
    size_ = static_cast<std::size_t>(p - buf_);
  }
  operator std::string_view() const noexcept { return {buf_, size_}; }  // NOLINT: a suffix is used as text

 private:
  char buf_[48];  // two int64s and two bars fit
  std::size_t size_ = 0;
};

std::error_code classify_directory(std::error_code ec) {
  if (ec == rt::errc::bad_input) return make_error_code(lookup_errc::invalid_address);
  if (rt::is_stop(ec)) return make_error_code(lookup_errc::timed_out);
  return make_error_code(lookup_errc::directory_failed);
}

std::error_code classify_ews(std::error_code ec) {
  using proto::ews::ews_errc;
  if (ec == ews_errc::mail_recipient_not_found || ec == ews_errc::proxy_request_failed)
    return make_error_code(lookup_errc::not_found);
  if (ec == ews_errc::no_free_busy_access) return make_error_code(lookup_errc::no_access);
  if (rt::is_stop(ec)) return make_error_code(lookup_errc::timed_out);
  return make_error_code(lookup_errc::upstream_failed);
}

}  // namespace

const std::error_category& lookup_category() noexcept {
  static const lookup_category_impl c;
  return c;
}
std::error_code make_error_code(lookup_errc e) noexcept { return {static_cast<int>(e), lookup_category()}; }

// What one fetch learned about one mailbox (immutable once made; shared by
// every lookup that reads it). What a cache hit reads comes first.
struct lookup_service::fetched {
  mailbox_ptr mailbox;  // whose answer (null for a failure shared by a whole batch)
  // The last merge of these events (lookups of one window repeat it), shared
  // with the results that read it: replaced, never changed, when another window
  // is asked. Mutable: a memo on an immutable answer, touched only on the loop thread.
  mutable sys_seconds merged_start{}, merged_end{};
  mutable std::shared_ptr<const busy_list::shared> merged;
  std::error_code error;  // lookup_errc
  std::string detail;
  std::vector<proto::ews::calendar_event> events;

  busy_list busy_in(sys_seconds start, sys_seconds end) const {
    if (!merged || merged_start != start || merged_end != end) {
      merged = std::make_shared<const busy_list::shared>(busy_list::shared{merge_busy(events, start, end), {}});
      merged_start = start;
      merged_end = end;
    }
    // The caller's next read: the intervals.
    __builtin_prefetch(merged->busy.data());
    return busy_list(merged);
  }
  // Start reading what a hit reads next (see lookup()): this answer's first
  // fields, then its merge.
  void prefetch() const noexcept {
    const char* p = reinterpret_cast<const char*>(this);
    __builtin_prefetch(p);
    __builtin_prefetch(p + 63);
  }
  void prefetch_merge() const noexcept {
    if (merged) __builtin_prefetch(merged.get());
  }
};

struct lookup_service::flight {
  std::vector<std::pair<waiter*, std::size_t>> waiters;  // who, and which of their slots
};

// One lookup waiting for the flights it joined, or for its deadline.
struct lookup_service::waiter {
  lookup_service* svc = nullptr;
  struct slot {
    slot(std::string_view k, fetched_ptr a, std::string_view ad) : key(k), answer(std::move(a)), address(ad) {}
    std::string key;          // cache and flight key (empty when answered at once)
    fetched_ptr answer;       // once known
    std::string_view address; // the mailbox's (lives as long as the lookup)
  };
  std::vector<slot> slots;
  rt::countdown pending{[this] { detach(); }};
  // Leaves the flights (they go on for the others).
  void detach() {
    for (std::size_t i = 0; i < slots.size(); ++i) {
      if (slots[i].answer) continue;
      auto it = svc->inflight_.find(slots[i].key);
      if (it == svc->inflight_.end()) continue;
      std::erase_if(it->second->waiters, [&](const auto& p) { return p.first == this && p.second == i; });
    }
  }
};

lookup_service::outcome_counters lookup_service::outcome_counters::make() {
  auto& f = metrics::registry::global().add_counter(
      "calgate_lookup_users_total",
      "Mailboxes looked up, by how they were answered (cache_hit, joined, fetched) or why not.", {"outcome"});
  return {f.with({"cache_hit"}), f.with({"joined"}),          f.with({"fetched"}),
          f.with({"not_found"}), f.with({"directory_error"}), f.with({"timed_out"})};
}

bool lookup_service::batch_key::operator<(const batch_key& o) const noexcept {
  if (endpoint != o.endpoint) return endpoint < o.endpoint;
  if (start != o.start) return start < o.start;
  return end < o.end;
}

lookup_service::lookup_service(directory& dir, endpoint_lookup endpoints, lookup_options o)
    : dir_(dir),
      endpoints_(std::move(endpoints)),
      opts_(o),
      cache_(o.cache_max_bytes),
      users_(outcome_counters::make()),
      batches_(metrics::registry::global()
                   .add_counter("calgate_lookup_upstream_batches_total",
                                "GetUserAvailability calls made for lookups (each may be split into several requests).")
                   .get()) {}

lookup_service::~lookup_service() = default;

rt::task<void> lookup_service::stop() {
  fetches_.request_stop();
  co_await fetches_.join();
}

lookup_service::fetched_ptr lookup_service::cached(std::string_view key) {
  const fetched_ptr* hit = cache_.get(key, rt::loop::current().now_ms());
  return hit ? *hit : nullptr;
}

void lookup_service::remember(const std::string& key, fetched_ptr value) {
  if (opts_.cache_ttl.count() <= 0) return;
  // Transport failures and timeouts are not remembered: the next lookup tries again.
  if (value->error && value->error != lookup_errc::not_found && value->error != lookup_errc::no_access) return;
  // What the entry holds, roughly: map node, queue node, the key, the answer and
  // its merge memo, with the renderings protocols keep there (≈ 80 bytes an interval each).
  constexpr std::uint64_t rendered_interval_bytes = 80;
  std::uint64_t bytes = 160 + 2 * key.size() + sizeof(fetched) + sizeof(busy_list::shared) +
                        value->detail.size() +
                        value->events.size() * (sizeof(proto::ews::calendar_event) + 2 * sizeof(busy_interval) +
                                                busy_list::max_rendered * rendered_interval_bytes);
  for (const auto& e : value->events) {
    if (e.details)
      bytes += sizeof(proto::ews::event_details) + e.details->subject.size() + e.details->location.size() +
               e.details->id.size();
  }
  const std::uint64_t expires = rt::loop::current().now_ms() + static_cast<std::uint64_t>(opts_.cache_ttl.count());
  cache_.put(key, std::move(value), expires, bytes);
}

void lookup_service::schedule_flush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  // Mailboxes asked for in this loop turn, by every lookup, go out together.
  rt::loop::current().defer([this] { flush(); });
}

void lookup_service::flush() {
  flush_scheduled_ = false;
  auto q = std::move(queue_);
  queue_.clear();
  for (auto& [k, mailboxes] : q) {
    batch_key key = k;
    fetches_.spawn(fetch(std::move(key), std::move(mailboxes)));
  }
}

void lookup_service::complete(const std::string& key, const fetched_ptr& value) {
  remember(key, value);
  auto it = inflight_.find(key);
  if (it == inflight_.end()) return;
  std::unique_ptr<flight> f = std::move(it->second);
  inflight_.erase(it);
  for (auto [w, slot] : f->waiters) {
    w->slots[slot].answer = value;
    w->pending.done_one();
  }
}

rt::task<void> lookup_service::fetch(batch_key k, std::vector<queued> mailboxes) {
  auto fail_all = [&](lookup_errc e, const std::string& why) {
    auto f = std::make_shared<fetched>();
    f->error = make_error_code(e);
    f->detail = why;
    for (const auto& m : mailboxes) complete(m.key, f);
  };
  proto::ews::client* ews = endpoints_(k.endpoint);
  if (!ews) {
    log::warn("lookup: no Exchange endpoint configured for mailboxes", {{"endpoint", k.endpoint}, {"mailboxes", mailboxes.size()}});
    fail_all(lookup_errc::upstream_failed, "no [exchange." + k.endpoint + "] is configured");
    co_return;
  }
  proto::ews::availability_request req;
  req.mailboxes.reserve(mailboxes.size());
  for (const auto& m : mailboxes) req.mailboxes.push_back({m.mailbox->address, proto::ews::attendee_type::required});
  req.start = sys_seconds(std::chrono::seconds(k.start));
  req.end = sys_seconds(std::chrono::seconds(k.end));
  req.requested = opts_.details == details_policy::subject_location ? proto::ews::view::detailed
                                                                     : proto::ews::view::free_busy;
  req.deadline = std::chrono::steady_clock::now() + opts_.deadline;
  ++upstream_calls_;
  batches_.inc();
  auto answer = co_await rt::with_timeout(opts_.deadline, ews->get_user_availability(std::move(req)));
  if (!answer) {
    log::warn("lookup: availability request failed",
              {{"endpoint", k.endpoint}, {"mailboxes", mailboxes.size()}, {"error", answer.error().message()}});
    fail_all(rt::is_stop(answer.error()) ? lookup_errc::timed_out : lookup_errc::upstream_failed,
             answer.error().message());
    co_return;
  }
  std::size_t failures = 0;
  std::string first_failure;
  for (std::size_t i = 0; i < mailboxes.size() && i < answer->size(); ++i) {
    auto& a = (*answer)[i];
    auto f = std::make_shared<fetched>();
    f->mailbox = mailboxes[i].mailbox;
    if (a.error) {
      f->error = classify_ews(a.error);
      f->detail = a.error_text.empty() ? a.error.message() : a.error_text;
      if (f->error != lookup_errc::not_found && f->error != lookup_errc::no_access) {
        if (failures++ == 0) first_failure = f->detail;
      }
    } else {
      f->events = std::move(a.events);
    }
    complete(mailboxes[i].key, f);
  }
  if (failures > 0)
    log::warn("lookup: Exchange failed for some mailboxes",
              {{"endpoint", k.endpoint}, {"failed", failures}, {"error", first_failure}});
  // A short answer (should not happen) must not leave anyone waiting.
  for (std::size_t i = answer->size(); i < mailboxes.size(); ++i) {
    auto f = std::make_shared<fetched>();
    f->error = make_error_code(lookup_errc::upstream_failed);
    f->detail = "no answer for this mailbox";
    complete(mailboxes[i].key, f);
  }
}

rt::task<std::vector<user_result>> lookup_service::lookup(std::vector<std::string_view> addresses, sys_seconds start,
                                                          sys_seconds end, bool with_events) {
  std::vector<user_result> out(addresses.size());
  if (end <= start || end - start > opts_.max_window) {
    for (auto& r : out) r.error = make_error_code(rt::errc::bad_input);
    co_return out;
  }
  // Everything below shares one deadline (the parent's stop still applies), set
  // up only when something must be waited for: a lookup answered from the caches
  // costs no timer.
  const rt::stop_token parent = co_await rt::this_token();
  std::optional<rt::linked_stop_source> src;
  std::optional<rt::deadline> dl;  // after src: ends before it
  auto deadline_token = [&] {
    if (!src) {
      src.emplace(parent);
      dl.emplace(opts_.deadline, *src);
    }
    return src->token();
  };

  const std::int64_t fs = floor_day(start), fe = ceil_day(end);
  const window_suffix window(fs, fe);
  const std::string_view suffix = window;
  // address + window: the cache and flight key, built in the service's scratch
  // (copied only for a miss). Always rebuilt before use after a suspension.
  std::string& key = key_scratch_;

  // An address asked exactly as its mailbox's (the usual case) whose answer is
  // cached needs no directory: the answer names its mailbox. (Entries are stored
  // under their mailbox's address and the same window suffix, so a hit on the
  // asked address means it is the mailbox's.) The directory is asked for the
  // others. What this skips, the directory's cache would have answered: its
  // entries live longer than these.
  //
  // A warm lookup's time is mostly memory reads (the cache slot, the entry, the
  // answer, its merge), so all addresses are probed in passes, each starting the
  // reads the next one needs: they overlap instead of waiting one after another.
  // The keys sit side by side in the scratch; nothing here suspends.
  // Per address: its answer when found at once, then the waiter's slot that answers it.
  struct per_address {
    fetched_ptr early;
    std::ptrdiff_t slot = -1;
  };
  std::vector<per_address> at(addresses.size());
  std::vector<std::string_view> ask_directory;
  {
    std::vector<probe>& probes = probe_scratch_;
    probes.resize(addresses.size());
    key.clear();
    for (std::size_t i = 0; i < addresses.size(); ++i) {
      probes[i].at = key.size();
      key.append(addresses[i]).append(suffix);
    }
    auto key_of = [&](std::size_t i) {
      return std::string_view(key.data() + probes[i].at, addresses[i].size() + suffix.size());
    };
    for (std::size_t i = 0; i < addresses.size(); ++i) probes[i].hash = cache_.prepare(key_of(i));
    for (const probe& p : probes) cache_.prefetch(p.hash);
    const std::uint64_t now = rt::loop::current().now_ms();
    for (std::size_t i = 0; i < addresses.size(); ++i) {
      probes[i].hit = cache_.get(key_of(i), probes[i].hash, now);
      if (probes[i].hit) (*probes[i].hit)->prefetch();
    }
    for (std::size_t i = 0; i < addresses.size(); ++i) {
      if (const fetched_ptr* hit = probes[i].hit; hit && (*hit)->mailbox) {
        at[i].early = *hit;
        at[i].early->prefetch_merge();
        continue;
      }
      if (ask_directory.empty()) ask_directory.reserve(addresses.size() - i);
      ask_directory.push_back(addresses[i]);
    }
  }
  std::vector<rt::result<mailbox_ptr>> from_directory;
  if (!ask_directory.empty() && !dir_.resolve_cached(ask_directory, from_directory)) {
    std::vector<std::string> copies(ask_directory.begin(), ask_directory.end());
    const rt::stop_token token = deadline_token();
    from_directory = co_await rt::with_stop_token(token, dir_.resolve_many(std::move(copies)));
  }

  waiter w;
  w.svc = this;
  w.slots.reserve(out.size());
  // Mailboxes asked twice (aliases, repeats) share a slot: found by address (the
  // window is the same for all), by a scan over the usual few, a map for large requests.
  std::unordered_map<std::string_view, std::size_t> slot_by_address;
  auto find_slot = [&](std::string_view address) -> std::ptrdiff_t {
    if (w.slots.size() <= 16) {
      for (std::size_t s = 0; s < w.slots.size(); ++s)
        if (w.slots[s].address == address) return static_cast<std::ptrdiff_t>(s);
      return -1;
    }
    if (slot_by_address.empty())
      for (std::size_t s = 0; s < w.slots.size(); ++s) slot_by_address.emplace(w.slots[s].address, s);
    auto it = slot_by_address.find(address);
    return it == slot_by_address.end() ? -1 : static_cast<std::ptrdiff_t>(it->second);
  };
  for (std::size_t i = 0, d = 0; i < out.size(); ++i) {
    fetched_ptr& early = at[i].early;
    if (!early) {
      rt::result<mailbox_ptr>& resolved = from_directory[d++];
      if (!resolved) {
        out[i].error = classify_directory(resolved.error());
        out[i].detail = resolved.error().message();
        users_.directory_error.inc();
        continue;
      }
      if (!*resolved) {
        out[i].error = make_error_code(lookup_errc::not_found);
        out[i].detail = "not in the directory";
        users_.not_found.inc();
        continue;
      }
      out[i].mailbox = std::move(*resolved);
    } else {
      // Owned through the answer, which holds its mailbox: shares the answer's count
      // (just read) instead of touching the mailbox's own.
      out[i].mailbox = mailbox_ptr(early, early->mailbox.get());
    }
    // The mailbox's address; for an early answer the asked one, which is the same
    // (and saves reading the mailbox). Lives as long as the lookup.
    const std::string_view address = early ? addresses[i] : std::string_view(out[i].mailbox->address);
    if (std::ptrdiff_t known = find_slot(address); known >= 0) {
      at[i].slot = known;
      continue;
    }
    const std::size_t slot = w.slots.size();
    at[i].slot = static_cast<std::ptrdiff_t>(slot);
    if (!slot_by_address.empty()) slot_by_address.emplace(address, slot);
    fetched_ptr hit = std::move(early);
    if (!hit) {
      key.assign(address).append(suffix);
      hit = cached(key);
    }
    if (hit) {
      users_.cache_hit.inc();
      w.slots.emplace_back(std::string_view(), std::move(hit), address);  // no key: nothing to leave on a stop
      continue;
    }
    w.slots.emplace_back(key, nullptr, address);
    auto f = inflight_.find(key);
    if (f != inflight_.end()) {
      users_.joined.inc();
    } else {
      users_.fetched.inc();
      f = inflight_.emplace(key, std::make_unique<flight>()).first;
      queue_[batch_key{out[i].mailbox->endpoint, fs, fe}].push_back(queued{key, out[i].mailbox});
      schedule_flush();
    }
    f->second->waiters.emplace_back(&w, slot);
    w.pending.add();
  }
  if (w.pending.remaining() > 0) {
    const rt::stop_token token = deadline_token();
    // The countdown reads the stop token of the coroutine awaiting it: a child task carries the deadline's.
    auto wait = [](waiter& ww) -> rt::task<void> { co_await ww.pending; };
    rt::task<void> waiting = wait(w);
    co_await rt::with_stop_token(token, std::move(waiting));
  }

  for (std::size_t i = 0; i < out.size(); ++i) {
    if (at[i].slot < 0) continue;
    const fetched_ptr& f = w.slots[static_cast<std::size_t>(at[i].slot)].answer;
    user_result& r = out[i];
    if (!f) {
      r.error = make_error_code(lookup_errc::timed_out);
      r.detail = "no answer within the lookup deadline";
      users_.timed_out.inc();
      continue;
    }
    if (f->error) {
      r.error = f->error;
      r.detail = f->detail;
      continue;
    }
    r.busy = f->busy_in(start, end);
    if (!with_events) continue;
    for (const auto& e : f->events) {
      if (!blocks_time(e.busy) || e.end <= start || e.start >= end) continue;
      event_view v;
      v.start = e.start;
      v.end = e.end;
      v.status = e.busy;
      v.is_private = e.details && e.details->is_private;
      if (opts_.details == details_policy::subject_location && e.details && !v.is_private) {
        v.subject = e.details->subject;
        v.location = e.details->location;
      }
      r.events.push_back(std::move(v));
    }
  }
  co_return out;
}

}  // namespace calgate::svc
