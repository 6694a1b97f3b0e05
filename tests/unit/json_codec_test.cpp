#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "proto/json/codec.hpp"
#include "proto/json/view.hpp"

using namespace calgate;
using json::document;
using json::errc;

namespace {

document parse_ok(std::string_view s, const json::limits& lim = {}) {
  auto d = document::parse(s, lim);
  INFO(s);
  REQUIRE(d);
  return std::move(*d);
}

std::error_code parse_error(std::string_view s, const json::limits& lim = {}) {
  auto d = document::parse(s, lim);
  INFO(s);
  REQUIRE_FALSE(d);
  return d.error();
}

}  // namespace

TEST_CASE("json: scalar types and typed getters", "[json]") {
  auto d = parse_ok(R"({"s":"text","i":-42,"u":18446744073709551615,"f":2.5,"t":true,"n":null,"z":0,"nz":-0})");
  REQUIRE(d.root().is_object());
  REQUIRE(d.root().size() == 8);
  REQUIRE(*d.get_string("/s") == "text");
  REQUIRE(*d.get_int("/i") == -42);
  REQUIRE(*d.get_uint("/u") == std::numeric_limits<std::uint64_t>::max());
  REQUIRE(*d.get_double("/f") == 2.5);
  REQUIRE(*d.get_bool("/t") == true);
  REQUIRE((*d.at("/n"))->is_null());
  REQUIRE(*d.get_int("/z") == 0);
  REQUIRE(*d.get_int("/nz") == 0);
  REQUIRE((*d.at("/i"))->is_integer());
  REQUIRE_FALSE((*d.at("/f"))->is_integer());
  REQUIRE((*d.at("/f"))->type() == json::type::number);
  REQUIRE(json::type_name((*d.at("/s"))->type()) == "string");

  // Wrong types are reported as such, with a message that says what was expected.
  REQUIRE(d.get_int("/s").error() == errc::expected_number);
  REQUIRE(d.get_string("/i").error() == errc::expected_string);
  REQUIRE(d.get_bool("/n").error() == errc::expected_bool);
  REQUIRE(d.get_array("/s").error() == errc::expected_array);
  REQUIRE(d.get_object("/t").error() == errc::expected_object);
  REQUIRE(d.get_string("/i").error().message() == "JSON value is not a string");
  REQUIRE(json::is_type_error(d.get_string("/i").error()));
  REQUIRE_FALSE(json::is_type_error(d.get_string("/missing").error()));
  REQUIRE(d.get_string("/missing").error() == errc::not_found);

  // Integer conversions: fractions and ranges.
  REQUIRE(d.get_int("/f").error() == errc::expected_integer);
  REQUIRE(d.get_int("/u").error() == errc::out_of_range);
  REQUIRE(d.get_uint("/i").error() == errc::out_of_range);
  REQUIRE(*d.get_double("/i") == -42.0);
}

TEST_CASE("json: numbers at and beyond the edges", "[json]") {
  auto d = parse_ok(
      R"([9223372036854775807,-9223372036854775808,9223372036854775808,1.0,3e3,1e300,1.5e-300,-1.0,9007199254740993.0])");
  REQUIRE(*d.get_int("/0") == std::numeric_limits<std::int64_t>::max());
  REQUIRE(*d.get_int("/1") == std::numeric_limits<std::int64_t>::min());
  REQUIRE(d.get_int("/2").error() == errc::out_of_range);
  REQUIRE(*d.get_uint("/2") == 9223372036854775808ull);
  REQUIRE(*d.get_int("/3") == 1);      // integral doubles are accepted...
  REQUIRE(*d.get_int("/4") == 3000);
  REQUIRE(d.get_int("/5").error() == errc::out_of_range);  // ...only where exact
  REQUIRE(*d.get_double("/5") == 1e300);
  REQUIRE(d.get_int("/6").error() == errc::expected_integer);
  REQUIRE(d.get_uint("/7").error() == errc::out_of_range);
  REQUIRE(d.get_int("/8").error() == errc::out_of_range);

  // Integers beyond 64 bits, doubles beyond range, and non-JSON numbers make
  // the whole document invalid rather than silently losing precision.
  REQUIRE(parse_error("18446744073709551616") == errc::bad_number);
  REQUIRE(parse_error("-9223372036854775809") == errc::bad_number);
  REQUIRE(parse_error("123456789012345678901234567890") == errc::bad_number);
  REQUIRE(parse_error("[1e400]") == errc::bad_number);
  REQUIRE(parse_error("[01]") == errc::bad_number);
  REQUIRE(parse_error("[1.]") == errc::bad_number);
  REQUIRE(parse_error("[+1]") != std::error_code());
  REQUIRE(parse_error("[.5]") != std::error_code());
  for (const char* s : {"NaN", "[NaN]", "[Infinity]", "[-Infinity]", "{\"a\":nan}", "[0x10]"}) {
    auto ec = parse_error(s);
    REQUIRE((ec == errc::syntax || ec == errc::bad_number));
  }
}

