#pragma once
// GetUserAvailability: one request's XML and the parsing of its answer.
#include <chrono>
#include <string>
#include <vector>

#include "proto/ews/types.hpp"
#include "proto/xml/tree.hpp"
#include "rt/result.hpp"

namespace calgate::proto::ews {

enum class attendee_type { required, optional, organizer, room, resource };

struct availability_query {
  struct mailbox {
    std::string address;
    attendee_type type = attendee_type::required;
  };
  std::vector<mailbox> mailboxes;
  std::chrono::sys_seconds start, end;  // UTC
  view requested = view::free_busy;
  int merged_interval_minutes = 30;
};

// The m:GetUserAvailabilityRequest element (prefixes m: and t:), with a UTC
// time zone and UTC times, as the schema orders it.
std::string availability_body(const availability_query& q);

// Reads m:GetUserAvailabilityResponse: one entry per requested mailbox, in
// order. Fails with ews_errc::bad_response if the answer does not match.
rt::result<std::vector<mailbox_availability>> parse_availability(const xml::element& envelope,
                                                                 const availability_query& q);

}  // namespace calgate::proto::ews
