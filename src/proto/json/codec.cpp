// The only translation unit that includes <simdjson.h>.
#include "proto/json/codec.hpp"
#include "proto/json/view.hpp"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

namespace calgate::json {

namespace {

class json_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "json"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::empty: return "empty JSON document";
      case errc::syntax: return "malformed JSON";
      case errc::too_large: return "JSON document exceeds the size limit";
      case errc::too_deep: return "JSON document nested too deeply";
      case errc::bad_utf8: return "JSON document is not valid UTF-8";
      case errc::bad_string: return "invalid JSON string (escape, surrogate or control character)";
      case errc::bad_number: return "invalid or out-of-range JSON number";
      case errc::duplicate_key: return "duplicate key in JSON object";
      case errc::not_found: return "no such JSON member or element";
      case errc::bad_pointer: return "malformed JSON pointer";
      case errc::expected_null: return "JSON value is not null";
      case errc::expected_bool: return "JSON value is not a boolean";
      case errc::expected_number: return "JSON value is not a number";
      case errc::expected_integer: return "JSON number is not an integer";
      case errc::expected_string: return "JSON value is not a string";
      case errc::expected_array: return "JSON value is not an array";
      case errc::expected_object: return "JSON value is not an object";
      case errc::out_of_range: return "JSON number out of range for the requested type";
    }
    return "unknown JSON error";
  }
};

std::error_code err(errc e) noexcept { return make_error_code(e); }

// Objects up to this many members are searched linearly.
constexpr std::size_t linear_members = 12;
// simdjson's own depth bound; limits::max_depth is capped here.
constexpr std::size_t parser_max_depth = 1024;
// A thread's reusable parser keeps its buffers unless a document was larger.
constexpr std::size_t keep_parser_bytes = 1u << 20;
// 2^53. Every integer below it in magnitude is exactly one double; from 2^53 on
// integers merge (9007199254740993 parses as 2^53), so an integral double is
// accepted as an integer only below it: the I-JSON range of RFC 7493 2.2.
constexpr double exact_double_limit = 9007199254740992.0;

// An integral double below 2^53 in magnitude, as an integer (value::as_int, view::as_int).
rt::result<std::int64_t> int_from_double(double d) {
  if (std::trunc(d) != d) return err(errc::expected_integer);
  if (std::fabs(d) >= exact_double_limit) return err(errc::out_of_range);
  return static_cast<std::int64_t>(d);
}

errc map_simdjson(simdjson::error_code e) noexcept {
  switch (e) {
    case simdjson::EMPTY: return errc::empty;
    case simdjson::CAPACITY: return errc::too_large;
    case simdjson::DEPTH_ERROR: return errc::too_deep;
    case simdjson::UTF8_ERROR: return errc::bad_utf8;
    case simdjson::STRING_ERROR:
    case simdjson::UNESCAPED_CHARS: return errc::bad_string;
    case simdjson::NUMBER_ERROR:
    case simdjson::NUMBER_OUT_OF_RANGE: return errc::bad_number;
    default: return errc::syntax;
  }
}

}  // namespace

