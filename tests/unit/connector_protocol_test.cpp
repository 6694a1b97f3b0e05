#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>

#include "proto/connector/lookup_protocol.hpp"

namespace cn = calgate::proto::connector;
using namespace std::chrono;

namespace {

sys_seconds utc_at(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi) + seconds(s);
}

cn::request parsed(std::string_view text, const cn::request_limits& lim = {}) {
  auto v = cn::parse_request(text, lim);
  if (auto* f = std::get_if<cn::parse_failure>(&v)) FAIL("unexpected failure " << int(f->code) << ": " << f->message);
  return std::get<cn::request>(std::move(v));
}

cn::parse_failure failed(std::string_view text, const cn::request_limits& lim = {}) {
  auto v = cn::parse_request(text, lim);
  if (std::holds_alternative<cn::request>(v)) FAIL("unexpectedly parsed: " << std::string(text.substr(0, 200)));
  return std::get<cn::parse_failure>(std::move(v));
}

cn::error_code code_of(std::string_view text, const cn::request_limits& lim = {}) { return failed(text, lim).code; }

// The value of attribute `attr` of the first tag that contains `tag_marker`,
// with the five entities decoded: what a browser would submit.
std::string attribute(const std::string& page, std::string_view tag_marker, std::string_view attr) {
  const auto tag = page.find(tag_marker);
  REQUIRE(tag != std::string::npos);
  const std::string key = " " + std::string(attr) + "=\"";
  const auto start = page.find(key, page.rfind('<', tag));
  REQUIRE(start != std::string::npos);
  const auto from = start + key.size();
  const auto to = page.find('"', from);
  REQUIRE(to != std::string::npos);
  std::string raw = page.substr(from, to - from), out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '&') {
      out += raw[i];
      continue;
    }
    const auto semi = raw.find(';', i);
    REQUIRE(semi != std::string::npos);
    const std::string ent = raw.substr(i, semi - i + 1);
    if (ent == "&amp;") out += '&';
    else if (ent == "&lt;") out += '<';
    else if (ent == "&gt;") out += '>';
    else if (ent == "&quot;") out += '"';
    else if (ent == "&#39;") out += '\'';
    else FAIL("unexpected entity " << ent);
    i = semi;
  }
  return out;
}

std::size_t count(const std::string& hay, std::string_view needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

constexpr std::string_view example_body =
    "text=%5B1%2Cabc123%2C%5Balice%40example.com%2Cbob%40example.com%5D%2C20240311%2F20240318%2C20240311T000000%"
    "2CAmerica%2FNew_York%5D";
constexpr std::string_view example_text =
    "[1,abc123,[alice@example.com,bob@example.com],20240311/20240318,20240311T000000,America/New_York]";

}  // namespace

TEST_CASE("connector: string escaping", "[connector]") {
  CHECK(cn::escape_string("Design review 42") == "Design review 42");
  CHECK(cn::escape_string("alice@example.com") == "alice\\100example\\056com");
  CHECK(cn::escape_string("it's") == "it\\047s");
  CHECK(cn::escape_string("a\\b") == "a\\134b");
  CHECK(cn::escape_string("\"Bob\" <b>") == "\\042Bob\\042 \\074b\\076");
  CHECK(cn::escape_string("Version: '2'") == "Version\\072 \\0472\\047");
  CHECK(cn::escape_string("_-/\t\n") == "\\137\\055\\057\\011\\012");
  CHECK(cn::escape_string(std::string("a\0b", 3)) == "a\\000b");
  CHECK(cn::escape_string("M\xc3\xbcller") == "M\\374ller");    // ü: Latin-1 range, octal
  CHECK(cn::escape_string("\xc2\xa0") == "\\240");               // no-break space
  CHECK(cn::escape_string("\xe2\x82\xac") == "\\u20ac");         // €
  CHECK(cn::escape_string("\xe6\x97\xa5") == "\\u65e5");         // 日
  CHECK(cn::escape_string("\xf0\x9f\x98\x80") == "\\ud83d\\ude00");  // 😀 as a surrogate pair
  CHECK(cn::escape_string("\xff") == "\\ufffd");
  CHECK(cn::escape_string("x\xc3") == "x\\ufffd");               // truncated sequence
  CHECK(cn::escape_string("\xc0\xaf") == "\\ufffd\\ufffd");      // overlong: one per byte
  CHECK(cn::escape_string("\xed\xa0\x80") == "\\ufffd\\ufffd\\ufffd");  // encoded surrogate
  CHECK(cn::escape_string("&amp;") == "\\046amp\\073");          // no HTML decoding
  CHECK(cn::escape_string("") == "");
}

