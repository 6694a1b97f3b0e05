#pragma once
// HTTP/1.1 server: keep-alive, pipelining (answered in order), chunked request
// bodies, Expect: 100-continue, HEAD, limits (431/413/414), header, body, idle
// and write timeouts, a connection cap, request ids, access logs, metrics and
// graceful shutdown.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/http/parser.hpp"
#include "net/http/router.hpp"
#include "net/stream.hpp"
#include "net/tcp.hpp"
#include "rt/metrics.hpp"
#include "rt/result.hpp"
#include "rt/sleep.hpp"
#include "rt/task_group.hpp"

namespace calgate::net::http {

struct server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 picks a free port
  std::uint32_t max_connections = 10000;
  int backlog = 1024;
  std::chrono::milliseconds header_timeout{10000};   // first byte to end of headers (and TLS handshake)
  std::chrono::milliseconds idle_timeout{60000};     // between requests on a kept-alive connection
  std::chrono::milliseconds body_timeout{30000};     // end of headers to end of body
  std::chrono::milliseconds write_timeout{30000};    // writing one response
  std::chrono::milliseconds request_timeout{60000};  // the handler's deadline
  parser_limits limits;
  bool access_log = true;
  // Wraps each accepted connection (TLS); null serves plain HTTP.
  std::function<rt::task<rt::result<std::unique_ptr<stream>>>(std::unique_ptr<stream>)> handshake;
};

class server {
 public:
  server(server_options opts, const router& routes);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds the listener; port() is valid afterwards.
  std::error_code listen();
  std::uint16_t port() const noexcept { return listener_.port(); }

  // Accepts and serves until stop() has run its course: returns once every
  // connection has finished.
  [[nodiscard]] rt::task<void> run();

  // Stops accepting, closes idle connections, lets requests in flight finish
  // (their responses say Connection: close) and cancels whatever is still
  // running after `grace`.
  void stop(std::chrono::milliseconds grace);
  bool stopping() const noexcept { return draining_; }

  std::size_t open_connections() const noexcept { return open_; }

 private:
  struct connection;
  rt::task<void> serve(std::unique_ptr<stream> s);
  rt::task<void> reject(std::unique_ptr<stream> s);
  rt::task<response> dispatch(request& r, connection& c);
  // Counts one answered request (and its latency, when given).
  void count(std::string_view route, std::string_view method, int status, const double* seconds);
  void on_grace_expired();

  server_options opts_;
  const router& routes_;
  tcp_listener listener_;
  rt::task_group conns_{"http-connections"};
  bool draining_ = false;
  std::size_t open_ = 0;
  connection* first_ = nullptr;  // intrusive list of live connections
  rt::timer grace_timer_;

  metrics::family<metrics::counter>& requests_;
  metrics::family<metrics::histogram>& latency_;
  metrics::gauge& open_gauge_;
  metrics::counter& accepted_;
  metrics::counter& rejected_;
  metrics::family<metrics::counter>& timeouts_;
  // Per-route metric children, so answering a request needs no label lookup.
  struct route_stats {
    metrics::histogram* latency = nullptr;
    struct entry {
      std::string method;
      int status;
      metrics::counter* counter;
    };
    std::vector<entry> counts;
  };
  std::unordered_map<std::string_view, route_stats> stats_;  // keys: router-owned patterns
};

// A request id: the client's X-Request-Id if it is short and plain, else a new one.
std::string make_request_id(const request& r);
void make_request_id(const request& r, std::string& out);

}  // namespace calgate::net::http
