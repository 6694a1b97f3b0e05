#include "proto/ews/soap.hpp"

#include <charconv>

#include "proto/xml/writer.hpp"

namespace calgate::proto::ews {

namespace {
int to_int(std::string_view s) {
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}
}  // namespace

std::string envelope(std::string_view version, std::string_view body_xml) {
  std::string out;
  out.reserve(body_xml.size() + 512);
  out += "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<s:Envelope xmlns:s=\"";
  out += ns_soap;
  out += "\" xmlns:m=\"";
  out += ns_messages;
  out += "\" xmlns:t=\"";
  out += ns_types;
  out += "\"><s:Header><t:RequestServerVersion Version=\"";
  xml::append_escaped(out, version, true);
  out += "\"/></s:Header><s:Body>";
  out += body_xml;
  out += "</s:Body></s:Envelope>";
  return out;
}

const xml::element* body_child(const xml::element& env) noexcept {
  if (!env.is(ns_soap, "Envelope")) return nullptr;
  const xml::element* body = env.child(ns_soap, "Body");
  if (!body || body->children.empty()) return nullptr;
  return &body->children.front();
}

std::optional<fault> parse_fault(const xml::element& env) {
  const xml::element* f = body_child(env);
  if (!f || !f->is(ns_soap, "Fault")) return std::nullopt;
  fault out;
  // faultcode and faultstring are unqualified; the code text may carry a prefix ("a:ErrorServerBusy").
  std::string_view code = f->child_text("", "faultcode");
  if (auto colon = code.find(':'); colon != std::string_view::npos) code.remove_prefix(colon + 1);
  out.response_code = std::string(code);
  out.message = std::string(f->child_text("", "faultstring"));
  if (const xml::element* detail = f->child("", "detail")) {
    std::string_view rc = detail->child_text(ns_errors, "ResponseCode");
    if (!rc.empty()) out.response_code = std::string(rc);
    std::string_view msg = detail->child_text(ns_errors, "Message");
    if (!msg.empty()) out.message = std::string(msg);
    const xml::element* mx = detail->child(ns_types, "MessageXml");
    if (!mx) mx = detail->child(ns_errors, "MessageXml");
    if (mx) {
      for (const xml::element& v : mx->children) {
        if (v.local == "Value" && v.attr("Name") == "BackOffMilliseconds") {
          long long ms = 0;
          auto r = std::from_chars(v.text.data(), v.text.data() + v.text.size(), ms);
          if (r.ec == std::errc{} && ms >= 0) out.back_off = std::chrono::milliseconds(ms);
        }
      }
    }
  }
  out.code = from_response_code(out.response_code);
  return out;
}

std::optional<server_version> parse_server_version(const xml::element& env) {
  const xml::element* header = env.child(ns_soap, "Header");
  if (!header) return std::nullopt;
  const xml::element* v = header->child(ns_types, "ServerVersionInfo");
  if (!v) return std::nullopt;
  server_version out;
  out.major = to_int(v->attr("MajorVersion"));
  out.minor = to_int(v->attr("MinorVersion"));
  out.build = to_int(v->attr("MajorBuildNumber"));
  out.revision = to_int(v->attr("MinorBuildNumber"));
  out.version = std::string(v->attr("Version"));
  return out;
}

}  // namespace calgate::proto::ews
