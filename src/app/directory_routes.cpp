#include "app/directory_routes.hpp"

#include <charconv>

#include "proto/json/writer.hpp"
#include "proto/ldap/error.hpp"
#include "rt/log.hpp"

namespace calgate::app {

namespace {

constexpr std::size_t default_limit = 20;

net::http::response failure(std::error_code ec, const net::http::request& r) {
  if (ec == rt::errc::bad_input) return net::http::response::error(400, "q must be 1 to 100 printable characters", r.request_id);
  if (rt::is_stop(ec) || proto::ldap::is_retryable(ec))
    return net::http::response::error(503, "the directory is unavailable; retry later", r.request_id);
  log::warn("directory search failed", {{"request_id", r.request_id}, {"error", ec.message()}});
  return net::http::response::error(502, "the directory refused the search", r.request_id);
}

}  // namespace

void add_directory_routes(net::http::router& routes, svc::directory* dir) {
  routes.add("GET", "/v1/directory/search", [dir](net::http::request& r) -> rt::task<net::http::response> {
    if (!dir) co_return net::http::response::error(503, "no directory is configured", r.request_id);
    auto q = r.query_param("q");
    if (!q || q->empty()) co_return net::http::response::error(400, "the query parameter q is required", r.request_id);
    std::size_t limit = default_limit;
    if (auto l = r.query_param("limit")) {
      std::size_t v = 0;
      auto res = std::from_chars(l->data(), l->data() + l->size(), v);
      const std::size_t max = dir->options().search_max_results;
      if (res.ec != std::errc{} || res.ptr != l->data() + l->size() || v < 1 || v > max)
        co_return net::http::response::error(400, "limit must be a whole number from 1 to " + std::to_string(max),
                                             r.request_id);
      limit = v;
    }
    limit = std::min(limit, dir->options().search_max_results);
    auto found = co_await dir->search(*q, limit);
    if (!found) co_return failure(found.error(), r);
    json::writer w;
    w.begin_object();
    w.member("query", *q);
    w.key("results").begin_array();
    for (const auto& m : found->entries) {
      w.begin_object();
      w.member("display_name", m->display_name);
      w.member("email", dir->to_external(m->address));
      w.member("title", m->title);
      w.member("department", m->department);
      w.member("phone", m->phone);
      w.member("kind", svc::kind_name(m->kind));
      w.end_object();
    }
    w.end_array();
    w.member("truncated", found->truncated);
    w.end_object();
    co_return net::http::response::json(200, w.take());
  });
}

}  // namespace calgate::app
