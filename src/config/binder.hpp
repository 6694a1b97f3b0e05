#pragma once
// Declarative binding of TOML tables to configuration structs.
//
// A section<S> lists, for struct S, its keys (name -> member, value kind, options) and its
// sub-tables. The same list drives reading (with file:line:column errors), the unknown-key
// check, rendering the effective configuration, and the list of known keys, so adding a
// key is one line and adding a section is one section<S> plus one table(...) line.
//
// Internal to src/config: the only place, with its .cpp files, that includes toml++.
#include <toml++/toml.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/values.hpp"

namespace calgate::config::detail {

// "a.b" from "a" and "b"; a name that is not a bare TOML key is quoted.
std::string join_path(std::string_view parent, std::string_view name);
// A TOML basic string literal for `s`.
std::string toml_quote(std::string_view s);
// "a string", "an integer", ... for messages.
std::string_view type_phrase(toml::node_type t) noexcept;

// Problems found in one source, kept with their positions so they can be sorted.
class report {
 public:
  report(std::string source, env_lookup env) : source_(std::move(source)), env_(std::move(env)) {}

  const env_lookup& env() const noexcept { return env_; }
  // "<source>:<line>:<column>: <path>: <message>" (without a position if `at` has none).
  void add(const toml::source_region& at, std::string_view path, std::string_view message);
  // A line without a position in the file ("cannot read", ...).
  void add_line(std::string line);
  std::size_t count() const noexcept { return items_.size(); }
  std::vector<std::string> take_sorted();

 private:
  struct item {
    std::uint32_t line = 0, column = 0;
    std::string text;
  };
  std::string source_;
  env_lookup env_;
  std::vector<item> items_;
};

// One key's value being read. Value kinds read it through this and report against its
// dotted path; a secret key never has its value echoed.
class field {
 public:
  field(report& r, const toml::node& node, const toml::source_region& at, std::string path,
        bool secret)
      : report_(r), node_(node), at_(at), path_(std::move(path)), secret_(secret) {}

  const toml::node& node() const noexcept { return node_; }
  const std::string& path() const noexcept { return path_; }

  // Typed access. On a wrong TOML type (or an unset ${VAR}) these report and return nothing.
  std::optional<std::string> string();  // with ${VAR} expanded
  std::optional<std::int64_t> integer();
  std::optional<bool> boolean();
  const toml::array* array();
  const toml::table* table();

  // Element `index` of this key's array, reported as "path[index]" at the element.
  field element(const toml::node& e, std::size_t index) const;
  // Member `name` of this key's table, reported as "path.name" at the member.
  field member(const toml::node& m, std::string_view name) const;

  // Reports `message`, followed by " (got <value as written>)" unless the key is secret.
  void fail(std::string_view message);
  // Reports `message` alone.
  void fail_quietly(std::string_view message);
  // "must be <expected>, not <actual>" for a value of the wrong TOML type.
  void wrong_type(std::string_view expected);

 private:
  std::string shown() const;

  report& report_;
  const toml::node& node_;
  const toml::source_region& at_;
  std::string path_;
  bool secret_;
};

// How one TOML value becomes a T (parsed and validated) and is written back as TOML.
template <class T>
struct value_kind {
  std::function<bool(field&, T&)> read;        // false after reporting through the field
  std::function<std::string(const T&)> write;  // a TOML literal
  std::function<std::string(const T&)> mask;   // for secret keys; empty = "********" unless T{}
};

struct key_options {
  bool required = false;  // must appear whenever its table does
  bool secret = false;    // never echoed in errors, masked when rendered
};

template <class S>
struct key_spec {
  std::string_view name;
  key_options options;
  std::function<bool(field&, S&)> read;
  std::function<std::string(const S&, bool masked)> write;
};

// One line per key: key("max_connections", &server::max_connections, integer_in<...>(1, 1e6)).
template <class S, class T>
key_spec<S> key(std::string_view name, T S::*member, value_kind<T> kind, key_options o = {}) {
  bool secret = o.secret;
  return {name, o,
          [member, read = std::move(kind.read)](field& f, S& s) { return read(f, s.*member); },
          [member, write = std::move(kind.write), mask = std::move(kind.mask), secret](
              const S& s, bool masked) -> std::string {
            const T& v = s.*member;
            if (!masked || !secret) return write(v);
            if (mask) return mask(v);
            return v == T{} ? write(v) : std::string("\"********\"");
          }};
}

// Cross-key rules of a table, run once its keys have read without errors.
class checker {
 public:
  checker(report& r, const toml::table& t, std::string path)
      : report_(r), table_(t), path_(std::move(path)) {}
  // Reported at `key` if the file sets it, else at the table.
  void fail(std::string_view key, std::string_view message);
  // For rules spanning tables: reported at `at`, naming `path`.
  void fail_at(const toml::source_region& at, std::string_view path, std::string_view message);
  const toml::table& table() const noexcept { return table_; }
  const std::string& path() const noexcept { return path_; }

