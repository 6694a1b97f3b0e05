#include "proto/ldap/client.hpp"

#include <ldap.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>

#include "net/fd_watcher.hpp"
#include "net/http/message.hpp"
#include "rt/log.hpp"
#include "rt/loop.hpp"
#include "rt/run_blocking.hpp"
#include "rt/sleep.hpp"
#include "rt/with_timeout.hpp"

namespace calgate::proto::ldap {

namespace {

struct ldap_deleter {
  void operator()(LDAP* ld) const noexcept {
    if (ld) ldap_unbind_ext_s(ld, nullptr, nullptr);
  }
};
using ldap_ptr = std::unique_ptr<LDAP, ldap_deleter>;

struct msg_deleter {
  void operator()(LDAPMessage* m) const noexcept { ldap_msgfree(m); }
};
using msg_ptr = std::unique_ptr<LDAPMessage, msg_deleter>;

timeval to_timeval(std::chrono::milliseconds d) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

std::string diagnostic(LDAP* ld) {
  char* msg = nullptr;
  std::string out;
  if (ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg) == LDAP_OPT_SUCCESS && msg) {
    out = msg;
    ldap_memfree(msg);
  }
  return out;
}

int require_cert_value(const std::string& s) {
  if (s == "never") return LDAP_OPT_X_TLS_NEVER;
  if (s == "allow") return LDAP_OPT_X_TLS_ALLOW;
  if (s == "try") return LDAP_OPT_X_TLS_TRY;
  if (s == "hard") return LDAP_OPT_X_TLS_HARD;
  return LDAP_OPT_X_TLS_DEMAND;
}

struct connect_outcome {
  ldap_ptr ld;
  int rc = LDAP_SUCCESS;
  std::string detail;
  int fd = -1;
};

// Runs on the threadpool: everything here may block (DNS, connect, TLS, bind),
// each step bounded by connect_timeout.
connect_outcome connect_blocking(const client_options& o) {
  connect_outcome out;
  LDAP* raw = nullptr;
  out.rc = ldap_initialize(&raw, o.url.c_str());
  if (out.rc != LDAP_SUCCESS) {
    out.detail = "cannot use URL '" + o.url + "'";
    return out;
  }
  out.ld.reset(raw);
  int v3 = LDAP_VERSION3;
  ldap_set_option(raw, LDAP_OPT_PROTOCOL_VERSION, &v3);
  ldap_set_option(raw, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
  timeval nt = to_timeval(o.connect_timeout);
  ldap_set_option(raw, LDAP_OPT_NETWORK_TIMEOUT, &nt);
  ldap_set_option(raw, LDAP_OPT_TIMEOUT, &nt);
  int idle = 60, probes = 3, interval = 10;
  ldap_set_option(raw, LDAP_OPT_X_KEEPALIVE_IDLE, &idle);
  ldap_set_option(raw, LDAP_OPT_X_KEEPALIVE_PROBES, &probes);
  ldap_set_option(raw, LDAP_OPT_X_KEEPALIVE_INTERVAL, &interval);
  // TLS settings are per handle; NEWCTX applies them.
  if (!o.ca_file.empty()) ldap_set_option(raw, LDAP_OPT_X_TLS_CACERTFILE, o.ca_file.c_str());
  int req = require_cert_value(o.tls_require_cert);
  ldap_set_option(raw, LDAP_OPT_X_TLS_REQUIRE_CERT, &req);
  int minv = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
  ldap_set_option(raw, LDAP_OPT_X_TLS_PROTOCOL_MIN, &minv);
  int is_server = 0;
  ldap_set_option(raw, LDAP_OPT_X_TLS_NEWCTX, &is_server);
  if (o.starttls) {
    out.rc = ldap_start_tls_s(raw, nullptr, nullptr);
    if (out.rc != LDAP_SUCCESS) {
      out.detail = "StartTLS failed: " + diagnostic(raw);
      return out;
    }
  }
  berval cred{static_cast<ber_len_t>(o.bind_password.size()), const_cast<char*>(o.bind_password.data())};
  out.rc = ldap_sasl_bind_s(raw, o.bind_dn.empty() ? nullptr : o.bind_dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr,
                            nullptr, nullptr);
  if (out.rc != LDAP_SUCCESS) {
    out.detail = diagnostic(raw);
    return out;
  }
  if (ldap_get_option(raw, LDAP_OPT_DESC, &out.fd) != LDAP_OPT_SUCCESS || out.fd < 0) {
    out.rc = LDAP_SERVER_DOWN;
    out.detail = "no socket after bind";
  }
  return out;
}

entry parse_entry(LDAP* ld, LDAPMessage* m) {
  entry e;
  if (char* dn = ldap_get_dn(ld, m)) {
    e.dn = dn;
    ldap_memfree(dn);
  }
  BerElement* ber = nullptr;
  for (char* a = ldap_first_attribute(ld, m, &ber); a; a = ldap_next_attribute(ld, m, ber)) {
    std::vector<std::string> values;
    if (berval** vals = ldap_get_values_len(ld, m, a)) {
      for (berval** v = vals; *v; ++v) values.emplace_back((*v)->bv_val, (*v)->bv_len);
      ldap_value_free_len(vals);
    }
    e.attributes.emplace_back(a, std::move(values));
    ldap_memfree(a);
  }
  if (ber) ber_free(ber, 0);
  return e;
}

}  // namespace

const std::vector<std::string>* entry::get(std::string_view name) const noexcept {
  for (const auto& [k, v] : attributes)
    if (net::http::iequals(k, name)) return &v;
  return nullptr;
}

std::string_view entry::first(std::string_view name) const noexcept {
  const auto* v = get(name);
  return v && !v->empty() ? std::string_view(v->front()) : std::string_view{};
}

// ------------------------------------------------------------------ connection

// One search in flight on a connection: collects entries until its result.
struct search_op {
  int msgid = -1;
  std::uint64_t generation = 0;
  std::vector<entry> entries;
  std::size_t max_entries = 0;
  bool overflow = false;
  bool done = false;
  int rc = LDAP_OTHER;
  std::string diag;
  std::string cookie;  // paged results: the server's cookie ("" = last page)
  std::error_code error;  // connection lost, canceled, timed out
  std::coroutine_handle<> h;
};

struct client::connection {
  client* owner = nullptr;
  std::size_t index = 0;
  enum class state { idle, connecting, up, down, stopped } st = state::idle;
  ldap_ptr ld;
  std::unique_ptr<net::fd_watcher> watch;
  std::map<int, search_op*> ops;
  std::uint64_t generation = 0;  // bumped on each new session (paged cookies are per session)
  bool ever_up = false;
  bool drain_deferred = false;
  rt::wait_queue lost_event;  // maintain() waits here while the connection is up

