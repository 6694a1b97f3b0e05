#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "net/http/client.hpp"
#include "rt/sleep.hpp"
#include "rt/when_all.hpp"
#include "rt/with_timeout.hpp"
#include "support/http_fixture.hpp"
#include "support/loop_test.hpp"
#include "support/raw_http.hpp"

using namespace calgate;
using namespace calgate::net::http;
using namespace std::chrono_literals;
using test::run_loop_test;

namespace {

void add_routes(test::running_server& s, std::set<std::string>* peers = nullptr) {
  s.routes.add("GET", "/hello", [](request&) -> rt::task<response> { co_return response::text(200, "hello"); });
  s.routes.add("POST", "/echo", [](request& r) -> rt::task<response> {
    response resp = response::text(200, r.body);
    resp.headers.add("X-Method", r.method);
    resp.headers.add("X-Auth", std::string(r.headers.get("Authorization").value_or("")));
    resp.headers.add("X-Custom", std::string(r.headers.get("X-Custom").value_or("")));
    co_return resp;
  });
  s.routes.add("GET", "/sleep/{ms}", [peers](request& r) -> rt::task<response> {
    if (peers) peers->insert(r.peer);
    co_await rt::sleep_for(std::chrono::milliseconds(std::stoi(std::string(r.param("ms")))));
    co_return response::text(200, "slept");
  });
  s.routes.add("GET", "/big/{n}", [](request& r) -> rt::task<response> {
    co_return response::text(200, std::string(std::stoul(std::string(r.param("n"))), 'x'));
  });
}

// Connection 0 answers once, then reads the next request and closes without
// answering (as a server closing an idle connection at that very moment);
// later connections answer every request.
rt::task<void> dies_on_second_request(net::tcp_stream& s, int index) {
  for (int n = 0;; ++n) {
    std::string head = co_await test::read_request_head(s);
    if (head.empty()) co_return;
    if (index == 0 && n == 1) {
      s.close();
      co_return;
    }
    (void)co_await s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  }
}

client_options quick() {
  client_options o;
  o.connect_timeout = 1000ms;
  o.response_header_timeout = 2000ms;
  o.total_timeout = 5000ms;
  o.metrics_name = "test";
  return o;
}

}  // namespace

TEST_CASE("client: GET and POST against the server, headers both ways", "[http][client]") {
  run_loop_test([]() -> rt::task<void> {
    test::running_server s;
    add_routes(s);
    s.start();
    client c(quick());
    auto r1 = co_await c.send({"GET", s.url("/hello")});
    REQUIRE(r1);
    REQUIRE(r1->status == 200);
    REQUIRE(r1->body == "hello");
    client_request post{"POST", "http://alice:pa%3Ass@127.0.0.1:" + std::to_string(s.port()) + "/echo"};
    post.body = "payload";
    post.headers.add("X-Custom", "yes");
    auto r2 = co_await c.send(post);
    REQUIRE(r2);
    REQUIRE(r2->body == "payload");
    REQUIRE(r2->headers.get("X-Method") == std::optional<std::string_view>("POST"));
    REQUIRE(r2->headers.get("X-Auth") == std::optional<std::string_view>("Basic " + base64_encode("alice:pa:ss")));
    REQUIRE(r2->headers.get("X-Custom") == std::optional<std::string_view>("yes"));
    auto r3 = co_await c.send({"GET", s.url("/nothing-here")});
    REQUIRE(r3);
    REQUIRE(r3->status == 404);
    c.close_idle();
    co_await s.stop();
  });
}

TEST_CASE("client: keep-alive reuse is proven by the pool counters", "[http][client][pool]") {
  run_loop_test([]() -> rt::task<void> {
    test::running_server s;
    add_routes(s);
    s.start();
    client c(quick());
    for (int i = 0; i < 10; ++i) {
      auto r = co_await c.send({"GET", s.url("/hello")});
      REQUIRE(r);
      REQUIRE(r->reused_connection == (i > 0));
    }
    REQUIRE(c.pool().misses() == 1);
    REQUIRE(c.pool().hits() == 9);
    REQUIRE(s.srv->open_connections() == 1);
    auto st = c.pool().stats("http://127.0.0.1:" + std::to_string(s.port()));
    REQUIRE(st.idle == 1);
    REQUIRE(st.active == 0);
    std::string text = metrics::registry::global().render();
    REQUIRE_THAT(text, Catch::Contains("calgate_http_client_pool_hits_total{client=\"test\"}"));
    REQUIRE_THAT(text, Catch::Contains("calgate_http_client_requests_total{client=\"test\",outcome=\"200\"}"));
    c.close_idle();
    co_await s.stop();
  });
}

