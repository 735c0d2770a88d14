#include "remediation/decide.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace nodeguard::remediation {
namespace {

using agentproto::AgentAction;
using agentproto::AgentActionName;
using agentproto::AgentRequest;
using agentproto::AgentState;
using agentproto::AgentStatus;
using agentproto::DecodeAgentRequest;
using agentproto::EncodeAgentRequest;
using agentproto::EncodeAgentStatus;
using agentproto::IsValidRequestId;
using agentproto::kAgentRequestAnnotation;
using agentproto::kAgentStatusAnnotation;
using api::RemediationAction;
using kube::ConditionStatus;

const WallTime kT0 = WallTime(std::chrono::hours(24 * 365 * 56));
constexpr const char* kPolicy = "incident";
constexpr const char* kPleg =
    "PLEG is not healthy: pleg was last seen active 3m7.629592089s ago; threshold is 3m0s";

api::RemediationSpec DefaultSpec() {
  api::RemediationSpec spec;
  spec.enabled = true;
  spec.max_concurrent = 1;
  spec.max_unhealthy = IntOrPercent::Percent(30);
  spec.actions = {RemediationAction::kRestartKubelet, RemediationAction::kReboot};
  spec.drain.timeout = 10min;
  spec.action_timeout = 10min;
  spec.recovery_stable_for = 2min;
  spec.cooldown = 30min;
  spec.max_attempts_per_node = 3;
  return spec;
}

// A small simulated cluster: nodes with conditions and annotations, the
// runtime's drain results, and an Apply that carries out intents the way the
// runtime will (annotation writes, cordon flags, drain start/cancel).
class World {
 public:
  World() {
    rules_ = std::move(health::HealthRules::Compile(api::DefaultUnhealthyConditions())).value();
  }

  WallTime now = kT0;
  api::RemediationSpec spec = DefaultSpec();
  bool paused = false;
  bool dry_run = false;
  int global_max = 0;
  int others = 0;
  bool storm_was_detected = false;
  bool deleting = false;
  std::map<std::string, DrainObservation> drains;
  std::set<std::string> unselected;
  std::map<std::string, std::string> governing;        // Node -> another policy governing it.
  std::set<std::string> orphans;                       // Nodes whose state's policy is gone.
  std::vector<std::pair<std::string, Intent>> events;  // Node events applied so far.

  void AddNodes(int n) {
    for (int i = 0; i < n; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "w%02d", i);
      AddNode(name);
    }
  }
  kube::Node& AddNode(const std::string& name) {
    kube::Node& node = nodes_[name];
    node.meta.name = name;
    node.boot_id = "boot-" + name + "-0";
    SetReady(name, 1h);
    return node;
  }
  kube::Node& Node(const std::string& name) { return nodes_.at(name); }

  void SetSick(const std::string& name, Duration for_how_long, const char* message = kPleg) {
    SetReadyCondition(name, ConditionStatus::kFalse, for_how_long, message);
  }
  void SetReady(const std::string& name, Duration for_how_long) {
    SetReadyCondition(name, ConditionStatus::kTrue, for_how_long,
                      "kubelet is posting ready status");
  }
  void SetReadyCondition(const std::string& name, ConditionStatus status, Duration held,
                         const char* message) {
    kube::NodeCondition c;
    c.type = kube::Symbol::Intern("Ready");
    c.status = status;
    c.message = message;
    c.last_transition_time = now - std::chrono::duration_cast<WallTime::duration>(held);
    Node(name).conditions = {c};
  }
  void Reboot(const std::string& name) {
    kube::Node& node = Node(name);
    node.boot_id += "+";
    SetReady(name, 0s);
  }
  void SetAnnotation(const std::string& name, const std::string& key, std::string value) {
    auto& a = Node(name).nodeguard_annotations;
    auto it = std::find_if(a.begin(), a.end(), [&](const auto& kv) { return kv.first == key; });
    if (it != a.end()) {
      it->second = std::move(value);
    } else {
      a.emplace_back(key, std::move(value));
      std::sort(a.begin(), a.end());
    }
  }
  void RemoveAnnotation(const std::string& name, const std::string& key) {
    auto& a = Node(name).nodeguard_annotations;
    a.erase(std::remove_if(a.begin(), a.end(), [&](const auto& kv) { return kv.first == key; }),
            a.end());
  }
  void SetState(const std::string& name, const RemediationState& s) {
    SetAnnotation(name, kRemediationAnnotation, EncodeState(s));
  }
  void SetAgentStatus(const std::string& name, const std::string& id, AgentState state,
                      std::string message = "") {
    AgentStatus st;
    st.id = id;
    st.state = state;
    st.message = std::move(message);
    SetAnnotation(name, kAgentStatusAnnotation, EncodeAgentStatus(st));
  }
  void Advance(Duration d) { now += std::chrono::duration_cast<WallTime::duration>(d); }

  std::optional<RemediationState> State(const std::string& name) {
    const std::string* text = Node(name).Annotation(kRemediationAnnotation);
    if (text == nullptr) return std::nullopt;
    auto s = DecodeState(*text);
    EXPECT_TRUE(s.ok()) << s.error().ToString();
    return s.ok() ? std::optional(*s) : std::nullopt;
  }
  std::optional<AgentRequest> Request(const std::string& name) {
    const std::string* text = Node(name).Annotation(kAgentRequestAnnotation);
    if (text == nullptr) return std::nullopt;
    auto r = DecodeAgentRequest(*text);
    EXPECT_TRUE(r.ok());
    return r.ok() ? std::optional(*r) : std::nullopt;
  }

  DecideInput Input() const {
    DecideInput in;
    in.policy = kPolicy;
    in.spec = spec;
    in.paused = paused;
    in.dry_run = dry_run;
    in.global_max_concurrent = global_max;
    in.in_flight_other_policies = others;
    in.storm_was_detected = storm_was_detected;
    in.deleting = deleting;
    in.now = now;
    return in;
  }

  std::vector<NodeObservation> Observe() const {
    std::vector<NodeObservation> out;
    for (const auto& [name, node] : nodes_) {
      auto drain = drains.find(name);
      out.push_back(remediation::Observe(node, rules_, now,
                                         drain == drains.end() ? DrainObservation{} : drain->second,
                                         !unselected.count(name)));
      auto gov = governing.find(name);
      out.back().governing_policy =
          gov != governing.end() ? gov->second : (unselected.count(name) ? "" : kPolicy);
      out.back().orphan = orphans.count(name) > 0;
    }
    return out;
  }

  PolicyDecision Step() {
    const auto observations = Observe();
    return Decide(Input(), observations);
  }

  // Carries out a decision as the runtime would (unless it is a dry run).
  void Apply(const PolicyDecision& d) {
    if (d.dry_run) return;
    for (const auto& [name, intent] : d.AllIntents()) {
      switch (intent.kind) {
        case IntentKind::kWriteState:
          SetState(name, intent.state);
          break;
        case IntentKind::kCordon:
          Node(name).unschedulable = true;
          break;
        case IntentKind::kUncordon:
          Node(name).unschedulable = false;
          break;
        case IntentKind::kStartDrain:
          drains[name] = DrainObservation{DrainObservation::kRunning, intent.remediation_id, ""};
          break;
        case IntentKind::kCancelDrain:
          drains.erase(name);
          break;
        case IntentKind::kRequestAgentAction:
          SetAnnotation(name, kAgentRequestAnnotation, EncodeAgentRequest(intent.agent_request));
          break;
        case IntentKind::kWithdrawAgentRequest:
          RemoveAnnotation(name, kAgentRequestAnnotation);
          break;
        case IntentKind::kEmitEvent:
          events.emplace_back(name, intent);
          break;
      }
    }
    storm_was_detected = d.storm;
  }

  PolicyDecision StepAndApply() {
    PolicyDecision d = Step();
    Apply(d);
    return d;
  }

  void FinishDrain(const std::string& name,
                   DrainObservation::Kind kind = DrainObservation::kSucceeded,
                   std::string message = "drained 7 pods") {
    auto s = State(name);
    ASSERT_TRUE(s.has_value());
    drains[name] = DrainObservation{kind, s->id, std::move(message)};
  }

 private:
  health::HealthRules rules_;
  std::map<std::string, kube::Node> nodes_;
};

// "WriteState:Cordoned", "Cordon", "Event:RemediationStarted", ...
std::vector<std::string> Summary(const NodeDecision* d) {
  std::vector<std::string> out;
  if (d == nullptr) return out;
  for (const Intent& i : d->intents) {
    std::string s = IntentKindName(i.kind);
    if (i.kind == IntentKind::kWriteState) s += std::string(":") + PhaseName(i.state.phase);
    if (i.kind == IntentKind::kEmitEvent) s = "Event:" + i.reason;
    if (i.kind == IntentKind::kRequestAgentAction)
      s += std::string(":") + AgentActionName(i.agent_request.action) + ":" + i.agent_request.id;
    if (i.kind == IntentKind::kWithdrawAgentRequest) s = "Withdraw";
    out.push_back(s);
  }
  return out;
}
std::vector<std::string> Summary(const PolicyDecision& d, const std::string& node) {
  return Summary(d.Find(node));
}
using Strings = std::vector<std::string>;

std::vector<std::string> Started(const PolicyDecision& d) {
  std::vector<std::string> out;
  for (const auto& n : d.nodes)
    for (const auto& i : n.intents)
      if (i.kind == IntentKind::kWriteState && i.state.phase == Phase::kCordoned)
        out.push_back(n.node);
  return out;
}

Hold HoldOf(const PolicyDecision& d, const std::string& node) {
  const NodeDecision* n = d.Find(node);
  return n == nullptr ? Hold::kNone : n->hold;
}

// ------------------------------------------------------------------ start

TEST(Decide, HealthyClusterDoesNothing) {
  World w;
  w.AddNodes(10);
  PolicyDecision d = w.Step();
  EXPECT_TRUE(d.nodes.empty());
  EXPECT_FALSE(d.storm);
  EXPECT_EQ(d.selected, 10);
  EXPECT_EQ(d.unhealthy, 0);
  EXPECT_EQ(d.max_unhealthy, 3);
  EXPECT_TRUE(d.policy_events.empty());
}

