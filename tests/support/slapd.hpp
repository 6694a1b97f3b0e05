#pragma once
// A real OpenLDAP slapd on loopback for tests, with the fixture directory from
// tests/fixtures/ldap (directory.ldif + calgate-ad.schema) and, optionally, a
// generated population of users.
//
// What the directory looks like (see directory.ldif for every value):
//   base dc=corp,dc=example; ou=people, ou=contacts, ou=rooms, ou=service, ou=generated
//   service account cn=calgate,ou=service (bind_dn(), bind_password())
//   generated: uid=userNNNNN,ou=generated for N = 1..generated_users (5 digits),
//     cn/displayName "Generated User NNNNN", sn "User NNNNN", mail userNNNNN@corp.example,
//     proxyAddresses SMTP:userNNNNN@corp.example and smtp:gen.NNNNN@corp.example,
//     legacyExchangeDN <recipients prefix>userNNNNN, msExchHomeServerName EXCH01 (odd N) / EXCH02 (even N)
//
// Server behaviour the tests rely on:
//   - anonymous users see no entry (a search under the base answers noSuchObject, 32);
//     userPassword is usable only for binding.
//   - the service account has size.soft=2000 with no hard or paged limit: an unpaged
//     search over more than 2000 entries ends with sizeLimitExceeded (4) after 2000
//     entries; a paged one (any page size) returns everything. Other users: 500.
//   - tls: ldap:// offers StartTLS, ldaps:// is a second listener; the server sends
//     the leaf + intermediate from test::certs(); clients must trust certs().ca_cert.
//
// slapd runs in the foreground with "-d stats": every connection and operation is
// logged ("conn=1002 op=1 SRCH base=\"...\" scope=2 deref=0 filter=\"(...)\"").
// The child gets SIGKILL if the thread that created the slapd object dies (create it
// on the test's main thread), so a crashed or aborted test leaves no slapd behind.
//
// Not thread-safe: use one slapd object from one thread.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"

namespace calgate::test {

struct slapd_options {
  bool tls = false;                 // also listen on ldaps:// and enable StartTLS, with certs from test::certs()
  int generated_users = 0;          // size of the generated population under ou=generated (tests use 5000)
  std::string service_password = "calgate-test-secret";
};

// tests/fixtures/ldap in the source tree (the environment variable
// CALGATE_LDAP_FIXTURES overrides it). Throws if it cannot be found.
std::string ldap_fixture_dir();

class slapd {
 public:
  // Writes config + LDIF to a temp dir, loads the data with slapadd, starts slapd on
  // free 127.0.0.1 ports and waits until it answers a bind. Throws std::runtime_error
  // with slapd's (or slapadd's) output if anything fails.
  explicit slapd(slapd_options o = {});
  ~slapd();  // always stops slapd (SIGTERM, then SIGKILL) and removes the temp dir
  slapd(const slapd&) = delete;
  slapd& operator=(const slapd&) = delete;

  std::string url() const;        // "ldap://127.0.0.1:<port>"
  // "ldaps://127.0.0.1:<tls port>" (tls only; throws std::logic_error otherwise). Not
  // "localhost": libldap verifies a certificate for "localhost" against the machine's
  // hostname instead, which the test certificate does not carry.
  std::string ldaps_url() const;
  std::uint16_t port() const { return port_; }
  std::uint16_t ldaps_port() const { return ldaps_port_; }  // 0 without tls
  std::string base_dn() const { return "dc=corp,dc=example"; }
  std::string bind_dn() const { return "cn=calgate,ou=service,dc=corp,dc=example"; }
  std::string bind_password() const { return opts_.service_password; }
  // The rootdn (bypasses ACLs and limits), for tests that must change the data.
  std::string admin_dn() const { return "cn=admin,dc=corp,dc=example"; }
  std::string admin_password() const { return admin_password_; }
  const std::string& dir() const { return dir_.path(); }  // slapd.conf, data.ldif, db/, slapd.log (current run)

  void stop();   // graceful stop (SIGCONT if paused, SIGTERM, wait up to 10 s, then SIGKILL)
  void kill();   // SIGKILL (simulates a crash) and reap
  void start();  // (re)start on the SAME ports with the same database; no-op if running
  void pause();  // SIGSTOP: the kernel still accepts connections, slapd answers nothing
  void resume(); // SIGCONT
  bool running();

  // slapd's output so far, over all runs (restarts append).
  std::string log() const;
  // Number of search operations slapd logged (lines " SRCH base="), over all runs.
  // slapd logs a search when it starts executing it, before any entry or result is
  // sent, and writes the line unbuffered: once a client has a search's result (or
  // one of its entries), the search is counted. A request the client sent but whose
  // answer it did not wait for (abandoned, timed out, server paused) may be counted
  // later: poll with eventually() until the number is stable.
  std::size_t searches_seen() const;

 private:
  void wait_until_ready();

  slapd_options opts_;
  temp_dir dir_;
  std::uint16_t port_ = 0;
  std::uint16_t ldaps_port_ = 0;
  std::string admin_password_;
  std::string config_path_;
  std::string past_log_;            // output of earlier runs
  std::unique_ptr<process> proc_;   // the current (or last) run
};

// A TCP listener on 127.0.0.1 (free port) that accepts connections and never sends a
// byte: for deadline tests. Runs on its own thread with blocking sockets, so it needs
// no event loop. Accepted sockets stay open (what the peer sends is read and
// discarded) until the server is destroyed.
class silent_server {
 public:
  silent_server();
  ~silent_server();
  silent_server(const silent_server&) = delete;
  silent_server& operator=(const silent_server&) = delete;

  std::uint16_t port() const { return port_; }
  std::size_t accepted() const { return accepted_.load(); }  // connections accepted so far

 private:
  void run();

  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::atomic<std::size_t> accepted_{0};
  std::vector<int> conns_;  // owned by the thread until it is joined
  std::thread thread_;
};

}  // namespace calgate::test
