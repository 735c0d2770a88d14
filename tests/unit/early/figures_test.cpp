#include "early/figures.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

namespace nodeguard::early {
namespace {

using std::chrono::seconds;

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(NODEGUARD_TESTDATA_DIR) + "/real-kubelet/" + name, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Exposition MustParse(std::string_view body) {
  auto r = ParseExposition(body, PlegFamilies());
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r).value() : Exposition{};
}

WallTime At(int64_t unix_seconds) { return WallTime(seconds(unix_seconds)); }

// The Unix time a testdata file was scraped at, from its "scraped at unix N" comment.
int64_t ScrapedAt(const std::string& body) {
  const std::string key = "scraped at unix ";
  size_t p = body.find(key);
  EXPECT_NE(p, std::string::npos);
  return p == std::string::npos ? 0 : std::stoll(body.substr(p + key.size()));
}

Histogram H(std::vector<std::pair<double, double>> buckets, double sum) {
  Histogram h;
  h.buckets = std::move(buckets);
  h.count = h.buckets.back().second;
  h.sum = sum;
  return h;
}

// A body with the PLEG families: relist buckets (cumulative, bounds
// 0.1/1/10/+Inf), last seen, discard events, running pods/containers.
std::string Body(double b01, double b1, double b10, double inf, double last_seen, double discard,
                 double pods = 3) {
  std::ostringstream s;
  s << "# TYPE kubelet_pleg_relist_duration_seconds histogram\n"
    << "kubelet_pleg_relist_duration_seconds_bucket{le=\"0.1\"} " << b01 << "\n"
    << "kubelet_pleg_relist_duration_seconds_bucket{le=\"1\"} " << b1 << "\n"
    << "kubelet_pleg_relist_duration_seconds_bucket{le=\"10\"} " << b10 << "\n"
    << "kubelet_pleg_relist_duration_seconds_bucket{le=\"+Inf\"} " << inf << "\n"
    << "kubelet_pleg_relist_duration_seconds_sum 1\n"
    << "kubelet_pleg_relist_duration_seconds_count " << inf << "\n"
    << "# TYPE kubelet_pleg_relist_interval_seconds histogram\n"
    << "kubelet_pleg_relist_interval_seconds_bucket{le=\"+Inf\"} " << inf << "\n"
    << "kubelet_pleg_relist_interval_seconds_sum " << inf * 1.0 << "\n"
    << "kubelet_pleg_relist_interval_seconds_count " << inf << "\n"
    << "# TYPE kubelet_pleg_last_seen_seconds gauge\n"
    << "kubelet_pleg_last_seen_seconds " << last_seen << "\n"
    << "kubelet_pleg_discard_events " << discard << "\n"
    << "kubelet_running_pods " << pods << "\n"
    << "kubelet_running_containers{container_state=\"created\"} 1\n"
    << "kubelet_running_containers{container_state=\"running\"} " << pods << "\n"
    << "# TYPE kubelet_runtime_operations_duration_seconds histogram\n"
    << "kubelet_runtime_operations_duration_seconds_bucket{operation_type=\"list_podsandbox\",le="
       "\"0.01\"} "
    << b01 << "\n"
    << "kubelet_runtime_operations_duration_seconds_bucket{operation_type=\"list_podsandbox\",le="
       "\"+Inf\"} "
    << inf << "\n"
    << "kubelet_runtime_operations_duration_seconds_sum{operation_type=\"list_podsandbox\"} 1\n"
    << "kubelet_runtime_operations_duration_seconds_count{operation_type=\"list_podsandbox\"} "
    << inf << "\n";
  return s.str();
}

TEST(HistogramQuantile, InterpolatesLikePrometheus) {
  Histogram h = H({{0.1, 50}, {1, 90}, {10, 100}, {INFINITY, 100}}, 0);
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.5, h), 0.1);
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.25, h), 0.05);  // First bucket from 0.
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.7, h), 0.55);
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.99, h), 9.1);
  bool above = true;
  EXPECT_DOUBLE_EQ(*HistogramQuantile(1, h, &above), 10);
  EXPECT_FALSE(above);
}

TEST(HistogramQuantile, InInfBucketGivesTheTopBound) {
  Histogram h = H({{0.1, 1}, {10, 1}, {INFINITY, 3}}, 0);
  bool above = false;
  EXPECT_EQ(HistogramQuantile(0.99, h, &above), 10);
  EXPECT_TRUE(above);
}

TEST(HistogramQuantile, EmptyOrBadQuantile) {
  EXPECT_FALSE(HistogramQuantile(0.99, H({{1, 0}, {INFINITY, 0}}, 0)));
  EXPECT_FALSE(HistogramQuantile(1.5, H({{1, 1}, {INFINITY, 1}}, 0)));
  EXPECT_FALSE(HistogramQuantile(NAN, H({{1, 1}, {INFINITY, 1}}, 0)));
}

TEST(HistogramIncrease, Delta) {
  bool reset = false;
  Histogram d =
      HistogramIncrease(H({{1, 5}, {INFINITY, 6}}, 2), H({{1, 8}, {INFINITY, 10}}, 5), &reset);
  EXPECT_FALSE(reset);
  EXPECT_EQ(d, H({{1, 3}, {INFINITY, 4}}, 3));
}

