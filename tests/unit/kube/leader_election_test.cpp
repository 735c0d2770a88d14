#include "kube/leader_election.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/time.h"
#include "fake_http.h"
#include "kube/rest.h"

namespace nodeguard::kube {
namespace {

using namespace std::chrono_literals;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;

// An in-memory Lease with resourceVersion checks, as the API server does.
class FakeLeaseStore final : public LeaseStore {
 public:
  Result<LeaseSnapshot> Get() override {
    std::lock_guard lock(mu_);
    if (fail_reads) return Error::Unavailable("apiserver down");
    if (!exists_) return Error::NotFound("leases \"l\" not found");
    return LeaseSnapshot{record_, std::to_string(rv_)};
  }
  Result<LeaseSnapshot> Create(const LeaderElectionRecord& record) override {
    std::lock_guard lock(mu_);
    if (exists_) return Error::Of(ErrorKind::kAlreadyExists, "exists");
    exists_ = true;
    record_ = record;
    ++writes;
    return LeaseSnapshot{record_, std::to_string(++rv_)};
  }
  Result<LeaseSnapshot> Update(const LeaderElectionRecord& record,
                               const std::string& resource_version) override {
    std::lock_guard lock(mu_);
    if (fail_writes) return Error::Unavailable("apiserver down");
    if (!exists_) return Error::NotFound("gone");
    if (resource_version != std::to_string(rv_)) return Error::Of(ErrorKind::kConflict, "stale");
    record_ = record;
    ++writes;
    return LeaseSnapshot{record_, std::to_string(++rv_)};
  }
  std::string Describe() const override { return "lease test/l"; }

  LeaderElectionRecord record() {
    std::lock_guard lock(mu_);
    return record_;
  }
  // Another writer changes the record behind the candidates' backs.
  void Overwrite(const LeaderElectionRecord& record) {
    std::lock_guard lock(mu_);
    exists_ = true;
    record_ = record;
    ++rv_;
  }

  bool fail_reads = false;
  bool fail_writes = false;
  int writes = 0;

