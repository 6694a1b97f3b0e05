#include "support/exchange_sim.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>

#include "net/http/client.hpp"
#include "proto/json/codec.hpp"
#include "support/certs.hpp"
#include "support/loop_test.hpp"

namespace calgate::test {

using namespace std::chrono_literals;

namespace {

// The port in "exchange_sim listening <scheme>://127.0.0.1:PORT/..." (0 if absent).
std::uint16_t port_after(const std::string& out, std::string_view marker) {
  const std::size_t at = out.find(marker);
  if (at == std::string::npos) return 0;
  return static_cast<std::uint16_t>(std::stoi(out.substr(at + marker.size(), 5)));
}

}  // namespace

std::string exchange_sim_fixture() {
  return std::string(EXCHANGE_SIM_SOURCE_DIR) + "/tests/fixtures/exchange/sim.toml";
}

exchange_sim::exchange_sim(exchange_sim_options o) {
  std::vector<std::string> argv{EXCHANGE_SIM_BINARY, "--config", o.config.empty() ? exchange_sim_fixture() : o.config,
                                "--http-port", "0"};
  if (o.https) {
    const auto& c = certs();
    for (const std::string& a : {std::string("--https-port"), std::string("0"), std::string("--tls-cert"), c.server_cert,
                                 std::string("--tls-key"), c.server_key, std::string("--tls-chain"), c.server_chain})
      argv.push_back(a);
  }
  if (o.capture) {
    argv.push_back("--capture-dir");
    argv.push_back(dir_.path());
  }
  argv.insert(argv.end(), o.extra.begin(), o.extra.end());
  spawn_options so;
  so.die_with_parent = true;
  proc_ = std::make_unique<process>(argv, std::vector<std::string>{}, so);
  const bool up = eventually(
      [&] { return proc_->output().find("exchange_sim ready") != std::string::npos || !proc_->running(); }, 20s);
  const std::string out = proc_->output();
  INFO("exchange_sim output:\n" << out);
  REQUIRE(up);
  REQUIRE(proc_->running());
  http_port_ = port_after(out, "exchange_sim listening http://127.0.0.1:");
  https_port_ = port_after(out, "exchange_sim listening https://127.0.0.1:");
  REQUIRE(http_port_ != 0);
  if (o.https) REQUIRE(https_port_ != 0);
}

exchange_sim::~exchange_sim() {
  // A clean stop, and nothing from the sanitizers (the ASan build's simulator is sanitized too).
  proc_->signal(SIGTERM);
  const int status = proc_->wait(10s);
  const std::string out = proc_->output();
  INFO(out);
  CHECK(status == 0);
  CHECK(out.find("Sanitizer") == std::string::npos);
  CHECK(out.find("runtime error:") == std::string::npos);
}

std::string exchange_sim::base() const { return "http://127.0.0.1:" + std::to_string(http_port_); }

std::string exchange_sim::url(std::string_view path) const { return base() + std::string(path); }

std::string exchange_sim::tls_url(std::string_view path) const {
  return "https://127.0.0.1:" + std::to_string(https_port_) + std::string(path);
}

std::vector<std::string> exchange_sim::captured(std::string_view suffix) const {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path()))
    if (e.path().string().ends_with(suffix)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string exchange_sim::control(const std::string& method, const std::string& path, const std::string& body) const {
  return run_loop_test([&]() -> rt::task<std::string> {
    net::http::client c(net::http::client_options{});
    net::http::client_request r(method, base() + path);
    if (!body.empty()) {
      r.headers.add("Content-Type", "application/json");
      r.body = body;
    }
    auto resp = co_await c.send(std::move(r));
    c.close_idle();
    if (!resp || resp->status != 200) co_return std::string("control request failed");
    co_return resp->body;
  });
}

void exchange_sim::fault(const std::string& json) const {
  INFO(json);
  REQUIRE(control("POST", "/sim/faults", json).find("faults") != std::string::npos);
}

std::int64_t exchange_sim::counter(const std::string& pointer) const {
  auto doc = json::document::parse(control("GET", "/sim/counters"));
  REQUIRE(doc);
  auto v = doc->get_int(pointer);
  return v ? *v : 0;
}

}  // namespace calgate::test
