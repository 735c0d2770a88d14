// An Informer<Node> against the fixture's cluster through the failures a
// long-running controller meets: the API server restarting, and its
// resourceVersion falling out of the server's history (410 Gone) while it was
// disconnected. Each test checks that what changed in the gap reaches the
// handlers (deletes included) and that the store converges to the server's
// state, and reports what the informer's counters saw.
//
// The gap is made deterministic with GatedListWatcher: the test disconnects
// the informer at a point of its choosing and reconnects it after writing.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cluster_helpers.h"
#include "kube/config.h"
#include "kube/informer.h"
#include "kube/rest.h"
#include "kube/transport_cpprest.h"

namespace nodeguard::kube {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::ConnectFromEnvironment;
using testing::ControlPlane;
using testing::Eventually;
using testing::LiveClient;

// A ListWatcher in front of the real one that the test closes to cut an
// informer off the API server: Close() ends the watch stream in progress
// and holds every later List and Watch call until Open(). The informer sees
// what it would see on a network partition that heals: a stream that ended,
// then a server that answers again.
class GatedListWatcher final : public ListWatcher {
 public:
  explicit GatedListWatcher(ListWatcher& inner) : inner_(inner) {}

  void Close() {
    std::lock_guard lock(mu_);
    open_ = false;
    if (stream_cut_) stream_cut_->Cancel();
  }
  void Open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  // Calls held at the closed gate: 1 once the informer is parked there.
  int held() const {
    std::lock_guard lock(mu_);
    return held_;
  }

  Result<std::string> ListPage(const ListOptions& options) override {
    std::unique_lock lock(mu_);
    WaitOpenLocked(lock, nullptr);
    lock.unlock();
    return inner_.ListPage(options);
  }

  Status Watch(const WatchOptions& options, const ChunkHandler& on_chunk,
               const CancelToken& cancel) override {
    auto cut = std::make_shared<CancelFlag>();
    {
      std::unique_lock lock(mu_);
      if (!WaitOpenLocked(lock, &cancel)) return Status::Ok();  // Cancelled while held.
      stream_cut_ = cut;
    }
    informer_internal::EitherCancel either(cancel, *cut);
    return inner_.Watch(options, on_chunk, either);
  }

 private:
  // Waits until the gate is open (true) or `cancel` fires (false).
  bool WaitOpenLocked(std::unique_lock<std::mutex>& lock, const CancelToken* cancel) {
    ++held_;
    while (!open_ && (cancel == nullptr || !cancel->cancelled())) cv_.wait_for(lock, 50ms);
    --held_;
    return open_;
  }

  ListWatcher& inner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;                        // Guarded by mu_.
  int held_ = 0;                            // Guarded by mu_.
  std::shared_ptr<CancelFlag> stream_cut_;  // Guarded by mu_: cancels the current stream.
};

constexpr std::string_view kTestLabel = "nodeguard.io/informer-test";
constexpr std::string_view kStepLabel = "nodeguard.io/step";

// Everything the handlers were called with, in order. Thread-safe.
class HandlerLog {
 public:
  struct Call {
    DeltaType type;
    std::string name;
    std::string step;  // The object's kStepLabel ("" if absent).
  };

  EventHandlers<Node> Handlers() {
    EventHandlers<Node> h;
    h.on_add = [this](const auto& node) { Record(DeltaType::kAdded, *node); };
    h.on_update = [this](const auto&, const auto& node) { Record(DeltaType::kUpdated, *node); };
    h.on_delete = [this](const auto& node) { Record(DeltaType::kDeleted, *node); };
    return h;
  }

  // True if a call of `type` for `name` was recorded (with that step, unless empty).
  bool Saw(DeltaType type, const std::string& name, const std::string& step = "") const {
    std::lock_guard lock(mu_);
    for (const Call& c : calls_) {
      if (c.type == type && c.name == name && (step.empty() || c.step == step)) return true;
    }
    return false;
  }
  int CallsFor(const std::string& name) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const Call& c : calls_) n += c.name == name;
    return n;
  }

 private:
  void Record(DeltaType type, const Node& node) {
    const std::string* step = node.labels.Find(kStepLabel);
    std::lock_guard lock(mu_);
    calls_.push_back({type, node.meta.name, step != nullptr ? *step : ""});
  }

  mutable std::mutex mu_;
  std::vector<Call> calls_;  // Guarded by mu_.
};

std::string StatsText(const InformerStats& s) {
  return "lists=" + std::to_string(s.lists) + " relists=" + std::to_string(s.relists) +
         " list_errors=" + std::to_string(s.list_errors) +
         " watch_starts=" + std::to_string(s.watch_starts) +
         " watch_restarts=" + std::to_string(s.watch_restarts) +
         " watch_errors=" + std::to_string(s.watch_errors) + " gone=" + std::to_string(s.gone) +
         " events=" + std::to_string(s.events) + " bookmarks=" + std::to_string(s.bookmarks);
}

class InformerRecoveryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto client = ConnectFromEnvironment();
    ASSERT_TRUE(client.ok()) << "KUBECONFIG: " << client.error().ToString();
    client_ = std::move(client.value());
    rest_ = client_->rest.get();
  }
  static void TearDownTestSuite() {
    rest_ = nullptr;
    client_.reset();
  }

  void SetUp() override {
    ASSERT_NE(rest_, nullptr);
    ASSERT_FALSE(testing::FixtureStateDir().empty()) << "run through ctest (fixture 'cluster')";
    std::mt19937 rng{std::random_device{}()};
    run_ = "informer-" + std::to_string(rng() % 1000000);
    lister_ = std::make_unique<RestListWatcher>(*rest_, CoreResource("nodes"));
    gate_ = std::make_unique<GatedListWatcher>(*lister_);
    InformerOptions options;
    options.label_selector = std::string(kTestLabel) + "=" + run_;
    informer_ = std::make_unique<Informer<Node>>(*gate_, options);
    informer_->AddHandlers(log_.Handlers());
  }

  void TearDown() override {
    EnsureApiServerRunning();
    StopInformer();
    // Every node this run created, whatever the test did with them.
    auto nodes =
        rest_->ListAll(CoreResource("nodes"), Selector(std::string(kTestLabel) + "=" + run_));
    if (nodes.ok()) {
      for (const auto& item : nodes->items) {
        const std::string name = json::parse(item)["metadata"]["name"];
        (void)Retry([&] {
          Status s = rest_->Delete(CoreResource("nodes"), name);
          return s.ok() || s.error().Is(ErrorKind::kNotFound);
        });
      }
    }
    (void)Retry([&] {
      Status s = rest_->Delete(CoreResource("nodes"), Name("churn"));
      return s.ok() || s.error().Is(ErrorKind::kNotFound);
    });
  }

  void StartInformer() {
    runner_ = std::thread([this] { informer_->Run(stop_); });
    ASSERT_TRUE(Eventually(60s, [&] { return informer_->HasSynced(); })) << "never synced";
  }
  // Brings the API server back if a test stopped it and failed before
  // restarting it: the tests after this one need the cluster.
  void EnsureApiServerRunning() {
    if (apiserver_stopped_) (void)ControlPlane("start-apiserver");
    apiserver_stopped_ = false;
  }
  void StopInformer() {
    if (!runner_.joinable()) return;
    gate_->Open();
    informer_->Stop();
    runner_.join();
  }

  static ListOptions Selector(std::string selector) {
    ListOptions options;
    options.label_selector = std::move(selector);
    return options;
  }
  std::string Name(const std::string& suffix) const { return run_ + "-" + suffix; }

  // Writes right after an API server restart may meet a pooled connection
  // the old server closed; POST and PATCH are not retried by RestClient, so
  // the test retries its own (idempotent) writes on transport errors.
  template <typename F>
  static bool Retry(F write) {
    return Eventually(30s, write, 500ms);
  }

  // A node outside kube-node management (not type=kwok): nothing but the
  // controller manager's node lifecycle controller touches it.
  bool CreateNode(const std::string& suffix, const std::string& step,
                  std::string_view test_label = kTestLabel) {
    const json node = {
        {"apiVersion", "v1"},
        {"kind", "Node"},
        {"metadata",
         {{"name", Name(suffix)},
          {"labels", {{std::string(test_label), run_}, {std::string(kStepLabel), step}}}}}};
    return Retry([&] {
      auto created = rest_->Create(CoreResource("nodes"), node.dump());
      return created.ok() || created.error().Is(ErrorKind::kAlreadyExists);
    });
  }
  bool SetStep(const std::string& suffix, const std::string& step) {
    const json patch = {{"metadata", {{"labels", {{std::string(kStepLabel), step}}}}}};
    return Retry([&] {
      return rest_->Patch(CoreResource("nodes"), Name(suffix), PatchType::kMerge, patch.dump())
          .ok();
    });
  }
  bool DeleteNode(const std::string& suffix) {
    return Retry([&] {
      Status s = rest_->Delete(CoreResource("nodes"), Name(suffix));
      return s.ok() || s.error().Is(ErrorKind::kNotFound);
    });
  }

  // The store holds exactly the server's nodes of this run, each at the
  // server's resourceVersion.
  bool StoreMatchesServer() const {
    auto listed =
        rest_->ListAll(CoreResource("nodes"), Selector(std::string(kTestLabel) + "=" + run_));
    if (!listed.ok()) return false;
    std::map<std::string, std::string> server, cached;
    for (const auto& item : listed->items) {
      const json meta = json::parse(item)["metadata"];
      server[meta["name"]] = meta["resourceVersion"];
    }
    for (const auto& node : informer_->store().List()) {
      cached[node->meta.name] = node->meta.resource_version;
    }
    return server == cached;
  }

  // A watch of this run's nodes from `resource_version` is refused with 410
  // Gone (an HTTP status or an ERROR event): what the informer will meet.
  bool WatchFromIsGone(const std::string& resource_version) const {
    WatchOptions options;
    options.resource_version = resource_version;
    options.label_selector = std::string(kTestLabel) + "=" + run_;
    options.allow_bookmarks = false;
    options.timeout = 1s;
    bool gone = false;
    CancelFlag never;
    Status s = lister_->Watch(
        options,
        [&](std::string_view chunk) {
          gone = chunk.find("\"ERROR\"") != std::string_view::npos &&
                 chunk.find("410") != std::string_view::npos;
          return false;  // The first event decides.
        },
        never);
    return gone || (!s.ok() && s.error().Is(ErrorKind::kGone));
  }

  static std::unique_ptr<LiveClient> client_;
  static RestClient* rest_;  // client_->rest, for brevity.
  std::string run_;
  std::unique_ptr<RestListWatcher> lister_;
  std::unique_ptr<GatedListWatcher> gate_;
  std::unique_ptr<Informer<Node>> informer_;
  HandlerLog log_;
  CancelFlag stop_;
  std::thread runner_;
  bool apiserver_stopped_ = false;
};
std::unique_ptr<LiveClient> InformerRecoveryTest::client_;
RestClient* InformerRecoveryTest::rest_ = nullptr;

