#include "remediation/drain_progress.h"

#include <algorithm>
#include <utility>

#include "common/text.h"
#include "kube/objects.h"

namespace nodeguard::remediation {
namespace {

std::string Name(const DrainPodRef& p) { return p.namespace_ + "/" + p.name; }

void Earliest(std::optional<WallTime>& wake, WallTime t) {
  if (!wake || t < *wake) wake = t;
}

}  // namespace

std::string PdbNameFromCause(std::string_view cause) {
  constexpr std::string_view kPrefix = "The disruption budget ";
  const size_t at = cause.find(kPrefix);
  if (at == std::string_view::npos) return "";
  std::string_view rest = cause.substr(at + kPrefix.size());
  const size_t end = rest.find(' ');
  return std::string(rest.substr(0, end));
}

EvictionResult ClassifyEvictionError(const Error& error, std::string_view pdb_cause_message,
                                     bool namespace_terminating) {
  EvictionResult r;
  r.message = error.ToString();
  if (!pdb_cause_message.empty()) r.message += " (" + std::string(pdb_cause_message) + ")";
  if (error.Is(ErrorKind::kNotFound)) {
    r.outcome = EvictionOutcome::kNotFound;
  } else if (error.Is(ErrorKind::kTooManyRequests)) {
    r.outcome = EvictionOutcome::kTooManyRequests;
    r.pdb_name = PdbNameFromCause(pdb_cause_message);
  } else if (namespace_terminating &&
             (error.http_status == 403 || error.Is(ErrorKind::kUnauthorized))) {
    r.outcome = EvictionOutcome::kNamespaceTerminating;
  } else if (error.Retryable() || error.Is(ErrorKind::kConflict)) {
    r.outcome = EvictionOutcome::kRetryable;
  } else {
    r.outcome = EvictionOutcome::kFatal;
  }
  return r;
}

const char* DrainPodStateName(DrainPodState s) {
  switch (s) {
    case DrainPodState::kToEvict:
      return "ToEvict";
    case DrainPodState::kEvicting:
      return "Evicting";
    case DrainPodState::kBlocked:
      return "Blocked";
    case DrainPodState::kRetrying:
      return "Retrying";
    case DrainPodState::kWaitingForDelete:
      return "WaitingForDelete";
    case DrainPodState::kDone:
      return "Done";
    case DrainPodState::kSkipped:
      return "Skipped";
    case DrainPodState::kFailed:
      return "Failed";
  }
  return "ToEvict";
}

const char* DrainResultKindName(DrainResultKind k) {
  switch (k) {
    case DrainResultKind::kRunning:
      return "Running";
    case DrainResultKind::kSucceeded:
      return "Succeeded";
    case DrainResultKind::kTimedOut:
      return "TimedOut";
    case DrainResultKind::kFailed:
      return "Failed";
  }
  return "Running";
}

std::string DrainResult::Summary() const {
  std::string out;
  switch (kind) {
    case DrainResultKind::kRunning:
      out = "draining";
      break;
    case DrainResultKind::kSucceeded:
      out = "drained " + std::to_string(evicted) + " pod" + (evicted == 1 ? "" : "s");
      break;
    case DrainResultKind::kTimedOut:
      out = "drain timed out";
      break;
    case DrainResultKind::kFailed:
      out = "drain failed";
      break;
  }
  if (skipped > 0) out += " (" + std::to_string(skipped) + " skipped)";
  if (!blocked.empty()) {
    std::vector<std::string> pods;
    pods.reserve(blocked.size());
    for (const auto& b : blocked) {
      pods.push_back(b.pod +
                     (b.pdb_name.empty() ? "" : " (PodDisruptionBudget " + b.pdb_name + ")"));
    }
    out += "; still pending: " + JoinBounded(pods, ", ", kSummaryListBytes);
  }
  if (!errors.empty()) out += "; " + JoinBounded(errors, "; ", kSummaryListBytes);
  return out;
}

DrainTracker::DrainTracker(std::vector<DrainPodRef> pods, WallTime started, Duration timeout,
                           Duration skip_wait_for_delete_timeout,
                           Duration not_ready_skip_wait_for_delete_timeout, Duration retry_delay)
    : skip_wait_(skip_wait_for_delete_timeout),
      not_ready_skip_wait_(not_ready_skip_wait_for_delete_timeout),
      retry_delay_(retry_delay) {
  pods_.reserve(pods.size());
  for (auto& p : pods) {
    DrainPodProgress progress;
    progress.pod = std::move(p);
    pods_.push_back(std::move(progress));
  }
  if (timeout > Duration(0))
    deadline_ = started + std::chrono::duration_cast<WallTime::duration>(timeout);
}

bool DrainTracker::Finished(const DrainPodProgress& p) const {
  return p.state == DrainPodState::kDone || p.state == DrainPodState::kSkipped ||
         p.state == DrainPodState::kFailed;
}

bool DrainTracker::SkipDue(const DrainPodProgress& p, WallTime now) const {
  if (!node_ready_ && kube::IsSet(p.terminating_seen_at) &&
      now - p.terminating_seen_at >= not_ready_skip_wait_) {
    return true;
  }
  // kubectl's shouldSkipPod: whole seconds since deletion strictly above the timeout.
  if (skip_wait_ <= Duration(0) || !kube::IsSet(p.deletion_timestamp)) return false;
  const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - p.deletion_timestamp);
  return age > std::chrono::duration_cast<std::chrono::seconds>(skip_wait_);
}

