#pragma once

// The node agent protocol, shared by the controller (remediation) and the
// node agent (controller/agent/). Two annotations on the Node carry it, so it
// survives restarts of either side and reboots of the node:
//
//   nodeguard.io/agent-request  written by the controller only:
//     {"id":"worker-3-1795789899-1","action":"Reboot",
//      "requestedAt":"2026-11-27T14:31:39Z","requester":"nodeguard/incident-policy"}
//   nodeguard.io/agent-status   written by the agent only:
//     {"id":"worker-3-1795789899-1","state":"Running","message":"systemctl reboot",
//      "bootId":"6f1c...","startedAt":"2026-11-27T14:31:40Z"}
//
// Exactly once: the agent executes a request only when the status does not
// already carry its id; it writes Accepted, then Running (for Reboot, the
// Running write must have succeeded before the command runs), then Done or
// Failed. An id found Running after an agent restart is never re-executed: it
// becomes Done when the bootID changed since the status was written (the
// reboot happened), Failed ("interrupted") otherwise. Malformed requests and
// unknown actions are refused with a Failed status, never executed. The full
// description is in docs/architecture.md ("Node agent protocol").
//
// Decoding is strict about what it reads (required fields, types, enum values,
// RFC 3339 times, id syntax) and ignores unknown keys, so a newer writer may
// add fields during a rolling upgrade.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace nodeguard::agentproto {

inline constexpr const char* kAgentRequestAnnotation = "nodeguard.io/agent-request";
inline constexpr const char* kAgentStatusAnnotation = "nodeguard.io/agent-status";

// What the agent can do to its node. (The policy's External rung never reaches
// the agent.)
enum class AgentAction : uint8_t { kRestartContainerRuntime, kRestartKubelet, kReboot };
const char* AgentActionName(
    AgentAction a);  // "RestartContainerRuntime", "RestartKubelet", "Reboot"
std::optional<AgentAction> ParseAgentAction(std::string_view name);

enum class AgentState : uint8_t {
  kAccepted,  // Validated and queued; nothing run yet.
  kRunning,   // The command is about to run or running (a reboot in progress).
  kDone,      // Finished successfully (for Reboot: the node came back with a new bootID).
  kFailed,    // Refused or failed; `message` says why. Never retried under the same id.
};
const char* AgentStateName(AgentState s);
std::optional<AgentState> ParseAgentState(std::string_view name);
inline bool IsFinal(AgentState s) { return s == AgentState::kDone || s == AgentState::kFailed; }

// Ids are 1..320 characters (a node name of up to 253 plus a suffix) from [A-Za-z0-9._-]: safe in
// logs, Events and command lines.
bool IsValidRequestId(std::string_view id);

struct AgentRequest {
  std::string id;
  AgentAction action = AgentAction::kRestartContainerRuntime;
  WallTime requested_at{};
  std::string requester;  // e.g. "nodeguard/<policy>"; informational.
  friend bool operator==(const AgentRequest&, const AgentRequest&) = default;
};

struct AgentStatus {
  std::string id;  // The request id this status answers; empty for a request without a readable id.
  AgentState state = AgentState::kAccepted;
  std::string message;
  std::string boot_id;  // The node's bootID when the agent accepted the request.
  std::optional<WallTime> started_at;
  std::optional<WallTime> finished_at;  // Set for Done and Failed.
  friend bool operator==(const AgentStatus&, const AgentStatus&) = default;
};

// Compact JSON, second-precision RFC 3339 times (sub-second parts are dropped).
std::string EncodeAgentRequest(const AgentRequest& request);
std::string EncodeAgentStatus(const AgentStatus& status);

// kInvalid on anything malformed: not JSON, not an object, a missing or
// mistyped field, an unknown action/state, a bad time or id.
Result<AgentRequest> DecodeAgentRequest(std::string_view json);
Result<AgentStatus> DecodeAgentStatus(std::string_view json);

// The "id" of a request that failed to decode, when it is a valid id string,
// so the agent can refuse the request under its own id.
std::optional<std::string> PeekRequestId(std::string_view json);

}  // namespace nodeguard::agentproto
