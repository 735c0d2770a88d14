#pragma once

// Gives the heap's free pages back to the kernel at a steady pace.
//
// Why: glibc returns freed memory to the kernel only from the top of an
// arena. Listing every pod (at start-up, or again after 410 Gone) decodes
// page after page of JSON and queues a key per pod; once that transient
// memory is freed it lies in holes between the objects the caches keep, and
// RSS keeps counting it. At 2,000 nodes and 60,000 pods a freshly started
// controller held 107 MB of RSS against 69 MB for one that had grown with
// the cluster (docs/performance.md, issue 22). malloc_trim(0) releases every
// whole free page, wherever it lies; it costs a walk of the free lists (a
// few milliseconds at that size), so once every period is noise.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace nodeguard::process {

// Releases the free pages of every malloc arena (glibc's malloc_trim(0)).
void ReleaseFreeHeapPages();

// Caps glibc's malloc arenas at `max_arenas` (mallopt M_ARENA_MAX), unless
// the operator set MALLOC_ARENA_MAX (`operator_setting`, the environment's
// value, non-null), which stands. Returns whether the cap was set.
//
// Why: glibc gives each thread that allocates an arena of its own, up to 8
// per core, and memory freed into one arena is reused only by the threads
// allocating from it. The controller has dozens of threads (informers,
// workers, the HTTP client's pool); pods decoded on an informer thread and
// keys freed by workers leave holes no other thread fills. With 2 arenas a
// controller restarted at 45,000 pods held 27.7 MB of anonymous memory
// against 31.3 MB (docs/performance.md; its CPU cost was not measured apart).
// Call before starting threads: arenas already created stay.
// REQUIRES: max_arenas >= 1.
bool LimitMallocArenas(int max_arenas, const char* operator_setting);

// A thread calling `release` once every `period` until destroyed.
// Thread-safe: construct and destroy from one thread.
class MemoryReleaser {
 public:
  // REQUIRES: period > 0.
  explicit MemoryReleaser(std::chrono::milliseconds period,
                          std::function<void()> release = ReleaseFreeHeapPages);
  // Stops the thread without waiting for the rest of its period.
  ~MemoryReleaser();

  MemoryReleaser(const MemoryReleaser&) = delete;
  MemoryReleaser& operator=(const MemoryReleaser&) = delete;

 private:
  void Run();

  const std::chrono::milliseconds period_;
  const std::function<void()> release_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // Guarded by mu_.
  std::thread thread_;     // Last: starts once the members above exist.
};

}  // namespace nodeguard::process
