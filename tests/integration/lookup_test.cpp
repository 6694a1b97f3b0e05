// The lookup service against a real slapd and the Exchange simulator: what
// users get (merged intervals, statuses, details policy, per-user errors),
// and how work is shared (batching, single flight, cache, memory bound,
// deadline), counted on the simulator's side.
#include <catch2/catch.hpp>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "net/http/client.hpp"
#include "proto/ews/client.hpp"
#include "proto/json/codec.hpp"
#include "proto/ldap/client.hpp"
#include "rt/datetime.hpp"
#include "rt/loop.hpp"
#include "rt/sleep.hpp"
#include "rt/when_all.hpp"
#include "support/exchange_sim.hpp"
#include "support/ldap_fixture.hpp"
#include "support/loop_test.hpp"
#include "support/slapd.hpp"
#include "svc/directory.hpp"
#include "svc/lookup.hpp"

using namespace calgate;
using namespace std::chrono_literals;
using svc::busy_interval;
using svc::busy_type;
using svc::lookup_errc;
using test::run_loop_test;

namespace {

std::chrono::sys_seconds at(const char* s) {
  auto p = rt::parse_datetime(s);
  REQUIRE(p);
  return p->utc;
}

// Directory + EWS client + lookup service over a started LDAP client.
struct stack {
  proto::ldap::client ldap;
  svc::directory dir;
  net::http::client http{net::http::client_options{}};
  proto::ews::client ews;
  svc::lookup_service lookups;

  static proto::ews::endpoint_options ews_options(const test::exchange_sim& sim) {
    proto::ews::endpoint_options o;
    o.url = sim.url();
    proto::ews::account a;
    a.name = "svc";
    a.auth = proto::ews::auth_kind::basic;
    a.user = "CORP\\svc-calgate";
    a.password = "Gateway-Pass-1";
    a.max_concurrency = 8;
    o.accounts.push_back(a);
    o.retry_min = 20ms;
    o.retry_max = 100ms;
    o.max_attempts = 2;
    return o;
  }
  static svc::directory_options dir_options(const test::slapd& s, bool directory_cache = true) {
    auto o = svc::directory_options::profile("active_directory");
    o.base_dn = s.base_dn();
    if (!directory_cache) o.cache_ttl = o.negative_cache_ttl = 0ms;
    return o;
  }

  stack(const test::slapd& s, const test::exchange_sim& sim, svc::lookup_options lo, bool directory_cache = true)
      : ldap(test::ldap_options(s)),
        dir(ldap, dir_options(s, directory_cache)),
        ews(http, ews_options(sim)),
        lookups(dir, [this](std::string_view name) { return name == "default" ? &ews : nullptr; }, lo) {}

  rt::task<void> start() {
    auto ec = co_await ldap.start();
    REQUIRE_FALSE(ec);
  }
  rt::task<void> stop() {
    co_await lookups.stop();
    co_await dir.stop();
    co_await ldap.stop();
    http.close_idle();
  }
};

using names = std::vector<std::string>;

// The simulator's control endpoint from inside the test's loop (test::exchange_sim's
// own helpers run a loop of their own, so they are for outside one).
rt::task<std::string> control(net::http::client& http, const test::exchange_sim& sim, std::string method,
                              std::string path, std::string body = {}) {
  net::http::client_request r(std::move(method), sim.base() + path);
  if (!body.empty()) {
    r.headers.add("Content-Type", "application/json");
    r.body = std::move(body);
  }
  auto resp = co_await http.send(std::move(r));
  REQUIRE(resp);
  REQUIRE(resp->status == 200);
  co_return resp->body;
}

rt::task<std::int64_t> availability_requests(net::http::client& http, const test::exchange_sim& sim) {
  std::string body = co_await control(http, sim, "GET", "/sim/counters");
  auto doc = json::document::parse(body);
  REQUIRE(doc);
  auto v = doc->get_int("/operations/GetUserAvailability");
  co_return v ? *v : 0;
}

std::string gen(int n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "user%05d@corp.example", n);
  return buf;
}

}  // namespace

