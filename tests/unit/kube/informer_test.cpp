#include "kube/informer.h"

#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace nodeguard::kube {
namespace {

using namespace std::chrono_literals;

// ---------------------------------------------------------------- JSON builders

std::string PodJson(std::string_view name, std::string_view rv, std::string_view node = "node-1",
                    std::string_view ns = "shop") {
  std::string s = R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":")";
  s.append(name).append(R"(","namespace":")").append(ns);
  s.append(R"(","uid":"uid-)").append(name).append(R"(","resourceVersion":")").append(rv);
  s.append(R"("},"spec":{"nodeName":")").append(node);
  s.append(R"(","containers":[{"name":"c"}]},"status":{"phase":"Running"}})");
  return s;
}

std::string ListJson(const std::vector<std::string>& items, std::string_view rv,
                     std::string_view continue_token = "") {
  std::string s = R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":")";
  s.append(rv).append("\"");
  if (!continue_token.empty()) s.append(R"(,"continue":")").append(continue_token).append("\"");
  s.append(R"(},"items":[)");
  for (size_t i = 0; i < items.size(); ++i) s.append(i ? "," : "").append(items[i]);
  return s + "]}";
}

std::string Event(std::string_view type, const std::string& object) {
  return std::string(R"({"type":")") + std::string(type) + R"(","object":)" + object + "}\n";
}

std::string Bookmark(std::string_view rv) {
  return Event("BOOKMARK",
               std::string(R"({"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":")") +
                   std::string(rv) + R"("},"spec":{"containers":null},"status":{}})");
}

std::string ErrorEvent(int code, std::string_view reason) {
  return Event(
      "ERROR",
      R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version","reason":")" +
          std::string(reason) + R"(","code":)" + std::to_string(code) + "}");
}

// ---------------------------------------------------------------- scripted ListWatcher

class ScriptedListWatcher final : public ListWatcher {
 public:
  struct WatchScript {
    std::vector<std::string> chunks;
    Status result = Status::Ok();
    Duration lasts = 5min;  // Fake time that passes while the stream is open.
  };

  explicit ScriptedListWatcher(FakeClock& clock) : clock_(clock) {}

  void AddList(Result<std::string> page) { lists_.push_back(std::move(page)); }
  void AddWatch(WatchScript w) { watches_.push_back(std::move(w)); }
  // Called when the script runs out: stops the informer under test.
  std::function<void()> on_exhausted;

  Result<std::string> ListPage(const ListOptions& options) override {
    list_calls.push_back(options);
    if (lists_.empty()) {
      on_exhausted();
      return Error::Unavailable("script exhausted");
    }
    Result<std::string> r = std::move(lists_.front());
    lists_.pop_front();
    return r;
  }

  Status Watch(const WatchOptions& options, const ChunkHandler& on_chunk,
               const CancelToken& cancel) override {
    watch_calls.push_back(options);
    if (watches_.empty()) {
      on_exhausted();
      return Status::Ok();
    }
    WatchScript w = std::move(watches_.front());
    watches_.pop_front();
    for (const std::string& chunk : w.chunks) {
      if (cancel.cancelled()) return Error::Cancelled("cancelled");
      if (!on_chunk(chunk)) return Status::Ok();
    }
    clock_.Advance(w.lasts);
    return w.result;
  }

  std::vector<ListOptions> list_calls;
  std::vector<WatchOptions> watch_calls;

 private:
  FakeClock& clock_;
  std::deque<Result<std::string>> lists_;
  std::deque<WatchScript> watches_;
};

// Splits `stream` into chunks of random sizes (1..max) with a fixed seed.
std::vector<std::string> RandomChunks(const std::string& stream, uint32_t seed, size_t max = 40) {
  std::mt19937 rng(seed);
  std::vector<std::string> out;
  for (size_t pos = 0; pos < stream.size();) {
    size_t n = 1 + rng() % max;
    out.push_back(stream.substr(pos, n));
    pos += n;
  }
  return out;
}

