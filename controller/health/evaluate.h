#pragma once

// Health of one node against a policy's spec.health.unhealthyConditions.
//
// A rule matches when the node has a condition of the rule's type whose
// status equals the rule's status, whose reason equals the rule's reason (if
// set) and whose message contains a match of the rule's regex (if set). The
// node is Unhealthy when a matching condition has held for the rule's
// duration, measured from the condition's lastTransitionTime; it is Pending
// while a rule matches but its duration has not yet elapsed. Like Node
// Healthcheck Operator, the duration counts from the status transition: a
// message that changes while the status stays the same does not restart it.

#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "api/types.h"
#include "common/clock.h"
#include "common/duration.h"
#include "common/result.h"
#include "health/pleg.h"
#include "kube/objects.h"

namespace nodeguard::health {

// A node carrying this label with value "true" is never remediated.
inline constexpr const char* kExcludeLabel = "nodeguard.io/exclude";

// The rules of one policy, with each message regex compiled once (std::regex
// construction is far costlier than a search). Immutable after Compile, so one
// instance may be shared by concurrent readers.
class HealthRules {
 public:
  // Fails with kInvalid naming the rule index when a message regex is not a
  // valid ECMAScript regular expression.
  static Result<HealthRules> Compile(const std::vector<api::UnhealthyCondition>& rules);

  size_t size() const { return rules_.size(); }
  const api::UnhealthyCondition& rule(size_t i) const { return rules_[i].spec; }
  // True when the condition satisfies rule i's type, status, reason and regex
  // (the duration is not considered). A regex search that the library
  // abandons (std::regex_error on pathological input) counts as no match.
  bool Matches(size_t i, const kube::NodeCondition& condition) const;

 private:
  struct Rule {
    api::UnhealthyCondition spec;
    std::optional<std::regex> message;
  };
  std::vector<Rule> rules_;
};

enum class Verdict : uint8_t {
  kHealthy,    // No rule matches.
  kPending,    // A rule matches but its duration has not elapsed yet.
  kUnhealthy,  // A rule has matched for at least its duration.
};
const char* VerdictName(Verdict v);

struct NodeHealth {
  Verdict verdict = Verdict::kHealthy;
  // The node carries nodeguard.io/exclude=true. The verdict is still computed
  // (an excluded sick node is still sick capacity, e.g. for the storm guard).
  bool excluded = false;

  // For kUnhealthy and kPending: which rule (index into HealthRules) and the
  // condition it matched.
  int rule_index = -1;
  kube::NodeCondition condition;
  // kUnhealthy and kPending: when the matching condition took its status. An
  // unset lastTransitionTime is read as `now` (the duration restarts), which
  // errs on the side of not acting.
  WallTime since{};
  // kPending: how long until the rule's duration elapses; requeue after it.
  Duration remaining{0};

  // The Ready condition's message, classified whatever the verdict.
  PlegReport pleg;

  // One line for Events and status: "Ready=False for 5m2s (rule 0): PLEG is not
  // healthy: pleg was last seen active 5m1s ago; threshold is 3m0s".
  std::string Describe(WallTime now) const;
};

// Evaluates every rule against the node's conditions. Among elapsed matches
// the longest-standing (earliest since, then lowest rule index) is reported;
// among pending ones the one closest to elapsing.
NodeHealth Evaluate(const kube::Node& node, const HealthRules& rules, WallTime now);

// When the node's Ready condition turned True, if it is True now.
std::optional<WallTime> ReadySince(const kube::Node& node);

// True when the node carries nodeguard.io/exclude=true.
bool IsExcluded(const kube::Node& node);

}  // namespace nodeguard::health
