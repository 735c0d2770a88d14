#include "remediation/decide.h"

#include <algorithm>
#include <utility>

namespace nodeguard::remediation {
namespace {

using api::RemediationAction;
using health::Verdict;

std::string Fmt(Duration d) {
  return FormatGoDuration(std::chrono::duration_cast<std::chrono::seconds>(d));
}

WallTime Plus(WallTime t, Duration d) {
  return t + std::chrono::duration_cast<WallTime::duration>(d);
}

std::optional<AgentAction> ToAgentAction(RemediationAction a) {
  switch (a) {
    case RemediationAction::kRestartContainerRuntime:
      return AgentAction::kRestartContainerRuntime;
    case RemediationAction::kRestartKubelet:
      return AgentAction::kRestartKubelet;
    case RemediationAction::kReboot:
      return AgentAction::kReboot;
    case RemediationAction::kExternal:
      return std::nullopt;
  }
  return std::nullopt;
}

void MinRequeue(std::optional<Duration>& slot, Duration d) {
  if (d < Duration(0)) d = Duration(0);
  if (!slot || d < *slot) slot = d;
}

// Everything one step needs about the policy, shared by the node handlers.
struct Step {
  const DecideInput& in;
  WallTime now;
  const api::RemediationSpec& spec;
};

// The handlers below mutate a copy of the node's state and append intents.
class NodeStep {
 public:
  NodeStep(const Step& step, const NodeObservation& obs, NodeDecision& d)
      : step_(step), obs_(obs), node_(*obs.node), d_(d) {}

  bool healthy() const { return obs_.health.verdict == Verdict::kHealthy; }
  bool unschedulable() const { return node_.unschedulable; }

  void Write(RemediationState s) {
    d_.intents.push_back(Intent::WriteState(s));
    d_.state = std::move(s);
  }
  void Event(EventType type, std::string reason, std::string message) {
    d_.intents.push_back(Intent::Event(type, std::move(reason), std::move(message)));
  }
  void SetHold(Hold hold, std::string note) {
    d_.hold = hold;
    d_.note = std::move(note);
  }
  void Note(std::string note) { d_.note = std::move(note); }

  // Ends a remediation before any action. Uncordons only what nodeguard
  // cordoned, and only a healthy node.
  void Cancel(RemediationState s, Outcome outcome, std::string why) {
    if (s.phase == Phase::kDraining) d_.intents.push_back(Intent::CancelDrain(s.id));
    const bool ours_cordon = s.cordoned_by_us && unschedulable();
    if (ours_cordon && healthy()) {
      d_.intents.push_back(Intent::Uncordon());
      why += "; uncordoned";
    } else if (ours_cordon) {
      why += "; left cordoned because the node is still unhealthy";
    }
    s.phase = Phase::kCancelled;
    s.outcome = outcome;
    s.finished_at = step_.now;
    s.phase_since = step_.now;
    s.message = why;
    Write(std::move(s));
    Event(EventType::kNormal, "RemediationCancelled", why);
    Note(why);
  }

  void Fail(RemediationState s, Outcome outcome, std::string why) {
    if (s.phase == Phase::kDraining) d_.intents.push_back(Intent::CancelDrain(s.id));
    if (s.cordoned_by_us && unschedulable()) why += "; node left cordoned for a human";
    s.phase = Phase::kFailed;
    s.outcome = outcome;
    s.finished_at = step_.now;
    s.phase_since = step_.now;
    s.message = why;
    Write(std::move(s));
    Event(EventType::kWarning, "RemediationFailed", why);
    Note(why);
  }

  void Succeed(RemediationState s) {
    std::string why = "node recovered";
    if (s.action) why += " after " + std::string(api::RemediationActionName(*s.action));
    why += " and stayed Ready for " + Fmt(step_.spec.recovery_stable_for);
    if (s.cordoned_by_us && unschedulable()) {
      d_.intents.push_back(Intent::Uncordon());
      why += "; uncordoned";
    } else if (!s.cordoned_by_us && unschedulable()) {
      why += "; left cordoned (cordoned by someone else)";
    }
    s.phase = Phase::kSucceeded;
    s.outcome = Outcome::kRecovered;
    s.finished_at = step_.now;
    s.phase_since = step_.now;
    s.message = why;
    Write(std::move(s));
    Event(EventType::kNormal, "RemediationSucceeded", why);
    Note(why);
  }

