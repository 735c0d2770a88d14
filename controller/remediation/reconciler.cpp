#include "remediation/reconciler.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <utility>

#include "agentproto/agent_protocol.h"
#include "common/text.h"
#include "common/time.h"
#include "kube/decode.h"
#include "observe/log.h"
#include "reconcile/conditions.h"
#include "reconcile/notifications.h"
#include "remediation/state.h"

namespace nodeguard::runtime {
namespace {

using remediation::Intent;
using remediation::IntentKind;
using remediation::NodeObservation;
using remediation::Phase;
using remediation::PolicyDecision;
using remediation::RemediationState;

observe::Logger Log() { return observe::Log().With({{"reconciler", "remediation"}}); }

// The ceiling on a requeue while something is in flight: a safety net for a
// missed event, never the mechanism (events and drain completions are).
constexpr Duration kInFlightRecheck = std::chrono::seconds(30);
// The longest wait before retrying a failed node write.
constexpr Duration kMaxWriteBackoff = std::chrono::minutes(1);
// Conflicts retried at once, on the node read again, before the backoff of
// other failures applies: a kubelet changes its Node every 10 s while PLEG is
// not healthy (the message carries the time since the last relist), so under
// load a cached resourceVersion is often stale by the time the cordon is sent.
constexpr int kImmediateConflictRetries = 3;

kube::EventType ToEventType(remediation::EventType t) {
  return t == remediation::EventType::kWarning ? kube::EventType::kWarning
                                               : kube::EventType::kNormal;
}

std::string Join(const std::vector<std::string>& items, std::string_view sep = ", ") {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

bool SameConditions(const std::vector<kube::NodeCondition>& a,
                    const std::vector<kube::NodeCondition>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    // Heartbeats move last_heartbeat_time only: not a change.
    if (a[i].type != b[i].type || a[i].status != b[i].status || a[i].reason != b[i].reason ||
        a[i].message != b[i].message || a[i].last_transition_time != b[i].last_transition_time) {
      return false;
    }
  }
  return true;
}

std::optional<std::string> StatePolicy(const kube::Node& node) {
  const std::string* text = node.Annotation(remediation::kRemediationAnnotation);
  if (text == nullptr) return std::nullopt;
  auto state = remediation::DecodeState(*text);
  if (!state.ok()) return std::nullopt;
  return state->policy;
}

// An observation carrying only what the budget count reads.
NodeObservation BudgetObservation(const kube::Node& node,
                                  const remediation::NodeAnnotations& annotations) {
  NodeObservation obs;
  obs.node = &node;
  obs.state = annotations.state;
  obs.state_error = annotations.state_error;
  return obs;
}

// The same decoding only the state: the policy reconciler's count of nodes in
// flight walks every node and needs nothing else.
NodeObservation BudgetObservation(const kube::Node& node) {
  return BudgetObservation(node, remediation::DecodeStateAnnotation(node));
}

// The policy that winds down orphans no policy governs: the first one not
// being deleted, so exactly one policy does it.
std::optional<std::string> FirstActivePolicy(const PolicyList& sorted) {
  for (const auto& p : sorted)
    if (!p->deleting()) return p->meta.name;
  return std::nullopt;
}

// The Event with which the decision starts (or takes over) a remediation of
// the node, or null.
const Intent* StartEvent(const remediation::NodeDecision& d) {
  for (const Intent& i : d.intents) {
    if (i.kind == IntentKind::kEmitEvent &&
        (i.reason == "RemediationStarted" || i.reason == "RemediationTookOver")) {
      return &i;
    }
  }
  return nullptr;
}

std::string IntentSummary(const std::vector<Intent>& intents) {
  std::string out;
  for (const auto& i : intents) {
    if (i.kind == IntentKind::kEmitEvent) continue;
    if (!out.empty()) out += ",";
    out += remediation::IntentKindName(i.kind);
    if (i.kind == IntentKind::kWriteState) {
      out += std::string("(") + remediation::PhaseName(i.state.phase) + ")";
    }
  }
  return out;
}

}  // namespace

// ------------------------------------------------------------------ pure helpers

std::vector<ExecutionStep> PlanExecution(const std::vector<Intent>& intents) {
  std::vector<ExecutionStep> out;
  auto patch = [&]() -> ExecutionStep& {
    if (out.empty() || !out.back().patch) {
      out.emplace_back();
      out.back().patch.emplace();
    }
    return out.back();
  };
  for (const Intent& i : intents) {
    switch (i.kind) {
      case IntentKind::kWriteState: {
        ExecutionStep& s = patch();
        s.patch->annotations[remediation::kRemediationAnnotation] =
            remediation::EncodeState(i.state);
        s.states.push_back(i.state);
        break;
      }
      case IntentKind::kCordon:
        patch().patch->unschedulable = true;
        break;
      case IntentKind::kUncordon:
        patch().patch->unschedulable = false;
        break;
      case IntentKind::kRequestAgentAction:
        patch().patch->annotations[agentproto::kAgentRequestAnnotation] =
            agentproto::EncodeAgentRequest(i.agent_request);
        break;
      case IntentKind::kWithdrawAgentRequest:
        patch().patch->annotations[agentproto::kAgentRequestAnnotation] = std::nullopt;
        break;
      case IntentKind::kStartDrain:
      case IntentKind::kCancelDrain:
      case IntentKind::kEmitEvent: {
        ExecutionStep s;
        s.intent = i;
        out.push_back(std::move(s));
        break;
      }
    }
  }
  return out;
}

std::string EncodeNodePatch(const NodePatch& patch, const std::string& resource_version) {
  nlohmann::json doc = nlohmann::json::object();
  doc["metadata"]["resourceVersion"] = resource_version;
  for (const auto& [key, value] : patch.annotations) {
    // A merge patch removes a key set to null.
    doc["metadata"]["annotations"][key] = value ? nlohmann::json(*value) : nlohmann::json(nullptr);
  }
  if (patch.unschedulable) doc["spec"]["unschedulable"] = *patch.unschedulable;
  return doc.dump();
}

bool RemediationRelevantChange(const kube::Node& a, const kube::Node& b) {
  return a.labels != b.labels || a.unschedulable != b.unschedulable ||
         a.nodeguard_annotations != b.nodeguard_annotations || a.boot_id != b.boot_id ||
         !SameConditions(a.conditions, b.conditions);
}

std::string UnhealthyReason(const health::NodeHealth& h) {
  if (h.condition.type == "Ready" && h.pleg.pleg_unhealthy) return "PLEG";
  return h.condition.type.str() + "=" + kube::ConditionStatusName(h.condition.status);
}

api::Condition DegradedCondition(const PolicyDecision& d, int64_t generation) {
  // Each list names as many nodes as fit in 1,000 bytes, then "and N more":
  // a person cordoning 2,000 sick nodes must not make the status grow with
  // the fleet (issue 22), nor be cut mid-name by the encoder's bound.
  constexpr size_t kNodeListBytes = 1000;
  std::vector<std::string> parts;
  std::string reason;
  auto add = [&](const std::vector<std::string>& nodes, const char* why, const char* r) {
    if (nodes.empty()) return;
    if (reason.empty()) reason = r;
    parts.push_back(std::string(why) + ": " + JoinBounded(nodes, ", ", kNodeListBytes));
  };
  add(d.failed,
      "remediation failed, node left cordoned for a person (find the cause, then `kubectl "
      "uncordon` the node; docs/pleg-runbook.md)",
      "RemediationFailed");
  if (!d.failed_holding_slot.empty()) {
    std::vector<std::string> held;
    for (const auto& [node, until] : d.failed_holding_slot) {
      held.push_back(node + (until ? " until " + FormatRfc3339(*until) : " until uncordoned"));
    }
    parts.push_back("failed nodes holding a remediation slot: " +
                    JoinBounded(held, ", ", kNodeListBytes));
  }
  add(d.max_attempts_reached, "maxAttemptsPerNode reached, not remediated again",
      "MaxAttemptsReached");
  add(d.malformed, "unreadable nodeguard.io/remediation annotation, not acted on",
      "MalformedState");
  add(d.cordoned_by_person, "unhealthy but cordoned by someone else, left alone",
      "CordonedByPerson");
  if (parts.empty()) {
    return MakeCondition(api::kConditionDegraded, false, "AsExpected",
                         "no node needs a person's attention", generation);
  }
  return MakeCondition(api::kConditionDegraded, true, reason, Join(parts, "; "), generation);
}

api::Condition StormCondition(const PolicyDecision& d, int64_t generation) {
  if (d.storm) {
    return MakeCondition(api::kConditionStormDetected, true, "TooManyUnhealthy", d.storm_message,
                         generation);
  }
  return MakeCondition(api::kConditionStormDetected, false, "WithinMaxUnhealthy",
                       std::to_string(d.unhealthy) + " of " + std::to_string(d.selected) +
                           " selected nodes are unhealthy (maxUnhealthy " +
                           std::to_string(d.max_unhealthy) + ")",
                       generation);
}

bool RecordFinished(std::vector<api::RemediationStatus>& recent, api::RemediationStatus entry) {
  for (const auto& r : recent) {
    if (r.node == entry.node && r.started_at == entry.started_at) return false;
  }
  recent.insert(recent.begin(), std::move(entry));
  if (recent.size() > api::kMaxRecentRemediations) recent.resize(api::kMaxRecentRemediations);
  return true;
}

bool NewerResourceVersion(const std::string& a, const std::string& b) {
  uint64_t x = 0, y = 0;
  const auto ra = std::from_chars(a.data(), a.data() + a.size(), x);
  const auto rb = std::from_chars(b.data(), b.data() + b.size(), y);
  if (ra.ec != std::errc() || ra.ptr != a.data() + a.size() || rb.ec != std::errc() ||
      rb.ptr != b.data() + b.size()) {
    return false;  // Opaque versions: trust the informer.
  }
  return x > y;
}

// ------------------------------------------------------------------ annotation cache

std::shared_ptr<const remediation::NodeAnnotations> NodeAnnotationCache::Get(
    const kube::Node& node) {
  const std::string& version = node.meta.resource_version;
  auto it = entries_.find(node.meta.name);
  if (!version.empty() && it != entries_.end() && it->second.resource_version == version) {
    return it->second.annotations;
  }
  ++decodes_;
  auto decoded =
      std::make_shared<const remediation::NodeAnnotations>(remediation::DecodeAnnotations(node));
  if (version.empty()) {
    if (it != entries_.end()) entries_.erase(it);
    return decoded;
  }
  if (it == entries_.end()) {
    entries_.emplace(node.meta.name, Entry{version, decoded});
  } else {
    it->second = Entry{version, decoded};
  }
  return decoded;
}

void NodeAnnotationCache::Retain(const NodesByName& names) {
  // Every node listed has just been looked up, so more entries than nodes
  // means some were deleted: only then is the walk worth it.
  if (entries_.size() <= names.size()) return;
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = names.count(std::string_view(it->first)) > 0 ? std::next(it) : entries_.erase(it);
  }
}

