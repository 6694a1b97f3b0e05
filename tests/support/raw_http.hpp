#pragma once
// Raw-socket helpers for driving servers byte by byte in tests.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "net/http/parser.hpp"
#include "net/tcp.hpp"
#include "rt/task.hpp"

namespace calgate::test {

// Reads from s until the peer closes, an error occurs, or `quiet` passes with
// no new bytes. Returns everything read.
rt::task<std::string> read_until_quiet(net::stream& s, std::chrono::milliseconds quiet);

// Connects, sends `bytes`, and returns what came back (see read_until_quiet).
rt::task<std::string> raw_exchange(std::uint16_t port, std::string bytes,
                                   std::chrono::milliseconds quiet = std::chrono::milliseconds(300));

struct parsed_response {
  int status = 0;
  net::http::headers headers;
  std::string body;
  bool keep_alive = false;
};

// Splits a byte string holding zero or more responses (to requests with the
// given methods, in order). Stops at the first incomplete one.
std::vector<parsed_response> parse_responses(std::string_view bytes, const std::vector<std::string>& methods = {});

// Reads one complete response from s (waiting as needed, up to `limit`).
rt::task<parsed_response> read_response(net::stream& s, std::string method = "GET",
                                        std::chrono::milliseconds limit = std::chrono::milliseconds(5000));

}  // namespace calgate::test
