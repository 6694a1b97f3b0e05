// Fidelity of the Exchange simulator, checked with real third-party EWS clients
// (docs: /work/shared/reference/ews.md section 5):
//   - exchangelib 4.9.0 (Debian python3-exchangelib) through tests/fidelity/exchangelib_freebusy.py:
//     account.protocol.get_free_busy_info(...) with an explicit endpoint, Basic and NTLM,
//     http and https (the test CA via exchangelib's documented HTTP adapter);
//   - DavMail 6.0.1 (Debian davmail-server) headless in "direct EWS" mode: a CalDAV
//     free/busy POST to /users/<email>/outbox, which DavMail turns into GetFolder,
//     ConvertId and one MergedOnly GetUserAvailability per attendee.
// Every expectation below is derived from tests/fixtures/exchange/sim.toml (the week of
// Monday 2031-05-12); the fixture's events are restated here in UTC.
#include <catch2/catch.hpp>

#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/certs.hpp"
#include "support/davmail.hpp"
#include "support/exchange_sim.hpp"
#include "support/process.hpp"

using namespace calgate;
using namespace std::chrono_literals;

namespace {

const std::string source_dir = EXCHANGE_SIM_SOURCE_DIR;
const std::string fixture_file = source_dir + "/tests/fixtures/exchange/sim.toml";
const std::string exchangelib_script = source_dir + "/tests/fidelity/exchangelib_freebusy.py";
// The Debian module is only visible to the system interpreter (a pyenv python3 may shadow it).
const std::string system_python = "/usr/bin/python3";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---------------------------------------------------------------- the simulator

using test::exchange_sim;

// ---------------------------------------------------------------- the fixture, in UTC

using seconds_t = long long;

seconds_t parse_utc(const std::string& s) {  // "2031-05-12T07:00:00Z"
  std::tm tm{};
  std::istringstream in(s);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) throw std::runtime_error("not a UTC date-time: " + s);
  return static_cast<seconds_t>(timegm(&tm));
}

