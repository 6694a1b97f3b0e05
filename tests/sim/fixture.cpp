#include "sim/fixture.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <set>

#include "rt/base64.hpp"
#include "rt/text.hpp"

namespace calgate::sim {

std::string lower(std::string_view s) { return rt::ascii_lower(s); }

std::string_view busy_name(busy_type b) noexcept {
  switch (b) {
    case busy_type::free: return "Free";
    case busy_type::tentative: return "Tentative";
    case busy_type::busy: return "Busy";
    case busy_type::oof: return "OOF";
    case busy_type::working_elsewhere: return "WorkingElsewhere";
    case busy_type::no_data: return "NoData";
  }
  return "Busy";
}

std::optional<busy_type> parse_busy(std::string_view s) noexcept {
  for (busy_type b : {busy_type::free, busy_type::tentative, busy_type::busy, busy_type::oof,
                      busy_type::working_elsewhere, busy_type::no_data})
    if (busy_name(b) == s) return b;
  return std::nullopt;
}

char busy_digit(busy_type b) noexcept {
  switch (b) {
    case busy_type::tentative: return '1';
    case busy_type::busy: return '2';
    case busy_type::oof: return '3';
    case busy_type::no_data: return '4';
    default: return '0';  // free, working elsewhere
  }
}

std::string_view access_name(access_level a) noexcept {
  switch (a) {
    case access_level::none: return "none";
    case access_level::freebusy: return "freebusy";
    case access_level::limited: return "limited";
    case access_level::reviewer: return "reviewer";
  }
  return "none";
}

std::optional<access_level> parse_access(std::string_view s) noexcept {
  for (access_level a : {access_level::none, access_level::freebusy, access_level::limited, access_level::reviewer})
    if (access_name(a) == s) return a;
  return std::nullopt;
}

std::string_view scheme_name(auth_scheme s) noexcept {
  switch (s) {
    case auth_scheme::basic: return "Basic";
    case auth_scheme::ntlm: return "NTLM";
    case auth_scheme::bearer: return "Bearer";
  }
  return "Basic";
}

const mailbox* fixture::find(std::string_view address) const {
  auto it = by_address.find(lower(address));
  return it == by_address.end() ? nullptr : &mailboxes[it->second];
}

void fixture::index() {
  by_address.clear();
  for (std::size_t i = 0; i < mailboxes.size(); ++i) {
    by_address.emplace(lower(mailboxes[i].address), i);
    for (const auto& a : mailboxes[i].aliases) by_address.emplace(lower(a), i);
  }
}

namespace {

std::string item_id(std::string_view mailbox, std::size_t index) {
  return rt::base64_encode("SIMI|" + lower(mailbox) + "|" + std::to_string(index));
}

void finish_events(mailbox& m) {
  std::stable_sort(m.events.begin(), m.events.end(),
                   [](const calendar_event& a, const calendar_event& b) { return a.start < b.start; });
  for (std::size_t i = 0; i < m.events.size(); ++i) m.events[i].item_id = item_id(m.address, i);
}

std::vector<int> weekdays() { return {1, 2, 3, 4, 5}; }

}  // namespace

void fixture::generate(const generator_options& g) {
  // A small deterministic generator (splitmix-style) so every run sees the same calendars.
  auto mix = [](std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  };
  static constexpr busy_type kinds[] = {busy_type::busy, busy_type::busy, busy_type::tentative, busy_type::oof,
                                        busy_type::busy, busy_type::free, busy_type::working_elsewhere};
  mailboxes.reserve(mailboxes.size() + static_cast<std::size_t>(g.count));
  for (int n = 1; n <= g.count; ++n) {
    char num[16];
    std::snprintf(num, sizeof num, "%05d", n);
    mailbox m;
    m.address = std::string("user") + num + "@" + g.domain;
    m.aliases.push_back(std::string("gen.") + num + "@" + g.domain);
    m.display_name = std::string("Generated User ") + num;
    m.zone = &utc_zone();
    m.working_hours.push_back({weekdays(), 540, 1020});
    m.access = g.access;
    for (int e = 0; e < g.events_per_mailbox; ++e) {
      std::uint64_t r = mix(static_cast<std::uint64_t>(n) * 1000003u + static_cast<std::uint64_t>(e));
      calendar_event ev;
      const int day = static_cast<int>(r % static_cast<std::uint64_t>(std::max(1, g.days)));
      const int slot = static_cast<int>((r >> 16) % 16);        // 08:00 .. 15:30 in half hours
      const int length = 30 * (1 + static_cast<int>((r >> 24) % 4));  // 30 .. 120 minutes
      ev.start = g.start + std::int64_t{day} * 86400 + (8 * 60 + slot * 30) * 60;
      ev.end = ev.start + length * 60;
      ev.busy = kinds[(r >> 32) % (sizeof kinds / sizeof kinds[0])];
      ev.subject = "Generated meeting " + std::to_string(e + 1);
      ev.location = "Room " + std::to_string(1 + (r >> 40) % 20);
      ev.is_meeting = (r >> 48) % 2 == 0;
      m.events.push_back(std::move(ev));
    }
    finish_events(m);
    mailboxes.push_back(std::move(m));
  }
  index();
}

// ---------------------------------------------------------------- loading

namespace {

class loader {
 public:
  explicit loader(std::string path) : path_(std::move(path)) {}
  std::vector<std::string> errors;

