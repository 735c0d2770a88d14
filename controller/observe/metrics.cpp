#include "observe/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <tuple>

namespace nodeguard::observe {

namespace {

constexpr std::string_view kPrefix = "nodeguard_";

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Units that are not Prometheus base units: use seconds and bytes instead.
bool IsNonBaseUnit(std::string_view word) {
  static const std::set<std::string_view> kWords = {
      "milliseconds", "microseconds", "nanoseconds", "millis",    "minutes", "hours",
      "days",         "kilobytes",    "megabytes",   "gigabytes", "percent"};
  return kWords.count(word) > 0;
}

[[noreturn]] void Die(const Error& error) {
  std::fprintf(stderr, "nodeguard: metric registration failed: %s\n", error.ToString().c_str());
  std::abort();
}

std::string RenderLabels(const std::vector<std::string>& names,
                         const std::vector<std::string>& values, std::string_view le = {}) {
  if (names.empty() && le.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(values[i]);
    out += '"';
  }
  if (!le.empty()) {
    if (!names.empty()) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
  return out;
}

void RenderHeader(std::string& out, const std::string& name, const std::string& help,
                  MetricType type) {
  out += "# HELP " + name + ' ' + EscapeHelp(help) + '\n';
  out += "# TYPE " + name + ' ' + MetricTypeName(type) + '\n';
}

template <typename Child>
void RenderScalarFamily(std::string& out, const Family<Child>& family, MetricType type) {
  RenderHeader(out, family.name(), family.help(), type);
  family.ForEach([&](const std::vector<std::string>& values, const Child& child) {
    out += family.name() + RenderLabels(family.label_names(), values) + ' ' +
           FormatSampleValue(child.Value()) + '\n';
  });
}

void RenderHistogramFamily(std::string& out, const HistogramFamily& family) {
  RenderHeader(out, family.name(), family.help(), MetricType::kHistogram);
  const auto& names = family.label_names();
  family.ForEach([&](const std::vector<std::string>& values, const Histogram& histogram) {
    Histogram::Snapshot snap = histogram.Read();
    for (size_t i = 0; i < snap.cumulative.size(); ++i) {
      std::string le =
          i < snap.upper_bounds.size() ? FormatSampleValue(snap.upper_bounds[i]) : "+Inf";
      out += family.name() + "_bucket" + RenderLabels(names, values, le) + ' ' +
             std::to_string(snap.cumulative[i]) + '\n';
    }
    std::string labels = RenderLabels(names, values);
    out += family.name() + "_sum" + labels + ' ' + FormatSampleValue(snap.sum) + '\n';
    out += family.name() + "_count" + labels + ' ' + std::to_string(snap.count) + '\n';
  });
}

}  // namespace

// ---------------------------------------------------------------- values

void Counter::Inc(double amount) {
  if (!(amount >= 0)) return;  // Also rejects NaN.
  value_.fetch_add(amount, std::memory_order_relaxed);
}

Histogram::Histogram(const std::vector<double>& upper_bounds)
    : upper_bounds_(upper_bounds),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(upper_bounds.size() + 1)) {}

void Histogram::Observe(double seconds) {
  if (std::isnan(seconds)) return;
  // Prometheus buckets are "less than or equal": the first bound >= seconds.
  auto it = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), seconds);
  size_t index = static_cast<size_t>(it - upper_bounds_.begin());
  counts_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(seconds, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snap;
  snap.upper_bounds = upper_bounds_;
  snap.cumulative.resize(upper_bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i < snap.cumulative.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    snap.cumulative[i] = running;
  }
  snap.count = running;
  snap.sum = sum_.load(std::memory_order_relaxed);
  return snap;
}

const std::vector<double>& DefaultSecondsBuckets() {
  static const std::vector<double> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                               1,     2.5,  5,     10,   30,  60};
  return kBuckets;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  double bound = start;
  for (int i = 0; i < count; ++i) {
    out.push_back(bound);
    bound *= factor;
  }
  return out;
}

const char* MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// ---------------------------------------------------------------- families

template <typename Child>
std::unique_ptr<Child> Family<Child>::MakeChild() const {
  if constexpr (std::is_same_v<Child, Histogram>) {
    return std::make_unique<Histogram>(buckets_);
  } else {
    return std::make_unique<Child>();
  }
}

