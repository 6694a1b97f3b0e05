#include "net/tcp.hpp"

#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace calgate::net {
namespace {

// libuv asks for a buffer right before each read and hands it back in the
// read callback; one scratch buffer per thread is enough, and bytes are then
// copied into the stream's own (right-sized) buffer. Idle connections thus
// hold no read buffer at all.
constexpr std::size_t scratch_size = 64 * 1024;
thread_local char tl_scratch[scratch_size];

}  // namespace

struct tcp_stream::block {
  uv_tcp_t tcp{};
  uv_write_t write{};
  uv_shutdown_t shut{};
  uv_connect_t conn{};
  tcp_stream* owner = nullptr;
};

struct tcp_listener::block {
  uv_tcp_t tcp{};
  tcp_listener* owner = nullptr;
};

// ---------------------------------------------------------------- tcp_stream

tcp_stream::tcp_stream() : b_(new block) {
  b_->owner = this;
  uv_tcp_init(rt::loop::current().raw(), &b_->tcp);
  b_->tcp.data = b_;
}

tcp_stream::~tcp_stream() {
  close();
  if (b_) b_->owner = nullptr;  // the close callback has not run yet
}

bool tcp_stream::is_open() const noexcept { return !closed_; }

void tcp_stream::close() noexcept {
  if (closed_) return;
  closed_ = true;
  reading_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&b_->tcp), [](uv_handle_t* h) {
    auto* b = static_cast<block*>(h->data);
    if (b->owner) b->owner->b_ = nullptr;
    delete b;
  });
  // An in-flight write completes from libuv with ECANCELED and fails the ones
  // queued behind it (a queue is never without a write in flight). Waking the
  // reader is the last thing done here.
  deliver_end(make_error_code(rt::errc::closed));
}

void tcp_stream::set_nodelay(bool on) noexcept {
  if (!closed_) uv_tcp_nodelay(&b_->tcp, on ? 1 : 0);
}

int tcp_stream::fd() const noexcept {
  uv_os_fd_t fd = -1;
  if (closed_ || uv_fileno(reinterpret_cast<const uv_handle_t*>(&b_->tcp), &fd) != 0) return -1;
  return fd;
}

std::string tcp_stream::peer() const {
  address a;
  int len = sizeof a.storage;
  if (closed_ || uv_tcp_getpeername(&b_->tcp, reinterpret_cast<sockaddr*>(&a.storage), &len) != 0) return {};
  a.len = static_cast<socklen_t>(len);
  return a.to_string();
}

void tcp_stream::resume_reading() {
  if (reading_ || closed_ || read_ended()) return;
  int rc = uv_read_start(
      reinterpret_cast<uv_stream_t*>(&b_->tcp),
      [](uv_handle_t*, size_t, uv_buf_t* buf) { *buf = uv_buf_init(tl_scratch, scratch_size); },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* b = static_cast<block*>(s->data);
        if (b->owner) b->owner->on_read(nread, buf->base);
      });
  if (rc != 0) {
    deliver_end(rt::uv_error(rc));
    return;
  }
  reading_ = true;
}

void tcp_stream::pause_reading() {
  if (!reading_ || closed_) return;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&b_->tcp));
  reading_ = false;
}

void tcp_stream::on_read(long nread, const char* base) {
  if (nread > 0) {
    deliver(base, static_cast<std::size_t>(nread));
  } else if (nread < 0) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&b_->tcp));
    reading_ = false;
    deliver_end(rt::uv_error(static_cast<int>(nread)));
  }
}

void tcp_stream::start_write(write_req& w) {
  uv_buf_t bufs[write_req::max_bufs] = {};
  unsigned n = 0;
  std::size_t skip = write_off_;
  for (std::size_t i = 0; i < w.nbufs; ++i) {
    std::string_view v = w.bufs[i];
    if (skip >= v.size()) {
      skip -= v.size();
      continue;
    }
    v.remove_prefix(skip);
    skip = 0;
    bufs[n++] = uv_buf_init(const_cast<char*>(v.data()), static_cast<unsigned>(v.size()));
  }
  auto* s = reinterpret_cast<uv_stream_t*>(&b_->tcp);
  // Fast path: most responses fit in the socket buffer at once.
  int wrote = uv_try_write(s, bufs, n);
  if (wrote < 0 && wrote != UV_EAGAIN) {
    write_off_ = 0;
    write_done(rt::uv_error(wrote));
    return;
  }
  std::size_t done = wrote > 0 ? static_cast<std::size_t>(wrote) : 0;
  unsigned first = 0;
  while (first < n && done >= bufs[first].len) {
    done -= bufs[first].len;
    ++first;
  }
  if (first == n) {
    write_off_ = 0;
    write_done({});
    return;
  }
  bufs[first].base += done;
  bufs[first].len -= static_cast<unsigned>(done);
  b_->write.data = b_;
  int rc = uv_write(&b_->write, s, bufs + first, n - first, [](uv_write_t* req, int status) {
    auto* b = static_cast<block*>(req->data);
    if (b->owner) b->owner->on_write(status);
  });
  if (rc != 0) {
    write_off_ = 0;
    write_done(rt::uv_error(rc));
  }
}

