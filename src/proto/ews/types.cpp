#include "proto/ews/types.hpp"

#include <array>

#include "rt/error.hpp"

namespace calgate::proto::ews {

namespace {

struct code_name {
  ews_errc code;
  std::string_view name;
};
constexpr std::array<code_name, 15> codes{{
    {ews_errc::server_busy, "ErrorServerBusy"},
    {ews_errc::invalid_server_version, "ErrorInvalidServerVersion"},
    {ews_errc::invalid_request, "ErrorInvalidRequest"},
    {ews_errc::schema_validation, "ErrorSchemaValidation"},
    {ews_errc::time_interval_too_big, "ErrorTimeIntervalTooBig"},
    {ews_errc::invalid_time_interval, "ErrorInvalidTimeInterval"},
    {ews_errc::mailbox_data_array_too_big, "ErrorMailboxDataArrayTooBig"},
    {ews_errc::mailbox_data_array_empty, "ErrorMailboxDataArrayEmpty"},
    {ews_errc::invalid_merged_interval, "ErrorInvalidMergedFreeBusyInterval"},
    {ews_errc::internal_server_error, "ErrorInternalServerError"},
    {ews_errc::mail_recipient_not_found, "ErrorMailRecipientNotFound"},
    {ews_errc::no_free_busy_access, "ErrorNoFreeBusyAccess"},
    {ews_errc::free_busy_generation_failed, "ErrorFreeBusyGenerationFailed"},
    {ews_errc::proxy_request_failed, "ErrorProxyRequestProcessingFailed"},
    {ews_errc::unauthorized, "HTTP 401"},
}};

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ews"; }
  std::string message(int c) const override {
    auto e = static_cast<ews_errc>(c);
    switch (e) {
      case ews_errc::unauthorized: return "Exchange refused the credentials (HTTP 401): check the account and its rights";
      case ews_errc::service_unavailable: return "Exchange is unavailable (HTTP 503)";
      case ews_errc::http_status: return "Exchange answered with an unexpected HTTP status";
      case ews_errc::bad_response: return "Exchange's answer is not a well-formed EWS response";
      case ews_errc::other: return "Exchange reported an error";
      default: break;
    }
    return std::string(response_code_name(e));
  }
};

}  // namespace

const std::error_category& ews_category() noexcept {
  static const category c;
  return c;
}

std::error_code make_error_code(ews_errc e) noexcept { return {static_cast<int>(e), ews_category()}; }

ews_errc from_response_code(std::string_view name) noexcept {
  for (const auto& c : codes)
    if (c.name == name) return c.code;
  return ews_errc::other;
}

std::string_view response_code_name(ews_errc e) noexcept {
  for (const auto& c : codes)
    if (c.code == e) return c.name;
  return "Error";
}

bool is_retryable(std::error_code ec) noexcept {
  if (ec.category() == ews_category()) {
    switch (static_cast<ews_errc>(ec.value())) {
      case ews_errc::server_busy:
      case ews_errc::service_unavailable:
      case ews_errc::internal_server_error:
        return true;
      default:
        return false;
    }
  }
  if (rt::is_stop(ec)) return false;
  // Transport failures (connection refused/reset, TLS, timeouts of one exchange).
  return ec.category() != rt::rt_category() || ec == rt::errc::eof || ec == rt::errc::closed;
}

std::string_view busy_name(busy_type b) noexcept {
  switch (b) {
    case busy_type::free: return "Free";
    case busy_type::tentative: return "Tentative";
    case busy_type::busy: return "Busy";
    case busy_type::oof: return "OOF";
    case busy_type::working_elsewhere: return "WorkingElsewhere";
    case busy_type::no_data: return "NoData";
  }
  return "Busy";
}

bool parse_busy(std::string_view s, busy_type& out) noexcept {
  for (auto b : {busy_type::free, busy_type::tentative, busy_type::busy, busy_type::oof, busy_type::working_elsewhere,
                 busy_type::no_data}) {
    if (s == busy_name(b)) {
      out = b;
      return true;
    }
  }
  return false;
}

std::string_view view_name(view v) noexcept {
  switch (v) {
    case view::merged_only: return "MergedOnly";
    case view::free_busy: return "FreeBusy";
    case view::free_busy_merged: return "FreeBusyMerged";
    case view::detailed: return "Detailed";
    case view::detailed_merged: return "DetailedMerged";
    case view::none: return "None";
  }
  return "None";
}

bool parse_view(std::string_view s, view& out) noexcept {
  for (auto v : {view::merged_only, view::free_busy, view::free_busy_merged, view::detailed, view::detailed_merged,
                 view::none}) {
    if (s == view_name(v)) {
      out = v;
      return true;
    }
  }
  return false;
}

bool view_has_events(view v) noexcept {
  return v == view::free_busy || v == view::free_busy_merged || v == view::detailed || v == view::detailed_merged;
}

bool view_has_merged(view v) noexcept {
  return v == view::merged_only || v == view::free_busy_merged || v == view::detailed_merged;
}

}  // namespace calgate::proto::ews
