#include <catch2/catch.hpp>

#include <csignal>
#include <string>

#include "net/http/client.hpp"
#include "proto/ldap/client.hpp"
#include "rt/sleep.hpp"
#include "rt/when_all.hpp"
#include "support/loop_test.hpp"
#include "support/process.hpp"
#include "support/ldap_fixture.hpp"
#include "support/slapd.hpp"
#include "svc/directory.hpp"

using namespace calgate;
using namespace std::chrono_literals;
namespace ldap = calgate::proto::ldap;
using svc::recipient_kind;
using test::run_loop_test;

namespace {


svc::directory_options ad_profile(const test::slapd& s) {
  auto o = svc::directory_options::profile("active_directory");
  o.base_dn = s.base_dn();
  o.endpoint_map = {{"EXCH01", "onprem"}, {"EXCH02", "onprem2"}, {"EXCH-EU-01", "eu"}};
  o.default_endpoint = "default";
  o.domain_map = {{"Calendar-Partner.example", "corp.example"}};
  return o;
}

// A directory over a started LDAP client; stop() must be awaited.
struct fixture {
  ldap::client client;
  svc::directory dir;
  fixture(const test::slapd& s, svc::directory_options o) : client(test::ldap_options(s)), dir(client, std::move(o)) {}
  rt::task<void> start() {
    auto ec = co_await client.start();
    REQUIRE_FALSE(ec);
  }
  rt::task<void> stop() {
    co_await dir.stop();
    co_await client.stop();
  }
};

}  // namespace

TEST_CASE("directory: primary addresses and every alias resolve, in any case", "[directory]") {
  test::slapd server;
  run_loop_test([&]() -> rt::task<void> {
    fixture f(server, ad_profile(server));
    co_await f.start();
    for (std::string a : {"alice@corp.example", "ALICE@Corp.Example", "a.example@corp.example", "alice@legacy.example",
                          "  Alice@corp.example "}) {
      auto r = co_await f.dir.resolve(a);
      INFO(a);
      REQUIRE(r);
      REQUIRE(*r);
      const svc::mailbox& m = **r;
      CHECK(m.address == "alice@corp.example");
      CHECK(m.display_name == "Alice Example");
      CHECK(m.kind == recipient_kind::user);
      CHECK(m.endpoint == "onprem");
      CHECK(m.title == "Engineer");
      CHECK(m.department == "Platform");
      CHECK(m.phone == "+1 555 0100");
      CHECK_THAT(m.legacy_dn, Catch::EndsWith("/cn=Recipients/cn=alice"));
      CHECK(m.addresses.front() == "alice@corp.example");
      CHECK(m.addresses.size() == 3);  // X500: is not an SMTP address
    }
    // Bob's primary is stored in mixed case; the answer keeps the directory's spelling.
    auto bob = co_await f.dir.resolve("bob@corp.example");
    REQUIRE(bob);
    REQUIRE(*bob);
    CHECK((*bob)->address == "Bob.Builder@Corp.Example");
    CHECK((*bob)->endpoint == "onprem2");
    auto bob2 = co_await f.dir.resolve("bob.builder@corp.example");
    REQUIRE(bob2);
    REQUIRE(*bob2);
    CHECK((*bob2)->dn == (*bob)->dn);
    co_await f.stop();
  });
}

