// HygieneReconciler against an in-memory API server: the REST calls it makes
// go through the real RestClient and EventRecorder to FakeApiServer, which
// keeps Events, pods' annotations and PolicyReports like the API server does
// (names unique per namespace, resourceVersion checks on merge patches,
// field selectors on reason) and hands pod changes back to the test's
// informer stand-in. A "restart" builds a new reconciler (new process state,
// new metrics, new EventRecorder) against the same server and caches.

#include "hygiene/reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <mutex>
#include <set>

#include "api/decode.h"
#include "fakes/api_server.h"
#include "fakes/policy.h"
#include "fakes/status_api.h"
#include "hygiene/decide.h"
#include "kube/events.h"
#include "kube/rest.h"
#include "kube/store.h"

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using json = nlohmann::json;

namespace nodeguard::runtime {
namespace {

using fakes::FakeApiServer;
using fakes::MakePolicy;
using fakes::NullStatusApi;
using fakes::StatusResponse;

constexpr uint8_t kReqCpu = kube::kRequestCpu;
constexpr uint8_t kReqMem = kube::kRequestMemory;
constexpr uint8_t kLimCpu = kube::kLimitCpu;
constexpr uint8_t kLimMem = kube::kLimitMemory;
constexpr uint8_t kAllSet = kReqCpu | kReqMem | kLimCpu | kLimMem;

kube::ContainerResources C(const std::string& name, uint8_t declared, bool init = false) {
  return {kube::Symbol::Intern(name), declared, init};
}

kube::Pod MakePod(const std::string& ns, const std::string& name, const std::string& node,
                  std::vector<kube::ContainerResources> containers,
                  kube::QosClass qos = kube::QosClass::kBurstable) {
  kube::Pod p;
  p.meta.namespace_ = kube::Symbol::Intern(ns);
  p.meta.name = name;
  p.meta.uid = "uid-" + ns + "-" + name;
  p.meta.resource_version = "1";
  p.node_name = kube::Symbol::Intern(node);
  p.phase = kube::PodPhase::kRunning;
  p.qos = qos;
  p.containers = std::move(containers);
  return p;
}

kube::Node MakeNode(const std::string& name, kube::Labels labels, int64_t cpu_reserved_millis,
                    int64_t memory_reserved_bytes) {
  kube::Node n;
  n.meta.name = name;
  n.meta.uid = "uid-node-" + name;
  n.meta.resource_version = "1";
  n.labels = std::move(labels);
  n.capacity = {8000, 32LL << 30, 100LL << 30, 110};
  n.allocatable = n.capacity;
  n.allocatable.cpu_millis -= cpu_reserved_millis;
  n.allocatable.memory_bytes -= memory_reserved_bytes;
  kube::NodeCondition ready;
  ready.type = kube::Symbol::Intern("Ready");
  ready.status = kube::ConditionStatus::kTrue;
  n.conditions.push_back(ready);
  return n;
}

// The hygiene block the e2e test uses too.
json HygieneSpec(bool annotate = true) {
  return {{"requiredRequests", {"cpu", "memory"}},
          {"requiredLimits", {"memory"}},
          {"includeInitContainers", true},
          {"excludeNamespaces", {"kube-system", "excluded"}},
          {"annotatePods", annotate},
          {"emitEvents", true},
          {"flagNodesWithoutSystemReserve", true}};
}

class HygieneReconcilerTest : public ::testing::Test {
 protected:
  HygieneReconcilerTest() {
    EXPECT_TRUE(kube::AddPodIndexes(pods).ok());
    kube::RestOptions rest_options;
    rest_options.max_attempts = 1;
    rest_options.sleep = [](std::chrono::milliseconds) {};
    rest = std::make_unique<kube::RestClient>(server, rest_options);
    sink = kube::MakeRestEventSink(*rest);
  }
  ~HygieneReconcilerTest() override { Stop(); }

  // A fresh process: new reconciler, metrics, recorder, queue; same cluster.
  void Start() {
    Stop();
    metrics = std::make_unique<observe::MetricsRegistry>();
    recorder = std::make_unique<kube::EventRecorder>(*sink, kube::EventRecorderOptions{});
    kube::WorkQueue::Options qo;
    qo.name = "hygiene";
    qo.clock = &clock;
    queue = std::make_unique<kube::WorkQueue>(std::move(qo));
    Deps deps;
    deps.nodes = &nodes;
    deps.pods = &pods;
    deps.policies = &policies;
    deps.rest = rest.get();
    deps.events = recorder.get();
    deps.status = &status;
    deps.metrics = metrics.get();
    deps.clock = &clock;
    deps.options = &options;
    HygieneReconcilerOptions ho;
    ho.summary_delay = Duration(0);
    ho.event_host = "test";
    ho.write_qps = write_qps;
    ho.write_burst = write_burst;
    reconciler = std::make_unique<HygieneReconciler>(deps, ho);
    reconciler->EnqueueAll(*queue);
    Drain();
  }
  void Stop() {
    if (recorder) recorder->WaitIdle(5s);
    reconciler.reset();
    recorder.reset();
    if (queue) queue->ShutDown();
    queue.reset();
  }

