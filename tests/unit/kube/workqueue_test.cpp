#include "kube/workqueue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace nodeguard::kube {
namespace {

using namespace std::chrono_literals;

// ---------------------------------------------------------------- rate limiters

TEST(ItemExponentialFailureRateLimiter, DoublesPerItemUpToTheCap) {
  ItemExponentialFailureRateLimiter limiter(5ms, 1000s);
  std::vector<Duration> got;
  for (int i = 0; i < 5; ++i) got.push_back(limiter.When("a"));
  EXPECT_EQ(got, (std::vector<Duration>{5ms, 10ms, 20ms, 40ms, 80ms}));
  EXPECT_EQ(limiter.When("b"), 5ms);  // Items are independent.
  EXPECT_EQ(limiter.NumRequeues("a"), 5);
  for (int i = 0; i < 30; ++i) limiter.When("a");
  EXPECT_EQ(limiter.When("a"), 1000s);
  for (int i = 0; i < 2000; ++i) limiter.When("a");  // 2^2000 must not overflow anything.
  EXPECT_EQ(limiter.When("a"), 1000s);
  limiter.Forget("a");
  EXPECT_EQ(limiter.NumRequeues("a"), 0);
  EXPECT_EQ(limiter.When("a"), 5ms);
}

TEST(BucketRateLimiter, BurstThenTenPerSecond) {
  FakeClock clock;
  BucketRateLimiter limiter(10, 100, clock);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(limiter.When("x"), Duration::zero()) << i;
  // The bucket is empty: each further retry waits one more 100 ms slot.
  EXPECT_EQ(limiter.When("x"), 100ms);
  EXPECT_EQ(limiter.When("y"), 200ms);
  EXPECT_EQ(limiter.When("z"), 300ms);
  clock.Advance(1s);  // Ten tokens refilled, three of them already promised.
  for (int i = 0; i < 7; ++i) ASSERT_EQ(limiter.When("x"), Duration::zero()) << i;
  EXPECT_EQ(limiter.When("x"), 100ms);
  clock.Advance(1h);  // Refills to the burst, not beyond.
  for (int i = 0; i < 100; ++i) ASSERT_EQ(limiter.When("x"), Duration::zero());
  EXPECT_GT(limiter.When("x"), Duration::zero());
  EXPECT_EQ(limiter.NumRequeues("x"), 0);
}

TEST(DefaultControllerRateLimiter, MaxOfPerItemAndOverall) {
  FakeClock clock;
  auto limiter = DefaultControllerRateLimiter(clock);
  EXPECT_EQ(limiter->When("a"), 5ms);
  EXPECT_EQ(limiter->When("a"), 10ms);
  EXPECT_EQ(limiter->NumRequeues("a"), 2);
  // 98 more distinct items use up the burst; then the bucket dominates.
  for (int i = 0; i < 98; ++i) limiter->When("item-" + std::to_string(i));
  EXPECT_EQ(limiter->When("fresh"), 100ms);  // Per item it would be 5 ms.
  limiter->Forget("a");
  EXPECT_EQ(limiter->NumRequeues("a"), 0);
}

// ---------------------------------------------------------------- queue semantics

class WorkQueueTest : public ::testing::Test {
 protected:
  WorkQueue::Options FakeOptions() {
    WorkQueue::Options o;
    o.name = "test";
    o.clock = &clock_;
    return o;
  }
  FakeClock clock_;
};

TEST_F(WorkQueueTest, DeduplicatesAndKeepsFifoOrder) {
  WorkQueue q(FakeOptions());
  q.Add("a");
  q.Add("b");
  q.Add("a");
  q.Add("c");
  q.Add("b");
  EXPECT_EQ(q.Len(), 3u);
  EXPECT_EQ(q.TryGet(), "a");
  EXPECT_EQ(q.TryGet(), "b");
  EXPECT_EQ(q.TryGet(), "c");
  EXPECT_EQ(q.TryGet(), std::nullopt);
  EXPECT_EQ(q.Metrics().adds, 3u);
}

TEST_F(WorkQueueTest, AKeyInFlightIsNotHandedOutAgainButRequeuedOnDone) {
  WorkQueue q(FakeOptions());
  q.Add("a");
  ASSERT_EQ(q.TryGet(), "a");
  q.Add("a");  // Changed while processing.
  q.Add("a");
  EXPECT_EQ(q.Len(), 0u);
  EXPECT_EQ(q.TryGet(), std::nullopt);  // Never to a second worker.
  q.Done("a");
  EXPECT_EQ(q.Len(), 1u);
  EXPECT_EQ(q.TryGet(), "a");  // Processed again, once.
  q.Done("a");
  EXPECT_EQ(q.TryGet(), std::nullopt);
}

TEST_F(WorkQueueTest, DoneWithoutChangesDoesNotRequeue) {
  WorkQueue q(FakeOptions());
  q.Add("a");
  q.TryGet();
  q.Done("a");
  EXPECT_EQ(q.Len(), 0u);
  q.Done("never-got");  // Ignored.
  EXPECT_EQ(q.Len(), 0u);
}

TEST_F(WorkQueueTest, AddAfterWaitsForTheClockAndKeepsTheEarliestTime) {
  WorkQueue q(FakeOptions());
  q.AddAfter("slow", 10s);
  q.AddAfter("fast", 2s);
  q.AddAfter("slow", 20s);  // Later than the pending time: ignored.
  q.AddAfter("fast", 1s);   // Earlier: wins.
  q.AddAfter("now", 0s);
  EXPECT_EQ(q.Metrics().delayed, 2);
  EXPECT_EQ(q.TryGet(), "now");
  EXPECT_EQ(q.TryGet(), std::nullopt);
  clock_.Advance(1s);
  EXPECT_EQ(q.TryGet(), "fast");
  clock_.Advance(8s);
  EXPECT_EQ(q.TryGet(), std::nullopt);
  clock_.Advance(1s);
  EXPECT_EQ(q.TryGet(), "slow");
  EXPECT_EQ(q.TryGet(), std::nullopt);
  EXPECT_EQ(q.Metrics().delayed, 0);
}

TEST_F(WorkQueueTest, DelayedKeyAlreadyQueuedIsNotDuplicated) {
  WorkQueue q(FakeOptions());
  q.Add("a");
  q.AddAfter("a", 1s);
  clock_.Advance(2s);
  EXPECT_EQ(q.TryGet(), "a");
  EXPECT_EQ(q.TryGet(), std::nullopt);
}

TEST_F(WorkQueueTest, AddRateLimitedBacksOffPerKeyAndForgetResets) {
  WorkQueue q(FakeOptions());
  q.AddRateLimited("a");  // 5 ms
  EXPECT_EQ(q.TryGet(), std::nullopt);
  clock_.Advance(5ms);
  ASSERT_EQ(q.TryGet(), "a");
  q.Done("a");
  q.AddRateLimited("a");  // 10 ms
  clock_.Advance(9ms);
  EXPECT_EQ(q.TryGet(), std::nullopt);
  clock_.Advance(1ms);
  ASSERT_EQ(q.TryGet(), "a");
  EXPECT_EQ(q.NumRequeues("a"), 2);
  q.Forget("a");
  q.Done("a");
  EXPECT_EQ(q.NumRequeues("a"), 0);
  q.AddRateLimited("a");
  clock_.Advance(5ms);
  EXPECT_EQ(q.TryGet(), "a");
  EXPECT_EQ(q.Metrics().retries, 3u);
}

TEST_F(WorkQueueTest, CustomRateLimiter) {
  WorkQueue::Options o = FakeOptions();
  o.rate_limiter = std::make_unique<ItemExponentialFailureRateLimiter>(1s, 4s);
  WorkQueue q(std::move(o));
  for (Duration expected : {1s, 2s, 4s, 4s}) {
    q.AddRateLimited("k");
    clock_.Advance(expected - 1ms);
    EXPECT_EQ(q.TryGet(), std::nullopt);
    clock_.Advance(1ms);
    ASSERT_EQ(q.TryGet(), "k");
    q.Done("k");
  }
}

TEST_F(WorkQueueTest, ShutDownStopsAddsDropsDelayedAndDrainsQueued) {
  WorkQueue q(FakeOptions());
  q.Add("a");
  q.AddAfter("later", 1s);
  q.ShutDown();
  EXPECT_TRUE(q.ShuttingDown());
  q.Add("b");  // Ignored.
  q.AddRateLimited("c");
  clock_.Advance(1h);
  EXPECT_EQ(q.Get(), "a");  // Queued keys are still handed out.
  EXPECT_EQ(q.Get(), std::nullopt);
  EXPECT_EQ(q.Len(), 0u);
}

TEST_F(WorkQueueTest, MetricsTrackLatencyAndWork) {
  WorkQueue q(FakeOptions());
  q.Add("a");
  q.Add("b");
  clock_.Advance(2s);
  ASSERT_EQ(q.TryGet(), "a");
  clock_.Advance(3s);
  WorkQueueMetrics m = q.Metrics();
  EXPECT_EQ(m.depth, 1);
  EXPECT_DOUBLE_EQ(m.queue_seconds_sum, 2.0);
  EXPECT_DOUBLE_EQ(m.unfinished_work_seconds, 3.0);
  EXPECT_DOUBLE_EQ(m.longest_running_processor_seconds, 3.0);
  q.Done("a");
  m = q.Metrics();
  EXPECT_DOUBLE_EQ(m.work_seconds_sum, 3.0);
  EXPECT_EQ(m.processed, 1u);
  EXPECT_DOUBLE_EQ(m.unfinished_work_seconds, 0.0);
}

// ---------------------------------------------------------------- with real threads

TEST(WorkQueueThreads, GetBlocksUntilAddAndShutDownReleasesWorkers) {
  WorkQueue q;
  std::atomic<int> got{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < 3; ++i) {
    workers.emplace_back([&] {
      while (auto key = q.Get()) {
        ++got;
        q.Done(*key);
      }
    });
  }
  q.Add("x");
  q.Add("y");
  while (got < 2) std::this_thread::yield();
  q.ShutDown();
  for (auto& w : workers) w.join();
  EXPECT_EQ(got, 2);
}

TEST(WorkQueueThreads, BlockedGetWakesForADelayedKey) {
  WorkQueue q;  // Real clock.
  std::thread adder([&] { q.AddAfter("soon", 20ms); });
  auto key = q.Get();
  adder.join();
  EXPECT_EQ(key, "soon");
}

// Many workers, keys added from several threads while being processed: no
// key may ever be processed by two workers at once, and every key added
// after its last processing started must be processed again.
TEST(WorkQueueThreads, NoKeyIsProcessedConcurrently) {
  WorkQueue q;
  constexpr int kKeys = 20;
  constexpr int kWorkers = 8;
  constexpr int kAddsPerProducer = 3000;
  std::mutex mu;
  std::set<std::string> in_flight;           // Guarded by mu.
  std::map<std::string, int> processed;      // Guarded by mu.
  std::map<std::string, int> added_version;  // Guarded by mu: bumps on each Add.
  std::map<std::string, int> seen_version;   // Guarded by mu: version at last processing start.
  std::atomic<int> overlaps{0};

  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&] {
      while (auto key = q.Get()) {
        {
          std::lock_guard lock(mu);
          if (!in_flight.insert(*key).second) ++overlaps;
          seen_version[*key] = added_version[*key];
        }
        std::this_thread::yield();
        {
          std::lock_guard lock(mu);
          in_flight.erase(*key);
          ++processed[*key];
        }
        q.Done(*key);
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < 3; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kAddsPerProducer; ++i) {
        std::string key = "key-" + std::to_string((i * 7 + p) % kKeys);
        {
          std::lock_guard lock(mu);
          ++added_version[key];
        }
        q.Add(key);
      }
    });
  }
  for (auto& p : producers) p.join();
  q.ShutDownWithDrain();
  for (auto& w : workers) w.join();

  EXPECT_EQ(overlaps, 0);
  for (const auto& [key, version] : added_version) {
    EXPECT_EQ(seen_version[key], version) << key << " lost its last change";
    EXPECT_GE(processed[key], 1) << key;
  }
  EXPECT_EQ(q.Len(), 0u);
  // How much deduplication happens here depends on thread timing, so it is
  // not asserted; WorkQueueTest.DeduplicatesAndKeepsFifoOrder proves it.
}

