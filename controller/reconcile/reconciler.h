#pragma once

// The shape every nodeguard reconciler has (cluster-api's: observe, decide,
// act, write status). The Controller owns the informers, one WorkQueue and a
// pool of workers per reconciler; a reconciler
//   - maps informer events to keys of its own queue (On* hooks, on the
//     informer threads: cheap, never blocking), and
//   - reconciles one key at a time: reads the caches, calls its pure decision
//     functions, performs the decided writes, reports status/Events/metrics.
// A key is never reconciled by two workers at once (WorkQueue guarantees it).

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/duration.h"
#include "common/result.h"
#include "kube/events.h"
#include "kube/objects.h"
#include "kube/rest.h"
#include "kube/store.h"
#include "kube/workqueue.h"
#include "observe/log.h"
#include "observe/metrics.h"
#include "reconcile/options.h"
#include "reconcile/policy_object.h"
#include "reconcile/status_writer.h"

namespace nodeguard::notify {
class Notifier;
}  // namespace nodeguard::notify

namespace nodeguard::runtime {

class DensityNotifications;
class SinkHealthBoard;

// Sorted policies (oldest first, see resolver.h), as an immutable snapshot.
using PolicyList = std::vector<std::shared_ptr<const PolicyObject>>;

// What reconcilers share. Everything outlives the reconcilers.
struct Deps {
  const kube::Store<kube::Node>* nodes = nullptr;
  const kube::Store<kube::Pod>* pods = nullptr;  // Indexed by namespace and node name.
  const kube::Store<PolicyObject>* policies = nullptr;
  kube::RestClient* rest = nullptr;
  kube::EventRecorder* events = nullptr;
  // Notifications (reconcile/notifications.h); null: none configured.
  notify::Notifier* notifier = nullptr;
  std::string notify_cluster;  // The config's cluster name, shown in messages.
  // density.cap-reached, aggregated (reconcile/notifications.h); null: none.
  DensityNotifications* density_notices = nullptr;
  // The sinks' health for the policies' NotificationsFailing condition; null:
  // no notifications configured (no condition).
  const SinkHealthBoard* notify_health = nullptr;
  StatusWriter* status = nullptr;
  observe::MetricsRegistry* metrics = nullptr;
  const Clock* clock = nullptr;
  const ControllerOptions* options = nullptr;
  // Leader fencing: every write checks it first (kube::LeaderElector::Fence).
  std::function<Status()> fence = [] { return Status::Ok(); };

  // Policies sorted so the governing one comes first.
  PolicyList SortedPolicies() const;
  // The policy governing `node`, or nullptr (see resolver.h).
  std::shared_ptr<const PolicyObject> Governing(const PolicyList& sorted,
                                                const kube::Node& node) const;
};

// What a reconcile asks of its queue afterwards.
struct ReconcileResult {
  std::optional<Duration> requeue_after;  // Time-based rules (durations, timeouts).
  // Part of the work failed (e.g. one node's patch of many): counted and
  // logged as a failed reconcile, but retried at requeue_after, which the
  // reconciler bounds itself, instead of with the queue's backoff, so one
  // failing write never delays the key's other, timed steps.
  std::optional<Error> partial_error;
};

class Reconciler {
 public:
  virtual ~Reconciler() = default;
  virtual std::string_view name() const = 0;

  // Informer hooks: `old_obj` null on add, `obj` null on delete.
  virtual void OnNode(const kube::Node* old_obj, const kube::Node* obj, kube::WorkQueue& queue) {
    (void)old_obj, (void)obj, (void)queue;
  }
  virtual void OnPod(const kube::Pod* old_obj, const kube::Pod* obj, kube::WorkQueue& queue) {
    (void)old_obj, (void)obj, (void)queue;
  }
  virtual void OnPolicy(const PolicyObject* old_obj, const PolicyObject* obj,
                        kube::WorkQueue& queue) {
    (void)old_obj, (void)obj, (void)queue;
  }
  // Enqueue everything: at leadership start and every resync period.
  virtual void EnqueueAll(kube::WorkQueue& queue) = 0;

  // REQUIRES: called by one worker at a time per key. An Error is logged and
  // the key retried with the queue's backoff (kConflict counted as such).
  virtual Result<ReconcileResult> Reconcile(const std::string& key) = 0;

  // What `key` is about, as the log field other lines about it carry
  // ({"node", name}, {"policy", name}, {"pod", "ns/name"}), for the lines the
  // Controller writes about a reconcile of it.
  virtual observe::Field KeyField(const std::string& key) const { return {"key", key}; }
};

// The ObjectReference of a node / policy, for Events.
kube::ObjectReference NodeRef(const kube::Node& node);
kube::ObjectReference PolicyRef(const PolicyObject& policy);

}  // namespace nodeguard::runtime
