#pragma once
// Recycles coroutine frames by size class on the (single) loop thread, so the
// per-request chain of small tasks does not go through malloc each time.
#include <cstddef>

namespace calgate::rt::frame_alloc {

void* allocate(std::size_t n);
void deallocate(void* p, std::size_t n) noexcept;

}  // namespace calgate::rt::frame_alloc
