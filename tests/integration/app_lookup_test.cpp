// The calgate binary answering free/busy lookups end to end: a real slapd,
// the Exchange simulator, and both inbound protocols (Google's freeBusy.query
// and the Google Calendar Connector's form protocol), including the official
// npm client @googleapis/calendar as the caller.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "net/http/client.hpp"
#include "proto/json/codec.hpp"
#include "support/exchange_sim.hpp"
#include "support/http_fixture.hpp"
#include "support/http_when_up.hpp"
#include "support/process.hpp"
#include "support/slapd.hpp"

using namespace calgate;
using namespace std::chrono_literals;

namespace {

const std::string calgate_bin = CALGATE_BINARY;
const std::string token = "test-token-0123456789abcdef";

std::string config_for(const test::slapd& s, const test::exchange_sim& sim, std::uint16_t port,
                       const std::string& details) {
  return "[server]\nlisten = \"127.0.0.1:" + std::to_string(port) +
         "\"\nshutdown_grace = \"2s\"\n[log]\naccess = false\n"
         "[ldap]\nurl = \"" + s.url() + "\"\nbind_dn = \"" + s.bind_dn() +
         "\"\nbind_password = \"${CALGATE_TEST_LDAP_PW}\"\n"
         "[directory]\nbase_dn = \"" + s.base_dn() + "\"\ndomain_map = { \"partner-cal.example\" = \"corp.example\" }\n"
         "[exchange.default]\nurl = \"" + sim.url() + "\"\nretry_min = \"20ms\"\nretry_max = \"100ms\"\nmax_attempts = 2\n"
         "[[exchange.default.account]]\nname = \"svc\"\nauth = \"basic\"\nuser = \"CORP\\\\svc-calgate\"\n"
         "password = \"Gateway-Pass-1\"\n"
         "[lookup]\ndetails = \"" + details + "\"\ndeadline = \"5s\"\n"
         "[freebusy_api]\ntokens = [\"" + token + "\"]\nmax_calendars = 5\n"
         "[legacy_lookup]\nenabled = true\nmailslot_url = \"https://www.google.com/calendar/hosted/corp.example/mailslot\"\n";
}

struct reply {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string www_authenticate;
};

// One request; retried while the server is not up yet (~5 s).
reply send(std::uint16_t port, std::string method, std::string target, std::string body = {},
           std::vector<std::pair<std::string, std::string>> headers = {}) {
  net::http::client_request r(std::move(method), "http://127.0.0.1:" + std::to_string(port) + target);
  for (auto& [k, v] : headers) r.headers.add(std::move(k), std::move(v));
  r.body = std::move(body);
  auto resp = test::send_when_up(r, {}, 10000ms);
  return {resp.status, resp.body, std::string(resp.headers.get("Content-Type").value_or("")),
          std::string(resp.headers.get("WWW-Authenticate").value_or(""))};
}

reply freebusy(std::uint16_t port, const std::string& body, const std::string& bearer = token) {
  std::vector<std::pair<std::string, std::string>> h{{"Content-Type", "application/json"}};
  if (!bearer.empty()) h.emplace_back("Authorization", "Bearer " + bearer);
  return send(port, "POST", "/calendar/v3/freeBusy", body, h);
}

// application/x-www-form-urlencoded
std::string form_encode(std::string_view v) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : v) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') out += static_cast<char>(ch);
    else if (ch == ' ') out += '+';
    else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

reply legacy(std::uint16_t port, const std::string& text, const std::string& referer = {}) {
  std::vector<std::pair<std::string, std::string>> h{{"Content-Type", "application/x-www-form-urlencoded"}};
  if (!referer.empty()) h.emplace_back("Referer", referer);
  return send(port, "POST", "/GCalExchangeLookup/ExchangeQuerier.aspx", "text=" + form_encode(text), h);
}

