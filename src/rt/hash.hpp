#pragma once
// A seeded hash for byte strings, for tables whose keys come from the network
// (cache keys built from addresses callers ask for): with a secret seed per
// table, a caller cannot pick keys that pile up in one place of the table.
//
// Multiply-fold: 16 bytes at a time, each pair of 8-byte words (mixed with the
// running state) multiplied to 128 bits and the halves xor-ed. Every output bit,
// the low ones a power-of-two table uses included, depends on every input bit.
// About 40 instructions for a 45-byte key (std::hash: about 140).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace calgate::rt {

namespace detail {
__extension__ using u128 = unsigned __int128;
inline std::uint64_t fold(std::uint64_t a, std::uint64_t b) noexcept {
  const u128 r = static_cast<u128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}
inline std::uint64_t load8(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline std::uint64_t load4(const char* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
}  // namespace detail

inline std::uint64_t seeded_hash(std::uint64_t seed, std::string_view key) noexcept {
  using detail::fold;
  using detail::load4;
  using detail::load8;
  constexpr std::uint64_t k1 = 0x9e3779b97f4a7c15ULL, k2 = 0xbf58476d1ce4e5b9ULL, k3 = 0x94d049bb133111ebULL;
  const char* p = key.data();
  std::size_t n = key.size();
  std::uint64_t h = fold(seed ^ k1, n ^ k2);
  while (n > 16) {
    h = fold(load8(p) ^ h, load8(p + 8) ^ k3);
    p += 16;
    n -= 16;
  }
  // The last 0..16 bytes, read as two words that may overlap.
  std::uint64_t a = 0, b = 0;
  if (n >= 8) {
    a = load8(p);
    b = load8(p + n - 8);
  } else if (n >= 4) {
    a = load4(p);
    b = load4(p + n - 4);
  } else if (n > 0) {
    a = static_cast<std::uint64_t>(static_cast<unsigned char>(p[0])) << 16 |
        static_cast<std::uint64_t>(static_cast<unsigned char>(p[n / 2])) << 8 | static_cast<unsigned char>(p[n - 1]);
  }
  return fold(a ^ h ^ k1, b ^ k3 ^ n);
}

// A seed nobody outside can guess (std::random_device; a weaker fallback where that fails).
std::uint64_t random_seed() noexcept;

}  // namespace calgate::rt
