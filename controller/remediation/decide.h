#pragma once

// The remediation orchestrator's step function: from what is observed of a
// policy's nodes (health, the state annotation, the agent's annotations, the
// runtime's drain progress) to what should be done now. Pure: no I/O, no
// clock; calling it twice on the same observation returns the same decision,
// and everything it needs to resume lives in node annotations, so a restarted
// controller or a new leader continues where the previous one stopped.
//
// Per node (phases of state.h):
//
//   (none) --unhealthy, eligible--> Pending --budget/cooldown/person allow--> Cordoned
//   Cordoned --node unschedulable--> Draining --drain Succeeded--> ActionRequested(rung 0)
//   ActionRequested --confirmed--> AwaitingRecovery --Ready for recoveryStableFor--> Succeeded
//   ActionRequested/AwaitingRecovery --actionTimeout or agent Failed--> next rung | Failed
//   Pending/Cordoned/Draining --node healthy again--> Cancelled (uncordon if we cordoned)
//   Draining --drain TimedOut/Failed--> Failed (left cordoned)
//   any unfinished phase --the policy steps back--> handed over | Cancelled (see below)
//   Failed/Cancelled with our cordon --node healthy (Failed: for recoveryStableFor)--> uncordoned
//
// "Confirmed": RestartContainerRuntime/RestartKubelet when the agent status
// for the request id says Done; Reboot when status.nodeInfo.bootID differs
// from the one recorded with the request; External when the node is healthy
// again or its bootID changed. An empty ladder (drain only) goes from Draining
// to AwaitingRecovery directly and ends Failed (NotRecovered) after
// actionTimeout.
//
// Rules across nodes:
// - Budget: at most spec.maxConcurrent nodes of this policy hold a slot, and
//   at most global_max_concurrent across policies (0: no global cap). A node
//   holds a slot in a disruptive phase (Cordoned..AwaitingRecovery), and in a
//   finished phase while nodeguard's cordon is still on it: a Cancelled one
//   until nodeguard lifts the cordon (once the node is healthy), a Failed one
//   until its slotHeldUntil (spec.holdSlotAfterFailure after the failure;
//   unset: until a person uncordons it). Counted from observed annotations
//   before this step, so a slot freed in this step is reused in the next one.
// - Ownership: a node's state names the policy that owns it. Another policy
//   never acts on it while it is unfinished or its cordon is ours
//   (OwnedByOtherPolicy). When the owner steps back from a node in flight
//   (it is being deleted, or no longer selects the node) and another policy
//   governs the node now, the state is handed over to that one, which carries
//   on under its own spec; otherwise the remediation is Cancelled: drain
//   stopped, agent request withdrawn, and nodeguard's cordon kept until the
//   node is healthy, then lifted (the slot is held until then). A state whose
//   policy no longer exists (NodeObservation::orphan) is adopted by the
//   policy the runtime passes it to. So a deleted policy keeps its finalizer
//   (NodesInFlight) until none of its nodes is unfinished or carries its
//   cordon, and nothing of ours is left behind by an edit.
// - Agent requests: every step that finishes a remediation also withdraws
//   nodeguard.io/agent-request (same patch), and a leftover request on a node
//   whose remediation is finished is withdrawn; the agent runs a request only
//   while the state asks for it.
// - Storm: when more selected nodes than maxUnhealthy (a percent rounded up)
//   are unhealthy or turning unhealthy (a rule matches, its duration not yet
//   elapsed: counting those keeps nodes that fall sick together from starting
//   one by one across a second boundary), nothing new starts, no Pending is
//   recorded, and no node already cordoned starts (or resumes) its drain:
//   draining during a storm pushes pods onto the few nodes left. A drain
//   already running finishes, and nodes already drained go on with their
//   actions (restarting or rebooting a drained node takes no capacity).
// - paused (policy or global): nothing new starts, no new disruptive step is
//   taken (no cordon, drain, agent request or escalation) and no Pending is
//   recorded; only safe completions still happen: a recovered node is
//   uncordoned and recorded Succeeded/Cancelled, failures are recorded.
//   (kured/NHC semantics: pausing never leaves a healthy node cordoned.)
// - dry_run: the decision is computed exactly as otherwise and flagged; the
//   runtime reports it (status, Events) and executes none of it. Since nothing
//   is executed, a dry-run remediation never gets past its first step, so the
//   runtime reports with it the whole ladder it would run (PlannedSteps).
// - Order: candidates start longest-unhealthy first, then by node name.
// - A node a person cordoned (spec.unschedulable with no remediation of ours)
//   is not taken over unless spec.takeOverCordonedNodes; it is reported. A
//   taken-over node is never uncordoned by nodeguard.
// - Never uncordon a node nodeguard did not cordon, and never uncordon a node
//   that is not healthy. Taints are never touched: cordoning is
//   spec.unschedulable, and node.kubernetes.io/* taints belong to the node
//   lifecycle controller.
// - Cooldown: a node is not cordoned again before cooldown has passed since
//   its previous remediation that started ended. maxAttemptsPerNode: the
//   attempt count restarts at 1 once the node stayed healthy for a cooldown
//   after that remediation; above the maximum nothing starts and the node is
//   reported.
// - A Failed node whose cordon is still ours is not remediated again; once a
//   person uncordons it, it is eligible again (subject to cooldown/attempts).
//   If it recovers on its own and stays healthy for recoveryStableFor,
//   nodeguard lifts its own cordon.
// - A policy being deleted (DecideInput::deleting) starts nothing and winds
//   every remediation it owns down as above.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "agentproto/agent_protocol.h"
#include "api/types.h"
#include "common/clock.h"
#include "common/duration.h"
#include "health/evaluate.h"
#include "kube/objects.h"
#include "remediation/state.h"