// The value="..." of the page's text field, HTML entities decoded.
std::string page_value(const std::string& page) {
  const std::string marker = "name=\"text\" value=\"";
  auto at = page.find(marker);
  REQUIRE(at != std::string::npos);
  auto end = page.find('"', at + marker.size());
  std::string raw = page.substr(at + marker.size(), end - at - marker.size());
  std::string out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '&') {
      out += raw[i];
      continue;
    }
    auto semi = raw.find(';', i);
    std::string ent = raw.substr(i + 1, semi - i - 1);
    if (ent == "amp") out += '&';
    else if (ent == "lt") out += '<';
    else if (ent == "gt") out += '>';
    else if (ent == "quot") out += '"';
    else if (ent == "#39" || ent == "apos") out += '\'';
    else FAIL("unexpected entity " << ent);
    i = semi;
  }
  return out;
}

std::string errors_reason(const json::document& d, const std::string& id) {
  auto r = d.get_string("/calendars/" + id + "/errors/0/reason");
  return r ? std::string(*r) : std::string();
}

struct running {
  test::slapd ldap;
  test::exchange_sim sim;
  test::temp_dir dir;
  std::uint16_t port = test::free_port();
  std::unique_ptr<test::process> calgate;
  explicit running(const std::string& details = "subject_location") {
    dir.write("c.toml", config_for(ldap, sim, port, details));
    calgate = std::make_unique<test::process>(std::vector<std::string>{calgate_bin, "serve", "--config", dir.file("c.toml")},
                                              std::vector<std::string>{"CALGATE_TEST_LDAP_PW=" + ldap.bind_password()});
    for (int i = 0; i < 100; ++i) {
      auto r = send(port, "GET", "/readyz");
      if (r.status == 200) return;
      std::this_thread::sleep_for(50ms);
    }
    FAIL("calgate did not become ready: " << calgate->output());
  }
  ~running() {
    calgate->signal(SIGTERM);
    CHECK(calgate->wait(10s) == 0);
  }
};

const std::string monday = R"("timeMin":"2031-05-12T00:00:00Z","timeMax":"2031-05-13T00:00:00.000Z")";

}  // namespace

