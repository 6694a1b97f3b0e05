#include "app/app.hpp"

#include <csignal>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "calgate_build.hpp"
#include "net/tls.hpp"
#include "rt/log.hpp"
#include "rt/metrics.hpp"
#include "rt/run.hpp"
#include "rt/signal.hpp"

namespace calgate::app {

namespace {

net::http::server_options server_options_from(const config::server& s, const serve_options& o) {
  net::http::server_options so;
  const config::endpoint& ep = o.listen_override ? *o.listen_override : s.listen;
  so.host = ep.host;
  so.port = ep.port;
  so.max_connections = s.max_connections;
  so.backlog = static_cast<int>(s.backlog);
  so.header_timeout = s.header_timeout;
  so.idle_timeout = s.idle_timeout;
  so.body_timeout = s.body_timeout;
  so.write_timeout = s.write_timeout;
  so.request_timeout = s.request_timeout;
  so.limits.max_header_bytes = s.max_header_bytes;
  so.limits.max_headers = s.max_headers;
  so.limits.max_uri_bytes = s.max_uri_bytes;
  so.limits.max_body_bytes = s.max_body_bytes;
  return so;
}

rt::result<std::shared_ptr<net::tls_context>> make_server_tls(const config::server_tls& t, std::string& detail) {
  net::tls_server_config c;
  c.cert_file = t.cert_file;
  c.key_file = t.key_file;
  c.chain_file = t.chain_file;
  c.min_version = t.min_version;
  c.alpn = t.alpn;
  return net::tls_context::make_server(c, &detail);
}

// Process-level gauges computed at scrape time.
void render_process_metrics(std::string& out) {
  out += "# HELP calgate_build_info Build information.\n# TYPE calgate_build_info gauge\n";
  metrics::append_sample(out, "calgate_build_info", {"version"}, {CALGATE_VERSION}, 1);
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  if (statm >> pages_total >> pages_resident) {
    out += "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
           "# TYPE process_resident_memory_bytes gauge\n";
    metrics::append_sample(out, "process_resident_memory_bytes", {}, {},
                           static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE)));
  }
}

}  // namespace

application::application(config::root cfg, serve_options o) : cfg_(std::move(cfg)), opts_(std::move(o)) {
  metrics::registry::global().add_collector("process", render_process_metrics);
}

application::~application() = default;

void application::add_routes() {
  using namespace net::http;
  routes_.add("GET", "/healthz", [](request&) -> rt::task<response> {
    co_return response::json(200, "{\"status\":\"ok\"}");
  });
  routes_.add("GET", "/readyz", [this](request&) -> rt::task<response> {
    auto rep = ready_.evaluate();
    co_return response::json(rep.ready ? 200 : 503, svc::readiness::to_json(rep));
  });
  routes_.add("GET", "/metrics", [](request&) -> rt::task<response> {
    co_return response::text(200, metrics::registry::global().render(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

std::error_code application::start(std::string& detail) {
  if (cfg_.server.tls) {
    auto ctx = make_server_tls(*cfg_.server.tls, detail);
    if (!ctx) return ctx.error();
    tls_ = *ctx;
  }
  add_routes();
  net::http::server_options so = server_options_from(cfg_.server, opts_);
  so.access_log = cfg_.log.access;
  if (tls_) so.handshake = net::tls_acceptor(tls_);
  server_ = std::make_unique<net::http::server>(std::move(so), routes_);
  ready_.add("http", [this] {
    if (server_->stopping()) return svc::check_result{false, "shutting down"};
    return svc::check_result{true, "listening on " + listen_address()};
  });
  if (auto ec = server_->listen()) {
    detail = "cannot listen on " + listen_address() + ": " + ec.message();
    return ec;
  }
  return {};
}

std::uint16_t application::port() const noexcept { return server_ ? server_->port() : 0; }

std::string application::listen_address() const {
  const config::endpoint& ep = opts_.listen_override ? *opts_.listen_override : cfg_.server.listen;
  config::endpoint actual{ep.host, port() ? port() : ep.port};
  return config::format_endpoint(actual);
}

rt::task<void> application::run() { co_await server_->run(); }

void application::stop() { server_->stop(cfg_.server.shutdown_grace); }

void application::stop_now() { server_->stop(std::chrono::milliseconds(0)); }

int serve(const config::root& cfg, const serve_options& o) {
  log::configure(cfg.log.level, cfg.log.format);
  int code = 0;
  rt::loop loop;
  {
    application app(cfg, o);
    std::string detail;
    if (auto ec = app.start(detail)) {
      log::error("calgate cannot start", {{"error", detail.empty() ? ec.message() : detail}});
      code = 1;
    } else {
      int signals = 0;
      rt::signal_watcher sig({SIGINT, SIGTERM}, [&](int signum) {
        const char* name = signum == SIGINT ? "SIGINT" : "SIGTERM";
        if (signals++ == 0) {
          log::info("shutting down", {{"signal", name},
                                      {"grace_ms", static_cast<std::int64_t>(cfg.server.shutdown_grace.count())}});
          app.stop();
        } else {
          log::warn("second signal: canceling requests in flight", {{"signal", name}});
          app.stop_now();
        }
      });
      log::info("calgate listening", {{"listen", app.listen_address()},
                                      {"tls", cfg.server.tls.has_value()},
                                      {"version", CALGATE_VERSION},
                                      {"config", cfg.source}});
      try {
        rt::run(loop, app.run());
      } catch (const std::exception& e) {
        log::error("calgate failed", {{"error", e.what()}});
        code = 1;
      }
    }
  }
  metrics::registry::global().remove_collector("process");
  if (int rc = loop.close(); rc != 0) {
    log::error("event loop did not close cleanly", {{"code", rc}, {"handles_left", loop.leaked_handles()}});
    if (code == 0) code = 1;
  }
  log::info("calgate stopped", {{"exit_code", code}});
  log::flush();
  return code;
}

std::vector<std::string> check_runtime(const config::root& cfg) {
  std::vector<std::string> problems;
  if (cfg.server.tls) {
    std::string detail;
    auto ctx = make_server_tls(*cfg.server.tls, detail);
    if (!ctx) problems.push_back(cfg.source + ": server.tls: " + (detail.empty() ? ctx.error().message() : detail));
  }
  if (!cfg.http_client.ca_file.empty()) {
    net::tls_client_config c;
    c.ca_file = cfg.http_client.ca_file;
    std::string detail;
    auto ctx = net::tls_context::make_client(c, &detail);
    if (!ctx)
      problems.push_back(cfg.source + ": http_client.ca_file: " + (detail.empty() ? ctx.error().message() : detail));
  }
  return problems;
}

}  // namespace calgate::app
