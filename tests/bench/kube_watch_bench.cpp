// Benchmarks of the client against a live API server ($KUBECONFIG, e.g. the
// local cluster of tests/cluster); results in docs/performance.md.
//
//   kube_watch_bench latency [--updates N] [--rate R] [--nodes K]
//       Watch-to-handler latency on loopback: an Informer<Node> runs in this
//       process; N label patches (default 1,000) are written at R per second
//       (default 50) round-robin to K nodes (default 10) this run creates
//       (not simulated: nothing else writes them but the controller
//       manager). Each patch sets a sequence number; its latency is from just
//       before the PATCH is sent to the moment the informer's handler runs
//       with that number. Prints p50/p90/p99/max (and the PATCH round trip).
//
//   kube_watch_bench pods [--from 5000] [--to 30000] [--step 5000] [--threads T]
//       RSS per cached Pod in a live Informer<Pod>: creates pods through the
//       API in its own namespace, bound round-robin to the cluster's
//       simulated nodes (type=kwok; kwok runs them), and at every step,
//       once the informer holds them all Running, records the process's RSS
//       and malloc's bytes in use (after malloc_trim). Reports the slope
//       between --from and --to. Deletes its namespace at the end. Needs a
//       cluster of its own (tests/cluster/up --name bench --nodes 20), not
//       the test fixture's: 30,000 pods take minutes to create and delete.
//       The pods are created by a child process (create-pods): this process
//       holds only the informer, as the controller would.
//
//   kube_watch_bench nodes [--from 1000] [--to 5000] [--step 1000] [--threads T]
//       The same for an Informer<Node>: creates Nodes shaped as a kubelet
//       registers them (labels, conditions, capacity, nodeInfo, images), not
//       simulated, so the controller manager marks each unreachable (one
//       more update) before it is counted. Deletes them at the end.
//
// Every mode prints /proc/loadavg before and after: the machine is shared.

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kube/config.h"
#include "kube/informer.h"
#include "kube/rest.h"
#include "kube/transport_cpprest.h"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using nodeguard::kube::CancelFlag;
using nodeguard::kube::CoreResource;
using nodeguard::kube::Informer;
using nodeguard::kube::Node;
using nodeguard::kube::Pod;
using nodeguard::kube::PodPhase;
using nodeguard::kube::RestClient;
using nodeguard::kube::RestListWatcher;
using Clock = std::chrono::steady_clock;

constexpr const char* kRunLabel = "nodeguard.io/watch-bench";
constexpr const char* kSeqLabel = "nodeguard.io/watch-bench-seq";

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "kube_watch_bench: %s\n", what.c_str());
  std::exit(1);
}

std::string LoadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string line;
  std::getline(in, line);
  return line;
}

size_t Rss() {
  std::ifstream statm("/proc/self/statm");
  size_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// Polls `condition` every `period` until it holds or `timeout` passes.
template <typename F>
bool WaitFor(std::chrono::seconds timeout, F condition, std::chrono::milliseconds period = 200ms) {
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(period);
  }
  return condition();
}

double Percentile(std::vector<double> sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

void PrintDistribution(const char* what, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  std::printf("%-26s n=%zu  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n", what, ms.size(),
              Percentile(ms, 50), Percentile(ms, 90), Percentile(ms, 99),
              ms.empty() ? 0.0 : ms.back());
}

// Flags "--name value" after the mode; a missing flag keeps its default.
int64_t Flag(int argc, char** argv, const std::string& name, int64_t fallback) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (argv[i] == "--" + name) return std::stoll(argv[i + 1]);
  }
  return fallback;
}

std::string StringFlag(int argc, char** argv, const std::string& name, std::string fallback) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (argv[i] == "--" + name) return argv[i + 1];
  }
  return fallback;
}

struct Client {
  std::unique_ptr<nodeguard::kube::HttpClient> http;
  std::unique_ptr<RestClient> rest;
};

Client Connect() {
  auto config =
      nodeguard::kube::LoadClientConfig(nodeguard::kube::ConfigSources::FromEnvironment());
  if (!config.ok()) Die("KUBECONFIG: " + config.error().ToString());
  auto http = nodeguard::kube::MakeCpprestHttpClient(config.value());
  if (!http.ok()) Die(http.error().ToString());
  Client c;
  c.http = std::move(http.value());
  c.rest = std::make_unique<RestClient>(*c.http);
  return c;
}

