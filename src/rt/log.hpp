#pragma once
// Structured log lines (logfmt or JSON) on stderr or a file descriptor.
// Lines are buffered and written once per loop iteration (warnings and errors
// at once), so access logging does not cost a system call per request.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace calgate::log {

enum class level : std::uint8_t { debug, info, warn, error, off };
enum class format : std::uint8_t { logfmt, json };

struct field {
  using value_type = std::variant<std::string_view, std::int64_t, std::uint64_t, double, bool>;
  std::string_view key;
  value_type value;

  field(std::string_view k, std::string_view v) : key(k), value(v) {}
  field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  field(std::string_view k, bool v) : key(k), value(v) {}
  field(std::string_view k, double v) : key(k), value(v) {}
  template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool>)
  field(std::string_view k, I v)
      : key(k),
        value(std::is_signed_v<I> ? value_type(static_cast<std::int64_t>(v))
                                  : value_type(static_cast<std::uint64_t>(v))) {}
};

std::string_view level_name(level l) noexcept;
// Parses "debug", "info", "warn", "error", "off"; returns false on anything else.
bool parse_level(std::string_view s, level& out) noexcept;
bool parse_format(std::string_view s, format& out) noexcept;

void configure(level min, format f, int fd = 2);
level min_level() noexcept;
inline bool enabled(level l) noexcept { return l >= min_level(); }

void write(level l, std::string_view msg, std::initializer_list<field> fields = {});
void flush() noexcept;

// Lines written since the last call (for tests that assert on log output).
std::string take_captured();
void capture(bool on);

inline void debug(std::string_view m, std::initializer_list<field> f = {}) {
  if (enabled(level::debug)) write(level::debug, m, f);
}
inline void info(std::string_view m, std::initializer_list<field> f = {}) {
  if (enabled(level::info)) write(level::info, m, f);
}
inline void warn(std::string_view m, std::initializer_list<field> f = {}) {
  if (enabled(level::warn)) write(level::warn, m, f);
}
inline void error(std::string_view m, std::initializer_list<field> f = {}) {
  if (enabled(level::error)) write(level::error, m, f);
}

}  // namespace calgate::log
