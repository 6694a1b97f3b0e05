#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "proto/xml/reader.hpp"
#include "proto/xml/tree.hpp"
#include "proto/xml/writer.hpp"

using namespace calgate;

namespace {

// Records events as text lines, concatenating adjacent text pieces.
struct recorder final : xml::handler {
  std::vector<std::string> events;
  std::string pending_text;
  void flush() {
    if (!pending_text.empty()) events.push_back("text " + pending_text);
    pending_text.clear();
  }
  void start(std::string_view ns, std::string_view local, std::span<const xml::attribute> attrs) override {
    flush();
    std::string e = "start {" + std::string(ns) + "}" + std::string(local);
    for (const auto& a : attrs) e += " {" + std::string(a.ns) + "}" + std::string(a.local) + "=" + std::string(a.value);
    events.push_back(e);
  }
  void end(std::string_view ns, std::string_view local) override {
    flush();
    events.push_back("end {" + std::string(ns) + "}" + std::string(local));
  }
  void text(std::string_view piece) override { pending_text += piece; }
};

std::vector<std::string> events_of(std::string_view doc, std::size_t chunk) {
  recorder r;
  xml::reader rd(r);
  for (std::size_t i = 0; i < doc.size(); i += chunk) REQUIRE(rd.feed(doc.substr(i, chunk)));
  REQUIRE(rd.finish());
  r.flush();
  return r.events;
}

const std::string soap =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">"
    "<s:Header><h:ServerVersionInfo xmlns:h=\"http://schemas.microsoft.com/exchange/services/2006/types\" "
    "MajorVersion=\"15\"/></s:Header>"
    "<s:Body><m:GetUserAvailabilityResponse xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\">"
    "<FreeBusyViewType xmlns=\"http://schemas.microsoft.com/exchange/services/2006/types\">Detailed</FreeBusyViewType>"
    "<m:Subject>Caf\xc3\xa9 &amp; cr\xc3\xa8me &lt;b&gt; &#x1F600;</m:Subject>"
    "<m:Empty/><![CDATA[raw <data>]]>"
    "</m:GetUserAvailabilityResponse></s:Body></s:Envelope>";

}  // namespace

TEST_CASE("xml reader: namespaces are resolved, prefixes do not matter", "[xml]") {
  auto ev = events_of(soap, soap.size());
  CHECK(ev.at(0) == "start {http://schemas.xmlsoap.org/soap/envelope/}Envelope");
  CHECK(ev.at(2) == "start {http://schemas.microsoft.com/exchange/services/2006/types}ServerVersionInfo {}MajorVersion=15");
  CHECK(std::find(ev.begin(), ev.end(),
                  "start {http://schemas.microsoft.com/exchange/services/2006/types}FreeBusyViewType") != ev.end());
  CHECK(std::find(ev.begin(), ev.end(), "text Caf\xc3\xa9 & cr\xc3\xa8me <b> \xf0\x9f\x98\x80") != ev.end());
  CHECK(std::find(ev.begin(), ev.end(), "text raw <data>") != ev.end());
}

TEST_CASE("xml reader: chunk boundaries anywhere give the same events", "[xml]") {
  auto whole = events_of(soap, soap.size());
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 64u}) {
    INFO("chunk " << chunk);
    CHECK(events_of(soap, chunk) == whole);  // splits inside names, entities and UTF-8 sequences
  }
}

TEST_CASE("xml reader: billion laughs and external entities are refused before any expansion", "[xml][security]") {
  const std::string laughs =
      "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;\">"
      "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]><lolz>&lol3;&lol3;&lol3;</lolz>";
  const std::string xxe =
      "<?xml version=\"1.0\"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><foo>&xxe;</foo>";
  const std::string internal_subset_only = "<!DOCTYPE x><x/>";
  for (const std::string* doc : {&laughs, &xxe, &internal_subset_only}) {
    recorder r;
    xml::reader rd(r);
    bool ok = rd.feed(*doc) && rd.finish();
    CHECK_FALSE(ok);
    CHECK_THAT(rd.error(), Catch::Contains("DOCTYPE is not allowed"));
    CHECK(r.events.empty());
    CHECK(r.pending_text.empty());  // nothing was expanded or delivered
  }
}

