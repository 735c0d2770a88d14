#include "remediation/reconciler.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "agentproto/agent_protocol.h"
#include "api/validate.h"
#include "fakes/api_server.h"
#include "fakes/status_api.h"
#include "reconcile/conditions.h"
#include "remediation/state.h"

using namespace std::chrono_literals;

namespace nodeguard::runtime {
namespace {

using fakes::FakeApiServer;
using fakes::NullStatusApi;
using remediation::DrainObservation;
using remediation::Intent;
using remediation::IntentKind;
using remediation::Phase;
using remediation::RemediationState;

const WallTime kT0 = WallTime(std::chrono::hours(24 * 365 * 56));
constexpr const char* kPleg =
    "PLEG is not healthy: pleg was last seen active 3m7.629592089s ago; threshold is 3m0s";

// ================================================================ pure helpers

RemediationState StateIn(Phase phase) {
  RemediationState s;
  s.id = "w1-1";
  s.policy = "p";
  s.phase = phase;
  s.detected_at = kT0;
  s.phase_since = kT0;
  return s;
}

TEST(PlanExecutionTest, MergesConsecutiveNodePatchesAndKeepsOrder) {
  agentproto::AgentRequest request;
  request.id = "w1-1-1";
  request.action = agentproto::AgentAction::kReboot;
  request.requested_at = kT0;
  const std::vector<Intent> intents = {
      Intent::CancelDrain("w1-1"),
      Intent::Uncordon(),
      Intent::WriteState(StateIn(Phase::kCancelled)),
      Intent::Event(remediation::EventType::kNormal, "RemediationCancelled", "why"),
      Intent::WriteState(StateIn(Phase::kActionRequested)),
      Intent::RequestAgentAction(request),
      Intent::StartDrain("w1-1", std::nullopt),
  };
  const auto steps = PlanExecution(intents);
  ASSERT_EQ(steps.size(), 5u);
  ASSERT_TRUE(steps[0].intent);
  EXPECT_EQ(steps[0].intent->kind, IntentKind::kCancelDrain);
  ASSERT_TRUE(steps[1].patch);
  EXPECT_EQ(steps[1].patch->unschedulable, std::optional<bool>(false));
  EXPECT_EQ(steps[1].patch->annotations.count(remediation::kRemediationAnnotation), 1u);
  ASSERT_EQ(steps[1].states.size(), 1u);
  EXPECT_EQ(steps[1].states[0].phase, Phase::kCancelled);
  ASSERT_TRUE(steps[2].intent);
  EXPECT_EQ(steps[2].intent->kind, IntentKind::kEmitEvent);
  ASSERT_TRUE(steps[3].patch);
  EXPECT_FALSE(steps[3].patch->unschedulable.has_value());
  EXPECT_EQ(steps[3].patch->annotations.at(agentproto::kAgentRequestAnnotation),
            agentproto::EncodeAgentRequest(request));
  ASSERT_TRUE(steps[4].intent);
  EXPECT_EQ(steps[4].intent->kind, IntentKind::kStartDrain);
}

TEST(PlanExecutionTest, CordonAfterStateIsOnePatch) {
  const auto steps =
      PlanExecution({Intent::WriteState(StateIn(Phase::kCordoned)), Intent::Cordon()});
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].patch->unschedulable, std::optional<bool>(true));
}

TEST(EncodeNodePatchTest, CarriesResourceVersionAndOnlyWhatIsSet) {
  NodePatch patch;
  patch.annotations["nodeguard.io/remediation"] = "{\"x\":1}";
  auto doc = nlohmann::json::parse(EncodeNodePatch(patch, "42"));
  EXPECT_EQ(doc["metadata"]["resourceVersion"], "42");
  EXPECT_EQ(doc["metadata"]["annotations"]["nodeguard.io/remediation"], "{\"x\":1}");
  EXPECT_FALSE(doc.contains("spec"));  // Never touches taints or anything else.

  NodePatch cordon;
  cordon.unschedulable = true;
  doc = nlohmann::json::parse(EncodeNodePatch(cordon, "43"));
  EXPECT_EQ(doc["spec"], nlohmann::json({{"unschedulable", true}}));
  EXPECT_FALSE(doc["metadata"].contains("annotations"));
}

TEST(RemediationRelevantChangeTest, HeartbeatsAreNotChanges) {
  kube::Node a;
  a.meta.name = "w1";
  kube::NodeCondition ready;
  ready.type = kube::Symbol::Intern("Ready");
  ready.status = kube::ConditionStatus::kTrue;
  ready.last_transition_time = kT0;
  ready.last_heartbeat_time = kT0;
  a.conditions = {ready};
  kube::Node b = a;
  b.meta.resource_version = "2";
  b.conditions[0].last_heartbeat_time = kT0 + 10s;
  EXPECT_FALSE(RemediationRelevantChange(a, b));

  kube::Node sick = a;
  sick.conditions[0].status = kube::ConditionStatus::kFalse;
  EXPECT_TRUE(RemediationRelevantChange(a, sick));
  kube::Node rebooted = a;
  rebooted.boot_id = "new";
  EXPECT_TRUE(RemediationRelevantChange(a, rebooted));
  kube::Node cordoned = a;
  cordoned.unschedulable = true;
  EXPECT_TRUE(RemediationRelevantChange(a, cordoned));
  kube::Node annotated = a;
  annotated.nodeguard_annotations = {{"nodeguard.io/agent-status", "{}"}};
  EXPECT_TRUE(RemediationRelevantChange(a, annotated));
  kube::Node relabelled = a;
  relabelled.labels = {{"nodeguard.io/exclude", "true"}};
  EXPECT_TRUE(RemediationRelevantChange(a, relabelled));
  kube::Node message = a;
  message.conditions[0].message = "PLEG is not healthy";
  EXPECT_TRUE(RemediationRelevantChange(a, message));
}

TEST(UnhealthyReasonTest, PlegOrTypeEqualsStatus) {
  health::NodeHealth h;
  h.condition.type = kube::Symbol::Intern("Ready");
  h.condition.status = kube::ConditionStatus::kFalse;
  h.pleg.pleg_unhealthy = true;
  EXPECT_EQ(UnhealthyReason(h), "PLEG");
  h.pleg.pleg_unhealthy = false;
  EXPECT_EQ(UnhealthyReason(h), "Ready=False");
  h.condition.status = kube::ConditionStatus::kUnknown;
  EXPECT_EQ(UnhealthyReason(h), "Ready=Unknown");
  h.condition.type = kube::Symbol::Intern("MemoryPressure");
  h.condition.status = kube::ConditionStatus::kTrue;
  h.pleg.pleg_unhealthy = true;  // Only the Ready condition speaks of PLEG.
  EXPECT_EQ(UnhealthyReason(h), "MemoryPressure=True");
}

TEST(ConditionsTest, DegradedNamesWhatNeedsAPerson) {
  remediation::PolicyDecision d;
  auto ok = DegradedCondition(d, 3);
  EXPECT_EQ(ok.type, api::kConditionDegraded);
  EXPECT_EQ(ok.status, kube::ConditionStatus::kFalse);
  EXPECT_EQ(ok.observed_generation, 3);

  d.cordoned_by_person = {"w4"};
  auto person = DegradedCondition(d, 3);
  EXPECT_EQ(person.status, kube::ConditionStatus::kTrue);
  EXPECT_EQ(person.reason, "CordonedByPerson");
  EXPECT_NE(person.message.find("w4"), std::string::npos);

  d.failed = {"w1", "w2"};
  auto failed = DegradedCondition(d, 3);
  EXPECT_EQ(failed.reason, "RemediationFailed");  // The most serious first.
  EXPECT_NE(failed.message.find("w1, w2"), std::string::npos);
  EXPECT_NE(failed.message.find("w4"), std::string::npos);
}

TEST(ConditionsTest, DegradedMessageStaysBoundedAtFleetScale) {
  // A person cordoned 5,000 sick nodes: the message names the first ones,
  // counts the rest, and is as long as it is for 100 such nodes.
  auto message_for = [](int nodes) {
    remediation::PolicyDecision d;
    for (int i = 0; i < nodes; ++i) {
      d.cordoned_by_person.push_back("worker-" + std::to_string(10000 + i));
      d.failed.push_back("failed-" + std::to_string(10000 + i));
    }
    return DegradedCondition(d, 1).message;
  };
  const std::string at_5000 = message_for(5000);
  EXPECT_LT(at_5000.size(), 2500u) << at_5000;
  EXPECT_NE(at_5000.find("worker-10000, worker-10001"), std::string::npos);
  EXPECT_NE(at_5000.find(" more"), std::string::npos);
  EXPECT_EQ(at_5000.find("worker-14999"), std::string::npos);
  EXPECT_LE(at_5000.size(), message_for(100).size() + 4);  // "4950 more" against "50 more".
}