  static void on_poll(void* ctx, int status, bool, bool) {
    auto* c = static_cast<connection*>(ctx);
    if (status < 0) {
      // Whatever the socket says, the session is gone: report it as LDAP does.
      c->lost(ldap_error(LDAP_SERVER_DOWN), "socket error: " + rt::uv_error(status).message());
      return;
    }
    c->drain();
  }

  void attach(connect_outcome& out) {
    ld = std::move(out.ld);
    ++generation;
    watch = std::make_unique<net::fd_watcher>(out.fd, &on_poll, this);
    if (!watch->ok() || watch->watch(true, false)) {
      watch.reset();
      ld.reset();
      st = state::down;
      return;
    }
    st = state::up;
    ever_up = true;
  }

  // Reads every complete message libldap has (it may hold decoded data the
  // socket no longer signals), a bounded number per turn so big results do not
  // monopolise the loop.
  void drain() {
    std::vector<search_op*> finished;
    int handled = 0;
    while (ld) {
      if (handled++ == 512) {
        if (!drain_deferred) {
          drain_deferred = true;
          rt::loop::current().defer([this, gen = generation] {
            drain_deferred = false;
            if (st == state::up && gen == generation) drain();
          });
        }
        break;
      }
      timeval zero{0, 0};
      LDAPMessage* raw = nullptr;
      int rc = ldap_result(ld.get(), LDAP_RES_ANY, LDAP_MSG_ONE, &zero, &raw);
      if (rc == 0) break;
      if (rc < 0) {
        int err = LDAP_SERVER_DOWN;
        ldap_get_option(ld.get(), LDAP_OPT_RESULT_CODE, &err);
        lost(ldap_error(err == LDAP_SUCCESS ? LDAP_SERVER_DOWN : err), diagnostic(ld.get()));
        break;
      }
      msg_ptr m(raw);
      const int id = ldap_msgid(raw);
      if (rc == LDAP_RES_EXTENDED && id == 0) {  // notice of disconnection
        lost(ldap_error(LDAP_SERVER_DOWN), "the server sent a notice of disconnection");
        break;
      }
      auto it = ops.find(id);
      if (it == ops.end()) continue;  // abandoned or unknown
      search_op* op = it->second;
      if (rc == LDAP_RES_SEARCH_ENTRY) {
        if (op->entries.size() >= op->max_entries) {
          op->overflow = true;
          ldap_abandon_ext(ld.get(), id, nullptr, nullptr);
          ops.erase(it);
          op->done = true;
          finished.push_back(op);
        } else {
          op->entries.push_back(parse_entry(ld.get(), raw));
        }
      } else if (rc == LDAP_RES_SEARCH_RESULT) {
        int err = LDAP_OTHER;
        char* matched = nullptr;
        char* diag = nullptr;
        LDAPControl** ctrls = nullptr;
        if (ldap_parse_result(ld.get(), raw, &err, &matched, &diag, nullptr, &ctrls, 0) == LDAP_SUCCESS) {
          op->rc = err;
          if (diag) op->diag = diag;
          if (LDAPControl* pc = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, ctrls, nullptr)) {
            ber_int_t estimate = 0;
            berval cookie{0, nullptr};
            if (ldap_parse_pageresponse_control(ld.get(), pc, &estimate, &cookie) == LDAP_SUCCESS) {
              if (cookie.bv_val) op->cookie.assign(cookie.bv_val, cookie.bv_len);
              ber_memfree(cookie.bv_val);
            }
          }
        }
        ldap_controls_free(ctrls);
        ldap_memfree(matched);
        ldap_memfree(diag);
        ops.erase(it);
        op->done = true;
        finished.push_back(op);
      }
    }
    // Each coroutine resumes on the next loop turn, never inside libldap's state.
    for (search_op* op : finished)
      if (op->h) rt::loop::current().schedule(op->h);
  }

