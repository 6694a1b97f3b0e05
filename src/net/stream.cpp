#include "net/stream.hpp"

namespace calgate::net {

stream::~stream() = default;

void stream::consume(std::size_t n) noexcept {
  in_off_ += n;
  if (in_off_ > in_.size()) in_off_ = in_.size();
  if (in_off_ == in_.size()) {
    in_off_ = 0;
    in_.clear();
    // Idle connections should not keep big buffers alive.
    if (in_.capacity() > 16 * 1024) in_.shrink_to_fit();
  } else if (in_off_ > 4096 && in_off_ * 2 > in_.size()) {
    in_.erase(0, in_off_);
    in_off_ = 0;
  }
  if (!read_end_ && !above_high_water()) resume_reading();
}

void stream::deliver(const char* p, std::size_t n) {
  in_.append(p, n);
  if (above_high_water()) pause_reading();
  if (reader_) wake_reader({});
  else if (observer_) observer_->on_input();
}

void stream::deliver_end(std::error_code ec) {
  if (!read_end_) read_end_ = ec ? ec : make_error_code(rt::errc::eof);
  if (reader_) wake_reader({});
  else if (observer_) observer_->on_input();
}

void stream::wake_reader(std::error_code ec) {
  read_awaiter* r = reader_;
  reader_ = nullptr;
  r->complete(ec);
}

void stream::cancel_read(std::error_code ec) noexcept {
  if (reader_) wake_reader(ec);
}

void stream::enqueue(write_req& w) {
  if (w.nbufs == 0) {
    w.done(&w, {});
    return;
  }
  if (!is_open()) {
    w.done(&w, make_error_code(rt::errc::closed));
    return;
  }
  w.next = nullptr;
  if (!write_head_) {
    write_head_ = &w;
    start_write(w);
    return;
  }
  queued_bytes_ += w.total();
  if (queue_tail_) queue_tail_->next = &w;
  else queue_head_ = &w;
  queue_tail_ = &w;
}

bool stream::dequeue_unstarted(write_req& w) noexcept {
  write_req* prev = nullptr;
  for (write_req* q = queue_head_; q; prev = q, q = q->next) {
    if (q != &w) continue;
    if (prev) prev->next = q->next;
    else queue_head_ = q->next;
    if (queue_tail_ == q) queue_tail_ = prev;
    queued_bytes_ -= w.total();
    return true;
  }
  return false;
}

void stream::write_done(std::error_code ec) {
  write_req* w = write_head_;
  write_head_ = nullptr;
  if (write_req* n = queue_head_) {
    queue_head_ = n->next;
    if (!queue_head_) queue_tail_ = nullptr;
    queued_bytes_ -= n->total();
    write_head_ = n;
    if (ec) {
      // The transport failed: later writes cannot succeed either.
      write_head_ = nullptr;
      n->done(n, ec);
      fail_queued_writes(ec);
    } else {
      start_write(*n);
    }
  }
  if (!write_head_ && drain_waiter_) rt::loop::current().schedule(std::exchange(drain_waiter_, {}));
  if (w) w->done(w, ec);
}

void stream::fail_queued_writes(std::error_code ec) {
  // Detach the whole queue first: a woken writer may destroy this stream.
  write_req* n = queue_head_;
  queue_head_ = queue_tail_ = nullptr;
  queued_bytes_ = 0;
  while (n) {
    write_req* next = n->next;
    n->done(n, ec);
    n = next;
  }
}

}  // namespace calgate::net