// ------------------------------------------------------------------ reconciler

RemediationReconciler::RemediationReconciler(Deps deps, std::unique_ptr<DrainApi> drain_api,
                                             DrainerOptions drainer_options)
    : deps_(std::move(deps)),
      drain_api_(drain_api ? std::move(drain_api)
                           : std::make_unique<RestDrainApi>(*deps_.rest, deps_.pods, deps_.nodes)),
      unhealthy_gauge_(deps_.metrics->MustGauge(
          "nodeguard_node_unhealthy",
          "1 while the node matches one of the policy's unhealthyConditions (after its duration).",
          {"policy", "node", "reason"})),
      storm_gauge_(deps_.metrics->MustGauge(
          "nodeguard_storm_detected",
          "1 while the policy's StormDetected condition is True (more unhealthy nodes than "
          "maxUnhealthy), else 0.",
          {"policy"})),
      in_flight_gauge_(deps_.metrics->MustGauge(
          "nodeguard_remediations_in_flight",
          "Remediations of the policy in a disruptive phase (cordoned through verifying).",
          {"policy"})),
      failed_gauge_(deps_.metrics->MustGauge(
          "nodeguard_remediation_failed_nodes",
          "Nodes whose remediation failed and that nodeguard left cordoned for a person.",
          {"policy"})),
      remediations_total_(
          deps_.metrics->MustCounter("nodeguard_remediations_total",
                                     "Finished remediations by policy, last action run and result.",
                                     {"policy", "action", "result"})) {
  if (!drainer_options.fence) drainer_options.fence = deps_.fence;
  if (!drainer_options.on_verdict) {
    // Drains take seconds to the drain timeout (15 minutes in the incident
    // policy): buckets from 1 s to 1 h.
    observe::HistogramFamily& durations = deps_.metrics->MustHistogram(
        "nodeguard_drain_duration_seconds",
        "Time from a drain's start to its verdict, by policy and result (succeeded, "
        "timed_out, failed).",
        {"policy", "result"}, {1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600});
    drainer_options.on_verdict = [&durations](const DrainJob& job,
                                              remediation::DrainObservation::Kind verdict,
                                              Duration took) {
      const char* result = verdict == remediation::DrainObservation::kSucceeded  ? "succeeded"
                           : verdict == remediation::DrainObservation::kTimedOut ? "timed_out"
                                                                                 : "failed";
      durations.WithLabels({job.policy, result})
          .Observe(std::chrono::duration<double>(took).count());
    };
  }
  drainer_ = std::make_unique<Drainer>(*drain_api_, *deps_.clock, std::move(drainer_options));
}

