#include "proto/xml/tree.hpp"

namespace calgate::xml {

const element* element::child(std::string_view ns_, std::string_view local_) const noexcept {
  for (const auto& c : children)
    if (c.is(ns_, local_)) return &c;
  return nullptr;
}

const element* element::path(std::string_view ns_, std::initializer_list<std::string_view> locals) const noexcept {
  const element* e = this;
  for (auto l : locals) {
    e = e->child(ns_, l);
    if (!e) return nullptr;
  }
  return e;
}

std::vector<const element*> element::all(std::string_view ns_, std::string_view local_) const {
  std::vector<const element*> out;
  for (const auto& c : children)
    if (c.is(ns_, local_)) out.push_back(&c);
  return out;
}

std::string_view element::attr(std::string_view local_) const noexcept {
  for (const auto& [k, v] : attributes)
    if (k == local_) return v;
  return {};
}

bool element::has_attr(std::string_view local_) const noexcept {
  for (const auto& [k, v] : attributes)
    if (k == local_) return true;
  return false;
}

std::string_view element::child_text(std::string_view ns_, std::string_view local_) const noexcept {
  const element* c = child(ns_, local_);
  return c ? std::string_view(c->text) : std::string_view{};
}

void tree_builder::start(std::string_view ns, std::string_view local, std::span<const attribute> attrs) {
  element* e;
  if (open_.empty()) {
    root_ = element{};
    e = &root_;
    have_root_ = true;
  } else {
    open_.back()->children.emplace_back();
    e = &open_.back()->children.back();
  }
  e->ns = ns;
  e->local = local;
  for (const auto& a : attrs) {
    std::string name = a.ns.empty() ? std::string(a.local) : "{" + std::string(a.ns) + "}" + std::string(a.local);
    e->attributes.emplace_back(std::move(name), std::string(a.value));
  }
  open_.push_back(e);
}

void tree_builder::end(std::string_view, std::string_view) {
  if (!open_.empty()) open_.pop_back();
}

void tree_builder::text(std::string_view piece) {
  if (!open_.empty()) open_.back()->text.append(piece);
}

rt::result<element> parse(std::string_view document, const limits& l, std::string* error) {
  tree_builder b;
  reader r(b, l);
  if (!r.feed(document) || !r.finish()) {
    if (error) *error = r.error();
    return make_error_code(rt::errc::protocol_error);
  }
  return b.take_root();
}

}  // namespace calgate::xml
