#include "kube/decode.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/time.h"
#include "kube/decode_json.h"
#include "kube_testdata.h"

namespace nodeguard::kube {
namespace {

using testing::ReadTestdata;
using testing::ReadTestdataLines;

Time T(std::string_view rfc3339) {
  auto t = ParseRfc3339(rfc3339);
  EXPECT_TRUE(t.ok()) << rfc3339;
  return t.ok() ? *t : Time{};
}

// Returns the value by value (so `const T& x = Ok(...)` extends its life);
// a failed decode fails the test and yields a default value.
template <typename T>
T Ok(Result<T> r) {
  EXPECT_TRUE(r.ok()) << r.error().ToString();
  if (!r.ok()) return T{};
  return std::move(r).value();
}

// ---------------------------------------------------------------- Pod

struct ContainerExpectation {
  std::string name;
  uint8_t declared;
  bool init;
};

struct PodCase {
  const char* file;
  const char* name;
  const char* namespace_;
  const char* uid;
  const char* resource_version;
  const char* node;
  PodPhase phase;
  QosClass qos;
  ControllerKind controller_kind;
  const char* daemon_set_name;  // Kept only for DaemonSet controllers.
  bool mirror;
  bool empty_dir;
  int64_t grace_seconds;
  const char* deletion_timestamp;  // "" when not terminating.
  std::vector<ContainerExpectation> containers;
  const char* findings;
};

constexpr uint8_t kCpuMem = kRequestCpu | kRequestMemory;
constexpr uint8_t kAllSix = kRequestCpu | kRequestMemory | kRequestEphemeralStorage | kLimitCpu |
                            kLimitMemory | kLimitEphemeralStorage;

// Pods captured from the local cluster (tests/cluster/up) with kubectl get -o json,
// or with a raw GET (pod_deployment_api.json keeps managedFields and field order).
const std::vector<PodCase>& PodCases() {
  static const std::vector<PodCase> cases = {
      {"kube/pod_deployment.json",
       "web-7b6bccf6bf-5mwfw",
       "shop",
       "130f140d-974f-4b99-a58f-f1d7ad184da3",
       "309",
       "worker-02",
       PodPhase::kRunning,
       QosClass::kBurstable,
       ControllerKind::kReplicaSet,
       "",
       false,
       false,
       30,
       "",
       {{"nginx", kCpuMem | kLimitMemory, false}, {"log-shipper", kAllSix, false}},
       ""},
      {"kube/pod_deployment_api.json",
       "web-7b6bccf6bf-5mwfw",
       "shop",
       "130f140d-974f-4b99-a58f-f1d7ad184da3",
       "309",
       "worker-02",
       PodPhase::kRunning,
       QosClass::kBurstable,
       ControllerKind::kReplicaSet,
       "",
       false,
       false,
       30,
       "",
       {{"nginx", kCpuMem | kLimitMemory, false}, {"log-shipper", kAllSix, false}},
       ""},
      {"kube/pod_daemonset.json",
       "node-exporter-b74tj",
       "kube-system",
       "e26bfa36-7051-4278-a8b7-0875b3083205",
       "347",
       "worker-03",
       PodPhase::kRunning,
       QosClass::kGuaranteed,
       ControllerKind::kDaemonSet,
       "node-exporter",
       false,
       false,
       30,
       "",
       {{"node-exporter", kCpuMem | kLimitCpu | kLimitMemory, false}},
       ""},
      {"kube/pod_bare_besteffort.json",
       "debug-shell",
       "default",
       "53625748-f81a-4e99-b18a-4e1dbca62349",
       "287",
       "worker-01",
       PodPhase::kRunning,
       QosClass::kBestEffort,
       ControllerKind::kNone,
       "",
       false,
       false,
       30,
       "",
       {{"shell", 0, false}},
       ""},
      {"kube/pod_static_mirror.json",
       "etcd-worker-01",
       "kube-system",
       "d3466dac-e247-4653-99b5-9281a5492530",
       "368",
       "worker-01",
       PodPhase::kRunning,
       QosClass::kBurstable,
       ControllerKind::kNode,
       "",
       true,
       false,
       30,
       "",
       {{"etcd", kCpuMem, false}},
       ""},
      {"kube/pod_statefulset_emptydir.json",
       "cache-0",
       "shop",
       "bed0fd79-35ac-4e27-b4c3-f2b0bef0e9c9",
       "308",
       "worker-01",
       PodPhase::kRunning,
       QosClass::kGuaranteed,
       ControllerKind::kStatefulSet,
       "",
       false,
       true,
       60,
       "",
       {{"redis", kCpuMem | kLimitCpu | kLimitMemory, false}},
       ""},
      {"kube/pod_job_init_containers.json",
       "migrate-tlqrp",
       "shop",
       "8766915e-5020-48a2-aa3f-43dbea259132",
       "356",
       "worker-03",
       PodPhase::kSucceeded,
       QosClass::kBurstable,
       ControllerKind::kJob,
       "",
       false,
       false,
       30,
       "",
       {{"wait-for-db", 0, true},
        {"fetch-schema", kCpuMem, true},
        {"migrate", kCpuMem | kLimitCpu | kLimitMemory, false}},
       ""},
      {"kube/pod_deployment_findings.json",
       "batch-worker-846d5844f8-6z5rg",
       "shop",
       "6ea9dd4e-8a85-4215-b77a-4dcb211ff99c",
       "380",
       "worker-02",
       PodPhase::kRunning,
       QosClass::kBestEffort,
       ControllerKind::kReplicaSet,
       "",
       false,
       false,
       30,
       "",
       {{"worker", 0, false}},
       R"({"containers":{"worker":["no-cpu-request","no-memory-request","no-memory-limit"]},"qos":"BestEffort"})"},
      {"kube/pod_terminating.json",
       "report-7f9c2",
       "default",
       "b947df7f-bc0d-4d83-90ac-b5c879b6e3f9",
       "391",
       "worker-03",
       PodPhase::kRunning,
       QosClass::kGuaranteed,
       ControllerKind::kNone,
       "",
       false,
       false,
       45,
       "2026-11-27T14:52:55Z",
       // Only limits were written: the API server defaulted requests from them.
       {{"report", kCpuMem | kLimitCpu | kLimitMemory, false}},
       ""},
  };
  return cases;
}

void ExpectPod(const Pod& pod, const PodCase& c) {
  SCOPED_TRACE(c.file);
  EXPECT_EQ(pod.meta.name, c.name);
  EXPECT_EQ(pod.meta.namespace_.str(), c.namespace_);
  EXPECT_EQ(pod.meta.uid, c.uid);
  EXPECT_EQ(pod.meta.resource_version, c.resource_version);
  EXPECT_TRUE(IsSet(pod.meta.creation_timestamp));
  EXPECT_EQ(pod.node_name.str(), c.node);
  EXPECT_EQ(pod.phase, c.phase);
  EXPECT_EQ(pod.qos, c.qos);
  EXPECT_EQ(pod.controller_kind, c.controller_kind);
  EXPECT_EQ(pod.daemon_set_name, c.daemon_set_name);
  EXPECT_EQ(pod.mirror, c.mirror);
  EXPECT_EQ(pod.has_empty_dir, c.empty_dir);
  EXPECT_EQ(pod.termination_grace_period_seconds, c.grace_seconds);
  if (std::string_view(c.deletion_timestamp).empty()) {
    EXPECT_FALSE(pod.Terminating());
  } else {
    EXPECT_TRUE(pod.Terminating());
    EXPECT_EQ(pod.meta.deletion_timestamp, T(c.deletion_timestamp));
  }
  ASSERT_EQ(pod.containers.size(), c.containers.size());
  for (size_t i = 0; i < c.containers.size(); ++i) {
    EXPECT_EQ(pod.containers[i].name, c.containers[i].name);
    EXPECT_EQ(pod.containers[i].declared, c.containers[i].declared) << c.containers[i].name;
    EXPECT_EQ(pod.containers[i].init, c.containers[i].init) << c.containers[i].name;
  }
  EXPECT_EQ(pod.resource_findings_annotation, c.findings);
}

TEST(DecodePod, CapturedPodsOfEveryKind) {
  for (const PodCase& c : PodCases()) {
    auto pod = DecodePod(ReadTestdata(c.file));
    ASSERT_TRUE(pod.ok()) << c.file << ": " << pod.error().ToString();
    ExpectPod(*pod, c);
  }
}

TEST(DecodePod, TimestampsAndGeneration) {
  const Pod& pod = Ok(DecodePod(ReadTestdata("kube/pod_terminating.json")));
  EXPECT_EQ(pod.meta.creation_timestamp, T("2026-11-27T14:52:51Z"));
  EXPECT_EQ(pod.meta.generation, 2);
}

TEST(DecodePod, InternsNamespacesAndNodeNames) {
  const Pod& a = Ok(DecodePod(ReadTestdata("kube/pod_deployment.json")));
  const Pod& b = Ok(DecodePod(ReadTestdata("kube/pod_statefulset_emptydir.json")));
  EXPECT_EQ(a.meta.namespace_.identity(), b.meta.namespace_.identity());
  EXPECT_EQ(a.meta.namespace_, Symbol::Intern("shop"));
  EXPECT_EQ(a.node_name, Symbol::Intern("worker-02"));
}

TEST(DecodePod, InitContainersFirstWhateverTheFieldOrder) {
  auto pod = DecodePod(R"({"metadata":{"name":"p","namespace":"ns"},
    "spec":{"containers":[{"name":"main","resources":{"limits":{"memory":"1Gi"}}}],
            "initContainers":[{"name":"init-a"},{"name":"init-b","resources":{"requests":{"cpu":"1"}}}]}})");
  ASSERT_TRUE(pod.ok()) << pod.error().ToString();
  ASSERT_EQ(pod->containers.size(), 3u);
  EXPECT_EQ(pod->containers[0].name, "init-a");
  EXPECT_TRUE(pod->containers[0].init);
  EXPECT_EQ(pod->containers[1].name, "init-b");
  EXPECT_EQ(pod->containers[1].declared, kRequestCpu);
  EXPECT_EQ(pod->containers[2].name, "main");
  EXPECT_FALSE(pod->containers[2].init);
  EXPECT_EQ(pod->containers[2].declared, kLimitMemory);
}

TEST(DecodePod, ControllerIsTheOwnerMarkedController) {
  auto pod = DecodePod(R"({"metadata":{"name":"p","namespace":"ns","ownerReferences":[
      {"apiVersion":"v1","kind":"ConfigMap","name":"not-me"},
      {"apiVersion":"apps/v1","kind":"DaemonSet","name":"ds","controller":true}]}})");
  ASSERT_TRUE(pod.ok());
  EXPECT_EQ(pod->controller_kind, ControllerKind::kDaemonSet);
  EXPECT_EQ(pod->daemon_set_name, "ds");

  // A custom resource that happens to be called DaemonSet is not apps/v1's.
  pod = DecodePod(R"({"metadata":{"name":"p","ownerReferences":[
      {"apiVersion":"example.com/v1","kind":"DaemonSet","name":"x","controller":true}]}})");
  ASSERT_TRUE(pod.ok());
  EXPECT_EQ(pod->controller_kind, ControllerKind::kOther);

  pod = DecodePod(R"({"metadata":{"name":"p","ownerReferences":[
      {"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","controller":false}]}})");
  ASSERT_TRUE(pod.ok());
  EXPECT_EQ(pod->controller_kind, ControllerKind::kNone);
}

