// Benchmarks for the informer's hot path (docs/performance.md):
//  1. decode throughput of a realistic 20,000-pod PodList into slim structs,
//     on one core: the whole list at once, in pages of 500 (what the informer
//     does), and as watch events;
//  2. memory per cached Pod and Node in an informer's Store, measured as the
//     slope between two cache sizes (heap bytes from mallinfo2, and RSS),
//     against what the same objects cost as JSON text.
// Pods are generated from pods captured from the local cluster (raw API
// server output, managedFields included), with names, namespaces, nodes, uids
// and resourceVersions varied so strings are not shared by accident.

#include <malloc.h>
#include <sched.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "kube/decode.h"
#include "kube/informer.h"
#include "kube/store.h"

namespace {

using nodeguard::bench::CpuSeconds;
using nodeguard::bench::RandomSuffix;
using nodeguard::bench::ReadFile;
using nodeguard::bench::Uid;
using nodeguard::bench::WallSeconds;

using nodeguard::kube::Node;
using nodeguard::kube::Pod;
using Json = nlohmann::ordered_json;

// Pods as the API server writes them, one compact JSON document each.
std::vector<std::string> GeneratePods(size_t n, uint64_t seed) {
  Json captured = Json::parse(ReadFile("kube/pod_list_all_api.json"));
  const Json& templates = captured["items"];
  std::mt19937_64 rng(seed);
  std::vector<std::string> pods;
  pods.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    Json pod = templates[i % templates.size()];
    Json& meta = pod["metadata"];
    std::string base = meta.contains("generateName") ? meta["generateName"].get<std::string>()
                                                     : meta["name"].get<std::string>() + "-";
    meta["name"] = base + RandomSuffix(rng, 5);
    meta["namespace"] = "team-" + std::to_string(i % 50);
    meta["uid"] = Uid(rng);
    meta["resourceVersion"] = std::to_string(100000000 + i);
    char node[16];
    std::snprintf(node, sizeof node, "node-%04zu", i % 250);
    pod["spec"]["nodeName"] = node;
    pods.push_back(pod.dump());
  }
  return pods;
}

std::vector<std::string> GenerateNodes(size_t n, uint64_t seed) {
  Json captured = Json::parse(ReadFile("kube/node_list.json"));
  std::vector<Json> templates(captured["items"].begin(), captured["items"].end());
  templates.push_back(Json::parse(ReadFile("kube/node_kubelet_pleg.json")));
  std::mt19937_64 rng(seed);
  std::vector<std::string> nodes;
  for (size_t i = 0; i < n; ++i) {
    Json node = templates[i % templates.size()];
    char name[64];
    std::snprintf(name, sizeof name, "ip-10-%zu-%zu-%zu.ec2.internal", i / 65536, (i / 256) % 256,
                  i % 256);
    node["metadata"]["name"] = name;
    node["metadata"]["uid"] = Uid(rng);
    node["metadata"]["resourceVersion"] = std::to_string(200000000 + i);
    node["metadata"]["labels"]["kubernetes.io/hostname"] = name;
    node["status"]["nodeInfo"]["bootID"] = Uid(rng);
    nodes.push_back(node.dump());
  }
  return nodes;
}

std::string ListOf(const std::vector<std::string>& items, size_t begin, size_t end,
                   const char* kind, const std::string& continue_token) {
  std::string s = std::string(R"({"kind":")") + kind +
                  R"(","apiVersion":"v1","metadata":{"resourceVersion":"123456789")";
  if (!continue_token.empty()) s += R"(,"continue":")" + continue_token + "\"";
  s += R"(},"items":[)";
  for (size_t i = begin; i < end; ++i) {
    if (i != begin) s += ',';
    s += items[i];
  }
  return s + "]}";
}

struct Timing {
  double cpu = 1e30;   // Best CPU seconds.
  double wall = 1e30;  // Best wall seconds.
};

// Best of `runs` timings of f().
template <typename F>
Timing BestOf(int runs, F&& f) {
  Timing best;
  for (int i = 0; i < runs; ++i) {
    double cpu0 = CpuSeconds();
    double wall0 = WallSeconds();
    f();
    best.cpu = std::min(best.cpu, CpuSeconds() - cpu0);
    best.wall = std::min(best.wall, WallSeconds() - wall0);
  }
  return best;
}

size_t HeapInUse() { return mallinfo2().uordblks; }

