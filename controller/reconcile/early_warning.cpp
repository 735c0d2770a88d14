#include "reconcile/early_warning.h"

#include <nlohmann/json.hpp>

#include "common/time.h"
#include "early/thresholds_annotation.h"

namespace nodeguard::runtime {

api::EarlyWarningCounts CountEarlyWarning(std::span<const kube::Node* const> nodes) {
  api::EarlyWarningCounts c;
  for (const kube::Node* n : nodes) {
    switch (n->early_warning.level) {
      case kube::EarlyWarningLevel::kAbsent:
        break;
      case kube::EarlyWarningLevel::kHealthy:
        ++c.healthy;
        break;
      case kube::EarlyWarningLevel::kDegraded:
        ++c.degraded;
        break;
      case kube::EarlyWarningLevel::kCritical:
        ++c.critical;
        break;
      case kube::EarlyWarningLevel::kUnknown:
        ++c.unknown;
        break;
    }
  }
  return c;
}

std::string AnnouncedValue(const kube::NodeEarlyWarning& ew) {
  return std::string(kube::EarlyWarningLevelName(ew.level)) + " " + FormatRfc3339(ew.since);
}

std::optional<std::string> DesiredThresholdsAnnotation(const api::NodeHealthPolicy* policy,
                                                       bool policy_valid) {
  if (policy == nullptr || !policy_valid || !policy->spec.early_warning.present) {
    return std::nullopt;
  }
  const api::EarlyWarningSpec& e = policy->spec.early_warning;
  early::PolicyThresholds t;
  t.policy = policy->meta.name;
  t.thresholds.degraded_relist_p99 = e.degraded_relist_p99;
  t.thresholds.calm_relist_p99 = e.calm_relist_p99;
  t.thresholds.critical_last_seen = e.critical_last_relist_age;
  t.thresholds.calm_last_seen = e.calm_last_relist_age;
  t.thresholds.hold = e.hold;
  return early::EncodeThresholds(t);
}

std::optional<std::string> ThresholdsPatch(const kube::Node& node,
                                           const std::optional<std::string>& desired) {
  const std::string* current = node.Annotation(early::kThresholdsAnnotation);
  if (current == nullptr && !desired) return std::nullopt;
  if (current != nullptr && desired && *current == *desired) return std::nullopt;
  nlohmann::json value = desired ? nlohmann::json(*desired) : nlohmann::json(nullptr);
  nlohmann::json patch = {
      {"metadata", {{"annotations", {{early::kThresholdsAnnotation, std::move(value)}}}}}};
  return patch.dump();
}

std::string AdaptiveCapNote(const std::optional<density::DensityCap>& cap,
                            const std::string& policy) {
  if (!cap) return {};
  switch (cap->adaptation) {
    case density::CapAdaptation::kLowered:
      return "; its pod-density cap is lowered from " + std::to_string(cap->policy_cap) + " to " +
             std::to_string(cap->cap) + " (policy " + policy + ", spec.earlyWarning.adaptiveCap)";
    case density::CapAdaptation::kNone:
      return "; its pod-density cap is " + std::to_string(cap->cap) + " again (policy " + policy +
             ")";
    case density::CapAdaptation::kUnknown:
      break;
  }
  return {};
}

std::optional<EarlyWarningAnnouncement> AnnounceEarlyWarning(const kube::Node& node,
                                                             std::string_view cap_note) {
  const kube::NodeEarlyWarning& ew = node.early_warning;
  if (ew.level == kube::EarlyWarningLevel::kAbsent ||
      ew.level == kube::EarlyWarningLevel::kUnknown) {
    return std::nullopt;
  }
  const std::string value = AnnouncedValue(ew);
  const std::string* recorded = node.Annotation(kEarlyWarningAnnouncedAnnotation);
  std::string_view was = "Healthy";
  if (recorded != nullptr) {
    if (*recorded == value) return std::nullopt;
    const std::string_view r = *recorded;
    was = r.substr(0, r.find(' '));
  }
  const std::string_view level = kube::EarlyWarningLevelName(ew.level);
  // No record and Healthy: nothing happened worth an Event (a new node, or
  // one that never left Healthy). The same level with a new `since` (the
  // agent saw it leave and come back between two reads): announced again.
  if (recorded == nullptr && ew.level == kube::EarlyWarningLevel::kHealthy) return std::nullopt;
  EarlyWarningAnnouncement a;
  a.warning = ew.level != kube::EarlyWarningLevel::kHealthy;
  a.reason = "EarlyWarning" + std::string(level);
  a.message = "early-warning level " + std::string(level) + " (was " + std::string(was) +
              ") since " + FormatRfc3339(ew.since) +
              ", as published by the node's agent in nodeguard.io/early-warning";
  a.message += cap_note;
  a.annotation = value;
  return a;
}

}  // namespace nodeguard::runtime
