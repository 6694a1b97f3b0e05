#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "proto/google/freebusy.hpp"
#include "proto/json/codec.hpp"
#include "rt/datetime.hpp"

using namespace calgate;
using namespace calgate::proto::google;
using namespace std::chrono_literals;
using std::chrono::sys_seconds;

namespace {

sys_seconds at(std::string_view rfc3339) {
  auto t = rt::parse_datetime(rfc3339);
  REQUIRE(t);
  return t->utc;
}

freebusy_request parse_ok(std::string_view body, const request_limits& lim = {}) {
  auto r = parse_request(body, lim);
  INFO(body.substr(0, 300));
  if (auto* e = std::get_if<api_error>(&r)) FAIL_CHECK(e->reason << ": " << e->message);
  REQUIRE(std::holds_alternative<freebusy_request>(r));
  return std::get<freebusy_request>(std::move(r));
}

api_error parse_err(std::string_view body, const request_limits& lim = {}) {
  auto r = parse_request(body, lim);
  INFO(body.substr(0, 300));
  REQUIRE(std::holds_alternative<api_error>(r));
  return std::get<api_error>(std::move(r));
}

// A body with the given members after a valid one-day window.
std::string with(std::string_view extra) {
  std::string b = R"({"timeMin":"2030-01-07T00:00:00Z","timeMax":"2030-01-08T00:00:00Z")";
  if (!extra.empty()) b += "," + std::string(extra);
  return b + "}";
}

void require_error(const api_error& e, int status, std::string_view domain, std::string_view reason,
                   std::string_view location, std::string_view location_type = "parameter") {
  CHECK(e.status == status);
  CHECK(e.domain == domain);
  CHECK(e.reason == reason);
  CHECK(e.location == location);
  CHECK(e.location_type == (location.empty() ? std::string_view() : location_type));
  CHECK_FALSE(e.message.empty());
}

json::document parse_json(const std::string& s) {
  auto d = json::document::parse(s);
  INFO(s);
  REQUIRE(d);
  return std::move(*d);
}

freebusy_request window(std::string_view lo, std::string_view hi, std::string_view zone = {}) {
  freebusy_request r;
  r.time_min = at(lo);
  r.time_max = at(hi);
  if (!zone.empty()) {
    r.zone = rt::time_zone::find(zone);
    REQUIRE(r.zone);
  }
  return r;
}

// The "start"/"end" strings of one calendar's busy list in a produced response.
std::vector<std::pair<std::string, std::string>> busy_of(const json::document& d, std::string_view id) {
  auto cals = d.root().member("calendars");
  REQUIRE(cals != nullptr);
  auto cal = cals->member(id);
  REQUIRE(cal != nullptr);
  std::vector<std::pair<std::string, std::string>> out;
  auto busy = cal->get_array("/busy");
  REQUIRE(busy);
  for (const auto& b : *busy) out.emplace_back(*b.get_string("/start"), *b.get_string("/end"));
  return out;
}

}  // namespace

// ---------------------------------------------------------------- requests

TEST_CASE("google freebusy: the exact body the official npm client sends", "[google]") {
  // google.md §4.4, byte for byte.
  auto r = parse_ok(
      R"({"timeMin":"2030-01-07T00:00:00Z","timeMax":"2030-01-08T00:00:00Z","timeZone":"UTC","items":[{"id":"alice@example.com"},{"id":"bob@example.com"}]})");
  CHECK(r.time_min == at("2030-01-07T00:00:00Z"));
  CHECK(r.time_max == r.time_min + 24h);
  REQUIRE(r.zone);
  CHECK(r.zone->name() == "UTC");
  CHECK(r.items == std::vector<std::string>{"alice@example.com", "bob@example.com"});
  CHECK_FALSE(r.group_expansion_max);
  CHECK_FALSE(r.calendar_expansion_max);
}

