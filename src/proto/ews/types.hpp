#pragma once
// Exchange Web Services: namespaces, errors and the availability data model.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace calgate::proto::ews {

inline constexpr std::string_view ns_soap = "http://schemas.xmlsoap.org/soap/envelope/";
inline constexpr std::string_view ns_messages = "http://schemas.microsoft.com/exchange/services/2006/messages";
inline constexpr std::string_view ns_types = "http://schemas.microsoft.com/exchange/services/2006/types";
inline constexpr std::string_view ns_errors = "http://schemas.microsoft.com/exchange/services/2006/errors";

// EWS ResponseCodes calgate acts on, plus transport-level outcomes.
enum class ews_errc {
  server_busy = 1,               // ErrorServerBusy (throttled; see back-off)
  invalid_server_version,        // ErrorInvalidServerVersion
  invalid_request,               // ErrorInvalidRequest
  schema_validation,             // ErrorSchemaValidation
  time_interval_too_big,         // ErrorTimeIntervalTooBig
  invalid_time_interval,         // ErrorInvalidTimeInterval
  mailbox_data_array_too_big,    // ErrorMailboxDataArrayTooBig
  mailbox_data_array_empty,      // ErrorMailboxDataArrayEmpty
  invalid_merged_interval,       // ErrorInvalidMergedFreeBusyInterval
  internal_server_error,         // ErrorInternalServerError
  mail_recipient_not_found,      // ErrorMailRecipientNotFound (per mailbox)
  no_free_busy_access,           // ErrorNoFreeBusyAccess (per mailbox)
  free_busy_generation_failed,   // ErrorFreeBusyGenerationFailed (per mailbox)
  proxy_request_failed,          // ErrorProxyRequestProcessingFailed (per mailbox; Exchange Online's "not found")
  unauthorized,                  // HTTP 401 after authenticating: the account or its rights are wrong
  service_unavailable,           // HTTP 503 (IIS queue full)
  http_status,                   // another unexpected HTTP status
  bad_response,                  // not a well-formed SOAP/EWS answer
  other,                         // another EWS ResponseCode (the message names it)
};

const std::error_category& ews_category() noexcept;
std::error_code make_error_code(ews_errc e) noexcept;
ews_errc from_response_code(std::string_view name) noexcept;
std::string_view response_code_name(ews_errc e) noexcept;
// Worth another try (on this or another account): throttling, 503, internal errors, transport failures.
bool is_retryable(std::error_code ec) noexcept;

enum class busy_type { free, tentative, busy, oof, working_elsewhere, no_data };
std::string_view busy_name(busy_type b) noexcept;
bool parse_busy(std::string_view s, busy_type& out) noexcept;

enum class view { merged_only, free_busy, free_busy_merged, detailed, detailed_merged, none };
std::string_view view_name(view v) noexcept;
bool parse_view(std::string_view s, view& out) noexcept;
bool view_has_events(view v) noexcept;
bool view_has_merged(view v) noexcept;

struct event_details {
  std::string id, subject, location;
  bool is_meeting = false, is_recurring = false, is_exception = false, is_reminder_set = false, is_private = false;
};

struct calendar_event {
  std::chrono::sys_seconds start, end;  // UTC
  busy_type busy = busy_type::busy;
  std::optional<event_details> details;  // Detailed views, as far as the caller's rights go
};

struct working_period {
  std::vector<std::string> days;  // "Monday", ...
  int start_minutes = 0;          // after local midnight, in the owner's zone
  int end_minutes = 0;
};

struct working_hours {
  int bias_minutes = 0;  // the owner's standard bias (UTC = local + bias)
  std::vector<working_period> periods;
};

// One mailbox's answer. `error` is empty on success; otherwise `error_text`
// is the server's message (ErrorMailRecipientNotFound, ErrorNoFreeBusyAccess...).
struct mailbox_availability {
  std::string address;
  std::error_code error;
  std::string error_text;
  view returned_view = view::none;
  std::vector<calendar_event> events;   // sorted by start
  std::string merged;                   // MergedFreeBusy digits for merged views, window after window
  std::optional<working_hours> hours;
};

struct server_version {
  int major = 0, minor = 0, build = 0, revision = 0;
  std::string version;  // @Version, e.g. "V2017_07_11"
};

}  // namespace calgate::proto::ews

template <>
struct std::is_error_code_enum<calgate::proto::ews::ews_errc> : std::true_type {};
