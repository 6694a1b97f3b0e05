// The EWS client against the Exchange simulator running as a real process on
// loopback: batching and window splitting, per-mailbox errors, every injected
// fault, deadlines, Basic/NTLM/bearer authentication, the version fallback.
// Every request envelope the client sends is validated against the EWS schemas.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "net/http/client.hpp"
#include "proto/ews/client.hpp"
#include "proto/json/codec.hpp"
#include "proto/oauth/token_source.hpp"
#include "rt/datetime.hpp"
#include "rt/sleep.hpp"
#include "rt/when_all.hpp"
#include "support/http_fixture.hpp"
#include "support/loop_test.hpp"
#include "support/exchange_sim.hpp"
#include "support/process.hpp"

using namespace calgate;
using namespace calgate::proto::ews;
using namespace std::chrono_literals;
using test::run_loop_test;

namespace {

const std::string sim_fixture = std::string(EXCHANGE_SIM_SOURCE_DIR) + "/tests/fixtures/exchange/sim.toml";
const std::string validator = std::string(EXCHANGE_SIM_SOURCE_DIR) + "/../shared/ews-schema/validate";

// The simulator (http only), with its control endpoint.
struct sim : test::exchange_sim {
  explicit sim(std::vector<std::string> extra = {}, std::string fixture = sim_fixture)
      : test::exchange_sim({.config = std::move(fixture), .extra = std::move(extra)}) {}
};

std::chrono::sys_seconds at(const char* s) {
  auto p = rt::parse_datetime(s);
  REQUIRE(p);
  return p->utc;
}

account basic_account(std::string name = "svc", std::string user = "CORP\\svc-calgate",
                      std::string password = "Gateway-Pass-1") {
  account a;
  a.name = std::move(name);
  a.auth = auth_kind::basic;
  a.user = std::move(user);
  a.password = std::move(password);
  return a;
}

// Request envelopes seen by the client's capture hook, validated in one run.
struct captured {
  std::vector<std::string> envelopes;
  void validate() {
    REQUIRE_FALSE(envelopes.empty());
    test::temp_dir d;
    std::vector<std::string> argv{validator};
    for (std::size_t i = 0; i < envelopes.size(); ++i) {
      std::string name = "req" + std::to_string(i) + ".xml";
      d.write(name, envelopes[i]);
      argv.push_back(d.file(name));
    }
    auto [status, out] = test::run_command(argv, 120s);
    INFO(out);
    CHECK(status == 0);
  }
};

endpoint_options options_for(const sim& s, captured& cap, std::vector<account> accounts = {basic_account()}) {
  endpoint_options o;
  o.name = "sim";
  o.url = s.url();
  o.accounts = std::move(accounts);
  o.retry_min = 20ms;
  o.retry_max = 200ms;
  o.capture = [&cap](std::string_view env) { cap.envelopes.emplace_back(env); };
  return o;
}

availability_request week(std::vector<std::string> addresses, view v = view::free_busy) {
  availability_request r;
  for (auto& a : addresses) r.mailboxes.push_back({a});
  r.start = at("2031-05-12T00:00:00Z");
  r.end = at("2031-05-19T00:00:00Z");
  r.requested = v;
  return r;
}

using answers = rt::result<std::vector<mailbox_availability>>;

// Runs one get_user_availability on a fresh loop and HTTP client.
answers ask(const endpoint_options& o, availability_request r, std::uint64_t* requests = nullptr,
            std::uint64_t* retries = nullptr, std::string* version = nullptr) {
  return run_loop_test([&]() -> rt::task<answers> {
    net::http::client http(net::http::client_options{});
    client c(http, o);
    auto out = co_await c.get_user_availability(std::move(r));
    if (requests) *requests = c.requests_sent();
    if (retries) *retries = c.retries();
    if (version) *version = c.version();
    http.close_idle();
    co_return out;
  });
}

}  // namespace

