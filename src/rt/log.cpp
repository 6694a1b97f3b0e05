#include "rt/log.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <sys/time.h>

#include "rt/json_string.hpp"
#include "rt/loop.hpp"

namespace calgate::log {
namespace {

struct state {
  level min = level::info;
  format fmt = format::logfmt;
  int fd = 2;
  std::string buf;
  bool flush_pending = false;
  bool capturing = false;
  std::string captured;
  std::time_t cached_sec = -1;
  char cached_prefix[32] = {};  // "YYYY-MM-DDTHH:MM:SS"
};

state& st() {
  static state s;
  return s;
}

void write_all(int fd, const char* p, std::size_t n) noexcept {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a failing log sink
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

void append_timestamp(std::string& out) {
  state& s = st();
  timeval tv{};
  gettimeofday(&tv, nullptr);
  if (tv.tv_sec != s.cached_sec) {
    std::tm tm{};
    gmtime_r(&tv.tv_sec, &tm);
    std::strftime(s.cached_prefix, sizeof s.cached_prefix, "%Y-%m-%dT%H:%M:%S", &tm);
    s.cached_sec = tv.tv_sec;
  }
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(tv.tv_usec / 1000));
  out += s.cached_prefix;
  out += ms;
}

void append_logfmt_string(std::string& out, std::string_view v) {
  bool quote = v.empty();
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) {
      quote = true;
      break;
    }
  }
  if (!quote) {
    out += v;
    return;
  }
  // logfmt quoting follows JSON string escaping.
  rt::append_json_string(out, v);
}

template <class N>
void append_number(std::string& out, N n) {
  char tmp[32];
  auto r = std::to_chars(tmp, tmp + sizeof tmp, n);
  out.append(tmp, r.ptr);
}

void append_value(std::string& out, const field::value_type& v, format f) {
  std::visit(
      [&](const auto& x) {
        using X = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<X, std::string_view>) {
          if (f == format::json) rt::append_json_string(out, x);
          else append_logfmt_string(out, x);
        } else if constexpr (std::is_same_v<X, bool>) {
          out += x ? "true" : "false";
        } else if constexpr (std::is_same_v<X, double>) {
          char tmp[32];
          std::snprintf(tmp, sizeof tmp, "%.6g", x);
          out += tmp;
        } else {
          append_number(out, x);
        }
      },
      v);
}

void schedule_flush() {
  state& s = st();
  if (s.flush_pending) return;
  if (rt::loop* l = rt::loop::current_or_null()) {
    s.flush_pending = true;
    l->defer([] { flush(); });
  } else {
    flush();
  }
}

}  // namespace

std::string_view level_name(level l) noexcept {
  switch (l) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
    case level::off: return "off";
  }
  return "info";
}

bool parse_level(std::string_view s, level& out) noexcept {
  for (level l : {level::debug, level::info, level::warn, level::error, level::off}) {
    if (s == level_name(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

bool parse_format(std::string_view s, format& out) noexcept {
  if (s == "logfmt") out = format::logfmt;
  else if (s == "json") out = format::json;
  else return false;
  return true;
}

void configure(level min, format f, int fd) {
  flush();
  state& s = st();
  s.min = min;
  s.fmt = f;
  s.fd = fd;
}

level min_level() noexcept { return st().min; }

void write(level l, std::string_view msg, std::initializer_list<field> fields) {
  state& s = st();
  std::string& out = s.buf;
  const std::size_t start = out.size();
  if (s.fmt == format::json) {
    out += "{\"ts\":\"";
    append_timestamp(out);
    out += "\",\"level\":\"";
    out += level_name(l);
    out += "\",\"msg\":";
    rt::append_json_string(out, msg);
    for (const field& f : fields) {
      out += ',';
      rt::append_json_string(out, f.key);
      out += ':';
      append_value(out, f.value, format::json);
    }
    out += "}\n";
  } else {
    out += "ts=";
    append_timestamp(out);
    out += " level=";
    out += level_name(l);
    out += " msg=";
    append_logfmt_string(out, msg);
    for (const field& f : fields) {
      out += ' ';
      out += f.key;
      out += '=';
      append_value(out, f.value, format::logfmt);
    }
    out += '\n';
  }
  if (s.capturing) s.captured.append(out, start, std::string::npos);
  if (l >= level::warn || out.size() > (64u << 10)) flush();
  else schedule_flush();
}

void flush() noexcept {
  state& s = st();
  s.flush_pending = false;
  if (s.buf.empty()) return;
  write_all(s.fd, s.buf.data(), s.buf.size());
  s.buf.clear();
}

void capture(bool on) {
  st().capturing = on;
  st().captured.clear();
}

std::string take_captured() {
  std::string out;
  out.swap(st().captured);
  return out;
}

}  // namespace calgate::log
