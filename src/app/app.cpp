#include "app/app.hpp"
#include "app/directory_routes.hpp"
#include "app/lookup_routes.hpp"

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
#include "rt/timezone.hpp"

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

proto::ldap::client_options ldap_options_from(const config::ldap& l) {
  proto::ldap::client_options o;
  o.url = l.url;
  o.starttls = l.starttls;
  o.bind_dn = l.bind_dn;
  o.bind_password = l.bind_password;
  o.ca_file = l.ca_file;
  o.tls_require_cert = l.tls_require_cert;
  o.connect_timeout = l.connect_timeout;
  o.operation_timeout = l.operation_timeout;
  o.connections = l.connections;
  o.page_size = l.page_size;
  o.reconnect_min = l.reconnect_min;
  o.reconnect_max = l.reconnect_max;
  return o;
}

svc::lookup_options lookup_options_from(const config::lookup& l) {
  svc::lookup_options o;
  o.deadline = l.deadline;
  o.details = l.details == "subject_location" ? svc::details_policy::subject_location : svc::details_policy::free_busy;
  o.cache_ttl = l.cache_ttl;
  o.cache_max_bytes = l.cache_max_bytes;
  o.max_window = l.max_window;
  return o;
}

svc::directory_options directory_options_from(const config::directory& d) {
  svc::directory_options o = svc::directory_options::profile(d.profile);
  auto pick = [](std::string& target, const std::string& configured) {
    if (configured == "none") target.clear();
    else if (!configured.empty()) target = configured;
  };
  o.base_dn = d.base_dn;
  o.scope = d.scope == "base" ? proto::ldap::scope::base : d.scope == "one" ? proto::ldap::scope::one : proto::ldap::scope::sub;
  if (!d.object_filter.empty()) o.object_filter = d.object_filter;
  if (!d.address_filter.empty()) o.address_filter = d.address_filter;
  if (!d.search_filter.empty()) o.search_filter = d.search_filter;
  o.scope_filter = d.scope_filter;
  pick(o.attributes.mail, d.attributes.mail);
  pick(o.attributes.proxy_addresses, d.attributes.proxy_addresses);
  pick(o.attributes.alternate_addresses, d.attributes.alternate_addresses);
  pick(o.attributes.display_name, d.attributes.display_name);
  pick(o.attributes.legacy_dn, d.attributes.legacy_exchange_dn);
  pick(o.attributes.exchange_server, d.attributes.exchange_server);
  pick(o.attributes.title, d.attributes.title);
  pick(o.attributes.department, d.attributes.department);
  pick(o.attributes.phone, d.attributes.phone);
  pick(o.attributes.kind, d.attributes.kind);
  if (!d.kind_values.empty()) o.kind_values = d.kind_values;
  if (!d.contact_classes.empty()) o.contact_classes = d.contact_classes;
  o.endpoint_map = d.endpoint_map;
  o.default_endpoint = d.default_endpoint;
  o.domain_map = d.domain_map;
  o.cache_ttl = d.cache_ttl;
  o.negative_cache_ttl = d.negative_cache_ttl;
  o.cache_max_entries = d.cache_max_entries;
  o.batch_size = d.batch_size;
  o.search_max_results = d.search_max_results;
  return o;
}

net::http::client_options http_client_options_from(const config::http_client& h) {
  net::http::client_options o;
  o.max_per_origin = h.max_per_origin;
  o.idle_timeout = h.idle_timeout;
  o.connect_timeout = h.connect_timeout;
  o.tls_timeout = h.tls_timeout;
  o.response_header_timeout = h.response_header_timeout;
  o.total_timeout = h.total_timeout;
  o.max_response_bytes = h.max_response_bytes;
  o.max_header_bytes = h.max_header_bytes;
  o.proxy = h.proxy;
  o.user_agent = h.user_agent;
  o.metrics_name = "upstream";
  return o;
}

