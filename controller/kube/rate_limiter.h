#pragma once

// Per-item retry delays for the WorkQueue, as client-go's workqueue rate
// limiters: an item that keeps failing waits 5 ms, 10 ms, 20 ms ... up to
// 1000 s, and all retries together are held to 10 per second (burst 100).

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "kube/token_bucket.h"

namespace nodeguard::kube {

// Thread-safe.
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // How long `item` should wait before it is retried; counts a failure.
  virtual Duration When(const std::string& item) = 0;
  // Stops tracking `item` (it succeeded): its next failure starts over.
  virtual void Forget(const std::string& item) = 0;
  // Failures counted for `item` since it was last forgotten.
  virtual int NumRequeues(const std::string& item) const = 0;
};

// base * 2^failures, capped at max.
class ItemExponentialFailureRateLimiter final : public RateLimiter {
 public:
  ItemExponentialFailureRateLimiter(Duration base, Duration max);
  Duration When(const std::string& item) override;
  void Forget(const std::string& item) override;
  int NumRequeues(const std::string& item) const override;

 private:
  const Duration base_;
  const Duration max_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, int> failures_;  // Guarded by mu_.
};

// A token bucket (token_bucket.h): `burst` tokens refill at `qps` per second;
// each When() takes one, waiting for it if none is left.
class BucketRateLimiter final : public RateLimiter {
 public:
  BucketRateLimiter(double qps, int burst, const Clock& clock) : bucket_(qps, burst, clock) {}
  Duration When(const std::string&) override { return bucket_.Reserve(); }
  void Forget(const std::string&) override {}
  int NumRequeues(const std::string&) const override { return 0; }

 private:
  TokenBucket bucket_;
};

// The longest delay of its parts.
class MaxOfRateLimiter final : public RateLimiter {
 public:
  explicit MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters);
  Duration When(const std::string& item) override;
  void Forget(const std::string& item) override;
  int NumRequeues(const std::string& item) const override;

 private:
  std::vector<std::unique_ptr<RateLimiter>> limiters_;
};

// client-go's DefaultControllerRateLimiter: per item 5 ms -> 1000 s, overall
// 10 qps with a burst of 100.
std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(const Clock& clock);

}  // namespace nodeguard::kube
