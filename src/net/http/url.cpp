#include "net/http/url.hpp"

#include <charconv>

#include "net/http/message.hpp"
#include "rt/base64.hpp"
#include "rt/text.hpp"

namespace calgate::net::http {

rt::result<url> url::parse(std::string_view s) {
  url u;
  std::size_t colon = s.find("://");
  if (colon == std::string_view::npos) return rt::errc::bad_input;
  std::string scheme = rt::ascii_lower(s.substr(0, colon));
  if (scheme != "http" && scheme != "https") return rt::errc::bad_input;
  u.scheme = scheme;
  s.remove_prefix(colon + 3);
  if (std::size_t hash = s.find('#'); hash != std::string_view::npos) s = s.substr(0, hash);
  std::size_t end = s.find_first_of("/?");
  std::string_view auth = s.substr(0, end);
  std::string_view rest = end == std::string_view::npos ? std::string_view{} : s.substr(end);
  if (std::size_t at = auth.rfind('@'); at != std::string_view::npos) {
    std::string_view ui = auth.substr(0, at);
    auth.remove_prefix(at + 1);
    std::size_t c = ui.find(':');
    auto user = decode_component(ui.substr(0, c), false);
    auto pass = c == std::string_view::npos ? std::optional<std::string>("") : decode_component(ui.substr(c + 1), false);
    if (!user || !pass) return rt::errc::bad_input;
    u.user = *user;
    u.password = *pass;
  }
  std::string_view host, port;
  if (!auth.empty() && auth.front() == '[') {
    std::size_t close = auth.find(']');
    if (close == std::string_view::npos) return rt::errc::bad_input;
    host = auth.substr(1, close - 1);
    std::string_view after = auth.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return rt::errc::bad_input;
      port = after.substr(1);
    }
  } else {
    std::size_t c = auth.rfind(':');
    host = auth.substr(0, c);
    if (c != std::string_view::npos) port = auth.substr(c + 1);
  }
  if (host.empty() || host.size() > 253) return rt::errc::bad_input;
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == ':' || c == '_' || c == '%';
    if (!ok) return rt::errc::bad_input;
  }
  u.host = std::string(host);
  if (port.empty()) {
    u.port = u.tls() ? 443 : 80;
  } else {
    unsigned v = 0;
    auto r = std::from_chars(port.data(), port.data() + port.size(), v);
    if (r.ec != std::errc{} || r.ptr != port.data() + port.size() || v == 0 || v > 65535) return rt::errc::bad_input;
    u.port = static_cast<std::uint16_t>(v);
  }
  if (rest.empty() || rest.front() == '?') u.target = "/" + std::string(rest);
  else u.target = std::string(rest);
  for (char c : u.target)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return rt::errc::bad_input;
  return u;
}

std::string url::authority() const {
  std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (!default_port()) out += ":" + std::to_string(port);
  return out;
}

std::string url::origin() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return scheme + "://" + h + ":" + std::to_string(port);
}

std::string base64_encode(std::string_view in) { return rt::base64_encode(in); }

std::string basic_auth(std::string_view user, std::string_view password) {
  std::string cred(user);
  cred += ':';
  cred += password;
  return "Basic " + base64_encode(cred);
}

}  // namespace calgate::net::http
