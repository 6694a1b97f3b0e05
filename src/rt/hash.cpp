#include "rt/hash.hpp"

#include <chrono>
#include <random>

namespace calgate::rt {

std::uint64_t random_seed() noexcept {
  try {
    std::random_device rd;
    return static_cast<std::uint64_t>(rd()) << 32 ^ rd();
  } catch (...) {
    // No entropy source: the clock and an address still differ from run to run.
    static int here;
    const auto t = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    return detail::fold(t ^ 0x9e3779b97f4a7c15ULL, reinterpret_cast<std::uintptr_t>(&here) | 1);
  }
}

}  // namespace calgate::rt
