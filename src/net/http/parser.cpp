#include "net/http/parser.hpp"

#include <cstring>

#include <llhttp.h>

#include <string>

namespace calgate::net::http::detail {

// What both directions share: llhttp, header accumulation, limits and the guard.
class parser_core {
 public:
  parser_core(llhttp_type_t type, const parser_limits& l) : type_(type), limits_(l) {
    llhttp_init(&p_, type, &settings());
    p_.data = this;
  }

  void reset_message() {
    llhttp_reset(&p_);
    p_.data = this;
    scan_ = scan_state{};
    started_ = headers_done_ = complete_ = keep_alive_ = expect_continue_ = false;
    header_count_ = 0;
    field_open_ = false;
    error_status_ = 0;
    error_.clear();
    req_.clear();
    status_ = 0;
    resp_headers_.clear();
    resp_body_.clear();
    body_too_large_ = false;
  }

  parse_status feed(std::string_view data, std::size_t& consumed) {
    consumed = 0;
    if (error_status_) return parse_status::error;
    if (complete_) return parse_status::complete;
    if (data.empty()) return parse_status::need_more;
    started_ = true;
    if (!scan_.done && !guard(data)) return parse_status::error;
    llhttp_errno_t rc = llhttp_execute(&p_, data.data(), data.size());
    if (rc == HPE_OK) {
      consumed = data.size();
      return complete_ ? parse_status::complete : parse_status::need_more;
    }
    if (rc == HPE_PAUSED || rc == HPE_PAUSED_UPGRADE) {
      consumed = static_cast<std::size_t>(llhttp_get_error_pos(&p_) - data.data());
      if (rc == HPE_PAUSED) llhttp_resume(&p_);
      if (rc == HPE_PAUSED_UPGRADE) keep_alive_ = false;  // we never switch protocols
      return complete_ ? parse_status::complete : parse_status::need_more;
    }
    if (!error_status_) fail_from_llhttp(rc);
    return parse_status::error;
  }

  parse_status finish() {
    if (error_status_) return parse_status::error;
    if (complete_) return parse_status::complete;
    if (!started_) return parse_status::need_more;
    llhttp_errno_t rc = llhttp_finish(&p_);
    if (complete_) return parse_status::complete;
    if (rc != HPE_OK && !error_status_) fail_from_llhttp(rc);
    if (!error_status_) fail(400, "connection closed before the message was complete");
    return parse_status::error;
  }

  // ---- state shared with the wrappers
  llhttp_type_t type_;
  parser_limits limits_;
  llhttp_t p_{};
  bool started_ = false;
  bool headers_done_ = false;
  bool complete_ = false;
  bool keep_alive_ = false;
  bool head_request_ = false;
  bool expect_continue_ = false;
  bool body_too_large_ = false;
  int error_status_ = 0;
  std::string error_;
  request req_;
  int status_ = 0;
  http::headers resp_headers_;
  std::string resp_body_;

 private:
  struct scan_state {
    std::size_t bytes = 0;
    bool prev_cr = false;
    bool line_start = true;
    bool line_empty = true;
    bool seen_start_line = false;
    bool done = false;
  };

  void fail(int status, std::string why) {
    if (error_status_) return;
    error_status_ = status;
    error_ = std::move(why);
  }

  void fail_from_llhttp(llhttp_errno_t rc) {
    const char* reason = llhttp_get_error_reason(&p_);
    std::string why = llhttp_errno_name(rc);
    if (reason && *reason) {
      why += ": ";
      why += reason;
    }
    int status = 400;
    if (rc == HPE_INVALID_VERSION) status = 505;
    else if (rc == HPE_INVALID_METHOD) status = 501;
    fail(status, std::move(why));
  }

  // Scans the header block (up to and including the empty line). Returns false
  // and records the error on a violation.
  bool guard(std::string_view data) {
    const char* p = data.data();
    const char* const end = p + data.size();
    while (p < end) {
      if (scan_.bytes >= limits_.max_header_bytes) {  // one more byte would exceed it
        fail(431, "header section exceeds " + std::to_string(limits_.max_header_bytes) + " bytes");
        return false;
      }
      const char c = *p;
      if (scan_.prev_cr) {
        ++p;
        ++scan_.bytes;
        if (c != '\n') {
          fail(400, "CR not followed by LF in the header section");
          return false;
        }
        scan_.prev_cr = false;
        if (scan_.line_empty && scan_.seen_start_line) {
          scan_.done = true;
          return true;
        }
        if (!scan_.line_empty) scan_.seen_start_line = true;
        scan_.line_start = scan_.line_empty = true;
        continue;
      }
      if (c == '\r') {
        ++p;
        ++scan_.bytes;
        scan_.prev_cr = true;
        continue;
      }
      if (c == '\n') {
        fail(400, "bare LF in the header section");
        return false;
      }
      if (scan_.line_start && scan_.seen_start_line && (c == ' ' || c == '\t')) {
        fail(400, "obsolete line folding in the header section");
        return false;
      }
      // The rest of the line up to CR or LF (within the byte budget) needs no look:
      // found with memchr, not byte by byte.
      const std::size_t budget = limits_.max_header_bytes - scan_.bytes;
      const char* stop = p + std::min<std::size_t>(static_cast<std::size_t>(end - p), budget);
      const void* cr = std::memchr(p, '\r', static_cast<std::size_t>(stop - p));
      if (cr) stop = static_cast<const char*>(cr);
      if (const void* lf = std::memchr(p, '\n', static_cast<std::size_t>(stop - p))) stop = static_cast<const char*>(lf);
      scan_.bytes += static_cast<std::size_t>(stop - p);
      p = stop;
      scan_.line_start = scan_.line_empty = false;
    }
    return true;
  }

