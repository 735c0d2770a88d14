#pragma once

// DensityReconciler: keeps each node's pod-density taint in line with its
// governing policy (density/decision.h decides; this class acts).
//
// Key: a node name. Pod events enqueue the pod's node, so a burst of pod
// events on one node coalesces into one reconcile (the WorkQueue dedups keys
// that are waiting). Policy events enqueue every node: a changed cap or key
// may concern any of them.
//
// Cleanup: a taint with the key of a policy that no longer governs the node
// (deleted, deselected, podDensity disabled) is removed; the policy's
// finalizer (nodeguard.io/cleanup) is released by PolicyReconciler only once
// no node carries its taint, so nothing is left behind.

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "api/types.h"
#include "runtime/reconciler.h"

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

  // Nodes still carrying a taint with `key` that no governing policy claims:
  // what a deleted policy with that key still has to remove (for the cleanup
  // finalizer). A node governed by another policy enforcing the same key is
  // not counted: the taint on it is that policy's.
  int NodesTaintedWith(std::string_view key) const;

 private:
  // Reports the node's entry (or its absence) in the policy's status.
  void Report(const std::string& policy, const std::string& node,
              const std::optional<api::DensityCappedNode>& entry, bool dry_run);
  void ForgetNode(const std::string& node);

  Deps deps_;
  observe::GaugeFamily& pods_gauge_;
  observe::GaugeFamily& cap_gauge_;
  observe::GaugeFamily& capped_gauge_;
  observe::CounterFamily& taint_changes_;

  mutable std::mutex mu_;
  // Guarded by mu_: capped nodes per policy (derived state, rebuilt by the
  // first reconcile of every node after a restart), and in dryRun the taint
  // each node would carry.
  std::map<std::string, std::map<std::string, api::DensityCappedNode>> capped_;
  std::set<std::string> simulated_taints_;  // "policy/node"
};

}  // namespace nodeguard::runtime
