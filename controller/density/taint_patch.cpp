#include "density/taint_patch.h"

#include <string>

#include "common/time.h"

namespace nodeguard::density {
namespace {

bool SameTaint(const kube::Taint& a, const kube::Taint& b) {
  // timeAdded is not compared: nodeguard's taint never sets it.
  return a.key == b.key && a.value == b.value && a.effect == b.effect;
}

}  // namespace

bool IsOwnTaint(const kube::Taint& taint, std::string_view own_key) {
  return !own_key.empty() && taint.key == own_key;
}

OwnTaintState InspectOwnTaint(const std::vector<kube::Taint>& taints, const kube::Taint& desired) {
  OwnTaintState state;
  int own = 0;
  bool equal = false;
  for (const auto& t : taints) {
    if (!IsOwnTaint(t, desired.key)) continue;
    ++own;
    if (SameTaint(t, desired)) equal = true;
  }
  state.present = own > 0;
  state.matches_desired = own == 1 && equal;
  return state;
}

nlohmann::json TaintToJson(const kube::Taint& taint) {
  nlohmann::json j = nlohmann::json::object();
  j["key"] = taint.key;
  if (!taint.value.empty()) j["value"] = taint.value;
  j["effect"] = kube::TaintEffectName(taint.effect);
  if (kube::IsSet(taint.time_added)) j["timeAdded"] = FormatRfc3339(taint.time_added);
  return j;
}

Result<std::optional<nlohmann::json>> BuildTaintPatch(const kube::Node& node,
                                                      std::string_view own_key,
                                                      const std::optional<kube::Taint>& desired) {
  if (own_key.empty()) return Error::Invalid("density taint key is empty");
  if (desired && desired->key != own_key)
    return Error::Invalid("desired taint key " + desired->key + " is not the own key " +
                          std::string(own_key));
  if (node.meta.resource_version.empty())
    return Error::Invalid("node " + node.meta.name +
                          " has no resourceVersion: a taint patch would not be conflict-safe");

  nlohmann::json ops = nlohmann::json::array();
  ops.push_back({{"op", "test"},
                 {"path", "/metadata/resourceVersion"},
                 {"value", node.meta.resource_version}});

  // Keep the first own taint equal to the desired one; remove every other own
  // taint, from the highest index down so earlier indices stay valid.
  bool keep_found = false;
  std::vector<size_t> remove;
  for (size_t i = 0; i < node.taints.size(); ++i) {
    const auto& t = node.taints[i];
    if (!IsOwnTaint(t, own_key)) continue;
    if (desired && !keep_found && SameTaint(t, *desired)) {
      keep_found = true;
      continue;
    }
    remove.push_back(i);
  }
  for (auto it = remove.rbegin(); it != remove.rend(); ++it) {
    std::string path = "/spec/taints/" + std::to_string(*it);
    ops.push_back({{"op", "test"}, {"path", path + "/key"}, {"value", std::string(own_key)}});
    ops.push_back({{"op", "remove"}, {"path", path}});
  }
  if (desired && !keep_found) {
    const size_t remaining = node.taints.size() - remove.size();
    if (remaining == 0) {
      // spec.taints may be absent or empty: `add` on the member covers both.
      ops.push_back({{"op", "add"},
                     {"path", "/spec/taints"},
                     {"value", nlohmann::json::array({TaintToJson(*desired)})}});
    } else {
      ops.push_back({{"op", "add"}, {"path", "/spec/taints/-"}, {"value", TaintToJson(*desired)}});
    }
  }
  if (ops.size() == 1) return std::optional<nlohmann::json>();
  return std::optional<nlohmann::json>(std::move(ops));
}

}  // namespace nodeguard::density