std::string RunId() {
  std::mt19937 rng{std::random_device{}()};
  return std::to_string(rng() % 1000000);
}

// ---------------------------------------------------------------- latency

int Latency(int argc, char** argv) {
  const int64_t updates = Flag(argc, argv, "updates", 1000);
  const int64_t rate = Flag(argc, argv, "rate", 50);
  const int64_t node_count = Flag(argc, argv, "nodes", 10);
  constexpr int64_t kWarmup = 50;  // Not counted: connections and caches warm up.
  Client client = Connect();
  RestClient& rest = *client.rest;
  const std::string run = RunId();
  std::printf("loadavg before: %s\n", LoadAvg().c_str());

  std::vector<std::string> nodes;
  for (int64_t i = 0; i < node_count; ++i) {
    nodes.push_back("watch-bench-" + run + "-" + std::to_string(i));
    const json node = {{"apiVersion", "v1"},
                       {"kind", "Node"},
                       {"metadata", {{"name", nodes.back()}, {"labels", {{kRunLabel, run}}}}}};
    auto created = rest.Create(CoreResource("nodes"), node.dump());
    if (!created.ok()) Die("create node: " + created.error().ToString());
  }

  const int64_t total = kWarmup + updates;
  // Nanoseconds since `epoch` at which the handler first saw each sequence number.
  std::vector<std::atomic<int64_t>> seen(static_cast<size_t>(total));
  for (auto& s : seen) s.store(-1);
  const Clock::time_point epoch = Clock::now();
  RestListWatcher lister(rest, CoreResource("nodes"));
  nodeguard::kube::InformerOptions options;
  options.label_selector = std::string(kRunLabel) + "=" + run;
  Informer<Node> informer(lister, options);
  nodeguard::kube::EventHandlers<Node> handlers;
  handlers.on_update = [&](const auto&, const auto& node) {
    const std::string* seq = node->labels.Find(kSeqLabel);
    if (seq == nullptr) return;
    const int64_t i = std::stoll(*seq);
    if (i < 0 || i >= total) return;
    int64_t unseen = -1;
    const int64_t now =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - epoch).count();
    seen[static_cast<size_t>(i)].compare_exchange_strong(unseen, now);
  };
  informer.AddHandlers(handlers);
  CancelFlag stop;
  std::thread runner([&] { informer.Run(stop); });
  if (!WaitFor(60s,
               [&] { return informer.HasSynced() && informer.store().size() == nodes.size(); })) {
    Die("informer did not sync");
  }

  std::vector<int64_t> sent(static_cast<size_t>(total), -1);
  std::vector<double> round_trip_ms;
  const auto period = std::chrono::nanoseconds(1'000'000'000 / std::max<int64_t>(rate, 1));
  auto next = Clock::now();
  for (int64_t i = 0; i < total; ++i) {
    std::this_thread::sleep_until(next);
    next += period;
    const json patch = {{"metadata", {{"labels", {{kSeqLabel, std::to_string(i)}}}}}};
    const std::string body = patch.dump();
    const auto before = Clock::now();
    sent[static_cast<size_t>(i)] =
        std::chrono::duration_cast<std::chrono::nanoseconds>(before - epoch).count();
    auto patched = rest.Patch(CoreResource("nodes"), nodes[static_cast<size_t>(i) % nodes.size()],
                              nodeguard::kube::PatchType::kMerge, body);
    if (!patched.ok()) Die("patch: " + patched.error().ToString());
    if (i >= kWarmup) {
      round_trip_ms.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - before).count());
    }
  }
  const bool all_seen = WaitFor(60s, [&] {
    return std::all_of(seen.begin(), seen.end(), [](const auto& s) { return s.load() >= 0; });
  });

  std::vector<double> latency_ms;
  int64_t missing = 0;
  for (int64_t i = kWarmup; i < total; ++i) {
    const int64_t at = seen[static_cast<size_t>(i)].load();
    if (at < 0) {
      ++missing;
      continue;
    }
    latency_ms.push_back(static_cast<double>(at - sent[static_cast<size_t>(i)]) / 1e6);
  }
  informer.Stop();
  runner.join();
  for (const auto& name : nodes) (void)rest.Delete(CoreResource("nodes"), name);

  std::printf("%lld updates at %lld/s over %lld nodes (after %lld warm-up updates)\n",
              static_cast<long long>(updates), static_cast<long long>(rate),
              static_cast<long long>(node_count), static_cast<long long>(kWarmup));
  PrintDistribution("write to handler", latency_ms);
  PrintDistribution("PATCH round trip", round_trip_ms);
  const auto stats = informer.stats();
  std::printf("informer: events %llu, watch starts %llu, relists %llu; missing %lld\n",
              static_cast<unsigned long long>(stats.events),
              static_cast<unsigned long long>(stats.watch_starts),
              static_cast<unsigned long long>(stats.relists), static_cast<long long>(missing));
  std::printf("loadavg after: %s\n", LoadAvg().c_str());
  return all_seen ? 0 : 1;
}

