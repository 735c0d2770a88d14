#include "observe/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>

#include "exposition_validator.h"

namespace nodeguard::observe {
namespace {

using testing::ExpositionValidator;

std::string JoinProblems(const std::vector<std::string>& problems) {
  std::string out;
  for (const auto& p : problems) out += p + "\n";
  return out;
}

// ---------------------------------------------------------------- naming rules

struct NameCase {
  const char* name;
  MetricType type;
  bool ok;
};

TEST(ValidateMetricName, EnforcesKubernetesStyle) {
  const NameCase cases[] = {
      {"nodeguard_reconcile_total", MetricType::kCounter, true},
      {"nodeguard_api_requests_total", MetricType::kCounter, true},
      {"nodeguard_reconcile", MetricType::kCounter, false},   // Counter without _total.
      {"nodeguard_total", MetricType::kCounter, false},       // _total names nothing.
      {"reconcile_total", MetricType::kCounter, false},       // No prefix.
      {"nodeguard_", MetricType::kGauge, false},              // Prefix only.
      {"nodeguard_Queue_depth", MetricType::kGauge, false},   // Upper case.
      {"nodeguard_queue-depth", MetricType::kGauge, false},   // Dash.
      {"nodeguard_queue__depth", MetricType::kGauge, false},  // Empty word.
      {"nodeguard_queue_depth_", MetricType::kGauge, false},  // Trailing underscore.
      {"nodeguard_queue_depth", MetricType::kGauge, true},
      {"nodeguard_leader", MetricType::kGauge, true},
      {"nodeguard_queue_depth_total", MetricType::kGauge, false},  // Only counters are _total.
      {"nodeguard_work_duration_seconds", MetricType::kHistogram, true},
      {"nodeguard_work_duration", MetricType::kHistogram, false},  // Unitless duration.
      {"nodeguard_work_duration_milliseconds", MetricType::kHistogram, false},
      {"nodeguard_drain_minutes", MetricType::kGauge, false},  // Non-base unit.
      {"nodeguard_memory_megabytes", MetricType::kGauge, false},
      {"nodeguard_memory_bytes", MetricType::kGauge, true},
      {"nodeguard_last_success_timestamp_seconds", MetricType::kGauge, true},
      {"nodeguard_cpu_seconds_total", MetricType::kCounter, true},
      {"nodeguard_queue_count", MetricType::kGauge, false},  // Reserved suffix.
      {"nodeguard_queue_sum", MetricType::kGauge, false},
      {"nodeguard_queue_bucket", MetricType::kGauge, false},
  };
  for (const NameCase& c : cases) {
    Status s = ValidateMetricName(c.name, c.type);
    EXPECT_EQ(s.ok(), c.ok) << c.name << " as " << MetricTypeName(c.type)
                            << (s.ok() ? "" : ": " + s.error().message);
    if (!s.ok()) {
      EXPECT_EQ(s.error().kind, ErrorKind::kInvalid);
    }
  }
}

TEST(ValidateLabelNames, FollowsPrometheusSyntax) {
  EXPECT_TRUE(
      ValidateLabelNames({"node", "policy", "result_code", "_x", "Verb"}, MetricType::kCounter)
          .ok());
  EXPECT_FALSE(ValidateLabelNames({""}, MetricType::kCounter).ok());
  EXPECT_FALSE(ValidateLabelNames({"1node"}, MetricType::kCounter).ok());
  EXPECT_FALSE(ValidateLabelNames({"node-name"}, MetricType::kCounter).ok());
  EXPECT_FALSE(ValidateLabelNames({"__name__"}, MetricType::kGauge).ok());
  EXPECT_FALSE(ValidateLabelNames({"node", "node"}, MetricType::kGauge).ok());
  EXPECT_TRUE(ValidateLabelNames({"le"}, MetricType::kGauge).ok());
  EXPECT_FALSE(ValidateLabelNames({"le"}, MetricType::kHistogram).ok());
}

TEST(MetricsRegistry, RejectsBadAndDuplicateRegistrations) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry.AddCounter("nodeguard_a_total", "A.").ok());
  auto dup = registry.AddGauge("nodeguard_a_total", "A again.");
  ASSERT_FALSE(dup.ok());  // Invalid as a gauge name, whatever else.
  auto dup_counter = registry.AddCounter("nodeguard_a_total", "A again.");
  ASSERT_FALSE(dup_counter.ok());
  EXPECT_EQ(dup_counter.error().kind, ErrorKind::kAlreadyExists);

  ASSERT_TRUE(registry.AddGauge("nodeguard_b", "B.").ok());
  auto dup_across_types = registry.AddHistogram("nodeguard_b_seconds", "ok");
  EXPECT_TRUE(dup_across_types.ok());

