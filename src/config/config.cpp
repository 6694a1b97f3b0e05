#include "config/config.hpp"
#include "net/http/url.hpp"
#include "proto/ldap/filter.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "calgate_build.hpp"
#include "config/binder.hpp"
#include "config/kinds.hpp"
#include "rt/text.hpp"

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

// A string that `problem` accepts (returns "") or rejects with its message.
detail::value_kind<std::string> checked_text(std::string (*problem)(std::string_view)) {
  return {[problem](detail::field& f, std::string& out) {
            auto v = f.string();
            if (!v) return false;
            if (std::string why = problem(*v); !why.empty()) {
              f.fail(why);
              return false;
            }
            out = std::move(*v);
            return true;
          },
          [](const std::string& v) { return detail::toml_quote(v); },
          {}};
}

bool name_char(char ch, std::string_view extra) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         extra.find(ch) != std::string_view::npos;
}

// An LDAP attribute name, "" for the profile's, "none" for unused.
std::string attribute_problem(std::string_view v) {
  if (v.size() > 128) return "must be at most 128 characters";
  for (char ch : v)
    if (!name_char(ch, "-;.")) return "must be an LDAP attribute name";
  return {};
}

// The name of an Exchange endpoint.
std::string endpoint_problem(std::string_view v) {
  bool ok = !v.empty() && v.size() <= 64;
  for (char ch : v) ok = ok && name_char(ch, "-_.");
  return ok ? std::string() : "must be an endpoint name (letters, digits, '-', '_', '.'; at most 64)";
}

std::string domain_problem(std::string_view d) {
  if (d.empty() || d.size() > 253) return "must be a domain name";
  for (char ch : d)
    if (!name_char(ch, "-.")) return "must be a domain name such as \"corp.example\" (no '@')";
  return {};
}

// A path the HTTP server routes: "/segment/segment", no query, no percent-escapes.
std::string route_problem(std::string_view v) {
  bool ok = v.size() >= 2 && v.size() <= 256 && v.front() == '/' && v.back() != '/';
  for (char ch : v) ok = ok && name_char(ch, "/-_.~");
  return ok ? std::string() : "must be a path such as \"/GCalExchangeLookup/ExchangeQuerier.aspx\" "
                              "(letters, digits, '/', '-', '_', '.', '~')";
}

detail::value_kind<std::string> attribute_name() { return checked_text(attribute_problem); }
detail::value_kind<std::string> route_path() { return checked_text(route_problem); }
detail::value_kind<std::string> endpoint_name() { return checked_text(endpoint_problem); }
detail::value_kind<std::string> domain_text() { return checked_text(domain_problem); }
std::function<std::string(std::string_view)> domain_key() { return domain_problem; }

// An LDAP filter (or "") whose {placeholders} are exactly `names`.
detail::value_kind<std::string> filter_text(std::vector<std::string> names) {
  return {[names](detail::field& f, std::string& out) {
            auto v = f.string();
            if (!v) return false;
            if (!v->empty()) {
              std::vector<std::pair<std::string_view, std::string_view>> probe;
              for (const auto& n : names) probe.emplace_back(n, "x");
              auto expanded = proto::ldap::expand(*v, probe);
              if (!expanded) {
                f.fail(names.empty() ? "must be an LDAP filter such as \"(objectClass=user)\" without {placeholders}"
                                     : "must be an LDAP filter using {" + names.front() + "}");
                return false;
              }
              for (const auto& n : names) {
                if (v->find("{" + n + "}") == std::string::npos) {
                  f.fail("must contain {" + n + "}");
                  return false;
                }
              }
            }
            out = std::move(*v);
            return true;
          },
          [](const std::string& v) { return detail::toml_quote(v); },
          {}};
}

