#pragma once
// A map with a time to live per entry and a total cost bound (entries, or
// approximate bytes), evicting entries not used recently first.
// Single-threaded; times are the loop's milliseconds, passed in by the caller.
//
// Eviction is "second chance" (CLOCK): entries queue in insertion order; a hit
// only marks its entry as used, and eviction gives a used entry at the old end
// of the queue one more round (moving it to the new end, unmarked) instead of
// dropping it. That approximates least-recently-used without touching the
// queue on every hit.
//
// Layout, for the free/busy hot path where a hit is most of a lookup's work:
// an open-addressing table of (hash, entry pointer) slots, linear probing with
// backward-shift deletion (no tombstones), and each entry allocated with its
// key bytes right behind it. A hit reads one slot and one entry; a node-based
// map reads a bucket, a node or two and the key's own heap block.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "rt/hash.hpp"

namespace calgate::rt {

template <class V>
class ttl_cache {
 public:
  explicit ttl_cache(std::uint64_t max_cost) : max_cost_(max_cost) {}
  ~ttl_cache() {
    for (entry* e = newest_; e != nullptr;) {
      entry* next = e->older;
      destroy(e);
      e = next;
    }
  }
  ttl_cache(const ttl_cache&) = delete;
  ttl_cache& operator=(const ttl_cache&) = delete;

  // The live value for key (marking it used), or nullptr. Expired entries are
  // dropped when met.
  const V* get(std::string_view key, std::uint64_t now_ms) { return get(key, hash(key), now_ms); }

  // For a batch of reads, so that their memory reads overlap instead of each
  // waiting for the last: prepare() every key first (it starts reading the key's
  // home slot and returns the hash to pass on), then prefetch() every hash (it
  // starts reading the entry in that slot), then get() each. Only a hint: any
  // order of calls gives the same answers.
  std::size_t prepare(std::string_view key) const noexcept {
    const std::size_t h = hash(key);
    if (!slots_.empty()) __builtin_prefetch(&slots_[h & mask()]);
    return h;
  }
  void prefetch(std::size_t h) const noexcept {
    if (size_ == 0) return;
    const slot& s = slots_[h & mask()];
    if (s.hash != h || s.e == nullptr) return;
    // The entry and the key behind it (its size is not known without reading
    // the entry): the usual keys, under 64 bytes, end within these lines.
    const char* p = reinterpret_cast<const char*>(s.e);
    __builtin_prefetch(p);
    __builtin_prefetch(p + sizeof(entry));
    __builtin_prefetch(p + sizeof(entry) + 63);
  }
  // get() with the key's hash from prepare().
  const V* get(std::string_view key, std::size_t h, std::uint64_t now_ms) {
    const std::size_t i = find(key, h);
    if (i == npos) return nullptr;
    entry* e = slots_[i].e;
    if (e->expires_ms <= now_ms) {
      erase_at(i);
      return nullptr;
    }
    e->used = true;
    return &e->value;
  }

  // Stores (or replaces) key until expires_ms; an entry costing more than the
  // whole bound is not stored. Then evicts until the bound holds.
  void put(std::string_view key, V value, std::uint64_t expires_ms, std::uint64_t cost) {
    if (cost > max_cost_) return;
    const std::size_t h = hash(key);
    entry* e = nullptr;
    if (const std::size_t i = find(key, h); i != npos) {
      e = slots_[i].e;
      total_ -= e->cost;
      e->value = std::move(value);
      e->expires_ms = expires_ms;
      e->cost = cost;
      e->used = true;
    } else {
      if ((size_ + 1) * 2 > slots_.size()) grow();
      e = create(key, h, std::move(value), expires_ms, cost);
      std::size_t j = h & mask();
      while (slots_[j].e != nullptr) j = (j + 1) & mask();
      slots_[j] = {h, e};
      ++size_;
      push_newest(e);
    }
    total_ += cost;
    evict(e);
  }

  std::size_t size() const noexcept { return size_; }
  std::uint64_t cost() const noexcept { return total_; }
  std::uint64_t max_cost() const noexcept { return max_cost_; }

 private:
  struct entry {
    V value;
    std::uint64_t expires_ms;
    std::uint64_t cost;
    std::size_t hash;
    entry* older = nullptr;  // the queue, threaded through the entries
    entry* newer = nullptr;
    std::uint32_t key_size = 0;  // (create() refuses longer keys)
    bool used = false;  // read since it was stored or last reached the old end of the queue

