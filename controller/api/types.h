#pragma once

// The NodeHealthPolicy API (nodeguard.io/v1alpha1, cluster-scoped, short name
// nhp) as plain C++ value types. The CRD in crds/nodeguard.io_nodehealthpolicies.yaml
// and docs/api.md are the user-facing contract; these types mirror them field
// for field (JSON names are the camelCase of the C++ names).
//
// Defaults: a default-constructed NodeHealthPolicySpec equals what the API
// server stores for `spec: {}`, and every member initialiser below is the
// CRD's default for that field. One deliberate asymmetry: the feature blocks
// podDensity, remediation and resourceHygiene are off when absent from the
// document (so `enabled` is false here), and `enabled` defaults to true once
// the block is written. api/decode.h applies exactly these rules.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/duration.h"
#include "common/int_or_percent.h"
#include "kube/objects.h"

namespace nodeguard::api {

inline constexpr const char* kGroup = "nodeguard.io";
inline constexpr const char* kVersion = "v1alpha1";
inline constexpr const char* kApiVersion = "nodeguard.io/v1alpha1";
inline constexpr const char* kKind = "NodeHealthPolicy";
inline constexpr const char* kPlural = "nodehealthpolicies";

// ================================================================ spec

// metav1.LabelSelectorRequirement.
enum class SelectorOperator : uint8_t { kIn, kNotIn, kExists, kDoesNotExist };
const char* SelectorOperatorName(SelectorOperator op);

struct LabelSelectorRequirement {
  std::string key;
  SelectorOperator op = SelectorOperator::kIn;
  std::vector<std::string> values;  // Non-empty for In/NotIn, empty for Exists/DoesNotExist.
  friend bool operator==(const LabelSelectorRequirement&,
                         const LabelSelectorRequirement&) = default;
};

// metav1.LabelSelector: all terms are ANDed; an empty selector matches
// everything (as a Deployment's or a PDB's selector does, unlike a nil one).
struct LabelSelector {
  std::map<std::string, std::string> match_labels;
  std::vector<LabelSelectorRequirement> match_expressions;

