#include "kube/events.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "common/time.h"

namespace nodeguard::kube {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

ObjectReference NodeRef(const std::string& name) {
  return ObjectReference{"Node", "v1", "", name, "uid-" + name};
}
ObjectReference PodRef(const std::string& ns, const std::string& name) {
  return ObjectReference{"Pod", "v1", ns, name, "uid-" + name};
}

class CorrelatorTest : public ::testing::Test {
 protected:
  CorrelatedEvent Correlate(const ObjectReference& o, const std::string& reason,
                            const std::string& message, EventType type = EventType::kWarning) {
    return correlator_.Correlate(o, type, reason, message, clock_.Now(), clock_.Monotonic());
  }
  FakeClock clock_{ParseRfc3339("2026-11-27T14:00:00Z").value()};
  EventCorrelator correlator_{EventCorrelatorOptions{}, "nodeguard", "controller-0"};
};

TEST_F(CorrelatorTest, FirstEventIsCreatedWithItsFields) {
  auto c = Correlate(NodeRef("worker-01"), "NodeNotReady", "PLEG is not healthy");
  EXPECT_EQ(c.action, EventAction::kCreate);
  EXPECT_EQ(c.event.namespace_, "default");  // Cluster-scoped object.
  EXPECT_THAT(c.event.name, ::testing::StartsWith("worker-01."));
  EXPECT_EQ(c.event.count, 1);
  EXPECT_EQ(c.event.first_timestamp, clock_.Now());
  const json doc = json::parse(c.event.ToJson());
  EXPECT_EQ(doc["kind"], "Event");
  EXPECT_EQ(doc["involvedObject"]["kind"], "Node");
  EXPECT_EQ(doc["involvedObject"]["name"], "worker-01");
  EXPECT_EQ(doc["involvedObject"]["uid"], "uid-worker-01");
  EXPECT_FALSE(doc["involvedObject"].contains("namespace"));
  EXPECT_EQ(doc["type"], "Warning");
  EXPECT_EQ(doc["reason"], "NodeNotReady");
  EXPECT_EQ(doc["count"], 1);
  EXPECT_EQ(doc["firstTimestamp"], "2026-11-27T14:00:00Z");
  EXPECT_EQ(doc["source"]["component"], "nodeguard");
  EXPECT_EQ(doc["source"]["host"], "controller-0");

  auto pod = Correlate(PodRef("shop", "web-1"), "Evicted", "drained");
  EXPECT_EQ(pod.event.namespace_, "shop");
}

TEST_F(CorrelatorTest, RepeatsArePatchedWithGrowingCount) {
  auto first = Correlate(NodeRef("n1"), "NodeNotReady", "PLEG is not healthy");
  clock_.Advance(30s);
  auto second = Correlate(NodeRef("n1"), "NodeNotReady", "PLEG is not healthy");
  clock_.Advance(30s);
  auto third = Correlate(NodeRef("n1"), "NodeNotReady", "PLEG is not healthy");
  EXPECT_EQ(second.action, EventAction::kPatch);
  EXPECT_EQ(third.action, EventAction::kPatch);
  EXPECT_EQ(second.event.name, first.event.name);
  EXPECT_EQ(third.event.name, first.event.name);
  EXPECT_EQ(third.event.count, 3);
  EXPECT_EQ(third.event.first_timestamp, first.event.first_timestamp);
  EXPECT_EQ(third.event.last_timestamp, clock_.Now());
  const json patch = json::parse(third.event.PatchJson());
  EXPECT_EQ(patch["count"], 3);
  EXPECT_EQ(patch["lastTimestamp"], "2026-11-27T14:01:00Z");
}

TEST_F(CorrelatorTest, DifferentObjectReasonTypeOrMessageAreDistinctEvents) {
  const std::string base = Correlate(NodeRef("n1"), "R", "m").event.name;
  clock_.Advance(1s);
  EXPECT_EQ(Correlate(NodeRef("n2"), "R", "m").action, EventAction::kCreate);
  clock_.Advance(1s);
  EXPECT_EQ(Correlate(NodeRef("n1"), "Other", "m").action, EventAction::kCreate);
  clock_.Advance(1s);
  EXPECT_EQ(Correlate(NodeRef("n1"), "R", "m", EventType::kNormal).action, EventAction::kCreate);
  clock_.Advance(1s);
  auto other_message = Correlate(NodeRef("n1"), "R", "m2");
  EXPECT_EQ(other_message.action, EventAction::kCreate);
  EXPECT_NE(other_message.event.name, base);
}

TEST_F(CorrelatorTest, ManySimilarMessagesAreCombined) {
  // A flapping node reports a different duration each time.
  std::vector<CorrelatedEvent> out;
  for (int i = 0; i < 12; ++i) {
    out.push_back(Correlate(NodeRef("n1"), "PLEGUnhealthy",
                            "pleg was last seen active " + std::to_string(180 + i) + "s ago"));
    clock_.Advance(10s);
  }
  for (int i = 0; i < 9; ++i) EXPECT_EQ(out[i].action, EventAction::kCreate) << i;
  EXPECT_EQ(out[9].action, EventAction::kCreate);  // The combined Event.
  EXPECT_THAT(out[9].event.message, ::testing::StartsWith("(combined from similar events): "));
  EXPECT_EQ(out[10].action, EventAction::kPatch);
  EXPECT_EQ(out[10].event.name, out[9].event.name);
  EXPECT_EQ(out[11].event.count, 3);
  EXPECT_THAT(out[11].event.message, ::testing::HasSubstr("191s ago"));
}

TEST_F(CorrelatorTest, SimilarityWindowExpires) {
  for (int i = 0; i < 9; ++i) Correlate(NodeRef("n1"), "R", "m" + std::to_string(i));
  clock_.Advance(11min);  // The aggregation window passes: counting starts over.
  auto c = Correlate(NodeRef("n1"), "R", "m-late");
  EXPECT_EQ(c.action, EventAction::kCreate);
  EXPECT_EQ(c.event.message, "m-late");
}

TEST_F(CorrelatorTest, SpamFilterAllowsBurstThenOnePerFiveMinutesPerObject) {
  int sent = 0;
  for (int i = 0; i < 40; ++i) {
    if (Correlate(NodeRef("n1"), "R", "m").action != EventAction::kDrop) ++sent;
  }
  EXPECT_EQ(sent, 25);
  // Another object has its own bucket.
  EXPECT_NE(Correlate(NodeRef("n2"), "R", "m").action, EventAction::kDrop);
  clock_.Advance(299s);
  EXPECT_EQ(Correlate(NodeRef("n1"), "R", "m").action, EventAction::kDrop);
  clock_.Advance(1s);
  auto allowed = Correlate(NodeRef("n1"), "R", "m");
  EXPECT_EQ(allowed.action, EventAction::kPatch);
  // Dropped repeats were still counted, as client-go does.
  EXPECT_EQ(allowed.event.count, 42);
  EXPECT_EQ(Correlate(NodeRef("n1"), "R", "m").action, EventAction::kDrop);
}

// A 100 KB condition message quoted in an Event (issue 16): Events are bound
// to 1 KiB, as events.k8s.io bounds a note, cut on a character boundary.
TEST_F(CorrelatorTest, MessagesAreBoundedToOneKibibyte) {
  std::string huge;
  while (huge.size() < 100 * 1024) huge += "PLEG \xE2\x82\xAC ";  // 3-byte characters.
  auto c = Correlate(NodeRef("n1"), "RemediationStarted", huge);
  EXPECT_LE(c.event.message.size(), kMaxEventMessageBytes);
  EXPECT_GE(c.event.message.size(), kMaxEventMessageBytes - 6);
  EXPECT_EQ(c.event.message.substr(c.event.message.size() - 3), "\xE2\x80\xA6");
  EXPECT_TRUE(json::parse(c.event.ToJson()).is_object()) << "valid UTF-8 all the way";
  EXPECT_LE(json::parse(c.event.PatchJson())["message"].get<std::string>().size(),
            kMaxEventMessageBytes);

  // A combined Event's prefix is inside the bound too.
  for (int i = 0; i < 12; ++i) {
    c = Correlate(NodeRef("n2"), "R", std::to_string(i) + huge);
    EXPECT_LE(c.event.message.size(), kMaxEventMessageBytes) << i;
  }
  EXPECT_THAT(c.event.message, ::testing::StartsWith("(combined from similar events): "));

  // Short messages are untouched.
  EXPECT_EQ(Correlate(NodeRef("n3"), "R", "drained 3 pods").event.message, "drained 3 pods");
}

// ------------------------------------------------------------ recorder

class FakeSink final : public EventSink {
 public:
  Status Create(const EventRecord& e) override { return Write("create", e); }
  Status Patch(const EventRecord& e) override {
    if (patch_not_found) return Error::NotFound("events \"x\" not found");
    return Write("patch", e);
  }
  Status Write(const std::string& verb, const EventRecord& e) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return !blocked; });
    if (fail_next > 0) {
      --fail_next;
      return Error::Unavailable("apiserver down");
    }
    log.push_back(verb + " " + e.reason + " " + std::to_string(e.count));
    return Status::Ok();
  }
  void Unblock() {
    {
      std::lock_guard lock(mu);
      blocked = false;
    }
    cv.notify_all();
  }
  std::mutex mu;
  std::condition_variable cv;
  bool blocked = false;
  bool patch_not_found = false;
  int fail_next = 0;
  std::vector<std::string> log;
};

