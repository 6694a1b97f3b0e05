#pragma once
// An eagerly started coroutine that frees itself when it finishes. Only the
// runtime's own runners (task groups, when_all, run) use it; their bodies
// catch everything, so no exception escapes.
#include <coroutine>
#include <exception>

#include "rt/frame_alloc.hpp"

namespace calgate::rt::detail {

struct detached {
  struct promise_type {
    detached get_return_object() const noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }
    static void* operator new(std::size_t n) { return frame_alloc::allocate(n); }
    static void operator delete(void* p, std::size_t n) noexcept { frame_alloc::deallocate(p, n); }
  };
};

}  // namespace calgate::rt::detail
