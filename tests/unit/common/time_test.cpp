#include "common/time.h"

#include <gtest/gtest.h>

using namespace std::chrono;

namespace nodeguard {
namespace {

TEST(Rfc3339, ParsesKubernetesForms) {
  auto t = ParseRfc3339("2026-11-27T14:31:39Z");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(duration_cast<seconds>(t->time_since_epoch()).count(), 1795789899);
  auto micro = ParseRfc3339("2026-11-27T14:31:39.123456Z");
  ASSERT_TRUE(micro.ok());
  EXPECT_EQ(*micro - *t, microseconds(123456));
  auto nanos = ParseRfc3339("2026-11-27T14:31:39.123456789Z");
  ASSERT_TRUE(nanos.ok());
  EXPECT_EQ(*nanos, *micro);  // Truncated to microseconds.
  auto offset = ParseRfc3339("2026-11-27T16:31:39+02:00");
  ASSERT_TRUE(offset.ok());
  EXPECT_EQ(*offset, *t);
}

TEST(Rfc3339, RejectsMalformed) {
  for (std::string_view bad :
       {"", "2026-11-27", "2026-11-27 14:31:39Z", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
        "2026-11-27T14:31:39", "2026-11-27T14:31:39.Z", "2026-11-27T14:31:39Zjunk",
        "2026-11-27T24:00:00Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad).ok()) << bad;
  }
}

TEST(Rfc3339, FormatsRoundTrip) {
  auto t = ParseRfc3339("2026-01-02T03:04:05.000007Z");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(FormatRfc3339Micro(*t), "2026-01-02T03:04:05.000007Z");
  EXPECT_EQ(FormatRfc3339(*t), "2026-01-02T03:04:05Z");
  EXPECT_EQ(FormatRfc3339(WallTime{}), "1970-01-01T00:00:00Z");
}

// Found by fuzzing the decoders: a year past 2262 overflowed the nanosecond
// count (undefined behaviour). Out-of-range years are now errors.
TEST(Rfc3339, RejectsYearsOutsideTheNanosecondRange) {
  EXPECT_FALSE(ParseRfc3339("4052-11-27T14:52:11Z").ok());
  EXPECT_FALSE(ParseRfc3339("2262-04-12T00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339("1600-01-01T00:00:00Z").ok());
  EXPECT_TRUE(ParseRfc3339("2261-12-31T23:59:59Z").ok());
  EXPECT_TRUE(ParseRfc3339("1678-01-01T00:00:00Z").ok());
}

}  // namespace
}  // namespace nodeguard
