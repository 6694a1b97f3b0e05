#pragma once
// Authentication for the simulated EWS endpoint: Basic, NTLM (connection
// bound, keyed by request.connection_id) and bearer tokens. An unauthenticated
// or failed request gets 401 with one WWW-Authenticate field per configured
// scheme, as IIS sends them.
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

#include "net/http/message.hpp"
#include "sim/fixture.hpp"
#include "sim/request.hpp"

namespace calgate::sim {

struct auth_counters {
  std::uint64_t challenges = 0;      // 401 with the scheme list (no or unusable credentials)
  std::uint64_t basic_ok = 0, basic_failed = 0;
  std::uint64_t ntlm_negotiate = 0;  // Type 1 received, Type 2 sent
  std::uint64_t ntlm_ok = 0, ntlm_failed = 0;
  std::uint64_t ntlm_connection_reused = 0;  // requests on an already authenticated connection
  std::uint64_t bearer_ok = 0, bearer_failed = 0;
};

class authenticator {
 public:
  explicit authenticator(const settings& cfg) : cfg_(cfg) {}

  struct outcome {
    std::optional<caller> who;        // set: go on with the request
    net::http::response challenge;    // otherwise: send this (401)
  };
  outcome check(const net::http::request& r);

  const auth_counters& counters() const noexcept { return counters_; }
  void reset_counters() noexcept { counters_ = {}; }

 private:
  struct ntlm_state {
    std::string server_challenge;   // set between Type 2 and Type 3
    std::optional<caller> session;  // the connection's authenticated user
  };
  net::http::response challenge_all() const;
  net::http::response challenge_ntlm(std::string_view type2) const;
  outcome basic(std::string_view credentials);
  outcome bearer(std::string_view token);
  outcome ntlm(std::uint64_t connection, std::string_view header_value);
  ntlm_state& state_for(std::uint64_t connection);
  bool offers(auth_scheme s) const noexcept;
  outcome fail(std::uint64_t& counter);

  const settings& cfg_;
  auth_counters counters_;
  std::unordered_map<std::uint64_t, ntlm_state> ntlm_;
  std::deque<std::uint64_t> ntlm_order_;  // oldest first, for eviction
};

}  // namespace calgate::sim
