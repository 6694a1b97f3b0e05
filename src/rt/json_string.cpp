#include "rt/json_string.hpp"

#include <array>

#include "rt/text.hpp"

namespace calgate::rt {

namespace {

// Bytes that end a run of characters written as they are: controls, '"', '\\',
// DEL and everything from 0x80 (UTF-8, checked sequence by sequence).
constexpr auto special = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = c < 0x20 || c >= 0x7f || c == '"' || c == '\\';
  return t;
}();

}  // namespace

std::size_t json_plain_size(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size() && !special[static_cast<unsigned char>(s[i])]) ++i;
  return i;
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    // Runs of characters that need nothing go out in one append.
    std::size_t run = i;
    while (run < s.size() && !special[static_cast<unsigned char>(s[run])]) ++run;
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      if (i == s.size()) break;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      char32_t cp;
      std::size_t n = utf8_sequence(s, i, cp);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

}  // namespace calgate::rt