RemediationReconciler::~RemediationReconciler() { Shutdown(); }

void RemediationReconciler::Shutdown() {
  {
    std::lock_guard lock(queue_mu_);
    queue_ = nullptr;
  }
  drainer_->Shutdown();
}

int RemediationReconciler::NodesInFlight(const PolicyObject& policy) const {
  int n = 0;
  for (const auto& node : deps_.nodes->List()) {
    const NodeObservation obs = BudgetObservation(*node);
    if (obs.state && obs.state->policy == policy.meta.name &&
        (!remediation::IsTerminal(obs.state->phase) || remediation::CordonIsOurs(obs))) {
      ++n;
    }
  }
  return n;
}

uint64_t RemediationReconciler::AnnotationDecodes() const {
  std::lock_guard lock(mu_);
  return annotations_.decodes();
}

void RemediationReconciler::Enqueue(const std::string& policy) {
  std::lock_guard lock(queue_mu_);
  if (queue_ != nullptr) queue_->Add(policy);
}

void RemediationReconciler::OnNode(const kube::Node* old_obj, const kube::Node* obj,
                                   kube::WorkQueue& queue) {
  {
    std::lock_guard lock(queue_mu_);
    queue_ = &queue;
  }
  if (old_obj != nullptr && obj != nullptr && !RemediationRelevantChange(*old_obj, *obj)) return;
  auto state_of = [](const kube::Node* n) -> std::optional<std::string> {
    const std::string* text =
        n == nullptr ? nullptr : n->Annotation(remediation::kRemediationAnnotation);
    return text == nullptr ? std::nullopt : std::optional<std::string>(*text);
  };
  const bool budget_changed = old_obj == nullptr || obj == nullptr ||
                              state_of(old_obj) != state_of(obj) ||
                              old_obj->unschedulable != obj->unschedulable;
  // A slot freed under one policy may start a node of another under the global cap.
  if (budget_changed && deps_.options->max_concurrent_remediations > 0) {
    EnqueueAll(queue);
    return;
  }
  const PolicyList sorted = deps_.SortedPolicies();
  for (const kube::Node* n : {old_obj, obj}) {
    if (n == nullptr) continue;
    auto governing = deps_.Governing(sorted, *n);
    if (governing) queue.Add(governing->meta.name);
    if (auto owner = StatePolicy(*n)) {
      queue.Add(*owner);
      // An orphan no policy governs is wound down by the first policy.
      if (!governing && !deps_.policies->Get("", *owner)) {
        if (auto first = FirstActivePolicy(sorted)) queue.Add(*first);
      }
    }
  }
}