TEST(Decide, SickNodeIsCordonedWithStateWrittenFirst) {
  World w;
  w.AddNodes(10);
  w.SetSick("w03", 5min);
  PolicyDecision d = w.Step();
  EXPECT_EQ(Summary(d, "w03"),
            (Strings{"WriteState:Cordoned", "Cordon", "Event:RemediationStarted"}));
  const RemediationState& s = d.Find("w03")->intents[0].state;
  EXPECT_EQ(s.id, RemediationId("w03", w.now));
  EXPECT_EQ(s.policy, kPolicy);
  EXPECT_EQ(s.attempt, 1);
  EXPECT_TRUE(s.cordoned_by_us);
  EXPECT_EQ(s.started_at, w.now);
  EXPECT_EQ(d.started, 1);
  EXPECT_NE(d.Find("w03")->intents[2].message.find("PLEG is not healthy"), std::string::npos);
}

TEST(Decide, PendingConditionWaitsWithARequeue) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 1min);  // Default PLEG rule needs 3m.
  PolicyDecision d = w.Step();
  EXPECT_TRUE(Summary(d, "w01").empty());
  EXPECT_EQ(d.requeue_after, 2min);
}

TEST(Decide, ThreeOfTenSickWithMaxConcurrentOneStartsExactlyOne) {
  World w;
  w.AddNodes(10);
  w.SetSick("w07", 5min);
  w.SetSick("w02", 9min);  // Longest unhealthy goes first.
  w.SetSick("w05", 5min);
  PolicyDecision d = w.StepAndApply();
  EXPECT_FALSE(d.storm);
  EXPECT_EQ(Started(d), (Strings{"w02"}));
  EXPECT_EQ(HoldOf(d, "w05"), Hold::kBudget);
  EXPECT_EQ(HoldOf(d, "w07"), Hold::kBudget);
  EXPECT_EQ(Summary(d, "w05"), (Strings{"WriteState:Pending", "Event:RemediationPending"}));
  // The slot w02 took in this very step is counted in the waiting nodes' note.
  EXPECT_EQ(d.Find("w05")->note, "waiting for a remediation slot (1/1 in this policy)");

  // The next step starts nothing more and writes nothing for the waiting nodes.
  d = w.StepAndApply();
  EXPECT_TRUE(Started(d).empty());
  EXPECT_EQ(d.in_flight, 1);
  EXPECT_TRUE(Summary(d, "w05").empty());
  EXPECT_TRUE(Summary(d, "w07").empty());
  EXPECT_EQ(HoldOf(d, "w05"), Hold::kBudget);
}

TEST(Decide, TiesOnUnhealthySinceGoByName) {
  World w;
  w.spec.max_concurrent = 2;
  w.AddNodes(10);
  w.SetSick("w09", 5min);
  w.SetSick("w04", 5min);
  w.SetSick("w01", 5min);
  PolicyDecision d = w.Step();
  EXPECT_EQ(Started(d), (Strings{"w01", "w04"}));
  EXPECT_EQ(HoldOf(d, "w09"), Hold::kBudget);
}

struct BudgetCase {
  std::string name;
  int max_concurrent;
  int global_max;
  int others;
  int already_in_flight;  // Of this policy.
  int sick;
  int want_started;
};
void PrintTo(const BudgetCase& c, std::ostream* os) { *os << c.name; }

class BudgetTest : public testing::TestWithParam<BudgetCase> {};

TEST_P(BudgetTest, StartsOnlyWhatTheBudgetAllows) {
  const BudgetCase& c = GetParam();
  World w;
  w.spec.max_concurrent = c.max_concurrent;
  w.spec.max_unhealthy = IntOrPercent::Percent(100);
  w.global_max = c.global_max;
  w.others = c.others;
  w.AddNodes(20);
  for (int i = 0; i < c.already_in_flight; ++i) {
    const std::string name = "w1" + std::to_string(i);
    w.SetSick(name, 30min);
    RemediationState s;
    s.id = name + "-1";
    s.policy = kPolicy;
    s.phase = Phase::kDraining;
    s.detected_at = s.phase_since = w.now - 1min;
    s.started_at = s.detected_at;
    s.cordoned_by_us = true;
    w.SetState(name, s);
    w.Node(name).unschedulable = true;
    w.drains[name] = DrainObservation{DrainObservation::kRunning, s.id, ""};
  }
  for (int i = 0; i < c.sick; ++i) w.SetSick("w0" + std::to_string(i), 10min);
  PolicyDecision d = w.Step();
  EXPECT_EQ(d.in_flight, c.already_in_flight);
  EXPECT_EQ(d.started, c.want_started);
  EXPECT_EQ(static_cast<int>(Started(d).size()), c.want_started);
}

INSTANTIATE_TEST_SUITE_P(
    Arithmetic, BudgetTest,
    testing::Values(BudgetCase{"OneOfOne", 1, 0, 0, 0, 3, 1},
                    BudgetCase{"SlotTaken", 1, 0, 0, 1, 3, 0},
                    BudgetCase{"TwoSlotsOneTaken", 2, 0, 0, 1, 3, 1},
                    BudgetCase{"ThreeSlotsFewerSick", 3, 0, 0, 0, 2, 2},
                    BudgetCase{"GlobalCapBindsAcrossPolicies", 3, 2, 1, 0, 5, 1},
                    BudgetCase{"GlobalCapCountsOwnInFlight", 3, 2, 0, 1, 5, 1},
                    BudgetCase{"GlobalCapExhausted", 3, 2, 2, 0, 5, 0},
                    BudgetCase{"GlobalCapOverbookedNeverNegative", 3, 1, 4, 0, 5, 0},
                    BudgetCase{"NoGlobalCapIgnoresOthers", 2, 0, 9, 0, 5, 2},
                    BudgetCase{"PolicyCapTighterThanGlobal", 1, 5, 0, 0, 5, 1}),
    [](const testing::TestParamInfo<BudgetCase>& param_info) { return param_info.param.name; });

// ------------------------------------------------------------------ storm

struct StormCase {
  std::string name;
  IntOrPercent max_unhealthy;
  int nodes;
  int sick;
  bool want_storm;
  int want_max;
};
void PrintTo(const StormCase& c, std::ostream* os) { *os << c.name; }

class StormTest : public testing::TestWithParam<StormCase> {};

TEST_P(StormTest, Threshold) {
  const StormCase& c = GetParam();
  World w;
  w.spec.max_unhealthy = c.max_unhealthy;
  w.AddNodes(c.nodes);
  for (int i = 0; i < c.sick; ++i)
    w.SetSick(w.Observe()[static_cast<size_t>(i)].node->meta.name, 10min);
  PolicyDecision d = w.Step();
  EXPECT_EQ(d.storm, c.want_storm);
  EXPECT_EQ(d.max_unhealthy, c.want_max);
  EXPECT_EQ(d.unhealthy, c.sick);
  EXPECT_EQ(d.started, c.want_storm ? 0 : (c.sick > 0 ? 1 : 0));
}

INSTANTIATE_TEST_SUITE_P(
    Arithmetic, StormTest,
    testing::Values(
        StormCase{"ThreeOfTenAt30PercentIsNoStorm", IntOrPercent::Percent(30), 10, 3, false, 3},
        StormCase{"FourOfTenAt30PercentIsAStorm", IntOrPercent::Percent(30), 10, 4, true, 3},
        StormCase{"FiveOfTenAt30PercentIsAStorm", IntOrPercent::Percent(30), 10, 5, true, 3},
        StormCase{"PercentRoundsUp", IntOrPercent::Percent(25), 10, 3, false, 3},
        StormCase{"PercentRoundsUpExceeded", IntOrPercent::Percent(25), 10, 4, true, 3},
        StormCase{"SmallClusterToleratesOneSickNode", IntOrPercent::Percent(10), 5, 1, false, 1},
        StormCase{"SmallClusterTwoSickIsAStorm", IntOrPercent::Percent(10), 5, 2, true, 1},
        StormCase{"ZeroPercentMeansAnySickNodeIsAStorm", IntOrPercent::Percent(0), 5, 1, true, 0},
        StormCase{"CountForm", IntOrPercent::Count(2), 10, 2, false, 2},
        StormCase{"CountFormExceeded", IntOrPercent::Count(2), 10, 3, true, 2},
        StormCase{"AllowAll", IntOrPercent::Percent(100), 4, 4, false, 4}),
    [](const testing::TestParamInfo<StormCase>& param_info) { return param_info.param.name; });

TEST(Decide, StormStartsNothingThenResumesOneAtATimeWhenItClears) {
  World w;
  w.AddNodes(10);
  for (const char* n : {"w01", "w02", "w03", "w04", "w05"}) w.SetSick(n, 10min);
  PolicyDecision d = w.StepAndApply();
  EXPECT_TRUE(d.storm);
  EXPECT_TRUE(d.AllIntents().empty());  // Nothing cordoned, no Pending written.
  ASSERT_EQ(d.policy_events.size(), 1u);
  EXPECT_EQ(d.policy_events[0].reason, "StormDetected");
  EXPECT_EQ(d.policy_events[0].event_type, EventType::kWarning);
  EXPECT_EQ(d.storm_message,
            "5 of 10 selected nodes are unhealthy, more than maxUnhealthy 30% (3); no new "
            "remediation starts and no cordoned node starts draining");
  EXPECT_EQ(HoldOf(d, "w01"), Hold::kStorm);

  // Still a storm: the Event is not repeated.
  d = w.StepAndApply();
  EXPECT_TRUE(d.storm);
  EXPECT_TRUE(d.policy_events.empty());

  // Three heal: 2 of 10 sick, within 30%.
  for (const char* n : {"w03", "w04", "w05"}) w.SetReady(n, 0s);
  d = w.StepAndApply();
  EXPECT_FALSE(d.storm);
  ASSERT_EQ(d.policy_events.size(), 1u);
  EXPECT_EQ(d.policy_events[0].reason, "StormCleared");
  EXPECT_EQ(Started(d), (Strings{"w01"}));
  EXPECT_EQ(HoldOf(d, "w02"), Hold::kBudget);
}