class InformerTest : public ::testing::Test {
 protected:
  InformerTest() : watcher_(clock_), sleeper_(clock_) {}

  std::unique_ptr<Informer<Pod>> MakeInformer(InformerOptions options = {}) {
    options.seed = 7;
    auto informer = std::make_unique<Informer<Pod>>(watcher_, options, clock_, sleeper_);
    EXPECT_TRUE(AddPodIndexes(informer->store()).ok());
    EventHandlers<Pod> h;
    h.on_add = [this](const auto& p) { calls_.push_back("add " + Id(*p)); };
    h.on_update = [this](const auto& o, const auto& p) {
      calls_.push_back("update " + Id(*o) + "->" + p->meta.resource_version);
    };
    h.on_delete = [this](const auto& p) { calls_.push_back("delete " + Id(*p)); };
    h.on_resync = [this](const auto& p) { calls_.push_back("resync " + Id(*p)); };
    informer->AddHandlers(std::move(h));
    Informer<Pod>* raw = informer.get();
    watcher_.on_exhausted = [raw] { raw->Stop(); };
    return informer;
  }

  static std::string Id(const Pod& p) { return ObjectKey(p.meta) + "@" + p.meta.resource_version; }

  void Run(Informer<Pod>& informer) { informer.Run(never_); }

  FakeClock clock_;
  ScriptedListWatcher watcher_;
  FakeSleeper sleeper_;
  CancelFlag never_;
  std::vector<std::string> calls_;
};

using Calls = std::vector<std::string>;

TEST_F(InformerTest, PaginatedListThenWatch) {
  auto informer = MakeInformer();
  watcher_.AddList(ListJson({PodJson("a", "5"), PodJson("b", "6")}, "10", "token-1"));
  watcher_.AddList(ListJson({PodJson("c", "7", "node-2")}, "10"));
  watcher_.AddWatch({{Event("ADDED", PodJson("d", "11")) + Event("MODIFIED", PodJson("a", "12")) +
                      Event("DELETED", PodJson("b", "13"))}});
  EXPECT_FALSE(informer->HasSynced());
  Run(*informer);

  EXPECT_TRUE(informer->HasSynced());
  EXPECT_EQ(calls_, (Calls{"add shop/a@5", "add shop/b@6", "add shop/c@7", "add shop/d@11",
                           "update shop/a@5->12", "delete shop/b@13"}));
  ASSERT_GE(watcher_.list_calls.size(), 2u);
  EXPECT_EQ(watcher_.list_calls[0].limit, 500);
  EXPECT_EQ(watcher_.list_calls[0].continue_token, "");
  EXPECT_EQ(watcher_.list_calls[0].resource_version, "");
  EXPECT_EQ(watcher_.list_calls[1].continue_token, "token-1");

  ASSERT_GE(watcher_.watch_calls.size(), 1u);
  const WatchOptions& w = watcher_.watch_calls[0];
  EXPECT_EQ(w.resource_version, "10");
  EXPECT_TRUE(w.allow_bookmarks);
  EXPECT_GE(w.timeout, 300s);
  EXPECT_LT(w.timeout, 600s);
  EXPECT_EQ(w.idle_timeout, 90s);

  EXPECT_EQ(informer->store().size(), 3u);
  EXPECT_EQ(informer->store().CountByIndex(kIndexNodeName, "node-1"), 2u);
  EXPECT_EQ(informer->last_resource_version(), "13");
  InformerStats s = informer->stats();
  EXPECT_EQ(s.lists, 1u);
  EXPECT_EQ(s.relists, 0u);
  EXPECT_EQ(s.events, 3u);
  EXPECT_EQ(s.watch_starts, 2u);  // The scripted stream, then the one that found the script empty.
  EXPECT_EQ(s.watch_restarts, 1u);
}

