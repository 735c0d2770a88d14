#pragma once

// Encoding NodeHealthPolicy types to the JSON the API server stores.
//
// EncodeStatus omits empty lists, empty strings and unset times (as Go's
// omitempty would), always writes the counts (so `kubectl get nhp` shows 0,
// not a blank), truncates bounded lists to the CRD's maxItems and bounded
// strings to the CRD's maxLength (below). Because
// empty fields are omitted, send it as a whole-status replacement (PUT of the
// status subresource, see StatusUpdateBody), never as a JSON merge patch, or
// stale entries would survive.

#include <cstddef>
#include <nlohmann/json.hpp>

#include "api/types.h"

namespace nodeguard::api {

// The CRD's maxLength of the status strings nodeguard writes
// (crds/generate.py; tests/unit/api checks they agree). EncodeStatus cuts a
// longer text at a UTF-8 character boundary and ends it with an ellipsis, so
// one long message (a drain that lists 100 pending pods, a 100 KB condition
// message quoted in a Degraded condition) never makes the API server reject
// the whole status write with 422. Callers that join lists should bound them
// first with JoinBounded (common/text.h), which keeps the "and N more" count.
inline constexpr size_t kMaxConditionMessageLength = 32768;   // conditions[].message
inline constexpr size_t kMaxConditionReasonLength = 1024;     // conditions[].reason
inline constexpr size_t kMaxRemediationMessageLength = 4096;  // remediations[].message
inline constexpr size_t kMaxFindingsLength = 1024;  // resourceHygiene.examplePods[].findings

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
