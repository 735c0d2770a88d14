#pragma once

// HygieneReconciler: flags pods that lack resource requests/limits and nodes
// that reserve nothing for the system, per the resourceHygiene rules of the
// policy that governs them (hygiene/ decides; this class acts and reports).
//
// Keys (one queue, four kinds; none can be mistaken for another):
//   "namespace/name"  a pod: evaluate it and update the policy's
//                     FindingsSummary (no API request); when the pod needs a
//                     write, queue its "write:" key at the slot the write
//                     pacer gives it;
//   "write:namespace/name"
//                     a pod's writes: decided again from the cache, then its
//                     one Warning Event and its findings annotation (or the
//                     annotation's removal);
//   "node:<name>"     a node: the system-reserve check and its Event;
//   "policy:<name>"   a policy's hygiene status, metrics and PolicyReports,
//                     rebuilt from the summaries. Pod and node reconciles only
//                     mark what changed and add this key (after a short
//                     delay), so a burst of pod events costs one status
//                     update and one report write per namespace.
//
// Which policy governs a pod: the one governing its node (Deps::Governing).
// An unscheduled pod (or one bound to a node not in the cache) is governed by
// the oldest valid, live policy with resourceHygiene enabled: it will land
// somewhere, and the oldest policy is the one that wins node conflicts, so
// this is the most likely rule set it will end up under. A governing policy
// with resourceHygiene disabled, or no policy at all, means "not checked":
// an annotation nodeguard left earlier is removed. An invalid governing
// policy holds: nothing is written and it reports no findings.
//
// Status first, writes paced: evaluating a pod makes no request, so the
// policy's status counts every finding as soon as the pods are evaluated
// (22,500 pods: seconds), while the per-pod writes follow through a token
// bucket of their own (HygieneReconcilerOptions::write_qps/write_burst,
// --hygiene-write-qps/--hygiene-write-burst). Each write key reserves its
// tokens (one per request it will make) when it is queued and is queued
// after the reservation's wait, so no worker ever blocks on the pacer and
// the policy, node and pod keys behind it are never held up; a pod has at
// most one write key pending, which decides from the pod as it is then.
//
// Incremental: the first EnqueueAll (leadership start) queues every pod;
// later ones (periodic resyncs) only nodes and policies. Pod events queue a
// pod only when a field hygiene reads changed (containers' declared
// resources, node, phase, QoS, UID, the findings annotation); the
// annotation nodeguard itself just wrote does not bring the pod back.
//
// Outputs and modes:
//   - Event (reason MissingResourceRequirements, in the pod's namespace) at
//     most once per pod UID: an in-memory set, seeded before the first pod
//     decision from the MissingResourceRequirements Events nodeguard already
//     wrote (a restart never repeats them, with or without annotatePods),
//     backed by the pod's findings annotation (hygiene/decide.h) and by a
//     deterministic Event name (AlreadyExists counts as reported).
//   - Node Event (reason NoSystemReserve) once per node UID, seeded the same
//     way from existing NoSystemReserve Events.
//   - dryRun (policy or --dry-run): everything is reported (status, Events,
//     metrics, logs, PolicyReports: all are reports) but pods are never
//     written: the annotation is the only change hygiene makes to a workload.
//   - paused: no writes at all besides the policy's status (no Events, no
//     annotations, no PolicyReports); findings still show in status, metrics
//     and logs, and the Events follow once the policy is resumed.
//   - PolicyReports (wgpolicyk8s.io/v1alpha2), one per policy and namespace,
//     only when discovery finds that API (checked on the first policy
//     reconcile and again on every resync); written by server-side apply
//     (field manager nodeguard), deleted when the namespace has no findings.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "hygiene/findings.h"
#include "hygiene/node_reserve.h"
#include "hygiene/summary.h"
#include "kube/token_bucket.h"
#include "reconcile/reconciler.h"

namespace nodeguard::runtime {

struct HygieneReconcilerOptions {
  // How long a policy key waits before its status/report rebuild, so pod
  // events arriving together coalesce. Zero: queued at once (tests).
  Duration summary_delay = std::chrono::milliseconds(500);
  // reportingInstance / source.host of the pod Events nodeguard writes itself.
  std::string event_host;
  // The pacer of per-pod writes (Events, annotation patches): `write_burst`
  // at once, then `write_qps` per second, on top of the client's own limit.
  // write_qps <= 0: not paced (tests).
  double write_qps = 5;
  int write_burst = 50;
};

class HygieneReconciler final : public Reconciler {
 public:
  explicit HygieneReconciler(Deps deps, HygieneReconcilerOptions options = {});

  std::string_view name() const override { return "hygiene"; }
  void OnNode(const kube::Node* old_obj, const kube::Node* obj, kube::WorkQueue& queue) override;
  void OnPod(const kube::Pod* old_obj, const kube::Pod* obj, kube::WorkQueue& queue) override;
  void OnPolicy(const PolicyObject* old_obj, const PolicyObject* obj,
                kube::WorkQueue& queue) override;
  void EnqueueAll(kube::WorkQueue& queue) override;
  Result<ReconcileResult> Reconcile(const std::string& key) override;

  static std::string NodeKey(std::string_view node) { return "node:" + std::string(node); }
  static std::string PolicyKey(std::string_view policy) { return "policy:" + std::string(policy); }
  static std::string WriteKey(std::string_view pod_key) { return "write:" + std::string(pod_key); }
  observe::Field KeyField(const std::string& key) const override {
    auto [kind, name] = SplitKey(key);
    return {std::string(kind), std::move(name)};
  }
  // What a queue key stands for: {"pod", "ns/name"}, {"write", "ns/name"},
  // {"node", name}, {"policy", name}, or {"key", key} for a key of no known kind.
  static std::pair<std::string_view, std::string> SplitKey(const std::string& key);

