#include "reconcile/status_writer.h"

#include <gtest/gtest.h>

#include <vector>

using namespace std::chrono_literals;

namespace nodeguard::runtime {
namespace {

class FakeStatusApi : public StatusApi {
 public:
  struct Call {
    std::string policy;
    std::string resource_version;
    api::NodeHealthPolicyStatus status;
  };
  Result<std::string> WriteStatus(const std::string& policy, const std::string& rv,
                                  const api::NodeHealthPolicyStatus& status) override {
    calls.push_back({policy, rv, status});
    if (fail_next_with) {
      Error e = Error::Of(*fail_next_with, "injected");
      fail_next_with.reset();
      return e;
    }
    return std::to_string(++next_rv);
  }
  std::vector<Call> calls;
  std::optional<ErrorKind> fail_next_with;
  int next_rv = 100;
};

api::NodeHealthPolicy Policy(const std::string& name, const std::string& rv, int32_t selected = 0) {
  api::NodeHealthPolicy p;
  p.meta.name = name;
  p.meta.resource_version = rv;
  p.status.selected_nodes = selected;
  return p;
}

class StatusWriterTest : public ::testing::Test {
 protected:
  FakeStatusApi api;
  FakeClock clock;
  StatusWriter writer{api, clock, 1000ms};
};

TEST_F(StatusWriterTest, WritesOnlyRealChanges) {
  writer.Observe(Policy("p", "1", 3));
  EXPECT_FALSE(writer.Flush().has_value());
  EXPECT_TRUE(api.calls.empty());

  writer.Update("p", [](auto& s) { s.selected_nodes = 3; });  // No change.
  writer.Flush();
  EXPECT_TRUE(api.calls.empty());

  writer.Update("p", [](auto& s) { s.selected_nodes = 4; });
  writer.Flush();
  ASSERT_EQ(api.calls.size(), 1u);
  EXPECT_EQ(api.calls[0].resource_version, "1");
  EXPECT_EQ(api.calls[0].status.selected_nodes, 4);

  // Before the informer catches up, the old observed status must not cause a rewrite.
  clock.Advance(5s);
  writer.Flush();
  EXPECT_EQ(api.calls.size(), 1u);
}

TEST_F(StatusWriterTest, CoalescesToOneWritePerInterval) {
  writer.Observe(Policy("p", "1"));
  writer.Update("p", [](auto& s) { s.selected_nodes = 1; });
  writer.Flush();
  for (int i = 2; i <= 50; ++i) {
    writer.Update("p", [i](auto& s) { s.selected_nodes = i; });
    clock.Advance(10ms);
    auto wait = writer.Flush();
    if (api.calls.size() == 1) {
      ASSERT_TRUE(wait.has_value());
    }
  }
  EXPECT_EQ(api.calls.size(), 1u);  // 490 ms passed: still within the interval.
  clock.Advance(600ms);
  writer.Flush();
  ASSERT_EQ(api.calls.size(), 2u);
  EXPECT_EQ(api.calls[1].status.selected_nodes, 50);  // The latest, not each step.
  EXPECT_EQ(api.calls[1].resource_version, "101");    // From our own last write.
}

TEST_F(StatusWriterTest, ConflictRetriesWithObservedVersion) {
  writer.Observe(Policy("p", "1"));
  writer.Update("p", [](auto& s) { s.unhealthy_nodes = 2; });
  api.fail_next_with = ErrorKind::kConflict;
  writer.Flush();
  ASSERT_EQ(api.calls.size(), 1u);
  EXPECT_EQ(writer.stats().conflicts, 1);

  writer.Observe(Policy("p", "7"));  // The informer delivers the newer object.
  clock.Advance(1s);
  writer.Flush();
  ASSERT_EQ(api.calls.size(), 2u);
  EXPECT_EQ(api.calls[1].resource_version, "7");
  EXPECT_EQ(api.calls[1].status.unhealthy_nodes, 2);
}

TEST_F(StatusWriterTest, SeedsDesiredFromServerSoConditionsSurviveRestart) {
  auto p = Policy("p", "1");
  api::Condition ready;
  ready.type = "Ready";
  ready.status = kube::ConditionStatus::kTrue;
  ready.reason = "Enforcing";
  ready.last_transition_time = kube::Time(42s);
  p.status.conditions.push_back(ready);
  writer.Observe(p);
  auto desired = writer.Desired("p");
  ASSERT_TRUE(desired.has_value());
  ASSERT_EQ(desired->conditions.size(), 1u);
  EXPECT_EQ(desired->conditions[0].last_transition_time, kube::Time(42s));
  writer.Flush();
  EXPECT_TRUE(api.calls.empty());
}

TEST_F(StatusWriterTest, UnknownAndForgottenPoliciesAreNotWritten) {
  EXPECT_FALSE(writer.Update("ghost", [](auto& s) { s.selected_nodes = 1; }));
  writer.Observe(Policy("p", "1"));
  writer.Update("p", [](auto& s) { s.selected_nodes = 9; });
  writer.Forget("p");
  writer.Flush();
  EXPECT_TRUE(api.calls.empty());
}

TEST_F(StatusWriterTest, ForeignWriteIsComparedAgainstServer) {
  writer.Observe(Policy("p", "1"));
  writer.Update("p", [](auto& s) { s.selected_nodes = 5; });
  writer.Flush();
  ASSERT_EQ(api.calls.size(), 1u);
  // Someone else overwrote status with 0; our desired (5) must be written again.
  writer.Observe(Policy("p", "200", 0));
  clock.Advance(2s);
  writer.Flush();
  ASSERT_EQ(api.calls.size(), 2u);
  EXPECT_EQ(api.calls[1].resource_version, "200");
}

// A standby first sees a policy before the leader wrote its status, then
// only observes. Taking over, it must continue from the leader's status, not
// from the empty one it first saw.
TEST_F(StatusWriterTest, NewLeaderStartsFromTheServersStatusNotItsFirstSight) {
  writer.Observe(Policy("p", "1"));  // Empty status, as first seen.
  auto leaders = Policy("p", "5", 3);
  leaders.status.observed_generation = 2;
  api::Condition ready;
  ready.type = "Ready";
  ready.status = kube::ConditionStatus::kTrue;
  ready.last_transition_time = kube::Time(42s);
  leaders.status.conditions.push_back(ready);
  writer.Observe(leaders);  // The previous leader's writes, as the informer sees them.

  writer.ResetToObserved();  // Became the leader.
  auto desired = writer.Desired("p");
  ASSERT_TRUE(desired.has_value());
  EXPECT_EQ(*desired, leaders.status);
  writer.Flush();
  EXPECT_TRUE(api.calls.empty());  // Nothing of its own to write yet.

  // The first reconcile changes one field: everything else is the leader's.
  writer.Update("p", [](auto& s) { s.ready_nodes = 3; });
  writer.Flush();
  ASSERT_EQ(api.calls.size(), 1u);
  EXPECT_EQ(api.calls[0].resource_version, "5");
  EXPECT_EQ(api.calls[0].status.observed_generation, 2);
  EXPECT_EQ(api.calls[0].status.selected_nodes, 3);
  ASSERT_EQ(api.calls[0].status.conditions.size(), 1u);
  EXPECT_EQ(api.calls[0].status.conditions[0].last_transition_time, kube::Time(42s));
}

TEST_F(StatusWriterTest, ResetDropsUnwrittenChanges) {
  writer.Observe(Policy("p", "1", 4));
  writer.Update("p", [](auto& s) { s.selected_nodes = 9; });
  writer.ResetToObserved();
  EXPECT_EQ(writer.Desired("p")->selected_nodes, 4);
  EXPECT_FALSE(writer.Flush().has_value());
  EXPECT_TRUE(api.calls.empty());
}

}  // namespace
}  // namespace nodeguard::runtime