  static parser_core* self(llhttp_t* p) { return static_cast<parser_core*>(p->data); }

  static int user_error(llhttp_t* p, int status, std::string why) {
    self(p)->fail(status, std::move(why));
    llhttp_set_error_reason(p, "limit");
    return HPE_USER;
  }

  http::headers& hdrs() { return type_ == HTTP_REQUEST ? req_.headers : resp_headers_; }

  static int on_message_begin(llhttp_t* p) {
    self(p)->started_ = true;
    return 0;
  }
  static int on_url(llhttp_t* p, const char* at, size_t n) {
    parser_core* s = self(p);
    if (s->req_.target.size() + n > s->limits_.max_uri_bytes)
      return user_error(p, 414, "request target exceeds " + std::to_string(s->limits_.max_uri_bytes) + " bytes");
    s->req_.target.append(at, n);
    return 0;
  }
  // A field is written straight into the message's header list (in storage
  // kept from earlier messages); trailers (of responses; a request's are
  // refused) are dropped unread.
  static int on_header_field(llhttp_t* p, const char* at, size_t n) {
    parser_core* s = self(p);
    if (s->headers_done_) {
      if (s->type_ == HTTP_REQUEST) return user_error(p, 400, "trailer fields are not accepted");
      return 0;
    }
    if (!s->field_open_) {
      s->hdrs().add_empty();
      s->field_open_ = true;
    }
    s->hdrs().back().name.append(at, n);
    return 0;
  }
  static int on_header_field_complete(llhttp_t* p) {
    parser_core* s = self(p);
    if (++s->header_count_ > s->limits_.max_headers)
      return user_error(p, 431, "more than " + std::to_string(s->limits_.max_headers) + " header fields");
    return 0;
  }
  static int on_header_value(llhttp_t* p, const char* at, size_t n) {
    parser_core* s = self(p);
    if (s->headers_done_) return 0;  // a trailer
    if (!s->field_open_) return user_error(p, 400, "header value without a field name");
    s->hdrs().back().value.append(at, n);
    return 0;
  }
  static int on_header_value_complete(llhttp_t* p) {
    parser_core* s = self(p);
    if (s->headers_done_) return 0;  // a trailer
    if (!s->field_open_) return user_error(p, 400, "header value without a field name");
    std::string& v = s->hdrs().back().value;
    // llhttp keeps trailing whitespace of a value; RFC 9110 says to drop it.
    std::size_t end = v.size();
    while (end > 0 && (v[end - 1] == ' ' || v[end - 1] == '\t')) --end;
    v.resize(end);
    s->field_open_ = false;
    return 0;
  }
  static int on_headers_complete(llhttp_t* p) {
    parser_core* s = self(p);
    s->headers_done_ = true;
    http::headers& h = s->hdrs();
    // The fields checked below, counted in one pass.
    std::size_t content_lengths = 0, hosts = 0;
    bool expect = false;
    for (const header& f : h) {
      if (iequals(f.name, "Content-Length")) ++content_lengths;
      else if (iequals(f.name, "Host")) ++hosts;
      else if (iequals(f.name, "Expect")) expect = true;
    }
    if (content_lengths > 1) return user_error(p, 400, "more than one Content-Length field");
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > s->limits_.max_body_bytes) {
      s->body_too_large_ = true;
      return user_error(p, 413, "body exceeds " + std::to_string(s->limits_.max_body_bytes) + " bytes");
    }
    if (s->type_ == HTTP_REQUEST) {
      request& r = s->req_;
      r.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
      r.version_minor = p->http_minor;
      if (p->http_major != 1) return user_error(p, 505, "only HTTP/1.x is supported");
      if (r.version_minor >= 1 && hosts != 1) return user_error(p, 400, "HTTP/1.1 requires exactly one Host field");
      if (r.target.empty() || r.target.front() != '/') {
        if (r.target != "*") return user_error(p, 400, "request target must be in origin form");
      }
      // assign, not substr: the request is reused per connection, so its strings keep their buffers.
      std::size_t q = r.target.find('?');
      r.path.assign(r.target, 0, q);
      if (q != std::string::npos) r.query.assign(r.target, q + 1);
      bool has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
      const bool continue_asked = expect && h.has_token("Expect", "100-continue");
      s->expect_continue_ = has_body && r.version_minor >= 1 && continue_asked;
      if (expect && !continue_asked) return user_error(p, 417, "unsupported expectation");
      if (p->flags & F_CONTENT_LENGTH) r.body.reserve(static_cast<std::size_t>(p->content_length));
    } else {
      s->status_ = p->status_code;
      if (p->flags & F_CONTENT_LENGTH) s->resp_body_.reserve(static_cast<std::size_t>(p->content_length));
      if (s->head_request_) return 1;  // a response to HEAD has no body whatever it says
    }
    return 0;
  }
  static int on_body(llhttp_t* p, const char* at, size_t n) {
    parser_core* s = self(p);
    std::string& b = s->type_ == HTTP_REQUEST ? s->req_.body : s->resp_body_;
    if (b.size() + n > s->limits_.max_body_bytes) {
      s->body_too_large_ = true;
      return user_error(p, 413, "body exceeds " + std::to_string(s->limits_.max_body_bytes) + " bytes");
    }
    b.append(at, n);
    return 0;
  }
  static int on_message_complete(llhttp_t* p) {
    parser_core* s = self(p);
    if (s->type_ == HTTP_RESPONSE && p->status_code >= 100 && p->status_code < 200) {
      // Interim responses (100 Continue, 103 Early Hints) are skipped.
      s->resp_headers_.clear();
      s->headers_done_ = false;
      s->scan_ = scan_state{};
      s->header_count_ = 0;
      return 0;
    }
    s->complete_ = true;
    s->keep_alive_ = llhttp_should_keep_alive(p) != 0;
    if (s->type_ == HTTP_REQUEST) s->req_.keep_alive = s->keep_alive_;
    return HPE_PAUSED;
  }

