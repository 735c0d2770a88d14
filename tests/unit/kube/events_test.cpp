#include "kube/events.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
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

// The decision "post / patch the count / drop" as a table, client-go's
// EventCorrelator (aggregator, logger, spam filter) row by row. The rows run
// in order through one correlator with the default options (10 similar
// messages in 10 min combine; 25 per object, then one per 5 min).
struct DecisionRow {
  std::string what;
  std::chrono::seconds advance{0};  // Clock moved before this row.
  ObjectReference object;
  EventType type = EventType::kWarning;
  std::string reason;
  std::string message;
  // Expected:
  EventAction action;
  int32_t count = 1;
  bool aggregated = false;
  int same_event_as = -1;         // Index of the row whose Event this one patches.
  std::string message_sent = "";  // Empty: `message` itself.
};

std::vector<DecisionRow> DecisionTable() {
  const auto n1 = NodeRef("n1");
  const auto W = EventType::kWarning;
  std::vector<DecisionRow> rows = {
      {"first occurrence: posted", 0s, n1, W, "R", "m", EventAction::kCreate},
      {"the same again: the count patched", 1s, n1, W, "R", "m", EventAction::kPatch, 2, false, 0},
      {"and again", 1s, n1, W, "R", "m", EventAction::kPatch, 3, false, 0},
      {"another message: another Event", 1s, n1, W, "R", "m2", EventAction::kCreate},
      {"another reason", 1s, n1, W, "R2", "m", EventAction::kCreate},
      {"another type", 1s, n1, EventType::kNormal, "R", "m", EventAction::kCreate},
      {"another object", 1s, NodeRef("n2"), W, "R", "m", EventAction::kCreate},
      {"same name, another namespace", 1s, PodRef("a", "web"), W, "R", "m", EventAction::kCreate},
      {"same name, the other namespace", 1s, PodRef("b", "web"), W, "R", "m", EventAction::kCreate},
  };
  // Similar messages (same object, type, reason): the 10th distinct one in
  // the window is combined, and every similar one after it.
  const auto n3 = NodeRef("n3");
  for (int i = 1; i <= 9; ++i) {
    rows.push_back({"similar message " + std::to_string(i) + " of 9: its own Event", 1s, n3, W,
                    "Flap", "s" + std::to_string(i), EventAction::kCreate});
  }
  const int combined = static_cast<int>(rows.size());
  rows.push_back({"the 10th similar message: one combined Event", 1s, n3, W, "Flap", "s10",
                  EventAction::kCreate, 1, true, -1, "(combined from similar events): s10"});
  rows.push_back({"an 11th: the combined Event's count", 1s, n3, W, "Flap", "s11",
                  EventAction::kPatch, 2, true, combined, "(combined from similar events): s11"});
  rows.push_back({"a message seen before: combined too", 1s, n3, W, "Flap", "s1",
                  EventAction::kPatch, 3, true, combined, "(combined from similar events): s1"});
  rows.push_back(
      {"another reason is not similar", 1s, n3, W, "Other", "s12", EventAction::kCreate});
  rows.push_back({"the window (10 min) passed: counting starts over", 601s, n3, W, "Flap", "s12",
                  EventAction::kCreate});
  // Spam filter: 25 per object (n4's first 25 below), then one per 5 minutes;
  // a dropped repeat still counts.
  const auto n4 = NodeRef("n4");
  const int spam_first = static_cast<int>(rows.size());
  rows.push_back({"spam: 1st of the burst", 0s, n4, W, "R", "m", EventAction::kCreate});
  for (int i = 2; i <= 25; ++i) {
    rows.push_back({"spam: " + std::to_string(i) + " of the burst of 25", 0s, n4, W, "R", "m",
                    EventAction::kPatch, i, false, spam_first});
  }
  rows.push_back({"spam: the 26th is dropped", 0s, n4, W, "R", "m", EventAction::kDrop, 26, false,
                  spam_first});
  rows.push_back({"spam: a new message of the object is dropped too", 0s, n4, W, "R2", "x",
                  EventAction::kDrop});
  rows.push_back({"spam: 299 s later, still dropped", 299s, n4, W, "R", "m", EventAction::kDrop, 27,
                  false, spam_first});
  rows.push_back({"spam: 300 s: one token, the count includes the drops", 1s, n4, W, "R", "m",
                  EventAction::kPatch, 28, false, spam_first});
  rows.push_back(
      {"spam: and none left", 0s, n4, W, "R", "m", EventAction::kDrop, 29, false, spam_first});
  rows.push_back({"spam: another object has its own bucket", 0s, NodeRef("n5"), W, "R", "m",
                  EventAction::kCreate});
  return rows;
}