TEST_CASE("json: nesting, iteration and JSON Pointer", "[json]") {
  // The shape of a Google freeBusy answer: calendars keyed by address (with
  // dots, so paths must not be dotted), each with busy intervals and errors.
  auto d = parse_ok(R"({
    "kind": "calendar#freeBusy",
    "timeMin": "2024-05-01T00:00:00Z",
    "calendars": {
      "alice@example.com": {"busy": [{"start": "2024-05-01T09:00:00Z", "end": "2024-05-01T10:00:00Z"},
                                     {"start": "2024-05-01T13:00:00Z", "end": "2024-05-01T13:30:00Z"}]},
      "bob@example.com": {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []},
      "a/b~c": {"busy": []}
    }
  })");
  auto cals = d.get_object("/calendars");
  REQUIRE(cals);
  REQUIRE(cals->size() == 3);
  REQUIRE((*cals)[0].key == "alice@example.com");  // document order
  REQUIRE((*cals)[1].key == "bob@example.com");
  int intervals = 0;
  for (const json::member& cal : *cals) {
    auto busy = cal.value.get_array("/busy");
    REQUIRE(busy);
    for (const json::value& b : *busy) {
      REQUIRE(b.get_string("/start"));
      REQUIRE(b.get_string("/end"));
      ++intervals;
    }
  }
  REQUIRE(intervals == 2);
  REQUIRE(*d.get_string("/calendars/alice@example.com/busy/1/end") == "2024-05-01T13:30:00Z");
  REQUIRE(*d.get_string("/calendars/bob@example.com/errors/0/reason") == "notFound");
  REQUIRE(d.has("/calendars/a~1b~0c/busy"));  // RFC 6901 escapes
  REQUIRE(d.root().member("calendars")->member("a/b~c") != nullptr);
  REQUIRE(d.root().member("nope") == nullptr);
  REQUIRE(d.root().item(0) == nullptr);  // not an array
  REQUIRE(d.root().items().empty());

  // Pointers that do not resolve, and pointers that are not pointers.
  REQUIRE(d.at("/calendars/alice@example.com/busy/2").error() == errc::not_found);
  REQUIRE(d.at("/calendars/alice@example.com/busy/01").error() == errc::not_found);
  REQUIRE(d.at("/calendars/alice@example.com/busy/-").error() == errc::not_found);
  REQUIRE(d.at("/calendars/alice@example.com/busy/0/start/x").error() == errc::not_found);
  REQUIRE(d.at("/kind/0").error() == errc::not_found);
  REQUIRE(d.at("calendars").error() == errc::bad_pointer);
  REQUIRE(d.at("/a~2b").error() == errc::bad_pointer);
  REQUIRE(d.at("/a~").error() == errc::bad_pointer);
  REQUIRE(*d.at("") == &d.root());

  // Optional fields: absent or null is empty; another type is still an error.
  auto o = parse_ok(R"({"desc":"x","nothing":null,"num":5,"flag":false})");
  REQUIRE(**o.opt_string("/desc") == "x");
  REQUIRE_FALSE(*o.opt_string("/absent"));
  REQUIRE_FALSE(*o.opt_string("/nothing"));
  REQUIRE(o.opt_string("/num").error() == errc::expected_string);
  REQUIRE(**o.opt_int("/num") == 5);
  REQUIRE(**o.opt_bool("/flag") == false);
  REQUIRE(o.opt_int("/desc").error() == errc::expected_number);
  REQUIRE(o.opt_string("bad").error() == errc::bad_pointer);

  // Scalars and empty containers at the root.
  REQUIRE(*parse_ok("\"just a string\"").root().as_string() == "just a string");
  REQUIRE(*parse_ok(" 7 ").root().as_int() == 7);
  REQUIRE(parse_ok("null").root().is_null());
  REQUIRE(parse_ok("[]").root().as_array()->empty());
  REQUIRE(parse_ok("{}").root().as_object()->empty());
  REQUIRE(parse_ok("[[],[[]],{}]").root().size() == 3);
}

