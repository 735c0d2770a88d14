#pragma once

// metav1.Condition bookkeeping with apimachinery's meta.SetStatusCondition
// semantics: lastTransitionTime changes only when status changes, so users
// can tell how long a policy has been, say, in a storm.

#include <string_view>
#include <vector>

#include "api/types.h"

namespace nodeguard::runtime {

// Sets or replaces the condition of `update.type`. lastTransitionTime is
// `now` for a new condition or a status change, and kept otherwise (whatever
// update.last_transition_time holds). Returns true when anything changed.
bool SetCondition(std::vector<api::Condition>& conditions, api::Condition update, kube::Time now);

const api::Condition* FindCondition(const std::vector<api::Condition>& conditions,
                                    std::string_view type);

// Shorthand for a condition with status True/False.
api::Condition MakeCondition(std::string_view type, bool status, std::string_view reason,
                             std::string_view message, int64_t observed_generation);

}  // namespace nodeguard::runtime
