#include "net/http/message.hpp"

#include "rt/json_string.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace calgate::net::http {

void headers::add(std::string name, std::string value) {
  header& h = add_empty();
  h.name = std::move(name);
  h.value = std::move(value);
}

header& headers::add_empty() {
  if (n_ < v_.size()) {
    header& h = v_[n_++];
    h.name.clear();
    h.value.clear();
    return h;
  }
  header& h = v_.emplace_back();
  ++n_;
  return h;
}

void headers::clear() noexcept {
  if (v_.size() > spare_fields) v_.resize(spare_fields);  // shrinking: no allocation
  for (header& h : v_) {
    if (h.name.capacity() > spare_bytes) std::string().swap(h.name);
    if (h.value.capacity() > spare_bytes) std::string().swap(h.value);
  }
  n_ = 0;
}

void headers::set(std::string_view name, std::string value) {
  remove(name);
  add(std::string(name), std::move(value));
}

void headers::remove(std::string_view name) {
  const auto live = v_.begin() + static_cast<std::ptrdiff_t>(n_);
  const auto kept = std::remove_if(v_.begin(), live, [&](const header& h) { return iequals(h.name, name); });
  n_ = static_cast<std::size_t>(kept - v_.begin());  // the rest, moved from, are kept for storage
}

std::optional<std::string_view> headers::get(std::string_view name) const noexcept {
  for (const header& h : *this)
    if (iequals(h.name, name)) return std::string_view(h.value);
  return std::nullopt;
}

std::size_t headers::count(std::string_view name) const noexcept {
  std::size_t n = 0;
  for (const header& h : *this)
    if (iequals(h.name, name)) ++n;
  return n;
}

bool headers::has_token(std::string_view name, std::string_view token) const noexcept {
  for (const header& h : *this) {
    if (!iequals(h.name, name)) continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      std::size_t comma = v.find(',');
      std::string_view item = v.substr(0, comma);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (iequals(item, token)) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return false;
}

void request::clear() noexcept {
  method.clear();
  target.clear();
  path.clear();
  query.clear();
  version_minor = 1;
  headers.clear();
  body.clear();
  request_id.clear();
  peer.clear();
  keep_alive = true;
  params.clear();
  route = {};
  connection_id = 0;
}

std::string_view request::param(std::string_view name) const noexcept {
  for (const auto& [k, v] : params)
    if (k == name) return v;
  return {};
}

std::optional<std::string> request::query_param(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    std::size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    std::size_t eq = pair.find('=');
    std::string_view k = pair.substr(0, eq);
    std::string_view v = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (auto dk = decode_component(k, true); dk && *dk == name) return decode_component(v, true);
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::optional<std::string> decode_component(std::string_view s, bool plus_as_space) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

void response::add_static_header(static_field f) {
  if (static_header_count == max_static_headers) throw std::length_error("response: too many static header fields");
  static_headers[static_header_count++] = f;
}

response response::json(int status, std::string body) {
  response r;
  r.status = status;
  r.headers.add("Content-Type", "application/json; charset=utf-8");
  r.body = std::move(body);
  return r;
}

response response::text(int status, std::string body, std::string_view content_type) {
  response r;
  r.status = status;
  r.headers.add("Content-Type", std::string(content_type));
  r.body = std::move(body);
  return r;
}

response response::error(int status, std::string_view message, std::string_view request_id) {
  std::string b = "{\"error\":{\"code\":";
  b += std::to_string(status);
  b += ",\"status\":";
  rt::append_json_string(b, reason_phrase(status));
  b += ",\"message\":";
  rt::append_json_string(b, message);
  if (!request_id.empty()) {
    b += ",\"request_id\":";
    rt::append_json_string(b, request_id);
  }
  b += "}}";
  return json(status, std::move(b));
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return status < 200 ? "Informational" : status < 300 ? "Success" : status < 400 ? "Redirection"
                    : status < 500 ? "Client Error" : "Server Error";
  }
}

std::string_view http_date() {
  thread_local std::time_t cached = 0;
  thread_local char buf[40];
  std::time_t now = std::time(nullptr);
  if (now != cached) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = now;
  }
  return buf;
}

void serialize_head(const response& r, std::string& out, bool keep_alive, std::string_view request_id,
                    std::uint64_t content_length, bool with_content_length) {
  char num[24];
  // The status line and the Date field, the same for every response of one
  // status within a second: composed once, then copied.
  struct head_start {
    int status = 0;
    std::string_view date;
    std::string text;
  };
  thread_local head_start memo;
  const std::string_view date = http_date();  // changes (its buffer's contents) once a second
  if (memo.status != r.status || memo.date != date) {
    memo.status = 0;  // until rebuilt
    memo.text.assign("HTTP/1.1 ");
    auto res = std::to_chars(num, num + sizeof num, r.status);
    memo.text.append(num, res.ptr);
    memo.text += ' ';
    memo.text += reason_phrase(r.status);
    memo.text += "\r\nDate: ";
    memo.text += date;
    memo.text += "\r\n";
    memo.status = r.status;
    memo.date = std::string_view(memo.text).substr(memo.text.size() - 2 - date.size(), date.size());
  }
  out += memo.text;
  auto field = [&](std::string_view name, std::string_view value) {
    // Framing headers are ours; a CR or LF in a field would split the response.
    if (is_framing_field(name) || !safe_field(name, true) || !safe_field(value, false)) return;
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  };
  for (const header& h : r.headers) field(h.name, h.value);
  for (std::size_t i = 0; i < r.static_header_count; ++i) {
    // Checked when compiled (static_field): written as they are.
    out += r.static_headers[i].name;
    out += ": ";
    out += r.static_headers[i].value;
    out += "\r\n";
  }
  if (with_content_length) {
    out += "Content-Length: ";
    auto res = std::to_chars(num, num + sizeof num, content_length);
    out.append(num, res.ptr);
    out += "\r\n";
  }
  if (!request_id.empty()) {
    out += "X-Request-Id: ";
    out += request_id;
    out += "\r\n";
  }
  out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
}

}  // namespace calgate::net::http
