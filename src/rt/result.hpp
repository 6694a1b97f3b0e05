#pragma once
// result<T>: a value or an error code, for operations whose failure is routine
// (network I/O, upstream calls) and that callers retry or map rather than unwind.
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

#include "rt/error.hpp"

namespace calgate::rt {

template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  result(std::error_code ec) : ec_(ec) {}        // NOLINT: implicit by design
  result(errc e) : ec_(make_error_code(e)) {}    // NOLINT: implicit by design

  explicit operator bool() const noexcept { return value_.has_value(); }
  bool has_value() const noexcept { return value_.has_value(); }
  std::error_code error() const noexcept { return ec_; }

  T& value() & {
    if (!value_) throw_error(ec_);
    return *value_;
  }
  T&& value() && {
    if (!value_) throw_error(ec_);
    return std::move(*value_);
  }
  template <class U>
  T value_or(U&& fallback) const& {
    return value_ ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }
  T& operator*() & noexcept { return *value_; }
  T&& operator*() && noexcept { return std::move(*value_); }
  T* operator->() noexcept { return &*value_; }
  const T* operator->() const noexcept { return &*value_; }

 private:
  std::optional<T> value_;
  std::error_code ec_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(std::error_code ec) : ec_(ec) {}      // NOLINT: implicit by design
  result(errc e) : ec_(make_error_code(e)) {}  // NOLINT: implicit by design
  explicit operator bool() const noexcept { return !ec_; }
  bool has_value() const noexcept { return !ec_; }
  std::error_code error() const noexcept { return ec_; }
  void value() const {
    if (ec_) throw_error(ec_);
  }

 private:
  std::error_code ec_;
};

}  // namespace calgate::rt
