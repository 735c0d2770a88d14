#include "hygiene/reconciler.h"

#include <algorithm>
#include <vector>

#include "hygiene/decide.h"
#include "hygiene/policy_report.h"
#include "kube/store.h"
#include "observe/log.h"

namespace nodeguard::runtime {
namespace {

// The component nodeguard's Events carry (kube::EventRecorderOptions' default):
// only Events of this component count as "already reported" when seeding.
constexpr std::string_view kComponent = "nodeguard";
constexpr std::string_view kPolicyReportGroup = "wgpolicyk8s.io";
constexpr std::string_view kPolicyReportVersion = "v1alpha2";
constexpr std::string_view kManagedBySelector = "app.kubernetes.io/managed-by=nodeguard";
constexpr std::string_view kReportPrefix = "nodeguard-";  // hygiene::PolicyReportName's.

observe::Logger Log() { return observe::Log().With({{"reconciler", "hygiene"}}); }

kube::ResourcePath PolicyReports(std::string namespace_name = "") {
  return kube::GroupResource(kPolicyReportGroup, kPolicyReportVersion, "policyreports",
                             std::move(namespace_name));
}

// The pod fields hygiene reads, apart from the findings annotation.
bool SameHygieneInputs(const kube::Pod& a, const kube::Pod& b) {
  if (a.meta.uid != b.meta.uid || a.node_name != b.node_name || a.Terminal() != b.Terminal() ||
      a.Terminating() != b.Terminating() || a.qos != b.qos ||
      a.containers.size() != b.containers.size()) {
    return false;
  }
  for (size_t i = 0; i < a.containers.size(); ++i) {
    const auto& x = a.containers[i];
    const auto& y = b.containers[i];
    if (x.name != y.name || x.declared != y.declared || x.init != y.init) return false;
  }
  return true;
}

// A policy change that can change any pod's or node's hygiene outcome.
bool HygieneRelevantPolicyChange(const PolicyObject& a, const PolicyObject& b) {
  const auto& x = a.policy.spec;
  const auto& y = b.policy.spec;
  return !(x.resource_hygiene == y.resource_hygiene) || !(x.node_selector == y.node_selector) ||
         x.paused != y.paused || x.dry_run != y.dry_run || a.valid() != b.valid() ||
         a.deleting() != b.deleting() || a.meta.creation_timestamp != b.meta.creation_timestamp;
}

}  // namespace

HygieneReconciler::HygieneReconciler(Deps deps, HygieneReconcilerOptions options)
    : deps_(std::move(deps)),
      options_(std::move(options)),
      missing_gauge_(deps_.metrics->MustGauge(
          "nodeguard_pods_missing_resources",
          "Pods in the namespace flagged by the policy's resource hygiene for lacking `resource` "
          "in at least one container.",
          {"policy", "namespace", "resource"})),
      unreserved_gauge_(deps_.metrics->MustGauge(
          "nodeguard_nodes_without_system_reserve",
          "Nodes governed by the policy that reserve no CPU or memory for the system.",
          {"policy"})),
      writes_(deps_.metrics->MustCounter(
          "nodeguard_hygiene_writes_total",
          "Writes made by resource hygiene, by kind (event, node_event, annotation, "
          "report_apply, report_delete).",
          {"kind"})),
      writes_pending_gauge_(deps_.metrics->MustGauge(
          "nodeguard_hygiene_writes_pending",
          "Pods whose resource hygiene writes (Event, annotation) wait for the write pacer "
          "(--hygiene-write-qps).")) {
  writes_pending_gauge_.Get().Set(0);
  if (options_.write_qps > 0) {
    write_pacer_ = std::make_unique<kube::TokenBucket>(
        options_.write_qps, std::max(1, options_.write_burst), *deps_.clock);
  }
}

// ---------------------------------------------------------------- hooks

void HygieneReconciler::OnPod(const kube::Pod* old_obj, const kube::Pod* obj,
                              kube::WorkQueue& queue) {
  queue_.store(&queue);
  const kube::Pod& any = obj != nullptr ? *obj : *old_obj;
  const std::string key = kube::ObjectKey(any.meta);
  if (old_obj != nullptr && obj != nullptr && SameHygieneInputs(*old_obj, *obj)) {
    if (old_obj->resource_findings_annotation == obj->resource_findings_annotation) return;
    // Our own annotation write coming back: nothing to evaluate.
    std::lock_guard lock(mu_);
    auto it = pods_.find(key);
    if (it != pods_.end() && it->second.uid == obj->meta.uid && it->second.wrote_annotation &&
        it->second.written_annotation == obj->resource_findings_annotation) {
      return;
    }
  }
  queue.Add(key);
}

void HygieneReconciler::OnNode(const kube::Node* old_obj, const kube::Node* obj,
                               kube::WorkQueue& queue) {
  queue_.store(&queue);
  const kube::Node& any = obj != nullptr ? *obj : *old_obj;
  bool pods_affected = true;  // Their governing policy may change with the node.
  if (old_obj != nullptr && obj != nullptr) {
    pods_affected = old_obj->labels != obj->labels;
    const bool reserve_changed = old_obj->meta.uid != obj->meta.uid ||
                                 old_obj->capacity.cpu_millis != obj->capacity.cpu_millis ||
                                 old_obj->capacity.memory_bytes != obj->capacity.memory_bytes ||
                                 old_obj->allocatable.cpu_millis != obj->allocatable.cpu_millis ||
                                 old_obj->allocatable.memory_bytes != obj->allocatable.memory_bytes;
    if (!pods_affected && !reserve_changed) return;  // Heartbeats, conditions, taints.
  }
  queue.Add(NodeKey(any.meta.name));
  if (!pods_affected) return;
  for (const auto& pod : deps_.pods->ByIndex(kube::kIndexNodeName, any.meta.name)) {
    queue.Add(kube::ObjectKey(pod->meta));
  }
}

void HygieneReconciler::OnPolicy(const PolicyObject* old_obj, const PolicyObject* obj,
                                 kube::WorkQueue& queue) {
  queue_.store(&queue);
  const PolicyObject& any = obj != nullptr ? *obj : *old_obj;
  queue.Add(PolicyKey(any.meta.name));
  if (old_obj != nullptr && obj != nullptr && !HygieneRelevantPolicyChange(*old_obj, *obj)) {
    return;  // Status writes (our own included), other features' fields.
  }
  {
    std::lock_guard lock(mu_);
    rules_.erase(any.meta.name);
  }
  // Which policy governs what, and with which rules, may have changed anywhere.
  for (const auto& pod : deps_.pods->List()) queue.Add(kube::ObjectKey(pod->meta));
  for (const auto& node : deps_.nodes->List()) queue.Add(NodeKey(node->meta.name));
}

void HygieneReconciler::EnqueueAll(kube::WorkQueue& queue) {
  queue_.store(&queue);
  bool first = false;
  std::vector<std::string> pod_keys;
  {
    std::lock_guard lock(mu_);
    discovery_stale_ = true;  // A CRD installed since the last look is picked up.
    if (!enqueued_all_) {
      enqueued_all_ = true;
      first = true;
      for (const auto& pod : deps_.pods->List()) pod_keys.push_back(kube::ObjectKey(pod->meta));
      initial_pending_.insert(pod_keys.begin(), pod_keys.end());
      initial_total_ = initial_pending_.size();
      initial_started_ = deps_.clock->Monotonic();
      initial_done_ = initial_pending_.empty();
    }
  }
  // After the first pass, pods come back only through their own events
  // (incremental); nodes and policies are few and cheap to re-check.
  if (first) {
    for (const auto& key : pod_keys) queue.Add(key);
  }
  for (const auto& node : deps_.nodes->List()) queue.Add(NodeKey(node->meta.name));
  for (const auto& policy : deps_.policies->List()) queue.Add(PolicyKey(policy->meta.name));
}

bool HygieneReconciler::InitialSyncDone() const {
  std::lock_guard lock(mu_);
  return initial_done_;
}

std::pair<std::string_view, std::string> HygieneReconciler::SplitKey(const std::string& key) {
  // The prefixes first: a pod key starts with its namespace, which has no ':'.
  for (std::string_view kind : {"node", "policy", "write"}) {
    if (key.size() > kind.size() && key.compare(0, kind.size(), kind) == 0 &&
        key[kind.size()] == ':') {
      return {kind, key.substr(kind.size() + 1)};
    }
  }
  if (key.find('/') != std::string::npos) return {"pod", key};
  return {"key", key};
}

Result<ReconcileResult> HygieneReconciler::Reconcile(const std::string& key) {
  const auto [kind, name] = SplitKey(key);
  if (kind == "pod") return ReconcilePod(name, /*write=*/false);
  if (kind == "write") return ReconcilePod(name, /*write=*/true);
  if (kind == "node") return ReconcileNode(name);
  if (kind == "policy") return ReconcilePolicy(name);
  Log().Warn("ignoring a key of unknown kind", {{"key", key}});
  return ReconcileResult{};
}

// ---------------------------------------------------------------- seeding

Status HygieneReconciler::SeedFromEvents(std::string_view reason, const std::string& kind,
                                         std::unordered_set<kube::Uid>& uids) {
  kube::ListOptions list;
  list.field_selector = "reason=" + std::string(reason);
  auto events = deps_.rest->ListAll(kube::CoreResource("events"), list);
  if (!events.ok()) {
    if (events.error().Is(ErrorKind::kUnauthorized)) {
      // Restart dedup then rests on the annotation and the Event names.
      Log().Warn("cannot list Events to learn what was reported before; grant list on events",
                 {{"reason", std::string(reason)}, {"error", events.error().ToString()}});
      return Status::Ok();
    }
    return events.error();
  }
  for (const std::string& item : events->items) {
    auto doc = nlohmann::json::parse(item, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object()) continue;
    const auto involved = doc.value("involvedObject", nlohmann::json::object());
    if (!involved.is_object() || involved.value("kind", "") != kind) continue;
    const auto source = doc.value("source", nlohmann::json::object());
    const std::string component =
        source.is_object() ? source.value("component", "") : std::string();
    if (component != kComponent && doc.value("reportingComponent", "") != kComponent) continue;
    const std::string uid = involved.value("uid", "");
    const std::string name = involved.value("name", "");
    // Only objects that still exist: the set must not grow with history.
    if (kind == "Pod") {
      auto pod = deps_.pods->Get(involved.value("namespace", ""), name);
      if (!pod || pod->meta.uid != kube::Uid(uid)) continue;
    } else {
      auto node = deps_.nodes->Get("", name);
      if (!node || node->meta.uid != kube::Uid(uid)) continue;
    }
    uids.insert(uid);
  }
  return Status::Ok();
}

Status HygieneReconciler::EnsureSeeded() {
  if (seeded_.load(std::memory_order_acquire)) return Status::Ok();
  std::lock_guard seed_lock(seed_mu_);
  if (seeded_.load(std::memory_order_acquire)) return Status::Ok();
  std::unordered_set<kube::Uid> pods, nodes;
  if (Status s = SeedFromEvents(hygiene::kMissingResourcesReason, "Pod", pods); !s.ok()) return s;
  if (Status s = SeedFromEvents(hygiene::kNoSystemReserveReason, "Node", nodes); !s.ok()) return s;
  {
    std::lock_guard lock(mu_);
    reported_pods_.insert(pods.begin(), pods.end());
    reported_nodes_.insert(nodes.begin(), nodes.end());
  }
  seeded_.store(true, std::memory_order_release);
  Log().Info(
      "learned from existing Events what was already reported",
      {{"pods", static_cast<int64_t>(pods.size())}, {"nodes", static_cast<int64_t>(nodes.size())}});
  return Status::Ok();
}

// ---------------------------------------------------------------- governance

bool HygieneReconciler::DryRun(const PolicyObject& policy) const {
  return policy.policy.spec.dry_run || deps_.options->dry_run;
}

HygieneReconciler::Governance HygieneReconciler::GovernNode(const PolicyList& policies,
                                                            const kube::Node& node) const {
  Governance g;
  g.policy = deps_.Governing(policies, node);
  if (!g.policy) return g;
  g.paused = g.policy->policy.spec.paused;
  g.dry_run = DryRun(*g.policy);
  if (!g.policy->valid()) {
    g.mode = Mode::kHold;
  } else if (g.policy->policy.spec.resource_hygiene.enabled) {
    g.mode = Mode::kEnforce;
  }
  return g;
}

HygieneReconciler::Governance HygieneReconciler::GovernPod(const PolicyList& policies,
                                                           const kube::Pod& pod) const {
  if (!pod.node_name.empty()) {
    if (auto node = deps_.nodes->Get("", pod.node_name.view())) return GovernNode(policies, *node);
  }
  Governance g;
  if (!deps_.options->watch_filter.empty()) {
    // --watch-filter: the node cache holds only the filter's Nodes, so a pod on
    // any other node, or not scheduled yet, may be another controller's (the one
    // whose filter holds its node). Neither checked nor cleaned up here.
    g.mode = Mode::kHold;
    return g;
  }
  // Unscheduled (or its node is unknown): the oldest policy that checks pods.
  for (const auto& p : policies) {
    if (p->deleting() || !p->valid() || !p->policy.spec.resource_hygiene.enabled) continue;
    g.policy = p;
    g.mode = Mode::kEnforce;
    g.paused = p->policy.spec.paused;
    g.dry_run = DryRun(*p);
    break;
  }
  return g;
}

hygiene::HygieneRules HygieneReconciler::RulesFor(const PolicyObject& policy) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = rules_.try_emplace(policy.meta.name);
  CompiledRules& compiled = it->second;
  // The spec changes only with the generation (status writes leave it alone).
  if (inserted || compiled.uid != policy.meta.uid ||
      compiled.generation != policy.meta.generation) {
    compiled.rules = hygiene::CompileRules(policy.policy.spec.resource_hygiene);
    compiled.uid = policy.meta.uid;
    compiled.generation = policy.meta.generation;
  }
  return compiled.rules;
}