  EXPECT_EQ(registry.AddGauge("nodeguard_no_help", "").error().kind, ErrorKind::kInvalid);
  EXPECT_EQ(registry.AddCounter("nodeguard_bad_labels_total", "x", {"a", "a"}).error().kind,
            ErrorKind::kInvalid);
  EXPECT_FALSE(registry.AddHistogram("nodeguard_c_seconds", "x", {}, {}).ok());
  EXPECT_FALSE(registry.AddHistogram("nodeguard_d_seconds", "x", {}, {1, 1}).ok());
  EXPECT_FALSE(registry.AddHistogram("nodeguard_e_seconds", "x", {}, {2, 1}).ok());
  EXPECT_FALSE(registry
                   .AddHistogram("nodeguard_f_seconds", "x", {},
                                 {1, std::numeric_limits<double>::infinity()})
                   .ok());
  EXPECT_FALSE(registry.AddHistogram("nodeguard_g_seconds", "x", {"le"}).ok());
}

TEST(MetricsRegistryDeathTest, WrongLabelArityAborts) {
  MetricsRegistry registry;
  auto& family = registry.MustCounter("nodeguard_x_total", "X.", {"node"});
  EXPECT_DEATH(family.WithLabels({"a", "b"}), "takes 1 label values, got 2");
  EXPECT_DEATH(registry.MustCounter("nodeguard_x", "X."), "registration failed");
}

// ---------------------------------------------------------------- values

TEST(Counter, OnlyGoesUp) {
  Counter c;
  c.Inc();
  c.Inc(2.5);
  c.Inc(-10);  // Ignored.
  c.Inc(std::nan(""));
  EXPECT_DOUBLE_EQ(c.Value(), 3.5);
}

TEST(Gauge, SetsAddsAndSubtracts) {
  Gauge g;
  g.Set(10);
  g.Inc();
  g.Dec();
  g.Dec();
  g.Add(0.5);
  EXPECT_DOUBLE_EQ(g.Value(), 9.5);
}

TEST(Histogram, BucketsAreLessOrEqualAndCumulative) {
  Histogram h({0.1, 1, 10});
  h.Observe(0.05);
  h.Observe(0.1);  // On the bound: counts in le="0.1".
  h.Observe(0.5);
  h.Observe(10);
  h.Observe(11);            // Only +Inf.
  h.Observe(std::nan(""));  // Ignored.
  Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 3, 4, 5}));
  EXPECT_EQ(s.count, 5u);
  EXPECT_DOUBLE_EQ(s.sum, 21.65);
}

TEST(Buckets, DefaultsAreIncreasingSeconds) {
  const auto& b = DefaultSecondsBuckets();
  ASSERT_FALSE(b.empty());
  for (size_t i = 1; i < b.size(); ++i) EXPECT_GT(b[i], b[i - 1]);
  EXPECT_EQ(ExponentialBuckets(0.5, 2, 4), (std::vector<double>{0.5, 1, 2, 4}));
}