TEST_CASE("connector: form fields", "[connector]") {
  CHECK(cn::form_field(example_body, "text") == std::string(example_text));
  CHECK(cn::form_field("text=a+b", "text") == "a b");
  CHECK(cn::form_field("text=a%2Bb", "text") == "a+b");
  CHECK(cn::form_field("text=%c3%BC", "text") == "\xc3\xbc");
  CHECK(cn::form_field("text=%zz", "text") == std::nullopt);
  CHECK(cn::form_field("text=ab%4", "text") == std::nullopt);
  CHECK(cn::form_field("text=ab%", "text") == std::nullopt);
  CHECK(cn::form_field("text=%u0041", "text") == std::nullopt);
  CHECK(cn::form_field("text=%zz&text=ok", "text") == std::nullopt);  // the first occurrence decides
  CHECK(cn::form_field("text=1&text=2", "text") == "1");
  CHECK(cn::form_field("textual=x&text=y", "text") == "y");
  CHECK(cn::form_field("textual=x", "text") == std::nullopt);
  CHECK(cn::form_field("xtext=x", "text") == std::nullopt);
  CHECK(cn::form_field("a=1&text=&b=2", "text") == "");
  CHECK(cn::form_field("a=1&text", "text") == "");
  CHECK(cn::form_field("te%78t=v", "text") == "v");
  CHECK(cn::form_field("%zz=1&text=ok", "text") == "ok");
  CHECK(cn::form_field("a=1&&text=a=b", "text") == "a=b");
  CHECK(cn::form_field("text=%00", "text") == std::string("\0", 1));
  CHECK(cn::form_field("", "text") == std::nullopt);
  CHECK(cn::form_field("&&&", "text") == std::nullopt);
}

TEST_CASE("connector: the seed example request", "[connector]") {
  const auto text = cn::form_field(example_body, "text");
  REQUIRE(text);
  const auto r = parsed(*text);
  CHECK(r.version == "1");
  CHECK(r.message_id == "abc123");
  CHECK(r.emails == std::vector<std::string>{"alice@example.com", "bob@example.com"});
  CHECK(r.zone.name() == "America/New_York");
  CHECK(r.start == utc_at(2024, 3, 11, 4));  // EDT from 10 March
  CHECK(r.end == utc_at(2024, 3, 18, 4));
  CHECK(r.start_text == "20240311");
  CHECK(r.end_text == "20240318");
  CHECK(r.since_text == "20240311T000000");

  // The original's own unit test input, with spaces after the commas.
  const auto t = parsed(
      "[ 1, test-id, [user1@example.org,user2@example.org], 20080101/20080131, 20080101T000000, America/Los_Angeles]");
  CHECK(t.message_id == "test-id");
  CHECK(t.emails.size() == 2);
  CHECK(t.start == utc_at(2008, 1, 1, 8));
  CHECK(t.end == utc_at(2008, 1, 31, 8));
}

