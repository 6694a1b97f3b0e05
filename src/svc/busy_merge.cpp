#include "svc/busy_merge.hpp"

#include <algorithm>
#include <array>

namespace calgate::svc {

namespace {

int strength(busy_type b) noexcept {
  switch (b) {
    case busy_type::oof: return 3;
    case busy_type::busy: return 2;
    case busy_type::tentative: return 1;
    default: return 0;
  }
}

}  // namespace

bool blocks_time(busy_type b) noexcept { return strength(b) > 0; }

std::vector<busy_interval> merge_busy(const std::vector<proto::ews::calendar_event>& events,
                                      std::chrono::sys_seconds start, std::chrono::sys_seconds end) {
  // A sweep over boundaries with a count of open events per status.
  struct edge {
    std::chrono::sys_seconds at;
    int strength;
    int delta;
  };
  // Reused across calls (this runs for every user of every lookup).
  thread_local std::vector<edge> edges;
  edges.clear();
  for (const auto& e : events) {
    const int s = strength(e.busy);
    if (s == 0) continue;
    auto a = std::max(e.start, start);
    auto b = std::min(e.end, end);
    if (a >= b) continue;
    edges.push_back({a, s, +1});
    edges.push_back({b, s, -1});
  }
  std::sort(edges.begin(), edges.end(), [](const edge& x, const edge& y) { return x.at < y.at; });
  std::vector<busy_interval> out;
  std::array<int, 4> open{};
  auto current = [&] {
    for (int s = 3; s > 0; --s)
      if (open[static_cast<std::size_t>(s)] > 0) return s;
    return 0;
  };
  static constexpr busy_type by_strength[] = {busy_type::free, busy_type::tentative, busy_type::busy, busy_type::oof};
  std::size_t i = 0;
  while (i < edges.size()) {
    const auto at = edges[i].at;
    const int before = current();
    while (i < edges.size() && edges[i].at == at) {
      open[static_cast<std::size_t>(edges[i].strength)] += edges[i].delta;
      ++i;
    }
    const int after = current();
    if (before == after) continue;
    if (before > 0) out.back().end = at;
    if (after > 0) {
      const busy_type st = by_strength[after];
      if (!out.empty() && out.back().end == at && out.back().status == st) continue;  // same status resumes
      out.push_back({at, at, st});
    }
  }
  return out;
}

std::vector<busy_interval> join_busy(const std::vector<busy_interval>& in) {
  std::vector<busy_interval> out;
  for (const auto& b : in) {
    if (!out.empty() && b.start <= out.back().end) {
      out.back().end = std::max(out.back().end, b.end);
      if (strength(b.status) > strength(out.back().status)) out.back().status = b.status;
      continue;
    }
    out.push_back(b);
  }
  return out;
}

}  // namespace calgate::svc
