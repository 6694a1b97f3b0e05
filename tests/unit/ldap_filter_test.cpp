#include <catch2/catch.hpp>

#include "proto/json/writer.hpp"
#include "proto/ldap/error.hpp"
#include "proto/ldap/filter.hpp"

using namespace calgate;
namespace ldap = calgate::proto::ldap;

TEST_CASE("ldap filter: RFC 4515 escaping of values", "[ldap][filter]") {
  CHECK(ldap::escape("alice@corp.example") == "alice@corp.example");
  CHECK(ldap::escape("*)(mail=*") == "\\2a\\29\\28mail=\\2a");
  CHECK(ldap::escape("a\\b") == "a\\5cb");
  CHECK(ldap::escape(std::string("nul\0x", 5)) == "nul\\00x");
  CHECK(ldap::escape("tab\there") == "tab\\09here");
  CHECK(ldap::escape("J\xc3\xbcrgen") == "J\xc3\xbcrgen");  // UTF-8 passes through
}

TEST_CASE("ldap filter: templates escape every value and keep their own syntax", "[ldap][filter]") {
  auto f = ldap::expand("(|(mail={address})(proxyAddresses=smtp:{address}))", {{"address", "*)(objectClass=*"}});
  REQUIRE(f);
  CHECK(*f == "(|(mail=\\2a\\29\\28objectClass=\\2a)(proxyAddresses=smtp:\\2a\\29\\28objectClass=\\2a))");
  auto prefix = ldap::expand("(displayName={query}*)", {{"query", "Paren (T"}});
  REQUIRE(prefix);
  CHECK(*prefix == "(displayName=Paren \\28T*)");
  CHECK(ldap::expand("(mail={nope})", {{"address", "x"}}).error() == ldap::ldap_errc::bad_filter);
  CHECK(ldap::expand("(mail={address}", {{"address", "x"}}).error() == ldap::ldap_errc::bad_filter);
  CHECK(ldap::expand("mail={address}", {{"address", "x"}}).error() == ldap::ldap_errc::bad_filter);
  auto braces = ldap::expand("(cn={{literal}})", {});
  REQUIRE(braces);
  CHECK(*braces == "(cn={literal})");
}

TEST_CASE("ldap filter: shape checks and combinators", "[ldap][filter]") {
  CHECK(ldap::plausible_filter("(mail=x)"));
  CHECK(ldap::plausible_filter("(&(a=b)(|(c=d)(e=\\2a)))"));
  CHECK_FALSE(ldap::plausible_filter("mail=x"));
  CHECK_FALSE(ldap::plausible_filter("(mail=x)(cn=y)"));
  CHECK_FALSE(ldap::plausible_filter("((mail=x)"));
  CHECK_FALSE(ldap::plausible_filter("(mail=\\zz)"));
  CHECK(ldap::any_of({}) == "");
  CHECK(ldap::any_of({"(a=1)"}) == "(a=1)");
  CHECK(ldap::any_of({"(a=1)", "(b=2)"}) == "(|(a=1)(b=2))");
  CHECK(ldap::all_of({"(a=1)", "", "(b=2)"}) == "(&(a=1)(b=2))");
  CHECK(ldap::all_of({"", "(b=2)"}) == "(b=2)");
}

TEST_CASE("ldap errors: retryable versus configuration problems", "[ldap][errors]") {
  CHECK(ldap::is_retryable(ldap::ldap_error(-1)));  // LDAP_SERVER_DOWN
  CHECK(ldap::is_retryable(ldap::make_error_code(ldap::ldap_errc::unavailable)));
  CHECK(ldap::is_retryable(make_error_code(rt::errc::timed_out)));
  CHECK_FALSE(ldap::is_retryable(ldap::ldap_error(49)));
  CHECK(ldap::is_config_error(ldap::ldap_error(49)));
  CHECK_THAT(ldap::ldap_error(49).message(), Catch::Contains("Invalid credentials"));
}

TEST_CASE("json writer: escaping, nesting and invalid UTF-8", "[json]") {
  json::writer w;
  w.begin_object();
  w.member("name", "J\xc3\xbcrgen \"Q\" \\ \n");
  w.key("list").begin_array().value(1).value(true).null().value(std::string_view("x")).end_array();
  w.member("bad", std::string_view("a\xff" "b\xc3"));
  w.member("ctl", std::string_view("\x01\x1f\x7f"));
  w.key("empty").begin_object().end_object();
  w.end_object();
  CHECK(w.str() ==
        "{\"name\":\"J\xc3\xbcrgen \\\"Q\\\" \\\\ \\n\",\"list\":[1,true,null,\"x\"],"
        "\"bad\":\"a\xef\xbf\xbd" "b\xef\xbf\xbd\",\"ctl\":\"\\u0001\\u001f\\u007f\",\"empty\":{}}");
}
