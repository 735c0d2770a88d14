#include "manager/work_loops.h"

#include <algorithm>

#include "observe/log.h"

namespace nodeguard::manager {

bool ProcessNextKey(Reconciler& reconciler, kube::WorkQueue& queue, const ReconcileMetrics& metrics,
                    const BeforeReconcile& before) {
  std::optional<std::string> key = queue.Get();
  if (!key) return false;
  const std::string name(reconciler.name());
  const auto start = std::chrono::steady_clock::now();
  if (before) before(name, *key);
  Result<ReconcileResult> result = reconciler.Reconcile(*key);
  metrics.seconds->WithLabels({name}).Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (result.ok() && result->partial_error) {
    const Error& e = *result->partial_error;
    metrics.reconciles->WithLabels({name, e.Is(ErrorKind::kConflict) ? "conflict" : "error"}).Inc();
    observe::Log().Warn("reconcile partly failed; retrying",
                        {{"reconciler", name}, reconciler.KeyField(*key), {"error", e.ToString()}});
    queue.Forget(*key);
    queue.AddAfter(*key, result->requeue_after.value_or(std::chrono::seconds(1)));
  } else if (result.ok()) {
    metrics.reconciles->WithLabels({name, "success"}).Inc();
    queue.Forget(*key);
    if (result->requeue_after) queue.AddAfter(*key, *result->requeue_after);
  } else if (result.error().Is(ErrorKind::kConflict)) {
    metrics.reconciles->WithLabels({name, "conflict"}).Inc();
    queue.AddRateLimited(*key);
  } else {
    metrics.reconciles->WithLabels({name, "error"}).Inc();
    observe::Log().Warn(
        "reconcile failed; retrying with backoff",
        {{"reconciler", name}, reconciler.KeyField(*key), {"error", result.error().ToString()}});
    queue.AddRateLimited(*key);
  }
  queue.Done(*key);
  return true;
}

WorkLoops::WorkLoops(const std::vector<Reconciler*>& reconcilers, ReconcileMetrics metrics,
                     const Clock* clock)
    : metrics_(metrics), clock_(clock != nullptr ? *clock : RealClock::Instance()) {
  for (Reconciler* r : reconcilers) {
    kube::WorkQueue::Options options;
    options.name = std::string(r->name());
    options.clock = clock;
    loops_.push_back({r, std::make_unique<kube::WorkQueue>(std::move(options)), {}});
  }
}

WorkLoops::~WorkLoops() {
  for (auto& loop : loops_) loop.queue->ShutDown();
  JoinWorkers();
}

kube::WorkQueue* WorkLoops::QueueOf(const Reconciler& reconciler) {
  for (auto& loop : loops_) {
    if (loop.reconciler == &reconciler) return loop.queue.get();
  }
  return nullptr;
}

void WorkLoops::EnqueueAll() {
  for (auto& loop : loops_) loop.reconciler->EnqueueAll(*loop.queue);
}

void WorkLoops::StartWorkers(int per_reconciler, BeforeReconcile before) {
  for (auto& loop : loops_) {
    for (int i = 0; i < per_reconciler; ++i) {
      loop.workers.emplace_back([this, before, r = loop.reconciler, q = loop.queue.get()] {
        while (ProcessNextKey(*r, *q, metrics_, before)) {
        }
      });
    }
  }
}

void WorkLoops::RecordDepth(observe::GaugeFamily& depth) const {
  for (const auto& loop : loops_) {
    depth.WithLabels({loop.queue->name()}).Set(static_cast<double>(loop.queue->Len()));
  }
}

std::vector<process::ReconcilerProgress> WorkLoops::Progress() const {
  std::vector<process::ReconcilerProgress> progress;
  for (const auto& loop : loops_) {
    progress.push_back({loop.reconciler->name(),
                        std::chrono::duration_cast<Duration>(std::chrono::duration<double>(
                            loop.queue->Metrics().longest_running_processor_seconds))});
  }
  return progress;
}

WorkLoops::Stopped WorkLoops::StopTakingWork(std::chrono::milliseconds grace) {
  Stopped stopped;
  stopped.dropped = DropQueued();
  stopped.still_running = WaitForInFlight(grace);
  return stopped;
}

size_t WorkLoops::DropQueued() {
  size_t dropped = 0;
  for (auto& loop : loops_) dropped += loop.queue->ShutDownDroppingQueued();
  return dropped;
}

size_t WorkLoops::WaitForInFlight(std::chrono::milliseconds grace) {
  // Real-time slices, so a fake clock's deadline is seen soon after the test
  // moves it, and a real one within 20 ms of the grace.
  constexpr std::chrono::milliseconds kSlice{20};
  const MonoTime grace_ends = clock_.Monotonic() + grace;
  size_t still_running = 0;
  for (auto& loop : loops_) {
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(grace_ends - clock_.Monotonic());
      if (left <= std::chrono::milliseconds(0)) {
        still_running += loop.queue->InFlight();
        break;
      }
      if (loop.queue->WaitForInFlight(std::min(left, kSlice))) break;
    }
  }
  return still_running;
}

void WorkLoops::JoinWorkers() {
  for (auto& loop : loops_) {
    for (auto& t : loop.workers) {
      if (t.joinable()) t.join();
    }
    loop.workers.clear();
  }
}

}  // namespace nodeguard::manager
