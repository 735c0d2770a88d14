#pragma once

// RemediationReconciler: carries out remediation/decide.h's decisions for
// each NodeHealthPolicy (detect PLEG-sick nodes, cordon, drain, request an
// action from the node agent, verify, uncordon; one node at a time).
//
// Key: a policy name, because the budget (maxConcurrent) and the storm guard
// are policy-wide. Node events that matter (conditions, unschedulable,
// labels, nodeguard.io/* annotations, bootID; not heartbeats) enqueue the
// node's governing policy and the policy named in its remediation state;
// policy events enqueue the policy. A finished drain re-enqueues its policy,
// and the decision's requeue_after schedules the time-based rules.
//
// One reconcile: observe every node (the freshest of the informer's copy and
// the copy our last write returned, so a lagging cache never re-counts the
// budget from stale annotations; the nodeguard.io annotations are decoded
// again only for nodes whose resourceVersion changed, NodeAnnotationCache),
// Decide, then per node apply the intents in
// order, stopping at that node's first failure:
//   WriteState / Cordon / Uncordon / RequestAgentAction / WithdrawAgentRequest:
//     consecutive ones merge into one JSON merge patch of the node carrying
//     metadata.resourceVersion (optimistic concurrency: a concurrent change
//     is 409 and the policy is reconciled again). Cordoning is
//     spec.unschedulable only; taints are never touched.
// A node whose write failed does not hold up the others; the policy is
// reconciled again after a per-policy backoff (1 s doubling to 1 min) or
// sooner if a timed rule is due (ReconcileResult::partial_error).
//
// Which nodes a policy decides for: those it governs, those whose state
// names it (also when it no longer selects them, so it winds them down or
// hands them over), and those whose state names a policy that no longer
// exists (orphans: the governing policy adopts them; one no policy governs
// goes to the first policy, which winds it down). A policy being deleted
// winds down everything it owns (remediation/decide.h); an invalid policy
// that is not being deleted is not acted on at all, its in-flight
// remediations frozen and still counted (reconcile/resolver.h: an invalid edit
// pauses a policy).
//   StartDrain / CancelDrain: the Drainer (drainer.h).
//   EmitEvent: an Event on the node.
// Reconciles of all policies are serialised (one mutex), so the global
// --max-concurrent-remediations budget is counted from one consistent view.
// dryRun (policy or --dry-run): nothing is executed; status shows the
// decision and each node's Events are emitted once per (node, reason) until
// the decision for that node changes. As nothing is executed, a would-be
// remediation never gets past its start: its RemediationStarted (or
// RemediationTookOver) Event and its status.remediations message say the
// whole ladder it would run, in order (remediation::DescribePlan). A remediation in flight when the
// policy switched to dryRun stays as it is; once the policy is being deleted its wind-down (which
// only undoes what nodeguard did) is executed even so.
//
// Status (through StatusWriter): unhealthyNodes, remediatingNodes,
// remediations (in flight), recentRemediations (finished, newest first,
// bounded), conditions StormDetected and Degraded (failed remediations,
// nodes at maxAttemptsPerNode, unreadable states, sick nodes a person
// cordoned). Metrics: docs/operations.md's contract.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "api/types.h"
#include "health/evaluate.h"
#include "reconcile/reconciler.h"
#include "remediation/decide.h"
#include "remediation/drainer.h"

namespace nodeguard::runtime {

// Pure pieces of the executor, exposed for tests.

// Node patch intents merged into one write.
struct NodePatch {
  // Set these nodeguard.io/* annotations; nullopt removes one.
  std::map<std::string, std::optional<std::string>> annotations;
  std::optional<bool> unschedulable;
  bool empty() const { return annotations.empty() && !unschedulable; }
};

// One thing the executor does: a node patch, or one other intent.
struct ExecutionStep {
  std::optional<NodePatch> patch;
  std::optional<remediation::Intent> intent;  // StartDrain, CancelDrain or EmitEvent.
  // The states this step writes (for status and metrics once it succeeded).
  std::vector<remediation::RemediationState> states;
};

// Groups a node's intents in order, merging consecutive node patch intents.
std::vector<ExecutionStep> PlanExecution(const std::vector<remediation::Intent>& intents);

// The JSON merge patch for `patch`, with resourceVersion as precondition.
std::string EncodeNodePatch(const NodePatch& patch, const std::string& resource_version);

// True when a node update can change a remediation decision (not a heartbeat).
bool RemediationRelevantChange(const kube::Node& old_node, const kube::Node& new_node);

// The `reason` label of nodeguard_node_unhealthy: "PLEG" when the Ready
// message is a PLEG failure, else "<Type>=<Status>" of the matched condition.
std::string UnhealthyReason(const health::NodeHealth& health);

// The Degraded condition for a decision.
api::Condition DegradedCondition(const remediation::PolicyDecision& decision, int64_t generation);
// The StormDetected condition for a decision.
api::Condition StormCondition(const remediation::PolicyDecision& decision, int64_t generation);

// Prepends `entry` to recent (newest first) unless the same remediation
// (node and startedAt) is there already; keeps at most kMaxRecentRemediations.
// Returns false when it was already recorded.
bool RecordFinished(std::vector<api::RemediationStatus>& recent, api::RemediationStatus entry);

// The parsed resourceVersion ordering: true when `a` is newer than `b`
// (numeric when both parse, which every etcd-backed server gives).
bool NewerResourceVersion(const std::string& a, const std::string& b);

// Nodes by name, the names viewing into the nodes the map holds (built on
// every reconcile: a hash map, no copy of the names).
using NodesByName = std::unordered_map<std::string_view, std::shared_ptr<const kube::Node>>;

// Each node's nodeguard.io annotations decoded (remediation::DecodeAnnotations),
// by node name, decoded again only when the node's resourceVersion changed: a
// reconcile for one Node event decodes the node that changed, not every node
// of the cluster (issue 22). An object without a resourceVersion is decoded
// every time. Not thread-safe (the reconciler's mutex guards it).
class NodeAnnotationCache {
 public:
  // Shared, so a caller may keep it across the next Get.
  std::shared_ptr<const remediation::NodeAnnotations> Get(const kube::Node& node);
  // Drops the nodes not in `names` (deleted nodes), when there are any.
  void Retain(const NodesByName& names);
  void Clear() { entries_.clear(); }
  size_t size() const { return entries_.size(); }
  // Annotation sets decoded so far (for tests and the benchmark).
  uint64_t decodes() const { return decodes_; }