  // True once every pod queued by the first EnqueueAll has been evaluated.
  bool InitialSyncDone() const;

 private:
  enum class Mode : uint8_t {
    kUnchecked,  // No policy checks this pod: remove a leftover annotation.
    kHold,       // The governing policy is invalid: touch nothing.
    kEnforce,
  };
  struct Governance {
    std::shared_ptr<const PolicyObject> policy;  // Null for kUnchecked without a policy.
    Mode mode = Mode::kUnchecked;
    bool paused = false;
    bool dry_run = false;
  };
  // What this process remembers of a pod between reconciles.
  struct PodState {
    kube::Uid uid;
    std::string policy;              // Whose summary holds it; empty: none.
    std::string written_annotation;  // The value nodeguard last wrote ("" = removed).
    bool wrote_annotation = false;
  };
  struct CompiledRules {
    kube::Uid uid;
    int64_t generation = 0;
    hygiene::HygieneRules rules;
  };

  // write == false: evaluate and account, and queue the pod's write key if
  // it needs a write; true: the same, then make the writes.
  Result<ReconcileResult> ReconcilePod(const std::string& key, bool write);
  // Queues WriteKey(key) after `requests` tokens of the write pacer, unless
  // one is pending already.
  void ScheduleWrite(const std::string& key, int requests);
  Result<ReconcileResult> ReconcileNode(const std::string& node_name);
  Result<ReconcileResult> ReconcilePolicy(const std::string& policy_name);

  // Seeds the reported sets from existing Events; once, before any pod or node decision.
  Status EnsureSeeded();
  Status SeedFromEvents(std::string_view reason, const std::string& kind,
                        std::unordered_set<kube::Uid>& uids);
  // Discovery of wgpolicyk8s.io/v1alpha2 and the reports nodeguard already wrote.
  Status Discover();

  Governance GovernPod(const PolicyList& policies, const kube::Pod& pod) const;
  Governance GovernNode(const PolicyList& policies, const kube::Node& node) const;
  hygiene::HygieneRules RulesFor(const PolicyObject& policy);
  bool DryRun(const PolicyObject& policy) const;

  // Moves the pod's findings into `policy`'s summary ("" = none), marking
  // what changed. REQUIRES: mu_ held.
  void AccountPodLocked(const std::string& key, const kube::Pod& pod, const std::string& policy,
                        const hygiene::PodFindings* findings);
  void ForgetPodLocked(const std::string& key);
  void MarkDirtyLocked(const std::string& policy, std::string_view namespace_name);
  void MarkInitialDone(const std::string& key);
  // Marks every report the server holds for re-checking. REQUIRES: mu_ held.
  void RecheckReportsOnServerLocked();
  void ScheduleSummary(const std::string& policy);

  Status WriteAnnotation(const kube::Pod& pod, const std::string& value);
  Status CreatePodEvent(const kube::Pod& pod, const std::string& message);
  Status ApplyReport(const std::string& policy, const std::string& namespace_name,
                     const nlohmann::json& report);
  Status DeleteReport(const std::string& policy, const std::string& namespace_name);

  Deps deps_;
  const HygieneReconcilerOptions options_;
  observe::GaugeFamily& missing_gauge_;
  observe::GaugeFamily& unreserved_gauge_;
  observe::CounterFamily& writes_;
  observe::GaugeFamily& writes_pending_gauge_;
  std::unique_ptr<kube::TokenBucket> write_pacer_;  // Null: not paced.

  // The queue this reconciler's hooks are called with (the Reconciler
  // contract gives Reconcile no queue; policy keys are added from there).
  std::atomic<kube::WorkQueue*> queue_{nullptr};

  std::mutex seed_mu_;  // Serialises seeding; guards nothing else.
  std::atomic<bool> seeded_{false};

  mutable std::mutex mu_;
  // Guarded by mu_: ---------------------------------------------------
  std::unordered_set<kube::Uid> reported_pods_;                // Pod UIDs whose Event exists.
  std::unordered_set<kube::Uid> reported_nodes_;               // Node UIDs whose Event exists.
  std::unordered_map<std::string, PodState> pods_;             // By pod key.
  std::unordered_set<std::string> writes_pending_;             // Pod keys with a write key queued.
  std::map<std::string, hygiene::FindingsSummary> summaries_;  // By policy.
  std::map<std::string, std::set<std::string>> dirty_;         // Policy -> namespaces.
  std::map<std::string, std::map<std::string, hygiene::NodeReserveFinding>> unreserved_;
  std::map<std::string, std::string> unreserved_policy_;           // Node -> policy listing it.
  std::map<std::string, CompiledRules> rules_;                     // By policy.
  std::map<std::string, std::set<std::string>> gauge_namespaces_;  // Policy -> namespaces exported.
  bool enqueued_all_ = false;
  std::unordered_set<std::string> initial_pending_;  // Pod keys of the first EnqueueAll.
  bool initial_done_ = false;
  size_t initial_total_ = 0;
  MonoTime initial_started_{};
  // PolicyReports: discovery state and what the server holds.
  bool discovery_stale_ = true;
  bool reports_api_ = false;
  std::set<std::pair<std::string, std::string>> reports_on_server_;     // (namespace, name).
  std::map<std::pair<std::string, std::string>, std::string> applied_;  // -> last applied doc.
};

}  // namespace nodeguard::runtime