template <typename Child>
Child& Family<Child>::WithLabels(const std::vector<std::string>& values) {
  if (values.size() != label_names_.size()) {
    std::fprintf(stderr, "nodeguard: metric %s takes %zu label values, got %zu\n", name_.c_str(),
                 label_names_.size(), values.size());
    std::abort();
  }
  std::lock_guard lock(mu_);
  auto it = children_.find(values);
  if (it == children_.end()) it = children_.emplace(values, MakeChild()).first;
  return *it->second;
}

template <typename Child>
void Family<Child>::Remove(const std::vector<std::string>& values) {
  std::lock_guard lock(mu_);
  children_.erase(values);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---------------------------------------------------------------- validation

Status ValidateMetricName(std::string_view name, MetricType type) {
  auto invalid = [&](const std::string& why) {
    return Status(Error::Invalid("metric name \"" + std::string(name) + "\": " + why));
  };
  if (name.substr(0, kPrefix.size()) != kPrefix || name.size() == kPrefix.size()) {
    return invalid("must start with \"nodeguard_\" and name something");
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return invalid("use lower snake case [a-z0-9_]");
    }
  }
  if (name.find("__") != std::string_view::npos || name.back() == '_') {
    return invalid("no empty words (\"__\" or a trailing \"_\")");
  }
  size_t start = 0;
  while (start < name.size()) {
    size_t end = name.find('_', start);
    if (end == std::string_view::npos) end = name.size();
    if (IsNonBaseUnit(name.substr(start, end - start))) {
      return invalid("use base units (seconds, bytes, ratios), not \"" +
                     std::string(name.substr(start, end - start)) + "\"");
    }
    start = end + 1;
  }
  for (std::string_view reserved : {"_bucket", "_count", "_sum"}) {
    if (EndsWith(name, reserved)) {
      return invalid("suffix \"" + std::string(reserved) + "\" is reserved for histogram series");
    }
  }
  const bool total = EndsWith(name, "_total");
  switch (type) {
    case MetricType::kCounter:
      if (!total || name.size() == kPrefix.size() + std::string_view("total").size()) {
        return invalid("counters end in \"_total\" after a name");
      }
      break;
    case MetricType::kGauge:
      if (total) return invalid("only counters end in \"_total\"");
      break;
    case MetricType::kHistogram:
      if (!EndsWith(name, "_seconds")) {
        return invalid("histograms measure durations and end in \"_seconds\"");
      }
      break;
  }
  return Status::Ok();
}

