#include "api/types.h"

#include <algorithm>

namespace nodeguard::api {

const char* SelectorOperatorName(SelectorOperator op) {
  switch (op) {
    case SelectorOperator::kIn:
      return "In";
    case SelectorOperator::kNotIn:
      return "NotIn";
    case SelectorOperator::kExists:
      return "Exists";
    case SelectorOperator::kDoesNotExist:
      return "DoesNotExist";
  }
  return "In";
}

bool LabelSelector::Matches(const kube::Labels& labels) const {
  for (const auto& [key, value] : match_labels) {
    const std::string* have = labels.Find(key);
    if (have == nullptr || *have != value) return false;
  }
  for (const LabelSelectorRequirement& req : match_expressions) {
    const std::string* have = labels.Find(req.key);
    const bool listed = have != nullptr &&
                        std::find(req.values.begin(), req.values.end(), *have) != req.values.end();
    switch (req.op) {
      case SelectorOperator::kIn:
        if (!listed) return false;
        break;
      case SelectorOperator::kNotIn:
        if (listed) return false;
        break;
      case SelectorOperator::kExists:
        if (have == nullptr) return false;
        break;
      case SelectorOperator::kDoesNotExist:
        if (have != nullptr) return false;
        break;
    }
  }
  return true;
}

std::vector<UnhealthyCondition> DefaultUnhealthyConditions() {
  UnhealthyCondition pleg;
  pleg.type = "Ready";
  pleg.status = kube::ConditionStatus::kFalse;
  pleg.message_regex = "PLEG is not healthy";
  pleg.duration = std::chrono::minutes(3);
  UnhealthyCondition silent;
  silent.type = "Ready";
  silent.status = kube::ConditionStatus::kUnknown;
  silent.duration = std::chrono::minutes(5);
  return {pleg, silent};
}

const char* RemediationActionName(RemediationAction a) {
  switch (a) {
    case RemediationAction::kRestartContainerRuntime:
      return "RestartContainerRuntime";
    case RemediationAction::kRestartKubelet:
      return "RestartKubelet";
    case RemediationAction::kReboot:
      return "Reboot";
    case RemediationAction::kExternal:
      return "External";
  }
  return "External";
}

const char* RemediationPhaseName(RemediationPhase p) {
  switch (p) {
    case RemediationPhase::kCordoning:
      return "Cordoning";
    case RemediationPhase::kDraining:
      return "Draining";
    case RemediationPhase::kActing:
      return "Acting";
    case RemediationPhase::kVerifying:
      return "Verifying";
    case RemediationPhase::kUncordoning:
      return "Uncordoning";
    case RemediationPhase::kSucceeded:
      return "Succeeded";
    case RemediationPhase::kFailed:
      return "Failed";
  }
  return "Failed";
}

bool IsFinished(RemediationPhase p) {
  return p == RemediationPhase::kSucceeded || p == RemediationPhase::kFailed;
}

const char* RemediationResultName(RemediationResult r) {
  switch (r) {
    case RemediationResult::kNone:
      return "";
    case RemediationResult::kRecovered:
      return "Recovered";
    case RemediationResult::kFailed:
      return "Failed";
    case RemediationResult::kTimedOut:
      return "TimedOut";
    case RemediationResult::kAborted:
      return "Aborted";
  }
  return "";
}

}  // namespace nodeguard::api
