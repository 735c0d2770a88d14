#pragma once

// Encoding NodeHealthPolicy types to the JSON the API server stores.
//
// EncodeStatus omits empty lists, empty strings and unset times (as Go's
// omitempty would), always writes the counts (so `kubectl get nhp` shows 0,
// not a blank), and truncates bounded lists to the CRD's maxItems. Because
// empty fields are omitted, send it as a whole-status replacement (PUT of the
// status subresource, see StatusUpdateBody), never as a JSON merge patch, or
// stale entries would survive.

#include <nlohmann/json.hpp>

#include "api/types.h"

namespace nodeguard::api {

nlohmann::json EncodeStatus(const NodeHealthPolicyStatus& status);

// The body of PUT /apis/nodeguard.io/v1alpha1/nodehealthpolicies/NAME/status:
// apiVersion, kind, metadata.name and metadata.resourceVersion (optimistic
// concurrency; omitted when empty), and the status.
nlohmann::json StatusUpdateBody(const kube::ObjectMeta& meta, const NodeHealthPolicyStatus& status);

// The spec with every default written out, as the API server returns it
// after defaulting (durations in Go's canonical form, "3m0s"). Feature blocks
// equal to their absent form (not enabled, every other field default) are
// omitted, as are unset optional fields.
nlohmann::json EncodeSpec(const NodeHealthPolicySpec& spec);

}  // namespace nodeguard::api