TEST_F(InformerRecoveryTest, SurvivesAnApiServerRestart) {
  ASSERT_TRUE(CreateNode("a", "0"));
  ASSERT_TRUE(CreateNode("b", "0"));
  StartInformer();
  ASSERT_TRUE(Eventually(30s, [&] { return informer_->store().size() == 2; }));
  // The watch is live before the restart.
  ASSERT_TRUE(SetStep("a", "1"));
  ASSERT_TRUE(Eventually(30s, [&] { return log_.Saw(DeltaType::kUpdated, Name("a"), "1"); }));
  const InformerStats before = informer_->stats();

  // The API server goes away: the informer's stream ends and reconnecting
  // fails (a broken stream counts as one watch error, each refused
  // reconnection as another; a stream closed cleanly counts none).
  apiserver_stopped_ = true;
  const auto stopped = ControlPlane("stop-apiserver");
  ASSERT_EQ(stopped.exit_status, 0) << "control-plane stop-apiserver failed";
  ASSERT_TRUE(
      Eventually(60s, [&] { return informer_->stats().watch_errors >= before.watch_errors + 2; }))
      << "the informer never noticed: " << StatsText(informer_->stats());
  // Hold it off until the server is back and the gap's writes are made, so
  // what it must catch up on is known exactly.
  gate_->Close();
  const auto started = ControlPlane("start-apiserver");
  ASSERT_EQ(started.exit_status, 0) << "control-plane start-apiserver failed: cluster unhealthy";
  apiserver_stopped_ = false;

  ASSERT_TRUE(SetStep("a", "2"));
  ASSERT_TRUE(DeleteNode("b"));
  ASSERT_TRUE(CreateNode("c", "2"));
  ASSERT_TRUE(CreateNode("transient", "2"));
  ASSERT_TRUE(DeleteNode("transient"));
  gate_->Open();

  ASSERT_TRUE(Eventually(90s,
                         [&] {
                           return log_.Saw(DeltaType::kUpdated, Name("a"), "2") &&
                                  log_.Saw(DeltaType::kDeleted, Name("b")) &&
                                  log_.Saw(DeltaType::kAdded, Name("c"), "2") &&
                                  StoreMatchesServer();
                         }))
      << "did not converge after the restart: " << StatsText(informer_->stats());
  const InformerStats reconnected = informer_->stats();

  // Changes after the restart arrive through the new watch.
  ASSERT_TRUE(SetStep("c", "3"));
  ASSERT_TRUE(DeleteNode("a"));
  ASSERT_TRUE(CreateNode("d", "3"));
  ASSERT_TRUE(Eventually(30s, [&] {
    return log_.Saw(DeltaType::kUpdated, Name("c"), "3") &&
           log_.Saw(DeltaType::kDeleted, Name("a")) &&
           log_.Saw(DeltaType::kAdded, Name("d"), "3") && StoreMatchesServer();
  })) << StatsText(informer_->stats());

  const InformerStats after = informer_->stats();
  std::printf("informer stats before the restart: %s\nafter: %s\n", StatsText(before).c_str(),
              StatsText(after).c_str());
  EXPECT_EQ(informer_->stats().decode_errors, 0u);
  // Resumed from its resourceVersion, or (when the new server's watch cache,
  // which starts from a fresh list, no longer reaches back to it) told 410
  // Gone and relisted: one or the other, each counted.
  const bool resumed =
      reconnected.watch_restarts > before.watch_restarts && reconnected.relists == before.relists;
  const bool relisted = reconnected.gone > before.gone && reconnected.relists > before.relists;
  EXPECT_TRUE(resumed || relisted) << StatsText(after);
  std::printf("after the restart the informer %s\n",
              relisted ? "got 410 Gone and relisted" : "resumed its watch");
  EXPECT_EQ(after.relists, reconnected.relists) << "the new watch after recovery relisted again";
  // A node created and deleted while it was cut off never reaches a handler.
  EXPECT_EQ(log_.CallsFor(Name("transient")), 0);
}

