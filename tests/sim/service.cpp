#include "sim/service.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include "net/stream.hpp"
#include "proto/json/codec.hpp"
#include "proto/json/writer.hpp"
#include "rt/error.hpp"
#include "rt/log.hpp"
#include "rt/sleep.hpp"
#include "sim/operations.hpp"

namespace calgate::sim {

using net::http::request;
using net::http::response;

namespace {

constexpr std::string_view soap_content_type = "text/xml; charset=utf-8";

// Writes body in about twenty pieces spread over total_ms (a slow server or a slow link).
rt::task<std::error_code> paced_write(net::stream& s, std::shared_ptr<const std::string> body, int total_ms) {
  const std::size_t pieces = std::clamp<std::size_t>(body->size(), 1, 20);
  const std::size_t piece = (body->size() + pieces - 1) / pieces;
  const auto pause = std::chrono::milliseconds(pieces > 1 ? total_ms / static_cast<int>(pieces - 1) : total_ms);
  for (std::size_t at = 0; at < body->size(); at += piece) {
    const std::string_view chunk = std::string_view(*body).substr(at, piece);
    if (std::error_code ec = co_await s.write(chunk)) co_return ec;
    if (at + piece >= body->size()) break;
    bool stopped = false;
    try {
      co_await rt::sleep_for(pause);
    } catch (const rt::error&) {
      stopped = true;
    }
    if (stopped) co_return make_error_code(rt::errc::canceled);
  }
  co_return std::error_code{};
}

// Form fields ("a=1&b=2", percent-encoded) as pairs; nullopt if an escape is malformed.
std::optional<std::vector<std::pair<std::string, std::string>>> form_pairs(std::string_view s) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!s.empty()) {
    const std::size_t amp = s.find('&');
    std::string_view part = s.substr(0, amp);
    s = amp == std::string_view::npos ? std::string_view{} : s.substr(amp + 1);
    if (part.empty()) continue;
    const std::size_t eq = part.find('=');
    auto k = net::http::decode_component(part.substr(0, eq), true);
    auto v = net::http::decode_component(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1), true);
    if (!k || !v) return std::nullopt;
    out.emplace_back(std::move(*k), std::move(*v));
  }
  return out;
}

// A JSON object's members as string pairs (strings as they are, integers in decimal).
std::optional<std::vector<std::pair<std::string, std::string>>> json_pairs(const json::value& v, std::string& error) {
  if (!v.is_object()) {
    error = "expected a JSON object (or an array of objects)";
    return std::nullopt;
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& m : v.members()) {
    if (m.value.is_string()) {
      out.emplace_back(m.key, std::string(*m.value.as_string()));
    } else if (auto i = m.value.as_int()) {
      out.emplace_back(m.key, std::to_string(*i));
    } else {
      error = m.key + ": expected a string or an integer";
      return std::nullopt;
    }
  }
  return out;
}

response json_error(int status, std::string_view message) {
  json::writer w;
  w.begin_object().key("error").begin_object().member("code", status).member("message", message).end_object().end_object();
  return response::json(status, w.take());
}

}  // namespace

service::service(fixture fx) : fx_(std::move(fx)), auth_(fx_.cfg) {
  for (const auto& r : fx_.cfg.initial_faults) faults_.add(r);
}

void service::reset() {
  faults_.clear();
  auth_.reset_counters();
  requests_ = dropped_ = 0;
  operations_.clear();
  statuses_.clear();
  injected_.clear();
}

void service::add_routes(net::http::router& routes) {
  using namespace net::http;
  route_options ci;
  ci.case_insensitive = true;
  routes.add("POST", "/EWS/Exchange.asmx", [this](request& r) { return ews(r); }, ci);
  routes.add("POST", "/sim/faults", [this](request& r) { return post_faults(r); });
  routes.add("GET", "/sim/faults", [this](request&) -> rt::task<response> {
    co_return response::json(200, faults_.to_json());
  });
  routes.add("DELETE", "/sim/faults", [this](request&) -> rt::task<response> {
    faults_.clear();
    co_return response::json(200, faults_.to_json());
  });
  routes.add("POST", "/sim/reset", [this](request&) -> rt::task<response> {
    reset();
    co_return response::json(200, "{\"status\":\"reset\"}");
  });
  routes.add("GET", "/sim/counters", [this](request&) -> rt::task<response> {
    co_return response::json(200, counters_json());
  });
}

