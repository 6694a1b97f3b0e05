// Address resolutions per second through calgate's directory service against a
// real slapd with 5000 generated users: cold (through LDAP) and warm (from the
// cache), one at a time and many at once, all in one run.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "proto/ldap/client.hpp"
#include "rt/loop.hpp"
#include "rt/run.hpp"
#include "rt/when_all.hpp"
#include "support/slapd.hpp"
#include "svc/directory.hpp"

using namespace calgate;
using clock_type = std::chrono::steady_clock;

namespace {

struct figure {
  const char* name;
  std::size_t resolutions;
  double seconds;
  std::uint64_t ldap_searches;
  double rate() const { return static_cast<double>(resolutions) / seconds; }
};

std::string address(int i) {
  char a[64];
  std::snprintf(a, sizeof a, "user%05d@corp.example", i);
  return a;
}

rt::task<std::size_t> sequential(svc::directory& d, int from, int to) {
  std::size_t ok = 0;
  for (int i = from; i <= to; ++i) {
    auto r = co_await d.resolve(address(i));
    if (r && *r) ++ok;
  }
  co_return ok;
}

// `width` lookups in flight at a time (as many concurrent requests would make).
rt::task<std::size_t> concurrent(svc::directory& d, int from, int to, int width) {
  std::size_t ok = 0;
  for (int base = from; base <= to; base += width) {
    std::vector<rt::task<rt::result<svc::mailbox_ptr>>> ts;
    for (int i = base; i < base + width && i <= to; ++i) ts.push_back(d.resolve(address(i)));
    auto rs = co_await rt::when_all(std::move(ts));
    for (auto& r : rs)
      if (r && *r) ++ok;
  }
  co_return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const int users = argc > 1 ? std::atoi(argv[1]) : 5000;
  const int width = argc > 2 ? std::atoi(argv[2]) : 200;
  test::slapd server({.generated_users = users});
  rt::loop loop;
  std::vector<figure> figs;
  rt::run(loop, [&]() -> rt::task<void> {
    proto::ldap::client_options lo;
    lo.url = server.url();
    lo.bind_dn = server.bind_dn();
    lo.bind_password = server.bind_password();
    proto::ldap::client ldap(lo);
    if (auto ec = co_await ldap.start()) {
      std::fprintf(stderr, "cannot connect: %s\n", ec.message().c_str());
      std::exit(1);
    }
    auto o = svc::directory_options::profile("active_directory");
    o.base_dn = server.base_dn();
    svc::directory dir(ldap, o);
    const int half = users / 2;
    auto measure = [&](const char* name, auto make) -> rt::task<void> {
      auto before = ldap.searches_sent();
      auto t0 = clock_type::now();
      std::size_t n = co_await make();
      double s = std::chrono::duration<double>(clock_type::now() - t0).count();
      figs.push_back({name, n, s, ldap.searches_sent() - before});
    };
    // Cold: the first half one by one (one LDAP search each), the second half many at once (batched).
    co_await measure("cold, one at a time", [&] { return sequential(dir, 1, half); });
    co_await measure("cold, concurrent", [&] { return concurrent(dir, half + 1, users, width); });
    // Warm: everything is cached now; 20 passes so the time is long enough to measure.
    co_await measure("warm, one at a time", [&]() -> rt::task<std::size_t> {
      std::size_t n = 0;
      for (int pass = 0; pass < 20; ++pass) n += co_await sequential(dir, 1, users);
      co_return n;
    });
    co_await measure("warm, concurrent", [&]() -> rt::task<std::size_t> {
      std::size_t n = 0;
      for (int pass = 0; pass < 20; ++pass) n += co_await concurrent(dir, 1, users, width);
      co_return n;
    });
    co_await dir.stop();
    co_await ldap.stop();
  }());
  loop.close();
  std::printf("directory resolutions, %d generated users, slapd on loopback, concurrency %d\n", users, width);
  std::printf("%-22s %10s %10s %14s %14s\n", "case", "resolved", "seconds", "per second", "LDAP searches");
  for (const auto& f : figs)
    std::printf("%-22s %10zu %10.3f %14.0f %14llu\n", f.name, f.resolutions, f.seconds, f.rate(),
                static_cast<unsigned long long>(f.ldap_searches));
  std::printf("warm/cold (one at a time): %.1fx\n", figs[2].rate() / figs[0].rate());
  std::printf("warm/cold (concurrent):    %.1fx\n", figs[3].rate() / figs[1].rate());
  std::printf("cold concurrent/one-at-a-time (batching): %.1fx\n", figs[1].rate() / figs[0].rate());
  return 0;
}