TEST_CASE("client: concurrent requests share at most max_per_origin connections", "[http][client][pool]") {
  run_loop_test([]() -> rt::task<void> {
    test::running_server s;
    std::set<std::string> peers;
    add_routes(s, &peers);
    s.start();
    auto o = quick();
    o.max_per_origin = 2;
    client c(o);
    std::vector<rt::task<rt::result<client_response>>> ts;
    for (int i = 0; i < 8; ++i) ts.push_back(c.send({"GET", s.url("/sleep/30")}));
    auto rs = co_await rt::when_all(std::move(ts));
    for (auto& r : rs) {
      REQUIRE(r);
      REQUIRE(r->status == 200);
    }
    REQUIRE(peers.size() == 2);
    REQUIRE(c.pool().misses() == 2);
    c.close_idle();
    co_await s.stop();
  });
}

TEST_CASE("client: idle pooled connections expire after the idle timeout", "[http][client][pool]") {
  run_loop_test([]() -> rt::task<void> {
    test::running_server s;
    add_routes(s);
    s.start();
    auto o = quick();
    o.idle_timeout = 100ms;
    client c(o);
    auto r = co_await c.send({"GET", s.url("/hello")});
    REQUIRE(r);
    std::string key = "http://127.0.0.1:" + std::to_string(s.port());
    REQUIRE(c.pool().stats(key).idle == 1);
    co_await rt::sleep_for(300ms);
    REQUIRE(c.pool().stats(key).idle == 0);
    REQUIRE(s.srv->open_connections() == 0);
    co_await s.stop();
  });
}

TEST_CASE("client: a pooled connection the server closed is not reused", "[http][client][pool]") {
  run_loop_test([]() -> rt::task<void> {
    test::running_server s;
    add_routes(s);
    server_options so = test::running_server::quiet();
    so.idle_timeout = 100ms;
    s.start(so);
    client c(quick());
    auto r1 = co_await c.send({"GET", s.url("/hello")});
    REQUIRE(r1);
    co_await rt::sleep_for(300ms);  // the server closes the idle connection
    auto r2 = co_await c.send({"GET", s.url("/hello")});
    REQUIRE(r2);
    REQUIRE_FALSE(r2->reused_connection);
    REQUIRE(c.pool().misses() == 2);
    REQUIRE(c.retries() == 0);  // caught by the liveness check, not by a failure
    c.close_idle();
    co_await s.stop();
  });
}

TEST_CASE("client: one safe retry when a pooled connection dies unnoticed", "[http][client][pool]") {
  run_loop_test([]() -> rt::task<void> {
    test::scripted_server srv(dies_on_second_request);
    srv.start();
    client c(quick());
    auto r1 = co_await c.send({"GET", srv.url("/a")});
    REQUIRE(r1);
    auto r2 = co_await c.send({"GET", srv.url("/b")});
    REQUIRE(r2);
    REQUIRE(r2->body == "ok");
    REQUIRE(c.retries() == 1);
    REQUIRE(srv.accepted == 2);
    c.close_idle();
    co_await srv.stop();
  });
}

TEST_CASE("client: a non-idempotent request is not retried after it was written", "[http][client][pool]") {
  run_loop_test([]() -> rt::task<void> {
    test::scripted_server srv(dies_on_second_request);
    srv.start();
    client c(quick());
    auto r1 = co_await c.send({"GET", srv.url("/a")});
    REQUIRE(r1);
    auto r2 = co_await c.send({"POST", srv.url("/b")});
    REQUIRE_FALSE(r2);
    REQUIRE(r2.error() == client_errc::connection_closed);
    REQUIRE(c.retries() == 0);
    // ...unless the caller says it is safe to repeat (an EWS availability query is).
    client_request again{"POST", srv.url("/c")};
    again.idempotent = true;
    auto r3 = co_await c.send(again);
    REQUIRE(r3);
    c.close_idle();
    co_await srv.stop();
  });
}

