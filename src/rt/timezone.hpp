#pragma once
// IANA time zones ("Europe/Berlin") from the operating system's tzdata,
// through Howard Hinnant's date/tz library (kept out of every other header).
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace calgate::rt {

class time_zone {
 public:
  // nullopt for a name the tz database does not know (or a database that
  // cannot be read). Names are case-sensitive, as in tzdata; "UTC" and
  // "Etc/UTC" are zones like any other.
  static std::optional<time_zone> find(std::string_view name);
  static time_zone utc();

  std::string_view name() const noexcept;
  // The zone's UTC offset at an instant (local = utc + offset).
  std::chrono::minutes offset_at(std::chrono::sys_seconds t) const;
  std::chrono::local_seconds to_local(std::chrono::sys_seconds t) const;
  // A wall-clock time in this zone as an instant. A time that does not exist
  // (skipped by a DST change) moves forward by the gap; a time that occurs
  // twice is the earlier instant.
  std::chrono::sys_seconds to_utc(std::chrono::local_seconds t) const;

  // Loads the tz database now (it is read from disk on first use; call this
  // at start-up so no request pays for it). False if it cannot be read.
  static bool preload();

 private:
  explicit time_zone(const void* z) noexcept : z_(z) {}
  const void* z_;  // const date::time_zone*, owned by the database (lives for the process)
};

}  // namespace calgate::rt