Status ValidateLabelNames(const std::vector<std::string>& label_names, MetricType type) {
  std::set<std::string_view> seen;
  for (const std::string& label : label_names) {
    auto invalid = [&](const std::string& why) {
      return Status(Error::Invalid("label name \"" + label + "\": " + why));
    };
    if (label.empty()) return invalid("empty");
    for (size_t i = 0; i < label.size(); ++i) {
      char c = label[i];
      bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
      bool digit = c >= '0' && c <= '9';
      if (!letter && !(digit && i > 0)) return invalid("must match [a-zA-Z_][a-zA-Z0-9_]*");
    }
    if (label.rfind("__", 0) == 0) return invalid("\"__\" prefix is reserved");
    if (type == MetricType::kHistogram && label == "le") {
      return invalid("\"le\" is reserved for histogram buckets");
    }
    if (!seen.insert(label).second) return invalid("duplicate");
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- registry

Status MetricsRegistry::CheckNew(const std::string& name, const std::string& help,
                                 const std::vector<std::string>& label_names,
                                 MetricType type) const {
  if (Status s = ValidateMetricName(name, type); !s.ok()) return s;
  if (help.empty()) return Error::Invalid("metric " + name + ": HELP text is required");
  if (Status s = ValidateLabelNames(label_names, type); !s.ok()) return s;
  if (counters_.count(name) || gauges_.count(name) || histograms_.count(name)) {
    return Error::Of(ErrorKind::kAlreadyExists, "metric " + name + " is already registered");
  }
  return Status::Ok();
}

Result<CounterFamily*> MetricsRegistry::AddCounter(std::string name, std::string help,
                                                   std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  if (Status s = CheckNew(name, help, label_names, MetricType::kCounter); !s.ok()) {
    return s.error();
  }
  std::unique_ptr<CounterFamily> family(
      new CounterFamily(name, std::move(help), std::move(label_names), {}));
  if (family->label_names().empty()) family->Get();  // A label-less series exists from the start.
  return counters_.emplace(std::move(name), std::move(family)).first->second.get();
}

Result<GaugeFamily*> MetricsRegistry::AddGauge(std::string name, std::string help,
                                               std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  if (Status s = CheckNew(name, help, label_names, MetricType::kGauge); !s.ok()) {
    return s.error();
  }
  std::unique_ptr<GaugeFamily> family(
      new GaugeFamily(name, std::move(help), std::move(label_names), {}));
  if (family->label_names().empty()) family->Get();
  return gauges_.emplace(std::move(name), std::move(family)).first->second.get();
}

Result<HistogramFamily*> MetricsRegistry::AddHistogram(std::string name, std::string help,
                                                       std::vector<std::string> label_names,
                                                       std::vector<double> buckets) {
  std::lock_guard lock(mu_);
  if (Status s = CheckNew(name, help, label_names, MetricType::kHistogram); !s.ok()) {
    return s.error();
  }
  if (buckets.empty()) return Error::Invalid("histogram " + name + ": no buckets");
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (!std::isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1]))) {
      return Error::Invalid("histogram " + name +
                            ": bucket bounds must be finite and strictly increasing "
                            "(+Inf is implied)");
    }
  }
  std::unique_ptr<HistogramFamily> family(
      new HistogramFamily(name, std::move(help), std::move(label_names), std::move(buckets)));
  if (family->label_names().empty()) family->Get();
  return histograms_.emplace(std::move(name), std::move(family)).first->second.get();
}

CounterFamily& MetricsRegistry::MustCounter(std::string name, std::string help,
                                            std::vector<std::string> label_names) {
  auto family = AddCounter(std::move(name), std::move(help), std::move(label_names));
  if (!family.ok()) Die(family.error());
  return **family;
}

GaugeFamily& MetricsRegistry::MustGauge(std::string name, std::string help,
                                        std::vector<std::string> label_names) {
  auto family = AddGauge(std::move(name), std::move(help), std::move(label_names));
  if (!family.ok()) Die(family.error());
  return **family;
}

HistogramFamily& MetricsRegistry::MustHistogram(std::string name, std::string help,
                                                std::vector<std::string> label_names,
                                                std::vector<double> buckets) {
  auto family =
      AddHistogram(std::move(name), std::move(help), std::move(label_names), std::move(buckets));
  if (!family.ok()) Die(family.error());
  return **family;
}

std::string MetricsRegistry::Render() const {
  std::lock_guard lock(mu_);
  // Merge the three name-sorted maps into one name-sorted output.
  std::vector<std::tuple<std::string_view, MetricType, const void*>> order;
  for (const auto& [name, f] : counters_) order.emplace_back(name, MetricType::kCounter, f.get());
  for (const auto& [name, f] : gauges_) order.emplace_back(name, MetricType::kGauge, f.get());
  for (const auto& [name, f] : histograms_) {
    order.emplace_back(name, MetricType::kHistogram, f.get());
  }
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
  std::string out;
  for (const auto& [name, type, family] : order) {
    switch (type) {
      case MetricType::kCounter:
        RenderScalarFamily(out, *static_cast<const CounterFamily*>(family), type);
        break;
      case MetricType::kGauge:
        RenderScalarFamily(out, *static_cast<const GaugeFamily*>(family), type);
        break;
      case MetricType::kHistogram:
        RenderHistogramFamily(out, *static_cast<const HistogramFamily*>(family));
        break;
    }
  }
  return out;
}

// ---------------------------------------------------------------- formatting

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatSampleValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == 0) return "0";  // Also -0.
  // Integral values below 2^53 print exactly, without an exponent.
  if (std::fabs(value) < 9007199254740992.0 && value == std::trunc(value)) {
    return std::to_string(static_cast<int64_t>(value));
  }
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (ec != std::errc()) return "NaN";
  return std::string(buffer, end);
}

}  // namespace nodeguard::observe
