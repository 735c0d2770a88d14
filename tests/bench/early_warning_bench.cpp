// In-process benchmark of the agent's early warning (issue 19,
// docs/performance.md, "Early warning"), without a cluster.
//
// 1. CPU per scrape: what the agent computes for each body its kubelet
//    serves: ParseExposition of the PLEG families (early::PlegFamilies) and
//    ComputePlegFigures against the scrape a window (60 s) earlier, on
//    tests/testdata/real-kubelet/metrics-healthy.txt (the real kubelet,
//    v1.36.3, 4 pods: the recorded subset, 26 KB), on that body padded to
//    the full body's size (199 KB, with lines of families the agent does not
//    read, which it must skip) and to 10 times that (1.99 MB: a busier
//    kubelet). Min and median of this thread's CPU time per scrape over RUNS
//    runs.
//
// 2. Write rate at NODES nodes: one EarlyWarning (agent/early_warning.h, the
//    agent's own loop: window, DecideLevel, ShouldPublish, the annotation's
//    encoding) per node, fed every 10 s (the default --early-warning-interval)
//    with a kubelet-shaped body generated from a model of the node's PLEG
//    (the same model as tests/cluster/sim-kubelet: a relist every ~1 s after
//    the previous one ended; last_seen in whole seconds) and parsed by
//    ParseExposition, on a fake clock; the writes go to a counting NodeApi
//    (writes, and the bytes of the merge patch the REST NodeApi sends).
//    After a warm-up (WARMUP minutes: the first write, the p99 appearing
//    with the second window), HOURS hours of steady state are counted, for
//    three fleets:
//      quiet     relists take 2-30 ms (the real healthy node: 3 ms median);
//      jitter    as quiet, and 1 relist in 1,000 (0.1%) or in 100 (1%)
//                takes 0.1-0.9 s (a busy runtime; below the 1 s Degraded
//                mark, so still Healthy);
//      degraded  relists take 1-2 s (a tenth 2 s): steadily Degraded, the
//                p99 moving inside its bucket from window to window.
//
// Usage: early_warning_bench [RUNS] [NODES] [HOURS] [WARMUP_MINUTES]
//        (defaults 9, 1000, 1, 10)

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "agent/early_warning.h"
#include "agent/node_api.h"
#include "bench_util.h"
#include "common/clock.h"
#include "early/exposition.h"
#include "early/figures.h"

namespace {

namespace bench = nodeguard::bench;
namespace early = nodeguard::early;
namespace agent = nodeguard::agent;
using nodeguard::FakeClock;
using nodeguard::Result;
using nodeguard::WallTime;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The body padded to at least `bytes` with copies of its lines of families
// not wanted (HELP, TYPE and samples) under other names ("<name>_copyK"):
// what a full kubelet body adds to the recorded subset (the testdata keep
// the PLEG and runtime families and a few others; the full body had ~2,150
// lines, ~199 KB), lines the parser must classify and skip.
std::string PadTo(const std::string& body, size_t bytes) {
  std::string out = body;
  const auto& wanted = early::PlegFamilies();
  for (int k = 1; out.size() < bytes; ++k) {
    std::istringstream in(body);
    std::string line;
    while (std::getline(in, line) && out.size() < bytes) {
      if (line.empty()) continue;
      size_t at = 0;  // Where the metric name starts.
      if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
        at = 7;
      } else if (line[0] == '#') {
        continue;
      }
      const size_t end = line.find_first_of("{ ", at);
      const std::string name = line.substr(at, end - at);
      bool is_wanted = false;
      for (const auto& w : wanted) {
        if (name.rfind(w, 0) == 0) is_wanted = true;
      }
      if (is_wanted) continue;
      out += line.substr(0, end) + "_copy" + std::to_string(k) + line.substr(end) + "\n";
    }
  }
  return out;
}