TEST_F(InformerTest, WatchTimeoutsAreRandomisedBetweenFiveAndTenMinutes) {
  auto informer = MakeInformer();
  watcher_.AddList(ListJson({}, "1"));
  for (int i = 0; i < 30; ++i) watcher_.AddWatch({{Bookmark(std::to_string(i + 2))}});
  Run(*informer);
  std::set<int64_t> distinct;
  for (const WatchOptions& w : watcher_.watch_calls) {
    EXPECT_GE(w.timeout, 300s);
    EXPECT_LT(w.timeout, 600s);
    distinct.insert(w.timeout.count());
  }
  EXPECT_GT(distinct.size(), 10u);
}

TEST_F(InformerTest, EventsSplitAcrossChunksAtRandomPoints) {
  std::string stream = Event("ADDED", PodJson("x", "21")) + Bookmark("22") +
                       Event("MODIFIED", PodJson("x", "23", "node-9")) +
                       Event("ADDED", PodJson("y", "24")) + Event("DELETED", PodJson("x", "25"));
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    calls_.clear();
    watcher_.list_calls.clear();
    watcher_.watch_calls.clear();
    auto informer = MakeInformer();
    watcher_.AddList(ListJson({}, "20"));
    watcher_.AddWatch({RandomChunks(stream, seed)});
    Run(*informer);
    EXPECT_EQ(calls_,
              (Calls{"add shop/x@21", "update shop/x@21->23", "add shop/y@24", "delete shop/x@25"}))
        << "seed " << seed;
    EXPECT_EQ(informer->last_resource_version(), "25");
  }
}

TEST_F(InformerTest, BookmarksMoveTheResumePoint) {
  auto informer = MakeInformer();
  watcher_.AddList(ListJson({PodJson("a", "5")}, "10"));
  watcher_.AddWatch({{Bookmark("15"), Bookmark("18")}});  // Closed by the server after 5 min.
  watcher_.AddWatch({{Event("MODIFIED", PodJson("a", "19"))}});
  Run(*informer);
  ASSERT_EQ(watcher_.watch_calls.size(), 3u);
  EXPECT_EQ(watcher_.watch_calls[0].resource_version, "10");
  EXPECT_EQ(watcher_.watch_calls[1].resource_version, "18");
  EXPECT_EQ(watcher_.watch_calls[2].resource_version, "19");
  EXPECT_EQ(informer->stats().bookmarks, 2u);
  EXPECT_TRUE(sleeper_.sleeps().empty());  // A normal close resumes at once.
  EXPECT_EQ(calls_, (Calls{"add shop/a@5", "update shop/a@5->19"}));
}

// After 410 Gone the relist must turn what changed while disconnected into
// the right deltas: gone objects deleted, new ones added, changed ones
// updated, unchanged ones left alone.
void ExpectRelistDeltas(const std::vector<std::string>& calls) {
  EXPECT_EQ(calls, (Calls{"add shop/keep@5", "add shop/change@6", "add shop/vanish@7",
                          // Relist (in list order, then deletions):
                          "update shop/change@6->30", "add shop/new@31", "delete shop/vanish@7"}));
}

TEST_F(InformerTest, GoneOnWatchRelistsWithDeltas) {
  auto informer = MakeInformer();
  watcher_.AddList(
      ListJson({PodJson("keep", "5"), PodJson("change", "6"), PodJson("vanish", "7")}, "10"));
  watcher_.AddWatch({{}, Error::Of(ErrorKind::kGone, "410"), 1s});
  watcher_.AddList(
      ListJson({PodJson("keep", "5"), PodJson("change", "30"), PodJson("new", "31")}, "40"));
  Run(*informer);
  ExpectRelistDeltas(calls_);
  ASSERT_GE(watcher_.watch_calls.size(), 2u);
  EXPECT_EQ(watcher_.watch_calls[1].resource_version, "40");
  EXPECT_EQ(watcher_.list_calls[1].resource_version, "");  // A fresh consistent list.
  InformerStats s = informer->stats();
  EXPECT_EQ(s.gone, 1u);
  EXPECT_EQ(s.lists, 2u);
  EXPECT_EQ(s.relists, 1u);
  EXPECT_TRUE(sleeper_.sleeps().empty());  // The first relist is immediate.
  EXPECT_EQ(informer->store().size(), 3u);
}

