#pragma once
// Turning one mailbox's calendar events into what the lookup protocols send:
// sorted, non-overlapping busy intervals inside the asked window.
#include <chrono>
#include <vector>

#include "proto/ews/types.hpp"

namespace calgate::svc {

using proto::ews::busy_type;

struct busy_interval {
  std::chrono::sys_seconds start, end;
  busy_type status = busy_type::busy;  // tentative, busy or oof
  bool operator==(const busy_interval&) const = default;
};

// Events that block time (tentative, busy, out of office; not free, working
// elsewhere or no data), clipped to [start, end), as sorted non-overlapping
// intervals. Where events overlap, the stronger status covers the overlap
// (oof > busy > tentative); touching intervals of one status are joined.
std::vector<busy_interval> merge_busy(const std::vector<proto::ews::calendar_event>& events,
                                      std::chrono::sys_seconds start, std::chrono::sys_seconds end);

// The same time with statuses dropped: touching or overlapping intervals
// become one (for formats that only know "busy").
std::vector<busy_interval> join_busy(const std::vector<busy_interval>& in);

// True for the statuses that block time.
bool blocks_time(busy_type b) noexcept;

}  // namespace calgate::svc
