#pragma once
// Reading a JSON body without building a tree: json::read() parses into the
// thread's parser, validates exactly as document::parse does (same limits,
// same errors: depth, duplicate names, non-finite numbers, UTF-8, syntax), then
// hands the root to a callback as a `view`.
//
// A view points into the parser's buffers: it is valid only during that
// callback (the next parse on the thread reuses them), so copy out what you
// keep. The callback cannot suspend, so no other parse can run meanwhile.
// For hot request paths (POST /calendar/v3/freeBusy): no allocation per
// member, where document builds an owned tree.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "proto/json/codec.hpp"
#include "rt/result.hpp"

namespace calgate::json {

class view {
 public:
  json::type type() const noexcept;
  bool is_null() const noexcept { return type() == json::type::null; }
  bool is_array() const noexcept { return type() == json::type::array; }
  bool is_object() const noexcept { return type() == json::type::object; }

  // As value::as_int and value::as_string (the same rules and errors).
  rt::result<std::int64_t> as_int() const;
  rt::result<std::string_view> as_string() const;

  // The member named key (the last one if duplicates were allowed); nullopt
  // when this is not an object or has no such member.
  std::optional<view> member(std::string_view key) const noexcept;
  // Elements of an array, or members of an object; 0 for scalars.
  std::size_t size() const noexcept;
  // Calls fn(const view&) for each element of an array, in order (nothing for
  // other types); stops early when fn returns false.
  template <class F>
  void each_item(F&& fn) const {
    each_item_raw(&fn, [](void* f, const view& v) -> bool { return (*static_cast<std::remove_reference_t<F>*>(f))(v); });
  }
  // Calls fn(std::string_view name, const view& value) for each member of an
  // object, in document order (nothing for other types); stops when fn returns false.
  template <class F>
  void each_member(F&& fn) const {
    each_member_raw(&fn, [](void* f, std::string_view k, const view& v) -> bool {
      return (*static_cast<std::remove_reference_t<F>*>(f))(k, v);
    });
  }

 private:
  friend struct view_access;
  using item_fn = bool (*)(void*, const view&);
  using member_fn = bool (*)(void*, std::string_view, const view&);
  void each_item_raw(void* ctx, item_fn fn) const;
  void each_member_raw(void* ctx, member_fn fn) const;
  // A simdjson::dom::element, kept opaque so simdjson stays inside codec.cpp.
  alignas(8) unsigned char element_[16]{};
};

using read_fn = void (*)(void*, const view&);
rt::result<void> read_raw(std::string_view body, const limits& lim, void* ctx, read_fn fn);

// Parses and validates body, then calls fn(const view& root). Returns the
// parse error (and does not call fn) when body is not valid JSON within lim.
template <class F>
rt::result<void> read(std::string_view body, const limits& lim, F&& fn) {
  return read_raw(body, lim, &fn, [](void* f, const view& root) { (*static_cast<std::remove_reference_t<F>*>(f))(root); });
}

}  // namespace calgate::json
