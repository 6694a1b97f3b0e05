#include "sim/request.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>

namespace calgate::sim {

namespace {

// Every RequestServerVersion value the newest EWS schema (V2018_01_08) knows, oldest first.
constexpr std::array<std::string_view, 21> known_versions{
    "Exchange2007", "Exchange2007_SP1", "Exchange2009",  "Exchange2010", "Exchange2010_SP1", "Exchange2010_SP2",
    "Exchange2012", "Exchange2013",     "Exchange2013_SP1", "Exchange2015", "Exchange2016", "V2015_10_05",
    "V2016_01_06",  "V2016_04_13",      "V2016_07_13",   "V2016_10_10",  "V2017_01_07",      "V2017_04_14",
    "V2017_07_11",  "V2017_10_09",      "V2018_01_08"};

int version_rank(std::string_view v) noexcept {
  auto it = std::find(known_versions.begin(), known_versions.end(), v);
  return it == known_versions.end() ? -1 : static_cast<int>(it - known_versions.begin());
}

// "line 3, column 7: what" (the XML reader's error format) -> details for MessageXml.
void add_position(ews_fault& f, const std::string& err) {
  int line = 0, col = 0;
  if (std::sscanf(err.c_str(), "line %d, column %d", &line, &col) == 2) {
    f.details.emplace_back("LineNumber", "", std::to_string(line));
    f.details.emplace_back("LinePosition", "", std::to_string(col));
  }
  f.details.emplace_back("Violation", "", err);
}

}  // namespace

std::string_view trim(std::string_view s) noexcept {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view t_text(const xml::element& e, std::string_view local) noexcept {
  return trim(e.child_text(ns_t, local));
}

void schema_error(const std::string& what) {
  throw ews_fault("ErrorSchemaValidation", "The request failed schema validation: " + what);
}

const xml::element& require(const xml::element& parent, std::string_view local, std::string_view ns) {
  const xml::element* c = parent.child(ns, local);
  if (!c)
    schema_error("The element '" + parent.local + "' has incomplete content. List of possible elements expected: '" +
                 std::string(local) + "' in namespace '" + std::string(ns) + "'.");
  return *c;
}

bool parse_bool(std::string_view s, bool& out) noexcept {
  s = trim(s);
  if (s == "true" || s == "1") out = true;
  else if (s == "false" || s == "0") out = false;
  else return false;
  return true;
}

std::string operation_of(std::string_view local) {
  if (local == "GetUserAvailabilityRequest" || local == "GetUserOofSettingsRequest" ||
      local == "SetUserOofSettingsRequest")
    local.remove_suffix(7);
  return std::string(local);
}

bool known_request_version(std::string_view version) noexcept { return version_rank(version) >= 0; }

bool is_exchange2007(std::string_view version) noexcept {
  return version.empty() || version == "Exchange2007" || version == "Exchange2007_SP1";
}

void parse_request(std::string_view body, ews_request& r) {
  xml::limits lim;
  lim.max_depth = 64;
  lim.max_total_bytes = body.size() + 1;
  std::string err;
  auto doc = xml::parse(body, lim, &err);
  if (!doc) {
    ews_fault f("ErrorSchemaValidation", "The request failed schema validation: " + err);
    add_position(f, err);
    throw f;
  }
  r.envelope = std::move(*doc);
  if (!r.envelope.is(ns_soap, "Envelope")) {
    if (r.envelope.local == "Envelope")
      schema_error("The envelope namespace '" + r.envelope.ns + "' is not SOAP 1.1 (" + std::string(ns_soap) + ").");
    schema_error("The root element is '" + r.envelope.local + "', not a SOAP Envelope.");
  }
  r.header = r.envelope.child(ns_soap, "Header");
  const xml::element* b = r.envelope.child(ns_soap, "Body");
  if (!b) schema_error("The SOAP envelope has no Body.");
  if (b->children.empty()) schema_error("The SOAP Body is empty.");
  if (b->children.size() > 1) schema_error("The SOAP Body holds more than one element.");
  r.body = &b->children.front();
  if (r.body->ns != ns_m)
    schema_error("The element '" + r.body->local + "' in namespace '" + r.body->ns + "' is not an EWS operation.");
  r.operation = operation_of(r.body->local);
  if (r.header) {
    if (const xml::element* v = r.header->child(ns_t, "RequestServerVersion")) {
      r.version = std::string(trim(v->attr("Version")));
      if (r.version.empty()) schema_error("The required attribute 'Version' of RequestServerVersion is missing.");
    }
    r.time_zone_context = r.header->child(ns_t, "TimeZoneContext");
  }
}

void check_version(const ews_request& r, const settings& cfg) {
  if (r.version.empty()) return;  // Exchange 2007 schema
  if (r.version == "Exchange2019") throw ews_fault("ErrorInvalidRequest", "The request is invalid.");
  const int rank = version_rank(r.version);
  if (rank < 0) throw ews_fault("ErrorInvalidServerVersion", "The specified server version is invalid.");
  if (!cfg.newest_request_version.empty() && rank > version_rank(cfg.newest_request_version))
    throw ews_fault("ErrorInvalidServerVersion", "The specified server version is invalid.");
}

}  // namespace calgate::sim