TEST_CASE("json: strings, escapes and unicode", "[json]") {
  auto d = parse_ok(R"(["a\"b\\c\/d", "\b\f\n\r\t", "\u00e9\u20ac", "\ud83d\ude00", "caf\u00E9", "é€😀", "nul:\u0000:end", ""])");
  REQUIRE(*d.get_string("/0") == "a\"b\\c/d");
  REQUIRE(*d.get_string("/1") == "\b\f\n\r\t");
  REQUIRE(*d.get_string("/2") == "\xC3\xA9\xE2\x82\xAC");
  REQUIRE(*d.get_string("/3") == "\xF0\x9F\x98\x80");  // a surrogate pair becomes one code point
  REQUIRE(*d.get_string("/4") == "caf\xC3\xA9");
  REQUIRE(*d.get_string("/5") == "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  REQUIRE(*d.get_string("/6") == std::string_view("nul:\0:end", 9));
  REQUIRE(d.get_string("/7")->empty());

  // Keys are unescaped too, and looked up by their decoded form.
  auto k = parse_ok(R"({"caf\u00e9":1,"a\/b":2})");
  REQUIRE(*k.get_int("/café") == 1);
  REQUIRE(*k.get_int("/a~1b") == 2);

  REQUIRE(parse_error(R"(["\ud800"])") == errc::bad_string);        // lone high surrogate
  REQUIRE(parse_error(R"(["\udc00"])") == errc::bad_string);        // lone low surrogate
  REQUIRE(parse_error(R"(["\ud800\u0041"])") == errc::bad_string);  // high surrogate + non-surrogate
  REQUIRE(parse_error(R"(["\x41"])") == errc::bad_string);
  REQUIRE(parse_error(R"(["\u12"])") == errc::bad_string);
  REQUIRE(parse_error("[\"tab\there\"]") == errc::bad_string);       // raw control character
  REQUIRE(parse_error("[\"line\nbreak\"]") == errc::bad_string);
  REQUIRE(parse_error("[\"\xff\"]") == errc::bad_utf8);
  REQUIRE(parse_error("[\"\xC3\"]") == errc::bad_utf8);             // truncated sequence
  REQUIRE(parse_error("[\"\xC0\xAF\"]") == errc::bad_utf8);         // overlong
  REQUIRE(parse_error("[\"\xED\xA0\x80\"]") == errc::bad_utf8);     // encoded surrogate
}

