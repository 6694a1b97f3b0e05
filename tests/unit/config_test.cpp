#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "app/app.hpp"
#include "config/config.hpp"
#include "config/values.hpp"

using namespace calgate;
using namespace std::chrono_literals;

#ifndef CALGATE_SOURCE_DIR
#error "tests/meson.build defines CALGATE_SOURCE_DIR for unit_tests"
#endif

namespace {

const std::string source_dir = CALGATE_SOURCE_DIR;

// An environment with exactly these variables.
config::env_lookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

config::load_result load(std::string_view text, config::env_lookup env = fake_env({})) {
  return config::load_string(text, "t.toml", env);
}

// The errors of a file that must not load.
std::vector<std::string> errors_of(std::string_view text, config::env_lookup env = fake_env({})) {
  auto r = load(text, std::move(env));
  CHECK_FALSE(r.config.has_value());
  CHECK_FALSE(r.errors.empty());
  return r.errors;
}

// The single error of a file with one mistake.
std::string error_of(std::string_view text, config::env_lookup env = fake_env({})) {
  auto errors = errors_of(text, std::move(env));
  INFO(text);
  REQUIRE(errors.size() == 1);
  return errors[0];
}

config::root loaded(std::string_view text, config::env_lookup env = fake_env({})) {
  auto r = load(text, std::move(env));
  for (const auto& e : r.errors) UNSCOPED_INFO(e);
  REQUIRE(r.errors.empty());
  REQUIRE(r.config.has_value());
  return *r.config;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("config: an empty file gives every default", "[config]") {
  auto cfg = loaded("");
  CHECK(cfg.source == "t.toml");
  config::root defaults;
  defaults.source = "t.toml";
  CHECK(cfg == defaults);

  CHECK(cfg.server.listen.host == "127.0.0.1");
  CHECK(cfg.server.listen.port == 8080);
  CHECK(cfg.server.max_connections == 10000);
  CHECK(cfg.server.backlog == 1024);
  CHECK(cfg.server.header_timeout == 10s);
  CHECK(cfg.server.idle_timeout == 60s);
  CHECK(cfg.server.body_timeout == 30s);
  CHECK(cfg.server.write_timeout == 30s);
  CHECK(cfg.server.request_timeout == 60s);
  CHECK(cfg.server.shutdown_grace == 10s);
  CHECK(cfg.server.max_header_bytes == 16384);
  CHECK(cfg.server.max_headers == 100);
  CHECK(cfg.server.max_uri_bytes == 8192);
  CHECK(cfg.server.max_body_bytes == 1048576);
  CHECK_FALSE(cfg.server.tls.has_value());
  CHECK(cfg.log.level == log::level::info);
  CHECK(cfg.log.format == log::format::logfmt);
  CHECK(cfg.log.access);
  CHECK(cfg.http_client.max_per_origin == 32);
  CHECK(cfg.http_client.idle_timeout == 30s);
  CHECK(cfg.http_client.connect_timeout == 5s);
  CHECK(cfg.http_client.tls_timeout == 5s);
  CHECK(cfg.http_client.response_header_timeout == 30s);
  CHECK(cfg.http_client.total_timeout == 60s);
  CHECK(cfg.http_client.max_response_bytes == 16u << 20);
  CHECK(cfg.http_client.max_header_bytes == 65536);
  CHECK(cfg.http_client.ca_file.empty());
  CHECK(cfg.http_client.proxy.empty());
  CHECK(cfg.http_client.user_agent.rfind("calgate/", 0) == 0);
  CHECK(cfg.http_client.user_agent.size() > 8);

  // Empty tables and comments change nothing.
  auto cfg2 = loaded("# nothing\n[server]\n[log]\n[http_client]\n");
  CHECK(cfg2 == cfg);
}

TEST_CASE("config: every key can be set", "[config]") {
  auto cfg = loaded(R"(
[server]
listen = "[::1]:8443"
max_connections = 5
backlog = 16
header_timeout = "2s"
idle_timeout = "5m"
body_timeout = "1500ms"
write_timeout = "3s"
request_timeout = "1h"
shutdown_grace = "0s"
max_header_bytes = "32KiB"
max_headers = 50
max_uri_bytes = 4096
max_body_bytes = "2MiB"

[server.tls]
cert_file = "/etc/calgate/cert.pem"
key_file = "/etc/calgate/key.pem"
chain_file = "/etc/calgate/chain.pem"
min_version = "1.3"
alpn = []

[log]
level = "debug"
format = "json"
access = false

[http_client]
max_per_origin = 4
idle_timeout = "10s"
connect_timeout = "1s"
tls_timeout = "2s"
response_header_timeout = "20s"
total_timeout = "40s"
max_response_bytes = "1GiB"
max_header_bytes = 8192
ca_file = "/etc/ssl/corp.pem"
proxy = "http://proxy.corp:3128"
user_agent = "calgate-test/1"
)");
  CHECK(cfg.server.listen == config::endpoint{"::1", 8443});
  CHECK(cfg.server.max_connections == 5);
  CHECK(cfg.server.backlog == 16);
  CHECK(cfg.server.header_timeout == 2s);
  CHECK(cfg.server.idle_timeout == 5min);
  CHECK(cfg.server.body_timeout == 1500ms);
  CHECK(cfg.server.write_timeout == 3s);
  CHECK(cfg.server.request_timeout == 1h);
  CHECK(cfg.server.shutdown_grace == 0ms);
  CHECK(cfg.server.max_header_bytes == 32768);
  CHECK(cfg.server.max_headers == 50);
  CHECK(cfg.server.max_uri_bytes == 4096);
  CHECK(cfg.server.max_body_bytes == 2u << 20);
  REQUIRE(cfg.server.tls.has_value());
  CHECK(cfg.server.tls->cert_file == "/etc/calgate/cert.pem");
  CHECK(cfg.server.tls->key_file == "/etc/calgate/key.pem");
  CHECK(cfg.server.tls->chain_file == "/etc/calgate/chain.pem");
  CHECK(cfg.server.tls->min_version == "1.3");
  CHECK(cfg.server.tls->alpn.empty());
  CHECK(cfg.log.level == log::level::debug);
  CHECK(cfg.log.format == log::format::json);
  CHECK_FALSE(cfg.log.access);
  CHECK(cfg.http_client.max_per_origin == 4);
  CHECK(cfg.http_client.idle_timeout == 10s);
  CHECK(cfg.http_client.connect_timeout == 1s);
  CHECK(cfg.http_client.tls_timeout == 2s);
  CHECK(cfg.http_client.response_header_timeout == 20s);
  CHECK(cfg.http_client.total_timeout == 40s);
  CHECK(cfg.http_client.max_response_bytes == 1u << 30);
  CHECK(cfg.http_client.max_header_bytes == 8192);
  CHECK(cfg.http_client.ca_file == "/etc/ssl/corp.pem");
  CHECK(cfg.http_client.proxy == "http://proxy.corp:3128");
  CHECK(cfg.http_client.user_agent == "calgate-test/1");

  // Inline tables and dotted keys are the same TOML.
  auto inline_cfg = loaded(
      "server = { max_connections = 7, tls = { cert_file = \"c\", key_file = \"k\" } }\n"
      "log.level = \"warn\"\n");
  CHECK(inline_cfg.server.max_connections == 7);
  REQUIRE(inline_cfg.server.tls.has_value());
  CHECK(inline_cfg.server.tls->alpn == std::vector<std::string>{"http/1.1"});
  CHECK(inline_cfg.server.tls->min_version == "1.2");
  CHECK(inline_cfg.log.level == log::level::warn);
}

TEST_CASE("config: errors name file, line, column and dotted key", "[config]") {
  SECTION("out of range") {
    CHECK(error_of("[server]\nmax_connections = 0\n") ==
          "t.toml:2:1: server.max_connections: must be between 1 and 1000000 (got 0)");
    CHECK(error_of("[server]\n  max_connections = -3\n") ==
          "t.toml:2:3: server.max_connections: must be between 1 and 1000000 (got -3)");
    CHECK(error_of("[server]\nbacklog = 9223372036854775807\n") ==
          "t.toml:2:1: server.backlog: must be between 1 and 65535 (got 9223372036854775807)");
    CHECK(error_of("[server]\nheader_timeout = \"2h\"\n") ==
          "t.toml:2:1: server.header_timeout: must be between 1ms and 1h (got \"2h\")");
    CHECK(error_of("[server]\nheader_timeout = \"0s\"\n") ==
          "t.toml:2:1: server.header_timeout: must be between 1ms and 1h (got \"0s\")");
    CHECK(error_of("[server]\nshutdown_grace = \"11m\"\n") ==
          "t.toml:2:1: server.shutdown_grace: must be between 0ms and 10m (got \"11m\")");
    CHECK(error_of("[server]\nmax_body_bytes = \"2GiB\"\n") ==
          "t.toml:2:1: server.max_body_bytes: must be between 1KiB and 1GiB (got \"2GiB\")");
    CHECK(error_of("[server]\nmax_header_bytes = 100\n") ==
          "t.toml:2:1: server.max_header_bytes: must be between 1KiB and 1MiB (got 100)");
    CHECK(error_of("[http_client]\nmax_per_origin = 0\n") ==
          "t.toml:2:1: http_client.max_per_origin: must be between 1 and 1024 (got 0)");
  }
  SECTION("wrong TOML type") {
    CHECK(error_of("[server]\nmax_connections = \"100\"\n") ==
          "t.toml:2:1: server.max_connections: must be an integer, not a string (got \"100\")");
    CHECK(error_of("[server]\nmax_headers = 1.5\n") ==
          "t.toml:2:1: server.max_headers: must be an integer, not a floating-point number "
          "(got 1.5)");
    CHECK(error_of("[log]\naccess = \"yes\"\n") ==
          "t.toml:2:1: log.access: must be a boolean (true or false), not a string (got \"yes\")");
    CHECK(error_of("[log]\nlevel = 3\n") ==
          "t.toml:2:1: log.level: must be a string, not an integer (got 3)");
    CHECK(error_of("[server]\nlisten = [\"a:1\"]\n") ==
          "t.toml:2:1: server.listen: must be a string, not an array");
    CHECK(error_of("[server]\nmax_body_bytes = true\n") ==
          "t.toml:2:1: server.max_body_bytes: must be a size (an integer number of bytes or a "
          "string like \"64KiB\"), not a boolean (got true)");
    CHECK(error_of("[http_client]\nca_file = 1979-05-27\n") ==
          "t.toml:2:1: http_client.ca_file: must be a string, not a date");
    CHECK(error_of("server = 5\n") == "t.toml:1:1: server: must be a table, not an integer");
    CHECK(error_of("[[server]]\nlisten = \"a:1\"\n") ==
          "t.toml:1:3: server: must be a table, not an array");
    CHECK(error_of("[server]\ntls = \"on\"\n") ==
          "t.toml:2:1: server.tls: must be a table, not a string");
  }
  SECTION("bad values") {
    CHECK(error_of("[log]\nlevel = \"verbose\"\n") ==
          "t.toml:2:1: log.level: must be one of debug, info, warn, error, off (got \"verbose\")");
    CHECK(error_of("[log]\nformat = \"text\"\n") ==
          "t.toml:2:1: log.format: must be one of logfmt, json (got \"text\")");
    CHECK(error_of("[http_client]\nuser_agent = \"\"\n") ==
          "t.toml:2:1: http_client.user_agent: must not be empty");
    CHECK(error_of("[http_client]\nuser_agent = \"a\\r\\nX-Evil: 1\"\n") ==
          "t.toml:2:1: http_client.user_agent: must be printable ASCII (it is sent as an HTTP "
          "header) (got \"a\\r\\nX-Evil: 1\")");
    CHECK(error_of("[http_client]\nuser_agent = \"" + std::string(257, 'a') + "\"\n") ==
          "t.toml:2:1: http_client.user_agent: must be at most 256 bytes long");
    // Long values are shortened when echoed.
    auto long_bad = error_of("[log]\nformat = \"" + std::string(100, 'x') + "\"\n");
    CHECK(contains(long_bad, "(got \"" + std::string(64, 'x') + "...\")"));
  }
  SECTION("a TOML syntax error has the parser's position") {
    auto e = error_of("[server]\nmax_connections = = 3\n");
    CHECK(e.rfind("t.toml:2:19: ", 0) == 0);
    auto dup = error_of("[log]\nlevel = \"info\"\nlevel = \"warn\"\n");
    CHECK(dup.rfind("t.toml:3:", 0) == 0);
    CHECK(contains(dup, "level"));
    auto big = error_of("[server]\nmax_connections = 99999999999999999999\n");
    CHECK(big.rfind("t.toml:2:", 0) == 0);
  }
  SECTION("all errors are reported, sorted by position") {
    auto errors = errors_of(R"([server]
max_connections = 0
listen = "nowhere"
bogus = 1

[log]
level = "loud"

[http_client]
total_timeout = 30
)");
    REQUIRE(errors.size() == 5);
    CHECK(errors[0] == "t.toml:2:1: server.max_connections: must be between 1 and 1000000 (got 0)");
    CHECK(errors[1] ==
          "t.toml:3:1: server.listen: address needs a port, e.g. \"127.0.0.1:8080\" "
          "(got \"nowhere\")");
    CHECK(errors[2] == "t.toml:4:1: server.bogus: unknown key");
    CHECK(errors[3] ==
          "t.toml:7:1: log.level: must be one of debug, info, warn, error, off (got \"loud\")");
    CHECK(errors[4] ==
          "t.toml:10:1: http_client.total_timeout: must be a duration string with a unit, "
          "e.g. \"30s\" or \"250ms\" (got 30)");
  }
}

TEST_CASE("config: unknown keys and tables are errors", "[config]") {
  CHECK(error_of("[server]\nmax_conections = 10\n") ==
        "t.toml:2:1: server.max_conections: unknown key (did you mean \"max_connections\"?)");
  CHECK(error_of("[server]\nfrobnicate = 10\n") == "t.toml:2:1: server.frobnicate: unknown key");
  CHECK(error_of("listen = \"127.0.0.1:1\"\n") == "t.toml:1:1: listen: unknown key");
  CHECK(error_of("\n[bogus]\nurl = \"ldap://x\"\n") ==
        "t.toml:2:1: bogus: unknown table (known here: server, log, http_client, ldap, directory, exchange, lookup, freebusy_api, legacy_lookup)");
  // Suggestions only for likely typos (swapped letters count as one edit).
  CHECK(error_of("[foo]\n") ==
        "t.toml:1:1: foo: unknown table (known here: server, log, http_client, ldap, directory, exchange, lookup, freebusy_api, legacy_lookup)");
  CHECK(error_of("[log]\nlevle = \"info\"\n") ==
        "t.toml:2:1: log.levle: unknown key (did you mean \"level\"?)");
  CHECK(error_of("[log]\nlvl = \"info\"\n") == "t.toml:2:1: log.lvl: unknown key");
  CHECK(error_of("[sever]\n") == "t.toml:1:1: sever: unknown table (did you mean \"server\"?)");
  CHECK(error_of("[server.tsl]\ncert_file = \"c\"\n") ==
        "t.toml:1:1: server.tsl: unknown table (did you mean \"tls\"?)");
  auto nested = errors_of("[server.tls]\ncert_file = \"c\"\nkey_file = \"k\"\n[server.tls.extra]\n");
  REQUIRE(nested.size() == 1);
  CHECK(nested[0] == "t.toml:4:1: server.tls.extra: unknown table");
  CHECK(error_of("[log]\n\"odd key\" = 1\n") == "t.toml:2:1: log.\"odd key\": unknown key");
  CHECK(error_of("[[outbox]]\nx = 1\n") ==
        "t.toml:1:3: outbox: unknown table (known here: server, log, http_client, ldap, directory, exchange, lookup, freebusy_api, legacy_lookup)");
  CHECK(error_of("[log]\naccess.deep = 1\n") == "t.toml:2:1: log.access: must be a boolean (true "
                                                "or false), not a table");
}

TEST_CASE("config: [server.tls] needs cert_file and key_file", "[config]") {
  auto errors = errors_of("[server]\n\n[server.tls]\nmin_version = \"1.2\"\n");
  REQUIRE(errors.size() == 2);
  CHECK(errors[0] == "t.toml:3:1: server.tls.cert_file: is required in [server.tls]");
  CHECK(errors[1] == "t.toml:3:1: server.tls.key_file: is required in [server.tls]");

  CHECK(error_of("[server.tls]\ncert_file = \"c\"\n") ==
        "t.toml:1:1: server.tls.key_file: is required in [server.tls]");
  CHECK(error_of("[server.tls]\ncert_file = \"\"\nkey_file = \"k\"\n") ==
        "t.toml:2:1: server.tls.cert_file: must not be empty");
  const std::string ok = "[server.tls]\ncert_file = \"c\"\nkey_file = \"k\"\n";
  CHECK(error_of(ok + "min_version = \"1.1\"\n") ==
        "t.toml:4:1: server.tls.min_version: must be one of \"1.2\", \"1.3\" (got \"1.1\")");
  CHECK(error_of(ok + "min_version = 1.3\n") ==
        "t.toml:4:1: server.tls.min_version: must be a string, not a floating-point number "
        "(got 1.3)");
  CHECK(error_of(ok + "alpn = [\"http/1.1\", \"h2\"]\n") ==
        "t.toml:4:21: server.tls.alpn[1]: must be one of \"http/1.1\" (got \"h2\")");
  CHECK(error_of(ok + "alpn = [\"http/1.1\", \"http/1.1\"]\n") ==
        "t.toml:4:21: server.tls.alpn[1]: is listed twice (got \"http/1.1\")");
  CHECK(error_of(ok + "alpn = \"http/1.1\"\n") ==
        "t.toml:4:1: server.tls.alpn: must be an array, not a string (got \"http/1.1\")");
  CHECK(error_of(ok + "alpn = [1]\n") ==
        "t.toml:4:9: server.tls.alpn[0]: must be a string, not an integer (got 1)");
  // An absent table is plain HTTP; an empty inline one is still a [server.tls].
  CHECK_FALSE(loaded("[server]\n").server.tls.has_value());
  CHECK(errors_of("server.tls = {}\n").size() == 2);
}

TEST_CASE("config: cross-key rules", "[config]") {
  auto errors = errors_of("[http_client]\ntotal_timeout = \"4s\"\n");
  REQUIRE(errors.size() == 3);
  CHECK(errors[0] == "t.toml:1:1: http_client.connect_timeout: must not be longer than "
                     "http_client.total_timeout (4s)");
  CHECK(errors[1] == "t.toml:1:1: http_client.tls_timeout: must not be longer than "
                     "http_client.total_timeout (4s)");
  CHECK(errors[2] == "t.toml:1:1: http_client.response_header_timeout: must not be longer than "
                     "http_client.total_timeout (4s)");
  // Cross-key rules wait until the keys themselves are valid: one error, not two.
  CHECK(error_of("[http_client]\ntotal_timeout = \"soon\"\nconnect_timeout = \"2m\"\n") ==
        "t.toml:2:1: http_client.total_timeout: duration must start with a whole number, e.g. "
        "\"30s\" (got \"soon\")");
  CHECK(loaded("[http_client]\ntotal_timeout = \"10s\"\nconnect_timeout = \"10s\"\n"
               "response_header_timeout = \"10s\"\n")
            .http_client.connect_timeout == 10s);
}

TEST_CASE("config: listen addresses", "[config]") {
  auto listen = [](std::string_view v) {
    return loaded("[server]\nlisten = \"" + std::string(v) + "\"\n").server.listen;
  };
  CHECK(listen("0.0.0.0:80") == config::endpoint{"0.0.0.0", 80});
  CHECK(listen("[::]:65535") == config::endpoint{"::", 65535});
  CHECK(listen("localhost:1") == config::endpoint{"localhost", 1});
  CHECK(listen("[::ffff:127.0.0.1]:8080") == config::endpoint{"::ffff:127.0.0.1", 8080});

  auto bad = [](std::string_view v) {
    return error_of("[server]\nlisten = \"" + std::string(v) + "\"\n");
  };
  CHECK(bad("localhost") ==
        "t.toml:2:1: server.listen: address needs a port, e.g. \"127.0.0.1:8080\" "
        "(got \"localhost\")");
  CHECK(contains(bad("::1:8080"), "an IPv6 address must be in brackets"));
  CHECK(contains(bad(":8080"), "address has no host (use 0.0.0.0 or [::] for all interfaces)"));
  CHECK(contains(bad("host:0"), "port must be a number between 1 and 65535"));
  CHECK(contains(bad("host:65536"), "port must be a number between 1 and 65535"));
  CHECK(contains(bad("host:+80"), "port must be a number between 1 and 65535"));
  CHECK(contains(bad("host:80a"), "port must be a number between 1 and 65535"));
  CHECK(contains(bad("host:"), "port must be a number between 1 and 65535"));
  CHECK(contains(bad("[::1]8080"), "address needs a port, e.g. \"[::1]:8080\""));
  CHECK(contains(bad("[::1:8080"), "IPv6 address is missing its closing ']'"));
  CHECK(contains(bad("[nothex]:80"), "address has an invalid IPv6 host"));
  CHECK(contains(bad("ho st:80"), "address has an invalid host name"));
  CHECK(contains(bad(""), "address is empty"));

  CHECK(config::format_endpoint({"::1", 8080}) == "[::1]:8080");
  CHECK(config::format_endpoint({"127.0.0.1", 8080}) == "127.0.0.1:8080");
}

TEST_CASE("config: proxy URLs", "[config]") {
  auto p = config::parse_proxy_url("http://proxy.corp:3128");
  REQUIRE(p);
  CHECK(p.value.host == "proxy.corp");
  CHECK(p.value.port == 3128);
  CHECK(p.value.user.empty());
  CHECK(p.value.password.empty());

  p = config::parse_proxy_url("HTTP://svc%40corp:p%3Ass%2Fw0rd!@[fd00::1]:8080/");
  REQUIRE(p);
  CHECK(p.value.user == "svc@corp");
  CHECK(p.value.password == "p:ss/w0rd!");
  CHECK(p.value.host == "fd00::1");
  CHECK(p.value.port == 8080);

  p = config::parse_proxy_url("http://user:@proxy:1");
  REQUIRE(p);
  CHECK(p.value.user == "user");
  CHECK(p.value.password.empty());

  CHECK(config::parse_proxy_url("https://proxy:3128").error ==
        "proxy must be an http:// URL (TLS to the origin is tunnelled with CONNECT)");
  CHECK(config::parse_proxy_url("proxy:3128").error ==
        "proxy must look like http://[user:password@]host:port");
  CHECK(config::parse_proxy_url("socks5://proxy:1080").error ==
        "proxy must look like http://[user:password@]host:port");
  CHECK(config::parse_proxy_url("http://proxy").error ==
        "proxy must look like http://[user:password@]host:port");
  CHECK(config::parse_proxy_url("http://proxy:99999").error ==
        "proxy must look like http://[user:password@]host:port");
  CHECK(config::parse_proxy_url("http://proxy:3128/path").error ==
        "proxy URL must not have a path, query or fragment");
  CHECK(config::parse_proxy_url("http://proxy:3128?x").error ==
        "proxy URL must not have a path, query or fragment");
  CHECK(config::parse_proxy_url("http://user@proxy:3128").error ==
        "proxy credentials must be user:password");
  CHECK(config::parse_proxy_url("http://:pw@proxy:3128").error == "proxy user name is empty");
  CHECK(config::parse_proxy_url("http://u:p w@proxy:3128").error ==
        "proxy credentials must percent-encode special characters (e.g. @ as %40)");
  CHECK(config::parse_proxy_url("http://u:p%4@proxy:3128").error ==
        "proxy credentials must percent-encode special characters (e.g. @ as %40)");

  CHECK(config::mask_proxy_url("http://u:secret@proxy:3128") == "http://u:***@proxy:3128");
  CHECK(config::mask_proxy_url("http://proxy:3128") == "http://proxy:3128");

  // Through the file: an empty proxy is fine, a bad one is an error that never shows the URL.
  CHECK(loaded("[http_client]\nproxy = \"\"\n").http_client.proxy.empty());
  auto e = error_of("[http_client]\nproxy = \"https://admin:hunter2@proxy:3128\"\n");
  CHECK(e ==
        "t.toml:2:1: http_client.proxy: proxy must be an http:// URL (TLS to the origin is "
        "tunnelled with CONNECT)");
  CHECK_FALSE(contains(e, "hunter2"));
  e = error_of("[http_client]\nproxy = 3128\n");
  CHECK(e == "t.toml:2:1: http_client.proxy: must be a string, not an integer");
}

TEST_CASE("config: ${VAR} expansion", "[config]") {
  auto env = fake_env({{"PROXY_PASSWORD", "s3cr%40t"},
                       {"CERT_DIR", "/etc/calgate/tls"},
                       {"EMPTY", ""},
                       {"BAD_TIMEOUT", "forever-and-ever"}});
  auto cfg = loaded(R"(
[server.tls]
cert_file = "${CERT_DIR}/cert.pem"
key_file = "${CERT_DIR}/key.pem"
chain_file = "${EMPTY}"
[http_client]
proxy = "http://calgate:${PROXY_PASSWORD}@proxy.corp:3128"
user_agent = "cost $5 $${NOT_A_VAR} $"
)",
                    env);
  REQUIRE(cfg.server.tls.has_value());
  CHECK(cfg.server.tls->cert_file == "/etc/calgate/tls/cert.pem");
  CHECK(cfg.server.tls->key_file == "/etc/calgate/tls/key.pem");
  CHECK(cfg.server.tls->chain_file.empty());
  CHECK(cfg.http_client.proxy == "http://calgate:s3cr%40t@proxy.corp:3128");
  CHECK(cfg.http_client.user_agent == "cost $5 ${NOT_A_VAR} $");

  SECTION("an unset variable names the variable and the key") {
    CHECK(error_of("[http_client]\nproxy = \"http://u:${PROXY_PW}@p:1\"\n", env) ==
          "t.toml:2:1: http_client.proxy: environment variable PROXY_PW is not set");
    CHECK(error_of("[server.tls]\ncert_file = \"${NOPE}\"\nkey_file = \"k\"\n", env) ==
          "t.toml:2:1: server.tls.cert_file: environment variable NOPE is not set");
    CHECK(error_of("[server.tls]\ncert_file = \"c\"\nkey_file = \"k\"\nalpn = [\"${NOPE}\"]\n",
                   env) == "t.toml:4:9: server.tls.alpn[0]: environment variable NOPE is not set");
  }
  SECTION("malformed references") {
    CHECK(error_of("[http_client]\nca_file = \"${CERT_DIR\"\n", env) ==
          "t.toml:2:1: http_client.ca_file: unterminated ${ (write $${ for a literal ${) "
          "(got \"${CERT_DIR\")");
    CHECK(error_of("[http_client]\nca_file = \"${}\"\n", env) ==
          "t.toml:2:1: http_client.ca_file: invalid environment variable name in ${...} (use "
          "letters, digits and _) (got \"${}\")");
    CHECK(contains(error_of("[http_client]\nca_file = \"${1X}\"\n", env), "invalid environment"));
    CHECK(contains(error_of("[http_client]\nca_file = \"${A-B}\"\n", env), "invalid environment"));
  }
  SECTION("values from the environment are never echoed") {
    auto e = error_of("[server]\nheader_timeout = \"${BAD_TIMEOUT}\"\n", env);
    CHECK(e == "t.toml:2:1: server.header_timeout: duration must start with a whole number, "
               "e.g. \"30s\" (got \"${BAD_TIMEOUT}\")");
    CHECK_FALSE(contains(e, "forever"));
    auto p = error_of("[http_client]\nproxy = \"http://calgate:${PROXY_PASSWORD}@\"\n", env);
    CHECK(p == "t.toml:2:1: http_client.proxy: proxy must look like "
               "http://[user:password@]host:port");
    CHECK_FALSE(contains(p, "s3cr"));
    CHECK_FALSE(contains(p, "PROXY_PASSWORD"));
  }
  SECTION("expand_env directly") {
    auto x = config::expand_env("a${CERT_DIR}b$${c}$$d$", env);
    CHECK(x.error.empty());
    CHECK(x.substituted);
    CHECK(x.text == "a/etc/calgate/tlsb${c}$$d$");
    auto plain = config::expand_env("no refs", env);
    CHECK_FALSE(plain.substituted);
    CHECK(plain.text == "no refs");
    auto unset = config::expand_env("${X_UNSET}", env);
    CHECK(unset.variable == "X_UNSET");
    CHECK_FALSE(unset.error.empty());
    // escape_env is the inverse for literal text.
    for (std::string s : {"${A}", "$${", "$", "x$y{z}", "$$${B}"}) {
      auto round = config::expand_env(config::escape_env(s), env);
      CHECK(round.error.empty());
      CHECK(round.text == s);
    }
  }
  SECTION("the process environment is used by default") {
    ::setenv("CALGATE_CONFIG_TEST_DIR", "/from/env", 1);
    ::unsetenv("CALGATE_CONFIG_TEST_UNSET");
    auto r = config::load_string("[http_client]\nca_file = \"${CALGATE_CONFIG_TEST_DIR}/ca.pem\"\n",
                                 "env.toml");
    REQUIRE(r.config.has_value());
    CHECK(r.config->http_client.ca_file == "/from/env/ca.pem");
    auto u = config::load_string("[http_client]\nca_file = \"${CALGATE_CONFIG_TEST_UNSET}\"\n",
                                 "env.toml");
    REQUIRE(u.errors.size() == 1);
    CHECK(u.errors[0] ==
          "env.toml:2:1: http_client.ca_file: environment variable CALGATE_CONFIG_TEST_UNSET is "
          "not set");
    ::unsetenv("CALGATE_CONFIG_TEST_DIR");
  }
}

TEST_CASE("config: durations", "[config]") {
  using config::parse_duration;
  CHECK(parse_duration("250ms").value == 250ms);
  CHECK(parse_duration("10s").value == 10s);
  CHECK(parse_duration("5m").value == 5min);
  CHECK(parse_duration("1h").value == 1h);
  CHECK(parse_duration("0s").value == 0ms);
  CHECK(parse_duration("007s").value == 7s);
  CHECK(parse_duration("9223372036854775807ms").value.count() == 9223372036854775807LL);
  CHECK(parse_duration("2562047788015h").value == 2562047788015h);
  CHECK(parse_duration("1d").value == 24h);
  CHECK(parse_duration("42d").value == 42 * 24h);
  CHECK(parse_duration("106751991167d").value == 106751991167 * 24h);
  CHECK(parse_duration("106751991168d").error == "duration is too large");

  CHECK(parse_duration("").error == "duration is empty");
  CHECK(parse_duration("10").error == "duration needs a unit: ms, s, m, h or d");
  CHECK(parse_duration("-5s").error == "duration must not be negative");
  CHECK(parse_duration("+5s").error == "duration must start with a whole number, e.g. \"30s\"");
  CHECK(parse_duration("s").error == "duration must start with a whole number, e.g. \"30s\"");
  CHECK(parse_duration("soon").error == "duration must start with a whole number, e.g. \"30s\"");
  CHECK(parse_duration(" 5s").error == "duration must start with a whole number, e.g. \"30s\"");
  CHECK(parse_duration("1.5s").error ==
        "duration must be a whole number of its unit, e.g. \"1500ms\" rather than \"1.5s\"");
  CHECK(parse_duration("10 s").error == "duration has an unknown unit (use ms, s, m, h or d)");
  CHECK(parse_duration("10S").error == "duration has an unknown unit (use ms, s, m, h or d)");
  CHECK(parse_duration("10sec").error == "duration has an unknown unit (use ms, s, m, h or d)");
  CHECK(parse_duration("1D").error == "duration has an unknown unit (use ms, s, m, h or d)");
  CHECK(parse_duration("1w").error == "duration has an unknown unit (use ms, s, m, h or d)");
  CHECK(parse_duration("1h30m").error == "duration has an unknown unit (use ms, s, m, h or d)");
  CHECK(parse_duration("9223372036854775808ms").error == "duration is too large");
  CHECK(parse_duration("2562047788016h").error == "duration is too large");
  CHECK(parse_duration("99999999999999999999s").error == "duration is too large");

  CHECK(config::format_duration(250ms) == "250ms");
  CHECK(config::format_duration(1500ms) == "1500ms");
  CHECK(config::format_duration(90s) == "90s");
  CHECK(config::format_duration(120s) == "2m");
  CHECK(config::format_duration(2h) == "2h");
  CHECK(config::format_duration(25h) == "25h");
  CHECK(config::format_duration(48h) == "2d");
  CHECK(config::format_duration(0ms) == "0ms");

  // In a file: a bare number is rejected with a hint, whatever its value.
  CHECK(error_of("[server]\nidle_timeout = 60000\n") ==
        "t.toml:2:1: server.idle_timeout: must be a duration string with a unit, e.g. \"30s\" or "
        "\"250ms\" (got 60000)");
  CHECK(error_of("[server]\nidle_timeout = 1.5\n") ==
        "t.toml:2:1: server.idle_timeout: must be a duration string with a unit, e.g. \"30s\" or "
        "\"250ms\" (got 1.5)");
  CHECK(error_of("[server]\nidle_timeout = \"60\"\n") ==
        "t.toml:2:1: server.idle_timeout: duration needs a unit: ms, s, m, h or d (got \"60\")");
  CHECK(error_of("[server]\nidle_timeout = \"99999999999999999999ms\"\n") ==
        "t.toml:2:1: server.idle_timeout: duration is too large (got \"99999999999999999999ms\")");
  CHECK(error_of("[server]\nidle_timeout = \"-1s\"\n") ==
        "t.toml:2:1: server.idle_timeout: duration must not be negative (got \"-1s\")");
  CHECK(error_of("[server]\nidle_timeout = true\n") ==
        "t.toml:2:1: server.idle_timeout: must be a string, not a boolean (got true)");
  CHECK(loaded("[server]\nidle_timeout = \"1h\"\n").server.idle_timeout == 1h);
  CHECK(loaded("[server]\nheader_timeout = \"1ms\"\n").server.header_timeout == 1ms);
}

TEST_CASE("config: sizes", "[config]") {
  using config::parse_size;
  CHECK(parse_size("0B").value == 0);
  CHECK(parse_size("512B").value == 512);
  CHECK(parse_size("64KiB").value == 65536);
  CHECK(parse_size("1MiB").value == 1048576);
  CHECK(parse_size("1GiB").value == 1073741824);
  CHECK(parse_size("2TiB").value == 2ULL << 40);
  CHECK(parse_size("18446744073709551615B").value == 18446744073709551615ULL);
  CHECK(parse_size("16777215TiB").value == 16777215ULL << 40);

  CHECK(parse_size("").error == "size is empty");
  CHECK(parse_size("1024").error ==
        "size needs a unit: B, KiB, MiB, GiB or TiB (or write an integer)");
  CHECK(parse_size("-1KiB").error == "size must not be negative");
  CHECK(parse_size("KiB").error == "size must start with a whole number, e.g. \"64KiB\"");
  CHECK(parse_size("lots").error == "size must start with a whole number, e.g. \"64KiB\"");
  CHECK(parse_size("1.5MiB").error ==
        "size must be a whole number of its unit, e.g. \"1536KiB\" rather than \"1.5MiB\"");
  CHECK(parse_size("64KB").error == "size units are binary: B, KiB, MiB, GiB or TiB");
  CHECK(parse_size("64k").error == "size units are binary: B, KiB, MiB, GiB or TiB");
  CHECK(parse_size("64kib").error == "size has an unknown unit (use B, KiB, MiB, GiB or TiB)");
  CHECK(parse_size("64 KiB").error == "size has an unknown unit (use B, KiB, MiB, GiB or TiB)");
  CHECK(parse_size("18446744073709551616B").error == "size is too large");
  CHECK(parse_size("16777216TiB").error == "size is too large");
  CHECK(parse_size("17179869184GiB").error == "size is too large");

  CHECK(config::format_size(0) == "0B");
  CHECK(config::format_size(1000) == "1000B");
  CHECK(config::format_size(16384) == "16KiB");
  CHECK(config::format_size(1536 * 1024) == "1536KiB");
  CHECK(config::format_size(1ULL << 30) == "1GiB");

  CHECK(loaded("[server]\nmax_body_bytes = 4096\n").server.max_body_bytes == 4096);
  CHECK(loaded("[server]\nmax_body_bytes = \"1GiB\"\n").server.max_body_bytes == 1ULL << 30);
  CHECK(error_of("[server]\nmax_body_bytes = -1\n") ==
        "t.toml:2:1: server.max_body_bytes: size must not be negative (got -1)");
  CHECK(error_of("[server]\nmax_body_bytes = \"4096\"\n") ==
        "t.toml:2:1: server.max_body_bytes: size needs a unit: B, KiB, MiB, GiB or TiB (or write "
        "an integer) (got \"4096\")");
  CHECK(error_of("[server]\nmax_body_bytes = \"16777216TiB\"\n") ==
        "t.toml:2:1: server.max_body_bytes: size is too large (got \"16777216TiB\")");
  CHECK(error_of("[server]\nmax_body_bytes = \"1MB\"\n") ==
        "t.toml:2:1: server.max_body_bytes: size units are binary: B, KiB, MiB, GiB or TiB "
        "(got \"1MB\")");
  CHECK(error_of("[server]\nmax_body_bytes = 1.5\n") ==
        "t.toml:2:1: server.max_body_bytes: must be a size (an integer number of bytes or a "
        "string like \"64KiB\"), not a floating-point number (got 1.5)");
}

TEST_CASE("config: files", "[config]") {
  SECTION("a missing file is one clear error") {
    auto r = config::load_file("/nonexistent/calgate.toml");
    CHECK_FALSE(r.config.has_value());
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0] ==
          "/nonexistent/calgate.toml: cannot read configuration file: No such file or directory");
  }
  SECTION("a directory is one clear error") {
    auto r = config::load_file(source_dir + "/conf");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0] == source_dir + "/conf: cannot read configuration file: is a directory");
  }
  SECTION("an oversized file is one clear error") {
    std::string path = "config_test_big.toml";
    {
      std::ofstream out(path);
      std::string comment(1023, '#');
      for (int i = 0; i < 1025; ++i) out << comment << '\n';
    }
    auto r = config::load_file(path);
    std::remove(path.c_str());
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0] == "config_test_big.toml: cannot read configuration file: larger than 1 MiB");
  }
  SECTION("errors in a file carry its path") {
    std::string path = "config_test_bad.toml";
    {
      std::ofstream out(path);
      out << "[server]\nmax_connections = 0\n";
    }
    auto r = config::load_file(path);
    std::remove(path.c_str());
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0] ==
          "config_test_bad.toml:2:1: server.max_connections: must be between 1 and 1000000 "
          "(got 0)");
  }
  SECTION("conf/demo.toml loads") {
    auto r = config::load_file(source_dir + "/conf/demo.toml");
    for (const auto& e : r.errors) UNSCOPED_INFO(e);
    REQUIRE(r.errors.empty());
    REQUIRE(r.config.has_value());
    CHECK(r.config->source == source_dir + "/conf/demo.toml");
    CHECK(r.config->server.listen == config::endpoint{"127.0.0.1", 8080});
    CHECK_FALSE(r.config->server.tls.has_value());
    CHECK(r.config->log.level == log::level::info);
    CHECK(r.config->log.format == log::format::logfmt);
  }
  SECTION("conf/calgate.example.toml loads as the defaults") {
    auto r = config::load_file(source_dir + "/conf/calgate.example.toml");
    for (const auto& e : r.errors) UNSCOPED_INFO(e);
    REQUIRE(r.errors.empty());
    REQUIRE(r.config.has_value());
    config::root defaults;
    defaults.source = r.config->source;
    CHECK(*r.config == defaults);
  }
}