// ---------------------------------------------------------------- pods

// Named as a Deployment's pods are ("<deployment>-<pod-template-hash>-<5 chars>"),
// so names are as long as real ones (longer than libstdc++'s inline 15).
std::string PodName(size_t i) {
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string suffix;
  for (size_t n = i, k = 0; k < 5; ++k, n /= 27) suffix.push_back(kAlphabet[n % 27]);
  return "app-" + std::to_string(i % 40) + "-7d9f8c6b5d-" + suffix;
}

json BenchPod(const std::string& name, const std::string& node, size_t i) {
  json container = {
      {"name", "app"},
      {"image", "registry.k8s.io/pause:3.10"},
      {"resources",
       {{"requests", {{"cpu", "10m"}, {"memory", "16Mi"}}}, {"limits", {{"memory", "64Mi"}}}}}};
  json spec = {{"nodeName", node},
               {"containers", json::array({container})},
               {"terminationGracePeriodSeconds", 0}};
  if (i % 3 == 0) {  // Some with a sidecar and an emptyDir, as real workloads.
    json sidecar = container;
    sidecar["name"] = "sidecar";
    spec["containers"].push_back(sidecar);
    spec["volumes"] = json::array({{{"name", "scratch"}, {"emptyDir", json::object()}}});
  }
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name},
            {"labels", {{"app", "bench-" + std::to_string(i % 40)}, {kRunLabel, "pod"}}}}},
          {"spec", spec}};
}

