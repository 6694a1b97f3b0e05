// EWS without a network: request envelopes (checked against the EWS schemas
// with ../shared/ews-schema/validate), availability answers in the shapes real
// servers send, faults, ServerVersionInfo, and the date-time parser they use.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "proto/ews/availability.hpp"
#include "proto/ews/soap.hpp"
#include "proto/xml/tree.hpp"
#include "rt/datetime.hpp"
#include "support/process.hpp"

using namespace calgate;
using namespace calgate::proto::ews;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

const std::string validator = std::string(CALGATE_SOURCE_DIR) + "/../shared/ews-schema/validate";

// Runs the schema validator on an envelope; returns its exit status and output.
std::pair<int, std::string> validate(const std::string& env) {
  test::temp_dir d;
  d.write("request.xml", env);
  return test::run_command({validator, d.file("request.xml")}, 60s);
}

sys_seconds at(const char* s) {
  auto p = rt::parse_datetime(s);
  REQUIRE(p);
  return p->utc;
}

availability_query query(std::vector<std::string> addresses, view v = view::free_busy) {
  availability_query q;
  for (auto& a : addresses) q.mailboxes.push_back({a, attendee_type::required});
  q.start = at("2026-11-23T00:00:00Z");
  q.end = at("2026-11-24T00:00:00Z");
  q.requested = v;
  return q;
}

xml::element parse(const std::string& s) {
  std::string err;
  auto doc = xml::parse(s, {}, &err);
  INFO(err);
  REQUIRE(doc);
  return std::move(*doc);
}

const char* const head =
    R"(<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
<s:Header><h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11" xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types" xmlns="http://schemas.microsoft.com/exchange/services/2006/types"/></s:Header>
<s:Body><GetUserAvailabilityResponse xmlns="http://schemas.microsoft.com/exchange/services/2006/messages"><FreeBusyResponseArray>)";
const char* const tail = "</FreeBusyResponseArray></GetUserAvailabilityResponse></s:Body></s:Envelope>";

std::string answer(const std::string& responses) { return std::string(head) + responses + tail; }

// A successful FreeBusyResponse with the given view children (written the way
// Exchange does: a default-namespace redeclaration on each t: child).
std::string success(const std::string& view_children) {
  return R"(<FreeBusyResponse><ResponseMessage ResponseClass="Success"><ResponseCode>NoError</ResponseCode></ResponseMessage><FreeBusyView>)" +
         view_children + "</FreeBusyView></FreeBusyResponse>";
}

std::string event(const char* start, const char* end, const char* busy, const std::string& details = "") {
  return std::string("<CalendarEvent><StartTime>") + start + "</StartTime><EndTime>" + end + "</EndTime><BusyType>" +
         busy + "</BusyType>" + details + "</CalendarEvent>";
}

std::string events(const std::string& list) {
  return R"(<CalendarEventArray xmlns="http://schemas.microsoft.com/exchange/services/2006/types">)" + list +
         "</CalendarEventArray>";
}

const char* const view_type_ns = R"( xmlns="http://schemas.microsoft.com/exchange/services/2006/types")";

std::string view_type(const char* v) { return std::string("<FreeBusyViewType") + view_type_ns + ">" + v + "</FreeBusyViewType>"; }

std::string not_found(const char* address) {
  return std::string(R"(<FreeBusyResponse><ResponseMessage ResponseClass="Error"><MessageText>Unable to resolve e-mail address &lt;)") +
         address +
         R"(&gt; to an Active Directory object.</MessageText><ResponseCode>ErrorMailRecipientNotFound</ResponseCode><DescriptiveLinkKey>0</DescriptiveLinkKey></ResponseMessage><FreeBusyView>)" +
         view_type("None") + "</FreeBusyView></FreeBusyResponse>";
}

}  // namespace

