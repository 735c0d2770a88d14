#pragma once

// Test doubles for the agent's seams: an in-memory Node "API server" that
// stores annotations with resourceVersions, and scripted Commands.

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/commands.h"
#include "agent/decide.h"
#include "agent/node_api.h"
#include "agentproto/agent_protocol.h"
#include "common/time.h"
#include "kube/objects.h"
#include "remediation/state.h"

namespace nodeguard::agent::testing {

inline void SetNodeAnnotation(kube::Node& node, const std::string& key, const std::string& value) {
  auto& annotations = node.nodeguard_annotations;
  auto it =
      std::lower_bound(annotations.begin(), annotations.end(), key,
                       [](const auto& entry, const std::string& k) { return entry.first < k; });
  if (it != annotations.end() && it->first == key) {
    it->second = value;
  } else {
    annotations.insert(it, {key, value});
  }
}

// The controller's nodeguard.io/remediation state (written with the real
// codec, remediation/state.h) in `phase`, asking for `request_id` when the
// phase is ActionRequested.
inline std::string StateJson(const std::string& request_id,
                             remediation::Phase phase = remediation::Phase::kActionRequested) {
  const WallTime t = *ParseRfc3339("2026-11-27T14:20:00Z");
  remediation::RemediationState s;
  s.id = "worker-1-1795789899";
  s.policy = "workers";
  s.phase = phase;
  s.detected_at = t;
  s.phase_since = t;
  if (phase != remediation::Phase::kPending) s.started_at = t;
  s.cordoned_by_us = phase != remediation::Phase::kPending;
  if (phase == remediation::Phase::kActionRequested ||
      phase == remediation::Phase::kAwaitingRecovery || remediation::IsTerminal(phase)) {
    s.action = api::RemediationAction::kRestartKubelet;
    s.action_index = 0;
    s.action_requested_at = t;
    s.request_id = request_id;
    s.boot_id_before = "boot-a";
  }
  switch (phase) {
    case remediation::Phase::kSucceeded:
      s.outcome = remediation::Outcome::kRecovered;
      s.finished_at = t;
      break;
    case remediation::Phase::kFailed:
      s.outcome = remediation::Outcome::kActionsExhausted;
      s.finished_at = t;
      break;
    case remediation::Phase::kCancelled:
      s.outcome = remediation::Outcome::kDisabled;
      s.finished_at = t;
      break;
    default:
      break;
  }
  return remediation::EncodeState(s);
}

// An observation, with the fields a test does not care about left empty.
inline AgentObservation Obs(std::optional<std::string> request, std::optional<std::string> status,
                            std::string boot_id, WallTime now,
                            std::optional<std::string> state = std::nullopt,
                            std::string host_boot_id = "") {
  AgentObservation o;
  o.request_json = std::move(request);
  o.status_json = std::move(status);
  o.boot_id = std::move(boot_id);
  o.now = now;
  o.state_json = std::move(state);
  o.host_boot_id = std::move(host_boot_id);
  return o;
}

inline kube::Node MakeNode(std::string name = "worker-1", std::string boot_id = "boot-a") {
  kube::Node node;
  node.meta.name = std::move(name);
  node.meta.resource_version = "100";
  node.boot_id = std::move(boot_id);
  node.container_runtime_version = "containerd://1.7.2";
  return node;
}

// Holds "the" Node as the API server stores it. Writes bump the
// resourceVersion; a write with a stale expected version fails with
// kConflict, as a merge patch carrying metadata.resourceVersion does.
class FakeNodeApi final : public NodeApi {
 public:
  struct Write {
    std::string key;
    std::string value;
    std::string expected_resource_version;
  };

  explicit FakeNodeApi(kube::Node node) : node_(std::move(node)) {}

