#pragma once

// DecideTaint: from a node's cap, its pod count and the taint on it, what
// nodeguard does about its density taint, and what it reports (Event, status
// entry, metrics). Pure: the runtime executes the decision with the patch from
// BuildTaintPatch (taint_patch.h) and re-decides after a conflict.

#include <cstdint>
#include <optional>
#include <string>

#include "api/types.h"
#include "density/cap.h"
#include "density/taint_patch.h"

namespace nodeguard::density {

inline constexpr std::string_view kCapReachedReason = "PodDensityCapReached";
inline constexpr std::string_view kCapReleasedReason = "PodDensityCapReleased";

// Whether the policy governs the node's density now.
enum class Governance : uint8_t {
  kEnforce,            // Selected, podDensity enabled, not paused: taint and release by count.
  kHold,               // Paused: leave the taint as it is, add none, remove none.
  kReleaseDeleted,     // The policy is being deleted: remove the taint.
  kReleaseUnselected,  // The policy no longer selects the node (or another governs it).
  kReleaseDisabled,    // podDensity was disabled or removed from the policy.
  kReleasePaused,      // Paused with release requested.
};

enum class TaintAction : uint8_t {
  kNone,
  kAdd,     // Add the taint.
  kRemove,  // Remove every taint with the own key.
  kUpdate,  // Stay capped, but rewrite the own taint (its value or effect changed in the policy).
};
const char* TaintActionName(TaintAction a);

// Why the decision is what it is (for logs and tests).
enum class DecisionReason : uint8_t {
  kCapReached,        // count >= taint_at: tainted (or stays tainted).
  kBelowTaintMark,    // Not tainted and count < taint_at.
  kWithinHysteresis,  // Tainted and release_below <= count < taint_at: the taint stays.
  kBelowReleaseMark,  // Tainted and count < release_below.
  kNoCap,             // No cap applies to the node (ComputeCap gave nullopt).
  kReleasedByPolicy,  // A kRelease* governance.
  kHeld,              // Governance kHold.
};
const char* DecisionReasonName(DecisionReason r);

struct DensityInputs {
  std::string node;
  std::string policy;
  Governance governance = Governance::kEnforce;
  bool dry_run = false;
  std::optional<DensityCap> cap;  // ComputeCap(spec, node).
  int64_t pods = 0;               // CountPods(...).
  // The own taint as it is on the node, from InspectOwnTaint(node.taints,
  // DesiredTaint(...)). In dryRun nothing is written, so the caller passes
  // instead the state its previous dry-run decision for the node left
  // (present = that decision's `capped`, matches_desired = present), so the
  // report plays out the same hysteresis a real run would.
  OwnTaintState taint;
};

struct EventText {
  std::string type;  // "Warning" or "Normal".
  std::string reason;
  std::string message;
  friend bool operator==(const EventText&, const EventText&) = default;
};

// Per-node view for metrics: pods per node, cap per node, capped nodes.
struct NodeDensityMetrics {
  std::string node;
  int64_t pods = 0;
  std::optional<int64_t> cap;  // Unset: no cap applies.
  bool capped = false;
  friend bool operator==(const NodeDensityMetrics&, const NodeDensityMetrics&) = default;
};

struct DensityDecision {
  TaintAction action = TaintAction::kNone;
  DecisionReason reason = DecisionReason::kBelowTaintMark;
  // The node is capped once the action is done (in dryRun: would be). The
  // runtime lists capped nodes in status and, in dryRun, remembers this as the
  // node's simulated taint.
  bool capped = false;
  // Whether the runtime writes anything: false when action is kNone, and in
  // dryRun (the decision is reported, not executed).
  bool execute = false;
  // Set for kAdd and kRemove (the cap was reached or released); in dryRun the
  // message says what would have been done.
  std::optional<EventText> event;
  // Set while capped: the node's entry in status.densityCappedNodes.
  std::optional<api::DensityCappedNode> status_entry;
  NodeDensityMetrics metrics;
  // One line for the log: the numbers behind the decision.
  std::string explanation;
};

// The taint nodeguard puts on capped nodes: key and effect from the policy,
// value from the policy's taint.value, or the policy name when that is empty
// (so `kubectl describe node` tells which policy capped it).
kube::Taint DesiredTaint(const api::PodDensitySpec& spec, const std::string& policy_name);

// The decision table (count = in.pods, t = in.taint.present):
//   governance kRelease*          -> kRemove if t, else kNone
//   governance kHold              -> kNone (capped = t)
//   no cap                        -> kRemove if t, else kNone
//   !t and count >= taint_at      -> kAdd
//   !t and count <  taint_at      -> kNone
//   t  and count <  release_below -> kRemove
//   t  otherwise                  -> kNone, or kUpdate if !in.taint.matches_desired
// `desired` is only used in messages.
DensityDecision DecideTaint(const DensityInputs& in, const kube::Taint& desired);

}  // namespace nodeguard::density
