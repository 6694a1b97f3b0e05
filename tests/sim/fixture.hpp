#pragma once
// The simulator's configuration and mailbox fixture, loaded from one TOML file
// (format: tests/sim/README.md). Everything is validated at load time; errors
// name the file, line and key.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sim/faults.hpp"
#include "sim/sim_time.hpp"

namespace calgate::sim {

enum class busy_type { free, tentative, busy, oof, working_elsewhere, no_data };
std::string_view busy_name(busy_type b) noexcept;  // "Free", ..., "WorkingElsewhere", "NoData"
std::optional<busy_type> parse_busy(std::string_view s) noexcept;
char busy_digit(busy_type b) noexcept;  // MergedFreeBusy: WorkingElsewhere counts as free ('0')

// What the caller may see of a mailbox's calendar.
enum class access_level { none, freebusy, limited, reviewer };
std::string_view access_name(access_level a) noexcept;
std::optional<access_level> parse_access(std::string_view s) noexcept;

struct calendar_event {
  instant start = 0, end = 0;
  busy_type busy = busy_type::busy;
  std::string subject, location, organizer;
  bool is_private = false, is_meeting = false, is_recurring = false, is_exception = false, all_day = false,
       reminder = false;
  std::string item_id;  // a stable EWS-style id
};

struct working_period {
  std::vector<int> days;  // 0 = Sunday
  int start_minutes = 540, end_minutes = 1020;
};

struct mailbox {
  std::string address;  // primary SMTP address, as configured (case kept)
  std::vector<std::string> aliases;
  std::string display_name;
  std::string kind = "user";  // user | room | equipment (informational)
  const windows_zone* zone = nullptr;  // the owner's time zone (WorkingHours)
  std::vector<working_period> working_hours;
  access_level access = access_level::freebusy;
  std::map<std::string, access_level> access_by_user;  // lower-cased login -> level
  bool publishes_free_busy = true;  // false: every MergedFreeBusy digit is '4' and no events
  // Forces a per-mailbox error in GetUserAvailability (e.g. "ErrorFreeBusyGenerationFailed").
  std::string fail_with;
  std::vector<calendar_event> events;  // sorted by start
};

enum class auth_scheme { basic, ntlm, bearer };
std::string_view scheme_name(auth_scheme s) noexcept;

struct user_account {
  std::string login;     // "CORP\\svc-gw", "alice@corp.example", ...
  std::string password;  // empty for token-only principals
  std::string mailbox;   // the caller's own mailbox (SMTP address)
};

struct bearer_token {
  std::string token;
  std::string login;    // who the token stands for (for access_by_user)
  std::string mailbox;  // the caller's own mailbox
};

struct listen_endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
};

struct settings {
  listen_endpoint http;
  std::optional<listen_endpoint> https;
  std::string cert_file, key_file, chain_file;

  // ServerVersionInfo
  int major = 15, minor = 1, major_build = 2507, minor_build = 6;
  std::string version = "V2017_07_11";
  // Requests asking for a newer schema than this get ErrorInvalidServerVersion
  // (empty: every known version is accepted).
  std::string newest_request_version;

  // Authentication
  std::vector<auth_scheme> schemes;  // offered in this order; empty: no authentication
  std::string realm = "calgate-sim";
  std::string ntlm_domain = "CORP";     // the Type 2 target name
  std::string ntlm_computer = "EXCH01";
  std::size_t ntlm_max_connections = 4096;  // connection-bound NTLM state kept (oldest dropped)
  std::vector<user_account> users;
  std::vector<bearer_token> tokens;

  // GetUserAvailability limits
  std::size_t max_mailboxes = 100;
  int max_window_days = 42;
  int min_interval = 5, max_interval = 1440;
  bool event_times_with_offset = false;  // false: offset-less wall clock, as Exchange 2013+ sends

  // Fault injection configured at start (the control endpoint changes them at run time)
  int latency_ms = 0;        // added to every EWS request
  int busy_backoff_ms = 2000;  // default BackOffMilliseconds of server_busy
  int slow_body_ms = 2000;     // default duration of slow_body
  std::vector<fault_rule> initial_faults;  // [[faults.inject]]

  // Largest EWS request body (bigger: HTTP 413 from the server).
  std::size_t max_request_bytes = 1u << 20;

  // When set, every EWS request and response body is written there.
  std::string capture_dir;
  bool access_log = false;
};

struct generator_options {
  int count = 0;
  std::string domain = "corp.example";
  wall_clock start = 0;  // first day (UTC midnight)
  int days = 14;
  int events_per_mailbox = 4;
  access_level access = access_level::freebusy;
};

struct fixture {
  settings cfg;
  std::vector<mailbox> mailboxes;
  std::unordered_map<std::string, std::size_t> by_address;  // lower-cased address or alias -> index

  const mailbox* find(std::string_view address) const;
  // Adds userNNNNN@<domain> mailboxes (NNNNN from 00001, alias gen.NNNNN@<domain>,
  // display name "Generated User NNNNN", as tests/support/slapd generates them).
  void generate(const generator_options& g);
  void index();
};

struct load_result {
  std::optional<fixture> fx;
  std::optional<generator_options> generate;  // a [generate] table, if any (already applied)
  std::vector<std::string> errors;
};
// Loads and validates the file. generate_override >= 0 replaces [generate].mailboxes
// (a [generate] table with defaults is assumed if the file has none).
load_result load_fixture(const std::string& path, int generate_override = -1);

std::string lower(std::string_view s);

}  // namespace calgate::sim
