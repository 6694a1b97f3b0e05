#pragma once
// An EWS client for one Exchange endpoint.
//
// Requests go out as one of several role accounts, used in turn, each with
// its own concurrency limit (Exchange throttles per calling account).
// Authentication: Basic, NTLMv2 (connection-bound: authenticated connections
// are pooled per account) or OAuth2 bearer tokens. Throttling
// (ErrorServerBusy with BackOffMilliseconds), 503s and connection failures
// are retried with capped exponential backoff and jitter within the caller's
// deadline; a 401 after authenticating is a configuration error.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/http/client.hpp"
#include "proto/ews/availability.hpp"
#include "proto/ews/types.hpp"
#include "rt/metrics.hpp"
#include "rt/result.hpp"
#include "rt/task.hpp"
#include "rt/wait_queue.hpp"

namespace calgate::proto::oauth {
class token_source;
}

namespace calgate::proto::ews {

enum class auth_kind { none, basic, ntlm, bearer };

struct account {
  std::string name;  // for logs and metrics (never the password)
  auth_kind auth = auth_kind::basic;
  std::string user;      // basic / ntlm: "DOMAIN\\user" or "user@domain"
  std::string password;  // basic / ntlm
  std::shared_ptr<oauth::token_source> tokens;  // bearer
  std::size_t max_concurrency = 8;
};

struct endpoint_options {
  std::string name = "default";  // the endpoint's name (metrics)
  std::string url;               // https://host/EWS/Exchange.asmx
  std::string version = "Exchange2013";  // RequestServerVersion (never Exchange2019: servers reject it)
  std::string fallback_version = "Exchange2007_SP1";  // once, after ErrorInvalidServerVersion
  std::vector<account> accounts;
  std::size_t max_mailboxes_per_request = 100;
  std::chrono::minutes max_window{42 * 24 * 60};
  std::size_t max_parallel = 4;  // requests in flight for one availability call
  std::chrono::milliseconds request_timeout{30000};  // one HTTP exchange
  int max_attempts = 4;
  std::chrono::milliseconds retry_min{200};
  std::chrono::milliseconds retry_max{5000};
  std::size_t max_response_bytes = 64u << 20;
  // Tests: sees every request envelope before it is sent.
  std::function<void(std::string_view envelope)> capture;
};

struct availability_request {
  std::vector<availability_query::mailbox> mailboxes;  // any number: split into requests of max_mailboxes_per_request
  std::chrono::sys_seconds start, end;                  // any length: split into windows of max_window
  view requested = view::free_busy;
  int merged_interval_minutes = 30;
  // Retries and back-off hints are only waited for while they fit before this.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

class client {
 public:
  client(net::http::client& http, endpoint_options o);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // One answer per requested mailbox, in order (duplicates answered alike).
  // Mailboxes whose requests failed carry that error; the call itself fails
  // only for bad input (empty window, no accounts).
  [[nodiscard]] rt::task<rt::result<std::vector<mailbox_availability>>> get_user_availability(availability_request r);

  // Sends one operation body (m:… element) and returns the parsed envelope
  // of a successful (HTTP 200) answer; faults and HTTP errors become errors.
  [[nodiscard]] rt::task<rt::result<xml::element>> call(std::string body_xml,
                                                        std::chrono::steady_clock::time_point deadline);

  const std::string& version() const noexcept { return version_; }
  const server_version& server() const noexcept { return server_; }
  const endpoint_options& options() const noexcept { return opts_; }
  std::uint64_t requests_sent() const noexcept { return requests_; }
  std::uint64_t retries() const noexcept { return retries_; }

  struct account_state;

 private:
  struct slot;
  rt::task<rt::result<slot>> acquire_account();
  rt::task<rt::result<net::http::client_response>> exchange(account_state& a, const std::string& envelope);
  rt::task<rt::result<net::http::client_response>> exchange_ntlm(account_state& a, const std::string& envelope);
  net::http::client_request base_request(const std::string& envelope) const;

  net::http::client& http_;
  endpoint_options opts_;
  std::vector<std::unique_ptr<account_state>> accounts_;
  std::size_t next_account_ = 0;
  rt::wait_queue account_freed_;
  std::string version_;
  bool fell_back_ = false;
  server_version server_;
  std::uint64_t requests_ = 0;
  std::uint64_t retries_ = 0;
  metrics::family<metrics::counter>& calls_;
};

}  // namespace calgate::proto::ews
