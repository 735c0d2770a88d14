#include "health/evaluate.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace nodeguard::health {
namespace {

using kube::ConditionStatus;

const WallTime kNow = WallTime(std::chrono::hours(24 * 365 * 56));

constexpr const char* kPlegMessage =
    "PLEG is not healthy: pleg was last seen active 3m7.629592089s ago; threshold is 3m0s";

kube::NodeCondition Condition(std::string type, ConditionStatus status, Duration held,
                              std::string message = "", std::string reason = "") {
  kube::NodeCondition c;
  c.type = kube::Symbol::Intern(type);
  c.status = status;
  c.reason = kube::Symbol::Intern(reason);
  c.message = std::move(message);
  c.last_transition_time = kNow - held;
  return c;
}

kube::Node NodeWith(std::vector<kube::NodeCondition> conditions, kube::Labels labels = {}) {
  kube::Node n;
  n.meta.name = "worker-1";
  n.conditions = std::move(conditions);
  n.labels = std::move(labels);
  return n;
}

api::UnhealthyCondition Rule(std::string type, ConditionStatus status, Duration duration,
                             std::string regex = "", std::string reason = "") {
  api::UnhealthyCondition r;
  r.type = std::move(type);
  r.status = status;
  r.duration = duration;
  r.message_regex = std::move(regex);
  r.reason = std::move(reason);
  return r;
}

HealthRules Compile(const std::vector<api::UnhealthyCondition>& rules) {
  auto compiled = HealthRules::Compile(rules);
  EXPECT_TRUE(compiled.ok()) << compiled.error().ToString();
  return std::move(compiled).value();
}

HealthRules Defaults() { return Compile(api::DefaultUnhealthyConditions()); }

struct Case {
  std::string name;
  std::vector<kube::NodeCondition> conditions;
  Verdict want;
  int want_rule = -1;
  Duration want_remaining{0};

  // Keeps ctest names readable: gtest prints the parameter in the test name.
  void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }
};

class EvaluateDefaultsTest : public testing::TestWithParam<Case> {};

TEST_P(EvaluateDefaultsTest, Verdict) {
  const Case& c = GetParam();
  const NodeHealth h = Evaluate(NodeWith(c.conditions), Defaults(), kNow);
  EXPECT_EQ(h.verdict, c.want) << VerdictName(h.verdict);
  EXPECT_EQ(h.rule_index, c.want_rule);
  EXPECT_EQ(h.remaining, c.want_remaining);
  EXPECT_FALSE(h.excluded);
}

INSTANTIATE_TEST_SUITE_P(
    DefaultRules, EvaluateDefaultsTest,
    testing::Values(
        Case{"ReadyTrue",
             {Condition("Ready", ConditionStatus::kTrue, 1h, "kubelet is posting ready status")},
             Verdict::kHealthy},
        Case{"NoConditions", {}, Verdict::kHealthy},
        Case{"PlegFor3mExactlyIsUnhealthy",
             {Condition("Ready", ConditionStatus::kFalse, 3min, kPlegMessage, "KubeletNotReady")},
             Verdict::kUnhealthy,
             0},
        Case{"PlegFor1mIsPending",
             {Condition("Ready", ConditionStatus::kFalse, 1min, kPlegMessage, "KubeletNotReady")},
             Verdict::kPending,
             0,
             2min},
        Case{"NotReadyForOtherReasonIsHealthyForPlegRule",
             {Condition("Ready", ConditionStatus::kFalse, 1h,
                        "container runtime network not ready: NetworkReady=false")},
             Verdict::kHealthy},
        Case{"UnknownFor5m",
             {Condition("Ready", ConditionStatus::kUnknown, 5min,
                        "Kubelet stopped posting node status.", "NodeStatusUnknown")},
             Verdict::kUnhealthy,
             1},
        Case{"UnknownFor4m",
             {Condition("Ready", ConditionStatus::kUnknown, 4min,
                        "Kubelet stopped posting node status.")},
             Verdict::kPending,
             1,
             1min},
        Case{"AggregatedPlegForm",
             {Condition("Ready", ConditionStatus::kFalse, 10min,
                        "[container runtime status check may not have completed yet, PLEG is not "
                        "healthy: pleg has yet to be successful]")},
             Verdict::kUnhealthy,
             0},
        Case{"OtherConditionsIgnored",
             {Condition("MemoryPressure", ConditionStatus::kFalse, 1h),
              Condition("Ready", ConditionStatus::kTrue, 1h)},
             Verdict::kHealthy}),
    [](const testing::TestParamInfo<Case>& param_info) { return param_info.param.name; });

