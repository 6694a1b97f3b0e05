#include "proto/ews/client.hpp"

#include <algorithm>
#include <random>
#include <unordered_map>

#include "net/http/url.hpp"
#include "net/tls_crypto.hpp"
#include "proto/ews/soap.hpp"
#include "proto/ntlm/ntlm.hpp"
#include "proto/oauth/token_source.hpp"
#include "rt/log.hpp"
#include "rt/sleep.hpp"
#include "rt/text.hpp"
#include "rt/when_all.hpp"
#include "rt/with_timeout.hpp"

namespace calgate::proto::ews {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The NTLM challenge in a 401, if the server offers NTLM.
std::optional<std::string> ntlm_challenge(const net::http::headers& h, bool& offered) {
  offered = false;
  for (const auto& f : h) {
    if (!net::http::iequals(f.name, "WWW-Authenticate")) continue;
    std::string_view v = f.value;
    if (v.size() >= 4 && net::http::iequals(v.substr(0, 4), "NTLM")) {
      offered = true;
      if (v.size() > 5) {
        auto raw = ntlm::from_header(v);
        if (raw) return std::move(*raw);
      }
    }
  }
  return std::nullopt;
}

milliseconds jittered_backoff(const endpoint_options& o, int attempt) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  long long base = o.retry_min.count();
  for (int i = 1; i < attempt && base < o.retry_max.count(); ++i) base *= 2;
  base = std::min<long long>(base, o.retry_max.count());
  std::uniform_int_distribution<long long> jitter(base / 2, std::max<long long>(base / 2, base));
  return milliseconds(jitter(rng));
}

}  // namespace

struct client::account_state {
  account acct;
  ntlm::credentials creds;
  std::size_t in_use = 0;
};

// One unit of an account's concurrency, given back when destroyed.
struct client::slot {
  client* c = nullptr;
  account_state* a = nullptr;
  slot(client* cc, account_state* aa) noexcept : c(cc), a(aa) {}
  slot(slot&& o) noexcept : c(o.c), a(std::exchange(o.a, nullptr)) {}
  slot& operator=(slot&&) = delete;
  ~slot() {
    if (a) {
      --a->in_use;
      c->account_freed_.notify_one();
    }
  }
};

client::client(net::http::client& http, endpoint_options o)
    : http_(http),
      opts_(std::move(o)),
      version_(opts_.version),
      calls_(metrics::registry::global().add_counter(
          "calgate_ews_requests_total", "EWS requests by endpoint and outcome (ok, an EWS response code, or transport).",
          {"endpoint", "outcome"})) {
  for (const auto& a : opts_.accounts) {
    auto st = std::make_unique<account_state>();
    st->acct = a;
    if (st->acct.max_concurrency == 0) st->acct.max_concurrency = 1;
    if (a.auth == auth_kind::ntlm) st->creds = ntlm::credentials::parse(a.user, a.password);
    accounts_.push_back(std::move(st));
  }
}

client::~client() = default;

rt::task<rt::result<client::slot>> client::acquire_account() {
  if (accounts_.empty()) co_return make_error_code(rt::errc::bad_input);
  for (;;) {
    // Round robin over the accounts that have capacity left.
    for (std::size_t i = 0; i < accounts_.size(); ++i) {
      std::size_t idx = (next_account_ + i) % accounts_.size();
      account_state& a = *accounts_[idx];
      if (a.in_use < a.acct.max_concurrency) {
        next_account_ = idx + 1;
        ++a.in_use;
        co_return slot(this, &a);
      }
    }
    if (std::error_code ec = co_await account_freed_.wait()) co_return ec;
  }
}

net::http::client_request client::base_request(const std::string& envelope) const {
  net::http::client_request r("POST", opts_.url);
  r.headers.add("Content-Type", "text/xml; charset=utf-8");
  r.headers.add("Accept", "text/xml");
  r.body = envelope;
  // A GetUserAvailability is a read: safe to send again on a fresh connection.
  r.idempotent = true;
  return r;
}