    // The key's bytes follow the entry in the same allocation (see create()).
    std::string_view key() const noexcept { return {reinterpret_cast<const char*>(this) + sizeof(entry), key_size}; }
  };
  struct slot {
    std::size_t hash = 0;
    entry* e = nullptr;  // nullptr: empty
  };
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  // Seeded per cache: keys are built from what callers ask for.
  std::size_t hash(std::string_view k) const noexcept { return seeded_hash(seed_, k); }
  std::size_t mask() const noexcept { return slots_.size() - 1; }

  std::size_t find(std::string_view key, std::size_t h) const noexcept {
    if (size_ == 0) return npos;
    for (std::size_t i = h & mask();; i = (i + 1) & mask()) {
      const slot& s = slots_[i];
      if (s.e == nullptr) return npos;
      if (s.hash == h && s.e->key() == key) return i;
    }
  }

  static entry* create(std::string_view key, std::size_t h, V&& value, std::uint64_t expires_ms, std::uint64_t cost) {
    if (key.size() > UINT32_MAX) throw std::length_error("ttl_cache: key too long");
    void* mem = ::operator new(sizeof(entry) + key.size());
    entry* e = nullptr;
    try {
      e = ::new (mem) entry{std::move(value), expires_ms, cost, h};
    } catch (...) {
      ::operator delete(mem);
      throw;
    }
    e->key_size = static_cast<std::uint32_t>(key.size());
    if (!key.empty()) std::memcpy(static_cast<char*>(mem) + sizeof(entry), key.data(), key.size());
    return e;
  }
  static void destroy(entry* e) noexcept {
    e->~entry();
    ::operator delete(static_cast<void*>(e));
  }

  void grow() {
    std::vector<slot> old(slots_.empty() ? 16 : slots_.size() * 2);
    old.swap(slots_);
    for (const slot& s : old) {
      if (s.e == nullptr) continue;
      std::size_t j = s.hash & mask();
      while (slots_[j].e != nullptr) j = (j + 1) & mask();
      slots_[j] = s;
    }
  }

  // Empties slot i and shifts back the entries after it that probed past it, so
  // every entry stays reachable from its home slot without tombstones.
  void erase_at(std::size_t i) {
    entry* e = slots_[i].e;
    total_ -= e->cost;
    unlink(e);
    destroy(e);
    --size_;
    slots_[i] = {};
    for (std::size_t j = (i + 1) & mask(); slots_[j].e != nullptr; j = (j + 1) & mask()) {
      const std::size_t home = slots_[j].hash & mask();
      // The entry at j may stay when its home lies cyclically in (i, j].
      const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (stays) continue;
      slots_[i] = slots_[j];
      slots_[j] = {};
      i = j;
    }
  }

  void push_newest(entry* e) noexcept {
    e->newer = nullptr;
    e->older = newest_;
    if (newest_ != nullptr) newest_->newer = e;
    newest_ = e;
    if (oldest_ == nullptr) oldest_ = e;
  }
  void unlink(entry* e) noexcept {
    (e->newer != nullptr ? e->newer->older : newest_) = e->older;
    (e->older != nullptr ? e->older->newer : oldest_) = e->newer;
    e->older = e->newer = nullptr;
  }

  // Drops entries from the old end until the bound holds; a used one is moved to
  // the new end, unmarked, instead. `keep` (the entry just stored) reaches the old
  // end only when every other entry was used: it is then passed over once, so the
  // others, unmarked by now, go first. Ends: each step drops one entry or unmarks one.
  void evict(const entry* keep) {
    while (total_ > max_cost_ && oldest_ != nullptr) {
      entry* e = oldest_;
      if (e->used || e == keep) {
        if (e == keep) keep = nullptr;
        e->used = false;
        unlink(e);
        push_newest(e);
        continue;
      }
      erase_at(find(e->key(), e->hash));
    }
  }

  std::uint64_t seed_ = random_seed();
  std::uint64_t max_cost_;
  std::uint64_t total_ = 0;
  std::size_t size_ = 0;
  std::vector<slot> slots_;  // a power of two long, at most half full
  entry* newest_ = nullptr;
  entry* oldest_ = nullptr;
};

}  // namespace calgate::rt
