#pragma once

// A small Prometheus client: counters, gauges and duration histograms grouped
// in families with fixed label names, rendered in the text exposition format
// 0.0.4. Debian 12 ships no prometheus-cpp, and nodeguard needs only this much.
//
// Typical use: register once at startup, keep the child reference, update it
// on the hot path (a single atomic operation, no lock):
//
//   MetricsRegistry registry;
//   CounterFamily& reconciles = registry.MustCounter(
//       "nodeguard_reconcile_total", "Reconciles by reconciler and result.",
//       {"reconciler", "result"});
//   Counter& ok = reconciles.WithLabels({"density", "success"});
//   ok.Inc();
//
// Names follow the Kubernetes instrumentation guidelines and are checked at
// registration: "nodeguard_" prefix, lower snake case, counters end in
// "_total", histograms measure durations and end in "_seconds", and no
// non-base units ("_milliseconds", "_minutes", ...).

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace nodeguard::observe {

// A monotonically increasing value. Thread-safe, lock-free.
class Counter {
 public:
  // REQUIRES: amount >= 0 (a negative amount is ignored: counters never go down).
  void Inc(double amount = 1.0);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A value that goes up and down. Thread-safe, lock-free.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double amount) { value_.fetch_add(amount, std::memory_order_relaxed); }
  void Inc() { Add(1.0); }
  void Dec() { Add(-1.0); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations of durations in seconds, counted in cumulative buckets.
// Thread-safe, lock-free.
class Histogram {
 public:
  // REQUIRES: upper_bounds strictly increasing and finite (checked at registration).
  explicit Histogram(const std::vector<double>& upper_bounds);

  void Observe(double seconds);

  struct Snapshot {
    std::vector<double> upper_bounds;  // Without +Inf.
    std::vector<uint64_t> cumulative;  // One per bound, then one for +Inf.
    double sum = 0;
    uint64_t count = 0;  // Equals cumulative.back().
  };
  // A snapshot whose count agrees with its buckets (it is derived from them),
  // even while other threads observe.
  Snapshot Read() const;

 private:
  const std::vector<double> upper_bounds_;
  // Per-bucket (not cumulative) counts; the last is the +Inf bucket.
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0.0};
};

// Bucket bounds in seconds from 5 ms to 60 s, fit for API calls and reconciles.
const std::vector<double>& DefaultSecondsBuckets();
// `count` bounds start, start*factor, ... REQUIRES: start > 0, factor > 1, count >= 1.
std::vector<double> ExponentialBuckets(double start, double factor, int count);

enum class MetricType { kCounter, kGauge, kHistogram };
const char* MetricTypeName(MetricType type);

// A named metric with fixed label names and one child per distinct tuple of
// label values. Children live as long as the family (references stay valid)
// unless removed with Remove(). Thread-safe.
template <typename Child>
class Family {
 public:
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Returns the child for these label values, creating it at zero.
  // REQUIRES: values.size() == label_names().size() (otherwise the process
  // aborts: a wrong arity is a programming error that would corrupt output).
  Child& WithLabels(const std::vector<std::string>& values);
  // The single child of a family without labels.
  Child& Get() { return WithLabels({}); }

  // Forgets a child (e.g. the series of a deleted node). References to it
  // become dangling: callers must not cache children they may remove.
  void Remove(const std::vector<std::string>& values);

  // Visits children in label-value order, under the family lock.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    std::lock_guard lock(mu_);
    for (const auto& [values, child] : children_) fn(values, *child);
  }

 private:
  friend class MetricsRegistry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> buckets)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        buckets_(std::move(buckets)) {}

  std::unique_ptr<Child> MakeChild() const;

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> buckets_;  // Histograms only.
  mutable std::mutex mu_;
  // Guarded by mu_. unique_ptr keeps children at stable addresses.
  std::map<std::vector<std::string>, std::unique_ptr<Child>> children_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

// Checks a metric name against nodeguard's naming rules for that type.
Status ValidateMetricName(std::string_view name, MetricType type);
// Checks label names: Prometheus syntax, no "__" prefix, no duplicates, and no
// "le" on histograms.
Status ValidateLabelNames(const std::vector<std::string>& label_names, MetricType type);

// Owns every metric family of the process. Thread-safe.
class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Register a family. Errors: kInvalid for a name, help or label set that
  // breaks the rules, kAlreadyExists for a name registered before.
  Result<CounterFamily*> AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names = {});
  Result<GaugeFamily*> AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names = {});
  Result<HistogramFamily*> AddHistogram(std::string name, std::string help,
                                        std::vector<std::string> label_names = {},
                                        std::vector<double> buckets = DefaultSecondsBuckets());

  // As above, but abort the process with the error on stderr: for the fixed
  // set of metrics registered at startup, where an error is a bug.
  CounterFamily& MustCounter(std::string name, std::string help,
                             std::vector<std::string> label_names = {});
  GaugeFamily& MustGauge(std::string name, std::string help,
                         std::vector<std::string> label_names = {});
  HistogramFamily& MustHistogram(std::string name, std::string help,
                                 std::vector<std::string> label_names = {},
                                 std::vector<double> buckets = DefaultSecondsBuckets());

  // The text exposition format 0.0.4: families sorted by name, children by
  // label values, each family with its HELP and TYPE lines.
  std::string Render() const;

 private:
  Status CheckNew(const std::string& name, const std::string& help,
                  const std::vector<std::string>& label_names, MetricType type) const;

  mutable std::mutex mu_;
  // Guarded by mu_. Each name appears in exactly one map.
  std::map<std::string, std::unique_ptr<CounterFamily>> counters_;
  std::map<std::string, std::unique_ptr<GaugeFamily>> gauges_;
  std::map<std::string, std::unique_ptr<HistogramFamily>> histograms_;
};

// The Content-Type of Render()'s output.
inline constexpr std::string_view kExpositionContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Formatting helpers, exposed for tests.
std::string EscapeLabelValue(std::string_view value);  // Escapes \ " and newline.
std::string EscapeHelp(std::string_view help);         // Escapes \ and newline.
std::string FormatSampleValue(double value);           // "1", "0.25", "+Inf", "NaN".

}  // namespace nodeguard::observe
