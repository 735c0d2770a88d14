#include "remediation/drainer.h"

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <utility>

#include "kube/decode.h"
#include "observe/log.h"

namespace nodeguard::runtime {
namespace {

using remediation::DrainObservation;
using remediation::DrainPodRef;
using remediation::DrainPodState;
using remediation::EvictionOutcome;
using remediation::EvictionResult;
using remediation::ObservedPod;

observe::Logger Log() { return observe::Log().With({{"component", "drainer"}}); }

std::string PodName(const DrainPodRef& p) { return p.namespace_ + "/" + p.name; }

std::string JoinValues(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) {
    if (!out.empty()) out += ",";
    out += v;
  }
  return out;
}

WallTime Plus(WallTime t, Duration d) {
  return t + std::chrono::duration_cast<WallTime::duration>(d);
}

DrainObservation::Kind KindOf(remediation::DrainResultKind k) {
  switch (k) {
    case remediation::DrainResultKind::kRunning:
      return DrainObservation::kRunning;
    case remediation::DrainResultKind::kSucceeded:
      return DrainObservation::kSucceeded;
    case remediation::DrainResultKind::kTimedOut:
      return DrainObservation::kTimedOut;
    case remediation::DrainResultKind::kFailed:
      return DrainObservation::kFailed;
  }
  return DrainObservation::kFailed;
}

bool Finished(DrainPodState s) {
  return s == DrainPodState::kDone || s == DrainPodState::kSkipped || s == DrainPodState::kFailed;
}

}  // namespace

// ------------------------------------------------------------------ REST

std::string LabelSelectorString(const api::LabelSelector& selector) {
  std::vector<std::string> terms;
  for (const auto& [k, v] : selector.match_labels) terms.push_back(k + "=" + v);
  for (const auto& r : selector.match_expressions) {
    switch (r.op) {
      case api::SelectorOperator::kIn:
        terms.push_back(r.key + " in (" + JoinValues(r.values) + ")");
        break;
      case api::SelectorOperator::kNotIn:
        terms.push_back(r.key + " notin (" + JoinValues(r.values) + ")");
        break;
      case api::SelectorOperator::kExists:
        terms.push_back(r.key);
        break;
      case api::SelectorOperator::kDoesNotExist:
        terms.push_back("!" + r.key);
        break;
    }
  }
  return JoinValues(terms);
}

Result<std::vector<kube::Pod>> RestDrainApi::ListPods(const std::string& node,
                                                      const api::LabelSelector& selector) {
  kube::ListOptions options;
  options.field_selector = "spec.nodeName=" + node;
  if (!selector.Empty()) options.label_selector = LabelSelectorString(selector);
  auto list = rest_.ListAll(kube::CoreResource("pods"), options);
  if (!list.ok()) return list.error();
  std::vector<kube::Pod> pods;
  pods.reserve(list->items.size());
  for (const auto& item : list->items) {
    auto pod = kube::DecodePod(item);
    // A pod we cannot read is never evicted blindly: the drain retries the list.
    if (!pod.ok())
      return Error::Invalid("cannot decode a pod on " + node + ": " + pod.error().message);
    pods.push_back(std::move(pod).value());
  }
  return pods;
}

EvictionResult ClassifyEvictionResponse(const kube::HttpResponse& response) {
  const Error error = kube::ErrorFromResponse(response);
  std::string pdb_cause;
  bool namespace_terminating = false;
  const auto doc = nlohmann::json::parse(response.body, nullptr, false);
  if (doc.is_object()) {
    const auto details = doc.find("details");
    if (details != doc.end() && details->is_object()) {
      const auto causes = details->find("causes");
      if (causes != details->end() && causes->is_array()) {
        for (const auto& cause : *causes) {
          if (!cause.is_object()) continue;
          // metav1.StatusCause serialises its Type as "reason".
          const std::string type = cause.value("reason", "");
          if (type == "DisruptionBudget" && pdb_cause.empty()) {
            pdb_cause = cause.value("message", "");
          } else if (type == "NamespaceTerminating") {
            namespace_terminating = true;
          }
        }
      }
    }
  }
  return remediation::ClassifyEvictionError(error, pdb_cause, namespace_terminating);
}

