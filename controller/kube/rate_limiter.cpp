#include "kube/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace nodeguard::kube {

ItemExponentialFailureRateLimiter::ItemExponentialFailureRateLimiter(Duration base, Duration max)
    : base_(base), max_(max) {}

Duration ItemExponentialFailureRateLimiter::When(const std::string& item) {
  int exponent;
  {
    std::lock_guard lock(mu_);
    int& failures = failures_[item];
    exponent = failures;
    if (failures < std::numeric_limits<int>::max()) ++failures;
  }
  // Computed in floating point: 2^exponent overflows any integer long before
  // the failures stop counting.
  double delay = std::chrono::duration<double>(base_).count() * std::pow(2.0, exponent);
  if (!(delay < std::chrono::duration<double>(max_).count())) return max_;
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(delay));
}

void ItemExponentialFailureRateLimiter::Forget(const std::string& item) {
  std::lock_guard lock(mu_);
  failures_.erase(item);
}

int ItemExponentialFailureRateLimiter::NumRequeues(const std::string& item) const {
  std::lock_guard lock(mu_);
  auto it = failures_.find(item);
  return it == failures_.end() ? 0 : it->second;
}

MaxOfRateLimiter::MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters)
    : limiters_(std::move(limiters)) {}

Duration MaxOfRateLimiter::When(const std::string& item) {
  Duration longest = Duration::zero();
  for (auto& l : limiters_) longest = std::max(longest, l->When(item));
  return longest;
}

void MaxOfRateLimiter::Forget(const std::string& item) {
  for (auto& l : limiters_) l->Forget(item);
}

int MaxOfRateLimiter::NumRequeues(const std::string& item) const {
  int most = 0;
  for (const auto& l : limiters_) most = std::max(most, l->NumRequeues(item));
  return most;
}

std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(const Clock& clock) {
  std::vector<std::unique_ptr<RateLimiter>> parts;
  parts.push_back(std::make_unique<ItemExponentialFailureRateLimiter>(std::chrono::milliseconds(5),
                                                                      std::chrono::seconds(1000)));
  parts.push_back(std::make_unique<BucketRateLimiter>(10.0, 100, clock));
  return std::make_unique<MaxOfRateLimiter>(std::move(parts));
}

}  // namespace nodeguard::kube
