#include "rt/task_group.hpp"

#include <cstdio>

#include "rt/detached.hpp"
#include "rt/log.hpp"
#include "rt/loop.hpp"

namespace calgate::rt {
namespace {

detail::detached run_in_group(task<void> t, task_group* g, void (*finish)(task_group*, std::exception_ptr)) {
  std::exception_ptr err;
  try {
    co_await std::move(t);
  } catch (...) {
    err = std::current_exception();
  }
  finish(g, err);
}

}  // namespace

task_group::task_group(std::string name) : name_(std::move(name)) {}

task_group::~task_group() {
  if (live_ != 0) {
    std::fprintf(stderr, "calgate: task group '%s' destroyed with %zu tasks alive\n", name_.c_str(), live_);
    std::terminate();
  }
}

void task_group::spawn(task<void> t) {
  ++live_;
  t.set_stop_token(stop_.token());
  run_in_group(std::move(t), this, [](task_group* g, std::exception_ptr e) { g->finished(e); });
}

void task_group::finished(std::exception_ptr e) {
  if (e) {
    if (on_error_) {
      on_error_(e);
    } else {
      try {
        std::rethrow_exception(e);
      } catch (const error& ex) {
        if (!is_stop(ex.code())) log::warn("background task failed", {{"group", name_}, {"error", ex.what()}});
      } catch (const std::exception& ex) {
        log::error("background task failed", {{"group", name_}, {"error", ex.what()}});
      } catch (...) {
        log::error("background task failed", {{"group", name_}, {"error", "unknown exception"}});
      }
    }
  }
  if (--live_ == 0 && !joiners_.empty()) {
    std::vector<std::coroutine_handle<>> js;
    js.swap(joiners_);
    for (auto h : js) loop::current().schedule(h);
  }
}

}  // namespace calgate::rt
