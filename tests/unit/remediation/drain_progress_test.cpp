#include "remediation/drain_progress.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace nodeguard::remediation {
namespace {

const WallTime kStart = WallTime(std::chrono::hours(24 * 365 * 56));

WallTime At(Duration d) { return kStart + std::chrono::duration_cast<WallTime::duration>(d); }

std::vector<DrainPodRef> Pods(std::initializer_list<const char*> names) {
  std::vector<DrainPodRef> out;
  for (const char* n : names) out.push_back({"default", n, std::string("uid-") + n});
  return out;
}

EvictionResult Accepted() { return {EvictionOutcome::kAccepted, "", ""}; }
EvictionResult Blocked(std::string pdb) {
  return {EvictionOutcome::kTooManyRequests,
          "Cannot evict pod as it would violate the pod's disruption budget.", std::move(pdb)};
}
std::optional<ObservedPod> Present(std::string uid, WallTime deleted = WallTime{}) {
  return ObservedPod{std::move(uid), deleted};
}

TEST(DrainTracker, EmptyDrainSucceedsAtOnce) {
  DrainTracker t({}, kStart, 10min, 0s);
  DrainStep s = t.Next(kStart);
  EXPECT_EQ(s.result.kind, DrainResultKind::kSucceeded);
  EXPECT_TRUE(s.evict.empty());
}

TEST(DrainTracker, EvictsAllInParallelThenWaitsForThemToGo) {
  DrainTracker t(Pods({"a", "b", "c"}), kStart, 10min, 0s);
  DrainStep s = t.Next(kStart);
  EXPECT_EQ(s.evict, (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(s.result.kind, DrainResultKind::kRunning);
  // In flight: never handed out twice.
  EXPECT_TRUE(t.Next(kStart + 1s).evict.empty());

  t.OnEvictionResult(0, Accepted(), At(1s));
  t.OnEvictionResult(1, {EvictionOutcome::kNotFound, "gone", ""}, At(1s));  // 404: done.
  t.OnEvictionResult(2, Accepted(), At(1s));
  EXPECT_EQ(t.pods()[0].state, DrainPodState::kWaitingForDelete);
  EXPECT_EQ(t.pods()[1].state, DrainPodState::kDone);
  EXPECT_EQ(t.Next(At(2s)).result.kind, DrainResultKind::kRunning);

  t.OnPodObserved(0, std::nullopt, At(3s));              // Deleted.
  t.OnPodObserved(2, Present("uid-c", At(2s)), At(3s));  // Terminating, same pod.
  EXPECT_EQ(t.Next(At(3s)).result.kind, DrainResultKind::kRunning);
  t.OnPodObserved(2, Present("uid-c-new"), At(4s));  // Recreated by its StatefulSet: done.
  DrainStep done = t.Next(At(4s));
  EXPECT_EQ(done.result.kind, DrainResultKind::kSucceeded);
  EXPECT_EQ(done.result.evicted, 3);
  EXPECT_EQ(done.result.Summary(), "drained 3 pods");
}

TEST(DrainTracker, PdbBlockRetriesEveryFiveSecondsAndReportsOnce) {
  DrainTracker t(Pods({"web-1"}), kStart, 10min, 0s);
  ASSERT_EQ(t.Next(kStart).evict.size(), 1u);
  t.OnEvictionResult(0, Blocked("web-pdb"), At(0s));
  DrainStep s = t.Next(At(0s));
  EXPECT_TRUE(s.evict.empty());
  EXPECT_EQ(s.newly_blocked, (std::vector<size_t>{0}));
  EXPECT_EQ(s.wake_at, At(5s));
  s = t.Next(At(4s));
  EXPECT_TRUE(s.evict.empty());
  EXPECT_TRUE(s.newly_blocked.empty());  // Reported once.
  s = t.Next(At(5s));
  EXPECT_EQ(s.evict, (std::vector<size_t>{0}));
  EXPECT_EQ(t.pods()[0].evictions_sent, 2);
  t.OnEvictionResult(0, Blocked("web-pdb"), At(5s));
  EXPECT_TRUE(t.Next(At(5s)).newly_blocked.empty());
  t.OnEvictionResult(0, Accepted(), At(5s));  // Stale: not in flight any more; ignored.
  EXPECT_EQ(t.pods()[0].state, DrainPodState::kBlocked);
}

TEST(DrainTracker, PdbThatNeverAllowsTimesOutListingThePodAndPdb) {
  DrainTracker t(Pods({"web-1", "db-0"}), kStart, 10min, 0s);
  t.Next(kStart);
  t.OnEvictionResult(0, Blocked("web-pdb"), kStart);
  t.OnEvictionResult(1, Accepted(), kStart);
  t.OnPodObserved(1, std::nullopt, At(1s));
  for (Duration now = 5s; now < 10min; now += 5s) {
    DrainStep s = t.Next(At(now));
    ASSERT_EQ(s.result.kind, DrainResultKind::kRunning) << FormatGoDuration(now);
    for (size_t i : s.evict) t.OnEvictionResult(i, Blocked("web-pdb"), At(now));
    ASSERT_LE(*s.wake_at, At(10min));
  }
  DrainStep end = t.Next(At(10min));
  ASSERT_EQ(end.result.kind, DrainResultKind::kTimedOut);
  ASSERT_EQ(end.result.blocked.size(), 1u);
  EXPECT_EQ(end.result.blocked[0].pod, "default/web-1");
  EXPECT_EQ(end.result.blocked[0].pdb_name, "web-pdb");
  EXPECT_EQ(end.result.evicted, 1);
  EXPECT_EQ(end.result.Summary(),
            "drain timed out; still pending: default/web-1 (PodDisruptionBudget web-pdb)");
  // Once ended, nothing changes it.
  t.OnPodObserved(0, std::nullopt, At(11min));
  EXPECT_EQ(t.Next(At(11min)).result.kind, DrainResultKind::kTimedOut);
}

TEST(DrainTracker, DeadlineComesFromTheStartNotFromConstruction) {
  // A controller restarted 9m into a 10m drain keeps the original deadline.
  DrainTracker t(Pods({"a"}), kStart, 10min, 0s);
  EXPECT_EQ(t.deadline(), At(10min));
  EXPECT_EQ(t.Next(At(9min)).evict.size(), 1u);
  EXPECT_EQ(t.Next(At(10min)).result.kind, DrainResultKind::kTimedOut);
}

TEST(DrainTracker, ZeroTimeoutNeverTimesOut) {
  DrainTracker t(Pods({"a"}), kStart, 0s, 0s);
  EXPECT_EQ(t.deadline(), std::nullopt);
  t.Next(kStart);
  t.OnEvictionResult(0, Accepted(), kStart);
  DrainStep s = t.Next(At(1000h));
  EXPECT_EQ(s.result.kind, DrainResultKind::kRunning);
  EXPECT_EQ(s.wake_at, std::nullopt);
}

TEST(DrainTracker, FatalErrorFailsTheDrainOnceOthersFinish) {
  DrainTracker t(Pods({"a", "b"}), kStart, 10min, 0s);
  t.Next(kStart);
  t.OnEvictionResult(0, {EvictionOutcome::kFatal, "Forbidden (403): denied by webhook", ""},
                     kStart);
  t.OnEvictionResult(1, Accepted(), kStart);
  EXPECT_EQ(t.Next(At(1s)).result.kind, DrainResultKind::kRunning);  // b still terminating.
  t.OnPodObserved(1, std::nullopt, At(2s));
  DrainStep s = t.Next(At(2s));
  ASSERT_EQ(s.result.kind, DrainResultKind::kFailed);
  ASSERT_EQ(s.result.errors.size(), 1u);
  EXPECT_EQ(s.result.errors[0], "default/a: Forbidden (403): denied by webhook");
}

TEST(DrainTracker, TransientErrorsAreRetried) {
  DrainTracker t(Pods({"a"}), kStart, 10min, 0s);
  t.Next(kStart);
  t.OnEvictionResult(0, {EvictionOutcome::kRetryable, "Unavailable (503)", ""}, kStart);
  DrainStep s = t.Next(At(1s));
  EXPECT_TRUE(s.evict.empty());
  EXPECT_TRUE(s.newly_blocked.empty());  // Not a PDB block.
  EXPECT_EQ(s.wake_at, At(5s));
  EXPECT_EQ(t.Next(At(5s)).evict.size(), 1u);
}

TEST(DrainTracker, TerminatingNamespace) {
  DrainTracker t(Pods({"a", "b"}), kStart, 10min, 0s);
  t.OnPodObserved(0, Present("uid-a", kStart), kStart);  // a already terminating.
  t.Next(kStart);
  const EvictionResult forbidden{EvictionOutcome::kNamespaceTerminating, "namespace terminating",
                                 ""};
  t.OnEvictionResult(0, forbidden, kStart);
  t.OnEvictionResult(1, forbidden, kStart);
  EXPECT_EQ(t.pods()[0].state, DrainPodState::kWaitingForDelete);
  EXPECT_EQ(t.pods()[1].state, DrainPodState::kRetrying);
}

TEST(DrainTracker, SkipWaitForDeleteTimeoutReleasesStuckTerminatingPods) {
  // A NotReady node never confirms deletion: the pod stays terminating.
  DrainTracker t(Pods({"a"}), kStart, 10min, 30s);
  t.Next(kStart);
  t.OnEvictionResult(0, Accepted(), kStart);
  t.OnPodObserved(0, Present("uid-a", At(1s)), At(1s));
  DrainStep s = t.Next(At(2s));
  EXPECT_EQ(s.result.kind, DrainResultKind::kRunning);
  EXPECT_EQ(s.wake_at, At(32s));  // Whole seconds since deletion must exceed 30.
  EXPECT_EQ(t.Next(At(31s)).result.kind, DrainResultKind::kRunning);
  s = t.Next(At(32s));
  EXPECT_EQ(s.result.kind, DrainResultKind::kSucceeded);
  EXPECT_EQ(s.result.skipped, 1);
  EXPECT_EQ(s.result.Summary(), "drained 0 pods (1 skipped)");
}

TEST(DrainTracker, OnANodeThatIsNotReadyAnEvictedPodIsLeftTerminatingAfterTheBoundedWait) {
  // A PLEG-sick kubelet never finalizes the deletion, whatever the grace
  // period (here an hour): the drain stops waiting 30s after the eviction.
  DrainTracker t(Pods({"a", "b"}), kStart, 10min, 0s, 30s);
  t.OnNodeObserved(false);
  t.Next(kStart);
  t.OnEvictionResult(0, Accepted(), kStart);
  t.OnEvictionResult(1, Accepted(), kStart);
  t.OnPodObserved(0, Present("uid-a", At(1h)), At(1s));  // deletionTimestamp = now + grace.
  t.OnPodObserved(1, std::nullopt, At(1s));              // b went (kubelet partly working).
  DrainStep s = t.Next(At(1s));
  EXPECT_EQ(s.result.kind, DrainResultKind::kRunning);
  EXPECT_EQ(s.wake_at, At(30s));
  EXPECT_EQ(t.Next(At(29s)).result.kind, DrainResultKind::kRunning);
  s = t.Next(At(30s));
  EXPECT_EQ(s.result.kind, DrainResultKind::kSucceeded);
  EXPECT_EQ(s.result.evicted, 1);
  EXPECT_EQ(s.result.skipped, 1);
}

TEST(DrainTracker, OnAReadyNodeKubectlsSemanticsStay) {
  DrainTracker t(Pods({"a"}), kStart, 10min, 0s, 30s);
  t.OnNodeObserved(true);
  t.Next(kStart);
  t.OnEvictionResult(0, Accepted(), kStart);
  t.OnPodObserved(0, Present("uid-a", At(30s)), At(1s));
  EXPECT_EQ(t.Next(At(5min)).result.kind, DrainResultKind::kRunning);  // Waits (skip wait 0).
  // The node turns NotReady: the bounded wait applies from the eviction on.
  t.OnNodeObserved(false);
  EXPECT_EQ(t.Next(At(5min)).result.kind, DrainResultKind::kSucceeded);
}

TEST(DrainTracker, ABlockedPodOnANodeThatIsNotReadyStillRespectsItsPdb) {
  DrainTracker t(Pods({"web-1"}), kStart, 10min, 0s, 30s);
  t.OnNodeObserved(false);
  t.Next(kStart);
  t.OnEvictionResult(0, Blocked("web-pdb"), kStart);
  EXPECT_EQ(t.Next(At(5min)).result.kind, DrainResultKind::kRunning);  // Retried, never skipped.
  EXPECT_EQ(t.Next(At(10min)).result.kind, DrainResultKind::kTimedOut);
}

TEST(DrainTracker, ZeroNotReadyWaitSkipsAtOnce) {
  DrainTracker t(Pods({"a"}), kStart, 10min, 0s, 0s);
  t.OnNodeObserved(false);
  t.Next(kStart);
  t.OnEvictionResult(0, Accepted(), kStart);
  EXPECT_EQ(t.Next(kStart).result.kind, DrainResultKind::kSucceeded);
}

TEST(DrainResult, SummaryListsAFewPodsAndCountsTheRest) {
  DrainResult r;
  r.kind = DrainResultKind::kTimedOut;
  for (int i = 0; i < 100; ++i) r.blocked.push_back({"ns/pod-" + std::to_string(i), "pdb", ""});
  const std::string summary = r.Summary();
  EXPECT_NE(summary.find("ns/pod-0 (PodDisruptionBudget pdb), ns/pod-1"), std::string::npos);
  EXPECT_NE(summary.find(" more"), std::string::npos);
  EXPECT_EQ(summary.find("ns/pod-99"), std::string::npos);
  EXPECT_LT(summary.size(), 700u);
}

TEST(DrainTracker, PodGoneBeforeItsEvictionIsDone) {
  DrainTracker t(Pods({"a"}), kStart, 10min, 0s);
  t.OnPodObserved(0, std::nullopt, kStart);
  DrainStep s = t.Next(kStart);
  EXPECT_TRUE(s.evict.empty());
  EXPECT_EQ(s.result.kind, DrainResultKind::kSucceeded);
}

struct ClassifyCase {
  Error error;
  std::string cause;
  bool ns_terminating;
  EvictionOutcome want;
};

TEST(ClassifyEvictionError, MapsApiErrors) {
  auto http = [](ErrorKind kind, int status) {
    Error e = Error::Of(kind, "x");
    e.http_status = status;
    return e;
  };
  const ClassifyCase cases[] = {
      {http(ErrorKind::kNotFound, 404), "", false, EvictionOutcome::kNotFound},
      {http(ErrorKind::kTooManyRequests, 429), "", false, EvictionOutcome::kTooManyRequests},
      {http(ErrorKind::kUnauthorized, 403), "", true, EvictionOutcome::kNamespaceTerminating},
      {http(ErrorKind::kUnauthorized, 403), "", false, EvictionOutcome::kFatal},
      {http(ErrorKind::kUnavailable, 500), "", false, EvictionOutcome::kRetryable},
      {http(ErrorKind::kTimeout, 504), "", false, EvictionOutcome::kRetryable},
      {http(ErrorKind::kConflict, 409), "", false, EvictionOutcome::kRetryable},
      {Error::Unavailable("connection refused"), "", false, EvictionOutcome::kRetryable},
      {http(ErrorKind::kInvalid, 400), "", false, EvictionOutcome::kFatal},
      {http(ErrorKind::kInvalid, 422), "", false, EvictionOutcome::kFatal},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ClassifyEvictionError(c.error, c.cause, c.ns_terminating).outcome, c.want)
        << c.error.ToString();
  }
  EvictionResult r = ClassifyEvictionError(
      http(ErrorKind::kTooManyRequests, 429),
      "The disruption budget web-pdb needs 2 healthy pods and has 2 currently");
  EXPECT_EQ(r.pdb_name, "web-pdb");
  EXPECT_NE(r.message.find("needs 2 healthy pods"), std::string::npos);
}

TEST(PdbNameFromCause, EveryApiServerForm) {
  EXPECT_EQ(
      PdbNameFromCause("The disruption budget web-pdb needs 2 healthy pods and has 2 currently"),
      "web-pdb");
  EXPECT_EQ(PdbNameFromCause("The disruption budget db is still being processed by the server."),
            "db");
  EXPECT_EQ(PdbNameFromCause("The disruption budget a.b does not allow evicting pods currently"),
            "a.b");
  EXPECT_EQ(PdbNameFromCause("throttled"), "");
  EXPECT_EQ(PdbNameFromCause(""), "");
}

}  // namespace
}  // namespace nodeguard::remediation
