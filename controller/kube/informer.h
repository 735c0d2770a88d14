#pragma once

// Informer<T>: keeps a Store<T> in sync with the API server and tells
// handlers what changed, with client-go's reflector semantics:
//  - list (paginated; when a continue token expires, one unpaginated list),
//    then watch from the list's resourceVersion with bookmarks and a server
//    timeout drawn from [5, 10) minutes;
//  - when a stream ends, resume from the last resourceVersion seen (events
//    and bookmarks); 410 Gone (an HTTP status or an ERROR event) relists and
//    turns the difference into add/update/delete deltas;
//  - failures back off 800 ms -> 30 s with jitter; a stream that stayed up
//    for `healthy_stream` resets the backoff; a stream silent for
//    `idle_timeout` is treated as stalled and restarted.
// An event that cannot be decoded is skipped and counted (decode_errors):
// one malformed object must not stall the cache for all others.
//
// Liveness: the Run loop marks progress (InformerStats::last_progress, on the
// injected clock's monotonic time) at every step that shows it is moving: a
// list page answered or failed, a watch started, each chunk of a stream, a
// stream ended, before and after each backoff sleep. Handlers run between
// marks, so a handler that blocks, or a request that never returns despite
// its timeouts, stops the marks; process::CheckInformerProgress turns that
// into a failing /healthz.
//
// Handlers run on the Run() thread, after the store reflects the change, and
// must not block for long (they typically enqueue a key). Objects are shared
// and immutable.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "common/result.h"
#include "kube/backoff.h"
#include "kube/decode.h"
#include "kube/list_watch.h"
#include "kube/store.h"
#include "kube/watch_framer.h"

namespace nodeguard::kube {

template <typename T>
struct EventHandlers {
  using ObjectPtr = std::shared_ptr<const T>;
  std::function<void(const ObjectPtr& object)> on_add;
  std::function<void(const ObjectPtr& old_object, const ObjectPtr& object)> on_update;
  std::function<void(const ObjectPtr& last_state)> on_delete;
  // Called for every cached object each resync_period (when set), so
  // controllers re-check state that changes without an event (time passing).
  std::function<void(const ObjectPtr& object)> on_resync;
};

struct InformerOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t page_size = 500;
  // The watch's timeoutSeconds is drawn uniformly from [min, 2 * min).
  Duration min_watch_timeout = std::chrono::minutes(5);
  Duration idle_timeout = std::chrono::seconds(90);
  Backoff::Options backoff;
  Duration healthy_stream = std::chrono::seconds(60);
  Duration resync_period = Duration::zero();  // Zero: no resync.
  size_t max_event_bytes = WatchFramer::kDefaultMaxEventBytes;
  uint64_t seed = 0;  // For the jitter and watch timeouts; 0 picks a random seed.
};

// Counters for metrics (monotonic), and the time of the last progress mark.
struct InformerStats {
  uint64_t lists = 0;           // Completed lists: the first one and every relist.
  uint64_t relists = 0;         // Lists after the first (after 410 Gone).
  uint64_t list_errors = 0;     // Failed list attempts (each followed by a backoff).
  uint64_t list_fallbacks = 0;  // Expired continue tokens answered by an unpaginated list.
  uint64_t watch_starts = 0;    // Watch requests.
  uint64_t watch_restarts = 0;  // Watches resumed from a resourceVersion, not right after a list.
  uint64_t watch_errors = 0;    // Streams that failed (transport, ERROR events, too short).
  uint64_t watch_stalls = 0;    // Streams silent for idle_timeout.
  uint64_t gone = 0;            // 410 Gone seen on a watch.
  uint64_t events = 0;          // ADDED, MODIFIED and DELETED events applied.
  uint64_t bookmarks = 0;
  uint64_t decode_errors = 0;  // Events and list items skipped as undecodable.
  uint64_t resyncs = 0;
  // When the Run loop last showed progress (see the header comment); the
  // informer's construction time until Run() marks the first step.
  MonoTime last_progress{};
};

template <typename T>
class Informer {
 public:
  using ObjectPtr = std::shared_ptr<const T>;

