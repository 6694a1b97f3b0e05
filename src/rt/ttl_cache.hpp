#pragma once
// A map with a time to live per entry and a total cost bound (entries, or
// approximate bytes), evicting the least recently used entries first.
// Single-threaded; times are the loop's milliseconds, passed in by the caller.
#include <cstdint>
#include <list>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace calgate::rt {

template <class V>
class ttl_cache {
 public:
  explicit ttl_cache(std::uint64_t max_cost) : max_cost_(max_cost) {}

  // The live value for key (refreshing its recency), or nullptr. Expired
  // entries are dropped when met. (A string_view: hot paths look up without allocating.)
  const V* get(std::string_view key, std::uint64_t now_ms) {
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    if (it->second.expires_ms <= now_ms) {
      erase(it);
      return nullptr;
    }
    lru_.splice(lru_.begin(), lru_, it->second.lru);
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
      lru_.splice(lru_.begin(), lru_, it->second.lru);
    } else {
      lru_.push_front(key);
      map_.emplace(key, entry{std::move(value), expires_ms, cost, lru_.begin()});
    }
    total_ += cost;
    while (total_ > max_cost_ && !lru_.empty()) erase(map_.find(std::string_view(lru_.back())));
  }

  std::size_t size() const noexcept { return map_.size(); }
  std::uint64_t cost() const noexcept { return total_; }
  std::uint64_t max_cost() const noexcept { return max_cost_; }

 private:
  struct entry {
    V value;
    std::uint64_t expires_ms;
    std::uint64_t cost;
    std::list<std::string>::iterator lru;
  };
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view k) const noexcept { return std::hash<std::string_view>{}(k); }
  };
  using map_type = std::unordered_map<std::string, entry, key_hash, std::equal_to<>>;

  void erase(typename map_type::iterator it) {
    total_ -= it->second.cost;
    lru_.erase(it->second.lru);
    map_.erase(it);
  }

  std::uint64_t max_cost_;
  std::uint64_t total_ = 0;
  map_type map_;
  std::list<std::string> lru_;  // most recent first
};

}  // namespace calgate::rt