TEST(ConditionsTest, StormConditionFollowsTheDecision) {
  remediation::PolicyDecision d;
  d.selected = 10;
  d.unhealthy = 5;
  d.max_unhealthy = 3;
  d.storm = true;
  d.storm_message = "5 of 10";
  auto storm = StormCondition(d, 1);
  EXPECT_EQ(storm.type, api::kConditionStormDetected);
  EXPECT_EQ(storm.status, kube::ConditionStatus::kTrue);
  EXPECT_EQ(storm.message, "5 of 10");
  d.storm = false;
  d.unhealthy = 2;
  auto calm = StormCondition(d, 1);
  EXPECT_EQ(calm.status, kube::ConditionStatus::kFalse);
  EXPECT_NE(calm.message.find("2 of 10"), std::string::npos);
}

TEST(RecordFinishedTest, NewestFirstDedupedAndBounded) {
  std::vector<api::RemediationStatus> recent;
  for (int i = 0; i < 12; ++i) {
    api::RemediationStatus r;
    r.node = "w" + std::to_string(i);
    r.started_at = kT0 + std::chrono::seconds(i);
    EXPECT_TRUE(RecordFinished(recent, r));
  }
  ASSERT_EQ(recent.size(), api::kMaxRecentRemediations);
  EXPECT_EQ(recent.front().node, "w11");
  api::RemediationStatus again;
  again.node = "w11";
  again.started_at = kT0 + 11s;
  EXPECT_FALSE(RecordFinished(recent, again));
  EXPECT_EQ(recent.size(), api::kMaxRecentRemediations);
}

TEST(NewerResourceVersionTest, NumericWhenPossible) {
  EXPECT_TRUE(NewerResourceVersion("100", "99"));
  EXPECT_FALSE(NewerResourceVersion("99", "100"));
  EXPECT_FALSE(NewerResourceVersion("100", "100"));
  EXPECT_FALSE(NewerResourceVersion("abc", "1"));
  EXPECT_FALSE(NewerResourceVersion("", "1"));
}

TEST(LabelSelectorStringTest, AllOperators) {
  api::LabelSelector s;
  EXPECT_EQ(LabelSelectorString(s), "");
  s.match_labels = {{"app", "web"}, {"tier", "front"}};
  s.match_expressions = {{"env", api::SelectorOperator::kIn, {"a", "b"}},
                         {"zone", api::SelectorOperator::kNotIn, {"z"}},
                         {"canary", api::SelectorOperator::kExists, {}},
                         {"legacy", api::SelectorOperator::kDoesNotExist, {}}};
  EXPECT_EQ(LabelSelectorString(s),
            "app=web,tier=front,env in (a,b),zone notin (z),canary,!legacy");
}

TEST(ClassifyEvictionResponseTest, NamesTheBlockingBudget) {
  kube::HttpResponse r;
  r.status = 429;
  r.body = R"({"kind":"Status","code":429,"reason":"TooManyRequests",
    "message":"Cannot evict pod as it would violate the pod's disruption budget.",
    "details":{"causes":[{"reason":"DisruptionBudget",
      "message":"The disruption budget web-pdb needs 2 healthy pods and has 2 currently"}]}})";
  auto result = ClassifyEvictionResponse(r);
  EXPECT_EQ(result.outcome, remediation::EvictionOutcome::kTooManyRequests);
  EXPECT_EQ(result.pdb_name, "web-pdb");

  r.status = 403;
  r.body = R"({"kind":"Status","code":403,"reason":"Forbidden","message":"ns is terminating",
    "details":{"causes":[{"reason":"NamespaceTerminating","message":"ns is terminating"}]}})";
  EXPECT_EQ(ClassifyEvictionResponse(r).outcome,
            remediation::EvictionOutcome::kNamespaceTerminating);

  r.status = 500;
  r.body = "not json";
  EXPECT_EQ(ClassifyEvictionResponse(r).outcome, remediation::EvictionOutcome::kRetryable);
  r.status = 404;
  r.body = R"({"kind":"Status","code":404,"reason":"NotFound","message":"gone"})";
  EXPECT_EQ(ClassifyEvictionResponse(r).outcome, remediation::EvictionOutcome::kNotFound);
}

// ================================================================ fixtures

class RecordingSink final : public kube::EventSink {
 public:
  Status Create(const kube::EventRecord& e) override {
    std::lock_guard lock(mu_);
    events_.push_back(e);
    return Status::Ok();
  }
  Status Patch(const kube::EventRecord& e) override { return Create(e); }
  // Creates and repeats of `reason` on `object`.
  int Count(const std::string& object, const std::string& reason) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& e : events_) n += e.involved.name == object && e.reason == reason ? 1 : 0;
    return n;
  }
  std::string LastMessage(const std::string& object, const std::string& reason) const {
    std::lock_guard lock(mu_);
    for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
      if (it->involved.name == object && it->reason == reason) return it->message;
    }
    return "";
  }

 private:
  mutable std::mutex mu_;
  std::vector<kube::EventRecord> events_;  // Guarded by mu_.
};

kube::RestOptions NoSleep() {
  kube::RestOptions o;
  o.sleep = [](std::chrono::milliseconds) {};
  return o;
}

// Polls `done` (a drain runs in its own thread) for at most 10 s.
bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 10000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return done();
}

api::NodeHealthPolicySpec RemediatingSpec() {
  api::NodeHealthPolicySpec spec;
  spec.remediation.enabled = true;
  spec.remediation.max_concurrent = 1;
  spec.remediation.max_unhealthy = IntOrPercent::Percent(60);
  spec.remediation.actions = {api::RemediationAction::kReboot};
  spec.remediation.drain.timeout = 10min;
  spec.remediation.action_timeout = 10min;
  spec.remediation.recovery_stable_for = 2min;
  spec.remediation.cooldown = 30min;
  return spec;
}

class RemediationReconcilerTest : public ::testing::Test {
 protected:
  RemediationReconcilerTest() {
    EXPECT_TRUE(kube::AddPodIndexes(pods).ok());
    options.max_concurrent_remediations = 1;
  }

  void AddPolicy(const api::NodeHealthPolicySpec& spec, const std::string& name = "p") {
    PolicyObject p;
    p.meta.name = name;
    p.meta.generation = 1;
    p.meta.resource_version = "1";
    p.meta.creation_timestamp = kT0 - 1h;
    p.policy.meta = p.meta;
    p.policy.spec = spec;
    status.Observe(p.policy);
    policies.Upsert(std::move(p));
  }
  void AddNodes(int n) {
    for (int i = 1; i <= n; ++i) {
      const std::string name = "w" + std::to_string(i);
      server.AddNode(name, kT0 - 1h, "boot-" + name);
    }
  }
  void Sick(const std::string& node) { server.SetReady(node, "False", kPleg, clock.Now() - 10min); }
  void Heal(const std::string& node) {
    server.SetReady(node, "True", "kubelet is posting ready status", clock.Now());
  }
  void Start() {
    Deps deps;
    deps.nodes = &nodes;
    deps.pods = &pods;
    deps.policies = &policies;
    deps.rest = &rest;
    deps.events = &events;
    deps.status = &status;
    deps.metrics = metrics.get();
    deps.clock = &clock;
    deps.options = &options;
    deps.fence = [this]() -> Status {
      if (fenced) return Error::Of(ErrorKind::kUnauthorized, "not the leader");
      return Status::Ok();
    };
    DrainerOptions drain;
    drain.poll_interval = 2ms;
    reconciler = std::make_unique<RemediationReconciler>(deps, nullptr, drain);
  }
  Result<ReconcileResult> Reconcile(const std::string& policy = "p") {
    auto r = reconciler->Reconcile(policy);
    EXPECT_TRUE(events.WaitIdle(5s));
    return r;
  }
  void ReconcileOk(const std::string& policy = "p") {
    auto r = Reconcile(policy);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
  }
  std::optional<RemediationState> State(const std::string& node) const {
    const std::string text = server.Annotation(node, remediation::kRemediationAnnotation);
    if (text.empty()) return std::nullopt;
    auto s = remediation::DecodeState(text);
    EXPECT_TRUE(s.ok());
    return s.ok() ? std::optional<RemediationState>(*s) : std::nullopt;
  }
  std::optional<Phase> PhaseOf(const std::string& node) const {
    auto s = State(node);
    return s ? std::optional<Phase>(s->phase) : std::nullopt;
  }
  // The budget invariant, checked after every step.
  int Disruptive(int n) const {
    int count = 0;
    for (int i = 1; i <= n; ++i) {
      auto s = State("w" + std::to_string(i));
      if (s && remediation::IsDisruptive(s->phase)) ++count;
    }
    return count;
  }
  api::NodeHealthPolicyStatus PolicyStatus(const std::string& policy = "p") const {
    return *status.Desired(policy);
  }
  bool HasMetric(const std::string& line) const {
    return metrics->Render().find(line) != std::string::npos;
  }

