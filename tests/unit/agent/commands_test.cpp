#include "agent/commands.h"

#include <gtest/gtest.h>

#include "fakes.h"

namespace nodeguard::agent {
namespace {

using testing::MakeNode;
using Argv = std::vector<std::string>;

// Records argv and returns a scripted result; never starts a process.
class FakeRunner final : public CommandRunner {
 public:
  Result<ProcessResult> Run(const Argv& argv, std::chrono::milliseconds timeout) override {
    runs.push_back(argv);
    timeouts.push_back(timeout);
    return next;
  }
  std::vector<Argv> runs;
  std::vector<std::chrono::milliseconds> timeouts;
  Result<ProcessResult> next =
      ProcessResult{0, 0, false, "", "", false, std::chrono::milliseconds(1200)};
};

TEST(RuntimeServiceFor, KnownRuntimes) {
  EXPECT_EQ(*RuntimeServiceFor("containerd://1.7.2"), "containerd");
  EXPECT_EQ(*RuntimeServiceFor("docker://20.10.7"), "docker");
  EXPECT_EQ(*RuntimeServiceFor("docker://17.6.0"), "docker");
  EXPECT_EQ(*RuntimeServiceFor("cri-o://1.28.1"), "crio");
  for (const char* unknown : {"", "containerd", "rkt://1.0", "kwok-v0.5", "dockerd://1"}) {
    auto r = RuntimeServiceFor(unknown);
    EXPECT_FALSE(r.ok()) << unknown;
    if (!r.ok()) {
      EXPECT_EQ(r.error().kind, ErrorKind::kInvalid);
    }
  }
}

TEST(HostCommand, DefaultsPerAction) {
  CommandsConfig config;
  EXPECT_EQ(*HostCommand(AgentAction::kRestartContainerRuntime, config, "containerd://1.7"),
            (Argv{"systemctl", "restart", "containerd"}));
  EXPECT_EQ(*HostCommand(AgentAction::kRestartContainerRuntime, config, "docker://17.6.0"),
            (Argv{"systemctl", "restart", "docker"}));
  EXPECT_EQ(*HostCommand(AgentAction::kRestartKubelet, config, ""),
            (Argv{"systemctl", "restart", "kubelet"}));
  EXPECT_EQ(*HostCommand(AgentAction::kReboot, config, ""), (Argv{"systemctl", "reboot"}));
  EXPECT_FALSE(HostCommand(AgentAction::kRestartContainerRuntime, config, "rkt://1").ok());
}

TEST(HostCommand, ConfiguredCommandsWin) {
  CommandsConfig config;
  config.restart_runtime = {"/usr/local/bin/restart-runtime", "--gentle"};
  config.reboot = {"shutdown", "-r", "+1"};
  EXPECT_EQ(*HostCommand(AgentAction::kRestartContainerRuntime, config, "rkt://1"),
            (Argv{"/usr/local/bin/restart-runtime", "--gentle"}));
  EXPECT_EQ(*HostCommand(AgentAction::kReboot, config, ""), (Argv{"shutdown", "-r", "+1"}));
}

TEST(HostCommands, RunsThroughNsenterWithTheTimeout) {
  FakeRunner runner;
  CommandsConfig config;
  config.timeout = std::chrono::seconds(45);
  HostCommands commands(config, runner);
  kube::Node node = MakeNode();
  node.container_runtime_version = "docker://20.10.7";

  auto r = commands.Execute(AgentAction::kRestartContainerRuntime, node);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ASSERT_EQ(runner.runs.size(), 1u);
  EXPECT_EQ(runner.runs[0], (Argv{"nsenter", "--target", "1", "--mount", "--uts", "--ipc", "--net",
                                  "--pid", "--", "systemctl", "restart", "docker"}));
  EXPECT_EQ(runner.timeouts[0], std::chrono::seconds(45));
  EXPECT_EQ(*r,
            "nsenter --target 1 --mount --uts --ipc --net --pid -- systemctl restart docker: "
            "exited 0 in 1.2s");
  EXPECT_EQ(commands.Describe(AgentAction::kReboot, node),
            "nsenter --target 1 --mount --uts --ipc --net --pid -- systemctl reboot");
}

TEST(HostCommands, FailuresCarryTheOutputTail) {
  FakeRunner runner;
  HostCommands commands(CommandsConfig{}, runner);
  kube::Node node = MakeNode();

  runner.next = ProcessResult{5,
                              0,
                              false,
                              "",
                              "Failed to restart kubelet.service: Unit not found.\n",
                              false,
                              std::chrono::milliseconds(30)};
  auto failed = commands.Execute(AgentAction::kRestartKubelet, node);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().kind, ErrorKind::kInternal);
  EXPECT_NE(failed.error().message.find("exited 5"), std::string::npos);
  EXPECT_NE(failed.error().message.find("Unit not found."), std::string::npos);

  runner.next = ProcessResult{-1, 15, true, "", "", false, std::chrono::seconds(120)};
  auto timed_out = commands.Execute(AgentAction::kRestartKubelet, node);
  ASSERT_FALSE(timed_out.ok());
  EXPECT_EQ(timed_out.error().kind, ErrorKind::kTimeout);

  runner.next = Error::NotFound("cannot run nsenter: No such file or directory");
  auto not_started = commands.Execute(AgentAction::kRestartKubelet, node);
  ASSERT_FALSE(not_started.ok());
  EXPECT_EQ(not_started.error().kind, ErrorKind::kNotFound);
}

TEST(HostCommands, UnknownRuntimeRunsNothing) {
  FakeRunner runner;
  HostCommands commands(CommandsConfig{}, runner);
  kube::Node node = MakeNode();
  node.container_runtime_version = "rkt://1.30";
  EXPECT_FALSE(commands.Execute(AgentAction::kRestartContainerRuntime, node).ok());
  EXPECT_TRUE(runner.runs.empty());
}

TEST(SimulatedCommands, CallsTheHookAndRunsNothing) {
  std::vector<std::pair<AgentAction, std::string>> hooked;
  SimulatedCommands commands(CommandsConfig{}, [&](AgentAction a, const kube::Node& n) {
    hooked.emplace_back(a, n.meta.name);
    return Status::Ok();
  });
  kube::Node node = MakeNode("kwok-node-3");
  auto r = commands.Execute(AgentAction::kReboot, node);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "simulated: systemctl reboot");
  ASSERT_EQ(hooked.size(), 1u);
  EXPECT_EQ(hooked[0].first, AgentAction::kReboot);
  EXPECT_EQ(hooked[0].second, "kwok-node-3");

  SimulatedCommands failing(CommandsConfig{}, [](AgentAction, const kube::Node&) {
    return Status(Error::Unavailable("kwok API unreachable"));
  });
  auto f = failing.Execute(AgentAction::kRestartKubelet, node);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("kwok API unreachable"), std::string::npos);

  SimulatedCommands no_hook(CommandsConfig{});
  EXPECT_TRUE(no_hook.Execute(AgentAction::kRestartContainerRuntime, node).ok());
}

}  // namespace
}  // namespace nodeguard::agent
