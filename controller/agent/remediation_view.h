#pragma once

// What the agent reads of the controller's remediation state (the Node
// annotation nodeguard.io/remediation; its codec is remediation/state.h, in
// the controller's decision library): whether that state still asks for an
// agent request. The agent acts on nodeguard.io/agent-request only while the
// state is in phase ActionRequested with requestId equal to the request's id,
// so a request the controller withdrew, abandoned (Failed, Cancelled) or
// moved past never runs, however late an agent starts.
//
// Only the fields this check needs are read, so the agent does not link the
// controller's decision library (health, api, the state machine);
// tests/unit/agent reads states written by remediation::EncodeState, in
// every phase, to keep this reader and the codec in agreement.

#include <optional>
#include <string>
#include <string_view>

namespace nodeguard::agent {

inline constexpr const char* kRemediationStateAnnotation = "nodeguard.io/remediation";

// Why the state does not ask for the request (kNone: it does).
enum class NotAskedReason : uint8_t {
  kNone,
  kNoState,             // No nodeguard.io/remediation annotation.
  kUnreadableState,     // Not a JSON object with id, policy and phase.
  kNotActionRequested,  // Another phase (Draining, AwaitingRecovery, Failed, ...).
  kOtherRequest,        // ActionRequested, but for another requestId.
};
// "NoState", "UnreadableState", "NotActionRequested", "OtherRequest" ("" for kNone).
const char* NotAskedReasonName(NotAskedReason reason);

struct AskCheck {
  NotAskedReason reason = NotAskedReason::kNone;
  std::string detail;  // For logs: what the state says instead.
  bool asked() const { return reason == NotAskedReason::kNone; }
};

// Whether `state_json` (the annotation's value; nullopt when absent) asks for
// the request `request_id`. An empty request_id is never asked for.
AskCheck StateAsksFor(const std::optional<std::string>& state_json, std::string_view request_id);

}  // namespace nodeguard::agent