  void error(const toml::node* at, std::string_view key, std::string_view msg) {
    std::string where = path_;
    if (at) {
      const auto& src = at->source();
      where += ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column);
    }
    errors.push_back(where + ": " + std::string(key) + ": " + std::string(msg));
  }

  // Reports keys of `t` that are not in `known`.
  void check_keys(const toml::table& t, std::string_view prefix, std::initializer_list<std::string_view> known) {
    for (const auto& [k, v] : t) {
      if (std::find(known.begin(), known.end(), k.str()) == known.end()) {
        // The key's own position (the value's would point past the '=').
        const auto& src = k.source();
        if (src.begin.line > 0)
          errors.push_back(path_ + ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column) + ": " +
                           join(prefix, k.str()) + ": unknown key");
        else
          error(&v, join(prefix, k.str()), "unknown key");
      }
    }
  }

  static std::string join(std::string_view prefix, std::string_view key) {
    return prefix.empty() ? std::string(key) : std::string(prefix) + "." + std::string(key);
  }

  template <class T>
  bool get(const toml::table& t, std::string_view prefix, std::string_view key, T& out) {
    const toml::node* n = t.get(key);
    if (!n) return false;
    if constexpr (std::is_same_v<T, bool>) {
      if (auto v = n->value<bool>()) {
        out = *v;
        return true;
      }
      error(n, join(prefix, key), "expected true or false");
    } else if constexpr (std::is_integral_v<T>) {
      if (auto v = n->value<std::int64_t>()) {
        if (*v < 0 || *v > 1'000'000'000) {
          error(n, join(prefix, key), "out of range");
          return false;
        }
        out = static_cast<T>(*v);
        return true;
      }
      error(n, join(prefix, key), "expected an integer");
    } else {
      if (auto v = n->value<std::string>()) {
        out = *v;
        return true;
      }
      error(n, join(prefix, key), "expected a string");
    }
    return false;
  }

