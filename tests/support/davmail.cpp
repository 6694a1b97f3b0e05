#include "support/davmail.hpp"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/http_fixture.hpp"

namespace calgate::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* davmail_jar = "/usr/share/davmail/davmail.jar";
constexpr const char* java_bin = "/usr/bin/java";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

bool davmail_installed() { return ::access(davmail_jar, R_OK) == 0 && ::access(java_bin, X_OK) == 0; }

std::string certificate_sha1(const std::string& pem_file) {
  auto [st, out] = run_command({"openssl", "x509", "-in", pem_file, "-noout", "-fingerprint", "-sha1"}, 10s);
  // "SHA1 Fingerprint=AB:CD:..."
  auto eq = out.find('=');
  if (st != 0 || eq == std::string::npos) throw std::runtime_error("openssl x509 -fingerprint failed: " + out);
  std::string fp = out.substr(eq + 1);
  while (!fp.empty() && (fp.back() == '\n' || fp.back() == '\r' || fp.back() == ' ')) fp.pop_back();
  return fp;
}

davmail::davmail(davmail_options o) : opts_(std::move(o)) {
  if (!davmail_installed()) {
    throw std::runtime_error(std::string("davmail harness: ") + davmail_jar + " or " + java_bin +
                             " missing (scripts/install-deps.sh --test installs davmail-server)");
  }
  std::filesystem::create_directories(dir_.file("home"));
  const auto deadline = std::chrono::steady_clock::now() + opts_.start_limit;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (start_once(deadline)) return;
  }
  throw std::runtime_error("davmail harness: no free CalDAV port after 3 attempts; last output:\n" + log());
}

davmail::~davmail() { stop(); }

bool davmail::start_once(std::chrono::steady_clock::time_point deadline) {
  port_ = free_port();
  std::string props;
  props += "davmail.server=true\n";
  props += "davmail.mode=EWS\n";
  props += "davmail.url=" + opts_.ews_url + "\n";
  props += "davmail.bindAddress=127.0.0.1\n";
  props += "davmail.allowRemote=false\n";
  props += "davmail.caldavPort=" + std::to_string(port_) + "\n";
  // An empty port disables a listener.
  props += "davmail.imapPort=\ndavmail.ldapPort=\ndavmail.popPort=\ndavmail.smtpPort=\n";
  props += "davmail.disableUpdateCheck=true\n";
  props += "davmail.enableProxy=false\n";
  props += "davmail.useSystemProxies=false\n";
  props += "davmail.enableKerberos=false\n";
  props += "davmail.logFilePath=" + dir_.file("davmail.log") + "\n";
  props += "log4j.rootLogger=WARN\n";
  props += "log4j.logger.davmail=DEBUG\n";
  props += std::string("log4j.logger.org.apache.http.wire=") + (opts_.wire_log ? "DEBUG" : "WARN") + "\n";
  if (!opts_.server_cert_sha1.empty()) props += "davmail.server.certificate.hash=" + opts_.server_cert_sha1 + "\n";
  // DavMail may write settings back into this file: it lives in our temp dir.
  dir_.write("davmail.properties", props);

  proc_ = std::make_unique<process>(
      std::vector<std::string>{java_bin,
                               // A short-lived JVM: C1 only and the serial collector start fastest.
                               "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto",
                               "-Djava.awt.headless=true", "-Duser.home=" + dir_.file("home"),
                               "-Djava.io.tmpdir=" + dir_.file("home"), "-jar", davmail_jar, "-server",
                               dir_.file("davmail.properties")},
      std::vector<std::string>{"HOME=" + dir_.file("home")}, spawn_options{.die_with_parent = true, .output_path = ""});

  const std::string ready = "listening on CALDAV port " + std::to_string(port_);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string out = proc_->output();
    if (out.find(ready) != std::string::npos) return true;
    if (out.find("Unable to bind server socket") != std::string::npos) {
      stop();
      return false;  // the port was taken since free_port(): try another
    }
    if (!proc_->running()) {
      throw std::runtime_error("davmail harness: DavMail exited (status " + std::to_string(proc_->wait(0ms)) +
                               ") before listening; its output:\n" + out);
    }
    std::this_thread::sleep_for(25ms);
  }
  std::string out = log();
  stop();
  throw std::runtime_error("davmail harness: DavMail did not listen on 127.0.0.1:" + std::to_string(port_) +
                           " in time; its output:\n" + out);
}

std::string davmail::caldav_url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

bool davmail::running() { return proc_ && proc_->running(); }

void davmail::stop() {
  if (!running()) return;
  proc_->signal(SIGTERM);
  if (proc_->wait(5s) == -1) {
    proc_->signal(SIGKILL);
    proc_->wait(5s);
  }
}

std::string davmail::log() const {
  std::string out = "--- davmail.log ---\n" + read_file(dir_.file("davmail.log"));
  if (proc_) out += "--- console ---\n" + proc_->output();
  return out;
}

}  // namespace calgate::test