namespace nodeguard::remediation {

// What the runtime's drain executor reports for a node's current drain.
struct DrainObservation {
  enum Kind : uint8_t {
    kNotRunning,  // No drain for this remediation in this process (e.g. after a restart).
    kRunning,
    kSucceeded,
    kTimedOut,
    kFailed,  // Filter errors (nothing evicted) or fatal eviction errors.
  } kind = kNotRunning;
  std::string remediation_id;  // The state id the drain belongs to; others are ignored.
  std::string message;         // DrainResult::Summary() or DrainPlan::ErrorSummary().
};

struct NodeObservation {
  const kube::Node* node = nullptr;  // REQUIRES: non-null; outlives the Decide call.
  // False for a node that carries this policy's state but is no longer
  // selected by it (pass such nodes so their remediation is wound down).
  bool selected = true;
  health::NodeHealth health;
  std::optional<RemediationState> state;  // Decoded nodeguard.io/remediation.
  std::string state_error;                // Set when the annotation is present but malformed.
  std::optional<agentproto::AgentRequest> agent_request;  // Decoded nodeguard.io/agent-request.
  std::optional<agentproto::AgentStatus> agent_status;    // Decoded nodeguard.io/agent-status.
  DrainObservation drain;
  // The policy that governs the node now ("" when none): where a remediation
  // goes when its policy steps back.
  std::string governing_policy;
  // The state names a policy that no longer exists: the deciding policy
  // adopts it. The runtime sets it on the governing policy's observation, or,
  // for a node no policy governs, on the first policy's (with selected false).
  bool orphan = false;
};

// The node's nodeguard.io annotations decoded (malformed agent annotations
// are treated as absent; a malformed state sets state_error).
struct NodeAnnotations {
  std::optional<RemediationState> state;
  std::string state_error;
  std::optional<agentproto::AgentRequest> agent_request;
  std::optional<agentproto::AgentStatus> agent_status;
};
NodeAnnotations DecodeAnnotations(const kube::Node& node);
// Only nodeguard.io/remediation (state and state_error; the agent fields left
// empty): what counting a policy's remediations in flight reads.
NodeAnnotations DecodeStateAnnotation(const kube::Node& node);

// Decodes the node's annotations into an observation (DecodeAnnotations).
NodeObservation Observe(const kube::Node& node, const health::HealthRules& rules, WallTime now,
                        DrainObservation drain = {}, bool selected = true);
// The same with the annotations decoded already (REQUIRES: `annotations` is
// DecodeAnnotations(node)): the runtime keeps them per node version, so a
// reconcile decodes only the nodes that changed.
NodeObservation Observe(const kube::Node& node, const NodeAnnotations& annotations,
                        const health::HealthRules& rules, WallTime now, DrainObservation drain = {},
                        bool selected = true);

// True when the node is unschedulable and its state says nodeguard cordoned
// it and has not lifted the cordon.
bool CordonIsOurs(const NodeObservation& observation);

// True when this node occupies a remediation slot at `now` (see the budget
// rule). A malformed state on a cordoned node holds a slot for nobody in
// particular: its BudgetOwner is "".
bool HoldsBudget(const NodeObservation& observation, WallTime now);
std::string BudgetOwner(const NodeObservation& observation);

// Slots held by nodes whose BudgetOwner is not `policy` (other policies,
// states of deleted policies and unreadable states): pass as
// DecideInput::in_flight_other_policies.
int CountHeldByOthers(std::span<const NodeObservation> all_nodes, std::string_view policy,
                      WallTime now);

struct DecideInput {
  std::string policy;  // metadata.name of the NodeHealthPolicy.
  api::RemediationSpec spec;
  bool paused = false;               // spec.paused (or a global pause).
  bool dry_run = false;              // spec.dryRun or the global --dry-run.
  int global_max_concurrent = 0;     // --max-concurrent-remediations; 0: no global cap.
  int in_flight_other_policies = 0;  // CountHeldByOthers over every node.
  bool storm_was_detected = false;   // The policy's StormDetected condition as last written.
  bool deleting = false;             // The policy is being deleted: wind down, start nothing.
  WallTime now{};
};

enum class IntentKind : uint8_t {
  kWriteState,   // Set nodeguard.io/remediation to EncodeState(state).
  kCordon,       // spec.unschedulable = true.
  kUncordon,     // spec.unschedulable = false.
  kStartDrain,   // Start draining (or restart after a controller restart) until drain_deadline.
  kCancelDrain,  // Stop the running drain of this node, if any.
  kRequestAgentAction,    // Set nodeguard.io/agent-request to EncodeAgentRequest(agent_request).
  kWithdrawAgentRequest,  // Remove nodeguard.io/agent-request.
  kEmitEvent,  // An Event on the node (or, in PolicyDecision::policy_events, on the policy).
};
const char* IntentKindName(IntentKind k);

enum class EventType : uint8_t { kNormal, kWarning };

// One thing to do. Fields other than those of `kind` are empty.
struct Intent {
  IntentKind kind = IntentKind::kEmitEvent;
  RemediationState state;                     // kWriteState.
  agentproto::AgentRequest agent_request;     // kRequestAgentAction.
  std::optional<WallTime> drain_deadline;     // kStartDrain; unset: no timeout.
  std::string remediation_id;                 // kStartDrain/kCancelDrain: the drain's owner.
  EventType event_type = EventType::kNormal;  // kEmitEvent.
  std::string reason;                         // kEmitEvent: CamelCase.
  std::string message;                        // kEmitEvent.