void RemediationReconciler::OnPolicy(const PolicyObject* old_obj, const PolicyObject* obj,
                                     kube::WorkQueue& queue) {
  {
    std::lock_guard lock(queue_mu_);
    queue_ = &queue;
  }
  // Our own status writes come back as updates with the same generation:
  // ignoring them keeps a status write from triggering another reconcile.
  if (!GovernanceChanged(old_obj, obj)) return;
  // A new, deleted or re-scoped policy changes which policy governs which node.
  EnqueueAll(queue);
  if (obj == nullptr && old_obj != nullptr) queue.Add(old_obj->meta.name);
}

void RemediationReconciler::EnqueueAll(kube::WorkQueue& queue) {
  {
    std::lock_guard lock(queue_mu_);
    queue_ = &queue;
  }
  for (const auto& p : deps_.policies->List()) queue.Add(p->meta.name);
}

std::shared_ptr<const kube::Node> RemediationReconciler::Freshest(
    std::shared_ptr<const kube::Node> cached) {
  auto it = written_.find(cached->meta.name);
  if (it == written_.end()) return cached;
  if (NewerResourceVersion(it->second->meta.resource_version, cached->meta.resource_version)) {
    return it->second;
  }
  written_.erase(it);  // The informer caught up.
  return cached;
}