 private:
  struct Entry {
    std::string resource_version;
    std::shared_ptr<const remediation::NodeAnnotations> annotations;
  };
  std::unordered_map<std::string, Entry> entries_;
  uint64_t decodes_ = 0;
};

class RemediationReconciler final : public Reconciler {
 public:
  // `drain_api`: null uses RestDrainApi over deps.rest and deps.pods.
  explicit RemediationReconciler(Deps deps, std::unique_ptr<DrainApi> drain_api = nullptr,
                                 DrainerOptions drainer_options = {});
  ~RemediationReconciler() override;

  std::string_view name() const override { return "remediation"; }
  observe::Field KeyField(const std::string& key) const override { return {"policy", key}; }
  void OnNode(const kube::Node* old_obj, const kube::Node* obj, kube::WorkQueue& queue) override;
  void OnPolicy(const PolicyObject* old_obj, const PolicyObject* obj,
                kube::WorkQueue& queue) override;
  void EnqueueAll(kube::WorkQueue& queue) override;
  Result<ReconcileResult> Reconcile(const std::string& policy_name) override;

  // Stops every drain (call once the workers are stopped, before the queues go).
  void Shutdown();

  // Nodes whose remediation state names `policy` and has not ended, or has
  // ended with nodeguard's cordon still on: a deleted policy winds them down
  // (cancel, uncordon once healthy, or hand over to the policy that governs
  // the node) before its finalizer may go, or they would stay cordoned and
  // hold a slot with nobody to finish them. Counted whatever the policy's
  // validity.
  int NodesInFlight(const PolicyObject& policy) const;

  // For tests.
  Drainer& drainer() { return *drainer_; }
  // Annotation sets decoded so far (NodeAnnotationCache::decodes).
  uint64_t AnnotationDecodes() const;

 private:
  struct NodeOutcome {
    bool ok = true;
    Error error;
  };
  // Applies one node's decision; returns the first failure.
  NodeOutcome Apply(const PolicyObject& policy, const remediation::NodeDecision& decision,
                    std::shared_ptr<const kube::Node> node,
                    std::vector<api::RemediationStatus>& finished);
  Status PatchNode(std::shared_ptr<const kube::Node>& node, const NodePatch& patch);
  // After a 409: GETs the node and keeps it in written_ when it is newer.
  void ReadAgainAfterConflict(const std::string& name);
  // `plans`: DescribePlan of each remediation the decision would start, by node.
  void EmitDryRun(const std::string& policy, const remediation::PolicyDecision& decision,
                  const NodesByName& nodes, const std::map<std::string, std::string>& plans);
  void ForgetPolicy(const std::string& policy);
  void UpdateMetrics(const std::string& policy,
                     const std::vector<remediation::NodeObservation>& observations,
                     const remediation::PolicyDecision& decision);
  std::shared_ptr<const kube::Node> Freshest(std::shared_ptr<const kube::Node> cached);
  std::shared_ptr<const health::HealthRules> RulesFor(const PolicyObject& policy);
  void Enqueue(const std::string& policy);

  Deps deps_;
  std::unique_ptr<DrainApi> drain_api_;
  std::unique_ptr<Drainer> drainer_;
  observe::GaugeFamily& unhealthy_gauge_;
  observe::GaugeFamily& storm_gauge_;
  observe::GaugeFamily& in_flight_gauge_;
  observe::GaugeFamily& failed_gauge_;
  observe::CounterFamily& remediations_total_;

  std::mutex queue_mu_;
  kube::WorkQueue* queue_ = nullptr;  // Guarded by queue_mu_: this reconciler's queue.

  // Serialises reconciles (see the class comment) and guards what follows.
  mutable std::mutex mu_;
  // Our own writes the informer may not have delivered yet, and nodes read
  // again after a conflict, by node name.
  std::map<std::string, std::shared_ptr<const kube::Node>> written_;
  // The nodes' decoded annotations, by node name.
  NodeAnnotationCache annotations_;
  // Compiled health rules per policy, with the generation they were compiled for.
  std::map<std::string, std::pair<int64_t, std::shared_ptr<const health::HealthRules>>> rules_;
  // dryRun: "node/reason" Events emitted for the previous decision, per policy.
  std::map<std::string, std::set<std::string>> dry_run_events_;
  // dryRun: when each would-be remediation was first decided, per policy and node.
  std::map<std::string, std::map<std::string, kube::Time>> dry_run_started_;
  // nodeguard_node_unhealthy series set per policy: node -> reason.
  std::map<std::string, std::map<std::string, std::string>> unhealthy_series_;
  // Consecutive reconciles with a failed write, per policy (the backoff).
  std::map<std::string, int> failures_;
  // Consecutive reconciles whose only failures were conflicts, per policy
  // (retried at once up to kImmediateConflictRetries times).
  std::map<std::string, int> conflicts_;
};

}  // namespace nodeguard::runtime
