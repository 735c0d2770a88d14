#include "common/int_or_percent.h"

#include <gtest/gtest.h>

#include <climits>

namespace nodeguard {
namespace {

TEST(IntOrPercent, ResolveRoundsAsDocumented) {
  EXPECT_EQ(IntOrPercent::Count(7).Resolve(100, true), 7);
  EXPECT_EQ(IntOrPercent::Percent(30).Resolve(7, true), 3);   // 2.1 up.
  EXPECT_EQ(IntOrPercent::Percent(30).Resolve(7, false), 2);  // 2.1 down.
  EXPECT_EQ(IntOrPercent::Percent(1).Resolve(1, true), 1);    // Never 0 of a non-zero total.
  EXPECT_EQ(IntOrPercent::Percent(0).Resolve(50, true), 0);
}

// maxUnhealthy: 3000000000 (beyond int32) in a policy that bypassed admission.
// The storm guard keeps its budget as int; a narrowing cast made it negative,
// so every node counted as a storm.
TEST(IntOrPercent, ResolveIntSaturatesInsteadOfWrapping) {
  const IntOrPercent huge = IntOrPercent::Count(3000000000LL);
  EXPECT_LT(static_cast<int>(huge.Resolve(10, true)), 0) << "the bug: a narrowing cast wraps";
  EXPECT_EQ(huge.ResolveInt(10, true), INT_MAX);
  EXPECT_EQ(IntOrPercent::Count(int64_t{INT_MAX} + 1).ResolveInt(10, true), INT_MAX);
  EXPECT_EQ(IntOrPercent::Count(INT_MAX).ResolveInt(10, true), INT_MAX);
  EXPECT_EQ(IntOrPercent::Count(5).ResolveInt(10, true), 5);
  EXPECT_EQ(IntOrPercent::Percent(30).ResolveInt(7, true), 3);
  EXPECT_EQ(IntOrPercent::Count(-4000000000LL).ResolveInt(10, true), INT_MIN);
}

}  // namespace
}  // namespace nodeguard