// A Node as a kubelet on a cloud VM registers it: the usual labels, five
// conditions with the kubelet's messages, capacity and allocatable, addresses,
// nodeInfo and a few images. Not simulated by kwok (no type=kwok label):
// nothing heartbeats for it.
json BenchNode(const std::string& run, size_t i) {
  const std::string name = "watch-bench-" + run + "-node-" + std::to_string(i);
  const std::string zone = "europe-west4-" + std::string(1, static_cast<char>('a' + i % 3));
  const std::string now = "2026-12-03T08:00:00Z";
  auto condition = [&](const char* type, const char* status, const char* reason,
                       const char* message) {
    return json{{"type", type},       {"status", status},         {"reason", reason},
                {"message", message}, {"lastHeartbeatTime", now}, {"lastTransitionTime", now}};
  };
  char boot_id[37];
  std::snprintf(boot_id, sizeof boot_id, "%08zx-5f1e-4c8a-9d2b-%012zx", i, i * 7919);
  json images = json::array();
  for (int k = 0; k < 8; ++k) {
    images.push_back(
        {{"names",
          {"registry.k8s.io/app-" + std::to_string(k) +
           "@sha256:4f1c8e2d9b7a6c5e3d1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d"}},
         {"sizeBytes", 20000000 + k * 1000000}});
  }
  return {
      {"apiVersion", "v1"},
      {"kind", "Node"},
      {"metadata",
       {{"name", name},
        {"labels",
         {{kRunLabel, run},
          {"beta.kubernetes.io/arch", "amd64"},
          {"beta.kubernetes.io/os", "linux"},
          {"kubernetes.io/arch", "amd64"},
          {"kubernetes.io/os", "linux"},
          {"kubernetes.io/hostname", name},
          {"node-role.kubernetes.io/worker", ""},
          {"node.kubernetes.io/instance-type", "n2-standard-8"},
          {"topology.kubernetes.io/region", "europe-west4"},
          {"topology.kubernetes.io/zone", zone},
          {"cloud.google.com/gke-nodepool", "pool-" + std::to_string(i % 4)}}},
        {"annotations",
         {{"node.alpha.kubernetes.io/ttl", "0"},
          {"volumes.kubernetes.io/controller-managed-attach-detach", "true"}}}}},
      {"spec", {{"podCIDR", "10.64.0.0/24"}, {"providerID", "gce://bench/" + zone + "/" + name}}},
      {"status",
       {{"capacity",
         {{"cpu", "8"},
          {"memory", "32863092Ki"},
          {"ephemeral-storage", "101203600Ki"},
          {"pods", "110"}}},
        {"allocatable",
         {{"cpu", "7910m"},
          {"memory", "29251444Ki"},
          {"ephemeral-storage", "47093746742"},
          {"pods", "110"}}},
        {"conditions",
         {condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available"),
          condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure"),
          condition("PIDPressure", "False", "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available"),
          condition("Ready", "True", "KubeletReady", "kubelet is posting ready status")}},
        {"addresses",
         {{{"type", "InternalIP"},
           {"address", "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250)}},
          {{"type", "Hostname"}, {"address", name}}}},
        {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", 10250}}}}},
        {"nodeInfo",
         {{"machineID", std::string(boot_id).substr(0, 8) + "9c2f4e6a8b1d3f5a7c9e1b3d"},
          {"systemUUID", boot_id},
          {"bootID", boot_id},
          {"kernelVersion", "6.1.0-28-cloud-amd64"},
          {"osImage", "Debian GNU/Linux 12 (bookworm)"},
          {"containerRuntimeVersion", "containerd://1.7.24"},
          {"kubeletVersion", "v1.36.3"},
          {"kubeProxyVersion", "v1.36.3"},
          {"operatingSystem", "linux"},
          {"architecture", "amd64"}}},
        {"images", images}}}};
}

// Lists the simulated (type=kwok) nodes, sorted by name as the API returns them.
std::vector<std::string> KwokNodes(RestClient& rest) {
  nodeguard::kube::ListOptions kwok;
  kwok.label_selector = "type=kwok";
  auto listed = rest.ListAll(CoreResource("nodes"), kwok);
  if (!listed.ok()) Die(listed.error().ToString());
  std::vector<std::string> nodes;
  for (const auto& item : listed->items) nodes.push_back(json::parse(item)["metadata"]["name"]);
  if (nodes.empty()) Die("no simulated (type=kwok) nodes: start the cluster with --nodes");
  return nodes;
}

// POSTs bodies made by `body(i)` for i in [from, to) from `threads` threads,
// retrying each up to 5 times; returns the number of retried failures.
template <typename Body>
int64_t CreateAll(RestClient& rest, const nodeguard::kube::ResourcePath& resource, size_t from,
                  size_t to, int threads, Body body) {
  std::atomic<size_t> next{from};
  std::atomic<int64_t> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&] {
      for (size_t i = next++; i < to; i = next++) {
        const std::string text = body(i);
        for (int attempt = 0; attempt < 5; ++attempt) {
          auto r = rest.Create(resource, text);
          if (r.ok() || r.error().Is(nodeguard::ErrorKind::kAlreadyExists)) break;
          ++failures;
          std::this_thread::sleep_for(200ms);
        }
      }
    });
  }
  for (auto& w : writers) w.join();
  return failures.load();
}

// `kube_watch_bench create-pods|create-nodes --run R --from A --to B [--threads T]`,
// the writer half of `pods` and `nodes`, run as a child process so that the
// process whose RSS is measured holds nothing but the informer (as the
// controller does): the writers' threads, their arenas and their request
// bodies would otherwise count as cache. Prints the retried failures.
int CreateObjects(const std::string& what, int argc, char** argv) {
  const std::string run = StringFlag(argc, argv, "run", "");
  const auto from = static_cast<size_t>(Flag(argc, argv, "from", 0));
  const auto to = static_cast<size_t>(Flag(argc, argv, "to", 0));
  const int threads = static_cast<int>(Flag(argc, argv, "threads", 8));
  if (run.empty()) Die(what + ": --run is required");
  Client client = Connect();
  RestClient& rest = *client.rest;
  int64_t failures = 0;
  if (what == "create-pods") {
    const std::vector<std::string> nodes = KwokNodes(rest);
    failures = CreateAll(
        rest, CoreResource("pods", "watch-bench-" + run), from, to, threads,
        [&](size_t i) { return BenchPod(PodName(i), nodes[i % nodes.size()], i).dump(); });
  } else {
    failures = CreateAll(rest, CoreResource("nodes"), from, to, threads,
                         [&](size_t i) { return BenchNode(run, i).dump(); });
  }
  std::printf("%lld\n", static_cast<long long>(failures));
  return 0;
}