std::string ical_utc(seconds_t t) {  // "20310512T070000Z"
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

struct fx_event {
  const char* start;
  const char* end;
  const char* busy;      // Free, Tentative, Busy, OOF, WorkingElsewhere
  const char* subject;   // "" if none
  const char* location;  // "" if none
  const char* flags;     // '|'-separated, in the order meeting|recurring|exception|reminder|private
  bool is_private() const { return std::string(flags).find("private") != std::string::npos; }
};

const std::vector<fx_event> alice_events = {
    {"2031-05-12T07:00:00Z", "2031-05-12T07:15:00Z", "Busy", "Daily standup", "Teams", "meeting|recurring"},
    {"2031-05-12T08:00:00Z", "2031-05-12T09:30:00Z", "Busy", "Sprint planning", "Conference Room Alpha", "meeting|reminder"},
    {"2031-05-12T11:00:00Z", "2031-05-12T12:00:00Z", "Busy", "Doctor appointment", "Clinic", "private"},
    {"2031-05-12T13:00:00Z", "2031-05-12T13:30:00Z", "Tentative", "1:1 with Bob", "Alice's office", "meeting"},
    {"2031-05-13T07:00:00Z", "2031-05-13T07:15:00Z", "Busy", "Daily standup", "Teams", "meeting|recurring"},
    {"2031-05-13T10:00:00Z", "2031-05-13T11:00:00Z", "Free", "Lunch", "", ""},
    {"2031-05-14T07:30:00Z", "2031-05-14T07:45:00Z", "Busy", "Daily standup (moved)", "Teams", "meeting|recurring|exception"},
    {"2031-05-15T07:00:00Z", "2031-05-15T07:15:00Z", "Busy", "Daily standup", "Teams", "meeting|recurring"},
    {"2031-05-15T12:00:00Z", "2031-05-15T15:00:00Z", "WorkingElsewhere", "Working from home", "", ""},
    {"2031-05-15T22:00:00Z", "2031-05-16T22:00:00Z", "OOF", "Vacation day", "", ""},  // all day in Berlin
};
const std::vector<fx_event> bob_events = {  // US Eastern (UTC-4 in May)
    {"2031-05-12T13:00:00Z", "2031-05-12T16:00:00Z", "Busy", "Customer workshop", "Client site", "meeting"},
    {"2031-05-12T20:00:00Z", "2031-05-12T21:00:00Z", "OOF", "Dentist", "", "private"},
    {"2031-05-14T14:00:00Z", "2031-05-14T15:00:00Z", "Busy", "Architecture review", "Conference Room Alpha", "meeting"},
};
const std::vector<fx_event> juergen_events = {
    {"2031-05-12T12:00:00Z", "2031-05-12T13:30:00Z", "Busy", "Besprechung über Käse", "Raum Köln", "meeting"},
    {"2031-05-13T07:00:00Z", "2031-05-13T08:00:00Z", "Tentative", "Überprüfung", "", ""},
};
const std::vector<fx_event> room_events = {
    {"2031-05-12T08:00:00Z", "2031-05-12T09:30:00Z", "Busy", "Sprint planning", "", "meeting"},
    {"2031-05-12T12:00:00Z", "2031-05-12T13:00:00Z", "Tentative", "Hold: lunch talk", "", ""},
    {"2031-05-14T14:00:00Z", "2031-05-14T15:00:00Z", "Busy", "Architecture review", "", "meeting"},
};
const std::vector<fx_event> no_events;

const std::string week_start = "2031-05-12T00:00:00Z", week_end = "2031-05-17T00:00:00Z";
const std::string weekdays = "Monday Tuesday Wednesday Thursday Friday";

// MergedFreeBusy digit: WorkingElsewhere and Free count as free.
char busy_digit(const std::string& b) {
  if (b == "Tentative") return '1';
  if (b == "Busy") return '2';
  if (b == "OOF") return '3';
  return '0';
}

// One digit per slot from window start; where events overlap, the highest digit wins.
std::string merged(const std::vector<fx_event>& events, const std::string& start, const std::string& end,
                   int minutes) {
  const seconds_t s = parse_utc(start), e = parse_utc(end), step = minutes * 60LL;
  std::string out;
  for (seconds_t t = s; t < e; t += step) {
    char d = '0';
    for (const auto& ev : events) {
      if (parse_utc(ev.start) < t + step && parse_utc(ev.end) > t) d = std::max(d, busy_digit(ev.busy));
    }
    out += d;
  }
  return out;
}

// What a viewer may see of a mailbox (the fixture's access levels, plus the owner).
enum class seen { freebusy, limited, reviewer, owner };

// An event as tests/fidelity/exchangelib_freebusy.py reports it (see render_event below).
std::string expected_event(const fx_event& ev, seen s) {
  std::string out = std::string(ev.start) + "/" + ev.end + " " + ev.busy;
  if (s == seen::freebusy) return out;
  if (ev.is_private() && s != seen::owner) return out + " [private]";
  std::vector<std::string> parts;
  if (s == seen::reviewer || s == seen::owner) parts.push_back("id");
  if (*ev.subject) parts.push_back(std::string("subject=") + ev.subject);
  if (*ev.location) parts.push_back(std::string("location=") + ev.location);
  std::string flags = ev.flags;
  for (std::size_t i = 0; !flags.empty();) {
    std::size_t bar = flags.find('|', i);
    parts.push_back(flags.substr(i, bar == std::string::npos ? std::string::npos : bar - i));
    if (bar == std::string::npos) break;
    i = bar + 1;
  }
  std::string joined;
  for (const auto& p : parts) joined += (joined.empty() ? "" : "|") + p;
  return out + " [" + joined + "]";
}

std::vector<std::string> expected_events(const std::vector<fx_event>& events, seen s) {
  std::vector<std::string> out;
  for (const auto& ev : events) out.push_back(expected_event(ev, s));
  return out;
}

// ---------------------------------------------------------------- exchangelib

struct xl_request {
  std::string endpoint, auth = "basic", user, password, account;
  std::string start = "2031-05-12T00:00:00", end = "2031-05-17T00:00:00", tz = "UTC";
  int interval = 30;
  std::string view = "DetailedMerged";
  std::string ca;  // https: PEM file of the CA to trust
  std::vector<std::string> mailboxes;
};

xl_request request(std::string endpoint, std::string auth, std::string user, std::string password,
                   std::string account) {
  xl_request r;
  r.endpoint = std::move(endpoint);
  r.auth = std::move(auth);
  r.user = std::move(user);
  r.password = std::move(password);
  r.account = std::move(account);
  return r;
}

struct xl_mailbox {
  std::string address, error, error_message, view, merged;
  std::vector<std::string> events, working_hours;
};

struct xl_result {
  int status = -1;
  bool ok = false;
  std::string exception, message, api, build, auth_type;
  std::vector<xl_mailbox> mailboxes;
  std::string output;  // the script's stderr (tracebacks)
  std::string json;

  const xl_mailbox& mailbox(const std::string& address) const {
    for (const auto& m : mailboxes)
      if (m.address == address) return m;
    FAIL("no result for " << address << " in " << json);
    return mailboxes.front();
  }
};

std::string json_string(simdjson::dom::element obj, const char* key) {
  simdjson::dom::element v;
  if (obj[key].get(v) != simdjson::SUCCESS || v.is_null()) return "";
  std::string_view sv;
  if (v.get(sv) != simdjson::SUCCESS) return "";
  return std::string(sv);
}

bool json_bool(simdjson::dom::element obj, const char* key) {
  simdjson::dom::element v;
  bool b = false;
  if (obj[key].get(v) != simdjson::SUCCESS || v.get(b) != simdjson::SUCCESS) return false;
  return b;
}

// "<start>/<end> <BusyType>" and, when the server sent CalendarEventDetails,
// " [id|subject=...|location=...|meeting|recurring|exception|reminder|private]"
// (id only says that an ID came; empty fields and false flags are left out).
std::string render_event(simdjson::dom::element ev) {
  std::string out = json_string(ev, "start") + "/" + json_string(ev, "end") + " " + json_string(ev, "busy_type");
  simdjson::dom::element d;
  if (ev["details"].get(d) != simdjson::SUCCESS || d.is_null()) return out;
  std::vector<std::string> parts;
  if (!json_string(d, "id").empty()) parts.push_back("id");
  if (auto s = json_string(d, "subject"); !s.empty()) parts.push_back("subject=" + s);
  if (auto l = json_string(d, "location"); !l.empty()) parts.push_back("location=" + l);
  for (auto [key, name] : {std::pair{"is_meeting", "meeting"}, std::pair{"is_recurring", "recurring"},
                           std::pair{"is_exception", "exception"}, std::pair{"is_reminder_set", "reminder"},
                           std::pair{"is_private", "private"}})
    if (json_bool(d, key)) parts.push_back(name);
  std::string joined;
  for (const auto& p : parts) joined += (joined.empty() ? "" : "|") + p;
  return out + " [" + joined + "]";
}

xl_result run_exchangelib(const xl_request& r, const test::temp_dir& dir, const exchange_sim& sim) {
  static int counter = 0;
  const std::string out_file = dir.file("exchangelib-" + std::to_string(++counter) + ".json");
  std::vector<std::string> argv{system_python, exchangelib_script, "--endpoint", r.endpoint, "--auth", r.auth,
                                "--user", r.user, "--password", r.password, "--account", r.account,
                                "--start", r.start, "--end", r.end, "--tz", r.tz,
                                "--interval", std::to_string(r.interval), "--view", r.view, "--out", out_file};
  if (!r.ca.empty()) {
    argv.push_back("--ca");
    argv.push_back(r.ca);
  }
  for (const auto& m : r.mailboxes) argv.push_back(m);
  xl_result res;
  auto [st, out] = test::run_command(argv, 60s);
  res.status = st;
  res.output = out;
  res.json = read_file(out_file);
  INFO("exchangelib run: status " << st << "\nstderr:\n" << out << "\njson:\n" << res.json
                                  << "\nexchange_sim output:\n" << sim.output());
  REQUIRE(st != -1);  // not timed out
  REQUIRE_FALSE(res.json.empty());

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(res.json).get(doc) == simdjson::SUCCESS);
  res.ok = json_bool(doc, "ok");
  res.exception = json_string(doc, "exception");
  res.message = json_string(doc, "message");
  res.auth_type = json_string(doc, "auth_type");
  simdjson::dom::element version;
  if (doc["version"].get(version) == simdjson::SUCCESS) {
    res.api = json_string(version, "api");
    res.build = json_string(version, "build");
  }
  simdjson::dom::array boxes;
  if (doc["mailboxes"].get(boxes) == simdjson::SUCCESS) {
    for (simdjson::dom::element b : boxes) {
      xl_mailbox m;
      m.address = json_string(b, "address");
      simdjson::dom::element err;
      if (b["error"].get(err) == simdjson::SUCCESS && !err.is_null()) {
        m.error = json_string(err, "type");
        m.error_message = json_string(err, "message");
      }
      m.view = json_string(b, "view_type");
      m.merged = json_string(b, "merged");
      simdjson::dom::array evs;
      if (b["events"].get(evs) == simdjson::SUCCESS)
        for (simdjson::dom::element ev : evs) m.events.push_back(render_event(ev));
      simdjson::dom::array whs;
      if (b["working_hours"].get(whs) == simdjson::SUCCESS) {
        for (simdjson::dom::element wh : whs) {
          std::string days;
          simdjson::dom::array ds;
          if (wh["weekdays"].get(ds) == simdjson::SUCCESS)
            for (simdjson::dom::element d : ds) {
              std::string_view sv;
              if (d.get(sv) == simdjson::SUCCESS) days += (days.empty() ? "" : " ") + std::string(sv);
            }
          m.working_hours.push_back(days + " " + json_string(wh, "start") + "-" + json_string(wh, "end"));
        }
      }
      res.mailboxes.push_back(std::move(m));
    }
  }
  return res;
}