DrainResult DrainTracker::Tally(DrainResultKind kind) const {
  DrainResult r;
  r.kind = kind;
  for (const auto& p : pods_) {
    switch (p.state) {
      case DrainPodState::kDone:
        ++r.evicted;
        break;
      case DrainPodState::kSkipped:
        ++r.skipped;
        break;
      case DrainPodState::kFailed:
        r.errors.push_back(Name(p.pod) + ": " + p.message);
        break;
      default:
        if (kind == DrainResultKind::kTimedOut) {
          std::string why = p.message;
          if (why.empty()) {
            why = p.state == DrainPodState::kWaitingForDelete ? "evicted; still terminating"
                                                              : DrainPodStateName(p.state);
          }
          r.blocked.push_back(BlockedPod{Name(p.pod), p.pdb_name, why});
        }
        break;
    }
  }
  return r;
}

DrainStep DrainTracker::Next(WallTime now) {
  DrainStep step;
  if (ended_) {
    step.result = Tally(*ended_);
    return step;
  }
  for (auto& p : pods_) {
    if (!Finished(p) && SkipDue(p, now)) p.state = DrainPodState::kSkipped;
  }
  const bool all_finished =
      std::all_of(pods_.begin(), pods_.end(), [this](const auto& p) { return Finished(p); });
  if (all_finished) {
    const bool failed = std::any_of(pods_.begin(), pods_.end(), [](const auto& p) {
      return p.state == DrainPodState::kFailed;
    });
    ended_ = failed ? DrainResultKind::kFailed : DrainResultKind::kSucceeded;
    step.result = Tally(*ended_);
    return step;
  }
  if (deadline_ && now >= *deadline_) {
    ended_ = DrainResultKind::kTimedOut;
    step.result = Tally(*ended_);
    return step;
  }

  for (size_t i = 0; i < pods_.size(); ++i) {
    DrainPodProgress& p = pods_[i];
    const bool retry_due =
        (p.state == DrainPodState::kBlocked || p.state == DrainPodState::kRetrying) &&
        p.retry_at <= now;
    if (p.state == DrainPodState::kBlocked && !p.block_reported) {
      p.block_reported = true;
      step.newly_blocked.push_back(i);
    }
    if (p.state == DrainPodState::kToEvict || retry_due) {
      p.state = DrainPodState::kEvicting;
      ++p.evictions_sent;
      step.evict.push_back(i);
    } else if (p.state == DrainPodState::kBlocked || p.state == DrainPodState::kRetrying) {
      Earliest(step.wake_at, p.retry_at);
    }
    if (!Finished(p) && !node_ready_ && kube::IsSet(p.terminating_seen_at)) {
      Earliest(step.wake_at, p.terminating_seen_at + std::chrono::duration_cast<WallTime::duration>(
                                                         not_ready_skip_wait_));
    }
    if (!Finished(p) && skip_wait_ > Duration(0) && kube::IsSet(p.deletion_timestamp)) {
      // First instant at which whole seconds since deletion exceed the timeout.
      Earliest(step.wake_at, p.deletion_timestamp +
                                 std::chrono::duration_cast<WallTime::duration>(
                                     std::chrono::duration_cast<std::chrono::seconds>(skip_wait_) +
                                     std::chrono::seconds(1)));
    }
  }
  if (deadline_) Earliest(step.wake_at, *deadline_);
  return step;
}

void DrainTracker::OnEvictionResult(size_t index, const EvictionResult& result, WallTime now) {
  DrainPodProgress& p = pods_.at(index);
  if (ended_ || p.state != DrainPodState::kEvicting) return;  // Stale: the pod moved on.
  switch (result.outcome) {
    case EvictionOutcome::kAccepted:
      p.state = DrainPodState::kWaitingForDelete;
      p.message.clear();
      if (!kube::IsSet(p.terminating_seen_at)) p.terminating_seen_at = now;
      break;
    case EvictionOutcome::kNotFound:
      p.state = DrainPodState::kDone;
      break;
    case EvictionOutcome::kTooManyRequests:
      p.state = DrainPodState::kBlocked;
      p.retry_at = now + std::chrono::duration_cast<WallTime::duration>(retry_delay_);
      if (!result.pdb_name.empty()) p.pdb_name = result.pdb_name;
      p.message = result.message;
      break;
    case EvictionOutcome::kNamespaceTerminating:
      if (kube::IsSet(p.deletion_timestamp)) {
        p.state = DrainPodState::kWaitingForDelete;
      } else {
        p.state = DrainPodState::kRetrying;
        p.retry_at = now + std::chrono::duration_cast<WallTime::duration>(retry_delay_);
      }
      p.message = result.message;
      break;
    case EvictionOutcome::kRetryable:
      p.state = DrainPodState::kRetrying;
      p.retry_at = now + std::chrono::duration_cast<WallTime::duration>(retry_delay_);
      p.message = result.message;
      break;
    case EvictionOutcome::kFatal:
      p.state = DrainPodState::kFailed;
      p.message = result.message;
      break;
  }
}

void DrainTracker::OnPodObserved(size_t index, const std::optional<ObservedPod>& pod,
                                 WallTime now) {
  DrainPodProgress& p = pods_.at(index);
  if (ended_ || p.state == DrainPodState::kDone || p.state == DrainPodState::kSkipped) return;
  if (!pod || pod->uid != p.pod.uid) {
    // Gone, or replaced by a new pod of the same name: this one is done.
    p.state = DrainPodState::kDone;
    return;
  }
  if (p.state == DrainPodState::kFailed) return;
  p.deletion_timestamp = pod->deletion_timestamp;
  if (kube::IsSet(p.deletion_timestamp) && !kube::IsSet(p.terminating_seen_at)) {
    p.terminating_seen_at = now;
  }
  if (SkipDue(p, now)) p.state = DrainPodState::kSkipped;
}

}  // namespace nodeguard::remediation
