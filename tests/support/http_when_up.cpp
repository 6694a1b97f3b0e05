#include "support/http_when_up.hpp"

#include "rt/sleep.hpp"
#include "support/loop_test.hpp"

namespace calgate::test {

using namespace std::chrono_literals;

net::http::client_response send_when_up(const net::http::client_request& r,
                                        std::function<bool(const net::http::client_response&)> until,
                                        std::chrono::milliseconds total_timeout) {
  return run_loop_test([&]() -> rt::task<net::http::client_response> {
    net::http::client_options o;
    o.connect_timeout = 300ms;
    o.total_timeout = total_timeout;
    net::http::client c(o);
    net::http::client_response last;
    for (int i = 0; i < 100; ++i) {
      net::http::client_request attempt = r;
      auto resp = co_await c.send(std::move(attempt));
      if (resp) {
        last = std::move(*resp);
        if (!until || until(last)) break;
      }
      co_await rt::sleep_for(50ms);
    }
    c.close_idle();
    co_return last;
  });
}

}  // namespace calgate::test
