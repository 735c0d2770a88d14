#include "kube/backoff.h"

#include <gtest/gtest.h>

namespace nodeguard::kube {
namespace {

using namespace std::chrono_literals;

TEST(Backoff, DoublesFromInitialToMaxWithoutJitter) {
  Backoff b({}, [] { return 0.0; });
  std::vector<Duration> got;
  for (int i = 0; i < 8; ++i) got.push_back(b.Next());
  EXPECT_EQ(got,
            (std::vector<Duration>{800ms, 1600ms, 3200ms, 6400ms, 12800ms, 25600ms, 30s, 30s}));
}

TEST(Backoff, JitterStretchesBelowTheCapAndShrinksAtIt) {
  Backoff b({}, [] { return 0.999999; });
  EXPECT_NEAR(std::chrono::duration<double>(b.Next()).count(), 1.0, 1e-3);  // 800 ms * 1.25
  for (int i = 0; i < 10; ++i) b.Next();
  EXPECT_EQ(b.base(), 30s);
  Duration at_cap = b.Next();
  EXPECT_NEAR(std::chrono::duration<double>(at_cap).count(), 22.5, 1e-3);  // 30 s * 0.75
}

TEST(Backoff, NeverAboveMax) {
  Backoff::Options o;
  o.jitter = 1.0;
  Backoff b(o, [] { return 0.99; });
  for (int i = 0; i < 20; ++i) EXPECT_LE(b.Next(), 30s);
}

TEST(Backoff, Reset) {
  Backoff b({}, [] { return 0.0; });
  b.Next();
  b.Next();
  b.Reset();
  EXPECT_EQ(b.Next(), 800ms);
}

TEST(FakeSleeper, AdvancesTheClockAndHonoursCancel) {
  FakeClock clock;
  FakeSleeper sleeper(clock);
  CancelFlag cancel;
  MonoTime start = clock.Monotonic();
  EXPECT_TRUE(sleeper.Sleep(3s, cancel));
  EXPECT_EQ(clock.Monotonic() - start, 3s);
  cancel.Cancel();
  EXPECT_FALSE(sleeper.Sleep(3s, cancel));
  EXPECT_EQ(sleeper.sleeps().size(), 1u);
}

TEST(RealSleeper, ReturnsEarlyWhenCancelled) {
  CancelFlag cancel;
  cancel.Cancel();
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(RealSleeper::Instance().Sleep(10s, cancel));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

}  // namespace
}  // namespace nodeguard::kube