void tcp_stream::on_write(int status) {
  write_off_ = 0;
  std::error_code ec;
  if (status == UV_ECANCELED) ec = make_error_code(rt::errc::closed);
  else if (status < 0) ec = rt::uv_error(status);
  write_done(ec);
}

namespace {

struct shutdown_awaiter {
  shutdown_awaiter(uv_stream_t* st, uv_shutdown_t* r) : s(st), req(r) {}
  uv_stream_t* s;
  uv_shutdown_t* req;
  int status = 0;
  std::coroutine_handle<> h;
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> hh) {
    h = hh;
    req->data = this;
    status = uv_shutdown(req, s, [](uv_shutdown_t* r, int st) {
      auto* self = static_cast<shutdown_awaiter*>(r->data);
      self->status = st;
      self->h.resume();
    });
    return status == 0;
  }
  int await_resume() const noexcept { return status; }
};

}  // namespace

rt::task<std::error_code> tcp_stream::shutdown() {
  // Writes still in our own queue go out first; uv_shutdown only waits for
  // the ones libuv already has.
  co_await writes_drained();
  if (closed_) co_return make_error_code(rt::errc::closed);
  // uv_shutdown waits for queued writes, then sends FIN. It completes with
  // ECANCELED if the handle is closed meanwhile, so it always resumes us.
  int st = co_await shutdown_awaiter{reinterpret_cast<uv_stream_t*>(&b_->tcp), &b_->shut};
  if (st == UV_ECANCELED) co_return make_error_code(rt::errc::closed);
  co_return st < 0 ? rt::uv_error(st) : std::error_code{};
}

// --------------------------------------------------------------- addresses

std::string address::to_string() const {
  char buf[INET6_ADDRSTRLEN + 8] = {};
  if (storage.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&storage);
    uv_ip4_name(a, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(a->sin_port));
  }
  if (storage.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&storage);
    uv_ip6_name(a, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  return "?";
}

namespace {

struct getaddrinfo_awaiter {
  getaddrinfo_awaiter(std::string h, std::string s) : host(std::move(h)), service(std::move(s)) {}
  std::string host;
  std::string service;
  uv_getaddrinfo_t req{};
  int status = 0;
  std::vector<address> out;
  std::coroutine_handle<> h;
  rt::stop_reason reason = rt::stop_reason::none;
  struct on_stop {
    getaddrinfo_awaiter* self;
    void operator()(rt::stop_reason r) const {
      self->reason = r;
      uv_cancel(reinterpret_cast<uv_req_t*>(&self->req));  // no effect once running
    }
  };
  std::optional<rt::stop_callback<on_stop>> cb;

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> hh) {
    const rt::stop_token& t = rt::detail::token_of(hh);
    if (t.stop_requested()) {
      reason = t.reason();
      return false;
    }
    h = hh;
    req.data = this;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    status = uv_getaddrinfo(
        rt::loop::current().raw(), &req,
        [](uv_getaddrinfo_t* r, int st, addrinfo* res) {
          auto* self = static_cast<getaddrinfo_awaiter*>(r->data);
          self->status = st;
          for (addrinfo* p = res; p; p = p->ai_next) {
            if (p->ai_addrlen > sizeof(sockaddr_storage)) continue;
            address a;
            std::memcpy(&a.storage, p->ai_addr, p->ai_addrlen);
            a.len = p->ai_addrlen;
            self->out.push_back(a);
          }
          uv_freeaddrinfo(res);
          self->cb.reset();
          self->h.resume();
        },
        host.c_str(), service.c_str(), &hints);
    if (status != 0) return false;
    cb.emplace(t, on_stop{this});
    return true;
  }
  rt::result<std::vector<address>> await_resume() {
    if (reason != rt::stop_reason::none) return rt::to_error(reason);
    if (status != 0) return rt::uv_error(status);
    if (out.empty()) return make_error_code(rt::errc::unavailable);
    return std::move(out);
  }
};