void check_mailbox(const xl_result& r, const std::string& address, const std::string& view,
                   const std::vector<fx_event>& events, seen s, const std::string& working_hours,
                   const std::string& start = week_start, const std::string& end = week_end) {
  INFO("mailbox " << address << "; exchangelib's JSON:\n" << r.json);
  const xl_mailbox& m = r.mailbox(address);
  CHECK(m.error == "");
  CHECK(m.view == view);
  CHECK(m.events == expected_events(events, s));
  if (view.find("Merged") != std::string::npos) CHECK(m.merged == merged(events, start, end, 30));
  CHECK(m.working_hours == std::vector<std::string>{working_hours});
}

// ---------------------------------------------------------------- DavMail (CalDAV)

struct caldav_answer {
  int status = 0;
  std::string body;
  // One line per attendee and period, sorted: "<attendee> <FBTYPE> <start>/<end>"
  // ("alice@corp.example BUSY 20310512T070000Z/20310512T071500Z"), or "<attendee> free"
  // for an attendee without FREEBUSY lines.
  std::vector<std::string> freebusy;
  int successes = 0;  // <C:request-status>2.0;Success</...> count
};

std::string vfreebusy_request(const std::string& organizer, const std::vector<std::string>& attendees,
                              const std::string& start, const std::string& end) {
  std::string b = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calgate//fidelity test//EN\r\nMETHOD:REQUEST\r\n"
                  "BEGIN:VFREEBUSY\r\nUID:calgate-fidelity-1\r\nDTSTAMP:20310501T000000Z\r\n";
  b += "DTSTART:" + ical_utc(parse_utc(start)) + "\r\n";
  b += "DTEND:" + ical_utc(parse_utc(end)) + "\r\n";
  b += "ORGANIZER:mailto:" + organizer + "\r\n";
  for (const auto& a : attendees) b += "ATTENDEE:mailto:" + a + "\r\n";
  b += "END:VFREEBUSY\r\nEND:VCALENDAR\r\n";
  return b;
}