TEST_CASE("client: chunked, close-delimited and HEAD responses", "[http][client]") {
  run_loop_test([]() -> rt::task<void> {
    test::scripted_server srv([](net::tcp_stream& s, int) -> rt::task<void> {
      std::string head = co_await test::read_request_head(s);
      if (head.starts_with("GET /chunked")) {
        (void)co_await s.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
        (void)co_await test::read_request_head(s);
      } else if (head.starts_with("GET /close")) {
        (void)co_await s.write("HTTP/1.0 200 OK\r\n\r\nuntil the server closes");
        (void)co_await s.shutdown();
      } else if (head.starts_with("HEAD")) {
        (void)co_await s.write("HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n");
        (void)co_await test::read_request_head(s);
      }
    });
    srv.start();
    client c(quick());
    auto a = co_await c.send({"GET", srv.url("/chunked")});
    REQUIRE(a);
    REQUIRE(a->body == "hello world");
    auto b = co_await c.send({"GET", srv.url("/close")});
    REQUIRE(b);
    REQUIRE(b->body == "until the server closes");
    auto h = co_await c.send({"HEAD", srv.url("/head")});
    REQUIRE(h);
    REQUIRE(h->status == 200);
    REQUIRE(h->body.empty());
    c.close_idle();
    co_await srv.stop();
  });
}

TEST_CASE("client: a connect that hangs ends with connect_timeout", "[http][client][timeouts]") {
  run_loop_test([]() -> rt::task<void> {
    // A listener that never accepts, with its tiny backlog filled: further
    // SYNs are dropped, so connecting hangs.
    net::tcp_listener full;
    REQUIRE_FALSE(full.listen("127.0.0.1", 0, 1));
    std::vector<std::unique_ptr<net::tcp_stream>> fillers;
    for (int i = 0; i < 3; ++i) {
      auto f = co_await rt::with_timeout(200ms, net::connect("127.0.0.1", full.port()));
      if (f) fillers.push_back(std::move(*f));
    }
    auto o = quick();
    o.connect_timeout = 200ms;
    client c(o);
    auto t0 = std::chrono::steady_clock::now();
    auto r = co_await c.send({"GET", "http://127.0.0.1:" + std::to_string(full.port()) + "/"});
    REQUIRE_FALSE(r);
    REQUIRE(r.error() == client_errc::connect_timeout);
    REQUIRE(std::chrono::steady_clock::now() - t0 < 1500ms);
    REQUIRE(c.pool().stats("http://127.0.0.1:" + std::to_string(full.port())).active == 0);
  });
}

TEST_CASE("client: a server that never answers ends with header_timeout; a trickle with total_timeout", "[http][client][timeouts]") {
  run_loop_test([]() -> rt::task<void> {
    test::scripted_server srv([](net::tcp_stream& s, int) -> rt::task<void> {
      std::string head = co_await test::read_request_head(s);
      if (head.starts_with("GET /trickle")) {
        (void)co_await s.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
        for (int i = 0; i < 100; ++i) {
          co_await rt::sleep_for(50ms);
          if (co_await s.write("x")) co_return;
        }
      }
      (void)co_await s.read();  // never answer; wait for the client to give up
    });
    srv.start();
    auto o = quick();
    o.response_header_timeout = 150ms;
    client c(o);
    auto r = co_await c.send({"GET", srv.url("/silent")});
    REQUIRE_FALSE(r);
    REQUIRE(r.error() == client_errc::header_timeout);
    client_request trickle{"GET", srv.url("/trickle")};
    trickle.timeout = 300ms;
    auto t0 = std::chrono::steady_clock::now();
    auto r2 = co_await c.send(trickle);
    REQUIRE_FALSE(r2);
    REQUIRE(r2.error() == client_errc::total_timeout);
    REQUIRE(std::chrono::steady_clock::now() - t0 < 1000ms);
    co_await srv.stop();
  });
}

TEST_CASE("client: responses over the size limit are refused", "[http][client][limits]") {
  run_loop_test([]() -> rt::task<void> {
    test::running_server s;
    add_routes(s);
    s.start();
    auto o = quick();
    o.max_response_bytes = 1000;
    client c(o);
    auto ok = co_await c.send({"GET", s.url("/big/1000")});
    REQUIRE(ok);
    auto big = co_await c.send({"GET", s.url("/big/1001")});
    REQUIRE_FALSE(big);
    REQUIRE(big.error() == client_errc::response_too_large);
    c.close_idle();
    co_await s.stop();
  });
}

