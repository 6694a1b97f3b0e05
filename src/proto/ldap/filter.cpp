#include "proto/ldap/filter.hpp"

#include "proto/ldap/error.hpp"

namespace calgate::proto::ldap {

std::string escape(std::string_view value) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(value.size() + 8);
  for (unsigned char c : value) {
    if (c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c == 0x7f) {
      out += '\\';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool plausible_filter(std::string_view f) {
  if (f.size() < 3 || f.front() != '(' || f.back() != ')') return false;
  int depth = 0;
  for (std::size_t i = 0; i < f.size(); ++i) {
    char c = f[i];
    if (c == '(') {
      ++depth;
    } else if (c == ')') {
      if (--depth < 0) return false;
      if (depth == 0 && i + 1 != f.size()) return false;
    } else if (c == '\\') {
      auto hexd = [](char h) { return (h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'); };
      if (i + 2 >= f.size() || !hexd(f[i + 1]) || !hexd(f[i + 2])) return false;
      i += 2;
    } else if (depth == 0) {
      return false;
    }
  }
  return depth == 0;
}

rt::result<std::string> expand(std::string_view tmpl,
                               const std::vector<std::pair<std::string_view, std::string_view>>& values) {
  std::string out;
  out.reserve(tmpl.size() + 64);
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    char c = tmpl[i];
    if (c == '{') {
      if (i + 1 < tmpl.size() && tmpl[i + 1] == '{') {
        out += '{';
        ++i;
        continue;
      }
      std::size_t close = tmpl.find('}', i);
      if (close == std::string_view::npos) return make_error_code(ldap_errc::bad_filter);
      std::string_view name = tmpl.substr(i + 1, close - i - 1);
      bool found = false;
      for (const auto& [k, v] : values) {
        if (k == name) {
          out += escape(v);
          found = true;
          break;
        }
      }
      if (!found) return make_error_code(ldap_errc::bad_filter);
      i = close;
    } else if (c == '}') {
      if (i + 1 < tmpl.size() && tmpl[i + 1] == '}') ++i;
      out += '}';
    } else {
      out += c;
    }
  }
  if (!plausible_filter(out)) return make_error_code(ldap_errc::bad_filter);
  return out;
}

std::string any_of(const std::vector<std::string>& filters) {
  if (filters.empty()) return {};
  if (filters.size() == 1) return filters.front();
  std::string out = "(|";
  for (const auto& f : filters) out += f;
  out += ')';
  return out;
}

std::string all_of(const std::vector<std::string>& filters) {
  std::vector<const std::string*> parts;
  for (const auto& f : filters)
    if (!f.empty()) parts.push_back(&f);
  if (parts.empty()) return {};
  if (parts.size() == 1) return *parts.front();
  std::string out = "(&";
  for (const auto* f : parts) out += *f;
  out += ')';
  return out;
}

}  // namespace calgate::proto::ldap
