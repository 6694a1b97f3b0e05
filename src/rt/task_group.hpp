#pragma once
// task_group: structured ownership of background tasks (connections, sync
// ticks). Spawned tasks run under the group's stop token; shutdown requests a
// stop and then joins, so no task outlives the group.
#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <string>

#include "rt/stop.hpp"
#include "rt/task.hpp"

namespace calgate::rt {

class task_group {
 public:
  explicit task_group(std::string name = "tasks");
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;
  ~task_group();

  // Starts t now (it runs until its first suspension before spawn returns).
  void spawn(task<void> t);

  // Asks every task in the group (and every later one) to stop.
  void request_stop(stop_reason r = stop_reason::canceled) noexcept { stop_.request_stop(r); }
  bool stop_requested() const noexcept { return stop_.stop_requested(); }
  stop_token token() const noexcept { return stop_.token(); }

  std::size_t size() const noexcept { return live_; }

  // Completes when no task is left in the group.
  struct join_awaiter {
    task_group* g;
    bool await_ready() const noexcept { return g->live_ == 0; }
    void await_suspend(std::coroutine_handle<> h) noexcept { g->joiners_.push_back(h); }
    void await_resume() const noexcept {}
  };
  join_awaiter join() noexcept { return join_awaiter{this}; }

  // Called with the exception of a task that failed; the default logs it.
  void on_error(std::function<void(std::exception_ptr)> fn) { on_error_ = std::move(fn); }

 private:
  void finished(std::exception_ptr e);

  std::string name_;
  stop_source stop_;
  std::size_t live_ = 0;
  std::vector<std::coroutine_handle<>> joiners_;
  std::function<void(std::exception_ptr)> on_error_;
};

}  // namespace calgate::rt
