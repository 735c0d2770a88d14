#pragma once

// The waiting half of a drain, as kubectl's evictPods/waitForDelete does it,
// as a deterministic state machine: the runtime sends the evictions it is
// told to, feeds back each eviction's result and what it observes of each pod,
// and asks again. No clock, no I/O, no threads: `now` is always an argument.
//
// Per pod: evict -> 200/201: wait until the pod is gone or its UID changed;
// 404: done; 429 (a PodDisruptionBudget forbids it now, or throttling): retry
// after 5 s; 403 NamespaceTerminating: wait for deletion if the pod is already
// terminating, else retry; 5xx/transport: retry after 5 s (kubectl gives up
// on that pod; a controller outlives transient errors, and the drain timeout
// still bounds it); any other error: that pod fails and the drain ends Failed
// once nothing else is pending. A pod still present but terminating for
// longer than skipWaitForDeleteTimeout counts as done (kubectl's rule, from
// its deletionTimestamp). While the node is not Ready (OnNodeObserved), an
// evicted pod counts as done once it has been terminating for
// notReadySkipWaitForDeleteTimeout since the drain saw it so, whatever its
// grace period: a kubelet that is not Ready does not sync pods, and only the
// remediation this drain makes way for lets it finish them. The whole drain
// ends TimedOut at started + timeout (timeout 0: no limit), listing the pods
// still blocked and by which PDB.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "common/result.h"

namespace nodeguard::remediation {

inline constexpr Duration kEvictionRetryDelay = std::chrono::seconds(5);

enum class EvictionOutcome : uint8_t {
  kAccepted,              // 200/201.
  kNotFound,              // 404: the pod is already gone.
  kTooManyRequests,       // 429: a PDB forbids it now (pdb_name set) or the server throttles.
  kNamespaceTerminating,  // 403 with cause NamespaceTerminating.
  kRetryable,             // 5xx, transport failure, request timeout.
  kFatal,                 // Anything else (400, 403, 422, ...).
};

struct EvictionResult {
  EvictionOutcome outcome = EvictionOutcome::kAccepted;
  std::string message;   // The API's message, for reports.
  std::string pdb_name;  // For kTooManyRequests from a PDB; empty otherwise.
};

// Maps an API error from POST .../pods/<name>/eviction. `pdb_cause_message`
// is Status.details.causes[type=DisruptionBudget].message when present
// ("The disruption budget web-pdb needs 2 healthy pods and has 2 currently");
// `namespace_terminating` is true when a cause of type NamespaceTerminating
// is present.
EvictionResult ClassifyEvictionError(const Error& error, std::string_view pdb_cause_message = {},
                                     bool namespace_terminating = false);

// "web-pdb" from "The disruption budget web-pdb needs ..."; empty if absent.
std::string PdbNameFromCause(std::string_view cause_message);

// What the runtime sees of a pod (from its cache or a GET).
struct ObservedPod {
  std::string uid;
  WallTime deletion_timestamp{};  // Epoch: not terminating.
};

struct DrainPodRef {
  std::string namespace_;
  std::string name;
  std::string uid;
};

enum class DrainPodState : uint8_t {
  kToEvict,           // Eviction not sent yet, or due again.
  kEvicting,          // Eviction sent; result not reported yet.
  kBlocked,           // 429: retry at retry_at.
  kRetrying,          // Transient error or terminating namespace: retry at retry_at.
  kWaitingForDelete,  // Evicted; waiting for the pod to disappear.
  kDone,              // Gone, replaced (new UID), or 404.
  kSkipped,           // Terminating longer than skipWaitForDeleteTimeout.
  kFailed,            // A fatal eviction error.
};
const char* DrainPodStateName(DrainPodState s);

struct DrainPodProgress {
  DrainPodRef pod;
  DrainPodState state = DrainPodState::kToEvict;
  WallTime retry_at{};
  std::string pdb_name;  // Last PDB that blocked it.
  std::string message;   // Last error message.
  int evictions_sent = 0;
  bool block_reported = false;  // A "blocked by PDB" Event was already asked for.
  WallTime deletion_timestamp{};
  WallTime terminating_seen_at{};  // When this drain first knew it terminating (epoch: not yet).
};

enum class DrainResultKind : uint8_t { kRunning, kSucceeded, kTimedOut, kFailed };
const char* DrainResultKindName(DrainResultKind k);

struct BlockedPod {
  std::string pod;  // "ns/name"
  std::string pdb_name;
  std::string message;
  friend bool operator==(const BlockedPod&, const BlockedPod&) = default;
};

struct DrainResult {
  DrainResultKind kind = DrainResultKind::kRunning;
  int evicted = 0;  // Done.
  int skipped = 0;
  std::vector<BlockedPod> blocked;  // kTimedOut: pods that were still pending.
  std::vector<std::string> errors;  // kFailed: "ns/name: message".
  // "drained 12 pods (1 skipped)" / "drain timed out; still pending:
  // default/web-1 (PodDisruptionBudget web-pdb)" / "drain failed; ...". The
  // pods and the errors each take at most kSummaryListBytes ("a, b and 97
  // more"): the summary ends up in status messages (4 KiB) and Events (1 KiB),
  // which would otherwise cut the count off.
  std::string Summary() const;
  static constexpr size_t kSummaryListBytes = 600;
};

// What the runtime should do now.
struct DrainStep {
  std::vector<size_t> evict;          // Send an eviction for these pods now (parallel is fine).
  std::vector<size_t> newly_blocked;  // Emit one Event each (pod blocked, with the PDB's name).
  std::optional<WallTime> wake_at;    // Call Next again then (earliest retry, skip or deadline).
  DrainResult result;                 // kRunning until the drain has ended.
};

// Value type; copyable so tests and the runtime can checkpoint it.
class DrainTracker {
 public:
  // `started` anchors the timeout: pass the phase's start from the
  // remediation state so a restarted controller keeps the original deadline.
  DrainTracker(std::vector<DrainPodRef> pods, WallTime started, Duration timeout,
               Duration skip_wait_for_delete_timeout,
               Duration not_ready_skip_wait_for_delete_timeout = Duration(0),
               Duration retry_delay = kEvictionRetryDelay);

  // Decides what is due at `now`. Pods returned in `evict` move to kEvicting
  // until OnEvictionResult; calling Next again never returns them twice.
  DrainStep Next(WallTime now);

  // REQUIRES: index < pods().size().
  void OnEvictionResult(size_t index, const EvictionResult& result, WallTime now);
  // `pod` is nullopt when the pod no longer exists.
  void OnPodObserved(size_t index, const std::optional<ObservedPod>& pod, WallTime now);
  // Whether the node's Ready condition is True now. Until told otherwise the
  // node is taken as Ready (kubectl's semantics).
  void OnNodeObserved(bool ready) { node_ready_ = ready; }

  const std::vector<DrainPodProgress>& pods() const { return pods_; }
  std::optional<WallTime> deadline() const { return deadline_; }

 private:
  bool Finished(const DrainPodProgress& p) const;
  bool SkipDue(const DrainPodProgress& p, WallTime now) const;
  DrainResult Tally(DrainResultKind kind) const;

  std::vector<DrainPodProgress> pods_;
  std::optional<WallTime> deadline_;
  Duration skip_wait_;
  Duration not_ready_skip_wait_;
  Duration retry_delay_;
  bool node_ready_ = true;
  std::optional<DrainResultKind> ended_;
};

}  // namespace nodeguard::remediation