TEST_CASE("config: render shows the effective configuration and masks secrets", "[config]") {
  SECTION("defaults round-trip") {
    config::root defaults;
    std::string text = config::render(defaults);
    CHECK(contains(text, "\n[server]\nlisten = \"127.0.0.1:8080\"\n"));
    CHECK(contains(text, "header_timeout = \"10s\"\n"));
    CHECK(contains(text, "max_body_bytes = \"1MiB\"\n"));
    CHECK(contains(text, "# [server.tls] is not set\n"));
    CHECK(contains(text, "\n[log]\nlevel = \"info\"\nformat = \"logfmt\"\naccess = true\n"));
    auto back = loaded(text);
    back.source.clear();
    CHECK(back == defaults);
  }
  SECTION("everything set round-trips when there is no secret") {
    config::root cfg;
    cfg.server.listen = {"::1", 9443};
    cfg.server.max_body_bytes = 2000;
    cfg.server.body_timeout = 1500ms;
    cfg.server.tls = config::server_tls{"/c ${x}.pem", "/k\"q\".pem", "", "1.3", {}};
    cfg.log.level = log::level::off;
    cfg.log.format = log::format::json;
    cfg.http_client.proxy = "http://proxy:3128";
    cfg.http_client.user_agent = "ua \\ $${";
    auto back = loaded(config::render(cfg));
    back.source.clear();
    CHECK(back == cfg);
  }
  SECTION("the proxy password is masked") {
    auto cfg = loaded("[http_client]\nproxy = \"http://svc:${PW}@proxy:3128\"\n",
                      fake_env({{"PW", "hunter2"}}));
    std::string text = config::render(cfg);
    CHECK_FALSE(contains(text, "hunter2"));
    CHECK(contains(text, "proxy = \"http://svc:***@proxy:3128\"\n"));
    CHECK(contains(text, "(from t.toml)"));
    loaded(text);  // still a valid file
  }
}

