#include "notify/config.h"

#include <gtest/gtest.h>

#include <string>

namespace nodeguard::notify {
namespace {

using namespace std::chrono_literals;

TEST(ParseNotificationsConfigTest, ReadsEverySinkType) {
  auto c = ParseNotificationsConfig(R"(
cluster: prod-hz-1
densityInterval: 5m
sinks:
- name: ding
  type: dingtalk
  url: https://oapi.dingtalk.com/robot/send?access_token=abc
  secret: SECxyz
  kinds: [remediation.failed, storm.detected]
- name: slack
  type: slack
  url: https://hooks.slack.com/services/T/B/X
- name: hook
  type: webhook
  url: https://receiver.example/events
  kinds: ["*"]
)",
                                    false);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->cluster, "prod-hz-1");
  EXPECT_EQ(c->density_interval, 5min);
  ASSERT_EQ(c->sinks.size(), 3u);
  EXPECT_EQ(c->sinks[0].type, SinkType::kDingTalk);
  EXPECT_EQ(c->sinks[0].secret, "SECxyz");
  EXPECT_EQ(c->sinks[0].cluster, "prod-hz-1");
  EXPECT_EQ(c->sinks[0].kinds,
            (std::set<FactKind>{FactKind::kRemediationFailed, FactKind::kStormDetected}));
  EXPECT_EQ(c->sinks[1].type, SinkType::kSlack);
  EXPECT_TRUE(c->sinks[1].kinds.empty());
  EXPECT_TRUE(c->sinks[2].kinds.empty());
}

TEST(ParseNotificationsConfigTest, EmptyIsNoSinks) {
  auto c = ParseNotificationsConfig("", false);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->sinks.empty());
  EXPECT_EQ(c->density_interval, 10min);
}

TEST(ParseNotificationsConfigTest, ErrorsNameTheFieldButNoSecret) {
  struct Case {
    std::string yaml;
    std::string want;
  };
  const Case cases[] = {
      {"sinks: [{name: a, type: teams, url: https://h/TOKEN}]", "type must be dingtalk"},
      {"sinks: [{name: a, type: slack, url: http://h/TOKEN}]", "must start with https://"},
      {"sinks: [{name: a, type: slack}]", "url is required"},
      {"sinks: [{type: slack, url: https://h/TOKEN}]", "name is required"},
      {"sinks: [{name: a, type: slack, url: https://h/TOKEN, kinds: [nope]}]", "nope"},
      {"sinks: [{name: a, type: slack, url: https://h/TOKEN, secret: TOKEN}]", "signing secret"},
      {"sinks: [{name: a, type: slack, url: https://h/TOKEN, urll: x}]", "unknown field \"urll\""},
      {"sinks:\n- {name: a, type: slack, url: https://h/TOKEN}\n"
       "- {name: a, type: slack, url: https://h/TOKEN}",
       "used twice"},
      {"sink: []", "unknown field \"sink\""},
      {"densityInterval: 0s", "densityInterval"},
      {"sinks: {a: 1}", "sinks must be a list"},
      {"sinks: [TOKEN", "not YAML"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseNotificationsConfig(c.yaml, false);
    ASSERT_FALSE(parsed.ok()) << c.yaml;
    EXPECT_NE(parsed.error().message.find(c.want), std::string::npos)
        << c.yaml << " -> " << parsed.error().message;
    EXPECT_EQ(parsed.error().message.find("TOKEN"), std::string::npos) << parsed.error().message;
  }
}

TEST(ParseNotificationsConfigTest, HttpOnlyWhenAllowed) {
  const char* yaml = "sinks: [{name: a, type: webhook, url: 'http://127.0.0.1:8080/x'}]";
  EXPECT_FALSE(ParseNotificationsConfig(yaml, false).ok());
  EXPECT_TRUE(ParseNotificationsConfig(yaml, true).ok());
}

}  // namespace
}  // namespace nodeguard::notify
