#include "remediation/decide.h"

#include <algorithm>
#include <utility>

namespace nodeguard::remediation {

using agentproto::AgentAction;
using agentproto::AgentRequest;
using agentproto::AgentState;
using agentproto::AgentStateName;
using agentproto::DecodeAgentRequest;
using agentproto::DecodeAgentStatus;
using agentproto::kAgentRequestAnnotation;
using agentproto::kAgentStatusAnnotation;

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
  bool storm = false;
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
  void Requeue(Duration d) { MinRequeue(d_.requeue_after, d); }

  // Before a state is written as finished: a request the agent has not run
  // must never run later (the agent also checks the state, see agent/decide.h).
  void WithdrawRequest() {
    if (obs_.agent_request) d_.intents.push_back(Intent::WithdrawAgentRequest());
  }

  // Lifts nodeguard's cordon in the patch that writes `s`. REQUIRES: CordonIsOurs.
  void Uncordon(RemediationState& s) {
    d_.intents.push_back(Intent::Uncordon());
    s.cordoned_by_us = false;
  }

  // Someone else lifted our cordon: forget it was ours, so a later cordon of
  // theirs is never taken for ours.
  static void ForgetLiftedCordon(RemediationState& s, bool unschedulable) {
    if (s.cordoned_by_us && !unschedulable) s.cordoned_by_us = false;
  }

  // The id of the drain a state in Draining owns, if any.
  static std::optional<std::string> RunningDrain(const RemediationState& s) {
    if (s.phase != Phase::kDraining) return std::nullopt;
    return s.id;
  }

  // Stops a drain only after the patch that ends its remediation: the steps
  // run in intent order and stop at a failed patch (a 409 on a busy node), so
  // the drain, and what it found (e.g. the PodDisruptionBudget that blocked
  // it), survive until the next decision can write them.
  void StopDrainAfterWrite(const std::optional<std::string>& drain) {
    if (drain) d_.intents.push_back(Intent::CancelDrain(*drain));
  }

  // Ends a remediation before any action. Uncordons only what nodeguard
  // cordoned, and only a healthy node; an unhealthy one keeps our cordon (and
  // its slot) until it is healthy, then Settle lifts it.
  void Cancel(RemediationState s, Outcome outcome, std::string why) {
    const std::optional<std::string> drain = RunningDrain(s);
    WithdrawRequest();
    ForgetLiftedCordon(s, unschedulable());
    if (s.cordoned_by_us && healthy()) {
      Uncordon(s);
      why += "; uncordoned";
    } else if (s.cordoned_by_us) {
      why += "; nodeguard keeps its cordon until the node is healthy, then lifts it";
    }
    s.phase = Phase::kCancelled;
    s.outcome = outcome;
    s.finished_at = step_.now;
    s.phase_since = step_.now;
    s.hold.clear();
    s.message = why;
    Write(std::move(s));
    StopDrainAfterWrite(drain);
    Event(EventType::kNormal, "RemediationCancelled", why);
    Note(why);
  }

  void Fail(RemediationState s, Outcome outcome, std::string why) {
    const std::optional<std::string> drain = RunningDrain(s);
    WithdrawRequest();
    ForgetLiftedCordon(s, unschedulable());
    if (s.cordoned_by_us) {
      why += "; node " + node_.meta.name +
             " left cordoned for a person: find the cause, then `kubectl uncordon " +
             node_.meta.name +
             "` (nodeguard lifts its cordon itself if the node recovers and "
             "stays healthy for " +
             Fmt(step_.spec.recovery_stable_for) + ")";
      if (step_.spec.hold_slot_after_failure > Duration(0)) {
        s.slot_held_until = Plus(step_.now, step_.spec.hold_slot_after_failure);
        why += "; its remediation slot is held for " + Fmt(step_.spec.hold_slot_after_failure);
      } else {
        why += "; its remediation slot is held until then";
      }
    }
    s.phase = Phase::kFailed;
    s.outcome = outcome;
    s.finished_at = step_.now;
    s.phase_since = step_.now;
    s.message = why;
    Write(std::move(s));
    StopDrainAfterWrite(drain);
    Event(EventType::kWarning, "RemediationFailed", why);
    Note(why);
  }

