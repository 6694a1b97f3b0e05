#pragma once
// The event loop: one per thread that runs calgate (normally exactly one).
//
// It owns the uv_loop_t and three internal handles: a ready queue of
// coroutines to resume on the next iteration (cancellation and yield go
// through it, so nothing resumes inside a stop request), a thread-safe post
// queue (uv_async_t) and the timer queue's uv_timer_t.
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "rt/timer_queue.hpp"

struct uv_loop_s;
typedef struct uv_loop_s uv_loop_t;

namespace calgate::rt {

class loop {
 public:
  loop();
  ~loop();
  loop(const loop&) = delete;
  loop& operator=(const loop&) = delete;

  // The loop constructed on this thread (there must be one).
  static loop& current() noexcept;
  static loop* current_or_null() noexcept;

  uv_loop_t* raw() noexcept { return raw_.get(); }

  // Runs until uv_stop() or until nothing keeps the loop alive.
  void run();
  // Runs one iteration without blocking; returns whether work remains.
  bool run_nowait();
  void stop() noexcept;

  // Milliseconds of loop time (cached per iteration, as libuv does).
  std::uint64_t now_ms() const noexcept;
  void update_time() noexcept;

  timer_queue& timers() noexcept { return *timers_; }

  // Resume h on the next loop iteration (loop thread only).
  void schedule(std::coroutine_handle<> h);
  // Run fn on the next loop iteration (loop thread only).
  void defer(std::function<void()> fn);
  // Run fn on the loop thread; callable from any thread.
  void post(std::function<void()> fn);

  // Closes the internal handles and every handle still open, runs the loop
  // until they are closed and returns uv_loop_close()'s result (0 when clean).
  // Handles that were still open besides the internal ones are counted in
  // leaked_handles() and make the result non-zero.
  int close();
  int leaked_handles() const noexcept { return leaked_; }

 private:
  struct uv_loop_deleter {
    void operator()(uv_loop_t* l) const noexcept;
  };
  struct internals;

  void drain_ready();
  void drain_posted();

  std::unique_ptr<uv_loop_t, uv_loop_deleter> raw_;
  std::unique_ptr<internals> in_;
  std::unique_ptr<timer_queue> timers_;
  std::vector<std::coroutine_handle<>> ready_;
  std::vector<std::function<void()>> deferred_;
  std::mutex post_mu_;
  std::vector<std::function<void()>> posted_;
  bool closed_ = false;
  int leaked_ = 0;
};

}  // namespace calgate::rt