proto::ews::endpoint_options ews_options_from(const std::string& name, const config::exchange_endpoint& e) {
  proto::ews::endpoint_options o;
  o.name = name;
  o.url = e.url;
  o.version = e.version;
  o.fallback_version = e.fallback_version;
  for (const auto& a : e.accounts) {
    proto::ews::account acct;
    acct.name = a.name;
    acct.auth = a.auth == "basic"    ? proto::ews::auth_kind::basic
                : a.auth == "bearer" ? proto::ews::auth_kind::bearer
                                     : proto::ews::auth_kind::ntlm;
    acct.user = a.user;
    acct.password = a.password;
    acct.max_concurrency = a.max_concurrency;
    o.accounts.push_back(std::move(acct));
  }
  o.max_mailboxes_per_request = e.max_mailboxes_per_request;
  o.max_window = std::chrono::duration_cast<std::chrono::minutes>(e.max_window);
  o.max_parallel = e.max_parallel;
  o.request_timeout = e.request_timeout;
  o.max_attempts = static_cast<int>(e.max_attempts);
  o.retry_min = e.retry_min;
  o.retry_max = e.retry_max;
  o.max_response_bytes = e.max_response_bytes;
  return o;
}

proto::oauth::client_credentials oauth_credentials_from(const config::exchange_account& a) {
  proto::oauth::client_credentials c;
  c.token_url = a.token_url;
  c.client_id = a.client_id;
  c.client_secret = a.client_secret;
  c.scope = a.scope;
  c.refresh_before = a.refresh_before;
  c.timeout = a.token_timeout;
  return c;
}

application::application(config::root cfg, serve_options o) : cfg_(std::move(cfg)), opts_(std::move(o)) {
  metrics::registry::global().add_collector("process", render_process_metrics);
}

application::~application() { metrics::registry::global().remove_collector("ldap"); }

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
  add_directory_routes(routes_, directory_.get());
  add_lookup_routes(routes_, lookups_.get(), directory_.get(), cfg_);
}

