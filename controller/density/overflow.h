#pragma once

// Which pods overflow eviction (spec.podDensity.evictOverflow, decide.h)
// may evict from a node above its cap, and in which order. Pure.
//
// A pod is a candidate when all hold:
//   - it counts toward the cap (CountsTowardCap) and is not terminating;
//   - `kubectl drain` without --force or --delete-emptydir-data would evict
//     it (remediation::FilterPod, the drain's own filter chain): it has a
//     controller, it is not a DaemonSet or mirror (static) pod, and it has no
//     emptyDir volume (its local data would be lost);
//   - its controller is not its Node (a static pod without the mirror
//     annotation is still not movable).
// Order: newest first (creationTimestamp descending), then namespace and
// name ascending, so the choice is deterministic: the pods the burst just
// put on the node go first, the long-running ones stay.

#include <cstdint>
#include <span>
#include <vector>

#include "api/types.h"
#include "kube/objects.h"

namespace nodeguard::density {

// Whether overflow eviction may evict `pod` (the rules above, order aside).
bool OverflowMovable(const kube::Pod& pod, const api::PodDensitySpec& spec);

// The candidates among `pods` (the pods bound to the node), newest first.
// The runtime evicts them in this order until the decision's overflow count
// is accepted, skipping those a PodDisruptionBudget protects.
std::vector<const kube::Pod*> OverflowCandidates(std::span<const kube::Pod* const> pods,
                                                 const api::PodDensitySpec& spec);

}  // namespace nodeguard::density