TEST_CASE("google freebusy: times with milliseconds and offsets", "[google]") {
  // A JS Date serialises with milliseconds (google.md §1.2).
  auto r = parse_ok(R"({"timeMin":"2030-01-07T00:00:00.000Z","timeMax":"2030-01-07T12:00:00.999999999Z"})");
  CHECK(r.time_min == at("2030-01-07T00:00:00Z"));
  CHECK(r.time_max == at("2030-01-07T12:00:00Z"));
  CHECK_FALSE(r.zone);
  CHECK(r.items.empty());

  r = parse_ok(R"({"timeMin":"2030-01-07T05:30:00+05:30","timeMax":"2030-01-07T17:00:00-07:00"})");
  CHECK(r.time_min == at("2030-01-07T00:00:00Z"));
  CHECK(r.time_max == at("2030-01-08T00:00:00Z"));

  r = parse_ok(R"({"timeMin":"2030-01-07t00:00:00.5z","timeMax":"2030-01-07 01:00:00+00:00"})");
  CHECK(r.time_max - r.time_min == 1h);
}

TEST_CASE("google freebusy: optional members, nulls and unknown members", "[google]") {
  auto r = parse_ok(with(R"("timeZone":"Europe/Berlin","groupExpansionMax":100,"calendarExpansionMax":50,)"
                         R"("items":[{"id":"a@x","extra":{"deep":[1,2,{"x":null}]}},{"id":"a@x"},{"id":"b@x"}],)"
                         R"("futureField":[true,false],"kind":"whatever")"));
  REQUIRE(r.zone);
  CHECK(r.zone->name() == "Europe/Berlin");
  CHECK(r.group_expansion_max == 100);
  CHECK(r.calendar_expansion_max == 50);
  // Request order, duplicates kept (the caller dedupes the answers).
  CHECK(r.items == std::vector<std::string>{"a@x", "a@x", "b@x"});

  r = parse_ok(with(R"("timeZone":null,"items":null,"groupExpansionMax":null,"calendarExpansionMax":1)"));
  CHECK_FALSE(r.zone);
  CHECK(r.items.empty());
  CHECK_FALSE(r.group_expansion_max);
  CHECK(r.calendar_expansion_max == 1);

  CHECK(parse_ok(with(R"("items":[])")).items.empty());
  CHECK(parse_ok(with(R"("groupExpansionMax":1.0)")).group_expansion_max == 1);
}

TEST_CASE("google freebusy: missing times are 'required'", "[google]") {
  auto e = parse_err(R"({"timeMax":"2030-01-08T00:00:00Z"})");
  require_error(e, 400, "global", "required", "timeMin");
  CHECK(e.message == "Missing timeMin parameter.");

  e = parse_err(R"({"timeMin":"2030-01-07T00:00:00Z"})");
  require_error(e, 400, "global", "required", "timeMax");
  CHECK(e.message == "Missing timeMax parameter.");

  e = parse_err(R"({"timeMin":null,"timeMax":"2030-01-08T00:00:00Z"})");
  CHECK(e.message == "Missing timeMin parameter.");
  require_error(parse_err("{}"), 400, "global", "required", "timeMin");
}

TEST_CASE("google freebusy: malformed times are 'badRequest' naming the field", "[google]") {
  for (std::string_view bad : {R"("2030-01-07T00:00:00")",  // no offset (google.md §1.2)
                               R"("2030-01-07")", R"("tomorrow")", R"("")", R"("2030-02-30T00:00:00Z")",
                               R"("2030-01-07T25:00:00Z")", R"("2030-01-07T00:00:00+5:30")",
                               R"("2030-01-07T00:00:00Z ")", R"(1893974400)", R"(true)", R"({})", R"([])",
                               R"("2030-01-07T00:00:00.Z")"}) {
    INFO(bad);
    auto e = parse_err(R"({"timeMin":)" + std::string(bad) + R"(,"timeMax":"2030-01-08T00:00:00Z"})");
    require_error(e, 400, "global", "badRequest", "timeMin");
    CHECK(e.message.find("timeMin") != std::string::npos);

    e = parse_err(R"({"timeMin":"2030-01-07T00:00:00Z","timeMax":)" + std::string(bad) + "}");
    require_error(e, 400, "global", "badRequest", "timeMax");
    CHECK(e.message.find("timeMax") != std::string::npos);
  }
}