TEST(Decide, ACordonedNodeDoesNotStartDrainingDuringAStorm) {
  World w;
  w.AddNodes(10);
  w.SetSick("w00", 10min);
  w.StepAndApply();  // w00 cordoned.
  for (const char* n : {"w01", "w02", "w03", "w04"}) w.SetSick(n, 10min);
  PolicyDecision d = w.StepAndApply();
  EXPECT_TRUE(d.storm);
  EXPECT_EQ(Summary(d, "w00"), Strings{});  // Draining would push its pods onto the few left.
  EXPECT_EQ(HoldOf(d, "w00"), Hold::kStorm);
  EXPECT_EQ(d.in_flight, 1);  // It keeps its slot.
  EXPECT_TRUE(Started(d).empty());

  // The storm clears: the drain starts.
  for (const char* n : {"w01", "w02", "w03", "w04"}) w.SetReady(n, 0s);
  d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w00"),
            (Strings{"WriteState:Draining", "StartDrain", "Event:DrainStarted"}));
}

TEST(Decide, AnInterruptedDrainResumesOnlyAfterTheStorm) {
  World w;
  w.AddNodes(10);
  w.SetSick("w00", 10min);
  w.StepAndApply();
  w.StepAndApply();       // Draining.
  w.drains.erase("w00");  // The controller restarted: no drain running in this process.
  for (const char* n : {"w01", "w02", "w03", "w04"}) w.SetSick(n, 10min);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w00"), Strings{});
  EXPECT_EQ(HoldOf(d, "w00"), Hold::kStorm);
  for (const char* n : {"w01", "w02", "w03", "w04"}) w.SetReady(n, 0s);
  EXPECT_EQ(Summary(w.StepAndApply(), "w00"), Strings{"StartDrain"});
}

TEST(Decide, ARunningDrainFinishesAndADrainedNodeGetsItsActionDuringAStorm) {
  World w;
  w.AddNodes(10);
  w.SetSick("w00", 10min);
  w.StepAndApply();
  w.StepAndApply();  // Draining, the drain running.
  for (const char* n : {"w01", "w02", "w03", "w04"}) w.SetSick(n, 10min);
  PolicyDecision d = w.StepAndApply();
  EXPECT_TRUE(d.storm);
  EXPECT_TRUE(Summary(d, "w00").empty());  // Not cancelled.
  w.FinishDrain("w00");
  d = w.StepAndApply();
  // Restarting a drained node's runtime takes no capacity: it may help.
  EXPECT_EQ(w.State("w00")->phase, Phase::kActionRequested);
}

TEST(Decide, NodesTurningUnhealthyCountForTheStorm) {
  // maxUnhealthy 30% of 10 = 3. Three unhealthy and one whose rule matches
  // but whose duration has not elapsed (it fell sick a second later): a
  // storm now, not one remediation started a second before the storm is seen.
  World w;
  w.AddNodes(10);
  for (const char* n : {"w01", "w02", "w03"}) w.SetSick(n, 10min);
  w.SetSick("w04", 2min);  // The PLEG rule's duration is 3m.
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(d.unhealthy, 3);
  EXPECT_EQ(d.turning_unhealthy, 1);
  EXPECT_TRUE(d.storm);
  EXPECT_TRUE(Started(d).empty());
  EXPECT_NE(d.storm_message.find("3 of 10 selected nodes are unhealthy and 1 turning unhealthy"),
            std::string::npos);

  // Exactly maxUnhealthy sick (the fourth recovered): one starts.
  w.SetReady("w04", 0s);
  d = w.StepAndApply();
  EXPECT_FALSE(d.storm);
  EXPECT_EQ(Started(d), (Strings{"w01"}));
}

// ------------------------------------------------------------------ lifecycle

TEST(Decide, FullLadderRestartKubeletThenRebootWithVerification) {
  World w;
  w.AddNodes(10);
  w.SetSick("w04", 5min);
  const WallTime detected = w.now;
  const std::string id = RemediationId("w04", detected);

  PolicyDecision d = w.StepAndApply();
  EXPECT_TRUE(w.Node("w04").unschedulable);

  w.Advance(1s);
  d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w04"),
            (Strings{"WriteState:Draining", "StartDrain", "Event:DrainStarted"}));
  EXPECT_EQ(d.Find("w04")->intents[1].drain_deadline, w.now + 10min);
  EXPECT_EQ(d.Find("w04")->intents[1].remediation_id, id);

  // While the drain runs: nothing new.
  w.Advance(30s);
  d = w.StepAndApply();
  EXPECT_TRUE(Summary(d, "w04").empty());
  EXPECT_EQ(d.Find("w04")->note, "draining");

  w.FinishDrain("w04");
  d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w04"),
            (Strings{"WriteState:ActionRequested", "RequestAgentAction:RestartKubelet:" + id + "-1",
                     "Event:ActionRequested", "Event:Drained"}));
  EXPECT_EQ(d.Find("w04")->intents[3].message, "drained 7 pods");
  ASSERT_EQ(d.remediations.size(), 1u);
  EXPECT_EQ(d.remediations[0].node, "w04");
  EXPECT_EQ(d.remediations[0].phase, api::RemediationPhase::kActing);
  EXPECT_EQ(d.remediations[0].action, RemediationAction::kRestartKubelet);
  auto s = w.State("w04");
  EXPECT_EQ(s->boot_id_before, "boot-w04-0");
  EXPECT_EQ(s->request_id, id + "-1");
  EXPECT_EQ(w.Request("w04")->id, id + "-1");

  // The agent works on it; the node stays sick; no re-request.
  w.SetAgentStatus("w04", id + "-1", AgentState::kRunning);
  w.Advance(1min);
  d = w.StepAndApply();
  EXPECT_TRUE(Summary(d, "w04").empty());
  EXPECT_EQ(d.Find("w04")->requeue_after, 9min);

  // Done, but the node does not come back: escalate at actionTimeout.
  w.SetAgentStatus("w04", id + "-1", AgentState::kDone);
  d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w04"), (Strings{"WriteState:AwaitingRecovery", "Event:ActionConfirmed"}));
  w.Advance(9min);
  d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w04"),
            (Strings{"WriteState:ActionRequested", "RequestAgentAction:Reboot:" + id + "-2",
                     "Event:RemediationEscalated"}));
  EXPECT_EQ(d.Find("w04")->intents[2].event_type, EventType::kWarning);

  // The agent says Running; bootID unchanged: not confirmed.
  w.SetAgentStatus("w04", id + "-2", AgentState::kRunning);
  w.Advance(2min);
  d = w.StepAndApply();
  EXPECT_TRUE(Summary(d, "w04").empty());

  // The node reboots (new bootID) and turns Ready.
  w.Reboot("w04");
  d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w04"), (Strings{"WriteState:AwaitingRecovery", "Event:ActionConfirmed"}));
  w.Advance(1min);
  d = w.StepAndApply();
  EXPECT_TRUE(Summary(d, "w04").empty());
  EXPECT_EQ(d.Find("w04")->requeue_after, 1min);
  w.Advance(1min);
  d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w04"), (Strings{"Withdraw", "Uncordon", "WriteState:Succeeded",
                                        "Event:RemediationSucceeded"}));
  EXPECT_FALSE(w.Node("w04").unschedulable);
  s = w.State("w04");
  EXPECT_EQ(s->outcome, Outcome::kRecovered);
  EXPECT_EQ(s->finished_at, w.now);

  // Finished: the slot is free, nothing else happens.
  d = w.StepAndApply();
  EXPECT_EQ(d.in_flight, 0);
  EXPECT_TRUE(d.AllIntents().empty());
}

TEST(Decide, RebootNeedsANewBootIdEvenWhenTheAgentSaysDone) {
  World w;
  w.spec.actions = {RemediationAction::kReboot};
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.StepAndApply();
  w.FinishDrain("w01");
  w.StepAndApply();
  const auto s = w.State("w01");
  ASSERT_EQ(s->phase, Phase::kActionRequested);
  w.SetAgentStatus("w01", s->request_id, AgentState::kDone);
  w.SetReady("w01", 0s);  // Even Ready: same boot, so no reboot happened.
  PolicyDecision d = w.StepAndApply();
  EXPECT_TRUE(Summary(d, "w01").empty());
  w.Advance(10min);
  d = w.StepAndApply();
  // Last rung not confirmed: Failed, left cordoned, its request withdrawn.
  EXPECT_EQ(Summary(d, "w01"),
            (Strings{"Withdraw", "WriteState:Failed", "Event:RemediationFailed"}));
  EXPECT_EQ(w.State("w01")->outcome, Outcome::kActionsExhausted);
}

TEST(Decide, AgentFailureEscalatesAtOnce) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.StepAndApply();
  w.FinishDrain("w01");
  w.StepAndApply();
  const auto s = w.State("w01");
  w.SetAgentStatus("w01", s->request_id, AgentState::kFailed, "exit status 1");
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"),
            (Strings{"WriteState:ActionRequested", "RequestAgentAction:Reboot:" + s->id + "-2",
                     "Event:RemediationEscalated"}));
  EXPECT_NE(w.State("w01")->message.find("exit status 1"), std::string::npos);
}

TEST(Decide, AgentStatusForAnotherRequestIsIgnored) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.StepAndApply();
  w.FinishDrain("w01");
  w.StepAndApply();
  w.SetAgentStatus("w01", "w01-1-1", AgentState::kDone);  // An older remediation's id.
  EXPECT_TRUE(Summary(w.StepAndApply(), "w01").empty());
  w.SetAgentStatus("w01", "w01-1-1", AgentState::kFailed);
  EXPECT_TRUE(Summary(w.StepAndApply(), "w01").empty());
}

