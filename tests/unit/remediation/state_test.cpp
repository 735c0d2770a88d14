#include "remediation/state.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "common/time.h"

namespace nodeguard::remediation {
namespace {

using api::RemediationAction;

WallTime T(const char* text) { return *ParseRfc3339(text); }

RemediationState Pending() {
  RemediationState s;
  s.id = "worker-3-1795789899";
  s.policy = "incident";
  s.phase = Phase::kPending;
  s.attempt = 1;
  s.detected_at = T("2026-11-27T14:31:39Z");
  s.phase_since = s.detected_at;
  return s;
}

RemediationState Full() {
  RemediationState s = Pending();
  s.phase = Phase::kActionRequested;
  s.action = RemediationAction::kReboot;
  s.action_index = 1;
  s.attempt = 2;
  s.started_at = T("2026-11-27T14:31:40Z");
  s.phase_since = T("2026-11-27T14:40:02Z");
  s.action_requested_at = T("2026-11-27T14:40:02Z");
  s.previous_finished_at = T("2026-11-27T10:00:00Z");
  s.cordoned_by_us = true;
  s.boot_id_before = "6f1c1bd2-6f9a-4b7e-9b76-2d7c0f2b8c41";
  s.request_id = "worker-3-1795789899-2";
  s.message = "requested Reboot (rung 2 of 2)";
  return s;
}

RemediationState Finished(Phase phase, Outcome outcome) {
  RemediationState s = Full();
  s.phase = phase;
  s.outcome = outcome;
  s.finished_at = T("2026-11-27T15:00:00Z");
  return s;
}

void ExpectRoundTrip(const RemediationState& s) {
  const std::string text = EncodeState(s);
  auto decoded = DecodeState(text);
  ASSERT_TRUE(decoded.ok()) << decoded.error().ToString() << "\n" << text;
  EXPECT_EQ(*decoded, s) << text;
}

TEST(RemediationState, RoundTripsEveryPhase) {
  ExpectRoundTrip(Pending());
  RemediationState cordoned = Pending();
  cordoned.phase = Phase::kCordoned;
  cordoned.started_at = cordoned.detected_at;
  cordoned.cordoned_by_us = true;
  ExpectRoundTrip(cordoned);
  cordoned.phase = Phase::kDraining;
  ExpectRoundTrip(cordoned);
  ExpectRoundTrip(Full());
  RemediationState awaiting = Full();
  awaiting.phase = Phase::kAwaitingRecovery;
  ExpectRoundTrip(awaiting);
  ExpectRoundTrip(Finished(Phase::kSucceeded, Outcome::kRecovered));
  ExpectRoundTrip(Finished(Phase::kFailed, Outcome::kDrainTimedOut));
  ExpectRoundTrip(Finished(Phase::kCancelled, Outcome::kUncordonedExternally));
  RemediationState external = Full();
  external.action = RemediationAction::kExternal;
  external.request_id.clear();
  ExpectRoundTrip(external);
}

TEST(RemediationState, EncodesTheDocumentedFields) {
  const std::string want =
      R"({"action":"Reboot","actionIndex":1,"actionRequestedAt":"2026-11-27T14:40:02Z",)"
      R"("attempt":2,"bootIdBefore":"6f1c1bd2-6f9a-4b7e-9b76-2d7c0f2b8c41",)"
      R"("cordonedByUs":true,"detectedAt":"2026-11-27T14:31:39Z","id":"worker-3-1795789899",)"
      R"j("message":"requested Reboot (rung 2 of 2)","phase":"ActionRequested",)j"
      R"("phaseSince":"2026-11-27T14:40:02Z","policy":"incident",)"
      R"("previousFinishedAt":"2026-11-27T10:00:00Z","requestId":"worker-3-1795789899-2",)"
      R"("startedAt":"2026-11-27T14:31:40Z"})";
  EXPECT_EQ(EncodeState(Full()), want);
}

TEST(RemediationState, IgnoresUnknownKeys) {
  auto s = DecodeState(
      R"({"id":"n-1","policy":"p","phase":"Pending","attempt":1,"detectedAt":"2026-11-27T14:31:39Z",)"
      R"("phaseSince":"2026-11-27T14:31:39Z","addedInV2":[1,2]})");
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->phase, Phase::kPending);
  EXPECT_FALSE(s->cordoned_by_us);
}

struct BadCase {
  std::string name;
  std::string json;
  std::string want_in_message;
};
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

// Replaces `from` by `to` in the encoding of a valid state.
std::string Mutate(const RemediationState& s, const std::string& from, const std::string& to) {
  std::string text = EncodeState(s);
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from << " not in " << text;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

class DecodeStateRejects : public testing::TestWithParam<BadCase> {};

TEST_P(DecodeStateRejects, WithAMessage) {
  auto s = DecodeState(GetParam().json);
  ASSERT_FALSE(s.ok()) << GetParam().json;
  EXPECT_EQ(s.error().kind, ErrorKind::kInvalid);
  EXPECT_NE(s.error().message.find(GetParam().want_in_message), std::string::npos)
      << s.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, DecodeStateRejects,
    testing::Values(
        BadCase{"NotJson", "phase=Pending", "not valid JSON"},
        BadCase{"String", R"("Pending")", "not a JSON object"},
        BadCase{"MissingId", Mutate(Pending(), R"("id":"worker-3-1795789899",)", ""), "\"id\""},
        BadCase{"EmptyPolicy", Mutate(Pending(), R"("policy":"incident")", R"("policy":"")"),
                "\"policy\""},
        BadCase{"MissingPhase", Mutate(Pending(), R"("phase":"Pending",)", ""), "\"phase\""},
        BadCase{"UnknownPhase", Mutate(Pending(), R"("phase":"Pending")", R"("phase":"Rebooting")"),
                "unknown phase"},
        BadCase{"AttemptString", Mutate(Pending(), R"("attempt":1)", R"("attempt":"1")"),
                "must be an integer"},
        BadCase{"AttemptZero", Mutate(Pending(), R"("attempt":1)", R"("attempt":0)"),
                "attempt must be >= 1"},
        BadCase{"AttemptFloat", Mutate(Pending(), R"("attempt":1)", R"("attempt":1.5)"),
                "must be an integer"},
        BadCase{"MissingAttempt", Mutate(Pending(), R"("attempt":1,)", ""), "\"attempt\""},
        BadCase{
            "BadDetectedAt",
            Mutate(Pending(), R"("detectedAt":"2026-11-27T14:31:39Z")", R"("detectedAt":"now")"),
            "RFC 3339"},
        BadCase{"MissingPhaseSince",
                Mutate(Pending(), R"(,"phaseSince":"2026-11-27T14:31:39Z")", ""), "\"phaseSince\""},
        BadCase{"CordonedByUsString",
                Mutate(Pending(), R"("cordonedByUs":false)", R"("cordonedByUs":"no")"),
                "must be a boolean"},
        BadCase{"UnknownAction", Mutate(Full(), R"("action":"Reboot")", R"("action":"Reinstall")"),
                "unknown action"},
        BadCase{"ActionWithoutIndex", Mutate(Full(), R"("actionIndex":1,)", ""),
                "action and actionIndex go together"},
        BadCase{"NegativeIndex", Mutate(Full(), R"("actionIndex":1)", R"("actionIndex":-1)"),
                "actionIndex out of range"},
        BadCase{"AgentRungWithoutRequestId",
                Mutate(Full(), R"("requestId":"worker-3-1795789899-2",)", ""), "needs requestId"},
        BadCase{"RungWithoutRequestedAt",
                Mutate(Full(), R"("actionRequestedAt":"2026-11-27T14:40:02Z",)", ""),
                "needs action and actionRequestedAt"},
        BadCase{"DisruptiveWithoutStartedAt",
                Mutate(Full(), R"(,"startedAt":"2026-11-27T14:31:40Z")", ""), "needs startedAt"},
        BadCase{"FinishedWithoutFinishedAt",
                Mutate(Finished(Phase::kSucceeded, Outcome::kRecovered),
                       R"("finishedAt":"2026-11-27T15:00:00Z",)", ""),
                "needs finishedAt"},
        BadCase{"FinishedWithoutOutcome",
                Mutate(Finished(Phase::kSucceeded, Outcome::kRecovered),
                       R"("outcome":"Recovered",)", ""),
                "outcome is set exactly"},
        BadCase{"OutcomeWhileInFlight",
                Mutate(Full(), R"("phase":"ActionRequested")",
                       R"("outcome":"Recovered","phase":"ActionRequested")"),
                "outcome is set exactly"},
        BadCase{"UnknownOutcome",
                Mutate(Finished(Phase::kFailed, Outcome::kDrainFailed),
                       R"("outcome":"DrainFailed")", R"("outcome":"Oops")"),
                "unknown outcome"}),
    [](const testing::TestParamInfo<BadCase>& param_info) { return param_info.param.name; });

TEST(Phase, NamesAndClasses) {
  int disruptive = 0;
  int terminal = 0;
  for (Phase p : {Phase::kPending, Phase::kCordoned, Phase::kDraining, Phase::kActionRequested,
                  Phase::kAwaitingRecovery, Phase::kSucceeded, Phase::kFailed, Phase::kCancelled}) {
    EXPECT_EQ(ParsePhase(PhaseName(p)), p);
    disruptive += IsDisruptive(p);
    terminal += IsTerminal(p);
    EXPECT_FALSE(IsDisruptive(p) && IsTerminal(p));
  }
  EXPECT_EQ(disruptive, 4);
  EXPECT_EQ(terminal, 3);
  EXPECT_FALSE(IsDisruptive(Phase::kPending));
  EXPECT_FALSE(IsTerminal(Phase::kPending));
}

TEST(ToStatus, MapsPhasesAndOutcomes) {
  struct Row {
    RemediationState state;
    api::RemediationPhase phase;
    api::RemediationResult result;
  };
  RemediationState draining = Full();
  draining.phase = Phase::kDraining;
  RemediationState awaiting = Full();
  awaiting.phase = Phase::kAwaitingRecovery;
  const Row rows[] = {
      {draining, api::RemediationPhase::kDraining, api::RemediationResult::kNone},
      {Full(), api::RemediationPhase::kActing, api::RemediationResult::kNone},
      {awaiting, api::RemediationPhase::kVerifying, api::RemediationResult::kNone},
      {Finished(Phase::kSucceeded, Outcome::kRecovered), api::RemediationPhase::kSucceeded,
       api::RemediationResult::kRecovered},
      {Finished(Phase::kCancelled, Outcome::kRecoveredWithoutAction),
       api::RemediationPhase::kSucceeded, api::RemediationResult::kRecovered},
      {Finished(Phase::kCancelled, Outcome::kExcluded), api::RemediationPhase::kFailed,
       api::RemediationResult::kAborted},
      {Finished(Phase::kFailed, Outcome::kDrainTimedOut), api::RemediationPhase::kFailed,
       api::RemediationResult::kTimedOut},
      {Finished(Phase::kFailed, Outcome::kActionsExhausted), api::RemediationPhase::kFailed,
       api::RemediationResult::kFailed},
  };
  for (const Row& row : rows) {
    api::RemediationStatus st = ToStatus("worker-3", row.state);
    EXPECT_EQ(st.node, "worker-3");
    EXPECT_EQ(st.phase, row.phase) << PhaseName(row.state.phase);
    EXPECT_EQ(st.result, row.result) << PhaseName(row.state.phase);
    EXPECT_EQ(st.attempt, 2);
    EXPECT_EQ(st.action, RemediationAction::kReboot);
    EXPECT_EQ(st.started_at, T("2026-11-27T14:31:40Z"));
  }
}

}  // namespace
}  // namespace nodeguard::remediation