std::string service::counters_json() const {
  json::writer w;
  w.begin_object();
  w.member("requests", requests_);
  w.member("dropped", dropped_);
  w.key("operations").begin_object();
  for (const auto& [op, n] : operations_) w.member(op, n);
  w.end_object();
  w.key("responses").begin_object();
  for (const auto& [status, n] : statuses_) w.member(std::to_string(status), n);
  w.end_object();
  const auth_counters& a = auth_.counters();
  w.key("auth").begin_object();
  w.member("challenges", a.challenges);
  w.member("basic_ok", a.basic_ok).member("basic_failed", a.basic_failed);
  w.member("ntlm_negotiate", a.ntlm_negotiate).member("ntlm_ok", a.ntlm_ok).member("ntlm_failed", a.ntlm_failed);
  w.member("ntlm_connection_reused", a.ntlm_connection_reused);
  w.member("bearer_ok", a.bearer_ok).member("bearer_failed", a.bearer_failed);
  w.end_object();
  w.key("faults").begin_object();
  for (const auto& [kind, n] : injected_) w.member(kind, n);
  w.end_object();
  w.member("mailboxes", static_cast<std::uint64_t>(fx_.mailboxes.size()));
  w.end_object();
  return w.take();
}

rt::task<response> service::post_faults(request& r) {
  std::vector<std::vector<std::pair<std::string, std::string>>> rules;
  std::string error;
  const auto type = r.headers.get("Content-Type").value_or("");
  if (type.find("json") != std::string_view::npos) {
    auto doc = json::document::parse(r.body);
    if (!doc) co_return json_error(400, "the body is not valid JSON: " + doc.error().message());
    const json::value& root = doc->root();
    if (root.is_array()) {
      for (const auto& item : root.items()) {
        auto kv = json_pairs(item, error);
        if (!kv) co_return json_error(400, error);
        rules.push_back(std::move(*kv));
      }
    } else {
      auto kv = json_pairs(root, error);
      if (!kv) co_return json_error(400, error);
      rules.push_back(std::move(*kv));
    }
  } else {
    auto kv = form_pairs(r.body.empty() ? std::string_view(r.query) : std::string_view(r.body));
    if (!kv) co_return json_error(400, "malformed form encoding");
    rules.push_back(std::move(*kv));
  }
  std::vector<fault_rule> parsed;
  for (const auto& kv : rules) {
    auto rule = parse_fault_rule(kv, fx_.cfg.busy_backoff_ms, fx_.cfg.slow_body_ms, &error);
    if (!rule) co_return json_error(400, error);
    parsed.push_back(std::move(*rule));
  }
  for (auto& rule : parsed) faults_.add(std::move(rule));
  co_return response::json(200, faults_.to_json());
}

response service::soap_ok(std::string body) const {
  response r;
  r.status = 200;
  r.headers.add("Content-Type", std::string(soap_content_type));
  r.body = std::move(body);
  return r;
}

response service::soap_fault(const ews_fault& f) const {
  response r;
  r.status = 500;
  r.headers.add("Content-Type", std::string(soap_content_type));
  r.body = fault_envelope(f);
  return r;
}

response service::finish(response r) {
  ++statuses_[r.status];
  return r;
}

