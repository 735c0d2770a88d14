// The client against a real API server: the local cluster from tests/cluster,
// found through $KUBECONFIG (set by the CTest fixture "cluster").

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <random>
#include <set>
#include <thread>

#include "cluster_helpers.h"
#include "kube/config.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "kube/leader_election.h"
#include "kube/rest.h"
#include "kube/transport_cpprest.h"
#include "test_pki.h"

namespace nodeguard::kube {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

using testing::Eventually;
using testing::Kubectl;
using testing::RunCommand;

class ClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto client = testing::ConnectFromEnvironment();
    ASSERT_TRUE(client.ok()) << "KUBECONFIG: " << client.error().ToString();
    client_ = std::move(client.value());
  }
  static void TearDownTestSuite() { client_.reset(); }

  static const ClientConfig& config() { return client_->config; }
  static HttpClient& http() { return *client_->http; }
  static RestClient& rest() { return *client_->rest; }

  void SetUp() override {
    ASSERT_NE(client_, nullptr);
    std::mt19937 rng{std::random_device{}()};
    ns_ = "kube-client-" + std::to_string(rng() % 1000000);
    auto created = rest().Create(
        CoreResource("namespaces"),
        json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns_}}}}.dump());
    ASSERT_TRUE(created.ok()) << created.error().ToString();
  }
  void TearDown() override {
    if (!ns_.empty()) (void)rest().Delete(CoreResource("namespaces"), ns_);
  }

  static std::string ConfigMap(const std::string& name, const std::string& value) {
    return json{{"apiVersion", "v1"},
                {"kind", "ConfigMap"},
                {"metadata", {{"name", name}}},
                {"data", {{"key", value}}}}
        .dump();
  }
  ResourcePath ConfigMaps() const { return CoreResource("configmaps", ns_); }

  static std::unique_ptr<testing::LiveClient> client_;  // One connection for the suite.
  std::string ns_;
};
std::unique_ptr<testing::LiveClient> ClusterTest::client_;

TEST_F(ClusterTest, MutualTlsAgainstTheApiServer) {
  ASSERT_FALSE(config().client_certificate_pem.empty()) << "the fixture uses client certificates";
  HttpRequest version;
  version.path_and_query = "/version";
  auto response = http().Send(version);
  ASSERT_TRUE(response.ok()) << response.error().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_THAT(json::parse(response->body).value("gitVersion", ""), ::testing::StartsWith("v1."));

  // Authenticated as the kubeconfig's user: namespaces are readable.
  EXPECT_TRUE(rest().Get(CoreResource("namespaces"), ns_).ok());

  // Without the client certificate the same read is refused.
  ClientConfig anonymous = config();
  anonymous.client_certificate_pem.clear();
  anonymous.client_key_pem.clear();
  auto anon_http = MakeCpprestHttpClient(anonymous);
  ASSERT_TRUE(anon_http.ok());
  RestClient anon_rest(*anon_http.value());
  auto refused = anon_rest.Get(CoreResource("namespaces"), ns_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::kUnauthorized) << refused.error().ToString();

  // A server certificate from another CA is rejected.
  ClientConfig wrong_ca = config();
  wrong_ca.ca_pem = testing::TestPki("another-ca").ca_pem();
  auto wrong_http = MakeCpprestHttpClient(wrong_ca);
  ASSERT_TRUE(wrong_http.ok()) << wrong_http.error().ToString();
  auto rejected = wrong_http.value()->Send(version);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.error().kind, ErrorKind::kUnavailable);
}

