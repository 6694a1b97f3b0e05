#pragma once
// HTTP/1.1 client over pooled connections: http and https, per-origin pools,
// connect / TLS / response-header / total deadlines, cancellation through the
// caller's stop token, one safe retry on a pooled connection that turns out
// to be dead, an HTTP CONNECT proxy, and Basic authentication.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "net/http/message.hpp"
#include "net/http/url.hpp"
#include "net/pool.hpp"
#include "rt/metrics.hpp"
#include "rt/result.hpp"
#include "rt/task.hpp"

namespace calgate::net {
class tls_context;
}

namespace calgate::net::http {

enum class client_errc {
  bad_url = 1,          // not an absolute http(s) URL
  bad_request,          // a header name or value that would break the framing
  connect_timeout,
  tls_timeout,
  header_timeout,       // no complete response head in time
  total_timeout,        // the whole exchange took too long
  response_too_large,
  protocol_error,       // the server's bytes were not HTTP/1.x
  connection_closed,    // closed before a complete response
  proxy_refused,        // the proxy answered CONNECT with a non-2xx status
  pool_exhausted,       // too many callers waiting for a connection
  https_unavailable,    // an https URL but no TLS context configured
};
const std::error_category& client_category() noexcept;
std::error_code make_error_code(client_errc e) noexcept;

struct client_options {
  std::uint32_t max_per_origin = 32;
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds tls_timeout{5000};
  std::chrono::milliseconds response_header_timeout{30000};
  std::chrono::milliseconds total_timeout{60000};
  std::uint64_t max_response_bytes = 16u << 20;
  std::uint64_t max_header_bytes = 64u << 10;
  std::size_t max_waiters_per_origin = 4096;
  std::string proxy;        // "" or http://[user:password@]host:port
  std::string user_agent = "calgate";
  std::shared_ptr<tls_context> tls;  // client context for https URLs
  std::string metrics_name = "default";  // the `client` label of this client's metrics
};

struct client_request {
  client_request() = default;
  client_request(std::string m, std::string u) : method(std::move(m)), url(std::move(u)) {}
  std::string method = "GET";
  std::string url;
  http::headers headers;
  std::string body;
  // Safe to send twice. Defaults to true for GET, HEAD, OPTIONS, PUT, DELETE.
  std::optional<bool> idempotent;
  // Whole-exchange deadline; zero means the client's total_timeout.
  std::chrono::milliseconds timeout{0};
  // Connections are pooled per origin and partition: requests made as
  // different identities over connection-bound authentication (NTLM) must not
  // share connections.
  std::string pool_partition;
};

struct client_response {
  int status = 0;
  http::headers headers;
  std::string body;
  bool reused_connection = false;
};

class client {
 public:
  explicit client(client_options o);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Never throws for network outcomes: errors are client_errc, TLS (net::tls_errc)
  // or transport (uv) codes, or rt::errc::canceled/timed_out from the caller's token.
  [[nodiscard]] rt::task<rt::result<client_response>> send(client_request req);

  // Keeps one connection across several requests (NTLM authenticates a
  // connection, not a request). The first send takes a connection from the
  // pool; later sends use the same one while it stays usable; destroying the
  // session gives it back.
  class session {
   public:
    explicit session(client& c) noexcept : c_(c) {}
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;
    bool connected() const noexcept { return lease_ != nullptr; }
    // The connection had served requests before this session took it.
    bool reused() const noexcept { return reused_; }
    // Closes the connection instead of pooling it (e.g. authentication failed).
    void discard() noexcept;

   private:
    friend class client;
    client& c_;
    std::unique_ptr<connection_pool::lease> lease_;
    bool reused_ = false;
  };
  [[nodiscard]] rt::task<rt::result<client_response>> send(client_request req, session& s);

  connection_pool& pool() noexcept { return pool_; }
  std::uint64_t retries() const noexcept { return retries_; }
  // Closes idle pooled connections; call before the loop shuts down.
  void close_idle() { pool_.close_idle(); }

 private:
  struct proxy_info;
  rt::task<rt::result<client_response>> send_once(const client_request& req, const url& u, bool& retryable,
                                                  session* sess);
  rt::task<rt::result<client_response>> send_with(client_request req, session* sess);
  rt::task<rt::result<std::unique_ptr<stream>>> open(const url& u);
  void count(std::string_view outcome);

  client_options opts_;
  std::unique_ptr<proxy_info> proxy_;
  connection_pool pool_;
  std::uint64_t retries_ = 0;
  metrics::family<metrics::counter>& requests_;
  metrics::family<metrics::counter>& timeouts_;
  friend struct client_registry;
};

}  // namespace calgate::net::http

template <>
struct std::is_error_code_enum<calgate::net::http::client_errc> : std::true_type {};