TEST_CASE("ews client: the fixture's busy times, details as far as rights go, per-mailbox errors", "[ews][sim]") {
  sim s;
  captured cap;
  auto o = options_for(s, cap);
  auto r = ask(o, week({"alice@corp.example", "bob@corp.example", "carol@corp.example", "dave@corp.example",
                        "broken@corp.example", "room.alpha@corp.example", "ALICE@corp.example"},
                       view::detailed));
  REQUIRE(r);
  REQUIRE(r->size() == 7);
  const auto& alice = (*r)[0];
  INFO(alice.error_text);
  REQUIRE_FALSE(alice.error);
  CHECK(alice.returned_view == view::detailed);  // the service account is Reviewer on Alice's calendar
  // Monday's sprint planning, 10:00-11:30 Berlin summer time = 08:00-09:30Z, with its details.
  bool planning = false, private_seen = false;
  for (const auto& e : alice.events) {
    if (e.start == at("2031-05-12T08:00:00Z") && e.end == at("2031-05-12T09:30:00Z")) {
      planning = true;
      CHECK(e.busy == busy_type::busy);
      REQUIRE(e.details);
      CHECK(e.details->subject == "Sprint planning");
      CHECK(e.details->location == "Conference Room Alpha");
      CHECK(e.details->is_meeting);
    }
    if (e.details && e.details->is_private) {
      private_seen = true;
      CHECK(e.details->subject.find("Doctor") == std::string::npos);  // private items never reveal their subject
    }
  }
  CHECK(planning);
  CHECK(private_seen);
  // Sorted by start.
  for (std::size_t i = 1; i < alice.events.size(); ++i) CHECK(alice.events[i - 1].start <= alice.events[i].start);
  CHECK((*r)[6].address == "ALICE@corp.example");  // the duplicate is answered alike, under its own spelling
  CHECK((*r)[6].events.size() == alice.events.size());

  const auto& bob = (*r)[1];  // by alias
  REQUIRE_FALSE(bob.error);
  bool workshop = false;
  for (const auto& e : bob.events) workshop |= e.start == at("2031-05-12T13:00:00Z") && e.end == at("2031-05-12T16:00:00Z");
  CHECK(workshop);
  CHECK((*r)[2].error == ews_errc::no_free_busy_access);
  CHECK((*r)[3].error == ews_errc::mail_recipient_not_found);
  CHECK((*r)[4].error == ews_errc::free_busy_generation_failed);
  CHECK((*r)[2].events.empty());
  const auto& room = (*r)[5];
  REQUIRE_FALSE(room.error);
  CHECK(room.events.size() == 3);
  REQUIRE(room.hours);
  cap.validate();
}

TEST_CASE("ews client: 250 mailboxes become 3 requests; a long window is split and merged", "[ews][sim]") {
  sim s({"--generate", "300"});
  captured cap;
  auto o = options_for(s, cap);
  std::vector<std::string> many;
  for (int i = 1; i <= 250; ++i) {
    char a[64];
    std::snprintf(a, sizeof a, "user%05d@corp.example", i);
    many.push_back(a);
  }
  std::uint64_t sent = 0;
  auto r = ask(o, week(many), &sent);
  REQUIRE(r);
  REQUIRE(r->size() == 250);
  for (const auto& a : *r) {
    INFO(a.address << ": " << a.error_text);
    CHECK_FALSE(a.error);
  }
  CHECK(sent == 3);
  CHECK(s.counter("/operations/GetUserAvailability") == 3);
  // Every request stayed within 100 mailboxes.
  for (const auto& env : cap.envelopes) {
    std::size_t n = 0;
    for (std::size_t p = env.find("<t:MailboxData>"); p != std::string::npos; p = env.find("<t:MailboxData>", p + 1)) ++n;
    CHECK(n <= 100);
  }

  // 100 days: windows of 42 + 42 + 16 days, merged digits for the whole span.
  s.control("POST", "/sim/reset");
  auto longer = week({"alice@corp.example", "room.alpha@corp.example"}, view::free_busy_merged);
  longer.start = at("2031-04-20T00:00:00Z");
  longer.end = longer.start + std::chrono::days(100);
  longer.merged_interval_minutes = 60;
  auto l = ask(o, longer, &sent);
  REQUIRE(l);
  CHECK(sent == 3);
  for (const auto& a : *l) {
    INFO(a.address << ": " << a.error_text);
    REQUIRE_FALSE(a.error);
    CHECK(a.merged.size() == 100u * 24u);
  }
  // Alice's sprint planning (08:00-09:30Z on 2031-05-12) in the digits: hours 8 and 9 of day 22 are busy.
  const std::string& m = (*l)[0].merged;
  std::size_t hour = 22u * 24u + 8u;
  CHECK(m[hour] == '2');
  CHECK(m[hour + 1] == '2');
  CHECK(m[hour - 3] == '0');
  cap.validate();
}

