#include "api/decode.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace nodeguard::api {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

NodeHealthPolicySpec Decode(const json& spec, std::vector<FieldError>* errors = nullptr) {
  std::vector<FieldError> local;
  NodeHealthPolicySpec s = DecodeSpec(spec, errors != nullptr ? errors : &local);
  if (errors == nullptr) {
    EXPECT_TRUE(local.empty()) << JoinFieldErrors(local);
  }
  return s;
}

TEST(DecodeSpec, EmptySpecIsTheDefaultConstructedSpec) {
  EXPECT_EQ(Decode(json::object()), NodeHealthPolicySpec{});
  EXPECT_EQ(Decode(nullptr), NodeHealthPolicySpec{});
}

TEST(DecodeSpec, AbsentFeatureBlocksAreOff) {
  const NodeHealthPolicySpec s = Decode(json::object());
  EXPECT_FALSE(s.pod_density.enabled);
  EXPECT_FALSE(s.remediation.enabled);
  EXPECT_FALSE(s.resource_hygiene.enabled);
  EXPECT_TRUE(s.node_selector.Empty());
  EXPECT_FALSE(s.paused);
  EXPECT_FALSE(s.dry_run);
}

TEST(DecodeSpec, WrittenFeatureBlocksAreOnWithTheirDefaults) {
  const NodeHealthPolicySpec s = Decode({{"podDensity", {{"maxPods", 70}}},
                                         {"remediation", json::object()},
                                         {"resourceHygiene", json::object()}});
  PodDensitySpec density;
  density.enabled = true;
  density.max_pods = 70;
  EXPECT_EQ(s.pod_density, density);
  EXPECT_EQ(s.pod_density.release_below, IntOrPercent::Percent(90));
  EXPECT_EQ(s.pod_density.taint.key, "nodeguard.io/pod-density-exceeded");
  EXPECT_EQ(s.pod_density.taint.effect, kube::TaintEffect::kNoSchedule);

  RemediationSpec remediation;
  remediation.enabled = true;
  EXPECT_EQ(s.remediation, remediation);
  EXPECT_EQ(s.remediation.max_concurrent, 1);
  EXPECT_EQ(s.remediation.max_unhealthy, IntOrPercent::Percent(30));
  EXPECT_TRUE(s.remediation.actions.empty());

  ResourceHygieneSpec hygiene;
  hygiene.enabled = true;
  EXPECT_EQ(s.resource_hygiene, hygiene);
  EXPECT_EQ(s.resource_hygiene.required,
            kube::kRequestCpu | kube::kRequestMemory | kube::kLimitMemory);
  EXPECT_THAT(s.resource_hygiene.exclude_namespaces, ElementsAre("kube-system"));
}

TEST(DecodeSpec, ExplicitEnabledFalseKeepsTheSettings) {
  const NodeHealthPolicySpec s = Decode({{"podDensity", {{"enabled", false}, {"maxPods", 50}}}});
  EXPECT_FALSE(s.pod_density.enabled);
  EXPECT_EQ(s.pod_density.max_pods, 50);
}