TEST(DecodePod, NullsAndUnknownFieldsAreSkipped) {
  auto pod = DecodePod(R"({"apiVersion":"v1","kind":"Pod","future":{"a":[1,{"b":null}],"c":"d"},
    "metadata":{"name":"p","namespace":null,"labels":null,"annotations":null,"ownerReferences":null,
                "deletionTimestamp":null,"newMetaField":[true,false]},
    "spec":{"nodeName":null,"containers":null,"volumes":[{"name":"v","emptyDir":null},{"name":"w","hostPath":{}}],
            "terminationGracePeriodSeconds":null},
    "status":{"phase":null,"qosClass":"Guaranteed","conditions":[{"type":"Ready"}]}})");
  ASSERT_TRUE(pod.ok()) << pod.error().ToString();
  EXPECT_EQ(pod->meta.name, "p");
  EXPECT_TRUE(pod->meta.namespace_.empty());
  EXPECT_TRUE(pod->node_name.empty());
  EXPECT_FALSE(pod->has_empty_dir);
  EXPECT_EQ(pod->termination_grace_period_seconds, 30);
  EXPECT_EQ(pod->phase, PodPhase::kPending);
  EXPECT_EQ(pod->qos, QosClass::kGuaranteed);
}

TEST(DecodePod, UnknownPhaseIsUnknown) {
  auto pod = DecodePod(R"({"metadata":{"name":"p"},"status":{"phase":"Hibernating"}})");
  ASSERT_TRUE(pod.ok());
  EXPECT_EQ(pod->phase, PodPhase::kUnknown);
}

