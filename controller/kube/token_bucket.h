#pragma once

// A token bucket with golang.org/x/time/rate's reservation semantics: `burst`
// tokens refill at `qps` per second; each Reserve() takes one, and when none
// is left the caller is told how long to wait for its own. Reservations queue
// (the bucket goes negative), so the n-th caller past an empty bucket waits
// n/qps and the callers are served at exactly qps. Shared by the workqueue's
// BucketRateLimiter (rate_limiter.h) and the RestClient's client-side limit
// (rest.h).

#include <mutex>

#include "common/clock.h"
#include "common/duration.h"

namespace nodeguard::kube {

// Thread-safe.
class TokenBucket {
 public:
  // REQUIRES: qps > 0, burst >= 1; `clock` outlives the bucket.
  TokenBucket(double qps, int burst, const Clock& clock);

  // Takes one token; how long the caller must wait before it may act (zero
  // while tokens are left).
  Duration Reserve();

  double qps() const { return qps_; }
  int burst() const { return static_cast<int>(burst_); }

 private:
  const double qps_;
  const double burst_;
  const Clock& clock_;
  std::mutex mu_;
  double tokens_;         // Guarded by mu_. Negative: reservations ahead of the refill.
  MonoTime last_{};       // Guarded by mu_.
  bool started_ = false;  // Guarded by mu_.
};

}  // namespace nodeguard::kube
