#include "notify/delivery.h"

#include <gtest/gtest.h>

#include <chrono>
#include <ostream>
#include <string>

namespace nodeguard::notify {
namespace {

using namespace std::chrono_literals;

// 2026-12-07T03:00:00Z.
const WallTime kNow = WallTime(std::chrono::seconds(1'796'612'400));

DeliveryOptions Options() {
  DeliveryOptions o;
  o.max_attempts = 5;
  o.max_age = 1h;
  o.initial_backoff = 2s;
  o.max_backoff = 60s;
  o.factor = 2.0;
  o.jitter = 0.0;  // Exact delays in the table; jitter has its own test.
  o.max_retry_after = 10min;
  return o;
}

struct Row {
  std::string name;
  AttemptResult result;
  int attempts;
  Duration age;
  Decision want;
  Duration want_wait;
  std::string want_reason;
};
void PrintTo(const Row& r, std::ostream* os) { *os << r.name; }

class DecideAfterAttemptTable : public testing::TestWithParam<Row> {};

TEST_P(DecideAfterAttemptTable, Row) {
  const Row& r = GetParam();
  const Verdict v = DecideAfterAttempt(Options(), r.result, r.attempts, r.age, kNow, 0.5);
  EXPECT_EQ(DecisionName(v.decision), std::string(DecisionName(r.want)));
  EXPECT_EQ(v.wait, r.want_wait);
  EXPECT_EQ(v.reason, r.want_reason);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, DecideAfterAttemptTable,
    testing::Values(
        Row{"ok200", {200, ""}, 1, 0s, Decision::kSent, 0s, "ok"},
        Row{"ok204", {204, ""}, 3, 10min, Decision::kSent, 0s, "ok"},
        Row{"first500", {500, ""}, 1, 0s, Decision::kRetry, 2s, "http_5xx"},
        Row{"second503", {503, ""}, 2, 2s, Decision::kRetry, 4s, "http_5xx"},
        Row{"third502", {502, ""}, 3, 6s, Decision::kRetry, 8s, "http_5xx"},
        Row{"backoffCapped", {500, ""}, 4, 1min, Decision::kRetry, 16s, "http_5xx"},
        Row{"network", {0, ""}, 1, 0s, Decision::kRetry, 2s, "network"},
        Row{"tls", {0, "", true}, 1, 0s, Decision::kRetry, 2s, "tls"},
        Row{"requestTimeout408", {408, ""}, 1, 0s, Decision::kRetry, 2s, "http_408"},
        Row{"retryAfterSeconds", {429, "30"}, 1, 0s, Decision::kRetry, 30s, "http_429"},
        Row{"retryAfterSpaces", {429, " 7 "}, 1, 0s, Decision::kRetry, 7s, "http_429"},
        Row{"retryAfterDate",
            {429, "Mon, 07 Dec 2026 03:00:30 GMT"},
            1,
            0s,
            Decision::kRetry,
            30s,
            "http_429"},
        Row{"retryAfterPastDate",
            {429, "Mon, 07 Dec 2026 02:00:00 GMT"},
            1,
            0s,
            Decision::kRetry,
            0s,
            "http_429"},
        Row{"retryAfterCapped", {429, "86400"}, 1, 0s, Decision::kRetry, 10min, "http_429"},
        Row{"retryAfterAbsent", {429, ""}, 2, 0s, Decision::kRetry, 4s, "http_429"},
        Row{"retryAfterGarbage", {429, "soon"}, 1, 0s, Decision::kRetry, 2s, "http_429"},
        Row{"badRequest", {400, ""}, 1, 0s, Decision::kGiveUp, 0s, "http_4xx"},
        Row{"forbidden", {403, ""}, 1, 0s, Decision::kGiveUp, 0s, "http_4xx"},
        Row{"notFound", {404, ""}, 1, 0s, Decision::kGiveUp, 0s, "http_4xx"},
        Row{"redirect", {302, ""}, 1, 0s, Decision::kGiveUp, 0s, "http_other"},
        Row{"lastAttempt500", {500, ""}, 5, 30s, Decision::kGiveUp, 0s, "max_attempts"},
        Row{"lastAttempt429", {429, "1"}, 5, 30s, Decision::kGiveUp, 0s, "max_attempts"},
        Row{"tooOld", {500, ""}, 2, 59min + 57s, Decision::kGiveUp, 0s, "max_age"},
        Row{"justInTime", {500, ""}, 2, 59min + 56s, Decision::kRetry, 4s, "http_5xx"},
        Row{"retryAfterPastMaxAge", {429, "600"}, 1, 55min, Decision::kGiveUp, 0s, "max_age"}),
    [](const testing::TestParamInfo<Row>& row) { return row.param.name; });

// The metric's reason of a failed notification is what a person fixes: the
// last attempt's cause, also on the last attempt allowed; max_age as such.
TEST(FailureReasonTest, TheCauseOfTheLastAttemptOrMaxAge) {
  struct Case {
    AttemptResult result;
    int attempts;
    Duration age;
    const char* want;
  };
  for (const Case& c : {Case{{500, ""}, 5, 30s, "http_5xx"}, Case{{429, "1"}, 5, 30s, "http_429"},
                        Case{{0, ""}, 5, 30s, "network"}, Case{{0, "", true}, 5, 30s, "tls"},
                        Case{{404, ""}, 1, 0s, "http_4xx"}, Case{{302, ""}, 1, 0s, "http_other"},
                        Case{{0, "", true}, 2, 59min + 57s, "max_age"}}) {
    const Verdict v = DecideAfterAttempt(Options(), c.result, c.attempts, c.age, kNow, 0.5);
    EXPECT_EQ(v.decision, Decision::kGiveUp) << c.want;
    EXPECT_EQ(FailureReason(v), c.want);
  }
}

TEST(SinkHealthTest, FailingAfterThreeFailuresInARowUntilOneIsSent) {
  SinkHealth h;
  EXPECT_FALSE(h.Record("ding", "failed", "network"));
  EXPECT_FALSE(h.Record("ding", "dropped", "queue_full")) << "a drop neither counts nor clears";
  EXPECT_FALSE(h.Record("ding", "failed", "network"));
  EXPECT_FALSE(h.Record("slack", "failed", "http_4xx"));
  EXPECT_TRUE(h.Failing().empty());
  EXPECT_TRUE(h.Record("ding", "failed", "tls")) << "the third in a row";
  EXPECT_EQ(h.Failing(), (std::vector<FailingSink>{{"ding", "tls", 3}}));
  EXPECT_FALSE(h.Record("ding", "failed", "http_5xx")) << "still failing: no change";
  EXPECT_EQ(h.Failing(), (std::vector<FailingSink>{{"ding", "http_5xx", 4}}));
  EXPECT_FALSE(h.Record("slack", "sent", "ok")) << "slack was not failing";
  EXPECT_FALSE(h.Record("slack", "failed", "http_4xx"));
  EXPECT_FALSE(h.Record("slack", "failed", "http_4xx")) << "the sent one broke the row";
  EXPECT_TRUE(h.Record("ding", "sent", "ok"));
  EXPECT_TRUE(h.Failing().empty());
  EXPECT_FALSE(h.Record("ding", "failed", "network")) << "counted from zero again";
}

TEST(BackoffDelayTest, JitterStretchesBelowTheCapAndShrinksAtIt) {
  DeliveryOptions o = Options();
  o.jitter = 0.2;
  EXPECT_EQ(BackoffDelay(o, 1, 0.0), 2s);
  EXPECT_EQ(BackoffDelay(o, 1, 0.5), 2200ms);
  EXPECT_EQ(BackoffDelay(o, 3, 0.5), 8800ms);
  // 2 s * 2^5 = 64 s is past the 60 s cap: the delay never exceeds the cap.
  EXPECT_EQ(BackoffDelay(o, 6, 0.0), 60s);
  EXPECT_EQ(BackoffDelay(o, 6, 0.5), 54s);
  EXPECT_LE(BackoffDelay(o, 1000, 0.999), 60s);
}

TEST(ParseRetryAfterTest, SecondsAndDatesOnly) {
  EXPECT_EQ(ParseRetryAfter("0", kNow), Duration(0));
  EXPECT_EQ(ParseRetryAfter("120", kNow), Duration(120s));
  EXPECT_FALSE(ParseRetryAfter("", kNow).has_value());
  EXPECT_FALSE(ParseRetryAfter("-1", kNow).has_value());
  EXPECT_FALSE(ParseRetryAfter("1.5", kNow).has_value());
  EXPECT_FALSE(ParseRetryAfter("Mon, 07 Dec 2026 03:00:30 UTC", kNow).has_value());
  EXPECT_FALSE(ParseRetryAfter("Mon, 07 Foo 2026 03:00:30 GMT", kNow).has_value());
  EXPECT_EQ(ParseRetryAfter("Mon, 07 Dec 2026 03:01:00 GMT", kNow), Duration(60s));
}

TEST(SinkQueueTest, FullQueueDropsTheOldestAndHandsItBack) {
  SinkQueue<int> q(3);
  EXPECT_FALSE(q.Push(1).has_value());
  EXPECT_FALSE(q.Push(2).has_value());
  EXPECT_FALSE(q.Push(3).has_value());
  EXPECT_EQ(q.Push(4), 1);
  EXPECT_EQ(q.Push(5), 2);
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.Pop(), 3);
  EXPECT_EQ(q.Pop(), 4);
  EXPECT_EQ(q.Pop(), 5);
  EXPECT_FALSE(q.Pop().has_value());
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(SinkQueue<int>(0).capacity(), 1u);
}

}  // namespace
}  // namespace nodeguard::notify
