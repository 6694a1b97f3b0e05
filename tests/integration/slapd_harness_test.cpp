// Proves the slapd harness (tests/support/slapd.hpp) with a client nobody here
// wrote: OpenLDAP's own ldapsearch, run as a child process.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/certs.hpp"
#include "support/process.hpp"
#include "support/slapd.hpp"

using namespace calgate;
using namespace std::chrono_literals;

namespace {

struct command_result {
  int status = -1;  // exit status, 128+signal, or -1 if it ran past its limit (then killed)
  std::string out;  // stdout and stderr
};

command_result run(std::vector<std::string> argv, std::vector<std::string> env = {},
                   std::chrono::milliseconds limit = 30s) {
  test::spawn_options opts;
  opts.die_with_parent = true;
  test::process p(std::move(argv), std::move(env), opts);
  int st = p.wait(limit);
  if (st == -1) p.signal(SIGKILL);
  return {st, p.output()};
}

// ldapsearch with simple auth and unwrapped LDIF output (comments kept: "# search result"
// marks the end of each search request, i.e. each page).
command_result ldapsearch(std::vector<std::string> args, std::vector<std::string> env = {},
                          std::chrono::milliseconds limit = 30s) {
  std::vector<std::string> argv{"ldapsearch", "-x", "-o", "ldif_wrap=no"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(std::move(argv), std::move(env), limit);
}

// As the service account, searching under the base unless args say otherwise (a later -b wins).
command_result search_as_service(const test::slapd& s, std::vector<std::string> args) {
  std::vector<std::string> argv{"-H", s.url(), "-D", s.bind_dn(), "-w", s.bind_password(), "-b", s.base_dn()};
  argv.insert(argv.end(), args.begin(), args.end());
  return ldapsearch(std::move(argv));
}

std::size_t count(const std::string& text, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::size_t entries(const std::string& ldif) {
  std::size_t n = 0;
  for (const auto& l : lines(ldif))
    if (l.rfind("dn:", 0) == 0) ++n;
  return n;
}

std::string base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  unsigned bits = 0;
  int nbits = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) continue;  // '=' padding
    bits = (bits << 6) | static_cast<unsigned>(v);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out += static_cast<char>((bits >> nbits) & 0xff);
    }
  }
  return out;
}

// The values of attr in ldapsearch's LDIF output ("attr: text" or "attr:: base64").
std::vector<std::string> values(const std::string& ldif, const std::string& attr) {
  std::vector<std::string> out;
  for (const auto& l : lines(ldif)) {
    if (l.rfind(attr + ":: ", 0) == 0) out.push_back(base64_decode(l.substr(attr.size() + 3)));
    else if (l.rfind(attr + ": ", 0) == 0) out.push_back(l.substr(attr.size() + 2));
  }
  return out;
}

int connect_loopback(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;  // ESRCH: reaped
  // A zombie (reparented to an init that has not reaped it yet) is dead too.
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto p = stat.rfind(')');
  return p == std::string::npos || p + 2 >= stat.size() || stat[p + 2] == 'Z' || stat[p + 2] == 'X';
}

const std::string recipients = "/o=Corp/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=";
const std::string servers =
    "/o=Corp/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Configuration/cn=Servers/cn=";

}  // namespace