TEST_CASE("google freebusy: empty and too long windows", "[google]") {
  auto e = parse_err(R"({"timeMin":"2030-01-07T00:00:00Z","timeMax":"2030-01-07T01:00:00+01:00"})");
  require_error(e, 400, "calendar", "timeRangeEmpty", "timeMax");
  CHECK(e.message == "The specified time range is empty.");
  e = parse_err(R"({"timeMin":"2030-01-08T00:00:00Z","timeMax":"2030-01-07T00:00:00Z"})");
  require_error(e, 400, "calendar", "timeRangeEmpty", "timeMax");

  // 62 days is allowed, one second more is not.
  auto r = parse_ok(R"({"timeMin":"2030-01-01T00:00:00Z","timeMax":"2030-03-04T00:00:00Z"})");
  CHECK(r.time_max - r.time_min == 62 * 24h);
  e = parse_err(R"({"timeMin":"2030-01-01T00:00:00Z","timeMax":"2030-03-04T00:00:01Z"})");
  require_error(e, 400, "calendar", "timeRangeTooLong", "timeMax");
  CHECK(e.message == "The requested time range is too long.");

  request_limits lim;
  lim.max_window = 1h;
  parse_ok(R"({"timeMin":"2030-01-07T00:00:00Z","timeMax":"2030-01-07T01:00:00Z"})", lim);
  e = parse_err(R"({"timeMin":"2030-01-07T00:00:00Z","timeMax":"2030-01-07T01:00:01Z"})", lim);
  CHECK(e.reason == "timeRangeTooLong");

  // Ordering of the checks: a missing field is reported before a bad range.
  CHECK(parse_err(R"({"timeMin":"2030-01-08T00:00:00Z"})").reason == "required");
}

TEST_CASE("google freebusy: unknown time zones are 'invalid'", "[google]") {
  auto e = parse_err(with(R"("timeZone":"Mars/Olympus_Mons")"));
  require_error(e, 400, "global", "invalid", "timeZone");
  CHECK(e.message.find("Mars/Olympus_Mons") != std::string::npos);

  for (std::string_view bad : {R"("")", R"("europe/berlin")", R"("../../../etc/passwd")", R"(5)", R"(["UTC"])",
                               R"("UTC\u0000")"}) {
    INFO(bad);
    require_error(parse_err(with(R"("timeZone":)" + std::string(bad))), 400, "global", "invalid", "timeZone");
  }

  // A hostile name is echoed only in part.
  e = parse_err(with(R"("timeZone":")" + std::string(10000, 'x') + R"(")"));
  CHECK(e.message.size() < 200);

  CHECK(parse_ok(with(R"("timeZone":"Asia/Kolkata")")).zone->name() == "Asia/Kolkata");
}

TEST_CASE("google freebusy: expansion limits are range-checked", "[google]") {
  for (std::string_view bad : {"0", "101", "-1", "1.5", R"("10")", "true", "1e30", "[]"}) {
    INFO(bad);
    require_error(parse_err(with(R"("groupExpansionMax":)" + std::string(bad))), 400, "global", "invalid",
                  "groupExpansionMax");
  }
  for (std::string_view bad : {"0", "51", "100", "2.5", R"("50")"}) {
    INFO(bad);
    require_error(parse_err(with(R"("calendarExpansionMax":)" + std::string(bad))), 400, "global", "invalid",
                  "calendarExpansionMax");
  }
}

TEST_CASE("google freebusy: items must be objects with a non-empty string id", "[google]") {
  for (std::string_view bad : {R"(5)", R"("alice@example.com")", R"({"id":"a"})", R"(true)", R"([5])",
                               R"(["alice@example.com"])", R"([{}])", R"([{"id":5}])", R"([{"id":null}])",
                               R"([{"id":["a"]}])", R"([{"id":"a"},null])", R"([{"ID":"a"}])", R"([{"id":""}])"}) {
    INFO(bad);
    auto e = parse_err(with(R"("items":)" + std::string(bad)));
    require_error(e, 400, "global", "invalid", "items");
  }
}

