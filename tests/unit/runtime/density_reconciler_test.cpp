// DensityReconciler::NodesTaintedWith, what the cleanup finalizer of a deleted
// policy waits for: nodes still carrying its taint key that no governing
// policy claims. Found by the e2e suite (tests/e2e/density, `delete`): a
// second policy with the same (default) key held a deleted policy forever.

#include "runtime/density_reconciler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>

#include "api/decode.h"
#include "kube/events.h"
#include "kube/rest.h"
#include "kube/store.h"

using json = nlohmann::json;

namespace nodeguard::runtime {
namespace {

constexpr const char* kKey = "nodeguard.io/pod-density-exceeded";

PolicyObject MakePolicy(const std::string& name, json spec, int created_second,
                        bool deleting = false) {
  json meta = {{"name", name},
               {"uid", "uid-policy-" + name},
               {"resourceVersion", "1"},
               {"generation", 1},
               {"creationTimestamp", "2024-01-01T00:00:0" + std::to_string(created_second) + "Z"}};
  if (deleting) {
    meta["deletionTimestamp"] = "2024-01-01T00:01:00Z";
    meta["finalizers"] = {kCleanupFinalizer};
  }
  json doc = {{"apiVersion", "nodeguard.io/v1alpha1"},
              {"kind", "NodeHealthPolicy"},
              {"metadata", meta},
              {"spec", std::move(spec)}};
  auto parsed = api::ParsePolicy(doc);
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().ToString());
  PolicyObject o;
  o.policy = parsed->policy;
  o.errors = parsed->errors;
  o.meta = o.policy.meta;
  return o;
}

json Selecting(const std::string& pool) { return {{"matchLabels", {{"pool", pool}}}}; }

json Density(const std::string& key, bool enabled = true) {
  return {{"enabled", enabled}, {"maxPods", 10}, {"taint", {{"key", key}}}};
}

kube::Node MakeNode(const std::string& name, const std::string& pool,
                    std::vector<std::string> taint_keys) {
  kube::Node n;
  n.meta.name = name;
  n.meta.uid = "uid-node-" + name;
  n.meta.resource_version = "1";
  n.labels = {{"pool", pool}};
  for (auto& key : taint_keys) {
    kube::Taint t;
    t.key = std::move(key);
    n.taints.push_back(std::move(t));
  }
  return n;
}

class NodesTaintedWithTest : public ::testing::Test {
 protected:
  NodesTaintedWithTest() {
    EXPECT_TRUE(kube::AddPodIndexes(pods).ok());
    deps.nodes = &nodes;
    deps.pods = &pods;
    deps.policies = &policies;
    deps.metrics = &metrics;
    deps.options = &options;
    // The deleted policy selects every pool; being deleted, it governs none.
    policies.Upsert(MakePolicy("deleted",
                               {{"nodeSelector", json::object()}, {"podDensity", Density(kKey)}}, 1,
                               /*deleting=*/true));
  }

  int Count() {
    if (!reconciler) reconciler = std::make_unique<DensityReconciler>(deps);
    return reconciler->NodesTaintedWith(kKey);
  }

