#pragma once

// Nodes that reserve nothing for the system: the incident's prevention list
// asks every node to hold back CPU and memory for the kubelet, the container
// runtime and systemd, so pods cannot starve them (a starved runtime is what
// made PLEG relists miss their deadline).
//
// A node is flagged when allocatable CPU equals capacity (no --kube-reserved /
// --system-reserved CPU), or when capacity - allocatable memory is no more
// than the hard eviction threshold (by default memory.available<100Mi, which
// the kubelet subtracts from allocatable on its own: holding back only that
// much means nothing is reserved).

#include <cstdint>
#include <optional>
#include <string>

#include "hygiene/decide.h"
#include "kube/objects.h"

namespace nodeguard::hygiene {

inline constexpr int64_t kDefaultEvictionHardMemoryBytes = 100LL * 1024 * 1024;  // 100Mi
inline constexpr std::string_view kNoSystemReserveReason = "NoSystemReserve";

struct NodeReserveFinding {
  std::string node;
  bool cpu_unreserved = false;     // Allocatable CPU >= capacity.
  bool memory_unreserved = false;  // Capacity - allocatable memory <= the threshold.
  int64_t cpu_capacity_millis = 0;
  int64_t cpu_reserved_millis = 0;  // capacity - allocatable.
  int64_t memory_capacity_bytes = 0;
  int64_t memory_reserved_bytes = 0;  // capacity - allocatable (includes the eviction threshold).
  friend bool operator==(const NodeReserveFinding&, const NodeReserveFinding&) = default;
};

// nullopt when the node reserves enough (or reports no capacity to judge: a
// resource with 0 capacity is never flagged).
std::optional<NodeReserveFinding> EvaluateNodeReserve(
    const kube::Node& node, int64_t eviction_threshold_bytes = kDefaultEvictionHardMemoryBytes);

// Warning Event on the node (reason NoSystemReserve) with the incident's advice.
EventText NodeReserveEvent(const NodeReserveFinding& finding);

// "8", "7.5" cores; "31.9Gi", "100Mi", "512Ki", "12" bytes. For messages only.
std::string FormatCores(int64_t millis);
std::string FormatBytes(int64_t bytes);

}  // namespace nodeguard::hygiene
