#pragma once

// The node agent's core: on each observed version of its own Node, decide
// (agent/decide.h) and carry the decision out through the NodeApi and
// Commands seams.
//
// Integration (the `nodeguard agent` mode, not in this library yet):
//   - watch only this node: list/watch /api/v1/nodes with
//     fieldSelector=metadata.name=<--node-name>, decode into kube::Node;
//   - hand the latest Node to one worker thread that calls OnNodeUpdate
//     (latest-wins: an action blocks the worker for up to the command
//     timeout, and only the newest version matters afterwards);
//   - NodeApi: PATCH the node with AnnotationMergePatch (node_api.h);
//   - Commands: HostCommands(config, ProcessRunner) normally,
//     SimulatedCommands(config, hook) with --simulate;
//   - also call OnNodeUpdate after a relist, and periodically (e.g. every
//     30 s) with the cached Node so a failed status write is retried.

#include <optional>
#include <set>
#include <string>

#include "agent/commands.h"
#include "agent/decide.h"
#include "agent/node_api.h"
#include "common/clock.h"
#include "kube/objects.h"
#include "observe/metrics.h"

namespace nodeguard::agent {

// The agent's metrics, registered in the process registry.
struct AgentMetrics {
  explicit AgentMetrics(observe::MetricsRegistry& registry);

  observe::CounterFamily& decisions;          // {decision}
  observe::CounterFamily& actions;            // {action, result}
  observe::HistogramFamily& action_duration;  // {action}
  observe::CounterFamily& status_write_errors;
  // Requests not acted on because the node's remediation state does not ask
  // for them, by reason (NotAskedReasonName); once per request and reason
  // per agent process.
  observe::CounterFamily& not_asked;
};

struct AgentOptions {
  DecideOptions decide;
  // The host's boot ID, read once at start (ReadBootIdFile): a reboot ends
  // the process, so it cannot change while the agent runs. Empty: the
  // Node's bootID stands for the boot (--simulate).
  std::string host_boot_id;
};

// The boot ID in `path` (normally /proc/sys/kernel/random/boot_id, the value
// the kubelet reports as status.nodeInfo.bootID): its first line, trimmed.
// kNotFound/kInvalid when it cannot be read or is empty.
Result<std::string> ReadBootIdFile(const std::string& path);

// Not thread-safe: one thread calls OnNodeUpdate at a time.
class Agent {
 public:
  // REQUIRES: api, commands, clock (and metrics when given) outlive the agent.
  Agent(NodeApi& api, Commands& commands, Clock& clock, AgentOptions options = {},
        AgentMetrics* metrics = nullptr);

  // Handles one observed version of the agent's own Node. Blocks while an
  // action runs. Status writes that fail are retried on a later call; a
  // command never runs unless its Running status was confirmed first.
  void OnNodeUpdate(const kube::Node& node);

  const LocalView& local_view() const { return local_; }
  // A final status whose write failed, retried on the next update.
  const std::optional<AgentStatus>& pending_final_status() const { return pending_final_; }

 private:
  // Writes the status annotation; returns the new resourceVersion, or an
  // Error (also when the API server returned no resourceVersion).
  Result<std::string> WriteStatus(const kube::Node& node, const AgentStatus& status,
                                  const std::string& expected_resource_version);
  void RetryPendingFinal(const kube::Node& node);
  void Execute(const kube::Node& node, const Decision& decision);
  void Count(std::string_view action, std::string_view result, double seconds);

  NodeApi& api_;
  Commands& commands_;
  Clock& clock_;
  const AgentOptions options_;
  AgentMetrics* metrics_;
  LocalView local_;
  std::optional<AgentStatus> pending_final_;
  // "<reason>/<request id>" already logged and counted as not asked.
  std::set<std::string> not_asked_seen_;
};

}  // namespace nodeguard::agent