  kube::Store<kube::Node> nodes;
  kube::Store<kube::Pod> pods;
  kube::Store<PolicyObject> policies;
  observe::MetricsRegistry metrics;
  ControllerOptions options;
  Deps deps;
  std::unique_ptr<DensityReconciler> reconciler;
};

TEST_F(NodesTaintedWithTest, CountsTaintsNoPolicyGoverns) {
  nodes.Upsert(MakeNode("a", "a", {kKey}));
  nodes.Upsert(MakeNode("b", "b", {"example.com/other", kKey}));
  nodes.Upsert(MakeNode("c", "c", {"example.com/other"}));
  nodes.Upsert(MakeNode("d", "d", {}));
  EXPECT_EQ(Count(), 2);
}

TEST_F(NodesTaintedWithTest, SkipsNodesOfAPolicyEnforcingTheSameKey) {
  policies.Upsert(
      MakePolicy("other", {{"nodeSelector", Selecting("b")}, {"podDensity", Density(kKey)}}, 2));
  nodes.Upsert(MakeNode("a", "a", {kKey}));  // Left by the deleted policy.
  nodes.Upsert(MakeNode("b", "b", {kKey}));  // The other policy's own taint.
  EXPECT_EQ(Count(), 1);

  nodes.Erase("", "a");
  EXPECT_EQ(Count(), 0) << "the deleted policy has nothing left to remove";
}

TEST_F(NodesTaintedWithTest, CountsNodesWhoseGoverningPolicyDoesNotClaimTheKey) {
  // A governing policy with another key, or with podDensity disabled, does not
  // own the taint: Reconcile removes it, so the finalizer must wait for it.
  policies.Upsert(MakePolicy(
      "other-key", {{"nodeSelector", Selecting("b")}, {"podDensity", Density("example.com/full")}},
      2));
  policies.Upsert(MakePolicy(
      "disabled", {{"nodeSelector", Selecting("c")}, {"podDensity", Density(kKey, false)}}, 3));
  policies.Upsert(MakePolicy("no-density", {{"nodeSelector", Selecting("d")}}, 4));
  nodes.Upsert(MakeNode("b", "b", {kKey}));
  nodes.Upsert(MakeNode("c", "c", {kKey}));
  nodes.Upsert(MakeNode("d", "d", {kKey}));
  EXPECT_EQ(Count(), 3);
}

TEST_F(NodesTaintedWithTest, AnotherDeletedPolicyWithTheSameKeyClaimsNothing) {
  policies.Upsert(MakePolicy("also-deleted",
                             {{"nodeSelector", Selecting("b")}, {"podDensity", Density(kKey)}}, 2,
                             /*deleting=*/true));
  nodes.Upsert(MakeNode("b", "b", {kKey}));
  EXPECT_EQ(Count(), 1);
}

// Which policy events re-queue every node. The status writer's own writes
// come back as policy updates: at 1,000 nodes, re-queuing on each of them
// made 517,000 reconciles out of 37,700 pod events (tests/bench/density_bench).
TEST_F(NodesTaintedWithTest, OnlyPolicyChangesThatCanAlterDecisionsRequeueNodes) {
  for (const char* name : {"w1", "w2", "w3"}) nodes.Upsert(MakeNode(name, "a", {}));
  reconciler = std::make_unique<DensityReconciler>(deps);
  const PolicyObject before = MakePolicy("p", {{"podDensity", Density(kKey)}}, 2);
  auto queued_after = [&](const PolicyObject* old_obj, const PolicyObject* obj) {
    kube::WorkQueue queue;
    reconciler->OnPolicy(old_obj, obj, queue);
    return queue.Len();
  };

  PolicyObject status_only = before;
  status_only.meta.resource_version = "2";
  status_only.policy.status.observed_generation = 1;
  EXPECT_EQ(queued_after(&before, &status_only), 0u);

  PolicyObject new_spec = before;
  new_spec.meta.generation = 2;
  EXPECT_EQ(queued_after(&before, &new_spec), 3u);

  PolicyObject deleting = before;
  deleting.meta.deletion_timestamp = before.meta.creation_timestamp;
  EXPECT_EQ(queued_after(&before, &deleting), 3u);

  PolicyObject invalid = before;
  invalid.errors.push_back({});
  EXPECT_EQ(queued_after(&before, &invalid), 3u);

  EXPECT_EQ(queued_after(nullptr, &before), 3u);  // Created.
  EXPECT_EQ(queued_after(&before, nullptr), 3u);  // Deleted.
}

// ---------------------------------------------------------------- invalid policies

// Records every request; a node PATCH answers 200 with the request's own body
// as if applied (the reconciler does not read it back).
class RecordingHttp final : public kube::HttpClient {
 public:
  Result<kube::HttpResponse> Send(const kube::HttpRequest& request) override {
    requests.push_back(request.method + " " + request.path_and_query);
    kube::HttpResponse r;
    r.status = 200;
    r.body = "{}";
    return r;
  }
  Result<kube::HttpResponse> Stream(const kube::HttpRequest& request, const kube::ChunkHandler&,
                                    const kube::CancelToken&, std::chrono::milliseconds) override {
    return Send(request);
  }
  std::vector<std::string> requests;
};

class NoStatusApi final : public StatusApi {
 public:
  Result<std::string> WriteStatus(const std::string&, const std::string&,
                                  const api::NodeHealthPolicyStatus&) override {
    return std::string("2");
  }
};

class CountingSink final : public kube::EventSink {
 public:
  Status Create(const kube::EventRecord&) override {
    ++events;
    return Status::Ok();
  }
  Status Patch(const kube::EventRecord&) override {
    ++events;
    return Status::Ok();
  }
  std::atomic<int> events{0};
};

class DensityReconcileTest : public NodesTaintedWithTest {
 protected:
  DensityReconcileTest() {
    policies.Erase("", "deleted");
    deps.rest = &rest;
    deps.events = &recorder;
    deps.status = &status;
    deps.clock = &clock;
    // w1 carries the taint of policy p, with no pods at all: a valid p
    // removes it (far below the cap); an invalid p must leave it alone.
    kube::Node node = MakeNode("w1", "a", {});
    kube::Taint taint;
    taint.key = kKey;
    taint.value = "p";
    node.taints.push_back(taint);
    nodes.Upsert(node);
  }

  FakeClock clock;
  RecordingHttp http;
  kube::RestClient rest{http, kube::RestOptions{}};
  CountingSink sink;
  kube::EventRecorder recorder{sink, kube::EventRecorderOptions{}, clock};
  NoStatusApi status_api;
  StatusWriter status{status_api, clock, std::chrono::milliseconds(0)};
};

// A policy that bypassed admission (here releaseBelow not below the cap) is
// reported by PolicyReconciler and never acted on: its taint stays as it is.
TEST_F(DensityReconcileTest, AnInvalidGoverningPolicyIsNotActedOn) {
  const PolicyObject invalid = MakePolicy(
      "p",
      {{"nodeSelector", Selecting("a")},
       {"podDensity", {{"maxPods", 10}, {"releaseBelow", 20}, {"taint", {{"key", kKey}}}}}},
      1);
  ASSERT_FALSE(invalid.valid());
  policies.Upsert(invalid);
  reconciler = std::make_unique<DensityReconciler>(deps);
  auto result = reconciler->Reconcile("w1");
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_TRUE(recorder.WaitIdle(std::chrono::seconds(5)));
  EXPECT_TRUE(http.requests.empty()) << http.requests.front();
  EXPECT_EQ(sink.events, 0);
}

TEST_F(DensityReconcileTest, TheSamePolicyMadeValidIsActedOn) {
  // The control: the test above would notice a write.
  policies.Upsert(
      MakePolicy("p", {{"nodeSelector", Selecting("a")}, {"podDensity", Density(kKey)}}, 1));
  reconciler = std::make_unique<DensityReconciler>(deps);
  auto result = reconciler->Reconcile("w1");
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_TRUE(recorder.WaitIdle(std::chrono::seconds(5)));
  ASSERT_FALSE(http.requests.empty());
  EXPECT_EQ(http.requests.front().rfind("PATCH /api/v1/nodes/w1?", 0), 0u) << http.requests.front();
}

}  // namespace
}  // namespace nodeguard::runtime