TEST_F(InformerTest, ErrorEventGoneRelists) {
  auto informer = MakeInformer();
  watcher_.AddList(
      ListJson({PodJson("keep", "5"), PodJson("change", "6"), PodJson("vanish", "7")}, "10"));
  // The stream ends with ERROR 410; what follows it must be ignored.
  watcher_.AddWatch({{ErrorEvent(410, "Expired") + Event("ADDED", PodJson("ghost", "11"))}});
  watcher_.AddList(
      ListJson({PodJson("keep", "5"), PodJson("change", "30"), PodJson("new", "31")}, "40"));
  Run(*informer);
  ExpectRelistDeltas(calls_);
  EXPECT_EQ(informer->store().Get("shop", "ghost"), nullptr);
  EXPECT_EQ(informer->stats().gone, 1u);
}

TEST_F(InformerTest, RepeatedGoneBacksOff) {
  auto informer = MakeInformer();
  watcher_.AddList(ListJson({}, "10"));
  watcher_.AddWatch({{ErrorEvent(410, "Expired")}, Status::Ok(), 0s});
  watcher_.AddList(ListJson({}, "11"));
  watcher_.AddWatch({{ErrorEvent(410, "Expired")}, Status::Ok(), 0s});
  watcher_.AddList(ListJson({}, "12"));
  Run(*informer);
  EXPECT_EQ(informer->stats().relists, 2u);
  ASSERT_GE(sleeper_.sleeps().size(), 1u);  // The second consecutive 410 waited.
  EXPECT_GE(sleeper_.sleeps()[0], 800ms);
}

TEST_F(InformerTest, ErrorEventOtherThanGoneResumesAfterBackoff) {
  auto informer = MakeInformer();
  watcher_.AddList(ListJson({PodJson("a", "5")}, "10"));
  watcher_.AddWatch({{Event("MODIFIED", PodJson("a", "11")) + ErrorEvent(500, "InternalError")},
                     Status::Ok(),
                     1s});
  watcher_.AddWatch({{}});
  Run(*informer);
  EXPECT_EQ(informer->stats().relists, 0u);
  EXPECT_EQ(informer->stats().watch_errors, 1u);
  ASSERT_EQ(watcher_.watch_calls.size(), 3u);
  EXPECT_EQ(watcher_.watch_calls[1].resource_version, "11");
  EXPECT_EQ(sleeper_.sleeps().size(), 1u);
}

TEST_F(InformerTest, StreamCloseResumesFromLastEvent) {
  auto informer = MakeInformer();
  watcher_.AddList(ListJson({}, "10"));
  watcher_.AddWatch({{Event("ADDED", PodJson("a", "11")), Event("ADDED", PodJson("b", "12"))}});
  watcher_.AddWatch({{Event("MODIFIED", PodJson("b", "14"))}});
  Run(*informer);
  ASSERT_EQ(watcher_.watch_calls.size(), 3u);
  EXPECT_EQ(watcher_.watch_calls[1].resource_version, "12");
  EXPECT_EQ(watcher_.watch_calls[2].resource_version, "14");
  EXPECT_EQ(informer->stats().lists, 1u);
  EXPECT_EQ(informer->stats().watch_restarts, 2u);
}

TEST_F(InformerTest, CutOffEventIsNotAppliedAndIsResumedFrom) {
  auto informer = MakeInformer();
  watcher_.AddList(ListJson({}, "10"));
  std::string cut = Event("ADDED", PodJson("b", "12"));
  watcher_.AddWatch({{Event("ADDED", PodJson("a", "11")), cut.substr(0, cut.size() / 2)},
                     Error::Unavailable("connection reset"),
                     2s});
  watcher_.AddWatch({{cut}});
  Run(*informer);
  EXPECT_EQ(calls_, (Calls{"add shop/a@11", "add shop/b@12"}));
  EXPECT_EQ(watcher_.watch_calls[1].resource_version, "11");
}