TEST_CASE("xml reader: limits on text, depth, attributes and size", "[xml][limits]") {
  xml::limits l;
  l.max_text_bytes = 1000;
  l.max_depth = 10;
  l.max_attributes = 3;
  l.max_total_bytes = 5000;
  auto fails_with = [&](const std::string& doc, const char* what) {
    recorder r;
    xml::reader rd(r, l);
    bool ok = rd.feed(doc) && rd.finish();
    INFO(rd.error());
    CHECK_FALSE(ok);
    CHECK_THAT(rd.error(), Catch::Contains(what));
  };
  fails_with("<a>" + std::string(1001, 'x') + "</a>", "text node is longer than 1000");
  std::string deep;
  for (int i = 0; i < 11; ++i) deep += "<d>";
  fails_with(deep, "nested deeper than 10");
  fails_with("<a w=\"1\" x=\"2\" y=\"3\" z=\"4\"/>", "more than 3 attributes");
  fails_with("<a>" + std::string(4000, 'y') + "</a><!--" + std::string(2000, 'z') + "-->", "larger than 5000");
  // Text split over many small chunks is still counted as one node.
  recorder r;
  xml::reader rd(r, l);
  bool ok = rd.feed("<a>");
  for (int i = 0; i < 20 && ok; ++i) ok = rd.feed(std::string(100, 'q'));
  CHECK_FALSE(ok);
}

TEST_CASE("xml reader: malformed input is an error with line and column", "[xml]") {
  const std::vector<std::string> docs = {"<a><b></a>",        "<a>",         "not xml", "<a x='1' x='2'/>",
                                         "<p:a/>",            "<a>&undefined;</a>", "<a>\x01</a>", "<a>\xff\xfe</a>",
                                         "<a/><b/>"};
  for (const std::string& doc : docs) {
    recorder r;
    xml::reader rd(r);
    bool ok = rd.feed(doc) && rd.finish();
    INFO(doc);
    CHECK_FALSE(ok);
    CHECK_THAT(rd.error(), Catch::StartsWith("line "));
    CHECK_THAT(rd.error(), Catch::Contains(", column "));
  }
}

TEST_CASE("xml tree: lookups by namespace and name", "[xml]") {
  auto doc = xml::parse(soap);
  REQUIRE(doc);
  const std::string s = "http://schemas.xmlsoap.org/soap/envelope/";
  const std::string m = "http://schemas.microsoft.com/exchange/services/2006/messages";
  const std::string t = "http://schemas.microsoft.com/exchange/services/2006/types";
  CHECK(doc->is(s, "Envelope"));
  const auto* resp = doc->path(s, {"Body"})->child(m, "GetUserAvailabilityResponse");
  REQUIRE(resp);
  CHECK(resp->child_text(t, "FreeBusyViewType") == "Detailed");
  CHECK(resp->child_text(m, "FreeBusyViewType") == "");  // a different namespace
  CHECK(doc->path(s, {"Header"})->child(t, "ServerVersionInfo")->attr("MajorVersion") == "15");
  std::string err;
  auto bad = xml::parse("<a><b></a>", {}, &err);
  CHECK_FALSE(bad);
  CHECK_THAT(err, Catch::Contains("mismatched tag"));
}

TEST_CASE("xml writer: escaping and round trip", "[xml]") {
  xml::writer w;
  w.open("t:Item").attr("Name", "a\"b<c>&'d\te\nf");
  w.leaf("t:Subject", "Tom & Jerry <\"quoted\"> \xc3\xa9t\xc3\xa9\r\n");
  w.leaf("t:Bad", std::string("ctl\x01\x02 bad\xff utf8", 15));
  w.open("t:Empty").close();
  std::string out = w.take();
  CHECK(out ==
        "<t:Item Name=\"a&quot;b&lt;c&gt;&amp;'d&#9;e&#10;f\"><t:Subject>Tom &amp; Jerry &lt;\"quoted\"&gt; "
        "\xc3\xa9t\xc3\xa9&#13;\n</t:Subject><t:Bad>ctl\xef\xbf\xbd\xef\xbf\xbd bad\xef\xbf\xbd utf8</t:Bad><t:Empty/></t:Item>");
  auto back = xml::parse("<r xmlns:t=\"urn:t\">" + out + "</r>");
  REQUIRE(back);
  const auto* item = back->child("urn:t", "Item");
  REQUIRE(item);
  CHECK(item->attr("Name") == "a\"b<c>&'d\te\nf");
  CHECK(item->child_text("urn:t", "Subject") == "Tom & Jerry <\"quoted\"> \xc3\xa9t\xc3\xa9\r\n");
}
