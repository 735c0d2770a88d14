#pragma once

// The node annotation nodeguard.io/early-warning-thresholds: the marks the
// agent decides its node's early-warning level with, from the
// NodeHealthPolicy that governs the node (spec.earlyWarning). Written by the
// controller, which resolves which policy governs which node; read by the
// agent from its own Node (the one object it already watches). Absent: the
// agent's flags decide (no policy governs the node, or its policy has no
// earlyWarning section). docs/early-warning.md, "How the thresholds reach
// the agent".
//
//   {"policy":"workers","degradedRelistP99":"1s","calmRelistP99":"500ms",
//    "criticalLastRelistAge":"30s","calmLastRelistAge":"10s","hold":"2m"}
//
// The field names are spec.earlyWarning's; durations in Go form.

#include <string>
#include <string_view>

#include "common/result.h"
#include "early/level.h"

namespace nodeguard::early {

inline constexpr const char* kThresholdsAnnotation = "nodeguard.io/early-warning-thresholds";

struct PolicyThresholds {
  std::string policy;  // The governing policy's name (for logs and people).
  Thresholds thresholds;
  friend bool operator==(const PolicyThresholds&, const PolicyThresholds&) = default;
};

std::string EncodeThresholds(const PolicyThresholds& t);

// kInvalid on anything malformed: not a JSON object, a missing or malformed
// duration, or marks the policy API would reject (an entry mark or a calm
// mark not above 0, a calm mark not below its entry mark, a negative hold).
Result<PolicyThresholds> DecodeThresholds(std::string_view json);

// The marks the agent decides with: the annotation's when present and
// readable, else the flags'.
struct ChosenThresholds {
  Thresholds thresholds;
  std::string source;  // "policy <name>" or "flags".
  std::string error;   // Why a present annotation was not used; empty otherwise.
};
ChosenThresholds ChooseThresholds(const std::string* annotation, const Thresholds& flags);

}  // namespace nodeguard::early
