// PolicyReconciler's part of status: Ready (InvalidSpec for a policy that
// bypassed admission), Paused, observedGeneration, node counts.

#include "policy/reconciler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/decode.h"
#include "fakes/api_server.h"
#include "fakes/policy.h"
#include "fakes/status_api.h"
#include "kube/decode.h"
#include "kube/store.h"
#include "notify/worker.h"
#include "reconcile/conditions.h"
#include "reconcile/early_warning.h"
#include "reconcile/notifications.h"

using json = nlohmann::json;

namespace nodeguard::runtime {
namespace {

using fakes::MakePolicy;
using fakes::NullStatusApi;

kube::Node MakeNode(const std::string& name, bool ready) {
  kube::Node n;
  n.meta.name = name;
  n.meta.uid = "uid-" + name;
  n.meta.resource_version = "1";
  n.labels = {{"pool", "a"}};
  kube::NodeCondition c;
  c.type = kube::Symbol::Intern("Ready");
  c.status = ready ? kube::ConditionStatus::kTrue : kube::ConditionStatus::kFalse;
  n.conditions.push_back(c);
  return n;
}

class PolicyReconcilerTest : public ::testing::Test {
 protected:
  PolicyReconcilerTest() {
    EXPECT_TRUE(kube::AddPodIndexes(pods).ok());
    deps.nodes = &nodes;
    deps.pods = &pods;
    deps.policies = &policies;
    deps.status = &status;
    deps.metrics = &metrics;
    deps.clock = &clock;
    deps.options = &options;
    deps.fence = [] { return Status(Error::Internal("PolicyReconciler must not write here")); };
    nodes.Upsert(MakeNode("w1", true));
    nodes.Upsert(MakeNode("w2", false));
  }

  api::NodeHealthPolicyStatus Reconcile(const PolicyObject& p) {
    policies.Upsert(p);
    status.Observe(p.policy);
    if (!reconciler) {
      reconciler = std::make_unique<PolicyReconciler>(deps, [](const PolicyObject&) { return 0; });
    }
    auto result = reconciler->Reconcile(p.meta.name);
    EXPECT_TRUE(result.ok()) << result.error().ToString();
    auto s = status.Desired(p.meta.name);
    EXPECT_TRUE(s.has_value());
    return s.value_or(api::NodeHealthPolicyStatus{});
  }
  static const api::Condition& Get(const api::NodeHealthPolicyStatus& s, const char* type) {
    const api::Condition* c = FindCondition(s.conditions, type);
    static const api::Condition missing{};
    EXPECT_NE(c, nullptr) << type;
    return c != nullptr ? *c : missing;
  }