TEST_CASE("connector: windows across DST changes", "[connector]") {
  // Spring forward on 2024-03-10: the window starts in EST and ends in EDT.
  auto r = parsed("[1,x,[a@b.example],20240309/20240312,20240309T000000,America/New_York]");
  CHECK(r.start == utc_at(2024, 3, 9, 5));
  CHECK(r.end == utc_at(2024, 3, 12, 4));
  CHECK(r.end - r.start == hours(71));
  // Fall back on 2024-11-03.
  r = parsed("[1,x,[a@b.example],20241102/20241104,20241102,America/New_York]");
  CHECK(r.start == utc_at(2024, 11, 2, 4));
  CHECK(r.end == utc_at(2024, 11, 4, 5));
  CHECK(r.end - r.start == hours(49));
  // Europe changes on other days.
  r = parsed("[1,x,[a@b.example],20240331/20240401,20240331,Europe/Berlin]");
  CHECK(r.start == utc_at(2024, 3, 30, 23));
  CHECK(r.end == utc_at(2024, 3, 31, 22));
}

TEST_CASE("connector: start times inside a DST gap or overlap", "[connector]") {
  // 02:30 does not exist on 2024-03-10 in New York: it moves forward by the gap (03:30 EDT).
  auto r = parsed("[1,x,[a@b.example],20240310T023000/20240311,20240310,America/New_York]");
  CHECK(r.start == utc_at(2024, 3, 10, 7, 30));
  CHECK(r.start_text == "20240310");
  CHECK(r.end == utc_at(2024, 3, 11, 4));
  // 01:30 happens twice on 2024-11-03: the earlier (EDT) instant.
  r = parsed("[1,x,[a@b.example],20241103T013000/20241104,20241103,America/New_York]");
  CHECK(r.start == utc_at(2024, 11, 3, 5, 30));
  // A gap at midnight (America/Havana skips 00:00-01:00 on 2024-03-10).
  r = parsed("[1,x,[a@b.example],20240310/20240311,20240310,America/Havana]");
  CHECK(r.start == utc_at(2024, 3, 10, 5));
}

TEST_CASE("connector: the seed example response with our escaping", "[connector]") {
  const auto r = parsed(example_text);
  cn::user alice{"Alice Liddell", "alice@example.com", 20, {}};
  alice.entries.push_back({"Design review", "Room 4", "\"Bob Smith\" <bob@example.com>", utc_at(2024, 3, 12, 13),
                           utc_at(2024, 3, 12, 14), cn::entry_status::accepted});
  alice.entries.push_back({"", "", "aliddell", utc_at(2024, 3, 12, 18), utc_at(2024, 3, 12, 18, 30),
                           cn::entry_status::tentative});
  alice.entries.push_back(
      {"", "", "aliddell", utc_at(2024, 3, 13, 15), utc_at(2024, 3, 13, 16), cn::entry_status::accepted});
  CHECK(cn::format_response(r, {alice}) ==
        "['1','abc123',['_ME_AddData','20240311/20240318','20240311T000000',"
        "['Alice Liddell','alice\\100example\\056com','20',["
        "['Design review','20240312T090000','20240312T100000','Room 4',"
        "'\\042Bob Smith\\042 \\074bob\\100example\\056com\\076',1],"
        "['','20240312T140000','20240312T143000','','aliddell',3],"
        "['','20240313T110000','20240313T120000','','aliddell',1]]]]]");

  // Users are flat triples, each followed by its entries; order is the caller's.
  cn::user bob{"Bob", "bob@example.com", 0, {}};
  CHECK(cn::format_response(r, {bob, cn::user{"M\xc3\xbcller, Jo", "jo@example.com", 20, {}}}) ==
        "['1','abc123',['_ME_AddData','20240311/20240318','20240311T000000',"
        "['Bob','bob\\100example\\056com','0',[],'M\\374ller\\054 Jo','jo\\100example\\056com','20',[]]]]");
  CHECK(cn::format_response(r, {}) == "['1','abc123',['_ME_AddData','20240311/20240318','20240311T000000',[]]]");
}