std::shared_ptr<const health::HealthRules> RemediationReconciler::RulesFor(
    const PolicyObject& policy) {
  auto it = rules_.find(policy.meta.name);
  if (it != rules_.end() && it->second.first == policy.meta.generation) return it->second.second;
  auto compiled = health::HealthRules::Compile(policy.policy.spec.health.unhealthy_conditions);
  if (!compiled.ok() && policy.deleting()) {
    // Winding down needs only "is the node healthy again?": the defaults answer it.
    compiled = health::HealthRules::Compile(api::DefaultUnhealthyConditions());
  }
  if (!compiled.ok()) return nullptr;
  auto rules = std::make_shared<const health::HealthRules>(std::move(compiled).value());
  rules_[policy.meta.name] = {policy.meta.generation, rules};
  return rules;
}

void RemediationReconciler::ForgetPolicy(const std::string& policy) {
  for (const auto& node : drainer_->NodesOf(policy)) drainer_->Cancel(node);
  for (const auto& [node, reason] : unhealthy_series_[policy]) {
    unhealthy_gauge_.Remove({policy, node, reason});
  }
  unhealthy_series_.erase(policy);
  storm_gauge_.Remove({policy});
  in_flight_gauge_.Remove({policy});
  failed_gauge_.Remove({policy});
  failures_.erase(policy);
  conflicts_.erase(policy);
  rules_.erase(policy);
  dry_run_events_.erase(policy);
  dry_run_started_.erase(policy);
}

void RemediationReconciler::UpdateMetrics(const std::string& policy,
                                          const std::vector<NodeObservation>& observations,
                                          const PolicyDecision& decision) {
  std::map<std::string, std::string> now;
  for (const auto& obs : observations) {
    if (obs.selected && obs.health.verdict == health::Verdict::kUnhealthy) {
      now[obs.node->meta.name] = UnhealthyReason(obs.health);
    }
  }
  auto& series = unhealthy_series_[policy];
  for (const auto& [node, reason] : series) {
    auto it = now.find(node);
    if (it == now.end() || it->second != reason) unhealthy_gauge_.Remove({policy, node, reason});
  }
  for (const auto& [node, reason] : now) unhealthy_gauge_.WithLabels({policy, node, reason}).Set(1);
  series = std::move(now);
  storm_gauge_.WithLabels({policy}).Set(decision.storm ? 1 : 0);
  in_flight_gauge_.WithLabels({policy}).Set(static_cast<double>(decision.remediations.size()));
  failed_gauge_.WithLabels({policy}).Set(static_cast<double>(decision.failed.size()));
}

Status RemediationReconciler::PatchNode(std::shared_ptr<const kube::Node>& node,
                                        const NodePatch& patch) {
  if (Status fenced = deps_.fence(); !fenced.ok()) return fenced;
  auto written =
      deps_.rest->Patch(kube::CoreResource("nodes"), node->meta.name, kube::PatchType::kMerge,
                        EncodeNodePatch(patch, node->meta.resource_version));
  if (!written.ok()) {
    if (written.error().Is(ErrorKind::kConflict)) ReadAgainAfterConflict(node->meta.name);
    return written.error();
  }
  auto decoded = kube::DecodeNode(*written);
  if (decoded.ok()) {
    node = std::make_shared<const kube::Node>(std::move(decoded).value());
    written_[node->meta.name] = node;
  } else {
    Log().Warn("cannot decode the patched node; the informer's copy will be used",
               {{"node", node->meta.name}, {"error", decoded.error().ToString()}});
  }
  return Status::Ok();
}

