#include "sim/sim_time.hpp"

#include <array>
#include <cstdio>

namespace calgate::sim {

namespace {

constexpr transition_rule none{};

// Current rules (Windows registry semantics: the time is the wall clock
// before the change). Biases in minutes, UTC = local + bias.
constexpr std::array<windows_zone, 14> zones{{
    {"UTC", "(UTC) Coordinated Universal Time", {0, 0, 0, none, none}},
    {"Greenwich Standard Time", "(UTC+00:00) Monrovia, Reykjavik", {0, 0, 0, none, none}},
    {"GMT Standard Time", "(UTC+00:00) Dublin, Edinburgh, Lisbon, London",
     {0, 0, -60, {10, 5, 0, 120}, {3, 5, 0, 60}}},
    {"W. Europe Standard Time", "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
     {-60, 0, -60, {10, 5, 0, 180}, {3, 5, 0, 120}}},
    {"Central Europe Standard Time", "(UTC+01:00) Belgrade, Bratislava, Budapest, Ljubljana, Prague",
     {-60, 0, -60, {10, 5, 0, 180}, {3, 5, 0, 120}}},
    {"Romance Standard Time", "(UTC+01:00) Brussels, Copenhagen, Madrid, Paris",
     {-60, 0, -60, {10, 5, 0, 180}, {3, 5, 0, 120}}},
    {"India Standard Time", "(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi", {-330, 0, 0, none, none}},
    {"Tokyo Standard Time", "(UTC+09:00) Osaka, Sapporo, Tokyo", {-540, 0, 0, none, none}},
    {"AUS Eastern Standard Time", "(UTC+10:00) Canberra, Melbourne, Sydney",
     {-600, 0, -60, {4, 1, 0, 180}, {10, 1, 0, 120}}},
    {"Eastern Standard Time", "(UTC-05:00) Eastern Time (US & Canada)",
     {300, 0, -60, {11, 1, 0, 120}, {3, 2, 0, 120}}},
    {"Central Standard Time", "(UTC-06:00) Central Time (US & Canada)",
     {360, 0, -60, {11, 1, 0, 120}, {3, 2, 0, 120}}},
    {"Mountain Standard Time", "(UTC-07:00) Mountain Time (US & Canada)",
     {420, 0, -60, {11, 1, 0, 120}, {3, 2, 0, 120}}},
    {"Pacific Standard Time", "(UTC-08:00) Pacific Time (US & Canada)",
     {480, 0, -60, {11, 1, 0, 120}, {3, 2, 0, 120}}},
    {"Hawaiian Standard Time", "(UTC-10:00) Hawaii", {600, 0, 0, none, none}},
}};

constexpr std::array<std::string_view, 7> weekday_names{"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                        "Thursday", "Friday", "Saturday"};

int days_in_month(int y, int m) noexcept {
  static constexpr int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return d[m - 1];
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) noexcept {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

std::span<const windows_zone> windows_zones() noexcept { return zones; }

const windows_zone* find_windows_zone(std::string_view id) noexcept {
  for (const auto& z : zones)
    if (z.id == id) return &z;
  return nullptr;
}

const windows_zone& utc_zone() noexcept { return zones[0]; }

std::string windows_zone_list() {
  std::string out;
  for (const auto& z : zones) {
    if (!out.empty()) out += ", ";
    out += z.id;
  }
  return out;
}

// Days since 1970-01-01 of a proleptic Gregorian date (era-based algorithm).
std::int64_t days_from_civil(int y, int m, int d) noexcept {
  std::int64_t yy = y - (m <= 2 ? 1 : 0);
  const std::int64_t era = floor_div(yy, 400);
  const std::int64_t yoe = yy - era * 400;
  const std::int64_t mp = (m + 9) % 12;  // March = 0
  const std::int64_t doy = (153 * mp + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void civil_from_days(std::int64_t z, int& y, int& m, int& d) noexcept {
  z += 719468;
  const std::int64_t era = floor_div(z, 146097);
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = static_cast<int>(yoe + era * 400 + (m <= 2 ? 1 : 0));
}

int weekday_of_days(std::int64_t days) noexcept {
  // 1970-01-01 was a Thursday (4).
  std::int64_t w = (days + 4) % 7;
  return static_cast<int>(w < 0 ? w + 7 : w);
}

std::int64_t rule_day(const transition_rule& r, int year) noexcept {
  if (r.day_order >= 5) {
    std::int64_t last = days_from_civil(year, r.month, days_in_month(year, r.month));
    int back = (weekday_of_days(last) - r.day_of_week + 7) % 7;
    return last - back;
  }
  std::int64_t first = days_from_civil(year, r.month, 1);
  int fwd = (r.day_of_week - weekday_of_days(first) + 7) % 7;
  int order = r.day_order < 1 ? 1 : r.day_order;
  return first + fwd + 7 * (order - 1);
}

int zone_rules::utc_offset_at(instant t) const noexcept {
  if (!has_dst()) return -(bias + standard_bias);
  const std::int64_t std_total = bias + standard_bias, dst_total = bias + daylight_bias;
  int y, m, d;
  civil_from_days(floor_div(t - std_total * 60, 86400), y, m, d);
  const instant dst_start = rule_day(to_daylight, y) * 86400 + to_daylight.minutes * 60 + std_total * 60;
  const instant dst_end = rule_day(to_standard, y) * 86400 + to_standard.minutes * 60 + dst_total * 60;
  bool in_dst;
  if (dst_start < dst_end) in_dst = t >= dst_start && t < dst_end;  // northern hemisphere
  else in_dst = t >= dst_start || t < dst_end;                      // southern hemisphere
  return static_cast<int>(-(in_dst ? dst_total : std_total));
}

instant zone_rules::to_utc(wall_clock w) const noexcept {
  const instant u_std = w + std::int64_t{bias + standard_bias} * 60;
  if (!has_dst()) return u_std;
  const instant u_dst = w + std::int64_t{bias + daylight_bias} * 60;
  const bool ok_std = to_local(u_std) == w, ok_dst = to_local(u_dst) == w;
  if (ok_std && ok_dst) return u_std < u_dst ? u_std : u_dst;
  if (ok_dst) return u_dst;
  return u_std;
}

std::string_view weekday_name(int dow) noexcept { return weekday_names[static_cast<std::size_t>(((dow % 7) + 7) % 7)]; }

std::optional<int> parse_weekday(std::string_view name) noexcept {
  for (std::size_t i = 0; i < weekday_names.size(); ++i)
    if (weekday_names[i] == name) return static_cast<int>(i);
  return std::nullopt;
}

std::optional<wall_clock> parse_date(std::string_view s) noexcept {
  int y, mo, d;
  if (s.size() != 10 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) return std::nullopt;
  return days_from_civil(y, mo, d) * 86400;
}

std::optional<parsed_time> parse_date_time(std::string_view s) noexcept {
  if (s.size() < 19 || s[10] != 'T') return std::nullopt;
  auto date = parse_date(s.substr(0, 10));
  int h, mi, se;
  if (!date || !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, se))
    return std::nullopt;
  if (h > 24 || mi > 59 || se > 59 || (h == 24 && (mi != 0 || se != 0))) return std::nullopt;
  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start) return std::nullopt;
  }
  parsed_time out;
  out.value = *date + h * 3600 + mi * 60 + se;
  if (pos == s.size()) return out;
  if (s[pos] == 'Z' && pos + 1 == s.size()) {
    out.offset_min = 0;
    return out;
  }
  int oh, om;
  if ((s[pos] != '+' && s[pos] != '-') || s.size() != pos + 6 || !digits(s, pos + 1, 2, oh) || s[pos + 3] != ':' ||
      !digits(s, pos + 4, 2, om) || oh > 14 || om > 59)
    return std::nullopt;
  out.offset_min = (s[pos] == '-' ? -1 : 1) * (oh * 60 + om);
  return out;
}

std::string format_wall_clock(wall_clock w) {
  const std::int64_t days = floor_div(w, 86400);
  const std::int64_t secs = w - days * 86400;
  int y, m, d;
  civil_from_days(days, y, m, d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", y, m, d, static_cast<int>(secs / 3600),
                static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60));
  return buf;
}

std::string format_utc(instant t) { return format_wall_clock(t) + "Z"; }

std::string format_with_offset(instant t, const zone_rules& z) {
  const int off = z.utc_offset_at(t);
  std::string out = format_wall_clock(t + std::int64_t{off} * 60);
  char buf[32];
  const int a = off < 0 ? -off : off;
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", off < 0 ? '-' : '+', a / 60, a % 60);
  return out + buf;
}

std::string format_time_of_day(int minutes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:00", minutes / 60, minutes % 60);
  return buf;
}

std::string format_bias_duration(int minutes) {
  std::string out = minutes < 0 ? "-PT" : "PT";
  const int a = minutes < 0 ? -minutes : minutes;
  if (a == 0) return "PT0M";
  if (a / 60) out += std::to_string(a / 60) + "H";
  if (a % 60) out += std::to_string(a % 60) + "M";
  return out;
}

}  // namespace calgate::sim