TEST_CASE("connector: entry times are wall-clock times in the request zone", "[connector]") {
  const cn::user u{"U", "u@x.example", 20, {{"s", "", "", utc_at(2024, 3, 10, 6, 30), utc_at(2024, 3, 10, 7, 30),
                                             cn::entry_status::accepted}}};
  // 06:30Z is 01:30 EST; 07:30Z is 03:30 EDT (the clock skipped 02:00-03:00).
  auto r = parsed("[1,m,[u@x.example],20240310/20240311,x,America/New_York]");
  CHECK(r.since_text == "00010101T000000");
  CHECK(cn::format_response(r, {u}) ==
        "['1','m',['_ME_AddData','20240310/20240311','00010101T000000',"
        "['U','u\\100x\\056example','20',[['s','20240310T013000','20240310T033000','','',1]]]]]");
  r = parsed("[1,m,[u@x.example],20240310/20240311,20240310T120000,Asia/Kolkata]");
  CHECK(cn::format_response(r, {u}).find("[['s','20240310T120000','20240310T130000','','',1]]") != std::string::npos);
  r = parsed("[1,m,[u@x.example],20240310/20240311,20240310T120000,UTC]");
  CHECK(cn::format_response(r, {u}).find("[['s','20240310T063000','20240310T073000','','',1]]") != std::string::npos);
  // Absurd instants are clamped to four-digit years rather than overflowing.
  const cn::user far{"F", "f@x", 20, {{"", "", "", sys_seconds(seconds(INT64_MIN / 2)), sys_seconds::max(),
                                       cn::entry_status::tentative}}};
  CHECK(cn::format_response(r, {far}).find("'00010101T000000','99991231T235959'") != std::string::npos);
}

TEST_CASE("connector: error expressions", "[connector]") {
  const auto f = failed("[2,abc123,[a@b.example],20240311/20240318,20240311T000000,UTC]");
  CHECK(f.code == cn::error_code::unsupported_version);
  CHECK(f.message == "Version: '2' is not supported");
  CHECK(cn::format_error("0", "0", f.code, f.message) == "['0','0','2','Version\\072 \\0472\\047 is not supported']");
  CHECK(cn::format_error("1", "abc123", cn::error_code::exchange_unreachable,
                         "Error occured while retrieving free busy ranges") ==
        "['1','abc123','1','Error occured while retrieving free busy ranges']");
  CHECK(cn::format_error("1", "x'],alert(1),['", cn::error_code::generic, "") ==
        "['1','x\\047\\135\\054alert\\0501\\051\\054\\133\\047','0','']");
  CHECK(cn::format_error("0", "0", cn::error_code::olson_tz_error, "Unknown time zone: 'Mars/Base'") ==
        "['0','0','5','Unknown time zone\\072 \\047Mars\\057Base\\047']");
}

TEST_CASE("connector: unsupported versions give code 2", "[connector]") {
  CHECK(failed("[7,x,[a@b.example],20240311/20240318,20240311,UTC]").message == "Version: '7' is not supported");
  for (const char* v : {"2", "0", "1.0", "01", "", "v1", "'2'"})
    CHECK(code_of(std::string("[") + v + ",x,[a@b.example],20240311/20240318,20240311,UTC]") ==
          cn::error_code::unsupported_version);
  // A long version is shortened in the message.
  const auto f = failed("[" + std::string(500, '9') + ",x,[a@b.example],20240311/20240318,20240311,UTC]");
  CHECK(f.code == cn::error_code::unsupported_version);
  CHECK(f.message.size() < 120);
}

TEST_CASE("connector: unknown time zones give code 5", "[connector]") {
  const auto f = failed("[1,x,[a@b.example],20240311/20240318,20240311,Mars/Olympus_Mons]");
  CHECK(f.code == cn::error_code::olson_tz_error);
  CHECK(f.message == "Unknown time zone: 'Mars/Olympus_Mons'");
  for (const char* tz : {"", "america/new_york", "../../../../etc/passwd", "/etc/localtime", "Not/A_Zone"})
    CHECK(code_of(std::string("[1,x,[a@b.example],20240311/20240318,20240311,") + tz + "]") ==
          cn::error_code::olson_tz_error);
  CHECK(code_of("[1,x,[a@b.example],20240311/20240318,20240311," + std::string(5000, 'Z') + "]") ==
        cn::error_code::olson_tz_error);
}

