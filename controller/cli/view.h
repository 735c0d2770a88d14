#pragma once

// The kubectl plugin's pure part (`kubectl nodeguard ...`, docs/kubectl-plugin.md):
// from the objects it read (policies, nodes, pods) to what it prints, and the
// decisions of its two writes (release, pause/resume). No I/O, no clock:
// `now` is passed in, so every output and every refusal is unit-tested
// (tests/unit/cli/). plugin.cpp does the reading, writing and printing.
//
// Everything is derived the way the controller derives it, from the same
// libraries: which policy governs a node (reconcile/resolver.h), its health
// under that policy's rules (health/evaluate.h), its pod count and cap
// (density/cap.h), the density taint nodeguard recorded
// (density/taint_record.h) and the remediation state annotation
// (remediation/state.h), so the plugin never tells a story of its own.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/types.h"
#include "common/clock.h"
#include "kube/objects.h"
#include "remediation/state.h"

namespace nodeguard::cli {

// Exit codes (docs/kubectl-plugin.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitApiError = 1;  // Configuration, transport or API server error.
inline constexpr int kExitUsage = 2;     // Bad arguments.
inline constexpr int kExitRefused = 3;   // Not found, or a write refused as unsafe.

// What the plugin read from the cluster.
struct Snapshot {
  std::vector<api::NodeHealthPolicy> policies;
  std::vector<kube::Node> nodes;
  // Pods bound to the nodes (Succeeded/Failed may be left out by the reader:
  // they never count toward a cap).
  std::vector<kube::Pod> pods;
  WallTime now{};
};

// One node as the plugin reports it.
struct NodeView {
  std::string name;
  std::string policy;     // The governing policy; else the policy named in the state; else "".
  bool governed = false;  // `policy` governs the node now.
  std::vector<std::string> conflicts;   // Other policies that select the node but do not govern it.
  std::string ready = "Unknown";        // The Ready condition's status: True, False, Unknown.
  std::optional<WallTime> ready_since;  // When Ready took its current status.
  std::string health =
      "Healthy";               // Under the governing policy's rules: Healthy, Pending, Unhealthy.
  std::string health_detail;   // health::NodeHealth::Describe when not Healthy.
  bool cordoned = false;       // spec.unschedulable.
  std::string cordoned_by;     // "nodeguard", "person" or "" (not cordoned).
  bool excluded = false;       // nodeguard.io/exclude=true.
  int64_t pods = 0;            // Pods counted as the governing policy counts them.
  std::optional<int64_t> cap;  // The density cap, when the policy sets one.
  std::optional<int64_t> taint_at;
  std::optional<int64_t> release_below;
  std::string cap_bound;  // density::CapBoundName of what set the cap.
  // The policy's cap when spec.earlyWarning.adaptiveCap lowered `cap` (unset otherwise).
  std::optional<int64_t> policy_cap;
  // The node's published early-warning level (kube::EarlyWarningLevelName), "" when absent.
  std::string early_warning;
  bool tainted = false;                                // nodeguard's density taint is on the node.
  std::string taint;                                   // "key=value:Effect" of that taint.
  std::string taint_policy;                            // The policy nodeguard recorded applying it.
  std::optional<WallTime> tainted_since;               // The taint's timeAdded, when set.
  std::optional<remediation::RemediationState> state;  // nodeguard.io/remediation.
  std::string state_error;                             // The annotation is there but unreadable.
  // True when the node is out of the ordinary: cordoned, tainted, not Ready,
  // unhealthy, excluded, with a remediation not finished or a Failed one
  // still holding nodeguard's cordon, or an unreadable state.
  bool notable = false;
};

struct PolicyView {
  std::string name;
  std::string ready = "Unknown";  // The Ready condition's status.
  std::string mode = "Active";    // Active, Paused, DryRun, Paused+DryRun.
  bool paused = false;
  bool dry_run = false;
  int32_t selected = 0;     // status.selectedNodes.
  int32_t tainted = 0;      // Governed nodes carrying this policy's density taint.
  int32_t remediating = 0;  // Governed nodes in Cordoned..AwaitingRecovery.
  int32_t failed = 0;  // Nodes whose Failed remediation of this policy keeps nodeguard's cordon.
  bool storm = false;  // StormDetected=True.
  std::string storm_message;
  std::string degraded_reason;  // Degraded=True: its reason and message.
  std::string degraded_message;
  std::string ready_message;  // Ready not True: why.
};

struct StatusView {
  std::vector<PolicyView> policies;  // By name.
  std::vector<NodeView> nodes;       // By name; filtered by BuildStatus's arguments.
  int32_t total_nodes = 0;           // Nodes read (before filtering).
  int32_t notable_nodes = 0;         // Of those, NodeView::notable.
};

// Every node of the snapshot as the plugin sees it, by name.
std::vector<NodeView> BuildNodeViews(const Snapshot& snapshot);

// `policy` empty: every policy and every notable node (every node with
// `all_nodes`). Otherwise only that policy and the nodes it selects (governs,
// conflicts, or owns a remediation of). REQUIRES: `policy` is empty or in the snapshot.
StatusView BuildStatus(const Snapshot& snapshot, const std::string& policy, bool all_nodes);

// The two tables and the warnings (storms, Degraded, Ready not True), as
// `kubectl get` prints tables: upper-case headers, columns padded by 3 spaces.
std::string FormatStatus(const StatusView& view, WallTime now);
// The documented JSON (docs/kubectl-plugin.md, "JSON").
nlohmann::json StatusJson(const StatusView& view);

// `explain NODE`: the node's situation in words, most important first.
struct Explanation {
  NodeView node;
  // failed, remediating, pending, cordoned-by-nodeguard, cordoned-by-person,
  // malformed-state, excluded, capped, not-selected, conflict, unhealthy, ok.
  std::string verdict;
  std::vector<std::string> reasons;  // Sentences, most important first.
  std::string next_step;             // What a person can do; empty when nothing is needed.
};
// REQUIRES: `node` is in the snapshot.
Explanation Explain(const Snapshot& snapshot, const std::string& node);
std::string FormatExplanation(const Explanation& e, WallTime now);
nlohmann::json ExplanationJson(const Explanation& e);

// `release NODE`: a person hands a node whose remediation failed back, as
// docs/pleg-runbook.md ("A failed remediation", step 3) says: uncordon it.
struct ReleaseDecision {
  enum Kind : uint8_t {
    kRelease,          // Send `patch` (JSON merge patch, resourceVersion as precondition).
    kAlreadyReleased,  // Nothing to do: nodeguard's cordon is no longer on the node.
    kRefuse,           // Not nodeguard's failed remediation, or unsafe: exit kExitRefused.
  } kind = kRefuse;
  std::string message;        // What to print.
  std::string patch;          // kRelease only.
  std::string event_message;  // kRelease only: the Event recorded on the node.
};
// `raw_state`: the node's nodeguard.io/remediation annotation, verbatim.
// Release only when the state is a Failed remediation whose cordon is
// nodeguard's (cordonedByUs, node unschedulable) and the node is Ready and
// healthy under `policy`'s rules (nullptr: Ready alone). The patch sets
// spec.unschedulable=false and, in the same write, the state's cordonedByUs
// to false (what the controller itself records when it sees a person's
// uncordon, so a cordon set after ours is never taken for ours), keeping
// every other field of the annotation as it is.
ReleaseDecision DecideRelease(const kube::Node& node, const std::string* raw_state,
                              const api::NodeHealthPolicy* policy, WallTime now);

// `pause POLICY` / `resume POLICY`.
struct PauseDecision {
  bool change = false;  // false: already so.
  std::string message;
  std::string patch;  // JSON merge patch of spec.paused, when change.
};
PauseDecision DecidePause(const api::NodeHealthPolicy& policy, bool pause);

// kubectl's short ages: "45s", "5m2s", "3h10m", "2d3h", "400d".
std::string HumanAge(Duration d);
// Columns padded to their widest cell plus 3 spaces (the last one not padded).
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

}  // namespace nodeguard::cli
