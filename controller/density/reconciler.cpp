#include "density/reconciler.h"

#include "density/cap.h"
#include "density/decide.h"
#include "density/overflow.h"
#include "density/taint_patch.h"
#include "early/thresholds_annotation.h"
#include "kube/store.h"
#include "observe/log.h"
#include "reconcile/early_warning.h"
#include "reconcile/notifications.h"
#include "remediation/drain_progress.h"
#include "remediation/drainer.h"

namespace nodeguard::runtime {
namespace {

observe::Logger Log() { return observe::Log().With({{"reconciler", "density"}}); }

// How long an evicted pod the cache does not show terminating yet is left
// out of the overflow count and choice.
constexpr Duration kEvictedMemory = std::chrono::minutes(2);

std::string PodName(const kube::Pod& pod) {
  return std::string(pod.meta.namespace_.view()) + "/" + pod.meta.name;
}

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
          "nodeguard_node_pod_cap",
          "Pod-density cap of the node under its policy (lowered by spec.earlyWarning.adaptiveCap "
          "while its early-warning level is Degraded or Critical).",
          {"node"})),
      capped_gauge_(deps_.metrics->MustGauge(
          "nodeguard_density_capped_nodes",
          "Nodes at their pod-density cap (tainted, or would be in dryRun), per policy.",
          {"policy"})),
      taint_changes_(deps_.metrics->MustCounter(
          "nodeguard_density_taint_changes_total",
          "Density taints added or removed on nodes, by action.", {"action"})),
      overflow_evictions_(deps_.metrics->MustCounter(
          "nodeguard_density_overflow_evictions_total",
          "Pods evicted from nodes above their pod-density cap (evictOverflow), per policy.",
          {"policy"})) {}

namespace {

bool EqualThresholdsAnnotation(const kube::Node& a, const kube::Node& b) {
  const std::string* x = a.Annotation(early::kThresholdsAnnotation);
  const std::string* y = b.Annotation(early::kThresholdsAnnotation);
  return x == nullptr ? y == nullptr : y != nullptr && *x == *y;
}

}  // namespace