TEST_CASE("connector: tolerant parsing", "[connector]") {
  auto r = parsed(
      "  \r\n[ '1' , \"id 7\" , [ ' a@b.example ' , , \"B@x.example\",A@B.EXAMPLE, ,] , '20240311' / \"20240318\" "
      ", '20240311T000000' , 'UTC' ]  \r\n");
  CHECK(r.version == "1");
  CHECK(r.message_id == "id 7");
  CHECK(r.emails == std::vector<std::string>{"a@b.example", "B@x.example"});
  CHECK(r.start == utc_at(2024, 3, 11));
  CHECK(r.end == utc_at(2024, 3, 18));
  CHECK(r.since_text == "20240311T000000");

  r = parsed("[1,,[],20240311t080000/20240311T170000,20240311,Europe/London]");
  CHECK(r.message_id == "");
  CHECK(r.emails.empty());
  CHECK(r.start == utc_at(2024, 3, 11, 8));
  CHECK(r.end == utc_at(2024, 3, 11, 17));
  CHECK(r.start_text == "20240311");
  CHECK(r.end_text == "20240311");
  CHECK(r.since_text == "20240311T000000");  // a bare date is normalised

  for (const char* since : {"", "garbage", "2024", "20240230", "20240311T250000", "20240311 000000"})
    CHECK(parsed(std::string("[1,x,[a@b.example],20240311/20240318,") + since + ",UTC]").since_text ==
          "00010101T000000");
  CHECK(parsed("[1,x,[a@b.example],20240311/20240318,20240311t101112,UTC]").since_text == "20240311T101112");
  CHECK(parsed("[1,x,[\ta@b.example\t],20240311/20240318,20240311,UTC]").emails ==
        std::vector<std::string>{"a@b.example"});
}

TEST_CASE("connector: addresses are checked and limited", "[connector]") {
  auto f = failed("[1,x,[a@b.example,alice],20240311/20240318,20240311,UTC]");
  CHECK(f.code == cn::error_code::malformed_request);
  CHECK(f.message == "E-mail address 'alice' is not valid");
  for (const char* e : {"@x.example", "x@", "a\tb@x.example", "'@'"})
    CHECK(code_of(std::string("[1,x,[") + e + "],20240311/20240318,20240311,UTC]") ==
          cn::error_code::malformed_request);
  const std::string long_local(250, 'a');
  CHECK(parsed("[1,x,[" + long_local + "@b.c],20240311/20240318,20240311,UTC]").emails.size() == 1);  // 254
  f = failed("[1,x,[" + long_local + "@b.co],20240311/20240318,20240311,UTC]");                       // 255
  CHECK(f.code == cn::error_code::malformed_request);
  CHECK(f.message.find("E-mail address 'aaaa") == 0);
  CHECK(f.message.size() < 120);

  std::string hundred, hundred_and_one;
  for (int i = 0; i < 100; ++i) hundred += "u" + std::to_string(i) + "@x.example,U" + std::to_string(i) + "@X.example,";
  hundred_and_one = hundred + "extra@x.example";
  CHECK(parsed("[1,x,[" + hundred + "],20240311/20240318,20240311,UTC]").emails.size() == 100);
  f = failed("[1,x,[" + hundred_and_one + "],20240311/20240318,20240311,UTC]");
  CHECK(f.code == cn::error_code::malformed_request);
  CHECK(f.message == "Too many e-mail addresses: at most 100 per request");
  cn::request_limits two;
  two.max_users = 2;
  CHECK(code_of("[1,x,[a@x,b@x,c@x],20240311/20240318,20240311,UTC]", two) == cn::error_code::malformed_request);
  CHECK(parsed("[1,x,[a@x,b@x,A@X],20240311/20240318,20240311,UTC]", two).emails.size() == 2);
}

