#pragma once

// Which resource requests/limits a pod's containers lack, per a policy's
// resourceHygiene rules, and the compact, stable text nodeguard writes to the
// pod's nodeguard.io/resource-findings annotation.
//
// LimitRange defaults are applied at admission, so the admitted pod (as the
// informer decodes it into kube::Pod) is what is evaluated.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/types.h"
#include "kube/objects.h"

namespace nodeguard::hygiene {

inline constexpr std::string_view kFindingsAnnotation = "nodeguard.io/resource-findings";

// The six checked fields, in the fixed order every encoding uses.
// Values are kube::ResourceBit flags, so a container's missing set is simply
// `required & ~declared`.
inline constexpr uint8_t kAllResourceBits = kube::kRequestCpu | kube::kRequestMemory |
                                            kube::kRequestEphemeralStorage | kube::kLimitCpu |
                                            kube::kLimitMemory | kube::kLimitEphemeralStorage;
inline constexpr uint8_t kResourceBitOrder[] = {
    kube::kRequestCpu, kube::kRequestMemory, kube::kRequestEphemeralStorage,
    kube::kLimitCpu,   kube::kLimitMemory,   kube::kLimitEphemeralStorage,
};

// "requests.cpu", "limits.ephemeral-storage", ...
// REQUIRES: bit is exactly one of kResourceBitOrder.
std::string_view ResourceFieldName(uint8_t bit);
// "requests.cpu,limits.memory" in kResourceBitOrder order; empty for 0.
std::string FormatResourceFields(uint8_t bits);

// A policy's resourceHygiene rules, compiled once per policy change so the
// per-pod evaluation is a bit test and a binary search.
struct HygieneRules {
  uint8_t required = 0;  // ResourceBit flags every container must declare.
  bool include_init_containers = false;
  std::vector<std::string> exclude_namespaces;  // Sorted, unique.
  bool annotate_pods = true;
  bool emit_events = true;

  bool Excludes(std::string_view namespace_name) const;
};

// REQUIRES: nothing; unknown bits in spec.required are dropped, namespaces
// sorted and de-duplicated. spec.enabled is the caller's concern.
HygieneRules CompileRules(const api::ResourceHygieneSpec& spec);

struct ContainerFinding {
  std::string name;
  bool init = false;
  uint8_t missing = 0;  // ResourceBit flags; never 0 in a PodFindings.
  friend bool operator==(const ContainerFinding&, const ContainerFinding&) = default;
};

enum class SkipReason : uint8_t {
  kNone,               // Evaluated.
  kTerminal,           // Succeeded or Failed: it no longer runs, nothing to fix.
  kExcludedNamespace,  // The policy's excludeNamespaces lists its namespace.
};

// The evaluation of one pod. Containers appear in the pod's order (init
// containers first), only those with something missing.
struct PodFindings {
  std::string uid;
  kube::Symbol namespace_;
  std::string name;
  kube::QosClass qos = kube::QosClass::kUnknown;
  SkipReason skipped = SkipReason::kNone;
  std::vector<ContainerFinding> containers;

  bool Flagged() const { return !containers.empty(); }
  // Union of the missing fields over all containers.
  uint8_t MissingUnion() const;
  friend bool operator==(const PodFindings&, const PodFindings&) = default;
};

// Pure and deterministic. Terminal pods and pods in excluded namespaces are
// returned with `skipped` set and no containers.
PodFindings EvaluatePod(const HygieneRules& rules, const kube::Pod& pod);

// The annotation value: "app: requests.cpu,limits.memory; init:setup: limits.cpu".
// Containers in pod order, init containers prefixed "init:" (container names
// are DNS labels, so neither ':' nor ';' can occur in them); fields in
// kResourceBitOrder order. Empty when the pod is not flagged, meaning "no
// annotation". The same findings always give the same bytes, so comparing with
// the pod's current value tells whether a write is needed.
std::string EncodeAnnotation(const PodFindings& findings);

// The Event message: names each container and its missing fields, and the QoS
// class. E.g. "Pod team-a/web-1 (QoS BestEffort) lacks resource requirements:
// container app: requests.cpu, limits.memory; init container setup: limits.cpu".
std::string EventMessage(const PodFindings& findings);

}  // namespace nodeguard::hygiene
