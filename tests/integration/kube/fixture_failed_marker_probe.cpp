// A gtest binary with fixture_failed_marker.cpp, for fixture_failed_marker_test.sh:
// its one test fails when FIXTURE_MARKER_PROBE_FAIL is set.

#include <gtest/gtest.h>

#include <cstdlib>

TEST(FixtureFailedMarkerProbe, FailsWhenAsked) {
  EXPECT_EQ(std::getenv("FIXTURE_MARKER_PROBE_FAIL"), nullptr) << "failing as asked";
}