bool parse_literal(const std::string& host, std::uint16_t port, address& a) {
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (uv_ip4_addr(h.c_str(), port, reinterpret_cast<sockaddr_in*>(&a.storage)) == 0) {
    a.len = sizeof(sockaddr_in);
    return true;
  }
  if (uv_ip6_addr(h.c_str(), port, reinterpret_cast<sockaddr_in6*>(&a.storage)) == 0) {
    a.len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

struct connect_awaiter {
  connect_awaiter(tcp_stream* st, uv_tcp_t* t, uv_connect_t* r, const sockaddr* a) : s(st), tcp(t), req(r), addr(a) {}
  tcp_stream* s;
  uv_tcp_t* tcp;
  uv_connect_t* req;
  const sockaddr* addr;
  int status = 0;
  std::coroutine_handle<> h;
  rt::stop_reason reason = rt::stop_reason::none;
  struct on_stop {
    connect_awaiter* self;
    void operator()(rt::stop_reason r) const {
      self->reason = r;
      self->s->close();  // the connect callback follows with ECANCELED
    }
  };
  std::optional<rt::stop_callback<on_stop>> cb;

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> hh) {
    const rt::stop_token& t = rt::detail::token_of(hh);
    if (t.stop_requested()) {
      reason = t.reason();
      return false;
    }
    h = hh;
    req->data = this;
    status = uv_tcp_connect(req, tcp, addr, [](uv_connect_t* r, int st) {
      auto* self = static_cast<connect_awaiter*>(r->data);
      self->status = st;
      self->cb.reset();
      self->h.resume();
    });
    if (status != 0) return false;
    cb.emplace(t, on_stop{this});
    return true;
  }
  std::error_code await_resume() const {
    if (reason != rt::stop_reason::none) return rt::to_error(reason);
    return status < 0 ? rt::uv_error(status) : std::error_code{};
  }
};

}  // namespace

struct tcp_access {
  static std::unique_ptr<tcp_stream> make() { return std::unique_ptr<tcp_stream>(new tcp_stream()); }
  static uv_tcp_t* handle(tcp_stream& s) { return &s.b_->tcp; }
  static uv_connect_t* connect_req(tcp_stream& s) { return &s.b_->conn; }
};

rt::task<rt::result<std::vector<address>>> resolve(std::string host, std::uint16_t port) {
  address lit;
  if (parse_literal(host, port, lit)) co_return std::vector<address>{lit};
  if (host.empty() || host.size() > 253) co_return make_error_code(rt::errc::bad_input);
  co_return co_await getaddrinfo_awaiter{std::move(host), std::to_string(port)};
}

rt::task<rt::result<std::unique_ptr<tcp_stream>>> connect(const address& addr) {
  auto s = tcp_access::make();
  std::error_code ec = co_await connect_awaiter{s.get(), tcp_access::handle(*s), tcp_access::connect_req(*s),
                                                reinterpret_cast<const sockaddr*>(&addr.storage)};
  if (ec) co_return ec;
  s->set_nodelay(true);
  co_return std::move(s);
}

rt::task<rt::result<std::unique_ptr<tcp_stream>>> connect(std::string host, std::uint16_t port) {
  auto addrs = co_await resolve(std::move(host), port);
  if (!addrs) co_return addrs.error();
  std::error_code last;
  for (const address& a : *addrs) {
    auto s = co_await connect(a);
    if (s) co_return std::move(*s);
    last = s.error();
    if (rt::is_stop(last)) break;
  }
  co_return last;
}

// -------------------------------------------------------------- tcp_listener

tcp_listener::tcp_listener() : b_(new block) {
  b_->owner = this;
  uv_tcp_init(rt::loop::current().raw(), &b_->tcp);
  b_->tcp.data = b_;
}

tcp_listener::~tcp_listener() { close(); }

bool tcp_listener::is_open() const noexcept { return !closed_; }

void tcp_listener::close() noexcept {
  if (closed_) return;
  port_ = port();
  closed_ = true;
  b_->owner = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&b_->tcp), [](uv_handle_t* hh) { delete static_cast<block*>(hh->data); });
  b_ = nullptr;
  pending_ = false;
  if (accept_awaiter* w = std::exchange(waiter_, nullptr)) w->wake();
}

std::error_code tcp_listener::listen(const std::string& host, std::uint16_t port, int backlog) {
  if (closed_) return make_error_code(rt::errc::closed);
  address a;
  if (!parse_literal(host, port, a)) return make_error_code(rt::errc::bad_input);
  int rc = uv_tcp_bind(&b_->tcp, reinterpret_cast<const sockaddr*>(&a.storage), 0);
  if (rc == 0)
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&b_->tcp), backlog, [](uv_stream_t* s, int status) {
      auto* b = static_cast<block*>(s->data);
      if (b->owner) b->owner->on_connection(status);
    });
  return rc < 0 ? rt::uv_error(rc) : std::error_code{};
}

std::uint16_t tcp_listener::port() const noexcept {
  if (closed_) return port_;
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getsockname(&b_->tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

void tcp_listener::on_connection(int status) {
  if (status < 0) error_ = rt::uv_error(status);
  else pending_ = true;
  if (accept_awaiter* w = std::exchange(waiter_, nullptr)) w->wake();
}

rt::result<std::unique_ptr<tcp_stream>> tcp_listener::take() {
  if (!is_open()) return make_error_code(rt::errc::closed);
  if (error_) return std::exchange(error_, {});
  if (!pending_) return make_error_code(rt::errc::closed);
  pending_ = false;
  auto s = tcp_access::make();
  int rc = uv_accept(reinterpret_cast<uv_stream_t*>(&b_->tcp), reinterpret_cast<uv_stream_t*>(tcp_access::handle(*s)));
  if (rc != 0) return rt::uv_error(rc);
  s->set_nodelay(true);
  return s;
}

}  // namespace calgate::net
