#pragma once
// SOAP 1.1 envelopes as Exchange writes them: the success envelope with the
// ServerVersionInfo header, and the fault shape of ews.md 3.3 (HTTP 500).
#include <stdexcept>
#include <tuple>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/xml/writer.hpp"
#include "sim/fixture.hpp"

namespace calgate::sim {

inline constexpr std::string_view ns_soap = "http://schemas.xmlsoap.org/soap/envelope/";
inline constexpr std::string_view ns_m = "http://schemas.microsoft.com/exchange/services/2006/messages";
inline constexpr std::string_view ns_t = "http://schemas.microsoft.com/exchange/services/2006/types";
inline constexpr std::string_view ns_e = "http://schemas.microsoft.com/exchange/services/2006/errors";
inline constexpr std::string_view ns_xsi = "http://www.w3.org/2001/XMLSchema-instance";

// A request-level failure: rendered as a SOAP fault with HTTP 500.
struct ews_fault : std::runtime_error {
  std::string code;  // e.g. "ErrorSchemaValidation"
  // t:MessageXml children as (element local name, Name attribute, text):
  // {"Value", "BackOffMilliseconds", "2000"}, {"LineNumber", "", "3"}, ...
  std::vector<std::tuple<std::string, std::string, std::string>> details;
  ews_fault(std::string c, const std::string& message) : std::runtime_error(message), code(std::move(c)) {}
};

// The standard texts Exchange uses for some codes.
inline constexpr std::string_view server_busy_text = "The server cannot service this request right now. Try again later.";

std::string fault_envelope(const ews_fault& f);

// Writes <s:Envelope><s:Header><h:ServerVersionInfo .../></s:Header><s:Body>,
// leaving the body open for the operation's response element.
void open_envelope(xml::writer& w, const settings& cfg);
// Closes what open_envelope opened (and anything still open) and returns the text.
std::string close_envelope(xml::writer& w);

// <qname xmlns:m=... xmlns:t=...>: the operation's response element, left open.
void open_response(xml::writer& w, std::string_view qname);

// A ResponseMessage (any m:*ResponseMessage element), left open for its payload:
// Success -> <m:ResponseCode>NoError</m:ResponseCode>; Warning/Error -> MessageText,
// ResponseCode and DescriptiveLinkKey 0, as Exchange writes them.
void open_response_message(xml::writer& w, std::string_view qname, std::string_view response_class,
                           std::string_view code = "NoError", std::string_view text = {});

}  // namespace calgate::sim