TEST_CASE("config: every key is documented and in the example", "[config]") {
  auto keys = config::known_keys();
  std::set<std::string> key_set(keys.begin(), keys.end());
  CHECK(key_set.size() == keys.size());
  for (std::string k : {"server.listen", "server.max_body_bytes", "server.tls.cert_file",
                        "server.tls.alpn", "log.level", "log.access", "http_client.proxy",
                        "http_client.user_agent", "exchange.<name>.url", "exchange.<name>.max_window",
                        "exchange.<name>.account[].auth", "exchange.<name>.account[].client_secret"}) {
    CHECK(key_set.count(k) == 1);
  }
  CHECK(keys.size() == 13 + 5 + 3 + 11 + 12 + 17 + 10 + 11 + 11 + 5 + 3 + 5);

  const std::string doc = read_text(source_dir + "/README.md");
  for (const auto& k : keys) {
    INFO(k);
    CHECK(contains(doc, "| `" + k + "` |"));
  }

  // Each "# name = value" line of the example, under its (possibly commented) [table].
  std::map<std::string, std::set<std::string>> example;
  {
    std::istringstream in(read_text(source_dir + "/conf/calgate.example.toml"));
    std::string line, table;
    while (std::getline(in, line)) {
      std::string_view l = line;
      if (l.rfind("# ", 0) == 0) l.remove_prefix(2);
      if (l.size() > 2 && l.front() == '[' && l.back() == ']') {
        table = std::string(l.substr(1, l.size() - 2));
      } else if (line.rfind("# ", 0) == 0 && l.find(" = ") != std::string_view::npos &&
                 l.find(' ') == l.find(" = ")) {
        example[table].insert(std::string(l));
      }
    }
  }
  // The rendered defaults, with a default [server.tls], [ldap] and an endpoint with one
  // account (named as in the example) so their keys show.
  config::root defaults;
  defaults.server.tls = config::server_tls{};
  defaults.ldap = config::ldap{};
  defaults.exchange["main"].accounts.emplace_back();
  std::istringstream rendered(config::render(defaults));
  std::string line, table;
  std::size_t seen = 0;
  while (std::getline(rendered, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.front() == '[') {
      table = line.substr(1, line.size() - 2);
      continue;
    }
    std::string name = line.substr(0, line.find(" = "));
    INFO(table << "." << name << " should be in the example as: # " << line);
    ++seen;
    const auto& lines = example[table];
    bool has_key = false;
    for (const auto& l : lines) has_key = has_key || l.rfind(name + " = ", 0) == 0;
    CHECK(has_key);
    // Required keys show a sample path; the user agent's version changes with each release.
    if (name == "cert_file" || name == "key_file" || name == "user_agent" || (table == "ldap" && name == "url"))
      continue;
    // The example's endpoint and accounts show sample values where there is no default.
    static const std::set<std::string> samples{"url",      "name",      "user",         "password",
                                               "token_url", "client_id", "client_secret"};
    if (table.rfind("exchange.", 0) == 0 || table.rfind("[exchange.", 0) == 0) {
      if (samples.count(name)) continue;
    }
    CHECK(lines.count(line) == 1);
  }
  CHECK(seen == keys.size());
}

