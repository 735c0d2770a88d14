#include "agent/decide.h"

#include <gtest/gtest.h>

#include "common/time.h"
#include "fakes.h"

namespace nodeguard::agent {
namespace {

using agentproto::EncodeAgentRequest;
using agentproto::EncodeAgentStatus;

const WallTime kNow = *ParseRfc3339("2026-11-27T14:31:40Z");
const WallTime kRequestedAt = *ParseRfc3339("2026-11-27T14:31:39Z");
const WallTime kStartedAt = *ParseRfc3339("2026-11-27T14:20:00Z");

std::string Request(const std::string& id, AgentAction action,
                    WallTime requested_at = kRequestedAt) {
  return EncodeAgentRequest(AgentRequest{id, action, requested_at, "nodeguard/test"});
}

std::string Status(const std::string& id, AgentState state, const std::string& boot_id = "boot-a") {
  AgentStatus s;
  s.id = id;
  s.state = state;
  s.boot_id = boot_id;
  s.message = "recorded";
  s.started_at = kStartedAt;
  return EncodeAgentStatus(s);
}

struct Case {
  const char* name;
  std::optional<std::string> request;
  std::optional<std::string> status;
  std::string boot_id = "boot-a";
  std::map<std::string, LocalStage> local = {};
  DecideOptions options = {};
  // Expected:
  DecisionKind kind;
  std::optional<AgentState> state = std::nullopt;  // Of decision.status, unless kNothing.
  std::string status_id = "";                      // Of decision.status, unless kNothing.
  std::string message_has = "";                    // Substring of decision.status.message.
  // The nodeguard.io/remediation state: "ask" asks for the request's id,
  // "none" is no state, anything else is the annotation's text.
  std::string remediation = "ask";
  NotAskedReason not_asked = NotAskedReason::kNone;
};

// The observation of a case: the state asks for the request unless told.
AgentObservation Observe(const Case& c) {
  AgentObservation o = testing::Obs(c.request, c.status, c.boot_id, kNow);
  if (c.remediation == "ask") {
    const auto id = c.request ? agentproto::PeekRequestId(*c.request) : std::nullopt;
    o.state_json = testing::StateJson(id.value_or("no-id"));
  } else if (c.remediation != "none") {
    o.state_json = c.remediation;
  }
  return o;
}

DecideOptions WithoutReboot() {
  DecideOptions o;
  o.enabled_actions = {AgentAction::kRestartContainerRuntime, AgentAction::kRestartKubelet};
  return o;
}

DecideOptions NoAgeLimit() {
  DecideOptions o;
  o.max_request_age = std::chrono::seconds(0);
  return o;
}

const AgentAction kRuntime = AgentAction::kRestartContainerRuntime;
const AgentAction kKubelet = AgentAction::kRestartKubelet;
const AgentAction kReboot = AgentAction::kReboot;

std::vector<Case> Cases() {
  return {
      // ------------------------------------------------ nothing to do
      {.name = "no request",
       .request = std::nullopt,
       .status = std::nullopt,
       .kind = DecisionKind::kNothing},
      {.name = "no request, old status",
       .request = std::nullopt,
       .status = Status("r1", AgentState::kDone),
       .kind = DecisionKind::kNothing},

      // ------------------------------------------------ new requests
      {.name = "new request, no status",
       .request = Request("r1", kKubelet),
       .status = std::nullopt,
       .kind = DecisionKind::kExecute,
       .state = AgentState::kRunning,
       .status_id = "r1"},
      {.name = "new request replaces a finished one",
       .request = Request("r2", kRuntime),
       .status = Status("r1", AgentState::kDone),
       .kind = DecisionKind::kExecute,
       .state = AgentState::kRunning,
       .status_id = "r2"},
      {.name = "new request while an older id is still Running",
       .request = Request("r2", kReboot),
       .status = Status("r1", AgentState::kRunning),
       .kind = DecisionKind::kExecute,
       .state = AgentState::kRunning,
       .status_id = "r2"},

      // ------------------------------------------------ duplicates: never twice
      {.name = "duplicate of Done",
       .request = Request("r1", kKubelet),
       .status = Status("r1", AgentState::kDone),
       .kind = DecisionKind::kNothing},
      {.name = "duplicate of Failed",
       .request = Request("r1", kReboot),
       .status = Status("r1", AgentState::kFailed),
       .kind = DecisionKind::kNothing},
      {.name = "duplicate of Running in this agent",
       .request = Request("r1", kKubelet),
       .status = Status("r1", AgentState::kRunning),
       .local = {{"r1", LocalStage::kStarted}},
       .kind = DecisionKind::kNothing},
      {.name = "duplicate of Accepted in this agent (watch behind)",
       .request = Request("r1", kKubelet),
       .status = Status("r1", AgentState::kAccepted),
       .local = {{"r1", LocalStage::kStarted}},
       .kind = DecisionKind::kNothing},
      {.name = "started here, watch still shows the previous status",
       .request = Request("r2", kKubelet),
       .status = Status("r1", AgentState::kDone),
       .local = {{"r2", LocalStage::kStarted}},
       .kind = DecisionKind::kNothing},
      {.name = "started here, watch still shows no status",
       .request = Request("r2", kReboot),
       .status = std::nullopt,
       .local = {{"r2", LocalStage::kStarted}},
       .kind = DecisionKind::kNothing},

      // ------------------------------------------------ agent restarted mid-action
      {.name = "Running, same boot, unknown to this process (agent restarted)",
       .request = Request("r1", kRuntime),
       .status = Status("r1", AgentState::kRunning),
       .kind = DecisionKind::kReconcile,
       .state = AgentState::kFailed,
       .status_id = "r1",
       .message_has = "agent restarted while the action was running"},
      {.name = "Running Reboot, same boot, agent restarted (reboot never happened)",
       .request = Request("r1", kReboot),
       .status = Status("r1", AgentState::kRunning),
       .kind = DecisionKind::kReconcile,
       .state = AgentState::kFailed,
       .status_id = "r1",
       .message_has = "interrupted"},
      {.name = "Accepted, same boot, agent restarted before running",
       .request = Request("r1", kKubelet),
       .status = Status("r1", AgentState::kAccepted),
       .kind = DecisionKind::kReconcile,
       .state = AgentState::kFailed,
       .status_id = "r1",
       .message_has = "restarted before the action started"},
      {.name = "Running with no recorded bootID counts as the same boot",
       .request = Request("r1", kReboot),
       .status = Status("r1", AgentState::kRunning, ""),
       .kind = DecisionKind::kReconcile,
       .state = AgentState::kFailed,
       .status_id = "r1"},

      // ------------------------------------------------ reboots
      {.name = "Reboot Running, bootID changed: the reboot completed",
       .request = Request("r1", kReboot),
       .status = Status("r1", AgentState::kRunning, "boot-a"),
       .boot_id = "boot-b",
       .kind = DecisionKind::kReconcile,
       .state = AgentState::kDone,
       .status_id = "r1",
       .message_has = "rebooted (boot id boot-a -> boot-b)"},
      {.name = "Reboot Running, bootID changed, even while this process ran it (simulate)",
       .request = Request("r1", kReboot),
       .status = Status("r1", AgentState::kRunning, "boot-a"),
       .boot_id = "boot-b",
       .local = {{"r1", LocalStage::kStarted}},
       .kind = DecisionKind::kReconcile,
       .state = AgentState::kDone,
       .status_id = "r1"},
      {.name = "restart interrupted by a reboot",
       .request = Request("r1", kKubelet),
       .status = Status("r1", AgentState::kRunning, "boot-a"),
       .boot_id = "boot-b",
       .kind = DecisionKind::kReconcile,
       .state = AgentState::kFailed,
       .status_id = "r1",
       .message_has = "interrupted by a reboot"},
      {.name = "Accepted, then the node rebooted",
       .request = Request("r1", kReboot),
       .status = Status("r1", AgentState::kAccepted, "boot-a"),
       .boot_id = "boot-b",
       .kind = DecisionKind::kReconcile,
       .state = AgentState::kFailed,
       .status_id = "r1",
       .message_has = "rebooted before the action started"},
      {.name = "Reboot Done stays Done after yet another boot",
       .request = Request("r1", kReboot),
       .status = Status("r1", AgentState::kDone, "boot-a"),
       .boot_id = "boot-c",
       .kind = DecisionKind::kNothing},
      {.name = "Reboot needs a bootID to be verified",
       .request = Request("r1", kReboot),
       .status = std::nullopt,
       .boot_id = "",
       .kind = DecisionKind::kRefuse,
       .state = AgentState::kFailed,
       .status_id = "r1",
       .message_has = "no bootID"},
      {.name = "restarts do not need a bootID",
       .request = Request("r1", kKubelet),
       .status = std::nullopt,
       .boot_id = "",
       .kind = DecisionKind::kExecute,
       .state = AgentState::kRunning,
       .status_id = "r1"},

      // ------------------------------------------------ status write not confirmed earlier
      {.name = "our Running write landed late; the command never ran: run it now",
       .request = Request("r1", kReboot),
       .status = Status("r1", AgentState::kRunning),
       .local = {{"r1", LocalStage::kNotStarted}},
       .kind = DecisionKind::kExecute,
       .state = AgentState::kRunning,
       .status_id = "r1"},
      {.name = "our Accepted landed, Running failed: retry",
       .request = Request("r1", kKubelet),
       .status = Status("r1", AgentState::kAccepted),
       .local = {{"r1", LocalStage::kNotStarted}},
       .kind = DecisionKind::kExecute,
       .state = AgentState::kRunning,
       .status_id = "r1"},
      {.name = "our write failed; the Node shows nothing: retry",
       .request = Request("r1", kKubelet),
       .status = std::nullopt,
       .local = {{"r1", LocalStage::kNotStarted}},
       .kind = DecisionKind::kExecute,
       .state = AgentState::kRunning,
       .status_id = "r1"},
      {.name = "never retried once Done",
       .request = Request("r1", kKubelet),
       .status = Status("r1", AgentState::kDone),
       .local = {{"r1", LocalStage::kNotStarted}},
       .kind = DecisionKind::kNothing},

      // ------------------------------------------------ refusals
      // Without a readable id a request cannot be the one the state asks for:
      // nothing is written for it (a Failed status under "" reached no one).
      {.name = "not JSON",
       .request = std::string("reboot please"),
       .status = std::nullopt,
       .kind = DecisionKind::kNothing,
       .not_asked = NotAskedReason::kOtherRequest},
      {.name = "unknown action, refused under its id",
       .request = std::string(R"({"id":"r9","action":"FormatDisk",)"
                              R"("requestedAt":"2026-11-27T14:31:39Z"})"),
       .status = std::nullopt,
       .kind = DecisionKind::kRefuse,
       .state = AgentState::kFailed,
       .status_id = "r9",
       .message_has = "unknown action \"FormatDisk\""},
      {.name = "missing action",
       .request = std::string(R"({"id":"r9"})"),
       .status = Status("r1", AgentState::kDone),
       .kind = DecisionKind::kRefuse,
       .state = AgentState::kFailed,
       .status_id = "r9",
       .message_has = "action"},
      {.name = "bad id syntax is not run, and not answered without an id",
       .request = std::string(R"({"id":"r 1; reboot","action":"Reboot",)"
                              R"("requestedAt":"2026-11-27T14:31:39Z"})"),
       .status = std::nullopt,
       .kind = DecisionKind::kNothing,
       .not_asked = NotAskedReason::kOtherRequest},
      {.name = "bad requestedAt",
       .request = std::string(R"({"id":"r9","action":"Reboot",)"
                              R"("requestedAt":"yesterday"})"),
       .status = std::nullopt,
       .kind = DecisionKind::kRefuse,
       .state = AgentState::kFailed,
       .status_id = "r9"},
      {.name = "refusal already written (id-less)",
       .request = std::string("garbage"),
       .status = Status("", AgentState::kFailed),
       .kind = DecisionKind::kNothing},
      {.name = "refusal already written (with id)",
       .request = std::string(R"({"id":"r9","action":"FormatDisk",)"
                              R"("requestedAt":"2026-11-27T14:31:39Z"})"),
       .status = Status("r9", AgentState::kFailed),
       .kind = DecisionKind::kNothing},
      {.name = "unreadable status: refuse rather than risk a second run",
       .request = Request("r1", kReboot),
       .status = std::string("{not json"),
       .kind = DecisionKind::kRefuse,
       .state = AgentState::kFailed,
       .status_id = "r1",
       .message_has = "status annotation is unreadable"},
      {.name = "unreadable status, but this process started the id",
       .request = Request("r1", kReboot),
       .status = std::string("{not json"),
       .local = {{"r1", LocalStage::kStarted}},
       .kind = DecisionKind::kNothing},
      {.name = "stale request",
       .request = Request("r1", kReboot, kNow - std::chrono::hours(2)),
       .status = std::nullopt,
       .kind = DecisionKind::kRefuse,
       .state = AgentState::kFailed,
       .status_id = "r1",
       .message_has = "stale request"},
      {.name = "stale request accepted when the age check is off",
       .request = Request("r1", kReboot, kNow - std::chrono::hours(2)),
       .status = std::nullopt,
       .options = NoAgeLimit(),
       .kind = DecisionKind::kExecute,
       .state = AgentState::kRunning,
       .status_id = "r1"},
      {.name = "disabled action",
       .request = Request("r1", kReboot),
       .status = std::nullopt,
       .options = WithoutReboot(),
       .kind = DecisionKind::kRefuse,
       .state = AgentState::kFailed,
       .status_id = "r1",
       .message_has = "disabled"},

      // ------------------------------------------------ the state must ask (issue 16)
      {.name = "not asked: no remediation state",
       .request = Request("r1", kReboot),
       .status = std::nullopt,
       .kind = DecisionKind::kNothing,
       .remediation = "none",
       .not_asked = NotAskedReason::kNoState},
      {.name = "not asked: the remediation failed (request withdrawn or abandoned)",
       .request = Request("r1", kReboot),
       .status = std::nullopt,
       .kind = DecisionKind::kNothing,
       .remediation = testing::StateJson("r1", remediation::Phase::kFailed),
       .not_asked = NotAskedReason::kNotActionRequested},
      {.name = "not asked: the remediation was cancelled",
       .request = Request("r1", kKubelet),
       .status = std::nullopt,
       .kind = DecisionKind::kNothing,
       .remediation = testing::StateJson("r1", remediation::Phase::kCancelled),
       .not_asked = NotAskedReason::kNotActionRequested},
      {.name = "not asked: another rung is requested",
       .request = Request("r1", kKubelet),
       .status = std::nullopt,
       .kind = DecisionKind::kNothing,
       .remediation = testing::StateJson("r2"),
       .not_asked = NotAskedReason::kOtherRequest},
      {.name = "not asked: unreadable state",
       .request = Request("r1", kKubelet),
       .status = std::nullopt,
       .kind = DecisionKind::kNothing,
       .remediation = "not json",
       .not_asked = NotAskedReason::kUnreadableState},
      {.name = "not asked: nothing written even for a stale request",
       .request = Request("r1", kReboot, kNow - std::chrono::hours(2)),
       .status = std::nullopt,
       .kind = DecisionKind::kNothing,
       .remediation = testing::StateJson("r1", remediation::Phase::kFailed),
       .not_asked = NotAskedReason::kNotActionRequested},
      {.name = "not asked: a malformed request is not refused either",
       .request = std::string(R"({"id":"r1","action":"Explode"})"),
       .status = std::nullopt,
       .kind = DecisionKind::kNothing,
       .remediation = "none",
       .not_asked = NotAskedReason::kNoState},
      {.name = "closing an interrupted Running status is not gated by the state",
       .request = Request("r1", kKubelet),
       .status = Status("r1", AgentState::kRunning),
       .kind = DecisionKind::kReconcile,
       .state = AgentState::kFailed,
       .status_id = "r1",
       .message_has = "interrupted",
       .remediation = testing::StateJson("r1", remediation::Phase::kFailed)},
  };
}

TEST(Decide, Table) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    AgentObservation observed = Observe(c);
    LocalView local{c.local};
    Decision d = Decide(observed, local, c.options);
    EXPECT_EQ(d.kind, c.kind) << DecisionKindName(d.kind) << ": " << d.reason;
    EXPECT_FALSE(d.reason.empty());
    EXPECT_EQ(d.not_asked, c.not_asked) << d.reason;
    if (c.kind == DecisionKind::kNothing || d.kind != c.kind) continue;
    ASSERT_TRUE(c.state.has_value());
    EXPECT_EQ(d.status.state, *c.state);
    EXPECT_EQ(d.status.id, c.status_id);
    EXPECT_NE(d.status.message.find(c.message_has), std::string::npos) << d.status.message;
    // Every status the agent writes must be readable by the controller.
    auto round_trip = agentproto::DecodeAgentStatus(EncodeAgentStatus(d.status));
    ASSERT_TRUE(round_trip.ok()) << round_trip.error().message;
    if (c.kind == DecisionKind::kRefuse || c.kind == DecisionKind::kReconcile) {
      EXPECT_EQ(d.status.finished_at, kNow);
      EXPECT_FALSE(d.request.has_value());
    }
    if (c.kind == DecisionKind::kExecute) {
      ASSERT_TRUE(d.request.has_value());
      EXPECT_EQ(d.request->id, c.status_id);
      EXPECT_EQ(d.accepted.state, AgentState::kAccepted);
      EXPECT_EQ(d.accepted.id, c.status_id);
      EXPECT_EQ(d.status.boot_id, c.boot_id);
      EXPECT_EQ(d.status.started_at, kNow);
      EXPECT_FALSE(d.status.finished_at.has_value());
    }
  }
}

