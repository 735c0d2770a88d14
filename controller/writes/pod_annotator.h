#pragma once

// PodAnnotator: sets or removes one annotation of a pod (hygiene's
// nodeguard.io/resource-findings), by a JSON merge patch conditional on the
// resourceVersion the caller decided on, so a pod changed since is decided
// again from its new version instead of being overwritten.
//
// Errors as kube::ErrorFromResponse maps them: kConflict (the pod changed since
// `resource_version`), kNotFound (the pod is gone), ...
// Implementations are thread-safe.

#include <optional>
#include <string>

#include "common/result.h"

namespace nodeguard::writes {

class PodAnnotator {
 public:
  virtual ~PodAnnotator() = default;

  // value nullopt removes the annotation. REQUIRES: resource_version not empty.
  virtual Status Annotate(const std::string& namespace_, const std::string& name,
                          const std::string& resource_version, const std::string& key,
                          const std::optional<std::string>& value) = 0;
};

}  // namespace nodeguard::writes