  std::optional<WallTime> DrainDeadline(WallTime drain_started) const {
    if (step_.spec.drain.timeout <= Duration(0)) return std::nullopt;
    return Plus(drain_started, step_.spec.drain.timeout);
  }

  // Requests rung `index` of the ladder. The state is written before the
  // request so a crash in between re-sends the same request id.
  void EnterRung(RemediationState s, size_t index, const std::string& why) {
    const RemediationAction action = step_.spec.actions[index];
    const int rung = static_cast<int>(index);
    s.phase = Phase::kActionRequested;
    s.action = action;
    s.action_index = rung;
    s.phase_since = step_.now;
    s.action_requested_at = step_.now;
    s.boot_id_before = node_.boot_id;
    const std::string rung_text =
        "rung " + std::to_string(index + 1) + " of " + std::to_string(step_.spec.actions.size());
    const auto agent_action = ToAgentAction(action);
    s.request_id = agent_action ? RequestId(s.id, rung) : "";
    std::string message = why.empty() ? "" : why + "; ";
    message += "requested " + std::string(api::RemediationActionName(action)) + " (" + rung_text +
               (agent_action ? ", request " + s.request_id : "") + ")";
    s.message = message;
    Write(s);
    if (agent_action) {
      AgentRequest request;
      request.id = s.request_id;
      request.action = *agent_action;
      request.requested_at = step_.now;
      request.requester = "nodeguard/" + step_.in.policy;
      d_.intents.push_back(Intent::RequestAgentAction(std::move(request)));
      Event(why.empty() ? EventType::kNormal : EventType::kWarning,
            why.empty() ? "ActionRequested" : "RemediationEscalated", message);
    } else {
      Event(EventType::kNormal, "ExternalRemediationRequested", message);
    }
    Note(message);
    MinRequeue(d_.requeue_after, step_.spec.action_timeout);
  }

  // The current rung did not bring the node back: the next one, or Failed.
  void Escalate(RemediationState s, const std::string& why) {
    if (step_.in.paused) {
      SetHold(Hold::kPaused, "paused; would escalate: " + why);
      return;
    }
    if (s.action_index < 0) {
      Fail(std::move(s), Outcome::kNotRecovered,
           "drained, but the node did not recover within actionTimeout " +
               Fmt(step_.spec.action_timeout) + " and the policy has no actions");
      return;
    }
    const size_t next = static_cast<size_t>(s.action_index) + 1;
    if (next < step_.spec.actions.size()) {
      EnterRung(std::move(s), next, why);
    } else {
      Fail(std::move(s), Outcome::kActionsExhausted, why + "; no rung left");
    }
  }

  bool Confirmed(const RemediationState& s) const {
    const bool boot_changed =
        !s.boot_id_before.empty() && !node_.boot_id.empty() && node_.boot_id != s.boot_id_before;
    switch (*s.action) {
      case RemediationAction::kReboot:
        return boot_changed;
      case RemediationAction::kRestartContainerRuntime:
      case RemediationAction::kRestartKubelet:
        return obs_.agent_status && obs_.agent_status->id == s.request_id &&
               obs_.agent_status->state == AgentState::kDone;
      case RemediationAction::kExternal:
        return healthy() || boot_changed;
    }
    return false;
  }

  void Advance(RemediationState s);

