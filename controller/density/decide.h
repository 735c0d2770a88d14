#pragma once

// DecideTaint: from a node's cap, its pod count and the taint on it, what
// nodeguard does about its density taint, and what it reports (Event, status
// entry, metrics); alongside, how many pods above the cap it evicts
// (spec.podDensity.evictOverflow, the second table below). Pure: the runtime executes the decision
// with the patch from BuildTaintPatch (taint_patch.h) and re-decides after a conflict.
//
// "The taint on it" is the one nodeguard recorded applying (taint_record.h),
// whatever its key: a taint nodeguard did not apply is never removed or
// rewritten, even when its key is the policy's.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/types.h"
#include "density/cap.h"
#include "density/taint_patch.h"

namespace nodeguard::density {

inline constexpr std::string_view kCapReachedReason = "PodDensityCapReached";
inline constexpr std::string_view kCapReleasedReason = "PodDensityCapReleased";
inline constexpr std::string_view kOverflowEvictedReason = "PodDensityOverflowEvicted";

// Whether the policy governs the node's density now.
enum class Governance : uint8_t {
  kEnforce,  // Selected, podDensity enabled, not paused: taint and release by count.
  kHold,     // Paused (or invalid): leave the taint as it is, add none, remove none.
  // The policy that applied the taint is being deleted or is gone, and no
  // other policy governs the node: remove the taint, even in dry run (undoing
  // nodeguard's own write lets the policy's finalizer go).
  kReleaseDeleted,
  kReleaseUnselected,  // The policy that applied it no longer governs the node.
  kReleaseDisabled,    // podDensity was disabled or removed from the policy.
  kReleasePaused,      // Paused with release requested.
};

enum class TaintAction : uint8_t {
  kNone,
  kAdd,     // Add the taint.
  kRemove,  // Remove nodeguard's recorded taint (and its record).
  // Stay capped, but rewrite nodeguard's taint and record: the policy's key,
  // value or effect changed, another policy's recorded taint is handed over,
  // or an unrecorded taint is adopted (migration).
  kUpdate,
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
  // The node is at its mark, but a taint nodeguard did not apply holds the
  // desired key and effect: nodeguard cannot add its own (nor keep a
  // rewritten one) and leaves that taint alone.
  kForeignTaint,
};
const char* DecisionReasonName(DecisionReason r);

struct DensityInputs {
  std::string node;
  std::string policy;
  Governance governance = Governance::kEnforce;
  bool dry_run = false;
  std::optional<DensityCap> cap;  // ComputeCap(spec, node).
  int64_t pods = 0;               // CountPods(...).
  // Of `pods`, those not terminating (CountPodsNotTerminating), also leaving
  // out pods nodeguard evicted moments ago that its cache does not show
  // terminating yet: what overflow eviction compares with the cap, so a pod
  // already on its way out is neither counted nor evicted twice.
  int64_t pods_not_terminating = 0;
  bool evict_overflow = false;  // spec.podDensity.evictOverflow.
  // nodeguard's taint as it is on the node, from InspectOwnTaint(node, own,
  // DesiredTaint(...), policy). In dryRun nothing is written, so the caller
  // passes instead the state its previous dry-run decision for the node left
  // (present = that decision's `capped`, matches_desired = present), so the
  // report plays out the same hysteresis a real run would
  // (foreign_holds_desired still from the node).
  OwnTaintState taint;
  // nodeguard's taint on the node when taint.present (named in messages: after
  // a key change it is not the desired one).
  kube::Taint current;
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
  // dryRun (the decision is reported, not executed), except a kRemove under
  // kReleaseDeleted.
  bool execute = false;
  // Set for kAdd and kRemove (the cap was reached or released); in dryRun the
  // message says what would have been done.
  std::optional<EventText> event;
  // Set while capped: the node's entry in status.densityCappedNodes.
  std::optional<api::DensityCappedNode> status_entry;
  NodeDensityMetrics metrics;
  // Overflow eviction: how many pods above the cap to evict (in dryRun:
  // would evict); 0 when none. The runtime chooses them (overflow.h).
  int64_t overflow = 0;
  // Whether the runtime evicts them: overflow > 0 and not dryRun.
  bool evict = false;
  // One line for the log: the numbers behind the decision.
  std::string explanation;
};

// The taint nodeguard puts on capped nodes: key and effect from the policy,
// value from the policy's taint.value, or the policy name when that is empty
// (so `kubectl describe node` tells which policy capped it).
kube::Taint DesiredTaint(const api::PodDensitySpec& spec, const std::string& policy_name);

// The decision table (count = in.pods, t = in.taint.present, m =
// in.taint.matches_desired, f = in.taint.foreign_holds_desired):
//   governance kRelease*               -> kRemove if t, else kNone
//                                         (kReleaseDeleted: executed even in dry run)
//   governance kHold                   -> kNone (capped = t)
//   no cap                             -> kRemove if t, else kNone
//   !t and count >= taint_at and f     -> kNone (kForeignTaint, not capped)
//   !t and count >= taint_at           -> kAdd
//   !t and count <  taint_at           -> kNone
//   t  and count <  release_below      -> kRemove
//   t  otherwise, m                    -> kNone (capped)
//   t  otherwise, !m and f             -> kRemove (kForeignTaint, not capped)
//   t  otherwise, !m                   -> kUpdate (capped)
// `desired` is only used in messages: the taint being added, or for a
// release the taint being removed.
//
// Overflow eviction, decided alongside (the taint decision above is
// unchanged: a node above its cap is above its mark and stays tainted, so the
// evicted pods' replacements go elsewhere); n = in.pods_not_terminating:
//   governance != kEnforce             -> overflow 0 (paused, held, released)
//   no cap                             -> overflow 0
//   !in.evict_overflow                 -> overflow 0
//   n <= cap                           -> overflow 0
//   n >  cap, dry run                  -> overflow n - cap, evict false (reported only)
//   n >  cap                           -> overflow n - cap, evict true
// The cap, not the taint mark: pods between the mark and the cap are what
// taintAhead allows for, not an overshoot. And the policy's cap
// (DensityCap::policy_cap), not one the adaptive cap lowered (cap.h, row A3):
// a node whose early-warning level lowered its cap takes no new pods, but
// none are evicted for it (evictions make a slow runtime stop containers:
// more work for it, not less); the taint rows above use the lowered cap.
DensityDecision DecideTaint(const DensityInputs& in, const kube::Taint& desired);

// What one round of overflow eviction did on a node, for its Event. Pods as
// "namespace/name", in the order they were tried (newest first).
struct OverflowOutcome {
  std::vector<std::string> evicted;  // Accepted (dryRun: the ones that would be evicted).
  std::vector<std::string> refused;  // 429: a PodDisruptionBudget (named) or throttling.
  std::vector<std::string> failed;   // Any other error.
  int64_t movable = 0;  // Pods on the node overflow eviction may choose (OverflowCandidates).
};

// The Warning Event `PodDensityOverflowEvicted` for a decision with
// overflow > 0: the count, the cap and the pods (at most ten named).
EventText OverflowEvent(const DensityInputs& in, int64_t overflow, const OverflowOutcome& outcome);

}  // namespace nodeguard::density
