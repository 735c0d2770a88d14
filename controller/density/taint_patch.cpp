#include "density/taint_patch.h"

#include <string>

#include "common/time.h"

namespace nodeguard::density {
namespace {

// JSON Pointer (RFC 6901) escaping of one reference token.
std::string PointerToken(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

OwnTaintState InspectOwnTaint(const kube::Node& node, const OwnTaint& own,
                              const kube::Taint& desired, std::string_view policy) {
  OwnTaintState state;
  state.present = own.on_node();
  state.matches_desired = state.present && own.source == OwnTaint::Source::kRecord &&
                          own.record->policy == policy && SameTaint(own.record->taint, desired) &&
                          SameTaint(node.taints[*own.index], desired);
  state.foreign_holds_desired = ForeignTaintWith(node, own, desired).has_value();
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

Result<std::optional<nlohmann::json>> BuildTaintPatch(const kube::Node& node, const OwnTaint& own,
                                                      const std::optional<TaintRecord>& want,
                                                      WallTime added_at) {
  if (node.meta.resource_version.empty()) {
    return Error::Invalid("node " + node.meta.name +
                          " has no resourceVersion: a taint patch would not be conflict-safe");
  }
  if (own.index && *own.index >= node.taints.size()) {
    return Error::Invalid("node " + node.meta.name + ": own taint index out of range");
  }
  if (want) {
    if (want->taint.key.empty()) return Error::Invalid("density taint key is empty");
    if (auto foreign = ForeignTaintWith(node, own, want->taint)) {
      return Error::Invalid("node " + node.meta.name + " already carries a taint " +
                            want->taint.key + ":" + kube::TaintEffectName(want->taint.effect) +
                            " that nodeguard did not apply");
    }
  }

  nlohmann::json ops = nlohmann::json::array();
  ops.push_back({{"op", "test"},
                 {"path", "/metadata/resourceVersion"},
                 {"value", node.meta.resource_version}});

  const bool keep = own.index && want && SameTaint(node.taints[*own.index], want->taint);
  size_t taints_left = node.taints.size();
  if (own.index && !keep) {
    const std::string path = "/spec/taints/" + std::to_string(*own.index);
    ops.push_back({{"op", "test"}, {"path", path + "/key"}, {"value", own.record->taint.key}});
    ops.push_back({{"op", "remove"}, {"path", path}});
    --taints_left;
  }
  if (want && !keep) {
    kube::Taint added = want->taint;
    added.time_added = added_at;
    if (taints_left == 0) {
      // spec.taints may be absent or empty: `add` on the member covers both.
      ops.push_back({{"op", "add"},
                     {"path", "/spec/taints"},
                     {"value", nlohmann::json::array({TaintToJson(added)})}});
    } else {
      ops.push_back({{"op", "add"}, {"path", "/spec/taints/-"}, {"value", TaintToJson(added)}});
    }
  }

  const std::string* current = node.Annotation(kTaintRecordAnnotation);
  const std::string path = "/metadata/annotations/" + PointerToken(kTaintRecordAnnotation);
  if (want) {
    const std::string encoded = EncodeTaintRecord(*want);
    if (current == nullptr || *current != encoded) {
      if (node.has_annotations || !node.nodeguard_annotations.empty()) {
        // `add` on an existing member replaces it (RFC 6902 4.1).
        ops.push_back({{"op", "add"}, {"path", path}, {"value", encoded}});
      } else {
        // No annotations at all: create the map. The resourceVersion test
        // guarantees it is still absent, so nothing else is replaced.
        ops.push_back({{"op", "add"},
                       {"path", "/metadata/annotations"},
                       {"value", {{kTaintRecordAnnotation, encoded}}}});
      }
    }
  } else if (current != nullptr) {
    ops.push_back({{"op", "remove"}, {"path", path}});
  }

  if (ops.size() == 1) return std::optional<nlohmann::json>();
  return std::optional<nlohmann::json>(std::move(ops));
}

}  // namespace nodeguard::density
