#include "runtime/controller.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "api/encode.h"
#include "density/reconciler.h"
#include "hygiene/reconciler.h"
#include "kube/events.h"
#include "kube/informer.h"
#include "kube/leader_election.h"
#include "kube/rest.h"
#include "kube/workqueue.h"
#include "observe/health.h"
#include "observe/log.h"
#include "observe/metrics.h"
#include "policy/reconciler.h"
#include "process/endpoints.h"
#include "process/liveness.h"
#include "process/process.h"
#include "reconcile/notifications.h"
#include "remediation/reconciler.h"
#include "runtime/work_loops.h"
#include "version.h"
#include "writes/rest_drain_api.h"
#include "writes/rest_seams.h"

namespace nodeguard::runtime {
namespace {

std::string DefaultIdentity() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  std::random_device rd;
  return std::string(host) + "_" + std::to_string(rd() % 1000000);
}

// PUT .../nodehealthpolicies/NAME/status.
class RestStatusApi final : public StatusApi {
 public:
  RestStatusApi(kube::RestClient& rest, std::function<Status()> fence)
      : rest_(rest), fence_(std::move(fence)) {}
  Result<std::string> WriteStatus(const std::string& policy, const std::string& rv,
                                  const api::NodeHealthPolicyStatus& status) override {
    if (Status fenced = fence_(); !fenced.ok()) return fenced.error();
    nlohmann::json body = {{"apiVersion", api::kApiVersion},
                           {"kind", api::kKind},
                           {"metadata", {{"name", policy}, {"resourceVersion", rv}}},
                           {"status", api::EncodeStatus(status)}};
    kube::WriteOptions options;
    options.subresource = "status";
    auto written = rest_.Update(kube::GroupResource(api::kGroup, api::kVersion, api::kPlural),
                                policy, body.dump(), options);
    if (!written.ok()) return written.error();
    auto parsed = nlohmann::json::parse(*written, nullptr, false);
    if (parsed.is_discarded()) return Error::Internal("status update answered non-JSON");
    return parsed["metadata"].value("resourceVersion", "");
  }

 private:
  kube::RestClient& rest_;
  std::function<Status()> fence_;
};

// On shutdown, how long reconciles already running may take to finish.
constexpr std::chrono::seconds kInFlightGrace{10};

// Test-only fault injection (docs/testing.md): the name of a reconciler
// whose first reconcile never returns, so a test can show /healthz failing
// and the process exiting on its own (process/liveness.h).
constexpr const char* kWedgeReconcilerEnv = "NODEGUARD_TEST_WEDGE_RECONCILER";

}  // namespace

