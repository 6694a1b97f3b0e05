#pragma once
// SOAP 1.1 envelopes for EWS: building requests and reading faults and the
// ServerVersionInfo header of answers.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "proto/ews/types.hpp"
#include "proto/xml/tree.hpp"

namespace calgate::proto::ews {

// An envelope declaring s:, m: and t:, with <t:RequestServerVersion Version="…"/>
// in the header, around `body_xml` (the operation element, written with those prefixes).
std::string envelope(std::string_view version, std::string_view body_xml);

struct fault {
  ews_errc code = ews_errc::other;
  std::string response_code;  // as sent ("ErrorServerBusy")
  std::string message;        // faultstring / e:Message
  std::optional<std::chrono::milliseconds> back_off;  // BackOffMilliseconds
};

// The first element of s:Body, or nullptr.
const xml::element* body_child(const xml::element& envelope) noexcept;
// A SOAP fault in the body, or nullopt.
std::optional<fault> parse_fault(const xml::element& envelope);
std::optional<server_version> parse_server_version(const xml::element& envelope);

}  // namespace calgate::proto::ews