TEST_CASE("lookup: merged busy intervals, statuses, aliases and per-user errors", "[lookup]") {
  test::slapd ldap_server;
  test::exchange_sim sim;
  run_loop_test([&]() -> rt::task<void> {
    stack s(ldap_server, sim, {});
    co_await s.start();
    // Alice's Monday (Berlin, UTC+2 in May): standup 07:00-07:15Z, sprint planning
    // 08:00-09:30Z, a private appointment 11:00-12:00Z, a tentative 1:1 13:00-13:30Z.
    const names who1{"alice@corp.example", "A.Example@corp.example", "dave@corp.example",
                     "carol@corp.example", "nobody@corp.example", "not an address"};
    auto r = co_await s.lookups.lookup(who1,
                                       at("2031-05-12T00:00:00Z"), at("2031-05-13T00:00:00Z"), true);
    REQUIRE(r.size() == 6);
    REQUIRE_FALSE(r[0].error);
    REQUIRE(r[0].mailbox);
    CHECK(r[0].mailbox->address == "alice@corp.example");
    CHECK(r[0].mailbox->display_name == "Alice Example");
    const std::vector<busy_interval> alice{
        {at("2031-05-12T07:00:00Z"), at("2031-05-12T07:15:00Z"), busy_type::busy},
        {at("2031-05-12T08:00:00Z"), at("2031-05-12T09:30:00Z"), busy_type::busy},
        {at("2031-05-12T11:00:00Z"), at("2031-05-12T12:00:00Z"), busy_type::busy},
        {at("2031-05-12T13:00:00Z"), at("2031-05-12T13:30:00Z"), busy_type::tentative},
    };
    CHECK(r[0].busy == alice);
    CHECK(r[1].busy == alice);  // an alias of the same mailbox
    CHECK(r[0].events.size() == 4);
    for (const auto& e : r[0].events) CHECK(e.subject.empty());  // the default policy: free/busy only
    CHECK(r[2].error == lookup_errc::not_found);  // in the directory, unknown to Exchange
    CHECK(r[3].error == lookup_errc::no_access);  // Exchange shares nothing of Carol's
    CHECK(r[4].error == lookup_errc::not_found);  // not in the directory
    CHECK(r[5].error == lookup_errc::invalid_address);

    // Clipped to the asked window: 08:30-12:30Z cuts sprint planning and keeps the private slot.
    const names who2{"alice@corp.example"};
    auto c = co_await s.lookups.lookup(who2, at("2031-05-12T08:30:00Z"), at("2031-05-12T12:30:00Z"));
    const std::vector<busy_interval> clipped{
        {at("2031-05-12T08:30:00Z"), at("2031-05-12T09:30:00Z"), busy_type::busy},
        {at("2031-05-12T11:00:00Z"), at("2031-05-12T12:00:00Z"), busy_type::busy},
    };
    CHECK(c[0].busy == clipped);
    CHECK(c[0].events.empty());  // asked without events
    CHECK(r[0].busy == alice);   // earlier results keep their own window's intervals

    // Friday is an all-day OOF; WorkingElsewhere (Thursday) and Free (Tuesday lunch) are not busy.
    const names who3{"alice@corp.example"};
    auto w = co_await s.lookups.lookup(who3, at("2031-05-13T11:00:00Z"), at("2031-05-16T23:00:00Z"));
    REQUIRE_FALSE(w[0].error);
    bool oof = false;
    for (const auto& b : w[0].busy) {
      CHECK_FALSE((b.start < at("2031-05-13T11:00:00Z") || b.end > at("2031-05-16T23:00:00Z")));
      CHECK_FALSE((b.start <= at("2031-05-13T10:30:00Z") && b.end > at("2031-05-13T10:00:00Z")));  // lunch (12:00 Berlin)
      if (b.status == busy_type::oof) oof = true;
    }
    CHECK(oof);

    // A bad window answers every user with bad_input, without asking anyone.
    const names who4{"alice@corp.example"};
    auto bad = co_await s.lookups.lookup(who4, at("2031-05-13T00:00:00Z"), at("2031-05-12T00:00:00Z"));
    CHECK(bad[0].error == rt::errc::bad_input);
    co_await s.stop();
  });
}