  // The session is gone: fail its operations (retryable) and let maintain() reconnect.
  void lost(std::error_code ec, std::string detail) {
    if (st != state::up) return;
    st = state::down;
    if (watch) watch->close();  // before libldap closes the descriptor
    watch.reset();
    ld.reset();
    for (auto& [id, op] : ops) {
      op->error = ec;
      op->done = true;
      if (op->h) rt::loop::current().schedule(op->h);
    }
    ops.clear();
    owner->fail(*this, ec, std::move(detail));
    lost_event.notify_all();
  }

  int send(const search_request& r, std::chrono::milliseconds timeout, const std::string* cookie,
           std::size_t page_size, int& msgid) {
    LDAPControl* page = nullptr;
    LDAPControl* sctrls[2] = {nullptr, nullptr};
    if (cookie) {
      berval c{static_cast<ber_len_t>(cookie->size()), const_cast<char*>(cookie->data())};
      int rc = ldap_create_page_control(ld.get(), static_cast<ber_int_t>(page_size), cookie->empty() ? nullptr : &c, 1,
                                        &page);
      if (rc != LDAP_SUCCESS) return rc;
      sctrls[0] = page;
    }
    std::vector<char*> attrs;
    for (const auto& a : r.attributes) attrs.push_back(const_cast<char*>(a.c_str()));
    attrs.push_back(nullptr);
    // The server gets the deadline as its time limit too (whole seconds, at least 1).
    timeval tl{static_cast<time_t>(std::max<long long>(1, (timeout.count() + 999) / 1000)), 0};
    static const int scopes[] = {LDAP_SCOPE_BASE, LDAP_SCOPE_ONELEVEL, LDAP_SCOPE_SUBTREE};
    int rc = ldap_search_ext(ld.get(), r.base.c_str(), scopes[static_cast<int>(r.scope)], r.filter.c_str(),
                             r.attributes.empty() ? nullptr : attrs.data(), 0, cookie ? sctrls : nullptr, nullptr, &tl,
                             r.size_limit, &msgid);
    if (page) ldap_control_free(page);
    return rc;
  }

