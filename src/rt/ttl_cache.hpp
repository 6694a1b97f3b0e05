#pragma once
// A map with a time to live per entry and a total cost bound (entries, or
// approximate bytes), evicting entries not used recently first.
// Single-threaded; times are the loop's milliseconds, passed in by the caller.
//
// Eviction is "second chance" (CLOCK): entries queue in insertion order; a hit
// only marks its entry as used, and eviction gives a used entry at the old end
// of the queue one more round (moving it to the new end, unmarked) instead of
// dropping it. That approximates least-recently-used without touching the
// queue on every hit: on the free/busy hot path a hit is one hash probe.
#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace calgate::rt {

template <class V>
class ttl_cache {
 public:
  explicit ttl_cache(std::uint64_t max_cost) : max_cost_(max_cost) {}

  // The live value for key (marking it used), or nullptr. Expired entries are
  // dropped when met. (A string_view: hot paths look up without allocating.)
  const V* get(std::string_view key, std::uint64_t now_ms) {
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    if (it->second.expires_ms <= now_ms) {
      erase(it);
      return nullptr;
    }
    it->second.used = true;
    return &it->second.value;
  }

  // Stores (or replaces) key until expires_ms; an entry costing more than the
  // whole bound is not stored. Then evicts until the bound holds.
  void put(const std::string& key, V value, std::uint64_t expires_ms, std::uint64_t cost) {
    if (cost > max_cost_) return;
    auto it = map_.find(key);
    if (it != map_.end()) {
      total_ -= it->second.cost;
      it->second.value = std::move(value);
      it->second.expires_ms = expires_ms;
      it->second.cost = cost;
      it->second.used = true;
    } else {
      it = map_.emplace(key, entry{std::move(value), expires_ms, cost, false, {}}).first;
      queue_.push_front(&it->first);
      it->second.queued = queue_.begin();
    }
    total_ += cost;
    evict(&it->first);
  }

  std::size_t size() const noexcept { return map_.size(); }
  std::uint64_t cost() const noexcept { return total_; }
  std::uint64_t max_cost() const noexcept { return max_cost_; }

 private:
  using queue_type = std::list<const std::string*>;  // keys (in the map's nodes), newest first
  struct entry {
    V value;
    std::uint64_t expires_ms;
    std::uint64_t cost;
    bool used;  // read since it was stored or last reached the old end of the queue
    typename queue_type::iterator queued;
  };
  // Not noexcept on purpose: libstdc++ then stores each node's hash, so a probe
  // compares hashes before keys and never rehashes a neighbour's key to find
  // where its bucket ends (both showed in profiles of the lookup hot path).
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view k) const { return std::hash<std::string_view>{}(k); }
  };
  using map_type = std::unordered_map<std::string, entry, key_hash, std::equal_to<>>;

  // Drops entries from the old end until the bound holds; a used one is moved to
  // the new end, unmarked, instead. `keep` (the entry just stored) reaches the old
  // end only when every other entry was used: it is then passed over once, so the
  // others, unmarked by now, go first. Ends: each step drops one entry or unmarks one.
  void evict(const std::string* keep) {
    while (total_ > max_cost_ && !queue_.empty()) {
      auto it = map_.find(std::string_view(*queue_.back()));
      if (it->second.used || &it->first == keep) {
        if (&it->first == keep) keep = nullptr;
        it->second.used = false;
        queue_.splice(queue_.begin(), queue_, it->second.queued);
        continue;
      }
      erase(it);
    }
  }

  void erase(typename map_type::iterator it) {
    total_ -= it->second.cost;
    queue_.erase(it->second.queued);
    map_.erase(it);
  }

  std::uint64_t max_cost_;
  std::uint64_t total_ = 0;
  map_type map_;
  queue_type queue_;
};

}  // namespace calgate::rt