  // A time as text: strings as written, TOML dates and date-times rendered in RFC 3339.
  std::optional<std::string> time_text(const toml::node* n) {
    if (!n) return std::nullopt;
    if (auto s = n->value<std::string>()) return *s;
    char buf[64];
    auto date_str = [&](const toml::date& d) {
      std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", d.year, d.month, d.day);
      return std::string(buf);
    };
    auto time_str = [&](const toml::time& t) {
      std::snprintf(buf, sizeof buf, "%02d:%02d:%02d", t.hour, t.minute, t.second);
      return std::string(buf);
    };
    if (const auto* d = n->as_date()) return date_str(d->get());
    if (const auto* dt = n->as_date_time()) {
      const auto& v = dt->get();
      std::string out = date_str(v.date) + "T" + time_str(v.time);
      if (v.offset) {
        const int m = v.offset->minutes;
        if (m == 0) out += "Z";
        else {
          std::snprintf(buf, sizeof buf, "%c%02d:%02d", m < 0 ? '-' : '+', (m < 0 ? -m : m) / 60, (m < 0 ? -m : m) % 60);
          out += buf;
        }
      }
      return out;
    }
    return std::nullopt;
  }

  std::optional<listen_endpoint> endpoint(const toml::table& t, std::string_view prefix, std::string_view key) {
    std::string text;
    if (!get(t, prefix, key, text)) return std::nullopt;
    listen_endpoint ep;
    std::size_t colon = text.rfind(':');
    std::string host = colon == std::string::npos ? "" : text.substr(0, colon);
    std::string port = colon == std::string::npos ? "" : text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    bool ok = !host.empty() && !port.empty() && port.size() <= 5 &&
              std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (ok && std::stoi(port) > 65535) ok = false;
    if (!ok) {
      error(t.get(key), join(prefix, key), "expected HOST:PORT (port 0 picks a free port)");
      return std::nullopt;
    }
    ep.host = host;
    ep.port = static_cast<std::uint16_t>(std::stoi(port));
    return ep;
  }

  // "09:00" or 540
  std::optional<int> minutes_of_day(const toml::node* n, std::string_view key) {
    if (!n) return std::nullopt;
    if (auto v = n->value<std::int64_t>()) {
      if (*v >= 0 && *v <= 1440) return static_cast<int>(*v);
    } else if (auto s = n->value<std::string>()) {
      if (s->size() == 5 && (*s)[2] == ':') {
        int h = std::atoi(s->substr(0, 2).c_str()), m = std::atoi(s->substr(3).c_str());
        if (h >= 0 && h <= 24 && m >= 0 && m < 60 && h * 60 + m <= 1440) return h * 60 + m;
      }
    } else if (const auto* t = n->as_time()) {
      return t->get().hour * 60 + t->get().minute;
    }
    error(n, key, "expected minutes after midnight (0..1440) or \"HH:MM\"");
    return std::nullopt;
  }

  void working_period_from(const toml::table& t, std::string_view prefix, mailbox& m) {
    check_keys(t, prefix, {"days", "start", "end"});
    working_period p;
    p.days.clear();
    if (const toml::array* days = t.get_as<toml::array>("days")) {
      for (const auto& d : *days) {
        auto name = d.value<std::string>();
        auto dow = name ? parse_weekday(*name) : std::nullopt;
        if (!dow) error(&d, join(prefix, "days"), "expected day names such as \"Monday\"");
        else p.days.push_back(*dow);
      }
    } else {
      p.days = weekdays();
    }
    if (auto s = minutes_of_day(t.get("start"), join(prefix, "start"))) p.start_minutes = *s;
    if (auto e = minutes_of_day(t.get("end"), join(prefix, "end"))) p.end_minutes = *e;
    if (p.end_minutes <= p.start_minutes) error(&t, prefix, "end must be after start");
    m.working_hours.push_back(std::move(p));
  }

  // An event time: RFC 3339 with offset or Z; without an offset, the owner's wall clock.
  // All-day events may give dates (owner's midnight).
  std::optional<instant> event_time(const toml::node* n, std::string_view key, const mailbox& m, bool all_day) {
    auto text = time_text(n);
    if (!text) {
      error(n, key, "expected an RFC 3339 date-time (or a date for all-day events)");
      return std::nullopt;
    }
    if (all_day) {
      if (auto d = parse_date(*text)) return m.zone->rules.to_utc(*d);
    }
    if (auto t = parse_date_time(*text)) {
      if (t->offset_min) return t->utc();
      return m.zone->rules.to_utc(t->value);
    }
    error(n, key, "not a valid date-time: \"" + *text + "\"");
    return std::nullopt;
  }