const std::error_category& category() noexcept {
  static const json_category c;
  return c;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

bool is_type_error(std::error_code ec) noexcept {
  if (ec.category() != category()) return false;
  auto e = static_cast<errc>(ec.value());
  return e >= errc::expected_null && e <= errc::expected_object;
}

std::string_view type_name(type t) noexcept {
  switch (t) {
    case type::null: return "null";
    case type::boolean: return "boolean";
    case type::number: return "number";
    case type::string: return "string";
    case type::array: return "array";
    case type::object: return "object";
  }
  return "unknown";
}

// ---- value ---------------------------------------------------------------

value::value() noexcept : v_(nullptr) {}
value::value(const value&) = default;
value::value(value&&) noexcept = default;
value& value::operator=(const value&) = default;
value& value::operator=(value&&) noexcept = default;
value::~value() = default;

type value::type() const noexcept {
  switch (v_.index()) {
    case 0: return json::type::null;
    case 1: return json::type::boolean;
    case 2:
    case 3:
    case 4: return json::type::number;
    case 5: return json::type::string;
    case 6: return json::type::array;
    default: return json::type::object;
  }
}

bool value::is_integer() const noexcept {
  return std::holds_alternative<std::int64_t>(v_) || std::holds_alternative<std::uint64_t>(v_);
}

rt::result<bool> value::as_bool() const {
  if (const bool* b = std::get_if<bool>(&v_)) return *b;
  return err(errc::expected_bool);
}

rt::result<std::int64_t> value::as_int() const {
  if (const auto* i = std::get_if<std::int64_t>(&v_)) return *i;
  if (std::holds_alternative<std::uint64_t>(v_)) return err(errc::out_of_range);  // only stored above INT64_MAX
  if (const double* d = std::get_if<double>(&v_)) return int_from_double(*d);
  return err(errc::expected_number);
}

rt::result<std::uint64_t> value::as_uint() const {
  if (const auto* u = std::get_if<std::uint64_t>(&v_)) return *u;
  if (const auto* i = std::get_if<std::int64_t>(&v_)) {
    if (*i < 0) return err(errc::out_of_range);
    return static_cast<std::uint64_t>(*i);
  }
  if (const double* d = std::get_if<double>(&v_)) {
    if (std::trunc(*d) != *d) return err(errc::expected_integer);
    if (*d < 0 || *d >= exact_double_limit) return err(errc::out_of_range);
    return static_cast<std::uint64_t>(*d);
  }
  return err(errc::expected_number);
}

rt::result<double> value::as_double() const {
  if (const double* d = std::get_if<double>(&v_)) return *d;
  if (const auto* i = std::get_if<std::int64_t>(&v_)) return static_cast<double>(*i);
  if (const auto* u = std::get_if<std::uint64_t>(&v_)) return static_cast<double>(*u);
  return err(errc::expected_number);
}

rt::result<std::string_view> value::as_string() const {
  if (const auto* s = std::get_if<std::string>(&v_)) return std::string_view(*s);
  return err(errc::expected_string);
}

rt::result<items_view> value::as_array() const {
  if (const auto* a = std::get_if<std::vector<value>>(&v_)) return items_view(*a);
  return err(errc::expected_array);
}

rt::result<members_view> value::as_object() const {
  if (const auto* o = std::get_if<object_data>(&v_)) return members_view(o->members);
  return err(errc::expected_object);
}

const value* value::member(std::string_view key) const noexcept {
  const auto* o = std::get_if<object_data>(&v_);
  if (!o) return nullptr;
  const auto& ms = o->members;
  if (o->index.empty()) {
    // Last occurrence wins when duplicates were allowed.
    for (std::size_t i = ms.size(); i-- > 0;) {
      if (ms[i].key == key) return &ms[i].value;
    }
    return nullptr;
  }
  // The index is a stable sort by key: the last of equal keys is the last occurrence.
  auto it = std::upper_bound(o->index.begin(), o->index.end(), key,
                             [&](std::string_view k, std::uint32_t i) { return k < std::string_view(ms[i].key); });
  if (it == o->index.begin()) return nullptr;
  const json::member& m = ms[*std::prev(it)];
  return m.key == key ? &m.value : nullptr;
}

const value* value::item(std::size_t index) const noexcept {
  const auto* a = std::get_if<std::vector<value>>(&v_);
  if (!a || index >= a->size()) return nullptr;
  return &(*a)[index];
}

std::size_t value::size() const noexcept {
  if (const auto* a = std::get_if<std::vector<value>>(&v_)) return a->size();
  if (const auto* o = std::get_if<object_data>(&v_)) return o->members.size();
  return 0;
}

members_view value::members() const noexcept {
  if (const auto* o = std::get_if<object_data>(&v_)) return o->members;
  return {};
}

items_view value::items() const noexcept {
  if (const auto* a = std::get_if<std::vector<value>>(&v_)) return *a;
  return {};
}

rt::result<const value*> value::at(std::string_view pointer) const {
  if (pointer.empty()) return this;
  if (pointer.front() != '/') return err(errc::bad_pointer);
  const value* cur = this;
  std::string unescaped;
  std::size_t pos = 1;
  for (;;) {
    std::size_t slash = pointer.find('/', pos);
    std::string_view tok = pointer.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (tok.find('~') != std::string_view::npos) {
      unescaped.clear();
      for (std::size_t i = 0; i < tok.size(); ++i) {
        if (tok[i] != '~') {
          unescaped += tok[i];
        } else if (i + 1 < tok.size() && (tok[i + 1] == '0' || tok[i + 1] == '1')) {
          unescaped += tok[i + 1] == '0' ? '~' : '/';
          ++i;
        } else {
          return err(errc::bad_pointer);
        }
      }
      tok = unescaped;
    }
    if (cur->is_object()) {
      cur = cur->member(tok);
    } else if (cur->is_array()) {
      // RFC 6901 array indexes: decimal, no leading zeros ("-" names no element).
      std::size_t idx = 0;
      if (tok.empty() || (tok.size() > 1 && tok.front() == '0')) return err(errc::not_found);
      auto [end, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), idx);
      if (ec != std::errc() || end != tok.data() + tok.size()) return err(errc::not_found);
      cur = cur->item(idx);
    } else {
      cur = nullptr;
    }
    if (!cur) return err(errc::not_found);
    if (slash == std::string_view::npos) return cur;
    pos = slash + 1;
  }
}

