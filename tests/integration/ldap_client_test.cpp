#include <catch2/catch.hpp>

#include <string>

#include "proto/ldap/client.hpp"
#include "proto/ldap/filter.hpp"
#include "rt/sleep.hpp"
#include "rt/when_all.hpp"
#include "support/certs.hpp"
#include "support/loop_test.hpp"
#include "support/process.hpp"
#include "support/ldap_fixture.hpp"
#include "support/slapd.hpp"

using namespace calgate;
using namespace std::chrono_literals;
namespace ldap = calgate::proto::ldap;
using test::run_loop_test;

namespace {


ldap::search_request by_mail(const test::slapd& s, std::string_view address) {
  ldap::search_request r;
  r.base = s.base_dn();
  r.filter = *ldap::expand("(mail={a})", {{"a", address}});
  r.attributes = {"mail", "displayName", "proxyAddresses"};
  return r;
}

// A task that ticks every 10 ms: proves the loop keeps running while LDAP work waits.
rt::task<int> ticker(const bool& stop) {
  int ticks = 0;
  while (!stop) {
    co_await rt::sleep_for(10ms);
    ++ticks;
  }
  co_return ticks;
}

}  // namespace

TEST_CASE("ldap client: binds and reads entries, UTF-8 included", "[ldap][client]") {
  test::slapd server;
  run_loop_test([&]() -> rt::task<void> {
    ldap::client c(test::ldap_options(server));
    auto ec = co_await c.start();
    REQUIRE_FALSE(ec);
    REQUIRE(c.state().up == 2);
    auto r = co_await c.search(by_mail(server, "alice@corp.example"));
    REQUIRE(r);
    REQUIRE(r->entries.size() == 1);
    const auto& e = r->entries[0];
    CHECK(e.dn == "uid=alice,ou=people,dc=corp,dc=example");
    CHECK(e.first("displayName") == "Alice Example");
    REQUIRE(e.get("proxyaddresses"));  // attribute names compare without case
    CHECK(e.get("proxyAddresses")->size() == 4);
    auto j = co_await c.search(by_mail(server, "juergen.mueller@corp.example"));
    REQUIRE(j);
    REQUIRE(j->entries.size() == 1);
    CHECK(j->entries[0].first("displayName") == "J\xc3\xbcrgen M\xc3\xbcller");
    co_await c.stop();
  });
}

TEST_CASE("ldap client: values are escaped, so a filter injection matches nothing", "[ldap][client][security]") {
  test::slapd server;
  run_loop_test([&]() -> rt::task<void> {
    ldap::client c(test::ldap_options(server));
    auto started = co_await c.start();
    REQUIRE_FALSE(started);
    for (std::string attack : {"*)(mail=*", "*", "*)(|(objectClass=*)", "\\2a", "alice@corp.example)(mail=*"}) {
      auto r = co_await c.search(by_mail(server, attack));
      INFO(attack);
      REQUIRE(r);
      CHECK(r->entries.empty());
    }
    // A literal asterisk in an address matches exactly that entry.
    auto star = co_await c.search(by_mail(server, "star*@corp.example"));
    REQUIRE(star);
    REQUIRE(star->entries.size() == 1);
    CHECK(star->entries[0].dn == "uid=star,ou=people,dc=corp,dc=example");
    co_await c.stop();
  });
}

TEST_CASE("ldap client: a wrong bind password is a clear error", "[ldap][client]") {
  test::slapd server;
  run_loop_test([&]() -> rt::task<void> {
    auto o = test::ldap_options(server);
    o.bind_password = "not-the-password";
    ldap::client c(o);
    auto ec = co_await c.start();
    REQUIRE(ec);
    CHECK(ec.value() == 49);
    CHECK_THAT(ec.message(), Catch::Contains("Invalid credentials"));
    CHECK(ldap::is_config_error(ec));
    CHECK(c.state().up == 0);
    auto r = co_await c.search(by_mail(server, "alice@corp.example"));
    REQUIRE_FALSE(r);
    CHECK(r.error() == ldap::ldap_errc::unavailable);
    co_await c.stop();
  });
}

