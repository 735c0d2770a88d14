#pragma once

// DensityReconciler: keeps each node's pod-density taint in line with its
// governing policy (density/decide.h decides; this class acts).
//
// Key: a node name. Pod events enqueue the pod's node, so a burst of pod
// events on one node coalesces into one reconcile (the WorkQueue dedups keys
// that are waiting). Policy events enqueue every node: a changed cap or key
// may concern any of them.
//
// Ownership: nodeguard changes only the taint it recorded applying
// (density/taint_record.h, annotation nodeguard.io/density-taint, written in
// the same patch as the taint). The governing policy manages that taint
// whatever its key (a changed taint.key replaces it, another policy's is
// handed over); on a node no policy governs any more it is removed. A taint
// nodeguard did not record is never touched, whatever its key.
//
// Cleanup: the policy's finalizer (nodeguard.io/cleanup) is released by
// PolicyReconciler only once no node it no longer governs carries a taint
// recorded for it (NodesTaintedBy), so nothing is left behind. A deleted
// policy's taints are removed even under dryRun or the controller's
// --dry-run (undoing nodeguard's own write), so the finalizer never sticks.
// A live policy switched to dryRun leaves its real taints as they are: none
// is added, removed or rewritten while its Events and status report what it
// would do; switching back resumes managing them, deleting it removes them.
//
// Overflow eviction (spec.podDensity.evictOverflow): a node above its cap
// after a burst (a released taint meeting a Pending backlog) gets the
// decision's overflow count evicted through the Eviction API (the drainer's
// RestDrainApi::Evict), newest movable pods first (density/overflow.h),
// after a quorum LIST of the node's pods confirms the count (a cache behind
// on deletions must not evict too many). A pod a PodDisruptionBudget
// protects (429) is skipped this round and the next candidate tried; the
// node is requeued after 5 s while a refusal or an error left it above its
// cap, and re-decided on its pod events anyway. Pods evicted in the last
// two minutes that the cache does not show terminating
// yet are left out of the count and the choice, so none is evicted twice.

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "api/types.h"
#include "density/decide.h"
#include "density/taint_record.h"
#include "reconcile/reconciler.h"

namespace nodeguard::runtime {

class DensityReconciler final : public Reconciler {
 public:
  explicit DensityReconciler(Deps deps);

  std::string_view name() const override { return "density"; }
  observe::Field KeyField(const std::string& key) const override { return {"node", key}; }
  void OnNode(const kube::Node* old_obj, const kube::Node* obj, kube::WorkQueue& queue) override;
  void OnPod(const kube::Pod* old_obj, const kube::Pod* obj, kube::WorkQueue& queue) override;
  void OnPolicy(const PolicyObject* old_obj, const PolicyObject* obj,
                kube::WorkQueue& queue) override;
  void EnqueueAll(kube::WorkQueue& queue) override;
  Result<ReconcileResult> Reconcile(const std::string& node_name) override;

  // Nodes carrying a taint recorded (or, before records, adopted: see
  // taint_record.h) for `policy` that no live policy governs: what a deleted
  // policy still has to remove before its cleanup finalizer goes. A node
  // another policy governs is not counted: that policy takes the taint over
  // or removes it.
  int NodesTaintedBy(const std::string& policy) const;

 private:
  // Reports the node's entry (or its absence) in the policy's status.
  void Report(const std::string& policy, const std::string& node,
              const std::optional<api::DensityCappedNode>& entry, bool dry_run);
  void ForgetNode(const std::string& node);
  // The node has no governing policy: removes nodeguard's taint from it.
  Result<ReconcileResult> Release(const kube::Node& node, const density::OwnTaint& own,
                                  const PolicyList& policies);
  // Sends a taint patch; a failed `test` (422) becomes a kConflict to re-decide.
  Status Write(const kube::Node& node, const nlohmann::json& patch);
  // The node's pods minus those nodeguard evicted moments ago that the cache
  // does not show terminating yet (forgetting those it does, or that are gone).
  std::vector<const kube::Pod*> NotJustEvicted(const std::string& node,
                                               std::span<const kube::Pod* const> pods);
  // In dry run, names the first `overflow` of `candidates` (from the cache).
  // Otherwise lists the node's pods from the API server and evicts at most
  // `overflow` of its candidates (fewer when the list shows fewer above the
  // cap); returns a requeue delay while a refusal or an error left some undone.
  Result<std::optional<Duration>> EvictOverflow(const kube::Node& node, density::DensityInputs in,
                                                int64_t overflow, bool evict,
                                                const api::PodDensitySpec& spec,
                                                std::vector<const kube::Pod*> candidates);

  Deps deps_;
  observe::GaugeFamily& pods_gauge_;
  observe::GaugeFamily& cap_gauge_;
  observe::GaugeFamily& capped_gauge_;
  observe::CounterFamily& taint_changes_;
  observe::CounterFamily& overflow_evictions_;

  mutable std::mutex mu_;
  // Guarded by mu_: capped nodes per policy (derived state, rebuilt by the
  // first reconcile of every node after a restart), and in dryRun the taint
  // each node would carry.
  std::map<std::string, std::map<std::string, api::DensityCappedNode>> capped_;
  std::set<std::string> simulated_taints_;  // "policy/node"
  // Pods nodeguard evicted, by node, then pod UID: when.
  std::map<std::string, std::map<std::string, WallTime>> evicted_;
};

}  // namespace nodeguard::runtime
