#include "agentproto/agent_protocol.h"

#include <nlohmann/json.hpp>

#include "agentproto/json_fields.h"
#include "common/time.h"

namespace nodeguard::agentproto {
namespace {

using json_fields::Missing;

constexpr std::string_view kRequestWhat = "agent request";
constexpr std::string_view kStatusWhat = "agent status";

}  // namespace

const char* AgentActionName(AgentAction a) {
  switch (a) {
    case AgentAction::kRestartContainerRuntime:
      return "RestartContainerRuntime";
    case AgentAction::kRestartKubelet:
      return "RestartKubelet";
    case AgentAction::kReboot:
      return "Reboot";
  }
  return "RestartContainerRuntime";
}

std::optional<AgentAction> ParseAgentAction(std::string_view name) {
  for (AgentAction a : {AgentAction::kRestartContainerRuntime, AgentAction::kRestartKubelet,
                        AgentAction::kReboot}) {
    if (name == AgentActionName(a)) return a;
  }
  return std::nullopt;
}

const char* AgentStateName(AgentState s) {
  switch (s) {
    case AgentState::kAccepted:
      return "Accepted";
    case AgentState::kRunning:
      return "Running";
    case AgentState::kDone:
      return "Done";
    case AgentState::kFailed:
      return "Failed";
  }
  return "Accepted";
}

std::optional<AgentState> ParseAgentState(std::string_view name) {
  for (AgentState s :
       {AgentState::kAccepted, AgentState::kRunning, AgentState::kDone, AgentState::kFailed}) {
    if (name == AgentStateName(s)) return s;
  }
  return std::nullopt;
}

bool IsValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 320) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string EncodeAgentRequest(const AgentRequest& request) {
  nlohmann::json j = {{"id", request.id},
                      {"action", AgentActionName(request.action)},
                      {"requestedAt", FormatRfc3339(request.requested_at)},
                      {"requester", request.requester}};
  return j.dump();
}

std::string EncodeAgentStatus(const AgentStatus& status) {
  nlohmann::json j = {{"id", status.id}, {"state", AgentStateName(status.state)}};
  if (!status.message.empty()) j["message"] = status.message;
  if (!status.boot_id.empty()) j["bootId"] = status.boot_id;
  if (status.started_at) j["startedAt"] = FormatRfc3339(*status.started_at);
  if (status.finished_at) j["finishedAt"] = FormatRfc3339(*status.finished_at);
  return j.dump();
}

Result<AgentRequest> DecodeAgentRequest(std::string_view text) {
  auto object = json_fields::ParseObject(text, kRequestWhat);
  if (!object.ok()) return object.error();
  const nlohmann::json& j = *object;

  AgentRequest request;
  auto id = json_fields::OptionalString(j, "id", kRequestWhat);
  if (!id.ok()) return id.error();
  if (!*id) return Missing("id", kRequestWhat);
  if (!IsValidRequestId(**id)) {
    return Error::Invalid("agent request: id \"" + **id +
                          "\" must be 1-320 characters from [A-Za-z0-9._-]");
  }
  request.id = **id;

  auto action = json_fields::OptionalString(j, "action", kRequestWhat);
  if (!action.ok()) return action.error();
  if (!*action) return Missing("action", kRequestWhat);
  auto parsed_action = ParseAgentAction(**action);
  if (!parsed_action) {
    return Error::Invalid("agent request: unknown action \"" + **action +
                          "\" (expected RestartContainerRuntime, RestartKubelet or Reboot)");
  }
  request.action = *parsed_action;

  auto requested_at = json_fields::OptionalTime(j, "requestedAt", kRequestWhat);
  if (!requested_at.ok()) return requested_at.error();
  if (!*requested_at) return Missing("requestedAt", kRequestWhat);
  request.requested_at = **requested_at;

  auto requester = json_fields::OptionalString(j, "requester", kRequestWhat);
  if (!requester.ok()) return requester.error();
  request.requester = requester->value_or("");
  return request;
}

Result<AgentStatus> DecodeAgentStatus(std::string_view text) {
  auto object = json_fields::ParseObject(text, kStatusWhat);
  if (!object.ok()) return object.error();
  const nlohmann::json& j = *object;

  AgentStatus status;
  auto id = json_fields::OptionalString(j, "id", kStatusWhat);
  if (!id.ok()) return id.error();
  if (!*id) return Missing("id", kStatusWhat);
  // Empty is allowed: the refusal of a request whose id could not be read.
  if (!(*id)->empty() && !IsValidRequestId(**id)) {
    return Error::Invalid("agent status: id \"" + **id +
                          "\" must be 1-320 characters from [A-Za-z0-9._-]");
  }
  status.id = **id;

  auto state = json_fields::OptionalString(j, "state", kStatusWhat);
  if (!state.ok()) return state.error();
  if (!*state) return Missing("state", kStatusWhat);
  auto parsed_state = ParseAgentState(**state);
  if (!parsed_state) {
    return Error::Invalid("agent status: unknown state \"" + **state +
                          "\" (expected Accepted, Running, Done or Failed)");
  }
  status.state = *parsed_state;

  auto message = json_fields::OptionalString(j, "message", kStatusWhat);
  if (!message.ok()) return message.error();
  status.message = message->value_or("");
  auto boot_id = json_fields::OptionalString(j, "bootId", kStatusWhat);
  if (!boot_id.ok()) return boot_id.error();
  status.boot_id = boot_id->value_or("");
  auto started_at = json_fields::OptionalTime(j, "startedAt", kStatusWhat);
  if (!started_at.ok()) return started_at.error();
  status.started_at = *started_at;
  auto finished_at = json_fields::OptionalTime(j, "finishedAt", kStatusWhat);
  if (!finished_at.ok()) return finished_at.error();
  status.finished_at = *finished_at;
  return status;
}

std::optional<std::string> PeekRequestId(std::string_view text) {
  auto object = json_fields::ParseObject(text, kRequestWhat);
  if (!object.ok()) return std::nullopt;
  auto id = json_fields::OptionalString(*object, "id", kRequestWhat);
  if (!id.ok() || !*id || !IsValidRequestId(**id)) return std::nullopt;
  return **id;
}

}  // namespace nodeguard::agentproto