void CpuPerScrape(const char* what, const std::string& body, int runs) {
  auto baseline = early::ParseExposition(body, early::PlegFamilies());
  if (!baseline.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, baseline.error().ToString().c_str());
    std::exit(1);
  }
  const WallTime t0 = WallTime(std::chrono::hours(24 * 365 * 56));
  const WallTime t1 = t0 + std::chrono::seconds(60);
  const int per_run = std::max(20, static_cast<int>(20'000'000 / body.size()));
  std::vector<double> cpu, parse_only;
  size_t checksum = 0;
  for (int r = 0; r < runs; ++r) {
    double c0 = bench::CpuSeconds();
    for (int i = 0; i < per_run; ++i) {
      auto e = early::ParseExposition(body, early::PlegFamilies());
      checksum += e->families.size();
    }
    double c1 = bench::CpuSeconds();
    for (int i = 0; i < per_run; ++i) {
      auto e = early::ParseExposition(body, early::PlegFamilies());
      auto f = early::ComputePlegFigures(&*baseline, t0, *e, t1);
      checksum += f.problems.size() + (f.relist_p99_seconds ? 1 : 0);
    }
    double c2 = bench::CpuSeconds();
    parse_only.push_back((c1 - c0) / per_run);
    cpu.push_back((c2 - c1) / per_run);
  }
  std::printf(
      "%-32s %8zu bytes %6zu lines (%zu skipped samples): parse %.3f ms (min %.3f), "
      "parse+figures %.3f ms (min %.3f) CPU per scrape; %d x %d [%zu]\n",
      what, body.size(), baseline->lines, baseline->skipped_samples, Median(parse_only) * 1e3,
      *std::min_element(parse_only.begin(), parse_only.end()) * 1e3, Median(cpu) * 1e3,
      *std::min_element(cpu.begin(), cpu.end()) * 1e3, runs, per_run, checksum % 10);
}

// ----------------------------------------------------------------- write rate

const std::vector<double> kPlegBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
// kubelet_runtime_operations_duration_seconds: ExponentialBuckets(0.005, 2.5, 14).
std::vector<double> RuntimeBuckets() {
  std::vector<double> b{0.005};
  while (b.size() < 14) b.push_back(b.back() * 2.5);
  return b;
}

struct Hist {
  explicit Hist(std::vector<double> b) : bounds(std::move(b)), counts(bounds.size(), 0) {}
  std::vector<double> bounds;
  std::vector<double> counts;
  double count = 0, sum = 0;
  void Observe(double v) {
    for (size_t i = 0; i < bounds.size(); ++i) {
      if (v <= bounds[i]) {
        counts[i] += 1;
        break;
      }
    }
    count += 1;
    sum += v;
  }
  void Write(std::string& out, const char* name, const char* labels = "") const {
    char buf[256];
    double cum = 0;
    const char* sep = *labels ? "," : "";
    for (size_t i = 0; i < bounds.size(); ++i) {
      cum += counts[i];
      char le[32];  // The shortest text that reads back the same, as Go writes it.
      *std::to_chars(le, le + sizeof le - 1, bounds[i]).ptr = '\0';
      std::snprintf(buf, sizeof buf, "%s_bucket{%s%sle=\"%s\"} %.0f\n", name, labels, sep, le, cum);
      out += buf;
    }
    std::snprintf(buf, sizeof buf, "%s_bucket{%s%sle=\"+Inf\"} %.0f\n%s_sum%s%s%s %.9g\n", name,
                  labels, sep, count, name, *labels ? "{" : "", labels, *labels ? "}" : "", sum);
    out += buf;
    std::snprintf(buf, sizeof buf, "%s_count%s%s%s %.0f\n", name, *labels ? "{" : "", labels,
                  *labels ? "}" : "", count);
    out += buf;
  }
};

enum class Fleet { kQuiet, kJitteryRare, kJittery, kDegraded };

// One node's kubelet PLEG, as tests/cluster/sim-kubelet models it.
struct KubeletModel {
  Fleet fleet;
  std::mt19937_64 rng;
  Hist duration{kPlegBuckets}, interval{kPlegBuckets};
  Hist list_podsandbox{RuntimeBuckets()}, list_containers{RuntimeBuckets()};
  double next_start, last_start = -1, last_seen;

  KubeletModel(Fleet f, uint64_t seed, double now)
      : fleet(f), rng(seed), next_start(now), last_seen(now) {}

