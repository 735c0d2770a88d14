#include "early/exposition.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "early/figures.h"

namespace nodeguard::early {
namespace {

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(NODEGUARD_TESTDATA_DIR) + "/real-kubelet/" + name, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::vector<std::string> kWanted = {"a", "h"};

Result<Exposition> Parse(std::string_view body, const ParseLimits& limits = {}) {
  return ParseExposition(body, kWanted, limits);
}

std::string ErrorOf(const Result<Exposition>& r) { return r.ok() ? "(ok)" : r.error().message; }

TEST(ParseExposition, RealKubeletBodies) {
  for (const char* file : {"metrics-healthy.txt", "metrics-frozen.txt", "metrics-thawed.txt",
                           "metrics-restarted.txt"}) {
    SCOPED_TRACE(file);
    std::string body = ReadTestdata(file);
    ASSERT_FALSE(body.empty());
    auto r = ParseExposition(body, PlegFamilies());
    ASSERT_TRUE(r.ok()) << ErrorOf(r);
    EXPECT_GT(r->skipped_samples, 0u);  // The unrelated families around them.
    for (const std::string& name : PlegFamilies()) {
      const Family* f = r->Find(name);
      ASSERT_NE(f, nullptr) << name;
      EXPECT_FALSE(f->samples.empty()) << name;
    }
    EXPECT_EQ(r->Find(kRelistDuration)->type, MetricType::kHistogram);
    EXPECT_EQ(r->Find(kRelistInterval)->type, MetricType::kHistogram);
    EXPECT_EQ(r->Find(kLastSeen)->type, MetricType::kGauge);
    EXPECT_EQ(r->Find(kDiscardEvents)->type, MetricType::kCounter);
    EXPECT_EQ(r->Find(kRunningPods)->type, MetricType::kGauge);
    EXPECT_EQ(r->Find(kRunningContainers)->type, MetricType::kGauge);
    EXPECT_EQ(r->Find(kRuntimeOperations)->type, MetricType::kHistogram);
    // 11 finite buckets and +Inf, _sum, _count.
    EXPECT_EQ(r->Find(kRelistDuration)->samples.size(), 14u);
    auto h = ReadHistogram(*r->Find(kRuntimeOperations), "operation_type", "list_podsandbox");
    ASSERT_TRUE(h.ok()) << h.error().message;
    EXPECT_GT(h->count, 0);
  }
}

TEST(ParseExposition, SamplesLabelsTypes) {
  auto r = Parse(
      "# HELP a The a.\n"
      "# TYPE a gauge\n"
      "a 1.5\n"
      "a{x=\"1\",y=\"two\"} -3e2 1700000000000\n"
      "# TYPE h histogram\n"
      "h_bucket{le=\"0.5\"} 1\n"
      "h_bucket{le=\"+Inf\"} 2\n"
      "h_sum 0.7\n"
      "h_count 2\n");
  ASSERT_TRUE(r.ok()) << ErrorOf(r);
  ASSERT_EQ(r->families.size(), 2u);
  const Family* a = r->Find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->type, MetricType::kGauge);
  ASSERT_EQ(a->samples.size(), 2u);
  EXPECT_EQ(a->samples[0].value, 1.5);
  EXPECT_FALSE(a->samples[0].timestamp_ms);
  EXPECT_EQ(a->samples[1].value, -300);
  EXPECT_EQ(a->samples[1].timestamp_ms, 1700000000000);
  EXPECT_EQ((std::vector<Label>{{"x", "1"}, {"y", "two"}}), a->samples[1].labels);
  const Family* h = r->Find("h");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->samples[0].suffix, "_bucket");
  EXPECT_EQ(h->samples[2].suffix, "_sum");
  EXPECT_EQ(h->samples[3].suffix, "_count");
  EXPECT_EQ(r->lines, 9u);
}

TEST(ParseExposition, SkipsFamiliesNotWantedWithoutDecodingThem) {
  // b's lines are malformed past their name: not decoded, so not refused.
  auto r = Parse("b{x=\"unterminated 1\nb 1 2 3 4\nab 1\na_total 2\n# TYPE b nonsense\na 3\n");
  ASSERT_TRUE(r.ok()) << ErrorOf(r);
  EXPECT_EQ(r->skipped_samples, 4u);  // b, b, ab, a_total (a counter's _total is its own name).
  ASSERT_NE(r->Find("a"), nullptr);
  EXPECT_EQ(r->Find("a")->samples.size(), 1u);
  EXPECT_EQ(r->Find("h"), nullptr);  // Missing: not an error.
}

TEST(ParseExposition, Escapes) {
  auto r = Parse("a{v=\"q\\\"b\\\\s\\nl\",w=\"{},=\"} 1\n");
  ASSERT_TRUE(r.ok()) << ErrorOf(r);
  EXPECT_EQ(*r->Find("a")->samples[0].LabelValue("v"), "q\"b\\s\nl");
  EXPECT_EQ(*r->Find("a")->samples[0].LabelValue("w"), "{},=");
  EXPECT_EQ(ErrorOf(Parse("a{v=\"\\t\"} 1\n")), "line 1: unknown escape in a label value");
}

TEST(ParseExposition, SpecialValuesAndWhitespace) {
  auto r =
      Parse("a{k=\"nan\"} NaN\na{k=\"pinf\"} +Inf\na{k=\"ninf\"}\t-Inf\r\n  a{k=\"x\",} 0 -5\n\n");
  ASSERT_TRUE(r.ok()) << ErrorOf(r);
  const auto& s = r->Find("a")->samples;
  ASSERT_EQ(s.size(), 4u);
  EXPECT_TRUE(std::isnan(s[0].value));
  EXPECT_EQ(s[1].value, INFINITY);
  EXPECT_EQ(s[2].value, -INFINITY);
  EXPECT_EQ(s[3].timestamp_ms, -5);
}