int RunController(const ControllerOptions& options) {
  if (Status s = process::SetupLogging(options.log_level, options.log_format); !s.ok()) {
    std::fprintf(stderr, "nodeguard: %s\n", s.error().ToString().c_str());
    return 2;
  }
  auto log = observe::Log().With({{"component", "controller"}});
  log.Info("starting", {{"version", kVersion},
                        {"dryRun", options.dry_run},
                        {"watchFilter", WatchFilterSelector(options.watch_filter)}});

  observe::MetricsRegistry metrics;
  auto connection = process::ApiConnection::Open(options.kubeconfig, metrics,
                                                 {options.kube_api_qps, options.kube_api_burst});
  if (!connection.ok()) {
    log.Error("cannot connect to the API server", {{"error", connection.error().ToString()}});
    return 2;
  }
  kube::RestClient& rest = (*connection)->rest();

  // Informers: always running, so a standby is ready to lead at once.
  kube::RestListWatcher node_lw(rest, kube::CoreResource("nodes"));
  kube::RestListWatcher pod_lw(rest, kube::CoreResource("pods"));
  kube::RestListWatcher policy_lw(rest,
                                  kube::GroupResource(api::kGroup, api::kVersion, api::kPlural));
  kube::InformerOptions informer_options;
  informer_options.resync_period = options.resync_period;
  kube::Informer<kube::Pod> pods(pod_lw, informer_options);
  // --watch-filter narrows Nodes and policies; Pods stay cluster-wide (a Pod on
  // a Node outside the filter is never looked up).
  kube::InformerOptions filtered_options = informer_options;
  filtered_options.label_selector = WatchFilterSelector(options.watch_filter);
  kube::Informer<kube::Node> nodes(node_lw, filtered_options);
  kube::Informer<PolicyObject> policies(policy_lw, filtered_options);
  if (Status s = kube::AddPodIndexes(pods.store()); !s.ok()) {
    log.Error("cannot index pods", {{"error", s.error().ToString()}});
    return 2;
  }

  // Leader election.
  const std::string identity = options.identity.empty() ? DefaultIdentity() : options.identity;
  kube::LeaderElectionConfig election;
  election.identity = identity;
  auto lease_store =
      kube::MakeRestLeaseStore((*connection)->lease(), options.leader_election_namespace,
                               options.leader_election_id, election.renew_deadline / 2);
  std::atomic<bool> leading{!options.leader_elect};
  std::atomic<bool> lost_leadership{false};
  kube::LeaderCallbacks callbacks;
  process::StopToken cancel;
  callbacks.on_started_leading = [&] { leading.store(true); };
  callbacks.on_stopped_leading = [&] {
    // Giving the Lease up on a requested shutdown is not a loss.
    if (leading.exchange(false) && !process::StopRequested()) lost_leadership.store(true);
    cancel.Cancel();
  };
  callbacks.on_new_leader = [&](const std::string& who) {
    log.Info("leader observed", {{"leader", who}});
  };
  std::unique_ptr<kube::LeaderElector> elector;
  if (options.leader_elect) {
    elector = std::make_unique<kube::LeaderElector>(*lease_store, election, callbacks);
  }
  std::function<Status()> fence = [&]() -> Status {
    if (!elector) return Status::Ok();
    return elector->Fence();
  };

  kube::EventRecorderOptions event_options;
  event_options.host = identity;
  event_options.fence = fence;
  auto& events_total = metrics.MustCounter(
      "nodeguard_events_total",
      "Events recorded, by outcome: created (POST), patched (a repeat: count and "
      "lastTimestamp), dropped_spam (the per-object spam filter), dropped_queue_full, failed.",
      {"outcome"});
  auto& events_aggregated = metrics.MustCounter(
      "nodeguard_events_aggregated_total",
      "Events folded into one \"(combined from similar events)\" Event (more than 10 "
      "similar messages for an object, type and reason within 10 minutes).");
  for (const char* outcome :
       {"created", "patched", "dropped_spam", "dropped_queue_full", "failed"}) {
    events_total.WithLabels({outcome});  // Every series from the start, at 0.
  }
  events_aggregated.Get();
  event_options.on_outcome = [&](std::string_view outcome) {
    if (outcome == "aggregated") {
      events_aggregated.Get().Inc();
    } else {
      events_total.WithLabels({std::string(outcome)}).Inc();
    }
  };
  auto event_sink = kube::MakeRestEventSink(rest);
  kube::EventRecorder events(*event_sink, event_options);
  auto notifications = StartNotifications(options, metrics);
  if (!notifications.ok()) {
    log.Error("cannot start notifications", {{"error", notifications.error().ToString()}});
    return 2;
  }
  RestStatusApi status_api(rest, fence);
  StatusWriter status(status_api, RealClock::Instance(), options.status_interval);

  Deps deps;
  deps.nodes = &nodes.store();
  deps.pods = &pods.store();
  deps.policies = &policies.store();
  deps.events = &events;
  if (*notifications) {
    deps.notifier = (*notifications)->notifier.get();
    deps.notify_cluster = (*notifications)->cluster;
    deps.density_notices = (*notifications)->density.get();
    deps.notify_health = &(*notifications)->health;
  }
  deps.status = &status;
  deps.metrics = &metrics;
  deps.clock = &RealClock::Instance();
  deps.options = &options;
  deps.fence = fence;

  // The write seams over the REST client (writes/rest_seams.h): each
  // reconciler gets only those it writes through.
  writes::RestNodeWriter node_writer(rest);
  writes::RestDrainApi overflow_pods(rest, deps.pods, deps.nodes);
  writes::RestPodAnnotator pod_annotator(rest);
  writes::RestEvents named_events(rest);
  writes::RestPolicyReports policy_reports(rest);
  writes::RestFinalizers finalizers(rest);

  DensityReconciler density(deps, {.nodes = &node_writer, .pods = &overflow_pods});
  RemediationReconciler remediation(
      deps, node_writer, std::make_unique<writes::RestDrainApi>(rest, deps.pods, deps.nodes));
  HygieneReconcilerOptions hygiene_options;
  hygiene_options.event_host = identity;
  hygiene_options.write_qps = options.hygiene_write_qps;
  hygiene_options.write_burst = options.hygiene_write_burst;
  HygieneReconciler hygiene(deps,
                            {.pods = &pod_annotator,
                             .event_writer = &named_events,
                             .event_reader = &named_events,
                             .report_reader = &policy_reports,
                             .report_writer = &policy_reports},
                            hygiene_options);
  PolicyReconciler policy_reconciler(
      deps, {.finalizers = &finalizers, .nodes = &node_writer}, [&](const PolicyObject& p) {
        return density.NodesTaintedBy(p.meta.name) + remediation.NodesInFlight(p);
      });
  auto& reconciles =
      metrics.MustCounter("nodeguard_reconcile_total", "Reconciles by reconciler and result.",
                          {"reconciler", "result"});
  auto& reconcile_seconds = metrics.MustHistogram("nodeguard_reconcile_duration_seconds",
                                                  "Time per reconcile.", {"reconciler"});
  auto& queue_depth = metrics.MustGauge("nodeguard_workqueue_depth",
                                        "Keys waiting in each reconciler's queue.", {"queue"});
  auto& leader_gauge =
      metrics.MustGauge("nodeguard_leader", "1 while this process is the leader, else 0.");
  leader_gauge.Get().Set(0);  // A standby says 0 rather than nothing.
  process::InformerCounters informer_counters(metrics);
  WorkLoops work({&policy_reconciler, &density, &remediation, &hygiene},
                 {&reconciles, &reconcile_seconds});
  if (*notifications) {
    // A sink turned failing or recovered: every policy's NotificationsFailing
    // condition says so (the policy reconciler's queue; cleared in Stop).
    (*notifications)
        ->health.OnChange([&policy_reconciler, queue = work.QueueOf(policy_reconciler)] {
          policy_reconciler.EnqueueAll(*queue);
        });
  }

  // Feed the status writer what the server holds, FIRST: handlers run in
  // registration order, and a worker may reconcile a new policy as soon as a
  // reconciler's handler queued it. Were the writer told later, that
  // reconcile's Update would be dropped (the writer does not know the policy
  // yet) and no further event would come to redo it until the resync.
  policies.AddHandlers({[&](const auto& p) { status.Observe(p->policy); },
                        [&](const auto&, const auto& p) { status.Observe(p->policy); },
                        [&](const auto& o) { status.Forget(o->meta.name); },
                        {}});
  for (auto& loop : work.loops()) {
    Reconciler* r = loop.reconciler;
    kube::WorkQueue* q = loop.queue.get();
    nodes.AddHandlers({[r, q](const auto& n) { r->OnNode(nullptr, n.get(), *q); },
                       [r, q](const auto& o, const auto& n) { r->OnNode(o.get(), n.get(), *q); },
                       [r, q](const auto& o) { r->OnNode(o.get(), nullptr, *q); },
                       {}});
    pods.AddHandlers({[r, q](const auto& p) { r->OnPod(nullptr, p.get(), *q); },
                      [r, q](const auto& o, const auto& p) { r->OnPod(o.get(), p.get(), *q); },
                      [r, q](const auto& o) { r->OnPod(o.get(), nullptr, *q); },
                      {}});
    policies.AddHandlers(
        {[r, q](const auto& p) { r->OnPolicy(nullptr, p.get(), *q); },
         [r, q](const auto& o, const auto& p) { r->OnPolicy(o.get(), p.get(), *q); },
         [r, q](const auto& o) { r->OnPolicy(o.get(), nullptr, *q); },
         {}});
  }

  process::Probes probes;  // /healthz "ping"; this mode's checks follow.
  observe::HealthChecks& healthz = probes.healthz;
  observe::HealthChecks& readyz = probes.readyz;
  // Fails once an informer's list/watch loop stopped moving for longer than
  // a healthy one ever can (process/liveness.h derives the bound): only a
  // restart brings a wedged cache back.
  const Duration informer_stall_bound =
      process::InformerStallBound(informer_options, rest.options());
  healthz.Add("informers", [&, informer_stall_bound]() -> Status {
    return process::CheckInformerProgress({{"nodes", nodes.stats().last_progress},
                                           {"pods", pods.stats().last_progress},
                                           {"nodehealthpolicies", policies.stats().last_progress}},
                                          RealClock::Instance().Monotonic(), informer_stall_bound);
  });
  // Fails once a reconcile has run longer than --reconcile-stall-timeout: its
  // worker is lost, and the keys it holds are never reconciled again.
  auto reconciler_progress = [&] { return work.Progress(); };
  healthz.Add("reconcilers", [&]() -> Status {
    return process::CheckReconcileProgress(reconciler_progress(), options.reconcile_stall_timeout);
  });
  readyz.Add("informers", [&]() -> Status {
    if (nodes.HasSynced() && pods.HasSynced() && policies.HasSynced()) return Status::Ok();
    return Error::Unavailable("caches not synced");
  });
  readyz.Add("leader", [&]() -> Status {
    // Leader or standby: both are ready; a standby serves warm caches.
    return Status::Ok();
  });
  auto endpoints = process::ServeEndpoints(options.metrics_bind_address,
                                           options.health_probe_bind_address, metrics, probes, log);
  if (!endpoints) return 2;

  process::InstallStopSignalHandlers();

  std::vector<std::thread> informer_threads;
  informer_threads.emplace_back([&] { nodes.Run(cancel); });
  informer_threads.emplace_back([&] { pods.Run(cancel); });
  informer_threads.emplace_back([&] { policies.Run(cancel); });
  if (!nodes.WaitForSync(cancel) || !pods.WaitForSync(cancel) || !policies.WaitForSync(cancel)) {
    log.Info("stopped before caches synced");
  } else {
    log.Info("caches synced", {{"nodes", nodes.store().size()},
                               {"pods", pods.store().size()},
                               {"policies", policies.store().size()}});
  }

  kube::CancelFlag election_stop;
  std::thread election_thread;
  if (elector) {
    // The Lease is released only after the workers stopped (below), so no
    // reconcile in flight finds itself fenced off during a clean shutdown.
    election_thread = std::thread([&] { elector->Run(election_stop); });
  }
  while (!cancel.cancelled() && !leading.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  const char* wedge_env = std::getenv(kWedgeReconcilerEnv);
  const std::string wedge_reconciler = wedge_env != nullptr ? wedge_env : "";
  std::atomic<bool> wedge_done{false};
  if (!wedge_reconciler.empty()) {
    log.Warn("test fault injection: the first reconcile of this reconciler will never return",
             {{"env", kWedgeReconcilerEnv}, {"reconciler", wedge_reconciler}});
  }

  std::vector<std::thread> background;
  if (!cancel.cancelled()) {
    leader_gauge.Get().Set(1);
    log.Info("leading: starting reconcilers", {{"identity", identity}});
    // Continue from the previous leader's status, not from what this process
    // saw while it was a standby.
    status.ResetToObserved();
    work.EnqueueAll();
    work.StartWorkers(options.workers, [&](std::string_view reconciler, const std::string& key) {
      if (reconciler != wedge_reconciler || wedge_done.exchange(true)) return;
      observe::Log().Warn("test fault injection: wedging this reconcile forever",
                          {{"reconciler", std::string(reconciler)}, {"key", key}});
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    });
    // Status flushes and periodic resyncs.
    background.emplace_back([&] {
      auto next_resync = std::chrono::steady_clock::now() + options.resync_period;
      while (!cancel.cancelled()) {
        auto wait = status.Flush();
        work.RecordDepth(queue_depth);
        informer_counters.Record("nodes", nodes.stats());
        informer_counters.Record("pods", pods.stats());
        informer_counters.Record("nodehealthpolicies", policies.stats());
        if (std::chrono::steady_clock::now() >= next_resync) {
          work.EnqueueAll();
          next_resync = std::chrono::steady_clock::now() + options.resync_period;
        }
        auto sleep = std::min<std::chrono::milliseconds>(
            wait.value_or(std::chrono::milliseconds(200)), std::chrono::milliseconds(200));
        std::this_thread::sleep_for(std::max(sleep, std::chrono::milliseconds(20)));
      }
    });
  }

  // A wedged reconcile: /healthz has failed for kLivenessExitGrace, time
  // enough for a kubelet's probe to restart the container. Exit on our own
  // for whoever else runs the process (the shutdown below gives up on the
  // stuck reconcile after kInFlightGrace).
  bool wedged = false;
  while (!cancel.cancelled()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (process::ReconcileWedgedPastGrace(reconciler_progress(), options.reconcile_stall_timeout)) {
      log.Error("a reconcile never returned: exiting so the process is restarted",
                {{"healthz", process::CheckReconcileProgress(reconciler_progress(),
                                                             options.reconcile_stall_timeout)
                                 .error()
                                 .message}});
      wedged = true;
      cancel.Cancel();
    }
  }
  if (!wedged) {
    log.Info(lost_leadership.load() ? "lost leadership: exiting" : "shutting down");
  }

  // Stop taking work: drop every queued key (nodeguard is level-triggered:
  // whoever leads next recomputes every key, so working off the backlog would
  // only delay the hand-over) and let the reconciles in flight finish, for at
  // most kInFlightGrace. The Lease is held until then, so none of them finds
  // itself fenced off half-way.
  auto release_lease = [&] {
    leader_gauge.Get().Set(0);
    election_stop.Cancel();
    if (election_thread.joinable()) election_thread.join();  // Releases the Lease.
  };
  const WorkLoops::Stopped stopped = work.StopTakingWork(kInFlightGrace);
  log.Info("stopped taking work", {{"droppedKeys", static_cast<int64_t>(stopped.dropped)},
                                   {"stillRunning", static_cast<int64_t>(stopped.still_running)}});
  if (stopped.still_running > 0) {
    // A reconcile stuck past the grace period (a request hanging in its
    // retries) must not hold the Lease hostage. Releasing it turns this
    // replica's fence off first, so the stuck reconcile's next write is
    // refused; then exit without joining it.
    log.Warn(
        "reconciles still running after the shutdown grace period; releasing the Lease and "
        "exiting without them",
        {{"grace", FormatGoDuration(kInFlightGrace)},
         {"reconciles", static_cast<int64_t>(stopped.still_running)}});
    release_lease();
    spdlog::default_logger()->flush();
    std::_Exit(lost_leadership.load() || wedged ? 1 : 0);
  }
  work.JoinWorkers();
  for (auto& t : background) t.join();
  remediation.Shutdown();  // Stops drains before the queues they re-enqueue into go away.
  status.Flush();
  events.WaitIdle(std::chrono::seconds(2));
  release_lease();
  if (*notifications) {
    // After the Lease is free, so the next leader is not kept waiting: a
    // moment for what is queued, then the rest is counted dropped (a request
    // in flight ends within its 10 s timeout).
    (*notifications)->Stop(std::chrono::seconds(2));
  }
  nodes.Stop();
  pods.Stop();
  policies.Stop();
  for (auto& t : informer_threads) t.join();
  endpoints->Stop();
  return lost_leadership.load() || wedged ? 1 : 0;
}

}  // namespace nodeguard::runtime
