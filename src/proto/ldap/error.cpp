#include "proto/ldap/error.hpp"

#include <ldap.h>

#include "rt/error.hpp"

namespace calgate::proto::ldap {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ldap"; }
  std::string message(int c) const override {
    switch (c) {
      case static_cast<int>(ldap_errc::unavailable): return "no connection to the directory is up";
      case static_cast<int>(ldap_errc::busy): return "too many directory operations outstanding";
      case static_cast<int>(ldap_errc::too_many_entries): return "the directory returned more entries than allowed";
      case static_cast<int>(ldap_errc::bad_filter): return "invalid LDAP filter";
      default: break;
    }
    return std::string(ldap_err2string(c)) + " (" + std::to_string(c) + ")";
  }
};

}  // namespace

const std::error_category& ldap_category() noexcept {
  static const category c;
  return c;
}

std::error_code make_error_code(ldap_errc e) noexcept { return {static_cast<int>(e), ldap_category()}; }
std::error_code ldap_error(int rc) noexcept { return {rc, ldap_category()}; }

bool is_retryable(std::error_code ec) noexcept {
  if (ec == rt::errc::timed_out || ec == rt::errc::unavailable) return true;
  if (ec.category() != ldap_category()) return false;
  switch (ec.value()) {
    case static_cast<int>(ldap_errc::unavailable):
    case static_cast<int>(ldap_errc::busy):
    case LDAP_SERVER_DOWN:
    case LDAP_CONNECT_ERROR:
    case LDAP_TIMEOUT:
    case LDAP_TIMELIMIT_EXCEEDED:
    case LDAP_BUSY:
    case LDAP_UNAVAILABLE:
    case LDAP_UNWILLING_TO_PERFORM:
    case LDAP_OTHER:
      return true;
    default:
      return false;
  }
}

bool is_config_error(std::error_code ec) noexcept {
  if (ec.category() != ldap_category()) return false;
  switch (ec.value()) {
    case LDAP_INVALID_CREDENTIALS:
    case LDAP_INAPPROPRIATE_AUTH:
    case LDAP_STRONG_AUTH_REQUIRED:
    case LDAP_CONFIDENTIALITY_REQUIRED:
    case LDAP_INSUFFICIENT_ACCESS:
    case LDAP_NO_SUCH_OBJECT:
    case LDAP_FILTER_ERROR:
    case static_cast<int>(ldap_errc::bad_filter):
      return true;
    default:
      return false;
  }
}

}  // namespace calgate::proto::ldap
