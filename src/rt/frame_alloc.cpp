#include "rt/frame_alloc.hpp"

#include <array>
#include <new>

namespace calgate::rt::frame_alloc {
namespace {

constexpr std::size_t granule = 64;
constexpr std::size_t classes = 64;          // frames up to 4 KiB are recycled
constexpr std::size_t max_cached_per_class = 256;

struct free_block {
  free_block* next;
};

struct cache {
  std::array<free_block*, classes> heads{};
  std::array<std::size_t, classes> counts{};
  ~cache() {
    for (std::size_t c = 0; c < classes; ++c) {
      while (free_block* b = heads[c]) {
        heads[c] = b->next;
        ::operator delete(b);
      }
      counts[c] = max_cached_per_class;  // frames freed during exit go straight to delete
    }
  }
};

// Frames may be created on any thread (tests, threadpool helpers); each
// thread keeps its own cache, so no locking is needed.
thread_local cache tl_cache;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool recycle = false;  // let ASan see every frame's lifetime
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool recycle = false;
#else
constexpr bool recycle = true;
#endif
#else
constexpr bool recycle = true;
#endif

}  // namespace

void* allocate(std::size_t n) {
  std::size_t c = (n + granule - 1) / granule;
  if (recycle && c < classes) {
    if (free_block* b = tl_cache.heads[c]) {
      tl_cache.heads[c] = b->next;
      --tl_cache.counts[c];
      return b;
    }
    return ::operator new(c * granule);
  }
  return ::operator new(n);
}

void deallocate(void* p, std::size_t n) noexcept {
  std::size_t c = (n + granule - 1) / granule;
  if (recycle && c < classes && tl_cache.counts[c] < max_cached_per_class) {
    auto* b = static_cast<free_block*>(p);
    b->next = tl_cache.heads[c];
    tl_cache.heads[c] = b;
    ++tl_cache.counts[c];
    return;
  }
  ::operator delete(p);
}

}  // namespace calgate::rt::frame_alloc
