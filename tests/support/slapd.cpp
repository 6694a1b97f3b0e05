#include "support/slapd.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "support/certs.hpp"

namespace calgate::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* server_dn_prefix =
    "/o=Corp/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Configuration/cn=Servers/cn=";
constexpr const char* recipient_dn_prefix =
    "/o=Corp/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=";

// slapd and its tools live in /usr/sbin, which is not in every user's PATH.
std::string sbin(const std::string& name) {
  std::string p = "/usr/sbin/" + name;
  return ::access(p.c_str(), X_OK) == 0 ? p : name;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("slapd harness: cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("slapd harness: cannot write " + path);
}

// slapd.conf argument quoting (paths may contain spaces).
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Runs a tool to completion; throws with its output unless it exits with 0.
std::string run_tool(std::vector<std::string> argv, std::chrono::milliseconds limit) {
  std::string what = argv[0];
  for (std::size_t i = 1; i < argv.size(); ++i) what += " " + argv[i];
  spawn_options opts;
  opts.die_with_parent = true;
  process p(std::move(argv), {}, opts);
  int st = p.wait(limit);
  if (st != 0) {
    if (st == -1) p.signal(SIGKILL);
    throw std::runtime_error("slapd harness: `" + what + "` failed (status " + std::to_string(st) + "):\n" +
                             p.output());
  }
  return p.output();
}

std::string random_secret() {
  std::random_device rd;
  static constexpr char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string s;
  for (int i = 0; i < 32; ++i) s += digits[rd() % 36];
  return s;
}

std::pair<int, int> ephemeral_range() {
  int lo = 32768, hi = 60999;
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  in >> lo >> hi;
  return {lo, hi};
}

int bind_loopback(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("slapd harness: socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// n distinct ports that are free on 127.0.0.1 now. They are taken below the
// kernel's ephemeral range when possible, so that while slapd is down (kill()
// then start()) no outgoing connection of this or another process can be given
// the port as its source port.
std::vector<std::uint16_t> free_ports(int n) {
  auto [lo, hi] = ephemeral_range();
  std::mt19937 rng(std::random_device{}());
  std::vector<std::uint16_t> ports;
  std::vector<int> held;
  const bool below = lo > 12000;
  for (int attempt = 0; attempt < 2000 && static_cast<int>(ports.size()) < n; ++attempt) {
    std::uint16_t candidate = 0;  // 0: let the kernel pick (fallback)
    if (below && attempt < 1000) candidate = static_cast<std::uint16_t>(10000 + rng() % (lo - 10000));
    int fd = bind_loopback(candidate);
    if (fd < 0) continue;
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    held.push_back(fd);
    ports.push_back(ntohs(a.sin_port));
  }
  for (int fd : held) ::close(fd);
  if (static_cast<int>(ports.size()) < n) throw std::runtime_error("slapd harness: no free port on 127.0.0.1");
  return ports;
}

// Sends an anonymous LDAPv3 simple bind and waits (up to 1 s) for a BindResponse.
// slapd answers only once its listeners and backends are up.
bool answers_bind(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    // SEQUENCE { messageID 1, [APPLICATION 0] BindRequest { version 3, name "", simple "" } }
    static const unsigned char bind_request[] = {0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07,
                                                 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00};
    if (::send(fd, bind_request, sizeof bind_request, MSG_NOSIGNAL) == sizeof bind_request) {
      unsigned char buf[64];
      std::size_t got = 0;
      while (got < 7) {
        ssize_t n = ::recv(fd, buf + got, sizeof buf - got, 0);
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
      }
      // SEQUENCE, short length, messageID 1, then [APPLICATION 1] BindResponse.
      ok = got >= 7 && buf[0] == 0x30 && buf[5] == 0x61;
      static const unsigned char unbind[] = {0x30, 0x05, 0x02, 0x01, 0x02, 0x42, 0x00};
      if (ok) ::send(fd, unbind, sizeof unbind, MSG_NOSIGNAL);
    }
  }
  ::close(fd);
  return ok;
}

char process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= stat.size()) return '?';
  return stat[close_paren + 2];
}

std::string pad5(int n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%05d", n);
  return buf;
}

std::string generated_ldif(int count) {
  std::string out;
  out.reserve(static_cast<std::size_t>(count) * 800);
  for (int i = 1; i <= count; ++i) {
    const std::string n = pad5(i);
    const std::string uid = "user" + n;
    out += "dn: uid=" + uid + ",ou=generated,dc=corp,dc=example\n";
    out +=
        "objectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\n"
        "objectClass: inetOrgPerson\nobjectClass: user\n";
    out += "uid: " + uid + "\n";
    out += "cn: Generated User " + n + "\n";
    out += "displayName: Generated User " + n + "\n";
    out += "sn: User " + n + "\n";
    out += "mail: " + uid + "@corp.example\n";
    out += "proxyAddresses: SMTP:" + uid + "@corp.example\n";
    out += "proxyAddresses: smtp:gen." + n + "@corp.example\n";
    out += "legacyExchangeDN: " + std::string(recipient_dn_prefix) + uid + "\n";
    out += "msExchHomeServerName: " + std::string(server_dn_prefix) + (i % 2 ? "EXCH01" : "EXCH02") + "\n\n";
  }
  return out;
}

