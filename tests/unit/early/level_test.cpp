#include "early/level.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <ostream>
#include <string>

namespace nodeguard::early {
namespace {

using namespace std::chrono_literals;

const WallTime kNow = WallTime(std::chrono::seconds(1'800'000'000));

PlegFigures Figures(std::optional<double> p99, std::optional<double> age) {
  PlegFigures f;
  f.relist_p99_seconds = p99;
  f.last_seen_age_seconds = age;
  return f;
}

LevelState State(Level level, std::optional<WallTime> calm_since = std::nullopt) {
  return LevelState{level, calm_since};
}

// One case per row of the table in level.h (and a few boundaries).
struct Row {
  std::string name;
  LevelState state;
  PlegFigures figures;
  LevelState want;
  LevelReason reason;
};
void PrintTo(const Row& r, std::ostream* os) { *os << r.name; }

class DecideLevelTable : public testing::TestWithParam<Row> {};

TEST_P(DecideLevelTable, Row) {
  const Row& r = GetParam();
  LevelDecision d = DecideLevel(r.state, r.figures, Thresholds{}, kNow);
  EXPECT_EQ(LevelName(d.state.level), std::string(LevelName(r.want.level))) << d.explanation;
  EXPECT_EQ(d.state.calm_since, r.want.calm_since);
  EXPECT_EQ(LevelReasonName(d.reason), std::string(LevelReasonName(r.reason)));
  EXPECT_EQ(d.changed, r.want.level != r.state.level);
  EXPECT_FALSE(d.explanation.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Rows, DecideLevelTable,
    testing::Values(
        // not readable -> level kept, calm clock cleared.
        Row{"NoDataKeepsDegraded", State(Level::kDegraded, kNow - 30s), Figures({}, {}),
            State(Level::kDegraded), LevelReason::kNoData},
        Row{"NoDataKeepsCritical", State(Level::kCritical), Figures({}, {}),
            State(Level::kCritical), LevelReason::kNoData},
        // critical -> Critical, from any level.
        Row{"LastSeenOver30sFromHealthy", State(Level::kHealthy), Figures({}, 31),
            State(Level::kCritical), LevelReason::kLastSeenOverCritical},
        Row{"LastSeenOver30sFromDegradedHolding", State(Level::kDegraded, kNow - 10s),
            Figures(0.01, 30.5), State(Level::kCritical), LevelReason::kLastSeenOverCritical},
        // level Critical, age > calm mark -> stays Critical.
        Row{"CriticalBetweenMarks", State(Level::kCritical), Figures({}, 20),
            State(Level::kCritical), LevelReason::kWithinHysteresis},
        // level Critical, age <= calm mark -> Degraded (even with a calm p99).
        Row{"CriticalRelistResumedSlow", State(Level::kCritical), Figures(10, 1),
            State(Level::kDegraded), LevelReason::kRelistResumed},
        Row{"CriticalRelistResumedFast", State(Level::kCritical), Figures(0.01, 10),
            State(Level::kDegraded), LevelReason::kRelistResumed},
        // slow -> Degraded.
        Row{"SlowFromHealthy", State(Level::kHealthy), Figures(1.2, 2), State(Level::kDegraded),
            LevelReason::kRelistOverDegraded},
        Row{"SlowWhileHoldingRestartsTheClock", State(Level::kDegraded, kNow - 100s), Figures(2, 1),
            State(Level::kDegraded), LevelReason::kRelistOverDegraded},
        Row{"SlowWithoutAge", State(Level::kHealthy), Figures(3, {}), State(Level::kDegraded),
            LevelReason::kRelistOverDegraded},
        // level Healthy, not slow, not critical -> Healthy.
        Row{"HealthyAtTheDegradedMark", State(Level::kHealthy), Figures(1.0, 29.9),
            State(Level::kHealthy), LevelReason::kBelowMarks},
        Row{"HealthyNoRelistInWindow", State(Level::kHealthy), Figures({}, 12),
            State(Level::kHealthy), LevelReason::kBelowMarks},
        // level Degraded, not calm -> Degraded, clock cleared.
        Row{"DegradedP99BetweenMarks", State(Level::kDegraded, kNow - 100s), Figures(0.8, 1),
            State(Level::kDegraded), LevelReason::kWithinHysteresis},
        Row{"DegradedAgeBetweenMarks", State(Level::kDegraded, kNow - 100s), Figures(0.1, 15),
            State(Level::kDegraded), LevelReason::kWithinHysteresis},
        // level Degraded, calm, for < hold -> Degraded, clock started or kept.
        Row{"DegradedCalmStartsTheClock", State(Level::kDegraded), Figures(0.5, 10),
            State(Level::kDegraded, kNow), LevelReason::kHolding},
        Row{"DegradedCalmHolding", State(Level::kDegraded, kNow - 119s), Figures(0.02, 1),
            State(Level::kDegraded, kNow - 119s), LevelReason::kHolding},
        // level Degraded, calm for >= hold -> Healthy.
        Row{"DegradedCalmForHoldRecovers", State(Level::kDegraded, kNow - 120s), Figures(0.02, 1),
            State(Level::kHealthy), LevelReason::kRecovered},
        Row{"DegradedCalmNoRelistInWindowRecovers", State(Level::kDegraded, kNow - 300s),
            Figures({}, 1), State(Level::kHealthy), LevelReason::kRecovered}),
    [](const testing::TestParamInfo<Row>& p) { return p.param.name; });

TEST(DecideLevel, HoldIsConfigurable) {
  Thresholds t;
  t.hold = 0s;
  LevelDecision d = DecideLevel(State(Level::kDegraded), Figures(0.1, 1), t, kNow);
  EXPECT_EQ(d.state.level, Level::kHealthy);
  EXPECT_TRUE(d.changed);
}

// The freeze the real kubelet showed, scrape by scrape (figures.h: a hung
// relist moves no histogram, then lands past the top bucket).
TEST(DecideLevel, FreezeEpisode) {
  Thresholds t;
  LevelState s;
  auto step = [&](PlegFigures f, WallTime now) {
    LevelDecision d = DecideLevel(s, f, t, now);
    s = d.state;
    return s.level;
  };
  WallTime t0 = kNow;
  EXPECT_EQ(step(Figures(0.01, 1), t0), Level::kHealthy);
  EXPECT_EQ(step(Figures({}, 20), t0 + 20s), Level::kHealthy);  // Frozen, not yet 30 s.
  EXPECT_EQ(step(Figures({}, 157), t0 + 157s), Level::kCritical);
  EXPECT_EQ(step(Figures(10, 1), t0 + 300s), Level::kDegraded);  // Thawed: the hung relist.
  EXPECT_EQ(step(Figures(10, 1), t0 + 330s), Level::kDegraded);
  EXPECT_EQ(step(Figures(0.01, 1), t0 + 360s), Level::kDegraded);  // Calm: holding.
  EXPECT_EQ(step(Figures(0.01, 1), t0 + 479s), Level::kDegraded);
  EXPECT_EQ(step(Figures(0.01, 1), t0 + 480s), Level::kHealthy);
}

struct PublishRow {
  std::string name;
  Published published;
  Level level;
  PlegFigures figures;
  PublishReason want;
};
void PrintTo(const PublishRow& r, std::ostream* os) { *os << r.name; }

class ShouldPublishTable : public testing::TestWithParam<PublishRow> {};

TEST_P(ShouldPublishTable, Row) {
  const PublishRow& r = GetParam();
  EXPECT_EQ(PublishReasonName(ShouldPublish(r.published, r.level, r.figures, kNow)),
            std::string(PublishReasonName(r.want)));
}

Published Was(Level level, WallTime at, std::optional<double> p99, std::optional<double> age) {
  return Published{level, at, p99, age};
}

INSTANTIATE_TEST_SUITE_P(
    Rows, ShouldPublishTable,
    testing::Values(PublishRow{"NeverWritten", Published{}, Level::kHealthy, Figures(0.01, 1),
                               PublishReason::kFirst},
                    PublishRow{"LevelChangedWritesAtOnce", Was(Level::kHealthy, kNow - 1s, 0.01, 1),
                               Level::kDegraded, Figures(2, 1), PublishReason::kLevelChanged},
                    PublishRow{"FiguresMovedAfterAMinute", Was(Level::kDegraded, kNow - 60s, 2, 1),
                               Level::kDegraded, Figures(5, 1), PublishReason::kFiguresMoved},
                    PublishRow{"FiguresMovedWithinAMinute", Was(Level::kDegraded, kNow - 59s, 2, 1),
                               Level::kDegraded, Figures(5, 1), PublishReason::kNone},
                    PublishRow{"FiguresStillAfterAnHour",
                               Was(Level::kHealthy, kNow - 3600s, 0.01, 1), Level::kHealthy,
                               Figures(0.04, 4), PublishReason::kNone},
                    PublishRow{"P99Appeared", Was(Level::kHealthy, kNow - 61s, {}, 1),
                               Level::kHealthy, Figures(0.01, 1), PublishReason::kFiguresMoved},
                    PublishRow{"AgeMovedOver5s", Was(Level::kHealthy, kNow - 61s, 0.01, 1),
                               Level::kHealthy, Figures(0.01, 7), PublishReason::kFiguresMoved},
                    PublishRow{"HealthyP99MovedBelowTheDegradedMark",
                               Was(Level::kHealthy, kNow - 3600s, 0.01, 1), Level::kHealthy,
                               Figures(0.9, 1), PublishReason::kNone},
                    PublishRow{"DegradedP99MovedWithinTheCalmMark",
                               Was(Level::kDegraded, kNow - 3600s, 0.05, 1), Level::kDegraded,
                               Figures(0.45, 1), PublishReason::kNone},
                    PublishRow{"DegradedP99MovedPastTheCalmMark",
                               Was(Level::kDegraded, kNow - 61s, 0.3, 1), Level::kDegraded,
                               Figures(0.8, 1), PublishReason::kFiguresMoved}),
    [](const testing::TestParamInfo<PublishRow>& p) { return p.param.name; });

TEST(FiguresMoved, Tolerance) {
  Published p = Was(Level::kDegraded, kNow, 1.0, 1);
  EXPECT_FALSE(FiguresMoved(p, Figures(1.19, 1)));  // Within 20%.
  EXPECT_TRUE(FiguresMoved(p, Figures(1.21, 1)));
  p.relist_p99_seconds = 0.6;
  EXPECT_FALSE(FiguresMoved(p, Figures(0.64, 1)));  // Within 50 ms.
  EXPECT_TRUE(FiguresMoved(p, Figures(0.76, 1)));
}

TEST(FiguresMoved, P99MovesBelowTheMarkThatCouldChangeTheLevelDoNotCount) {
  // Healthy: only the Degraded mark (1 s) could change the level.
  Published healthy = Was(Level::kHealthy, kNow, 0.01, 1);
  EXPECT_FALSE(FiguresMoved(healthy, Figures(1.0, 1)));
  EXPECT_TRUE(FiguresMoved(healthy, Figures(1.1, 1)));
  // Degraded (and Critical): the calm mark (0.5 s) starts the way back.
  Published degraded = Was(Level::kDegraded, kNow, 0.01, 1);
  EXPECT_FALSE(FiguresMoved(degraded, Figures(0.5, 1)));
  EXPECT_TRUE(FiguresMoved(degraded, Figures(0.56, 1)));
  degraded.relist_p99_seconds = 0.7;
  EXPECT_TRUE(FiguresMoved(degraded, Figures(0.3, 1)));  // Coming back under it is news.
  // The policy's marks count, not the defaults.
  Thresholds strict;
  strict.degraded_relist_p99 = std::chrono::milliseconds(200);
  EXPECT_TRUE(FiguresMoved(healthy, Figures(0.3, 1), strict));
}

}  // namespace
}  // namespace nodeguard::early
