#include "notify/sink.h"

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "notify/payload.h"

namespace nodeguard::notify {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const WallTime kAt = WallTime(std::chrono::milliseconds(1'700'000'000'000));

Fact Started() {
  Fact f;
  f.kind = FactKind::kRemediationStarted;
  f.policy = "workers";
  f.node = "worker-3";
  f.action = "reboot";
  f.time = kAt;
  f.occurrence = "req-1";
  return f;
}

SinkConfig Sink(SinkType type) {
  SinkConfig s;
  s.name = "oncall";
  s.type = type;
  s.url = "https://hooks.example.com/services/T0/B0/XYZsecret";
  s.cluster = "prod";
  return s;
}

TEST(SinkTypeTest, NamesRoundTrip) {
  for (SinkType t : {SinkType::kDingTalk, SinkType::kSlack, SinkType::kWebhook}) {
    EXPECT_EQ(ParseSinkType(SinkTypeName(t)), t);
  }
  EXPECT_FALSE(ParseSinkType("teams").has_value());
}

TEST(ParseKindsTest, NamesStarAndUnknown) {
  auto kinds = ParseKinds({"remediation.failed", "storm.detected"});
  ASSERT_TRUE(kinds.ok());
  EXPECT_EQ(kinds->size(), 2u);
  auto all = ParseKinds({"*"});
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
  auto bad = ParseKinds({"remediation.failed", "remediation.exploded"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("remediation.exploded"), std::string::npos);
}

TEST(SinkConfigTest, WantsOnlyTheSelectedKindsOrAllWhenNoneSelected) {
  SinkConfig s = Sink(SinkType::kSlack);
  EXPECT_TRUE(s.Wants(FactKind::kRemediationStarted));
  s.kinds = {FactKind::kRemediationFailed};
  EXPECT_FALSE(s.Wants(FactKind::kRemediationStarted));
  EXPECT_TRUE(s.Wants(FactKind::kRemediationFailed));
}

TEST(ValidateSinkTest, ErrorsNeverContainTheUrlOrTheSecret) {
  SinkConfig s = Sink(SinkType::kDingTalk);
  s.secret = "SECtopsecret";
  EXPECT_TRUE(ValidateSink(s, false).ok());
  s.url = "http://hooks.example.com/XYZsecret";
  auto status = ValidateSink(s, false);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message.find("XYZsecret"), std::string::npos);
  EXPECT_TRUE(ValidateSink(s, true).ok());
  s.url = "https://h/x";
  s.secret = "SECtop\nsecret";
  status = ValidateSink(s, false);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message.find("SECtop"), std::string::npos);
  SinkConfig slack = Sink(SinkType::kSlack);
  slack.secret = "x";
  EXPECT_FALSE(ValidateSink(slack, false).ok());
  slack.secret = "";
  slack.url = "";
  EXPECT_FALSE(ValidateSink(slack, false).ok());
  slack.name = "";
  EXPECT_FALSE(ValidateSink(slack, false).ok());
}

TEST(RedactUrlTest, KeepsSchemeAndHostOnly) {
  EXPECT_EQ(RedactUrl("https://hooks.slack.com/services/T0/B0/XYZ"),
            "https://hooks.slack.com/\xE2\x80\xA6");
  EXPECT_EQ(RedactUrl("https://oapi.dingtalk.com/robot/send?access_token=abc"),
            "https://oapi.dingtalk.com/\xE2\x80\xA6");
  EXPECT_EQ(RedactUrl("https://user:pw@host:8443?x=1"), "https://host:8443/\xE2\x80\xA6");
  EXPECT_EQ(RedactUrl("https://host"), "https://host");
  EXPECT_EQ(RedactUrl("not a url with token"), "(url redacted)");
}

TEST(BuildRequestTest, DingTalkIsSignedWithTheTimeGivenWhenASecretIsSet) {
  SinkConfig s = Sink(SinkType::kDingTalk);
  s.url = "https://oapi.dingtalk.com/robot/send?access_token=abc";
  s.secret = "SECexample0123";
  OutboundRequest r = BuildRequest(s, Started(), kAt);
  // The vector of payload_test.cc (computed with Python for ts=1700000000000).
  EXPECT_EQ(r.url,
            "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1700000000000"
            "&sign=Sa4KNFB5T%2FarpUvIi5KJSRcA7mBJVgy6L2LKqIvCft0%3D");
  EXPECT_EQ(r.headers["Content-Type"], "application/json; charset=utf-8");
  EXPECT_EQ(json::parse(r.body)["msgtype"], "markdown");
  s.secret = "";
  EXPECT_EQ(BuildRequest(s, Started(), kAt).url, s.url);
}

