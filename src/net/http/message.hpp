#pragma once
// HTTP/1.1 message value types shared by the server and the client.
#include <array>
#include <cstdint>
#include <functional>
#include <system_error>
#include <optional>
#include <span>
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
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char x = a[i], y = b[i];
    if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z')) return false;
  }
  return true;
}

// Fields the server writes itself (message framing): never taken from handlers.
constexpr bool is_framing_field(std::string_view n) noexcept {
  switch (n.size()) {
    case 4: return iequals(n, "Date");
    case 10: return iequals(n, "Connection");
    case 14: return iequals(n, "Content-Length");
    case 17: return iequals(n, "Transfer-Encoding");
    default: return false;
  }
}

// No CR or LF (which would split the head), and no ':' in a name.
constexpr bool safe_field(std::string_view v, bool is_name) noexcept {
  for (char c : v)
    if (c == '\r' || c == '\n' || (is_name && c == ':')) return false;
  return true;
}

// A response field fixed when compiled (string literals, as a hot route's
// Content-Type): checked by the compiler, so the server writes it without
// looking and without copying. A bad one does not compile.
struct static_field {
  std::string_view name, value;
  consteval static_field(std::string_view n, std::string_view v) : name(n), value(v) {
    if (n.empty() || !safe_field(n, true) || !safe_field(v, false) || is_framing_field(n))
      throw "invalid static header field";  // in a consteval call: a compile error
  }
  constexpr static_field() = default;
};

struct header {
  std::string name;
  std::string value;
};

// An ordered header list with case-insensitive lookup.
//
// Cleared fields keep their storage (a few small ones, see clear()) for the
// next fields: a parser's request, reused message after message, then
// allocates nothing for its usual fields.
class headers {
 public:
  headers() = default;
  // Copies the fields (not the kept storage); a moved-from list is empty.
  headers(const headers& o) : v_(o.v_.begin(), o.v_.begin() + static_cast<std::ptrdiff_t>(o.n_)), n_(o.n_) {}
  headers(headers&& o) noexcept : v_(std::move(o.v_)), n_(std::exchange(o.n_, 0)) {}
  headers& operator=(const headers& o) {
    if (this != &o) *this = headers(o);
    return *this;
  }
  headers& operator=(headers&& o) noexcept {
    v_ = std::move(o.v_);
    n_ = std::exchange(o.n_, 0);
    o.v_.clear();
    return *this;
  }
  ~headers() = default;

  void add(std::string name, std::string value);
  // A new, empty field at the end (in kept storage when there is some), for a
  // parser to fill in place.
  header& add_empty();
  // Replaces every field with this name by one.
  void set(std::string_view name, std::string value);
  void remove(std::string_view name);
  std::optional<std::string_view> get(std::string_view name) const noexcept;
  bool has(std::string_view name) const noexcept { return get(name).has_value(); }
  std::size_t count(std::string_view name) const noexcept;
  // True if a comma-separated field (Connection, Expect, ...) lists token.
  bool has_token(std::string_view name, std::string_view token) const noexcept;

  std::size_t size() const noexcept { return n_; }
  bool empty() const noexcept { return n_ == 0; }
  // Keeps the storage of up to spare_fields fields of at most spare_bytes each.
  void clear() noexcept;
  auto begin() const noexcept { return v_.cbegin(); }
  auto end() const noexcept { return v_.cbegin() + static_cast<std::ptrdiff_t>(n_); }
  std::span<header> raw() noexcept { return {v_.data(), n_}; }
  header& back() noexcept { return v_[n_ - 1]; }  // the last field (there must be one)

  static constexpr std::size_t spare_fields = 8;
  static constexpr std::size_t spare_bytes = 128;  // a kept name or value holds at most this much

 private:
  std::vector<header> v_;  // the fields, then (from n_ on) emptied ones kept for their storage
  std::size_t n_ = 0;
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
  // Fixed fields of hot routes (static_field: literals checked when compiled),
  // sent after `headers` without copying. At most max_static_headers.
  static constexpr std::size_t max_static_headers = 4;
  std::array<static_field, max_static_headers> static_headers{};
  std::size_t static_header_count = 0;
  void add_static_header(static_field f);  // throws std::length_error when full

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
