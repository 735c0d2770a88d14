#include "policy/reconciler.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "api/field_error.h"
#include "observe/log.h"
#include "reconcile/conditions.h"
#include "reconcile/early_warning.h"
#include "reconcile/notifications.h"
#include "reconcile/resolver.h"

namespace nodeguard::runtime {
namespace {

const std::string* AnnouncedOf(const kube::Node& node) {
  static const std::string kNone;
  const std::string* a = node.Annotation(kEarlyWarningAnnouncedAnnotation);
  return a != nullptr ? a : &kNone;
}

bool NodeReady(const kube::Node& node) {
  const kube::NodeCondition* ready = node.FindCondition("Ready");
  return ready != nullptr && ready->status == kube::ConditionStatus::kTrue;
}

constexpr const char* kEarlyWarningLevels[] = {"healthy", "degraded", "critical", "unknown"};

}  // namespace

PolicyReconciler::PolicyReconciler(Deps deps,
                                   std::function<int(const PolicyObject&)> pending_cleanup)
    : deps_(std::move(deps)),
      pending_cleanup_(std::move(pending_cleanup)),
      selected_gauge_(deps_.metrics->MustGauge(
          "nodeguard_selected_nodes", "Nodes a policy selects (including conflicting ones).",
          {"policy"})),
      valid_gauge_(deps_.metrics->MustGauge(
          "nodeguard_policy_valid", "1 when the policy's spec is valid and enforced, else 0.",
          {"policy"})),
      early_warning_gauge_(deps_.metrics->MustGauge(
          "nodeguard_early_warning_nodes",
          "Governed nodes by the early-warning level their agent publishes "
          "(healthy, degraded, critical; unknown: unreadable annotation).",
          {"policy", "level"})) {}

void PolicyReconciler::OnNode(const kube::Node* old_obj, const kube::Node* obj,
                              kube::WorkQueue& queue) {
  if (obj != nullptr && obj->early_warning.level == kube::EarlyWarningLevel::kUnknown &&
      (old_obj == nullptr || old_obj->early_warning.level != kube::EarlyWarningLevel::kUnknown)) {
    // Logged once per node when it turns unreadable, not on every reconcile.
    const std::string* value = obj->Annotation("nodeguard.io/early-warning");
    observe::Log().Warn(
        "unreadable nodeguard.io/early-warning annotation: counted as unknown, not announced",
        {{"node", obj->meta.name}, {"value", value ? value->substr(0, 200) : std::string()}});
  }
  if (old_obj != nullptr && obj != nullptr && old_obj->labels == obj->labels &&
      NodeReady(*old_obj) == NodeReady(*obj) && old_obj->early_warning == obj->early_warning &&
      *AnnouncedOf(*old_obj) == *AnnouncedOf(*obj)) {
    return;
  }
  EnqueueAll(queue);
}

void PolicyReconciler::OnPolicy(const PolicyObject* old_obj, const PolicyObject* obj,
                                kube::WorkQueue& queue) {
  // A new policy, or a deleted one, changes which policy governs which node.
  if (old_obj == nullptr || obj == nullptr) {
    EnqueueAll(queue);
    if (obj == nullptr) queue.Add(old_obj->meta.name);
    return;
  }
  queue.Add(obj->meta.name);
}

void PolicyReconciler::EnqueueAll(kube::WorkQueue& queue) {
  for (const auto& p : deps_.policies->List()) queue.Add(p->meta.name);
}

Status PolicyReconciler::PatchFinalizers(const PolicyObject& policy,
                                         const std::vector<std::string>& finalizers) {
  if (Status fenced = deps_.fence(); !fenced.ok()) return fenced;
  // A merge patch carrying resourceVersion is conflict-safe: a concurrent
  // change to the policy fails it with 409 and the reconcile runs again.
  nlohmann::json patch = {
      {"metadata",
       {{"finalizers", finalizers}, {"resourceVersion", policy.meta.resource_version}}}};
  auto written = deps_.rest->Patch(kube::GroupResource(api::kGroup, api::kVersion, api::kPlural),
                                   policy.meta.name, kube::PatchType::kMerge, patch.dump());
  if (!written.ok()) return written.error();
  return Status::Ok();
}

Result<ReconcileResult> PolicyReconciler::Reconcile(const std::string& policy_name) {
  auto policy = deps_.policies->Get("", policy_name);
  if (!policy) {
    deps_.status->Forget(policy_name);
    selected_gauge_.Remove({policy_name});
    valid_gauge_.Remove({policy_name});
    for (const char* level : kEarlyWarningLevels) early_warning_gauge_.Remove({policy_name, level});
    return ReconcileResult{};
  }
  deps_.status->Observe(policy->policy);

  if (policy->deleting()) {
    if (!policy->has_cleanup_finalizer()) return ReconcileResult{};
    const int remaining = pending_cleanup_(*policy);
    if (remaining > 0) {
      observe::Log().Info(
          "policy deleted; waiting for its taints to be removed and its remediations to finish",
          {{"policy", policy_name}, {"nodes", remaining}});
      ReconcileResult again;
      again.requeue_after = std::chrono::seconds(2);
      return again;
    }
    std::vector<std::string> rest;
    for (const auto& f : policy->finalizers)
      if (f != kCleanupFinalizer) rest.push_back(f);
    if (Status s = PatchFinalizers(*policy, rest); !s.ok()) return s.error();
    observe::Log().Info("policy cleanup finished; finalizer released", {{"policy", policy_name}});
    return ReconcileResult{};
  }
  if (!policy->has_cleanup_finalizer()) {
    std::vector<std::string> with = policy->finalizers;
    with.push_back(kCleanupFinalizer);
    if (Status s = PatchFinalizers(*policy, with); !s.ok()) return s.error();
  }

  // Which nodes this policy selects, governs, or loses to an older policy.
  const PolicyList sorted = deps_.SortedPolicies();
  std::vector<const api::NodeHealthPolicy*> all;
  for (const auto& p : sorted) all.push_back(&p->policy);
  const auto nodes = deps_.nodes->List();
  std::vector<const kube::Node*> node_ptrs;
  for (const auto& n : nodes) node_ptrs.push_back(n.get());
  const Resolution resolution = ResolvePolicies(all, node_ptrs);
  const PolicyNodes& mine = resolution.by_policy.at(policy_name);
  int32_t ready = 0;
  std::vector<std::shared_ptr<const kube::Node>> governed;
  governed.reserve(mine.governed.size());
  std::vector<const kube::Node*> governed_ptrs;
  governed_ptrs.reserve(mine.governed.size());
  for (const auto& name : mine.governed) {
    auto node = deps_.nodes->Get("", name);
    if (!node) continue;
    if (NodeReady(*node)) ++ready;
    governed_ptrs.push_back(node.get());
    governed.push_back(std::move(node));
  }
  selected_gauge_.WithLabels({policy_name}).Set(mine.selected);
  valid_gauge_.WithLabels({policy_name}).Set(policy->valid() ? 1 : 0);
  const api::EarlyWarningCounts early = CountEarlyWarning(governed_ptrs);
  early_warning_gauge_.WithLabels({policy_name, "healthy"}).Set(early.healthy);
  early_warning_gauge_.WithLabels({policy_name, "degraded"}).Set(early.degraded);
  early_warning_gauge_.WithLabels({policy_name, "critical"}).Set(early.critical);
  early_warning_gauge_.WithLabels({policy_name, "unknown"}).Set(early.unknown);
  std::optional<Error> announce_error;
  const api::NodeHealthPolicySpec& policy_spec = policy->policy.spec;
  const auto adaptive = density::AdaptiveCapOf(policy_spec);
  for (const kube::Node* node : governed_ptrs) {
    std::string cap_note;
    if (adaptive && policy->valid() && policy_spec.pod_density.enabled) {
      cap_note = AdaptiveCapNote(density::ComputeCap(policy_spec.pod_density, *node, adaptive),
                                 policy_name);
    }
    if (Status s = Announce(*node, cap_note, policy_name); !s.ok() && !announce_error) {
      announce_error = s.error();
    }
  }

  const api::NodeHealthPolicySpec& spec = policy->policy.spec;
  const int64_t generation = policy->meta.generation;
  const kube::Time now = deps_.clock->Now();
  const bool dry_run = spec.dry_run || deps_.options->dry_run;
  deps_.status->Update(policy_name, [&](api::NodeHealthPolicyStatus& s) {
    s.observed_generation = generation;
    s.selected_nodes = static_cast<int32_t>(mine.governed.size());
    s.ready_nodes = ready;
    s.early_warning = early;
    s.conflicts = mine.conflicts;
    if (s.conflicts.size() > api::kMaxStatusNodes) s.conflicts.resize(api::kMaxStatusNodes);
    if (!policy->valid()) {
      SetCondition(
          s.conditions,
          MakeCondition(api::kConditionReady, false, "InvalidSpec",
                        "Not enforced: " + api::JoinFieldErrors(policy->errors), generation),
          now);
    } else {
      std::string message = "Governing " + std::to_string(mine.governed.size()) + " node(s)";
      if (!mine.conflicts.empty()) {
        message += "; " + std::to_string(mine.conflicts.size()) +
                   " more selected but governed by an older policy";
      }
      SetCondition(s.conditions,
                   MakeCondition(api::kConditionReady, true, dry_run ? "DryRun" : "Enforcing",
                                 message, generation),
                   now);
    }
    SetCondition(
        s.conditions,
        MakeCondition(
            api::kConditionPaused, spec.paused, spec.paused ? "PausedBySpec" : "NotPaused",
            spec.paused ? "spec.paused is true: observing and reporting only" : "", generation),
        now);
    if (deps_.notify_health != nullptr) {
      SetCondition(s.conditions, NotificationsCondition(deps_.notify_health->Failing(), generation),
                   now);
    }
  });
  ReconcileResult result;
  if (announce_error) {
    // The Events already recorded stay recorded; the nodes whose record
    // could not be written are announced again at the retry (docs/early-warning.md).
    result.partial_error = announce_error;
    result.requeue_after = std::chrono::seconds(5);
  }
  return result;
}

Status PolicyReconciler::Announce(const kube::Node& node, std::string_view cap_note,
                                  const std::string& policy) {
  std::optional<EarlyWarningAnnouncement> a = AnnounceEarlyWarning(node, cap_note);
  {
    // Written, but the node cache may not show it yet (a reconcile triggered
    // by something else can come first): not announced twice meanwhile.
    std::lock_guard lock(announced_mu_);
    auto it = announced_.find(node.meta.name);
    if (!a) {
      if (it != announced_.end()) announced_.erase(it);
      return Status::Ok();
    }
    if (it != announced_.end() && it->second == a->annotation) return Status::Ok();
  }
  if (Status fenced = deps_.fence(); !fenced.ok()) return fenced;
  // The record first, then the Event: a crash or a failed Event between the
  // two loses that Event, and a record that cannot be written records no
  // Event, so no restart or retry ever repeats one.
  nlohmann::json patch = {
      {"metadata", {{"annotations", {{kEarlyWarningAnnouncedAnnotation, a->annotation}}}}}};
  auto written = deps_.rest->Patch(kube::CoreResource("nodes"), node.meta.name,
                                   kube::PatchType::kMerge, patch.dump());
  if (!written.ok()) return written.error();
  {
    std::lock_guard lock(announced_mu_);
    announced_[node.meta.name] = a->annotation;
  }
  deps_.events->Record(NodeRef(node),
                       a->warning ? kube::EventType::kWarning : kube::EventType::kNormal, a->reason,
                       a->message);
  // The notification goes with the Event, once per change as the Event does
  // (observations, so sent in dry run too: they ask a person to look).
  if (deps_.notifier != nullptr) {
    if (auto fact = EarlyWarningFact(deps_.notify_cluster, policy, node, *a, deps_.clock->Now())) {
      deps_.notifier->Notify(*fact);
    }
  }
  observe::Log().Info("early-warning level announced",
                      {{"node", node.meta.name}, {"reason", a->reason}, {"message", a->message}});
  return Status::Ok();
}

}  // namespace nodeguard::runtime