void RemediationReconciler::ReadAgainAfterConflict(const std::string& name) {
  // client-go's RetryOnConflict: read the object again rather than wait for
  // the informer, which lags most when the API server is busiest. The copy
  // joins our own writes in the freshest view, so the next step decides on it
  // (nothing is written on the strength of this read alone).
  auto fresh = deps_.rest->Get(kube::CoreResource("nodes"), name);
  if (!fresh.ok()) {
    Log().Info("cannot read a node again after a conflict; the informer's copy will be used",
               {{"node", name}, {"error", fresh.error().ToString()}});
    return;
  }
  auto decoded = kube::DecodeNode(*fresh);
  if (!decoded.ok()) {
    Log().Warn("cannot decode a node read again after a conflict",
               {{"node", name}, {"error", decoded.error().ToString()}});
    return;
  }
  auto node = std::make_shared<const kube::Node>(std::move(decoded).value());
  auto it = written_.find(name);
  if (it == written_.end() ||
      NewerResourceVersion(node->meta.resource_version, it->second->meta.resource_version)) {
    written_[name] = std::move(node);
  }
}

RemediationReconciler::NodeOutcome RemediationReconciler::Apply(
    const PolicyObject& policy, const remediation::NodeDecision& decision,
    std::shared_ptr<const kube::Node> node, std::vector<api::RemediationStatus>& finished) {
  const std::string& policy_name = policy.meta.name;
  for (const ExecutionStep& step : PlanExecution(decision.intents)) {
    if (step.patch) {
      if (Status s = PatchNode(node, *step.patch); !s.ok()) return {false, s.error()};
      for (const RemediationState& state : step.states) {
        if (!remediation::IsTerminal(state.phase) || !state.started_at) continue;
        api::RemediationStatus entry = remediation::ToStatus(decision.node, state);
        remediations_total_
            .WithLabels({policy_name,
                         state.action ? api::RemediationActionName(*state.action) : "None",
                         api::RemediationResultName(entry.result)})
            .Inc();
        finished.push_back(std::move(entry));
      }
      continue;
    }
    const Intent& intent = *step.intent;
    switch (intent.kind) {
      case IntentKind::kStartDrain: {
        DrainJob job;
        job.policy = policy_name;
        job.node = decision.node;
        job.remediation_id = intent.remediation_id;
        job.deadline = intent.drain_deadline;
        job.spec = policy.policy.spec.remediation.drain;
        job.event = [events = deps_.events, ref = NodeRef(*node)](
                        kube::EventType type, std::string reason, std::string message) {
          events->Record(ref, type, std::move(reason), std::move(message));
        };
        job.on_finished = [this, policy_name] { Enqueue(policy_name); };
        drainer_->Start(std::move(job));
        break;
      }
      case IntentKind::kCancelDrain:
        drainer_->Cancel(decision.node, intent.remediation_id);
        break;
      case IntentKind::kEmitEvent:
        deps_.events->Record(NodeRef(*node), ToEventType(intent.event_type), intent.reason,
                             intent.message);
        if (deps_.notifier != nullptr) {
          if (auto fact = RemediationFact(deps_.notify_cluster, policy_name, decision, intent,
                                          deps_.clock->Now())) {
            deps_.notifier->Notify(*fact);
          }
        }
        break;
      default:
        break;  // Node patches are planned above.
    }
  }
  return {};
}

void RemediationReconciler::EmitDryRun(const std::string& policy, const PolicyDecision& decision,
                                       const NodesByName& nodes,
                                       const std::map<std::string, std::string>& plans) {
  std::set<std::string> emitted;
  std::set<std::string>& previous = dry_run_events_[policy];
  for (const auto& d : decision.nodes) {
    auto node = nodes.find(d.node);
    if (node == nodes.end()) continue;
    bool logged = false;
    for (const Intent& i : d.intents) {
      if (i.kind != IntentKind::kEmitEvent) continue;
      const std::string key = d.node + "/" + i.reason;
      emitted.insert(key);
      if (previous.count(key) > 0) continue;
      std::string message = "dry run, nothing done: " + i.message;
      if (auto plan = plans.find(d.node); plan != plans.end() && &i == StartEvent(d)) {
        message += "; " + plan->second;
      }
      deps_.events->Record(NodeRef(*node->second), ToEventType(i.event_type), i.reason,
                           std::move(message));
      if (!logged) {
        Log().Info("dry run: would act", {{"policy", policy},
                                          {"node", d.node},
                                          {"intents", IntentSummary(d.intents)},
                                          {"note", d.note}});
        logged = true;
      }
    }
  }
  previous = std::move(emitted);
}

