#pragma once

// WorkQueue: client-go's rate-limiting workqueue for controller keys
// ("namespace/name"). Guarantees:
//  - a key queued several times is processed once (deduplicated);
//  - a key is never handed to two workers at once: Get() marks it processing
//    until Done(); an Add() meanwhile marks it dirty, and Done() requeues it,
//    so the change that arrived during processing is not lost;
//  - AddAfter() delays a key (the earliest requested time wins);
//    AddRateLimited() delays it per its RateLimiter (by default 5 ms doubling
//    to 1000 s per key, and 10 qps / burst 100 overall); Forget() resets it.
// Workers loop: key = Get(); process; on failure AddRateLimited(key), on
// success Forget(key); then Done(key).
//
// Thread-safe. Time comes from the injected Clock: delayed keys become ready
// when it says so (tests advance a FakeClock and call TryGet()).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "kube/rate_limiter.h"

namespace nodeguard::kube {

// Snapshot for metrics (client-go's workqueue metrics).
struct WorkQueueMetrics {
  int64_t depth = 0;                   // Keys ready to be handed out.
  int64_t delayed = 0;                 // Keys waiting for AddAfter/AddRateLimited.
  uint64_t adds = 0;                   // Keys newly queued (not counting deduplicated adds).
  uint64_t retries = 0;                // AddRateLimited calls.
  uint64_t processed = 0;              // Done calls.
  double queue_seconds_sum = 0;        // Time from queued to Get, summed over Gets.
  double work_seconds_sum = 0;         // Time from Get to Done, summed over Done calls.
  double unfinished_work_seconds = 0;  // In-flight processing time so far.
  double longest_running_processor_seconds = 0;  // The oldest in-flight Get.
};

class WorkQueue {
 public:
  struct Options {
    std::string name;
    const Clock* clock = nullptr;               // Null: the real clock.
    std::unique_ptr<RateLimiter> rate_limiter;  // Null: DefaultControllerRateLimiter.
  };

  explicit WorkQueue(Options options);
  WorkQueue() : WorkQueue(Options{}) {}
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  const std::string& name() const { return name_; }

  // Queues `key` unless it is already queued; ignored after ShutDown().
  void Add(const std::string& key);
  // Queues `key` once `delay` has passed (at once if delay <= 0).
  void AddAfter(const std::string& key, Duration delay);
  // AddAfter(key, rate_limiter.When(key)): the retry path.
  void AddRateLimited(const std::string& key);
  void Forget(const std::string& key);
  int NumRequeues(const std::string& key) const;

  // Blocks until a key is ready, and marks it processing. Returns nullopt
  // once the queue is shut down and empty: the worker should exit.
  std::optional<std::string> Get();
  // Like Get() but never blocks: nullopt when nothing is ready now.
  std::optional<std::string> TryGet();
  // REQUIRES: `key` came from Get()/TryGet() and Done was not yet called.
  void Done(const std::string& key);

  // Stops accepting keys; drops delayed ones; Get() still hands out keys
  // already queued, then returns nullopt.
  void ShutDown();
  // ShutDown(), then waits until every queued and in-flight key is Done.
  // REQUIRES: workers are still calling Get()/Done(), or it waits forever.
  void ShutDownWithDrain();
  // Stops accepting keys and drops every key not yet handed out: queued,
  // delayed, and those added again while in flight (Done() will not requeue
  // them). Get() returns nullopt at once. Keys already handed out stay in
  // flight until their Done(). Returns how many keys were dropped. For a
  // level-triggered controller giving up leadership: whoever leads next
  // recomputes every key, so finishing the backlog would only delay the
  // hand-over.
  size_t ShutDownDroppingQueued();
  // Waits (in real time) until no key is in flight, at most `timeout`.
  // Returns true when none is.
  bool WaitForInFlight(std::chrono::milliseconds timeout);
  size_t InFlight() const;
  bool ShuttingDown() const;

  // Keys ready to be handed out (excludes delayed and in-flight ones).
  size_t Len() const;
  WorkQueueMetrics Metrics() const;

 private:
  struct Delayed {
    MonoTime ready;
    uint64_t sequence;  // FIFO among equal times.
    std::string key;
    bool operator>(const Delayed& o) const {
      return ready != o.ready ? ready > o.ready : sequence > o.sequence;
    }
  };

  // REQUIRES: mu_ held.
  void AddLocked(const std::string& key, MonoTime now);
  void PromoteReadyLocked(MonoTime now);
  std::optional<std::string> PopLocked(MonoTime now);

  const std::string name_;
  const Clock& clock_;
  const std::unique_ptr<RateLimiter> rate_limiter_;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // Signalled on adds, Done and shutdown.
  // All guarded by mu_.
  std::deque<std::string> queue_;
  std::unordered_set<std::string> dirty_;                 // Queued or to requeue on Done.
  std::unordered_map<std::string, MonoTime> queued_at_;   // For queue latency.
  std::unordered_map<std::string, MonoTime> processing_;  // Key -> when Get handed it out.
  std::priority_queue<Delayed, std::vector<Delayed>, std::greater<>> delayed_;
  std::unordered_map<std::string, MonoTime> delayed_ready_;  // Earliest time per delayed key.
  uint64_t sequence_ = 0;
  bool shutting_down_ = false;
  WorkQueueMetrics counters_;  // adds, retries, processed and the sums.
};

}  // namespace nodeguard::kube
