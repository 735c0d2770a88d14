#include "manager/manager.h"

#include <algorithm>

namespace nodeguard::manager {

Manager::Manager(const std::vector<Reconciler*>& reconcilers, ReconcileMetrics metrics,
                 ManagerOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock), work_(reconcilers, metrics, &clock) {}

Manager::~Manager() {
  StopLeading();
  if (housekeeping_.joinable()) housekeeping_.join();
  work_.JoinWorkers();
}

bool Manager::leading() const {
  std::lock_guard lock(mu_);
  return leading_;
}

bool Manager::StartLeading() {
  std::lock_guard lock(mu_);
  if (leading_ || stopped_) return false;
  leading_ = true;
  if (options_.on_started_leading) options_.on_started_leading();
  work_.EnqueueAll();
  next_resync_ = clock_.Monotonic() + options_.resync_period;
  work_.StartWorkers(options_.workers_per_reconciler, options_.before_reconcile);
  housekeeping_ = std::thread([this] { HousekeepingLoop(); });
  return true;
}

size_t Manager::StopLeading() {
  std::lock_guard lock(mu_);
  if (stopped_) return 0;
  stopped_ = true;
  leading_ = false;
  const size_t dropped = work_.DropQueued();
  dropped_ += dropped;
  stop_cv_.notify_all();
  // The housekeeping thread is joined by Shutdown or the destructor, not
  // here: this may run on the leader elector's thread, which the
  // housekeeping hook's fenced writes may be waiting on.
  return dropped;
}

bool Manager::ResyncIfDue() {
  {
    std::lock_guard lock(mu_);
    if (!leading_ || clock_.Monotonic() < next_resync_) return false;
    next_resync_ = clock_.Monotonic() + options_.resync_period;
  }
  // Outside the lock: a reconciler's EnqueueAll walks its cache, and a
  // StopLeading meanwhile only makes the adds no-ops (shut-down queues).
  work_.EnqueueAll();
  return true;
}

void Manager::HousekeepingLoop() {
  constexpr std::chrono::milliseconds kMaxTurn{200}, kMinTurn{20};
  std::unique_lock lock(mu_);
  while (!stopped_) {
    lock.unlock();
    std::optional<std::chrono::milliseconds> wish;
    if (options_.housekeeping) wish = options_.housekeeping();
    if (options_.queue_depth != nullptr) work_.RecordDepth(*options_.queue_depth);
    ResyncIfDue();
    const auto turn = std::max(std::min(wish.value_or(kMaxTurn), kMaxTurn), kMinTurn);
    lock.lock();
    stop_cv_.wait_for(lock, turn, [this] { return stopped_; });
  }
}

Manager::Stopped Manager::Shutdown() {
  StopLeading();
  if (housekeeping_.joinable()) housekeeping_.join();
  Stopped stopped;
  stopped.still_running = work_.WaitForInFlight(options_.in_flight_grace);
  {
    std::lock_guard lock(mu_);
    stopped.dropped = dropped_;
  }
  if (stopped.still_running == 0) work_.JoinWorkers();
  return stopped;
}

}  // namespace nodeguard::manager