  static Intent WriteState(RemediationState s);
  static Intent Cordon();
  static Intent Uncordon();
  static Intent StartDrain(std::string remediation_id, std::optional<WallTime> deadline);
  static Intent CancelDrain(std::string remediation_id);
  static Intent RequestAgentAction(agentproto::AgentRequest request);
  static Intent WithdrawAgentRequest();
  static Intent Event(EventType type, std::string reason, std::string message);

  friend bool operator==(const Intent&, const Intent&) = default;
};

// Why a node that could be remediated is not being started.
enum class Hold : uint8_t {
  kNone,
  kPaused,
  kDisabled,
  kStorm,
  kBudget,
  kCooldown,
  kMaxAttempts,
  kCordonedByPerson,
  kExcluded,
  kOwnedByOtherPolicy,
  kFailedAwaitingHuman,
  kMalformedState,
};
const char* HoldName(Hold h);

struct NodeDecision {
  std::string node;
  // In execution order. The runtime applies them in order and stops at the
  // first failure (the next step re-decides from what was applied). The node
  // patches (WriteState, Cordon, Uncordon, RequestAgentAction) may instead be
  // merged into one patch with the node's resourceVersion as precondition:
  // the orders below are the ones that stay safe if the process dies between
  // two separate patches.
  std::vector<Intent> intents;
  Hold hold = Hold::kNone;
  std::string note;  // One line for logs/status: what the node is waiting for.
  std::optional<Duration> requeue_after;
  // The state as it will be after the intents (or as observed): for status.
  std::optional<RemediationState> state;
};

struct PolicyDecision {
  bool dry_run = false;  // When true, nothing in here may be executed.
  bool storm = false;
  std::string storm_message;
  int selected = 0;
  int unhealthy = 0;
  int turning_unhealthy = 0;              // A rule matches, its duration not elapsed yet.
  int max_unhealthy = 0;                  // maxUnhealthy resolved against `selected`.
  int in_flight = 0;                      // Slots this policy held before the step.
  int started = 0;                        // Remediations started by this step.
  std::vector<NodeDecision> nodes;        // Sorted by node name; only nodes with something to say.
  std::vector<Intent> policy_events;      // kEmitEvent on the policy (StormDetected/StormCleared).
  std::optional<Duration> requeue_after;  // Earliest of the nodes' requeues.
  // status.remediations: this policy's started, unfinished remediations as
  // they will be after this step, by node name.
  std::vector<api::RemediationStatus> remediations;

