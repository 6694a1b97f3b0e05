#include "proto/connector/lookup_protocol.hpp"

#include <algorithm>
#include <unordered_set>

#include "rt/text.hpp"

namespace calgate::proto::connector {

namespace {

using namespace std::chrono;

constexpr std::string_view never_text = "00010101T000000";  // the original's DateTime.MinValue echo
constexpr std::size_t max_email_bytes = 254;                 // RFC 5321 path limit
constexpr std::size_t quoted_bytes = 64;                     // how much of a bad value a message repeats

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Whitespace and one pair of matching quotes around a token: callers built on
// the wiki's JSON-looking examples send quoted values, which the original kept
// as part of the value (and then failed to match).
std::string_view clean(std::string_view s) {
  s = trim(s);
  if (s.size() >= 2 && (s.front() == '\'' || s.front() == '"') && s.back() == s.front())
    s = trim(s.substr(1, s.size() - 2));
  return s;
}

// A user-supplied value for an error message: short, cut on a UTF-8 boundary.
std::string quote(std::string_view s) {
  if (s.size() <= quoted_bytes) return "'" + std::string(s) + "'";
  std::size_t cut = quoted_bytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return "'" + std::string(s.substr(0, cut)) + "...'";
}

parse_failure malformed(std::string message) { return {error_code::malformed_request, std::move(message)}; }

int digits(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

// yyyyMMdd or yyyyMMddTHHmmss (a lower-case 't' too) as a wall-clock time;
// nullopt for anything else, including impossible dates (20240230), year 0
// and 24:00 or leap seconds, which .NET's exact parse rejected as well.
std::optional<local_seconds> parse_stamp(std::string_view s) {
  if (s.size() != 8 && s.size() != 15) return std::nullopt;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (i == 8 ? (s[i] != 'T' && s[i] != 't') : !is_digit(s[i])) return std::nullopt;
  const year_month_day ymd{year(digits(s.substr(0, 4))), month(static_cast<unsigned>(digits(s.substr(4, 2)))),
                           day(static_cast<unsigned>(digits(s.substr(6, 2))))};
  if (!ymd.ok() || ymd.year() < year(1)) return std::nullopt;
  int h = 0, m = 0, sec = 0;
  if (s.size() == 15) {
    h = digits(s.substr(9, 2)), m = digits(s.substr(11, 2)), sec = digits(s.substr(13, 2));
    if (h > 23 || m > 59 || sec > 59) return std::nullopt;
  }
  return local_days(ymd) + hours(h) + minutes(m) + seconds(sec);
}

// The range every formatted stamp is clamped to, so that no input can make
// the year longer than 4 digits or overflow a conversion.
constexpr local_seconds first_local = local_days(year(1) / January / 1);
constexpr local_seconds last_local = local_days(year(9999) / December / 31) + hours(23) + minutes(59) + seconds(59);
constexpr sys_seconds first_sys{first_local.time_since_epoch()};
constexpr sys_seconds last_sys{last_local.time_since_epoch()};

void put_number(std::string& out, int v, int width) {
  char buf[8];
  for (int i = width - 1; i >= 0; --i, v /= 10) buf[i] = static_cast<char>('0' + v % 10);
  out.append(buf, static_cast<std::size_t>(width));
}

void put_date(std::string& out, local_seconds t) {
  t = std::clamp(t, first_local, last_local);
  const year_month_day ymd{floor<days>(t)};
  put_number(out, static_cast<int>(ymd.year()), 4);
  put_number(out, static_cast<int>(static_cast<unsigned>(ymd.month())), 2);
  put_number(out, static_cast<int>(static_cast<unsigned>(ymd.day())), 2);
}

void put_stamp(std::string& out, local_seconds t) {
  t = std::clamp(t, first_local, last_local);
  put_date(out, t);
  const hh_mm_ss hms{t - floor<days>(t)};
  out += 'T';
  put_number(out, static_cast<int>(hms.hours().count()), 2);
  put_number(out, static_cast<int>(hms.minutes().count()), 2);
  put_number(out, static_cast<int>(hms.seconds().count()), 2);
}

std::string date_text(local_seconds t) {
  std::string s;
  put_date(s, t);
  return s;
}

std::string stamp_text(local_seconds t) {
  std::string s;
  put_stamp(s, t);
  return s;
}

local_seconds local_in(const rt::time_zone& z, sys_seconds t) { return z.to_local(std::clamp(t, first_sys, last_sys)); }

// Plausible enough to look up: something@something, no control bytes, within
// the SMTP length limit. The directory decides the rest.
bool plausible_email(std::string_view e) {
  if (e.size() > max_email_bytes) return false;
  const auto at = e.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == e.size()) return false;
  return std::none_of(e.begin(), e.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

std::optional<parse_failure> parse_emails(std::string_view list, const request_limits& lim, request& r) {
  std::unordered_set<std::string> seen;
  std::size_t pos = 0;
  while (pos <= list.size()) {
    std::size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    const std::string_view item = clean(list.substr(pos, comma - pos));
    pos = comma + 1;
    if (item.empty()) continue;
    if (!plausible_email(item)) return malformed("E-mail address " + quote(item) + " is not valid");
    if (!seen.insert(rt::ascii_lower(item)).second) continue;
    if (r.emails.size() == lim.max_users)
      return malformed("Too many e-mail addresses: at most " + std::to_string(lim.max_users) + " per request");
    r.emails.emplace_back(item);
  }
  return std::nullopt;
}

void put_octal(std::string& out, unsigned v) {
  out += '\\';
  out += static_cast<char>('0' + ((v >> 6) & 7));
  out += static_cast<char>('0' + ((v >> 3) & 7));
  out += static_cast<char>('0' + (v & 7));
}

void put_u16(std::string& out, unsigned v) {
  static constexpr char hex[] = "0123456789abcdef";
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out += hex[(v >> shift) & 15];
}

void put_string(std::string& out, std::string_view s) {
  out += '\'';
  out += escape_string(s);
  out += '\'';
}

// The five characters that matter in a double- or single-quoted attribute.
// Tab, CR and LF become references because attribute normalisation would turn
// them into spaces; other C0 controls cannot appear in XML at all and are
// dropped; bytes that are not UTF-8 become U+FFFD so the page stays UTF-8.
void put_attribute(std::string& out, std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp;
    const std::size_t n = rt::utf8_sequence(s, i, cp);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    switch (cp) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      case '\t': out += "&#9;"; break;
      case '\n': out += "&#10;"; break;
      case '\r': out += "&#13;"; break;
      default:
        if (cp >= 0x20 && cp != 0x7f) out.append(s.substr(i, n));
    }
    i += n;
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> form_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;  // truncated escape
      const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::variant<request, parse_failure> parse_request(std::string_view text, const request_limits& lim) {
  if (text.size() > lim.max_text_bytes)
    return malformed("Request is longer than " + std::to_string(lim.max_text_bytes) + " bytes");
  if (!rt::valid_utf8(text)) return malformed("Request is not valid UTF-8");
  // No field may carry a control byte (a NUL would end the value in many a
  // downstream C API); line breaks and tabs are only whitespace here.
  for (char c : text)
    if ((static_cast<unsigned char>(c) < 0x20 && !is_space(c)) || c == 0x7f)
      return malformed("Request contains a control character");

  text = trim(text);
  if (text.size() < 2 || text.front() != '[' || text.back() != ']')
    return malformed("Request must start with '[' and end with ']'");
  const std::string_view inner = text.substr(1, text.size() - 2);

  // The address list runs from the first '[' to the first ']' (the original's
  // rule); tokens therefore cannot contain brackets, and any left over mean the
  // request was not what it looks like.
  const std::size_t open = inner.find('[');
  const std::size_t close = inner.find(']');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return malformed("Request has no e-mail list");
  const std::string_view list = inner.substr(open + 1, close - open - 1);
  std::string rest(inner.substr(0, open));
  rest.append(inner.substr(close + 1));
  if (rest.find_first_of("[]") != std::string::npos) return malformed("Request has an unexpected bracket");

  std::vector<std::string_view> items;
  {
    const std::string_view r = rest;
    std::size_t pos = 0;
    while (items.size() < 7) {
      const std::size_t comma = r.find(',', pos);
      items.push_back(clean(r.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos)));
      if (comma == std::string_view::npos) break;
      pos = comma + 1;
    }
  }
  if (items.size() != 6)
    return malformed(items.size() > 6 ? "Request has more than 6 items" :
                                        "Request has " + std::to_string(items.size()) + " items, expected 6");
  if (!items[2].empty()) return malformed("Request's third item must be the e-mail list");

  if (items[0] != "1") return parse_failure{error_code::unsupported_version, "Version: " + quote(items[0]) + " is not supported"};

  request r;
  r.version = std::string(items[0]);
  r.message_id = std::string(items[1]);
  if (auto failed = parse_emails(list, lim, r)) return *std::move(failed);

  const auto zone = rt::time_zone::find(items[5]);
  if (!zone) return parse_failure{error_code::olson_tz_error, "Unknown time zone: " + quote(items[5])};
  r.zone = *zone;

  const std::string_view range = items[3];
  const std::size_t slash = range.find('/');
  if (slash == std::string_view::npos) return malformed("Date range " + quote(range) + " is not start/end");
  const auto start = parse_stamp(clean(range.substr(0, slash)));
  const auto end = parse_stamp(clean(range.substr(slash + 1)));
  if (!start) return malformed("Start date " + quote(clean(range.substr(0, slash))) + " is not valid");
  if (!end) return malformed("End date " + quote(clean(range.substr(slash + 1))) + " is not valid");
  r.start = r.zone.to_utc(*start);
  r.end = r.zone.to_utc(*end);
  if (r.end <= r.start) return malformed("End date must be after start date");
  r.start_text = date_text(*start);
  r.end_text = date_text(*end);

  // The original only logged an unparseable `since` and echoed its minimum date.
  const auto since = parse_stamp(items[4]);
  r.since_text = since ? stamp_text(*since) : std::string(never_text);
  return r;
}

std::optional<std::string> form_field(std::string_view body, std::string_view name) {
  std::size_t pos = 0;
  while (pos <= body.size()) {
    std::size_t amp = body.find('&', pos);
    if (amp == std::string_view::npos) amp = body.size();
    const std::string_view field = body.substr(pos, amp - pos);
    pos = amp + 1;
    const std::size_t eq = field.find('=');
    const auto key = form_decode(field.substr(0, eq));
    if (!key || *key != name) continue;  // an undecodable name is nobody's field
    if (eq == std::string_view::npos) return std::string();
    return form_decode(field.substr(eq + 1));
  }
  return std::nullopt;
}

std::string format_response(const request& r, const std::vector<user>& users) {
  std::string out;
  out.reserve(128 + users.size() * 256);
  out += '[';
  put_string(out, r.version);
  out += ',';
  put_string(out, r.message_id);
  out += ",['_ME_AddData','";
  out += r.start_text;  // our own yyyyMMdd digits: nothing to escape
  out += '/';
  out += r.end_text;
  out += "','";
  out += r.since_text;
  out += "',[";
  bool first_user = true;
  for (const user& u : users) {
    if (!first_user) out += ',';
    first_user = false;
    put_string(out, u.display_name);
    out += ',';
    put_string(out, u.email);
    out += ',';
    put_string(out, std::to_string(u.access_level));
    out += ",[";
    bool first_entry = true;
    for (const entry& e : u.entries) {
      if (!first_entry) out += ',';
      first_entry = false;
      out += '[';
      put_string(out, e.subject);
      out += ",'";
      put_stamp(out, local_in(r.zone, e.start));
      out += "','";
      put_stamp(out, local_in(r.zone, e.end));
      out += "',";
      put_string(out, e.location);
      out += ',';
      put_string(out, e.organizer);
      out += ',';
      out += std::to_string(static_cast<int>(e.status));
      out += ']';
    }
    out += ']';
  }
  out += "]]]";
  return out;
}

std::string format_error(std::string_view version, std::string_view message_id, error_code code,
                         std::string_view message) {
  std::string out;
  out += '[';
  put_string(out, version);
  out += ',';
  put_string(out, message_id);
  out += ",'";
  out += std::to_string(static_cast<int>(code));
  out += "',";
  put_string(out, message);
  out += ']';
  return out;
}

std::string html_page(std::string_view action_url, std::string_view expression) {
  std::string out;
  out.reserve(700 + action_url.size() + expression.size() * 5 / 4);
  out +=
      "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" "
      "\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n"
      "<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>Free Busy Lookup Response</title>\n"
      "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" /></head>\n"
      "<body>\n"
      " <form id=\"Form1\" method=\"POST\" action=\"";
  put_attribute(out, action_url);
  out +=
      "\">\n"
      "  <input type=\"hidden\" name=\"text\" value=\"";
  put_attribute(out, expression);
  out +=
      "\" />\n"
      "  <noscript><input type=\"submit\" value=\"Continue\" /></noscript>\n"
      " </form>\n"
      " <script type=\"text/javascript\">document.getElementById('Form1').submit();</script>\n"
      "</body></html>\n";
  return out;
}

std::string mailslot_url(std::string_view configured, std::string_view referer, bool default_ssl) {
  bool ssl = default_ssl;
  // An absolute URL as .NET's Uri would take it: RFC 3986 scheme, "://", a host.
  const std::string_view ref = trim(referer);
  const std::size_t colon = ref.find(':');
  if (colon != std::string_view::npos && colon > 0 && is_alpha(ref[0]) &&
      std::all_of(ref.begin(), ref.begin() + static_cast<std::ptrdiff_t>(colon),
                  [](char c) { return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.'; }) &&
      ref.substr(colon, 3) == "://" && ref.size() > colon + 3 && ref[colon + 3] != '/')
    ssl = rt::ascii_lower(ref.substr(0, colon)) == "https";

  constexpr std::string_view https = "https://";
  if (!ssl && configured.size() >= https.size() && rt::ascii_lower(configured.substr(0, https.size())) == https)
    return "http://" + std::string(configured.substr(https.size()));
  return std::string(configured);
}

std::string escape_string(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp;
    std::size_t n = rt::utf8_sequence(s, i, cp);
    if (n == 0) cp = 0xFFFD, n = 1;  // one replacement per stray byte
    i += n;
    if (cp < 0x80 && (is_alpha(static_cast<char>(cp)) || is_digit(static_cast<char>(cp)) || cp == ' ')) {
      out += static_cast<char>(cp);
    } else if (cp <= 0xFF) {
      put_octal(out, static_cast<unsigned>(cp));
    } else if (cp <= 0xFFFF) {
      put_u16(out, static_cast<unsigned>(cp));
    } else {
      const unsigned v = static_cast<unsigned>(cp) - 0x10000;
      put_u16(out, 0xD800 + (v >> 10));
      put_u16(out, 0xDC00 + (v & 0x3FF));
    }
  }
  return out;
}

}  // namespace calgate::proto::connector