TEST_CASE("config: [ldap] and [directory]", "[config][directory]") {
  const std::string base = "[ldap]\nurl = \"ldaps://dc1.corp.example ldaps://dc2.corp.example:3269\"\n"
                           "bind_dn = \"cn=calgate,ou=svc,dc=corp,dc=example\"\n"
                           "bind_password = \"${PW}\"\n[directory]\nbase_dn = \"dc=corp,dc=example\"\n";
  auto r = config::load_string(base, "t.toml", [](std::string_view n) -> std::optional<std::string> {
    if (n == "PW") return std::string("s3cret");
    return std::nullopt;
  });
  REQUIRE(r.errors.empty());
  REQUIRE(r.config->ldap.has_value());
  CHECK(r.config->ldap->bind_password == "s3cret");
  CHECK(r.config->ldap->connections == 2);
  CHECK(r.config->directory.profile == "active_directory");
  // Without [ldap] there is no directory; with it, base_dn is required.
  CHECK_FALSE(loaded("").ldap.has_value());
  CHECK(error_of("[ldap]\nurl = \"ldap://x\"\n") == "t.toml:1:1: directory: directory.base_dn is required with [ldap]");
  CHECK(error_of("[ldap]\n") == "t.toml:1:1: ldap.url: is required in [ldap]");
  CHECK(error_of("[ldap]\nurl = \"http://x\"\n[directory]\nbase_dn=\"dc=x\"\n") ==
        "t.toml:2:1: ldap.url: must be ldap://host[:port] or ldaps://host[:port] (several separated by spaces) (got \"http://x\")");
  CHECK(error_of("[ldap]\nurl = \"ldaps://x\"\nstarttls = true\n[directory]\nbase_dn=\"dc=x\"\n") ==
        "t.toml:3:1: ldap.starttls: cannot be combined with an ldaps:// URL (that is TLS already)");
  CHECK(error_of("[ldap]\nurl = \"ldap://x\"\ntls_require_cert = \"maybe\"\n[directory]\nbase_dn=\"dc=x\"\n") ==
        "t.toml:3:1: ldap.tls_require_cert: must be one of \"never\", \"allow\", \"try\", \"demand\", \"hard\" "
        "(got \"maybe\")");
  // The password never appears in messages.
  auto bad = errors_of("[ldap]\nurl = \"ldap://x\"\nbind_password = 12\n[directory]\nbase_dn=\"dc=x\"\n");
  REQUIRE(bad.size() == 1);
  CHECK(bad[0] == "t.toml:3:1: ldap.bind_password: must be a string, not an integer");
}

