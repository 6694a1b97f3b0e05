#include "proto/xml/writer.hpp"

#include <cstdint>

#include "rt/text.hpp"

namespace calgate::xml {

void append_escaped(std::string& out, std::string_view v, bool quote) {
  for (std::size_t i = 0; i < v.size();) {
    char32_t cp = 0;
    std::size_t n = rt::utf8_sequence(v, i, cp);
    if (n == 0 || cp == 0xFFFE || cp == 0xFFFF) {  // not UTF-8, or not an XML character
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    if (n > 1) {
      out.append(v.substr(i, n));
      i += n;
      continue;
    }
    char c = v[i++];
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"':
        if (quote) out += "&quot;";
        else out += c;
        break;
      case '\t':
      case '\n':
      case '\r':
        // Attribute values would have them normalised to spaces; keep them.
        if (quote) out += c == '\t' ? "&#9;" : c == '\n' ? "&#10;" : "&#13;";
        else if (c == '\r') out += "&#13;";
        else out += c;
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) out += "\xEF\xBF\xBD";  // not allowed in XML 1.0
        else out += c;
    }
  }
}

void writer::end_start_tag() {
  if (in_start_tag_) {
    out_ += '>';
    in_start_tag_ = false;
  }
}

writer& writer::open(std::string_view qname) {
  end_start_tag();
  out_ += '<';
  out_ += qname;
  stack_.emplace_back(qname);
  in_start_tag_ = true;
  return *this;
}

writer& writer::attr(std::string_view qname, std::string_view value) {
  out_ += ' ';
  out_ += qname;
  out_ += "=\"";
  append_escaped(out_, value, true);
  out_ += '"';
  return *this;
}

writer& writer::text(std::string_view value) {
  end_start_tag();
  append_escaped(out_, value, false);
  return *this;
}

writer& writer::close() {
  if (stack_.empty()) return *this;
  if (in_start_tag_) {
    out_ += "/>";
    in_start_tag_ = false;
  } else {
    out_ += "</";
    out_ += stack_.back();
    out_ += '>';
  }
  stack_.pop_back();
  return *this;
}

writer& writer::leaf(std::string_view qname, std::string_view value) {
  open(qname);
  text(value);
  return close();
}

std::string writer::take() {
  while (!stack_.empty()) close();
  return std::move(out_);
}

}  // namespace calgate::xml
