#pragma once
// Coroutines waiting for something to change (a free connection, a state
// change). co_await q.wait() returns an empty error_code when notified, or
// canceled/timed_out when the waiter's stop token fires first. Notified
// waiters resume on the next loop turn, in FIFO order.
#include <coroutine>
#include <cstddef>
#include <optional>
#include <system_error>

#include "rt/loop.hpp"
#include "rt/stop.hpp"
#include "rt/task.hpp"

namespace calgate::rt {

class wait_queue {
 public:
  wait_queue() = default;
  wait_queue(const wait_queue&) = delete;
  wait_queue& operator=(const wait_queue&) = delete;
  ~wait_queue() { notify_all(); }

  class awaiter {
   public:
    explicit awaiter(wait_queue* q) noexcept : q_(q) {}
    awaiter(const awaiter&) = delete;
    awaiter& operator=(const awaiter&) = delete;

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
      const stop_token& t = detail::token_of(h);
      if (t.stop_requested()) {
        ec_ = to_error(t.reason());
        return false;
      }
      h_ = h;
      q_->push(this);
      cb_.emplace(t, on_stop{this});
      return true;
    }
    std::error_code await_resume() noexcept {
      cb_.reset();
      return ec_;
    }

   private:
    friend class wait_queue;
    struct on_stop {
      awaiter* self;
      void operator()(stop_reason r) const {
        self->q_->unlink(self);
        self->ec_ = to_error(r);
        loop::current().schedule(self->h_);
      }
    };
    wait_queue* q_;
    awaiter* prev_ = nullptr;
    awaiter* next_ = nullptr;
    bool linked_ = false;
    std::coroutine_handle<> h_;
    std::error_code ec_;
    std::optional<stop_callback<on_stop>> cb_;
  };

  awaiter wait() noexcept { return awaiter(this); }

  void notify_one() {
    if (awaiter* w = head_) wake(w);
  }
  void notify_all() {
    while (awaiter* w = head_) wake(w);
  }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

 private:
  void push(awaiter* w) noexcept {
    w->prev_ = tail_;
    w->next_ = nullptr;
    if (tail_) tail_->next_ = w;
    else head_ = w;
    tail_ = w;
    w->linked_ = true;
    ++size_;
  }
  void unlink(awaiter* w) noexcept {
    if (!w->linked_) return;
    if (w->prev_) w->prev_->next_ = w->next_;
    else head_ = w->next_;
    if (w->next_) w->next_->prev_ = w->prev_;
    else tail_ = w->prev_;
    w->linked_ = false;
    --size_;
  }
  void wake(awaiter* w) {
    unlink(w);
    w->cb_.reset();
    loop::current().schedule(w->h_);
  }

  awaiter* head_ = nullptr;
  awaiter* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace calgate::rt
