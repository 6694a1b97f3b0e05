#pragma once
// TCP streams, listeners, name resolution and connecting, on libuv.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <sys/socket.h>

#include "net/stream.hpp"
#include "rt/result.hpp"
#include "rt/task.hpp"

namespace calgate::net {

class tcp_stream final : public stream {
 public:
  ~tcp_stream() override;
  rt::task<std::error_code> shutdown() override;
  void close() noexcept override;
  bool is_open() const noexcept override;
  std::string peer() const override;

  void set_nodelay(bool on) noexcept;
  // The socket, for liveness checks (MSG_PEEK) on pooled connections.
  int fd() const noexcept;

  struct block;  // libuv handle and requests; freed in the close callback

 protected:
  void resume_reading() override;
  void pause_reading() override;
  void start_write(write_req& w) override;

 private:
  friend class tcp_listener;
  friend struct tcp_access;
  tcp_stream();
  void on_read(long nread, const char* base);
  void on_write(int status);

  block* b_;
  bool reading_ = false;
  bool closed_ = false;
  std::size_t write_off_ = 0;  // bytes of the current request already written
};

struct address {
  sockaddr_storage storage{};
  socklen_t len = 0;
  std::string to_string() const;
};

// Resolves host (name or literal) with uv_getaddrinfo. Cancellable.
[[nodiscard]] rt::task<rt::result<std::vector<address>>> resolve(std::string host, std::uint16_t port);

// Resolves and connects, trying each address in turn.
[[nodiscard]] rt::task<rt::result<std::unique_ptr<tcp_stream>>> connect(std::string host, std::uint16_t port);
[[nodiscard]] rt::task<rt::result<std::unique_ptr<tcp_stream>>> connect(const address& addr);

class tcp_listener {
 public:
  tcp_listener();
  ~tcp_listener();
  tcp_listener(const tcp_listener&) = delete;
  tcp_listener& operator=(const tcp_listener&) = delete;

  // Binds and listens; port 0 picks a free port (see port()).
  std::error_code listen(const std::string& host, std::uint16_t port, int backlog = 1024);
  std::uint16_t port() const noexcept;

  class accept_awaiter;
  // co_await accept(): result<unique_ptr<tcp_stream>>; errc::closed after close().
  accept_awaiter accept() noexcept;
  void close() noexcept;
  bool is_open() const noexcept;

  struct block;

 private:
  friend class accept_awaiter;
  void on_connection(int status);
  rt::result<std::unique_ptr<tcp_stream>> take();

  block* b_;
  bool closed_ = false;
  std::uint16_t port_ = 0;  // remembered at close
  bool pending_ = false;  // the kernel has a connection waiting for uv_accept
  std::error_code error_;
  accept_awaiter* waiter_ = nullptr;
};

class tcp_listener::accept_awaiter {
 public:
  explicit accept_awaiter(tcp_listener* l) noexcept : l_(l) {}
  bool await_ready() const noexcept { return l_->pending_ || !l_->is_open(); }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    const rt::stop_token& t = rt::detail::token_of(h);
    if (t.stop_requested()) {
      ec_ = rt::to_error(t.reason());
      return false;
    }
    h_ = h;
    l_->waiter_ = this;
    cb_.emplace(t, on_stop{this});
    return true;
  }
  rt::result<std::unique_ptr<tcp_stream>> await_resume() {
    if (ec_) return ec_;
    return l_->take();
  }

 private:
  friend class tcp_listener;
  struct on_stop {
    accept_awaiter* self;
    void operator()(rt::stop_reason r) const {
      self->l_->waiter_ = nullptr;
      self->ec_ = rt::to_error(r);
      rt::loop::current().schedule(self->h_);
    }
  };
  void wake() {
    cb_.reset();
    h_.resume();
  }
  tcp_listener* l_;
  std::error_code ec_;
  std::coroutine_handle<> h_;
  std::optional<rt::stop_callback<on_stop>> cb_;
};

inline tcp_listener::accept_awaiter tcp_listener::accept() noexcept { return accept_awaiter(this); }

}  // namespace calgate::net
