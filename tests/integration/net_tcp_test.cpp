#include <catch2/catch.hpp>

#include <string>

#include "net/tcp.hpp"
#include "rt/sleep.hpp"
#include "rt/task_group.hpp"
#include "rt/with_timeout.hpp"
#include "support/loop_test.hpp"

using namespace calgate;
using namespace std::chrono_literals;
using test::run_loop_test;

namespace {

rt::task<void> echo_once(std::unique_ptr<net::tcp_stream> s) {
  for (;;) {
    // Bytes may have arrived while the last echo was being written.
    if (s->data().empty()) {
      auto ec = co_await s->read();
      if (ec) break;
    }
    std::string chunk(s->data());
    s->consume(chunk.size());
    if (auto wec = co_await s->write(chunk)) break;
  }
  co_await s->shutdown();
}

rt::task<void> accept_loop(net::tcp_listener& l, rt::task_group& g) {
  for (;;) {
    auto s = co_await l.accept();
    if (!s) co_return;
    g.spawn(echo_once(std::move(*s)));
  }
}

rt::task<std::string> read_exactly(net::stream& s, std::size_t n) {
  while (s.data().size() < n) {
    auto ec = co_await s.read();
    if (ec) break;
  }
  std::string out(s.data().substr(0, n));
  s.consume(out.size());
  co_return out;
}

}  // namespace

TEST_CASE("tcp: echo over loopback with several clients", "[net][tcp]") {
  auto ok = run_loop_test([]() -> rt::task<int> {
    net::tcp_listener l;
    REQUIRE_FALSE(l.listen("127.0.0.1", 0));
    REQUIRE(l.port() != 0);
    rt::task_group g;
    g.spawn(accept_loop(l, g));
    int good = 0;
    for (int i = 0; i < 5; ++i) {
      auto c = co_await net::connect("127.0.0.1", l.port());
      REQUIRE(c);
      std::string msg = "hello " + std::to_string(i) + std::string(10000, 'x');
      auto wec = co_await (*c)->write(msg);
      REQUIRE_FALSE(wec);
      if (co_await read_exactly(**c, msg.size()) == msg) ++good;
    }
    l.close();
    g.request_stop();
    co_await g.join();
    co_return good;
  });
  REQUIRE(ok == 5);
}

TEST_CASE("tcp: a peer that stops reading pushes back on the writer", "[net][tcp]") {
  run_loop_test([]() -> rt::task<void> {
    net::tcp_listener l;
    REQUIRE_FALSE(l.listen("127.0.0.1", 0));
    auto client = co_await net::connect("127.0.0.1", l.port());
    REQUIRE(client);
    auto server = co_await l.accept();
    REQUIRE(server);
    (*server)->set_high_water(16 * 1024);
    // Start the server reading once so bytes flow into its buffer, then never consume.
    std::string big(32 * 1024 * 1024, 'b');
    rt::task_group g;
    bool write_done = false;
    g.spawn([](net::stream& c, const std::string& data, bool& done) -> rt::task<void> {
      auto ec = co_await c.write(data);
      done = !ec;
    }(**client, big, write_done));
    (void)co_await (*server)->read();
    co_await rt::sleep_for(100ms);
    // The kernel buffers some megabytes; 32 MiB cannot all have been taken.
    REQUIRE_FALSE(write_done);
    // The reader buffered no more than its high-water mark plus one read.
    REQUIRE((*server)->data().size() <= 16 * 1024 + 64 * 1024);
    std::size_t total = 0;
    while (total < big.size()) {
      total += (*server)->data().size();
      (*server)->consume((*server)->data().size());
      if (total >= big.size()) break;
      auto ec = co_await (*server)->read();
      REQUIRE_FALSE(ec);
    }
    co_await g.join();
    REQUIRE(write_done);
    REQUIRE(total == big.size());
  });
}

TEST_CASE("tcp: connecting to a closed port reports the error", "[net][tcp]") {
  auto ec = run_loop_test([]() -> rt::task<std::error_code> {
    std::uint16_t port;
    {
      net::tcp_listener l;
      REQUIRE_FALSE(l.listen("127.0.0.1", 0));
      port = l.port();
    }
    co_await rt::sleep_for(1ms);  // let the listener close
    auto c = co_await net::connect("127.0.0.1", port);
    co_return c.error();
  });
  REQUIRE(ec == std::errc::connection_refused);
}

TEST_CASE("tcp: a pending read resumes with timed_out under a deadline and the stream stays usable", "[net][tcp]") {
  run_loop_test([]() -> rt::task<void> {
    net::tcp_listener l;
    REQUIRE_FALSE(l.listen("127.0.0.1", 0));
    auto client = co_await net::connect("localhost", l.port());
    if (!client) client = co_await net::connect("127.0.0.1", l.port());
    REQUIRE(client);
    auto server = co_await l.accept();
    REQUIRE(server);
    auto reader = [](net::stream& s) -> rt::task<std::error_code> { co_return co_await s.read(); };
    auto ec = co_await rt::with_timeout(20ms, reader(**server));
    REQUIRE(ec == rt::errc::timed_out);
    auto wec = co_await (*client)->write("ping");
    REQUIRE_FALSE(wec);
    std::string got = co_await read_exactly(**server, 4);
    REQUIRE(got == "ping");
  });
}

TEST_CASE("tcp: peer close gives eof after the buffered bytes", "[net][tcp]") {
  run_loop_test([]() -> rt::task<void> {
    net::tcp_listener l;
    REQUIRE_FALSE(l.listen("127.0.0.1", 0));
    auto client = co_await net::connect("127.0.0.1", l.port());
    auto server = co_await l.accept();
    auto wec = co_await (*client)->write("last words");
    REQUIRE_FALSE(wec);
    auto sec = co_await (*client)->shutdown();
    REQUIRE_FALSE(sec);
    std::string got = co_await read_exactly(**server, 10);
    REQUIRE(got == "last words");
    auto ec = co_await (*server)->read();
    REQUIRE(ec == rt::errc::eof);
  });
}

TEST_CASE("tcp: resolve rejects empty names and resolves literals without the threadpool", "[net][dns]") {
  run_loop_test([]() -> rt::task<void> {
    auto r = co_await net::resolve("", 80);
    REQUIRE(r.error() == rt::errc::bad_input);
    auto lit = co_await net::resolve("::1", 443);
    REQUIRE(lit);
    REQUIRE(lit->front().to_string() == "[::1]:443");
    auto bad = co_await net::resolve("no-such-host.invalid", 80);
    REQUIRE_FALSE(bad);
  });
}
