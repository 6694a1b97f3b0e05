#pragma once
// HTTP/1.1 message parsing on llhttp 8.1.0, with our own limits and a guard
// against the request-smuggling inputs that this llhttp version accepts.
//
// The guard scans the header block before llhttp sees it and rejects a CR not
// followed by LF (CVE-2023-30589), a bare LF, and any line starting with SP or
// HTAB (obs-fold). llhttp itself rejects Content-Length together with
// Transfer-Encoding; duplicate Content-Length fields and trailer fields are
// rejected here.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "net/http/message.hpp"

namespace calgate::net::http {

struct parser_limits {
  std::size_t max_header_bytes = 16 * 1024;  // start line + fields + final CRLF
  std::size_t max_headers = 100;
  std::size_t max_uri_bytes = 8 * 1024;      // requests only
  std::uint64_t max_body_bytes = 1 << 20;
};

enum class parse_status { need_more, complete, error };

namespace detail {
class parser_core;
}

class request_parser {
 public:
  explicit request_parser(const parser_limits& limits);
  ~request_parser();
  request_parser(const request_parser&) = delete;
  request_parser& operator=(const request_parser&) = delete;

  // Parses the next bytes of the current message. `consumed` says how many
  // were used: after `complete`, the rest belongs to the next (pipelined)
  // message; call next() before feeding it.
  parse_status feed(std::string_view data, std::size_t& consumed);
  // The peer closed its side: completes or fails the current message.
  parse_status finish();
  // Clears state for the next message on the same connection.
  void next();

  bool started() const noexcept;            // any byte of a message seen
  bool headers_complete() const noexcept;
  bool expects_continue() const noexcept;   // Expect: 100-continue and a body to come
  bool keep_alive() const noexcept;         // valid after complete

  request& message() noexcept;
  // On error: the status to answer (400, 413, 414, 431, 501, 505) and why.
  int error_status() const noexcept;
  std::string_view error_message() const noexcept;

 private:
  std::unique_ptr<detail::parser_core> core_;
};

class response_parser {
 public:
  explicit response_parser(const parser_limits& limits);
  ~response_parser();
  response_parser(const response_parser&) = delete;
  response_parser& operator=(const response_parser&) = delete;

  // Prepares for the response to a request with this method (HEAD has no body).
  void start(std::string_view request_method);
  parse_status feed(std::string_view data, std::size_t& consumed);
  parse_status finish();

  bool started() const noexcept;
  bool headers_complete() const noexcept;
  bool complete() const noexcept;
  bool keep_alive() const noexcept;
  int status() const noexcept;
  http::headers& headers() noexcept;
  std::string& body() noexcept;
  std::string_view error_message() const noexcept;
  bool body_too_large() const noexcept;

 private:
  std::unique_ptr<detail::parser_core> core_;
};

}  // namespace calgate::net::http