EvictionResult RestDrainApi::Evict(const DrainPodRef& pod,
                                   std::optional<int64_t> grace_period_seconds) {
  // Sent here rather than through RestClient::Evict because the refusal's
  // Status body names the PodDisruptionBudget, which an Error drops.
  kube::DeleteOptions delete_options;
  delete_options.precondition_uid = pod.uid;  // Never evict a replacement by mistake.
  delete_options.grace_period_seconds = grace_period_seconds;
  nlohmann::json eviction = {{"apiVersion", "policy/v1"},
                             {"kind", "Eviction"},
                             {"metadata", {{"name", pod.name}, {"namespace", pod.namespace_}}},
                             {"deleteOptions", nlohmann::json::parse(delete_options.ToJson())}};
  kube::HttpRequest request;
  request.method = "POST";
  request.path_and_query =
      kube::ObjectPath(kube::CoreResource("pods", pod.namespace_), pod.name, "eviction");
  request.headers["Content-Type"] = "application/json";
  request.body = eviction.dump();
  request.timeout = rest_.options().timeout;
  const Clock& clock = *rest_.options().clock;
  rest_.Throttle();  // The client-side rate limit, as for every request of `rest_`.
  const MonoTime start = clock.Monotonic();
  auto response = rest_.http().Send(request);
  if (rest_.options().observer) {
    const std::string path = request.path_and_query;
    rest_.options().observer(kube::RequestMetric{"evict", request.method, path,
                                                 response.ok() ? response->status : 0,
                                                 clock.Monotonic() - start, 1});
  }
  if (!response.ok()) return remediation::ClassifyEvictionError(response.error());
  if (response->status >= 200 && response->status < 300) return EvictionResult{};
  return ClassifyEvictionResponse(*response);
}

bool RestDrainApi::NodeReady(const std::string& node) {
  if (nodes_ == nullptr) return true;  // Nothing to tell: kubectl's semantics.
  auto cached = nodes_->Get("", node);
  if (!cached) return false;
  const kube::NodeCondition* ready = cached->FindCondition("Ready");
  return ready != nullptr && ready->status == kube::ConditionStatus::kTrue;
}

Result<std::optional<ObservedPod>> RestDrainApi::GetPod(const DrainPodRef& pod) {
  if (pods_ != nullptr) {
    if (auto cached = pods_->Get(pod.namespace_, pod.name)) {
      return std::optional<ObservedPod>(
          ObservedPod{cached->meta.uid.str(), cached->meta.deletion_timestamp});
    }
  }
  auto got = rest_.Get(kube::CoreResource("pods", pod.namespace_), pod.name);
  if (!got.ok()) {
    if (got.error().Is(ErrorKind::kNotFound)) return std::optional<ObservedPod>();
    return got.error();
  }
  auto decoded = kube::DecodePod(*got);
  if (!decoded.ok()) return decoded.error();
  return std::optional<ObservedPod>(
      ObservedPod{decoded->meta.uid.str(), decoded->meta.deletion_timestamp});
}

// ------------------------------------------------------------------ DrainRun

DrainRun::DrainRun(DrainJob job, DrainApi& api, const Clock& clock, const DrainerOptions& options)
    : job_(std::move(job)), api_(api), clock_(clock), options_(options) {}

void DrainRun::Emit(kube::EventType type, std::string reason, std::string message) const {
  if (job_.event) job_.event(type, std::move(reason), std::move(message));
}

DrainRun::Tick DrainRun::Finish(DrainObservation::Kind kind, std::string message) {
  Tick t;
  t.kind = kind;
  t.message = std::move(message);
  finished_ = t;
  if (options_.on_verdict && kind != DrainObservation::kNotRunning) {
    const WallTime now = clock_.Now();
    options_.on_verdict(job_, kind, started_ ? now - *started_ : Duration::zero());
  }
  return t;
}

