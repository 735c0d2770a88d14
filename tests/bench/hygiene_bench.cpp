// In-process benchmark of resource hygiene's initial evaluation (issue 10,
// docs/performance.md): the pure decisions nodeguard takes for every pod when
// it starts, without a cluster.
//
// 30,000 pods are generated from a Deployment pod captured from the local
// cluster (raw API server output, managedFields included) with a realistic
// mix of resource declarations, then decoded into kube::Pod exactly as the
// informer does (DecodeList in pages of 500). Timed, each on all pods:
//   - EvaluatePod: which containers lack which fields (hygiene/findings.h);
//   - DecidePod: the evaluation plus the annotation value and the Event text
//     (what HygieneReconciler::ReconcilePod computes for each pod);
//   - FindingsSummary: Upsert of every evaluation into a fresh summary, then
//     ToStatus (the policy status built once the initial sync is done);
//   - PolicyReports: one BuildPolicyReport per namespace with findings.
// Each is repeated; min and median of this thread's CPU time (less distorted
// by other processes than wall time on the shared machine) and wall time.
//
// Usage: hygiene_bench [PODS] [RUNS]   (defaults 30000 and 9)

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "hygiene/decide.h"
#include "hygiene/findings.h"
#include "hygiene/policy_report.h"
#include "hygiene/summary.h"
#include "kube/decode.h"

namespace {

namespace bench = nodeguard::bench;

namespace hygiene = nodeguard::hygiene;
using nodeguard::kube::Pod;
using Json = nlohmann::ordered_json;

// The mix of resource declarations, in percent of the pods.
enum class Kind { kBestEffort, kNoneSetWithSidecar, kRequestsOnly, kAllSet, kInitWithout };
struct Share {
  Kind kind;
  int percent;
  const char* name;
};
constexpr Share kMix[] = {
    {Kind::kBestEffort, 20, "BestEffort (nothing set anywhere)"},
    {Kind::kNoneSetWithSidecar, 20, "app container none set, sidecar all set"},
    {Kind::kRequestsOnly, 20, "requests only"},
    {Kind::kAllSet, 25, "all set (Guaranteed)"},
    {Kind::kInitWithout, 15, "init container without, app all set"},
};

Kind KindOf(size_t i) {
  int slot = static_cast<int>(i % 100);
  for (const Share& s : kMix) {
    if (slot < s.percent) return s.kind;
    slot -= s.percent;
  }
  return Kind::kAllSet;
}

// Pods as the API server writes them, one compact JSON document each: the
// captured two-container Deployment pod (nginx + log-shipper) with its
// resources rewritten to the pod's kind.
std::vector<std::string> GeneratePods(size_t n, uint64_t seed) {
  const Json captured = Json::parse(bench::ReadFile("kube/pod_list_all_api.json"));
  Json base;
  for (const Json& p : captured["items"]) {
    if (p["metadata"]["name"].get<std::string>().rfind("web-", 0) == 0) base = p;
  }
  const Json all_set = {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}},
                        {"limits", {{"cpu", "500m"}, {"memory", "128Mi"}}}};
  const Json requests_only = {{"requests", {{"cpu", "250m"}, {"memory", "256Mi"}}}};
  std::mt19937_64 rng(seed);
  std::vector<std::string> pods;
  pods.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    Json pod = base;
    Json& meta = pod["metadata"];
    char hash[16];
    std::snprintf(hash, sizeof hash, "%06llx",
                  static_cast<unsigned long long>((i / 10) * 2654435761ULL % 0xffffff));
    meta["name"] =
        "app-" + std::to_string(i / 10 % 500) + "-" + hash + "-" + bench::RandomSuffix(rng, 5);
    // 1 % in kube-system, which the policy excludes.
    meta["namespace"] = i % 100 == 99 ? "kube-system" : "team-" + std::to_string(i % 40);
    meta["uid"] = bench::Uid(rng);
    meta["resourceVersion"] = std::to_string(100000000 + i);
    char node[16];
    std::snprintf(node, sizeof node, "node-%04zu", i % 1000);
    pod["spec"]["nodeName"] = node;
    Json& containers = pod["spec"]["containers"];
    Json& app = containers[0];
    Json& sidecar = containers[1];
    const char* qos = "Burstable";
    switch (KindOf(i)) {
      case Kind::kBestEffort:
        app["resources"] = Json::object();
        sidecar["resources"] = Json::object();
        qos = "BestEffort";
        break;
      case Kind::kNoneSetWithSidecar:
        app["resources"] = Json::object();
        sidecar["resources"] = all_set;
        break;
      case Kind::kRequestsOnly:
        app["resources"] = requests_only;
        sidecar["resources"] = requests_only;
        break;
      case Kind::kAllSet:
        app["resources"] = all_set;
        sidecar["resources"] = all_set;
        qos = "Guaranteed";
        break;
      case Kind::kInitWithout:
        app["resources"] = all_set;
        sidecar["resources"] = all_set;
        pod["spec"]["initContainers"] =
            Json::array({{{"name", "wait-for-db"},
                          {"image", "busybox:1.36"},
                          {"command", {"sh", "-c", "until nc -z db 5432; do sleep 1; done"}},
                          {"resources", Json::object()}}});
        break;
    }
    pod["status"]["qosClass"] = qos;
    pods.push_back(pod.dump());
  }
  return pods;
}