  FakeClock clock{kT0};
  kube::Store<kube::Node> nodes;
  kube::Store<kube::Pod> pods;
  kube::Store<PolicyObject> policies;
  FakeApiServer server{nodes, pods};
  kube::RestClient rest{server, NoSleep()};
  RecordingSink sink;
  kube::EventRecorder events{sink, kube::EventRecorderOptions{}, clock};
  NullStatusApi status_api;
  StatusWriter status{status_api, clock, 0ms};
  std::unique_ptr<observe::MetricsRegistry> metrics = std::make_unique<observe::MetricsRegistry>();
  ControllerOptions options;
  bool fenced = false;
  std::unique_ptr<RemediationReconciler> reconciler;  // Last: stops its drains first.
};

// ================================================================ end to end (fake API)

TEST_F(RemediationReconcilerTest, RemediatesOneNodeAtATimeThroughTheWholeLadder) {
  AddNodes(5);
  for (auto n : {"w1", "w2", "w3"}) Sick(n);
  server.AddPod("default", "web-1", "w1");
  server.AddPod("kube-system", "agent-w1", "w1", "DaemonSet");
  server.AddPod("default", "web-2", "w2");
  AddPolicy(RemediatingSpec());
  Start();

  ReconcileOk();  // w1 starts (names break the tie), the others wait.
  EXPECT_EQ(PhaseOf("w1"), Phase::kCordoned);
  EXPECT_TRUE(server.Unschedulable("w1"));
  EXPECT_EQ(PhaseOf("w2"), Phase::kPending);
  EXPECT_EQ(PhaseOf("w3"), Phase::kPending);
  EXPECT_FALSE(server.Unschedulable("w2"));
  EXPECT_FALSE(server.Unschedulable("w3"));
  EXPECT_EQ(Disruptive(5), 1);
  EXPECT_EQ(sink.Count("w1", "RemediationStarted"), 1);
  EXPECT_EQ(sink.Count("w2", "RemediationPending"), 1);
  // Cordoning is spec.unschedulable only, in the same patch as the state.
  const auto patches = server.PatchBodies("w1");
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_EQ(patches[0].find("taints"), std::string::npos);

  ReconcileOk();  // Drain starts.
  EXPECT_EQ(PhaseOf("w1"), Phase::kDraining);
  ASSERT_TRUE(reconciler->drainer().WaitIdle(10s));
  EXPECT_FALSE(server.HasPod("default/web-1"));
  EXPECT_TRUE(server.HasPod("kube-system/agent-w1"));  // DaemonSet pods stay.
  EXPECT_TRUE(server.HasPod("default/web-2"));         // Other nodes untouched.
  EXPECT_EQ(reconciler->drainer().Observe("w1").kind, DrainObservation::kSucceeded);
  ASSERT_TRUE(events.WaitIdle(5s));  // The drain's Events go through the recorder's queue.
  EXPECT_EQ(sink.Count("w1", "EvictingPods"), 1);
  // The drain's success is said once, by the step that moves on (below).
  EXPECT_EQ(sink.Count("w1", "DrainSucceeded"), 0);
  EXPECT_EQ(sink.Count("w1", "Drained"), 0);

  ReconcileOk();  // Reboot requested through the agent protocol.
  ASSERT_TRUE(events.WaitIdle(5s));
  EXPECT_EQ(sink.Count("w1", "Drained"), 1);
  EXPECT_EQ(sink.Count("w1", "DrainSucceeded"), 0);
  auto state = State("w1");
  ASSERT_TRUE(state);
  EXPECT_EQ(state->phase, Phase::kActionRequested);
  EXPECT_EQ(state->boot_id_before, "boot-w1");
  auto request =
      agentproto::DecodeAgentRequest(server.Annotation("w1", agentproto::kAgentRequestAnnotation));
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->action, agentproto::AgentAction::kReboot);
  EXPECT_EQ(request->id, state->request_id);
  EXPECT_EQ(reconciler->drainer().Observe("w1").kind, DrainObservation::kNotRunning);  // Forgotten.
  EXPECT_EQ(Disruptive(5), 1);

  ReconcileOk();  // Nothing new: the request is not sent twice.
  EXPECT_EQ(server.PatchBodies("w1").size(), 3u);

  // The node reboots (new bootID) and comes back Ready.
  clock.Advance(1min);
  server.SetBootId("w1", "boot-w1-2");
  Heal("w1");
  ReconcileOk();
  EXPECT_EQ(PhaseOf("w1"), Phase::kAwaitingRecovery);
  EXPECT_TRUE(server.Unschedulable("w1"));

  clock.Advance(2min + 1s);
  auto verified = Reconcile();
  ASSERT_TRUE(verified.ok());
  EXPECT_EQ(PhaseOf("w1"), Phase::kSucceeded);
  EXPECT_FALSE(server.Unschedulable("w1"));
  EXPECT_EQ(Disruptive(5), 0);
  auto st = PolicyStatus();
  ASSERT_FALSE(st.recent_remediations.empty());
  EXPECT_EQ(st.recent_remediations[0].node, "w1");
  EXPECT_EQ(st.recent_remediations[0].result, api::RemediationResult::kRecovered);
  EXPECT_TRUE(HasMetric(
      R"(nodeguard_remediations_total{policy="p",action="Reboot",result="Recovered"} 1)"));

  ReconcileOk();  // The slot is free: the next node starts.
  EXPECT_EQ(PhaseOf("w2"), Phase::kCordoned);
  EXPECT_TRUE(server.Unschedulable("w2"));
  EXPECT_EQ(PhaseOf("w3"), Phase::kPending);
  EXPECT_EQ(Disruptive(5), 1);
  st = PolicyStatus();
  EXPECT_EQ(st.unhealthy_nodes, 2);
  EXPECT_EQ(st.remediating_nodes, 1);
  ASSERT_EQ(st.remediations.size(), 1u);
  EXPECT_EQ(st.remediations[0].node, "w2");
  EXPECT_TRUE(HasMetric(R"(nodeguard_remediations_in_flight{policy="p"} 1)"));
  EXPECT_TRUE(HasMetric(R"(nodeguard_node_unhealthy{policy="p",node="w2",reason="PLEG"} 1)"));
  EXPECT_FALSE(HasMetric(R"(node="w1")"));  // Healthy nodes have no series.
}

TEST_F(RemediationReconcilerTest, ALaggingInformerNeverDoublesTheBudget) {
  AddNodes(5);
  for (auto n : {"w1", "w2", "w3"}) Sick(n);
  AddPolicy(RemediatingSpec());
  Start();
  server.HoldInformer(true);  // Our writes do not come back through the cache.
  ReconcileOk();
  EXPECT_EQ(PhaseOf("w1"), Phase::kCordoned);
  ReconcileOk();
  EXPECT_EQ(PhaseOf("w1"), Phase::kDraining);  // Progressed from the copy we wrote.
  ASSERT_TRUE(reconciler->drainer().WaitIdle(10s));
  ReconcileOk();
  EXPECT_EQ(PhaseOf("w1"), Phase::kActionRequested);
  EXPECT_EQ(Disruptive(5), 1);
  EXPECT_FALSE(server.Unschedulable("w2"));
  EXPECT_FALSE(server.Unschedulable("w3"));
  server.HoldInformer(false);
  ReconcileOk();
  EXPECT_EQ(Disruptive(5), 1);
}

