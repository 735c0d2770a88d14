#pragma once

// NodeApi over the Kubernetes REST client: the agent's only write.

#include <string>
#include <string_view>

#include "agent/node_api.h"
#include "common/result.h"
#include "kube/rest.h"

namespace nodeguard::agent {

// PATCH /api/v1/nodes/<name> (application/merge-patch+json) with
// AnnotationMergePatch: the API server applies it only while the Node's
// resourceVersion still equals the expected one (409 kConflict otherwise).
// Like every PATCH, a failure is not retried by the RestClient: the Agent
// decides again on the next Node it sees. Thread-safe.
class RestNodeApi final : public NodeApi {
 public:
  // REQUIRES: rest outlives this object.
  explicit RestNodeApi(kube::RestClient& rest) : rest_(rest) {}

  Result<std::string> SetAnnotation(std::string_view node_name, std::string_view key,
                                    std::string_view value,
                                    std::string_view expected_resource_version) override;

 private:
  kube::RestClient& rest_;
};

// metadata.resourceVersion of an object's JSON ("" when absent); kInvalid
// when the text is not a JSON object.
Result<std::string> ResourceVersionOf(std::string_view object_json);

}  // namespace nodeguard::agent