TEST_CASE("json: malformed and truncated input is refused", "[json]") {
  REQUIRE(parse_error("") == errc::empty);
  REQUIRE(parse_error(" \n\t ") == errc::empty);
  for (const char* s : {"{", "}", "[1,2", "[1,]", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{'a':1}", "[1 2]",
                        "{\"a\":1,}", "tru", "nul", "[true false]", "{} x", "[] []", "\"unterminated",
                        "{\"a\":1}}", "[1]//comment", "<html></html>"}) {
    auto ec = parse_error(s);
    INFO(s);
    REQUIRE((ec == errc::syntax || ec == errc::bad_string || ec == errc::bad_number));
  }
  // Every proper prefix of a valid document fails to parse; none "half succeeds".
  const std::string whole = R"({"access_token":"eyJ0eXAi.abc-_","token_type":"Bearer","expires_in":3599,"ext":[1,2.5,{"x":null}]})";
  REQUIRE(document::parse(whole));
  for (std::size_t n = 0; n < whole.size(); ++n) {
    auto d = document::parse(std::string_view(whole).substr(0, n));
    INFO(whole.substr(0, n));
    REQUIRE_FALSE(d);
  }
}

TEST_CASE("json: size and depth limits", "[json]") {
  json::limits small;
  small.max_bytes = 32;
  const std::string at_limit = R"({"a":")" + std::string(24, 'x') + R"("})";
  REQUIRE(at_limit.size() == 32);
  REQUIRE(document::parse(at_limit, small));
  REQUIRE(parse_error(R"({"a":")" + std::string(25, 'x') + R"("})", small) == errc::too_large);

  // A large document (about 2 MB, beyond the per-thread buffer kept between parses).
  std::string big = "[";
  for (int i = 0; i < 100000; ++i) big += (i ? ",\"" : "\"") + std::to_string(i) + "-xxxxxxxxx\"";
  big += "]";
  auto bd = parse_ok(big);
  REQUIRE(bd.root().size() == 100000);
  REQUIRE(*bd.get_string("/99999") == "99999-xxxxxxxxx");
  REQUIRE(parse_ok("[1]").root().size() == 1);  // the parser is still usable afterwards

  auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  REQUIRE(document::parse(nested(64)));  // the default limit is 64
  REQUIRE(parse_error(nested(65)) == errc::too_deep);
  json::limits deep;
  deep.max_depth = 500;
  REQUIRE(document::parse(nested(500), deep));
  REQUIRE(parse_error(nested(501), deep) == errc::too_deep);
  // Far beyond any limit (and unbalanced): refused without recursing that deep.
  deep.max_depth = 100000;
  REQUIRE(parse_error(nested(100000), deep) == errc::too_deep);
  REQUIRE(parse_error(std::string(100000, '[')) != std::error_code());
  std::string objs;
  for (int i = 0; i < 70; ++i) objs += "{\"a\":";
  objs += "1" + std::string(70, '}');
  REQUIRE(parse_error(objs) == errc::too_deep);
}

TEST_CASE("json: duplicate keys are refused unless allowed, then the last wins", "[json]") {
  REQUIRE(parse_error(R"({"a":1,"b":2,"a":3})") == errc::duplicate_key);
  REQUIRE(parse_error(R"({"x":{"k":1,"k":1}})") == errc::duplicate_key);  // nested, equal values too
  REQUIRE(parse_error(R"({"caf\u00e9":1,"café":2})") == errc::duplicate_key);  // compared decoded
  REQUIRE(document::parse(R"([{"a":1},{"a":2}])"));  // same key in different objects is fine

  // Larger objects use a sorted index: same rules there.
  std::string many = "{";
  for (int i = 0; i < 200; ++i) many += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
  auto m = parse_ok(many + "}");
  for (int i = 0; i < 200; i += 37) REQUIRE(*m.get_int("/k" + std::to_string(i)) == i);
  REQUIRE(m.get_int("/k200").error() == errc::not_found);
  REQUIRE(m.get_int("/k").error() == errc::not_found);
  REQUIRE(parse_error(many + ",\"k150\":0}") == errc::duplicate_key);
  // Around the size where the names stop being compared one by one (12): a repeat
  // of the first name as the 12th, 13th or 14th member, and between two late ones.
  for (int n = 11; n <= 13; ++n) {
    std::string o = "{";
    for (int i = 0; i < n; ++i) o += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":0";
    REQUIRE(document::parse(o + "}"));
    REQUIRE(parse_error(o + ",\"k0\":1}") == errc::duplicate_key);
    REQUIRE(parse_error(o + ",\"x\":1,\"k" + std::to_string(n - 1) + "\":1}") == errc::duplicate_key);
  }
  // A repeated name is found where a reader meets it: before a later member's too-deep value.
  const std::string deep = std::string(100, '[') + std::string(100, ']');  // deeper than the default 64
  REQUIRE(parse_error(R"({"b":)" + deep + "}") == errc::too_deep);
  REQUIRE(parse_error(R"({"a":1,"a":2,"b":)" + deep + "}") == errc::duplicate_key);

  json::limits lax;
  lax.allow_duplicate_keys = true;
  auto d = parse_ok(R"({"a":1,"b":2,"a":3})", lax);
  REQUIRE(*d.get_int("/a") == 3);
  REQUIRE(d.root().members().size() == 3);
  auto big = parse_ok(many + ",\"k150\":-1,\"k150\":-2}", lax);
  REQUIRE(*big.get_int("/k150") == -2);
  REQUIRE(*big.get_int("/k149") == 149);
  REQUIRE(big.root().size() == 202);
}