Result<ReconcileResult> RemediationReconciler::Reconcile(const std::string& policy_name) {
  std::lock_guard lock(mu_);
  auto policy = deps_.policies->Get("", policy_name);
  if (!policy) {
    ForgetPolicy(policy_name);
    return ReconcileResult{};
  }
  // PolicyReconciler reports an invalid policy; it is never acted on, except
  // to wind down what it owns once it is being deleted.
  if (!policy->valid() && !policy->deleting()) return ReconcileResult{};
  const auto rules = RulesFor(*policy);
  if (!rules) return Error::Invalid("policy " + policy_name + ": cannot compile its health rules");

  const WallTime now = deps_.clock->Now();
  const api::NodeHealthPolicySpec& spec = policy->policy.spec;
  const PolicyList sorted = deps_.SortedPolicies();

  // Observe: every node for the global budget; ours for the decision.
  std::vector<std::shared_ptr<const kube::Node>> nodes = deps_.nodes->List();
  NodesByName by_name;
  by_name.reserve(nodes.size());
  for (auto& cached : nodes) {
    cached = Freshest(cached);
    by_name.emplace(cached->meta.name, cached);
  }
  for (auto it = written_.begin(); it != written_.end();) {
    it = by_name.count(std::string_view(it->first)) > 0 ? std::next(it) : written_.erase(it);
  }
  std::set<std::string> existing;
  for (const auto& p : sorted) existing.insert(p->meta.name);
  const std::optional<std::string> first_active = FirstActivePolicy(sorted);
  // `all`: only nodes with a state, readable or not; no other can hold a slot
  // (remediation::HoldsBudget).
  std::vector<NodeObservation> all;
  std::vector<NodeObservation> mine;
  mine.reserve(nodes.size());  // One allocation: a NodeObservation is large.
  for (const auto& node : nodes) {
    const auto annotations = annotations_.Get(*node);
    const auto& state = annotations->state;
    const auto governing = deps_.Governing(sorted, *node);
    const bool governed = governing && governing->meta.name == policy_name;
    const bool carries_ours = state && state->policy == policy_name;
    const bool orphan = state && existing.count(state->policy) == 0;
    const bool adopt = orphan && (governed || (!governing && first_active == policy_name));
    if (governed || carries_ours || adopt) {
      NodeObservation obs = remediation::Observe(*node, *annotations, *rules, now,
                                                 drainer_->Observe(node->meta.name), governed);
      obs.governing_policy = governing ? governing->meta.name : "";
      obs.orphan = adopt;
      mine.push_back(std::move(obs));
    }
    if (state || !annotations->state_error.empty()) {
      all.push_back(BudgetObservation(*node, *annotations));
    }
  }
  annotations_.Retain(by_name);

  remediation::DecideInput in;
  in.policy = policy_name;
  in.spec = spec.remediation;
  in.paused = spec.paused;
  // Winding a deleted policy down undoes only what nodeguard did for real, so
  // it runs under dryRun too: otherwise a cordon from before the switch to
  // dryRun would hold the finalizer forever.
  in.dry_run = (spec.dry_run || deps_.options->dry_run) && !policy->deleting();
  in.global_max_concurrent = deps_.options->max_concurrent_remediations;
  in.in_flight_other_policies = remediation::CountHeldByOthers(all, policy_name, now);
  in.deleting = policy->deleting();
  if (auto desired = deps_.status->Desired(policy_name)) {
    const api::Condition* storm = FindCondition(desired->conditions, api::kConditionStormDetected);
    in.storm_was_detected = storm != nullptr && storm->status == kube::ConditionStatus::kTrue;
  }
  in.now = now;
  const PolicyDecision decision = remediation::Decide(in, mine);

  // Act.
  std::vector<api::RemediationStatus> finished;
  std::set<std::string> failed_nodes;
  std::optional<Error> first_error;
  bool only_conflicts = true;  // Every failed step failed on a stale resourceVersion.
  // dryRun: the whole ladder of each remediation it would start.
  std::map<std::string, std::string> plans;
  if (decision.dry_run) {
    for (const auto& d : decision.nodes) {
      if (const Intent* start = StartEvent(d)) {
        plans[d.node] =
            remediation::DescribePlan(spec.remediation, start->reason == "RemediationTookOver");
      }
    }
    EmitDryRun(policy_name, decision, by_name, plans);
  } else {
    dry_run_events_.erase(policy_name);
    for (const auto& d : decision.nodes) {
      if (d.intents.empty()) continue;
      Log().Info("remediation step", {{"policy", policy_name},
                                      {"node", d.node},
                                      {"intents", IntentSummary(d.intents)},
                                      {"note", d.note}});
      NodeOutcome outcome = Apply(*policy, d, by_name.at(d.node), finished);
      if (!outcome.ok) {
        failed_nodes.insert(d.node);
        Log().Warn(
            "remediation step failed; will decide again",
            {{"policy", policy_name}, {"node", d.node}, {"error", outcome.error.ToString()}});
        if (!first_error) first_error = outcome.error;
        only_conflicts = only_conflicts && outcome.error.Is(ErrorKind::kConflict);
      }
    }
  }
  for (const Intent& e : decision.policy_events) {
    deps_.events->Record(PolicyRef(*policy), ToEventType(e.event_type), e.reason, e.message);
    if (deps_.notifier != nullptr && !decision.dry_run) {
      if (auto fact = StormFact(deps_.notify_cluster, policy_name, e, deps_.clock->Now())) {
        deps_.notifier->Notify(*fact);
      }
    }
  }

  // Drains no remediation of this policy is waiting for any more.
  for (const auto& node : drainer_->NodesOf(policy_name)) {
    if (failed_nodes.count(node) > 0) continue;
    const remediation::NodeDecision* d = decision.Find(node);
    // A drain handed over to another policy is started again by that one.
    const bool wanted = d != nullptr && d->state && d->state->policy == policy_name &&
                        d->state->phase == Phase::kDraining &&
                        drainer_->Observe(node).remediation_id == d->state->id;
    if (!wanted) drainer_->Cancel(node);
  }

  // Status and metrics.
  const int64_t generation = policy->meta.generation;
  deps_.status->Update(policy_name, [&](api::NodeHealthPolicyStatus& s) {
    s.unhealthy_nodes = decision.unhealthy;
    s.remediating_nodes = static_cast<int32_t>(decision.remediations.size());
    s.remediations = decision.remediations;
    if (s.remediations.size() > api::kMaxStatusNodes) s.remediations.resize(api::kMaxStatusNodes);
    if (decision.dry_run) {
      // A decision never executed restarts its clock on every step; keep
      // the status stable by reporting when each was first decided.
      auto& first = dry_run_started_[policy_name];
      std::map<std::string, kube::Time> kept;
      for (auto& r : s.remediations) {
        auto it = first.find(r.node);
        kept[r.node] = it != first.end() ? it->second : r.started_at;
        r.started_at = kept[r.node];
        if (auto plan = plans.find(r.node); plan != plans.end()) {
          r.message = "dry run, nothing done: " + plan->second;
        }
      }
      first = std::move(kept);
    } else {
      dry_run_started_.erase(policy_name);
    }
    for (auto& f : finished) RecordFinished(s.recent_remediations, std::move(f));
    SetCondition(s.conditions, StormCondition(decision, generation), now);
    SetCondition(s.conditions, DegradedCondition(decision, generation), now);
  });
  UpdateMetrics(policy_name, mine, decision);

  ReconcileResult result;
  result.requeue_after = decision.requeue_after;
  if (!decision.remediations.empty() &&
      (!result.requeue_after || *result.requeue_after > kInFlightRecheck)) {
    result.requeue_after = kInFlightRecheck;
  }
  if (first_error && only_conflicts && ++conflicts_[policy_name] <= kImmediateConflictRetries) {
    // The nodes that conflicted were read again (ReadAgainAfterConflict):
    // decide on them at once instead of waiting for the informer.
    result.requeue_after = Duration::zero();
    result.partial_error = std::move(first_error);
  } else if (first_error) {
    // The other nodes' steps went through; retry the failed ones soon, but
    // never later than a timed rule of this policy is due.
    if (!only_conflicts) conflicts_.erase(policy_name);
    const int failures = ++failures_[policy_name];
    const Duration backoff = std::min<Duration>(
        kMaxWriteBackoff, std::chrono::seconds(1) * (1LL << std::min(failures - 1, 16)));
    if (!result.requeue_after || *result.requeue_after > backoff) result.requeue_after = backoff;
    result.partial_error = std::move(first_error);
  } else {
    failures_.erase(policy_name);
    conflicts_.erase(policy_name);
  }
  return result;
}

}  // namespace nodeguard::runtime
