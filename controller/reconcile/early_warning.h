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
#include "density/cap.h"
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
// `cap_note` (AdaptiveCapNote) is appended to the message.
std::optional<EarlyWarningAnnouncement> AnnounceEarlyWarning(const kube::Node& node,
                                                             std::string_view cap_note = {});

// What the adaptive cap (spec.earlyWarning.adaptiveCap) does to the node's
// pod-density cap at its published level, for the level's Event: "; its
// pod-density cap is lowered from 70 to 56 (policy P,
// spec.earlyWarning.adaptiveCap)" while lowered, "; its pod-density cap is 70
// again (policy P)" when not; empty when the policy adapts no cap (`cap` is
// ComputeCap with the policy's adaptive cap, or nullopt without podDensity
// or adaptiveCap) or the level is Unknown (never announced).
// The value nodeguard.io/early-warning-thresholds (early/thresholds_annotation.h)
// should have on a node that `policy` governs (nullptr: none does), or
// nullopt when it should be absent (no governing policy, an invalid one, or
// one without spec.earlyWarning: the agent's flags decide).
std::optional<std::string> DesiredThresholdsAnnotation(const api::NodeHealthPolicy* policy,
                                                       bool policy_valid);

// The merge patch that brings the node's thresholds annotation to `desired`,
// or nullopt when it already is (a node nobody governs loses it).
std::optional<std::string> ThresholdsPatch(const kube::Node& node,
                                           const std::optional<std::string>& desired);

std::string AdaptiveCapNote(const std::optional<density::DensityCap>& cap,
                            const std::string& policy);

}  // namespace nodeguard::runtime
