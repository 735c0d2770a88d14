#include "notify/worker.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace nodeguard::notify {
namespace {

using namespace std::chrono_literals;

// Answers from a script (then 200), records what it was sent, and can hold
// every request until released (a receiver that hangs).
class FakePoster final : public Poster {
 public:
  Result<PostResponse> Post(const OutboundRequest& request, Duration) override {
    std::unique_lock lock(mu_);
    requests_.push_back(request);
    cv_.notify_all();
    cv_.wait(lock, [&] { return !hold_; });
    if (script_.empty()) return PostResponse{200, ""};
    auto next = script_.front();
    script_.pop_front();
    return next;
  }
  void Script(std::vector<Result<PostResponse>> answers) {
    std::lock_guard lock(mu_);
    for (auto& a : answers) script_.push_back(std::move(a));
  }
  void Hold(bool hold) {
    {
      std::lock_guard lock(mu_);
      hold_ = hold;
    }
    cv_.notify_all();
  }
  bool WaitRequests(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
  }
  std::vector<OutboundRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Result<PostResponse>> script_;
  std::vector<OutboundRequest> requests_;
  bool hold_ = false;
};

class Outcomes {
 public:
  OutcomeFn Fn() {
    return [this](std::string_view sink, FactKind kind, std::string_view outcome,
                  std::string_view reason) {
      std::lock_guard lock(mu_);
      counts_[std::string(sink) + "," + FactKindName(kind) + "," + std::string(outcome) + "," +
              std::string(reason)]++;
    };
  }
  std::map<std::string, int> counts() {
    std::lock_guard lock(mu_);
    return counts_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, int> counts_;
};

DeliveryOptions Fast() {
  DeliveryOptions o;
  o.max_attempts = 4;
  o.initial_backoff = 5ms;
  o.max_backoff = 20ms;
  o.jitter = 0;
  o.max_retry_after = 50ms;  // A "Retry-After: 1" waits 50 ms here.
  o.rate_per_second = 1000;
  o.rate_burst = 100;
  o.queue_capacity = 8;
  return o;
}

SinkConfig Sink(std::string name, SinkType type = SinkType::kWebhook) {
  SinkConfig s;
  s.name = std::move(name);
  s.type = type;
  s.url = "https://receiver.example/hook/SECRET-TOKEN";
  return s;
}

Fact Fact1(FactKind kind = FactKind::kRemediationStarted, std::string occurrence = "r1") {
  Fact f;
  f.kind = kind;
  f.policy = "p";
  f.node = "n1";
  f.action = "reboot";
  f.occurrence = std::move(occurrence);
  return f;
}

Error Refused() { return Error::Unavailable("connect https://receiver.example/hook/SECRET-TOKEN"); }

TEST(SinkWorkerTest, SendsAndCountsSent) {
  FakePoster poster;
  Outcomes outcomes;
  SinkWorker w(Sink("hook"), Fast(), poster, outcomes.Fn());
  w.Enqueue(Fact1());
  ASSERT_TRUE(w.WaitIdle(5s));
  ASSERT_EQ(poster.requests().size(), 1u);
  EXPECT_NE(poster.requests()[0].body.find("io.nodeguard.remediation.started"), std::string::npos);
  EXPECT_EQ(outcomes.counts(),
            (std::map<std::string, int>{{"hook,remediation.started,sent,ok", 1}}));
}

TEST(SinkWorkerTest, RetriesNetworkErrors5xxAnd429ThenSends) {
  FakePoster poster;
  poster.Script({Refused(), PostResponse{503, ""}, PostResponse{429, "1"}});
  Outcomes outcomes;
  SinkWorker w(Sink("hook"), Fast(), poster, outcomes.Fn());
  const auto start = std::chrono::steady_clock::now();
  w.Enqueue(Fact1());
  ASSERT_TRUE(w.WaitIdle(5s));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(poster.requests().size(), 4u);
  // Backoffs 5 ms and 10 ms, then Retry-After capped at 50 ms.
  EXPECT_GE(took, 65ms);
  EXPECT_EQ(outcomes.counts(),
            (std::map<std::string, int>{{"hook,remediation.started,sent,ok", 1}}));
}

TEST(SinkWorkerTest, GivesUpAtOnceOn4xxAndAfterMaxAttempts) {
  FakePoster poster;
  poster.Script({PostResponse{400, ""}, Refused(), Refused(), Refused(), Refused()});
  Outcomes outcomes;
  std::vector<std::string> logs;
  std::mutex logs_mu;
  SinkWorker w(Sink("hook"), Fast(), poster, outcomes.Fn(), [&](std::string_view line) {
    std::lock_guard lock(logs_mu);
    logs.emplace_back(line);
  });
  w.Enqueue(Fact1(FactKind::kRemediationStarted, "a"));
  w.Enqueue(Fact1(FactKind::kRemediationFailed, "b"));
  ASSERT_TRUE(w.WaitIdle(5s));
  EXPECT_EQ(poster.requests().size(), 5u);  // 1 for the 400, 4 (max_attempts) for the other.
  // The reason of the one given up after its attempts is what they met
  // (network), not that they ran out: that is what a person fixes.
  EXPECT_EQ(outcomes.counts(),
            (std::map<std::string, int>{{"hook,remediation.started,failed,http_4xx", 1},
                                        {"hook,remediation.failed,failed,network", 1}}));
  std::lock_guard lock(logs_mu);
  ASSERT_EQ(logs.size(), 2u);
  for (const auto& line : logs) {
    EXPECT_EQ(line.find("SECRET-TOKEN"), std::string::npos) << line;
    EXPECT_NE(line.find("https://receiver.example/"), std::string::npos) << line;
  }
}

TEST(SinkWorkerTest, EnqueueNeverBlocksOnAHungReceiverAndDropsTheOldest) {
  FakePoster poster;
  poster.Hold(true);
  Outcomes outcomes;
  DeliveryOptions o = Fast();
  o.queue_capacity = 3;
  SinkWorker w(Sink("hook"), o, poster, outcomes.Fn());
  w.Enqueue(Fact1(FactKind::kRemediationStarted, "in-flight"));
  ASSERT_TRUE(poster.WaitRequests(1, 5s));  // The worker hangs in Post.
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    w.Enqueue(Fact1(FactKind::kRemediationSucceeded, "q" + std::to_string(i)));
  }
  const auto took = std::chrono::steady_clock::now() - start;
  // The receiver hangs until released: any bound proves the enqueues did not wait
  // for it; 2 s leaves room for a loaded machine or a sanitizer build.
  EXPECT_LT(took, 2s) << "100 enqueues behind a hung receiver";
  EXPECT_EQ(outcomes.counts()["hook,remediation.succeeded,dropped,queue_full"], 97);
  poster.Hold(false);
  ASSERT_TRUE(w.WaitIdle(5s));
  const auto requests = poster.requests();
  ASSERT_EQ(requests.size(), 4u);  // The one in flight, then the 3 newest.
  EXPECT_NE(requests[1].body.find("/q97\""), std::string::npos) << requests[1].body;
  EXPECT_NE(requests[3].body.find("/q99\""), std::string::npos) << requests[3].body;
}

TEST(SinkWorkerTest, StopInterruptsARetryWaitAndCountsWhatIsLeft) {
  FakePoster poster;
  poster.Script({PostResponse{429, "3600"}});
  Outcomes outcomes;
  DeliveryOptions o = Fast();
  o.max_retry_after = 1h;
  o.max_age = 2h;
  auto w = std::make_unique<SinkWorker>(Sink("hook"), o, poster, outcomes.Fn());
  w->Enqueue(Fact1(FactKind::kRemediationStarted, "a"));
  ASSERT_TRUE(poster.WaitRequests(1, 5s));
  w->Enqueue(Fact1(FactKind::kRemediationSucceeded, "b"));
  const auto start = std::chrono::steady_clock::now();
  w->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  w->Enqueue(Fact1(FactKind::kRemediationFailed, "c"));  // After Stop: dropped, not queued.
  EXPECT_EQ(outcomes.counts(),
            (std::map<std::string, int>{{"hook,remediation.started,dropped,shutdown", 1},
                                        {"hook,remediation.succeeded,dropped,shutdown", 1},
                                        {"hook,remediation.failed,dropped,shutdown", 1}}));
}

TEST(NotifierTest, EachSinkGetsOnlyTheKindsItWantsAndOneSlowSinkDelaysNoOther) {
  FakePoster fast_poster;
  FakePoster slow_poster;
  slow_poster.Hold(true);
  Outcomes outcomes;
  SinkConfig failures = Sink("failures", SinkType::kSlack);
  failures.kinds = {FactKind::kRemediationFailed};
  Notifier fast({Sink("all", SinkType::kDingTalk), failures}, Fast(), fast_poster, outcomes.Fn());
  Notifier slow({Sink("slow")}, Fast(), slow_poster, outcomes.Fn());
  for (auto* n : {&fast, &slow}) {
    n->Notify(Fact1(FactKind::kRemediationStarted, "r"));
    n->Notify(Fact1(FactKind::kRemediationFailed, "r"));
  }
  ASSERT_TRUE(fast.WaitIdle(5s));
  EXPECT_EQ(outcomes.counts(),
            (std::map<std::string, int>{{"all,remediation.started,sent,ok", 1},
                                        {"all,remediation.failed,sent,ok", 1},
                                        {"failures,remediation.failed,sent,ok", 1}}));
  EXPECT_EQ(fast_poster.requests().size(), 3u);
  slow_poster.Hold(false);
  ASSERT_TRUE(slow.WaitIdle(5s));
  EXPECT_EQ(slow_poster.requests().size(), 2u);
}

}  // namespace
}  // namespace nodeguard::notify
