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
#include "manager/manager.h"
#include "observe/health.h"
#include "observe/log.h"
#include "observe/metrics.h"
#include "policy/reconciler.h"
#include "process/endpoints.h"
#include "process/liveness.h"
#include "process/process.h"
#include "reconcile/notifications.h"
#include "remediation/reconciler.h"
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

// The three caches, always running: a standby is ready to lead at once.
// --watch-filter narrows Nodes and policies; Pods stay cluster-wide (a Pod on
// a Node outside the filter is never looked up).
struct Caches {
  Caches(kube::RestClient& rest, const ControllerOptions& options)
      : node_lw(rest, kube::CoreResource("nodes")),
        pod_lw(rest, kube::CoreResource("pods")),
        policy_lw(rest, kube::GroupResource(api::kGroup, api::kVersion, api::kPlural)),
        informer_options(Unfiltered(options)),
        pods(pod_lw, informer_options),
        nodes(node_lw, Filtered(options)),
        policies(policy_lw, Filtered(options)) {}
  static kube::InformerOptions Unfiltered(const ControllerOptions& options) {
    kube::InformerOptions o;
    o.resync_period = options.resync_period;
    return o;
  }
  static kube::InformerOptions Filtered(const ControllerOptions& options) {
    kube::InformerOptions o = Unfiltered(options);
    o.label_selector = WatchFilterSelector(options.watch_filter);
    return o;
  }

  kube::RestListWatcher node_lw, pod_lw, policy_lw;
  const kube::InformerOptions informer_options;
  kube::Informer<kube::Pod> pods;
  kube::Informer<kube::Node> nodes;
  kube::Informer<PolicyObject> policies;

  // Stops the informers and joins `threads` (StartCaches').
  void Stop(std::vector<std::thread>& threads) {
    nodes.Stop();
    pods.Stop();
    policies.Stop();
    for (auto& t : threads) t.join();
  }
};

// Leader election on the Lease (--leader-elect), or leading from the start.
// The elector's callbacks only signal: the main thread starts the manager
// (WaitToLead), and a loss stops it at once and ends the process.
class Leadership {
 public:
  Leadership(process::ApiConnection& connection, const ControllerOptions& options,
             std::string identity, observe::MetricsRegistry& metrics, const observe::Logger& log)
      : gauge_(metrics.MustGauge("nodeguard_leader", "1 while this process is the leader, else 0.")
                   .Get()),
        leading_(!options.leader_elect) {
    gauge_.Set(0);  // A standby says 0 rather than nothing.
    config_.identity = std::move(identity);
    lease_store_ = kube::MakeRestLeaseStore(connection.lease(), options.leader_election_namespace,
                                            options.leader_election_id, config_.renew_deadline / 2);
    if (!options.leader_elect) return;
    kube::LeaderCallbacks callbacks;
    callbacks.on_started_leading = [this] { leading_.store(true); };
    callbacks.on_stopped_leading = [this] {
      // Giving the Lease up on a requested shutdown is not a loss.
      if (leading_.exchange(false) && !process::StopRequested()) lost_.store(true);
      manager_->StopLeading();
      cancel_->Cancel();
    };
    callbacks.on_new_leader = [log](const std::string& who) {
      log.Info("leader observed", {{"leader", who}});
    };
    elector_ = std::make_unique<kube::LeaderElector>(*lease_store_, config_, callbacks);
  }
  ~Leadership() { Release(); }
  Leadership(const Leadership&) = delete;
  Leadership& operator=(const Leadership&) = delete;

