#pragma once
// A byte stream with a bounded input buffer and a queue of writes.
//
// Reading is a pull model over the buffer: read() waits until more bytes have
// arrived (or EOF or an error), data() shows the unread bytes and consume()
// drops the ones used. Implementations stop reading from the network when the
// buffer passes its high-water mark and resume once the reader consumes.
//
// Writes complete when the bytes have been handed to the kernel (or, for TLS,
// when their ciphertext has). The caller's buffers must stay valid until then;
// writes are queued and go out in order.
//
// Rule for every implementation: waking a reader or writer is the last thing a
// callback does, because the woken coroutine may destroy the stream.
#include <array>
#include <coroutine>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "rt/loop.hpp"
#include "rt/result.hpp"
#include "rt/stop.hpp"
#include "rt/task.hpp"

namespace calgate::net {

class stream;

// A write request: up to four buffers, completed exactly once.
struct write_req {
  static constexpr std::size_t max_bufs = 4;
  std::array<std::string_view, max_bufs> bufs{};
  std::size_t nbufs = 0;
  void (*done)(write_req*, std::error_code) = nullptr;
  write_req* next = nullptr;
  std::size_t total() const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < nbufs; ++i) n += bufs[i].size();
    return n;
  }
};

class stream {
 public:
  stream() = default;
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  virtual ~stream();

  // ---- reading
  std::string_view data() const noexcept { return std::string_view(in_).substr(in_off_); }
  void consume(std::size_t n) noexcept;
  // EOF or an error has been seen (unread bytes may remain in data()).
  bool read_ended() const noexcept { return static_cast<bool>(read_end_); }
  std::error_code read_end() const noexcept { return read_end_; }
  // Bytes buffered before reading pauses (backpressure). Default 64 KiB.
  void set_high_water(std::size_t n) noexcept { high_water_ = n; }

  // co_await read(): std::error_code — empty when new bytes arrived, rt::errc::eof
  // at a clean end, canceled/timed_out on a stop, or the transport's error.
  class read_awaiter;
  read_awaiter read() noexcept;
  // Wakes a pending read() with ec (a per-connection timer uses this).
  void cancel_read(std::error_code ec) noexcept;

  // ---- writing
  class write_awaiter;
  write_awaiter write(std::string_view a) noexcept;
  write_awaiter write(std::string_view a, std::string_view b) noexcept;
  write_awaiter write(std::string_view a, std::string_view b, std::string_view c) noexcept;
  // Bytes queued but not yet handed to the transport.
  std::size_t write_backlog() const noexcept { return queued_bytes_; }

  // ---- ending
  // Graceful end: pending writes drain, then the write side is shut (TLS sends
  // close_notify). Reading may continue until the peer closes.
  [[nodiscard]] virtual rt::task<std::error_code> shutdown() = 0;
  // Abrupt close: pending reads and writes complete with rt::errc::closed
  // (or ECANCELED mapped to canceled). Idempotent.
  virtual void close() noexcept = 0;
  virtual bool is_open() const noexcept = 0;

  virtual std::string peer() const { return {}; }

  // ---- layering (a TLS stream on top of a TCP one)
  // An observer is told, instead of a waiting coroutine, that input or the
  // end arrived. Its on_input() must follow the same last-action rule.
  struct observer {
    virtual void on_input() = 0;

   protected:
    ~observer() = default;
  };
  void set_observer(observer* o) noexcept { observer_ = o; }
  // Ask for input to flow (as a pending read() would).
  void request_input() { resume_reading(); }
  // Queue a write completed through w.done (callback style, for layers).
  void submit_write(write_req& w) { enqueue(w); }

 protected:
  // Make bytes flow into the buffer (called when a reader waits or space frees).
  virtual void resume_reading() = 0;
  // Stop pulling from the transport (called at the high-water mark).
  virtual void pause_reading() = 0;
  // Start sending the front of the queue. Must call write_done() once, maybe inline.
  virtual void start_write(write_req& w) = 0;

  // For implementations: deliver input, end of input, and write completion.
  // Each may wake a coroutine, so each must be the last thing a callback does.
  void deliver(const char* p, std::size_t n);
  void deliver_end(std::error_code ec);
  void write_done(std::error_code ec);
  // After an abrupt close: fail every queued write that was not started.
  void fail_queued_writes(std::error_code ec);
  bool writing() const noexcept { return write_head_ != nullptr; }
  bool above_high_water() const noexcept { return in_.size() - in_off_ >= high_water_; }
  bool reader_waiting() const noexcept { return reader_ != nullptr; }
  // co_await writes_drained(): resumes (on a later loop turn) once no write is queued
  // or in flight. For shutdown(), which must not cut off queued writes.
  struct queue_drain_awaiter {
    stream* s;
    bool await_ready() const noexcept { return !s->writing(); }
    void await_suspend(std::coroutine_handle<> h) noexcept { s->drain_waiter_ = h; }
    void await_resume() const noexcept {}
  };
  queue_drain_awaiter writes_drained() noexcept { return queue_drain_awaiter{this}; }