TEST_CASE("config: directory filters, maps and attribute names are checked", "[config][directory]") {
  CHECK(error_of("[directory]\naddress_filter = \"(mail={addr})\"\n") ==
        "t.toml:2:1: directory.address_filter: must be an LDAP filter using {address} (got \"(mail={addr})\")");
  CHECK(error_of("[directory]\naddress_filter = \"(mail=x)\"\n") ==
        "t.toml:2:1: directory.address_filter: must contain {address} (got \"(mail=x)\")");
  CHECK(error_of("[directory]\nobject_filter = \"objectClass=user\"\n") ==
        "t.toml:2:1: directory.object_filter: must be an LDAP filter such as \"(objectClass=user)\" without "
        "{placeholders} (got \"objectClass=user\")");
  CHECK(error_of("[directory]\nsearch_filter = \"(|(cn={query}*)(mail={query}*)\"\n") ==
        "t.toml:2:1: directory.search_filter: must be an LDAP filter using {query} (got \"(|(cn={query}*)(mail={query}*)\")");
  CHECK(loaded("[directory]\nsearch_filter = \"(|(cn={query}*)(mail={query}*))\"\n").directory.search_filter ==
        "(|(cn={query}*)(mail={query}*))");
  auto maps = loaded(
      "[directory]\nendpoint_map = { EXCH01 = \"onprem\", \"EXCH-EU-01\" = \"eu\" }\n"
      "domain_map = { \"Partner.Example\" = \"corp.example\" }\nkind_values = { \"16\" = \"room\" }\n"
      "[directory.attributes]\nproxy_addresses = \"none\"\nkind = \"employeeType\"\n");
  CHECK(maps.directory.endpoint_map.at("EXCH-EU-01") == "eu");
  CHECK(maps.directory.domain_map.at("Partner.Example") == "corp.example");
  CHECK(maps.directory.kind_values.at("16") == "room");
  CHECK(maps.directory.attributes.kind == "employeeType");
  CHECK(error_of("[directory]\ndomain_map = { \"a@b\" = \"corp.example\" }\n") ==
        "t.toml:2:24: directory.domain_map.\"a@b\": must be a domain name such as \"corp.example\" (no '@')");
  CHECK(error_of("[directory]\nkind_values = { \"16\" = \"chair\" }\n") ==
        "t.toml:2:24: directory.kind_values.16: must be one of \"user\", \"contact\", \"room\", \"resource\" "
        "(got \"chair\")");
  CHECK(error_of("[directory]\nendpoint_map = { X = \"has space\" }\n") ==
        "t.toml:2:22: directory.endpoint_map.X: must be an endpoint name (letters, digits, '-', '_', '.'; at most 64) "
        "(got \"has space\")");
  CHECK(error_of("[directory]\nendpoint_map = \"EXCH01=onprem\"\n") ==
        "t.toml:2:1: directory.endpoint_map: must be a table, not a string (got \"EXCH01=onprem\")");
  CHECK(error_of("[directory.attributes]\nmail = \"mail)(x\"\n") ==
        "t.toml:2:1: directory.attributes.mail: must be an LDAP attribute name (got \"mail)(x\")");
}

