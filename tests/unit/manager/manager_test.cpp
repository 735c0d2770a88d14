#include "manager/manager.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "manager/scripted_reconciler.h"
#include "observe/metrics.h"

namespace nodeguard::manager {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using test_support::ScriptedReconciler;

// Waits (real time, bounded) until `done` holds; the manager's threads act on
// their own schedule.
template <typename Pred>
bool Eventually(Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

class ManagerTest : public ::testing::Test {
 protected:
  ManagerOptions Options() {
    ManagerOptions o;
    o.workers_per_reconciler = 2;
    o.resync_period = minutes(5);
    o.in_flight_grace = seconds(10);
    o.queue_depth = &depth_;
    return o;
  }
  ReconcileMetrics Metrics() { return {&reconciles_, &seconds_}; }
  // A manager of `reconciler` alone, with one worker, leading, the first key
  // of reconciler.all_keys in flight (held, for hold_first reconcilers).
  std::unique_ptr<Manager> LeadWithOneWorker(ScriptedReconciler& reconciler) {
    ManagerOptions options = Options();
    options.workers_per_reconciler = 1;
    auto manager = std::make_unique<Manager>(std::vector<runtime::Reconciler*>{&reconciler},
                                             Metrics(), options, clock_);
    EXPECT_TRUE(manager->StartLeading());
    EXPECT_TRUE(reconciler.WaitForKeys(1));
    return manager;
  }
  double Successes(const std::string& reconciler) {
    return reconciles_.WithLabels({reconciler, "success"}).Value();
  }

  observe::MetricsRegistry registry_;
  observe::CounterFamily& reconciles_ =
      registry_.MustCounter("nodeguard_reconcile_total", "h", {"reconciler", "result"});
  observe::HistogramFamily& seconds_ =
      registry_.MustHistogram("nodeguard_reconcile_duration_seconds", "h", {"reconciler"});
  observe::GaugeFamily& depth_ = registry_.MustGauge("nodeguard_workqueue_depth", "h", {"queue"});
  FakeClock clock_;
};

TEST_F(ManagerTest, NothingIsReconciledBeforeLeadership) {
  ScriptedReconciler density("density");
  density.all_keys = {"n1"};
  Manager manager({&density}, Metrics(), Options(), clock_);
  manager.QueueOf(density)->Add("from-a-handler");  // Informers run on a standby too.
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_FALSE(manager.leading());
  EXPECT_TRUE(density.keys().empty()) << "a standby reconciled";
  EXPECT_EQ(density.enqueue_all_calls.load(), 0);
}

TEST_F(ManagerTest, GainedLeadershipEnqueuesAllAndRunsTheWorkers) {
  ScriptedReconciler policy("policy"), density("density");
  policy.all_keys = {"p1"};
  density.all_keys = {"n1", "n2"};
  std::vector<std::string> order;
  ManagerOptions options = Options();
  options.on_started_leading = [&] {
    order.push_back("started:" + std::to_string(density.enqueue_all_calls.load()));
  };
  Manager manager({&policy, &density}, Metrics(), options, clock_);
  manager.QueueOf(density)->Add("queued-as-standby");
  ASSERT_TRUE(manager.StartLeading());
  EXPECT_TRUE(manager.leading());
  EXPECT_EQ(order, std::vector<std::string>{"started:0"}) << "the hook runs before EnqueueAll";
  EXPECT_EQ(policy.enqueue_all_calls.load(), 1);
  EXPECT_EQ(density.enqueue_all_calls.load(), 1);
  ASSERT_TRUE(policy.WaitForKeys(1));
  ASSERT_TRUE(density.WaitForKeys(3)) << "what was queued as a standby is worked off too";
  EXPECT_FALSE(manager.StartLeading()) << "already leading";
  EXPECT_EQ(density.enqueue_all_calls.load(), 1);
  const Manager::Stopped stopped = manager.Shutdown();
  EXPECT_EQ(stopped.still_running, 0u);
  EXPECT_EQ(stopped.dropped, 0u);
  EXPECT_EQ(Successes("density"), 3);
  EXPECT_EQ(Successes("policy"), 1);
}

TEST_F(ManagerTest, LostLeadershipStopsTheWorkAndDropsWhatIsQueued) {
  ScriptedReconciler remediation("remediation", /*hold_first=*/true);
  remediation.all_keys = {"a", "b", "c"};
  auto manager_ptr = LeadWithOneWorker(remediation);  // "a" in flight, held; "b", "c" queued.
  Manager& manager = *manager_ptr;
  EXPECT_EQ(manager.StopLeading(), 2u);
  EXPECT_FALSE(manager.leading());
  manager.QueueOf(remediation)->Add("d");  // A late informer event: not taken.
  EXPECT_FALSE(manager.StartLeading()) << "leadership is not regained in one process";
  clock_.Advance(minutes(10));  // Past a resync: none runs once stopped.
  EXPECT_FALSE(manager.ResyncIfDue());
  remediation.Release();
  const Manager::Stopped stopped = manager.Shutdown();
  EXPECT_EQ(stopped.still_running, 0u);
  EXPECT_EQ(stopped.dropped, 2u);
  EXPECT_EQ(remediation.keys(), std::vector<std::string>{"a"}) << "dropped work was reconciled";
  EXPECT_EQ(remediation.enqueue_all_calls.load(), 1);
}

TEST_F(ManagerTest, ResyncFiresEveryPeriodWhileLeading) {
  ScriptedReconciler hygiene("hygiene");
  hygiene.all_keys = {"x"};
  Manager manager({&hygiene}, Metrics(), Options(), clock_);
  clock_.Advance(minutes(30));  // Time as a standby does not count.
  ASSERT_TRUE(manager.StartLeading());
  EXPECT_EQ(hygiene.enqueue_all_calls.load(), 1);
  clock_.Advance(minutes(5) - milliseconds(1));
  // Several housekeeping turns (at most 200 ms each): no resync yet.
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(hygiene.enqueue_all_calls.load(), 1) << "resynced before the period";
  clock_.Advance(milliseconds(1));
  ASSERT_TRUE(Eventually([&] { return hygiene.enqueue_all_calls.load() == 2; }));
  ASSERT_TRUE(hygiene.WaitForKeys(2)) << "the resync's keys are reconciled";
  // The next period counts from that resync.
  clock_.Advance(minutes(4));
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(hygiene.enqueue_all_calls.load(), 2);
  clock_.Advance(minutes(1));
  ASSERT_TRUE(Eventually([&] { return hygiene.enqueue_all_calls.load() == 3; }));
  EXPECT_FALSE(manager.ResyncIfDue()) << "just resynced";
}

TEST_F(ManagerTest, HousekeepingRunsWhileLeadingAndRecordsDepth) {
  ScriptedReconciler density("density", /*hold_first=*/true);
  density.all_keys = {"n1", "n2", "n3"};
  std::atomic<int> turns{0};
  ManagerOptions options = Options();
  options.workers_per_reconciler = 1;
  options.housekeeping = [&]() -> std::optional<milliseconds> {
    ++turns;
    return std::nullopt;
  };
  Manager manager({&density}, Metrics(), options, clock_);
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(turns.load(), 0) << "housekeeping as a standby";
  ASSERT_TRUE(manager.StartLeading());
  ASSERT_TRUE(density.WaitForKeys(1));  // n1 held; n2, n3 queued.
  ASSERT_TRUE(Eventually([&] { return depth_.WithLabels({"density"}).Value() == 2; }));
  ASSERT_TRUE(Eventually([&] { return turns.load() >= 2; }));
  density.Release();
  manager.Shutdown();
  const int after = turns.load();
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(turns.load(), after) << "housekeeping after shutdown";
}

TEST_F(ManagerTest, ShutdownWaitsForTheReconcileInFlight) {
  ScriptedReconciler remediation("remediation", /*hold_first=*/true);
  remediation.all_keys = {"a", "b"};
  auto manager = LeadWithOneWorker(remediation);
  auto shutdown = std::async(std::launch::async, [&] { return manager->Shutdown(); });
  clock_.Advance(seconds(10) - milliseconds(1));  // Within the grace.
  EXPECT_EQ(shutdown.wait_for(milliseconds(200)), std::future_status::timeout)
      << "gave up before the grace ran out";
  remediation.Release();
  ASSERT_EQ(shutdown.wait_for(seconds(10)), std::future_status::ready);
  const Manager::Stopped stopped = shutdown.get();
  EXPECT_EQ(stopped.still_running, 0u);
  EXPECT_EQ(stopped.dropped, 1u);
  EXPECT_EQ(Successes("remediation"), 1) << "the reconcile in flight finished";
}

TEST_F(ManagerTest, ShutdownGivesUpOnAStuckReconcileAtTheGrace) {
  ScriptedReconciler remediation("remediation", /*hold_first=*/true);
  remediation.all_keys = {"a"};
  auto manager = LeadWithOneWorker(remediation);
  auto shutdown = std::async(std::launch::async, [&] { return manager->Shutdown(); });
  EXPECT_EQ(shutdown.wait_for(milliseconds(100)), std::future_status::timeout);
  clock_.Advance(seconds(10));  // The grace ran out; the reconcile did not return.
  ASSERT_EQ(shutdown.wait_for(seconds(5)), std::future_status::ready) << "waited past the grace";
  EXPECT_EQ(shutdown.get().still_running, 1u);
  remediation.Release();  // So the destructor can join the worker.
}

TEST_F(ManagerTest, ShutdownBeforeLeadershipKeepsItFromStarting) {
  ScriptedReconciler policy("policy");
  policy.all_keys = {"p1"};
  Manager manager({&policy}, Metrics(), Options(), clock_);
  manager.QueueOf(policy)->Add("p0");
  const Manager::Stopped stopped = manager.Shutdown();
  EXPECT_EQ(stopped.dropped, 1u);
  EXPECT_EQ(stopped.still_running, 0u);
  EXPECT_FALSE(manager.StartLeading()) << "an elector's late callback";
  EXPECT_EQ(policy.enqueue_all_calls.load(), 0);
  EXPECT_TRUE(policy.keys().empty());
}

}  // namespace
}  // namespace nodeguard::manager
