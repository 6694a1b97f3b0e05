// GetUserAvailability and GetServerTimeZones (ews.md sections 1 and 5.1).
#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "sim/operations.hpp"

namespace calgate::sim {

namespace {

enum class view { merged_only, free_busy, free_busy_merged, detailed, detailed_merged };

constexpr std::pair<view, std::string_view> view_names[] = {
    {view::merged_only, "MergedOnly"}, {view::free_busy, "FreeBusy"},           {view::free_busy_merged, "FreeBusyMerged"},
    {view::detailed, "Detailed"},      {view::detailed_merged, "DetailedMerged"},
};

std::string_view view_name(view v) {
  for (const auto& [k, n] : view_names)
    if (k == v) return n;
  return "FreeBusy";
}

bool has_merged(view v) { return v == view::merged_only || v == view::free_busy_merged || v == view::detailed_merged; }
bool has_details(view v) { return v == view::detailed || v == view::detailed_merged; }

int parse_int_field(const xml::element& parent, std::string_view local, std::string_view ns = ns_t) {
  const std::string_view text = trim(require(parent, local, ns).text);
  int v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size())
    schema_error("The '" + std::string(local) + "' element is invalid - The value '" + std::string(text) +
                 "' is invalid according to its datatype 'http://www.w3.org/2001/XMLSchema:int'.");
  return v;
}

// "hh:mm:ss" (or "hh:mm") -> minutes after midnight.
int parse_time_of_day(std::string_view s) {
  s = trim(s);
  int h = 0, m = 0, sec = 0;
  bool ok = s.size() >= 5 && s[2] == ':';
  if (ok) {
    auto r1 = std::from_chars(s.data(), s.data() + 2, h);
    auto r2 = std::from_chars(s.data() + 3, s.data() + 5, m);
    ok = r1.ec == std::errc{} && r2.ec == std::errc{} && r1.ptr == s.data() + 2 && r2.ptr == s.data() + 5;
    if (ok && s.size() == 8) {
      auto r3 = std::from_chars(s.data() + 6, s.data() + 8, sec);
      ok = s[5] == ':' && r3.ec == std::errc{} && r3.ptr == s.data() + 8;
    } else if (ok) {
      ok = s.size() == 5;
    }
  }
  if (!ok || h > 23 || m > 59 || sec > 59) schema_error("The time of day '" + std::string(s) + "' is invalid.");
  return h * 60 + m;
}

void parse_period(const xml::element& p, transition_rule& rule, int& bias) {
  bias = parse_int_field(p, "Bias");
  rule.minutes = parse_time_of_day(require(p, "Time").text);
  rule.day_order = parse_int_field(p, "DayOrder");
  rule.month = parse_int_field(p, "Month");
  auto dow = parse_weekday(t_text(p, "DayOfWeek"));
  if (!dow) schema_error("The 'DayOfWeek' element is invalid: '" + std::string(t_text(p, "DayOfWeek")) + "'.");
  rule.day_of_week = *dow;
  if (rule.month < 0 || rule.month > 12 || (rule.month != 0 && (rule.day_order < 1 || rule.day_order > 5)))
    schema_error("The time zone transition (month " + std::to_string(rule.month) + ", day order " +
                 std::to_string(rule.day_order) + ") is invalid.");
}

void write_rule(xml::writer& w, std::string_view qname, int bias, const transition_rule& r) {
  w.open(qname);
  w.leaf("t:Bias", std::to_string(bias));
  w.leaf("t:Time", format_time_of_day(r.minutes));
  w.leaf("t:DayOrder", std::to_string(r.month == 0 ? 0 : r.day_order));
  w.leaf("t:Month", std::to_string(r.month));
  w.leaf("t:DayOfWeek", weekday_name(r.day_of_week));
  w.close();
}

std::string days_list(const std::vector<int>& days) {
  std::string out;
  for (int d : days) {
    if (!out.empty()) out += ' ';
    out += weekday_name(d);
  }
  return out;
}

zone_rules requester_zone(const ews_request& r) {
  if (const xml::element* tz = r.body->child(ns_t, "TimeZone")) return parse_serializable_time_zone(*tz);
  if (r.time_zone_context) {
    const xml::element& def = require(*r.time_zone_context, "TimeZoneDefinition");
    const std::string_view id = trim(def.attr("Id"));
    if (const windows_zone* z = find_windows_zone(id)) return z->rules;
    throw ews_fault("ErrorTimeZone", "The time zone '" + std::string(id) + "' in the TimeZoneContext header is not known.");
  }
  if (is_exchange2007(r.version))
    schema_error("The element 'GetUserAvailabilityRequest' in namespace '" + std::string(ns_m) +
                 "' has invalid child element 'MailboxDataArray'. List of possible elements expected: 'TimeZone' in "
                 "namespace '" + std::string(ns_t) + "'.");
  return utc_zone().rules;
}

instant parse_window_time(const xml::element& tw, std::string_view local, const zone_rules& z) {
  const std::string_view text = trim(require(tw, local).text);
  auto t = parse_date_time(text);
  if (!t)
    schema_error("The '" + std::string(local) + "' element is invalid - The value '" + std::string(text) +
                 "' is invalid according to its datatype 'http://www.w3.org/2001/XMLSchema:dateTime'.");
  // An explicit offset is an exact instant; otherwise the digits are the requester's wall clock.
  return t->offset_min ? t->utc() : z.to_utc(t->value);
}

std::string format_event_time(instant t, const zone_rules& z, const settings& cfg) {
  return cfg.event_times_with_offset ? format_with_offset(t, z) : format_wall_clock(z.to_local(t));
}

void write_mailbox_error(xml::writer& w, std::string_view code, std::string_view text, std::string_view exception_type,
                         std::string_view exception_code, const settings& cfg) {
  w.open("m:FreeBusyResponse");
  open_response_message(w, "m:ResponseMessage", "Error", code, text);
  w.open("m:MessageXml");
  w.open("e:ExceptionType").attr("xmlns:e", ns_e).text(exception_type).close();
  if (!exception_code.empty()) w.open("e:ExceptionCode").attr("xmlns:e", ns_e).text(exception_code).close();
  w.open("e:ExceptionServerName").attr("xmlns:e", ns_e).text(cfg.ntlm_computer).close();
  w.close();  // MessageXml
  w.close();  // ResponseMessage
  w.open("m:FreeBusyView").leaf("t:FreeBusyViewType", "None").close();
  w.close();  // FreeBusyResponse
}

struct window {
  instant start = 0, end = 0;
  int interval_min = 30;
};

std::string merged_digits(const mailbox& m, const window& win) {
  const std::int64_t step = std::int64_t{win.interval_min} * 60;
  const std::size_t n = static_cast<std::size_t>((win.end - win.start + step - 1) / step);
  std::string out(n, m.publishes_free_busy ? '0' : '4');
  if (!m.publishes_free_busy) return out;
  for (const auto& ev : m.events) {
    if (ev.end <= win.start || ev.start >= win.end || ev.end <= ev.start) continue;
    const char d = busy_digit(ev.busy);
    if (d == '0') continue;
    const std::int64_t first = std::max<std::int64_t>(0, (ev.start - win.start) / step);
    const std::int64_t last = std::min<std::int64_t>(static_cast<std::int64_t>(n), (ev.end - win.start + step - 1) / step);
    for (std::int64_t i = first; i < last; ++i) {
      char& slot = out[static_cast<std::size_t>(i)];
      if (d > slot) slot = d;
    }
  }
  return out;
}

void write_event_details(xml::writer& w, const calendar_event& ev, const effective_access& acc) {
  // Private items keep their secrets from everyone but the owner (ews.md 1.2: reduced details).
  const bool hide = ev.is_private && !acc.owner;
  w.open("t:CalendarEventDetails");
  if ((acc.owner || acc.level == access_level::reviewer) && !hide) w.leaf("t:ID", ev.item_id);
  if (!hide && !ev.subject.empty()) w.leaf("t:Subject", ev.subject);
  if (!hide && !ev.location.empty()) w.leaf("t:Location", ev.location);
  w.leaf("t:IsMeeting", ev.is_meeting ? "true" : "false");
  w.leaf("t:IsRecurring", ev.is_recurring ? "true" : "false");
  w.leaf("t:IsException", ev.is_exception ? "true" : "false");
  w.leaf("t:IsReminderSet", ev.reminder ? "true" : "false");
  w.leaf("t:IsPrivate", ev.is_private ? "true" : "false");
  w.close();
}

void write_mailbox_view(xml::writer& w, const mailbox& m, const effective_access& acc, view requested,
                        const window& win, const zone_rules& requester, const settings& cfg) {
  view v = requested;
  if (!acc.owner && acc.level == access_level::freebusy) {
    // Silent downgrade: the returned view type is what the caller may see.
    if (v == view::detailed) v = view::free_busy;
    if (v == view::detailed_merged) v = view::free_busy_merged;
  }
  w.open("m:FreeBusyResponse");
  open_response_message(w, "m:ResponseMessage", "Success");
  w.close();
  w.open("m:FreeBusyView");
  w.leaf("t:FreeBusyViewType", view_name(v));
  if (has_merged(v)) w.leaf("t:MergedFreeBusy", merged_digits(m, win));
  if (v != view::merged_only && m.publishes_free_busy) {
    bool any = false;
    for (const auto& ev : m.events) {
      const bool overlaps = ev.start < win.end && (ev.end > win.start || (ev.end == ev.start && ev.start >= win.start));
      if (!overlaps) continue;
      if (!any) w.open("t:CalendarEventArray");
      any = true;
      w.open("t:CalendarEvent");
      w.leaf("t:StartTime", format_event_time(ev.start, requester, cfg));
      w.leaf("t:EndTime", format_event_time(ev.end, requester, cfg));
      w.leaf("t:BusyType", busy_name(ev.busy));
      if (has_details(v)) write_event_details(w, ev, acc);
      w.close();
    }
    if (any) w.close();
  }
  if (v != view::merged_only) {
    w.open("t:WorkingHours");
    write_serializable_time_zone(w, "t:TimeZone", m.zone->rules);
    w.open("t:WorkingPeriodArray");
    for (const auto& p : m.working_hours) {
      w.open("t:WorkingPeriod");
      w.leaf("t:DayOfWeek", days_list(p.days));
      w.leaf("t:StartTimeInMinutes", std::to_string(p.start_minutes));
      w.leaf("t:EndTimeInMinutes", std::to_string(p.end_minutes));
      w.close();
    }
    w.close();
    w.close();
  }
  w.close();  // FreeBusyView
  w.close();  // FreeBusyResponse
}

std::string_view per_mailbox_text(std::string_view code) {
  if (code == "ErrorFreeBusyGenerationFailed") return "Unable to generate free/busy data for the mailbox.";
  if (code == "ErrorProxyRequestProcessingFailed")
    return "The remote server returned an error: (404) Not Found.";
  if (code == "ErrorServerBusy") return server_busy_text;
  return "The free/busy request for this mailbox failed.";
}

}  // namespace

