#pragma once
// with_timeout(d, t): runs t with a stop token that is triggered with reason
// timed_out after d (and with the parent's reason if the parent stops first).
// Operations inside t resume with rt::errc::timed_out; t is never abandoned.
#include <chrono>

#include "rt/loop.hpp"
#include "rt/task.hpp"

namespace calgate::rt {

// Requests a stop on a source when its time is up; disarmed on destruction.
class deadline : private timer_entry {
 public:
  deadline(std::chrono::milliseconds d, linked_stop_source& src) : src_(src) {
    fire = [](timer_entry* e) { static_cast<deadline*>(e)->src_.request_stop(stop_reason::timed_out); };
    loop::current().timers().arm(*this, d.count() > 0 ? static_cast<std::uint64_t>(d.count()) : 0);
  }
  deadline(const deadline&) = delete;
  deadline& operator=(const deadline&) = delete;
  ~deadline() {
    if (armed()) loop::current().timers().disarm(*this);
  }
  bool expired() const noexcept { return !armed(); }

 private:
  linked_stop_source& src_;
};

template <class T>
[[nodiscard]] task<T> with_timeout(std::chrono::milliseconds d, task<T> t) {
  stop_token parent = co_await this_token();
  linked_stop_source src(parent);
  deadline dl(d, src);
  t.set_stop_token(src.token());
  co_return co_await std::move(t);
}

// Runs t under the given token (for example a group's or a request's).
template <class T>
[[nodiscard]] task<T> with_stop_token(stop_token token, task<T> t) {
  t.set_stop_token(std::move(token));
  co_return co_await std::move(t);
}

}  // namespace calgate::rt
