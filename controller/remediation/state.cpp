#include "remediation/state.h"

#include <nlohmann/json.hpp>

#include "agentproto/json_fields.h"
#include "common/time.h"

namespace nodeguard::remediation {
namespace {

constexpr std::string_view kWhat = "remediation state";

constexpr Phase kAllPhases[] = {
    Phase::kPending,          Phase::kCordoned,  Phase::kDraining, Phase::kActionRequested,
    Phase::kAwaitingRecovery, Phase::kSucceeded, Phase::kFailed,   Phase::kCancelled};

constexpr Outcome kAllOutcomes[] = {Outcome::kNone,
                                    Outcome::kRecovered,
                                    Outcome::kRecoveredWithoutAction,
                                    Outcome::kDrainFailed,
                                    Outcome::kDrainTimedOut,
                                    Outcome::kActionsExhausted,
                                    Outcome::kNotRecovered,
                                    Outcome::kExcluded,
                                    Outcome::kDisabled,
                                    Outcome::kNotSelected,
                                    Outcome::kUncordonedExternally,
                                    Outcome::kPolicyDeleted};

constexpr api::RemediationAction kAllActions[] = {
    api::RemediationAction::kRestartContainerRuntime, api::RemediationAction::kRestartKubelet,
    api::RemediationAction::kReboot, api::RemediationAction::kExternal};

std::optional<api::RemediationAction> ParseAction(std::string_view name) {
  for (auto a : kAllActions)
    if (name == api::RemediationActionName(a)) return a;
  return std::nullopt;
}

Error Inconsistent(std::string why) { return Error::Invalid(std::string(kWhat) + ": " + why); }

}  // namespace

const char* PhaseName(Phase p) {
  switch (p) {
    case Phase::kPending:
      return "Pending";
    case Phase::kCordoned:
      return "Cordoned";
    case Phase::kDraining:
      return "Draining";
    case Phase::kActionRequested:
      return "ActionRequested";
    case Phase::kAwaitingRecovery:
      return "AwaitingRecovery";
    case Phase::kSucceeded:
      return "Succeeded";
    case Phase::kFailed:
      return "Failed";
    case Phase::kCancelled:
      return "Cancelled";
  }
  return "Pending";
}

std::optional<Phase> ParsePhase(std::string_view name) {
  for (Phase p : kAllPhases)
    if (name == PhaseName(p)) return p;
  return std::nullopt;
}

bool IsTerminal(Phase p) {
  return p == Phase::kSucceeded || p == Phase::kFailed || p == Phase::kCancelled;
}

bool IsDisruptive(Phase p) {
  return p == Phase::kCordoned || p == Phase::kDraining || p == Phase::kActionRequested ||
         p == Phase::kAwaitingRecovery;
}

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kNone:
      return "";
    case Outcome::kRecovered:
      return "Recovered";
    case Outcome::kRecoveredWithoutAction:
      return "RecoveredWithoutAction";
    case Outcome::kDrainFailed:
      return "DrainFailed";
    case Outcome::kDrainTimedOut:
      return "DrainTimedOut";
    case Outcome::kActionsExhausted:
      return "ActionsExhausted";
    case Outcome::kNotRecovered:
      return "NotRecovered";
    case Outcome::kExcluded:
      return "Excluded";
    case Outcome::kDisabled:
      return "Disabled";
    case Outcome::kNotSelected:
      return "NotSelected";
    case Outcome::kUncordonedExternally:
      return "UncordonedExternally";
    case Outcome::kPolicyDeleted:
      return "PolicyDeleted";
  }
  return "";
}

bool CountsAsAttempt(const RemediationState& s) {
  if (!s.started_at) return false;
  if (s.phase != Phase::kCancelled) return true;
  switch (s.outcome) {
    case Outcome::kExcluded:
    case Outcome::kDisabled:
    case Outcome::kNotSelected:
    case Outcome::kPolicyDeleted:
      return false;
    default:
      return true;
  }
}

