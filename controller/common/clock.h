#pragma once

// Time as a dependency. Logic that depends on time takes a Clock (or a `now`
// argument) so unit tests run instantly and deterministically.

#include <chrono>
#include <mutex>

namespace nodeguard {

using WallTime = std::chrono::system_clock::time_point;
using MonoTime = std::chrono::steady_clock::time_point;

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual WallTime Now() const = 0;        // For timestamps written to the API.
  virtual MonoTime Monotonic() const = 0;  // For measuring intervals and deadlines.
};

class RealClock final : public Clock {
 public:
  WallTime Now() const override { return std::chrono::system_clock::now(); }
  MonoTime Monotonic() const override { return std::chrono::steady_clock::now(); }
  static RealClock& Instance();
};

// A clock that moves only when told to. Both readings advance together.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(WallTime start = WallTime(std::chrono::hours(24 * 365 * 56))) : wall_(start) {}
  WallTime Now() const override {
    std::lock_guard lock(mu_);
    return wall_;
  }
  MonoTime Monotonic() const override {
    std::lock_guard lock(mu_);
    return mono_;
  }
  void Advance(std::chrono::nanoseconds d) {
    std::lock_guard lock(mu_);
    wall_ += std::chrono::duration_cast<WallTime::duration>(d);
    mono_ += std::chrono::duration_cast<MonoTime::duration>(d);
  }
  void SetWall(WallTime t) {
    std::lock_guard lock(mu_);
    wall_ = t;
  }

 private:
  mutable std::mutex mu_;
  WallTime wall_;  // Guarded by mu_.
  MonoTime mono_;  // Guarded by mu_.
};

}  // namespace nodeguard