TEST_F(RemediationReconcilerTest, AConflictIsReportedAsConflictAndNothingIsCordoned) {
  AddNodes(3);
  Sick("w1");
  AddPolicy(RemediatingSpec());
  Start();
  server.FailNodeWrites(409);
  auto r = Reconcile();
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->partial_error.has_value());
  EXPECT_TRUE(r->partial_error->Is(ErrorKind::kConflict));
  EXPECT_EQ(r->requeue_after, 0s);  // At once, on the node read again.
  EXPECT_EQ(server.Count("GET", "/api/v1/nodes/w1"), 1);
  EXPECT_FALSE(server.Unschedulable("w1"));
  EXPECT_EQ(sink.Count("w1", "RemediationStarted"), 0);  // Events only after the write.
  // Conflicts that go on fall back to the backoff of other failures.
  for (int i = 0; i < 2; ++i) EXPECT_EQ(Reconcile()->requeue_after, 0s);
  EXPECT_EQ(Reconcile()->requeue_after, 1s);
  EXPECT_EQ(Reconcile()->requeue_after, 2s);
  server.FailNodeWrites(0);
  ReconcileOk();
  EXPECT_TRUE(server.Unschedulable("w1"));
}

// A kubelet changes its Node every 10 s while PLEG is not healthy; under load
// the informer's copy is stale when the cordon is sent. The 409 makes the
// reconciler read the node again, and the next step (at once) cordons on that
// copy, while the informer still lags.
TEST_F(RemediationReconcilerTest,
       AConflictReadsTheNodeAgainAndTheNextStepCordonsWithoutTheInformer) {
  AddNodes(3);
  Sick("w1");
  AddPolicy(RemediatingSpec());
  Start();
  server.HoldInformer(true);
  server.SetAnnotation("w1", "example.com/heartbeat", "1");  // Newer than the cache.
  auto r = Reconcile();
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->partial_error.has_value());
  EXPECT_TRUE(r->partial_error->Is(ErrorKind::kConflict));
  EXPECT_EQ(r->requeue_after, 0s);
  EXPECT_FALSE(server.Unschedulable("w1"));
  ReconcileOk();
  EXPECT_TRUE(server.Unschedulable("w1"));
  EXPECT_EQ(PhaseOf("w1"), Phase::kCordoned);
  EXPECT_EQ(sink.Count("w1", "RemediationStarted"), 1);
  EXPECT_EQ(Disruptive(3), 1);
}

TEST_F(RemediationReconcilerTest, FencedReplicaWritesNothing) {
  AddNodes(3);
  Sick("w1");
  AddPolicy(RemediatingSpec());
  Start();
  fenced = true;
  auto r = Reconcile();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->partial_error.has_value());
  EXPECT_EQ(server.Count("PATCH", "/api/v1/nodes"), 0);
}

TEST_F(RemediationReconcilerTest, DryRunDecidesReportsOnceAndChangesNothing) {
  AddNodes(5);
  Sick("w1");
  Sick("w2");
  server.AddPod("default", "web-1", "w1");
  auto spec = RemediatingSpec();
  spec.dry_run = true;
  AddPolicy(spec);
  Start();
  ReconcileOk();
  auto first = PolicyStatus();
  ASSERT_EQ(first.remediations.size(), 1u);
  EXPECT_EQ(first.remediations[0].node, "w1");
  clock.Advance(30s);
  ReconcileOk();
  ReconcileOk();
  auto later = PolicyStatus();
  ASSERT_EQ(later.remediations.size(), 1u);
  EXPECT_EQ(later.remediations[0].started_at, first.remediations[0].started_at);
  EXPECT_EQ(later.unhealthy_nodes, 2);
  EXPECT_EQ(server.Count("PATCH", "/api/v1/nodes"), 0);
  EXPECT_EQ(server.Count("POST", "/api/v1/namespaces"), 0);
  EXPECT_EQ(server.Count("GET", "/api/v1/pods"), 0);
  EXPECT_FALSE(server.Unschedulable("w1"));
  EXPECT_TRUE(server.HasPod("default/web-1"));
  EXPECT_EQ(sink.Count("w1", "RemediationStarted"), 1);
  EXPECT_EQ(sink.Count("w2", "RemediationPending"), 1);
  EXPECT_NE(sink.LastMessage("w1", "RemediationStarted").find("dry run"), std::string::npos);
}

TEST_F(RemediationReconcilerTest, DryRunReportsTheWholeLadderItWouldRun) {
  AddNodes(3);
  Sick("w1");
  auto spec = RemediatingSpec();
  spec.remediation.actions = {api::RemediationAction::kRestartContainerRuntime,
                              api::RemediationAction::kRestartKubelet,
                              api::RemediationAction::kReboot};
  spec.dry_run = true;
  AddPolicy(spec);
  Start();
  ReconcileOk();
  clock.Advance(30s);
  ReconcileOk();  // Nothing was executed: the same start is decided again.
  const std::string ladder =
      "would cordon -> drain (timeout 10m0s) -> RestartContainerRuntime -> RestartKubelet -> "
      "Reboot -> uncordon once Ready for 2m0s";
  // The Event, once.
  ASSERT_TRUE(events.WaitIdle(5s));
  EXPECT_EQ(sink.Count("w1", "RemediationStarted"), 1);
  const std::string event = sink.LastMessage("w1", "RemediationStarted");
  EXPECT_EQ(event.rfind("dry run, nothing done: ", 0), 0u) << event;
  EXPECT_NE(event.find(ladder), std::string::npos) << event;
  // The status.
  const auto st = PolicyStatus();
  ASSERT_EQ(st.remediations.size(), 1u);
  EXPECT_NE(st.remediations[0].message.find(ladder), std::string::npos)
      << st.remediations[0].message;
  EXPECT_EQ(st.remediations[0].message.rfind("dry run, nothing done: ", 0), 0u);
  EXPECT_EQ(server.Count("PATCH", "/api/v1/nodes"), 0);
}

TEST_F(RemediationReconcilerTest, OutsideDryRunTheStartSaysNoLadder) {
  AddNodes(3);
  Sick("w1");
  AddPolicy(RemediatingSpec());
  Start();
  ReconcileOk();
  ASSERT_TRUE(events.WaitIdle(5s));
  EXPECT_EQ(sink.LastMessage("w1", "RemediationStarted").find("would "), std::string::npos);
  const auto st = PolicyStatus();
  ASSERT_EQ(st.remediations.size(), 1u);
  EXPECT_EQ(st.remediations[0].message, "cordoned");
}

// A policy that bypassed admission is reported by PolicyReconciler and never
// acted on: no cordon, no remediation state, no Event, nothing in status.
TEST_F(RemediationReconcilerTest, AnInvalidPolicyIsNotActedOn) {
  AddNodes(3);
  Sick("w1");
  server.AddPod("default", "web-1", "w1");
  auto spec = RemediatingSpec();
  spec.remediation.max_concurrent = 0;  // The API server rejects it; Validate does too.
  AddPolicy(spec);
  PolicyObject invalid = *policies.Get("", "p");
  invalid.errors = api::Validate(invalid.policy.spec);
  ASSERT_FALSE(invalid.valid());
  policies.Upsert(invalid);
  Start();
  ReconcileOk();
  clock.Advance(30min);
  ReconcileOk();
  EXPECT_EQ(server.Count("PATCH", "/api/v1/nodes"), 0);
  EXPECT_EQ(server.Count("GET", "/api/v1/pods"), 0);
  EXPECT_FALSE(server.Unschedulable("w1"));
  EXPECT_FALSE(State("w1").has_value());
  EXPECT_EQ(sink.Count("w1", "RemediationStarted"), 0);
  EXPECT_TRUE(PolicyStatus().remediations.empty());
  EXPECT_EQ(reconciler->NodesInFlight(invalid), 0);
}

TEST_F(RemediationReconcilerTest, GlobalDryRunFlagWinsOverThePolicy) {
  AddNodes(3);
  Sick("w1");
  AddPolicy(RemediatingSpec());
  options.dry_run = true;
  Start();
  ReconcileOk();
  EXPECT_EQ(server.Count("PATCH", "/api/v1/nodes"), 0);
  EXPECT_EQ(PolicyStatus().remediations.size(), 1u);
}

