#include "svc/directory.hpp"

#include <algorithm>
#include <unordered_set>

#include "net/http/message.hpp"
#include "proto/ldap/filter.hpp"
#include "rt/countdown.hpp"
#include "rt/log.hpp"
#include "rt/loop.hpp"
#include "rt/text.hpp"

namespace calgate::svc {

using net::http::iequals;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool plausible_address(std::string_view a) {
  if (a.empty() || a.size() > 254) return false;
  std::size_t at = a.rfind('@');
  if (at == 0 || at == std::string_view::npos || at + 1 == a.size()) return false;
  for (unsigned char c : a)
    if (c <= ' ' || c == 0x7f) return false;
  return true;
}

// The value after the last "/cn=" of an Exchange server DN ("EXCH01").
std::string_view last_cn(std::string_view v) {
  for (std::size_t i = v.size(); i-- > 0;) {
    if (v[i] == '=' && i >= 2 && iequals(v.substr(i - 2, 2), "cn")) return v.substr(i + 1);
  }
  return v;
}

}  // namespace

std::string_view kind_name(recipient_kind k) noexcept {
  switch (k) {
    case recipient_kind::user: return "user";
    case recipient_kind::contact: return "contact";
    case recipient_kind::room: return "room";
    case recipient_kind::resource: return "resource";
  }
  return "user";
}

bool parse_kind(std::string_view s, recipient_kind& out) noexcept {
  for (auto k : {recipient_kind::user, recipient_kind::contact, recipient_kind::room, recipient_kind::resource}) {
    if (iequals(s, kind_name(k))) {
      out = k;
      return true;
    }
  }
  return false;
}

directory_options directory_options::profile(std::string_view name) {
  directory_options o;
  if (name == "openldap") {
    o.object_filter = "(&(mail=*)(objectClass=inetOrgPerson))";
    o.address_filter = "(|(mail={address})(mailAlternateAddress={address}))";
    o.search_filter = "(|(displayName={query}*)(cn={query}*)(givenName={query}*)(sn={query}*)(mail={query}*))";
    o.attributes.proxy_addresses = "";
    o.attributes.alternate_addresses = "mailAlternateAddress";
    o.attributes.legacy_dn = "";
    o.attributes.exchange_server = "";
    o.attributes.department = "departmentNumber";
    o.attributes.kind = "employeeType";
    o.kind_values = {{"room", "room"}, {"resource", "resource"}, {"contact", "contact"}};
    o.contact_classes = {};
  } else {  // active_directory
    o.object_filter = "(&(mail=*)(|(objectClass=user)(objectClass=contact)))";
    o.address_filter = "(|(mail={address})(proxyAddresses=smtp:{address}))";
    o.search_filter = "(|(displayName={query}*)(givenName={query}*)(sn={query}*)(mail={query}*))";
    o.kind_values = {{"16", "room"}, {"32", "resource"}};
    o.contact_classes = {"contact"};
  }
  return o;
}

// A lookup in progress, shared by everyone who asked for the same address.
struct directory::flight {
  std::vector<std::pair<batch_waiter*, std::size_t>> waiters;  // who, and which of their slots
};

// One resolve_many call waiting for the flights it joined.
struct directory::batch_waiter {
  directory* dir = nullptr;
  std::vector<std::pair<std::string, std::optional<rt::result<mailbox_ptr>>>> slots;
  rt::countdown pending{[this] { detach(); }};
  // Leaves the flights (they go on for the others).
  void detach() {
    for (std::size_t i = 0; i < slots.size(); ++i) {
      if (slots[i].second) continue;
      auto it = dir->inflight_.find(slots[i].first);
      if (it == dir->inflight_.end()) continue;
      std::erase_if(it->second->waiters, [&](const auto& p) { return p.first == this && p.second == i; });
    }
  }
};