TEST(Decide, RebootDoneKeepsTheRecordedBootAndStart) {
  AgentObservation observed = testing::Obs(
      Request("r1", kReboot), Status("r1", AgentState::kRunning, "boot-a"), "boot-b", kNow);
  Decision d = Decide(observed, LocalView{});
  ASSERT_EQ(d.kind, DecisionKind::kReconcile);
  EXPECT_EQ(d.status.state, AgentState::kDone);
  EXPECT_EQ(d.status.boot_id, "boot-a");  // The boot the request was accepted in.
  EXPECT_EQ(d.status.started_at, kStartedAt);
  EXPECT_EQ(d.status.finished_at, kNow);
}

// The decision is a function of its inputs only.
TEST(Decide, IsDeterministic) {
  for (const Case& c : Cases()) {
    AgentObservation observed = Observe(c);
    LocalView local{c.local};
    Decision a = Decide(observed, local, c.options);
    Decision b = Decide(observed, local, c.options);
    EXPECT_EQ(a.kind, b.kind) << c.name;
    EXPECT_EQ(a.status, b.status) << c.name;
    EXPECT_EQ(a.reason, b.reason) << c.name;
  }
}

// Whatever the agent writes, deciding again on the Node with that write (by a
// new process, with an empty LocalView) never executes the same id again.
TEST(Decide, AWrittenStatusIsNeverExecutedAgainByANewProcess) {
  for (AgentAction action : {kRuntime, kKubelet, kReboot}) {
    AgentObservation observed =
        testing::Obs(Request("r1", action), std::nullopt, "boot-a", kNow, testing::StateJson("r1"));
    Decision first = Decide(observed, LocalView{});
    ASSERT_EQ(first.kind, DecisionKind::kExecute);
    for (const AgentStatus& written : {first.accepted, first.status}) {
      for (const char* boot : {"boot-a", "boot-b"}) {
        AgentObservation later = testing::Obs(Request("r1", action), EncodeAgentStatus(written),
                                              boot, kNow, testing::StateJson("r1"));
        Decision again = Decide(later, LocalView{});
        EXPECT_NE(again.kind, DecisionKind::kExecute)
            << agentproto::AgentActionName(action) << " after "
            << agentproto::AgentStateName(written.state) << " on " << boot;
        // And the final answer it writes is itself never executed again.
        if (again.kind == DecisionKind::kReconcile) {
          AgentObservation last =
              testing::Obs(Request("r1", action), EncodeAgentStatus(again.status), boot, kNow,
                           testing::StateJson("r1"));
          EXPECT_EQ(Decide(last, LocalView{}).kind, DecisionKind::kNothing);
        }
      }
    }
  }
}

