#include "net/http/client.hpp"

#include <set>
#include <stdexcept>

#include "net/http/parser.hpp"
#include "net/tcp.hpp"
#include "net/tls.hpp"
#include "rt/log.hpp"
#include "rt/with_timeout.hpp"

namespace calgate::net::http {

namespace {
std::string_view outcome_name(std::error_code ec);
}  // namespace

namespace {

class client_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "http-client"; }
  std::string message(int c) const override {
    switch (static_cast<client_errc>(c)) {
      case client_errc::bad_url: return "not an absolute http(s) URL";
      case client_errc::bad_request: return "a request header would break HTTP framing";
      case client_errc::connect_timeout: return "connect timed out";
      case client_errc::tls_timeout: return "TLS handshake timed out";
      case client_errc::header_timeout: return "timed out waiting for the response headers";
      case client_errc::total_timeout: return "the request exceeded its total deadline";
      case client_errc::response_too_large: return "the response exceeds the configured size limit";
      case client_errc::protocol_error: return "the server's response is not valid HTTP/1.1";
      case client_errc::connection_closed: return "the connection closed before a complete response";
      case client_errc::proxy_refused: return "the proxy refused the CONNECT request";
      case client_errc::pool_exhausted: return "too many requests waiting for a connection";
      case client_errc::https_unavailable: return "https URL but no TLS client configuration";
    }
    return "http client error";
  }
};

// Runs t with its own deadline; if that deadline (not an outer one) ended it,
// the error becomes `on_timeout` so the caller knows which phase was slow.
template <class X>
rt::task<rt::result<X>> phase(std::chrono::milliseconds d, rt::task<rt::result<X>> t, client_errc on_timeout) {
  rt::stop_token parent = co_await rt::this_token();
  rt::linked_stop_source src(parent);
  rt::deadline dl(d, src);
  t.set_stop_token(src.token());
  rt::result<X> r = co_await std::move(t);
  if (!r && dl.expired() && !parent.stop_requested()) co_return make_error_code(on_timeout);
  co_return r;
}

bool token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool valid_field(const header& h) {
  if (h.name.empty()) return false;
  for (char c : h.name)
    if (!token_char(c)) return false;
  for (char c : h.value)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

// A short, bounded label for an error (metrics must not grow without bound).
std::string_view outcome_name(std::error_code ec) {
  if (ec.category() == client_category()) {
    switch (static_cast<client_errc>(ec.value())) {
      case client_errc::bad_url: return "bad_url";
      case client_errc::bad_request: return "bad_request";
      case client_errc::connect_timeout: return "connect_timeout";
      case client_errc::tls_timeout: return "tls_timeout";
      case client_errc::header_timeout: return "header_timeout";
      case client_errc::total_timeout: return "total_timeout";
      case client_errc::response_too_large: return "response_too_large";
      case client_errc::protocol_error: return "protocol_error";
      case client_errc::connection_closed: return "connection_closed";
      case client_errc::proxy_refused: return "proxy_refused";
      case client_errc::pool_exhausted: return "pool_exhausted";
      case client_errc::https_unavailable: return "https_unavailable";
    }
  }
  if (ec == rt::errc::canceled) return "canceled";
  if (ec == rt::errc::timed_out) return "timed_out";
  if (ec.category() == tls_category()) return "tls_error";
  return "transport_error";
}

bool default_idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "PUT" || m == "DELETE" || m == "TRACE";
}

// Reads into the parser until the headers (or the whole message) are in.
rt::task<rt::result<void>> read_into(stream& s, response_parser& p, bool headers_only, bool& got_bytes) {
  for (;;) {
    if (p.complete()) co_return rt::result<void>{};
    if (!s.data().empty()) {
      got_bytes = true;
      std::size_t used = 0;
      parse_status st = p.feed(s.data(), used);
      s.consume(used);
      if (st == parse_status::complete) co_return rt::result<void>{};
      if (st == parse_status::error)
        co_return make_error_code(p.body_too_large() ? client_errc::response_too_large : client_errc::protocol_error);
      if (headers_only && p.headers_complete()) co_return rt::result<void>{};
    }
    std::error_code ec = co_await s.read();
    if (!ec) continue;
    if (ec == rt::errc::eof) {
      if (p.finish() == parse_status::complete) co_return rt::result<void>{};
      if (p.body_too_large()) co_return make_error_code(client_errc::response_too_large);
      co_return make_error_code(client_errc::connection_closed);
    }
    if (ec == rt::errc::closed) co_return make_error_code(client_errc::connection_closed);
    co_return ec;
  }
}