 private:
  std::mutex mu_;
  bool exists_ = false;
  LeaderElectionRecord record_;
  int rv_ = 0;
};

LeaderElectionRecord Held(const std::string& holder, int duration = 15, int transitions = 0) {
  LeaderElectionRecord r;
  r.holder_identity = holder;
  r.lease_duration_seconds = duration;
  r.lease_transitions = transitions;
  return r;
}

// ------------------------------------------------------------ DecideLease

class DecideLeaseTest : public ::testing::Test {
 protected:
  MonoTime t0_{std::chrono::hours(1)};
  WallTime wall_{std::chrono::hours(24 * 365 * 56)};
};

TEST_F(DecideLeaseTest, NoLeaseMeansCreateHoldingIt) {
  auto d = DecideLease(std::nullopt, {}, "me", t0_, wall_, 15s);
  EXPECT_EQ(d.action, LeaseAction::kCreate);
  EXPECT_EQ(d.desired.holder_identity, "me");
  EXPECT_EQ(d.desired.lease_duration_seconds, 15);
  EXPECT_EQ(d.desired.acquire_time, wall_);
  EXPECT_EQ(d.desired.renew_time, wall_);
  EXPECT_EQ(d.desired.lease_transitions, 0);
}

TEST_F(DecideLeaseTest, ExpiryCountsFromLocalObservationOfTheLastChange) {
  // The holder's renewTime is years in the past (skewed clock): irrelevant.
  LeaderElectionRecord other = Held("other");
  other.renew_time = WallTime{};
  auto first = DecideLease(other, {}, "me", t0_, wall_, 15s);
  EXPECT_EQ(first.action, LeaseAction::kWait);
  EXPECT_EQ(first.observation.observed_at, t0_);

  // Unchanged record: still valid until observed_at + 15 s.
  auto later = DecideLease(other, first.observation, "me", t0_ + 14999ms, wall_, 15s);
  EXPECT_EQ(later.action, LeaseAction::kWait);
  EXPECT_EQ(later.observation.observed_at, t0_);
  auto expired = DecideLease(other, first.observation, "me", t0_ + 15s, wall_, 15s);
  EXPECT_EQ(expired.action, LeaseAction::kAcquire);
  EXPECT_EQ(expired.desired.holder_identity, "me");
  EXPECT_EQ(expired.desired.lease_transitions, 1);
  EXPECT_EQ(expired.desired.acquire_time, wall_);
}

TEST_F(DecideLeaseTest, AChangedRecordRestartsTheExpiryClock) {
  LeaderElectionRecord v1 = Held("other");
  auto first = DecideLease(v1, {}, "me", t0_, wall_, 15s);
  LeaderElectionRecord v2 = v1;
  v2.renew_time = wall_ + 2s;  // The holder renewed.
  auto second = DecideLease(v2, first.observation, "me", t0_ + 14s, wall_, 15s);
  EXPECT_EQ(second.action, LeaseAction::kWait);
  EXPECT_EQ(second.observation.observed_at, t0_ + 14s);
  // Old expiry (t0 + 15 s) has passed, but the renewal seen at t0 + 14 s counts.
  EXPECT_EQ(DecideLease(v2, second.observation, "me", t0_ + 20s, wall_, 15s).action,
            LeaseAction::kWait);
  EXPECT_EQ(DecideLease(v2, second.observation, "me", t0_ + 29s, wall_, 15s).action,
            LeaseAction::kAcquire);
}

TEST_F(DecideLeaseTest, TheRecordsDurationGovernsExpiry) {
  // A holder announcing 60 s is waited for 60 s even if we would use 15 s.
  LeaderElectionRecord other = Held("other", 60);
  auto first = DecideLease(other, {}, "me", t0_, wall_, 15s);
  EXPECT_EQ(DecideLease(other, first.observation, "me", t0_ + 59s, wall_, 15s).action,
            LeaseAction::kWait);
  EXPECT_EQ(DecideLease(other, first.observation, "me", t0_ + 60s, wall_, 15s).action,
            LeaseAction::kAcquire);
}

TEST_F(DecideLeaseTest, ReleasedLeaseIsTakenAtOnce) {
  LeaderElectionRecord released = ReleasedRecord(Held("other", 15, 4), wall_);
  EXPECT_EQ(released.holder_identity, "");
  EXPECT_EQ(released.lease_duration_seconds, 1);
  EXPECT_EQ(released.lease_transitions, 4);
  auto d = DecideLease(released, {}, "me", t0_, wall_, 15s);
  EXPECT_EQ(d.action, LeaseAction::kAcquire);
  EXPECT_EQ(d.desired.lease_transitions, 5);
}

TEST_F(DecideLeaseTest, OwnLeaseIsRenewedKeepingAcquireTimeAndTransitions) {
  LeaderElectionRecord mine = Held("me", 15, 3);
  mine.acquire_time = wall_ - 1h;
  mine.renew_time = wall_ - 2s;
  auto d = DecideLease(mine, {mine, t0_ - 2s}, "me", t0_, wall_, 15s);
  EXPECT_EQ(d.action, LeaseAction::kRenew);
  EXPECT_EQ(d.desired.acquire_time, wall_ - 1h);
  EXPECT_EQ(d.desired.renew_time, wall_);
  EXPECT_EQ(d.desired.lease_transitions, 3);
}

// ------------------------------------------------------------ LeaderElector

class ElectorTest : public ::testing::Test {
 protected:
  LeaderElectionConfig Config(const std::string& id) {
    LeaderElectionConfig c;
    c.identity = id;
    c.wait = [this](std::chrono::milliseconds d, const CancelToken&) { clock_.Advance(d); };
    return c;
  }
  FakeClock clock_;
  FakeLeaseStore store_;
  std::vector<std::string> events_;
  LeaderCallbacks Callbacks(const std::string& id) {
    LeaderCallbacks cb;
    cb.on_started_leading = [this, id] { events_.push_back(id + " started"); };
    cb.on_stopped_leading = [this, id] { events_.push_back(id + " stopped"); };
    cb.on_new_leader = [this, id](const std::string& leader) {
      events_.push_back(id + " sees " + leader);
    };
    return cb;
  }
};

TEST_F(ElectorTest, ExactlyOneOfTwoCandidatesLeadsAndTheOtherTakesOverAfterExpiry) {
  LeaderElector a(store_, Config("a"), Callbacks("a"), clock_);
  LeaderElector b(store_, Config("b"), Callbacks("b"), clock_);
  EXPECT_TRUE(a.TryAcquireOrRenew());
  EXPECT_FALSE(b.TryAcquireOrRenew());
  EXPECT_EQ(b.CurrentLeader(), "a");
  // a keeps renewing every 2 s: b never gets it.
  for (int i = 0; i < 20; ++i) {
    clock_.Advance(2s);
    EXPECT_TRUE(a.TryAcquireOrRenew());
    EXPECT_FALSE(b.TryAcquireOrRenew());
  }
  // a stops renewing (crashed): b, which saw a's last renewal just now,
  // takes over 15 s later by its own clock.
  clock_.Advance(14s);
  EXPECT_FALSE(b.TryAcquireOrRenew());
  clock_.Advance(999ms);
  EXPECT_FALSE(b.TryAcquireOrRenew());
  clock_.Advance(1ms);
  EXPECT_TRUE(b.TryAcquireOrRenew());
  EXPECT_EQ(store_.record().holder_identity, "b");
  EXPECT_EQ(store_.record().lease_transitions, 1);
  // a, back, cannot renew: it sees b's fresh lease.
  EXPECT_FALSE(a.TryAcquireOrRenew());
  EXPECT_EQ(a.CurrentLeader(), "b");
}

TEST_F(ElectorTest, ConcurrentUpdateLosesTheRace) {
  LeaderElector a(store_, Config("a"), Callbacks("a"), clock_);
  LeaderElectionRecord released;
  released.lease_duration_seconds = 1;
  store_.Overwrite(released);
  // Between a's read and write, someone else takes the lease: simulate by a
  // store whose version moves after Get.
  class RacingStore final : public LeaseStore {
   public:
    explicit RacingStore(FakeLeaseStore& inner) : inner_(inner) {}
    Result<LeaseSnapshot> Get() override {
      auto got = inner_.Get();
      inner_.Overwrite(Held("c"));
      return got;
    }
    Result<LeaseSnapshot> Create(const LeaderElectionRecord& r) override {
      return inner_.Create(r);
    }
    Result<LeaseSnapshot> Update(const LeaderElectionRecord& r, const std::string& rv) override {
      return inner_.Update(r, rv);
    }
    std::string Describe() const override { return "racing"; }

   private:
    FakeLeaseStore& inner_;
  } racing(store_);
  LeaderElector racer(racing, Config("a"), Callbacks("a"), clock_);
  EXPECT_FALSE(racer.TryAcquireOrRenew());
  EXPECT_EQ(store_.record().holder_identity, "c");
  EXPECT_FALSE(racer.IsLeader());
}

TEST_F(ElectorTest, ReleaseLetsTheOtherCandidateTakeOverAtOnce) {
  LeaderElector a(store_, Config("a"), Callbacks("a"), clock_);
  LeaderElector b(store_, Config("b"), Callbacks("b"), clock_);
  ASSERT_TRUE(a.TryAcquireOrRenew());
  EXPECT_FALSE(b.TryAcquireOrRenew());
  ASSERT_TRUE(a.Release().ok());
  EXPECT_EQ(store_.record().holder_identity, "");
  EXPECT_TRUE(b.TryAcquireOrRenew());  // No waiting for expiry.
  EXPECT_EQ(store_.record().holder_identity, "b");
  // Releasing a lease we do not hold writes nothing.
  const int writes = store_.writes;
  EXPECT_TRUE(a.Release().ok());
  EXPECT_EQ(store_.writes, writes);
}

TEST_F(ElectorTest, RunLeadsUntilStoppedThenReleases) {
  LeaderElectionConfig config = Config("a");
  CancelFlag stop;
  int renewals = 0;
  // Stop after a few renew rounds, from inside the (fake) wait.
  config.wait = [&](std::chrono::milliseconds d, const CancelToken&) {
    clock_.Advance(d);
    if (++renewals == 5) stop.Cancel();
  };
  LeaderElector a(store_, config, Callbacks("a"), clock_);
  a.Run(stop);
  EXPECT_FALSE(a.IsLeader());
  EXPECT_EQ(store_.record().holder_identity, "");  // Released.
  EXPECT_THAT(events_, ElementsAre("a sees a", "a started", "a stopped"));
}

TEST_F(ElectorTest, AStopArrivingWithTheAcquiringWriteReleasesTheLease) {
  // SIGTERM lands while the first Create is in flight: Run sees the stop
  // right after acquiring. It must not lead, and must not keep the Lease
  // (the standby would otherwise wait out the whole lease duration).
  CancelFlag stop;
  class StoppingStore final : public LeaseStore {
   public:
    StoppingStore(FakeLeaseStore& inner, CancelFlag& stop) : inner_(inner), stop_(stop) {}
    Result<LeaseSnapshot> Get() override { return inner_.Get(); }
    Result<LeaseSnapshot> Create(const LeaderElectionRecord& r) override {
      auto created = inner_.Create(r);
      stop_.Cancel();
      return created;
    }
    Result<LeaseSnapshot> Update(const LeaderElectionRecord& r, const std::string& rv) override {
      return inner_.Update(r, rv);
    }
    std::string Describe() const override { return "stopping"; }

   private:
    FakeLeaseStore& inner_;
    CancelFlag& stop_;
  } stopping(store_, stop);
  LeaderElector a(stopping, Config("a"), Callbacks("a"), clock_);
  a.Run(stop);
  EXPECT_FALSE(a.IsLeader());
  EXPECT_EQ(store_.record().holder_identity, "");  // Released, not left to expire.
  EXPECT_THAT(events_, Not(Contains("a started")));

  // With release_on_cancel off the Lease is kept (as configured), still unled.
  FakeLeaseStore kept_store;
  CancelFlag stop2;
  StoppingStore stopping2(kept_store, stop2);
  LeaderElectionConfig keep = Config("b");
  keep.release_on_cancel = false;
  LeaderElector b(stopping2, keep, Callbacks("b"), clock_);
  b.Run(stop2);
  EXPECT_FALSE(b.IsLeader());
  EXPECT_EQ(kept_store.record().holder_identity, "b");
}

TEST_F(ElectorTest, RunStopsLeadingWhenRenewalsFailPastTheDeadline) {
  LeaderElectionConfig config = Config("a");
  bool was_leader_and_writable = false;
  bool fenced_before_expiry = false;
  LeaderElector* self = nullptr;
  config.wait = [&](std::chrono::milliseconds d, const CancelToken&) {
    if (self->IsLeader() && self->CanWrite()) {
      was_leader_and_writable = true;
      store_.fail_writes = true;  // The API server stops accepting renewals.
    }
    clock_.Advance(d);
    // Writes stop no later than the renew deadline after the last renewal,
    // well before another candidate could see the lease expire (15 s).
    if (self->IsLeader() && !self->CanWrite()) fenced_before_expiry = true;
  };
  CancelFlag stop;
  LeaderElector a(store_, config, Callbacks("a"), clock_);
  self = &a;
  a.Run(stop);  // Returns on its own: leadership lost.
  EXPECT_TRUE(was_leader_and_writable);
  EXPECT_FALSE(a.IsLeader());
  EXPECT_FALSE(a.CanWrite());
  EXPECT_FALSE(a.Fence().ok());
  EXPECT_TRUE(fenced_before_expiry);
  EXPECT_THAT(events_, ElementsAre("a sees a", "a started", "a stopped"));
}

TEST_F(ElectorTest, FencingFollowsTheLastSuccessfulRenewal) {
  LeaderElectionConfig config = Config("a");
  CancelFlag stop;
  LeaderElector* self = nullptr;
  int waits = 0;
  std::vector<bool> writable;
  config.wait = [&](std::chrono::milliseconds d, const CancelToken&) {
    ++waits;
    if (waits == 1) {
      writable.push_back(self->CanWrite());  // Just renewed.
      clock_.Advance(9999ms);                // The renew loop stalls...
      writable.push_back(self->CanWrite());
      clock_.Advance(1ms);  // ...past the renew deadline.
      writable.push_back(self->CanWrite());
      writable.push_back(self->IsLeader());
      stop.Cancel();
      return;
    }
    clock_.Advance(d);
  };
  LeaderElector a(store_, config, Callbacks("a"), clock_);
  self = &a;
  a.Run(stop);
  EXPECT_THAT(writable, ElementsAre(true, true, false, true));
}

TEST_F(ElectorTest, ReadFailuresDoNotAcquire) {
  store_.fail_reads = true;
  LeaderElector a(store_, Config("a"), Callbacks("a"), clock_);
  EXPECT_FALSE(a.TryAcquireOrRenew());
  EXPECT_EQ(store_.writes, 0);
}

TEST(LeaseJsonTest, ParsesSpec) {
  auto lease = ParseLease(R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease",
    "metadata":{"name":"nodeguard","namespace":"ng","resourceVersion":"812"},
    "spec":{"holderIdentity":"pod-a_1","leaseDurationSeconds":15,"leaseTransitions":3,
            "acquireTime":"2026-11-27T14:31:39.123456Z","renewTime":"2026-11-27T14:32:00.000000Z"}})");
  ASSERT_TRUE(lease.ok()) << lease.error().ToString();
  EXPECT_EQ(lease->resource_version, "812");
  EXPECT_EQ(lease->record.holder_identity, "pod-a_1");
  EXPECT_EQ(lease->record.lease_duration_seconds, 15);
  EXPECT_EQ(lease->record.lease_transitions, 3);
  EXPECT_EQ(FormatRfc3339Micro(lease->record.acquire_time), "2026-11-27T14:31:39.123456Z");
  EXPECT_EQ(FormatRfc3339(lease->record.renew_time), "2026-11-27T14:32:00Z");