// One or more ldap:// / ldaps:// URLs separated by spaces.
detail::value_kind<std::string> ldap_urls() {
  return {[](detail::field& f, std::string& out) {
            auto v = f.string();
            if (!v) return false;
            std::string_view rest = *v;
            bool any = false;
            while (!rest.empty()) {
              std::size_t sp = rest.find(' ');
              std::string_view u = rest.substr(0, sp);
              if (!u.empty()) {
                any = true;
                bool scheme_ok = u.starts_with("ldap://") || u.starts_with("ldaps://");
                std::string_view host = u.substr(u.find("://") + 3);
                if (!scheme_ok || host.empty() || host.front() == '/') {
                  f.fail("must be ldap://host[:port] or ldaps://host[:port] (several separated by spaces)");
                  return false;
                }
              }
              if (sp == std::string_view::npos) break;
              rest.remove_prefix(sp + 1);
            }
            if (!any) {
              f.fail("must name at least one ldap:// or ldaps:// URL");
              return false;
            }
            out = std::move(*v);
            return true;
          },
          [](const std::string& v) { return detail::toml_quote(v); },
          {}};
}

// An account name: like an endpoint name.
std::string account_problem(std::string_view v) {
  bool ok = !v.empty() && v.size() <= 64;
  for (char ch : v) ok = ok && name_char(ch, "-_.");
  return ok ? std::string() : "must be an account name (letters, digits, '-', '_', '.'; at most 64)";
}

detail::value_kind<std::string> account_name() { return checked_text(account_problem); }

// A user name or password: UTF-8 (NTLM sends it as UTF-16) without control characters.
detail::value_kind<std::string> credential_text() {
  return {[](detail::field& f, std::string& out) {
            auto v = f.string();
            if (!v) return false;
            if (v->size() > 1024) {
              f.fail_quietly("must be at most 1024 bytes long");
              return false;
            }
            bool control = std::any_of(v->begin(), v->end(), [](char ch) {
              auto u = static_cast<unsigned char>(ch);
              return u < 0x20 || u == 0x7F;
            });
            if (control || !rt::valid_utf8(*v)) {
              f.fail("must be UTF-8 text without control characters");
              return false;
            }
            out = std::move(*v);
            return true;
          },
          [](const std::string& v) { return detail::toml_quote(escape_env(v)); },
          {}};
}

// An absolute http:// or https:// URL ("" only if `allow_empty`), without credentials:
// those belong to the accounts.
detail::value_kind<std::string> http_url(bool allow_empty, std::string_view example) {
  return {[allow_empty, example = std::string(example)](detail::field& f, std::string& out) {
            auto v = f.string();
            if (!v) return false;
            if (!v->empty() || !allow_empty) {
              auto u = net::http::url::parse(*v);
              if (!u) {
                f.fail("must be an http:// or https:// URL such as " + detail::toml_quote(example));
                return false;
              }
              std::size_t host_at = v->find("://") + 3;
              std::string_view authority =
                  std::string_view(*v).substr(host_at, v->find_first_of("/?#", host_at) - host_at);
              if (!u->user.empty() || !u->password.empty() ||
                  authority.find('@') != std::string_view::npos) {
                f.fail_quietly("must not contain a user name or password (set them in the account)");
                return false;
              }
              if (v->find('#') != std::string::npos) {
                f.fail("must not have a #fragment");
                return false;
              }
            }
            out = std::move(*v);
            return true;
          },
          [](const std::string& v) { return detail::toml_quote(escape_env(v)); },
          {}};
}

// RequestServerVersion values of the EWS schemas (reference/ews.md §3.2).
detail::value_kind<std::string> ews_version() {
  static constexpr std::string_view versions[] = {
      "Exchange2007_SP1", "Exchange2010",     "Exchange2010_SP1", "Exchange2010_SP2",
      "Exchange2013",     "Exchange2013_SP1", "Exchange2016"};
  return {[](detail::field& f, std::string& out) {
            auto v = f.string();
            if (!v) return false;
            if (*v == "Exchange2019") {
              f.fail("is not an EWS schema version: real Exchange 2019 servers reject it "
                     "(ErrorInvalidRequest); use \"Exchange2016\" or \"Exchange2013\"");
              return false;
            }
            if (std::find(std::begin(versions), std::end(versions), *v) == std::end(versions)) {
              std::string choices;
              for (std::string_view c : versions) choices += (choices.empty() ? "" : ", ") + detail::toml_quote(c);
              f.fail("must be one of " + choices);
              return false;
            }
            out = std::move(*v);
            return true;
          },
          [](const std::string& v) { return detail::toml_quote(v); },
          {}};
}

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