  bool Empty() const { return match_labels.empty() && match_expressions.empty(); }
  // Kubernetes semantics: NotIn and DoesNotExist match objects lacking the key.
  bool Matches(const kube::Labels& labels) const;
  friend bool operator==(const LabelSelector&, const LabelSelector&) = default;
};

// The taint nodeguard puts on a node whose pod count reached its cap.
// NoExecute is never accepted: it would evict the pods already running.
struct TaintSpec {
  std::string key = "nodeguard.io/pod-density-exceeded";
  std::string value;  // Optional.
  kube::TaintEffect effect = kube::TaintEffect::kNoSchedule;
  friend bool operator==(const TaintSpec&, const TaintSpec&) = default;
};

// spec.podDensity: cap the number of pods per node with a taint.
//
// Cap of a node = min(max_pods, max_pods_per_core x CPU capacity in whole
// cores (rounded down, at least 1), node's allocatable pods); the node is
// tainted when its counted pods reach cap - taint_ahead, and the taint is
// removed when they fall below release_below (percent of the cap rounded down).
struct PodDensitySpec {
  bool enabled = false;             // See the file comment: true once the block is written.
  std::optional<int32_t> max_pods;  // 1..1000.
  std::optional<int32_t> max_pods_per_core;                // 1..1000.
  IntOrPercent release_below = IntOrPercent::Percent(90);  // < cap; percent < 100.
  TaintSpec taint;
  bool count_daemon_set_pods = true;
  // Taint this many pods before the cap, to absorb pods the scheduler already
  // bound in the moment before the taint landed. 0..100, and below max_pods.
  int32_t taint_ahead = 0;
  // Evict the newest movable pods of a node above its cap (not the taint
  // mark) until it is back at the cap: a released taint can meet a Pending
  // backlog the scheduler binds in one burst, far past the cap
  // (docs/performance.md). Off by default.
  bool evict_overflow = false;
  friend bool operator==(const PodDensitySpec&, const PodDensitySpec&) = default;
};

// One rule of spec.health.unhealthyConditions: a node is unhealthy when a
// condition of `type` has had `status` for at least `duration` (measured from
// its lastTransitionTime) and, when set, its reason equals `reason` and its
// message matches `message_regex` (RE2/ECMAScript-compatible subset, unanchored search).
struct UnhealthyCondition {
  std::string type;
  kube::ConditionStatus status = kube::ConditionStatus::kFalse;
  std::string reason;         // Empty: any reason.
  std::string message_regex;  // Empty: any message.
  Duration duration = std::chrono::minutes(5);
  friend bool operator==(const UnhealthyCondition&, const UnhealthyCondition&) = default;
};

// The default rules: the incident's PLEG signature, and a node whose kubelet
// stopped reporting.
std::vector<UnhealthyCondition> DefaultUnhealthyConditions();

struct HealthSpec {
  // Any rule matching makes the node unhealthy. Empty in a document means the
  // defaults (the API server defaults an absent list; an explicit [] is
  // rejected: a policy must be able to see sickness).
  std::vector<UnhealthyCondition> unhealthy_conditions = DefaultUnhealthyConditions();
  friend bool operator==(const HealthSpec&, const HealthSpec&) = default;
};

// spec.remediation.drain: what `kubectl drain` flags would say.
struct DrainSpec {
  Duration timeout = std::chrono::minutes(10);  // Whole drain; kubectl --timeout.
  std::optional<int64_t> grace_period_seconds;  // Unset: each pod's own; kubectl --grace-period.
  bool delete_empty_dir_data = false;           // kubectl --delete-emptydir-data.
  bool force = false;                           // Evict pods without a controller; kubectl --force.
  Duration skip_wait_for_delete_timeout{
      0};  // 0: always wait; kubectl --skip-wait-for-delete-timeout.
  // On a node whose Ready condition is not True: how long an evicted pod may
  // stay terminating (from when the drain saw it so) before the drain stops
  // waiting for it. A kubelet that is not Ready (a stuck PLEG, a runtime that
  // is down) does not sync pods at all: their deletion completes only after
  // the runtime is repaired, which the drain is there to make way for.
  Duration not_ready_skip_wait_for_delete_timeout = std::chrono::seconds(30);
  LabelSelector pod_selector;  // Only pods matching are evicted; kubectl --pod-selector.
  friend bool operator==(const DrainSpec&, const DrainSpec&) = default;
};

// One rung of the remediation ladder, carried out by the node agent
// (External: only annotate the node for an external remediator and wait).
enum class RemediationAction : uint8_t {
  kRestartContainerRuntime,
  kRestartKubelet,
  kReboot,
  kExternal,
};
const char* RemediationActionName(RemediationAction a);  // "RestartContainerRuntime", ...

// spec.remediation: cordon, drain, climb the action ladder one rung per
// attempt until the node recovers, uncordon.
struct RemediationSpec {
  bool enabled = false;        // See the file comment: true once the block is written.
  int32_t max_concurrent = 1;  // Nodes in remediation at once; >= 1.
  // A storm: when more selected nodes than this are unhealthy, no new
  // remediation starts. A percent of selected nodes, rounded up (so a small
  // cluster still tolerates one sick node).
  IntOrPercent max_unhealthy = IntOrPercent::Percent(30);
  // Ordered ladder, no duplicates, External only last. Empty: cordon and drain
  // only (a human or another system repairs the node).
  std::vector<RemediationAction> actions;
  DrainSpec drain;
  Duration action_timeout = std::chrono::minutes(10);  // Per rung, until the node is Ready again.
  Duration recovery_stable_for = std::chrono::minutes(2);  // Ready this long before uncordoning.
  Duration cooldown = std::chrono::minutes(30);            // Between two remediations of one node.
  // How long a Failed remediation that leaves the node cordoned keeps holding
  // its slot (maxConcurrent and the global cap); 0: until a person acts.
  Duration hold_slot_after_failure = std::chrono::minutes(30);
  // Remediations of one node after which nodeguard leaves it cordoned for a
  // human and reports it; reset once the node stays healthy for a cooldown.
  int32_t max_attempts_per_node = 3;
  // Also remediate nodes someone else cordoned (by default they are left alone:
  // a human is working on them).
  bool take_over_cordoned_nodes = false;
  friend bool operator==(const RemediationSpec&, const RemediationSpec&) = default;
};

// spec.resourceHygiene: flag pods that lack requests/limits and nodes that
// reserve nothing for the system.
struct ResourceHygieneSpec {
  bool enabled = false;  // See the file comment: true once the block is written.
  // kube::ResourceBit flags each container must declare (requests: cpu,
  // memory; limits: memory by default), compared with ContainerResources::declared.
  uint8_t required = kube::kRequestCpu | kube::kRequestMemory | kube::kLimitMemory;
  bool include_init_containers = true;
  std::vector<std::string> exclude_namespaces = {"kube-system"};
  bool annotate_pods = false;  // nodeguard.io/resource-findings on each flagged pod.
  bool emit_events = true;     // A Warning Event on each flagged pod.
  // Flag nodes whose allocatable CPU and memory equal their capacity.
  bool flag_nodes_without_system_reserve = true;
  friend bool operator==(const ResourceHygieneSpec&, const ResourceHygieneSpec&) = default;
};

// spec.earlyWarning.adaptiveCap: while a node's published early-warning level
// (nodeguard.io/early-warning, docs/early-warning.md) is Degraded or Critical,
// its pod-density cap is lowered by reduce_by: a count, or a percent of the
// cap rounded up (so a non-zero percent always lowers by at least one pod);
// the lowered cap is never below 1. Restored once the published level is
// Healthy again: the agent publishes Healthy only after `hold` of calm
// figures, so that hold is the cap's hysteresis; the taint's own low mark
// (releaseBelow) then applies to the restored cap.
struct AdaptiveCapSpec {
  IntOrPercent reduce_by = IntOrPercent::Percent(20);  // Count 1..1000, or 1%..99%.
  friend bool operator==(const AdaptiveCapSpec&, const AdaptiveCapSpec&) = default;
};

// spec.earlyWarning: the marks the node agent's early-warning level is
// decided with (early::Thresholds; the defaults are the agent's built-in
// ones), and the adaptive density cap. Absent: the agent's flags decide, and
// caps are not adapted.
struct EarlyWarningSpec {
  bool present = false;  // The block is written (the agent then uses these marks, not its flags).
  Duration degraded_relist_p99 = std::chrono::seconds(1);        // Degraded above it. > 0.
  Duration calm_relist_p99 = std::chrono::milliseconds(500);     // Calm at or below; < degraded.
  Duration critical_last_relist_age = std::chrono::seconds(30);  // Critical above it. > 0.
  Duration calm_last_relist_age = std::chrono::seconds(10);      // Calm at or below; < critical.
  Duration hold = std::chrono::minutes(2);      // Calm this long before Degraded -> Healthy. >= 0.
  std::optional<AdaptiveCapSpec> adaptive_cap;  // Unset: caps are not adapted.
  friend bool operator==(const EarlyWarningSpec&, const EarlyWarningSpec&) = default;
};

struct NodeHealthPolicySpec {
  LabelSelector node_selector;  // Empty: every node.
  // No new taints, cordons, drains or agent actions; in-flight remediations
  // only complete safely (see the CRD description).
  bool paused = false;
  bool dry_run = false;  // Decide and report what would be done (Events, status), do nothing.
  PodDensitySpec pod_density;
  HealthSpec health;
  RemediationSpec remediation;
  ResourceHygieneSpec resource_hygiene;
  EarlyWarningSpec early_warning;
  friend bool operator==(const NodeHealthPolicySpec&, const NodeHealthPolicySpec&) = default;
};

// ================================================================ status

// Condition types nodeguard sets on a policy.
inline constexpr const char* kConditionReady = "Ready";    // Spec valid and being enforced.
inline constexpr const char* kConditionPaused = "Paused";  // spec.paused, or dryRun.
inline constexpr const char* kConditionStormDetected = "StormDetected";  // maxUnhealthy exceeded.
inline constexpr const char* kConditionDegraded = "Degraded";            // Something needs a human.

// metav1.Condition.
struct Condition {
  std::string type;
  kube::ConditionStatus status = kube::ConditionStatus::kUnknown;
  int64_t observed_generation = 0;
  kube::Time last_transition_time{};
  std::string reason;  // CamelCase, required by metav1.Condition.
  std::string message;
  friend bool operator==(const Condition&, const Condition&) = default;
};

enum class RemediationPhase : uint8_t {
  kCordoning,
  kDraining,
  kActing,     // Running the current rung (RemediationStatus::action).
  kVerifying,  // Waiting for the node to stay Ready for recoveryStableFor.
  kUncordoning,
  kSucceeded,  // Finished.
  kFailed,     // Finished; see result and message.
};
const char* RemediationPhaseName(RemediationPhase p);
bool IsFinished(RemediationPhase p);

enum class RemediationResult : uint8_t {
  kNone,       // Still in flight.
  kRecovered,  // The node is healthy and uncordoned.
  kFailed,     // The ladder is exhausted; the node stays cordoned.
  kTimedOut,   // The drain or an action exceeded its timeout.
  kAborted,    // Stopped: policy paused or deleted, node deleted, storm, ...
};
const char* RemediationResultName(RemediationResult r);

struct RemediationStatus {
  std::string node;
  RemediationPhase phase = RemediationPhase::kCordoning;
  std::optional<RemediationAction> action;  // The current/last rung; unset before the first.
  int32_t attempt = 1;                      // 1-based count of remediations of this node.
  kube::Time started_at{};
  kube::Time finished_at{};  // Unset while in flight.
  RemediationResult result = RemediationResult::kNone;
  std::string message;
  friend bool operator==(const RemediationStatus&, const RemediationStatus&) = default;
};

struct DensityCappedNode {
  std::string node;
  int32_t pods = 0;  // Counted pods.
  int32_t cap = 0;
  friend bool operator==(const DensityCappedNode&, const DensityCappedNode&) = default;
};

struct NamespaceFindings {
  std::string namespace_;
  int32_t pods = 0;  // Pods flagged in this namespace.
  friend bool operator==(const NamespaceFindings&, const NamespaceFindings&) = default;
};

struct FlaggedPod {
  std::string namespace_;
  std::string name;
  std::string findings;  // e.g. "app: requests.cpu, limits.memory"
  friend bool operator==(const FlaggedPod&, const FlaggedPod&) = default;
};

struct ResourceHygieneStatus {
  std::vector<NamespaceFindings> namespaces;  // Sorted by pods desc, bounded.
  std::vector<FlaggedPod> example_pods;       // Bounded.
  friend bool operator==(const ResourceHygieneStatus&, const ResourceHygieneStatus&) = default;
};

// A node this policy selects that an older policy governs.
struct PolicyConflict {
  std::string node;
  std::string governed_by;  // Name of the governing policy.
  friend bool operator==(const PolicyConflict&, const PolicyConflict&) = default;
};

// Governed nodes by the early-warning level their agent publishes
// (nodeguard.io/early-warning; docs/early-warning.md). Nodes without the
// annotation are not counted; `unknown`: an annotation that cannot be read.
struct EarlyWarningCounts {
  int32_t healthy = 0;
  int32_t degraded = 0;
  int32_t critical = 0;
  int32_t unknown = 0;
  friend bool operator==(const EarlyWarningCounts&, const EarlyWarningCounts&) = default;
};

// Upper bounds on status lists (the CRD's maxItems); the encoder truncates to
// them so status stays small, and the counts carry the totals.
inline constexpr size_t kMaxRecentRemediations = 10;
inline constexpr size_t kMaxStatusNodes =
    50;  // densityCappedNodes, nodesWithoutSystemReserve, conflicts.
inline constexpr size_t kMaxNamespaceFindings = 20;
inline constexpr size_t kMaxExamplePods = 20;

struct NodeHealthPolicyStatus {
  int64_t observed_generation = 0;
  std::vector<Condition> conditions;
  int32_t selected_nodes = 0;
  int32_t ready_nodes = 0;
  int32_t unhealthy_nodes = 0;
  int32_t density_capped_node_count = 0;  // JSON: cappedNodes.
  int32_t remediating_nodes = 0;
  int64_t pods_flagged = 0;
  std::vector<RemediationStatus> remediations;         // In flight.
  std::vector<RemediationStatus> recent_remediations;  // Finished, newest first.
  std::vector<DensityCappedNode> density_capped_nodes;
  ResourceHygieneStatus resource_hygiene;
  std::vector<std::string> nodes_without_system_reserve;
  std::vector<PolicyConflict> conflicts;
  EarlyWarningCounts early_warning;
  friend bool operator==(const NodeHealthPolicyStatus&, const NodeHealthPolicyStatus&) = default;
};

struct NodeHealthPolicy {
  kube::ObjectMeta meta;
  NodeHealthPolicySpec spec;
  NodeHealthPolicyStatus status;
};

}  // namespace nodeguard::api