TEST(DecodePod, EscapedStringsAreUnescaped) {
  auto pod = DecodePod(
      R"({"metadata":{"name":"p\u002d1","namespace":"ns","annotations":{"nodeguard.io/resource-findings":"{\"a\":\"\u00e9\\n\"}"}}})");
  ASSERT_TRUE(pod.ok()) << pod.error().ToString();
  EXPECT_EQ(pod->meta.name, "p-1");
  EXPECT_EQ(pod->resource_findings_annotation, "{\"a\":\"\xC3\xA9\\n\"}");
}

// ---------------------------------------------------------------- Node

TEST(DecodeNode, KubeletNodeWithPlegNotReady) {
  const Node& node = Ok(DecodeNode(ReadTestdata("kube/node_kubelet_pleg.json")));
  EXPECT_EQ(node.meta.name, "ip-10-42-17-203.eu-west-1.compute.internal");
  EXPECT_TRUE(node.meta.namespace_.empty());
  EXPECT_EQ(node.meta.uid, "6c1d2e0f-93a4-4b7e-8f55-2d9e41c07ab8");
  EXPECT_EQ(node.meta.resource_version, "48213377");
  EXPECT_EQ(node.meta.creation_timestamp, T("2026-08-02T09:21:37Z"));

  ASSERT_EQ(node.labels.size(), 14u);
  EXPECT_TRUE(std::is_sorted(node.labels.begin(), node.labels.end(),
                             [](const auto& a, const auto& b) { return a.key < b.key; }));
  // Keys and values are interned: one shared copy of each text.
  EXPECT_EQ(node.labels.begin()->key, Symbol::Intern(node.labels.begin()->key.view()));
  EXPECT_EQ(node.labels.Find("topology.kubernetes.io/zone"),
            &Symbol::Intern("eu-west-1b").str());  // The value is the interned text itself.
  ASSERT_NE(node.labels.Find("node-role.kubernetes.io/worker"), nullptr);
  EXPECT_EQ(*node.labels.Find("node-role.kubernetes.io/worker"), "");
  EXPECT_EQ(*node.labels.Find("topology.kubernetes.io/zone"), "eu-west-1b");

  // Only nodeguard.io/ annotations are kept.
  ASSERT_EQ(node.nodeguard_annotations.size(), 2u);
  EXPECT_EQ(*node.Annotation("nodeguard.io/remediation-state"), "Verifying");
  EXPECT_EQ(*node.Annotation("nodeguard.io/last-remediation"), "2026-11-19T22:40:03Z");
  EXPECT_EQ(node.Annotation("node.alpha.kubernetes.io/ttl"), nullptr);
  EXPECT_TRUE(node.has_annotations);

  EXPECT_FALSE(node.unschedulable);
  ASSERT_EQ(node.taints.size(), 3u);
  const Taint* not_ready = node.FindTaint("node.kubernetes.io/not-ready", TaintEffect::kNoExecute);
  ASSERT_NE(not_ready, nullptr);
  EXPECT_EQ(not_ready->time_added, T("2026-11-20T03:15:38Z"));
  const Taint* cap = node.FindTaint("nodeguard.io/pod-cap", TaintEffect::kNoSchedule);
  ASSERT_NE(cap, nullptr);
  EXPECT_EQ(cap->value, "110");
  EXPECT_FALSE(IsSet(cap->time_added));

  ASSERT_EQ(node.conditions.size(), 4u);
  const NodeCondition* ready = node.FindCondition("Ready");
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ(ready->status, ConditionStatus::kFalse);
  EXPECT_EQ(ready->reason, "KubeletNotReady");
  EXPECT_NE(ready->message.find("PLEG is not healthy: pleg was last seen active 3m7.629592089s "
                                "ago; threshold is 3m0s"),
            std::string::npos);
  EXPECT_EQ(ready->last_transition_time, T("2026-11-20T03:14:52Z"));
  EXPECT_EQ(ready->last_heartbeat_time, T("2026-11-20T03:14:52Z"));
  EXPECT_EQ(node.FindCondition("MemoryPressure")->status, ConditionStatus::kFalse);

  EXPECT_EQ(node.capacity.cpu_millis, 8000);
  EXPECT_EQ(node.capacity.memory_bytes, int64_t{32408496} * 1024);
  EXPECT_EQ(node.capacity.ephemeral_storage_bytes, int64_t{104845292} * 1024);
  EXPECT_EQ(node.capacity.pods, 110);
  EXPECT_EQ(node.allocatable.cpu_millis, 7910);
  EXPECT_EQ(node.allocatable.memory_bytes, int64_t{31518640} * 1024);
  EXPECT_EQ(node.allocatable.ephemeral_storage_bytes, 95491281146);
  EXPECT_EQ(node.allocatable.pods, 110);

  EXPECT_EQ(node.boot_id, "9b2f6a0e-71c4-4d2e-a3b8-5e0c1f7d9a46");
  EXPECT_EQ(node.container_runtime_version, "containerd://1.7.13");
  EXPECT_EQ(node.kubelet_version, "v1.29.3-eks-ae9a62a");
}

