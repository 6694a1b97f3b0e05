#pragma once
// A namespace-aware streaming XML reader on expat.
//
// Bytes may be fed in chunks split anywhere (even inside a UTF-8 sequence).
// SOAP has no DTD, so any DOCTYPE or entity declaration stops the parse at
// once (no entity is ever expanded). Depth, attribute count, the size of one
// text node and the whole document are capped. Errors carry line and column.
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace calgate::xml {

struct limits {
  std::size_t max_depth = 128;
  std::size_t max_attributes = 64;
  std::size_t max_text_bytes = 1u << 20;    // one run of character data
  std::size_t max_total_bytes = 64u << 20;  // the whole document
};

struct attribute {
  std::string_view ns;  // "" for unqualified attributes
  std::string_view local;
  std::string_view value;
};

// Receives the document as events. Names are split into namespace URI and
// local name; prefixes are not reported (only URIs matter). Text may arrive
// in several pieces; views are valid only during the call.
class handler {
 public:
  virtual ~handler() = default;
  virtual void start(std::string_view ns, std::string_view local, std::span<const attribute> attrs) = 0;
  virtual void end(std::string_view ns, std::string_view local) = 0;
  virtual void text(std::string_view piece) = 0;
};

class reader {
 public:
  explicit reader(handler& h, limits l = {});
  ~reader();
  reader(const reader&) = delete;
  reader& operator=(const reader&) = delete;

  // Parses the next chunk. Returns false once the document is known to be bad.
  bool feed(std::string_view chunk);
  // The input ended: false if the document is incomplete or bad.
  bool finish();
  // Stops the parse from inside a handler callback (the document is then bad).
  void fail(std::string message);

  bool ok() const noexcept;
  // "line L, column C: what went wrong"
  const std::string& error() const noexcept;
  std::size_t depth() const noexcept;

  struct state;

 private:
  std::unique_ptr<state> s_;
};

}  // namespace calgate::xml
