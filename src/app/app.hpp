#pragma once
// The composition root: builds calgate's parts from the configuration, starts
// them in order and stops them in reverse.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "config/config.hpp"
#include "net/http/router.hpp"
#include "net/http/server.hpp"
#include "proto/ldap/client.hpp"
#include "rt/task.hpp"
#include "rt/task_group.hpp"
#include "svc/directory.hpp"
#include "svc/health.hpp"

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

 private:
  void add_routes();

  config::root cfg_;
  serve_options opts_;
  std::shared_ptr<net::tls_context> tls_;
  net::http::router routes_;
  svc::readiness ready_;
  std::unique_ptr<proto::ldap::client> ldap_;
  std::unique_ptr<svc::directory> directory_;
  std::unique_ptr<net::http::server> server_;
  rt::task_group background_{"app"};
};

// The LDAP client and directory options a configuration describes.
proto::ldap::client_options ldap_options_from(const config::ldap& l);
svc::directory_options directory_options_from(const config::directory& d);

// `calgate serve`: runs until SIGTERM/SIGINT; returns the exit code.
int serve(const config::root& cfg, const serve_options& o);

// Checks what check-config can check beyond the file itself (TLS material).
// Returns an empty list when everything loads.
std::vector<std::string> check_runtime(const config::root& cfg);

}  // namespace calgate::app