TEST_CASE("json: documents are values: copied, moved and kept", "[json]") {
  auto d = parse_ok(R"({"list":[{"name":"a"},{"name":"b"}],"s":"a string long enough to live on the heap"})");
  document copy = d;
  document moved = std::move(d);
  REQUIRE(*copy.get_string("/list/1/name") == "b");
  REQUIRE(*moved.get_string("/s") == "a string long enough to live on the heap");
  json::value item = *(*moved.at("/list/0"));
  moved = document();
  REQUIRE(moved.root().is_null());
  REQUIRE(*item.get_string("/name") == "a");
}

namespace {

// json::read's outcome: the error, or empty for a document it accepted.
std::error_code read_error(std::string_view s, const json::limits& lim = {}) {
  bool called = false;
  auto r = json::read(s, lim, [&](const json::view&) { called = true; });
  CHECK(called == static_cast<bool>(r));  // the callback runs exactly when the document is good
  return r.error();
}

}  // namespace

TEST_CASE("json view: reads scalars, members and arrays like the tree", "[json][view]") {
  const std::string doc =
      R"({"s":"caf\u00e9","i":-42,"big":18446744073709551615,"d":3.0,"f":2.5,"n":null,"t":true,)"
      R"("a":[{"id":"x"},{"id":"y"},7],"o":{"k":"v"}})";
  bool called = false;
  auto r = json::read(doc, {}, [&](const json::view& root) {
    called = true;
    CHECK(root.is_object());
    CHECK(root.size() == 9);
    CHECK(*root.member("s")->as_string() == "café");
    CHECK(*root.member("i")->as_int() == -42);
    CHECK(root.member("big")->as_int().error() == errc::out_of_range);
    CHECK(*root.member("d")->as_int() == 3);  // an integral double, as value::as_int
    CHECK(root.member("f")->as_int().error() == errc::expected_integer);
    CHECK(root.member("s")->as_int().error() == errc::expected_number);
    CHECK(root.member("i")->as_string().error() == errc::expected_string);
    CHECK(root.member("n")->is_null());
    CHECK(root.member("t")->type() == json::type::boolean);
    CHECK_FALSE(root.member("missing"));
    CHECK_FALSE(root.member("s")->member("s"));  // not an object
    CHECK(root.member("o")->member("k")->as_string().value_or("") == "v");
    const auto a = root.member("a");
    REQUIRE(a);
    CHECK(a->is_array());
    CHECK(a->size() == 3);
    std::vector<std::string> seen;
    a->each_item([&](const json::view& item) {
      auto id = item.member("id");
      seen.push_back(id ? std::string(id->as_string().value_or("?")) : "-");
      return true;
    });
    CHECK(seen == std::vector<std::string>{"x", "y", "-"});
    int visited = 0;
    a->each_item([&](const json::view&) { return ++visited < 2; });  // false stops
    CHECK(visited == 2);
    int none = 0;
    root.member("o")->each_item([&](const json::view&) { return ++none > 0; });  // not an array: nothing
    CHECK(none == 0);
  });
  REQUIRE(r);
  CHECK(called);

  json::limits lax;
  lax.allow_duplicate_keys = true;
  REQUIRE(json::read(R"({"a":1,"a":2})", lax, [](const json::view& root) { CHECK(*root.member("a")->as_int() == 2); }));
}