std::optional<Outcome> ParseOutcome(std::string_view name) {
  for (Outcome o : kAllOutcomes)
    if (name == OutcomeName(o)) return o;
  return std::nullopt;
}

std::string EncodeState(const RemediationState& s) {
  nlohmann::json j = {{"id", s.id},
                      {"policy", s.policy},
                      {"phase", PhaseName(s.phase)},
                      {"attempt", s.attempt},
                      {"detectedAt", FormatRfc3339(s.detected_at)},
                      {"phaseSince", FormatRfc3339(s.phase_since)},
                      {"cordonedByUs", s.cordoned_by_us}};
  if (s.action) j["action"] = api::RemediationActionName(*s.action);
  if (s.action_index >= 0) j["actionIndex"] = s.action_index;
  if (s.started_at) j["startedAt"] = FormatRfc3339(*s.started_at);
  if (s.action_requested_at) j["actionRequestedAt"] = FormatRfc3339(*s.action_requested_at);
  if (s.finished_at) j["finishedAt"] = FormatRfc3339(*s.finished_at);
  if (s.previous_finished_at) j["previousFinishedAt"] = FormatRfc3339(*s.previous_finished_at);
  if (s.slot_held_until) j["slotHeldUntil"] = FormatRfc3339(*s.slot_held_until);
  if (!s.hold.empty()) j["hold"] = s.hold;
  if (!s.boot_id_before.empty()) j["bootIdBefore"] = s.boot_id_before;
  if (!s.request_id.empty()) j["requestId"] = s.request_id;
  if (!s.message.empty()) j["message"] = s.message;
  if (s.outcome != Outcome::kNone) j["outcome"] = OutcomeName(s.outcome);
  return j.dump();
}

