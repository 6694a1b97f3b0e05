// rt::ttl_cache: expiry, the cost bound, and which entries eviction picks
// (second chance: entries read since they last reached the old end stay).
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "rt/hash.hpp"
#include "rt/ttl_cache.hpp"

using calgate::rt::ttl_cache;

namespace {

std::string key(int i) { return "user" + std::to_string(i) + "@corp.example|1999|2000"; }

}  // namespace

TEST_CASE("ttl cache: entries live until their expiry, then are dropped when met", "[cache]") {
  ttl_cache<int> c(100);
  c.put(key(1), 11, 1000, 1);
  c.put(key(2), 22, 2000, 1);
  REQUIRE(c.get(key(1), 999) != nullptr);
  CHECK(*c.get(key(1), 999) == 11);
  CHECK(c.get(key(1), 1000) == nullptr);  // expiry is exclusive
  CHECK(c.size() == 1);                   // and the expired entry is gone
  CHECK(c.cost() == 1);
  CHECK(c.get(key(3), 0) == nullptr);
  CHECK(*c.get(key(2), 1999) == 22);
}

TEST_CASE("ttl cache: replacing a key updates value, expiry and cost", "[cache]") {
  ttl_cache<std::string> c(100);
  c.put(key(1), "a", 1000, 10);
  c.put(key(1), "b", 5000, 30);
  CHECK(c.size() == 1);
  CHECK(c.cost() == 30);
  REQUIRE(c.get(key(1), 4000) != nullptr);
  CHECK(*c.get(key(1), 4000) == "b");
}

TEST_CASE("ttl cache: the cost bound holds; an entry dearer than the bound is not stored", "[cache]") {
  ttl_cache<int> c(50);
  c.put(key(0), 0, 1000, 51);
  CHECK(c.size() == 0);
  CHECK(c.cost() == 0);
  for (int i = 1; i <= 40; ++i) {
    c.put(key(i), i, 1000, static_cast<std::uint64_t>(1 + i % 7));
    CHECK(c.cost() <= 50);
  }
  // The newest entry is always kept.
  REQUIRE(c.get(key(40), 0) != nullptr);
  CHECK(*c.get(key(40), 0) == 40);
  c.put(key(41), 41, 1000, 50);  // as dear as the whole bound: everything else goes
  CHECK(c.size() == 1);
  CHECK(c.cost() == 50);
}

TEST_CASE("ttl cache: eviction spares entries read recently, and the one just stored", "[cache]") {
  ttl_cache<int> c(3);
  c.put(key(1), 1, 1000, 1);
  c.put(key(2), 2, 1000, 1);
  c.put(key(3), 3, 1000, 1);
  CHECK(c.get(key(1), 0) != nullptr);  // 1 is the oldest, but was read
  c.put(key(4), 4, 1000, 1);
  CHECK(c.get(key(2), 0) == nullptr);  // the oldest not read since: gone
  CHECK(c.get(key(1), 0) != nullptr);
  CHECK(c.get(key(3), 0) != nullptr);
  CHECK(c.get(key(4), 0) != nullptr);

  // Every entry read: the new one still stays, and the others make room in age order.
  c.put(key(5), 5, 1000, 1);
  CHECK(c.size() == 3);
  CHECK(c.get(key(5), 0) != nullptr);
}

TEST_CASE("ttl cache: a hot set survives a stream of one-off keys", "[cache]") {
  // The use the free/busy cache sees: a few mailboxes asked again and again
  // among many asked once. Entries read between insertions are never evicted.
  ttl_cache<int> c(100);
  for (int i = 0; i < 10; ++i) c.put(key(i), i, 1'000'000, 1);
  std::mt19937 rng(7);
  for (int n = 0; n < 5000; ++n) {
    for (int i = 0; i < 10; ++i) REQUIRE(c.get(key(i), 0) != nullptr);
    c.put(key(1000 + n), n, 1'000'000, 1);
    CHECK(c.cost() <= 100);
    CHECK(c.size() == c.cost());
  }
}

TEST_CASE("ttl cache: random operations keep size, cost and values consistent", "[cache]") {
  // Checked against a plain map of what must still be there: every value the
  // cache returns is the last one stored for its key and not expired.
  ttl_cache<int> c(200);
  std::map<std::string, std::pair<int, std::uint64_t>> last;  // key -> (value, expires)
  std::mt19937 rng(20310512);
  std::uint64_t now = 0;
  for (int n = 0; n < 20000; ++n) {
    now += rng() % 3;
    std::string k = key(static_cast<int>(rng() % 300));
    if (rng() % 2) {
      int v = static_cast<int>(rng() % 1000);
      std::uint64_t exp = now + 1 + rng() % 500;
      c.put(k, v, exp, 1 + rng() % 5);
      last[k] = {v, exp};
      REQUIRE(c.get(k, now) != nullptr);  // what was just stored is there
    } else if (const int* v = c.get(k, now)) {
      REQUIRE(last.count(k) == 1);
      CHECK(*v == last[k].first);
      CHECK(last[k].second > now);
    }
    REQUIRE(c.cost() <= 200);
    REQUIRE(c.size() <= c.cost());
  }
}

