#include "process/memory_release.h"

#include <malloc.h>

#include <utility>

namespace nodeguard::process {

void ReleaseFreeHeapPages() { malloc_trim(0); }

bool LimitMallocArenas(int max_arenas, const char* operator_setting) {
  if (operator_setting != nullptr && *operator_setting != '\0') return false;
  return mallopt(M_ARENA_MAX, max_arenas) == 1;
}

MemoryReleaser::MemoryReleaser(std::chrono::milliseconds period, std::function<void()> release)
    : period_(period), release_(std::move(release)), thread_([this] { Run(); }) {}

MemoryReleaser::~MemoryReleaser() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void MemoryReleaser::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!wake_.wait_for(lock, period_, [this] { return stopping_; })) {
    lock.unlock();
    release_();
    lock.lock();
  }
}

}  // namespace nodeguard::process
