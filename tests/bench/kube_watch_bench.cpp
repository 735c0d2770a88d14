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

int Pods(int argc, char** argv) {
  const size_t from = static_cast<size_t>(Flag(argc, argv, "from", 5000));
  const size_t to = static_cast<size_t>(Flag(argc, argv, "to", 30000));
  const size_t step = static_cast<size_t>(Flag(argc, argv, "step", 5000));
  const int threads = static_cast<int>(Flag(argc, argv, "threads", 8));
  Client client = Connect();
  RestClient& rest = *client.rest;
  std::printf("loadavg before: %s\n", LoadAvg().c_str());

  nodeguard::kube::ListOptions kwok;
  kwok.label_selector = "type=kwok";
  auto listed = rest.ListAll(CoreResource("nodes"), kwok);
  if (!listed.ok()) Die(listed.error().ToString());
  std::vector<std::string> nodes;
  for (const auto& item : listed->items) nodes.push_back(json::parse(item)["metadata"]["name"]);
  if (nodes.empty()) Die("no simulated (type=kwok) nodes: start the cluster with --nodes");

  const std::string ns = "watch-bench-" + RunId();
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
  CancelFlag stop;
  std::thread runner([&] { informer.Run(stop); });
  if (!WaitFor(60s, [&] { return informer.HasSynced(); })) Die("informer did not sync");

  auto running = [&] {
    size_t n = 0;
    for (const auto& pod : informer.store().List()) n += pod->phase == PodPhase::kRunning;
    return n;
  };
  struct Point {
    size_t pods;
    size_t rss;
    size_t heap;
    double create_seconds;
  };
  std::vector<Point> points;
  size_t created = 0;
  std::atomic<int64_t> failures{0};
  for (size_t target = from; target <= to; target += step) {
    const auto t0 = Clock::now();
    std::atomic<size_t> next{created};
    std::vector<std::thread> writers;
    for (int t = 0; t < threads; ++t) {
      writers.emplace_back([&] {
        for (size_t i = next++; i < target; i = next++) {
          const std::string name = PodName(i);
          const std::string body = BenchPod(name, nodes[i % nodes.size()], i).dump();
          for (int attempt = 0; attempt < 5; ++attempt) {
            auto r = rest.Create(CoreResource("pods", ns), body);
            if (r.ok() || r.error().Is(nodeguard::ErrorKind::kAlreadyExists)) break;
            ++failures;
            std::this_thread::sleep_for(200ms);
          }
        }
      });
    }
    for (auto& w : writers) w.join();
    created = target;
    const double create_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!WaitFor(
            std::chrono::seconds(600),
            [&] { return informer.store().size() == target && running() == target; }, 1s)) {
      Die("store holds " + std::to_string(informer.store().size()) + " pods, " +
          std::to_string(running()) + " running, of " + std::to_string(target));
    }
    malloc_trim(0);
    points.push_back({target, Rss(), mallinfo2().uordblks, create_seconds});
    std::printf("%6zu pods: RSS %.1f MB, heap in use %.1f MB (created in %.0f s, loadavg %s)\n",
                target, static_cast<double>(points.back().rss) / 1e6,
                static_cast<double>(points.back().heap) / 1e6, create_seconds, LoadAvg().c_str());
    std::fflush(stdout);
  }
  informer.Stop();
  runner.join();
  const Point& a = points.front();
  const Point& b = points.back();
  const double n = static_cast<double>(b.pods - a.pods);
  std::printf(
      "slope %zu -> %zu pods: RSS %.0f B/pod, heap %.0f B/pod; create failures retried %lld\n",
      a.pods, b.pods, (static_cast<double>(b.rss) - static_cast<double>(a.rss)) / n,
      (static_cast<double>(b.heap) - static_cast<double>(a.heap)) / n,
      static_cast<long long>(failures.load()));
  const auto stats = informer.stats();
  std::printf("informer: events %llu, lists %llu, relists %llu, watch starts %llu\n",
              static_cast<unsigned long long>(stats.events),
              static_cast<unsigned long long>(stats.lists),
              static_cast<unsigned long long>(stats.relists),
              static_cast<unsigned long long>(stats.watch_starts));
  nodeguard::kube::DeleteOptions background;
  background.propagation_policy = "Background";
  (void)rest.Delete(CoreResource("namespaces"), ns, background);
  std::printf("loadavg after: %s\n", LoadAvg().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "latency";
  if (mode == "latency") return Latency(argc, argv);
  if (mode == "pods") return Pods(argc, argv);
  std::fprintf(stderr, "usage: kube_watch_bench latency|pods [--flag value ...]\n");
  return 2;
}
