#include "sim/faults.hpp"

#include <algorithm>
#include <charconv>

#include "proto/json/writer.hpp"

namespace calgate::sim {

namespace {

constexpr std::pair<fault_kind, std::string_view> kind_names[] = {
    {fault_kind::latency, "latency"}, {fault_kind::server_busy, "server_busy"}, {fault_kind::http_503, "http_503"},
    {fault_kind::soap_500, "soap_500"}, {fault_kind::drop, "drop"},          {fault_kind::slow_body, "slow_body"},
};

bool parse_int(std::string_view s, int lo, int hi, int& out) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v < lo || v > hi) return false;
  out = v;
  return true;
}

// "GetUserAvailabilityRequest" and "GetUserAvailability" name the same operation.
std::string operation_name(std::string_view s) {
  if (s.ends_with("Request") && s != "Request") s.remove_suffix(7);
  return std::string(s);
}

}  // namespace

std::string_view fault_kind_name(fault_kind k) noexcept {
  for (const auto& [kind, name] : kind_names)
    if (kind == k) return name;
  return "server_busy";
}

std::optional<fault_kind> parse_fault_kind(std::string_view s) noexcept {
  for (const auto& [kind, name] : kind_names)
    if (name == s) return kind;
  return std::nullopt;
}

std::optional<fault_rule> parse_fault_rule(const std::vector<std::pair<std::string, std::string>>& kv,
                                           int default_backoff_ms, int default_slow_body_ms, std::string* error) {
  fault_rule r;
  r.backoff_ms = default_backoff_ms;
  bool have_kind = false, have_count = false, have_ms = false;
  auto fail = [&](std::string msg) -> std::optional<fault_rule> {
    if (error) *error = std::move(msg);
    return std::nullopt;
  };
  for (const auto& [k, v] : kv) {
    if (k == "kind") {
      auto kind = parse_fault_kind(v);
      if (!kind) return fail("kind: expected latency, server_busy, http_503, soap_500, drop or slow_body (got \"" + v + "\")");
      r.kind = *kind;
      have_kind = true;
    } else if (k == "operation") {
      if (v.empty()) return fail("operation: empty (use \"*\" for every operation)");
      r.operation = v == "*" ? v : operation_name(v);
    } else if (k == "count") {
      if (!parse_int(v, 0, 1'000'000, r.count)) return fail("count: expected an integer 0..1000000");
      have_count = true;
    } else if (k == "ms") {
      if (!parse_int(v, 0, 600'000, r.ms)) return fail("ms: expected milliseconds 0..600000");
      have_ms = true;
    } else if (k == "backoff_ms") {
      if (!parse_int(v, 0, 86'400'000, r.backoff_ms)) return fail("backoff_ms: expected milliseconds");
    } else if (k == "code") {
      if (v.empty() || !std::all_of(v.begin(), v.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
          }))
        return fail("code: expected an EWS ResponseCode such as ErrorInternalServerError");
      r.code = v;
    } else {
      return fail(k + ": unknown parameter (kind, operation, count, ms, backoff_ms, code)");
    }
  }
  if (!have_kind) return fail("kind: missing");
  if (r.kind == fault_kind::slow_body && !have_ms) r.ms = default_slow_body_ms;
  if (r.kind == fault_kind::latency && !have_ms) return fail("ms: missing (the latency to add)");
  if (r.kind == fault_kind::soap_500 && r.code.empty()) r.code = "ErrorInternalServerError";
  // Only latency may be open-ended: a failure for every request is what count 1000000 is for.
  if (!have_count) r.count = r.kind == fault_kind::latency ? 0 : 1;
  else if (r.count == 0 && r.kind != fault_kind::latency) return fail("count: must be at least 1");
  return r;
}

bool fault_plan::matches(const fault_rule& r, std::string_view operation) noexcept {
  return r.operation == "*" || r.operation == operation;
}

int fault_plan::take_latency(std::string_view operation) {
  int total = 0;
  for (auto it = rules_.begin(); it != rules_.end();) {
    if (it->kind == fault_kind::latency && matches(*it, operation)) {
      total += it->ms;
      if (it->count > 0 && --it->count == 0) {
        it = rules_.erase(it);
        continue;
      }
    }
    ++it;
  }
  return total;
}

std::optional<fault_rule> fault_plan::take_failure(std::string_view operation) {
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (it->kind == fault_kind::latency || !matches(*it, operation)) continue;
    fault_rule out = *it;
    if (--it->count <= 0) rules_.erase(it);
    return out;
  }
  return std::nullopt;
}

std::string fault_plan::to_json() const {
  json::writer w;
  w.begin_object().key("faults").begin_array();
  for (const auto& r : rules_) {
    w.begin_object();
    w.member("kind", fault_kind_name(r.kind));
    w.member("operation", r.operation);
    w.member("count", r.count);
    if (r.kind == fault_kind::latency || r.kind == fault_kind::slow_body) w.member("ms", r.ms);
    if (r.kind == fault_kind::server_busy) w.member("backoff_ms", r.backoff_ms);
    if (r.kind == fault_kind::soap_500) w.member("code", r.code);
    w.end_object();
  }
  w.end_array().end_object();
  return w.take();
}

}  // namespace calgate::sim