TEST_CASE("ttl cache: without eviction, exactly the unexpired keys are found through heavy churn", "[cache]") {
  // Many keys coming and going exercise the table's growth and its deletion
  // (entries after a freed slot are shifted back): no key may become unreachable.
  ttl_cache<int> c(1u << 30);
  std::map<std::string, std::pair<int, std::uint64_t>> model;
  std::mt19937 rng(99);
  std::uint64_t now = 0;
  for (int n = 0; n < 60000; ++n) {
    now += rng() % 2;
    std::string k = key(static_cast<int>(rng() % 2000));
    if (rng() % 3 == 0) {
      int v = static_cast<int>(rng());
      std::uint64_t exp = now + 1 + rng() % 400;
      c.put(k, v, exp, 1);
      model[k] = {v, exp};
    }
    const int* got = c.get(k, now);
    auto m = model.find(k);
    const bool live = m != model.end() && m->second.second > now;
    REQUIRE((got != nullptr) == live);
    if (got) REQUIRE(*got == m->second.first);
  }
  // And a final sweep over every key ever used.
  for (const auto& [k, vm] : model) {
    const int* got = c.get(k, now);
    REQUIRE((got != nullptr) == (vm.second > now));
  }
  CHECK(c.size() <= model.size());
}

TEST_CASE("ttl cache: batched reads (prepare, prefetch, get by hash) answer as single reads do", "[cache]") {
  // Two caches given the same operations; one is read in batches of up to 12
  // keys (repeats included), the other one key at a time. Answers, sizes and
  // costs must agree, and the pointers of one batch must stay valid to its end.
  ttl_cache<int> batched(300), single(300);
  std::mt19937 rng(7);
  std::uint64_t now = 0;
  for (int round = 0; round < 4000; ++round) {
    now += rng() % 4;
    for (int p = static_cast<int>(rng() % 4); p > 0; --p) {
      std::string k = key(static_cast<int>(rng() % 400));
      int v = static_cast<int>(rng() % 1000);
      std::uint64_t exp = now + 1 + rng() % 300;
      std::uint64_t cost = 1 + rng() % 4;
      batched.put(k, v, exp, cost);
      single.put(k, v, exp, cost);
    }
    std::vector<std::string> keys(1 + rng() % 12);
    for (auto& k : keys) k = key(static_cast<int>(rng() % 400));
    if (keys.size() > 2) keys[2] = keys[0];  // a repeat within the batch
    std::vector<std::size_t> hashes;
    for (const auto& k : keys) hashes.push_back(batched.prepare(k));
    for (std::size_t h : hashes) batched.prefetch(h);
    std::vector<const int*> got;
    for (std::size_t i = 0; i < keys.size(); ++i) got.push_back(batched.get(keys[i], hashes[i], now));
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const int* want = single.get(keys[i], now);
      REQUIRE((got[i] != nullptr) == (want != nullptr));
      if (want) REQUIRE(*got[i] == *want);
    }
    REQUIRE(batched.size() == single.size());
    REQUIRE(batched.cost() == single.cost());
  }
  // A hash prepared while the table was empty, and a prefetch of a hash nothing has.
  ttl_cache<int> empty(10);
  const std::size_t h = empty.prepare("nobody|1|2");
  empty.prefetch(h);
  CHECK(empty.get("nobody|1|2", h, 0) == nullptr);
  empty.put("nobody|1|2", 5, 100, 1);
  empty.prefetch(h);
  REQUIRE(empty.get("nobody|1|2", h, 0) != nullptr);
  CHECK(*empty.get("nobody|1|2", h, 0) == 5);
}

TEST_CASE("seeded hash: spreads similar keys over a table's low bits, and depends on seed and every byte", "[cache]") {
  using calgate::rt::seeded_hash;
  // 64k keys like the lookup cache's, into 4096 buckets by the low 12 bits: every
  // bucket near the mean (16); a weak low-bit mix puts whole runs into a few.
  std::vector<int> buckets(4096);
  const std::uint64_t seed = 0x1234abcd5678ef01ULL;
  for (int i = 0; i < 65536; ++i) ++buckets[seeded_hash(seed, key(i)) & 4095];
  const auto [lo, hi] = std::minmax_element(buckets.begin(), buckets.end());
  CHECK(*lo >= 1);
  CHECK(*hi <= 40);
  double chi = 0;
  for (int b : buckets) chi += (b - 16.0) * (b - 16.0) / 16.0;
  CHECK(chi < 4096 * 1.2);  // about 4095 for a uniform spread

  // Every length from 0 to 70 (all the tail cases); a flip of any one bit of any
  // byte changes the hash, and about half of its low 16 bits.
  std::mt19937 rng(3);
  double changed = 0;
  int flips = 0;
  for (std::size_t len = 0; len <= 70; ++len) {
    std::string k(len, '\0');
    for (char& c : k) c = static_cast<char>(rng());
    const std::uint64_t h = seeded_hash(seed, k);
    CHECK(seeded_hash(seed, k) == h);
    CHECK(seeded_hash(seed + 1, k) != h);
    CHECK(seeded_hash(seed, k + "x") != h);
    for (std::size_t i = 0; i < len; ++i) {
      std::string f = k;
      f[i] = static_cast<char>(f[i] ^ (1 << (rng() % 8)));
      const std::uint64_t g = seeded_hash(seed, f);
      REQUIRE(g != h);
      changed += __builtin_popcountll((g ^ h) & 0xffff);
      ++flips;
    }
  }
  CHECK(changed / flips > 7.0);
  CHECK(changed / flips < 9.0);
}
