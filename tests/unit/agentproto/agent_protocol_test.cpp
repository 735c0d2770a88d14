#include "agentproto/agent_protocol.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "common/time.h"

namespace nodeguard::agentproto {
namespace {

WallTime T(const char* text) { return *ParseRfc3339(text); }

TEST(AgentRequest, EncodesTheDocumentedForm) {
  AgentRequest r{"worker-3-1795789899-1", AgentAction::kReboot, T("2026-11-27T14:31:39Z"),
                 "nodeguard/incident"};
  const std::string want =
      R"({"action":"Reboot","id":"worker-3-1795789899-1",)"
      R"("requestedAt":"2026-11-27T14:31:39Z","requester":"nodeguard/incident"})";
  EXPECT_EQ(EncodeAgentRequest(r), want);
}

TEST(AgentRequest, RoundTripsEveryAction) {
  for (AgentAction a : {AgentAction::kRestartContainerRuntime, AgentAction::kRestartKubelet,
                        AgentAction::kReboot}) {
    AgentRequest r{"id-1", a, T("2026-11-27T14:31:39Z"), "nodeguard/p"};
    auto decoded = DecodeAgentRequest(EncodeAgentRequest(r));
    ASSERT_TRUE(decoded.ok()) << decoded.error().ToString();
    EXPECT_EQ(*decoded, r);
    EXPECT_EQ(ParseAgentAction(AgentActionName(a)), a);
  }
}

TEST(AgentRequest, RequesterIsOptionalAndUnknownKeysAreIgnored) {
  auto r = DecodeAgentRequest(
      R"({"id":"a.b_c-1","action":"RestartKubelet","requestedAt":"2026-11-27T14:31:39Z","future":{"x":1}})");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->requester, "");
  EXPECT_EQ(r->action, AgentAction::kRestartKubelet);
}

struct BadCase {
  std::string name;
  std::string json;
  std::string want_in_message;
};
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class DecodeAgentRequestRejects : public testing::TestWithParam<BadCase> {};

TEST_P(DecodeAgentRequestRejects, WithAMessage) {
  auto r = DecodeAgentRequest(GetParam().json);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalid);
  EXPECT_NE(r.error().message.find(GetParam().want_in_message), std::string::npos)
      << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, DecodeAgentRequestRejects,
    testing::Values(
        BadCase{"NotJson", "{id:", "not valid JSON"}, BadCase{"Array", "[]", "not a JSON object"},
        BadCase{"Empty", "", "not valid JSON"},
        BadCase{"MissingId", R"({"action":"Reboot","requestedAt":"2026-11-27T14:31:39Z"})",
                "\"id\" is missing"},
        BadCase{"IdNotString", R"({"id":7,"action":"Reboot","requestedAt":"2026-11-27T14:31:39Z"})",
                "must be a string"},
        BadCase{"IdWithSpace",
                R"({"id":"a b","action":"Reboot","requestedAt":"2026-11-27T14:31:39Z"})",
                "must be 1-320 characters"},
        BadCase{"IdWithShellChars",
                R"({"id":"x;reboot","action":"Reboot","requestedAt":"2026-11-27T14:31:39Z"})",
                "must be 1-320 characters"},
        BadCase{"UnknownAction",
                R"({"id":"x","action":"Shutdown","requestedAt":"2026-11-27T14:31:39Z"})",
                "unknown action \"Shutdown\""},
        BadCase{"ExternalIsNotAnAgentAction",
                R"({"id":"x","action":"External","requestedAt":"2026-11-27T14:31:39Z"})",
                "unknown action"},
        BadCase{"LowercaseAction",
                R"({"id":"x","action":"reboot","requestedAt":"2026-11-27T14:31:39Z"})",
                "unknown action"},
        BadCase{"MissingAction", R"({"id":"x","requestedAt":"2026-11-27T14:31:39Z"})",
                "\"action\" is missing"},
        BadCase{"MissingRequestedAt", R"({"id":"x","action":"Reboot"})",
                "\"requestedAt\" is missing"},
        BadCase{"BadTime", R"({"id":"x","action":"Reboot","requestedAt":"yesterday"})",
                "RFC 3339"}),
    [](const testing::TestParamInfo<BadCase>& param_info) { return param_info.param.name; });

TEST(AgentRequest, IdLengthLimit) {
  EXPECT_TRUE(IsValidRequestId(std::string(320, 'a')));
  EXPECT_FALSE(IsValidRequestId(std::string(321, 'a')));
  EXPECT_FALSE(IsValidRequestId(""));
}

TEST(PeekRequestId, ReadsTheIdOfAnOtherwiseBadRequest) {
  EXPECT_EQ(PeekRequestId(R"({"id":"req-1","action":"Shutdown"})"), "req-1");
  EXPECT_EQ(PeekRequestId(R"({"id":"bad id"})"), std::nullopt);
  EXPECT_EQ(PeekRequestId(R"({"action":"Reboot"})"), std::nullopt);
  EXPECT_EQ(PeekRequestId("garbage"), std::nullopt);
}

TEST(AgentStatus, RoundTripsFullAndMinimal) {
  AgentStatus full{"req-1", AgentState::kDone,         "rebooted; bootId a -> b",
                   "a",     T("2026-11-27T14:31:40Z"), T("2026-11-27T14:35:00Z")};
  auto decoded = DecodeAgentStatus(EncodeAgentStatus(full));
  ASSERT_TRUE(decoded.ok()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, full);

  AgentStatus minimal{"req-1", AgentState::kAccepted, "", "", std::nullopt, std::nullopt};
  EXPECT_EQ(EncodeAgentStatus(minimal), R"({"id":"req-1","state":"Accepted"})");
  decoded = DecodeAgentStatus(EncodeAgentStatus(minimal));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, minimal);
}

TEST(AgentStatus, EmptyIdIsTheRefusalOfAnUnreadableRequest) {
  auto s = DecodeAgentStatus(R"({"id":"","state":"Failed","message":"refused: not JSON"})");
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->id, "");
  EXPECT_EQ(s->state, AgentState::kFailed);
}

TEST(AgentStatus, RejectsMalformed) {
  for (const char* bad :
       {R"({"state":"Done"})", R"({"id":"x"})", R"({"id":"x","state":"Finished"})",
        R"({"id":"x","state":"Done","bootId":5})",
        R"({"id":"x","state":"Done","finishedAt":"soon"})", R"({"id":"x y","state":"Done"})",
        "null"}) {
    auto s = DecodeAgentStatus(bad);
    EXPECT_FALSE(s.ok()) << bad;
    if (!s.ok()) {
      EXPECT_EQ(s.error().kind, ErrorKind::kInvalid) << bad;
    }
  }
}

TEST(AgentState, NamesAndFinality) {
  for (AgentState s :
       {AgentState::kAccepted, AgentState::kRunning, AgentState::kDone, AgentState::kFailed}) {
    EXPECT_EQ(ParseAgentState(AgentStateName(s)), s);
  }
  EXPECT_FALSE(IsFinal(AgentState::kAccepted));
  EXPECT_FALSE(IsFinal(AgentState::kRunning));
  EXPECT_TRUE(IsFinal(AgentState::kDone));
  EXPECT_TRUE(IsFinal(AgentState::kFailed));
  EXPECT_EQ(ParseAgentState("done"), std::nullopt);
}

}  // namespace
}  // namespace nodeguard::agentproto