TEST_F(ClusterTest, PaginatedListOfTwoThousandObjectsEqualsKubectl) {
  constexpr int kCount = 2000;
  for (int i = 0; i < kCount; ++i) {
    auto created = rest().Create(ConfigMaps(), ConfigMap("cm-" + std::to_string(i), "v"));
    ASSERT_TRUE(created.ok()) << i << ": " << created.error().ToString();
  }
  ListOptions options;
  options.limit = 500;
  auto listed = rest().ListAll(ConfigMaps(), options);
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  EXPECT_GE(listed->pages, 5);  // 2,000 plus kube-root-ca.crt, 500 a page.
  EXPECT_FALSE(listed->resource_version.empty());
  std::set<std::string> ours;
  for (const auto& item : listed->items) {
    ours.insert(json::parse(item)["metadata"]["name"].get<std::string>());
  }
  EXPECT_EQ(ours.size(), listed->items.size()) << "duplicates across pages";

  const std::string names =
      RunCommand(Kubectl() + " get configmaps -n " + ns_ +
                 " -o jsonpath='{range .items[*]}{.metadata.name}{\"\\n\"}{end}'");
  std::set<std::string> theirs;
  size_t start = 0;
  while (start < names.size()) {
    const size_t end = names.find('\n', start);
    const std::string name = names.substr(start, end - start);
    if (!name.empty()) theirs.insert(name);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  EXPECT_EQ(theirs.size(), static_cast<size_t>(kCount) + 1);
  EXPECT_EQ(ours, theirs);

  // A label selector narrows the list server-side.
  ListOptions selected;
  selected.field_selector = "metadata.name=cm-1999";
  auto one = rest().ListAll(ConfigMaps(), selected);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->items.size(), 1u);
}

// What the test compares between the informer's cache and kubectl: enough
// to prove the cache holds each pod's latest version (resourceVersion) and
// the fields decoded from it.
struct PodView {
  std::string uid;
  std::string resource_version;
  std::string node;
  std::string phase;
  bool terminating = false;
  friend bool operator==(const PodView&, const PodView&) = default;
  friend std::ostream& operator<<(std::ostream& out, const PodView& v) {
    return out << "{" << v.uid << " rv " << v.resource_version << " " << v.node << " " << v.phase
               << (v.terminating ? " terminating" : "") << "}";
  }
};

