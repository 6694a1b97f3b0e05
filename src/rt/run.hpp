#pragma once
// Drives a task to completion on a loop from ordinary (non-coroutine) code:
// main(), tests and tools.
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "rt/detached.hpp"
#include "rt/loop.hpp"
#include "rt/task.hpp"

namespace calgate::rt {
namespace detail {

template <class T, class Out>
detached run_root(task<T> t, Out* out, std::exception_ptr* err, bool* done, loop* l) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(t);
    } else {
      out->emplace(co_await std::move(t));
    }
  } catch (...) {
    *err = std::current_exception();
  }
  *done = true;
  l->stop();
}

}  // namespace detail

// Runs the loop until t completes and returns its value (or rethrows).
// Throws std::logic_error if the loop runs out of work first (a deadlock).
template <class T>
T run(loop& l, task<T> t) {
  std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> out;
  std::exception_ptr err;
  bool done = false;
  detail::run_root(std::move(t), &out, &err, &done, &l);
  while (!done) {
    l.run();
    if (!done && !l.run_nowait() && !done) throw std::logic_error("event loop ran out of work before the task completed");
  }
  if (err) std::rethrow_exception(err);
  if constexpr (!std::is_void_v<T>) return std::move(*out);
}

}  // namespace calgate::rt