TEST_CASE("slapd harness: the service account reads the fixture, UTF-8 included", "[slapd]") {
  test::slapd s;
  CHECK(s.url() == "ldap://127.0.0.1:" + std::to_string(s.port()));
  CHECK(s.base_dn() == "dc=corp,dc=example");
  CHECK(s.bind_dn() == "cn=calgate,ou=service,dc=corp,dc=example");
  CHECK(s.bind_password() == "calgate-test-secret");
  CHECK(s.ldaps_port() == 0);
  CHECK_THROWS_AS(s.ldaps_url(), std::logic_error);

  auto alice = search_as_service(s, {"(uid=alice)"});
  INFO(alice.out);
  REQUIRE(alice.status == 0);
  REQUIRE(entries(alice.out) == 1);
  CHECK(values(alice.out, "dn") == std::vector<std::string>{"uid=alice,ou=people,dc=corp,dc=example"});
  CHECK(values(alice.out, "displayName") == std::vector<std::string>{"Alice Example"});
  CHECK(values(alice.out, "mail") == std::vector<std::string>{"alice@corp.example"});
  CHECK(values(alice.out, "proxyAddresses") ==
        std::vector<std::string>{"SMTP:alice@corp.example", "smtp:a.example@corp.example",
                                 "smtp:alice@legacy.example", "X500:/o=Legacy/ou=First/cn=Recipients/cn=alice"});
  CHECK(values(alice.out, "mailAlternateAddress") ==
        std::vector<std::string>{"a.example@corp.example", "alice@legacy.example"});
  CHECK(values(alice.out, "legacyExchangeDN") == std::vector<std::string>{recipients + "alice"});
  CHECK(values(alice.out, "msExchHomeServerName") == std::vector<std::string>{servers + "EXCH01"});
  CHECK(values(alice.out, "title") == std::vector<std::string>{"Engineer"});
  CHECK(values(alice.out, "department") == std::vector<std::string>{"Platform"});
  CHECK(values(alice.out, "telephoneNumber") == std::vector<std::string>{"+1 555 0100"});
  CHECK(values(alice.out, "objectClass").back() == "user");
  CHECK(values(alice.out, "userPassword").empty());

  // UTF-8 both ways: ldapsearch prints the value base64-encoded, and a filter in UTF-8 finds it.
  const std::string juergen_name = "J\xc3\xbcrgen M\xc3\xbcller";
  auto juergen = search_as_service(s, {"(mail=juergen.mueller@corp.example)", "displayName", "department"});
  INFO(juergen.out);
  REQUIRE(juergen.status == 0);
  CHECK(values(juergen.out, "displayName") == std::vector<std::string>{juergen_name});
  CHECK(values(juergen.out, "department") == std::vector<std::string>{"Forschung & Entwicklung"});
  auto by_name = search_as_service(s, {"(displayName=" + juergen_name + ")", "uid"});
  CHECK(values(by_name.out, "uid") == std::vector<std::string>{"juergen"});

  // The AD schema: case-insensitive proxyAddresses and mailAlternateAddress, AD-style class filter,
  // INTEGER recipient type, the literal asterisk (escaped in the filter).
  auto bob = search_as_service(s, {"(proxyAddresses=SMTP:BOB@CORP.EXAMPLE)", "mail"});
  CHECK(values(bob.out, "mail") == std::vector<std::string>{"Bob.Builder@Corp.Example"});
  auto alt = search_as_service(s, {"(mailAlternateAddress=ALICE@Legacy.Example)", "uid"});
  CHECK(values(alt.out, "uid") == std::vector<std::string>{"alice"});
  auto all = search_as_service(s, {"(|(objectClass=user)(objectClass=contact))", "1.1"});
  CHECK(all.status == 0);
  CHECK(entries(all.out) == 10);
  auto room = search_as_service(s, {"(msExchRecipientTypeDetails=16)", "uid"});
  CHECK(values(room.out, "uid") == std::vector<std::string>{"room.alpha"});
  auto star = search_as_service(s, {"(proxyAddresses=smtp:star\\2a@corp.example)", "mail"});
  CHECK(values(star.out, "mail") == std::vector<std::string>{"star*@corp.example"});
  auto paren = search_as_service(s, {"(displayName=Paren \\28Test\\29)", "uid"});
  CHECK(values(paren.out, "uid") == std::vector<std::string>{"paren"});
  auto contact = search_as_service(s, {"(objectClass=contact)", "mail", "title"});
  CHECK(values(contact.out, "dn") == std::vector<std::string>{"cn=Erin External,ou=contacts,dc=corp,dc=example"});
  CHECK(values(contact.out, "title") == std::vector<std::string>{"Consultant"});
  auto dave = search_as_service(s, {"(uid=dave)", "msExchHomeServerName", "legacyExchangeDN"});
  CHECK(values(dave.out, "msExchHomeServerName").empty());
  CHECK(values(dave.out, "legacyExchangeDN") == std::vector<std::string>{recipients + "dave"});
}

TEST_CASE("slapd harness: a wrong password is Invalid credentials (49)", "[slapd]") {
  test::slapd s;
  auto r = ldapsearch({"-H", s.url(), "-D", s.bind_dn(), "-w", "not-the-password", "-b", s.base_dn()});
  INFO(r.out);
  CHECK(r.status == 49);
  CHECK_THAT(r.out, Catch::Contains("Invalid credentials (49)"));
  CHECK(entries(r.out) == 0);

  test::slapd custom({.service_password = "another secret"});
  CHECK(custom.bind_password() == "another secret");
  auto ok = search_as_service(custom, {"(uid=alice)", "mail"});
  CHECK(ok.status == 0);
  CHECK(values(ok.out, "mail") == std::vector<std::string>{"alice@corp.example"});
  auto old_on_custom = ldapsearch({"-H", custom.url(), "-D", custom.bind_dn(), "-w", s.bind_password(), "-b",
                                   custom.base_dn()});
  CHECK(old_on_custom.status == 49);
}

