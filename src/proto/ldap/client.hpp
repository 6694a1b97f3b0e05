#pragma once
// A non-blocking LDAP client on the event loop.
//
// libldap blocks in DNS, connect, the TLS handshake and the bind, so those run
// on the threadpool (rt::run_blocking). The connected handle then belongs to
// the loop thread: a poll watcher on its socket drains ldap_result() with a
// zero timeout, and many operations share a connection by message id. A few
// connections form a pool; each one that is lost fails its operations with a
// retryable error and reconnects in the background with capped exponential
// backoff and jitter. Every operation has a deadline, enforced with
// ldap_abandon_ext.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proto/ldap/error.hpp"
#include "rt/result.hpp"
#include "rt/task.hpp"
#include "rt/task_group.hpp"
#include "rt/wait_queue.hpp"

namespace calgate::proto::ldap {

enum class scope { base, one, sub };

struct entry {
  std::string dn;
  std::vector<std::pair<std::string, std::vector<std::string>>> attributes;

  // Values of an attribute (names compare case-insensitively); null if absent.
  const std::vector<std::string>* get(std::string_view name) const noexcept;
  // The first value, or "" if absent.
  std::string_view first(std::string_view name) const noexcept;
};

struct search_request {
  std::string base;
  ldap::scope scope = scope::sub;
  std::string filter = "(objectClass=*)";
  std::vector<std::string> attributes;  // empty: all user attributes
  int size_limit = 0;                   // 0: the server's limit
  std::chrono::milliseconds timeout{0};  // 0: the client's operation_timeout
};

struct search_result {
  std::vector<entry> entries;
  bool size_limit_exceeded = false;  // the server stopped early; entries holds what it sent
};

struct client_options {
  std::string url = "ldap://127.0.0.1:389";  // ldap:// or ldaps://; several, space-separated, are tried in order
  bool starttls = false;
  std::string bind_dn;        // empty: anonymous
  std::string bind_password;
  std::string ca_file;        // PEM bundle for the server certificate; empty: system trust
  std::string tls_require_cert = "demand";  // never | allow | try | demand | hard
  std::chrono::milliseconds connect_timeout{5000};  // connect + TLS + bind, each
  std::chrono::milliseconds operation_timeout{10000};
  std::size_t connections = 2;
  std::size_t page_size = 500;
  std::size_t max_outstanding = 256;      // operations in flight per connection
  std::size_t max_entries = 100000;       // entries one (unpaged) search may return
  std::chrono::milliseconds reconnect_min{200};
  std::chrono::milliseconds reconnect_max{30000};
};

class client {
 public:
  explicit client(client_options o);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Starts the connections in the background and waits for every first
  // attempt. Returns the error of the last failed attempt if none is up (the
  // client keeps retrying either way).
  [[nodiscard]] rt::task<std::error_code> start();
  // Closes every connection and stops reconnecting; operations in flight end
  // with canceled. Must be awaited before the loop shuts down.
  [[nodiscard]] rt::task<void> stop();

  [[nodiscard]] rt::task<rt::result<search_result>> search(search_request r);
  // Paged search (RFC 2696) on one connection; on_page gets each page and
  // returns false to stop early. Returns the number of entries delivered.
  [[nodiscard]] rt::task<rt::result<std::size_t>> search_paged(
      search_request r, std::function<rt::task<bool>(std::vector<entry>)> on_page);

  struct status {
    std::size_t up = 0;
    std::size_t total = 0;
    std::error_code last_error;   // of the most recent failed attempt or lost connection
    std::string last_error_detail;  // the server's diagnostic text, if any
  };
  status state() const;
  const client_options& options() const noexcept { return opts_; }

  // Counters (for metrics and tests).
  std::uint64_t searches_sent() const noexcept { return searches_sent_; }
  std::uint64_t connects() const noexcept { return connects_; }

  struct connection;

 private:
  rt::task<void> maintain(connection& c);
  connection* pick(std::size_t need_free);
  rt::task<rt::result<connection*>> acquire();
  void notify_state();
  void fail(connection& c, std::error_code ec, std::string detail);

  client_options opts_;
  std::vector<std::unique_ptr<connection>> conns_;
  rt::task_group group_{"ldap"};
  rt::wait_queue state_changed_;  // woken whenever a connection changes state
  std::size_t first_attempts_left_ = 0;
  bool stopping_ = false;
  std::error_code last_error_;
  std::string last_error_detail_;
  std::uint64_t searches_sent_ = 0;
  std::uint64_t connects_ = 0;
  friend struct client_access;
};

}  // namespace calgate::proto::ldap
