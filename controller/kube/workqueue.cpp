#include "kube/workqueue.h"

#include <algorithm>

namespace nodeguard::kube {
namespace {

double Seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

WorkQueue::WorkQueue(Options options)
    : name_(std::move(options.name)),
      clock_(options.clock != nullptr ? *options.clock : RealClock::Instance()),
      rate_limiter_(options.rate_limiter ? std::move(options.rate_limiter)
                                         : DefaultControllerRateLimiter(clock_)) {}

WorkQueue::~WorkQueue() { ShutDown(); }

void WorkQueue::AddLocked(const std::string& key, MonoTime now) {
  if (shutting_down_) return;
  if (!dirty_.insert(key).second) return;  // Already queued, or requeued on Done.
  ++counters_.adds;
  if (processing_.contains(key)) return;  // Done() will queue it.
  queue_.push_back(key);
  queued_at_[key] = now;
  cv_.notify_one();
}

void WorkQueue::PromoteReadyLocked(MonoTime now) {
  while (!delayed_.empty() && delayed_.top().ready <= now) {
    Delayed top = delayed_.top();
    delayed_.pop();
    auto it = delayed_ready_.find(top.key);
    // A superseded entry: the key was re-delayed to an earlier time (or is gone).
    if (it == delayed_ready_.end() || it->second != top.ready) continue;
    delayed_ready_.erase(it);
    AddLocked(top.key, now);
  }
}

void WorkQueue::Add(const std::string& key) {
  std::lock_guard lock(mu_);
  AddLocked(key, clock_.Monotonic());
}

void WorkQueue::AddAfter(const std::string& key, Duration delay) {
  std::lock_guard lock(mu_);
  if (shutting_down_) return;
  MonoTime now = clock_.Monotonic();
  if (delay <= Duration::zero()) {
    AddLocked(key, now);
    return;
  }
  MonoTime ready = now + delay;
  auto it = delayed_ready_.find(key);
  if (it != delayed_ready_.end() && it->second <= ready) return;  // Already due sooner.
  delayed_ready_[key] = ready;
  delayed_.push(Delayed{ready, sequence_++, key});
  cv_.notify_all();  // A blocked Get may need to wake earlier.
}

void WorkQueue::AddRateLimited(const std::string& key) {
  Duration delay = rate_limiter_->When(key);
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return;
    ++counters_.retries;
  }
  AddAfter(key, delay);
}

void WorkQueue::Forget(const std::string& key) { rate_limiter_->Forget(key); }

int WorkQueue::NumRequeues(const std::string& key) const { return rate_limiter_->NumRequeues(key); }

std::optional<std::string> WorkQueue::PopLocked(MonoTime now) {
  if (queue_.empty()) return std::nullopt;
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  dirty_.erase(key);
  auto at = queued_at_.find(key);
  if (at != queued_at_.end()) {
    counters_.queue_seconds_sum += Seconds(now - at->second);
    queued_at_.erase(at);
  }
  processing_[key] = now;
  return key;
}

std::optional<std::string> WorkQueue::TryGet() {
  std::lock_guard lock(mu_);
  MonoTime now = clock_.Monotonic();
  PromoteReadyLocked(now);
  return PopLocked(now);
}

std::optional<std::string> WorkQueue::Get() {
  std::unique_lock lock(mu_);
  while (true) {
    MonoTime now = clock_.Monotonic();
    PromoteReadyLocked(now);
    if (!queue_.empty()) return PopLocked(now);
    if (shutting_down_) return std::nullopt;
    if (delayed_.empty()) {
      cv_.wait(lock);
    } else {
      // Wake when the earliest delayed key is due by the injected clock. With
      // a fake clock that does not move this waits in real time, so tests
      // use TryGet() for delayed keys.
      cv_.wait_for(lock, delayed_.top().ready - now);
    }
  }
}

void WorkQueue::Done(const std::string& key) {
  std::lock_guard lock(mu_);
  MonoTime now = clock_.Monotonic();
  auto it = processing_.find(key);
  if (it == processing_.end()) return;
  counters_.work_seconds_sum += Seconds(now - it->second);
  ++counters_.processed;
  processing_.erase(it);
  if (dirty_.contains(key)) {
    // Added while it was processing: hand it out again, even while shutting
    // down, so a drain finishes the latest change too.
    queue_.push_back(key);
    queued_at_[key] = now;
  }
  cv_.notify_all();
}

void WorkQueue::ShutDown() {
  std::lock_guard lock(mu_);
  shutting_down_ = true;
  delayed_ = {};
  delayed_ready_.clear();
  cv_.notify_all();
}

void WorkQueue::ShutDownWithDrain() {
  std::unique_lock lock(mu_);
  shutting_down_ = true;
  delayed_ = {};
  delayed_ready_.clear();
  cv_.notify_all();
  cv_.wait(lock, [this] { return queue_.empty() && processing_.empty(); });
}

size_t WorkQueue::ShutDownDroppingQueued() {
  std::lock_guard lock(mu_);
  shutting_down_ = true;
  std::unordered_set<std::string> dropped(queue_.begin(), queue_.end());
  for (const auto& [key, ready] : delayed_ready_) dropped.insert(key);
  for (const auto& key : dirty_) dropped.insert(key);
  queue_.clear();
  queued_at_.clear();
  dirty_.clear();  // So Done() of an in-flight key does not requeue it.
  delayed_ = {};
  delayed_ready_.clear();
  cv_.notify_all();
  return dropped.size();
}

bool WorkQueue::WaitForInFlight(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return processing_.empty(); });
}

size_t WorkQueue::InFlight() const {
  std::lock_guard lock(mu_);
  return processing_.size();
}

bool WorkQueue::ShuttingDown() const {
  std::lock_guard lock(mu_);
  return shutting_down_;
}

size_t WorkQueue::Len() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

WorkQueueMetrics WorkQueue::Metrics() const {
  std::lock_guard lock(mu_);
  MonoTime now = clock_.Monotonic();
  WorkQueueMetrics m = counters_;
  m.depth = static_cast<int64_t>(queue_.size());
  m.delayed = static_cast<int64_t>(delayed_ready_.size());
  m.unfinished_work_seconds = 0;
  m.longest_running_processor_seconds = 0;
  for (const auto& [key, started] : processing_) {
    double s = Seconds(now - started);
    m.unfinished_work_seconds += s;
    m.longest_running_processor_seconds = std::max(m.longest_running_processor_seconds, s);
  }
  return m;
}

}  // namespace nodeguard::kube
