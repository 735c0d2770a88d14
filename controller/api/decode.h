#pragma once

// Decoding NodeHealthPolicy JSON (as the API server serves it, or a manifest
// converted from YAML) into api/types.h, applying the CRD's defaults to
// absent fields, and re-validating it (api/validate.h).
//
// Decoding never throws and never gives up on the first problem: a field of
// the wrong JSON type or with an unparsable value (a malformed duration, an
// unknown enum value) is reported as a FieldError and keeps its default, so
// the caller gets every problem at once. Unknown fields are ignored, as the
// API server prunes them.

#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "api/field_error.h"
#include "api/types.h"
#include "common/result.h"

namespace nodeguard::api {

// REQUIRES: errors != nullptr. `spec` is the value of .spec (null or absent
// is treated as {}). Field paths in errors start with "spec.".
NodeHealthPolicySpec DecodeSpec(const nlohmann::json& spec, std::vector<FieldError>* errors);

// REQUIRES: errors != nullptr. `status` is the value of .status (null or
// absent is an empty status). Paths start with "status.".
NodeHealthPolicyStatus DecodeStatus(const nlohmann::json& status, std::vector<FieldError>* errors);

// A policy as the controller acts on it.
struct ParsedPolicy {
  NodeHealthPolicy policy;
  // Decoding and validation problems. Non-empty: the controller must not act
  // on the policy; it reports them (Ready=False, reason InvalidSpec).
  // Problems decoding .status are not listed: status is ours, and an
  // unreadable part of it only loses history.
  std::vector<FieldError> errors;
  bool valid() const { return errors.empty(); }
};

// Decodes a whole NodeHealthPolicy object (metadata, spec, status) and
// validates its spec. Fails (kInvalid) only when the document is not a JSON
// object, is of another apiVersion/kind (when those are present), or has no
// metadata.name: then there is no policy to report on.
Result<ParsedPolicy> ParsePolicy(const nlohmann::json& object);
// Same, from JSON text (a parse error is kInvalid).
Result<ParsedPolicy> ParsePolicy(std::string_view json_text);

// Parses a duration in the CRD's syntax: Go's time.ParseDuration without a
// sign (so never negative), "0" not accepted alone (metav1.Duration prints 0
// as "0s"), digits required on both sides of a '.'.
Result<Duration> ParseApiDuration(std::string_view text);

}  // namespace nodeguard::api