TEST_CASE("slapd harness: anonymous sees nothing", "[slapd]") {
  test::slapd s;
  for (const auto& base : {s.base_dn(), std::string("ou=people,dc=corp,dc=example")}) {
    auto r = ldapsearch({"-H", s.url(), "-b", base, "(objectClass=*)"});
    INFO(r.out);
    CHECK(entries(r.out) == 0);
    CHECK(r.status == 32);  // noSuchObject: the ACL does not even disclose the base
    CHECK_THAT(r.out, Catch::Contains("No such object"));
  }
}

TEST_CASE("slapd harness: 5000 users, paged search gets all, unpaged stops at 2000", "[slapd]") {
  const auto t0 = std::chrono::steady_clock::now();
  test::slapd s({.generated_users = 5000});
  const auto startup = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  std::fprintf(stderr, "slapd harness: startup with 5000 generated users took %lld ms\n",
               static_cast<long long>(startup.count()));
  CHECK(startup < 30s);

  const std::string generated = "ou=generated," + s.base_dn();
  auto unpaged = search_as_service(s, {"-b", generated, "(objectClass=user)", "1.1"});
  CHECK(unpaged.status == 4);
  CHECK_THAT(unpaged.out, Catch::Contains("Size limit exceeded"));
  CHECK(entries(unpaged.out) == 2000);

  const auto before = s.searches_seen();
  auto paged = search_as_service(s, {"-E", "pr=500/noprompt", "-b", generated, "(objectClass=user)", "mail"});
  CHECK(paged.status == 0);
  CHECK(entries(paged.out) == 5000);
  const auto pages = count(paged.out, "\n# search result\n");
  CHECK(pages >= 10);
  CHECK(s.searches_seen() - before == pages);
  auto mails = values(paged.out, "mail");
  REQUIRE(mails.size() == 5000);
  CHECK(mails.front() == "user00001@corp.example");

  auto odd = search_as_service(s, {"(proxyAddresses=smtp:gen.00041@corp.example)", "uid", "msExchHomeServerName"});
  CHECK(values(odd.out, "uid") == std::vector<std::string>{"user00041"});
  CHECK(values(odd.out, "msExchHomeServerName") == std::vector<std::string>{servers + "EXCH01"});
  auto even = search_as_service(s, {"(uid=user05000)", "cn", "sn", "legacyExchangeDN", "msExchHomeServerName"});
  CHECK(values(even.out, "cn") == std::vector<std::string>{"Generated User 05000"});
  CHECK(values(even.out, "sn") == std::vector<std::string>{"User 05000"});
  CHECK(values(even.out, "legacyExchangeDN") == std::vector<std::string>{recipients + "user05000"});
  CHECK(values(even.out, "msExchHomeServerName") == std::vector<std::string>{servers + "EXCH02"});
}

TEST_CASE("slapd harness: searches_seen counts exactly the searches a client sent", "[slapd]") {
  test::slapd s;
  const auto start = s.searches_seen();
  for (int i = 0; i < 3; ++i) {
    auto r = search_as_service(s, {"(uid=bob)", "mail"});
    REQUIRE(r.status == 0);
  }
  CHECK(s.searches_seen() == start + 3);
  // A failed bind sends no search; a paged search sends one per page.
  ldapsearch({"-H", s.url(), "-D", s.bind_dn(), "-w", "wrong", "-b", s.base_dn()});
  auto paged = search_as_service(s, {"-E", "pr=3/noprompt", "(objectClass=user)", "1.1"});
  REQUIRE(paged.status == 0);
  const auto pages = count(paged.out, "\n# search result\n");
  CHECK(pages >= 3);
  // Stable: nothing arrives late.
  std::this_thread::sleep_for(200ms);
  CHECK(s.searches_seen() == start + 3 + pages);
  CHECK_THAT(s.log(), Catch::Contains("SRCH base=\"dc=corp,dc=example\" scope=2 deref=0 filter=\"(uid=bob)\""));
}

