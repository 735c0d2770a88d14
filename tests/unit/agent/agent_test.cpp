#include "agent/agent.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/time.h"
#include "fakes.h"

namespace nodeguard::agent {
namespace {

using testing::FakeCommands;
using testing::FakeNodeApi;
using testing::MakeNode;

const WallTime kStart = *ParseRfc3339("2026-11-27T14:31:40Z");

std::optional<std::string> AnnotationOf(const kube::Node& node, const char* key) {
  const std::string* v = node.Annotation(key);
  if (v == nullptr) return std::nullopt;
  return *v;
}

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
  api_.SetRawAnnotation(agentproto::kAgentStatusAnnotation, agentproto::EncodeAgentStatus(running));

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
  api_.SetRawAnnotation("nodeguard.io/other", "{}");  // Someone else wrote meanwhile.
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
  api_.SetState(testing::StateJson("r7"));
  api_.SetRawAnnotation(agentproto::kAgentRequestAnnotation,
                        R"({"id":"r7","action":"Explode","requestedAt":"2026-11-27T14:31:39Z"})");
  agent.OnNodeUpdate(api_.node());
  agent.OnNodeUpdate(api_.node());
  EXPECT_TRUE(commands_.calls.empty());
  ASSERT_EQ(api_.writes().size(), 1u);
  AgentStatus refused = CurrentStatus();
  EXPECT_EQ(refused.id, "r7");
  EXPECT_EQ(refused.state, AgentState::kFailed);
  EXPECT_NE(refused.message.find("unknown action"), std::string::npos);