TEST_F(InformerTest, TransientErrorsBackOffExponentiallyAndResetAfterAHealthyStream) {
  auto informer = MakeInformer();
  watcher_.AddList(ListJson({}, "10"));
  for (int i = 0; i < 4; ++i) {
    watcher_.AddWatch({{}, Error::Unavailable("connection refused"), 0s});
  }
  watcher_.AddWatch({{Bookmark("20")}, Error::Unavailable("reset"), 2min});  // Healthy, then fails.
  watcher_.AddWatch({{}, Error::Unavailable("refused"), 0s});
  Run(*informer);

  const auto& sleeps = sleeper_.sleeps();
  ASSERT_EQ(sleeps.size(), 6u);
  // Base doubles from 800 ms; jitter stretches by at most 25%.
  Duration base = 800ms;
  for (int i = 0; i < 4; ++i) {
    EXPECT_GE(sleeps[i], base) << i;
    EXPECT_LE(sleeps[i], base * 5 / 4) << i;
    base *= 2;
  }
  // The stream that stayed up two minutes reset the backoff.
  EXPECT_GE(sleeps[4], 800ms);
  EXPECT_LE(sleeps[4], 1000ms);
  EXPECT_GE(sleeps[5], 1600ms);
  for (const WatchOptions& w : watcher_.watch_calls) {
    EXPECT_TRUE(w.resource_version == "10" || w.resource_version == "20");
  }
  EXPECT_EQ(informer->stats().relists, 0u);
  EXPECT_EQ(informer->stats().watch_errors, 6u);
}

TEST_F(InformerTest, BackoffIsCappedAtThirtySeconds) {
  auto informer = MakeInformer();
  watcher_.AddList(ListJson({}, "10"));
  for (int i = 0; i < 12; ++i) watcher_.AddWatch({{}, Error::Unavailable("down"), 0s});
  Run(*informer);
  ASSERT_EQ(sleeper_.sleeps().size(), 12u);
  for (Duration d : sleeper_.sleeps()) EXPECT_LE(d, 30s);
  EXPECT_GE(sleeper_.sleeps().back(), 22500ms);  // At the cap jitter only shortens.
}

TEST_F(InformerTest, ListFailuresBackOffThenSucceed) {
  auto informer = MakeInformer();
  watcher_.AddList(Error::Unavailable("apiserver starting"));
  watcher_.AddList(Error::Of(ErrorKind::kTooManyRequests, "throttled"));
  watcher_.AddList(ListJson({PodJson("a", "5")}, "10"));
  Run(*informer);
  EXPECT_TRUE(informer->HasSynced());
  EXPECT_EQ(informer->stats().list_errors, 2u);
  ASSERT_GE(sleeper_.sleeps().size(), 2u);
  EXPECT_GE(sleeper_.sleeps()[1], 1600ms);
  EXPECT_EQ(calls_, (Calls{"add shop/a@5"}));
}

// Liveness: /healthz (process::CheckInformerProgress) reads last_progress.
TEST_F(InformerTest, ProgressIsMarkedAtEveryStepOfTheLoop) {
  const MonoTime created = clock_.Monotonic();
  auto informer = MakeInformer();
  EXPECT_EQ(informer->stats().last_progress, created);
  clock_.Advance(1h);  // Not running yet: nothing marks, so a loop that never starts shows.
  EXPECT_EQ(informer->stats().last_progress, created);

  std::vector<Duration> quiet;  // How long since the last mark, whenever a handler runs.
  EventHandlers<Pod> h;
  h.on_add = [&](const auto&) {
    quiet.push_back(clock_.Monotonic() - informer->stats().last_progress);
  };
  informer->AddHandlers(std::move(h));
  watcher_.AddList(Error::Unavailable("apiserver starting"));  // A failed list, a backoff.
  watcher_.AddList(ListJson({PodJson("a", "5")}, "10"));
  watcher_.AddWatch({{Event("ADDED", PodJson("b", "11"))}, Status::Ok(), 7min});
  Run(*informer);

  ASSERT_EQ(sleeper_.sleeps().size(), 1u);
  EXPECT_EQ(quiet, (std::vector<Duration>{0s, 0s})) << "the list page and the chunk are marks";
  // The 7-minute stream's end is a mark, and so is the last watch call.
  EXPECT_EQ(informer->stats().last_progress, clock_.Monotonic());
}

