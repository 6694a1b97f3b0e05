#pragma once
// The two inbound free/busy protocols over the lookup service:
//   POST /calendar/v3/freeBusy    Google Calendar API v3 freeBusy.query (bearer tokens)
//   POST <legacy_lookup.path>     the Google Calendar Connector's form protocol,
//                                 answered with the auto-posting HTML page
#include "config/config.hpp"
#include "net/http/router.hpp"
#include "svc/directory.hpp"
#include "svc/lookup.hpp"

namespace calgate::app {

// `lookups`/`dir` may be null (no [ldap] configured): the routes then answer
// 503 (freeBusy) or error code 4 (legacy).
void add_lookup_routes(net::http::router& routes, svc::lookup_service* lookups, svc::directory* dir,
                       const config::root& cfg);

}  // namespace calgate::app
