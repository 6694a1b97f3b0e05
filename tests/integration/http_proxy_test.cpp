#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <sstream>
#include <string>

#include "net/http/client.hpp"
#include "net/tcp.hpp"
#include "net/tls.hpp"
#include "rt/sleep.hpp"
#include "support/certs.hpp"
#include "support/http_fixture.hpp"
#include "support/loop_test.hpp"
#include "support/process.hpp"

using namespace calgate;
using namespace calgate::net::http;
using namespace std::chrono_literals;
using test::run_loop_test;

namespace {

// Debian's tinyproxy on a free loopback port, requiring Basic credentials.
struct tinyproxy {
  test::temp_dir dir;
  std::uint16_t port = 0;
  std::unique_ptr<test::process> proc;

  tinyproxy() {
    port = test::free_port();
    dir.write("tinyproxy.conf", "Port " + std::to_string(port) +
                                    "\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nLogLevel Info\n"
                                    "LogFile \"" + dir.file("tinyproxy.log") + "\"\nPidFile \"" + dir.file("tinyproxy.pid") +
                                    "\"\nAllow 127.0.0.1\nBasicAuth gwuser s3cret\n");
    proc = std::make_unique<test::process>(std::vector<std::string>{"tinyproxy", "-d", "-c", dir.file("tinyproxy.conf")});
    bool up = test::eventually([&] { return log().find("listening on") != std::string::npos || accepts(); }, 5s);
    INFO(proc->output() + log());
    REQUIRE(up);
  }
  ~tinyproxy() {
    proc->signal(SIGTERM);
    proc->wait(5s);
  }
  bool accepts() {
    return run_loop_test([p = port]() -> rt::task<bool> {
      auto c = co_await net::connect("127.0.0.1", p);
      co_return static_cast<bool>(c);
    });
  }
  std::string log() const {
    std::ifstream in(dir.file("tinyproxy.log"));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string url(bool with_credentials) const {
    return std::string("http://") + (with_credentials ? "gwuser:s3cret@" : "") + "127.0.0.1:" + std::to_string(port);
  }
};

void add_routes(test::running_server& s) {
  s.routes.add("GET", "/where", [](request& r) -> rt::task<response> {
    // The proxy must not pass our proxy credentials on to the origin.
    bool leaked = r.headers.has("Proxy-Authorization");
    co_return response::text(200, leaked ? "leaked proxy credentials" : "origin reached via " + r.path);
  });
}

}  // namespace

TEST_CASE("client via tinyproxy: plain http in absolute form with proxy credentials", "[http][client][proxy]") {
  tinyproxy proxy;
  run_loop_test([&]() -> rt::task<void> {
    test::running_server s;
    add_routes(s);
    s.start();
    client_options o;
    o.proxy = proxy.url(true);
    o.metrics_name = "proxy-test";
    client c(o);
    auto r = co_await c.send({"GET", s.url("/where")});
    REQUIRE(r);
    REQUIRE(r->status == 200);
    REQUIRE(r->body == "origin reached via /where");
    // Without credentials the proxy answers 407, which is an HTTP answer like any other.
    client_options o2;
    o2.proxy = proxy.url(false);
    client c2(o2);
    auto denied = co_await c2.send({"GET", s.url("/where")});
    REQUIRE(denied);
    REQUIRE(denied->status == 407);
    c.close_idle();
    c2.close_idle();
    co_await s.stop();
  });
  REQUIRE_THAT(proxy.log(), Catch::Contains("/where"));
}

TEST_CASE("client via tinyproxy: https through a CONNECT tunnel, verified end to end", "[http][client][proxy][tls]") {
  tinyproxy proxy;
  run_loop_test([&]() -> rt::task<void> {
    const auto& certs = test::certs();
    net::tls_server_config sc;
    sc.cert_file = certs.server_cert;
    sc.key_file = certs.server_key;
    sc.chain_file = certs.server_chain;
    auto sctx = net::tls_context::make_server(sc);
    REQUIRE(sctx);
    test::running_server s;
    add_routes(s);
    server_options so = test::running_server::quiet();
    so.handshake = net::tls_acceptor(*sctx);
    s.start(so);
    net::tls_client_config cc;
    cc.ca_file = certs.ca_cert;
    cc.alpn = {"http/1.1"};
    auto cctx = net::tls_context::make_client(cc);
    REQUIRE(cctx);
    client_options o;
    o.proxy = proxy.url(true);
    o.tls = *cctx;
    client c(o);
    std::string url = "https://localhost:" + std::to_string(s.port()) + "/where";
    auto r = co_await c.send({"GET", url});
    INFO((r ? std::string() : r.error().message()));
    REQUIRE(r);
    REQUIRE(r->body == "origin reached via /where");
    auto again = co_await c.send({"GET", url});
    REQUIRE(again);
    REQUIRE(again->reused_connection);  // the tunnel is pooled like any connection
    // Wrong proxy credentials: the CONNECT is refused and nothing reaches the origin.
    client_options bad = o;
    bad.proxy = "http://gwuser:wrong@127.0.0.1:" + std::to_string(proxy.port);
    client c2(bad);
    auto refused = co_await c2.send({"GET", url});
    REQUIRE_FALSE(refused);
    REQUIRE(refused.error() == client_errc::proxy_refused);
    c.close_idle();
    c2.close_idle();
    co_await s.stop();
  });
  REQUIRE_THAT(proxy.log(), Catch::Contains("CONNECT"));
}