TEST_CASE("lookup: the subject_location policy shows subjects of non-private events only", "[lookup]") {
  test::slapd ldap_server;
  test::exchange_sim sim;
  run_loop_test([&]() -> rt::task<void> {
    svc::lookup_options o;
    o.details = svc::details_policy::subject_location;
    stack s(ldap_server, sim, o);
    co_await s.start();
    const names who5{"alice@corp.example"};
    auto r = co_await s.lookups.lookup(who5, at("2031-05-12T00:00:00Z"), at("2031-05-13T00:00:00Z"), true);
    REQUIRE_FALSE(r[0].error);
    REQUIRE(r[0].events.size() == 4);
    CHECK(r[0].events[0].subject == "Daily standup");
    CHECK(r[0].events[1].subject == "Sprint planning");
    CHECK(r[0].events[2].is_private);
    CHECK(r[0].events[2].subject.empty());
    CHECK(r[0].events[2].location.empty());
    CHECK(r[0].events[3].subject == "1:1 with Bob");
    CHECK(r[0].events[3].status == busy_type::tentative);
    co_await s.stop();
  });
}

TEST_CASE("lookup: concurrent lookups share batched fetches, then the cache answers", "[lookup]") {
  test::slapd ldap_server({.generated_users = 300});
  test::exchange_sim sim({.extra = {"--generate", "300"}});
  std::int64_t first_round = 0, second_round = 0, shifted_round = 0;
  std::size_t cached_entries = 0;
  run_loop_test([&]() -> rt::task<void> {
    stack s(ldap_server, sim, {});
    co_await s.start();
    // 60 lookups of 1-10 users each from 250 users, all started in one loop turn.
    std::mt19937 rng(7);
    std::vector<std::vector<std::string>> asks;
    std::size_t users = 0;
    for (int i = 0; i < 60; ++i) {
      std::vector<std::string> a;
      const int n = 1 + static_cast<int>(rng() % 10);
      for (int j = 0; j < n; ++j) a.push_back(gen(1 + static_cast<int>(rng() % 250)));
      users += a.size();
      asks.push_back(std::move(a));
    }
    auto round = [&](std::chrono::sys_seconds from, std::chrono::sys_seconds to) -> rt::task<std::size_t> {
      std::vector<rt::task<std::vector<svc::user_result>>> tasks;
      for (const auto& a : asks) tasks.push_back(s.lookups.lookup(a, from, to));
      auto all = co_await rt::when_all(std::move(tasks));
      std::size_t answered = 0;
      for (const auto& one : all)
        for (const auto& u : one) answered += u.error ? 0 : 1;
      co_return answered;
    };
    // The directory answers from its cache first: otherwise its LDAP batches of 50 end in
    // different loop turns, and so do the lookups waiting for them (each turn its own flush).
    std::vector<std::string> distinct;
    for (const auto& a : asks) distinct.insert(distinct.end(), a.begin(), a.end());
    auto warm_directory = co_await s.dir.resolve_many(std::move(distinct));
    for (const auto& m : warm_directory) REQUIRE(m);
    const auto from = at("2031-05-12T00:00:00Z"), to = at("2031-05-19T00:00:00Z");
    std::size_t answered = co_await round(from, to);
    CHECK(answered == users);
    first_round = co_await availability_requests(s.http, sim);
    answered = co_await round(from, to);
    CHECK(answered == users);
    second_round = co_await availability_requests(s.http, sim) - first_round;
    // Windows a few minutes off (a client asking "from now") still fall in the same fetched days.
    answered = co_await round(at("2031-05-12T08:07:00Z"), at("2031-05-18T17:53:00Z"));
    CHECK(answered == users);
    shifted_round = co_await availability_requests(s.http, sim) - first_round - second_round;
    cached_entries = s.lookups.cache_entries();
    co_await s.stop();
  });
  // At most 250 distinct mailboxes: 3 requests of <= 100 mailboxes, for 60 lookups.
  CHECK(first_round >= 1);
  CHECK(first_round <= 3);
  CHECK(second_round == 0);
  CHECK(shifted_round == 0);
  CHECK(cached_entries <= 250);
  CHECK(cached_entries >= 100);
}

