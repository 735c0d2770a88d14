#include "reconcile/conditions.h"

#include <string>

namespace nodeguard::runtime {

const api::Condition* FindCondition(const std::vector<api::Condition>& conditions,
                                    std::string_view type) {
  for (const auto& c : conditions)
    if (c.type == type) return &c;
  return nullptr;
}

bool SetCondition(std::vector<api::Condition>& conditions, api::Condition update, kube::Time now) {
  for (auto& existing : conditions) {
    if (existing.type != update.type) continue;
    update.last_transition_time =
        existing.status == update.status && kube::IsSet(existing.last_transition_time)
            ? existing.last_transition_time
            : now;
    if (existing == update) return false;
    existing = std::move(update);
    return true;
  }
  update.last_transition_time = now;
  conditions.push_back(std::move(update));
  return true;
}

api::Condition MakeCondition(std::string_view type, bool status, std::string_view reason,
                             std::string_view message, int64_t observed_generation) {
  api::Condition c;
  c.type = std::string(type);
  c.status = status ? kube::ConditionStatus::kTrue : kube::ConditionStatus::kFalse;
  c.reason = std::string(reason);
  c.message = std::string(message);
  c.observed_generation = observed_generation;
  return c;
}

}  // namespace nodeguard::runtime