  // A request without a readable id cannot be the one the state asks for:
  // nothing is run or written for it.
  api_.SetRawAnnotation(agentproto::kAgentRequestAnnotation, "not json at all");
  agent.OnNodeUpdate(api_.node());
  agent.OnNodeUpdate(api_.node());
  EXPECT_TRUE(commands_.calls.empty());
  EXPECT_EQ(api_.writes().size(), 1u);
}

// ---------------------------------------------------------------- issue 16

std::string Rendered(observe::MetricsRegistry& r, const std::string& series) {
  const std::string text = r.Render();
  const size_t at = text.find(series + " ");
  if (at == std::string::npos) return "absent";
  return text.substr(at + series.size() + 1, text.find('\n', at) - at - series.size() - 1);
}

// A request the controller withdrew or abandoned (its state terminal, or on
// another rung) never runs, however late the agent starts: e.g. a DaemonSet
// fixed an hour after a remediation failed.
TEST_F(AgentTest, ARequestTheStateNoLongerAsksForNeverRuns) {
  struct Case {
    const char* name;
    std::optional<std::string> state;
    const char* reason;
  };
  const Case cases[] = {
      {"remediation Failed", testing::StateJson("r1", remediation::Phase::kFailed),
       "NotActionRequested"},
      {"remediation Cancelled", testing::StateJson("r1", remediation::Phase::kCancelled),
       "NotActionRequested"},
      {"moved on to AwaitingRecovery",
       testing::StateJson("r1", remediation::Phase::kAwaitingRecovery), "NotActionRequested"},
      {"another rung requested", testing::StateJson("r2"), "OtherRequest"},
      {"state removed", std::nullopt, "NoState"},
      {"state unreadable", std::string("{\"phase\":"), "UnreadableState"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FakeNodeApi api(MakeNode());
    api.SetRequest(Req("r1", AgentAction::kReboot));
    if (c.state) {
      api.SetState(*c.state);
    } else {
      api.RemoveAnnotation(remediation::kRemediationAnnotation);
    }
    observe::MetricsRegistry registry;
    AgentMetrics metrics(registry);
    Agent agent(api, commands_, clock_, {}, &metrics);
    const kube::Node node = api.node();
    for (int i = 0; i < 3; ++i) agent.OnNodeUpdate(node);
    EXPECT_TRUE(commands_.calls.empty());
    EXPECT_TRUE(api.writes().empty()) << "no Accepted, Running, Done or Failed";
    EXPECT_EQ(Rendered(registry, std::string("nodeguard_agent_requests_not_asked_total{reason=\"") +
                                     c.reason + "\"}"),
              "1")
        << "counted once per request, however often re-decided";
  }
}

// The state asks again (the controller re-requested the same id): it runs.
TEST_F(AgentTest, TheSameRequestRunsOnceTheStateAsksForIt) {
  api_.SetRequest(Req("r1", AgentAction::kRestartKubelet));
  api_.SetState(testing::StateJson("r1", remediation::Phase::kDraining));
  Agent agent = NewAgent();
  agent.OnNodeUpdate(api_.node());
  EXPECT_TRUE(commands_.calls.empty());
  api_.SetState(testing::StateJson("r1"));
  agent.OnNodeUpdate(api_.node());
  EXPECT_EQ(commands_.calls.size(), 1u);
  EXPECT_EQ(CurrentStatus().state, AgentState::kDone);
}

// Right after a reboot the Node still shows the old bootID until the kubelet
// posts again; a new agent process that trusted it reported the completed
// reboot as "interrupted" (Failed). With the host's own boot ID it is Done.
TEST_F(AgentTest, ARebootIsDoneBeforeTheKubeletPostsTheNewBootId) {
  api_.SetRequest(Req("r1", AgentAction::kReboot));
  {
    AgentOptions before;
    before.host_boot_id = "boot-a";
    Agent agent(api_, commands_, clock_, before, &metrics_);
    agent.OnNodeUpdate(api_.node());
    ASSERT_EQ(CurrentStatus().state, AgentState::kRunning);
    EXPECT_EQ(CurrentStatus().boot_id, "boot-a");
  }
  // The machine rebooted; the Node object still says boot-a.
  {
    // The bug: deciding with only the Node's bootID.
    Decision d =
        Decide(testing::Obs(AnnotationOf(api_.node(), agentproto::kAgentRequestAnnotation),
                            AnnotationOf(api_.node(), agentproto::kAgentStatusAnnotation), "boot-a",
                            kStart, AnnotationOf(api_.node(), remediation::kRemediationAnnotation)),
               LocalView{});
    EXPECT_EQ(d.kind, DecisionKind::kReconcile);
    EXPECT_EQ(d.status.state, AgentState::kFailed) << "without the host's boot ID";
  }
  AgentOptions after;
  after.host_boot_id = "boot-b";
  Agent agent(api_, commands_, clock_, after, &metrics_);
  agent.OnNodeUpdate(api_.node());
  EXPECT_EQ(commands_.calls.size(), 1u);
  AgentStatus done = CurrentStatus();
  EXPECT_EQ(done.state, AgentState::kDone);
  EXPECT_NE(done.message.find("boot-a -> boot-b"), std::string::npos) << done.message;
}

TEST(ReadBootIdFile, FirstLineTrimmed) {
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/boot_id_test";
  {
    std::ofstream out(path);
    out << "  6f1c2a3b-0d4e-4f5a-9b8c-7d6e5f4a3b2c\n";
  }
  EXPECT_EQ(ReadBootIdFile(path).value(), "6f1c2a3b-0d4e-4f5a-9b8c-7d6e5f4a3b2c");
  {
    std::ofstream out(path);
    out << "\n";
  }
  EXPECT_EQ(ReadBootIdFile(path).error().kind, ErrorKind::kInvalid);
  EXPECT_EQ(ReadBootIdFile(dir + "/does-not-exist").error().kind, ErrorKind::kNotFound);
  // The real one, on Linux: the host kernel's, also inside a container.
  auto real = ReadBootIdFile("/proc/sys/kernel/random/boot_id");
  ASSERT_TRUE(real.ok()) << real.error().ToString();
  EXPECT_EQ(real->size(), 36u) << *real;
}

}  // namespace
}  // namespace nodeguard::agent