  void event_from(const toml::table& t, std::string_view prefix, mailbox& m) {
    check_keys(t, prefix, {"start", "end", "busy", "subject", "location", "organizer", "private", "meeting",
                           "recurring", "exception", "reminder", "all_day"});
    calendar_event ev;
    get(t, prefix, "all_day", ev.all_day);
    auto start = event_time(t.get("start"), join(prefix, "start"), m, ev.all_day);
    std::optional<instant> end;
    if (t.get("end")) end = event_time(t.get("end"), join(prefix, "end"), m, ev.all_day);
    else if (ev.all_day && start) end = m.zone->rules.to_utc(m.zone->rules.to_local(*start) + 86400);
    else error(&t, join(prefix, "end"), "missing");
    if (!start || !end) return;
    ev.start = *start;
    ev.end = *end;
    if (ev.end < ev.start) error(t.get("end"), join(prefix, "end"), "before start");
    std::string busy = "Busy";
    get(t, prefix, "busy", busy);
    if (auto b = parse_busy(busy)) ev.busy = *b;
    else error(t.get("busy"), join(prefix, "busy"), "expected Free, Tentative, Busy, OOF, WorkingElsewhere or NoData");
    get(t, prefix, "subject", ev.subject);
    get(t, prefix, "location", ev.location);
    get(t, prefix, "organizer", ev.organizer);
    get(t, prefix, "private", ev.is_private);
    get(t, prefix, "meeting", ev.is_meeting);
    get(t, prefix, "recurring", ev.is_recurring);
    get(t, prefix, "exception", ev.is_exception);
    get(t, prefix, "reminder", ev.reminder);
    m.events.push_back(std::move(ev));
  }