rt::task<rt::result<net::http::client_response>> client::exchange(account_state& a, const std::string& envelope) {
  switch (a.acct.auth) {
    case auth_kind::none:
      co_return co_await http_.send(base_request(envelope));
    case auth_kind::basic: {
      auto req = base_request(envelope);
      req.headers.add("Authorization", net::http::basic_auth(a.acct.user, a.acct.password));
      co_return co_await http_.send(std::move(req));
    }
    case auth_kind::bearer: {
      if (!a.acct.tokens) co_return make_error_code(rt::errc::bad_input);
      for (int round = 0; round < 2; ++round) {
        auto token = co_await a.acct.tokens->token();
        if (!token) co_return token.error();
        auto req = base_request(envelope);
        req.headers.add("Authorization", "Bearer " + *token);
        auto r = co_await http_.send(std::move(req));
        // A token the server no longer takes (revoked, clock skew): get a fresh one once.
        if (r && r->status == 401 && round == 0) {
          a.acct.tokens->invalidate(*token);
          continue;
        }
        co_return r;
      }
      co_return make_error_code(ews_errc::unauthorized);
    }
    case auth_kind::ntlm:
      co_return co_await exchange_ntlm(a, envelope);
  }
  co_return make_error_code(rt::errc::bad_input);
}

rt::task<rt::result<net::http::client_response>> client::exchange_ntlm(account_state& a, const std::string& envelope) {
  // NTLM authenticates a connection: connections are pooled per account, and
  // one that was authenticated before serves the request at once.
  net::http::client::session s(http_);
  const std::string partition = "ntlm " + a.acct.name;
  auto plain = base_request(envelope);
  plain.pool_partition = partition;
  auto first = co_await http_.send(std::move(plain), s);
  if (!first || first->status != 401) co_return first;
  bool offered = false;
  (void)ntlm_challenge(first->headers, offered);
  if (!offered) co_return first;  // the server does not speak NTLM: a 401 it is

  auto negotiate = base_request(envelope);
  negotiate.pool_partition = partition;
  negotiate.headers.add("Authorization", ntlm::header_value(ntlm::negotiate_message("CALGATE")));
  auto second = co_await http_.send(std::move(negotiate), s);
  if (!second || second->status != 401) co_return second;
  auto raw = ntlm_challenge(second->headers, offered);
  if (!raw) {
    s.discard();
    co_return make_error_code(ews_errc::unauthorized);
  }
  auto ch = ntlm::parse_challenge(*raw);
  if (!ch) {
    s.discard();
    co_return make_error_code(ews_errc::bad_response);
  }
  std::string type3 = ntlm::authenticate_message(a.creds, *ch, net::crypto::random_bytes(8), ntlm::filetime_now(), "CALGATE");
  auto final_req = base_request(envelope);
  final_req.pool_partition = partition;
  final_req.headers.add("Authorization", ntlm::header_value(type3));
  auto third = co_await http_.send(std::move(final_req), s);
  if (third && third->status == 401) s.discard();  // not an authenticated connection: do not pool it
  co_return third;
}