// The host's boot ID, when read, decides which boot the node is in: the
// Node's bootID lags a reboot until the kubelet posts again.
TEST(Decide, TheHostsBootIdIsTheCurrentBoot) {
  AgentObservation observed =
      testing::Obs(Request("r1", kReboot), Status("r1", AgentState::kRunning, "boot-a"),
                   /*boot_id (stale Node)=*/"boot-a", kNow, testing::StateJson("r1"));
  // Without it: the reboot looks interrupted (the bug the host's ID fixes).
  Decision d = Decide(observed, LocalView{});
  ASSERT_EQ(d.kind, DecisionKind::kReconcile);
  EXPECT_EQ(d.status.state, AgentState::kFailed);

  observed.host_boot_id = "boot-b";
  d = Decide(observed, LocalView{});
  ASSERT_EQ(d.kind, DecisionKind::kReconcile);
  EXPECT_EQ(d.status.state, AgentState::kDone);
  EXPECT_NE(d.status.message.find("boot-a -> boot-b"), std::string::npos) << d.status.message;

  // The same boot on the host: an agent restart, not a reboot.
  observed.host_boot_id = "boot-a";
  observed.boot_id = "boot-z";  // Whatever the Node says.
  d = Decide(observed, LocalView{});
  ASSERT_EQ(d.kind, DecisionKind::kReconcile);
  EXPECT_EQ(d.status.state, AgentState::kFailed);
  EXPECT_NE(d.status.message.find("interrupted"), std::string::npos);

  // A new request records the host's boot as the boot before.
  AgentObservation fresh = testing::Obs(Request("r2", kReboot), std::nullopt, "boot-stale", kNow,
                                        testing::StateJson("r2"));
  fresh.host_boot_id = "boot-host";
  d = Decide(fresh, LocalView{});
  ASSERT_EQ(d.kind, DecisionKind::kExecute);
  EXPECT_EQ(d.accepted.boot_id, "boot-host");
  EXPECT_EQ(d.status.boot_id, "boot-host");
}

