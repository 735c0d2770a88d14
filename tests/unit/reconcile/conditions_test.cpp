#include "reconcile/conditions.h"

#include <gtest/gtest.h>

using namespace std::chrono_literals;

namespace nodeguard::runtime {
namespace {

TEST(SetCondition, TransitionTimeMovesOnlyWithStatus) {
  std::vector<api::Condition> conds;
  const kube::Time t1(100s), t2(200s), t3(300s);
  EXPECT_TRUE(SetCondition(conds, MakeCondition("StormDetected", false, "NoStorm", "ok", 1), t1));
  ASSERT_EQ(conds.size(), 1u);
  EXPECT_EQ(conds[0].last_transition_time, t1);

  // Same status, new message: changed, but the transition time stays.
  EXPECT_TRUE(SetCondition(conds, MakeCondition("StormDetected", false, "NoStorm", "2/10", 1), t2));
  EXPECT_EQ(conds[0].last_transition_time, t1);
  EXPECT_EQ(conds[0].message, "2/10");

  // Identical: nothing changed.
  EXPECT_FALSE(
      SetCondition(conds, MakeCondition("StormDetected", false, "NoStorm", "2/10", 1), t3));

  // Status flips: new transition time.
  EXPECT_TRUE(
      SetCondition(conds, MakeCondition("StormDetected", true, "TooManyUnhealthy", "5/10", 1), t3));
  EXPECT_EQ(conds[0].last_transition_time, t3);
  EXPECT_EQ(conds[0].status, kube::ConditionStatus::kTrue);
}

TEST(SetCondition, KeepsOtherConditionsAndFinds) {
  std::vector<api::Condition> conds;
  SetCondition(conds, MakeCondition("Ready", true, "Enforcing", "", 2), kube::Time(1s));
  SetCondition(conds, MakeCondition("Paused", false, "NotPaused", "", 2), kube::Time(1s));
  EXPECT_EQ(conds.size(), 2u);
  ASSERT_NE(FindCondition(conds, "Paused"), nullptr);
  EXPECT_EQ(FindCondition(conds, "Paused")->reason, "NotPaused");
  EXPECT_EQ(FindCondition(conds, "Degraded"), nullptr);
}

TEST(SetCondition, ObservedGenerationBumpIsAChangeNotATransition) {
  std::vector<api::Condition> conds;
  SetCondition(conds, MakeCondition("Ready", true, "Enforcing", "", 1), kube::Time(1s));
  EXPECT_TRUE(
      SetCondition(conds, MakeCondition("Ready", true, "Enforcing", "", 2), kube::Time(9s)));
  EXPECT_EQ(conds[0].observed_generation, 2);
  EXPECT_EQ(conds[0].last_transition_time, kube::Time(1s));
}

}  // namespace
}  // namespace nodeguard::runtime