  void abandon(search_op& op) {
    auto it = ops.find(op.msgid);
    if (it != ops.end() && it->second == &op) {
      ops.erase(it);
      if (ld) ldap_abandon_ext(ld.get(), op.msgid, nullptr, nullptr);
    }
  }
};

namespace {

// Waits for a search's result; a stop abandons the message id and resumes
// (later) with canceled or timed_out.
struct op_awaiter {
  op_awaiter(client::connection* cc, search_op* o) : c(cc), op(o) {}
  client::connection* c;
  search_op* op;
  struct on_stop {
    op_awaiter* self;
    void operator()(rt::stop_reason r) const {
      if (self->op->done) return;
      self->c->abandon(*self->op);
      self->op->error = rt::to_error(r);
      self->op->done = true;
      rt::loop::current().schedule(self->op->h);
    }
  };
  std::optional<rt::stop_callback<on_stop>> cb;

  bool await_ready() const noexcept { return op->done; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    const rt::stop_token& t = rt::detail::token_of(h);
    if (t.stop_requested()) {
      c->abandon(*op);
      op->error = rt::to_error(t.reason());
      op->done = true;
      return false;
    }
    op->h = h;
    cb.emplace(t, on_stop{this});
    return true;
  }
  std::error_code await_resume() {
    cb.reset();
    return op->error;
  }
};

std::error_code result_error(const search_op& op) {
  if (op.error) return op.error;
  if (op.overflow) return make_error_code(ldap_errc::too_many_entries);
  if (op.rc == LDAP_SUCCESS || op.rc == LDAP_SIZELIMIT_EXCEEDED) return {};
  return ldap_error(op.rc);
}

}  // namespace

// ---------------------------------------------------------------------- client


client::client(client_options o) : opts_(std::move(o)) {
  if (opts_.connections == 0) opts_.connections = 1;
  for (std::size_t i = 0; i < opts_.connections; ++i) {
    auto c = std::make_unique<connection>();
    c->owner = this;
    c->index = i;
    conns_.push_back(std::move(c));
  }
}

client::~client() {
  // stop() must have been awaited; close whatever is left without waiting.
  for (auto& c : conns_) {
    if (c->watch) c->watch->close();
    c->watch.reset();
    c->ld.reset();
  }
}

rt::task<std::error_code> client::start() {
  first_attempts_left_ = conns_.size();
  for (auto& c : conns_) group_.spawn(maintain(*c));
  while (first_attempts_left_ > 0 && !stopping_) {
    if (co_await state_changed_.wait()) break;
  }
  if (state().up > 0) co_return std::error_code{};
  co_return last_error_ ? last_error_ : make_error_code(ldap_errc::unavailable);
}

rt::task<void> client::stop() {
  stopping_ = true;
  for (auto& c : conns_) {
    if (c->st == connection::state::up) c->lost(make_error_code(rt::errc::canceled), "stopping");
  }
  group_.request_stop();
  notify_state();
  co_await group_.join();
}

void client::notify_state() { state_changed_.notify_all(); }