TEST_F(RemediationReconcilerTest, StormStartsNothingThenResumes) {
  AddNodes(5);
  for (auto n : {"w1", "w2", "w3"}) Sick(n);
  auto spec = RemediatingSpec();
  spec.remediation.max_unhealthy = IntOrPercent::Percent(40);  // 2 of 5.
  AddPolicy(spec);
  Start();
  ReconcileOk();
  ReconcileOk();
  EXPECT_EQ(server.Count("PATCH", "/api/v1/nodes"), 0);
  auto st = PolicyStatus();
  const api::Condition* storm = FindCondition(st.conditions, api::kConditionStormDetected);
  ASSERT_NE(storm, nullptr);
  EXPECT_EQ(storm->status, kube::ConditionStatus::kTrue);
  EXPECT_TRUE(HasMetric(R"(nodeguard_storm_detected{policy="p"} 1)"));
  EXPECT_EQ(sink.Count("p", "StormDetected"), 1);

  Heal("w3");
  ReconcileOk();
  st = PolicyStatus();
  EXPECT_EQ(FindCondition(st.conditions, api::kConditionStormDetected)->status,
            kube::ConditionStatus::kFalse);
  EXPECT_EQ(sink.Count("p", "StormCleared"), 1);
  EXPECT_EQ(PhaseOf("w1"), Phase::kCordoned);
  EXPECT_EQ(Disruptive(5), 1);
  EXPECT_TRUE(HasMetric(R"(nodeguard_storm_detected{policy="p"} 0)"));
}

TEST_F(RemediationReconcilerTest, TheGlobalCapCountsOtherPoliciesSlots) {
  AddNodes(4);
  Sick("w1");
  // w4 is being remediated by another policy (still cordoned, in flight).
  RemediationState other = StateIn(Phase::kDraining);
  other.id = "w4-1";
  other.policy = "other";
  other.started_at = kT0;
  other.cordoned_by_us = true;
  server.SetAnnotation("w4", remediation::kRemediationAnnotation, remediation::EncodeState(other));
  server.SetUnschedulable("w4", true);
  AddPolicy(RemediatingSpec());
  auto other_spec = RemediatingSpec();
  other_spec.node_selector.match_labels = {{"pool", "gpu"}};  // Governs none of these nodes now.
  AddPolicy(other_spec, "other");
  Start();
  ReconcileOk();
  EXPECT_FALSE(server.Unschedulable("w1"));
  EXPECT_EQ(PhaseOf("w1"), Phase::kPending);
  EXPECT_NE(State("w1")->message.find("overall"), std::string::npos);
  EXPECT_EQ(PhaseOf("w4"), Phase::kDraining);  // Not ours: untouched.
}

TEST_F(RemediationReconcilerTest, APersonsCordonIsLeftAloneAndReported) {
  AddNodes(4);
  server.SetUnschedulable("w2", true);
  Sick("w2");
  AddPolicy(RemediatingSpec());
  Start();
  ReconcileOk();
  ReconcileOk();
  EXPECT_EQ(PhaseOf("w2"), Phase::kPending);
  EXPECT_TRUE(server.Unschedulable("w2"));
  const auto st = PolicyStatus();
  const api::Condition* degraded = FindCondition(st.conditions, api::kConditionDegraded);
  ASSERT_NE(degraded, nullptr);
  EXPECT_EQ(degraded->status, kube::ConditionStatus::kTrue);
  EXPECT_EQ(degraded->reason, "CordonedByPerson");
  EXPECT_EQ(reconciler->drainer().NodesOf("p").size(), 0u);

  // The person uncordons the healthy node later: nodeguard still never touched the cordon.
  Heal("w2");
  server.SetUnschedulable("w2", false);
  ReconcileOk();
  EXPECT_EQ(PhaseOf("w2"), Phase::kCancelled);
  for (const auto& body : server.PatchBodies("w2")) {
    EXPECT_EQ(body.find("unschedulable"), std::string::npos) << body;
  }
}

TEST_F(RemediationReconcilerTest, ANodeThatHealsWhileWaitingIsCancelledNeverCordoned) {
  AddNodes(5);
  Sick("w1");
  Sick("w2");
  AddPolicy(RemediatingSpec());
  Start();
  ReconcileOk();
  EXPECT_EQ(PhaseOf("w2"), Phase::kPending);
  Heal("w2");
  ReconcileOk();
  EXPECT_EQ(PhaseOf("w2"), Phase::kCancelled);
  EXPECT_FALSE(server.Unschedulable("w2"));
  for (const auto& body : server.PatchBodies("w2")) {
    EXPECT_EQ(body.find("unschedulable"), std::string::npos) << body;
  }
  EXPECT_EQ(sink.Count("w2", "RemediationCancelled"), 1);
}

TEST_F(RemediationReconcilerTest, ABlockedDrainTimesOutFailsAndHoldsTheSlot) {
  AddNodes(5);
  Sick("w1");
  Sick("w2");
  server.AddPod("default", "web-1", "w1");
  server.BlockEviction("default/web-1", "web-pdb");
  AddPolicy(RemediatingSpec());
  Start();
  ReconcileOk();
  ReconcileOk();
  ASSERT_EQ(PhaseOf("w1"), Phase::kDraining);
  ASSERT_TRUE(Eventually([&] {
    events.WaitIdle(1s);
    return sink.Count("w1", "EvictionBlocked") > 0;
  }));
  EXPECT_NE(sink.LastMessage("w1", "EvictionBlocked").find("web-pdb"), std::string::npos);
  // Retries (every 5 s) never produce a second blocked Event for the pod.
  clock.Advance(6s);
  ASSERT_TRUE(Eventually([&] { return server.Count("POST", "/api/v1/namespaces/default") >= 2; }));
  ASSERT_TRUE(events.WaitIdle(5s));
  EXPECT_EQ(sink.Count("w1", "EvictionBlocked"), 1);

  clock.Advance(10min);
  ASSERT_TRUE(reconciler->drainer().WaitIdle(10s));
  EXPECT_EQ(reconciler->drainer().Observe("w1").kind, DrainObservation::kTimedOut);
  ReconcileOk();
  auto state = State("w1");
  ASSERT_TRUE(state);
  EXPECT_EQ(state->phase, Phase::kFailed);
  EXPECT_EQ(state->outcome, remediation::Outcome::kDrainTimedOut);
  EXPECT_NE(state->message.find("web-pdb"), std::string::npos);
  EXPECT_TRUE(server.Unschedulable("w1"));  // Left cordoned for a person.
  EXPECT_TRUE(server.HasPod("default/web-1"));
  ReconcileOk();
  EXPECT_EQ(PhaseOf("w2"), Phase::kPending);  // The failed node still holds the slot.
  EXPECT_FALSE(server.Unschedulable("w2"));
  auto st = PolicyStatus();
  EXPECT_EQ(FindCondition(st.conditions, api::kConditionDegraded)->reason, "RemediationFailed");
  ASSERT_FALSE(st.recent_remediations.empty());
  EXPECT_EQ(st.recent_remediations[0].result, api::RemediationResult::kTimedOut);
  EXPECT_TRUE(
      HasMetric(R"(nodeguard_remediations_total{policy="p",action="None",result="TimedOut"} 1)"));
}

TEST_F(RemediationReconcilerTest, ARestartResumesTheDrainWithoutASecondCordonOrRequest) {
  AddNodes(3);
  Sick("w1");
  server.AddPod("default", "web-1", "w1");
  server.BlockEviction("default/web-1", "web-pdb");
  AddPolicy(RemediatingSpec());
  Start();
  ReconcileOk();
  ReconcileOk();
  ASSERT_EQ(PhaseOf("w1"), Phase::kDraining);
  const auto started = State("w1")->phase_since;
  const size_t patches = server.PatchBodies("w1").size();

  reconciler.reset();  // The process dies mid-drain.
  metrics = std::make_unique<observe::MetricsRegistry>();
  Start();
  server.UnblockEviction("default/web-1");
  ReconcileOk();  // kNotRunning -> StartDrain again, same remediation.
  ASSERT_TRUE(reconciler->drainer().WaitIdle(10s));
  EXPECT_FALSE(server.HasPod("default/web-1"));
  EXPECT_EQ(server.PatchBodies("w1").size(), patches);  // Resuming writes nothing.
  EXPECT_EQ(State("w1")->phase_since, started);
  ReconcileOk();
  EXPECT_EQ(PhaseOf("w1"), Phase::kActionRequested);
}