TEST_CASE("connector: malformed requests give code 3", "[connector]") {
  const std::string ok = "[1,x,[a@b.example],20240311/20240318,20240311,UTC]";
  CHECK(parsed(ok).emails.size() == 1);
  const std::vector<std::string> bad = {
      "",
      " \r\n ",
      "[",
      "]",
      "[]",
      "]]]]",
      "[[[[",
      "[[]]",
      "[1,x,[a@b.example],20240311/20240318,20240311,UTC",
      "1,x,[a@b.example],20240311/20240318,20240311,UTC]",
      "{1,x,[a@b.example],20240311/20240318,20240311,UTC}",
      "[1,x,a@b.example,20240311/20240318,20240311,UTC]",
      "[1,x,]a@b.example[,20240311/20240318,20240311,UTC]",
      "[1,x,[a@b.example]]",
      "[1,x,[a@b.example],20240311/20240318,UTC]",                    // 5 items
      "[1,x,[a@b.example],20240311/20240318,20240311,UTC,extra]",     // 7 items
      "[1,x,[a@b.example],20240311/20240318,20240311,UTC,,,,,,,,,,]",
      "[1,x[a@b.example],20240311/20240318,20240311,UTC]",            // third item not empty
      "[1,x,y[a@b.example],20240311/20240318,20240311,UTC]",
      "[1,x,[a@b.example],[c@d.example],20240311/20240318,20240311,UTC]",
      "[1,x,[a@b.example],20240311/20240318,20240311,UTC]]",
      "[1,x,[a@b.example],20240311,20240311,UTC]",                    // no end
      "[1,x,[a@b.example],20240311/,20240311,UTC]",
      "[1,x,[a@b.example],/20240318,20240311,UTC]",
      "[1,x,[a@b.example],20240311/20240318/20240319,20240311,UTC]",
      "[1,x,[a@b.example],20240230/20240318,20240311,UTC]",           // no 30 February
      "[1,x,[a@b.example],20230229/20230318,20240311,UTC]",
      "[1,x,[a@b.example],20241301/20241318,20240311,UTC]",
      "[1,x,[a@b.example],00000101/00000201,20240311,UTC]",
      "[1,x,[a@b.example],20240311T240000/20240318,20240311,UTC]",
      "[1,x,[a@b.example],20240311T235960/20240318,20240311,UTC]",
      "[1,x,[a@b.example],2024-03-11/2024-03-18,20240311,UTC]",
      "[1,x,[a@b.example],+2024031/20240318,20240311,UTC]",
      "[1,x,[a@b.example],20240311X000000/20240318,20240311,UTC]",
      "[1,x,[a@b.example],99999999999999999999/99999999999999999999999,20240311,UTC]",
      "[1,x,[a@b.example],-9223372036854775808/9223372036854775807,20240311,UTC]",
      "[1,x,[a@b.example],20240318/20240311,20240311,UTC]",           // end before start
      "[1,x,[a@b.example],20240311/20240311,20240311,UTC]",           // empty window
      "[1,x,[a@b.example],20240311T100000/20240311T100000,20240311,UTC]",
      "[1,x,[a@b.example],20241103T013000/20241103T010000,20241103,America/New_York]",
      ok + std::string(1, '\0'),
      std::string(ok).insert(4, 1, '\0'),   // in the message id
      std::string(ok).insert(17, 1, '\0'),  // in the address
      std::string(ok).insert(1, 1, '\0'),   // in the version
      std::string(1, '\0'),
      "[1,x,[a@b.example],20240311/20240318,20240311,UTC\x7f]",
      "[1,x,[a@b.example],20240311/20240318,20240311,UTC\x1b]",
      "[1,\xff,[a@b.example],20240311/20240318,20240311,UTC]",     // invalid UTF-8
      "[1,x,[a@b.\xc3],20240311/20240318,20240311,UTC]",
      "[1,x,[a@b.example],20240311/20240318,20240311,UTC\xed\xa0\x80]",
      "\xef\xbb\xbf[1,x,[a@b.example],20240311/20240318,20240311,UTC]",  // a BOM is not whitespace
      std::string(100 * 1024, '['),
      std::string(100 * 1024, ']'),
  };
  for (const auto& text : bad) {
    INFO(text.substr(0, 120));
    CHECK(code_of(text) == cn::error_code::malformed_request);
  }
  // With the size limit lifted the bracket flood still fails on its shape.
  cn::request_limits big;
  big.max_text_bytes = 1 << 20;
  CHECK(code_of(std::string(100 * 1024, '['), big) == cn::error_code::malformed_request);
  CHECK(code_of("[" + std::string(100 * 1024, ',') + "]", big) == cn::error_code::malformed_request);
  // Only commas in the list: no addresses at all, which is not an error.
  CHECK(parsed("[1,x,[" + std::string(100 * 1024, ',') + "],20240311/20240318,20240311,UTC]", big).emails.empty());
}