effective_access access_for(const mailbox& m, const caller& who) {
  effective_access out;
  if (!who.mailbox.empty()) {
    const std::string own = lower(who.mailbox);
    bool is_owner = lower(m.address) == own;
    for (const auto& a : m.aliases) is_owner = is_owner || lower(a) == own;
    if (is_owner) {
      out.owner = true;
      out.level = access_level::reviewer;
      return out;
    }
  }
  out.level = m.access;
  if (!who.login.empty()) {
    if (auto it = m.access_by_user.find(lower(who.login)); it != m.access_by_user.end()) {
      out.level = it->second;
      return out;
    }
  }
  if (!who.mailbox.empty()) {
    if (auto it = m.access_by_user.find(lower(who.mailbox)); it != m.access_by_user.end()) out.level = it->second;
  }
  return out;
}

zone_rules parse_serializable_time_zone(const xml::element& tz) {
  zone_rules z;
  z.bias = parse_int_field(tz, "Bias");
  parse_period(require(tz, "StandardTime"), z.to_standard, z.standard_bias);
  parse_period(require(tz, "DaylightTime"), z.to_daylight, z.daylight_bias);
  if (z.bias < -24 * 60 || z.bias > 24 * 60 || std::abs(z.standard_bias) > 24 * 60 || std::abs(z.daylight_bias) > 24 * 60)
    schema_error("The time zone bias is out of range.");
  return z;
}