TEST_CASE("app: freeBusy answers Google's format with busy times in the asked zone", "[app][lookup]") {
  running r;
  auto a = freebusy(r.port, "{" + monday + R"(,"timeZone":"Europe/Berlin","items":[{"id":"alice@corp.example"},)"
                                R"({"id":"bob@partner-cal.example"},{"id":"nobody@corp.example"},{"id":"dave@corp.example"},)"
                                R"({"id":"carol@corp.example"},{"id":"alice@corp.example"}]})");
  INFO(a.body);
  REQUIRE(a.status == 200);
  CHECK(a.content_type == "application/json; charset=UTF-8");
  auto d = json::document::parse(a.body);
  REQUIRE(d);
  CHECK(d->get_string("/kind").value_or("") == "calendar#freeBusy");
  CHECK(d->get_string("/timeMin").value_or("") == "2031-05-12T00:00:00.000Z");
  CHECK(d->get_string("/timeMax").value_or("") == "2031-05-13T00:00:00.000Z");
  // Alice: standup, sprint planning, a private slot, a tentative 1:1 (Berlin = UTC+2 in May).
  auto busy = d->get_array("/calendars/alice@corp.example/busy");
  REQUIRE(busy);
  REQUIRE(busy->size() == 4);
  const char* expect[][2] = {{"2031-05-12T09:00:00+02:00", "2031-05-12T09:15:00+02:00"},
                             {"2031-05-12T10:00:00+02:00", "2031-05-12T11:30:00+02:00"},
                             {"2031-05-12T13:00:00+02:00", "2031-05-12T14:00:00+02:00"},
                             {"2031-05-12T15:00:00+02:00", "2031-05-12T15:30:00+02:00"}};
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK((*busy)[i].get_string("/start").value_or("") == expect[i][0]);
    CHECK((*busy)[i].get_string("/end").value_or("") == expect[i][1]);
  }
  // Bob through an external (mapped) domain: the workshop 13:00-16:00Z and a private OOF 20:00-21:00Z.
  auto bob = d->get_array("/calendars/bob@partner-cal.example/busy");
  REQUIRE(bob);
  REQUIRE(bob->size() == 2);
  CHECK((*bob)[0].get_string("/start").value_or("") == "2031-05-12T15:00:00+02:00");
  CHECK((*bob)[1].get_string("/end").value_or("") == "2031-05-12T23:00:00+02:00");
  CHECK(errors_reason(*d, "nobody@corp.example") == "notFound");
  CHECK(errors_reason(*d, "dave@corp.example") == "notFound");
  CHECK(errors_reason(*d, "carol@corp.example") == "notFound");
  CHECK(d->get_array("/calendars/nobody@corp.example/busy").value().empty());

  // UTC by default; more than max_calendars (5 here) distinct ids: the excess are refused one by one.
  auto many = freebusy(r.port, "{" + monday + R"(,"items":[{"id":"alice@corp.example"},{"id":"u1@corp.example"},)"
                                   R"({"id":"u2@corp.example"},{"id":"u3@corp.example"},{"id":"u4@corp.example"},)"
                                   R"({"id":"bob@corp.example"},{"id":"alice@corp.example"},{"id":"bob@corp.example"}]})");
  REQUIRE(many.status == 200);
  auto m = json::document::parse(many.body);  // refuses duplicate names: each id is answered once
  INFO(many.body);
  REQUIRE(m);
  CHECK(m->root().member("calendars")->size() == 6);
  CHECK(m->get_string("/calendars/alice@corp.example/busy/0/start").value_or("") == "2031-05-12T07:00:00Z");
  CHECK(errors_reason(*m, "bob@corp.example") == "tooManyCalendarsRequested");
  CHECK(errors_reason(*m, "u4@corp.example") == "notFound");

  // Busy lists written once are kept with the cached answer, per window and zone:
  // the same request again gives the same body; other zones and a narrower window
  // their own times, also once more than two renderings were asked for.
  const std::string berlin_request = "{" + monday + R"(,"timeZone":"Europe/Berlin","items":[{"id":"alice@corp.example"},)"
                                     R"({"id":"bob@partner-cal.example"},{"id":"nobody@corp.example"},{"id":"dave@corp.example"},)"
                                     R"({"id":"carol@corp.example"},{"id":"alice@corp.example"}]})";
  CHECK(freebusy(r.port, berlin_request).body == a.body);
  auto kolkata = freebusy(r.port, "{" + monday + R"(,"timeZone":"Asia/Kolkata","items":[{"id":"alice@corp.example"}]})");
  auto k = json::document::parse(kolkata.body);
  REQUIRE(k);
  CHECK(k->get_string("/calendars/alice@corp.example/busy/0/start").value_or("") == "2031-05-12T12:30:00+05:30");
  CHECK(k->get_string("/calendars/alice@corp.example/busy/3/end").value_or("") == "2031-05-12T19:00:00+05:30");
  CHECK(freebusy(r.port, berlin_request).body == a.body);  // its rendering was dropped or kept: the same either way
  auto narrow = freebusy(r.port, R"({"timeMin":"2031-05-12T08:30:00Z","timeMax":"2031-05-12T09:00:00Z",)"
                                 R"("timeZone":"Europe/Berlin","items":[{"id":"alice@corp.example"}]})");
  auto n = json::document::parse(narrow.body);
  INFO(narrow.body);
  REQUIRE(n);
  REQUIRE(n->get_array("/calendars/alice@corp.example/busy")->size() == 1);
  CHECK(n->get_string("/calendars/alice@corp.example/busy/0/start").value_or("") == "2031-05-12T10:30:00+02:00");
  CHECK(n->get_string("/calendars/alice@corp.example/busy/0/end").value_or("") == "2031-05-12T11:00:00+02:00");

  // A larger request (repeats found through a set): 20 ids, 10 distinct, 5 looked up, 5 refused.
  std::string items;
  for (int round = 0; round < 2; ++round)
    for (int i = 0; i < 10; ++i) items += std::string(items.empty() ? "" : ",") + R"({"id":"u)" + std::to_string(i) + R"(@corp.example"})";
  auto big = freebusy(r.port, "{" + monday + R"(,"items":[)" + items + "]}");
  REQUIRE(big.status == 200);
  auto b = json::document::parse(big.body);
  INFO(big.body);
  REQUIRE(b);
  CHECK(b->root().member("calendars")->size() == 10);
  CHECK(errors_reason(*b, "u4@corp.example") == "notFound");
  CHECK(errors_reason(*b, "u5@corp.example") == "tooManyCalendarsRequested");
  CHECK(errors_reason(*b, "u9@corp.example") == "tooManyCalendarsRequested");
}

