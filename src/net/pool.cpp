#include "net/pool.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "net/tcp.hpp"
#include "net/tls.hpp"

namespace calgate::net {

struct connection_pool::idle_conn {
  idle_conn(connection_pool* p, key_state* k, std::unique_ptr<stream> st, std::uint64_t u)
      : pool(p), key(k), s(std::move(st)), uses(u), timer([](void* c) {
          auto* self = static_cast<idle_conn*>(c);
          self->pool->expire(self);
        }, this) {}
  connection_pool* pool;
  key_state* key;
  std::unique_ptr<stream> s;
  std::uint64_t uses;
  rt::timer timer;
  std::list<std::unique_ptr<idle_conn>>::iterator self;
};

struct connection_pool::waiter {
  explicit waiter(key_state* k) : key(k) {}
  key_state* key;
  waiter* prev = nullptr;
  waiter* next = nullptr;
  std::coroutine_handle<> h;
  std::error_code ec;
  bool linked = false;

  struct on_stop {
    waiter* self;
    void operator()(rt::stop_reason r) const {
      self->unlink();
      self->ec = rt::to_error(r);
      rt::loop::current().schedule(self->h);
    }
  };
  std::optional<rt::stop_callback<on_stop>> cb;

  void unlink() {
    if (!linked) return;
    linked = false;
    if (prev) prev->next = next;
    else key->first_waiter = next;
    if (next) next->prev = prev;
    else key->last_waiter = prev;
    --key->waiting;
  }
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> hh) {
    const rt::stop_token& t = rt::detail::token_of(hh);
    if (t.stop_requested()) {
      ec = rt::to_error(t.reason());
      return false;
    }
    h = hh;
    prev = key->last_waiter;
    if (prev) prev->next = this;
    else key->first_waiter = this;
    key->last_waiter = this;
    ++key->waiting;
    linked = true;
    cb.emplace(t, on_stop{this});
    return true;
  }
  std::error_code await_resume() noexcept {
    cb.reset();
    return ec;
  }
};

connection_pool::connection_pool(pool_options o) : opts_(o) {}

connection_pool::~connection_pool() { close_idle(); }

bool connection_pool::alive(stream& s) {
  if (!s.is_open() || s.read_ended() || !s.data().empty()) return false;
  auto* tcp = dynamic_cast<tcp_stream*>(&s);
  if (!tcp) return true;  // TLS: its reader already processed what arrived (tickets, alerts)
  int fd = tcp->fd();
  if (fd < 0) return false;
  char b;
  ssize_t n = ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return false;                                   // the peer closed
  if (n > 0) return false;                                    // bytes nobody asked for
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

rt::task<rt::result<connection_pool::lease>> connection_pool::acquire(std::string key) {
  key_state& k = keys_[key];
  for (;;) {
    while (!k.idle.empty()) {
      std::unique_ptr<idle_conn> c = std::move(k.idle.back());
      k.idle.pop_back();
      c->timer.stop();
      if (!alive(*c->s)) {
        ++dead_;
        continue;  // its destructor closes it
      }
      ++k.active;
      ++hits_;
      co_return lease{std::move(key), std::move(c->s), true, c->uses};
    }
    if (k.active < opts_.max_per_key) {
      ++k.active;
      ++misses_;
      co_return lease{std::move(key), nullptr, false, 0};
    }
    if (k.waiting >= opts_.max_waiters_per_key) co_return rt::errc::limit_exceeded;
    waiter w(&k);
    if (std::error_code ec = co_await w) co_return ec;
  }
}

void connection_pool::release(lease l, bool reusable) {
  auto it = keys_.find(l.key);
  if (it == keys_.end()) return;
  key_state& k = it->second;
  if (k.active > 0) --k.active;
  if (reusable && l.s && l.s->is_open()) {
    auto c = std::make_unique<idle_conn>(this, &k, std::move(l.s), l.uses + 1);
    // Keep reading while idle so a close by the server is noticed at once.
    c->s->request_input();
    c->timer.start(opts_.idle_timeout);
    k.idle.push_back(std::move(c));
    k.idle.back()->self = std::prev(k.idle.end());
  }
  wake_one(k);
}

void connection_pool::wake_one(key_state& k) {
  if (waiter* w = k.first_waiter) {
    w->unlink();
    w->cb.reset();
    rt::loop::current().schedule(w->h);
  }
}

void connection_pool::expire(idle_conn* c) {
  key_state* k = c->key;
  k->idle.erase(c->self);  // destroys c and closes its stream
}

void connection_pool::close_idle() {
  for (auto& [key, k] : keys_) k.idle.clear();
}

connection_pool::key_stats connection_pool::stats(const std::string& key) const {
  auto it = keys_.find(key);
  if (it == keys_.end()) return {};
  return {it->second.idle.size(), it->second.active, it->second.waiting};
}

std::map<std::string, connection_pool::key_stats> connection_pool::all_stats() const {
  std::map<std::string, key_stats> out;
  for (const auto& [key, k] : keys_) out[key] = {k.idle.size(), k.active, k.waiting};
  return out;
}

}  // namespace calgate::net