EventRecorderOptions FastOptions() {
  EventRecorderOptions o;
  o.host = "controller-0";
  o.retry_backoff = 1ms;
  return o;
}

TEST(EventRecorderTest, AggregatesRepeatsAsynchronously) {
  FakeSink sink;
  FakeClock clock;
  EventRecorder recorder(sink, FastOptions(), clock);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(recorder.Record(NodeRef("n1"), EventType::kWarning, "NodeNotReady", "m"));
  }
  EXPECT_TRUE(recorder.Record(NodeRef("n1"), EventType::kNormal, "Cordoned", "m"));
  ASSERT_TRUE(recorder.WaitIdle(10s));
  EXPECT_THAT(sink.log, ::testing::ElementsAre("create NodeNotReady 1", "patch NodeNotReady 2",
                                               "patch NodeNotReady 3", "create Cordoned 1"));
}

TEST(EventRecorderTest, RecordNeverBlocksAndDropsWhenTheQueueIsFull) {
  FakeSink sink;
  sink.blocked = true;  // The API server hangs.
  FakeClock clock;
  EventRecorderOptions o = FastOptions();
  o.queue_capacity = 5;
  EventRecorder recorder(sink, o, clock);
  int accepted = 0;
  for (int i = 0; i < 20; ++i) {
    if (recorder.Record(NodeRef("n" + std::to_string(i)), EventType::kNormal, "R", "m")) ++accepted;
  }
  // Five queued plus at most one taken by the (stuck) sender.
  EXPECT_GE(accepted, 5);
  EXPECT_LE(accepted, 6);
  EXPECT_EQ(recorder.dropped_queue_full(), static_cast<uint64_t>(20 - accepted));
  sink.Unblock();
  ASSERT_TRUE(recorder.WaitIdle(10s));
  EXPECT_EQ(sink.log.size(), static_cast<size_t>(accepted));
}