  // Informer stand-ins: change the caches and call the hooks.
  void AddPolicy(const PolicyObject& p) {
    status.Observe(p.policy);
    auto old = policies.Upsert(p);
    if (reconciler) reconciler->OnPolicy(old.get(), policies.Get("", p.meta.name).get(), *queue);
  }
  void RemovePolicy(const std::string& name) {
    auto old = policies.Erase("", name);
    if (reconciler) reconciler->OnPolicy(old.get(), nullptr, *queue);
  }
  void AddNode(const kube::Node& n) {
    auto old = nodes.Upsert(n);
    if (reconciler) reconciler->OnNode(old.get(), nodes.Get("", n.meta.name).get(), *queue);
  }
  void AddPod(const kube::Pod& p) {
    auto old = pods.Upsert(p);
    if (reconciler) {
      reconciler->OnPod(old.get(), pods.Get(p.meta.namespace_.view(), p.meta.name).get(), *queue);
    }
  }
  void DeletePod(const std::string& ns, const std::string& name) {
    auto old = pods.Erase(ns, name);
    if (reconciler && old) reconciler->OnPod(old.get(), nullptr, *queue);
  }
  // Delivers the pod changes the server made (as the informer would).
  bool Pump() {
    std::deque<kube::Pod> updates;
    {
      std::lock_guard lock(server.mu);
      updates.swap(server.pod_updates);
    }
    for (auto& p : updates) AddPod(p);
    return !updates.empty();
  }
  // Runs the queue until nothing is left (delayed retries excluded).
  void Drain() {
    for (int i = 0; i < 100000; ++i) {
      const bool delivered = Pump();
      auto key = queue->TryGet();
      if (!key) {
        if (!delivered) {
          recorder->WaitIdle(5s);
          return;
        }
        continue;
      }
      auto result = reconciler->Reconcile(*key);
      if (!result.ok()) {
        if (result.error().Is(ErrorKind::kConflict)) {
          queue->Add(*key);  // Retried once the informer caught up.
        } else {
          errors.push_back(*key + ": " + result.error().ToString());
        }
      }
      queue->Done(*key);
    }
    ADD_FAILURE() << "the queue never drained";
  }

  std::string Metrics() const { return metrics->Render(); }
  // The value of one series, or -1 when absent.
  double Series(const std::string& series) const {
    const std::string text = Metrics();
    const size_t at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + series.size() + 2));
  }
  static std::string Missing(const std::string& policy, const std::string& ns,
                             const std::string& resource) {
    return "nodeguard_pods_missing_resources{policy=\"" + policy + "\",namespace=\"" + ns +
           "\",resource=\"" + resource + "\"}";
  }
  api::NodeHealthPolicyStatus Status(const std::string& policy) const {
    auto s = status.Desired(policy);
    EXPECT_TRUE(s.has_value());
    return s.value_or(api::NodeHealthPolicyStatus{});
  }
  std::string Annotation(const std::string& ns, const std::string& name) const {
    auto p = pods.Get(ns, name);
    return p ? p->resource_findings_annotation.str() : "<no pod>";
  }
  std::set<std::string> FlaggedEventPods() {
    std::set<std::string> out;
    for (const auto& [k, e] : server.EventsWithReason(hygiene::kMissingResourcesReason)) {
      out.insert(e["involvedObject"].value("namespace", "") + "/" +
                 e["involvedObject"].value("name", ""));
    }
    return out;
  }

  // The e2e mix, on node "w1" governed by policy "p".
  void CreateMix() {
    AddNode(MakeNode("w1", {{"pool", "a"}}, 1000, 1LL << 30));
    AddPod(MakePod("team", "none", "w1", {C("app", 0)}, kube::QosClass::kBestEffort));
    AddPod(MakePod("team", "requests-only", "w1", {C("app", kReqCpu | kReqMem)}));
    // Limits only, as admitted: the API server copied limits.memory to requests.memory.
    AddPod(MakePod("team", "limits-only", "w1", {C("app", kLimMem | kReqMem)}));
    AddPod(MakePod("team", "all-set", "w1", {C("app", kAllSet)}, kube::QosClass::kGuaranteed));
    AddPod(MakePod("team", "init-without", "w1", {C("setup", 0, true), C("app", kAllSet)}));
    AddPod(MakePod("excluded", "none", "w1", {C("app", 0)}, kube::QosClass::kBestEffort));
  }

  FakeClock clock;
  kube::Store<kube::Node> nodes;
  kube::Store<kube::Pod> pods;
  kube::Store<PolicyObject> policies;
  FakeApiServer server{nodes, pods};
  std::unique_ptr<kube::RestClient> rest;
  std::unique_ptr<kube::EventSink> sink;
  NullStatusApi status_api;
  StatusWriter status{status_api, clock, 0ms};
  ControllerOptions options;
  double write_qps = 0;  // Per-pod writes not paced, unless a test sets it.
  int write_burst = 1;
  std::unique_ptr<observe::MetricsRegistry> metrics;
  std::unique_ptr<kube::EventRecorder> recorder;
  std::unique_ptr<kube::WorkQueue> queue;
  std::unique_ptr<HygieneReconciler> reconciler;
  std::vector<std::string> errors;
};

