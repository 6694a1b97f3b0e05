#include <catch2/catch.hpp>

#include <string>

#include "net/http/server.hpp"
#include "rt/log.hpp"
#include "rt/sleep.hpp"
#include "rt/when_all.hpp"
#include "rt/with_timeout.hpp"
#include "support/loop_test.hpp"
#include "support/raw_http.hpp"

using namespace calgate;
using namespace calgate::net::http;
using namespace std::chrono_literals;
using test::parse_responses;
using test::raw_exchange;
using test::run_loop_test;

namespace {

void add_test_routes(router& r) {
  r.add("GET", "/hello", [](request&) -> rt::task<response> { co_return response::text(200, "hello world"); });
  r.add("POST", "/echo", [](request& q) -> rt::task<response> { co_return response::text(200, q.body); });
  r.add("GET", "/sleep/{ms}", [](request& q) -> rt::task<response> {
    co_await rt::sleep_for(std::chrono::milliseconds(std::stoi(std::string(q.param("ms")))));
    co_return response::text(200, "slept " + std::string(q.param("ms")));
  });
  r.add("GET", "/throw", [](request&) -> rt::task<response> {
    throw std::runtime_error("handler blew up");
    co_return response::text(200, "unreachable");
  });
  r.add("GET", "/big/{n}", [](request& q) -> rt::task<response> {
    co_return response::text(200, std::string(std::stoul(std::string(q.param("n"))), 'z'));
  });
  r.add("GET", "/users/{id}/calendar", [](request& q) -> rt::task<response> {
    co_return response::text(200, "calendar of " + std::string(q.param("id")));
  });
  r.add("GET", "/abort", [](request&) -> rt::task<response> {
    response resp;
    resp.abort = true;
    co_return resp;
  });
  r.add("GET", "/conn", [](request& q) -> rt::task<response> { co_return response::text(200, std::to_string(q.connection_id)); });
  r.add("GET", "/paced", [](request&) -> rt::task<response> {
    response resp = response::text(200, "");
    resp.content_length = 30;
    resp.body_writer = [](net::stream& st) -> rt::task<std::error_code> {
      for (int i = 0; i < 3; ++i) {
        co_await rt::sleep_for(20ms);
        if (auto ec = co_await st.write("0123456789")) co_return ec;
      }
      co_return std::error_code{};
    };
    co_return resp;
  });
  r.add("POST", "/EWS/Exchange.asmx", [](request&) -> rt::task<response> { co_return response::text(200, "ews"); },
        route_options{true});
}

// A server on a free port plus the group running it.
struct running {
  router routes;
  std::unique_ptr<server> srv;
  rt::task_group group{"test-server"};
  explicit running(server_options o = {}) {
    add_test_routes(routes);
    o.host = "127.0.0.1";
    o.port = 0;
    o.access_log = false;
    srv = std::make_unique<server>(o, routes);
    REQUIRE_FALSE(srv->listen());
    group.spawn(srv->run());
  }
  std::uint16_t port() const { return srv->port(); }
  rt::task<void> stop(std::chrono::milliseconds grace = 1s) {
    srv->stop(grace);
    co_await group.join();
  }
};

std::string get(std::string_view path, std::string_view extra = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "\r\n";
}

}  // namespace

TEST_CASE("server: GET answers with body, length and a request id", "[http][server]") {
  run_loop_test([]() -> rt::task<void> {
    running s;
    std::string out = co_await raw_exchange(s.port(), get("/hello", "Connection: close\r\n"));
    auto rs = parse_responses(out);
    REQUIRE(rs.size() == 1);
    REQUIRE(rs[0].status == 200);
    REQUIRE(rs[0].body == "hello world");
    REQUIRE(rs[0].headers.get("Content-Length") == std::optional<std::string_view>("11"));
    REQUIRE(rs[0].headers.get("X-Request-Id").has_value());
    REQUIRE(rs[0].headers.get("X-Request-Id")->size() == 16);
    REQUIRE(rs[0].headers.has("Date"));
    co_await s.stop();
  });
}

TEST_CASE("server: a client-supplied request id is echoed; a hostile one is replaced", "[http][server]") {
  run_loop_test([]() -> rt::task<void> {
    running s;
    std::string out = co_await raw_exchange(s.port(), get("/hello", "X-Request-Id: abc-123\r\n") +
                                                          get("/hello", "X-Request-Id: <script>\r\nConnection: close\r\n"));
    auto rs = parse_responses(out);
    REQUIRE(rs.size() == 2);
    REQUIRE(rs[0].headers.get("X-Request-Id") == std::optional<std::string_view>("abc-123"));
    REQUIRE(rs[1].headers.get("X-Request-Id") != std::optional<std::string_view>("<script>"));
    co_await s.stop();
  });
}

