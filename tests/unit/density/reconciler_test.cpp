// DensityReconciler: NodesTaintedBy, what the cleanup finalizer of a deleted
// policy waits for (nodes carrying a taint recorded for it that no policy
// governs), and Reconcile against a fake API server that applies the JSON
// patches as the real one does: ownership by record (issue 16), key changes,
// foreign taints with the policy's key, migration, dry run.

#include "density/reconciler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <set>

#include "api/decode.h"
#include "common/time.h"
#include "density/taint_record.h"
#include "fakes/policy.h"
#include "fakes/status_api.h"
#include "kube/decode.h"
#include "kube/events.h"
#include "kube/rest.h"
#include "kube/store.h"
#include "reconcile/notifications.h"

using json = nlohmann::json;

namespace nodeguard::runtime {
namespace {

using fakes::MakePolicy;
using fakes::NullStatusApi;

constexpr const char* kKey = "nodeguard.io/pod-density-exceeded";

json Selecting(const std::string& pool) { return {{"matchLabels", {{"pool", pool}}}}; }

json Density(const std::string& key, bool enabled = true) {
  return {{"enabled", enabled}, {"maxPods", 10}, {"taint", {{"key", key}}}};
}

// A node in `pool` with taints of these keys (value empty, NoSchedule);
// `recorded_for`: the policy nodeguard recorded the first taint for.
kube::Node MakeNode(const std::string& name, const std::string& pool,
                    std::vector<std::string> taint_keys, const std::string& recorded_for = "") {
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
  if (!recorded_for.empty()) {
    n.nodeguard_annotations = {{density::kTaintRecordAnnotation,
                                density::EncodeTaintRecord({recorded_for, n.taints.at(0)})}};
    n.has_annotations = true;
  }
  return n;
}

class NodesTaintedByTest : public ::testing::Test {
 protected:
  NodesTaintedByTest() {
    EXPECT_TRUE(kube::AddPodIndexes(pods).ok());
    deps.nodes = &nodes;
    deps.pods = &pods;
    deps.policies = &policies;
    deps.metrics = &metrics;
    deps.options = &options;
    // The deleted policy selects every pool; being deleted, it governs none.
    policies.Upsert(MakePolicy("deleted",
                               {{"nodeSelector", json::object()}, {"podDensity", Density(kKey)}},
                               {.created_second = 1, .deleting = true}));
  }

  int Count(const std::string& policy = "deleted") {
    if (!reconciler) reconciler = std::make_unique<DensityReconciler>(deps);
    return reconciler->NodesTaintedBy(policy);
  }

