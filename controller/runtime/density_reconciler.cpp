#include "runtime/density_reconciler.h"

#include "density/cap.h"
#include "density/decision.h"
#include "density/taint_patch.h"
#include "kube/store.h"
#include "observe/log.h"

namespace nodeguard::runtime {
namespace {

observe::Logger Log() { return observe::Log().With({{"reconciler", "density"}}); }

bool DensityRelevantChange(const kube::Pod* old_obj, const kube::Pod* obj) {
  if (old_obj == nullptr || obj == nullptr) return true;
  return old_obj->node_name != obj->node_name || old_obj->Terminal() != obj->Terminal() ||
         old_obj->controller_kind != obj->controller_kind;
}

}  // namespace

DensityReconciler::DensityReconciler(Deps deps)
    : deps_(std::move(deps)),
      pods_gauge_(deps_.metrics->MustGauge(
          "nodeguard_node_pods", "Pods counted toward the density cap, per node.", {"node"})),
      cap_gauge_(deps_.metrics->MustGauge(
          "nodeguard_node_pod_cap", "Pod-density cap of the node under its policy.", {"node"})),
      capped_gauge_(deps_.metrics->MustGauge(
          "nodeguard_density_capped_nodes",
          "Nodes at their pod-density cap (tainted, or would be in dryRun), per policy.",
          {"policy"})),
      taint_changes_(deps_.metrics->MustCounter(
          "nodeguard_density_taint_changes_total",
          "Density taints added or removed on nodes, by action.", {"action"})) {}

void DensityReconciler::OnNode(const kube::Node* old_obj, const kube::Node* obj,
                               kube::WorkQueue& queue) {
  if (obj == nullptr) {
    ForgetNode(old_obj->meta.name);
    return;
  }
  if (old_obj != nullptr && old_obj->labels == obj->labels && old_obj->taints == obj->taints &&
      old_obj->capacity.cpu_millis == obj->capacity.cpu_millis &&
      old_obj->allocatable.pods == obj->allocatable.pods) {
    return;  // Heartbeats: nothing the density decision reads.
  }
  queue.Add(obj->meta.name);
}

void DensityReconciler::OnPod(const kube::Pod* old_obj, const kube::Pod* obj,
                              kube::WorkQueue& queue) {
  if (!DensityRelevantChange(old_obj, obj)) return;
  if (old_obj != nullptr && !old_obj->node_name.empty()) queue.Add(old_obj->node_name.str());
  if (obj != nullptr && !obj->node_name.empty()) queue.Add(obj->node_name.str());
}

void DensityReconciler::OnPolicy(const PolicyObject* old_obj, const PolicyObject* obj,
                                 kube::WorkQueue& queue) {
  if (!GovernanceChanged(old_obj, obj)) return;  // Status writes: nothing to re-decide.
  EnqueueAll(queue);
}

void DensityReconciler::EnqueueAll(kube::WorkQueue& queue) {
  for (const auto& node : deps_.nodes->List()) queue.Add(node->meta.name);
}

void DensityReconciler::ForgetNode(const std::string& node) {
  pods_gauge_.Remove({node});
  cap_gauge_.Remove({node});
  std::vector<std::string> policies;
  {
    std::lock_guard lock(mu_);
    for (auto& [policy, nodes] : capped_) {
      if (nodes.count(node) > 0) policies.push_back(policy);
    }
  }
  for (const auto& p : policies) Report(p, node, std::nullopt, false);
}

void DensityReconciler::Report(const std::string& policy, const std::string& node,
                               const std::optional<api::DensityCappedNode>& entry, bool dry_run) {
  std::vector<api::DensityCappedNode> list;
  {
    std::lock_guard lock(mu_);
    auto& nodes = capped_[policy];
    if (entry) {
      nodes[node] = *entry;
    } else {
      nodes.erase(node);
    }
    const std::string sim_key = policy + "/" + node;
    if (dry_run && entry) {
      simulated_taints_.insert(sim_key);
    } else {
      simulated_taints_.erase(sim_key);
    }
    for (const auto& [_, e] : nodes) {
      if (list.size() >= api::kMaxStatusNodes) break;
      list.push_back(e);
    }
    capped_gauge_.WithLabels({policy}).Set(static_cast<double>(nodes.size()));
    const auto total = static_cast<int32_t>(nodes.size());
    deps_.status->Update(policy, [&](api::NodeHealthPolicyStatus& s) {
      s.density_capped_nodes = list;
      s.density_capped_node_count = total;
    });
  }
}

int DensityReconciler::NodesTaintedWith(std::string_view key) const {
  const PolicyList policies = deps_.SortedPolicies();
  int n = 0;
  for (const auto& node : deps_.nodes->List()) {
    bool tainted = false;
    for (const auto& t : node->taints) tainted = tainted || t.key == key;
    if (!tainted) continue;
    // A node governed by a policy that enforces the same key carries that
    // policy's taint (Reconcile leaves it to that policy): nothing is left
    // behind there, and waiting for it would hold a deleted policy forever.
    const auto governing = deps_.Governing(policies, *node);
    if (governing && governing->policy.spec.pod_density.enabled &&
        governing->policy.spec.pod_density.taint.key == key) {
      continue;
    }
    ++n;
  }
  return n;
}

Result<ReconcileResult> DensityReconciler::Reconcile(const std::string& node_name) {
  auto node = deps_.nodes->Get("", node_name);
  if (!node) return ReconcileResult{};
  const PolicyList policies = deps_.SortedPolicies();
  const auto governing = deps_.Governing(policies, *node);

  // 1. Taints of policies that do not govern this node (any more) go away.
  //    Each policy's key is recognised by IsOwnTaint; a key shared by the
  //    governing policy is handled by step 2 instead.
  for (const auto& p : policies) {
    if (p == governing) continue;
    const std::string& key = p->policy.spec.pod_density.taint.key;
    if (governing && governing->policy.spec.pod_density.enabled &&
        governing->policy.spec.pod_density.taint.key == key) {
      continue;
    }
    bool present = false;
    for (const auto& t : node->taints) present = present || density::IsOwnTaint(t, key);
    Report(p->meta.name, node_name, std::nullopt, false);
    if (!present) continue;
    if (p->policy.spec.dry_run || deps_.options->dry_run) continue;
    auto patch = density::BuildTaintPatch(*node, key, std::nullopt);
    if (!patch.ok()) return patch.error();
    if (!*patch) continue;
    if (Status fenced = deps_.fence(); !fenced.ok()) return fenced.error();
    auto written = deps_.rest->Patch(kube::CoreResource("nodes"), node_name, kube::PatchType::kJson,
                                     (*patch)->dump());
    if (!written.ok()) {
      // A failed `test` (someone changed the taints) is 422: re-read and decide again.
      if (written.error().http_status == 422) {
        Error e = Error::Of(ErrorKind::kConflict, written.error().message);
        return e;
      }
      return written.error();
    }
    taint_changes_.WithLabels({density::TaintActionName(density::TaintAction::kRemove)}).Inc();
    Log().Info("removed density taint of a policy that no longer governs the node",
               {{"node", node_name}, {"policy", p->meta.name}, {"taint", key}});
    deps_.events->Record(
        NodeRef(*node), kube::EventType::kNormal, std::string(density::kCapReleasedReason),
        "Policy " + p->meta.name + " no longer governs this node: removed its taint " + key);
    return ReconcileResult{};  // The node changed; its update event brings us back.
  }

  if (!governing) {
    pods_gauge_.Remove({node_name});
    cap_gauge_.Remove({node_name});
    return ReconcileResult{};
  }

  // 2. The governing policy's own decision.
  const PolicyObject& policy = *governing;
  const api::PodDensitySpec& spec = policy.policy.spec.pod_density;
  const bool dry_run = policy.policy.spec.dry_run || deps_.options->dry_run;
  density::DensityInputs in;
  in.node = node_name;
  in.policy = policy.meta.name;
  in.dry_run = dry_run;
  if (!policy.valid()) {
    in.governance = density::Governance::kHold;  // Reported by PolicyReconciler; never acted on.
  } else if (!spec.enabled) {
    in.governance = density::Governance::kReleaseDisabled;
  } else if (policy.policy.spec.paused) {
    in.governance = density::Governance::kHold;
  } else {
    in.governance = density::Governance::kEnforce;
  }
  in.cap = density::ComputeCap(spec, *node);
  in.pods = density::CountPods(kube::Symbol::Intern(node_name),
                               deps_.pods->ByIndex(kube::kIndexNodeName, node_name), spec);
  const kube::Taint desired = density::DesiredTaint(spec, policy.meta.name);
  if (dry_run) {
    std::lock_guard lock(mu_);
    const bool simulated = simulated_taints_.count(policy.meta.name + "/" + node_name) > 0;
    in.taint = {simulated, simulated};
  } else {
    in.taint = density::InspectOwnTaint(node->taints, desired);
  }
  const density::DensityDecision decision = density::DecideTaint(in, desired);

  if (decision.metrics.cap) {
    pods_gauge_.WithLabels({node_name}).Set(static_cast<double>(decision.metrics.pods));
    cap_gauge_.WithLabels({node_name}).Set(static_cast<double>(*decision.metrics.cap));
  } else {
    pods_gauge_.WithLabels({node_name}).Set(static_cast<double>(decision.metrics.pods));
    cap_gauge_.Remove({node_name});
  }

  if (decision.execute) {
    std::optional<kube::Taint> want;
    if (decision.capped) {
      want = desired;
      want->time_added = deps_.clock->Now();
    }
    auto patch = density::BuildTaintPatch(*node, spec.taint.key, want);
    if (!patch.ok()) return patch.error();
    if (*patch) {
      if (Status fenced = deps_.fence(); !fenced.ok()) return fenced.error();
      auto written = deps_.rest->Patch(kube::CoreResource("nodes"), node_name,
                                       kube::PatchType::kJson, (*patch)->dump());
      if (!written.ok()) {
        if (written.error().http_status == 422) {
          return Error::Of(ErrorKind::kConflict, written.error().message);
        }
        return written.error();
      }
      taint_changes_.WithLabels({density::TaintActionName(decision.action)}).Inc();
    }
  }
  if (decision.action != density::TaintAction::kNone) {
    Log().Info(decision.explanation, {{"node", node_name},
                                      {"policy", policy.meta.name},
                                      {"action", density::TaintActionName(decision.action)},
                                      {"dryRun", dry_run}});
  }
  if (decision.event) {
    deps_.events->Record(
        NodeRef(*node),
        decision.event->type == "Warning" ? kube::EventType::kWarning : kube::EventType::kNormal,
        decision.event->reason, decision.event->message);
  }
  Report(policy.meta.name, node_name, decision.status_entry, dry_run);
  return ReconcileResult{};
}

}  // namespace nodeguard::runtime