TEST_CASE("json view: accepts and refuses exactly what document::parse does", "[json][view]") {
  std::vector<std::string> inputs = {
      "", " ", "{", "[1,]", "{\"a\":}", "{a:1}", "[1 2]", "{} x", "\"unterminated", "[1]//c", "nul",
      R"({"a":1,"b":2,"a":3})", R"({"x":{"k":1,"k":1}})", R"({"caf\u00e9":1,"café":2})", R"([{"a":1},{"a":2}])",
      "1e400", "[-1e999]", "\"\\ud800\"", "\"a\x01b\"", "\"\xff\"", "\"\xc3\x28\"", "{\"\\u0000\":1}", "[]", "{}",
      std::string(64, '[') + std::string(64, ']'), std::string(65, '[') + std::string(65, ']'),
      std::string(3000, '['), R"({"timeMin":"2031-05-12T00:00:00Z","items":[{"id":"a@b"}]})"};
  std::string many = "{";
  for (int i = 0; i < 40; ++i) many += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
  inputs.push_back(many + "}");
  inputs.push_back(many + ",\"k17\":0}");
  std::string objs;
  for (int i = 0; i < 70; ++i) objs += "{\"a\":";
  inputs.push_back(objs + "1" + std::string(70, '}'));
  // And random damage to a request-shaped document.
  const std::string base = R"({"timeMin":"2031-05-12T00:00:00Z","timeMax":"2031-05-19T00:00:00+02:00","items":[{"id":"a@b"},{"id":"c@d","x":[1,2.5,null,true]}]})";
  std::mt19937 rng(1205);
  const std::string alphabet = "{}[]\":,\\ 0123456789.eE-+tfnu\x01\x80\xff";
  for (int n = 0; n < 3000; ++n) {
    std::string s = base;
    for (int k = 0; k < 1 + static_cast<int>(rng() % 3); ++k) {
      std::size_t at = rng() % s.size();
      switch (rng() % 3) {
        case 0: s[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: s.erase(at, 1); break;
        default: s.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
      }
    }
    inputs.push_back(s);
  }
  json::limits small;
  small.max_bytes = 40;
  json::limits lax;
  lax.allow_duplicate_keys = true;
  std::size_t good = 0;
  for (const json::limits& lim : {json::limits{}, small, lax}) {
    for (const std::string& s : inputs) {
      INFO(s);
      auto d = document::parse(s, lim);
      std::error_code e = read_error(s, lim);
      CHECK(e == (d ? std::error_code() : d.error()));
      if (d) ++good;
    }
  }
  CHECK(good > 100);  // the damage leaves some documents valid, so both paths are compared
}

TEST_CASE("json view: members in document order, stopping when asked", "[json][view]") {
  REQUIRE(json::read(R"({"b":1,"a":[2],"c":{"d":null}})", {}, [](const json::view& root) {
    std::vector<std::string> names;
    root.each_member([&](std::string_view k, const json::view& v) {
      names.emplace_back(k);
      if (k == "a") CHECK(v.is_array());
      return true;
    });
    CHECK(names == std::vector<std::string>{"b", "a", "c"});
    int seen = 0;
    root.each_member([&](std::string_view, const json::view&) { return ++seen < 2; });
    CHECK(seen == 2);
    int none = 0;
    root.member("a")->each_member([&](std::string_view, const json::view&) { return ++none > 0; });  // an array: nothing
    CHECK(none == 0);
  }));
}