TEST(Family, ChildrenAreStableAndRemovable) {
  MetricsRegistry registry;
  auto& family = registry.MustGauge("nodeguard_pods", "Pods per node.", {"node"});
  Gauge& a = family.WithLabels({"a"});
  a.Set(3);
  EXPECT_EQ(&family.WithLabels({"a"}), &a);
  family.WithLabels({"b"}).Set(4);
  family.Remove({"a"});
  std::string text = registry.Render();
  EXPECT_EQ(text.find("node=\"a\""), std::string::npos) << text;
  EXPECT_NE(text.find("nodeguard_pods{node=\"b\"} 4\n"), std::string::npos) << text;
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
  MetricsRegistry registry;
  auto& counter = registry.MustCounter("nodeguard_ops_total", "Ops.", {"worker"});
  auto& histogram = registry.MustHistogram("nodeguard_op_seconds", "Op time.");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counter& mine = counter.WithLabels({t % 2 == 0 ? "even" : "odd"});
      for (int i = 0; i < kPerThread; ++i) {
        mine.Inc();
        histogram.Get().Observe(0.25);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_DOUBLE_EQ(counter.WithLabels({"even"}).Value(), 2.0 * kPerThread);
  EXPECT_DOUBLE_EQ(counter.WithLabels({"odd"}).Value(), 2.0 * kPerThread);
  auto snap = histogram.Get().Read();
  EXPECT_EQ(snap.count, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_DOUBLE_EQ(snap.sum, 0.25 * kThreads * kPerThread);
}

// ---------------------------------------------------------------- exposition

TEST(Render, GoldenOutputIsSortedAndComplete) {
  MetricsRegistry registry;
  // Registered out of order: output is sorted by name.
  auto& hist = registry.MustHistogram("nodeguard_reconcile_duration_seconds",
                                      "Time spent in one reconcile.", {"reconciler"}, {0.1, 1});
  auto& requests =
      registry.MustCounter("nodeguard_api_requests_total", "API requests.", {"verb", "code"});
  auto& leader = registry.MustGauge("nodeguard_leader", "1 when this replica leads.");
  registry.MustGauge("nodeguard_empty", "A family with labels and no children yet.", {"node"});

  requests.WithLabels({"PATCH", "409"}).Inc();
  requests.WithLabels({"GET", "200"}).Inc(41);
  leader.Get().Set(1);
  hist.WithLabels({"remediation"}).Observe(0.5);
  hist.WithLabels({"density"}).Observe(0.05);
  hist.WithLabels({"density"}).Observe(2);

  const std::string expected =
      "# HELP nodeguard_api_requests_total API requests.\n"
      "# TYPE nodeguard_api_requests_total counter\n"
      "nodeguard_api_requests_total{verb=\"GET\",code=\"200\"} 41\n"
      "nodeguard_api_requests_total{verb=\"PATCH\",code=\"409\"} 1\n"
      "# HELP nodeguard_empty A family with labels and no children yet.\n"
      "# TYPE nodeguard_empty gauge\n"
      "# HELP nodeguard_leader 1 when this replica leads.\n"
      "# TYPE nodeguard_leader gauge\n"
      "nodeguard_leader 1\n"
      "# HELP nodeguard_reconcile_duration_seconds Time spent in one reconcile.\n"
      "# TYPE nodeguard_reconcile_duration_seconds histogram\n"
      "nodeguard_reconcile_duration_seconds_bucket{reconciler=\"density\",le=\"0.1\"} 1\n"
      "nodeguard_reconcile_duration_seconds_bucket{reconciler=\"density\",le=\"1\"} 1\n"
      "nodeguard_reconcile_duration_seconds_bucket{reconciler=\"density\",le=\"+Inf\"} 2\n"
      "nodeguard_reconcile_duration_seconds_sum{reconciler=\"density\"} 2.05\n"
      "nodeguard_reconcile_duration_seconds_count{reconciler=\"density\"} 2\n"
      "nodeguard_reconcile_duration_seconds_bucket{reconciler=\"remediation\",le=\"0.1\"} 0\n"
      "nodeguard_reconcile_duration_seconds_bucket{reconciler=\"remediation\",le=\"1\"} 1\n"
      "nodeguard_reconcile_duration_seconds_bucket{reconciler=\"remediation\",le=\"+Inf\"} 1\n"
      "nodeguard_reconcile_duration_seconds_sum{reconciler=\"remediation\"} 0.5\n"
      "nodeguard_reconcile_duration_seconds_count{reconciler=\"remediation\"} 1\n";
  std::string text = registry.Render();
  EXPECT_EQ(text, expected);
  EXPECT_EQ(JoinProblems(ExpositionValidator().Check(text)), "");
  EXPECT_EQ(registry.Render(), text) << "rendering must be stable";
}

TEST(Render, LabelFreeHistogramHasNoEmptyBraces) {
  MetricsRegistry registry;
  registry.MustHistogram("nodeguard_relist_seconds", "Relist.", {}, {1}).Get().Observe(3);
  EXPECT_EQ(registry.Render(),
            "# HELP nodeguard_relist_seconds Relist.\n"
            "# TYPE nodeguard_relist_seconds histogram\n"
            "nodeguard_relist_seconds_bucket{le=\"1\"} 0\n"
            "nodeguard_relist_seconds_bucket{le=\"+Inf\"} 1\n"
            "nodeguard_relist_seconds_sum 3\n"
            "nodeguard_relist_seconds_count 1\n");
}

TEST(Escaping, LabelValues) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue(R"(C:\path)"), R"(C:\\path)");
  EXPECT_EQ(EscapeLabelValue(R"(say "hi")"), R"(say \"hi\")");
  EXPECT_EQ(EscapeLabelValue("two\nlines"), R"(two\nlines)");
  EXPECT_EQ(EscapeLabelValue("\\\"\n"), R"(\\\"\n)");
  EXPECT_EQ(EscapeLabelValue("tab\there"), "tab\there");  // Tabs need no escape.
  EXPECT_EQ(EscapeLabelValue("ünïcode ✓"), "ünïcode ✓");
  EXPECT_EQ(EscapeLabelValue(""), "");
}

TEST(Escaping, HelpKeepsQuotes) {
  EXPECT_EQ(EscapeHelp(R"(a "quoted" \ help)"), R"(a "quoted" \\ help)");
  EXPECT_EQ(EscapeHelp("line1\nline2"), R"(line1\nline2)");
}