TEST_F(HygieneReconcilerTest, FlagsExactlyTheRightPodsInEveryOutput) {
  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec()}}));
  CreateMix();
  Start();
  EXPECT_THAT(errors, IsEmpty());

  // Annotations.
  EXPECT_EQ(Annotation("team", "none"), "app: requests.cpu,requests.memory,limits.memory");
  EXPECT_EQ(Annotation("team", "requests-only"), "app: limits.memory");
  EXPECT_EQ(Annotation("team", "limits-only"), "app: requests.cpu");
  EXPECT_EQ(Annotation("team", "all-set"), "");
  EXPECT_EQ(Annotation("team", "init-without"),
            "init:setup: requests.cpu,requests.memory,limits.memory");
  EXPECT_EQ(Annotation("excluded", "none"), "");

  // Events: one per flagged pod, in its namespace, with the deterministic name.
  auto events = server.EventsWithReason(hygiene::kMissingResourcesReason);
  EXPECT_THAT(FlaggedEventPods(), UnorderedElementsAre("team/none", "team/requests-only",
                                                       "team/limits-only", "team/init-without"));
  const std::string none_event = "team/" + hygiene::EventObjectName(*pods.Get("team", "none"));
  ASSERT_EQ(events.count(none_event), 1u);
  EXPECT_EQ(events[none_event]["type"], "Warning");
  EXPECT_EQ(events[none_event]["involvedObject"]["uid"], "uid-team-none");
  EXPECT_THAT(events[none_event]["message"].get<std::string>(),
              HasSubstr("(QoS BestEffort) lacks resource requirements: container app: "
                        "requests.cpu, requests.memory, limits.memory"));
  const std::string init_event =
      "team/" + hygiene::EventObjectName(*pods.Get("team", "init-without"));
  EXPECT_THAT(events[init_event]["message"].get<std::string>(),
              HasSubstr("init container setup: requests.cpu, requests.memory, limits.memory"));

  // Status.
  const auto s = Status("p");
  EXPECT_EQ(s.pods_flagged, 4);
  ASSERT_EQ(s.resource_hygiene.namespaces.size(), 1u);
  EXPECT_EQ(s.resource_hygiene.namespaces[0].namespace_, "team");
  EXPECT_EQ(s.resource_hygiene.namespaces[0].pods, 4);
  std::vector<std::string> examples;
  for (const auto& e : s.resource_hygiene.example_pods)
    examples.push_back(e.name + "=" + e.findings);
  EXPECT_THAT(examples,
              ElementsAre("init-without=init:setup: requests.cpu,requests.memory,limits.memory",
                          "limits-only=app: requests.cpu",
                          "none=app: requests.cpu,requests.memory,limits.memory",
                          "requests-only=app: limits.memory"));

  // Metrics.
  EXPECT_EQ(Series(Missing("p", "team", "requests.cpu")), 3);
  EXPECT_EQ(Series(Missing("p", "team", "requests.memory")), 2);
  EXPECT_EQ(Series(Missing("p", "team", "limits.memory")), 3);
  EXPECT_EQ(Series(Missing("p", "team", "limits.cpu")), -1);
  EXPECT_THAT(Metrics(), ::testing::Not(HasSubstr("namespace=\"excluded\"")));
  EXPECT_TRUE(reconciler->InitialSyncDone());
}

TEST_F(HygieneReconcilerTest, AnnotationWriteIsAConflictSafeMergePatch) {
  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec()}}));
  CreateMix();
  // Someone else changes the pod between our read and our write, once.
  bool conflicted = false;
  server.inject = [&](const kube::HttpRequest& r) -> std::optional<kube::HttpResponse> {
    if (r.method == "PATCH" && r.path_and_query.find("/pods/none") != std::string::npos &&
        !conflicted) {
      conflicted = true;
      EXPECT_THAT(r.body, HasSubstr("\"resourceVersion\":\"1\""));
      return StatusResponse(409, "Conflict");
    }
    return std::nullopt;
  };
  Start();
  EXPECT_TRUE(conflicted);
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_EQ(Annotation("team", "none"), "app: requests.cpu,requests.memory,limits.memory");
  EXPECT_EQ(server.EventsWithReason(hygiene::kMissingResourcesReason).size(), 4u);
}

TEST_F(HygieneReconcilerTest, OnlyChangedPodsAreEvaluatedAfterTheInitialSync) {
  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec()}}));
  CreateMix();
  Start();
  ASSERT_EQ(queue->Len(), 0u);

  // A resync delivering the same pod, and our own annotation write echoed: nothing.
  auto none = pods.Get("team", "none");
  reconciler->OnPod(none.get(), none.get(), *queue);
  kube::Pod status_only = *none;
  status_only.meta.resource_version = "77";
  reconciler->OnPod(none.get(), &status_only, *queue);
  EXPECT_EQ(queue->Len(), 0u);

  // A periodic resync re-checks nodes and policies, not pods.
  reconciler->EnqueueAll(*queue);
  for (auto key = queue->TryGet(); key; key = queue->TryGet()) {
    EXPECT_EQ(key->find('/'), std::string::npos) << *key;
    queue->Done(*key);
  }

  // Someone edits the annotation: back to the queue, and restored.
  kube::Pod edited = *pods.Get("team", "none");
  edited.resource_findings_annotation = kube::Symbol::Intern("tampered");
  AddPod(edited);
  EXPECT_EQ(queue->Len(), 1u);
  const size_t patches = server.pod_patches.size();
  Drain();
  EXPECT_EQ(server.pod_patches.size(), patches + 1);
  EXPECT_EQ(Annotation("team", "none"), "app: requests.cpu,requests.memory,limits.memory");
  EXPECT_EQ(server.EventsWithReason(hygiene::kMissingResourcesReason).size(), 4u);
}