void DrainRun::SendEvictions(const std::vector<size_t>& indexes) {
  std::vector<EvictionResult> results(indexes.size());
  std::vector<DrainPodRef> refs;
  refs.reserve(indexes.size());
  for (size_t i : indexes) refs.push_back(tracker_->pods()[i].pod);
  const auto grace = job_.spec.grace_period_seconds;
  const size_t workers = std::min<size_t>(
      indexes.size(), static_cast<size_t>(std::max(1, options_.max_parallel_evictions)));
  if (workers <= 1) {
    for (size_t k = 0; k < refs.size(); ++k) results[k] = api_.Evict(refs[k], grace);
  } else {
    std::atomic<size_t> next{0};
    std::vector<std::thread> threads;
    threads.reserve(workers);
    for (size_t w = 0; w < workers; ++w) {
      threads.emplace_back([&] {
        for (size_t k = next.fetch_add(1); k < refs.size(); k = next.fetch_add(1)) {
          results[k] = api_.Evict(refs[k], grace);
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  const WallTime now = clock_.Now();
  for (size_t k = 0; k < indexes.size(); ++k) {
    tracker_->OnEvictionResult(indexes[k], results[k], now);
  }
}

DrainRun::Tick DrainRun::Step() {
  if (finished_) return *finished_;
  const WallTime now = clock_.Now();
  if (!started_) started_ = now;

  if (!tracker_) {
    auto listed = api_.ListPods(job_.node, job_.spec.pod_selector);
    if (!listed.ok()) {
      const std::string why = "cannot list the node's pods: " + listed.error().ToString();
      if (job_.deadline && now >= *job_.deadline) {
        Emit(kube::EventType::kWarning, "DrainTimedOut", "drain timed out; " + why);
        return Finish(DrainObservation::kTimedOut, "drain timed out; " + why);
      }
      Log().Warn("drain: listing pods failed; retrying",
                 {{"node", job_.node}, {"policy", job_.policy}, {"error", why}});
      Tick t;
      t.message = why;
      t.wake_at = Plus(now, options_.retry_delay);
      return t;
    }
    const std::vector<kube::Pod> pods = std::move(listed).value();
    // The selector was applied by the list; filters run in kubectl's order.
    const remediation::DrainPlan plan =
        remediation::PlanDrain(pods, remediation::DrainFilterOptions::From(job_.spec), now);
    if (!plan.ok()) {
      const std::string why = "drain failed before any eviction: " + plan.ErrorSummary();
      Emit(kube::EventType::kWarning, "DrainFailed", why);
      return Finish(DrainObservation::kFailed, why);
    }
    std::vector<DrainPodRef> refs;
    refs.reserve(plan.to_evict.size());
    for (const kube::Pod* p : plan.to_evict) {
      refs.push_back(DrainPodRef{p->meta.namespace_.str(), p->meta.name, p->meta.uid.str()});
    }
    // Anchor the tracker's deadline on the remediation's, which survives restarts.
    WallTime started = now;
    Duration timeout{0};
    if (job_.deadline) {
      if (job_.spec.timeout > Duration(0)) {
        started =
            *job_.deadline - std::chrono::duration_cast<WallTime::duration>(job_.spec.timeout);
        timeout = job_.spec.timeout;
      } else {
        timeout = std::max<Duration>(*job_.deadline - now, std::chrono::milliseconds(1));
      }
    }
    std::string message = refs.empty() ? "no pods to evict"
                                       : "evicting " + std::to_string(refs.size()) + " pod" +
                                             (refs.size() == 1 ? "" : "s") + ":";
    for (size_t i = 0; i < refs.size() && i < 10; ++i) message += " " + PodName(refs[i]);
    if (refs.size() > 10) message += " (and " + std::to_string(refs.size() - 10) + " more)";
    for (const auto& w : plan.warnings) message += "; " + w;
    tracker_.emplace(std::move(refs), started, timeout, job_.spec.skip_wait_for_delete_timeout,
                     job_.spec.not_ready_skip_wait_for_delete_timeout, options_.retry_delay);
    Emit(kube::EventType::kNormal, "EvictingPods", message);
    Log().Info("drain started", {{"node", job_.node},
                                 {"policy", job_.policy},
                                 {"remediation", job_.remediation_id},
                                 {"message", message}});
  }

  // Whether the kubelet can finish deletions at all, and what became of the
  // pods (gone, replaced, terminating).
  const bool node_ready = api_.NodeReady(job_.node);
  tracker_->OnNodeObserved(node_ready);
  for (size_t i = 0; i < tracker_->pods().size(); ++i) {
    const auto& p = tracker_->pods()[i];
    if (Finished(p.state) || p.state == DrainPodState::kEvicting) continue;
    auto seen = api_.GetPod(p.pod);
    if (seen.ok()) tracker_->OnPodObserved(i, *seen, now);
  }

  remediation::DrainStep step = tracker_->Next(now);
  for (size_t i : step.newly_blocked) {
    const auto& p = tracker_->pods()[i];
    std::string why = "cannot evict " + PodName(p.pod);
    why += p.pdb_name.empty() ? ": " + p.message : ": blocked by PodDisruptionBudget " + p.pdb_name;
    why += "; retrying every " +
           FormatGoDuration(std::chrono::duration_cast<std::chrono::seconds>(options_.retry_delay));
    if (tracker_->deadline()) why += " until the drain timeout";
    Emit(kube::EventType::kWarning, "EvictionBlocked", why);
  }
  if (step.result.kind != remediation::DrainResultKind::kRunning) {
    std::string summary = step.result.Summary();
    if (step.result.skipped > 0 && !node_ready) {
      summary +=
          "; the node is not Ready, so its kubelet finishes the skipped pods' deletion "
          "once it works again";
    }
    const auto kind = KindOf(step.result.kind);
    // Success is told once, by the decide step's `Drained` Event, which
    // carries this summary (DrainObservation::message).
    if (kind != DrainObservation::kSucceeded) {
      Emit(kube::EventType::kWarning,
           kind == DrainObservation::kTimedOut ? "DrainTimedOut" : "DrainFailed", summary);
    }
    Log().Info("drain finished", {{"node", job_.node},
                                  {"policy", job_.policy},
                                  {"remediation", job_.remediation_id},
                                  {"result", remediation::DrainResultKindName(step.result.kind)},
                                  {"summary", summary}});
    return Finish(kind, summary);
  }
  Tick t;
  t.message = "draining";
  if (!step.evict.empty()) {
    if (options_.fence) {
      if (Status fenced = options_.fence(); !fenced.ok()) {
        // Not the leader any more: stop without a verdict (the new leader resumes).
        Log().Warn("drain stopped: fenced", {{"node", job_.node}, {"policy", job_.policy}});
        return Finish(DrainObservation::kNotRunning, "stopped: " + fenced.error().ToString());
      }
    }
    SendEvictions(step.evict);
    t.wake_at = clock_.Now();  // Look again at once: report blocks, watch deletions.
  } else {
    t.wake_at = step.wake_at;
  }
  return t;
}

// ------------------------------------------------------------------ Drainer

struct Drainer::Entry {
  DrainJob job;
  std::thread thread;
  bool cancelled = false;   // Guarded by Drainer::mu_.
  bool running = true;      // Guarded by Drainer::mu_.
  bool exited = false;      // Guarded by Drainer::mu_: the thread touches nothing any more.
  DrainObservation result;  // Guarded by Drainer::mu_.
};

Drainer::Drainer(DrainApi& api, const Clock& clock, DrainerOptions options)
    : api_(api), clock_(clock), options_(std::move(options)) {}

Drainer::~Drainer() { Shutdown(); }

void Drainer::ReapLocked() {
  auto done =
      std::partition(retired_.begin(), retired_.end(), [](const auto& e) { return !e->exited; });
  for (auto it = done; it != retired_.end(); ++it) {
    if ((*it)->thread.joinable()) (*it)->thread.join();
  }
  retired_.erase(done, retired_.end());
}

void Drainer::Start(DrainJob job) {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  ReapLocked();
  if (auto it = nodes_.find(job.node); it != nodes_.end()) {
    const bool stopped_without_verdict =
        !it->second->running && it->second->result.kind == DrainObservation::kNotRunning;
    if (it->second->job.remediation_id == job.remediation_id && !stopped_without_verdict) return;
    it->second->cancelled = true;
    retired_.push_back(it->second);
    nodes_.erase(it);
    cv_.notify_all();
  }
  auto entry = std::make_shared<Entry>();
  entry->result.kind = DrainObservation::kRunning;
  entry->result.remediation_id = job.remediation_id;
  entry->result.message = "draining";
  entry->job = std::move(job);
  nodes_[entry->job.node] = entry;
  entry->thread = std::thread([this, entry] { Run(entry); });
}

void Drainer::Run(const std::shared_ptr<Entry>& entry) {
  DrainRun run(entry->job, api_, clock_, options_);
  for (;;) {
    const DrainRun::Tick tick = run.Step();
    if (tick.kind != DrainObservation::kRunning) {
      bool notify = false;
      {
        std::lock_guard lock(mu_);
        entry->running = false;
        if (tick.kind != DrainObservation::kNotRunning) {
          entry->result.kind = tick.kind;
          entry->result.message = tick.message;
          notify = !entry->cancelled && !stopping_;
        } else {
          entry->result.kind = DrainObservation::kNotRunning;
        }
        cv_.notify_all();
      }
      if (notify && entry->job.on_finished) entry->job.on_finished();
      std::lock_guard lock(mu_);
      entry->exited = true;
      cv_.notify_all();
      return;
    }
    std::unique_lock lock(mu_);
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(options_.poll_interval);
    if (tick.wake_at) {
      const auto until =
          std::chrono::duration_cast<std::chrono::milliseconds>(*tick.wake_at - clock_.Now());
      wait = std::clamp(until, std::chrono::milliseconds(0), wait);
    }
    cv_.wait_for(lock, wait, [&] { return entry->cancelled || stopping_; });
    if (entry->cancelled || stopping_) {
      entry->running = false;
      entry->exited = true;
      cv_.notify_all();
      return;
    }
  }
}

void Drainer::Cancel(const std::string& node, const std::string& remediation_id) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return;
  if (!remediation_id.empty() && it->second->job.remediation_id != remediation_id) return;
  it->second->cancelled = true;
  retired_.push_back(it->second);
  nodes_.erase(it);
  cv_.notify_all();
  ReapLocked();
}

DrainObservation Drainer::Observe(const std::string& node) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return DrainObservation{};
  return it->second->result;
}

std::vector<std::string> Drainer::NodesOf(const std::string& policy) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [node, entry] : nodes_) {
    if (entry->job.policy == policy) out.push_back(node);
  }
  return out;
}

bool Drainer::WaitIdle(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    for (const auto& [_, e] : nodes_)
      if (!e->exited) return false;
    for (const auto& e : retired_)
      if (!e->exited) return false;
    return true;
  });
}

void Drainer::Shutdown() {
  std::vector<std::shared_ptr<Entry>> all;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [_, e] : nodes_) {
      e->cancelled = true;
      all.push_back(e);
    }
    nodes_.clear();
    for (auto& e : retired_) all.push_back(e);
    retired_.clear();
    cv_.notify_all();
  }
  for (auto& e : all) {
    if (e->thread.joinable()) e->thread.join();
  }
}

}  // namespace nodeguard::runtime
