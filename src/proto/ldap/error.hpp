#pragma once
// LDAP outcomes as std::error_code: the protocol's result codes (49 invalid
// credentials, 4 size limit exceeded, ...) and libldap's client codes
// (-1 server down, ...) keep their numbers; calgate's own start at 1000.
#include <system_error>

namespace calgate::proto::ldap {

enum class ldap_errc {
  unavailable = 1000,   // no connection to the directory is up
  busy = 1001,          // too many operations outstanding
  too_many_entries = 1002,  // more entries than the caller accepts
  bad_filter = 1003,    // a filter template that is not a filter
};

const std::error_category& ldap_category() noexcept;
std::error_code make_error_code(ldap_errc e) noexcept;
// A libldap / protocol result code.
std::error_code ldap_error(int rc) noexcept;

// Worth trying again later (on another or a new connection): the directory
// was unreachable, went away, was busy, or timed out.
bool is_retryable(std::error_code ec) noexcept;
// The configuration is wrong (credentials, TLS trust): retrying will not help.
bool is_config_error(std::error_code ec) noexcept;

}  // namespace calgate::proto::ldap

template <>
struct std::is_error_code_enum<calgate::proto::ldap::ldap_errc> : std::true_type {};
