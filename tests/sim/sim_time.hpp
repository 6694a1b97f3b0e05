#pragma once
// Time for the Exchange simulator: instants as seconds since the Unix epoch,
// xs:dateTime / RFC 3339 parsing and formatting, and Windows-style time zones
// (a standard bias plus one recurring rule for each direction of the DST
// change, as EWS's SerializableTimeZone and the Windows registry describe
// them). Only the current rules of each zone are known: no historical changes.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace calgate::sim {

using instant = std::int64_t;     // seconds since 1970-01-01T00:00:00Z
using wall_clock = std::int64_t;  // seconds since 1970-01-01T00:00:00 on some zone's wall clock

// "On the n-th <weekday> of <month> at <time> (wall clock before the change)".
struct transition_rule {
  int month = 0;        // 1..12; 0 = no transition
  int day_order = 1;    // 1..4, 5 = last
  int day_of_week = 0;  // 0 = Sunday .. 6 = Saturday
  int minutes = 0;      // minutes after local midnight
};

struct zone_rules {
  int bias = 0;           // minutes; UTC = local + bias (+480 for US Pacific)
  int standard_bias = 0;  // added to bias in standard time (normally 0)
  int daylight_bias = 0;  // added to bias in daylight time (normally -60)
  transition_rule to_standard;  // when standard time starts (StandardTime)
  transition_rule to_daylight;  // when daylight time starts (DaylightTime)

  bool has_dst() const noexcept {
    return to_standard.month != 0 && to_daylight.month != 0 && standard_bias != daylight_bias;
  }
  // Minutes to add to UTC to get the wall clock at t.
  int utc_offset_at(instant t) const noexcept;
  wall_clock to_local(instant t) const noexcept { return t + std::int64_t{utc_offset_at(t)} * 60; }
  // A wall-clock time in a DST gap maps as standard time; one that occurs twice
  // (the hour after DST ends) maps to its first occurrence.
  instant to_utc(wall_clock w) const noexcept;
};

struct windows_zone {
  std::string_view id;    // e.g. "W. Europe Standard Time"
  std::string_view name;  // e.g. "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna"
  zone_rules rules;
};

std::span<const windows_zone> windows_zones() noexcept;
// Case-sensitive, as Exchange matches ids (nullptr if unknown).
const windows_zone* find_windows_zone(std::string_view id) noexcept;
// The zone named "UTC".
const windows_zone& utc_zone() noexcept;
// "UTC, Greenwich Standard Time, ..." for error messages.
std::string windows_zone_list();

// --- Calendar arithmetic (proleptic Gregorian) ---
std::int64_t days_from_civil(int y, int m, int d) noexcept;
void civil_from_days(std::int64_t days, int& y, int& m, int& d) noexcept;
int weekday_of_days(std::int64_t days) noexcept;  // 0 = Sunday
// The day (days since the epoch) a rule falls on in year y.
std::int64_t rule_day(const transition_rule& r, int year) noexcept;

std::string_view weekday_name(int day_of_week) noexcept;  // 0 = "Sunday"
std::optional<int> parse_weekday(std::string_view name) noexcept;

// --- xs:dateTime ---
struct parsed_time {
  wall_clock value = 0;           // the digits as written (seconds; fractions dropped)
  std::optional<int> offset_min;  // present for "Z" (0) or "+hh:mm"/"-hh:mm"
  instant utc() const noexcept { return value - std::int64_t{offset_min.value_or(0)} * 60; }
};
// Accepts YYYY-MM-DDThh:mm:ss[.fff][Z|(+|-)hh:mm]; nullopt if malformed.
std::optional<parsed_time> parse_date_time(std::string_view s) noexcept;
// Accepts YYYY-MM-DD (midnight); nullopt if malformed.
std::optional<wall_clock> parse_date(std::string_view s) noexcept;

// "2031-05-12T09:30:00" (no zone designator)
std::string format_wall_clock(wall_clock w);
// "2031-05-12T09:30:00Z"
std::string format_utc(instant t);
// "2031-05-12T09:30:00+02:00" (the wall clock at t in zone z, with its offset)
std::string format_with_offset(instant t, const zone_rules& z);
// "hh:mm:ss" from minutes after midnight
std::string format_time_of_day(int minutes);
// xs:duration for a bias in minutes: "PT8H", "-PT1H", "PT5H30M", "PT0M"
std::string format_bias_duration(int minutes);

}  // namespace calgate::sim