TEST_CASE("connector: request size limit", "[connector]") {
  const std::string ok = "[1,x,[a@b.example],20240311/20240318,20240311,UTC]";
  cn::request_limits lim;
  lim.max_text_bytes = ok.size();
  CHECK(parsed(ok, lim).emails.size() == 1);
  lim.max_text_bytes = ok.size() - 1;
  const auto f = failed(ok, lim);
  CHECK(f.code == cn::error_code::malformed_request);
  CHECK(f.message == "Request is longer than " + std::to_string(ok.size() - 1) + " bytes");
  // Default: 64 KiB of request text.
  CHECK(code_of("[1,x,[a@b.example" + std::string(64 * 1024, ' ') + "],20240311/20240318,20240311,UTC]") ==
        cn::error_code::malformed_request);
}

TEST_CASE("connector: mutated requests never crash", "[connector]") {
  const std::string seed(example_text);
  std::string alphabet = "[],/'\" \t1T0@:\xff\xc3" "a";
  alphabet += '\0';
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  int parsed_count = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string s = seed;
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t pos = s.empty() ? 0 : next() % s.size();
      const char c = alphabet[next() % alphabet.size()];
      switch (next() % 3) {
        case 0: if (!s.empty()) s.erase(pos, 1); break;
        case 1: s.insert(pos, 1, c); break;
        default: if (!s.empty()) s[pos] = c;
      }
    }
    const auto v = cn::parse_request(s);
    if (const auto* r = std::get_if<cn::request>(&v)) {
      ++parsed_count;
      REQUIRE(r->end > r->start);
      REQUIRE(r->since_text.size() == 15);
      REQUIRE(cn::format_response(*r, {}).size() > 0);
    } else {
      const auto code = std::get<cn::parse_failure>(v).code;
      REQUIRE((code == cn::error_code::malformed_request || code == cn::error_code::unsupported_version ||
               code == cn::error_code::olson_tz_error));
    }
  }
  CHECK(parsed_count > 0);
}

TEST_CASE("connector: the auto-posting page", "[connector]") {
  CHECK(cn::html_page("https://www.google.com/calendar/hosted/example.com/mailslot", "['1','a','0','x']") ==
        "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" "
        "\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n"
        "<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>Free Busy Lookup Response</title>\n"
        "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" /></head>\n"
        "<body>\n"
        " <form id=\"Form1\" method=\"POST\" action=\"https://www.google.com/calendar/hosted/example.com/mailslot\">\n"
        "  <input type=\"hidden\" name=\"text\" value=\"[&#39;1&#39;,&#39;a&#39;,&#39;0&#39;,&#39;x&#39;]\" />\n"
        "  <noscript><input type=\"submit\" value=\"Continue\" /></noscript>\n"
        " </form>\n"
        " <script type=\"text/javascript\">document.getElementById('Form1').submit();</script>\n"
        "</body></html>\n");

  // A real expression round-trips through the attribute.
  const auto r = parsed(example_text);
  const std::string expr = cn::format_response(r, {cn::user{"A & B <x>", "a@example.com", 20, {}}});
  const std::string page = cn::html_page("https://h/mailslot?a=1&b=2", expr);
  CHECK(attribute(page, "name=\"text\"", "value") == expr);
  CHECK(attribute(page, "id=\"Form1\"", "action") == "https://h/mailslot?a=1&b=2");
}