TEST(Decide, LastRungFailureLeavesTheNodeCordonedAndHoldsTheBudget) {
  World w;
  w.spec.actions = {RemediationAction::kRestartContainerRuntime};
  w.AddNodes(10);
  w.SetSick("w01", 9min);
  w.SetSick("w02", 5min);
  w.StepAndApply();
  w.StepAndApply();
  w.FinishDrain("w01");
  w.StepAndApply();
  w.SetAgentStatus("w01", w.State("w01")->request_id, AgentState::kDone);
  w.StepAndApply();
  w.Advance(10min);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"),
            (Strings{"Withdraw", "WriteState:Failed", "Event:RemediationFailed"}));
  EXPECT_EQ(d.Find("w01")->intents[2].event_type, EventType::kWarning);
  EXPECT_NE(w.State("w01")->message.find("left cordoned for a person"), std::string::npos);
  EXPECT_NE(w.State("w01")->message.find("kubectl uncordon w01"), std::string::npos);
  EXPECT_EQ(w.State("w01")->slot_held_until, w.now + 30min);  // holdSlotAfterFailure.
  EXPECT_FALSE(w.Request("w01").has_value());                 // Withdrawn with the Failed state.
  EXPECT_TRUE(w.Node("w01").unschedulable);

  // The failed node keeps its slot: w02 waits.
  d = w.StepAndApply();
  EXPECT_EQ(d.in_flight, 1);
  EXPECT_EQ(HoldOf(d, "w01"), Hold::kFailedAwaitingHuman);
  EXPECT_EQ(d.failed, (Strings{"w01"}));
  EXPECT_EQ(HoldOf(d, "w02"), Hold::kBudget);
  EXPECT_TRUE(Started(d).empty());

  // A person uncordons w01: the slot is released and w02 starts.
  w.Node("w01").unschedulable = false;
  d = w.StepAndApply();
  EXPECT_EQ(Started(d), (Strings{"w02"}));
  EXPECT_EQ(HoldOf(d, "w01"), Hold::kCooldown);  // Still sick; eligible again after cooldown.
}

TEST(Decide, ExternalRungOnlyAnnotatesAndWaits) {
  World w;
  w.spec.actions = {RemediationAction::kExternal};
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.StepAndApply();
  w.FinishDrain("w01");
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), (Strings{"WriteState:ActionRequested",
                                        "Event:ExternalRemediationRequested", "Event:Drained"}));
  EXPECT_EQ(w.State("w01")->action, RemediationAction::kExternal);
  EXPECT_EQ(w.State("w01")->request_id, "");
  EXPECT_FALSE(w.Request("w01").has_value());
  // Never a request, even on later steps.
  EXPECT_TRUE(Summary(w.StepAndApply(), "w01").empty());
  w.SetReady("w01", 0s);  // Repaired by someone else.
  d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), (Strings{"WriteState:AwaitingRecovery", "Event:ActionConfirmed"}));
  w.Advance(2min);
  d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"),
            (Strings{"Uncordon", "WriteState:Succeeded", "Event:RemediationSucceeded"}));
}

TEST(Decide, DrainOnlyPolicyWaitsForRecoveryThenFails) {
  World w;
  w.spec.actions = {};
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.StepAndApply();
  w.FinishDrain("w01");
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), (Strings{"WriteState:AwaitingRecovery", "Event:Drained"}));
  EXPECT_EQ(w.State("w01")->action, std::nullopt);
  w.Advance(10min);
  d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), (Strings{"WriteState:Failed", "Event:RemediationFailed"}));
  EXPECT_EQ(w.State("w01")->outcome, Outcome::kNotRecovered);
}

TEST(Decide, DrainOnlyPolicySucceedsWhenTheNodeRecovers) {
  World w;
  w.spec.actions = {};
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.StepAndApply();
  w.FinishDrain("w01");
  w.StepAndApply();
  w.Advance(1min);
  w.SetReady("w01", 0s);
  w.Advance(2min);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"),
            (Strings{"Uncordon", "WriteState:Succeeded", "Event:RemediationSucceeded"}));
}

TEST(Decide, ReadyFlapRestartsTheStabilityWindow) {
  World w;
  w.spec.actions = {RemediationAction::kRestartKubelet};
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.StepAndApply();
  w.FinishDrain("w01");
  w.StepAndApply();
  w.SetAgentStatus("w01", w.State("w01")->request_id, AgentState::kDone);
  w.SetReady("w01", 0s);
  w.StepAndApply();  // AwaitingRecovery.
  w.Advance(90s);
  w.SetSick("w01", 0s);  // Flap.
  EXPECT_TRUE(Summary(w.StepAndApply(), "w01").empty());
  w.Advance(30s);
  w.SetReady("w01", 0s);
  w.Advance(90s);
  EXPECT_TRUE(Summary(w.StepAndApply(), "w01").empty());  // Only 90s stable.
  w.Advance(30s);
  EXPECT_EQ(
      Summary(w.StepAndApply(), "w01"),
      (Strings{"Withdraw", "Uncordon", "WriteState:Succeeded", "Event:RemediationSucceeded"}));
}

TEST(Decide, ReadyButNotYetStableAtTheDeadlineKeepsVerifying) {
  World w;
  w.spec.actions = {RemediationAction::kRestartKubelet};
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.StepAndApply();
  w.FinishDrain("w01");
  w.StepAndApply();
  w.SetAgentStatus("w01", w.State("w01")->request_id, AgentState::kDone);
  w.StepAndApply();
  w.Advance(9min + 30s);
  w.SetReady("w01", 0s);
  w.Advance(1min);  // Past actionTimeout, Ready for 1m.
  EXPECT_TRUE(Summary(w.StepAndApply(), "w01").empty());
  w.Advance(1min);
  EXPECT_EQ(
      Summary(w.StepAndApply(), "w01"),
      (Strings{"Withdraw", "Uncordon", "WriteState:Succeeded", "Event:RemediationSucceeded"}));
}

// ------------------------------------------------------------------ drain outcomes

TEST(Decide, DrainTimeoutFailsAndLeavesTheNodeCordoned) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.SetSick("w02", 4min);
  w.StepAndApply();
  w.StepAndApply();
  w.FinishDrain("w01", DrainObservation::kTimedOut,
                "drain timed out; still pending: default/web-1 (PodDisruptionBudget web-pdb)");
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"),
            (Strings{"WriteState:Failed", "CancelDrain", "Event:RemediationFailed"}));
  auto s = w.State("w01");
  EXPECT_EQ(s->outcome, Outcome::kDrainTimedOut);
  EXPECT_NE(s->message.find("PodDisruptionBudget web-pdb"), std::string::npos);
  EXPECT_TRUE(w.Node("w01").unschedulable);
  d = w.StepAndApply();
  EXPECT_EQ(HoldOf(d, "w02"), Hold::kBudget);  // The next node waits.
}

// The drain is stopped only after the patch that ends its remediation: the
// reconciler runs a node's steps in intent order and stops at a failed patch
// (a 409 while the kubelet re-posts the node's status), and a drain stopped
// before a state write that then failed would take what it found with it.
TEST(Decide, AFailedStateWriteLeavesTheDrainAndItsFindingForTheNextDecision) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.StepAndApply();
  w.FinishDrain("w01", DrainObservation::kTimedOut,
                "drain timed out; still pending: default/web-1 (PodDisruptionBudget web-pdb)");
  PolicyDecision d = w.Step();
  const auto& intents = d.Find("w01")->intents;
  ASSERT_FALSE(intents.empty());
  EXPECT_EQ(intents.front().kind, IntentKind::kWriteState);  // Nothing runs before the patch.
  // The patch failed: nothing of the decision is applied; decide again.
  d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"),
            (Strings{"WriteState:Failed", "CancelDrain", "Event:RemediationFailed"}));
  EXPECT_NE(w.State("w01")->message.find("PodDisruptionBudget web-pdb"), std::string::npos);
}

TEST(Decide, DrainFilterErrorFails) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.StepAndApply();
  w.FinishDrain(
      "w01", DrainObservation::kFailed,
      "cannot delete Pods that declare no controller (set drain.force to override): default/bare");
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"),
            (Strings{"WriteState:Failed", "CancelDrain", "Event:RemediationFailed"}));
  EXPECT_EQ(w.State("w01")->outcome, Outcome::kDrainFailed);
}

TEST(Decide, DrainResultOfAnotherRemediationIsIgnored) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.StepAndApply();
  w.drains["w01"] = DrainObservation{DrainObservation::kSucceeded, "w01-123", ""};
  // Treated as no drain running: the drain is (re)started.
  EXPECT_EQ(Summary(w.Step(), "w01"), (Strings{"StartDrain"}));
}

// ------------------------------------------------------------------ restart safety

TEST(Decide, SameObservationGivesTheSameDecision) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 9min);
  w.SetSick("w02", 5min);
  // Walk through every phase; at each, deciding twice is identical.
  for (int i = 0; i < 8; ++i) {
    const PolicyDecision a = w.Step();
    const PolicyDecision b = w.Step();
    ASSERT_EQ(a.AllIntents(), b.AllIntents()) << "step " << i;
    w.Apply(a);
    if (i == 2) w.FinishDrain("w01");
    if (i == 4) w.SetAgentStatus("w01", w.State("w01")->request_id, AgentState::kDone);
    if (i == 5) w.SetReady("w01", 0s);
    w.Advance(1min);
  }
}

TEST(Decide, ResumesFromAnnotationsAfterARestartWithoutRequestingTwice) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 9min);
  w.SetSick("w02", 5min);
  w.StepAndApply();
  w.StepAndApply();  // Draining.

  // The controller dies during the drain: the new process has no drain running.
  w.drains.clear();
  w.Advance(3min);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), (Strings{"StartDrain"}));  // Resumed, no state rewrite.
  EXPECT_EQ(d.Find("w01")->intents[0].drain_deadline, w.State("w01")->phase_since + 10min);
  EXPECT_EQ(d.in_flight, 1);
  EXPECT_TRUE(Started(d).empty());  // The budget still holds.

  w.FinishDrain("w01");
  d = w.StepAndApply();
  const std::string request_id = w.State("w01")->request_id;
  const AgentRequest request = *w.Request("w01");

  // Another restart (or a new leader): same observation, no new request.
  w.drains.clear();
  for (int i = 0; i < 3; ++i) {
    w.Advance(1min);
    d = w.StepAndApply();
    EXPECT_TRUE(Summary(d, "w01").empty());
    EXPECT_EQ(w.Request("w01"), request);
  }
  EXPECT_EQ(w.State("w01")->request_id, request_id);
}

