#pragma once

// LatestSlot<T>: hands the newest version of a value from a producer (the
// informer's thread) to one consumer (the agent's worker), latest wins.
// While the consumer is busy (an action can run for minutes) any number of
// versions coalesce into the newest one; only that one matters afterwards.
// The consumer also wakes up after a timeout with the value it already has,
// so it can re-decide without an event (e.g. to retry a failed write).

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace nodeguard::agent {

// Thread-safe.
template <typename T>
class LatestSlot {
 public:
  using Ptr = std::shared_ptr<const T>;

  struct Taken {
    Ptr value;           // The newest value put (null when none, or cleared).
    bool fresh = false;  // Put since the previous Take/WaitFor.
    bool closed = false;
  };

  // Replaces the value (null clears it, e.g. when the object was deleted)
  // and wakes the consumer.
  void Put(Ptr value) {
    {
      std::lock_guard lock(mu_);
      value_ = std::move(value);
      fresh_ = true;
    }
    cv_.notify_one();
  }

  // Makes WaitFor return at once, now and later, with closed = true.
  void Close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

  // Waits until a value is put, the slot is closed, or `timeout` passes, then
  // returns the newest value (also when it is not fresh).
  Taken WaitFor(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [this] { return fresh_ || closed_; });
    return TakeLocked();
  }

  // Does not wait.
  Taken Take() {
    std::lock_guard lock(mu_);
    return TakeLocked();
  }

 private:
  Taken TakeLocked() {
    Taken taken{value_, fresh_, closed_};
    fresh_ = false;
    return taken;
  }

  std::mutex mu_;  // Guards value_, fresh_ and closed_.
  std::condition_variable cv_;
  Ptr value_;
  bool fresh_ = false;
  bool closed_ = false;
};

}  // namespace nodeguard::agent