// ---------------------------------------------------------------- bookkeeping

void HygieneReconciler::ScheduleSummary(const std::string& policy) {
  kube::WorkQueue* queue = queue_.load();
  if (queue == nullptr) return;
  if (options_.summary_delay.count() > 0) {
    queue->AddAfter(PolicyKey(policy), options_.summary_delay);
  } else {
    queue->Add(PolicyKey(policy));
  }
}

void HygieneReconciler::MarkDirtyLocked(const std::string& policy,
                                        std::string_view namespace_name) {
  dirty_[policy].emplace(namespace_name);
  ScheduleSummary(policy);
}

void HygieneReconciler::ForgetPodLocked(const std::string& key) {
  auto it = pods_.find(key);
  if (it == pods_.end()) return;
  const PodState& st = it->second;
  if (!st.policy.empty()) {
    auto s = summaries_.find(st.policy);
    if (s != summaries_.end() && s->second.Find(st.uid.str()) != nullptr) {
      s->second.Remove(st.uid.str());
      MarkDirtyLocked(st.policy, kube::SplitObjectKey(key).first);
    }
  }
  reported_pods_.erase(st.uid);
  pods_.erase(it);
}

void HygieneReconciler::AccountPodLocked(const std::string& key, const kube::Pod& pod,
                                         const std::string& policy,
                                         const hygiene::PodFindings* findings) {
  auto it = pods_.find(key);
  if (it != pods_.end() && it->second.uid != pod.meta.uid) {
    ForgetPodLocked(key);  // A new pod under an old name (a StatefulSet's).
    it = pods_.end();
  }
  if (it == pods_.end()) it = pods_.emplace(key, PodState{pod.meta.uid, "", "", false}).first;
  PodState& st = it->second;
  const std::string_view ns = pod.meta.namespace_.view();
  if (!st.policy.empty() && st.policy != policy) {
    auto s = summaries_.find(st.policy);
    if (s != summaries_.end() && s->second.Find(st.uid.str()) != nullptr) {
      s->second.Remove(st.uid.str());
      MarkDirtyLocked(st.policy, ns);
    }
  }
  st.policy = policy;
  bool in_summary = false;
  if (!policy.empty() && findings != nullptr) {
    auto& summary = summaries_[policy];
    const hygiene::PodFindings* old = summary.Find(pod.meta.uid.str());
    const bool changed = old != nullptr ? !(*old == *findings) : findings->Flagged();
    if (changed) {
      summary.Upsert(*findings);
      MarkDirtyLocked(policy, ns);
    }
    in_summary = findings->Flagged();
  }
  // Remember only pods there is something to remember about.
  if (!in_summary && !st.wrote_annotation && reported_pods_.count(st.uid) == 0) pods_.erase(it);
}

