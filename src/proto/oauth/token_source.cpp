#include "proto/oauth/token_source.hpp"

#include <algorithm>
#include <charconv>

#include "net/http/client.hpp"
#include "net/http/url.hpp"
#include "proto/json/codec.hpp"
#include "rt/log.hpp"
#include "rt/wait_queue.hpp"
#include "rt/with_timeout.hpp"

namespace calgate::proto::oauth {

namespace {

class oauth_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "oauth"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::invalid_request: return "OAuth2 token endpoint: invalid_request";
      case errc::invalid_client: return "OAuth2 token endpoint: invalid_client (client authentication failed)";
      case errc::invalid_grant: return "OAuth2 token endpoint: invalid_grant";
      case errc::unauthorized_client: return "OAuth2 token endpoint: unauthorized_client";
      case errc::unsupported_grant_type: return "OAuth2 token endpoint: unsupported_grant_type";
      case errc::invalid_scope: return "OAuth2 token endpoint: invalid_scope";
      case errc::endpoint_error: return "OAuth2 token endpoint returned an error";
      case errc::server_unavailable: return "OAuth2 token endpoint unavailable (server error)";
      case errc::http_status: return "OAuth2 token endpoint answered with an unexpected HTTP status";
      case errc::bad_response: return "OAuth2 token endpoint sent an unusable token response";
      case errc::unsupported_token_type: return "OAuth2 token endpoint issued a token that is not a Bearer token";
    }
    return "OAuth2 error";
  }
};

std::error_code err(errc e) noexcept { return make_error_code(e); }

// Tokens live at most this long in the cache, whatever expires_in says.
constexpr std::chrono::seconds max_lifetime{24 * 3600};
// RFC 6749 makes expires_in only RECOMMENDED; without it assume an hour.
constexpr std::chrono::seconds default_lifetime{3600};
// Descriptions from the server are shortened to this in messages and logs.
constexpr std::size_t max_description = 300;

// Text from the server, made safe for one log line: no control characters, bounded.
std::string sanitize(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, max_description)) {
    auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
  if (s.size() > max_description) out += "...";
  return out;
}

std::string status_note(int status) { return " (HTTP " + std::to_string(status) + ")"; }

errc map_rfc6749(std::string_view code) {
  if (code == "invalid_request") return errc::invalid_request;
  if (code == "invalid_client") return errc::invalid_client;
  if (code == "invalid_grant") return errc::invalid_grant;
  if (code == "unauthorized_client") return errc::unauthorized_client;
  if (code == "unsupported_grant_type") return errc::unsupported_grant_type;
  if (code == "invalid_scope") return errc::invalid_scope;
  if (code == "server_error" || code == "temporarily_unavailable") return errc::server_unavailable;
  return errc::endpoint_error;
}

// RFC 6750 b64token: the token goes into an Authorization header as is.
bool valid_token_chars(std::string_view t) {
  return std::all_of(t.begin(), t.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;
  });
}

// The URL without userinfo, for logs.
std::string loggable_url(std::string_view s) {
  auto u = net::http::url::parse(s);
  if (!u) return "(invalid url)";
  return u->scheme + "://" + u->authority() + u->target;
}

std::string form_body(const client_credentials& c) {
  std::string b = "grant_type=client_credentials&client_id=" + form_encode(c.client_id) +
                  "&client_secret=" + form_encode(c.client_secret);
  if (!c.scope.empty()) b += "&scope=" + form_encode(c.scope);
  return b;
}

}  // namespace

const std::error_category& category() noexcept {
  static const oauth_category c;
  return c;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

bool retryable(std::error_code ec) noexcept {
  using net::http::client_errc;
  if (ec == errc::server_unavailable) return true;
  if (ec == rt::errc::timed_out || ec == rt::errc::closed || ec == rt::errc::eof || ec == rt::errc::unavailable) {
    return true;
  }
  if (ec == client_errc::connect_timeout || ec == client_errc::tls_timeout || ec == client_errc::header_timeout ||
      ec == client_errc::total_timeout || ec == client_errc::connection_closed || ec == client_errc::pool_exhausted) {
    return true;
  }
  return ec.category() == rt::uv_category();  // refused, reset, DNS, ...
}

std::string form_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += c;
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 0xf];
    }
  }
  return out;
}

namespace detail {
struct grant {
  std::string access_token;
  std::chrono::seconds lifetime{0};
};
}  // namespace detail
using detail::grant;

// One token request in flight, shared by every caller that arrives meanwhile.
struct token_source::flight {
  rt::wait_queue done;
  bool leader_stopped = false;  // its starter was stopped: nothing to share, try again
  std::string token;
  std::error_code error;
};

namespace {

rt::result<std::chrono::seconds> parse_expires_in(const json::document& doc) {
  auto v = doc.at("/expires_in");
  if (!v) return default_lifetime;
  std::int64_t secs = 0;
  if ((*v)->is_string()) {
    std::string_view s = *(*v)->as_string();
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), secs);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return err(errc::bad_response);
  } else {
    auto n = (*v)->as_int();
    if (!n) return err(errc::bad_response);
    secs = *n;
  }
  if (secs <= 0) return err(errc::bad_response);
  return std::min(std::chrono::seconds(secs), max_lifetime);
}

rt::result<grant> interpret(const net::http::client_response& resp, failure& why);

}  // namespace

token_source::token_source(net::http::client& http, client_credentials c) : http_(http), creds_(std::move(c)) {
  if (creds_.timeout.count() <= 0) creds_.timeout = client_credentials{}.timeout;
  if (creds_.refresh_before.count() < 0) creds_.refresh_before = std::chrono::milliseconds(0);
}

