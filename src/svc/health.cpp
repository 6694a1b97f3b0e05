#include "svc/health.hpp"

#include "rt/json_string.hpp"

namespace calgate::svc {

void readiness::add(std::string name, std::function<check_result()> check) {
  checks_.emplace_back(std::move(name), std::move(check));
}

readiness::report readiness::evaluate() const {
  report r;
  for (const auto& [name, fn] : checks_) {
    check_result c;
    try {
      c = fn();
    } catch (const std::exception& e) {
      c = {false, std::string("check failed: ") + e.what()};
    }
    r.ready = r.ready && c.ok;
    r.checks.emplace_back(name, std::move(c));
  }
  return r;
}

std::string readiness::to_json(const report& r) {
  std::string out = "{\"status\":";
  out += r.ready ? "\"ready\"" : "\"not ready\"";
  out += ",\"checks\":{";
  bool first = true;
  for (const auto& [name, c] : r.checks) {
    if (!first) out += ',';
    first = false;
    rt::append_json_string(out, name);
    out += ":{\"ok\":";
    out += c.ok ? "true" : "false";
    out += ",\"detail\":";
    rt::append_json_string(out, c.detail);
    out += '}';
  }
  out += "}}";
  return out;
}

}  // namespace calgate::svc