namespace {

// An endpoint and the directory pointing at it (lines 1-4), then one NTLM account (lines 5-8).
const std::string endpoint_head =
    "[directory]\ndefault_endpoint = \"main\"\n[exchange.main]\nurl = \"https://mail.corp.example/EWS/Exchange.asmx\"\n";
const std::string ntlm_account =
    "[[exchange.main.account]]\nname = \"svc\"\nuser = \"CORP\\\\svc\"\npassword = \"pw\"\n";

const std::string full_exchange = R"([directory]
default_endpoint = "main"
endpoint_map = { EXCH01 = "main", "EXCH-EU-01" = "eu" }

[exchange.main]
url = "https://mail.corp.example/EWS/Exchange.asmx"
version = "Exchange2016"
fallback_version = "Exchange2010_SP2"
max_mailboxes_per_request = 50
max_window = "30d"
max_parallel = 8
request_timeout = "20s"
max_attempts = 3
retry_min = "100ms"
retry_max = "2s"
max_response_bytes = "32MiB"

[[exchange.main.account]]
name = "svc-ntlm"
auth = "ntlm"
user = "CORP\\svc-calgate"
password = "${EWS_PW}"
max_concurrency = 4

[[exchange.main.account]]
name = "svc.basic"
auth = "basic"
user = "svc@corp.example"
password = "p@ss w0rd"

[exchange.eu]
url = "http://exch-eu.corp.example:8080/EWS/Exchange.asmx"

[[exchange.eu.account]]
name = "oauth"
auth = "bearer"
token_url = "https://login.microsoftonline.com/tenant/oauth2/v2.0/token"
client_id = "app-id"
client_secret = "${EWS_SECRET}"
scope = "https://outlook.office365.com/EWS.AccessAsUser.All"
refresh_before = "2m"
token_timeout = "5s"
)";

config::env_lookup exchange_env() { return fake_env({{"EWS_PW", "hunter2"}, {"EWS_SECRET", "s3cr3t-value"}}); }

}  // namespace

TEST_CASE("config: [exchange.<name>] endpoints and their accounts", "[config][exchange]") {
  auto cfg = loaded(full_exchange, exchange_env());
  REQUIRE(cfg.exchange.size() == 2);
  const auto& main = cfg.exchange.at("main");
  CHECK(main.url == "https://mail.corp.example/EWS/Exchange.asmx");
  CHECK(main.version == "Exchange2016");
  CHECK(main.fallback_version == "Exchange2010_SP2");
  CHECK(main.max_mailboxes_per_request == 50);
  CHECK(main.max_window == 30 * 24h);
  CHECK(main.max_parallel == 8);
  CHECK(main.request_timeout == 20s);
  CHECK(main.max_attempts == 3);
  CHECK(main.retry_min == 100ms);
  CHECK(main.retry_max == 2s);
  CHECK(main.max_response_bytes == 32u << 20);
  REQUIRE(main.accounts.size() == 2);
  CHECK(main.accounts[0].name == "svc-ntlm");
  CHECK(main.accounts[0].auth == "ntlm");
  CHECK(main.accounts[0].user == "CORP\\svc-calgate");
  CHECK(main.accounts[0].password == "hunter2");
  CHECK(main.accounts[0].max_concurrency == 4);
  CHECK(main.accounts[1].name == "svc.basic");
  CHECK(main.accounts[1].auth == "basic");
  CHECK(main.accounts[1].password == "p@ss w0rd");
  CHECK(main.accounts[1].max_concurrency == 8);
  const auto& eu = cfg.exchange.at("eu");
  CHECK(eu.url == "http://exch-eu.corp.example:8080/EWS/Exchange.asmx");
  CHECK(eu.version == "Exchange2013");
  CHECK(eu.fallback_version == "Exchange2007_SP1");
  CHECK(eu.max_window == 42 * 24h);
  CHECK(eu.max_response_bytes == 64u << 20);
  REQUIRE(eu.accounts.size() == 1);
  const auto& oauth = eu.accounts[0];
  CHECK(oauth.auth == "bearer");
  CHECK(oauth.user.empty());
  CHECK(oauth.password.empty());
  CHECK(oauth.token_url == "https://login.microsoftonline.com/tenant/oauth2/v2.0/token");
  CHECK(oauth.client_id == "app-id");
  CHECK(oauth.client_secret == "s3cr3t-value");
  CHECK(oauth.scope == "https://outlook.office365.com/EWS.AccessAsUser.All");
  CHECK(oauth.refresh_before == 2min);
  CHECK(oauth.token_timeout == 5s);

  SECTION("defaults of an endpoint and an account") {
    auto d = loaded(endpoint_head + ntlm_account);
    const auto& e = d.exchange.at("main");
    config::exchange_endpoint expected;
    expected.url = "https://mail.corp.example/EWS/Exchange.asmx";
    config::exchange_account a;
    a.name = "svc";
    a.user = "CORP\\svc";
    a.password = "pw";
    expected.accounts.push_back(a);
    CHECK(e == expected);
    CHECK(a.auth == "ntlm");
    CHECK(a.scope == "https://outlook.office365.com/.default");
    CHECK(a.refresh_before == 5min);
    CHECK(a.token_timeout == 10s);
    CHECK(expected.max_attempts == 4);
    CHECK(expected.max_parallel == 4);
  }
  SECTION("inline arrays of tables and dotted keys are the same TOML") {
    auto d = loaded(
        "directory.default_endpoint = \"main\"\n"
        "exchange.main.url = \"https://x.example/EWS/Exchange.asmx\"\n"
        "exchange.main.account = [ { name = \"a\", user = \"u\", password = \"p\" },"
        " { name = \"b\", auth = \"basic\", user = \"v\", password = \"q\" } ]\n");
    REQUIRE(d.exchange.at("main").accounts.size() == 2);
    CHECK(d.exchange.at("main").accounts[1].auth == "basic");
  }
  SECTION("the whole example round-trips through render(), secrets masked") {
    std::string text = config::render(cfg);
    INFO(text);
    CHECK_FALSE(contains(text, "hunter2"));
    CHECK_FALSE(contains(text, "p@ss w0rd"));
    CHECK_FALSE(contains(text, "s3cr3t-value"));
    CHECK(contains(text, "\n[exchange.eu]\nurl = \"http://exch-eu.corp.example:8080/EWS/Exchange.asmx\"\n"));
    CHECK(contains(text, "\n[[exchange.main.account]]\nname = \"svc-ntlm\"\nauth = \"ntlm\"\n"
                         "user = \"CORP\\\\svc-calgate\"\npassword = \"********\"\nmax_concurrency = 4\n"));
    CHECK(contains(text, "max_window = \"30d\"\n"));
    CHECK(contains(text, "client_secret = \"********\"\n"));
    auto back = loaded(text);
    back.source.clear();
    // Only the secrets differ; put them back and the rest is what was loaded.
    auto& accounts = back.exchange.at("main").accounts;
    CHECK(accounts[0].password == "********");
    accounts[0].password = "hunter2";
    accounts[1].password = "p@ss w0rd";
    CHECK(back.exchange.at("eu").accounts[0].client_secret == "********");
    back.exchange.at("eu").accounts[0].client_secret = "s3cr3t-value";
    config::root expected = cfg;
    expected.source.clear();
    CHECK(back == expected);
  }
  SECTION("without [exchange.*] render says so, and nothing is cross-checked") {
    CHECK(contains(config::render(config::root{}), "\n# no [exchange.<name>] is set\n"));
    CHECK(loaded("[directory]\nendpoint_map = { X = \"nowhere\" }\n").exchange.empty());
  }
  SECTION("an unset variable in a secret names the variable, not the value") {
    auto errors = errors_of(full_exchange, fake_env({{"EWS_PW", "hunter2"}}));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0] == "t.toml:39:1: exchange.eu.account[0].client_secret: environment variable EWS_SECRET is not set");
  }
}