void HygieneReconciler::MarkInitialDone(const std::string& key) {
  std::lock_guard lock(mu_);
  if (initial_done_ || initial_pending_.erase(key) == 0 || !initial_pending_.empty()) return;
  initial_done_ = true;
  const auto took = deps_.clock->Monotonic() - initial_started_;
  Log().Info("initial evaluation of every pod done",
             {{"pods", static_cast<int64_t>(initial_total_)},
              {"reportedPods", static_cast<int64_t>(reported_pods_.size())},
              {"seconds", std::chrono::duration<double>(took).count()}});
  // Reports written before a restart for namespaces that have no findings
  // any more can be recognised only now.
  RecheckReportsOnServerLocked();
}

void HygieneReconciler::RecheckReportsOnServerLocked() {
  std::map<std::string, std::string> owner;  // Report name -> policy.
  for (const auto& p : deps_.policies->List()) {
    owner.emplace(hygiene::PolicyReportName(p->meta.name), p->meta.name);
  }
  for (const auto& [ns, name] : reports_on_server_) {
    if (auto it = owner.find(name); it != owner.end()) {
      MarkDirtyLocked(it->second, ns);
    } else if (name.rfind(kReportPrefix, 0) == 0 && deps_.options->watch_filter.empty()) {
      // Its policy is gone: that policy's reconcile deletes what it left.
      // (With --watch-filter an unknown policy may be another controller's.)
      ScheduleSummary(name.substr(kReportPrefix.size()));
    }
  }
}

