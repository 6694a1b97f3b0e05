#pragma once
// The EWS operations the simulator answers. Each returns the whole response
// envelope (HTTP 200) or throws ews_fault (HTTP 500 + SOAP fault).
#include <string>

#include "sim/fixture.hpp"
#include "sim/request.hpp"

namespace calgate::sim {

// What `who` may see of mailbox m: the owner sees everything; others get
// access_by_user[login or own address], else the mailbox's default.
struct effective_access {
  access_level level = access_level::none;
  bool owner = false;
};
effective_access access_for(const mailbox& m, const caller& who);

std::string get_user_availability(const fixture& fx, const caller& who, const ews_request& r);
std::string get_server_time_zones(const fixture& fx, const ews_request& r);
std::string get_folder(const fixture& fx, const caller& who, const ews_request& r);
std::string convert_id(const fixture& fx, const caller& who, const ews_request& r);
std::string resolve_names(const fixture& fx, const ews_request& r);

// Time zones on the wire.
zone_rules parse_serializable_time_zone(const xml::element& tz);  // throws ErrorSchemaValidation
void write_serializable_time_zone(xml::writer& w, std::string_view qname, const zone_rules& z);
void write_time_zone_definition(xml::writer& w, const windows_zone& z, bool full);

}  // namespace calgate::sim