void client::fail(connection& c, std::error_code ec, std::string detail) {
  last_error_ = ec;
  last_error_detail_ = std::move(detail);
  if (!stopping_)
    log::warn("directory connection lost", {{"connection", c.index},
                                            {"url", opts_.url},
                                            {"error", ec.message()},
                                            {"detail", last_error_detail_}});
  notify_state();
}

rt::task<void> client::maintain(connection& c) {
  std::mt19937_64 rng{std::random_device{}() ^ (static_cast<std::uint64_t>(c.index) << 32)};
  auto backoff = opts_.reconnect_min;
  bool first = true;
  std::error_code reported;  // log a failure once until it changes
  while (!stopping_) {
    c.st = connection::state::connecting;
    std::optional<connect_outcome> out;
    try {
      // A named awaiter: GCC 12 mishandles a non-trivial awaiter temporary used
      // inside a call's argument list (its captured strings end up relocated).
      auto job = rt::run_blocking([o = opts_] { return connect_blocking(o); });
      out.emplace(co_await job);
    } catch (const rt::error&) {
      break;  // stopping
    }
    ++connects_;
    if (out->rc == LDAP_SUCCESS && !stopping_) {
      c.attach(*out);
    } else {
      c.st = connection::state::down;
      last_error_ = ldap_error(out->rc);
      last_error_detail_ = out->detail;
      if (reported != last_error_) {
        reported = last_error_;
        log::error("directory connection failed",
                   {{"connection", c.index}, {"url", opts_.url}, {"error", last_error_.message()},
                    {"detail", out->detail}, {"retry_in_ms", static_cast<std::int64_t>(backoff.count())}});
      }
    }
    if (first) {
      first = false;
      --first_attempts_left_;
    }
    notify_state();
    if (c.st == connection::state::up) {
      if (reported) log::info("directory connection restored", {{"connection", c.index}, {"url", opts_.url}});
      reported = {};
      backoff = opts_.reconnect_min;
      while (c.st == connection::state::up) {
        if (co_await c.lost_event.wait()) break;  // stopping
      }
      if (stopping_) break;
    }
    // Equal jitter: half the backoff fixed, half random, so reconnects spread out.
    auto half = std::max<std::int64_t>(1, backoff.count() / 2);
    std::uniform_int_distribution<std::int64_t> jitter(0, half);
    try {
      co_await rt::sleep_for(std::chrono::milliseconds(half + jitter(rng)));
    } catch (const rt::error&) {
      break;
    }
    backoff = std::min(backoff * 2, opts_.reconnect_max);
  }
  c.st = connection::state::stopped;
}

client::connection* client::pick(std::size_t need_free) {
  connection* best = nullptr;
  for (auto& c : conns_) {
    if (c->st != connection::state::up || c->ops.size() + need_free > opts_.max_outstanding) continue;
    if (!best || c->ops.size() < best->ops.size()) best = c.get();
  }
  return best;
}

rt::task<rt::result<client::connection*>> client::acquire() {
  for (;;) {
    if (stopping_) co_return make_error_code(rt::errc::canceled);
    if (connection* c = pick(1)) co_return c;
    bool any_up = std::any_of(conns_.begin(), conns_.end(), [](auto& c) { return c->st == connection::state::up; });
    if (any_up) co_return make_error_code(ldap_errc::busy);
    // Before the first attempts have finished, wait for them; later, fail fast
    // (the caller's error is retryable and /readyz says why).
    if (first_attempts_left_ == 0) co_return make_error_code(ldap_errc::unavailable);
    if (std::error_code ec = co_await state_changed_.wait()) co_return ec;
  }
}

client::status client::state() const {
  status s;
  s.total = conns_.size();
  for (const auto& c : conns_)
    if (c->st == connection::state::up) ++s.up;
  s.last_error = last_error_;
  s.last_error_detail = last_error_detail_;
  return s;
}