// The agent's reader of the controller's state agrees with the codec
// (remediation/state.h) in every phase: only ActionRequested for this id asks.
TEST(StateAsksFor, AgreesWithTheControllersCodecInEveryPhase) {
  using remediation::Phase;
  for (Phase phase :
       {Phase::kPending, Phase::kCordoned, Phase::kDraining, Phase::kActionRequested,
        Phase::kAwaitingRecovery, Phase::kSucceeded, Phase::kFailed, Phase::kCancelled}) {
    SCOPED_TRACE(remediation::PhaseName(phase));
    const std::string json = testing::StateJson("worker-1-1795789899-1", phase);
    ASSERT_TRUE(remediation::DecodeState(json).ok()) << "the test's state must be valid";
    const AskCheck check = StateAsksFor(json, "worker-1-1795789899-1");
    EXPECT_EQ(check.asked(), phase == Phase::kActionRequested) << check.detail;
    if (phase != Phase::kActionRequested) {
      EXPECT_EQ(check.reason, NotAskedReason::kNotActionRequested);
    }
  }
  EXPECT_EQ(StateAsksFor(testing::StateJson("a"), "b").reason, NotAskedReason::kOtherRequest);
  EXPECT_EQ(StateAsksFor(testing::StateJson("a"), "").reason, NotAskedReason::kOtherRequest);
  EXPECT_EQ(StateAsksFor(std::nullopt, "a").reason, NotAskedReason::kNoState);
  for (const char* bad : {"", "[]", "{}", R"({"phase":"ActionRequested","requestId":"a"})"}) {
    EXPECT_EQ(StateAsksFor(std::string(bad), "a").reason, NotAskedReason::kUnreadableState) << bad;
  }
}

}  // namespace
}  // namespace nodeguard::agent