TEST(Decide, CrashBetweenStateAndAgentRequestResendsTheSameRequest) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.StepAndApply();
  w.FinishDrain("w01");
  PolicyDecision d = w.Step();
  // Apply only the state write, as if the process died before the request.
  w.SetState("w01", d.Find("w01")->intents[0].state);
  const RemediationState s = *w.State("w01");
  w.Advance(20s);
  d = w.StepAndApply();
  ASSERT_EQ(Summary(d, "w01"), (Strings{"RequestAgentAction:RestartKubelet:" + s.request_id}));
  EXPECT_EQ(d.Find("w01")->intents[0].agent_request.requested_at, *s.action_requested_at);
  EXPECT_TRUE(Summary(w.StepAndApply(), "w01").empty());
}

TEST(Decide, CrashBetweenAgentRequestAndStateReusesTheRequestId) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.StepAndApply();
  w.FinishDrain("w01");
  PolicyDecision first = w.Step();
  // Only the agent request landed.
  for (const auto& i : first.Find("w01")->intents)
    if (i.kind == IntentKind::kRequestAgentAction)
      w.SetAnnotation("w01", kAgentRequestAnnotation, EncodeAgentRequest(i.agent_request));
  w.drains.clear();  // And the process restarted.
  w.Advance(30s);
  EXPECT_EQ(Summary(w.StepAndApply(), "w01"), (Strings{"StartDrain"}));
  w.FinishDrain("w01");
  PolicyDecision again = w.StepAndApply();
  // The same id: the agent, which already has it, will not run it twice.
  EXPECT_EQ(again.Find("w01")->intents[1].agent_request.id,
            first.Find("w01")->intents[1].agent_request.id);
}

TEST(Decide, CrashBetweenStateAndCordonFinishesTheCordon) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  PolicyDecision d = w.Step();
  w.SetState("w01", d.Find("w01")->intents[0].state);  // Cordon never happened.
  d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), (Strings{"Cordon"}));
  EXPECT_TRUE(w.Node("w01").unschedulable);
  EXPECT_EQ(Summary(w.StepAndApply(), "w01"),
            (Strings{"WriteState:Draining", "StartDrain", "Event:DrainStarted"}));
}

TEST(Decide, InterruptedDrainPastItsDeadlineFails) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.StepAndApply();
  w.drains.clear();
  w.Advance(10min);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"),
            (Strings{"WriteState:Failed", "CancelDrain", "Event:RemediationFailed"}));
  EXPECT_EQ(w.State("w01")->outcome, Outcome::kDrainTimedOut);
}

// ------------------------------------------------------------------ cancellation

TEST(Decide, NodeHealingWhileWaitingForTheBudgetIsCancelledNeverCordoned) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 9min);
  w.SetSick("w02", 5min);
  w.StepAndApply();
  ASSERT_EQ(w.State("w02")->phase, Phase::kPending);
  w.SetReady("w02", 0s);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w02"), (Strings{"WriteState:Cancelled", "Event:RemediationCancelled"}));
  EXPECT_EQ(w.State("w02")->outcome, Outcome::kRecoveredWithoutAction);
  EXPECT_FALSE(w.Node("w02").unschedulable);
}

TEST(Decide, NodeHealingAfterCordonIsUncordoned) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.SetReady("w01", 0s);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"),
            (Strings{"Uncordon", "WriteState:Cancelled", "Event:RemediationCancelled"}));
  EXPECT_FALSE(w.Node("w01").unschedulable);
}

TEST(Decide, NodeHealingDuringDrainStopsTheDrainAndUncordons) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.StepAndApply();
  w.SetReady("w01", 0s);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), (Strings{"Uncordon", "WriteState:Cancelled", "CancelDrain",
                                        "Event:RemediationCancelled"}));
  EXPECT_FALSE(w.drains.count("w01"));
}

TEST(Decide, SomeoneUncordoningDuringTheDrainMakesNodeguardStepBack) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.StepAndApply();
  w.Node("w01").unschedulable = false;
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"),
            (Strings{"WriteState:Cancelled", "CancelDrain", "Event:RemediationCancelled"}));
  EXPECT_EQ(w.State("w01")->outcome, Outcome::kUncordonedExternally);
  // Not re-cordoned: still sick, it waits (Pending) for the cooldown.
  d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), (Strings{"WriteState:Pending", "Event:RemediationPending"}));
  EXPECT_EQ(HoldOf(d, "w01"), Hold::kCooldown);
  EXPECT_FALSE(w.Node("w01").unschedulable);
}

TEST(Decide, ExcludingASickNodeMidRemediationStepsBackButKeepsItCordoned) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.StepAndApply();
  w.Node("w01").labels = {{"nodeguard.io/exclude", "true"}};
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"),
            (Strings{"WriteState:Cancelled", "CancelDrain", "Event:RemediationCancelled"}));
  EXPECT_EQ(w.State("w01")->outcome, Outcome::kExcluded);
  EXPECT_TRUE(w.Node("w01").unschedulable);  // Never return a sick node to service.
  EXPECT_NE(w.State("w01")->message.find("keeps its cordon until the node is healthy"),
            std::string::npos);
}

TEST(Decide, UnselectedNodeWithOurStateIsWoundDown) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  w.SetReady("w01", 0s);
  w.unselected.insert("w01");
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"),
            (Strings{"Uncordon", "WriteState:Cancelled", "Event:RemediationCancelled"}));
  EXPECT_EQ(w.State("w01")->outcome, Outcome::kNotSelected);
  EXPECT_EQ(d.selected, 9);
}

TEST(Decide, DisablingCancelsPendingAndStopsNewStarts) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 9min);
  w.SetSick("w02", 5min);
  w.StepAndApply();
  w.spec.enabled = false;
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(w.State("w02")->outcome, Outcome::kDisabled);
  EXPECT_EQ(w.State("w01")->outcome, Outcome::kDisabled);
  d = w.StepAndApply();
  EXPECT_EQ(HoldOf(d, "w02"), Hold::kDisabled);
  EXPECT_TRUE(d.AllIntents().empty());
}

TEST(Decide, PendingWhoseConditionRestartedKeepsWaiting) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 9min);
  w.SetSick("w02", 5min);
  w.StepAndApply();
  w.SetSick("w02", 30s);  // Flapped: the clock restarted.
  PolicyDecision d = w.StepAndApply();
  EXPECT_TRUE(Summary(d, "w02").empty());
  EXPECT_EQ(w.State("w02")->phase, Phase::kPending);
  EXPECT_EQ(d.Find("w02")->requeue_after, 150s);
}

// ------------------------------------------------------------------ people

TEST(Decide, NodeCordonedByAPersonIsLeftAloneAndReported) {
  World w;
  w.AddNodes(10);
  w.Node("w03").unschedulable = true;  // Someone is working on it.
  w.SetSick("w03", 10min);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(HoldOf(d, "w03"), Hold::kCordonedByPerson);
  EXPECT_EQ(d.cordoned_by_person, (Strings{"w03"}));
  EXPECT_EQ(Summary(d, "w03"), (Strings{"WriteState:Pending", "Event:RemediationPending"}));
  EXPECT_EQ(d.started, 0);
  // It does not take the budget from another sick node.
  w.SetSick("w04", 4min);
  d = w.StepAndApply();
  EXPECT_EQ(Started(d), (Strings{"w04"}));
}

TEST(Decide, TakeOverKeepsThePersonsCordonAtTheEnd) {
  World w;
  w.spec.take_over_cordoned_nodes = true;
  w.spec.actions = {RemediationAction::kRestartKubelet};
  w.AddNodes(10);
  w.Node("w01").unschedulable = true;
  w.SetSick("w01", 10min);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), (Strings{"WriteState:Cordoned", "Event:RemediationTookOver"}));
  EXPECT_FALSE(w.State("w01")->cordoned_by_us);
  w.StepAndApply();
  w.FinishDrain("w01");
  w.StepAndApply();
  w.SetAgentStatus("w01", w.State("w01")->request_id, AgentState::kDone);
  w.StepAndApply();
  w.SetReady("w01", 0s);
  w.Advance(2min);
  d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"),
            (Strings{"Withdraw", "WriteState:Succeeded", "Event:RemediationSucceeded"}));
  EXPECT_TRUE(w.Node("w01").unschedulable);  // Never uncordon what we did not cordon.
}

TEST(Decide, TakenOverNodeUncordonedByItsOwnerIsReleased) {
  World w;
  w.spec.take_over_cordoned_nodes = true;
  w.AddNodes(10);
  w.Node("w01").unschedulable = true;
  w.SetSick("w01", 10min);
  w.StepAndApply();
  w.Node("w01").unschedulable = false;
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), (Strings{"WriteState:Cancelled", "Event:RemediationCancelled"}));
  EXPECT_FALSE(w.Node("w01").unschedulable);
}

TEST(Decide, KubernetesTaintsAreNotACordon) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 10min);
  kube::Taint not_ready{"node.kubernetes.io/not-ready", "", kube::TaintEffect::kNoSchedule, w.now};
  kube::Taint unreachable{"node.kubernetes.io/unreachable", "", kube::TaintEffect::kNoExecute,
                          w.now};
  w.Node("w01").taints = {not_ready, unreachable};
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Started(d), (Strings{"w01"}));
  EXPECT_EQ(w.Node("w01").taints, (std::vector<kube::Taint>{not_ready, unreachable}));
}