TEST_F(ClusterTest, InformerOfTwoThousandPodsEqualsKubectlAfterCreatesUpdatesDeletes) {
  constexpr size_t kCount = 2000;
  constexpr size_t kListed = 1000;  // Created before the informer starts: they arrive by list.
  ListOptions kwok;
  kwok.label_selector = "type=kwok";
  auto nodes_listed = rest().ListAll(CoreResource("nodes"), kwok);
  ASSERT_TRUE(nodes_listed.ok()) << nodes_listed.error().ToString();
  std::vector<std::string> nodes;
  for (const auto& item : nodes_listed->items) {
    nodes.push_back(json::parse(item)["metadata"]["name"].get<std::string>());
  }
  ASSERT_FALSE(nodes.empty()) << "the fixture's cluster has simulated nodes";
  // Pods are refused until the namespace's service account exists.
  ASSERT_TRUE(Eventually(
      60s, [&] { return rest().Get(CoreResource("serviceaccounts", ns_), "default").ok(); }));

  const ResourcePath pods = CoreResource("pods", ns_);
  // Bound to simulated nodes, so kwok runs them: each pod is also updated by
  // its "kubelet" (Pending -> Running), as in a real cluster.
  auto create = [&](size_t from, size_t to) {
    std::atomic<size_t> next{from};
    std::atomic<int> failures{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t) {
      writers.emplace_back([&] {
        for (size_t i = next++; i < to; i = next++) {
          json pod = {{"apiVersion", "v1"},
                      {"kind", "Pod"},
                      {"metadata",
                       {{"name", "pod-" + std::to_string(i)}, {"labels", {{"app", "informer"}}}}},
                      {"spec",
                       {{"nodeName", nodes[i % nodes.size()]},
                        {"terminationGracePeriodSeconds", 0},
                        {"containers",
                         {{{"name", "app"},
                           {"image", "registry.k8s.io/pause:3.10"},
                           {"resources", {{"requests", {{"cpu", "1m"}}}}}}}}}}};
          if (!rest().Create(pods, pod.dump()).ok()) ++failures;
        }
      });
    }
    for (auto& w : writers) w.join();
    return failures.load();
  };
  ASSERT_EQ(create(0, kListed), 0);

  RestListWatcher lister(rest(), pods);
  Informer<Pod> informer(lister);
  ASSERT_TRUE(AddPodIndexes(informer.store()).ok());
  CancelFlag stop;
  std::thread runner([&] { informer.Run(stop); });
  struct Stop {
    Informer<Pod>& informer;
    std::thread& runner;
    ~Stop() {
      informer.Stop();
      runner.join();
    }
  } stop_at_exit{informer, runner};
  ASSERT_TRUE(Eventually(60s, [&] { return informer.HasSynced(); }));

  // The rest arrive by watch; then updates (a label) and deletes of pods
  // from both halves.
  ASSERT_EQ(create(kListed, kCount), 0);
  int write_failures = 0;
  for (size_t i = 0; i < kCount; i += 7) {
    const json patch = {{"metadata", {{"labels", {{"updated", "yes"}}}}}};
    write_failures +=
        !rest().Patch(pods, "pod-" + std::to_string(i), PatchType::kMerge, patch.dump()).ok();
  }
  DeleteOptions now;
  now.grace_period_seconds = 0;
  size_t deleted = 0;
  for (size_t i = 3; i < kCount; i += 10) {
    write_failures += !rest().Delete(pods, "pod-" + std::to_string(i), now).ok();
    ++deleted;
  }
  ASSERT_EQ(write_failures, 0);

  auto cached = [&] {
    std::map<std::string, PodView> views;
    for (const auto& pod : informer.store().List()) {
      views[pod->meta.name] = {pod->meta.uid.str(), pod->meta.resource_version,
                               pod->node_name.str(), PodPhaseName(pod->phase), pod->Terminating()};
    }
    return views;
  };
  auto from_kubectl = [&] {
    std::map<std::string, PodView> views;
    const json list = json::parse(RunCommand(Kubectl() + " get pods -n " + ns_ + " -o json"));
    for (const auto& item : list["items"]) {
      const json& meta = item["metadata"];
      views[meta["name"].get<std::string>()] = {
          meta["uid"].get<std::string>(), meta["resourceVersion"].get<std::string>(),
          item["spec"].value("nodeName", ""), item["status"].value("phase", "Pending"),
          meta.contains("deletionTimestamp")};
    }
    return views;
  };
  // Converged: the same pods at the same versions, all of them Running (kwok
  // has reported every pod, so nothing more is in flight).
  std::map<std::string, PodView> ours, theirs;
  const bool converged = Eventually(
      180s,
      [&] {
        theirs = from_kubectl();
        ours = cached();
        if (theirs.size() != kCount - deleted) return false;
        for (const auto& [name, view] : theirs) {
          if (view.phase != "Running") return false;
        }
        return ours == theirs;
      },
      1s);
  EXPECT_TRUE(converged) << "cache " << ours.size() << " pods, kubectl " << theirs.size();
  EXPECT_EQ(ours, theirs);
  EXPECT_EQ(informer.store().size(), kCount - deleted);
  // The index by node agrees with the store.
  size_t indexed = 0;
  for (const auto& node : nodes) indexed += informer.store().CountByIndex(kIndexNodeName, node);
  EXPECT_EQ(indexed, kCount - deleted);
  const InformerStats stats = informer.stats();
  EXPECT_EQ(stats.lists, 1u) << "one list, the rest by watch";
  EXPECT_EQ(stats.relists, 0u);
  std::printf("informer: %llu events, %llu watch starts\n",
              static_cast<unsigned long long>(stats.events),
              static_cast<unsigned long long>(stats.watch_starts));
}