// ---------------------------------------------------------------- writes

Status HygieneReconciler::WriteAnnotation(const kube::Pod& pod, const std::string& value) {
  if (Status fenced = deps_.fence(); !fenced.ok()) return fenced;
  {
    // Recorded first: the informer may deliver the change before Patch returns.
    std::lock_guard lock(mu_);
    auto [it, _] =
        pods_.try_emplace(kube::ObjectKey(pod.meta), PodState{pod.meta.uid, "", "", false});
    it->second.written_annotation = value;
    it->second.wrote_annotation = true;
  }
  nlohmann::json annotations = nlohmann::json::object();
  annotations[std::string(hygiene::kFindingsAnnotation)] =
      value.empty() ? nlohmann::json(nullptr) : nlohmann::json(value);
  // resourceVersion makes the merge patch conflict-safe: a pod changed since
  // it was read fails with 409 and is decided again from the new version.
  nlohmann::json patch = {
      {"metadata",
       {{"resourceVersion", pod.meta.resource_version}, {"annotations", std::move(annotations)}}}};
  auto written = deps_.rest->Patch(kube::CoreResource("pods", pod.meta.namespace_.str()),
                                   pod.meta.name, kube::PatchType::kMerge, patch.dump());
  if (!written.ok()) {
    if (written.error().Is(ErrorKind::kNotFound)) return Status::Ok();  // Gone meanwhile.
    return written.error();
  }
  writes_.WithLabels({"annotation"}).Inc();
  return Status::Ok();
}