  double U() { return std::uniform_real_distribution<double>(0, 1)(rng); }
  double Duration() {
    switch (fleet) {
      case Fleet::kDegraded:
        return U() < 0.1 ? 2.0 : 1.0 + U();
      case Fleet::kJitteryRare:
        if (U() < 0.001) return 0.1 + 0.8 * U();
        break;
      case Fleet::kJittery:
        if (U() < 0.01) return 0.1 + 0.8 * U();
        break;
      case Fleet::kQuiet:
        break;
    }
    double u = U();
    return 0.002 + 0.028 * u * u * u;
  }
  void AdvanceTo(double now) {
    for (;;) {
      double d = Duration();
      if (next_start + d > now) break;
      duration.Observe(d);
      list_podsandbox.Observe(d * 0.5);
      list_containers.Observe(d * 0.5);
      if (last_start >= 0) interval.Observe(next_start - last_start);
      last_start = next_start;
      last_seen = next_start + d;
      next_start = last_seen + 1.0;
    }
  }
  std::string Body(double now) {
    AdvanceTo(now);
    std::string out;
    out.reserve(6000);
    char buf[160];
    out += "# TYPE kubelet_pleg_discard_events counter\nkubelet_pleg_discard_events 0\n";
    std::snprintf(buf, sizeof buf,
                  "# TYPE kubelet_pleg_last_seen_seconds gauge\nkubelet_pleg_last_seen_seconds "
                  "%.9e\n",
                  static_cast<double>(static_cast<int64_t>(last_seen)));
    out += buf;
    out += "# TYPE kubelet_pleg_relist_duration_seconds histogram\n";
    duration.Write(out, "kubelet_pleg_relist_duration_seconds");
    out += "# TYPE kubelet_pleg_relist_interval_seconds histogram\n";
    interval.Write(out, "kubelet_pleg_relist_interval_seconds");
    out +=
        "# TYPE kubelet_running_containers gauge\n"
        "kubelet_running_containers{container_state=\"running\"} 30\n"
        "# TYPE kubelet_running_pods gauge\nkubelet_running_pods 30\n"
        "# TYPE kubelet_runtime_operations_duration_seconds histogram\n";
    list_containers.Write(out, "kubelet_runtime_operations_duration_seconds",
                          "operation_type=\"list_containers\"");
    list_podsandbox.Write(out, "kubelet_runtime_operations_duration_seconds",
                          "operation_type=\"list_podsandbox\"");
    return out;
  }
};

class CountingNodeApi : public agent::NodeApi {
 public:
  Result<std::string> SetAnnotation(std::string_view, std::string_view key, std::string_view value,
                                    std::string_view expected_resource_version) override {
    if (counting) {
      ++writes;
      bytes += agent::AnnotationMergePatch(key, value, expected_resource_version).size();
      value_bytes += value.size();
      const std::string level = LevelOf(value);
      if (level != last_level) ++level_changes;
    }
    last_level = LevelOf(value);
    return std::string("1");
  }
  static std::string LevelOf(std::string_view value) {
    const size_t at = value.find("\"level\":\"");
    if (at == std::string_view::npos) return "";
    const size_t start = at + 9;
    return std::string(value.substr(start, value.find('"', start) - start));
  }
  bool counting = false;
  size_t writes = 0, bytes = 0, value_bytes = 0, level_changes = 0;
  std::string last_level;
};

