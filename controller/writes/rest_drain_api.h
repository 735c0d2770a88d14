#pragma once

// remediation::DrainApi over the REST client, for the drainer and density's
// overflow eviction:
//   ListPods: GET /api/v1/pods?fieldSelector=spec.nodeName%3DNODE
//             [&labelSelector=...] (all pages; a pod that does not decode
//             fails the list: nothing is evicted blindly);
//   Evict:    POST /api/v1/namespaces/NS/pods/NAME/eviction with a UID
//             precondition, sent over the client's HttpClient (a token of
//             its rate limit first) so the refusal's Status body can name
//             the PodDisruptionBudget; never retried here (a 429 is an
//             answer the drain retries on its own schedule);
//   GetPod:   the pod informer's store, an absence confirmed by a GET;
//   NodeReady: the node informer's store.

#include "kube/rest.h"
#include "kube/store.h"
#include "remediation/drain_api.h"

namespace nodeguard::writes {

// The label selector in the API's query syntax: "a=b,c in (d,e),f notin (g),h,!i".
std::string LabelSelectorString(const api::LabelSelector& selector);

// Classifies a non-2xx answer to an eviction from its raw Status body
// (Status.details.causes carries the PodDisruptionBudget's name and the
// NamespaceTerminating cause, which the Error alone does not).
remediation::EvictionResult ClassifyEvictionResponse(const kube::HttpResponse& response);

// Thread-safe.
class RestDrainApi final : public remediation::DrainApi {
 public:
  RestDrainApi(kube::RestClient& rest, const kube::Store<kube::Pod>* pods,
               const kube::Store<kube::Node>* nodes)
      : rest_(rest), pods_(pods), nodes_(nodes) {}
  Result<std::vector<kube::Pod>> ListPods(const std::string& node,
                                          const api::LabelSelector& selector) override;
  remediation::EvictionResult Evict(const remediation::DrainPodRef& pod,
                                    std::optional<int64_t> grace_period_seconds) override;
  Result<std::optional<remediation::ObservedPod>> GetPod(
      const remediation::DrainPodRef& pod) override;
  bool NodeReady(const std::string& node) override;

 private:
  kube::RestClient& rest_;
  const kube::Store<kube::Pod>* pods_;
  const kube::Store<kube::Node>* nodes_;
};

}  // namespace nodeguard::writes