TEST(Decide, ExcludedSickNodeIsNeverStartedButCountsForTheStorm) {
  World w;
  w.AddNodes(10);
  w.Node("w01").labels = {{"nodeguard.io/exclude", "true"}};
  w.SetSick("w01", 10min);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(HoldOf(d, "w01"), Hold::kExcluded);
  EXPECT_TRUE(d.AllIntents().empty());
  EXPECT_EQ(d.unhealthy, 1);
}

// ------------------------------------------------------------------ pause, dry run

TEST(Decide, PausedStartsNothingAndWritesNothingNew) {
  World w;
  w.paused = true;
  w.AddNodes(10);
  w.SetSick("w01", 10min);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(HoldOf(d, "w01"), Hold::kPaused);
  EXPECT_TRUE(d.AllIntents().empty());
}

TEST(Decide, PausedFreezesDisruptiveStepsButFinishesSafely) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 10min);
  w.StepAndApply();
  w.StepAndApply();
  w.FinishDrain("w01");
  w.paused = true;
  PolicyDecision d = w.StepAndApply();  // Drained: no action requested while paused.
  EXPECT_TRUE(Summary(d, "w01").empty());
  EXPECT_EQ(HoldOf(d, "w01"), Hold::kPaused);

  w.paused = false;
  w.StepAndApply();  // RestartKubelet requested.
  w.paused = true;
  w.Advance(10min);
  d = w.StepAndApply();  // Timed out: no escalation while paused.
  EXPECT_TRUE(Summary(d, "w01").empty());
  EXPECT_EQ(HoldOf(d, "w01"), Hold::kPaused);
  EXPECT_EQ(w.State("w01")->action, RemediationAction::kRestartKubelet);

  // Recovery is still verified and the node uncordoned.
  w.SetAgentStatus("w01", w.State("w01")->request_id, AgentState::kDone);
  w.StepAndApply();
  w.SetReady("w01", 0s);
  w.Advance(2min);
  d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), (Strings{"Withdraw", "Uncordon", "WriteState:Succeeded",
                                        "Event:RemediationSucceeded"}));
}

TEST(Decide, PausedNodeHealingIsStillCancelledAndUncordoned) {
  World w;
  w.AddNodes(10);
  w.SetSick("w01", 10min);
  w.StepAndApply();
  w.paused = true;
  EXPECT_TRUE(Summary(w.StepAndApply(), "w01").empty());  // Not drained while paused.
  w.SetReady("w01", 0s);
  EXPECT_EQ(Summary(w.StepAndApply(), "w01"),
            (Strings{"Uncordon", "WriteState:Cancelled", "Event:RemediationCancelled"}));
}

TEST(Decide, DryRunDecidesTheSameAndIsFlagged) {
  World real;
  real.AddNodes(10);
  for (const char* n : {"w01", "w02", "w03"}) real.SetSick(n, 10min);
  World dry = real;
  dry.dry_run = true;
  PolicyDecision a = real.Step();
  PolicyDecision b = dry.Step();
  EXPECT_FALSE(a.dry_run);
  EXPECT_TRUE(b.dry_run);
  EXPECT_EQ(a.AllIntents(), b.AllIntents());
  EXPECT_EQ(b.started, 1);
  // The world's Apply honours the flag: nothing changed, so the next step says the same.
  dry.Apply(b);
  EXPECT_FALSE(dry.Node("w01").unschedulable);
  EXPECT_EQ(dry.Step().AllIntents(), b.AllIntents());
}

TEST(PlannedSteps, TheWholeLadderInOrder) {
  api::RemediationSpec spec;
  spec.actions = {RemediationAction::kRestartContainerRuntime, RemediationAction::kRestartKubelet,
                  RemediationAction::kReboot};
  spec.drain.timeout = 10min;
  spec.recovery_stable_for = 2min;
  spec.action_timeout = 5min;
  EXPECT_EQ(PlannedSteps(spec, false),
            (Strings{"cordon", "drain (timeout 10m0s)", "RestartContainerRuntime", "RestartKubelet",
                     "Reboot", "uncordon once Ready for 2m0s"}));
  EXPECT_EQ(DescribePlan(spec, false),
            "would cordon -> drain (timeout 10m0s) -> RestartContainerRuntime -> RestartKubelet "
            "-> Reboot -> uncordon once Ready for 2m0s; one rung at a time until the node is "
            "Ready, each given actionTimeout 5m0s");
}

TEST(PlannedSteps, TakenOverNoTimeoutExternalAndNoActions) {
  api::RemediationSpec spec;
  spec.drain.timeout = 0s;  // No timeout.
  spec.recovery_stable_for = 1min;
  spec.actions = {RemediationAction::kRestartKubelet, RemediationAction::kExternal};
  // A node someone else cordoned is not cordoned again, nor ever uncordoned.
  EXPECT_EQ(
      PlannedSteps(spec, true),
      (Strings{"drain", "RestartKubelet", "External (annotate and wait for an external remediator)",
               "leave cordoned (taken over)"}));
  spec.actions.clear();
  EXPECT_EQ(PlannedSteps(spec, false), (Strings{"cordon", "drain", "wait for the node to recover",
                                                "uncordon once Ready for 1m0s"}));
  EXPECT_NE(DescribePlan(spec, false).find("given actionTimeout"), std::string::npos);
}

// ------------------------------------------------------------------ cooldown, attempts

RemediationState FinishedState(const std::string& node, WallTime finished, int attempt,
                               Phase phase = Phase::kSucceeded) {
  RemediationState s;
  s.id = node + "-1";
  s.policy = kPolicy;
  s.phase = phase;
  s.outcome = phase == Phase::kFailed ? Outcome::kActionsExhausted : Outcome::kRecovered;
  s.attempt = attempt;
  s.detected_at = finished - 20min;
  s.started_at = finished - 20min;
  s.phase_since = finished;
  s.finished_at = finished;
  // A success lifted our cordon in the same patch; a failure left it on.
  s.cordoned_by_us = phase == Phase::kFailed;
  return s;
}

TEST(Decide, CooldownDelaysTheNextRemediationOfANode) {
  World w;
  w.AddNodes(10);
  w.SetState("w01", FinishedState("w01", w.now - 10min, 1));
  w.SetSick("w01", 5min);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(HoldOf(d, "w01"), Hold::kCooldown);
  EXPECT_EQ(d.Find("w01")->requeue_after, 20min);
  EXPECT_EQ(Summary(d, "w01"), (Strings{"WriteState:Pending", "Event:RemediationPending"}));
  EXPECT_EQ(w.State("w01")->attempt, 2);
  EXPECT_EQ(w.State("w01")->previous_finished_at, w.now - 10min);
  w.Advance(19min);
  EXPECT_EQ(HoldOf(w.StepAndApply(), "w01"), Hold::kCooldown);
  w.Advance(1min);
  d = w.StepAndApply();
  EXPECT_EQ(Started(d), (Strings{"w01"}));
  EXPECT_EQ(w.State("w01")->attempt, 2);
}

TEST(Decide, CancelledPendingKeepsTheCooldownAndAttemptHistory) {
  World w;
  w.AddNodes(10);
  const WallTime finished = w.now - 10min;
  w.SetState("w01", FinishedState("w01", finished, 2));
  w.SetSick("w01", 5min);
  w.StepAndApply();  // Pending (cooldown), attempt 3.
  w.SetReady("w01", 0s);
  w.StepAndApply();  // Cancelled.
  ASSERT_EQ(w.State("w01")->phase, Phase::kCancelled);
  w.Advance(5min);
  w.SetSick("w01", 4min);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(HoldOf(d, "w01"), Hold::kCooldown);
  EXPECT_EQ(w.State("w01")->attempt, 3);
  EXPECT_EQ(w.State("w01")->previous_finished_at, finished);
}

TEST(Decide, MaxAttemptsStopsRemediationAndIsReported) {
  World w;
  w.AddNodes(10);
  w.SetState("w01", FinishedState("w01", w.now - 31min, 3));
  w.SetSick("w01", 5min);  // Sick again 26m after the end: not healthy for a full cooldown.
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(HoldOf(d, "w01"), Hold::kMaxAttempts);
  EXPECT_EQ(d.max_attempts_reached, (Strings{"w01"}));
  EXPECT_EQ(d.started, 0);
  EXPECT_FALSE(w.Node("w01").unschedulable);
}

TEST(Decide, AttemptsResetAfterTheNodeStayedHealthyForACooldown) {
  World w;
  w.AddNodes(10);
  w.SetState("w01", FinishedState("w01", w.now - 2h, 3));
  w.SetSick("w01", 5min);  // Healthy for 1h55m before falling sick.
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Started(d), (Strings{"w01"}));
  EXPECT_EQ(w.State("w01")->attempt, 1);
}

TEST(Decide, AttemptCountsAcrossRemediations) {
  World w;
  w.AddNodes(10);
  w.SetState("w01", FinishedState("w01", w.now - 31min, 1));
  w.SetSick("w01", 20min);  // Sick again 11m after the end.
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Started(d), (Strings{"w01"}));
  EXPECT_EQ(w.State("w01")->attempt, 2);
}

// ------------------------------------------------------------------ nothing leaks

// Starts a remediation of w01 and drives it to the given phase.
void DriveTo(World& w, Phase phase) {
  w.SetSick("w01", 10min);
  w.StepAndApply();  // Cordoned.
  if (phase == Phase::kCordoned) return;
  w.StepAndApply();  // Draining.
  if (phase == Phase::kDraining) return;
  w.FinishDrain("w01");
  w.StepAndApply();  // ActionRequested.
}

