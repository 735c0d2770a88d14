#include "kube/leader_election.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "common/time.h"
#include "kube/rest.h"

namespace nodeguard::kube {
namespace {

using nlohmann::json;

bool HasHolder(const LeaderElectionRecord& r) { return !r.holder_identity.empty(); }

json RecordToSpec(const LeaderElectionRecord& r) {
  json spec = {{"holderIdentity", r.holder_identity},
               {"leaseDurationSeconds", r.lease_duration_seconds},
               {"leaseTransitions", r.lease_transitions}};
  if (r.acquire_time != WallTime{}) spec["acquireTime"] = FormatRfc3339Micro(r.acquire_time);
  if (r.renew_time != WallTime{}) spec["renewTime"] = FormatRfc3339Micro(r.renew_time);
  return spec;
}

class RestLeaseStore final : public LeaseStore {
 public:
  RestLeaseStore(RestClient& rest, std::string lease_namespace, std::string name,
                 std::chrono::milliseconds request_timeout)
      : rest_(rest),
        path_(GroupResource("coordination.k8s.io", "v1", "leases", lease_namespace)),
        lease_namespace_(std::move(lease_namespace)),
        name_(std::move(name)) {
    // One bounded attempt per call: the elector retries every retry period
    // itself, and a renewal that hangs must not outlive the renew deadline
    // (client-go bounds its renew loop by it), or losing the Lease would be
    // noticed only after the client's own timeouts and retries.
    call_.retry = false;
    call_.timeout = request_timeout;
  }

  Result<LeaseSnapshot> Get() override {
    GetOptions options;
    options.call = call_;
    auto body = rest_.Get(path_, name_, options);
    if (!body.ok()) return body.error();
    return ParseLease(body.value());
  }

  Result<LeaseSnapshot> Create(const LeaderElectionRecord& record) override {
    json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", name_}, {"namespace", lease_namespace_}}},
                  {"spec", RecordToSpec(record)}};
    auto body = rest_.Create(path_, lease.dump(), Write());
    if (!body.ok()) return body.error();
    return ParseLease(body.value());
  }

  Result<LeaseSnapshot> Update(const LeaderElectionRecord& record,
                               const std::string& resource_version) override {
    json lease = {
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata",
         {{"name", name_}, {"namespace", lease_namespace_}, {"resourceVersion", resource_version}}},
        {"spec", RecordToSpec(record)}};
    auto body = rest_.Update(path_, name_, lease.dump(), Write());
    if (!body.ok()) return body.error();
    return ParseLease(body.value());
  }

  std::string Describe() const override { return "lease " + lease_namespace_ + "/" + name_; }

 private:
  WriteOptions Write() const {
    WriteOptions options;
    options.call = call_;
    return options;
  }

  RestClient& rest_;
  CallOptions call_;
  const ResourcePath path_;
  const std::string lease_namespace_;
  const std::string name_;
};

void DefaultWait(std::chrono::milliseconds d, const CancelToken& stop) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (!stop.cancelled()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) return;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::milliseconds(20)));
  }
}

// client-go waits retry_period * [1, 1.2) between attempts so candidates spread out.
std::chrono::milliseconds Jittered(std::chrono::milliseconds d) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> factor(1.0, 1.2);
  return std::chrono::milliseconds(
      static_cast<int64_t>(static_cast<double>(d.count()) * factor(rng)));
}

}  // namespace

std::unique_ptr<LeaseStore> MakeRestLeaseStore(RestClient& rest, std::string namespace_,
                                               std::string name,
                                               std::chrono::milliseconds request_timeout) {
  return std::make_unique<RestLeaseStore>(rest, std::move(namespace_), std::move(name),
                                          request_timeout);
}

Result<LeaseSnapshot> ParseLease(std::string_view text) {
  LeaseSnapshot out;
  try {
    const json doc = json::parse(text);
    out.resource_version = doc.at("metadata").value("resourceVersion", "");
    const json spec = doc.value("spec", json::object());
    LeaderElectionRecord& r = out.record;
    r.holder_identity = spec.value("holderIdentity", "");
    r.lease_duration_seconds = spec.value("leaseDurationSeconds", 0);
    r.lease_transitions = spec.value("leaseTransitions", 0);
    for (auto [key, field] :
         {std::pair{"acquireTime", &r.acquire_time}, std::pair{"renewTime", &r.renew_time}}) {
      const auto it = spec.find(key);
      if (it == spec.end() || !it->is_string()) continue;
      auto t = ParseRfc3339(it->get<std::string>());
      if (!t.ok()) return Error::Invalid(std::string("lease ") + key + ": " + t.error().message);
      *field = t.value();
    }
  } catch (const json::exception& e) {
    return Error::Invalid(std::string("lease: ") + e.what());
  }
  return out;
}