directory::directory(proto::ldap::client& ldap, directory_options o)
    : ldap_(ldap),
      opts_(std::move(o)),
      cache_(opts_.cache_max_entries),
      resolutions_(outcome_counters::make()),
      ldap_searches_(metrics::registry::global()
                         .add_counter("calgate_directory_ldap_searches_total",
                                      "LDAP searches sent to resolve addresses (one per batch).")
                         .get()) {
  if (opts_.batch_size == 0) opts_.batch_size = 1;
  // Normalise map keys once: domains and kind values compare case-insensitively.
  std::map<std::string, std::string> dm;
  for (const auto& [ext, in] : opts_.domain_map) dm[rt::ascii_lower(ext)] = rt::ascii_lower(in);
  opts_.domain_map = std::move(dm);
}

directory::~directory() = default;

directory::outcome_counters directory::outcome_counters::make() {
  auto& f = metrics::registry::global().add_counter(
      "calgate_directory_resolutions_total",
      "Address resolutions by outcome (cache_hit, negative_hit, fetched, joined, error, invalid).", {"outcome"});
  return {f.with({"cache_hit"}), f.with({"negative_hit"}), f.with({"fetched"}),
          f.with({"joined"}),    f.with({"error"}),        f.with({"invalid"})};
}

rt::task<void> directory::stop() {
  fetches_.request_stop();
  co_await fetches_.join();
}

std::string directory::to_internal(std::string_view address) const {
  std::string a;
  to_internal_into(a, address);
  return a;
}

void directory::to_internal_into(std::string& a, std::string_view address) const {
  address = trim(address);
  a.assign(address);
  rt::ascii_lower_in_place(a);
  if (opts_.domain_map.empty()) return;
  std::size_t at = a.rfind('@');
  if (at == std::string::npos) return;
  auto it = opts_.domain_map.find(a.substr(at + 1));
  if (it != opts_.domain_map.end()) a.replace(at + 1, std::string::npos, it->second);
}

std::string directory::to_external(std::string_view address) const {
  std::string a(trim(address));
  std::size_t at = a.rfind('@');
  if (at == std::string::npos) return a;
  std::string dom = rt::ascii_lower(std::string_view(a).substr(at + 1));
  for (const auto& [ext, in] : opts_.domain_map) {
    if (in == dom) return a.substr(0, at + 1) + ext;
  }
  return a;
}

std::optional<mailbox_ptr> directory::cached(std::string_view key) {
  const mailbox_ptr* hit = cache_.get(key, rt::loop::current().now_ms());
  if (!hit) return std::nullopt;
  return *hit;
}

void directory::remember(const std::string& key, mailbox_ptr value) {
  auto ttl = value ? opts_.cache_ttl : opts_.negative_cache_ttl;
  if (ttl.count() <= 0) return;
  const std::uint64_t expires = rt::loop::current().now_ms() + static_cast<std::uint64_t>(ttl.count());
  cache_.put(key, std::move(value), expires, 1);
}

rt::task<rt::result<mailbox_ptr>> directory::resolve(std::string address) {
  std::vector<std::string> one;
  one.push_back(std::move(address));
  auto all = co_await resolve_many(std::move(one));
  co_return std::move(all.front());
}

directory::early directory::answer_now(std::string_view address, std::string& scratch,
                                      rt::result<mailbox_ptr>& answer) {
  to_internal_into(scratch, address);
  if (!plausible_address(scratch)) {
    answer = make_error_code(rt::errc::bad_input);
    return early::invalid;
  }
  if (auto hit = cached(scratch)) {
    const bool known = *hit != nullptr;
    answer = std::move(*hit);
    return known ? early::hit : early::negative_hit;
  }
  return early::none;
}

void directory::count(early e) {
  switch (e) {
    case early::hit: resolutions_.cache_hit.inc(); break;
    case early::negative_hit: resolutions_.negative_hit.inc(); break;
    case early::invalid: resolutions_.invalid.inc(); break;
    case early::none: break;
  }
}