TEST_F(HygieneReconcilerTest, FixedAndDeletedPodsLeaveEveryOutput) {
  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec()}}));
  CreateMix();
  server.reports_api = true;
  Start();
  ASSERT_EQ(Status("p").pods_flagged, 4);
  ASSERT_EQ(server.reports.count("team/nodeguard-p"), 1u);

  // A Deployment rollout: the old pods go, new ones with resources come.
  for (const char* name : {"none", "requests-only", "limits-only", "init-without"}) {
    DeletePod("team", name);
  }
  AddPod(MakePod("team", "web-fixed", "w1", {C("app", kAllSet)}, kube::QosClass::kGuaranteed));
  Drain();
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_EQ(Status("p").pods_flagged, 0);
  EXPECT_THAT(Status("p").resource_hygiene.namespaces, IsEmpty());
  EXPECT_THAT(Status("p").resource_hygiene.example_pods, IsEmpty());
  EXPECT_EQ(Series(Missing("p", "team", "requests.cpu")), -1);
  EXPECT_EQ(Annotation("team", "web-fixed"), "");
  EXPECT_EQ(server.reports.count("team/nodeguard-p"), 0u);  // Deleted with the last finding.
  EXPECT_EQ(server.EventsWithReason(hygiene::kMissingResourcesReason).size(), 4u);
}

TEST_F(HygieneReconcilerTest, RestartEmitsNoDuplicateEventsWithoutAnnotations) {
  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec(/*annotate=*/false)}}));
  CreateMix();
  Start();
  ASSERT_EQ(FlaggedEventPods().size(), 4u);
  EXPECT_THAT(server.pod_patches, IsEmpty());
  const size_t creates = server.CountRequests("POST /api/v1/namespaces/team/events");
  ASSERT_EQ(creates, 4u);

  Start();  // Restart: the reported set comes from the Events, before any decision.
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_EQ(server.CountRequests("POST /api/v1/namespaces/team/events"), creates);
  EXPECT_EQ(Status("p").pods_flagged, 4);

  // A new flagged pod after the restart still gets its Event.
  AddPod(MakePod("team", "late", "w1", {C("app", 0)}, kube::QosClass::kBestEffort));
  Drain();
  EXPECT_EQ(FlaggedEventPods().size(), 5u);
}

TEST_F(HygieneReconcilerTest, RestartWithAnnotationsWritesNothing) {
  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec()}}));
  CreateMix();
  Start();
  const size_t requests_before = server.CountRequests("POST") + server.CountRequests("PATCH");
  Start();
  EXPECT_EQ(server.CountRequests("POST") + server.CountRequests("PATCH"), requests_before);
  EXPECT_EQ(Status("p").pods_flagged, 4);
  EXPECT_EQ(Series(Missing("p", "team", "limits.memory")), 3);  // Rebuilt by the new process.
}

TEST_F(HygieneReconcilerTest, EventNameIsTheLastGuardWhenEventsCannotBeListed) {
  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec(/*annotate=*/false)}}));
  CreateMix();
  Start();
  ASSERT_EQ(FlaggedEventPods().size(), 4u);
  // No RBAC to list Events: creates answer AlreadyExists, which counts as reported.
  server.inject = [](const kube::HttpRequest& r) -> std::optional<kube::HttpResponse> {
    if (r.method == "GET" && r.path_and_query.rfind("/api/v1/events", 0) == 0) {
      return StatusResponse(403, "Forbidden");
    }
    return std::nullopt;
  };
  Start();
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_EQ(server.EventsWithReason(hygiene::kMissingResourcesReason).size(), 4u);
}

TEST_F(HygieneReconcilerTest, AFailedEventIsRetriedAndTheAnnotationWaitsForIt) {
  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec()}}));
  AddNode(MakeNode("w1", {}, 1000, 1LL << 30));
  AddPod(MakePod("team", "none", "w1", {C("app", 0)}));
  server.inject = [](const kube::HttpRequest& r) -> std::optional<kube::HttpResponse> {
    if (r.method == "POST") return StatusResponse(500, "InternalError");
    return std::nullopt;
  };
  Start();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], HasSubstr("team/none"));
  EXPECT_EQ(Annotation("team", "none"), "");  // Not marked reported without its Event.

  server.inject = nullptr;
  errors.clear();
  queue->Add("team/none");
  Drain();
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_EQ(FlaggedEventPods().size(), 1u);
  EXPECT_EQ(Annotation("team", "none"), "app: requests.cpu,requests.memory,limits.memory");
}

