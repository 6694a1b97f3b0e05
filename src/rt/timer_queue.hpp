#pragma once
// One uv_timer_t per loop driving a binary heap of intrusive timer entries.
// Arming and disarming never allocates and never touches libuv handles owned
// by short-lived awaiters, so a coroutine frame can hold a timer entry safely.
#include <cstddef>
#include <cstdint>
#include <vector>

struct uv_timer_s;
typedef struct uv_timer_s uv_timer_t;

namespace calgate::rt {

class loop;
class timer_queue;

struct timer_entry {
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  void (*fire)(timer_entry*) = nullptr;
  std::uint64_t due = 0;
  std::uint64_t seq = 0;
  std::size_t index = npos;
  bool armed() const noexcept { return index != npos; }
};

class timer_queue {
 public:
  explicit timer_queue(loop& l);
  ~timer_queue();
  timer_queue(const timer_queue&) = delete;
  timer_queue& operator=(const timer_queue&) = delete;

  // (Re)arms e to fire after ms milliseconds of loop time.
  void arm(timer_entry& e, std::uint64_t ms);
  void disarm(timer_entry& e) noexcept;
  std::size_t size() const noexcept { return heap_.size(); }
  void close();

 private:
  static void on_timer(uv_timer_t* t);
  void run_due();
  void reschedule();
  bool less(const timer_entry* a, const timer_entry* b) const noexcept {
    return a->due != b->due ? a->due < b->due : a->seq < b->seq;
  }
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;
  void place(std::size_t i, timer_entry* e) noexcept {
    heap_[i] = e;
    e->index = i;
  }
  void remove_at(std::size_t i) noexcept;

  loop& loop_;
  uv_timer_t* handle_;
  std::vector<timer_entry*> heap_;
  std::uint64_t seq_ = 0;
  std::uint64_t armed_due_ = 0;
  bool handle_armed_ = false;
};

}  // namespace calgate::rt