// Splits DavMail's schedule-response into the VFREEBUSY of each attendee.
void parse_schedule_response(caldav_answer& a) {
  std::string body = a.body;
  // Unfold iCalendar lines (RFC 5545 3.1), whatever the line ending.
  for (const char* fold : {"\r\n ", "\n ", "\r\n\t", "\n\t"}) {
    for (std::size_t p; (p = body.find(fold)) != std::string::npos;) body.erase(p, std::string(fold).size());
  }
  for (std::size_t p = 0; (p = body.find("2.0;Success", p)) != std::string::npos; ++p) ++a.successes;
  std::size_t pos = 0;
  for (;;) {
    std::size_t b = body.find("BEGIN:VFREEBUSY", pos);
    if (b == std::string::npos) break;
    std::size_t e = body.find("END:VFREEBUSY", b);
    REQUIRE(e != std::string::npos);
    std::istringstream lines(body.substr(b, e - b));
    std::string attendee;
    std::vector<std::string> periods_seen;
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.rfind("ATTENDEE:mailto:", 0) == 0) attendee = line.substr(16);
      if (line.rfind("FREEBUSY;FBTYPE=", 0) == 0) {
        std::size_t colon = line.find(':');
        std::string type = line.substr(16, colon - 16);
        std::string periods = line.substr(colon + 1);
        for (std::size_t i = 0; i <= periods.size();) {
          std::size_t comma = periods.find(',', i);
          if (comma == std::string::npos) comma = periods.size();
          periods_seen.push_back(type + " " + periods.substr(i, comma - i));
          i = comma + 1;
        }
      }
    }
    if (periods_seen.empty()) a.freebusy.push_back(attendee + " free");
    for (const auto& p : periods_seen) a.freebusy.push_back(attendee + " " + p);
    pos = e;
  }
  std::sort(a.freebusy.begin(), a.freebusy.end());
}