TEST_CASE("google freebusy: hostile bodies", "[google]") {
  // Not JSON, or not an object: parseError.
  for (std::string_view bad : {
           "",
           "   ",
           R"({"timeMin":"2030-01-07T00:00:00Z","timeMax":"2030-01-08T00:00:00Z")",  // truncated
           R"({"timeMin":"2030-01-07T00:00:00Z","timeMax":"2030-01-08T00:00:00Z"}})",  // trailing garbage
           R"({"timeMin":"2030-01-07T00:00:00Z","timeMax":"2030-01-08T00:00:00Z",})",  // trailing comma
           R"({"timeMin":"2030-01-07T00:00:00Z","timeMin":"2030-01-07T00:00:00Z","timeMax":"2030-01-08T00:00:00Z"})",
           R"([{"timeMin":"2030-01-07T00:00:00Z"}])",
           "null",
           R"("2030-01-07T00:00:00Z")",
           "42",
           R"({'timeMin':'2030-01-07T00:00:00Z'})",
           "\xEF\xBB\xBF{}",  // a BOM is not JSON (RFC 8259 §8.1: must not be added)
       }) {
    INFO(bad);
    auto e = parse_err(bad);
    require_error(e, 400, "global", "parseError", "");
    CHECK(e.message == "Parse Error");
  }

  // Duplicate member names invite parser differentials: refused (also nested).
  CHECK(parse_err(with(R"("items":[{"id":"a","id":"b"}])")).reason == "parseError");
  CHECK(parse_err(with(R"("timeZone":"UTC","timeZone":"Europe/Berlin")")).reason == "parseError");

  // NUL: raw in a string or after the document is malformed; escaped it is an id like any other.
  CHECK(parse_err(with(std::string(R"("items":[{"id":"a)") + '\0' + R"(b"}])")).reason == "parseError");
  CHECK(parse_err(with("") + std::string(1, '\0')).reason == "parseError");
  CHECK(parse_ok(with(R"("items":[{"id":"a\u0000b"}])")).items.at(0) == std::string("a\0b", 3));

  // Bad UTF-8, lone surrogates, control characters.
  CHECK(parse_err(with("\"items\":[{\"id\":\"\xC3\x28\"}]")).reason == "parseError");
  CHECK(parse_err(with(R"("items":[{"id":"\ud800"}])")).reason == "parseError");
  CHECK(parse_err(with("\"items\":[{\"id\":\"a\nb\"}]")).reason == "parseError");

  // Deep nesting (in an ignored member too) is refused, not recursed into.
  CHECK(parse_err(with(R"("x":)" + std::string(100000, '[') + std::string(100000, ']'))).reason == "parseError");
  CHECK(parse_err(with(R"("x":)" + std::string(65, '[') + std::string(65, ']'))).reason == "parseError");
  parse_ok(with(R"("x":)" + std::string(60, '[') + std::string(60, ']')));

  // Over the body limit: refused before parsing.
  std::string big = with(R"("items":[{"id":")" + std::string(1 << 20, 'a') + R"("}])");
  auto e = parse_err(big);
  require_error(e, 413, "global", "requestTooLarge", "");
  request_limits lim;
  lim.max_body_bytes = 2 << 20;
  CHECK(parse_ok(big, lim).items.at(0).size() == std::size_t{1} << 20);
  lim.max_body_bytes = 10;
  CHECK(parse_err(with(""), lim).status == 413);

  // Many items under the limit are fine (the 50-calendar cap is the caller's, §1.6).
  std::string many = R"("items":[)";
  for (int i = 0; i < 2000; ++i) many += (i ? "," : "") + std::string(R"({"id":"u)") + std::to_string(i) + R"(@x"})";
  CHECK(parse_ok(with(many + "]")).items.size() == 2000);
}

TEST_CASE("google freebusy: ids with quotes and unicode survive parsing", "[google]") {
  auto r = parse_ok(with(R"("items":[{"id":"a\"b\\c@x"},{"id":"j\u00fcrgen@m\u00fcller.example"},)"
                         "{\"id\":\"\xE6\x97\xA5\xE6\x9C\xAC@example.jp\"},{\"id\":\"\\ud83d\\ude00@x\"}]"));
  REQUIRE(r.items.size() == 4);
  CHECK(r.items[0] == R"(a"b\c@x)");
  CHECK(r.items[1] == "j\xC3\xBCrgen@m\xC3\xBCller.example");
  CHECK(r.items[2] == "\xE6\x97\xA5\xE6\x9C\xAC@example.jp");
  CHECK(r.items[3] == "\xF0\x9F\x98\x80@x");
}

// ---------------------------------------------------------------- responses

