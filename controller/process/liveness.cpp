#include "process/liveness.h"

#include <algorithm>
#include <string>

namespace nodeguard::process {

Duration InformerStallBound(const kube::InformerOptions& informer, const kube::RestOptions& rest) {
  const Duration whole_watch =
      Duration(rest.timeout) + 2 * informer.min_watch_timeout + informer.idle_timeout;
  const int attempts = std::max(1, rest.max_attempts);
  const Duration between_attempts =
      std::max<Duration>(rest.max_backoff, std::chrono::seconds(rest.max_retry_after));
  const Duration list_page = attempts * Duration(rest.timeout) + (attempts - 1) * between_attempts;
  return std::max(whole_watch, list_page) + informer.backoff.max + std::chrono::minutes(1);
}

Status CheckInformerProgress(const std::vector<InformerProgress>& informers, MonoTime now,
                             Duration bound) {
  std::string stalled;
  for (const InformerProgress& i : informers) {
    const Duration quiet = now - i.last_progress;
    if (quiet <= bound) continue;
    if (!stalled.empty()) stalled += "; ";
    stalled += std::string(i.resource) + " informer made no progress for " +
               FormatGoDuration(std::chrono::duration_cast<std::chrono::seconds>(quiet));
  }
  if (stalled.empty()) return Status::Ok();
  return Error::Unavailable(
      stalled + " (bound " +
      FormatGoDuration(std::chrono::duration_cast<std::chrono::seconds>(bound)) +
      "): list/watch loop wedged");
}

Status CheckReconcileProgress(const std::vector<ReconcilerProgress>& reconcilers, Duration bound) {
  std::string wedged;
  for (const ReconcilerProgress& r : reconcilers) {
    if (r.longest_running <= bound) continue;
    if (!wedged.empty()) wedged += "; ";
    wedged += std::string(r.reconciler) + " has a reconcile running for " +
              FormatGoDuration(std::chrono::duration_cast<std::chrono::seconds>(r.longest_running));
  }
  if (wedged.empty()) return Status::Ok();
  return Error::Unavailable(
      wedged + " (bound " +
      FormatGoDuration(std::chrono::duration_cast<std::chrono::seconds>(bound)) +
      "): reconcile wedged");
}

bool ReconcileWedgedPastGrace(const std::vector<ReconcilerProgress>& reconcilers, Duration bound) {
  for (const ReconcilerProgress& r : reconcilers) {
    if (r.longest_running > bound + kLivenessExitGrace) return true;
  }
  return false;
}

}  // namespace nodeguard::process
