#pragma once

// Finalizers: the metadata.finalizers of a NodeHealthPolicy (nodeguard's
// nodeguard.io/cleanup, added to every live policy and released once a
// deleted one has nothing left to wind down).
//
// Errors as kube::ErrorFromResponse maps them: kConflict when the policy changed since
// `resource_version` (the caller reconciles it again). Thread-safe.

#include <string>
#include <vector>

#include "common/result.h"

namespace nodeguard::writes {

class Finalizers {
 public:
  virtual ~Finalizers() = default;

  // Replaces the policy's finalizers with `finalizers`, by a JSON merge patch
  // conditional on resource_version.
  virtual Status Set(const std::string& policy, const std::string& resource_version,
                     const std::vector<std::string>& finalizers) = 0;
};

}  // namespace nodeguard::writes
