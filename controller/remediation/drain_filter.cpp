#include "remediation/drain_filter.h"

#include <utility>

namespace nodeguard::remediation {
namespace {

// kubectl's messages, with its flag names replaced by the policy's fields.
constexpr const char* kDaemonSetWarning = "ignoring DaemonSet-managed Pods";
constexpr const char* kLocalStorageFatal =
    "Pods with local storage (set drain.deleteEmptyDirData to override)";
constexpr const char* kLocalStorageWarning = "deleting Pods with local storage";
constexpr const char* kUnmanagedFatal =
    "Pods that declare no controller (set drain.force to override)";
constexpr const char* kUnmanagedWarning = "deleting Pods that declare no controller";
constexpr const char* kNotSelected = "not selected by drain.podSelector";
constexpr const char* kMirror = "mirror (static) pod";
constexpr const char* kDeletedLongAgo =
    "terminating for longer than drain.skipWaitForDeleteTimeout";

PodVerdict Evict() { return PodVerdict{}; }
PodVerdict Skip(std::string reason) {
  return PodVerdict{PodVerdictKind::kSkip, std::move(reason), {}};
}
PodVerdict Fail(std::string reason) {
  return PodVerdict{PodVerdictKind::kError, std::move(reason), {}};
}

// kubectl: int(time.Since(deletionTimestamp).Seconds()) > skipWaitForDeleteTimeoutSeconds.
bool DeletedLongerThan(const kube::Pod& pod, Duration timeout, WallTime now) {
  if (timeout <= Duration(0) || !pod.Terminating()) return false;
  const auto age =
      std::chrono::duration_cast<std::chrono::seconds>(now - pod.meta.deletion_timestamp);
  return age > std::chrono::duration_cast<std::chrono::seconds>(timeout);
}

std::string PodName(const kube::Pod& pod) {
  return std::string(pod.meta.namespace_.view()) + "/" + pod.meta.name;
}

// Appends `pod` to the group `message` in `groups`, keeping first-appearance order.
void Group(std::vector<std::pair<std::string, std::vector<std::string>>>& groups,
           const std::string& message, const std::string& pod) {
  for (auto& [m, pods] : groups) {
    if (m == message) {
      pods.push_back(pod);
      return;
    }
  }
  groups.push_back({message, {pod}});
}

std::string JoinGroup(const std::string& prefix, const std::string& message,
                      const std::vector<std::string>& pods) {
  std::string out = prefix + message + ": ";
  for (size_t i = 0; i < pods.size(); ++i) {
    if (i > 0) out += ", ";
    out += pods[i];
  }
  return out;
}

}  // namespace

const char* PodVerdictKindName(PodVerdictKind k) {
  switch (k) {
    case PodVerdictKind::kEvict:
      return "Evict";
    case PodVerdictKind::kSkip:
      return "Skip";
    case PodVerdictKind::kError:
      return "Error";
  }
  return "Evict";
}

DrainFilterOptions DrainFilterOptions::From(const api::DrainSpec& spec) {
  DrainFilterOptions o;
  o.force = spec.force;
  o.delete_empty_dir_data = spec.delete_empty_dir_data;
  o.skip_wait_for_delete_timeout = spec.skip_wait_for_delete_timeout;
  return o;
}

PodVerdict FilterPod(const kube::Pod& pod, const DrainFilterOptions& options, WallTime now,
                     const DaemonSetLookupFn& daemon_set_exists, const PodSelectorFn& selected) {
  if (selected && !selected(pod)) return Skip(kNotSelected);

  // 1. skipDeletedFilter.
  if (DeletedLongerThan(pod, options.skip_wait_for_delete_timeout, now))
    return Skip(kDeletedLongAgo);

  PodVerdict verdict = Evict();
  const bool finished = pod.Terminal();

  // 2. daemonSetFilter.
  if (pod.controller_kind == kube::ControllerKind::kDaemonSet && !finished) {
    const DaemonSetLookup lookup = daemon_set_exists ? daemon_set_exists(pod) : DaemonSetLookup{};
    switch (lookup.kind) {
      case DaemonSetLookup::kExists: {
        PodVerdict skip = Skip(kDaemonSetWarning);
        skip.warnings.push_back(kDaemonSetWarning);
        return skip;
      }
      case DaemonSetLookup::kNotFound:
        if (!options.force) {
          return Fail(lookup.message.empty()
                          ? "DaemonSet \"" + pod.daemon_set_name.str() + "\" not found"
                          : lookup.message);
        }
        verdict.warnings.push_back(lookup.message.empty()
                                       ? "DaemonSet \"" + pod.daemon_set_name.str() + "\" not found"
                                       : lookup.message);
        break;
      case DaemonSetLookup::kError:
        return Fail(lookup.message.empty()
                        ? "cannot read DaemonSet \"" + pod.daemon_set_name.str() + "\""
                        : lookup.message);
    }
  }

  // 3. mirrorPodFilter.
  if (pod.mirror) return Skip(kMirror);

  // 4. localStorageFilter.
  if (pod.has_empty_dir && !finished) {
    if (!options.delete_empty_dir_data) return Fail(kLocalStorageFatal);
    verdict.warnings.push_back(kLocalStorageWarning);
  }

  // 5. unreplicatedFilter.
  if (!finished && pod.controller_kind == kube::ControllerKind::kNone) {
    if (!options.force) return Fail(kUnmanagedFatal);
    verdict.warnings.push_back(kUnmanagedWarning);
  }
  return verdict;
}

std::string DrainPlan::ErrorSummary() const {
  std::string out;
  for (size_t i = 0; i < errors.size(); ++i) {
    if (i > 0) out += "; ";
    out += errors[i];
  }
  return out;
}

DrainPlan PlanDrain(std::span<const kube::Pod> pods, const DrainFilterOptions& options,
                    WallTime now, const DaemonSetLookupFn& daemon_set_exists,
                    const PodSelectorFn& selected) {
  DrainPlan plan;
  std::vector<std::pair<std::string, std::vector<std::string>>> errors;
  std::vector<std::pair<std::string, std::vector<std::string>>> warnings;
  plan.pods.reserve(pods.size());
  for (const kube::Pod& pod : pods) {
    PodVerdict verdict = FilterPod(pod, options, now, daemon_set_exists, selected);
    const std::string name = PodName(pod);
    if (verdict.kind == PodVerdictKind::kEvict) plan.to_evict.push_back(&pod);
    if (verdict.kind == PodVerdictKind::kError) Group(errors, verdict.reason, name);
    for (const std::string& w : verdict.warnings) Group(warnings, w, name);
    plan.pods.push_back({&pod, std::move(verdict)});
  }
  for (const auto& [message, names] : errors)
    plan.errors.push_back(JoinGroup("cannot delete ", message, names));
  for (const auto& [message, names] : warnings)
    plan.warnings.push_back(JoinGroup("", message, names));
  return plan;
}

}  // namespace nodeguard::remediation