  static const llhttp_settings_t& settings() {
    static const llhttp_settings_t st = [] {
      llhttp_settings_t x;
      llhttp_settings_init(&x);
      x.on_message_begin = on_message_begin;
      x.on_url = on_url;
      x.on_header_field = on_header_field;
      x.on_header_field_complete = on_header_field_complete;
      x.on_header_value = on_header_value;
      x.on_header_value_complete = on_header_value_complete;
      x.on_headers_complete = on_headers_complete;
      x.on_body = on_body;
      x.on_message_complete = on_message_complete;
      return x;
    }();
    return st;
  }

  scan_state scan_;
  std::size_t header_count_ = 0;
  bool field_open_ = false;  // a field's name was begun (its value is not complete yet)
};

}  // namespace calgate::net::http::detail

namespace calgate::net::http {

request_parser::request_parser(const parser_limits& limits)
    : core_(std::make_unique<detail::parser_core>(HTTP_REQUEST, limits)) {}
request_parser::~request_parser() = default;
parse_status request_parser::feed(std::string_view data, std::size_t& consumed) { return core_->feed(data, consumed); }
parse_status request_parser::finish() { return core_->finish(); }
void request_parser::next() { core_->reset_message(); }
bool request_parser::started() const noexcept { return core_->started_; }
bool request_parser::headers_complete() const noexcept { return core_->headers_done_; }
bool request_parser::expects_continue() const noexcept { return core_->expect_continue_; }
bool request_parser::keep_alive() const noexcept { return core_->keep_alive_; }
request& request_parser::message() noexcept { return core_->req_; }
int request_parser::error_status() const noexcept { return core_->error_status_; }
std::string_view request_parser::error_message() const noexcept { return core_->error_; }

response_parser::response_parser(const parser_limits& limits)
    : core_(std::make_unique<detail::parser_core>(HTTP_RESPONSE, limits)) {}
response_parser::~response_parser() = default;
void response_parser::start(std::string_view request_method) {
  core_->reset_message();
  // Neither a HEAD response nor a 2xx answer to CONNECT has a body.
  core_->head_request_ = request_method == "HEAD" || request_method == "CONNECT";
}
parse_status response_parser::feed(std::string_view data, std::size_t& consumed) { return core_->feed(data, consumed); }
parse_status response_parser::finish() { return core_->finish(); }
bool response_parser::started() const noexcept { return core_->started_; }
bool response_parser::headers_complete() const noexcept { return core_->headers_done_; }
bool response_parser::complete() const noexcept { return core_->complete_; }
bool response_parser::keep_alive() const noexcept { return core_->keep_alive_; }
int response_parser::status() const noexcept { return core_->status_; }
http::headers& response_parser::headers() noexcept { return core_->resp_headers_; }
std::string& response_parser::body() noexcept { return core_->resp_body_; }
std::string_view response_parser::error_message() const noexcept { return core_->error_; }
bool response_parser::body_too_large() const noexcept { return core_->body_too_large_; }

}  // namespace calgate::net::http
