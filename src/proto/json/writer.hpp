#pragma once
// A small streaming JSON writer: correct escaping, commas placed for you.
// (Decoding uses simdjson in proto/json/codec; writing needs no library.)
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace calgate::json {

class writer {
 public:
  writer& begin_object();
  writer& end_object();
  writer& begin_array();
  writer& end_array();
  writer& key(std::string_view k);
  writer& value(std::string_view v);
  writer& value(const char* v) { return value(std::string_view(v)); }
  writer& value(const std::string& v) { return value(std::string_view(v)); }
  writer& value(bool v);
  writer& value(std::int64_t v);
  writer& value(std::uint64_t v);
  writer& value(int v) { return value(static_cast<std::int64_t>(v)); }
  writer& value(double v);
  writer& null();
  // A value the caller has already encoded as JSON (a number, or a string
  // with its quotes and escapes): written as is, with the separator.
  writer& raw_value(std::string_view json_text);
  void reserve(std::size_t n) { out_.reserve(n); }
  // key(k).value(v)
  template <class T>
  writer& member(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }

  const std::string& str() const noexcept { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void separate();
  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written yet
  bool after_key_ = false;
};

}  // namespace calgate::json