Status HygieneReconciler::CreatePodEvent(const kube::Pod& pod, const std::string& message) {
  if (Status fenced = deps_.fence(); !fenced.ok()) return fenced;
  kube::EventRecord e;
  e.name = hygiene::EventObjectName(pod);
  e.namespace_ = pod.meta.namespace_.str();
  e.involved = {"Pod", "v1", pod.meta.namespace_.str(), pod.meta.name, pod.meta.uid.str()};
  e.type = kube::EventType::kWarning;
  e.reason = std::string(hygiene::kMissingResourcesReason);
  e.message = message;
  e.first_timestamp = e.last_timestamp = deps_.clock->Now();
  e.component = std::string(kComponent);
  e.host = options_.event_host;
  // Written directly (not through the EventRecorder) so the name is the
  // deterministic one: a second create after a restart is AlreadyExists.
  auto created = deps_.rest->Create(kube::CoreResource("events", e.namespace_), e.ToJson());
  if (!created.ok()) {
    if (created.error().Is(ErrorKind::kAlreadyExists)) return Status::Ok();
    return created.error();
  }
  writes_.WithLabels({"event"}).Inc();
  return Status::Ok();
}

Status HygieneReconciler::ApplyReport(const std::string& policy, const std::string& namespace_name,
                                      const nlohmann::json& report) {
  const std::string name = hygiene::PolicyReportName(policy);
  const std::string body = report.dump();
  {
    std::lock_guard lock(mu_);
    auto it = applied_.find({namespace_name, name});
    if (it != applied_.end() && it->second == body) return Status::Ok();  // Unchanged.
  }
  if (Status fenced = deps_.fence(); !fenced.ok()) return fenced;
  kube::WriteOptions write;
  write.field_manager = std::string(kComponent);
  write.force = true;  // nodeguard owns these reports entirely.
  auto applied =
      deps_.rest->Patch(PolicyReports(namespace_name), name, kube::PatchType::kApply, body, write);
  if (!applied.ok()) return applied.error();
  writes_.WithLabels({"report_apply"}).Inc();
  std::lock_guard lock(mu_);
  applied_[{namespace_name, name}] = body;
  reports_on_server_.insert({namespace_name, name});
  return Status::Ok();
}

Status HygieneReconciler::DeleteReport(const std::string& policy,
                                       const std::string& namespace_name) {
  const std::string name = hygiene::PolicyReportName(policy);
  {
    std::lock_guard lock(mu_);
    if (reports_on_server_.count({namespace_name, name}) == 0) return Status::Ok();
  }
  if (Status fenced = deps_.fence(); !fenced.ok()) return fenced;
  Status deleted = deps_.rest->Delete(PolicyReports(namespace_name), name);
  if (!deleted.ok() && !deleted.error().Is(ErrorKind::kNotFound)) return deleted;
  writes_.WithLabels({"report_delete"}).Inc();
  std::lock_guard lock(mu_);
  applied_.erase({namespace_name, name});
  reports_on_server_.erase({namespace_name, name});
  return Status::Ok();
}

// ---------------------------------------------------------------- pods

