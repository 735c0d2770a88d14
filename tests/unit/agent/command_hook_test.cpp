// The --simulate hook (agent_main.h) with a scripted CommandRunner: nothing runs.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/agent_main.h"
#include "fakes.h"

namespace nodeguard::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

class ScriptedRunner final : public CommandRunner {
 public:
  Result<ProcessResult> Run(const std::vector<std::string>& argv,
                            std::chrono::milliseconds timeout) override {
    calls.push_back(argv);
    timeouts.push_back(timeout);
    return result;
  }
  std::vector<std::vector<std::string>> calls;
  std::vector<std::chrono::milliseconds> timeouts;
  Result<ProcessResult> result = ProcessResult{0, 0, false, "healed\n", "", false, 10ms};
};

TEST(CommandHook, EmptyTemplateIsNoHook) {
  ScriptedRunner runner;
  EXPECT_EQ(MakeCommandHook({}, runner, 1s), nullptr);
}

TEST(CommandHook, RunsTheTemplateWithNodeAndAction) {
  ScriptedRunner runner;
  SimulationHook hook =
      MakeCommandHook({"/opt/sim-action", "{action}", "--node={node}"}, runner, 30s);
  ASSERT_NE(hook, nullptr);
  kube::Node node = testing::MakeNode("worker-4");
  EXPECT_TRUE(hook(AgentAction::kReboot, node).ok());
  EXPECT_TRUE(hook(AgentAction::kRestartKubelet, node).ok());
  EXPECT_THAT(runner.calls,
              ElementsAre(ElementsAre("/opt/sim-action", "Reboot", "--node=worker-4"),
                          ElementsAre("/opt/sim-action", "RestartKubelet", "--node=worker-4")));
  EXPECT_THAT(runner.timeouts, ElementsAre(30s, 30s));
}

TEST(CommandHook, FailuresBecomeErrors) {
  ScriptedRunner runner;
  SimulationHook hook = MakeCommandHook({"sim", "{node}"}, runner, 30s);
  kube::Node node = testing::MakeNode("worker-4");

  runner.result = ProcessResult{1, 0, false, "", "no such node\n", false, 10ms};
  Status failed = hook(AgentAction::kReboot, node);
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(failed.error().Is(ErrorKind::kInternal));
  EXPECT_THAT(failed.error().message, HasSubstr("sim worker-4"));

  runner.result = ProcessResult{-1, 9, true, "", "", false, 30s};
  Status timed_out = hook(AgentAction::kReboot, node);
  ASSERT_FALSE(timed_out.ok());
  EXPECT_TRUE(timed_out.error().Is(ErrorKind::kTimeout));

  runner.result = Error::NotFound("sim: not found");
  Status missing = hook(AgentAction::kReboot, node);
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.error().Is(ErrorKind::kNotFound));
}

TEST(CommandHook, SimulatedCommandsReportAHookFailure) {
  ScriptedRunner runner;
  runner.result = ProcessResult{3, 0, false, "", "", false, 10ms};
  SimulatedCommands commands(CommandsConfig{}, MakeCommandHook({"sim", "{node}"}, runner, 5s));
  kube::Node node = testing::MakeNode("worker-4");
  auto outcome = commands.Execute(AgentAction::kRestartKubelet, node);
  ASSERT_FALSE(outcome.ok());
  EXPECT_THAT(outcome.error().message, HasSubstr("simulation hook failed"));
  ASSERT_EQ(runner.calls.size(), 1u);
  // What the real mode would run is only described, never run.
  EXPECT_THAT(commands.Describe(AgentAction::kRestartKubelet, node),
              HasSubstr("simulated: systemctl restart kubelet"));
}

}  // namespace
}  // namespace nodeguard::agent
