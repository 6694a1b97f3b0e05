#pragma once
// The simulator's HTTP surface: EWS at /EWS/Exchange.asmx (any case) and the
// control endpoints under /sim/ (faults, reset, counters). One instance serves
// both the http and the https listener.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "net/http/router.hpp"
#include "sim/auth.hpp"
#include "sim/faults.hpp"
#include "sim/fixture.hpp"
#include "sim/request.hpp"
#include "sim/soap.hpp"

namespace calgate::sim {

class service {
 public:
  explicit service(fixture fx);
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  void add_routes(net::http::router& routes);
  const fixture& data() const noexcept { return fx_; }
  fault_plan& faults() noexcept { return faults_; }
  std::string counters_json() const;
  void reset();

 private:
  rt::task<net::http::response> ews(net::http::request& r);
  rt::task<net::http::response> post_faults(net::http::request& r);

  // The operation's response envelope; throws ews_fault.
  std::string dispatch(const caller& who, const ews_request& req);
  net::http::response soap_ok(std::string body) const;
  net::http::response soap_fault(const ews_fault& f) const;
  net::http::response finish(net::http::response r);
  void capture(std::uint64_t seq, std::string_view operation, std::string_view kind, std::string_view body) const;

  fixture fx_;
  authenticator auth_;
  fault_plan faults_;
  std::uint64_t seq_ = 0;
  std::uint64_t requests_ = 0, dropped_ = 0;
  std::map<std::string, std::uint64_t> operations_;
  std::map<int, std::uint64_t> statuses_;
  std::map<std::string, std::uint64_t> injected_;
};

}  // namespace calgate::sim
