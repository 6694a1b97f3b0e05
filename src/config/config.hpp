#pragma once
// calgate's typed configuration, loaded from one TOML file.
//
// Every key, its default and its meaning are documented in README.md (Configuration) and shown
// in conf/calgate.example.toml. The defaults live here, in the member initializers; the
// keys, value forms and limits live next to the loader (config.cpp), one line per key.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/values.hpp"
#include "rt/log.hpp"

namespace calgate::config {

// endpoint {host, port} is declared in config/values.hpp.

// [server.tls]: present => the listener serves HTTPS.
struct server_tls {
  std::string cert_file;   // PEM certificate (leaf first); required
  std::string key_file;    // PEM private key; required
  std::string chain_file;  // PEM intermediates; empty = none beyond cert_file
  std::string min_version = "1.2";
  std::vector<std::string> alpn{"http/1.1"};
  bool operator==(const server_tls&) const = default;
};

// [server]: the inbound HTTP listener.
struct server {
  endpoint listen{"127.0.0.1", 8080};
  std::uint32_t max_connections = 10000;
  std::uint32_t backlog = 1024;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds body_timeout{30000};
  std::chrono::milliseconds write_timeout{30000};
  std::chrono::milliseconds request_timeout{60000};  // the handler's deadline
  std::chrono::milliseconds shutdown_grace{10000};
  std::uint64_t max_header_bytes = 16384;
  std::uint32_t max_headers = 100;
  std::uint64_t max_uri_bytes = 8192;
  std::uint64_t max_body_bytes = 1 << 20;
  std::optional<server_tls> tls;     // present => serve HTTPS on `listen`
  bool operator==(const server&) const = default;
};

// [log]
struct log {
  calgate::log::level level = calgate::log::level::info;
  calgate::log::format format = calgate::log::format::logfmt;
  bool access = true;  // one line per request
  bool operator==(const log&) const = default;
};

std::string default_user_agent();  // "calgate/<version>"

// [http_client]: outbound HTTP(S) to Exchange, Graph and Google.
struct http_client {
  std::uint32_t max_per_origin = 32;
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds tls_timeout{5000};
  std::chrono::milliseconds response_header_timeout{30000};
  std::chrono::milliseconds total_timeout{60000};
  std::uint64_t max_response_bytes = 16 << 20;
  std::uint64_t max_header_bytes = 65536;
  std::string ca_file;  // empty = system trust store
  std::string proxy;    // "" or "http://[user:password@]host:port" (HTTP CONNECT proxy)
  std::string user_agent = default_user_agent();
  bool operator==(const http_client&) const = default;
};

// [ldap]: present => calgate resolves recipients in this directory.
struct ldap {
  std::string url;            // ldap://host:389 or ldaps://host:636 (several, space-separated); required
  bool starttls = false;      // upgrade ldap:// with StartTLS
  std::string bind_dn;        // service account; empty = anonymous
  std::string bind_password;  // secret
  std::string ca_file;        // PEM CA bundle for the directory's certificate; empty = system trust store
  std::string tls_require_cert = "demand";  // never | allow | try | demand | hard
  std::chrono::milliseconds connect_timeout{5000};     // connect, TLS handshake and bind, each
  std::chrono::milliseconds operation_timeout{10000};  // one search
  std::uint32_t connections = 2;
  std::uint32_t page_size = 500;
  std::chrono::milliseconds reconnect_min{200};
  std::chrono::milliseconds reconnect_max{30000};
  bool operator==(const ldap&) const = default;
};

// [directory.attributes]: LDAP attribute names; "" = the profile's, "none" = not used.
struct directory_attributes {
  std::string mail;
  std::string proxy_addresses;
  std::string alternate_addresses;
  std::string display_name;
  std::string legacy_exchange_dn;
  std::string exchange_server;
  std::string title;
  std::string department;
  std::string phone;
  std::string kind;
  bool operator==(const directory_attributes&) const = default;
};

// [directory]: how recipients are found in [ldap].
struct directory {
  std::string profile = "active_directory";  // or "openldap": default filters and attribute names
  std::string base_dn;                       // required with [ldap]
  std::string scope = "sub";                 // base | one | sub
  std::string object_filter;                 // "" = the profile's
  std::string address_filter;                // "" = the profile's; must contain {address}
  std::string search_filter;                 // "" = the profile's; must contain {query}
  std::string scope_filter;                  // sync scope; "" = every recipient
  directory_attributes attributes;
  std::map<std::string, std::string> kind_values;  // kind attribute value -> user|contact|room|resource; {} = profile's
  std::vector<std::string> contact_classes;        // objectClass values meaning contact; [] = profile's
  std::map<std::string, std::string> endpoint_map; // Exchange server (attribute value or its last cn=) -> endpoint
  std::string default_endpoint = "default";
  std::map<std::string, std::string> domain_map;   // external domain -> internal domain
  std::chrono::milliseconds cache_ttl{300000};
  std::chrono::milliseconds negative_cache_ttl{60000};
  std::uint32_t cache_max_entries = 100000;
  std::uint32_t batch_size = 50;
  std::uint32_t search_max_results = 50;
  bool operator==(const directory&) const = default;
};

// [[exchange.<name>.account]]: one role account requests to an endpoint go out as.
struct exchange_account {
  std::string name;           // required; unique within its endpoint (logs and metrics)
  std::string auth = "ntlm";  // basic | ntlm | bearer
  std::string user;           // basic / ntlm: "DOMAIN\\user" or "user@domain"
  std::string password;       // basic / ntlm; secret
  std::uint32_t max_concurrency = 8;  // requests in flight as this account
  // bearer: OAuth2 client-credentials grant
  std::string token_url;
  std::string client_id;
  std::string client_secret;  // secret
  std::string scope = "https://outlook.office365.com/.default";
  std::chrono::milliseconds refresh_before{300000};  // renew the cached token this long before expiry
  std::chrono::milliseconds token_timeout{10000};    // one token request
  bool operator==(const exchange_account&) const = default;
};

// [exchange.<name>]: one Exchange (EWS) endpoint; directory entries name it.
struct exchange_endpoint {
  std::string url;  // https://host/EWS/Exchange.asmx; required
  std::string version = "Exchange2013";               // RequestServerVersion
  std::string fallback_version = "Exchange2007_SP1";  // once, after ErrorInvalidServerVersion
  std::uint32_t max_mailboxes_per_request = 100;
  std::chrono::milliseconds max_window{42LL * 24 * 3600 * 1000};  // longest window per request
  std::uint32_t max_parallel = 4;                     // requests in flight for one lookup
  std::chrono::milliseconds request_timeout{30000};  // one HTTP exchange
  std::uint32_t max_attempts = 4;
  std::chrono::milliseconds retry_min{200};
  std::chrono::milliseconds retry_max{5000};
  std::uint64_t max_response_bytes = 64u << 20;
  std::vector<exchange_account> accounts;  // [[exchange.<name>.account]]; at least one
  bool operator==(const exchange_endpoint&) const = default;
};

// [lookup]: free/busy lookups for Exchange users (both inbound protocols).
struct lookup {
  std::chrono::milliseconds deadline{20000};  // whole lookup; below callers' own timeouts (Google's was 30 s)
  std::string details = "free_busy";           // free_busy | subject_location (non-private events only)
  std::chrono::milliseconds cache_ttl{60000};  // per mailbox and window; 0 = no cache
  std::uint64_t cache_max_bytes = 64u << 20;   // memory bound of that cache
  std::chrono::milliseconds max_window{62LL * 24 * 3600 * 1000};  // longest lookup window
  bool operator==(const lookup&) const = default;
};

// [freebusy_api]: POST /calendar/v3/freeBusy (Google Calendar API v3 freeBusy.query).
struct freebusy_api {
  bool enabled = true;
  std::vector<std::string> tokens;  // accepted bearer tokens; secret; none = every request is refused
  std::uint32_t max_calendars = 50;  // items beyond get tooManyCalendarsRequested
  bool operator==(const freebusy_api&) const = default;
};

// [legacy_lookup]: the Google Calendar Connector's lookup protocol (form field text=[...]).
struct legacy_lookup {
  bool enabled = false;  // it has no authentication (as the original): serving it is a choice
  std::string path = "/GCalExchangeLookup/ExchangeQuerier.aspx";
  std::string mailslot_url;  // required when enabled: https://www.google.com/calendar/hosted/<domain>/mailslot
  bool default_ssl = true;   // scheme of the mailslot URL when the Referer does not say
  std::uint32_t max_users = 100;
  bool operator==(const legacy_lookup&) const = default;
};

// The whole file. Member names repeat their type names, hence the qualified types.
struct root {
  config::server server;
  config::log log;
  config::http_client http_client;
  std::optional<config::ldap> ldap;
  config::directory directory;
  std::map<std::string, exchange_endpoint> exchange;  // [exchange.<name>], by name
  config::lookup lookup;
  config::freebusy_api freebusy_api;
  config::legacy_lookup legacy_lookup;
  std::string source;  // the file it was loaded from (for messages)
  bool operator==(const root&) const = default;
};

// `config` is set exactly when `errors` is empty. Each error is one printable line:
//   "calgate.toml:12:1: server.max_connections: must be between 1 and 1000000 (got 0)"
// sorted by position in the file.
struct load_result {
  std::optional<root> config;
  std::vector<std::string> errors;
  explicit operator bool() const noexcept { return config.has_value(); }
};

// Reads and validates the file. A missing or unreadable file is one error.
load_result load_file(const std::string& path);
// Same, for text already in memory; `source_name` is used in messages and as root::source.
load_result load_string(std::string_view toml, std::string_view source_name);
// Same, with environment lookups for ${VAR} going through `env` (tests, check-config).
load_result load_string(std::string_view toml, std::string_view source_name,
                        const env_lookup& env);

// The effective configuration as TOML, every key present, secrets masked (for check-config).
// Without secrets to mask, loading the text gives back `cfg` (except `source`).
std::string render(const root& cfg);

// Every key the loader accepts, dotted ("server.listen", "server.tls.cert_file", ...). Names
// chosen in the file show as "<name>" and array elements as "[]":
// "exchange.<name>.url", "exchange.<name>.account[].user".
std::vector<std::string> known_keys();

}  // namespace calgate::config
