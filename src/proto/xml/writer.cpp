#include "proto/xml/writer.hpp"

#include <cstdint>

namespace calgate::xml {

namespace {

// Length of a valid UTF-8 sequence at s[i] (0 if invalid), and its code point.
std::size_t utf8_at(std::string_view s, std::size_t i, std::uint32_t& cp) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t n;
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
    return 0;
  return n;
}

}  // namespace

void append_escaped(std::string& out, std::string_view v, bool quote) {
  for (std::size_t i = 0; i < v.size();) {
    std::uint32_t cp = 0;
    std::size_t n = utf8_at(v, i, cp);
    if (n == 0) {
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