  Result<std::string> SetAnnotation(std::string_view node_name, std::string_view key,
                                    std::string_view value,
                                    std::string_view expected_resource_version) override {
    attempts_.push_back(
        Write{std::string(key), std::string(value), std::string(expected_resource_version)});
    if (node_name != node_.meta.name)
      return Error::NotFound("nodes \"" + std::string(node_name) + "\" not found");
    if (fail_next_ > 0) {
      --fail_next_;
      return Error::Unavailable("injected: connection reset");
    }
    if (!script_.empty()) {
      bool ok = script_.front();
      script_.erase(script_.begin());
      if (!ok) return Error::Timeout("injected: request timed out");
    }
    if (!expected_resource_version.empty() &&
        expected_resource_version != node_.meta.resource_version) {
      Error e = Error::Of(ErrorKind::kConflict, "the object has been modified");
      e.http_status = 409;
      e.reason = "Conflict";
      return e;
    }
    SetNodeAnnotation(node_, std::string(key), std::string(value));
    Bump();
    writes_.push_back(attempts_.back());
    if (confirm_without_version_) return std::string();
    return node_.meta.resource_version;
  }

  // Changes made "by others" (the controller, the kubelet) also bump the
  // version. A request comes with the state that asks for it, written first,
  // as the controller does.
  void SetRequest(const agentproto::AgentRequest& request) {
    SetState(StateJson(request.id));
    SetNodeAnnotation(node_, agentproto::kAgentRequestAnnotation,
                      agentproto::EncodeAgentRequest(request));
    Bump();
  }
  void RemoveAnnotation(const std::string& key) {
    auto& a = node_.nodeguard_annotations;
    a.erase(std::remove_if(a.begin(), a.end(), [&](const auto& kv) { return kv.first == key; }),
            a.end());
    Bump();
  }
  void SetState(const std::string& state_json) {
    SetNodeAnnotation(node_, remediation::kRemediationAnnotation, state_json);
    Bump();
  }
  void SetRawAnnotation(const std::string& key, const std::string& value) {
    SetNodeAnnotation(node_, key, value);
    Bump();
  }
  void SetBootId(const std::string& boot_id) {
    node_.boot_id = boot_id;
    Bump();
  }

  // The Node as a watch would deliver it now.
  const kube::Node& node() const { return node_; }
  std::optional<agentproto::AgentStatus> status() const {
    const std::string* raw = node_.Annotation(agentproto::kAgentStatusAnnotation);
    if (raw == nullptr) return std::nullopt;
    auto decoded = agentproto::DecodeAgentStatus(*raw);
    if (!decoded.ok()) return std::nullopt;
    return *decoded;
  }
  // Stored writes, and every attempt (including failed ones).
  const std::vector<Write>& writes() const { return writes_; }
  const std::vector<Write>& attempts() const { return attempts_; }
  std::vector<std::string> WrittenStates() const {
    std::vector<std::string> out;
    for (const Write& w : writes_) {
      auto s = agentproto::DecodeAgentStatus(w.value);
      out.push_back(s.ok() ? agentproto::AgentStateName(s->state) : "?");
    }
    return out;
  }

  void FailNextWrites(int n) { fail_next_ = n; }
  // Outcomes of the next writes in order (true: stored, false: timed out).
  void ScriptWrites(std::vector<bool> outcomes) { script_ = std::move(outcomes); }
  void ConfirmWithoutVersion(bool on) { confirm_without_version_ = on; }

 private:
  void Bump() {
    node_.meta.resource_version = std::to_string(std::stoll(node_.meta.resource_version) + 1);
  }

  kube::Node node_;
  std::vector<Write> writes_;
  std::vector<Write> attempts_;
  int fail_next_ = 0;
  std::vector<bool> script_;
  bool confirm_without_version_ = false;
};

// Records each action; returns what `outcome` says (Ok by default) and runs
// `side_effect` first (e.g. to change the bootID as a reboot would).
class FakeCommands final : public Commands {
 public:
  Result<std::string> Execute(AgentAction action, const kube::Node& node) override {
    calls.push_back(action);
    if (side_effect) side_effect(action, node);
    if (outcome) return outcome(action);
    return std::string("ok: ") + agentproto::AgentActionName(action);
  }
  std::string Describe(AgentAction action, const kube::Node&) const override {
    return std::string("fake ") + agentproto::AgentActionName(action);
  }

  std::vector<AgentAction> calls;
  std::function<Result<std::string>(AgentAction)> outcome;
  std::function<void(AgentAction, const kube::Node&)> side_effect;
};

}  // namespace nodeguard::agent::testing
