#pragma once

// Which pods a drain evicts, decided as `kubectl drain` decides
// (k8s.io/kubectl/pkg/drain: GetPodsForDeletion and filters.go), with the
// pod selector applied first as kubectl applies it to its List call, then the
// filters in kubectl's order, each able to stop the chain:
//
//   1. skip-deleted   a pod terminating for longer than skipWaitForDeleteTimeout
//                     (whole seconds, strictly longer) is skipped;
//   2. DaemonSet      a running DaemonSet pod is never evicted (nodeguard always
//                     behaves as --ignore-daemonsets); an orphan whose DaemonSet
//                     is gone is evicted under `force`, otherwise an error;
//   3. mirror         static (mirror) pods are skipped;
//   4. local storage  a running pod with an emptyDir needs deleteEmptyDirData;
//   5. unreplicated   a running pod without a controller needs `force`.
//
// Finished pods (Succeeded/Failed) pass filters 2, 4 and 5. Any Error verdict
// aborts the drain before a single eviction (kubectl returns the errors from
// GetPodsForDeletion and evicts nothing).
//
// One difference: kubectl keeps only the last filter's warning for a pod;
// DrainPlan keeps every warning (decisions are the same).

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "api/types.h"
#include "common/clock.h"
#include "common/duration.h"
#include "kube/objects.h"

namespace nodeguard::remediation {

enum class PodVerdictKind : uint8_t { kEvict, kSkip, kError };
const char* PodVerdictKindName(PodVerdictKind k);

struct PodVerdict {
  PodVerdictKind kind = PodVerdictKind::kEvict;
  // kSkip/kError: why; kEvict: empty unless a warning applies.
  std::string reason;
  // Warnings that do not stop the pod (kubectl prints them): "deleting Pods
  // with local storage", "ignoring DaemonSet-managed Pods", ... An Error
  // verdict carries none (the error replaces them, as in kubectl).
  std::vector<std::string> warnings;
  friend bool operator==(const PodVerdict&, const PodVerdict&) = default;
};

// The drain settings filters read (the DrainSpec's flags).
struct DrainFilterOptions {
  bool force = false;
  bool delete_empty_dir_data = false;
  Duration skip_wait_for_delete_timeout{0};  // 0: never skip terminating pods.

  static DrainFilterOptions From(const api::DrainSpec& spec);
};

// Whether a DaemonSet-managed pod's DaemonSet exists, as kubectl's GET of it
// would tell. kError carries the API error text.
struct DaemonSetLookup {
  enum Kind : uint8_t { kExists, kNotFound, kError } kind = kExists;
  std::string message;
};
// Called only for running DaemonSet pods. A null function means "exists"
// (an integrator without a DaemonSet cache: orphaned DaemonSet pods are then
// skipped rather than reported; never evicted wrongly).
using DaemonSetLookupFn = std::function<DaemonSetLookup(const kube::Pod&)>;

// drain.podSelector applied to a pod; a null function selects every pod.
// (kube::Pod carries no labels; the integrator matches with the labels it has
// or lists pods with the selector, as kubectl does.)
using PodSelectorFn = std::function<bool(const kube::Pod&)>;

// Runs the filter chain on one pod at `now`.
PodVerdict FilterPod(const kube::Pod& pod, const DrainFilterOptions& options, WallTime now,
                     const DaemonSetLookupFn& daemon_set_exists = nullptr,
                     const PodSelectorFn& selected = nullptr);

struct DrainPlan {
  struct Entry {
    const kube::Pod* pod;  // Points into the caller's span.
    PodVerdict verdict;
  };
  std::vector<Entry> pods;                 // Every input pod, in input order.
  std::vector<const kube::Pod*> to_evict;  // Verdict kEvict, in input order.
  // Grouped like kubectl: "cannot delete <reason>: ns/a, ns/b", in order of
  // first appearance. Non-empty means: abort, evict nothing, report.
  std::vector<std::string> errors;
  std::vector<std::string> warnings;  // "<warning>: ns/a, ns/b", grouped the same way.

  bool ok() const { return errors.empty(); }
  // "cannot delete ...; cannot delete ..." for Events and the state message.
  std::string ErrorSummary() const;
};

// REQUIRES: the pods outlive the returned plan.
DrainPlan PlanDrain(std::span<const kube::Pod> pods, const DrainFilterOptions& options,
                    WallTime now, const DaemonSetLookupFn& daemon_set_exists = nullptr,
                    const PodSelectorFn& selected = nullptr);

}  // namespace nodeguard::remediation