void HygieneReconciler::ScheduleWrite(const std::string& key, int requests) {
  kube::WorkQueue* queue = queue_.load();
  if (queue == nullptr) return;
  {
    std::lock_guard lock(mu_);
    if (!writes_pending_.insert(key).second) return;  // Its write key decides afresh.
    writes_pending_gauge_.Get().Set(static_cast<double>(writes_pending_.size()));
  }
  Duration wait = Duration::zero();
  if (write_pacer_) {
    for (int i = 0; i < requests; ++i) wait = write_pacer_->Reserve();
  }
  queue->AddAfter(WriteKey(key), wait);
}

Result<ReconcileResult> HygieneReconciler::ReconcilePod(const std::string& key, bool write) {
  if (Status s = EnsureSeeded(); !s.ok()) return s.error();
  if (write) {
    std::lock_guard lock(mu_);
    writes_pending_.erase(key);
    writes_pending_gauge_.Get().Set(static_cast<double>(writes_pending_.size()));
  } else {
    MarkInitialDone(key);
  }
  const auto [ns, name] = kube::SplitObjectKey(key);
  auto pod = deps_.pods->Get(ns, name);
  if (!pod) {
    std::lock_guard lock(mu_);
    ForgetPodLocked(key);
    return ReconcileResult{};
  }
  const Governance gov = GovernPod(deps_.SortedPolicies(), *pod);
  const std::string policy_name = gov.policy ? gov.policy->meta.name : "";
  // Writes to a pod that no longer runs, or is on its way out, are wasted.
  const bool writable_pod = !pod->Terminal() && !pod->Terminating();

  if (gov.mode != Mode::kEnforce) {
    {
      std::lock_guard lock(mu_);
      AccountPodLocked(key, *pod, "", nullptr);
    }
    // Not checked (any more): take back an annotation nodeguard left, unless
    // the policy in charge forbids writes.
    const bool may_write =
        !deps_.options->dry_run && (!gov.policy || (!gov.paused && !gov.dry_run));
    if (gov.mode == Mode::kUnchecked && may_write && writable_pod &&
        !pod->resource_findings_annotation.empty()) {
      if (!write) {
        ScheduleWrite(key, 1);
        return ReconcileResult{};
      }
      if (Status s = WriteAnnotation(*pod, ""); !s.ok()) return s.error();
      Log().Info("removed the findings annotation: no policy checks this pod",
                 {{"pod", key}, {"policy", policy_name}});
    }
    return ReconcileResult{};
  }

  const hygiene::HygieneRules rules = RulesFor(*gov.policy);
  bool reported = false;
  {
    std::lock_guard lock(mu_);
    reported = reported_pods_.count(pod->meta.uid) > 0;
  }
  const hygiene::PodDecision decision = hygiene::DecidePod(rules, *pod, reported);
  {
    std::lock_guard lock(mu_);
    AccountPodLocked(key, *pod, policy_name, &decision.findings);
  }
  if (gov.paused || !writable_pod) return ReconcileResult{};

  const bool annotate = decision.annotation != hygiene::AnnotationAction::kNone && !gov.dry_run;
  if (!write) {
    // The status counts the pod now; its writes wait for the pacer.
    const int requests = (decision.emit_event ? 1 : 0) + (annotate ? 1 : 0);
    if (requests > 0) ScheduleWrite(key, requests);
    if (decision.annotation != hygiene::AnnotationAction::kNone && gov.dry_run) {
      Log().Debug("dryRun: would update the findings annotation",
                  {{"pod", key}, {"policy", policy_name}, {"value", decision.annotation_value}});
    }
    return ReconcileResult{};
  }

  // The Event first: once it exists the annotation marks the pod reported, so
  // writing the annotation first and failing the Event would lose the Event.
  if (decision.emit_event) {
    if (Status s = CreatePodEvent(*pod, decision.event.message); !s.ok()) return s.error();
    {
      std::lock_guard lock(mu_);
      reported_pods_.insert(pod->meta.uid);
      pods_.try_emplace(key, PodState{pod->meta.uid, policy_name, "", false});
    }
    Log().Info("pod lacks resource requirements",
               {{"pod", key},
                {"policy", policy_name},
                {"findings", hygiene::EncodeAnnotation(decision.findings)},
                {"dryRun", gov.dry_run}});
  }
  if (annotate) {
    if (Status s = WriteAnnotation(*pod, decision.annotation_value); !s.ok()) return s.error();
  }
  return ReconcileResult{};
}

// ---------------------------------------------------------------- nodes

