#pragma once
// A coroutine waiting for several answers that other tasks deliver (for
// example fetches it shares with other callers), or for its own stop token,
// whichever comes first. It is resumed exactly once: by the last delivery or
// by the stop, never both (a stop that arrives after the last delivery has
// already scheduled the resumption changes nothing).
//
//   rt::countdown c([&] { /* stop further deliveries to this waiter */ });
//   c.add(n);           // before awaiting
//   ... deliveries call c.done_one() ...
//   co_await c;         // then c.stopped(): empty, or canceled / timed_out
#include <coroutine>
#include <cstddef>
#include <functional>
#include <optional>
#include <system_error>

#include "rt/loop.hpp"
#include "rt/stop.hpp"
#include "rt/task.hpp"

namespace calgate::rt {

class countdown {
 public:
  // `abandon` runs when the stop comes first: it must make sure no delivery
  // reaches this object any more (it is usually about to be destroyed).
  explicit countdown(std::function<void()> abandon) : abandon_(std::move(abandon)) {}
  countdown(const countdown&) = delete;
  countdown& operator=(const countdown&) = delete;

  void add(std::size_t n = 1) noexcept { remaining_ += n; }
  void done_one() {
    if (remaining_ > 0 && --remaining_ == 0) resume();
  }
  std::size_t remaining() const noexcept { return remaining_; }
  // Why the wait ended early (empty when every answer arrived).
  std::error_code stopped() const noexcept { return stopped_; }

  bool await_ready() const noexcept { return remaining_ == 0; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    const stop_token& t = detail::token_of(h);
    if (t.stop_requested()) {
      give_up(t.reason());
      return false;
    }
    h_ = h;
    cb_.emplace(t, on_stop{this});
    return true;
  }
  void await_resume() noexcept { cb_.reset(); }

 private:
  struct on_stop {
    countdown* self;
    void operator()(stop_reason r) const {
      if (self->resuming_) return;
      self->give_up(r);
      self->resume();
    }
  };
  void give_up(stop_reason r) {
    if (abandon_) abandon_();
    remaining_ = 0;
    stopped_ = to_error(r);
  }
  void resume() {
    if (resuming_ || !h_) return;
    resuming_ = true;
    loop::current().schedule(h_);
  }

  std::function<void()> abandon_;
  std::size_t remaining_ = 0;
  std::coroutine_handle<> h_;
  bool resuming_ = false;
  std::error_code stopped_;
  std::optional<stop_callback<on_stop>> cb_;
};

}  // namespace calgate::rt