TEST_CASE("server: pipelined requests are answered in request order", "[http][server][pipelining]") {
  run_loop_test([]() -> rt::task<void> {
    running s;
    // The first request is the slowest; its answer must still come first.
    std::string in = get("/sleep/60") + get("/sleep/1") + "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nping" +
                     get("/hello", "Connection: close\r\n");
    std::string out = co_await raw_exchange(s.port(), in, 1000ms);
    auto rs = parse_responses(out);
    REQUIRE(rs.size() == 4);
    REQUIRE(rs[0].body == "slept 60");
    REQUIRE(rs[1].body == "slept 1");
    REQUIRE(rs[2].body == "ping");
    REQUIRE(rs[3].body == "hello world");
    REQUIRE_FALSE(rs[3].keep_alive);
    co_await s.stop();
  });
}

TEST_CASE("server: keep-alive serves many requests on one connection", "[http][server]") {
  run_loop_test([]() -> rt::task<void> {
    running s;
    auto c = co_await net::connect("127.0.0.1", s.port());
    REQUIRE(c);
    for (int i = 0; i < 20; ++i) {
      auto ec = co_await (*c)->write(get("/users/u" + std::to_string(i) + "/calendar"));
      REQUIRE_FALSE(ec);
      auto r = co_await test::read_response(**c);
      REQUIRE(r.status == 200);
      REQUIRE(r.body == "calendar of u" + std::to_string(i));
      REQUIRE(r.keep_alive);
    }
    REQUIRE(s.srv->open_connections() == 1);
    co_await s.stop();
  });
}

TEST_CASE("server: chunked request bodies are decoded", "[http][server]") {
  run_loop_test([]() -> rt::task<void> {
    running s;
    std::string out = co_await raw_exchange(
        s.port(),
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        "4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n");
    auto rs = parse_responses(out);
    REQUIRE(rs.size() == 1);
    REQUIRE(rs[0].body == "Wikipedia in\r\n\r\nchunks.");
    co_await s.stop();
  });
}