TEST_CASE("config: [exchange.<name>] errors", "[config][exchange]") {
  const std::string ok = endpoint_head + ntlm_account;
  REQUIRE(loaded(ok).exchange.size() == 1);
  // An account with these lines (its [[header]] is line 5).
  auto account = [](std::string_view lines) {
    return endpoint_head + "[[exchange.main.account]]\n" + std::string(lines);
  };

  SECTION("the endpoint's url") {
    CHECK(error_of("[directory]\ndefault_endpoint = \"main\"\n[exchange.main]\n" + ntlm_account) ==
          "t.toml:3:1: exchange.main.url: is required in [exchange.main]");
    CHECK(error_of("[exchange.main]\nurl = \"ftp://x/EWS\"\n" + ntlm_account) ==
          "t.toml:2:1: exchange.main.url: must be an http:// or https:// URL such as "
          "\"https://mail.corp.example/EWS/Exchange.asmx\" (got \"ftp://x/EWS\")");
    // Credentials belong to the accounts, and are not echoed.
    CHECK(error_of("[exchange.main]\nurl = \"https://u:secret@x/EWS\"\n" + ntlm_account) ==
          "t.toml:2:1: exchange.main.url: must not contain a user name or password (set them in the account)");
  }
  SECTION("versions") {
    CHECK(error_of(endpoint_head + "version = \"Exchange2019\"\n" + ntlm_account) ==
          "t.toml:5:1: exchange.main.version: is not an EWS schema version: real Exchange 2019 servers reject it "
          "(ErrorInvalidRequest); use \"Exchange2016\" or \"Exchange2013\" (got \"Exchange2019\")");
    CHECK(error_of(endpoint_head + "fallback_version = \"Exchange2007\"\n" + ntlm_account) ==
          "t.toml:5:1: exchange.main.fallback_version: must be one of \"Exchange2007_SP1\", \"Exchange2010\", "
          "\"Exchange2010_SP1\", \"Exchange2010_SP2\", \"Exchange2013\", \"Exchange2013_SP1\", \"Exchange2016\" "
          "(got \"Exchange2007\")");
    CHECK(loaded(endpoint_head + "version = \"Exchange2010_SP2\"\n" + ntlm_account).exchange.at("main").version ==
          "Exchange2010_SP2");
  }
  SECTION("limits") {
    CHECK(error_of(endpoint_head + "max_mailboxes_per_request = 101\n" + ntlm_account) ==
          "t.toml:5:1: exchange.main.max_mailboxes_per_request: must be between 1 and 100 (got 101)");
    CHECK(error_of(endpoint_head + "max_window = \"63d\"\n" + ntlm_account) ==
          "t.toml:5:1: exchange.main.max_window: must be between 1h and 62d (got \"63d\")");
    CHECK(error_of(endpoint_head + "max_window = \"3601s\"\n" + ntlm_account) ==
          "t.toml:5:1: exchange.main.max_window: must be a whole number of minutes");
    CHECK(error_of(endpoint_head + "max_parallel = 0\n" + ntlm_account) ==
          "t.toml:5:1: exchange.main.max_parallel: must be between 1 and 64 (got 0)");
    CHECK(error_of(endpoint_head + "max_attempts = 11\n" + ntlm_account) ==
          "t.toml:5:1: exchange.main.max_attempts: must be between 1 and 10 (got 11)");
    CHECK(error_of(endpoint_head + "retry_min = \"10s\"\n" + ntlm_account) ==
          "t.toml:5:1: exchange.main.retry_min: must not be longer than exchange.main.retry_max (5s)");
    CHECK(error_of(endpoint_head + "max_response_bytes = \"2GiB\"\n" + ntlm_account) ==
          "t.toml:5:1: exchange.main.max_response_bytes: must be between 1KiB and 1GiB (got \"2GiB\")");
    CHECK(error_of("[http_client]\ntotal_timeout = \"20s\"\nresponse_header_timeout = \"10s\"\n" + ok) ==
          "t.toml:6:1: exchange.main.request_timeout: must not be longer than http_client.total_timeout (20s)");
    CHECK(error_of(account("name = \"svc\"\nuser = \"u\"\npassword = \"p\"\nmax_concurrency = 257\n")) ==
          "t.toml:9:1: exchange.main.account[0].max_concurrency: must be between 1 and 256 (got 257)");
  }
  SECTION("bad auth") {
    CHECK(error_of(account("name = \"svc\"\nauth = \"kerberos\"\nuser = \"u\"\npassword = \"p\"\n")) ==
          "t.toml:7:1: exchange.main.account[0].auth: must be one of \"basic\", \"ntlm\", \"bearer\" (got \"kerberos\")");
  }
  SECTION("basic and ntlm need a user and a password, and no token keys") {
    CHECK(error_of(account("name = \"svc\"\nuser = \"CORP\\\\svc\"\n")) ==
          "t.toml:5:1: exchange.main.account[0].password: is required with auth = \"ntlm\"");
    auto both = errors_of(account("name = \"svc\"\nauth = \"basic\"\n"));
    REQUIRE(both.size() == 2);
    CHECK(both[0] == "t.toml:5:1: exchange.main.account[0].user: is required with auth = \"basic\"");
    CHECK(both[1] == "t.toml:5:1: exchange.main.account[0].password: is required with auth = \"basic\"");
    CHECK(error_of(account("name = \"svc\"\nauth = \"basic\"\nuser = \"a:b\"\npassword = \"p\"\n")) ==
          "t.toml:8:1: exchange.main.account[0].user: must not contain ':' with auth = \"basic\" (RFC 7617)");
    auto token_keys = errors_of(ok + "token_url = \"https://login.example/t\"\nscope = \"x\"\n");
    REQUIRE(token_keys.size() == 2);
    CHECK(token_keys[0] ==
          "t.toml:9:1: exchange.main.account[0].token_url: must be empty with auth = \"ntlm\" (only bearer accounts use it)");
    CHECK(token_keys[1] == "t.toml:10:1: exchange.main.account[0].scope: is set, but only accounts with auth = \"bearer\" use it");
    CHECK(error_of(account("name = \"svc\"\nuser = \"u\\u0007\"\npassword = \"p\"\n")) ==
          "t.toml:7:1: exchange.main.account[0].user: must be UTF-8 text without control characters (got \"u\\u0007\")");
  }
  SECTION("bearer needs token_url, client_id and client_secret, and no user or password") {
    CHECK(error_of(account("name = \"o\"\nauth = \"bearer\"\nclient_id = \"app\"\nclient_secret = \"s\"\n")) ==
          "t.toml:5:1: exchange.main.account[0].token_url: is required with auth = \"bearer\"");
    CHECK(error_of(account("name = \"o\"\nauth = \"bearer\"\ntoken_url = \"https://login.example/t\"\n"
                           "client_id = \"app\"\nclient_secret = \"s\"\npassword = \"${PW}\"\n"),
                   fake_env({{"PW", "hunter2"}})) ==
          "t.toml:11:1: exchange.main.account[0].password: must be empty with auth = \"bearer\" (the token identifies "
          "the caller)");
    CHECK(error_of(account("name = \"o\"\nauth = \"bearer\"\ntoken_url = \"login.example\"\n"
                           "client_id = \"app\"\nclient_secret = \"s\"\n")) ==
          "t.toml:8:1: exchange.main.account[0].token_url: must be an http:// or https:// URL such as "
          "\"https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token\" (got \"login.example\")");
  }
  SECTION("account names: required, well-formed, unique within the endpoint") {
    CHECK(error_of(account("user = \"u\"\npassword = \"p\"\n")) ==
          "t.toml:5:1: exchange.main.account[0].name: is required in [[exchange.main.account]]");
    CHECK(error_of(account("name = \"a b\"\nuser = \"u\"\npassword = \"p\"\n")) ==
          "t.toml:6:1: exchange.main.account[0].name: must be an account name (letters, digits, '-', '_', '.'; at "
          "most 64) (got \"a b\")");
    CHECK(error_of(ok + ntlm_account) ==
          "t.toml:10:1: exchange.main.account[1].name: is already used by exchange.main.account[0] (got \"svc\")");
    // The same name in another endpoint is fine.
    auto two = loaded(ok + "[exchange.other]\nurl = \"https://other.example/EWS/Exchange.asmx\"\n"
                           "[[exchange.other.account]]\nname = \"svc\"\nuser = \"u\"\npassword = \"p\"\n");
    CHECK(two.exchange.at("other").accounts[0].name == "svc");
  }
  SECTION("unknown keys inside an account, with file:line:column and a suggestion") {
    auto unknown = errors_of(ok + "usr = \"x\"\nfrobnicate = 1\n");
    REQUIRE(unknown.size() == 2);
    CHECK(unknown[0] == "t.toml:9:1: exchange.main.account[0].usr: unknown key (did you mean \"user\"?)");
    CHECK(unknown[1] == "t.toml:10:1: exchange.main.account[0].frobnicate: unknown key");
    // In the second account, after a valid first one.
    std::string second = ntlm_account;
    second.replace(second.find("svc\""), 3, "two");
    CHECK(error_of(ok + second + "pasword = \"y\"\n") ==
          "t.toml:13:1: exchange.main.account[1].pasword: unknown key (did you mean \"password\"?)");
    CHECK(error_of(endpoint_head + "[exchange.main.acount]\n" + ntlm_account) ==
          "t.toml:5:1: exchange.main.acount: unknown table (did you mean \"account\"?)");
    CHECK(error_of("[exchnage.main]\n") == "t.toml:1:1: exchnage: unknown table (did you mean \"exchange\"?)");
  }
  SECTION("zero accounts") {
    CHECK(error_of(endpoint_head) ==
          "t.toml:3:1: exchange.main.account: is required in [exchange.main] (at least one [[exchange.main.account]])");
    CHECK(error_of(endpoint_head + "account = []\n") ==
          "t.toml:5:1: exchange.main.account: must have at least one table ([[exchange.main.account]])");
    CHECK(error_of(endpoint_head + "account = \"svc\"\n") ==
          "t.toml:5:1: exchange.main.account: must be an array of tables ([[exchange.main.account]]), not a string");
    CHECK(error_of(endpoint_head + "account = [1]\n") ==
          "t.toml:5:1: exchange.main.account: must be an array of tables ([[exchange.main.account]]), not an array "
          "of other values");
  }
  SECTION("endpoint names and the shape of [exchange]") {
    CHECK(error_of("[exchange.\"a b\"]\nurl = \"https://x/EWS\"\n") ==
          "t.toml:1:1: exchange.\"a b\": the name must be an endpoint name (letters, digits, '-', '_', '.'; at most 64)");
    CHECK(error_of("[exchange]\nurl = \"https://x/EWS\"\n") ==
          "t.toml:2:1: exchange.url: belongs in a named table such as [exchange.main] (the keys of [exchange] are names)");
    CHECK(error_of("[exchange]\nmain = 1\n") ==
          "t.toml:2:1: exchange.main: must be a table such as [exchange.main], not an integer");
    CHECK(error_of("exchange = 3\n") == "t.toml:1:1: exchange: must be a table, not an integer");
  }
  SECTION("the directory must name configured endpoints") {
    CHECK(error_of("[directory]\ndefault_endpoint = \"main\"\nendpoint_map = { EXCH01 = \"main\", EXCH02 = \"eu\" }\n"
                   "[exchange.main]\nurl = \"https://x/EWS\"\n" + ntlm_account) ==
          "t.toml:3:44: directory.endpoint_map.EXCH02: names endpoint \"eu\", but there is no [exchange.eu] "
          "(configured: \"main\")");
    CHECK(error_of("[directory]\ndefault_endpoint = \"eu\"\n[exchange.main]\nurl = \"https://x/EWS\"\n" + ntlm_account) ==
          "t.toml:2:1: directory.default_endpoint: names endpoint \"eu\", but there is no [exchange.eu] "
          "(configured: \"main\")");
    // default_endpoint is "default" unless set.
    CHECK(error_of("[exchange.main]\nurl = \"https://x/EWS\"\n" + ntlm_account) ==
          "t.toml:1:1: directory.default_endpoint: is \"default\" by default, but there is no [exchange.default] "
          "(configured: \"main\"); set it to one of the configured endpoints");
    auto named_default = loaded("[exchange.default]\nurl = \"https://x/EWS\"\n"
                                "[[exchange.default.account]]\nname = \"a\"\nuser = \"u\"\npassword = \"p\"\n");
    CHECK(named_default.exchange.count("default") == 1);
  }
}

