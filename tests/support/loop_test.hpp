#pragma once
// Runs a coroutine test body on a fresh loop and checks that the loop closes
// cleanly afterwards (every handle closed, uv_loop_close() == 0).
#include <catch2/catch.hpp>

#include "rt/loop.hpp"
#include "rt/run.hpp"
#include "rt/task.hpp"

// Never write co_await inside a Catch2 assertion macro: the macros mention
// their argument more than once (in unevaluated contexts), and GCC 12 then
// evaluates the co_await twice. Await into a variable, then assert on it.

namespace calgate::test {

template <class F>
auto run_loop_test(F&& body) {
  rt::loop l;
  if constexpr (std::is_void_v<typename decltype(body())::value_type>) {
    rt::run(l, body());
    REQUIRE(l.close() == 0);
  } else {
    auto r = rt::run(l, body());
    REQUIRE(l.close() == 0);
    return r;
  }
}

}  // namespace calgate::test
