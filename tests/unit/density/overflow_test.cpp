// Overflow eviction's choice (density/overflow.h): which pods, in which
// order, and the count of pods not terminating it is decided on (cap.h).

#include "density/overflow.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "density/cap.h"

namespace nodeguard::density {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

kube::Time At(int second) { return kube::Time{} + std::chrono::seconds(1'700'000'000 + second); }

// A running ReplicaSet pod on worker-1, created at `second`.
kube::Pod MakePod(const std::string& name, int second,
                  kube::ControllerKind kind = kube::ControllerKind::kReplicaSet,
                  const std::string& ns = "ci") {
  kube::Pod p;
  p.meta.name = name;
  p.meta.namespace_ = kube::Symbol::Intern(ns);
  p.meta.uid = "uid-" + ns + "-" + name;
  p.meta.creation_timestamp = At(second);
  p.node_name = kube::Symbol::Intern("worker-1");
  p.phase = kube::PodPhase::kRunning;
  p.controller_kind = kind;
  return p;
}

std::vector<std::string> Names(const std::vector<kube::Pod>& pods,
                               const api::PodDensitySpec& spec = {}) {
  std::vector<const kube::Pod*> ptrs;
  for (const auto& p : pods) ptrs.push_back(&p);
  std::vector<std::string> out;
  for (const kube::Pod* p : OverflowCandidates(ptrs, spec)) {
    out.push_back(std::string(p->meta.namespace_.view()) + "/" + p->meta.name);
  }
  return out;
}

TEST(OverflowCandidates, NewestFirstThenNamespaceAndName) {
  const std::vector<kube::Pod> pods = {MakePod("old", 1),
                                       MakePod("new-b", 9),
                                       MakePod("mid", 5),
                                       MakePod("new-a", 9),
                                       MakePod("new-a", 9, kube::ControllerKind::kReplicaSet, "ab"),
                                       MakePod("newest", 10, kube::ControllerKind::kStatefulSet)};
  EXPECT_THAT(Names(pods),
              ElementsAre("ci/newest", "ab/new-a", "ci/new-a", "ci/new-b", "ci/mid", "ci/old"));
}

TEST(OverflowCandidates, OnlyPodsADrainWouldEvictWithoutFlags) {
  std::vector<kube::Pod> pods = {
      MakePod("rs", 1),
      MakePod("sts", 2, kube::ControllerKind::kStatefulSet),
      MakePod("job", 3, kube::ControllerKind::kJob),
      MakePod("rc", 4, kube::ControllerKind::kReplicationController),
      MakePod("custom", 5, kube::ControllerKind::kOther),
      MakePod("ds", 6, kube::ControllerKind::kDaemonSet),
      MakePod("bare", 7, kube::ControllerKind::kNone),
      MakePod("static", 8, kube::ControllerKind::kNode),
      MakePod("mirror", 9),
      MakePod("scratch", 10),
      MakePod("terminating", 11),
      MakePod("done", 12),
      MakePod("failed", 13),
      MakePod("pending", 14),
  };
  pods[5].daemon_set_name = kube::Symbol::Intern("agent");
  pods[8].mirror = true;
  pods[9].has_empty_dir = true;  // kubectl drain needs --delete-emptydir-data.
  pods[10].meta.deletion_timestamp = At(20);
  pods[11].phase = kube::PodPhase::kSucceeded;
  pods[12].phase = kube::PodPhase::kFailed;
  pods[13].phase = kube::PodPhase::kPending;  // Bound, not started: it counts and moves.
  EXPECT_THAT(Names(pods),
              ElementsAre("ci/pending", "ci/custom", "ci/rc", "ci/job", "ci/sts", "ci/rs"));
  for (const auto& p : pods) {
    const bool movable = OverflowMovable(p, {});
    EXPECT_EQ(movable, p.meta.name == "rs" || p.meta.name == "sts" || p.meta.name == "job" ||
                           p.meta.name == "rc" || p.meta.name == "custom" ||
                           p.meta.name == "pending")
        << p.meta.name;
  }
}

TEST(OverflowCandidates, DaemonSetPodsAreNeverMovedEvenWhenTheyCount) {
  std::vector<kube::Pod> pods = {MakePod("ds", 6, kube::ControllerKind::kDaemonSet)};
  pods[0].daemon_set_name = kube::Symbol::Intern("agent");
  api::PodDensitySpec spec;
  spec.count_daemon_set_pods = true;
  EXPECT_TRUE(CountsTowardCap(pods[0], spec));
  EXPECT_THAT(Names(pods, spec), IsEmpty());
}

TEST(OverflowCandidates, NoneOnAnEmptyNode) {
  EXPECT_THAT(Names({}), IsEmpty());
  EXPECT_THAT(OverflowCandidates(std::vector<const kube::Pod*>{nullptr}, {}), IsEmpty());
}

TEST(CountPodsNotTerminating, LeavesOutTerminatingFinishedAndOtherNodes) {
  std::vector<kube::Pod> pods = {MakePod("a", 1), MakePod("b", 2), MakePod("c", 3), MakePod("d", 4),
                                 MakePod("e", 5)};
  pods[1].meta.deletion_timestamp = At(9);  // Evicted, terminating.
  pods[2].phase = kube::PodPhase::kSucceeded;
  pods[3].node_name = kube::Symbol::Intern("worker-2");
  const kube::Symbol node = kube::Symbol::Intern("worker-1");
  EXPECT_EQ(CountPods(node, pods, {}), 3);                // a, b (terminating still counts), e.
  EXPECT_EQ(CountPodsNotTerminating(node, pods, {}), 2);  // a, e.
}

}  // namespace
}  // namespace nodeguard::density
