#include "kube/events.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/text.h"
#include "common/time.h"
#include "kube/rest.h"

namespace nodeguard::kube {
namespace {

using nlohmann::json;

constexpr char kCombinedPrefix[] = "(combined from similar events): ";

std::string ObjectKey(const std::string& component, const std::string& host,
                      const ObjectReference& o) {
  // Fields joined with a separator that cannot appear in Kubernetes names.
  return component + '\x1f' + host + '\x1f' + o.kind + '\x1f' + o.api_version + '\x1f' +
         o.namespace_ + '\x1f' + o.name + '\x1f' + o.uid;
}

std::string EventNamespace(const ObjectReference& o) {
  return o.namespace_.empty() ? "default" : o.namespace_;
}

class RestEventSink final : public EventSink {
 public:
  explicit RestEventSink(RestClient& rest) : rest_(rest) {}
  Status Create(const EventRecord& event) override {
    auto created = rest_.Create(CoreResource("events", event.namespace_), event.ToJson());
    if (!created.ok()) return created.error();
    return Status::Ok();
  }
  Status Patch(const EventRecord& event) override {
    auto patched = rest_.Patch(CoreResource("events", event.namespace_), event.name,
                               PatchType::kStrategicMerge, event.PatchJson());
    if (!patched.ok()) return patched.error();
    return Status::Ok();
  }

 private:
  RestClient& rest_;
};

}  // namespace

const char* EventTypeName(EventType type) {
  return type == EventType::kWarning ? "Warning" : "Normal";
}

const char* EventActionName(EventAction action) {
  switch (action) {
    case EventAction::kCreate:
      return "create";
    case EventAction::kPatch:
      return "patch";
    case EventAction::kDrop:
      return "drop";
  }
  return "unknown";
}

std::string EventRecord::ToJson() const {
  json involved_json = {{"kind", involved.kind}, {"name", involved.name}};
  if (!involved.api_version.empty()) involved_json["apiVersion"] = involved.api_version;
  if (!involved.namespace_.empty()) involved_json["namespace"] = involved.namespace_;
  if (!involved.uid.empty()) involved_json["uid"] = involved.uid;
  json doc = {{"apiVersion", "v1"},
              {"kind", "Event"},
              {"metadata", {{"name", name}, {"namespace", namespace_}}},
              {"involvedObject", involved_json},
              {"reason", reason},
              {"message", message},
              {"type", EventTypeName(type)},
              {"count", count},
              {"firstTimestamp", FormatRfc3339(first_timestamp)},
              {"lastTimestamp", FormatRfc3339(last_timestamp)},
              {"source", {{"component", component}}},
              {"reportingComponent", component},
              {"reportingInstance", host}};
  if (!host.empty()) doc["source"]["host"] = host;
  return doc.dump();
}

std::string EventRecord::PatchJson() const {
  return json{
      {"count", count}, {"lastTimestamp", FormatRfc3339(last_timestamp)}, {"message", message}}
      .dump();
}

// ------------------------------------------------------------ correlator

EventCorrelator::EventCorrelator(EventCorrelatorOptions options, std::string component,
                                 std::string host)
    : options_(options), component_(std::move(component)), host_(std::move(host)) {}

template <typename V>
void EventCorrelator::Touch(std::unordered_map<std::string, V>& map, std::list<std::string>& lru,
                            const std::string& key) {
  lru.remove(key);
  lru.push_front(key);
  while (lru.size() > options_.cache_size) {
    map.erase(lru.back());
    lru.pop_back();
  }
}

bool EventCorrelator::TakeToken(const std::string& object_key, MonoTime now) {
  auto [it, inserted] = buckets_.try_emplace(object_key);
  Touch(buckets_, buckets_lru_, object_key);  // The key just used is never the one evicted.
  Bucket& b = it->second;
  if (inserted) {
    b.tokens = options_.spam_burst;
    b.refilled_at = now;
  } else {
    // Whole tokens only, so refills are exact: one per interval elapsed.
    const auto whole = (now - b.refilled_at) / options_.spam_refill_interval;
    if (whole > 0) {
      b.tokens = std::min<int64_t>(options_.spam_burst, b.tokens + whole);
      b.refilled_at += whole * options_.spam_refill_interval;
    }
    if (b.tokens >= options_.spam_burst) b.refilled_at = now;  // A full bucket banks nothing.
  }
  if (b.tokens < 1) return false;
  --b.tokens;
  return true;
}

CorrelatedEvent EventCorrelator::Correlate(const ObjectReference& object, EventType type,
                                           const std::string& reason, const std::string& message,
                                           WallTime now, MonoTime mono_now) {
  const std::string object_key = ObjectKey(component_, host_, object);
  const std::string similar_key = object_key + '\x1f' + EventTypeName(type) + '\x1f' + reason;

  // Aggregation of similar events with different messages. The recorder
  // bounds messages already; the combined prefix may push one over again.
  std::string effective_message = TruncateUtf8(message, kMaxEventMessageBytes);
  std::string message_key = similar_key + '\x1f' + effective_message;
  bool aggregated = false;
  {
    Similar& similar = similar_[similar_key];
    if (now - similar.last > options_.aggregate_interval) similar.messages.clear();
    similar.last = now;
    // Bounded: once max_similar messages are known, every similar event
    // (known message or not) goes to the combined Event until the window passes.
    if (similar.messages.size() < options_.max_similar) {
      similar.messages.insert(effective_message);
    }
    aggregated = similar.messages.size() >= options_.max_similar;
    Touch(similar_, similar_lru_, similar_key);
    if (aggregated) {
      effective_message = TruncateUtf8(kCombinedPrefix + effective_message, kMaxEventMessageBytes);
      message_key = similar_key;  // All similar events now share one Event.
    }
  }

  // Repeats: bump the existing Event.
  CorrelatedEvent out;
  out.aggregated = aggregated;
  auto seen = seen_.find(message_key);
  if (seen != seen_.end()) {
    EventRecord& e = seen->second.event;
    ++e.count;
    e.last_timestamp = now;
    e.message = effective_message;
    out.action = EventAction::kPatch;
    out.event = e;
  } else {
    EventRecord e;
    e.involved = object;
    e.namespace_ = EventNamespace(object);
    char suffix[32];
    std::snprintf(suffix, sizeof(suffix), ".%llx",
                  static_cast<unsigned long long>(now.time_since_epoch().count()));
    e.name = object.name + suffix;
    e.type = type;
    e.reason = reason;
    e.message = effective_message;
    e.count = 1;
    e.first_timestamp = now;
    e.last_timestamp = now;
    e.component = component_;
    e.host = host_;
    seen_[message_key] = Seen{e, {}};
    out.action = EventAction::kCreate;
    out.event = e;
  }
  Touch(seen_, seen_lru_, message_key);

  // Spam filter last, as client-go: a dropped repeat still counts.
  if (!TakeToken(object_key, mono_now)) out.action = EventAction::kDrop;
  return out;
}

// ------------------------------------------------------------ recorder

std::unique_ptr<EventSink> MakeRestEventSink(RestClient& rest) {
  return std::make_unique<RestEventSink>(rest);
}

EventRecorder::EventRecorder(EventSink& sink, EventRecorderOptions options, const Clock& clock)
    : sink_(sink),
      options_(std::move(options)),
      clock_(clock),
      correlator_(options_.correlator, options_.component, options_.host) {
  sender_ = std::thread([this] { SendLoop(); });
}

EventRecorder::~EventRecorder() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  sender_.join();
}

