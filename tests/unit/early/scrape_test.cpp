#include "early/scrape.h"

#include <gtest/gtest.h>

#include <chrono>
#include <ostream>
#include <set>
#include <string>

namespace nodeguard::early {
namespace {

using namespace std::chrono_literals;

const WallTime kNow = WallTime(std::chrono::seconds(1'800'000'000));

// One case per row of ClassifyScrape's table (scrape.h).
struct ClassifyRow {
  std::string name;
  ScrapeAttempt attempt;
  ScrapeFailure want;
};
void PrintTo(const ClassifyRow& r, std::ostream* os) { *os << r.name; }

ScrapeAttempt Transport(ErrorKind kind, std::string message = "") {
  ScrapeAttempt a;
  a.transport_error = kind;
  a.transport_message = std::move(message);
  return a;
}
ScrapeAttempt Status(int status) {
  ScrapeAttempt a;
  a.status = status;
  return a;
}
ScrapeAttempt Body(bool over_limit, bool parse_failed, bool ends_with_newline) {
  ScrapeAttempt a = Status(200);
  a.body_over_limit = over_limit;
  a.parse_failed = parse_failed;
  a.body_ends_with_newline = ends_with_newline;
  return a;
}

class ClassifyScrapeTable : public testing::TestWithParam<ClassifyRow> {};

TEST_P(ClassifyScrapeTable, Row) {
  const ClassifyRow& r = GetParam();
  EXPECT_EQ(ScrapeFailureName(ClassifyScrape(r.attempt)), std::string(ScrapeFailureName(r.want)));
}

INSTANTIATE_TEST_SUITE_P(
    Rows, ClassifyScrapeTable,
    testing::Values(
        ClassifyRow{"1_Cancelled", Transport(ErrorKind::kCancelled), ScrapeFailure::kCancelled},
        ClassifyRow{"2_NoToken", Transport(ErrorKind::kUnauthorized, "token file x: missing"),
                    ScrapeFailure::kNoToken},
        ClassifyRow{"3_Timeout", Transport(ErrorKind::kTimeout, "no headers within 150s"),
                    ScrapeFailure::kTimeout},
        ClassifyRow{"4_TlsCertificate",
                    Transport(ErrorKind::kUnavailable,
                              "GET https://127.0.0.1:10250/metrics: certificate verify failed"),
                    ScrapeFailure::kTls},
        ClassifyRow{"4_TlsHandshake", Transport(ErrorKind::kUnavailable, "SSL Handshake failed"),
                    ScrapeFailure::kTls},
        ClassifyRow{"5_Refused", Transport(ErrorKind::kUnavailable, "Connection refused"),
                    ScrapeFailure::kUnreachable},
        ClassifyRow{"6_Status401", Status(401), ScrapeFailure::kUnauthorized},
        ClassifyRow{"7_Status403", Status(403), ScrapeFailure::kForbidden},
        ClassifyRow{"8_Status500", Status(500), ScrapeFailure::kHttpStatus},
        ClassifyRow{"8_Status404", Status(404), ScrapeFailure::kHttpStatus},
        ClassifyRow{"9_TooLarge", Body(true, false, false), ScrapeFailure::kTooLarge},
        ClassifyRow{"10_Truncated", Body(false, true, false), ScrapeFailure::kTruncated},
        ClassifyRow{"11_Unparsable", Body(false, true, true), ScrapeFailure::kUnparsable},
        ClassifyRow{"12_Fine", Body(false, false, true), ScrapeFailure::kNone}),
    [](const testing::TestParamInfo<ClassifyRow>& p) { return p.param.name; });

TEST(ScrapeFailure, CountedKindsHaveDistinctNamesAndExcludeNoneAndCancelled) {
  std::set<std::string> names;
  for (ScrapeFailure f : CountedScrapeFailures()) {
    EXPECT_NE(f, ScrapeFailure::kNone);
    EXPECT_NE(f, ScrapeFailure::kCancelled);
    EXPECT_TRUE(names.insert(ScrapeFailureName(f)).second) << ScrapeFailureName(f);
  }
  EXPECT_EQ(names.size(), 10u);
}

// PickBaseline's rows.
TEST(PickBaseline, Row1_NoneKept) { EXPECT_EQ(PickBaseline({}, kNow, 60s), std::nullopt); }

TEST(PickBaseline, Row2_NewestAtLeastAWindowOld) {
  std::deque<WallTime> kept = {kNow - 80s, kNow - 70s, kNow - 60s, kNow - 50s, kNow - 10s};
  EXPECT_EQ(PickBaseline(kept, kNow, 60s), std::optional<size_t>(2));
}

TEST(PickBaseline, Row3_AllYoungerTakesTheOldest) {
  std::deque<WallTime> kept = {kNow - 30s, kNow - 20s, kNow - 10s};
  EXPECT_EQ(PickBaseline(kept, kNow, 60s), std::optional<size_t>(0));
}

// PendingScrapeFigures' rows, and what DecideLevel makes of them.
TEST(PendingScrapeFigures, Row1_UpToCalmLastSeenWaits) {
  EXPECT_FALSE(PendingScrapeFigures(0s, Thresholds{}).has_value());
  EXPECT_FALSE(PendingScrapeFigures(10s, Thresholds{}).has_value());
}

TEST(PendingScrapeFigures, Row2_LongerStandsForTheLastRelistAge) {
  auto f = PendingScrapeFigures(11500ms, Thresholds{});
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->last_seen_age_seconds, std::optional<double>(11.5));
  EXPECT_EQ(f->scrape_pending_seconds, std::optional<double>(11.5));
  EXPECT_FALSE(f->relist_p99_seconds.has_value());
}

TEST(PendingScrapeFigures, DecideLevel_HealthyStaysHealthyUntilCriticalLastSeen) {
  auto f = PendingScrapeFigures(30s, Thresholds{});
  ASSERT_TRUE(f.has_value());
  auto d = DecideLevel(LevelState{Level::kHealthy, {}}, *f, Thresholds{}, kNow);
  EXPECT_EQ(d.state.level, Level::kHealthy);
}

TEST(PendingScrapeFigures, DecideLevel_PendingOverCriticalLastSeenIsCritical) {
  auto f = PendingScrapeFigures(31s, Thresholds{});
  ASSERT_TRUE(f.has_value());
  auto d = DecideLevel(LevelState{Level::kHealthy, {}}, *f, Thresholds{}, kNow);
  EXPECT_EQ(d.state.level, Level::kCritical);
  EXPECT_EQ(d.reason, LevelReason::kLastSeenOverCritical);
  EXPECT_NE(d.explanation.find("has not answered /metrics for 31s"), std::string::npos)
      << d.explanation;
}

TEST(PendingScrapeFigures, DecideLevel_CriticalStaysCriticalWhilePending) {
  auto f = PendingScrapeFigures(15s, Thresholds{});
  ASSERT_TRUE(f.has_value());
  auto d = DecideLevel(LevelState{Level::kCritical, {}}, *f, Thresholds{}, kNow);
  EXPECT_EQ(d.state.level, Level::kCritical);
}

TEST(PendingScrapeFigures, DecideLevel_NeverCalmSoNoRecoveryProgress) {
  auto f = PendingScrapeFigures(11s, Thresholds{});
  ASSERT_TRUE(f.has_value());
  auto d = DecideLevel(LevelState{Level::kDegraded, kNow - 100s}, *f, Thresholds{}, kNow);
  EXPECT_EQ(d.state.level, Level::kDegraded);
  EXPECT_FALSE(d.state.calm_since.has_value());
}

TEST(LogGate, FirstAtOnceThenOncePerIntervalWithTheSuppressedCount) {
  LogGate gate(60s);
  const MonoTime t0{};
  EXPECT_EQ(gate.Admit("Timeout", t0), std::optional<uint64_t>(0));
  EXPECT_EQ(gate.Admit("Timeout", t0 + 10s), std::nullopt);
  EXPECT_EQ(gate.Admit("Timeout", t0 + 20s), std::nullopt);
  EXPECT_EQ(gate.Admit("Forbidden", t0 + 20s), std::optional<uint64_t>(0));  // Per kind.
  EXPECT_EQ(gate.Admit("Timeout", t0 + 60s), std::optional<uint64_t>(2));
  EXPECT_EQ(gate.Admit("Timeout", t0 + 61s), std::nullopt);
}

}  // namespace
}  // namespace nodeguard::early
