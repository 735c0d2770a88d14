#include "agent/decide.h"

#include "common/duration.h"
#include "common/time.h"

namespace nodeguard::agent {

namespace {

using agentproto::AgentActionName;
using agentproto::AgentStateName;

Decision Nothing(std::string reason) {
  Decision d;
  d.kind = DecisionKind::kNothing;
  d.reason = std::move(reason);
  return d;
}

// A Failed status for a request that is never run.
Decision Refuse(const std::string& id, const AgentObservation& observed, std::string why) {
  Decision d;
  d.kind = DecisionKind::kRefuse;
  d.reason = "refused: " + why;
  d.status.id = id;
  d.status.state = AgentState::kFailed;
  d.status.message = d.reason;
  d.status.boot_id = observed.current_boot_id();
  d.status.finished_at = observed.now;
  return d;
}

// The final status of an action found Accepted or Running that this process
// is not carrying out. Keeps the bootID and start time recorded with it.
Decision Reconcile(const AgentStatus& recorded, const AgentObservation& observed,
                   AgentState final_state, std::string message) {
  Decision d;
  d.kind = DecisionKind::kReconcile;
  d.reason = message;
  d.status = recorded;
  d.status.state = final_state;
  d.status.message = std::move(message);
  if (d.status.boot_id.empty()) d.status.boot_id = observed.current_boot_id();
  d.status.finished_at = observed.now;
  return d;
}

bool Rebooted(const AgentStatus& recorded, const AgentObservation& observed) {
  return !recorded.boot_id.empty() && !observed.current_boot_id().empty() &&
         recorded.boot_id != observed.current_boot_id();
}

std::string BootChange(const AgentStatus& recorded, const AgentObservation& observed) {
  return "boot id " + recorded.boot_id + " -> " + observed.current_boot_id();
}

// The status already answers this request id. Returns nullopt when this
// process tried the id before without running it: the caller may run it now.
std::optional<Decision> DecideKnown(const AgentStatus& recorded,
                                    const Result<AgentRequest>& request, const LocalStage* stage,
                                    const AgentObservation& observed) {
  const std::string state = AgentStateName(recorded.state);
  if (agentproto::IsFinal(recorded.state)) {
    return Nothing("request " + recorded.id + " is already " + state);
  }
  // Accepted or Running: started by this process, by an earlier one, or
  // before a reboot. A reboot is checked first: in simulate mode the node
  // "reboots" while this process keeps running.
  const bool is_reboot = request.ok() && request->action == AgentAction::kReboot;
  if (Rebooted(recorded, observed)) {
    if (recorded.state == AgentState::kRunning && is_reboot) {
      return Reconcile(recorded, observed, AgentState::kDone,
                       "rebooted (" + BootChange(recorded, observed) + ")");
    }
    if (recorded.state == AgentState::kRunning) {
      return Reconcile(recorded, observed, AgentState::kFailed,
                       "interrupted by a reboot of the node (" + BootChange(recorded, observed) +
                           "); not run again");
    }
    return Reconcile(recorded, observed, AgentState::kFailed,
                     "the node rebooted before the action started (" +
                         BootChange(recorded, observed) + "); not run");
  }
  if (stage != nullptr && *stage == LocalStage::kStarted) {
    return Nothing("request " + recorded.id + " is " + state + " in this agent");
  }
  if (stage != nullptr && *stage == LocalStage::kNotStarted) {
    return std::nullopt;  // Our own write landed late; the command never ran.
  }
  if (recorded.state == AgentState::kRunning) {
    return Reconcile(recorded, observed, AgentState::kFailed,
                     "interrupted: the agent restarted while the action was running; not run "
                     "again");
  }
  return Reconcile(recorded, observed, AgentState::kFailed,
                   "the agent restarted before the action started; not run");
}

}  // namespace

const char* DecisionKindName(DecisionKind kind) {
  switch (kind) {
    case DecisionKind::kNothing:
      return "Nothing";
    case DecisionKind::kRefuse:
      return "Refuse";
    case DecisionKind::kReconcile:
      return "Reconcile";
    case DecisionKind::kExecute:
      return "Execute";
  }
  return "Nothing";
}

Decision Decide(const AgentObservation& observed, const LocalView& local,
                const DecideOptions& options) {
  if (!observed.request_json) return Nothing("no request");

  Result<AgentRequest> request = agentproto::DecodeAgentRequest(*observed.request_json);
  // A request that fails to decode is refused under its own id when it has a
  // readable one, else under "" (a status the controller can still show).
  const std::string id =
      request.ok() ? request->id : agentproto::PeekRequestId(*observed.request_json).value_or("");

  std::optional<AgentStatus> recorded;
  std::string status_error;
  if (observed.status_json) {
    auto decoded = agentproto::DecodeAgentStatus(*observed.status_json);
    if (decoded.ok()) {
      recorded = std::move(decoded).value();
    } else {
      status_error = decoded.error().message;
    }
  }
  const LocalStage* stage = id.empty() ? nullptr : local.Find(id);

  if (recorded && recorded->id == id) {
    if (auto known = DecideKnown(*recorded, request, stage, observed)) return *known;
  } else if (stage != nullptr && *stage == LocalStage::kStarted) {
    // Our Running write was confirmed but this copy of the Node predates it.
    return Nothing("request " + id + " was started by this agent; waiting for the watch");
  }

  // Nothing is written for a request the controller does not ask for (any
  // more): it may have been withdrawn with a terminal state, or be an hour old.
  if (const AskCheck asked = StateAsksFor(observed.state_json, id); !asked.asked()) {
    Decision d = Nothing("not asked: " + asked.detail);
    d.not_asked = asked.reason;
    d.not_asked_id = id;
    return d;
  }
  if (!request.ok()) return Refuse(id, observed, "malformed request: " + request.error().message);
  if (!status_error.empty()) {
    return Refuse(id, observed,
                  "the status annotation is unreadable (" + status_error +
                      "); not running anything without knowing what ran before");
  }
  const char* action = AgentActionName(request->action);
  if (options.max_request_age.count() > 0 &&
      observed.now - request->requested_at > options.max_request_age) {
    return Refuse(id, observed,
                  "stale request: requested at " + FormatRfc3339(request->requested_at) +
                      ", more than " + FormatGoDuration(options.max_request_age) + " ago");
  }
  if (options.enabled_actions.count(request->action) == 0) {
    return Refuse(id, observed, std::string("action ") + action + " is disabled on this agent");
  }
  if (request->action == AgentAction::kReboot && observed.current_boot_id().empty()) {
    return Refuse(id, observed, "the node reports no bootID, so a reboot could not be verified");
  }

  Decision d;
  d.kind = DecisionKind::kExecute;
  d.reason = std::string("execute ") + action + " for request " + id;
  d.request = *request;
  d.accepted.id = id;
  d.accepted.state = AgentState::kAccepted;
  d.accepted.message = std::string("accepted ") + action;
  d.accepted.boot_id = observed.current_boot_id();
  d.status = d.accepted;
  d.status.state = AgentState::kRunning;
  d.status.message = std::string("running ") + action;
  d.status.started_at = observed.now;
  return d;
}

}  // namespace nodeguard::agent
