#include "runtime/early_warning.h"

#include "common/time.h"

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

std::optional<EarlyWarningAnnouncement> AnnounceEarlyWarning(const kube::Node& node) {
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
  a.annotation = value;
  return a;
}

}  // namespace nodeguard::runtime
