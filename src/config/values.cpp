#include "config/values.hpp"

#include <cstdlib>
#include <limits>

namespace calgate::config {
namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int hex_value(char c) noexcept {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// Leading decimal digits of `s` as an unsigned number; `len` receives how many were read.
// Returns false when the digits do not fit in 64 bits.
bool leading_number(std::string_view s, std::uint64_t& out, std::size_t& len) noexcept {
  std::uint64_t v = 0;
  std::size_t i = 0;
  for (; i < s.size() && is_digit(s[i]); ++i) {
    auto d = static_cast<std::uint64_t>(s[i] - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  len = i;
  return true;
}

bool valid_host_name(std::string_view h) noexcept {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h) {
    if (!is_alpha(c) && !is_digit(c) && c != '.' && c != '-' && c != '_') return false;
  }
  return true;
}

bool valid_ipv6_text(std::string_view h) noexcept {
  if (h.size() < 2 || h.size() > 45 || h.find(':') == std::string_view::npos) return false;
  for (char c : h) {
    if (!is_hex(c) && c != ':' && c != '.') return false;
  }
  return true;
}

bool parse_port(std::string_view s, std::uint16_t& out) noexcept {
  if (s.empty() || s.size() > 5) return false;
  std::uint64_t v = 0;
  std::size_t len = 0;
  if (!leading_number(s, v, len) || len != s.size() || v < 1 || v > 65535) return false;
  out = static_cast<std::uint16_t>(v);
  return true;
}

// RFC 3986 userinfo characters other than '%': unreserved, sub-delims and ':'.
bool userinfo_char(char c) noexcept {
  if (is_alpha(c) || is_digit(c)) return true;
  return std::string_view("-._~!$&'()*+,;=:").find(c) != std::string_view::npos;
}

bool percent_decode(std::string_view s, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return false;
      if (!is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else if (userinfo_char(s[i])) {
      out.push_back(s[i]);
    } else {
      return false;
    }
  }
  return true;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) noexcept {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

constexpr std::string_view proxy_shape = "proxy must look like http://[user:password@]host:port";

}  // namespace

parsed<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept {
  using ms = std::chrono::milliseconds;
  if (text.empty()) return {ms{}, "duration is empty"};
  if (text[0] == '-') return {ms{}, "duration must not be negative"};
  std::uint64_t n = 0;
  std::size_t len = 0;
  if (!leading_number(text, n, len)) return {ms{}, "duration is too large"};
  if (len == 0) return {ms{}, "duration must start with a whole number, e.g. \"30s\""};
  std::string_view unit = text.substr(len);
  if (!unit.empty() && (unit[0] == '.' || unit[0] == ',')) {
    return {ms{}, "duration must be a whole number of its unit, e.g. \"1500ms\" rather than \"1.5s\""};
  }
  if (unit.empty()) return {ms{}, "duration needs a unit: ms, s, m, h or d"};
  std::uint64_t factor = 0;
  if (unit == "ms") factor = 1;
  else if (unit == "s") factor = 1000;
  else if (unit == "m") factor = 60 * 1000;
  else if (unit == "h") factor = 60 * 60 * 1000;
  else if (unit == "d") factor = 24 * 60 * 60 * 1000;
  else return {ms{}, "duration has an unknown unit (use ms, s, m, h or d)"};
  constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<ms::rep>::max());
  if (n > max / factor) return {ms{}, "duration is too large"};
  return {ms{static_cast<ms::rep>(n * factor)}, {}};
}

std::string format_duration(std::chrono::milliseconds d) {
  auto v = d.count();
  if (v != 0 && v % (24 * 60 * 60 * 1000) == 0) return std::to_string(v / (24 * 60 * 60 * 1000)) + "d";
  if (v != 0 && v % (60 * 60 * 1000) == 0) return std::to_string(v / (60 * 60 * 1000)) + "h";
  if (v != 0 && v % (60 * 1000) == 0) return std::to_string(v / (60 * 1000)) + "m";
  if (v != 0 && v % 1000 == 0) return std::to_string(v / 1000) + "s";
  return std::to_string(v) + "ms";
}

parsed<std::uint64_t> parse_size(std::string_view text) noexcept {
  if (text.empty()) return {0, "size is empty"};
  if (text[0] == '-') return {0, "size must not be negative"};
  std::uint64_t n = 0;
  std::size_t len = 0;
  if (!leading_number(text, n, len)) return {0, "size is too large"};
  if (len == 0) return {0, "size must start with a whole number, e.g. \"64KiB\""};
  std::string_view unit = text.substr(len);
  if (!unit.empty() && (unit[0] == '.' || unit[0] == ',')) {
    return {0, "size must be a whole number of its unit, e.g. \"1536KiB\" rather than \"1.5MiB\""};
  }
  if (unit.empty()) return {0, "size needs a unit: B, KiB, MiB, GiB or TiB (or write an integer)"};
  unsigned shift = 0;
  if (unit == "B") shift = 0;
  else if (unit == "KiB") shift = 10;
  else if (unit == "MiB") shift = 20;
  else if (unit == "GiB") shift = 30;
  else if (unit == "TiB") shift = 40;
  else if (unit == "KB" || unit == "MB" || unit == "GB" || unit == "TB" || unit == "k" ||
           unit == "K" || unit == "M" || unit == "G" || unit == "kB") {
    return {0, "size units are binary: B, KiB, MiB, GiB or TiB"};
  } else {
    return {0, "size has an unknown unit (use B, KiB, MiB, GiB or TiB)"};
  }
  if (n > (std::numeric_limits<std::uint64_t>::max() >> shift)) return {0, "size is too large"};
  return {n << shift, {}};
}

std::string format_size(std::uint64_t bytes) {
  static constexpr std::string_view units[] = {"TiB", "GiB", "MiB", "KiB"};
  static constexpr unsigned shifts[] = {40, 30, 20, 10};
  for (std::size_t i = 0; i < 4; ++i) {
    std::uint64_t unit = std::uint64_t{1} << shifts[i];
    if (bytes != 0 && bytes % unit == 0) return std::to_string(bytes / unit) + std::string(units[i]);
  }
  return std::to_string(bytes) + "B";
}

parsed<endpoint> parse_endpoint(std::string_view text) {
  if (text.empty()) return {{}, "address is empty"};
  std::string_view host, port;
  if (text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return {{}, "IPv6 address is missing its closing ']'"};
    host = text.substr(1, close - 1);
    if (!valid_ipv6_text(host)) return {{}, "address has an invalid IPv6 host"};
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return {{}, "address needs a port, e.g. \"[::1]:8080\""};
    }
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return {{}, "address needs a port, e.g. \"127.0.0.1:8080\""};
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return {{}, "an IPv6 address must be in brackets, e.g. \"[::1]:8080\""};
    }
    if (host.empty()) {
      return {{}, "address has no host (use 0.0.0.0 or [::] for all interfaces)"};
    }
    if (!valid_host_name(host)) return {{}, "address has an invalid host name"};
  }
  endpoint e;
  if (!parse_port(port, e.port)) return {{}, "port must be a number between 1 and 65535"};
  e.host = std::string(host);
  return {std::move(e), {}};
}

