#pragma once
// OAuth2 access tokens by the client-credentials grant (RFC 6749 §4.4), for
// Exchange Online / on-prem Exchange (and later Graph): one token_source per
// configured account, caching its bearer token until shortly before expiry.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "rt/result.hpp"
#include "rt/task.hpp"

namespace calgate::net::http {
class client;
}

namespace calgate::proto::oauth {

namespace detail {
struct grant;  // a parsed token response (token_source.cpp)
}

enum class errc {
  // RFC 6749 §5.2 error codes from the token endpoint: not retryable.
  invalid_request = 1,
  invalid_client,
  invalid_grant,
  unauthorized_client,
  unsupported_grant_type,
  invalid_scope,
  endpoint_error,          // another "error" code in an error body
  // Transient: worth retrying later.
  server_unavailable,      // HTTP 5xx or 429, or server_error / temporarily_unavailable
  // The answer was not a usable token: not retryable.
  http_status,             // another non-2xx status without an RFC 6749 error body
  bad_response,            // not JSON, no access_token, bad expires_in, ...
  unsupported_token_type,  // token_type is not Bearer
};
const std::error_category& category() noexcept;
std::error_code make_error_code(errc e) noexcept;

// Whether a token() error is transient (server trouble, deadline, transport)
// rather than a configuration or protocol problem. Cancellation is not.
bool retryable(std::error_code ec) noexcept;

struct client_credentials {
  std::string token_url, client_id, client_secret, scope;
  // The cached token is replaced this long before it expires (at most half
  // its lifetime, so a short-lived token is still cached for a while).
  std::chrono::milliseconds refresh_before{300000};
  // Deadline for one token request.
  std::chrono::milliseconds timeout{10000};
};

// The detail of the most recent failed token request; never contains secrets.
struct failure {
  std::error_code code;
  // e.g. "invalid_client: AADSTS7000215: Invalid client secret provided. (HTTP 401)"
  std::string message;
  int http_status = 0;  // 0 when no response arrived
  bool retryable = false;
};

class token_source {
 public:
  // `http` must outlive this object, and this object every token() call.
  token_source(net::http::client& http, client_credentials c);
  ~token_source();
  token_source(const token_source&) = delete;
  token_source& operator=(const token_source&) = delete;

  // A valid access token: cached until `refresh_before` its expiry; concurrent
  // callers share one token request (single-flight); on failure every waiter
  // gets the error and nothing is cached, so the next call asks again.
  //
  // The request runs under the stop token of the caller that started it, with
  // `timeout` as its deadline. Callers that joined it are stopped by their own
  // tokens only: if the starting caller is canceled, one of them takes over.
  [[nodiscard]] rt::task<rt::result<std::string>> token();

  // Drops the cached token (e.g. after a 401 with a token that looked valid).
  void invalidate() noexcept;
  // Drops the cached token only if it is `rejected`, so a late 401 for an old
  // token does not throw away a fresh one.
  void invalidate(std::string_view rejected) noexcept;

  const failure& last_failure() const noexcept { return last_failure_; }
  const client_credentials& credentials() const noexcept { return creds_; }

  // Counters for tests and metrics.
  std::uint64_t requests_sent() const noexcept { return requests_; }
  std::uint64_t cache_hits() const noexcept { return hits_; }
  std::uint64_t shared_waits() const noexcept { return joined_; }  // callers that joined a request in flight
  std::uint64_t failures() const noexcept { return failures_; }

 private:
  struct flight;
  rt::task<rt::result<std::string>> lead();
  rt::task<rt::result<detail::grant>> fetch(failure& why);
  bool fresh() const noexcept;

  net::http::client& http_;
  client_credentials creds_;
  std::string token_;
  std::chrono::steady_clock::time_point refresh_at_{};
  std::shared_ptr<flight> flight_;
  failure last_failure_;
  std::uint64_t requests_ = 0;
  std::uint64_t hits_ = 0;
  std::uint64_t joined_ = 0;
  std::uint64_t failures_ = 0;
};

// application/x-www-form-urlencoded encoding of one name or value: ALPHA,
// DIGIT and "-._~" as is, space as '+', every other byte as %XX.
std::string form_encode(std::string_view s);

}  // namespace calgate::proto::oauth

template <>
struct std::is_error_code_enum<calgate::proto::oauth::errc> : std::true_type {};
