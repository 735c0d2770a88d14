#include "cli/view.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "common/time.h"
#include "density/taint_record.h"

namespace nodeguard::cli {
namespace {

using remediation::Outcome;
using remediation::Phase;
using remediation::RemediationState;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

WallTime T(const char* text) { return *ParseRfc3339(text); }
const WallTime kNow = T("2026-12-07T12:00:00Z");

void SetAnnotation(kube::Node& n, const std::string& key, const std::string& value) {
  n.nodeguard_annotations.emplace_back(key, value);
  std::sort(n.nodeguard_annotations.begin(), n.nodeguard_annotations.end());
  n.has_annotations = true;
}

kube::Node MakeNode(const std::string& name,
                    kube::ConditionStatus ready = kube::ConditionStatus::kTrue) {
  kube::Node n;
  n.meta.name = name;
  n.meta.resource_version = "4711";
  n.meta.uid = "0b9a3c4e-0000-4000-8000-000000000001";
  kube::NodeCondition c;
  c.type = kube::Symbol::Intern("Ready");
  c.status = ready;
  c.reason = kube::Symbol::Intern(ready == kube::ConditionStatus::kTrue ? "KubeletReady"
                                                                        : "KubeletNotReady");
  c.message = ready == kube::ConditionStatus::kTrue
                  ? "kubelet is posting ready status"
                  : "PLEG is not healthy: pleg was last seen active 4m0s ago; threshold is 3m0s";
  c.last_transition_time = kNow - std::chrono::minutes(20);
  n.conditions.push_back(c);
  n.capacity.cpu_millis = 4000;
  n.allocatable.cpu_millis = 4000;
  n.capacity.pods = 110;
  n.allocatable.pods = 110;
  return n;
}

api::NodeHealthPolicy MakePolicy(const std::string& name,
                                 WallTime created = kNow - std::chrono::hours(24)) {
  api::NodeHealthPolicy p;
  p.meta.name = name;
  p.meta.creation_timestamp = created;
  p.spec.remediation.enabled = true;
  p.spec.pod_density.enabled = true;
  p.spec.pod_density.max_pods = 10;
  api::Condition ready;
  ready.type = api::kConditionReady;
  ready.status = kube::ConditionStatus::kTrue;
  ready.reason = "Enforcing";
  p.status.conditions.push_back(ready);
  p.status.selected_nodes = 3;
  return p;
}

RemediationState Failed(const std::string& node, const std::string& policy = "workers") {
  RemediationState s;
  s.id = node + "-1796645000";
  s.policy = policy;
  s.phase = Phase::kFailed;
  s.outcome = Outcome::kDrainTimedOut;
  s.attempt = 1;
  s.detected_at = kNow - std::chrono::minutes(30);
  s.started_at = s.detected_at;
  s.phase_since = kNow - std::chrono::minutes(10);
  s.finished_at = s.phase_since;
  s.slot_held_until = kNow + std::chrono::minutes(20);
  s.cordoned_by_us = true;
  s.message = "drain timed out: PodDisruptionBudget shop/web allows no disruption; node " + node +
              " left cordoned for a person: find the cause, then `kubectl uncordon " + node + "`";
  return s;
}

kube::Pod PodOn(const std::string& node, const std::string& name) {
  kube::Pod p;
  p.meta.name = name;
  p.meta.namespace_ = kube::Symbol::Intern("shop");
  p.node_name = kube::Symbol::Intern(node);
  p.phase = kube::PodPhase::kRunning;
  p.controller_kind = kube::ControllerKind::kReplicaSet;
  return p;
}

// A cluster: policy "workers" over every node; w-1 failed (nodeguard's
// cordon), w-2 capped (10 pods, nodeguard's taint), w-3 healthy and quiet,
// w-4 cordoned by a person.
Snapshot Cluster() {
  Snapshot s;
  s.now = kNow;
  s.policies.push_back(MakePolicy("workers"));
  kube::Node w1 = MakeNode("w-1");
  w1.unschedulable = true;
  SetAnnotation(w1, remediation::kRemediationAnnotation, remediation::EncodeState(Failed("w-1")));
  kube::Node w2 = MakeNode("w-2");
  density::TaintRecord record;
  record.policy = "workers";
  record.taint.key = "nodeguard.io/pod-density-exceeded";
  record.taint.value = "workers";
  w2.taints.push_back(record.taint);
  w2.taints.back().time_added = kNow - std::chrono::minutes(3);
  SetAnnotation(w2, density::kTaintRecordAnnotation, density::EncodeTaintRecord(record));
  for (int i = 0; i < 10; ++i) s.pods.push_back(PodOn("w-2", "web-" + std::to_string(i)));
  s.pods.push_back(PodOn("w-3", "api-0"));
  kube::Node w4 = MakeNode("w-4");
  w4.unschedulable = true;
  s.nodes = {w1, w2, MakeNode("w-3"), w4};
  return s;
}

const NodeView* Find(const std::vector<NodeView>& nodes, const std::string& name) {
  for (const auto& n : nodes)
    if (n.name == name) return &n;
  return nullptr;
}

// ------------------------------------------------------------------ status

TEST(BuildStatus, CountsPerPolicyFromTheNodes) {
  const StatusView v = BuildStatus(Cluster(), "", false);
  ASSERT_EQ(v.policies.size(), 1u);
  const PolicyView& p = v.policies[0];
  EXPECT_EQ(p.name, "workers");
  EXPECT_EQ(p.ready, "True");
  EXPECT_EQ(p.mode, "Active");
  EXPECT_EQ(p.selected, 3);
  EXPECT_EQ(p.tainted, 1);
  EXPECT_EQ(p.remediating, 0);
  EXPECT_EQ(p.failed, 1);
  EXPECT_FALSE(p.storm);
}

TEST(BuildStatus, ListsOnlyNodesOutOfTheOrdinaryUnlessAll) {
  const StatusView v = BuildStatus(Cluster(), "", false);
  EXPECT_EQ(v.total_nodes, 4);
  EXPECT_EQ(v.notable_nodes, 3);
  ASSERT_EQ(v.nodes.size(), 3u);
  EXPECT_EQ(v.nodes[0].name, "w-1");
  EXPECT_EQ(v.nodes[1].name, "w-2");
  EXPECT_EQ(v.nodes[2].name, "w-4");
  EXPECT_EQ(BuildStatus(Cluster(), "", true).nodes.size(), 4u);
}

TEST(BuildNodeViews, ReadsCordonTaintPodsAndCap) {
  const std::vector<NodeView> nodes = BuildNodeViews(Cluster());
  const NodeView* w1 = Find(nodes, "w-1");
  ASSERT_NE(w1, nullptr);
  EXPECT_EQ(w1->cordoned_by, "nodeguard");
  ASSERT_TRUE(w1->state.has_value());
  EXPECT_EQ(w1->state->phase, Phase::kFailed);
  const NodeView* w2 = Find(nodes, "w-2");
  ASSERT_NE(w2, nullptr);
  EXPECT_TRUE(w2->tainted);
  EXPECT_EQ(w2->taint, "nodeguard.io/pod-density-exceeded=workers:NoSchedule");
  EXPECT_EQ(w2->taint_policy, "workers");
  EXPECT_EQ(w2->pods, 10);
  EXPECT_EQ(w2->cap, 10);
  EXPECT_EQ(w2->cap_bound, "maxPods");
  const NodeView* w3 = Find(nodes, "w-3");
  ASSERT_NE(w3, nullptr);
  EXPECT_EQ(w3->pods, 1);
  EXPECT_FALSE(w3->notable);
  const NodeView* w4 = Find(nodes, "w-4");
  ASSERT_NE(w4, nullptr);
  EXPECT_EQ(w4->cordoned_by, "person");
}

TEST(BuildStatus, PolicyArgumentKeepsOnlyItsNodes) {
  Snapshot s = Cluster();
  api::NodeHealthPolicy other = MakePolicy("gpu");
  other.spec.node_selector.match_labels["pool"] = "gpu";
  s.policies.push_back(other);
  kube::Node g = MakeNode("g-1", kube::ConditionStatus::kFalse);
  g.labels.Set("pool", "gpu");
  s.nodes.push_back(g);
  const StatusView v = BuildStatus(s, "gpu", false);
  ASSERT_EQ(v.policies.size(), 1u);
  EXPECT_EQ(v.policies[0].name, "gpu");
  // g-1 is governed by the older "workers" (same age: by name, "gpu" < "workers").
  ASSERT_EQ(v.nodes.size(), 1u);
  EXPECT_EQ(v.nodes[0].name, "g-1");
}

TEST(BuildStatus, ModesStormAndDegradedWarnings) {
  Snapshot s = Cluster();
  s.policies[0].spec.paused = true;
  s.policies[0].spec.dry_run = true;
  api::Condition storm;
  storm.type = api::kConditionStormDetected;
  storm.status = kube::ConditionStatus::kTrue;
  storm.message = "4 of 7 selected nodes are unhealthy";
  s.policies[0].status.conditions.push_back(storm);
  api::Condition degraded;
  degraded.type = api::kConditionDegraded;
  degraded.status = kube::ConditionStatus::kTrue;
  degraded.reason = "RemediationFailed";
  degraded.message = "w-1 failed";
  s.policies[0].status.conditions.push_back(degraded);
  const StatusView v = BuildStatus(s, "", false);
  EXPECT_EQ(v.policies[0].mode, "Paused,DryRun");
  EXPECT_TRUE(v.policies[0].storm);
  const std::string text = FormatStatus(v, kNow);
  EXPECT_THAT(text, HasSubstr("! policy workers: storm: 4 of 7 selected nodes are unhealthy"));
  EXPECT_THAT(text, HasSubstr("! policy workers: Degraded (RemediationFailed): w-1 failed"));
}

TEST(FormatStatus, TablesAsKubectlPrintsThem) {
  const std::string text = FormatStatus(BuildStatus(Cluster(), "", false), kNow);
  EXPECT_EQ(text,
            "POLICY    READY   MODE     SELECTED   TAINTED   REMEDIATING   FAILED   STORM\n"
            "workers   True    Active   3          1         0             1        No\n"
            "\n"
            "NODE   POLICY    READY   CORDON      PODS/CAP   TAINT    REMEDIATION            "
            "SINCE   REASON\n"
            "w-1    workers   True    nodeguard   0/10       -        Failed:DrainTimedOut   "
            "10m     drain timed out: PodDisruptionBudget shop/web allows no disruption\n"
            "w-2    workers   True    -           10/10      capped   -                      "
            "3m      10 pods, taint at 10 (cap 10, maxPods)\n"
            "w-4    workers   True    person      0/10       -        -                      "
            "-       cordoned by someone else\n");
}

TEST(FormatStatus, SaysSoWhenNothingNeedsAttention) {
  Snapshot s;
  s.now = kNow;
  s.nodes = {MakeNode("w-3")};
  const std::string text = FormatStatus(BuildStatus(s, "", false), kNow);
  EXPECT_THAT(text, HasSubstr("No NodeHealthPolicy found."));
  EXPECT_THAT(text, HasSubstr("No node needs attention (1 nodes; --all lists every node)."));
}

TEST(StatusJson, DocumentedFields) {
  const nlohmann::json j = StatusJson(BuildStatus(Cluster(), "", false));
  EXPECT_EQ(j["kind"], "NodeguardStatus");
  EXPECT_EQ(j["policies"][0]["failed"], 1);
  EXPECT_EQ(j["policies"][0]["mode"], "Active");
  const nlohmann::json& w1 = j["nodes"][0];
  EXPECT_EQ(w1["name"], "w-1");
  EXPECT_EQ(w1["cordonedBy"], "nodeguard");
  EXPECT_EQ(w1["remediation"]["phase"], "Failed");
  EXPECT_EQ(w1["remediation"]["outcome"], "DrainTimedOut");
  EXPECT_EQ(w1["remediation"]["slotHeldUntil"], "2026-12-07T12:20:00Z");
  EXPECT_EQ(j["nodes"][1]["cap"], 10);
  EXPECT_EQ(j["nodes"][1]["tainted"], true);
  EXPECT_TRUE(j["nodes"][2]["cap"].is_number());
  EXPECT_EQ(j["totalNodes"], 4);
}

// ------------------------------------------------------------------ explain

TEST(Explain, FailedNodeGetsTheRunbooksNextStep) {
  const Explanation e = Explain(Cluster(), "w-1");
  EXPECT_EQ(e.verdict, "failed");
  ASSERT_FALSE(e.reasons.empty());
  EXPECT_THAT(e.reasons[0], HasSubstr("failed 10m ago (DrainTimedOut)"));
  EXPECT_THAT(e.reasons[0], HasSubstr("PodDisruptionBudget shop/web"));
  EXPECT_THAT(e.reasons[2], HasSubstr("holds a remediation slot of its policy for 20m"));
  EXPECT_THAT(e.next_step, HasSubstr("kubectl nodeguard release w-1"));
  EXPECT_THAT(e.next_step, HasSubstr("cooldown 30m0s"));
  EXPECT_THAT(e.next_step, HasSubstr("attempt 1 of maxAttemptsPerNode 3"));
  const std::string text = FormatExplanation(e, kNow);
  EXPECT_THAT(text, HasSubstr("Node w-1: failed\n"));
  EXPECT_THAT(text, HasSubstr("Next: "));
}

TEST(Explain, CappedNodeWithTheFigures) {
  const Explanation e = Explain(Cluster(), "w-2");
  EXPECT_EQ(e.verdict, "capped");
  EXPECT_THAT(e.reasons[0],
              HasSubstr("10 pods counted, cap 10 (set by maxPods), tainted from 10 pods, "
                        "released below 9 pods"));
  EXPECT_THAT(e.next_step, HasSubstr("fewer than 9 pods"));
  const nlohmann::json j = ExplanationJson(e);
  EXPECT_EQ(j["verdict"], "capped");
  EXPECT_EQ(j["node"]["releaseBelow"], 9);
}

TEST(Explain, ALoweredCapNamesThePolicyCapAndTheLevel) {
  Snapshot s = Cluster();
  s.policies[0].spec.early_warning.present = true;
  s.policies[0].spec.early_warning.adaptive_cap = api::AdaptiveCapSpec{IntOrPercent::Percent(40)};
  for (kube::Node& n : s.nodes) {
    if (n.meta.name == "w-2") n.early_warning.level = kube::EarlyWarningLevel::kDegraded;
  }
  const Explanation e = Explain(s, "w-2");
  EXPECT_EQ(e.verdict, "capped");
  EXPECT_THAT(e.reasons[0],
              HasSubstr("10 pods counted, cap 6 (set by maxPods, lowered from 10 while the node's "
                        "early-warning level is Degraded (spec.earlyWarning.adaptiveCap)), "
                        "tainted from 6 pods, released below 5 pods"));
  const nlohmann::json j = ExplanationJson(e);
  EXPECT_EQ(j["node"]["cap"], 6);
  EXPECT_EQ(j["node"]["policyCap"], 10);
  EXPECT_EQ(j["node"]["earlyWarning"], "Degraded");
}

TEST(Explain, PersonsCordonIsLeftAlone) {
  const Explanation e = Explain(Cluster(), "w-4");
  EXPECT_EQ(e.verdict, "cordoned-by-person");
  EXPECT_THAT(e.reasons[0], HasSubstr("not by nodeguard"));
  EXPECT_THAT(e.next_step, HasSubstr("kubectl uncordon w-4"));
}

TEST(Explain, QuietNodeIsOkAndNamesItsPolicy) {
  const Explanation e = Explain(Cluster(), "w-3");
  EXPECT_EQ(e.verdict, "ok");
  EXPECT_THAT(e.reasons[0], HasSubstr("governed by policy workers"));
  EXPECT_TRUE(e.next_step.empty());
}

TEST(Explain, NotSelectedExcludedAndConflicts) {
  Snapshot s = Cluster();
  s.policies[0].spec.node_selector.match_labels["pool"] = "web";
  kube::Node lone = MakeNode("lone");
  s.nodes.push_back(lone);
  EXPECT_EQ(Explain(s, "lone").verdict, "not-selected");

  Snapshot c = Cluster();
  c.policies.push_back(MakePolicy("later", kNow - std::chrono::hours(1)));
  kube::Node x = MakeNode("x-1");
  x.labels.Set("nodeguard.io/exclude", "true");
  c.nodes.push_back(x);
  const Explanation e = Explain(c, "x-1");
  EXPECT_EQ(e.verdict, "excluded");
  EXPECT_THAT(e.reasons, Contains(HasSubstr("later select it too")));
}

TEST(Explain, UnhealthyNodeSaysWhy) {
  Snapshot s = Cluster();
  s.policies[0].spec.health.unhealthy_conditions = {
      {"Ready", kube::ConditionStatus::kFalse, "", "PLEG is not healthy", std::chrono::minutes(1)}};
  s.nodes.push_back(MakeNode("sick", kube::ConditionStatus::kFalse));
  const Explanation e = Explain(s, "sick");
  EXPECT_EQ(e.verdict, "unhealthy");
  EXPECT_THAT(e.reasons, Contains(HasSubstr("Unhealthy: Ready=False for 20m")));
}

// ------------------------------------------------------------------ release

TEST(DecideRelease, ReleasesNodeguardsFailedCordonAndKeepsTheRestOfTheState) {
  kube::Node n = MakeNode("w-1");
  n.unschedulable = true;
  std::string raw = remediation::EncodeState(Failed("w-1"));
  raw.insert(1, "\"futureField\":7,");  // A newer controller's field survives.
  const api::NodeHealthPolicy policy = MakePolicy("workers");
  const ReleaseDecision d = DecideRelease(n, &raw, &policy, kNow);
  ASSERT_EQ(d.kind, ReleaseDecision::kRelease) << d.message;
  const nlohmann::json patch = nlohmann::json::parse(d.patch);
  EXPECT_EQ(patch["spec"]["unschedulable"], false);
  EXPECT_EQ(patch["metadata"]["resourceVersion"], "4711");
  const nlohmann::json state = nlohmann::json::parse(
      patch["metadata"]["annotations"]["nodeguard.io/remediation"].get<std::string>());
  EXPECT_EQ(state["cordonedByUs"], false);
  EXPECT_EQ(state["futureField"], 7);
  EXPECT_EQ(state["phase"], "Failed");
  EXPECT_EQ(state["slotHeldUntil"], "2026-12-07T12:20:00Z");
  auto decoded = remediation::DecodeState(state.dump());
  ASSERT_TRUE(decoded.ok());
  RemediationState expected = Failed("w-1");
  expected.cordoned_by_us = false;
  EXPECT_EQ(*decoded, expected);
  EXPECT_THAT(d.message, HasSubstr("node w-1 released"));
  EXPECT_THAT(d.event_message, HasSubstr("w-1-1796645000 of policy workers (DrainTimedOut)"));
}

TEST(DecideRelease, RefusesWhatIsNotNodeguardsFailedRemediation) {
  const api::NodeHealthPolicy policy = MakePolicy("workers");
  kube::Node plain = MakeNode("w-3");
  EXPECT_EQ(DecideRelease(plain, nullptr, &policy, kNow).kind, ReleaseDecision::kRefuse);
  EXPECT_THAT(DecideRelease(plain, nullptr, &policy, kNow).message,
              HasSubstr("nodeguard has no remediation on it"));

  kube::Node persons = MakeNode("w-4");
  persons.unschedulable = true;
  const ReleaseDecision p = DecideRelease(persons, nullptr, &policy, kNow);
  EXPECT_EQ(p.kind, ReleaseDecision::kRefuse);
  EXPECT_THAT(p.message, HasSubstr("not by nodeguard"));
  EXPECT_THAT(p.message, HasSubstr("kubectl uncordon w-4"));

  kube::Node draining = MakeNode("w-5");
  draining.unschedulable = true;
  RemediationState s = Failed("w-5");
  s.phase = Phase::kDraining;
  s.outcome = Outcome::kNone;
  s.finished_at.reset();
  const std::string raw = remediation::EncodeState(s);
  const ReleaseDecision d = DecideRelease(draining, &raw, &policy, kNow);
  EXPECT_EQ(d.kind, ReleaseDecision::kRefuse);
  EXPECT_THAT(d.message, HasSubstr("in progress (phase Draining)"));
  EXPECT_THAT(d.message, HasSubstr("kubectl nodeguard pause workers"));

  RemediationState done = Failed("w-5");
  done.phase = Phase::kCancelled;
  done.outcome = Outcome::kExcluded;
  const std::string raw_done = remediation::EncodeState(done);
  const ReleaseDecision c = DecideRelease(draining, &raw_done, &policy, kNow);
  EXPECT_EQ(c.kind, ReleaseDecision::kRefuse);
  EXPECT_THAT(c.message, HasSubstr("nodeguard lifts its own cordon once the node is healthy"));

  const std::string garbage = "{not json";
  EXPECT_THAT(DecideRelease(draining, &garbage, &policy, kNow).message,
              HasSubstr("cannot be read"));
}

TEST(DecideRelease, RefusesACordonThatIsNoLongerNodeguards) {
  kube::Node n = MakeNode("w-1");
  n.unschedulable = true;
  RemediationState s = Failed("w-1");
  s.cordoned_by_us = false;  // Someone uncordoned, nodeguard noticed, someone cordoned again.
  const std::string raw = remediation::EncodeState(s);
  const ReleaseDecision d = DecideRelease(n, &raw, nullptr, kNow);
  EXPECT_EQ(d.kind, ReleaseDecision::kRefuse);
  EXPECT_THAT(d.message, HasSubstr("not nodeguard's to hand back"));
}

TEST(DecideRelease, AlreadySchedulableIsNothingToDo) {
  kube::Node n = MakeNode("w-1");
  const std::string raw = remediation::EncodeState(Failed("w-1"));
  const ReleaseDecision d = DecideRelease(n, &raw, nullptr, kNow);
  EXPECT_EQ(d.kind, ReleaseDecision::kAlreadyReleased);
  EXPECT_TRUE(d.patch.empty());
}

TEST(DecideRelease, RefusesASickNode) {
  kube::Node n = MakeNode("w-1", kube::ConditionStatus::kFalse);
  n.unschedulable = true;
  const std::string raw = remediation::EncodeState(Failed("w-1"));
  const ReleaseDecision d = DecideRelease(n, &raw, nullptr, kNow);
  EXPECT_EQ(d.kind, ReleaseDecision::kRefuse);
  EXPECT_THAT(d.message, HasSubstr("not Ready (Ready=False)"));
  EXPECT_THAT(d.message, Not(HasSubstr("released")));

  // Ready, but sick under the policy's own rules.
  kube::Node pressured = MakeNode("w-1");
  pressured.unschedulable = true;
  kube::NodeCondition disk;
  disk.type = kube::Symbol::Intern("DiskPressure");
  disk.status = kube::ConditionStatus::kTrue;
  disk.last_transition_time = kNow - std::chrono::minutes(9);
  pressured.conditions.push_back(disk);
  api::NodeHealthPolicy policy = MakePolicy("workers");
  policy.spec.health.unhealthy_conditions.push_back(
      {"DiskPressure", kube::ConditionStatus::kTrue, "", "", std::chrono::minutes(5)});
  const ReleaseDecision h = DecideRelease(pressured, &raw, &policy, kNow);
  EXPECT_EQ(h.kind, ReleaseDecision::kRefuse);
  EXPECT_THAT(h.message, HasSubstr("not healthy under policy workers's rules (DiskPressure=True"));
}

// ------------------------------------------------------------------ pause

TEST(DecidePause, PatchesOnlyWhatChanges) {
  api::NodeHealthPolicy p = MakePolicy("workers");
  const PauseDecision pause = DecidePause(p, true);
  EXPECT_TRUE(pause.change);
  EXPECT_EQ(pause.patch, R"({"spec":{"paused":true}})");
  EXPECT_THAT(pause.message, HasSubstr("policy workers paused"));
  const PauseDecision resume = DecidePause(p, false);
  EXPECT_FALSE(resume.change);
  EXPECT_THAT(resume.message, HasSubstr("already active"));
  p.spec.paused = true;
  EXPECT_FALSE(DecidePause(p, true).change);
  EXPECT_THAT(DecidePause(p, true).message, HasSubstr("already paused"));
  EXPECT_EQ(DecidePause(p, false).patch, R"({"spec":{"paused":false}})");
}

// ------------------------------------------------------------------ formatting

TEST(HumanAge, AsKubectlShortensThem) {
  using namespace std::chrono;
  EXPECT_EQ(HumanAge(seconds(-3)), "0s");
  EXPECT_EQ(HumanAge(seconds(45)), "45s");
  EXPECT_EQ(HumanAge(seconds(119)), "119s");
  EXPECT_EQ(HumanAge(seconds(302)), "5m2s");
  EXPECT_EQ(HumanAge(minutes(10)), "10m");
  EXPECT_EQ(HumanAge(minutes(190)), "3h10m");
  EXPECT_EQ(HumanAge(hours(30)), "30h");
  EXPECT_EQ(HumanAge(hours(51)), "2d3h");
  EXPECT_EQ(HumanAge(hours(24 * 400)), "400d");
}

TEST(FormatTable, PadsColumnsAndTrimsTheEnd) {
  EXPECT_EQ(FormatTable({{"A", "BB", "C"}, {"long", "", "x"}}), "A      BB   C\nlong        x\n");
}

}  // namespace
}  // namespace nodeguard::cli
