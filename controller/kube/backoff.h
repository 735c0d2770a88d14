#pragma once

// Waiting between retries: an exponential, jittered Backoff (the informer's
// 800 ms -> 30 s) and the Sleeper seam that does the waiting, so tests
// advance a FakeClock instead of sleeping.

#include <chrono>
#include <functional>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "kube/http.h"

namespace nodeguard::kube {

// Not thread-safe: one per retry loop.
class Backoff {
 public:
  struct Options {
    Duration initial = std::chrono::milliseconds(800);
    Duration max = std::chrono::seconds(30);
    double factor = 2.0;
    // Each delay is the base stretched by up to this fraction, so clients that
    // failed together do not retry together; at the cap it shrinks the delay
    // instead, so no delay exceeds `max`.
    double jitter = 0.25;
  };

  // `uniform01` returns values in [0, 1); injectable for deterministic tests.
  Backoff(Options options, std::function<double()> uniform01);

  // The delay to wait before the next attempt; grows the base for the one after.
  Duration Next();
  // Back to `initial`, after a success worth trusting (a healthy stream).
  void Reset() { base_ = options_.initial; }
  Duration base() const { return base_; }

 private:
  Options options_;
  std::function<double()> uniform01_;
  Duration base_;
};

// Waits on behalf of retry loops.
class Sleeper {
 public:
  virtual ~Sleeper() = default;
  // Waits for `d` unless `cancel` fires first; returns false when cancelled.
  virtual bool Sleep(Duration d, const CancelToken& cancel) = 0;
};

// Really sleeps, checking the token every 50 ms (CancelToken cannot notify).
class RealSleeper final : public Sleeper {
 public:
  bool Sleep(Duration d, const CancelToken& cancel) override;
  static RealSleeper& Instance();
};

// Advances a FakeClock instead of sleeping, and records every wait.
// Thread-compatible: for single-threaded tests.
class FakeSleeper final : public Sleeper {
 public:
  explicit FakeSleeper(FakeClock& clock) : clock_(clock) {}
  bool Sleep(Duration d, const CancelToken& cancel) override {
    if (cancel.cancelled()) return false;
    sleeps_.push_back(d);
    clock_.Advance(d);
    return !cancel.cancelled();
  }
  const std::vector<Duration>& sleeps() const { return sleeps_; }

 private:
  FakeClock& clock_;
  std::vector<Duration> sleeps_;
};

}  // namespace nodeguard::kube