  kube::Store<kube::Node> nodes;
  kube::Store<kube::Pod> pods;
  kube::Store<PolicyObject> policies;
  observe::MetricsRegistry metrics;
  ControllerOptions options;
  Deps deps;
  std::unique_ptr<DensityReconciler> reconciler;
};

TEST_F(NodesTaintedByTest, CountsTaintsRecordedForThePolicyThatNoPolicyGoverns) {
  nodes.Upsert(MakeNode("a", "a", {kKey}, "deleted"));
  nodes.Upsert(MakeNode("b", "b", {kKey, "example.com/other"}, "deleted"));
  nodes.Upsert(MakeNode("c", "c", {"example.com/other"}));
  nodes.Upsert(MakeNode("d", "d", {}));
  nodes.Upsert(MakeNode("e", "e", {kKey}, "another-policy"));
  EXPECT_EQ(Count(), 2);
  EXPECT_EQ(Count("another-policy"), 1);
}

// Issue 16: the key alone claimed an administrator's taint for the policy,
// and a deleted policy waited for (and removed) taints it never applied.
TEST_F(NodesTaintedByTest, ATaintNodeguardDidNotRecordIsNotCounted) {
  // No record, and not the policy's exact taint (value empty, not "deleted"):
  // an administrator's taint that happens to use the key.
  nodes.Upsert(MakeNode("a", "a", {kKey}));
  EXPECT_EQ(Count(), 0);
}

TEST_F(NodesTaintedByTest, MigrationCountsTheExactUnrecordedTaintOfASelectingPolicy) {
  // Tainted by a nodeguard that wrote no record: the deleted policy's exact
  // taint (value = its name) on a node it selects is still its to remove.
  kube::Node n = MakeNode("a", "a", {});
  kube::Taint t;
  t.key = kKey;
  t.value = "deleted";
  n.taints.push_back(t);
  nodes.Upsert(n);
  EXPECT_EQ(Count(), 1);
}

TEST_F(NodesTaintedByTest, SkipsNodesAnotherPolicyGoverns) {
  // That policy takes the taint over or removes it; it may be paused, so
  // waiting for it could hold the deleted policy forever.
  policies.Upsert(MakePolicy("other",
                             {{"nodeSelector", Selecting("b")}, {"podDensity", Density(kKey)}},
                             {.created_second = 2}));
  policies.Upsert(MakePolicy("paused",
                             {{"nodeSelector", Selecting("c")},
                              {"paused", true},
                              {"podDensity", Density("example.com/full")}},
                             {.created_second = 3}));
  nodes.Upsert(MakeNode("a", "a", {kKey}, "deleted"));  // Left by the deleted policy.
  nodes.Upsert(MakeNode("b", "b", {kKey}, "deleted"));  // Governed by "other".
  nodes.Upsert(MakeNode("c", "c", {kKey}, "deleted"));  // Governed by "paused".
  EXPECT_EQ(Count(), 1);

  nodes.Erase("", "a");
  EXPECT_EQ(Count(), 0) << "the deleted policy has nothing left to remove";
}

TEST_F(NodesTaintedByTest, AnotherDeletedPolicyWithTheSameKeyClaimsNothing) {
  policies.Upsert(MakePolicy("also-deleted",
                             {{"nodeSelector", Selecting("b")}, {"podDensity", Density(kKey)}},
                             {.created_second = 2, .deleting = true}));
  nodes.Upsert(MakeNode("b", "b", {kKey}, "also-deleted"));
  EXPECT_EQ(Count(), 0);
  EXPECT_EQ(Count("also-deleted"), 1);
}

// Which policy events re-queue every node. The status writer's own writes
// come back as policy updates: at 1,000 nodes, re-queuing on each of them
// made 517,000 reconciles out of 37,700 pod events (tests/bench/density_bench).
TEST_F(NodesTaintedByTest, OnlyPolicyChangesThatCanAlterDecisionsRequeueNodes) {
  for (const char* name : {"w1", "w2", "w3"}) nodes.Upsert(MakeNode(name, "a", {}));
  reconciler = std::make_unique<DensityReconciler>(deps);
  const PolicyObject before =
      MakePolicy("p", {{"podDensity", Density(kKey)}}, {.created_second = 2});
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
    if (request.method == "GET" && request.path_and_query.rfind("/api/v1/pods?", 0) == 0) {
      r.body = pod_list;
    }
    if (request.method == "POST" && refuse.count(request.path_and_query) > 0) {
      // A PodDisruptionBudget refusal, as the API server words it.
      r.status = 429;
      r.body =
          json{{"kind", "Status"},
               {"status", "Failure"},
               {"code", 429},
               {"reason", "TooManyRequests"},
               {"message", "Cannot evict pod as it would violate the pod's disruption budget."},
               {"details",
                {{"causes", json::array({{{"reason", "DisruptionBudget"},
                                          {"message",
                                           "The disruption budget web-pdb needs 2 "
                                           "healthy pods and has 2 currently"}}})}}}}
              .dump();
    }
    return r;
  }
  std::set<std::string> refuse;  // POST paths answered with a PDB's 429.
  std::string pod_list = R"({"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]})";
  Result<kube::HttpResponse> Stream(const kube::HttpRequest& request, const kube::ChunkHandler&,
                                    const kube::CancelToken&, std::chrono::milliseconds) override {
    return Send(request);
  }
  std::vector<std::string> requests;
};

class CountingSink final : public kube::EventSink {
 public:
  Status Create(const kube::EventRecord& e) override {
    ++events;
    std::lock_guard lock(mu);
    created.push_back(e.reason + ": " + e.message);
    return Status::Ok();
  }
  Status Patch(const kube::EventRecord&) override {
    ++events;
    return Status::Ok();
  }
  std::atomic<int> events{0};
  std::mutex mu;
  std::vector<std::string> created;  // Guarded by mu: "reason: message".
};

class DensityReconcileTest : public NodesTaintedByTest {
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
  NullStatusApi status_api;
  StatusWriter status{status_api, clock, std::chrono::milliseconds(0)};
};

// A policy that bypassed admission (here releaseBelow not below the cap) is
// reported by PolicyReconciler and never acted on: its taint stays as it is.
TEST_F(DensityReconcileTest, AnInvalidGoverningPolicyIsNotActedOn) {
  const PolicyObject invalid = MakePolicy(
      "p",
      {{"nodeSelector", Selecting("a")},
       {"podDensity", {{"maxPods", 10}, {"releaseBelow", 20}, {"taint", {{"key", kKey}}}}}},
      {.created_second = 1});
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
  policies.Upsert(MakePolicy("p", {{"nodeSelector", Selecting("a")}, {"podDensity", Density(kKey)}},
                             {.created_second = 1}));
  reconciler = std::make_unique<DensityReconciler>(deps);
  auto result = reconciler->Reconcile("w1");
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_TRUE(recorder.WaitIdle(std::chrono::seconds(5)));
  ASSERT_FALSE(http.requests.empty());
  EXPECT_EQ(http.requests.front().rfind("PATCH /api/v1/nodes/w1?", 0), 0u) << http.requests.front();
}

