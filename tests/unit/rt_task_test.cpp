#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "rt/run_blocking.hpp"
#include "rt/sleep.hpp"
#include "rt/task_group.hpp"
#include "rt/when_all.hpp"
#include "rt/with_timeout.hpp"
#include "support/loop_test.hpp"

using namespace calgate;
using namespace std::chrono_literals;
using test::run_loop_test;

namespace {

rt::task<int> sync_value(int v) { co_return v; }
rt::task<int> sync_chain(int depth) {
  if (depth == 0) co_return 1;
  co_return 1 + co_await sync_chain(depth - 1);
}
rt::task<void> nap(std::chrono::milliseconds d) { co_await rt::sleep_for(d); }
rt::task<void> throws_after(std::chrono::milliseconds d) {
  co_await rt::sleep_for(d);
  throw std::runtime_error("boom");
}

}  // namespace

TEST_CASE("task: three million synchronously completing awaits do not grow the stack", "[rt][task]") {
  long sum = run_loop_test([]() -> rt::task<long> {
    long s = 0;
    for (int i = 0; i < 3'000'000; ++i) s += co_await sync_value(1);
    co_return s;
  });
  REQUIRE(sum == 3'000'000);
}

TEST_CASE("task: nested synchronous chain returns values", "[rt][task]") {
  REQUIRE(run_loop_test([]() -> rt::task<int> { co_return co_await sync_chain(500); }) == 501);
}

TEST_CASE("task: asynchronous completions resume the parent from the loop", "[rt][task]") {
  int n = run_loop_test([]() -> rt::task<int> {
    int count = 0;
    for (int i = 0; i < 1000; ++i) {
      co_await rt::yield();
      ++count;
    }
    co_return count;
  });
  REQUIRE(n == 1000);
}

TEST_CASE("task: exceptions propagate to the awaiting coroutine", "[rt][task]") {
  std::string what = run_loop_test([]() -> rt::task<std::string> {
    try {
      co_await throws_after(1ms);
    } catch (const std::runtime_error& e) {
      co_return std::string(e.what());
    }
    co_return std::string("no exception");
  });
  REQUIRE(what == "boom");
}

TEST_CASE("task: move-only results are moved out", "[rt][task]") {
  auto p = run_loop_test([]() -> rt::task<std::unique_ptr<int>> {
    auto make = []() -> rt::task<std::unique_ptr<int>> { co_return std::make_unique<int>(7); };
    co_return co_await make();
  });
  REQUIRE(*p == 7);
}

TEST_CASE("sleep: waits at least the requested time", "[rt][timer]") {
  auto elapsed = run_loop_test([]() -> rt::task<std::chrono::steady_clock::duration> {
    auto t0 = std::chrono::steady_clock::now();
    co_await rt::sleep_for(30ms);
    co_return std::chrono::steady_clock::now() - t0;
  });
  REQUIRE(elapsed >= 29ms);
}

TEST_CASE("timers fire in deadline order", "[rt][timer]") {
  auto order = run_loop_test([]() -> rt::task<std::string> {
    std::string out;
    auto one = [&](char c, std::chrono::milliseconds d) -> rt::task<void> {
      co_await rt::sleep_for(d);
      out += c;
    };
    co_await rt::when_all(one('c', 30ms), one('a', 5ms), one('b', 15ms));
    co_return out;
  });
  REQUIRE(order == "abc");
}

TEST_CASE("with_timeout: a slow operation resumes once with timed_out", "[rt][cancel]") {
  auto code = run_loop_test([]() -> rt::task<std::error_code> {
    try {
      co_await rt::with_timeout(20ms, nap(10s));
    } catch (const rt::error& e) {
      co_return e.code();
    }
    co_return std::error_code{};
  });
  REQUIRE(code == rt::errc::timed_out);
}

TEST_CASE("with_timeout: a fast operation keeps its value and disarms the deadline", "[rt][cancel]") {
  int v = run_loop_test([]() -> rt::task<int> {
    auto fast = []() -> rt::task<int> {
      co_await rt::sleep_for(1ms);
      co_return 42;
    };
    co_return co_await rt::with_timeout(5s, fast());
  });
  REQUIRE(v == 42);
}

TEST_CASE("with_timeout: an outer stop reaches inner operations with its own reason", "[rt][cancel]") {
  auto code = run_loop_test([]() -> rt::task<std::error_code> {
    rt::task_group g;
    std::error_code seen;
    g.spawn([](std::error_code& out) -> rt::task<void> {
      try {
        co_await rt::with_timeout(10s, nap(10s));
      } catch (const rt::error& e) {
        out = e.code();
      }
    }(seen));
    co_await rt::sleep_for(5ms);
    g.request_stop();
    co_await g.join();
    co_return seen;
  });
  REQUIRE(code == rt::errc::canceled);
}

TEST_CASE("task_group: join waits for every task; stop cancels the sleepers", "[rt][group]") {
  auto r = run_loop_test([]() -> rt::task<std::pair<int, int>> {
    rt::task_group g;
    int finished = 0, canceled = 0;
    for (int i = 0; i < 50; ++i) {
      g.spawn([](int i, int& fin, int& can) -> rt::task<void> {
        try {
          co_await rt::sleep_for(i < 25 ? 1ms : 10s);
          ++fin;
        } catch (const rt::error& e) {
          if (e.code() == rt::errc::canceled) ++can;
        }
      }(i, finished, canceled));
    }
    REQUIRE(g.size() == 50);
    co_await rt::sleep_for(30ms);
    g.request_stop();
    co_await g.join();
    REQUIRE(g.size() == 0);
    co_return std::pair{finished, canceled};
  });
  REQUIRE(r.first == 25);
  REQUIRE(r.second == 25);
}

