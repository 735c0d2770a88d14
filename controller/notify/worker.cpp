#include "notify/worker.h"

#include <algorithm>

namespace nodeguard::notify {

SinkWorker::SinkWorker(SinkConfig sink, DeliveryOptions options, Poster& poster,
                       OutcomeFn on_outcome, LogFn log, const Clock& clock)
    : sink_(std::move(sink)),
      options_(options),
      poster_(poster),
      on_outcome_(std::move(on_outcome)),
      log_(std::move(log)),
      clock_(clock),
      rng_(std::random_device{}()),
      bucket_(std::max(options.rate_per_second, 1e-3), std::max(options.rate_burst, 1), clock),
      queue_(options.queue_capacity) {
  thread_ = std::thread([this] { Loop(); });
}

SinkWorker::~SinkWorker() { Stop(); }

void SinkWorker::Outcome(FactKind kind, std::string_view outcome, std::string_view reason) {
  if (on_outcome_) on_outcome_(sink_.name, kind, outcome, reason);
}

void SinkWorker::Enqueue(const Fact& fact) {
  if (!sink_.Wants(fact.kind)) return;
  std::optional<Item> dropped;
  bool stopping = false;
  {
    std::lock_guard lock(mu_);
    stopping = stopping_;
    if (!stopping) dropped = queue_.Push(Item{fact, clock_.Monotonic()});
  }
  cv_.notify_all();
  if (stopping) {
    Outcome(fact.kind, "dropped", "shutdown");
  } else if (dropped) {
    Outcome(dropped->fact.kind, "dropped", "queue_full");
    if (log_) {
      log_("notification dropped: sink " + sink_.name + " queue full (" +
           std::to_string(queue_.capacity()) + "), dropped the oldest: " + FactId(dropped->fact));
    }
  }
}

void SinkWorker::Stop() {
  std::vector<Item> left;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    while (auto item = queue_.Pop()) left.push_back(std::move(*item));
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (const auto& item : left) Outcome(item.fact.kind, "dropped", "shutdown");
}

bool SinkWorker::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return queue_.empty() && !busy_; });
}

bool SinkWorker::WaitFor(Duration d) {
  std::unique_lock lock(mu_);
  if (d <= Duration(0)) return !stopping_;
  return !cv_.wait_for(lock, d, [&] { return stopping_; });
}

void SinkWorker::Loop() {
  for (;;) {
    Item item;
    {
      std::unique_lock lock(mu_);
      busy_ = false;
      cv_.notify_all();
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      item = std::move(*queue_.Pop());
      busy_ = true;
    }
    Deliver(item);
  }
}

void SinkWorker::Deliver(const Item& item) {
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (int attempt = 1;; ++attempt) {
    if (!WaitFor(bucket_.Reserve())) {
      Outcome(item.fact.kind, "dropped", "shutdown");
      return;
    }
    const OutboundRequest request = BuildRequest(sink_, item.fact, clock_.Now());
    auto response = poster_.Post(request, options_.request_timeout);
    AttemptResult result;
    std::string what;
    if (response.ok()) {
      result.http_status = response->status;
      result.retry_after = response->retry_after;
      what = "HTTP " + std::to_string(response->status);
    } else {
      result.tls = response.error().reason == kTlsFailure;
      // The kind only: a transport's message may carry the URL.
      what = std::string("transport error (") +
             (result.tls ? kTlsFailure : ErrorKindName(response.error().kind)) + ")";
    }
    const Duration age = clock_.Monotonic() - item.enqueued;
    const Verdict v =
        DecideAfterAttempt(options_, result, attempt, age, clock_.Now(), uniform(rng_));
    switch (v.decision) {
      case Decision::kSent:
        Outcome(item.fact.kind, "sent", v.reason);
        return;
      case Decision::kGiveUp:
        Outcome(item.fact.kind, "failed", FailureReason(v));
        if (log_) {
          log_("notification failed: sink " + sink_.name + " (" + SinkTypeName(sink_.type) + " " +
               RedactUrl(sink_.url) + "): " + what + " after " + std::to_string(attempt) +
               " attempt(s), gave up (" + v.reason + "): " + FactId(item.fact));
        }
        return;
      case Decision::kRetry:
        if (!WaitFor(v.wait)) {
          Outcome(item.fact.kind, "dropped", "shutdown");
          return;
        }
        break;
    }
  }
}

Notifier::Notifier(std::vector<SinkConfig> sinks, DeliveryOptions options, Poster& poster,
                   OutcomeFn on_outcome, LogFn log, const Clock& clock) {
  for (auto& sink : sinks) {
    workers_.push_back(
        std::make_unique<SinkWorker>(std::move(sink), options, poster, on_outcome, log, clock));
  }
}

void Notifier::Notify(const Fact& fact) {
  for (auto& w : workers_) w->Enqueue(fact);
}

void Notifier::Stop() {
  for (auto& w : workers_) w->Stop();
}

bool Notifier::WaitIdle(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto& w : workers_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!w->WaitIdle(std::max(left, std::chrono::milliseconds(0)))) return false;
  }
  return true;
}

}  // namespace nodeguard::notify