Result<ReconcileResult> HygieneReconciler::ReconcileNode(const std::string& node_name) {
  if (Status s = EnsureSeeded(); !s.ok()) return s.error();
  auto node = deps_.nodes->Get("", node_name);
  std::optional<hygiene::NodeReserveFinding> finding;
  Governance gov;
  if (node) {
    gov = GovernNode(deps_.SortedPolicies(), *node);
    if (gov.mode == Mode::kEnforce &&
        gov.policy->policy.spec.resource_hygiene.flag_nodes_without_system_reserve) {
      finding = hygiene::EvaluateNodeReserve(*node);
    }
  }
  const std::string policy = finding ? gov.policy->meta.name : "";
  bool emit = false;
  {
    std::lock_guard lock(mu_);
    auto listed = unreserved_policy_.find(node_name);
    if (listed != unreserved_policy_.end() && listed->second != policy) {
      unreserved_[listed->second].erase(node_name);
      ScheduleSummary(listed->second);
      unreserved_policy_.erase(listed);
    }
    if (finding) {
      auto& entry = unreserved_[policy];
      auto it = entry.find(node_name);
      if (it == entry.end() || !(it->second == *finding)) {
        entry[node_name] = *finding;
        unreserved_policy_[node_name] = policy;
        ScheduleSummary(policy);
      }
      emit = !gov.paused && reported_nodes_.count(node->meta.uid) == 0;
    }
  }
  if (!emit) return ReconcileResult{};
  const hygiene::EventText text = hygiene::NodeReserveEvent(*finding);
  deps_.events->Record(NodeRef(*node), kube::EventType::kWarning, text.reason, text.message);
  writes_.WithLabels({"node_event"}).Inc();
  {
    std::lock_guard lock(mu_);
    reported_nodes_.insert(node->meta.uid);
  }
  Log().Info("node reserves nothing for the system",
             {{"node", node_name},
              {"policy", policy},
              {"cpuUnreserved", finding->cpu_unreserved},
              {"memoryUnreserved", finding->memory_unreserved},
              {"dryRun", gov.dry_run}});
  return ReconcileResult{};
}

// ---------------------------------------------------------------- policies

Status HygieneReconciler::Discover() {
  kube::HttpRequest request;
  request.path_and_query =
      "/apis/" + std::string(kPolicyReportGroup) + "/" + std::string(kPolicyReportVersion);
  auto response = deps_.rest->Do(std::move(request), {}, "discovery");
  bool present = false;
  if (response.ok()) {
    auto doc = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    if (doc.is_object() && doc.contains("resources") && doc["resources"].is_array()) {
      for (const auto& r : doc["resources"]) {
        if (r.is_object() && r.value("name", "") == "policyreports") present = true;
      }
    }
  } else if (!response.error().Is(ErrorKind::kNotFound)) {
    return response.error();
  }

  std::set<std::pair<std::string, std::string>> existing;
  if (present) {
    kube::ListOptions list;
    list.label_selector = std::string(kManagedBySelector);
    auto reports = deps_.rest->ListAll(PolicyReports(), list);
    if (!reports.ok()) return reports.error();
    for (const std::string& item : reports->items) {
      auto doc = nlohmann::json::parse(item, nullptr, /*allow_exceptions=*/false);
      if (!doc.is_object() || !doc.contains("metadata")) continue;
      const auto& meta = doc["metadata"];
      existing.insert({meta.value("namespace", ""), meta.value("name", "")});
    }
  }

  std::lock_guard lock(mu_);
  const bool changed = present != reports_api_;
  discovery_stale_ = false;
  if (!changed) return Status::Ok();
  reports_api_ = present;
  applied_.clear();
  reports_on_server_ = std::move(existing);
  if (present) {
    // Every namespace with findings gets its report.
    for (const auto& [policy, summary] : summaries_) {
      for (const auto& [ns, _] : summary.ByNamespace()) dirty_[policy].insert(ns);
    }
    for (const auto& [policy, _] : dirty_) ScheduleSummary(policy);
    if (initial_done_) RecheckReportsOnServerLocked();
  }
  Log().Info(present ? "PolicyReport API found: writing findings as PolicyReports"
                     : "no PolicyReport API (wgpolicyk8s.io/v1alpha2): not writing PolicyReports",
             {{"existingReports", static_cast<int64_t>(reports_on_server_.size())}});
  return Status::Ok();
}

