#pragma once

// The CRD's validation rules (crds/nodeguard.io_nodehealthpolicies.yaml:
// bounds, patterns, enums and the CEL x-kubernetes-validations), repeated on
// the decoded types. Admission normally enforces them; the controller checks
// again so that a policy that bypassed admission is reported, not acted on.
// Messages are the CRD's, so users see the same words either way.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/field_error.h"
#include "api/types.h"

namespace nodeguard::api {

// Every rule the spec breaks; empty when valid. Paths start with "spec.".
std::vector<FieldError> Validate(const NodeHealthPolicySpec& spec);

// Kubernetes name rules (k8s.io/apimachinery/pkg/util/validation).
bool IsQualifiedName(std::string_view s);  // Label keys, taint keys: [prefix/]name.
bool IsLabelValue(std::string_view s);     // Empty, or a name of at most 63 characters.
bool IsDns1123Label(std::string_view s);   // Namespace names.

// Whether `pattern` is a valid messageRegex: it compiles as RE2, the engine
// nodeguard matches messages with (health/evaluate.h) and the dialect the
// API server checks it in (the CRD's CEL matches() rule uses Go's regexp, RE2
// syntax). One difference remains between the two libraries: Go accepts
// named groups written (?<name>...), Debian bookworm's RE2 only (?P<name>...);
// such a policy is admitted but reported invalid here, with this message.
bool IsValidMessageRegex(const std::string& pattern);

// The largest count an int-or-percent field takes (int32, as Kubernetes'
// intstr.IntOrString carries it); a larger one is rejected, so budgets kept
// as int never wrap.
inline constexpr int64_t kMaxIntOrPercentCount = 2147483647;

}  // namespace nodeguard::api
