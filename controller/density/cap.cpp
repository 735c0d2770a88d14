#include "density/cap.h"

#include <algorithm>

namespace nodeguard::density {

const char* CapBoundName(CapBound b) {
  switch (b) {
    case CapBound::kMaxPods:
      return "maxPods";
    case CapBound::kMaxPodsPerCore:
      return "maxPodsPerCore";
    case CapBound::kAllocatablePods:
      return "allocatable pods";
  }
  return "maxPods";
}

std::optional<int64_t> CapacityCores(const kube::Node& node) {
  if (node.capacity.cpu_millis <= 0) return std::nullopt;
  return std::max<int64_t>(1, node.capacity.cpu_millis / 1000);
}

std::optional<DensityCap> ComputeCap(const api::PodDensitySpec& spec, const kube::Node& node) {
  std::optional<DensityCap> out;
  auto consider = [&out](int64_t value, CapBound bound) {
    if (!out || value < out->cap) out = DensityCap{value, 0, 0, bound};
  };
  if (spec.max_pods) consider(std::max<int64_t>(0, *spec.max_pods), CapBound::kMaxPods);
  if (spec.max_pods_per_core) {
    if (auto cores = CapacityCores(node))
      consider(std::max<int64_t>(0, *spec.max_pods_per_core) * *cores, CapBound::kMaxPodsPerCore);
  }
  if (!out) return std::nullopt;
  if (node.allocatable.pods > 0) consider(node.allocatable.pods, CapBound::kAllocatablePods);

  DensityCap& c = *out;
  const int64_t ahead = std::max<int64_t>(0, spec.taint_ahead);
  c.taint_at = std::max(std::min<int64_t>(c.cap, 1), c.cap - ahead);
  if (c.taint_at == 0) {
    c.release_below = 0;
  } else {
    const int64_t resolved = spec.release_below.Resolve(c.cap, /*round_up=*/false);
    c.release_below = std::clamp<int64_t>(resolved, 1, c.taint_at);
  }
  return out;
}

bool CountsTowardCap(const kube::Pod& pod, const api::PodDensitySpec& spec) {
  if (pod.Terminal()) return false;
  if (pod.controller_kind == kube::ControllerKind::kDaemonSet && !spec.count_daemon_set_pods)
    return false;
  return true;
}

}  // namespace nodeguard::density