TEST_CASE("client: canceling a request mid-flight releases its connection", "[http][client][cancel]") {
  run_loop_test([]() -> rt::task<void> {
    test::running_server s;
    add_routes(s);
    s.start();
    client c(quick());
    rt::task_group g;
    std::error_code seen;
    g.spawn([](client& cl, std::string u, std::error_code& out) -> rt::task<void> {
      auto r = co_await cl.send({"GET", u});
      out = r ? std::error_code{} : r.error();
    }(c, s.url("/sleep/5000"), seen));
    co_await rt::sleep_for(50ms);
    g.request_stop();
    co_await g.join();
    REQUIRE(seen == rt::errc::canceled);
    auto st = c.pool().stats("http://127.0.0.1:" + std::to_string(s.port()));
    REQUIRE(st.active == 0);
    REQUIRE(st.idle == 0);  // a connection in an unknown state is not pooled
    c.close_idle();
    co_await s.stop(100ms);
  });
}

TEST_CASE("client: bad input is refused before anything is sent", "[http][client]") {
  run_loop_test([]() -> rt::task<void> {
    client c(quick());
    for (std::string u : {"ftp://x/", "http://", "http://host:99999/", "http://ho st/", "notaurl", "http://[::1/"}) {
      auto r = co_await c.send({"GET", u});
      REQUIRE_FALSE(r);
      REQUIRE(r.error() == client_errc::bad_url);
    }
    client_request inj{"GET", "http://127.0.0.1:1/"};
    inj.headers.add("X-Evil", "a\r\nInjected: yes");
    auto r = co_await c.send(inj);
    REQUIRE(r.error() == client_errc::bad_request);
    auto https = co_await c.send({"GET", "https://127.0.0.1:1/"});
    REQUIRE(https.error() == client_errc::https_unavailable);
  });
}

TEST_CASE("client: host names resolve through the loop's DNS", "[http][client][dns]") {
  run_loop_test([]() -> rt::task<void> {
    test::running_server s;
    add_routes(s);
    s.start();
    client c(quick());
    auto r = co_await c.send({"GET", "http://localhost:" + std::to_string(s.port()) + "/hello"});
    // localhost may resolve to ::1 first where the server listens on 127.0.0.1 only;
    // the client tries each address in turn.
    REQUIRE(r);
    REQUIRE(r->body == "hello");
    c.close_idle();
    co_await s.stop();
  });
}