rt::task<rt::result<std::unique_ptr<stream>>> tcp_open(std::string host, std::uint16_t port) {
  auto r = co_await net::connect(std::move(host), port);
  if (!r) co_return r.error();
  co_return std::unique_ptr<stream>(std::move(*r));
}

}  // namespace

const std::error_category& client_category() noexcept {
  static const client_category_impl c;
  return c;
}

std::error_code make_error_code(client_errc e) noexcept { return {static_cast<int>(e), client_category()}; }

// Every live client, so one collector can export all pools without
// repeating HELP/TYPE lines.
struct client_registry {
  std::set<client*> clients;
  static client_registry& get() {
    static client_registry r;
    return r;
  }
  void add(client* c) {
    if (clients.empty()) {
      metrics::registry::global().add_collector("http_client_pools", [this](std::string& out) { render(out); });
    }
    clients.insert(c);
  }
  void remove(client* c) {
    clients.erase(c);
    if (clients.empty()) metrics::registry::global().remove_collector("http_client_pools");
  }
  void render(std::string& out) const {
    out +=
        "# HELP calgate_http_client_pool_connections Upstream connections by client, origin and state.\n"
        "# TYPE calgate_http_client_pool_connections gauge\n";
    for (client* c : clients)
      for (const auto& [origin, st] : c->pool_.all_stats()) {
        metrics::append_sample(out, "calgate_http_client_pool_connections", {"client", "origin", "state"},
                               {c->opts_.metrics_name, origin, "idle"}, static_cast<double>(st.idle));
        metrics::append_sample(out, "calgate_http_client_pool_connections", {"client", "origin", "state"},
                               {c->opts_.metrics_name, origin, "active"}, static_cast<double>(st.active));
        metrics::append_sample(out, "calgate_http_client_pool_connections", {"client", "origin", "state"},
                               {c->opts_.metrics_name, origin, "waiting"}, static_cast<double>(st.waiting));
      }
    struct counter_def {
      const char* name;
      const char* help;
      std::uint64_t (*get)(const client&);
    };
    static const counter_def defs[] = {
        {"calgate_http_client_pool_hits_total", "Requests served on a reused pooled connection.",
         [](const client& c) { return c.pool_.hits(); }},
        {"calgate_http_client_pool_misses_total", "Requests that opened a new connection.",
         [](const client& c) { return c.pool_.misses(); }},
        {"calgate_http_client_pool_dead_total", "Pooled connections found dead at checkout and discarded.",
         [](const client& c) { return c.pool_.discarded_dead(); }},
        {"calgate_http_client_retries_total", "Requests retried once on a fresh connection.",
         [](const client& c) { return c.retries_; }},
    };
    for (const auto& d : defs) {
      out += "# HELP ";
      out += d.name;
      out += ' ';
      out += d.help;
      out += "\n# TYPE ";
      out += d.name;
      out += " counter\n";
      for (client* c : clients)
        metrics::append_sample(out, d.name, {"client"}, {c->opts_.metrics_name}, static_cast<double>(d.get(*c)));
    }
  }
};

struct client::proxy_info {
  url u;
  std::string authorization;  // Proxy-Authorization value, or empty
};

client::client(client_options o)
    : opts_(std::move(o)),
      pool_(pool_options{opts_.max_per_origin, opts_.idle_timeout, opts_.max_waiters_per_origin}),
      requests_(metrics::registry::global().add_counter(
          "calgate_http_client_requests_total", "Upstream HTTP requests by client and outcome (status or error).",
          {"client", "outcome"})),
      timeouts_(metrics::registry::global().add_counter("calgate_http_client_timeouts_total",
                                                         "Upstream HTTP timeouts by client and phase.",
                                                         {"client", "phase"})) {
  if (!opts_.proxy.empty()) {
    auto pu = url::parse(opts_.proxy);
    if (!pu || pu->tls() || pu->target != "/")
      throw std::invalid_argument("proxy must look like http://[user:password@]host:port");
    proxy_ = std::make_unique<proxy_info>();
    proxy_->u = *pu;
    if (!pu->user.empty()) proxy_->authorization = basic_auth(pu->user, pu->password);
  }
  client_registry::get().add(this);
}