namespace {

// One search on one connection, to its result.
rt::task<std::error_code> run_op(client::connection& c, search_op& op, const search_request& r,
                                 std::chrono::milliseconds timeout, const std::string* cookie, std::size_t page_size,
                                 std::uint64_t& sent) {
  if (c.st != client::connection::state::up) co_return make_error_code(ldap_errc::unavailable);
  op.generation = c.generation;
  int rc = c.send(r, timeout, cookie, page_size, op.msgid);
  if (rc != LDAP_SUCCESS) {
    if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR) c.lost(ldap_error(rc), diagnostic(c.ld.get()));
    co_return rc == LDAP_FILTER_ERROR ? make_error_code(ldap_errc::bad_filter) : ldap_error(rc);
  }
  ++sent;
  c.ops[op.msgid] = &op;
  co_return co_await op_awaiter(&c, &op);
}

}  // namespace

rt::task<rt::result<search_result>> client::search(search_request r) {
  const auto timeout = r.timeout.count() > 0 ? r.timeout : opts_.operation_timeout;
  auto body = [](client& self, search_request& req, std::chrono::milliseconds t) -> rt::task<rt::result<search_result>> {
    auto c = co_await self.acquire();
    if (!c) co_return c.error();
    search_op op;
    op.max_entries = self.opts_.max_entries;
    if (std::error_code ec = co_await run_op(**c, op, req, t, nullptr, 0, self.searches_sent_)) co_return ec;
    if (std::error_code ec = result_error(op)) {
      if (!op.diag.empty()) log::debug("directory search failed", {{"error", ec.message()}, {"detail", op.diag}});
      co_return ec;
    }
    search_result res;
    res.entries = std::move(op.entries);
    res.size_limit_exceeded = op.rc == LDAP_SIZELIMIT_EXCEEDED;
    co_return res;
  };
  // Directories close idle connections (Active Directory after 15 minutes): a
  // search that meets a connection just lost is sent once more, on another one.
  auto with_retry = [](client& self, search_request& req, std::chrono::milliseconds t,
                       auto& attempt) -> rt::task<rt::result<search_result>> {
    auto first = co_await attempt(self, req, t);
    if (first || !(first.error() == ldap_error(LDAP_SERVER_DOWN) || first.error() == ldap_error(LDAP_CONNECT_ERROR)))
      co_return first;
    co_return co_await attempt(self, req, t);
  };
  co_return co_await rt::with_timeout(timeout, with_retry(*this, r, timeout, body));
}

rt::task<rt::result<std::size_t>> client::search_paged(search_request r,
                                                        std::function<rt::task<bool>(std::vector<entry>)> on_page) {
  const auto timeout = r.timeout.count() > 0 ? r.timeout : opts_.operation_timeout;
  auto first = co_await rt::with_timeout(timeout, acquire());
  if (!first) co_return first.error();
  connection& c = **first;
  const std::uint64_t session = c.generation;
  std::string cookie;
  std::size_t total = 0;
  for (;;) {
    if (c.generation != session || c.st != connection::state::up)
      co_return make_error_code(ldap_errc::unavailable);  // cookies do not survive a reconnect
    search_op op;
    op.max_entries = opts_.page_size + 1;
    auto page = [](connection& cc, search_op& o, search_request& req, std::chrono::milliseconds t,
                   const std::string& ck, std::size_t ps, std::uint64_t& sent) -> rt::task<std::error_code> {
      co_return co_await run_op(cc, o, req, t, &ck, ps, sent);
    };
    std::error_code ec = co_await rt::with_timeout(timeout, page(c, op, r, timeout, cookie, opts_.page_size, searches_sent_));
    if (!ec) ec = result_error(op);
    if (ec) co_return ec;
    total += op.entries.size();
    cookie = std::move(op.cookie);
    bool more = !cookie.empty();
    bool go_on = co_await on_page(std::move(op.entries));
    if (!more) break;
    if (!go_on) {
      // Tell the server we are done with this result set (page size 0).
      search_op stop_op;
      stop_op.max_entries = 0;
      (void)co_await rt::with_timeout(timeout, page(c, stop_op, r, timeout, cookie, 0, searches_sent_));
      break;
    }
  }
  co_return total;
}

}  // namespace calgate::proto::ldap