caldav_answer caldav_freebusy(const test::davmail& dm, const test::temp_dir& dir, const std::string& login,
                              const std::string& password, const std::string& owner,
                              const std::vector<std::string>& attendees) {
  static int counter = 0;
  const std::string n = std::to_string(++counter);
  dir.write("vfreebusy-" + n + ".ics", vfreebusy_request(owner, attendees, week_start, week_end));
  // curl: a third-party CalDAV client's HTTP; DavMail accepts only Basic on its side.
  auto [st, out] = test::run_command(
      {"curl", "-sS", "--noproxy", "*", "--max-time", "60", "-u", login + ":" + password, "-H",
       "Content-Type: text/calendar; charset=utf-8", "--data-binary", "@" + dir.file("vfreebusy-" + n + ".ics"), "-o",
       dir.file("answer-" + n + ".xml"), "-w", "%{http_code}", dm.caldav_url("/users/" + owner + "/outbox")},
      70s);
  INFO("curl: status " << st << ", output: " << out);
  REQUIRE(st == 0);
  caldav_answer a;
  a.status = std::atoi(out.substr(out.size() >= 3 ? out.size() - 3 : 0).c_str());
  a.body = read_file(dir.file("answer-" + n + ".xml"));
  parse_schedule_response(a);
  return a;
}

// What DavMail makes of a MergedOnly stream with 15-minute slots: runs of equal
// non-zero digits become periods, 1 BUSY-TENTATIVE, 2 BUSY, 3 BUSY-UNAVAILABLE.
std::vector<std::string> expected_davmail(const std::string& attendee, const std::vector<fx_event>& events) {
  const std::string digits = merged(events, week_start, week_end, 15);
  const seconds_t s = parse_utc(week_start);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < digits.size();) {
    std::size_t j = i;
    while (j < digits.size() && digits[j] == digits[i]) ++j;
    const char* type = digits[i] == '1' ? "BUSY-TENTATIVE" : digits[i] == '2' ? "BUSY" : digits[i] == '3' ? "BUSY-UNAVAILABLE" : nullptr;
    if (type)
      out.push_back(attendee + " " + type + " " + ical_utc(s + static_cast<seconds_t>(i) * 900) + "/" +
                    ical_utc(s + static_cast<seconds_t>(j) * 900));
    i = j;
  }
  if (out.empty()) out.push_back(attendee + " free");
  return out;
}

