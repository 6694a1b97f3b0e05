#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "net/http/client.hpp"
#include "proto/oauth/token_source.hpp"
#include "rt/log.hpp"
#include "rt/sleep.hpp"
#include "rt/task_group.hpp"
#include "rt/when_all.hpp"
#include "support/http_fixture.hpp"
#include "support/loop_test.hpp"

using namespace calgate;
using namespace calgate::net::http;
using namespace std::chrono_literals;
using proto::oauth::client_credentials;
using proto::oauth::token_source;
using test::run_loop_test;

namespace {

// A token endpoint on loopback. It checks the form fields of every request
// against `expect`, counts calls, and answers according to `mode`.
struct token_endpoint {
  test::running_server s;
  client_credentials expect;
  std::string mode = "ok";
  std::string expires_in = "3600";  // JSON text of the expires_in member
  std::chrono::milliseconds delay{0};
  int calls = 0;
  std::vector<std::string> problems;  // form fields that did not arrive as sent

  token_endpoint() {
    s.routes.add("POST", "/oauth2/v2.0/token", [this](request& r) -> rt::task<response> {
      int n = ++calls;
      check_form(r);
      if (delay.count() > 0) co_await rt::sleep_for(delay);
      co_return answer(n);
    });
    s.start();
  }

  std::string url() const { return s.url("/oauth2/v2.0/token"); }

  void check_form(const request& r) {
    if (r.headers.get("Content-Type") != std::optional<std::string_view>("application/x-www-form-urlencoded")) {
      problems.push_back("content-type");
    }
    std::map<std::string, std::string> fields;
    std::string_view body = r.body;
    while (!body.empty()) {
      std::size_t amp = body.find('&');
      std::string_view pair = body.substr(0, amp);
      body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
      std::size_t eq = pair.find('=');
      auto name = decode_component(pair.substr(0, eq), true);
      auto value = decode_component(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
      if (!name || !value || eq == std::string_view::npos || fields.count(*name)) {
        problems.push_back("bad pair: " + std::string(pair));
        continue;
      }
      fields[*name] = *value;
    }
    std::map<std::string, std::string> want{{"grant_type", "client_credentials"},
                                            {"client_id", expect.client_id},
                                            {"client_secret", expect.client_secret}};
    if (!expect.scope.empty()) want["scope"] = expect.scope;
    if (fields != want) problems.push_back("fields differ, body: " + r.body);
  }

  response answer(int n) {
    if (mode == "ok") {
      return response::json(200, R"({"token_type":"Bearer","expires_in":)" + expires_in +
                                     R"(,"ext_expires_in":3599,"access_token":"tok-)" + std::to_string(n) + "\"}");
    }
    if (mode == "lowercase") {
      return response::json(200, R"({"access_token":"tok-)" + std::to_string(n) + R"(","token_type":"bearer","expires_in":)" +
                                     expires_in + "}");
    }
    if (mode == "invalid_client") {
      return response::json(401, R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.",)"
                                 R"("error_codes":[7000215],"trace_id":"0000"})");
    }
    if (mode == "malformed") return response::json(200, R"({"access_token":"tok","token_type":"Bearer",)");
    if (mode == "wrong_type") return response::json(200, R"({"access_token":"tok","token_type":"mac","expires_in":3600})");
    if (mode == "no_token") return response::json(200, R"({"token_type":"Bearer","expires_in":3600})");
    if (mode == "empty_token") return response::json(200, R"({"access_token":"","token_type":"Bearer","expires_in":3600})");
    if (mode == "bad_expiry") return response::json(200, R"({"access_token":"tok","token_type":"Bearer","expires_in":"soon"})");
    if (mode == "http500") return response::text(500, "internal error");
    if (mode == "busy") return response::json(503, R"({"error":"temporarily_unavailable"})");
    if (mode == "html403") return response::text(403, "<html>Forbidden</html>", "text/html");
    return response::text(400, "unknown mode");
  }
};

client_options quick() {
  client_options o;
  o.connect_timeout = 1000ms;
  o.response_header_timeout = 5000ms;
  o.total_timeout = 10000ms;
  o.metrics_name = "oauth-test";
  return o;
}

client_credentials creds_for(const token_endpoint& ep) {
  client_credentials c;
  c.token_url = ep.url();
  c.client_id = "11111111-2222-3333-4444-555555555555";
  c.client_secret = "s3cr3t~value.with_chars-";
  c.scope = "https://outlook.office365.com/.default";
  return c;
}

}  // namespace