std::string make_config(const std::string& dir, const std::string& fixtures, const std::string& admin_password,
                        const std::string& service_dn, bool tls) {
  std::ostringstream c;
  c << "# Generated by tests/support/slapd.cpp for one test run.\n"
    << "include /etc/ldap/schema/core.schema\n"
    << "include /etc/ldap/schema/cosine.schema\n"
    << "include /etc/ldap/schema/inetorgperson.schema\n"
    << "include " << quoted(fixtures + "/calgate-ad.schema") << "\n"
    << "pidfile " << quoted(dir + "/slapd.pid") << "\n"
    << "argsfile " << quoted(dir + "/slapd.args") << "\n"
    << "modulepath /usr/lib/ldap\n"
    << "moduleload back_mdb\n";
  if (tls) {
    const auto& t = certs();
    // The leaf is issued by the intermediate: send both (fullchain).
    c << "TLSCertificateFile " << quoted(t.server_fullchain) << "\n"
      << "TLSCertificateKeyFile " << quoted(t.server_key) << "\n"
      << "TLSCACertificateFile " << quoted(t.ca_cert) << "\n";
  }
  c << "\ndatabase mdb\n"
    << "maxsize 1073741824\n"
    << "dbnosync\n"
    << "suffix \"dc=corp,dc=example\"\n"
    << "rootdn \"cn=admin,dc=corp,dc=example\"\n"
    << "rootpw " << admin_password << "\n"
    << "directory " << quoted(dir + "/db") << "\n"
    << "index objectClass eq\n"
    << "index uid eq\n"
    << "index mail,proxyAddresses,mailAlternateAddress eq,sub\n"
    << "index legacyExchangeDN eq\n"
    << "index displayName,cn,givenName,sn sub\n"
    // Unpaged searches stop at 2000 entries (sizeLimitExceeded); paged ones are unlimited.
    << "limits dn.exact=\"" << service_dn
    << "\" size.soft=2000 size.hard=unlimited size.pr=unlimited size.prtotal=unlimited\n"
    << "access to attrs=userPassword\n"
    << "  by anonymous auth\n"
    << "  by self write\n"
    << "  by * none\n"
    << "access to *\n"
    << "  by dn.exact=\"" << service_dn << "\" read\n"
    << "  by users read\n"
    << "  by * none\n";
  return c.str();
}

}  // namespace

std::string ldap_fixture_dir() {
  if (const char* e = std::getenv("CALGATE_LDAP_FIXTURES"); e && *e) return e;
  static const std::string found = [] {
    // __FILE__ is this file as the compiler was given it: absolute, or relative to
    // the build directory (meson passes "../tests/support/slapd.cpp").
    const fs::path rel = fs::path(__FILE__).parent_path().parent_path() / "fixtures" / "ldap";
    std::vector<fs::path> bases;
    if (rel.is_absolute()) {
      bases.emplace_back();
    } else {
      // The build directory is an ancestor of the test binary's directory; the
      // working directory is a last resort.
      std::error_code ec;
      for (fs::path p = fs::read_symlink("/proc/self/exe", ec).parent_path(); !p.empty() && p != p.root_path();
           p = p.parent_path())
        bases.push_back(p);
      bases.push_back(fs::current_path(ec));
    }
    for (const auto& b : bases) {
      std::error_code ec;
      fs::path candidate = b.empty() ? rel : b / rel;
      if (fs::exists(candidate / "directory.ldif", ec)) return fs::canonical(candidate, ec).string();
    }
    throw std::runtime_error("slapd harness: cannot find tests/fixtures/ldap (from " + rel.string() +
                             "); set CALGATE_LDAP_FIXTURES");
  }();
  return found;
}

slapd::slapd(slapd_options o) : opts_(std::move(o)), admin_password_(random_secret()) {
  const std::string fixtures = ldap_fixture_dir();
  const std::string& dir = dir_.path();
  fs::create_directory(dir + "/db");

  auto ports = free_ports(opts_.tls ? 2 : 1);
  port_ = ports[0];
  if (opts_.tls) ldaps_port_ = ports[1];

  // The data: the hand-written fixture (plus the service password) and the generated users.
  std::string hash = run_tool({sbin("slappasswd"), "-h", "{SSHA}", "-s", opts_.service_password}, 30s);
  while (!hash.empty() && (hash.back() == '\n' || hash.back() == '\r')) hash.pop_back();
  if (hash.rfind("{SSHA}", 0) != 0) throw std::runtime_error("slapd harness: unexpected slappasswd output: " + hash);
  std::string ldif = read_file(fixtures + "/directory.ldif");
  const std::string service_dn_line = "\ndn: " + bind_dn() + "\n";
  auto at = ldif.find(service_dn_line);
  if (at == std::string::npos) throw std::runtime_error("slapd harness: directory.ldif lacks " + bind_dn());
  ldif.insert(at + service_dn_line.size(), "userPassword: " + hash + "\n");
  if (ldif.back() != '\n') ldif += '\n';
  ldif += '\n';
  if (opts_.generated_users > 0) ldif += generated_ldif(opts_.generated_users);
  write_file(dir_.file("data.ldif"), ldif);

  config_path_ = dir_.file("slapd.conf");
  write_file(config_path_, make_config(dir, fixtures, admin_password_, bind_dn(), opts_.tls));

  // -q: quick mode (fewer consistency checks, no transaction log): the data is ours and fresh.
  run_tool({sbin("slapadd"), "-q", "-f", config_path_, "-l", dir_.file("data.ldif")}, 120s);
  start();
}

