// exchange_sim: an Exchange Web Services simulator for tests and benchmarks
// (tests/sim/README.md). Built on calgate's own runtime and HTTP server.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http/router.hpp"
#include "net/http/server.hpp"
#include "net/tls.hpp"
#include "net/tls_crypto.hpp"
#include "rt/log.hpp"
#include "rt/loop.hpp"
#include "rt/run.hpp"
#include "rt/signal.hpp"
#include "rt/task_group.hpp"
#include "sim/fixture.hpp"
#include "sim/request.hpp"
#include "sim/service.hpp"

using namespace calgate;

namespace {

constexpr const char* usage =
    "usage: exchange_sim --config FILE [options]\n"
    "  --config FILE         fixture and settings (TOML; tests/sim/README.md)\n"
    "  --http-port N         listen for http on N (0: any free port), overrides server.listen's port\n"
    "  --https-port N        listen for https on N (0: any free port); needs a certificate\n"
    "  --host HOST           address for both listeners (default: from the file, else 127.0.0.1)\n"
    "  --tls-cert FILE       PEM certificate (leaf first), overrides server.cert_file\n"
    "  --tls-key FILE        PEM private key, overrides server.key_file\n"
    "  --tls-chain FILE      PEM intermediates, overrides server.chain_file\n"
    "  --capture-dir DIR     write every EWS request and response body to DIR\n"
    "  --generate N          generate N users (user00001@corp.example...), overrides [generate]\n"
    "  --access-log          one log line per request on stderr\n"
    "  --check               load and validate the file, print a summary and exit\n"
    "On start it prints one 'exchange_sim listening <url>' line per listener and then\n"
    "'exchange_sim ready'. SIGTERM or SIGINT stops it (exit status 0).\n";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "exchange_sim: %s\n\n%s", msg.c_str(), usage);
  return 2;
}

bool parse_port(std::string_view s, std::uint16_t& out) {
  if (s.empty() || s.size() > 5) return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return false;
  out = static_cast<std::uint16_t>(v);
  return true;
}