token_source::~token_source() = default;

bool token_source::fresh() const noexcept {
  return !token_.empty() && std::chrono::steady_clock::now() < refresh_at_;
}

void token_source::invalidate() noexcept {
  token_.clear();
  refresh_at_ = {};
}

void token_source::invalidate(std::string_view rejected) noexcept {
  if (!token_.empty() && token_ == rejected) invalidate();
}

rt::task<rt::result<std::string>> token_source::token() {
  for (;;) {
    if (fresh()) {
      ++hits_;
      co_return token_;
    }
    if (!flight_) co_return co_await lead();
    std::shared_ptr<flight> f = flight_;  // keeps the queue alive until we resume
    ++joined_;
    std::error_code stopped = co_await f->done.wait();
    if (stopped) co_return stopped;  // this caller's own cancel or deadline
    if (f->leader_stopped) continue;
    if (f->error) co_return f->error;
    co_return f->token;
  }
}

rt::task<rt::result<std::string>> token_source::lead() {
  auto f = std::make_shared<flight>();
  flight_ = f;
  rt::stop_token mine = co_await rt::this_token();
  ++requests_;
  const auto started = std::chrono::steady_clock::now();
  failure why;
  rt::result<grant> g = co_await rt::with_timeout(creds_.timeout, fetch(why));
  flight_.reset();

  if (!g && rt::is_stop(g.error()) && mine.stop_requested()) {
    f->leader_stopped = true;  // our caller gave up, the endpoint did not fail
    f->done.notify_all();
    co_return g.error();
  }
  if (!g) {
    if (why.message.empty()) {
      why.message = g.error() == rt::errc::timed_out
                        ? "no token response within " + std::to_string(creds_.timeout.count()) + " ms"
                        : g.error().message();
    }
    why.code = g.error();
    why.retryable = retryable(g.error());
    ++failures_;
    log::warn("oauth token request failed", {{"token_url", loggable_url(creds_.token_url)},
                                             {"client_id", creds_.client_id},
                                             {"error", why.message},
                                             {"retryable", why.retryable}});
    last_failure_ = std::move(why);
    f->error = g.error();
    f->done.notify_all();
    co_return g.error();
  }

  const auto lifetime = std::chrono::duration_cast<std::chrono::milliseconds>(g->lifetime);
  const auto margin = std::min(creds_.refresh_before, lifetime / 2);
  token_ = std::move(g->access_token);
  refresh_at_ = started + lifetime - margin;
  log::debug("oauth token acquired", {{"token_url", loggable_url(creds_.token_url)},
                                      {"client_id", creds_.client_id},
                                      {"expires_in", static_cast<std::int64_t>(g->lifetime.count())}});
  f->token = token_;
  f->done.notify_all();
  co_return token_;
}

rt::task<rt::result<grant>> token_source::fetch(failure& why) {
  net::http::client_request req("POST", creds_.token_url);
  req.headers.add("Content-Type", "application/x-www-form-urlencoded");
  req.headers.add("Accept", "application/json");
  req.body = form_body(creds_);
  // Asking for a token twice is harmless: allow the client's one retry on a
  // pooled connection that turns out to be dead.
  req.idempotent = true;
  rt::result<net::http::client_response> resp = co_await http_.send(std::move(req));
  if (!resp) co_return resp.error();
  co_return interpret(*resp, why);
}

namespace {

rt::result<grant> interpret(const net::http::client_response& resp, failure& why) {
  why.http_status = resp.status;
  auto fail = [&](errc e, std::string msg) -> std::error_code {
    why.message = std::move(msg);
    return err(e);
  };
  json::limits lim;
  lim.max_bytes = 1u << 20;
  auto doc = json::document::parse(resp.body, lim);
  const bool ok_status = resp.status >= 200 && resp.status < 300;

  // An RFC 6749 §5.2 error body (also honoured on a 2xx, where it makes no sense either).
  std::optional<std::string_view> code;
  if (doc) {
    auto c = doc->opt_string("/error");
    if (c && *c && !(*c)->empty()) code = **c;
  }
  if (code || !ok_status) {
    std::string msg;
    if (code) {
      msg = sanitize(*code);
      auto desc = doc->opt_string("/error_description");
      if (desc && *desc && !(*desc)->empty()) msg += ": " + sanitize(**desc);
    } else {
      msg = "unexpected answer from the token endpoint";
    }
    msg += status_note(resp.status);
    if (resp.status >= 500 || resp.status == 429) return fail(errc::server_unavailable, std::move(msg));
    if (code) return fail(map_rfc6749(*code), std::move(msg));
    return fail(errc::http_status, std::move(msg));
  }

  if (!doc) return fail(errc::bad_response, "token response is not JSON: " + doc.error().message());
  auto token = doc->get_string("/access_token");
  if (!token || token->empty()) return fail(errc::bad_response, "token response has no access_token");
  if (!valid_token_chars(*token)) return fail(errc::bad_response, "access_token contains characters not allowed in a header");
  auto type = doc->get_string("/token_type");
  if (!type) return fail(errc::bad_response, "token response has no token_type");
  if (!net::http::iequals(*type, "Bearer")) {
    return fail(errc::unsupported_token_type, "token_type \"" + sanitize(*type) + "\" is not Bearer");
  }
  auto lifetime = parse_expires_in(*doc);
  if (!lifetime) return fail(errc::bad_response, "token response has an invalid expires_in");
  return grant{std::string(*token), *lifetime};
}

}  // namespace

}  // namespace calgate::proto::oauth