void EventRecorder::Outcome(std::string_view outcome) const {
  if (options_.on_outcome) options_.on_outcome(outcome);
}

bool EventRecorder::Record(const ObjectReference& object, EventType type, std::string reason,
                           std::string message) {
  // Bounded before queueing: a burst of huge messages must not hold
  // megabytes in the queue or in the correlator's cache.
  if (message.size() > kMaxEventMessageBytes) {
    message = TruncateUtf8(message, kMaxEventMessageBytes);
  }
  bool queued = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= options_.queue_capacity) {
      ++dropped_queue_full_;
    } else {
      queue_.push_back(Pending{object, type, std::move(reason), std::move(message)});
      queued = true;
    }
  }
  if (!queued) {
    Outcome("dropped_queue_full");
    return false;
  }
  cv_.notify_all();
  return true;
}

bool EventRecorder::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return queue_.empty() && !busy_; });
}

uint64_t EventRecorder::dropped_queue_full() const {
  std::lock_guard lock(mu_);
  return dropped_queue_full_;
}
uint64_t EventRecorder::dropped_spam() const {
  std::lock_guard lock(mu_);
  return dropped_spam_;
}
uint64_t EventRecorder::failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}

void EventRecorder::SendLoop() {
  while (true) {
    Pending next;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      next = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    Send(next);
    {
      std::lock_guard lock(mu_);
      busy_ = false;
    }
    cv_.notify_all();
  }
}

void EventRecorder::Send(const Pending& pending) {
  const CorrelatedEvent c =
      correlator_.Correlate(pending.object, pending.type, pending.reason, pending.message,
                            clock_.Now(), clock_.Monotonic());
  if (c.aggregated) Outcome("aggregated");
  if (c.action == EventAction::kDrop) {
    {
      std::lock_guard lock(mu_);
      ++dropped_spam_;
    }
    Outcome("dropped_spam");
    return;
  }
  auto failed = [&] {
    {
      std::lock_guard lock(mu_);
      ++failed_;
    }
    Outcome("failed");
  };
  for (int attempt = 1;; ++attempt) {
    if (options_.fence) {
      if (Status fenced = options_.fence(); !fenced.ok()) {
        spdlog::info("event {} for {}/{} not sent: {}", c.event.reason, c.event.involved.kind,
                     c.event.involved.name, fenced.error().ToString());
        failed();
        return;
      }
    }
    bool created = c.action == EventAction::kCreate;
    Status s = created ? sink_.Create(c.event) : sink_.Patch(c.event);
    if (!s.ok() && !created && s.error().Is(ErrorKind::kNotFound)) {
      created = true;
      s = sink_.Create(c.event);  // The Event expired (TTL): recreate it with its count.
    }
    // Already there: a retry whose first attempt did land, or the same name
    // written by this controller before a restart. Either way the fact is told.
    if (!s.ok() && created && s.error().Is(ErrorKind::kAlreadyExists)) s = Status::Ok();
    if (s.ok()) {
      Outcome(created ? "created" : "patched");
      return;
    }
    if (!s.error().Retryable() || attempt >= options_.max_attempts) {
      spdlog::warn("event {} {} for {}/{}: {}", EventActionName(c.action), c.event.reason,
                   c.event.involved.kind, c.event.involved.name, s.error().ToString());
      failed();
      return;
    }
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, options_.retry_backoff * attempt, [&] { return stopping_; })) return;
  }
}

}  // namespace nodeguard::kube
