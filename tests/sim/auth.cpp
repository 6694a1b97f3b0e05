#include "sim/auth.hpp"

#include <algorithm>
#include <utility>

#include "net/tls_crypto.hpp"
#include "proto/ntlm/ntlm.hpp"
#include "rt/base64.hpp"

namespace calgate::sim {

namespace {

// "Basic xyz" -> ("basic", "xyz")
std::pair<std::string, std::string_view> split_scheme(std::string_view v) {
  v = trim(v);
  const std::size_t sp = v.find(' ');
  if (sp == std::string_view::npos) return {lower(v), {}};
  return {lower(v.substr(0, sp)), trim(v.substr(sp + 1))};
}

bool iequal(std::string_view a, std::string_view b) { return net::http::iequals(a, b); }

}  // namespace

bool authenticator::offers(auth_scheme s) const noexcept {
  return std::find(cfg_.schemes.begin(), cfg_.schemes.end(), s) != cfg_.schemes.end();
}

net::http::response authenticator::challenge_all() const {
  net::http::response r;
  r.status = 401;
  for (auth_scheme s : cfg_.schemes) {
    switch (s) {
      case auth_scheme::ntlm: r.headers.add("WWW-Authenticate", "NTLM"); break;
      case auth_scheme::basic: r.headers.add("WWW-Authenticate", "Basic realm=\"" + cfg_.realm + "\""); break;
      case auth_scheme::bearer: r.headers.add("WWW-Authenticate", "Bearer realm=\"" + cfg_.realm + "\""); break;
    }
  }
  r.headers.add("Content-Type", "text/html");
  r.body = "<html><head><title>401 - Unauthorized</title></head><body>401 - Unauthorized: Access is denied due to "
           "invalid credentials.</body></html>";
  return r;
}

net::http::response authenticator::challenge_ntlm(std::string_view type2) const {
  net::http::response r;
  r.status = 401;
  r.headers.add("WWW-Authenticate", proto::ntlm::header_value(type2));
  r.headers.add("Content-Type", "text/html");
  return r;
}

authenticator::outcome authenticator::fail(std::uint64_t& counter) {
  ++counter;
  ++counters_.challenges;
  return {std::nullopt, challenge_all()};
}

authenticator::ntlm_state& authenticator::state_for(std::uint64_t connection) {
  auto it = ntlm_.find(connection);
  if (it != ntlm_.end()) return it->second;
  // Connections are never reported closed to handlers: keep a bounded number, oldest out first.
  while (ntlm_.size() >= cfg_.ntlm_max_connections && !ntlm_order_.empty()) {
    ntlm_.erase(ntlm_order_.front());
    ntlm_order_.pop_front();
  }
  ntlm_order_.push_back(connection);
  return ntlm_[connection];
}

authenticator::outcome authenticator::check(const net::http::request& r) {
  if (cfg_.schemes.empty()) return {caller{}, {}};
  auto header = r.headers.get("Authorization");
  if (!header) {
    if (auto it = ntlm_.find(r.connection_id); it != ntlm_.end() && it->second.session) {
      ++counters_.ntlm_connection_reused;
      return {it->second.session, {}};
    }
    ++counters_.challenges;
    return {std::nullopt, challenge_all()};
  }
  auto [scheme, rest] = split_scheme(*header);
  if (scheme == "basic" && offers(auth_scheme::basic)) return basic(rest);
  if (scheme == "bearer" && offers(auth_scheme::bearer)) return bearer(rest);
  if ((scheme == "ntlm" || scheme == "negotiate") && offers(auth_scheme::ntlm)) return ntlm(r.connection_id, *header);
  ++counters_.challenges;
  return {std::nullopt, challenge_all()};
}

authenticator::outcome authenticator::basic(std::string_view credentials) {
  auto decoded = rt::base64_decode(credentials);
  if (!decoded) return fail(counters_.basic_failed);
  const std::size_t colon = decoded->find(':');
  if (colon == std::string::npos) return fail(counters_.basic_failed);
  const std::string_view login = std::string_view(*decoded).substr(0, colon);
  const std::string_view password = std::string_view(*decoded).substr(colon + 1);
  for (const auto& u : cfg_.users) {
    if (!iequal(u.login, login)) continue;
    if (u.password.empty() || !net::crypto::equal_constant_time(u.password, password)) break;
    ++counters_.basic_ok;
    return {caller{u.login, u.mailbox, "Basic"}, {}};
  }
  return fail(counters_.basic_failed);
}

authenticator::outcome authenticator::bearer(std::string_view token) {
  for (const auto& t : cfg_.tokens) {
    if (net::crypto::equal_constant_time(t.token, token)) {
      ++counters_.bearer_ok;
      return {caller{t.login, t.mailbox, "Bearer"}, {}};
    }
  }
  // RFC 6750: say why, next to the other schemes.
  auto out = fail(counters_.bearer_failed);
  for (auto& h : out.challenge.headers.raw())
    if (iequal(h.name, "WWW-Authenticate") && h.value.starts_with("Bearer"))
      h.value += ", error=\"invalid_token\"";
  return out;
}

authenticator::outcome authenticator::ntlm(std::uint64_t connection, std::string_view header_value) {
  // Negotiate carrying raw NTLMSSP is what Windows clients send when offered only Negotiate;
  // from_header wants the NTLM scheme name, so normalise.
  std::string value(header_value);
  if (lower(value.substr(0, 9)) == "negotiate") value = "NTLM" + value.substr(9);
  auto raw = proto::ntlm::from_header(value);
  if (!raw) return fail(counters_.ntlm_failed);
  ntlm_state& st = state_for(connection);
  switch (proto::ntlm::message_type(*raw)) {
    case 1: {
      ++counters_.ntlm_negotiate;
      st.session.reset();
      st.server_challenge = net::crypto::random_bytes(8);
      const std::string type2 = proto::ntlm::challenge_message(st.server_challenge, cfg_.ntlm_domain,
                                                               proto::ntlm::filetime_now(), cfg_.ntlm_computer);
      return {std::nullopt, challenge_ntlm(type2)};
    }
    case 3: {
      const std::string challenge = std::exchange(st.server_challenge, std::string());
      st.session.reset();
      if (challenge.empty()) return fail(counters_.ntlm_failed);  // Type 3 without our Type 2 on this connection
      auto auth = proto::ntlm::parse_authenticate(*raw);
      if (!auth) return fail(counters_.ntlm_failed);
      for (const auto& u : cfg_.users) {
        if (u.password.empty()) continue;
        const auto creds = proto::ntlm::credentials::parse(u.login, u.password);
        // The user must match; the domain too when both sides name one (a UPN login has none).
        if (!iequal(creds.user, auth->user)) continue;
        if (!creds.domain.empty() && !auth->domain.empty() && !iequal(creds.domain, auth->domain)) continue;
        if (!proto::ntlm::verify(*auth, u.password, challenge)) break;
        ++counters_.ntlm_ok;
        st.session = caller{u.login, u.mailbox, "NTLM"};
        return {st.session, {}};
      }
      return fail(counters_.ntlm_failed);
    }
    default: return fail(counters_.ntlm_failed);
  }
}

}  // namespace calgate::sim