const section<ldap>& ldap_section() {
  static const section<ldap> s{
      {
          key("url", &ldap::url, ldap_urls(), {.required = true}),
          key("starttls", &ldap::starttls, detail::boolean()),
          key("bind_dn", &ldap::bind_dn, text()),
          key("bind_password", &ldap::bind_password, text(), {.secret = true}),
          key("ca_file", &ldap::ca_file, text()),
          key("tls_require_cert", &ldap::tls_require_cert, one_of({"never", "allow", "try", "demand", "hard"})),
          key("connect_timeout", &ldap::connect_timeout, duration_in(timeout_min, 5min)),
          key("operation_timeout", &ldap::operation_timeout, duration_in(timeout_min, 10min)),
          key("connections", &ldap::connections, integer_in<std::uint32_t>(1, 64)),
          key("page_size", &ldap::page_size, integer_in<std::uint32_t>(1, 10000)),
          key("reconnect_min", &ldap::reconnect_min, duration_in(timeout_min, 1h)),
          key("reconnect_max", &ldap::reconnect_max, duration_in(timeout_min, 1h)),
      },
      {},
      [](const ldap& v, detail::checker& c) {
        if (v.reconnect_min > v.reconnect_max)
          c.fail("reconnect_min", "must not be longer than ldap.reconnect_max (" +
                                      format_duration(v.reconnect_max) + ")");
        if (v.starttls && v.url.find("ldaps://") != std::string::npos)
          c.fail("starttls", "cannot be combined with an ldaps:// URL (that is TLS already)");
        if (v.bind_dn.empty() && !v.bind_password.empty())
          c.fail("bind_password", "is set but bind_dn is empty");
      }};
  return s;
}

const section<directory_attributes>& directory_attributes_section() {
  static const section<directory_attributes> s{
      {
          key("mail", &directory_attributes::mail, attribute_name()),
          key("proxy_addresses", &directory_attributes::proxy_addresses, attribute_name()),
          key("alternate_addresses", &directory_attributes::alternate_addresses, attribute_name()),
          key("display_name", &directory_attributes::display_name, attribute_name()),
          key("legacy_exchange_dn", &directory_attributes::legacy_exchange_dn, attribute_name()),
          key("exchange_server", &directory_attributes::exchange_server, attribute_name()),
          key("title", &directory_attributes::title, attribute_name()),
          key("department", &directory_attributes::department, attribute_name()),
          key("phone", &directory_attributes::phone, attribute_name()),
          key("kind", &directory_attributes::kind, attribute_name()),
      },
      {},
      {}};
  return s;
}

const section<directory>& directory_section() {
  static const section<directory> s{
      {
          key("profile", &directory::profile, one_of({"active_directory", "openldap"})),
          key("base_dn", &directory::base_dn, text({.max_length = 1024})),
          key("scope", &directory::scope, one_of({"base", "one", "sub"})),
          key("object_filter", &directory::object_filter, filter_text({})),
          key("address_filter", &directory::address_filter, filter_text({"address"})),
          key("search_filter", &directory::search_filter, filter_text({"query"})),
          key("scope_filter", &directory::scope_filter, filter_text({})),
          key("kind_values", &directory::kind_values,
              detail::string_map(one_of({"user", "contact", "room", "resource"}), {})),
          key("contact_classes", &directory::contact_classes, list_of(attribute_name(), true)),
          key("endpoint_map", &directory::endpoint_map, detail::string_map(endpoint_name(), {})),
          key("default_endpoint", &directory::default_endpoint, endpoint_name()),
          key("domain_map", &directory::domain_map, detail::string_map(domain_text(), domain_key())),
          key("cache_ttl", &directory::cache_ttl, duration_in(0ms, 24h)),
          key("negative_cache_ttl", &directory::negative_cache_ttl, duration_in(0ms, 24h)),
          key("cache_max_entries", &directory::cache_max_entries, integer_in<std::uint32_t>(0, 10'000'000)),
          key("batch_size", &directory::batch_size, integer_in<std::uint32_t>(1, 500)),
          key("search_max_results", &directory::search_max_results, integer_in<std::uint32_t>(1, 1000)),
      },
      {
          table("attributes", &directory::attributes, directory_attributes_section()),
      },
      {}};
  return s;
}

