#pragma once

// `nodeguard agent`: the process around the Agent core (agent.h).
//
//   Informer<Node> (fieldSelector metadata.name=<node>) --latest wins--> LatestSlot
//   worker thread: Agent::OnNodeUpdate(newest Node), also every
//     --recheck-interval without an event (retries failed status writes)
//   Agent --NodeApi--> RestNodeApi (merge patch with resourceVersion)
//         --Commands--> HostCommands (nsenter into PID 1) | SimulatedCommands
//   /metrics (agent and API metrics), /healthz, /readyz (the Node's informer synced)
//
// SIGTERM/SIGINT: stop taking new work, let a running action's command finish
// (bounded by --command-timeout), then exit 0. An action interrupted by the
// kubelet's SIGKILL is never re-run: the next agent process finds its status
// Running and closes it (agent/decide.h).

#include <chrono>
#include <string>
#include <vector>

#include "agent/agent_options.h"
#include "agent/command_runner.h"
#include "agent/commands.h"

namespace nodeguard::agent {

// Runs until SIGTERM/SIGINT. Returns the exit code (2 for bad configuration).
// REQUIRES: ValidateAgentOptions(options) == "".
int RunAgent(const AgentProcessOptions& options);

// The --simulate hook: runs `command_template` (words with {node} and
// {action} placeholders) through `runner` with `timeout`, logging its output;
// an Error when it cannot start, fails or times out. An empty template gives
// no hook (null): the simulation only logs. REQUIRES: runner outlives the hook.
SimulationHook MakeCommandHook(std::vector<std::string> command_template, CommandRunner& runner,
                               std::chrono::milliseconds timeout);

}  // namespace nodeguard::agent