TEST_F(HygieneReconcilerTest, GoverningPolicyOfScheduledAndUnscheduledPods) {
  // "old" governs pool=a without hygiene; "young" governs pool=b with it;
  // "newest" checks everything but is younger than "young".
  AddPolicy(MakePolicy("old", {{"nodeSelector", {{"matchLabels", {{"pool", "a"}}}}}},
                       {.created_second = 1}));
  AddPolicy(MakePolicy(
      "young",
      {{"nodeSelector", {{"matchLabels", {{"pool", "b"}}}}}, {"resourceHygiene", HygieneSpec()}},
      {.created_second = 2}));
  AddPolicy(MakePolicy("newest", {{"resourceHygiene", HygieneSpec()}}, {.created_second = 3}));
  AddNode(MakeNode("a1", {{"pool", "a"}}, 1000, 1LL << 30));
  AddNode(MakeNode("b1", {{"pool", "b"}}, 1000, 1LL << 30));
  AddNode(MakeNode("c1", {{"pool", "c"}}, 1000, 1LL << 30));
  kube::Pod on_a = MakePod("team", "on-a", "a1", {C("app", 0)});
  on_a.resource_findings_annotation =
      kube::Symbol::Intern("app: limits.memory");  // Left by an earlier policy.
  AddPod(on_a);
  AddPod(MakePod("team", "on-b", "b1", {C("app", 0)}));
  AddPod(MakePod("team", "on-c", "c1", {C("app", 0)}));
  AddPod(MakePod("team", "pending", "", {C("app", 0)}));
  Start();
  EXPECT_THAT(errors, IsEmpty());

  EXPECT_EQ(Annotation("team", "on-a"), "");  // Not checked there: the leftover goes.
  EXPECT_NE(Annotation("team", "on-b"), "");
  EXPECT_NE(Annotation("team", "on-c"), "");
  EXPECT_NE(Annotation("team", "pending"), "");
  std::vector<std::string> young, newest;
  for (const auto& e : Status("young").resource_hygiene.example_pods) young.push_back(e.name);
  for (const auto& e : Status("newest").resource_hygiene.example_pods) newest.push_back(e.name);
  // The unscheduled pod goes to the oldest policy that checks pods.
  EXPECT_THAT(young, ElementsAre("on-b", "pending"));
  EXPECT_THAT(newest, ElementsAre("on-c"));
  EXPECT_EQ(Status("old").pods_flagged, 0);

  // The pending pod is scheduled to c1: it moves to "newest".
  kube::Pod scheduled = *pods.Get("team", "pending");
  scheduled.node_name = kube::Symbol::Intern("c1");
  AddPod(scheduled);
  Drain();
  EXPECT_EQ(Status("young").pods_flagged, 1);
  EXPECT_EQ(Status("newest").pods_flagged, 2);
  EXPECT_EQ(Series(Missing("young", "team", "requests.cpu")), 1);
  EXPECT_EQ(Series(Missing("newest", "team", "requests.cpu")), 2);
  EXPECT_EQ(FlaggedEventPods().size(), 3u);  // One Event per pod, whichever policy.
}

TEST_F(HygieneReconcilerTest, WithAWatchFilterPodsOffItsNodesAreNeitherCheckedNorCleaned) {
  // --watch-filter: the node cache holds only the filter's nodes. A pod on
  // another node (another controller's scope) or not scheduled yet is not
  // this controller's: no finding, Event or annotation, and an annotation
  // another controller wrote stays.
  options.watch_filter = "mine";
  AddPolicy(MakePolicy("mine", {{"resourceHygiene", HygieneSpec()}}, {.created_second = 1}));
  AddNode(MakeNode("m1", {{"pool", "m"}}, 1000, 1LL << 30));
  AddPod(MakePod("team", "on-mine", "m1", {C("app", 0)}));
  kube::Pod elsewhere = MakePod("other", "elsewhere", "x1", {C("app", 0)});
  elsewhere.resource_findings_annotation = kube::Symbol::Intern("app: limits.memory");
  AddPod(elsewhere);
  AddPod(MakePod("other", "pending", "", {C("app", 0)}));
  Start();
  EXPECT_THAT(errors, IsEmpty());

  EXPECT_NE(Annotation("team", "on-mine"), "");
  EXPECT_EQ(Annotation("other", "elsewhere"), "app: limits.memory");  // Not ours to clean.
  EXPECT_EQ(Annotation("other", "pending"), "");
  std::vector<std::string> flagged;
  for (const auto& e : Status("mine").resource_hygiene.example_pods) flagged.push_back(e.name);
  EXPECT_THAT(flagged, ElementsAre("on-mine"));
  EXPECT_EQ(Status("mine").pods_flagged, 1);
  EXPECT_EQ(FlaggedEventPods().size(), 1u);
}

TEST_F(HygieneReconcilerTest, DryRunReportsButNeverWritesPods) {
  json spec = {{"dryRun", true}, {"resourceHygiene", HygieneSpec()}};
  AddPolicy(MakePolicy("p", spec));
  CreateMix();
  Start();
  EXPECT_THAT(server.pod_patches, IsEmpty());
  EXPECT_EQ(FlaggedEventPods().size(), 4u);
  EXPECT_EQ(Status("p").pods_flagged, 4);
  EXPECT_EQ(Series(Missing("p", "team", "requests.cpu")), 3);
}

TEST_F(HygieneReconcilerTest, GlobalDryRunNeverWritesPodsEitherNorRemovesAnnotations) {
  options.dry_run = true;
  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec()}}));
  CreateMix();
  kube::Pod leftover = MakePod("team", "all-set", "w1", {C("app", kAllSet)});
  leftover.resource_findings_annotation = kube::Symbol::Intern("app: limits.memory");
  AddPod(leftover);
  Start();
  EXPECT_THAT(server.pod_patches, IsEmpty());
  EXPECT_EQ(FlaggedEventPods().size(), 4u);
}