 private:
  friend class read_awaiter;
  friend class write_awaiter;
  void enqueue(write_req& w);
  bool dequeue_unstarted(write_req& w) noexcept;
  void wake_reader(std::error_code ec);

  std::string in_;
  std::size_t in_off_ = 0;
  std::size_t high_water_ = 64 * 1024;
  std::error_code read_end_;
  read_awaiter* reader_ = nullptr;
  observer* observer_ = nullptr;
  write_req* write_head_ = nullptr;   // in flight (the transport has it)
  write_req* queue_head_ = nullptr;   // waiting
  write_req* queue_tail_ = nullptr;
  std::size_t queued_bytes_ = 0;
  std::coroutine_handle<> drain_waiter_;
};

class stream::read_awaiter {
 public:
  explicit read_awaiter(stream* s) noexcept : s_(s), seen_(s->data().size()) {}
  bool await_ready() const noexcept { return s_->data().size() > seen_ || s_->read_ended(); }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    const rt::stop_token& t = rt::detail::token_of(h);
    if (t.stop_requested()) {
      ec_ = rt::to_error(t.reason());
      return false;
    }
    h_ = h;
    s_->reader_ = this;
    in_suspend_ = true;
    s_->resume_reading();  // a layered stream may deliver buffered bytes inline
    in_suspend_ = false;
    if (completed_) return false;
    cb_.emplace(t, on_stop{this});
    return true;
  }
  std::error_code await_resume() const noexcept {
    if (ec_) return ec_;
    if (s_->data().size() > seen_) return {};
    return s_->read_end();
  }

 private:
  friend class stream;
  struct on_stop {
    read_awaiter* self;
    void operator()(rt::stop_reason r) const {
      if (self->s_->reader_ != self) return;
      self->s_->reader_ = nullptr;
      self->ec_ = rt::to_error(r);
      rt::loop::current().schedule(self->h_);
    }
  };
  void complete(std::error_code ec) {
    completed_ = true;
    if (!ec_) ec_ = ec;
    if (in_suspend_) return;
    cb_.reset();
    h_.resume();
  }
  stream* s_;
  std::size_t seen_;
  std::error_code ec_;
  std::coroutine_handle<> h_;
  bool in_suspend_ = false;
  bool completed_ = false;
  std::optional<rt::stop_callback<on_stop>> cb_;
};

class stream::write_awaiter : private write_req {
 public:
  write_awaiter(stream* s, std::initializer_list<std::string_view> bufs) noexcept : s_(s) {
    for (auto b : bufs)
      if (!b.empty()) this->bufs[nbufs++] = b;
  }
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    const rt::stop_token& t = rt::detail::token_of(h);
    if (t.stop_requested()) {
      ec_ = rt::to_error(t.reason());
      return false;
    }
    done = [](write_req* w, std::error_code ec) {
      auto* self = static_cast<write_awaiter*>(w);
      self->finished_ = true;
      if (!self->ec_) self->ec_ = ec;
      self->cb_.reset();
      if (self->suspended_) self->h_.resume();
    };
    h_ = h;
    s_->enqueue(*this);  // may complete synchronously (fast path)
    if (finished_) return false;
    suspended_ = true;
    cb_.emplace(t, on_stop{this});
    return !finished_;
  }
  std::error_code await_resume() const noexcept { return ec_; }

 private:
  struct on_stop {
    write_awaiter* self;
    void operator()(rt::stop_reason r) const {
      self->ec_ = rt::to_error(r);
      if (self->s_->dequeue_unstarted(*self)) {
        self->finished_ = true;
        rt::loop::current().schedule(self->h_);
      } else {
        // Bytes may be half written: the stream cannot be used any more.
        self->s_->close();
      }
    }
  };
  stream* s_;
  std::error_code ec_;
  std::coroutine_handle<> h_;
  bool finished_ = false;
  bool suspended_ = false;
  std::optional<rt::stop_callback<on_stop>> cb_;
};

inline stream::read_awaiter stream::read() noexcept { return read_awaiter(this); }
inline stream::write_awaiter stream::write(std::string_view a) noexcept { return write_awaiter(this, {a}); }
inline stream::write_awaiter stream::write(std::string_view a, std::string_view b) noexcept {
  return write_awaiter(this, {a, b});
}
inline stream::write_awaiter stream::write(std::string_view a, std::string_view b, std::string_view c) noexcept {
  return write_awaiter(this, {a, b, c});
}

}  // namespace calgate::net
