// In-process benchmark of the remediation reconciler's cost per Node event
// (issue 22, docs/performance.md "Scale"): one policy over every node, and one
// node event (the agent rewrites its nodeguard.io/agent-status, a change that
// enqueues the policy) followed by the policy's reconcile, as the controller's
// worker runs it. Nodes go through the fake API server of the unit tests, so
// the informer's store holds decoded Nodes exactly as in the controller.
//
// Every node carries an agent-status annotation (the agent writes one on
// every node it runs on) and one in ten a finished remediation state (a
// node keeps its last state for the attempt count and cooldown): the
// annotations a reconcile decodes. One node is PLEG-sick under a paused
// policy, so the decision has something to report but writes nothing.
//
// Reported per node count: this thread's CPU time per event (the reconcile
// runs in the calling thread), min and median over the runs of EVENTS
// events each, and the wall time. The first reconcile (a cold start, every
// node new) is reported apart.
//
// Usage: remediation_event_bench [NODES...]   (defaults 100 1000 5000)

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "agentproto/agent_protocol.h"
#include "bench_util.h"
#include "fakes/api_server.h"
#include "fakes/status_api.h"
#include "remediation/reconciler.h"
#include "remediation/state.h"

namespace {

namespace bench = nodeguard::bench;
using namespace std::chrono_literals;
using nodeguard::WallTime;
namespace kube = nodeguard::kube;
namespace agentproto = nodeguard::agentproto;
namespace remediation = nodeguard::remediation;
namespace runtime = nodeguard::runtime;

const WallTime kT0 = WallTime(std::chrono::hours(24 * 365 * 56));
constexpr int kEvents = 200;
constexpr int kRuns = 5;

class NullSink final : public kube::EventSink {
 public:
  nodeguard::Status Create(const kube::EventRecord&) override { return nodeguard::Status::Ok(); }
  nodeguard::Status Patch(const kube::EventRecord&) override { return nodeguard::Status::Ok(); }
};

std::string AgentStatusText(int node, int version) {
  agentproto::AgentStatus s;
  s.id = "w" + std::to_string(node) + "-1-" + std::to_string(version);
  s.state = agentproto::AgentState::kDone;
  s.message = "restarted containerd (version " + std::to_string(version) + ")";
  s.boot_id = "boot-w" + std::to_string(node);
  s.started_at = kT0 - 2h;
  s.finished_at = kT0 - 2h + 1min;
  return agentproto::EncodeAgentStatus(s);
}

std::string FinishedStateText(int node) {
  remediation::RemediationState s;
  s.id = "w" + std::to_string(node) + "-1";
  s.policy = "p";
  s.phase = remediation::Phase::kSucceeded;
  s.action = nodeguard::api::RemediationAction::kRestartContainerRuntime;
  s.action_index = 0;
  s.detected_at = kT0 - 3h;
  s.started_at = kT0 - 3h + 1min;
  s.phase_since = kT0 - 2h;
  s.finished_at = kT0 - 2h;
  return remediation::EncodeState(s);
}

struct Sample {
  double cold_cpu = 0;
  std::vector<double> cpu_per_event;   // Per run.
  std::vector<double> wall_per_event;  // Per run.
};

Sample Run(int n) {
  nodeguard::FakeClock clock{kT0};
  kube::Store<kube::Node> nodes;
  kube::Store<kube::Pod> pods;
  kube::Store<runtime::PolicyObject> policies;
  if (!kube::AddPodIndexes(pods).ok()) std::exit(1);
  nodeguard::fakes::FakeApiServer server{nodes, pods};
  kube::RestOptions rest_options;
  rest_options.sleep = [](std::chrono::milliseconds) {};
  kube::RestClient rest{server, rest_options};
  NullSink sink;
  kube::EventRecorder events{sink, kube::EventRecorderOptions{}, clock};
  nodeguard::fakes::NullStatusApi status_api;
  runtime::StatusWriter status{status_api, clock, 0ms};
  nodeguard::observe::MetricsRegistry metrics;
  runtime::ControllerOptions options;

  for (int i = 1; i <= n; ++i) {
    const std::string name = "w" + std::to_string(i);
    server.AddNode(name, kT0 - 1h, "boot-" + name);
    server.SetAnnotation(name, agentproto::kAgentStatusAnnotation, AgentStatusText(i, 0));
    if (i % 10 == 0) {
      server.SetAnnotation(name, remediation::kRemediationAnnotation, FinishedStateText(i));
    }
  }
  server.SetReady("w1", "False",
                  "PLEG is not healthy: pleg was last seen active 3m7.6s ago; threshold is 3m0s",
                  kT0 - 10min);

  runtime::PolicyObject p;
  p.meta.name = "p";
  p.meta.generation = 1;
  p.meta.resource_version = "1";
  p.meta.creation_timestamp = kT0 - 1h;
  p.policy.meta = p.meta;
  p.policy.spec.remediation.enabled = true;
  p.policy.spec.remediation.max_concurrent = 1;
  p.policy.spec.remediation.actions = {nodeguard::api::RemediationAction::kReboot};
  p.policy.spec.paused = true;  // Decide for every node, write nothing.
  status.Observe(p.policy);
  policies.Upsert(std::move(p));

  runtime::Deps deps;
  deps.nodes = &nodes;
  deps.pods = &pods;
  deps.policies = &policies;
  deps.rest = &rest;
  deps.events = &events;
  deps.status = &status;
  deps.metrics = &metrics;
  deps.clock = &clock;
  deps.options = &options;
  runtime::RemediationReconciler reconciler(deps);

  Sample out;
  double c0 = bench::CpuSeconds();
  if (!reconciler.Reconcile("p").ok()) std::exit(1);
  out.cold_cpu = bench::CpuSeconds() - c0;

  int version = 1;
  for (int run = 0; run < kRuns; ++run) {
    double cpu = 0;
    const double w0 = bench::WallSeconds();
    for (int e = 0; e < kEvents; ++e, ++version) {
      const int node = 1 + (version * 7919) % n;
      server.SetAnnotation("w" + std::to_string(node), agentproto::kAgentStatusAnnotation,
                           AgentStatusText(node, version));
      clock.Advance(1s);
      c0 = bench::CpuSeconds();
      if (!reconciler.Reconcile("p").ok()) std::exit(1);
      cpu += bench::CpuSeconds() - c0;
    }
    out.cpu_per_event.push_back(cpu / kEvents);
    out.wall_per_event.push_back((bench::WallSeconds() - w0) / kEvents);
  }
  return out;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {100, 1000, 5000};
  std::printf(
      "remediation reconcile per Node event, one policy over all nodes (%d events x %d runs)\n",
      kEvents, kRuns);
  std::printf("%8s %14s %16s %16s %16s\n", "nodes", "cold ms (cpu)", "cpu us/event min",
              "cpu us/event med", "wall us/event");
  for (int n : sizes) {
    const Sample s = Run(n);
    std::printf("%8d %14.2f %16.1f %16.1f %16.1f\n", n, s.cold_cpu * 1e3,
                *std::min_element(s.cpu_per_event.begin(), s.cpu_per_event.end()) * 1e6,
                Median(s.cpu_per_event) * 1e6, Median(s.wall_per_event) * 1e6);
  }
  return 0;
}
