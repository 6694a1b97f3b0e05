#include <catch2/catch.hpp>

#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "net/http/message.hpp"
#include "net/http/parser.hpp"

using namespace calgate::net::http;

namespace {

struct parsed {
  parse_status st;
  std::size_t consumed;
  int error;
  std::string why;
};

parsed parse_request(request_parser& p, std::string_view in) {
  std::size_t consumed = 0;
  parse_status st = p.feed(in, consumed);
  return {st, consumed, p.error_status(), std::string(p.error_message())};
}

parsed parse_one(std::string_view in, parser_limits l = {}) {
  request_parser p(l);
  return parse_request(p, in);
}

}  // namespace

TEST_CASE("parser: a simple GET", "[http][parser]") {
  request_parser p({});
  std::string in = "GET /healthz?x=1&y=a%20b HTTP/1.1\r\nHost: example\r\nX-Thing:  padded  \r\n\r\n";
  auto r = parse_request(p, in);
  REQUIRE(r.st == parse_status::complete);
  REQUIRE(r.consumed == in.size());
  REQUIRE(p.message().method == "GET");
  REQUIRE(p.message().path == "/healthz");
  REQUIRE(p.message().query == "x=1&y=a%20b");
  REQUIRE(p.message().query_param("y") == std::optional<std::string>("a b"));
  REQUIRE(p.message().headers.get("x-thing") == std::optional<std::string_view>("padded"));
  REQUIRE(p.keep_alive());
}

TEST_CASE("parser: pipelined requests are split exactly", "[http][parser]") {
  request_parser p({});
  std::string a = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
  std::string b = "GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  std::string in = a + b;
  auto r1 = parse_request(p, in);
  REQUIRE(r1.st == parse_status::complete);
  REQUIRE(r1.consumed == a.size());
  REQUIRE(p.message().body == "hello");
  p.next();
  auto r2 = parse_request(p, std::string_view(in).substr(r1.consumed));
  REQUIRE(r2.st == parse_status::complete);
  REQUIRE(r2.consumed == b.size());
  REQUIRE(p.message().path == "/b");
  REQUIRE_FALSE(p.keep_alive());
}

TEST_CASE("parser: byte-at-a-time input parses the same", "[http][parser]") {
  request_parser p({});
  std::string in =
      "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  parse_status st = parse_status::need_more;
  for (std::size_t i = 0; i < in.size(); ++i) {
    std::size_t c = 0;
    st = p.feed(std::string_view(in).substr(i, 1), c);
    REQUIRE(c == 1);
    if (i + 1 < in.size()) REQUIRE(st == parse_status::need_more);
  }
  REQUIRE(st == parse_status::complete);
  REQUIRE(p.message().body == "hello world");
}

