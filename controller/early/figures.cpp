#include "early/figures.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace nodeguard::early {
namespace {

bool MatchesSeries(const Sample& s, std::string_view label, std::string_view value) {
  if (label.empty()) {
    // The unlabelled series: no label but le on buckets.
    for (const Label& l : s.labels) {
      if (l.name != "le") return false;
    }
    return true;
  }
  const std::string* v = s.LabelValue(label);
  return v != nullptr && *v == value;
}

// The value of the single sample of a gauge/counter family with label
// `label` = `value` (or no labels).
Result<double> ReadScalar(const Exposition& e, std::string_view name, std::string_view label = {},
                          std::string_view value = {}) {
  const Family* f = e.Find(name);
  if (f == nullptr) return Error::NotFound(std::string(name) + ": missing");
  for (const Sample& s : f->samples) {
    if (!s.suffix.empty()) continue;
    if (label.empty() ? s.labels.empty() : MatchesSeries(s, label, value)) return s.value;
  }
  std::string what = std::string(name);
  if (!label.empty()) what += "{" + std::string(label) + "=\"" + std::string(value) + "\"}";
  return Error::NotFound(what + ": missing");
}

void Note(PlegFigures& out, const Error& e) { out.problems.push_back(e.message); }

}  // namespace

const std::vector<std::string>& PlegFamilies() {
  static const std::vector<std::string> kFamilies = {
      std::string(kRelistDuration),   std::string(kRelistInterval), std::string(kLastSeen),
      std::string(kDiscardEvents),    std::string(kRunningPods),    std::string(kRunningContainers),
      std::string(kRuntimeOperations)};
  return kFamilies;
}

Result<Histogram> ReadHistogram(const Family& family, std::string_view label,
                                std::string_view value) {
  std::string what = family.name;
  if (!label.empty()) what += "{" + std::string(label) + "=\"" + std::string(value) + "\"}";
  if (family.type != MetricType::kHistogram && family.type != MetricType::kUnknown &&
      family.type != MetricType::kUntyped) {
    return Error::Invalid(what + ": a " + MetricTypeName(family.type) + ", not a histogram");
  }
  Histogram h;
  bool have_sum = false, have_count = false;
  for (const Sample& s : family.samples) {
    if (!MatchesSeries(s, label, value)) continue;
    if (s.suffix == "_bucket") {
      const std::string* le = s.LabelValue("le");
      std::optional<double> bound = le ? ParseFloatValue(*le) : std::nullopt;
      if (!bound || std::isnan(*bound))
        return Error::Invalid(what + ": a bucket without a numeric le");
      h.buckets.emplace_back(*bound, s.value);
    } else if (s.suffix == "_sum") {
      h.sum = s.value;
      have_sum = true;
    } else if (s.suffix == "_count") {
      h.count = s.value;
      have_count = true;
    }
  }
  if (h.buckets.empty() && !have_sum && !have_count) return Error::NotFound(what + ": missing");
  std::sort(h.buckets.begin(), h.buckets.end());
  if (h.buckets.empty() || !std::isinf(h.buckets.back().first) || h.buckets.back().first < 0) {
    return Error::Invalid(what + ": no +Inf bucket");
  }
  for (size_t i = 0; i < h.buckets.size(); ++i) {
    double c = h.buckets[i].second;
    if (!std::isfinite(c) || c < 0) {
      return Error::Invalid(what + ": a bucket count is negative or not finite");
    }
    if (i > 0 && c < h.buckets[i - 1].second) {
      return Error::Invalid(what + ": cumulative bucket counts go down");
    }
  }
  if (!have_count) h.count = h.buckets.back().second;
  if (h.count != h.buckets.back().second) {
    return Error::Invalid(what + ": _count differs from the +Inf bucket");
  }
  return h;
}

Histogram HistogramIncrease(const Histogram& previous, const Histogram& current, bool* reset) {
  bool same_bounds = previous.buckets.size() == current.buckets.size();
  for (size_t i = 0; same_bounds && i < current.buckets.size(); ++i) {
    same_bounds = previous.buckets[i].first == current.buckets[i].first;
  }
  bool went_down = !same_bounds || current.count < previous.count;
  for (size_t i = 0; !went_down && i < current.buckets.size(); ++i) {
    went_down = current.buckets[i].second < previous.buckets[i].second;
  }
  if (went_down) {
    if (reset != nullptr) *reset = true;
    return current;
  }
  Histogram d = current;
  for (size_t i = 0; i < d.buckets.size(); ++i) d.buckets[i].second -= previous.buckets[i].second;
  d.count -= previous.count;
  d.sum -= previous.sum;
  return d;
}