void DensityReconciler::OnNode(const kube::Node* old_obj, const kube::Node* obj,
                               kube::WorkQueue& queue) {
  if (obj == nullptr) {
    ForgetNode(old_obj->meta.name);
    return;
  }
  auto record = [](const kube::Node* n) {
    const std::string* r = n->Annotation(density::kTaintRecordAnnotation);
    return r == nullptr ? std::string_view() : std::string_view(*r);
  };
  if (old_obj != nullptr && old_obj->labels == obj->labels && old_obj->taints == obj->taints &&
      old_obj->capacity.cpu_millis == obj->capacity.cpu_millis &&
      old_obj->allocatable.pods == obj->allocatable.pods && record(old_obj) == record(obj) &&
      old_obj->early_warning.level == obj->early_warning.level &&
      EqualThresholdsAnnotation(*old_obj, *obj)) {
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
  {
    std::lock_guard lock(mu_);
    evicted_.erase(node);
  }
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

namespace {

// The policies that may own an unrecorded taint on `node` (migration, see
// density/taint_record.h): those selecting it with podDensity enabled, live
// or being deleted, oldest first.
std::vector<density::LegacyCandidate> LegacyCandidates(const PolicyList& policies,
                                                       const kube::Node& node) {
  std::vector<density::LegacyCandidate> out;
  if (node.taints.empty() || node.Annotation(density::kTaintRecordAnnotation) != nullptr) {
    return out;  // Nothing to adopt, or the record decides.
  }
  for (const auto& p : policies) {
    const api::PodDensitySpec& spec = p->policy.spec.pod_density;
    if (!spec.enabled || !p->policy.spec.node_selector.Matches(node.labels)) continue;
    out.push_back({p->meta.name, density::DesiredTaint(spec, p->meta.name)});
  }
  return out;
}

density::OwnTaint OwnTaintOf(const kube::Node& node, const PolicyList& policies) {
  return density::FindOwnTaint(node, LegacyCandidates(policies, node));
}

std::shared_ptr<const PolicyObject> Find(const PolicyList& policies, const std::string& name) {
  for (const auto& p : policies) {
    if (p->meta.name == name) return p;
  }
  return nullptr;
}

}  // namespace

int DensityReconciler::NodesTaintedBy(const std::string& policy) const {
  const PolicyList policies = deps_.SortedPolicies();
  int n = 0;
  for (const auto& node : deps_.nodes->List()) {
    if (node->taints.empty()) continue;
    const density::OwnTaint own = OwnTaintOf(*node, policies);
    if (own.owner() != policy) continue;
    // A node another policy governs: that policy takes the taint over or
    // removes it; waiting for it could hold a deleted policy forever (the
    // governing one may be paused).
    if (deps_.Governing(policies, *node) != nullptr) continue;
    ++n;
  }
  return n;
}

Status DensityReconciler::Write(const kube::Node& node, const nlohmann::json& patch) {
  if (Status fenced = deps_.fence(); !fenced.ok()) return fenced.error();
  auto written = deps_.rest->Patch(kube::CoreResource("nodes"), node.meta.name,
                                   kube::PatchType::kJson, patch.dump());
  if (!written.ok()) {
    // A failed `test` (someone changed the node) is 422: re-read and decide again.
    if (written.error().http_status == 422) {
      return Error::Of(ErrorKind::kConflict, written.error().message);
    }
    return written.error();
  }
  return Status::Ok();
}

std::vector<const kube::Pod*> DensityReconciler::NotJustEvicted(
    const std::string& node, std::span<const kube::Pod* const> pods) {
  std::vector<const kube::Pod*> out;
  out.reserve(pods.size());
  std::lock_guard lock(mu_);
  auto it = evicted_.find(node);
  if (it == evicted_.end()) {
    out.assign(pods.begin(), pods.end());
    return out;
  }
  const WallTime now = deps_.clock->Now();
  std::map<std::string, WallTime> kept;
  for (const auto& p : pods) {
    const std::string uid = p->meta.uid.str();
    auto e = it->second.find(uid);
    if (e != it->second.end() && !p->Terminating() && now - e->second < kEvictedMemory) {
      kept.insert(*e);  // Evicted, but the cache does not show it terminating yet.
      continue;
    }
    out.push_back(p);
  }
  if (kept.empty()) {
    evicted_.erase(it);
  } else {
    it->second = std::move(kept);
  }
  return out;
}

Result<std::optional<Duration>> DensityReconciler::EvictOverflow(
    const kube::Node& node, density::DensityInputs in, int64_t overflow, bool evict,
    const api::PodDensitySpec& spec, std::vector<const kube::Pod*> candidates) {
  density::OverflowOutcome outcome;
  int64_t served = 0;  // Evicted, or gone already.
  bool retry = false;
  if (!evict) {
    for (const kube::Pod* p : candidates) {
      if (static_cast<int64_t>(outcome.evicted.size()) >= overflow) break;
      outcome.evicted.push_back(PodName(*p));
    }
  } else {
    if (Status fenced = deps_.fence(); !fenced.ok()) return fenced.error();
    RestDrainApi api(*deps_.rest, deps_.pods, deps_.nodes);
    // The cache decided; the API server's own list (a quorum read) confirms
    // before anything is evicted. A cache that has not yet seen some pods
    // leave the node (a rollout deleting them) would otherwise evict as many
    // too many; one that has not seen the latest binds evicts fewer now and
    // the rest once it has (never more than the decision's count).
    auto listed = api.ListPods(node.meta.name, api::LabelSelector{});
    if (!listed.ok()) return listed.error();
    std::vector<const kube::Pod*> pointers;
    pointers.reserve(listed->size());
    for (const kube::Pod& p : *listed) pointers.push_back(&p);
    const std::vector<const kube::Pod*> live = NotJustEvicted(node.meta.name, pointers);
    const int64_t cap = in.cap ? in.cap->cap : 0;
    const int64_t live_count =
        density::CountPodsNotTerminating(kube::Symbol::Intern(node.meta.name), live, spec);
    if (live_count - cap < overflow) {
      Log().Info("the API server lists fewer pods on the node than the cache: evicting fewer",
                 {{"node", node.meta.name},
                  {"policy", in.policy},
                  {"cache", in.pods_not_terminating},
                  {"listed", live_count},
                  {"cap", cap}});
      overflow = live_count - cap;
      if (overflow <= 0) return std::optional<Duration>();
    }
    in.pods_not_terminating = live_count;
    candidates = density::OverflowCandidates(live, spec);
    for (const kube::Pod* p : candidates) {
      if (served >= overflow) break;
      const std::string name = PodName(*p);
      const remediation::EvictionResult r = api.Evict(
          {std::string(p->meta.namespace_.view()), p->meta.name, p->meta.uid.str()}, std::nullopt);
      bool stop = false;
      switch (r.outcome) {
        case remediation::EvictionOutcome::kAccepted: {
          ++served;
          outcome.evicted.push_back(name);
          overflow_evictions_.WithLabels({in.policy}).Inc();
          std::lock_guard lock(mu_);
          evicted_[node.meta.name][p->meta.uid.str()] = deps_.clock->Now();
          break;
        }
        case remediation::EvictionOutcome::kNotFound:
          ++served;  // Gone already.
          break;
        case remediation::EvictionOutcome::kNamespaceTerminating:
          break;  // It goes anyway; not ours to count.
        case remediation::EvictionOutcome::kTooManyRequests:
          retry = true;
          if (r.pdb_name.empty()) {
            outcome.refused.push_back(name + " (throttled)");
            stop = true;  // The server throttles: not the moment for more.
          } else {
            outcome.refused.push_back(name + " (PodDisruptionBudget " + r.pdb_name + ")");
          }
          break;
        case remediation::EvictionOutcome::kRetryable:
        case remediation::EvictionOutcome::kFatal:
          // The same answer is likely for every pod (RBAC, the API server
          // down): stop the round rather than try every candidate.
          retry = true;
          outcome.failed.push_back(name + ": " + r.message);
          stop = true;
          break;
      }
      if (stop) break;
    }
  }

  outcome.movable = static_cast<int64_t>(candidates.size());
  const density::EventText event = density::OverflowEvent(in, overflow, outcome);
  Log().Warn(evict ? "evicted pods above the density cap"
                   : "dryRun: would evict pods above the density cap",
             {{"node", node.meta.name},
              {"policy", in.policy},
              {"pods", in.pods_not_terminating},
              {"cap", in.cap ? in.cap->cap : 0},
              {"overflow", overflow},
              {"evicted", static_cast<int64_t>(outcome.evicted.size())},
              {"refused", static_cast<int64_t>(outcome.refused.size())},
              {"failed", static_cast<int64_t>(outcome.failed.size())},
              {"movable", outcome.movable},
              {"dryRun", !evict},
              {"message", event.message}});
  deps_.events->Record(NodeRef(node), kube::EventType::kWarning, event.reason, event.message);
  if (retry && served < overflow) return std::optional<Duration>(remediation::kEvictionRetryDelay);
  return std::optional<Duration>();
}

Result<ReconcileResult> DensityReconciler::Release(const kube::Node& node,
                                                   const density::OwnTaint& own,
                                                   const PolicyList& policies) {
  if (!own.on_node() && !own.annotation_present) return ReconcileResult{};
  const std::string owner = own.record ? own.record->policy : std::string();
  const auto owner_policy = owner.empty() ? nullptr : Find(policies, owner);
  const bool owner_gone = owner_policy == nullptr || owner_policy->deleting();
  const bool dry_run =
      deps_.options->dry_run || (owner_policy != nullptr && owner_policy->policy.spec.dry_run);

  if (!own.on_node()) {
    // A record whose taint is gone (removed by hand) or that cannot be read:
    // drop it, so it names nothing that is not there.
    if (dry_run) return ReconcileResult{};
    auto patch = density::BuildTaintPatch(node, own, std::nullopt);
    if (!patch.ok()) return patch.error();
    if (*patch) {
      if (Status s = Write(node, **patch); !s.ok()) return s.error();
      Log().Info("dropped a density taint record without its taint",
                 {{"node", node.meta.name}, {"policy", owner}});
    }
    return ReconcileResult{};
  }
  // A live policy in dry run that no longer governs the node keeps its real
  // taint frozen, as it does on the nodes it governs (documented).
  if (dry_run && !owner_gone) return ReconcileResult{};

  density::DensityInputs in;
  in.node = node.meta.name;
  in.policy = owner;
  in.governance =
      owner_gone ? density::Governance::kReleaseDeleted : density::Governance::kReleaseUnselected;
  in.dry_run = dry_run;
  in.pods = density::CountPods(
      kube::Symbol::Intern(node.meta.name),
      deps_.pods->ByIndex(kube::kIndexNodeName, node.meta.name),
      owner_policy ? owner_policy->policy.spec.pod_density : api::PodDensitySpec{});
  in.taint.present = true;
  in.current = node.taints[*own.index];
  const density::DensityDecision decision = density::DecideTaint(in, own.record->taint);
  if (decision.execute) {
    auto patch = density::BuildTaintPatch(node, own, std::nullopt);
    if (!patch.ok()) return patch.error();
    if (*patch) {
      if (Status s = Write(node, **patch); !s.ok()) return s.error();
      taint_changes_.WithLabels({density::TaintActionName(density::TaintAction::kRemove)}).Inc();
    }
  }
  Log().Info(decision.explanation, {{"node", node.meta.name},
                                    {"policy", owner},
                                    {"taint", own.record->taint.key},
                                    {"action", density::TaintActionName(decision.action)},
                                    {"executed", decision.execute}});
  if (decision.event) {
    deps_.events->Record(NodeRef(node), kube::EventType::kNormal, decision.event->reason,
                         decision.event->message);
  }
  return ReconcileResult{};  // The node changed; its update event brings us back.
}

Result<ReconcileResult> DensityReconciler::Reconcile(const std::string& node_name) {
  auto node = deps_.nodes->Get("", node_name);
  if (!node) return ReconcileResult{};
  const PolicyList policies = deps_.SortedPolicies();
  const auto governing = deps_.Governing(policies, *node);
  const density::OwnTaint own = OwnTaintOf(*node, policies);
  if (!own.annotation_error.empty()) {
    Log().Warn("unreadable density taint record: nodeguard treats no taint on the node as its own",
               {{"node", node_name}, {"error", own.annotation_error}});
  }

  // Only the governing policy lists the node in its status.
  for (const auto& p : policies) {
    if (p != governing) Report(p->meta.name, node_name, std::nullopt, false);
  }

  // The early-warning marks the node's agent decides with (docs/early-warning.md,
  // "How the thresholds reach the agent"): written even while paused or in a
  // policy's dry run (they change what is reported, never a node); not under
  // the controller's --dry-run, which writes nothing to nodes.
  if (!deps_.options->dry_run) {
    const auto desired = DesiredThresholdsAnnotation(governing ? &governing->policy : nullptr,
                                                     governing && governing->valid());
    if (auto patch = ThresholdsPatch(*node, desired)) {
      if (Status fenced = deps_.fence(); !fenced.ok()) return fenced.error();
      auto written = deps_.rest->Patch(kube::CoreResource("nodes"), node_name,
                                       kube::PatchType::kMerge, *patch);
      if (!written.ok()) return written.error();
      Log().Info(
          desired ? "early-warning thresholds written for the node's agent"
                  : "early-warning thresholds removed: the agent's flags decide",
          {{"node", node_name}, {"policy", governing ? governing->meta.name : std::string()}});
    }
  }

  if (!governing) {
    pods_gauge_.Remove({node_name});
    cap_gauge_.Remove({node_name});
    return Release(*node, own, policies);
  }

  // The governing policy's decision about nodeguard's taint, whatever key it
  // carries now (a changed taint.key replaces it; another policy's recorded
  // taint is handed over or removed).
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
  // The adaptive cap: the node's published early-warning level lowers it (cap.h).
  in.cap = density::ComputeCap(spec, *node, density::AdaptiveCapOf(policy.policy.spec));
  const kube::Symbol node_symbol = kube::Symbol::Intern(node_name);
  const auto node_pods = deps_.pods->ByIndex(kube::kIndexNodeName, node_name);
  in.pods = density::CountPods(node_symbol, node_pods, spec);
  // Overflow eviction counts and chooses among pods not terminating, nor
  // evicted by nodeguard moments ago (the cache may not show it yet).
  std::vector<const kube::Pod*> cached;
  cached.reserve(node_pods.size());
  for (const auto& p : node_pods) cached.push_back(p.get());
  const std::vector<const kube::Pod*> live = NotJustEvicted(node_name, cached);
  in.pods_not_terminating = density::CountPodsNotTerminating(node_symbol, live, spec);
  in.evict_overflow = spec.evict_overflow;
  const kube::Taint desired = density::DesiredTaint(spec, policy.meta.name);
  in.taint = density::InspectOwnTaint(*node, own, desired, policy.meta.name);
  if (own.on_node()) in.current = node->taints[*own.index];
  if (dry_run) {
    // Nothing is written in dry run: play out the taint a real run would
    // have (the real ones stay as they are, see the header).
    std::lock_guard lock(mu_);
    const bool simulated = simulated_taints_.count(policy.meta.name + "/" + node_name) > 0;
    in.taint.present = simulated;
    in.taint.matches_desired = simulated;
    in.current = desired;
  }
  const density::DensityDecision decision = density::DecideTaint(in, desired);

  if (decision.metrics.cap) {
    pods_gauge_.WithLabels({node_name}).Set(static_cast<double>(decision.metrics.pods));
    cap_gauge_.WithLabels({node_name}).Set(static_cast<double>(*decision.metrics.cap));
  } else {
    pods_gauge_.WithLabels({node_name}).Set(static_cast<double>(decision.metrics.pods));
    cap_gauge_.Remove({node_name});
  }

  std::optional<nlohmann::json> patch;
  if (decision.execute) {
    std::optional<density::TaintRecord> want;
    if (decision.capped) want = density::TaintRecord{policy.meta.name, desired};
    auto built = density::BuildTaintPatch(*node, own, want, deps_.clock->Now());
    if (!built.ok()) return built.error();
    patch = std::move(built).value();
  } else if (!dry_run && in.governance != density::Governance::kHold && !own.on_node() &&
             own.annotation_present) {
    // A record whose taint is gone, or unreadable: drop it.
    auto built = density::BuildTaintPatch(*node, own, std::nullopt);
    if (!built.ok()) return built.error();
    patch = std::move(built).value();
  }
  if (patch) {
    if (Status s = Write(*node, *patch); !s.ok()) return s.error();
    if (decision.execute) {
      taint_changes_.WithLabels({density::TaintActionName(decision.action)}).Inc();
    }
    // The node just reached its cap (the taint written now, not one kept or
    // rewritten): people hear of it, aggregated per policy. Never in dry run
    // (nothing was written), only by the leader (only it reconciles).
    if (decision.execute && !dry_run && decision.action == density::TaintAction::kAdd &&
        decision.capped && deps_.density_notices != nullptr) {
      deps_.density_notices->CapReached(policy.meta.name, node_name);
    }
  }
  if (decision.action != density::TaintAction::kNone ||
      decision.reason == density::DecisionReason::kForeignTaint) {
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

  // After the taint: the node is tainted (it is above its mark), so the
  // evicted pods' replacements go elsewhere.
  ReconcileResult result;
  if (decision.overflow > 0) {
    auto requeue = EvictOverflow(*node, in, decision.overflow, decision.evict, spec,
                                 density::OverflowCandidates(live, spec));
    if (!requeue.ok()) return requeue.error();
    result.requeue_after = *requeue;
  }
  return result;
}

}  // namespace nodeguard::runtime