TEST_CASE("app: freeBusy refuses bad requests and bad credentials with Google's envelopes", "[app][lookup]") {
  running r;
  auto reason = [](const reply& x) {
    auto d = json::document::parse(x.body);
    REQUIRE(d);
    return std::string(d->get_string("/error/errors/0/reason").value_or(""));
  };
  const std::string ok_body = "{" + monday + R"(,"items":[{"id":"alice@corp.example"}]})";
  auto none = freebusy(r.port, ok_body, "");
  CHECK(none.status == 401);
  CHECK(reason(none) == "authError");
  CHECK(none.www_authenticate.find("Bearer") == 0);
  auto wrong = freebusy(r.port, ok_body, "test-token-0123456789abcdeX");
  CHECK(wrong.status == 401);
  CHECK(reason(wrong) == "authError");
  auto shorter = freebusy(r.port, ok_body, "test-token");
  CHECK(shorter.status == 401);

  auto empty = freebusy(r.port, R"({"timeMin":"2031-05-12T00:00:00Z","timeMax":"2031-05-12T00:00:00Z","items":[]})");
  CHECK(empty.status == 400);
  CHECK(reason(empty) == "timeRangeEmpty");
  auto too_long = freebusy(r.port, R"({"timeMin":"2031-05-01T00:00:00Z","timeMax":"2031-07-03T00:00:01Z","items":[]})");
  CHECK(too_long.status == 400);
  CHECK(reason(too_long) == "timeRangeTooLong");
  auto missing = freebusy(r.port, R"({"timeMax":"2031-05-12T00:00:00Z"})");
  CHECK(missing.status == 400);
  CHECK(reason(missing) == "required");
  auto no_offset = freebusy(r.port, R"({"timeMin":"2031-05-12T00:00:00","timeMax":"2031-05-13T00:00:00Z"})");
  CHECK(no_offset.status == 400);
  CHECK(reason(no_offset) == "badRequest");
  auto garbage = freebusy(r.port, "{\"timeMin\":");
  CHECK(garbage.status == 400);
  auto d = json::document::parse(garbage.body);
  REQUIRE(d);
  CHECK(d->get_int("/error/code").value_or(0) == 400);
  CHECK(d->get_string("/error/status").value_or("") == "INVALID_ARGUMENT");
}

TEST_CASE("app: freeBusy with Exchange down is a 503 backendError", "[app][lookup]") {
  running r;
  r.sim.fault(R"({"kind":"http_503","count":100})");
  auto a = freebusy(r.port, "{" + monday + R"(,"items":[{"id":"alice@corp.example"},{"id":"nobody@corp.example"}]})");
  // One calendar is not found (a per-calendar answer): the request as a whole is answered.
  CHECK(a.status == 200);
  auto b = freebusy(r.port, "{" + monday + R"(,"items":[{"id":"alice@corp.example"},{"id":"bob@corp.example"}]})");
  CHECK(b.status == 503);
  CHECK_THAT(b.body, Catch::Contains("\"reason\":\"backendError\""));
  r.sim.control("POST", "/sim/reset");
}