TEST(EventRecorderTest, ExpiredEventIsRecreatedAndTransientFailuresRetried) {
  FakeSink sink;
  FakeClock clock;
  EventRecorder recorder(sink, FastOptions(), clock);
  recorder.Record(NodeRef("n1"), EventType::kWarning, "R", "m");
  ASSERT_TRUE(recorder.WaitIdle(10s));
  sink.patch_not_found = true;
  recorder.Record(NodeRef("n1"), EventType::kWarning, "R", "m");
  ASSERT_TRUE(recorder.WaitIdle(10s));
  sink.fail_next = 2;
  recorder.Record(NodeRef("n2"), EventType::kWarning, "R", "m");
  ASSERT_TRUE(recorder.WaitIdle(10s));
  EXPECT_THAT(sink.log, ::testing::ElementsAre("create R 1", "create R 2", "create R 1"));
  EXPECT_EQ(recorder.failed(), 0u);
  sink.fail_next = 10;
  recorder.Record(NodeRef("n3"), EventType::kWarning, "R", "m");
  ASSERT_TRUE(recorder.WaitIdle(10s));
  EXPECT_EQ(recorder.failed(), 1u);
}

TEST(EventRecorderTest, EventsAreNotSentOnceTheFenceCloses) {
  FakeSink sink;
  FakeClock clock;
  std::atomic<bool> leading{true};
  EventRecorderOptions o = FastOptions();
  o.fence = [&]() -> Status {
    if (leading.load()) return Status::Ok();
    return Error::Unavailable("not the leader");
  };
  EventRecorder recorder(sink, o, clock);
  recorder.Record(NodeRef("n1"), EventType::kNormal, "Cordoned", "m");
  ASSERT_TRUE(recorder.WaitIdle(10s));
  leading.store(false);  // Leadership lost: queued and new events stay unsent.
  recorder.Record(NodeRef("n2"), EventType::kNormal, "Cordoned", "m");
  recorder.Record(NodeRef("n1"), EventType::kNormal, "Cordoned", "m");
  ASSERT_TRUE(recorder.WaitIdle(10s));
  EXPECT_THAT(sink.log, ::testing::ElementsAre("create Cordoned 1"));
  EXPECT_EQ(recorder.failed(), 2u);
}

// The recorder bounds a message before queueing it, so a burst of huge
// messages cannot hold megabytes in the queue or the correlator's cache.
TEST(EventRecorderTest, QueuedMessagesAreBounded) {
  class MessageSink final : public EventSink {
   public:
    Status Create(const EventRecord& e) override {
      sizes.push_back(e.message.size());
      return Status::Ok();
    }
    Status Patch(const EventRecord& e) override { return Create(e); }
    std::vector<size_t> sizes;
  };
  MessageSink sink;
  FakeClock clock;
  EventRecorder recorder(sink, FastOptions(), clock);
  recorder.Record(NodeRef("n1"), EventType::kWarning, "R", std::string(100 * 1024, 'x'));
  ASSERT_TRUE(recorder.WaitIdle(10s));
  ASSERT_EQ(sink.sizes.size(), 1u);
  EXPECT_LE(sink.sizes[0], kMaxEventMessageBytes);
}

TEST(EventRecorderTest, SpamIsDroppedAndCounted) {
  FakeSink sink;
  FakeClock clock;
  EventRecorder recorder(sink, FastOptions(), clock);
  for (int i = 0; i < 30; ++i) recorder.Record(NodeRef("n1"), EventType::kWarning, "R", "m");
  ASSERT_TRUE(recorder.WaitIdle(10s));
  EXPECT_EQ(sink.log.size(), 25u);
  EXPECT_EQ(recorder.dropped_spam(), 5u);
}

}  // namespace
}  // namespace nodeguard::kube
