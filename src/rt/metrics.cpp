#include "rt/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace calgate::metrics {

void histogram::observe(double v) noexcept {
  auto it = std::lower_bound(bounds_->begin(), bounds_->end(), v);
  ++counts_[static_cast<std::size_t>(it - bounds_->begin())];
  ++count_;
  sum_ += v;
}

template <class M>
M& family<M>::with(std::initializer_list<std::string_view> values) {
  scratch_.assign(values.begin(), values.end());
  scratch_.resize(labels_.size());
  auto it = children_.find(scratch_);
  if (it != children_.end()) return *it->second;
  std::unique_ptr<M> m;
  if constexpr (std::is_same_v<M, histogram>) m = std::make_unique<M>(&bounds_);
  else m = std::make_unique<M>();
  M& ref = *m;
  children_.emplace(scratch_, std::move(m));
  return ref;
}

template class family<counter>;
template class family<gauge>;
template class family<histogram>;

namespace {
// Registering a name twice (two servers in one process, tests) returns the first family.
template <class F>
F* find_family(const std::vector<std::unique_ptr<F>>& v, const std::string& name) {
  for (const auto& f : v)
    if (f->name() == name) return f.get();
  return nullptr;
}
}  // namespace

family<counter>& registry::add_counter(std::string name, std::string help, std::vector<std::string> labels) {
  if (auto* f = find_family(counters_, name)) return *f;
  counters_.push_back(std::make_unique<family<counter>>(std::move(name), std::move(help), std::move(labels)));
  return *counters_.back();
}

family<gauge>& registry::add_gauge(std::string name, std::string help, std::vector<std::string> labels) {
  if (auto* f = find_family(gauges_, name)) return *f;
  gauges_.push_back(std::make_unique<family<gauge>>(std::move(name), std::move(help), std::move(labels)));
  return *gauges_.back();
}

family<histogram>& registry::add_histogram(std::string name, std::string help, std::vector<std::string> labels,
                                           std::vector<double> bounds) {
  if (auto* f = find_family(histograms_, name)) return *f;
  std::sort(bounds.begin(), bounds.end());
  histograms_.push_back(
      std::make_unique<family<histogram>>(std::move(name), std::move(help), std::move(labels), std::move(bounds)));
  return *histograms_.back();
}

void registry::add_collector(std::string name, std::function<void(std::string&)> fn) {
  collectors_[std::move(name)] = std::move(fn);
}

void registry::remove_collector(const std::string& name) { collectors_.erase(name); }

registry& registry::global() {
  static registry r;
  return r;
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> b{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,    0.25,  0.5,    1,     2.5,  5,     10, 30};
  return b;
}

namespace {

void append_number(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, "%.9g", v);
  out += buf;
}

void append_escaped(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}

void append_header(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace

void append_sample(std::string& out, std::string_view name, const std::vector<std::string>& label_names,
                   const std::vector<std::string>& label_values, double value) {
  out += name;
  if (!label_names.empty()) {
    out += '{';
    for (std::size_t i = 0; i < label_names.size(); ++i) {
      if (i) out += ',';
      out += label_names[i];
      out += "=\"";
      append_escaped(out, i < label_values.size() ? label_values[i] : std::string());
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  append_number(out, value);
  out += '\n';
}

std::string registry::render() const {
  std::string out;
  for (const auto& f : counters_) {
    append_header(out, f->name(), f->help(), "counter");
    for (const auto& [labels, c] : f->children())
      append_sample(out, f->name(), f->labels(), labels, static_cast<double>(c->value()));
  }
  for (const auto& f : gauges_) {
    append_header(out, f->name(), f->help(), "gauge");
    for (const auto& [labels, g] : f->children()) append_sample(out, f->name(), f->labels(), labels, g->value());
  }
  for (const auto& f : histograms_) {
    append_header(out, f->name(), f->help(), "histogram");
    std::vector<std::string> names = f->labels();
    names.push_back("le");
    for (const auto& [labels, h] : f->children()) {
      std::vector<std::string> values = labels;
      values.emplace_back();
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i <= h->bounds().size(); ++i) {
        cumulative += h->bucket_counts()[i];
        if (i < h->bounds().size()) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%g", h->bounds()[i]);
          values.back() = buf;
        } else {
          values.back() = "+Inf";
        }
        append_sample(out, f->name() + "_bucket", names, values, static_cast<double>(cumulative));
      }
      append_sample(out, f->name() + "_sum", f->labels(), labels, h->sum());
      append_sample(out, f->name() + "_count", f->labels(), labels, static_cast<double>(h->count()));
    }
  }
  for (const auto& [name, fn] : collectors_) fn(out);
  return out;
}

}  // namespace calgate::metrics