TEST(DecodeSpec, EveryFieldIsRead) {
  const json spec = json::parse(R"({
    "nodeSelector": {"matchLabels": {"pool": "a"},
                     "matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"},
                                          {"key": "zone", "operator": "In", "values": ["x", "y"]}]},
    "paused": true, "dryRun": true,
    "podDensity": {"enabled": true, "maxPods": 70, "maxPodsPerCore": 9, "releaseBelow": 60,
                   "taint": {"key": "example.com/full", "value": "yes", "effect": "PreferNoSchedule"},
                   "countDaemonSetPods": false, "taintAhead": 2, "evictOverflow": true},
    "health": {"unhealthyConditions": [{"type": "example.com/KernelDeadlock", "status": "True",
                                        "reason": "DockerHung", "messageRegex": "task .* blocked",
                                        "duration": "1m30s"}]},
    "remediation": {"enabled": true, "maxConcurrent": 2, "maxUnhealthy": 4,
                    "actions": ["RestartKubelet", "Reboot", "External"],
                    "drain": {"timeout": "20m", "gracePeriodSeconds": 45, "deleteEmptyDirData": true,
                              "force": true, "skipWaitForDeleteTimeout": "5m",
                              "podSelector": {"matchLabels": {"evict": "ok"}}},
                    "actionTimeout": "15m", "recoveryStableFor": "90s", "cooldown": "2h",
                    "maxAttemptsPerNode": 5, "takeOverCordonedNodes": true},
    "resourceHygiene": {"enabled": true, "requiredRequests": ["ephemeral-storage"],
                        "requiredLimits": ["cpu", "memory"], "includeInitContainers": false,
                        "excludeNamespaces": ["kube-system", "monitoring"], "annotatePods": true,
                        "emitEvents": false, "flagNodesWithoutSystemReserve": false}
  })");
  const NodeHealthPolicySpec s = Decode(spec);

  EXPECT_EQ(s.node_selector.match_labels.at("pool"), "a");
  ASSERT_EQ(s.node_selector.match_expressions.size(), 2u);
  EXPECT_EQ(s.node_selector.match_expressions[0].op, SelectorOperator::kDoesNotExist);
  EXPECT_THAT(s.node_selector.match_expressions[1].values, ElementsAre("x", "y"));
  EXPECT_TRUE(s.paused);
  EXPECT_TRUE(s.dry_run);

  EXPECT_EQ(s.pod_density.max_pods_per_core, 9);
  EXPECT_EQ(s.pod_density.release_below, IntOrPercent::Count(60));
  EXPECT_EQ(s.pod_density.taint.key, "example.com/full");
  EXPECT_EQ(s.pod_density.taint.value, "yes");
  EXPECT_EQ(s.pod_density.taint.effect, kube::TaintEffect::kPreferNoSchedule);
  EXPECT_FALSE(s.pod_density.count_daemon_set_pods);
  EXPECT_EQ(s.pod_density.taint_ahead, 2);
  EXPECT_TRUE(s.pod_density.evict_overflow);

  ASSERT_EQ(s.health.unhealthy_conditions.size(), 1u);
  const UnhealthyCondition& u = s.health.unhealthy_conditions[0];
  EXPECT_EQ(u.type, "example.com/KernelDeadlock");
  EXPECT_EQ(u.status, kube::ConditionStatus::kTrue);
  EXPECT_EQ(u.reason, "DockerHung");
  EXPECT_EQ(u.message_regex, "task .* blocked");
  EXPECT_EQ(u.duration, 90s);

  const RemediationSpec& m = s.remediation;
  EXPECT_EQ(m.max_concurrent, 2);
  EXPECT_EQ(m.max_unhealthy, IntOrPercent::Count(4));
  EXPECT_THAT(m.actions, ElementsAre(RemediationAction::kRestartKubelet, RemediationAction::kReboot,
                                     RemediationAction::kExternal));
  EXPECT_EQ(m.drain.timeout, 20min);
  EXPECT_EQ(m.drain.grace_period_seconds, 45);
  EXPECT_TRUE(m.drain.delete_empty_dir_data);
  EXPECT_TRUE(m.drain.force);
  EXPECT_EQ(m.drain.skip_wait_for_delete_timeout, 5min);
  EXPECT_EQ(m.drain.pod_selector.match_labels.at("evict"), "ok");
  EXPECT_EQ(m.action_timeout, 15min);
  EXPECT_EQ(m.recovery_stable_for, 90s);
  EXPECT_EQ(m.cooldown, 2h);
  EXPECT_EQ(m.max_attempts_per_node, 5);
  EXPECT_TRUE(m.take_over_cordoned_nodes);

  const ResourceHygieneSpec& h = s.resource_hygiene;
  EXPECT_EQ(h.required, kube::kRequestEphemeralStorage | kube::kLimitCpu | kube::kLimitMemory);
  EXPECT_FALSE(h.include_init_containers);
  EXPECT_THAT(h.exclude_namespaces, ElementsAre("kube-system", "monitoring"));
  EXPECT_TRUE(h.annotate_pods);
  EXPECT_FALSE(h.emit_events);
  EXPECT_FALSE(h.flag_nodes_without_system_reserve);
}

TEST(DecodeSpec, EmptyResourceListsRequireNothing) {
  const NodeHealthPolicySpec s =
      Decode({{"resourceHygiene",
               {{"requiredRequests", json::array()}, {"requiredLimits", json::array()}}}});
  EXPECT_EQ(s.resource_hygiene.required, 0);
}

