#include "process/memory_release.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace nodeguard::process {
namespace {

using std::chrono::milliseconds;

TEST(MemoryReleaser, ReleasesOncePerPeriodUntilDestroyed) {
  std::atomic<int> calls{0};
  {
    MemoryReleaser releaser(milliseconds(5), [&] { ++calls; });
    while (calls.load() < 3) std::this_thread::sleep_for(milliseconds(1));
  }
  const int at_stop = calls.load();
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_EQ(calls.load(), at_stop);  // Nothing after the destructor returned.
}

TEST(MemoryReleaser, StopsWithoutWaitingForItsPeriod) {
  std::atomic<int> calls{0};
  const auto started = std::chrono::steady_clock::now();
  {
    MemoryReleaser releaser(std::chrono::hours(1), [&] { ++calls; });
  }
  // Not a timing assertion on the machine's speed: an hour-long wait would
  // hang the test, which is what this guards against.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::minutes(1));
  EXPECT_EQ(calls.load(), 0);
}

}  // namespace
}  // namespace nodeguard::process
