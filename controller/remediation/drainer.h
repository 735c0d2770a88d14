#pragma once

// The drain executor: carries out a remediation's StartDrain intent the way
// `kubectl drain` does, in a background thread per node, and reports back
// the DrainObservation the decide step reads (remediation/decide.h).
//
//   list the node's pods (fieldSelector spec.nodeName, labelSelector from
//   drain.podSelector) -> PlanDrain (kubectl's filters; any error aborts
//   before a single eviction) -> evictions in parallel (bounded) ->
//   DrainTracker: 429 retried every 5 s, wait until each pod is gone or its
//   UID changed, skipWaitForDeleteTimeout (on a node that is not Ready:
//   notReadySkipWaitForDeleteTimeout), the drain deadline.
//
// Events on the node: the start (pods to evict, kubectl's warnings), each
// newly blocked pod with the PodDisruptionBudget's name, and a drain that
// timed out or failed. A successful drain emits nothing here: the decide
// step's `Drained` Event (with this drain's summary) says it once, when the
// remediation moves on.
//
// Nothing here survives a restart on purpose: the decide step sees
// kNotRunning for a remediation still in Draining and issues StartDrain
// again; a new drain lists what is left on the node and keeps the original
// deadline. Evicting is idempotent (an evicted pod is gone or terminating).
// A drain stopped by the leader fence reports kNotRunning, so the decide
// step starts it again once this process leads (or another one does).

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/types.h"
#include "common/clock.h"
#include "common/result.h"
#include "kube/events.h"
#include "kube/objects.h"
#include "kube/rest.h"
#include "kube/store.h"
#include "remediation/decide.h"
#include "remediation/drain_filter.h"
#include "remediation/drain_progress.h"

namespace nodeguard::runtime {

// The I/O a drain needs; RestDrainApi is the real one, tests substitute fakes.
// Implementations are thread-safe (evictions run in parallel).
class DrainApi {
 public:
  virtual ~DrainApi() = default;
  // The pods bound to `node`, only those matching `selector` when it is not
  // empty (kubectl lists with --pod-selector the same way).
  virtual Result<std::vector<kube::Pod>> ListPods(const std::string& node,
                                                  const api::LabelSelector& selector) = 0;
  // POST policy/v1 Eviction for this incarnation of the pod. Success is
  // EvictionOutcome::kAccepted; errors are classified (ClassifyEvictionError).
  virtual remediation::EvictionResult Evict(const remediation::DrainPodRef& pod,
                                            std::optional<int64_t> grace_period_seconds) = 0;
  // The pod as it is now, nullopt when it no longer exists. An Error means
  // "cannot tell now" (the drain keeps waiting).
  virtual Result<std::optional<remediation::ObservedPod>> GetPod(
      const remediation::DrainPodRef& pod) = 0;
  // Whether the node's Ready condition is True now (false when unknown).
  virtual bool NodeReady(const std::string& node) = 0;
};

// The label selector in the API's query syntax: "a=b,c in (d,e),f notin (g),h,!i".
std::string LabelSelectorString(const api::LabelSelector& selector);

// DrainApi over the REST client. GetPod answers from the pod informer's
// store and confirms an absence with a GET (the store may lag a fresh pod);
// NodeReady reads the node informer's store.
class RestDrainApi final : public DrainApi {
 public:
  RestDrainApi(kube::RestClient& rest, const kube::Store<kube::Pod>* pods,
               const kube::Store<kube::Node>* nodes)
      : rest_(rest), pods_(pods), nodes_(nodes) {}
  Result<std::vector<kube::Pod>> ListPods(const std::string& node,
                                          const api::LabelSelector& selector) override;
  remediation::EvictionResult Evict(const remediation::DrainPodRef& pod,
                                    std::optional<int64_t> grace_period_seconds) override;
  Result<std::optional<remediation::ObservedPod>> GetPod(
      const remediation::DrainPodRef& pod) override;
  bool NodeReady(const std::string& node) override;