size_t Rss() {
  std::ifstream statm("/proc/self/statm");
  size_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// Serves pre-built list pages, then stops the informer: the informer's own
// list path (pages of 500, Replace, handlers) fills the store.
class PagedLister final : public nodeguard::kube::ListWatcher {
 public:
  explicit PagedLister(const std::vector<std::string>& pages) : pages_(pages) {}
  std::function<void()> stop;
  nodeguard::Result<std::string> ListPage(const nodeguard::kube::ListOptions& o) override {
    size_t i = o.continue_token.empty() ? 0 : std::stoul(o.continue_token);
    return pages_[i];
  }
  nodeguard::Status Watch(const nodeguard::kube::WatchOptions&,
                          const nodeguard::kube::ChunkHandler&,
                          const nodeguard::kube::CancelToken&) override {
    stop();
    return nodeguard::Status::Ok();
  }

 private:
  const std::vector<std::string>& pages_;
};

template <typename T>
std::vector<std::string> Pages(const std::vector<std::string>& items, const char* kind) {
  std::vector<std::string> pages;
  for (size_t begin = 0; begin < items.size(); begin += 500) {
    size_t end = std::min(items.size(), begin + 500);
    std::string next = end < items.size() ? std::to_string(pages.size() + 1) : "";
    pages.push_back(ListOf(items, begin, end, kind, next));
  }
  return pages;
}

// Growth, signed: a fixed cost freed during the run (the warm-up parse's
// buffers) can make the small size's growth negative; the slope cancels it.
struct Footprint {
  int64_t heap = 0;  // Bytes in use by malloc (mallinfo2().uordblks).
  int64_t rss = 0;
  size_t json = 0;  // The same objects as JSON text.
};

// Growth of heap and RSS while an informer lists `items` (served as pages of
// 500) into its store. The JSON stays alive throughout so it is not counted.
template <typename T>
Footprint Measure(const std::vector<std::string>& items, const char* kind) {
  std::vector<std::string> pages = Pages<T>(items, kind);
  (void)nodeguard::kube::DecodeList<T>(pages[0]);  // Warm the per-thread parser and symbols.
  PagedLister lister(pages);
  Footprint f;
  for (const auto& item : items) f.json += item.size();
  malloc_trim(0);
  const auto heap0 = static_cast<int64_t>(HeapInUse());
  const auto rss0 = static_cast<int64_t>(Rss());
  {
    nodeguard::kube::Informer<T> informer(lister);
    if constexpr (std::is_same_v<T, Pod>) {
      if (!AddPodIndexes(informer.store()).ok()) std::abort();
    }
    lister.stop = [&] { informer.Stop(); };
    nodeguard::kube::CancelFlag never;
    informer.Run(never);
    if (informer.store().size() != items.size()) {
      std::fprintf(stderr, "store holds %zu of %zu\n", informer.store().size(), items.size());
      std::exit(1);
    }
    malloc_trim(0);
    f.heap = static_cast<int64_t>(HeapInUse()) - heap0;
    f.rss = static_cast<int64_t>(Rss()) - rss0;
  }
  return f;
}

void PinToOneCore() {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  sched_setaffinity(0, sizeof set, &set);
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

double Mb(int64_t bytes) { return static_cast<double>(bytes) / 1e6; }

template <typename T>
void DecodeThroughput(const char* what, const std::vector<std::string>& items, const char* kind) {
  std::string whole = ListOf(items, 0, items.size(), kind, "");
  std::vector<std::string> pages = Pages<T>(items, kind);
  size_t paged_bytes = 0;
  for (const auto& p : pages) paged_bytes += p.size();

  size_t decoded = 0;
  Timing full = BestOf(5, [&] {
    auto list = nodeguard::kube::DecodeList<T>(whole);
    if (!list.ok()) std::abort();
    decoded = list->items.size();
  });
  if (decoded != items.size()) std::abort();
  Timing paged = BestOf(5, [&] {
    for (const auto& page : pages) {
      auto list = nodeguard::kube::DecodeList<T>(page);
      if (!list.ok()) std::abort();
    }
  });
  std::printf("%-30s %6.1f MB  one list: %6.1f MB/s CPU (%6.1f wall), %6.0f objects/s CPU\n", what,
              Mb(whole.size()), Mb(whole.size()) / full.cpu, Mb(whole.size()) / full.wall,
              static_cast<double>(items.size()) / full.cpu);
  std::printf("%-30s %6s     pages of 500: %6.1f MB/s CPU (%6.1f wall)\n", "", "",
              Mb(paged_bytes) / paged.cpu, Mb(paged_bytes) / paged.wall);
}

void WatchThroughput(const std::vector<std::string>& pods) {
  std::string stream;
  for (const auto& pod : pods) stream += R"({"type":"MODIFIED","object":)" + pod + "}\n";
  // Framing plus decoding, fed in 16 KiB chunks as a TLS stream delivers them.
  size_t events = 0;
  Timing t = BestOf(5, [&] {
    nodeguard::kube::WatchFramer framer;
    events = 0;
    for (size_t pos = 0; pos < stream.size(); pos += 16384) {
      auto chunk = std::string_view(stream).substr(pos, 16384);
      nodeguard::Status s = framer.Feed(chunk, [&](std::string_view line) {
        auto e = nodeguard::kube::DecodeWatchEvent<Pod>(line);
        if (!e.ok()) std::abort();
        ++events;
        return nodeguard::Status::Ok();
      });
      if (!s.ok()) std::abort();
    }
  });
  if (events != pods.size()) std::abort();
  std::printf("%-30s %6.1f MB  16 KiB chunks: %6.1f MB/s CPU (%6.1f wall), %6.0f events/s CPU\n",
              "watch stream, frame + decode", Mb(stream.size()), Mb(stream.size()) / t.cpu,
              Mb(stream.size()) / t.wall, static_cast<double>(events) / t.cpu);
}

// Runs Measure<T> in a fresh child process, so neither the heap nor RSS
// carries anything over from earlier measurements.
template <typename T>
Footprint MeasureInChild(size_t n, uint64_t seed, const char* kind,
                         std::vector<std::string> (*generate)(size_t, uint64_t)) {
  int fds[2];
  if (pipe(fds) != 0) std::abort();
  pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    Footprint f = Measure<T>(generate(n, seed), kind);
    if (write(fds[1], &f, sizeof f) != static_cast<ssize_t>(sizeof f)) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  Footprint f;
  if (read(fds[0], &f, sizeof f) != static_cast<ssize_t>(sizeof f)) std::abort();
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  return f;
}

template <typename T>
void MemoryPerObject(const char* what, const char* kind, size_t small, size_t large,
                     std::vector<std::string> (*generate)(size_t, uint64_t)) {
  Footprint a = MeasureInChild<T>(small, 11, kind, generate);
  Footprint b = MeasureInChild<T>(large, 12, kind, generate);
  double n = static_cast<double>(large - small);
  double heap_slope = (static_cast<double>(b.heap) - static_cast<double>(a.heap)) / n;
  double rss_slope = (static_cast<double>(b.rss) - static_cast<double>(a.rss)) / n;
  double json_per = static_cast<double>(b.json) / static_cast<double>(large);
  std::printf("%-5s N=%-6zu heap %6.2f MB  RSS %6.2f MB\n", what, small, Mb(a.heap), Mb(a.rss));
  std::printf("%-5s N=%-6zu heap %6.2f MB  RSS %6.2f MB\n", what, large, Mb(b.heap), Mb(b.rss));
  std::printf(
      "%-5s slope: %5.0f B/object heap, %5.0f B/object RSS; as JSON %5.0f B/object "
      "(%.1fx the heap cost)\n",
      what, heap_slope, rss_slope, json_per, json_per / heap_slope);
}

}  // namespace

// Usage: kube_bench [decode|memory] (default: both).
int main(int argc, char** argv) {
  std::string only = argc > 1 ? argv[1] : "";
  PinToOneCore();
  std::printf("machine: %s, %ld online CPUs; compiler: %s; pinned to CPU 0\n", CpuModel().c_str(),
              sysconf(_SC_NPROCESSORS_ONLN), __VERSION__);
  std::printf("sizeof: Pod %zu, Node %zu, ObjectMeta %zu, ContainerResources %zu, Lease %zu\n\n",
              sizeof(Pod), sizeof(Node), sizeof(nodeguard::kube::ObjectMeta),
              sizeof(nodeguard::kube::ContainerResources), sizeof(nodeguard::kube::Lease));

  if (only.empty() || only == "memory") {
    std::printf("== memory per cached object (informer store, slope between two sizes)\n");
    MemoryPerObject<Pod>("Pod", "PodList", 5000, 30000, GeneratePods);
    MemoryPerObject<Node>("Node", "NodeList", 1000, 5000, GenerateNodes);
    std::printf("\n");
  }
  if (only.empty() || only == "decode") {
    std::printf("== decode throughput (single thread)\n");
    std::vector<std::string> pods = GeneratePods(20000, 1);
    DecodeThroughput<Pod>("PodList, 20,000 pods", pods, "PodList");
    WatchThroughput(pods);
    std::vector<std::string> nodes = GenerateNodes(5000, 1);
    DecodeThroughput<Node>("NodeList, 5,000 nodes", nodes, "NodeList");
    pods.clear();
    pods.shrink_to_fit();
    nodes.clear();
    nodes.shrink_to_fit();
  }

  return 0;
}