namespace {

// The shared shape of the get_* functions: resolve, then read with `read`.
template <class T, class F>
rt::result<T> get_as(const value& root, std::string_view pointer, F read) {
  auto v = root.at(pointer);
  if (!v) return v.error();
  return read(**v);
}

template <class T, class F>
rt::result<std::optional<T>> opt_as(const value& root, std::string_view pointer, F read) {
  auto v = root.at(pointer);
  if (!v) {
    if (v.error() == errc::not_found) return std::optional<T>();
    return v.error();
  }
  if ((*v)->is_null()) return std::optional<T>();
  rt::result<T> r = read(**v);
  if (!r) return r.error();
  return std::optional<T>(std::move(*r));
}

}  // namespace

rt::result<bool> value::get_bool(std::string_view p) const {
  return get_as<bool>(*this, p, [](const value& v) { return v.as_bool(); });
}
rt::result<std::int64_t> value::get_int(std::string_view p) const {
  return get_as<std::int64_t>(*this, p, [](const value& v) { return v.as_int(); });
}
rt::result<std::uint64_t> value::get_uint(std::string_view p) const {
  return get_as<std::uint64_t>(*this, p, [](const value& v) { return v.as_uint(); });
}
rt::result<double> value::get_double(std::string_view p) const {
  return get_as<double>(*this, p, [](const value& v) { return v.as_double(); });
}
rt::result<std::string_view> value::get_string(std::string_view p) const {
  return get_as<std::string_view>(*this, p, [](const value& v) { return v.as_string(); });
}
rt::result<items_view> value::get_array(std::string_view p) const {
  return get_as<items_view>(*this, p, [](const value& v) { return v.as_array(); });
}
rt::result<members_view> value::get_object(std::string_view p) const {
  return get_as<members_view>(*this, p, [](const value& v) { return v.as_object(); });
}
rt::result<std::optional<bool>> value::opt_bool(std::string_view p) const {
  return opt_as<bool>(*this, p, [](const value& v) { return v.as_bool(); });
}
rt::result<std::optional<std::int64_t>> value::opt_int(std::string_view p) const {
  return opt_as<std::int64_t>(*this, p, [](const value& v) { return v.as_int(); });
}
rt::result<std::optional<std::string_view>> value::opt_string(std::string_view p) const {
  return opt_as<std::string_view>(*this, p, [](const value& v) { return v.as_string(); });
}

// ---- validating and building from simdjson's DOM --------------------------

namespace {

// What simdjson leaves to us, in document order (a member's value before the
// next member's name; past the first linear_members names of an object, its
// names after all its values): nesting deeper than max_depth, non-finite
// numbers, and duplicate member names unless allowed.
struct checker {
  const limits& lim;
  std::size_t max_depth;

  std::error_code check(simdjson::dom::element e, std::size_t depth) const {
    using simdjson::dom::element_type;
    switch (e.type()) {
      case element_type::DOUBLE:
        return std::isfinite(e.get_double().value_unsafe()) ? std::error_code{} : err(errc::bad_number);
      case element_type::ARRAY: {
        if (depth >= max_depth) return err(errc::too_deep);
        simdjson::dom::array a = e.get_array().value_unsafe();  // named: value_unsafe() returns a reference into a temporary
        for (simdjson::dom::element child : a)
          if (auto ec = check(child, depth + 1)) return ec;
        return {};
      }
      case element_type::OBJECT: {
        if (depth >= max_depth) return err(errc::too_deep);
        simdjson::dom::object o = e.get_object().value_unsafe();
        // The usual small object: its names are compared as its members are
        // checked (one pass); a larger one is sorted afterwards.
        std::string_view names[linear_members];
        std::size_t n = 0;
        bool large = false;
        for (simdjson::dom::key_value_pair kv : o) {
          if (auto ec = check(kv.value, depth + 1)) return ec;
          if (lim.allow_duplicate_keys || large) continue;
          if (n == linear_members) {
            large = true;
            continue;
          }
          for (std::size_t j = 0; j < n; ++j)
            if (names[j] == kv.key) return err(errc::duplicate_key);
          names[n++] = kv.key;
        }
        return large ? unique_names(o) : std::error_code{};
      }
      default: return {};
    }
  }

