#pragma once
// A compact in-memory tree for documents that fit comfortably in memory
// (SOAP requests and responses), built from the streaming reader.
#include <string>
#include <string_view>
#include <vector>

#include "proto/xml/reader.hpp"
#include "rt/result.hpp"

namespace calgate::xml {

struct element {
  std::string ns;
  std::string local;
  std::vector<std::pair<std::string, std::string>> attributes;  // local name -> value (namespaced ones as "{ns}local")
  std::string text;  // character data directly inside (concatenated)
  std::vector<element> children;

  // First child with this namespace and local name (nullptr if none).
  const element* child(std::string_view ns_, std::string_view local_) const noexcept;
  // Follows a path of children in one namespace.
  const element* path(std::string_view ns_, std::initializer_list<std::string_view> locals) const noexcept;
  std::vector<const element*> all(std::string_view ns_, std::string_view local_) const;
  // An unqualified attribute's value ("" if absent).
  std::string_view attr(std::string_view local_) const noexcept;
  bool has_attr(std::string_view local_) const noexcept;
  // Text of a child, or "" if absent.
  std::string_view child_text(std::string_view ns_, std::string_view local_) const noexcept;
  bool is(std::string_view ns_, std::string_view local_) const noexcept { return local == local_ && ns == ns_; }
};

// Builds a tree as the reader goes (feed it chunks through reader::feed).
class tree_builder final : public handler {
 public:
  void start(std::string_view ns, std::string_view local, std::span<const attribute> attrs) override;
  void end(std::string_view ns, std::string_view local) override;
  void text(std::string_view piece) override;
  element take_root() { return std::move(root_); }

 private:
  element root_;
  std::vector<element*> open_;
  bool have_root_ = false;
};

// Parses a whole document. On failure *error (if given) says where and why.
rt::result<element> parse(std::string_view document, const limits& l = {}, std::string* error = nullptr);

}  // namespace calgate::xml