// ---------------------------------------------------------------- overflow eviction

// w1 (cap 10, evictOverflow) after a burst: 12 ReplicaSet pods created at
// seconds 1..12, a DaemonSet pod, a bare pod and a pod already terminating.
class OverflowEvictionTest : public DensityReconcileTest {
 protected:
  OverflowEvictionTest() {
    for (int i = 1; i <= 12; ++i) AddPod("web-" + std::to_string(i), i);
    AddPod("agent", 20, "DaemonSet");
    AddPod("bare", 21, "");
    AddPod("leaving", 22)["metadata"]["deletionTimestamp"] = FormatRfc3339(clock.Now());
    Sync();
  }
  // A pod on w1 as the API server holds it; `kind`: its controller's ("" for none).
  json& AddPod(const std::string& name, int second, const std::string& kind = "ReplicaSet") {
    json p = {{"metadata",
               {{"name", name},
                {"namespace", "ci"},
                {"uid", "uid-" + name},
                {"resourceVersion", "1"},
                {"creationTimestamp",
                 FormatRfc3339(WallTime{} + std::chrono::seconds(1'700'000'000 + second))}}},
              {"spec", {{"nodeName", "w1"}, {"containers", json::array({{{"name", "c"}}})}}},
              {"status", {{"phase", "Running"}}}};
    if (!kind.empty()) {
      p["metadata"]["ownerReferences"] = json::array({{{"apiVersion", "apps/v1"},
                                                       {"kind", kind},
                                                       {"name", name + "-owner"},
                                                       {"uid", "owner"},
                                                       {"controller", true}}});
    }
    return api_pods_[name] = std::move(p);
  }
  // The informer catches up: the cache holds what the API server lists.
  void Sync() {
    for (const auto& [name, p] : api_pods_) {
      pods.Upsert(kube::DecodePod(p.dump()).value());
    }
    ServeList();
  }
  // The API server's list (what the reconciler confirms with), without the cache.
  void ServeList() {
    json items = json::array();
    for (const auto& [_, p] : api_pods_) items.push_back(p);
    http.pod_list = json{
        {"kind", "PodList"},
        {"apiVersion", "v1"},
        {"metadata", json::object()},
        {"items",
         items}}.dump();
  }
  std::map<std::string, json> api_pods_;  // By name.
  void UsePolicy(bool dry_run = false) {
    json density = Density(kKey);
    density["evictOverflow"] = true;
    policies.Upsert(MakePolicy(
        "p", {{"nodeSelector", Selecting("a")}, {"dryRun", dry_run}, {"podDensity", density}},
        {.created_second = 1}));
    // One reconciler per registry: it reads the policy store on each reconcile.
    if (!reconciler) reconciler = std::make_unique<DensityReconciler>(deps);
  }
  std::vector<std::string> Evictions() const {
    std::vector<std::string> out;
    for (const auto& r : http.requests) {
      if (r.rfind("POST ", 0) == 0) out.push_back(r);
    }
    return out;
  }
  static std::string EvictionOf(const std::string& pod) {
    return "/api/v1/namespaces/ci/pods/" + pod + "/eviction";
  }
  std::vector<std::string> OverflowEvents() {
    EXPECT_TRUE(recorder.WaitIdle(std::chrono::seconds(5)));
    std::lock_guard lock(sink.mu);
    std::vector<std::string> out;
    for (const auto& e : sink.created) {
      if (e.rfind("PodDensityOverflowEvicted", 0) == 0) out.push_back(e);
    }
    return out;
  }
  // The counter's sample for policy p, "" when it has none.
  std::string Evicted() const {
    const std::string text = metrics.Render();
    const std::string series = "nodeguard_density_overflow_evictions_total{policy=\"p\"} ";
    const size_t at = text.find(series);
    if (at == std::string::npos) return "";
    return text.substr(at + series.size(), text.find('\n', at) - at - series.size());
  }
};

TEST_F(OverflowEvictionTest, EvictsTheNewestMovablePodsDownToTheCapSkippingAPdbRefusal) {
  // 15 counted, 14 not terminating (the DaemonSet and bare pods count), cap 10:
  // 4 to evict, newest movable first: web-12, web-11 (refused), web-10, web-9, web-8.
  http.refuse.insert(EvictionOf("web-11"));
  UsePolicy();
  auto result = reconciler->Reconcile("w1");
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(Evictions(), (std::vector<std::string>{
                             "POST " + EvictionOf("web-12"), "POST " + EvictionOf("web-11"),
                             "POST " + EvictionOf("web-10"), "POST " + EvictionOf("web-9"),
                             "POST " + EvictionOf("web-8")}));
  EXPECT_EQ(result->requeue_after, std::nullopt) << "the overflow was served";
  EXPECT_EQ(Evicted(), "4");
  const auto events = OverflowEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].find("has 14 pods not terminating, 4 above its cap of 10 (policy p): evicted "
                           "4 pods, newest first: ci/web-12, ci/web-10, ci/web-9, ci/web-8"),
            std::string::npos)
      << events[0];
  EXPECT_NE(events[0].find("ci/web-11 (PodDisruptionBudget web-pdb)"), std::string::npos)
      << events[0];

  // The cache does not show the evicted pods terminating yet: they are not
  // counted, nor evicted again.
  http.requests.clear();
  result = reconciler->Reconcile("w1");
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_TRUE(Evictions().empty()) << Evictions().front();
  EXPECT_EQ(Evicted(), "4");
}

TEST_F(OverflowEvictionTest, ARefusalThatLeavesTheNodeAboveItsCapRequeues) {
  for (int i = 1; i <= 12; ++i) http.refuse.insert(EvictionOf("web-" + std::to_string(i)));
  UsePolicy();
  auto result = reconciler->Reconcile("w1");
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(Evictions().size(), 12u) << "every movable pod tried once";
  EXPECT_EQ(result->requeue_after, std::chrono::seconds(5));
  EXPECT_EQ(Evicted(), "");
}

TEST_F(OverflowEvictionTest, DryRunNamesThePodsAndEvictsNone) {
  UsePolicy(/*dry_run=*/true);
  auto result = reconciler->Reconcile("w1");
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_TRUE(http.requests.empty()) << http.requests.front();
  const auto events = OverflowEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].find("dryRun, would evict 4 pods, newest first: ci/web-12, ci/web-11, "
                           "ci/web-10, ci/web-9"),
            std::string::npos)
      << events[0];
  EXPECT_EQ(Evicted(), "");
}

// The cache has not seen 3 pods leave the node yet (a rollout deleted them):
// the API server's list says 1 over the cap, not 4, and 1 is evicted.
TEST_F(OverflowEvictionTest, TheApiServersListBoundsWhatACacheBehindOnDeletionsEvicts) {
  for (const char* gone : {"web-1", "web-2", "web-3"}) api_pods_.erase(gone);
  ServeList();
  UsePolicy();
  auto result = reconciler->Reconcile("w1");
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_EQ(Evictions(), (std::vector<std::string>{"POST " + EvictionOf("web-12")}));
  EXPECT_EQ(Evicted(), "1");
  const auto events = OverflowEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].find("has 11 pods not terminating, 1 above its cap of 10"), std::string::npos)
      << events[0];

  // Nothing above the cap in the list: nothing evicted, no Event.
  http.requests.clear();
  api_pods_.erase("web-4");
  Sync();
  pods.Erase("ci", "web-1");  // The cache still holds web-2, web-3 and web-4.
  ASSERT_TRUE(reconciler->Reconcile("w1").ok());
  EXPECT_TRUE(Evictions().empty()) << Evictions().front();
}