Result<RemediationState> DecodeState(std::string_view text) {
  using namespace agentproto::json_fields;
  auto object = ParseObject(text, kWhat);
  if (!object.ok()) return object.error();
  const nlohmann::json& j = *object;
  RemediationState s;

  // Required strings.
  for (auto [key, field] : {std::pair{"id", &s.id}, std::pair{"policy", &s.policy}}) {
    auto v = OptionalString(j, key, kWhat);
    if (!v.ok()) return v.error();
    if (!*v || (*v)->empty()) return Missing(key, kWhat);
    *field = **v;
  }

  auto phase = OptionalString(j, "phase", kWhat);
  if (!phase.ok()) return phase.error();
  if (!*phase) return Missing("phase", kWhat);
  auto parsed_phase = ParsePhase(**phase);
  if (!parsed_phase) return Inconsistent("unknown phase \"" + **phase + "\"");
  s.phase = *parsed_phase;

  auto action = OptionalString(j, "action", kWhat);
  if (!action.ok()) return action.error();
  if (*action) {
    auto parsed = ParseAction(**action);
    if (!parsed) return Inconsistent("unknown action \"" + **action + "\"");
    s.action = parsed;
  }

  auto action_index = OptionalInt(j, "actionIndex", kWhat);
  if (!action_index.ok()) return action_index.error();
  if (*action_index) {
    if (**action_index < 0 || **action_index > 64) return Inconsistent("actionIndex out of range");
    s.action_index = static_cast<int32_t>(**action_index);
  }

  auto attempt = OptionalInt(j, "attempt", kWhat);
  if (!attempt.ok()) return attempt.error();
  if (!*attempt) return Missing("attempt", kWhat);
  if (**attempt < 1 || **attempt > 1'000'000) return Inconsistent("attempt must be >= 1");
  s.attempt = static_cast<int32_t>(**attempt);

  for (auto [key, field] :
       {std::pair{"detectedAt", &s.detected_at}, std::pair{"phaseSince", &s.phase_since}}) {
    auto v = OptionalTime(j, key, kWhat);
    if (!v.ok()) return v.error();
    if (!*v) return Missing(key, kWhat);
    *field = **v;
  }
  for (auto [key, field] : {std::pair{"startedAt", &s.started_at},
                            std::pair{"actionRequestedAt", &s.action_requested_at},
                            std::pair{"finishedAt", &s.finished_at},
                            std::pair{"previousFinishedAt", &s.previous_finished_at},
                            std::pair{"slotHeldUntil", &s.slot_held_until}}) {
    auto v = OptionalTime(j, key, kWhat);
    if (!v.ok()) return v.error();
    *field = *v;
  }

  auto cordoned = OptionalBool(j, "cordonedByUs", kWhat);
  if (!cordoned.ok()) return cordoned.error();
  s.cordoned_by_us = cordoned->value_or(false);

  for (auto [key, field] :
       {std::pair{"bootIdBefore", &s.boot_id_before}, std::pair{"requestId", &s.request_id},
        std::pair{"message", &s.message}, std::pair{"hold", &s.hold}}) {
    auto v = OptionalString(j, key, kWhat);
    if (!v.ok()) return v.error();
    *field = v->value_or("");
  }

  auto outcome = OptionalString(j, "outcome", kWhat);
  if (!outcome.ok()) return outcome.error();
  if (*outcome) {
    auto parsed = ParseOutcome(**outcome);
    if (!parsed || *parsed == Outcome::kNone)
      return Inconsistent("unknown outcome \"" + **outcome + "\"");
    s.outcome = *parsed;
  }

  // Cross-field consistency: a state we would misread is not acted on.
  if (IsTerminal(s.phase) && !s.finished_at)
    return Inconsistent("a finished phase needs finishedAt");
  if (IsTerminal(s.phase) != (s.outcome != Outcome::kNone))
    return Inconsistent("outcome is set exactly when the phase is finished");
  if (IsDisruptive(s.phase) && !s.started_at)
    return Inconsistent(std::string(PhaseName(s.phase)) + " needs startedAt");
  if (s.action.has_value() != (s.action_index >= 0))
    return Inconsistent("action and actionIndex go together");
  if (s.phase == Phase::kActionRequested) {
    if (!s.action || !s.action_requested_at)
      return Inconsistent("ActionRequested needs action and actionRequestedAt");
    if (*s.action != api::RemediationAction::kExternal && s.request_id.empty())
      return Inconsistent("ActionRequested for an agent action needs requestId");
  }
  if (s.phase == Phase::kAwaitingRecovery && !s.action_requested_at)
    return Inconsistent("AwaitingRecovery needs actionRequestedAt");
  return s;
}

api::RemediationStatus ToStatus(std::string_view node, const RemediationState& s) {
  api::RemediationStatus out;
  out.node = std::string(node);
  out.action = s.action;
  out.attempt = s.attempt;
  out.started_at = s.started_at.value_or(s.detected_at);
  out.finished_at = s.finished_at.value_or(kube::Time{});
  out.message = s.message;
  switch (s.phase) {
    case Phase::kPending:
    case Phase::kCordoned:
      out.phase = api::RemediationPhase::kCordoning;
      break;
    case Phase::kDraining:
      out.phase = api::RemediationPhase::kDraining;
      break;
    case Phase::kActionRequested:
      out.phase = api::RemediationPhase::kActing;
      break;
    case Phase::kAwaitingRecovery:
      out.phase = api::RemediationPhase::kVerifying;
      break;
    case Phase::kSucceeded:
      out.phase = api::RemediationPhase::kSucceeded;
      out.result = api::RemediationResult::kRecovered;
      break;
    case Phase::kCancelled:
      if (s.outcome == Outcome::kRecoveredWithoutAction) {
        out.phase = api::RemediationPhase::kSucceeded;
        out.result = api::RemediationResult::kRecovered;
      } else {
        out.phase = api::RemediationPhase::kFailed;
        out.result = api::RemediationResult::kAborted;
      }
      break;
    case Phase::kFailed:
      out.phase = api::RemediationPhase::kFailed;
      out.result = s.outcome == Outcome::kDrainTimedOut ? api::RemediationResult::kTimedOut
                                                        : api::RemediationResult::kFailed;
      break;
  }
  return out;
}

}  // namespace nodeguard::remediation
