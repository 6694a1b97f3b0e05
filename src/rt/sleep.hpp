#pragma once
// Awaitable sleeps and yields, plus a re-armable callback timer for owners
// (connections, pools) that need one deadline at a time.
#include <chrono>
#include <coroutine>
#include <optional>

#include "rt/loop.hpp"
#include "rt/task.hpp"

namespace calgate::rt {

// co_await sleep_for(d): resumes no earlier than d after the call (the loop's
// cached time is refreshed first, and a millisecond is added for its
// truncation), or throws rt::error(canceled/timed_out) when the awaiting
// coroutine's stop token is triggered first. Back-off hints rely on this.
class sleep_for : private timer_entry {
 public:
  explicit sleep_for(std::chrono::milliseconds d) noexcept
      : ms_(d.count() > 0 ? static_cast<std::uint64_t>(d.count()) : 0) {}

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    const stop_token& t = detail::token_of(h);
    if (t.stop_requested()) {
      reason_ = t.reason();
      return false;
    }
    h_ = h;
    fire = [](timer_entry* e) {
      auto* self = static_cast<sleep_for*>(e);
      self->cb_.reset();
      self->h_.resume();
    };
    loop::current().update_time();
    loop::current().timers().arm(*this, ms_ > 0 ? ms_ + 1 : 0);
    cb_.emplace(t, on_stop{this});
    return true;
  }
  void await_resume() const {
    if (reason_ != stop_reason::none) throw error(to_error(reason_));
  }

 private:
  struct on_stop {
    sleep_for* self;
    void operator()(stop_reason r) const {
      loop::current().timers().disarm(*self);
      self->reason_ = r;
      loop::current().schedule(self->h_);
    }
  };
  std::uint64_t ms_;
  std::coroutine_handle<> h_;
  stop_reason reason_ = stop_reason::none;
  std::optional<stop_callback<on_stop>> cb_;
};

// co_await yield(): lets the loop poll I/O and run other ready coroutines.
struct yield {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const { loop::current().schedule(h); }
  void await_resume() const noexcept {}
};

// A timer owned by a long-lived object: start() re-arms it, stop() disarms it,
// and the destructor disarms it. The callback runs on the loop thread.
class timer : private timer_entry {
 public:
  using callback = void (*)(void* ctx);
  timer(callback cb, void* ctx) noexcept : cb_(cb), ctx_(ctx) {
    fire = [](timer_entry* e) {
      auto* self = static_cast<timer*>(e);
      self->cb_(self->ctx_);
    };
  }
  timer(const timer&) = delete;
  timer& operator=(const timer&) = delete;
  ~timer() { stop(); }

  void start(std::chrono::milliseconds d) {
    loop::current().timers().arm(*this, d.count() > 0 ? static_cast<std::uint64_t>(d.count()) : 0);
  }
  void stop() noexcept {
    if (armed()) loop::current().timers().disarm(*this);
  }
  bool active() const noexcept { return armed(); }

 private:
  callback cb_;
  void* ctx_;
};

}  // namespace calgate::rt
