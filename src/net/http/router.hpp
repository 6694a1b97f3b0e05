#pragma once
// Method + path routing. Patterns are '/'-separated segments: literals,
// "{name}" (one segment, captured) and a final "{name...}" (the rest).
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http/message.hpp"
#include "rt/task.hpp"

namespace calgate::net::http {

using handler = std::function<rt::task<response>(request&)>;

struct route_options {
  bool case_insensitive = false;  // e.g. /EWS/Exchange.asmx
};

class router {
 public:
  void add(std::string_view method, std::string_view pattern, handler h, route_options o = {});

  struct match {
    const handler* h = nullptr;  // null: see status
    int status = 404;            // 404 (no path matches) or 405 (path matches, method does not)
    std::string allow;           // for 405: the methods that would match
  };
  // Fills r.params and r.route on success.
  match find(request& r) const;

 private:
  struct segment {
    enum class type { literal, param, rest } t;
    std::string text;
  };
  struct route {
    std::string method;
    std::string pattern;
    std::vector<segment> segs;
    handler h;
    route_options opts;
    bool all_literal = true;  // no {name} segments: the path must equal the pattern
  };
  bool path_matches(const route& rt, std::string_view path, std::vector<std::pair<std::string, std::string>>* params) const;

  std::deque<route> routes_;  // stable addresses: requests point at their pattern
};

}  // namespace calgate::net::http