 private:
  report& report_;
  const toml::table& table_;
  std::string path_;
};

// A sub-table of a section: a fixed table, an optional table, a map of named tables
// ([exchange.<name>]) or an array of tables ([[exchange.<name>.account]]).
template <class S>
struct table_spec {
  std::string_view name;
  // Reads the node at `name` (checking that it has the right TOML shape).
  std::function<void(report&, const toml::node&, const toml::source_region& at,
                     const std::string& path, S&)>
      read;
  std::function<void(std::string& out, const S&, const std::string& path, bool masked)> write;
  // Known keys, dotted; a map's names show as "<name>", an array's elements as "[]".
  std::function<void(std::vector<std::string>& out, const std::string& path)> list;
  bool required = false;  // the parent table must have it
  bool array = false;     // an array of tables (for messages)
};

template <class S>
struct section {
  std::vector<key_spec<S>> keys;
  std::vector<table_spec<S>> tables;
  std::function<void(const S&, checker&)> check;
};

// Position of a key for messages: a table's header, else the key itself.
const toml::source_region& position_of(const toml::key& k, const toml::node& v) noexcept;
// "[a.b]" for a table, "[[a.b]]" for an element "a.b[2]" of an array of tables.
std::string table_header(std::string_view path);
// The node as a table, or nothing after reporting "must be a table, not ..." (`shape` names
// the expected form, e.g. "a table" or "a table such as [exchange.main]").
const toml::table* table_or_report(report& r, const toml::node& v, const toml::source_region& at,
                                   const std::string& path, std::string_view shape = "a table");
// "unknown key" / "unknown table", with the closest known name as a suggestion.
void report_unknown(report& r, const toml::key& k, const toml::node& v, const std::string& path,
                    const std::vector<std::string_view>& known_keys,
                    const std::vector<std::string_view>& known_tables);

template <class S>
void read_section(report& r, const toml::table& t, const std::string& path,
                  const section<S>& spec, S& out) {
  std::size_t errors_before = r.count();
  for (auto&& [k, v] : t) {
    std::string child = join_path(path, k.str());
    const toml::source_region& at = position_of(k, v);
    bool handled = false;
    for (const auto& ks : spec.keys) {
      if (ks.name != k.str()) continue;
      field f(r, v, at, child, ks.options.secret);
      (void)ks.read(f, out);
      handled = true;
      break;
    }
    for (const auto& ts : spec.tables) {
      if (handled || ts.name != k.str()) continue;
      ts.read(r, v, at, child, out);
      handled = true;
    }
    if (!handled) {
      std::vector<std::string_view> keys, tables;
      for (const auto& ks : spec.keys) keys.push_back(ks.name);
      for (const auto& ts : spec.tables) tables.push_back(ts.name);
      report_unknown(r, k, v, child, keys, tables);
    }
  }
  const std::string required_here =
      path.empty() ? std::string("is required") : "is required in " + table_header(path);
  for (const auto& ks : spec.keys) {
    if (ks.options.required && !t.contains(ks.name)) {
      r.add(t.source(), join_path(path, ks.name), required_here);
    }
  }
  for (const auto& ts : spec.tables) {
    if (ts.required && !t.contains(ts.name)) {
      std::string child = join_path(path, ts.name);
      r.add(t.source(), child,
            ts.array ? required_here + " (at least one [[" + child + "]])" : required_here);
    }
  }
  if (spec.check && r.count() == errors_before) {
    checker c(r, t, path);
    spec.check(out, c);
  }
}

// A table's keys and sub-tables, after its header.
template <class S>
void write_body(std::string& out, const section<S>& spec, const S& s, const std::string& path,
                bool masked) {
  for (const auto& ks : spec.keys) {
    out += std::string(ks.name) + " = " + ks.write(s, masked) + "\n";
  }
  for (const auto& ts : spec.tables) ts.write(out, s, join_path(path, ts.name), masked);
}

template <class S>
void write_section(std::string& out, const section<S>& spec, const S& s, const std::string& path,
                   bool masked) {
  if (!path.empty()) out += "\n[" + path + "]\n";
  write_body(out, spec, s, path, masked);
}

template <class S>
void list_keys(std::vector<std::string>& out, const section<S>& spec, const std::string& path) {
  for (const auto& ks : spec.keys) out.push_back(join_path(path, ks.name));
  for (const auto& ts : spec.tables) ts.list(out, join_path(path, ts.name));
}

// A sub-table that is always present in the struct (absent from the file = defaults).
template <class S, class C>
table_spec<S> table(std::string_view name, C S::*member, const section<C>& spec) {
  return {name,
          [member, &spec](report& r, const toml::node& v, const toml::source_region& at,
                          const std::string& path, S& s) {
            if (const toml::table* t = table_or_report(r, v, at, path)) {
              read_section(r, *t, path, spec, s.*member);
            }
          },
          [member, &spec](std::string& out, const S& s, const std::string& path, bool masked) {
            write_section(out, spec, s.*member, path, masked);
          },
          [&spec](std::vector<std::string>& out, const std::string& path) {
            list_keys(out, spec, path);
          }};
}

// A sub-table whose presence means something ([server.tls] => HTTPS).
template <class S, class C>
table_spec<S> table(std::string_view name, std::optional<C> S::*member, const section<C>& spec) {
  return {name,
          [member, &spec](report& r, const toml::node& v, const toml::source_region& at,
                          const std::string& path, S& s) {
            if (const toml::table* t = table_or_report(r, v, at, path)) {
              read_section(r, *t, path, spec, (s.*member).emplace());
            }
          },
          [member, &spec](std::string& out, const S& s, const std::string& path, bool masked) {
            if (s.*member) {
              write_section(out, spec, *(s.*member), path, masked);
            } else {
              out += "\n# [" + path + "] is not set\n";
            }
          },
          [&spec](std::vector<std::string>& out, const std::string& path) {
            list_keys(out, spec, path);
          }};
}

// Tables named by the user, [exchange.<name>], read into a map keyed by name. `name_problem`
// vets each name (returning why it is not acceptable, or ""). In known_keys() and in messages
// about the map as a whole the name shows as "<name>".
template <class S, class C>
table_spec<S> table_map(std::string_view name, std::map<std::string, C> S::*member,
                        const section<C>& spec,
                        std::function<std::string(std::string_view)> name_problem) {
  return {name,
          [member, &spec, name_problem](report& r, const toml::node& v,
                                        const toml::source_region& at, const std::string& path,
                                        S& s) {
            const toml::table* t = table_or_report(r, v, at, path);
            if (t == nullptr) return;
            for (auto&& [k, sub] : *t) {
              std::string child = join_path(path, k.str());
              const toml::source_region& sub_at = position_of(k, sub);
              // (clang 14 cannot capture a structured binding in a lambda: name it first.)
              const std::string_view key_name = k.str();
              const bool is_member_key =
                  std::any_of(spec.keys.begin(), spec.keys.end(),
                              [&](const auto& ks) { return ks.name == key_name; });
              if (!sub.is_table() && is_member_key) {
                // "[exchange]\nurl = ..." forgot the name.
                r.add(sub_at, child,
                      "belongs in a named table such as [" + join_path(path, "main") +
                          "] (the keys of [" + path + "] are names)");
                continue;
              }
              const toml::table* element = table_or_report(
                  r, sub, sub_at, child, "a table such as [" + join_path(path, "main") + "]");
              if (element == nullptr) continue;
              if (name_problem) {
                if (std::string why = name_problem(k.str()); !why.empty()) {
                  r.add(sub_at, child, "the name " + why);
                  continue;
                }
              }
              read_section(r, *element, child, spec, (s.*member)[std::string(k.str())]);
            }
          },
          [member, &spec](std::string& out, const S& s, const std::string& path, bool masked) {
            if ((s.*member).empty()) out += "\n# no [" + path + ".<name>] is set\n";
            for (const auto& [n, c] : s.*member) {
              write_section(out, spec, c, join_path(path, n), masked);
            }
          },
          [&spec](std::vector<std::string>& out, const std::string& path) {
            list_keys(out, spec, path + ".<name>");
          }};
}

template <class C>
struct array_rules {
  bool required = false;  // at least one element, and the parent table must have the array
  // Elements must differ in this key (e.g. "name"); unique_member is the member it reads.
  std::string_view unique_key;
  std::string C::*unique_member = nullptr;
};

// An array of tables, [[exchange.main.account]] (or account = [{...}, ...]). Elements are
// reported as "path[index]", counted from 0 like other arrays; in known_keys() as "path[]".
template <class S, class C>
table_spec<S> table_array(std::string_view name, std::vector<C> S::*member,
                          const section<C>& spec, array_rules<C> rules = {}) {
  return {name,
          [member, &spec, rules](report& r, const toml::node& v, const toml::source_region& at,
                                 const std::string& path, S& s) {
            const toml::array* a = v.as_array();
            bool tables = a != nullptr && std::all_of(a->begin(), a->end(), [](const toml::node& e) {
                            return e.is_table();
                          });
            if (!tables) {
              r.add(at, path,
                    "must be an array of tables ([[" + path + "]]), not " +
                        std::string(a != nullptr ? "an array of other values"
                                                 : type_phrase(v.type())));
              return;
            }
            if (a->empty() && rules.required) {
              r.add(at, path, "must have at least one table ([[" + path + "]])");
              return;
            }
            std::vector<C> elements(a->size());
            for (std::size_t i = 0; i < a->size(); ++i) {
              const toml::table& t = *(*a)[i].as_table();
              std::string element_path = path + "[" + std::to_string(i) + "]";
              read_section(r, t, element_path, spec, elements[i]);
              if (rules.unique_member == nullptr || !t.contains(rules.unique_key) ||
                  (elements[i].*rules.unique_member).empty()) {
                continue;
              }
              for (std::size_t j = 0; j < i; ++j) {
                if (elements[j].*rules.unique_member != elements[i].*rules.unique_member) continue;
                auto it = t.find(rules.unique_key);
                r.add(it->first.source(), join_path(element_path, rules.unique_key),
                      "is already used by " + path + "[" + std::to_string(j) + "] (got " +
                          toml_quote(elements[i].*rules.unique_member) + ")");
                break;
              }
            }
            s.*member = std::move(elements);
          },
          [member, &spec](std::string& out, const S& s, const std::string& path, bool masked) {
            if ((s.*member).empty()) out += "\n# no [[" + path + "]] is set\n";
            for (const auto& c : s.*member) {
              out += "\n[[" + path + "]]\n";
              write_body(out, spec, c, path, masked);
            }
          },
          [&spec](std::vector<std::string>& out, const std::string& path) {
            list_keys(out, spec, path + "[]");
          },
          rules.required,
          true};
}

}  // namespace calgate::config::detail