TEST(Escaping, HostileValuesStillRenderValidLines) {
  MetricsRegistry registry;
  auto& family = registry.MustCounter(
      "nodeguard_weird_total", "Help with a \\ backslash,\na newline and \"quotes\".", {"value"});
  const std::vector<std::string> hostile = {"",       "\\", "\"",         "\n",    "\\n",
                                            "a\\\"b", "}",  "{le=\"x\"}", "a,b=c", "# HELP x",
                                            "ünï",    "\t", "\\\\\n\"\""};
  for (const auto& v : hostile) family.WithLabels({v}).Inc();
  std::string text = registry.Render();
  EXPECT_EQ(JoinProblems(ExpositionValidator().Check(text)), "") << text;
  EXPECT_NE(text.find("# HELP nodeguard_weird_total Help with a \\\\ backslash,\\na newline and "
                      "\"quotes\".\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("nodeguard_weird_total{value=\"\\\\\\\\\\n\\\"\\\"\"} 1\n"),
            std::string::npos)
      << text;
  // One line per family header plus one per child: no value leaked a newline.
  size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  EXPECT_EQ(lines, 2 + hostile.size());
}

TEST(FormatSampleValue, IntegersFractionsAndSpecials) {
  EXPECT_EQ(FormatSampleValue(0), "0");
  EXPECT_EQ(FormatSampleValue(-0.0), "0");
  EXPECT_EQ(FormatSampleValue(42), "42");
  EXPECT_EQ(FormatSampleValue(-7), "-7");
  EXPECT_EQ(FormatSampleValue(0.25), "0.25");
  EXPECT_EQ(FormatSampleValue(0.1), "0.1");
  EXPECT_EQ(FormatSampleValue(1e20), "1e+20");
  EXPECT_EQ(FormatSampleValue(1.5e-7), "1.5e-07");
  EXPECT_EQ(FormatSampleValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatSampleValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatSampleValue(std::nan("")), "NaN");
}

// The validator must be able to fail, or the checks above prove nothing.
TEST(ExpositionValidator, RejectsMalformedOutput) {
  const char* bad[] = {
      "nodeguard_x 1\n",                                                // Sample before TYPE.
      "# TYPE nodeguard_x gauge\nnodeguard_x{a=\"b\"c=\"d\"} 1\n",      // Missing comma.
      "# TYPE nodeguard_x gauge\nnodeguard_x{a=\"b\n",                  // Raw newline in value.
      "# TYPE nodeguard_x gauge\nnodeguard_x{a=\"b\\q\"} 1\n",          // Unknown escape.
      "# TYPE nodeguard_x gauge\nnodeguard_x{a=\"b\"} one\n",           // Bad value.
      "# TYPE nodeguard_x gauge\nnodeguard_x{a=\"b\"} 1",               // No final newline.
      "# TYPE nodeguard_x gauge\nnodeguard_y 1\n",                      // Outside family.
      "# TYPE nodeguard_x gauge\n# TYPE nodeguard_x gauge\n",           // TYPE twice.
      "# TYPE nodeguard_x thing\n",                                     // Unknown type.
      "# HELP nodeguard_x bad \\t escape\n",                            // HELP escape.
      "# TYPE nodeguard_x histogram\nnodeguard_x_bucket{le=\"1\"} 1\n"  // No +Inf/_sum/_count.
      "nodeguard_x_sum 1\n",
      "# TYPE nodeguard_x histogram\nnodeguard_x_bucket{le=\"1\"} 2\n"
      "nodeguard_x_bucket{le=\"+Inf\"} 1\nnodeguard_x_sum 1\nnodeguard_x_count 1\n",  // Decreasing.
      "# TYPE nodeguard_x histogram\nnodeguard_x_bucket{le=\"+Inf\"} 2\n"
      "nodeguard_x_sum 1\nnodeguard_x_count 3\n",               // _count != +Inf.
      "# TYPE nodeguard_x counter\nnodeguard_x{le=\"1\"} 1\n",  // le outside a histogram bucket.
  };
  for (const char* text : bad) {
    EXPECT_FALSE(ExpositionValidator().Check(text).empty()) << "accepted:\n" << text;
  }
  EXPECT_TRUE(ExpositionValidator()
                  .Check("# HELP nodeguard_x ok \\\\ \\n\n# TYPE nodeguard_x gauge\n"
                         "nodeguard_x{a=\"\\\\\\\"\\n\"} -1.5e-3\nnodeguard_x NaN\n")
                  .empty());
}

}  // namespace
}  // namespace nodeguard::observe