TEST_CASE("url parsing", "[http][client][url]") {
  auto u = url::parse("HTTPS://user:p%40ss@[::1]:8443/EWS/Exchange.asmx?a=b#frag");
  REQUIRE(u);
  REQUIRE(u->scheme == "https");
  REQUIRE(u->host == "::1");
  REQUIRE(u->port == 8443);
  REQUIRE(u->target == "/EWS/Exchange.asmx?a=b");
  REQUIRE(u->user == "user");
  REQUIRE(u->password == "p@ss");
  REQUIRE(u->authority() == "[::1]:8443");
  auto d = url::parse("http://example.com");
  REQUIRE(d);
  REQUIRE(d->port == 80);
  REQUIRE(d->target == "/");
  REQUIRE(d->authority() == "example.com");
  auto q = url::parse("http://example.com?x=1");
  REQUIRE(q->target == "/?x=1");
  REQUIRE(base64_encode("") == "");
  REQUIRE(base64_encode("f") == "Zg==");
  REQUIRE(base64_encode("fo") == "Zm8=");
  REQUIRE(base64_encode("foo") == "Zm9v");
  REQUIRE(basic_auth("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

#include "net/tls.hpp"
#include "support/certs.hpp"

namespace {

std::shared_ptr<net::tls_context> server_tls(const std::string& cert, const std::string& key, const std::string& chain) {
  net::tls_server_config sc;
  sc.cert_file = cert;
  sc.key_file = key;
  sc.chain_file = chain;
  auto ctx = net::tls_context::make_server(sc);
  REQUIRE(ctx);
  return *ctx;
}

server_options tls_server_options(std::shared_ptr<net::tls_context> ctx) {
  server_options so = test::running_server::quiet();
  so.handshake = net::tls_acceptor(std::move(ctx));
  return so;
}

std::shared_ptr<net::tls_context> client_tls() {
  net::tls_client_config cc;
  cc.ca_file = test::certs().ca_cert;
  cc.alpn = {"http/1.1"};
  auto ctx = net::tls_context::make_client(cc);
  REQUIRE(ctx);
  return *ctx;
}

}  // namespace

TEST_CASE("client: https to the server, verified against the test CA, pooled and resumed", "[http][client][tls]") {
  run_loop_test([]() -> rt::task<void> {
    const auto& certs = test::certs();
    test::running_server s;
    add_routes(s);
    s.start(tls_server_options(server_tls(certs.server_cert, certs.server_key, certs.server_chain)));
    auto o = quick();
    o.tls = client_tls();
    o.idle_timeout = 50ms;  // so the second round needs a new connection (and resumes the session)
    client c(o);
    std::string base = "https://localhost:" + std::to_string(s.port());
    auto r = co_await c.send({"GET", base + "/hello"});
    REQUIRE(r);
    REQUIRE(r->body == "hello");
    auto r2 = co_await c.send({"GET", base + "/hello"});
    REQUIRE(r2);
    REQUIRE(r2->reused_connection);
    co_await rt::sleep_for(150ms);  // the pooled connection expires
    REQUIRE(o.tls->cached_sessions() >= 1);
    auto r3 = co_await c.send({"GET", base + "/hello"});
    REQUIRE(r3);
    REQUIRE_FALSE(r3->reused_connection);
    REQUIRE(c.pool().misses() == 2);
    // Also by IP literal (the certificate has IP:127.0.0.1).
    auto ip = co_await c.send({"GET", "https://127.0.0.1:" + std::to_string(s.port()) + "/hello"});
    REQUIRE(ip);
    c.close_idle();
    co_await s.stop();
  });
}

TEST_CASE("client: https verification failures are reported, not ignored", "[http][client][tls]") {
  run_loop_test([]() -> rt::task<void> {
    const auto& certs = test::certs();
    test::running_server wrong_name;
    add_routes(wrong_name);
    wrong_name.start(tls_server_options(server_tls(certs.other_cert, certs.other_key, certs.other_chain)));
    test::running_server untrusted;
    add_routes(untrusted);
    untrusted.start(tls_server_options(server_tls(certs.untrusted_cert, certs.untrusted_key, "")));
    auto o = quick();
    o.tls = client_tls();
    client c(o);
    auto r = co_await c.send({"GET", "https://localhost:" + std::to_string(wrong_name.port()) + "/hello"});
    REQUIRE_FALSE(r);
    REQUIRE(r.error() == net::tls_errc::verify_failed);
    REQUIRE_THAT(r.error().message(), Catch::Contains("hostname mismatch"));
    auto u = co_await c.send({"GET", "https://localhost:" + std::to_string(untrusted.port()) + "/hello"});
    REQUIRE_FALSE(u);
    REQUIRE(u.error() == net::tls_errc::verify_failed);
    REQUIRE(c.pool().stats("https://localhost:" + std::to_string(wrong_name.port())).active == 0);
    co_await wrong_name.stop();
    co_await untrusted.stop();
  });
}

TEST_CASE("client: a TLS server that never answers ends with tls_timeout", "[http][client][tls][timeouts]") {
  run_loop_test([]() -> rt::task<void> {
    test::scripted_server silent([](net::tcp_stream& s, int) -> rt::task<void> {
      (void)co_await s.read();  // take the ClientHello, never reply
      (void)co_await s.read();
    });
    silent.start();
    auto o = quick();
    o.tls = client_tls();
    o.tls_timeout = 150ms;
    client c(o);
    auto t0 = std::chrono::steady_clock::now();
    auto r = co_await c.send({"GET", "https://localhost:" + std::to_string(silent.port()) + "/"});
    REQUIRE_FALSE(r);
    REQUIRE(r.error() == client_errc::tls_timeout);
    REQUIRE(std::chrono::steady_clock::now() - t0 < 1000ms);
    co_await silent.stop();
  });
}