  // Nodes by hold, for status and Events.
  std::vector<std::string> cordoned_by_person;
  std::vector<std::string> max_attempts_reached;
  std::vector<std::string> failed;  // Failed and still cordoned by nodeguard.
  // Of `failed`, the nodes still holding their slot, with until when (unset: until a person acts).
  std::vector<std::pair<std::string, std::optional<WallTime>>> failed_holding_slot;
  std::vector<std::string> malformed;

  const NodeDecision* Find(std::string_view node) const;
  // Every intent of every node with its node name, in node order.
  std::vector<std::pair<std::string, Intent>> AllIntents() const;
};

// REQUIRES: each observation's node is non-null; node names are unique.
PolicyDecision Decide(const DecideInput& input, std::span<const NodeObservation> nodes);

// What a remediation started now under `spec` would do, in order, one entry
// per step: "cordon" (not for a node taken over: it is already cordoned),
// "drain" (with its timeout), each rung of spec.actions by name (External:
// "External (annotate and wait for an external remediator)"; no actions:
// "wait for the node to recover"), and "uncordon once Ready for <recovery
// stable for>" (a taken-over node is never uncordoned: "leave cordoned").
// The ladder stops at the first rung after which the node is Ready.
std::vector<std::string> PlannedSteps(const api::RemediationSpec& spec, bool taken_over);
// "would cordon -> drain (timeout 10m0s) -> RestartKubelet -> Reboot -> uncordon
// once Ready for 2m0s; one rung at a time until the node is Ready, each given
// actionTimeout 10m0s", for dry-run status and Events.
std::string DescribePlan(const api::RemediationSpec& spec, bool taken_over);

// "<node>-<Unix seconds>"; the agent request of rung i (0-based) is "<id>-<i+1>".
std::string RemediationId(std::string_view node, WallTime detected_at);
std::string RequestId(std::string_view remediation_id, int rung_index);

}  // namespace nodeguard::remediation
