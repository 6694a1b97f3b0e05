#pragma once
// JSON string literals for every layer (logs, error bodies, API answers).
#include <string>
#include <string_view>

namespace calgate::rt {

// Appends s as a JSON string literal, quotes included (RFC 8259 escaping;
// invalid UTF-8 bytes become U+FFFD, so the output is always valid JSON).
void append_json_string(std::string& out, std::string_view s);
// How many leading bytes of s go into a JSON string literal as they are
// (s.size() when nothing needs escaping).
std::size_t json_plain_size(std::string_view s) noexcept;

}  // namespace calgate::rt
