#pragma once
// The Exchange simulator (tests/sim, `exchange_sim`) as a child process on
// free loopback ports, for the integration tests.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/process.hpp"

namespace calgate::test {

// tests/fixtures/exchange/sim.toml
std::string exchange_sim_fixture();

struct exchange_sim_options {
  std::string config{};           // "" = exchange_sim_fixture()
  bool https = false;             // also https, with the test certificates (support/certs)
  bool capture = false;           // write every request and response body to a temp dir
  std::vector<std::string> extra{};  // more command-line flags
};

class exchange_sim {
 public:
  // Starts the simulator and waits (bounded) for its "ready" line.
  explicit exchange_sim(exchange_sim_options o = {});
  // SIGTERM, then checks that it stopped cleanly (exit 0, no sanitizer report).
  ~exchange_sim();
  exchange_sim(const exchange_sim&) = delete;
  exchange_sim& operator=(const exchange_sim&) = delete;

  std::uint16_t http_port() const noexcept { return http_port_; }
  std::uint16_t https_port() const noexcept { return https_port_; }  // 0 without https
  std::string base() const;  // http://127.0.0.1:N
  std::string url(std::string_view path = "/EWS/Exchange.asmx") const;
  std::string tls_url(std::string_view path = "/EWS/Exchange.asmx") const;
  std::string output() const { return proc_->output(); }
  // Captured files whose names end in `suffix` (".request.xml", ...), sorted.
  std::vector<std::string> captured(std::string_view suffix) const;

  // The control endpoint over plain HTTP, from outside any loop (each call
  // runs its own): the answer's body, or "control request failed".
  std::string control(const std::string& method, const std::string& path, const std::string& body = "") const;
  // POST /sim/faults (JSON); the test fails if the simulator refuses it.
  void fault(const std::string& json) const;
  // A counter from GET /sim/counters by JSON Pointer ("/operations/GetUserAvailability"); 0 if absent.
  std::int64_t counter(const std::string& pointer) const;

 private:
  temp_dir dir_;
  std::unique_ptr<process> proc_;
  std::uint16_t http_port_ = 0, https_port_ = 0;
};

}  // namespace calgate::test
