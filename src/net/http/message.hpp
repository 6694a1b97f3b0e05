#pragma once
// HTTP/1.1 message value types shared by the server and the client.
#include <array>
#include <cstdint>
#include <functional>
#include <system_error>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rt/task.hpp"

namespace calgate::net {
class stream;
}

namespace calgate::net::http {

// ASCII case-insensitive equality (field names, tokens). Inline: header lookups call it per field.
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char x = a[i], y = b[i];
    if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z')) return false;
  }
  return true;
}

struct header {
  std::string name;
  std::string value;
};

// An ordered header list with case-insensitive lookup.
class headers {
 public:
  void add(std::string name, std::string value) { v_.push_back({std::move(name), std::move(value)}); }
  // Replaces every field with this name by one.
  void set(std::string_view name, std::string value);
  void remove(std::string_view name);
  std::optional<std::string_view> get(std::string_view name) const noexcept;
  bool has(std::string_view name) const noexcept { return get(name).has_value(); }
  std::size_t count(std::string_view name) const noexcept;
  // True if a comma-separated field (Connection, Expect, ...) lists token.
  bool has_token(std::string_view name, std::string_view token) const noexcept;

  std::size_t size() const noexcept { return v_.size(); }
  bool empty() const noexcept { return v_.empty(); }
  void clear() noexcept { v_.clear(); }
  auto begin() const noexcept { return v_.begin(); }
  auto end() const noexcept { return v_.end(); }
  std::vector<header>& raw() noexcept { return v_; }

 private:
  std::vector<header> v_;
};

struct request {
  std::string method;
  std::string target;  // as received: origin-form path and query
  std::string path;    // percent-decoding is left to handlers (see decode_component)
  std::string query;   // without the '?'
  int version_minor = 1;
  http::headers headers;
  std::string body;
  std::string request_id;
  std::string peer;
  bool keep_alive = true;
  // Filled by the router from {name} segments of the matched pattern.
  std::vector<std::pair<std::string, std::string>> params;
  std::string_view route;  // the matched pattern (owned by the router), for logs and metrics
  std::uint64_t connection_id = 0;  // unique per connection (for connection-bound state such as NTLM)

  // Empties every field but keeps allocated capacity (reused per connection).
  void clear() noexcept;
  std::string_view param(std::string_view name) const noexcept;
  // First value of a query parameter, percent-decoded ('+' as space).
  std::optional<std::string> query_param(std::string_view name) const;
};

struct response {
  int status = 200;
  http::headers headers;
  std::string body;
  // Close the connection without answering (for abusive or test peers).
  bool abort = false;
  // Streams the body instead of `body`: the server writes the head (with
  // Content-Length: content_length), then calls this to write exactly that
  // many bytes. Used for large or paced bodies.
  std::function<rt::task<std::error_code>(net::stream&)> body_writer;
  std::uint64_t content_length = 0;
  // Fields whose name and value outlive the response (string literals, or
  // configuration kept for the server's life), sent after `headers` without
  // copying: the fixed fields of hot routes. At most max_static_headers.
  static constexpr std::size_t max_static_headers = 4;
  std::array<std::pair<std::string_view, std::string_view>, max_static_headers> static_headers{};
  std::size_t static_header_count = 0;
  void add_static_header(std::string_view name, std::string_view value);  // throws std::length_error when full

  static response json(int status, std::string body);
  static response text(int status, std::string body, std::string_view content_type = "text/plain; charset=utf-8");
  // {"error":{"code":status,"message":...,"request_id":...}}
  static response error(int status, std::string_view message, std::string_view request_id = {});
};

std::string_view reason_phrase(int status) noexcept;

// Appends the status line and headers of r (adding Date, Content-Length,
// Connection and X-Request-Id) to out. The body is written separately.
void serialize_head(const response& r, std::string& out, bool keep_alive, std::string_view request_id,
                    std::uint64_t content_length, bool with_content_length = true);

// RFC 3986 percent-decoding; plus_as_space for form/query encoding. Returns
// nullopt for malformed escapes.
std::optional<std::string> decode_component(std::string_view s, bool plus_as_space);

// The IMF-fixdate for now, cached per second.
std::string_view http_date();

}  // namespace calgate::net::http
