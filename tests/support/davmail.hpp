#pragma once
// DavMail (Debian davmail-server, /usr/share/davmail/davmail.jar) headless on
// loopback for fidelity tests: a CalDAV listener in front of an EWS endpoint.
//
// The constructor writes a properties file into a fresh temp dir (only the
// CalDAV listener, on a free 127.0.0.1 port; no update check, no proxy, no remote
// access; "direct EWS" mode, so the URL must end in /ews/exchange.asmx, any case),
// starts `java -jar davmail.jar -server <file>` with user.home pointing into the
// temp dir (DavMail and JNA write nothing under the real $HOME), and waits until
// DavMail logs "listening on CALDAV port <port>". If the port was taken meanwhile
// it retries on another one. Throws std::runtime_error with DavMail's output when
// it cannot start within the limit.
//
// DavMail authenticates to EWS with the credentials the CalDAV client sends it
// (CalDAV side: Basic only); it does not log in before the first CalDAV request,
// and its first request costs ~1-2 s of JVM warm-up.
//
// The child gets SIGKILL if the thread that created the object dies (create it
// on the test's main thread). Not thread-safe.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "support/process.hpp"

namespace calgate::test {

// True if java and DavMail's jar are installed (scripts/install-deps.sh --test).
bool davmail_installed();

struct davmail_options {
  std::string ews_url;  // http(s)://host:port/EWS/Exchange.asmx
  // https: the SHA-1 fingerprint of the server's leaf certificate as
  // `openssl x509 -noout -fingerprint -sha1` prints it ("AB:CD:..."), which DavMail
  // then accepts without asking (davmail.server.certificate.hash).
  std::string server_cert_sha1;
  bool wire_log = false;  // log every HTTP byte DavMail exchanges with the EWS side
  std::chrono::milliseconds start_limit{30000};
};

class davmail {
 public:
  explicit davmail(davmail_options o);
  ~davmail();  // SIGTERM, then SIGKILL after 5 s; removes the temp dir
  davmail(const davmail&) = delete;
  davmail& operator=(const davmail&) = delete;

  std::uint16_t caldav_port() const { return port_; }
  // "http://127.0.0.1:<port>" + path
  std::string caldav_url(std::string_view path) const;
  const std::string& dir() const { return dir_.path(); }
  bool running();
  void stop();
  // DavMail's log file (davmail.log in dir()) and its console output.
  std::string log() const;

 private:
  bool start_once(std::chrono::steady_clock::time_point deadline);

  davmail_options opts_;
  temp_dir dir_;
  std::uint16_t port_ = 0;
  std::unique_ptr<process> proc_;
};

// The SHA-1 fingerprint of the first certificate in a PEM file, as DavMail wants
// it (upper-case hex bytes joined by ':'). Uses the openssl CLI; throws on failure.
std::string certificate_sha1(const std::string& pem_file);

}  // namespace calgate::test