void write_serializable_time_zone(xml::writer& w, std::string_view qname, const zone_rules& z) {
  w.open(qname);
  w.leaf("t:Bias", std::to_string(z.bias));
  if (z.has_dst()) {
    write_rule(w, "t:StandardTime", z.standard_bias, z.to_standard);
    write_rule(w, "t:DaylightTime", z.daylight_bias, z.to_daylight);
  } else {
    // Zones without daylight saving time: zero transitions, as Exchange writes them.
    const transition_rule none{};
    write_rule(w, "t:StandardTime", 0, none);
    write_rule(w, "t:DaylightTime", 0, none);
  }
  w.close();
}

void write_time_zone_definition(xml::writer& w, const windows_zone& z, bool full) {
  w.open("t:TimeZoneDefinition").attr("Id", z.id).attr("Name", z.name);
  if (!full) {
    w.close();
    return;
  }
  const std::string base = "trule:Microsoft/Registry/" + std::string(z.id) + "/";
  const std::string std_id = base + "Standard", dst_id = base + "Daylight";
  const zone_rules& r = z.rules;
  w.open("t:Periods");
  w.open("t:Period").attr("Bias", format_bias_duration(r.bias + r.standard_bias)).attr("Name", "Standard").attr("Id", std_id).close();
  if (r.has_dst())
    w.open("t:Period").attr("Bias", format_bias_duration(r.bias + r.daylight_bias)).attr("Name", "Daylight").attr("Id", dst_id).close();
  w.close();
  w.open("t:TransitionsGroups").open("t:TransitionsGroup").attr("Id", "0");
  if (r.has_dst()) {
    auto transition = [&](const transition_rule& t, const std::string& to) {
      w.open("t:RecurringDayTransition");
      w.open("t:To").attr("Kind", "Period").text(to).close();
      w.leaf("t:TimeOffset", format_bias_duration(t.minutes));
      w.leaf("t:Month", std::to_string(t.month));
      w.leaf("t:DayOfWeek", weekday_name(t.day_of_week));
      w.leaf("t:Occurrence", std::to_string(t.day_order >= 5 ? -1 : t.day_order));
      w.close();
    };
    transition(r.to_daylight, dst_id);
    transition(r.to_standard, std_id);
  } else {
    w.open("t:Transition").open("t:To").attr("Kind", "Period").text(std_id).close().close();
  }
  w.close().close();
  w.open("t:Transitions").open("t:Transition").open("t:To").attr("Kind", "Group").text("0").close().close().close();
  w.close();
}

