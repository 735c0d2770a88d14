#pragma once

// Kubernetes Events (core/v1, so `kubectl describe` shows them) recorded the
// way client-go's EventBroadcaster does, so a flapping node cannot flood the
// API server:
//   - aggregation: a repeat (same object, type, reason and message) bumps
//     count and lastTimestamp of the existing Event with a PATCH instead of
//     creating a new one; more than `max_similar` different messages for the
//     same object/type/reason within `aggregate_interval` collapse into one
//     "(combined from similar events): ..." Event;
//   - spam filter: a token bucket per involved object (burst 25, one token
//     per 5 minutes) drops the excess;
//   - Record() never blocks: events go through a bounded queue to one sender
//     thread; a full queue drops the event and counts it.
// EventCorrelator is the pure decision part (time passed in): per event it
// says create (POST), patch (a repeat: count and lastTimestamp) or drop (spam),
// and whether the event was folded into a combined one; every cache it keeps
// is bounded by cache_size (LRU), and similar messages by max_similar.
// EventRecorder does the I/O through the EventSink seam and reports each
// outcome (EventRecorderOptions::on_outcome: the controller's
// nodeguard_events_total and nodeguard_events_aggregated_total).
//
// State lives in memory only. After a restart the first occurrence of an
// event is created again (a new Event, count 1) rather than patched: a restart
// may repeat an Event once, never fails on one (a create answered
// AlreadyExists counts as sent, a patch of an Event gone since is a create).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "common/clock.h"
#include "common/result.h"

namespace nodeguard::kube {

class RestClient;

// The longest Event message written, in bytes: events.k8s.io/v1 rejects a
// note above 1 KiB and client-go's recorders cut there, so nodeguard's
// Events read the same through either API. Longer messages are cut on a
// UTF-8 character boundary and end with an ellipsis (common/text.h).
inline constexpr size_t kMaxEventMessageBytes = 1024;

struct ObjectReference {
  std::string kind;  // "Node", "Pod", "NodeHealthPolicy".
  std::string api_version;
  std::string namespace_;  // Empty for cluster-scoped objects.
  std::string name;
  std::string uid;
};

enum class EventType { kNormal, kWarning };
const char* EventTypeName(EventType type);

// One core/v1 Event as written.
struct EventRecord {
  std::string name;        // "<object>.<hex nanoseconds>", as client-go names them.
  std::string namespace_;  // The object's, or "default" for cluster-scoped objects.
  ObjectReference involved;
  EventType type = EventType::kNormal;
  std::string reason;
  std::string message;
  int32_t count = 1;
  WallTime first_timestamp{};
  WallTime last_timestamp{};
  std::string component;  // source.component / reportingComponent.
  std::string host;       // source.host / reportingInstance.

  std::string ToJson() const;     // The whole Event, for a create.
  std::string PatchJson() const;  // {count, lastTimestamp, message}, for a repeat.
};

struct EventCorrelatorOptions {
  size_t cache_size = 4096;  // Distinct events remembered (LRU).
  int spam_burst = 25;
  std::chrono::seconds spam_refill_interval{300};  // One token per interval.
  size_t max_similar = 10;
  std::chrono::seconds aggregate_interval{600};
};

enum class EventAction { kCreate, kPatch, kDrop };
const char* EventActionName(EventAction action);

struct CorrelatedEvent {
  EventAction action = EventAction::kCreate;
  EventRecord event;
  // More than max_similar messages for the object/type/reason in the window:
  // `event` is the one "(combined from similar events): ..." Event.
  bool aggregated = false;
};

// Not thread-safe (the recorder's sender thread owns it).
class EventCorrelator {
 public:
  EventCorrelator(EventCorrelatorOptions options, std::string component, std::string host);

  CorrelatedEvent Correlate(const ObjectReference& object, EventType type,
                            const std::string& reason, const std::string& message, WallTime now,
                            MonoTime mono_now);

 private:
  struct Similar {
    std::set<std::string> messages;
    WallTime last{};
  };
  struct Bucket {
    int64_t tokens = 0;
    MonoTime refilled_at{};
  };
  struct Seen {
    EventRecord event;
    std::list<std::string>::iterator lru;
  };
  bool TakeToken(const std::string& object_key, MonoTime now);
  template <typename V>
  void Touch(std::unordered_map<std::string, V>& map, std::list<std::string>& lru,
             const std::string& key);

  const EventCorrelatorOptions options_;
  const std::string component_;
  const std::string host_;
  std::unordered_map<std::string, Similar> similar_;  // By object+type+reason.
  std::list<std::string> similar_lru_;
  std::unordered_map<std::string, Seen> seen_;  // By object+type+reason+message.
  std::list<std::string> seen_lru_;
  std::unordered_map<std::string, Bucket> buckets_;  // By object.
  std::list<std::string> buckets_lru_;
};

// Where events go. Thread-compatible: used from the sender thread only.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual Status Create(const EventRecord& event) = 0;
  virtual Status Patch(const EventRecord& event) = 0;  // kNotFound if it expired.
};

std::unique_ptr<EventSink> MakeRestEventSink(RestClient& rest);

struct EventRecorderOptions {
  std::string component = "nodeguard";
  std::string host;  // The pod or node name running the controller.
  size_t queue_capacity = 1000;
  int max_attempts = 3;  // Per event, for retryable errors.
  std::chrono::milliseconds retry_backoff{1000};
  EventCorrelatorOptions correlator;
  // Asked before every write; an error drops the event (counted as failed).
  // A controller passes its leader election's Fence: an event queued while
  // leading is not sent once leadership is lost. Null: always send.
  std::function<Status()> fence;
  // Told the outcome of every event recorded: "created", "patched",
  // "dropped_spam", "dropped_queue_full" or "failed"; and, separately,
  // "aggregated" for an event folded into a combined Event (then also
  // created or patched, or dropped). Called from any thread; optional.
  std::function<void(std::string_view outcome)> on_outcome;
};

// Thread-safe.
class EventRecorder {
 public:
  EventRecorder(EventSink& sink, EventRecorderOptions options,
                const Clock& clock = RealClock::Instance());
  ~EventRecorder();  // Stops the sender; events still queued are dropped.

  // Never blocks. False when the queue is full and the event was dropped.
  bool Record(const ObjectReference& object, EventType type, std::string reason,
              std::string message);

  // Waits until every queued event has been handled (tests, shutdown).
  bool WaitIdle(std::chrono::milliseconds timeout);

  uint64_t dropped_queue_full() const;
  uint64_t dropped_spam() const;
  uint64_t failed() const;

 private:
  struct Pending {
    ObjectReference object;
    EventType type;
    std::string reason;
    std::string message;
  };
  void SendLoop();
  void Send(const Pending& pending);
  void Outcome(std::string_view outcome) const;

  EventSink& sink_;
  const EventRecorderOptions options_;
  const Clock& clock_;
  EventCorrelator correlator_;  // Sender thread only.

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;        // Guarded by mu_.
  bool busy_ = false;                // Guarded by mu_: an event is being sent.
  bool stopping_ = false;            // Guarded by mu_.
  uint64_t dropped_queue_full_ = 0;  // Guarded by mu_.
  uint64_t dropped_spam_ = 0;        // Guarded by mu_.
  uint64_t failed_ = 0;              // Guarded by mu_.
  std::thread sender_;
};

}  // namespace nodeguard::kube
