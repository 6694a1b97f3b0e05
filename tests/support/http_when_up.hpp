#pragma once
// One HTTP request to a server started as a child process (calgate itself),
// from outside any loop, retried while the server is not up yet.
#include <chrono>
#include <functional>

#include "net/http/client.hpp"

namespace calgate::test {

// Sends r on a fresh loop and client; a connection error, or an answer that
// `until` (if given) rejects, is retried every 50 ms, 100 times at most.
// Returns the last answer, or one with status 0 if none came.
net::http::client_response send_when_up(const net::http::client_request& r,
                                        std::function<bool(const net::http::client_response&)> until = {},
                                        std::chrono::milliseconds total_timeout = std::chrono::milliseconds(3000));

}  // namespace calgate::test