  auto empty_spec = ParseLease(R"({"metadata":{"resourceVersion":"1"},"spec":{}})");
  ASSERT_TRUE(empty_spec.ok());
  EXPECT_EQ(empty_spec->record.holder_identity, "");
  EXPECT_FALSE(ParseLease("{not json").ok());
  EXPECT_FALSE(ParseLease(R"({"metadata":{},"spec":{"renewTime":"yesterday"}})").ok());
}

}  // namespace
}  // namespace nodeguard::kube

namespace nodeguard::kube {
namespace {

// A hung or failing API server must not hold a renewal past the renew
// deadline: the REST Lease store makes one attempt per call, bounded by its
// request timeout, and leaves retrying to the elector.
TEST(RestLeaseStoreTest, EachCallIsOneAttemptBoundedByTheRequestTimeout) {
  testing::FakeHttpClient http;
  RestOptions rest_options;
  rest_options.sleep = [](std::chrono::milliseconds) {};  // Retries would not sleep either.
  RestClient rest(http, rest_options);
  auto store =
      MakeRestLeaseStore(rest, "nodeguard-system", "nodeguard", std::chrono::milliseconds(5'000));
  http.SetHandler([](const HttpRequest&) {
    return testing::FakeHttpClient::Respond(503, R"({"kind":"Status","code":503})");
  });

  EXPECT_FALSE(store->Get().ok());
  LeaderElectionRecord record;
  record.holder_identity = "a";
  record.lease_duration_seconds = 15;
  EXPECT_FALSE(store->Create(record).ok());
  EXPECT_FALSE(store->Update(record, "7").ok());

  const std::vector<HttpRequest> sent = http.requests();
  ASSERT_EQ(sent.size(), 3u) << "a 503 is retried by default; the Lease store must not";
  EXPECT_EQ(sent[0].method, "GET");
  EXPECT_EQ(sent[1].method, "POST");
  EXPECT_EQ(sent[2].method, "PUT");
  for (const auto& request : sent) {
    EXPECT_EQ(request.timeout, std::chrono::milliseconds(5'000)) << request.method;
  }
}

}  // namespace
}  // namespace nodeguard::kube
