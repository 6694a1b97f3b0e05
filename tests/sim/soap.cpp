#include "sim/soap.hpp"

namespace calgate::sim {

std::string fault_envelope(const ews_fault& f) {
  xml::writer w;
  std::string out = "<?xml version=\"1.0\" encoding=\"utf-8\"?>";
  w.open("s:Envelope").attr("xmlns:s", ns_soap);
  w.open("s:Body");
  w.open("s:Fault");
  w.open("faultcode").attr("xmlns:a", ns_t).text("a:" + f.code).close();
  w.open("faultstring").attr("xml:lang", "en-US").text(f.what()).close();
  w.open("detail");
  w.open("e:ResponseCode").attr("xmlns:e", ns_e).text(f.code).close();
  w.open("e:Message").attr("xmlns:e", ns_e).text(f.what()).close();
  if (!f.details.empty()) {
    w.open("t:MessageXml").attr("xmlns:t", ns_t);
    for (const auto& [local, name, text] : f.details) {
      w.open("t:" + local);
      if (!name.empty()) w.attr("Name", name);
      w.text(text).close();
    }
    w.close();
  }
  return out + w.take();
}

void open_envelope(xml::writer& w, const settings& cfg) {
  w.open("s:Envelope").attr("xmlns:s", ns_soap);
  w.open("s:Header");
  w.open("h:ServerVersionInfo")
      .attr("xmlns:h", ns_t)
      .attr("MajorVersion", std::to_string(cfg.major))
      .attr("MinorVersion", std::to_string(cfg.minor))
      .attr("MajorBuildNumber", std::to_string(cfg.major_build))
      .attr("MinorBuildNumber", std::to_string(cfg.minor_build));
  if (!cfg.version.empty()) w.attr("Version", cfg.version);
  w.close();
  w.close();
  w.open("s:Body").attr("xmlns:xsi", ns_xsi).attr("xmlns:xsd", "http://www.w3.org/2001/XMLSchema");
}

std::string close_envelope(xml::writer& w) {
  return "<?xml version=\"1.0\" encoding=\"utf-8\"?>" + w.take();
}

void open_response(xml::writer& w, std::string_view qname) {
  w.open(qname).attr("xmlns:m", ns_m).attr("xmlns:t", ns_t);
}

void open_response_message(xml::writer& w, std::string_view qname, std::string_view response_class,
                           std::string_view code, std::string_view text) {
  w.open(qname).attr("ResponseClass", response_class);
  if (response_class != "Success" && !text.empty()) w.leaf("m:MessageText", text);
  w.leaf("m:ResponseCode", code);
  if (response_class != "Success") w.leaf("m:DescriptiveLinkKey", "0");
}

}  // namespace calgate::sim
