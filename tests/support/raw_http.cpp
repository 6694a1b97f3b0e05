#include "support/raw_http.hpp"

#include "rt/sleep.hpp"
#include "rt/with_timeout.hpp"

namespace calgate::test {

namespace {
rt::task<std::error_code> read_some(net::stream& s) { co_return co_await s.read(); }
}  // namespace

rt::task<std::string> read_until_quiet(net::stream& s, std::chrono::milliseconds quiet) {
  std::string out;
  for (;;) {
    out.append(s.data());
    s.consume(s.data().size());
    if (s.read_ended()) break;
    std::error_code ec = co_await rt::with_timeout(quiet, read_some(s));
    if (ec && ec != rt::errc::eof) break;
    if (ec == rt::errc::eof) {
      out.append(s.data());
      s.consume(s.data().size());
      break;
    }
  }
  co_return out;
}

rt::task<std::string> raw_exchange(std::uint16_t port, std::string bytes, std::chrono::milliseconds quiet) {
  auto c = co_await net::connect("127.0.0.1", port);
  if (!c) co_return std::string("connect failed: ") + c.error().message();
  if (!bytes.empty()) {
    auto ec = co_await (*c)->write(bytes);
    if (ec) co_return std::string("write failed: ") + ec.message();
  }
  co_return co_await read_until_quiet(**c, quiet);
}

std::vector<parsed_response> parse_responses(std::string_view bytes, const std::vector<std::string>& methods) {
  std::vector<parsed_response> out;
  net::http::parser_limits l;
  l.max_body_bytes = 1ull << 30;
  l.max_header_bytes = 1 << 20;
  net::http::response_parser p(l);
  std::size_t i = 0;
  while (!bytes.empty()) {
    p.start(i < methods.size() ? methods[i] : "GET");
    std::size_t used = 0;
    auto st = p.feed(bytes, used);
    if (st == net::http::parse_status::need_more && used == bytes.size()) {
      if (p.finish() == net::http::parse_status::complete) {
        out.push_back({p.status(), p.headers(), p.body(), false});
      }
      break;
    }
    if (st != net::http::parse_status::complete) break;
    out.push_back({p.status(), p.headers(), p.body(), p.keep_alive()});
    bytes.remove_prefix(used);
    ++i;
  }
  return out;
}

rt::task<parsed_response> read_response(net::stream& s, std::string method, std::chrono::milliseconds limit) {
  net::http::parser_limits l;
  l.max_body_bytes = 1ull << 30;
  net::http::response_parser p(l);
  p.start(method);
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    std::size_t used = 0;
    auto st = p.feed(s.data(), used);
    s.consume(used);
    if (st == net::http::parse_status::complete) co_return parsed_response{p.status(), p.headers(), p.body(), p.keep_alive()};
    if (st == net::http::parse_status::error) co_return parsed_response{-1, {}, std::string(p.error_message()), false};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) co_return parsed_response{-2, {}, "timed out", false};
    std::error_code ec = co_await rt::with_timeout(left, read_some(s));
    if (ec == rt::errc::eof) {
      if (p.finish() == net::http::parse_status::complete)
        co_return parsed_response{p.status(), p.headers(), p.body(), false};
      co_return parsed_response{-3, {}, "eof", false};
    }
    if (ec) co_return parsed_response{-4, {}, ec.message(), false};
  }
}

}  // namespace calgate::test

#include "support/http_fixture.hpp"

namespace calgate::test {

rt::task<std::string> read_request_head(net::stream& s) {
  for (;;) {
    std::size_t end = s.data().find("\r\n\r\n");
    if (end != std::string_view::npos) {
      std::string head(s.data().substr(0, end + 4));
      s.consume(end + 4);
      co_return head;
    }
    if (auto ec = co_await s.read()) co_return std::string();
  }
}

}  // namespace calgate::test

#include "support/loop_test.hpp"

namespace calgate::test {

std::uint16_t free_port() {
  return run_loop_test([]() -> rt::task<std::uint16_t> {
    net::tcp_listener l;
    REQUIRE_FALSE(l.listen("127.0.0.1", 0));
    co_return l.port();
  });
}

}  // namespace calgate::test
