#pragma once

// The node agent's exactly-once decision: from what the agent observes on its
// Node (the request and status annotations, the current bootID) and what this
// agent process remembers, to one of
//
//   Nothing    the request is handled, someone else's write is pending, or
//              the node's remediation state no longer asks for it (then
//              not_asked says why: nothing is written for such a request);
//   Refuse     write a Failed status and never run it (malformed request,
//              unknown or disabled action, stale request, unreadable status);
//   Reconcile  write the final status of an action the agent can no longer
//              be running (it restarted, or the node rebooted);
//   Execute    write Accepted, then Running (each confirmed by the API
//              server), then run the action.
//
// The state that makes it exactly-once lives on the Node (the status
// annotation), so it survives agent restarts and node reboots:
// - an id whose status is Accepted, Running, Done or Failed is never executed
//   again by a new agent process;
// - Running recorded under another bootID means the node rebooted during the
//   action: Done for Reboot (the reboot completed), Failed ("interrupted by a
//   reboot") for the restarts;
// - Running or Accepted under the same bootID that this process did not start
//   means the agent restarted mid-action: Failed ("interrupted"), not re-run.
// - a request is executed (or refused) only while the node's
//   nodeguard.io/remediation state still asks for it (remediation_view.h):
//   a request the controller withdrew or abandoned never runs, however late
//   the agent starts. Closing an Accepted/Running status already recorded
//   under the request's id is not gated: it records what did happen.
// - "the current boot" is the host's boot ID when the agent read it
//   (host_boot_id), else the Node's status.nodeInfo.bootID. Right after a
//   reboot the Node still shows the old bootID until the kubelet posts again;
//   the host's own boot ID is never stale, so a completed reboot is not
//   mistaken for an interrupted action.
// The agent's own memory (LocalView) only covers the gap between its writes
// and the watch catching up with them: it is never needed for safety across
// restarts, only to avoid acting twice on a stale copy of the Node.
//
// Protocol types and codec: agentproto/agent_protocol.h (shared with the
// controller).

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "agent/remediation_view.h"
#include "agentproto/agent_protocol.h"
#include "common/clock.h"

namespace nodeguard::agent {

using agentproto::AgentAction;
using agentproto::AgentRequest;
using agentproto::AgentState;
using agentproto::AgentStatus;

// What the agent sees on its Node.
struct AgentObservation {
  std::optional<std::string> request_json;  // nodeguard.io/agent-request; nullopt when absent.
  std::optional<std::string> status_json;   // nodeguard.io/agent-status; nullopt when absent.
  std::string boot_id;                      // status.nodeInfo.bootID now.
  WallTime now{};
  // nodeguard.io/remediation (the controller's state); nullopt when absent.
  std::optional<std::string> state_json;
  // The running kernel's boot ID as the host reports it
  // (/proc/sys/kernel/random/boot_id), or "" when not read (--simulate: the
  // simulated node's boot is its Node's bootID). Preferred over boot_id.
  std::string host_boot_id;

  // The boot the node is in now: host_boot_id when known, else boot_id.
  const std::string& current_boot_id() const {
    return host_boot_id.empty() ? boot_id : host_boot_id;
  }
};

// How far this agent process got with a request id.
enum class LocalStage {
  // Execute was decided but a status write before the command failed or was
  // not confirmed: the command did NOT run. Retrying is safe.
  kNotStarted,
  // The Running status was confirmed and the command ran (or is running).
  kStarted,
};

// What this agent process remembers. In memory only: a new process starts
// empty and relies on the Node's status annotation.
struct LocalView {
  std::map<std::string, LocalStage> requests;  // By request id.

  const LocalStage* Find(const std::string& id) const {
    auto it = requests.find(id);
    return it == requests.end() ? nullptr : &it->second;
  }
};

struct DecideOptions {
  // Requests older than this are refused, in case a status annotation was
  // lost or removed while its request stayed. Zero disables the check.
  std::chrono::seconds max_request_age = std::chrono::hours(1);
  // Actions this agent will run; others are refused.
  std::set<AgentAction> enabled_actions = {AgentAction::kRestartContainerRuntime,
                                           AgentAction::kRestartKubelet, AgentAction::kReboot};
};

enum class DecisionKind { kNothing, kRefuse, kReconcile, kExecute };
const char* DecisionKindName(DecisionKind kind);

struct Decision {
  DecisionKind kind = DecisionKind::kNothing;
  // Why, for logs (set for every kind).
  std::string reason;
  // kRefuse and kReconcile: the final status to write.
  // kExecute: the Running status to write (and see confirmed) before running.
  AgentStatus status;
  // kExecute only: the request, and the Accepted status written first.
  std::optional<AgentRequest> request;
  AgentStatus accepted;
  // kNothing because the remediation state does not ask for the request
  // (reason kNone otherwise); `not_asked_id` is that request's id.
  NotAskedReason not_asked = NotAskedReason::kNone;
  std::string not_asked_id;
};

// Pure: the same inputs give the same decision.
Decision Decide(const AgentObservation& observed, const LocalView& local,
                const DecideOptions& options = {});

}  // namespace nodeguard::agent