std::string get_user_availability(const fixture& fx, const caller& who, const ews_request& r) {
  const settings& cfg = fx.cfg;
  const xml::element& body = *r.body;
  const zone_rules zone = requester_zone(r);

  const xml::element& array = require(body, "MailboxDataArray", ns_m);
  const auto entries = array.all(ns_t, "MailboxData");
  if (entries.empty()) throw ews_fault("ErrorMailboxDataArrayEmpty", "MailboxDataArray must contain at least one entry.");
  if (entries.size() > cfg.max_mailboxes)
    throw ews_fault("ErrorMailboxDataArrayTooBig",
                    "There are too many target mailboxes requested. The allowed size = " + std::to_string(cfg.max_mailboxes) +
                        "; the actual size = " + std::to_string(entries.size()) + ".");
  struct wanted {
    std::string address;
  };
  std::vector<wanted> mailboxes;
  mailboxes.reserve(entries.size());
  for (const xml::element* md : entries) {
    const xml::element& email = require(*md, "Email");
    const std::string_view address = trim(require(email, "Address").text);
    const std::string_view attendee = t_text(*md, "AttendeeType");
    require(*md, "AttendeeType");
    if (attendee != "Organizer" && attendee != "Required" && attendee != "Optional" && attendee != "Room" &&
        attendee != "Resource")
      schema_error("The 'AttendeeType' element is invalid - The value '" + std::string(attendee) +
                   "' is invalid according to its datatype 'MeetingAttendeeType'.");
    if (const xml::element* ex = md->child(ns_t, "ExcludeConflicts")) {
      bool b = false;
      if (!parse_bool(ex->text, b)) schema_error("The 'ExcludeConflicts' element is not a valid xs:boolean.");
    }
    mailboxes.push_back({std::string(address)});
  }

  const xml::element* opts = body.child(ns_t, "FreeBusyViewOptions");
  if (!opts && body.child(ns_t, "SuggestionsViewOptions"))
    throw ews_fault("ErrorInvalidRequest", "The simulator does not implement meeting suggestions (SuggestionsViewOptions).");
  xml::writer w;
  open_envelope(w, cfg);
  open_response(w, "m:GetUserAvailabilityResponse");
  if (!opts) return close_envelope(w);  // nothing asked: no FreeBusyResponseArray

  const xml::element& tw = require(*opts, "TimeWindow");
  window win;
  win.start = parse_window_time(tw, "StartTime", zone);
  win.end = parse_window_time(tw, "EndTime", zone);
  if (opts->child(ns_t, "MergedFreeBusyIntervalInMinutes"))
    win.interval_min = parse_int_field(*opts, "MergedFreeBusyIntervalInMinutes");
  view requested = view::free_busy;
  if (const xml::element* rv = opts->child(ns_t, "RequestedView")) {
    const std::string_view name = trim(rv->text);
    bool found = false;
    for (const auto& [k, n] : view_names)
      if (n == name) {
        requested = k;
        found = true;
      }
    if (!found && name == "None") throw ews_fault("ErrorInvalidRequest", "The requested view 'None' is only valid in responses.");
    if (!found)
      schema_error("The 'RequestedView' element is invalid - The value '" + std::string(name) +
                   "' is invalid according to its datatype 'FreeBusyViewType'.");
  }
  if (win.interval_min < cfg.min_interval || win.interval_min > cfg.max_interval)
    throw ews_fault("ErrorInvalidMergedFreeBusyInterval",
                    "The MergedFreeBusyIntervalInMinutes value must be between " + std::to_string(cfg.min_interval) +
                        " and " + std::to_string(cfg.max_interval) + ".");
  if (win.start >= win.end)
    throw ews_fault("ErrorInvalidTimeInterval", "The time duration specified for FreeBusyViewOptions.TimeWindow is invalid.");
  if (win.end - win.start > std::int64_t{cfg.max_window_days} * 86400)
    throw ews_fault("ErrorTimeIntervalTooBig", "The time interval specified in the request exceeds the allowed maximum of " +
                                                   std::to_string(cfg.max_window_days) + " days.");

  w.open("m:FreeBusyResponseArray");
  for (const auto& want : mailboxes) {
    const mailbox* m = fx.find(want.address);
    if (!m) {
      write_mailbox_error(w, "ErrorMailRecipientNotFound",
                          "Unable to resolve e-mail address " + want.address + " to an Active Directory object.",
                          "Microsoft.Exchange.InfoWorker.Common.Availability.MailRecipientNotFoundException", "5009", cfg);
      continue;
    }
    const effective_access acc = access_for(*m, who);
    if (!m->fail_with.empty()) {
      write_mailbox_error(w, m->fail_with, per_mailbox_text(m->fail_with),
                          "Microsoft.Exchange.InfoWorker.Common.Availability.AvailabilityException", "", cfg);
      continue;
    }
    if (acc.level == access_level::none) {
      write_mailbox_error(w, "ErrorNoFreeBusyAccess",
                          "The requester doesn't have permission to read the free/busy information of " + m->address + ".",
                          "Microsoft.Exchange.InfoWorker.Common.Availability.NoFreeBusyAccessException", "", cfg);
      continue;
    }
    write_mailbox_view(w, *m, acc, requested, win, zone, cfg);
  }
  w.close();  // FreeBusyResponseArray
  return close_envelope(w);
}