void service::capture(std::uint64_t seq, std::string_view operation, std::string_view kind, std::string_view body) const {
  if (fx_.cfg.capture_dir.empty()) return;
  char name[32];
  std::snprintf(name, sizeof name, "%06llu-", static_cast<unsigned long long>(seq));
  const std::string path = fx_.cfg.capture_dir + "/" + name + std::string(operation.empty() ? "malformed" : operation) +
                           "." + std::string(kind) + ".xml";
  // Small files on a test machine: written in place rather than on the threadpool.
  if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(body.data(), 1, body.size(), f);
    std::fclose(f);
  } else {
    log::warn("cannot write capture file", {{"path", path}});
  }
}

std::string service::dispatch(const caller& who, const ews_request& req) {
  const std::string& op = req.operation;
  if (op == "GetUserAvailability") return get_user_availability(fx_, who, req);
  if (op == "GetFolder") return get_folder(fx_, who, req);
  if (op == "ConvertId") return convert_id(fx_, who, req);
  if (op == "GetServerTimeZones") return get_server_time_zones(fx_, req);
  if (op == "ResolveNames") return resolve_names(fx_, req);
  throw ews_fault("ErrorInvalidRequest", "The request is invalid: the simulator does not implement " + op + ".");
}

rt::task<response> service::ews(request& r) {
  ++requests_;
  auto authn = auth_.check(r);
  if (!authn.who) co_return finish(std::move(authn.challenge));
  const caller who = std::move(*authn.who);
  const std::uint64_t seq = ++seq_;

  ews_request req;
  std::optional<ews_fault> malformed;
  try {
    parse_request(r.body, req);
  } catch (const ews_fault& f) {
    malformed = f;
  }
  const std::string op = malformed ? std::string() : req.operation;
  ++operations_[op.empty() ? "(malformed)" : op];
  capture(seq, op, "request", r.body);

  const int delay = fx_.cfg.latency_ms + faults_.take_latency(op);
  if (delay > 0) co_await rt::sleep_for(std::chrono::milliseconds(delay));

  std::optional<int> slow_ms;
  if (auto injected = faults_.take_failure(op)) {
    ++injected_[std::string(fault_kind_name(injected->kind))];
    switch (injected->kind) {
      case fault_kind::drop: {
        ++dropped_;
        response gone;
        gone.abort = true;
        co_return gone;
      }
      case fault_kind::http_503: {
        response busy = response::text(503, "<html><body><h1>Service Unavailable</h1></body></html>", "text/html");
        co_return finish(std::move(busy));
      }
      case fault_kind::server_busy: {
        ews_fault f("ErrorServerBusy", std::string(server_busy_text));
        f.details.emplace_back("Value", "BackOffMilliseconds", std::to_string(injected->backoff_ms));
        response resp = soap_fault(f);
        capture(seq, op, "fault", resp.body);
        co_return finish(std::move(resp));
      }
      case fault_kind::soap_500: {
        ews_fault f(injected->code, "An internal server error occurred. The operation failed.");
        response resp = soap_fault(f);
        capture(seq, op, "fault", resp.body);
        co_return finish(std::move(resp));
      }
      case fault_kind::slow_body: slow_ms = injected->ms; break;
      case fault_kind::latency: break;
    }
  }

  response resp;
  bool ok = false;
  if (malformed) {
    resp = soap_fault(*malformed);
  } else {
    try {
      check_version(req, fx_.cfg);
      resp = soap_ok(dispatch(who, req));
      ok = true;
    } catch (const ews_fault& f) {
      resp = soap_fault(f);
    } catch (const std::exception& e) {
      resp = soap_fault(ews_fault("ErrorInternalServerError", std::string("An internal server error occurred: ") + e.what()));
    }
  }
  capture(seq, op, ok ? "response" : "fault", resp.body);
  if (slow_ms) {
    auto body = std::make_shared<const std::string>(std::move(resp.body));
    resp.body.clear();
    resp.content_length = body->size();
    const int ms = *slow_ms;
    resp.body_writer = [body, ms](net::stream& s) { return paced_write(s, body, ms); };
  }
  co_return finish(std::move(resp));
}

}  // namespace calgate::sim