const section<exchange_account>& exchange_account_section() {
  static const section<exchange_account> s{
      {
          key("name", &exchange_account::name, account_name(), {.required = true}),
          key("auth", &exchange_account::auth, one_of({"basic", "ntlm", "bearer"})),
          key("user", &exchange_account::user, credential_text()),
          key("password", &exchange_account::password, credential_text(), {.secret = true}),
          key("max_concurrency", &exchange_account::max_concurrency, integer_in<std::uint32_t>(1, 256)),
          key("token_url", &exchange_account::token_url, http_url(true, "https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token")),
          key("client_id", &exchange_account::client_id, text({.max_length = 256, .header_value = true})),
          key("client_secret", &exchange_account::client_secret, text({.max_length = 1024}), {.secret = true}),
          key("scope", &exchange_account::scope, text({.allow_empty = false, .max_length = 1024, .header_value = true})),
          key("refresh_before", &exchange_account::refresh_before, duration_in(0ms, 1h)),
          key("token_timeout", &exchange_account::token_timeout, duration_in(timeout_min, 5min)),
      },
      {},
      [](const exchange_account& v, detail::checker& c) {
        const std::string with = "with auth = " + detail::toml_quote(v.auth);
        const std::pair<std::string_view, const std::string*> token_keys[] = {
            {"token_url", &v.token_url}, {"client_id", &v.client_id}, {"client_secret", &v.client_secret}};
        if (v.auth == "bearer") {
          for (const auto& [k, value] : token_keys) {
            if (value->empty()) c.fail(k, "is required " + with);
          }
          if (!v.user.empty()) c.fail("user", "must be empty " + with + " (the token identifies the caller)");
          if (!v.password.empty()) c.fail("password", "must be empty " + with + " (the token identifies the caller)");
          return;
        }
        if (v.user.empty()) c.fail("user", "is required " + with);
        if (v.password.empty()) c.fail("password", "is required " + with);
        if (v.auth == "basic" && v.user.find(':') != std::string::npos)
          c.fail("user", "must not contain ':' " + with + " (RFC 7617)");
        for (const auto& [k, value] : token_keys) {
          if (!value->empty()) c.fail(k, "must be empty " + with + " (only bearer accounts use it)");
        }
        // These have defaults (which render() writes for every account): only another value
        // is a mistake.
        const exchange_account defaults;
        auto bearer_only = [&](std::string_view k, bool differs) {
          if (differs) c.fail(k, "is set, but only accounts with auth = \"bearer\" use it");
        };
        bearer_only("scope", v.scope != defaults.scope);
        bearer_only("refresh_before", v.refresh_before != defaults.refresh_before);
        bearer_only("token_timeout", v.token_timeout != defaults.token_timeout);
      }};
  return s;
}

