#pragma once
// Per-key (per-origin) connection pool: a cap on connections per key, an idle
// timeout, a liveness check before reuse, and a bounded queue of waiters.
//
// acquire() hands out either a live idle connection (reused) or an empty
// lease, meaning "you may open one": the caller connects, uses the stream and
// gives the lease back with release() (keep it if it is reusable) — every
// lease must be released exactly once, connected or not.
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "net/stream.hpp"
#include "rt/result.hpp"
#include "rt/sleep.hpp"
#include "rt/wait_queue.hpp"

namespace calgate::net {

struct pool_options {
  std::uint32_t max_per_key = 32;
  std::chrono::milliseconds idle_timeout{30000};
  std::size_t max_waiters_per_key = 4096;
};

class connection_pool {
 public:
  struct lease {
    std::string key;
    std::unique_ptr<stream> s;  // null: the caller opens the connection
    bool reused = false;
    std::uint64_t uses = 0;     // requests already served on this connection
  };
  struct key_stats {
    std::size_t idle = 0;
    std::size_t active = 0;
    std::size_t waiting = 0;
  };

  explicit connection_pool(pool_options o);
  ~connection_pool();
  connection_pool(const connection_pool&) = delete;
  connection_pool& operator=(const connection_pool&) = delete;

  // Waits (under the caller's stop token) until the key has capacity.
  // Fails with rt::errc::limit_exceeded when too many callers already wait.
  [[nodiscard]] rt::task<rt::result<lease>> acquire(std::string key);
  // Gives capacity back; keeps the connection for reuse when `reusable`.
  void release(lease l, bool reusable);
  // Closes every idle connection (shutdown, tests).
  void close_idle();

  key_stats stats(const std::string& key) const;
  std::map<std::string, key_stats> all_stats() const;
  std::uint64_t hits() const noexcept { return hits_; }
  std::uint64_t misses() const noexcept { return misses_; }
  std::uint64_t discarded_dead() const noexcept { return dead_; }

  // True if an idle connection may be handed out: open, nothing unread, no
  // EOF seen, and (for plain TCP) the kernel has no EOF or stray bytes.
  static bool alive(stream& s);

 private:
  struct idle_conn;
  struct key_state {
    std::list<std::unique_ptr<idle_conn>> idle;  // most recently used at the back
    std::size_t active = 0;
    rt::wait_queue waiting;  // callers waiting for capacity
  };
  void expire(idle_conn* c);

  pool_options opts_;
  std::map<std::string, key_state> keys_;
  std::uint64_t hits_ = 0, misses_ = 0, dead_ = 0;
};

}  // namespace calgate::net