TEST_F(HygieneReconcilerTest, PausedReportsInStatusOnlyAndCatchesUpWhenResumed) {
  server.reports_api = true;
  AddPolicy(MakePolicy("p", {{"paused", true}, {"resourceHygiene", HygieneSpec()}}));
  CreateMix();
  AddNode(MakeNode("bare", {}, 0, 0));
  Start();
  EXPECT_THAT(server.pod_patches, IsEmpty());
  EXPECT_THAT(FlaggedEventPods(), IsEmpty());
  EXPECT_THAT(server.EventsWithReason(hygiene::kNoSystemReserveReason), IsEmpty());
  EXPECT_THAT(server.reports, IsEmpty());
  EXPECT_EQ(Status("p").pods_flagged, 4);
  EXPECT_THAT(Status("p").nodes_without_system_reserve, ElementsAre("bare"));
  EXPECT_EQ(Series(Missing("p", "team", "requests.cpu")), 3);

  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec()}}, {.generation = 2}));
  Drain();
  EXPECT_EQ(server.pod_patches.size(), 4u);
  EXPECT_EQ(FlaggedEventPods().size(), 4u);
  EXPECT_EQ(server.EventsWithReason(hygiene::kNoSystemReserveReason).size(), 1u);
  EXPECT_EQ(server.reports.count("team/nodeguard-p"), 1u);
}

// A policy that bypassed admission (here releaseBelow not below the cap) is
// reported by PolicyReconciler and never acted on: no annotation, Event,
// PolicyReport or finding; fixed, it is enforced.
TEST_F(HygieneReconcilerTest, AnInvalidPolicyIsNotActedOnUntilFixed) {
  server.reports_api = true;
  const PolicyObject invalid =
      MakePolicy("p", {{"resourceHygiene", HygieneSpec()},
                       {"podDensity", {{"maxPods", 10}, {"releaseBelow", 20}}}});
  ASSERT_FALSE(invalid.valid());
  AddPolicy(invalid);
  CreateMix();
  AddNode(MakeNode("bare", {}, 0, 0));
  Start();
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_THAT(server.pod_patches, IsEmpty());
  EXPECT_THAT(FlaggedEventPods(), IsEmpty());
  EXPECT_THAT(server.EventsWithReason(hygiene::kNoSystemReserveReason), IsEmpty());
  EXPECT_THAT(server.reports, IsEmpty());
  EXPECT_EQ(Status("p").pods_flagged, 0);
  EXPECT_EQ(Series(Missing("p", "team", "requests.cpu")), -1);

  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec()}}, {.generation = 2}));
  Drain();
  EXPECT_EQ(server.pod_patches.size(), 4u);
  EXPECT_EQ(FlaggedEventPods().size(), 4u);
  EXPECT_EQ(Status("p").pods_flagged, 4);
}

// The "reconcile failed" log line names what the key is about.
TEST_F(HygieneReconcilerTest, KeyFieldNamesTheNodePolicyOrPod) {
  Start();
  auto field = [&](const std::string& key) {
    const observe::Field f = reconciler->KeyField(key);
    return f.key + "=" + std::get<std::string>(f.value);
  };
  EXPECT_EQ(field(HygieneReconciler::NodeKey("w1")), "node=w1");
  EXPECT_EQ(field(HygieneReconciler::PolicyKey("p")), "policy=p");
  EXPECT_EQ(field("team/web-1"), "pod=team/web-1");
  EXPECT_EQ(field(HygieneReconciler::WriteKey("team/web-1")), "write=team/web-1");
  // A namespace cannot hold ':', so no pod key reads as a prefixed one.
  EXPECT_EQ(field("write/web-1"), "pod=write/web-1");
}

TEST_F(HygieneReconcilerTest, NodesWithoutSystemReserve) {
  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec()}}));
  const int64_t kMi = 1LL << 20;
  AddNode(MakeNode("bare", {}, 0, 0));                 // allocatable == capacity
  AddNode(MakeNode("reserved", {}, 4000, 6LL << 30));  // 4 cores, 6Gi
  // CPU reserved, memory only the eviction threshold (which reserves nothing).
  AddNode(MakeNode("cpu-reserved-only", {}, 500, 100 * kMi));
  AddNode(MakeNode("memory-reserved-only", {}, 0, 2LL << 30));
  Start();
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_THAT(Status("p").nodes_without_system_reserve,
              ElementsAre("bare", "cpu-reserved-only", "memory-reserved-only"));
  EXPECT_EQ(Series("nodeguard_nodes_without_system_reserve{policy=\"p\"}"), 3);
  auto events = server.EventsWithReason(hygiene::kNoSystemReserveReason);
  std::set<std::string> flagged;
  for (const auto& [_, e] : events) {
    flagged.insert(e["involvedObject"].value("name", ""));
    EXPECT_EQ(e["type"], "Warning");
    EXPECT_THAT(e["message"].get<std::string>(), HasSubstr("--system-reserved"));
  }
  EXPECT_THAT(flagged, UnorderedElementsAre("bare", "cpu-reserved-only", "memory-reserved-only"));

  // Heartbeats do not re-check; a restart does not repeat the Events.
  Start();
  EXPECT_EQ(server.EventsWithReason(hygiene::kNoSystemReserveReason).size(), 3u);

  // The kubelet is reconfigured with reserves: the node leaves the list.
  AddNode(MakeNode("bare", {}, 4000, 6LL << 30));
  Drain();
  EXPECT_THAT(Status("p").nodes_without_system_reserve,
              ElementsAre("cpu-reserved-only", "memory-reserved-only"));

  // flagNodesWithoutSystemReserve off: nothing listed.
  json spec = HygieneSpec();
  spec["flagNodesWithoutSystemReserve"] = false;
  AddPolicy(MakePolicy("p", {{"resourceHygiene", spec}}, {.generation = 2}));
  Drain();
  EXPECT_THAT(Status("p").nodes_without_system_reserve, IsEmpty());
  EXPECT_EQ(Series("nodeguard_nodes_without_system_reserve{policy=\"p\"}"), 0);
}