TEST(BuildRequestTest, SlackAndWebhookBodies) {
  OutboundRequest slack = BuildRequest(Sink(SinkType::kSlack), Started(), kAt);
  EXPECT_EQ(slack.url, Sink(SinkType::kSlack).url);
  EXPECT_TRUE(json::parse(slack.body).contains("blocks"));
  OutboundRequest hook = BuildRequest(Sink(SinkType::kWebhook), Started(), kAt);
  EXPECT_EQ(hook.headers["Content-Type"], "application/cloudevents+json");
  const json e = json::parse(hook.body);
  EXPECT_EQ(e["source"], "/nodeguard/prod");
  EXPECT_EQ(e["type"], "io.nodeguard.remediation.started");
}

TEST(DensityAggregatorTest, AtMostOneFactPerIntervalPerPolicyListingTheNodes) {
  DensityAggregator agg(10min, /*max_nodes=*/2);
  const WallTime t0 = WallTime(std::chrono::seconds(1'800'000'000));  // On a 10 min grid.
  EXPECT_FALSE(agg.NextDue().has_value());
  EXPECT_TRUE(agg.Flush(t0, "prod").empty());

  agg.Add("workers", "n2");
  agg.Add("workers", "n1");
  agg.Add("workers", "n1");  // The same node twice is listed once.
  ASSERT_TRUE(agg.NextDue().has_value());
  EXPECT_LE(*agg.NextDue(), t0);  // The first after a quiet interval goes at once.
  auto first = agg.Flush(t0 + 1s, "prod");
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].kind, FactKind::kDensityCapReached);
  EXPECT_EQ(first[0].policy, "workers");
  EXPECT_EQ(first[0].cluster, "prod");
  EXPECT_EQ(first[0].nodes, (std::vector<std::string>{"n1", "n2"}));
  EXPECT_EQ(first[0].more_nodes, 0u);
  EXPECT_EQ(first[0].occurrence, "2027-01-15T08:00:00Z");

  agg.Add("workers", "n3");
  agg.Add("workers", "n4");
  agg.Add("workers", "n5");
  EXPECT_EQ(*agg.NextDue(), t0 + 1s + 10min);
  EXPECT_TRUE(agg.Flush(t0 + 5min, "prod").empty());  // Within the interval: held.
  auto second = agg.Flush(t0 + 1s + 10min, "prod");
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].nodes, (std::vector<std::string>{"n3", "n4"}));
  EXPECT_EQ(second[0].more_nodes, 1u);
  EXPECT_NE(FactId(first[0]), FactId(second[0]));
  EXPECT_FALSE(agg.NextDue().has_value());
}

// A burst that caps nodes a few seconds apart is one message, not the first
// node at once and the others an interval later.
TEST(DensityAggregatorTest, TheGatherHoldsTheFirstNodeForTheNodesRightBehindIt) {
  DensityAggregator agg(10min, 50, /*gather=*/5s);
  const WallTime t0 = WallTime(std::chrono::seconds(1'800'000'000));
  agg.Add("workers", "n1", t0);
  EXPECT_EQ(*agg.NextDue(), t0 + 5s);
  EXPECT_TRUE(agg.Flush(t0 + 4s, "prod").empty()) << "gathering";
  agg.Add("workers", "n2", t0 + 4s);  // Does not restart the gather.
  EXPECT_EQ(*agg.NextDue(), t0 + 5s);
  auto burst = agg.Flush(t0 + 5s, "prod");
  ASSERT_EQ(burst.size(), 1u);
  EXPECT_EQ(burst[0].nodes, (std::vector<std::string>{"n1", "n2"}));
  // After the interval the interval decides, not the gather started within it.
  agg.Add("workers", "n3", t0 + 10min + 3s);
  EXPECT_EQ(*agg.NextDue(), t0 + 10min + 8s);
  agg.Add("workers", "n4", t0 + 20min);
  EXPECT_EQ(*agg.NextDue(), t0 + 10min + 8s) << "the first pending node's gather";
}

TEST(DensityAggregatorTest, PoliciesAreAggregatedSeparately) {
  DensityAggregator agg(10min);
  const WallTime t0 = WallTime(std::chrono::seconds(1'800'000'000));
  agg.Add("a", "n1");
  agg.Add("b", "n2");
  auto facts = agg.Flush(t0, "");
  ASSERT_EQ(facts.size(), 2u);
  EXPECT_EQ(facts[0].policy, "a");
  EXPECT_EQ(facts[1].policy, "b");
}

}  // namespace
}  // namespace nodeguard::notify
