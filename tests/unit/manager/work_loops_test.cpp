#include "manager/work_loops.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/clock.h"
#include "manager/scripted_reconciler.h"
#include "observe/metrics.h"

namespace nodeguard::manager {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test_support::ScriptedReconciler;

class ProcessNextKeyTest : public ::testing::Test {
 protected:
  ProcessNextKeyTest()
      : reconciles_(
            registry_.MustCounter("nodeguard_reconcile_total", "h", {"reconciler", "result"})),
        seconds_(
            registry_.MustHistogram("nodeguard_reconcile_duration_seconds", "h", {"reconciler"})),
        queue_(QueueOptions(&clock_)) {}

  static kube::WorkQueue::Options QueueOptions(const Clock* clock) {
    kube::WorkQueue::Options o;
    o.name = "density";
    o.clock = clock;
    return o;
  }
  // Reconciles "node-1" once with `result` scripted.
  void ProcessOnce(Result<ReconcileResult> result) {
    reconciler_.script.push_back(std::move(result));
    queue_.Add("node-1");
    ASSERT_TRUE(ProcessNextKey(reconciler_, queue_, {&reconciles_, &seconds_}));
  }
  double Count(const std::string& result) {
    return reconciles_.WithLabels({"density", result}).Value();
  }
  // The key is handed out again only once the clock reached `delay`.
  void ExpectBackAfter(Duration delay) {
    clock_.Advance(delay - milliseconds(1));
    EXPECT_FALSE(queue_.TryGet().has_value()) << "back before " << delay.count() << " ns";
    clock_.Advance(milliseconds(1));
    auto key = queue_.TryGet();
    ASSERT_TRUE(key.has_value());
    EXPECT_EQ(*key, "node-1");
    queue_.Done(*key);
  }