TEST(DecodeSpec, AnEmptyRuleListStaysEmptySoValidationReportsIt) {
  EXPECT_TRUE(Decode({{"health", {{"unhealthyConditions", json::array()}}}})
                  .health.unhealthy_conditions.empty());
  EXPECT_EQ(Decode({{"health", json::object()}}).health.unhealthy_conditions,
            DefaultUnhealthyConditions());
}

TEST(DecodeSpec, NullsAreAbsent) {
  EXPECT_EQ(Decode({{"podDensity", nullptr}, {"paused", nullptr}}), NodeHealthPolicySpec{});
}

TEST(DecodeSpec, IntegralFloatsAreIntegers) {
  EXPECT_EQ(Decode({{"podDensity", {{"maxPods", 70.0}}}}).pod_density.max_pods, 70);
}

TEST(DecodeSpec, UnknownFieldsAreIgnoredAsTheServerPrunesThem) {
  EXPECT_EQ(Decode({{"color", "blue"}, {"podDensity", {{"maxPods", 70}, {"colour", 1}}}})
                .pod_density.max_pods,
            70);
}

TEST(DecodeSpec, ReportsEveryProblemWithItsPathAndKeepsDefaults) {
  std::vector<FieldError> errors;
  const NodeHealthPolicySpec s = Decode(json::parse(R"({
    "paused": "yes",
    "podDensity": {"maxPods": 70.5, "releaseBelow": "ninety", "taint": "NoSchedule"},
    "health": {"unhealthyConditions": [{"type": "Ready", "status": "False", "duration": "-1m"}, 7]},
    "remediation": {"maxConcurrent": 3000000000, "actions": ["Reboot", "Pray"], "drain": []},
    "resourceHygiene": {"requiredLimits": ["gpu"], "excludeNamespaces": "kube-system"}
  })"),
                                        &errors);
  std::vector<std::string> fields;
  for (const auto& e : errors) fields.push_back(e.field);
  EXPECT_THAT(fields,
              ElementsAre("spec.paused", "spec.podDensity.maxPods", "spec.podDensity.releaseBelow",
                          "spec.podDensity.taint", "spec.health.unhealthyConditions[0].duration",
                          "spec.health.unhealthyConditions[1]", "spec.remediation.maxConcurrent",
                          "spec.remediation.actions[1]", "spec.remediation.drain",
                          "spec.resourceHygiene.requiredLimits[0]",
                          "spec.resourceHygiene.excludeNamespaces"));
  EXPECT_THAT(errors[0].message, HasSubstr("must be a boolean, not a string"));
  EXPECT_THAT(errors[6].message, HasSubstr("int32"));
  EXPECT_THAT(errors[7].message, HasSubstr("Unsupported value: \"Pray\""));
  // Invalid fields keep their defaults; valid neighbours are still read.
  EXPECT_FALSE(s.paused);
  EXPECT_FALSE(s.pod_density.max_pods.has_value());
  EXPECT_EQ(s.pod_density.release_below, IntOrPercent::Percent(90));
  EXPECT_EQ(s.health.unhealthy_conditions.at(0).duration, 5min);
  EXPECT_EQ(s.remediation.max_concurrent, 1);
  EXPECT_THAT(s.remediation.actions, ElementsAre(RemediationAction::kReboot));
  EXPECT_THAT(s.resource_hygiene.exclude_namespaces, ElementsAre("kube-system"));
}

TEST(DecodeSpec, SpecMustBeAnObject) {
  std::vector<FieldError> errors;
  Decode(json::array(), &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].field, "spec");
}

TEST(ParseApiDuration, AcceptsTheCrdSyntax) {
  EXPECT_EQ(*ParseApiDuration("3m"), 3min);
  EXPECT_EQ(*ParseApiDuration("1h30m"), 90min);
  EXPECT_EQ(*ParseApiDuration("1.5s"), 1500ms);
  EXPECT_EQ(*ParseApiDuration("0s"), 0s);
  EXPECT_EQ(*ParseApiDuration("250ms"), 250ms);
  EXPECT_EQ(*ParseApiDuration("3\xC2\xB5s"), 3us);
  EXPECT_EQ(*ParseApiDuration("16h17m50.79s"), 16h + 17min + 50s + 790ms);
}

