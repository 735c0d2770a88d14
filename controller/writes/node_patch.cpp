#include <charconv>
#include <nlohmann/json.hpp>

#include "writes/node_writer.h"

namespace nodeguard::writes {

std::string EncodeNodePatch(const NodePatch& patch, const std::string& resource_version) {
  nlohmann::json doc = nlohmann::json::object();
  if (!resource_version.empty()) doc["metadata"]["resourceVersion"] = resource_version;
  for (const auto& [key, value] : patch.annotations) {
    // A merge patch removes a key set to null.
    doc["metadata"]["annotations"][key] = value ? nlohmann::json(*value) : nlohmann::json(nullptr);
  }
  if (patch.unschedulable) doc["spec"]["unschedulable"] = *patch.unschedulable;
  return doc.dump();
}

bool NewerResourceVersion(const std::string& a, const std::string& b) {
  uint64_t x = 0, y = 0;
  const auto ra = std::from_chars(a.data(), a.data() + a.size(), x);
  const auto rb = std::from_chars(b.data(), b.data() + b.size(), y);
  if (ra.ec != std::errc() || ra.ptr != a.data() + a.size() || rb.ec != std::errc() ||
      rb.ptr != b.data() + b.size()) {
    return false;  // Opaque versions: trust the informer.
  }
  return x > y;
}

}  // namespace nodeguard::writes
