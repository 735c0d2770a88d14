#pragma once

// The agent's one write to the API server: set an annotation on its own Node.
// The runtime implements NodeApi with the REST client; tests use a fake.

#include <string>
#include <string_view>

#include "common/result.h"

namespace nodeguard::agent {

class NodeApi {
 public:
  virtual ~NodeApi() = default;

  // Sets annotation key=value on the node. When expected_resource_version is
  // not empty the write is conditional on it (optimistic concurrency: a
  // stale write fails with kConflict). Returns the node's resourceVersion
  // after the write: the API server's confirmation that it was stored.
  // Implementation: PATCH /api/v1/nodes/<name> with
  // Content-Type application/merge-patch+json and AnnotationMergePatch(...).
  virtual Result<std::string> SetAnnotation(std::string_view node_name, std::string_view key,
                                            std::string_view value,
                                            std::string_view expected_resource_version) = 0;
};

// {"metadata":{"resourceVersion":"<rv>","annotations":{"<key>":"<value>"}}},
// without resourceVersion when it is empty.
std::string AnnotationMergePatch(std::string_view key, std::string_view value,
                                 std::string_view expected_resource_version);

}  // namespace nodeguard::agent
