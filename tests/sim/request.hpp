#pragma once
// An EWS request as the simulator sees it: the parsed SOAP envelope, the
// operation element and the SOAP headers that matter (RequestServerVersion,
// TimeZoneContext). Malformed input is an ErrorSchemaValidation fault.
#include <string>
#include <string_view>

#include "proto/xml/tree.hpp"
#include "sim/fixture.hpp"
#include "sim/soap.hpp"

namespace calgate::sim {

// Who is asking (after authentication).
struct caller {
  std::string login;    // as configured ("CORP\\svc-calgate"); "" when authentication is off
  std::string mailbox;  // the caller's own SMTP address ("" if none)
  std::string scheme;   // "Basic", "NTLM", "Bearer" or "" (no authentication configured)
};

struct ews_request {
  ews_request() = default;
  ews_request(const ews_request&) = delete;
  ews_request& operator=(const ews_request&) = delete;

  xml::element envelope;
  const xml::element* header = nullptr;  // s:Header, if any
  const xml::element* body = nullptr;    // the operation element (first child of s:Body)
  std::string operation;                 // WSDL operation name: "GetUserAvailability", "GetFolder", ...
  std::string version;                   // RequestServerVersion@Version; "" when the header is absent
  const xml::element* time_zone_context = nullptr;  // t:TimeZoneContext header, if any
};

// Parses a request body into r (which must be fresh). Throws ews_fault:
// ErrorSchemaValidation for XML that is not well formed, not a SOAP 1.1
// envelope or has an empty body.
void parse_request(std::string_view body, ews_request& r);

// ErrorInvalidRequest for Exchange2019 (as Exchange 2019 answers it),
// ErrorInvalidServerVersion for any other unknown version and for versions
// newer than settings.newest_request_version.
void check_version(const ews_request& r, const settings& cfg);

// A RequestServerVersion value of the EWS schema (Exchange2007 .. V2018_01_08).
bool known_request_version(std::string_view version) noexcept;

// True for the Exchange 2007 schemas (what a request without RequestServerVersion gets).
bool is_exchange2007(std::string_view version) noexcept;

// --- Helpers for operation handlers ---

std::string_view trim(std::string_view s) noexcept;
// The trimmed text of a child in the types namespace ("" if absent).
std::string_view t_text(const xml::element& e, std::string_view local) noexcept;
// A required child (types namespace unless ns is given); ErrorSchemaValidation if missing.
const xml::element& require(const xml::element& parent, std::string_view local, std::string_view ns = ns_t);
// "The request failed schema validation: <what>"
[[noreturn]] void schema_error(const std::string& what);
// xs:boolean
bool parse_bool(std::string_view s, bool& out) noexcept;

// The operation name for a body element ("GetUserAvailabilityRequest" -> "GetUserAvailability").
std::string operation_of(std::string_view local);

}  // namespace calgate::sim
