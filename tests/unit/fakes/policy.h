#pragma once

// MakePolicy: a NodeHealthPolicy as the policy informer caches it, built by
// the informer's own decoder (kube::DecodeObject<runtime::PolicyObject>:
// spec with the CRD's defaults, validation errors kept, finalizers), so a
// test's policy cannot differ from what the controller would hold.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "reconcile/policy_object.h"

namespace nodeguard::fakes {

struct PolicyOptions {
  // creationTimestamp 2024-01-01T00:00:SSZ (0-59): the oldest policy governs.
  int created_second = 0;
  int64_t generation = 1;
  // Carries nodeguard.io/cleanup, as every policy does once the policy
  // reconciler has seen it; then reconciling it writes nothing but status.
  bool cleanup_finalizer = true;
  // Being deleted: deletionTimestamp 2024-01-01T00:01:00Z.
  bool deleting = false;
};

// `spec` is the policy's spec as JSON; the metadata has uid "uid-policy-NAME"
// and resourceVersion "1". Fails the running test when the document does not
// decode (an invalid spec decodes: its errors are in the result).
runtime::PolicyObject MakePolicy(const std::string& name, nlohmann::json spec,
                                 const PolicyOptions& options = {});

}  // namespace nodeguard::fakes