TEST_F(OverflowEvictionTest, OffByDefaultAndNothingAtTheCap) {
  policies.Upsert(MakePolicy("p", {{"nodeSelector", Selecting("a")}, {"podDensity", Density(kKey)}},
                             {.created_second = 1}));
  reconciler = std::make_unique<DensityReconciler>(deps);
  ASSERT_TRUE(reconciler->Reconcile("w1").ok());
  EXPECT_TRUE(Evictions().empty());

  // evictOverflow on, 10 pods not terminating: at the cap.
  for (int i = 1; i <= 4; ++i) {
    pods.Erase("ci", "web-" + std::to_string(i));
    api_pods_.erase("web-" + std::to_string(i));
  }
  ServeList();
  UsePolicy();
  ASSERT_TRUE(reconciler->Reconcile("w1").ok());
  EXPECT_TRUE(Evictions().empty()) << Evictions().front();
  EXPECT_TRUE(OverflowEvents().empty());
}

// ---------------------------------------------------------------- ownership flows

// Holds nodes as the API server stores them (JSON) and applies JSON patches
// exactly (nlohmann's RFC 6902, the same semantics as the API server's:
// a failed `test` rejects the whole patch with 422) and merge patches (RFC
// 7386), bumping the resourceVersion and mirroring the result into the
// informer store.
class PatchingHttp final : public kube::HttpClient {
 public:
  explicit PatchingHttp(kube::Store<kube::Node>& store) : store_(store) {}

