#pragma once

// The pod-density cap of a node and the pod count compared with it.
//
//   cap        = min(maxPods, maxPodsPerCore x cores, node allocatable pods)
//   taint at   = cap - taintAhead       (count >= taint at: add the taint)
//   release    = releaseBelow of cap    (count <  release:  remove the taint)
//
// Between the two marks the taint stays as it is (hysteresis), so a node at
// the edge does not flap.

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

struct DensityCap {
  int64_t cap = 0;
  // Add the taint when the count reaches this: cap - taintAhead, but at least
  // 1 while cap >= 1 (a taintAhead larger than the cap must not taint an empty node).
  int64_t taint_at = 0;
  // Remove the taint when the count falls below this. Always within
  // [1, taint_at] when taint_at >= 1, so (a) a count that releases the taint
  // can never re-add it at once, and (b) an empty node is always released.
  // 0 only when taint_at is 0 (a cap of 0: the node is always capped).
  int64_t release_below = 0;
  CapBound bound = CapBound::kMaxPods;
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
std::optional<DensityCap> ComputeCap(const api::PodDensitySpec& spec, const kube::Node& node);

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
// eviction compares with the cap (decision.h).
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