TEST(ParseApiDuration, RejectsWhatTheCrdPatternRejects) {
  // Go accepts the first few, metav1.Duration would too, but the CRD pattern
  // does not: a sign, a bare number, a dot without digits on both sides.
  for (std::string_view bad :
       {"-3m", "+3m", "0", "300", ".5s", "1.s", "3 m", "3x", "", "m", "1h30", "9999999999h"}) {
    auto r = ParseApiDuration(bad);
    EXPECT_FALSE(r.ok()) << "accepted \"" << bad << "\"";
    if (!r.ok()) {
      EXPECT_THAT(r.error().message, HasSubstr("must be a Go duration"));
    }
  }
}

TEST(ParsePolicy, ReadsMetadataSpecAndStatus) {
  auto parsed = ParsePolicy(std::string_view(R"({
    "apiVersion": "nodeguard.io/v1alpha1", "kind": "NodeHealthPolicy",
    "metadata": {"name": "workers", "uid": "u-1", "resourceVersion": "42", "generation": 3,
                 "creationTimestamp": "2026-11-27T14:31:39Z"},
    "spec": {"paused": true},
    "status": {"observedGeneration": 2, "selectedNodes": 5}
  })"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_TRUE(parsed->valid());
  const NodeHealthPolicy& p = parsed->policy;
  EXPECT_EQ(p.meta.name, "workers");
  EXPECT_EQ(p.meta.uid, "u-1");
  EXPECT_EQ(p.meta.resource_version, "42");
  EXPECT_EQ(p.meta.generation, 3);
  EXPECT_TRUE(kube::IsSet(p.meta.creation_timestamp));
  EXPECT_FALSE(kube::IsSet(p.meta.deletion_timestamp));
  EXPECT_TRUE(p.spec.paused);
  EXPECT_EQ(p.status.observed_generation, 2);
  EXPECT_EQ(p.status.selected_nodes, 5);
}

TEST(ParsePolicy, ReportsAnInvalidSpecInsteadOfFailing) {
  auto parsed = ParsePolicy(
      json{{"metadata", {{"name", "p"}}}, {"spec", {{"remediation", {{"maxConcurrent", 0}}}}}});
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->valid());
  ASSERT_EQ(parsed->errors.size(), 1u);
  EXPECT_EQ(parsed->errors[0].field, "spec.remediation.maxConcurrent");
}

TEST(ParsePolicy, DecodeErrorsComeFirstAndValidationWaitsForThem) {
  // Like the API server, which skips its CEL rules while schema errors remain.
  auto parsed =
      ParsePolicy(json{{"metadata", {{"name", "p"}}},
                       {"spec", {{"paused", 1}, {"remediation", {{"maxConcurrent", 0}}}}}});
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->errors.size(), 1u);
  EXPECT_EQ(parsed->errors[0].field, "spec.paused");
}

TEST(ParsePolicy, StatusProblemsDoNotInvalidateThePolicy) {
  auto parsed =
      ParsePolicy(json{{"metadata", {{"name", "p"}}}, {"status", {{"selectedNodes", "x"}}}});
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->valid());
}

TEST(ParsePolicy, FailsOnlyWithoutAPolicyToReportOn) {
  EXPECT_FALSE(ParsePolicy(std::string_view("{not json")).ok());
  EXPECT_FALSE(ParsePolicy(json::array()).ok());
  EXPECT_FALSE(ParsePolicy(json{{"spec", json::object()}}).ok());
  EXPECT_FALSE(ParsePolicy(json{{"metadata", {{"name", ""}}}}).ok());
  EXPECT_FALSE(ParsePolicy(json{{"kind", "Node"}, {"metadata", {{"name", "n"}}}}).ok());
  EXPECT_FALSE(
      ParsePolicy(json{{"apiVersion", "nodeguard.io/v2"}, {"metadata", {{"name", "n"}}}}).ok());
  auto r = ParsePolicy(json{{"metadata", {{"name", "n"}}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->policy.spec, NodeHealthPolicySpec{});
}

}  // namespace
}  // namespace nodeguard::api
