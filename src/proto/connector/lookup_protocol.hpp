#pragma once
// The Google Calendar Connector's legacy free/busy lookup protocol, as a pure
// codec (no HTTP, no I/O). See reference/seed-gcc.md §1.
//
// Request: the form field `text` holds
//   [<version>,<messageId>,[<email>,...],<start>/<end>,<since>,<tz>]
// parse_request() accepts what the original accepted and a little more
// (whitespace and '…' / "…" quotes around any token or address) but rejects
// input the original would have mishandled, always with error code 3.
//
// Response: a JavaScript-like array literal with single-quoted strings, written
// with no spaces at all (the original's shape, byte for byte apart from the
// escaping):
//   ['1','abc123',['_ME_AddData','20240311/20240318','20240311T000000',
//    ['Alice','alice\100example\056com','20',[['Subject','20240312T090000',
//    '20240312T100000','Room 4','bob',1]],'Bob',...,[]]]]
// (wrapped here; the real text has no line breaks). Every string value goes
// through escape_string(), so nothing a user or the directory writes can end a
// string early. Errors: ['<version>','<messageId>','<code>','<message>'].
//
// Both travel in the auto-posting page from html_page(), whose attributes are
// HTML-escaped (the original escaped nothing there).
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rt/timezone.hpp"

namespace calgate::proto::connector {

// The original's GCalExchangeException codes; sent as a quoted number.
enum class error_code {
  generic = 0,
  exchange_unreachable = 1,
  unsupported_version = 2,
  malformed_request = 3,
  directory_error = 4,
  olson_tz_error = 5,
};

struct request_limits {
  std::size_t max_text_bytes = 64 * 1024;  // the decoded `text` value
  std::size_t max_users = 100;             // distinct addresses
};

struct request {
  std::string version;                  // "1"
  std::string message_id;               // echoed back (may be empty)
  std::vector<std::string> emails;      // trimmed, unquoted, non-empty, in request order, duplicates
                                        // removed case-insensitively (ASCII); may be empty
  std::chrono::sys_seconds start{};     // UTC instants of the window (end exclusive; end > start)
  std::chrono::sys_seconds end{};
  std::string start_text, end_text;     // local dates as yyyyMMdd for the echo ("20240311")
  std::string since_text;               // yyyyMMddTHHmmss for the echo ("00010101T000000" if unparseable)
  rt::time_zone zone = rt::time_zone::utc();  // the request's tz
};

struct parse_failure {
  error_code code = error_code::malformed_request;
  std::string message;  // plain text; format_error() escapes it
};

// Parses the decoded value of the `text` form field. Codes: 2 for a version
// other than "1", 5 for an unknown time zone, 3 for everything else (shape,
// size, control characters, invalid UTF-8, bad addresses, bad dates, end not
// after start, too many addresses). Checked in that order: size, encoding,
// shape, version, addresses, tz, dates.
std::variant<request, parse_failure> parse_request(std::string_view text, const request_limits& lim = {});

// The value of a field in an application/x-www-form-urlencoded body, decoded
// ('+' is a space, %XX a byte). The first field whose decoded name equals
// `name` decides: nullopt if there is none or if its value has a malformed
// escape (a later duplicate is not consulted). A field without '=' has the
// empty value. The result is bytes; parse_request() checks the UTF-8.
std::optional<std::string> form_field(std::string_view body, std::string_view name);

// Busy/OOF -> 1, Tentative -> 3 (free time is never sent).
enum class entry_status { accepted = 1, tentative = 3 };

struct entry {
  std::string subject, location, organizer;
  std::chrono::sys_seconds start{}, end{};
  entry_status status = entry_status::accepted;
};

struct user {
  std::string display_name, email;
  int access_level = 20;  // 0 none, 10 free/busy, 20 read, 70 owner (the original sent 0 or 20)
  std::vector<entry> entries;
};

// The free/busy expression for a successful lookup (users in the given order,
// entry times as wall-clock time in r.zone, yyyyMMddTHHmmss without suffix).
std::string format_response(const request& r, const std::vector<user>& users);

// The error expression. When the request never parsed, pass version "0" and
// message id "0" (as the original did).
std::string format_error(std::string_view version, std::string_view message_id, error_code code,
                         std::string_view message);

// The complete auto-posting XHTML 1.0 Transitional page (UTF-8) carrying
// `expression` in the hidden form field `text`, posting to `action_url`; a
// <noscript> button submits it without JavaScript. Both values are
// HTML-attribute escaped.
std::string html_page(std::string_view action_url, std::string_view expression);

// The mailslot URL to post to: `configured` (e.g.
// "https://www.google.com/calendar/hosted/example.com/mailslot") with the
// scheme chosen as the original did: if the Referer is an absolute URL
// (scheme "://" host), https exactly when its scheme is https (any case);
// otherwise `default_ssl` decides. Choosing http replaces a leading "https://"
// (any case) by "http://"; choosing https leaves `configured` unchanged.
std::string mailslot_url(std::string_view configured, std::string_view referer, bool default_ssl);

// The string escaping of the expression: ASCII letters, digits and space stay;
// every other code point up to U+00FF becomes '\' and exactly 3 octal digits
// ('@' -> \100, '\'' -> \047, 'ü' -> \374); higher ones become \uXXXX with
// lower-case hex (UTF-16 surrogate pairs above U+FFFF); each byte that is not
// part of valid UTF-8 becomes \ufffd. No HTML decoding (the original did one).
std::string escape_string(std::string_view s);

}  // namespace calgate::proto::connector
