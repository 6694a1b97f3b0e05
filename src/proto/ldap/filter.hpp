#pragma once
// RFC 4515 filter values and filter templates.
//
// Every value that reaches a filter goes through escape(): `*`, `(`, `)`, `\`
// and control bytes become \XX, so an address such as `*)(mail=*` matches
// only itself (the original connector escaped nothing).
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rt/result.hpp"

namespace calgate::proto::ldap {

std::string escape(std::string_view value);

// Replaces each {name} in tmpl with the escaped value of that name. Literal
// braces are written {{ and }}. Unknown names or a template that is not a
// parenthesised filter fail with ldap_errc::bad_filter.
rt::result<std::string> expand(std::string_view tmpl,
                               const std::vector<std::pair<std::string_view, std::string_view>>& values);

// Checks the shape of a filter: "(...)" with balanced parentheses and only
// escaped special characters in values. Used to validate configured templates.
bool plausible_filter(std::string_view f);

// "(|f1f2...)", or f1 alone; empty input gives "".
std::string any_of(const std::vector<std::string>& filters);
// "(&f1f2...)", skipping empty ones.
std::string all_of(const std::vector<std::string>& filters);

}  // namespace calgate::proto::ldap
