#pragma once
// Fault injection for the Exchange simulator: rules set in the fixture file or
// through the control endpoint (POST /sim/faults), each affecting the next N
// EWS requests of one operation (or of every operation).
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace calgate::sim {

enum class fault_kind {
  latency,      // answer after `ms` more milliseconds (count 0: every request until reset)
  server_busy,  // HTTP 500 + ErrorServerBusy fault with BackOffMilliseconds = backoff_ms
  http_503,     // HTTP 503 Service Unavailable (IIS queue full)
  soap_500,     // HTTP 500 + a SOAP fault with ResponseCode `code`
  drop,         // close the connection without answering
  slow_body,    // the real answer, its body paced out over `ms` milliseconds
};
std::string_view fault_kind_name(fault_kind k) noexcept;
std::optional<fault_kind> parse_fault_kind(std::string_view s) noexcept;

struct fault_rule {
  fault_kind kind = fault_kind::server_busy;
  std::string operation = "*";  // WSDL operation name ("GetUserAvailability") or "*"
  int count = 1;                // requests still affected
  int ms = 0;                   // latency, slow_body
  int backoff_ms = 0;           // server_busy
  std::string code;             // soap_500 (default ErrorInternalServerError)
};

// Builds a rule from key/value pairs (form fields or JSON members): kind,
// operation, count, ms, backoff_ms, code. Unset values take the defaults given.
// Returns nullopt and sets *error on a bad pair.
std::optional<fault_rule> parse_fault_rule(const std::vector<std::pair<std::string, std::string>>& kv,
                                           int default_backoff_ms, int default_slow_body_ms, std::string* error);

class fault_plan {
 public:
  void add(fault_rule r) { rules_.push_back(std::move(r)); }
  void clear() noexcept { rules_.clear(); }
  const std::vector<fault_rule>& rules() const noexcept { return rules_; }

  // Extra latency for one request of `operation` (consumes counted latency rules).
  int take_latency(std::string_view operation);
  // The failure to inject into one request of `operation`, if any (consumes one count).
  std::optional<fault_rule> take_failure(std::string_view operation);

  // {"faults":[{"kind":"server_busy","operation":"*","count":2,...}]}
  std::string to_json() const;

 private:
  static bool matches(const fault_rule& r, std::string_view operation) noexcept;
  std::vector<fault_rule> rules_;
};

}  // namespace calgate::sim