  // `list_watcher`, `clock` and `sleeper` must outlive the informer.
  explicit Informer(ListWatcher& list_watcher, InformerOptions options = {},
                    const Clock& clock = RealClock::Instance(),
                    Sleeper& sleeper = RealSleeper::Instance());
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // The cache. Register indexes on it before Run(); read it from any thread.
  Store<T>& store() { return store_; }
  const Store<T>& store() const { return store_; }

  // REQUIRES: before Run(). Handlers run in registration order, on the
  // informer's thread, for each event.
  void AddHandlers(EventHandlers<T> handlers) { handlers_.push_back(std::move(handlers)); }

  // Lists and watches until `cancel` fires or Stop() is called. Call once.
  void Run(const CancelToken& cancel);
  // Makes Run() return soon (within the ListWatcher's cancellation latency).
  void Stop() { stop_.Cancel(); }

  // True once the first list is in the store and its adds were delivered.
  bool HasSynced() const { return synced_.load(std::memory_order_acquire); }
  // Blocks until HasSynced() or `cancel` fires; returns HasSynced().
  bool WaitForSync(const CancelToken& cancel) const;

  InformerStats stats() const;
  std::string last_resource_version() const { return store_.resource_version(); }

 private:
  // What ended a watch stream, as seen by the event handling below.
  enum class StreamEnd { kNone, kGone, kError };

  Status ListAll();
  Status HandleEvent(std::string_view line, StreamEnd& end);
  void Dispatch(const typename Store<T>::Delta& delta);
  void MaybeResync();
  template <typename F>
  void Count(F&& f) {
    std::lock_guard lock(stats_mu_);
    f(stats_);
  }
  void MarkProgress() {
    const MonoTime now = clock_.Monotonic();
    Count([now](InformerStats& s) { s.last_progress = now; });
  }

  ListWatcher& list_watcher_;
  const InformerOptions options_;
  const Clock& clock_;
  Sleeper& sleeper_;
  Store<T> store_;
  std::vector<EventHandlers<T>> handlers_;  // Fixed once Run() starts.
  CancelFlag stop_;

  // Used only by the Run() thread.
  std::mt19937_64 rng_;
  Backoff backoff_;
  WatchFramer framer_;
  MonoTime next_resync_{};
  Error stream_error_;
  uint64_t stream_events_ = 0;

  std::atomic<bool> synced_{false};
  mutable std::mutex sync_mu_;  // With sync_cv_, for WaitForSync.
  mutable std::condition_variable sync_cv_;

  mutable std::mutex stats_mu_;
  InformerStats stats_;  // Guarded by stats_mu_.
};

// ---------------------------------------------------------------- implementation

namespace informer_internal {

// Fires when either token does.
class EitherCancel final : public CancelToken {
 public:
  EitherCancel(const CancelToken& a, const CancelToken& b) : a_(a), b_(b) {}
  bool cancelled() const override { return a_.cancelled() || b_.cancelled(); }

 private:
  const CancelToken& a_;
  const CancelToken& b_;
};

uint64_t SeedOrRandom(uint64_t seed);

}  // namespace informer_internal

template <typename T>
Informer<T>::Informer(ListWatcher& list_watcher, InformerOptions options, const Clock& clock,
                      Sleeper& sleeper)
    : list_watcher_(list_watcher),
      options_(std::move(options)),
      clock_(clock),
      sleeper_(sleeper),
      rng_(informer_internal::SeedOrRandom(options_.seed)),
      backoff_(options_.backoff,
               [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }),
      framer_(options_.max_event_bytes) {
  stats_.last_progress = clock_.Monotonic();
}

template <typename T>
InformerStats Informer<T>::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

