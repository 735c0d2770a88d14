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

const char* CapAdaptationName(CapAdaptation a) {
  switch (a) {
    case CapAdaptation::kNone:
      return "none";
    case CapAdaptation::kLowered:
      return "lowered";
    case CapAdaptation::kUnknown:
      return "unknown";
  }
  return "none";
}

namespace {

// The marks of `cap` (taint_at, release_below) as documented on DensityCap.
void SetMarks(const api::PodDensitySpec& spec, DensityCap& c) {
  const int64_t ahead = std::max<int64_t>(0, spec.taint_ahead);
  c.taint_at = std::max(std::min<int64_t>(c.cap, 1), c.cap - ahead);
  if (c.taint_at == 0) {
    c.release_below = 0;
  } else {
    const int64_t resolved = spec.release_below.Resolve(c.cap, /*round_up=*/false);
    c.release_below = std::clamp<int64_t>(resolved, 1, c.taint_at);
  }
}

}  // namespace

std::optional<DensityCap> ComputeCap(const api::PodDensitySpec& spec, const kube::Node& node,
                                     const std::optional<api::AdaptiveCapSpec>& adaptive) {
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
  c.policy_cap = c.cap;
  SetMarks(spec, c);
  if (!adaptive) return out;  // Row A1.
  const kube::EarlyWarningLevel level = node.early_warning.level;
  const bool lower =
      level == kube::EarlyWarningLevel::kDegraded || level == kube::EarlyWarningLevel::kCritical;
  if (!lower && level != kube::EarlyWarningLevel::kUnknown) return out;  // Row A2.

  DensityCap lowered = c;
  if (c.cap > 0) {  // Row A5: a cap of 0 has nothing to lower.
    const int64_t by = std::max<int64_t>(0, adaptive->reduce_by.Resolve(c.cap, /*round_up=*/true));
    lowered.cap = std::max<int64_t>(1, c.cap - by);
    SetMarks(spec, lowered);
  }
  if (lower) {  // Row A3.
    lowered.adaptation = CapAdaptation::kLowered;
    return lowered;
  }
  // Row A4: the policy cap's taint mark, the lower release mark.
  c.release_below = std::min(c.release_below, lowered.release_below);
  c.adaptation = CapAdaptation::kUnknown;
  return out;
}

bool CountsTowardCap(const kube::Pod& pod, const api::PodDensitySpec& spec) {
  if (pod.Terminal()) return false;
  if (pod.controller_kind == kube::ControllerKind::kDaemonSet && !spec.count_daemon_set_pods)
    return false;
  return true;
}

}  // namespace nodeguard::density