const section<exchange_endpoint>& exchange_endpoint_section() {
  static const section<exchange_endpoint> s{
      {
          key("url", &exchange_endpoint::url, http_url(false, "https://mail.corp.example/EWS/Exchange.asmx"),
              {.required = true}),
          key("version", &exchange_endpoint::version, ews_version()),
          key("fallback_version", &exchange_endpoint::fallback_version, ews_version()),
          key("max_mailboxes_per_request", &exchange_endpoint::max_mailboxes_per_request,
              integer_in<std::uint32_t>(1, 100)),
          key("max_window", &exchange_endpoint::max_window, duration_in(1h, 62 * 24h)),
          key("max_parallel", &exchange_endpoint::max_parallel, integer_in<std::uint32_t>(1, 64)),
          key("request_timeout", &exchange_endpoint::request_timeout, duration_in(timeout_min, timeout_max)),
          key("max_attempts", &exchange_endpoint::max_attempts, integer_in<std::uint32_t>(1, 10)),
          key("retry_min", &exchange_endpoint::retry_min, duration_in(timeout_min, 10min)),
          key("retry_max", &exchange_endpoint::retry_max, duration_in(timeout_min, 10min)),
          key("max_response_bytes", &exchange_endpoint::max_response_bytes, size_in(1 * KiB, 1 * GiB)),
      },
      {
          detail::table_array("account", &exchange_endpoint::accounts, exchange_account_section(),
                              {.required = true, .unique_key = "name", .unique_member = &exchange_account::name}),
      },
      [](const exchange_endpoint& v, detail::checker& c) {
        if (v.retry_min > v.retry_max)
          c.fail("retry_min", "must not be longer than " + c.path() + ".retry_max (" +
                                  format_duration(v.retry_max) + ")");
        if (v.max_window % std::chrono::minutes(1) != 0ms)
          c.fail("max_window", "must be a whole number of minutes");
      }};
  return s;
}

const section<lookup>& lookup_section() {
  static const section<lookup> s{
      {
          key("deadline", &lookup::deadline, duration_in(1s, 10min)),
          key("details", &lookup::details, one_of({"free_busy", "subject_location"})),
          key("cache_ttl", &lookup::cache_ttl, duration_in(0ms, 1h)),
          key("cache_max_bytes", &lookup::cache_max_bytes, size_in(0, 16 * GiB)),
          key("max_window", &lookup::max_window, duration_in(1h, 366 * 24h)),
      },
      {},
      {}};
  return s;
}

// A bearer token: printable ASCII (it arrives in an Authorization header), not guessable by length.
detail::value_kind<std::string> token_text() {
  return {[](detail::field& f, std::string& out) {
            auto v = f.string();
            if (!v) return false;
            bool printable = std::all_of(v->begin(), v->end(), [](char ch) { return ch > 0x20 && ch < 0x7F; });
            if (!printable || v->size() < 16 || v->size() > 4096) {
              f.fail_quietly("must be 16 to 4096 printable ASCII characters without spaces");
              return false;
            }
            out = std::move(*v);
            return true;
          },
          [](const std::string& v) { return detail::toml_quote(escape_env(v)); },
          {}};
}

// A list of secrets renders as a list of masks (still a list when read back).
detail::value_kind<std::vector<std::string>> masked_list(detail::value_kind<std::vector<std::string>> k) {
  k.mask = [](const std::vector<std::string>& v) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) out += i ? ", \"********\"" : "\"********\"";
    return out + "]";
  };
  return k;
}

const section<freebusy_api>& freebusy_api_section() {
  static const section<freebusy_api> s{
      {
          key("enabled", &freebusy_api::enabled, boolean()),
          key("tokens", &freebusy_api::tokens, masked_list(list_of(token_text(), true)), {.secret = true}),
          key("max_calendars", &freebusy_api::max_calendars, integer_in<std::uint32_t>(1, 1000)),
      },
      {},
      {}};
  return s;
}

const section<legacy_lookup>& legacy_lookup_section() {
  static const section<legacy_lookup> s{
      {
          key("enabled", &legacy_lookup::enabled, boolean()),
          key("path", &legacy_lookup::path, route_path()),
          key("mailslot_url", &legacy_lookup::mailslot_url,
              http_url(true, "https://www.google.com/calendar/hosted/corp.example/mailslot")),
          key("default_ssl", &legacy_lookup::default_ssl, boolean()),
          key("max_users", &legacy_lookup::max_users, integer_in<std::uint32_t>(1, 1000)),
      },
      {},
      [](const legacy_lookup& v, detail::checker& c) {
        if (v.enabled && v.mailslot_url.empty()) c.fail("mailslot_url", "is required when enabled = true");
      }};
  return s;
}