TEST(WorkQueueThreads, ShutDownWithDrainWaitsForInFlightWork) {
  WorkQueue q;
  q.Add("a");
  q.Add("b");
  std::atomic<bool> finished_a{false};
  std::atomic<int> done{0};
  std::thread worker([&] {
    while (auto key = q.Get()) {
      std::this_thread::sleep_for(20ms);
      if (*key == "a") finished_a = true;
      ++done;
      q.Done(*key);
    }
  });
  while (q.Len() == 2) std::this_thread::yield();  // The worker has taken "a".
  q.ShutDownWithDrain();
  EXPECT_TRUE(finished_a);
  EXPECT_EQ(done, 2);  // "b" was already queued: drained too.
  worker.join();
}

// A leader's SIGTERM: the keys in flight finish, the backlog is abandoned
// (the next leader recomputes every key).
TEST(WorkQueue, ShutDownDroppingQueuedDropsTheBacklogButNotTheKeysInFlight) {
  FakeClock clock;
  WorkQueue::Options options;
  options.clock = &clock;
  WorkQueue q(std::move(options));
  q.Add("in-flight");
  q.Add("queued-1");
  q.Add("queued-2");
  q.AddAfter("delayed", 1s);
  ASSERT_EQ(q.TryGet(), "in-flight");
  q.Add("in-flight");  // Changed while processing: would be handed out again after Done.

  EXPECT_EQ(q.ShutDownDroppingQueued(), 4u);  // queued-1, queued-2, delayed, in-flight again.
  EXPECT_TRUE(q.ShuttingDown());
  EXPECT_EQ(q.Len(), 0u);
  EXPECT_EQ(q.InFlight(), 1u);
  EXPECT_EQ(q.Get(), std::nullopt) << "no new work once shutting down";
  q.Add("late");
  EXPECT_EQ(q.Get(), std::nullopt);

  EXPECT_FALSE(q.WaitForInFlight(10ms));
  q.Done("in-flight");
  EXPECT_EQ(q.InFlight(), 0u);
  EXPECT_TRUE(q.WaitForInFlight(0ms));
  clock.Advance(1h);
  EXPECT_EQ(q.TryGet(), std::nullopt) << "neither the delayed key nor the changed one comes back";
}

TEST(WorkQueueThreads, WaitForInFlightReturnsWhenTheRunningKeyIsDone) {
  WorkQueue q;
  q.Add("a");
  q.Add("b");
  std::atomic<bool> finished_a{false};
  std::atomic<int> done{0};
  std::atomic<bool> took{false};
  std::thread worker([&] {
    while (auto key = q.Get()) {
      took = true;
      std::this_thread::sleep_for(50ms);
      if (*key == "a") finished_a = true;
      ++done;
      q.Done(*key);
    }
  });
  while (!took) std::this_thread::yield();    // The worker has taken "a".
  EXPECT_EQ(q.ShutDownDroppingQueued(), 1u);  // "b".
  EXPECT_TRUE(q.WaitForInFlight(10s));
  EXPECT_TRUE(finished_a);
  worker.join();
  EXPECT_EQ(done, 1) << "the queued key was not run";
}

}  // namespace
}  // namespace nodeguard::kube