 private:
  kube::RestClient& rest_;
  const kube::Store<kube::Pod>* pods_;
  const kube::Store<kube::Node>* nodes_;
};

// Classifies a non-2xx answer to an eviction from its raw Status body
// (Status.details.causes carries the PodDisruptionBudget's name and the
// NamespaceTerminating cause, which the Error alone does not).
remediation::EvictionResult ClassifyEvictionResponse(const kube::HttpResponse& response);

// An Event on the drained node.
using DrainEventFn =
    std::function<void(kube::EventType type, std::string reason, std::string message)>;

struct DrainJob {
  std::string policy;
  std::string node;
  std::string remediation_id;
  std::optional<WallTime> deadline;  // Unset: no timeout.
  api::DrainSpec spec;
  DrainEventFn event;                 // May be null.
  std::function<void()> on_finished;  // Called once when the drain ends (not when cancelled).
};

struct DrainerOptions {
  int max_parallel_evictions = 8;
  Duration retry_delay = remediation::kEvictionRetryDelay;
  // Longest wait between two looks at the pods being deleted.
  std::chrono::milliseconds poll_interval{1000};
  // Leader fencing, checked before each batch of evictions; a fenced drain stops.
  std::function<Status()> fence;
  // Called once per drain that ends with a verdict (succeeded, timed out,
  // failed; not a fenced or cancelled one), with the time from its first
  // step: nodeguard_drain_duration_seconds. May be null.
  std::function<void(const DrainJob& job, remediation::DrainObservation::Kind verdict,
                     Duration took)>
      on_verdict;
};

// One drain as a step machine: the Drainer's thread drives it, unit tests
// drive it directly with a FakeClock. Not thread-safe.
class DrainRun {
 public:
  DrainRun(DrainJob job, DrainApi& api, const Clock& clock, const DrainerOptions& options);

  struct Tick {
    remediation::DrainObservation::Kind kind = remediation::DrainObservation::kRunning;
    std::string message;              // The result's summary once finished.
    std::optional<WallTime> wake_at;  // kRunning: call Step again no later than this.
  };
  // Does what is due now: plans on the first call, observes the pods, sends
  // the due evictions (in parallel, bounded) and reports their results.
  Tick Step();

  const DrainJob& job() const { return job_; }
  // For tests: the tracker once planned.
  const std::optional<remediation::DrainTracker>& tracker() const { return tracker_; }

 private:
  Tick Finish(remediation::DrainObservation::Kind kind, std::string message);
  void Emit(kube::EventType type, std::string reason, std::string message) const;
  void SendEvictions(const std::vector<size_t>& indexes);

  DrainJob job_;
  DrainApi& api_;
  const Clock& clock_;
  const DrainerOptions& options_;
  std::optional<remediation::DrainTracker> tracker_;
  std::optional<Tick> finished_;
  std::optional<WallTime> started_;  // The first Step.
};

// Runs DrainRuns in background threads, one per node. Thread-safe.
class Drainer {
 public:
  Drainer(DrainApi& api, const Clock& clock, DrainerOptions options = {});
  ~Drainer();  // Shutdown().
  Drainer(const Drainer&) = delete;
  Drainer& operator=(const Drainer&) = delete;

  // Starts draining job.node for job.remediation_id, unless a drain of that
  // id is already running or finished there (its result is kept until
  // Cancel); one that stopped without a verdict (fenced) starts again. A
  // drain of another id on the node is cancelled first.
  void Start(DrainJob job);
  // Cancels the node's drain if it belongs to `remediation_id` (any id when
  // empty) and forgets it.
  void Cancel(const std::string& node, const std::string& remediation_id = "");
  // What the decide step should see for the node.
  remediation::DrainObservation Observe(const std::string& node) const;
  // Nodes with a drain (running or finished) started for `policy`.
  std::vector<std::string> NodesOf(const std::string& policy) const;
  // Waits until every drain thread has finished, its completion reported
  // (tests, shutdown). False on timeout.
  bool WaitIdle(std::chrono::milliseconds timeout) const;
  // Cancels every drain and joins the threads; later Starts are ignored.
  void Shutdown();

 private:
  struct Entry;
  void Run(const std::shared_ptr<Entry>& entry);
  void ReapLocked();

  DrainApi& api_;
  const Clock& clock_;
  const DrainerOptions options_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;                   // Signals entry state changes.
  std::map<std::string, std::shared_ptr<Entry>> nodes_;  // Guarded by mu_: by node name.
  std::vector<std::shared_ptr<Entry>> retired_;  // Guarded by mu_: cancelled, not joined yet.
  bool stopping_ = false;                        // Guarded by mu_.
};

}  // namespace nodeguard::runtime
