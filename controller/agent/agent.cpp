#include "agent/agent.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "observe/log.h"

namespace nodeguard::agent {

namespace {

using agentproto::AgentActionName;
using agentproto::AgentStateName;
using agentproto::kAgentRequestAnnotation;
using agentproto::kAgentStatusAnnotation;
using observe::Log;
using observe::Logger;

std::optional<std::string> AnnotationOf(const kube::Node& node, const char* key) {
  const std::string* value = node.Annotation(key);
  if (value == nullptr) return std::nullopt;
  return *value;
}

}  // namespace

std::string AnnotationMergePatch(std::string_view key, std::string_view value,
                                 std::string_view expected_resource_version) {
  nlohmann::json metadata;
  if (!expected_resource_version.empty()) {
    metadata["resourceVersion"] = std::string(expected_resource_version);
  }
  metadata["annotations"][std::string(key)] = std::string(value);
  return nlohmann::json{{"metadata", metadata}}.dump();
}

AgentMetrics::AgentMetrics(observe::MetricsRegistry& registry)
    : decisions(registry.MustCounter("nodeguard_agent_decisions_total",
                                     "Decisions the node agent took on observed requests, by kind "
                                     "(Nothing, Refuse, Reconcile, Execute).",
                                     {"decision"})),
      actions(registry.MustCounter("nodeguard_agent_actions_total",
                                   "Actions the node agent ran, by action and result.",
                                   {"action", "result"})),
      action_duration(
          registry.MustHistogram("nodeguard_agent_action_duration_seconds",
                                 "Time the node agent's action commands took, by action.",
                                 {"action"}, {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300})),
      status_write_errors(
          registry.MustCounter("nodeguard_agent_status_write_errors_total",
                               "Writes of the nodeguard.io/agent-status annotation that failed.")),
      not_asked(registry.MustCounter(
          "nodeguard_agent_requests_not_asked_total",
          "Agent requests not acted on because the node's nodeguard.io/remediation state does "
          "not ask for them, by reason (NoState, UnreadableState, NotActionRequested, "
          "OtherRequest); once per request and reason per agent process.",
          {"reason"})) {
  // Every reason exported from the start (at 0), so a dashboard or alert
  // sees the series before the first stale request.
  for (NotAskedReason r : {NotAskedReason::kNoState, NotAskedReason::kUnreadableState,
                           NotAskedReason::kNotActionRequested, NotAskedReason::kOtherRequest}) {
    (void)not_asked.WithLabels({NotAskedReasonName(r)});
  }
}

Result<std::string> ReadBootIdFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::NotFound("cannot read the boot ID from " + path);
  std::string line;
  std::getline(in, line);
  const size_t begin = line.find_first_not_of(" \t\r");
  const size_t end = line.find_last_not_of(" \t\r");
  if (begin == std::string::npos) return Error::Invalid(path + " holds no boot ID");
  return line.substr(begin, end - begin + 1);
}

Agent::Agent(NodeApi& api, Commands& commands, Clock& clock, AgentOptions options,
             AgentMetrics* metrics)
    : api_(api),
      commands_(commands),
      clock_(clock),
      options_(std::move(options)),
      metrics_(metrics) {}

Result<std::string> Agent::WriteStatus(const kube::Node& node, const AgentStatus& status,
                                       const std::string& expected_resource_version) {
  auto written =
      api_.SetAnnotation(node.meta.name, kAgentStatusAnnotation,
                         agentproto::EncodeAgentStatus(status), expected_resource_version);
  if (written.ok() && written->empty()) {
    written = Error::Internal("the API server confirmed no resourceVersion");
  }
  if (!written.ok()) {
    if (metrics_) metrics_->status_write_errors.Get().Inc();
    Log().Warn("agent status write failed", {{"node", node.meta.name},
                                             {"request", status.id},
                                             {"state", AgentStateName(status.state)},
                                             {"error", written.error().ToString()}});
  }
  return written;
}

void Agent::Count(std::string_view action, std::string_view result, double seconds) {
  if (!metrics_) return;
  metrics_->actions.WithLabels({std::string(action), std::string(result)}).Inc();
  if (seconds >= 0) metrics_->action_duration.WithLabels({std::string(action)}).Observe(seconds);
}

void Agent::RetryPendingFinal(const kube::Node& node) {
  if (!pending_final_) return;
  auto current = AnnotationOf(node, kAgentStatusAnnotation);
  std::optional<AgentStatus> recorded;
  if (current) {
    auto decoded = agentproto::DecodeAgentStatus(*current);
    if (decoded.ok()) recorded = *decoded;
  }
  // Only while the Node still shows our unfinished status for that id: a
  // newer request (or a final status) means the pending write is obsolete.
  if (!recorded || recorded->id != pending_final_->id || agentproto::IsFinal(recorded->state)) {
    pending_final_.reset();
    return;
  }
  if (WriteStatus(node, *pending_final_, "").ok()) pending_final_.reset();
}

