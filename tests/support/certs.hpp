#pragma once
// Test certificates, generated once per test process with the `openssl` CLI
// into a fresh temporary directory that is removed at exit.
//
// Layout (all EC P-256, PEM, unencrypted keys, valid for a few days):
//   root CA  ──signs──▶ intermediate CA ──signs──▶ server ("localhost")
//                                        └─signs──▶ other ("other.test")
//   untrusted: self-signed, same names as the server, from no CA.
//
// The leaf certificates are issued by the intermediate, so a server must send
// the chain: configure cert_file = server_cert, chain_file = server_chain, or
// simply cert_file = server_fullchain (leaf followed by the intermediate).
// Clients trust ca_cert (the root) only.
//
// Server SANs: DNS:localhost, DNS:svc.test, IP:127.0.0.1, IP:::1.
// Other SANs:  DNS:other.test.
//
// certs() throws std::runtime_error with the failing command and its output
// if generation fails (so the calling test fails loudly).
#include <string>

namespace calgate::test {

struct test_certs {
  std::string dir;
  std::string ca_cert, ca_key;               // root CA (the trust anchor)
  std::string intermediate_cert, intermediate_key;
  std::string server_cert, server_key;       // leaf only
  std::string server_chain;                  // the intermediate (send after the leaf)
  std::string server_fullchain;              // leaf + intermediate in one file
  std::string other_cert, other_key;         // a second server certificate, for SNI: other.test
  std::string other_chain;                   // the intermediate (same as server_chain)
  std::string untrusted_cert, untrusted_key; // self-signed, not from the CA
};

const test_certs& certs();

}  // namespace calgate::test
