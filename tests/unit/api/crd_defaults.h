#pragma once

// The API server's structural defaulting, applied in tests with the CRD's own
// schema, so tests can compare what the server would store with what the C++
// decoder assumes for absent fields.

#include <nlohmann/json.hpp>

namespace nodeguard::api::testing {

// The CRD's openAPIV3Schema (parsed from crds/nodeguard.io_nodehealthpolicies.yaml).
const nlohmann::json& CrdSchema();

// Returns `value` with the schema's defaults applied as apiextensions does
// (k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting): an absent
// property with a default gets a copy of it, then defaulting recurses into
// every property and array item, including values just defaulted.
nlohmann::json ApplyDefaults(nlohmann::json value, const nlohmann::json& schema);

// The schema of spec.
const nlohmann::json& SpecSchema();

}  // namespace nodeguard::api::testing