TEST_CASE("lookup: the cache honours its memory bound and its TTL", "[lookup]") {
  test::slapd ldap_server({.generated_users = 100});
  test::exchange_sim sim({.extra = {"--generate", "100"}});
  run_loop_test([&]() -> rt::task<void> {
    svc::lookup_options o;
    o.cache_max_bytes = 8 * 1024;
    o.cache_ttl = 300ms;
    stack s(ldap_server, sim, o);
    co_await s.start();
    std::vector<std::string> all;
    for (int i = 1; i <= 100; ++i) all.push_back(gen(i));
    auto r = co_await s.lookups.lookup(all, at("2031-05-12T00:00:00Z"), at("2031-05-19T00:00:00Z"));
    for (const auto& u : r) CHECK_FALSE(u.error);
    CHECK(s.lookups.cache_bytes() <= o.cache_max_bytes);
    CHECK(s.lookups.cache_entries() > 0);
    CHECK(s.lookups.cache_entries() < 100);
    // The most recent users are still cached: asking again costs nothing.
    const auto before = co_await availability_requests(s.http, sim);
    const names who6{gen(100)};
    auto again = co_await s.lookups.lookup(who6, at("2031-05-12T00:00:00Z"), at("2031-05-19T00:00:00Z"));
    CHECK_FALSE(again[0].error);
    const auto after_hit = co_await availability_requests(s.http, sim);
    CHECK(after_hit == before);
    // After the TTL it is fetched again.
    co_await rt::sleep_for(400ms);
    const names who7{gen(100)};
    auto later = co_await s.lookups.lookup(who7, at("2031-05-12T00:00:00Z"), at("2031-05-19T00:00:00Z"));
    CHECK_FALSE(later[0].error);
    const auto after_ttl = co_await availability_requests(s.http, sim);
    CHECK(after_ttl == before + 1);
    co_await s.stop();
  });
}

TEST_CASE("lookup: past the deadline slow users get timed_out, cached ones are answered", "[lookup]") {
  test::slapd ldap_server;
  test::exchange_sim sim;
  run_loop_test([&]() -> rt::task<void> {
    svc::lookup_options o;
    o.deadline = 1000ms;
    stack s(ldap_server, sim, o);
    co_await s.start();
    const names who8{"alice@corp.example"};
    auto warm = co_await s.lookups.lookup(who8, at("2031-05-12T00:00:00Z"), at("2031-05-13T00:00:00Z"));
    REQUIRE_FALSE(warm[0].error);
    co_await control(s.http, sim, "POST", "/sim/faults", R"({"kind":"latency","ms":3000,"operation":"GetUserAvailability"})");
    const auto t0 = std::chrono::steady_clock::now();
    const names who9{"alice@corp.example", "bob@corp.example"};
    auto r = co_await s.lookups.lookup(who9, at("2031-05-12T00:00:00Z"),
                                       at("2031-05-13T00:00:00Z"));
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK_FALSE(r[0].error);
    CHECK(r[0].busy.size() == 4);
    CHECK(r[1].error == lookup_errc::timed_out);
    CHECK(took >= 900ms);
    CHECK(took < 2500ms);
    co_await control(s.http, sim, "POST", "/sim/reset");
    co_await s.stop();
  });
}

TEST_CASE("lookup: Exchange failures are per user and not cached", "[lookup]") {
  test::slapd ldap_server;
  test::exchange_sim sim;
  run_loop_test([&]() -> rt::task<void> {
    stack s(ldap_server, sim, {});
    co_await s.start();
    co_await control(s.http, sim, "POST", "/sim/faults", R"({"kind":"http_503","count":10})");
    const names who10{"bob@corp.example", "nobody@corp.example"};
    auto r = co_await s.lookups.lookup(who10, at("2031-05-12T00:00:00Z"),
                                       at("2031-05-13T00:00:00Z"));
    CHECK(r[0].error == lookup_errc::upstream_failed);
    CHECK(r[1].error == lookup_errc::not_found);
    co_await control(s.http, sim, "POST", "/sim/reset");
    const names who11{"bob@corp.example"};
    auto again = co_await s.lookups.lookup(who11, at("2031-05-12T00:00:00Z"), at("2031-05-13T00:00:00Z"));
    REQUIRE_FALSE(again[0].error);
    CHECK(again[0].busy.size() == 2);  // 13:00-16:00Z workshop, 20:00-21:00Z OOF (private)
    const auto requests = co_await availability_requests(s.http, sim);
    CHECK(requests == 1);
    co_await s.stop();
  });
}