TEST_F(HygieneReconcilerTest, PolicyReportsPerNamespaceWhenTheApiExists) {
  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec()}}));
  CreateMix();
  AddPod(MakePod("other", "x", "w1", {C("app", kReqCpu | kReqMem)}));
  Start();
  EXPECT_THAT(server.reports, IsEmpty());  // No API: nothing tried beyond discovery.
  EXPECT_EQ(server.CountRequests("PATCH /apis/wgpolicyk8s.io"), 0u);

  server.reports_api = true;
  reconciler->EnqueueAll(*queue);  // The periodic resync looks again.
  Drain();
  ASSERT_EQ(server.reports.size(), 2u);
  const json& team = server.reports.at("team/nodeguard-p");
  EXPECT_EQ(team["kind"], "PolicyReport");
  EXPECT_EQ(team["metadata"]["namespace"], "team");
  EXPECT_EQ(team["summary"]["fail"], 8);  // 3 + 1 + 1 + 3 missing fields.
  EXPECT_EQ(server.reports.at("other/nodeguard-p")["summary"]["fail"], 1);

  // Unchanged findings: no rewrite.
  const size_t applies = server.CountRequests("PATCH /apis/wgpolicyk8s.io");
  reconciler->EnqueueAll(*queue);
  Drain();
  EXPECT_EQ(server.CountRequests("PATCH /apis/wgpolicyk8s.io"), applies);

  // A report left behind for a namespace that is clean by the next start,
  // and one of a policy deleted meanwhile, go after the initial evaluation.
  server.reports["gone/nodeguard-p"] = {
      {"metadata", {{"name", "nodeguard-p"}, {"namespace", "gone"}}}};
  server.reports["team/nodeguard-deleted"] = {
      {"metadata", {{"name", "nodeguard-deleted"}, {"namespace", "team"}}}};
  Start();
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_EQ(server.reports.count("gone/nodeguard-p"), 0u);
  EXPECT_EQ(server.reports.count("team/nodeguard-deleted"), 0u);
  EXPECT_EQ(server.reports.count("team/nodeguard-p"), 1u);

  // The policy is deleted: its reports and series go.
  RemovePolicy("p");
  Drain();
  EXPECT_THAT(server.reports, IsEmpty());
  EXPECT_THAT(Metrics(), ::testing::Not(HasSubstr("policy=\"p\"")));
}

TEST_F(HygieneReconcilerTest, WithAWatchFilterReportsOfUnknownPoliciesStay) {
  // --watch-filter: a policy this controller does not see may be another
  // controller's, so its PolicyReport is not an orphan to delete.
  options.watch_filter = "mine";
  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec()}}));
  CreateMix();
  server.reports_api = true;
  server.reports["team/nodeguard-elsewhere"] = {
      {"metadata", {{"name", "nodeguard-elsewhere"}, {"namespace", "team"}}}};
  Start();
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_EQ(server.reports.count("team/nodeguard-elsewhere"), 1u);
  EXPECT_EQ(server.reports.count("team/nodeguard-p"), 1u);
}

TEST_F(HygieneReconcilerTest, TerminalAndTerminatingPodsAreNotWritten) {
  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec()}}));
  AddNode(MakeNode("w1", {}, 1000, 1LL << 30));
  kube::Pod done = MakePod("team", "done", "w1", {C("app", 0)});
  done.phase = kube::PodPhase::kSucceeded;
  AddPod(done);
  kube::Pod leaving = MakePod("team", "leaving", "w1", {C("app", 0)});
  leaving.meta.deletion_timestamp = clock.Now();
  AddPod(leaving);
  Start();
  EXPECT_THAT(server.pod_patches, IsEmpty());
  EXPECT_THAT(FlaggedEventPods(), IsEmpty());
  EXPECT_EQ(Status("p").pods_flagged, 1);  // Still running until it is gone.
  DeletePod("team", "leaving");
  Drain();
  EXPECT_EQ(Status("p").pods_flagged, 0);
}

TEST_F(HygieneReconcilerTest, DisablingHygieneTakesBackAnnotationsAndFindings) {
  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec()}}));
  CreateMix();
  Start();
  ASSERT_EQ(Status("p").pods_flagged, 4);
  AddPolicy(MakePolicy("p", json::object(), {.generation = 2}));
  Drain();
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_EQ(Status("p").pods_flagged, 0);
  for (const char* name : {"none", "requests-only", "limits-only", "init-without"}) {
    EXPECT_EQ(Annotation("team", name), "") << name;
  }
  EXPECT_EQ(Series(Missing("p", "team", "requests.cpu")), -1);
}