slapd::~slapd() {
  try {
    stop();
  } catch (...) {
  }
  proc_.reset();  // SIGKILLs if anything is left, before the temp dir goes
}

std::string slapd::url() const { return "ldap://127.0.0.1:" + std::to_string(port_); }

std::string slapd::ldaps_url() const {
  if (!opts_.tls) throw std::logic_error("slapd harness: ldaps_url() needs slapd_options::tls");
  return "ldaps://127.0.0.1:" + std::to_string(ldaps_port_);
}

void slapd::start() {
  if (running()) return;
  if (proc_) {
    past_log_ += proc_->output();
    proc_.reset();
  }
  std::string urls = "ldap://127.0.0.1:" + std::to_string(port_) + "/";
  if (opts_.tls) urls += " ldaps://127.0.0.1:" + std::to_string(ldaps_port_) + "/";
  // -d stats: stay in the foreground and log every connection and operation to stderr.
  spawn_options opts;
  opts.die_with_parent = true;
  opts.output_path = dir_.file("slapd.log");
  std::vector<std::string> argv{sbin("slapd"), "-d", "stats", "-f", config_path_, "-h", urls};
  proc_ = std::make_unique<process>(std::move(argv), std::vector<std::string>{}, opts);
  wait_until_ready();
}

void slapd::wait_until_ready() {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!proc_->running()) {
      int st = proc_->wait(0ms);
      throw std::runtime_error("slapd harness: slapd exited (status " + std::to_string(st) +
                               ") before answering; its output:\n" + proc_->output());
    }
    if (answers_bind(port_)) return;
    std::this_thread::sleep_for(20ms);
  }
  std::string out = proc_->output();
  proc_->signal(SIGKILL);
  proc_->wait(5s);
  throw std::runtime_error("slapd harness: slapd did not answer on " + url() + " within 20 s; its output:\n" + out);
}

void slapd::stop() {
  if (!running()) return;
  proc_->signal(SIGCONT);  // a paused slapd cannot act on SIGTERM
  proc_->signal(SIGTERM);
  if (proc_->wait(10s) == -1) {
    proc_->signal(SIGKILL);
    proc_->wait(5s);
  }
}

void slapd::kill() {
  if (!running()) return;
  proc_->signal(SIGKILL);
  proc_->wait(5s);
}

void slapd::pause() {
  if (!running()) return;
  proc_->signal(SIGSTOP);
  // SIGSTOP is delivered asynchronously: wait until the process is really stopped.
  eventually([&] { return process_state(proc_->pid()) == 'T'; }, 2s);
}

void slapd::resume() {
  if (!running()) return;
  proc_->signal(SIGCONT);
}

bool slapd::running() { return proc_ && proc_->running(); }

std::string slapd::log() const { return past_log_ + (proc_ ? proc_->output() : std::string()); }

std::size_t slapd::searches_seen() const {
  const std::string text = log();
  static constexpr std::string_view needle = " SRCH base=";
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

// ---- silent_server ----

silent_server::silent_server() {
  listen_fd_ = bind_loopback(0);
  if (listen_fd_ < 0) throw std::runtime_error(std::string("silent_server: bind: ") + std::strerror(errno));
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (::listen(listen_fd_, 128) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0 ||
      ::pipe2(wake_, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(listen_fd_);
    throw std::runtime_error(std::string("silent_server: ") + std::strerror(e));
  }
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { run(); });
}

silent_server::~silent_server() {
  char c = 1;
  [[maybe_unused]] auto n = ::write(wake_[1], &c, 1);
  thread_.join();
  for (int fd : conns_) ::close(fd);
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void silent_server::run() {
  std::vector<int> reading;  // accepted sockets whose peer has not closed yet
  std::vector<pollfd> fds;
  char sink[4096];
  for (;;) {
    fds.clear();
    fds.push_back({wake_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (int fd : reading) fds.push_back({fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents) return;
    if (fds[1].revents & POLLIN) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        conns_.push_back(fd);
        reading.push_back(fd);
        ++accepted_;
      }
    }
    std::vector<int> still;
    for (std::size_t i = 2; i < fds.size(); ++i) {
      bool keep = true;
      if (fds[i].revents) {
        ssize_t n = ::recv(fds[i].fd, sink, sizeof sink, MSG_DONTWAIT);
        // Peer closed (or reset): stop watching, but keep our end open until destruction.
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) keep = false;
      }
      if (keep) still.push_back(fds[i].fd);
    }
    reading.swap(still);
  }
}

}  // namespace calgate::test