Result<ReconcileResult> HygieneReconciler::ReconcilePolicy(const std::string& policy_name) {
  ReconcileResult result;
  bool stale = false;
  {
    std::lock_guard lock(mu_);
    stale = discovery_stale_;
  }
  if (stale) {
    if (Status s = Discover(); !s.ok()) {
      Log().Warn("PolicyReport discovery failed; retrying later",
                 {{"error", s.error().ToString()}});
      result.requeue_after = std::chrono::seconds(30);
    }
  }

  const std::string report_name = hygiene::PolicyReportName(policy_name);
  auto policy = deps_.policies->Get("", policy_name);
  if (!policy) {
    // Deleted: forget its findings and take back what it wrote.
    std::vector<std::string> report_namespaces;
    {
      std::lock_guard lock(mu_);
      summaries_.erase(policy_name);
      dirty_.erase(policy_name);
      rules_.erase(policy_name);
      if (auto it = unreserved_.find(policy_name); it != unreserved_.end()) {
        for (const auto& [node, _] : it->second) unreserved_policy_.erase(node);
        unreserved_.erase(it);
      }
      for (const auto& ns : gauge_namespaces_[policy_name]) {
        for (uint8_t bit : hygiene::kResourceBitOrder) {
          missing_gauge_.Remove({policy_name, ns, std::string(hygiene::ResourceFieldName(bit))});
        }
      }
      gauge_namespaces_.erase(policy_name);
      for (const auto& [ns, name] : reports_on_server_) {
        if (name == report_name) report_namespaces.push_back(ns);
      }
    }
    unreserved_gauge_.Remove({policy_name});
    for (const auto& ns : report_namespaces) {
      if (Status s = DeleteReport(policy_name, ns); !s.ok()) return s.error();
    }
    return result;
  }

  const bool paused = policy->policy.spec.paused;
  struct ReportWork {
    std::string namespace_;
    std::optional<nlohmann::json> report;  // nullopt: delete.
  };
  std::vector<ReportWork> reports;
  int64_t pods_flagged = 0;
  api::ResourceHygieneStatus hygiene_status;
  std::vector<std::string> unreserved_nodes;
  size_t unreserved_count = 0;
  bool write_reports = false;
  {
    std::lock_guard lock(mu_);
    static const hygiene::FindingsSummary kEmpty;
    auto s = summaries_.find(policy_name);
    const hygiene::FindingsSummary& summary = s != summaries_.end() ? s->second : kEmpty;
    pods_flagged = summary.Total().pods;
    hygiene_status = summary.ToStatus();
    if (auto it = unreserved_.find(policy_name); it != unreserved_.end()) {
      unreserved_count = it->second.size();
      for (const auto& [node, _] : it->second) {
        if (unreserved_nodes.size() >= api::kMaxStatusNodes) break;
        unreserved_nodes.push_back(node);
      }
    }
    std::set<std::string>& dirty = dirty_[policy_name];
    auto& exported = gauge_namespaces_[policy_name];
    for (const auto& ns : dirty) {
      const auto counts = summary.ByNamespace().find(ns);
      for (size_t i = 0; i < std::size(hygiene::kResourceBitOrder); ++i) {
        const std::string resource(hygiene::ResourceFieldName(hygiene::kResourceBitOrder[i]));
        const int64_t n = counts != summary.ByNamespace().end() ? counts->second.missing[i] : 0;
        if (n > 0) {
          missing_gauge_.WithLabels({policy_name, ns, resource}).Set(static_cast<double>(n));
        } else {
          missing_gauge_.Remove({policy_name, ns, resource});
        }
      }
      if (counts != summary.ByNamespace().end()) {
        exported.insert(ns);
      } else {
        exported.erase(ns);
      }
    }
    // Paused: reports wait (the dirty namespaces are kept for later).
    write_reports = reports_api_ && !paused;
    if (write_reports || !reports_api_) {
      if (write_reports) {
        for (const auto& ns : dirty) {
          std::vector<const hygiene::PodFindings*> pods = summary.PodsInNamespace(ns);
          if (pods.empty()) {
            reports.push_back({ns, std::nullopt});
          } else {
            reports.push_back({ns, hygiene::BuildPolicyReport(ns, policy_name, pods)});
          }
        }
      }
      dirty.clear();
    }
  }
  unreserved_gauge_.WithLabels({policy_name}).Set(static_cast<double>(unreserved_count));
  const bool known = deps_.status->Update(policy_name, [&](api::NodeHealthPolicyStatus& st) {
    st.pods_flagged = pods_flagged;
    st.resource_hygiene = std::move(hygiene_status);
    st.nodes_without_system_reserve = std::move(unreserved_nodes);
  });
  if (!known) result.requeue_after = std::chrono::seconds(1);  // Status writer not fed yet.

  for (const auto& work : reports) {
    Status s = work.report ? ApplyReport(policy_name, work.namespace_, *work.report)
                           : DeleteReport(policy_name, work.namespace_);
    if (!s.ok()) {
      Log().Warn("cannot write PolicyReport; retrying later", {{"policy", policy_name},
                                                               {"namespace", work.namespace_},
                                                               {"error", s.error().ToString()}});
      std::lock_guard lock(mu_);
      dirty_[policy_name].insert(work.namespace_);
      result.requeue_after = std::chrono::seconds(10);
    }
  }
  return result;
}

}  // namespace nodeguard::runtime