TEST(DecodeNode, CapturedKwokNode) {
  const Node& node = Ok(DecodeNode(ReadTestdata("kube/node_kwok.json")));
  EXPECT_EQ(node.meta.name, "worker-01");
  EXPECT_EQ(node.capacity.cpu_millis, 8000);
  EXPECT_EQ(node.capacity.memory_bytes, int64_t{32} << 30);
  EXPECT_EQ(node.allocatable.ephemeral_storage_bytes, int64_t{100} << 30);
  EXPECT_EQ(node.FindCondition("Ready")->status, ConditionStatus::kTrue);
  ASSERT_EQ(node.nodeguard_annotations.size(), 1u);
  EXPECT_EQ(*node.Annotation("nodeguard.io/sim-state"), "healthy");
  EXPECT_EQ(node.kubelet_version, "v1.36.3");
  EXPECT_TRUE(node.taints.empty());
}

// Whether metadata.annotations has any key, also ones not kept: a JSON patch
// adding nodeguard's density record must create the map only when it is absent.
TEST(DecodeNode, HasAnnotationsCountsKeysNotKept) {
  EXPECT_FALSE(DecodeNode(R"({"metadata":{"name":"n"}})")->has_annotations);
  EXPECT_FALSE(DecodeNode(R"({"metadata":{"name":"n","annotations":{}}})")->has_annotations);
  EXPECT_FALSE(DecodeNode(R"({"metadata":{"name":"n","annotations":null}})")->has_annotations);
  auto other = DecodeNode(R"({"metadata":{"name":"n","annotations":{"example.com/a":"x"}}})");
  EXPECT_TRUE(other->has_annotations);
  EXPECT_TRUE(other->nodeguard_annotations.empty());
}