TEST_CASE("app: the legacy connector protocol answers the auto-posting page", "[app][lookup]") {
  running r;
  auto a = legacy(r.port, "[ 1, abc123, [alice@corp.example, nobody@corp.example, bob@partner-cal.example], "
                          "20310512/20310513, 20310512T000000, Europe/Berlin]",
                  "https://www.google.com/calendar/hosted/corp.example/render");
  INFO(a.body);
  REQUIRE(a.status == 200);
  CHECK(a.content_type == "text/html; charset=utf-8");
  CHECK_THAT(a.body, Catch::Contains("action=\"https://www.google.com/calendar/hosted/corp.example/mailslot\""));
  const std::string v = page_value(a.body);
  INFO(v);
  CHECK_THAT(v, Catch::StartsWith("['1','abc123',['_ME_AddData','20310512/20310513','20310512T000000',["));
  // Entries in Berlin time with subjects of non-private events; the private one shows nothing.
  // Addresses are answered in the external domain (directory.domain_map), as the original did.
  CHECK_THAT(v, Catch::Contains("'Alice Example','alice\\100partner\\055cal\\056example','20',["));
  CHECK_THAT(v, Catch::Contains("['Daily standup','20310512T090000','20310512T091500','Teams','Alice Example',1]"));
  CHECK_THAT(v, Catch::Contains("['','20310512T130000','20310512T140000','','Alice Example',1]"));
  CHECK_THAT(v, Catch::Contains("['1\\0721 with Bob','20310512T150000','20310512T153000','Alice\\047s office','Alice Example',3]"));
  // Bob answers under the requested (external) domain; nobody is omitted.
  CHECK_THAT(v, Catch::Contains("'Bob Builder','Bob\\056Builder\\100partner\\055cal\\056example','20',["));
  CHECK(v.find("nobody") == std::string::npos);

  // An http referer gets the http mailslot.
  auto http = legacy(r.port, "[1,x,[alice@corp.example],20310512/20310513,20310512T000000,UTC]",
                     "http://www.google.com/calendar/render");
  CHECK_THAT(http.body, Catch::Contains("action=\"http://www.google.com/calendar/hosted/corp.example/mailslot\""));
  CHECK_THAT(page_value(http.body), Catch::Contains("'20310512T070000','20310512T071500'"));

  // Errors: unsupported version (2), unknown zone (5), malformed (3), nothing posted (3).
  CHECK_THAT(page_value(legacy(r.port, "[2,x,[alice@corp.example],20310512/20310513,20310512T000000,UTC]").body),
             Catch::StartsWith("['0','0','2','"));
  CHECK_THAT(page_value(legacy(r.port, "[1,x,[alice@corp.example],20310512/20310513,20310512T000000,Mars/Olympus]").body),
             Catch::StartsWith("['0','0','5','"));
  CHECK_THAT(page_value(legacy(r.port, "1,x,alice").body), Catch::StartsWith("['0','0','3','"));
  auto get = send(r.port, "GET", "/GCalExchangeLookup/ExchangeQuerier.aspx");
  CHECK(get.status == 200);
  CHECK_THAT(page_value(get.body), Catch::StartsWith("['0','0','3','"));
  // Markup in the message id cannot break out of the attribute.
  auto evil = legacy(r.port, "[1,\"><script>alert(1)</script>,[alice@corp.example],20310512/20310513,20310512T000000,UTC]");
  CHECK(evil.body.find("<script>alert") == std::string::npos);

  // Exchange failing for every user: error code 1 with the real version and id.
  r.sim.fault(R"({"kind":"http_503","count":100})");
  auto down = legacy(r.port, "[1,down1,[carol@corp.example],20310512/20310513,20310512T000000,UTC]");
  CHECK_THAT(page_value(down.body), Catch::StartsWith("['1','down1','1','"));
  r.sim.control("POST", "/sim/reset");
}

