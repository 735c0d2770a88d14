#pragma once

// PolicyReport (wgpolicyk8s.io/v1alpha2) documents for nodeguard's pod
// findings, one per namespace, so Policy Reporter and similar tools show them
// beside Kyverno's. Pure JSON construction: the runtime server-side-applies
// the result when the CRD is installed (and deletes the report when a
// namespace has no findings left).
//
// Stable by design: results are ordered (pod name, UID, then the fixed field
// order) and carry no timestamp, so unchanged findings build an identical
// document and re-applying it is a no-op.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "hygiene/findings.h"

namespace nodeguard::hygiene {

inline constexpr std::string_view kPolicyReportApiVersion = "wgpolicyk8s.io/v1alpha2";
inline constexpr std::string_view kPolicyReportPolicy = "nodeguard-resource-requirements";
inline constexpr std::string_view kPolicyReportSource = "nodeguard";

// "require-requests-cpu", "require-limits-ephemeral-storage", ...
// REQUIRES: bit is exactly one of kResourceBitOrder.
std::string RuleName(uint8_t bit);

// metadata.name of the report for the NodeHealthPolicy `policy_name`:
// "nodeguard-<policy>" (cut to 253 characters), one per policy and namespace,
// so two policies never overwrite each other's reports.
std::string PolicyReportName(std::string_view policy_name);

// The namespace's report: one result per pod and missing field (rule
// RuleName(field), result "fail", severity "high" for BestEffort pods and
// "medium" otherwise, the pod as the resource, the containers lacking it in
// properties), and a summary counting the results.
// `pods`: the namespace's flagged pods, e.g. FindingsSummary::PodsInNamespace;
// pods of other namespaces are ignored.
nlohmann::json BuildPolicyReport(std::string_view namespace_name, std::string_view policy_name,
                                 const std::vector<const PodFindings*>& pods);

}  // namespace nodeguard::hygiene