TEST(DecodeNode, UnschedulableAndDuplicateLabelKeys) {
  auto node = DecodeNode(R"({"metadata":{"name":"n","labels":{"b":"1","a":"2","b":"3"}},
                             "spec":{"unschedulable":true}})");
  ASSERT_TRUE(node.ok());
  EXPECT_TRUE(node->unschedulable);
  ASSERT_EQ(node->labels.size(), 2u);
  EXPECT_EQ(node->labels.begin()->key, "a");
  EXPECT_EQ(*node->labels.Find("b"), "3");  // The last duplicate wins, as in Go.
}

TEST(DecodeNode, QuantitiesAsJsonNumbers) {
  auto node = DecodeNode(R"({"metadata":{"name":"n"},
      "status":{"capacity":{"cpu":4,"memory":1e9,"pods":110},"allocatable":{"cpu":3.5}}})");
  ASSERT_TRUE(node.ok()) << node.error().ToString();
  EXPECT_EQ(node->capacity.cpu_millis, 4000);
  EXPECT_EQ(node->capacity.memory_bytes, 1000000000);
  EXPECT_EQ(node->capacity.pods, 110);
  EXPECT_EQ(node->allocatable.cpu_millis, 3500);
}

// ---------------------------------------------------------------- Lease

TEST(DecodeLease, NodeLeaseAndLeaderLease) {
  const Lease& node_lease = Ok(DecodeLease(ReadTestdata("kube/lease_node.json")));
  EXPECT_EQ(node_lease.meta.name, "worker-01");
  EXPECT_EQ(node_lease.meta.namespace_, Symbol::Intern("kube-node-lease"));
  EXPECT_EQ(node_lease.holder_identity, "vm_33180faf-2237-411d-bcce-309dec86e1b5");
  EXPECT_EQ(node_lease.lease_duration_seconds, 20);
  EXPECT_EQ(node_lease.renew_time, T("2026-11-27T14:53:02.143590Z"));
  EXPECT_FALSE(IsSet(node_lease.acquire_time));

  const Lease& leader = Ok(DecodeLease(ReadTestdata("kube/lease_leader.json")));
  EXPECT_EQ(leader.meta.name, "nodeguard-controller");
  EXPECT_EQ(leader.holder_identity,
            "nodeguard-controller-6d8f7b9c4-x7k2p_4f5e6d7c-8b9a-4c3d-2e1f-0a9b8c7d6e5f");
  EXPECT_EQ(leader.lease_duration_seconds, 15);
  EXPECT_EQ(leader.lease_transitions, 3);
  EXPECT_TRUE(IsSet(leader.acquire_time));
  EXPECT_EQ(leader.acquire_time, leader.renew_time);
  // MicroTime keeps microseconds.
  EXPECT_NE(leader.renew_time.time_since_epoch() % std::chrono::seconds(1),
            std::chrono::system_clock::duration::zero());
}

TEST(DecodeLease, Int32Overflow) {
  auto lease =
      DecodeLease(R"({"metadata":{"name":"l"},"spec":{"leaseDurationSeconds":4294967296}})");
  ASSERT_FALSE(lease.ok());
  EXPECT_NE(lease.error().message.find("leaseDurationSeconds"), std::string::npos);
}

// ---------------------------------------------------------------- Lists

TEST(DecodeList, PaginatedPodListPages) {
  const auto& page1 = Ok(DecodeList<Pod>(ReadTestdata("kube/pod_list_page1.json")));
  EXPECT_EQ(page1.resource_version, "402");
  EXPECT_EQ(page1.continue_token,
            "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NDAyLCJzdGFydCI6Ii9rdWJlLXN5c3RlbS9ub2RlLWV4cG9ydG"
            "VyLWI3NHRqXHUwMDAwIn0");
  ASSERT_EQ(page1.items.size(), 4u);
  EXPECT_EQ(page1.items[0].meta.name, "debug-shell");
  EXPECT_EQ(page1.items[2].meta.name, "etcd-worker-01");
  EXPECT_TRUE(page1.items[2].mirror);
  EXPECT_EQ(page1.items[3].controller_kind, ControllerKind::kDaemonSet);
  EXPECT_EQ(page1.skipped_items, 0);

  const auto& page2 = Ok(DecodeList<Pod>(ReadTestdata("kube/pod_list_page2.json")));
  EXPECT_EQ(page2.resource_version, "402");
  EXPECT_FALSE(page2.continue_token.empty());
  ASSERT_EQ(page2.items.size(), 4u);
  EXPECT_EQ(page2.items[3].meta.name, "cache-0");
  EXPECT_TRUE(page2.items[3].has_empty_dir);
}

TEST(DecodeList, NodeListLastPageHasNoContinue) {
  const auto& list = Ok(DecodeList<Node>(ReadTestdata("kube/node_list.json")));
  EXPECT_EQ(list.resource_version, "402");
  EXPECT_TRUE(list.continue_token.empty());
  ASSERT_EQ(list.items.size(), 3u);
  EXPECT_EQ(list.items[2].meta.name, "worker-03");
}

TEST(DecodeList, EmptyAndNullItems) {
  auto list =
      DecodeList<Pod>(R"({"kind":"PodList","metadata":{"resourceVersion":"7"},"items":[]})");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->items.empty());
  EXPECT_EQ(list->resource_version, "7");
  list = DecodeList<Pod>(R"({"items":null,"metadata":{"resourceVersion":"8"}})");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->resource_version, "8");
}