  void Put(json node) {
    node["metadata"]["resourceVersion"] = std::to_string(++rv_);
    const std::string name = node["metadata"]["name"];
    nodes_[name] = node;
    store_.Upsert(kube::DecodeObject<kube::Node>(node.dump()).value());
  }
  const json& Get(const std::string& name) const { return nodes_.at(name); }

  Result<kube::HttpResponse> Send(const kube::HttpRequest& request) override {
    ++writes;
    kube::HttpResponse r;
    const std::string prefix = "/api/v1/nodes/";
    if (request.method != "PATCH" || request.path_and_query.rfind(prefix, 0) != 0) {
      r.status = 404;
      r.body = "{}";
      return r;
    }
    std::string name = request.path_and_query.substr(prefix.size());
    name = name.substr(0, name.find('?'));
    try {
      auto type = request.headers.find("Content-Type");
      if (type != request.headers.end() && type->second == "application/merge-patch+json") {
        json merged = nodes_.at(name);
        merged.merge_patch(json::parse(request.body));
        Put(std::move(merged));
      } else {
        Put(nodes_.at(name).patch(json::parse(request.body)));
      }
      r.status = 200;
      r.body = nodes_.at(name).dump();
    } catch (const json::exception& e) {
      r.status = 422;
      r.body = json{{"kind", "Status"}, {"code", 422}, {"message", e.what()}}.dump();
    }
    return r;
  }
  Result<kube::HttpResponse> Stream(const kube::HttpRequest& request, const kube::ChunkHandler&,
                                    const kube::CancelToken&, std::chrono::milliseconds) override {
    return Send(request);
  }
  int writes = 0;

 private:
  kube::Store<kube::Node>& store_;
  std::map<std::string, json> nodes_;
  int64_t rv_ = 100;
};

constexpr const char* kDedicated = "example.com/dedicated";

json TaintJson(const std::string& key, const std::string& value, const std::string& effect) {
  json t = {{"key", key}, {"effect", effect}};
  if (!value.empty()) t["value"] = value;
  return t;
}

class DensityFlowTest : public NodesTaintedByTest {
 protected:
  DensityFlowTest() {
    policies.Erase("", "deleted");
    deps.rest = &rest;
    deps.events = &recorder;
    deps.status = &status;
    deps.clock = &clock;
  }

  void AddNode(const std::string& name, const std::string& pool, json taints,
               json annotations = json()) {
    json n = {{"metadata", {{"name", name}, {"uid", "uid-" + name}, {"labels", {{"pool", pool}}}}},
              {"spec", {{"taints", std::move(taints)}}},
              {"status",
               {{"capacity", {{"cpu", "4"}, {"pods", "110"}}},
                {"allocatable", {{"cpu", "4"}, {"pods", "110"}}}}}};
    if (!annotations.is_null()) n["metadata"]["annotations"] = std::move(annotations);
    http.Put(std::move(n));
  }
  void AddPods(const std::string& node, int count) {
    for (int i = 0; i < count; ++i) {
      kube::Pod pod;
      pod.meta.name = node + "-pod-" + std::to_string(pods_added_++);
      pod.meta.namespace_ = kube::Symbol::Intern("default");
      pod.meta.uid = "uid-" + pod.meta.name;
      pod.node_name = kube::Symbol::Intern(node);
      pod.phase = kube::PodPhase::kRunning;
      pod.controller_kind = kube::ControllerKind::kReplicaSet;
      pods.Upsert(pod);
    }
  }
  void RemovePods() {
    for (const auto& pod : pods.List()) pods.Erase(pod->meta.namespace_.str(), pod->meta.name);
  }
  // The policy "p" selecting pool a, cap 2 (taint at 2, release below 1).
  void SetPolicy(const std::string& key, bool dry_run = false, bool deleting = false) {
    json density = {{"maxPods", 2}, {"releaseBelow", 1}, {"taint", {{"key", key}}}};
    policies.Upsert(MakePolicy(
        "p", {{"nodeSelector", Selecting("a")}, {"dryRun", dry_run}, {"podDensity", density}},
        {.created_second = 1, .deleting = deleting}));
  }
  // Reconciles every node until nothing more is written (each write changes
  // the node, which the informer would re-queue).
  void Settle() {
    if (!reconciler) reconciler = std::make_unique<DensityReconciler>(deps);
    for (int round = 0; round < 5; ++round) {
      const int before = http.writes;
      for (const auto& n : nodes.List()) {
        auto r = reconciler->Reconcile(n->meta.name);
        ASSERT_TRUE(r.ok()) << r.error().ToString();
      }
      if (http.writes == before) return;
    }
    FAIL() << "did not settle";
  }
  // The node's taints, timeAdded left out (nodeguard sets it to the clock's now).
  json Taints(const std::string& node) const {
    json taints = http.Get(node)["spec"].value("taints", json::array());
    for (json& t : taints) t.erase("timeAdded");
    return taints;
  }
  json Record(const std::string& node) const {
    const json& m = http.Get(node)["metadata"];
    if (!m.contains("annotations") || !m["annotations"].contains(density::kTaintRecordAnnotation))
      return json();
    return json::parse(m["annotations"][density::kTaintRecordAnnotation].get<std::string>());
  }