TEST_CASE("config: an [exchange.<name>] becomes EWS client options and OAuth credentials", "[config][exchange]") {
  auto cfg = loaded(full_exchange, exchange_env());
  auto main = app::ews_options_from("main", cfg.exchange.at("main"));
  CHECK(main.name == "main");
  CHECK(main.url == "https://mail.corp.example/EWS/Exchange.asmx");
  CHECK(main.version == "Exchange2016");
  CHECK(main.fallback_version == "Exchange2010_SP2");
  CHECK(main.max_mailboxes_per_request == 50);
  CHECK(main.max_window == std::chrono::minutes(30 * 24 * 60));
  CHECK(main.max_parallel == 8);
  CHECK(main.request_timeout == 20s);
  CHECK(main.max_attempts == 3);
  CHECK(main.retry_min == 100ms);
  CHECK(main.retry_max == 2s);
  CHECK(main.max_response_bytes == 32u << 20);
  REQUIRE(main.accounts.size() == 2);
  CHECK(main.accounts[0].name == "svc-ntlm");
  CHECK(main.accounts[0].auth == proto::ews::auth_kind::ntlm);
  CHECK(main.accounts[0].user == "CORP\\svc-calgate");
  CHECK(main.accounts[0].password == "hunter2");
  CHECK(main.accounts[0].max_concurrency == 4);
  CHECK(main.accounts[1].auth == proto::ews::auth_kind::basic);
  CHECK_FALSE(main.accounts[1].tokens);

  auto eu = app::ews_options_from("eu", cfg.exchange.at("eu"));
  REQUIRE(eu.accounts.size() == 1);
  CHECK(eu.accounts[0].auth == proto::ews::auth_kind::bearer);
  CHECK(eu.max_window == std::chrono::minutes(42 * 24 * 60));
  auto creds = app::oauth_credentials_from(cfg.exchange.at("eu").accounts[0]);
  CHECK(creds.token_url == "https://login.microsoftonline.com/tenant/oauth2/v2.0/token");
  CHECK(creds.client_id == "app-id");
  CHECK(creds.client_secret == "s3cr3t-value");
  CHECK(creds.scope == "https://outlook.office365.com/EWS.AccessAsUser.All");
  CHECK(creds.refresh_before == 2min);
  CHECK(creds.timeout == 5s);

  // The defaults of both sides agree.
  config::exchange_endpoint e;
  e.accounts.emplace_back();
  auto d = app::ews_options_from("default", e);
  proto::ews::endpoint_options want;
  CHECK(d.version == want.version);
  CHECK(d.fallback_version == want.fallback_version);
  CHECK(d.max_mailboxes_per_request == want.max_mailboxes_per_request);
  CHECK(d.max_window == want.max_window);
  CHECK(d.max_parallel == want.max_parallel);
  CHECK(d.request_timeout == want.request_timeout);
  CHECK(d.max_attempts == want.max_attempts);
  CHECK(d.retry_min == want.retry_min);
  CHECK(d.retry_max == want.retry_max);
  CHECK(d.max_response_bytes == want.max_response_bytes);
  CHECK(d.accounts[0].max_concurrency == proto::ews::account{}.max_concurrency);
  CHECK(d.accounts[0].auth == proto::ews::auth_kind::ntlm);
  proto::oauth::client_credentials want_creds;
  auto dc = app::oauth_credentials_from(e.accounts[0]);
  CHECK(dc.refresh_before == want_creds.refresh_before);
  CHECK(dc.timeout == want_creds.timeout);
}