TEST_CASE("parser: smuggling inputs are rejected with 400", "[http][parser][security]") {
  SECTION("CR not followed by LF (CVE-2023-30589)") {
    auto r = parse_one("GET / HTTP/1.1\r\nHost: h\r\nx:\rTransfer-Encoding: chunked\r\n\r\n");
    REQUIRE(r.st == parse_status::error);
    REQUIRE(r.error == 400);
    REQUIRE_THAT(r.why, Catch::Contains("CR not followed by LF"));
  }
  SECTION("obs-fold continuation line") {
    auto r = parse_one("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n");
    REQUIRE(r.error == 400);
    REQUIRE_THAT(r.why, Catch::Contains("folding"));
  }
  SECTION("a header line starting with a tab") {
    auto r = parse_one("GET / HTTP/1.1\r\nHost: h\r\n\tTransfer-Encoding: chunked\r\n\r\n");
    REQUIRE(r.error == 400);
  }
  SECTION("bare LF line endings") {
    auto r = parse_one("GET / HTTP/1.1\nHost: h\n\n");
    REQUIRE(r.error == 400);
  }
  SECTION("Content-Length together with Transfer-Encoding") {
    auto r = parse_one("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    REQUIRE(r.st == parse_status::error);
    REQUIRE(r.error == 400);
  }
  SECTION("conflicting Content-Length values") {
    auto r = parse_one("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd");
    REQUIRE(r.error == 400);
  }
  SECTION("repeated identical Content-Length values") {
    auto r = parse_one("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc");
    REQUIRE(r.error == 400);
  }
  SECTION("Content-Length list") {
    auto r = parse_one("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc");
    REQUIRE(r.error == 400);
  }
  SECTION("Transfer-Encoding not ending in chunked") {
    auto r = parse_one("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nabc");
    REQUIRE(r.error == 400);
  }
  SECTION("trailer fields after a chunked body") {
    auto r = parse_one("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Late: 1\r\n\r\n");
    REQUIRE(r.error == 400);
  }
  SECTION("bad chunk size") {
    auto r = parse_one("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    REQUIRE(r.error == 400);
  }
  SECTION("missing Host in HTTP/1.1") {
    auto r = parse_one("GET / HTTP/1.1\r\n\r\n");
    REQUIRE(r.error == 400);
  }
  SECTION("two Host fields") {
    auto r = parse_one("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    REQUIRE(r.error == 400);
  }
  SECTION("absolute-form target") {
    auto r = parse_one("GET http://evil/ HTTP/1.1\r\nHost: a\r\n\r\n");
    REQUIRE(r.error == 400);
  }
}

TEST_CASE("parser: limits map to 431, 414 and 413", "[http][parser][limits]") {
  parser_limits l;
  l.max_header_bytes = 200;
  l.max_headers = 5;
  l.max_uri_bytes = 50;
  l.max_body_bytes = 10;
  SECTION("header bytes") {
    auto r = parse_one("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(300, 'a') + "\r\n\r\n", l);
    REQUIRE(r.error == 431);
  }
  SECTION("header count") {
    std::string in = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (int i = 0; i < 6; ++i) in += "X" + std::to_string(i) + ": v\r\n";
    auto r = parse_one(in + "\r\n", l);
    REQUIRE(r.error == 431);
  }
  SECTION("URI length") {
    auto r = parse_one("GET /" + std::string(60, 'u') + " HTTP/1.1\r\nHost: h\r\n\r\n", l);
    REQUIRE(r.error == 414);
  }
  SECTION("declared body too large") {
    auto r = parse_one("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", l);
    REQUIRE(r.error == 413);
  }
  SECTION("chunked body growing too large") {
    auto r = parse_one("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n", l);
    REQUIRE(r.error == 413);
  }
  SECTION("within limits") {
    auto r = parse_one("POST /ok HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", l);
    REQUIRE(r.st == parse_status::complete);
  }
}

TEST_CASE("parser: HTTP/1.0, Expect and EOF handling", "[http][parser]") {
  SECTION("HTTP/1.0 without Host, not kept alive") {
    request_parser p({});
    auto r = parse_request(p, "GET / HTTP/1.0\r\n\r\n");
    REQUIRE(r.st == parse_status::complete);
    REQUIRE_FALSE(p.keep_alive());
  }
  SECTION("HTTP/1.0 keep-alive") {
    request_parser p({});
    auto r = parse_request(p, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    REQUIRE(r.st == parse_status::complete);
    REQUIRE(p.keep_alive());
  }
  SECTION("Expect: 100-continue is visible once the headers are in") {
    request_parser p({});
    auto r = parse_request(p, "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    REQUIRE(r.st == parse_status::need_more);
    REQUIRE(p.headers_complete());
    REQUIRE(p.expects_continue());
  }
  SECTION("unknown expectations get 417") {
    auto r = parse_one("PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: teapot\r\n\r\n");
    REQUIRE(r.error == 417);
  }
  SECTION("EOF mid-body is an error") {
    request_parser p({});
    auto r = parse_request(p, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
    REQUIRE(r.st == parse_status::need_more);
    REQUIRE(p.finish() == parse_status::error);
  }
  SECTION("garbage is a 400 or 501, never a crash") {
    for (std::string in : {std::string("\x16\x03\x01\x02\x00", 5), std::string("FOO\r\n\r\n"),
                           std::string("GET / HTTP/9.9\r\n\r\n"), std::string(1000, '\0')}) {
      auto r = parse_one(in);
      REQUIRE(r.st == parse_status::error);
      REQUIRE(r.error >= 400);
    }
  }
}

TEST_CASE("response parser: framing variants", "[http][parser][client]") {
  parser_limits l;
  SECTION("content-length") {
    response_parser p(l);
    p.start("GET");
    std::size_t c = 0;
    std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiEXTRA";
    REQUIRE(p.feed(in, c) == parse_status::complete);
    REQUIRE(c == in.size() - 5);
    REQUIRE(p.body() == "hi");
    REQUIRE(p.keep_alive());
  }
  SECTION("chunked with a trailer") {
    response_parser p(l);
    p.start("GET");
    std::size_t c = 0;
    REQUIRE(p.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", c) ==
            parse_status::complete);
    REQUIRE(p.body() == "abc");
    REQUIRE_FALSE(p.headers().has("X-T"));
  }
  SECTION("close-delimited") {
    response_parser p(l);
    p.start("GET");
    std::size_t c = 0;
    REQUIRE(p.feed("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", c) == parse_status::need_more);
    REQUIRE(p.finish() == parse_status::complete);
    REQUIRE(p.body() == "until the end");
    REQUIRE_FALSE(p.keep_alive());
  }
  SECTION("HEAD ignores Content-Length") {
    response_parser p(l);
    p.start("HEAD");
    std::size_t c = 0;
    std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n";
    REQUIRE(p.feed(in, c) == parse_status::complete);
    REQUIRE(c == in.size());
    REQUIRE(p.body().empty());
  }
  SECTION("interim 100 Continue is skipped") {
    response_parser p(l);
    p.start("POST");
    std::size_t c = 0;
    REQUIRE(p.feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", c) ==
            parse_status::complete);
    REQUIRE(p.status() == 201);
  }
  SECTION("body over the limit") {
    parser_limits small;
    small.max_body_bytes = 4;
    response_parser p(small);
    p.start("GET");
    std::size_t c = 0;
    REQUIRE(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n12345", c) == parse_status::error);
    REQUIRE(p.body_too_large());
  }
}

namespace {

// Feeds `in` in pieces of the given sizes (cycled), as a socket might deliver it.
parsed parse_in_pieces(std::string_view in, std::initializer_list<std::size_t> sizes, parser_limits l) {
  request_parser p(l);
  std::size_t at = 0;
  parsed last{parse_status::need_more, 0, 0, {}};
  for (auto it = sizes.begin(); at < in.size(); it = std::next(it) == sizes.end() ? sizes.begin() : std::next(it)) {
    std::size_t consumed = 0;
    std::size_t n = std::min(*it, in.size() - at);
    parse_status st = p.feed(in.substr(at, n), consumed);
    last = {st, 0, p.error_status(), std::string(p.error_message())};
    if (st != parse_status::need_more) break;
    at += n;
  }
  return last;
}

}  // namespace

TEST_CASE("parser: the header guard gives the same verdict however the bytes arrive", "[http][parser][limits]") {
  const std::string head = "POST /calendar/v3/freeBusy HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n";
  const std::size_t at_limit = head.size() + 2;  // the header section with its empty line
  struct case_t {
    std::string in;
    int at_limit, under, roomy;  // expected error with the limit at_limit, one byte less, 40 bytes more
  };
  const std::vector<case_t> cases = {
      {head + "\r\n{}", 0, 431, 0},
      {head + "X-A: 1\r\n\r\n{}", 431, 431, 0},            // one more field than the limit allows
      {head + " folded\r\n\r\n{}", 400, 400, 400},         // obs-fold, seen before the limit
      {head + "X-A: 1\nX-B: 2\r\n\r\n{}", 431, 431, 400},  // bare LF
      {head + "X-A: 1\rX\r\n\r\n{}", 431, 431, 400},       // CR not followed by LF
      {"POST / HTTP/1.1\r\nHost: h\r\nX-Long: " + std::string(80, 'v') + "\r\n\r\n", 431, 431, 431},
  };
  for (std::size_t limit : {at_limit, at_limit - 1, at_limit + 40}) {
    parser_limits l;
    l.max_header_bytes = limit;
    for (const auto& c : cases) {
      const std::string& in = c.in;
      INFO("limit " << limit << ": " << in);
      auto whole = parse_one(in, l);
      if (limit == at_limit) CHECK(whole.error == c.at_limit);
      if (limit == at_limit + 40) CHECK(whole.error == c.roomy);
      if (limit == at_limit - 1) CHECK(whole.error == c.under);
      for (auto sizes : {std::initializer_list<std::size_t>{1}, {2, 3}, {7}, {17, 1, 5}}) {
        auto piecewise = parse_in_pieces(in, sizes, l);
        CHECK(piecewise.error == whole.error);
        CHECK(piecewise.st == whole.st);
      }
    }
  }
}

TEST_CASE("response head: static fields are written after the others", "[http][head]") {
  // (A static field with CR/LF, a ':' in its name or a framing name does not compile.)
  static_assert(!safe_field("a\r\nInjected: yes", false) && !safe_field("X:Y", true) && is_framing_field("content-length"));
  response r;
  r.status = 200;
  r.headers.add("X-Owned", "1");
  r.headers.add("Content-Length", "999");  // framing is the server's: dropped
  r.add_static_header({"Content-Type", "application/json; charset=UTF-8"});
  r.add_static_header({"Cache-Control", "no-store"});
  r.add_static_header({"X-Third", "3"});
  r.add_static_header({"X-Fourth", "4"});
  CHECK_THROWS_AS(r.add_static_header({"X-Fifth", "no room"}), std::length_error);
  std::string out;
  serialize_head(r, out, true, "req-1", 42);
  CHECK(out.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  const auto owned = out.find("X-Owned: 1\r\n");
  const auto type = out.find("Content-Type: application/json; charset=UTF-8\r\n");
  REQUIRE(owned != std::string::npos);
  REQUIRE(type != std::string::npos);
  CHECK(owned < type);
  CHECK(out.find("Cache-Control: no-store\r\n") != std::string::npos);
  CHECK(out.find("X-Fourth: 4\r\n") != std::string::npos);
  CHECK(out.find("Content-Length: 42\r\n") != std::string::npos);
  CHECK(out.find("999") == std::string::npos);
  CHECK(out.find("X-Fifth") == std::string::npos);
  CHECK(out.size() >= 4);
  CHECK(out.substr(out.size() - 4) == "\r\n\r\n");
}

TEST_CASE("iequals: ASCII letters fold, nothing else does", "[http]") {
  auto fold = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c + 32) : c; };
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      const char x = static_cast<char>(a), y = static_cast<char>(b);
      const bool want = fold(static_cast<unsigned char>(a)) == fold(static_cast<unsigned char>(b));
      if (iequals(std::string_view(&x, 1), std::string_view(&y, 1)) != want) FAIL("byte " << a << " vs " << b);
    }
  }
  CHECK(iequals("Content-Length", "content-LENGTH"));
  CHECK_FALSE(iequals("Content-Length", "Content-Lengths"));
  CHECK_FALSE(iequals("Host", "Hos\x7b"));
  CHECK(iequals("", ""));
}

TEST_CASE("parser: fields of message after message reuse their storage and never carry old bytes", "[http][parser]") {
  // The request is reused per connection; its cleared fields' storage is kept
  // (a few small ones) for the next message's fields. Every message must read
  // exactly its own fields, whatever the lengths before.
  request_parser p({});
  std::mt19937 rng(11);
  for (int m = 0; m < 300; ++m) {
    std::vector<std::pair<std::string, std::string>> want;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      // Mostly short values, now and then one past what is kept (128) or the buffers keep (1024).
      const std::size_t len = rng() % 10 == 0 ? 100 + rng() % 2000 : rng() % 40;
      want.emplace_back("X-F" + std::to_string(i) + std::string(rng() % 20, 'n'),
                        std::string(len, static_cast<char>('a' + rng() % 26)));
    }
    std::string in = "GET /r HTTP/1.1\r\nHost: h\r\n";
    for (const auto& [k, v] : want) in += k + ": " + v + "\r\n";
    in += "\r\n";
    auto r = parse_request(p, in);
    REQUIRE(r.st == parse_status::complete);
    const headers& got = p.message().headers;
    REQUIRE(got.size() == want.size() + 1);
    for (std::size_t i = 0; i < want.size(); ++i) {
      REQUIRE(got.get(want[i].first) == std::optional<std::string_view>(want[i].second));
    }
    // Storage really is reused: a short value written where a longer one was
    // keeps that one's capacity (a new string would hold 3 bytes inline).
    if (m % 50 == 0) {
      p.next();
      REQUIRE(parse_request(p, "GET / HTTP/1.1\r\nHost: h\r\nAccept: application/json-text\r\n\r\n").st ==
              parse_status::complete);
      p.next();
      REQUIRE(parse_request(p, "GET / HTTP/1.1\r\nHost: h\r\nAccept: abc\r\n\r\n").st == parse_status::complete);
      CHECK(*p.message().headers.get("Accept") == "abc");
      CHECK(p.message().headers.raw()[1].value.capacity() >= 21);
    }
    p.next();
  }
}

TEST_CASE("headers: remove, set and clear keep order and counts; kept storage is bounded", "[http][head]") {
  headers h;
  h.add("A", "1");
  h.add("b", "2");
  h.add("a", "3");
  h.add("C", "4");
  REQUIRE(h.count("a") == 2);
  h.remove("A");
  REQUIRE(h.size() == 2);
  REQUIRE(h.begin()->name == "b");
  REQUIRE(*h.get("c") == "4");
  REQUIRE_FALSE(h.has("a"));
  h.set("B", "5");
  REQUIRE(h.size() == 2);
  REQUIRE(*h.get("b") == "5");
  h.add("D", "6");  // lands in storage a removed field left
  std::vector<std::string> order;
  for (const header& f : h) order.push_back(f.name + "=" + f.value);
  REQUIRE(order == std::vector<std::string>{"C=4", "B=5", "D=6"});
  REQUIRE(h.raw().size() == 3);

  // Copies carry the fields; a moved-from list is empty and usable.
  headers copy = h;
  REQUIRE(copy.size() == 3);
  REQUIRE(*copy.get("d") == "6");
  headers assigned;
  assigned = copy;
  REQUIRE(*assigned.get("b") == "5");
  headers moved = std::move(copy);
  REQUIRE(moved.size() == 3);
  REQUIRE(copy.empty());  // NOLINT: checked on purpose
  REQUIRE(copy.begin() == copy.end());
  copy.add("E", "7");
  REQUIRE(copy.size() == 1);
  assigned = std::move(moved);
  REQUIRE(assigned.size() == 3);
  REQUIRE(moved.empty());  // NOLINT
  REQUIRE_FALSE(moved.get("b"));

  h.clear();
  REQUIRE(h.empty());
  REQUIRE(h.begin() == h.end());
  REQUIRE_FALSE(h.get("C"));
  // Twelve fields, the first one long: after a clear only the first eight fields'
  // storage is kept, and not the long one's.
  for (int i = 0; i < 12; ++i) h.add("F" + std::to_string(i), std::string(i == 0 ? 3000 : 100, 'v'));
  h.clear();
  for (int i = 0; i < 12; ++i) {
    header& f = h.add_empty();
    REQUIRE(f.name.empty());
    REQUIRE(f.value.empty());
    if (i == 0 || i >= static_cast<int>(headers::spare_fields)) {
      CHECK(f.value.capacity() < 100);
    } else {
      CHECK(f.value.capacity() >= 100);
    }
  }
  REQUIRE(h.size() == 12);
}

TEST_CASE("response head: status line and Date are right for every status in turn", "[http][head]") {
  // The start of a head is reused while status and second stay the same.
  for (int status : {200, 404, 200, 200, 503, 401, 401, 200, 299, 599}) {
    response r;
    r.status = status;
    std::string out;
    serialize_head(r, out, false, "", 0);
    const std::string line = "HTTP/1.1 " + std::to_string(status) + " ";
    REQUIRE(out.rfind(line, 0) == 0);
    const auto eol = out.find("\r\n");
    CHECK(std::string_view(out).substr(line.size(), eol - line.size()) == reason_phrase(status));
    const auto date = out.find("\r\nDate: ");
    REQUIRE(date == eol);
    const auto date_end = out.find("\r\n", date + 2);
    CHECK(date_end - (date + 8) == 29);  // "Sun, 22 Nov 2026 21:00:00 GMT"
    CHECK(std::string_view(out).substr(date_end - 3, 3) == "GMT");
    CHECK(out.find("Connection: close\r\n\r\n") != std::string::npos);
  }
}
