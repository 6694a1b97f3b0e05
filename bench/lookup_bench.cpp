// The directory for bench/lookup.sh: a real slapd with the test harness's generated
// population (tests/support/slapd.*: userNNNNN@corp.example, N = 1..users), held for
// as long as the benchmark runs.
//
//   lookup_bench USERS
//
// Prints one line on stdout once slapd answers a bind:
//   slapd-ready url=ldap://127.0.0.1:PORT base_dn=... bind_dn=... bind_password=... users=N pid=PID
// and then waits for SIGTERM, SIGINT or SIGHUP (or for its parent to die: it asks the
// kernel for SIGTERM then), stops slapd (SIGTERM, then SIGKILL) and removes its temp
// dir. slapd itself gets SIGKILL if this process dies without cleaning up.
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "support/slapd.hpp"

using namespace calgate;

namespace {

int wake_pipe[2] = {-1, -1};

void on_signal(int) {
  const char c = 1;
  [[maybe_unused]] auto n = ::write(wake_pipe[1], &c, 1);
}

}  // namespace

int main(int argc, char** argv) {
  const int users = argc > 1 ? std::atoi(argv[1]) : 5000;
  if (users < 1) {
    std::fprintf(stderr, "usage: lookup_bench USERS (>= 1)\n");
    return 2;
  }
  // The benchmark script is our parent: if it is killed outright, we still clean up.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::pipe(wake_pipe) != 0) return 1;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(s, &sa, nullptr);
  if (::getppid() == 1) return 1;  // the parent died before prctl took effect

  try {
    test::slapd server({.generated_users = users});
    std::printf("slapd-ready url=%s base_dn=%s bind_dn=%s bind_password=%s users=%d\n", server.url().c_str(),
                server.base_dn().c_str(), server.bind_dn().c_str(), server.bind_password().c_str(), users);
    std::fflush(stdout);
    char c;
    while (::read(wake_pipe[0], &c, 1) < 0 && errno == EINTR) {
    }
    server.stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lookup_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