std::optional<double> HistogramQuantile(double q, const Histogram& h, bool* above_top) {
  if (above_top != nullptr) *above_top = false;
  if (!(q >= 0 && q <= 1) || h.buckets.empty() || !(h.count > 0)) return std::nullopt;
  double total = h.buckets.back().second;
  if (!(total > 0)) return std::nullopt;
  double rank = q * total;
  size_t b = 0;
  while (b < h.buckets.size() && h.buckets[b].second < rank) ++b;
  if (b >= h.buckets.size()) b = h.buckets.size() - 1;
  if (std::isinf(h.buckets[b].first)) {
    if (above_top != nullptr) *above_top = true;
    if (h.buckets.size() < 2) return std::nullopt;
    return h.buckets[h.buckets.size() - 2].first;
  }
  double upper = h.buckets[b].first;
  double lower = 0;
  double below = 0;
  if (b > 0) {
    lower = h.buckets[b - 1].first;
    below = h.buckets[b - 1].second;
  } else if (upper <= 0) {
    return upper;
  }
  double in_bucket = h.buckets[b].second - below;
  if (!(in_bucket > 0)) return upper;
  return lower + (upper - lower) * ((rank - below) / in_bucket);
}

PlegFigures ComputePlegFigures(const Exposition* previous, WallTime previous_time,
                               const Exposition& current, WallTime now) {
  PlegFigures out;
  auto seconds = [](auto d) { return std::chrono::duration<double>(d).count(); };

  // Gauges.
  if (auto v = ReadScalar(current, kLastSeen); v.ok()) {
    double epoch = seconds(now.time_since_epoch());
    if (std::isfinite(*v)) {
      out.last_seen_age_seconds = std::max(0.0, epoch - *v);
    } else {
      out.problems.push_back(std::string(kLastSeen) + ": not a finite value");
    }
  } else {
    Note(out, v.error());
  }
  if (auto v = ReadScalar(current, kRunningPods); v.ok()) {
    out.running_pods = *v;
  } else {
    Note(out, v.error());
  }
  if (auto v = ReadScalar(current, kRunningContainers, "container_state", "running"); v.ok()) {
    out.running_containers = *v;
  } else {
    Note(out, v.error());
  }
  if (previous == nullptr) return out;
  out.window_seconds = std::max(0.0, seconds(now - previous_time));

  // Window figures: increases between the scrapes.
  auto increase = [&](std::string_view name, std::string_view label,
                      std::string_view value) -> std::optional<Histogram> {
    const Family* cur = current.Find(name);
    const Family* prev = previous->Find(name);
    if (cur == nullptr || prev == nullptr) {
      out.problems.push_back(std::string(name) + ": missing");
      return std::nullopt;
    }
    auto c = ReadHistogram(*cur, label, value);
    if (!c.ok()) {
      Note(out, c.error());
      return std::nullopt;
    }
    auto p = ReadHistogram(*prev, label, value);
    if (!p.ok()) {
      // Absent before (a first call since the previous scrape): all of it is new.
      if (p.error().Is(ErrorKind::kNotFound)) return *c;
      Note(out, p.error());
      return std::nullopt;
    }
    bool reset = false;
    Histogram d = HistogramIncrease(*p, *c, &reset);
    out.counter_reset = out.counter_reset || reset;
    return d;
  };

  if (auto d = increase(kRelistDuration, {}, {})) {
    out.relists = d->count;
    out.relist_p99_seconds = HistogramQuantile(0.99, *d, &out.relist_p99_above_top);
  }
  if (auto d = increase(kRelistInterval, {}, {}); d && d->count > 0 && std::isfinite(d->sum)) {
    out.relist_interval_seconds = d->sum / d->count;
  }
  for (std::string_view op :
       {std::string_view("list_podsandbox"), std::string_view("list_containers")}) {
    if (auto d = increase(kRuntimeOperations, "operation_type", op)) {
      out.list_operations.push_back(
          RuntimeOperation{std::string(op), HistogramQuantile(0.99, *d), d->count});
    }
  }
  auto cur_discard = ReadScalar(current, kDiscardEvents);
  auto prev_discard = ReadScalar(*previous, kDiscardEvents);
  if (!cur_discard.ok()) {
    Note(out, cur_discard.error());
  } else if (!prev_discard.ok()) {
    Note(out, prev_discard.error());
  } else if (*cur_discard < *prev_discard) {
    out.counter_reset = true;
    out.discard_events = *cur_discard;
  } else {
    out.discard_events = *cur_discard - *prev_discard;
  }
  return out;
}

}  // namespace nodeguard::early
