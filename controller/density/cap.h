#pragma once

// The pod-density cap of a node and the pod count compared with it.
//
//   cap        = min(maxPods, maxPodsPerCore x cores, node allocatable pods)
//   taint at   = cap - taintAhead       (count >= taint at: add the taint)
//   release    = releaseBelow of cap    (count <  release:  remove the taint)
//
// Between the two marks the taint stays as it is (hysteresis), so a node at
// the edge does not flap.
//
// The adaptive cap (spec.earlyWarning.adaptiveCap, docs/early-warning.md):
// the node's published early-warning level (kube::Node::early_warning) lowers
// the policy's cap before the marks are derived from it, so the taint's
// hysteresis applies to the effective cap. p = the policy cap above, r =
// reduceBy resolved against p (a percent rounded up):
// clang-format off
//   row  when                                  -> cap (effective)      marks                       adaptation
//   A1   no adaptiveCap                        -> p                    of p                        kNone
//   A2   level Absent or Healthy               -> p                    of p                        kNone
//   A3   level Degraded or Critical            -> max(1, p - r)        of the lowered cap          kLowered
//   A4   level Unknown (unreadable)            -> p                    taint_at of p, release_below
//                                                                      the lower of p's and the
//                                                                      lowered cap's               kUnknown
//   A5   p = 0                                 -> 0 (nothing to lower) of 0                        as above
// clang-format on
// Row A4 is "reported, not acted on": an annotation that cannot be read adds
// no taint (the policy cap's mark) and removes none that a lowered cap put on
// (the lowered cap's release mark), whatever the level was before. The cap is
// restored (A2) only when the agent publishes Healthy, which it does after
// the figures stayed calm for spec.earlyWarning.hold: that is the cap's
// hysteresis; the restored cap's release mark then decides the taint.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "api/types.h"
#include "kube/objects.h"

namespace nodeguard::density {

// Which term of the min() set the cap (for messages and status).
enum class CapBound : uint8_t { kMaxPods, kMaxPodsPerCore, kAllocatablePods };
const char* CapBoundName(CapBound b);  // "maxPods", "maxPodsPerCore", "allocatable pods"

// How the node's early-warning level changed its cap (the rows above).
enum class CapAdaptation : uint8_t { kNone, kLowered, kUnknown };
const char* CapAdaptationName(CapAdaptation a);  // "none", "lowered", "unknown"

struct DensityCap {
  int64_t cap = 0;  // The effective cap (lowered while kLowered).
  // Add the taint when the count reaches this: cap - taintAhead, but at least
  // 1 while cap >= 1 (a taintAhead larger than the cap must not taint an empty node).
  int64_t taint_at = 0;
  // Remove the taint when the count falls below this. Always within
  // [1, taint_at] when taint_at >= 1, so (a) a count that releases the taint
  // can never re-add it at once, and (b) an empty node is always released.
  // 0 only when taint_at is 0 (a cap of 0: the node is always capped).
  int64_t release_below = 0;
  CapBound bound = CapBound::kMaxPods;
  // The policy's cap before the adaptive cap (== cap unless kLowered).
  int64_t policy_cap = 0;
  CapAdaptation adaptation = CapAdaptation::kNone;
  friend bool operator==(const DensityCap&, const DensityCap&) = default;
};

// Whole CPU cores of the node's capacity as the cap counts them: rounded
// down, at least 1; nullopt when capacity reports no CPU (unknown).
std::optional<int64_t> CapacityCores(const kube::Node& node);

// The node's cap under `spec`, or nullopt when no policy term applies: neither
// maxPods nor maxPodsPerCore is set, or only maxPodsPerCore is set and the
// node reports no CPU capacity (an unknown size is not a reason to taint).
// Allocatable pods only ever lower a cap (0, i.e. absent, is ignored); alone
// it is no cap, as the kubelet already enforces it.
// releaseBelow as a percent is of the cap, rounded down (conservative: the
// taint stays until the count is clearly lower); as a count it is used as is;
// either is clamped into [1, taint_at] as documented on DensityCap.
// Does not look at spec.enabled: whether the policy governs the node is the
// caller's Governance input to DecideTaint.
// `adaptive`: the governing policy's spec.earlyWarning.adaptiveCap (unset:
// row A1); the level is the node's own (node.early_warning.level).
std::optional<DensityCap> ComputeCap(
    const api::PodDensitySpec& spec, const kube::Node& node,
    const std::optional<api::AdaptiveCapSpec>& adaptive = std::nullopt);

// The adaptive cap of the governing policy's spec, when it has one.
inline std::optional<api::AdaptiveCapSpec> AdaptiveCapOf(const api::NodeHealthPolicySpec& spec) {
  return spec.early_warning.present ? spec.early_warning.adaptive_cap : std::nullopt;
}

// Whether a pod bound to a node takes one of its capped slots:
// - Succeeded/Failed pods do not (they hold no resources and are garbage);
// - every other phase does, including Pending (bound, not started yet) and
//   Unknown, and terminating pods (they run until their containers stop);
// - DaemonSet pods only when spec.count_daemon_set_pods;
// - mirror (static) pods do: the kubelet counts them against its max-pods and
//   they load the runtime like any other pod, and nodeguard cannot move them.
bool CountsTowardCap(const kube::Pod& pod, const api::PodDensitySpec& spec);

// Counts the pods of `pods` bound to `node_name` that CountsTowardCap.
// `pods` is any range of kube::Pod, pointers or smart pointers to kube::Pod
// (normally the runtime's per-node index); pods bound elsewhere are ignored.
template <typename Range>
int64_t CountPods(kube::Symbol node_name, const Range& pods, const api::PodDensitySpec& spec);

// Of those, the ones not terminating (no deletionTimestamp): what overflow
// eviction compares with the cap (decide.h).
template <typename Range>
int64_t CountPodsNotTerminating(kube::Symbol node_name, const Range& pods,
                                const api::PodDensitySpec& spec);

// ---------------------------------------------------------------- details

namespace internal {
inline const kube::Pod& Deref(const kube::Pod& p) { return p; }
template <typename P>
const kube::Pod& Deref(const P& p) {
  return *p;
}
}  // namespace internal

template <typename Range>
int64_t CountPods(kube::Symbol node_name, const Range& pods, const api::PodDensitySpec& spec) {
  int64_t n = 0;
  for (const auto& p : pods) {
    const kube::Pod& pod = internal::Deref(p);
    if (pod.node_name == node_name && !node_name.empty() && CountsTowardCap(pod, spec)) ++n;
  }
  return n;
}

template <typename Range>
int64_t CountPodsNotTerminating(kube::Symbol node_name, const Range& pods,
                                const api::PodDensitySpec& spec) {
  int64_t n = 0;
  for (const auto& p : pods) {
    const kube::Pod& pod = internal::Deref(p);
    if (pod.node_name == node_name && !node_name.empty() && !pod.Terminating() &&
        CountsTowardCap(pod, spec)) {
      ++n;
    }
  }
  return n;
}

}  // namespace nodeguard::density
