#pragma once

// StatusWriter: the single writer of NodeHealthPolicy status.
//
// Density, remediation and hygiene each own some fields of a policy's status;
// they mutate a shared desired status through Update(), and the writer
// coalesces: at most one write per policy per `min_interval`, only when the
// desired status differs from what the server holds, through the status
// subresource with the object's resourceVersion (optimistic concurrency). A
// conflict is retried on the next flush with the resourceVersion the policy
// informer has seen by then.
//
// Crash-only: the desired status of a policy starts from the status the
// server holds (Observe), so conditions keep their lastTransitionTime across
// restarts and leader changes.

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "api/types.h"
#include "common/clock.h"
#include "common/result.h"

namespace nodeguard::runtime {

// The I/O seam: PUT .../nodehealthpolicies/NAME/status.
class StatusApi {
 public:
  virtual ~StatusApi() = default;
  // Returns the new resourceVersion; kConflict when resource_version is stale.
  virtual Result<std::string> WriteStatus(const std::string& policy,
                                          const std::string& resource_version,
                                          const api::NodeHealthPolicyStatus& status) = 0;
};

struct StatusWriterStats {
  int64_t writes = 0;
  int64_t conflicts = 0;
  int64_t errors = 0;
};

// Thread-safe: reconcilers call Update/Observe from their workers while one
// loop calls Flush.
class StatusWriter {
 public:
  StatusWriter(StatusApi& api, const Clock& clock,
               std::chrono::milliseconds min_interval = std::chrono::seconds(1));

  // Records what the server holds (from the policy informer). Seeds the
  // desired status the first time a policy is seen.
  void Observe(const api::NodeHealthPolicy& policy);
  // The policy was deleted.
  void Forget(const std::string& policy);

  // Applies `mutate` to the desired status of `policy`. Ignored for a policy
  // not observed yet; returns false in that case. REQUIRES: Observe is wired
  // to the policy informer before any reconciler's handler (handlers run in
  // registration order), so no reconcile runs for a policy not observed.
  bool Update(const std::string& policy,
              const std::function<void(api::NodeHealthPolicyStatus&)>& mutate);

  // Drops every desired change not yet written and starts again from what
  // the server holds. Call on becoming the leader, before any reconciler
  // runs: a standby's desired status was seeded when it first saw each
  // policy (often before the previous leader wrote anything) and would
  // otherwise overwrite the previous leader's status with that stale copy
  // (observedGeneration going back, conditions restarting their
  // lastTransitionTime, other reconcilers' fields lost).
  void ResetToObserved();

  // A copy of the desired status, if the policy is known.
  std::optional<api::NodeHealthPolicyStatus> Desired(const std::string& policy) const;

  // Writes every policy whose desired status changed and whose interval has
  // passed. Returns how long until the next write may be due (for the loop's
  // sleep), or nullopt when nothing is pending.
  std::optional<std::chrono::milliseconds> Flush();

  StatusWriterStats stats() const;

 private:
  struct Entry {
    api::NodeHealthPolicyStatus desired;
    api::NodeHealthPolicyStatus observed;
    std::string resource_version;  // Of the observed object, or of our last write.
    std::optional<api::NodeHealthPolicyStatus> last_written;
    MonoTime last_write_at{};
    bool wrote_once = false;
  };
  bool Pending(const Entry& e) const;

  StatusApi& api_;
  const Clock& clock_;
  const std::chrono::milliseconds min_interval_;

  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // Guarded by mu_.
  StatusWriterStats stats_;               // Guarded by mu_.
};

}  // namespace nodeguard::runtime
