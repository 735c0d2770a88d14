#include "reconcile/status_writer.h"

#include <vector>

namespace nodeguard::runtime {

StatusWriter::StatusWriter(StatusApi& api, const Clock& clock,
                           std::chrono::milliseconds min_interval)
    : api_(api), clock_(clock), min_interval_(min_interval) {}

void StatusWriter::Observe(const api::NodeHealthPolicy& policy) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = entries_.try_emplace(policy.meta.name);
  Entry& e = it->second;
  if (inserted) e.desired = policy.status;
  e.observed = policy.status;
  e.resource_version = policy.meta.resource_version;
  // Someone else (a previous leader, a person) wrote a status we did not:
  // forget our last write so the comparison is against the server again.
  if (e.last_written && !(*e.last_written == policy.status)) e.last_written.reset();
}

void StatusWriter::Forget(const std::string& policy) {
  std::lock_guard lock(mu_);
  entries_.erase(policy);
}

bool StatusWriter::Update(const std::string& policy,
                          const std::function<void(api::NodeHealthPolicyStatus&)>& mutate) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(policy);
  if (it == entries_.end()) return false;
  mutate(it->second.desired);
  return true;
}

void StatusWriter::ResetToObserved() {
  std::lock_guard lock(mu_);
  for (auto& [name, e] : entries_) {
    e.desired = e.observed;
    e.last_written.reset();
  }
}

std::optional<api::NodeHealthPolicyStatus> StatusWriter::Desired(const std::string& policy) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(policy);
  if (it == entries_.end()) return std::nullopt;
  return it->second.desired;
}

bool StatusWriter::Pending(const Entry& e) const {
  if (e.desired == e.observed) return false;
  return !(e.last_written && *e.last_written == e.desired);
}

std::optional<std::chrono::milliseconds> StatusWriter::Flush() {
  struct Job {
    std::string name;
    std::string resource_version;
    api::NodeHealthPolicyStatus status;
  };
  std::vector<Job> jobs;
  std::optional<std::chrono::milliseconds> next;
  const MonoTime now = clock_.Monotonic();
  auto consider_wait = [&next](std::chrono::milliseconds wait) {
    if (!next || wait < *next) next = wait;
  };
  {
    std::lock_guard lock(mu_);
    for (auto& [name, e] : entries_) {
      if (!Pending(e)) continue;
      const MonoTime due = e.last_write_at + min_interval_;
      if (e.wrote_once && now < due) {
        consider_wait(std::chrono::duration_cast<std::chrono::milliseconds>(due - now));
        continue;
      }
      jobs.push_back({name, e.resource_version, e.desired});
    }
  }
  for (Job& job : jobs) {
    Result<std::string> written = api_.WriteStatus(job.name, job.resource_version, job.status);
    std::lock_guard lock(mu_);
    auto it = entries_.find(job.name);
    if (written.ok()) {
      ++stats_.writes;
      if (it == entries_.end()) continue;
      Entry& e = it->second;
      e.last_written = std::move(job.status);
      e.resource_version = *written;
      e.last_write_at = now;
      e.wrote_once = true;
      if (Pending(e)) consider_wait(min_interval_);
      continue;
    }
    if (written.error().Is(ErrorKind::kConflict)) {
      ++stats_.conflicts;
    } else {
      ++stats_.errors;
    }
    if (it == entries_.end()) continue;
    // Retry after the interval, with whatever resourceVersion Observe brings.
    it->second.last_write_at = now;
    it->second.wrote_once = true;
    consider_wait(min_interval_);
  }
  return next;
}

StatusWriterStats StatusWriter::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace nodeguard::runtime