std::string url_host(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

rt::task<void> serve_all(std::vector<std::unique_ptr<net::http::server>>& servers) {
  rt::task_group group("sim-servers");
  for (auto& s : servers) group.spawn(s->run());
  co_await group.join();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  std::string config, host, cert, key, chain, capture;
  std::optional<std::uint16_t> http_port, https_port;
  int generate = -1;
  bool check = false, access_log = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    auto next = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = std::string(args[++i]);
      return true;
    };
    std::string v;
    if (a == "--help" || a == "-h") {
      std::fputs(usage, stdout);
      return 0;
    } else if (a == "--config" || a == "-c") {
      if (!next(config)) return usage_error("--config needs a FILE");
    } else if (a == "--http-port" || a == "--https-port") {
      std::uint16_t p = 0;
      if (!next(v) || !parse_port(v, p)) return usage_error(std::string(a) + " needs a port 0..65535");
      (a == "--http-port" ? http_port : https_port) = p;
    } else if (a == "--host") {
      if (!next(host)) return usage_error("--host needs an address");
    } else if (a == "--tls-cert") {
      if (!next(cert)) return usage_error("--tls-cert needs a FILE");
    } else if (a == "--tls-key") {
      if (!next(key)) return usage_error("--tls-key needs a FILE");
    } else if (a == "--tls-chain") {
      if (!next(chain)) return usage_error("--tls-chain needs a FILE");
    } else if (a == "--capture-dir") {
      if (!next(capture)) return usage_error("--capture-dir needs a DIR");
    } else if (a == "--generate") {
      if (!next(v) || v.empty() || v.size() > 7 || v.find_first_not_of("0123456789") != std::string::npos)
        return usage_error("--generate needs a count 0..1000000");
      generate = std::atoi(v.c_str());
    } else if (a == "--access-log") {
      access_log = true;
    } else if (a == "--check") {
      check = true;
    } else {
      return usage_error("unexpected argument '" + std::string(a) + "'");
    }
  }
  if (config.empty()) return usage_error("--config FILE is required");

  auto loaded = sim::load_fixture(config, generate);
  if (!loaded.fx) {
    for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.c_str());
    return 1;
  }
  sim::fixture fx = std::move(*loaded.fx);
  sim::settings& cfg = fx.cfg;
  if (!host.empty()) cfg.http.host = host;
  if (http_port) cfg.http.port = *http_port;
  if (https_port) {
    if (!cfg.https) cfg.https = cfg.http;
    cfg.https->port = *https_port;
  }
  if (cfg.https && !host.empty()) cfg.https->host = host;
  if (!cert.empty()) cfg.cert_file = cert;
  if (!key.empty()) cfg.key_file = key;
  if (!chain.empty()) cfg.chain_file = chain;
  if (!capture.empty()) cfg.capture_dir = capture;
  if (access_log) cfg.access_log = true;
  if (cfg.https && (cfg.cert_file.empty() || cfg.key_file.empty()))
    return usage_error("https needs a certificate and a key (server.cert_file/key_file or --tls-cert/--tls-key)");
  if (!cfg.newest_request_version.empty() && !sim::known_request_version(cfg.newest_request_version)) {
    std::fprintf(stderr, "%s: server_version.newest_request_version: unknown version \"%s\"\n", config.c_str(),
                 cfg.newest_request_version.c_str());
    return 1;
  }
  bool ntlm = false;
  for (auto s : cfg.schemes) ntlm = ntlm || s == sim::auth_scheme::ntlm;
  if (ntlm && !net::crypto::md4_available()) {
    std::fprintf(stderr, "exchange_sim: NTLM is configured but MD4 is not available (OpenSSL legacy provider)\n");
    return 1;
  }
  if (check) {
    std::size_t events = 0;
    for (const auto& m : fx.mailboxes) events += m.events.size();
    std::printf("%s: OK: %zu mailboxes, %zu events, %zu users, %zu tokens\n", config.c_str(), fx.mailboxes.size(),
                events, cfg.users.size(), cfg.tokens.size());
    return 0;
  }

  log::configure(log::level::info, log::format::logfmt);
  int code = 0;
  rt::loop loop;
  {
    std::shared_ptr<net::tls_context> tls;
    if (cfg.https) {
      net::tls_server_config tc;
      tc.cert_file = cfg.cert_file;
      tc.key_file = cfg.key_file;
      tc.chain_file = cfg.chain_file;
      std::string detail;
      auto ctx = net::tls_context::make_server(tc, &detail);
      if (!ctx) {
        std::fprintf(stderr, "exchange_sim: TLS: %s\n", detail.empty() ? ctx.error().message().c_str() : detail.c_str());
        return 1;  // nothing is open on the loop yet
      }
      tls = *ctx;
    }
    sim::service svc(std::move(fx));
    const sim::settings& s = svc.data().cfg;
    net::http::router routes;
    svc.add_routes(routes);

    auto options = [&](const sim::listen_endpoint& ep) {
      net::http::server_options o;
      o.host = ep.host;
      o.port = ep.port;
      o.access_log = s.access_log;
      o.limits.max_body_bytes = s.max_request_bytes;
      o.request_timeout = std::chrono::minutes(11);  // injected latency goes up to 10 minutes
      o.idle_timeout = std::chrono::minutes(2);
      return o;
    };
    std::vector<std::unique_ptr<net::http::server>> servers;
    std::vector<std::string> urls;
    servers.push_back(std::make_unique<net::http::server>(options(s.http), routes));
    urls.push_back("http://");
    if (s.https) {
      auto o = options(*s.https);
      o.handshake = net::tls_acceptor(tls);
      servers.push_back(std::make_unique<net::http::server>(std::move(o), routes));
      urls.push_back("https://");
    }
    for (std::size_t i = 0; i < servers.size(); ++i) {
      const sim::listen_endpoint& ep = i == 0 ? s.http : *s.https;
      if (auto ec = servers[i]->listen()) {
        std::fprintf(stderr, "exchange_sim: cannot listen on %s:%u: %s\n", ep.host.c_str(), ep.port, ec.message().c_str());
        code = 1;
        break;
      }
      urls[i] += url_host(ep.host) + ":" + std::to_string(servers[i]->port()) + "/EWS/Exchange.asmx";
    }
    if (code == 0) {
      for (const auto& u : urls) std::printf("exchange_sim listening %s\n", u.c_str());
      std::printf("exchange_sim ready (%zu mailboxes)\n", svc.data().mailboxes.size());
      std::fflush(stdout);
      rt::signal_watcher sig({SIGINT, SIGTERM}, [&](int) {
        for (auto& srv : servers) srv->stop(std::chrono::milliseconds(500));
      });
      try {
        rt::run(loop, serve_all(servers));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "exchange_sim: %s\n", e.what());
        code = 1;
      }
    }
  }
  log::flush();
  if (loop.close() != 0 && code == 0) code = 1;
  std::printf("exchange_sim stopped\n");
  return code;
}