rt::task<rt::result<xml::element>> client::call(std::string body_xml, clock::time_point deadline) {
  std::error_code last;
  auto outcome = [this](std::string_view what) { calls_.with({opts_.name, what}).inc(); };
  for (int attempt = 1;; ++attempt) {
    // Each attempt takes the next account with capacity: Exchange throttles
    // per calling account, so a retry after ErrorServerBusy moves on.
    std::optional<slot> held;
    {
      auto sl = co_await acquire_account();
      if (!sl) co_return sl.error();
      held.emplace(std::move(*sl));
    }
    account_state& acct = *held->a;
    auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
    if (deadline != clock::time_point::max() && left <= milliseconds(0))
      co_return last ? last : make_error_code(rt::errc::timed_out);
    milliseconds limit = opts_.request_timeout;
    if (deadline != clock::time_point::max()) limit = std::min(limit, left);
    std::string env = envelope(version_, body_xml);
    if (opts_.capture) opts_.capture(env);
    ++requests_;
    auto resp = co_await rt::with_timeout(limit, exchange(acct, env));
    milliseconds wait{0};
    bool again_at_once = false;
    if (!resp) {
      last = resp.error();
      auto token = co_await rt::this_token();
      if (token.stop_requested()) co_return last;  // the caller gave up
      outcome("transport");
      if (!is_retryable(last) && last != rt::errc::timed_out) {
        log::warn("EWS request failed", {{"endpoint", opts_.name}, {"account", acct.acct.name}, {"error", last.message()}});
        co_return last;
      }
      wait = jittered_backoff(opts_, attempt);
    } else if (resp->status == 200) {
      std::string err;
      xml::limits lim;
      lim.max_total_bytes = opts_.max_response_bytes;
      auto doc = xml::parse(resp->body, lim, &err);
      if (!doc) {
        outcome("bad_response");
        log::warn("EWS answer is not XML", {{"endpoint", opts_.name}, {"error", err}});
        co_return make_error_code(ews_errc::bad_response);
      }
      if (auto f = parse_fault(*doc)) {
        outcome(f->response_code);
        co_return make_error_code(f->code);
      }
      if (auto v = parse_server_version(*doc)) server_ = *v;
      outcome("ok");
      co_return std::move(*doc);
    } else if (resp->status == 500) {
      std::optional<fault> f;
      if (auto doc = xml::parse(resp->body)) f = parse_fault(*doc);
      if (!f) {
        outcome("http_500");
        last = make_error_code(ews_errc::internal_server_error);
        wait = jittered_backoff(opts_, attempt);
      } else {
        outcome(f->response_code);
        last = make_error_code(f->code);
        if (f->code == ews_errc::invalid_server_version && !fell_back_) {
          log::warn("Exchange rejected the requested schema version; falling back",
                    {{"endpoint", opts_.name}, {"version", version_}, {"fallback", opts_.fallback_version}});
          version_ = opts_.fallback_version;
          fell_back_ = true;
          again_at_once = true;
        } else if (f->code == ews_errc::server_busy) {
          wait = std::max(f->back_off.value_or(milliseconds(0)), jittered_backoff(opts_, attempt));
        } else if (f->code == ews_errc::internal_server_error) {
          wait = jittered_backoff(opts_, attempt);
        } else {
          log::warn("EWS fault", {{"endpoint", opts_.name}, {"code", f->response_code}, {"message", f->message}});
          co_return last;
        }
      }
    } else if (resp->status == 503) {
      outcome("http_503");
      last = make_error_code(ews_errc::service_unavailable);
      wait = jittered_backoff(opts_, attempt);
    } else if (resp->status == 401) {
      outcome("http_401");
      log::error("Exchange refused the account's credentials",
                 {{"endpoint", opts_.name}, {"account", acct.acct.name}, {"url", opts_.url}});
      co_return make_error_code(ews_errc::unauthorized);
    } else {
      outcome("http_" + std::to_string(resp->status));
      log::warn("unexpected HTTP status from Exchange", {{"endpoint", opts_.name}, {"status", resp->status}});
      co_return make_error_code(ews_errc::http_status);
    }
    if (again_at_once) continue;
    if (attempt >= opts_.max_attempts) co_return last;
    if (deadline != clock::time_point::max() && clock::now() + wait >= deadline)
      co_return last;  // the hint does not fit before the caller's deadline
    ++retries_;
    held.reset();  // give the account back while waiting
    try {
      co_await rt::sleep_for(wait);
    } catch (const rt::error& e) {
      co_return e.code();
    }
  }
}