// Runs this binary as `mode --run R --from A --to B --threads T` and returns
// the failures it printed; dies if it fails.
int64_t RunWriter(const std::string& mode, const std::string& run, size_t from, size_t to,
                  int threads) {
  std::fflush(stdout);
  const std::string command = "/proc/" + std::to_string(getpid()) + "/exe " + mode + " --run " +
                              run + " --from " + std::to_string(from) + " --to " +
                              std::to_string(to) + " --threads " + std::to_string(threads);
  FILE* child = popen(command.c_str(), "r");
  if (child == nullptr) Die("cannot start " + command);
  long long failures = 0;
  const bool read = std::fscanf(child, "%lld", &failures) == 1;
  if (pclose(child) != 0 || !read) Die(command + " failed");
  return failures;
}

struct Point {
  size_t objects;
  size_t rss;
  size_t heap;
  double create_seconds;
};

// Records RSS and malloc's bytes in use (after malloc_trim) for `objects`.
Point Record(size_t objects, double create_seconds) {
  malloc_trim(0);
  Point p{objects, Rss(), mallinfo2().uordblks, create_seconds};
  std::printf("%6zu objects: RSS %.1f MB, heap in use %.1f MB (created in %.0f s, loadavg %s)\n",
              objects, static_cast<double>(p.rss) / 1e6, static_cast<double>(p.heap) / 1e6,
              create_seconds, LoadAvg().c_str());
  std::fflush(stdout);
  return p;
}

void PrintSlope(const char* what, const std::vector<Point>& points, int64_t failures) {
  const Point& a = points.front();
  const Point& b = points.back();
  const double n = static_cast<double>(b.objects - a.objects);
  std::printf(
      "slope %zu -> %zu %s: RSS %.0f B each, heap %.0f B each; create failures retried %lld\n",
      a.objects, b.objects, what, (static_cast<double>(b.rss) - static_cast<double>(a.rss)) / n,
      (static_cast<double>(b.heap) - static_cast<double>(a.heap)) / n,
      static_cast<long long>(failures));
}

template <typename T>
void PrintInformerStats(const Informer<T>& informer) {
  const auto stats = informer.stats();
  std::printf("informer: events %llu, lists %llu, relists %llu, watch starts %llu\n",
              static_cast<unsigned long long>(stats.events),
              static_cast<unsigned long long>(stats.lists),
              static_cast<unsigned long long>(stats.relists),
              static_cast<unsigned long long>(stats.watch_starts));
}

struct Steps {
  size_t from;
  size_t to;
  size_t step;
  int threads;
};

// Runs `informer` in this process while a child process (`writer_mode`)
// creates objects, steps.step at a time up to steps.to; at each step, once the
// informer holds them all and all of them satisfy `final_shape` (their last
// expected update has arrived), records RSS and heap. Prints the slope and
// the informer's stats.
template <typename T, typename FinalShape>
void MeasureCache(Informer<T>& informer, FinalShape final_shape, const std::string& writer_mode,
                  const std::string& run, Steps steps, const char* what) {
  std::atomic<size_t> final{0};  // Objects the informer holds in their final shape.
  nodeguard::kube::EventHandlers<T> handlers;
  handlers.on_add = [&](const auto& obj) { final += final_shape(*obj); };
  handlers.on_update = [&](const auto& old_obj, const auto& obj) {
    final += final_shape(*obj);
    final -= final_shape(*old_obj);
  };
  handlers.on_delete = [&](const auto& obj) { final -= final_shape(*obj); };
  informer.AddHandlers(handlers);
  CancelFlag stop;
  std::thread runner([&] { informer.Run(stop); });
  if (!WaitFor(60s, [&] { return informer.HasSynced(); })) Die("informer did not sync");

  std::vector<Point> points;
  size_t created = 0;
  int64_t failures = 0;
  for (size_t target = steps.from; target <= steps.to; target += steps.step) {
    const auto t0 = Clock::now();
    failures += RunWriter(writer_mode, run, created, target, steps.threads);
    created = target;
    const double create_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!WaitFor(
            std::chrono::seconds(600),
            [&] { return informer.store().size() == target && final.load() == target; }, 1s)) {
      Die(std::string("store holds ") + std::to_string(informer.store().size()) + " " + what +
          ", " + std::to_string(final.load()) + " in their final shape, of " +
          std::to_string(target));
    }
    points.push_back(Record(target, create_seconds));
  }
  informer.Stop();
  runner.join();
  PrintSlope(what, points, failures);
  PrintInformerStats(informer);
}