TEST_CASE("slapd harness: ldaps and StartTLS with the test CA", "[slapd]") {
  test::slapd s({.tls = true});
  REQUIRE(s.ldaps_port() != 0);
  CHECK(s.ldaps_port() != s.port());
  CHECK(s.ldaps_url() == "ldaps://127.0.0.1:" + std::to_string(s.ldaps_port()));
  const std::vector<std::string> trust{"LDAPTLS_CACERT=" + test::certs().ca_cert};
  const std::vector<std::string> bind{"-D", s.bind_dn(), "-w", s.bind_password(), "-b", s.base_dn(), "(uid=alice)",
                                      "mail"};
  auto with = [&](std::vector<std::string> head) {
    head.insert(head.end(), bind.begin(), bind.end());
    return head;
  };

  auto ldaps = ldapsearch(with({"-H", s.ldaps_url()}), trust);
  INFO(ldaps.out);
  CHECK(ldaps.status == 0);
  CHECK(values(ldaps.out, "mail") == std::vector<std::string>{"alice@corp.example"});

  auto starttls = ldapsearch(with({"-ZZ", "-H", s.url()}), trust);
  INFO(starttls.out);
  CHECK(starttls.status == 0);
  CHECK(values(starttls.out, "mail") == std::vector<std::string>{"alice@corp.example"});

  // Without the test CA the system trust store is used, and the chain does not verify.
  auto ldaps_untrusted = ldapsearch(with({"-H", s.ldaps_url()}));
  INFO(ldaps_untrusted.out);
  CHECK(ldaps_untrusted.status != 0);
  CHECK_THAT(ldaps_untrusted.out, Catch::Contains("Can't contact LDAP server"));
  CHECK(values(ldaps_untrusted.out, "mail").empty());

  auto starttls_untrusted = ldapsearch(with({"-ZZ", "-H", s.url()}));
  INFO(starttls_untrusted.out);
  CHECK(starttls_untrusted.status != 0);
  CHECK_THAT(starttls_untrusted.out, Catch::Contains("ldap_start_tls"));
  CHECK(values(starttls_untrusted.out, "mail").empty());

  // libldap checks a certificate for "localhost" against the machine's own name
  // instead (every TLS backend: tls_g.c tlsg_session_chkhost), so ldaps://localhost
  // fails verification unless the host is called localhost. Hence 127.0.0.1 above.
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  if (std::string_view(host) != "localhost") {
    auto by_name = ldapsearch(with({"-H", "ldaps://localhost:" + std::to_string(s.ldaps_port())}), trust);
    INFO(by_name.out);
    CHECK(by_name.status != 0);
    CHECK(values(by_name.out, "mail").empty());
  }

  // The server sends the intermediate: only the root is trusted here.
  auto chain = run({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(s.ldaps_port()), "-CAfile",
                    test::certs().ca_cert, "-verify_return_error", "-brief"},
                   {}, 15s);
  INFO(chain.out);
  CHECK(chain.status == 0);
  CHECK_THAT(chain.out, Catch::Contains("Verification: OK"));
}

TEST_CASE("slapd harness: kill() then start() brings the same data back on the same port", "[slapd]") {
  test::slapd s;
  const auto port = s.port();
  // A change made through LDAP must survive the crash (mdb is crash-safe).
  const std::string change = s.dir() + "/change.ldif";
  {
    std::ofstream f(change);
    f << "dn: uid=bob,ou=people,dc=corp,dc=example\nchangetype: modify\nreplace: title\ntitle: Chief Builder\n";
  }
  auto mod = run({"ldapmodify", "-x", "-H", s.url(), "-D", s.admin_dn(), "-w", s.admin_password(), "-f", change});
  INFO(mod.out);
  REQUIRE(mod.status == 0);

  s.kill();
  CHECK_FALSE(s.running());
  auto down = search_as_service(s, {"(uid=alice)", "mail"});
  CHECK(down.status == 255);
  CHECK_THAT(down.out, Catch::Contains("Can't contact LDAP server"));

  s.start();
  CHECK(s.running());
  CHECK(s.port() == port);
  auto alice = search_as_service(s, {"(uid=alice)", "mail"});
  CHECK(alice.status == 0);
  CHECK(values(alice.out, "mail") == std::vector<std::string>{"alice@corp.example"});
  auto bob = search_as_service(s, {"(uid=bob)", "title"});
  CHECK(values(bob.out, "title") == std::vector<std::string>{"Chief Builder"});

  // A graceful stop and start, too; the log keeps every run.
  const auto seen = s.searches_seen();
  s.stop();
  CHECK_FALSE(s.running());
  s.start();
  auto again = search_as_service(s, {"(uid=carol)", "mail"});
  CHECK(values(again.out, "mail") == std::vector<std::string>{"carol@corp.example"});
  CHECK(s.searches_seen() == seen + 1);
  CHECK(count(s.log(), "slapd starting") == 3);
}