TEST_CASE("lookup: mailboxes are grouped by their Exchange endpoint", "[lookup]") {
  test::slapd ldap_server({.generated_users = 40});
  test::exchange_sim sim({.extra = {"--generate", "40"}});
  run_loop_test([&]() -> rt::task<void> {
    // Odd users live on EXCH01, even ones on EXCH02 (the slapd harness); two
    // endpoints (here both served by the simulator) and one that is not configured.
    auto dopts = stack::dir_options(ldap_server);
    dopts.endpoint_map = {{"EXCH01", "odd"}, {"EXCH02", "even"}};
    dopts.default_endpoint = "nowhere";
    proto::ldap::client ldap(test::ldap_options(ldap_server));
    svc::directory dir(ldap, dopts);
    net::http::client http{net::http::client_options{}};
    proto::ews::client odd(http, stack::ews_options(sim)), even(http, stack::ews_options(sim));
    svc::lookup_service lookups(
        dir,
        [&](std::string_view name) -> proto::ews::client* {
          if (name == "odd") return &odd;
          if (name == "even") return &even;
          return nullptr;
        },
        {});
    auto ec = co_await ldap.start();
    REQUIRE_FALSE(ec);
    names who;
    for (int i = 1; i <= 30; ++i) who.push_back(gen(i));
    who.push_back("dave@corp.example");  // no server attribute: the default endpoint, which has no client
    auto r = co_await lookups.lookup(who, at("2031-05-12T00:00:00Z"), at("2031-05-19T00:00:00Z"));
    for (int i = 0; i < 30; ++i) {
      INFO(who[static_cast<std::size_t>(i)]);
      CHECK_FALSE(r[static_cast<std::size_t>(i)].error);
      CHECK(r[static_cast<std::size_t>(i)].mailbox->endpoint == ((i + 1) % 2 ? "odd" : "even"));
    }
    CHECK(r[30].error == lookup_errc::upstream_failed);
    CHECK(odd.requests_sent() == 1);
    CHECK(even.requests_sent() == 1);
    co_await lookups.stop();
    co_await dir.stop();
    co_await ldap.stop();
    http.close_idle();
  });
}

TEST_CASE("lookup: a cached answer asked by its mailbox's own address needs no directory", "[lookup][cache]") {
  test::slapd ldap_server;
  test::exchange_sim sim;
  run_loop_test([&]() -> rt::task<void> {
    svc::lookup_options lo;
    lo.deadline = 2s;  // bounds the wait for the stopped directory below
    stack s(ldap_server, sim, lo, /*directory_cache=*/false);
    co_await s.start();
    const names both{"alice@corp.example", "A.Example@corp.example"};
    auto first = co_await s.lookups.lookup(both, at("2031-05-12T00:00:00Z"), at("2031-05-13T00:00:00Z"));
    REQUIRE(first.size() == 2);
    REQUIRE_FALSE(first[0].error);
    REQUIRE_FALSE(first[1].error);
    CHECK(first[0].busy.size() == 4);

    // The directory is gone (and caches nothing): the alias cannot be resolved any more,
    // but the address the mailbox itself has is answered from the lookup cache.
    co_await s.ldap.stop();
    const names canonical{"alice@corp.example"};
    auto again = co_await s.lookups.lookup(canonical, at("2031-05-12T06:00:00Z"), at("2031-05-12T23:00:00Z"));
    REQUIRE(again.size() == 1);
    REQUIRE_FALSE(again[0].error);
    REQUIRE(again[0].mailbox);
    CHECK(again[0].mailbox->display_name == "Alice Example");
    CHECK(again[0].busy == first[0].busy);
    const names alias{"A.Example@corp.example"};
    auto aliased = co_await s.lookups.lookup(alias, at("2031-05-12T00:00:00Z"), at("2031-05-13T00:00:00Z"));
    REQUIRE(aliased.size() == 1);
    CHECK(aliased[0].error);  // directory_failed or timed_out: either way not answered
    CHECK_FALSE(aliased[0].mailbox);
    co_await s.stop();
  });
}
