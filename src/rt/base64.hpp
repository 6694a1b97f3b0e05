#pragma once
// Base64 (RFC 4648 section 4, the standard alphabet with '=' padding), as HTTP
// authentication headers carry it.
#include <string>
#include <string_view>

#include "rt/result.hpp"

namespace calgate::rt {

std::string base64_encode(std::string_view in);

// Strict: the length must be a multiple of 4, only the alphabet and up to two
// trailing '=' are allowed, no whitespace, and the bits that padding discards
// must be zero (so every input has one decoding and one encoding).
// Anything else is errc::bad_input.
result<std::string> base64_decode(std::string_view in);

}  // namespace calgate::rt