TEST_F(ClusterTest, CreateGetUpdatePatchDelete) {
  auto created = rest().Create(ConfigMaps(), ConfigMap("cm", "v1"));
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  json object = json::parse(created.value());
  const std::string uid = object["metadata"]["uid"];

  auto again = rest().Create(ConfigMaps(), ConfigMap("cm", "v1"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorKind::kAlreadyExists);

  object["data"]["key"] = "v2";  // PUT with the resourceVersion just read.
  auto updated = rest().Update(ConfigMaps(), "cm", object.dump());
  ASSERT_TRUE(updated.ok()) << updated.error().ToString();
  EXPECT_EQ(json::parse(updated.value())["data"]["key"], "v2");

  auto merged = rest().Patch(ConfigMaps(), "cm", PatchType::kMerge, R"({"data":{"merge":"m"}})");
  ASSERT_TRUE(merged.ok()) << merged.error().ToString();
  auto json_patched = rest().Patch(ConfigMaps(), "cm", PatchType::kJson,
                                   R"([{"op":"add","path":"/data/jsonpatch","value":"j"}])");
  ASSERT_TRUE(json_patched.ok()) << json_patched.error().ToString();
  auto strategic = rest().Patch(ConfigMaps(), "cm", PatchType::kStrategicMerge,
                                R"({"metadata":{"labels":{"smp":"s"}}})");
  ASSERT_TRUE(strategic.ok()) << strategic.error().ToString();
  WriteOptions apply;
  apply.field_manager = "kube-client-test";
  auto applied = rest().Patch(
      ConfigMaps(), "cm", PatchType::kApply,
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"},"data":{"applied":"a"}})",
      apply);
  ASSERT_TRUE(applied.ok()) << applied.error().ToString();

  auto got = rest().Get(ConfigMaps(), "cm");
  ASSERT_TRUE(got.ok());
  const json now = json::parse(got.value());
  EXPECT_EQ(now["data"]["key"], "v2");
  EXPECT_EQ(now["data"]["merge"], "m");
  EXPECT_EQ(now["data"]["jsonpatch"], "j");
  EXPECT_EQ(now["data"]["applied"], "a");
  EXPECT_EQ(now["metadata"]["labels"]["smp"], "s");

  // A dry run changes nothing.
  WriteOptions dry;
  dry.dry_run = true;
  ASSERT_TRUE(
      rest().Patch(ConfigMaps(), "cm", PatchType::kMerge, R"({"data":{"dry":"d"}})", dry).ok());
  EXPECT_FALSE(json::parse(rest().Get(ConfigMaps(), "cm").value())["data"].contains("dry"));

  DeleteOptions wrong_uid;
  wrong_uid.precondition_uid = "00000000-0000-0000-0000-000000000000";
  Status refused = rest().Delete(ConfigMaps(), "cm", wrong_uid);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::kConflict) << refused.error().ToString();

  DeleteOptions right_uid;
  right_uid.precondition_uid = uid;
  right_uid.propagation_policy = "Background";
  right_uid.grace_period_seconds = 0;
  ASSERT_TRUE(rest().Delete(ConfigMaps(), "cm", right_uid).ok());
  auto gone = rest().Get(ConfigMaps(), "cm");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(gone.error().http_status, 404);
}

