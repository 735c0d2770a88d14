#pragma once

// PolicyReconciler: the policy-level part of status (observedGeneration,
// Ready and Paused conditions, selected/ready node counts, conflicts) and the
// early-warning counts and announcing Events (reconcile/early_warning.h), and the
// cleanup finalizer: added to every live policy, released on deletion once no
// node carries the policy's density taint.

#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "reconcile/reconciler.h"

namespace nodeguard::runtime {

class PolicyReconciler final : public Reconciler {
 public:
  // `pending_cleanup(policy)`: nodes a deleted policy must still wind down
  // (carrying its density taint, or in one of its remediations); its
  // finalizer is released only at zero.
  PolicyReconciler(Deps deps, std::function<int(const PolicyObject&)> pending_cleanup);

  std::string_view name() const override { return "policy"; }
  observe::Field KeyField(const std::string& key) const override { return {"policy", key}; }
  void OnNode(const kube::Node* old_obj, const kube::Node* obj, kube::WorkQueue& queue) override;
  void OnPolicy(const PolicyObject* old_obj, const PolicyObject* obj,
                kube::WorkQueue& queue) override;
  void EnqueueAll(kube::WorkQueue& queue) override;
  Result<ReconcileResult> Reconcile(const std::string& policy_name) override;

 private:
  // Records the node's early-warning announcement and emits its Event, if due.
  Status Announce(const kube::Node& node, std::string_view cap_note, const std::string& policy);
  Status PatchFinalizers(const PolicyObject& policy, const std::vector<std::string>& finalizers);

  Deps deps_;
  std::function<int(const PolicyObject&)> pending_cleanup_;
  observe::GaugeFamily& selected_gauge_;
  observe::GaugeFamily& valid_gauge_;
  observe::GaugeFamily& early_warning_gauge_;
  // Node -> the nodeguard.io/early-warning-announced value this process
  // wrote; an entry goes once the cache shows the node needs nothing more.
  std::mutex announced_mu_;
  std::unordered_map<std::string, std::string> announced_;
};

}  // namespace nodeguard::runtime