bool directory::resolve_cached(std::span<const std::string_view> addresses,
                               std::vector<rt::result<mailbox_ptr>>& out) {
  out.clear();
  out.reserve(addresses.size());
  std::string scratch;
  rt::result<mailbox_ptr> now = mailbox_ptr{};
  for (std::string_view a : addresses) {
    if (answer_now(a, scratch, now) == early::none) {
      out.clear();
      return false;
    }
    out.push_back(std::move(now));
  }
  // Counted only now, so a miss (the caller then asks resolve_many) counts nothing twice.
  for (auto& r : out) count(!r ? early::invalid : *r ? early::hit : early::negative_hit);
  return true;
}

rt::task<std::vector<rt::result<mailbox_ptr>>> directory::resolve_many(std::vector<std::string> addresses) {
  std::vector<rt::result<mailbox_ptr>> out;
  out.reserve(addresses.size());
  batch_waiter w;
  w.dir = this;
  std::vector<std::ptrdiff_t> slot_of(addresses.size(), -1);  // input -> waiter slot (for misses)
  std::unordered_map<std::string, std::size_t> slot_by_key;
  std::string scratch;  // the normalised address; copied only for a miss
  rt::result<mailbox_ptr> now = mailbox_ptr{};
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    if (early e = answer_now(addresses[i], scratch, now); e != early::none) {
      count(e);
      out.push_back(std::move(now));
      continue;
    }
    std::string key = scratch;
    out.emplace_back(mailbox_ptr{});  // filled below
    auto known = slot_by_key.find(key);
    if (known != slot_by_key.end()) {
      slot_of[i] = static_cast<std::ptrdiff_t>(known->second);
      continue;
    }
    const std::size_t slot = w.slots.size();
    w.slots.emplace_back(key, std::nullopt);
    slot_by_key.emplace(key, slot);
    slot_of[i] = static_cast<std::ptrdiff_t>(slot);
    auto f = inflight_.find(key);
    if (f != inflight_.end()) {
      resolutions_.joined.inc();
    } else {
      resolutions_.fetched.inc();
      f = inflight_.emplace(key, std::make_unique<flight>()).first;
      queue_.push_back(key);
    }
    f->second->waiters.emplace_back(&w, slot);
    w.pending.add();
  }
  if (!queue_.empty()) schedule_flush();
  if (w.pending.remaining() > 0) co_await w.pending;
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    if (slot_of[i] < 0) continue;
    auto& slot = w.slots[static_cast<std::size_t>(slot_of[i])].second;
    if (slot) out[i] = *slot;
    else out[i] = w.pending.stopped() ? w.pending.stopped() : make_error_code(rt::errc::canceled);
  }
  co_return out;
}

void directory::schedule_flush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  // Everything asked for in this loop turn goes out together.
  rt::loop::current().defer([this] { flush(); });
}

void directory::flush() {
  flush_scheduled_ = false;
  std::vector<std::string> keys;
  keys.swap(queue_);
  for (std::size_t i = 0; i < keys.size(); i += opts_.batch_size) {
    std::vector<std::string> chunk(keys.begin() + static_cast<std::ptrdiff_t>(i),
                                   keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), i + opts_.batch_size)));
    fetches_.spawn(fetch(std::move(chunk)));
  }
}

std::vector<std::string> directory::request_attributes() const {
  const auto& a = opts_.attributes;
  std::vector<std::string> out;
  for (const std::string* s : {&a.mail, &a.proxy_addresses, &a.alternate_addresses, &a.display_name, &a.legacy_dn,
                               &a.exchange_server, &a.title, &a.department, &a.phone, &a.kind}) {
    if (!s->empty() && std::find(out.begin(), out.end(), *s) == out.end()) out.push_back(*s);
  }
  out.push_back("cn");
  out.push_back("objectClass");
  return out;
}