TEST_CASE("google freebusy: UTC output by default, window echoed with milliseconds", "[google]") {
  auto r = window("2030-01-07T00:00:00Z", "2030-01-08T00:00:00Z");
  r.items = {"alice@example.com"};
  calendar_answer a{"alice@example.com", {{at("2030-01-07T10:00:00Z"), at("2030-01-07T11:30:00Z")}}, "", "global"};
  std::string out = format_response(r, {a});
  CHECK(out ==
        R"({"kind":"calendar#freeBusy","timeMin":"2030-01-07T00:00:00.000Z","timeMax":"2030-01-08T00:00:00.000Z",)"
        R"("calendars":{"alice@example.com":{"busy":[{"start":"2030-01-07T10:00:00Z","end":"2030-01-07T11:30:00Z"}]}}})");

  // timeZone "UTC" looks the same.
  auto u = window("2030-01-07T00:00:00Z", "2030-01-08T00:00:00Z", "UTC");
  u.items = r.items;
  CHECK(format_response(u, {a}) == out);

  // No calendars at all is still a well-formed answer.
  CHECK(format_response(window("2030-01-07T00:00:00Z", "2030-01-08T00:00:00Z"), {}) ==
        R"({"kind":"calendar#freeBusy","timeMin":"2030-01-07T00:00:00.000Z","timeMax":"2030-01-08T00:00:00.000Z","calendars":{}})");
}

TEST_CASE("google freebusy: busy times follow the zone's offset across DST", "[google]") {
  // Europe/Berlin leaves +01:00 for +02:00 at 2030-03-31T01:00Z and returns at 2030-10-27T01:00Z.
  auto r = window("2030-03-30T00:00:00Z", "2030-04-01T00:00:00Z", "Europe/Berlin");
  r.items = {"alice@example.com"};
  calendar_answer a;
  a.id = "alice@example.com";
  a.busy = {{at("2030-03-30T09:00:00Z"), at("2030-03-30T10:00:00Z")},
            {at("2030-03-30T23:00:00Z"), at("2030-03-31T02:00:00Z")},  // spans the change
            {at("2030-03-31T08:00:00Z"), at("2030-03-31T09:30:00Z")}};
  auto d = parse_json(format_response(r, {a}));
  CHECK(*d.get_string("/timeMin") == "2030-03-30T00:00:00.000Z");  // the echo stays UTC
  auto busy = busy_of(d, "alice@example.com");
  REQUIRE(busy.size() == 3);
  CHECK(busy[0] == std::pair<std::string, std::string>{"2030-03-30T10:00:00+01:00", "2030-03-30T11:00:00+01:00"});
  CHECK(busy[1] == std::pair<std::string, std::string>{"2030-03-31T00:00:00+01:00", "2030-03-31T04:00:00+02:00"});
  CHECK(busy[2] == std::pair<std::string, std::string>{"2030-03-31T10:00:00+02:00", "2030-03-31T11:30:00+02:00"});
  // Every written time reads back as the instant we meant.
  CHECK(at(busy[1].first) == at("2030-03-30T23:00:00Z"));
  CHECK(at(busy[1].second) == at("2030-03-31T02:00:00Z"));

  // Autumn: 02:30 local happens twice; the offset tells them apart.
  auto f = window("2030-10-26T00:00:00Z", "2030-10-28T00:00:00Z", "Europe/Berlin");
  calendar_answer b;
  b.id = "bob@example.com";
  b.busy = {{at("2030-10-27T00:30:00Z"), at("2030-10-27T01:30:00Z")}};
  auto busy2 = busy_of(parse_json(format_response(f, {b})), "bob@example.com");
  REQUIRE(busy2.size() == 1);
  CHECK(busy2[0] == std::pair<std::string, std::string>{"2030-10-27T02:30:00+02:00", "2030-10-27T02:30:00+01:00"});

  // A half-hour zone, and one west of UTC.
  auto k = window("2030-01-07T00:00:00Z", "2030-01-08T00:00:00Z", "Asia/Kolkata");
  calendar_answer c;
  c.id = "c@x";
  c.busy = {{at("2030-01-07T04:30:00Z"), at("2030-01-07T05:00:00Z")}};
  CHECK(busy_of(parse_json(format_response(k, {c})), "c@x")[0].first == "2030-01-07T10:00:00+05:30");
  auto ny = window("2030-01-07T00:00:00Z", "2030-01-08T00:00:00Z", "America/New_York");
  CHECK(busy_of(parse_json(format_response(ny, {c})), "c@x")[0].second == "2030-01-07T00:00:00-05:00");
}

TEST_CASE("google freebusy: busy lists come out sorted, merged and clipped", "[google]") {
  auto r = window("2030-01-07T08:00:00Z", "2030-01-07T18:00:00Z");
  calendar_answer a;
  a.id = "a@x";
  a.busy = {
      {at("2030-01-07T14:00:00Z"), at("2030-01-07T15:00:00Z")},
      {at("2030-01-07T09:00:00Z"), at("2030-01-07T10:00:00Z")},
      {at("2030-01-07T09:30:00Z"), at("2030-01-07T09:45:00Z")},  // inside the previous one
      {at("2030-01-07T10:00:00Z"), at("2030-01-07T10:30:00Z")},  // touches it
      {at("2030-01-07T15:00:00Z"), at("2030-01-07T15:00:00Z")},  // empty
      {at("2030-01-07T12:00:00Z"), at("2030-01-07T11:00:00Z")},  // backwards
      {at("2030-01-06T22:00:00Z"), at("2030-01-07T08:30:00Z")},  // starts before the window
      {at("2030-01-07T17:00:00Z"), at("2030-01-08T02:00:00Z")},  // ends after it
      {at("2030-01-08T02:00:00Z"), at("2030-01-08T03:00:00Z")},  // wholly outside
  };
  auto busy = busy_of(parse_json(format_response(r, {a})), "a@x");
  using p = std::pair<std::string, std::string>;
  CHECK(busy == std::vector<p>{{"2030-01-07T08:00:00Z", "2030-01-07T08:30:00Z"},
                               {"2030-01-07T09:00:00Z", "2030-01-07T10:30:00Z"},
                               {"2030-01-07T14:00:00Z", "2030-01-07T15:00:00Z"},
                               {"2030-01-07T17:00:00Z", "2030-01-07T18:00:00Z"}});
}

TEST_CASE("google freebusy: per-calendar errors, duplicates and unanswered ids", "[google]") {
  auto r = window("2030-01-07T00:00:00Z", "2030-01-08T00:00:00Z");
  r.items = {"alice@x", "ghost@x", "alice@x", "late@x", "lost@x", "lost@x"};
  calendar_answer alice{"alice@x", {{at("2030-01-07T10:00:00Z"), at("2030-01-07T11:00:00Z")}}, "", "global"};
  calendar_answer ghost{"ghost@x", {{at("2030-01-07T10:00:00Z"), at("2030-01-07T11:00:00Z")}}, "notFound", "global"};
  calendar_answer alice2{"alice@x", {}, "internalError", "global"};
  calendar_answer late{"late@x", {}, "tooManyCalendarsRequested", "calendar"};
  std::string out = format_response(r, {alice, ghost, alice2, late});
  CHECK(out ==
        R"({"kind":"calendar#freeBusy","timeMin":"2030-01-07T00:00:00.000Z","timeMax":"2030-01-08T00:00:00.000Z","calendars":{)"
        R"("alice@x":{"busy":[{"start":"2030-01-07T10:00:00Z","end":"2030-01-07T11:00:00Z"}]},)"
        R"("ghost@x":{"errors":[{"domain":"global","reason":"notFound"}],"busy":[]},)"
        R"("late@x":{"errors":[{"domain":"calendar","reason":"tooManyCalendarsRequested"}],"busy":[]},)"
        R"("lost@x":{"errors":[{"domain":"global","reason":"internalError"}],"busy":[]}}})");
  // The default document parser refuses duplicate member names, so this also
  // proves each id is written once.
  auto d = parse_json(out);
  CHECK(d.root().member("calendars")->size() == 4);
}

TEST_CASE("google freebusy: ids are escaped in the response", "[google]") {
  const std::vector<std::string> ids = {
      R"(a"b\c@x)", "</script>@x", std::string("nul\0id", 6), "tab\tnew\nline\x01@x",
      "j\xC3\xBCrgen@m\xC3\xBCller.example", "\xF0\x9F\x98\x80@x", "/slash~tilde@x", "\x7F@x"};
  auto r = window("2030-01-07T00:00:00Z", "2030-01-08T00:00:00Z", "Europe/Berlin");
  std::vector<calendar_answer> answers;
  for (const auto& id : ids) {
    calendar_answer a;
    a.id = id;
    a.busy = {{at("2030-01-07T10:00:00Z"), at("2030-01-07T11:00:00Z")}};
    answers.push_back(a);
  }
  std::string out = format_response(r, answers);
  CHECK(out.find('\0') == std::string::npos);
  CHECK(out.find('\n') == std::string::npos);
  auto d = parse_json(out);
  auto cals = d.root().member("calendars");
  REQUIRE(cals != nullptr);
  REQUIRE(cals->size() == ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto& m = cals->members()[i];
    CHECK(m.key == ids[i]);
    CHECK(*m.value.get_string("/busy/0/start") == "2030-01-07T11:00:00+01:00");
  }

  // Invalid UTF-8 in an id (which parse_request never produces) still gives valid JSON.
  calendar_answer bad;
  bad.id = "bad\xC3(\xFF@x";
  parse_json(format_response(r, {bad}));
}