// What the informer does: a PodList in pages of 500.
std::vector<Pod> DecodeAsInformer(const std::vector<std::string>& items) {
  std::vector<Pod> pods;
  pods.reserve(items.size());
  for (size_t begin = 0; begin < items.size(); begin += 500) {
    const size_t end = std::min(items.size(), begin + 500);
    std::string page =
        R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"123456789"},"items":[)";
    for (size_t i = begin; i < end; ++i) {
      if (i != begin) page += ',';
      page += items[i];
    }
    page += "]}";
    auto list = nodeguard::kube::DecodeList<Pod>(page);
    if (!list.ok()) {
      std::fprintf(stderr, "decode failed: %s\n", list.error().ToString().c_str());
      std::exit(1);
    }
    if (list->skipped_items != 0) {
      std::fprintf(stderr, "decode skipped %lld pods: %s\n",
                   static_cast<long long>(list->skipped_items), list->first_skip_reason.c_str());
      std::exit(1);
    }
    for (Pod& p : list->items) pods.push_back(std::move(p));
  }
  return pods;
}

struct Stats {
  double cpu_min, cpu_median, wall_min, wall_median;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Runs f() `runs` times; f returns a value folded into `sink` so the work
// cannot be optimised away.
template <typename F>
Stats Measure(int runs, size_t& sink, F&& f) {
  std::vector<double> cpu, wall;
  for (int i = 0; i < runs; ++i) {
    const double c0 = bench::CpuSeconds();
    const double w0 = bench::WallSeconds();
    sink += f();
    cpu.push_back(bench::CpuSeconds() - c0);
    wall.push_back(bench::WallSeconds() - w0);
  }
  return {*std::min_element(cpu.begin(), cpu.end()), Median(cpu),
          *std::min_element(wall.begin(), wall.end()), Median(wall)};
}

void Print(const char* what, const Stats& s, size_t pods) {
  const double n = static_cast<double>(pods);
  std::printf(
      "%-44s CPU min %8.2f ms  median %8.2f ms  (%6.0f / %6.0f ns per pod)   wall min %8.2f ms  "
      "median %8.2f ms\n",
      what, s.cpu_min * 1e3, s.cpu_median * 1e3, s.cpu_min / n * 1e9, s.cpu_median / n * 1e9,
      s.wall_min * 1e3, s.wall_median * 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 30000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 9;
  if (n == 0 || runs <= 0) {
    std::fprintf(stderr, "usage: hygiene_bench [PODS] [RUNS]\n");
    return 2;
  }

  const std::vector<std::string> json = GeneratePods(n, 42);
  size_t json_bytes = 0;
  for (const std::string& s : json) json_bytes += s.size();
  const double d0 = bench::CpuSeconds();
  const std::vector<Pod> pods = DecodeAsInformer(json);
  const double decode_cpu = bench::CpuSeconds() - d0;

  // The policy of the e2e test and the defaults: requests cpu and memory,
  // limits memory, init containers included, kube-system excluded.
  nodeguard::api::ResourceHygieneSpec spec;
  spec.enabled = true;
  spec.annotate_pods = true;
  const hygiene::HygieneRules rules = hygiene::CompileRules(spec);

  // Sanity: the mix gives the findings it should, and nothing is silently skipped.
  size_t flagged = 0, excluded = 0, best_effort = 0;
  for (const Pod& p : pods) {
    const hygiene::PodFindings f = hygiene::EvaluatePod(rules, p);
    flagged += f.Flagged();
    excluded += f.skipped == hygiene::SkipReason::kExcludedNamespace;
    best_effort += f.Flagged() && f.qos == nodeguard::kube::QosClass::kBestEffort;
  }
  std::printf("hygiene_bench: %zu pods (%.0f B of JSON each), %d runs\n", n,
              static_cast<double>(json_bytes) / static_cast<double>(n), runs);
  for (const Share& s : kMix) std::printf("  %3d %%  %s\n", s.percent, s.name);
  std::printf(
      "  1 %% in kube-system (excluded); policy: requests cpu+memory, limits memory, "
      "init containers included\n");
  std::printf("  flagged %zu, excluded %zu, flagged BestEffort %zu\n", flagged, excluded,
              best_effort);
  std::printf("  decode (DecodeList, pages of 500, done once): %.1f ms CPU, %.0f ns per pod\n\n",
              decode_cpu * 1e3, decode_cpu / static_cast<double>(n) * 1e9);
  if (flagged == 0 || flagged == n || excluded == 0) {
    std::fprintf(stderr, "unexpected mix: the benchmark measures the wrong thing\n");
    return 1;
  }

  size_t sink = 0;
  const Stats evaluate = Measure(runs, sink, [&] {
    size_t k = 0;
    for (const Pod& p : pods) k += hygiene::EvaluatePod(rules, p).containers.size();
    return k;
  });
  Print("EvaluatePod", evaluate, n);

  const Stats decide = Measure(runs, sink, [&] {
    size_t k = 0;
    for (const Pod& p : pods) {
      const hygiene::PodDecision d = hygiene::DecidePod(rules, p, false);
      k += d.annotation_value.size() + d.event.message.size();
    }
    return k;
  });
  Print("DecidePod (+ annotation, Event text)", decide, n);

  std::vector<hygiene::PodFindings> findings;
  findings.reserve(n);
  for (const Pod& p : pods) findings.push_back(hygiene::EvaluatePod(rules, p));
  const Stats summary = Measure(runs, sink, [&] {
    hygiene::FindingsSummary s;
    for (const hygiene::PodFindings& f : findings) s.Upsert(f);
    const nodeguard::api::ResourceHygieneStatus status = s.ToStatus();
    return static_cast<size_t>(s.Total().pods) + status.namespaces.size();
  });
  Print("FindingsSummary: Upsert all + ToStatus", summary, n);

  hygiene::FindingsSummary full;
  for (const hygiene::PodFindings& f : findings) full.Upsert(f);
  const Stats reports = Measure(runs, sink, [&] {
    size_t k = 0;
    for (const auto& [ns, counts] : full.ByNamespace()) {
      k += hygiene::BuildPolicyReport(ns, "bench", full.PodsInNamespace(ns)).dump().size();
    }
    return k;
  });
  Print("PolicyReports: build + serialise, all ns", reports, n);

  const double total_min = decide.cpu_min + summary.cpu_min;
  const double total_median = decide.cpu_median + summary.cpu_median;
  std::printf(
      "\nInitial evaluation (DecidePod + summary + status) of %zu pods: CPU min %.1f ms, "
      "median %.1f ms = %.0f / %.0f ns per pod (decode %.0f ns per pod on top)\n",
      n, total_min * 1e3, total_median * 1e3, total_min / static_cast<double>(n) * 1e9,
      total_median / static_cast<double>(n) * 1e9, decode_cpu / static_cast<double>(n) * 1e9);
  std::printf("(sink %zu)\n", sink % 10);
  return 0;
}