namespace {

// The official npm client, installed by scripts/npm-test-deps.sh into build-npm/
// (scripts/test.sh does it; CALGATE_NODE_MODULES overrides the location).
std::string node_modules() {
  if (const char* e = std::getenv("CALGATE_NODE_MODULES")) return e;
  return std::string(EXCHANGE_SIM_SOURCE_DIR) + "/build-npm/node_modules";
}

struct npm_answer {
  int exit = -1;
  std::string out;
  json::document doc;
};

npm_answer google_client(std::uint16_t port, const std::string& request, const std::string& auth) {
  const std::string modules = node_modules();
  INFO("install the client with: bash scripts/npm-test-deps.sh build-npm");
  REQUIRE(std::filesystem::exists(modules + "/@googleapis/calendar"));
  std::vector<std::string> argv{"/usr/bin/env", "NODE_PATH=" + modules, "node",
                                std::string(EXCHANGE_SIM_SOURCE_DIR) + "/tests/fidelity/google_freebusy.js",
                                "--root", "http://127.0.0.1:" + std::to_string(port) + "/", "--request", request};
  if (auth.empty()) argv.push_back("--no-auth");
  else if (auth == "bad") argv.push_back("--bad-token");
  else {
    argv.push_back("--token");
    argv.push_back(auth);
  }
  auto [status, out] = test::run_command(argv, 60s);
  npm_answer a{status, out, {}};
  INFO(out);
  REQUIRE(status == 0);
  // The driver prints one JSON line on stdout (node may warn on stderr before it).
  auto line_at = out.rfind("{\"ok\"");
  REQUIRE(line_at != std::string::npos);
  auto doc = json::document::parse(std::string_view(out).substr(line_at));
  REQUIRE(doc);
  a.doc = std::move(*doc);
  return a;
}

}  // namespace

TEST_CASE("app: the official @googleapis/calendar client reads free/busy from calgate", "[app][lookup][npm]") {
  running r;
  const std::string body = "{" + monday + R"(,"timeZone":"Europe/Berlin","items":[{"id":"alice@corp.example"},)"
                                          R"({"id":"nobody@corp.example"}]})";
  auto ok = google_client(r.port, body, token);
  INFO(ok.out);
  CHECK(ok.doc.get_bool("/ok").value_or(false));
  CHECK(ok.doc.get_int("/status").value_or(0) == 200);
  CHECK(ok.doc.get_string("/data/kind").value_or("") == "calendar#freeBusy");
  auto busy = ok.doc.get_array("/data/calendars/alice@corp.example/busy");
  REQUIRE(busy);
  CHECK(busy->size() == 4);
  CHECK(ok.doc.get_string("/data/calendars/alice@corp.example/busy/1/start").value_or("") == "2031-05-12T10:00:00+02:00");
  CHECK(ok.doc.get_string("/data/calendars/nobody@corp.example/errors/0/reason").value_or("") == "notFound");

  auto anonymous = google_client(r.port, body, "");
  CHECK_FALSE(anonymous.doc.get_bool("/ok").value_or(true));
  CHECK(anonymous.doc.get_int("/status").value_or(0) == 401);
  CHECK(anonymous.doc.get_string("/reason").value_or("") == "authError");
  auto bad = google_client(r.port, body, "bad");
  CHECK(bad.doc.get_int("/status").value_or(0) == 401);
  CHECK(bad.doc.get_string("/reason").value_or("") == "authError");

  auto empty = google_client(r.port, R"({"timeMin":"2031-05-12T00:00:00Z","timeMax":"2031-05-11T00:00:00Z","items":[]})", token);
  CHECK(empty.doc.get_int("/status").value_or(0) == 400);
  CHECK(empty.doc.get_string("/reason").value_or("") == "timeRangeEmpty");
  auto too_long = google_client(r.port, R"({"timeMin":"2031-01-01T00:00:00Z","timeMax":"2031-05-11T00:00:00Z","items":[]})", token);
  CHECK(too_long.doc.get_int("/status").value_or(0) == 400);
  CHECK(too_long.doc.get_string("/reason").value_or("") == "timeRangeTooLong");

  r.sim.fault(R"({"kind":"http_503","count":100})");
  auto down = google_client(r.port, "{" + monday + R"(,"items":[{"id":"bob@corp.example"}]})", token);
  CHECK(down.doc.get_int("/status").value_or(0) == 503);
  CHECK(down.doc.get_string("/reason").value_or("") == "backendError");
  r.sim.control("POST", "/sim/reset");
}