const char* LeaseActionName(LeaseAction action) {
  switch (action) {
    case LeaseAction::kCreate:
      return "create";
    case LeaseAction::kAcquire:
      return "acquire";
    case LeaseAction::kRenew:
      return "renew";
    case LeaseAction::kWait:
      return "wait";
  }
  return "unknown";
}

LeaseDecision DecideLease(const std::optional<LeaderElectionRecord>& current,
                          const LeaseObservation& observed, const std::string& identity,
                          MonoTime now, WallTime wall_now, std::chrono::seconds lease_duration) {
  LeaseDecision d;
  d.observation = observed;
  LeaderElectionRecord mine;
  mine.holder_identity = identity;
  mine.lease_duration_seconds = static_cast<int32_t>(lease_duration.count());
  mine.acquire_time = wall_now;
  mine.renew_time = wall_now;
  if (!current) {
    d.action = LeaseAction::kCreate;
    d.desired = mine;
    return d;
  }
  if (!observed.record || !(*observed.record == *current)) {
    d.observation = LeaseObservation{current, now};  // The expiry clock restarts.
  }
  const bool held_by_other = HasHolder(*current) && current->holder_identity != identity;
  const auto expires =
      d.observation.observed_at + std::chrono::seconds(current->lease_duration_seconds);
  if (held_by_other && now < expires) {
    d.action = LeaseAction::kWait;
    return d;
  }
  d.desired = mine;
  if (current->holder_identity == identity) {
    d.action = LeaseAction::kRenew;
    d.desired.acquire_time = current->acquire_time;
    d.desired.lease_transitions = current->lease_transitions;
  } else {
    d.action = LeaseAction::kAcquire;
    d.desired.lease_transitions = current->lease_transitions + 1;
  }
  return d;
}

LeaderElectionRecord ReleasedRecord(const LeaderElectionRecord& held, WallTime wall_now) {
  LeaderElectionRecord r;
  r.lease_duration_seconds = 1;
  r.acquire_time = wall_now;
  r.renew_time = wall_now;
  r.lease_transitions = held.lease_transitions;
  return r;
}

LeaderElector::LeaderElector(LeaseStore& store, LeaderElectionConfig config,
                             LeaderCallbacks callbacks, const Clock& clock)
    : store_(store), config_(std::move(config)), callbacks_(std::move(callbacks)), clock_(clock) {}

bool LeaderElector::TryAcquireOrRenew() {
  const MonoTime start = clock_.Monotonic();
  auto got = store_.Get();
  if (!got.ok() && !got.error().Is(ErrorKind::kNotFound)) {
    spdlog::warn("leader election: reading {}: {}", store_.Describe(), got.error().ToString());
    return false;
  }
  std::optional<LeaderElectionRecord> current;
  if (got.ok()) current = got->record;

  LeaseDecision decision;
  std::string new_leader;
  {
    std::lock_guard lock(mu_);
    decision = DecideLease(current, observation_, config_.identity, start, clock_.Now(),
                           config_.lease_duration);
    observation_ = decision.observation;
    if (got.ok()) resource_version_ = got->resource_version;
    if (current && current->holder_identity != reported_leader_ && HasHolder(*current)) {
      reported_leader_ = current->holder_identity;
      new_leader = reported_leader_;
    }
  }
  if (!new_leader.empty() && callbacks_.on_new_leader) callbacks_.on_new_leader(new_leader);
  if (decision.action == LeaseAction::kWait) return false;

  Result<LeaseSnapshot> written =
      decision.action == LeaseAction::kCreate
          ? store_.Create(decision.desired)
          : store_.Update(decision.desired, got.ok() ? got->resource_version : "");
  if (!written.ok()) {
    // A conflict or AlreadyExists: another candidate wrote first.
    spdlog::info("leader election: {} {} failed: {}", LeaseActionName(decision.action),
                 store_.Describe(), written.error().ToString());
    return false;
  }
  {
    std::lock_guard lock(mu_);
    observation_ = LeaseObservation{written->record, start};
    resource_version_ = written->resource_version;
    if (reported_leader_ != config_.identity) {
      reported_leader_ = config_.identity;
      new_leader = config_.identity;
    } else {
      new_leader.clear();
    }
  }
  last_renew_ns_.store(start.time_since_epoch().count(), std::memory_order_release);
  if (!new_leader.empty() && callbacks_.on_new_leader) callbacks_.on_new_leader(new_leader);
  return true;
}