TEST_CASE("ews client: throttling, 503, SOAP faults, dropped connections and slow bodies are retried", "[ews][sim]") {
  sim s;
  captured cap;
  auto o = options_for(s, cap);
  auto one = week({"alice@corp.example"});
  std::uint64_t sent = 0, retries = 0;

  SECTION("ErrorServerBusy: waits at least BackOffMilliseconds, then succeeds") {
    s.fault(R"({"kind":"server_busy","count":1,"backoff_ms":400})");
    auto t0 = std::chrono::steady_clock::now();
    auto r = ask(o, one, &sent, &retries);
    auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE(r);
    CHECK_FALSE((*r)[0].error);
    CHECK(took >= 400ms);
    CHECK(sent == 2);
    CHECK(retries == 1);
    CHECK(s.counter("/faults/server_busy") == 1);
  }
  SECTION("a back-off hint longer than the caller's deadline ends the call at once") {
    s.fault(R"({"kind":"server_busy","count":1,"backoff_ms":30000})");
    auto r1 = one;
    r1.deadline = std::chrono::steady_clock::now() + 2s;
    auto t0 = std::chrono::steady_clock::now();
    auto r = ask(o, r1, &sent);
    REQUIRE(r);
    CHECK((*r)[0].error == ews_errc::server_busy);
    CHECK(std::chrono::steady_clock::now() - t0 < 1500ms);
    CHECK(sent == 1);
  }
  SECTION("503 twice, then an answer") {
    s.fault(R"({"kind":"http_503","count":2})");
    auto r = ask(o, one, &sent, &retries);
    REQUIRE(r);
    CHECK_FALSE((*r)[0].error);
    CHECK(sent == 3);
    CHECK(retries == 2);
  }
  SECTION("500 with ErrorInternalServerError is retried; other faults are not") {
    s.fault(R"({"kind":"soap_500","count":1,"code":"ErrorInternalServerError"})");
    auto r = ask(o, one, &sent);
    REQUIRE(r);
    CHECK_FALSE((*r)[0].error);
    CHECK(sent == 2);
    s.fault(R"({"kind":"soap_500","count":1,"code":"ErrorAccessDenied"})");
    auto denied = ask(o, one, &sent);
    REQUIRE(denied);
    CHECK((*denied)[0].error == ews_errc::other);
    CHECK(sent == 1);
  }
  SECTION("a dropped connection is retried on a new one") {
    s.fault(R"({"kind":"drop","count":1})");
    auto r = ask(o, one, &sent);
    REQUIRE(r);
    CHECK_FALSE((*r)[0].error);
    CHECK(sent == 2);
    CHECK(s.counter("/dropped") == 1);
  }
  SECTION("a body slower than the request timeout is abandoned and asked again") {
    s.fault(R"({"kind":"slow_body","count":1,"ms":3000})");
    o.request_timeout = 500ms;
    auto r = ask(o, one, &sent);
    REQUIRE(r);
    CHECK_FALSE((*r)[0].error);
    CHECK(sent == 2);
  }
  SECTION("persistent trouble ends after max_attempts with the error per mailbox") {
    s.fault(R"({"kind":"http_503","count":100})");
    o.max_attempts = 3;
    auto r = ask(o, one, &sent);
    REQUIRE(r);
    CHECK((*r)[0].error == ews_errc::service_unavailable);
    CHECK(sent == 3);
  }
  SECTION("latency beyond the caller's deadline: the call ends at the deadline") {
    s.fault(R"({"kind":"latency","count":5,"ms":3000})");
    auto r1 = one;
    r1.deadline = std::chrono::steady_clock::now() + 600ms;
    auto t0 = std::chrono::steady_clock::now();
    auto r = ask(o, r1, &sent);
    auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE(r);
    CHECK((*r)[0].error == rt::errc::timed_out);
    CHECK(took >= 550ms);
    CHECK(took < 1500ms);
  }
  cap.validate();
}