// The attendees every DavMail request asks for, and what comes back for them: unknown
// addresses, per-mailbox errors and mailboxes whose stream is all '4' (no data) are
// dropped by DavMail without a trace.
const std::vector<std::string> davmail_attendees = {
    "alice@corp.example",     "Bob.Builder@Corp.Example", "bob@corp.example",  "juergen.mueller@corp.example",
    "room.alpha@corp.example", "projector1@corp.example", "carol@corp.example", "broken@corp.example",
    "dave@corp.example",      "svc-calgate@corp.example"};

// The attendees DavMail answers for (6) and their periods, sorted like caldav_answer::freebusy.
std::vector<std::string> davmail_expected_answer() {
  std::vector<std::string> out;
  for (const auto& [attendee, events] : std::vector<std::pair<std::string, const std::vector<fx_event>*>>{
           {"alice@corp.example", &alice_events},
           {"Bob.Builder@Corp.Example", &bob_events},
           {"bob@corp.example", &bob_events},  // an alias of Bob's
           {"juergen.mueller@corp.example", &juergen_events},
           {"room.alpha@corp.example", &room_events},
           {"svc-calgate@corp.example", &no_events}}) {  // known, free all week: no FREEBUSY line
    auto lines = expected_davmail(attendee, *events);
    out.insert(out.end(), lines.begin(), lines.end());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void check_davmail_answer(const caldav_answer& a, const test::davmail& dm, const exchange_sim& sim) {
  INFO("DavMail answered " << a.status << ":\n" << a.body << "\nDavMail log:\n" << dm.log()
                           << "\nexchange_sim output:\n" << sim.output());
  REQUIRE(a.status == 200);
  auto expected = davmail_expected_answer();
  CHECK(a.successes == 6);
  CHECK(a.freebusy == expected);
}

}  // namespace

// ------------------------------------------------------------------------ tests

TEST_CASE("fidelity: exchangelib reads free/busy from exchange_sim", "[fidelity][exchangelib]") {
  REQUIRE(std::filesystem::exists(exchangelib_script));
  test::temp_dir dir;
  exchange_sim sim({.https = true});

  SECTION("Basic over http, as the owner alice@corp.example; unknown address: ErrorMailRecipientNotFound") {
    xl_request r = request(sim.url(), "basic", "alice@corp.example", "Alice-Pass-1", "alice@corp.example");
    r.mailboxes = {"alice@corp.example",      "Bob.Builder@Corp.Example", "juergen.mueller@corp.example",
                   "room.alpha@corp.example", "projector1@corp.example",  "dave@corp.example"};
    auto res = run_exchangelib(r, dir, sim);
    INFO(res.output << res.json);
    REQUIRE(res.ok);
    CHECK(res.auth_type == "basic");
    // exchangelib probes newest-first; the simulator refuses Exchange2019 as Exchange 2016 does.
    CHECK(res.api == "Exchange2016");
    CHECK(res.build == "15.1.2507.6");
    REQUIRE(res.mailboxes.size() == r.mailboxes.size());
    check_mailbox(res, "alice@corp.example", "DetailedMerged", alice_events, seen::owner, weekdays + " 08:00-17:00");
    // alice has only the default (free/busy) right on Bob: Detailed is downgraded.
    check_mailbox(res, "Bob.Builder@Corp.Example", "FreeBusyMerged", bob_events, seen::freebusy,
                  weekdays + " 09:00-17:00");
    check_mailbox(res, "juergen.mueller@corp.example", "DetailedMerged", juergen_events, seen::limited,
                  weekdays + " 09:00-17:00");
    check_mailbox(res, "room.alpha@corp.example", "DetailedMerged", room_events, seen::limited,
                  weekdays + " 07:00-19:00");
    const auto& projector = res.mailbox("projector1@corp.example");
    CHECK(projector.error == "");
    CHECK(projector.events.empty());
    CHECK(projector.merged == std::string(240, '4'));  // publishes no free/busy
    const auto& dave = res.mailbox("dave@corp.example");
    CHECK(dave.error == "ErrorMailRecipientNotFound");
    CHECK_THAT(dave.error_message, Catch::Contains("dave@corp.example"));
  }

  SECTION("NTLM over http, as CORP\\svc-calgate (Reviewer of alice and Bob); aliases resolve") {
    xl_request r = request(sim.url(), "ntlm", "CORP\\svc-calgate", "Gateway-Pass-1", "svc-calgate@corp.example");
    r.mailboxes = {"alice@corp.example", "bob@corp.example", "juergen.mueller@corp.example",
                   "svc-calgate@corp.example", "nobody@corp.example"};
    auto res = run_exchangelib(r, dir, sim);
    INFO(res.output << res.json);
    REQUIRE(res.ok);
    CHECK(res.auth_type == "NTLM");
    CHECK(res.api == "Exchange2016");
    REQUIRE(res.mailboxes.size() == r.mailboxes.size());
    check_mailbox(res, "alice@corp.example", "DetailedMerged", alice_events, seen::reviewer, weekdays + " 08:00-17:00");
    check_mailbox(res, "bob@corp.example", "DetailedMerged", bob_events, seen::reviewer, weekdays + " 09:00-17:00");
    check_mailbox(res, "juergen.mueller@corp.example", "DetailedMerged", juergen_events, seen::limited,
                  weekdays + " 09:00-17:00");
    check_mailbox(res, "svc-calgate@corp.example", "DetailedMerged", no_events, seen::owner,
                  weekdays + " 09:00-17:00");
    CHECK(res.mailbox("nobody@corp.example").error == "ErrorMailRecipientNotFound");
  }

  SECTION("per-mailbox errors other than ErrorMailRecipientNotFound reach exchangelib as its exceptions") {
    // exchangelib 4.9.0 returns only ErrorMailRecipientNotFound in place of a view; it raises the others.
    xl_request r = request(sim.url(), "ntlm", "CORP\\svc-calgate", "Gateway-Pass-1", "svc-calgate@corp.example");
    r.mailboxes = {"carol@corp.example"};
    auto carol = run_exchangelib(r, dir, sim);
    CHECK_FALSE(carol.ok);
    CHECK(carol.exception == "ErrorNoFreeBusyAccess");
    CHECK_THAT(carol.message, Catch::Contains("carol@corp.example"));
    r.mailboxes = {"broken@corp.example"};
    auto broken = run_exchangelib(r, dir, sim);
    CHECK_FALSE(broken.ok);
    CHECK(broken.exception == "ErrorFreeBusyGenerationFailed");
  }

  SECTION("wrong passwords are refused with Basic and with NTLM") {
    xl_request r = request(sim.url(), "basic", "alice@corp.example", "wrong", "alice@corp.example");
    r.mailboxes = {"alice@corp.example"};
    auto basic = run_exchangelib(r, dir, sim);
    CHECK_FALSE(basic.ok);
    CHECK(basic.exception == "UnauthorizedError");
    r.auth = "ntlm";
    r.user = "CORP\\svc-calgate";
    auto ntlm = run_exchangelib(r, dir, sim);
    CHECK_FALSE(ntlm.ok);
    CHECK(ntlm.exception == "UnauthorizedError");
  }

  SECTION("Basic over https with the test CA, window in America/New_York, as CORP\\bob (limited on alice)") {
    xl_request r = request(sim.tls_url(), "basic", "CORP\\bob", "Bob-Pass-1", "Bob.Builder@Corp.Example");
    // The same instants as the UTC week, asked for in New York time: exchangelib fetches the
    // zone's definition (GetServerTimeZones) and sends it with DST rules; the simulator
    // answers with offset-less wall-clock times in that zone, which the script converts back.
    r.tz = "America/New_York";
    r.start = "2031-05-11T20:00:00";
    r.end = "2031-05-16T20:00:00";
    r.ca = test::certs().ca_cert;
    r.mailboxes = {"alice@corp.example", "Bob.Builder@Corp.Example", "dave@corp.example"};
    auto res = run_exchangelib(r, dir, sim);
    INFO(res.output << res.json);
    REQUIRE(res.ok);
    check_mailbox(res, "alice@corp.example", "DetailedMerged", alice_events, seen::limited, weekdays + " 08:00-17:00");
    check_mailbox(res, "Bob.Builder@Corp.Example", "DetailedMerged", bob_events, seen::owner,
                  weekdays + " 09:00-17:00");
    CHECK(res.mailbox("dave@corp.example").error == "ErrorMailRecipientNotFound");
  }

  SECTION("https without the test CA: exchangelib refuses the certificate") {
    xl_request r = request(sim.tls_url(), "basic", "alice@corp.example", "Alice-Pass-1", "alice@corp.example");
    r.mailboxes = {"alice@corp.example"};
    auto res = run_exchangelib(r, dir, sim);
    CHECK_FALSE(res.ok);
    CHECK_THAT(res.message, Catch::Contains("CERTIFICATE_VERIFY_FAILED"));
  }
}

TEST_CASE("fidelity: DavMail answers CalDAV free/busy from exchange_sim (http, Basic)", "[fidelity][davmail]") {
  test::temp_dir dir;
  exchange_sim sim;
  // DavMail's "direct EWS" needs a URL ending in /ews/exchange.asmx (any case).
  test::davmail_options o;
  o.ews_url = sim.url();
  test::davmail dm(o);

  // An e-mail-style login: DavMail offers it to the simulator as-is. The simulator offers
  // NTLM, Basic and Bearer; DavMail 6.0.1 keeps its preferred schemes in a HashSet and
  // in practice answers with Basic when both NTLM and Basic are offered.
  auto as_alice = caldav_freebusy(dm, dir, "alice@corp.example", "Alice-Pass-1", "alice@corp.example",
                                  davmail_attendees);
  check_davmail_answer(as_alice, dm, sim);

  // A DOMAIN\user login gets its own DavMail session; ConvertId tells DavMail Bob's address.
  auto as_bob = caldav_freebusy(dm, dir, "CORP\\bob", "Bob-Pass-1", "Bob.Builder@Corp.Example", davmail_attendees);
  check_davmail_answer(as_bob, dm, sim);

  // The simulator refuses the password: DavMail answers the CalDAV client 401.
  auto refused = caldav_freebusy(dm, dir, "alice@corp.example", "wrong", "alice@corp.example", {"bob@corp.example"});
  CHECK(refused.status == 401);
}

TEST_CASE("fidelity: DavMail over https to an NTLM-only exchange_sim", "[fidelity][davmail][ntlm]") {
  test::temp_dir dir;
  // The fixture with NTLM as the only scheme: DavMail then authenticates with JCIFS NTLM.
  std::string config = read_file(fixture_file);
  const std::string schemes = "schemes = [\"NTLM\", \"Basic\", \"Bearer\"]";
  const auto at = config.find(schemes);
  REQUIRE(at != std::string::npos);
  config.replace(at, schemes.size(), "schemes = [\"NTLM\"]");
  dir.write("sim-ntlm.toml", config);
  exchange_sim sim({.config = dir.file("sim-ntlm.toml"), .https = true});
  // DavMail pre-accepts the leaf by its SHA-1 fingerprint (its own trust store does not know our CA).
  test::davmail_options o;
  o.ews_url = sim.tls_url();
  o.server_cert_sha1 = test::certificate_sha1(test::certs().server_cert);
  test::davmail dm(o);

  auto as_bob = caldav_freebusy(dm, dir, "CORP\\bob", "Bob-Pass-1", "Bob.Builder@Corp.Example", davmail_attendees);
  check_davmail_answer(as_bob, dm, sim);
  // A UPN-style login over NTLM (empty domain in the Type 3 message).
  auto as_alice = caldav_freebusy(dm, dir, "alice@corp.example", "Alice-Pass-1", "alice@corp.example",
                                  davmail_attendees);
  check_davmail_answer(as_alice, dm, sim);
  auto refused = caldav_freebusy(dm, dir, "CORP\\bob", "wrong", "Bob.Builder@Corp.Example", {"alice@corp.example"});
  CHECK(refused.status == 401);
}