TEST(HealthRules, InvalidRegexIsAnErrorAtCompileTime) {
  auto compiled =
      HealthRules::Compile({Rule("Ready", ConditionStatus::kFalse, 1min, "PLEG is (not"),
                            Rule("Ready", ConditionStatus::kUnknown, 1min)});
  ASSERT_FALSE(compiled.ok());
  EXPECT_EQ(compiled.error().kind, ErrorKind::kInvalid);
  EXPECT_NE(compiled.error().message.find("unhealthyConditions[0].messageRegex"), std::string::npos)
      << compiled.error().message;
}

TEST(HealthRules, RegexIsAnUnanchoredSearch) {
  HealthRules rules =
      Compile({Rule("Ready", ConditionStatus::kFalse, 0s, R"(last seen active \d+h)")});
  EXPECT_TRUE(rules.Matches(
      0, Condition("Ready", ConditionStatus::kFalse, 0s,
                   "PLEG is not healthy: pleg was last seen active 16h17m50.79s ago")));
  EXPECT_FALSE(rules.Matches(0, Condition("Ready", ConditionStatus::kFalse, 0s, kPlegMessage)));
}

TEST(HealthRules, ReasonMustMatchExactlyWhenSet) {
  HealthRules rules = Compile({Rule("Ready", ConditionStatus::kFalse, 0s, "", "KubeletNotReady")});
  EXPECT_TRUE(
      rules.Matches(0, Condition("Ready", ConditionStatus::kFalse, 0s, "", "KubeletNotReady")));
  EXPECT_FALSE(
      rules.Matches(0, Condition("Ready", ConditionStatus::kFalse, 0s, "", "KubeletNotReadyX")));
  EXPECT_FALSE(rules.Matches(0, Condition("Ready", ConditionStatus::kFalse, 0s, "", "")));
}

TEST(HealthRules, StatusAndTypeMustMatch) {
  HealthRules rules = Compile({Rule("Ready", ConditionStatus::kFalse, 0s)});
  EXPECT_FALSE(rules.Matches(0, Condition("Ready", ConditionStatus::kUnknown, 0s)));
  EXPECT_FALSE(rules.Matches(0, Condition("NotReady", ConditionStatus::kFalse, 0s)));
  EXPECT_TRUE(rules.Matches(0, Condition("Ready", ConditionStatus::kFalse, 0s)));
}

TEST(Evaluate, ExcludedNodeIsFlaggedAndStillEvaluated) {
  kube::Node node = NodeWith({Condition("Ready", ConditionStatus::kFalse, 10min, kPlegMessage)},
                             {{"nodeguard.io/exclude", "true"}});
  NodeHealth h = Evaluate(node, Defaults(), kNow);
  EXPECT_TRUE(h.excluded);
  EXPECT_EQ(h.verdict, Verdict::kUnhealthy);

  node.labels = {{"nodeguard.io/exclude", "false"}};
  EXPECT_FALSE(Evaluate(node, Defaults(), kNow).excluded);
  node.labels = {{"nodeguard.io/exclude", "True"}};  // Label values are exact.
  EXPECT_FALSE(Evaluate(node, Defaults(), kNow).excluded);
}

TEST(Evaluate, ReportsSinceConditionAndPlegDetails) {
  const kube::NodeCondition ready = Condition("Ready", ConditionStatus::kFalse, 7min, kPlegMessage);
  NodeHealth h = Evaluate(NodeWith({ready}), Defaults(), kNow);
  ASSERT_EQ(h.verdict, Verdict::kUnhealthy);
  EXPECT_EQ(h.since, kNow - 7min);
  EXPECT_EQ(h.condition.message, kPlegMessage);
  EXPECT_TRUE(h.pleg.pleg_unhealthy);
  EXPECT_EQ(h.pleg.last_seen_active, 3min + 7s + 629592089ns);
  EXPECT_EQ(h.pleg.threshold, 3min);
  EXPECT_EQ(h.Describe(kNow), std::string("Ready=False for 7m0s (rule 0): ") + kPlegMessage);
}

TEST(Evaluate, PlegDetailsReportedEvenWhenNoRuleMatches) {
  HealthRules rules = Compile({Rule("DiskPressure", ConditionStatus::kTrue, 1min)});
  NodeHealth h = Evaluate(NodeWith({Condition("Ready", ConditionStatus::kFalse, 1h, kPlegMessage)}),
                          rules, kNow);
  EXPECT_EQ(h.verdict, Verdict::kHealthy);
  EXPECT_TRUE(h.pleg.pleg_unhealthy);
}