void WriteRate(const char* name, Fleet fleet, int nodes, double hours, double warmup_minutes) {
  FakeClock clock;
  const double epoch = std::chrono::duration<double>(clock.Now().time_since_epoch()).count();
  constexpr double kInterval = 10.0;
  std::vector<std::unique_ptr<CountingNodeApi>> apis;
  std::vector<std::unique_ptr<agent::EarlyWarning>> agents;
  std::vector<KubeletModel> kubelets;
  std::mt19937_64 seeds(42);
  for (int i = 0; i < nodes; ++i) {
    apis.push_back(std::make_unique<CountingNodeApi>());
    agent::EarlyWarningOptions options;
    options.node_name = "worker-" + std::to_string(i);
    agents.push_back(std::make_unique<agent::EarlyWarning>(*apis.back(), clock, options));
    // Relist phases differ from node to node.
    kubelets.emplace_back(fleet, seeds(), epoch - 300 - 2.0 * (i % 100) / 100);
  }
  const int warmup_rounds = static_cast<int>(warmup_minutes * 60 / kInterval);
  const int rounds = warmup_rounds + static_cast<int>(hours * 3600 / kInterval);
  const auto step = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(kInterval / nodes));
  size_t failures = 0, body_bytes = 0, scrapes = 0;
  double cpu = 0;  // Parse and EarlyWarning only, not the model's body.
  for (int r = 0; r < rounds; ++r) {
    if (r == warmup_rounds) {
      for (auto& a : apis) a->counting = true;
    }
    for (int i = 0; i < nodes; ++i) {
      clock.Advance(step);  // The nodes' scrapes spread over the interval.
      const double now = std::chrono::duration<double>(clock.Now().time_since_epoch()).count();
      std::string body = kubelets[i].Body(now);
      body_bytes += body.size();
      ++scrapes;
      const double c0 = bench::CpuSeconds();
      agent::ScrapeResult result;
      auto parsed = early::ParseExposition(body, early::PlegFamilies());
      if (!parsed.ok()) {
        ++failures;
        result.failure = early::ScrapeFailure::kUnparsable;
        result.detail = parsed.error().ToString();
      } else {
        result.exposition = std::move(parsed).value();
      }
      result.body_bytes = body.size();
      result.seconds = 0.05;
      agents[i]->ScrapeStarted();
      agents[i]->ScrapeFinished(std::move(result));
      cpu += bench::CpuSeconds() - c0;
    }
  }
  size_t writes = 0, bytes = 0, value_bytes = 0, changes = 0, writers = 0;
  std::map<std::string, int> levels;
  for (int i = 0; i < nodes; ++i) {
    writes += apis[i]->writes;
    bytes += apis[i]->bytes;
    value_bytes += apis[i]->value_bytes;
    changes += apis[i]->level_changes;
    writers += apis[i]->writes > 0 ? 1 : 0;
    levels[early::LevelName(agents[i]->level())]++;
  }
  std::string level_text;
  for (const auto& [l, n] : levels) level_text += l + "=" + std::to_string(n) + " ";
  const double node_hours = nodes * hours;
  std::printf(
      "%-11s %d nodes, %.1f h after %.0f min: %.2f writes/node/h (%zu level changes, %zu of %d "
      "nodes wrote), %.0f patch bytes/node/h (annotation %.0f B/write), fleet %.1f writes/s; "
      "levels %s; %zu scrapes (%.1f KB body), %zu parse failures; agent CPU %.1f us/scrape\n",
      name, nodes, hours, warmup_minutes, writes / node_hours, changes, writers, nodes,
      bytes / node_hours, writes ? static_cast<double>(value_bytes) / writes : 0.0,
      writes / (hours * 3600), level_text.c_str(), scrapes,
      static_cast<double>(body_bytes) / scrapes / 1024, failures, cpu / scrapes * 1e6);
  if (failures) std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 9;
  const int nodes = argc > 2 ? std::atoi(argv[2]) : 1000;
  const double hours = argc > 3 ? std::atof(argv[3]) : 1.0;
  const double warmup = argc > 4 ? std::atof(argv[4]) : 10.0;
  spdlog::set_level(spdlog::level::warn);  // Level changes are logged at info, per node.

  const std::string healthy = bench::ReadFile("real-kubelet/metrics-healthy.txt");
  CpuPerScrape("recorded subset (metrics-healthy)", healthy, runs);
  CpuPerScrape("full size (199 KB)", PadTo(healthy, 199 * 1000), runs);
  CpuPerScrape("10x full size (1.99 MB)", PadTo(healthy, 1990 * 1000), runs);

  WriteRate("quiet", Fleet::kQuiet, nodes, hours, warmup);
  WriteRate("jitter 0.1%", Fleet::kJitteryRare, nodes, hours, warmup);
  WriteRate("jitter 1%", Fleet::kJittery, nodes, hours, warmup);
  WriteRate("degraded", Fleet::kDegraded, nodes, hours, warmup);
  return 0;
}
