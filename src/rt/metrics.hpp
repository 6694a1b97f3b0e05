#pragma once
// Counters, gauges and histograms with labels, rendered in the Prometheus text
// format. Updated only on the loop thread, so no atomics.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace calgate::metrics {

class counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { v_ += n; }
  std::uint64_t value() const noexcept { return v_; }

 private:
  std::uint64_t v_ = 0;
};

class gauge {
 public:
  void set(double v) noexcept { v_ = v; }
  void inc(double n = 1) noexcept { v_ += n; }
  void dec(double n = 1) noexcept { v_ -= n; }
  double value() const noexcept { return v_; }

 private:
  double v_ = 0;
};

class histogram {
 public:
  explicit histogram(const std::vector<double>* bounds) : bounds_(bounds), counts_(bounds->size() + 1, 0) {}
  void observe(double v) noexcept;
  std::uint64_t count() const noexcept { return count_; }
  double sum() const noexcept { return sum_; }
  const std::vector<std::uint64_t>& bucket_counts() const noexcept { return counts_; }
  const std::vector<double>& bounds() const noexcept { return *bounds_; }

 private:
  const std::vector<double>* bounds_;
  std::vector<std::uint64_t> counts_;  // per bucket, not cumulative; last is +Inf
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

enum class kind { counter, gauge, histogram };

// A metric name with label names; children are created on first use.
template <class M>
class family {
 public:
  family(std::string name, std::string help, std::vector<std::string> labels, std::vector<double> bounds = {})
      : name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)), bounds_(std::move(bounds)) {}

  M& with(std::initializer_list<std::string_view> values);
  M& get() { return with({}); }

  const std::string& name() const noexcept { return name_; }
  const std::string& help() const noexcept { return help_; }
  const std::vector<std::string>& labels() const noexcept { return labels_; }
  const std::map<std::vector<std::string>, std::unique_ptr<M>>& children() const noexcept { return children_; }

 private:
  std::string name_, help_;
  std::vector<std::string> labels_;
  std::vector<double> bounds_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> children_;
  std::vector<std::string> scratch_;
};

class registry {
 public:
  family<counter>& add_counter(std::string name, std::string help, std::vector<std::string> labels = {});
  family<gauge>& add_gauge(std::string name, std::string help, std::vector<std::string> labels = {});
  family<histogram>& add_histogram(std::string name, std::string help, std::vector<std::string> labels,
                                   std::vector<double> bounds);
  // Values computed when scraped (pool sizes, cache entries). The callback
  // appends complete exposition lines for its own metric names.
  void add_collector(std::string name, std::function<void(std::string&)> fn);
  void remove_collector(const std::string& name);

  std::string render() const;

  // The process-wide registry.
  static registry& global();

 private:
  std::vector<std::unique_ptr<family<counter>>> counters_;
  std::vector<std::unique_ptr<family<gauge>>> gauges_;
  std::vector<std::unique_ptr<family<histogram>>> histograms_;
  std::map<std::string, std::function<void(std::string&)>> collectors_;
};

// Latency buckets in seconds, 0.5 ms to 30 s.
const std::vector<double>& latency_buckets();

// Appends `name{l1="v1",...} value\n` with label values escaped.
void append_sample(std::string& out, std::string_view name, const std::vector<std::string>& label_names,
                   const std::vector<std::string>& label_values, double value);

}  // namespace calgate::metrics
