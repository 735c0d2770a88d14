#pragma once

// WorkLoops: each reconciler with its work queue and the worker threads that
// drain it. The Manager (manager/manager.h) owns one and decides when the
// workers start (leadership) and when they stop taking work (lost leadership,
// shutdown); the informers' handlers feed its queues.
//
// ProcessNextKey is one turn of a worker, kept apart so it is tested without
// threads: what a reconcile's result asks of the queue.
//
//   result                          counted as   queue afterwards
//   ok                              success      Forget; AddAfter(requeue_after) if set
//   ok with partial_error           conflict     Forget; AddAfter(requeue_after, or 1 s)
//                                   (kConflict)
//                                   or error
//   Error kConflict                 conflict     AddRateLimited (the queue's backoff)
//   any other Error                 error        AddRateLimited
//
// Every reconcile's duration goes into the histogram, labelled with the
// reconciler's name. Thread-safe as WorkQueue is: workers of one loop share
// its queue, and a key is handed to one worker at a time.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kube/workqueue.h"
#include "observe/metrics.h"
#include "process/liveness.h"
#include "reconcile/reconciler.h"

namespace nodeguard::manager {

using runtime::Reconciler;
using runtime::ReconcileResult;

// Where reconciles are counted: nodeguard_reconcile_total{reconciler, result}
// and nodeguard_reconcile_duration_seconds{reconciler}.
struct ReconcileMetrics {
  observe::CounterFamily* reconciles = nullptr;
  observe::HistogramFamily* seconds = nullptr;
};

// Called with the reconciler's name and the key just before each reconcile
// (test fault injection; may block).
using BeforeReconcile = std::function<void(std::string_view reconciler, const std::string& key)>;

// Takes the next key of `queue` (blocking), reconciles it with `reconciler`
// and tells the queue what to do with it (the table above). Returns false,
// without reconciling, once the queue is shut down and has nothing left to
// hand out.
// REQUIRES: metrics' families are non-null.
bool ProcessNextKey(Reconciler& reconciler, kube::WorkQueue& queue, const ReconcileMetrics& metrics,
                    const BeforeReconcile& before = {});

class WorkLoops {
 public:
  struct Loop {
    Reconciler* reconciler = nullptr;
    std::unique_ptr<kube::WorkQueue> queue;
    std::vector<std::thread> workers;
  };

  // One queue per reconciler, named after it. `clock` (null: the real one)
  // drives the queues' delays and the bound of the waits for in-flight work.
  // REQUIRES: reconcilers non-null and outliving this object.
  WorkLoops(const std::vector<Reconciler*>& reconcilers, ReconcileMetrics metrics,
            const Clock* clock = nullptr);
  // Shuts the queues down and joins the workers if JoinWorkers has not.
  ~WorkLoops();
  WorkLoops(const WorkLoops&) = delete;
  WorkLoops& operator=(const WorkLoops&) = delete;

  std::vector<Loop>& loops() { return loops_; }

  // The queue of `reconciler`, or null when it is not one of these loops'.
  kube::WorkQueue* QueueOf(const Reconciler& reconciler);

  // Every reconciler enqueues everything (leadership start, resync).
  void EnqueueAll();

  // `per_reconciler` workers for each loop, each running ProcessNextKey until
  // its queue is shut down.
  // REQUIRES: called once; per_reconciler >= 1.
  void StartWorkers(int per_reconciler, BeforeReconcile before = {});

  // Each queue's length into `depth` ({queue}).
  void RecordDepth(observe::GaugeFamily& depth) const;

  // Each reconciler's oldest reconcile in flight (process/liveness.h).
  std::vector<process::ReconcilerProgress> Progress() const;

  struct Stopped {
    size_t dropped = 0;        // Keys that were queued and will not be reconciled here.
    size_t still_running = 0;  // Reconciles in flight when the grace ran out.
  };
  // Shuts every queue down dropping what is queued (level-triggered: whoever
  // leads next recomputes every key) and waits for the reconciles in flight,
  // all loops together at most `grace`: DropQueued, then WaitForInFlight.
  Stopped StopTakingWork(std::chrono::milliseconds grace);

  // Shuts every queue down dropping what is queued; returns how many keys.
  // The reconciles in flight run on; their requeues are dropped too.
  size_t DropQueued();

  // Waits until no reconcile is in flight, at most `grace` on the clock (in
  // slices of at most 20 ms real time, so a fake clock's Advance ends it).
  // Returns how many are still running.
  size_t WaitForInFlight(std::chrono::milliseconds grace);

  // REQUIRES: StopTakingWork returned still_running == 0 (a stuck reconcile
  // would block the join forever).
  void JoinWorkers();

 private:
  std::vector<Loop> loops_;
  ReconcileMetrics metrics_;
  const Clock& clock_;
};

}  // namespace nodeguard::manager
