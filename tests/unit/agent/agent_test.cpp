#include "agent/agent.h"

#include <gtest/gtest.h>

#include "common/time.h"
#include "fakes.h"

namespace nodeguard::agent {
namespace {

using testing::FakeCommands;
using testing::FakeNodeApi;
using testing::MakeNode;

const WallTime kStart = *ParseRfc3339("2026-11-27T14:31:40Z");

AgentRequest Req(const std::string& id, AgentAction action) {
  return AgentRequest{id, action, kStart, "nodeguard/test"};
}

class AgentTest : public ::testing::Test {
 protected:
  AgentTest() : api_(MakeNode()), clock_(kStart) {}

  // A fresh agent process: empty memory, same Node.
  Agent NewAgent() { return Agent(api_, commands_, clock_, {}, &metrics_); }

  AgentStatus CurrentStatus() {
    auto s = api_.status();
    EXPECT_TRUE(s.has_value());
    return s.value_or(AgentStatus{});
  }

  FakeNodeApi api_;
  FakeCommands commands_;
  FakeClock clock_;
  observe::MetricsRegistry registry_;
  AgentMetrics metrics_{registry_};
};

TEST_F(AgentTest, RunsARequestOnceAndReportsDone) {
  Agent agent = NewAgent();
  api_.SetRequest(Req("r1", AgentAction::kRestartKubelet));
  const kube::Node before = api_.node();

  agent.OnNodeUpdate(before);
  ASSERT_EQ(commands_.calls, (std::vector<AgentAction>{AgentAction::kRestartKubelet}));
  EXPECT_EQ(api_.WrittenStates(), (std::vector<std::string>{"Accepted", "Running", "Done"}));
  // Accepted is conditional on the version decided from; Running on Accepted's.
  EXPECT_EQ(api_.writes()[0].expected_resource_version, before.meta.resource_version);
  EXPECT_EQ(api_.writes()[1].expected_resource_version,
            std::to_string(std::stoll(before.meta.resource_version) + 1));
  AgentStatus done = CurrentStatus();
  EXPECT_EQ(done.id, "r1");
  EXPECT_EQ(done.state, AgentState::kDone);
  EXPECT_EQ(done.boot_id, "boot-a");
  EXPECT_EQ(done.message, "ok: RestartKubelet");
  EXPECT_TRUE(done.started_at.has_value());
  EXPECT_TRUE(done.finished_at.has_value());

  // The watch delivers every intermediate version, then the same again: nothing more runs.
  agent.OnNodeUpdate(before);
  agent.OnNodeUpdate(api_.node());
  agent.OnNodeUpdate(api_.node());
  EXPECT_EQ(commands_.calls.size(), 1u);
  EXPECT_EQ(api_.writes().size(), 3u);

  // Nor after the agent restarts.
  Agent restarted = NewAgent();
  restarted.OnNodeUpdate(api_.node());
  EXPECT_EQ(commands_.calls.size(), 1u);
  EXPECT_EQ(api_.writes().size(), 3u);

  EXPECT_NE(registry_.Render().find("nodeguard_agent_actions_total{action=\"RestartKubelet\","
                                    "result=\"succeeded\"} 1\n"),
            std::string::npos);
}

TEST_F(AgentTest, EachNewIdRunsOnce) {
  Agent agent = NewAgent();
  for (const char* id : {"r1", "r2", "r3"}) {
    api_.SetRequest(Req(id, AgentAction::kRestartContainerRuntime));
    agent.OnNodeUpdate(api_.node());
    agent.OnNodeUpdate(api_.node());
  }
  EXPECT_EQ(commands_.calls.size(), 3u);
  EXPECT_EQ(CurrentStatus().id, "r3");
}

TEST_F(AgentTest, AgentRestartMidActionMarksFailedAndDoesNotRerun) {
  // A previous agent process wrote Running and died (e.g. its container was
  // killed by the runtime restart it ran).
  api_.SetRequest(Req("r1", AgentAction::kRestartContainerRuntime));
  AgentStatus running{"r1",   AgentState::kRunning, "systemctl restart containerd", "boot-a",
                      kStart, std::nullopt};
  api_.SetRawAnnotation(remediation::kAgentStatusAnnotation,
                        remediation::EncodeAgentStatus(running));

  Agent agent = NewAgent();
  agent.OnNodeUpdate(api_.node());
  EXPECT_TRUE(commands_.calls.empty());
  AgentStatus failed = CurrentStatus();
  EXPECT_EQ(failed.state, AgentState::kFailed);
  EXPECT_NE(failed.message.find("interrupted"), std::string::npos) << failed.message;

  agent.OnNodeUpdate(api_.node());
  EXPECT_TRUE(commands_.calls.empty());
  EXPECT_EQ(api_.writes().size(), 1u);
}

TEST_F(AgentTest, RebootStaysRunningUntilTheNewBootThenDone) {
  api_.SetRequest(Req("r1", AgentAction::kReboot));
  {
    Agent agent = NewAgent();
    agent.OnNodeUpdate(api_.node());
    ASSERT_EQ(commands_.calls, (std::vector<AgentAction>{AgentAction::kReboot}));
    // The Running status (with the boot before) was stored before the command ran.
    EXPECT_EQ(api_.WrittenStates(), (std::vector<std::string>{"Accepted", "Running"}));
    AgentStatus running = CurrentStatus();
    EXPECT_EQ(running.state, AgentState::kRunning);
    EXPECT_EQ(running.boot_id, "boot-a");
    agent.OnNodeUpdate(api_.node());  // Still the old boot: wait.
    EXPECT_EQ(commands_.calls.size(), 1u);
  }
  // The machine reboots: a new agent process sees a new bootID.
  api_.SetBootId("boot-b");
  Agent after_reboot = NewAgent();
  after_reboot.OnNodeUpdate(api_.node());
  EXPECT_EQ(commands_.calls.size(), 1u);
  AgentStatus done = CurrentStatus();
  EXPECT_EQ(done.state, AgentState::kDone);
  EXPECT_NE(done.message.find("boot-a -> boot-b"), std::string::npos) << done.message;
  after_reboot.OnNodeUpdate(api_.node());
  EXPECT_EQ(commands_.calls.size(), 1u);
}

TEST_F(AgentTest, SimulatedRebootCompletesInTheSameProcess) {
  // In --simulate the hook changes the bootID while this process keeps running.
  commands_.side_effect = [this](AgentAction, const kube::Node&) { api_.SetBootId("boot-b"); };
  api_.SetRequest(Req("r1", AgentAction::kReboot));
  Agent agent = NewAgent();
  agent.OnNodeUpdate(api_.node());
  EXPECT_EQ(CurrentStatus().state, AgentState::kRunning);
  agent.OnNodeUpdate(api_.node());
  EXPECT_EQ(CurrentStatus().state, AgentState::kDone);
  EXPECT_EQ(commands_.calls.size(), 1u);
}

TEST_F(AgentTest, NothingRunsWhenAStatusWriteFails) {
  api_.SetRequest(Req("r1", AgentAction::kReboot));
  Agent agent = NewAgent();

  api_.FailNextWrites(1);  // The Accepted write fails.
  agent.OnNodeUpdate(api_.node());
  EXPECT_TRUE(commands_.calls.empty());
  EXPECT_EQ(agent.local_view().requests.at("r1"), LocalStage::kNotStarted);

  // Stored, but confirmed without a resourceVersion: not a confirmation.
  api_.ConfirmWithoutVersion(true);
  agent.OnNodeUpdate(api_.node());
  EXPECT_TRUE(commands_.calls.empty());
  EXPECT_EQ(CurrentStatus().state, AgentState::kAccepted);
  api_.ConfirmWithoutVersion(false);

  // Accepted stored, the Running write times out: the reboot must not run,
  // since the Running status has to be on the Node before the command.
  api_.ScriptWrites({true, false});
  agent.OnNodeUpdate(api_.node());
  EXPECT_TRUE(commands_.calls.empty());
  EXPECT_EQ(CurrentStatus().state, AgentState::kAccepted);
  EXPECT_EQ(agent.local_view().requests.at("r1"), LocalStage::kNotStarted);

  // This process knows it never ran r1, so it retries; it runs exactly once.
  agent.OnNodeUpdate(api_.node());
  EXPECT_EQ(commands_.calls.size(), 1u);
  EXPECT_EQ(CurrentStatus().state, AgentState::kRunning);
  EXPECT_EQ(agent.local_view().requests.at("r1"), LocalStage::kStarted);
  agent.OnNodeUpdate(api_.node());
  EXPECT_EQ(commands_.calls.size(), 1u);
}

TEST_F(AgentTest, ANewProcessDoesNotRetryAnUnconfirmedRequest) {
  api_.SetRequest(Req("r1", AgentAction::kReboot));
  Agent agent = NewAgent();
  api_.ScriptWrites({true, false});  // Accepted stored, Running lost.
  agent.OnNodeUpdate(api_.node());
  EXPECT_TRUE(commands_.calls.empty());
  // The agent restarts before retrying: it cannot know r1 never ran, so it
  // closes it as Failed rather than risk a second reboot.
  Agent restarted = NewAgent();
  restarted.OnNodeUpdate(api_.node());
  EXPECT_TRUE(commands_.calls.empty());
  EXPECT_EQ(CurrentStatus().state, AgentState::kFailed);
}

TEST_F(AgentTest, StaleNodeCopyConflictsAndRunsNothing) {
  api_.SetRequest(Req("r1", AgentAction::kRestartKubelet));
  kube::Node stale = api_.node();
  api_.SetRawAnnotation("nodeguard.io/remediation", "{}");  // Someone else wrote meanwhile.
  Agent agent = NewAgent();
  agent.OnNodeUpdate(stale);
  EXPECT_TRUE(commands_.calls.empty());
  EXPECT_TRUE(api_.writes().empty());
  agent.OnNodeUpdate(api_.node());  // The newer version arrives: now it runs.
  EXPECT_EQ(commands_.calls.size(), 1u);
}

TEST_F(AgentTest, FailedCommandIsReportedAndNotRetried) {
  commands_.outcome = [](AgentAction) -> Result<std::string> {
    return Error::Internal("systemctl restart kubelet: exited 1: Unit kubelet.service not found.");
  };
  api_.SetRequest(Req("r1", AgentAction::kRestartKubelet));
  Agent agent = NewAgent();
  agent.OnNodeUpdate(api_.node());
  agent.OnNodeUpdate(api_.node());
  EXPECT_EQ(commands_.calls.size(), 1u);
  AgentStatus failed = CurrentStatus();
  EXPECT_EQ(failed.state, AgentState::kFailed);
  EXPECT_NE(failed.message.find("not found"), std::string::npos);
}

TEST_F(AgentTest, FinalStatusWriteIsRetried) {
  api_.SetRequest(Req("r1", AgentAction::kRestartContainerRuntime));
  Agent agent = NewAgent();
  commands_.side_effect = [this](AgentAction, const kube::Node&) { api_.FailNextWrites(1); };
  agent.OnNodeUpdate(api_.node());
  EXPECT_EQ(CurrentStatus().state, AgentState::kRunning);
  ASSERT_TRUE(agent.pending_final_status().has_value());
  agent.OnNodeUpdate(api_.node());
  EXPECT_EQ(CurrentStatus().state, AgentState::kDone);
  EXPECT_FALSE(agent.pending_final_status().has_value());
  EXPECT_EQ(commands_.calls.size(), 1u);
}

TEST_F(AgentTest, RefusesMalformedAndUnknownRequestsOnce) {
  Agent agent = NewAgent();
  api_.SetRawAnnotation(remediation::kAgentRequestAnnotation,
                        R"({"id":"r7","action":"Explode","requestedAt":"2026-11-27T14:31:39Z"})");
  agent.OnNodeUpdate(api_.node());
  agent.OnNodeUpdate(api_.node());
  EXPECT_TRUE(commands_.calls.empty());
  ASSERT_EQ(api_.writes().size(), 1u);
  AgentStatus refused = CurrentStatus();
  EXPECT_EQ(refused.id, "r7");
  EXPECT_EQ(refused.state, AgentState::kFailed);
  EXPECT_NE(refused.message.find("unknown action"), std::string::npos);

  api_.SetRawAnnotation(remediation::kAgentRequestAnnotation, "not json at all");
  agent.OnNodeUpdate(api_.node());
  agent.OnNodeUpdate(api_.node());
  EXPECT_TRUE(commands_.calls.empty());
  ASSERT_EQ(api_.writes().size(), 2u);
  EXPECT_EQ(CurrentStatus().id, "");
  EXPECT_EQ(CurrentStatus().state, AgentState::kFailed);
}

}  // namespace
}  // namespace nodeguard::agent
