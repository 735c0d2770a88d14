#include "status_example.h"

#include "common/time.h"

namespace nodeguard::api::testing {

NodeHealthPolicyStatus FullStatus() {
  auto at = [](const char* rfc3339) { return *ParseRfc3339(rfc3339); };
  NodeHealthPolicyStatus s;
  s.observed_generation = 4;
  s.conditions = {
      {kConditionReady, kube::ConditionStatus::kTrue, 4, at("2026-11-27T14:00:00Z"), "Enforced",
       "enforcing on 12 nodes"},
      {kConditionPaused, kube::ConditionStatus::kFalse, 4, at("2026-11-27T14:00:00Z"), "NotPaused",
       "acting"},
      {kConditionStormDetected, kube::ConditionStatus::kFalse, 4, at("2026-11-27T14:10:00Z"),
       "BelowThreshold", "1 of 12 nodes unhealthy, storm above 4"},
      {kConditionDegraded, kube::ConditionStatus::kTrue, 4, at("2026-11-27T14:20:00Z"),
       "NodeGaveUp", "worker-7 still unhealthy after 3 remediations; left cordoned"},
  };
  s.selected_nodes = 12;
  s.ready_nodes = 11;
  s.unhealthy_nodes = 1;
  s.density_capped_node_count = 2;
  s.remediating_nodes = 1;
  s.pods_flagged = 37;
  RemediationStatus in_flight;
  in_flight.node = "worker-3";
  in_flight.phase = RemediationPhase::kActing;
  in_flight.action = RemediationAction::kRestartKubelet;
  in_flight.attempt = 2;
  in_flight.started_at = at("2026-11-27T14:25:00Z");
  in_flight.message = "restarting the kubelet (rung 2 of 3)";
  s.remediations = {in_flight};
  RemediationStatus done;
  done.node = "worker-7";
  done.phase = RemediationPhase::kFailed;
  done.action = RemediationAction::kReboot;
  done.attempt = 3;
  done.started_at = at("2026-11-27T13:40:00Z");
  done.finished_at = at("2026-11-27T14:20:00Z");
  done.result = RemediationResult::kFailed;
  done.message = "still NotReady 10m after reboot";
  RemediationStatus recovered;
  recovered.node = "worker-1";
  recovered.phase = RemediationPhase::kSucceeded;
  recovered.action = RemediationAction::kRestartContainerRuntime;
  recovered.attempt = 1;
  recovered.started_at = at("2026-11-27T12:00:00Z");
  recovered.finished_at = at("2026-11-27T12:09:30Z");
  recovered.result = RemediationResult::kRecovered;
  s.recent_remediations = {done, recovered};
  s.density_capped_nodes = {{"worker-2", 70, 70}, {"worker-5", 69, 70}};
  s.resource_hygiene.namespaces = {{"ci", 30}, {"web", 7}};
  s.resource_hygiene.example_pods = {{"ci", "runner-abc", "build: requests.cpu, limits.memory"},
                                     {"web", "frontend-1", ""}};
  s.nodes_without_system_reserve = {"worker-9"};
  s.conflicts = {{"worker-12", "older-policy"}};
  s.early_warning = {8, 2, 1, 1};
  return s;
}

}  // namespace nodeguard::api::testing