  FakeClock clock;
  PatchingHttp http{nodes};
  kube::RestClient rest{http, kube::RestOptions{}};
  CountingSink sink;
  kube::EventRecorder recorder{sink, kube::EventRecorderOptions{}, clock};
  NullStatusApi status_api;
  StatusWriter status{status_api, clock, std::chrono::milliseconds(0)};
  int pods_added_ = 0;
};

// Issue 16, item 5: changing podDensity.taint.key left the old taints on
// every capped node, and a key an administrator also uses was stripped from
// nodes the policy never selected. Here: a key change to `dedicated` next to
// an administrator's `dedicated` taints (another effect on the selected node,
// the same effect on a node the policy does not select), the change back,
// the pods going away and the policy deleted.
TEST_F(DensityFlowTest, KeyChangeNextToForeignTaintsWithTheNewKey) {
  const json foreign_pref = TaintJson(kDedicated, "team-a", "PreferNoSchedule");
  const json foreign_same = TaintJson(kDedicated, "team-b", "NoSchedule");
  AddNode("w1", "a", json::array({foreign_pref}));
  AddNode("w2", "b", json::array({foreign_pref, foreign_same}));  // Never selected.
  SetPolicy(kKey);
  AddPods("w1", 2);
  Settle();
  EXPECT_EQ(Taints("w1"), json::array({foreign_pref, TaintJson(kKey, "p", "NoSchedule")}));
  EXPECT_EQ(Record("w1")["key"], kKey);

  SetPolicy(kDedicated);
  Settle();
  EXPECT_EQ(Taints("w1"), json::array({foreign_pref, TaintJson(kDedicated, "p", "NoSchedule")}))
      << "the old key replaced by the new one, the administrator's taint untouched";
  EXPECT_EQ(Record("w1"),
            json::parse(density::EncodeTaintRecord(
                {"p", kube::Taint{kDedicated, "p", kube::TaintEffect::kNoSchedule, {}}})));
  EXPECT_EQ(Taints("w2"), json::array({foreign_pref, foreign_same})) << "never selected";

  SetPolicy(kKey);
  Settle();
  EXPECT_EQ(Taints("w1"), json::array({foreign_pref, TaintJson(kKey, "p", "NoSchedule")}));
  EXPECT_EQ(Taints("w2"), json::array({foreign_pref, foreign_same}));

  RemovePods();
  Settle();
  EXPECT_EQ(Taints("w1"), json::array({foreign_pref})) << "released: nothing of ours left";
  EXPECT_TRUE(Record("w1").is_null());

  AddPods("w1", 2);
  SetPolicy(kDedicated);
  Settle();
  SetPolicy(kDedicated, false, /*deleting=*/true);
  EXPECT_EQ(reconciler->NodesTaintedBy("p"), 1) << "the finalizer waits for w1";
  Settle();
  EXPECT_EQ(reconciler->NodesTaintedBy("p"), 0);
  EXPECT_EQ(Taints("w1"), json::array({foreign_pref}));
  EXPECT_TRUE(Record("w1").is_null());
  EXPECT_EQ(Taints("w2"), json::array({foreign_pref, foreign_same}));
}

