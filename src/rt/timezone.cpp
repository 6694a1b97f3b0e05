#include "rt/timezone.hpp"

#define USE_OS_TZDB 1
#include <date/tz.h>

namespace calgate::rt {

namespace {
const date::time_zone* zone_of(const void* z) { return static_cast<const date::time_zone*>(z); }
}  // namespace

std::optional<time_zone> time_zone::find(std::string_view name) {
  if (name.empty() || name.size() > 128) return std::nullopt;
  try {
    return time_zone(date::locate_zone(name));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

time_zone time_zone::utc() {
  static const auto z = find("UTC");
  if (z) return *z;
  return time_zone(nullptr);  // no tz database at all: offsets are 0
}

bool time_zone::preload() {
  try {
    (void)date::get_tzdb();
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::string_view time_zone::name() const noexcept { return z_ ? std::string_view(zone_of(z_)->name()) : "UTC"; }

std::chrono::minutes time_zone::offset_at(std::chrono::sys_seconds t) const {
  if (!z_) return std::chrono::minutes(0);
  auto info = zone_of(z_)->get_info(date::sys_seconds(t.time_since_epoch()));
  return std::chrono::duration_cast<std::chrono::minutes>(info.offset);
}

std::chrono::local_seconds time_zone::to_local(std::chrono::sys_seconds t) const {
  return std::chrono::local_seconds(t.time_since_epoch() + offset_at(t));
}

std::chrono::sys_seconds time_zone::to_utc(std::chrono::local_seconds t) const {
  if (!z_) return std::chrono::sys_seconds(t.time_since_epoch());
  auto info = zone_of(z_)->get_info(date::local_seconds(t.time_since_epoch()));
  switch (info.result) {
    case date::local_info::unique:
    case date::local_info::ambiguous:  // the earlier instant: the first offset
      return std::chrono::sys_seconds(t.time_since_epoch() - info.first.offset);
    case date::local_info::nonexistent:
      // Skipped wall time: read it with the offset before the gap, which lands
      // the same distance past the gap's end.
      return std::chrono::sys_seconds(t.time_since_epoch() - info.first.offset);
  }
  return std::chrono::sys_seconds(t.time_since_epoch() - info.first.offset);
}

}  // namespace calgate::rt
