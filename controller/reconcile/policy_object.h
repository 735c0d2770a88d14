#pragma once

// PolicyObject: how the policy informer caches a NodeHealthPolicy: the
// decoded, defaulted policy plus the problems found decoding and validating
// it (a policy with problems is reported, never acted on).

#include <vector>

#include "api/decode.h"
#include "api/types.h"
#include "kube/objects.h"

namespace nodeguard::runtime {

// The finalizer that keeps a deleted policy until its taints are gone.
inline constexpr const char* kCleanupFinalizer = "nodeguard.io/cleanup";

struct PolicyObject {
  kube::ObjectMeta meta;  // Same as policy.meta; the Store keys on it.
  api::NodeHealthPolicy policy;
  std::vector<api::FieldError> errors;
  std::vector<std::string> finalizers;  // metadata.finalizers.
  bool has_cleanup_finalizer() const;

  bool valid() const { return errors.empty(); }
  bool deleting() const { return kube::IsSet(meta.deletion_timestamp); }
};

// Whether a policy watch event can change what the policy decides for its
// nodes: a policy created or deleted, a new generation (the spec changed),
// deletion begun, or validity changed. Status writes, ours included, keep
// the generation and return false, so they never re-queue every node (at
// 1,000 nodes each status write cost 1,000 reconciles).
// old_obj or obj may be null (create / delete), not both.
bool GovernanceChanged(const PolicyObject* old_obj, const PolicyObject* obj);

}  // namespace nodeguard::runtime
