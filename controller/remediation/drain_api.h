#pragma once

// DrainApi: the I/O a drain needs (remediation/drainer.h carries it out as
// `kubectl drain` does), and that overflow eviction shares (density): list a
// node's pods from the API server, evict one, look at one, and whether the
// node is Ready. The REST implementation is writes::RestDrainApi
// (writes/rest_drain_api.h); tests substitute fakes.
//
// Implementations are thread-safe (evictions run in parallel).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/types.h"
#include "common/result.h"
#include "kube/objects.h"
#include "remediation/drain_progress.h"

namespace nodeguard::remediation {

class DrainApi {
 public:
  virtual ~DrainApi() = default;
  // The pods bound to `node`, only those matching `selector` when it is not
  // empty (kubectl lists with --pod-selector the same way): a quorum read,
  // so a lagging cache never decides how many to evict.
  virtual Result<std::vector<kube::Pod>> ListPods(const std::string& node,
                                                  const api::LabelSelector& selector) = 0;
  // POST policy/v1 Eviction for this incarnation of the pod. Success is
  // EvictionOutcome::kAccepted; errors are classified (ClassifyEvictionError).
  virtual EvictionResult Evict(const DrainPodRef& pod,
                               std::optional<int64_t> grace_period_seconds) = 0;
  // The pod as it is now, nullopt when it no longer exists. An Error means
  // "cannot tell now" (the drain keeps waiting).
  virtual Result<std::optional<ObservedPod>> GetPod(const DrainPodRef& pod) = 0;
  // Whether the node's Ready condition is True now (false when unknown).
  virtual bool NodeReady(const std::string& node) = 0;
};

}  // namespace nodeguard::remediation
