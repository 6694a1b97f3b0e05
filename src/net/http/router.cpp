#include "net/http/router.hpp"

#include <stdexcept>

namespace calgate::net::http {

void router::add(std::string_view method, std::string_view pattern, handler h, route_options o) {
  if (pattern.empty() || pattern.front() != '/') throw std::invalid_argument("route pattern must start with '/'");
  route r{std::string(method), std::string(pattern), {}, std::move(h), o};
  std::string_view p = pattern.substr(1);
  while (true) {
    std::size_t slash = p.find('/');
    std::string_view s = p.substr(0, slash);
    if (s.size() > 5 && s.front() == '{' && s.ends_with("...}")) {
      if (slash != std::string_view::npos) throw std::invalid_argument("{name...} must be the last segment");
      r.segs.push_back({segment::type::rest, std::string(s.substr(1, s.size() - 5))});
    } else if (s.size() > 2 && s.front() == '{' && s.back() == '}') {
      r.segs.push_back({segment::type::param, std::string(s.substr(1, s.size() - 2))});
    } else {
      r.segs.push_back({segment::type::literal, std::string(s)});
    }
    if (r.segs.back().t != segment::type::literal) r.all_literal = false;
    if (slash == std::string_view::npos) break;
    p.remove_prefix(slash + 1);
  }
  routes_.push_back(std::move(r));
}

bool router::path_matches(const route& rt, std::string_view path,
                          std::vector<std::pair<std::string, std::string>>* params) const {
  // Literal patterns, segment by segment, amount to comparing the whole path.
  if (rt.all_literal) return rt.opts.case_insensitive ? iequals(path, rt.pattern) : path == rt.pattern;
  if (path.empty() || path.front() != '/') return false;
  std::string_view p = path.substr(1);
  for (std::size_t i = 0; i < rt.segs.size(); ++i) {
    const segment& s = rt.segs[i];
    if (s.t == segment::type::rest) {
      if (params) params->emplace_back(s.text, std::string(p));
      return true;
    }
    std::size_t slash = p.find('/');
    bool last_in_path = slash == std::string_view::npos;
    std::string_view part = p.substr(0, slash);
    bool last_in_pattern = i + 1 == rt.segs.size();
    if (last_in_path != last_in_pattern) return false;
    if (s.t == segment::type::literal) {
      if (rt.opts.case_insensitive ? !iequals(part, s.text) : part != s.text) return false;
    } else {
      if (part.empty()) return false;
      if (params) params->emplace_back(s.text, std::string(part));
    }
    if (!last_in_path) p.remove_prefix(slash + 1);
  }
  return true;
}

router::match router::find(request& r) const {
  match m;
  const route* head_fallback = nullptr;
  for (const route& rt : routes_) {
    if (!path_matches(rt, r.path, nullptr)) continue;
    if (rt.method == r.method) {
      r.params.clear();
      path_matches(rt, r.path, &r.params);
      r.route = rt.pattern;
      m.h = &rt.h;
      m.status = 200;
      return m;
    }
    if (r.method == "HEAD" && rt.method == "GET" && !head_fallback) head_fallback = &rt;
    if (m.allow.find(rt.method) == std::string::npos) {
      if (!m.allow.empty()) m.allow += ", ";
      m.allow += rt.method;
      if (rt.method == "GET" && m.allow.find("HEAD") == std::string::npos) m.allow += ", HEAD";
    }
    m.status = 405;
  }
  if (head_fallback) {
    r.params.clear();
    path_matches(*head_fallback, r.path, &r.params);
    r.route = head_fallback->pattern;
    m.h = &head_fallback->h;
    m.status = 200;
    m.allow.clear();
  }
  return m;
}

}  // namespace calgate::net::http
