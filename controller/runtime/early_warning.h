#pragma once

// The controller's side of the early-warning level (issue 19, third
// milestone; docs/early-warning.md): the agent publishes each node's level in
// nodeguard.io/early-warning, the node informer decodes it into
// kube::Node::early_warning, and the policy reconciler counts governed nodes
// by level (status.earlyWarning, nodeguard_early_warning_nodes) and
// announces each change of a node's published level with one Event.
//
// Crash-only announcing: the level last announced is recorded on the Node
// itself, in nodeguard.io/early-warning-announced ("<level> <since>", e.g.
// "Degraded 2026-12-07T10:44:49Z"). A node whose published (level, since)
// differs from the record is announced: the Event is recorded, then the
// record is written (a merge patch). A restarted controller reads the record
// from its informer and announces nothing already announced. A node without
// a record counts as announced Healthy, so a fleet of Healthy nodes costs no
// Event and no write.

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "api/types.h"
#include "kube/objects.h"

namespace nodeguard::runtime {

inline constexpr const char* kEarlyWarningAnnouncedAnnotation =
    "nodeguard.io/early-warning-announced";

// Nodes by published level; nodes without the annotation are not counted.
api::EarlyWarningCounts CountEarlyWarning(std::span<const kube::Node* const> nodes);

// The value of nodeguard.io/early-warning-announced for a readable level.
std::string AnnouncedValue(const kube::NodeEarlyWarning& ew);

struct EarlyWarningAnnouncement {
  bool warning = false;    // Warning for Degraded/Critical, Normal for Healthy.
  std::string reason;      // EarlyWarningHealthy, EarlyWarningDegraded, EarlyWarningCritical.
  std::string message;     // "early-warning level Degraded (was Healthy) since ...".
  std::string annotation;  // The new value of nodeguard.io/early-warning-announced.
};

// What to announce for `node`, or nullopt: nothing published, an unreadable
// annotation (Unknown: logged, never announced), or already announced.
std::optional<EarlyWarningAnnouncement> AnnounceEarlyWarning(const kube::Node& node);

}  // namespace nodeguard::runtime
