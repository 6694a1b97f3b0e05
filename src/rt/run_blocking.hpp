#pragma once
// run_blocking(fn): runs fn on the libuv threadpool and resumes on the loop
// thread with its result (or its exception). A stop request cancels the work
// if it has not started; if it has, the coroutine waits for it to finish (the
// work may reference the frame) and then throws canceled/timed_out.
//
// GCC 12 pitfall: a lambda with by-value captures of non-trivial types (strings,
// structs of strings) written directly inside `co_await run_blocking(...)` has
// its captures destroyed twice. Name the awaiter first:
//   auto job = rt::run_blocking([o = opts] { ... });  auto r = co_await job;
// (The same holds for any aggregate temporary built inside a co_await expression.)
#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "rt/task.hpp"

namespace calgate::rt {
namespace detail {

struct blocking_op {
  void (*work)(blocking_op*) = nullptr;     // threadpool thread
  void (*done)(blocking_op*) = nullptr;     // loop thread, exactly once
  void* req = nullptr;                      // uv_work_t, owned by the .cpp side
};
void submit_blocking(blocking_op* op);
void cancel_blocking(blocking_op* op) noexcept;

}  // namespace detail

template <class F>
class run_blocking : private detail::blocking_op {
  using R = std::invoke_result_t<F&>;
  using stored = std::conditional_t<std::is_void_v<R>, bool, R>;

 public:
  explicit run_blocking(F fn) : fn_(std::move(fn)) {}

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    const stop_token& t = detail::token_of(h);
    if (t.stop_requested()) {
      reason_ = t.reason();
      return false;
    }
    h_ = h;
    work = [](detail::blocking_op* o) {
      auto* self = static_cast<run_blocking*>(o);
      try {
        if constexpr (std::is_void_v<R>) {
          self->fn_();
          self->value_.emplace(true);
        } else {
          self->value_.emplace(self->fn_());
        }
      } catch (...) {
        self->exc_ = std::current_exception();
      }
    };
    done = [](detail::blocking_op* o) {
      auto* self = static_cast<run_blocking*>(o);
      self->cb_.reset();
      self->h_.resume();
    };
    detail::submit_blocking(this);
    cb_.emplace(t, on_stop{this});
    return true;
  }
  R await_resume() {
    if (reason_ != stop_reason::none) throw error(to_error(reason_));
    if (exc_) std::rethrow_exception(exc_);
    if constexpr (!std::is_void_v<R>) return std::move(*value_);
  }

 private:
  struct on_stop {
    run_blocking* self;
    void operator()(stop_reason r) const noexcept {
      self->reason_ = r;
      detail::cancel_blocking(self);
    }
  };
  F fn_;
  std::optional<stored> value_;
  std::exception_ptr exc_;
  std::coroutine_handle<> h_;
  stop_reason reason_ = stop_reason::none;
  std::optional<stop_callback<on_stop>> cb_;
};

template <class F>
run_blocking(F) -> run_blocking<F>;

}  // namespace calgate::rt
