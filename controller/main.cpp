// nodeguard: keeps Kubernetes worker nodes healthy when pods pile up.
// One binary, two modes: `controller` (cluster-wide decisions) and `agent`
// (acts on its own node). See docs/architecture.md.

#include <CLI/CLI.hpp>
#include <cstdio>

#include "version.h"

int main(int argc, char** argv) {
  CLI::App app{
      "nodeguard: caps pod density, remediates PLEG-sick nodes one at a time, and flags "
      "pods without resource requests/limits.",
      "nodeguard"};
  app.set_version_flag("--version", std::string("nodeguard ") + nodeguard::kVersion);
  app.require_subcommand(1);

  CLI::App* controller = app.add_subcommand("controller", "Run the cluster-wide controller.");
  CLI::App* agent = app.add_subcommand("agent", "Run the node agent on one node.");

  CLI11_PARSE(app, argc, argv);

  if (controller->parsed() || agent->parsed()) {
    std::fprintf(stderr, "nodeguard %s: not implemented yet in %s\n",
                 controller->parsed() ? "controller" : "agent", nodeguard::kVersion);
    return 2;
  }
  return 0;
}