TEST_F(ClusterTest, StaleResourceVersionIsAConflict) {
  auto created = rest().Create(ConfigMaps(), ConfigMap("cm", "v1"));
  ASSERT_TRUE(created.ok());
  json stale = json::parse(created.value());
  const std::string stale_rv = stale["metadata"]["resourceVersion"];
  ASSERT_TRUE(rest().Patch(ConfigMaps(), "cm", PatchType::kMerge, R"({"data":{"key":"v2"}})").ok());

  stale["data"]["key"] = "lost update";
  auto put = rest().Update(ConfigMaps(), "cm", stale.dump());
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(put.error().http_status, 409);
  EXPECT_EQ(put.error().reason, "Conflict");

  const std::string patch =
      json{{"metadata", {{"resourceVersion", stale_rv}}}, {"data", {{"key", "lost"}}}}.dump();
  auto patched = rest().Patch(ConfigMaps(), "cm", PatchType::kMerge, patch);
  ASSERT_FALSE(patched.ok());
  EXPECT_EQ(patched.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(json::parse(rest().Get(ConfigMaps(), "cm").value())["data"]["key"], "v2");
}

TEST_F(ClusterTest, EvictionBlockedByPdbIsTooManyRequests) {
  // A simulated (kwok) node to run the pod: the kubelet there reports it Running.
  auto nodes = rest().ListAll(CoreResource("nodes"));
  ASSERT_TRUE(nodes.ok()) << nodes.error().ToString();
  std::string node;
  for (const auto& item : nodes->items) {
    const json n = json::parse(item);
    if (n["metadata"].value("labels", json::object()).value("type", "") == "kwok" &&
        !n["spec"].value("unschedulable", false)) {
      node = n["metadata"]["name"];
      break;
    }
  }
  ASSERT_FALSE(node.empty()) << "no simulated node in the cluster";
  const json pod = {{"apiVersion", "v1"},
                    {"kind", "Pod"},
                    {"metadata", {{"name", "guarded"}, {"labels", {{"app", "guarded"}}}}},
                    {"spec",
                     {{"nodeName", node},
                      {"containers", {{{"name", "c"}, {"image", "registry.k8s.io/pause:3.10"}}}}}}};
  ASSERT_TRUE(rest().Create(CoreResource("pods", ns_), pod.dump()).ok());
  const json pdb = {
      {"apiVersion", "policy/v1"},
      {"kind", "PodDisruptionBudget"},
      {"metadata", {{"name", "guarded"}}},
      {"spec", {{"minAvailable", 1}, {"selector", {{"matchLabels", {{"app", "guarded"}}}}}}}};
  const ResourcePath pdbs = GroupResource("policy", "v1", "poddisruptionbudgets", ns_);
  ASSERT_TRUE(rest().Create(pdbs, pdb.dump()).ok());
  ASSERT_TRUE(Eventually(60s, [&] {
    auto got = rest().Get(pdbs, "guarded");
    if (!got.ok()) return false;
    const json status = json::parse(got.value()).value("status", json::object());
    return status.value("observedGeneration", 0) == 1 && status.value("currentHealthy", 0) == 1 &&
           status.value("disruptionsAllowed", -1) == 0;
  })) << "PDB never reported 1 healthy, 0 disruptions allowed";

  int attempts = 0;
  RestOptions counting;
  counting.observer = [&](const RequestMetric& m) {
    if (m.verb == "evict") ++attempts;
  };
  RestClient counted(http(), counting);
  Status evicted = counted.Evict(ns_, "guarded");
  ASSERT_FALSE(evicted.ok());
  EXPECT_EQ(evicted.error().kind, ErrorKind::kTooManyRequests) << evicted.error().ToString();
  EXPECT_EQ(evicted.error().http_status, 429);
  EXPECT_THAT(evicted.error().message, ::testing::HasSubstr("disruption budget"));
  EXPECT_EQ(attempts, 1) << "a PDB refusal must not be retried by the client";
  auto still = rest().Get(CoreResource("pods", ns_), "guarded");
  ASSERT_TRUE(still.ok());
  EXPECT_FALSE(json::parse(still.value())["metadata"].contains("deletionTimestamp"));
}

TEST_F(ClusterTest, WatchStreamsEventsFromAResourceVersion) {
  auto listed = rest().ListAll(ConfigMaps());
  ASSERT_TRUE(listed.ok());
  RestListWatcher watcher(rest(), ConfigMaps());
  WatchOptions options;
  options.resource_version = listed->resource_version;
  options.timeout = 30s;
  CancelFlag cancel;
  std::string received;
  std::thread writer([&] {
    std::this_thread::sleep_for(300ms);
    (void)rest().Create(ConfigMaps(), ConfigMap("watched", "w"));
  });
  Status s = watcher.Watch(
      options,
      [&](std::string_view chunk) {
        received.append(chunk);
        return received.find("\"watched\"") == std::string::npos;  // Stop once seen.
      },
      cancel);
  writer.join();
  EXPECT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_THAT(received, ::testing::HasSubstr("\"type\":\"ADDED\""));

  // A resourceVersion the server no longer holds (410 Gone, then a relist)
  // needs the API server's watch cache to move past it, which takes minutes:
  // kube.client.informer.RelistsWhenItsResourceVersionIsGone proves that path.
}

TEST_F(ClusterTest, TwoElectorsExactlyOneLeadsAndHandOverOnRelease) {
  auto store_a = MakeRestLeaseStore(rest(), ns_, "nodeguard-test");
  auto store_b = MakeRestLeaseStore(rest(), ns_, "nodeguard-test");
  auto make_config = [](const std::string& id) {
    LeaderElectionConfig c;
    c.identity = id;
    c.lease_duration = 4s;
    c.renew_deadline = 3s;
    c.retry_period = 500ms;
    return c;
  };
  std::atomic<int> started_a{0}, started_b{0};
  LeaderCallbacks cb_a, cb_b;
  cb_a.on_started_leading = [&] { ++started_a; };
  cb_b.on_started_leading = [&] { ++started_b; };
  LeaderElector a(*store_a, make_config("candidate-a"), cb_a);
  LeaderElector b(*store_b, make_config("candidate-b"), cb_b);
  CancelFlag stop_a, stop_b;
  std::thread ta([&] { a.Run(stop_a); });
  std::thread tb([&] { b.Run(stop_b); });

  ASSERT_TRUE(Eventually(20s, [&] { return a.IsLeader() || b.IsLeader(); }));
  // Over several lease periods, never two leaders.
  int both = 0;
  for (int i = 0; i < 60; ++i) {
    if (a.IsLeader() && b.IsLeader()) ++both;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(both, 0);
  LeaderElector& leader = a.IsLeader() ? a : b;
  LeaderElector& follower = a.IsLeader() ? b : a;
  CancelFlag& stop_leader = a.IsLeader() ? stop_a : stop_b;
  EXPECT_TRUE(leader.CanWrite());
  EXPECT_FALSE(follower.CanWrite());

  // The leader shuts down cleanly and releases: the follower takes over well
  // before the 4 s lease would have expired.
  const auto released_at = std::chrono::steady_clock::now();
  stop_leader.Cancel();
  ASSERT_TRUE(Eventually(10s, [&] { return follower.IsLeader(); }));
  const auto takeover = std::chrono::steady_clock::now() - released_at;
  EXPECT_LT(takeover, 3s);
  EXPECT_FALSE(leader.IsLeader());
  EXPECT_EQ(started_a + started_b, 2);

  stop_a.Cancel();
  stop_b.Cancel();
  ta.join();
  tb.join();
  auto lease = store_a->Get();
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(lease->record.holder_identity, "");  // Both released on the way out.
  EXPECT_EQ(lease->record.lease_transitions, 1);
}

TEST_F(ClusterTest, RepeatedEventsAggregateIntoOneWithACount) {
  auto created = rest().Create(ConfigMaps(), ConfigMap("subject", "s"));
  ASSERT_TRUE(created.ok());
  const json cm = json::parse(created.value());
  ObjectReference ref{"ConfigMap", "v1", ns_, "subject", cm["metadata"]["uid"]};
  auto sink = MakeRestEventSink(rest());
  EventRecorderOptions options;
  options.host = "kube-client-test";
  EventRecorder recorder(*sink, options);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(recorder.Record(ref, EventType::kWarning, "TestRepeated", "the same thing again"));
  }
  ASSERT_TRUE(recorder.Record(ref, EventType::kNormal, "TestOnce", "once"));
  ASSERT_TRUE(recorder.WaitIdle(30s));
  EXPECT_EQ(recorder.failed(), 0u);

  ListOptions by_object;
  by_object.field_selector = "involvedObject.name=subject";
  auto events = rest().ListAll(CoreResource("events", ns_), by_object);
  ASSERT_TRUE(events.ok()) << events.error().ToString();
  std::map<std::string, int> counts;
  for (const auto& item : events->items) {
    const json e = json::parse(item);
    counts[e["reason"]] += e["count"].get<int>();
    EXPECT_EQ(e["source"]["component"], "nodeguard");
    EXPECT_EQ(e["involvedObject"]["uid"], ref.uid);
  }
  EXPECT_EQ(events->items.size(), 2u);
  EXPECT_EQ(counts["TestRepeated"], 3);
  EXPECT_EQ(counts["TestOnce"], 1);
}

}  // namespace
}  // namespace nodeguard::kube
