#pragma once
// LDAP client settings for the test slapd: the service account, short
// timeouts and fast reconnects.
#include <chrono>

#include "proto/ldap/client.hpp"
#include "support/slapd.hpp"

namespace calgate::test {

inline proto::ldap::client_options ldap_options(const slapd& s) {
  using namespace std::chrono_literals;
  proto::ldap::client_options o;
  o.url = s.url();
  o.bind_dn = s.bind_dn();
  o.bind_password = s.bind_password();
  o.connect_timeout = 2000ms;
  o.operation_timeout = 3000ms;
  o.reconnect_min = 50ms;
  o.reconnect_max = 400ms;
  return o;
}

}  // namespace calgate::test
