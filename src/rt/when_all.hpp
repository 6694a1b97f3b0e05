#pragma once
// when_all: runs tasks concurrently and completes when all have finished.
// If one fails, the others are asked to stop (canceled) and the first
// exception is rethrown after every task has finished: nothing is abandoned.
#include <coroutine>
#include <exception>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "rt/detached.hpp"
#include "rt/stop.hpp"
#include "rt/task.hpp"

namespace calgate::rt {
namespace detail {

struct when_all_state {
  std::size_t remaining = 0;
  std::coroutine_handle<> waiter;
  std::exception_ptr first_error;
  linked_stop_source* stop = nullptr;

  void child_done(std::exception_ptr e) {
    if (e && !first_error) {
      first_error = e;
      stop->request_stop(stop_reason::canceled);
    }
    // Nothing of this state may be touched after resuming the waiter.
    if (--remaining == 0 && waiter) waiter.resume();
  }
  struct wait {
    when_all_state* s;
    bool await_ready() const noexcept { return s->remaining == 0; }
    void await_suspend(std::coroutine_handle<> h) noexcept { s->waiter = h; }
    void await_resume() const noexcept {}
  };
};

template <class T, class Slot>
detached when_all_child(task<T> t, Slot* slot, when_all_state* s) {
  std::exception_ptr err;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(t);
    } else {
      slot->emplace(co_await std::move(t));
    }
  } catch (...) {
    err = std::current_exception();
  }
  s->child_done(err);
}

template <class T>
using slot_t = std::optional<std::conditional_t<std::is_void_v<T>, std::monostate, T>>;

}  // namespace detail

template <class T>
[[nodiscard]] task<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> when_all(std::vector<task<T>> tasks) {
  stop_token parent = co_await this_token();
  linked_stop_source stop(parent);
  detail::when_all_state s;
  s.stop = &stop;
  s.remaining = tasks.size() + 1;  // +1 so no child resumes us while we are still starting them
  std::vector<detail::slot_t<T>> slots(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    tasks[i].set_stop_token(stop.token());
    detail::when_all_child(std::move(tasks[i]), &slots[i], &s);
  }
  --s.remaining;
  co_await detail::when_all_state::wait{&s};
  if (s.first_error) std::rethrow_exception(s.first_error);
  if constexpr (!std::is_void_v<T>) {
    std::vector<T> out;
    out.reserve(slots.size());
    for (auto& sl : slots) out.push_back(std::move(*sl));
    co_return out;
  }
}

// Variadic form: a tuple of results, std::monostate standing in for void.
template <class... Ts>
[[nodiscard]] task<std::tuple<std::conditional_t<std::is_void_v<Ts>, std::monostate, Ts>...>> when_all(task<Ts>... ts) {
  stop_token parent = co_await this_token();
  linked_stop_source stop(parent);
  detail::when_all_state s;
  s.stop = &stop;
  s.remaining = sizeof...(Ts) + 1;
  std::tuple<detail::slot_t<Ts>...> slots;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((ts.set_stop_token(stop.token()), detail::when_all_child(std::move(ts), &std::get<I>(slots), &s)), ...);
  }(std::index_sequence_for<Ts...>{});
  --s.remaining;
  co_await detail::when_all_state::wait{&s};
  if (s.first_error) std::rethrow_exception(s.first_error);
  co_return std::apply(
      [](auto&... sl) {
        return std::tuple<std::conditional_t<std::is_void_v<Ts>, std::monostate, Ts>...>(std::move(*sl)...);
      },
      slots);
}

}  // namespace calgate::rt