TEST_CASE("oauth: a token is fetched once and then served from the cache", "[oauth]") {
  run_loop_test([]() -> rt::task<void> {
    token_endpoint ep;
    ep.expect = creds_for(ep);
    client c(quick());
    token_source src(c, creds_for(ep));
    auto t1 = co_await src.token();
    REQUIRE(t1);
    REQUIRE(*t1 == "tok-1");
    for (int i = 0; i < 5; ++i) {
      auto t = co_await src.token();
      REQUIRE(t);
      REQUIRE(*t == "tok-1");
    }
    REQUIRE(ep.calls == 1);
    REQUIRE(ep.problems.empty());
    REQUIRE(src.requests_sent() == 1);
    REQUIRE(src.cache_hits() == 5);
    REQUIRE(src.failures() == 0);
    c.close_idle();
    co_await ep.s.stop();
  });
}

TEST_CASE("oauth: 100 concurrent callers share one token request", "[oauth]") {
  run_loop_test([]() -> rt::task<void> {
    token_endpoint ep;
    ep.expect = creds_for(ep);
    ep.delay = 50ms;
    client c(quick());
    token_source src(c, creds_for(ep));
    std::vector<rt::task<rt::result<std::string>>> ts;
    for (int i = 0; i < 100; ++i) ts.push_back(src.token());
    auto rs = co_await rt::when_all(std::move(ts));
    for (auto& r : rs) {
      REQUIRE(r);
      REQUIRE(*r == "tok-1");
    }
    REQUIRE(ep.calls == 1);
    REQUIRE(src.requests_sent() == 1);
    REQUIRE(src.shared_waits() == 99);
    auto again = co_await src.token();
    REQUIRE(again);
    REQUIRE(src.cache_hits() == 1);
    REQUIRE(ep.problems.empty());
    c.close_idle();
    co_await ep.s.stop();
  });
}

TEST_CASE("oauth: a failure reaches every waiter, is not cached, and the next call asks again", "[oauth]") {
  run_loop_test([]() -> rt::task<void> {
    token_endpoint ep;
    ep.expect = creds_for(ep);
    ep.delay = 50ms;
    ep.mode = "http500";
    client c(quick());
    token_source src(c, creds_for(ep));
    std::vector<rt::task<rt::result<std::string>>> ts;
    for (int i = 0; i < 10; ++i) ts.push_back(src.token());
    auto rs = co_await rt::when_all(std::move(ts));
    for (auto& r : rs) {
      REQUIRE_FALSE(r);
      REQUIRE(r.error() == proto::oauth::errc::server_unavailable);
      REQUIRE(proto::oauth::retryable(r.error()));
    }
    REQUIRE(ep.calls == 1);
    REQUIRE(src.failures() == 1);
    REQUIRE(src.last_failure().http_status == 500);
    REQUIRE(src.last_failure().retryable);
    ep.mode = "ok";
    auto ok = co_await src.token();
    REQUIRE(ok);
    REQUIRE(*ok == "tok-2");
    REQUIRE(ep.calls == 2);
    c.close_idle();
    co_await ep.s.stop();
  });
}

TEST_CASE("oauth: tokens are refreshed before they expire", "[oauth]") {
  run_loop_test([]() -> rt::task<void> {
    token_endpoint ep;
    ep.expect = creds_for(ep);
    ep.expires_in = "1";
    client c(quick());
    auto cr = creds_for(ep);
    cr.refresh_before = 200ms;  // a 1 s token is good for 800 ms
    token_source src(c, cr);
    auto t1 = co_await src.token();
    REQUIRE(t1);
    auto t2 = co_await src.token();
    REQUIRE(t2);
    REQUIRE(*t2 == *t1);
    REQUIRE(ep.calls == 1);
    co_await rt::sleep_for(900ms);
    auto t3 = co_await src.token();
    REQUIRE(t3);
    REQUIRE(*t3 == "tok-2");
    REQUIRE(ep.calls == 2);

    // refresh_before longer than the token's life: it is kept for half of it.
    token_source lazy(c, creds_for(ep));  // refresh_before 300 s, token 1 s
    auto l1 = co_await lazy.token();
    auto l2 = co_await lazy.token();
    REQUIRE(l1);
    REQUIRE(l2);
    REQUIRE(*l1 == *l2);
    REQUIRE(lazy.requests_sent() == 1);
    co_await rt::sleep_for(600ms);
    auto l3 = co_await lazy.token();
    REQUIRE(l3);
    REQUIRE(*l3 != *l1);
    REQUIRE(lazy.requests_sent() == 2);

    // expires_in as a numeric string, and token_type compared case-insensitively.
    ep.mode = "lowercase";
    ep.expires_in = "\"3599\"";
    token_source str(c, creds_for(ep));
    auto s1 = co_await str.token();
    REQUIRE(s1);
    auto s2 = co_await str.token();
    REQUIRE(s2);
    REQUIRE(*s1 == *s2);
    REQUIRE(str.requests_sent() == 1);
    REQUIRE(ep.problems.empty());
    c.close_idle();
    co_await ep.s.stop();
  });
}