TEST(EventDecisionTable, EachRow) {
  FakeClock clock{ParseRfc3339("2026-11-27T14:00:00Z").value()};
  EventCorrelator correlator{EventCorrelatorOptions{}, "nodeguard", "controller-0"};
  const auto rows = DecisionTable();
  std::vector<CorrelatedEvent> out;
  for (size_t i = 0; i < rows.size(); ++i) {
    const DecisionRow& row = rows[i];
    clock.Advance(row.advance);
    out.push_back(correlator.Correlate(row.object, row.type, row.reason, row.message, clock.Now(),
                                       clock.Monotonic()));
    const CorrelatedEvent& c = out.back();
    SCOPED_TRACE("row " + std::to_string(i) + ": " + row.what);
    EXPECT_EQ(EventActionName(c.action), std::string(EventActionName(row.action)));
    EXPECT_EQ(c.event.count, row.count);
    EXPECT_EQ(c.aggregated, row.aggregated);
    EXPECT_EQ(c.event.message, row.message_sent.empty() ? row.message : row.message_sent);
    EXPECT_EQ(c.event.last_timestamp, clock.Now());
    if (row.same_event_as >= 0) {
      EXPECT_EQ(c.event.name, out[row.same_event_as].event.name);
      EXPECT_EQ(c.event.first_timestamp, out[row.same_event_as].event.first_timestamp);
    } else if (row.action == EventAction::kCreate) {
      for (size_t j = 0; j + 1 < out.size(); ++j) {
        if (out[j].action != EventAction::kDrop) {
          EXPECT_FALSE(out[j].event.name == c.event.name &&
                       out[j].event.namespace_ == c.event.namespace_)
              << "reuses row " << j << "'s Event " << c.event.name;
        }
      }
    }
  }
}

// A restart forgets everything: the next occurrence is posted again as a new
// Event (count 1, a new name), never patched into an Event it does not know.
TEST(EventDecisionTable, ARestartPostsAgain) {
  FakeClock clock;
  auto before = std::make_unique<EventCorrelator>(EventCorrelatorOptions{}, "nodeguard", "c-0");
  const auto first = before->Correlate(NodeRef("n1"), EventType::kWarning, "R", "m", clock.Now(),
                                       clock.Monotonic());
  before->Correlate(NodeRef("n1"), EventType::kWarning, "R", "m", clock.Now(), clock.Monotonic());
  before.reset();
  clock.Advance(1s);
  EventCorrelator after(EventCorrelatorOptions{}, "nodeguard", "c-0");
  const auto again =
      after.Correlate(NodeRef("n1"), EventType::kWarning, "R", "m", clock.Now(), clock.Monotonic());
  EXPECT_EQ(again.action, EventAction::kCreate);
  EXPECT_EQ(again.event.count, 1);
  EXPECT_NE(again.event.name, first.event.name);
}

// Every cache is an LRU of cache_size: the object forgotten first is a new
// one again (posted, with a full spam bucket), and memory stays bounded.
TEST(EventDecisionTable, CachesAreBounded) {
  FakeClock clock;
  EventCorrelatorOptions o;
  o.cache_size = 2;
  o.spam_burst = 1;
  EventCorrelator c(o, "nodeguard", "c-0");
  auto send = [&](const std::string& node) {
    clock.Advance(1s);
    return c.Correlate(NodeRef(node), EventType::kWarning, "R", "m", clock.Now(),
                       clock.Monotonic());
  };
  EXPECT_EQ(send("n1").action, EventAction::kCreate);
  EXPECT_EQ(send("n1").action, EventAction::kDrop);  // Burst of one spent.
  EXPECT_EQ(send("n2").action, EventAction::kCreate);
  EXPECT_EQ(send("n3").action, EventAction::kCreate);  // n1 falls out of every cache.
  EXPECT_EQ(send("n1").action, EventAction::kCreate);
  EXPECT_EQ(send("n1").action, EventAction::kDrop);
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

// The outcomes the controller's nodeguard_events_total counts, and a create
// answered AlreadyExists (the name written before a restart, or a retry
// whose first attempt landed) counted as sent, not failed.
TEST(EventRecorderTest, OutcomesAreReportedAndAlreadyExistsIsSent) {
  class OutcomeSink final : public EventSink {
   public:
    Status Create(const EventRecord& e) override {
      if (e.involved.name == "exists")
        return Error::Of(ErrorKind::kAlreadyExists, "events \"x\" already exists");
      if (e.involved.name == "broken") return Error::Invalid("bad event");
      return Status::Ok();
    }
    Status Patch(const EventRecord&) override { return Status::Ok(); }
  };
  OutcomeSink sink;
  FakeClock clock;
  std::mutex mu;
  std::map<std::string, int> outcomes;
  EventRecorderOptions o = FastOptions();
  o.queue_capacity = 100;
  o.on_outcome = [&](std::string_view outcome) {
    std::lock_guard lock(mu);
    ++outcomes[std::string(outcome)];
  };
  EventRecorder recorder(sink, o, clock);
  recorder.Record(NodeRef("n1"), EventType::kNormal, "R", "m");
  recorder.Record(NodeRef("n1"), EventType::kNormal, "R", "m");
  recorder.Record(NodeRef("exists"), EventType::kNormal, "R", "m");
  recorder.Record(NodeRef("broken"), EventType::kNormal, "R", "m");
  for (int i = 0; i < 12; ++i) {
    recorder.Record(NodeRef("flap"), EventType::kNormal, "R", "m" + std::to_string(i));
  }
  for (int i = 0; i < 30; ++i) recorder.Record(NodeRef("spam"), EventType::kNormal, "R", "m");
  ASSERT_TRUE(recorder.WaitIdle(10s));
  std::lock_guard lock(mu);
  // n1: create + patch; exists: create; flap: 10 creates (9 own, 1 combined)
  // and 2 patches; spam: 1 create, 24 patches, 5 dropped.
  EXPECT_EQ(outcomes["created"], 1 + 1 + 10 + 1);
  EXPECT_EQ(outcomes["patched"], 1 + 2 + 24);
  EXPECT_EQ(outcomes["aggregated"], 3);
  EXPECT_EQ(outcomes["dropped_spam"], 5);
  EXPECT_EQ(outcomes["failed"], 1);
  EXPECT_EQ(recorder.failed(), 1u);
}

}  // namespace
}  // namespace nodeguard::kube