// The administrator's taint holds the policy's key and effect on a selected
// node: nodeguard cannot add its own, and leaves that one alone, also when
// the node is released and when the policy is deleted.
// Issue 19, fourth milestone: the governing policy's early-warning marks are
// written on the node for its agent, and the node's published level lowers
// its cap (maxPods 6, reduceBy 3: lowered cap 3) with the taint's marks of
// the effective cap; an unreadable level changes nothing either way.
TEST_F(DensityFlowTest, TheAdaptiveCapAndTheThresholdsForTheAgent) {
  const char* kThresholds = "nodeguard.io/early-warning-thresholds";
  auto annotations = [&](const std::string& node) {
    return http.Get(node)["metadata"].value("annotations", json::object());
  };
  auto publish = [&](const std::string& value) {
    json n = http.Get("w1");
    n["metadata"]["annotations"]["nodeguard.io/early-warning"] = value;
    http.Put(std::move(n));
    Settle();
  };
  const json density = {{"maxPods", 6}, {"taint", {{"key", kKey}}}};
  json spec = {{"nodeSelector", Selecting("a")},
               {"podDensity", density},
               {"earlyWarning", {{"hold", "1m"}, {"adaptiveCap", {{"reduceBy", 3}}}}}};
  policies.Upsert(MakePolicy("p", spec, {.created_second = 1}));
  AddNode("w1", "a", json::array());
  AddNode("w2", "b", json::array());  // No policy governs it.
  AddPods("w1", 4);
  Settle();
  ASSERT_TRUE(annotations("w1").contains(kThresholds));
  EXPECT_EQ(
      json::parse(annotations("w1")[kThresholds].get<std::string>()),
      json::parse(R"({"policy":"p","degradedRelistP99":"1s","calmRelistP99":"500ms",)"
                  R"("criticalLastRelistAge":"30s","calmLastRelistAge":"10s","hold":"1m0s"})"));
  EXPECT_FALSE(annotations("w2").contains(kThresholds));
  EXPECT_EQ(Taints("w1"), json::array()) << "4 pods under the policy cap 6";

  publish(R"({"level":"Degraded","since":"2026-12-07T10:00:00Z"})");
  EXPECT_EQ(Taints("w1"), json::array({TaintJson(kKey, "p", "NoSchedule")}))
      << "4 pods at the lowered cap 3";
  publish("{not json");
  EXPECT_EQ(Taints("w1"), json::array({TaintJson(kKey, "p", "NoSchedule")}))
      << "unreadable: the taint stays (release below 2, the lowered cap's)";
  publish(R"({"level":"Healthy","since":"2026-12-07T10:05:00Z"})");
  EXPECT_EQ(Taints("w1"), json::array()) << "restored cap 6: 4 is below its release mark 5";
  publish("[]");
  EXPECT_EQ(Taints("w1"), json::array()) << "unreadable: no taint added (taint at 6)";

  spec.erase("earlyWarning");
  policies.Upsert(MakePolicy("p", spec, {.created_second = 1}));
  Settle();
  EXPECT_FALSE(annotations("w1").contains(kThresholds)) << "without earlyWarning the flags decide";
}

TEST_F(DensityFlowTest, AForeignTaintWithTheKeyAndEffectIsNeverTouched) {
  const json admin = TaintJson(kKey, "admin", "NoSchedule");
  AddNode("w1", "a", json::array({admin}));
  SetPolicy(kKey);
  AddPods("w1", 3);
  Settle();
  EXPECT_EQ(Taints("w1"), json::array({admin}));
  EXPECT_TRUE(Record("w1").is_null());
  EXPECT_EQ(http.writes, 0);
  RemovePods();
  SetPolicy(kKey, false, /*deleting=*/true);
  Settle();
  EXPECT_EQ(Taints("w1"), json::array({admin}));
  EXPECT_EQ(reconciler->NodesTaintedBy("p"), 0);
}

// Migration: a taint written by a nodeguard without records, exactly the
// policy's, is adopted (recorded in place) and later removed like any other.
TEST_F(DensityFlowTest, AnUnrecordedTaintOfTheGoverningPolicyIsAdopted) {
  const json legacy = TaintJson(kKey, "p", "NoSchedule");
  AddNode("w1", "a", json::array({legacy}), json{{"other", "kept"}});
  SetPolicy(kKey);
  AddPods("w1", 2);
  Settle();
  EXPECT_EQ(Taints("w1"), json::array({legacy}));
  EXPECT_EQ(Record("w1")["policy"], "p");
  EXPECT_EQ(http.Get("w1")["metadata"]["annotations"]["other"], "kept");
  RemovePods();
  Settle();
  EXPECT_EQ(Taints("w1"), json::array());
}

