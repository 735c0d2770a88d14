#pragma once

// What each agent action runs on the host, and the two ways to run it: for
// real (through nsenter into PID 1's namespaces, since the agent's DaemonSet
// pod runs with hostPID) or simulated (log only, plus a hook the test cluster
// uses to "heal" or "reboot" a kwok node).

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/command_runner.h"
#include "agentproto/agent_protocol.h"
#include "common/result.h"
#include "kube/objects.h"

namespace nodeguard::agent {

using agentproto::AgentAction;

struct CommandsConfig {
  // Prepended to every command: enter the host's namespaces through PID 1.
  std::vector<std::string> host_prefix = {"nsenter", "--target", "1",     "--mount", "--uts",
                                          "--ipc",   "--net",    "--pid", "--"};
  // Empty: chosen from the node's containerRuntimeVersion (containerd, docker, cri-o).
  std::vector<std::string> restart_runtime;
  std::vector<std::string> restart_kubelet = {"systemctl", "restart", "kubelet"};
  std::vector<std::string> reboot = {"systemctl", "reboot"};
  std::chrono::milliseconds timeout{std::chrono::minutes(2)};
};

// The host command for an action, without the prefix. Errors (kInvalid): no
// runtime command configured and the runtime is not one we know how to restart.
Result<std::vector<std::string>> HostCommand(AgentAction action, const CommandsConfig& config,
                                             std::string_view container_runtime_version);

// The systemd unit of a runtime from status.nodeInfo.containerRuntimeVersion
// ("containerd://1.7.2" -> "containerd", "docker://20.10.7" -> "docker",
// "cri-o://1.28.1" -> "crio"); kInvalid for anything else.
Result<std::string> RuntimeServiceFor(std::string_view container_runtime_version);

// Carries out an action on the node. Implementations log what they do.
class Commands {
 public:
  virtual ~Commands() = default;
  // Ok with a one-line summary for the status message, or an Error whose
  // message says what failed. For Reboot, Ok means the reboot was started;
  // it completes when the node comes back with a new bootID.
  virtual Result<std::string> Execute(AgentAction action, const kube::Node& node) = 0;
  // The full command line the action runs, for the Running status message.
  virtual std::string Describe(AgentAction action, const kube::Node& node) const = 0;
};

// Runs host_prefix + HostCommand(...) through a CommandRunner with the
// configured timeout. Output goes to the log, its tail into failure messages.
class HostCommands final : public Commands {
 public:
  // REQUIRES: runner outlives this object.
  HostCommands(CommandsConfig config, CommandRunner& runner)
      : config_(std::move(config)), runner_(runner) {}
  Result<std::string> Execute(AgentAction action, const kube::Node& node) override;
  std::string Describe(AgentAction action, const kube::Node& node) const override;

  // The full argv for an action: prefix + command. Exposed for tests.
  Result<std::vector<std::string>> CommandLine(AgentAction action, const kube::Node& node) const;

 private:
  const CommandsConfig config_;
  CommandRunner& runner_;
};

// Called by SimulatedCommands in place of running anything, e.g. to clear a
// kwok node's PLEG condition or change its bootID through the cluster helpers.
using SimulationHook = std::function<Status(AgentAction action, const kube::Node& node)>;

// --simulate: logs the command it would run and calls the hook (if any).
// Never starts a process itself.
class SimulatedCommands final : public Commands {
 public:
  explicit SimulatedCommands(CommandsConfig config, SimulationHook hook = nullptr)
      : config_(std::move(config)), hook_(std::move(hook)) {}
  Result<std::string> Execute(AgentAction action, const kube::Node& node) override;
  std::string Describe(AgentAction action, const kube::Node& node) const override;

 private:
  const CommandsConfig config_;
  SimulationHook hook_;
};

}  // namespace nodeguard::agent
