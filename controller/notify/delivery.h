#pragma once

// Delivery decisions, pure (time and the jitter draw are passed in), so every
// rule is table-tested; the worker (worker.h) only carries them out.
//
//   after an attempt            | decision
//   ----------------------------+------------------------------------------
//   2xx                         | sent
//   429                         | retry after Retry-After (delta-seconds or an
//                               | HTTP-date; capped at max_retry_after), or
//                               | the backoff when absent or unreadable
//   5xx, 408, network, timeout  | retry after the exponential backoff
//   other 4xx                   | give up at once ("http_4xx": retrying the
//                               | same request cannot help)
//   1xx, 3xx (no redirects are  | give up at once ("http_other")
//   followed: a webhook moved   |
//   is a configuration error)   |
//   any retry whose attempt     | give up ("max_attempts" / "max_age"): a
//   would be the max_attempts+1 | message hours late misleads more than it
//   -th, or start past max_age  | helps at 3 a.m.
//
// The backoff: initial * factor^(attempts-1), capped at max_backoff, then
// stretched by up to `jitter` (shrunk instead at the cap).
//
// SinkQueue: bounded, drops the OLDEST notification when full (the newest
// says most about the node now: "failed" matters more than the "started"
// before it) and hands the dropped one back to be counted.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"

namespace nodeguard::notify {

struct DeliveryOptions {
  int max_attempts = 6;                      // Including the first.
  Duration max_age = std::chrono::hours(1);  // From enqueue to the last attempt's start.
  Duration initial_backoff = std::chrono::seconds(2);
  Duration max_backoff = std::chrono::minutes(5);
  double factor = 2.0;
  double jitter = 0.2;
  Duration max_retry_after = std::chrono::minutes(15);
  Duration request_timeout = std::chrono::seconds(10);
  size_t queue_capacity = 256;
  double rate_per_second = 1.0;  // Per sink (DingTalk allows 20 per minute per robot).
  int rate_burst = 10;
};

// What an attempt came to. http_status 0: no HTTP answer (refused, reset, TLS,
// timeout).
struct AttemptResult {
  int http_status = 0;
  std::string retry_after;  // The Retry-After header, verbatim; empty if absent.
  bool tls = false;         // No HTTP answer because TLS failed (retried like the network).
};

enum class Decision { kSent, kRetry, kGiveUp };
const char* DecisionName(Decision d);

struct Verdict {
  Decision decision = Decision::kSent;
  Duration wait{0};  // kRetry: how long before the next attempt.
  // Why, for logs (never a URL): "ok", "http_5xx", "http_408", "http_429",
  // "network", "tls", "http_4xx", "http_other", "max_attempts", "max_age".
  std::string reason;
  // What this attempt came to, whatever was decided: the values of `reason`
  // but max_attempts and max_age.
  std::string cause;
};

// The `reason` label of a failed notification: max_age as such (it says the
// receiver was down for long), otherwise what the last attempt came to
// (http_4xx, http_5xx, http_408, http_429, network, tls, http_other), also
// when it was the last attempt allowed: the cause is what a person fixes.
std::string FailureReason(const Verdict& v);

// `attempts`: attempts made so far, including this one (>= 1). `age`: since
// enqueue. `uniform01`: a draw in [0, 1) for the jitter.
Verdict DecideAfterAttempt(const DeliveryOptions& options, const AttemptResult& result,
                           int attempts, Duration age, WallTime now, double uniform01);

Duration BackoffDelay(const DeliveryOptions& options, int attempts, double uniform01);

// Retry-After as RFC 9110 allows it: delta-seconds ("120") or an HTTP-date
// ("Wed, 21 Oct 2026 07:28:00 GMT", measured from `now`; a past date is 0).
// nullopt when unreadable.
std::optional<Duration> ParseRetryAfter(std::string_view value, WallTime now);

// A sink that keeps failing, made visible (the NotificationsFailing condition
// on the policies, docs/notifications.md): after kFailingAfter notifications
// in a row failed (each already retried: up to 6 attempts or an hour), the
// sink is failing until a notification is sent again. A drop (queue_full,
// shutdown) neither counts nor clears: it says nothing about the receiver.
inline constexpr int kFailingAfter = 3;

struct FailingSink {
  std::string name;
  std::string reason;   // FailureReason of the last failure.
  int consecutive = 0;  // Failures in a row.
  bool operator==(const FailingSink&) const = default;
};

// Not thread-safe.
class SinkHealth {
 public:
  // `outcome`, `reason`: as the worker reports them (worker.h, OutcomeFn).
  // True when the failing sinks changed: one turned failing, or recovered.
  bool Record(std::string_view sink, std::string_view outcome, std::string_view reason);
  // The failing sinks, by name.
  std::vector<FailingSink> Failing() const;

 private:
  std::map<std::string, FailingSink, std::less<>> by_sink_;  // Failures in a row.
};

// A bounded FIFO. Not thread-safe (the worker guards it).
template <typename T>
class SinkQueue {
 public:
  explicit SinkQueue(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}
  // Appends; when full, first removes and returns the oldest item.
  std::optional<T> Push(T item) {
    std::optional<T> dropped;
    if (items_.size() >= capacity_) {
      dropped = std::move(items_.front());
      items_.pop_front();
    }
    items_.push_back(std::move(item));
    return dropped;
  }
  std::optional<T> Pop() {
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  size_t capacity() const { return capacity_; }

 private:
  size_t capacity_;
  std::deque<T> items_;
};

}  // namespace nodeguard::notify