TEST(Evaluate, LongestStandingElapsedRuleWins) {
  HealthRules rules = Compile({Rule("Ready", ConditionStatus::kFalse, 1min),
                               Rule("KernelDeadlock", ConditionStatus::kTrue, 1min)});
  NodeHealth h = Evaluate(NodeWith({Condition("Ready", ConditionStatus::kFalse, 5min),
                                    Condition("KernelDeadlock", ConditionStatus::kTrue, 20min)}),
                          rules, kNow);
  EXPECT_EQ(h.verdict, Verdict::kUnhealthy);
  EXPECT_EQ(h.rule_index, 1);
  EXPECT_EQ(h.since, kNow - 20min);
}

TEST(Evaluate, ElapsedBeatsPendingWhateverTheOrder) {
  HealthRules rules = Compile({Rule("Ready", ConditionStatus::kFalse, 10min),
                               Rule("KernelDeadlock", ConditionStatus::kTrue, 1min)});
  NodeHealth h = Evaluate(NodeWith({Condition("Ready", ConditionStatus::kFalse, 5min),
                                    Condition("KernelDeadlock", ConditionStatus::kTrue, 2min)}),
                          rules, kNow);
  EXPECT_EQ(h.verdict, Verdict::kUnhealthy);
  EXPECT_EQ(h.rule_index, 1);
}

TEST(Evaluate, PendingReportsTheSoonestToElapse) {
  HealthRules rules = Compile({Rule("Ready", ConditionStatus::kFalse, 10min),
                               Rule("KernelDeadlock", ConditionStatus::kTrue, 5min)});
  NodeHealth h = Evaluate(NodeWith({Condition("Ready", ConditionStatus::kFalse, 8min),
                                    Condition("KernelDeadlock", ConditionStatus::kTrue, 1min)}),
                          rules, kNow);
  EXPECT_EQ(h.verdict, Verdict::kPending);
  EXPECT_EQ(h.rule_index, 0);
  EXPECT_EQ(h.remaining, 2min);
}

TEST(Evaluate, UnsetTransitionTimeRestartsTheDuration) {
  kube::NodeCondition ready = Condition("Ready", ConditionStatus::kFalse, 0s, kPlegMessage);
  ready.last_transition_time = kube::Time{};
  NodeHealth h = Evaluate(NodeWith({ready}), Defaults(), kNow);
  EXPECT_EQ(h.verdict, Verdict::kPending);
  EXPECT_EQ(h.remaining, 3min);
  EXPECT_EQ(h.since, kNow);
}

TEST(Evaluate, ZeroDurationRuleIsUnhealthyImmediately) {
  HealthRules rules = Compile({Rule("Ready", ConditionStatus::kFalse, 0s)});
  EXPECT_EQ(
      Evaluate(NodeWith({Condition("Ready", ConditionStatus::kFalse, 0s)}), rules, kNow).verdict,
      Verdict::kUnhealthy);
}

// ---------------------------------------------------------------- RE2 (issue 16)

// The API server validates messageRegex as RE2 (a CEL matches() rule); the
// controller used std::regex (ECMAScript), which rejects inline flags, so a
// policy the API server accepted turned invalid in the controller.
TEST(HealthRules, InlineFlagsTheApiServerAcceptsWork) {
  HealthRules rules =
      Compile({Rule("Ready", ConditionStatus::kFalse, 0s, "(?i)pleg is NOT healthy")});
  EXPECT_TRUE(rules.Matches(0, Condition("Ready", ConditionStatus::kFalse, 0s, kPlegMessage)));
  EXPECT_FALSE(rules.Matches(0, Condition("Ready", ConditionStatus::kFalse, 0s, "runtime down")));
}

TEST(HealthRules, Re2SyntaxAndNotEcmascriptOnlySyntax) {
  // RE2 has no lookarounds or backreferences: such a pattern is an error.
  EXPECT_FALSE(
      HealthRules::Compile({Rule("Ready", ConditionStatus::kFalse, 0s, "PLEG(?=x)")}).ok());
  EXPECT_FALSE(HealthRules::Compile({Rule("Ready", ConditionStatus::kFalse, 0s, R"((a)\1)")}).ok());
  // Named groups and Unicode classes are RE2.
  HealthRules rules =
      Compile({Rule("Ready", ConditionStatus::kFalse, 0s, R"((?P<what>PLEG) is \pL+)")});
  EXPECT_TRUE(rules.Matches(0, Condition("Ready", ConditionStatus::kFalse, 0s, kPlegMessage)));
}

std::string HundredKilobytes(char fill) { return std::string(100 * 1024, fill); }

