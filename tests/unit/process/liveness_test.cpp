#include "process/liveness.h"

#include <gtest/gtest.h>

#include <string>

namespace nodeguard::process {
namespace {

using namespace std::chrono_literals;

TEST(InformerStallBound, DefaultsAreThirteenAndAHalfMinutes) {
  // max(whole watch 30s + 10m + 90s, list page 5 x 30s + 4 x 60s) + 30s backoff + 1m slack.
  EXPECT_EQ(InformerStallBound(kube::InformerOptions{}, kube::RestOptions{}), 810s);
}

TEST(InformerStallBound, LongerThanEveryHealthyGapBetweenTwoMarks) {
  const kube::InformerOptions informer;
  const kube::RestOptions rest;
  const Duration bound = InformerStallBound(informer, rest);
  // A whole watch request that ran to the server's longest timeoutSeconds,
  // then went silent until the stall detection ended it.
  EXPECT_GT(bound, Duration(rest.timeout) + 2 * informer.min_watch_timeout + informer.idle_timeout);
  // A list page whose every attempt timed out, answered with Retry-After 60s.
  EXPECT_GT(bound, 5 * Duration(rest.timeout) + 4 * Duration(rest.max_retry_after));
  // The longest backoff sleep.
  EXPECT_GT(bound, informer.backoff.max);
}

TEST(InformerStallBound, FollowsTheSettingsItIsDerivedFrom) {
  kube::InformerOptions informer;
  kube::RestOptions rest;
  informer.min_watch_timeout = 1min;
  informer.idle_timeout = 10s;
  informer.backoff.max = 5s;
  rest.timeout = 1000ms;
  rest.max_attempts = 1;
  // Watch 1s + 2m + 10s beats one 1s list attempt; + 5s + 1m.
  EXPECT_EQ(InformerStallBound(informer, rest), 1s + 2min + 10s + 5s + 1min);
  rest.max_attempts = 10;  // 10 x 1s + 9 x 60s (Retry-After) = 550s now beats the watch.
  EXPECT_EQ(InformerStallBound(informer, rest), 550s + 5s + 1min);
}

TEST(CheckInformerProgress, OkWhileEveryInformerMarkedWithinTheBound) {
  const MonoTime now = MonoTime() + 1h;
  EXPECT_TRUE(CheckInformerProgress({}, now, 10min).ok());
  EXPECT_TRUE(CheckInformerProgress({{"nodes", now}, {"pods", now - 10min}}, now, 10min).ok());
}

TEST(CheckInformerProgress, NamesEveryStalledInformerAndForHowLong) {
  const MonoTime now = MonoTime() + 1h;
  Status s = CheckInformerProgress(
      {{"nodes", now - 10min - 1s}, {"pods", now - 2s}, {"nodehealthpolicies", now - 30min}}, now,
      10min);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(s.error().message,
            "nodes informer made no progress for 10m1s; nodehealthpolicies informer made no "
            "progress for 30m0s (bound 10m0s): list/watch loop wedged");
}

TEST(CheckReconcileProgress, OkWhileNoReconcileRunsLongerThanTheBound) {
  EXPECT_TRUE(CheckReconcileProgress({}, 15min).ok());
  EXPECT_TRUE(CheckReconcileProgress({{"density", 0s}, {"hygiene", 15min}}, 15min).ok());
}

TEST(CheckReconcileProgress, NamesEveryWedgedReconcilerAndForHowLong) {
  Status s =
      CheckReconcileProgress({{"policy", 15min + 1s}, {"density", 3s}, {"hygiene", 1h}}, 15min);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(s.error().message,
            "policy has a reconcile running for 15m1s; hygiene has a reconcile running for "
            "1h0m0s (bound 15m0s): reconcile wedged");
}

TEST(ReconcileWedgedPastGrace, ExitsOnlyOnceAProbeWouldHaveRestartedIt) {
  // The manifests' probe: 3 failures 10 s apart.
  EXPECT_EQ(kLivenessExitGrace, 30s);
  EXPECT_FALSE(ReconcileWedgedPastGrace({{"policy", 5s}}, 5s));
  EXPECT_FALSE(ReconcileWedgedPastGrace({{"policy", 35s}}, 5s));
  EXPECT_TRUE(ReconcileWedgedPastGrace({{"density", 0s}, {"policy", 35s + 1ms}}, 5s));
}

}  // namespace
}  // namespace nodeguard::process
