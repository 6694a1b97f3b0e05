#pragma once
// The value kinds keys are declared with: each parses, validates its range and writes back.
#include <chrono>
#include <functional>
#include <map>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/binder.hpp"

namespace calgate::config::detail {

// A TOML integer within [lo, hi].
template <class T>
value_kind<T> integer_in(T lo, T hi) {
  return {[lo, hi](field& f, T& out) {
            auto v = f.integer();
            if (!v) return false;
            if (std::cmp_less(*v, lo) || std::cmp_greater(*v, hi)) {
              f.fail("must be between " + std::to_string(lo) + " and " + std::to_string(hi));
              return false;
            }
            out = static_cast<T>(*v);
            return true;
          },
          [](const T& v) { return std::to_string(v); },
          {}};
}

value_kind<bool> boolean();

// A string with a unit ("250ms", "10s", "5m", "1h", "42d") within [lo, hi]. A bare integer is
// rejected rather than guessed at (seconds? milliseconds?).
value_kind<std::chrono::milliseconds> duration_in(std::chrono::milliseconds lo,
                                                  std::chrono::milliseconds hi);

// An integer number of bytes, or a string with a binary unit ("64KiB"), within [lo, hi].
value_kind<std::uint64_t> size_in(std::uint64_t lo, std::uint64_t hi);

struct text_rules {
  bool allow_empty = true;
  std::size_t max_length = 4096;
  bool header_value = false;  // printable ASCII only (it is sent in an HTTP header)
};
value_kind<std::string> text(text_rules rules = {});

// One of a fixed list of strings.
value_kind<std::string> one_of(std::vector<std::string_view> allowed);

// An enum by name, through a parse/name pair such as log::parse_level/log::level_name.
template <class E>
value_kind<E> named(std::function<bool(std::string_view, E&)> parse,
                    std::function<std::string_view(E)> name, std::string choices) {
  return {[parse = std::move(parse), choices = std::move(choices)](field& f, E& out) {
            auto s = f.string();
            if (!s) return false;
            if (!parse(*s, out)) {
              f.fail("must be one of " + choices);
              return false;
            }
            return true;
          },
          [name = std::move(name)](const E& v) { return toml_quote(name(v)); },
          {}};
}

// An array of strings, each read by `element`; `unique` rejects repeated entries.
value_kind<std::vector<std::string>> list_of(value_kind<std::string> element, bool unique);

// A table of string values ({ "EXCH01" = "onprem" } or a [sub.table]); `key_ok` vets
// each key (returning an error message, or "" if the key is fine).
value_kind<std::map<std::string, std::string>> string_map(value_kind<std::string> value,
                                                          std::function<std::string(std::string_view)> key_ok);

// "HOST:PORT" / "[IPV6]:PORT".
value_kind<endpoint> address();

// "" or "http://[user:password@]host:port"; masked as "http://user:***@host:port".
value_kind<std::string> proxy_url_text();

}  // namespace calgate::config::detail