TEST_CASE("directory: kinds, endpoints and UTF-8 names", "[directory]") {
  test::slapd server;
  run_loop_test([&]() -> rt::task<void> {
    fixture f(server, ad_profile(server));
    co_await f.start();
    // Named, not a braced temporary: GCC 12 cannot build an initializer_list inside co_await.
    std::vector<std::string> addrs = {"room.alpha@corp.example", "projector1@corp.example", "erin@partner.example",
                                      "dave@corp.example",       "carol@corp.example",      "juergen.mueller@corp.example"};
    auto all = co_await f.dir.resolve_many(addrs);
    REQUIRE(all.size() == 6);
    for (auto& r : all) {
      REQUIRE(r);
      REQUIRE(*r);
    }
    CHECK((*all[0])->kind == recipient_kind::room);
    CHECK((*all[1])->kind == recipient_kind::resource);
    CHECK((*all[2])->kind == recipient_kind::contact);
    CHECK((*all[2])->title == "Consultant");
    CHECK((*all[3])->endpoint == "default");  // no msExchHomeServerName
    CHECK((*all[4])->endpoint == "eu");
    CHECK((*all[5])->display_name == "J\xc3\xbcrgen M\xc3\xbcller");
    CHECK((*all[5])->department == "Forschung & Entwicklung");
    co_await f.stop();
  });
}

TEST_CASE("directory: unknown and hostile addresses", "[directory][security]") {
  test::slapd server({.generated_users = 50});
  run_loop_test([&]() -> rt::task<void> {
    fixture f(server, ad_profile(server));
    co_await f.start();
    auto none = co_await f.dir.resolve("nobody@corp.example");
    REQUIRE(none);
    CHECK(*none == nullptr);
    for (std::string a : {"*@corp.example", "*)(mail=*@corp.example", "user0000*@corp.example", "a@b)(|(mail=*"}) {
      auto r = co_await f.dir.resolve(a);
      INFO(a);
      REQUIRE(r);
      CHECK(*r == nullptr);
    }
    auto star = co_await f.dir.resolve("star*@corp.example");
    REQUIRE(star);
    REQUIRE(*star);
    CHECK((*star)->dn == "uid=star,ou=people,dc=corp,dc=example");
    const std::vector<std::string> bad_inputs = {"",      "no-at-sign",           "@corp.example",
                                                 "alice@", "has space@corp.example", std::string(300, 'x') + "@corp.example",
                                                 std::string("nul\0@x", 6)};
    for (const std::string& bad : bad_inputs) {
      auto r = co_await f.dir.resolve(bad);
      CHECK(r.error() == rt::errc::bad_input);
    }
    co_await f.stop();
  });
}

TEST_CASE("directory: many addresses go out as few LDAP searches", "[directory][batching]") {
  test::slapd server({.generated_users = 200});
  run_loop_test([&]() -> rt::task<void> {
    auto o = ad_profile(server);
    o.batch_size = 50;
    fixture f(server, o);
    co_await f.start();
    std::vector<std::string> addrs;
    for (int i = 1; i <= 120; ++i) {
      char a[64];
      // Mix primary addresses and aliases.
      std::snprintf(a, sizeof a, i % 2 ? "user%05d@corp.example" : "gen.%05d@corp.example", i);
      addrs.push_back(a);
    }
    addrs.push_back("nobody@corp.example");
    auto before = f.client.searches_sent();
    auto rs = co_await f.dir.resolve_many(addrs);
    CHECK(f.client.searches_sent() - before == 3);  // 121 addresses, 50 per search
    REQUIRE(rs.size() == 121);
    for (int i = 1; i <= 120; ++i) {
      auto& r = rs[static_cast<std::size_t>(i - 1)];
      REQUIRE(r);
      REQUIRE(*r);
      char want[64];
      std::snprintf(want, sizeof want, "user%05d@corp.example", i);
      CHECK((*r)->address == want);
    }
    REQUIRE(rs.back());
    CHECK(*rs.back() == nullptr);
    // Answered from the cache now: no LDAP at all.
    auto again = co_await f.dir.resolve_many(addrs);
    CHECK(f.client.searches_sent() - before == 3);
    CHECK(again.size() == 121);
    co_await f.stop();
  });
}

