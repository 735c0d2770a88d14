#pragma once

// Leader election on a coordination.k8s.io/v1 Lease, with client-go's
// semantics (leaderelection.LeaderElector with a LeaseLock):
//   - defaults: lease 15 s, renew deadline 10 s, retry period 2 s;
//   - a candidate judges another holder's lease expired from the LOCAL time at
//     which it last saw the lease record change, plus the record's duration,
//     never from the server's (or the holder's) timestamps, so clock skew
//     between machines cannot make two leaders;
//   - acquire and renew are updates carrying the resourceVersion read: a
//     conflict means another candidate won the race;
//   - on clean shutdown the leader releases the lease (empty holder, 1 s
//     duration) so a successor takes over at once (ReleaseOnCancel);
//   - losing leadership stops writes immediately: IsLeader() turns false and
//     CanWrite() additionally turns false as soon as the last successful
//     renewal is older than the renew deadline, even if the renew loop itself
//     is stuck. Every write path checks CanWrite() (or Fence()) first.
//
// The decision (DecideLease) is a pure function; LeaderElector does the I/O
// through the LeaseStore seam.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "kube/http.h"

namespace nodeguard::kube {

class RestClient;

// The Lease spec fields leader election reads and writes.
struct LeaderElectionRecord {
  std::string holder_identity;
  int32_t lease_duration_seconds = 0;
  WallTime acquire_time{};
  WallTime renew_time{};
  int32_t lease_transitions = 0;
  friend bool operator==(const LeaderElectionRecord&, const LeaderElectionRecord&) = default;
};

struct LeaseSnapshot {
  LeaderElectionRecord record;
  std::string resource_version;
};

// The Lease object. Implementations are thread-safe.
class LeaseStore {
 public:
  virtual ~LeaseStore() = default;
  virtual Result<LeaseSnapshot> Get() = 0;  // kNotFound when there is no Lease.
  virtual Result<LeaseSnapshot> Create(const LeaderElectionRecord& record) = 0;
  // REQUIRES: resource_version from the last Get/Create/Update. Stale: kConflict.
  virtual Result<LeaseSnapshot> Update(const LeaderElectionRecord& record,
                                       const std::string& resource_version) = 0;
  virtual std::string Describe() const = 0;  // "lease nodeguard-system/nodeguard".
};

// A LeaseStore on the API server. Each call is one attempt of at most
// `request_timeout` (no retries: the elector retries); give it half the renew
// deadline, so a read and a write fit in it.
std::unique_ptr<LeaseStore> MakeRestLeaseStore(
    RestClient& rest, std::string namespace_, std::string name,
    std::chrono::milliseconds request_timeout = std::chrono::milliseconds(5'000));

// Lease JSON <-> record (exposed for tests).
Result<LeaseSnapshot> ParseLease(std::string_view json);

// ------------------------------------------------------------ the decision

// What this candidate last saw of the record, and when (local monotonic time).
struct LeaseObservation {
  std::optional<LeaderElectionRecord> record;  // nullopt: nothing seen yet.
  MonoTime observed_at{};
};

enum class LeaseAction {
  kCreate,   // No Lease exists: create it holding it.
  kAcquire,  // Free or expired: take it over (update).
  kRenew,    // We hold it: renew (update).
  kWait,     // Another holder's lease is still valid.
};
const char* LeaseActionName(LeaseAction action);

struct LeaseDecision {
  LeaseAction action = LeaseAction::kWait;
  LeaderElectionRecord desired;  // What to write, unless kWait.
  LeaseObservation observation;  // The updated observation to keep.
};

// `current` is the Lease as just read (nullopt: NotFound). A record different
// from the observed one restarts the expiry clock at `now`.
LeaseDecision DecideLease(const std::optional<LeaderElectionRecord>& current,
                          const LeaseObservation& observed, const std::string& identity,
                          MonoTime now, WallTime wall_now, std::chrono::seconds lease_duration);

// The record a leader writes to give the lease up.
LeaderElectionRecord ReleasedRecord(const LeaderElectionRecord& held, WallTime wall_now);

// ------------------------------------------------------------ the elector

struct LeaderElectionConfig {
  std::string identity;  // Unique per candidate: pod name + a random suffix.
  std::chrono::seconds lease_duration{15};
  std::chrono::milliseconds renew_deadline{10'000};
  std::chrono::milliseconds retry_period{2'000};
  bool release_on_cancel = true;
  // Waits between attempts until the duration passes or `stop` fires;
  // injectable so tests advance a FakeClock instead of sleeping.
  std::function<void(std::chrono::milliseconds, const CancelToken& stop)> wait;
};

// Callbacks run on the thread calling Run; they must not block for long
// (start the controller's own threads in on_started_leading).
struct LeaderCallbacks {
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  std::function<void(const std::string& identity)> on_new_leader;
};

class LeaderElector {
 public:
  // REQUIRES: config.identity non-empty; renew_deadline < lease_duration;
  // retry_period < renew_deadline.
  LeaderElector(LeaseStore& store, LeaderElectionConfig config, LeaderCallbacks callbacks,
                const Clock& clock = RealClock::Instance());

  // Acquires (retrying every retry period), then leads while renewing.
  // Returns when leadership is lost (renew deadline passed) or `stop` fires
  // (then the lease is released if configured). Callers usually exit the
  // process after losing leadership, as client-go controllers do.
  void Run(const CancelToken& stop);

  // One acquire-or-renew attempt; true if we hold the lease afterwards.
  bool TryAcquireOrRenew();
  // Gives the lease up if we hold it.
  Status Release();

  bool IsLeader() const { return is_leader_.load(std::memory_order_acquire); }
  // IsLeader() and the last successful renewal younger than renew_deadline.
  bool CanWrite() const;
  // Ok if CanWrite(), else kUnavailable "not the leader": for write paths.
  Status Fence() const;
  // The holder last observed ("" if none).
  std::string CurrentLeader() const;

 private:
  void Wait(std::chrono::milliseconds d, const CancelToken& stop);
  void SetLeader(bool leader);
  // Release() when config_.release_on_cancel, logging a failure (the Lease
  // then expires on its own).
  void ReleaseOnStop();

  LeaseStore& store_;
  const LeaderElectionConfig config_;
  const LeaderCallbacks callbacks_;
  const Clock& clock_;

  std::atomic<bool> is_leader_{false};
  // Monotonic nanoseconds at the start of the last successful acquire/renew.
  std::atomic<int64_t> last_renew_ns_{0};

  mutable std::mutex mu_;
  LeaseObservation observation_;  // Guarded by mu_.
  std::string resource_version_;  // Guarded by mu_.
  std::string reported_leader_;   // Guarded by mu_.
};

}  // namespace nodeguard::kube