int Pods(int argc, char** argv) {
  const size_t from = static_cast<size_t>(Flag(argc, argv, "from", 5000));
  const size_t to = static_cast<size_t>(Flag(argc, argv, "to", 30000));
  const size_t step = static_cast<size_t>(Flag(argc, argv, "step", 5000));
  const int threads = static_cast<int>(Flag(argc, argv, "threads", 8));
  Client client = Connect();
  RestClient& rest = *client.rest;
  std::printf("loadavg before: %s\n", LoadAvg().c_str());
  (void)KwokNodes(rest);  // Fails early without simulated nodes.

  const std::string run = RunId();
  const std::string ns = "watch-bench-" + run;
  const json namespace_ = {
      {"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}};
  if (auto created = rest.Create(CoreResource("namespaces"), namespace_.dump()); !created.ok()) {
    Die(created.error().ToString());
  }
  // The service account the pods need appears shortly after the namespace.
  WaitFor(60s, [&] { return rest.Get(CoreResource("serviceaccounts", ns), "default").ok(); });

  RestListWatcher lister(rest, CoreResource("pods", ns));
  Informer<Pod> informer(lister);
  if (!AddPodIndexes(informer.store()).ok()) Die("indexes");
  MeasureCache(
      informer, [](const Pod& pod) { return pod.phase == PodPhase::kRunning; }, "create-pods", run,
      {from, to, step, threads}, "pods");
  nodeguard::kube::DeleteOptions background;
  background.propagation_policy = "Background";
  (void)rest.Delete(CoreResource("namespaces"), ns, background);
  std::printf("loadavg after: %s\n", LoadAvg().c_str());
  return 0;
}

// ---------------------------------------------------------------- nodes

int Nodes(int argc, char** argv) {
  const size_t from = static_cast<size_t>(Flag(argc, argv, "from", 1000));
  const size_t to = static_cast<size_t>(Flag(argc, argv, "to", 5000));
  const size_t step = static_cast<size_t>(Flag(argc, argv, "step", 1000));
  const int threads = static_cast<int>(Flag(argc, argv, "threads", 8));
  Client client = Connect();
  RestClient& rest = *client.rest;
  std::printf("loadavg before: %s\n", LoadAvg().c_str());
  const std::string run = RunId();
  const std::string selector = std::string(kRunLabel) + "=" + run;

  RestListWatcher lister(rest, CoreResource("nodes"));
  nodeguard::kube::InformerOptions options;
  options.label_selector = selector;
  Informer<Node> informer(lister, options);
  // Nothing heartbeats for these nodes: the controller manager marks each
  // Unknown and taints it (a MODIFIED event) about 20 s after it appears.
  // Wait for that, so every node is cached in its final shape.
  MeasureCache(
      informer,
      [](const Node& node) {
        return node.FindTaint("node.kubernetes.io/unreachable",
                              nodeguard::kube::TaintEffect::kNoSchedule) != nullptr;
      },
      "create-nodes", run, {from, to, step, threads}, "nodes");
  std::vector<std::shared_ptr<const Node>> mine = informer.store().List();
  std::atomic<size_t> next{0};
  std::vector<std::thread> deleters;
  for (int t = 0; t < threads; ++t) {
    deleters.emplace_back([&] {
      for (size_t i = next++; i < mine.size(); i = next++) {
        (void)rest.Delete(CoreResource("nodes"), mine[i]->meta.name);
      }
    });
  }
  for (auto& d : deleters) d.join();
  std::printf("loadavg after: %s\n", LoadAvg().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "latency";
  if (mode == "latency") return Latency(argc, argv);
  if (mode == "pods") return Pods(argc, argv);
  if (mode == "nodes") return Nodes(argc, argv);
  if (mode == "create-pods" || mode == "create-nodes") return CreateObjects(mode, argc, argv);
  std::fprintf(stderr, "usage: kube_watch_bench latency|pods|nodes [--flag value ...]\n");
  return 2;
}