TEST_CASE("ews client: authentication by Basic, NTLM over pooled connections, and bearer tokens", "[ews][sim]") {
  sim s;
  captured cap;

  SECTION("a wrong Basic password is a configuration error, not retried") {
    auto o = options_for(s, cap, {basic_account("svc", "CORP\\svc-calgate", "wrong")});
    std::uint64_t sent = 0;
    auto r = ask(o, week({"alice@corp.example"}), &sent);
    REQUIRE(r);
    CHECK((*r)[0].error == ews_errc::unauthorized);
    CHECK(sent == 1);
    CHECK(s.counter("/auth/basic_failed") == 1);
  }

  SECTION("NTLM: one handshake, then the authenticated keep-alive connection serves later requests") {
    account a = basic_account("ntlm-svc");
    a.auth = auth_kind::ntlm;
    a.max_concurrency = 1;
    auto o = options_for(s, cap, {a});
    auto results = run_loop_test([&]() -> rt::task<std::vector<answers>> {
      net::http::client http(net::http::client_options{});
      client c(http, o);
      std::vector<answers> out;
      for (int i = 0; i < 4; ++i) {
        auto req = week({"alice@corp.example", "bob@corp.example"});
        auto r = co_await c.get_user_availability(std::move(req));
        out.push_back(std::move(r));
      }
      http.close_idle();
      co_return out;
    });
    for (auto& r : results) {
      REQUIRE(r);
      CHECK_FALSE((*r)[0].error);
      CHECK_FALSE((*r)[1].error);
    }
    CHECK(s.counter("/auth/ntlm_negotiate") == 1);
    CHECK(s.counter("/auth/ntlm_ok") == 1);
    CHECK(s.counter("/operations/GetUserAvailability") == 4);
    CHECK(s.counter("/auth/ntlm_failed") == 0);
  }

  SECTION("NTLM with a wrong password is refused") {
    account a = basic_account("ntlm-bad", "CORP\\svc-calgate", "nope");
    a.auth = auth_kind::ntlm;
    auto o = options_for(s, cap, {a});
    auto r = ask(o, week({"alice@corp.example"}));
    REQUIRE(r);
    CHECK((*r)[0].error == ews_errc::unauthorized);
    CHECK(s.counter("/auth/ntlm_failed") == 1);
  }

  SECTION("bearer: a token from the token endpoint, refreshed when it expires and when it is refused") {
    // The token endpoint hands out tokens the simulator knows, in turn; the
    // first one is unknown to the simulator (as a revoked token would be).
    std::vector<std::string> tokens{"revoked-token", "sim-token-svc-calgate", "sim-token-svc-calgate"};
    int issued = 0;
    auto results = run_loop_test([&]() -> rt::task<std::vector<answers>> {
      test::running_server idp;
      idp.routes.add("POST", "/token", [&](net::http::request&) -> rt::task<net::http::response> {
        std::string t = tokens[std::min<std::size_t>(static_cast<std::size_t>(issued), tokens.size() - 1)];
        ++issued;
        co_return net::http::response::json(200,
                                            R"({"token_type":"Bearer","expires_in":2,"access_token":")" + t + "\"}");
      });
      idp.start();
      net::http::client http(net::http::client_options{});
      proto::oauth::client_credentials cc;
      cc.token_url = idp.url("/token");
      cc.client_id = "calgate";
      cc.client_secret = "s3cret";
      cc.scope = "https://outlook.office365.com/.default";
      account a;
      a.name = "oauth";
      a.auth = auth_kind::bearer;
      a.tokens = std::make_shared<proto::oauth::token_source>(http, cc);
      auto o = options_for(s, cap, {a});
      client c(http, o);
      std::vector<answers> out;
      const auto req = week({"alice@corp.example"});
      auto r1 = co_await c.get_user_availability(req);
      out.push_back(std::move(r1));
      auto r2 = co_await c.get_user_availability(req);  // cached token
      out.push_back(std::move(r2));
      co_await rt::sleep_for(1200ms);  // past half the token's 2 s lifetime: refreshed
      auto r3 = co_await c.get_user_availability(req);
      out.push_back(std::move(r3));
      http.close_idle();
      co_await idp.stop();
      co_return out;
    });
    for (auto& r : results) {
      REQUIRE(r);
      INFO((*r)[0].error_text);
      CHECK_FALSE((*r)[0].error);
    }
    CHECK(issued == 3);                              // revoked -> fresh (retry once) -> refreshed on expiry
    CHECK(s.counter("/auth/bearer_failed") == 1);    // the revoked token
    CHECK(s.counter("/auth/bearer_ok") == 3);
  }

  SECTION("two accounts are used in turn") {
    auto o = options_for(s, cap, {basic_account("svc"), basic_account("alice", "alice@corp.example", "Alice-Pass-1")});
    std::uint64_t sent = 0;
    for (int i = 0; i < 2; ++i) {
      auto r = ask(o, week({"room.alpha@corp.example"}), &sent);
      REQUIRE(r);
      CHECK_FALSE((*r)[0].error);
    }
    CHECK(s.counter("/auth/basic_ok") == 2);
  }
  if (!cap.envelopes.empty()) cap.validate();
}

TEST_CASE("ews client: falls back once when the server refuses the requested schema version", "[ews][sim]") {
  test::temp_dir d;
  // The fixture with a server that knows nothing newer than Exchange2010_SP2.
  std::string fx = d.file("old.toml");
  {
    auto [st, text] = test::run_command({"cat", sim_fixture}, 5s);
    REQUIRE(st == 0);
    auto pos = text.find("[availability]");
    REQUIRE(pos != std::string::npos);
    text.insert(pos, "[server_version]\nnewest_request_version = \"Exchange2010_SP2\"\n\n");
    d.write("old.toml", text);
  }
  sim s({}, fx);
  captured cap;
  auto o = options_for(s, cap);
  std::uint64_t sent = 0;
  std::string version;
  auto r = ask(o, week({"alice@corp.example"}), &sent, nullptr, &version);
  REQUIRE(r);
  INFO((*r)[0].error_text);
  CHECK_FALSE((*r)[0].error);
  CHECK(sent == 2);
  CHECK(version == "Exchange2007_SP1");
  REQUIRE(cap.envelopes.size() == 2);
  CHECK(cap.envelopes[0].find("Version=\"Exchange2013\"") != std::string::npos);
  CHECK(cap.envelopes[1].find("Version=\"Exchange2007_SP1\"") != std::string::npos);
  cap.validate();
}
