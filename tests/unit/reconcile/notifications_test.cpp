#include "reconcile/notifications.h"

#include <gtest/gtest.h>

#include <chrono>

namespace nodeguard::runtime {
namespace {

using namespace std::chrono_literals;
using remediation::EventType;
using remediation::Intent;

const WallTime kStarted = WallTime(std::chrono::seconds(1'800'000'000));

remediation::NodeDecision Decision(int action_index) {
  remediation::NodeDecision d;
  d.node = "worker-3";
  remediation::RemediationState s;
  s.id = "worker-3-1799999700";
  s.action = api::RemediationAction::kReboot;
  s.action_index = action_index;
  s.started_at = kStarted;
  d.state = s;
  return d;
}

TEST(RemediationFactTest, MapsTheRemediationEventsAndNothingElse) {
  const auto d = Decision(0);
  struct Row {
    const char* reason;
    std::optional<notify::FactKind> kind;
  };
  for (const Row& r : {Row{"RemediationStarted", notify::FactKind::kRemediationStarted},
                       Row{"RemediationTookOver", notify::FactKind::kRemediationStarted},
                       Row{"RemediationEscalated", notify::FactKind::kRemediationEscalated},
                       Row{"RemediationSucceeded", notify::FactKind::kRemediationSucceeded},
                       Row{"RemediationFailed", notify::FactKind::kRemediationFailed},
                       Row{"RemediationPending", std::nullopt},  // Waiting for a slot.
                       Row{"RemediationCancelled", std::nullopt}, Row{"Drained", std::nullopt}}) {
    auto fact = RemediationFact("prod", "workers", d,
                                Intent::Event(EventType::kNormal, r.reason, "why"), kStarted + 90s);
    ASSERT_EQ(fact.has_value(), r.kind.has_value()) << r.reason;
    if (fact) {
      EXPECT_EQ(fact->kind, *r.kind) << r.reason;
    }
  }
}

TEST(RemediationFactTest, PendingBecauseAPersonCordonedTheNodeIsARefusal) {
  auto d = Decision(-1);
  d.hold = remediation::Hold::kCordonedByPerson;
  d.state->action.reset();
  d.state->started_at.reset();
  auto fact = RemediationFact(
      "prod", "workers", d,
      Intent::Event(EventType::kNormal, "RemediationPending", "PLEG; cordoned by someone else"),
      kStarted);
  ASSERT_TRUE(fact.has_value());
  EXPECT_EQ(fact->kind, notify::FactKind::kNodeRefusedCordoned);
  EXPECT_EQ(notify::FactId(*fact), "node.refused-cordoned/workers/worker-3/worker-3-1799999700");
  EXPECT_FALSE(fact->duration.has_value());
  EXPECT_TRUE(fact->action.empty());
}

TEST(RemediationFactTest, IdFromTheRemediationIdAndTheRungForEscalations) {
  auto started =
      RemediationFact("prod", "workers", Decision(0),
                      Intent::Event(EventType::kNormal, "RemediationStarted", "why"), kStarted);
  ASSERT_TRUE(started.has_value());
  EXPECT_EQ(notify::FactId(*started), "remediation.started/workers/worker-3/worker-3-1799999700");
  EXPECT_EQ(started->cluster, "prod");
  EXPECT_EQ(started->action, "Reboot");
  EXPECT_EQ(started->reason, "why");
  EXPECT_EQ(started->duration, Duration(0));
  // Recorded again later (a restart): the same id.
  auto again = RemediationFact("prod", "workers", Decision(0),
                               Intent::Event(EventType::kNormal, "RemediationStarted", "other"),
                               kStarted + 1h);
  EXPECT_EQ(notify::FactId(*again), notify::FactId(*started));
  auto escalated = RemediationFact(
      "prod", "workers", Decision(2),
      Intent::Event(EventType::kWarning, "RemediationEscalated", "why"), kStarted + 754s);
  ASSERT_TRUE(escalated.has_value());
  EXPECT_EQ(notify::FactId(*escalated),
            "remediation.escalated/workers/worker-3/worker-3-1799999700%2F2");
  EXPECT_EQ(escalated->duration, Duration(754s));
}

TEST(StormFactTest, DetectedAndClearedWithTheMinuteAsOccurrence) {
  auto detected =
      StormFact("prod", "workers", Intent::Event(EventType::kWarning, "StormDetected", "5 of 7"),
                kStarted + 59s);
  ASSERT_TRUE(detected.has_value());
  EXPECT_EQ(detected->kind, notify::FactKind::kStormDetected);
  EXPECT_EQ(detected->reason, "5 of 7");
  EXPECT_EQ(notify::FactId(*detected), "storm.detected/workers//2027-01-15T08:00:00Z");
  auto cleared = StormFact("prod", "workers",
                           Intent::Event(EventType::kNormal, "StormCleared", "2 of 7"), kStarted);
  ASSERT_TRUE(cleared.has_value());
  EXPECT_EQ(cleared->kind, notify::FactKind::kStormCleared);
  EXPECT_FALSE(
      StormFact("prod", "workers", Intent::Event(EventType::kNormal, "Other", ""), kStarted)
          .has_value());
}

TEST(EarlyWarningFactTest, OnlyReadableLevelsWithTheAnnouncedValueAsOccurrence) {
  kube::Node node;
  node.meta.name = "worker-3";
  EarlyWarningAnnouncement a;
  a.reason = "EarlyWarningCritical";
  a.message = "early-warning level Critical (was Degraded)";
  a.annotation = "Critical 2027-01-15T08:00:00Z";
  node.early_warning.level = kube::EarlyWarningLevel::kCritical;
  auto fact = EarlyWarningFact("prod", "workers", node, a, kStarted);
  ASSERT_TRUE(fact.has_value());
  EXPECT_EQ(fact->kind, notify::FactKind::kEarlyWarningChanged);
  EXPECT_EQ(fact->level, "Critical");
  EXPECT_EQ(fact->reason, a.message);
  EXPECT_TRUE(notify::IsWarning(*fact));
  EXPECT_EQ(notify::FactId(*fact),
            "early-warning.changed/workers/worker-3/Critical 2027-01-15T08:00:00Z");
  node.early_warning.level = kube::EarlyWarningLevel::kHealthy;
  ASSERT_TRUE(EarlyWarningFact("prod", "workers", node, a, kStarted).has_value());
  EXPECT_FALSE(notify::IsWarning(*EarlyWarningFact("prod", "workers", node, a, kStarted)));
  for (auto level : {kube::EarlyWarningLevel::kAbsent, kube::EarlyWarningLevel::kUnknown}) {
    node.early_warning.level = level;
    EXPECT_FALSE(EarlyWarningFact("prod", "workers", node, a, kStarted).has_value());
  }
}

// The wiring of density.cap-reached on a fake clock: the gather, one fact per
// interval listing the nodes, ids on the interval's grid (the same for a
// flush anywhere in the window), nothing sent while nothing is due.
TEST(DensityNotificationsTest, OneFactPerIntervalListingTheNodesAfterTheGather) {
  FakeClock clock(WallTime(std::chrono::seconds(1'800'000'000)));  // On a 10 min grid.
  const WallTime t0 = clock.Now();
  std::vector<notify::Fact> sent;
  DensityNotifications density(
      "prod", 10min, [&](const notify::Fact& f) { sent.push_back(f); }, clock, 5s);
  EXPECT_FALSE(density.Flush().has_value());

  density.CapReached("workers", "w2");
  clock.Advance(2s);
  density.CapReached("workers", "w1");
  EXPECT_EQ(density.Flush(), t0 + 5s) << "gathering the burst";
  EXPECT_TRUE(sent.empty());
  clock.Advance(3s);
  EXPECT_FALSE(density.Flush().has_value());
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].kind, notify::FactKind::kDensityCapReached);
  EXPECT_EQ(sent[0].cluster, "prod");
  EXPECT_EQ(sent[0].nodes, (std::vector<std::string>{"w1", "w2"}));
  EXPECT_EQ(notify::FactId(sent[0]), "density.cap-reached/workers//2027-01-15T08:00:00Z");

  clock.Advance(1min);
  density.CapReached("workers", "w3");
  clock.Advance(1min);
  density.CapReached("workers", "w1");  // Released and capped again: listed again.
  EXPECT_EQ(density.Flush(), t0 + 5s + 10min) << "held for the interval";
  EXPECT_EQ(sent.size(), 1u);
  clock.Advance(10min);
  density.Flush();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].nodes, (std::vector<std::string>{"w1", "w3"}));
  EXPECT_EQ(notify::FactId(sent[1]), "density.cap-reached/workers//2027-01-15T08:10:00Z");
  clock.Advance(1h);
  density.Flush();
  EXPECT_EQ(sent.size(), 2u) << "nothing pending, nothing sent";
}

TEST(NotificationsConditionTest, NamesEachFailingSinkAndReasonAndClears) {
  SinkHealthBoard board;
  int changes = 0;
  board.OnChange([&] { ++changes; });
  for (int i = 0; i < notify::kFailingAfter; ++i) board.Record("oncall-dingtalk", "failed", "tls");
  board.Record("ops-slack", "failed", "http_5xx");  // Once: not failing.
  EXPECT_EQ(changes, 1);
  api::Condition c = NotificationsCondition(board.Failing(), 4);
  EXPECT_EQ(c.type, kConditionNotificationsFailing);
  EXPECT_EQ(c.status, kube::ConditionStatus::kTrue);
  EXPECT_EQ(c.reason, "SinkFailing");
  EXPECT_EQ(c.observed_generation, 4);
  EXPECT_NE(c.message.find("sink oncall-dingtalk: 3 notifications in a row failed, the last "
                           "with tls"),
            std::string::npos)
      << c.message;
  EXPECT_EQ(c.message.find("ops-slack"), std::string::npos) << c.message;

  board.Record("oncall-dingtalk", "sent", "ok");
  EXPECT_EQ(changes, 2);
  c = NotificationsCondition(board.Failing(), 4);
  EXPECT_EQ(c.status, kube::ConditionStatus::kFalse);
  EXPECT_EQ(c.reason, "Delivering");
}

}  // namespace
}  // namespace nodeguard::runtime