TEST_CASE("ews: request envelopes validate against the EWS schemas", "[ews]") {
  REQUIRE(std::filesystem::exists(validator));
  for (view v : {view::free_busy, view::free_busy_merged, view::detailed, view::detailed_merged, view::merged_only}) {
    auto q = query({"alice@corp.example", "R&D <lab>\"@corp.example", "room.4@corp.example"}, v);
    q.mailboxes[2].type = attendee_type::room;
    std::string env = envelope("Exchange2013", availability_body(q));
    auto [status, out] = validate(env);
    INFO(view_name(v) << "\n" << env << "\n" << out);
    CHECK(status == 0);
    // The address is escaped, never raw markup.
    CHECK(env.find("R&amp;D &lt;lab&gt;") != std::string::npos);
    CHECK(env.find("<t:RequestedView>" + std::string(view_name(v)) + "</t:RequestedView>") != std::string::npos);
  }
  // The validator itself is not a rubber stamp: a wrong element order fails.
  std::string bad = envelope("Exchange2013", availability_body(query({"a@b.c"})));
  auto pos = bad.find("<t:RequestedView>");
  REQUIRE(pos != std::string::npos);
  bad.insert(bad.find("<t:TimeWindow>"), "<t:RequestedView>FreeBusy</t:RequestedView>");
  CHECK(validate(bad).first != 0);
}

TEST_CASE("ews: the request carries UTC times, the version and a UTC zone", "[ews]") {
  auto q = query({"alice@corp.example"});
  std::string env = envelope("Exchange2010_SP2", availability_body(q));
  CHECK(env.find(R"(<t:RequestServerVersion Version="Exchange2010_SP2"/>)") != std::string::npos);
  CHECK(env.find("<t:StartTime>2026-11-23T00:00:00Z</t:StartTime>") != std::string::npos);
  CHECK(env.find("<t:EndTime>2026-11-24T00:00:00Z</t:EndTime>") != std::string::npos);
  CHECK(env.find("<t:TimeZone><t:Bias>0</t:Bias>") != std::string::npos);
  // It parses as a SOAP envelope with the body element in the messages namespace.
  auto doc = parse(env);
  const xml::element* body = body_child(doc);
  REQUIRE(body);
  CHECK(body->is(ns_messages, "GetUserAvailabilityRequest"));
  CHECK(body->child(ns_messages, "MailboxDataArray")->all(ns_types, "MailboxData").size() == 1);
}