client::~client() {
  client_registry::get().remove(this);
  pool_.close_idle();
}

void client::count(std::string_view outcome) { requests_.with({opts_.metrics_name, outcome}).inc(); }

rt::task<rt::result<std::unique_ptr<stream>>> client::open(const url& u) {
  const url& first_hop = proxy_ ? proxy_->u : u;
  auto tcp = co_await phase(opts_.connect_timeout, tcp_open(first_hop.host, first_hop.port), client_errc::connect_timeout);
  if (!tcp) {
    if (tcp.error() == client_errc::connect_timeout) timeouts_.with({opts_.metrics_name, "connect"}).inc();
    co_return tcp.error();
  }
  std::unique_ptr<stream> s = std::move(*tcp);
  if (proxy_ && u.tls()) {
    std::string target = (u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host) + ":" + std::to_string(u.port);
    std::string req = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
    if (!proxy_->authorization.empty()) req += "Proxy-Authorization: " + proxy_->authorization + "\r\n";
    req += "\r\n";
    if (auto ec = co_await s->write(req)) co_return ec;
    parser_limits lim;
    lim.max_header_bytes = opts_.max_header_bytes;
    lim.max_body_bytes = 0;
    response_parser p(lim);
    p.start("CONNECT");
    bool got = false;
    auto hr = co_await phase(opts_.response_header_timeout, read_into(*s, p, false, got), client_errc::header_timeout);
    if (!hr) co_return hr.error();
    if (p.status() / 100 != 2) {
      log::warn("proxy refused CONNECT", {{"proxy", proxy_->u.origin()}, {"target", target}, {"status", p.status()}});
      co_return make_error_code(client_errc::proxy_refused);
    }
    if (!s->data().empty()) co_return make_error_code(client_errc::protocol_error);
  }
  if (u.tls()) {
    auto t = co_await phase(opts_.tls_timeout, tls_connect(opts_.tls, std::move(s), u.host, u.port), client_errc::tls_timeout);
    if (!t) {
      if (t.error() == client_errc::tls_timeout) timeouts_.with({opts_.metrics_name, "tls"}).inc();
      co_return t.error();
    }
    s = std::move(*t);
  }
  co_return s;
}

client::session::~session() {
  if (lease_) c_.pool_.release(std::move(*lease_), lease_->s && lease_->s->is_open());
}

void client::session::discard() noexcept {
  if (lease_) c_.pool_.release(std::move(*lease_), false);
  lease_.reset();
}