TEST_CASE("ldap client: paged search streams 5000 entries; an unpaged one stops at the size limit", "[ldap][client][paging]") {
  test::slapd server({.generated_users = 5000});
  run_loop_test([&]() -> rt::task<void> {
    auto o = test::ldap_options(server);
    o.page_size = 500;
    ldap::client c(o);
    auto started = co_await c.start();
    REQUIRE_FALSE(started);
    ldap::search_request r;
    r.base = "ou=generated," + server.base_dn();
    r.filter = "(objectClass=user)";
    r.attributes = {"mail"};
    std::size_t pages = 0, seen = 0, largest = 0;
    auto sent_before = c.searches_sent();
    auto total = co_await c.search_paged(r, [&](std::vector<ldap::entry> page) -> rt::task<bool> {
      ++pages;
      seen += page.size();
      largest = std::max(largest, page.size());
      co_return true;
    });
    REQUIRE(total);
    CHECK(*total == 5000);
    CHECK(seen == 5000);
    CHECK(pages >= 10);
    CHECK(largest <= 500);
    CHECK(c.searches_sent() - sent_before == pages);
    // Stopping early releases the result set.
    std::size_t early_pages = 0;
    auto early = co_await c.search_paged(r, [&](std::vector<ldap::entry>) -> rt::task<bool> {
      ++early_pages;
      co_return early_pages < 2;
    });
    REQUIRE(early);
    CHECK(early_pages == 2);
    CHECK(*early <= 1000);
    // Without paging the server's size limit (2000 for the service account) ends it.
    auto unpaged = co_await c.search(r);
    REQUIRE(unpaged);
    CHECK(unpaged->size_limit_exceeded);
    CHECK(unpaged->entries.size() == 2000);
    co_await c.stop();
  });
}

TEST_CASE("ldap client: many concurrent searches share the pooled connections", "[ldap][client]") {
  test::slapd server({.generated_users = 300});
  run_loop_test([&]() -> rt::task<void> {
    ldap::client c(test::ldap_options(server));
    auto started = co_await c.start();
    REQUIRE_FALSE(started);
    std::vector<rt::task<rt::result<ldap::search_result>>> ts;
    for (int i = 1; i <= 300; ++i) {
      char mail[64];
      std::snprintf(mail, sizeof mail, "user%05d@corp.example", i);
      ts.push_back(c.search(by_mail(server, mail)));
    }
    auto rs = co_await rt::when_all(std::move(ts));
    int ok = 0;
    for (std::size_t i = 0; i < rs.size(); ++i) {
      char mail[64];
      std::snprintf(mail, sizeof mail, "user%05zu@corp.example", i + 1);
      if (rs[i] && rs[i]->entries.size() == 1 && rs[i]->entries[0].first("mail") == mail) ++ok;
    }
    CHECK(ok == 300);
    CHECK(c.connects() == 2);  // no extra connections were opened
    CHECK(c.searches_sent() == 300);
    co_await c.stop();
  });
  CHECK(test::eventually([&] { return server.searches_seen() >= 300; }, 2s));
}

TEST_CASE("ldap client: ldaps and StartTLS verify the directory's certificate", "[ldap][client][tls]") {
  test::slapd server({.tls = true});
  run_loop_test([&]() -> rt::task<void> {
    SECTION("ldaps with the CA") {
      auto o = test::ldap_options(server);
      o.url = server.ldaps_url();
      o.ca_file = test::certs().ca_cert;
      ldap::client c(o);
      auto ec = co_await c.start();
      REQUIRE_FALSE(ec);
      auto r = co_await c.search(by_mail(server, "alice@corp.example"));
      REQUIRE(r);
      CHECK(r->entries.size() == 1);
      co_await c.stop();
    }
    SECTION("StartTLS with the CA") {
      auto o = test::ldap_options(server);
      o.url = server.url();
      o.starttls = true;
      o.ca_file = test::certs().ca_cert;
      ldap::client c(o);
      auto ec = co_await c.start();
      INFO(c.state().last_error_detail);
      CHECK_FALSE(ec);
      auto r = co_await c.search(by_mail(server, "bob@corp.example"));
      REQUIRE(r);
      co_await c.stop();
    }
    SECTION("ldaps without trusting the CA fails, and says so") {
      auto o = test::ldap_options(server);
      o.url = server.ldaps_url();
      o.ca_file = test::certs().untrusted_cert;  // not the issuer
      ldap::client c(o);
      auto ec = co_await c.start();
      REQUIRE(ec);
      CHECK(c.state().up == 0);
      CHECK(ec.value() == -1);  // LDAP_SERVER_DOWN: "Can't contact LDAP server"
      co_await c.stop();
    }
  });
}