TEST_F(InformerTest, AHandlerThatHangsStopsTheProgressMarks) {
  auto informer = MakeInformer();
  Duration quiet_after_hang{};
  EventHandlers<Pod> h;
  h.on_add = [&](const auto& p) {
    if (p->meta.name == "a") {
      clock_.Advance(20min);  // Stands for a handler stuck for 20 minutes.
    } else {
      quiet_after_hang = clock_.Monotonic() - informer->stats().last_progress;
    }
  };
  informer->AddHandlers(std::move(h));
  watcher_.AddList(ListJson({PodJson("a", "5"), PodJson("b", "6")}, "10"));
  Run(*informer);
  EXPECT_EQ(quiet_after_hang, 20min);
}

TEST_F(InformerTest, ExpiredContinueTokenFallsBackToAFullList) {
  auto informer = MakeInformer();
  watcher_.AddList(ListJson({PodJson("a", "5")}, "10", "token-1"));
  watcher_.AddList(Error::Of(ErrorKind::kGone, "continue token expired"));
  watcher_.AddList(ListJson({PodJson("a", "5"), PodJson("b", "8"), PodJson("c", "9")}, "12"));
  Run(*informer);
  ASSERT_GE(watcher_.list_calls.size(), 3u);
  EXPECT_EQ(watcher_.list_calls[1].continue_token, "token-1");
  EXPECT_EQ(watcher_.list_calls[2].continue_token, "");
  EXPECT_EQ(watcher_.list_calls[2].limit, 0);  // Unpaginated.
  // Items from the abandoned page are not delivered twice.
  EXPECT_EQ(calls_, (Calls{"add shop/a@5", "add shop/b@8", "add shop/c@9"}));
  EXPECT_EQ(informer->stats().list_fallbacks, 1u);
  EXPECT_EQ(watcher_.watch_calls[0].resource_version, "12");
}

TEST_F(InformerTest, StalledStreamIsRestarted) {
  InformerOptions options;
  options.idle_timeout = 45s;
  auto informer = MakeInformer(options);
  watcher_.AddList(ListJson({}, "10"));
  watcher_.AddWatch(
      {{Event("ADDED", PodJson("a", "11"))}, Error::Timeout("no bytes for 45s"), 45s});
  Run(*informer);
  EXPECT_EQ(watcher_.watch_calls[0].idle_timeout, 45s);
  EXPECT_EQ(informer->stats().watch_stalls, 1u);
  ASSERT_EQ(watcher_.watch_calls.size(), 2u);
  EXPECT_EQ(watcher_.watch_calls[1].resource_version, "11");
}

TEST_F(InformerTest, VeryShortEmptyWatchBacksOff) {
  auto informer = MakeInformer();
  watcher_.AddList(ListJson({}, "10"));
  watcher_.AddWatch({{}, Status::Ok(), 10ms});
  Run(*informer);
  EXPECT_EQ(sleeper_.sleeps().size(), 1u);
  EXPECT_EQ(informer->stats().watch_errors, 1u);
}

TEST_F(InformerTest, UndecodableEventIsSkippedAndCounted) {
  auto informer = MakeInformer();
  watcher_.AddList(ListJson({}, "10"));
  watcher_.AddWatch(
      {{Event("ADDED", PodJson("a", "11")) + "{\"type\":\"ADDED\",\"object\":{]}\n" +
        Event(
            "ADDED",
            R"({"metadata":{"name":"q","resourceVersion":"12"},"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"lots"}}}]}})") +
        Event("ADDED", PodJson("b", "13"))}});
  Run(*informer);
  EXPECT_EQ(calls_, (Calls{"add shop/a@11", "add shop/b@13"}));
  EXPECT_EQ(informer->stats().decode_errors, 2u);
  EXPECT_EQ(informer->last_resource_version(), "13");
}

