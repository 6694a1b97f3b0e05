#pragma once
// Absolute http(s) URLs as the client and the configuration use them.
#include <cstdint>
#include <string>
#include <string_view>

#include "rt/result.hpp"

namespace calgate::net::http {

struct url {
  std::string scheme;    // "http" or "https"
  std::string host;      // name or IP literal, without brackets
  std::uint16_t port = 0;
  std::string target;    // path and query, at least "/"
  std::string user;      // percent-decoded userinfo, if any
  std::string password;

  // Accepts http://[user[:password]@]host[:port][/path][?query]; fragments are dropped.
  static rt::result<url> parse(std::string_view s);
  bool tls() const noexcept { return scheme == "https"; }
  bool default_port() const noexcept { return port == (tls() ? 443 : 80); }
  // "host[:port]" for the Host header (brackets around IPv6 literals).
  std::string authority() const;
  // "scheme://host:port", the pool key.
  std::string origin() const;
};

// "Basic " + base64(user ":" password)
std::string basic_auth(std::string_view user, std::string_view password);
// rt::base64_encode, kept here for existing callers.
std::string base64_encode(std::string_view in);

}  // namespace calgate::net::http