  void Succeed(RemediationState s) {
    std::string why = "node recovered";
    if (s.action) why += " after " + std::string(api::RemediationActionName(*s.action));
    why += " and stayed Ready for " + Fmt(step_.spec.recovery_stable_for);
    WithdrawRequest();
    ForgetLiftedCordon(s, unschedulable());
    if (s.cordoned_by_us) {
      Uncordon(s);
      why += "; uncordoned";
    } else if (unschedulable()) {
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

  // Gives the state to the policy that governs the node now; it carries on
  // under its own spec from where this one stopped.
  void HandOver(RemediationState s, const std::string& why) {
    const std::string to = obs_.governing_policy;
    s.message = "handed over from policy " + s.policy + " (" + why + ") to policy " + to;
    s.policy = to;
    Write(s);
    Event(EventType::kNormal, "RemediationHandedOver", s.message);
    Note(s.message);
    Requeue(Duration(0));
  }

  // Why this policy steps back from the node, or kNone.
  Outcome StepBack() const {
    if (step_.in.deleting) return Outcome::kPolicyDeleted;
    if (!obs_.selected) return Outcome::kNotSelected;
    if (obs_.health.excluded) return Outcome::kExcluded;
    if (!step_.spec.enabled) return Outcome::kDisabled;
    return Outcome::kNone;
  }
  static std::string StepBackText(Outcome o) {
    switch (o) {
      case Outcome::kPolicyDeleted:
        return "the policy is being deleted";
      case Outcome::kNotSelected:
        return "the policy no longer selects the node";
      case Outcome::kExcluded:
        return "the node is labelled nodeguard.io/exclude=true";
      default:
        return "remediation is disabled in the policy";
    }
  }
  // Another policy may take the node over when this one lets go of it
  // (deleted, or no longer selecting it), not when a person excluded the node
  // or the policy merely disabled remediation.
  bool CanHandOver(Outcome o) const {
    return (o == Outcome::kPolicyDeleted || o == Outcome::kNotSelected) &&
           !obs_.governing_policy.empty() && obs_.governing_policy != step_.in.policy;
  }

  // A finished remediation of ours: lift our cordon once the node is healthy
  // (a Failed one: healthy for recoveryStableFor), forget a cordon someone
  // else lifted, withdraw a leftover agent request. Returns true when the node
  // needs nothing else this step (its cordon is still ours, or it was just
  // handed over); false lets a new remediation be considered.
  bool Settle(RemediationState s);

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
      d_.intents.push_back(Intent::RequestAgentAction(AgentRequestFor(s)));
      Event(why.empty() ? EventType::kNormal : EventType::kWarning,
            why.empty() ? "ActionRequested" : "RemediationEscalated", message);
    } else {
      WithdrawRequest();  // External: no agent involved; a previous rung's request is done with.
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

  // Moves an unfinished remediation of ours one step along its phase
  // (see the table in decide.h), or hands it over / cancels it when this
  // policy steps back from the node.
  void Advance(RemediationState s);

 private:
  // One handler per unfinished phase, called by Advance once the policy
  // still governs the node.
  void AdvanceCordoned(RemediationState s);
  void AdvanceDraining(RemediationState s);
  void AdvanceActionRequested(RemediationState s);
  void AdvanceAwaitingRecovery(RemediationState s);

  // Cordoned -> Draining: writes the state first, then starts the drain, so a
  // crash in between resumes the drain under the same id.
  void StartDrain(RemediationState s);
  // The drain finished: the first rung, or (empty ladder) AwaitingRecovery.
  void AfterDrain(RemediationState s);
  // Draining, but no drain of ours runs (the controller restarted, or the
  // leader changed): resume it within its original deadline, or fail.
  void ResumeInterruptedDrain(RemediationState s, std::optional<WallTime> deadline);
  // ActionRequested, neither confirmed, failed, nor timed out yet. Re-sends a
  // request that never reached the node (crash between state and request).
  void WaitForAction(const RemediationState& s, bool agent_action, bool status_for_us);

  // The agent request for the state's current rung; one id per rung, so a
  // re-sent request is the same request. REQUIRES: s.action is an agent
  // action and s.action_requested_at is set.
  AgentRequest AgentRequestFor(const RemediationState& s) const {
    AgentRequest request;
    request.id = s.request_id;
    request.action = *ToAgentAction(*s.action);
    request.requested_at = *s.action_requested_at;
    request.requester = "nodeguard/" + step_.in.policy;
    return request;
  }

  const Step& step_;
  const NodeObservation& obs_;
  const kube::Node& node_;
  NodeDecision& d_;
};

void NodeStep::Advance(RemediationState s) {
  // A person or the policy took the node out of scope: hand over or step back.
  if (const Outcome step_back = StepBack(); step_back != Outcome::kNone) {
    if (CanHandOver(step_back)) {
      HandOver(std::move(s), StepBackText(step_back));
    } else {
      Cancel(std::move(s), step_back, "stepped back: " + StepBackText(step_back));
    }
    return;
  }

  switch (s.phase) {
    case Phase::kCordoned:
      AdvanceCordoned(std::move(s));
      return;
    case Phase::kDraining:
      AdvanceDraining(std::move(s));
      return;
    case Phase::kActionRequested:
      AdvanceActionRequested(std::move(s));
      return;
    case Phase::kAwaitingRecovery:
      AdvanceAwaitingRecovery(std::move(s));
      return;
    case Phase::kPending:
    case Phase::kSucceeded:
    case Phase::kFailed:
    case Phase::kCancelled:
      return;  // Not handled here.
  }
}

void NodeStep::AdvanceCordoned(RemediationState s) {
  if (healthy()) {
    Cancel(std::move(s), Outcome::kRecoveredWithoutAction, "node recovered before any action");
  } else if (!unschedulable() && !s.cordoned_by_us) {
    Cancel(std::move(s), Outcome::kUncordonedExternally,
           "the cordon nodeguard took over was removed by someone else");
  } else if (step_.in.paused) {
    SetHold(Hold::kPaused, "paused before draining");
  } else if (step_.storm) {
    SetHold(Hold::kStorm, "cordoned; the drain waits while the storm lasts");
  } else if (!unschedulable()) {
    // Our own cordon did not land (e.g. the process died after writing
    // the state): finish it.
    d_.intents.push_back(Intent::Cordon());
    Note("cordoning");
  } else {
    StartDrain(std::move(s));
  }
}

void NodeStep::StartDrain(RemediationState s) {
  const WallTime now = step_.now;
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

void NodeStep::AdvanceDraining(RemediationState s) {
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
  // A drain observation for another remediation id says nothing about ours.
  const auto kind =
      obs_.drain.remediation_id == s.id ? obs_.drain.kind : DrainObservation::kNotRunning;
  switch (kind) {
    case DrainObservation::kSucceeded:
      AfterDrain(std::move(s));
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
      if (deadline) MinRequeue(d_.requeue_after, *deadline - step_.now);
      return;
    case DrainObservation::kNotRunning:
      ResumeInterruptedDrain(std::move(s), deadline);
      return;
  }
}

void NodeStep::AfterDrain(RemediationState s) {
  const WallTime now = step_.now;
  if (step_.in.paused) {
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
}

void NodeStep::ResumeInterruptedDrain(RemediationState s, std::optional<WallTime> deadline) {
  const WallTime now = step_.now;
  if (deadline && now >= *deadline) {
    Fail(std::move(s), Outcome::kDrainTimedOut,
         "the drain did not finish within drain.timeout " + Fmt(step_.spec.drain.timeout) +
             " (it was interrupted)");
  } else if (step_.in.paused) {
    SetHold(Hold::kPaused, "paused during the drain");
  } else if (step_.storm) {
    SetHold(Hold::kStorm, "the interrupted drain resumes once the storm is over");
  } else {
    // Resume: the drain is idempotent (evicted pods are gone) and keeps
    // its original deadline.
    d_.intents.push_back(Intent::StartDrain(s.id, deadline));
    Note("resuming the drain");
    if (deadline) MinRequeue(d_.requeue_after, *deadline - now);
  }
}

void NodeStep::AdvanceActionRequested(RemediationState s) {
  const WallTime now = step_.now;
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
    WaitForAction(s, agent_action, status_for_us);
    MinRequeue(d_.requeue_after, deadline - now);
  }
}

void NodeStep::WaitForAction(const RemediationState& s, bool agent_action, bool status_for_us) {
  const bool request_present = obs_.agent_request && obs_.agent_request->id == s.request_id;
  if (agent_action && !request_present && !status_for_us) {
    if (step_.in.paused) {
      SetHold(Hold::kPaused, "paused; the agent request was not delivered yet");
    } else {
      // The state was written but the request was not (or was lost):
      // send the same request again. The agent executes an id once.
      d_.intents.push_back(Intent::RequestAgentAction(AgentRequestFor(s)));
      Note("re-sending agent request " + s.request_id);
    }
  } else {
    Note("waiting for " + std::string(api::RemediationActionName(*s.action)) +
         (status_for_us ? std::string(" (agent: ") + AgentStateName(obs_.agent_status->state) + ")"
                        : std::string()));
  }
}

void NodeStep::AdvanceAwaitingRecovery(RemediationState s) {
  const WallTime now = step_.now;
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
             "the node did not stay Ready within actionTimeout " + Fmt(step_.spec.action_timeout) +
                 (s.action ? " after " + std::string(api::RemediationActionName(*s.action))
                           : std::string()));
  } else {
    Note("waiting for the node to become Ready");
    MinRequeue(d_.requeue_after, deadline - now);
  }
}

bool NodeStep::Settle(RemediationState s) {
  const RemediationState before = s;
  if (obs_.agent_request) WithdrawRequest();
  ForgetLiftedCordon(s, unschedulable());
  if (!s.cordoned_by_us) {
    if (!(s == before)) Write(std::move(s));  // Quietly: only the stale flag changed.
    return false;
  }

  // Our cordon is still on the node.
  const Outcome step_back = StepBack();
  if (CanHandOver(step_back)) {
    HandOver(std::move(s), StepBackText(step_back));
    return true;
  }
  bool may_lift = healthy();
  if (may_lift && s.phase == Phase::kFailed) {
    // A failed node proves itself first: healthy for recoveryStableFor.
    const auto ready_since = health::ReadySince(node_);
    const WallTime stable_from = ready_since ? std::max(*ready_since, s.phase_since) : step_.now;
    const Duration stable = step_.now - stable_from;
    may_lift = ready_since && stable >= step_.spec.recovery_stable_for;
    if (!may_lift) {
      Note("recovered after the failed remediation; verifying it stays Ready for " +
           Fmt(step_.spec.recovery_stable_for) + " before lifting nodeguard's cordon");
      Requeue(step_.spec.recovery_stable_for - (ready_since ? stable : Duration(0)));
    }
  }
  if (may_lift) {
    Uncordon(s);
    s.slot_held_until.reset();
    s.message += "; the node is healthy again: nodeguard lifted its cordon";
    const std::string why = "node " + node_.meta.name + " is healthy again after remediation " +
                            s.id + " ended " + PhaseName(s.phase) + "; nodeguard lifted its cordon";
    Write(std::move(s));
    Event(EventType::kNormal, "CordonLifted", why);
    Note(why);
    return true;
  }
  if (!(s == before)) Write(s);
  if (s.phase == Phase::kFailed) {
    const bool holds_slot = !s.slot_held_until || step_.now < *s.slot_held_until;
    std::string note =
        "remediation failed; nodeguard's cordon stays until a person uncordons the "
        "node or it recovers";
    if (holds_slot && s.slot_held_until) {
      note += "; it holds a remediation slot for " + Fmt(*s.slot_held_until - step_.now) + " more";
      Requeue(*s.slot_held_until - step_.now);
    } else if (holds_slot) {
      note += "; it holds a remediation slot until then";
    }
    if (d_.note.empty()) SetHold(Hold::kFailedAwaitingHuman, note);
    d_.hold = Hold::kFailedAwaitingHuman;
    return true;
  }
  if (d_.note.empty()) {
    Note(std::string(PhaseName(s.phase)) +
         "; nodeguard keeps its cordon until the node is healthy, then lifts it");
  }
  return true;
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
  // Cooldown runs from the end of any remediation that cordoned the node; the
  // attempt count only grows for those that say something about the node.
  const bool started = prev->started_at.has_value();
  h.anchor = started ? prev->finished_at : prev->previous_finished_at;
  const int32_t before = CountsAsAttempt(*prev) ? prev->attempt : prev->attempt - 1;
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
    case IntentKind::kWithdrawAgentRequest:
      return "WithdrawAgentRequest";
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
Intent Intent::WithdrawAgentRequest() {
  Intent i;
  i.kind = IntentKind::kWithdrawAgentRequest;
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

NodeAnnotations DecodeStateAnnotation(const kube::Node& node) {
  NodeAnnotations out;
  if (const std::string* text = node.Annotation(kRemediationAnnotation)) {
    auto state = DecodeState(*text);
    if (state.ok()) {
      out.state = std::move(state).value();
    } else {
      out.state_error = state.error().message;
    }
  }
  return out;
}

NodeAnnotations DecodeAnnotations(const kube::Node& node) {
  NodeAnnotations out = DecodeStateAnnotation(node);
  if (const std::string* text = node.Annotation(kAgentRequestAnnotation)) {
    auto request = DecodeAgentRequest(*text);
    if (request.ok()) out.agent_request = std::move(request).value();
  }
  if (const std::string* text = node.Annotation(kAgentStatusAnnotation)) {
    auto status = DecodeAgentStatus(*text);
    if (status.ok()) out.agent_status = std::move(status).value();
  }
  return out;
}

NodeObservation Observe(const kube::Node& node, const health::HealthRules& rules, WallTime now,
                        DrainObservation drain, bool selected) {
  return Observe(node, DecodeAnnotations(node), rules, now, std::move(drain), selected);
}

NodeObservation Observe(const kube::Node& node, const NodeAnnotations& annotations,
                        const health::HealthRules& rules, WallTime now, DrainObservation drain,
                        bool selected) {
  NodeObservation obs;
  obs.node = &node;
  obs.selected = selected;
  obs.health = health::Evaluate(node, rules, now);
  obs.drain = std::move(drain);
  obs.state = annotations.state;
  obs.state_error = annotations.state_error;
  obs.agent_request = annotations.agent_request;
  obs.agent_status = annotations.agent_status;
  return obs;
}

bool CordonIsOurs(const NodeObservation& obs) {
  return obs.state && obs.state->cordoned_by_us && obs.node->unschedulable;
}

bool HoldsBudget(const NodeObservation& obs, WallTime now) {
  if (!obs.state_error.empty()) return obs.node->unschedulable;
  if (!obs.state) return false;
  if (IsDisruptive(obs.state->phase)) return true;
  if (!IsTerminal(obs.state->phase) || !CordonIsOurs(obs)) return false;
  if (obs.state->phase == Phase::kFailed) {
    return !obs.state->slot_held_until || now < *obs.state->slot_held_until;
  }
  return true;  // Cancelled while unhealthy: held until nodeguard lifts its cordon.
}

std::string BudgetOwner(const NodeObservation& obs) {
  if (!obs.state_error.empty() || !obs.state) return "";
  return obs.state->policy;
}

int CountHeldByOthers(std::span<const NodeObservation> all_nodes, std::string_view policy,
                      WallTime now) {
  int n = 0;
  for (const auto& obs : all_nodes)
    if (HoldsBudget(obs, now) && BudgetOwner(obs) != policy) ++n;
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

namespace {

// Counts the selected, unhealthy and turning-unhealthy nodes and raises the
// storm guard; an Event only when the storm starts or ends, so a long storm
// is announced once.
void CountAndDetectStorm(const DecideInput& in, std::span<const NodeObservation> nodes,
                         PolicyDecision& out) {
  const api::RemediationSpec& spec = in.spec;
  for (const auto& obs : nodes) {
    if (!obs.selected) continue;
    ++out.selected;
    if (obs.health.verdict == Verdict::kUnhealthy) ++out.unhealthy;
    if (obs.health.verdict == Verdict::kPending) ++out.turning_unhealthy;
  }
  out.max_unhealthy = spec.max_unhealthy.ResolveInt(out.selected, /*round_up=*/true);
  const int sick = out.unhealthy + out.turning_unhealthy;
  out.storm = sick > out.max_unhealthy;
  if (out.storm) {
    out.storm_message =
        std::to_string(out.unhealthy) + " of " + std::to_string(out.selected) +
        " selected nodes are unhealthy" +
        (out.turning_unhealthy > 0
             ? " and " + std::to_string(out.turning_unhealthy) + " turning unhealthy"
             : std::string()) +
        ", more than maxUnhealthy " + spec.max_unhealthy.ToString() + " (" +
        std::to_string(out.max_unhealthy) +
        "); no new remediation starts and no cordoned node starts draining";
  }
  if (out.storm && !in.storm_was_detected) {
    out.policy_events.push_back(
        Intent::Event(EventType::kWarning, "StormDetected", out.storm_message));
  } else if (!out.storm && in.storm_was_detected) {
    out.policy_events.push_back(
        Intent::Event(EventType::kNormal, "StormCleared",
                      std::to_string(sick) + " of " + std::to_string(out.selected) +
                          " selected nodes are unhealthy or turning unhealthy, within "
                          "maxUnhealthy " +
                          spec.max_unhealthy.ToString() + "; remediation resumes"));
  }
}

// Sets out.in_flight and returns how many remediations may start this step.
// Counted from the annotations as observed, so a slot freed in this step is
// reused only in the next one. An orphan adopted in this step is ours already
// for the count.
int FreeSlots(const DecideInput& in, std::span<const NodeObservation> nodes, WallTime now,
              PolicyDecision& out) {
  for (const auto& obs : nodes)
    if (HoldsBudget(obs, now) && (BudgetOwner(obs) == in.policy || obs.orphan)) ++out.in_flight;
  int slots = in.spec.max_concurrent - out.in_flight;
  if (in.global_max_concurrent > 0) {
    slots = std::min(slots, in.global_max_concurrent - out.in_flight - in.in_flight_other_policies);
  }
  return std::max(slots, 0);
}

// Deterministic order, so the same observation gives the same decision.
std::vector<const NodeObservation*> ByNodeName(std::span<const NodeObservation> nodes) {
  std::vector<const NodeObservation*> order;
  order.reserve(nodes.size());
  for (const auto& obs : nodes) order.push_back(&obs);
  std::sort(order.begin(), order.end(), [](const NodeObservation* a, const NodeObservation* b) {
    return a->node->meta.name < b->node->meta.name;
  });
  return order;
}

// A node that may start a remediation (or record its Pending), once the
// storm guard, cooldown, attempts and the budget allow.
struct Candidate {
  size_t index;  // Into the by-name order.
  WallTime since;
};

// Its policy is gone: take the remediation over (and its cordon, its agent
// request); the caller carries on with it as ours.
void AdoptOrphan(NodeStep& ns, const std::string& policy, RemediationState& state) {
  const std::string gone = state.policy;
  state.policy = policy;
  state.message = "adopted by policy " + policy + ": policy " + gone +
                  " that owned this remediation no longer exists";
  ns.Write(state);
  ns.Event(EventType::kNormal, "RemediationAdopted", state.message);
}

// Cancels a Pending of ours that no longer applies; returns true if it did.
// Nothing was cordoned yet, so there is nothing to hand over.
bool CancelStalePending(NodeStep& ns, const Step& step, const NodeObservation& obs,
                        const RemediationState& s) {
  if (step.in.deleting) {
    ns.Cancel(s, Outcome::kPolicyDeleted, "the policy is being deleted; never cordoned");
  } else if (!obs.selected) {
    ns.Cancel(s, Outcome::kNotSelected, "the policy no longer selects the node");
  } else if (obs.health.excluded) {
    ns.Cancel(s, Outcome::kExcluded, "the node is labelled nodeguard.io/exclude=true");
  } else if (!step.spec.enabled) {
    ns.Cancel(s, Outcome::kDisabled, "remediation is disabled in the policy");
  } else if (obs.health.verdict == Verdict::kHealthy) {
    ns.Cancel(s, Outcome::kRecoveredWithoutAction, "node recovered while waiting; never cordoned");
  } else {
    return false;
  }
  return true;
}

// Whether a node with nothing of ours in flight (no state, a finished one, or
// a Pending still valid) is a candidate; if not, records why it waits.
bool IsCandidate(NodeStep& ns, const Step& step, const NodeObservation& obs, NodeDecision& d,
                 bool pending) {
  if (step.in.deleting) return false;  // A policy being deleted starts nothing.
  const bool unhealthy = obs.health.verdict == Verdict::kUnhealthy;
  if (!obs.selected || !unhealthy) {
    if (pending) {
      // Sick again but the condition restarted its clock: keep waiting.
      ns.Note("condition changed; waiting " + Fmt(obs.health.remaining) + " more");
      MinRequeue(d.requeue_after, obs.health.remaining);
    } else if (obs.selected && obs.health.verdict == Verdict::kPending && !obs.health.excluded) {
      MinRequeue(d.requeue_after, obs.health.remaining);
    }
    return false;
  }
  if (obs.health.excluded) {
    ns.SetHold(Hold::kExcluded, "unhealthy but labelled nodeguard.io/exclude=true");
    return false;
  }
  if (!step.spec.enabled) {
    ns.SetHold(Hold::kDisabled, "unhealthy; remediation is disabled in the policy");
    return false;
  }
  return true;
}

// First pass over one node: an unreadable state, another policy's
// remediation, ours in flight (advanced), ours finished (settled), a stale
// Pending (cancelled). Returns true when the node is a candidate for a new
// remediation, which the second pass starts within the budget.
bool ReviewNode(const Step& step, const NodeObservation& obs, NodeDecision& d,
                PolicyDecision& out) {
  const DecideInput& in = step.in;
  d.node = obs.node->meta.name;
  NodeStep ns(step, obs, d);

  if (!obs.state_error.empty()) {
    ns.SetHold(Hold::kMalformedState,
               "unreadable " + std::string(kRemediationAnnotation) +
                   " annotation, not acting on the node: " + obs.state_error);
    out.malformed.push_back(d.node);
    return false;
  }
  std::optional<RemediationState> state = obs.state;
  if (state && obs.orphan && state->policy != in.policy) AdoptOrphan(ns, in.policy, *state);
  const bool ours = state && state->policy == in.policy;
  if (state && !ours && (!IsTerminal(state->phase) || CordonIsOurs(obs))) {
    ns.SetHold(Hold::kOwnedByOtherPolicy, "remediated by policy " + state->policy);
    return false;
  }
  if (ours) d.state = state;
  if (ours && !IsTerminal(state->phase) && state->phase != Phase::kPending) {
    ns.Advance(*state);
    return false;
  }
  if (ours && IsTerminal(state->phase) && ns.Settle(*state)) {
    const RemediationState& settled = *d.state;
    if (settled.policy == in.policy && settled.phase == Phase::kFailed && settled.cordoned_by_us) {
      out.failed.push_back(d.node);
      if (HoldsBudget(obs, step.now))
        out.failed_holding_slot.emplace_back(d.node, settled.slot_held_until);
    }
    return false;
  }

  const bool pending = ours && state->phase == Phase::kPending;
  if (pending && CancelStalePending(ns, step, obs, *state)) return false;
  return IsCandidate(ns, step, obs, d, pending);
}

// Why a candidate does not start now, or Hold::kNone.
struct Gate {
  Hold hold = Hold::kNone;
  std::string note;
};

// Checks a candidate against the policy-wide guards in order: paused, storm,
// cooldown, maxAttemptsPerNode, a person's cordon, the budget. Records the
// node in the PolicyDecision's lists a person acts on.
Gate GateFor(const Step& step, const NodeObservation& obs, const History& h, int slots,
             NodeDecision& d, PolicyDecision& out) {
  const DecideInput& in = step.in;
  const api::RemediationSpec& spec = step.spec;
  const WallTime now = step.now;
  Gate g;
  if (in.paused) {
    g.hold = Hold::kPaused;
    g.note = "unhealthy; policy paused";
  } else if (out.storm) {
    g.hold = Hold::kStorm;
    g.note = "unhealthy; storm: " + out.storm_message;
  } else if (h.anchor && now < Plus(*h.anchor, spec.cooldown)) {
    g.hold = Hold::kCooldown;
    const Duration left = Plus(*h.anchor, spec.cooldown) - now;
    g.note = "cooldown: previous remediation ended " + Fmt(now - *h.anchor) + " ago, " + Fmt(left) +
             " left";
    MinRequeue(d.requeue_after, left);
  } else if (h.attempt > spec.max_attempts_per_node) {
    g.hold = Hold::kMaxAttempts;
    g.note = "attempt " + std::to_string(h.attempt) + " would exceed maxAttemptsPerNode " +
             std::to_string(spec.max_attempts_per_node) + "; needs a person";
    out.max_attempts_reached.push_back(d.node);
  } else if (obs.node->unschedulable && !spec.take_over_cordoned_nodes) {
    g.hold = Hold::kCordonedByPerson;
    g.note = "cordoned by someone else; left alone (takeOverCordonedNodes is false)";
    out.cordoned_by_person.push_back(d.node);
  } else if (slots == 0) {
    g.hold = Hold::kBudget;
    // Counts the slots taken by the remediations this step started too, so
    // the note never reads as if a slot were free.
    const int held = out.in_flight + out.started;
    g.note = "waiting for a remediation slot (" + std::to_string(held) + "/" +
             std::to_string(spec.max_concurrent) + " in this policy" +
             (in.global_max_concurrent > 0
                  ? ", " + std::to_string(held + in.in_flight_other_policies) + "/" +
                        std::to_string(in.global_max_concurrent) + " overall"
                  : std::string()) +
             ")";
  }
  return g;
}

// The Pending a candidate already has, or a fresh one with the attempt and
// cooldown anchor it inherits.
RemediationState PendingOrNew(const std::optional<RemediationState>& prev, bool pending,
                              const std::string& node, const Step& step, const History& h) {
  if (pending) return *prev;
  RemediationState s;
  s.id = RemediationId(node, step.now);
  s.policy = step.in.policy;
  s.phase = Phase::kPending;
  s.attempt = h.attempt;
  s.detected_at = step.now;
  s.phase_since = step.now;
  s.previous_finished_at = h.anchor;
  return s;
}

// A held candidate: records Pending (with the reason) when the reason is
// worth keeping. Paused and storm record nothing new (see decide.h).
void RecordHold(NodeStep& ns, RemediationState s, bool pending, const Gate& g,
                const std::string& sick_text) {
  ns.SetHold(g.hold, g.note);
  if (pending) {
    // Say why it waits when the reason changes (not on every step: the
    // note carries times that move).
    if (s.hold != HoldName(g.hold)) {
      s.hold = HoldName(g.hold);
      s.message = g.note;
      ns.Write(s);
    }
  } else if (g.hold != Hold::kPaused && g.hold != Hold::kStorm) {
    s.hold = HoldName(g.hold);
    s.message = g.note;
    ns.Write(s);
    ns.Event(EventType::kNormal, "RemediationPending", sick_text + "; " + g.note);
  }
}

// Pending -> Cordoned. The state is written before the cordon so a crash in
// between leaves a state that says "ours" and the next step finishes the
// cordon. A node someone else cordoned is taken over, never uncordoned.
void StartRemediation(NodeStep& ns, RemediationState s, const NodeObservation& obs, NodeDecision& d,
                      const Step& step, const std::string& sick_text) {
  const bool taken_over = obs.node->unschedulable;
  s.phase = Phase::kCordoned;
  s.started_at = step.now;
  s.phase_since = step.now;
  s.cordoned_by_us = !taken_over;
  s.slot_held_until.reset();
  s.hold.clear();
  s.message =
      taken_over ? "took over a node cordoned by someone else; it stays cordoned" : "cordoned";
  ns.Write(s);
  if (!taken_over) d.intents.push_back(Intent::Cordon());
  ns.Event(EventType::kNormal, taken_over ? "RemediationTookOver" : "RemediationStarted",
           sick_text + "; attempt " + std::to_string(s.attempt) + " of " +
               std::to_string(step.spec.max_attempts_per_node) + "; " + s.message);
  ns.Note(s.message);
}

// Second pass over one candidate: starts it if the guards allow and a slot
// is free (taking the slot), else holds it.
void StartOrHold(const Step& step, const NodeObservation& obs, NodeDecision& d, int& slots,
                 PolicyDecision& out) {
  NodeStep ns(step, obs, d);
  // The state as the first pass left it (a stale cordon flag forgotten).
  const std::optional<RemediationState> prev = d.state ? d.state : obs.state;
  const bool pending = prev && prev->policy == step.in.policy && prev->phase == Phase::kPending;
  const std::string sick_text = obs.health.Describe(step.now);

  const History h = HistoryFor(prev, obs, step.spec);
  const Gate g = GateFor(step, obs, h, slots, d, out);
  RemediationState s = PendingOrNew(prev, pending, d.node, step, h);
  if (g.hold != Hold::kNone) {
    RecordHold(ns, std::move(s), pending, g, sick_text);
    return;
  }
  --slots;
  ++out.started;
  StartRemediation(ns, std::move(s), obs, d, step, sick_text);
}

// Keeps the decisions that say something (an intent, a hold, a note, a
// requeue, or a remediation in flight) and reports ours in flight.
void CollectDecisions(std::vector<NodeDecision>& decisions, const DecideInput& in,
                      PolicyDecision& out) {
  for (auto& d : decisions) {
    if (d.intents.empty() && d.hold == Hold::kNone && d.note.empty() && !d.requeue_after &&
        !(d.state && !IsTerminal(d.state->phase)))
      continue;
    if (d.requeue_after) MinRequeue(out.requeue_after, *d.requeue_after);
    if (d.state && d.state->policy == in.policy && d.state->phase != Phase::kPending &&
        !IsTerminal(d.state->phase)) {
      out.remediations.push_back(ToStatus(d.node, *d.state));
    }
    out.nodes.push_back(std::move(d));
  }
}

}  // namespace

PolicyDecision Decide(const DecideInput& in, std::span<const NodeObservation> nodes) {
  PolicyDecision out;
  out.dry_run = in.dry_run;
  CountAndDetectStorm(in, nodes, out);
  const Step step{in, in.now, in.spec, out.storm};
  int slots = FreeSlots(in, nodes, in.now, out);

  // First pass, by node name: what is in flight moves on, what is finished
  // settles, and the nodes that may start a remediation become candidates.
  const std::vector<const NodeObservation*> order = ByNodeName(nodes);
  std::vector<NodeDecision> decisions(order.size());
  std::vector<Candidate> candidates;
  for (size_t i = 0; i < order.size(); ++i) {
    if (ReviewNode(step, *order[i], decisions[i], out))
      candidates.push_back({i, order[i]->health.since});
  }

  // Second pass: start the longest-unhealthy candidates first, within the
  // budget.
  std::sort(candidates.begin(), candidates.end(), [&](const Candidate& a, const Candidate& b) {
    if (a.since != b.since) return a.since < b.since;
    return decisions[a.index].node < decisions[b.index].node;
  });
  for (const Candidate& c : candidates) {
    StartOrHold(step, *order[c.index], decisions[c.index], slots, out);
  }

  CollectDecisions(decisions, in, out);
  return out;
}

std::vector<std::string> PlannedSteps(const api::RemediationSpec& spec, bool taken_over) {
  std::vector<std::string> steps;
  if (!taken_over) steps.push_back("cordon");
  steps.push_back(spec.drain.timeout > Duration(0)
                      ? "drain (timeout " + Fmt(spec.drain.timeout) + ")"
                      : std::string("drain"));
  for (RemediationAction a : spec.actions) {
    steps.push_back(a == RemediationAction::kExternal
                        ? "External (annotate and wait for an external remediator)"
                        : api::RemediationActionName(a));
  }
  if (spec.actions.empty()) steps.push_back("wait for the node to recover");
  steps.push_back(taken_over ? "leave cordoned (taken over)"
                             : "uncordon once Ready for " + Fmt(spec.recovery_stable_for));
  return steps;
}

std::string DescribePlan(const api::RemediationSpec& spec, bool taken_over) {
  std::string out = "would ";
  const std::vector<std::string> steps = PlannedSteps(spec, taken_over);
  for (size_t i = 0; i < steps.size(); ++i) out += (i == 0 ? "" : " -> ") + steps[i];
  if (spec.actions.size() > 1) {
    out += "; one rung at a time until the node is Ready, each given actionTimeout " +
           Fmt(spec.action_timeout);
  } else {
    out += "; the node given actionTimeout " + Fmt(spec.action_timeout) + " to recover";
  }
  return out;
}

}  // namespace nodeguard::remediation