TEST_CASE("task_group: a task spawned after stop sees the stop at once", "[rt][group]") {
  bool threw = run_loop_test([]() -> rt::task<bool> {
    rt::task_group g;
    g.request_stop();
    bool t = false;
    g.spawn([](bool& out) -> rt::task<void> {
      try {
        co_await rt::sleep_for(10s);
      } catch (const rt::error&) {
        out = true;
      }
    }(t));
    co_await g.join();
    co_return t;
  });
  REQUIRE(threw);
}

TEST_CASE("when_all: collects results in order", "[rt][when_all]") {
  auto v = run_loop_test([]() -> rt::task<std::vector<int>> {
    std::vector<rt::task<int>> ts;
    for (int i = 0; i < 10; ++i) {
      ts.push_back([](int i) -> rt::task<int> {
        co_await rt::sleep_for(std::chrono::milliseconds(10 - i));
        co_return i * i;
      }(i));
    }
    co_return co_await rt::when_all(std::move(ts));
  });
  REQUIRE(v.size() == 10);
  for (int i = 0; i < 10; ++i) REQUIRE(v[static_cast<std::size_t>(i)] == i * i);
}

TEST_CASE("when_all: a failure cancels the siblings and is rethrown after they finish", "[rt][when_all]") {
  auto r = run_loop_test([]() -> rt::task<std::pair<std::string, bool>> {
    bool sibling_canceled = false;
    auto sibling = [](bool& flag) -> rt::task<void> {
      try {
        co_await rt::sleep_for(10s);
      } catch (const rt::error& e) {
        flag = e.code() == rt::errc::canceled;
        throw;
      }
    };
    try {
      co_await rt::when_all(throws_after(5ms), sibling(sibling_canceled));
    } catch (const std::runtime_error& e) {
      co_return std::pair{std::string(e.what()), sibling_canceled};
    }
    co_return std::pair{std::string(), sibling_canceled};
  });
  REQUIRE(r.first == "boom");
  REQUIRE(r.second);
}

TEST_CASE("run_blocking: runs on another thread and resumes on the loop thread", "[rt][blocking]") {
  auto loop_thread = std::this_thread::get_id();
  auto r = run_loop_test([&]() -> rt::task<std::pair<bool, bool>> {
    std::thread::id worker;
    int v = co_await rt::run_blocking([&] {
      worker = std::this_thread::get_id();
      return 5;
    });
    co_return std::pair{worker != loop_thread && v == 5, std::this_thread::get_id() == loop_thread};
  });
  REQUIRE(r.first);
  REQUIRE(r.second);
}

TEST_CASE("run_blocking: exceptions cross back to the loop", "[rt][blocking]") {
  std::string what = run_loop_test([]() -> rt::task<std::string> {
    try {
      co_await rt::run_blocking([]() -> int { throw std::runtime_error("worker failed"); });
    } catch (const std::runtime_error& e) {
      co_return std::string(e.what());
    }
    co_return std::string();
  });
  REQUIRE(what == "worker failed");
}

TEST_CASE("run_blocking: a timeout waits for running work, then reports timed_out", "[rt][blocking]") {
  auto r = run_loop_test([]() -> rt::task<std::pair<std::error_code, bool>> {
    bool ran_to_end = false;
    std::error_code ec;
    try {
      co_await rt::with_timeout(10ms, [](bool& flag) -> rt::task<void> {
        co_await rt::run_blocking([&] {
          std::this_thread::sleep_for(60ms);
          flag = true;
        });
      }(ran_to_end));
    } catch (const rt::error& e) {
      ec = e.code();
    }
    co_return std::pair{ec, ran_to_end};
  });
  REQUIRE(r.first == rt::errc::timed_out);
  REQUIRE(r.second);  // the frame was not abandoned while the work used it
}

TEST_CASE("post: other threads reach the loop", "[rt][post]") {
  int v = run_loop_test([]() -> rt::task<int> {
    int got = 0;
    std::thread t([&] { rt::loop::current_or_null(); });
    t.join();
    rt::loop& l = rt::loop::current();
    std::thread poster([&l, &got] { l.post([&got] { got = 99; }); });
    poster.join();
    for (int i = 0; i < 100 && got == 0; ++i) co_await rt::sleep_for(1ms);
    co_return got;
  });
  REQUIRE(v == 99);
}

TEST_CASE("stop tokens: callbacks run once, deregister, and carry the reason", "[rt][stop]") {
  rt::stop_source src;
  int fired = 0;
  rt::stop_reason seen = rt::stop_reason::none;
  {
    rt::stop_callback gone(src.token(), [&](rt::stop_reason) { fired += 100; });
  }
  rt::stop_callback cb(src.token(), [&](rt::stop_reason r) {
    ++fired;
    seen = r;
  });
  REQUIRE(src.request_stop(rt::stop_reason::timed_out));
  REQUIRE_FALSE(src.request_stop());
  REQUIRE(fired == 1);
  REQUIRE(seen == rt::stop_reason::timed_out);
  rt::stop_callback late(src.token(), [&](rt::stop_reason) { fired += 10; });
  REQUIRE(fired == 11);
}

TEST_CASE("stop tokens: a linked source follows its parent", "[rt][stop]") {
  rt::stop_source parent;
  rt::linked_stop_source child(parent.token());
  REQUIRE_FALSE(child.stop_requested());
  parent.request_stop(rt::stop_reason::timed_out);
  REQUIRE(child.reason() == rt::stop_reason::timed_out);
  rt::stop_source p2;
  {
    rt::linked_stop_source c2(p2.token());
    c2.request_stop();
  }
  REQUIRE_FALSE(p2.stop_requested());
  p2.request_stop();  // the destroyed child's forwarder must be gone
}
