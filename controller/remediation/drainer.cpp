#include "remediation/drainer.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "observe/log.h"

namespace nodeguard::runtime {
namespace {

using remediation::DrainObservation;
using remediation::DrainPodRef;
using remediation::DrainPodState;
using remediation::EvictionOutcome;
using remediation::EvictionResult;

observe::Logger Log() { return observe::Log().With({{"component", "drainer"}}); }

std::string PodName(const DrainPodRef& p) { return p.namespace_ + "/" + p.name; }

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

std::optional<DrainRun::Tick> DrainRun::Plan(WallTime now) {
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
      started = *job_.deadline - std::chrono::duration_cast<WallTime::duration>(job_.spec.timeout);
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
  return std::nullopt;
}

DrainRun::Tick DrainRun::Step() {
  if (finished_) return *finished_;
  const WallTime now = clock_.Now();
  if (!started_) started_ = now;

  if (!tracker_) {
    if (auto ended = Plan(now)) return *ended;  // Not planned (yet).
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