TEST_CASE("connector: nothing breaks out of the page's attributes", "[connector]") {
  const std::string evil_expr = "x\"><script>alert(1)</script><input value='";
  const std::string evil_url = "https://h/\"><script>alert(2)</script>' onload='x";
  const std::string page = cn::html_page(evil_url, evil_expr);
  CHECK(attribute(page, "name=\"text\"", "value") == evil_expr);
  CHECK(attribute(page, "id=\"Form1\"", "action") == evil_url);
  CHECK(count(page, "<script") == 1);
  CHECK(count(page, "<input") == 2);
  CHECK(page.find("alert") != std::string::npos);
  CHECK(page.find("<script>alert") == std::string::npos);
  CHECK(page.find("onload='") == std::string::npos);

  // Control bytes cannot appear in XML; broken UTF-8 becomes U+FFFD.
  const std::string odd = cn::html_page(std::string("a\0b\x01\tc\r\n", 8), "\xff");
  CHECK(odd.find("action=\"ab&#9;c&#13;&#10;\"") != std::string::npos);
  CHECK(odd.find("value=\"\xef\xbf\xbd\"") != std::string::npos);
  // The response of an escaped lookup has nothing the page needs to escape but quotes.
  const std::string expr = cn::format_error("0", "0", cn::error_code::malformed_request, "\"><script>");
  CHECK(expr == "['0','0','3','\\042\\076\\074script\\076']");
}

TEST_CASE("connector: mailslot scheme from the Referer", "[connector]") {
  const std::string slot = "https://www.google.com/calendar/hosted/example.com/mailslot";
  const std::string plain = "http://www.google.com/calendar/hosted/example.com/mailslot";
  CHECK(cn::mailslot_url(slot, "https://www.google.com/calendar/hosted/example.com/render", false) == slot);
  CHECK(cn::mailslot_url(slot, "HTTPS://www.google.com/", false) == slot);
  CHECK(cn::mailslot_url(slot, "http://www.google.com/calendar/render", true) == plain);
  CHECK(cn::mailslot_url(slot, "ftp://www.google.com/", true) == plain);  // https only for https
  CHECK(cn::mailslot_url(slot, "", true) == slot);
  CHECK(cn::mailslot_url(slot, "", false) == plain);
  for (const char* malformed : {"www.google.com/render", "/calendar/render", "https:", "https://", "https:///x",
                                "1http://x/", "ht tp://x/", "http//x", ":://x"}) {
    INFO(malformed);
    CHECK(cn::mailslot_url(slot, malformed, true) == slot);
    CHECK(cn::mailslot_url(slot, malformed, false) == plain);
  }
  CHECK(cn::mailslot_url("HTTPS://h/mailslot?next=https://x", "http://g/", true) == "http://h/mailslot?next=https://x");
  CHECK(cn::mailslot_url(plain, "https://g/", false) == plain);  // https is never added
  CHECK(cn::mailslot_url(plain, "http://g/", true) == plain);
}

TEST_CASE("connector: status numbers", "[connector]") {
  CHECK(static_cast<int>(cn::entry_status::accepted) == 1);
  CHECK(static_cast<int>(cn::entry_status::tentative) == 3);
  CHECK(static_cast<int>(cn::error_code::olson_tz_error) == 5);
}
