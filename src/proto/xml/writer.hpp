#pragma once
// Builds XML text (SOAP envelopes) with correct escaping of text and
// attribute values. Characters XML 1.0 cannot carry (control characters,
// invalid UTF-8) are replaced by U+FFFD rather than emitted.
#include <string>
#include <string_view>
#include <vector>

namespace calgate::xml {

class writer {
 public:
  // <name ...>: attributes may follow until content or the close.
  writer& open(std::string_view qname);
  writer& attr(std::string_view qname, std::string_view value);
  // Character data inside the element opened last.
  writer& text(std::string_view value);
  // Closes the innermost open element (as <x/> if it has no content).
  writer& close();
  // <qname>value</qname>
  writer& leaf(std::string_view qname, std::string_view value);

  std::string take();
  const std::string& str() const noexcept { return out_; }

 private:
  void end_start_tag();
  std::string out_;
  std::vector<std::string> stack_;
  bool in_start_tag_ = false;
};

// Appends value escaped for element content (quote = false) or for a
// double-quoted attribute value (quote = true).
void append_escaped(std::string& out, std::string_view value, bool quote);

}  // namespace calgate::xml
