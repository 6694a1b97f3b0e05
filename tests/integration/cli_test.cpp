#include <catch2/catch.hpp>

#include <csignal>
#include <string>

#include "net/http/client.hpp"
#include "net/tcp.hpp"
#include "support/http_fixture.hpp"
#include "support/http_when_up.hpp"
#include "support/loop_test.hpp"
#include "support/process.hpp"

using namespace calgate;
using namespace std::chrono_literals;

namespace {

const std::string calgate_bin = CALGATE_BINARY;

// GETs url until it answers (or ~5 s pass); returns the response or an empty one.
net::http::client_response get_when_up(const std::string& url) {
  return test::send_when_up({"GET", url}, {}, 2000ms);
}

}  // namespace

TEST_CASE("cli: version, help and usage errors", "[cli]") {
  auto [st, out] = test::run_command({calgate_bin, "version"}, 5s);
  REQUIRE(st == 0);
  REQUIRE_THAT(out, Catch::StartsWith("calgate 0."));
  auto [hst, hout] = test::run_command({calgate_bin, "--help"}, 5s);
  REQUIRE(hst == 0);
  REQUIRE_THAT(hout, Catch::Contains("calgate serve --config FILE"));
  auto [nst, nout] = test::run_command({calgate_bin}, 5s);
  REQUIRE(nst == 2);
  REQUIRE_THAT(nout, Catch::Contains("missing command"));
  auto [ust, uout] = test::run_command({calgate_bin, "frobnicate"}, 5s);
  REQUIRE(ust == 2);
  REQUIRE_THAT(uout, Catch::Contains("unknown command 'frobnicate'"));
  auto [sst, sout] = test::run_command({calgate_bin, "serve"}, 5s);
  REQUIRE(sst == 2);
  REQUIRE_THAT(sout, Catch::Contains("serve needs --config FILE"));
  auto [lst, lout] = test::run_command({calgate_bin, "serve", "--config", "x.toml", "--listen", "nonsense"}, 5s);
  REQUIRE(lst == 2);
  REQUIRE_THAT(lout, Catch::Contains("--listen"));
}

TEST_CASE("cli: check-config reports every problem with file, line and key", "[cli][config]") {
  test::temp_dir d;
  d.write("good.toml", "[server]\nlisten = \"127.0.0.1:9999\"\n");
  d.write("bad.toml", "[server]\nmax_connections = 0\nlisten = \"nowhere\"\n[nonsense]\n");
  auto [gst, gout] = test::run_command({calgate_bin, "check-config", d.file("good.toml")}, 5s);
  REQUIRE(gst == 0);
  REQUIRE_THAT(gout, Catch::Contains("configuration OK"));
  auto [bst, bout] = test::run_command({calgate_bin, "check-config", d.file("bad.toml")}, 5s);
  REQUIRE(bst == 1);
  REQUIRE_THAT(bout, Catch::Contains(d.file("bad.toml") + ":2:1: server.max_connections:"));
  REQUIRE_THAT(bout, Catch::Contains(d.file("bad.toml") + ":3:1: server.listen:"));
  REQUIRE_THAT(bout, Catch::Contains("nonsense"));
  auto [mst, mout] = test::run_command({calgate_bin, "check-config", d.file("missing.toml")}, 5s);
  REQUIRE(mst == 1);
  REQUIRE_THAT(mout, Catch::Contains("missing.toml"));
}

TEST_CASE("cli: check-config --print masks secrets from the environment", "[cli][config]") {
  test::temp_dir d;
  d.write("c.toml", "[http_client]\nproxy = \"http://gw:${CALGATE_TEST_PROXY_PW}@proxy.example:3128\"\n");
  test::process p({calgate_bin, "check-config", d.file("c.toml"), "--print"}, {"CALGATE_TEST_PROXY_PW=hunter2"});
  REQUIRE(p.wait(5s) == 0);
  std::string out = p.output();
  REQUIRE_THAT(out, Catch::Contains("proxy.example:3128"));
  REQUIRE_THAT(out, !Catch::Contains("hunter2"));
  auto [ust, uout] = test::run_command({calgate_bin, "check-config", d.file("c.toml")}, 5s);
  REQUIRE(ust == 1);  // the variable is not set here
  REQUIRE_THAT(uout, Catch::Contains("CALGATE_TEST_PROXY_PW"));
}

TEST_CASE("cli: check-config loads the TLS material it names", "[cli][config]") {
  test::temp_dir d;
  d.write("t.toml", "[server.tls]\ncert_file = \"" + d.file("nope.pem") + "\"\nkey_file = \"" + d.file("nope.key") + "\"\n");
  auto [st, out] = test::run_command({calgate_bin, "check-config", d.file("t.toml")}, 5s);
  REQUIRE(st == 1);
  REQUIRE_THAT(out, Catch::Contains("server.tls"));
  REQUIRE_THAT(out, Catch::Contains("nope.pem"));
}

TEST_CASE("cli: serve answers health checks and exits 0 on SIGTERM", "[cli][serve]") {
  test::temp_dir d;
  d.write("c.toml", "[server]\nlisten = \"127.0.0.1:1\"\nshutdown_grace = \"2s\"\n[log]\nformat = \"json\"\n");
  std::uint16_t port = test::free_port();
  test::process p({calgate_bin, "serve", "--config", d.file("c.toml"), "--listen", "127.0.0.1:" + std::to_string(port)});
  auto health = get_when_up("http://127.0.0.1:" + std::to_string(port) + "/healthz");
  REQUIRE(health.status == 200);
  REQUIRE(health.body == "{\"status\":\"ok\"}");
  auto ready = get_when_up("http://127.0.0.1:" + std::to_string(port) + "/readyz");
  REQUIRE(ready.status == 200);
  REQUIRE_THAT(ready.body, Catch::Contains("\"status\":\"ready\""));
  auto metrics = get_when_up("http://127.0.0.1:" + std::to_string(port) + "/metrics");
  REQUIRE(metrics.status == 200);
  REQUIRE_THAT(metrics.body, Catch::Contains("calgate_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1"));
  REQUIRE_THAT(metrics.body, Catch::Contains("calgate_build_info{version="));
  REQUIRE_THAT(metrics.body, Catch::Contains("process_resident_memory_bytes"));
  p.signal(SIGTERM);
  REQUIRE(p.wait(5s) == 0);
  std::string out = p.output();
  REQUIRE_THAT(out, Catch::Contains("\"msg\":\"calgate listening\""));
  REQUIRE_THAT(out, Catch::Contains("\"signal\":\"SIGTERM\""));
  REQUIRE_THAT(out, Catch::Contains("\"msg\":\"calgate stopped\",\"exit_code\":0"));
  REQUIRE_THAT(out, !Catch::Contains("handle still open"));
}

TEST_CASE("cli: serve exits 1 with a clear message when the port is taken", "[cli][serve]") {
  test::temp_dir d;
  d.write("c.toml", "");
  test::run_loop_test([&]() -> rt::task<void> {
    net::tcp_listener busy;
    REQUIRE_FALSE(busy.listen("127.0.0.1", 0));
    auto [st, out] = test::run_command(
        {calgate_bin, "serve", "--config", d.file("c.toml"), "--listen", "127.0.0.1:" + std::to_string(busy.port())}, 5s);
    REQUIRE(st == 1);
    REQUIRE_THAT(out, Catch::Contains("cannot listen on 127.0.0.1:" + std::to_string(busy.port())));
    REQUIRE_THAT(out, Catch::Contains("address already in use"));
    co_return;
  });
}