TEST_CASE("oauth: invalidate() forces one new request", "[oauth]") {
  run_loop_test([]() -> rt::task<void> {
    token_endpoint ep;
    ep.expect = creds_for(ep);
    client c(quick());
    token_source src(c, creds_for(ep));
    auto t1 = co_await src.token();
    REQUIRE(t1);
    src.invalidate();
    auto t2 = co_await src.token();
    REQUIRE(t2);
    REQUIRE(*t2 == "tok-2");
    auto t3 = co_await src.token();
    REQUIRE(t3);
    REQUIRE(*t3 == "tok-2");
    REQUIRE(ep.calls == 2);
    // A late 401 for the old token does not throw the new one away...
    src.invalidate(*t1);
    auto t4 = co_await src.token();
    REQUIRE(*t4 == "tok-2");
    REQUIRE(ep.calls == 2);
    // ...but one for the current token does.
    src.invalidate(*t4);
    auto t5 = co_await src.token();
    REQUIRE(t5);
    REQUIRE(*t5 == "tok-3");
    REQUIRE(ep.calls == 3);
    c.close_idle();
    co_await ep.s.stop();
  });
}

TEST_CASE("oauth: invalid_client is a clear, typed error, and the secret is not logged", "[oauth]") {
  run_loop_test([]() -> rt::task<void> {
    token_endpoint ep;
    ep.expect = creds_for(ep);
    ep.mode = "invalid_client";
    client c(quick());
    token_source src(c, creds_for(ep));
    log::capture(true);
    auto r = co_await src.token();
    std::string logged = log::take_captured();
    log::capture(false);
    REQUIRE_FALSE(r);
    REQUIRE(r.error() == proto::oauth::errc::invalid_client);
    REQUIRE_FALSE(proto::oauth::retryable(r.error()));
    REQUIRE_THAT(r.error().message(), Catch::Contains("invalid_client"));
    const auto& f = src.last_failure();
    REQUIRE(f.code == proto::oauth::errc::invalid_client);
    REQUIRE(f.http_status == 401);
    REQUIRE_FALSE(f.retryable);
    REQUIRE(f.message == "invalid_client: AADSTS7000215: Invalid client secret provided. (HTTP 401)");
    REQUIRE_THAT(logged, Catch::Contains("AADSTS7000215"));
    REQUIRE_THAT(logged, !Catch::Contains(creds_for(ep).client_secret));
    // Not cached: the next call asks again.
    auto again = co_await src.token();
    REQUIRE_FALSE(again);
    REQUIRE(ep.calls == 2);
    c.close_idle();
    co_await ep.s.stop();
  });
}

TEST_CASE("oauth: unusable answers are errors and the next call tries again", "[oauth]") {
  run_loop_test([]() -> rt::task<void> {
    using proto::oauth::errc;
    token_endpoint ep;
    ep.expect = creds_for(ep);
    client c(quick());
    token_source src(c, creds_for(ep));
    struct expectation {
      const char* mode;
      errc code;
      bool retryable;
    };
    const std::vector<expectation> cases{
        {"malformed", errc::bad_response, false},    {"wrong_type", errc::unsupported_token_type, false},
        {"no_token", errc::bad_response, false},     {"empty_token", errc::bad_response, false},
        {"bad_expiry", errc::bad_response, false},   {"http500", errc::server_unavailable, true},
        {"busy", errc::server_unavailable, true},    {"html403", errc::http_status, false},
    };
    int expected_calls = 0;
    for (const auto& e : cases) {
      ep.mode = e.mode;
      auto r = co_await src.token();
      ++expected_calls;
      INFO(e.mode);
      REQUIRE_FALSE(r);
      REQUIRE(r.error() == e.code);
      REQUIRE(proto::oauth::retryable(r.error()) == e.retryable);
      REQUIRE(ep.calls == expected_calls);
      REQUIRE_FALSE(src.last_failure().message.empty());
    }
    REQUIRE_THAT(src.last_failure().message, Catch::Contains("HTTP 403"));
    ep.mode = "ok";
    auto ok = co_await src.token();
    REQUIRE(ok);
    REQUIRE(ep.calls == expected_calls + 1);
    REQUIRE(src.failures() == cases.size());
    c.close_idle();
    co_await ep.s.stop();
  });
}

