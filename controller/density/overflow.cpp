#include "density/overflow.h"

#include <algorithm>

#include "density/cap.h"
#include "remediation/drain_filter.h"

namespace nodeguard::density {

bool OverflowMovable(const kube::Pod& pod, const api::PodDensitySpec& spec) {
  if (pod.Terminating() || !CountsTowardCap(pod, spec)) return false;
  if (pod.controller_kind == kube::ControllerKind::kNode) return false;
  // kubectl drain's defaults: no --force, no --delete-emptydir-data. The
  // time only matters to skip-deleted, which terminating pods never reach here.
  const remediation::DrainFilterOptions defaults;
  return remediation::FilterPod(pod, defaults, WallTime{}).kind ==
         remediation::PodVerdictKind::kEvict;
}

std::vector<const kube::Pod*> OverflowCandidates(std::span<const kube::Pod* const> pods,
                                                 const api::PodDensitySpec& spec) {
  std::vector<const kube::Pod*> out;
  for (const kube::Pod* p : pods) {
    if (p != nullptr && OverflowMovable(*p, spec)) out.push_back(p);
  }
  std::sort(out.begin(), out.end(), [](const kube::Pod* a, const kube::Pod* b) {
    if (a->meta.creation_timestamp != b->meta.creation_timestamp) {
      return a->meta.creation_timestamp > b->meta.creation_timestamp;
    }
    if (a->meta.namespace_.view() != b->meta.namespace_.view()) {
      return a->meta.namespace_.view() < b->meta.namespace_.view();
    }
    return a->meta.name < b->meta.name;
  });
  return out;
}

}  // namespace nodeguard::density