// A node-problem-detector message of 100 KB crash-looped the controller:
// std::regex's recursive matcher overflowed the stack on it. RE2 is linear
// in the text and iterative, and only a bounded prefix is searched.
TEST(HealthRules, AHundredKilobyteMessageWithAPathologicalPattern) {
  const std::vector<std::string> patterns = {
      "(a|aa)*b",          // Exponential for a backtracking engine.
      "(a*)*b",            // Nested quantifiers.
      "(.*a){20}",         // Counted repetition of a greedy subpattern.
      "(x+x+)+y",          // The classic catastrophic backtracking case.
      "[^b]*[^b]*[^b]*c",  // Polynomial backtracking.
  };
  const std::string message = HundredKilobytes('a');
  for (const std::string& pattern : patterns) {
    SCOPED_TRACE(pattern);
    HealthRules rules = Compile({Rule("Ready", ConditionStatus::kFalse, 0s, pattern)});
    const auto started = std::chrono::steady_clock::now();
    // Matches() must return (no crash); which answer is not the point.
    (void)rules.Matches(0, Condition("Ready", ConditionStatus::kFalse, 0s, message));
    (void)rules.Matches(0, Condition("Ready", ConditionStatus::kFalse, 0s, HundredKilobytes('x')));
    // Printed, not asserted (no timed assertions in tests): RE2 takes
    // microseconds to milliseconds here.
    std::printf(
        "pattern %-22s 2 searches of 100 KB: %.3f ms\n", pattern.c_str(),
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count());
  }
}

TEST(HealthRules, OnlyTheBoundedPrefixIsSearched) {
  HealthRules rules = Compile({Rule("Ready", ConditionStatus::kFalse, 0s, "NEEDLE")});
  std::string message(kMaxSearchedMessageBytes - 6, '.');
  EXPECT_TRUE(rules.Matches(0, Condition("Ready", ConditionStatus::kFalse, 0s, message + "NEEDLE")))
      << "a match ending at the last searched byte counts";
  EXPECT_FALSE(
      rules.Matches(0, Condition("Ready", ConditionStatus::kFalse, 0s, message + ".NEEDLE")))
      << "a match beyond the prefix does not";
  EXPECT_TRUE(rules.Matches(
      0, Condition("Ready", ConditionStatus::kFalse, 0s, "NEEDLE" + HundredKilobytes('.'))));
}

TEST(HealthRules, ThePrefixIsCutOnACharacterBoundary) {
  // "ä" is 2 bytes and straddles the bound: the searched text must end
  // before it, with the last whole character, not with half of "ä".
  HealthRules rules = Compile({Rule("Ready", ConditionStatus::kFalse, 0s, "[.]$")});
  std::string message(kMaxSearchedMessageBytes - 1, '.');
  message += "\xC3\xA4";
  EXPECT_TRUE(rules.Matches(0, Condition("Ready", ConditionStatus::kFalse, 0s, message)));
}

TEST(Describe, BoundsAHundredKilobyteConditionMessage) {
  HealthRules rules = Compile({Rule("Ready", ConditionStatus::kFalse, 1min)});
  std::string message;
  while (message.size() < 100 * 1024) message += "kernel: task blocked \xE2\x82\xAC ";
  NodeHealth h =
      Evaluate(NodeWith({Condition("Ready", ConditionStatus::kFalse, 5min, message)}), rules, kNow);
  ASSERT_EQ(h.verdict, Verdict::kUnhealthy);
  EXPECT_LE(h.condition.message.size(), kMaxSearchedMessageBytes) << "not copied whole";
  EXPECT_EQ(h.condition.message, message.substr(0, h.condition.message.size()));
  const std::string d = h.Describe(kNow);
  EXPECT_LE(d.size(), 200 + kMaxDescribedMessageBytes);
  EXPECT_EQ(d.rfind("Ready=False for 5m0s (rule 0): kernel: task blocked", 0), 0u)
      << d.substr(0, 80);
  EXPECT_EQ(d.substr(d.size() - 3), "\xE2\x80\xA6") << "ends with an ellipsis";
}

TEST(ReadySince, OnlyWhenReadyIsTrue) {
  EXPECT_EQ(ReadySince(NodeWith({Condition("Ready", ConditionStatus::kTrue, 90s)})), kNow - 90s);
  EXPECT_EQ(ReadySince(NodeWith({Condition("Ready", ConditionStatus::kFalse, 90s)})), std::nullopt);
  EXPECT_EQ(ReadySince(NodeWith({})), std::nullopt);
}

}  // namespace
}  // namespace nodeguard::health