std::error_code application::start(std::string& detail) {
  if (cfg_.server.tls) {
    auto ctx = make_server_tls(*cfg_.server.tls, detail);
    if (!ctx) return ctx.error();
    tls_ = *ctx;
  }
  if (cfg_.ldap) {
    ldap_ = std::make_unique<proto::ldap::client>(ldap_options_from(*cfg_.ldap));
    directory_ = std::make_unique<svc::directory>(*ldap_, directory_options_from(cfg_.directory));
    ready_.add("directory", [this] { return directory_->readiness(); });
    metrics::registry::global().add_collector("ldap", [this](std::string& out) {
      auto st = ldap_->state();
      out += "# HELP calgate_ldap_connections LDAP connections by state.\n# TYPE calgate_ldap_connections gauge\n";
      metrics::append_sample(out, "calgate_ldap_connections", {"state"}, {"up"}, static_cast<double>(st.up));
      metrics::append_sample(out, "calgate_ldap_connections", {"state"}, {"down"}, static_cast<double>(st.total - st.up));
      out += "# HELP calgate_ldap_searches_total LDAP searches sent.\n# TYPE calgate_ldap_searches_total counter\n";
      metrics::append_sample(out, "calgate_ldap_searches_total", {}, {}, static_cast<double>(ldap_->searches_sent()));
      out += "# HELP calgate_ldap_connects_total LDAP connection attempts (connect, TLS, bind).\n"
             "# TYPE calgate_ldap_connects_total counter\n";
      metrics::append_sample(out, "calgate_ldap_connects_total", {}, {}, static_cast<double>(ldap_->connects()));
      out += "# HELP calgate_directory_cache_entries Answers in the directory cache.\n"
             "# TYPE calgate_directory_cache_entries gauge\n";
      metrics::append_sample(out, "calgate_directory_cache_entries", {}, {}, static_cast<double>(directory_->cache_size()));
    });
  }
  if (!cfg_.exchange.empty()) {
    if (auto ec = start_exchange(detail)) return ec;
  }
  // Read from disk once, now, rather than by the first request that names a zone.
  if (!rt::time_zone::preload()) log::warn("the tz database cannot be read: only UTC is known (install tzdata)");
  if (directory_) {
    lookups_ = std::make_unique<svc::lookup_service>(
        *directory_, [this](std::string_view name) { return exchange(name); }, lookup_options_from(cfg_.lookup));
    metrics::registry::global().add_collector("lookup", [this](std::string& out) {
      out += "# HELP calgate_lookup_cache_entries Mailbox answers in the lookup cache.\n"
             "# TYPE calgate_lookup_cache_entries gauge\n";
      metrics::append_sample(out, "calgate_lookup_cache_entries", {}, {}, static_cast<double>(lookups_->cache_entries()));
      out += "# HELP calgate_lookup_cache_bytes Approximate memory held by the lookup cache.\n"
             "# TYPE calgate_lookup_cache_bytes gauge\n";
      metrics::append_sample(out, "calgate_lookup_cache_bytes", {}, {}, static_cast<double>(lookups_->cache_bytes()));
    });
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

std::error_code application::start_exchange(std::string& detail) {
  net::tls_client_config tc;
  tc.ca_file = cfg_.http_client.ca_file;
  tc.alpn = {"http/1.1"};
  std::string why;
  auto tls = net::tls_context::make_client(tc, &why);
  if (!tls) {
    detail = "http_client.ca_file: " + (why.empty() ? tls.error().message() : why);
    return tls.error();
  }
  net::http::client_options ho = http_client_options_from(cfg_.http_client);
  ho.tls = *tls;
  http_ = std::make_unique<net::http::client>(std::move(ho));
  for (const auto& [name, e] : cfg_.exchange) {
    proto::ews::endpoint_options eo = ews_options_from(name, e);
    for (std::size_t i = 0; i < eo.accounts.size(); ++i) {
      if (eo.accounts[i].auth != proto::ews::auth_kind::bearer) continue;
      auto ts = std::make_shared<proto::oauth::token_source>(*http_, oauth_credentials_from(e.accounts[i]));
      tokens_.push_back(ts);
      eo.accounts[i].tokens = std::move(ts);
    }
    log::info("exchange endpoint", {{"name", name},
                                    {"url", e.url},
                                    {"version", e.version},
                                    {"accounts", static_cast<std::int64_t>(e.accounts.size())}});
    exchange_.emplace(name, std::make_unique<proto::ews::client>(*http_, std::move(eo)));
  }
  return {};
}

proto::ews::client* application::exchange(std::string_view endpoint) noexcept {
  auto it = exchange_.find(endpoint);
  return it == exchange_.end() ? nullptr : it->second.get();
}

std::uint16_t application::port() const noexcept { return server_ ? server_->port() : 0; }

std::string application::listen_address() const {
  const config::endpoint& ep = opts_.listen_override ? *opts_.listen_override : cfg_.server.listen;
  config::endpoint actual{ep.host, port() ? port() : ep.port};
  return config::format_endpoint(actual);
}

rt::task<void> application::run() {
  if (ldap_) {
    // Connecting must not hold up serving: /readyz reports the directory's state.
    background_.spawn([](proto::ldap::client& l) -> rt::task<void> {
      if (std::error_code ec = co_await l.start())
        log::error("directory not reachable at start-up; retrying in the background", {{"error", ec.message()}});
    }(*ldap_));
  }
  co_await server_->run();
  // The server has drained: stop what it used, in reverse order.
  background_.request_stop();
  co_await background_.join();
  if (lookups_) co_await lookups_->stop();
  if (directory_) co_await directory_->stop();
  if (ldap_) co_await ldap_->stop();
  if (http_) http_->close_idle();
}

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