TEST_CASE("server: Expect 100-continue gets an interim answer before the body", "[http][server]") {
  run_loop_test([]() -> rt::task<void> {
    running s;
    auto c = co_await net::connect("127.0.0.1", s.port());
    REQUIRE(c);
    auto ec = co_await (*c)->write("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    REQUIRE_FALSE(ec);
    std::string interim = co_await test::read_until_quiet(**c, 200ms);
    REQUIRE(interim == "HTTP/1.1 100 Continue\r\n\r\n");
    ec = co_await (*c)->write("hello");
    REQUIRE_FALSE(ec);
    auto r = co_await test::read_response(**c, "POST");
    REQUIRE(r.status == 200);
    REQUIRE(r.body == "hello");
    co_await s.stop();
  });
}

TEST_CASE("server: HEAD gets the GET headers and no body", "[http][server]") {
  run_loop_test([]() -> rt::task<void> {
    running s;
    std::string out = co_await raw_exchange(s.port(), "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n" + get("/hello", "Connection: close\r\n"));
    auto rs = parse_responses(out, {"HEAD", "GET"});
    REQUIRE(rs.size() == 2);
    REQUIRE(rs[0].status == 200);
    REQUIRE(rs[0].headers.get("Content-Length") == std::optional<std::string_view>("11"));
    REQUIRE(rs[0].body.empty());
    REQUIRE(rs[1].body == "hello world");
    co_await s.stop();
  });
}

TEST_CASE("server: 404 and 405 come with JSON bodies and Allow", "[http][server][router]") {
  run_loop_test([]() -> rt::task<void> {
    running s;
    std::string out = co_await raw_exchange(
        s.port(), get("/nope") + "DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n" +
                      "POST /ews/exchange.ASMX HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n" + get("/users//calendar") +
                      get("/throw", "Connection: close\r\n"));
    auto rs = parse_responses(out);
    REQUIRE(rs.size() == 5);
    REQUIRE(rs[0].status == 404);
    REQUIRE(rs[0].headers.get("Content-Type") == std::optional<std::string_view>("application/json; charset=utf-8"));
    REQUIRE_THAT(rs[0].body, Catch::StartsWith("{\"error\":{\"code\":404,"));
    REQUIRE_THAT(rs[0].body, Catch::Contains("\"request_id\":"));
    REQUIRE(rs[1].status == 405);
    REQUIRE(rs[1].headers.get("Allow") == std::optional<std::string_view>("GET, HEAD"));
    REQUIRE(rs[2].status == 200);  // case-insensitive route
    REQUIRE(rs[3].status == 404);  // empty path parameter
    REQUIRE(rs[4].status == 500);
    REQUIRE_THAT(rs[4].body, Catch::Contains("internal error"));
    REQUIRE_THAT(rs[4].body, !Catch::Contains("blew up"));  // internals are logged, not sent
    co_await s.stop();
  });
}

TEST_CASE("server: limits are answered with 431, 413 and 414 and the connection closes", "[http][server][limits]") {
  run_loop_test([]() -> rt::task<void> {
    server_options o;
    o.limits.max_header_bytes = 1024;
    o.limits.max_headers = 10;
    o.limits.max_uri_bytes = 100;
    o.limits.max_body_bytes = 1000;
    running s(o);
    struct probe {
      std::string in;
      int status;
    };
    std::string many;
    for (int i = 0; i < 11; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
    std::vector<probe> probes = {
        {get("/hello", "X-Big: " + std::string(2000, 'a') + "\r\n"), 431},
        {get("/hello", many), 431},
        {get("/" + std::string(200, 'u')), 414},
        {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'b'), 413},
        {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + std::string(1024, 'c') + "\r\n", 413},
    };
    for (auto& p : probes) {
      // A request after the bad one must not be answered: the connection is closed.
      std::string out = co_await raw_exchange(s.port(), p.in + get("/hello"));
      auto rs = parse_responses(out);
      REQUIRE(rs.size() == 1);
      REQUIRE(rs[0].status == p.status);
      REQUIRE(rs[0].headers.get("Connection") == std::optional<std::string_view>("close"));
    }
    co_await s.stop();
  });
}

TEST_CASE("server: request-smuggling inputs get 400 and a closed connection", "[http][server][security]") {
  run_loop_test([]() -> rt::task<void> {
    running s;
    std::vector<std::string> attacks = {
        "GET /hello HTTP/1.1\r\nHost: t\r\nx:\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET /hello HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n Transfer-Encoding: chunked\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd",
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    };
    for (const auto& a : attacks) {
      std::string out = co_await raw_exchange(s.port(), a + get("/hello"));
      auto rs = parse_responses(out);
      REQUIRE(rs.size() == 1);
      REQUIRE(rs[0].status == 400);
    }
    co_await s.stop();
  });
}

TEST_CASE("server: a slow-loris client gets 408 while others are served", "[http][server][timeouts]") {
  run_loop_test([]() -> rt::task<void> {
    server_options o;
    o.header_timeout = 300ms;
    running s(o);
    auto loris = [](std::uint16_t port) -> rt::task<std::string> {
      auto c = co_await net::connect("127.0.0.1", port);
      std::string sent = "GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: ";
      for (char ch : sent) {
        (void)co_await (*c)->write(std::string(1, ch));
      }
      // Then one byte every 50 ms: never finishing the headers.
      std::string got;
      for (int i = 0; i < 40 && !(*c)->read_ended(); ++i) {
        (void)co_await (*c)->write("a");
        co_await rt::sleep_for(50ms);
      }
      got = co_await test::read_until_quiet(**c, 200ms);
      co_return got;
    };
    auto others = [](std::uint16_t port) -> rt::task<int> {
      int ok = 0;
      for (int i = 0; i < 10; ++i) {
        std::string out = co_await raw_exchange(port, get("/hello", "Connection: close\r\n"), 100ms);
        auto rs = parse_responses(out);
        if (rs.size() == 1 && rs[0].status == 200) ++ok;
        co_await rt::sleep_for(20ms);
      }
      co_return ok;
    };
    auto t0 = std::chrono::steady_clock::now();
    auto [loris_out, served] = co_await rt::when_all(loris(s.port()), others(s.port()));
    auto elapsed = std::chrono::steady_clock::now() - t0;
    auto rs = parse_responses(loris_out);
    REQUIRE(rs.size() == 1);
    REQUIRE(rs[0].status == 408);
    REQUIRE(served == 10);
    REQUIRE(elapsed < 2500ms);  // the loris did not get to send 40 bytes (2 s)
    co_await s.stop();
  });
}

TEST_CASE("server: idle keep-alive connections are closed after the idle timeout", "[http][server][timeouts]") {
  run_loop_test([]() -> rt::task<void> {
    server_options o;
    o.idle_timeout = 150ms;
    running s(o);
    auto c = co_await net::connect("127.0.0.1", s.port());
    auto ec = co_await (*c)->write(get("/hello"));
    REQUIRE_FALSE(ec);
    auto r = co_await test::read_response(**c);
    REQUIRE(r.status == 200);
    auto t0 = std::chrono::steady_clock::now();
    std::string rest = co_await test::read_until_quiet(**c, 2000ms);
    REQUIRE(rest.empty());
    REQUIRE((*c)->read_ended());  // the server closed, no 408 for an idle connection
    REQUIRE(std::chrono::steady_clock::now() - t0 < 1000ms);
    co_await s.stop();
  });
}

TEST_CASE("server: a body that stops arriving gets 408 after the body timeout", "[http][server][timeouts]") {
  run_loop_test([]() -> rt::task<void> {
    server_options o;
    o.body_timeout = 150ms;
    running s(o);
    std::string out = co_await raw_exchange(s.port(), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc", 1000ms);
    auto rs = parse_responses(out);
    REQUIRE(rs.size() == 1);
    REQUIRE(rs[0].status == 408);
    co_await s.stop();
  });
}

TEST_CASE("server: a handler past its deadline gets 504", "[http][server][timeouts]") {
  run_loop_test([]() -> rt::task<void> {
    server_options o;
    o.request_timeout = 50ms;
    running s(o);
    std::string out = co_await raw_exchange(s.port(), get("/sleep/5000", "Connection: close\r\n"), 1000ms);
    auto rs = parse_responses(out);
    REQUIRE(rs.size() == 1);
    REQUIRE(rs[0].status == 504);
    co_await s.stop();
  });
}

TEST_CASE("server: a client that does not read is cut off after the write timeout", "[http][server][timeouts]") {
  run_loop_test([]() -> rt::task<void> {
    server_options o;
    o.write_timeout = 200ms;
    running s(o);
    auto c = co_await net::connect("127.0.0.1", s.port());
    auto ec = co_await (*c)->write(get("/big/67108864"));  // 64 MiB, never read
    REQUIRE_FALSE(ec);
    co_await rt::sleep_for(50ms);
    REQUIRE(s.srv->open_connections() == 1);
    for (int i = 0; i < 100 && s.srv->open_connections() > 0; ++i) co_await rt::sleep_for(20ms);
    REQUIRE(s.srv->open_connections() == 0);
    co_await s.stop();
  });
}

TEST_CASE("server: connections over max_connections get 503", "[http][server][limits]") {
  run_loop_test([]() -> rt::task<void> {
    server_options o;
    o.max_connections = 2;
    running s(o);
    auto a = co_await net::connect("127.0.0.1", s.port());
    auto b = co_await net::connect("127.0.0.1", s.port());
    co_await rt::sleep_for(30ms);
    REQUIRE(s.srv->open_connections() == 2);
    std::string out = co_await raw_exchange(s.port(), get("/hello"));
    auto rs = parse_responses(out);
    REQUIRE(rs.size() == 1);
    REQUIRE(rs[0].status == 503);
    REQUIRE(rs[0].headers.get("Retry-After") == std::optional<std::string_view>("1"));
    (*a)->close();
    co_await rt::sleep_for(30ms);
    out = co_await raw_exchange(s.port(), get("/hello", "Connection: close\r\n"));
    rs = parse_responses(out);
    REQUIRE(rs.size() == 1);
    REQUIRE(rs[0].status == 200);
    co_await s.stop();
  });
}

TEST_CASE("server: shutdown lets requests in flight finish and closes idle connections", "[http][server][shutdown]") {
  rt::loop l;
  rt::run(l, []() -> rt::task<void> {
    running s;
    auto idle = co_await net::connect("127.0.0.1", s.port());
    auto busy = co_await net::connect("127.0.0.1", s.port());
    auto ec = co_await (*busy)->write(get("/sleep/200"));
    REQUIRE_FALSE(ec);
    co_await rt::sleep_for(50ms);
    REQUIRE(s.srv->open_connections() == 2);
    auto t0 = std::chrono::steady_clock::now();
    s.srv->stop(5s);
    // New connections are refused at once.
    auto late = co_await net::connect("127.0.0.1", s.port());
    REQUIRE_FALSE(late);
    auto r = co_await test::read_response(**busy);
    REQUIRE(r.status == 200);
    REQUIRE(r.body == "slept 200");
    REQUIRE_FALSE(r.keep_alive);  // Connection: close while draining
    std::string idle_rest = co_await test::read_until_quiet(**idle, 1000ms);
    REQUIRE(idle_rest.empty());
    REQUIRE((*idle)->read_ended());
    co_await s.group.join();
    REQUIRE(std::chrono::steady_clock::now() - t0 < 2s);
  }());
  REQUIRE(l.close() == 0);
}

TEST_CASE("server: after the grace period requests in flight are canceled", "[http][server][shutdown]") {
  rt::loop l;
  rt::run(l, []() -> rt::task<void> {
    running s;
    auto busy = co_await net::connect("127.0.0.1", s.port());
    auto ec = co_await (*busy)->write(get("/sleep/10000"));
    REQUIRE_FALSE(ec);
    co_await rt::sleep_for(30ms);
    auto t0 = std::chrono::steady_clock::now();
    co_await s.stop(100ms);
    REQUIRE(std::chrono::steady_clock::now() - t0 < 1s);
    REQUIRE(s.srv->open_connections() == 0);
  }());
  REQUIRE(l.close() == 0);
}

TEST_CASE("server: metrics count requests by route and status", "[http][server][metrics]") {
  run_loop_test([]() -> rt::task<void> {
    running s;
    (void)co_await raw_exchange(s.port(), get("/hello") + get("/nope", "Connection: close\r\n"));
    std::string text = metrics::registry::global().render();
    REQUIRE_THAT(text, Catch::Contains("calgate_http_requests_total{route=\"/hello\",method=\"GET\",status=\"200\"}"));
    REQUIRE_THAT(text, Catch::Contains("calgate_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}"));
    REQUIRE_THAT(text, Catch::Contains("calgate_http_request_duration_seconds_bucket{route=\"/hello\",le=\"+Inf\"}"));
    REQUIRE_THAT(text, Catch::Contains("# TYPE calgate_http_open_connections gauge"));
    co_await s.stop();
  });
}

TEST_CASE("server: access log lines carry request id, route, status and duration", "[http][server][log]") {
  run_loop_test([]() -> rt::task<void> {
    router routes;
    add_test_routes(routes);
    server_options o;
    o.port = 0;
    o.access_log = true;
    server srv(o, routes);
    REQUIRE_FALSE(srv.listen());
    rt::task_group g;
    g.spawn(srv.run());
    log::capture(true);
    (void)co_await raw_exchange(srv.port(), get("/hello", "X-Request-Id: trace-1\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n"));
    std::string lines = log::take_captured();
    log::capture(false);
    REQUIRE_THAT(lines, Catch::Contains("request_id=trace-1"));
    REQUIRE_THAT(lines, Catch::Contains("route=/hello"));
    REQUIRE_THAT(lines, Catch::Contains("status=200"));
    REQUIRE_THAT(lines, Catch::Contains("duration_ms="));
    REQUIRE_THAT(lines, !Catch::Contains("s3cret"));
    srv.stop(1s);
    co_await g.join();
  });
}

TEST_CASE("server: abort closes without an answer; streamed bodies; connection ids", "[http][server]") {
  run_loop_test([]() -> rt::task<void> {
    running s;
    std::string aborted = co_await raw_exchange(s.port(), get("/abort"));
    CHECK(aborted.empty());
    auto t0 = std::chrono::steady_clock::now();
    std::string paced = co_await raw_exchange(s.port(), get("/paced", "Connection: close\r\n"), 500ms);
    auto rs = parse_responses(paced);
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].headers.get("Content-Length") == std::optional<std::string_view>("30"));
    CHECK(rs[0].body == "012345678901234567890123456789");
    CHECK(std::chrono::steady_clock::now() - t0 >= 55ms);
    std::string two = co_await raw_exchange(s.port(), get("/conn") + get("/conn", "Connection: close\r\n"));
    auto same = parse_responses(two);
    REQUIRE(same.size() == 2);
    CHECK(same[0].body == same[1].body);
    std::string other = co_await raw_exchange(s.port(), get("/conn", "Connection: close\r\n"));
    auto diff = parse_responses(other);
    REQUIRE(diff.size() == 1);
    CHECK(diff[0].body != same[0].body);
    co_await s.stop();
  });
}
