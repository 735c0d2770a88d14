// Linked into every gtest-based cluster suite (nodeguard_cluster_gtest in
// CMakeLists.txt): a failed test leaves NODEGUARD_CLUSTER_FIXTURE_DIR/failed,
// as the Python suites (tests/lib/nodeguard_testlib.py,
// mark_cluster_test_failed) and the bash ones (tests/cluster/tests/lib.sh)
// do, so the fixture's cleanup (tests/cluster/ctest-fixture) prints the end
// of each component log. Marked at the first failed assertion, not at the
// end, so a test that fails and then crashes or times out still leaves it.
// No-op outside the fixture.

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace {

void MarkFixtureFailed() {
  const char* fixture = std::getenv("NODEGUARD_CLUSTER_FIXTURE_DIR");
  if (fixture == nullptr || *fixture == '\0') return;
  std::ofstream(std::string(fixture) + "/failed", std::ios::app);
}

class FixtureFailedMarker final : public ::testing::EmptyTestEventListener {
 public:
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (result.failed()) MarkFixtureFailed();
  }
  void OnTestProgramEnd(const ::testing::UnitTest& unit_test) override {
    if (unit_test.Failed()) MarkFixtureFailed();  // A failure outside any test, too.
  }
};

// Registered before main() (gtest_main) runs the tests; the listener list owns it.
const bool kRegistered = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new FixtureFailedMarker);
  return true;
}();

}  // namespace
