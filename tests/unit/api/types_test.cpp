#include "api/types.h"

#include <gtest/gtest.h>

#include "common/int_or_percent.h"

namespace nodeguard::api {
namespace {

kube::Labels L(std::initializer_list<std::pair<const char*, const char*>> kv) {
  kube::Labels out;
  for (const auto& [k, v] : kv) out.Set(k, v);
  return out;
}

LabelSelectorRequirement Req(std::string key, SelectorOperator op,
                             std::vector<std::string> values = {}) {
  return {std::move(key), op, std::move(values)};
}

TEST(LabelSelector, EmptyMatchesEverything) {
  LabelSelector s;
  EXPECT_TRUE(s.Empty());
  EXPECT_TRUE(s.Matches({}));
  EXPECT_TRUE(s.Matches(L({{"a", "b"}})));
}

TEST(LabelSelector, MatchLabelsNeedsEveryPairExactly) {
  LabelSelector s;
  s.match_labels = {{"node-role.kubernetes.io/worker", ""}, {"pool", "blue"}};
  EXPECT_TRUE(s.Matches(L({{"node-role.kubernetes.io/worker", ""}, {"pool", "blue"}, {"x", "y"}})));
  EXPECT_FALSE(s.Matches(L({{"node-role.kubernetes.io/worker", ""}})));
  EXPECT_FALSE(s.Matches(L({{"node-role.kubernetes.io/worker", "yes"}, {"pool", "blue"}})));
  EXPECT_FALSE(s.Matches({}));
}

struct OperatorCase {
  const char* name;
  LabelSelectorRequirement req;
  kube::Labels labels;
  bool matches;
};

class SelectorOperatorTest : public ::testing::TestWithParam<OperatorCase> {};

TEST_P(SelectorOperatorTest, Matches) {
  LabelSelector s;
  s.match_expressions.push_back(GetParam().req);
  EXPECT_EQ(s.Matches(GetParam().labels), GetParam().matches);
}

INSTANTIATE_TEST_SUITE_P(
    Operators, SelectorOperatorTest,
    ::testing::Values(
        OperatorCase{"InListed", Req("pool", SelectorOperator::kIn, {"a", "b"}), L({{"pool", "b"}}),
                     true},
        OperatorCase{"InNotListed", Req("pool", SelectorOperator::kIn, {"a", "b"}),
                     L({{"pool", "c"}}), false},
        OperatorCase{"InKeyAbsent", Req("pool", SelectorOperator::kIn, {"a"}), L({}), false},
        OperatorCase{"NotInListed", Req("pool", SelectorOperator::kNotIn, {"a"}),
                     L({{"pool", "a"}}), false},
        OperatorCase{"NotInOther", Req("pool", SelectorOperator::kNotIn, {"a"}), L({{"pool", "z"}}),
                     true},
        // Kubernetes: NotIn matches objects without the key.
        OperatorCase{"NotInKeyAbsent", Req("pool", SelectorOperator::kNotIn, {"a"}), L({}), true},
        OperatorCase{"ExistsPresentEmptyValue", Req("gpu", SelectorOperator::kExists),
                     L({{"gpu", ""}}), true},
        OperatorCase{"ExistsAbsent", Req("gpu", SelectorOperator::kExists), L({{"cpu", "x"}}),
                     false},
        OperatorCase{"DoesNotExistAbsent", Req("gpu", SelectorOperator::kDoesNotExist),
                     L({{"cpu", "x"}}), true},
        OperatorCase{"DoesNotExistPresent", Req("gpu", SelectorOperator::kDoesNotExist),
                     L({{"gpu", "1"}}), false}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(LabelSelector, TermsAreAnded) {
  LabelSelector s;
  s.match_labels = {{"zone", "a"}};
  s.match_expressions = {Req("pool", SelectorOperator::kIn, {"x"}),
                         Req("control-plane", SelectorOperator::kDoesNotExist)};
  EXPECT_TRUE(s.Matches(L({{"zone", "a"}, {"pool", "x"}})));
  EXPECT_FALSE(s.Matches(L({{"zone", "b"}, {"pool", "x"}})));
  EXPECT_FALSE(s.Matches(L({{"zone", "a"}, {"pool", "y"}})));
  EXPECT_FALSE(s.Matches(L({{"zone", "a"}, {"pool", "x"}, {"control-plane", ""}})));
}

TEST(IntOrPercent, CountIgnoresTotalAndRounding) {
  EXPECT_EQ(IntOrPercent::Count(7).Resolve(100, true), 7);
  EXPECT_EQ(IntOrPercent::Count(7).Resolve(0, false), 7);
}

struct ResolveCase {
  int64_t percent, total;
  bool round_up;
  int64_t want;
};

TEST(IntOrPercent, PercentResolvesLikeGetScaledValueFromIntOrPercent) {
  for (const ResolveCase& c : std::vector<ResolveCase>{
           {90, 70, false, 63},  // 63.0
           {90, 70, true, 63},   // exact: no rounding either way
           {30, 3, false, 0},    // 0.9
           {30, 3, true, 1},     // the storm guard of a 3-node cluster allows one
           {30, 10, true, 3},    // exact
           {25, 10, false, 2},   // 2.5
           {25, 10, true, 3},    // 2.5
           {100, 7, false, 7},   // whole
           {0, 50, true, 0},     // nothing
           {50, 0, true, 0},     // of nothing
           {1, 1, true, 1},      // a non-zero share of a non-zero total is never 0 rounded up
           {1, 1, false, 0},
       }) {
    EXPECT_EQ(IntOrPercent::Percent(c.percent).Resolve(c.total, c.round_up), c.want)
        << c.percent << "% of " << c.total << (c.round_up ? " up" : " down");
  }
}

TEST(IntOrPercent, ResolveSaturatesInsteadOfOverflowing) {
  const int64_t huge = std::numeric_limits<int64_t>::max();
  EXPECT_GT(IntOrPercent::Percent(200).Resolve(huge, false), 0);
}

TEST(IntOrPercent, ParseAndPrint) {
  EXPECT_EQ(*ParseIntOrPercent("90%"), IntOrPercent::Percent(90));
  EXPECT_EQ(*ParseIntOrPercent("0%"), IntOrPercent::Percent(0));
  EXPECT_EQ(*ParseIntOrPercent("70"), IntOrPercent::Count(70));
  EXPECT_EQ(*ParseIntOrPercent("150%"), IntOrPercent::Percent(150));  // Bounds: the caller's.
  for (std::string_view bad :
       {"", "%", "-5", "-5%", "5.5%", "ninety", "9 0%", "90%%", " 90%", "9999999999999999999"}) {
    auto r = ParseIntOrPercent(bad);
    EXPECT_FALSE(r.ok()) << "accepted \"" << bad << "\"";
    if (!r.ok()) {
      EXPECT_EQ(r.error().kind, ErrorKind::kInvalid);
    }
  }
  EXPECT_EQ(IntOrPercent::Percent(90).ToString(), "90%");
  EXPECT_EQ(IntOrPercent::Count(70).ToString(), "70");
}

TEST(Names, EnumsPrintAsTheApiSpellsThem) {
  EXPECT_STREQ(RemediationActionName(RemediationAction::kRestartContainerRuntime),
               "RestartContainerRuntime");
  EXPECT_STREQ(RemediationActionName(RemediationAction::kRestartKubelet), "RestartKubelet");
  EXPECT_STREQ(RemediationActionName(RemediationAction::kReboot), "Reboot");
  EXPECT_STREQ(RemediationActionName(RemediationAction::kExternal), "External");
  EXPECT_STREQ(SelectorOperatorName(SelectorOperator::kDoesNotExist), "DoesNotExist");
  EXPECT_STREQ(RemediationPhaseName(RemediationPhase::kVerifying), "Verifying");
  EXPECT_STREQ(RemediationResultName(RemediationResult::kTimedOut), "TimedOut");
  EXPECT_TRUE(IsFinished(RemediationPhase::kFailed));
  EXPECT_FALSE(IsFinished(RemediationPhase::kDraining));
}

TEST(Defaults, DefaultRulesAreTheIncidentsPlegSignatureAndASilentKubelet) {
  const auto rules = DefaultUnhealthyConditions();
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].type, "Ready");
  EXPECT_EQ(rules[0].status, kube::ConditionStatus::kFalse);
  EXPECT_EQ(rules[0].message_regex, "PLEG is not healthy");
  EXPECT_EQ(rules[0].duration, std::chrono::minutes(3));
  EXPECT_EQ(rules[1].status, kube::ConditionStatus::kUnknown);
  EXPECT_EQ(rules[1].duration, std::chrono::minutes(5));
  EXPECT_EQ(HealthSpec{}.unhealthy_conditions, rules);
}

}  // namespace
}  // namespace nodeguard::api