  // Sorts the names of a large object to find a repeat.
  static std::error_code unique_names(simdjson::dom::object o) {
    std::vector<std::string_view> names;
    names.reserve(o.size());
    for (simdjson::dom::key_value_pair kv : o) names.push_back(kv.key);
    std::sort(names.begin(), names.end());
    return std::adjacent_find(names.begin(), names.end()) == names.end() ? std::error_code{} : err(errc::duplicate_key);
  }
};

// Parses into the thread's parser and checks; the element lives until the next parse on this thread.
rt::result<simdjson::dom::element> parse_checked(std::string_view body, const limits& lim,
                                                 std::unique_ptr<simdjson::dom::parser>*& owner) {
  if (body.size() > lim.max_bytes) return err(errc::too_large);
  // One parser per thread, reused: parsing never suspends, so no two
  // documents are ever open on it at once.
  thread_local std::unique_ptr<simdjson::dom::parser> parser;
  owner = &parser;
  if (!parser) {
    parser = std::make_unique<simdjson::dom::parser>();
    if (parser->allocate(4096, parser_max_depth)) return err(errc::too_large);
  }
  simdjson::dom::element root;
  // realloc_if_needed: simdjson copies the body into its own padded buffer.
  if (auto e = parser->parse(body.data(), body.size(), true).get(root)) return err(map_simdjson(e));
  checker c{lim, std::min(lim.max_depth, parser_max_depth)};
  if (auto ec = c.check(root, 0)) return ec;
  return root;
}

// Do not keep a big buffer per thread.
void release_if_big(std::unique_ptr<simdjson::dom::parser>* owner, std::string_view body) {
  if (owner && body.size() > keep_parser_bytes) owner->reset();
}

}  // namespace

// Copies a checked element into the owned tree.
struct builder {
  bool allow_duplicate_keys;

  void build(simdjson::dom::element e, value& out) const {
    using simdjson::dom::element_type;
    switch (e.type()) {
      case element_type::NULL_VALUE: out.v_ = nullptr; return;
      case element_type::BOOL: out.v_ = e.get_bool().value_unsafe(); return;
      case element_type::INT64: out.v_ = e.get_int64().value_unsafe(); return;
      case element_type::UINT64: {
        // simdjson reports UINT64 only above INT64_MAX; keep int64 the common case anyway.
        std::uint64_t u = e.get_uint64().value_unsafe();
        if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
          out.v_ = static_cast<std::int64_t>(u);
        } else {
          out.v_ = u;
        }
        return;
      }
      case element_type::DOUBLE: out.v_ = e.get_double().value_unsafe(); return;
      case element_type::STRING: out.v_ = std::string(e.get_string().value_unsafe()); return;
      case element_type::ARRAY: {
        simdjson::dom::array a = e.get_array().value_unsafe();
        std::vector<value> items;
        items.reserve(a.size());
        for (simdjson::dom::element child : a) build(child, items.emplace_back());
        out.v_ = std::move(items);
        return;
      }
      case element_type::OBJECT: {
        simdjson::dom::object o = e.get_object().value_unsafe();
        value::object_data data;
        data.members.reserve(o.size());
        for (simdjson::dom::key_value_pair kv : o) {
          data.members.push_back(json::member{std::string(kv.key), value()});
          build(kv.value, data.members.back().value);
        }
        index(data);
        out.v_ = std::move(data);
        return;
      }
    }
  }

  // Larger objects get a by-name index (a stable sort, so the last of equal names is the last occurrence).
  static void index(value::object_data& data) {
    const auto& ms = data.members;
    if (ms.size() <= linear_members) return;
    data.index.resize(ms.size());
    for (std::uint32_t i = 0; i < data.index.size(); ++i) data.index[i] = i;
    std::stable_sort(data.index.begin(), data.index.end(),
                     [&](std::uint32_t a, std::uint32_t b) { return ms[a].key < ms[b].key; });
  }
};

