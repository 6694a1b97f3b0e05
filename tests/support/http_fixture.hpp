#pragma once
// Test servers on loopback: calgate's own HTTP server with a router the test
// fills in, and a scripted raw TCP server for misbehaving peers.
#include <catch2/catch.hpp>

#include <functional>
#include <memory>

#include "net/http/server.hpp"
#include "net/tcp.hpp"
#include "rt/task_group.hpp"

namespace calgate::test {

struct running_server {
  net::http::router routes;
  std::unique_ptr<net::http::server> srv;
  rt::task_group group{"test-server"};

  // Access logging is off unless a test turns it on (o.access_log).
  void start(net::http::server_options o = quiet()) {
    o.host = "127.0.0.1";
    o.port = 0;
    srv = std::make_unique<net::http::server>(o, routes);
    REQUIRE_FALSE(srv->listen());
    group.spawn(srv->run());
  }
  static net::http::server_options quiet() {
    net::http::server_options o;
    o.access_log = false;
    return o;
  }
  std::uint16_t port() const { return srv->port(); }
  std::string url(std::string_view path) const { return "http://127.0.0.1:" + std::to_string(port()) + std::string(path); }
  rt::task<void> stop(std::chrono::milliseconds grace = std::chrono::seconds(1)) {
    srv->stop(grace);
    co_await group.join();
  }
};

// Accepts connections and runs `script(stream, index)` for each, index
// counting from 0 in accept order.
struct scripted_server {
  using script_fn = std::function<rt::task<void>(net::tcp_stream&, int)>;
  net::tcp_listener listener;
  rt::task_group group{"scripted-server"};
  script_fn script;
  int accepted = 0;

  explicit scripted_server(script_fn fn, int backlog = 128) : script(std::move(fn)) {
    REQUIRE_FALSE(listener.listen("127.0.0.1", 0, backlog));
  }
  void start() { group.spawn(accept_loop()); }
  std::uint16_t port() const { return listener.port(); }
  std::string url(std::string_view path) const { return "http://127.0.0.1:" + std::to_string(port()) + std::string(path); }
  rt::task<void> stop() {
    listener.close();
    group.request_stop();
    co_await group.join();
  }

 private:
  rt::task<void> accept_loop() {
    for (;;) {
      auto s = co_await listener.accept();
      if (!s) co_return;
      group.spawn(run_one(std::move(*s), accepted++));
    }
  }
  rt::task<void> run_one(std::unique_ptr<net::tcp_stream> s, int index) { co_await script(*s, index); }
};

// A free TCP port on 127.0.0.1 right now (for a server started as a child process).
std::uint16_t free_port();

// Reads one request head (up to the blank line) from s; returns it, or "" at EOF.
rt::task<std::string> read_request_head(net::stream& s);

}  // namespace calgate::test
