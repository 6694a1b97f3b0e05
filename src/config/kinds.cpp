#include "config/kinds.hpp"

#include <algorithm>

namespace calgate::config::detail {

value_kind<bool> boolean() {
  return {[](field& f, bool& out) {
            auto v = f.boolean();
            if (!v) return false;
            out = *v;
            return true;
          },
          [](const bool& v) { return std::string(v ? "true" : "false"); },
          {}};
}

value_kind<std::chrono::milliseconds> duration_in(std::chrono::milliseconds lo,
                                                  std::chrono::milliseconds hi) {
  return {[lo, hi](field& f, std::chrono::milliseconds& out) {
            if (f.node().is_integer() || f.node().is_floating_point()) {
              f.fail("must be a duration string with a unit, e.g. \"30s\" or \"250ms\"");
              return false;
            }
            auto s = f.string();
            if (!s) return false;
            auto d = parse_duration(*s);
            if (!d) {
              f.fail(d.error);
              return false;
            }
            if (d.value < lo || d.value > hi) {
              f.fail("must be between " + format_duration(lo) + " and " + format_duration(hi));
              return false;
            }
            out = d.value;
            return true;
          },
          [](const std::chrono::milliseconds& v) { return toml_quote(format_duration(v)); },
          {}};
}

value_kind<std::uint64_t> size_in(std::uint64_t lo, std::uint64_t hi) {
  return {[lo, hi](field& f, std::uint64_t& out) {
            std::uint64_t v = 0;
            if (f.node().is_integer()) {
              auto i = f.integer();
              if (*i < 0) {
                f.fail("size must not be negative");
                return false;
              }
              v = static_cast<std::uint64_t>(*i);
            } else if (f.node().is_string()) {
              auto s = f.string();
              if (!s) return false;
              auto p = parse_size(*s);
              if (!p) {
                f.fail(p.error);
                return false;
              }
              v = p.value;
            } else {
              f.wrong_type("a size (an integer number of bytes or a string like \"64KiB\")");
              return false;
            }
            if (v < lo || v > hi) {
              f.fail("must be between " + format_size(lo) + " and " + format_size(hi));
              return false;
            }
            out = v;
            return true;
          },
          [](const std::uint64_t& v) { return toml_quote(format_size(v)); },
          {}};
}

value_kind<std::string> text(text_rules rules) {
  return {[rules](field& f, std::string& out) {
            auto s = f.string();
            if (!s) return false;
            if (s->empty() && !rules.allow_empty) {
              f.fail_quietly("must not be empty");
              return false;
            }
            if (s->size() > rules.max_length) {
              f.fail_quietly("must be at most " + std::to_string(rules.max_length) + " bytes long");
              return false;
            }
            if (rules.header_value && !std::all_of(s->begin(), s->end(), [](char c) {
                  return c >= 0x20 && c <= 0x7E;
                })) {
              f.fail("must be printable ASCII (it is sent as an HTTP header)");
              return false;
            }
            out = std::move(*s);
            return true;
          },
          [](const std::string& v) { return toml_quote(escape_env(v)); },
          {}};
}

value_kind<std::string> one_of(std::vector<std::string_view> allowed) {
  std::string choices;
  for (std::string_view a : allowed) {
    if (!choices.empty()) choices += ", ";
    choices += toml_quote(a);
  }
  return {[allowed = std::move(allowed), choices](field& f, std::string& out) {
            auto s = f.string();
            if (!s) return false;
            if (std::find(allowed.begin(), allowed.end(), *s) == allowed.end()) {
              f.fail("must be one of " + choices);
              return false;
            }
            out = std::move(*s);
            return true;
          },
          [](const std::string& v) { return toml_quote(escape_env(v)); },
          {}};
}

value_kind<std::vector<std::string>> list_of(value_kind<std::string> element, bool unique) {
  auto write_element = element.write;
  return {[read = std::move(element.read), unique](field& f, std::vector<std::string>& out) {
            const toml::array* a = f.array();
            if (a == nullptr) return false;
            std::vector<std::string> values;
            bool ok = true;
            for (std::size_t i = 0; i < a->size(); ++i) {
              field e = f.element((*a)[i], i);
              std::string v;
              if (!read(e, v)) {
                ok = false;
                continue;
              }
              if (unique && std::find(values.begin(), values.end(), v) != values.end()) {
                e.fail("is listed twice");
                ok = false;
                continue;
              }
              values.push_back(std::move(v));
            }
            if (ok) out = std::move(values);
            return ok;
          },
          [write_element](const std::vector<std::string>& v) {
            std::string out = "[";
            for (std::size_t i = 0; i < v.size(); ++i) {
              if (i != 0) out += ", ";
              out += write_element(v[i]);
            }
            return out + "]";
          },
          {}};
}

value_kind<std::map<std::string, std::string>> string_map(value_kind<std::string> value,
                                                          std::function<std::string(std::string_view)> key_ok) {
  auto write_value = value.write;
  return {[read = std::move(value.read), key_ok = std::move(key_ok)](field& f, std::map<std::string, std::string>& out) {
            const toml::table* t = f.table();
            if (t == nullptr) return false;
            std::map<std::string, std::string> values;
            bool ok = true;
            for (auto&& [k, v] : *t) {
              field m = f.member(v, k.str());
              if (key_ok) {
                if (std::string why = key_ok(k.str()); !why.empty()) {
                  m.fail_quietly(why);
                  ok = false;
                  continue;
                }
              }
              std::string s;
              if (!read(m, s)) {
                ok = false;
                continue;
              }
              values.emplace(std::string(k.str()), std::move(s));
            }
            if (ok) out = std::move(values);
            return ok;
          },
          [write_value](const std::map<std::string, std::string>& m) {
            std::string out = "{";
            bool first = true;
            for (const auto& [k, v] : m) {
              out += first ? " " : ", ";
              first = false;
              out += toml_quote(k) + " = " + write_value(v);
            }
            return out + (m.empty() ? "}" : " }");
          },
          {}};
}

value_kind<endpoint> address() {
  return {[](field& f, endpoint& out) {
            auto s = f.string();
            if (!s) return false;
            auto e = parse_endpoint(*s);
            if (!e) {
              f.fail(e.error);
              return false;
            }
            out = std::move(e.value);
            return true;
          },
          [](const endpoint& e) { return toml_quote(format_endpoint(e)); },
          {}};
}

value_kind<std::string> proxy_url_text() {
  return {[](field& f, std::string& out) {
            auto s = f.string();
            if (!s) return false;
            if (!s->empty()) {
              auto p = parse_proxy_url(*s);
              if (!p) {
                f.fail(p.error);  // a secret key: the URL itself is not echoed
                return false;
              }
            }
            out = std::move(*s);
            return true;
          },
          [](const std::string& v) { return toml_quote(escape_env(v)); },
          [](const std::string& v) { return toml_quote(escape_env(mask_proxy_url(v))); }};
}

}  // namespace calgate::config::detail
