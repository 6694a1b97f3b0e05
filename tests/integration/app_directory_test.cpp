// The calgate binary with a directory: the search API and /readyz, end to end
// against a real slapd.
#include <catch2/catch.hpp>

#include <csignal>
#include <string>

#include "net/http/client.hpp"
#include "support/http_fixture.hpp"
#include "support/http_when_up.hpp"
#include "support/process.hpp"
#include "support/slapd.hpp"

using namespace calgate;
using namespace std::chrono_literals;

namespace {

const std::string calgate_bin = CALGATE_BINARY;

// The bind password comes from CALGATE_TEST_LDAP_PW (set per test).
std::string config_for(const test::slapd& s, std::uint16_t port) {
  return "[server]\nlisten = \"127.0.0.1:" + std::to_string(port) +
         "\"\nshutdown_grace = \"2s\"\n[log]\naccess = false\n"
         "[ldap]\nurl = \"" + s.url() + "\"\nbind_dn = \"" + s.bind_dn() +
         "\"\nbind_password = \"${CALGATE_TEST_LDAP_PW}\"\nreconnect_min = \"50ms\"\nreconnect_max = \"200ms\"\n"
         "[directory]\nbase_dn = \"" + s.base_dn() +
         "\"\ndomain_map = { \"partner-cal.example\" = \"corp.example\" }\nsearch_max_results = 20\n";
}

struct response {
  int status = 0;
  std::string body;
};

// GETs until the server answers something other than a connection error (~5 s).
response get(std::uint16_t port, const std::string& target, std::function<bool(const response&)> until = {}) {
  auto r = test::send_when_up({"GET", "http://127.0.0.1:" + std::to_string(port) + target},
                              [&](const net::http::client_response& c) { return !until || until({c.status, c.body}); });
  return {r.status, r.body};
}

}  // namespace

TEST_CASE("app: the directory search API answers JSON from the real directory", "[app][directory]") {
  test::slapd server({.generated_users = 60});
  test::temp_dir d;
  std::uint16_t port = test::free_port();
  d.write("c.toml", config_for(server, port));
  test::process p({calgate_bin, "serve", "--config", d.file("c.toml")},
                  {"CALGATE_TEST_LDAP_PW=" + server.bind_password()});
  auto ready = get(port, "/readyz", [](const response& r) { return r.status == 200; });
  INFO(p.output());
  REQUIRE(ready.status == 200);
  CHECK_THAT(ready.body, Catch::Contains("\"directory\":{\"ok\":true,\"detail\":\"2/2 connections up"));

  auto alice = get(port, "/v1/directory/search?q=Alice");
  CHECK(alice.status == 200);
  CHECK(alice.body ==
        "{\"query\":\"Alice\",\"results\":[{\"display_name\":\"Alice Example\",\"email\":\"alice@partner-cal.example\","
        "\"title\":\"Engineer\",\"department\":\"Platform\",\"phone\":\"+1 555 0100\",\"kind\":\"user\"}],\"truncated\":false}");
  auto utf8 = get(port, "/v1/directory/search?q=J%C3%BCr");
  CHECK(utf8.status == 200);
  CHECK_THAT(utf8.body, Catch::Contains("\"display_name\":\"J\xc3\xbcrgen M\xc3\xbcller\""));
  auto room = get(port, "/v1/directory/search?q=conference");
  CHECK_THAT(room.body, Catch::Contains("\"kind\":\"room\""));
  auto limited = get(port, "/v1/directory/search?q=Generated&limit=3");
  CHECK(limited.status == 200);
  CHECK_THAT(limited.body, Catch::EndsWith("\"truncated\":true}"));
  CHECK(get(port, "/v1/directory/search").status == 400);
  CHECK(get(port, "/v1/directory/search?q=").status == 400);
  CHECK(get(port, "/v1/directory/search?q=a&limit=0").status == 400);
  CHECK(get(port, "/v1/directory/search?q=a&limit=21").status == 400);
  CHECK(get(port, "/v1/directory/search?q=a&limit=ten").status == 400);
  CHECK(get(port, "/v1/directory/search?q=" + std::string(150, 'a')).status == 400);
  auto injection = get(port, "/v1/directory/search?q=*)(mail=*");
  CHECK(injection.status == 200);
  CHECK_THAT(injection.body, Catch::Contains("\"results\":[]"));
  auto metrics = get(port, "/metrics");
  CHECK_THAT(metrics.body, Catch::Contains("calgate_ldap_connections{state=\"up\"} 2"));
  CHECK_THAT(metrics.body, Catch::Contains("calgate_ldap_searches_total "));
  p.signal(SIGTERM);
  CHECK(p.wait(10s) == 0);
  CHECK_THAT(p.output(), Catch::Contains("calgate stopped"));
}

TEST_CASE("app: a wrong bind password is a clear error at start-up and in /readyz", "[app][directory]") {
  test::slapd server;
  test::temp_dir d;
  std::uint16_t port = test::free_port();
  d.write("c.toml", config_for(server, port));
  test::process p({calgate_bin, "serve", "--config", d.file("c.toml")}, {"CALGATE_TEST_LDAP_PW=wrong"});
  // The first bind attempt may still be under way when the listener is up
  // ("connecting"); wait for its verdict.
  auto ready = get(port, "/readyz", [](const response& r) {
    return r.status != 0 && r.body.find("connecting") == std::string::npos;
  });
  CHECK(ready.status == 503);
  CHECK_THAT(ready.body, Catch::Contains("\"status\":\"not ready\""));
  CHECK_THAT(ready.body, Catch::Contains("Invalid credentials"));
  CHECK_THAT(ready.body, Catch::Contains("\"http\":{\"ok\":true"));
  auto search = get(port, "/v1/directory/search?q=alice");
  CHECK(search.status == 503);
  p.signal(SIGTERM);
  CHECK(p.wait(10s) == 0);
  std::string out = p.output();
  CHECK_THAT(out, Catch::Contains("directory connection failed"));
  CHECK_THAT(out, Catch::Contains("Invalid credentials"));
  CHECK_THAT(out, !Catch::Contains("wrong\""));  // the password itself is never logged
}

TEST_CASE("app: without [ldap] the search API says no directory is configured", "[app][directory]") {
  test::temp_dir d;
  std::uint16_t port = test::free_port();
  d.write("c.toml", "[server]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\n[log]\naccess = false\n");
  test::process p({calgate_bin, "serve", "--config", d.file("c.toml")});
  auto r = get(port, "/v1/directory/search?q=alice", [](const response& x) { return x.status != 0; });
  CHECK(r.status == 503);
  CHECK_THAT(r.body, Catch::Contains("no directory is configured"));
  p.signal(SIGTERM);
  CHECK(p.wait(10s) == 0);
}
