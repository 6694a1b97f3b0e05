#include "rt/error.hpp"

#include <uv.h>

namespace calgate::rt {
namespace {

class rt_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "calgate"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::canceled: return "operation canceled";
      case errc::timed_out: return "operation timed out";
      case errc::closed: return "closed";
      case errc::eof: return "unexpected end of stream";
      case errc::limit_exceeded: return "limit exceeded";
      case errc::protocol_error: return "protocol error";
      case errc::bad_input: return "bad input";
      case errc::unavailable: return "unavailable";
    }
    return "unknown error";
  }
};

class uv_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "uv"; }
  std::string message(int c) const override { return uv_strerror(c); }
  std::error_condition default_error_condition(int c) const noexcept override {
    // libuv's codes are negated errno values on Unix, except its own UV_EOF/EAI ones.
    if (c < 0 && c > -4000) return std::error_condition(-c, std::generic_category());
    return std::error_condition(c, *this);
  }
};

}  // namespace

const std::error_category& rt_category() noexcept {
  static const rt_category_impl instance;
  return instance;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), rt_category()}; }

const std::error_category& uv_category() noexcept {
  static const uv_category_impl instance;
  return instance;
}

std::error_code uv_error(int uv_status) noexcept {
  if (uv_status == UV_ECANCELED) return make_error_code(errc::canceled);
  if (uv_status == UV_ETIMEDOUT) return make_error_code(errc::timed_out);
  if (uv_status == UV_EOF) return make_error_code(errc::eof);
  return {uv_status, uv_category()};
}

void throw_error(std::error_code ec) { throw error(ec); }
void throw_error(std::error_code ec, const std::string& what) { throw error(ec, what); }

}  // namespace calgate::rt
