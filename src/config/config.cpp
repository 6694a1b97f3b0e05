#include "config/config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "calgate_build.hpp"
#include "config/binder.hpp"
#include "config/kinds.hpp"

namespace calgate::config {
namespace {

using namespace std::chrono_literals;
using detail::address;
using detail::boolean;
using detail::duration_in;
using detail::integer_in;
using detail::key;
using detail::list_of;
using detail::named;
using detail::one_of;
using detail::proxy_url_text;
using detail::section;
using detail::size_in;
using detail::table;
using detail::text;

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::uint64_t GiB = 1024 * MiB;

// Bounds shared by the request-scoped timeouts of both directions.
constexpr auto timeout_min = 1ms;
constexpr auto timeout_max = 1h;

// A configuration file is a few kilobytes; anything this large is a mistake.
constexpr std::size_t max_file_bytes = 1 * MiB;

// Adding a key: one key(...) line in its section, a member with its default in config.hpp,
// a row in README.md (Configuration) and a line in conf/calgate.example.toml (the tests check
// the last two). Adding a section: a section<S> function here and a table(...) line in its
// parent.

const section<server_tls>& server_tls_section() {
  static const section<server_tls> s{
      {
          key("cert_file", &server_tls::cert_file, text({.allow_empty = false}), {.required = true}),
          key("key_file", &server_tls::key_file, text({.allow_empty = false}), {.required = true}),
          key("chain_file", &server_tls::chain_file, text()),
          key("min_version", &server_tls::min_version, one_of({"1.2", "1.3"})),
          // Only protocols the server speaks may be offered.
          key("alpn", &server_tls::alpn, list_of(one_of({"http/1.1"}), true)),
      },
      {},
      {}};
  return s;
}

const section<server>& server_section() {
  static const section<server> s{
      {
          key("listen", &server::listen, address()),
          key("max_connections", &server::max_connections,
              integer_in<std::uint32_t>(1, 1'000'000)),
          key("backlog", &server::backlog, integer_in<std::uint32_t>(1, 65535)),
          key("header_timeout", &server::header_timeout, duration_in(timeout_min, timeout_max)),
          key("idle_timeout", &server::idle_timeout, duration_in(timeout_min, timeout_max)),
          key("body_timeout", &server::body_timeout, duration_in(timeout_min, timeout_max)),
          key("write_timeout", &server::write_timeout, duration_in(timeout_min, timeout_max)),
          key("request_timeout", &server::request_timeout, duration_in(timeout_min, timeout_max)),
          key("shutdown_grace", &server::shutdown_grace, duration_in(0ms, 10min)),
          key("max_header_bytes", &server::max_header_bytes, size_in(1 * KiB, 1 * MiB)),
          key("max_headers", &server::max_headers, integer_in<std::uint32_t>(1, 10'000)),
          key("max_uri_bytes", &server::max_uri_bytes, size_in(256, 1 * MiB)),
          key("max_body_bytes", &server::max_body_bytes, size_in(1 * KiB, 1 * GiB)),
      },
      {
          table("tls", &server::tls, server_tls_section()),
      },
      {}};
  return s;
}

std::string_view format_name(calgate::log::format f) {
  return f == calgate::log::format::json ? "json" : "logfmt";
}

const section<log>& log_section() {
  static const section<log> s{
      {
          key("level", &log::level,
              named<calgate::log::level>(calgate::log::parse_level, calgate::log::level_name,
                                         "debug, info, warn, error, off")),
          key("format", &log::format,
              named<calgate::log::format>(calgate::log::parse_format, format_name,
                                          "logfmt, json")),
          key("access", &log::access, boolean()),
      },
      {},
      {}};
  return s;
}

const section<http_client>& http_client_section() {
  static const section<http_client> s{
      {
          key("max_per_origin", &http_client::max_per_origin, integer_in<std::uint32_t>(1, 1024)),
          key("idle_timeout", &http_client::idle_timeout, duration_in(timeout_min, timeout_max)),
          key("connect_timeout", &http_client::connect_timeout,
              duration_in(timeout_min, timeout_max)),
          key("tls_timeout", &http_client::tls_timeout, duration_in(timeout_min, timeout_max)),
          key("response_header_timeout", &http_client::response_header_timeout,
              duration_in(timeout_min, timeout_max)),
          key("total_timeout", &http_client::total_timeout, duration_in(timeout_min, timeout_max)),
          key("max_response_bytes", &http_client::max_response_bytes, size_in(1 * KiB, 1 * GiB)),
          key("max_header_bytes", &http_client::max_header_bytes, size_in(1 * KiB, 1 * MiB)),
          key("ca_file", &http_client::ca_file, text()),
          key("proxy", &http_client::proxy, proxy_url_text(), {.secret = true}),
          key("user_agent", &http_client::user_agent,
              text({.allow_empty = false, .max_length = 256, .header_value = true})),
      },
      {},
      [](const http_client& v, detail::checker& c) {
        // total_timeout bounds the whole exchange, connecting included.
        auto within_total = [&](std::string_view name, std::chrono::milliseconds d) {
          if (d > v.total_timeout) {
            c.fail(name, "must not be longer than http_client.total_timeout (" +
                             format_duration(v.total_timeout) + ")");
          }
        };
        within_total("connect_timeout", v.connect_timeout);
        within_total("tls_timeout", v.tls_timeout);
        within_total("response_header_timeout", v.response_header_timeout);
      }};
  return s;
}

const section<root>& root_section() {
  static const section<root> s{
      {},
      {
          table("server", &root::server, server_section()),
          table("log", &root::log, log_section()),
          table("http_client", &root::http_client, http_client_section()),
      },
      {}};
  return s;
}

load_result finish(detail::report& r, root cfg) {
  load_result out;
  out.errors = r.take_sorted();
  if (out.errors.empty()) out.config = std::move(cfg);
  return out;
}

}  // namespace

std::string default_user_agent() { return "calgate/" CALGATE_VERSION; }

load_result load_string(std::string_view toml_text, std::string_view source_name,
                        const env_lookup& env) {
  detail::report r(std::string(source_name), env);
  root cfg;
  cfg.source = std::string(source_name);
  toml::table doc;
  try {
    doc = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    r.add(e.source(), {}, e.description());
    return finish(r, std::move(cfg));
  }
  detail::read_section(r, doc, {}, root_section(), cfg);
  return finish(r, std::move(cfg));
}

load_result load_string(std::string_view toml_text, std::string_view source_name) {
  return load_string(toml_text, source_name, process_env());
}

load_result load_file(const std::string& path) {
  auto fail = [&](const std::string& why) {
    load_result out;
    out.errors.push_back(path + ": cannot read configuration file: " + why);
    return out;
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(std::generic_category().message(errno));
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } guard{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(std::generic_category().message(errno));
  if (S_ISDIR(st.st_mode)) return fail("is a directory");
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(std::generic_category().message(errno));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > max_file_bytes) return fail("larger than 1 MiB");
  }
  return load_string(text, path);
}

std::string render(const root& cfg) {
  std::string out = "# calgate effective configuration";
  if (!cfg.source.empty()) out += " (from " + cfg.source + ")";
  out += "; secrets are masked\n";
  detail::write_section(out, root_section(), cfg, {}, true);
  return out;
}

std::vector<std::string> known_keys() {
  std::vector<std::string> out;
  detail::list_keys(out, root_section(), {});
  return out;
}

}  // namespace calgate::config