TEST_CASE("google freebusy: parse, answer, read back", "[google]") {
  auto r = parse_ok(with(R"("timeZone":"Europe/Berlin","items":[{"id":"q\"uote@x"},{"id":"ghost@x"}])"));
  std::vector<calendar_answer> answers;
  for (const auto& id : r.items) {
    calendar_answer a;
    a.id = id;
    if (id == "ghost@x")
      a.error_reason = "notFound";
    else
      a.busy = {{at("2030-01-07T07:00:00Z"), at("2030-01-07T07:30:00Z")}};
    answers.push_back(std::move(a));
  }
  auto d = parse_json(format_response(r, answers));
  CHECK(*d.get_string("/kind") == "calendar#freeBusy");
  CHECK(*d.get_string("/timeMax") == "2030-01-08T00:00:00.000Z");
  CHECK(*d.get_string("/calendars/q\"uote@x/busy/0/start") == "2030-01-07T08:00:00+01:00");
  CHECK(*d.get_string("/calendars/ghost@x/errors/0/reason") == "notFound");
  CHECK(*d.get_string("/calendars/ghost@x/errors/0/domain") == "global");
  CHECK(d.get_array("/calendars/ghost@x/busy")->empty());
}

// ---------------------------------------------------------------- error envelope

TEST_CASE("google freebusy: error envelopes", "[google]") {
  CHECK(format_error(auth_error()) ==
        R"({"error":{"code":401,"message":"Invalid Credentials","errors":[{"domain":"global","reason":"authError",)"
        R"("message":"Invalid Credentials","location":"Authorization","locationType":"header"}],"status":"UNAUTHENTICATED"}})");
  CHECK(format_error(rate_limited()) ==
        R"({"error":{"code":429,"message":"Rate Limit Exceeded","errors":[{"domain":"usageLimits",)"
        R"("reason":"rateLimitExceeded","message":"Rate Limit Exceeded"}],"status":"RESOURCE_EXHAUSTED"}})");
  CHECK(format_error(backend_error()) ==
        R"({"error":{"code":503,"message":"Backend Error","errors":[{"domain":"global","reason":"backendError",)"
        R"("message":"Backend Error"}],"status":"UNAVAILABLE"}})");

  // Request errors carry their location.
  auto e = parse_err(R"({"timeMin":"2030-01-08T00:00:00Z","timeMax":"2030-01-07T00:00:00Z"})");
  auto d = parse_json(format_error(e));
  CHECK(*d.get_int("/error/code") == 400);
  CHECK(*d.get_string("/error/status") == "INVALID_ARGUMENT");
  CHECK(*d.get_string("/error/message") == "The specified time range is empty.");
  CHECK(*d.get_string("/error/errors/0/domain") == "calendar");
  CHECK(*d.get_string("/error/errors/0/reason") == "timeRangeEmpty");
  CHECK(*d.get_string("/error/errors/0/message") == "The specified time range is empty.");
  CHECK(*d.get_string("/error/errors/0/location") == "timeMax");
  CHECK(*d.get_string("/error/errors/0/locationType") == "parameter");

  // Parse errors have no location; a client-controlled message is escaped.
  d = parse_json(format_error(parse_err("{")));
  CHECK_FALSE(d.has("/error/errors/0/location"));
  CHECK_FALSE(d.has("/error/errors/0/locationType"));
  CHECK(*d.get_string("/error/errors/0/reason") == "parseError");
  e = parse_err(with(R"("timeZone":"x\"y\u0000z")"));
  d = parse_json(format_error(e));
  CHECK(*d.get_string("/error/message") == e.message);

  for (auto [code, status] : std::vector<std::pair<int, std::string_view>>{{400, "INVALID_ARGUMENT"},
                                                                            {401, "UNAUTHENTICATED"},
                                                                            {403, "PERMISSION_DENIED"},
                                                                            {404, "NOT_FOUND"},
                                                                            {409, "ABORTED"},
                                                                            {412, "FAILED_PRECONDITION"},
                                                                            {413, "INVALID_ARGUMENT"},
                                                                            {429, "RESOURCE_EXHAUSTED"},
                                                                            {500, "INTERNAL"},
                                                                            {501, "UNIMPLEMENTED"},
                                                                            {502, "INTERNAL"},
                                                                            {503, "UNAVAILABLE"},
                                                                            {504, "DEADLINE_EXCEEDED"}}) {
    api_error x;
    x.status = code;
    x.message = "m";
    CHECK(rpc_status(code) == status);
    d = parse_json(format_error(x));
    CHECK(*d.get_string("/error/status") == status);
    CHECK(*d.get_int("/error/code") == code);
  }
}

TEST_CASE("google freeBusy: the id list keeps ids in order, in one buffer", "[google]") {
  id_list l;
  CHECK(l.empty());
  CHECK(l.begin() == l.end());
  std::vector<std::string> want;
  for (int i = 0; i < 300; ++i) {  // grows past any reservation; views are read after
    want.push_back(std::string(static_cast<std::size_t>(i % 7), 'x') + "id" + std::to_string(i) + "@example.com");
    l.push_back(want.back());
  }
  l.push_back("");  // the list itself takes an empty id (the parser refuses one earlier)
  want.push_back("");
  REQUIRE(l.size() == want.size());
  CHECK(l == want);
  std::size_t i = 0;
  for (std::string_view id : l) CHECK(id == want[i++]);
  CHECK(i == want.size());
  CHECK(l.at(5) == want[5]);
  CHECK_THROWS_AS(l.at(want.size()), std::out_of_range);
  CHECK(std::find(l.begin(), l.end(), std::string_view("id8@example.com")) == l.end());  // it is "xid8@..."
  CHECK(std::find(l.begin(), l.end(), std::string_view("id14@example.com")) != l.end());  // 14 % 7 = 0
  const id_list small{"a@x", "b@x"};
  CHECK(small == std::vector<std::string>{"a@x", "b@x"});
  CHECK_FALSE(small == std::vector<std::string>{"a@x"});
  CHECK_FALSE(small == std::vector<std::string>{"a@x", "c@x"});
}

TEST_CASE("google freeBusy: the writer grows its buffer and mixes escaped and plain ids", "[google]") {
  // Sized for nothing (expected 0 calendars, 0 intervals, no ids in the request):
  // every write past the first few bytes grows the buffer. Ids alternate between
  // plain ones and ones that need escaping; the result must read back exactly.
  for (const char* zone : {"", "Asia/Kolkata"}) {
    auto r = window("2030-01-07T00:00:00Z", "2030-01-14T00:00:00Z", zone);
    response_writer w(r, 0, 0);
    std::vector<std::string> ids;
    for (int i = 0; i < 120; ++i) {
      std::string id = "user" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 40), 'p') + "@x";
      if (i % 3 == 1) id.insert(2, "\"\\\n\xC3\xBC");
      ids.push_back(id);
      if (i % 5 == 4) {
        w.error(id, "global", "notFound");
        continue;
      }
      w.begin_busy(id);
      for (int k = 0; k < i % 9; ++k)
        w.busy(r.time_min + std::chrono::hours(2 * k + 1), r.time_min + std::chrono::hours(2 * k + 2));
      w.end_busy();
    }
    const std::string out = w.finish();
    auto d = parse_json(out);
    CHECK(*d.get_string("/timeMin") == "2030-01-07T00:00:00.000Z");
    CHECK(*d.get_string("/timeMax") == "2030-01-14T00:00:00.000Z");
    auto cals = d.root().member("calendars");
    REQUIRE(cals != nullptr);
    REQUIRE(cals->size() == ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const auto& m = cals->members()[i];
      REQUIRE(m.key == ids[i]);
      if (i % 5 == 4) {
        CHECK(*m.value.get_string("/errors/0/reason") == "notFound");
        continue;
      }
      auto busy = m.value.get_array("/busy");
      REQUIRE(busy);
      REQUIRE(busy->size() == i % 9);
      if (!busy->empty()) {
        const std::string first(*m.value.get_string("/busy/0/start"));
        CHECK(first == (*zone ? "2030-01-07T06:30:00+05:30" : "2030-01-07T01:00:00Z"));
      }
    }
  }
}
