#include "density/cap.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace nodeguard::density {
namespace {

kube::Node MakeNode(int64_t cpu_millis, int64_t allocatable_pods) {
  kube::Node n;
  n.meta.name = "worker-1";
  n.capacity.cpu_millis = cpu_millis;
  n.allocatable.cpu_millis = cpu_millis;
  n.allocatable.pods = allocatable_pods;
  n.capacity.pods = allocatable_pods;
  return n;
}

api::PodDensitySpec Spec(std::optional<int32_t> max_pods, std::optional<int32_t> per_core,
                         IntOrPercent release = IntOrPercent::Percent(90), int32_t ahead = 0) {
  api::PodDensitySpec s;
  s.enabled = true;
  s.max_pods = max_pods;
  s.max_pods_per_core = per_core;
  s.release_below = release;
  s.taint_ahead = ahead;
  return s;
}

struct CapCase {
  const char* name;
  api::PodDensitySpec spec;
  int64_t cpu_millis;
  int64_t allocatable_pods;
  std::optional<DensityCap> want;
};

TEST(ComputeCap, Table) {
  const CapCase cases[] = {
      {"maxPods only", Spec(70, {}), 8000, 110, DensityCap{70, 70, 63, CapBound::kMaxPods}},
      {"perCore only", Spec({}, 10), 8000, 110, DensityCap{80, 80, 72, CapBound::kMaxPodsPerCore}},
      {"both, perCore smaller", Spec(100, 10), 8000, 110,
       DensityCap{80, 80, 72, CapBound::kMaxPodsPerCore}},
      {"both, maxPods smaller", Spec(70, 10), 8000, 110,
       DensityCap{70, 70, 63, CapBound::kMaxPods}},
      {"equal terms: the first (maxPods) is named", Spec(80, 10), 8000, 110,
       DensityCap{80, 80, 72, CapBound::kMaxPods}},
      {"allocatable smaller", Spec(200, 50), 8000, 110,
       DensityCap{110, 110, 99, CapBound::kAllocatablePods}},
      {"allocatable absent (0) is ignored", Spec(70, {}), 8000, 0,
       DensityCap{70, 70, 63, CapBound::kMaxPods}},
      {"fractional cores round down", Spec({}, 10), 7900, 110,
       DensityCap{70, 70, 63, CapBound::kMaxPodsPerCore}},
      {"under one core counts as one", Spec({}, 10), 500, 110,
       DensityCap{10, 10, 9, CapBound::kMaxPodsPerCore}},
      {"zero CPU: perCore alone gives no cap", Spec({}, 10), 0, 110, std::nullopt},
      {"zero CPU: maxPods still applies", Spec(70, 10), 0, 110,
       DensityCap{70, 70, 63, CapBound::kMaxPods}},
      {"no policy term: allocatable alone is no cap", Spec({}, {}), 8000, 110, std::nullopt},
      {"release as a count", Spec(70, {}, IntOrPercent::Count(60)), 8000, 110,
       DensityCap{70, 70, 60, CapBound::kMaxPods}},
      {"release count at the cap is clamped below it", Spec(70, {}, IntOrPercent::Count(70)), 8000,
       110, DensityCap{70, 70, 70, CapBound::kMaxPods}},
      {"release count above the cap is clamped", Spec(70, {}, IntOrPercent::Count(500)), 8000, 110,
       DensityCap{70, 70, 70, CapBound::kMaxPods}},
      {"release 0 still releases an empty node", Spec(70, {}, IntOrPercent::Count(0)), 8000, 110,
       DensityCap{70, 70, 1, CapBound::kMaxPods}},
      {"release percent rounds down (90% of 15 = 13.5)", Spec(15, {}), 8000, 110,
       DensityCap{15, 15, 13, CapBound::kMaxPods}},
      {"release percent rounds down (85% of 10 = 8.5)", Spec(10, {}, IntOrPercent::Percent(85)),
       8000, 110, DensityCap{10, 10, 8, CapBound::kMaxPods}},
      {"release percent exact (50% of 10)", Spec(10, {}, IntOrPercent::Percent(50)), 8000, 110,
       DensityCap{10, 10, 5, CapBound::kMaxPods}},
      {"release percent of a tiny cap stays >= 1", Spec(1, {}), 8000, 110,
       DensityCap{1, 1, 1, CapBound::kMaxPods}},
      {"taintAhead lowers the taint mark", Spec(70, {}, IntOrPercent::Percent(90), 2), 8000, 110,
       DensityCap{70, 68, 63, CapBound::kMaxPods}},
      {"taintAhead below the release mark clamps the release mark",
       Spec(10, {}, IntOrPercent::Percent(90), 3), 8000, 110,
       DensityCap{10, 7, 7, CapBound::kMaxPods}},
      {"taintAhead larger than the cap never taints an empty node",
       Spec(5, {}, IntOrPercent::Percent(90), 10), 8000, 110,
       DensityCap{5, 1, 1, CapBound::kMaxPods}},
      {"cap 0 is always capped", Spec(0, {}), 8000, 110, DensityCap{0, 0, 0, CapBound::kMaxPods}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::optional<DensityCap> want = c.want;
    if (want) want->policy_cap = want->cap;  // Not adapted: the policy's cap is the cap.
    EXPECT_EQ(ComputeCap(c.spec, MakeNode(c.cpu_millis, c.allocatable_pods)), want);
  }
}

TEST(ComputeCap, TheIncidentNodes) {
  // 8-core workers; Kubernetes' published limit min(110, 10 x cores) = 80, the
  // operators' rule "about 70".
  auto cap = ComputeCap(Spec(70, 10), MakeNode(8000, 110));
  ASSERT_TRUE(cap);
  EXPECT_EQ(cap->cap, 70);
}

// The adaptive cap (cap.h, rows A1-A5): one test per row.
kube::Node NodeAt(kube::EarlyWarningLevel level) {
  kube::Node n = MakeNode(8000, 110);
  n.early_warning.level = level;
  return n;
}

std::optional<api::AdaptiveCapSpec> ReduceBy(IntOrPercent by) { return api::AdaptiveCapSpec{by}; }

DensityCap Cap(int64_t cap, int64_t taint_at, int64_t release_below, int64_t policy_cap,
               CapAdaptation adaptation) {
  DensityCap c{cap, taint_at, release_below, CapBound::kMaxPods};
  c.policy_cap = policy_cap;
  c.adaptation = adaptation;
  return c;
}

TEST(ComputeCap, RowA1NoAdaptiveCapIgnoresTheLevel) {
  EXPECT_EQ(ComputeCap(Spec(70, {}), NodeAt(kube::EarlyWarningLevel::kCritical)),
            Cap(70, 70, 63, 70, CapAdaptation::kNone));
}

TEST(ComputeCap, RowA2AbsentOrHealthyKeepsThePolicyCap) {
  for (auto level : {kube::EarlyWarningLevel::kAbsent, kube::EarlyWarningLevel::kHealthy}) {
    SCOPED_TRACE(kube::EarlyWarningLevelName(level));
    EXPECT_EQ(ComputeCap(Spec(70, {}), NodeAt(level), ReduceBy(IntOrPercent::Percent(20))),
              Cap(70, 70, 63, 70, CapAdaptation::kNone));
  }
}

TEST(ComputeCap, RowA3DegradedOrCriticalLowersTheCapAndItsMarks) {
  for (auto level : {kube::EarlyWarningLevel::kDegraded, kube::EarlyWarningLevel::kCritical}) {
    SCOPED_TRACE(kube::EarlyWarningLevelName(level));
    // 20% of 70 = 14: cap 56, release 90% of 56 = 50.4 -> 50.
    EXPECT_EQ(ComputeCap(Spec(70, {}), NodeAt(level), ReduceBy(IntOrPercent::Percent(20))),
              Cap(56, 56, 50, 70, CapAdaptation::kLowered));
  }
  // A count; taintAhead applies to the lowered cap.
  EXPECT_EQ(
      ComputeCap(Spec(70, {}, IntOrPercent::Percent(90), 2),
                 NodeAt(kube::EarlyWarningLevel::kDegraded), ReduceBy(IntOrPercent::Count(10))),
      Cap(60, 58, 54, 70, CapAdaptation::kLowered));
  // A percent rounds up: 10% of 11 = 1.1 -> 2 pods.
  EXPECT_EQ(ComputeCap(Spec(11, {}), NodeAt(kube::EarlyWarningLevel::kDegraded),
                       ReduceBy(IntOrPercent::Percent(10))),
            Cap(9, 9, 8, 11, CapAdaptation::kLowered));
  // Never below 1.
  EXPECT_EQ(ComputeCap(Spec(5, {}), NodeAt(kube::EarlyWarningLevel::kCritical),
                       ReduceBy(IntOrPercent::Count(10))),
            Cap(1, 1, 1, 5, CapAdaptation::kLowered));
  // The lowered term is the smallest of the policy's terms (here per core).
  auto per_core = ComputeCap(Spec(100, 10), NodeAt(kube::EarlyWarningLevel::kDegraded),
                             ReduceBy(IntOrPercent::Percent(50)));
  ASSERT_TRUE(per_core);
  EXPECT_EQ(per_core->cap, 40);
  EXPECT_EQ(per_core->policy_cap, 80);
  EXPECT_EQ(per_core->bound, CapBound::kMaxPodsPerCore);
}

TEST(ComputeCap, RowA4UnknownAddsNothingAndReleasesNothingALoweredCapHeld) {
  // The policy cap's taint mark (70), the lowered cap's release mark (50 < 63).
  EXPECT_EQ(ComputeCap(Spec(70, {}), NodeAt(kube::EarlyWarningLevel::kUnknown),
                       ReduceBy(IntOrPercent::Percent(20))),
            Cap(70, 70, 50, 70, CapAdaptation::kUnknown));
  // A release count below both marks stays as it is.
  EXPECT_EQ(
      ComputeCap(Spec(70, {}, IntOrPercent::Count(30)), NodeAt(kube::EarlyWarningLevel::kUnknown),
                 ReduceBy(IntOrPercent::Count(10))),
      Cap(70, 70, 30, 70, CapAdaptation::kUnknown));
}

TEST(ComputeCap, RowA5ACapOfZeroHasNothingToLower) {
  EXPECT_EQ(ComputeCap(Spec(0, {}), NodeAt(kube::EarlyWarningLevel::kDegraded),
                       ReduceBy(IntOrPercent::Percent(20))),
            Cap(0, 0, 0, 0, CapAdaptation::kLowered));
}

TEST(AdaptiveCapOf, OnlyFromAWrittenEarlyWarningBlock) {
  api::NodeHealthPolicySpec spec;
  spec.early_warning.adaptive_cap = api::AdaptiveCapSpec{};
  EXPECT_EQ(AdaptiveCapOf(spec), std::nullopt);
  spec.early_warning.present = true;
  EXPECT_EQ(AdaptiveCapOf(spec), api::AdaptiveCapSpec{});
}

TEST(CapacityCores, RoundsDownAtLeastOne) {
  EXPECT_EQ(CapacityCores(MakeNode(8000, 0)), 8);
  EXPECT_EQ(CapacityCores(MakeNode(8999, 0)), 8);
  EXPECT_EQ(CapacityCores(MakeNode(1, 0)), 1);
  EXPECT_EQ(CapacityCores(MakeNode(0, 0)), std::nullopt);
  EXPECT_EQ(CapacityCores(MakeNode(-5, 0)), std::nullopt);
}

kube::Pod MakePod(const char* node, kube::PodPhase phase,
                  kube::ControllerKind kind = kube::ControllerKind::kReplicaSet) {
  kube::Pod p;
  p.meta.name = "p";
  p.node_name = kube::Symbol::Intern(node);
  p.phase = phase;
  p.controller_kind = kind;
  return p;
}

struct CountCase {
  const char* name;
  kube::Pod pod;
  bool count_daemon_sets;
  bool want;
};

TEST(CountsTowardCap, Table) {
  kube::Pod terminating = MakePod("n", kube::PodPhase::kRunning);
  terminating.meta.deletion_timestamp = kube::Time(std::chrono::seconds(1000));
  kube::Pod mirror = MakePod("n", kube::PodPhase::kRunning, kube::ControllerKind::kNode);
  mirror.mirror = true;
  const CountCase cases[] = {
      {"running", MakePod("n", kube::PodPhase::kRunning), true, true},
      {"pending but bound", MakePod("n", kube::PodPhase::kPending), true, true},
      {"unknown phase", MakePod("n", kube::PodPhase::kUnknown), true, true},
      {"succeeded", MakePod("n", kube::PodPhase::kSucceeded), true, false},
      {"failed", MakePod("n", kube::PodPhase::kFailed), true, false},
      {"terminating still counts", terminating, true, true},
      {"daemonset counted",
       MakePod("n", kube::PodPhase::kRunning, kube::ControllerKind::kDaemonSet), true, true},
      {"daemonset not counted",
       MakePod("n", kube::PodPhase::kRunning, kube::ControllerKind::kDaemonSet), false, false},
      {"mirror pod counts", mirror, false, true},
      {"bare pod counts", MakePod("n", kube::PodPhase::kRunning, kube::ControllerKind::kNone),
       false, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    api::PodDensitySpec spec;
    spec.count_daemon_set_pods = c.count_daemon_sets;
    EXPECT_EQ(CountsTowardCap(c.pod, spec), c.want);
  }
}

TEST(CountPods, CountsOnlyPodsBoundToTheNode) {
  std::vector<kube::Pod> pods = {
      MakePod("worker-1", kube::PodPhase::kRunning),
      MakePod("worker-1", kube::PodPhase::kPending),
      MakePod("worker-1", kube::PodPhase::kSucceeded),
      MakePod("worker-1", kube::PodPhase::kRunning, kube::ControllerKind::kDaemonSet),
      MakePod("worker-2", kube::PodPhase::kRunning),
      MakePod("", kube::PodPhase::kPending),
  };
  api::PodDensitySpec spec;
  const auto node = kube::Symbol::Intern("worker-1");
  EXPECT_EQ(CountPods(node, pods, spec), 3);
  spec.count_daemon_set_pods = false;
  EXPECT_EQ(CountPods(node, pods, spec), 2);

  // Any range of pointers works the same.
  std::vector<const kube::Pod*> ptrs;
  for (const auto& p : pods) ptrs.push_back(&p);
  EXPECT_EQ(CountPods(node, ptrs, spec), 2);
  std::vector<std::shared_ptr<const kube::Pod>> shared;
  for (const auto& p : pods) shared.push_back(std::make_shared<const kube::Pod>(p));
  EXPECT_EQ(CountPods(node, shared, spec), 2);
  // Unscheduled pods never count, even for an empty node name.
  EXPECT_EQ(CountPods(kube::Symbol(), pods, spec), 0);
}

}  // namespace
}  // namespace nodeguard::density