TEST_CASE("slapd harness: pause() makes clients time out, resume() answers again", "[slapd]") {
  test::slapd s;
  s.pause();
  CHECK(s.running());
  // -o nettimeout only bounds connect(), which the kernel completes for a stopped
  // process; -o timeout (LDAP_OPT_TIMEOUT) bounds the wait for the bind response.
  const std::vector<std::string> args{"-o", "nettimeout=1", "-o", "timeout=1", "-l", "1", "-H", s.url(), "-D",
                                      s.bind_dn(), "-w", s.bind_password(), "-b", s.base_dn(), "(uid=alice)", "mail"};
  const auto t0 = std::chrono::steady_clock::now();
  auto paused = ldapsearch(args, {}, 20s);
  const auto took = std::chrono::steady_clock::now() - t0;
  INFO(paused.out);
  CHECK(paused.status != 0);
  CHECK(paused.status != -1);  // it gave up by itself
  CHECK_THAT(paused.out, Catch::Contains("Timed out"));
  CHECK(took < 10s);
  CHECK(values(paused.out, "mail").empty());
  CHECK(s.running());

  s.resume();
  auto resumed = ldapsearch(args, {}, 20s);
  INFO(resumed.out);
  CHECK(resumed.status == 0);
  CHECK(values(resumed.out, "mail") == std::vector<std::string>{"alice@corp.example"});
}

TEST_CASE("slapd harness: silent_server accepts and never answers", "[slapd]") {
  test::silent_server srv;
  REQUIRE(srv.port() != 0);
  int fd = connect_loopback(srv.port());
  REQUIRE(fd >= 0);
  CHECK(test::eventually([&] { return srv.accepted() == 1; }, 2s));
  const char hello[] = "hello?";
  CHECK(::send(fd, hello, sizeof hello - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof hello - 1));
  pollfd p{fd, POLLIN, 0};
  CHECK(::poll(&p, 1, 500) == 0);  // no byte, no EOF, no reset

  // A real client against it runs into its own deadline.
  auto r = ldapsearch({"-o", "nettimeout=1", "-o", "timeout=1", "-H", "ldap://127.0.0.1:" + std::to_string(srv.port()),
                       "-b", "dc=corp,dc=example"},
                      {}, 20s);
  INFO(r.out);
  CHECK(r.status != 0);
  CHECK(r.status != -1);
  CHECK_THAT(r.out, Catch::Contains("Timed out"));
  CHECK(srv.accepted() == 2);
  CHECK(::poll(&p, 1, 0) == 0);  // the first connection is still open and silent
  ::close(fd);
}

// Run by the next test as a child process: starts slapd, reports it, and dies abruptly.
TEST_CASE("slapd harness: orphan helper", "[.][slapd-orphan-helper]") {
  test::slapd s;
  std::ifstream pidfile(s.dir() + "/slapd.pid");
  long pid = 0;
  pidfile >> pid;
  std::printf("SLAPD pid=%ld port=%u dir=%s\n", pid, static_cast<unsigned>(s.port()), s.dir().c_str());
  std::fflush(stdout);
  ::raise(SIGKILL);  // no destructor runs
}

TEST_CASE("slapd harness: slapd dies with the test process", "[slapd]") {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  auto helper = run({self, "slapd harness: orphan helper"}, {}, 60s);
  INFO(helper.out);
  REQUIRE(helper.status == 128 + SIGKILL);
  auto at = helper.out.find("SLAPD pid=");
  REQUIRE(at != std::string::npos);
  long pid = 0;
  unsigned port = 0;
  char dir[256] = {};
  REQUIRE(std::sscanf(helper.out.c_str() + at, "SLAPD pid=%ld port=%u dir=%255s", &pid, &port, dir) == 3);
  REQUIRE(pid > 0);
  REQUIRE(std::string_view(dir).rfind("/tmp/calgate-test-", 0) == 0);
  CHECK(test::eventually([&] { return process_gone(static_cast<pid_t>(pid)); }, 5s));
  CHECK(test::eventually(
      [&] {
        int fd = connect_loopback(static_cast<std::uint16_t>(port));
        if (fd >= 0) ::close(fd);
        return fd < 0;
      },
      5s));
  // The helper had no chance to clean up.
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
