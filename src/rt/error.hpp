#pragma once
// Error codes shared by every layer, and the exception that carries them.
#include <string>
#include <system_error>

namespace calgate::rt {

// Runtime-level outcomes that are not operating-system errors.
enum class errc {
  canceled = 1,    // the operation's stop token was triggered by a cancel
  timed_out,       // the operation's stop token was triggered by a deadline
  closed,          // the stream or resource was closed while in use
  eof,             // the peer closed its side before the expected data arrived
  limit_exceeded,  // a configured bound (size, count, queue) was hit
  protocol_error,  // the peer sent something the protocol does not allow
  bad_input,       // the caller supplied malformed input
  unavailable,     // the service is not (yet, or any more) available
};

const std::error_category& rt_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

// libuv's negative error numbers, with uv_strerror messages.
const std::error_category& uv_category() noexcept;
std::error_code uv_error(int uv_status) noexcept;

// True for the two ways a stop request ends an operation.
inline bool is_stop(std::error_code ec) noexcept {
  return ec == make_error_code(errc::canceled) || ec == make_error_code(errc::timed_out);
}

// The exception thrown by awaitables that report failure by throwing.
class error : public std::system_error {
 public:
  explicit error(std::error_code ec) : std::system_error(ec) {}
  error(std::error_code ec, const std::string& what) : std::system_error(ec, what) {}
};

[[noreturn]] void throw_error(std::error_code ec);
[[noreturn]] void throw_error(std::error_code ec, const std::string& what);

}  // namespace calgate::rt

template <>
struct std::is_error_code_enum<calgate::rt::errc> : std::true_type {};