// A policy being deleted removes its real taints even in dry run (the
// policy's or the controller's), so its finalizer goes.
TEST_F(DensityFlowTest, ADeletedPolicysTaintIsRemovedEvenInDryRun) {
  for (const bool controller_dry_run : {false, true}) {
    SCOPED_TRACE(controller_dry_run);
    options.dry_run = controller_dry_run;
    AddNode("w1", "a", json::array());
    SetPolicy(kKey);
    AddPods("w1", 2);
    options.dry_run = false;
    Settle();
    ASSERT_EQ(Taints("w1").size(), 1u);
    options.dry_run = controller_dry_run;
    SetPolicy(kKey, /*dry_run=*/!controller_dry_run, /*deleting=*/true);
    EXPECT_EQ(reconciler->NodesTaintedBy("p"), 1);
    Settle();
    EXPECT_EQ(Taints("w1"), json::array());
    EXPECT_EQ(reconciler->NodesTaintedBy("p"), 0);
    RemovePods();
    options.dry_run = false;
  }
}

// A live policy switched to dryRun leaves its real taint as it is (neither
// removed when its pods go, nor rewritten after a key change), and resumes
// managing it when switched back.
TEST_F(DensityFlowTest, ALivePolicySwitchedToDryRunFreezesItsRealTaints) {
  AddNode("w1", "a", json::array());
  SetPolicy(kKey);
  AddPods("w1", 2);
  Settle();
  const json capped = Taints("w1");
  ASSERT_EQ(capped.size(), 1u);
  SetPolicy(kDedicated, /*dry_run=*/true);
  RemovePods();
  const int writes = http.writes;
  Settle();
  EXPECT_EQ(http.writes, writes);
  EXPECT_EQ(Taints("w1"), capped);
  SetPolicy(kDedicated, /*dry_run=*/false);
  Settle();
  EXPECT_EQ(Taints("w1"), json::array()) << "back from dry run: released (no pods)";
}

// density.cap-reached is recorded when nodeguard taints a node at its cap:
// once per transition (not on every reconcile of a capped node), again after
// a release, never in dry run.
TEST_F(DensityFlowTest, TaintingANodeAtItsCapRecordsItForTheAggregatedNotification) {
  std::vector<notify::Fact> sent;
  DensityNotifications notices(
      "prod", std::chrono::minutes(10), [&](const notify::Fact& f) { sent.push_back(f); }, clock,
      Duration::zero());
  deps.density_notices = &notices;
  AddNode("w1", "a", json::array());
  AddNode("w2", "a", json::array());
  AddNode("w3", "b", json::array());  // Not selected.
  SetPolicy(kKey);
  AddPods("w1", 2);
  AddPods("w3", 2);
  Settle();
  Settle();  // Capped nodes reconciled again: no new transition.
  notices.Flush();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].policy, "p");
  EXPECT_EQ(sent[0].nodes, (std::vector<std::string>{"w1"}));
  Settle();
  clock.Advance(std::chrono::minutes(10));
  notices.Flush();
  EXPECT_EQ(sent.size(), 1u) << "a capped node reconciled again is no new transition";

  RemovePods();  // w1 released ...
  Settle();
  AddPods("w1", 2);  // ... and capped again.
  Settle();
  clock.Advance(std::chrono::minutes(10));
  notices.Flush();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].nodes, (std::vector<std::string>{"w1"}));

  RemovePods();
  Settle();
  SetPolicy(kKey, /*dry_run=*/true);
  AddPods("w2", 2);
  Settle();
  clock.Advance(std::chrono::minutes(10));
  notices.Flush();
  EXPECT_EQ(sent.size(), 2u) << "dry run: nothing tainted, nothing recorded";
}

// A taint recorded for a policy that no longer selects the node, and that no
// other policy governs, is removed; one another policy governs is handed
// over in place (no window without a taint).
TEST_F(DensityFlowTest, DeselectedNodesAreReleasedAndOverlapsHandedOver) {
  AddNode("w1", "a", json::array());
  AddNode("w2", "a", json::array());
  SetPolicy(kKey);
  AddPods("w1", 2);
  AddPods("w2", 2);
  Settle();
  // w2 leaves pool a; an older policy "q" governs pool b with the same key.
  policies.Upsert(MakePolicy("q",
                             {{"nodeSelector", Selecting("b")},
                              {"podDensity", {{"maxPods", 2}, {"taint", {{"key", kKey}}}}}},
                             {.created_second = 0}));
  json w2 = http.Get("w2");
  w2["metadata"]["labels"]["pool"] = "b";
  http.Put(w2);
  json w1 = http.Get("w1");
  w1["metadata"]["labels"]["pool"] = "c";  // No policy selects it now.
  http.Put(w1);
  Settle();
  EXPECT_EQ(Taints("w1"), json::array());
  EXPECT_TRUE(Record("w1").is_null());
  EXPECT_EQ(Taints("w2"), json::array({TaintJson(kKey, "q", "NoSchedule")}));
  EXPECT_EQ(Record("w2")["policy"], "q");
}

}  // namespace
}  // namespace nodeguard::runtime