TEST(DecodeList, AnItemWithAnInvalidValueIsSkippedNotFatal) {
  auto list = DecodeList<Node>(R"({"metadata":{"resourceVersion":"9"},"items":[
      {"metadata":{"name":"good-1"},"status":{"capacity":{"cpu":"2"}}},
      {"metadata":{"name":"bad"},"status":{"capacity":{"cpu":"two"}}},
      {"metadata":{"name":"good-2"},"spec":{"taints":[{"key":"k","effect":"NoExecute"}]}}]})");
  ASSERT_TRUE(list.ok()) << list.error().ToString();
  ASSERT_EQ(list->items.size(), 2u);
  EXPECT_EQ(list->items[0].meta.name, "good-1");
  EXPECT_EQ(list->items[1].meta.name, "good-2");
  EXPECT_EQ(list->skipped_items, 1);
  EXPECT_NE(list->first_skip_reason.find("bad"), std::string::npos);
  EXPECT_NE(list->first_skip_reason.find("two"), std::string::npos);
}

TEST(DecodeList, SyntaxErrorFailsThePage) {
  auto list =
      DecodeList<Pod>(R"({"metadata":{},"items":[{"metadata":{"name":"a"}},{"metadata":}]})");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().kind, ErrorKind::kInvalid);
}

// A list page with a continue token keeps the thread's parser buffers for
// the next page; the list's last page gives them back: watch events are one
// object each, and an informer thread that kept its list's buffers held more
// than its cache at 15,000 pods (docs/performance.md).
TEST(DecodeList, TheLastPageReleasesTheParserBuffers) {
  auto page = [](int first, std::string_view continue_token) {
    std::string json = R"({"metadata":{"resourceVersion":"9","continue":")";
    json.append(continue_token).append(R"("},"items":[)");
    for (int i = 0; i < 4000; ++i) {
      if (i > 0) json += ",";
      json +=
          R"({"metadata":{"name":"pod-)" + std::to_string(first + i) +
          R"(","namespace":"default","labels":{"app":"a-label-value-to-make-the-page-large"}}})";
    }
    return json + "]}";
  };
  const std::string first = page(0, "next");
  ASSERT_GT(first.size(), size_t{256} << 10);
  const auto& parser = json::DocumentParser::ForThisThread();

  ASSERT_EQ(Ok(DecodeList<Pod>(first)).items.size(), 4000u);
  EXPECT_GE(parser.RetainedBytes(), first.size());  // Kept for the next page.

  ASSERT_EQ(Ok(DecodeList<Pod>(page(4000, ""))).items.size(), 4000u);
  EXPECT_LT(parser.RetainedBytes(), 64u);  // An empty string's inline buffer at most.

  // A small object afterwards keeps its small buffers.
  ASSERT_TRUE(DecodePod(R"({"metadata":{"name":"p","namespace":"default"}})").ok());
  EXPECT_GT(parser.RetainedBytes(), 0u);
  EXPECT_LT(parser.RetainedBytes(), size_t{64} << 10);
}

// ---------------------------------------------------------------- watch events

TEST(DecodeWatchEvent, CapturedStream) {
  std::vector<std::string> lines = ReadTestdataLines("kube/watch_pods_shop.jsonl");
  ASSERT_EQ(lines.size(), 15u);
  std::vector<WatchEventType> types;
  std::vector<std::string> rvs;
  for (const std::string& line : lines) {
    auto event = DecodeWatchEvent<Pod>(line);
    ASSERT_TRUE(event.ok()) << event.error().ToString();
    types.push_back(event->type);
    rvs.push_back(event->resource_version);
  }
  using W = WatchEventType;
  EXPECT_EQ(types,
            (std::vector<W>{W::kAdded, W::kModified, W::kModified, W::kModified, W::kModified,
                            W::kAdded, W::kModified, W::kDeleted, W::kModified, W::kModified,
                            W::kModified, W::kModified, W::kDeleted, W::kBookmark, W::kBookmark}));
  EXPECT_EQ(rvs.front(), "416");
  EXPECT_EQ(rvs[12], "454");
  EXPECT_EQ(rvs.back(), "471");

  const auto& deleted = Ok(DecodeWatchEvent<Pod>(lines[7]));
  EXPECT_EQ(deleted.object.meta.name, "batch-worker-846d5844f8-6z5rg");
  EXPECT_TRUE(deleted.object.Terminating());
  const auto& added = Ok(DecodeWatchEvent<Pod>(lines[0]));
  EXPECT_EQ(added.object.phase, PodPhase::kPending);
  EXPECT_EQ(added.object.meta.namespace_, Symbol::Intern("shop"));
}

