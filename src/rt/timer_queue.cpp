#include "rt/timer_queue.hpp"

#include <uv.h>

#include "rt/loop.hpp"

namespace calgate::rt {

timer_queue::timer_queue(loop& l) : loop_(l), handle_(new uv_timer_t) {
  uv_timer_init(l.raw(), handle_);
  handle_->data = this;
}

timer_queue::~timer_queue() { close(); }

void timer_queue::close() {
  if (!handle_) return;
  for (timer_entry* e : heap_) e->index = timer_entry::npos;
  heap_.clear();
  handle_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  handle_ = nullptr;
}

void timer_queue::arm(timer_entry& e, std::uint64_t ms) {
  if (e.armed()) remove_at(e.index);
  e.due = loop_.now_ms() + ms;
  e.seq = ++seq_;
  heap_.push_back(&e);
  e.index = heap_.size() - 1;
  sift_up(e.index);
  if (e.index == 0) reschedule();
}

void timer_queue::disarm(timer_entry& e) noexcept {
  if (!e.armed()) return;
  bool was_top = e.index == 0;
  remove_at(e.index);
  if (was_top) reschedule();
}

void timer_queue::remove_at(std::size_t i) noexcept {
  timer_entry* gone = heap_[i];
  gone->index = timer_entry::npos;
  timer_entry* last = heap_.back();
  heap_.pop_back();
  if (i == heap_.size()) return;
  place(i, last);
  sift_up(i);
  sift_down(last->index);
}

void timer_queue::sift_up(std::size_t i) noexcept {
  timer_entry* e = heap_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (!less(e, heap_[parent])) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, e);
}

void timer_queue::sift_down(std::size_t i) noexcept {
  timer_entry* e = heap_[i];
  const std::size_t n = heap_.size();
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && less(heap_[child + 1], heap_[child])) ++child;
    if (!less(heap_[child], e)) break;
    place(i, heap_[child]);
    i = child;
  }
  place(i, e);
}

void timer_queue::reschedule() {
  if (!handle_) return;
  if (heap_.empty()) {
    if (handle_armed_) uv_timer_stop(handle_);
    handle_armed_ = false;
    return;
  }
  std::uint64_t due = heap_.front()->due;
  if (handle_armed_ && armed_due_ == due) return;
  std::uint64_t now = loop_.now_ms();
  uv_timer_start(handle_, &timer_queue::on_timer, due > now ? due - now : 0, 0);
  handle_armed_ = true;
  armed_due_ = due;
}

void timer_queue::on_timer(uv_timer_t* t) {
  auto* self = static_cast<timer_queue*>(t->data);
  if (!self) return;
  self->handle_armed_ = false;
  self->run_due();
}

void timer_queue::run_due() {
  const std::uint64_t now = loop_.now_ms();
  // Entries armed while firing (even with 0 ms) wait for the next round, so a
  // callback that re-arms itself cannot spin this loop forever.
  const std::uint64_t last_seq = seq_;
  while (!heap_.empty()) {
    timer_entry* e = heap_.front();
    if (e->due > now || e->seq > last_seq) break;
    remove_at(0);
    e->fire(e);
  }
  reschedule();
}

}  // namespace calgate::rt