TEST_CASE("ldap client: slapd killed mid-operation, then restarted", "[ldap][client][failure]") {
  test::slapd server;
  run_loop_test([&]() -> rt::task<void> {
    ldap::client c(test::ldap_options(server));
    auto started = co_await c.start();
    REQUIRE_FALSE(started);
    // Freeze slapd so a search is in flight, then kill it.
    server.pause();
    rt::task_group g;
    std::error_code in_flight;
    g.spawn([](ldap::client& cl, ldap::search_request r, std::error_code& out) -> rt::task<void> {
      auto res = co_await cl.search(std::move(r));
      out = res ? std::error_code{} : res.error();
    }(c, by_mail(server, "alice@corp.example"), in_flight));
    co_await rt::sleep_for(100ms);
    server.kill();
    co_await g.join();
    INFO(in_flight.message());
    CHECK(in_flight);
    CHECK(ldap::is_retryable(in_flight));
    CHECK(c.state().up == 0);
    // While it is down, searches fail at once with a retryable error.
    auto down = co_await c.search(by_mail(server, "alice@corp.example"));
    REQUIRE_FALSE(down);
    CHECK(ldap::is_retryable(down.error()));
    server.start();
    bool back = false;
    for (int i = 0; i < 100 && !back; ++i) {
      co_await rt::sleep_for(50ms);
      back = c.state().up > 0;
    }
    REQUIRE(back);
    auto again = co_await c.search(by_mail(server, "alice@corp.example"));
    REQUIRE(again);
    CHECK(again->entries.size() == 1);
    CHECK(c.connects() >= 3);
    co_await c.stop();
  });
}

TEST_CASE("ldap client: a server that stops answering hits the deadline while the loop keeps serving", "[ldap][client][failure]") {
  test::slapd server;
  run_loop_test([&]() -> rt::task<void> {
    auto o = test::ldap_options(server);
    o.operation_timeout = 300ms;
    ldap::client c(o);
    auto started = co_await c.start();
    REQUIRE_FALSE(started);
    server.pause();
    bool stop = false;
    auto work = [](ldap::client& cl, ldap::search_request r, bool& done) -> rt::task<std::error_code> {
      auto t0 = std::chrono::steady_clock::now();
      auto res = co_await cl.search(std::move(r));
      done = true;
      auto took = std::chrono::steady_clock::now() - t0;
      if (took > 1500ms) co_return make_error_code(rt::errc::protocol_error);
      co_return res ? std::error_code{} : res.error();
    };
    auto [ec, ticks] = co_await rt::when_all(work(c, by_mail(server, "alice@corp.example"), stop), ticker(stop));
    CHECK(ec == rt::errc::timed_out);
    CHECK(ticks >= 15);  // the loop ticked all along (300 ms at 10 ms)
    server.resume();
    // The connection is still good: the abandoned search did not poison it.
    auto after = co_await c.search(by_mail(server, "alice@corp.example"));
    REQUIRE(after);
    CHECK(after->entries.size() == 1);
    co_await c.stop();
  });
}

TEST_CASE("ldap client: a listener that never answers fails the start with a timeout, off the loop", "[ldap][client][failure]") {
  test::silent_server silent;
  run_loop_test([&]() -> rt::task<void> {
    ldap::client_options o;
    o.url = "ldap://127.0.0.1:" + std::to_string(silent.port());
    o.bind_dn = "cn=x";
    o.bind_password = "y";
    o.connect_timeout = 400ms;
    o.connections = 1;
    o.reconnect_min = 1000ms;
    ldap::client c(o);
    bool stop = false;
    auto starter = [](ldap::client& cl, bool& done) -> rt::task<std::error_code> {
      auto ec = co_await cl.start();
      done = true;
      co_return ec;
    };
    auto [ec, ticks] = co_await rt::when_all(starter(c, stop), ticker(stop));
    REQUIRE(ec);
    CHECK(ldap::is_retryable(ec));
    CHECK(ticks >= 20);  // the bind blocked a threadpool thread, not the loop
    co_await c.stop();
  });
  CHECK(silent.accepted() >= 1);
}