TEST(Decide, SteppingBackFromASickNodeKeepsItsCordonAndItsSlotUntilItHeals) {
  World w;
  w.AddNodes(10);
  DriveTo(w, Phase::kActionRequested);
  ASSERT_TRUE(w.Request("w01").has_value());
  w.SetSick("w02", 10min);
  w.unselected.insert("w01");  // A selector edit or a relabel; no other policy takes it.
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"),
            (Strings{"Withdraw", "WriteState:Cancelled", "Event:RemediationCancelled"}));
  EXPECT_FALSE(w.Request("w01").has_value());
  EXPECT_TRUE(w.Node("w01").unschedulable);
  EXPECT_TRUE(w.State("w01")->cordoned_by_us);

  // Its slot stays taken: w02 waits, not started beside a node that may be rebooting.
  d = w.StepAndApply();
  EXPECT_EQ(d.in_flight, 1);
  EXPECT_EQ(HoldOf(d, "w02"), Hold::kBudget);
  EXPECT_TRUE(Started(d).empty());

  // It heals: nodeguard lifts its own cordon (the policy still decides for
  // the node because its state names the policy), and the slot goes to w02.
  w.SetReady("w01", 0s);
  d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), (Strings{"Uncordon", "WriteState:Cancelled", "Event:CordonLifted"}));
  EXPECT_FALSE(w.Node("w01").unschedulable);
  EXPECT_FALSE(w.State("w01")->cordoned_by_us);
  EXPECT_EQ(Started(w.StepAndApply()), (Strings{"w02"}));

  // A person cordons w01 later: that cordon is never taken for ours.
  w.Node("w01").unschedulable = true;
  d = w.StepAndApply();
  EXPECT_TRUE(Summary(d, "w01").empty());
  EXPECT_TRUE(w.Node("w01").unschedulable);
}

TEST(Decide, DisablingMidRemediationKeepsTheSickNodesCordonThenLiftsIt) {
  World w;
  w.AddNodes(10);
  DriveTo(w, Phase::kDraining);
  w.spec.enabled = false;
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"),
            (Strings{"WriteState:Cancelled", "CancelDrain", "Event:RemediationCancelled"}));
  EXPECT_EQ(w.State("w01")->outcome, Outcome::kDisabled);
  EXPECT_TRUE(w.Node("w01").unschedulable);
  EXPECT_EQ(w.StepAndApply().in_flight, 1);
  w.SetReady("w01", 0s);
  d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), (Strings{"Uncordon", "WriteState:Cancelled", "Event:CordonLifted"}));
  EXPECT_EQ(w.StepAndApply().in_flight, 0);
}

TEST(Decide, ANodeMovedToAnotherPolicyIsHandedOverNotCancelled) {
  World w;
  w.AddNodes(10);
  DriveTo(w, Phase::kDraining);
  w.unselected.insert("w01");
  w.governing["w01"] = "other";
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), (Strings{"WriteState:Draining", "Event:RemediationHandedOver"}));
  const auto s = w.State("w01");
  EXPECT_EQ(s->policy, "other");
  EXPECT_EQ(s->phase, Phase::kDraining);  // The other policy carries on from here.
  EXPECT_TRUE(w.Node("w01").unschedulable);
  EXPECT_EQ(d.in_flight, 1);  // Counted before the step; the other policy counts it next.
  EXPECT_TRUE(d.remediations.empty());

  // The other policy's own step continues the remediation; this policy's
  // reconciler stopped the drain it no longer owns (remediation_reconciler).
  World other = w;
  other.drains.erase("w01");
  // (Its view: it governs w01 and decides as "other".)
  DecideInput in = other.Input();
  in.policy = "other";
  auto obs = other.Observe();
  for (auto& o : obs) o.governing_policy = "other", o.selected = true;
  PolicyDecision od = Decide(in, obs);
  EXPECT_EQ(Summary(od, "w01"), Strings{"StartDrain"});  // Resumes the drain under its name.
  EXPECT_EQ(od.in_flight, 1);
}

TEST(Decide, ADeletedPolicyWindsDownStartsNothingAndHandsOverWhereItCan) {
  World w;
  w.spec.max_concurrent = 3;
  w.AddNodes(10);
  w.SetSick("w01", 12min);
  w.SetSick("w02", 11min);
  w.SetSick("w03", 10min);
  w.StepAndApply();  // All three cordoned.
  w.StepAndApply();  // Draining.
  w.SetSick("w04", 10min);
  w.spec.max_concurrent = 3;
  w.deleting = true;
  w.unselected = {"w01", "w02", "w03", "w04"};  // A deleting policy governs nothing.
  w.governing["w02"] = "other";
  w.SetReady("w03", 0s);
  PolicyDecision d = w.StepAndApply();
  // w01: sick, nobody else governs it: cancelled, our cordon kept.
  EXPECT_EQ(w.State("w01")->phase, Phase::kCancelled);
  EXPECT_EQ(w.State("w01")->outcome, Outcome::kPolicyDeleted);
  EXPECT_TRUE(w.Node("w01").unschedulable);
  // w02: another policy governs it now: handed over, still draining.
  EXPECT_EQ(w.State("w02")->policy, "other");
  EXPECT_EQ(w.State("w02")->phase, Phase::kDraining);
  // w03: healthy again: cancelled and uncordoned.
  EXPECT_EQ(w.State("w03")->phase, Phase::kCancelled);
  EXPECT_FALSE(w.Node("w03").unschedulable);
  // w04: nothing new starts.
  EXPECT_FALSE(w.State("w04").has_value());
  EXPECT_TRUE(Started(d).empty());
  // w01 keeps its cordon (and holds the finalizer, see NodesInFlight) until it heals.
  w.SetReady("w01", 0s);
  w.StepAndApply();
  EXPECT_FALSE(w.Node("w01").unschedulable);
  EXPECT_FALSE(w.State("w01")->cordoned_by_us);
}

TEST(Decide, AnOrphanedRemediationIsAdoptedAndCarriedOn) {
  World w;
  w.AddNodes(10);
  DriveTo(w, Phase::kActionRequested);
  RemediationState s = *w.State("w01");
  s.policy = "deleted-long-ago";
  w.SetState("w01", s);
  w.orphans.insert("w01");
  w.SetAgentStatus("w01", s.request_id, AgentState::kDone);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), (Strings{"WriteState:ActionRequested", "Event:RemediationAdopted",
                                        "WriteState:AwaitingRecovery", "Event:ActionConfirmed"}));
  EXPECT_EQ(w.State("w01")->policy, kPolicy);
  EXPECT_EQ(d.in_flight, 1);  // Adopted in this step: counted as ours already.
}

TEST(Decide, AnOrphanNoPolicyGovernsIsWoundDown) {
  World w;
  w.AddNodes(10);
  DriveTo(w, Phase::kCordoned);
  RemediationState s = *w.State("w01");
  s.policy = "gone";
  w.SetState("w01", s);
  w.orphans.insert("w01");
  w.unselected.insert("w01");  // The first policy, which does not select it, winds it down.
  w.SetReady("w01", 0s);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(w.State("w01")->phase, Phase::kCancelled);
  EXPECT_EQ(w.State("w01")->policy, kPolicy);
  EXPECT_FALSE(w.Node("w01").unschedulable);
}

TEST(Decide, AFailedNodeReleasesItsSlotAfterHoldSlotAfterFailure) {
  World w;
  w.spec.actions = {RemediationAction::kRestartContainerRuntime};
  w.spec.hold_slot_after_failure = 20min;
  w.AddNodes(10);
  DriveTo(w, Phase::kActionRequested);
  w.SetSick("w02", 10min);
  w.Advance(10min);  // actionTimeout: the only rung did not help.
  w.StepAndApply();
  ASSERT_EQ(w.State("w01")->phase, Phase::kFailed);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(HoldOf(d, "w02"), Hold::kBudget);
  EXPECT_EQ(d.failed_holding_slot.size(), 1u);
  EXPECT_EQ(d.Find("w01")->requeue_after, 20min);
  w.Advance(20min);
  d = w.StepAndApply();
  EXPECT_EQ(Started(d), (Strings{"w02"}));
  EXPECT_EQ(d.failed, (Strings{"w01"}));  // Still cordoned and reported.
  EXPECT_TRUE(d.failed_holding_slot.empty());
  EXPECT_TRUE(w.Node("w01").unschedulable);
}

TEST(Decide, ZeroHoldSlotAfterFailureHoldsItUntilAPersonActs) {
  World w;
  w.spec.actions = {RemediationAction::kRestartContainerRuntime};
  w.spec.hold_slot_after_failure = 0s;
  w.AddNodes(10);
  DriveTo(w, Phase::kActionRequested);
  w.SetSick("w02", 10min);
  w.Advance(10min);
  w.StepAndApply();
  EXPECT_FALSE(w.State("w01")->slot_held_until.has_value());
  w.Advance(24h);
  EXPECT_EQ(HoldOf(w.StepAndApply(), "w02"), Hold::kBudget);
}

TEST(Decide, AFailedNodeThatRecoversIsUncordonedAfterRecoveryStableFor) {
  World w;
  w.spec.actions = {RemediationAction::kRestartContainerRuntime};
  w.AddNodes(10);
  DriveTo(w, Phase::kActionRequested);
  w.Advance(10min);
  w.StepAndApply();
  ASSERT_EQ(w.State("w01")->phase, Phase::kFailed);
  w.SetReady("w01", 0s);
  PolicyDecision d = w.StepAndApply();
  EXPECT_TRUE(Summary(d, "w01").empty());
  EXPECT_EQ(d.Find("w01")->requeue_after, 2min);
  w.Advance(2min);
  d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), (Strings{"Uncordon", "WriteState:Failed", "Event:CordonLifted"}));
  EXPECT_FALSE(w.Node("w01").unschedulable);
  EXPECT_TRUE(d.failed.empty());
}

TEST(Decide, ALeftoverAgentRequestOnAFinishedRemediationIsWithdrawn) {
  World w;
  w.AddNodes(10);
  RemediationState s = FinishedState("w01", w.now - 1h, 1);
  s.cordoned_by_us = false;
  w.SetState("w01", s);
  AgentRequest r;
  r.id = "w01-1-1";
  r.action = AgentAction::kReboot;
  r.requested_at = w.now - 2h;
  r.requester = "nodeguard/incident";
  w.SetAnnotation("w01", kAgentRequestAnnotation, EncodeAgentRequest(r));
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), Strings{"Withdraw"});
  EXPECT_FALSE(w.Request("w01").has_value());
  EXPECT_TRUE(Summary(w.StepAndApply(), "w01").empty());
}

