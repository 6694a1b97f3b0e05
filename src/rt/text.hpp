#pragma once
// Small text helpers shared by the protocol code: ASCII case folding (header
// values, addresses, host names) and strict UTF-8 decoding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace calgate::rt {

// Folds 'A'-'Z' to 'a'-'z' in place; every other byte is kept.
inline void ascii_lower_in_place(std::string& s) noexcept {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
}

// A copy with 'A'-'Z' folded to 'a'-'z'; every other byte is kept.
inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  ascii_lower_in_place(out);
  return out;
}

// The length of the UTF-8 sequence starting at s[i] and its code point, or 0
// if it is not valid UTF-8 there: a bad lead or continuation byte, a truncated
// sequence, an overlong form, a surrogate or a value beyond U+10FFFF.
inline std::size_t utf8_sequence(std::string_view s, std::size_t i, char32_t& cp) noexcept {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n;
  char32_t least;
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  if ((c & 0xE0) == 0xC0) {
    n = 2, cp = c & 0x1Fu, least = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, cp = c & 0x0Fu, least = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, cp = c & 0x07u, least = 0x10000;
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3Fu);
  }
  if (cp < least || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// True if all of s is valid UTF-8 (as utf8_sequence defines it).
inline bool valid_utf8(std::string_view s) noexcept {
  char32_t cp;
  for (std::size_t i = 0, n; i < s.size(); i += n)
    if ((n = utf8_sequence(s, i, cp)) == 0) return false;
  return true;
}

}  // namespace calgate::rt