TEST_F(InformerRecoveryTest, RelistsWhenItsResourceVersionIsGone) {
  ASSERT_TRUE(CreateNode("a", "0"));
  ASSERT_TRUE(CreateNode("b", "0"));
  ASSERT_TRUE(CreateNode("churn", "0", "nodeguard.io/informer-test-churn"));
  StartInformer();
  ASSERT_TRUE(SetStep("a", "1"));
  ASSERT_TRUE(Eventually(30s, [&] { return log_.Saw(DeltaType::kUpdated, Name("a"), "1"); }));

  // Cut the watch; the informer parks at the gate holding its resourceVersion.
  gate_->Close();
  ASSERT_TRUE(Eventually(30s, [&] { return gate_->held() == 1; }));
  const std::string parked_at = informer_->last_resource_version();
  ASSERT_FALSE(parked_at.empty());

  // The gap: an update, a delete, a create, and a node that lives and dies
  // unseen.
  ASSERT_TRUE(SetStep("a", "2"));
  ASSERT_TRUE(DeleteNode("b"));
  ASSERT_TRUE(CreateNode("c", "2"));
  ASSERT_TRUE(CreateNode("transient", "2"));
  ASSERT_TRUE(DeleteNode("transient"));

  // etcd forgets the history behind the parked resourceVersion.
  const auto compacted = ControlPlane("compact-etcd");
  ASSERT_EQ(compacted.exit_status, 0) << "control-plane compact-etcd failed";
  ASSERT_FALSE(compacted.output.empty());
  EXPECT_GT(std::stoll(compacted.output), std::stoll(parked_at));
  // The API server answers watches from its watch cache, which keeps at
  // least the last 75 s of node events whatever etcd compacted; once events
  // older than that are pushed out (writes to a node the informer does not
  // select), a watch from the parked version is refused with 410 Gone, as on
  // a busy cluster after a long disconnection.
  int churn = 0;
  ASSERT_TRUE(Eventually(
      240s,
      [&] {
        for (int i = 0; i < 10; ++i) (void)SetStep("churn", std::to_string(++churn));
        return WatchFromIsGone(parked_at);
      },
      1s))
      << "a watch from " << parked_at << " was still served after " << churn << " writes";
  std::printf("resourceVersion %s gone after %d churn writes (etcd compacted at %lld)\n",
              parked_at.c_str(), churn, std::stoll(compacted.output));

  const InformerStats before = informer_->stats();
  gate_->Open();
  ASSERT_TRUE(Eventually(60s,
                         [&] {
                           return log_.Saw(DeltaType::kUpdated, Name("a"), "2") &&
                                  log_.Saw(DeltaType::kDeleted, Name("b")) &&
                                  log_.Saw(DeltaType::kAdded, Name("c"), "2") &&
                                  StoreMatchesServer();
                         }))
      << "did not converge after 410 Gone: " << StatsText(informer_->stats());
  const InformerStats relisted = informer_->stats();
  std::printf("informer stats before reconnecting: %s\nafter: %s\n", StatsText(before).c_str(),
              StatsText(relisted).c_str());
  EXPECT_GT(relisted.gone, before.gone);
  EXPECT_EQ(relisted.relists, before.relists + 1);
  EXPECT_EQ(log_.CallsFor(Name("transient")), 0);
  EXPECT_EQ(log_.CallsFor(Name("churn")), 0);

  // Watching again from the relist's version.
  ASSERT_TRUE(SetStep("c", "3"));
  ASSERT_TRUE(Eventually(
      30s, [&] { return log_.Saw(DeltaType::kUpdated, Name("c"), "3") && StoreMatchesServer(); }));
  EXPECT_EQ(informer_->stats().relists, relisted.relists);
  EXPECT_EQ(informer_->stats().decode_errors, 0u);
}

}  // namespace
}  // namespace nodeguard::kube