bool LeaderElector::CanWrite() const {
  if (!IsLeader()) return false;
  const MonoTime last{MonoTime::duration(last_renew_ns_.load(std::memory_order_acquire))};
  return clock_.Monotonic() < last + config_.renew_deadline;
}

Status LeaderElector::Fence() const {
  if (CanWrite()) return Status::Ok();
  return Error::Unavailable("not the leader of " + store_.Describe() + " (identity " +
                            config_.identity + ")");
}

std::string LeaderElector::CurrentLeader() const {
  std::lock_guard lock(mu_);
  return observation_.record ? observation_.record->holder_identity : "";
}

void LeaderElector::SetLeader(bool leader) { is_leader_.store(leader, std::memory_order_release); }

void LeaderElector::Wait(std::chrono::milliseconds d, const CancelToken& stop) {
  if (config_.wait) {
    config_.wait(d, stop);
  } else {
    DefaultWait(d, stop);
  }
}

Status LeaderElector::Release() {
  LeaderElectionRecord held;
  std::string rv;
  {
    std::lock_guard lock(mu_);
    if (!observation_.record || observation_.record->holder_identity != config_.identity) {
      return Status::Ok();  // Not ours to release.
    }
    held = *observation_.record;
    rv = resource_version_;
  }
  SetLeader(false);
  auto written = store_.Update(ReleasedRecord(held, clock_.Now()), rv);
  if (!written.ok()) return written.error();
  std::lock_guard lock(mu_);
  observation_ = LeaseObservation{written->record, clock_.Monotonic()};
  resource_version_ = written->resource_version;
  return Status::Ok();
}

void LeaderElector::ReleaseOnStop() {
  if (!config_.release_on_cancel) return;
  if (Status s = Release(); !s.ok()) {
    spdlog::warn("leader election: releasing {}: {}", store_.Describe(), s.error().ToString());
  }
}

void LeaderElector::Run(const CancelToken& stop) {
  spdlog::info("leader election: {} contending for {}", config_.identity, store_.Describe());
  bool acquired = false;
  while (!stop.cancelled()) {
    if ((acquired = TryAcquireOrRenew())) break;
    Wait(Jittered(config_.retry_period), stop);
  }
  if (!acquired) return;
  if (stop.cancelled()) {
    // Stopped while the acquiring write was in flight: we hold a Lease we
    // will never use, and keeping it would stall the standby until expiry.
    SetLeader(false);
    ReleaseOnStop();
    return;
  }
  SetLeader(true);
  spdlog::info("leader election: {} became leader of {}", config_.identity, store_.Describe());
  if (callbacks_.on_started_leading) callbacks_.on_started_leading();

  bool lost = false;
  while (!stop.cancelled()) {
    Wait(config_.retry_period, stop);
    if (stop.cancelled()) break;
    // Retry every retry period until the renew deadline since the last success.
    bool renewed = false;
    while (!stop.cancelled()) {
      if (TryAcquireOrRenew()) {
        renewed = true;
        break;
      }
      if (!CanWrite()) break;  // The renew deadline has passed.
      const std::string holder = CurrentLeader();
      if (!holder.empty() && holder != config_.identity) break;  // Someone else holds it.
      Wait(config_.retry_period, stop);
    }
    if (!renewed && !stop.cancelled()) {
      lost = true;
      break;
    }
  }
  SetLeader(false);
  if (lost) {
    spdlog::error("leader election: {} lost {} (not renewed within {} ms)", config_.identity,
                  store_.Describe(), config_.renew_deadline.count());
  } else {
    ReleaseOnStop();
  }
  if (callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
}

}  // namespace nodeguard::kube
