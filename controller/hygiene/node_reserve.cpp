#include "hygiene/node_reserve.h"

#include <cstdio>

namespace nodeguard::hygiene {

std::string FormatCores(int64_t millis) {
  if (millis % 1000 == 0) return std::to_string(millis / 1000);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", static_cast<double>(millis) / 1000.0);
  return buf;
}

std::string FormatBytes(int64_t bytes) {
  static constexpr struct {
    int64_t size;
    const char* suffix;
  } kUnits[] = {{1LL << 40, "Ti"}, {1LL << 30, "Gi"}, {1LL << 20, "Mi"}, {1LL << 10, "Ki"}};
  const int64_t magnitude = bytes < 0 ? -bytes : bytes;
  for (const auto& u : kUnits) {
    if (magnitude < u.size) continue;
    if (bytes % u.size == 0) return std::to_string(bytes / u.size) + u.suffix;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%s",
                  static_cast<double>(bytes) / static_cast<double>(u.size), u.suffix);
    return buf;
  }
  return std::to_string(bytes);
}

std::optional<NodeReserveFinding> EvaluateNodeReserve(const kube::Node& node,
                                                      int64_t eviction_threshold_bytes) {
  NodeReserveFinding f;
  f.node = node.meta.name;
  f.cpu_capacity_millis = node.capacity.cpu_millis;
  f.cpu_reserved_millis = node.capacity.cpu_millis - node.allocatable.cpu_millis;
  f.memory_capacity_bytes = node.capacity.memory_bytes;
  f.memory_reserved_bytes = node.capacity.memory_bytes - node.allocatable.memory_bytes;
  f.cpu_unreserved = node.capacity.cpu_millis > 0 && f.cpu_reserved_millis <= 0;
  f.memory_unreserved =
      node.capacity.memory_bytes > 0 && f.memory_reserved_bytes <= eviction_threshold_bytes;
  if (!f.cpu_unreserved && !f.memory_unreserved) return std::nullopt;
  return f;
}

EventText NodeReserveEvent(const NodeReserveFinding& f) {
  std::string msg = "Node " + f.node + " reserves nothing for the system: ";
  if (f.cpu_unreserved)
    msg += "allocatable CPU equals capacity (" + FormatCores(f.cpu_capacity_millis) + " cores)";
  if (f.cpu_unreserved && f.memory_unreserved) msg += "; ";
  if (f.memory_unreserved) {
    msg += "allocatable memory holds back only " + FormatBytes(f.memory_reserved_bytes) + " of " +
           FormatBytes(f.memory_capacity_bytes) + " (no more than the eviction threshold)";
  }
  msg +=
      ". Pods can starve the kubelet and the container runtime, the path to \"PLEG is not "
      "healthy\". Reserve resources with the kubelet's --system-reserved and --kube-reserved "
      "(systemReserved/kubeReserved in its config file); after the incident behind nodeguard, "
      "8-core/32 GB workers reserved 4 cores and 6 GB.";
  return {"Warning", std::string(kNoSystemReserveReason), std::move(msg)};
}

}  // namespace nodeguard::hygiene