// Where `names` (a dotted path below `t`) is set in the file, or nothing.
const toml::source_region* position_in(const toml::table& t, std::initializer_list<std::string_view> names,
                                       bool value_position = false) {
  const toml::table* at = &t;
  const toml::source_region* found = nullptr;
  for (std::string_view n : names) {
    if (at == nullptr) return nullptr;
    auto it = at->find(n);
    if (it == at->end()) return nullptr;
    found = value_position ? &it->second.source() : &detail::position_of(it->first, it->second);
    at = it->second.as_table();
  }
  return found;
}

// Every endpoint the directory names must be configured, once any is.
void check_endpoints(const root& v, detail::checker& c) {
  if (v.exchange.empty()) return;
  std::string configured;
  for (const auto& [name, e] : v.exchange) configured += (configured.empty() ? "" : ", ") + detail::toml_quote(name);
  const toml::table& t = c.table();
  // Where to report a rule about keys the file leaves at their defaults.
  auto endpoint_at = [&](const std::string& name) -> const toml::source_region& {
    const toml::source_region* at = position_in(t, {"exchange", name});
    return at ? *at : t.source();
  };
  const toml::source_region& first_endpoint = endpoint_at(v.exchange.begin()->first);
  if (!v.exchange.contains(v.directory.default_endpoint)) {
    const toml::source_region* set = position_in(t, {"directory", "default_endpoint"});
    std::string missing = "there is no [" + detail::join_path("exchange", v.directory.default_endpoint) +
                          "] (configured: " + configured + ")";
    c.fail_at(set ? *set : first_endpoint, "directory.default_endpoint",
              set ? "names endpoint " + detail::toml_quote(v.directory.default_endpoint) + ", but " + missing
                  : "is " + detail::toml_quote(v.directory.default_endpoint) + " by default, but " + missing +
                        "; set it to one of the configured endpoints");
  }
  for (const auto& [server, endpoint] : v.directory.endpoint_map) {
    if (v.exchange.contains(endpoint)) continue;
    const toml::source_region* set = position_in(t, {"directory", "endpoint_map", server}, true);
    c.fail_at(set ? *set : first_endpoint, detail::join_path("directory.endpoint_map", server),
              "names endpoint " + detail::toml_quote(endpoint) + ", but there is no [" +
                  detail::join_path("exchange", endpoint) + "] (configured: " + configured + ")");
  }
  // The shared HTTP client's total_timeout bounds every exchange it makes.
  for (const auto& [name, e] : v.exchange) {
    if (e.request_timeout <= v.http_client.total_timeout) continue;
    const toml::source_region* set = position_in(t, {"exchange", name, "request_timeout"});
    c.fail_at(set ? *set : endpoint_at(name),
              detail::join_path(detail::join_path("exchange", name), "request_timeout"),
              "must not be longer than http_client.total_timeout (" +
                  format_duration(v.http_client.total_timeout) + ")");
  }
}

const section<root>& root_section() {
  static const section<root> s{
      {},
      {
          table("server", &root::server, server_section()),
          table("log", &root::log, log_section()),
          table("http_client", &root::http_client, http_client_section()),
          table("ldap", &root::ldap, ldap_section()),
          table("directory", &root::directory, directory_section()),
          detail::table_map("exchange", &root::exchange, exchange_endpoint_section(), endpoint_problem),
          table("lookup", &root::lookup, lookup_section()),
          table("freebusy_api", &root::freebusy_api, freebusy_api_section()),
          table("legacy_lookup", &root::legacy_lookup, legacy_lookup_section()),
      },
      [](const root& v, detail::checker& c) {
        if (v.ldap && v.directory.base_dn.empty()) c.fail("directory", "directory.base_dn is required with [ldap]");
        check_endpoints(v, c);
        if (v.lookup.deadline >= v.server.request_timeout)
          c.fail("lookup", "lookup.deadline (" + format_duration(v.lookup.deadline) +
                               ") must be shorter than server.request_timeout (" +
                               format_duration(v.server.request_timeout) + ")");
        if (v.legacy_lookup.enabled && v.legacy_lookup.path == "/calendar/v3/freeBusy")
          c.fail("legacy_lookup", "legacy_lookup.path must differ from the freeBusy API's path");
      }};
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