void Agent::OnNodeUpdate(const kube::Node& node) {
  RetryPendingFinal(node);

  AgentObservation observed;
  observed.request_json = AnnotationOf(node, kAgentRequestAnnotation);
  observed.status_json = AnnotationOf(node, kAgentStatusAnnotation);
  observed.boot_id = node.boot_id;
  observed.now = clock_.Now();
  observed.state_json = AnnotationOf(node, kRemediationStateAnnotation);
  observed.host_boot_id = options_.host_boot_id;
  Decision decision = Decide(observed, local_, options_.decide);
  if (metrics_) metrics_->decisions.WithLabels({DecisionKindName(decision.kind)}).Inc();

  switch (decision.kind) {
    case DecisionKind::kNothing:
      if (decision.not_asked != NotAskedReason::kNone) {
        const char* why = NotAskedReasonName(decision.not_asked);
        // Re-decided on every Node update and recheck: say it once (the set
        // is bounded; a request id is seen at most a few times a day).
        if (not_asked_seen_.size() > 1000) not_asked_seen_.clear();
        if (not_asked_seen_.insert(std::string(why) + "/" + decision.not_asked_id).second) {
          if (metrics_) metrics_->not_asked.WithLabels({why}).Inc();
          Log().Info("not acting on a request the remediation state does not ask for",
                     {{"node", node.meta.name},
                      {"request", decision.not_asked_id},
                      {"why", why},
                      {"reason", decision.reason}});
        }
        return;
      }
      Log().Debug("nothing to do", {{"node", node.meta.name}, {"reason", decision.reason}});
      return;
    case DecisionKind::kRefuse:
    case DecisionKind::kReconcile: {
      Log().Info(decision.kind == DecisionKind::kRefuse ? "refusing request" : "closing request",
                 {{"node", node.meta.name},
                  {"request", decision.status.id},
                  {"state", AgentStateName(decision.status.state)},
                  {"reason", decision.reason}});
      // Conditional on the version decided from: a newer request must be
      // decided afresh, not overwritten by this answer to an older one.
      (void)WriteStatus(node, decision.status, node.meta.resource_version);
      return;
    }
    case DecisionKind::kExecute:
      Execute(node, decision);
      return;
  }
}

void Agent::Execute(const kube::Node& node, const Decision& decision) {
  const AgentRequest& request = *decision.request;
  const char* action = AgentActionName(request.action);
  Logger log = Log().With({{"node", node.meta.name}, {"request", request.id}, {"action", action}});
  local_.requests[request.id] = LocalStage::kNotStarted;

  // Accepted, then Running, each conditional on the version before it, so
  // nothing runs unless the API server stored "Running" on top of exactly
  // the Node version this decision was made from.
  auto accepted = WriteStatus(node, decision.accepted, node.meta.resource_version);
  if (!accepted.ok()) {
    log.Warn("not running: the Accepted status was not stored");
    return;
  }
  AgentStatus running = decision.status;
  running.message = commands_.Describe(request.action, node);
  auto confirmed = WriteStatus(node, running, *accepted);
  if (!confirmed.ok()) {
    log.Warn("not running: the Running status was not stored");
    return;
  }
  local_.requests[request.id] = LocalStage::kStarted;
  log.Info("running action", {{"boot_id", running.boot_id}, {"command", running.message}});

  const MonoTime started = clock_.Monotonic();
  Result<std::string> outcome = commands_.Execute(request.action, node);
  const double seconds = std::chrono::duration<double>(clock_.Monotonic() - started).count();

  if (outcome.ok() && request.action == AgentAction::kReboot) {
    // Stays Running: the next agent process sees the new bootID and marks it Done.
    Count(action, "started", seconds);
    log.Info("reboot started; Done once the node is back with a new bootID",
             {{"result", *outcome}});
    return;
  }
  AgentStatus final_status = running;
  final_status.finished_at = clock_.Now();
  if (outcome.ok()) {
    final_status.state = AgentState::kDone;
    final_status.message = *outcome;
    Count(action, "succeeded", seconds);
    log.Info("action succeeded", {{"result", *outcome}});
  } else {
    final_status.state = AgentState::kFailed;
    final_status.message = outcome.error().message;
    Count(action, "failed", seconds);
    log.Error("action failed", {{"error", outcome.error().ToString()}});
  }
  // Unconditional: only the agent writes this annotation, and the Node has
  // likely changed while the command ran.
  if (!WriteStatus(node, final_status, "").ok()) pending_final_ = final_status;
}

}  // namespace nodeguard::agent
