#include "rt/datetime.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>

namespace calgate::rt {

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::optional<parsed_datetime> parse_datetime(std::string_view s, std::chrono::minutes assume_offset) {
  using namespace std::chrono;
  int Y, M, D, h, m, sec;
  if (s.size() < 19 || !digits(s, 0, 4, Y) || s[4] != '-' || !digits(s, 5, 2, M) || s[7] != '-' ||
      !digits(s, 8, 2, D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, 11, 2, h) || s[13] != ':' ||
      !digits(s, 14, 2, m) || s[16] != ':' || !digits(s, 17, 2, sec))
    return std::nullopt;
  year_month_day ymd{year{Y}, month{static_cast<unsigned>(M)}, day{static_cast<unsigned>(D)}};
  if (!ymd.ok() || h > 23 || m > 59 || sec > 60) return std::nullopt;
  std::size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    std::size_t j = i + 1;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    if (j == i + 1 || j - i > 10) return std::nullopt;
    i = j;  // fractions are dropped (second precision is enough for calendars)
  }
  parsed_datetime out;
  out.offset = assume_offset;
  if (i < s.size()) {
    if (s[i] == 'Z' || s[i] == 'z') {
      out.had_offset = true;
      out.offset = minutes(0);
      ++i;
    } else if (s[i] == '+' || s[i] == '-') {
      int oh, om;
      if (!digits(s, i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' || !digits(s, i + 4, 2, om) || oh > 23 ||
          om > 59)
        return std::nullopt;
      out.had_offset = true;
      out.offset = minutes((s[i] == '-' ? -1 : 1) * (oh * 60 + om));
      i += 6;
    }
  }
  if (i != s.size()) return std::nullopt;
  if (sec == 60) sec = 59;  // leap second: close enough
  sys_seconds local = sys_days(ymd) + hours(h) + minutes(m) + seconds(sec);
  out.utc = local - out.offset;
  return out;
}

namespace {
// "00".."99", for writing two digits at a time.
constexpr auto two_digits = [] {
  std::array<char, 200> t{};
  for (int i = 0; i < 100; ++i) {
    t[static_cast<std::size_t>(2 * i)] = static_cast<char>('0' + i / 10);
    t[static_cast<std::size_t>(2 * i + 1)] = static_cast<char>('0' + i % 10);
  }
  return t;
}();

// Two decimal digits of v (below 100).
char* put2(char* p, unsigned v) {
  std::memcpy(p, &two_digits[2 * v], 2);
  return p + 2;
}
}  // namespace

void append_with_offset(std::string& out, sys_seconds t, std::chrono::minutes offset) {
  char buf[max_datetime_chars];
  out.append(buf, static_cast<std::size_t>(write_with_offset(buf, t, offset) - buf));
}

char* write_with_offset(char* p, sys_seconds t, std::chrono::minutes offset) noexcept {
  // Written by hand (this runs for every busy interval of every answer): days to
  // civil date after Howard Hinnant's days_from_civil inverse, then fixed-width digits.
  const std::int64_t secs = (t + offset).time_since_epoch().count();
  std::int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  // Busy intervals of one answer mostly fall on a few days: the last date written
  // (per thread) is reused.
  struct last_date {
    std::int64_t days = std::numeric_limits<std::int64_t>::min();
    char text[24];
    std::size_t size = 0;
  };
  thread_local last_date memo;
  static_assert(sizeof memo.text + 16 <= max_datetime_chars);
  if (memo.days != days) {
    const std::int64_t z = days + 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned day = doy - (153 * mp + 2) / 5 + 1;
    const unsigned month = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t year = static_cast<std::int64_t>(yoe) + era * 400 + (month <= 2 ? 1 : 0);
    char* d = memo.text;
    if (year < 0 || year > 9999) {
      d += std::snprintf(d, 16, "%lld", static_cast<long long>(year));
    } else {
      d = put2(put2(d, static_cast<unsigned>(year) / 100), static_cast<unsigned>(year) % 100);
    }
    *d++ = '-';
    d = put2(d, month);
    *d++ = '-';
    d = put2(d, day);
    memo.size = static_cast<std::size_t>(d - memo.text);
    memo.days = days;
  }
  std::memcpy(p, memo.text, sizeof memo.text);  // a fixed size copies inline; the rest is overwritten
  p += memo.size;
  *p++ = 'T';
  const auto r = static_cast<unsigned>(rem);
  p = put2(p, r / 3600);
  *p++ = ':';
  p = put2(p, r / 60 % 60);
  *p++ = ':';
  p = put2(p, r % 60);
  if (offset.count() == 0) {
    *p++ = 'Z';
  } else {
    long o = offset.count();
    *p++ = o < 0 ? '-' : '+';
    if (o < 0) o = -o;
    p = put2(p, static_cast<unsigned>(o / 60 % 100));
    *p++ = ':';
    p = put2(p, static_cast<unsigned>(o % 60));
  }
  return p;
}

std::string format_with_offset(sys_seconds t, std::chrono::minutes offset) {
  std::string out;
  append_with_offset(out, t, offset);
  return out;
}

std::string format_utc(sys_seconds t) { return format_with_offset(t, std::chrono::minutes(0)); }

}  // namespace calgate::rt