TEST_F(RemediationReconcilerTest, ADeletedPolicyWindsItsRemediationsDownBeforeItsFinalizerGoes) {
  AddNodes(3);
  Sick("w1");
  server.AddPod("default", "web-1", "w1");
  server.BlockEviction("default/web-1", "web-pdb");
  AddPolicy(RemediatingSpec());
  Start();
  ReconcileOk();
  ReconcileOk();
  ASSERT_EQ(PhaseOf("w1"), Phase::kDraining);
  auto policy = *policies.Get("", "p");
  EXPECT_EQ(reconciler->NodesInFlight(policy), 1);

  policy.meta.deletion_timestamp = clock.Now();  // Deleted; the finalizer holds it.
  policy.policy.meta = policy.meta;
  policies.Upsert(policy);
  ReconcileOk();
  auto state = State("w1");
  ASSERT_TRUE(state);
  EXPECT_EQ(state->phase, Phase::kCancelled);
  EXPECT_EQ(state->outcome, remediation::Outcome::kPolicyDeleted);
  EXPECT_TRUE(server.Unschedulable("w1"));  // Still sick: never uncordoned unhealthy.
  EXPECT_EQ(reconciler->drainer().Observe("w1").kind, DrainObservation::kNotRunning);
  // Our cordon is still on: the finalizer waits for the node to heal.
  EXPECT_EQ(reconciler->NodesInFlight(*policies.Get("", "p")), 1);
  Heal("w1");
  ReconcileOk();
  EXPECT_FALSE(server.Unschedulable("w1"));
  EXPECT_EQ(sink.Count("w1", "CordonLifted"), 1);
  EXPECT_EQ(reconciler->NodesInFlight(*policies.Get("", "p")), 0);
}

TEST_F(RemediationReconcilerTest, ADeletedPolicyHandsItsRemediationToThePolicyThatGovernsNext) {
  AddNodes(3);
  Sick("w1");
  server.AddPod("default", "web-1", "w1");
  server.BlockEviction("default/web-1", "web-pdb");
  AddPolicy(RemediatingSpec(), "p");
  Start();
  ReconcileOk("p");
  ReconcileOk("p");
  ASSERT_EQ(PhaseOf("w1"), Phase::kDraining);
  AddPolicy(RemediatingSpec(), "q");  // Newer: governs nothing while p exists.
  auto policy = *policies.Get("", "p");
  policy.meta.deletion_timestamp = clock.Now();
  policy.policy.meta = policy.meta;
  policies.Upsert(policy);
  ReconcileOk("p");
  EXPECT_EQ(State("w1")->policy, "q");
  EXPECT_EQ(PhaseOf("w1"), Phase::kDraining);
  EXPECT_TRUE(server.Unschedulable("w1"));
  EXPECT_EQ(sink.Count("w1", "RemediationHandedOver"), 1);
  EXPECT_EQ(reconciler->NodesInFlight(*policies.Get("", "p")), 0);  // The finalizer may go.
  server.UnblockEviction("default/web-1");
  ReconcileOk("q");  // q resumes the drain under its name.
  ASSERT_TRUE(reconciler->drainer().WaitIdle(10s));
  ReconcileOk("q");
  EXPECT_EQ(PhaseOf("w1"), Phase::kActionRequested);
  EXPECT_EQ(State("w1")->policy, "q");
}

TEST_F(RemediationReconcilerTest, AnInvalidPolicyBeingDeletedStillWindsDown) {
  AddNodes(3);
  Sick("w1");
  server.AddPod("default", "web-1", "w1");
  server.BlockEviction("default/web-1", "web-pdb");
  AddPolicy(RemediatingSpec());
  Start();
  ReconcileOk();
  ReconcileOk();
  ASSERT_EQ(PhaseOf("w1"), Phase::kDraining);
  PolicyObject invalid = *policies.Get("", "p");
  invalid.policy.spec.remediation.max_concurrent = 0;
  invalid.errors = api::Validate(invalid.policy.spec);
  ASSERT_FALSE(invalid.valid());
  policies.Upsert(invalid);
  ReconcileOk();  // Invalid: frozen, never acted on...
  EXPECT_EQ(PhaseOf("w1"), Phase::kDraining);
  EXPECT_EQ(reconciler->NodesInFlight(invalid), 1);  // ...but still counted.
  invalid.meta.deletion_timestamp = clock.Now();
  invalid.policy.meta = invalid.meta;
  policies.Upsert(invalid);
  ReconcileOk();  // Being deleted: wound down.
  EXPECT_EQ(PhaseOf("w1"), Phase::kCancelled);
  EXPECT_TRUE(server.Unschedulable("w1"));
  Heal("w1");
  ReconcileOk();
  EXPECT_FALSE(server.Unschedulable("w1"));
  EXPECT_EQ(reconciler->NodesInFlight(*policies.Get("", "p")), 0);
}

TEST_F(RemediationReconcilerTest, ADryRunPolicyBeingDeletedStillLiftsItsRealCordon) {
  AddNodes(3);
  Sick("w1");
  server.AddPod("default", "web-1", "w1");
  server.BlockEviction("default/web-1", "web-pdb");
  AddPolicy(RemediatingSpec());
  Start();
  ReconcileOk();
  ReconcileOk();
  ASSERT_EQ(PhaseOf("w1"), Phase::kDraining);
  auto policy = *policies.Get("", "p");
  policy.policy.spec.dry_run = true;  // Switched to dry run mid-remediation: frozen.
  policies.Upsert(policy);
  ReconcileOk();
  EXPECT_EQ(PhaseOf("w1"), Phase::kDraining);
  EXPECT_TRUE(server.Unschedulable("w1"));
  policy.meta.deletion_timestamp = clock.Now();
  policy.policy.meta = policy.meta;
  policies.Upsert(policy);
  Heal("w1");
  ReconcileOk();
  EXPECT_EQ(PhaseOf("w1"), Phase::kCancelled);
  EXPECT_FALSE(server.Unschedulable("w1"));
  EXPECT_EQ(reconciler->NodesInFlight(*policies.Get("", "p")), 0);
}

TEST_F(RemediationReconcilerTest, AnOrphanedRemediationIsAdoptedByTheGoverningPolicy) {
  AddNodes(3);
  Sick("w1");
  RemediationState orphan;
  orphan.id = "w1-1";
  orphan.policy = "deleted-by-force";
  orphan.phase = Phase::kCordoned;
  orphan.attempt = 1;
  orphan.detected_at = clock.Now() - 5min;
  orphan.started_at = clock.Now() - 5min;
  orphan.phase_since = clock.Now() - 5min;
  orphan.cordoned_by_us = true;
  server.SetAnnotation("w1", remediation::kRemediationAnnotation, remediation::EncodeState(orphan));
  server.SetUnschedulable("w1", true);
  Sick("w2");
  AddPolicy(RemediatingSpec());
  Start();
  ReconcileOk();
  EXPECT_EQ(State("w1")->policy, "p");
  EXPECT_EQ(PhaseOf("w1"), Phase::kDraining);
  EXPECT_EQ(sink.Count("w1", "RemediationAdopted"), 1);
  EXPECT_EQ(Disruptive(3), 1);  // w2 waits: the adopted one holds the slot.
}

TEST_F(RemediationReconcilerTest, OnASickNodeWhosePodsNeverTerminateTheLadderStillRuns) {
  AddNodes(3);
  Sick("w1");
  Sick("w2");
  server.AddPod("default", "web-1", "w1");
  server.StallDeletions(true);   // PLEG not healthy: the kubelet never finalizes deletions.
  AddPolicy(RemediatingSpec());  // notReadySkipWaitForDeleteTimeout: the default 30s.
  Start();
  ReconcileOk();
  ReconcileOk();
  ASSERT_EQ(PhaseOf("w1"), Phase::kDraining);
  // Time passes (1 s per look) until the drain stops waiting for the pod.
  ASSERT_TRUE(Eventually([&] {
    clock.Advance(1s);
    return reconciler->drainer().Observe("w1").kind == DrainObservation::kSucceeded;
  }));
  EXPECT_GE(clock.Now() - kT0, 30s);
  EXPECT_TRUE(server.HasPod("default/web-1"));  // Still terminating; the kubelet finishes it later.
  ReconcileOk();
  EXPECT_EQ(PhaseOf("w1"), Phase::kActionRequested);
  EXPECT_FALSE(server.Annotation("w1", agentproto::kAgentRequestAnnotation).empty());
  ASSERT_TRUE(events.WaitIdle(5s));
  // The one Event of the drain's success carries its summary.
  EXPECT_NE(sink.LastMessage("w1", "Drained").find("not Ready"), std::string::npos);
  EXPECT_EQ(sink.Count("w1", "Drained"), 1);
  EXPECT_EQ(sink.Count("w1", "DrainSucceeded"), 0);
  EXPECT_EQ(PhaseOf("w2"), Phase::kPending);  // Still one at a time.
}