TEST_F(HygieneReconcilerTest, ARecreatedPodUnderTheSameNameIsANewPod) {
  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec(/*annotate=*/false)}}));
  AddNode(MakeNode("w1", {}, 1000, 1LL << 30));
  AddPod(MakePod("team", "db-0", "w1", {C("app", 0)}));
  Start();
  ASSERT_EQ(FlaggedEventPods().size(), 1u);
  // StatefulSet: delete and re-create, seen by the informer as one update.
  kube::Pod again = MakePod("team", "db-0", "w1", {C("app", kReqCpu)});
  again.meta.uid = "uid-second";
  AddPod(again);
  Drain();
  EXPECT_EQ(server.EventsWithReason(hygiene::kMissingResourcesReason).size(), 2u);
  EXPECT_EQ(Status("p").pods_flagged, 1);
  EXPECT_EQ(Status("p").resource_hygiene.example_pods.at(0).findings,
            "app: requests.memory,limits.memory");
}

// Status first, writes paced: 10 flagged pods, each needing an Event and an
// annotation (2 requests), behind a pacer of 1 request/s with a burst of 2.
TEST_F(HygieneReconcilerTest, StatusCountsEveryFindingBeforeThePacedPodWrites) {
  write_qps = 1;
  write_burst = 2;
  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec()}}));
  AddNode(MakeNode("w1", {}, 1000, 1LL << 30));
  for (int i = 0; i < 10; ++i) {
    AddPod(
        MakePod("team", "p" + std::to_string(i), "w1", {C("app", 0)}, kube::QosClass::kBestEffort));
  }
  Start();
  EXPECT_THAT(errors, IsEmpty());
  // Every finding counted, in status and metrics, with one pod written (the burst).
  EXPECT_EQ(Status("p").pods_flagged, 10);
  EXPECT_EQ(Series(Missing("p", "team", "requests.cpu")), 10);
  EXPECT_EQ(FlaggedEventPods().size(), 1u);
  EXPECT_EQ(server.pod_patches.size(), 1u);
  EXPECT_EQ(Series("nodeguard_hygiene_writes_pending"), 9);

  // Then one pod (two requests) every two seconds, never faster.
  for (size_t written = 1; written < 10; ++written) {
    clock.Advance(1999ms);
    Drain();
    EXPECT_EQ(FlaggedEventPods().size(), written) << "at pod " << written;
    clock.Advance(1ms);
    Drain();
    EXPECT_EQ(FlaggedEventPods().size(), written + 1) << "at pod " << written;
    EXPECT_EQ(server.pod_patches.size(), written + 1);
  }
  EXPECT_EQ(Series("nodeguard_hygiene_writes_pending"), 0);
  EXPECT_EQ(Series("nodeguard_hygiene_writes_total{kind=\"event\"}"), 10);
  EXPECT_EQ(Series("nodeguard_hygiene_writes_total{kind=\"annotation\"}"), 10);
  EXPECT_THAT(errors, IsEmpty());
}

// A write waiting for its slot decides from the pod as it is then, and a pod
// changed meanwhile still gets one write, not one per change.
TEST_F(HygieneReconcilerTest, APendingWriteDecidesFromThePodAsItIsAtItsSlot) {
  write_qps = 1;
  write_burst = 1;
  AddPolicy(MakePolicy("p", {{"resourceHygiene", HygieneSpec()}}));
  AddNode(MakeNode("w1", {}, 1000, 1LL << 30));
  AddPod(MakePod("team", "first", "w1", {C("app", 0)}, kube::QosClass::kBestEffort));
  AddPod(MakePod("team", "fixed", "w1", {C("app", 0)}, kube::QosClass::kBestEffort));
  AddPod(MakePod("team", "gone", "w1", {C("app", 0)}, kube::QosClass::kBestEffort));
  AddPod(MakePod("team", "edited", "w1", {C("app", 0)}, kube::QosClass::kBestEffort));
  Start();
  ASSERT_EQ(Status("p").pods_flagged, 4);
  const size_t writes_at_start = FlaggedEventPods().size() + server.pod_patches.size();
  EXPECT_LE(writes_at_start, 1u);

  // Before their slots: one pod fixed, one deleted, one changed twice.
  AddPod(MakePod("team", "fixed", "w1", {C("app", kAllSet)}, kube::QosClass::kGuaranteed));
  DeletePod("team", "gone");
  AddPod(MakePod("team", "edited", "w1", {C("app", kReqCpu)}));
  AddPod(MakePod("team", "edited", "w1", {C("app", kReqCpu | kReqMem)}));
  Drain();
  EXPECT_EQ(Status("p").pods_flagged, 2);  // Counted at once, writes or not.

  clock.Advance(60s);
  Drain();
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_THAT(FlaggedEventPods(), UnorderedElementsAre("team/first", "team/edited"));
  EXPECT_EQ(Annotation("team", "fixed"), "");
  EXPECT_EQ(Annotation("team", "edited"), "app: limits.memory");
  EXPECT_EQ(server.CountRequests("PATCH /api/v1/namespaces/team/pods/edited"), 1u);
  EXPECT_EQ(Series("nodeguard_hygiene_writes_pending"), 0);
}

}  // namespace
}  // namespace nodeguard::runtime