rt::result<document> document::parse(std::string_view body, const limits& lim) {
  std::unique_ptr<simdjson::dom::parser>* owner = nullptr;
  auto root = parse_checked(body, lim, owner);
  document doc;
  if (root) builder{lim.allow_duplicate_keys}.build(*root, doc.root_);
  release_if_big(owner, body);
  if (!root) return root.error();
  return doc;
}

// ---- view -------------------------------------------------------------------

struct view_access {
  static_assert(sizeof(simdjson::dom::element) <= sizeof(view::element_));
  static_assert(std::is_trivially_copyable_v<simdjson::dom::element>);
  static_assert(std::is_trivially_destructible_v<simdjson::dom::element>);
  static simdjson::dom::element get(const view& v) noexcept {
    simdjson::dom::element e;
    std::memcpy(static_cast<void*>(&e), v.element_, sizeof e);
    return e;
  }
  static view make(simdjson::dom::element e) noexcept {
    view v;
    std::memcpy(v.element_, static_cast<const void*>(&e), sizeof e);
    return v;
  }
};

json::type view::type() const noexcept {
  using simdjson::dom::element_type;
  switch (view_access::get(*this).type()) {
    case element_type::NULL_VALUE: return json::type::null;
    case element_type::BOOL: return json::type::boolean;
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: return json::type::number;
    case element_type::STRING: return json::type::string;
    case element_type::ARRAY: return json::type::array;
    case element_type::OBJECT: return json::type::object;
  }
  return json::type::null;
}

rt::result<std::int64_t> view::as_int() const {
  using simdjson::dom::element_type;
  simdjson::dom::element e = view_access::get(*this);
  switch (e.type()) {
    case element_type::INT64: return e.get_int64().value_unsafe();
    case element_type::UINT64: {
      std::uint64_t u = e.get_uint64().value_unsafe();
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return static_cast<std::int64_t>(u);
      return err(errc::out_of_range);
    }
    case element_type::DOUBLE: return int_from_double(e.get_double().value_unsafe());
    default: return err(errc::expected_number);
  }
}

rt::result<std::string_view> view::as_string() const {
  simdjson::dom::element e = view_access::get(*this);
  if (e.type() != simdjson::dom::element_type::STRING) return err(errc::expected_string);
  return e.get_string().value_unsafe();
}

std::optional<view> view::member(std::string_view key) const noexcept {
  simdjson::dom::element e = view_access::get(*this);
  if (e.type() != simdjson::dom::element_type::OBJECT) return std::nullopt;
  std::optional<view> found;  // the last occurrence, as value::member
  simdjson::dom::object o = e.get_object().value_unsafe();
  for (simdjson::dom::key_value_pair kv : o)
    if (kv.key == key) found = view_access::make(kv.value);
  return found;
}

std::size_t view::size() const noexcept {
  simdjson::dom::element e = view_access::get(*this);
  switch (e.type()) {
    case simdjson::dom::element_type::ARRAY: return e.get_array().value_unsafe().size();
    case simdjson::dom::element_type::OBJECT: return e.get_object().value_unsafe().size();
    default: return 0;
  }
}

void view::each_item_raw(void* ctx, item_fn fn) const {
  simdjson::dom::element e = view_access::get(*this);
  if (e.type() != simdjson::dom::element_type::ARRAY) return;
  simdjson::dom::array a = e.get_array().value_unsafe();
  for (simdjson::dom::element child : a)
    if (!fn(ctx, view_access::make(child))) return;
}

void view::each_member_raw(void* ctx, member_fn fn) const {
  simdjson::dom::element e = view_access::get(*this);
  if (e.type() != simdjson::dom::element_type::OBJECT) return;
  simdjson::dom::object o = e.get_object().value_unsafe();
  for (simdjson::dom::key_value_pair kv : o)
    if (!fn(ctx, kv.key, view_access::make(kv.value))) return;
}

rt::result<void> read_raw(std::string_view body, const limits& lim, void* ctx, read_fn fn) {
  std::unique_ptr<simdjson::dom::parser>* owner = nullptr;
  auto root = parse_checked(body, lim, owner);
  if (root) fn(ctx, view_access::make(*root));
  release_if_big(owner, body);
  if (!root) return root.error();
  return {};
}

}  // namespace calgate::json