  void mailbox_from(const toml::table& t, std::string_view prefix, fixture& fx) {
    check_keys(t, prefix, {"address", "aliases", "display_name", "kind", "time_zone", "access", "access_by_user",
                           "publishes_free_busy", "fail_with", "working_hours", "events"});
    mailbox m;
    if (!get(t, prefix, "address", m.address) || m.address.find('@') == std::string::npos) {
      error(&t, join(prefix, "address"), "missing or not an e-mail address");
      return;
    }
    if (const toml::array* a = t.get_as<toml::array>("aliases")) {
      for (const auto& x : *a) {
        if (auto s = x.value<std::string>()) m.aliases.push_back(*s);
        else error(&x, join(prefix, "aliases"), "expected strings");
      }
    }
    m.display_name = m.address.substr(0, m.address.find('@'));
    get(t, prefix, "display_name", m.display_name);
    get(t, prefix, "kind", m.kind);
    std::string zone = "UTC";
    get(t, prefix, "time_zone", zone);
    m.zone = find_windows_zone(zone);
    if (!m.zone) {
      error(t.get("time_zone"), join(prefix, "time_zone"), "unknown Windows time zone id (known: " + windows_zone_list() + ")");
      m.zone = &utc_zone();
    }
    std::string access = "freebusy";
    get(t, prefix, "access", access);
    if (auto a = parse_access(access)) m.access = *a;
    else error(t.get("access"), join(prefix, "access"), "expected none, freebusy, limited or reviewer");
    if (const toml::table* by = t.get_as<toml::table>("access_by_user")) {
      for (const auto& [k, v] : *by) {
        auto s = v.value<std::string>();
        auto a = s ? parse_access(*s) : std::nullopt;
        if (!a) error(&v, join(prefix, "access_by_user"), "expected none, freebusy, limited or reviewer");
        else m.access_by_user[lower(k.str())] = *a;
      }
    }
    get(t, prefix, "publishes_free_busy", m.publishes_free_busy);
    if (get(t, prefix, "fail_with", m.fail_with) &&
        (!m.fail_with.starts_with("Error") ||
         !std::all_of(m.fail_with.begin(), m.fail_with.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
         })))
      error(t.get("fail_with"), join(prefix, "fail_with"), "expected an EWS ResponseCode such as \"ErrorFreeBusyGenerationFailed\"");
    if (const toml::node* wh = t.get("working_hours")) {
      if (const toml::table* one = wh->as_table()) {
        working_period_from(*one, join(prefix, "working_hours"), m);
      } else if (const toml::array* many = wh->as_array()) {
        for (const auto& p : *many) {
          if (const toml::table* pt = p.as_table()) working_period_from(*pt, join(prefix, "working_hours"), m);
          else error(&p, join(prefix, "working_hours"), "expected tables");
        }
      } else {
        error(wh, join(prefix, "working_hours"), "expected a table or an array of tables");
      }
    } else {
      m.working_hours.push_back({weekdays(), 540, 1020});
    }
    if (const toml::array* evs = t.get_as<toml::array>("events")) {
      std::size_t i = 0;
      for (const auto& e : *evs) {
        std::string p = join(prefix, "events[" + std::to_string(i++) + "]");
        if (const toml::table* et = e.as_table()) event_from(*et, p, m);
        else error(&e, p, "expected a table");
      }
    }
    finish_events(m);
    fx.mailboxes.push_back(std::move(m));
  }

  void settings_from(const toml::table& doc, fixture& fx, load_result& out) {
    check_keys(doc, "", {"server", "server_version", "auth", "availability", "faults", "generate", "mailboxes"});
    settings& c = fx.cfg;
    if (const toml::table* s = doc.get_as<toml::table>("server")) {
      check_keys(*s, "server", {"listen", "https_listen", "cert_file", "key_file", "chain_file", "access_log",
                                "capture_dir", "max_request_bytes"});
      if (auto ep = endpoint(*s, "server", "listen")) c.http = *ep;
      if (s->get("https_listen")) c.https = endpoint(*s, "server", "https_listen");
      get(*s, "server", "cert_file", c.cert_file);
      get(*s, "server", "key_file", c.key_file);
      get(*s, "server", "chain_file", c.chain_file);
      get(*s, "server", "access_log", c.access_log);
      get(*s, "server", "capture_dir", c.capture_dir);
      if (get(*s, "server", "max_request_bytes", c.max_request_bytes) &&
          (c.max_request_bytes < 1024 || c.max_request_bytes > (std::size_t{1} << 30)))
        error(s->get("max_request_bytes"), "server.max_request_bytes", "must be between 1024 and 1073741824");
      if (c.https && (c.cert_file.empty() || c.key_file.empty()))
        error(s->get("https_listen"), "server.https_listen", "needs cert_file and key_file");
    }
    if (const toml::table* v = doc.get_as<toml::table>("server_version")) {
      check_keys(*v, "server_version",
                 {"major_version", "minor_version", "major_build", "minor_build", "version", "newest_request_version"});
      get(*v, "server_version", "major_version", c.major);
      get(*v, "server_version", "minor_version", c.minor);
      get(*v, "server_version", "major_build", c.major_build);
      get(*v, "server_version", "minor_build", c.minor_build);
      get(*v, "server_version", "version", c.version);
      get(*v, "server_version", "newest_request_version", c.newest_request_version);
    }
    if (const toml::table* a = doc.get_as<toml::table>("auth")) {
      check_keys(*a, "auth", {"schemes", "realm", "ntlm_domain", "ntlm_computer", "ntlm_max_connections", "users",
                              "tokens"});
      if (const toml::array* schemes = a->get_as<toml::array>("schemes")) {
        for (const auto& s : *schemes) {
          auto name = s.value<std::string>();
          if (name && lower(*name) == "basic") c.schemes.push_back(auth_scheme::basic);
          else if (name && lower(*name) == "ntlm") c.schemes.push_back(auth_scheme::ntlm);
          else if (name && lower(*name) == "bearer") c.schemes.push_back(auth_scheme::bearer);
          else error(&s, "auth.schemes", "expected \"Basic\", \"NTLM\" or \"Bearer\"");
        }
      }
      get(*a, "auth", "realm", c.realm);
      get(*a, "auth", "ntlm_domain", c.ntlm_domain);
      get(*a, "auth", "ntlm_computer", c.ntlm_computer);
      get(*a, "auth", "ntlm_max_connections", c.ntlm_max_connections);
      if (c.ntlm_max_connections == 0) c.ntlm_max_connections = 1;
      if (const toml::array* users = a->get_as<toml::array>("users")) {
        std::size_t i = 0;
        for (const auto& u : *users) {
          std::string p = "auth.users[" + std::to_string(i++) + "]";
          const toml::table* ut = u.as_table();
          if (!ut) {
            error(&u, p, "expected a table");
            continue;
          }
          check_keys(*ut, p, {"login", "password", "mailbox"});
          user_account acc;
          if (!get(*ut, p, "login", acc.login) || acc.login.empty()) error(ut, p + ".login", "missing");
          get(*ut, p, "password", acc.password);
          get(*ut, p, "mailbox", acc.mailbox);
          if (acc.mailbox.empty() && acc.login.find('@') != std::string::npos && acc.login.find('\\') == std::string::npos)
            acc.mailbox = acc.login;
          if (acc.mailbox.empty()) error(ut, p + ".mailbox", "missing (needed when the login is not an e-mail address)");
          c.users.push_back(std::move(acc));
        }
      }
      if (const toml::array* tokens = a->get_as<toml::array>("tokens")) {
        std::size_t i = 0;
        for (const auto& tk : *tokens) {
          std::string p = "auth.tokens[" + std::to_string(i++) + "]";
          const toml::table* tt = tk.as_table();
          if (!tt) {
            error(&tk, p, "expected a table");
            continue;
          }
          check_keys(*tt, p, {"token", "login", "mailbox"});
          bearer_token b;
          if (!get(*tt, p, "token", b.token) || b.token.empty()) error(tt, p + ".token", "missing");
          get(*tt, p, "mailbox", b.mailbox);
          get(*tt, p, "login", b.login);
          if (b.mailbox.empty()) error(tt, p + ".mailbox", "missing");
          if (b.login.empty()) b.login = b.mailbox;
          c.tokens.push_back(std::move(b));
        }
      }
    }
    if (const toml::table* av = doc.get_as<toml::table>("availability")) {
      check_keys(*av, "availability", {"max_mailboxes", "max_window_days", "min_interval", "max_interval", "event_times"});
      get(*av, "availability", "max_mailboxes", c.max_mailboxes);
      get(*av, "availability", "max_window_days", c.max_window_days);
      get(*av, "availability", "min_interval", c.min_interval);
      get(*av, "availability", "max_interval", c.max_interval);
      std::string times = "local";
      get(*av, "availability", "event_times", times);
      if (times == "offset") c.event_times_with_offset = true;
      else if (times != "local") error(av->get("event_times"), "availability.event_times", "expected \"local\" or \"offset\"");
    }
    if (const toml::table* f = doc.get_as<toml::table>("faults")) {
      check_keys(*f, "faults", {"latency_ms", "busy_backoff_ms", "slow_body_ms", "inject"});
      get(*f, "faults", "latency_ms", c.latency_ms);
      get(*f, "faults", "busy_backoff_ms", c.busy_backoff_ms);
      get(*f, "faults", "slow_body_ms", c.slow_body_ms);
      if (const toml::array* inject = f->get_as<toml::array>("inject")) {
        std::size_t i = 0;
        for (const auto& r : *inject) {
          std::string p = "faults.inject[" + std::to_string(i++) + "]";
          const toml::table* rt = r.as_table();
          if (!rt) {
            error(&r, p, "expected a table");
            continue;
          }
          std::vector<std::pair<std::string, std::string>> kv;
          for (const auto& [k, v] : *rt) {
            if (auto sv = v.value<std::string>()) kv.emplace_back(std::string(k.str()), *sv);
            else if (auto iv = v.value<std::int64_t>()) kv.emplace_back(std::string(k.str()), std::to_string(*iv));
            else error(&v, p + "." + std::string(k.str()), "expected a string or an integer");
          }
          std::string why;
          if (auto rule = parse_fault_rule(kv, c.busy_backoff_ms, c.slow_body_ms, &why)) c.initial_faults.push_back(*rule);
          else error(rt, p, why);
        }
      }
    }
    if (const toml::table* g = doc.get_as<toml::table>("generate")) {
      check_keys(*g, "generate", {"mailboxes", "domain", "start", "days", "events_per_mailbox", "access"});
      generator_options opt;
      opt.start = *parse_date("2031-05-12");
      get(*g, "generate", "mailboxes", opt.count);
      get(*g, "generate", "domain", opt.domain);
      if (auto text = time_text(g->get("start"))) {
        if (auto d = parse_date(*text)) opt.start = *d;
        else error(g->get("start"), "generate.start", "expected a date (YYYY-MM-DD)");
      }
      get(*g, "generate", "days", opt.days);
      get(*g, "generate", "events_per_mailbox", opt.events_per_mailbox);
      std::string access = "freebusy";
      get(*g, "generate", "access", access);
      if (auto a = parse_access(access)) opt.access = *a;
      else error(g->get("access"), "generate.access", "expected none, freebusy, limited or reviewer");
      out.generate = opt;
    }
    if (const toml::array* mbs = doc.get_as<toml::array>("mailboxes")) {
      std::size_t i = 0;
      for (const auto& m : *mbs) {
        std::string p = "mailboxes[" + std::to_string(i++) + "]";
        if (const toml::table* mt = m.as_table()) mailbox_from(*mt, p, fx);
        else error(&m, p, "expected a table");
      }
    }
  }

  // Addresses and aliases must be unique (named and generated mailboxes together).
  void check_unique(const fixture& fx) {
    std::set<std::string> seen;
    for (const auto& m : fx.mailboxes) {
      if (!seen.insert(lower(m.address)).second) error(nullptr, "mailboxes", "duplicate address " + m.address);
      for (const auto& a : m.aliases)
        if (!seen.insert(lower(a)).second) error(nullptr, "mailboxes", "duplicate address " + a);
    }
  }

 private:
  std::string path_;
};

}  // namespace

load_result load_fixture(const std::string& path, int generate_override) {
  load_result out;
  loader l(path);
  toml::table doc;
  try {
    doc = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    out.errors.push_back(path + ":" + std::to_string(e.source().begin.line) + ":" +
                         std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
    return out;
  }
  fixture fx;
  l.settings_from(doc, fx, out);
  if (generate_override >= 0) {
    if (!out.generate) {
      generator_options g;
      g.start = *parse_date("2031-05-12");
      out.generate = g;
    }
    out.generate->count = generate_override;
  }
  if (l.errors.empty() && out.generate && out.generate->count > 0) {
    if (out.generate->count > 1'000'000) l.errors.push_back(path + ": generate.mailboxes: at most 1000000");
    else fx.generate(*out.generate);
  }
  l.check_unique(fx);
  if (!l.errors.empty()) {
    out.errors = std::move(l.errors);
    return out;
  }
  fx.index();
  out.fx = std::move(fx);
  return out;
}

}  // namespace calgate::sim
