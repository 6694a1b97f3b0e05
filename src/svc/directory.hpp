#pragma once
// The directory: resolves e-mail addresses (primary or any alias, any case) to
// the mailbox behind them, lists a sync scope, and answers contact searches.
//
// Many addresses go to LDAP as one OR filter (chunked); lookups of the same
// address that overlap share one LDAP request (single-flight); addresses asked
// for in the same loop turn are batched together; answers, found or not, are
// cached with separate TTLs and a size bound.
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "proto/ldap/client.hpp"
#include "rt/metrics.hpp"
#include "rt/result.hpp"
#include "rt/task.hpp"
#include "rt/task_group.hpp"
#include "rt/ttl_cache.hpp"
#include "svc/health.hpp"

namespace calgate::svc {

enum class recipient_kind { user, contact, room, resource };
std::string_view kind_name(recipient_kind k) noexcept;
bool parse_kind(std::string_view s, recipient_kind& out) noexcept;

struct mailbox {
  std::string address;       // primary SMTP address, as the directory has it
  std::string display_name;
  recipient_kind kind = recipient_kind::user;
  std::string legacy_dn;     // legacyExchangeDN
  std::string endpoint;      // the named Exchange endpoint serving this mailbox
  std::string dn;
  std::string title, department, phone;
  std::vector<std::string> addresses;  // every SMTP address (lower case), the primary included
};
using mailbox_ptr = std::shared_ptr<const mailbox>;

struct directory_attributes {
  std::string mail = "mail";
  std::string proxy_addresses = "proxyAddresses";      // "SMTP:primary", "smtp:alias" (AD); "" if unused
  std::string alternate_addresses;                     // plain aliases (mailAlternateAddress); "" if unused
  std::string display_name = "displayName";
  std::string legacy_dn = "legacyExchangeDN";
  std::string exchange_server = "msExchHomeServerName";
  std::string title = "title";
  std::string department = "department";
  std::string phone = "telephoneNumber";
  std::string kind = "msExchRecipientTypeDetails";
};

struct directory_options {
  std::string base_dn;
  proto::ldap::scope scope = proto::ldap::scope::sub;
  std::string object_filter;   // which entries are recipients
  std::string address_filter;  // template, {address}: matches one address (primary or alias)
  std::string search_filter;   // template, {query}: contact search (prefix match)
  std::string scope_filter;    // which recipients a sync covers
  directory_attributes attributes;
  std::map<std::string, std::string> kind_values;  // kind attribute value -> user|contact|room|resource
  std::vector<std::string> contact_classes;        // objectClass values meaning "contact"
  std::map<std::string, std::string> endpoint_map; // server attribute (whole value or its last cn=) -> endpoint
  std::string default_endpoint = "default";
  std::map<std::string, std::string> domain_map;   // external domain -> internal domain
  std::chrono::milliseconds cache_ttl{300000};
  std::chrono::milliseconds negative_cache_ttl{60000};
  std::size_t cache_max_entries = 100000;
  std::size_t batch_size = 50;
  std::size_t search_max_results = 50;

  // Defaults for Active Directory ("active_directory") or OpenLDAP-style
  // directories ("openldap"): filters, attribute names, kinds.
  static directory_options profile(std::string_view name);
};

class directory {
 public:
  directory(proto::ldap::client& ldap, directory_options o);
  ~directory();
  directory(const directory&) = delete;
  directory& operator=(const directory&) = delete;

  // The mailbox an address belongs to (nullptr: no such recipient). Errors:
  // rt::errc::bad_input for something that is not an address, LDAP errors
  // (retryable ones when the directory is unreachable).
  [[nodiscard]] rt::task<rt::result<mailbox_ptr>> resolve(std::string address);
  // One answer per input, in order; one LDAP search per batch_size misses.
  [[nodiscard]] rt::task<std::vector<rt::result<mailbox_ptr>>> resolve_many(std::vector<std::string> addresses);
  // The same answers, at once, when none needs LDAP (every address cached, known
  // not to exist, or not an address): true and `out` filled. Otherwise false,
  // `out` left empty and nothing counted: call resolve_many. (The free/busy hot path.)
  bool resolve_cached(std::span<const std::string_view> addresses, std::vector<rt::result<mailbox_ptr>>& out);

  struct search_results {
    std::vector<mailbox_ptr> entries;
    bool truncated = false;
  };
  // Prefix match on name and e-mail, at most `limit` (capped) results sorted by display name.
  [[nodiscard]] rt::task<rt::result<search_results>> search(std::string query, std::size_t limit);

  // Every recipient of the sync scope, page by page (on_page returns false to stop).
  [[nodiscard]] rt::task<rt::result<std::size_t>> list_scope(std::function<rt::task<bool>(std::vector<mailbox_ptr>)> on_page);

  // Domain mapping (case-insensitive): external -> internal before lookups,
  // internal -> external for answers. Also lower-cases and trims.
  std::string to_internal(std::string_view address) const;
  std::string to_external(std::string_view address) const;

  // Must be awaited before destruction: waits for LDAP fetches in flight.
  [[nodiscard]] rt::task<void> stop();

  svc::check_result readiness() const;
  std::size_t cache_size() const noexcept { return cache_.size(); }
  const directory_options& options() const noexcept { return opts_; }

  // Builds a mailbox from an LDAP entry (exposed for tests).
  std::optional<mailbox> to_mailbox(const proto::ldap::entry& e) const;

 private:
  struct flight;
  struct batch_waiter;

  std::optional<mailbox_ptr> cached(std::string_view key);
  void to_internal_into(std::string& out, std::string_view address) const;
  enum class early { none, hit, negative_hit, invalid };
  // What can be said of one address without LDAP (its normalised form left in scratch).
  early answer_now(std::string_view address, std::string& scratch, rt::result<mailbox_ptr>& answer);
  void count(early e);
  void remember(const std::string& key, mailbox_ptr value);
  void schedule_flush();
  void flush();
  rt::task<void> fetch(std::vector<std::string> keys);
  std::vector<std::string> request_attributes() const;

  proto::ldap::client& ldap_;
  directory_options opts_;
  rt::ttl_cache<mailbox_ptr> cache_;  // a null mailbox: known not to exist
  std::unordered_map<std::string, std::unique_ptr<flight>> inflight_;
  std::vector<std::string> queue_;  // keys waiting for the next flush
  bool flush_scheduled_ = false;
  rt::task_group fetches_{"directory-fetch"};

  struct outcome_counters {  // calgate_directory_resolutions_total by outcome, bound once
    metrics::counter &cache_hit, &negative_hit, &fetched, &joined, &error, &invalid;
    static outcome_counters make();
  };
  outcome_counters resolutions_;
  metrics::counter& ldap_searches_;
};

}  // namespace calgate::svc