std::string format_endpoint(const endpoint& e) {
  if (e.host.find(':') != std::string::npos) {
    return "[" + e.host + "]:" + std::to_string(e.port);
  }
  return e.host + ":" + std::to_string(e.port);
}

parsed<proxy_url> parse_proxy_url(std::string_view text) {
  if (starts_with_nocase(text, "https://")) {
    return {{}, "proxy must be an http:// URL (TLS to the origin is tunnelled with CONNECT)"};
  }
  if (!starts_with_nocase(text, "http://")) return {{}, proxy_shape};
  std::string_view rest = text.substr(7);
  proxy_url out;
  auto at = rest.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) return {{}, "proxy credentials must be user:password"};
    if (!percent_decode(userinfo.substr(0, colon), out.user) ||
        !percent_decode(userinfo.substr(colon + 1), out.password)) {
      return {{}, "proxy credentials must percent-encode special characters (e.g. @ as %40)"};
    }
    if (out.user.empty()) return {{}, "proxy user name is empty"};
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#") != std::string_view::npos) {
    return {{}, "proxy URL must not have a path, query or fragment"};
  }
  auto ep = parse_endpoint(rest);
  if (!ep) return {{}, proxy_shape};
  out.host = std::move(ep.value.host);
  out.port = ep.value.port;
  return {std::move(out), {}};
}

std::string mask_proxy_url(std::string_view text) {
  auto scheme = text.find("://");
  auto at = text.rfind('@');
  if (scheme == std::string_view::npos || at == std::string_view::npos || at < scheme) {
    return std::string(text);
  }
  auto colon = text.find(':', scheme + 3);
  if (colon == std::string_view::npos || colon > at) colon = at;  // no password part
  return std::string(text.substr(0, colon)) + ":***" + std::string(text.substr(at));
}

env_lookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    // Configuration is loaded before any thread that could call setenv(3) starts.
    const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

expansion expand_env(std::string_view text, const env_lookup& env) {
  expansion out;
  out.text.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '$') {
      out.text.push_back(c);
      ++i;
      continue;
    }
    if (text.substr(i, 3) == "$${") {
      out.text += "${";
      i += 3;
      continue;
    }
    if (text.substr(i, 2) != "${") {
      out.text.push_back('$');
      ++i;
      continue;
    }
    auto close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      out.error = "unterminated ${ (write $${ for a literal ${)";
      return out;
    }
    std::string_view name = text.substr(i + 2, close - i - 2);
    bool valid = !name.empty() && !is_digit(name[0]);
    for (char n : name) valid = valid && (is_alpha(n) || is_digit(n) || n == '_');
    if (!valid) {
      out.error = "invalid environment variable name in ${...} (use letters, digits and _)";
      return out;
    }
    auto value = env(std::string(name));
    if (!value) {
      out.error = "environment variable is not set";
      out.variable = std::string(name);
      return out;
    }
    out.text += *value;
    out.substituted = true;
    i = close + 1;
  }
  return out;
}

std::string escape_env(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') out.push_back('$');
    out.push_back(text[i]);
  }
  return out;
}

}  // namespace calgate::config
