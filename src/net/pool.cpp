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
    if (k.waiting.size() >= opts_.max_waiters_per_key) co_return rt::errc::limit_exceeded;
    if (std::error_code ec = co_await k.waiting.wait()) co_return ec;
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
  k.waiting.notify_one();
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
  return {it->second.idle.size(), it->second.active, it->second.waiting.size()};
}

std::map<std::string, connection_pool::key_stats> connection_pool::all_stats() const {
  std::map<std::string, key_stats> out;
  for (const auto& [key, k] : keys_) out[key] = {k.idle.size(), k.active, k.waiting.size()};
  return out;
}

}  // namespace calgate::net
