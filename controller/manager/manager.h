#pragma once

// Manager: everything the controller runs besides its informers and its
// leader elector, in one tested place (controller-runtime's manager, the part
// nodeguard needs):
//
//   - each reconciler's work queue and workers (WorkLoops, work_loops.h);
//   - leader gating: the workers run only while this process leads.
//     StartLeading: every reconciler enqueues everything, the workers start,
//     the resync period starts. StopLeading: stop taking work, dropping what
//     is queued (level-triggered: whoever leads next recomputes every key);
//     the reconciles in flight run on (their writes are fenced);
//   - the periodic resync: every reconciler enqueues everything again each
//     resync_period while leading (a housekeeping thread, which also runs the
//     caller's housekeeping hook, e.g. status flushes);
//   - graceful shutdown: stop taking work, then wait for the reconciles in
//     flight at most in_flight_grace, on the manager's clock.
//
// Leadership is gained at most once: losing it is terminal (crash-only: the
// process exits and a fresh start re-derives everything from the cluster), so
// a StartLeading after StopLeading or Shutdown does nothing.
//
// Thread-safe: StartLeading, StopLeading and Shutdown may race (the elector's
// thread, the main thread); each happens at most once.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "manager/work_loops.h"

namespace nodeguard::manager {

struct ManagerOptions {
  int workers_per_reconciler = 1;
  // Every reconciler enqueues everything this often while leading.
  Duration resync_period = std::chrono::minutes(10);
  // Shutdown waits at most this long for the reconciles in flight.
  std::chrono::milliseconds in_flight_grace{10000};
  // Called just before each reconcile (test fault injection; may block).
  BeforeReconcile before_reconcile;
  // Called on leadership start before anything is enqueued (e.g. status
  // continues from the previous leader's); on the thread calling StartLeading.
  std::function<void()> on_started_leading;
  // One turn of the caller's periodic work while leading (status flushes,
  // gauges), on the housekeeping thread; returns how soon it wants the next
  // turn (nullopt: no wish). Turns are at most 200 ms and at least 20 ms apart.
  std::function<std::optional<std::chrono::milliseconds>()> housekeeping;
  // Each queue's length, every housekeeping turn ({queue}); null: not recorded.
  observe::GaugeFamily* queue_depth = nullptr;
};

class Manager {
 public:
  // REQUIRES: reconcilers non-null and outliving this object; metrics'
  // families non-null; options.workers_per_reconciler >= 1.
  Manager(const std::vector<Reconciler*>& reconcilers, ReconcileMetrics metrics,
          ManagerOptions options, const Clock& clock = RealClock::Instance());
  // Stops taking work and joins every thread (blocks while a reconcile runs).
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // The reconcilers with their queues, for the informers' handlers (which
  // enqueue whether or not this process leads: the workers gate the work).
  std::vector<WorkLoops::Loop>& loops() { return work_.loops(); }
  // The queue of `reconciler`, or null when it is not one of the manager's.
  kube::WorkQueue* QueueOf(const Reconciler& reconciler) { return work_.QueueOf(reconciler); }

  // Leadership gained: on_started_leading, every reconciler's EnqueueAll, the
  // workers and the housekeeping thread start. False (nothing done) when
  // already leading or stopped.
  bool StartLeading();

  // Leadership lost: stop taking work (every queue shut down, its keys
  // dropped) and end the housekeeping thread. Does not wait for the
  // reconciles in flight (Shutdown does). Returns the keys dropped now.
  size_t StopLeading();

  // Runs the resync when resync_period has passed since leadership start or
  // the last resync; true when it did. Called every housekeeping turn.
  bool ResyncIfDue();

  using Stopped = WorkLoops::Stopped;
  // Graceful shutdown: StopLeading, then wait for the reconciles in flight,
  // all together at most in_flight_grace (clock time). When none is left the
  // workers are joined; a reconcile still running past the grace keeps its
  // worker (the caller exits without it). `dropped` counts every key dropped
  // since StopLeading was first called.
  Stopped Shutdown();

  // Each reconciler's oldest reconcile in flight (process/liveness.h).
  std::vector<process::ReconcilerProgress> Progress() const { return work_.Progress(); }

  bool leading() const;

 private:
  void HousekeepingLoop();

  const ManagerOptions options_;
  const Clock& clock_;
  WorkLoops work_;  // Workers started in StartLeading, joined once stopped.

  mutable std::mutex mu_;
  std::condition_variable stop_cv_;  // Wakes the housekeeping thread on stop.
  bool leading_ = false;             // Guarded by mu_.
  bool stopped_ = false;             // Guarded by mu_.
  size_t dropped_ = 0;               // Guarded by mu_.
  MonoTime next_resync_{};           // Guarded by mu_.
  std::thread housekeeping_;         // Started and joined under the state above.
};

}  // namespace nodeguard::manager