template <typename T>
bool Informer<T>::WaitForSync(const CancelToken& cancel) const {
  std::unique_lock lock(sync_mu_);
  while (!HasSynced() && !cancel.cancelled()) {
    sync_cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
  return HasSynced();
}

template <typename T>
void Informer<T>::Dispatch(const typename Store<T>::Delta& delta) {
  for (const EventHandlers<T>& h : handlers_) {
    switch (delta.type) {
      case DeltaType::kAdded:
        if (h.on_add) h.on_add(delta.object);
        break;
      case DeltaType::kUpdated:
        if (h.on_update) h.on_update(delta.old_object, delta.object);
        break;
      case DeltaType::kDeleted:
        if (h.on_delete) h.on_delete(delta.object);
        break;
    }
  }
}

template <typename T>
void Informer<T>::MaybeResync() {
  if (options_.resync_period <= Duration::zero()) return;
  MonoTime now = clock_.Monotonic();
  if (now < next_resync_) return;
  next_resync_ = now + options_.resync_period;
  for (const ObjectPtr& object : store_.List()) {
    for (const EventHandlers<T>& h : handlers_) {
      if (h.on_resync) h.on_resync(object);
    }
  }
  Count([](InformerStats& s) { ++s.resyncs; });
}

template <typename T>
Status Informer<T>::ListAll() {
  ListOptions list_options;
  list_options.label_selector = options_.label_selector;
  list_options.field_selector = options_.field_selector;
  list_options.limit = options_.page_size;
  std::vector<std::shared_ptr<const T>> items;
  std::string resource_version;
  int64_t skipped = 0;
  while (true) {
    MarkProgress();
    Result<std::string> body = list_watcher_.ListPage(list_options);
    MarkProgress();
    if (!body.ok()) {
      if (body.error().Is(ErrorKind::kGone) && !list_options.continue_token.empty()) {
        // The snapshot behind the continue token was compacted away: start
        // over with one unpaginated list, as client-go's pager does.
        Count([](InformerStats& s) { ++s.list_fallbacks; });
        items.clear();
        skipped = 0;
        list_options.continue_token.clear();
        list_options.limit = 0;
        continue;
      }
      return body.error();
    }
    Result<ObjectList<T>> page = DecodeList<T>(*body);
    body = Result<std::string>(std::string());  // Free the page's text before the next one.
    if (!page.ok()) return page.error();
    skipped += page->skipped_items;
    // Each item into its shared instance now, so that the list's items are
    // held once (accumulated by value and then copied into shared
    // instances, every item of a start-up list was alive twice at its end).
    for (T& item : page->items) items.push_back(std::make_shared<const T>(std::move(item)));
    resource_version = std::move(page->resource_version);
    if (page->continue_token.empty()) break;
    list_options.continue_token = std::move(page->continue_token);
  }
  auto deltas = store_.Replace(std::move(items), std::move(resource_version));
  bool relist = HasSynced();
  Count([&](InformerStats& s) {
    ++s.lists;
    if (relist) ++s.relists;
    s.decode_errors += static_cast<uint64_t>(skipped);
  });
  for (const auto& delta : deltas) Dispatch(delta);
  if (!relist) {
    {
      std::lock_guard lock(sync_mu_);
      synced_.store(true, std::memory_order_release);
    }
    sync_cv_.notify_all();
  }
  return Status::Ok();
}

template <typename T>
Status Informer<T>::HandleEvent(std::string_view line, StreamEnd& end) {
  Result<WatchEvent<T>> decoded = DecodeWatchEvent<T>(line);
  if (!decoded.ok()) {
    Count([](InformerStats& s) { ++s.decode_errors; });
    return Status::Ok();  // Skip it; the stream itself is fine.
  }
  WatchEvent<T>& event = *decoded;
  switch (event.type) {
    case WatchEventType::kError:
      stream_error_ = event.error;
      end = event.error.Is(ErrorKind::kGone) ? StreamEnd::kGone : StreamEnd::kError;
      return Error::Cancelled("watch ERROR event");  // Stops the stream.
    case WatchEventType::kBookmark:
      ++stream_events_;
      Count([](InformerStats& s) { ++s.bookmarks; });
      if (!event.resource_version.empty()) store_.set_resource_version(event.resource_version);
      return Status::Ok();
    case WatchEventType::kAdded:
    case WatchEventType::kModified:
    case WatchEventType::kDeleted:
      break;
  }
  ++stream_events_;
  std::string resource_version = event.resource_version;
  auto object = std::make_shared<const T>(std::move(event.object));
  typename Store<T>::Delta delta;
  if (event.type == WatchEventType::kDeleted) {
    store_.Erase(object->meta.namespace_.view(), object->meta.name);
    delta = {DeltaType::kDeleted, nullptr, object};
  } else {
    ObjectPtr old = store_.Upsert(object);
    delta = old ? typename Store<T>::Delta{DeltaType::kUpdated, std::move(old), object}
                : typename Store<T>::Delta{DeltaType::kAdded, nullptr, object};
  }
  if (!resource_version.empty()) store_.set_resource_version(std::move(resource_version));
  Count([](InformerStats& s) { ++s.events; });
  Dispatch(delta);
  return Status::Ok();
}

template <typename T>
void Informer<T>::Run(const CancelToken& cancel) {
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  informer_internal::EitherCancel done(cancel, stop_);
  bool need_list = true;
  bool just_listed = false;
  int consecutive_gone = 0;
  auto back_off = [&] {
    MarkProgress();
    const bool slept = sleeper_.Sleep(backoff_.Next(), done);
    MarkProgress();
    return slept;
  };
  MarkProgress();

  while (!done.cancelled()) {
    if (need_list) {
      Status listed = ListAll();
      if (!listed.ok()) {
        Count([](InformerStats& s) { ++s.list_errors; });
        if (!back_off()) break;
        continue;
      }
      need_list = false;
      just_listed = true;
    }
    MaybeResync();

    WatchOptions watch;
    watch.label_selector = options_.label_selector;
    watch.field_selector = options_.field_selector;
    watch.resource_version = store_.resource_version();
    watch.allow_bookmarks = true;
    std::uniform_real_distribution<double> stretch(1.0, 2.0);
    watch.timeout = duration_cast<seconds>(
        std::chrono::duration<double>(options_.min_watch_timeout) * stretch(rng_));
    watch.idle_timeout = duration_cast<std::chrono::milliseconds>(options_.idle_timeout);
    MarkProgress();
    Count([&](InformerStats& s) {
      ++s.watch_starts;
      if (!just_listed) ++s.watch_restarts;
    });
    just_listed = false;

    framer_.Reset();
    stream_events_ = 0;
    StreamEnd end = StreamEnd::kNone;
    Status framing = Status::Ok();
    MonoTime started = clock_.Monotonic();
    Status result = list_watcher_.Watch(
        watch,
        [&](std::string_view chunk) {
          MarkProgress();
          MaybeResync();
          framing =
              framer_.Feed(chunk, [&](std::string_view line) { return HandleEvent(line, end); });
          return framing.ok();
        },
        done);
    Duration lasted = clock_.Monotonic() - started;
    MarkProgress();
    if (done.cancelled()) break;
    if (lasted >= options_.healthy_stream) backoff_.Reset();

    if (end == StreamEnd::kNone && !framing.ok()) end = StreamEnd::kError;  // Oversized event.
    if (end == StreamEnd::kNone && !result.ok()) {
      end = result.error().Is(ErrorKind::kGone) ? StreamEnd::kGone : StreamEnd::kError;
      if (result.error().Is(ErrorKind::kTimeout)) {
        Count([](InformerStats& s) { ++s.watch_stalls; });
      }
    }
    if (stream_events_ > 0) consecutive_gone = 0;
    if (end == StreamEnd::kGone) {
      Count([](InformerStats& s) { ++s.gone; });
      need_list = true;
      // Relist at once; but if the fresh list's resourceVersion is itself
      // already gone, the server is in trouble: back off between relists.
      if (++consecutive_gone > 1 && !back_off()) break;
      continue;
    }
    // A clean close after a while is the server's timeoutSeconds: resume at
    // once. Failures, and streams that close at once with nothing (client-go's
    // "very short watch"), back off first.
    bool too_short = end == StreamEnd::kNone && stream_events_ == 0 && lasted < seconds(1);
    if (end == StreamEnd::kError || too_short) {
      Count([](InformerStats& s) { ++s.watch_errors; });
      if (!back_off()) break;
    }
  }
}

extern template class Informer<Node>;
extern template class Informer<Pod>;
extern template class Informer<Lease>;

}  // namespace nodeguard::kube
