#include "proto/json/writer.hpp"

#include "rt/json_string.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace calgate::json {

void writer::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
}

writer& writer::begin_object() {
  separate();
  out_ += '{';
  first_.push_back(true);
  return *this;
}
writer& writer::end_object() {
  out_ += '}';
  first_.pop_back();
  return *this;
}
writer& writer::begin_array() {
  separate();
  out_ += '[';
  first_.push_back(true);
  return *this;
}
writer& writer::end_array() {
  out_ += ']';
  first_.pop_back();
  return *this;
}
writer& writer::key(std::string_view k) {
  separate();
  rt::append_json_string(out_, k);
  out_ += ':';
  after_key_ = true;
  return *this;
}
writer& writer::value(std::string_view v) {
  separate();
  rt::append_json_string(out_, v);
  return *this;
}
writer& writer::raw_value(std::string_view json_text) {
  separate();
  out_ += json_text;
  return *this;
}

writer& writer::value(bool v) {
  separate();
  out_ += v ? "true" : "false";
  return *this;
}
writer& writer::value(std::int64_t v) {
  separate();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
  return *this;
}
writer& writer::value(std::uint64_t v) {
  separate();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
  return *this;
}
writer& writer::value(double v) {
  separate();
  if (!std::isfinite(v)) {
    out_ += "null";
    return *this;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  out_ += buf;
  return *this;
}
writer& writer::null() {
  separate();
  out_ += "null";
  return *this;
}

}  // namespace calgate::json
