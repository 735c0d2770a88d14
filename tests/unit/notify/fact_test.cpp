#include "notify/fact.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>

namespace nodeguard::notify {
namespace {

using namespace std::chrono_literals;

const WallTime kAt = WallTime(std::chrono::seconds(1'765'076'400));  // 2025-12-07T03:00:00Z

Fact Remediation(FactKind kind) {
  Fact f;
  f.kind = kind;
  f.cluster = "prod-hz-1";
  f.policy = "workers";
  f.node = "worker-3";
  f.action = "reboot";
  f.reason = "Ready=False for 5m";
  f.duration = 252s;
  f.time = kAt;
  f.occurrence = "req-7f3a";
  return f;
}

TEST(FactKindTest, EveryKindHasADistinctNameThatParsesBack) {
  std::set<std::string> names;
  for (FactKind kind : AllFactKinds()) {
    const std::string name = FactKindName(kind);
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.insert(name).second) << name;
    ASSERT_TRUE(ParseFactKind(name).has_value()) << name;
    EXPECT_EQ(*ParseFactKind(name), kind);
  }
  EXPECT_EQ(names.size(), 9u);
  EXPECT_FALSE(ParseFactKind("remediation").has_value());
  EXPECT_FALSE(ParseFactKind("Remediation.Started").has_value());
}

TEST(FactIdTest, DependsOnlyOnClusterStateNotOnTimeOrText) {
  Fact a = Remediation(FactKind::kRemediationStarted);
  Fact b = a;
  b.time = kAt + 1h;  // Recorded again later, by another replica.
  b.reason = "NotReady";
  b.duration = 1s;
  EXPECT_EQ(FactId(a), "remediation.started/workers/worker-3/req-7f3a");
  EXPECT_EQ(FactId(a), FactId(b));

  Fact succeeded = a;
  succeeded.kind = FactKind::kRemediationSucceeded;
  EXPECT_NE(FactId(a), FactId(succeeded));
  Fact next = a;
  next.occurrence = "req-8000";
  EXPECT_NE(FactId(a), FactId(next));
}

TEST(FactIdTest, PartsAreEscapedSoTheyCannotRunIntoEachOther) {
  Fact a = Remediation(FactKind::kRemediationStarted);
  a.policy = "a/b";
  a.node = "c";
  Fact b = a;
  b.policy = "a";
  b.node = "b/c";
  EXPECT_NE(FactId(a), FactId(b));
  EXPECT_EQ(FactId(a), "remediation.started/a%2Fb/c/req-7f3a");
  a.occurrence = "50%\n";
  EXPECT_EQ(FactId(a), "remediation.started/a%2Fb/c/50%25%0A");
}

TEST(HumanDurationTest, WholeSecondsInHoursMinutesSeconds) {
  EXPECT_EQ(HumanDuration(0s), "0s");
  EXPECT_EQ(HumanDuration(999ms), "0s");
  EXPECT_EQ(HumanDuration(59s), "59s");
  EXPECT_EQ(HumanDuration(252s), "4m12s");
  EXPECT_EQ(HumanDuration(3600s), "1h0m0s");
  EXPECT_EQ(HumanDuration(3723s), "1h2m3s");
  EXPECT_EQ(HumanDuration(-5s), "0s");
}

TEST(DescribeFactTest, FailedSaysWhatHappenedAndThatAPersonMustAct) {
  Fact f = Remediation(FactKind::kRemediationFailed);
  f.detail = "the node did not come back within 10m";
  const FactText t = DescribeFact(f);
  EXPECT_EQ(t.title, "Node worker-3: remediation FAILED (reboot after 4m12s)");
  EXPECT_NE(t.body.find("could not bring node worker-3 back with reboot after 4m12s."),
            std::string::npos)
      << t.body;
  EXPECT_NE(t.body.find("Reason: Ready=False for 5m."), std::string::npos) << t.body;
  EXPECT_NE(t.body.find("the node did not come back within 10m."), std::string::npos) << t.body;
  EXPECT_NE(t.body.find("a person must look at this node"), std::string::npos) << t.body;
  EXPECT_EQ(t.body.find("http"), std::string::npos) << "link-free: " << t.body;
  ASSERT_EQ(t.fields.size(), 7u);
  EXPECT_EQ(t.fields[0], (std::pair<std::string, std::string>{"Cluster", "prod-hz-1"}));
  EXPECT_EQ(t.fields[1], (std::pair<std::string, std::string>{"Node", "worker-3"}));
  EXPECT_EQ(t.fields[4], (std::pair<std::string, std::string>{"Duration", "4m12s"}));
  EXPECT_EQ(t.fields[6], (std::pair<std::string, std::string>{"Time", "2025-12-07T03:00:00Z"}));
}

TEST(DescribeFactTest, StartedAndSucceededSayNothingIsToBeDone) {
  const FactText started = DescribeFact(Remediation(FactKind::kRemediationStarted));
  EXPECT_EQ(started.title, "Node worker-3: remediation started (reboot)");
  EXPECT_NE(started.body.find("at 2025-12-07T03:00:00Z"), std::string::npos) << started.body;
  EXPECT_NE(started.body.find("Nothing to do now"), std::string::npos);
  Fact cordoned = Remediation(FactKind::kRemediationStarted);
  cordoned.action.clear();  // Recorded at the cordon, before the first action.
  const FactText first = DescribeFact(cordoned);
  EXPECT_EQ(first.title, "Node worker-3: remediation started");
  EXPECT_NE(first.body.find("started its remediation (cordon and drain first) at"),
            std::string::npos)
      << first.body;
  const FactText ok = DescribeFact(Remediation(FactKind::kRemediationSucceeded));
  EXPECT_EQ(ok.title, "Node worker-3: recovered (reboot after 4m12s)");
  EXPECT_NE(ok.body.find("Nothing to do."), std::string::npos);
}

TEST(DescribeFactTest, EveryKindHasATitleAndABody) {
  for (FactKind kind : AllFactKinds()) {
    Fact f = Remediation(kind);
    f.nodes = {"a", "b"};
    const FactText t = DescribeFact(f);
    EXPECT_FALSE(t.title.empty()) << FactKindName(kind);
    EXPECT_GT(t.body.size(), 40u) << FactKindName(kind);
  }
}

TEST(DescribeFactTest, EarlyWarningSaysTheLevelAndWhetherToLook) {
  Fact f;
  f.kind = FactKind::kEarlyWarningChanged;
  f.node = "worker-3";
  f.policy = "workers";
  f.time = kAt;
  f.occurrence = "Critical 2025-12-07T03:00:00Z";
  f.level = "Critical";
  FactText t = DescribeFact(f);
  EXPECT_EQ(t.title, "Node worker-3: early warning CRITICAL");
  EXPECT_NE(t.body.find("NotReady"), std::string::npos) << t.body;
  EXPECT_TRUE(IsWarning(f));
  f.level = "Degraded";
  t = DescribeFact(f);
  EXPECT_EQ(t.title, "Node worker-3: early warning Degraded");
  EXPECT_NE(t.body.find("relists its pods slowly"), std::string::npos) << t.body;
  EXPECT_TRUE(IsWarning(f));
  f.level = "Healthy";
  t = DescribeFact(f);
  EXPECT_EQ(t.title, "Node worker-3: early warning back to Healthy");
  EXPECT_NE(t.body.find("Nothing to do."), std::string::npos) << t.body;
  EXPECT_FALSE(IsWarning(f));
  bool has_level = false;
  for (const auto& [name, value] : t.fields)
    has_level = has_level || (name == "Level" && value == "Healthy");
  EXPECT_TRUE(has_level);
}

TEST(DescribeFactTest, DensityListsTheNodesAndHowManyMore) {
  Fact f;
  f.kind = FactKind::kDensityCapReached;
  f.policy = "workers";
  f.nodes = {"n1", "n2"};
  f.more_nodes = 3;
  f.time = kAt;
  const FactText t = DescribeFact(f);
  EXPECT_EQ(t.title, "Pod density cap reached on 5 nodes");
  EXPECT_NE(t.body.find("n1, n2, 3 more."), std::string::npos) << t.body;
  f.nodes = {"n1"};
  f.more_nodes = 0;
  EXPECT_EQ(DescribeFact(f).title, "Pod density cap reached on 1 node");
}

}  // namespace
}  // namespace nodeguard::notify