TEST(ParseExposition, EmptyBodyIsEmpty) {
  auto r = Parse("");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->families.empty());
}

struct Bad {
  const char* name;
  std::string body;
  std::string error;
};

class ParseExpositionBad : public testing::TestWithParam<Bad> {};

TEST_P(ParseExpositionBad, IsRefused) {
  EXPECT_EQ(ErrorOf(Parse(GetParam().body)), GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, ParseExpositionBad,
    testing::Values(
        Bad{"Truncated", "a 1\na 2", "truncated body: the last line has no newline"},
        Bad{"TruncatedInLabels",
            "a{x=\"1\"} 1\na{x=", "truncated body: the last line has no newline"},
        Bad{"Html", "<html><body>502 Bad Gateway</body></html>\n",
            "line 1: not a sample, comment or blank line"},
        Bad{"NameWithoutValue", "a\n", "line 1: not a sample, comment or blank line"},
        Bad{"BadNameChar", "a-b 1\n", "line 1: not a sample, comment or blank line"},
        Bad{"NoValue", "a{x=\"1\"}\n", "line 1: expected a value"},
        Bad{"BadValue", "a 1x\n", "line 1: malformed value"},
        Bad{"PlusMinus", "a +-1\n", "line 1: malformed value"},
        Bad{"HugeValue", "a 1e999\n", "line 1: malformed value"},
        Bad{"BadTimestamp", "a 1 1.5\n", "line 1: malformed timestamp"},
        Bad{"Trailing", "a 1 2 3\n", "line 1: trailing characters after the timestamp"},
        Bad{"UnterminatedValue", "a{x=\"1} 1\n", "line 1: unterminated label value"},
        Bad{"UnterminatedSet", "a{x=\"1\" 1\n", "line 1: expected ',' or '}' after a label value"},
        Bad{"NoEquals", "a{x \"1\"} 1\n", "line 1: expected '=' after label name"},
        Bad{"UnquotedValue", "a{x=1} 1\n", "line 1: expected '\"' to open a label value"},
        Bad{"BadLabelName", "a{1x=\"1\"} 1\n", "line 1: expected a label name"},
        Bad{"DuplicateLabel", "a{x=\"1\",x=\"2\"} 1\n", "line 1: duplicate label x"},
        Bad{"DuplicateSeries", "a{x=\"1\",y=\"2\"} 1\na 2\na{y=\"2\",x=\"1\"} 3\n",
            "line 3: duplicate series of a"},
        Bad{"DuplicateBucket", "h_bucket{le=\"1\"} 1\nh_bucket{le=\"1\"} 1\n",
            "line 2: duplicate series of h_bucket"},
        Bad{"SecondType", "# TYPE a gauge\n# TYPE a counter\n", "line 2: second TYPE line for a"},
        Bad{"TypeAfterSamples", "a 1\n# TYPE a gauge\n", "line 2: TYPE line after samples of a"},
        Bad{"UnknownType", "# TYPE a meter\n", "line 1: bad TYPE line for a"},
        Bad{"TypeWithoutName", "# TYPE\n", "line 1: # TYPE without a valid metric name"}),
    [](const testing::TestParamInfo<Bad>& p) { return p.param.name; });

TEST(ParseExposition, DuplicateSeriesOfFamiliesNotWantedAreNotChecked) {
  EXPECT_TRUE(Parse("b 1\nb 1\n").ok());
}

TEST(ParseExposition, Bounds) {
  ParseLimits limits;
  limits.max_body_bytes = 8;
  EXPECT_EQ(ErrorOf(Parse("a 1\na 22\n", limits)), "body of 9 bytes exceeds the limit of 8");
  EXPECT_TRUE(Parse("a 1\n\n\n\n\n", limits).ok());  // 8 bytes: at the limit.

  limits = {};
  limits.max_samples = 2;
  EXPECT_TRUE(Parse("a{i=\"1\"} 1\na{i=\"2\"} 1\nb 1\nb 2\nb 3\n", limits).ok());
  EXPECT_EQ(ErrorOf(Parse("a{i=\"1\"} 1\na{i=\"2\"} 1\nh_sum 1\n", limits)),
            "more than 2 samples of the wanted families");

  limits = {};
  limits.max_line_bytes = 10;
  EXPECT_EQ(ErrorOf(Parse("a 1\nb{x=\"0123456789\"} 1\n", limits)), "line 2: line too long");

  limits = {};
  limits.max_labels = 2;
  EXPECT_EQ(ErrorOf(Parse("a{x=\"1\",y=\"2\",z=\"3\"} 1\n", limits)), "line 1: too many labels");
}

TEST(ParseFloatValue, GoForms) {
  EXPECT_EQ(ParseFloatValue("1"), 1.0);
  EXPECT_EQ(ParseFloatValue("-2.5e-3"), -0.0025);
  EXPECT_EQ(ParseFloatValue("1.796640187e+09"), 1796640187.0);
  EXPECT_EQ(ParseFloatValue("+Inf"), INFINITY);
  EXPECT_EQ(ParseFloatValue("Inf"), INFINITY);
  EXPECT_EQ(ParseFloatValue("-Inf"), -INFINITY);
  EXPECT_TRUE(std::isnan(*ParseFloatValue("NaN")));
  EXPECT_FALSE(ParseFloatValue(""));
  EXPECT_FALSE(ParseFloatValue("+"));
  EXPECT_FALSE(ParseFloatValue("++1"));
  EXPECT_FALSE(ParseFloatValue("1,5"));
  EXPECT_FALSE(ParseFloatValue(" 1"));
}

}  // namespace
}  // namespace nodeguard::early