 private:
  const Step& step_;
  const NodeObservation& obs_;
  const kube::Node& node_;
  NodeDecision& d_;
};

void NodeStep::Advance(RemediationState s) {
  const WallTime now = step_.now;
  const bool paused = step_.in.paused;

  // A person or the policy took the node out of scope: step back.
  const Outcome step_back = !obs_.selected         ? Outcome::kNotSelected
                            : obs_.health.excluded ? Outcome::kExcluded
                            : !step_.spec.enabled  ? Outcome::kDisabled
                                                   : Outcome::kNone;
  if (step_back != Outcome::kNone) {
    Cancel(std::move(s), step_back,
           std::string("stepped back: ") +
               (step_back == Outcome::kNotSelected ? "the policy no longer selects the node"
                : step_back == Outcome::kExcluded ? "the node is labelled nodeguard.io/exclude=true"
                                                  : "remediation is disabled in the policy"));
    return;
  }

  switch (s.phase) {
    case Phase::kCordoned: {
      if (healthy()) {
        Cancel(std::move(s), Outcome::kRecoveredWithoutAction, "node recovered before any action");
      } else if (!unschedulable() && !s.cordoned_by_us) {
        Cancel(std::move(s), Outcome::kUncordonedExternally,
               "the cordon nodeguard took over was removed by someone else");
      } else if (paused) {
        SetHold(Hold::kPaused, "paused before draining");
      } else if (!unschedulable()) {
        // Our own cordon did not land (e.g. the process died after writing
        // the state): finish it.
        d_.intents.push_back(Intent::Cordon());
        Note("cordoning");
      } else {
        s.phase = Phase::kDraining;
        s.phase_since = now;
        s.message = "draining";
        const auto deadline = DrainDeadline(now);
        Write(s);
        d_.intents.push_back(Intent::StartDrain(s.id, deadline));
        Event(EventType::kNormal, "DrainStarted",
              "draining the node" +
                  (deadline ? " (timeout " + Fmt(step_.spec.drain.timeout) + ")" : std::string()));
        Note("draining");
        if (deadline) MinRequeue(d_.requeue_after, *deadline - now);
      }
      return;
    }

    case Phase::kDraining: {
      if (healthy()) {
        Cancel(std::move(s), Outcome::kRecoveredWithoutAction, "node recovered before any action");
        return;
      }
      if (!unschedulable()) {
        Cancel(std::move(s), Outcome::kUncordonedExternally,
               "someone uncordoned the node during the drain");
        return;
      }
      const auto deadline = DrainDeadline(s.phase_since);
      const auto kind =
          obs_.drain.remediation_id == s.id ? obs_.drain.kind : DrainObservation::kNotRunning;
      switch (kind) {
        case DrainObservation::kSucceeded:
          if (paused) {
            SetHold(Hold::kPaused, "drained; paused before the first action");
          } else if (step_.spec.actions.empty()) {
            s.phase = Phase::kAwaitingRecovery;
            s.phase_since = now;
            s.action_requested_at = now;
            s.message = obs_.drain.message.empty() ? "drained" : obs_.drain.message;
            s.message += "; no actions configured, waiting for the node to recover";
            Write(s);
            Event(EventType::kNormal, "Drained", s.message);
            Note(s.message);
            MinRequeue(d_.requeue_after, step_.spec.action_timeout);
          } else {
            const std::string drained = obs_.drain.message.empty() ? "drained" : obs_.drain.message;
            EnterRung(std::move(s), 0, "");
            Event(EventType::kNormal, "Drained", drained);
          }
          return;
        case DrainObservation::kTimedOut:
          Fail(std::move(s), Outcome::kDrainTimedOut,
               obs_.drain.message.empty() ? "drain timed out" : obs_.drain.message);
          return;
        case DrainObservation::kFailed:
          Fail(std::move(s), Outcome::kDrainFailed,
               obs_.drain.message.empty() ? "drain failed" : obs_.drain.message);
          return;
        case DrainObservation::kRunning:
          Note("draining");
          if (deadline) MinRequeue(d_.requeue_after, *deadline - now);
          return;
        case DrainObservation::kNotRunning:
          if (deadline && now >= *deadline) {
            Fail(std::move(s), Outcome::kDrainTimedOut,
                 "the drain did not finish within drain.timeout " + Fmt(step_.spec.drain.timeout) +
                     " (it was interrupted)");
          } else if (paused) {
            SetHold(Hold::kPaused, "paused during the drain");
          } else {
            // Resume: the drain is idempotent (evicted pods are gone) and keeps
            // its original deadline.
            d_.intents.push_back(Intent::StartDrain(s.id, deadline));
            Note("resuming the drain");
            if (deadline) MinRequeue(d_.requeue_after, *deadline - now);
          }
          return;
      }
      return;
    }

    case Phase::kActionRequested: {
      const WallTime deadline = Plus(*s.action_requested_at, step_.spec.action_timeout);
      const bool agent_action = ToAgentAction(*s.action).has_value();
      const bool status_for_us = obs_.agent_status && obs_.agent_status->id == s.request_id;
      if (Confirmed(s)) {
        s.phase = Phase::kAwaitingRecovery;
        s.phase_since = now;
        s.message = std::string(api::RemediationActionName(*s.action)) +
                    " confirmed; waiting for Ready for " + Fmt(step_.spec.recovery_stable_for);
        Write(s);
        Event(EventType::kNormal, "ActionConfirmed", s.message);
        Note(s.message);
        MinRequeue(d_.requeue_after, step_.spec.recovery_stable_for);
      } else if (agent_action && status_for_us && obs_.agent_status->state == AgentState::kFailed) {
        Escalate(std::move(s), std::string(api::RemediationActionName(*s.action)) +
                                   " failed on the node: " + obs_.agent_status->message);
      } else if (now >= deadline) {
        Escalate(std::move(s), std::string(api::RemediationActionName(*s.action)) +
                                   " was not confirmed within actionTimeout " +
                                   Fmt(step_.spec.action_timeout));
      } else {
        const bool request_present = obs_.agent_request && obs_.agent_request->id == s.request_id;
        if (agent_action && !request_present && !status_for_us) {
          if (paused) {
            SetHold(Hold::kPaused, "paused; the agent request was not delivered yet");
          } else {
            // The state was written but the request was not (or was lost):
            // send the same request again. The agent executes an id once.
            AgentRequest request;
            request.id = s.request_id;
            request.action = *ToAgentAction(*s.action);
            request.requested_at = *s.action_requested_at;
            request.requester = "nodeguard/" + step_.in.policy;
            d_.intents.push_back(Intent::RequestAgentAction(std::move(request)));
            Note("re-sending agent request " + s.request_id);
          }
        } else {
          Note("waiting for " + std::string(api::RemediationActionName(*s.action)) +
               (status_for_us
                    ? std::string(" (agent: ") + AgentStateName(obs_.agent_status->state) + ")"
                    : std::string()));
        }
        MinRequeue(d_.requeue_after, deadline - now);
      }
      return;
    }

    case Phase::kAwaitingRecovery: {
      const auto ready_since = health::ReadySince(node_);
      if (healthy() && ready_since) {
        const WallTime stable_from = std::max(*ready_since, s.phase_since);
        const Duration stable = now - stable_from;
        if (stable >= step_.spec.recovery_stable_for) {
          Succeed(std::move(s));
        } else {
          Note("Ready; verifying it stays Ready for " + Fmt(step_.spec.recovery_stable_for));
          MinRequeue(d_.requeue_after, step_.spec.recovery_stable_for - stable);
        }
        return;
      }
      const WallTime deadline = Plus(*s.action_requested_at, step_.spec.action_timeout);
      if (now >= deadline) {
        Escalate(std::move(s),
                 "the node did not stay Ready within actionTimeout " +
                     Fmt(step_.spec.action_timeout) +
                     (s.action ? " after " + std::string(api::RemediationActionName(*s.action))
                               : std::string()));
      } else {
        Note("waiting for the node to become Ready");
        MinRequeue(d_.requeue_after, deadline - now);
      }
      return;
    }

    case Phase::kPending:
    case Phase::kSucceeded:
    case Phase::kFailed:
    case Phase::kCancelled:
      return;  // Not handled here.
  }
}

// Attempt number and cooldown anchor a new (or pending) remediation inherits.
struct History {
  int32_t attempt = 1;
  std::optional<WallTime> anchor;  // End of the previous remediation that started.
};

History HistoryFor(const std::optional<RemediationState>& prev, const NodeObservation& obs,
                   const api::RemediationSpec& spec) {
  History h;
  if (!prev) return h;
  if (prev->phase == Phase::kPending) {
    h.attempt = prev->attempt;
    h.anchor = prev->previous_finished_at;
    return h;
  }
  const bool started = prev->started_at.has_value();
  h.anchor = started ? prev->finished_at : prev->previous_finished_at;
  const int32_t before = started ? prev->attempt : prev->attempt - 1;
  // The count restarts once the node stayed healthy for a cooldown after the
  // previous remediation ended (it fell sick again only at health.since).
  const bool reset = h.anchor && obs.health.since - *h.anchor >= spec.cooldown;
  h.attempt = reset ? 1 : before + 1;
  return h;
}

}  // namespace

// ------------------------------------------------------------------ helpers

const char* IntentKindName(IntentKind k) {
  switch (k) {
    case IntentKind::kWriteState:
      return "WriteState";
    case IntentKind::kCordon:
      return "Cordon";
    case IntentKind::kUncordon:
      return "Uncordon";
    case IntentKind::kStartDrain:
      return "StartDrain";
    case IntentKind::kCancelDrain:
      return "CancelDrain";
    case IntentKind::kRequestAgentAction:
      return "RequestAgentAction";
    case IntentKind::kEmitEvent:
      return "EmitEvent";
  }
  return "EmitEvent";
}

const char* HoldName(Hold h) {
  switch (h) {
    case Hold::kNone:
      return "";
    case Hold::kPaused:
      return "Paused";
    case Hold::kDisabled:
      return "Disabled";
    case Hold::kStorm:
      return "Storm";
    case Hold::kBudget:
      return "Budget";
    case Hold::kCooldown:
      return "Cooldown";
    case Hold::kMaxAttempts:
      return "MaxAttempts";
    case Hold::kCordonedByPerson:
      return "CordonedByPerson";
    case Hold::kExcluded:
      return "Excluded";
    case Hold::kOwnedByOtherPolicy:
      return "OwnedByOtherPolicy";
    case Hold::kFailedAwaitingHuman:
      return "FailedAwaitingHuman";
    case Hold::kMalformedState:
      return "MalformedState";
  }
  return "";
}

Intent Intent::WriteState(RemediationState s) {
  Intent i;
  i.kind = IntentKind::kWriteState;
  i.state = std::move(s);
  return i;
}
Intent Intent::Cordon() {
  Intent i;
  i.kind = IntentKind::kCordon;
  return i;
}
Intent Intent::Uncordon() {
  Intent i;
  i.kind = IntentKind::kUncordon;
  return i;
}
Intent Intent::StartDrain(std::string remediation_id, std::optional<WallTime> deadline) {
  Intent i;
  i.kind = IntentKind::kStartDrain;
  i.remediation_id = std::move(remediation_id);
  i.drain_deadline = deadline;
  return i;
}
Intent Intent::CancelDrain(std::string remediation_id) {
  Intent i;
  i.kind = IntentKind::kCancelDrain;
  i.remediation_id = std::move(remediation_id);
  return i;
}
Intent Intent::RequestAgentAction(AgentRequest request) {
  Intent i;
  i.kind = IntentKind::kRequestAgentAction;
  i.agent_request = std::move(request);
  return i;
}
Intent Intent::Event(EventType type, std::string reason, std::string message) {
  Intent i;
  i.kind = IntentKind::kEmitEvent;
  i.event_type = type;
  i.reason = std::move(reason);
  i.message = std::move(message);
  return i;
}

std::string RemediationId(std::string_view node, WallTime detected_at) {
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(detected_at.time_since_epoch()).count();
  return std::string(node) + "-" + std::to_string(seconds);
}

std::string RequestId(std::string_view remediation_id, int rung_index) {
  return std::string(remediation_id) + "-" + std::to_string(rung_index + 1);
}

NodeObservation Observe(const kube::Node& node, const health::HealthRules& rules, WallTime now,
                        DrainObservation drain, bool selected) {
  NodeObservation obs;
  obs.node = &node;
  obs.selected = selected;
  obs.health = health::Evaluate(node, rules, now);
  obs.drain = std::move(drain);
  if (const std::string* text = node.Annotation(kRemediationAnnotation)) {
    auto state = DecodeState(*text);
    if (state.ok()) {
      obs.state = std::move(state).value();
    } else {
      obs.state_error = state.error().message;
    }
  }
  if (const std::string* text = node.Annotation(kAgentRequestAnnotation)) {
    auto request = DecodeAgentRequest(*text);
    if (request.ok()) obs.agent_request = std::move(request).value();
  }
  if (const std::string* text = node.Annotation(kAgentStatusAnnotation)) {
    auto status = DecodeAgentStatus(*text);
    if (status.ok()) obs.agent_status = std::move(status).value();
  }
  return obs;
}

bool HoldsBudget(const NodeObservation& obs) {
  if (!obs.state_error.empty()) return obs.node->unschedulable;
  if (!obs.state) return false;
  if (IsDisruptive(obs.state->phase)) return true;
  return obs.state->phase == Phase::kFailed && obs.state->cordoned_by_us && obs.node->unschedulable;
}

std::string BudgetOwner(const NodeObservation& obs) {
  if (!obs.state_error.empty() || !obs.state) return "";
  return obs.state->policy;
}

int CountHeldByOthers(std::span<const NodeObservation> all_nodes, std::string_view policy) {
  int n = 0;
  for (const auto& obs : all_nodes)
    if (HoldsBudget(obs) && BudgetOwner(obs) != policy) ++n;
  return n;
}

const NodeDecision* PolicyDecision::Find(std::string_view node) const {
  for (const auto& d : nodes)
    if (d.node == node) return &d;
  return nullptr;
}

std::vector<std::pair<std::string, Intent>> PolicyDecision::AllIntents() const {
  std::vector<std::pair<std::string, Intent>> out;
  for (const auto& d : nodes)
    for (const auto& i : d.intents) out.emplace_back(d.node, i);
  return out;
}

// ------------------------------------------------------------------ Decide

PolicyDecision Decide(const DecideInput& in, std::span<const NodeObservation> nodes) {
  const api::RemediationSpec& spec = in.spec;
  const WallTime now = in.now;
  const Step step{in, now, spec};
  PolicyDecision out;
  out.dry_run = in.dry_run;

  // Counts and the storm guard.
  for (const auto& obs : nodes) {
    if (!obs.selected) continue;
    ++out.selected;
    if (obs.health.verdict == Verdict::kUnhealthy) ++out.unhealthy;
  }
  out.max_unhealthy = static_cast<int>(spec.max_unhealthy.Resolve(out.selected, /*round_up=*/true));
  out.storm = out.unhealthy > out.max_unhealthy;
  if (out.storm) {
    out.storm_message = std::to_string(out.unhealthy) + " of " + std::to_string(out.selected) +
                        " selected nodes are unhealthy, more than maxUnhealthy " +
                        spec.max_unhealthy.ToString() + " (" + std::to_string(out.max_unhealthy) +
                        "); no new remediation starts";
  }
  if (out.storm && !in.storm_was_detected) {
    out.policy_events.push_back(
        Intent::Event(EventType::kWarning, "StormDetected", out.storm_message));
  } else if (!out.storm && in.storm_was_detected) {
    out.policy_events.push_back(
        Intent::Event(EventType::kNormal, "StormCleared",
                      std::to_string(out.unhealthy) + " of " + std::to_string(out.selected) +
                          " selected nodes are unhealthy, within maxUnhealthy " +
                          spec.max_unhealthy.ToString() + "; remediation resumes"));
  }

  // The budget, from the annotations as observed.
  for (const auto& obs : nodes)
    if (HoldsBudget(obs) && BudgetOwner(obs) == in.policy) ++out.in_flight;
  int slots = spec.max_concurrent - out.in_flight;
  if (in.global_max_concurrent > 0) {
    slots = std::min(slots, in.global_max_concurrent - out.in_flight - in.in_flight_other_policies);
  }
  slots = std::max(slots, 0);

  // Deterministic order: by node name.
  std::vector<const NodeObservation*> order;
  order.reserve(nodes.size());
  for (const auto& obs : nodes) order.push_back(&obs);
  std::sort(order.begin(), order.end(), [](const NodeObservation* a, const NodeObservation* b) {
    return a->node->meta.name < b->node->meta.name;
  });

  std::vector<NodeDecision> decisions(order.size());
  struct Candidate {
    size_t index;
    WallTime since;
  };
  std::vector<Candidate> candidates;

  for (size_t i = 0; i < order.size(); ++i) {
    const NodeObservation& obs = *order[i];
    NodeDecision& d = decisions[i];
    d.node = obs.node->meta.name;
    NodeStep ns(step, obs, d);
    const bool unhealthy = obs.health.verdict == Verdict::kUnhealthy;

    if (!obs.state_error.empty()) {
      ns.SetHold(Hold::kMalformedState,
                 "unreadable " + std::string(kRemediationAnnotation) +
                     " annotation, not acting on the node: " + obs.state_error);
      out.malformed.push_back(d.node);
      continue;
    }
    const bool ours = obs.state && obs.state->policy == in.policy;
    if (obs.state && !ours && !IsTerminal(obs.state->phase)) {
      ns.SetHold(Hold::kOwnedByOtherPolicy, "remediated by policy " + obs.state->policy);
      continue;
    }
    if (ours) d.state = obs.state;
    if (ours && !IsTerminal(obs.state->phase) && obs.state->phase != Phase::kPending) {
      ns.Advance(*obs.state);
      continue;
    }
    if (obs.state && obs.state->phase == Phase::kFailed && obs.state->cordoned_by_us &&
        obs.node->unschedulable) {
      ns.SetHold(Hold::kFailedAwaitingHuman,
                 "remediation failed; nodeguard's cordon stays until a person uncordons the node");
      out.failed.push_back(d.node);
      continue;
    }

    const bool pending = ours && obs.state->phase == Phase::kPending;
    // Pending that no longer applies.
    if (pending) {
      const RemediationState& s = *obs.state;
      if (!obs.selected) {
        ns.Cancel(s, Outcome::kNotSelected, "the policy no longer selects the node");
        continue;
      }
      if (obs.health.excluded) {
        ns.Cancel(s, Outcome::kExcluded, "the node is labelled nodeguard.io/exclude=true");
        continue;
      }
      if (!spec.enabled) {
        ns.Cancel(s, Outcome::kDisabled, "remediation is disabled in the policy");
        continue;
      }
      if (obs.health.verdict == Verdict::kHealthy) {
        ns.Cancel(s, Outcome::kRecoveredWithoutAction,
                  "node recovered while waiting; never cordoned");
        continue;
      }
    }
    if (!obs.selected || !unhealthy) {
      if (pending) {
        // Sick again but the condition restarted its clock: keep waiting.
        ns.Note("condition changed; waiting " + Fmt(obs.health.remaining) + " more");
        MinRequeue(d.requeue_after, obs.health.remaining);
      } else if (obs.selected && obs.health.verdict == Verdict::kPending && !obs.health.excluded) {
        MinRequeue(d.requeue_after, obs.health.remaining);
      }
      continue;
    }
    if (obs.health.excluded) {
      ns.SetHold(Hold::kExcluded, "unhealthy but labelled nodeguard.io/exclude=true");
      continue;
    }
    if (!spec.enabled) {
      ns.SetHold(Hold::kDisabled, "unhealthy; remediation is disabled in the policy");
      continue;
    }
    candidates.push_back({i, obs.health.since});
  }

  // Start the longest-unhealthy candidates first, within the budget.
  std::sort(candidates.begin(), candidates.end(), [&](const Candidate& a, const Candidate& b) {
    if (a.since != b.since) return a.since < b.since;
    return decisions[a.index].node < decisions[b.index].node;
  });
  for (const Candidate& c : candidates) {
    const NodeObservation& obs = *order[c.index];
    NodeDecision& d = decisions[c.index];
    NodeStep ns(step, obs, d);
    const bool pending =
        obs.state && obs.state->policy == in.policy && obs.state->phase == Phase::kPending;
    const std::string sick = obs.health.Describe(now);

    if (in.paused) {
      ns.SetHold(Hold::kPaused, "unhealthy; policy paused");
      continue;
    }
    if (out.storm) {
      ns.SetHold(Hold::kStorm, "unhealthy; storm: " + out.storm_message);
      continue;
    }

    const History h = HistoryFor(obs.state, obs, spec);
    Hold hold = Hold::kNone;
    std::string note;
    if (h.anchor && now < Plus(*h.anchor, spec.cooldown)) {
      hold = Hold::kCooldown;
      const Duration left = Plus(*h.anchor, spec.cooldown) - now;
      note = "cooldown: previous remediation ended " + Fmt(now - *h.anchor) + " ago, " + Fmt(left) +
             " left";
      MinRequeue(d.requeue_after, left);
    } else if (h.attempt > spec.max_attempts_per_node) {
      hold = Hold::kMaxAttempts;
      note = "attempt " + std::to_string(h.attempt) + " would exceed maxAttemptsPerNode " +
             std::to_string(spec.max_attempts_per_node) + "; needs a person";
      out.max_attempts_reached.push_back(d.node);
    } else if (obs.node->unschedulable && !spec.take_over_cordoned_nodes) {
      hold = Hold::kCordonedByPerson;
      note = "cordoned by someone else; left alone (takeOverCordonedNodes is false)";
      out.cordoned_by_person.push_back(d.node);
    } else if (slots == 0) {
      hold = Hold::kBudget;
      note = "waiting for a remediation slot (" + std::to_string(out.in_flight) + "/" +
             std::to_string(spec.max_concurrent) + " in this policy" +
             (in.global_max_concurrent > 0
                  ? ", " + std::to_string(out.in_flight + in.in_flight_other_policies) + "/" +
                        std::to_string(in.global_max_concurrent) + " overall"
                  : std::string()) +
             ")";
    }

    RemediationState s;
    if (pending) {
      s = *obs.state;
    } else {
      s.id = RemediationId(d.node, now);
      s.policy = in.policy;
      s.phase = Phase::kPending;
      s.attempt = h.attempt;
      s.detected_at = now;
      s.phase_since = now;
      s.previous_finished_at = h.anchor;
    }

    if (hold != Hold::kNone) {
      ns.SetHold(hold, note);
      if (!pending) {
        s.message = note;
        ns.Write(s);
        ns.Event(EventType::kNormal, "RemediationPending", sick + "; " + note);
      }
      continue;
    }

    // Start: the state is written before the cordon so a crash in between
    // leaves a state that says "ours" and the next step finishes the cordon.
    --slots;
    ++out.started;
    const bool taken_over = obs.node->unschedulable;
    s.phase = Phase::kCordoned;
    s.started_at = now;
    s.phase_since = now;
    s.cordoned_by_us = !taken_over;
    s.message =
        taken_over ? "took over a node cordoned by someone else; it stays cordoned" : "cordoned";
    ns.Write(s);
    if (!taken_over) d.intents.push_back(Intent::Cordon());
    ns.Event(EventType::kNormal, taken_over ? "RemediationTookOver" : "RemediationStarted",
             sick + "; attempt " + std::to_string(s.attempt) + " of " +
                 std::to_string(spec.max_attempts_per_node) + "; " + s.message);
    ns.Note(s.message);
  }

  for (auto& d : decisions) {
    if (d.intents.empty() && d.hold == Hold::kNone && d.note.empty() && !d.requeue_after &&
        !(d.state && !IsTerminal(d.state->phase)))
      continue;
    if (d.requeue_after) MinRequeue(out.requeue_after, *d.requeue_after);
    if (d.state && d.state->phase != Phase::kPending && !IsTerminal(d.state->phase)) {
      out.remediations.push_back(ToStatus(d.node, *d.state));
    }
    out.nodes.push_back(std::move(d));
  }
  return out;
}

}  // namespace nodeguard::remediation
