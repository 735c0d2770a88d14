#include "agent/remediation_view.h"

#include <nlohmann/json.hpp>

namespace nodeguard::agent {

const char* NotAskedReasonName(NotAskedReason reason) {
  switch (reason) {
    case NotAskedReason::kNone:
      return "";
    case NotAskedReason::kNoState:
      return "NoState";
    case NotAskedReason::kUnreadableState:
      return "UnreadableState";
    case NotAskedReason::kNotActionRequested:
      return "NotActionRequested";
    case NotAskedReason::kOtherRequest:
      return "OtherRequest";
  }
  return "";
}

AskCheck StateAsksFor(const std::optional<std::string>& state_json, std::string_view request_id) {
  if (!state_json) {
    return {NotAskedReason::kNoState, "the node has no nodeguard.io/remediation state"};
  }
  const nlohmann::json j = nlohmann::json::parse(*state_json, nullptr, /*allow_exceptions=*/false);
  auto text = [&](const char* name) -> std::optional<std::string> {
    if (!j.is_object()) return std::nullopt;
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  const auto id = text("id");
  const auto policy = text("policy");
  const auto phase = text("phase");
  if (!id || !policy || !phase || phase->empty()) {
    return {NotAskedReason::kUnreadableState,
            "the nodeguard.io/remediation state is unreadable (no id, policy or phase)"};
  }
  if (*phase != "ActionRequested") {
    return {NotAskedReason::kNotActionRequested,
            "the remediation " + *id + " is in phase " + *phase + ", not ActionRequested"};
  }
  const auto asked = text("requestId").value_or("");
  if (request_id.empty() || asked != request_id) {
    return {NotAskedReason::kOtherRequest, "the remediation " + *id + " asks for request \"" +
                                               asked + "\", not \"" + std::string(request_id) +
                                               "\""};
  }
  return {};
}

}  // namespace nodeguard::agent