rt::task<void> directory::fetch(std::vector<std::string> keys) {
  auto complete = [this](const std::string& key, const rt::result<mailbox_ptr>& outcome) {
    auto it = inflight_.find(key);
    if (it == inflight_.end()) return;
    std::unique_ptr<flight> f = std::move(it->second);
    inflight_.erase(it);
    for (auto [w, slot] : f->waiters) {
      w->slots[slot].second = outcome;
      w->pending.done_one();
    }
  };

  std::vector<std::string> parts;
  for (const auto& k : keys) {
    auto f = proto::ldap::expand(opts_.address_filter, {{"address", k}});
    if (!f) {
      for (const auto& kk : keys) complete(kk, f.error());
      co_return;
    }
    parts.push_back(std::move(*f));
  }
  proto::ldap::search_request req;
  req.base = opts_.base_dn;
  req.scope = opts_.scope;
  req.filter = proto::ldap::all_of({opts_.object_filter, proto::ldap::any_of(parts)});
  req.attributes = request_attributes();
  req.size_limit = static_cast<int>(keys.size() * 2 + 8);
  ldap_searches_.inc();
  auto r = co_await ldap_.search(std::move(req));
  if (!r) {
    log::warn("directory lookup failed", {{"addresses", keys.size()}, {"error", r.error().message()}});
    resolutions_.error.inc(keys.size());
    for (const auto& k : keys) complete(k, r.error());
    co_return;
  }
  // Index every address of every entry; the first entry claiming an address wins.
  std::unordered_map<std::string, mailbox_ptr> by_address;
  for (const auto& e : r->entries) {
    auto m = to_mailbox(e);
    if (!m) continue;
    auto ptr = std::make_shared<const mailbox>(std::move(*m));
    for (const auto& a : ptr->addresses) {
      auto [it, fresh] = by_address.emplace(a, ptr);
      if (!fresh && it->second->dn != ptr->dn)
        log::warn("address claimed by two directory entries", {{"address", a}, {"kept", it->second->dn}, {"ignored", ptr->dn}});
    }
  }
  for (const auto& k : keys) {
    auto it = by_address.find(k);
    if (it != by_address.end()) {
      remember(k, it->second);
      complete(k, it->second);
    } else if (r->size_limit_exceeded) {
      complete(k, make_error_code(proto::ldap::ldap_errc::too_many_entries));  // cannot tell; do not cache
    } else {
      remember(k, nullptr);
      complete(k, mailbox_ptr{});
    }
  }
}

std::optional<mailbox> directory::to_mailbox(const proto::ldap::entry& e) const {
  const directory_attributes& a = opts_.attributes;
  mailbox m;
  m.dn = e.dn;
  std::string primary;
  std::vector<std::string> addrs;
  auto add = [&](std::string_view v) {
    std::string l = rt::ascii_lower(trim(v));
    if (!l.empty() && std::find(addrs.begin(), addrs.end(), l) == addrs.end()) addrs.push_back(std::move(l));
  };
  if (!a.proxy_addresses.empty()) {
    if (const auto* vals = e.get(a.proxy_addresses)) {
      for (const auto& v : *vals) {
        if (v.size() <= 5 || !iequals(std::string_view(v).substr(0, 5), "smtp:")) continue;  // X500:, SIP:, ...
        std::string_view addr = std::string_view(v).substr(5);
        if (v.compare(0, 5, "SMTP:") == 0 && primary.empty()) primary = std::string(addr);
        add(addr);
      }
    }
  }
  std::string_view mail = e.first(a.mail);
  if (!mail.empty()) {
    if (primary.empty()) primary = std::string(mail);
    add(mail);
  }
  if (!a.alternate_addresses.empty())
    if (const auto* vals = e.get(a.alternate_addresses))
      for (const auto& v : *vals) add(v);
  if (primary.empty()) return std::nullopt;
  m.address = primary;
  // The primary address first.
  std::string lp = rt::ascii_lower(primary);
  std::erase(addrs, lp);
  addrs.insert(addrs.begin(), lp);
  m.addresses = std::move(addrs);

  m.display_name = std::string(e.first(a.display_name));
  if (m.display_name.empty()) m.display_name = std::string(e.first("cn"));
  if (m.display_name.empty()) m.display_name = m.address;
  if (!a.legacy_dn.empty()) m.legacy_dn = std::string(e.first(a.legacy_dn));
  if (!a.title.empty()) m.title = std::string(e.first(a.title));
  if (!a.department.empty()) m.department = std::string(e.first(a.department));
  if (!a.phone.empty()) m.phone = std::string(e.first(a.phone));

  m.kind = recipient_kind::user;
  bool is_contact = false;
  if (const auto* classes = e.get("objectClass"))
    for (const auto& c : *classes)
      for (const auto& cc : opts_.contact_classes)
        if (iequals(c, cc)) is_contact = true;
  if (is_contact) {
    m.kind = recipient_kind::contact;
  } else if (!a.kind.empty()) {
    std::string_view kv = e.first(a.kind);
    for (const auto& [value, kind] : opts_.kind_values) {
      if (!kv.empty() && iequals(kv, value)) {
        parse_kind(kind, m.kind);
        break;
      }
    }
  }

  m.endpoint = opts_.default_endpoint;
  if (!a.exchange_server.empty()) {
    std::string_view server = e.first(a.exchange_server);
    if (!server.empty()) {
      std::string_view name = last_cn(server);
      for (const auto& [match, endpoint] : opts_.endpoint_map) {
        if (iequals(match, server) || iequals(match, name)) {
          m.endpoint = endpoint;
          break;
        }
      }
    }
  }
  return m;
}