  observe::MetricsRegistry registry_;
  observe::CounterFamily& reconciles_;
  observe::HistogramFamily& seconds_;
  FakeClock clock_;
  kube::WorkQueue queue_;
  ScriptedReconciler reconciler_{"density"};
};

TEST_F(ProcessNextKeyTest, SuccessForgetsTheKeyAndCountsIt) {
  ProcessOnce(ReconcileResult{});
  EXPECT_EQ(reconciler_.keys(), std::vector<std::string>{"node-1"});
  EXPECT_EQ(Count("success"), 1);
  EXPECT_EQ(queue_.Len(), 0u);
  EXPECT_EQ(queue_.NumRequeues("node-1"), 0);
  clock_.Advance(seconds(3600));
  EXPECT_FALSE(queue_.TryGet().has_value()) << "a success without requeue_after came back";
  EXPECT_EQ(seconds_.WithLabels({"density"}).Read().count, 1u);
}

TEST_F(ProcessNextKeyTest, SuccessWithRequeueAfterComesBackThen) {
  ReconcileResult r;
  r.requeue_after = seconds(5);
  ProcessOnce(r);
  EXPECT_EQ(Count("success"), 1);
  ExpectBackAfter(seconds(5));
}

TEST_F(ProcessNextKeyTest, PartialConflictIsCountedAsConflictAndRetriedAtRequeueAfter) {
  ReconcileResult r;
  r.requeue_after = seconds(2);
  r.partial_error = Error::Of(ErrorKind::kConflict, "409 on node-1");
  ProcessOnce(r);
  EXPECT_EQ(Count("conflict"), 1);
  EXPECT_EQ(Count("success"), 0);
  EXPECT_EQ(queue_.NumRequeues("node-1"), 0) << "not the queue's backoff";
  ExpectBackAfter(seconds(2));
}

TEST_F(ProcessNextKeyTest, PartialErrorWithoutRequeueAfterIsRetriedAfterOneSecond) {
  ReconcileResult r;
  r.partial_error = Error::Unavailable("one node's patch failed");
  ProcessOnce(r);
  EXPECT_EQ(Count("error"), 1);
  ExpectBackAfter(seconds(1));
}

TEST_F(ProcessNextKeyTest, ConflictUsesTheQueuesBackoff) {
  ProcessOnce(Error::Of(ErrorKind::kConflict, "409"));
  EXPECT_EQ(Count("conflict"), 1);
  EXPECT_EQ(queue_.NumRequeues("node-1"), 1);
}

TEST_F(ProcessNextKeyTest, ErrorUsesTheQueuesBackoffAndCountsUp) {
  ProcessOnce(Error::Unavailable("503"));
  EXPECT_EQ(Count("error"), 1);
  EXPECT_EQ(queue_.NumRequeues("node-1"), 1);
  clock_.Advance(seconds(1));
  ProcessOnce(Error::Unavailable("503"));  // Dedupes with the delayed add.
  EXPECT_EQ(Count("error"), 2);
  EXPECT_EQ(queue_.NumRequeues("node-1"), 2);
}

TEST_F(ProcessNextKeyTest, BeforeReconcileSeesTheReconcilerAndKeyFirst) {
  std::vector<std::string> seen;
  queue_.Add("node-1");
  ASSERT_TRUE(ProcessNextKey(reconciler_, queue_, {&reconciles_, &seconds_},
                             [&](std::string_view r, const std::string& key) {
                               seen.push_back(std::string(r) + "/" + key);
                               EXPECT_TRUE(reconciler_.keys().empty()) << "called after";
                             }));
  EXPECT_EQ(seen, std::vector<std::string>{"density/node-1"});
}

TEST_F(ProcessNextKeyTest, ShutDownQueueEndsTheWorkerWithoutReconciling) {
  queue_.ShutDown();
  EXPECT_FALSE(ProcessNextKey(reconciler_, queue_, {&reconciles_, &seconds_}));
  EXPECT_TRUE(reconciler_.keys().empty());
}

class WorkLoopsTest : public ::testing::Test {
 protected:
  observe::MetricsRegistry registry_;
  observe::CounterFamily& reconciles_ =
      registry_.MustCounter("nodeguard_reconcile_total", "h", {"reconciler", "result"});
  observe::HistogramFamily& seconds_ =
      registry_.MustHistogram("nodeguard_reconcile_duration_seconds", "h", {"reconciler"});
};

TEST_F(WorkLoopsTest, WorkersReconcileWhatEveryReconcilerEnqueues) {
  ScriptedReconciler policy("policy"), density("density");
  policy.all_keys = {"p1"};
  density.all_keys = {"n1", "n2"};
  WorkLoops work({&policy, &density}, {&reconciles_, &seconds_});
  ASSERT_EQ(work.loops().size(), 2u);
  EXPECT_EQ(work.loops()[1].queue->name(), "density");
  EXPECT_EQ(work.QueueOf(density), work.loops()[1].queue.get());
  ScriptedReconciler stranger("stranger");
  EXPECT_EQ(work.QueueOf(stranger), nullptr);
  work.EnqueueAll();
  work.StartWorkers(2);
  ASSERT_TRUE(policy.WaitForKeys(1));
  ASSERT_TRUE(density.WaitForKeys(2));
  const auto stopped = work.StopTakingWork(milliseconds(5000));
  EXPECT_EQ(stopped.still_running, 0u);
  work.JoinWorkers();
  EXPECT_EQ(reconciles_.WithLabels({"density", "success"}).Value(), 2);
  EXPECT_EQ(reconciles_.WithLabels({"policy", "success"}).Value(), 1);
}

TEST_F(WorkLoopsTest, StopTakingWorkDropsTheQueueAndReportsWhatIsStillRunning) {
  ScriptedReconciler remediation("remediation", /*hold_first=*/true);
  remediation.all_keys = {"a", "b", "c"};
  WorkLoops work({&remediation}, {&reconciles_, &seconds_});
  work.EnqueueAll();
  work.StartWorkers(1);
  ASSERT_TRUE(remediation.WaitForKeys(1));  // "a" is in flight, held.
  std::vector<process::ReconcilerProgress> progress = work.Progress();
  ASSERT_EQ(progress.size(), 1u);
  EXPECT_EQ(progress[0].reconciler, "remediation");
  const auto stopped = work.StopTakingWork(milliseconds(50));
  EXPECT_EQ(stopped.dropped, 2u);
  EXPECT_EQ(stopped.still_running, 1u);
  remediation.Release();
  work.JoinWorkers();
  EXPECT_EQ(remediation.keys(), std::vector<std::string>{"a"}) << "a dropped key was reconciled";
}

TEST_F(WorkLoopsTest, RecordDepthSetsEachQueuesLength) {
  ScriptedReconciler hygiene("hygiene");
  hygiene.all_keys = {"x", "y", "z"};
  WorkLoops work({&hygiene}, {&reconciles_, &seconds_});
  work.EnqueueAll();
  auto& depth = registry_.MustGauge("nodeguard_workqueue_depth", "h", {"queue"});
  work.RecordDepth(depth);
  EXPECT_EQ(depth.WithLabels({"hygiene"}).Value(), 3);
}

}  // namespace
}  // namespace nodeguard::manager
