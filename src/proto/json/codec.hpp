#pragma once
// JSON decoding: a body is parsed once (simdjson DOM, fully validated) into a
// small owned tree, then read by JSON Pointer (RFC 6901) with typed getters.
//
// Why an owned tree and not On Demand: On Demand validates lazily and lets each
// value be consumed once, in document order, so a truncated body can yield its
// first fields before the error shows, and a general "get by path" API over it
// is error-prone. The DOM parser validates the whole input (UTF-8, structure,
// numbers) before we read anything and dispatches its SIMD kernel at run time
// (On Demand would compile to the fallback kernel without -march=haswell).
// Copying into our own tree costs one pass over API-sized bodies and keeps
// simdjson's types and buffer lifetimes out of every caller: a document can be
// kept across co_await, read in any order, and the parser is reused per thread.
//
// Decoding is a plain function: it never suspends.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include "rt/result.hpp"

namespace calgate::json {

enum class errc {
  empty = 1,         // no JSON value in the input (empty or only whitespace)
  syntax,            // malformed JSON (including a truncated document and trailing garbage)
  too_large,         // the input is longer than limits::max_bytes
  too_deep,          // arrays/objects nested deeper than limits::max_depth
  bad_utf8,          // the input is not valid UTF-8
  bad_string,        // a bad escape, a lone surrogate or an unescaped control character
  bad_number,        // a malformed number, or one outside int64/uint64/double range
  duplicate_key,     // an object names a member twice (and limits::allow_duplicate_keys is false)
  not_found,         // the pointer names nothing (missing member, index out of bounds)
  bad_pointer,       // not a JSON Pointer ("" or "/a/b", with ~0 and ~1 escapes)
  expected_null,
  expected_bool,
  expected_number,
  expected_integer,  // a number, but with a fractional part
  expected_string,
  expected_array,
  expected_object,
  out_of_range,      // a number that does not fit the requested C++ type
};
const std::error_category& category() noexcept;
std::error_code make_error_code(errc e) noexcept;
// True for the expected_* codes (the value exists but has another type).
bool is_type_error(std::error_code ec) noexcept;

enum class type : std::uint8_t { null, boolean, number, string, array, object };
std::string_view type_name(type t) noexcept;

struct limits {
  std::size_t max_bytes = 16u << 20;  // the client's default response limit
  std::size_t max_depth = 64;         // nesting of arrays and objects; capped at 1024
  // RFC 8259 leaves duplicate names undefined and parsers disagree (first or
  // last wins), which invites parser-differential tricks. By default a
  // duplicate makes the document invalid; if allowed, lookups see the last
  // occurrence (as JavaScript does) and members() lists every occurrence.
  bool allow_duplicate_keys = false;
};

class value;
struct member;

// Object members in document order.
using members_view = std::span<const member>;
// Array elements in document order.
using items_view = std::span<const value>;

// One JSON value. Strings are stored decoded (escapes resolved, valid UTF-8;
// "\u0000" is kept as a NUL byte). Numbers keep their JSON form's kind: an
// integer (int64, or uint64 above INT64_MAX) or a double.
//
// Every string_view or span returned points into the tree: it stays valid
// while the value (or the document holding it) is alive and not moved.
class value {
 public:
  value() noexcept;  // null
  value(const value&);
  value(value&&) noexcept;
  value& operator=(const value&);
  value& operator=(value&&) noexcept;
  ~value();

  json::type type() const noexcept;
  bool is_null() const noexcept { return type() == json::type::null; }
  bool is_bool() const noexcept { return type() == json::type::boolean; }
  bool is_number() const noexcept { return type() == json::type::number; }
  bool is_integer() const noexcept;  // a number stored as int64/uint64
  bool is_string() const noexcept { return type() == json::type::string; }
  bool is_array() const noexcept { return type() == json::type::array; }
  bool is_object() const noexcept { return type() == json::type::object; }