std::string get_server_time_zones(const fixture& fx, const ews_request& r) {
  bool full = true;
  if (r.body->has_attr("ReturnFullTimeZoneData") && !parse_bool(r.body->attr("ReturnFullTimeZoneData"), full))
    schema_error("The 'ReturnFullTimeZoneData' attribute is not a valid xs:boolean.");
  std::vector<const windows_zone*> zones;
  std::string unknown;
  if (const xml::element* ids = r.body->child(ns_m, "Ids")) {
    for (const xml::element* id : ids->all(ns_t, "Id")) {
      const std::string_view name = trim(id->text);
      if (const windows_zone* z = find_windows_zone(name)) zones.push_back(z);
      else if (unknown.empty()) unknown = std::string(name);
    }
  } else {
    for (const auto& z : windows_zones()) zones.push_back(&z);
  }
  xml::writer w;
  open_envelope(w, fx.cfg);
  open_response(w, "m:GetServerTimeZonesResponse");
  w.open("m:ResponseMessages");
  if (!unknown.empty()) {
    open_response_message(w, "m:GetServerTimeZonesResponseMessage", "Error", "ErrorTimeZone",
                          "The time zone '" + unknown + "' is not known (this server knows: " + windows_zone_list() + ").");
    w.open("m:TimeZoneDefinitions").close();
  } else {
    open_response_message(w, "m:GetServerTimeZonesResponseMessage", "Success");
    w.open("m:TimeZoneDefinitions");
    for (const windows_zone* z : zones) write_time_zone_definition(w, *z, full);
    w.close();
  }
  return close_envelope(w);
}

}  // namespace calgate::sim
