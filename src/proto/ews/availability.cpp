#include "proto/ews/availability.hpp"

#include <algorithm>
#include <charconv>

#include "proto/ews/soap.hpp"
#include "proto/xml/writer.hpp"
#include "rt/datetime.hpp"

namespace calgate::proto::ews {

namespace {

std::string_view attendee_name(attendee_type t) {
  switch (t) {
    case attendee_type::required: return "Required";
    case attendee_type::optional: return "Optional";
    case attendee_type::organizer: return "Organizer";
    case attendee_type::room: return "Room";
    case attendee_type::resource: return "Resource";
  }
  return "Required";
}

// A fixed UTC zone: both transitions present (the schema requires them), no bias.
void utc_zone(xml::writer& w) {
  w.open("t:TimeZone");
  w.leaf("t:Bias", "0");
  for (const char* part : {"t:StandardTime", "t:DaylightTime"}) {
    w.open(part);
    w.leaf("t:Bias", "0");
    w.leaf("t:Time", "00:00:00");
    w.leaf("t:DayOrder", "1");
    w.leaf("t:Month", "1");
    w.leaf("t:DayOfWeek", "Sunday");
    w.close();
  }
  w.close();
}

bool to_bool(std::string_view s) { return s == "true" || s == "1"; }

int to_int(std::string_view s, int fallback = 0) {
  int v = fallback;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc{} ? v : fallback;
}

}  // namespace

std::string availability_body(const availability_query& q) {
  xml::writer w;
  w.open("m:GetUserAvailabilityRequest");
  utc_zone(w);
  w.open("m:MailboxDataArray");
  for (const auto& mb : q.mailboxes) {
    w.open("t:MailboxData");
    w.open("t:Email");
    w.leaf("t:Address", mb.address);
    w.leaf("t:RoutingType", "SMTP");
    w.close();
    w.leaf("t:AttendeeType", attendee_name(mb.type));
    w.leaf("t:ExcludeConflicts", "false");
    w.close();
  }
  w.close();
  w.open("t:FreeBusyViewOptions");
  w.open("t:TimeWindow");
  w.leaf("t:StartTime", rt::format_utc(q.start));
  w.leaf("t:EndTime", rt::format_utc(q.end));
  w.close();
  w.leaf("t:MergedFreeBusyIntervalInMinutes", std::to_string(q.merged_interval_minutes));
  w.leaf("t:RequestedView", view_name(q.requested));
  w.close();
  w.close();
  return w.take();
}

rt::result<std::vector<mailbox_availability>> parse_availability(const xml::element& env,
                                                                 const availability_query& q) {
  const xml::element* resp = body_child(env);
  if (!resp || !resp->is(ns_messages, "GetUserAvailabilityResponse")) return make_error_code(ews_errc::bad_response);
  const xml::element* array = resp->child(ns_messages, "FreeBusyResponseArray");
  if (!array) return make_error_code(ews_errc::bad_response);
  auto items = array->all(ns_messages, "FreeBusyResponse");
  if (items.size() != q.mailboxes.size()) return make_error_code(ews_errc::bad_response);
  std::vector<mailbox_availability> out;
  out.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const xml::element& fb = *items[i];
    mailbox_availability a;
    a.address = q.mailboxes[i].address;
    if (const xml::element* rm = fb.child(ns_messages, "ResponseMessage")) {
      std::string_view cls = rm->attr("ResponseClass");
      if (cls == "Error") {
        std::string_view code = rm->child_text(ns_messages, "ResponseCode");
        a.error = make_error_code(from_response_code(code));
        a.error_text = std::string(code);
        std::string_view text = rm->child_text(ns_messages, "MessageText");
        if (!text.empty()) a.error_text += ": " + std::string(text);
      }
    }
    if (const xml::element* v = fb.child(ns_messages, "FreeBusyView")) {
      if (!parse_view(v->child_text(ns_types, "FreeBusyViewType"), a.returned_view)) a.returned_view = view::none;
      a.merged = std::string(v->child_text(ns_types, "MergedFreeBusy"));
      for (char c : a.merged)
        if (c < '0' || c > '4') return make_error_code(ews_errc::bad_response);
      if (const xml::element* events = v->child(ns_types, "CalendarEventArray")) {
        for (const xml::element* ev : events->all(ns_types, "CalendarEvent")) {
          calendar_event e;
          // Offset-less times are in the request's zone, which is UTC.
          auto s = rt::parse_datetime(ev->child_text(ns_types, "StartTime"));
          auto en = rt::parse_datetime(ev->child_text(ns_types, "EndTime"));
          if (!s || !en || !parse_busy(ev->child_text(ns_types, "BusyType"), e.busy))
            return make_error_code(ews_errc::bad_response);
          e.start = s->utc;
          e.end = en->utc;
          if (e.end < e.start) return make_error_code(ews_errc::bad_response);
          if (const xml::element* d = ev->child(ns_types, "CalendarEventDetails")) {
            event_details det;
            det.id = std::string(d->child_text(ns_types, "ID"));
            det.subject = std::string(d->child_text(ns_types, "Subject"));
            det.location = std::string(d->child_text(ns_types, "Location"));
            det.is_meeting = to_bool(d->child_text(ns_types, "IsMeeting"));
            det.is_recurring = to_bool(d->child_text(ns_types, "IsRecurring"));
            det.is_exception = to_bool(d->child_text(ns_types, "IsException"));
            det.is_reminder_set = to_bool(d->child_text(ns_types, "IsReminderSet"));
            det.is_private = to_bool(d->child_text(ns_types, "IsPrivate"));
            e.details = std::move(det);
          }
          a.events.push_back(std::move(e));
        }
        std::stable_sort(a.events.begin(), a.events.end(),
                         [](const calendar_event& x, const calendar_event& y) { return x.start < y.start; });
      }
      if (const xml::element* wh = v->child(ns_types, "WorkingHours")) {
        working_hours h;
        if (const xml::element* tz = wh->child(ns_types, "TimeZone")) h.bias_minutes = to_int(tz->child_text(ns_types, "Bias"));
        if (const xml::element* arr = wh->child(ns_types, "WorkingPeriodArray")) {
          for (const xml::element* p : arr->all(ns_types, "WorkingPeriod")) {
            working_period wp;
            std::string_view days = p->child_text(ns_types, "DayOfWeek");
            while (!days.empty()) {
              std::size_t sp = days.find(' ');
              if (sp != 0) wp.days.emplace_back(days.substr(0, sp));
              if (sp == std::string_view::npos) break;
              days.remove_prefix(sp + 1);
            }
            wp.start_minutes = to_int(p->child_text(ns_types, "StartTimeInMinutes"));
            wp.end_minutes = to_int(p->child_text(ns_types, "EndTimeInMinutes"));
            h.periods.push_back(std::move(wp));
          }
        }
        a.hours = std::move(h);
      }
    } else if (!a.error) {
      return make_error_code(ews_errc::bad_response);
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace calgate::proto::ews
