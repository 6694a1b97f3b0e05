#pragma once
// Single-threaded stop tokens that carry a reason (canceled or timed out).
//
// Everything in calgate that can be stopped runs on the loop thread, so these
// need no atomics. A stop request runs the registered callbacks synchronously;
// callbacks only *start* a cancellation (close a handle, remove a timer, abandon
// a message id) and the stopped operation resumes later, exactly once.
#include <cstdint>
#include <system_error>
#include <utility>

#include "rt/error.hpp"

namespace calgate::rt {

enum class stop_reason : std::uint8_t { none, canceled, timed_out };

inline std::error_code to_error(stop_reason r) noexcept {
  return r == stop_reason::timed_out ? make_error_code(errc::timed_out) : make_error_code(errc::canceled);
}

class stop_token;
class stop_source;

namespace detail {

struct stop_node {
  void (*fire)(stop_node*, stop_reason) = nullptr;
  stop_node* prev = nullptr;
  stop_node* next = nullptr;
};

class stop_state {
 public:
  void add_ref() noexcept { ++refs_; }
  // Out of line: inlined into request(), GCC 12 cannot see that the extra
  // reference keeps the state alive and warns about a use after free.
  [[gnu::noinline]] void release() noexcept {
    if (--refs_ == 0) delete this;
  }
  stop_reason reason() const noexcept { return reason_; }

  // Returns false (and does not register) when a stop was already requested.
  bool attach(stop_node* n) noexcept {
    if (reason_ != stop_reason::none) return false;
    n->prev = nullptr;
    n->next = head_;
    if (head_) head_->prev = n;
    head_ = n;
    return true;
  }
  void detach(stop_node* n) noexcept {
    if (n->prev) n->prev->next = n->next;
    else if (head_ == n) head_ = n->next;
    else return;  // not attached (already fired)
    if (n->next) n->next->prev = n->prev;
    n->prev = n->next = nullptr;
  }
  bool request(stop_reason r) noexcept {
    if (reason_ != stop_reason::none) return false;
    reason_ = r;
    add_ref();  // callbacks may drop the last outside reference
    while (stop_node* n = head_) {
      head_ = n->next;
      if (head_) head_->prev = nullptr;
      n->prev = n->next = nullptr;
      n->fire(n, r);
    }
    release();
    return true;
  }

 private:
  unsigned refs_ = 1;
  stop_reason reason_ = stop_reason::none;
  stop_node* head_ = nullptr;
};

}  // namespace detail

class stop_token {
 public:
  stop_token() noexcept = default;
  stop_token(const stop_token& o) noexcept : s_(o.s_) {
    if (s_) s_->add_ref();
  }
  stop_token(stop_token&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  stop_token& operator=(stop_token o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  ~stop_token() {
    if (s_) s_->release();
  }

  bool stop_possible() const noexcept { return s_ != nullptr; }
  bool stop_requested() const noexcept { return s_ && s_->reason() != stop_reason::none; }
  stop_reason reason() const noexcept { return s_ ? s_->reason() : stop_reason::none; }

 private:
  friend class stop_source;
  template <class F>
  friend class stop_callback;
  explicit stop_token(detail::stop_state* s) noexcept : s_(s) {
    if (s_) s_->add_ref();
  }
  detail::stop_state* s_ = nullptr;
};

class stop_source {
 public:
  stop_source() : s_(new detail::stop_state) {}
  stop_source(const stop_source&) = delete;
  stop_source& operator=(const stop_source&) = delete;
  stop_source(stop_source&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  stop_source& operator=(stop_source&& o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  ~stop_source() {
    if (s_) s_->release();
  }

  stop_token token() const noexcept { return stop_token(s_); }
  bool request_stop(stop_reason r = stop_reason::canceled) noexcept { return s_->request(r); }
  bool stop_requested() const noexcept { return s_->reason() != stop_reason::none; }
  stop_reason reason() const noexcept { return s_->reason(); }

 private:
  detail::stop_state* s_;
};

// Runs f(stop_reason) once if the token is stopped while this object lives.
// If the token is already stopped at construction, f runs immediately.
template <class F>
class stop_callback : private detail::stop_node {
 public:
  template <class G>
  stop_callback(const stop_token& t, G&& f) : f_(std::forward<G>(f)) {
    fire = [](detail::stop_node* n, stop_reason r) { static_cast<stop_callback*>(n)->f_(r); };
    if (!t.s_) return;
    if (t.s_->attach(this)) {
      state_ = t.s_;
      state_->add_ref();
    } else {
      f_(t.s_->reason());
    }
  }
  stop_callback(const stop_callback&) = delete;
  stop_callback& operator=(const stop_callback&) = delete;
  ~stop_callback() {
    if (state_) {
      state_->detach(this);
      state_->release();
    }
  }

 private:
  F f_;
  detail::stop_state* state_ = nullptr;
};

template <class G>
stop_callback(const stop_token&, G&&) -> stop_callback<std::decay_t<G>>;

// A stop source that also stops, with the same reason, when a parent token stops.
class linked_stop_source {
 public:
  explicit linked_stop_source(const stop_token& parent)
      : cb_(parent, forwarder{&src_}) {}
  linked_stop_source(const linked_stop_source&) = delete;
  linked_stop_source& operator=(const linked_stop_source&) = delete;

  stop_token token() const noexcept { return src_.token(); }
  bool request_stop(stop_reason r = stop_reason::canceled) noexcept { return src_.request_stop(r); }
  bool stop_requested() const noexcept { return src_.stop_requested(); }
  stop_reason reason() const noexcept { return src_.reason(); }

 private:
  struct forwarder {
    stop_source* src;
    void operator()(stop_reason r) const noexcept { src->request_stop(r); }
  };
  stop_source src_;  // declared before cb_: constructed first, destroyed last
  stop_callback<forwarder> cb_;
};

}  // namespace calgate::rt
