#include "early/annotation.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/time.h"

namespace nodeguard::early {
namespace {

using namespace std::chrono_literals;

TEST(EarlyWarningAnnotation, EncodesLevelTimesReasonAndKnownFiguresOnly) {
  EarlyWarningRecord r;
  r.level = Level::kCritical;
  r.since = *ParseRfc3339("2026-12-07T10:45:59Z");
  r.observed_at = *ParseRfc3339("2026-12-07T10:46:29Z");
  r.reason = LevelReason::kLastSeenOverCritical;
  r.figures.last_seen_age_seconds = 41.23456;
  r.figures.scrape_pending_seconds = 41.23456;
  auto j = nlohmann::json::parse(EncodeEarlyWarning(r));
  EXPECT_EQ(j["level"], "Critical");
  EXPECT_EQ(j["since"], "2026-12-07T10:45:59Z");
  EXPECT_EQ(j["observedAt"], "2026-12-07T10:46:29Z");
  EXPECT_EQ(j["reason"], "LastSeenOverCritical");
  EXPECT_DOUBLE_EQ(j["figures"]["lastRelistAgeSeconds"].get<double>(), 41.235);
  EXPECT_DOUBLE_EQ(j["figures"]["scrapePendingSeconds"].get<double>(), 41.235);
  EXPECT_FALSE(j["figures"].contains("relistP99Seconds"));
  EXPECT_FALSE(j["figures"].contains("windowSeconds"));
}

TEST(EarlyWarningAnnotation, WindowFiguresAndListOperations) {
  EarlyWarningRecord r;
  r.figures.window_seconds = 60;
  r.figures.relists = 59;
  r.figures.relist_p99_seconds = 10;
  r.figures.relist_p99_above_top = true;
  r.figures.running_pods = 4;
  r.figures.list_operations = {{"list_podsandbox", 296.0, 2}, {"list_containers", 0.0123, 3}};
  auto j = nlohmann::json::parse(EncodeEarlyWarning(r));
  EXPECT_EQ(j["figures"]["windowSeconds"], 60.0);
  EXPECT_EQ(j["figures"]["relists"], 59.0);
  EXPECT_EQ(j["figures"]["relistP99AboveTop"], true);
  EXPECT_EQ(j["figures"]["runningPods"], 4.0);
  EXPECT_EQ(j["figures"]["listPodSandboxP99Seconds"], 296.0);
  EXPECT_DOUBLE_EQ(j["figures"]["listContainersP99Seconds"].get<double>(), 0.012);
}

TEST(EarlyWarningAnnotation, DecodeGivesBackWhatShouldPublishComparesWith) {
  EarlyWarningRecord r;
  r.level = Level::kDegraded;
  r.since = *ParseRfc3339("2026-12-07T10:49:09Z");
  r.observed_at = *ParseRfc3339("2026-12-07T10:50:09Z");
  r.figures.relist_p99_seconds = 2.5;
  r.figures.last_seen_age_seconds = 1;
  auto d = DecodeEarlyWarning(EncodeEarlyWarning(r));
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->level, Level::kDegraded);
  EXPECT_EQ(d->since, r.since);
  EXPECT_EQ(d->published.level, std::optional<Level>(Level::kDegraded));
  EXPECT_EQ(d->published.at, std::optional<WallTime>(r.observed_at));
  EXPECT_EQ(d->published.relist_p99_seconds, std::optional<double>(2.5));
  EXPECT_EQ(d->published.last_seen_age_seconds, std::optional<double>(1));
  // Unchanged figures and level: nothing to write after a restart.
  PlegFigures same;
  same.relist_p99_seconds = 2.5;
  same.last_seen_age_seconds = 1;
  EXPECT_EQ(ShouldPublish(d->published, Level::kDegraded, same, r.observed_at + 10min),
            PublishReason::kNone);
}

TEST(EarlyWarningAnnotation, DecodeRefusesMalformed) {
  for (const char* bad :
       {"", "[]", "{}", R"({"level":"Sick","since":"2026-12-07T10:49:09Z","observedAt":"x"})",
        R"({"level":"Healthy","since":"2026-12-07T10:49:09Z"})",
        R"({"level":"Healthy","since":"yesterday","observedAt":"2026-12-07T10:49:09Z"})"}) {
    EXPECT_FALSE(DecodeEarlyWarning(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace nodeguard::early