  // Typed reads. Integers: as_int/as_uint accept integer numbers in range and
  // doubles with no fractional part below 2^53 in magnitude ("1.0", "3e3"),
  // the range where each integer is exactly one double (9007199254740993.0
  // parses as 2^53, so 2^53 and above are out_of_range); anything else is
  // expected_integer or out_of_range.
  rt::result<bool> as_bool() const;
  rt::result<std::int64_t> as_int() const;
  rt::result<std::uint64_t> as_uint() const;
  rt::result<double> as_double() const;  // any number (large integers may round)
  rt::result<std::string_view> as_string() const;
  rt::result<items_view> as_array() const;
  rt::result<members_view> as_object() const;

  // Containers. member() returns nullptr when this is not an object or has no
  // such member; item() likewise for arrays. size() is 0 for scalars.
  const value* member(std::string_view key) const noexcept;
  const value* item(std::size_t index) const noexcept;
  std::size_t size() const noexcept;
  members_view members() const noexcept;  // empty unless an object
  items_view items() const noexcept;      // empty unless an array

  // JSON Pointer lookups relative to this value ("" is this value itself;
  // "/calendars/alice@example.com/busy/0/start"; "~1" is '/', "~0" is '~').
  // A pointer through a scalar, a missing member or an index out of bounds
  // gives not_found.
  rt::result<const value*> at(std::string_view pointer) const;
  bool has(std::string_view pointer) const { return at(pointer).has_value(); }

  rt::result<bool> get_bool(std::string_view pointer) const;
  rt::result<std::int64_t> get_int(std::string_view pointer) const;
  rt::result<std::uint64_t> get_uint(std::string_view pointer) const;
  rt::result<double> get_double(std::string_view pointer) const;
  rt::result<std::string_view> get_string(std::string_view pointer) const;
  rt::result<items_view> get_array(std::string_view pointer) const;
  rt::result<members_view> get_object(std::string_view pointer) const;

  // Optional fields: absent or null gives an empty optional; any other type
  // than the requested one is still an error.
  rt::result<std::optional<bool>> opt_bool(std::string_view pointer) const;
  rt::result<std::optional<std::int64_t>> opt_int(std::string_view pointer) const;
  rt::result<std::optional<std::string_view>> opt_string(std::string_view pointer) const;

 private:
  friend struct builder;
  struct object_data {
    std::vector<json::member> members;
    // Member positions sorted by key (stable), only for larger objects: it
    // serves both duplicate detection and O(log n) lookup.
    std::vector<std::uint32_t> index;
  };
  using storage = std::variant<std::nullptr_t, bool, std::int64_t, std::uint64_t, double, std::string,
                               std::vector<value>, object_data>;
  storage v_;
};

struct member {
  std::string key;
  json::value value;
};

// A parsed JSON text.
class document {
 public:
  document() = default;
  // Parses body (any length up to limits.max_bytes; copied into padded storage).
  static rt::result<document> parse(std::string_view body, const limits& lim = {});

  const value& root() const noexcept { return root_; }

  // Shorthands for root().get_*(pointer).
  rt::result<const value*> at(std::string_view p) const { return root_.at(p); }
  bool has(std::string_view p) const { return root_.has(p); }
  rt::result<bool> get_bool(std::string_view p) const { return root_.get_bool(p); }
  rt::result<std::int64_t> get_int(std::string_view p) const { return root_.get_int(p); }
  rt::result<std::uint64_t> get_uint(std::string_view p) const { return root_.get_uint(p); }
  rt::result<double> get_double(std::string_view p) const { return root_.get_double(p); }
  rt::result<std::string_view> get_string(std::string_view p) const { return root_.get_string(p); }
  rt::result<items_view> get_array(std::string_view p) const { return root_.get_array(p); }
  rt::result<members_view> get_object(std::string_view p) const { return root_.get_object(p); }
  rt::result<std::optional<bool>> opt_bool(std::string_view p) const { return root_.opt_bool(p); }
  rt::result<std::optional<std::int64_t>> opt_int(std::string_view p) const { return root_.opt_int(p); }
  rt::result<std::optional<std::string_view>> opt_string(std::string_view p) const { return root_.opt_string(p); }

 private:
  value root_;
};

}  // namespace calgate::json

template <>
struct std::is_error_code_enum<calgate::json::errc> : std::true_type {};
