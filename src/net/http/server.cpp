#include "net/http/server.hpp"

#include <chrono>
#include <cstdio>
#include <random>

#include "rt/log.hpp"
#include "rt/with_timeout.hpp"

namespace calgate::net::http {

namespace {

using std::chrono::milliseconds;

constexpr std::string_view unmatched_route = "unmatched";

bool plain_id(std::string_view v) {
  if (v.empty() || v.size() > 64) return false;
  for (char c : v) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

std::uint64_t process_nonce() {
  static const std::uint64_t n = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }();
  return n;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

void make_request_id(const request& r, std::string& out) {
  if (auto v = r.headers.get("X-Request-Id"); v && plain_id(*v)) {
    out.assign(*v);
    return;
  }
  static std::uint32_t counter = 0;
  static constexpr char hex[] = "0123456789abcdef";
  char buf[16];
  std::uint32_t hi = static_cast<std::uint32_t>(process_nonce());
  std::uint32_t lo = ++counter;
  for (int i = 7; i >= 0; --i, hi >>= 4) buf[i] = hex[hi & 15];
  for (int i = 15; i >= 8; --i, lo >>= 4) buf[i] = hex[lo & 15];
  out.assign(buf, sizeof buf);
}

std::string make_request_id(const request& r) {
  std::string out;
  make_request_id(r, out);
  return out;
}

// Per-connection state the server can reach (for draining) and one timer that
// enforces whichever deadline the connection is in. Phases change several
// times per request, so the timer is re-armed lazily: a phase only records its
// deadline, and the timer, when it fires early, re-arms itself for the current
// one. Most phase changes then cost no timer-heap operation at all.
struct server::connection {
  enum class phase { waiting, header, body, handler, write, closing };
  static constexpr std::uint64_t never = ~std::uint64_t{0};

  connection(server* s) : srv(s), timer(&on_timer, this) {
    next = srv->first_;
    if (next) next->prev = this;
    srv->first_ = this;
    ++srv->open_;
    srv->open_gauge_.set(static_cast<double>(srv->open_));
  }
  ~connection() {
    if (prev) prev->next = next;
    else srv->first_ = next;
    if (next) next->prev = prev;
    --srv->open_;
    srv->open_gauge_.set(static_cast<double>(srv->open_));
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  void arm(phase p, milliseconds d) {
    ph = p;
    const std::uint64_t now = rt::loop::current().now_ms();
    due = now + static_cast<std::uint64_t>(d.count());
    if (!timer.active() || timer_due > due) {
      timer.start(d);
      timer_due = due;
    }
  }
  void disarm(phase p) {
    ph = p;
    due = never;  // a timer still armed finds nothing due and stays off
  }
  static void on_timer(void* ctx) {
    auto* c = static_cast<connection*>(ctx);
    if (c->due == never) return;
    const std::uint64_t now = rt::loop::current().now_ms();
    if (now < c->due) {
      c->timer.start(milliseconds(c->due - now));
      c->timer_due = c->due;
      return;
    }
    c->due = never;
    switch (c->ph) {
      case phase::handler:
        if (c->req_stop) c->req_stop->request_stop(rt::stop_reason::timed_out);
        break;
      case phase::write:
      case phase::closing:
        if (c->ph == phase::write) c->srv->timeouts_.with({"write"}).inc();
        if (c->s) c->s->close();  // wakes the pending write or read with `closed`
        break;
      default:
        if (c->s) c->s->cancel_read(make_error_code(rt::errc::timed_out));
    }
  }
  // A stop source for the request being handled: linked to the connection's
  // token (shutdown) and triggered by the handler deadline. Reused until stopped.
  rt::stop_token request_token() {
    if (!req_stop || req_stop->stop_requested()) {
      req_stop.reset();
      req_stop.emplace(token);
    }
    return req_stop->token();
  }

  server* srv;
  stream* s = nullptr;
  std::uint64_t id = ++next_id;
  static inline std::uint64_t next_id = 0;
  phase ph = phase::waiting;
  bool first_request = true;
  std::uint64_t due = never;        // loop time at which the current phase expires
  std::uint64_t timer_due = never;  // when the timer itself is armed to fire
  std::string peer;
  rt::stop_token token;             // the connection task's (the server's group)
  std::optional<rt::linked_stop_source> req_stop;
  rt::timer timer;
  connection* prev = nullptr;
  connection* next = nullptr;
};

server::server(server_options opts, const router& routes)
    : opts_(std::move(opts)),
      routes_(routes),
      grace_timer_([](void* self) { static_cast<server*>(self)->on_grace_expired(); }, this),
      requests_(metrics::registry::global().add_counter("calgate_http_requests_total",
                                                         "HTTP requests answered, by route, method and status.",
                                                         {"route", "method", "status"})),
      latency_(metrics::registry::global().add_histogram("calgate_http_request_duration_seconds",
                                                         "Time from the end of the request to the response written.",
                                                         {"route"}, metrics::latency_buckets())),
      open_gauge_(metrics::registry::global().add_gauge("calgate_http_open_connections", "Open client connections.").get()),
      accepted_(metrics::registry::global().add_counter("calgate_http_connections_total", "Connections accepted.").get()),
      rejected_(metrics::registry::global()
                    .add_counter("calgate_http_connections_rejected_total",
                                 "Connections answered with 503 because max_connections was reached.")
                    .get()),
      timeouts_(metrics::registry::global().add_counter("calgate_http_timeouts_total",
                                                         "Server-side timeouts by kind.", {"kind"})) {}

server::~server() = default;

std::error_code server::listen() { return listener_.listen(opts_.host, opts_.port, opts_.backlog); }

rt::task<void> server::run() {
  for (;;) {
    auto r = co_await listener_.accept();
    if (!r) {
      if (draining_ || r.error() == rt::errc::closed || rt::is_stop(r.error())) break;
      // Out of descriptors or memory: say so, back off a little, keep serving.
      log::warn("accept failed", {{"error", r.error().message()}});
      try {
        co_await rt::sleep_for(milliseconds(50));
      } catch (const rt::error&) {
        break;
      }
      continue;
    }
    accepted_.inc();
    if (open_ >= opts_.max_connections) {
      rejected_.inc();
      conns_.spawn(reject(std::move(*r)));
      continue;
    }
    conns_.spawn(serve(std::move(*r)));
  }
  // Stopped from outside (our own token) rather than by stop(): cancel everything.
  auto token = co_await rt::this_token();
  if (token.stop_requested()) conns_.request_stop(token.reason());
  listener_.close();
  co_await conns_.join();
  grace_timer_.stop();
}

void server::stop(milliseconds grace) {
  if (draining_) return;
  draining_ = true;
  listener_.close();
  // Connections waiting for a request are closed now; the others finish the
  // request in hand. Waking a reader resumes its connection inline, which may
  // end it, so step to the next one first.
  for (connection* c = first_, *next = nullptr; c; c = next) {
    next = c->next;
    if (c->ph == connection::phase::waiting && c->s) c->s->cancel_read(make_error_code(rt::errc::closed));
  }
  grace_timer_.start(grace);
}

void server::count(std::string_view route, std::string_view method, int status, const double* seconds) {
  route_stats& rs = stats_[route];
  if (seconds) {
    if (!rs.latency) rs.latency = &latency_.with({route});
    rs.latency->observe(*seconds);
  }
  for (auto& e : rs.counts) {
    if (e.status == status && e.method == method) {
      e.counter->inc();
      return;
    }
  }
  metrics::counter& c = requests_.with({route, method, std::to_string(status)});
  rs.counts.push_back({std::string(method), status, &c});
  c.inc();
}

void server::on_grace_expired() {
  if (open_ > 0) log::warn("shutdown grace period over; canceling requests in flight", {{"connections", open_}});
  conns_.request_stop(rt::stop_reason::canceled);
}

namespace {

rt::task<void> write_and_close(stream& s, const std::string& bytes) {
  (void)co_await s.write(bytes);
  (void)co_await s.shutdown();
}

}  // namespace

rt::task<void> server::reject(std::unique_ptr<stream> s) {
  if (opts_.handshake) co_return;  // a TLS peer could not read a plain answer
  static const std::string answer = [] {
    response r = response::error(503, "too many connections; retry shortly");
    r.headers.add("Retry-After", "1");
    std::string out;
    serialize_head(r, out, false, {}, r.body.size());
    return out + r.body;
  }();
  try {
    co_await rt::with_timeout(milliseconds(1000), write_and_close(*s, answer));
  } catch (const rt::error&) {
  }
}

rt::task<response> server::dispatch(request& r, connection& c) {
  router::match m = routes_.find(r);
  if (!m.h) {
    if (m.status == 405) {
      response resp = response::error(405, "method " + r.method + " is not allowed here", r.request_id);
      resp.headers.add("Allow", m.allow);
      co_return resp;
    }
    co_return response::error(404, "no such resource", r.request_id);
  }
  c.arm(connection::phase::handler, opts_.request_timeout);
  try {
    rt::task<response> t = (*m.h)(r);
    t.set_stop_token(c.request_token());
    co_return co_await std::move(t);
  } catch (const rt::error& e) {
    if (e.code() == rt::errc::timed_out) {
      timeouts_.with({"handler"}).inc();
      co_return response::error(504, "the request took too long", r.request_id);
    }
    if (e.code() == rt::errc::canceled) co_return response::error(503, "the server is shutting down", r.request_id);
    log::error("handler failed", {{"request_id", r.request_id}, {"route", r.route}, {"error", e.what()}});
  } catch (const std::exception& e) {
    log::error("handler failed", {{"request_id", r.request_id}, {"route", r.route}, {"error", e.what()}});
  }
  co_return response::error(500, "internal error", r.request_id);
}

rt::task<void> server::serve(std::unique_ptr<stream> s) {
  // Declared before the connection so the timer (in `c`) is gone before the stream.
  connection c(this);
  c.token = co_await rt::this_token();
  c.peer = s->peer();
  if (opts_.handshake) {
    auto hs = co_await rt::with_timeout(opts_.header_timeout, opts_.handshake(std::move(s)));
    if (!hs) {
      if (hs.error() == rt::errc::timed_out) timeouts_.with({"handshake"}).inc();
      log::debug("TLS handshake failed", {{"peer", c.peer}, {"error", hs.error().message()}});
      co_return;
    }
    s = std::move(*hs);
  }
  c.s = s.get();
  request_parser parser(opts_.limits);
  std::string head;

  // Sends an error answer, then closes after letting the client read it.
  auto fail = [&](int status, std::string_view why) -> rt::task<void> {
    request& req = parser.message();
    std::string id = make_request_id(req);
    response resp = response::error(status, why, id);
    head.clear();
    serialize_head(resp, head, false, id, resp.body.size());
    c.arm(connection::phase::write, opts_.write_timeout);
    auto ec = co_await s->write(head, resp.body);
    c.disarm(connection::phase::closing);
    count(unmatched_route, req.method.empty() ? std::string_view("-") : std::string_view(req.method), status, nullptr);
    if (opts_.access_log)
      log::info("request rejected", {{"request_id", id}, {"status", status}, {"reason", why}, {"peer", c.peer}});
    if (ec) co_return;
    // Lingering close: FIN first, then drop what the client still sends for a
    // moment, so our close does not reset the connection before it reads.
    (void)co_await s->shutdown();
    c.arm(connection::phase::closing, milliseconds(1000));
    std::size_t dropped = 0;
    while (dropped < 256 * 1024) {
      auto rec = co_await s->read();
      if (rec) break;
      dropped += s->data().size();
      s->consume(s->data().size());
    }
    c.disarm(connection::phase::closing);
  };

  for (;;) {
    parser.next();
    if (s->data().empty()) c.arm(connection::phase::waiting, c.first_request ? opts_.header_timeout : opts_.idle_timeout);
    else c.arm(connection::phase::header, opts_.header_timeout);
    bool sent_continue = false;
    bool complete = false;
    while (!complete) {
      std::string_view d = s->data();
      if (!d.empty()) {
        if (c.ph == connection::phase::waiting) c.arm(connection::phase::header, opts_.header_timeout);
        std::size_t used = 0;
        parse_status st = parser.feed(d, used);
        s->consume(used);
        if (st == parse_status::complete) break;
        if (st == parse_status::error) {
          co_await fail(parser.error_status(), parser.error_message());
          co_return;
        }
        if (parser.headers_complete() && c.ph == connection::phase::header) {
          c.arm(connection::phase::body, opts_.body_timeout);
          if (parser.expects_continue() && !sent_continue) {
            sent_continue = true;
            if (auto ec = co_await s->write("HTTP/1.1 100 Continue\r\n\r\n")) co_return;
          }
        }
      }
      if (draining_ && !parser.started()) co_return;
      std::error_code ec = co_await s->read();
      if (!ec) continue;
      if (ec == rt::errc::timed_out) {
        if (!parser.started()) {
          timeouts_.with({c.first_request ? "header" : "idle"}).inc();
          co_return;  // nothing of a request arrived: just close
        }
        timeouts_.with({parser.headers_complete() ? "body" : "header"}).inc();
        co_await fail(408, parser.headers_complete() ? "the request body did not arrive in time"
                                                     : "the request headers did not arrive in time");
        co_return;
      }
      if (ec == rt::errc::eof) {
        parse_status st = parser.finish();
        if (st == parse_status::complete) {
          complete = true;
          break;
        }
        if (parser.started()) co_await fail(400, "the connection ended inside a request");
        co_return;
      }
      co_return;  // closed (draining), canceled (grace over) or a transport error
    }
    c.disarm(connection::phase::handler);

    auto t0 = std::chrono::steady_clock::now();
    request& req = parser.message();
    make_request_id(req, req.request_id);
    req.peer = c.peer;
    req.connection_id = c.id;
    response resp = co_await dispatch(req, c);
    if (resp.abort) {
      count(req.route.empty() ? unmatched_route : req.route, req.method, 0, nullptr);
      co_return;  // close without an answer
    }
    const bool keep = parser.keep_alive() && !draining_;
    const bool bodiless_status = resp.status < 200 || resp.status == 204 || resp.status == 304;
    const bool send_body = !bodiless_status && req.method != "HEAD";
    head.clear();
    const std::uint64_t length = resp.body_writer ? resp.content_length : resp.body.size();
    serialize_head(resp, head, keep, req.request_id, length, resp.status >= 200 && resp.status != 204);
    c.arm(connection::phase::write, opts_.write_timeout);
    std::error_code wec;
    if (resp.body_writer && send_body) {
      // The writer paces itself; the write timeout covers each of its writes.
      wec = co_await s->write(head);
      if (!wec) {
        c.disarm(connection::phase::handler);
        wec = co_await resp.body_writer(*s);
      }
    } else if (send_body) {
      // if/else, not ?: — GCC 12 evaluates both co_await arms of a conditional
      // operator whose result is assigned.
      wec = co_await s->write(head, resp.body);
    } else {
      wec = co_await s->write(head);
    }
    c.disarm(connection::phase::handler);

    const std::string_view route = req.route.empty() ? unmatched_route : req.route;
    const double secs = seconds_since(t0);
    count(route, req.method, resp.status, &secs);
    if (opts_.access_log && log::enabled(log::level::info))
      log::write(log::level::info, "request",
                 {{"request_id", req.request_id},
                  {"method", req.method},
                  {"route", route},
                  {"path", req.path},
                  {"status", resp.status},
                  {"duration_ms", secs * 1000.0},
                  {"bytes", length},
                  {"peer", c.peer}});
    if (wec) co_return;
    if (!keep) {
      (void)co_await s->shutdown();
      co_return;
    }
    c.first_request = false;
  }
}

}  // namespace calgate::net::http