TEST_F(RemediationReconcilerTest, AFailedWriteOnOneNodeDoesNotBackOffTheWholePolicy) {
  AddNodes(3);
  Sick("w1");
  AddPolicy(RemediatingSpec());
  Start();
  server.FailNodeWrites(500);
  for (int i = 1; i <= 8; ++i) {
    auto r = Reconcile();
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(r->partial_error.has_value());
    EXPECT_LE(*r->requeue_after, 1min);  // 1s, 2s, ... capped.
  }
  server.FailNodeWrites(0);
  auto r = Reconcile();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->partial_error.has_value());
  EXPECT_TRUE(server.Unschedulable("w1"));
}

// ================================================================ annotation cache

// A started, unfinished state DecodeState accepts (StateIn lacks startedAt).
std::string StateText(Phase phase) {
  RemediationState s = StateIn(phase);
  s.started_at = kT0;
  return remediation::EncodeState(s);
}

kube::Node Annotated(const std::string& name, const std::string& resource_version,
                     const std::string& state_text) {
  kube::Node n;
  n.meta.name = name;
  n.meta.resource_version = resource_version;
  if (!state_text.empty()) {
    n.nodeguard_annotations = {{remediation::kRemediationAnnotation, state_text}};
  }
  return n;
}

TEST(NodeAnnotationCacheTest, DecodesANodeAgainOnlyWhenItsResourceVersionChanged) {
  NodeAnnotationCache cache;
  const auto first = cache.Get(Annotated("w1", "1", StateText(Phase::kCordoned)));
  ASSERT_TRUE(first->state) << first->state_error;
  EXPECT_EQ(first->state->phase, Phase::kCordoned);
  EXPECT_EQ(cache.decodes(), 1u);
  // The same version again: the decoded copy, no decoding.
  const auto again = cache.Get(Annotated("w1", "1", StateText(Phase::kCordoned)));
  EXPECT_EQ(again.get(), first.get());
  EXPECT_EQ(cache.decodes(), 1u);
  // A new version is decoded again, whatever changed.
  const auto draining = cache.Get(Annotated("w1", "2", StateText(Phase::kDraining)));
  ASSERT_TRUE(draining->state);
  EXPECT_EQ(draining->state->phase, Phase::kDraining);
  EXPECT_EQ(first->state->phase, Phase::kCordoned);  // A caller's copy stays as it was.
  const auto malformed = cache.Get(Annotated("w1", "3", "{not json"));
  EXPECT_FALSE(malformed->state);
  EXPECT_FALSE(malformed->state_error.empty());
  const auto removed = cache.Get(Annotated("w1", "4", ""));
  EXPECT_FALSE(removed->state);
  EXPECT_TRUE(removed->state_error.empty());
  EXPECT_EQ(cache.decodes(), 4u);
  // Another node of the same version is another entry.
  const auto other = cache.Get(Annotated("w2", "4", StateText(Phase::kCordoned)));
  ASSERT_TRUE(other->state) << other->state_error;
  EXPECT_EQ(other->state->phase, Phase::kCordoned);
  EXPECT_EQ(cache.size(), 2u);
}

TEST(NodeAnnotationCacheTest, ANodeWithoutResourceVersionIsDecodedEveryTime) {
  NodeAnnotationCache cache;
  cache.Get(Annotated("w1", "", StateText(Phase::kCordoned)));
  const auto second = cache.Get(Annotated("w1", "", StateText(Phase::kDraining)));
  ASSERT_TRUE(second->state);
  EXPECT_EQ(second->state->phase, Phase::kDraining);
  EXPECT_EQ(cache.decodes(), 2u);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(NodeAnnotationCacheTest, RetainDropsDeletedNodes) {
  NodeAnnotationCache cache;
  const std::string state = StateText(Phase::kCordoned);
  NodesByName listed;
  for (const char* name : {"w1", "w2", "w3"}) {
    auto node = std::make_shared<const kube::Node>(Annotated(name, "7", state));
    cache.Get(*node);
    listed.emplace(node->meta.name, node);
  }
  cache.Retain(listed);
  EXPECT_EQ(cache.size(), 3u);
  listed.erase(std::string_view("w2"));  // Deleted.
  cache.Retain(listed);
  EXPECT_EQ(cache.size(), 2u);
  // A node of that name created again (same version string even) is decoded anew.
  cache.Get(Annotated("w2", "7", state));
  EXPECT_EQ(cache.decodes(), 4u);
}

TEST_F(RemediationReconcilerTest, ANodeEventDecodesOnlyTheNodeThatChanged) {
  AddNodes(20);
  AddPolicy(RemediatingSpec());
  Start();
  ReconcileOk();
  EXPECT_EQ(reconciler->AnnotationDecodes(), 20u);
  ReconcileOk();  // Nothing changed.
  EXPECT_EQ(reconciler->AnnotationDecodes(), 20u);
  agentproto::AgentStatus agent;
  agent.id = "w7-1-1";
  agent.state = agentproto::AgentState::kDone;
  server.SetAnnotation("w7", agentproto::kAgentStatusAnnotation,
                       agentproto::EncodeAgentStatus(agent));
  ReconcileOk();
  EXPECT_EQ(reconciler->AnnotationDecodes(), 21u);

  // A deleted node is forgotten; one created again under its name is decoded.
  nodes.Erase("", "w20");
  ReconcileOk();
  EXPECT_EQ(reconciler->AnnotationDecodes(), 21u);
  server.AddNode("w20", kT0 - 1h, "boot-w20-new");
  ReconcileOk();
  EXPECT_EQ(reconciler->AnnotationDecodes(), 22u);

  // Our own write is seen at once (a new version), not the decoded old one.
  Sick("w3");
  ReconcileOk();
  EXPECT_EQ(PhaseOf("w3"), Phase::kCordoned);
  ReconcileOk();
  EXPECT_EQ(PhaseOf("w3"), Phase::kDraining);
  EXPECT_EQ(Disruptive(20), 1);
  EXPECT_LE(reconciler->AnnotationDecodes(), 26u);  // w3's versions only.
}

TEST_F(RemediationReconcilerTest, DecodedStatesFollowAPolicyChange) {
  // The cache holds what the annotations say, nothing of the policy: after the
  // policy that owns a remediation is replaced, the new one adopts it from the
  // decoded state it kept.
  AddNodes(5);
  Sick("w1");
  AddPolicy(RemediatingSpec(), "p");
  Start();
  ReconcileOk("p");
  ASSERT_EQ(PhaseOf("w1"), Phase::kCordoned);
  EXPECT_EQ(State("w1")->policy, "p");
  const uint64_t before = reconciler->AnnotationDecodes();
  policies.Erase("", "p");  // Gone without winding down (finalizer removed by force).
  AddPolicy(RemediatingSpec(), "q");
  ReconcileOk("q");
  EXPECT_EQ(State("w1")->policy, "q");
  EXPECT_EQ(sink.Count("w1", "RemediationAdopted"), 1);
  EXPECT_EQ(Disruptive(5), 1);
  // Only w1, which was written, was decoded again (its cordon's and q's versions).
  EXPECT_LE(reconciler->AnnotationDecodes(), before + 2);
}

// ================================================================ DrainRun (no threads)

class DrainRunTest : public ::testing::Test {
 protected:
  DrainRunTest() {
    EXPECT_TRUE(kube::AddPodIndexes(pods).ok());
    server.AddNode("w1", kT0 - 1h, "b");
  }
  DrainJob Job(std::optional<WallTime> deadline = std::nullopt) {
    DrainJob job;
    job.policy = "p";
    job.node = "w1";
    job.remediation_id = "w1-1";
    job.deadline = deadline;
    job.spec.timeout = 10min;
    job.event = [this](kube::EventType, std::string reason, std::string message) {
      events.emplace_back(reason, message);
    };
    return job;
  }
  int EventCount(const std::string& reason) const {
    int n = 0;
    for (const auto& [r, _] : events) n += r == reason ? 1 : 0;
    return n;
  }

  FakeClock clock{kT0};
  kube::Store<kube::Node> nodes;
  kube::Store<kube::Pod> pods;
  FakeApiServer server{nodes, pods};
  kube::RestClient rest{server, NoSleep()};
  RestDrainApi api{rest, &pods, &nodes};
  DrainerOptions options;
  std::vector<std::pair<std::string, std::string>> events;
};

TEST_F(DrainRunTest, AFilterErrorAbortsBeforeAnyEviction) {
  server.AddPod("default", "web-1", "w1");
  server.AddPod("default", "bare", "w1", "");  // No controller, force is false.
  DrainRun run(Job(kT0 + 10min), api, clock, options);
  auto tick = run.Step();
  EXPECT_EQ(tick.kind, DrainObservation::kFailed);
  EXPECT_NE(tick.message.find("default/bare"), std::string::npos);
  EXPECT_EQ(server.Count("POST", "/api/v1/namespaces"), 0);
  EXPECT_TRUE(server.HasPod("default/web-1"));
  EXPECT_EQ(EventCount("DrainFailed"), 1);
  EXPECT_EQ(run.Step().kind, DrainObservation::kFailed);  // Stays finished.
}

TEST_F(DrainRunTest, EvictsOnlyWhatKubectlWouldAndWaitsForDeletion) {
  server.AddPod("default", "web-1", "w1");
  server.AddPod("default", "web-2", "w1", "StatefulSet");
  server.AddPod("kube-system", "ds", "w1", "DaemonSet");
  server.AddPod("default", "elsewhere", "w2");
  DrainRun run(Job(kT0 + 10min), api, clock, options);
  auto tick = run.Step();
  EXPECT_EQ(tick.kind, DrainObservation::kRunning);
  EXPECT_EQ(EventCount("EvictingPods"), 1);
  EXPECT_EQ(server.Count("POST", "/api/v1/namespaces"), 2);
  tick = run.Step();
  EXPECT_EQ(tick.kind, DrainObservation::kSucceeded);
  EXPECT_EQ(tick.message, "drained 2 pods");
  EXPECT_TRUE(server.HasPod("kube-system/ds"));
  EXPECT_TRUE(server.HasPod("default/elsewhere"));
  // Success is the decide step's `Drained` Event; the run itself says nothing more.
  EXPECT_EQ(events.size(), 1u);  // EvictingPods only.
  EXPECT_EQ(EventCount("DrainSucceeded"), 0);
}

TEST_F(DrainRunTest, ABlockedPodIsRetriedEveryFiveSecondsAndReportedOnce) {
  server.AddPod("default", "web-1", "w1");
  server.BlockEviction("default/web-1", "web-pdb");
  DrainRun run(Job(kT0 + 10min), api, clock, options);
  run.Step();
  auto tick = run.Step();
  EXPECT_EQ(tick.kind, DrainObservation::kRunning);
  EXPECT_EQ(EventCount("EvictionBlocked"), 1);
  ASSERT_TRUE(tick.wake_at);
  EXPECT_EQ(*tick.wake_at, kT0 + 5s);
  run.Step();  // Not due yet: no eviction.
  EXPECT_EQ(server.Count("POST", "/api/v1/namespaces"), 1);
  clock.Advance(5s);
  run.Step();
  EXPECT_EQ(server.Count("POST", "/api/v1/namespaces"), 2);
  EXPECT_EQ(EventCount("EvictionBlocked"), 1);
  server.UnblockEviction("default/web-1");
  clock.Advance(5s);
  run.Step();
  EXPECT_EQ(run.Step().kind, DrainObservation::kSucceeded);
}

TEST_F(DrainRunTest, TheDeadlineIsTheRemediationsNotTheProcesss) {
  server.AddPod("default", "web-1", "w1");
  server.BlockEviction("default/web-1", "web-pdb");
  // A drain resumed after a restart 9m59s into its 10m timeout.
  DrainRun run(Job(kT0 + 1s), api, clock, options);
  run.Step();
  clock.Advance(1s);
  auto tick = run.Step();
  EXPECT_EQ(tick.kind, DrainObservation::kTimedOut);
  EXPECT_NE(tick.message.find("PodDisruptionBudget web-pdb"), std::string::npos);
  EXPECT_EQ(EventCount("DrainTimedOut"), 1);
}

TEST_F(DrainRunTest, EachVerdictIsReportedOnceWithTheTimeFromTheFirstStep) {
  std::vector<std::pair<DrainObservation::Kind, Duration>> verdicts;
  options.on_verdict = [&](const DrainJob& job, DrainObservation::Kind kind, Duration took) {
    EXPECT_EQ(job.node, "w1");
    verdicts.emplace_back(kind, took);
  };
  server.AddPod("default", "web-1", "w1");
  server.BlockEviction("default/web-1", "web-pdb");
  DrainRun run(Job(kT0 + 10min), api, clock, options);
  run.Step();
  clock.Advance(5s);
  run.Step();
  EXPECT_TRUE(verdicts.empty());  // Still running.
  server.UnblockEviction("default/web-1");
  clock.Advance(5s);
  run.Step();
  clock.Advance(2s);
  EXPECT_EQ(run.Step().kind, DrainObservation::kSucceeded);
  run.Step();  // Stays finished: no second report.
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].first, DrainObservation::kSucceeded);
  EXPECT_EQ(verdicts[0].second, 12s);
}

