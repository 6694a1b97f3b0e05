#pragma once
// The composition root: builds calgate's parts from the configuration, starts
// them in order and stops them in reverse.
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "config/config.hpp"
#include "net/http/client.hpp"
#include "net/http/router.hpp"
#include "net/http/server.hpp"
#include "proto/ews/client.hpp"
#include "proto/ldap/client.hpp"
#include "proto/oauth/token_source.hpp"
#include "rt/task.hpp"
#include "rt/task_group.hpp"
#include "svc/directory.hpp"
#include "svc/health.hpp"
#include "svc/lookup.hpp"

namespace calgate::net {
class tls_context;
}

namespace calgate::app {

struct serve_options {
  std::optional<config::endpoint> listen_override;  // --listen
};

class application {
 public:
  application(config::root cfg, serve_options o = {});
  ~application();
  application(const application&) = delete;
  application& operator=(const application&) = delete;

  // Loads TLS material and binds the listener. On failure `detail` says why.
  std::error_code start(std::string& detail);
  std::uint16_t port() const noexcept;
  std::string listen_address() const;

  // Serves until stop() has run its course.
  [[nodiscard]] rt::task<void> run();
  // Graceful stop: the configured shutdown grace, then cancellation.
  void stop();
  // Second signal: cancel what is in flight now.
  void stop_now();

  svc::readiness& readiness() noexcept { return ready_; }
  svc::directory* directory() noexcept { return directory_.get(); }
  svc::lookup_service* lookups() noexcept { return lookups_.get(); }
  // The EWS client of a configured [exchange.<name>], or nullptr.
  proto::ews::client* exchange(std::string_view endpoint) noexcept;

 private:
  void add_routes();
  // The shared outbound client and one EWS client per [exchange.<name>].
  std::error_code start_exchange(std::string& detail);

  config::root cfg_;
  serve_options opts_;
  std::shared_ptr<net::tls_context> tls_;
  net::http::router routes_;
  svc::readiness ready_;
  std::unique_ptr<proto::ldap::client> ldap_;
  std::unique_ptr<svc::directory> directory_;
  // Outbound HTTP(S), shared by every upstream client below (created when one is configured).
  std::unique_ptr<net::http::client> http_;
  std::vector<std::shared_ptr<proto::oauth::token_source>> tokens_;  // one per bearer account
  std::map<std::string, std::unique_ptr<proto::ews::client>, std::less<>> exchange_;  // by endpoint name
  std::unique_ptr<svc::lookup_service> lookups_;  // with a directory
  std::unique_ptr<net::http::server> server_;
  rt::task_group background_{"app"};
};

// The LDAP client and directory options a configuration describes.
proto::ldap::client_options ldap_options_from(const config::ldap& l);
svc::directory_options directory_options_from(const config::directory& d);
svc::lookup_options lookup_options_from(const config::lookup& l);
// The outbound HTTP client options [http_client] describes (`tls` is left for the caller).
net::http::client_options http_client_options_from(const config::http_client& h);
// The EWS client options an [exchange.<name>] describes; bearer accounts get no token
// source here (the caller makes one per account from oauth_credentials_from).
proto::ews::endpoint_options ews_options_from(const std::string& name, const config::exchange_endpoint& e);
proto::oauth::client_credentials oauth_credentials_from(const config::exchange_account& a);

// `calgate serve`: runs until SIGTERM/SIGINT; returns the exit code.
int serve(const config::root& cfg, const serve_options& o);

// Checks what check-config can check beyond the file itself (TLS material).
// Returns an empty list when everything loads.
std::vector<std::string> check_runtime(const config::root& cfg);

}  // namespace calgate::app