TEST_CASE("oauth: a token endpoint that never answers ends at the deadline", "[oauth]") {
  run_loop_test([]() -> rt::task<void> {
    token_endpoint ep;
    ep.expect = creds_for(ep);
    ep.delay = 10000ms;
    client c(quick());
    auto cr = creds_for(ep);
    cr.timeout = 200ms;
    token_source src(c, cr);
    auto t0 = std::chrono::steady_clock::now();
    std::vector<rt::task<rt::result<std::string>>> ts;
    for (int i = 0; i < 3; ++i) ts.push_back(src.token());
    auto rs = co_await rt::when_all(std::move(ts));
    REQUIRE(std::chrono::steady_clock::now() - t0 < 1500ms);
    for (auto& r : rs) {
      REQUIRE_FALSE(r);
      REQUIRE(r.error() == rt::errc::timed_out);
      REQUIRE(proto::oauth::retryable(r.error()));
    }
    REQUIRE(src.requests_sent() == 1);
    REQUIRE_THAT(src.last_failure().message, Catch::Contains("200 ms"));
    ep.delay = 0ms;
    auto ok = co_await src.token();
    REQUIRE(ok);
    REQUIRE(*ok == "tok-2");
    c.close_idle();
    co_await ep.s.stop(100ms);
  });
}

TEST_CASE("oauth: when the caller that started the request is canceled, a waiter takes over", "[oauth]") {
  run_loop_test([]() -> rt::task<void> {
    token_endpoint ep;
    ep.expect = creds_for(ep);
    ep.delay = 100ms;
    client c(quick());
    token_source src(c, creds_for(ep));
    auto get = [](token_source& s, rt::result<std::string>& out) -> rt::task<void> { out = co_await s.token(); };
    rt::task_group leader("leader"), waiter_group("waiters"), doomed_group("doomed");
    rt::result<std::string> lead_r = rt::errc::unavailable;
    rt::result<std::string> doomed_r = rt::errc::unavailable;
    std::vector<rt::result<std::string>> waits(3, rt::result<std::string>(rt::errc::unavailable));
    leader.spawn(get(src, lead_r));
    for (auto& w : waits) waiter_group.spawn(get(src, w));
    doomed_group.spawn(get(src, doomed_r));
    co_await rt::sleep_for(20ms);
    doomed_group.request_stop();  // a waiter's own cancel affects only that waiter
    leader.request_stop();        // the starter's cancel hands the request over
    co_await leader.join();
    co_await doomed_group.join();
    co_await waiter_group.join();
    REQUIRE(lead_r.error() == rt::errc::canceled);
    REQUIRE(doomed_r.error() == rt::errc::canceled);
    for (auto& w : waits) {
      REQUIRE(w);
      REQUIRE(*w == *waits[0]);
    }
    REQUIRE(src.requests_sent() == 2);
    REQUIRE(src.failures() == 0);
    c.close_idle();
    co_await ep.s.stop(200ms);
  });
}

TEST_CASE("oauth: awkward client ids, secrets and scopes survive form encoding", "[oauth]") {
  REQUIRE(proto::oauth::form_encode("a b&c=d+e%f/~._-") == "a+b%26c%3Dd%2Be%25f%2F~._-");
  REQUIRE(proto::oauth::form_encode("\xC3\xA9") == "%C3%A9");
  run_loop_test([]() -> rt::task<void> {
    token_endpoint ep;
    client_credentials cr = creds_for(ep);
    cr.client_id = "client id/with+plus&amp";
    cr.client_secret = "&=+ %  %25+%2B=\x7f\"'<>\\p\xC3\xA4sswo\xCC\x88rd\xE2\x82\xAC\xF0\x9F\x98\x80~";
    cr.scope = "https://outlook.office365.com/.default offline_access";
    ep.expect = cr;
    client c(quick());
    token_source src(c, cr);
    auto t = co_await src.token();
    REQUIRE(t);
    REQUIRE(ep.calls == 1);
    REQUIRE(ep.problems.empty());
    // And without a scope, no scope field is sent.
    cr.scope.clear();
    ep.expect = cr;
    token_source noscope(c, cr);
    auto t2 = co_await noscope.token();
    REQUIRE(t2);
    REQUIRE(ep.problems.empty());
    c.close_idle();
    co_await ep.s.stop();
  });
}