TEST(DecodeWatchEvent, ErrorEventIsGone) {
  std::vector<std::string> lines = ReadTestdataLines("kube/watch_error_410.jsonl");
  ASSERT_EQ(lines.size(), 1u);
  const auto& event = Ok(DecodeWatchEvent<Pod>(lines[0]));
  EXPECT_EQ(event.type, WatchEventType::kError);
  EXPECT_EQ(event.error.kind, ErrorKind::kGone);
  EXPECT_EQ(event.error.http_status, 410);
  EXPECT_EQ(event.error.reason, "Expired");
  EXPECT_EQ(event.error.message, "too old resource version: 300 (522)");
  EXPECT_TRUE(event.resource_version.empty());
}

TEST(DecodeWatchEvent, ObjectBeforeType) {
  auto event = DecodeWatchEvent<Node>(
      R"({"object":{"metadata":{"name":"n1","resourceVersion":"12"}},"type":"MODIFIED"})");
  ASSERT_TRUE(event.ok()) << event.error().ToString();
  EXPECT_EQ(event->type, WatchEventType::kModified);
  EXPECT_EQ(event->object.meta.name, "n1");
  EXPECT_EQ(event->resource_version, "12");
}

TEST(DecodeWatchEvent, Rejects) {
  for (std::string_view bad : {
           R"({"type":"ADDED"})",  // No object: no name.
           R"({"object":{"metadata":{"name":"a"}}})",
           R"({"type":"RENAMED","object":{"metadata":{"name":"a"}}})",
           R"({"type":5,"object":{}})",
           R"({"type":"ADDED","object":{"metadata":{"name":"a"}}} {})",
           R"({"type":"ADDED","object":{"metadata":{"name":"a"}})",
           R"([])",
           "",
       }) {
    auto event = DecodeWatchEvent<Pod>(bad);
    EXPECT_FALSE(event.ok()) << bad;
    if (!event.ok()) {
      EXPECT_EQ(event.error().kind, ErrorKind::kInvalid) << bad;
    }
  }
}

// ---------------------------------------------------------------- Status

TEST(DecodeStatus, CapturedStatuses) {
  struct Case {
    const char* file;
    int http;
    ErrorKind kind;
    const char* reason;
  };
  for (const Case& c : {
           Case{"kube/status_conflict.json", 409, ErrorKind::kConflict, "Conflict"},
           Case{"kube/status_eviction_pdb_429.json", 429, ErrorKind::kTooManyRequests,
                "TooManyRequests"},
           Case{"kube/status_continue_expired.json", 410, ErrorKind::kGone, "Expired"},
           Case{"kube/status_not_found.json", 404, ErrorKind::kNotFound, "NotFound"},
       }) {
    Error e = DecodeStatus(ReadTestdata(c.file), c.http);
    EXPECT_EQ(e.kind, c.kind) << c.file;
    EXPECT_EQ(e.http_status, c.http) << c.file;
    EXPECT_EQ(e.reason, c.reason) << c.file;
    EXPECT_FALSE(e.message.empty()) << c.file;
  }
  Error conflict = DecodeStatus(ReadTestdata("kube/status_conflict.json"), 409);
  EXPECT_NE(conflict.message.find("the object has been modified"), std::string::npos);
}

TEST(DecodeStatus, RetryAfterAndAlreadyExists) {
  Error e = DecodeStatus(
      R"({"kind":"Status","status":"Failure","reason":"TooManyRequests","code":429,
          "message":"storage is (re)initializing","details":{"retryAfterSeconds":3}})",
      429);
  EXPECT_EQ(e.kind, ErrorKind::kTooManyRequests);
  EXPECT_EQ(e.retry_after_seconds, 3);
  e = DecodeStatus(R"({"kind":"Status","reason":"AlreadyExists","code":409,"message":"x"})", 409);
  EXPECT_EQ(e.kind, ErrorKind::kAlreadyExists);
  e = DecodeStatus(R"({"kind":"Status","reason":"Timeout","code":504})", 504);
  EXPECT_EQ(e.kind, ErrorKind::kTimeout);
  e = DecodeStatus(R"({"kind":"Status","reason":"InternalError","code":500,"message":"boom"})",
                   500);
  EXPECT_EQ(e.kind, ErrorKind::kUnavailable);
  EXPECT_TRUE(e.Retryable());
}

TEST(DecodeStatus, NonStatusBodiesFallBackToTheHttpCode) {
  Error e = DecodeStatus("<html><body>502 Bad Gateway</body></html>", 502);
  EXPECT_EQ(e.kind, ErrorKind::kUnavailable);
  EXPECT_EQ(e.http_status, 502);
  EXPECT_NE(e.message.find("502 Bad Gateway"), std::string::npos);

  e = DecodeStatus("", 401);
  EXPECT_EQ(e.kind, ErrorKind::kUnauthorized);
  EXPECT_EQ(e.message, "HTTP 401");

  e = DecodeStatus(R"({"kind":"Pod","metadata":{"name":"p"}})", 403);
  EXPECT_EQ(e.kind, ErrorKind::kUnauthorized);

  e = DecodeStatus(std::string(1000, 'x'), 503);
  EXPECT_EQ(e.kind, ErrorKind::kUnavailable);
  EXPECT_LT(e.message.size(), 300u);
}