rt::task<rt::result<std::vector<mailbox_availability>>> client::get_user_availability(availability_request r) {
  if (r.end <= r.start || r.merged_interval_minutes < 5 || r.merged_interval_minutes > 1440)
    co_return make_error_code(rt::errc::bad_input);
  if (accounts_.empty()) co_return make_error_code(rt::errc::bad_input);
  if (r.mailboxes.empty()) co_return std::vector<mailbox_availability>{};

  // Unique mailboxes (addresses compare without case), answered in input order later.
  std::vector<availability_query::mailbox> unique;
  std::unordered_map<std::string, std::size_t> index;
  std::vector<std::size_t> slot_of(r.mailboxes.size());
  for (std::size_t i = 0; i < r.mailboxes.size(); ++i) {
    auto [it, fresh] = index.emplace(rt::ascii_lower(r.mailboxes[i].address), unique.size());
    if (fresh) unique.push_back(r.mailboxes[i]);
    slot_of[i] = it->second;
  }

  // Windows of at most max_window, each a whole number of merged intervals.
  const auto interval = std::chrono::minutes(r.merged_interval_minutes);
  auto chunk = (opts_.max_window / interval) * interval;
  if (chunk.count() <= 0) chunk = interval;
  std::vector<std::pair<std::chrono::sys_seconds, std::chrono::sys_seconds>> windows;
  for (auto t = r.start; t < r.end; t += chunk) windows.emplace_back(t, std::min<std::chrono::sys_seconds>(t + chunk, r.end));

  const std::size_t per = std::max<std::size_t>(1, opts_.max_mailboxes_per_request);
  struct job {
    std::size_t first, count, window;
  };
  std::vector<job> jobs;
  for (std::size_t w = 0; w < windows.size(); ++w)
    for (std::size_t m = 0; m < unique.size(); m += per) jobs.push_back({m, std::min(per, unique.size() - m), w});

  struct accumulated {
    mailbox_availability a;
    std::vector<std::optional<std::string>> merged;  // per window
  };
  std::vector<accumulated> acc(unique.size());
  for (std::size_t i = 0; i < unique.size(); ++i) {
    acc[i].a.address = unique[i].address;
    acc[i].merged.resize(windows.size());
  }

  std::size_t next_job = 0;
  auto worker = [&]() -> rt::task<void> {
    while (next_job < jobs.size()) {
      const job j = jobs[next_job++];
      availability_query q;
      q.mailboxes.assign(unique.begin() + static_cast<std::ptrdiff_t>(j.first),
                         unique.begin() + static_cast<std::ptrdiff_t>(j.first + j.count));
      q.start = windows[j.window].first;
      q.end = windows[j.window].second;
      q.requested = r.requested;
      q.merged_interval_minutes = r.merged_interval_minutes;
      auto env = co_await call(availability_body(q), r.deadline);
      rt::result<std::vector<mailbox_availability>> parsed = env ? parse_availability(*env, q) : env.error();
      for (std::size_t k = 0; k < j.count; ++k) {
        accumulated& dst = acc[j.first + k];
        if (!parsed) {
          if (!dst.a.error) {
            dst.a.error = parsed.error();
            dst.a.error_text = parsed.error().message();
          }
          continue;
        }
        mailbox_availability& src = (*parsed)[k];
        if (src.error) {
          if (!dst.a.error) {
            dst.a.error = src.error;
            dst.a.error_text = std::move(src.error_text);
          }
          continue;
        }
        if (dst.a.returned_view == view::none) dst.a.returned_view = src.returned_view;
        for (auto& e : src.events) dst.a.events.push_back(std::move(e));
        dst.merged[j.window] = std::move(src.merged);
        if (!dst.a.hours && src.hours) dst.a.hours = std::move(src.hours);
      }
    }
  };
  std::vector<rt::task<void>> workers;
  for (std::size_t i = 0; i < std::min(jobs.size(), std::max<std::size_t>(1, opts_.max_parallel)); ++i)
    workers.push_back(worker());
  co_await rt::when_all(std::move(workers));

  std::vector<mailbox_availability> answers(unique.size());
  for (std::size_t i = 0; i < unique.size(); ++i) {
    mailbox_availability& a = acc[i].a;
    if (a.error) {
      // A mailbox with a failed window has no complete answer: report the error alone.
      a.events.clear();
      a.hours.reset();
    } else {
      // An event spanning two windows comes back in both.
      std::stable_sort(a.events.begin(), a.events.end(), [](const calendar_event& x, const calendar_event& y) {
        return std::tie(x.start, x.end) < std::tie(y.start, y.end);
      });
      auto same = [](const calendar_event& x, const calendar_event& y) {
        return x.start == y.start && x.end == y.end && x.busy == y.busy &&
               (x.details ? x.details->subject : std::string()) == (y.details ? y.details->subject : std::string()) &&
               (x.details ? x.details->id : std::string()) == (y.details ? y.details->id : std::string());
      };
      a.events.erase(std::unique(a.events.begin(), a.events.end(), same), a.events.end());
      if (view_has_merged(a.returned_view)) {
        for (auto& piece : acc[i].merged) a.merged += piece.value_or(std::string());
      }
    }
    answers[i] = std::move(a);
  }
  std::vector<mailbox_availability> out;
  out.reserve(r.mailboxes.size());
  for (std::size_t i = 0; i < r.mailboxes.size(); ++i) {
    out.push_back(answers[slot_of[i]]);
    out.back().address = r.mailboxes[i].address;
  }
  co_return out;
}

}  // namespace calgate::proto::ews