  FakeClock clock;
  kube::Store<kube::Node> nodes;
  kube::Store<kube::Pod> pods;
  kube::Store<PolicyObject> policies;
  NullStatusApi status_api;
  StatusWriter status{status_api, clock, std::chrono::milliseconds(0)};
  observe::MetricsRegistry metrics;
  ControllerOptions options;
  Deps deps;
  std::unique_ptr<PolicyReconciler> reconciler;  // One per registry: it registers metrics.
};

TEST_F(PolicyReconcilerTest, AnInvalidSpecIsReportedNotReadyWithEveryFieldError) {
  // Both rules are the API server's too; this policy bypassed admission
  // (an older CRD, a direct etcd write).
  const PolicyObject p =
      MakePolicy("p",
                 {{"nodeSelector", {{"matchLabels", {{"pool", "a"}}}}},
                  {"podDensity", {{"maxPods", 10}, {"taint", {{"effect", "NoExecute"}}}}},
                  {"remediation", {{"enabled", true}, {"maxConcurrent", 0}}}},
                 {.generation = 3});
  ASSERT_FALSE(p.valid());
  const auto s = Reconcile(p);
  EXPECT_EQ(s.observed_generation, 3);
  const api::Condition& ready = Get(s, api::kConditionReady);
  EXPECT_EQ(ready.status, kube::ConditionStatus::kFalse);
  EXPECT_EQ(ready.reason, "InvalidSpec");
  EXPECT_EQ(ready.observed_generation, 3);
  EXPECT_EQ(ready.message.rfind("Not enforced: ", 0), 0u) << ready.message;
  EXPECT_NE(ready.message.find("spec.podDensity.taint.effect"), std::string::npos) << ready.message;
  EXPECT_NE(ready.message.find("spec.remediation.maxConcurrent"), std::string::npos)
      << ready.message;
  EXPECT_EQ(Get(s, api::kConditionPaused).status, kube::ConditionStatus::kFalse);
  // Still counted: the nodes it would govern, as a valid policy's are.
  EXPECT_EQ(s.selected_nodes, 2);
  EXPECT_NE(metrics.Render().find("nodeguard_policy_valid{policy=\"p\"} 0"), std::string::npos)
      << metrics.Render();
}

TEST_F(PolicyReconcilerTest, AValidSpecIsReadyEnforcing) {
  const auto s = Reconcile(MakePolicy("p", {{"nodeSelector", {{"matchLabels", {{"pool", "a"}}}}}}));
  const api::Condition& ready = Get(s, api::kConditionReady);
  EXPECT_EQ(ready.status, kube::ConditionStatus::kTrue);
  EXPECT_EQ(ready.reason, "Enforcing");
  EXPECT_EQ(ready.message, "Governing 2 node(s)");
  EXPECT_EQ(s.selected_nodes, 2);
  EXPECT_EQ(s.ready_nodes, 1);
  const api::Condition& paused = Get(s, api::kConditionPaused);
  EXPECT_EQ(paused.status, kube::ConditionStatus::kFalse);
  EXPECT_EQ(paused.reason, "NotPaused");
  EXPECT_NE(metrics.Render().find("nodeguard_policy_valid{policy=\"p\"} 1"), std::string::npos);
}

// docs/api.md: Paused is spec.paused only; a dry run is Ready's reason.
TEST_F(PolicyReconcilerTest, PausedIsSpecPausedOnlyAndDryRunIsReadysReason) {
  auto s = Reconcile(MakePolicy("dry", {{"dryRun", true}}));
  EXPECT_EQ(Get(s, api::kConditionReady).reason, "DryRun");
  EXPECT_EQ(Get(s, api::kConditionPaused).status, kube::ConditionStatus::kFalse);

  s = Reconcile(MakePolicy("paused", {{"paused", true}}));
  EXPECT_EQ(Get(s, api::kConditionReady).reason, "Enforcing");
  const api::Condition& paused = Get(s, api::kConditionPaused);
  EXPECT_EQ(paused.status, kube::ConditionStatus::kTrue);
  EXPECT_EQ(paused.reason, "PausedBySpec");

  options.dry_run = true;  // The controller's --dry-run.
  s = Reconcile(MakePolicy("global", json::object()));
  EXPECT_EQ(Get(s, api::kConditionReady).reason, "DryRun");
  EXPECT_EQ(Get(s, api::kConditionPaused).status, kube::ConditionStatus::kFalse);
}

// NotificationsFailing only with notifications configured; True while a
// sink's last notifications failed, back to False once one is sent.
TEST_F(PolicyReconcilerTest, NoNotificationsConfiguredNoNotificationsCondition) {
  const auto s = Reconcile(MakePolicy("p", {{"nodeSelector", {{"matchLabels", {{"pool", "a"}}}}}}));
  EXPECT_EQ(FindCondition(s.conditions, kConditionNotificationsFailing), nullptr);
}

TEST_F(PolicyReconcilerTest, NotificationsFailingFollowsTheSinksHealth) {
  SinkHealthBoard health;
  deps.notify_health = &health;
  const PolicyObject p =
      MakePolicy("p", {{"nodeSelector", {{"matchLabels", {{"pool", "a"}}}}}}, {.generation = 2});
  auto s = Reconcile(p);
  EXPECT_EQ(Get(s, kConditionNotificationsFailing).status, kube::ConditionStatus::kFalse);
  for (int i = 0; i < notify::kFailingAfter; ++i) health.Record("ops-slack", "failed", "http_4xx");
  s = Reconcile(p);
  const api::Condition& failing = Get(s, kConditionNotificationsFailing);
  EXPECT_EQ(failing.status, kube::ConditionStatus::kTrue);
  EXPECT_EQ(failing.reason, "SinkFailing");
  EXPECT_EQ(failing.observed_generation, 2);
  EXPECT_NE(failing.message.find("sink ops-slack"), std::string::npos) << failing.message;
  health.Record("ops-slack", "sent", "ok");
  s = Reconcile(p);
  EXPECT_EQ(Get(s, kConditionNotificationsFailing).reason, "Delivering");
}

// status.earlyWarning and nodeguard_early_warning_nodes count the governed
// nodes by the level decoded from their annotation. Healthy and unreadable
// levels are never announced, so nothing is written (the fence refuses).
TEST_F(PolicyReconcilerTest, EarlyWarningCountsGovernedNodesByLevel) {
  auto with = [](const std::string& name, kube::EarlyWarningLevel level) {
    kube::Node n = MakeNode(name, true);
    n.early_warning.level = level;
    return n;
  };
  nodes.Upsert(with("w1", kube::EarlyWarningLevel::kHealthy));
  nodes.Upsert(with("w3", kube::EarlyWarningLevel::kUnknown));
  nodes.Upsert(with("w4", kube::EarlyWarningLevel::kHealthy));
  kube::Node other = with("x1", kube::EarlyWarningLevel::kUnknown);
  other.labels = {{"pool", "b"}};  // Not selected: not counted.
  nodes.Upsert(other);
  const auto s = Reconcile(MakePolicy("p", {{"nodeSelector", {{"matchLabels", {{"pool", "a"}}}}}}));
  EXPECT_EQ(s.early_warning, (api::EarlyWarningCounts{2, 0, 0, 1}));  // w2: no annotation.
  const std::string text = metrics.Render();
  EXPECT_NE(text.find("nodeguard_early_warning_nodes{policy=\"p\",level=\"healthy\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("nodeguard_early_warning_nodes{policy=\"p\",level=\"unknown\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("nodeguard_early_warning_nodes{policy=\"p\",level=\"critical\"} 0"),
            std::string::npos)
      << text;
}

class RecordingSink final : public kube::EventSink {
 public:
  Status Create(const kube::EventRecord& e) override {
    std::lock_guard lock(mu);
    created.push_back(std::string(kube::EventTypeName(e.type)) + " " + e.involved.name + " " +
                      e.reason);
    return Status::Ok();
  }
  Status Patch(const kube::EventRecord& e) override { return Create(e); }
  std::mutex mu;
  std::vector<std::string> created;
};

// Announcing through the API: the record nodeguard.io/early-warning-announced
// is written, then one Event; nothing is repeated by another reconcile, a
// restarted reconciler, or a cache that has not seen the record yet; a
// record that cannot be written announces nothing (retried).
class EarlyWarningAnnounceTest : public PolicyReconcilerTest {
 protected:
  EarlyWarningAnnounceTest() {
    deps.rest = &rest;
    deps.events = &recorder;
    deps.fence = [] { return Status::Ok(); };
    server.AddNode("e1", clock.Now(), "boot-1");
    server.SetLabel("e1", "pool", "a");
  }
  void Publish(const char* level, const char* since) {
    server.SetAnnotation("e1", "nodeguard.io/early-warning",
                         std::string(R"({"level":")") + level + R"(","since":")" + since + "\"}");
  }
  std::vector<std::string> Events() {
    EXPECT_TRUE(recorder.WaitIdle(std::chrono::seconds(5)));
    std::lock_guard lock(sink.mu);
    return sink.created;
  }

  fakes::FakeApiServer server{nodes, pods};
  kube::RestClient rest{server, kube::RestOptions{}};
  RecordingSink sink;
  kube::EventRecorder recorder{sink, kube::EventRecorderOptions{}, clock};
};

TEST_F(EarlyWarningAnnounceTest, OncePerChange) {
  const PolicyObject p = MakePolicy("p", {{"nodeSelector", {{"matchLabels", {{"pool", "a"}}}}}});
  Publish("Degraded", "2026-12-07T10:00:00Z");
  EXPECT_EQ(Reconcile(p).early_warning, (api::EarlyWarningCounts{0, 1, 0, 0}));
  EXPECT_EQ(server.Annotation("e1", kEarlyWarningAnnouncedAnnotation),
            "Degraded 2026-12-07T10:00:00Z");
  EXPECT_EQ(Events(), std::vector<std::string>{"Warning e1 EarlyWarningDegraded"});
  Reconcile(p);
  EXPECT_EQ(Events().size(), 1u);

  // A restart: a new reconciler (its own registry) reads the record.
  observe::MetricsRegistry restarted;
  deps.metrics = &restarted;
  reconciler.reset();
  Reconcile(p);
  EXPECT_EQ(Events().size(), 1u);

  // The cache lags behind the record just written: not announced twice.
  Publish("Critical", "2026-12-07T10:01:00Z");
  server.HoldInformer(true);
  Reconcile(p);
  Reconcile(p);
  server.HoldInformer(false);
  Reconcile(p);
  EXPECT_EQ(Events(), (std::vector<std::string>{"Warning e1 EarlyWarningDegraded",
                                                "Warning e1 EarlyWarningCritical"}));

  // The record cannot be written: no Event, until it can.
  Publish("Healthy", "2026-12-07T10:09:00Z");
  server.FailNodeWrites(500);
  Reconcile(p);
  EXPECT_EQ(Events().size(), 2u);
  EXPECT_EQ(server.Annotation("e1", kEarlyWarningAnnouncedAnnotation),
            "Critical 2026-12-07T10:01:00Z");
  server.FailNodeWrites(0);
  EXPECT_EQ(Reconcile(p).early_warning, (api::EarlyWarningCounts{1, 0, 0, 0}));
  EXPECT_EQ(Events().back(), "Normal e1 EarlyWarningHealthy");
  EXPECT_EQ(Events().size(), 3u);
}

// The notification goes with the Event: one webhook message per announced
// change, carrying the level, none for a reconcile that announces nothing.
class RecordingPoster final : public notify::Poster {
 public:
  Result<notify::PostResponse> Post(const notify::OutboundRequest& request, Duration) override {
    std::lock_guard lock(mu);
    bodies.push_back(nlohmann::json::parse(request.body));
    return notify::PostResponse{200, ""};
  }
  std::mutex mu;
  std::vector<nlohmann::json> bodies;
};

TEST_F(EarlyWarningAnnounceTest, EachAnnouncedChangeIsNotifiedOnce) {
  RecordingPoster poster;
  notify::SinkConfig hook;
  hook.name = "hook";
  hook.url = "https://receiver.example/hook";
  notify::DeliveryOptions delivery;
  delivery.rate_per_second = 1000;
  notify::Notifier notifier({hook}, delivery, poster, nullptr);
  deps.notifier = &notifier;
  deps.notify_cluster = "prod";
  const PolicyObject p = MakePolicy("p", {{"nodeSelector", {{"matchLabels", {{"pool", "a"}}}}}});
  Publish("Degraded", "2026-12-07T10:00:00Z");
  Reconcile(p);
  Reconcile(p);
  Publish("Healthy", "2026-12-07T10:09:00Z");
  Reconcile(p);
  ASSERT_TRUE(notifier.WaitIdle(std::chrono::seconds(5)));
  notifier.Stop();
  std::lock_guard lock(poster.mu);
  ASSERT_EQ(poster.bodies.size(), 2u);
  const nlohmann::json& degraded = poster.bodies[0];
  EXPECT_EQ(degraded["type"], "io.nodeguard.early-warning.changed");
  EXPECT_EQ(degraded["id"], "early-warning.changed/p/e1/Degraded 2026-12-07T10:00:00Z")
      << degraded.dump();
  EXPECT_EQ(degraded["data"]["level"], "Degraded");
  EXPECT_EQ(degraded["data"]["severity"], "warning");
  EXPECT_EQ(degraded["data"]["node"], "e1");
  const nlohmann::json& healthy = poster.bodies[1];
  EXPECT_EQ(healthy["data"]["level"], "Healthy");
  EXPECT_EQ(healthy["data"]["severity"], "info");
  EXPECT_NE(healthy["data"]["title"].get<std::string>().find("back to Healthy"), std::string::npos)
      << healthy.dump();
}

}  // namespace
}  // namespace nodeguard::runtime