TEST(Decide, SucceededAndCancelledWithdrawTheRequest) {
  World w;
  w.AddNodes(10);
  DriveTo(w, Phase::kActionRequested);
  w.SetAgentStatus("w01", w.State("w01")->request_id, AgentState::kDone);
  w.StepAndApply();  // AwaitingRecovery.
  w.SetReady("w01", 0s);
  w.Advance(2min);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), (Strings{"Withdraw", "Uncordon", "WriteState:Succeeded",
                                        "Event:RemediationSucceeded"}));
  EXPECT_FALSE(w.Request("w01").has_value());
  EXPECT_FALSE(w.State("w01")->cordoned_by_us);
}

TEST(Decide, AStaleCordonFlagIsForgottenSoAPersonsLaterCordonIsNotOurs) {
  World w;
  w.AddNodes(10);
  RemediationState s = FinishedState("w01", w.now - 1h, 1, Phase::kFailed);
  w.SetState("w01", s);
  w.Node("w01").unschedulable = false;  // A person uncordoned the failed node.
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), Strings{"WriteState:Failed"});
  EXPECT_FALSE(w.State("w01")->cordoned_by_us);
  w.Node("w01").unschedulable = true;  // Later, a person cordons it again...
  w.SetSick("w01", 10min);             // ...and it falls sick.
  d = w.StepAndApply();
  EXPECT_EQ(HoldOf(d, "w01"), Hold::kCordonedByPerson);
  EXPECT_TRUE(w.Node("w01").unschedulable);
}

TEST(Decide, APendingStateSaysWhyItWaitsWhenTheReasonChanges) {
  World w;
  w.AddNodes(10);
  w.SetState("w01", FinishedState("w01", w.now - 10min, 1));
  w.Node("w01").unschedulable = false;
  RemediationState s = *w.State("w01");
  s.cordoned_by_us = false;
  w.SetState("w01", s);
  w.SetSick("w01", 5min);
  w.StepAndApply();
  EXPECT_EQ(w.State("w01")->hold, "Cooldown");
  // The next steps write nothing although the "... left" text moves.
  w.Advance(1min);
  EXPECT_TRUE(Summary(w.StepAndApply(), "w01").empty());
  // A person cordons it: the reason changes, and the state says so.
  w.Node("w01").unschedulable = true;
  w.Advance(20min);
  PolicyDecision d = w.StepAndApply();
  EXPECT_EQ(Summary(d, "w01"), Strings{"WriteState:Pending"});
  EXPECT_EQ(w.State("w01")->hold, "CordonedByPerson");
  EXPECT_NE(w.State("w01")->message.find("cordoned by someone else"), std::string::npos);
}

TEST(Decide, ASteppedBackRemediationIsNotCountedAsAnAttempt) {
  World w;
  w.AddNodes(10);
  DriveTo(w, Phase::kCordoned);
  w.spec.enabled = false;
  w.SetReady("w01", 0s);
  w.StepAndApply();  // Cancelled (Disabled), uncordoned.
  EXPECT_EQ(w.State("w01")->attempt, 1);
  w.spec.enabled = true;
  w.spec.cooldown = 0s;
  w.SetSick("w01", 10min);
  w.StepAndApply();
  EXPECT_EQ(w.State("w01")->phase, Phase::kCordoned);
  EXPECT_EQ(w.State("w01")->attempt, 1);  // Disabling said nothing about the node.
}

TEST(Decide, HoldsBudgetFollowsTheCordonAndTheFailedHold) {
  World w;
  w.AddNodes(3);
  RemediationState cancelled = FinishedState("w00", w.now - 1min, 1, Phase::kCancelled);
  cancelled.outcome = Outcome::kNotSelected;
  cancelled.cordoned_by_us = true;  // Stepped back from a node still sick.
  w.SetState("w00", cancelled);
  w.Node("w00").unschedulable = true;
  RemediationState failed = FinishedState("w01", w.now - 1h, 1, Phase::kFailed);
  failed.slot_held_until = w.now - 1min;
  w.SetState("w01", failed);
  w.Node("w01").unschedulable = true;
  RemediationState succeeded = FinishedState("w02", w.now - 1h, 1);
  w.SetState("w02", succeeded);
  w.Node("w02").unschedulable = true;
  succeeded.cordoned_by_us = false;
  w.SetState("w02", succeeded);  // A person's cordon after our success.
  const auto obs = w.Observe();
  EXPECT_TRUE(HoldsBudget(obs[0], w.now));   // Our cordon on a cancelled remediation.
  EXPECT_FALSE(HoldsBudget(obs[1], w.now));  // Failed, past slotHeldUntil.
  EXPECT_FALSE(HoldsBudget(obs[2], w.now));  // Not our cordon.
  EXPECT_TRUE(CordonIsOurs(obs[1]));
  EXPECT_FALSE(CordonIsOurs(obs[2]));
}

// ------------------------------------------------------------------ ownership, malformed

TEST(Decide, NodeInAnotherPoliciesRemediationIsNotTouched) {
  World w;
  w.AddNodes(10);
  RemediationState other = FinishedState("w01", w.now, 1);
  other.policy = "other";
  other.phase = Phase::kDraining;
  other.outcome = Outcome::kNone;
  other.finished_at.reset();
  w.SetState("w01", other);
  w.Node("w01").unschedulable = true;
  w.SetSick("w01", 10min);
  w.SetSick("w02", 5min);
  const auto observations = w.Observe();
  EXPECT_EQ(CountHeldByOthers(observations, kPolicy, w.now), 1);
  EXPECT_EQ(CountHeldByOthers(observations, "other", w.now), 0);
  PolicyDecision d = w.Step();
  EXPECT_EQ(HoldOf(d, "w01"), Hold::kOwnedByOtherPolicy);
  EXPECT_TRUE(Summary(d, "w01").empty());
  EXPECT_EQ(d.in_flight, 0);  // Not this policy's slot.
  EXPECT_EQ(Started(d), (Strings{"w02"}));
}

TEST(Decide, MalformedStateIsReportedAndNeverActedOn) {
  World w;
  w.AddNodes(10);
  w.SetAnnotation("w01", kRemediationAnnotation, R"({"phase":"Draining"})");
  w.SetSick("w01", 10min);
  w.Node("w01").unschedulable = true;
  const auto observations = w.Observe();
  PolicyDecision d = w.Step();
  EXPECT_EQ(HoldOf(d, "w01"), Hold::kMalformedState);
  EXPECT_EQ(d.malformed, (Strings{"w01"}));
  EXPECT_TRUE(d.AllIntents().empty());
  // A cordoned node with an unreadable state holds a slot for nobody in particular.
  EXPECT_TRUE(HoldsBudget(observations[1], w.now));
  EXPECT_EQ(BudgetOwner(observations[1]), "");
  EXPECT_EQ(CountHeldByOthers(observations, kPolicy, w.now), 1);
}

TEST(Observe, DecodesAnnotationsAndIgnoresMalformedAgentOnes) {
  World w;
  w.AddNodes(1);
  w.SetAnnotation("w00", kAgentRequestAnnotation, "not json");
  w.SetAgentStatus("w00", "x-1", AgentState::kDone);
  const auto obs = w.Observe();
  ASSERT_EQ(obs.size(), 1u);
  EXPECT_FALSE(obs[0].agent_request.has_value());
  ASSERT_TRUE(obs[0].agent_status.has_value());
  EXPECT_EQ(obs[0].agent_status->id, "x-1");
  EXPECT_FALSE(obs[0].state.has_value());
  EXPECT_TRUE(obs[0].state_error.empty());
}

TEST(Ids, AreDeterministic) {
  EXPECT_EQ(RemediationId("worker-3", WallTime(std::chrono::seconds(1795789899))),
            "worker-3-1795789899");
  EXPECT_EQ(RequestId("worker-3-1795789899", 0), "worker-3-1795789899-1");
  EXPECT_TRUE(IsValidRequestId(RequestId(RemediationId(std::string(253, 'n'), kT0), 3)));
}

// DecodeStateAnnotation reads only the remediation state (the count of nodes
// in flight walks every node); DecodeAnnotations reads the agent's two too.
TEST(DecodeAnnotations, StateOnlyLeavesTheAgentAnnotationsAlone) {
  World w;
  w.AddNodes(2);
  w.SetState("w01", FinishedState("w01", w.now - 1h, 1));
  AgentRequest r;
  r.id = "w01-1-1";
  r.action = AgentAction::kReboot;
  r.requested_at = w.now - 2h;
  r.requester = "nodeguard/incident";
  w.SetAnnotation("w01", kAgentRequestAnnotation, EncodeAgentRequest(r));
  w.SetAgentStatus("w01", "w01-1-1", AgentState::kDone);
  w.SetAnnotation("w00", kRemediationAnnotation, "{not json");

  const NodeAnnotations all = DecodeAnnotations(w.Node("w01"));
  ASSERT_TRUE(all.state.has_value());
  ASSERT_TRUE(all.agent_request.has_value());
  EXPECT_EQ(all.agent_request->id, "w01-1-1");
  ASSERT_TRUE(all.agent_status.has_value());

  const NodeAnnotations state_only = DecodeStateAnnotation(w.Node("w01"));
  ASSERT_TRUE(state_only.state.has_value());
  EXPECT_EQ(state_only.state->phase, all.state->phase);
  EXPECT_FALSE(state_only.agent_request.has_value());
  EXPECT_FALSE(state_only.agent_status.has_value());

  const NodeAnnotations broken = DecodeStateAnnotation(w.Node("w00"));
  EXPECT_FALSE(broken.state.has_value());
  EXPECT_FALSE(broken.state_error.empty());
  EXPECT_EQ(broken.state_error, DecodeAnnotations(w.Node("w00")).state_error);
}

}  // namespace
}  // namespace nodeguard::remediation
