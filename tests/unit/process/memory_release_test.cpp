#include "process/memory_release.h"

#include <gtest/gtest.h>
#include <malloc.h>
#include <stdio.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

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

// These two check glibc's allocator itself, which a sanitizer build replaces
// with its own: they are compiled only where glibc allocates (the normal unit
// build, which CI runs), not skipped at run time.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)

// malloc's arenas, counted from malloc_info's XML (one <heap nr=...> each).
int MallocArenas() {
  char* text = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&text, &size);
  malloc_info(0, out);
  fclose(out);
  int arenas = 0;
  for (std::string_view rest(text, size); rest.find("<heap nr=") != std::string_view::npos;) {
    rest.remove_prefix(rest.find("<heap nr=") + 1);
    ++arenas;
  }
  free(text);
  return arenas;
}

// Threads allocating at once, each holding its block until all have one: the
// case in which glibc gives a new thread an arena of its own.
void AllocateFromThreads(int threads) {
  std::atomic<int> holding{0};
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&] {
      std::vector<char> block(4096, 'x');
      ++holding;
      while (holding.load() < threads) std::this_thread::yield();
    });
  }
  for (std::thread& t : pool) t.join();
}

TEST(LimitMallocArenas, NewThreadsShareTheArenasThere) {
  // In a child process: the cap is process-wide and stays.
  EXPECT_EXIT(
      {
        const int before = MallocArenas();
        if (!LimitMallocArenas(before, nullptr)) std::_Exit(2);
        AllocateFromThreads(8);
        std::_Exit(MallocArenas() == before ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(LimitMallocArenas, WithoutTheCapThreadsGetArenasOfTheirOwn) {
  // The test above would pass were arenas never added: check they are.
  EXPECT_EXIT(
      {
        const int before = MallocArenas();
        AllocateFromThreads(8);
        std::_Exit(MallocArenas() > before ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

#endif  // !__SANITIZE_ADDRESS__ && !__SANITIZE_THREAD__

TEST(LimitMallocArenas, TheOperatorsSettingStands) { EXPECT_FALSE(LimitMallocArenas(2, "8")); }

}  // namespace
}  // namespace nodeguard::process
