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

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/types.h"
#include "common/clock.h"
#include "common/duration.h"
#include "common/result.h"
#include "health/pleg.h"
#include "kube/objects.h"

namespace re2 {
class RE2;
}

namespace nodeguard::health {

// How much of a condition message a messageRegex searches: its first 4 KiB,
// cut on a UTF-8 character boundary. The kubelet's Ready messages are under
// 300 bytes (the PLEG one with the runtime error prefix is about 150), and
// node-problem-detector truncates its plugins' output to 80 characters by
// default, so 4 KiB holds every real message whole with room to spare, while
// it caps the cost of one search however long a message some component
// writes (RE2 is linear in the searched text; its NFA fallback costs text x
// pattern, at most 4 KiB x 1 KiB here).
inline constexpr size_t kMaxSearchedMessageBytes = 4096;

// How much of the condition message Describe quotes: enough for any real
// kubelet or node-problem-detector message, small enough that the Events and
// status messages built around it stay within their bounds (1 KiB, 4 KiB).
inline constexpr size_t kMaxDescribedMessageBytes = 512;

// A node carrying this label with value "true" is never remediated.
inline constexpr const char* kExcludeLabel = "nodeguard.io/exclude";

// The rules of one policy, with each message regex compiled once. The
// regexes are RE2 (https://github.com/google/re2/wiki/Syntax), the dialect
// the API server validates messageRegex with (a CEL matches() rule), so a
// policy admission accepted is one nodeguard can use: inline flags such as
// `(?i)` work; lookarounds and backreferences do not exist. RE2 searches in
// time linear in the text with bounded memory and no recursion, so no
// message, however long or crafted, can exhaust the stack or stall a worker.
// Immutable after Compile, so one instance may be shared by concurrent
// readers (RE2 is thread-safe for matching).
class HealthRules {
 public:
  // Fails with kInvalid naming the rule index when a message regex is not
  // valid RE2 (api::IsValidMessageRegex compiles the same way).
  static Result<HealthRules> Compile(const std::vector<api::UnhealthyCondition>& rules);

  size_t size() const { return rules_.size(); }
  const api::UnhealthyCondition& rule(size_t i) const { return rules_[i].spec; }
  // True when the condition satisfies rule i's type, status, reason and regex
  // (the duration is not considered). The regex is searched (unanchored) in
  // the first kMaxSearchedMessageBytes of the message, cut on a character
  // boundary; a match beyond them does not count.
  bool Matches(size_t i, const kube::NodeCondition& condition) const;

 private:
  struct Rule {
    api::UnhealthyCondition spec;
    std::shared_ptr<const re2::RE2> message;  // Null: no messageRegex.
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
  // condition it matched, its message cut to the kMaxSearchedMessageBytes the
  // rule searched (a 100 KB message is not copied on every evaluation).
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
  // healthy: pleg was last seen active 5m1s ago; threshold is 3m0s". The
  // message part is at most kMaxDescribedMessageBytes (cut on a character
  // boundary, with an ellipsis), so the line stays short whatever wrote it.
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
