#pragma once

// The per-node remediation state, persisted in the Node annotation
// nodeguard.io/remediation. It is the only memory of a remediation: the
// budget is counted from it, and a restarted controller or a new leader
// resumes from it. Example:
//
//   {"id":"worker-3-1795789899","policy":"incident","phase":"ActionRequested",
//    "action":"Reboot","actionIndex":1,"attempt":1,
//    "detectedAt":"2026-11-27T14:31:39Z","startedAt":"2026-11-27T14:31:39Z",
//    "phaseSince":"2026-11-27T14:40:02Z","actionRequestedAt":"2026-11-27T14:40:02Z",
//    "cordonedByUs":true,"bootIdBefore":"6f1c...","requestId":"worker-3-1795789899-2",
//    "message":"requested Reboot (rung 2 of 2)"}
//
// Phases: Pending -> Cordoned -> Draining -> ActionRequested -> AwaitingRecovery
// -> Succeeded, with Failed and Cancelled as the other endings (see decide.h).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api/types.h"
#include "common/clock.h"
#include "common/result.h"

namespace nodeguard::remediation {

inline constexpr const char* kRemediationAnnotation = "nodeguard.io/remediation";

enum class Phase : uint8_t {
  kPending,           // Unhealthy and eligible; waiting for the budget, cooldown or a person.
  kCordoned,          // Cordoned (or a person's cordon taken over); drain not started.
  kDraining,          // Evicting pods as kubectl drain does.
  kActionRequested,   // A rung of the ladder was requested (agent or External).
  kAwaitingRecovery,  // The action is confirmed; waiting for Ready for recoveryStableFor.
  kSucceeded,         // Recovered and uncordoned (if nodeguard cordoned it).
  kFailed,            // Drain or every rung failed; left cordoned for a human.
  kCancelled,         // Stopped before any action (recovered, excluded, ...).
};
const char* PhaseName(Phase p);
std::optional<Phase> ParsePhase(std::string_view name);
bool IsTerminal(Phase p);
// Cordoned through AwaitingRecovery: the phases the maxConcurrent budget counts.
bool IsDisruptive(Phase p);

// Why a remediation ended.
enum class Outcome : uint8_t {
  kNone,                    // Not ended.
  kRecovered,               // Succeeded: healthy and Ready for recoveryStableFor after an action.
  kRecoveredWithoutAction,  // Cancelled: the node recovered before any action.
  kDrainFailed,             // Failed: an eviction was refused for good or a filter refused a pod.
  kDrainTimedOut,           // Failed: drain.timeout passed (e.g. a PDB never allowed an eviction).
  kActionsExhausted,        // Failed: the last rung did not bring the node back.
  kNotRecovered,            // Failed: drain-only policy and the node did not recover in time.
  kExcluded,                // Cancelled: the node got nodeguard.io/exclude=true.
  kDisabled,                // Cancelled: remediation was disabled in the policy.
  kNotSelected,             // Cancelled: the policy no longer selects the node.
  kUncordonedExternally,    // Cancelled: someone uncordoned the node mid-remediation.
  kPolicyDeleted,           // Cancelled: the policy was deleted and no other one governs the node.
};
const char* OutcomeName(Outcome o);
std::optional<Outcome> ParseOutcome(std::string_view name);

struct RemediationState {
  // "<node>-<detectedAt as Unix seconds>": unique per remediation of a node.
  std::string id;
  std::string policy;  // The NodeHealthPolicy that owns this remediation.
  Phase phase = Phase::kPending;
  // The current rung; unset before the first (and for drain-only policies).
  std::optional<api::RemediationAction> action;
  int32_t action_index = -1;  // Index of `action` in the policy's ladder; -1 before the first.
  // 1-based count of this node's remediations since it last stayed healthy
  // for a cooldown (compared with maxAttemptsPerNode).
  int32_t attempt = 1;
  WallTime detected_at{};  // When Pending was recorded.
  std::optional<WallTime>
      started_at;  // When nodeguard cordoned (or took over); unset while Pending.
  WallTime phase_since{};
  std::optional<WallTime> action_requested_at;  // Start of the current rung (actionTimeout).
  std::optional<WallTime> finished_at;          // Set in terminal phases.
  // finishedAt of the node's previous remediation that started (cordoned),
  // carried forward so a Pending that gets Cancelled does not erase the
  // cooldown and attempt history.
  std::optional<WallTime> previous_finished_at;
  // nodeguard set spec.unschedulable for this remediation and has not lifted
  // it. Cleared in the patch that uncordons, and when someone else is seen to
  // have uncordoned the node, so a later cordon by a person is never taken
  // for ours. In a finished phase with the node still unschedulable, the
  // cordon is ours to lift once the node is healthy (and holds a slot until
  // then, see decide.h).
  bool cordoned_by_us = false;
  // Failed: until when the node holds its remediation slot (unset: until a
  // person acts). Written when the remediation fails, from the policy's
  // holdSlotAfterFailure, so every policy counts it the same way.
  std::optional<WallTime> slot_held_until;
  // Pending: why the remediation waits (decide.h's HoldName), so the message
  // is rewritten when the reason changes, not on every step.
  std::string hold;
  std::string boot_id_before;  // status.nodeInfo.bootID when the current rung was requested.
  std::string request_id;      // Agent request id of the current rung ("<id>-<rung>").
  std::string message;
  Outcome outcome = Outcome::kNone;

  friend bool operator==(const RemediationState&, const RemediationState&) = default;
};

// Whether a remediation that ended this way counts towards maxAttemptsPerNode:
// one that started, unless it ended because the policy stepped back (not
// selected, excluded, disabled, deleted), which says nothing about the node.
bool CountsAsAttempt(const RemediationState& state);

// Compact JSON; times as second-precision RFC 3339 (sub-second parts are
// dropped, so callers should compare decoded states, not in-memory ones).
std::string EncodeState(const RemediationState& state);

// Strict: kInvalid for malformed JSON, a missing required field (id, policy,
// phase, attempt, detectedAt, phaseSince), a mistyped field, an unknown
// phase/action/outcome, or inconsistent fields (a terminal phase without
// finishedAt, a rung phase without action and requestId for agent actions,
// negative attempt). Unknown keys are ignored. Callers treat an Error as
// "not ours" and report it; they never act on a state they cannot read.
Result<RemediationState> DecodeState(std::string_view json);

// The policy status entry for this state (api::RemediationStatus).
api::RemediationStatus ToStatus(std::string_view node, const RemediationState& state);

}  // namespace nodeguard::remediation