TEST(HistogramIncrease, CounterResetUsesTheCurrentValues) {
  bool reset = false;
  Histogram cur = H({{1, 2}, {INFINITY, 2}}, 0.2);
  EXPECT_EQ(HistogramIncrease(H({{1, 5}, {INFINITY, 6}}, 2), cur, &reset), cur);
  EXPECT_TRUE(reset);
  reset = false;  // Other bounds: a different kubelet.
  EXPECT_EQ(HistogramIncrease(H({{2, 1}, {INFINITY, 1}}, 2), cur, &reset), cur);
  EXPECT_TRUE(reset);
}

TEST(ReadHistogram, RefusesInconsistentSeries) {
  auto parse = [](std::string body) {
    auto r = ParseExposition(body, std::vector<std::string>{"h"});
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r->Find("h") : Family{};
  };
  auto err = [](const Result<Histogram>& r) { return r.ok() ? "(ok)" : r.error().message; };
  EXPECT_EQ(err(ReadHistogram(parse("h_bucket{le=\"1\"} 2\nh_count 2\n"))), "h: no +Inf bucket");
  EXPECT_EQ(err(ReadHistogram(parse("h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"))),
            "h: cumulative bucket counts go down");
  EXPECT_EQ(err(ReadHistogram(parse("h_bucket{le=\"x\"} 2\n"))),
            "h: a bucket without a numeric le");
  EXPECT_EQ(err(ReadHistogram(parse("h_bucket{le=\"+Inf\"} 2\nh_count 3\n"))),
            "h: _count differs from the +Inf bucket");
  EXPECT_EQ(err(ReadHistogram(parse("# TYPE h gauge\nh 1\n"))), "h: a gauge, not a histogram");
  EXPECT_EQ(err(ReadHistogram(parse("h_bucket{le=\"+Inf\"} +Inf\n"))),
            "h: a bucket count is negative or not finite");
  EXPECT_EQ(err(ReadHistogram(parse("h_bucket{le=\"+Inf\"} -1\n"))),
            "h: a bucket count is negative or not finite");
  auto missing = ReadHistogram(parse("h_bucket{le=\"+Inf\",op=\"a\"} 2\n"), "op", "b");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.error().Is(ErrorKind::kNotFound));
}

TEST(ComputePlegFigures, FirstScrapeReadsOnlyGauges) {
  Exposition cur = MustParse(Body(10, 10, 10, 10, 1000, 0));
  PlegFigures f = ComputePlegFigures(nullptr, {}, cur, At(1002));
  EXPECT_EQ(f.last_seen_age_seconds, 2);
  EXPECT_EQ(f.running_pods, 3);
  EXPECT_EQ(f.running_containers, 3);
  EXPECT_FALSE(f.relist_p99_seconds);
  EXPECT_FALSE(f.discard_events);
  EXPECT_TRUE(f.list_operations.empty());
  EXPECT_TRUE(f.problems.empty());
}

TEST(ComputePlegFigures, WindowFromBucketDeltas) {
  // Window: 60 relists, 30 of them between 1 s and 10 s: p99 9.82 s.
  Exposition prev = MustParse(Body(100, 100, 100, 100, 1000, 1));
  Exposition cur = MustParse(Body(130, 130, 160, 160, 1059, 4));
  PlegFigures f = ComputePlegFigures(&prev, At(1000), cur, At(1060));
  EXPECT_EQ(f.window_seconds, 60);
  EXPECT_EQ(f.relists, 60);
  ASSERT_TRUE(f.relist_p99_seconds);
  EXPECT_NEAR(*f.relist_p99_seconds, 1 + 9 * (59.4 - 30) / 30, 1e-9);
  EXPECT_FALSE(f.relist_p99_above_top);
  EXPECT_EQ(f.relist_interval_seconds, 1);
  EXPECT_EQ(f.last_seen_age_seconds, 1);
  EXPECT_EQ(f.discard_events, 3);
  ASSERT_EQ(f.list_operations.size(), 1u);  // list_containers is not in the body.
  EXPECT_EQ(f.list_operations[0].operation, "list_podsandbox");
  EXPECT_EQ(f.list_operations[0].calls, 60);
  EXPECT_FALSE(f.counter_reset);
  EXPECT_EQ(f.problems, std::vector<std::string>{"kubelet_runtime_operations_duration_seconds{"
                                                 "operation_type=\"list_containers\"}: missing"});
}

TEST(ComputePlegFigures, NoRelistInTheWindow) {
  Exposition prev = MustParse(Body(100, 100, 100, 100, 1000, 0));
  Exposition cur = MustParse(Body(100, 100, 100, 100, 1000, 0));
  PlegFigures f = ComputePlegFigures(&prev, At(1000), cur, At(1045));
  EXPECT_EQ(f.relists, 0);
  EXPECT_FALSE(f.relist_p99_seconds);
  EXPECT_FALSE(f.relist_interval_seconds);
  EXPECT_EQ(f.last_seen_age_seconds, 45);
}

