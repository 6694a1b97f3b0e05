#pragma once
// xs:dateTime / RFC 3339 date-times: "2026-11-22T10:00:00Z", "...+01:00",
// "...-07:00", with optional fractional seconds, or without any offset (then
// `assume_offset` says what local time means). A space or lower-case "t" in
// place of the "T" is accepted, as RFC 3339 section 5.6 allows.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace calgate::rt {

using sys_seconds = std::chrono::sys_seconds;

struct parsed_datetime {
  sys_seconds utc;               // the instant
  bool had_offset = false;       // Z or ±hh:mm was present
  std::chrono::minutes offset{0};  // the offset that was written (or assumed)
};

// nullopt for anything that is not a valid date-time (month 13, Feb 30, 25:00, ...).
std::optional<parsed_datetime> parse_datetime(std::string_view s,
                                              std::chrono::minutes assume_offset = std::chrono::minutes(0));

// "2026-11-22T10:00:00Z"
std::string format_utc(sys_seconds t);
// "2026-11-22T11:00:00+01:00" (local time at the given offset)
std::string format_with_offset(sys_seconds t, std::chrono::minutes offset);
// The same, appended to `out` (no allocation of its own).
void append_with_offset(std::string& out, sys_seconds t, std::chrono::minutes offset);
// The same, written at p, which must have room for max_datetime_chars (more
// than is written); returns the end of what was written.
inline constexpr std::size_t max_datetime_chars = 48;
char* write_with_offset(char* p, sys_seconds t, std::chrono::minutes offset) noexcept;

}  // namespace calgate::rt