TEST_F(DrainRunTest, AFencedDrainReportsNoVerdict) {
  int reported = 0;
  options.on_verdict = [&](const DrainJob&, DrainObservation::Kind, Duration) { ++reported; };
  server.AddPod("default", "web-1", "w1");
  options.fence = [] { return Status(Error::Of(ErrorKind::kUnauthorized, "lost the lease")); };
  DrainRun run(Job(kT0 + 10min), api, clock, options);
  EXPECT_EQ(run.Step().kind, DrainObservation::kNotRunning);
  EXPECT_EQ(reported, 0);
}

TEST_F(DrainRunTest, FencedDrainStopsWithoutAVerdict) {
  server.AddPod("default", "web-1", "w1");
  options.fence = [] { return Status(Error::Of(ErrorKind::kUnauthorized, "lost the lease")); };
  DrainRun run(Job(kT0 + 10min), api, clock, options);
  EXPECT_EQ(run.Step().kind, DrainObservation::kNotRunning);
  EXPECT_EQ(server.Count("POST", "/api/v1/namespaces"), 0);
}

TEST_F(DrainRunTest, ADrainStoppedByTheFenceStartsAgainWhenAskedAgain) {
  server.AddPod("default", "web-1", "w1");
  std::atomic<bool> fenced{true};
  options.poll_interval = 2ms;
  options.fence = [&]() -> Status {
    if (fenced) return Error::Of(ErrorKind::kUnauthorized, "lease renewal failed");
    return Status::Ok();
  };
  Drainer drainer(api, clock, options);
  auto job = Job(kT0 + 10min);
  drainer.Start(job);
  ASSERT_TRUE(drainer.WaitIdle(10s));
  EXPECT_EQ(drainer.Observe("w1").kind, DrainObservation::kNotRunning);
  fenced = false;  // Leading again: the decide step asks for the same drain.
  drainer.Start(job);
  ASSERT_TRUE(drainer.WaitIdle(10s));
  EXPECT_EQ(drainer.Observe("w1").kind, DrainObservation::kSucceeded);
  EXPECT_FALSE(server.HasPod("default/web-1"));
}

// ================================================================ Drainer (threads)

TEST_F(DrainRunTest, DrainerRunsOnceReportsAndCancels) {
  server.AddPod("default", "web-1", "w1");
  options.poll_interval = 2ms;
  Drainer drainer(api, clock, options);
  std::atomic<int> finished{0};
  auto job = Job(kT0 + 10min);
  job.on_finished = [&] { ++finished; };
  drainer.Start(job);
  ASSERT_TRUE(drainer.WaitIdle(10s));
  EXPECT_EQ(drainer.Observe("w1").kind, DrainObservation::kSucceeded);
  EXPECT_EQ(drainer.Observe("w1").remediation_id, "w1-1");
  EXPECT_EQ(finished.load(), 1);
  drainer.Start(job);  // Same remediation: not run again.
  ASSERT_TRUE(drainer.WaitIdle(10s));
  EXPECT_EQ(finished.load(), 1);
  EXPECT_EQ(drainer.NodesOf("p"), std::vector<std::string>{"w1"});
  drainer.Cancel("w1", "another-id");  // Not this drain's id: kept.
  EXPECT_EQ(drainer.Observe("w1").kind, DrainObservation::kSucceeded);
  drainer.Cancel("w1");
  EXPECT_EQ(drainer.Observe("w1").kind, DrainObservation::kNotRunning);

  server.AddPod("default", "web-2", "w1");
  server.BlockEviction("default/web-2", "pdb");
  job.remediation_id = "w1-2";
  drainer.Start(job);
  EXPECT_EQ(drainer.Observe("w1").kind, DrainObservation::kRunning);
  drainer.Cancel("w1", "w1-2");
  ASSERT_TRUE(drainer.WaitIdle(10s));
  EXPECT_EQ(drainer.Observe("w1").kind, DrainObservation::kNotRunning);
  EXPECT_EQ(finished.load(), 1);  // A cancelled drain does not report.
}

}  // namespace
}  // namespace nodeguard::runtime
