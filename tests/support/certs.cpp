#include "support/certs.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

namespace calgate::test {
namespace {

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

// Runs a shell command; throws with its output when it fails.
void run(const std::string& cmd) {
  std::string full = cmd + " 2>&1";
  std::FILE* p = ::popen(full.c_str(), "r");
  if (!p) throw std::runtime_error("test certificates: cannot run: " + cmd);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string msg = "test certificates: command failed (status " + std::to_string(status) + "):\n  " + cmd +
                      "\noutput:\n" + out;
    std::fprintf(stderr, "%s\n", msg.c_str());
    throw std::runtime_error(msg);
  }
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  if (!f) throw std::runtime_error("test certificates: cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("test certificates: cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::string& temp_dir_path() {
  static std::string dir;
  return dir;
}

void remove_temp_dir() {
  std::error_code ec;
  if (!temp_dir_path().empty()) std::filesystem::remove_all(temp_dir_path(), ec);
}

// A minimal request config, so the system openssl.cnf's defaults (for
// example v3_ca on every req -x509) never leak into the certificates.
constexpr const char* req_config =
    "[req]\n"
    "distinguished_name = dn\n"
    "prompt = no\n"
    "[dn]\n"
    "CN = unused\n"
    "[root]\n"
    "basicConstraints = critical,CA:TRUE\n"
    "keyUsage = critical,keyCertSign,cRLSign\n"
    "subjectKeyIdentifier = hash\n"
    "[leaf_self]\n"
    "basicConstraints = critical,CA:FALSE\n"
    "keyUsage = critical,digitalSignature\n"
    "extendedKeyUsage = serverAuth,clientAuth\n"
    "subjectAltName = DNS:localhost,DNS:svc.test,IP:127.0.0.1,IP:::1\n"
    "subjectKeyIdentifier = hash\n";

constexpr const char* intermediate_ext =
    "basicConstraints = critical,CA:TRUE,pathlen:0\n"
    "keyUsage = critical,keyCertSign,cRLSign\n"
    "subjectKeyIdentifier = hash\n"
    "authorityKeyIdentifier = keyid\n";

std::string leaf_ext(const std::string& sans) {
  return "basicConstraints = critical,CA:FALSE\n"
         "keyUsage = critical,digitalSignature\n"
         "extendedKeyUsage = serverAuth,clientAuth\n"
         "subjectAltName = " +
         sans +
         "\n"
         "subjectKeyIdentifier = hash\n"
         "authorityKeyIdentifier = keyid\n";
}

void fill(test_certs& c);

test_certs generate() {
  std::string base = "/tmp";
  if (const char* t = std::getenv("TMPDIR"); t && *t) base = t;
  std::string tmpl = base + "/calgate-certs-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw std::runtime_error("test certificates: mkdtemp failed in " + base);
  test_certs c;
  c.dir = buf.data();
  temp_dir_path() = c.dir;
  static const bool registered = (std::atexit(&remove_temp_dir), true);
  (void)registered;
  try {
    fill(c);
  } catch (...) {
    remove_temp_dir();
    temp_dir_path().clear();
    throw;
  }
  return c;
}

void fill(test_certs& c) {

  auto p = [&](const char* name) { return c.dir + "/" + name; };
  const std::string cnf = p("req.cnf");
  write_file(cnf, req_config);
  write_file(p("intermediate.ext"), intermediate_ext);
  write_file(p("server.ext"), leaf_ext("DNS:localhost,DNS:svc.test,IP:127.0.0.1,IP:::1"));
  write_file(p("other.ext"), leaf_ext("DNS:other.test"));

  const std::string genkey = "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ";
  c.ca_key = p("ca.key");
  c.ca_cert = p("ca.pem");
  c.intermediate_key = p("intermediate.key");
  c.intermediate_cert = p("intermediate.pem");
  c.server_key = p("server.key");
  c.server_cert = p("server.pem");
  c.server_chain = c.intermediate_cert;
  c.server_fullchain = p("server-fullchain.pem");
  c.other_key = p("other.key");
  c.other_cert = p("other.pem");
  c.other_chain = c.intermediate_cert;
  c.untrusted_key = p("untrusted.key");
  c.untrusted_cert = p("untrusted.pem");

  for (const std::string* k : {&c.ca_key, &c.intermediate_key, &c.server_key, &c.other_key, &c.untrusted_key})
    run(genkey + quote(*k));

  // Root CA, self-signed.
  run("openssl req -x509 -new -config " + quote(cnf) + " -extensions root -key " + quote(c.ca_key) +
      " -subj /CN=calgate-test-root-CA -days 3 -sha256 -out " + quote(c.ca_cert));

  // Intermediate and leaves: a request, then signed by their issuer.
  auto issue = [&](const std::string& key, const std::string& subject, const std::string& ext,
                   const std::string& issuer_cert, const std::string& issuer_key, const std::string& out,
                   const char* serial) {
    const std::string csr = out + ".csr";
    run("openssl req -new -config " + quote(cnf) + " -key " + quote(key) + " -subj " + quote(subject) + " -out " +
        quote(csr));
    run("openssl x509 -req -in " + quote(csr) + " -CA " + quote(issuer_cert) + " -CAkey " + quote(issuer_key) +
        " -set_serial " + serial + " -days 3 -sha256 -extfile " + quote(ext) + " -out " + quote(out));
  };
  issue(c.intermediate_key, "/CN=calgate-test-intermediate-CA", p("intermediate.ext"), c.ca_cert, c.ca_key,
        c.intermediate_cert, "0x1001");
  issue(c.server_key, "/CN=localhost", p("server.ext"), c.intermediate_cert, c.intermediate_key, c.server_cert,
        "0x2001");
  issue(c.other_key, "/CN=other.test", p("other.ext"), c.intermediate_cert, c.intermediate_key, c.other_cert,
        "0x2002");

  // Not from the CA: a self-signed certificate with the server's names.
  run("openssl req -x509 -new -config " + quote(cnf) + " -extensions leaf_self -key " + quote(c.untrusted_key) +
      " -subj /CN=localhost -days 3 -sha256 -out " + quote(c.untrusted_cert));

  write_file(c.server_fullchain, read_file(c.server_cert) + read_file(c.intermediate_cert));

  // Prove the chain before any test relies on it.
  run("openssl verify -CAfile " + quote(c.ca_cert) + " -untrusted " + quote(c.intermediate_cert) + " " +
      quote(c.server_cert) + " " + quote(c.other_cert));
}

}  // namespace

const test_certs& certs() {
  static const test_certs c = generate();
  return c;
}

}  // namespace calgate::test
