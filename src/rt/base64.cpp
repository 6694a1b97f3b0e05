#include "rt/base64.hpp"

#include <array>
#include <cstdint>

namespace calgate::rt {
namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// 0..63 for alphabet characters, 0xff for everything else (including '=').
constexpr std::array<std::uint8_t, 256> decode_table = [] {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = 0xff;
  for (std::uint8_t i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = i;
  return t;
}();

}  // namespace

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(in[k])); };
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i < in.size()) {
    bool two = i + 1 < in.size();
    unsigned v = (byte(i) << 16) | (two ? byte(i + 1) << 8 : 0);
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += two ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

result<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return errc::bad_input;
  std::size_t pad = 0;
  if (!in.empty() && in.back() == '=') pad = in[in.size() - 2] == '=' ? 2 : 1;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const std::size_t data_chars = last ? 4 - pad : 4;
    unsigned v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      unsigned d = 0;
      if (k < data_chars) {
        d = decode_table[static_cast<unsigned char>(in[i + k])];
        if (d == 0xff) return errc::bad_input;  // also '=' before the end
      }
      v = (v << 6) | d;
    }
    out += static_cast<char>(v >> 16);
    if (data_chars >= 3) out += static_cast<char>((v >> 8) & 0xff);
    if (data_chars == 4) out += static_cast<char>(v & 0xff);
    // Non-canonical: bits that the padding drops must be zero.
    if (data_chars == 2 && (v & 0xffff) != 0) return errc::bad_input;
    if (data_chars == 3 && (v & 0xff) != 0) return errc::bad_input;
  }
  return out;
}

}  // namespace calgate::rt
