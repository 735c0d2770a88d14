#pragma once

// The CRD's validation rules (crds/nodeguard.io_nodehealthpolicies.yaml:
// bounds, patterns, enums and the CEL x-kubernetes-validations), repeated on
// the decoded types. Admission normally enforces them; the controller checks
// again so that a policy that bypassed admission is reported, not acted on.
// Messages are the CRD's, so users see the same words either way.

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

// Whether nodeguard can use `pattern` as a messageRegex: it compiles as an
// ECMAScript std::regex (the engine nodeguard matches messages with). The API
// server checks RE2 syntax; write patterns valid in both.
bool IsValidMessageRegex(const std::string& pattern);

}  // namespace nodeguard::api
