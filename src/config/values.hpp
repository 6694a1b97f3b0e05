#pragma once
// The scalar forms a configuration value can take beyond plain TOML types:
// durations ("250ms"), sizes ("64KiB"), endpoints ("[::1]:8080"), proxy URLs,
// and ${VAR} expansion. Free of toml++ so other code (CLI flags) can reuse them.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace calgate::config {

// A parsed value, or a fixed message saying why the text was rejected.
template <class T>
struct parsed {
  T value{};
  std::string_view error;  // static text; empty on success
  explicit operator bool() const noexcept { return error.empty(); }
};

// "<digits><unit>" with unit ms, s, m, h or d (24h); no sign, no fraction, no spaces.
parsed<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept;
// The largest unit that represents `d` exactly: 90000ms -> "90s", 3600000ms -> "1h", 86400000ms -> "1d".
std::string format_duration(std::chrono::milliseconds d);

// "<digits><unit>" with unit B, KiB, MiB, GiB or TiB (powers of 1024).
parsed<std::uint64_t> parse_size(std::string_view text) noexcept;
// The largest binary unit that represents `bytes` exactly: "16KiB", "1MiB", "1000B".
std::string format_size(std::uint64_t bytes);

struct endpoint {
  std::string host;  // name or address; IPv6 without brackets
  std::uint16_t port = 0;
  bool operator==(const endpoint&) const = default;
};
// "HOST:PORT" or "[IPV6]:PORT"; port 1..65535. The host is kept without brackets.
parsed<endpoint> parse_endpoint(std::string_view text);
std::string format_endpoint(const endpoint& e);

// "http://[user:password@]host:port[/]", user name and password percent-decoded.
struct proxy_url {
  std::string user, password;  // both empty when the URL has no credentials
  std::string host;            // without brackets for IPv6
  std::uint16_t port = 0;
};
parsed<proxy_url> parse_proxy_url(std::string_view text);
// The URL with the password replaced by "***" (for display).
std::string mask_proxy_url(std::string_view text);

// ${NAME} expansion from the environment. "$${" is a literal "${"; any other "$" is literal.
// NAME is [A-Za-z_][A-Za-z0-9_]*. A variable that is set but empty expands to "".
using env_lookup = std::function<std::optional<std::string>(const std::string& name)>;
env_lookup process_env();  // getenv(3)

struct expansion {
  std::string text;          // the expanded text (valid only without error)
  std::string_view error;    // static text; empty on success
  std::string variable;      // the unset variable, for "is not set" errors
  bool substituted = false;  // at least one ${NAME} was replaced
};
expansion expand_env(std::string_view text, const env_lookup& env);
// Escapes "${" as "$${" so the text survives expand_env unchanged.
std::string escape_env(std::string_view text);

}  // namespace calgate::config
