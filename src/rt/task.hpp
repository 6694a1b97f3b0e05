#pragma once
// task<T>: a lazy, move-only coroutine that propagates exceptions and stop tokens.
//
// It does not rely on symmetric transfer: GCC 12 does not make that a tail call
// below -O2 or under ASan, and a loop of synchronously completing awaits would
// overflow the stack. Instead the awaiting parent starts the child inline; if
// the child finishes before suspending, await_suspend returns false and the
// parent continues on an already-unwound stack. A child that suspends on real
// I/O resumes its parent from final_suspend, which runs from a loop callback,
// so stack depth is bounded by coroutine nesting, never by iteration count.
//
// The awaiting coroutine's stop token is inherited by the child unless the
// child was given one explicitly (with_timeout, task groups).
#include <coroutine>
#include <cstddef>
#include <exception>
#include <type_traits>
#include <utility>
#include <variant>

#include "rt/frame_alloc.hpp"
#include "rt/stop.hpp"

namespace calgate::rt {

template <class T = void>
class task;

namespace detail {

struct promise_base {
  std::coroutine_handle<> continuation_;
  rt::stop_token token_;
  bool token_set_ = false;
  bool inline_start_ = false;
  bool done_ = false;

  struct final_awaiter {
    bool await_ready() const noexcept { return false; }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) noexcept {
      promise_base& p = h.promise();
      p.done_ = true;
      // When the parent is still inside its await_suspend (synchronous
      // completion) it continues by itself; otherwise resume it from here.
      // Nothing in this frame may be touched after the resume.
      if (!p.inline_start_ && p.continuation_) p.continuation_.resume();
    }
    void await_resume() const noexcept {}
  };

  std::suspend_always initial_suspend() const noexcept { return {}; }
  final_awaiter final_suspend() const noexcept { return {}; }
  const rt::stop_token& token() const noexcept { return token_; }

  static void* operator new(std::size_t n) { return frame_alloc::allocate(n); }
  static void operator delete(void* p, std::size_t n) noexcept { frame_alloc::deallocate(p, n); }
};

template <class T>
struct promise final : promise_base {
  std::variant<std::monostate, T, std::exception_ptr> result_;

  task<T> get_return_object() noexcept;
  template <class U>
  void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    result_.template emplace<1>(std::forward<U>(v));
  }
  void unhandled_exception() noexcept { result_.template emplace<2>(std::current_exception()); }
  T take() {
    if (result_.index() == 2) std::rethrow_exception(std::get<2>(result_));
    return std::move(std::get<1>(result_));
  }
};

template <>
struct promise<void> final : promise_base {
  std::exception_ptr exc_;
  task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void unhandled_exception() noexcept { exc_ = std::current_exception(); }
  void take() {
    if (exc_) std::rethrow_exception(exc_);
  }
};

// The stop token of whatever coroutine is awaiting; empty for foreign promise types.
template <class P>
const rt::stop_token& token_of(std::coroutine_handle<P> h) noexcept {
  if constexpr (requires { h.promise().token(); }) {
    return h.promise().token();
  } else {
    static const rt::stop_token none;
    return none;
  }
}

}  // namespace detail

template <class T>
class [[nodiscard]] task {
 public:
  using promise_type = detail::promise<T>;
  using handle_type = std::coroutine_handle<promise_type>;
  using value_type = T;

  task() noexcept = default;
  explicit task(handle_type h) noexcept : h_(h) {}
  task(task&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  task& operator=(task&& o) noexcept {
    if (this != &o) {
      destroy();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() { destroy(); }

  bool valid() const noexcept { return static_cast<bool>(h_); }
  bool done() const noexcept { return h_ && h_.promise().done_; }

  // Gives the task its own stop token instead of inheriting the awaiter's.
  void set_stop_token(stop_token t) noexcept {
    h_.promise().token_ = std::move(t);
    h_.promise().token_set_ = true;
  }

  struct awaiter {
    handle_type h;
    bool await_ready() const noexcept { return !h || h.promise().done_; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> parent) {
      promise_type& p = h.promise();
      p.continuation_ = parent;
      if (!p.token_set_) p.token_ = detail::token_of(parent);
      p.inline_start_ = true;
      h.resume();
      p.inline_start_ = false;
      return !p.done_;
    }
    T await_resume() { return h.promise().take(); }
  };

  awaiter operator co_await() && noexcept { return awaiter{h_}; }

  // For runners that drive a task from outside a coroutine.
  handle_type handle() const noexcept { return h_; }

 private:
  void destroy() noexcept {
    if (h_) h_.destroy();
    h_ = nullptr;
  }
  handle_type h_;
};

namespace detail {
template <class T>
task<T> promise<T>::get_return_object() noexcept {
  return task<T>(std::coroutine_handle<promise<T>>::from_promise(*this));
}
inline task<void> promise<void>::get_return_object() noexcept {
  return task<void>(std::coroutine_handle<promise<void>>::from_promise(*this));
}
}  // namespace detail

// co_await this_token() yields the current coroutine's stop token without suspending.
struct this_token {
  const stop_token* t = nullptr;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    t = &detail::token_of(h);
    return false;
  }
  stop_token await_resume() const noexcept { return *t; }
};

}  // namespace calgate::rt