TEST_F(InformerTest, OversizedEventRestartsTheStream) {
  InformerOptions options;
  options.max_event_bytes = 1000;
  auto informer = MakeInformer(options);
  watcher_.AddList(ListJson({}, "10"));
  watcher_.AddWatch({{Event("ADDED", PodJson("a", "11")), std::string(2000, 'x')}});
  Run(*informer);
  EXPECT_EQ(informer->stats().watch_errors, 1u);
  EXPECT_EQ(watcher_.watch_calls[1].resource_version, "11");
}

TEST_F(InformerTest, PeriodicResyncCallsHandlersForEveryObject) {
  InformerOptions options;
  options.resync_period = 10min;
  auto informer = MakeInformer(options);
  watcher_.AddList(ListJson({PodJson("a", "5"), PodJson("b", "6")}, "10"));
  watcher_.AddWatch({{Bookmark("11")}, Status::Ok(), 6min});
  watcher_.AddWatch({{Bookmark("12")}, Status::Ok(), 6min});  // 12 min since the first resync.
  Run(*informer);
  std::vector<std::string> resyncs;
  for (const auto& c : calls_) {
    if (c.rfind("resync", 0) == 0) resyncs.push_back(c);
  }
  // Once right after the list, once when 10 minutes had passed.
  EXPECT_EQ(resyncs.size(), 4u);
  EXPECT_EQ(informer->stats().resyncs, 2u);
}

TEST_F(InformerTest, StopFromAnotherThread) {
  // A watcher that streams bookmarks until cancelled, with real time.
  class Endless final : public ListWatcher {
   public:
    Result<std::string> ListPage(const ListOptions&) override { return ListJson({}, "1"); }
    Status Watch(const WatchOptions&, const ChunkHandler& on_chunk,
                 const CancelToken& cancel) override {
      while (!cancel.cancelled()) {
        on_chunk(Bookmark("2"));
        std::this_thread::sleep_for(1ms);
      }
      return Error::Cancelled("cancelled");
    }
  } endless;
  Informer<Pod> informer(endless);
  CancelFlag cancel;
  std::thread runner([&] { informer.Run(cancel); });
  EXPECT_TRUE(informer.WaitForSync(cancel));
  // Let the watch deliver something before stopping it mid-stream.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (informer.stats().bookmarks == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  informer.Stop();
  runner.join();
  EXPECT_TRUE(informer.HasSynced());
  EXPECT_GT(informer.stats().bookmarks, 0u);
}

TEST_F(InformerTest, WaitForSyncReturnsFalseWhenCancelled) {
  auto informer = MakeInformer();
  CancelFlag cancel;
  cancel.Cancel();
  EXPECT_FALSE(informer->WaitForSync(cancel));
}

TEST(InformerGeneric, NodesWithTheSameMachinery) {
  FakeClock clock;
  FakeSleeper sleeper(clock);
  ScriptedListWatcher watcher(clock);
  InformerOptions options;
  options.seed = 3;
  Informer<Node> informer(watcher, options, clock, sleeper);
  watcher.on_exhausted = [&] { informer.Stop(); };
  std::vector<std::string> seen;
  EventHandlers<Node> h;
  h.on_update = [&](const auto& old, const auto& now) {
    seen.push_back(old->meta.name + ":" + std::to_string(old->unschedulable) + "->" +
                   std::to_string(now->unschedulable));
  };
  informer.AddHandlers(h);
  watcher.AddList(std::string(R"({"kind":"NodeList","metadata":{"resourceVersion":"3"},"items":[
      {"metadata":{"name":"n1","resourceVersion":"2"}}]})"));
  watcher.AddWatch({{Event(
      "MODIFIED",
      R"({"metadata":{"name":"n1","resourceVersion":"4"},"spec":{"unschedulable":true}})")}});
  informer.Run(CancelFlag());
  EXPECT_EQ(seen, (std::vector<std::string>{"n1:0->1"}));
  EXPECT_TRUE(informer.store().Get("", "n1")->unschedulable);
}

}  // namespace
}  // namespace nodeguard::kube