TEST_CASE("directory: concurrent lookups share one LDAP request", "[directory][batching]") {
  test::slapd server({.generated_users = 20});
  run_loop_test([&]() -> rt::task<void> {
    fixture f(server, ad_profile(server));
    co_await f.start();
    auto before = f.client.searches_sent();
    // 100 lookups of one address and 10 of others, all at once.
    std::vector<rt::task<rt::result<svc::mailbox_ptr>>> ts;
    for (int i = 0; i < 100; ++i) ts.push_back(f.dir.resolve("user00007@corp.example"));
    for (int i = 1; i <= 10; ++i) {
      char a[64];
      std::snprintf(a, sizeof a, "user%05d@corp.example", i);
      ts.push_back(f.dir.resolve(a));
    }
    auto rs = co_await rt::when_all(std::move(ts));
    CHECK(f.client.searches_sent() - before == 1);
    for (auto& r : rs) {
      REQUIRE(r);
      REQUIRE(*r);
    }
    CHECK((*rs[0])->address == "user00007@corp.example");
    CHECK(rs[0]->get() == rs[99]->get());  // the very same answer object
    co_await f.stop();
  });
  CHECK(test::eventually([&] { return server.searches_seen() >= 1; }, 2s));
}

TEST_CASE("directory: the cache expires, and negative answers are cached separately", "[directory][cache]") {
  test::slapd server;
  run_loop_test([&]() -> rt::task<void> {
    auto o = ad_profile(server);
    o.cache_ttl = 150ms;
    o.negative_cache_ttl = 1000ms;
    fixture f(server, o);
    co_await f.start();
    auto base = f.client.searches_sent();
    auto a1 = co_await f.dir.resolve("alice@corp.example");
    auto n1 = co_await f.dir.resolve("ghost@corp.example");
    REQUIRE(a1);
    REQUIRE(n1);
    CHECK(f.client.searches_sent() - base == 2);
    auto a2 = co_await f.dir.resolve("alice@corp.example");
    auto n2 = co_await f.dir.resolve("ghost@corp.example");
    CHECK(f.client.searches_sent() - base == 2);
    co_await rt::sleep_for(250ms);
    auto a3 = co_await f.dir.resolve("alice@corp.example");  // expired: fetched again
    auto n3 = co_await f.dir.resolve("ghost@corp.example");  // still cached
    CHECK(f.client.searches_sent() - base == 3);
    REQUIRE(a3);
    CHECK(*a3);
    REQUIRE(n3);
    CHECK(*n3 == nullptr);
    CHECK(f.dir.cache_size() == 2);
    co_await f.stop();
  });
}

TEST_CASE("directory: a bounded cache evicts the least recently used", "[directory][cache]") {
  test::slapd server({.generated_users = 30});
  run_loop_test([&]() -> rt::task<void> {
    auto o = ad_profile(server);
    o.cache_max_entries = 10;
    fixture f(server, o);
    co_await f.start();
    std::vector<std::string> addrs;
    for (int i = 1; i <= 30; ++i) {
      char a[64];
      std::snprintf(a, sizeof a, "user%05d@corp.example", i);
      addrs.push_back(a);
    }
    auto rs = co_await f.dir.resolve_many(addrs);
    CHECK(rs.size() == 30);
    CHECK(f.dir.cache_size() == 10);
    co_await f.stop();
  });
}

TEST_CASE("directory: domain mapping both ways, without regard to case", "[directory]") {
  test::slapd server;
  run_loop_test([&]() -> rt::task<void> {
    fixture f(server, ad_profile(server));
    co_await f.start();
    auto r = co_await f.dir.resolve("Alice@CALENDAR-PARTNER.example");
    REQUIRE(r);
    REQUIRE(*r);
    CHECK((*r)->address == "alice@corp.example");
    CHECK(f.dir.to_internal("bob@Calendar-Partner.Example") == "bob@corp.example");
    CHECK(f.dir.to_external("alice@corp.example") == "alice@calendar-partner.example");
    CHECK(f.dir.to_external("erin@partner.example") == "erin@partner.example");
    co_await f.stop();
  });
}