  // Every write checks it first: refused unless this process leads.
  std::function<Status()> Fence() {
    return [this]() -> Status { return elector_ ? elector_->Fence() : Status::Ok(); };
  }
  // Starts electing (once the caches synced). A loss stops `manager` taking
  // work and cancels `cancel`. REQUIRES: both outlive Release().
  void Start(manager::Manager& manager, process::StopToken& cancel) {
    manager_ = &manager;
    cancel_ = &cancel;
    // The Lease is released only after the workers stopped (Release), so no
    // reconcile in flight finds itself fenced off during a clean shutdown.
    if (elector_) thread_ = std::thread([this] { elector_->Run(stop_); });
  }
  // Until this process leads or `cancel` is cancelled; true when it leads.
  bool WaitToLead(const kube::CancelToken& cancel) const {
    while (!cancel.cancelled() && !leading_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return !cancel.cancelled();
  }
  // nodeguard_leader says 1 (once the manager took over).
  void ShowLeading() { gauge_.Set(1); }
  // Stops electing; releases the Lease when held.
  void Release() {
    gauge_.Set(0);
    stop_.Cancel();
    if (thread_.joinable()) thread_.join();
  }
  bool lost() const { return lost_.load(); }
  const std::string& identity() const { return config_.identity; }

 private:
  kube::LeaderElectionConfig config_;
  observe::Gauge& gauge_;  // nodeguard_leader.
  std::unique_ptr<kube::LeaseStore> lease_store_;
  std::unique_ptr<kube::LeaderElector> elector_;  // Null without --leader-elect.
  std::atomic<bool> leading_;
  std::atomic<bool> lost_{false};
  manager::Manager* manager_ = nullptr;   // Set by Start, before the elector runs.
  process::StopToken* cancel_ = nullptr;  // Likewise.
  kube::CancelFlag stop_;
  std::thread thread_;
};

// nodeguard_events_total{outcome} and nodeguard_events_aggregated_total,
// every series from the start at 0, counted through the recorder's outcomes.
kube::EventRecorderOptions EventOptions(observe::MetricsRegistry& metrics,
                                        const std::string& identity,
                                        std::function<Status()> fence) {
  kube::EventRecorderOptions event_options;
  event_options.host = identity;
  event_options.fence = std::move(fence);
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
  event_options.on_outcome = [&events_total, &events_aggregated](std::string_view outcome) {
    if (outcome == "aggregated") {
      events_aggregated.Get().Inc();
    } else {
      events_total.WithLabels({std::string(outcome)}).Inc();
    }
  };
  return event_options;
}

// The informers' events into the status writer and every reconciler's queue.
void RegisterHandlers(Caches& caches, manager::Manager& manager, StatusWriter& status) {
  // Feed the status writer what the server holds, FIRST: handlers run in
  // registration order, and a worker may reconcile a new policy as soon as a
  // reconciler's handler queued it. Were the writer told later, that
  // reconcile's Update would be dropped (the writer does not know the policy
  // yet) and no further event would come to redo it until the resync.
  caches.policies.AddHandlers({[&](const auto& p) { status.Observe(p->policy); },
                               [&](const auto&, const auto& p) { status.Observe(p->policy); },
                               [&](const auto& o) { status.Forget(o->meta.name); },
                               {}});
  for (auto& loop : manager.loops()) {
    Reconciler* r = loop.reconciler;
    kube::WorkQueue* q = loop.queue.get();
    caches.nodes.AddHandlers(
        {[r, q](const auto& n) { r->OnNode(nullptr, n.get(), *q); },
         [r, q](const auto& o, const auto& n) { r->OnNode(o.get(), n.get(), *q); },
         [r, q](const auto& o) { r->OnNode(o.get(), nullptr, *q); },
         {}});
    caches.pods.AddHandlers(
        {[r, q](const auto& p) { r->OnPod(nullptr, p.get(), *q); },
         [r, q](const auto& o, const auto& p) { r->OnPod(o.get(), p.get(), *q); },
         [r, q](const auto& o) { r->OnPod(o.get(), nullptr, *q); },
         {}});
    caches.policies.AddHandlers(
        {[r, q](const auto& p) { r->OnPolicy(nullptr, p.get(), *q); },
         [r, q](const auto& o, const auto& p) { r->OnPolicy(o.get(), p.get(), *q); },
         [r, q](const auto& o) { r->OnPolicy(o.get(), nullptr, *q); },
         {}});
  }
}

// /healthz and /readyz's checks for this mode (/healthz "ping" is Probes').
void AddProbes(process::Probes& probes, const Caches& caches, const manager::Manager& manager,
               const ControllerOptions& options, const kube::RestOptions& rest_options) {
  // Fails once an informer's list/watch loop stopped moving for longer than
  // a healthy one ever can (process/liveness.h derives the bound): only a
  // restart brings a wedged cache back.
  const Duration informer_stall_bound =
      process::InformerStallBound(caches.informer_options, rest_options);
  probes.healthz.Add("informers", [&caches, informer_stall_bound]() -> Status {
    return process::CheckInformerProgress(
        {{"nodes", caches.nodes.stats().last_progress},
         {"pods", caches.pods.stats().last_progress},
         {"nodehealthpolicies", caches.policies.stats().last_progress}},
        RealClock::Instance().Monotonic(), informer_stall_bound);
  });
  // Fails once a reconcile has run longer than --reconcile-stall-timeout: its
  // worker is lost, and the keys it holds are never reconciled again.
  probes.healthz.Add("reconcilers", [&manager, &options]() -> Status {
    return process::CheckReconcileProgress(manager.Progress(), options.reconcile_stall_timeout);
  });
  probes.readyz.Add("informers", [&caches]() -> Status {
    if (caches.nodes.HasSynced() && caches.pods.HasSynced() && caches.policies.HasSynced()) {
      return Status::Ok();
    }
    return Error::Unavailable("caches not synced");
  });
  probes.readyz.Add("leader", []() -> Status {
    // Leader or standby: both are ready; a standby serves warm caches.
    return Status::Ok();
  });
}

// Runs the informers until `cancel`; waits for their first lists.
std::vector<std::thread> StartCaches(Caches& caches, const process::StopToken& cancel,
                                     const observe::Logger& log) {
  std::vector<std::thread> threads;
  threads.emplace_back([&] { caches.nodes.Run(cancel); });
  threads.emplace_back([&] { caches.pods.Run(cancel); });
  threads.emplace_back([&] { caches.policies.Run(cancel); });
  if (!caches.nodes.WaitForSync(cancel) || !caches.pods.WaitForSync(cancel) ||
      !caches.policies.WaitForSync(cancel)) {
    log.Info("stopped before caches synced");
  } else {
    log.Info("caches synced", {{"nodes", caches.nodes.store().size()},
                               {"pods", caches.pods.store().size()},
                               {"policies", caches.policies.store().size()}});
  }
  return threads;
}

// Test-only fault injection (kWedgeReconcilerEnv): the first reconcile of the
// named reconciler never returns. Null without the variable.
manager::BeforeReconcile WedgeHook(const observe::Logger& log) {
  const char* wedge_env = std::getenv(kWedgeReconcilerEnv);
  if (wedge_env == nullptr || *wedge_env == '\0') return nullptr;
  const std::string wedge_reconciler = wedge_env;
  log.Warn("test fault injection: the first reconcile of this reconciler will never return",
           {{"env", kWedgeReconcilerEnv}, {"reconciler", wedge_reconciler}});
  auto wedge_done = std::make_shared<std::atomic<bool>>(false);
  return [wedge_reconciler, wedge_done](std::string_view reconciler, const std::string& key) {
    if (reconciler != wedge_reconciler || wedge_done->exchange(true)) return;
    observe::Log().Warn("test fault injection: wedging this reconcile forever",
                        {{"reconciler", std::string(reconciler)}, {"key", key}});
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
  };
}

// Until `cancel` (a stop signal, a lost Lease) or a wedged reconcile; true
// for the latter. A wedged reconcile: /healthz has failed for
// kLivenessExitGrace, time enough for a kubelet's probe to restart the
// container. Exit on our own for whoever else runs the process (the shutdown
// gives up on the stuck reconcile after kInFlightGrace).
bool WaitForStop(process::StopToken& cancel, const manager::Manager& manager,
                 const ControllerOptions& options, const observe::Logger& log) {
  while (!cancel.cancelled()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (process::ReconcileWedgedPastGrace(manager.Progress(), options.reconcile_stall_timeout)) {
      log.Error("a reconcile never returned: exiting so the process is restarted",
                {{"healthz", process::CheckReconcileProgress(manager.Progress(),
                                                             options.reconcile_stall_timeout)
                                 .error()
                                 .message}});
      cancel.Cancel();
      return true;
    }
  }
  return false;
}

// nodeguard_reconcile_total{reconciler, result} and
// nodeguard_reconcile_duration_seconds{reconciler}.
manager::ReconcileMetrics ReconcileMetricsOf(observe::MetricsRegistry& metrics) {
  return {&metrics.MustCounter("nodeguard_reconcile_total", "Reconciles by reconciler and result.",
                               {"reconciler", "result"}),
          &metrics.MustHistogram("nodeguard_reconcile_duration_seconds", "Time per reconcile.",
                                 {"reconciler"})};
}

// The manager's settings, and what the controller does at leadership start
// and every housekeeping turn. REQUIRES: all outlive the manager.
manager::ManagerOptions ManagerOptionsFor(const ControllerOptions& options,
                                          observe::MetricsRegistry& metrics, Caches& caches,
                                          process::InformerCounters& informer_counters,
                                          Leadership& leadership, StatusWriter& status,
                                          const observe::Logger& log) {
  manager::ManagerOptions manager_options;
  manager_options.workers_per_reconciler = options.workers;
  manager_options.resync_period = options.resync_period;
  manager_options.in_flight_grace = kInFlightGrace;
  manager_options.before_reconcile = WedgeHook(log);
  manager_options.queue_depth = &metrics.MustGauge(
      "nodeguard_workqueue_depth", "Keys waiting in each reconciler's queue.", {"queue"});
  manager_options.on_started_leading = [&leadership, &status, log] {
    leadership.ShowLeading();
    log.Info("leading: starting reconcilers", {{"identity", leadership.identity()}});
    // Continue from the previous leader's status, not from what this process
    // saw while it was a standby.
    status.ResetToObserved();
  };
  manager_options.housekeeping = [&status, &caches, &informer_counters] {
    auto wait = status.Flush();
    informer_counters.Record("nodes", caches.nodes.stats());
    informer_counters.Record("pods", caches.pods.stats());
    informer_counters.Record("nodehealthpolicies", caches.policies.stats());
    return wait;
  };
  return manager_options;
}

// A reconcile stuck past the shutdown grace (a request hanging in its
// retries) must not hold the Lease hostage. Releasing it turns this replica's
// fence off first, so the stuck reconcile's next write is refused; then exit
// without joining it.
[[noreturn]] void ExitLeavingStuckReconciles(size_t still_running, Leadership& leadership,
                                             int exit_code, const observe::Logger& log) {
  log.Warn(
      "reconciles still running after the shutdown grace period; releasing the Lease and "
      "exiting without them",
      {{"grace", FormatGoDuration(kInFlightGrace)},
       {"reconciles", static_cast<int64_t>(still_running)}});
  leadership.Release();
  spdlog::default_logger()->flush();
  std::_Exit(exit_code);
}

// Logging as the flags say, and the first line; nullopt (after a line on
// stderr) when the flags are wrong.
std::optional<observe::Logger> StartLogging(const ControllerOptions& options) {
  if (Status s = process::SetupLogging(options.log_level, options.log_format); !s.ok()) {
    std::fprintf(stderr, "nodeguard: %s\n", s.error().ToString().c_str());
    return std::nullopt;
  }
  auto log = observe::Log().With({{"component", "controller"}});
  log.Info("starting", {{"version", kVersion},
                        {"dryRun", options.dry_run},
                        {"watchFilter", WatchFilterSelector(options.watch_filter)}});
  return log;
}

// What every reconciler shares (reconcile/reconciler.h). REQUIRES: everything
// passed outlives the reconcilers; `notifications` may be null (none
// configured).
Deps DepsFor(Caches& caches, kube::EventRecorder& events, Notifications* notifications,
             StatusWriter& status, observe::MetricsRegistry& metrics,
             const ControllerOptions& options, std::function<Status()> fence) {
  Deps deps;
  deps.nodes = &caches.nodes.store();
  deps.pods = &caches.pods.store();
  deps.policies = &caches.policies.store();
  deps.events = &events;
  if (notifications != nullptr) {
    deps.notifier = notifications->notifier.get();
    deps.notify_cluster = notifications->cluster;
    deps.density_notices = notifications->density.get();
    deps.notify_health = &notifications->health;
  }
  deps.status = &status;
  deps.metrics = &metrics;
  deps.clock = &RealClock::Instance();
  deps.options = &options;
  deps.fence = std::move(fence);
  return deps;
}

HygieneReconcilerOptions HygieneOptionsFor(const ControllerOptions& options,
                                           const std::string& identity) {
  HygieneReconcilerOptions hygiene_options;
  hygiene_options.event_host = identity;
  hygiene_options.write_qps = options.hygiene_write_qps;
  hygiene_options.write_burst = options.hygiene_write_burst;
  return hygiene_options;
}

// The four reconcilers and the write seams over the REST client
// (writes/rest_seams.h) they write through: each reconciler gets only those
// it writes through. Members are built in declaration order, so every seam
// exists before the reconcilers that hold it and outlives them. Never moved:
// the reconcilers hold addresses of the seams and of each other.
// REQUIRES: `rest` and what `deps` points to outlive it.
struct Reconcilers {
  Reconcilers(kube::RestClient& rest, const Deps& deps, const ControllerOptions& options,
              const std::string& identity)
      : node_writer(rest),
        overflow_pods(rest, deps.pods, deps.nodes),
        pod_annotator(rest),
        named_events(rest),
        policy_reports(rest),
        finalizers(rest),
        density(deps, {.nodes = &node_writer, .pods = &overflow_pods}),
        remediation(deps, node_writer,
                    std::make_unique<writes::RestDrainApi>(rest, deps.pods, deps.nodes)),
        hygiene(deps,
                {.pods = &pod_annotator,
                 .event_writer = &named_events,
                 .event_reader = &named_events,
                 .report_reader = &policy_reports,
                 .report_writer = &policy_reports},
                HygieneOptionsFor(options, identity)),
        policy(deps, {.finalizers = &finalizers, .nodes = &node_writer},
               [this](const PolicyObject& p) {
                 return density.NodesTaintedBy(p.meta.name) + remediation.NodesInFlight(p);
               }) {}
  Reconcilers(const Reconcilers&) = delete;
  Reconcilers& operator=(const Reconcilers&) = delete;

