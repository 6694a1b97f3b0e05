#include "config/binder.hpp"

#include <algorithm>
#include <sstream>

namespace calgate::config::detail {
namespace {

bool is_bare_key(std::string_view s) noexcept {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
  });
}

// Edits (insert, delete, substitute, swap two neighbours) turning `a` into `b`.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The known name closest to `name`, if it is close enough to be a likely typo: one edit for
// short names, two for longer ones.
std::string_view closest(std::string_view name, const std::vector<std::string_view>& known) {
  std::string_view best;
  std::size_t best_distance = name.size() <= 4 ? 2 : 3;
  for (std::string_view k : known) {
    std::size_t d = edit_distance(name, k);
    if (d < best_distance) {
      best = k;
      best_distance = d;
    }
  }
  return best;
}

std::string joined(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

}  // namespace

std::string join_path(std::string_view parent, std::string_view name) {
  std::string out(parent);
  if (!out.empty()) out.push_back('.');
  if (is_bare_key(name)) {
    out += name;
  } else {
    out += toml_quote(name);
  }
  return out;
}

std::string toml_quote(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default:
        if (u < 0x20 || u == 0x7F) {
          out += "\\u00";
          out.push_back(hex[u >> 4]);
          out.push_back(hex[u & 0xF]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

std::string_view type_phrase(toml::node_type t) noexcept {
  switch (t) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

void report::add(const toml::source_region& at, std::string_view path, std::string_view message) {
  item it;
  std::string text = source_;
  if (at.begin.line != 0) {
    it.line = at.begin.line;
    it.column = at.begin.column;
    text += ":" + std::to_string(at.begin.line) + ":" + std::to_string(at.begin.column);
  }
  text += ": ";
  if (!path.empty()) {
    text += path;
    text += ": ";
  }
  text += message;
  it.text = std::move(text);
  items_.push_back(std::move(it));
}

void report::add_line(std::string line) { items_.push_back(item{0, 0, std::move(line)}); }

std::vector<std::string> report::take_sorted() {
  std::stable_sort(items_.begin(), items_.end(), [](const item& a, const item& b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  });
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (auto& it : items_) out.push_back(std::move(it.text));
  items_.clear();
  return out;
}

std::optional<std::string> field::string() {
  const auto* s = node_.as_string();
  if (s == nullptr) {
    wrong_type("a string");
    return std::nullopt;
  }
  expansion e = expand_env(s->get(), report_.env());
  if (!e.variable.empty()) {
    fail_quietly("environment variable " + e.variable + " is not set");
    return std::nullopt;
  }
  if (!e.error.empty()) {
    fail(e.error);
    return std::nullopt;
  }
  return std::move(e.text);
}

std::optional<std::int64_t> field::integer() {
  const auto* i = node_.as_integer();
  if (i == nullptr) {
    wrong_type("an integer");
    return std::nullopt;
  }
  return i->get();
}

std::optional<bool> field::boolean() {
  const auto* b = node_.as_boolean();
  if (b == nullptr) {
    wrong_type("a boolean (true or false)");
    return std::nullopt;
  }
  return b->get();
}

const toml::array* field::array() {
  const auto* a = node_.as_array();
  if (a == nullptr) wrong_type("an array");
  return a;
}

const toml::table* field::table() {
  const auto* t = node_.as_table();
  if (t == nullptr) wrong_type("a table");
  return t;
}

field field::member(const toml::node& m, std::string_view name) const {
  return field(report_, m, m.source(), join_path(path_, name), secret_);
}

field field::element(const toml::node& e, std::size_t index) const {
  return field(report_, e, e.source(), path_ + "[" + std::to_string(index) + "]", secret_);
}

void field::fail(std::string_view message) {
  std::string text(message);
  std::string value = shown();
  if (!value.empty()) text += " (got " + value + ")";
  report_.add(at_, path_, text);
}

void field::fail_quietly(std::string_view message) { report_.add(at_, path_, message); }

void field::wrong_type(std::string_view expected) {
  fail("must be " + std::string(expected) + ", not " + std::string(type_phrase(node_.type())));
}

// The value as written in the file: strings before ${VAR} expansion, so nothing taken
// from the environment is ever shown.
std::string field::shown() const {
  if (secret_) return {};
  constexpr std::size_t max_shown = 64;
  if (const auto* s = node_.as_string()) {
    std::string_view raw = s->get();
    if (raw.size() > max_shown) return toml_quote(std::string(raw.substr(0, max_shown)) + "...");
    return toml_quote(raw);
  }
  if (const auto* i = node_.as_integer()) return std::to_string(i->get());
  if (const auto* b = node_.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* d = node_.as_floating_point()) {
    std::ostringstream os;
    os << *d;
    return os.str();
  }
  return {};
}

void checker::fail(std::string_view key, std::string_view message) {
  auto it = table_.find(key);
  const toml::source_region& at = it != table_.end() ? it->first.source() : table_.source();
  report_.add(at, join_path(path_, key), message);
}

void checker::fail_at(const toml::source_region& at, std::string_view path,
                      std::string_view message) {
  report_.add(at, path, message);
}

std::string table_header(std::string_view path) {
  if (!path.empty() && path.back() == ']') {
    std::size_t open = path.rfind('[');
    if (open != std::string_view::npos) return "[[" + std::string(path.substr(0, open)) + "]]";
  }
  return "[" + std::string(path) + "]";
}

const toml::table* table_or_report(report& r, const toml::node& v, const toml::source_region& at,
                                   const std::string& path, std::string_view shape) {
  const toml::table* t = v.as_table();
  if (t == nullptr) {
    r.add(at, path, "must be " + std::string(shape) + ", not " + std::string(type_phrase(v.type())));
  }
  return t;
}

const toml::source_region& position_of(const toml::key& k, const toml::node& v) noexcept {
  if (v.is_table() && v.source().begin.line != 0) return v.source();
  return k.source();
}

void report_unknown(report& r, const toml::key& k, const toml::node& v, const std::string& path,
                    const std::vector<std::string_view>& known_keys,
                    const std::vector<std::string_view>& known_tables) {
  bool is_table = v.is_table() || v.is_array_of_tables();
  std::string message = is_table ? "unknown table" : "unknown key";
  std::vector<std::string_view> all = known_keys;
  all.insert(all.end(), known_tables.begin(), known_tables.end());
  std::string_view guess = closest(k.str(), all);
  if (!guess.empty()) {
    message += " (did you mean \"" + std::string(guess) + "\"?)";
  } else if (is_table && !known_tables.empty()) {
    message += " (known here: " + joined(known_tables) + ")";
  }
  r.add(position_of(k, v), path, message);
}

}  // namespace calgate::config::detail