TEST(ComputePlegFigures, KubeletRestartIsACounterReset) {
  Exposition prev = MustParse(Body(1000, 1000, 1000, 1000, 1000, 7));
  Exposition cur = MustParse(Body(5, 8, 8, 8, 1030, 0));  // Restarted: 8 relists since.
  PlegFigures f = ComputePlegFigures(&prev, At(1000), cur, At(1031));
  EXPECT_TRUE(f.counter_reset);
  EXPECT_EQ(f.relists, 8);
  EXPECT_EQ(f.discard_events, 0);
  ASSERT_TRUE(f.relist_p99_seconds);
  EXPECT_GT(*f.relist_p99_seconds, 0.1);
  EXPECT_LE(*f.relist_p99_seconds, 1);
}

TEST(ComputePlegFigures, MissingSeriesAreReportedNotGuessed) {
  Exposition empty = MustParse("# nothing here\nsome_other_metric 1\n");
  PlegFigures f = ComputePlegFigures(&empty, At(1000), empty, At(1060));
  EXPECT_FALSE(f.last_seen_age_seconds);
  EXPECT_FALSE(f.relist_p99_seconds);
  EXPECT_FALSE(f.running_pods);
  EXPECT_EQ(f.problems.size(), 8u);
  EXPECT_EQ(f.problems[0], "kubelet_pleg_last_seen_seconds: missing");
}

// The real kubelet, healthy then frozen then thawed (tests/testdata/real-kubelet).
TEST(ComputePlegFigures, RealKubeletFreezeAndThaw) {
  std::string healthy_body = ReadTestdata("metrics-healthy.txt");
  std::string frozen_body = ReadTestdata("metrics-frozen.txt");
  std::string thawed_body = ReadTestdata("metrics-thawed.txt");
  Exposition healthy = MustParse(healthy_body);
  Exposition frozen = MustParse(frozen_body);
  Exposition thawed = MustParse(thawed_body);
  WallTime t_healthy = At(ScrapedAt(healthy_body));
  WallTime t_frozen = At(ScrapedAt(frozen_body));
  WallTime t_thawed = At(ScrapedAt(thawed_body));

  PlegFigures first = ComputePlegFigures(nullptr, {}, healthy, t_healthy);
  ASSERT_TRUE(first.last_seen_age_seconds);
  EXPECT_LT(*first.last_seen_age_seconds, 3);
  EXPECT_EQ(first.running_pods, 4);
  EXPECT_EQ(first.running_containers, 4);

  // Frozen: one relist "completed" since the healthy scrape, the one that hung
  // until the 2 min CRI timeout (past the top bucket); the last good one is
  // minutes old. The runtime's list calls show the hang in seconds: their
  // buckets go up to 745 s.
  PlegFigures frozen_f = ComputePlegFigures(&healthy, t_healthy, frozen, t_frozen);
  EXPECT_EQ(frozen_f.relists, 1);
  ASSERT_TRUE(frozen_f.relist_p99_seconds);
  EXPECT_EQ(*frozen_f.relist_p99_seconds, 10);
  EXPECT_TRUE(frozen_f.relist_p99_above_top);
  ASSERT_TRUE(frozen_f.last_seen_age_seconds);
  EXPECT_GT(*frozen_f.last_seen_age_seconds, 120);
  ASSERT_EQ(frozen_f.list_operations.size(), 2u);
  ASSERT_TRUE(frozen_f.list_operations[0].p99_seconds);
  EXPECT_GT(*frozen_f.list_operations[0].p99_seconds, 100);
  EXPECT_TRUE(frozen_f.problems.empty());

  // Thawed: the relist that hung completed (past the top bucket), the last one is recent.
  PlegFigures thawed_f = ComputePlegFigures(&frozen, t_frozen, thawed, t_thawed);
  ASSERT_TRUE(thawed_f.relist_p99_seconds);
  EXPECT_TRUE(thawed_f.relist_p99_above_top);
  EXPECT_EQ(*thawed_f.relist_p99_seconds, 10);
  ASSERT_TRUE(thawed_f.last_seen_age_seconds);
  EXPECT_LT(*thawed_f.last_seen_age_seconds, 5);
  EXPECT_FALSE(thawed_f.counter_reset);

  // The kubelet restarted: a reset, the figures are those since the restart.
  std::string restarted_body = ReadTestdata("metrics-restarted.txt");
  Exposition restarted = MustParse(restarted_body);
  PlegFigures restarted_f =
      ComputePlegFigures(&thawed, t_thawed, restarted, At(ScrapedAt(restarted_body)));
  EXPECT_TRUE(restarted_f.counter_reset);
  EXPECT_GT(restarted_f.relists, 0);
  EXPECT_LT(restarted_f.relists, 20);
  ASSERT_TRUE(restarted_f.relist_p99_seconds);
  EXPECT_LT(*restarted_f.relist_p99_seconds, 1);
  EXPECT_FALSE(restarted_f.relist_p99_above_top);
  EXPECT_EQ(restarted_f.running_pods, 4);
}

}  // namespace
}  // namespace nodeguard::early
