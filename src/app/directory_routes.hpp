#pragma once
// GET /v1/directory/search: contact lookup for someone picking an invitee.
// Read-only and bounded. Authentication comes with the security work: the
// route is registered through add_directory_routes so a guard can wrap it.
#include "net/http/router.hpp"
#include "svc/directory.hpp"

namespace calgate::app {

// `dir` may be null (no [ldap] configured): the route then answers 503.
void add_directory_routes(net::http::router& routes, svc::directory* dir);

}  // namespace calgate::app
