#include "agent/commands.h"

#include "observe/log.h"

namespace nodeguard::agent {

namespace {

using agentproto::AgentActionName;
using observe::Log;

// The last `max` bytes of text, on one line, for a status message.
std::string Tail(std::string_view text, size_t max = 300) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  std::string out(text.size() > max ? text.substr(text.size() - max) : text);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text.size() > max ? "..." + out : out;
}

void LogOutput(const kube::Node& node, AgentAction action, std::string_view stream,
               const std::string& text) {
  if (text.empty()) return;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) {
      Log().Info("command output", {{"node", node.meta.name},
                                    {"action", AgentActionName(action)},
                                    {"stream", std::string(stream)},
                                    {"line", text.substr(start, end - start)}});
    }
    start = end + 1;
  }
}

}  // namespace

Result<std::string> RuntimeServiceFor(std::string_view version) {
  size_t scheme = version.find("://");
  std::string_view name = version.substr(0, scheme);
  if (scheme != std::string_view::npos) {
    if (name == "containerd") return std::string("containerd");
    if (name == "docker") return std::string("docker");
    if (name == "cri-o") return std::string("crio");
  }
  return Error::Invalid("cannot tell which service runs container runtime \"" +
                        std::string(version) +
                        "\"; configure the runtime restart command explicitly");
}

Result<std::vector<std::string>> HostCommand(AgentAction action, const CommandsConfig& config,
                                             std::string_view container_runtime_version) {
  switch (action) {
    case AgentAction::kRestartContainerRuntime: {
      if (!config.restart_runtime.empty()) return config.restart_runtime;
      auto service = RuntimeServiceFor(container_runtime_version);
      if (!service.ok()) return service.error();
      return std::vector<std::string>{"systemctl", "restart", *service};
    }
    case AgentAction::kRestartKubelet:
      return config.restart_kubelet;
    case AgentAction::kReboot:
      return config.reboot;
  }
  return Error::Invalid("unknown action");
}

Result<std::vector<std::string>> HostCommands::CommandLine(AgentAction action,
                                                           const kube::Node& node) const {
  auto command = HostCommand(action, config_, node.container_runtime_version);
  if (!command.ok()) return command.error();
  if (command->empty()) {
    return Error::Invalid(std::string("no command configured for ") + AgentActionName(action));
  }
  std::vector<std::string> argv = config_.host_prefix;
  argv.insert(argv.end(), command->begin(), command->end());
  return argv;
}

std::string HostCommands::Describe(AgentAction action, const kube::Node& node) const {
  auto argv = CommandLine(action, node);
  return argv.ok() ? FormatCommandLine(*argv) : argv.error().message;
}

Result<std::string> HostCommands::Execute(AgentAction action, const kube::Node& node) {
  auto argv = CommandLine(action, node);
  if (!argv.ok()) return argv.error();
  const std::string line = FormatCommandLine(*argv);
  Log().Info("running command",
             {{"node", node.meta.name}, {"action", AgentActionName(action)}, {"command", line}});
  auto result = runner_.Run(*argv, config_.timeout);
  if (!result.ok()) {
    Log().Error("command did not start", {{"node", node.meta.name},
                                          {"action", AgentActionName(action)},
                                          {"command", line},
                                          {"error", result.error().ToString()}});
    return result.error();
  }
  LogOutput(node, action, "stdout", result->stdout_text);
  LogOutput(node, action, "stderr", result->stderr_text);
  const std::string summary = line + ": " + result->Summary();
  if (result->Succeeded()) {
    Log().Info("command succeeded", {{"node", node.meta.name},
                                     {"action", AgentActionName(action)},
                                     {"result", result->Summary()}});
    return summary;
  }
  Log().Error("command failed", {{"node", node.meta.name},
                                 {"action", AgentActionName(action)},
                                 {"result", result->Summary()}});
  std::string message = summary;
  std::string output =
      Tail(result->stderr_text.empty() ? result->stdout_text : result->stderr_text);
  if (!output.empty()) message += ": " + output;
  return result->timed_out ? Error::Timeout(message) : Error::Internal(message);
}

std::string SimulatedCommands::Describe(AgentAction action, const kube::Node& node) const {
  auto command = HostCommand(action, config_, node.container_runtime_version);
  std::string line = command.ok() ? FormatCommandLine(*command) : command.error().message;
  return "simulated: " + line;
}

Result<std::string> SimulatedCommands::Execute(AgentAction action, const kube::Node& node) {
  const std::string description = Describe(action, node);
  Log().Info(
      "simulating command",
      {{"node", node.meta.name}, {"action", AgentActionName(action)}, {"command", description}});
  if (hook_) {
    Status hooked = hook_(action, node);
    if (!hooked.ok()) {
      Log().Error("simulation hook failed", {{"node", node.meta.name},
                                             {"action", AgentActionName(action)},
                                             {"error", hooked.error().ToString()}});
      return Error::Internal(description + ": simulation hook failed: " + hooked.error().message);
    }
  }
  return description;
}

}  // namespace nodeguard::agent