rt::task<rt::result<client_response>> client::send_once(const client_request& req, const url& u, bool& retryable,
                                                        session* sess) {
  // Plain http through a proxy goes to the proxy itself; https tunnels per origin.
  std::string key = proxy_ && !u.tls() ? "proxy " + proxy_->u.origin() : u.origin();
  if (!req.pool_partition.empty()) key += " as " + req.pool_partition;

  // Whatever happens below, the lease goes back exactly once (or stays with the session).
  struct guard {
    guard(connection_pool& p, connection_pool::lease&& lease, session* se) : pool(p), l(std::move(lease)), sess(se) {}
    guard(const guard&) = delete;
    connection_pool& pool;
    connection_pool::lease l;
    session* sess;
    bool done = false;
    void give_back(bool reusable) {
      if (done) return;
      done = true;
      if (sess && reusable) {
        sess->lease_ = std::make_unique<connection_pool::lease>(std::move(l));
        return;
      }
      pool.release(std::move(l), reusable);
    }
    ~guard() { give_back(false); }
  };
  std::optional<guard> g;
  if (sess && sess->lease_ && sess->lease_->key == key && sess->lease_->s && connection_pool::alive(*sess->lease_->s)) {
    g.emplace(pool_, std::move(*sess->lease_), sess);
    sess->lease_.reset();
    g->l.reused = true;  // it has served this session before
  } else {
    if (sess && sess->lease_) sess->discard();
    auto leased = co_await pool_.acquire(std::move(key));
    if (!leased)
      co_return leased.error() == rt::errc::limit_exceeded ? make_error_code(client_errc::pool_exhausted) : leased.error();
    if (sess) sess->reused_ = leased->reused;
    g.emplace(pool_, std::move(*leased), sess);
  }

  if (!g->l.s) {
    auto s = co_await open(u);
    if (!s) co_return s.error();
    g->l.s = std::move(*s);
  }
  stream& s = *g->l.s;

  std::string head;
  head.reserve(256 + req.body.size() / 16);
  head += req.method;
  head += ' ';
  if (proxy_ && !u.tls()) head += u.scheme + "://" + u.authority();
  head += u.target;
  head += " HTTP/1.1\r\nHost: ";
  head += u.authority();
  head += "\r\n";
  if (!req.headers.has("User-Agent")) head += "User-Agent: " + opts_.user_agent + "\r\n";
  if (!u.user.empty() && !req.headers.has("Authorization")) head += "Authorization: " + basic_auth(u.user, u.password) + "\r\n";
  if (proxy_ && !u.tls() && !proxy_->authorization.empty()) head += "Proxy-Authorization: " + proxy_->authorization + "\r\n";
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH")
    head += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
  for (const header& h : req.headers) {
    if (iequals(h.name, "Host") || iequals(h.name, "Content-Length") || iequals(h.name, "Transfer-Encoding")) continue;
    head += h.name;
    head += ": ";
    head += h.value;
    head += "\r\n";
  }
  head += "\r\n";

  const bool idempotent = req.idempotent.value_or(default_idempotent(req.method));
  if (std::error_code wec = co_await s.write(head, req.body)) {
    // Nothing of the request can have been processed on a connection that was already dead.
    retryable = g->l.reused && !rt::is_stop(wec);
    co_return wec == rt::errc::closed ? make_error_code(client_errc::connection_closed) : wec;
  }

  parser_limits lim;
  lim.max_header_bytes = opts_.max_header_bytes;
  lim.max_body_bytes = opts_.max_response_bytes;
  response_parser p(lim);
  p.start(req.method);
  bool got_bytes = false;
  auto hr = co_await phase(opts_.response_header_timeout, read_into(s, p, true, got_bytes), client_errc::header_timeout);
  if (!hr) {
    if (hr.error() == client_errc::header_timeout) timeouts_.with({opts_.metrics_name, "response_header"}).inc();
    // A reused connection closed by the server before it answered anything: the
    // request may be sent again on a fresh one if doing so is safe.
    retryable = g->l.reused && !got_bytes && idempotent && !rt::is_stop(hr.error()) &&
                hr.error() != client_errc::header_timeout;
    co_return hr.error();
  }
  auto br = co_await read_into(s, p, false, got_bytes);
  if (!br) co_return br.error();

  const bool reusable = p.keep_alive() && s.data().empty() && !s.read_ended();
  client_response resp{p.status(), std::move(p.headers()), std::move(p.body()), g->l.reused};
  g->give_back(reusable);
  co_return resp;
}

rt::task<rt::result<client_response>> client::send(client_request req) { return send_with(std::move(req), nullptr); }

rt::task<rt::result<client_response>> client::send(client_request req, session& s) { return send_with(std::move(req), &s); }

rt::task<rt::result<client_response>> client::send_with(client_request req, session* sess) {
  auto u = url::parse(req.url);
  if (!u) {
    count("bad_url");
    co_return make_error_code(client_errc::bad_url);
  }
  for (const header& h : req.headers) {
    if (!valid_field(h)) {
      count("bad_request");
      co_return make_error_code(client_errc::bad_request);
    }
  }
  if (u->tls() && !opts_.tls) {
    count("https_unavailable");
    co_return make_error_code(client_errc::https_unavailable);
  }
  const auto total = req.timeout.count() > 0 ? req.timeout : opts_.total_timeout;
  rt::stop_token parent = co_await rt::this_token();
  rt::linked_stop_source src(parent);
  rt::deadline dl(total, src);
  for (int attempt = 0;; ++attempt) {
    bool retryable = false;
    auto t = send_once(req, *u, retryable, sess);
    t.set_stop_token(src.token());
    auto r = co_await std::move(t);
    if (r) {
      count(std::to_string(r->status));
      co_return r;
    }
    if (dl.expired() && !parent.stop_requested()) {
      timeouts_.with({opts_.metrics_name, "total"}).inc();
      count("total_timeout");
      co_return make_error_code(client_errc::total_timeout);
    }
    if (retryable && attempt == 0) {
      ++retries_;
      log::debug("retrying on a fresh connection", {{"url", u->origin()}, {"error", r.error().message()}});
      continue;
    }
    count(outcome_name(r.error()));
    co_return r;
  }
}

}  // namespace calgate::net::http
