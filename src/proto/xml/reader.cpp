#include "proto/xml/reader.hpp"

#include <expat.h>

#include <vector>

namespace calgate::xml {

namespace {
constexpr char ns_sep = '\xff';  // cannot occur in a URI (not even legal in XML)

void split(const char* name, std::string_view& ns, std::string_view& local) {
  std::string_view n(name);
  std::size_t p = n.find(ns_sep);
  if (p == std::string_view::npos) {
    ns = {};
    local = n;
  } else {
    ns = n.substr(0, p);
    local = n.substr(p + 1);
  }
}
}  // namespace

struct reader::state {
  handler& h;
  limits lim;
  XML_Parser p = nullptr;
  std::size_t depth = 0;
  std::size_t text_run = 0;
  std::size_t total = 0;
  bool failed = false;
  bool finished = false;
  std::string error;
  std::vector<attribute> attrs;

  state(handler& hh, limits l) : h(hh), lim(l) {}

  void stop(std::string what) {
    if (failed) return;
    failed = true;
    error = "line " + std::to_string(XML_GetCurrentLineNumber(p)) + ", column " +
            std::to_string(XML_GetCurrentColumnNumber(p)) + ": " + what;
    XML_StopParser(p, XML_FALSE);
  }

  static void on_start(void* ud, const XML_Char* name, const XML_Char** atts) {
    auto* s = static_cast<state*>(ud);
    if (s->failed) return;
    if (++s->depth > s->lim.max_depth) {
      s->stop("elements nested deeper than " + std::to_string(s->lim.max_depth));
      return;
    }
    s->text_run = 0;
    s->attrs.clear();
    for (const XML_Char** a = atts; *a; a += 2) {
      if (s->attrs.size() == s->lim.max_attributes) {
        s->stop("more than " + std::to_string(s->lim.max_attributes) + " attributes on one element");
        return;
      }
      attribute at;
      split(a[0], at.ns, at.local);
      at.value = a[1];
      s->attrs.push_back(at);
    }
    std::string_view ns, local;
    split(name, ns, local);
    try {
      s->h.start(ns, local, s->attrs);
    } catch (const std::exception& e) {
      s->stop(e.what());
    }
  }

  static void on_end(void* ud, const XML_Char* name) {
    auto* s = static_cast<state*>(ud);
    if (s->failed) return;
    --s->depth;
    s->text_run = 0;
    std::string_view ns, local;
    split(name, ns, local);
    try {
      s->h.end(ns, local);
    } catch (const std::exception& e) {
      s->stop(e.what());
    }
  }

  static void on_text(void* ud, const XML_Char* t, int len) {
    auto* s = static_cast<state*>(ud);
    if (s->failed) return;
    s->text_run += static_cast<std::size_t>(len);
    if (s->text_run > s->lim.max_text_bytes) {
      s->stop("a text node is longer than " + std::to_string(s->lim.max_text_bytes) + " bytes");
      return;
    }
    try {
      s->h.text(std::string_view(t, static_cast<std::size_t>(len)));
    } catch (const std::exception& e) {
      s->stop(e.what());
    }
  }

  static void on_doctype(void* ud, const XML_Char*, const XML_Char*, const XML_Char*, int) {
    static_cast<state*>(ud)->stop("a DOCTYPE is not allowed");
  }

  static void on_entity(void* ud, const XML_Char*, int, const XML_Char*, int, const XML_Char*, const XML_Char*,
                        const XML_Char*, const XML_Char*) {
    static_cast<state*>(ud)->stop("an entity declaration is not allowed");
  }
};

reader::reader(handler& h, limits l) : s_(std::make_unique<state>(h, l)) {
  s_->p = XML_ParserCreateNS(nullptr, ns_sep);
  if (!s_->p) throw std::bad_alloc();
  XML_SetUserData(s_->p, s_.get());
  XML_SetElementHandler(s_->p, &state::on_start, &state::on_end);
  XML_SetCharacterDataHandler(s_->p, &state::on_text);
  XML_SetStartDoctypeDeclHandler(s_->p, &state::on_doctype);
  XML_SetEntityDeclHandler(s_->p, &state::on_entity);
  // Belt and braces: never needed with DTDs refused, but bounds any expansion.
  XML_SetBillionLaughsAttackProtectionMaximumAmplification(s_->p, 2.0f);
  XML_SetBillionLaughsAttackProtectionActivationThreshold(s_->p, 64u << 10);
}

reader::~reader() {
  if (s_ && s_->p) XML_ParserFree(s_->p);
}

bool reader::feed(std::string_view chunk) {
  state& s = *s_;
  if (s.failed) return false;
  if (s.finished) {
    s.failed = true;
    s.error = "data after the end of the document";
    return false;
  }
  s.total += chunk.size();
  if (s.total > s.lim.max_total_bytes) {
    s.failed = true;
    s.error = "the document is larger than " + std::to_string(s.lim.max_total_bytes) + " bytes";
    return false;
  }
  // expat takes int lengths; feed very large chunks in slices.
  while (!chunk.empty()) {
    std::size_t n = std::min<std::size_t>(chunk.size(), 1u << 30);
    if (XML_Parse(s.p, chunk.data(), static_cast<int>(n), XML_FALSE) != XML_STATUS_OK) {
      if (!s.failed) {
        s.failed = true;
        s.error = "line " + std::to_string(XML_GetCurrentLineNumber(s.p)) + ", column " +
                  std::to_string(XML_GetCurrentColumnNumber(s.p)) + ": " +
                  XML_ErrorString(XML_GetErrorCode(s.p));
      }
      return false;
    }
    chunk.remove_prefix(n);
  }
  return true;
}

bool reader::finish() {
  state& s = *s_;
  if (s.failed) return false;
  if (XML_Parse(s.p, nullptr, 0, XML_TRUE) != XML_STATUS_OK) {
    if (!s.failed) {
      s.failed = true;
      s.error = "line " + std::to_string(XML_GetCurrentLineNumber(s.p)) + ", column " +
                std::to_string(XML_GetCurrentColumnNumber(s.p)) + ": " + XML_ErrorString(XML_GetErrorCode(s.p));
    }
    return false;
  }
  s.finished = true;
  return true;
}

void reader::fail(std::string message) { s_->stop(std::move(message)); }
bool reader::ok() const noexcept { return !s_->failed; }
const std::string& reader::error() const noexcept { return s_->error; }
std::size_t reader::depth() const noexcept { return s_->depth; }

}  // namespace calgate::xml