TEST_CASE("directory: the OpenLDAP profile uses mail and mailAlternateAddress", "[directory]") {
  test::slapd server;
  run_loop_test([&]() -> rt::task<void> {
    auto o = svc::directory_options::profile("openldap");
    o.base_dn = server.base_dn();
    fixture f(server, o);
    co_await f.start();
    auto alias = co_await f.dir.resolve("a.example@corp.example");
    REQUIRE(alias);
    REQUIRE(*alias);
    CHECK((*alias)->address == "alice@corp.example");
    CHECK((*alias)->endpoint == "default");
    auto room = co_await f.dir.resolve("room.alpha@corp.example");
    REQUIRE(room);
    REQUIRE(*room);
    CHECK((*room)->kind == recipient_kind::room);  // employeeType
    // proxyAddresses is not an alias source in this profile.
    auto legacy = co_await f.dir.resolve("bob.builder@corp.example");
    REQUIRE(legacy);
    CHECK(*legacy != nullptr);  // it is bob's mail
    co_await f.stop();
  });
}

TEST_CASE("directory: the sync scope is listed page by page", "[directory][paging]") {
  test::slapd server({.generated_users = 5000});
  run_loop_test([&]() -> rt::task<void> {
    auto o = ad_profile(server);
    o.scope_filter = "(msExchHomeServerName=*EXCH02)";  // the even-numbered half of the population, and bob
    fixture f(server, o);
    co_await f.start();
    std::size_t pages = 0, seen = 0;
    auto total = co_await f.dir.list_scope([&](std::vector<svc::mailbox_ptr> page) -> rt::task<bool> {
      ++pages;
      for (const auto& m : page)
        if (m->endpoint == "onprem2") ++seen;
      co_return true;
    });
    REQUIRE(total);
    CHECK(*total == 2501);
    CHECK(seen == 2501);
    CHECK(pages >= 6);
    co_await f.stop();
  });
}

TEST_CASE("directory: contact search by name or address prefix", "[directory][search]") {
  test::slapd server({.generated_users = 100});
  run_loop_test([&]() -> rt::task<void> {
    fixture f(server, ad_profile(server));
    co_await f.start();
    auto a = co_await f.dir.search("ali", 10);
    REQUIRE(a);
    REQUIRE(a->entries.size() == 1);
    CHECK(a->entries[0]->display_name == "Alice Example");
    CHECK_FALSE(a->truncated);
    auto paren = co_await f.dir.search("Paren (T", 10);
    REQUIRE(paren);
    REQUIRE(paren->entries.size() == 1);
    CHECK(paren->entries[0]->address == "paren@corp.example");
    auto many = co_await f.dir.search("Generated", 5);
    REQUIRE(many);
    CHECK(many->entries.size() == 5);
    CHECK(many->truncated);
    auto star = co_await f.dir.search("*", 10);  // a literal asterisk prefix, not a wildcard
    REQUIRE(star);
    CHECK(star->entries.empty());
    auto empty = co_await f.dir.search("   ", 10);
    CHECK(empty.error() == rt::errc::bad_input);
    co_await f.stop();
  });
}

TEST_CASE("directory: while LDAP is down, lookups fail with a retryable error and nothing is cached", "[directory][failure]") {
  test::slapd server;
  run_loop_test([&]() -> rt::task<void> {
    fixture f(server, ad_profile(server));
    co_await f.start();
    server.kill();
    co_await rt::sleep_for(100ms);
    auto r = co_await f.dir.resolve("alice@corp.example");
    REQUIRE_FALSE(r);
    CHECK(ldap::is_retryable(r.error()));
    CHECK_FALSE(f.dir.readiness().ok);
    CHECK_THAT(f.dir.readiness().detail, Catch::Contains("directory unreachable"));
    CHECK(f.dir.cache_size() == 0);
    server.start();
    bool ok = false;
    for (int i = 0; i < 100 && !ok; ++i) {
      co_await rt::sleep_for(50ms);
      auto again = co_await f.dir.resolve("alice@corp.example");
      ok = again && *again;
    }
    CHECK(ok);
    CHECK(f.dir.readiness().ok);
    co_await f.stop();
  });
}