rt::task<rt::result<directory::search_results>> directory::search(std::string query, std::size_t limit) {
  std::string_view q = trim(query);
  if (q.empty() || q.size() > 100) co_return make_error_code(rt::errc::bad_input);
  for (unsigned char c : q)
    if (c < 0x20 || c == 0x7f) co_return make_error_code(rt::errc::bad_input);
  limit = std::clamp<std::size_t>(limit, 1, std::max<std::size_t>(1, opts_.search_max_results));
  auto f = proto::ldap::expand(opts_.search_filter, {{"query", q}});
  if (!f) co_return f.error();
  proto::ldap::search_request req;
  req.base = opts_.base_dn;
  req.scope = opts_.scope;
  req.filter = proto::ldap::all_of({opts_.object_filter, *f});
  req.attributes = request_attributes();
  req.size_limit = static_cast<int>(limit + 1);
  auto r = co_await ldap_.search(std::move(req));
  if (!r) co_return r.error();
  search_results out;
  for (const auto& e : r->entries)
    if (auto m = to_mailbox(e)) out.entries.push_back(std::make_shared<const mailbox>(std::move(*m)));
  std::sort(out.entries.begin(), out.entries.end(), [](const mailbox_ptr& a, const mailbox_ptr& b) {
    std::string la = rt::ascii_lower(a->display_name), lb = rt::ascii_lower(b->display_name);
    return la != lb ? la < lb : a->address < b->address;
  });
  out.truncated = r->size_limit_exceeded || out.entries.size() > limit;
  if (out.entries.size() > limit) out.entries.resize(limit);
  co_return out;
}

rt::task<rt::result<std::size_t>> directory::list_scope(std::function<rt::task<bool>(std::vector<mailbox_ptr>)> on_page) {
  proto::ldap::search_request req;
  req.base = opts_.base_dn;
  req.scope = opts_.scope;
  req.filter = proto::ldap::all_of({opts_.object_filter, opts_.scope_filter});
  req.attributes = request_attributes();
  co_return co_await ldap_.search_paged(std::move(req),
                                        [this, &on_page](std::vector<proto::ldap::entry> page) -> rt::task<bool> {
                                          std::vector<mailbox_ptr> out;
                                          out.reserve(page.size());
                                          for (const auto& e : page)
                                            if (auto m = to_mailbox(e))
                                              out.push_back(std::make_shared<const mailbox>(std::move(*m)));
                                          co_return co_await on_page(std::move(out));
                                        });
}

svc::check_result directory::readiness() const {
  auto s = ldap_.state();
  if (s.up > 0)
    return {true, std::to_string(s.up) + "/" + std::to_string(s.total) + " connections up to " + ldap_.options().url};
  std::string why = s.last_error ? s.last_error.message() : std::string("connecting");
  if (!s.last_error_detail.empty()) why += " (" + s.last_error_detail + ")";
  return {false, "directory unreachable at " + ldap_.options().url + ": " + why};
}

}  // namespace calgate::svc