TEST_CASE("ews: availability answers in 2013 (offset-less) and 2007 (offset) styles", "[ews]") {
  auto q = query({"alice@corp.example", "bob@corp.example", "nobody@corp.example"}, view::detailed_merged);
  std::string details =
      R"(<CalendarEventDetails><ID>AAMk1</ID><Subject>Design &amp; review</Subject><Location>Room 4</Location><IsMeeting>true</IsMeeting><IsRecurring>false</IsRecurring><IsException>false</IsException><IsReminderSet>true</IsReminderSet><IsPrivate>false</IsPrivate></CalendarEventDetails>)";
  std::string alice = success(
      view_type("DetailedMerged") + R"(<MergedFreeBusy xmlns="http://schemas.microsoft.com/exchange/services/2006/types">0022</MergedFreeBusy>)" +
      events(event("2026-11-23T10:00:00", "2026-11-23T11:00:00", "Busy", details) +
             event("2026-11-23T08:00:00", "2026-11-23T09:30:00", "Tentative")) +
      R"(<WorkingHours xmlns="http://schemas.microsoft.com/exchange/services/2006/types"><TimeZone><Bias>-60</Bias><StandardTime><Bias>0</Bias><Time>03:00:00</Time><DayOrder>5</DayOrder><Month>10</Month><DayOfWeek>Sunday</DayOfWeek></StandardTime><DaylightTime><Bias>-60</Bias><Time>02:00:00</Time><DayOrder>5</DayOrder><Month>3</Month><DayOfWeek>Sunday</DayOfWeek></DaylightTime></TimeZone><WorkingPeriodArray><WorkingPeriod><DayOfWeek>Monday Tuesday Wednesday Thursday Friday</DayOfWeek><StartTimeInMinutes>480</StartTimeInMinutes><EndTimeInMinutes>1020</EndTimeInMinutes></WorkingPeriod></WorkingPeriodArray></WorkingHours>)");
  // Exchange 2007 wrote offsets; the downgraded view says FreeBusy.
  std::string bob = success(view_type("FreeBusy") + events(event("2026-11-23T06:00:00-07:00", "2026-11-23T07:00:00-07:00", "OOF")));
  auto doc = parse(answer(alice + bob + not_found("nobody@corp.example")));
  auto r = parse_availability(doc, q);
  REQUIRE(r);
  REQUIRE(r->size() == 3);
  const auto& a = (*r)[0];
  CHECK_FALSE(a.error);
  CHECK(a.returned_view == view::detailed_merged);
  CHECK(a.merged == "0022");
  REQUIRE(a.events.size() == 2);
  CHECK(a.events[0].start == at("2026-11-23T08:00:00Z"));  // sorted by start
  CHECK(a.events[0].busy == busy_type::tentative);
  CHECK_FALSE(a.events[0].details);
  CHECK(a.events[1].end == at("2026-11-23T11:00:00Z"));
  REQUIRE(a.events[1].details);
  CHECK(a.events[1].details->subject == "Design & review");
  CHECK(a.events[1].details->location == "Room 4");
  CHECK(a.events[1].details->id == "AAMk1");
  CHECK(a.events[1].details->is_meeting);
  CHECK(a.events[1].details->is_reminder_set);
  CHECK_FALSE(a.events[1].details->is_private);
  REQUIRE(a.hours);
  CHECK(a.hours->bias_minutes == -60);
  REQUIRE(a.hours->periods.size() == 1);
  CHECK(a.hours->periods[0].days.size() == 5);
  CHECK(a.hours->periods[0].days[4] == "Friday");
  CHECK(a.hours->periods[0].start_minutes == 480);

  const auto& b = (*r)[1];
  CHECK(b.returned_view == view::free_busy);
  REQUIRE(b.events.size() == 1);
  CHECK(b.events[0].start == at("2026-11-23T13:00:00Z"));
  CHECK(b.events[0].busy == busy_type::oof);

  const auto& n = (*r)[2];
  CHECK(n.error == ews_errc::mail_recipient_not_found);
  CHECK(n.error_text.find("ErrorMailRecipientNotFound: Unable to resolve") == 0);
  CHECK(n.events.empty());
}

TEST_CASE("ews: availability answers that do not match the request are refused", "[ews]") {
  auto q = query({"alice@corp.example", "bob@corp.example"});
  std::string ok = success(view_type("FreeBusy") + events(event("2026-11-23T10:00:00", "2026-11-23T11:00:00", "Busy")));
  auto parsed = [&](const std::string& body) { return parse_availability(parse(answer(body)), q); };
  CHECK(parsed(ok + ok));
  // One answer for two mailboxes.
  CHECK(parsed(ok).error() == ews_errc::bad_response);
  // Three answers for two.
  CHECK(parsed(ok + ok + ok).error() == ews_errc::bad_response);
  // Bad busy type, bad time, end before start, merged digits out of range, no view at all.
  CHECK(parsed(ok + success(view_type("FreeBusy") + events(event("2026-11-23T10:00:00", "2026-11-23T11:00:00", "Sleeping"))))
            .error() == ews_errc::bad_response);
  CHECK(parsed(ok + success(view_type("FreeBusy") + events(event("2026-11-31T10:00:00", "2026-11-23T11:00:00", "Busy"))))
            .error() == ews_errc::bad_response);
  CHECK(parsed(ok + success(view_type("FreeBusy") + events(event("2026-11-23T12:00:00", "2026-11-23T11:00:00", "Busy"))))
            .error() == ews_errc::bad_response);
  CHECK(parsed(ok + success(view_type("FreeBusyMerged") +
                            R"(<MergedFreeBusy xmlns="http://schemas.microsoft.com/exchange/services/2006/types">02x</MergedFreeBusy>)"))
            .error() == ews_errc::bad_response);
  CHECK(parsed(ok + R"(<FreeBusyResponse><ResponseMessage ResponseClass="Success"/></FreeBusyResponse>)").error() ==
        ews_errc::bad_response);
  // Not an availability response at all.
  auto other = parse(R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x/></s:Body></s:Envelope>)");
  CHECK(parse_availability(other, q).error() == ews_errc::bad_response);
}

TEST_CASE("ews: faults carry their response code and back-off hint", "[ews]") {
  auto busy = parse(
      R"(<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorServerBusy</faultcode><faultstring xml:lang="en-US">The server cannot service this request right now. Try again later.</faultstring><detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy</e:ResponseCode><e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">The server cannot service this request right now. Try again later.</e:Message><t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><t:Value Name="BackOffMilliseconds">2750</t:Value></t:MessageXml></detail></s:Fault></s:Body></s:Envelope>)");
  auto f = parse_fault(busy);
  REQUIRE(f);
  CHECK(f->code == ews_errc::server_busy);
  CHECK(f->response_code == "ErrorServerBusy");
  CHECK(f->message.find("Try again later") != std::string::npos);
  REQUIRE(f->back_off);
  CHECK(*f->back_off == 2750ms);
  CHECK(is_retryable(make_error_code(f->code)));

  // A fault with only faultcode/faultstring (no detail): the prefix is dropped.
  auto version = parse(
      R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode xmlns:a="x">a:ErrorInvalidServerVersion</faultcode><faultstring>The specified server version is invalid.</faultstring></s:Fault></s:Body></s:Envelope>)");
  auto v = parse_fault(version);
  REQUIRE(v);
  CHECK(v->code == ews_errc::invalid_server_version);
  CHECK_FALSE(v->back_off);
  CHECK_FALSE(is_retryable(make_error_code(v->code)));
  // An unknown code is kept by name.
  auto odd = parse(
      R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>ErrorSomethingNew</faultcode><faultstring>new</faultstring></s:Fault></s:Body></s:Envelope>)");
  CHECK(parse_fault(odd)->code == ews_errc::other);
  CHECK(parse_fault(odd)->response_code == "ErrorSomethingNew");
  // A success envelope is not a fault, and its version header is read.
  auto ok = parse(answer(""));
  CHECK_FALSE(parse_fault(ok));
  auto sv = parse_server_version(ok);
  REQUIRE(sv);
  CHECK(sv->major == 15);
  CHECK(sv->minor == 1);
  CHECK(sv->build == 2507);
  CHECK(sv->revision == 6);
  CHECK(sv->version == "V2017_07_11");
}

TEST_CASE("datetime: xs:dateTime with and without offsets; invalid dates refused", "[ews][datetime]") {
  CHECK(rt::format_utc(at("2026-11-22T10:00:00Z")) == "2026-11-22T10:00:00Z");
  CHECK(at("2026-11-22T11:00:00+01:00") == at("2026-11-22T10:00:00Z"));
  CHECK(at("2026-11-22T02:00:00-08:00") == at("2026-11-22T10:00:00Z"));
  CHECK(at("2026-11-22T10:00:00.750Z") == at("2026-11-22T10:00:00Z"));
  auto local = rt::parse_datetime("2026-11-22T10:00:00", minutes(60));
  REQUIRE(local);
  CHECK_FALSE(local->had_offset);
  CHECK(local->utc == at("2026-11-22T09:00:00Z"));
  CHECK(rt::format_with_offset(at("2026-11-22T10:00:00Z"), minutes(-330)) == "2026-11-22T04:30:00-05:30");
  CHECK(rt::format_with_offset(at("2026-12-31T23:59:59Z"), minutes(825)) == "2027-01-01T13:44:59+13:45");
  CHECK(rt::format_utc(sys_days(year(1) / 1 / 1)) == "0001-01-01T00:00:00Z");
  CHECK(rt::format_utc(sys_days(year(9999) / 12 / 31) + std::chrono::seconds(86399)) == "9999-12-31T23:59:59Z");
  std::string appended = "x";
  rt::append_with_offset(appended, at("2026-03-29T01:00:00Z"), minutes(120));
  CHECK(appended == "x2026-03-29T03:00:00+02:00");
  CHECK(rt::format_utc(sys_days(year(1969) / 12 / 31) + std::chrono::seconds(86399)) == "1969-12-31T23:59:59Z");
  // The hand-written civil conversion agrees with <chrono> across four centuries.
  for (auto d = sys_days(year(1800) / 1 / 1); d < sys_days(year(2300) / 1 / 1); d += std::chrono::days(13)) {
    const year_month_day ymd{d};
    char want[16];
    std::snprintf(want, sizeof want, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()));
    REQUIRE(rt::format_utc(d).substr(0, 10) == want);
  }
  // Every second of a day, formatted and parsed back.
  for (int sec = 0; sec < 86400; sec += 7) {
    const auto t = at("2026-11-22T00:00:00Z") + std::chrono::seconds(sec);
    auto back = rt::parse_datetime(rt::format_with_offset(t, minutes(-90)));
    REQUIRE(back);
    REQUIRE(back->utc == t);
  }
  CHECK(at("2028-02-29T00:00:00Z") == sys_days(year(2028) / 2 / 29));
  for (const char* bad : {"", "2026-11-22", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-11-22T25:00:00Z",
                          "2026-11-22T10:60:00Z", "2026-11-22T10:00:00+25:00", "2026-11-22T10:00:00Zjunk",
                          "+2026-11-22T10:00:00Z", "2026-11-22T10:00:00.Z"}) {
    INFO(bad);
    CHECK_FALSE(rt::parse_datetime(bad));
  }
}
