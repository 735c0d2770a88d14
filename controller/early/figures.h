#pragma once

// PLEG figures of one node from two scrapes of its kubelet's /metrics: the
// window is the time between them. Pure: the agent keeps the previous
// scrape's Exposition and passes the wall time of each (the agent runs on the
// node, so its clock is the kubelet's, which kubelet_pleg_last_seen_seconds
// is read against).
//
// What the kubelet (v1.36.3, read on a real node, see
// tests/testdata/real-kubelet/README.md) exposes, and what is read from it:
//   kubelet_pleg_relist_duration_seconds   histogram, no labels: p99 of the
//       relists that completed in the window, from bucket deltas
//   kubelet_pleg_relist_interval_seconds   histogram, no labels: mean
//       interval between relists in the window (sum delta / count delta)
//   kubelet_pleg_last_seen_seconds         gauge, Unix seconds of the last
//       completed relist: its age at the current scrape
//   kubelet_pleg_discard_events            counter: delta over the window
//   kubelet_running_pods                   gauge
//   kubelet_running_containers             gauge, label container_state
//       (created, running, exited, unknown): the "running" one
//   kubelet_runtime_operations_duration_seconds  histogram, label
//       operation_type: p99 of list_podsandbox and list_containers in the
//       window (the relist's own CRI calls)
// A relist that hangs on a frozen runtime is observed only when it returns
// (after the 2 min runtime request timeout): while it hangs nothing moves in
// the histograms and only the last-seen age shows it.
//
// Counter resets (the kubelet restarted between the scrapes: a count or a
// bucket went down, or the bucket bounds changed) are handled as Prometheus'
// rate() does: the current values are the increase since the restart.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "early/exposition.h"

namespace nodeguard::early {

inline constexpr std::string_view kRelistDuration = "kubelet_pleg_relist_duration_seconds";
inline constexpr std::string_view kRelistInterval = "kubelet_pleg_relist_interval_seconds";
inline constexpr std::string_view kLastSeen = "kubelet_pleg_last_seen_seconds";
inline constexpr std::string_view kDiscardEvents = "kubelet_pleg_discard_events";
inline constexpr std::string_view kRunningPods = "kubelet_running_pods";
inline constexpr std::string_view kRunningContainers = "kubelet_running_containers";
inline constexpr std::string_view kRuntimeOperations =
    "kubelet_runtime_operations_duration_seconds";

// The families ParseExposition must decode for ComputePlegFigures.
const std::vector<std::string>& PlegFamilies();

// A cumulative histogram: (upper bound, cumulative count), ascending, the
// last bound +Inf.
struct Histogram {
  std::vector<std::pair<double, double>> buckets;
  double sum = 0;
  double count = 0;
  friend bool operator==(const Histogram&, const Histogram&) = default;
};

// The histogram of `family` whose samples carry label `label` = `value` (or,
// when `label` is empty, the unlabelled one). Errors (kInvalid): the family is
// not a histogram (or untyped), no +Inf bucket, a bucket without a numeric
// le, a negative or non-finite count, cumulative counts going down, or _count
// disagreeing with the +Inf bucket.
// kNotFound: no such series.
Result<Histogram> ReadHistogram(const Family& family, std::string_view label = {},
                                std::string_view value = {});

// The increase from `previous` to `current`; `*reset` is set when a reset was
// detected (then the increase is `current` itself).
Histogram HistogramIncrease(const Histogram& previous, const Histogram& current, bool* reset);

// Prometheus' histogram_quantile on a (delta) histogram: linear interpolation
// inside the bucket holding rank q*count (the first bucket from 0 when its
// bound is positive). Unset when count is 0 or q outside [0, 1]. When the
// rank falls in the +Inf bucket, the largest finite bound (as Prometheus
// does); *above_top is then set.
std::optional<double> HistogramQuantile(double q, const Histogram& h, bool* above_top = nullptr);

struct RuntimeOperation {
  std::string operation;              // operation_type, e.g. "list_podsandbox".
  std::optional<double> p99_seconds;  // Unset: no call completed in the window.
  double calls = 0;                   // Calls completed in the window.
  friend bool operator==(const RuntimeOperation&, const RuntimeOperation&) = default;
};

struct PlegFigures {
  double window_seconds = 0;  // Between the scrapes; 0 on the first scrape.
  // Relists completed in the window, and their p99 (unset when none
  // completed). relist_p99_above_top: the p99 is past the largest finite
  // bucket (10 s), so relist_p99_seconds is that bound and a lower bound.
  double relists = 0;
  std::optional<double> relist_p99_seconds;
  bool relist_p99_above_top = false;
  std::optional<double> relist_interval_seconds;  // Mean over the window.
  // now - kubelet_pleg_last_seen_seconds (clamped at 0).
  std::optional<double> last_seen_age_seconds;
  std::optional<double> discard_events;  // Increase over the window.
  std::optional<double> running_pods;
  std::optional<double> running_containers;       // container_state="running".
  std::vector<RuntimeOperation> list_operations;  // list_podsandbox, list_containers.
  bool counter_reset = false;                     // Some counter went down: the kubelet restarted.
  // Set only by PendingScrapeFigures (early/scrape.h): the figures stand for
  // a scrape the kubelet has not answered for this long.
  std::optional<double> scrape_pending_seconds;
  // Families or series that were absent or unreadable, with why ("kubelet_pleg_last_seen_seconds:
  // missing"); the figures that depend on them are unset.
  std::vector<std::string> problems;
};

// From the previous scrape and the current one, taken at previous_time and
// now. previous == nullptr (the first scrape): only the gauges are read; the
// window figures (relists, p99s, interval, discard events) stay unset, since
// over the kubelet's whole life they would carry hangs of long ago.
PlegFigures ComputePlegFigures(const Exposition* previous, WallTime previous_time,
                               const Exposition& current, WallTime now);

}  // namespace nodeguard::early
