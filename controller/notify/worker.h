#pragma once

// Delivery, the I/O half: one worker thread per sink with a bounded queue, so
// a slow or dead receiver never delays the reconcile that recorded a fact.
//
//   Notifier::Notify(fact)   never blocks (a mutex held for a deque push): per
//                            sink that wants the kind, the fact is queued; a
//                            full queue drops its OLDEST entry ("dropped",
//                            reason queue_full).
//   SinkWorker thread        takes the oldest fact, waits for the sink's rate
//                            limit (a token bucket), builds the request (a
//                            DingTalk signature is made per attempt, so a
//                            retry is never refused as stale), posts it through
//                            the Poster seam and follows DecideAfterAttempt
//                            (delivery.h): sent, retry after a wait, or give up
//                            ("failed"). Stop() interrupts every wait; what is
//                            still queued is counted "dropped" (shutdown).
//
// Guarantee: across restarts and leader hand-overs, at most once: the queue
// is in memory only, and a new leader sends only the facts it records itself.
// Within a process, a notification is retried until accepted or given up, so
// an attempt whose answer was lost (a timeout after the receiver accepted)
// makes a receiver see it twice. Facts carry a deterministic id (FactId) for
// receivers to drop such repeats.
//
// Nothing secret leaves a worker: logs carry RedactUrl(url) and the
// transport error's kind, never its message (which may name the URL).

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "kube/token_bucket.h"
#include "notify/delivery.h"
#include "notify/fact.h"
#include "notify/sink.h"

namespace nodeguard::notify {

struct PostResponse {
  int status = 0;
  std::string retry_after;  // The Retry-After header; empty if absent.
};

// Sends one request. Thread-safe. A transport failure (refused, reset, TLS,
// timeout) is an Error, with reason kTlsFailure when TLS failed (the
// handshake, the receiver's certificate); any HTTP status is a PostResponse.
inline constexpr const char* kTlsFailure = "tls";

class Poster {
 public:
  virtual ~Poster() = default;
  virtual Result<PostResponse> Post(const OutboundRequest& request, Duration timeout) = 0;
};

// outcome: "sent" (reason "ok"), "failed" (reason FailureReason, delivery.h)
// or "dropped" (reason "queue_full" or "shutdown"). Called from any thread.
using OutcomeFn = std::function<void(std::string_view sink, FactKind kind, std::string_view outcome,
                                     std::string_view reason)>;
// A line for the log; never contains a secret.
using LogFn = std::function<void(std::string_view message)>;

class SinkWorker {
 public:
  // `poster`, `clock` outlive the worker. Starts the thread.
  SinkWorker(SinkConfig sink, DeliveryOptions options, Poster& poster, OutcomeFn on_outcome,
             LogFn log = nullptr, const Clock& clock = RealClock::Instance());
  ~SinkWorker();  // Stop().
  SinkWorker(const SinkWorker&) = delete;
  SinkWorker& operator=(const SinkWorker&) = delete;

  // Never blocks on I/O. Ignored unless the sink wants the kind.
  void Enqueue(const Fact& fact);
  // Interrupts any wait, drops what is queued (counted) and joins the thread.
  void Stop();
  // Waits until the queue is empty and nothing is in flight (tests).
  bool WaitIdle(std::chrono::milliseconds timeout);

  const SinkConfig& sink() const { return sink_; }

 private:
  struct Item {
    Fact fact;
    MonoTime enqueued;
  };
  void Loop();
  void Deliver(const Item& item);
  // Waits `d` unless stopping; false when stopping.
  bool WaitFor(Duration d);
  void Outcome(FactKind kind, std::string_view outcome, std::string_view reason);

  const SinkConfig sink_;
  const DeliveryOptions options_;
  Poster& poster_;
  const OutcomeFn on_outcome_;
  const LogFn log_;
  const Clock& clock_;
  std::mt19937_64 rng_;       // Worker thread only.
  kube::TokenBucket bucket_;  // The sink's rate limit.

  std::mutex mu_;
  std::condition_variable cv_;
  SinkQueue<Item> queue_;  // Guarded by mu_.
  bool busy_ = false;      // Guarded by mu_.
  bool stopping_ = false;  // Guarded by mu_.
  std::thread thread_;
};

// Fans facts out to the sinks. Thread-safe; Notify never blocks on I/O.
class Notifier {
 public:
  Notifier(std::vector<SinkConfig> sinks, DeliveryOptions options, Poster& poster,
           OutcomeFn on_outcome, LogFn log = nullptr, const Clock& clock = RealClock::Instance());
  void Notify(const Fact& fact);
  void Stop();
  bool WaitIdle(std::chrono::milliseconds timeout);

 private:
  std::vector<std::unique_ptr<SinkWorker>> workers_;
};

}  // namespace nodeguard::notify
