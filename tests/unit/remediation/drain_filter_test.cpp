#include "remediation/drain_filter.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace nodeguard::remediation {
namespace {

using kube::ControllerKind;
using kube::PodPhase;

const WallTime kNow = WallTime(std::chrono::hours(24 * 365 * 56));

kube::Pod MakePod(std::string name, ControllerKind kind, std::string controller = "owner") {
  kube::Pod p;
  p.meta.name = std::move(name);
  p.meta.namespace_ = kube::Symbol::Intern("default");
  p.meta.uid = "uid-" + p.meta.name;
  p.node_name = kube::Symbol::Intern("node");
  p.phase = PodPhase::kRunning;
  p.controller_kind = kind;
  if (kind == ControllerKind::kDaemonSet) p.daemon_set_name = kube::Symbol::Intern(controller);
  return p;
}

kube::Pod WithEmptyDir(kube::Pod p) {
  p.has_empty_dir = true;
  return p;
}
kube::Pod Finished(kube::Pod p, PodPhase phase = PodPhase::kSucceeded) {
  p.phase = phase;
  return p;
}
kube::Pod Mirror(kube::Pod p) {
  p.mirror = true;
  return p;
}
kube::Pod DeletedAgo(kube::Pod p, Duration ago) {
  p.meta.deletion_timestamp = kNow - std::chrono::duration_cast<WallTime::duration>(ago);
  return p;
}

DrainFilterOptions Options(bool force, bool delete_empty_dir, Duration skip = 0s) {
  DrainFilterOptions o;
  o.force = force;
  o.delete_empty_dir_data = delete_empty_dir;
  o.skip_wait_for_delete_timeout = skip;
  return o;
}

DaemonSetLookupFn DaemonSets(DaemonSetLookup::Kind kind, std::string message = "") {
  return [kind, message](const kube::Pod&) { return DaemonSetLookup{kind, message}; };
}

struct Case {
  std::string name;
  kube::Pod pod;
  DrainFilterOptions options;
  DaemonSetLookup::Kind daemon_set = DaemonSetLookup::kExists;
  PodVerdictKind want;
  std::string want_reason;  // Substring; empty: no reason expected.
  size_t want_warnings = 0;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class FilterPodTest : public testing::TestWithParam<Case> {};

TEST_P(FilterPodTest, Verdict) {
  const Case& c = GetParam();
  PodVerdict v = FilterPod(c.pod, c.options, kNow,
                           DaemonSets(c.daemon_set, "daemonsets.apps \"ds\" not found"));
  EXPECT_EQ(v.kind, c.want) << PodVerdictKindName(v.kind) << " " << v.reason;
  if (c.want_reason.empty()) {
    EXPECT_EQ(v.reason, "");
  } else {
    EXPECT_NE(v.reason.find(c.want_reason), std::string::npos) << v.reason;
  }
  EXPECT_EQ(v.warnings.size(), c.want_warnings);
}

// The situations kubectl's drain tests cover (cmd/drain and pkg/drain), and
// the filter order between them.
INSTANTIATE_TEST_SUITE_P(
    KubectlTable, FilterPodTest,
    testing::Values(
        Case{"ReplicationControllerPod", MakePod("rc", ControllerKind::kReplicationController),
             Options(false, false), DaemonSetLookup::kExists, PodVerdictKind::kEvict, ""},
        Case{"ReplicaSetPod", MakePod("rs", ControllerKind::kReplicaSet), Options(false, false),
             DaemonSetLookup::kExists, PodVerdictKind::kEvict, ""},
        Case{"StatefulSetPod", MakePod("ss", ControllerKind::kStatefulSet), Options(false, false),
             DaemonSetLookup::kExists, PodVerdictKind::kEvict, ""},
        Case{"DaemonSetPodIsIgnored", MakePod("ds", ControllerKind::kDaemonSet),
             Options(false, false), DaemonSetLookup::kExists, PodVerdictKind::kSkip,
             "ignoring DaemonSet-managed Pods", 1},
        Case{"DaemonSetPodWithForceIsStillIgnored", MakePod("ds", ControllerKind::kDaemonSet),
             Options(true, true), DaemonSetLookup::kExists, PodVerdictKind::kSkip,
             "ignoring DaemonSet-managed Pods", 1},
        Case{"FinishedDaemonSetPodIsEvicted",
             Finished(MakePod("ds", ControllerKind::kDaemonSet), PodPhase::kFailed),
             Options(false, false), DaemonSetLookup::kNotFound, PodVerdictKind::kEvict, ""},
        Case{"OrphanedDaemonSetPodIsAnError", MakePod("ds", ControllerKind::kDaemonSet),
             Options(false, false), DaemonSetLookup::kNotFound, PodVerdictKind::kError,
             "not found"},
        Case{"OrphanedDaemonSetPodWithForceIsEvicted", MakePod("ds", ControllerKind::kDaemonSet),
             Options(true, false), DaemonSetLookup::kNotFound, PodVerdictKind::kEvict, "", 1},
        Case{"DaemonSetLookupErrorIsAnErrorEvenWithForce",
             MakePod("ds", ControllerKind::kDaemonSet), Options(true, true),
             DaemonSetLookup::kError, PodVerdictKind::kError, "not found"},
        Case{"DaemonSetPodWithEmptyDirIsIgnoredNotAnError",
             WithEmptyDir(MakePod("ds", ControllerKind::kDaemonSet)), Options(false, false),
             DaemonSetLookup::kExists, PodVerdictKind::kSkip, "ignoring DaemonSet-managed Pods", 1},
        Case{"OrphanedDaemonSetPodWithEmptyDirAndForceNeedsDeleteEmptyDir",
             WithEmptyDir(MakePod("ds", ControllerKind::kDaemonSet)), Options(true, false),
             DaemonSetLookup::kNotFound, PodVerdictKind::kError, "local storage", 0},
        Case{"JobPodWithEmptyDirAndDeleteEmptyDir",
             WithEmptyDir(MakePod("job", ControllerKind::kJob)), Options(true, true),
             DaemonSetLookup::kExists, PodVerdictKind::kEvict, "", 1},
        Case{"FinishedJobPodWithEmptyDirNeedsNoFlag",
             Finished(WithEmptyDir(MakePod("job", ControllerKind::kJob))), Options(false, false),
             DaemonSetLookup::kExists, PodVerdictKind::kEvict, ""},
        Case{"NakedPodIsAnError", MakePod("naked", ControllerKind::kNone), Options(false, false),
             DaemonSetLookup::kExists, PodVerdictKind::kError, "declare no controller"},
        Case{"NakedPodWithForce", MakePod("naked", ControllerKind::kNone), Options(true, false),
             DaemonSetLookup::kExists, PodVerdictKind::kEvict, "", 1},
        Case{"FinishedNakedPodNeedsNoForce", Finished(MakePod("naked", ControllerKind::kNone)),
             Options(false, false), DaemonSetLookup::kExists, PodVerdictKind::kEvict, ""},
        Case{"EmptyDirPodWithForceOnlyIsAnError",
             WithEmptyDir(MakePod("ed", ControllerKind::kNone)), Options(true, false),
             DaemonSetLookup::kExists, PodVerdictKind::kError, "local storage"},
        Case{"FinishedEmptyDirPod",
             Finished(WithEmptyDir(MakePod("ed", ControllerKind::kReplicaSet))),
             Options(false, false), DaemonSetLookup::kExists, PodVerdictKind::kEvict, ""},
        Case{"EmptyDirPodWithBothFlags", WithEmptyDir(MakePod("ed", ControllerKind::kNone)),
             Options(true, true), DaemonSetLookup::kExists, PodVerdictKind::kEvict, "", 2},
        Case{"EmptyDirCheckedBeforeController", WithEmptyDir(MakePod("ed", ControllerKind::kNone)),
             Options(false, false), DaemonSetLookup::kExists, PodVerdictKind::kError,
             "local storage"},
        Case{"MirrorPodIsSkipped", Mirror(MakePod("static", ControllerKind::kNode)),
             Options(false, false), DaemonSetLookup::kExists, PodVerdictKind::kSkip, "mirror"},
        Case{"MirrorCheckedBeforeControllerAndEmptyDir",
             Mirror(WithEmptyDir(MakePod("static", ControllerKind::kNone))), Options(false, false),
             DaemonSetLookup::kExists, PodVerdictKind::kSkip, "mirror"},
        Case{"DeletedJustNowIsEvicted", DeletedAgo(MakePod("d", ControllerKind::kReplicaSet), 0s),
             Options(false, false, 20s), DaemonSetLookup::kExists, PodVerdictKind::kEvict, ""},
        Case{"Deleted1sAgoIsEvicted", DeletedAgo(MakePod("d", ControllerKind::kReplicaSet), 1s),
             Options(false, false, 20s), DaemonSetLookup::kExists, PodVerdictKind::kEvict, ""},
        Case{"Deleted100sAgoIsSkipped", DeletedAgo(MakePod("d", ControllerKind::kReplicaSet), 100s),
             Options(false, false, 20s), DaemonSetLookup::kExists, PodVerdictKind::kSkip,
             "skipWaitForDeleteTimeout"},
        Case{"DeletedExactlyAtTimeoutIsEvicted",
             DeletedAgo(MakePod("d", ControllerKind::kReplicaSet), 20s + 999ms),
             Options(false, false, 20s), DaemonSetLookup::kExists, PodVerdictKind::kEvict, ""},
        Case{"DeletedOneWholeSecondPastTimeoutIsSkipped",
             DeletedAgo(MakePod("d", ControllerKind::kReplicaSet), 21s), Options(false, false, 20s),
             DaemonSetLookup::kExists, PodVerdictKind::kSkip, "skipWaitForDeleteTimeout"},
        Case{"SkipDisabledKeepsDeletedPods",
             DeletedAgo(MakePod("d", ControllerKind::kReplicaSet), 1h), Options(false, false, 0s),
             DaemonSetLookup::kExists, PodVerdictKind::kEvict, ""},
        Case{"SkipDeletedRunsBeforeErrors", DeletedAgo(MakePod("d", ControllerKind::kNone), 100s),
             Options(false, false, 20s), DaemonSetLookup::kExists, PodVerdictKind::kSkip,
             "skipWaitForDeleteTimeout"}),
    [](const testing::TestParamInfo<Case>& param_info) { return param_info.param.name; });

TEST(FilterPod, PodSelectorIsAppliedFirst) {
  const kube::Pod naked = MakePod("naked", ControllerKind::kNone);
  PodSelectorFn only_web = [](const kube::Pod& p) { return p.meta.name.rfind("web", 0) == 0; };
  PodVerdict v = FilterPod(naked, Options(false, false), kNow, nullptr, only_web);
  EXPECT_EQ(v.kind, PodVerdictKind::kSkip);
  EXPECT_NE(v.reason.find("podSelector"), std::string::npos);
  EXPECT_EQ(FilterPod(MakePod("web-1", ControllerKind::kReplicaSet), Options(false, false), kNow,
                      nullptr, only_web)
                .kind,
            PodVerdictKind::kEvict);
}

TEST(FilterPod, DaemonSetLookupOnlyForRunningDaemonSetPods) {
  int lookups = 0;
  DaemonSetLookupFn counting = [&](const kube::Pod&) {
    ++lookups;
    return DaemonSetLookup{};
  };
  FilterPod(MakePod("rs", ControllerKind::kReplicaSet), Options(false, false), kNow, counting);
  FilterPod(Finished(MakePod("ds", ControllerKind::kDaemonSet)), Options(false, false), kNow,
            counting);
  EXPECT_EQ(lookups, 0);
  FilterPod(MakePod("ds", ControllerKind::kDaemonSet), Options(false, false), kNow, counting);
  EXPECT_EQ(lookups, 1);
}

TEST(FilterPod, NullDaemonSetLookupMeansExists) {
  EXPECT_EQ(FilterPod(MakePod("ds", ControllerKind::kDaemonSet), Options(false, false), kNow).kind,
            PodVerdictKind::kSkip);
}

TEST(PlanDrain, EmptyNodeIsOk) {
  DrainPlan plan = PlanDrain({}, Options(false, false), kNow);
  EXPECT_TRUE(plan.ok());
  EXPECT_TRUE(plan.to_evict.empty());
}

TEST(PlanDrain, AnyErrorAbortsAndErrorsAreGroupedByReason) {
  const std::vector<kube::Pod> pods = {
      MakePod("web-1", ControllerKind::kReplicaSet), MakePod("bare-1", ControllerKind::kNone),
      WithEmptyDir(MakePod("cache-1", ControllerKind::kReplicaSet)),
      MakePod("bare-2", ControllerKind::kNone), MakePod("agent", ControllerKind::kDaemonSet)};
  DrainPlan plan = PlanDrain(pods, Options(false, false), kNow);
  EXPECT_FALSE(plan.ok());
  ASSERT_EQ(plan.errors.size(), 2u);
  EXPECT_EQ(plan.errors[0],
            "cannot delete Pods that declare no controller (set drain.force to override): "
            "default/bare-1, default/bare-2");
  EXPECT_EQ(plan.errors[1],
            "cannot delete Pods with local storage (set drain.deleteEmptyDirData to override): "
            "default/cache-1");
  EXPECT_EQ(plan.ErrorSummary(), plan.errors[0] + "; " + plan.errors[1]);
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_EQ(plan.warnings[0], "ignoring DaemonSet-managed Pods: default/agent");
  ASSERT_EQ(plan.pods.size(), pods.size());
  EXPECT_EQ(plan.pods[0].verdict.kind, PodVerdictKind::kEvict);
  EXPECT_EQ(plan.pods[4].verdict.kind, PodVerdictKind::kSkip);
}

TEST(PlanDrain, WithFlagsEvictsEverythingButDaemonSetAndMirrorPods) {
  const std::vector<kube::Pod> pods = {
      MakePod("web-1", ControllerKind::kReplicaSet), MakePod("bare-1", ControllerKind::kNone),
      WithEmptyDir(MakePod("cache-1", ControllerKind::kReplicaSet)),
      MakePod("agent", ControllerKind::kDaemonSet), Mirror(MakePod("etcd", ControllerKind::kNode))};
  DrainPlan plan = PlanDrain(pods, Options(true, true), kNow);
  EXPECT_TRUE(plan.ok()) << plan.ErrorSummary();
  ASSERT_EQ(plan.to_evict.size(), 3u);
  EXPECT_EQ(plan.to_evict[0]->meta.name, "web-1");
  EXPECT_EQ(plan.to_evict[1]->meta.name, "bare-1");
  EXPECT_EQ(plan.to_evict[2]->meta.name, "cache-1");
  EXPECT_EQ(plan.warnings.size(), 3u);  // no controller, local storage, DaemonSet.
}

TEST(DrainFilterOptions, FromSpec) {
  api::DrainSpec spec;
  spec.force = true;
  spec.delete_empty_dir_data = true;
  spec.skip_wait_for_delete_timeout = 30s;
  DrainFilterOptions o = DrainFilterOptions::From(spec);
  EXPECT_TRUE(o.force);
  EXPECT_TRUE(o.delete_empty_dir_data);
  EXPECT_EQ(o.skip_wait_for_delete_timeout, 30s);
}

}  // namespace
}  // namespace nodeguard::remediation