TEST(ErrorKindForStatus, Table) {
  struct Case {
    int http;
    const char* reason;
    ErrorKind kind;
  };
  for (const Case& c : {
           Case{400, "BadRequest", ErrorKind::kInvalid},
           Case{422, "Invalid", ErrorKind::kInvalid},
           Case{401, "Unauthorized", ErrorKind::kUnauthorized},
           Case{403, "Forbidden", ErrorKind::kUnauthorized},
           Case{404, "NotFound", ErrorKind::kNotFound},
           Case{409, "Conflict", ErrorKind::kConflict},
           Case{409, "AlreadyExists", ErrorKind::kAlreadyExists},
           Case{410, "Gone", ErrorKind::kGone},
           Case{410, "", ErrorKind::kGone},
           Case{0, "Expired", ErrorKind::kGone},
           Case{429, "TooManyRequests", ErrorKind::kTooManyRequests},
           Case{500, "InternalError", ErrorKind::kUnavailable},
           Case{503, "ServiceUnavailable", ErrorKind::kUnavailable},
           Case{504, "Timeout", ErrorKind::kTimeout},
           Case{500, "Timeout", ErrorKind::kTimeout},
           Case{418, "", ErrorKind::kInternal},
       }) {
    EXPECT_EQ(ErrorKindForStatus(c.http, c.reason), c.kind) << c.http << " " << c.reason;
  }
}

// ---------------------------------------------------------------- malformed input

TEST(DecodeMalformed, EveryTruncationOfAPodIsAnErrorNeverACrash) {
  std::string pod = ReadTestdata("kube/pod_deployment_api.json");
  // Trailing whitespace may be cut without harm; everything before the final '}' may not.
  size_t end = pod.find_last_of('}');
  for (size_t n = 0; n < end; ++n) {
    auto r = DecodePod(std::string_view(pod).substr(0, n));
    EXPECT_FALSE(r.ok()) << "accepted a prefix of " << n << " bytes";
  }
  EXPECT_TRUE(DecodePod(std::string_view(pod).substr(0, end + 1)).ok());
}

TEST(DecodeMalformed, WrongTypesAndInvalidValues) {
  for (
      std::string_view bad : {
          R"({"metadata":5})", R"({"metadata":{"name":5}})",
          R"({"metadata":{"name":"p","generation":"1"}})",
          R"({"metadata":{"name":"p","creationTimestamp":"yesterday"}})",
          R"({"metadata":{"name":"p","ownerReferences":{}}})",
          R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"fast"}}}]}})",
          R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","resources":{"limits":{"memory":true}}}]}})",
          R"({"metadata":{"name":"p"},"spec":{"terminationGracePeriodSeconds":1.5}})",
          R"({"metadata":{"name":"p"},"status":{"phase":7}})",
          R"({"metadata":{"name":"p"}} trailing)", R"({"metadata":{"name":"p"}}})",
          R"({"spec":{}})",  // No name: not an object the store could key.
          "null", "[]", "\"pod\"", "", "{",
          "{\"metadata\":{\"name\":\"\xff\xfe\"}}",  // Invalid UTF-8.
      }) {
    auto r = DecodePod(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().kind, ErrorKind::kInvalid) << bad;
    }
  }
  for (std::string_view bad : {
           R"({"metadata":{"name":"n"},"spec":{"taints":[{"key":"k","effect":"Sometimes"}]}})",
           R"({"metadata":{"name":"n"},"spec":{"unschedulable":"yes"}})",
           R"({"metadata":{"name":"n","labels":{"a":1}}})",
           R"({"metadata":{"name":"n"},"status":{"capacity":{"memory":"12 GB"}}})",
           R"({"metadata":{"name":"n"},"status":{"allocatable":{"pods":"1e40"}}})",
       }) {
    auto r = DecodeNode(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
}

TEST(DecodeMalformed, DeepNestingInSkippedFieldsDoesNotRecurse) {
  // Valid JSON, 200,000 levels deep, in a field the decoder skips: skipping is
  // iterative, so this must neither overflow the stack nor lose the name.
  std::string deep = R"({"x":)" + std::string(200000, '[') + std::string(200000, ']') +
                     R"(,"metadata":{"name":"p"}})";
  auto pod = DecodePod(deep);
  ASSERT_TRUE(pod.ok()) << pod.error().ToString();
  EXPECT_EQ(pod->meta.name, "p");
  // Unbalanced, it is an error.
  EXPECT_FALSE(DecodePod(R"({"x":)" + std::string(200000, '[') + "}").ok());
}

TEST(DecodeMalformed, LargeDocumentsThenSmallOnesStillWork) {
  // Grows the per-thread parser beyond what it keeps, then shrinks it again.
  std::string big =
      R"({"metadata":{"name":"big"},"padding":")" + std::string(20 << 20, 'x') + R"("})";
  EXPECT_TRUE(DecodePod(big).ok());
  EXPECT_TRUE(DecodePod(ReadTestdata("kube/pod_deployment.json")).ok());
}

}  // namespace
}  // namespace nodeguard::kube
