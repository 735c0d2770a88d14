#include "common/quantity.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string_view>

namespace nodeguard {
namespace {

struct Case {
  std::string_view text;
  int64_t value;  // ceil(value), as Quantity.Value()
  int64_t milli;  // ceil(value * 1000), as Quantity.MilliValue()
};

// Expected values are those of k8s.io/apimachinery resource.MustParse(x).Value()
// and .MilliValue().
TEST(ParseQuantity, MatchesKubernetes) {
  const Case cases[] = {
      {"8", 8, 8000},
      {"0", 0, 0},
      {"110", 110, 110000},
      {"7500m", 8, 7500},
      {"100m", 1, 100},
      {"250m", 1, 250},
      {"1.5", 2, 1500},
      {"0.5", 1, 500},
      {".5", 1, 500},
      {"5.", 5, 5000},
      {"1e3", 1000, 1000000},
      {"1E3", 1000, 1000000},
      {"1.5e3", 1500, 1500000},
      {"15e-1", 2, 1500},
      {"1e+2", 100, 100000},
      {"500M", 500000000, 500000000000},
      {"1k", 1000, 1000000},
      {"2G", 2000000000, 2000000000000},
      {"1T", 1000000000000, 1000000000000000},
      {"1P", 1000000000000000, 1000000000000000000},
      {"1E", 1000000000000000000, 0},  // milli overflows: checked separately below.
      {"32Gi", 34359738368, 34359738368000},
      {"128974848", 128974848, 128974848000},
      {"129M", 129000000, 129000000000},
      {"123Mi", 128974848, 128974848000},
      {"0.5Ki", 512, 512000},
      {"1Ki", 1024, 1024000},
      {"1.5Mi", 1572864, 1572864000},
      {"16342948Ki", 16735178752, 16735178752000},
      {"1Ti", 1099511627776, 1099511627776000},
      {"1Pi", 1125899906842624, 1125899906842624000},
      {"1Ei", 1152921504606846976, 0},
      {"100n", 1, 1},
      {"1u", 1, 1},
      {"1500u", 1, 2},
      {"0.1m", 1, 1},
      {"+5", 5, 5000},
      {"-5", -5, -5000},
      {"-1.5", -2, -1500},  // Rounded away from zero, as Kubernetes does.
      {"-100m", -1, -100},
      {"000012", 12, 12000},
      {"0.000", 0, 0},
      {"1.000000000000000000000001", 2, 1001},  // Digits beyond int64 precision still round.
      {"123456789012345678901234567890e-20", 1234567891, 1234567890124},
      {"9223372036854775807", std::numeric_limits<int64_t>::max(), 0},
  };
  for (const auto& c : cases) {
    auto v = ParseQuantity(c.text);
    ASSERT_TRUE(v.ok()) << c.text << ": " << v.error().ToString();
    EXPECT_EQ(*v, c.value) << c.text;
    if (c.milli == 0 && c.value > std::numeric_limits<int64_t>::max() / 1000) {
      EXPECT_FALSE(ParseQuantityMilli(c.text).ok()) << c.text << " milli should overflow";
      continue;
    }
    auto m = ParseQuantityMilli(c.text);
    ASSERT_TRUE(m.ok()) << c.text << ": " << m.error().ToString();
    EXPECT_EQ(*m, c.milli) << c.text;
  }
}

TEST(ParseQuantity, TinyAndHugeExponents) {
  EXPECT_EQ(*ParseQuantity("1e-100"), 1);
  EXPECT_EQ(*ParseQuantity("-1e-100"), -1);
  EXPECT_EQ(*ParseQuantity("0e100"), 0);
  EXPECT_EQ(*ParseQuantity("1e-99999999999999"), 1);
  EXPECT_FALSE(ParseQuantity("1e19").ok());
  EXPECT_FALSE(ParseQuantity("1e99999999999999").ok());
  EXPECT_EQ(*ParseQuantity("1e18"), 1000000000000000000);
  EXPECT_EQ(*ParseQuantityMilli("1e15"), 1000000000000000000);
}

TEST(ParseQuantity, RejectsOutOfRange) {
  for (std::string_view bad : {"9223372036854775808", "10E", "8Ei", "99999999999999999999",
                               "-9223372036854775809", "9.3e18", "16Ei"}) {
    auto r = ParseQuantity(bad);
    EXPECT_FALSE(r.ok()) << "accepted " << bad << " as " << *r;
  }
  EXPECT_FALSE(ParseQuantityMilli("9223372036854776").ok());
  EXPECT_EQ(*ParseQuantityMilli("9223372036854775"), 9223372036854775000);
}

TEST(ParseQuantity, RejectsMalformed) {
  using namespace std::string_view_literals;
  const std::string_view kBad[] = {"",     "+",   "-",    ".",     "Ki",   "m",    "1.2.3", "1Kb",
                                   "1KI",  "1ki", "1 ",   " 1",    "1e",   "1e+",  "1ee3",  "--1",
                                   "+-1",  "1i",  "1Mi2", "1e3.5", "1e3m", "0x10", "1,5",   "1mm",
                                   "1Gib", "inf", "NaN",  "1 Gi",  "1\n",  "1\0"sv};
  for (std::string_view bad : kBad) {
    auto r = ParseQuantity(bad);
    EXPECT_FALSE(r.ok()) << "accepted \"" << bad << "\"";
    if (!r.ok()) {
      EXPECT_EQ(r.error().kind, ErrorKind::kInvalid);
      EXPECT_NE(r.error().message.find("invalid quantity"), std::string::npos);
    }
    EXPECT_FALSE(ParseQuantityMilli(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace nodeguard