  writes::RestNodeWriter node_writer;
  writes::RestDrainApi overflow_pods;
  writes::RestPodAnnotator pod_annotator;
  writes::RestEvents named_events;
  writes::RestPolicyReports policy_reports;
  writes::RestFinalizers finalizers;
  DensityReconciler density;
  RemediationReconciler remediation;
  HygieneReconciler hygiene;
  PolicyReconciler policy;
};

// A sink turned failing or recovered: every policy's NotificationsFailing
// condition says so (the policy reconciler's queue; cleared in Stop).
// REQUIRES: `policy` and `manager` outlive the notifications' health board's
// callbacks (Notifications::Stop).
void RequeuePoliciesOnSinkHealth(Notifications& notifications, PolicyReconciler& policy,
                                 manager::Manager& manager) {
  notifications.health.OnChange(
      [&policy, queue = manager.QueueOf(policy)] { policy.EnqueueAll(*queue); });
}

}  // namespace

int RunController(const ControllerOptions& options) {
  const std::optional<observe::Logger> started = StartLogging(options);
  if (!started) return 2;
  const observe::Logger& log = *started;

  observe::MetricsRegistry metrics;
  auto connection = process::ApiConnection::Open(options.kubeconfig, metrics,
                                                 {options.kube_api_qps, options.kube_api_burst});
  if (!connection.ok()) {
    log.Error("cannot connect to the API server", {{"error", connection.error().ToString()}});
    return 2;
  }
  kube::RestClient& rest = (*connection)->rest();
  Caches caches(rest, options);
  if (Status s = kube::AddPodIndexes(caches.pods.store()); !s.ok()) {
    log.Error("cannot index pods", {{"error", s.error().ToString()}});
    return 2;
  }
  Leadership leadership(**connection, options,
                        options.identity.empty() ? DefaultIdentity() : options.identity, metrics,
                        log);
  const std::string& identity = leadership.identity();
  std::function<Status()> fence = leadership.Fence();

  auto event_sink = kube::MakeRestEventSink(rest);
  kube::EventRecorder events(*event_sink, EventOptions(metrics, identity, fence));
  auto notifications = StartNotifications(options, metrics);
  if (!notifications.ok()) {
    log.Error("cannot start notifications", {{"error", notifications.error().ToString()}});
    return 2;
  }
  RestStatusApi status_api(rest, fence);
  StatusWriter status(status_api, RealClock::Instance(), options.status_interval);

  const Deps deps = DepsFor(caches, events, notifications->get(), status, metrics, options, fence);
  Reconcilers reconcilers(rest, deps, options, identity);

  process::InformerCounters informer_counters(metrics);
  manager::Manager manager(
      {&reconcilers.policy, &reconcilers.density, &reconcilers.remediation, &reconcilers.hygiene},
      ReconcileMetricsOf(metrics),
      ManagerOptionsFor(options, metrics, caches, informer_counters, leadership, status, log));
  if (*notifications) RequeuePoliciesOnSinkHealth(**notifications, reconcilers.policy, manager);
  RegisterHandlers(caches, manager, status);

  process::Probes probes;
  AddProbes(probes, caches, manager, options, rest.options());
  auto endpoints = process::ServeEndpoints(options.metrics_bind_address,
                                           options.health_probe_bind_address, metrics, probes, log);
  if (!endpoints) return 2;

  process::InstallStopSignalHandlers();
  process::StopToken cancel;
  std::vector<std::thread> informer_threads = StartCaches(caches, cancel, log);
  leadership.Start(manager, cancel);
  if (leadership.WaitToLead(cancel)) manager.StartLeading();
  const bool wedged = WaitForStop(cancel, manager, options, log);
  if (!wedged) log.Info(leadership.lost() ? "lost leadership: exiting" : "shutting down");

  // Stop taking work: drop every queued key (nodeguard is level-triggered:
  // whoever leads next recomputes every key, so working off the backlog would
  // only delay the hand-over) and let the reconciles in flight finish, for at
  // most kInFlightGrace. The Lease is held until then, so none of them finds
  // itself fenced off half-way.
  const int exit_code = leadership.lost() || wedged ? 1 : 0;
  const manager::Manager::Stopped stopped = manager.Shutdown();
  log.Info("stopped taking work", {{"droppedKeys", static_cast<int64_t>(stopped.dropped)},
                                   {"stillRunning", static_cast<int64_t>(stopped.still_running)}});
  if (stopped.still_running > 0) {
    ExitLeavingStuckReconciles(stopped.still_running, leadership, exit_code, log);
  }
  // Stops drains before the queues they re-enqueue into go away.
  reconcilers.remediation.Shutdown();
  status.Flush();
  events.WaitIdle(std::chrono::seconds(2));
  leadership.Release();
  if (*notifications) {
    // After the Lease is free, so the next leader is not kept waiting: a
    // moment for what is queued, then the rest is counted dropped (a request
    // in flight ends within its 10 s timeout).
    (*notifications)->Stop(std::chrono::seconds(2));
  }
  caches.Stop(informer_threads);
  endpoints->Stop();
  return exit_code;
}

}  // namespace nodeguard::runtime
