// nodeguard: keeps Kubernetes worker nodes healthy when pods pile up.
// One binary, two modes: `controller` (cluster-wide decisions) and `agent`
// (acts on its own node), plus the kubectl plugin: run as kubectl-nodeguard
// (a symlink to this binary) or as `nodeguard kubectl ...`
// (docs/kubectl-plugin.md). See docs/architecture.md.

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "agent/agent_main.h"
#include "agent/agent_options.h"
#include "cli/plugin.h"
#include "process/memory_release.h"
#include "reconcile/options.h"
#include "runtime/controller.h"
#include "version.h"

int main(int argc, char** argv) {
  // The kubectl plugin: kubectl runs kubectl-nodeguard from PATH.
  const char* slash = argc > 0 ? std::strrchr(argv[0], '/') : nullptr;
  const std::string_view invoked = argc > 0 ? (slash ? slash + 1 : argv[0]) : "";
  if (invoked == "kubectl-nodeguard") return nodeguard::cli::RunPlugin(argc, argv);
  if (argc > 1 && std::string_view(argv[1]) == "kubectl") {
    return nodeguard::cli::RunPlugin(argc - 1, argv + 1);
  }

  CLI::App app{
      "nodeguard: caps pod density, remediates PLEG-sick nodes one at a time, and flags "
      "pods without resource requests/limits.",
      "nodeguard"};
  app.set_version_flag("--version", std::string("nodeguard ") + nodeguard::kVersion);
  app.require_subcommand(1);

  CLI::App* controller = app.add_subcommand(
      "controller",
      "Run the cluster-wide controller: density taints, PLEG remediation, resource hygiene.");
  nodeguard::runtime::ControllerOptions controller_options;
  nodeguard::runtime::AddControllerFlags(*controller, controller_options);
  app.add_subcommand("kubectl",
                     "The kubectl plugin (`kubectl nodeguard`; also run as kubectl-nodeguard): "
                     "status, explain NODE, release NODE, pause/resume POLICY. See "
                     "`nodeguard kubectl --help`.");
  CLI::App* agent = app.add_subcommand(
      "agent",
      "Run the node agent on one node: restart the container runtime or the kubelet, or reboot, "
      "exactly once per request from the controller.");
  nodeguard::agent::AgentProcessOptions agent_options;
  nodeguard::agent::AddAgentFlags(*agent, agent_options);

  CLI11_PARSE(app, argc, argv);

  if (controller->parsed()) {
    if (std::string problem = nodeguard::runtime::ValidateControllerOptions(controller_options);
        !problem.empty()) {
      std::fprintf(stderr, "nodeguard controller: %s\n", problem.c_str());
      return 2;
    }
    // Caches that list tens of thousands of pods leave holes in the heap;
    // process/memory_release.h says why and what it costs.
    nodeguard::process::LimitMallocArenas(2, std::getenv("MALLOC_ARENA_MAX"));
    const nodeguard::process::MemoryReleaser releaser(std::chrono::seconds(30));
    return nodeguard::runtime::RunController(controller_options);
  }
  if (agent->parsed()) {
    if (std::string problem = nodeguard::agent::ValidateAgentOptions(agent_options);
        !problem.empty()) {
      std::fprintf(stderr, "nodeguard agent: %s\n", problem.c_str());
      return 2;
    }
    return nodeguard::agent::RunAgent(agent_options);
  }
  return 0;
}
